"""Detection metrics: the COCO evaluation equals pycocotools (boxes and masks, crowds, size
ranges, detection limits), VOC AP equals a transcription of the devkit, and the lectures'
precision and recall (inventory C15, C16)."""
import contextlib
import io

import numpy as np
import pytest

import ember
from ember.vision.metrics import (MeanAveragePrecision, average_precision, format_coco_summary,
                                  precision_recall_curve, voc_evaluate)


def _scenes(seed, images=12, classes=3, size=120, masks=False):
    """Random objects and detections: jittered copies of the objects (some of the wrong
    class), false alarms, repeated scores, a few crowd objects and explicit areas."""
    rng = np.random.default_rng(seed)
    preds, targets = [], []
    for _ in range(images):
        g = int(rng.integers(0, 6))
        wh = rng.uniform(4, 0.55 * size, (g, 2))
        xy = rng.uniform(0, size - wh)
        gt = np.concatenate([xy, xy + wh], 1)
        labels = rng.integers(1, classes + 1, g)
        target = {"boxes": gt, "labels": labels, "iscrowd": (rng.random(g) < 0.1).astype(np.int64)}
        copies = gt[rng.random(g) < 0.8]
        copies = np.concatenate([copies, copies[: len(copies) // 2]])
        det = copies + rng.normal(0, 4, copies.shape)
        extra = int(rng.integers(0, 5))
        wh = rng.uniform(4, 0.5 * size, (extra, 2))
        xy = rng.uniform(0, size - wh)
        det = np.concatenate([det, np.concatenate([xy, xy + wh], 1)])
        det[:, 2:] = np.maximum(det[:, 2:], det[:, :2] + 1)
        det_labels = np.concatenate([labels[: len(copies)] if len(copies) <= g else
                                     np.resize(labels, len(copies)),
                                     rng.integers(1, classes + 1, extra)])[: len(det)]
        det_labels = np.where(rng.random(len(det)) < 0.1, rng.integers(1, classes + 1, len(det)),
                              det_labels)
        scores = np.round(rng.random(len(det)), 1)          # ties on purpose
        pred = {"boxes": det, "scores": scores, "labels": det_labels}
        if masks:
            pred["masks"] = _box_masks(det, size, rng)
            target["masks"] = _box_masks(gt, size, rng)
        else:
            target["area"] = (wh_of(gt) * rng.uniform(0.5, 1.0, g))
        preds.append(pred)
        targets.append(target)
    return preds, targets


def wh_of(boxes):
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def _box_masks(boxes, size, rng):
    """Masks filling each box except random holes."""
    yy, xx = np.mgrid[:size, :size]
    inside = ((xx[None] >= boxes[:, 0, None, None]) & (xx[None] < boxes[:, 2, None, None])
              & (yy[None] >= boxes[:, 1, None, None]) & (yy[None] < boxes[:, 3, None, None]))
    return inside & (rng.random(inside.shape) < 0.9)


def _pycocotools(preds, targets, iou_type, max_dets=(1, 10, 100), printed=None):
    """pycocotools' stats and eval arrays for the same detections."""
    coco_mod = pytest.importorskip("pycocotools.coco")
    from pycocotools import mask as mask_utils
    from pycocotools.cocoeval import COCOeval
    images, annotations, results, categories = [], [], [], set()
    for i, (pred, target) in enumerate(zip(preds, targets), start=1):
        size = target["masks"].shape[1:] if "masks" in target else (120, 120)
        images.append({"id": i, "height": int(size[0]), "width": int(size[1])})
        for j, (box, label) in enumerate(zip(target["boxes"], target["labels"])):
            ann = {"id": len(annotations) + 1, "image_id": i, "category_id": int(label),
                   "bbox": [box[0], box[1], box[2] - box[0], box[3] - box[1]],
                   "iscrowd": int(target["iscrowd"][j])}
            if iou_type == "segm":
                rle = mask_utils.encode(np.asfortranarray(target["masks"][j].astype(np.uint8)))
                ann["segmentation"] = rle
                ann["area"] = float(mask_utils.area(rle))
            else:
                ann["area"] = float(target["area"][j])
            annotations.append(ann)
            categories.add(int(label))
        for j, (box, score, label) in enumerate(zip(pred["boxes"], pred["scores"], pred["labels"])):
            res = {"image_id": i, "category_id": int(label), "score": float(score),
                   "bbox": [box[0], box[1], box[2] - box[0], box[3] - box[1]]}
            if iou_type == "segm":
                res["segmentation"] = mask_utils.encode(np.asfortranarray(
                    pred["masks"][j].astype(np.uint8)))
            results.append(res)
            categories.add(int(label))
    gt = coco_mod.COCO()
    gt.dataset = {"images": images, "annotations": annotations,
                  "categories": [{"id": c} for c in sorted(categories)]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        dt = gt.loadRes(results) if results else coco_mod.COCO()
        evaluator = COCOeval(gt, dt, iou_type)
        evaluator.params.maxDets = list(max_dets)
        evaluator.evaluate()
        evaluator.accumulate()
    printed = io.StringIO() if printed is None else printed
    with contextlib.redirect_stdout(printed):
        evaluator.summarize()
    return evaluator


KEYS = ["map", "map_50", "map_75", "map_small", "map_medium", "map_large"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_box_map_equals_pycocotools(seed):
    preds, targets = _scenes(seed)
    metric = MeanAveragePrecision(class_metrics=True)
    metric.update(preds[:5], targets[:5])             # streamed in two batches
    metric.update(preds[5:], targets[5:])
    got = metric.compute()
    printed = io.StringIO()
    reference = _pycocotools(preds, targets, "bbox", printed=printed)
    # the table ember eval prints is pycocotools' own
    assert format_coco_summary(got).splitlines()[1:] == printed.getvalue().splitlines()
    keys = KEYS + ["mar_1", "mar_10", "mar_100", "mar_small", "mar_medium", "mar_large"]
    assert [got[k] for k in keys] == pytest.approx(list(reference.stats), abs=1e-12)
    assert np.allclose(metric.precision, reference.eval["precision"], atol=1e-12)
    assert np.allclose(metric.recall, reference.eval["recall"], atol=1e-12)
    per_class = reference.eval["precision"][:, :, :, 0, -1]
    for k, value in enumerate(got["map_per_class"]):
        s = per_class[:, :, k]
        assert value == pytest.approx(s[s > -1].mean() if (s > -1).any() else -1)


def test_mask_map_equals_pycocotools():
    preds, targets = _scenes(3, images=8, size=64, masks=True)
    for p in preds:                                    # probabilities as Mask R-CNN gives them
        p["masks"] = p["masks"][:, None] * 0.9 + 0.05
    metric = MeanAveragePrecision(iou_type="segm")
    metric.update(preds, targets)
    got = metric.compute()
    for p in preds:
        p["masks"] = p["masks"][:, 0] > 0.5
    reference = _pycocotools(preds, targets, "segm")
    assert [got[k] for k in KEYS] == pytest.approx(list(reference.stats[:6]), abs=1e-12)
    assert np.allclose(metric.precision, reference.eval["precision"], atol=1e-12)


def test_detection_limits_equal_pycocotools():
    preds, targets = _scenes(4, images=6)
    metric = MeanAveragePrecision(max_detection_thresholds=(1, 2, 5))
    metric.update(preds, targets)
    got = metric.compute()
    reference = _pycocotools(preds, targets, "bbox", max_dets=(1, 2, 5))
    keys = KEYS + ["mar_1", "mar_2", "mar_5", "mar_small", "mar_medium", "mar_large"]
    # pycocotools' first number reads maxDets=100 whatever the limits (-1 here); Ember's "map"
    # uses the largest limit, like the other eleven
    assert [got[k] for k in keys[1:]] == pytest.approx(list(reference.stats[1:]), abs=1e-12)
    s = reference.eval["precision"][..., 0, 2]
    assert reference.stats[0] == -1 and got["map"] == pytest.approx(s[s > -1].mean(), abs=1e-12)
    text = format_coco_summary(got)
    assert "maxDets=  5 ] = " in text and text.count("\n") == 12


def test_map_of_perfect_and_of_empty_detections():
    target = {"boxes": np.array([[0.0, 0, 10, 10], [20, 20, 40, 50]]), "labels": np.array([1, 2])}
    perfect = {"boxes": target["boxes"], "scores": np.array([0.9, 0.8]), "labels": target["labels"]}
    metric = MeanAveragePrecision()
    metric.update([perfect], [target])
    assert metric.compute()["map"] == pytest.approx(1.0)           # tp / (tp + eps), as pycocotools
    metric = MeanAveragePrecision()
    metric.update([{"boxes": np.zeros((0, 4)), "scores": np.zeros(0), "labels": np.zeros(0)}],
                  [target])
    result = metric.compute()
    assert result["map"] == 0.0 and result["map_large"] == -1.0     # no large object: -1


def test_precision_recall_curve_by_hand():
    # inventory C16: five detections of three objects, ranked by score
    scores = [0.9, 0.8, 0.7, 0.6, 0.5]
    hits = [True, False, True, False, True]
    precision, recall, thresholds = precision_recall_curve(scores, hits, 3)
    assert precision.tolist() == pytest.approx([1, 1 / 2, 2 / 3, 2 / 4, 3 / 5])
    assert recall.tolist() == pytest.approx([1 / 3, 1 / 3, 2 / 3, 2 / 3, 1])
    assert thresholds.tolist() == scores
    # all points: envelope 1, 2/3, 3/5 over recall steps of 1/3
    assert average_precision(precision, recall, "all_points") == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)
    # 11 points: 1 for r <= 1/3 (4 points), 2/3 up to 2/3 (3 points), 3/5 to 1 (4 points)
    assert average_precision(precision, recall, "11_points") == pytest.approx(
        (4 * 1 + 3 * 2 / 3 + 4 * 3 / 5) / 11)
    assert average_precision(precision, recall, "101_points") == pytest.approx(
        (34 * 1 + 33 * 2 / 3 + 34 * 3 / 5) / 101)
    with pytest.raises(ValueError, match="method must be"):
        average_precision(precision, recall, "interp")


def _devkit_voc(preds, targets, c, threshold, use_07):
    """The VOC devkit's voc_eval (per class), continuous coordinates: test-only reference."""
    gts = {i: (t["boxes"][t["labels"] == c], t.get("difficult", np.zeros(len(t["labels"]), bool))
               [t["labels"] == c]) for i, t in enumerate(targets)}
    found = {i: np.zeros(len(b), bool) for i, (b, _) in gts.items()}
    npos = sum(int((~d).sum()) for _, d in gts.values())
    dets = [(s, i, b) for i, p in enumerate(preds) for b, s, l in
            zip(p["boxes"], p["scores"], p["labels"]) if l == c]
    order = np.argsort([-s for s, _, _ in dets], kind="stable")
    tp, fp = np.zeros(len(dets)), np.zeros(len(dets))
    for rank, k in enumerate(order):
        _, i, bb = dets[k]
        boxes, difficult = gts[i]
        ovmax = -np.inf
        if len(boxes):
            ixmin, iymin = np.maximum(boxes[:, 0], bb[0]), np.maximum(boxes[:, 1], bb[1])
            ixmax, iymax = np.minimum(boxes[:, 2], bb[2]), np.minimum(boxes[:, 3], bb[3])
            inter = np.maximum(ixmax - ixmin, 0) * np.maximum(iymax - iymin, 0)
            uni = ((bb[2] - bb[0]) * (bb[3] - bb[1]) + (boxes[:, 2] - boxes[:, 0])
                   * (boxes[:, 3] - boxes[:, 1]) - inter)
            overlaps = inter / uni
            ovmax, jmax = overlaps.max(), overlaps.argmax()
        if ovmax > threshold:
            if not difficult[jmax]:
                if not found[i][jmax]:
                    tp[rank], found[i][jmax] = 1, True
                else:
                    fp[rank] = 1
        else:
            fp[rank] = 1
    fp, tp = np.cumsum(fp), np.cumsum(tp)
    rec = tp / npos
    prec = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    if use_07:
        return np.mean([np.max(prec[rec >= t]) if np.sum(rec >= t) else 0
                        for t in np.arange(0.0, 1.1, 0.1)])
    mrec, mpre = np.concatenate(([0.0], rec, [1.0])), np.concatenate(([0.0], prec, [0.0]))
    for i in range(mpre.size - 1, 0, -1):
        mpre[i - 1] = np.maximum(mpre[i - 1], mpre[i])
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1])


@pytest.mark.parametrize("method, use_07", [("all_points", False), ("11_points", True)])
def test_voc_ap_equals_the_devkit(method, use_07):
    preds, targets = _scenes(5, images=15)
    rng = np.random.default_rng(0)
    for t in targets:
        t["difficult"] = rng.random(len(t["labels"])) < 0.15
    result = voc_evaluate(preds, targets, 0.5, method)
    for c, ap in result["ap"].items():
        assert ap == pytest.approx(_devkit_voc(preds, targets, c, 0.5, use_07), abs=1e-12)
    assert result["map"] == pytest.approx(np.mean(list(result["ap"].values())))


def test_metric_errors_are_one_line():
    metric = MeanAveragePrecision()
    good = {"boxes": np.zeros((1, 4)), "labels": np.ones(1)}
    bad = {"boxes": np.array([[5.0, 0, 2, 4]]), "scores": np.ones(1), "labels": np.ones(1)}
    with pytest.raises(ValueError, match=r"predicted box 0 \[5.0, 0.0, 2.0, 4.0\] has x2 < x1"):
        metric.update([bad], [good])
    with pytest.raises(KeyError, match="a prediction lacks scores"):
        metric.update([{"boxes": np.zeros((1, 4)), "labels": np.ones(1)}], [good])
    with pytest.raises(ValueError, match="1 predictions for 2 targets"):
        metric.update([bad], [good, good])
    with pytest.raises(ValueError, match="iou_type must be 'bbox' or 'segm'"):
        MeanAveragePrecision(iou_type="keypoints")
    # Tensors are accepted as well as arrays
    metric.update([{"boxes": ember.zeros(0, 4), "scores": ember.zeros(0),
                    "labels": ember.zeros(0, dtype=ember.int64)}],
                  [{"boxes": ember.tensor([[0.0, 0, 5, 5]]), "labels": ember.tensor([3])}])
    assert metric.compute()["map"] == 0.0


def test_voc_matching_by_hand():
    from ember.vision.metrics import match_detections
    objects = np.array([[0.0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]])
    boxes = np.array([[1.0, 0, 10, 10],     # object 0 (IoU 0.9)
                      [0.0, 0, 10, 9],      # object 0 again, lower score: false positive
                      [20, 20, 30, 24],     # object 1 at IoU 0.4: false positive
                      [40, 40, 50, 50],     # object 2, difficult: ignored
                      [60, 60, 70, 70]])    # nothing
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    matched, ignored = match_detections(boxes, scores, objects, 0.5,
                                        difficult=[False, False, True])
    assert matched.tolist() == [0, -1, -1, -1, -1]
    assert ignored.tolist() == [False, False, False, True, False]
    # the order of the rows does not matter, the scores do
    matched, _ = match_detections(boxes[::-1], scores[::-1], objects, 0.5)
    assert matched.tolist() == [-1, 2, -1, -1, 0]
