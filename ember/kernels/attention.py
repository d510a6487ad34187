"""Scaled dot-product attention of one (sample, head) at a time, every product and the softmax
in one compiled pass over cache-resident matrices (``ember.ops.attention``).

The NumPy code runs each of the six products of the forward and backward passes as one
batched ``matmul`` over all (sample, head) pairs (ViT-small: 256 separate GEMMs of 65x16 by
16x65 per call, 0.35-0.8 ms on one core) and the softmax as a pass per row of 65 scores, where
the per-row work (a max, a sum and three loops of four vectors) costs more than the
arithmetic. Here each pair's products run as register tiles
(``ember.kernels.tiles.product_rows``) on matrices that stay in cache, and the scores are kept
*transposed*, one row per key and one column per query (``Sᵀ``, S x Lp): the softmax over the
keys then runs down the columns, 16 queries per vector, with no horizontal reductions.

Layouts: ``B`` pairs of ``q`` (L, D), ``k`` (S, D), ``v`` (S, Dv), ``D`` and ``Dv`` multiples of
16, each matrix given by the offset of its first row and a row stride in a flat array (a
(B, L, D) array, or the heads of a packed projection read in place); the probabilities are
kept as ``pt`` (B, S, Lp), ``pt[b, j, i] = p[b, i, j]``, with ``Lp`` = L rounded up to 16
(columns past L are padding). Each product's sums run in a fixed order by
fused multiply-adds (given with each step), and each softmax sum runs over the keys in order:
the same results on every CPU.
"""
import numpy as np

from ember.kernels._jit import inline, kernel
from ember.kernels.mathfn import NORMAL_FLOOR, exp32, exp32_normal
from ember.kernels.tiles import LANES, product_rows


@inline
def _transpose_rows(a, base, stride, rows, cols, factor, out, width):
    """``out[d·width + i] = a[base + i·stride + d]·factor`` for ``i < rows``, ``d < cols``: rows
    of a flat array transposed into rows of ``width`` (the columns past ``rows`` are left as
    they are)."""
    for i in range(rows):
        at = base + i * stride
        for d in range(cols):
            out[np.uint64(d * width + i)] = a[np.uint64(at + d)] * factor


@inline
def _softmax_columns(s, pt, base, keys, width, count, top, low, total):
    """``pt[base + j·width + i] = exp(s_ji − max_j s_ji) / Σ_j exp(s_ji − max_j s_ji)`` for the
    ``count`` columns ``i`` of ``s`` (keys x width): the softmax of each query's scores, 16
    columns per vector. The maxima are exact (NaN propagates), the sum runs over j in order.
    When every valid column's values lie within 87 of its maximum, ``exp32_normal`` (the same
    values, without the subnormal and inf/NaN handling), else ``exp32``."""
    for i in range(width):
        top[i] = s[i]
        low[i] = s[i]
        total[i] = 0
    for j in range(1, keys):
        row = np.uint64(j * width)
        for i in range(width):
            v = s[row + np.uint64(i)]
            top[i] = v if (v > top[i]) or (v != v) else top[i]
            low[i] = v if (v < low[i]) or (v != v) else low[i]
    normal = True
    for i in range(count):
        if not (low[i] - top[i] >= NORMAL_FLOOR):
            normal = False
    for j in range(keys):
        row = np.uint64(j * width)
        out = np.uint64(base + j * width)
        if normal:
            for i in range(width):
                e = exp32_normal(s[row + np.uint64(i)] - top[i])
                pt[out + np.uint64(i)] = e
                total[i] += e
        else:
            for i in range(width):
                e = exp32(s[row + np.uint64(i)] - top[i])
                pt[out + np.uint64(i)] = e
                total[i] += e
    for j in range(keys):
        out = np.uint64(base + j * width)
        for i in range(width):
            pt[out + np.uint64(i)] = pt[out + np.uint64(i)] / total[i]


@inline
def _dropped(probs, base, noise, b, keys, width, scratch):
    """The attention weights of pair ``b`` after dropout, as (array, offset): ``probs`` itself
    without ``noise``, else ``scratch = p·noise[b]`` (both (keys, width), transposed)."""
    if noise is None:
        return probs, base
    drop = noise[b].reshape(-1)
    for i in range(keys * width):
        scratch[i] = probs[base + i] * drop[i]
    return scratch, 0


@kernel
def forward(q, q_base, q_stride, k, k_base, k_stride, v, v_base, v_stride, length, keys, dim,
            dim_v, scale, noise, pt, out, o_base, o_stride):
    """For every pair ``b``: ``p = softmax((scale·Q) Kᵀ)`` over the keys, stored transposed in
    ``pt[b]``, and ``O = (p·noise) V`` (``noise`` (B, S, Lp) transposed like ``pt``: dropout's
    scaled keep-mask, or None). Row ``i`` of pair ``b``'s Q is ``q[q_base[b] + i·q_stride :
    +dim]`` (K, V and O likewise, in the flat float32 arrays ``k``, ``v``, ``out``), so the
    heads of a packed projection are read and written in place. Sums: ``Σ_d k[j, d]
    (scale·q)[i, d]`` in order of d, ``Σ_j p[i, j] v[j, :]`` in order of j."""
    width = pt.shape[2]
    dropped = np.empty(keys * width, np.float32)
    qt = np.zeros(dim * width, np.float32)
    scores = np.empty(keys * width, np.float32)
    top, low, total = (np.empty(width, np.float32), np.empty(width, np.float32),
                       np.empty(width, np.float32))
    by_dim = np.arange(dim) * width
    by_key = np.arange(keys) * v_stride
    probs = pt.reshape(-1)
    for b in range(pt.shape[0]):
        _transpose_rows(q, q_base[b], q_stride, length, dim, scale, qt, width)
        product_rows(qt, 0, by_dim, k, k_base[b], 1, k_stride, keys, scores, 0, width,
                     width // LANES)
        _softmax_columns(scores, probs, b * keys * width, keys, width, length, top, low, total)
        weights, base = _dropped(probs, b * keys * width, noise, b, keys, width, dropped)
        product_rows(v, v_base[b], by_key, weights, base, width, 1, length, out, o_base[b],
                     o_stride, dim_v // LANES)


@inline
def _scale_rows(a, base, stride, rows, cols, factor):
    for i in range(rows):
        at = base + i * stride
        for d in range(cols):
            a[np.uint64(at + d)] = a[np.uint64(at + d)] * factor


@kernel
def backward(q, q_base, q_stride, k, k_base, k_stride, v, v_base, v_stride, length, keys, dim,
             dim_v, noise, pt, grad, g_base, g_stride, scale, dq, dk, dv):
    """The gradients of :func:`forward` for the output gradient ``grad`` (rows at ``g_base[b] +
    i·g_stride``), as ``ember.ops.attention.ScaledDotProductAttention.backward``: ``dV =
    (p·noise)ᵀ dO`` (sums over the queries in order), ``dp = (dO Vᵀ)·noise`` (over Dv in order),
    ``ds = p·dp − p·Σ_j(p·dp)`` (over the keys in order), ``dQ = (ds K)·scale`` (over the keys
    in order), ``dK = (dsᵀ Q)·scale`` (over the queries in order). ``dq``, ``dk``, ``dv`` are
    flat arrays laid out as ``q``, ``k``, ``v`` (the same bases and strides; they may be one
    array), or None (not computed)."""
    width = pt.shape[2]
    gt = np.zeros(dim_v * width, np.float32)
    dpt = np.empty(keys * width, np.float32)
    dst = np.empty(keys * width, np.float32)
    total = np.empty(width, np.float32)
    by_query_g = np.arange(length) * g_stride
    by_query = np.arange(length) * q_stride
    by_dim_v = np.arange(dim_v) * width
    by_key = np.arange(keys) * k_stride
    probs = pt.reshape(-1)
    dropped = np.empty(keys * width, np.float32)
    one = np.float32(1)
    for b in range(pt.shape[0]):
        p0 = b * keys * width
        if dv is not None:
            weights, base = _dropped(probs, p0, noise, b, keys, width, dropped)
            product_rows(grad, g_base[b], by_query_g, weights, base, 1, width, keys, dv,
                         v_base[b], v_stride, dim_v // LANES)
        if dq is None and dk is None:
            continue
        _transpose_rows(grad, g_base[b], g_stride, length, dim_v, one, gt, width)
        product_rows(gt, 0, by_dim_v, v, v_base[b], 1, v_stride, keys, dpt, 0, width,
                     width // LANES)
        if noise is not None:
            drop = noise[b].reshape(-1)
            for i in range(keys * width):
                dpt[i] = dpt[i] * drop[i]
        for i in range(width):
            total[i] = 0
        for j in range(keys):
            row = np.uint64(j * width)
            for i in range(width):
                at = row + np.uint64(i)
                t = dpt[at] * probs[np.uint64(p0) + at]
                dst[at] = t
                total[i] += t
        for j in range(keys):
            row = np.uint64(j * width)
            for i in range(width):
                at = row + np.uint64(i)
                dst[at] = dst[at] - probs[np.uint64(p0) + at] * total[i]
        if dq is not None:
            product_rows(k, k_base[b], by_key, dst, 0, width, 1, length, dq, q_base[b],
                         q_stride, dim // LANES)
            _scale_rows(dq, q_base[b], q_stride, length, dim, scale)
        if dk is not None:
            product_rows(q, q_base[b], by_query, dst, 0, 1, width, keys, dk, k_base[b],
                         k_stride, dim // LANES)
            _scale_rows(dk, k_base[b], k_stride, keys, dim, scale)
