"""``ember.vision.metrics``: pixel accuracy, per-class / mean / frequency-weighted IoU and the
confusion matrix (lecture 003 「评估语义分割」, inventory C14), against values worked out by
hand and streamed over batches."""
import numpy as np
import pytest

import ember
from ember.vision.metrics import (SegmentationMetrics, class_iou, confusion_matrix,
                                  format_segmentation_report, frequency_weighted_iou, mean_iou,
                                  pixel_accuracy, segmentation_report)

# a 2x4 image with 4 classes: class 3 is in neither the truth nor the prediction, class 2
# only in the prediction, one pixel is ignored (255)
TRUTH = np.array([[[0, 0, 1, 1],
                   [0, 1, 1, 255]]])
PRED = np.array([[[0, 1, 1, 1],
                  [2, 1, 0, 3]]])


def test_c14_hand_computed_example():
    m = confusion_matrix(PRED, TRUTH, 4)
    # rows truth, columns prediction; the ignored pixel (predicted 3) is left out
    np.testing.assert_array_equal(m, [[1, 1, 1, 0], [1, 3, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
    assert pixel_accuracy(m) == pytest.approx(4 / 7)
    # class 0: intersection 1, union 3 + 2 - 1 = 4; class 1: 3 / (4 + 4 - 3) = 3 / 5;
    # class 2: only predicted, 0 / 1; class 3: absent from both -> undefined
    iou = class_iou(m)
    np.testing.assert_allclose(iou[:3], [1 / 4, 3 / 5, 0.0])
    assert np.isnan(iou[3])
    assert mean_iou(m) == pytest.approx((1 / 4 + 3 / 5 + 0.0) / 3)
    # frequencies of the true pixels: 3/7 (class 0) and 4/7 (class 1)
    assert frequency_weighted_iou(m) == pytest.approx(3 / 7 * 1 / 4 + 4 / 7 * 3 / 5)


def test_scores_are_argmaxed_and_tensors_accepted():
    scores = np.zeros((1, 4, 2, 4), np.float32)
    np.put_along_axis(scores, PRED[:, None], 1.0, axis=1)
    expected = confusion_matrix(PRED, TRUTH, 4)
    np.testing.assert_array_equal(confusion_matrix(scores, TRUTH, 4), expected)
    np.testing.assert_array_equal(
        confusion_matrix(ember.from_numpy(scores), ember.from_numpy(TRUTH), 4), expected)


def test_ignore_index_none_counts_every_pixel_and_rejects_out_of_range():
    with pytest.raises(ValueError, match=r"a target label is 255, outside the classes 0\.\.3$"):
        confusion_matrix(PRED, TRUTH, 4, ignore_index=None)
    truth = np.where(TRUTH == 255, 3, TRUTH)
    assert confusion_matrix(PRED, truth, 4, ignore_index=None).sum() == 8


def test_bad_labels_and_shapes_are_one_line_errors():
    with pytest.raises(ValueError, match="a target label is 7, outside the classes 0..3 or the "
                                         "ignore_index 255"):
        confusion_matrix(PRED, np.full_like(TRUTH, 7), 4)
    with pytest.raises(ValueError, match="a prediction label is 3, outside the classes 0..2"):
        confusion_matrix(PRED, np.zeros_like(TRUTH), 3)
    with pytest.raises(ValueError, match=r"expected output of scores \(N, C, \*spatial\) or "
                                         r"labels of the target's shape \(1, 2, 4\)"):
        confusion_matrix(np.zeros((1, 4, 3, 4)), TRUTH, 4)
    with pytest.raises(TypeError, match="target must hold integer class labels"):
        confusion_matrix(PRED, TRUTH.astype(np.float32), 4)
    with pytest.raises(ValueError, match="num_classes must be a positive int"):
        confusion_matrix(PRED, TRUTH, 0)


def test_empty_matrix_gives_nan():
    m = np.zeros((3, 3), np.int64)
    assert np.isnan(pixel_accuracy(m)) and np.isnan(mean_iou(m))
    assert np.isnan(frequency_weighted_iou(m)) and np.isnan(class_iou(m)).all()


def test_streaming_equals_the_direct_computation():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 6, size=(10, 9, 7))
    truth[rng.random(truth.shape) < 0.1] = 255
    truth[truth == 4] = 5                          # class 4 is never true
    scores = rng.normal(size=(10, 6, 9, 7)).astype(np.float32)
    scores[:, 4] -= 10                             # ... and never predicted
    direct = confusion_matrix(scores, truth, 6)
    meter = SegmentationMetrics(6)
    for start in range(0, 10, 3):                  # uneven batches
        meter.update(scores[start:start + 3], truth[start:start + 3])
    np.testing.assert_array_equal(meter.matrix, direct)
    assert meter.compute() == {"pixel_acc": pixel_accuracy(direct), "miou": mean_iou(direct)}
    report = meter.report([f"c{k}" for k in range(6)])
    assert report["iou"][4] is None and report["pixels"][4] == 0
    assert report["pixels"] == direct.sum(1).tolist()
    # the direct definition: mean over classes present, IoU = |P & T| / |P | T| per class
    keep = truth != 255
    predicted = scores.argmax(1)
    ious = []
    for c in range(6):
        p, t = (predicted == c) & keep, (truth == c) & keep
        if (p | t).any():
            ious.append((p & t).sum() / (p | t).sum())
    assert report["mean_iou"] == pytest.approx(np.mean(ious), abs=1e-15)


def test_report_and_its_text():
    report = segmentation_report(confusion_matrix(PRED, TRUTH, 4), ["bg", "a", "b", "c"])
    assert report["classes"] == ["bg", "a", "b", "c"] and report["iou"][3] is None
    text = format_segmentation_report(report)
    assert text.splitlines()[0] == "pixel accuracy: 0.5714"
    assert "mean IoU: 0.2833" in text
    assert text.splitlines()[-1].split() == ["c", "n/a", "0"]
    with pytest.raises(ValueError, match="got 2 class names for 4 classes"):
        segmentation_report(np.zeros((4, 4)), ["a", "b"])
