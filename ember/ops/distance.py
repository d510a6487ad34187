"""Distances and similarities (``torch.nn.functional`` names): ``cosine_similarity``,
``pairwise_distance``, ``pdist`` (lecture 002's Siamese and triplet losses compare
embeddings by such distances)."""
import math

import numpy as np

from ember import _dtype
from ember.autograd.function import Function, unbroadcast
from ember.ops._checks import tensor_argument
from ember.ops.elementwise import cast
from ember.ops.indexing import segment_sum

__all__ = ["cosine_similarity", "pairwise_distance", "pdist"]


def _broadcast_float_pair(name, x1, x2):
    tensor_argument(x1, name, "x1"), tensor_argument(x2, name, "x2")
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
        return segment_sum(gd, self.i, n)[0] - segment_sum(gd, self.j, n)[0]


def pdist(input, p=2):
    """Distances between all pairs of rows: ``(N, M) -> (N (N - 1) / 2,)``, ordered like the
    upper triangle of the distance matrix read row by row (``p >= 0``)."""
    x = tensor_argument(input, "pdist", "input")
    if x._data.ndim != 2:
        raise RuntimeError(f"pdist: only supports 2D tensors, got shape {tuple(x.shape)}")
    if p < 0:
        raise RuntimeError(f"pdist: only supports non-negative p values, got {p}")
    if x._data.dtype.kind != "f":
        raise RuntimeError(f"pdist: expected a floating-point tensor, got {x.dtype}")
    return PDist.apply(x, p=float(p))
