"""Scaled dot-product attention (``torch.nn.functional.scaled_dot_product_attention``).

Lecture 004 "Scaled dot-product attention": ``Z = softmax(Q K^T / sqrt(c)) V``, one fused
:class:`Function` whose forward and backward are batched matrix products on the raw arrays.
"""
import math

import numpy as np

from ember import _dtype
from ember._random import rng
from ember._tensor import Tensor
from ember.autograd.function import Function, unbroadcast
from ember.ops._checks import same_float_dtype, tensor_argument
from ember.ops.elementwise import cast

__all__ = ["scaled_dot_product_attention"]


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
    ``dV = P'^T dO``, ``dP = (dO V^T) * noise``, ``dS = P (dP - rowsum(dP P))``,
    ``dQ = dS K * scale``, ``dK = dS^T Q * scale``, ``dM = dS``."""
    saved_inputs = (0, 1, 2)

    def forward(self, q, k, v, mask=None, scale=1.0, causal=False, noise=None, groups=1):
        if groups > 1:
            k, v = np.repeat(k, groups, axis=-3), np.repeat(v, groups, axis=-3)
        s = q @ _swap(k)
        s *= scale
        if mask is not None:
            s = s + mask
        if causal:
            length, src = s.shape[-2:]
            s += np.where(np.tri(length, src, dtype=bool), 0, -np.inf).astype(s.dtype)
        # softmax over the keys, in place; a row that attends to nothing (all -inf) gets
        # weight 0 everywhere, as in torch
        m = s.max(axis=-1, keepdims=True)
        s -= np.where(np.isfinite(m), m, 0)
        p = np.exp(s, out=s)
        total = p.sum(axis=-1, keepdims=True)
        p /= np.where(total > 0, total, 1)
        p_drop = p if noise is None else p * noise
        self.q, self.k, self.v, self.p, self.p_drop = q, k, v, p, p_drop
        self.scale, self.noise, self.groups = scale, noise, groups
        return p_drop @ v

    def backward(self, grad):
        need = self.needs_input_grad
        meta = self._input_meta
        gv = None
        if need[2]:
            gv = unbroadcast(_sum_groups(_swap(self.p_drop) @ grad, self.groups), meta[2][0])
        dp = grad @ _swap(self.v)
        if self.noise is not None:
            dp *= self.noise
        p = self.p
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
    name = "scaled_dot_product_attention"
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
    noise = None
    if dropout_p > 0:
        keep = rng().random(score_shape, dtype=np.float32) >= dropout_p
        noise = (keep * (1.0 / (1.0 - dropout_p)) if dropout_p < 1 else keep * 0.0).astype(dt)
    return ScaledDotProductAttention.apply(*tensors, scale=float(scale), causal=bool(is_causal),
                                           noise=noise, groups=groups)
