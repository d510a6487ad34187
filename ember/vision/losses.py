"""Losses of the dense vision tasks that torch does not ship: the soft Dice loss of
segmentation, and the class weights that balance per-pixel cross-entropy.

Per-pixel cross-entropy — lecture 003's loss for segmentation, "在每个像素上做 F-分类交叉熵损失"
(inventory C2) — is ``ember.nn.functional.cross_entropy`` on scores ``(N, C, H, W)`` and
labels ``(N, H, W)``, with ``ignore_index`` and per-class ``weight`` as in torch. When one
class covers most pixels (the background), its easy pixels dominate the mean loss; weights
from :func:`median_frequency_weights` give every class a comparable say, as mean IoU does.
The Dice loss (Milletari et al. 2016, "V-Net") measures the overlap of the predicted and true
regions directly, as IoU does (inventory C14), so a small class counts as much as a large
one however few pixels it has.
"""
import numpy as np

import ember
from ember import nn
from ember.nn import functional as F

__all__ = ["dice_loss", "DiceLoss", "median_frequency_weights"]


def median_frequency_weights(masks, num_classes, ignore_index=255, power=1.0):
    """Median frequency balancing (Eigen & Fergus 2015, used to train SegNet): ``(C,)``
    float32 class weights ``w_c = (median_k(f_k) / f_c) ** power`` for
    ``F.cross_entropy(weight=...)``.

    ``f_c`` is the number of pixels of class ``c`` divided by the number of pixels of the
    masks where ``c`` occurs, so a class that is small wherever it appears weighs more;
    ``masks`` are label arrays ``(N, H, W)`` (``ignore_index`` pixels are not counted).
    ``power=1`` is the published scheme; ``power=0.5`` tempers it (inverse square-root
    frequency), for a dominant class whose full down-weighting trades too many of its pixels
    for the small classes'. A class that never occurs gets weight 0 (it has no pixels to
    weigh); the median is over the classes that occur."""
    masks = np.asarray(masks)
    if masks.ndim < 2:
        raise ValueError(f"median_frequency_weights: expected masks of shape (N, H, W), got "
                         f"shape {masks.shape}")
    flat = masks.reshape(len(masks), -1).astype(np.int64)
    valid = flat != ignore_index
    bad = flat[valid & ((flat < 0) | (flat >= num_classes))]
    if bad.size:
        raise ValueError(f"median_frequency_weights: a label is {int(bad[0])}, outside the "
                         f"classes 0..{num_classes - 1} and not the ignore label {ignore_index}")
    rows = np.broadcast_to(np.arange(len(flat))[:, None], flat.shape)[valid]
    pixels = np.bincount(rows * num_classes + flat[valid],          # per mask and class
                         minlength=len(flat) * num_classes).reshape(len(flat), num_classes)
    area = valid.sum(1)
    occurs = pixels > 0
    seen = (occurs * area[:, None]).sum(0)          # pixels of the masks where c occurs
    present = seen > 0
    frequency = np.zeros(num_classes)
    frequency[present] = pixels.sum(0)[present] / seen[present]
    weights = np.zeros(num_classes)
    weights[present] = (np.median(frequency[present]) / frequency[present]) ** power
    return weights.astype(np.float32)


def dice_loss(input, target, ignore_index=-100, smooth=1.0):
    """The soft Dice loss ``1 - mean_c D_c`` of class scores ``input`` ``(N, C, *spatial)``
    and labels ``target`` ``(N, *spatial)``, a scalar.

    With ``p = softmax(input, 1)`` and ``t`` the one-hot target, summed over the batch and
    every pixel whose label is not ``ignore_index``::

        D_c = (2 sum p_c t_c + smooth) / (sum p_c + sum t_c + smooth)

    ``smooth`` (> 0) keeps a class absent from both the truth and the prediction at ``D_c =
    1`` and the gradient finite. Differentiable in ``input`` (built from ``softmax``,
    products and sums). A label outside ``0 .. C-1`` that is not ``ignore_index`` is a
    ``ValueError``."""
    if input.ndim < 2:
        raise ValueError(f"dice_loss: expected scores of shape (N, C, *spatial), got shape "
                         f"{tuple(input.shape)}")
    n, c = input.shape[:2]
    if tuple(target.shape) != (n,) + tuple(input.shape[2:]):
        expected = (n,) + tuple(input.shape[2:])
        raise ValueError(f"dice_loss: target of shape {tuple(target.shape)} does not match "
                         f"scores of shape {tuple(input.shape)} (expected {expected})")
    if not smooth > 0:
        raise ValueError(f"dice_loss: smooth must be positive, got {smooth}")
    labels = target.detach().numpy()
    if labels.dtype.kind not in "iu":
        raise TypeError(f"dice_loss: target must hold integer class labels, got {target.dtype}")
    valid = labels != ignore_index
    bad = labels[valid & ((labels < 0) | (labels >= c))]
    if bad.size:
        raise ValueError(f"dice_loss: a target label is {int(bad[0])}, outside the classes "
                         f"0..{c - 1} and not ignore_index={ignore_index}")
    keep = ember.from_numpy(valid).unsqueeze(1).to(input.dtype)         # (N, 1, *spatial)
    one_hot = F.one_hot(ember.from_numpy(labels * valid), c).movedim(-1, 1).to(input.dtype)
    probs = F.softmax(input, dim=1) * keep
    dims = [0] + list(range(2, input.ndim))
    intersection = (probs * one_hot).sum(dims)
    total = probs.sum(dims) + (one_hot * keep).sum(dims)
    return 1 - ((2 * intersection + smooth) / (total + smooth)).mean()


class DiceLoss(nn.Module):
    """:func:`dice_loss` as a module: ``DiceLoss(ignore_index=-100, smooth=1.0)(input,
    target)``."""

    def __init__(self, ignore_index=-100, smooth=1.0):
        super().__init__()
        self.ignore_index = ignore_index
        self.smooth = smooth

    def forward(self, input, target):
        return dice_loss(input, target, self.ignore_index, self.smooth)

    def extra_repr(self):
        return f"ignore_index={self.ignore_index}, smooth={self.smooth}"
