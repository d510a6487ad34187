"""The second stage of Faster and Mask R-CNN: classify each proposal, refine its box, and
(Mask R-CNN) predict its mask (lecture 003, inventory C8, D20-D22).

Training matches the proposals (plus the true boxes themselves) to the objects (IoU >= 0.5:
that object's class, below: background), samples 512 per image, a quarter positive at most,
pools a ``7x7`` feature per proposal with RoI Align, and adds the last two of the lecture's four
losses: cross-entropy over the ``K + 1`` classes and smooth-L1 on the class-specific offsets
of the positives. Mask R-CNN adds a per-pixel binary cross-entropy between the ``28x28`` mask
of the true class and the object's mask cropped by the proposal (RoI Align of the mask).

Inference decodes one box per class for each proposal, drops scores below
``score_thresh``, runs NMS per class and keeps ``detections_per_img``; masks are the predicted
class's channel, pasted into the image (``paste_masks_in_image``).
"""
import numpy as np

import ember
from ember import nn
from ember.nn import functional as F
from ember.vision.models.detection.box_coder import BoxCoder
from ember.vision.models.detection.matcher import BalancedPositiveNegativeSampler, Matcher
from ember.vision.ops import boxes as box_ops
from ember.vision.ops.nms import greedy_keep
from ember.vision.ops.roi import roi_align

__all__ = ["RoIHeads", "fastrcnn_loss", "maskrcnn_loss", "maskrcnn_inference",
           "paste_masks_in_image", "project_masks_on_boxes"]


def fastrcnn_loss(class_logits, box_regression, labels, regression_targets):
    """``(classification loss, box loss)``: cross-entropy over all sampled proposals; smooth-L1
    (``beta = 1/9``) of the positives' offsets for their true class, summed and divided by
    the number of sampled proposals."""
    labels = ember.cat(labels, dim=0)
    regression_targets = ember.cat(regression_targets, dim=0)
    classification_loss = F.cross_entropy(class_logits, labels)
    positive = np.flatnonzero(labels.numpy() > 0)
    n = class_logits.shape[0]
    box_regression = box_regression.reshape(n, box_regression.shape[-1] // 4, 4)
    pos = ember.from_numpy(positive)
    box_loss = F.smooth_l1_loss(box_regression[pos, labels[pos]], regression_targets[pos],
                                beta=1 / 9, reduction="sum")
    return classification_loss, box_loss / max(labels.numel(), 1)


def maskrcnn_inference(x, labels):
    """Per image, the mask probabilities ``(L_i, 1, M, M)`` of each detection's class, from
    the mask logits ``(sum L_i, classes, M, M)``."""
    mask_prob = ember.sigmoid(x)
    labels_all = ember.cat(labels) if labels else ember.zeros(0, dtype=ember.int64)
    index = ember.arange(x.shape[0])
    mask_prob = mask_prob[index, labels_all][:, None]
    return list(mask_prob.split([len(label) for label in labels], dim=0))


def project_masks_on_boxes(gt_masks, boxes, matched_idxs, m, aligned=False):
    """The objects' masks ``(G, H, W)`` cropped by ``boxes`` ``(L, 4)`` and resized to
    ``m x m`` (RoI Align of the masks; ``matched_idxs`` picks each box's object).
    ``aligned`` is ``roi_align``'s: torchvision's ``False`` samples half a pixel off the box,
    which ``paste_masks_in_image`` does not undo (see ``RoIHeads``)."""
    rois = ember.cat([matched_idxs.to(boxes.dtype)[:, None], boxes], dim=1)
    return roi_align(gt_masks[:, None].to(rois.dtype), rois, (m, m), 1.0, -1, aligned)[:, 0]


def maskrcnn_loss(mask_logits, proposals, gt_masks, gt_labels, mask_matched_idxs,
                  aligned=False):
    """Mean per-pixel binary cross-entropy between each positive proposal's predicted mask of
    its true class and the projected object mask (0 with a gradient path when there are no
    positive proposals). ``aligned``: how the targets are projected
    (``project_masks_on_boxes``)."""
    size = mask_logits.shape[-1]
    labels = [label[idxs] for label, idxs in zip(gt_labels, mask_matched_idxs)]
    targets = [project_masks_on_boxes(m, p, i, size, aligned)
               for m, p, i in zip(gt_masks, proposals, mask_matched_idxs) if len(p)]
    labels = ember.cat(labels, dim=0)
    if not targets:
        return mask_logits.sum() * 0
    targets = ember.cat(targets, dim=0)
    return F.binary_cross_entropy_with_logits(
        mask_logits[ember.arange(labels.shape[0]), labels], targets)


def _interpolation_matrix(shape, dtype, taps):
    """``(K, out_size, source)`` zeros plus, for each tap ``(cell, weight, keep)`` of
    ``(K, out_size)`` arrays, ``weight`` added at ``[k, i, cell[k, i]]`` where ``keep``: the
    two taps of a linear interpolation, shared by both mask pastes."""
    weights = np.zeros(shape, dtype)
    ks, rows = np.indices(shape[:2])
    for cell, weight, keep in taps:
        np.add.at(weights, (ks[keep], rows[keep], cell[keep]), weight[keep])
    return weights


def _bilinear_resize_matrix(box_start, box_end, out_size, source, dtype):
    """``(K, out_size, source)``: row ``i`` of box ``k`` holds the weights of the ``source``
    mask pixels for image pixel ``i`` when a mask is resized (bilinear, ``align_corners=False``,
    as ``F.interpolate``) to the ``box_end[k] - box_start[k] + 1`` pixels (at least 1) of the
    box, placed at ``box_start[k]``; rows outside ``[box_start, box_end]`` are zero."""
    k = len(box_start)
    box_length = np.maximum(box_end - box_start + 1, 1)
    pixel = np.arange(out_size)[None, :] - box_start[:, None]          # position in the box
    inside = (pixel >= 0) & (pixel <= (box_end - box_start)[:, None])
    scale = source / box_length[:, None].astype(np.float64)
    src = np.maximum((pixel + 0.5) * scale - 0.5, 0)
    low = np.minimum(np.floor(src).astype(np.int64), source - 1)
    high = np.minimum(low + 1, source - 1)
    frac = src - low
    return _interpolation_matrix((k, out_size, source), dtype,
                                 ((low, 1 - frac, inside), (high, frac, inside)))


def _aligned_resize_matrix(box_start, box_end, out_size, source, dtype):
    """``(K, out_size, source)``: row ``i`` of box ``k`` holds the weights of the ``source``
    mask cells sampled at the centre of image pixel ``i``, at mask coordinate
    ``(i + 0.5 - box_start[k]) / (box_end[k] - box_start[k]) * source - 0.5`` (bilinear, cells
    outside the mask count as zeros): the inverse of ``roi_align(..., aligned=True)``."""
    length = np.maximum(box_end - box_start, 1e-6)[:, None].astype(np.float64)
    src = (np.arange(out_size)[None, :] + 0.5 - box_start[:, None]) / length * source - 0.5
    low = np.floor(src).astype(np.int64)
    frac = src - low
    return _interpolation_matrix((len(box_start), out_size, source), dtype,
                                 [(cell, weight, (cell >= 0) & (cell < source))
                                  for cell, weight in ((low, 1 - frac), (low + 1, frac))])


def paste_masks_in_image(masks, boxes, img_shape, padding=1, aligned=False):
    """Masks ``(K, 1, M, M)`` of boxes ``(K, 4)`` pasted into ``(K, 1, H, W)`` images.

    As torchvision (``aligned=False``): each mask is padded by ``padding`` pixels (zeros) and
    its box enlarged to match, the box is rounded down to whole pixels (end pixel included),
    the mask resized bilinearly to the box and placed there. Here all masks at once: the
    resize of mask ``k`` is ``R_y[k] @ mask_k @ R_x[k]^T`` with interpolation matrices whose
    rows outside the box are zero, one batched product instead of a loop over boxes.

    ``aligned=True`` (Ember's addition, Detectron2's paste): no rounding; each image pixel
    centre is mapped into the box's ``M x M`` cells and sampled bilinearly (zeros outside the
    mask, so ``padding`` does not apply), the exact inverse of the aligned projection of the
    training targets (``project_masks_on_boxes(..., aligned=True)``). The rounding costs a
    small object up to a pixel of shift and of size: a perfect ``28x28`` mask of an
    ``mnist-detect`` digit pastes back at IoU 0.93 on average rounded, 1.00 aligned."""
    masks = masks._data if hasattr(masks, "_data") else np.asarray(masks)
    boxes = boxes._data if hasattr(boxes, "_data") else np.asarray(boxes)
    h, w = img_shape
    k, m = len(masks), masks.shape[-1]
    if k == 0:
        return ember.zeros((0, 1, h, w), dtype=ember.float32)
    dtype = masks.dtype if masks.dtype.kind == "f" else np.float32
    if aligned:
        ry = _aligned_resize_matrix(boxes[:, 1], boxes[:, 3], h, m, dtype)
        rx = _aligned_resize_matrix(boxes[:, 0], boxes[:, 2], w, m, dtype)
        pasted = ry @ masks[:, 0].astype(dtype) @ rx.transpose(0, 2, 1)
        return ember.from_numpy(np.ascontiguousarray(pasted[:, None]))
    padded = np.pad(masks[:, 0], ((0, 0), (padding, padding), (padding, padding)))
    scale = float(m + 2 * padding) / m
    half_w = (boxes[:, 2] - boxes[:, 0]) * 0.5 * scale
    half_h = (boxes[:, 3] - boxes[:, 1]) * 0.5 * scale
    cx = (boxes[:, 2] + boxes[:, 0]) * 0.5
    cy = (boxes[:, 3] + boxes[:, 1]) * 0.5
    expanded = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], 1)
    x0, y0, x1, y1 = np.trunc(expanded).astype(np.int64).T       # .to(int64): toward zero
    source = m + 2 * padding
    ry = _bilinear_resize_matrix(y0, y1, h, source, dtype)
    rx = _bilinear_resize_matrix(x0, x1, w, source, dtype)
    pasted = ry @ padded.astype(dtype) @ rx.transpose(0, 2, 1)
    return ember.from_numpy(np.ascontiguousarray(pasted[:, None]))


class RoIHeads(nn.Module):
    """Box (and mask) heads on the proposals; see the module docstring. torchvision's
    arguments: ``box_roi_pool`` (a ``MultiScaleRoIAlign``), ``box_head``, ``box_predictor``,
    the matching thresholds, the sampler's batch and positive fraction, the box coder's
    weights (default ``(10, 10, 5, 5)``), ``score_thresh``, ``nms_thresh``,
    ``detections_per_img``, and optionally ``mask_roi_pool``, ``mask_head``,
    ``mask_predictor``. ``mask_targets_aligned`` (Ember's addition, default False as in
    torchvision): project the true masks onto the proposals with ``aligned=True`` RoI Align
    (Detectron2's choice). torchvision's unaligned projection samples the mask half a pixel
    off, and pasting the prediction back does not undo it: harmless for large objects, but on
    the 2-3 pixel strokes of small digits it costs most of the IoU (a perfect 28x28 mask of a
    ``mnist-detect`` digit pastes back at IoU 0.63 on average unaligned, 0.94 aligned).

    ``forward(features, proposals, image_shapes, targets=None)`` -> ``(detections, losses)``:
    in training ``{"loss_classifier", "loss_box_reg"[, "loss_mask"]}``, in evaluation a list of
    ``{"boxes", "labels", "scores"[, "masks"]}`` (masks ``(L, 1, M, M)`` probabilities, pasted
    into the image by the transform's ``postprocess``).
    """

    def __init__(self, box_roi_pool, box_head, box_predictor, fg_iou_thresh, bg_iou_thresh,
                 batch_size_per_image, positive_fraction, bbox_reg_weights, score_thresh,
                 nms_thresh, detections_per_img, mask_roi_pool=None, mask_head=None,
                 mask_predictor=None, mask_targets_aligned=False):
        super().__init__()
        self.box_similarity = box_ops.box_iou
        self.proposal_matcher = Matcher(fg_iou_thresh, bg_iou_thresh,
                                        allow_low_quality_matches=False)
        self.fg_bg_sampler = BalancedPositiveNegativeSampler(batch_size_per_image,
                                                             positive_fraction)
        self.box_coder = BoxCoder((10.0, 10.0, 5.0, 5.0) if bbox_reg_weights is None
                                  else bbox_reg_weights)
        self.box_roi_pool = box_roi_pool
        self.box_head = box_head
        self.box_predictor = box_predictor
        self.score_thresh = score_thresh
        self.nms_thresh = nms_thresh
        self.detections_per_img = detections_per_img
        self.mask_roi_pool = mask_roi_pool
        self.mask_head = mask_head
        self.mask_predictor = mask_predictor
        self.mask_targets_aligned = mask_targets_aligned

    def has_mask(self):
        return (self.mask_roi_pool is not None and self.mask_head is not None
                and self.mask_predictor is not None)

    # ----------------------------------------------------------------------- training
    def assign_targets_to_proposals(self, proposals, gt_boxes, gt_labels):
        matched_idxs, labels = [], []
        for props, boxes, classes in zip(proposals, gt_boxes, gt_labels):
            if boxes.numel() == 0:                       # an image without objects
                clamped = np.zeros(len(props), np.int64)
                lab = np.zeros(len(props), np.int64)
            else:
                with ember.no_grad():
                    quality = box_ops.box_iou(boxes, props)
                idx = self.proposal_matcher(quality).numpy()
                clamped = np.maximum(idx, 0)
                lab = classes.numpy()[clamped].astype(np.int64)
                lab[idx == Matcher.BELOW_LOW_THRESHOLD] = 0
                lab[idx == Matcher.BETWEEN_THRESHOLDS] = -1      # ignored by the sampler
            matched_idxs.append(clamped)
            labels.append(lab)
        return matched_idxs, labels

    def check_targets(self, targets):
        if targets is None:
            raise ValueError("RoIHeads: targets are needed in training mode")
        for key in ("boxes", "labels") + (("masks",) if self.has_mask() else ()):
            if not all(key in t for t in targets):
                raise ValueError(f"RoIHeads: every target needs a {key!r} entry")

    def select_training_samples(self, proposals, targets):
        """The sampled proposals per image with their matched object, label and regression
        target; the true boxes are added to the proposals first."""
        self.check_targets(targets)
        dtype = proposals[0].dtype
        gt_boxes = [t["boxes"].to(dtype) for t in targets]
        gt_labels = [t["labels"] for t in targets]
        proposals = [ember.cat((p, g)) for p, g in zip(proposals, gt_boxes)]
        matched_idxs, labels = self.assign_targets_to_proposals(proposals, gt_boxes, gt_labels)
        pos_masks, neg_masks = self.fg_bg_sampler(labels)
        matched_gt_boxes = []
        for i in range(len(proposals)):
            keep = np.flatnonzero(pos_masks[i].numpy() | neg_masks[i].numpy())
            proposals[i] = proposals[i][ember.from_numpy(keep)]
            labels[i] = ember.from_numpy(labels[i][keep])
            matched_idxs[i] = ember.from_numpy(matched_idxs[i][keep])
            boxes = gt_boxes[i] if gt_boxes[i].numel() else ember.zeros((1, 4), dtype=dtype)
            matched_gt_boxes.append(boxes[matched_idxs[i]])
        with ember.no_grad():
            regression_targets = self.box_coder.encode(matched_gt_boxes, proposals)
        return proposals, matched_idxs, labels, regression_targets

    # ---------------------------------------------------------------------- inference
    def postprocess_detections(self, class_logits, box_regression, proposals, image_shapes):
        """Per image ``(boxes, scores, labels)``: a box per proposal and foreground class,
        scores above ``score_thresh``, non-empty boxes, NMS per class, the best
        ``detections_per_img``."""
        num_classes = class_logits.shape[-1]
        sizes = [len(p) for p in proposals]
        pred_boxes = self.box_coder.decode(box_regression, proposals)._data
        logits = class_logits._data.astype(np.float64)
        scores_all = np.exp(logits - logits.max(-1, keepdims=True))
        scores_all /= scores_all.sum(-1, keepdims=True)
        scores_all = scores_all.astype(class_logits._data.dtype)
        all_boxes, all_scores, all_labels = [], [], []
        start = 0
        for size, (h, w) in zip(sizes, image_shapes):
            boxes = pred_boxes[start:start + size]
            scores = scores_all[start:start + size]
            start += size
            boxes = np.stack([boxes[..., 0].clip(0, w), boxes[..., 1].clip(0, h),
                              boxes[..., 2].clip(0, w), boxes[..., 3].clip(0, h)], -1)
            labels = np.broadcast_to(np.arange(num_classes), scores.shape)
            boxes = boxes[:, 1:].reshape(-1, 4)                  # drop the background class
            scores = scores[:, 1:].reshape(-1)
            labels = labels[:, 1:].reshape(-1)
            keep = scores > self.score_thresh
            keep &= ((boxes[:, 2] - boxes[:, 0]) >= 1e-2) & ((boxes[:, 3] - boxes[:, 1]) >= 1e-2)
            boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
            keep = greedy_keep(boxes, scores, self.nms_thresh, labels)[:self.detections_per_img]
            all_boxes.append(ember.from_numpy(np.ascontiguousarray(boxes[keep])))
            all_scores.append(ember.from_numpy(np.ascontiguousarray(scores[keep])))
            all_labels.append(ember.from_numpy(np.ascontiguousarray(labels[keep]).astype(np.int64)))
        return all_boxes, all_scores, all_labels

    def forward(self, features, proposals, image_shapes, targets=None):
        if targets is not None:
            for t in targets:
                if t["boxes"].dtype not in (ember.float32, ember.float64, ember.float16):
                    raise TypeError(f"RoIHeads: target boxes must be floating point, got "
                                    f"{t['boxes'].dtype}")
                if t["labels"].dtype != ember.int64:
                    raise TypeError(f"RoIHeads: target labels must be int64, got "
                                    f"{t['labels'].dtype}")
        if self.training:
            proposals, matched_idxs, labels, regression_targets = \
                self.select_training_samples(proposals, targets)
        box_features = self.box_roi_pool(features, proposals, image_shapes)
        box_features = self.box_head(box_features)
        class_logits, box_regression = self.box_predictor(box_features)
        result, losses = [], {}
        if self.training:
            loss_classifier, loss_box_reg = fastrcnn_loss(class_logits, box_regression, labels,
                                                          regression_targets)
            losses = {"loss_classifier": loss_classifier, "loss_box_reg": loss_box_reg}
        else:
            with ember.no_grad():
                boxes, scores, labels = self.postprocess_detections(
                    class_logits, box_regression, proposals, image_shapes)
            result = [{"boxes": b, "labels": l, "scores": s}
                      for b, s, l in zip(boxes, scores, labels)]
        if self.has_mask():
            if self.training:
                mask_proposals, pos_matched_idxs = [], []
                for props, lab, idx in zip(proposals, labels, matched_idxs):
                    pos = ember.from_numpy(np.flatnonzero(lab.numpy() > 0))
                    mask_proposals.append(props[pos])
                    pos_matched_idxs.append(idx[pos])
            else:
                mask_proposals = [r["boxes"] for r in result]
            mask_features = self.mask_roi_pool(features, mask_proposals, image_shapes)
            mask_logits = self.mask_predictor(self.mask_head(mask_features))
            if self.training:
                losses["loss_mask"] = maskrcnn_loss(
                    mask_logits, mask_proposals, [t["masks"] for t in targets],
                    [t["labels"] for t in targets], pos_matched_idxs,
                    self.mask_targets_aligned)
            else:
                with ember.no_grad():
                    probs = maskrcnn_inference(mask_logits, [r["labels"] for r in result])
                for prob, r in zip(probs, result):
                    r["masks"] = prob
        return result, losses
