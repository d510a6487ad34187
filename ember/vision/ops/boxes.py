"""Boxes: formats, areas, the IoU family, clipping and filtering (``torchvision.ops.boxes``).

A box is four numbers. Ember's boxes, like torchvision's, are ``(x1, y1, x2, y2)`` ("xyxy":
the top-left and bottom-right corners, in pixels, ``x2 - x1`` being the width); lecture 003
also writes ``[x, y, width, height]`` ("xywh") and YOLO regresses centres ``(cx, cy, w, h)``
("cxcywh"); ``box_convert`` maps between the three (inventory C7).

Intersection over union (Jaccard index, lecture 003 「Intersection over union/IoU/Jaccard」,
inventory C15)::

    IoU(A, B) = |A ∩ B| / |A ∪ B| = inter / (area(A) + area(B) − inter)

and its three refinements, losses in their own right (``ember.vision.ops.losses``), with
``C`` the smallest box enclosing both, ``ρ`` the distance of the centres and ``c`` the
diagonal of ``C``::

    GIoU = IoU − |C \\ (A ∪ B)| / |C|          (Rezatofighi et al. 2019)
    DIoU = IoU − ρ² / c²                       (Zheng et al. 2020)
    CIoU = DIoU − α v,  v = 4/π² (atan(w_B/h_B) − atan(w_A/h_A))²,  α = v / (1 − IoU + v)

Every function takes Tensors, is built from differentiable Ember ops (so gradients reach
box coordinates, as in torchvision) and works on any leading dimensions ``(..., N, 4)``.
Integer boxes stay integers where torchvision keeps them (areas); ratios are floats.

Boxes with ``x2 < x1`` or ``y2 < y1`` are not checked here (torchvision does not either:
these functions sit on the hot path of every detector); they give a negative area and a
meaningless IoU. The detectors, datasets and metrics reject such boxes with a one-line error.
"""
import math

import numpy as np

import ember
from ember._tensor import Tensor

__all__ = ["box_convert", "box_area", "box_iou", "generalized_box_iou", "distance_box_iou",
           "complete_box_iou", "clip_boxes_to_image", "remove_small_boxes", "masks_to_boxes",
           "BOX_FORMATS"]

BOX_FORMATS = ("xyxy", "xywh", "cxcywh")


def _boxes(boxes, fname, name="boxes"):
    """``boxes`` as a Tensor of shape ``(..., 4)``; else a one-line error naming ``fname``."""
    if not isinstance(boxes, Tensor):
        if isinstance(boxes, (np.ndarray, list, tuple)):
            boxes = ember.as_tensor(np.asarray(boxes))
        else:
            raise TypeError(f"{fname}: {name} must be a Tensor of shape (..., 4), got "
                            f"{type(boxes).__name__}")
    if boxes.ndim < 1 or boxes.shape[-1] != 4:
        raise ValueError(f"{fname}: expected {name} of shape (..., 4), got shape "
                         f"{tuple(boxes.shape)}")
    if boxes.dtype == ember.bool:
        raise TypeError(f"{fname}: {name} must be numeric, got dtype {boxes.dtype}")
    return boxes


def _upcast(t):
    """float16 -> float32 and small ints -> int32 (torchvision's ``_upcast``), so that products
    of coordinates do not overflow; float32/64 and int32/64 are kept."""
    kind = t._data.dtype.kind
    if kind == "f":
        return t if t.dtype in (ember.float32, ember.float64) else t.float()
    return t if t.dtype in (ember.int32, ember.int64) else t.int()


def _check_format(fmt, fname, allowed=BOX_FORMATS):
    if fmt not in allowed:
        raise ValueError(f"{fname}: unsupported box format {fmt!r}; choose one of "
                         f"{', '.join(allowed)} (rotated boxes are not supported)")


def box_convert(boxes, in_fmt, out_fmt):
    """Boxes ``(..., 4)`` from ``in_fmt`` to ``out_fmt``, each one of ``"xyxy"`` (corners),
    ``"xywh"`` (top-left corner, width, height) or ``"cxcywh"`` (centre, width, height).
    Returns a new tensor (a copy when the formats are equal). torchvision 0.28 also converts
    rotated boxes (``xywhr``, ``cxcywhr``, ``xyxyxyxy``); Ember does not (a clear error)."""
    boxes = _boxes(boxes, "box_convert")
    _check_format(in_fmt, "box_convert")
    _check_format(out_fmt, "box_convert")
    if in_fmt == out_fmt:
        return boxes.clone()
    a, b, c, d = boxes.unbind(-1)
    if in_fmt == "xywh":                      # -> xyxy
        a, b, c, d = a, b, a + c, b + d
    elif in_fmt == "cxcywh":
        a, b, c, d = a - 0.5 * c, b - 0.5 * d, a + 0.5 * c, b + 0.5 * d
    if out_fmt == "xywh":                     # xyxy ->
        a, b, c, d = a, b, c - a, d - b
    elif out_fmt == "cxcywh":
        a, b, c, d = (a + c) / 2, (b + d) / 2, c - a, d - b
    return ember.stack((a, b, c, d), dim=-1)


def box_area(boxes, fmt="xyxy"):
    """Areas ``(...,)`` of boxes ``(..., 4)`` in ``fmt``: ``(x2 − x1)(y2 − y1)`` for xyxy,
    ``w h`` otherwise."""
    boxes = _upcast(_boxes(boxes, "box_area"))
    _check_format(fmt, "box_area")
    if fmt == "xyxy":
        return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])
    return boxes[..., 2] * boxes[..., 3]


def _corners(boxes, fmt):
    """Top-left ``(..., 2)`` and bottom-right ``(..., 2)`` corners of boxes in ``fmt``."""
    if fmt == "xyxy":
        return boxes[..., :2], boxes[..., 2:]
    if fmt == "xywh":
        return boxes[..., :2], boxes[..., :2] + boxes[..., 2:]
    return boxes[..., :2] - boxes[..., 2:] / 2, boxes[..., :2] + boxes[..., 2:] / 2


def _box_inter_union(boxes1, boxes2, fmt="xyxy"):
    """Pairwise intersections and unions ``(..., N, M)`` of boxes ``(..., N, 4)`` and
    ``(..., M, 4)``."""
    area1 = box_area(boxes1, fmt)
    area2 = box_area(boxes2, fmt)
    lt1, rb1 = _corners(boxes1, fmt)
    lt2, rb2 = _corners(boxes2, fmt)
    lt = ember.maximum(lt1.unsqueeze(-2), lt2.unsqueeze(-3))       # (..., N, M, 2)
    rb = ember.minimum(rb1.unsqueeze(-2), rb2.unsqueeze(-3))
    wh = _upcast(rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = area1.unsqueeze(-1) + area2.unsqueeze(-2) - inter
    return inter, union


def _pair(fname, boxes1, boxes2):
    boxes1 = _boxes(boxes1, fname, "boxes1")
    boxes2 = _boxes(boxes2, fname, "boxes2")
    if boxes1.ndim < 2 or boxes2.ndim < 2 or boxes1.shape[:-2] != boxes2.shape[:-2]:
        raise ValueError(f"{fname}: expected boxes1 (..., N, 4) and boxes2 (..., M, 4) with the "
                         f"same leading dims, got shapes {tuple(boxes1.shape)} and "
                         f"{tuple(boxes2.shape)}")
    return boxes1, boxes2


def box_iou(boxes1, boxes2, fmt="xyxy"):
    """Pairwise IoU ``(..., N, M)`` of boxes ``(..., N, 4)`` and ``(..., M, 4)`` in ``fmt``:
    ``inter / (area1 + area2 − inter)`` (lecture 003, inventory C15). Two empty boxes give
    NaN (0/0), as in torchvision."""
    boxes1, boxes2 = _pair("box_iou", boxes1, boxes2)
    _check_format(fmt, "box_iou")
    inter, union = _box_inter_union(boxes1, boxes2, fmt)
    return inter / union


def _enclosing_wh(boxes1, boxes2):
    """Width and height ``(..., N, M, 2)`` of the smallest boxes enclosing each pair."""
    lti = ember.minimum(boxes1[..., :2].unsqueeze(-2), boxes2[..., :2].unsqueeze(-3))
    rbi = ember.maximum(boxes1[..., 2:].unsqueeze(-2), boxes2[..., 2:].unsqueeze(-3))
    return _upcast(rbi - lti).clamp(min=0)


def generalized_box_iou(boxes1, boxes2):
    """Pairwise generalized IoU ``(..., N, M)`` of xyxy boxes: ``IoU − (|C| − union) / |C|``
    with ``C`` the enclosing box; in ``[−1, 1]``, and informative (negative) for boxes that do
    not overlap."""
    boxes1, boxes2 = _pair("generalized_box_iou", boxes1, boxes2)
    inter, union = _box_inter_union(boxes1, boxes2)
    iou = inter / union
    whi = _enclosing_wh(boxes1, boxes2)
    areai = whi[..., 0] * whi[..., 1]
    return iou - (areai - union) / areai


def _box_diou_iou(boxes1, boxes2, eps):
    iou = box_iou(boxes1, boxes2)
    whi = _enclosing_wh(boxes1, boxes2)
    diagonal_squared = whi[..., 0] ** 2 + whi[..., 1] ** 2 + eps
    x_p = (boxes1[..., 0] + boxes1[..., 2]) / 2
    y_p = (boxes1[..., 1] + boxes1[..., 3]) / 2
    x_g = (boxes2[..., 0] + boxes2[..., 2]) / 2
    y_g = (boxes2[..., 1] + boxes2[..., 3]) / 2
    centers_squared = (_upcast(x_p.unsqueeze(-1) - x_g.unsqueeze(-2)) ** 2
                       + _upcast(y_p.unsqueeze(-1) - y_g.unsqueeze(-2)) ** 2)
    return iou - centers_squared / diagonal_squared, iou


def _float(t):
    return t if t._data.dtype.kind == "f" and t.dtype != ember.float16 else t.float()


def distance_box_iou(boxes1, boxes2, eps=1e-7):
    """Pairwise distance IoU ``(..., N, M)`` of xyxy boxes: ``IoU − ρ² / (c² + eps)``, ``ρ``
    the distance between the centres and ``c`` the diagonal of the enclosing box."""
    boxes1, boxes2 = _pair("distance_box_iou", boxes1, boxes2)
    return _box_diou_iou(_float(boxes1), _float(boxes2), eps)[0]


def complete_box_iou(boxes1, boxes2, eps=1e-7):
    """Pairwise complete IoU ``(..., N, M)`` of xyxy boxes: ``DIoU − α v`` with the aspect
    term ``v = 4/π² (atan(w1/h1) − atan(w2/h2))²`` and ``α = v / (1 − IoU + v + eps)``,
    ``α`` treated as a constant (no gradient flows through it, as in torchvision)."""
    boxes1, boxes2 = _pair("complete_box_iou", boxes1, boxes2)
    boxes1, boxes2 = _float(boxes1), _float(boxes2)
    diou, iou = _box_diou_iou(boxes1, boxes2, eps)
    w_pred = (boxes1[..., 2] - boxes1[..., 0]).unsqueeze(-1)
    h_pred = (boxes1[..., 3] - boxes1[..., 1]).unsqueeze(-1)
    w_gt = (boxes2[..., 2] - boxes2[..., 0]).unsqueeze(-2)
    h_gt = (boxes2[..., 3] - boxes2[..., 1]).unsqueeze(-2)
    v = (4 / math.pi ** 2) * (ember.atan(w_pred / h_pred) - ember.atan(w_gt / h_gt)) ** 2
    with ember.no_grad():
        alpha = v / (1 - iou + v + eps)
    return diou - alpha * v


def clip_boxes_to_image(boxes, size):
    """xyxy boxes ``(..., 4)`` clipped to an image of ``size = (height, width)``: x into
    ``[0, width]``, y into ``[0, height]``."""
    boxes = _boxes(boxes, "clip_boxes_to_image")
    height, width = size
    x = boxes[..., 0::2].clamp(min=0, max=width)
    y = boxes[..., 1::2].clamp(min=0, max=height)
    return ember.stack((x, y), dim=-1).reshape(boxes.shape)


def remove_small_boxes(boxes, min_size):
    """Indices (int64 ``(K,)``) of the xyxy boxes ``(N, 4)`` whose width and height are both at
    least ``min_size``."""
    boxes = _boxes(boxes, "remove_small_boxes")
    b = boxes._data
    keep = ((b[..., 2] - b[..., 0]) >= min_size) & ((b[..., 3] - b[..., 1]) >= min_size)
    return ember.from_numpy(np.flatnonzero(keep).astype(np.int64))


def masks_to_boxes(masks):
    """The tight xyxy boxes ``(N, 4)`` float32 around masks ``(N, H, W)`` (any non-zero pixel
    counts), with torchvision's convention that ``x2``/``y2`` are the *last* column/row of the
    mask (inclusive, so a one-pixel mask gives ``x1 == x2``); an empty mask gives
    ``[0, 0, 0, 0]``."""
    if not isinstance(masks, Tensor):
        raise TypeError(f"masks_to_boxes: masks must be a Tensor (N, H, W), got "
                        f"{type(masks).__name__}")
    if masks.ndim != 3:
        raise ValueError(f"masks_to_boxes: expected masks of shape (N, H, W), got shape "
                         f"{tuple(masks.shape)}")
    m = masks._data != 0
    if m.size == 0:
        return ember.zeros((0, 4))
    n, h, w = m.shape
    rows, cols = m.any(2), m.any(1)
    y1 = rows.argmax(1)
    x1 = cols.argmax(1)
    y2 = (h - 1) - rows[:, ::-1].argmax(1)
    x2 = (w - 1) - cols[:, ::-1].argmax(1)
    boxes = np.stack([x1, y1, x2, y2], axis=1).astype(np.float32)
    boxes[~rows.any(1)] = 0
    return ember.from_numpy(boxes)
