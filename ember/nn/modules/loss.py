"""Loss layers (``torch.nn``), each calling the functional of the same name.

Every loss takes ``reduction`` in ``'mean'`` (default), ``'sum'``, ``'none'``; the deprecated
``size_average`` / ``reduce`` arguments are translated as torch does. Class weights
(``weight``, ``pos_weight``) are registered as buffers, so they follow ``.to(dtype)`` and
appear in ``state_dict`` as in torch.

Lectures: cross-entropy / softmax loss ``−log(e^{s_y} / Σ_j e^{s_j})`` (lecture 000
"交叉熵"), MSE (lecture 000 "均方误差"), hinge / SVM loss ``Σ_{j≠y} max(0, s_j − s_y + 1)``
(``MultiMarginLoss``), triplet loss ``max(‖f(A) − f(P)‖² − ‖f(A) − f(N)‖² + α, 0)`` (lecture
002, ``TripletMarginLoss``; torch's uses unsquared p-norm distances).
"""
import warnings

from ember.nn import functional as F
from ember.nn.modules.module import Module

__all__ = ["L1Loss", "MSELoss", "CrossEntropyLoss", "NLLLoss", "SmoothL1Loss", "HuberLoss",
           "BCELoss", "BCEWithLogitsLoss", "KLDivLoss", "MultiMarginLoss",
           "MultiLabelMarginLoss", "HingeEmbeddingLoss", "MarginRankingLoss",
           "TripletMarginLoss", "CosineEmbeddingLoss", "SoftMarginLoss", "PoissonNLLLoss",
           "GaussianNLLLoss"]


def _legacy_reduction(size_average, reduce):
    if size_average is None:
        size_average = True
    if reduce is None:
        reduce = True
    if not reduce:
        out = "none"
    elif size_average:
        out = "mean"
    else:
        out = "sum"
    warnings.warn(f"size_average and reduce args will be deprecated, please use "
                  f"reduction='{out}' instead.", stacklevel=3)
    return out


class _Loss(Module):
    def __init__(self, size_average=None, reduce=None, reduction="mean"):
        super().__init__()
        if size_average is not None or reduce is not None:
            reduction = _legacy_reduction(size_average, reduce)
        if reduction not in ("none", "mean", "sum"):
            raise ValueError(f"{type(self).__name__}: {reduction!r} is not a valid value for "
                             f"reduction (expected 'none', 'mean' or 'sum')")
        self.reduction = reduction


class _WeightedLoss(_Loss):
    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)


class L1Loss(_Loss):
    """Mean absolute error ``|x − y|``."""

    def forward(self, input, target):
        return F.l1_loss(input, target, reduction=self.reduction)


class MSELoss(_Loss):
    """Mean squared error ``(x − y)²`` (lecture 000 "均方误差")."""

    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)


class CrossEntropyLoss(_WeightedLoss):
    """Softmax cross-entropy on raw scores ``(N, C)`` / ``(N, C, d1, ...)`` with class indices
    (int64) or class probabilities as targets: ``−w_y log softmax(x)_y`` (lecture 000).
    ``ignore_index`` skips targets; ``label_smoothing`` mixes the target with the uniform
    distribution. ``weight``: a ``(C,)`` buffer."""

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None,
                 reduction="mean", label_smoothing=0.0):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input, target):
        return F.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood ``−w_y x_y`` of log-probabilities ``(N, C, *)``."""

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None,
                 reduction="mean"):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)


class SmoothL1Loss(_Loss):
    """``0.5 d² / beta`` if ``|d| < beta`` else ``|d| − 0.5 beta``, ``d = x − y``."""

    def __init__(self, size_average=None, reduce=None, reduction="mean", beta=1.0):
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input, target):
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class HuberLoss(_Loss):
    """``0.5 d²`` if ``|d| < delta`` else ``delta (|d| − 0.5 delta)``."""

    def __init__(self, reduction="mean", delta=1.0):
        super().__init__(reduction=reduction)
        self.delta = delta

    def forward(self, input, target):
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class BCELoss(_WeightedLoss):
    """Binary cross-entropy of probabilities: ``−w [y log x + (1 − y) log(1 − x)]``."""

    def forward(self, input, target):
        return F.binary_cross_entropy(input, target, weight=self.weight,
                                      reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid + binary cross-entropy in one stable step; ``pos_weight`` (a buffer, one value
    per class) weights the positive term."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean",
                 pos_weight=None):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input, target):
        return F.binary_cross_entropy_with_logits(input, target, self.weight,
                                                  pos_weight=self.pos_weight,
                                                  reduction=self.reduction)


class KLDivLoss(_Loss):
    """``y (log y − x)`` with ``x`` log-probabilities (``log_target``: ``y`` given as log).
    Use ``reduction='batchmean'`` for the mathematical KL divergence."""

    def __init__(self, size_average=None, reduce=None, reduction="mean", log_target=False):
        if reduction == "batchmean":
            super().__init__(size_average, reduce, "mean")
            self.reduction = "batchmean"
        else:
            super().__init__(size_average, reduce, reduction)
        self.log_target = log_target

    def forward(self, input, target):
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)


class MultiMarginLoss(_WeightedLoss):
    """Multi-class hinge (SVM) loss ``Σ_{j≠y} max(0, margin − x_y + x_j)^p / C`` (lecture 001
    "SVM loss"), ``p`` in {1, 2}; ``weight`` per class."""

    def __init__(self, p=1, margin=1.0, weight=None, size_average=None, reduce=None,
                 reduction="mean"):
        super().__init__(weight, size_average, reduce, reduction)
        if p not in (1, 2):
            raise ValueError(f"MultiMarginLoss: only p == 1 and p == 2 supported, got {p}")
        if weight is not None and weight.dim() != 1:
            raise ValueError(f"MultiMarginLoss: weight must be one-dimensional, got shape "
                             f"{tuple(weight.shape)}")
        self.p = p
        self.margin = margin

    def forward(self, input, target):
        return F.multi_margin_loss(input, target, p=self.p, margin=self.margin,
                                   weight=self.weight, reduction=self.reduction)


class MultiLabelMarginLoss(_Loss):
    """Multi-label hinge loss; targets list each sample's classes, padded with −1."""

    def forward(self, input, target):
        return F.multilabel_margin_loss(input, target, reduction=self.reduction)


class HingeEmbeddingLoss(_Loss):
    """``x`` where ``y = 1``, ``max(0, margin − x)`` where ``y = −1``."""

    def __init__(self, margin=1.0, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input, target):
        return F.hinge_embedding_loss(input, target, margin=self.margin,
                                      reduction=self.reduction)


class MarginRankingLoss(_Loss):
    """``max(0, −y (x1 − x2) + margin)``."""

    def __init__(self, margin=0.0, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1, input2, target):
        return F.margin_ranking_loss(input1, input2, target, margin=self.margin,
                                     reduction=self.reduction)


class TripletMarginLoss(_Loss):
    """``max(d(a, p) − d(a, n) + margin, 0)`` with the p-norm distance ``d``, as torch;
    ``squared=True`` (an Ember option) is lecture 002's form with ``d²`` (inventory C10):
    ``max(‖f(A) − f(P)‖² − ‖f(A) − f(N)‖² + a, 0)``. See ``F.triplet_margin_loss``."""

    def __init__(self, margin=1.0, p=2.0, eps=1e-6, swap=False, size_average=None, reduce=None,
                 reduction="mean", *, squared=False):
        super().__init__(size_average, reduce, reduction)
        if margin <= 0:
            raise ValueError(f"TripletMarginLoss: expected margin to be greater than 0, got "
                             f"{margin} instead")
        self.margin, self.p, self.eps, self.swap = margin, p, eps, swap
        self.squared = squared

    def forward(self, anchor, positive, negative):
        return F.triplet_margin_loss(anchor, positive, negative, margin=self.margin, p=self.p,
                                     eps=self.eps, swap=self.swap, reduction=self.reduction,
                                     squared=self.squared)


class CosineEmbeddingLoss(_Loss):
    """``1 − cos(x1, x2)`` where ``y = 1``, ``max(0, cos(x1, x2) − margin)`` where ``y = −1``."""

    def __init__(self, margin=0.0, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1, input2, target):
        return F.cosine_embedding_loss(input1, input2, target, margin=self.margin,
                                       reduction=self.reduction)


class SoftMarginLoss(_Loss):
    """Logistic loss ``log(1 + e^{−y x})``."""

    def forward(self, input, target):
        return F.soft_margin_loss(input, target, reduction=self.reduction)


class PoissonNLLLoss(_Loss):
    """Poisson negative log-likelihood: ``e^x − y x`` (``log_input``) or ``x − y log(x + eps)``;
    ``full`` adds the Stirling term."""

    def __init__(self, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None,
                 reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.log_input, self.full, self.eps = log_input, full, eps

    def forward(self, log_input, target):
        return F.poisson_nll_loss(log_input, target, log_input=self.log_input, full=self.full,
                                  eps=self.eps, reduction=self.reduction)


class GaussianNLLLoss(_Loss):
    """Gaussian negative log-likelihood ``0.5 (log max(var, eps) + (x − y)² / max(var, eps))``
    (+ ``0.5 log 2π`` with ``full``). ``forward(input, target, var)``."""

    def __init__(self, *, full=False, eps=1e-6, reduction="mean"):
        super().__init__(None, None, reduction)
        self.full, self.eps = full, eps

    def forward(self, input, target, var):
        return F.gaussian_nll_loss(input, target, var, full=self.full, eps=self.eps,
                                   reduction=self.reduction)
