"""Semantic-segmentation metrics from the confusion matrix of pixels, streamed over batches
(lecture 003 「评估语义分割」, `003_3c47e26e696c7f07.txt` L4395-4433; inventory C14).

"每个像素都被分为F类中的某一个" — every pixel is one of F classes, and the prediction is the
argmax of the ``H x W x F`` score volume. The lecture's two measures, and two usual
companions, all follow from the ``F x F`` confusion matrix ``M`` (``M[i, j]``: pixels of true
class ``i`` predicted as ``j``; rows truth, columns prediction, as
``ember.train.metrics.confusion_matrix``):

- pixel accuracy, "准确率 mean(ŷ = y)": ``trace(M) / sum(M)``;
- IoU of class ``c``, "预测类别和真实类别的重合区域/合并区域": ``M[c, c] / (sum_j M[c, j] +
  sum_i M[i, c] - M[c, c])`` (intersection over union of the predicted and true regions);
- mean IoU, "所有类别取平均": the mean of the per-class IoUs over the classes that occur in
  the truth or the prediction. A class absent from both has ``0 / 0``: its IoU is NaN
  (undefined) and it does not count in the mean (a class only predicted, or only true, has
  IoU 0 and counts);
- frequency-weighted IoU: ``sum_c (sum_j M[c, j] / sum(M)) IoU_c``, the per-class IoUs
  weighted by how many true pixels each class has (Long et al. 2015).

Pixels whose target is ``ignore_index`` (255 by default: Pascal VOC's object borders) are
left out of everything. Accumulating ``M`` batch by batch gives exactly the matrix of the
whole set, so every streamed metric equals the direct computation.
"""
import numpy as np

__all__ = ["confusion_matrix", "pixel_accuracy", "class_iou", "mean_iou",
           "frequency_weighted_iou", "segmentation_report", "format_segmentation_report",
           "SegmentationMetrics"]


def _array(x, name, fn):
    if hasattr(x, "_data") and not isinstance(x, np.ndarray):      # an ember Tensor
        x = x._data
    x = np.asarray(x)
    if x.dtype == object or x.dtype.kind not in "biuf":
        raise TypeError(f"{fn}: {name} must be a numeric array, got dtype {x.dtype}")
    return x


def _labels_of(output, target, fn):
    """Predicted labels with the target's shape: the argmax over axis 1 of scores ``(N, C,
    *spatial)``, or ``output`` itself when it already is integer labels shaped like the
    target."""
    output = _array(output, "output", fn)
    target = _array(target, "target", fn)
    if target.dtype.kind not in "biu":
        raise TypeError(f"{fn}: target must hold integer class labels, got dtype {target.dtype}")
    if output.shape == target.shape and output.dtype.kind in "biu":
        return output.astype(np.int64, copy=False), target.astype(np.int64, copy=False)
    if (output.ndim == target.ndim + 1 and output.shape[0] == target.shape[0]
            and output.shape[2:] == target.shape[1:]):
        return output.argmax(axis=1), target.astype(np.int64, copy=False)
    raise ValueError(f"{fn}: expected output of scores (N, C, *spatial) or labels of the "
                     f"target's shape {target.shape}, got shape {output.shape} ({output.dtype})")


def confusion_matrix(output, target, num_classes, ignore_index=255):
    """``(num_classes, num_classes)`` int64 pixel counts, ``[i, j]`` = pixels of true class
    ``i`` predicted as ``j``.

    ``output``: class scores ``(N, C, H, W)`` (the prediction is the argmax over ``C``) or
    integer labels of ``target``'s shape; ``target``: integer labels ``(N, H, W)``, each in
    ``[0, num_classes)`` or equal to ``ignore_index`` (None: no label is ignored). A label or
    prediction outside the range is a ``ValueError`` naming the value."""
    fn = "confusion_matrix"
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) \
            or num_classes < 1:
        raise ValueError(f"{fn}: num_classes must be a positive int, got {num_classes!r}")
    predicted, target = _labels_of(output, target, fn)
    keep = target != ignore_index if ignore_index is not None else np.ones(target.shape, bool)
    truth, predicted = target[keep], predicted[keep]
    for what, labels in (("target", truth), ("prediction", predicted)):
        bad = labels[(labels < 0) | (labels >= num_classes)]
        if bad.size:
            ignored = f" or the ignore_index {ignore_index}" if ignore_index is not None else ""
            raise ValueError(f"{fn}: a {what} label is {int(bad[0])}, outside the classes "
                             f"0..{num_classes - 1}{ignored if what == 'target' else ''}")
    counts = np.bincount(truth * num_classes + predicted, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).astype(np.int64)


def _matrix(matrix, fn):
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"{fn}: expected a square confusion matrix, got shape {matrix.shape}")
    return matrix.astype(np.float64)


def pixel_accuracy(matrix):
    """``trace(M) / sum(M)``: the share of (non-ignored) pixels predicted right; NaN when
    ``M`` counts no pixel."""
    m = _matrix(matrix, "pixel_accuracy")
    total = m.sum()
    return float(np.trace(m) / total) if total else float("nan")


def class_iou(matrix):
    """``(C,)`` float64: ``IoU_c = M[c, c] / (row_c + column_c - M[c, c])``; NaN for a class
    absent from both the truth and the prediction."""
    m = _matrix(matrix, "class_iou")
    intersection = np.diag(m)
    union = m.sum(0) + m.sum(1) - intersection
    iou = np.full(len(m), np.nan)
    np.divide(intersection, union, out=iou, where=union > 0)
    return iou


def mean_iou(matrix):
    """The mean of ``class_iou`` over the classes present in the truth or the prediction
    (NaN if there is none)."""
    iou = class_iou(matrix)
    present = ~np.isnan(iou)
    return float(iou[present].mean()) if present.any() else float("nan")


def frequency_weighted_iou(matrix):
    """``sum_c f_c IoU_c`` with ``f_c = row_c / sum(M)``, the share of true pixels of class
    ``c`` (classes without true pixels weigh 0); NaN when ``M`` counts no pixel."""
    m = _matrix(matrix, "frequency_weighted_iou")
    total = m.sum()
    if not total:
        return float("nan")
    frequency = m.sum(1) / total
    iou = class_iou(m)
    weighted = frequency > 0
    return float((frequency[weighted] * iou[weighted]).sum())


def segmentation_report(matrix, class_names=None):
    """Everything ``ember eval`` prints for segmentation, as a JSON-ready dict:
    ``pixel_accuracy``, ``mean_iou``, ``frequency_weighted_iou``, ``classes`` (names),
    ``iou`` (per class, None where undefined), ``pixels`` (true pixels per class) and
    ``confusion_matrix`` (list of lists)."""
    m = np.asarray(matrix)
    names = [str(i) for i in range(len(m))] if class_names is None else list(class_names)
    if len(names) != len(m):
        raise ValueError(f"segmentation_report: got {len(names)} class names for {len(m)} "
                         f"classes")
    iou = class_iou(m)
    return {"pixel_accuracy": pixel_accuracy(m), "mean_iou": mean_iou(m),
            "frequency_weighted_iou": frequency_weighted_iou(m), "classes": names,
            "iou": [None if np.isnan(v) else float(v) for v in iou],
            "pixels": [int(v) for v in m.sum(1)], "confusion_matrix": m.tolist()}


def format_segmentation_report(report):
    """A plain-text table of a ``segmentation_report`` dict: the three summary numbers, then
    the IoU and true-pixel count of every class."""
    names = report["classes"]
    width = max([len("class")] + [len(n) for n in names])
    lines = [f"pixel accuracy: {report['pixel_accuracy']:.4f}",
             f"mean IoU: {report['mean_iou']:.4f}",
             f"frequency-weighted IoU: {report['frequency_weighted_iou']:.4f}", "",
             f"{'class':>{width}}     IoU     pixels"]
    for name, iou, pixels in zip(names, report["iou"], report["pixels"]):
        shown = "   n/a" if iou is None else f"{iou:.4f}"
        lines.append(f"{name:>{width}}  {shown:>6}  {pixels:9d}")
    return "\n".join(lines)


class SegmentationMetrics:
    """The confusion matrix accumulated batch by batch, for ``ember.train.Trainer``.

    ``update(output, target)`` adds a batch (``output``: scores ``(N, C, H, W)`` or labels
    ``(N, H, W)``; see :func:`confusion_matrix`); ``compute()`` returns ``{"pixel_acc": ...,
    "miou": ...}`` (the history columns ``train_pixel_acc``, ``val_miou``, ...; NaN before
    any pixel); ``matrix`` is the running ``(num_classes, num_classes)`` count and
    ``report(class_names)`` the full :func:`segmentation_report`.
    """

    def __init__(self, num_classes, ignore_index=255):
        self.num_classes = int(num_classes)
        self.ignore_index = ignore_index
        self.matrix = np.zeros((self.num_classes, self.num_classes), np.int64)

    def update(self, output, target):
        self.matrix += confusion_matrix(output, target, self.num_classes, self.ignore_index)

    def compute(self):
        return {"pixel_acc": pixel_accuracy(self.matrix), "miou": mean_iou(self.matrix)}

    def report(self, class_names=None):
        return segmentation_report(self.matrix, class_names)

    def __repr__(self):
        return (f"SegmentationMetrics(num_classes={self.num_classes}, "
                f"ignore_index={self.ignore_index})")
