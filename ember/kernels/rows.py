"""Compiled row-wise passes in float32: softmax and log-softmax (``ember.ops.activation``) along
the last axis, and the shifted exponentials of the cross-entropy (``ember.ops.loss``).

Each is a few tight loops over a row, instead of one NumPy call (and one pass over memory)
per operation of the formula. Not bit for bit: the row sums are taken in 16 vector lanes
added pairwise (``ember.kernels.lanes``; NumPy's ``sum`` and the BLAS GEMV the NumPy code uses
each have an order of their own), and ``exp`` is :func:`ember.kernels.mathfn.exp32` (within
1.03 ulp, NumPy's within 2.3). A sum of ``n`` positive terms then differs from NumPy's by at most about
``2·n·u`` relative (u = 2^-24), and each result by that plus a few ulp; ``tests/kernels``
holds every kernel to that bound. Maxima are exact (NaN propagates as in ``np.max``), also
taken in 16 lanes. The input gradient of the cross-entropy is bit for bit.
Indices are flat and unsigned (see ``ember.kernels.conv``).
"""
import math

import numpy as np

from ember.kernels._jit import inline, kernel
from ember.kernels.lanes import run_max as _row_max
from ember.kernels.lanes import run_min
from ember.kernels.lanes import run_sum as _row_sum
from ember.kernels.mathfn import NORMAL_FLOOR, exp32, exp32_normal


@inline
def _exp_of_shifted_row(values, result, base, n):
    """``result[base : base + n] = exp(values − top)`` with ``top`` the row's maximum; returns
    ``(top, Σ result)`` over the row: the first passes of softmax, log-softmax and the
    cross-entropy."""
    top = _row_max(values, base, n)
    if run_min(values, base, n) - top >= NORMAL_FLOOR:      # false for a row with inf or NaN
        # every shifted value lies in [NORMAL_FLOOR, 0]: the same exponentials, cheaper (the
        # cross-entropy's 1024 rows of 1000, one thread: 0.63 -> 0.48 ms)
        for i in range(n):
            result[base + np.uint64(i)] = exp32_normal(values[base + np.uint64(i)] - top)
    else:
        for i in range(n):
            result[base + np.uint64(i)] = exp32(values[base + np.uint64(i)] - top)
    return top, _row_sum(result, base, n)


@inline
def softmax_row(values, result, base, n):
    """``result[base : base + n] = exp(v − max) / Σ exp(v − max)`` of ``values[base : base +
    n]`` (``result`` may be ``values``)."""
    _, total = _exp_of_shifted_row(values, result, base, n)
    for i in range(n):
        result[base + np.uint64(i)] = result[base + np.uint64(i)] / total


@inline
def softmax_backward_row(upstream, probs, result, base, n):
    """``result = g·y − y·Σ(g·y)`` over ``[base, base + n)`` (``result`` may be ``upstream``)."""
    for i in range(n):
        result[base + np.uint64(i)] = upstream[base + np.uint64(i)] * probs[base + np.uint64(i)]
    total = _row_sum(result, base, n)
    for i in range(n):
        at = base + np.uint64(i)
        result[at] = result[at] - probs[at] * total


@kernel
def softmax_forward(x, out):
    """``out = exp(x − max) / Σ exp(x − max)`` per row of x (R, n), as ``Softmax.forward``."""
    rows, n = x.shape
    values, result = x.reshape(-1), out.reshape(-1)
    for r in range(rows):
        softmax_row(values, result, np.uint64(r * n), n)


@kernel
def softmax_backward(grad, y, out):
    """``out = g·y − y·Σ(g·y)`` per row, as ``Softmax.backward`` (``scale = 1``)."""
    rows, n = grad.shape
    upstream, probs, result = grad.reshape(-1), y.reshape(-1), out.reshape(-1)
    for r in range(rows):
        softmax_backward_row(upstream, probs, result, np.uint64(r * n), n)


@kernel
def log_softmax_forward(x, out):
    """``out = (x − max) − log Σ exp(x − max)`` per row, as ``LogSoftmax.forward`` (the
    exponentials pass through ``out`` before it is overwritten)."""
    rows, n = x.shape
    values, result = x.reshape(-1), out.reshape(-1)
    for r in range(rows):
        base = np.uint64(r * n)
        top, total = _exp_of_shifted_row(values, result, base, n)
        log_total = np.float32(math.log(total))
        for i in range(n):
            result[base + np.uint64(i)] = (values[base + np.uint64(i)] - top) - log_total


@kernel
def log_softmax_backward(grad, y, out):
    """``out = g − exp(y)·Σg`` per row, as ``LogSoftmax.backward``."""
    rows, n = grad.shape
    upstream, logs, result = grad.reshape(-1), y.reshape(-1), out.reshape(-1)
    for r in range(rows):
        base = np.uint64(r * n)
        total = _row_sum(upstream, base, n)
        for i in range(n):
            at = base + np.uint64(i)
            result[at] = upstream[at] - exp32(logs[at]) * total


@kernel
def shifted_exp(x, top, p, total):
    """``top = max``, ``p = exp(x − top)``, ``total = Σ p`` per row of x (R, n), as
    ``ember.ops.loss._shifted_exp`` (``top`` and ``total`` are (R,) here)."""
    rows, n = x.shape
    values, shifted = x.reshape(-1), p.reshape(-1)
    for r in range(rows):
        top[r], total[r] = _exp_of_shifted_row(values, shifted, np.uint64(r * n), n)


@kernel
def cross_entropy_forward(x, target, ignore_index, p, inv_total, item):
    """The per-item cross-entropy of ``ember.ops.loss.CrossEntropy`` for class indices without
    class weights or label smoothing, per row r of x (R, n) in one pass: ``p = exp(x − top)``
    and ``inv_total[r] = 1 / Σ p`` (kept for the backward), ``item[r] = w_r·((top + log Σ p)
    − x[r, y_r])`` with ``w_r`` 1, or 0 when ``y_r`` is ``ignore_index`` (then class 0 stands
    in for it, as in the NumPy code). Returns the number of rows not ignored. Equal to the
    NumPy code to float32 rounding (its exp and log; every other operation is the same)."""
    rows, n = x.shape
    values, shifted = x.reshape(-1), p.reshape(-1)
    one, zero = np.float32(1.0), np.float32(0.0)
    count = 0
    for r in range(rows):
        base = np.uint64(r * n)
        top, total = _exp_of_shifted_row(values, shifted, base, n)
        inv_total[r] = one / total
        lse = top + np.float32(math.log(total))
        valid = target[r] != ignore_index
        safe = target[r] if valid else 0
        if safe < 0 or safe >= n:           # the caller checks targets: never out of bounds
            item[r] = np.float32(np.nan)
            continue
        weight = one if valid else zero
        item[r] = weight * (lse - values[base + np.uint64(safe)])
        count += valid
    return count


@kernel
def cross_entropy_planes_forward(x, target, ignore_index, p, inv_total, item):
    """:func:`cross_entropy_forward` over the class axis of x (N, C, M) (a per-pixel loss: M
    positions per sample, each reduced over C values M apart; target, inv_total and item are
    (N, M)). The loops run over the contiguous positions innermost; the sum over classes
    goes in class order, as NumPy's reduction over axis 1 does. Returns the number of
    positions not ignored. Equal to the NumPy code to float32 rounding (its exp and log)."""
    samples, classes, positions = x.shape
    one, zero = np.float32(1.0), np.float32(0.0)
    top = np.empty(positions, x.dtype)
    total = np.empty(positions, x.dtype)
    count = 0
    for n in range(samples):
        for m in range(positions):
            top[m] = x[n, 0, m]
        for c in range(1, classes):
            for m in range(positions):
                v = x[n, c, m]
                top[m] = v if (v != v) or (v > top[m]) else top[m]
        for m in range(positions):
            e = exp32(x[n, 0, m] - top[m])
            p[n, 0, m] = e
            total[m] = e
        for c in range(1, classes):
            for m in range(positions):
                e = exp32(x[n, c, m] - top[m])
                p[n, c, m] = e
                total[m] = total[m] + e
        for m in range(positions):
            inv_total[n, m] = one / total[m]
            lse = top[m] + np.float32(math.log(total[m]))
            valid = target[n, m] != ignore_index
            safe = target[n, m] if valid else 0
            if safe < 0 or safe >= classes:     # the caller checks targets
                item[n, m] = np.float32(np.nan)
                continue
            weight = one if valid else zero
            item[n, m] = weight * (lse - x[n, safe, m])
            count += valid
    return count


@kernel
def cross_entropy_planes_backward(p, scale, target, picked, out):
    """:func:`cross_entropy_backward` over the class axis of p (N, C, M) (scale, target and
    picked are (N, M)): ``out = p·scale``, then ``out[n, target, m] −= picked``; bit for bit."""
    samples, classes, positions = p.shape
    for n in range(samples):
        for c in range(classes):
            for m in range(positions):
                out[n, c, m] = p[n, c, m] * scale[n, m]
        for m in range(positions):
            t = target[n, m]
            out[n, t, m] = out[n, t, m] - picked[n, m]


@kernel
def cross_entropy_backward(p, scale, target, picked, out):
    """``out = p·scale`` per row of p (R, n), then ``out[r, target[r]] −= picked[r]``: the input
    gradient of ``ember.ops.loss.CrossEntropy`` for class indices in one pass, by the float32
    operations of its NumPy code in the same order (bit for bit). ``scale`` (R,) is
    ``A_r / Σ_r`` and ``picked`` (R,) the one-hot part ``(1 − ε)·g_r·w_{y_r}``."""
    rows, n = p.shape
    probs, result = p.reshape(-1), out.reshape(-1)
    for r in range(rows):
        base = np.uint64(r * n)
        factor = scale[r]
        for i in range(n):
            result[base + np.uint64(i)] = probs[base + np.uint64(i)] * factor
        at = base + np.uint64(target[r])
        result[at] = result[at] - picked[r]
