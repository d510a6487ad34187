"""The PyTorch side of the detection comparisons (benchmarks and ``scripts/detection_torch.py``).

PyPI's torchvision 0.28 needs CUDA libraries for its compiled ops, so with the CPU torch its
``nms`` cannot run and its ``roi_align`` falls back to a ``torch.compile``d pure-torch kernel
(minutes to compile, seconds per call). To train torchvision's own ``FasterRCNN`` and
``MaskRCNN`` classes on a CPU anyway, :func:`patch_torchvision` routes them to two plain
PyTorch kernels written here:

- :func:`roi_align_grid_sample`: RoI Align as ``F.grid_sample`` at every bin's sampling points
  (``sampling_ratio`` per axis, one call per image) followed by an average over each bin's
  points. It equals torchvision's kernel inside the map; at the border ``grid_sample`` reads
  zeros beyond the last pixel where torchvision repeats it.
- :func:`nms_torch`: the greedy NMS of torchvision's CPU kernel, one kept box at a time.
- :func:`paste_masks_aligned`: Ember's ``paste_masks_in_image(..., aligned=True)``
  (Detectron2's paste) as ``F.grid_sample``, for the Mask R-CNN of ``maskrcnn_small``.

Also the small backbone and the YOLO detector of ``ember.vision.models.detection`` written with
``torch.nn``, so both libraries train the same networks.
"""
from collections import OrderedDict

import numpy as np


def torchvision():
    """``(torch, torchvision)`` with ``register_fake`` disabled during the import (its compiled
    ops need CUDA libraries)."""
    import torch
    original = torch.library.register_fake
    torch.library.register_fake = lambda *args, **kwargs: (lambda fn: fn)
    try:
        import torchvision as tv
    finally:
        torch.library.register_fake = original
    return torch, tv


def nms_torch(boxes, scores, iou_threshold):
    """torchvision's greedy NMS in PyTorch: the best remaining box is kept and suppresses the
    boxes overlapping it by more than ``iou_threshold``."""
    import torch
    order = scores.argsort(descending=True, stable=True)
    boxes = boxes[order]
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    alive = torch.ones(len(order), dtype=torch.bool)
    keep = []
    for i in range(len(order)):
        if not alive[i]:
            continue
        keep.append(i)
        rest = boxes[i + 1:]
        w = torch.minimum(rest[:, 2], boxes[i, 2]) - torch.maximum(rest[:, 0], boxes[i, 0])
        h = torch.minimum(rest[:, 3], boxes[i, 3]) - torch.maximum(rest[:, 1], boxes[i, 1])
        w, h = w.clamp(min=0), h.clamp(min=0)
        inter = w * h
        alive[i + 1:] &= ~(inter / (area[i] + area[i + 1:] - inter) > iou_threshold)
    return order[torch.tensor(keep, dtype=torch.int64)]


def batched_nms_torch(boxes, scores, idxs, iou_threshold):
    import torch
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.int64)
    offsets = idxs.to(boxes) * (boxes.max() + 1)
    return nms_torch(boxes + offsets[:, None], scores, iou_threshold)


def roi_align_grid_sample(input, rois, output_size, spatial_scale=1.0, sampling_ratio=-1,
                          aligned=False):
    """RoI Align with ``F.grid_sample`` (see the module docstring); ``sampling_ratio <= 0``
    uses 2 points per bin and axis."""
    import torch
    import torch.nn.functional as F
    if isinstance(rois, (list, tuple)):
        rois = torch.cat([torch.cat([torch.full((len(b), 1), float(i), dtype=b.dtype), b], 1)
                          for i, b in enumerate(rois)])
    ph, pw = (output_size, output_size) if isinstance(output_size, int) else output_size
    s = sampling_ratio if sampling_ratio > 0 else 2
    n, c, h, w = input.shape
    offset = 0.5 if aligned else 0.0
    x1 = rois[:, 1] * spatial_scale - offset
    y1 = rois[:, 2] * spatial_scale - offset
    bw = rois[:, 3] * spatial_scale - offset - x1
    bh = rois[:, 4] * spatial_scale - offset - y1
    if not aligned:
        bw, bh = bw.clamp(min=1), bh.clamp(min=1)
    steps_x = (torch.arange(pw * s, dtype=input.dtype) + 0.5) / (pw * s)
    steps_y = (torch.arange(ph * s, dtype=input.dtype) + 0.5) / (ph * s)
    xs = x1[:, None] + bw[:, None] * steps_x                   # (K, PW*S) in map pixels
    ys = y1[:, None] + bh[:, None] * steps_y
    # pixel i's centre sits at i (torchvision's sampling convention) -> grid_sample's [-1, 1]
    gx = (xs + 0.5) / w * 2 - 1
    gy = (ys + 0.5) / h * 2 - 1
    grid = torch.stack(torch.broadcast_tensors(gx[:, None, :], gy[:, :, None]), dim=-1)
    out = input.new_zeros((len(rois), c, ph * s, pw * s))
    image = rois[:, 0].long()
    for b in range(n):
        pick = torch.where(image == b)[0]
        if len(pick):
            g = grid[pick].reshape(1, len(pick) * ph * s, pw * s, 2)
            sampled = F.grid_sample(input[b:b + 1], g, mode="bilinear", align_corners=False)
            out[pick] = sampled.reshape(c, len(pick), ph * s, pw * s).transpose(0, 1)
    return F.avg_pool2d(out, s)


def paste_masks_aligned(masks, boxes, img_shape, padding=1):
    """Masks ``(K, 1, M, M)`` pasted into ``(K, 1, H, W)`` images without rounding the boxes:
    every pixel centre sampled from the box's ``M x M`` cells by ``grid_sample``
    (``align_corners=False``, zeros outside), the inverse of the aligned mask projection.
    ``padding`` (torchvision's signature) does not apply."""
    import torch
    h, w = img_shape
    if masks.shape[0] == 0:
        return masks.new_zeros((0, 1, h, w))
    x1, y1, x2, y2 = (boxes[:, i:i + 1].to(masks.dtype) for i in range(4))
    gx = (torch.arange(w, dtype=masks.dtype) + 0.5 - x1) / (x2 - x1).clamp(min=1e-6) * 2 - 1
    gy = (torch.arange(h, dtype=masks.dtype) + 0.5 - y1) / (y2 - y1).clamp(min=1e-6) * 2 - 1
    grid = torch.stack([gx[:, None, :].expand(-1, h, w), gy[:, :, None].expand(-1, h, w)], 3)
    return torch.nn.functional.grid_sample(masks, grid, align_corners=False)


def patch_torchvision(mask_targets_aligned=True, mask_paste_aligned=True):
    """Route torchvision's detectors to :func:`nms_torch` and :func:`roi_align_grid_sample`;
    with ``mask_targets_aligned``, project Mask R-CNN's mask targets with aligned RoI Align as
    Ember's ``maskrcnn_small`` does (``RoIHeads.mask_targets_aligned``); with
    ``mask_paste_aligned``, paste its masks with :func:`paste_masks_aligned`
    (``GeneralizedRCNNTransform.mask_paste_aligned``)."""
    torch, tv = torchvision()
    import torchvision.models.detection.roi_heads as roi_heads
    import torchvision.models.detection.transform as transform
    import torchvision.ops.boxes as boxes
    import torchvision.ops.poolers as poolers
    boxes.nms = nms_torch
    boxes.batched_nms = batched_nms_torch
    poolers.roi_align = roi_align_grid_sample
    roi_heads.roi_align = roi_align_grid_sample
    if mask_targets_aligned:
        def project_masks_on_boxes(gt_masks, boxes, matched_idxs, m):
            rois = torch.cat([matched_idxs.to(boxes)[:, None], boxes], dim=1)
            return roi_align_grid_sample(gt_masks[:, None].to(rois), rois, (m, m), 1.0, 2,
                                         True)[:, 0]
        roi_heads.project_masks_on_boxes = project_masks_on_boxes
    if mask_paste_aligned:
        transform.paste_masks_in_image = paste_masks_aligned
    return torch, tv


# ------------------------------------------------------------------------- the networks
def small_backbone(torch, in_channels=1, widths=(16, 32), out_channels=64,
                   returned_stages=(1,)):
    """``ember.vision.models.detection.small.SmallBackbone`` in ``torch.nn``."""
    nn = torch.nn
    _, tv = torchvision()
    from torchvision.ops.misc import Conv2dNormActivation

    class SmallBackbone(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = Conv2dNormActivation(in_channels, widths[0], 3)
            stages, previous = [], widths[0]
            for width in widths:
                stages.append(nn.Sequential(Conv2dNormActivation(previous, width, 3, stride=2),
                                            Conv2dNormActivation(width, width, 3)))
                previous = width
            self.stages = nn.ModuleList(stages)
            self.returned_stages = tuple(returned_stages)
            self.lateral = nn.ModuleList([nn.Conv2d(widths[i], out_channels, 1)
                                          for i in self.returned_stages])
            self.out_channels = out_channels

        def forward(self, x):
            x = self.stem(x)
            outputs = OrderedDict()
            for i, stage in enumerate(self.stages):
                x = stage(x)
                if i in self.returned_stages:
                    k = self.returned_stages.index(i)
                    outputs[str(k)] = self.lateral[k](x)
            return outputs
    return SmallBackbone()


def small_rcnn(torch, masks=False, num_classes=11, mask_layers=(16,), representation_size=128,
               returned_stages=(1,)):
    """``fasterrcnn_small`` / ``maskrcnn_small`` built from torchvision's classes: the RPN and
    the box head on the last map of ``returned_stages``, the mask head on the first
    (``maskrcnn_small`` returns stages ``(0, 1)``, ``fasterrcnn_small`` ``(1,)``). torchvision's
    RPN slides over every map, so its ``forward`` is given the last one only
    (``RegionProposalNetwork.featmap_names`` in Ember)."""
    _, tv = torchvision()
    from torchvision.models.detection import FasterRCNN, MaskRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
    from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
    from torchvision.ops import MultiScaleRoIAlign
    backbone = small_backbone(torch, returned_stages=returned_stages)
    coarsest = str(len(returned_stages) - 1)
    kwargs = dict(min_size=64, max_size=64, image_mean=[0.5], image_std=[0.5],
                  size_divisible=16,
                  rpn_anchor_generator=AnchorGenerator(((12, 20, 32),), ((1.0, 2.0),)),
                  rpn_pre_nms_top_n_train=600, rpn_post_nms_top_n_train=200,
                  rpn_pre_nms_top_n_test=300, rpn_post_nms_top_n_test=100,
                  box_roi_pool=MultiScaleRoIAlign([coarsest], 7, 2),
                  box_head=TwoMLPHead(64 * 49, representation_size),
                  box_predictor=FastRCNNPredictor(representation_size, num_classes),
                  box_batch_size_per_image=64, box_detections_per_img=30)
    if not masks:
        model = FasterRCNN(backbone, **kwargs)
    else:
        model = MaskRCNN(backbone, mask_roi_pool=MultiScaleRoIAlign(["0"], 14, 2),
                         mask_head=MaskRCNNHeads(64, mask_layers, 1),
                         mask_predictor=MaskRCNNPredictor(mask_layers[-1], mask_layers[-1],
                                                          num_classes), **kwargs)
    if len(returned_stages) > 1:
        rpn_forward = model.rpn.forward

        def forward_on_the_last_map(images, features, targets=None):
            return rpn_forward(images, OrderedDict([(coarsest, features[coarsest])]), targets)
        model.rpn.forward = forward_on_the_last_map
    return model


def small_yolo(torch, num_classes=11, boxes_per_cell=2, lambda_coord=5.0, lambda_noobj=0.5,
               score_thresh=0.05, nms_thresh=0.5, detections_per_img=100):
    """``ember.vision.models.detection.yolo.yolo_small`` in ``torch.nn``: the same grid,
    parametrization, target assignment, loss terms and decoding."""
    nn, F = torch.nn, torch.nn.functional
    _, tv = torchvision()
    from torchvision.ops.misc import Conv2dNormActivation
    b, c = boxes_per_cell, num_classes

    class YOLO(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = small_backbone(torch)
            self.head = nn.Sequential(Conv2dNormActivation(64, 64, 3), nn.Conv2d(64, 5 * b + c, 1))
            with torch.no_grad():
                self.head[-1].bias[4:5 * b:5] = -float(np.log(99.0))

        def grid(self, images):
            x = (torch.stack(list(images)) - 0.5) / 0.5
            return self.head(list(self.backbone(x).values())[-1]).permute(0, 2, 3, 1)

        def forward(self, images, targets=None):
            out = self.grid(images)
            size = tuple(images[0].shape[-2:])
            if self.training:
                return self.loss(out, targets, size)
            with torch.no_grad():
                return self.postprocess(out, size)

        def _decode(self, out, size):
            n, s = out.shape[0], out.shape[1]
            sig = torch.sigmoid(out[..., :5 * b].reshape(n, s, s, b, 5).double())
            h, w = size
            cols = torch.arange(s, dtype=torch.float64)[None, None, :, None]
            rows = torch.arange(s, dtype=torch.float64)[None, :, None, None]
            cx, cy = (cols + sig[..., 0]) / s * w, (rows + sig[..., 1]) / s * h
            bw, bh = sig[..., 2] ** 2 * w, sig[..., 3] ** 2 * h
            boxes = torch.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], -1)
            return boxes, sig[..., 4], torch.softmax(out[..., 5 * b:].double(), -1)

        def loss(self, out, targets, size):
            n, s = out.shape[0], out.shape[1]
            h, w = size
            responsible = torch.zeros((n, s, s, b), dtype=torch.bool)
            box_target = torch.zeros((n, s, s, b, 4))
            cls = torch.full((n, s, s), -1, dtype=torch.int64)
            with torch.no_grad():
                predicted, _, _ = self._decode(out, size)
            for k, target in enumerate(targets):
                gt = target["boxes"].double()
                if not len(gt):
                    continue
                labels = target["labels"]
                order = torch.argsort((gt[:, 2] - gt[:, 0]) * (gt[:, 3] - gt[:, 1]), stable=True)
                gt, labels = gt[order], labels[order]
                cx = (gt[:, 0] + gt[:, 2]) / 2 / w * s
                cy = (gt[:, 1] + gt[:, 3]) / 2 / h * s
                col = cx.floor().long().clamp(0, s - 1)
                row = cy.floor().long().clamp(0, s - 1)
                pred = predicted[k, row, col]                                  # (G, B, 4)
                iw = (torch.minimum(pred[..., 2], gt[:, None, 2])
                      - torch.maximum(pred[..., 0], gt[:, None, 0])).clamp(min=0)
                ih = (torch.minimum(pred[..., 3], gt[:, None, 3])
                      - torch.maximum(pred[..., 1], gt[:, None, 1])).clamp(min=0)
                inter = iw * ih
                union = ((pred[..., 2] - pred[..., 0]) * (pred[..., 3] - pred[..., 1])
                         + ((gt[:, 2] - gt[:, 0]) * (gt[:, 3] - gt[:, 1]))[:, None] - inter)
                best = (inter / union.clamp(min=1e-12)).argmax(1)
                claimed = torch.full((s, s), -1, dtype=torch.int64)
                claimed[row, col] = torch.arange(len(gt))
                winner = claimed[row, col] == torch.arange(len(gt))
                g = torch.where(winner)[0]
                r, cc, bb = row[g], col[g], best[g]
                responsible[k, r, cc, bb] = True
                box_target[k, r, cc, bb] = torch.stack(
                    [cx[g] - cc, cy[g] - r, ((gt[g, 2] - gt[g, 0]) / w).sqrt(),
                     ((gt[g, 3] - gt[g, 1]) / h).sqrt()], 1).float()
                cls[k, r, cc] = labels[g]
            sig = torch.sigmoid(out[..., :5 * b].reshape(n, s, s, b, 5))
            mask = responsible.float()
            loss_box = lambda_coord * (((sig[..., :4] - box_target) ** 2).sum(-1) * mask).sum() / n
            loss_object = (((sig[..., 4] - 1) ** 2) * mask).sum() / n
            loss_noobject = lambda_noobj * ((sig[..., 4] ** 2) * (1 - mask)).sum() / n
            occupied = cls.reshape(-1) >= 0
            logits = out[..., 5 * b:].reshape(-1, c)
            loss_class = (F.cross_entropy(logits[occupied], cls.reshape(-1)[occupied],
                                          reduction="sum") / n if occupied.any()
                          else logits.sum() * 0)
            return {"loss_box": loss_box, "loss_object": loss_object,
                    "loss_noobject": loss_noobject, "loss_class": loss_class}

        def postprocess(self, out, size):
            boxes, confidence, probs = self._decode(out, size)
            h, w = size
            results = []
            for k in range(out.shape[0]):
                scores = (confidence[k][..., None] * probs[k][..., None, :])[..., 1:].reshape(-1)
                keep = torch.where(scores > score_thresh)[0]
                chosen = boxes[k].reshape(-1, 4)[keep // (c - 1)]
                chosen = torch.stack([chosen[:, 0].clamp(0, w), chosen[:, 1].clamp(0, h),
                                      chosen[:, 2].clamp(0, w), chosen[:, 3].clamp(0, h)], 1)
                labels = keep % (c - 1) + 1
                kept = batched_nms_torch(chosen, scores[keep], labels, nms_thresh)
                kept = kept[:detections_per_img]
                results.append({"boxes": chosen[kept].float(), "labels": labels[kept],
                                "scores": scores[keep][kept].float()})
            return results
    return YOLO()
