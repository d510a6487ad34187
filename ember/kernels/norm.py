"""Compiled training-mode batch normalization (``ember.ops.norm.BatchNorm``), which also serves
layer, group and instance norm (they standardize the channels of an (1, rows, L) view): the
statistics, the centred input and the output of a block of channels in one call, and the
backward's two sums and dX likewise, instead of a NumPy pass per operation.

The float operations are the NumPy code's, in its order, except the sums over a channel's
N·L elements: the mean's float64 sum and the float32 sums of the variance and the backward run
as 8 partial sums combined pairwise (NumPy sums pairwise, ``einsum`` in an order of its own),
so results agree to float32 rounding: a sum of ``M`` terms by at most ``(M − 1)·u`` relative
to the sum of their magnitudes, each way (``tests/kernels``).
"""
import math

import numpy as np

from ember.kernels._jit import inline, kernel


@inline
def _channel_sums(a, b, c, batch, channels, length, squares):
    """Over the N·L elements of channel ``c`` of the (N, C, L) arrays (flat ``a``, ``b``): 8
    running float32 partial sums of ``a·b`` (``squares``: ``a·a``), combined pairwise."""
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = a.dtype.type(0)
    blocks = length // 8
    for n in range(batch):
        base = np.uint64((n * channels + c) * length)
        for k in range(blocks):
            at = base + np.uint64(8 * k)
            if squares:
                s0 += a[at] * a[at]
                s1 += a[at + np.uint64(1)] * a[at + np.uint64(1)]
                s2 += a[at + np.uint64(2)] * a[at + np.uint64(2)]
                s3 += a[at + np.uint64(3)] * a[at + np.uint64(3)]
                s4 += a[at + np.uint64(4)] * a[at + np.uint64(4)]
                s5 += a[at + np.uint64(5)] * a[at + np.uint64(5)]
                s6 += a[at + np.uint64(6)] * a[at + np.uint64(6)]
                s7 += a[at + np.uint64(7)] * a[at + np.uint64(7)]
            else:
                s0 += a[at] * b[at]
                s1 += a[at + np.uint64(1)] * b[at + np.uint64(1)]
                s2 += a[at + np.uint64(2)] * b[at + np.uint64(2)]
                s3 += a[at + np.uint64(3)] * b[at + np.uint64(3)]
                s4 += a[at + np.uint64(4)] * b[at + np.uint64(4)]
                s5 += a[at + np.uint64(5)] * b[at + np.uint64(5)]
                s6 += a[at + np.uint64(6)] * b[at + np.uint64(6)]
                s7 += a[at + np.uint64(7)] * b[at + np.uint64(7)]
        for i in range(8 * blocks, length):
            at = base + np.uint64(i)
            s0 += a[at] * (a[at] if squares else b[at])
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


@inline
def _channel_total(a, c, batch, channels, length, accumulate):
    """``Σ a`` over channel ``c`` as 8 running partial sums of dtype ``accumulate``."""
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = accumulate(0)
    blocks = length // 8
    for n in range(batch):
        base = np.uint64((n * channels + c) * length)
        for k in range(blocks):
            at = base + np.uint64(8 * k)
            s0 += accumulate(a[at])
            s1 += accumulate(a[at + np.uint64(1)])
            s2 += accumulate(a[at + np.uint64(2)])
            s3 += accumulate(a[at + np.uint64(3)])
            s4 += accumulate(a[at + np.uint64(4)])
            s5 += accumulate(a[at + np.uint64(5)])
            s6 += accumulate(a[at + np.uint64(6)])
            s7 += accumulate(a[at + np.uint64(7)])
        for i in range(8 * blocks, length):
            s0 += accumulate(a[base + np.uint64(i)])
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


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
        mu = dt(_channel_total(values, c, batch, channels, length, np.float64) / count)
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
        total = _channel_total(upstream, c, batch, channels, length, dt)
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
