"""Losses of the dense vision tasks that torch does not ship: the soft Dice loss of
segmentation.

Per-pixel cross-entropy — lecture 003's loss for segmentation, "在每个像素上做 F-分类交叉熵损失"
(inventory C2) — is ``ember.nn.functional.cross_entropy`` on scores ``(N, C, H, W)`` and
labels ``(N, H, W)``, with ``ignore_index`` and per-class ``weight`` as in torch. The Dice
loss (Milletari et al. 2016, "V-Net") measures the overlap of the predicted and true regions
directly, as IoU does (inventory C14), so a small class counts as much as a large one however
few pixels it has.
"""
import ember
from ember import nn
from ember.nn import functional as F

__all__ = ["dice_loss", "DiceLoss"]


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
        raise ValueError(f"dice_loss: target of shape {tuple(target.shape)} does not match scores "
                         f"of shape {tuple(input.shape)} (expected {(n,) + tuple(input.shape[2:])})")
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
