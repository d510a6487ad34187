"""Non-maximum suppression (``torchvision.ops.nms`` / ``batched_nms``).

A detector proposes many overlapping boxes for one object; NMS keeps the best of each cluster
(lecture 003 names it, inventory B50, F10, without an algorithm; this is torchvision's):
visit the boxes by decreasing score, keep a box unless a box kept before it overlaps it
with ``IoU > iou_threshold``.

The greedy visit is sequential by definition, but it need not be a Python loop over boxes.
The sorted boxes are taken in blocks of ``_BLOCK``; for each block

1. the boxes kept in earlier blocks suppress members of the block (one IoU matrix, kept x
   block);
2. inside the block, "kept" is the solution of ``keep[i] = candidate[i] and no kept j < i
   overlaps i``, found by repeating that update on the whole block at once (a boolean
   matrix-vector product per round). After round ``t`` the first ``t`` boxes are final, so it
   always ends at the greedy answer; in practice after a handful of rounds, as overlap
   chains are short.

The IoU is computed in the boxes' own dtype with the operations in the order of
torchvision's CPU kernel (``inter / (area_i + area_j − inter)`` with ``i`` the higher-scored
box), so the same pairs pass the threshold. Equal scores are visited in index order (a
stable sort); torchvision leaves that order unspecified.
"""
import numpy as np

import ember
from ember._tensor import Tensor

__all__ = ["nms", "batched_nms"]

_BLOCK = 256


def _check(fname, boxes, scores, idxs=None):
    for name, t in (("boxes", boxes), ("scores", scores)) + ((("idxs", idxs),) if idxs is not None
                                                             else ()):
        if not isinstance(t, Tensor):
            raise TypeError(f"{fname}: {name} must be a Tensor, got {type(t).__name__}")
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"{fname}: expected boxes of shape (N, 4), got {tuple(boxes.shape)}")
    if scores.ndim != 1 or scores.shape[0] != boxes.shape[0]:
        raise ValueError(f"{fname}: expected scores of shape ({boxes.shape[0]},), got "
                         f"{tuple(scores.shape)}")
    if idxs is not None and (idxs.ndim != 1 or idxs.shape[0] != boxes.shape[0]):
        raise ValueError(f"{fname}: expected idxs of shape ({boxes.shape[0]},), got "
                         f"{tuple(idxs.shape)}")
    if boxes._data.dtype.kind != "f":
        raise TypeError(f"{fname}: boxes must be floating point, got {boxes.dtype}")


def _overlaps(a, b, area_a, area_b, threshold):
    """``IoU(a_i, b_j) > threshold`` for boxes ``a`` (P, 4) and ``b`` (Q, 4): (P, Q) bool. The
    IoU is formed in the boxes' dtype in the order of torchvision's kernel and compared in
    float64, as C++ compares a float with a double threshold."""
    w = np.minimum(a[:, None, 2], b[None, :, 2])
    w -= np.maximum(a[:, None, 0], b[None, :, 0])
    h = np.minimum(a[:, None, 3], b[None, :, 3])
    h -= np.maximum(a[:, None, 1], b[None, :, 1])
    np.maximum(w, 0, out=w)
    np.maximum(h, 0, out=h)
    w *= h                                                   # the intersection
    union = area_a[:, None] + area_b[None, :]
    union -= w
    with np.errstate(invalid="ignore", divide="ignore"):
        w /= union
    return w > threshold if w.dtype == np.float64 else w.astype(np.float64) > threshold


def greedy_keep(boxes, scores, iou_threshold, classes=None):
    """The NMS of NumPy ``boxes`` (N, 4) and ``scores`` (N,): indices of the kept boxes in
    decreasing score order (int64). With ``classes`` (N,), boxes of different classes never
    suppress each other: each class is suppressed on its own (a loop over the classes, which
    saves the IoU of every pair of boxes of different classes) and the kept boxes merged."""
    if classes is None:
        return _greedy_keep_one(boxes, scores, iou_threshold)
    kept = [np.flatnonzero(classes == c)[_greedy_keep_one(boxes[classes == c],
                                                          scores[classes == c], iou_threshold)]
            for c in np.unique(classes)]
    kept = np.concatenate(kept) if kept else np.zeros(0, np.int64)
    kept.sort()                                        # index order, then a stable score sort
    return kept[np.argsort(-scores[kept], kind="stable")].astype(np.int64)


def _greedy_keep_one(boxes, scores, iou_threshold):
    order = np.argsort(-scores, kind="stable")
    b = boxes[order]
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    kept = np.zeros(0, dtype=np.int64)                      # positions in the sorted order
    for start in range(0, len(order), _BLOCK):
        block = np.arange(start, min(start + _BLOCK, len(order)))
        if len(kept):                                        # 1. suppressed by earlier blocks
            hit = _overlaps(b[kept], b[block], area[kept], area[block], iou_threshold)
            block = block[~hit.any(0)]
        # 2. greedy inside the block: iterate keep = candidate and not (kept j < i overlapping)
        inside = np.triu(_overlaps(b[block], b[block], area[block], area[block], iou_threshold), 1)
        inside = inside.astype(np.float32)
        keep = np.ones(len(block), dtype=bool)
        while True:
            new = keep.astype(np.float32) @ inside == 0
            if np.array_equal(new, keep):
                break
            keep = new
        kept = np.concatenate([kept, block[keep]])
    return order[kept].astype(np.int64)


def nms(boxes, scores, iou_threshold):
    """Non-maximum suppression: the int64 indices ``(K,)`` of the boxes kept, in decreasing
    order of score.

    Args:
        boxes: ``(N, 4)`` float xyxy boxes (``0 <= x1 < x2``, ``0 <= y1 < y2``).
        scores: ``(N,)`` scores.
        iou_threshold: a box is discarded when its IoU with a kept, higher-scored box is
            ``> iou_threshold``.
    """
    _check("nms", boxes, scores)
    keep = greedy_keep(boxes._data, scores._data, float(iou_threshold))
    return ember.from_numpy(keep)


def batched_nms(boxes, scores, idxs, iou_threshold):
    """NMS within each category: ``idxs`` ``(N,)`` gives each box's category, and boxes of
    different categories never suppress each other. Returns the int64 indices of the kept
    boxes in decreasing order of score (equal scores in index order). torchvision offsets the
    boxes of each category by a large constant for small inputs (which can round IoUs
    differently) and loops over categories for large ones; Ember always loops over the
    categories, one exact path for every size."""
    _check("batched_nms", boxes, scores, idxs)
    keep = greedy_keep(boxes._data, scores._data, float(iou_threshold), idxs._data)
    return ember.from_numpy(keep)
