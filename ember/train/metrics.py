"""Classification metrics on NumPy arrays (or ember Tensors): accuracy, top-k accuracy, the
confusion matrix and per-class precision / recall / F1.

Lecture 003 ("训练与测试 / 多类别测试", L3178-3196) defines ``Accuracy = (1/n) sum_i
1(y_i = y_hat_i)`` and top-5: a hit when any of the 5 best predictions is correct (inventory
C13); per-class recall shows what accuracy hides under class imbalance (inventory C17).
Conventions are scikit-learn's (the tests compare against it):

Every function takes ``(output, target)`` in that order, as ``accuracy(output, target)`` in
PyTorch code (scikit-learn's order is ``(y_true, y_pred)``): ``output`` is scores ``(N, C)``
(logits or probabilities; the prediction is the argmax) or predicted labels ``(N,)``.

- ``confusion_matrix[i, j]`` counts the samples of true class ``i`` predicted as ``j``
  (rows: truth, columns: prediction), so the diagonal holds the correct predictions.
- For class ``c``: ``precision = TP / (TP + FP)`` (column ``c``), ``recall = TP / (TP + FN)``
  (row ``c``), ``F1 = 2 P R / (P + R)``; a ratio whose denominator is 0 is ``zero_division``
  (0 by default, as ``sklearn.metrics.precision_recall_fscore_support(zero_division=0)``).
- ``accuracy = trace / total``; top-k accuracy counts a sample as correct when its true class
  is among the ``k`` highest scores (ties broken by the lower class index).
"""
import numpy as np

__all__ = ["accuracy", "topk_accuracy", "confusion_matrix", "precision_recall_f1",
           "classification_report", "format_report", "Accuracy"]


def _array(x, name, fn):
    if hasattr(x, "_data") and not isinstance(x, np.ndarray):
        x = x._data
    x = np.asarray(x)
    if x.dtype == object:
        raise TypeError(f"{fn}: {name} must be numeric, got an object array")
    return x


def _labels(target, fn):
    target = _array(target, "target", fn)
    if target.ndim != 1:
        raise ValueError(f"{fn}: expected target of shape (N,), got shape {target.shape}")
    return target.astype(np.int64, copy=False)


def _predictions(output, n, fn):
    """Class predictions from scores ``(N, C)`` (argmax) or from labels ``(N,)``."""
    output = _array(output, "output", fn)
    if output.ndim == 2:
        predicted = output.argmax(axis=1)
    elif output.ndim == 1:
        predicted = output.astype(np.int64, copy=False)
    else:
        raise ValueError(f"{fn}: expected output of shape (N, C) scores or (N,) labels, got "
                         f"shape {output.shape}")
    if len(predicted) != n:
        raise ValueError(f"{fn}: output has {len(predicted)} samples but target has {n}")
    return predicted


def accuracy(output, target):
    """The fraction of samples whose prediction equals the target.

    ``output``: scores ``(N, C)`` (the prediction is the argmax) or predicted labels ``(N,)``;
    ``target``: labels ``(N,)``. Returns a Python float in [0, 1] (0.0 for ``N == 0``)."""
    target = _labels(target, "accuracy")
    predicted = _predictions(output, len(target), "accuracy")
    return float((predicted == target).mean()) if len(target) else 0.0


class Accuracy:
    """``accuracy`` streamed over batches, the trainer's default metric: ``update(output,
    target)`` per batch, ``compute() -> {"acc": correct / seen}`` (NaN before any sample), the
    same value as ``accuracy`` over the concatenated batches."""

    def __init__(self):
        self.correct = 0
        self.seen = 0

    def update(self, output, target):
        target = _labels(target, "Accuracy")
        predicted = _predictions(output, len(target), "Accuracy")
        self.correct += int((predicted == target).sum())
        self.seen += len(target)

    def compute(self):
        return {"acc": self.correct / self.seen if self.seen else float("nan")}


def topk_accuracy(output, target, k=5):
    """The fraction of samples whose true class is among the ``k`` highest of ``output``'s
    scores ``(N, C)`` (``k <= C``); ``k == 1`` is ``accuracy``."""
    target = _labels(target, "topk_accuracy")
    scores = _array(output, "output", "topk_accuracy")
    if scores.ndim != 2 or len(scores) != len(target):
        raise ValueError(f"topk_accuracy: expected output of shape ({len(target)}, C) scores, "
                         f"got shape {scores.shape}")
    if not 1 <= k <= scores.shape[1]:
        raise ValueError(f"topk_accuracy: k must lie in [1, {scores.shape[1]}] (the number of "
                         f"classes), got {k}")
    if not len(target):
        return 0.0
    # rank of the true class = number of classes scoring strictly higher, plus the ties that
    # come first in index order (a stable descending sort)
    true_score = scores[np.arange(len(target)), target][:, None]
    columns = np.arange(scores.shape[1])[None, :]
    rank = (scores > true_score).sum(1) + ((scores == true_score) & (columns < target[:, None])).sum(1)
    return float((rank < k).mean())


def confusion_matrix(output, target, num_classes=None):
    """``(C, C)`` int64 counts: entry ``[i, j]`` is the number of samples of class ``i``
    predicted as ``j`` (scikit-learn's ``confusion_matrix(y_true, y_pred)`` layout).

    ``output`` may be scores ``(N, C)`` or labels ``(N,)``; ``num_classes`` defaults to
    ``max(label) + 1`` (or the number of score columns)."""
    target = _labels(target, "confusion_matrix")
    predicted = _predictions(output, len(target), "confusion_matrix")
    if num_classes is None:
        scores = _array(output, "output", "confusion_matrix")
        num_classes = scores.shape[1] if scores.ndim == 2 else 0
        num_classes = max(num_classes, int(target.max(initial=-1)) + 1,
                          int(predicted.max(initial=-1)) + 1)
    for name, labels in (("target", target), ("prediction", predicted)):
        if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(f"confusion_matrix: every {name} must lie in [0, {num_classes - 1}], "
                             f"got values in [{labels.min()}, {labels.max()}]")
    flat = np.bincount(target * num_classes + predicted, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes).astype(np.int64)


def _safe_divide(numerator, denominator, zero_division):
    out = np.full(numerator.shape, float(zero_division))
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def precision_recall_f1(output, target, num_classes=None, zero_division=0.0):
    """Per-class ``(precision, recall, f1, support)``, each a ``(C,)`` array (support: the
    number of true samples of the class), from the confusion matrix ``M``:
    ``P_c = M[c, c] / sum_i M[i, c]``, ``R_c = M[c, c] / sum_j M[c, j]``,
    ``F1_c = 2 P_c R_c / (P_c + R_c)``; 0-denominators give ``zero_division``."""
    matrix = confusion_matrix(output, target, num_classes)
    true_positive = np.diag(matrix).astype(np.float64)
    predicted = matrix.sum(axis=0)
    support = matrix.sum(axis=1)
    precision = _safe_divide(true_positive, predicted, zero_division)
    recall = _safe_divide(true_positive, support, zero_division)
    f1 = _safe_divide(2 * precision * recall, precision + recall, zero_division)
    return precision, recall, f1, support


def classification_report(output, target, num_classes=None, class_names=None, topk=5):
    """Everything ``ember eval`` prints, as a dict: ``accuracy``, ``top{k}_accuracy`` (when
    ``output`` holds scores for more than ``topk`` classes), ``confusion_matrix`` (list of
    lists), ``classes`` (names), and per class ``precision``, ``recall``, ``f1``, ``support``
    (lists), plus their unweighted means ``macro_precision/recall/f1``."""
    scores = _array(output, "output", "classification_report")
    matrix = confusion_matrix(scores, target, num_classes)
    c = matrix.shape[0]
    precision, recall, f1, support = precision_recall_f1(scores, target, c)
    names = list(class_names) if class_names is not None else [str(i) for i in range(c)]
    if len(names) != c:
        raise ValueError(f"classification_report: got {len(names)} class names for {c} classes")
    report = {"accuracy": accuracy(scores, target)}
    if scores.ndim == 2 and scores.shape[1] > topk:
        report[f"top{topk}_accuracy"] = topk_accuracy(scores, target, topk)
    report.update(classes=names, precision=precision.tolist(), recall=recall.tolist(),
                  f1=f1.tolist(), support=support.tolist(),
                  macro_precision=float(precision.mean()), macro_recall=float(recall.mean()),
                  macro_f1=float(f1.mean()), confusion_matrix=matrix.tolist())
    return report


def format_report(report):
    """A plain-text table of a ``classification_report`` dict."""
    names = report["classes"]
    width = max([len("class"), len("macro avg")] + [len(n) for n in names])
    lines = [f"accuracy: {report['accuracy']:.4f}"]
    lines += [f"{key.replace('_', ' ')}: {value:.4f}" for key, value in report.items()
              if key.startswith("top") and key.endswith("_accuracy")]
    lines.append("")
    lines.append(f"{'class':>{width}}  precision  recall     f1  support")
    for i, name in enumerate(names):
        lines.append(f"{name:>{width}}  {report['precision'][i]:9.4f}  {report['recall'][i]:6.4f}"
                     f"  {report['f1'][i]:.4f}  {report['support'][i]:7d}")
    lines.append(f"{'macro avg':>{width}}  {report['macro_precision']:9.4f}  "
                 f"{report['macro_recall']:6.4f}  {report['macro_f1']:.4f}  "
                 f"{sum(report['support']):7d}")
    matrix = np.asarray(report["confusion_matrix"])
    cell = max(len(str(matrix.max(initial=0))), len(str(len(names) - 1)), 3)
    lines += ["", "confusion matrix (rows: true class, columns: predicted class)",
              " " * (width + 1) + " ".join(f"{j:>{cell}}" for j in range(len(names)))]
    for i, name in enumerate(names):
        lines.append(f"{name:>{width}} " + " ".join(f"{v:>{cell}}" for v in matrix[i]))
    return "\n".join(lines)
