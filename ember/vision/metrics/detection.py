"""Detection metrics: precision/recall curves, average precision (VOC all-point and 11-point,
COCO 101-point), and the COCO evaluation (mAP@[.5:.95], mAP@.5, mAP@.75, by object size, and
average recall), for boxes and for instance masks.

Lecture 003 (「Precision / Recall」, inventory C16): a detection is *true* when it overlaps an
object enough (IoU, inventory C15); ``precision = true detections / detections`` and
``recall = true detections / objects``. Ranking the detections by score and lowering the
threshold one detection at a time traces the precision/recall curve; its area is the average
precision (AP), and the mean over classes the mAP. The lecture leaves the IoU threshold and
the interpolation open (⚠ C16); Ember implements the two standard choices:

- **Pascal VOC** (``voc_evaluate``): IoU > 0.5; each detection, in decreasing score order,
  is true if its best-overlapping object was not found before (``difficult`` objects count
  neither way). AP is the area under the precision *envelope* (``p(r) = max p(r' >= r)``) at
  every recall the curve reaches ("all points", VOC 2010+) or the mean of the envelope at the
  11 recalls 0, 0.1, ..., 1 (VOC 2007). Boxes are continuous (no ``+1`` pixel of the old
  devkit).
- **COCO** (``MeanAveragePrecision``): IoU thresholds 0.50:0.05:0.95; per image and class the
  detections (at most 100, by score) are matched greedily to the best still-free object with
  IoU >= the threshold, crowd and out-of-size-range objects being "ignored" (matching them
  neither helps nor hurts); AP is the envelope at the 101 recalls 0:0.01:1; the summary is
  pycocotools' twelve numbers. The tests compare all of them with ``pycocotools`` on the same
  detections.

The COCO matching is sequential in the detections of one image and class, so it runs as a loop
over the detection rank (at most ``max_detection_thresholds[-1]`` steps), each step matching
the rank-``d`` detection of every (image, class) pair, at every IoU threshold and size range
at once.
"""
import numpy as np

__all__ = ["precision_recall_curve", "average_precision", "match_detections", "voc_evaluate",
           "MeanAveragePrecision", "box_iou_matrix", "mask_iou_matrix", "format_coco_summary",
           "COCO_IOU_THRESHOLDS", "COCO_RECALL_THRESHOLDS", "COCO_AREA_RANGES"]

# pycocotools' parameters, computed as it computes them (the floats must be the same)
COCO_IOU_THRESHOLDS = np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)
COCO_RECALL_THRESHOLDS = np.linspace(.0, 1.00, int(np.round((1.00 - .0) / .01)) + 1,
                                     endpoint=True)
COCO_AREA_RANGES = {"all": (0.0, 1e5 ** 2), "small": (0.0, 32.0 ** 2),
                    "medium": (32.0 ** 2, 96.0 ** 2), "large": (96.0 ** 2, 1e5 ** 2)}


def _numpy(x):
    if x is None:
        return None
    return x._data if hasattr(x, "_data") and not isinstance(x, np.ndarray) else np.asarray(x)


# ---------------------------------------------------------------------- curves and AP
def precision_recall_curve(scores, true_positive, num_objects, ignored=None):
    """The precision/recall curve of ranked detections (lecture 003, inventory C16).

    Args:
        scores: ``(D,)`` detection scores; detections are ranked by decreasing score (ties
            keep their order).
        true_positive: ``(D,)`` bool, whether each detection found an object.
        num_objects: the number of objects to find (the recall's denominator).
        ignored: optional ``(D,)`` bool, detections that count neither way.

    Returns ``(precision, recall, thresholds)``, each ``(D',)`` over the non-ignored
    detections in rank order: after the ``i``-th, ``precision[i] = TP_i / (i + 1)`` and
    ``recall[i] = TP_i / num_objects``, at score ``thresholds[i]``.
    """
    scores = np.asarray(_numpy(scores), np.float64).reshape(-1)
    true_positive = np.asarray(_numpy(true_positive), bool).reshape(-1)
    if len(scores) != len(true_positive):
        raise ValueError(f"precision_recall_curve: {len(scores)} scores but "
                         f"{len(true_positive)} true_positive flags")
    if num_objects < 0:
        raise ValueError(f"precision_recall_curve: num_objects must be >= 0, got {num_objects}")
    order = np.argsort(-scores, kind="stable")
    keep = order if ignored is None else order[~np.asarray(ignored, bool).reshape(-1)[order]]
    tp = np.cumsum(true_positive[keep]).astype(np.float64)
    fp = np.cumsum(~true_positive[keep]).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = tp / num_objects if num_objects else np.zeros_like(tp)
        precision = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    return precision, recall, scores[keep]


def average_precision(precision, recall, method="all_points"):
    """The area under a precision/recall curve (points in rank order, recall non-decreasing).

    ``method``:

    - ``"all_points"`` (Pascal VOC 2010+): ``Σ (r_i − r_{i−1}) p̂(r_i)`` over the recalls the
      curve reaches, with the envelope ``p̂(r) = max_{r' >= r} p(r')``;
    - ``"11_points"`` (VOC 2007): the mean of ``p̂`` at ``r = 0, 0.1, ..., 1`` (0 beyond the
      curve's last recall);
    - ``"101_points"`` (COCO): the mean of ``p̂`` at ``r = 0, 0.01, ..., 1``, each read at
      the first point reaching that recall.
    """
    precision = np.asarray(_numpy(precision), np.float64).reshape(-1)
    recall = np.asarray(_numpy(recall), np.float64).reshape(-1)
    if precision.shape != recall.shape:
        raise ValueError(f"average_precision: precision {precision.shape} and recall "
                         f"{recall.shape} must have the same length")
    if len(recall) > 1 and np.any(np.diff(recall) < 0):
        raise ValueError("average_precision: recall must be non-decreasing (points in rank "
                         "order)")
    if method == "all_points":
        r = np.concatenate([[0.0], recall, [1.0]])
        p = np.concatenate([[0.0], precision, [0.0]])
        p = np.maximum.accumulate(p[::-1])[::-1]
        step = np.flatnonzero(r[1:] != r[:-1])
        return float(np.sum((r[step + 1] - r[step]) * p[step + 1]))
    if method == "11_points":
        envelope = np.maximum.accumulate(precision[::-1])[::-1] if len(precision) else precision
        values = []
        for t in np.linspace(0, 1, 11):
            reached = np.flatnonzero(recall >= t)
            values.append(envelope[reached[0]] if len(reached) else 0.0)
        return float(np.mean(values))
    if method == "101_points":
        return float(np.mean(_coco_interpolated(precision, recall, COCO_RECALL_THRESHOLDS)))
    raise ValueError(f"average_precision: method must be 'all_points', '11_points' or "
                     f"'101_points', got {method!r}")


def _coco_interpolated(precision, recall, thresholds):
    """pycocotools' interpolation: the envelope read at the first point whose recall reaches
    each threshold, 0 where none does."""
    out = np.zeros(len(thresholds))
    if len(precision):
        envelope = np.maximum.accumulate(precision[::-1])[::-1]
        index = np.searchsorted(recall, thresholds, side="left")
        reached = index < len(precision)
        out[reached] = envelope[index[reached]]
    return out


# ------------------------------------------------------------------------------- IoU
def box_iou_matrix(detections, objects, crowd=None):
    """IoU ``(D, G)`` float64 of xyxy boxes ``(D, 4)`` and ``(G, 4)``, computed as
    pycocotools does (boxes as ``x, y, w, h`` in float64, right edge ``x + w``); against a
    crowd object the union is the detection's own area."""
    d = np.asarray(detections, np.float64).reshape(-1, 4)
    g = np.asarray(objects, np.float64).reshape(-1, 4)
    dw, dh = d[:, 2] - d[:, 0], d[:, 3] - d[:, 1]
    gw, gh = g[:, 2] - g[:, 0], g[:, 3] - g[:, 1]
    w = np.minimum((d[:, 0] + dw)[:, None], (g[:, 0] + gw)[None]) - np.maximum(d[:, None, 0],
                                                                             g[None, :, 0])
    h = np.minimum((d[:, 1] + dh)[:, None], (g[:, 1] + gh)[None]) - np.maximum(d[:, None, 1],
                                                                             g[None, :, 1])
    inter = np.where((w > 0) & (h > 0), w * h, 0.0)
    union = (dw * dh)[:, None] + (gw * gh)[None] - inter
    if crowd is not None:
        union = np.where(np.asarray(crowd, bool)[None], (dw * dh)[:, None], union)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(inter > 0, inter / union, 0.0)


def mask_iou_matrix(detections, objects, crowd=None):
    """IoU ``(D, G)`` of binary masks ``(D, H, W)`` and ``(G, H, W)`` (pixel counts; against
    a crowd object the union is the detection's area, as pycocotools)."""
    d = np.asarray(detections, bool)
    g = np.asarray(objects, bool)
    d = d.reshape(len(d), int(np.prod(d.shape[1:]))).astype(np.float64)
    g = g.reshape(len(g), int(np.prod(g.shape[1:]))).astype(np.float64)
    inter = d @ g.T
    area_d, area_g = d.sum(1), g.sum(1)
    union = area_d[:, None] + area_g[None] - inter
    if crowd is not None:
        union = np.where(np.asarray(crowd, bool)[None], area_d[:, None], union)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


# ------------------------------------------------------------------------ per-image data
def _check_boxes(boxes, what, fname):
    boxes = np.asarray(boxes, np.float64)
    if boxes.size == 0:
        return boxes.reshape(0, 4)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"{fname}: {what} boxes must have shape (N, 4), got {boxes.shape}")
    if not np.isfinite(boxes).all():
        raise ValueError(f"{fname}: {what} boxes contain NaN or infinite coordinates")
    bad = np.flatnonzero((boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1]))
    if len(bad):
        raise ValueError(f"{fname}: {what} box {bad[0]} {boxes[bad[0]].tolist()} has x2 < x1 or "
                         f"y2 < y1 (boxes are (x1, y1, x2, y2))")
    return boxes


def _image_entry(pred, target, iou_type, fname):
    """One image's predictions and objects as NumPy arrays, checked."""
    for name, d, keys in (("prediction", pred, ("boxes", "scores", "labels")),
                          ("target", target, ("boxes", "labels"))):
        if not isinstance(d, dict):
            raise TypeError(f"{fname}: each {name} must be a dict, got {type(d).__name__}")
        need = keys + (("masks",) if iou_type == "segm" else ())
        missing = [k for k in need if k not in d]
        if missing:
            raise KeyError(f"{fname}: a {name} lacks {', '.join(missing)} (has "
                           f"{', '.join(d) or 'nothing'})")
    det = {"boxes": _check_boxes(_numpy(pred["boxes"]), "predicted", fname),
           "scores": np.asarray(_numpy(pred["scores"]), np.float64).reshape(-1),
           "labels": np.asarray(_numpy(pred["labels"]), np.int64).reshape(-1)}
    obj = {"boxes": _check_boxes(_numpy(target["boxes"]), "target", fname),
           "labels": np.asarray(_numpy(target["labels"]), np.int64).reshape(-1)}
    n_det, n_obj = len(det["boxes"]), len(obj["boxes"])
    if len(det["scores"]) != n_det or len(det["labels"]) != n_det:
        raise ValueError(f"{fname}: a prediction has {n_det} boxes, {len(det['scores'])} scores "
                         f"and {len(det['labels'])} labels")
    if len(obj["labels"]) != n_obj:
        raise ValueError(f"{fname}: a target has {n_obj} boxes and {len(obj['labels'])} labels")
    crowd = target.get("iscrowd")
    obj["crowd"] = (np.zeros(n_obj, bool) if crowd is None
                    else np.asarray(_numpy(crowd)).reshape(-1).astype(bool))
    if iou_type == "segm":
        det["masks"] = _binary_masks(pred["masks"], n_det, "predicted", fname)
        obj["masks"] = _binary_masks(target["masks"], n_obj, "target", fname)
        if det["masks"].shape[1:] != obj["masks"].shape[1:] and n_det and n_obj:
            raise ValueError(f"{fname}: predicted masks {det['masks'].shape[1:]} and target "
                             f"masks {obj['masks'].shape[1:]} differ in size")
        det["area"] = det["masks"].sum((1, 2)).astype(np.float64)
        own_area = obj["masks"].sum((1, 2)).astype(np.float64)
    else:
        b = det["boxes"]
        det["area"] = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
        b = obj["boxes"]
        own_area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    area = target.get("area")
    obj["area"] = own_area if area is None else np.asarray(_numpy(area), np.float64).reshape(-1)
    return det, obj


def _binary_masks(masks, n, what, fname):
    """``(n, H, W)`` bool from bool/0-1 masks or probabilities (``> 0.5``), also accepting
    torchvision's ``(n, 1, H, W)``."""
    m = np.asarray(_numpy(masks))
    if m.ndim == 4 and m.shape[1] == 1:
        m = m[:, 0]
    if m.ndim != 3 or len(m) != n:
        raise ValueError(f"{fname}: {what} masks must have shape ({n}, H, W), got {m.shape}")
    return m > 0.5 if m.dtype.kind == "f" else m.astype(bool)


# ------------------------------------------------------------------------------ VOC
def match_detections(boxes, scores, objects, iou_threshold=0.5, difficult=None):
    """Pascal VOC's matching of one image's detections to its objects (of one class).

    In decreasing score order, a detection's candidate is the object it overlaps most; it is
    a true positive when that IoU is ``> iou_threshold`` and the object was not found by a
    better detection (later ones are false positives), and ignored when the object is
    ``difficult``. Returns ``(matched, ignored)``: ``(D,)`` int64 the object index of each
    true positive (-1 otherwise) and ``(D,)`` bool.
    """
    boxes = np.asarray(_numpy(boxes), np.float64).reshape(-1, 4)
    scores = np.asarray(_numpy(scores), np.float64).reshape(-1)
    objects = np.asarray(_numpy(objects), np.float64).reshape(-1, 4)
    matched = np.full(len(boxes), -1, np.int64)
    ignored = np.zeros(len(boxes), bool)
    if not len(boxes) or not len(objects):
        return matched, ignored
    difficult = (np.zeros(len(objects), bool) if difficult is None
                 else np.asarray(_numpy(difficult), bool).reshape(-1))
    iou = box_iou_matrix(boxes, objects)
    best, top = iou.argmax(1), iou.max(1)
    hit = top > iou_threshold
    ignored = hit & difficult[best]
    order = np.argsort(-scores, kind="stable")
    # an object counts once: the best-scored detection hitting it is the true positive
    candidates = order[(hit & ~ignored)[order]]
    _, first = np.unique(best[candidates], return_index=True)
    matched[candidates[first]] = best[candidates[first]]
    return matched, ignored


def voc_evaluate(predictions, targets, iou_threshold=0.5, method="all_points"):
    """Pascal VOC average precision per class and its mean (see the module docstring).

    Args:
        predictions: per image a dict ``{"boxes": (D, 4) xyxy, "scores": (D,), "labels":
            (D,)}`` (NumPy arrays or Tensors).
        targets: per image ``{"boxes": (G, 4), "labels": (G,)}``, optionally ``"difficult"``
            ``(G,)`` bool.
        iou_threshold: a detection is true when its IoU with its best object is ``>`` this.
        method: ``"all_points"`` or ``"11_points"`` (``average_precision``).

    Returns ``{"map": float, "ap": {class: AP}, "precision": {class: array}, "recall":
    {class: array}}`` over the classes that have objects.
    """
    fname = "voc_evaluate"
    if len(predictions) != len(targets):
        raise ValueError(f"{fname}: {len(predictions)} predictions for {len(targets)} targets")
    rows = []
    for pred, target in zip(predictions, targets):
        det, obj = _image_entry(pred, target, "bbox", fname)
        difficult = target.get("difficult")
        obj["difficult"] = (np.zeros(len(obj["boxes"]), bool) if difficult is None
                            else np.asarray(_numpy(difficult)).reshape(-1).astype(bool))
        rows.append((det, obj))
    classes = sorted(set(np.concatenate([o["labels"] for _, o in rows] + [np.zeros(0, int)])
                         .tolist()))
    result = {"ap": {}, "precision": {}, "recall": {}}
    for c in classes:
        scores, hits, ignored, num_objects = [], [], [], 0
        for det, obj in rows:
            own = obj["labels"] == c
            num_objects += int((own & ~obj["difficult"]).sum())
            mine = det["labels"] == c
            matched, skip = match_detections(det["boxes"][mine], det["scores"][mine],
                                             obj["boxes"][own], iou_threshold,
                                             obj["difficult"][own])
            scores.append(det["scores"][mine])
            hits.append(matched >= 0)
            ignored.append(skip)
        precision, recall, _ = precision_recall_curve(np.concatenate(scores),
                                                      np.concatenate(hits), num_objects,
                                                      np.concatenate(ignored))
        result["ap"][c] = average_precision(precision, recall, method) if num_objects else 0.0
        result["precision"][c], result["recall"][c] = precision, recall
    result["map"] = float(np.mean(list(result["ap"].values()))) if classes else float("nan")
    return result


# ----------------------------------------------------------------------------- COCO
class MeanAveragePrecision:
    """COCO evaluation, streamed over batches: ``update(preds, targets)``, ``compute()``.

    Args:
        iou_type: ``"bbox"`` (boxes) or ``"segm"`` (instance masks; predicted ``masks`` are
            probabilities thresholded at 0.5, or binary).
        iou_thresholds: default 0.50:0.05:0.95.
        rec_thresholds: default 0:0.01:1.
        max_detection_thresholds: detections per image and class counted, default
            ``(1, 10, 100)``.
        class_metrics: also return AP and AR@100 per class.

    ``update`` takes lists (one entry per image) of predictions ``{"boxes": (D, 4) xyxy,
    "scores": (D,), "labels": (D,)[, "masks": (D, [1,] H, W)]}`` and targets ``{"boxes":
    (G, 4), "labels": (G,)[, "masks": (G, H, W), "iscrowd": (G,), "area": (G,)]}`` as
    torchvision's detectors and datasets give them (Tensors or NumPy arrays). An object's area
    (for the size ranges) is ``area`` if given, else its mask's pixel count (segm) or its box
    area. ``compute()`` returns pycocotools' summary as a dict: ``map`` (AP@[.5:.95]),
    ``map_50``, ``map_75``, ``map_small/medium/large``, ``mar_1``, ``mar_10``, ``mar_100``,
    ``mar_small/medium/large``, plus ``map_per_class``, ``mar_100_per_class`` and
    ``classes`` with ``class_metrics``. A value with nothing to measure is -1 (as
    pycocotools). ``precision`` and ``recall`` (pycocotools' ``eval`` arrays) are kept on the
    object after ``compute``.
    """

    def __init__(self, iou_type="bbox", iou_thresholds=None, rec_thresholds=None,
                 max_detection_thresholds=(1, 10, 100), class_metrics=False):
        if iou_type not in ("bbox", "segm"):
            raise ValueError(f"MeanAveragePrecision: iou_type must be 'bbox' or 'segm', got "
                             f"{iou_type!r}")
        self.iou_type = iou_type
        self.iou_thresholds = (COCO_IOU_THRESHOLDS if iou_thresholds is None
                               else np.asarray(iou_thresholds, np.float64))
        self.rec_thresholds = (COCO_RECALL_THRESHOLDS if rec_thresholds is None
                               else np.asarray(rec_thresholds, np.float64))
        self.max_detection_thresholds = tuple(int(m) for m in max_detection_thresholds)
        if sorted(self.max_detection_thresholds) != list(self.max_detection_thresholds):
            raise ValueError(f"MeanAveragePrecision: max_detection_thresholds must increase, "
                             f"got {max_detection_thresholds}")
        self.class_metrics = class_metrics
        self.images = []

    def update(self, preds, targets):
        """Add a batch: lists of per-image prediction and target dicts."""
        preds, targets = list(preds), list(targets)
        if len(preds) != len(targets):
            raise ValueError(f"MeanAveragePrecision: {len(preds)} predictions for "
                             f"{len(targets)} targets")
        for pred, target in zip(preds, targets):
            self.images.append(_image_entry(pred, target, self.iou_type, "MeanAveragePrecision"))

    # ------------------------------------------------------------------------ matching
    def _pairs(self):
        """Every (image, class) pair with detections or objects: its detections (best first,
        at most max_detection_thresholds[-1]), its objects and their IoU."""
        most = self.max_detection_thresholds[-1]
        pairs = []
        for image, (det, obj) in enumerate(self.images):
            for c in np.union1d(det["labels"], obj["labels"]):
                d_idx = np.flatnonzero(det["labels"] == c)
                d_idx = d_idx[np.argsort(-det["scores"][d_idx], kind="stable")][:most]
                g_idx = np.flatnonzero(obj["labels"] == c)
                crowd = obj["crowd"][g_idx]
                if self.iou_type == "segm":
                    iou = mask_iou_matrix(det["masks"][d_idx], obj["masks"][g_idx], crowd)
                else:
                    iou = box_iou_matrix(det["boxes"][d_idx], obj["boxes"][g_idx], crowd)
                pairs.append((image, int(c), det["scores"][d_idx], det["area"][d_idx], iou,
                              obj["area"][g_idx], crowd))
        return pairs

    def _match(self, pairs):
        """pycocotools' ``evaluateImg`` for every pair, area range and IoU threshold: returns
        per pair ``(matched (A, T, D), ignored (A, T, D), object ignored (A, G))``."""
        ranges = np.array(list(COCO_AREA_RANGES.values()))
        thresholds = np.minimum(self.iou_thresholds, 1 - 1e-10)
        num_p, num_a, num_t = len(pairs), len(ranges), len(thresholds)
        most_d = max((len(p[2]) for p in pairs), default=0)
        most_g = max((len(p[5]) for p in pairs), default=0)
        iou = np.full((num_p, most_d, most_g), -1.0)
        g_valid = np.zeros((num_p, most_g), bool)
        crowd = np.zeros((num_p, most_g), bool)
        g_area = np.zeros((num_p, most_g))
        d_area = np.zeros((num_p, most_d))
        count_d = np.array([len(p[2]) for p in pairs], np.int64)
        for i, (_, _, _, area_d, pair_iou, area_g, pair_crowd) in enumerate(pairs):
            d, g = pair_iou.shape
            iou[i, :d, :g] = pair_iou
            g_valid[i, :g] = True
            crowd[i, :g] = pair_crowd
            g_area[i, :g] = area_g
            d_area[i, :d] = area_d
        # objects ignored in each size range (crowds always): (P, A, G)
        g_ignored = (crowd[:, None] | (g_area[:, None] < ranges[None, :, :1])
                     | (g_area[:, None] > ranges[None, :, 1:]))
        taken = np.zeros((num_p, num_a, num_t, most_g), bool)
        matched = np.zeros((num_p, num_a, num_t, most_d), bool)
        ignored = np.zeros((num_p, num_a, num_t, most_d), bool)
        for d in range(most_d):
            active = np.flatnonzero(count_d > d)
            overlap = iou[active, d][:, None, None, :]                     # (p, 1, 1, G)
            free = (~taken[active] | crowd[active][:, None, None]) & g_valid[active][:, None, None]
            ok = free & (overlap >= thresholds[None, None, :, None])       # (p, A, T, G)
            ig = g_ignored[active][:, :, None, :]
            best = np.full(ok.shape[:3], -1)
            # a regular object is preferred to an ignored one; among equal IoUs the last wins
            for group in (ig, ~ig):
                cand = ok & group
                score = np.where(cand, overlap, -np.inf)
                last = most_g - 1 - np.argmax(score[..., ::-1], -1)
                found = cand.any(-1)
                best = np.where(found, last, best)
            hit = best >= 0
            p_idx, a_idx, t_idx = np.nonzero(hit)
            g_idx = best[hit]
            taken[active[p_idx], a_idx, t_idx, g_idx] = True
            matched[active, :, :, d] = hit
            ignored[active[p_idx], a_idx, t_idx, d] = g_ignored[active[p_idx], a_idx, g_idx]
        # unmatched detections outside the size range are ignored too
        outside = (d_area[:, None] < ranges[None, :, :1]) | (d_area[:, None] > ranges[None, :, 1:])
        ignored |= ~matched & outside[:, :, None, :]
        return matched, ignored, g_ignored, g_valid

    def compute(self):
        """pycocotools' ``evaluate``, ``accumulate`` and ``summarize``, as a dict (see the
        class docstring)."""
        pairs = self._pairs()
        classes = sorted({c for _, c, *_ in pairs})
        num_t, num_r = len(self.iou_thresholds), len(self.rec_thresholds)
        num_k, num_a = len(classes), len(COCO_AREA_RANGES)
        num_m = len(self.max_detection_thresholds)
        precision = -np.ones((num_t, num_r, num_k, num_a, num_m))
        recall = -np.ones((num_t, num_k, num_a, num_m))
        if pairs:
            matched, ignored, g_ignored, g_valid = self._match(pairs)
            class_of = np.array([c for _, c, *_ in pairs])
            for k, c in enumerate(classes):
                members = np.flatnonzero(class_of == c)            # in image order
                counts = [len(pairs[p][2]) for p in members]
                for a in range(num_a):
                    num_objects = int((~g_ignored[members, a] & g_valid[members]).sum())
                    if num_objects == 0:
                        continue
                    for m, most in enumerate(self.max_detection_thresholds):
                        sel = [(p, min(n, most)) for p, n in zip(members, counts)]
                        scores = np.concatenate([pairs[p][2][:n] for p, n in sel] + [np.zeros(0)])
                        tm = np.concatenate([matched[p, a, :, :n] for p, n in sel]
                                            + [np.zeros((num_t, 0), bool)], 1)
                        ti = np.concatenate([ignored[p, a, :, :n] for p, n in sel]
                                            + [np.zeros((num_t, 0), bool)], 1)
                        order = np.argsort(-scores, kind="mergesort")
                        tm, ti = tm[:, order], ti[:, order]
                        tp = np.cumsum(tm & ~ti, 1).astype(np.float64)
                        fp = np.cumsum(~tm & ~ti, 1).astype(np.float64)
                        for t in range(num_t):
                            rc = tp[t] / num_objects
                            pr = tp[t] / (fp[t] + tp[t] + np.spacing(1))
                            recall[t, k, a, m] = rc[-1] if len(rc) else 0
                            precision[t, :, k, a, m] = _coco_interpolated(pr, rc,
                                                                          self.rec_thresholds)
        self.precision, self.recall, self.classes = precision, recall, classes
        return self._summary()

    def _summary(self):
        p, r = self.precision, self.recall
        labels = list(COCO_AREA_RANGES)
        maxdets = self.max_detection_thresholds

        def mean(values):
            values = values[values > -1]
            return float(values.mean()) if values.size else -1.0

        def ap(iou=None, area="all", most=maxdets[-1]):
            s = p[..., labels.index(area), maxdets.index(most)]
            if iou is not None:
                s = s[np.flatnonzero(iou == self.iou_thresholds)]
            return mean(s)

        def ar(area="all", most=maxdets[-1]):
            return mean(r[..., labels.index(area), maxdets.index(most)])

        out = {"map": ap(), "map_50": ap(.5), "map_75": ap(.75), "map_small": ap(area="small"),
               "map_medium": ap(area="medium"), "map_large": ap(area="large")}
        for most in maxdets:
            out[f"mar_{most}"] = ar(most=most)
        out.update(mar_small=ar("small"), mar_medium=ar("medium"), mar_large=ar("large"))
        if self.class_metrics:
            out["classes"] = list(self.classes)
            out["map_per_class"] = [mean(p[:, :, k, 0, -1]) for k in range(len(self.classes))]
            out[f"mar_{maxdets[-1]}_per_class"] = [mean(r[:, k, 0, -1])
                                                   for k in range(len(self.classes))]
        return out


def format_coco_summary(summary, iou_type="bbox"):
    """pycocotools' twelve-line summary table of a ``MeanAveragePrecision.compute()`` dict."""
    most = [int(k.split("_")[1]) for k in summary if k.startswith("mar_") and k[4:].isdigit()]
    top = max(most) if most else 100
    rows = [("Precision", "AP", "0.50:0.95", "all", top, "map"),
            ("Precision", "AP", "0.50", "all", top, "map_50"),
            ("Precision", "AP", "0.75", "all", top, "map_75"),
            ("Precision", "AP", "0.50:0.95", "small", top, "map_small"),
            ("Precision", "AP", "0.50:0.95", "medium", top, "map_medium"),
            ("Precision", "AP", "0.50:0.95", "large", top, "map_large")]
    rows += [("Recall", "AR", "0.50:0.95", "all", m, f"mar_{m}") for m in sorted(most)]
    rows += [("Recall", "AR", "0.50:0.95", size, top, f"mar_{size}")
             for size in ("small", "medium", "large")]
    lines = [f"IoU metric: {iou_type}"]
    for title, short, iou, area, dets, key in rows:
        lines.append(f" {'Average ' + title:<18} ({short}) @[ IoU={iou:<9} | area={area:>6s} | "
                     f"maxDets={dets:>3d} ] = {summary[key]:0.3f}")
    return "\n".join(lines)
