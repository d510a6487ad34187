"""The lectures' single-stage detector: YOLO (Redmon et al. 2016; lecture 003 「单阶段物体检测方法」,
inventory D18).

The image is divided into an ``S x S`` grid; each cell predicts ``B`` boxes, each as
``(x, y, w, h, confidence)``, and one set of ``C`` class scores, so the network's output is
``S x S x (5B + C)``: one pass, no proposals ("7x faster than Faster R-CNN, but less
accurate"). ⚠ The lecture's prose says every *box* scores every class (``S x S x B(5 + C)``)
while its formula has per-*cell* classes; Ember follows the formula, as YOLO v1 does: a cell
describes at most one object's class, which is why the grid must be fine enough that two
objects rarely share a cell. As in the lecture, the classes include the background (index 0,
torchvision's convention); it is never reported as a detection.

Parametrization (per box, from the raw outputs ``t``): centre ``((j + σ(t_x)) / S, (i +
σ(t_y)) / S)`` in the cell ``(i, j)``, size ``(σ(t_w)², σ(t_h)²)`` of the image (YOLO v1
regresses the square roots of the sizes, so an error on a small box costs more),
confidence ``σ(t_c)``, class probabilities ``softmax`` over the cell's ``C`` scores.

Loss (YOLO v1's terms, summed over the grid, averaged over images): the cell holding an
object's centre makes the one of its ``B`` boxes that overlaps the object most
"responsible" for it (the largest object wins a cell claimed by several)::

    λ_coord Σ_resp [(σ(t_x) − x)² + (σ(t_y) − y)² + (σ(t_w) − √w)² + (σ(t_h) − √h)²]
    + Σ_resp (σ(t_c) − 1)²  +  λ_noobj Σ_other boxes σ(t_c)²
    + Σ_cells with an object  cross_entropy(class scores, class)

(v1 uses a squared error on the class probabilities and the IoU as the confidence target;
the cross-entropy and the target 1 train faster and are what later versions use.)

Detections: score ``confidence × P(class)`` per box and foreground class, above
``score_thresh``, NMS per class, the best ``detections_per_img``.
"""
import numpy as np

import ember
from ember import nn
from ember.nn import functional as F
from ember.vision.models.detection.generalized_rcnn import check_targets
from ember.vision.models.detection.small import SmallBackbone
from ember.vision.ops.misc import Conv2dNormActivation
from ember.vision.ops.nms import greedy_keep

__all__ = ["YOLO", "yolo_small"]


def _pairwise_iou(a, b):
    """IoU of matching rows of xyxy boxes ``a`` (..., 4) and ``b`` (..., 4) (NumPy)."""
    w = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    h = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = w * h
    union = ((a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
             + (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1]) - inter)
    return inter / np.maximum(union, 1e-12)


class YOLO(nn.Module):
    """YOLO on any backbone (see the module docstring).

    Args:
        backbone: a module with ``out_channels``, returning a map ``(N, C_f, H_f, W_f)`` or an
            ordered dict of maps (the last is used).
        num_classes: ``C``, the class scores per cell, background (label 0) included.
        grid_size: ``S``; None takes the backbone map's size, otherwise the map is average
            pooled to ``S x S``.
        boxes_per_cell: ``B``.
        image_mean, image_std: per-channel normalization of the input images.
        hidden_channels: the 3x3 conv before the 1x1 output conv (default ``out_channels``).
        lambda_coord, lambda_noobj: YOLO v1's weights of the box and no-object terms.
        score_thresh, nms_thresh, detections_per_img: inference.

    ``forward(images, targets=None)`` as torchvision's detectors: a list of ``(C, H, W)``
    images (all of one size) in [0, 1]; in training with targets ``{"boxes", "labels"}`` a
    dict of losses ``{"loss_box", "loss_object", "loss_noobject", "loss_class"}``; in
    evaluation a list of ``{"boxes", "labels", "scores"}``. ``grid(images)`` gives the raw
    ``(N, S, S, 5B + C)`` output.
    """

    def __init__(self, backbone, num_classes, grid_size=None, boxes_per_cell=2, image_mean=None,
                 image_std=None, hidden_channels=None, lambda_coord=5.0, lambda_noobj=0.5,
                 score_thresh=0.05, nms_thresh=0.5, detections_per_img=100):
        super().__init__()
        if not hasattr(backbone, "out_channels"):
            raise ValueError("YOLO: the backbone needs an out_channels attribute")
        if num_classes < 2:
            raise ValueError(f"YOLO: num_classes counts the background (label 0) and at least one "
                             f"object class, got {num_classes}")
        self.backbone = backbone
        self.num_classes = num_classes
        self.grid_size = grid_size
        self.boxes_per_cell = boxes_per_cell
        hidden = backbone.out_channels if hidden_channels is None else hidden_channels
        self.head = nn.Sequential(Conv2dNormActivation(backbone.out_channels, hidden, 3),
                                  nn.Conv2d(hidden, 5 * boxes_per_cell + num_classes, 1))
        # confidences start near 0.01 (RetinaNet's prior): most boxes hold no object, and a
        # start at 0.5 would make the no-object term dominate the first steps
        with ember.no_grad():
            self.head[-1].bias[4:5 * boxes_per_cell:5] = -float(np.log(99.0))
        self.image_mean = [0.5] if image_mean is None else list(image_mean)
        self.image_std = [0.5] if image_std is None else list(image_std)
        self.lambda_coord, self.lambda_noobj = lambda_coord, lambda_noobj
        self.score_thresh, self.nms_thresh = score_thresh, nms_thresh
        self.detections_per_img = detections_per_img

    def extra_repr(self):
        return (f"num_classes={self.num_classes}, grid_size={self.grid_size}, "
                f"boxes_per_cell={self.boxes_per_cell}")

    def _batch(self, images):
        if isinstance(images, ember.Tensor) and images.ndim == 4:
            images = list(images.unbind(0))
        if not isinstance(images, (list, tuple)) or not images:
            raise ValueError("YOLO: images must be a non-empty list of (C, H, W) tensors")
        shapes = {tuple(img.shape) for img in images}
        if len(shapes) != 1 or len(next(iter(shapes))) != 3:
            raise ValueError(f"YOLO: expected images of one shape (C, H, W), got "
                             f"{sorted(shapes)}")
        x = ember.stack(list(images))
        if x.shape[1] != len(self.image_mean):
            raise ValueError(f"YOLO: images have {x.shape[1]} channels but image_mean has "
                             f"{len(self.image_mean)}")
        mean = ember.tensor(self.image_mean, dtype=x.dtype)[None, :, None, None]
        std = ember.tensor(self.image_std, dtype=x.dtype)[None, :, None, None]
        return (x - mean) / std

    def grid(self, images):
        """The raw output ``(N, S, S, 5B + C)`` for a batch of images."""
        features = self.backbone(self._batch(images))
        if not isinstance(features, ember.Tensor):
            features = list(features.values())[-1]
        if self.grid_size is not None and tuple(features.shape[-2:]) != (self.grid_size,) * 2:
            features = F.adaptive_avg_pool2d(features, self.grid_size)
        return self.head(features).permute(0, 2, 3, 1)

    def _decode(self, out, image_size):
        """Boxes ``(N, S, S, B, 4)`` xyxy in pixels (NumPy), confidences ``(N, S, S, B)`` and
        class probabilities ``(N, S, S, C)`` from the raw output."""
        n, s = out.shape[0], out.shape[1]
        b = self.boxes_per_cell
        raw = out[..., :5 * b].reshape(n, s, s, b, 5).astype(np.float64)
        sig = 1 / (1 + np.exp(-raw))
        h, w = image_size
        cols = np.arange(s)[None, None, :, None]
        rows = np.arange(s)[None, :, None, None]
        cx = (cols + sig[..., 0]) / s * w
        cy = (rows + sig[..., 1]) / s * h
        bw, bh = sig[..., 2] ** 2 * w, sig[..., 3] ** 2 * h
        boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], -1)
        logits = out[..., 5 * b:].astype(np.float64)
        probs = np.exp(logits - logits.max(-1, keepdims=True))
        return boxes, sig[..., 4], probs / probs.sum(-1, keepdims=True)

    def forward(self, images, targets=None):
        if self.training:
            check_targets(targets, len(images), "YOLO")
        out = self.grid(images)
        image_size = tuple(images[0].shape[-2:])
        if self.training:
            return self.compute_loss(out, targets, image_size)
        with ember.no_grad():
            return self.postprocess(out.detach().numpy(), image_size)

    def _assign(self, out, targets, image_size):
        """The targets on the grid: responsible ``(N, S, S, B)`` bool, box targets
        ``(N, S, S, B, 4)`` and cell classes ``(N, S, S)`` (-1: no object)."""
        n, s = out.shape[0], out.shape[1]
        b = self.boxes_per_cell
        h, w = image_size
        responsible = np.zeros((n, s, s, b), bool)
        box_target = np.zeros((n, s, s, b, 4), np.float32)
        cls = np.full((n, s, s), -1, np.int64)
        predicted, _, _ = self._decode(out, image_size)
        for k, target in enumerate(targets):
            gt = target["boxes"].detach().numpy().astype(np.float64)
            if not len(gt):
                continue
            labels = target["labels"].numpy()
            if labels.min() < 1 or labels.max() >= self.num_classes:
                raise ValueError(f"YOLO: target labels must lie in [1, {self.num_classes - 1}] "
                                 f"(0 is the background), got values in [{labels.min()}, "
                                 f"{labels.max()}]")
            order = np.argsort((gt[:, 2] - gt[:, 0]) * (gt[:, 3] - gt[:, 1]), kind="stable")
            gt, labels = gt[order], labels[order]          # the largest object is written last
            cx, cy = (gt[:, 0] + gt[:, 2]) / 2 / w * s, (gt[:, 1] + gt[:, 3]) / 2 / h * s
            col = np.clip(np.floor(cx).astype(np.int64), 0, s - 1)
            row = np.clip(np.floor(cy).astype(np.int64), 0, s - 1)
            iou = _pairwise_iou(predicted[k, row, col], gt[:, None, :])      # (G, B)
            best = iou.argmax(1)
            claimed = np.zeros((s, s), np.int64) - 1
            claimed[row, col] = np.arange(len(gt))                            # last one wins
            winner = claimed[row, col] == np.arange(len(gt))
            r, c, bb, g = row[winner], col[winner], best[winner], np.flatnonzero(winner)
            responsible[k, r, c, bb] = True
            box_target[k, r, c, bb] = np.stack(
                [cx[g] - c, cy[g] - r, np.sqrt((gt[g, 2] - gt[g, 0]) / w),
                 np.sqrt((gt[g, 3] - gt[g, 1]) / h)], 1)
            cls[k, r, c] = labels[g]
        return responsible, box_target, cls

    def compute_loss(self, out, targets, image_size):
        """YOLO's loss terms (see the module docstring), each summed over the grid and divided
        by the number of images."""
        n = out.shape[0]
        b = self.boxes_per_cell
        values = out.detach().numpy()
        responsible, box_target, cls = self._assign(values, targets, image_size)
        raw = out[..., :5 * b].reshape(n, out.shape[1], out.shape[2], b, 5)
        sig = ember.sigmoid(raw)
        mask = ember.from_numpy(responsible.astype(values.dtype))
        box_error = ((sig[..., :4] - ember.from_numpy(box_target.astype(values.dtype))) ** 2
                     ).sum(-1)
        loss_box = self.lambda_coord * (box_error * mask).sum() / n
        confidence = sig[..., 4]
        loss_object = (((confidence - 1) ** 2) * mask).sum() / n
        loss_noobject = self.lambda_noobj * ((confidence ** 2) * (1 - mask)).sum() / n
        occupied = np.flatnonzero(cls.reshape(-1) >= 0)
        logits = out[..., 5 * b:].reshape(-1, self.num_classes)
        if len(occupied):
            idx = ember.from_numpy(occupied)
            loss_class = F.cross_entropy(logits[idx], ember.from_numpy(cls.reshape(-1)[occupied]),
                                         reduction="sum") / n
        else:
            loss_class = logits.sum() * 0
        return {"loss_box": loss_box, "loss_object": loss_object,
                "loss_noobject": loss_noobject, "loss_class": loss_class}

    def postprocess(self, out, image_size):
        """Per image ``{"boxes", "labels", "scores"}`` from the raw grid output (NumPy)."""
        boxes, confidence, probs = self._decode(out, image_size)
        h, w = image_size
        n = out.shape[0]
        results = []
        for k in range(n):
            scores = (confidence[k][..., None] * probs[k][..., None, :])[..., 1:]  # (S,S,B,C-1)
            flat = scores.reshape(-1)
            keep = np.flatnonzero(flat > self.score_thresh)
            cell_box = boxes[k].reshape(-1, 4)[keep // (self.num_classes - 1)]
            labels = (keep % (self.num_classes - 1)) + 1
            cell_box = np.stack([cell_box[:, 0].clip(0, w), cell_box[:, 1].clip(0, h),
                                 cell_box[:, 2].clip(0, w), cell_box[:, 3].clip(0, h)], 1)
            kept = greedy_keep(cell_box, flat[keep], self.nms_thresh, labels)
            kept = kept[:self.detections_per_img]
            results.append({"boxes": ember.from_numpy(cell_box[kept].astype(np.float32)),
                            "labels": ember.from_numpy(labels[kept].astype(np.int64)),
                            "scores": ember.from_numpy(flat[keep][kept].astype(np.float32))})
        return results


def yolo_small(num_classes=11, in_channels=1, boxes_per_cell=2, widths=(16, 32),
               out_channels=64, grid_size=None, **kwargs):
    """``YOLO`` on a :class:`SmallBackbone` whose stride-4 map is the grid (16 x 16 cells of 4
    pixels for 64x64 images, so that two digits seldom share a cell); ``kwargs`` go to
    :class:`YOLO`."""
    backbone = SmallBackbone(in_channels, widths, out_channels)
    kwargs.setdefault("image_mean", [0.5] * in_channels)
    kwargs.setdefault("image_std", [0.5] * in_channels)
    return YOLO(backbone, num_classes, grid_size=grid_size, boxes_per_cell=boxes_per_cell,
                **kwargs)
