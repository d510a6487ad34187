"""Loss functions with torch.nn.functional's names, signatures and reductions.

The classification losses the lectures train with are fused primitives with analytic
backwards: :class:`CrossEntropy` (log-softmax + NLL, lecture 003 "Softmax / cross-entropy":
``L_i = −f_{y_i} + log Σ_j e^{f_j}``, gradient ``softmax − onehot``), :class:`NLLLoss`,
:class:`BinaryCrossEntropy`, :class:`BinaryCrossEntropyWithLogits` and :class:`MultiMargin`
(the multiclass SVM / max-margin "hinge" loss). The regression and embedding losses are short
compositions of differentiable Ember ops.

Every loss takes ``reduction='none' | 'mean' | 'sum'`` (``kl_div`` also ``'batchmean'``).
"""
import math
from functools import partial

import numpy as np

from ember import _parallel
from ember._tensor import Tensor
from ember.autograd.function import Function, unbroadcast
from ember.kernels import compiled
from ember.ops._ones import ones
from ember.ops.activation import _row_kernels
from ember.ops.elementwise import abs as _abs
from ember.ops.elementwise import exp, log, minimum, sqrt, where
from ember.ops.reduction import norm

__all__ = ["cross_entropy", "nll_loss", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss",
           "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div",
           "multi_margin_loss", "multilabel_margin_loss", "hinge_embedding_loss",
           "margin_ranking_loss", "triplet_margin_loss", "cosine_embedding_loss",
           "soft_margin_loss", "poisson_nll_loss", "gaussian_nll_loss"]

_REDUCTIONS = ("none", "mean", "sum")


def _check_reduction(op, reduction, allowed=_REDUCTIONS):
    if reduction not in allowed:
        raise ValueError(f"{op}: reduction must be one of {', '.join(map(repr, allowed))}, got "
                         f"{reduction!r}")


def _reduce(loss, reduction):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _reduced_array(loss, reduction, denom):
    """Forward-side reduction of a per-item loss array (``denom`` divides for 'mean'); called
    from forwards only."""
    if reduction == "none":
        return loss
    total = loss.sum(dtype=loss.dtype)
    if reduction == "sum":
        return np.asarray(total, dtype=loss.dtype)
    # an all-ignored batch is 0/0 = NaN, silently: Function.apply runs forwards with float
    # errors ignored
    return np.asarray(total / denom, dtype=loss.dtype)


def _item_grad(grad, reduction, denom, shape, dtype):
    """Upstream gradient per loss item, undoing :func:`_reduced_array`."""
    if reduction == "none":
        return grad
    if reduction == "mean":
        # an all-ignored batch has a NaN mean (0/0) but no item to send a gradient to
        grad = grad / denom if denom else 0.0
    return np.full(shape, grad, dtype=dtype)


def _legacy_reduction(size_average, reduce, reduction):
    """torch's deprecated ``size_average`` / ``reduce`` flags: when either is given it decides
    the reduction (each defaults to True): both true → 'mean', ``reduce`` only → 'sum',
    ``reduce=False`` → 'none'."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if not reduce:
        return "none"
    return "mean" if size_average else "sum"


def _same_shape(op, input, target):
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"{op}: expected target of the same shape as input {tuple(input.shape)}, "
                         f"got shape {tuple(target.shape)}")


# ---------------------------------------------------------------- class-index targets

def _check_class_target(op, input, target, weight, ignore_index):
    """Validate ``input (N, C, *)`` or ``(C,)`` against an integer ``target (N, *)`` or ``()``."""
    ishape, tshape = tuple(input.shape), tuple(target.shape)
    if input.ndim == 0:
        raise ValueError(f"{op}: expected input of shape (N, C, ...) or (C,), got a scalar")
    if target._data.dtype.kind not in "iu":
        raise TypeError(f"{op}: expected target of class indices with an integer dtype, got "
                        f"{target.dtype} (probability targets need the input's shape)")
    expected = ishape[:1] + ishape[2:] if input.ndim > 1 else ()
    if input.ndim > 1 and (target.ndim == 0 or tshape[0] != ishape[0]):
        raise ValueError(f"{op}: expected target with {ishape[0]} elements to match the batch size "
                         f"of input (shape {ishape}), got shape {tshape}")
    if tshape != expected:
        raise ValueError(f"{op}: expected target of shape {expected} for input of shape {ishape}, "
                         f"got shape {tshape}")
    c = ishape[0] if input.ndim == 1 else ishape[1]
    if weight is not None and tuple(weight.shape) != (c,):
        raise ValueError(f"{op}: expected weight of shape ({c},) (one per class), got shape "
                         f"{tuple(weight.shape)}")
    t = target._data
    bad = (t != ignore_index) & ((t < 0) | (t >= c))
    if bad.any():
        raise IndexError(f"{op}: target class {int(t[bad].flat[0])} is out of range for {c} "
                         f"classes (expected 0..{c - 1} or ignore_index={ignore_index})")


def _class_items(x, t, w, ignore_index):
    """Batched ``(N, C, *)`` view of ``x``, safe targets ``(N, 1, *)``, the mask of
    non-ignored items and their weights ``w_{y_i}`` (0 when ignored), both ``(N, *)``."""
    if x.ndim == 1:
        x, t = x[None], t[None]
    valid = t != ignore_index
    ts = np.where(valid, t, 0)[:, None]
    wy = valid.astype(x.dtype) if w is None else np.where(valid, w.astype(x.dtype)[ts[:, 0]], 0)
    return x, ts, valid, wy.astype(x.dtype, copy=False)


def _class_shape(c, ndim):
    return (1, c) + (1,) * (ndim - 2)


# a cross-entropy task is a few large NumPy calls per block of rows, so it pays to split from
# fewer elements than ``_parallel.PARALLEL_MIN_ELEMENTS`` (1024 x 1000 logits, forward part:
# 0.84 -> 0.51 ms on two threads)
CE_PARALLEL_MIN_ELEMENTS = 2 ** 18


def _shifted_exp(x):
    """``(max, exp(x − max), Σ exp(x − max))`` over dim 1 of ``x`` (N, C, *), by blocks of rows
    on Ember's threads when large. For 2-D ``x`` the row sums are a GEMV (~3x faster than
    ``sum(axis=1)`` at (1024, 1000)); with the compiled kernels a 2-D float32 ``x`` takes one
    call per block (``ember.kernels.rows.shifted_exp``, equal to float32 rounding)."""
    parts = _parallel.batch_parts(x.shape[0], x.size, CE_PARALLEL_MIN_ELEMENTS)
    rows = _row_kernels(1, x) if x.ndim == 2 else None
    if rows is not None:
        mx, s = np.empty((x.shape[0], 1), x.dtype), np.empty((x.shape[0], 1), x.dtype)
        p = np.empty_like(x)
        _parallel.run([partial(rows.shifted_exp, x[r], mx[r, 0], p[r], s[r, 0])
                       for r in parts])
        return mx, p, s
    ones_ = ones(x.shape[1], x.dtype)
    if len(parts) == 1:
        mx = x.max(axis=1, keepdims=True)
        p = np.subtract(x, mx)
        np.exp(p, out=p)
        s = (p @ ones_)[:, None] if x.ndim == 2 else p.sum(axis=1, keepdims=True)
        return mx, p, s
    mx = np.empty((x.shape[0], 1) + x.shape[2:], x.dtype)
    p = np.empty(x.shape, x.dtype)
    s = np.empty(mx.shape, x.dtype)

    def rows(r):
        np.max(x[r], axis=1, keepdims=True, out=mx[r])
        np.subtract(x[r], mx[r], out=p[r])
        np.exp(p[r], out=p[r])
        if x.ndim == 2:
            np.matmul(p[r], ones_, out=s[r, 0])
        else:
            np.sum(p[r], axis=1, keepdims=True, out=s[r])
    _parallel.run([partial(rows, r) for r in parts])
    return mx, p, s


def _one_pass_rows(x, target, probs, weight, eps):
    """The compiled row kernels when the cross-entropy's forward is one kernel call per block
    of samples (``ember.kernels.rows.cross_entropy_forward``, ``cross_entropy_planes_forward``
    for per-pixel logits (N, C, d1, ...): float32 logits, int64 class indices, no class
    weights, no label smoothing), else None."""
    if probs or weight is not None or eps or x.ndim < 2 or target.dtype != np.int64:
        return None
    return _row_kernels(1, x) if x.ndim == 2 else _plane_kernels(x)


def _plane_kernels(x):
    """The compiled row kernels for the class axis (1) of C-contiguous float32 logits
    ``(N, C, d1, ...)``, else None."""
    if x.dtype != np.float32 or not x.flags.c_contiguous or x.size == 0:
        return None
    kernels = compiled()
    return None if kernels is None else kernels.rows


class CrossEntropy(Function):
    """Fused log-softmax + negative log-likelihood over dim 1 of ``x (N, C, *)``.

    For a class-index target (``probs=False``) with weight w and label smoothing ε, the soft
    target of item i is ``a_ic = (1 − ε)·w_{y_i}·[c = y_i] + ε/C·w_c`` (0 when ignored) and
    ``l_i = Σ_c a_ic·(lse_i − x_ic)``; for a probability target t it is
    ``a_ic = w_c·((1 − ε)·t_ic + ε/C)``. Backward: ``dx_ic = g_i·(A_i·p_ic − a_ic)`` with
    ``p = softmax(x)`` and ``A_i = Σ_c a_ic``; the probability target also gets
    ``dt_ic = −g_i·(1 − ε)·w_c·log p_ic`` and the weight ``dw_c = −Σ_i g_i·t̃_ic·log p_ic``.
    """

    def forward(self, x, target, *weight, probs, ignore_index, reduction, label_smoothing):
        self.unbatched = x.ndim == 1
        w = weight[0].astype(x.dtype, copy=False) if weight else None
        xb = x[None] if self.unbatched else x
        c = xb.shape[1]
        eps = label_smoothing
        self.w, self.reduction, self.eps = w, reduction, eps
        rows = _one_pass_rows(xb, target, probs, w, eps)
        if rows is not None:
            loss = self._items_compiled(rows, xb, target.reshape(-1), ignore_index)
            _, self.ts, self.valid, self.wy = _class_items(x, target, None, ignore_index)
            self.probs = False
            return self._reduced(loss, x, reduction)
        mx, p, s = _shifted_exp(xb)
        lse = mx + np.log(s)
        # p = exp(x − max) is normalized (softmax = p / s) only inside the backward products,
        # saving one pass over the logits
        self.p, self.inv_s, self.lse = p, 1.0 / s, lse
        wshape = _class_shape(c, xb.ndim)
        if probs:
            tb = target[None] if self.unbatched else target
            soft = tb * (1.0 - eps) + eps / c if eps else tb
            a = soft * w.reshape(wshape) if w is not None else soft
            loss = (a * (lse - xb)).sum(axis=1)
            denom = loss.size
            self.a, self.soft, self.xb = a, soft, xb
        else:
            xb, ts, valid, wy = _class_items(x, target, w, ignore_index)
            nll = lse[:, 0] - np.take_along_axis(xb, ts, axis=1)[:, 0]
            loss = (1.0 - eps) * wy * nll
            if eps:
                wsum = w.sum() if w is not None else x.dtype.type(c)
                wx = (xb * w.reshape(wshape)).sum(axis=1) if w is not None else xb.sum(axis=1)
                loss += (eps / c) * valid * (lse[:, 0] * wsum - wx)
                self.wsum = wsum
            denom = wy.sum() if w is not None else valid.sum()
            self.ts, self.wy, self.valid = ts, wy, valid
        self.probs, self.denom = probs, x.dtype.type(denom)
        return self._reduced(loss, x, reduction)

    def _reduced(self, loss, x, reduction):
        out = _reduced_array(loss.astype(x.dtype, copy=False), reduction, self.denom)
        return out[0] if self.unbatched and reduction == "none" else out

    def _items_compiled(self, rows, x, target, ignore_index):
        """The per-item losses of float32 logits ``(N, C)`` or ``(N, C, d1, ...)`` and int64
        class indices without class weights or label smoothing, by
        ``ember.kernels.rows.cross_entropy_forward`` / ``cross_entropy_planes_forward`` (one
        call per block of samples; MLP's 128 x 10 logits: ~25 NumPy calls become one)."""
        n, c = x.shape[:2]
        self.p, self.inv_s = np.empty_like(x), np.empty((n, 1) + x.shape[2:], x.dtype)
        loss = np.empty((n,) + x.shape[2:], x.dtype)
        target = np.ascontiguousarray(target).reshape(n, -1)
        parts = _parallel.batch_parts(n, x.size, CE_PARALLEL_MIN_ELEMENTS)
        if x.ndim == 2:
            counts = _parallel.run([partial(rows.cross_entropy_forward, x[r], target[r, 0],
                                            ignore_index, self.p[r], self.inv_s[r, 0], loss[r])
                                    for r in parts])
        else:       # (N, C, M): the class axis M apart
            planes, p, inv_s = (a.reshape(n, a.shape[1], -1) for a in (x, self.p, self.inv_s))
            items = loss.reshape(n, -1)
            counts = _parallel.run([partial(rows.cross_entropy_planes_forward, planes[r],
                                            target[r], ignore_index, p[r], inv_s[r, 0], items[r])
                                    for r in parts])
        self.denom = x.dtype.type(sum(counts))
        return loss

    def backward(self, grad):
        p = self.p
        n_items = (p.shape[0],) + p.shape[2:]
        g = _item_grad(grad, self.reduction, self.denom, n_items, p.dtype)
        g = np.reshape(g, n_items)[:, None]
        c = p.shape[1]
        wshape = _class_shape(c, p.ndim)
        dx = dt = dw = None
        need_w = len(self.needs_input_grad) > 2 and self.needs_input_grad[2]
        if self.probs:
            if self.needs_input_grad[0]:
                dx = p * (g * self.a.sum(axis=1, keepdims=True) * self.inv_s)
                dx -= g * self.a
            if self.needs_input_grad[1] or need_w:
                logp = self.xb - self.lse
                if self.needs_input_grad[1]:
                    dt = -(1.0 - self.eps) * g * logp
                    if self.w is not None:
                        dt *= self.w.reshape(wshape)
                if need_w:
                    axes = (0,) + tuple(range(2, p.ndim))
                    dw = -(g * self.soft * logp).sum(axis=axes)
        elif self.needs_input_grad[0]:
            gi = g * self.wy[:, None]
            valid = self.valid[:, None]
            if self.eps:
                big_a = (1.0 - self.eps) * gi + (self.eps / c) * self.wsum * g * valid
            else:
                big_a = gi
            scale, one_hot = big_a * self.inv_s, (1.0 - self.eps) * gi
            rows = _row_kernels(1, p) if p.ndim == 2 else (
                _plane_kernels(p) if self.ts.dtype == np.int64 else None)
            if rows is not None:
                dx = np.empty_like(p)
                parts = _parallel.batch_parts(p.shape[0], p.size, CE_PARALLEL_MIN_ELEMENTS)
                if p.ndim == 2:
                    _parallel.run([partial(rows.cross_entropy_backward, p[r], scale[r, 0],
                                           self.ts[r, 0], one_hot[r, 0], dx[r]) for r in parts])
                else:   # (N, C, M) planes
                    n = p.shape[0]
                    planes, out = p.reshape(n, c, -1), dx.reshape(n, c, -1)
                    scale, ts, one_hot = (np.ascontiguousarray(a).reshape(n, -1)
                                          for a in (scale, self.ts, one_hot))
                    _parallel.run([partial(rows.cross_entropy_planes_backward, planes[r],
                                           scale[r], ts[r], one_hot[r], out[r]) for r in parts])
            else:
                dx = _parallel.map_rows(np.multiply, p, scale,
                                         minimum=CE_PARALLEL_MIN_ELEMENTS)
                picked = np.take_along_axis(dx, self.ts, axis=1) - one_hot
                np.put_along_axis(dx, self.ts, picked, axis=1)
            if self.eps:
                wv = self.w.reshape(wshape) if self.w is not None else 1.0
                dx -= (self.eps / c) * (g * valid) * wv
        if self.unbatched:
            dx = None if dx is None else dx[0]
            dt = None if dt is None else dt[0]
        grads = (dx, dt)
        return grads + (dw,) if len(self.needs_input_grad) > 2 else grads


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy (lecture 003 "Softmax": ``L_i = −f_{y_i} + log Σ_j e^{f_j}``;
    lecture 001 ``H(p, q) = −Σ p log q``; per-pixel for segmentation, lecture 003 "在每个像素上做
    F-分类交叉熵损失"; inventory C1, C2).

    ``input``: logits ``(N, C)``, ``(N, C, d1, d2, ...)`` or ``(C,)``. ``target``: class indices
    ``(N, d1, ...)`` (integer; ``ignore_index`` items contribute nothing) or class probabilities
    of the input's shape (float). ``weight`` ``(C,)`` rescales each class. With label smoothing
    ε the target becomes ``(1 − ε)·onehot + ε/C``. ``'mean'`` divides by ``Σ_i w_{y_i}`` over
    non-ignored items for index targets (torch's weighted mean) and by the number of items for
    probability targets. ``size_average`` / ``reduce`` are torch's deprecated spellings of
    ``reduction`` (every loss here accepts them where torch does).

    Lecture 003's cat image (class scores cat 3.2, car 5.1, frog -1.7; the true class is cat):

    >>> F.cross_entropy(ember.tensor([[3.2, 5.1, -1.7]]), ember.tensor([0]))
    tensor(2.0404)
    """
    op = "cross_entropy"
    _check_reduction(op, reduction)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be between 0.0 and 1.0, got "
                         f"{label_smoothing}")
    probs = target._data.dtype.kind == "f"
    if probs:
        _same_shape(op, input, target)
        c = input.shape[0] if input.ndim == 1 else input.shape[1]
        if weight is not None and tuple(weight.shape) != (c,):
            raise ValueError(f"{op}: expected weight of shape ({c},) (one per class), got shape "
                             f"{tuple(weight.shape)}")
    else:
        _check_class_target(op, input, target, weight, ignore_index)
    extra = (weight,) if weight is not None else ()
    return CrossEntropy.apply(input, target, *extra, probs=probs, ignore_index=int(ignore_index),
                              reduction=reduction, label_smoothing=float(label_smoothing))


class NLLLoss(Function):
    """``l_i = −w_{y_i}·x_{i, y_i}`` for log-probabilities ``x (N, C, *)``; backward scatters
    ``−g_i·w_{y_i}`` into the target positions."""

    def forward(self, x, target, *weight, ignore_index, reduction):
        w = weight[0] if weight else None
        xb, ts, valid, wy = _class_items(x, target, w, ignore_index)
        loss = -wy * np.take_along_axis(xb, ts, axis=1)[:, 0]
        denom = wy.sum() if w is not None else valid.sum()
        self.shape, self.ts, self.wy, self.reduction = xb.shape, ts, wy, reduction
        self.unbatched, self.denom = x.ndim == 1, x.dtype.type(denom)
        out = _reduced_array(loss, reduction, self.denom)
        return out[0] if self.unbatched and reduction == "none" else out

    def backward(self, grad):
        g = _item_grad(grad, self.reduction, self.denom, self.wy.shape, self.wy.dtype)
        g = np.reshape(g, self.wy.shape)
        dx = np.zeros(self.shape, dtype=self.wy.dtype)
        np.put_along_axis(dx, self.ts, (-g * self.wy)[:, None], axis=1)
        return (dx[0] if self.unbatched else dx), *((None,) * (len(self.needs_input_grad) - 1))


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    """Negative log-likelihood of log-probabilities (lecture 003: cross-entropy "i.e. NLL").

    ``input`` ``(N, C, *)`` or ``(C,)`` holds log-probabilities; ``target`` class indices
    ``(N, *)``; ``l_i = −w_{y_i}·input_{i, y_i}``; ``'mean'`` is ``Σ l_i / Σ w_{y_i}`` over
    non-ignored items. ``weight`` is not differentiated (as in torch).
    """
    op = "nll_loss"
    _check_reduction(op, reduction)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_class_target(op, input, target, weight, ignore_index)
    extra = (weight,) if weight is not None else ()
    return NLLLoss.apply(input, target, *extra, ignore_index=int(ignore_index),
                         reduction=reduction)


# ---------------------------------------------------------------- regression

def _weighted_reduce(op, loss, weight, input, reduction, by_weight):
    """Reduce ``loss·weight``; ``weight`` has the input's shape. torch's 'mean' divides by
    ``Σ weight`` for mse/l1 (``by_weight``) and by the element count for huber."""
    if weight is None:
        return _reduce(loss, reduction)
    if tuple(weight.shape) != tuple(input.shape):
        raise ValueError(f"{op}: expected weight of the input's shape {tuple(input.shape)}, got "
                         f"shape {tuple(weight.shape)}")
    loss = loss * weight
    if reduction == "mean" and by_weight:
        return loss.sum() / weight.sum()
    return _reduce(loss, reduction)


def _difference(op, input, target, reduction):
    _check_reduction(op, reduction)
    return input - target


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Squared error ``(x − y)²`` (lecture 001 "L2 loss for regression"; lecture 002 "最小化平方
    误差(MSE)"; inventory C4, C5). Shapes broadcast as in torch. ``weight`` (the input's shape) multiplies each
    element's loss; then ``'mean'`` is ``Σ w·l / Σ w`` (torch)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    d = _difference("mse_loss", input, target, reduction)
    return _weighted_reduce("mse_loss", d * d, weight, input, reduction, by_weight=True)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Absolute error ``|x − y|``; the gradient at ``x = y`` is 0 (the lectures' dense regression
    losses leave L1 or L2 open, and never name L1: inventory C5, C19). ``weight`` (the input's shape)
    multiplies each element's loss; then ``'mean'`` is ``Σ w·l / Σ w`` (torch)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    loss = _abs(_difference("l1_loss", input, target, reduction))
    return _weighted_reduce("l1_loss", loss, weight, input, reduction, by_weight=True)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """``0.5·d²/β`` where ``|d| < β``, else ``|d| − 0.5·β`` (``d = x − y``; β = 0 gives L1). Not
    in the lectures (inventory C19)."""
    op = "smooth_l1_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if beta < 0:
        raise ValueError(f"{op}: beta must be non-negative, got {beta}")
    d = _difference(op, input, target, reduction)
    ad = _abs(d)
    if beta == 0:
        return _reduce(ad, reduction)
    return _reduce(where(ad < beta, d * d * (0.5 / beta), ad - 0.5 * beta), reduction)


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """``0.5·d²`` where ``|d| < δ``, else ``δ·(|d| − 0.5·δ)`` (``d = x − y``), i.e.
    ``δ·smooth_l1(β = δ)``. ``weight`` (the input's shape) multiplies each element's loss;
    ``'mean'`` divides by the element count (torch)."""
    op = "huber_loss"
    if delta <= 0:
        raise ValueError(f"{op}: delta must be positive, got {delta}")
    d = _difference(op, input, target, reduction)
    ad = _abs(d)
    loss = where(ad < delta, d * d * 0.5, (ad - 0.5 * delta) * delta)
    return _weighted_reduce(op, loss, weight, input, reduction, by_weight=False)


# ---------------------------------------------------------------- binary

class BinaryCrossEntropy(Function):
    """``l = −w·(t·max(log x, −100) + (1 − t)·max(log(1 − x), −100))``.

    Backward (torch's formula): ``dx = g·w·(x − t) / max(x·(1 − x), 1e-12)`` and
    ``dt = g·w·(max(log(1 − x), −100) − max(log x, −100))``.
    """

    def forward(self, x, t, *weight, reduction):
        with np.errstate(divide="ignore"):
            lx = np.maximum(np.log(x), -100.0)
            l1x = np.maximum(np.log1p(-x), -100.0)
        loss = -(t * lx + (1.0 - t) * l1x)
        w = weight[0].astype(x.dtype, copy=False) if weight else None
        if w is not None:
            loss = loss * w
        self.x, self.t, self.w, self.lx, self.l1x = x, t, w, lx, l1x
        self.reduction, self.shape = reduction, loss.shape
        return _reduced_array(loss.astype(x.dtype, copy=False), reduction, x.dtype.type(loss.size))

    def backward(self, grad):
        x = self.x
        g = _item_grad(grad, self.reduction, x.dtype.type(int(np.prod(self.shape))), self.shape,
                       x.dtype)
        if self.w is not None:
            g = g * self.w
        dx = dt = None
        if self.needs_input_grad[0]:
            dx = unbroadcast(g * (x - self.t) / np.maximum(x * (1.0 - x), 1e-12), x.shape)
        if self.needs_input_grad[1]:
            dt = unbroadcast(g * (self.l1x - self.lx), self.t.shape)
        return (dx, dt) + ((None,) if self.w is not None else ())


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,
                         reduction="mean"):
    """Binary cross-entropy of probabilities ``input ∈ [0, 1]`` (lecture 003 "Multi-label"
    sigmoid outputs): ``l = −w·(t·log x + (1 − t)·log(1 − x))`` with each log clamped to
    ``>= −100`` as torch does, so that ``x = 0`` or ``1`` gives a finite loss. ``weight``
    broadcasts to the input and is not differentiated."""
    op = "binary_cross_entropy"
    _check_reduction(op, reduction)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _same_shape(op, input, target)
    x = input._data
    if x.size and (np.nanmin(x) < 0 or np.nanmax(x) > 1):
        raise ValueError(f"{op}: all elements of input should be between 0 and 1, got values in "
                         f"[{float(np.nanmin(x)):.4g}, {float(np.nanmax(x)):.4g}] (use "
                         f"binary_cross_entropy_with_logits for logits)")
    extra = (weight,) if weight is not None else ()
    return BinaryCrossEntropy.apply(input, target, *extra, reduction=reduction)


class BinaryCrossEntropyWithLogits(Function):
    """Stable ``l = w·((1 − t)·x + L·softplus(−x))`` with ``L = 1 + (pos_weight − 1)·t``, where
    ``softplus(−x) = log(1 + e^{−|x|}) + max(−x, 0)`` never overflows.

    Backward: ``dx = g·w·((1 − t) − L·σ(−x))``, ``dt = g·w·((pos_weight − 1)·softplus(−x) − x)``.
    """

    def forward(self, x, t, *extra, has_weight, has_pos_weight, reduction):
        w = extra[0].astype(x.dtype, copy=False) if has_weight else None
        pw = extra[-1].astype(x.dtype, copy=False) if has_pos_weight else None
        sp = np.log1p(np.exp(-np.abs(x))) + np.maximum(-x, 0)
        big_l = 1.0 + (pw - 1.0) * t if pw is not None else None
        loss = (1.0 - t) * x + (big_l * sp if big_l is not None else sp)
        if w is not None:
            loss = loss * w
        self.x, self.t, self.w, self.pw, self.sp, self.big_l = x, t, w, pw, sp, big_l
        self.reduction, self.shape, self.n_extra = reduction, loss.shape, len(extra)
        return _reduced_array(loss.astype(x.dtype, copy=False), reduction, x.dtype.type(loss.size))

    def backward(self, grad):
        x, t = self.x, self.t
        g = _item_grad(grad, self.reduction, x.dtype.type(int(np.prod(self.shape))), self.shape,
                       x.dtype)
        if self.w is not None:
            g = g * self.w
        dx = dt = None
        if self.needs_input_grad[0]:
            sig_neg = 0.5 * (1.0 - np.tanh(0.5 * x))
            local = (1.0 - t) - (self.big_l * sig_neg if self.big_l is not None else sig_neg)
            dx = unbroadcast(g * local, x.shape)
        if self.needs_input_grad[1]:
            local = (self.pw - 1.0) * self.sp - x if self.pw is not None else -x
            dt = unbroadcast(g * local, t.shape)
        return (dx, dt) + (None,) * self.n_extra


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    """Sigmoid + binary cross-entropy in one stable expression (see
    :class:`BinaryCrossEntropyWithLogits`): one independent yes/no per class, the lectures'
    multi-label tagging (inventory B3, E4). ``weight`` broadcasts to the input; ``pos_weight``
    (e.g. shape ``(C,)``, broadcast along the last dim) weighs the positive term of each class.
    Neither weight is differentiated (as in torch)."""
    op = "binary_cross_entropy_with_logits"
    _check_reduction(op, reduction)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _same_shape(op, input, target)
    extra = tuple(t for t in (weight, pos_weight) if t is not None)
    return BinaryCrossEntropyWithLogits.apply(input, target, *extra, has_weight=weight is not None,
                                              has_pos_weight=pos_weight is not None,
                                              reduction=reduction)


class Softplus(Function):
    """``log(1 + e^x)`` computed stably; backward ``σ(x)`` (smooth at 0)."""

    def forward(self, x):
        self.x = x
        return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0)

    def backward(self, grad):
        return grad * (0.5 * (1.0 + np.tanh(0.5 * self.x)))


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """Two-class logistic loss ``log(1 + exp(−y·x))`` for targets ``y ∈ {1, −1}``."""
    op = "soft_margin_loss"
    _check_reduction(op, reduction)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _same_shape(op, input, target)
    return _reduce(Softplus.apply(-(input * target)), reduction)


# ---------------------------------------------------------------- distributions

def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """Kullback-Leibler divergence ``KL(target ‖ q)`` with ``input = log q`` (lecture 002 "最小化
    相对熵"): pointwise ``t·(log t − input)`` (0 where t = 0), or ``e^t·(t − input)`` with
    ``log_target=True``. ``'batchmean'`` divides the sum by the batch size ``input.size(0)``,
    which is the true KL per sample; ``'mean'`` divides by the number of elements (torch)."""
    op = "kl_div"
    _check_reduction(op, reduction, _REDUCTIONS + ("batchmean",))
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if log_target:
        loss = exp(target) * (target - input)
    else:
        positive = target > 0
        safe = where(positive, target, 1.0)
        loss = where(positive, target * log(safe), 0.0) - target * input
    if reduction == "batchmean":
        return loss.sum() / (input.shape[0] if input.ndim else 1)
    return _reduce(loss, reduction)


def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8,
                     reduce=None, reduction="mean"):
    """Poisson negative log-likelihood of ``target`` with rate ``exp(input)`` (``log_input``)
    or ``input``: ``e^x − t·x``, or ``x − t·log(x + eps)``. ``full`` adds Stirling's
    ``t·log t − t + 0.5·log(2πt)`` where ``t > 1``."""
    op = "poisson_nll_loss"
    _check_reduction(op, reduction)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if log_input:
        loss = exp(input) - target * input
    else:
        loss = input - target * log(input + eps)
    if full:
        big = target > 1
        safe = where(big, target, 2.0)
        stirling = safe * log(safe) - safe + 0.5 * log(safe * (2 * math.pi))
        loss = loss + where(big, stirling, 0.0)
    return _reduce(loss, reduction)


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """Gaussian negative log-likelihood ``0.5·(log v + (x − t)²/v)`` (+ ``0.5·log 2π`` if
    ``full``). ``var`` has the input's shape, or it with the last dim 1 or dropped (one variance
    per sample), or a number; it is clamped to ``>= eps`` for the value only, so the gradient
    passes through unchanged (torch's convention)."""
    op = "gaussian_nll_loss"
    _check_reduction(op, reduction)
    if not isinstance(var, Tensor):
        var = Tensor._wrap(np.full(input.shape, float(var), dtype=input._data.dtype))
    if tuple(var.shape) != tuple(input.shape):
        if tuple(input.shape[:-1]) == tuple(var.shape):
            var = var.unsqueeze(-1)
        elif not (tuple(input.shape[:-1]) == tuple(var.shape[:-1]) and var.shape[-1] == 1):
            raise ValueError(f"{op}: var of shape {tuple(var.shape)} does not match input of shape "
                             f"{tuple(input.shape)}")
    if bool((var < 0).any()):
        raise ValueError(f"{op}: var has negative entries")
    v = var + (var.clamp_min(eps) - var).detach()
    d = input - target
    loss = 0.5 * (log(v) + d * d / v)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


# ---------------------------------------------------------------- margins

class MultiMargin(Function):
    """Multiclass SVM loss ``l_i = w_{y_i}/C · Σ_{j≠y_i} max(0, margin − x_{i,y_i} + x_ij)^p``.

    Backward with ``h_ij = margin − x_{i,y_i} + x_ij`` (j ≠ y_i) and
    ``s_ij = p·h_ij^{p−1}·[h_ij > 0]``: ``dx_ij = g_i·w_{y_i}/C·s_ij`` and ``dx_{i,y_i} = −Σ_j dx_ij``.
    """

    def forward(self, x, target, *weight, p, margin, reduction):
        self.unbatched = x.ndim == 1
        xb = x[None] if self.unbatched else x
        ts = (target[None] if self.unbatched else target)[:, None]
        n, c = xb.shape
        h = margin - np.take_along_axis(xb, ts, axis=1) + xb
        np.put_along_axis(h, ts, 0, axis=1)
        hp = np.maximum(h, 0)
        wy = (weight[0].astype(x.dtype)[ts[:, 0]] if weight else np.ones(n, x.dtype)) / c
        loss = wy * ((hp if p == 1 else hp * hp).sum(axis=1))
        self.h, self.ts, self.wy, self.p, self.reduction = h, ts, wy, p, reduction
        out = _reduced_array(loss.astype(x.dtype, copy=False), reduction, x.dtype.type(n))
        return out[0] if self.unbatched and reduction == "none" else out

    def backward(self, grad):
        h = self.h
        n = h.shape[0]
        g = _item_grad(grad, self.reduction, h.dtype.type(n), (n,), h.dtype)
        g = np.reshape(g, (n,)) * self.wy
        s = (h > 0).astype(h.dtype) if self.p == 1 else 2.0 * np.maximum(h, 0)
        dx = s * g[:, None]
        np.put_along_axis(dx, self.ts, -dx.sum(axis=1, keepdims=True), axis=1)
        return (dx[0] if self.unbatched else dx), *((None,) * (len(self.needs_input_grad) - 1))


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, size_average=None, reduce=None,
                      reduction="mean"):
    """Multiclass hinge / SVM loss (lecture 003 "最大间距": ``max(0, (Wx)_2 − (Wx)_1)``, "避免
    优化到负无穷"; lecture 001 score tables; inventory C3)::

        l_i = w_{y_i} / C · Σ_{j ≠ y_i} max(0, margin − x_{i, y_i} + x_ij)^p       (p = 1 or 2)

    ``input`` ``(N, C)`` or ``(C,)``; ``target`` class indices ``(N,)`` or ``()``. Note torch
    divides by C: the textbook multiclass SVM loss is ``C·l_i``.
    """
    op = "multi_margin_loss"
    _check_reduction(op, reduction)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if p not in (1, 2):
        raise ValueError(f"{op}: only p == 1 and p == 2 are supported, got p={p}")
    if input.ndim not in (1, 2):
        raise ValueError(f"{op}: expected input of shape (N, C) or (C,), got shape "
                         f"{tuple(input.shape)}")
    _check_class_target(op, input, target, weight, ignore_index=-(1 << 62))
    extra = (weight,) if weight is not None else ()
    return MultiMargin.apply(input, target, *extra, p=int(p), margin=float(margin),
                             reduction=reduction)


class MultilabelMargin(Function):
    """``l_i = Σ_{j ∈ Y_i} Σ_{k ∉ Y_i} max(0, 1 − (x_ij − x_ik)) / C``, where ``Y_i`` is the set
    of target classes listed in ``target[i]`` before the first −1."""

    def forward(self, x, target):
        self.unbatched = x.ndim == 1
        xb = x[None] if self.unbatched else x
        tb = target[None] if self.unbatched else target
        n, c = xb.shape
        listed = np.cumprod(tb >= 0, axis=1).astype(bool)
        is_target = np.zeros((n, c), dtype=bool)
        rows = np.broadcast_to(np.arange(n)[:, None], tb.shape)
        is_target[rows[listed], tb[listed]] = True
        # h[i, j, k] = 1 − x_ij + x_ik for target j and non-target k
        h = 1.0 - xb[:, :, None] + xb[:, None, :]
        pair = is_target[:, :, None] & ~is_target[:, None, :]
        active = pair & (h > 0)
        self.active, self.c = active, c
        loss = (np.where(active, h, 0).sum(axis=(1, 2)) / c).astype(x.dtype, copy=False)
        return loss[0] if self.unbatched else loss

    def backward(self, grad):
        g = np.reshape(grad, (-1, 1, 1)) * (self.active / self.c)
        dx = g.sum(axis=1) - g.sum(axis=2)
        dx = dx.astype(np.result_type(grad), copy=False)
        return (dx[0] if self.unbatched else dx), None


def multilabel_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """Multi-label hinge loss (lecture 003 multi-label "77% dog, 71% hat"): ``target (N, C)``
    lists each sample's classes, padded with −1 (only the entries before the first −1 count);
    every (target, non-target) pair pays ``max(0, 1 − (x_target − x_other))``, summed and
    divided by C."""
    op = "multilabel_margin_loss"
    _check_reduction(op, reduction)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if input.ndim not in (1, 2):
        raise ValueError(f"{op}: expected input of shape (N, C) or (C,), got shape "
                         f"{tuple(input.shape)}")
    _same_shape(op, input, target)
    c = input.shape[-1]
    t = target._data
    if t.dtype.kind not in "iu" or (t.size and (t.min() < -1 or t.max() >= c)):
        raise ValueError(f"{op}: expected integer target classes in [-1, {c - 1}] for {c} "
                         f"classes, got dtype {target.dtype}")
    return _reduce(MultilabelMargin.apply(input, target), reduction)


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None,
                         reduction="mean"):
    """``x`` where ``y = 1`` and ``max(0, margin − x)`` where ``y = −1`` (``input`` is usually a
    distance between two embeddings; lecture 002 "Siamese network")."""
    op = "hinge_embedding_loss"
    _check_reduction(op, reduction)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    zero = input * 0.0
    hinge = (margin - input).clamp_min(0)
    loss = where(target != -1, input, zero) + where(target != 1, hinge, zero)
    return _reduce(loss, reduction)


def margin_ranking_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None,
                        reduction="mean"):
    """``max(0, −y·(x1 − x2) + margin)``: x1 should rank above x2 by ``margin`` when y = 1
    (lecture 003 max-margin pair ``max(0, (Wx)_2 − (Wx)_1)`` is ``margin = 0, y = 1``)."""
    op = "margin_ranking_loss"
    _check_reduction(op, reduction)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if not (input1.ndim == input2.ndim == target.ndim):
        raise ValueError(f"{op}: expected input1, input2 and target of the same number of dims, "
                         f"got shapes {tuple(input1.shape)}, {tuple(input2.shape)}, "
                         f"{tuple(target.shape)}")
    return _reduce((-target * (input1 - input2) + margin).clamp_min(0), reduction)


def _pairwise_distance(x1, x2, p, eps):
    return norm(x1 - x2 + eps, p, dim=-1)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False,
                        size_average=None, reduce=None, reduction="mean", *, squared=False):
    """Triplet loss (lecture 002 "Triplet损失", inventory C10; FaceNet)::

        l_i = max(d(a_i, p_i) − d(a_i, n_i) + margin, 0),    d(u, v) = ‖u − v + eps‖_p

    over the last dim of ``(N, D)`` or ``(D,)`` inputs. Like torch, d is the distance itself.
    ``squared=True`` (an Ember option, not torch's) is the lecture's form, from the constraint
    ``‖f(A) − f(P)‖² − ‖f(A) − f(N)‖² + a ≤ 0``::

        L(A, P, N) = max(‖f(A) − f(P)‖² − ‖f(A) − f(N)‖² + a, 0)

    i.e. ``d²`` in place of ``d`` (torch's ``TripletMarginWithDistanceLoss`` with a squared
    pairwise distance). ``swap=True`` uses ``min(d(a, n), d(p, n))`` as the negative distance
    (Balntas et al. 2016).
    """
    op = "triplet_margin_loss"
    _check_reduction(op, reduction)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if not (anchor.ndim == positive.ndim == negative.ndim) or anchor.ndim not in (1, 2):
        raise ValueError(f"{op}: expected anchor, positive and negative of shape (N, D) or (D,), "
                         f"got {tuple(anchor.shape)}, {tuple(positive.shape)}, "
                         f"{tuple(negative.shape)}")
    if margin <= 0:
        raise ValueError(f"{op}: margin must be greater than 0, got {margin}")
    if anchor.ndim == 1:
        batched = (t.unsqueeze(0) for t in (anchor, positive, negative))
        return triplet_margin_loss(*batched, margin, p, eps, swap, reduction=reduction,
                                   squared=squared).squeeze(0)

    def distance(u, v):
        d = _pairwise_distance(u, v, p, eps)
        return d * d if squared else d
    d_pos = distance(anchor, positive)
    d_neg = distance(anchor, negative)
    if swap:
        d_neg = minimum(d_neg, distance(positive, negative))
    return _reduce((d_pos - d_neg + margin).clamp_min(0), reduction)


def cosine_embedding_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None,
                          reduction="mean"):
    """``1 − cos(x1, x2)`` where ``y = 1``, ``max(0, cos(x1, x2) − margin)`` where ``y = −1``;
    ``cos = Σ x1·x2 / sqrt((Σ x1² + 1e-12)·(Σ x2² + 1e-12))`` over the last dim."""
    op = "cosine_embedding_loss"
    _check_reduction(op, reduction)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if tuple(input1.shape) != tuple(input2.shape) or input1.ndim not in (1, 2):
        raise ValueError(f"{op}: expected input1 and input2 of the same shape (N, D) or (D,), got "
                         f"{tuple(input1.shape)} and {tuple(input2.shape)}")
    dot = (input1 * input2).sum(-1)
    mag = ((input1 * input1).sum(-1) + 1e-12) * ((input2 * input2).sum(-1) + 1e-12)
    cos = dot / sqrt(mag)
    zero = cos * 0.0
    hinge = (cos - margin).clamp_min(0)
    loss = where(target == 1, 1.0 - cos, zero) + where(target == -1, hinge, zero)
    return _reduce(loss, reduction)

