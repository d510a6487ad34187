"""Detection losses (``torchvision.ops``): the focal loss and the IoU-family box losses.

- ``sigmoid_focal_loss`` (RetinaNet, Lin et al. 2017): binary cross-entropy scaled by
  ``(1 − p_t)^γ``, so the easy, well-classified examples (most of a detector's thousands of
  background anchors) weigh little; ``α`` balances positives and negatives.
- ``generalized_box_iou_loss``, ``distance_box_iou_loss``, ``complete_box_iou_loss``: one
  minus GIoU / DIoU / CIoU (``ember.vision.ops.boxes``) of *matched* pairs of boxes
  ``(..., 4)``, each with ``eps`` in the denominators, as in torchvision.
"""
import math

import ember
from ember.nn import functional as F
from ember.vision.ops.boxes import _boxes

__all__ = ["sigmoid_focal_loss", "generalized_box_iou_loss", "distance_box_iou_loss",
           "complete_box_iou_loss"]


def _reduce(loss, reduction, fname):
    if reduction == "none":
        return loss
    if reduction == "mean":
        return loss.mean() if loss.numel() > 0 else 0.0 * loss.sum()
    if reduction == "sum":
        return loss.sum()
    raise ValueError(f"{fname}: reduction must be 'none', 'mean' or 'sum', got {reduction!r}")


def sigmoid_focal_loss(inputs, targets, alpha=0.25, gamma=2, reduction="none"):
    """``FL = α_t (1 − p_t)^γ BCE(inputs, targets)`` elementwise, with ``p = σ(inputs)``,
    ``p_t = p y + (1 − p)(1 − y)`` and ``α_t = α y + (1 − α)(1 − y)`` (no ``α_t`` when
    ``alpha = -1``). ``inputs`` are logits, ``targets`` the same shape in ``[0, 1]``."""
    if not (0 <= alpha <= 1) and alpha != -1:
        raise ValueError(f"sigmoid_focal_loss: alpha must lie in [0, 1] or be -1 (no "
                         f"weighting), got {alpha}")
    if tuple(inputs.shape) != tuple(targets.shape):
        raise ValueError(f"sigmoid_focal_loss: inputs {tuple(inputs.shape)} and targets "
                         f"{tuple(targets.shape)} must have the same shape")
    p = ember.sigmoid(inputs)
    ce = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * ((1 - p_t) ** gamma)
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return _reduce(loss, reduction, "sigmoid_focal_loss")


def _matched(fname, boxes1, boxes2):
    boxes1 = _boxes(boxes1, fname, "boxes1")
    boxes2 = _boxes(boxes2, fname, "boxes2")
    if tuple(boxes1.shape) != tuple(boxes2.shape):
        raise ValueError(f"{fname}: boxes1 {tuple(boxes1.shape)} and boxes2 "
                         f"{tuple(boxes2.shape)} must have the same shape (matched pairs)")
    if boxes1.dtype not in (ember.float32, ember.float64):
        boxes1 = boxes1.float()
    if boxes2.dtype not in (ember.float32, ember.float64):
        boxes2 = boxes2.float()
    return boxes1, boxes2


def _inter_union(boxes1, boxes2):
    x1, y1, x2, y2 = boxes1.unbind(-1)
    x1g, y1g, x2g, y2g = boxes2.unbind(-1)
    iw = (ember.minimum(x2, x2g) - ember.maximum(x1, x1g)).clamp(min=0)
    ih = (ember.minimum(y2, y2g) - ember.maximum(y1, y1g)).clamp(min=0)
    inter = iw * ih
    union = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - inter
    return inter, union


def _enclosing(boxes1, boxes2):
    x1, y1, x2, y2 = boxes1.unbind(-1)
    x1g, y1g, x2g, y2g = boxes2.unbind(-1)
    return (ember.minimum(x1, x1g), ember.minimum(y1, y1g), ember.maximum(x2, x2g),
            ember.maximum(y2, y2g))


def generalized_box_iou_loss(boxes1, boxes2, reduction="none", eps=1e-7):
    """``1 − GIoU`` of matched xyxy boxes ``(..., 4)``: ``1 − IoU + (|C| − union) / |C|``, in
    ``[0, 2]``; it still has a gradient when the boxes do not overlap."""
    boxes1, boxes2 = _matched("generalized_box_iou_loss", boxes1, boxes2)
    inter, union = _inter_union(boxes1, boxes2)
    iou = inter / (union + eps)
    xc1, yc1, xc2, yc2 = _enclosing(boxes1, boxes2)
    area_c = (xc2 - xc1) * (yc2 - yc1)
    loss = 1 - (iou - (area_c - union) / (area_c + eps))
    return _reduce(loss, reduction, "generalized_box_iou_loss")


def _diou_iou_loss(boxes1, boxes2, eps):
    inter, union = _inter_union(boxes1, boxes2)
    iou = inter / (union + eps)
    xc1, yc1, xc2, yc2 = _enclosing(boxes1, boxes2)
    diagonal_squared = (xc2 - xc1) ** 2 + (yc2 - yc1) ** 2 + eps
    x1, y1, x2, y2 = boxes1.unbind(-1)
    x1g, y1g, x2g, y2g = boxes2.unbind(-1)
    centers_squared = (((x2 + x1) / 2 - (x1g + x2g) / 2) ** 2
                       + ((y2 + y1) / 2 - (y1g + y2g) / 2) ** 2)
    return 1 - iou + centers_squared / diagonal_squared, iou


def distance_box_iou_loss(boxes1, boxes2, reduction="none", eps=1e-7):
    """``1 − DIoU`` of matched xyxy boxes: ``1 − IoU + ρ² / c²`` (centre distance over the
    enclosing diagonal, both squared)."""
    boxes1, boxes2 = _matched("distance_box_iou_loss", boxes1, boxes2)
    loss, _ = _diou_iou_loss(boxes1, boxes2, eps)
    return _reduce(loss, reduction, "distance_box_iou_loss")


def complete_box_iou_loss(boxes1, boxes2, reduction="none", eps=1e-7):
    """``1 − CIoU`` of matched xyxy boxes: the DIoU loss plus ``α v`` with ``v = 4/π²
    (atan(w_gt/h_gt) − atan(w/h))²`` and ``α = v / (1 − IoU + v + eps)`` held constant."""
    boxes1, boxes2 = _matched("complete_box_iou_loss", boxes1, boxes2)
    # torchvision's DIoU term here uses the default eps whatever ``eps`` is
    diou_loss, iou = _diou_iou_loss(boxes1, boxes2, 1e-7)
    x1, y1, x2, y2 = boxes1.unbind(-1)
    x1g, y1g, x2g, y2g = boxes2.unbind(-1)
    v = (4 / math.pi ** 2) * (ember.atan((x2g - x1g) / (y2g - y1g))
                              - ember.atan((x2 - x1) / (y2 - y1))) ** 2
    with ember.no_grad():
        alpha = v / (1 - iou + v + eps)
    return _reduce(diou_loss + alpha * v, reduction, "complete_box_iou_loss")
