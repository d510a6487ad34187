"""ember.train.metrics against scikit-learn."""
import numpy as np
import pytest
from sklearn import metrics as skm

import ember
from ember.train import metrics


def _data(n=200, c=7, seed=0):
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(n, c)).astype(np.float32)
    target = rng.integers(0, c, n)
    scores[np.arange(n), target] += rng.normal(1.0, 1.0, n).astype(np.float32)   # better than chance
    return scores, target


def test_accuracy_matches_sklearn_for_scores_labels_and_tensors():
    # inventory C13
    scores, target = _data()
    expected = skm.accuracy_score(target, scores.argmax(1))
    assert 0.2 < expected < 0.9
    assert metrics.accuracy(scores, target) == pytest.approx(expected)
    assert metrics.accuracy(scores.argmax(1), target) == pytest.approx(expected)
    assert metrics.accuracy(ember.from_numpy(scores), ember.from_numpy(target)) == pytest.approx(expected)


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_topk_accuracy_matches_sklearn(k):
    # inventory C13
    scores, target = _data(c=7, seed=k)
    expected = skm.top_k_accuracy_score(target, scores, k=k, labels=np.arange(7))
    assert metrics.topk_accuracy(scores, target, k) == pytest.approx(expected)


def test_topk_accuracy_ties_break_by_lower_index():
    scores = np.zeros((2, 4), np.float32)          # all tied: rank = class index
    assert metrics.topk_accuracy(scores, np.array([1, 3]), k=2) == 0.5


def test_confusion_matrix_and_prf_match_sklearn():
    scores, target = _data(c=5, seed=3)
    pred = scores.argmax(1)
    np.testing.assert_array_equal(metrics.confusion_matrix(scores, target),
                                  skm.confusion_matrix(target, pred, labels=range(5)))
    p, r, f, s = metrics.precision_recall_f1(pred, target, num_classes=5)
    ep, er, ef, es = skm.precision_recall_fscore_support(target, pred, labels=range(5),
                                                         zero_division=0)
    np.testing.assert_allclose(p, ep)
    np.testing.assert_allclose(r, er)
    np.testing.assert_allclose(f, ef)
    np.testing.assert_array_equal(s, es)


def test_absent_class_gives_zero_division_value_like_sklearn():
    target = np.array([0, 0, 1, 1])
    pred = np.array([0, 1, 1, 1])             # class 2 never occurs nor is predicted
    p, r, f, s = metrics.precision_recall_f1(pred, target, num_classes=3)
    ep, er, ef, es = skm.precision_recall_fscore_support(target, pred, labels=range(3),
                                                         zero_division=0)
    np.testing.assert_allclose(np.c_[p, r, f], np.c_[ep, er, ef])
    assert s.tolist() == [2, 2, 0]


def test_classification_report_and_table():
    scores, target = _data(c=10, seed=4)
    report = metrics.classification_report(scores, target, 10, [f"c{i}" for i in range(10)])
    assert report["top5_accuracy"] == pytest.approx(skm.top_k_accuracy_score(target, scores, k=5))
    assert report["macro_f1"] == pytest.approx(skm.f1_score(target, scores.argmax(1), average="macro"))
    text = metrics.format_report(report)
    assert "c9" in text and "confusion matrix" in text and f"{report['accuracy']:.4f}" in text
    assert "top5_accuracy" not in metrics.classification_report(scores[:, :5] * 0 + scores[:, :5],
                                                                np.minimum(target, 4), 5)


def test_metric_errors_name_the_function_and_shapes():
    with pytest.raises(ValueError, match=r"accuracy: output has 3 samples but target has 4"):
        metrics.accuracy(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match=r"topk_accuracy: k must lie in \[1, 3\]"):
        metrics.topk_accuracy(np.zeros((2, 3)), np.zeros(2), k=4)
    with pytest.raises(ValueError, match=r"confusion_matrix: every target must lie in \[0, 1\]"):
        metrics.confusion_matrix(np.array([0, 1]), np.array([0, 2]), num_classes=2)
