"""Compiled row-wise passes in float32: softmax and log-softmax (``ember.ops.activation``) along
the last axis, and the shifted exponentials of the cross-entropy (``ember.ops.loss``).

Each is a few tight loops over a row, instead of one NumPy call (and one pass over memory)
per operation of the formula. Not bit for bit: the row sums are taken as 8 running partial
sums combined pairwise (NumPy's ``sum`` and the BLAS GEMV the NumPy code uses each have an
order of their own), and ``exp`` is :func:`ember.kernels.mathfn.exp32` (within one ulp, NumPy's
within 2.3). A sum of ``n`` positive terms then differs from NumPy's by at most about
``2·n·u`` relative (u = 2^-24), and each result by that plus a few ulp; ``tests/kernels``
holds every kernel to that bound. Maxima are exact (NaN propagates as in ``np.max``).
Indices are flat and unsigned (see ``ember.kernels.conv``).
"""
import math

import numpy as np

from ember.kernels._jit import inline, kernel
from ember.kernels.mathfn import exp32


@inline
def _row_max(values, base, n):
    """``max(values[base : base + n])`` over 8 running lanes, NaN if any element is NaN (as
    ``np.max``); the NaN test is a separate flag so that the lanes stay plain compares."""
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = np.float32(-np.inf)
    nan = False
    blocks = n // 8
    for b in range(blocks):
        at = base + np.uint64(8 * b)
        v0, v1 = values[at], values[at + np.uint64(1)]
        v2, v3 = values[at + np.uint64(2)], values[at + np.uint64(3)]
        v4, v5 = values[at + np.uint64(4)], values[at + np.uint64(5)]
        v6, v7 = values[at + np.uint64(6)], values[at + np.uint64(7)]
        a0 = v0 if v0 > a0 else a0
        a1 = v1 if v1 > a1 else a1
        a2 = v2 if v2 > a2 else a2
        a3 = v3 if v3 > a3 else a3
        a4 = v4 if v4 > a4 else a4
        a5 = v5 if v5 > a5 else a5
        a6 = v6 if v6 > a6 else a6
        a7 = v7 if v7 > a7 else a7
        nan = nan | ((v0 != v0) | (v1 != v1) | (v2 != v2) | (v3 != v3)
                     | (v4 != v4) | (v5 != v5) | (v6 != v6) | (v7 != v7))
    for i in range(8 * blocks, n):
        v = values[base + np.uint64(i)]
        a0 = v if v > a0 else a0
        nan = nan | (v != v)
    if nan:
        return np.float32(np.nan)
    return max(max(max(a0, a1), max(a2, a3)), max(max(a4, a5), max(a6, a7)))


@inline
def _row_sum(values, base, n):
    """``Σ values[base : base + n]`` as 8 running partial sums, combined pairwise."""
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = np.float32(0)
    blocks = n // 8
    for b in range(blocks):
        at = base + np.uint64(8 * b)
        a0 += values[at]
        a1 += values[at + np.uint64(1)]
        a2 += values[at + np.uint64(2)]
        a3 += values[at + np.uint64(3)]
        a4 += values[at + np.uint64(4)]
        a5 += values[at + np.uint64(5)]
        a6 += values[at + np.uint64(6)]
        a7 += values[at + np.uint64(7)]
    for i in range(8 * blocks, n):
        a0 += values[base + np.uint64(i)]
    return ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))


@inline
def _exp_of_shifted_row(values, result, base, n):
    """``result[base : base + n] = exp(values − top)`` with ``top`` the row's maximum; returns
    ``(top, Σ result)`` over the row: the first passes of softmax, log-softmax and the
    cross-entropy."""
    top = _row_max(values, base, n)
    for i in range(n):
        result[base + np.uint64(i)] = exp32(values[base + np.uint64(i)] - top)
    return top, _row_sum(result, base, n)


@kernel
def softmax_forward(x, out):
    """``out = exp(x − max) / Σ exp(x − max)`` per row of x (R, n), as ``Softmax.forward``."""
    rows, n = x.shape
    values, result = x.reshape(-1), out.reshape(-1)
    for r in range(rows):
        base = np.uint64(r * n)
        _, total = _exp_of_shifted_row(values, result, base, n)
        for i in range(n):
            result[base + np.uint64(i)] = result[base + np.uint64(i)] / total


@kernel
def softmax_backward(grad, y, out):
    """``out = g·y − y·Σ(g·y)`` per row, as ``Softmax.backward`` (``scale = 1``)."""
    rows, n = grad.shape
    upstream, probs, result = grad.reshape(-1), y.reshape(-1), out.reshape(-1)
    for r in range(rows):
        base = np.uint64(r * n)
        for i in range(n):
            result[base + np.uint64(i)] = upstream[base + np.uint64(i)] * probs[base + np.uint64(i)]
        total = _row_sum(result, base, n)
        for i in range(n):
            at = base + np.uint64(i)
            result[at] = result[at] - probs[at] * total


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
