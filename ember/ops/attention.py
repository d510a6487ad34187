"""Scaled dot-product attention (``torch.nn.functional.scaled_dot_product_attention``) and
multi-head attention (``multi_head_attention_forward``).

Lecture 004 "Scaled dot-product attention": ``Z = softmax(Q K^T / sqrt(c)) V``, one fused
:class:`Function` whose forward and backward are batched matrix products on the raw arrays;
multi-head attention projects the tokens, splits the channels into heads and runs it once
for all heads.
"""
import math
from functools import partial

import numpy as np

from ember import _dtype, _parallel
from ember._random import rng
from ember._tensor import Tensor
from ember.autograd.function import Function, unbroadcast
from ember.kernels import compiled
from ember.ops._checks import same_float_dtype, tensor_argument
from ember.ops.activation import _row_kernels, _rows
from ember.ops.affine import linear
from ember.ops.conv import pad
from ember.ops.elementwise import cast
from ember.ops.shape import cat

__all__ = ["scaled_dot_product_attention", "multi_head_attention_forward"]


def _swap(a):
    return np.swapaxes(a, -1, -2)


def _sum_groups(grad, groups):
    """Undo ``np.repeat(x, groups, axis=-3)``: add the gradients of the repeated heads."""
    if groups == 1:
        return grad
    shape = grad.shape
    return grad.reshape(shape[:-3] + (shape[-3] // groups, groups) + shape[-2:]).sum(axis=-3)


class ScaledDotProductAttention(Function):
    """``O = dropout(softmax(Q K^T * scale + M)) V`` and its backward:
    ``dV = P'^T dO``, ``dP = (dO V^T + dP') * noise``, ``dS = P (dP - rowsum(dP P))``,
    ``dQ = dS K * scale``, ``dK = dS^T Q * scale``, ``dM = dS``.

    With ``weights=True`` the attention weights ``P' = dropout(P)`` are a second output (what
    ``MultiheadAttention`` returns with ``need_weights``), and ``dP'`` is the gradient that
    reaches them; otherwise ``O`` is the only output."""
    saved_inputs = (0, 1, 2)

    def forward(self, q, k, v, mask=None, scale=1.0, causal=False, noise=None, groups=1,
                weights=False):
        self.fused = (mask is None and not causal and groups == 1 and not weights
                      and _fused_kernels(q, k, v) is not None)
        if self.fused:
            return self._fused_forward(q, k, v, scale, noise)
        if groups > 1:
            k, v = np.repeat(k, groups, axis=-3), np.repeat(v, groups, axis=-3)
        if q.shape[-1] < k.shape[-2]:       # scale the smaller operand (E < S: the queries)
            s = (q * q.dtype.type(scale)) @ _swap(k)
        else:
            s = q @ _swap(k)
            s *= scale
        if mask is not None:
            s = s + mask
        if causal:
            length, src = s.shape[-2:]
            s += np.where(np.tri(length, src, dtype=bool), 0, -np.inf).astype(s.dtype)
        # softmax over the keys, in place; a row that attends to nothing (all -inf) gets
        # weight 0 everywhere, as in torch. Without a mask every row has a finite score (a
        # causal row always sees its first key), so the compiled row pass applies (one pass per
        # row instead of five NumPy passes: 2.9 -> 1.6 ms for ViT-small's 64 x 4 x 65 x 65
        # scores on one thread; backward 1.9 -> 0.8 ms)
        kernels = _row_kernels(s.ndim - 1, s) if mask is None else None
        if kernels is not None:
            p = np.empty_like(s)      # not in place: LLVM vectorizes only unaliased rows
            kernels.softmax_forward(_rows(s), _rows(p))
        else:
            m = s.max(axis=-1, keepdims=True)
            s -= np.where(np.isfinite(m), m, 0)
            p = np.exp(s, out=s)
            total = p.sum(axis=-1, keepdims=True)
            p /= np.where(total > 0, total, 1)
        p_drop = p if noise is None else p * noise
        self.q, self.k, self.v, self.p, self.p_drop = q, k, v, p, p_drop
        self.scale, self.noise, self.groups = scale, noise, groups
        out = p_drop @ v
        return (out, p_drop) if weights else out

    def _fused_forward(self, q, k, v, scale, noise):
        """One compiled pass per (sample, head) (``ember.kernels.attention``)."""
        batch = q.shape[:-2]
        q3, k3, v3 = (np.ascontiguousarray(a).reshape((-1,) + a.shape[-2:]) for a in (q, k, v))
        out = np.empty(q3.shape[:2] + v3.shape[2:], np.float32)
        self.rows = tuple(_stacked(a) for a in (q3, k3, v3))
        self.shapes = (q3.shape[1], k3.shape[1], q3.shape[2], v3.shape[2])
        self.noise = None if noise is None else _transposed(noise, *self.shapes[:2])
        self.p, self.scale = _fused_attention(self.rows, self.shapes, scale, _stacked(out),
                                              self.noise)
        return out.reshape(batch + out.shape[1:])

    def _fused_backward(self, grad):
        g = np.ascontiguousarray(grad, dtype=np.float32)
        g = g.reshape((-1,) + g.shape[-2:])
        grads = [np.empty(rows[0].shape, np.float32) if n else None
                 for rows, n in zip(self.rows, self.needs_input_grad)]
        _fused_attention_backward(self.rows, self.shapes, self.p, self.scale, self.noise,
                                  _stacked(g), grads)
        return tuple(None if a is None else a.reshape(m[0])
                     for a, m in zip(grads, self._input_meta))

    def backward(self, grad, grad_weights=None):
        if self.fused:
            return self._fused_backward(grad)
        need = self.needs_input_grad
        meta = self._input_meta
        gv = None
        if grad is None:                         # only the weights were used
            dp = np.array(grad_weights, copy=True)
        else:
            if need[2]:
                gv = unbroadcast(_sum_groups(_swap(self.p_drop) @ grad, self.groups),
                                 meta[2][0])
            dp = grad @ _swap(self.v)
            if grad_weights is not None:
                dp += grad_weights
        if self.noise is not None:
            dp *= self.noise
        p = self.p
        kernels = _row_kernels(dp.ndim - 1, dp, p)
        if kernels is not None:
            ds = np.empty_like(dp)
            kernels.softmax_backward(_rows(dp), _rows(p), _rows(ds))
        else:
            ds = dp
            ds -= (dp * p).sum(axis=-1, keepdims=True)
            ds *= p
        gq = unbroadcast((ds @ self.k) * self.scale, meta[0][0]) if need[0] else None
        gk = None
        if need[1]:
            gk = _sum_groups((_swap(ds) @ self.q) * self.scale, self.groups)
            gk = unbroadcast(gk, meta[1][0])
        if len(need) == 3:
            return gq, gk, gv
        return gq, gk, gv, (unbroadcast(ds, meta[3][0]) if need[3] else None)


# the compiled attention takes head dims that are multiples of this (its vectors of 16 floats)
LANES = 16
# (sample, head) pairs are split over Ember's threads from this many multiply-adds per thread
# (forward): ViT-small's 256 pairs of 65 tokens, 16 channels have 2.2M
PARALLEL_MIN_MACS = 2 ** 20


def _fused_kernels(q, k, v):
    """``ember.kernels.attention`` for float32 q (*, L, D), k (*, S, D), v (*, S, Dv) with the
    same leading dims (no broadcasting), D and Dv multiples of 16, on a CPU with AVX-512 (the
    register tiles); else None."""
    if (q.ndim < 3 or not q.shape[:-2] == k.shape[:-2] == v.shape[:-2]
            or 0 in q.shape or 0 in k.shape or 0 in v.shape):
        return None
    return _fused_available((q.dtype, k.dtype, v.dtype), q.shape[-1], v.shape[-1])


def _fused_available(dtypes, dim, dim_v):
    if any(dt != np.float32 for dt in dtypes) or dim % LANES or dim_v % LANES or POLICY == "never":
        return None
    kernels = compiled()
    if kernels is None or not (POLICY == "always" or kernels.tiles.wide_registers()):
        return None
    return kernels.attention


# "auto": the compiled attention where _fused_kernels allows it; "always" also without
# AVX-512 (tests); "never": the NumPy products
POLICY = "auto"


def _stacked(a):
    """A contiguous (B, L, D) array as the kernels' rows: ``(flat, first row of each of the B
    matrices, row stride)``."""
    return a.reshape(-1), np.arange(a.shape[0], dtype=np.int64) * a.shape[1] * a.shape[2], \
        a.shape[2]


def _pair_parts(pairs, length, keys, dim, dim_v):
    macs = pairs * length * keys * (dim + dim_v)
    threads = _parallel.get_num_threads()
    return _parallel.split(pairs, threads if macs >= PARALLEL_MIN_MACS * threads else 1)


def _transposed(noise, length, keys):
    """Dropout's ``noise`` (*, L, S) in the kernels' layout of the attention weights: (B, S,
    Lp), transposed, the columns past L zero."""
    out = np.zeros((noise.size // (length * keys), keys, -(-length // LANES) * LANES),
                   np.float32)
    out[:, :, :length] = noise.reshape(-1, length, keys).transpose(0, 2, 1)
    return out


def _fused_attention(rows, shapes, scale, out_rows, noise=None):
    """Attention of every (q, k, v) matrix triple given as rows (``(flat, bases, stride)``
    each) into ``out_rows``, the pairs split over Ember's threads, with dropout's ``noise``
    (:func:`_transposed`) when given; returns the transposed probabilities (B, S, Lp) and the
    float32 scale, for :func:`_fused_attention_backward`."""
    (q, qb, qs), (k, kb, ks), (v, vb, vs) = rows
    out, ob, os_ = out_rows
    length, keys, dim, dim_v = shapes
    pt = np.empty((qb.size, keys, -(-length // LANES) * LANES), np.float32)
    scale = np.float32(scale)
    kernel = compiled().attention.forward
    _parallel.run([partial(kernel, q, qb[s], qs, k, kb[s], ks, v, vb[s], vs, length, keys, dim,
                           dim_v, scale, None if noise is None else noise[s], pt[s], out, ob[s],
                           os_)
                   for s in _pair_parts(qb.size, *shapes)])
    return pt, scale


def _fused_attention_backward(rows, shapes, pt, scale, noise, grad_rows, grads):
    """The gradients of :func:`_fused_attention` into ``grads`` (flat arrays laid out as q, k,
    v; None where not needed; they may be one array)."""
    (q, qb, qs), (k, kb, ks), (v, vb, vs) = rows
    g, gb, gs = grad_rows
    length, keys, dim, dim_v = shapes
    kernel = compiled().attention.backward
    _parallel.run([partial(kernel, q, qb[s], qs, k, kb[s], ks, v, vb[s], vs, length, keys, dim,
                           dim_v, None if noise is None else noise[s], pt[s], g, gb[s], gs,
                           scale, *grads)
                   for s in _pair_parts(qb.size, *shapes)])


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, enable_gqa=False):
    """Scaled dot-product attention (lecture 004: ``S = Q K^T``, ``W = softmax(S / sqrt(c))``,
    ``Z = W V``; a soft dictionary lookup of the values by query-key similarity: inventory B35,
    B36).

    ``query (*, L, E)``, ``key (*, S, E)``, ``value (*, S, Ev)`` -> ``(*, L, Ev)`` (leading
    dims broadcast). ``attn_mask`` (broadcastable to ``(*, L, S)``): a bool mask keeps the
    positions that are True, a float mask is added to the scores (and receives a gradient).
    ``is_causal`` lets query ``i`` see keys ``j <= i`` (top-left aligned). ``dropout_p`` drops
    attention weights (scaled by ``1 / (1 - p)``), always, as torch does. ``scale`` defaults
    to ``1 / sqrt(E)``. ``enable_gqa`` lets ``key``/``value`` have fewer heads (dim -3) than
    ``query``, each shared by ``H_q / H_kv`` consecutive query heads. Rows that attend to
    nothing give zeros.
    """
    return _attention("scaled_dot_product_attention", query, key, value, attn_mask, dropout_p,
                      is_causal, scale, enable_gqa)


def _dropout_noise(shape, p, dtype):
    """Dropout of the attention weights: a keep-mask of ``shape`` scaled by ``1 / (1 − p)``
    (all zeros when ``p`` is 1), or None when ``p`` is 0."""
    if p <= 0:
        return None
    keep = rng().random(shape, dtype=np.float32) >= p
    return (keep * (1.0 / (1.0 - p)) if p < 1 else keep * 0.0).astype(dtype)


def _attention(name, query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa,
               weights=False):
    """Check the arguments of scaled dot-product attention and apply
    :class:`ScaledDotProductAttention`; with ``weights`` return ``(output, weights)``."""
    q, k, v = (tensor_argument(t, name, a) for t, a in ((query, "query"), (key, "key"), (value, "value")))
    for t, a in ((q, "query"), (k, "key"), (v, "value")):
        if t._data.ndim < 2:
            raise RuntimeError(f"{name}: {a} must have at least 2 dimensions (*, L, E), got "
                               f"shape {tuple(t.shape)}")
    same_float_dtype(name, query=q, key=k, value=v)
    if q._data.shape[-1] != k._data.shape[-1]:
        raise RuntimeError(f"{name}: query has {q._data.shape[-1]} channels (shape "
                           f"{tuple(q.shape)}) but key has {k._data.shape[-1]} (shape "
                           f"{tuple(k.shape)})")
    if k._data.shape[-2] != v._data.shape[-2]:
        raise RuntimeError(f"{name}: key has {k._data.shape[-2]} positions (shape "
                           f"{tuple(k.shape)}) but value has {v._data.shape[-2]} (shape "
                           f"{tuple(v.shape)})")
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"{name}: dropout_p has to be between 0 and 1, but got {dropout_p}")
    if is_causal and attn_mask is not None:
        raise RuntimeError(f"{name}: Explicit attn_mask should not be set when is_causal=True")
    groups = 1
    if enable_gqa and q._data.ndim >= 3:
        hq, hk, hv = q._data.shape[-3], k._data.shape[-3], v._data.shape[-3]
        if hk != hv or hq % hk:
            raise RuntimeError(f"{name}: with enable_gqa the number of query heads ({hq}) must "
                               f"be a multiple of the key/value heads (key {hk}, value {hv})")
        groups = hq // hk
    dt = q._data.dtype
    if scale is None:
        scale = 1.0 / math.sqrt(q._data.shape[-1])
    batch = np.broadcast_shapes(q._data.shape[:-2], k._data.shape[:-2] if groups == 1 else
                                k._data.shape[:-3] + (q._data.shape[-3],))
    score_shape = batch + (q._data.shape[-2], k._data.shape[-2])
    tensors = [q, k, v]
    if attn_mask is not None:
        tensor_argument(attn_mask, name, "attn_mask")
        try:
            np.broadcast_shapes(attn_mask._data.shape, score_shape)
        except ValueError:
            raise RuntimeError(f"{name}: attn_mask of shape {tuple(attn_mask.shape)} cannot be "
                               f"broadcast to the attention scores' shape {score_shape}") from None
        if attn_mask._data.dtype == np.bool_:
            attn_mask = Tensor._wrap(np.where(attn_mask._data, 0, -np.inf).astype(dt))
        elif attn_mask._data.dtype != dt:
            attn_mask = cast(attn_mask, _dtype.from_numpy(dt))
        tensors.append(attn_mask)
    noise = _dropout_noise(score_shape, dropout_p, dt)
    return ScaledDotProductAttention.apply(*tensors, scale=float(scale), causal=bool(is_causal),
                                           noise=noise, groups=groups, weights=weights)


# ------------------------------------------------------------------------------------------
# Multi-head attention (torch.nn.functional.multi_head_attention_forward)
# ------------------------------------------------------------------------------------------
def _canonical_mask(mask, name, dtype):
    """A bool mask (True = not allowed) as an additive ``-inf`` mask of ``dtype``; a float
    mask as it is; anything else is an error naming the mask."""
    if mask is None:
        return None
    tensor_argument(mask, "multi_head_attention_forward", name)
    if mask._data.dtype == np.bool_:
        return Tensor._wrap(np.where(mask._data, -np.inf, 0).astype(dtype))
    if mask._data.dtype.kind != "f":
        raise TypeError(f"multi_head_attention_forward: only bool and floating types of {name} "
                        f"are supported, got {mask.dtype}")
    return mask


def _check_mha_shapes(query, key, value, key_padding_mask, attn_mask, num_heads):
    """torch's shape rules: batched 3-D or unbatched 2-D query, key and value; a 2-D (1-D
    unbatched) key_padding_mask; a 2-D or 3-D attn_mask. Returns whether the call is batched."""
    who = "MultiheadAttention"
    if query.dim() not in (2, 3):
        raise RuntimeError(f"{who}: query should be unbatched 2D or batched 3D tensor but "
                           f"received {query.dim()}-D query tensor (shape {tuple(query.shape)})")
    batched = query.dim() == 3
    kind = "batched (3-D)" if batched else "unbatched (2-D)"
    if key.dim() != query.dim() or value.dim() != query.dim():
        raise RuntimeError(f"{who}: For {kind} `query`, expected `key` and `value` to be "
                           f"{query.dim()}-D but found {key.dim()}-D and {value.dim()}-D "
                           f"tensors respectively")
    if key_padding_mask is not None and key_padding_mask.dim() != query.dim() - 1:
        raise RuntimeError(f"{who}: For {kind} `query`, expected `key_padding_mask` to be `None` "
                           f"or {query.dim() - 1}-D but found {key_padding_mask.dim()}-D tensor "
                           f"instead")
    if attn_mask is not None and attn_mask.dim() not in (2, 3):
        raise RuntimeError(f"{who}: For {kind} `query`, expected `attn_mask` to be `None`, 2-D or "
                           f"3-D but found {attn_mask.dim()}-D tensor instead")
    if not batched and attn_mask is not None and attn_mask.dim() == 3:
        expected = (num_heads, query.shape[0], key.shape[0])
        if tuple(attn_mask.shape) != expected:
            raise RuntimeError(f"{who}: Expected `attn_mask` shape to be {expected} but got "
                               f"{tuple(attn_mask.shape)}")
    return batched


class PackedSelfAttention(Function):
    """Multi-head self-attention on the packed projection ``(L, N, 3E)`` = ``[Q | K | V]``
    (``X W_inᵀ + b``), without splitting it: each (sample, head) pair reads its rows of Q, K
    and V in place and writes its output rows into ``(L, N, E)``, laid out for the output
    projection (``ember.kernels.attention``; no mask or returned weights; dropout of the
    attention weights with ``dropout_p``). Replaces
    :class:`SplitHeads`' three copies, the attention node and the copy that merged the heads
    (ViT-small, batch 64, two threads: ~3 ms of a 33 ms step). Backward writes dQ, dK and dV
    into one ``(L, N, 3E)`` gradient."""

    def forward(self, qkv, heads, dropout_p=0.0):
        length, batch, width = qkv.shape
        embed = width // 3
        dim = embed // heads
        flat = np.ascontiguousarray(qkv).reshape(-1)
        sample = np.repeat(np.arange(batch, dtype=np.int64), heads)
        head = np.tile(np.arange(heads, dtype=np.int64), batch)
        first = sample * width + head * dim
        stride = batch * width
        self.rows = ((flat, first, stride), (flat, first + embed, stride),
                     (flat, first + 2 * embed, stride))
        self.out_rows = (sample * embed + head * dim, batch * embed)
        self.shapes, self.qkv_shape = (length, length, dim, dim), qkv.shape
        out = np.empty((length, batch, embed), np.float32)
        noise = _dropout_noise((batch * heads, length, length), dropout_p, np.float32)
        self.noise = None if noise is None else _transposed(noise, length, length)
        self.p, self.scale = _fused_attention(self.rows, self.shapes, 1.0 / math.sqrt(dim),
                                              (out.reshape(-1),) + self.out_rows, self.noise)
        return out

    def backward(self, grad):
        g = np.ascontiguousarray(grad, dtype=np.float32).reshape(-1)
        dqkv = np.empty(math.prod(self.qkv_shape), np.float32)
        _fused_attention_backward(self.rows, self.shapes, self.p, self.scale, self.noise,
                                  (g,) + self.out_rows, [dqkv, dqkv, dqkv])
        return dqkv.reshape(self.qkv_shape)


class SplitHeads(Function):
    """The packed projection ``X W^T + b`` of self-attention, ``(L, N, 3E)`` = ``[Q | K | V]``,
    split into the heads of each: three contiguous ``(N·heads, L, E/heads)`` arrays, one copy
    each. Backward writes the three gradients into one ``(L, N, 3E)`` array (zeros for one that
    gets none). The same as ``chunk(3)`` then ``reshape``/``transpose`` per part, as one node:
    each chunk's backward allocated a zero-filled ``(L, N, 3E)`` gradient and the engine added
    the three (ViT-small, batch 64, train step on one thread: 52.3 -> 47.1 ms; two threads
    44.9 -> 41.1 ms)."""

    def forward(self, qkv, heads, dropout_p=0.0):
        length, batch, width = qkv.shape
        self.shape, self.heads = qkv.shape, heads
        parts = qkv.reshape(length, batch, 3, heads, width // (3 * heads))
        return tuple(np.ascontiguousarray(parts[:, :, i].transpose(1, 2, 0, 3)).reshape(
            batch * heads, length, -1) for i in range(3))

    def backward(self, *grads):
        length, batch, width = self.shape
        head_dim = width // (3 * self.heads)
        dtype = next(g.dtype for g in grads if g is not None)
        out = np.empty((length, batch, 3, self.heads, head_dim), dtype)
        for i, g in enumerate(grads):
            if g is None:
                out[:, :, i] = 0
            else:
                out[:, :, i] = g.reshape(batch, self.heads, length, head_dim).transpose(2, 0, 1, 3)
        return out.reshape(self.shape)


def _in_projection(query, key, value, weight, bias, separate):
    """``Q, K, V = X_q W_q^T + b_q, X_k W_k^T + b_k, X_v W_v^T + b_v`` (lecture 004
    "Self-attention": Q = X W_q, K = X W_k, V = X W_v, inventory B37). With one packed
    ``(3E, E)`` weight, self-attention (``query is key is value``) is one matrix product and
    a shared key/value source one product for both, as in torch."""
    w_q, w_k, w_v = separate if separate is not None else weight.chunk(3)
    b_q, b_k, b_v = (None,) * 3 if bias is None else bias.chunk(3)
    if separate is None and key is value:
        if query is key:
            return linear(query, weight, bias).chunk(3, dim=-1)
        e = query.shape[-1]
        k, v = linear(key, weight[e:], None if bias is None else bias[e:]).chunk(2, dim=-1)
        return linear(query, w_q, b_q), k, v
    return linear(query, w_q, b_q), linear(key, w_k, b_k), linear(value, w_v, b_v)


def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads,
                                 in_proj_weight, in_proj_bias, bias_k, bias_v, add_zero_attn,
                                 dropout_p, out_proj_weight, out_proj_bias, training=True,
                                 key_padding_mask=None, need_weights=True, attn_mask=None,
                                 use_separate_proj_weight=False, q_proj_weight=None,
                                 k_proj_weight=None, v_proj_weight=None, static_k=None,
                                 static_v=None, average_attn_weights=True, is_causal=False):
    """Multi-head attention (``torch.nn.functional.multi_head_attention_forward``; the
    computation of :class:`ember.nn.MultiheadAttention`).

    Lecture 004 "Self-attention" (inventory B37): ``Q = X W_q, K = X W_k, V = X W_v`` with the
    W shared by all tokens, then scaled dot-product attention ``softmax(Q K^T / sqrt(d)) V``
    (B36); multi-head (Vaswani et al.; not in the slides, B38) runs ``num_heads`` such maps
    on ``E / num_heads``-wide slices and mixes them with the output projection.

    Shapes: ``query (L, N, E)``, ``key (S, N, E_k)``, ``value (S, N, E_v)`` (unbatched: no
    ``N``); returns ``(output (L, N, E), weights)``, the weights ``(N, L, S)`` averaged over
    heads (``(N, num_heads, L, S)`` with ``average_attn_weights=False``) when
    ``need_weights``, else None. ``attn_mask``: ``(L, S)`` or ``(N·num_heads, L, S)``;
    ``key_padding_mask``: ``(N, S)``; bool masks are True where attention is not allowed,
    float masks are added to the scores. ``is_causal`` is a hint that ``attn_mask`` is the
    causal mask (it must be given); without weights and padding mask the causal structure
    is then applied directly. ``bias_k``/``bias_v (1, 1, E)`` append one learned key/value,
    ``add_zero_attn`` one zero key/value; ``static_k``/``static_v (N·num_heads, S, E/heads)``
    replace the projected keys/values. ``dropout_p`` drops attention weights when
    ``training``.
    """
    batched = _check_mha_shapes(query, key, value, key_padding_mask, attn_mask, num_heads)
    if not batched:
        same = query is key is value
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if same:                       # keep self-attention recognisable (packed below)
            key = value = query
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    tgt_len, bsz, embed_dim = query.shape
    src_len = key.shape[0]
    dtype = query._data.dtype
    key_padding_mask = _canonical_mask(key_padding_mask, "key_padding_mask", dtype)
    if is_causal and attn_mask is None:
        raise RuntimeError("MultiheadAttention: need attn_mask if specifying the is_causal "
                           "hint; nn.Transformer.generate_square_subsequent_mask(L) makes the "
                           "causal mask")
    if is_causal and key_padding_mask is None and not need_weights:
        attn_mask = None                 # the causal structure is applied by the kernel
    else:
        attn_mask = _canonical_mask(attn_mask, "attn_mask", dtype)
        if key_padding_mask is not None:
            is_causal = False
    if embed_dim != embed_dim_to_check:
        raise RuntimeError(f"MultiheadAttention: was expecting embedding dimension of "
                           f"{embed_dim_to_check}, but got {embed_dim} (query shape "
                           f"{tuple(query.shape)})")
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise RuntimeError(f"MultiheadAttention: embed_dim {embed_dim} not divisible by "
                           f"num_heads {num_heads}")
    if use_separate_proj_weight:
        if tuple(key.shape[:2]) != tuple(value.shape[:2]):
            raise RuntimeError(f"MultiheadAttention: key's sequence and batch dims "
                               f"{tuple(key.shape[:2])} do not match value's "
                               f"{tuple(value.shape[:2])}")
        separate = (q_proj_weight, k_proj_weight, v_proj_weight)
    else:
        if tuple(key.shape) != tuple(value.shape):
            raise RuntimeError(f"MultiheadAttention: key shape {tuple(key.shape)} does not "
                               f"match value shape {tuple(value.shape)}")
        separate = None
    # packed self-attention: one product, then the heads split as one node
    packed = (separate is None and query is key is value and bias_k is None and bias_v is None
              and static_k is None and static_v is None)
    if (packed and attn_mask is None and key_padding_mask is None and not need_weights
            and not is_causal and not add_zero_attn
            and _fused_available((dtype,), head_dim, head_dim) is not None and bsz > 0
            and tgt_len > 0):
        out = PackedSelfAttention.apply(linear(query, in_proj_weight, in_proj_bias),
                                        heads=num_heads,
                                        dropout_p=float(dropout_p) if training else 0.0)
        out = linear(out.reshape(tgt_len * bsz, embed_dim), out_proj_weight,
                     out_proj_bias).reshape(tgt_len, bsz, -1)
        return (out if batched else out.squeeze(1)), None
    if packed:
        q, k, v = SplitHeads.apply(linear(query, in_proj_weight, in_proj_bias), heads=num_heads)
    else:
        q, k, v = _in_projection(query, key, value, in_proj_weight, in_proj_bias, separate)

    if attn_mask is not None:
        if attn_mask.dim() == 2:
            if tuple(attn_mask.shape) != (tgt_len, src_len):
                raise RuntimeError(f"MultiheadAttention: The shape of the 2D attn_mask is "
                                   f"{tuple(attn_mask.shape)}, but should be "
                                   f"{(tgt_len, src_len)}.")
            attn_mask = attn_mask.unsqueeze(0)
        elif tuple(attn_mask.shape) != (bsz * num_heads, tgt_len, src_len):
            raise RuntimeError(f"MultiheadAttention: The shape of the 3D attn_mask is "
                               f"{tuple(attn_mask.shape)}, but should be "
                               f"{(bsz * num_heads, tgt_len, src_len)}.")
    if bias_k is not None and bias_v is not None:
        if static_k is not None or static_v is not None:
            raise RuntimeError("MultiheadAttention: bias cannot be added to static key/value.")
        k = cat([k, bias_k.expand(1, bsz, bias_k.shape[-1])])
        v = cat([v, bias_v.expand(1, bsz, bias_v.shape[-1])])
        attn_mask = None if attn_mask is None else pad(attn_mask, (0, 1))
        key_padding_mask = None if key_padding_mask is None else pad(key_padding_mask, (0, 1))
    elif (bias_k is None) != (bias_v is None):
        raise RuntimeError("MultiheadAttention: bias_k and bias_v must be given together")

    if not packed:
        q = q.reshape(tgt_len, bsz * num_heads, head_dim).transpose(0, 1)
        k = _heads(k, static_k, "static_k", bsz, num_heads, head_dim)
        v = _heads(v, static_v, "static_v", bsz, num_heads, head_dim)
    if add_zero_attn:
        zeros = Tensor._wrap(np.zeros((bsz * num_heads, 1, head_dim), dtype))
        k, v = cat([k, zeros], dim=1), cat([v, zeros], dim=1)
        attn_mask = None if attn_mask is None else pad(attn_mask, (0, 1))
        key_padding_mask = None if key_padding_mask is None else pad(key_padding_mask, (0, 1))
    src_len = k.shape[1]
    if key_padding_mask is not None:
        if tuple(key_padding_mask.shape) != (bsz, src_len):
            raise RuntimeError(f"MultiheadAttention: expected key_padding_mask of shape "
                               f"{(bsz, src_len)}, got {tuple(key_padding_mask.shape)}")
        padding = key_padding_mask.reshape(bsz, 1, 1, src_len).expand(
            bsz, num_heads, 1, src_len).reshape(bsz * num_heads, 1, src_len)
        attn_mask = padding if attn_mask is None else attn_mask + padding
    if not training:
        dropout_p = 0.0

    q, k, v = (t.reshape(bsz, num_heads, t.shape[1], head_dim) for t in (q, k, v))
    mask = None
    if attn_mask is not None:          # (1 or N·heads, L or 1, S) -> (1 or N, 1 or heads, ., S)
        split = (bsz, num_heads) if attn_mask.shape[0] > 1 else (1, 1)
        mask = attn_mask.reshape(*split, attn_mask.shape[1], src_len)
    result = _attention("MultiheadAttention", q, k, v, mask, dropout_p,
                        is_causal and mask is None, None, False, weights=need_weights)
    out, attn_weights = result if need_weights else (result, None)
    out = out.permute(2, 0, 1, 3).reshape(tgt_len * bsz, embed_dim)
    out = linear(out, out_proj_weight, out_proj_bias).reshape(tgt_len, bsz, -1)
    if need_weights and average_attn_weights:
        attn_weights = attn_weights.mean(dim=1)
    if not batched:
        out = out.squeeze(1)
        attn_weights = None if attn_weights is None else attn_weights.squeeze(0)
    return out, attn_weights


def _heads(t, static, name, bsz, num_heads, head_dim):
    """Keys or values ``(S, N, E)`` split into heads ``(N·heads, S, E/heads)``, or the given
    ``static`` ones after checking their shape."""
    if static is None:
        return t.reshape(t.shape[0], bsz * num_heads, head_dim).transpose(0, 1)
    if static.dim() != 3 or static.shape[0] != bsz * num_heads or static.shape[2] != head_dim:
        raise RuntimeError(f"MultiheadAttention: expecting {name} of shape "
                           f"({bsz * num_heads}, S, {head_dim}), got {tuple(static.shape)}")
    return static
