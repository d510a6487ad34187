"""Compiled training-mode batch normalization (``ember.ops.norm.BatchNorm``), which also serves
layer, group and instance norm (they standardize the channels of an (1, rows, L) view): the
statistics, the centred input and the output of a block of channels in one call, and the
backward's two sums and dX likewise, instead of a NumPy pass per operation.

The float operations are the NumPy code's, in its order, except the sums over a channel's
N·L elements: the mean's float64 sum and the float32 sums of the variance and the backward run
in 16 vector lanes over the whole blocks of 16 of each run (``ember.kernels.lanes``
``strided_*``: one vector instruction per 16 values instead of scalar partial sums; batch norm
over ResNet-18's (32, 64, 32, 32) on one core: forward 2.29 → 1.32 ms, backward 2.37 → 1.86
ms), combined pairwise, then each run's last ``L mod 16`` values one by one. NumPy sums pairwise (``einsum`` in an order of its own), so results agree to
float32 rounding: a sum of ``M`` terms by at most ``(M − 1)·u`` relative to the sum of their
magnitudes, each way (``tests/kernels``).
"""
import math

import numpy as np

from ember.kernels._jit import inline, kernel
from ember.kernels.lanes import LANES, run_sum, strided_dot, strided_sum, strided_sum64


@inline
def _channel_sums(a, b, c, batch, channels, length, squares):
    """``Σ a·b`` (``squares``: ``Σ a·a``) over the N·L elements of channel ``c`` of the (N, C, L)
    arrays (flat ``a``, ``b``): 16 lanes over the whole blocks of each run (``strided_dot``),
    then the last ``L mod 16`` elements of each run one by one."""
    blocks = length // LANES
    other = a if squares else b
    total = strided_dot(a, other, c * length, channels * length, batch, blocks)
    for n in range(batch):
        base = (n * channels + c) * length
        for i in range(LANES * blocks, length):
            at = np.uint64(base + i)
            total += a[at] * other[at]
    return total


@inline
def _plus_tails(total, a, c, batch, channels, length):
    """``total`` plus the last ``L mod 16`` values of each run of channel ``c``, one by one, in
    ``total``'s dtype (a float64 total widens each value exactly)."""
    for n in range(batch):
        base = (n * channels + c) * length
        for i in range(LANES * (length // LANES), length):
            total += a[np.uint64(base + i)]
    return total


@inline
def _channel_total(a, c, batch, channels, length):
    """``Σ a`` over channel ``c`` in ``a``'s dtype (16 lanes, then the tails)."""
    total = strided_sum(a, c * length, channels * length, batch, length // LANES)
    return _plus_tails(total, a, c, batch, channels, length)


@inline
def _channel_total64(a, c, batch, channels, length):
    """``Σ a`` over channel ``c`` accumulated in float64 (16 lanes, then the tails)."""
    total = strided_sum64(a, c * length, channels * length, batch, length // LANES)
    return _plus_tails(total, a, c, batch, channels, length)


@kernel
def batch_norm_forward(x, first, stop, eps, weight, bias, out, centred, mean, var, invstd):
    """Channels ``first ≤ c < stop`` of x (N, C, L): ``mean`` (float64 sum / M, stored in x's
    dtype), ``centred = x − mean``, ``var = Σ centred² / M``, ``invstd = 1 / √(var + eps)``,
    ``out = centred · invstd·weight (+ bias)``, as ``BatchNorm.forward`` in training mode."""
    batch, channels, length = x.shape
    values, xc, result = x.reshape(-1), centred.reshape(-1), out.reshape(-1)
    dt = x.dtype.type
    count = batch * length
    for c in range(first, stop):
        mu = dt(_channel_total64(values, c, batch, channels, length) / count)
        mean[c] = mu
        for n in range(batch):
            base = np.uint64((n * channels + c) * length)
            for i in range(length):
                xc[base + np.uint64(i)] = values[base + np.uint64(i)] - mu
        v = _channel_sums(xc, xc, c, batch, channels, length, True) / dt(count)
        var[c] = v
        inv = dt(1.0) / math.sqrt(v + dt(eps))
        invstd[c] = inv
        scale = inv if weight is None else inv * weight[c]
        for n in range(batch):
            base = np.uint64((n * channels + c) * length)
            for i in range(length):
                y = xc[base + np.uint64(i)] * scale
                result[base + np.uint64(i)] = y if bias is None else y + bias[c]


@kernel
def batch_norm_backward(dy, centred, first, stop, invstd, gamma, sum_dy, sum_dy_xc, dx):
    """Channels ``first ≤ c < stop``: ``sum_dy = Σ dy``, ``sum_dy_xc = Σ dy·(x − μ)`` and, when
    ``dx`` is not empty, ``dx = (dy − ((x − μ)·σ⁻²·Σ(dy·(x − μ))/M + Σdy/M))·γσ⁻¹``, as
    ``BatchNorm.backward`` in training mode."""
    batch, channels, length = dy.shape
    upstream, xc, result = dy.reshape(-1), centred.reshape(-1), dx.reshape(-1)
    dt = dy.dtype.type
    count = batch * length
    for c in range(first, stop):
        total = _channel_total(upstream, c, batch, channels, length)
        moment = _channel_sums(upstream, xc, c, batch, channels, length, False)
        sum_dy[c] = total
        sum_dy_xc[c] = moment
        if result.shape[0] == 0:
            continue
        inv = invstd[c]
        slope = inv * inv * moment / dt(count)
        shift = total / dt(count)
        scale = gamma[c] * inv
        for n in range(batch):
            base = np.uint64((n * channels + c) * length)
            for i in range(length):
                at = base + np.uint64(i)
                result[at] = (upstream[at] - (xc[at] * slope + shift)) * scale


@kernel
def layer_norm_forward(x, eps, weight, bias, out, centred, invstd):
    """Per row of ``x`` (R, m) float32, as ``ember.ops.norm.LayerNorm.forward``: ``μ = Σx/m``,
    ``centred = x − μ``, ``σ² = Σ centred²/m``, ``invstd = 1/√(σ² + eps)``, ``out =
    (centred·invstd)·weight + bias`` (``weight``, ``bias`` (m,) or None). The row sums run in
    16 lanes added pairwise (``ember.kernels.lanes``), one pass per row instead of the
    per-channel passes of :func:`batch_norm_forward`, which cost more than the arithmetic on
    rows of a few dozen values."""
    rows, m = x.shape
    values, xc, result = x.reshape(-1), centred.reshape(-1), out.reshape(-1)
    squares = np.empty(m, np.float32)
    count = np.float32(m)
    eps32 = np.float32(eps)
    for r in range(rows):
        base = np.uint64(r * m)
        mu = run_sum(values, base, m) / count
        for i in range(m):
            d = values[base + np.uint64(i)] - mu
            xc[base + np.uint64(i)] = d
            squares[i] = d * d
        inv = np.float32(1) / np.sqrt(run_sum(squares, 0, m) / count + eps32)
        invstd[r] = inv
        for i in range(m):
            y = xc[base + np.uint64(i)] * inv
            if weight is not None:
                y = y * weight[i]
            if bias is not None:
                y = y + bias[i]
            result[base + np.uint64(i)] = y


@kernel
def layer_norm_backward(dy, centred, invstd, weight, dx, dw, db):
    """The gradients of :func:`layer_norm_forward` (``ember.ops.norm.LayerNorm.backward``): per
    row, ``dx̂ = dy·weight``, ``dx = (dx̂ − (centred·σ⁻²·Σ(dx̂·centred)/m + Σdx̂/m))·σ⁻¹`` (the row
    sums in 16 lanes); over the rows, in order, ``dw += dy·(centred·σ⁻¹)`` and ``db += dy``.
    ``weight``, ``dx``, ``dw``, ``db`` may be None."""
    rows, m = dy.shape
    upstream, xc = dy.reshape(-1), centred.reshape(-1)
    scaled = np.empty(m, np.float32)
    products = np.empty(m, np.float32)
    count = np.float32(m)
    if dw is not None:
        dw[:] = 0
    if db is not None:
        db[:] = 0
    for r in range(rows):
        base = np.uint64(r * m)
        inv = invstd[r]
        if dx is not None:
            result = dx.reshape(-1)
            for i in range(m):
                g = upstream[base + np.uint64(i)]
                if weight is not None:
                    g = g * weight[i]
                scaled[i] = g
                products[i] = g * xc[base + np.uint64(i)]
            slope = inv * inv * run_sum(products, 0, m) / count
            shift = run_sum(scaled, 0, m) / count
            for i in range(m):
                at = base + np.uint64(i)
                result[at] = (scaled[i] - (xc[at] * slope + shift)) * inv
        if dw is not None:
            for i in range(m):
                at = base + np.uint64(i)
                dw[i] += upstream[at] * (xc[at] * inv)
        if db is not None:
            for i in range(m):
                db[i] += upstream[base + np.uint64(i)]
