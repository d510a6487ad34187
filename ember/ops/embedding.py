"""Embeddings (``torch.nn.functional.embedding``): rows of a weight matrix looked up by index;
the backward sums the output gradients of each row (``segment_sum``)."""
import math

import numpy as np

from ember.autograd.function import Function
from ember.autograd.grad_mode import no_grad
from ember.ops._checks import tensor_argument
from ember.ops.indexing import segment_sum

__all__ = ["embedding"]


class Embedding(Function):
    """Row lookup ``weight[indices]``; backward sums the rows' gradients per index."""

    def forward(self, weight, indices, padding_idx, scale_grad_by_freq):
        self.indices, self.padding_idx, self.scale = indices, padding_idx, scale_grad_by_freq
        return np.take(weight, indices, axis=0)

    def backward(self, grad):
        num, dim = self._input_meta[0][0]
        gw, rows, counts = segment_sum(grad.reshape(-1, dim), self.indices.reshape(-1), num)
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
    idx_t = tensor_argument(input, "embedding", "input")
    w = tensor_argument(weight, "embedding", "weight")
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
