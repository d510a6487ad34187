"""Affine maps, embeddings, attention and distances (``torch.nn.functional`` names).

Lecture 000 "Activation Functions" / lecture 003 "全连接网络": a fully connected ("linear")
layer computes ``h = W a + b``; lecture 004 "Scaled dot-product attention":
``Z = softmax(Q K^T / sqrt(c)) V``. Each function here is one fused :class:`Function` whose
forward and backward are a handful of matrix products on the raw arrays.
"""
import math

import numpy as np

from ember import _dtype, _parallel
from ember._random import rng
from ember._tensor import Tensor
from ember.autograd.function import Function
from ember.autograd.grad_mode import no_grad
from ember.ops.elementwise import cast, unbroadcast

__all__ = ["linear", "bilinear", "embedding", "scaled_dot_product_attention",
           "cosine_similarity", "pairwise_distance", "pdist"]


def _tensor(x, name, arg):
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}(): argument '{arg}' must be Tensor, not {type(x).__name__}")
    return x


def _same_float_dtype(name, **tensors):
    """Check that all given tensors share one floating dtype (torch does not promote here)."""
    items = [(k, t) for k, t in tensors.items() if t is not None]
    first_name, first = items[0]
    if first._data.dtype.kind != "f":
        raise RuntimeError(f"{name}: expected a floating-point {first_name}, got {first.dtype}")
    for k, t in items[1:]:
        if t._data.dtype != first._data.dtype:
            raise RuntimeError(f"{name}: {first_name} dtype {first.dtype} and {k} dtype {t.dtype} "
                               f"differ; convert one of them (e.g. .float() or .double())")


def _segment_sum(values, index, size):
    """``out[r] = sum of values[k] over k with index[k] == r`` for ``values`` of shape (n, D).

    Sorts once and adds contiguous runs with ``np.add.reduceat`` (vectorised, unlike the
    unbuffered ``np.add.at``). Returns ``(out, rows, counts)``: the (size, D) sums and, for
    the rows that occur, their ids and multiplicities."""
    out = np.zeros((size,) + values.shape[1:], dtype=values.dtype)
    if index.size == 0:
        return out, index, index
    order = np.argsort(index, kind="stable")
    sorted_index = index[order]
    rows, starts, counts = np.unique(sorted_index, return_index=True, return_counts=True)
    out[rows] = np.add.reduceat(values[order], starts, axis=0)
    return out, rows, counts


# ----------------------------------------------------------------------------------- linear
class Linear(Function):
    """``y = x W^T + b`` on ``x`` flattened to ``(n, in)``: one GEMM forward, two backward."""
    saved_inputs = (0, 1)

    def forward(self, x, w, b=None):
        self.x2 = x.reshape(-1, x.shape[-1])          # a view unless x is non-contiguous
        self.w2 = w.reshape(-1, w.shape[-1])
        y = _parallel.matmul(self.x2, self.w2.T)
        if b is not None:
            y += b
        return y.reshape(x.shape[:-1] + w.shape[:-1])

    def backward(self, grad):
        x2, w2 = self.x2, self.w2
        (x_shape, _), (w_shape, _) = self._input_meta[:2]
        g2 = grad.reshape(-1, w2.shape[0])
        gx = _parallel.matmul(g2, w2).reshape(x_shape) if self.needs_input_grad[0] else None
        gw = None
        if self.needs_input_grad[1]:
            gw = _parallel.matmul(g2.T, x2)
            if gw.shape != w_shape:   # a 1-D weight; a 2-D one is returned as is, not as a
                gw = gw.reshape(w_shape)  # view, so that the leaf can keep it without a copy
        if len(self.needs_input_grad) == 2:
            return gx, gw
        gb = None
        if self.needs_input_grad[2]:
            b_shape = self._input_meta[2][0]
            gb = g2.sum(axis=0) if len(b_shape) == 1 else unbroadcast(grad, b_shape)
        return gx, gw, gb


def linear(input, weight, bias=None):
    """Fully connected layer ``y = x W^T + b`` (lecture 003 "全连接网络": ``h = W a + b``).

    ``input (*, in)``, ``weight (out, in)`` (or ``(in,)`` for a single output, which drops
    the last dim), ``bias (out,)`` -> ``(*, out)``. Backward: ``dx = dy W``,
    ``dW = dy^T x``, ``db = sum of dy`` over the leading dims.
    """
    x, w = _tensor(input, "linear", "input"), _tensor(weight, "linear", "weight")
    if bias is not None:
        _tensor(bias, "linear", "bias")
    if x._data.ndim == 0:
        raise RuntimeError("linear: input must have at least 1 dimension, got a 0-d tensor")
    if w._data.ndim not in (1, 2):
        raise RuntimeError(f"linear: weight must be 1-D or 2-D (out_features, in_features), got "
                           f"shape {tuple(w.shape)}")
    n_in = x._data.shape[-1]
    if w._data.shape[-1] != n_in:
        raise RuntimeError(f"linear: input has {n_in} features (shape {tuple(x.shape)}) but weight "
                           f"expects {w._data.shape[-1]} (weight shape {tuple(w.shape)})")
    _same_float_dtype("linear", input=x, weight=w, bias=bias)
    if bias is None:
        return Linear.apply(x, w)
    out_shape = w._data.shape[:-1]
    try:
        ok = np.broadcast_shapes(bias._data.shape, out_shape) == out_shape
    except ValueError:
        ok = False
    if not ok:
        raise RuntimeError(f"linear: bias of shape {tuple(bias.shape)} does not match the "
                           f"{out_shape[0] if out_shape else 1} output features of weight "
                           f"(weight shape {tuple(w.shape)})")
    return Linear.apply(x, w, bias)


class Bilinear(Function):
    """``y_k = x1^T W_k x2 + b_k`` with ``t[n, k, j] = sum_i x1[n, i] W[k, i, j]`` as one GEMM."""
    saved_inputs = (0, 1, 2)

    def forward(self, x1, x2, w, b=None):
        out, in1, in2 = w.shape
        self.x1 = x1.reshape(-1, in1)
        self.x2 = x2.reshape(-1, in2)
        self.w = w
        self.t = (self.x1 @ w.transpose(1, 0, 2).reshape(in1, out * in2)).reshape(-1, out, in2)
        y = (self.t @ self.x2[:, :, None])[:, :, 0]
        if b is not None:
            y += b
        return y.reshape(x1.shape[:-1] + (out,))

    def backward(self, grad):
        w, x1, x2 = self.w, self.x1, self.x2
        out, in1, in2 = w.shape
        g = grad.reshape(-1, out)
        need = self.needs_input_grad
        u = (g[:, :, None] * x2[:, None, :]).reshape(-1, out * in2)   # u[n, k, j] = g x2
        g1 = (u @ w.transpose(0, 2, 1).reshape(out * in2, in1)).reshape(self._input_meta[0][0]) \
            if need[0] else None
        g2 = (g[:, None, :] @ self.t)[:, 0, :].reshape(self._input_meta[1][0]) if need[1] else None
        gw = (x1.T @ u).reshape(in1, out, in2).transpose(1, 0, 2) if need[2] else None
        if len(need) == 3:
            return g1, g2, gw
        return g1, g2, gw, (g.sum(axis=0) if need[3] else None)


def bilinear(input1, input2, weight, bias=None):
    """Bilinear map ``y_k = x1^T W_k x2 + b_k``.

    ``input1 (*, in1)``, ``input2 (*, in2)`` (same leading dims), ``weight (out, in1, in2)``,
    ``bias (out,)`` -> ``(*, out)``.
    """
    x1, x2 = _tensor(input1, "bilinear", "input1"), _tensor(input2, "bilinear", "input2")
    w = _tensor(weight, "bilinear", "weight")
    if w._data.ndim != 3:
        raise RuntimeError(f"bilinear: weight must be 3-D (out, in1, in2), got shape "
                           f"{tuple(w.shape)}")
    out, in1, in2 = w._data.shape
    if x1._data.ndim == 0 or x1._data.shape[-1] != in1:
        raise RuntimeError(f"bilinear: input1 has shape {tuple(x1.shape)} but weight expects "
                           f"{in1} features (weight shape {tuple(w.shape)})")
    if x2._data.ndim == 0 or x2._data.shape[-1] != in2:
        raise RuntimeError(f"bilinear: input2 has shape {tuple(x2.shape)} but weight expects "
                           f"{in2} features (weight shape {tuple(w.shape)})")
    if x1._data.shape[:-1] != x2._data.shape[:-1]:
        raise RuntimeError(f"bilinear: input batch dimensions do not match: input1 "
                           f"{tuple(x1.shape)}, input2 {tuple(x2.shape)}")
    if bias is not None and tuple(_tensor(bias, "bilinear", "bias").shape) != (out,):
        raise RuntimeError(f"bilinear: bias must have shape ({out},), got {tuple(bias.shape)}")
    _same_float_dtype("bilinear", input1=x1, input2=x2, weight=w, bias=bias)
    return Bilinear.apply(x1, x2, w) if bias is None else Bilinear.apply(x1, x2, w, bias)


# -------------------------------------------------------------------------------- embedding
class Embedding(Function):
    """Row lookup ``weight[indices]``; backward sums the rows' gradients per index."""

    def forward(self, weight, indices, padding_idx, scale_grad_by_freq):
        self.indices, self.padding_idx, self.scale = indices, padding_idx, scale_grad_by_freq
        return np.take(weight, indices, axis=0)

    def backward(self, grad):
        num, dim = self._input_meta[0][0]
        gw, rows, counts = _segment_sum(grad.reshape(-1, dim), self.indices.reshape(-1), num)
        if self.scale and rows.size:
            gw[rows] /= counts[:, None].astype(gw.dtype)
        if self.padding_idx is not None:
            gw[self.padding_idx] = 0
        return gw, None


def _embedding_renorm_(weight, rows, max_norm, norm_type):
    """Scale the rows ``rows`` of ``weight`` whose ``norm_type``-norm exceeds ``max_norm`` down to
    ``max_norm`` in place (torch's ``embedding_renorm_``, also with the ``1e-7`` guard)."""
    w = weight._data
    sub = w[rows]
    if norm_type == math.inf:
        norms = np.abs(sub).max(axis=1)
    else:
        norms = (np.abs(sub) ** norm_type).sum(axis=1) ** (1.0 / norm_type)
    big = norms > max_norm
    if np.any(big):
        w[rows[big]] = sub[big] * (max_norm / (norms[big] + 1e-7))[:, None].astype(w.dtype)
        weight._bump_version()


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False):
    """Look up rows of ``weight (num_embeddings, embedding_dim)`` for integer ``input (*)``:
    -> ``(*, embedding_dim)``.

    The gradient of a row is the sum of the output gradients of all its occurrences
    (divided by the occurrence count with ``scale_grad_by_freq``); the ``padding_idx`` row gets
    none. ``max_norm`` first rescales, in place, the looked-up rows whose ``norm_type``-norm
    exceeds it. Ember has no sparse tensors: with ``sparse=True`` the weight gradient is the
    dense tensor equal to torch's sparse gradient densified.
    """
    idx_t = _tensor(input, "embedding", "input")
    w = _tensor(weight, "embedding", "weight")
    if w._data.ndim != 2:
        raise RuntimeError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got "
                           f"shape {tuple(w.shape)}")
    if idx_t._data.dtype not in (np.int64, np.int32):
        raise RuntimeError(f"embedding: expected indices of dtype int64 or int32, got "
                           f"{idx_t.dtype} (shape {tuple(idx_t.shape)})")
    num = w._data.shape[0]
    idx = idx_t._data
    if idx.size:
        lo, hi = int(idx.min()), int(idx.max())
        if lo < 0 or hi >= num:
            bad = lo if lo < 0 else hi
            raise IndexError(f"embedding: index {bad} is out of range for num_embeddings={num} "
                             f"(weight shape {tuple(w.shape)})")
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise ValueError(f"embedding: padding_idx {padding_idx} must be within "
                             f"num_embeddings={num}")
        padding_idx = int(padding_idx) % num
    if max_norm is not None and idx.size:
        with no_grad():
            _embedding_renorm_(w, np.unique(idx), max_norm, norm_type)
    return Embedding.apply(w, idx_t, padding_idx=padding_idx,
                           scale_grad_by_freq=bool(scale_grad_by_freq))


# -------------------------------------------------------------------------------- attention
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
    q, k, v = (_tensor(t, name, a) for t, a in ((query, "query"), (key, "key"), (value, "value")))
    for t, a in ((q, "query"), (k, "key"), (v, "value")):
        if t._data.ndim < 2:
            raise RuntimeError(f"{name}: {a} must have at least 2 dimensions (*, L, E), got "
                               f"shape {tuple(t.shape)}")
    _same_float_dtype(name, query=q, key=k, value=v)
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
        _tensor(attn_mask, name, "attn_mask")
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


# -------------------------------------------------------------------------------- distances
def _broadcast_float_pair(name, x1, x2):
    _tensor(x1, name, "x1"), _tensor(x2, name, "x2")
    try:
        shape = np.broadcast_shapes(x1._data.shape, x2._data.shape)
    except ValueError:
        raise RuntimeError(f"{name}: the shapes of x1 {tuple(x1.shape)} and x2 {tuple(x2.shape)} "
                           f"cannot be broadcast together") from None
    dt = np.result_type(x1._data.dtype, x2._data.dtype)
    if dt.kind != "f":
        dt = _dtype.get_default_dtype().np
    edt = _dtype.from_numpy(dt)
    return cast(x1, edt), cast(x2, edt), shape


class CosineSimilarity(Function):
    """``cos = sum(x1 / max(|x1|, eps) * x2 / max(|x2|, eps))`` along ``axis`` (torch's form,
    which keeps |cos| <= 1); the clamp of a norm acts on its value only, like torch's."""
    saved_inputs = (0, 1)

    def forward(self, x1, x2, axis, eps, shape):
        x1, x2 = np.broadcast_to(x1, shape), np.broadcast_to(x2, shape)
        n1 = np.sqrt((x1 * x1).sum(axis=axis, keepdims=True))
        n2 = np.sqrt((x2 * x2).sum(axis=axis, keepdims=True))
        n1c, n2c = np.maximum(n1, eps), np.maximum(n2, eps)
        a, b = x1 / n1c, x2 / n2c
        cos = (a * b).sum(axis=axis, keepdims=True)
        self.saved = (x1, x2, n1, n2, n1c, n2c, a, b, cos)
        self.axis = axis
        return cos.squeeze(axis)

    def backward(self, grad):
        x1, x2, n1, n2, n1c, n2c, a, b, cos = self.saved
        g = np.expand_dims(grad, self.axis)
        out = []
        for k, (x, n, nc, other, own) in enumerate(((x1, n1, n1c, b, a), (x2, n2, n2c, a, b))):
            if not self.needs_input_grad[k]:
                out.append(None)
                continue
            # d/dx [x / n] . other, with dn/dx = x / n (0 where the norm is 0)
            unit = np.divide(x, n, out=np.zeros_like(own), where=n > 0)
            gx = g * (other - cos * unit) / nc
            out.append(unbroadcast(gx, self._input_meta[k][0]))
        return tuple(out)


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """Cosine similarity ``x1.x2 / (max(|x1|, eps) max(|x2|, eps))`` along ``dim``.

    ``x1``, ``x2`` broadcast to a common shape; ``dim`` of that shape is reduced.
    """
    a, b, shape = _broadcast_float_pair("cosine_similarity", x1, x2)
    n = len(shape)
    if not -n <= dim < max(n, 1):
        raise IndexError(f"cosine_similarity: dim {dim} is out of range for inputs broadcast to "
                         f"shape {shape} (expected dim in [{-n}, {n - 1}])")
    return CosineSimilarity.apply(a, b, axis=dim % n, eps=eps, shape=shape)


def _norm_forward(d, p, axis):
    """The ``p``-norm of ``d`` along ``axis`` (keepdims) for any ``p`` (0, inf, -inf included)."""
    ad = np.abs(d)
    if p == 0:
        return (ad != 0).sum(axis=axis, keepdims=True).astype(d.dtype)
    if p == math.inf:
        return ad.max(axis=axis, keepdims=True)
    if p == -math.inf:
        return ad.min(axis=axis, keepdims=True)
    if p == 1:
        return ad.sum(axis=axis, keepdims=True)
    if p == 2:
        return np.sqrt((d * d).sum(axis=axis, keepdims=True))
    return (ad ** p).sum(axis=axis, keepdims=True) ** (1.0 / p)


def _norm_backward(g, d, norm, p, axis):
    """Gradient of the ``p``-norm w.r.t. ``d`` (torch's conventions: 0 where the norm is 0;
    the max/min of an inf-norm share the gradient evenly among ties)."""
    if p == 0:
        return np.zeros_like(d)
    if p in (math.inf, -math.inf):
        hit = (np.abs(d) == norm).astype(d.dtype)
        return np.sign(d) * hit * (g / hit.sum(axis=axis, keepdims=True))
    if p == 1:
        return np.sign(d) * g
    safe = np.where(norm > 0, norm, 1)
    if p == 2:
        return d * np.where(norm > 0, g / safe, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        local = np.sign(d) * np.abs(d) ** (p - 1)
    local = np.where(d == 0, 0, local)
    return local * np.where(norm > 0, g / safe ** (p - 1), 0)


class PairwiseDistance(Function):
    """``|x1 - x2 + eps|_p`` along ``axis``."""
    saved_inputs = (0, 1)

    def forward(self, x1, x2, p, eps, axis, keepdim):
        self.d = x1 - x2 + eps
        self.norm = _norm_forward(self.d, p, axis)
        self.p, self.axis = p, axis
        return self.norm if keepdim else self.norm.squeeze(axis)

    def backward(self, grad):
        g = grad if grad.ndim == self.d.ndim else np.expand_dims(grad, self.axis)
        gd = _norm_backward(g, self.d, self.norm, self.p, self.axis)
        g1 = unbroadcast(gd, self._input_meta[0][0]) if self.needs_input_grad[0] else None
        g2 = unbroadcast(-gd, self._input_meta[1][0]) if self.needs_input_grad[1] else None
        return g1, g2


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """``|x1 - x2 + eps|_p`` over the last dim of the broadcast shape: ``(*, D) -> (*)``
    (``(*, 1)`` with ``keepdim``). Any ``p``, including 0 and ``inf``."""
    a, b, shape = _broadcast_float_pair("pairwise_distance", x1, x2)
    if not shape:
        raise RuntimeError("pairwise_distance: expected inputs with at least 1 dimension")
    return PairwiseDistance.apply(a, b, p=float(p), eps=eps, axis=len(shape) - 1,
                                  keepdim=bool(keepdim))


class PDist(Function):
    """``|x_i - x_j|_p`` for all rows ``i < j`` of ``x (N, M)``, in row-major pair order."""
    saved_inputs = (0,)

    def forward(self, x, p):
        self.i, self.j = np.triu_indices(x.shape[0], 1)
        self.d = x[self.i] - x[self.j]
        self.norm = _norm_forward(self.d, p, 1)
        self.p = p
        return self.norm[:, 0]

    def backward(self, grad):
        gd = _norm_backward(grad[:, None], self.d, self.norm, self.p, 1)
        n = self._input_meta[0][0][0]
        return _segment_sum(gd, self.i, n)[0] - _segment_sum(gd, self.j, n)[0]


def pdist(input, p=2):
    """Distances between all pairs of rows: ``(N, M) -> (N (N - 1) / 2,)``, ordered like the
    upper triangle of the distance matrix read row by row (``p >= 0``)."""
    x = _tensor(input, "pdist", "input")
    if x._data.ndim != 2:
        raise RuntimeError(f"pdist: only supports 2D tensors, got shape {tuple(x.shape)}")
    if p < 0:
        raise RuntimeError(f"pdist: only supports non-negative p values, got {p}")
    if x._data.dtype.kind != "f":
        raise RuntimeError(f"pdist: expected a floating-point tensor, got {x.dtype}")
    return PDist.apply(x, p=float(p))
