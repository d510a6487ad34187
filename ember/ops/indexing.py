"""Indexing primitives: ``x[idx]`` and ``x[idx] = v`` (ints, slices, ellipsis, None, integer
and boolean tensors), gather/scatter, index_select, masked_fill, tril/triu, sort/topk, one_hot.

Gradients through advanced indexing accumulate over repeated indices (:func:`accumulate_at`)."""
import numpy as np

from ember._tensor import Tensor, as_tensor_arg
from ember.autograd.function import Function, unbroadcast
from ember.ops.elementwise import cast

__all__ = ["index", "index_put", "gather", "scatter", "scatter_add", "scatter_reduce",
           "index_select", "index_add", "masked_fill", "masked_select", "masked_scatter", "take",
           "take_along_dim", "tril", "triu", "topk", "sort", "argsort", "kthvalue", "one_hot",
           "nonzero", "argwhere", "searchsorted", "bucketize", "unique", "repeat_interleave"]


def _convert_index(idx):
    """Tensors and lists inside an index become ndarrays; everything else passes through."""
    if isinstance(idx, tuple):
        return tuple(_convert_one(i) for i in idx)
    return _convert_one(idx)


def _convert_one(i):
    if isinstance(i, Tensor):
        a = i._data
        if a.dtype.kind == "f":
            raise IndexError(f"index: tensors used as indices must be long, int, byte or bool "
                             f"tensors, got {i.dtype}")
        return a.astype(bool) if a.dtype == np.uint8 else a
    if isinstance(i, list):
        a = np.array([_convert_one(x) for x in i]) if i else np.zeros(0, dtype=np.int64)
        if a.dtype.kind == "f":
            raise IndexError("index: list indices must be integers or bools")
        return a
    return i


def _is_basic(idx):
    items = idx if isinstance(idx, tuple) else (idx,)
    return all(isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis
               for i in items) and not any(isinstance(i, (bool, np.bool_)) for i in items)


def _index_error(x, idx, e):
    return IndexError(f"index: cannot index a tensor of shape {tuple(x.shape)} with {idx!r}: {e}")


def accumulate_at(shape, idx, src, dtype):
    """``out = zeros(shape); out[idx] += src``, summing over repeated indices.

    This is the backward of advanced indexing and gather, and the forward of
    ``index_put(accumulate=True)`` / ``scatter_add``. Index sets that cannot repeat (basic
    indices, boolean masks) are a plain assignment. Otherwise, when the update is not much
    sparser than the target, the linear position of every picked element is looked up once
    and the sums are one ``np.bincount`` (4-10x faster than ``np.add.at``, which remains for
    a few updates into a large target)."""
    out = np.zeros(shape, dtype=dtype)
    items = idx if isinstance(idx, tuple) else (idx,)
    arrays = [i for i in items if isinstance(i, np.ndarray)]
    if all(a.dtype == np.bool_ for a in arrays):
        out[idx] = src
        return out
    size = out.size
    if np.size(src) * 4 < size:
        np.add.at(out, idx, src)
        return out
    picked = np.arange(size).reshape(shape)[idx]
    weights = np.broadcast_to(src, picked.shape).reshape(-1)
    sums = np.bincount(picked.reshape(-1), weights=weights, minlength=size)
    return sums.reshape(shape).astype(dtype, copy=False)


class Index(Function):
    def forward(self, x, idx, basic):
        self.idx, self.basic = idx, basic
        return x[idx]

    def backward(self, grad):
        shape, dt = self._input_meta[0]
        if self.basic:
            g = np.zeros(shape, dtype=grad.dtype)
            g[self.idx] = grad
            return g
        return accumulate_at(shape, self.idx, grad, grad.dtype)


def index(input, idx):
    """``input[idx]`` with torch/NumPy indexing semantics.

    Basic indexing (ints, slices, None, ...) returns a view, even of a single element: like
    torch, ``x[0].mul_(2)`` changes ``x``."""
    conv = _convert_index(idx)
    if _is_basic(conv):
        items = conv if isinstance(conv, tuple) else (conv,)
        if not any(i is Ellipsis for i in items):
            conv = items + (Ellipsis,)
    try:
        return Index.apply(input, idx=conv, basic=_is_basic(conv))
    except (IndexError, ValueError, TypeError) as e:
        raise _index_error(input, idx, e) from None


class IndexPut(Function):
    def forward(self, x, v, idx, accumulate):
        self.idx, self.accumulate = idx, accumulate
        if accumulate:
            return x + accumulate_at(x.shape, idx, v, x.dtype)
        out = x.copy()
        out[idx] = v
        return out

    def backward(self, grad):
        gx = gv = None
        if self.needs_input_grad[0]:
            gx = grad.copy()
            if not self.accumulate:
                gx[self.idx] = 0
        if self.needs_input_grad[1]:
            gv = unbroadcast(np.asarray(grad[self.idx]), self._input_meta[1][0])
        return gx, gv


def index_put(input, indices, values, accumulate=False):
    """Out-of-place ``input[indices] = values`` (``+=`` when ``accumulate``)."""
    conv = _convert_index(indices)
    v = values if isinstance(values, Tensor) else as_tensor_arg(values)
    v = cast(v, input.dtype)
    try:
        np.broadcast_to(v._data, input._data[conv].shape)
    except (IndexError, ValueError, TypeError) as e:
        raise RuntimeError(f"index_put: cannot assign a value of shape {tuple(v.shape)} to "
                           f"index {indices!r} of a tensor of shape {tuple(input.shape)}: {e}") from None
    return IndexPut.apply(input, v, idx=conv, accumulate=accumulate)


def _check_index_tensor(op, index):
    if not isinstance(index, Tensor) or index._data.dtype.kind not in "iu":
        got = index.dtype if isinstance(index, Tensor) else type(index).__name__
        raise RuntimeError(f"{op}: expected index to be an int64 tensor, got {got}")


class Gather(Function):
    def forward(self, x, axis, idx):
        self.axis, self.idx = axis, idx
        return np.take_along_axis(x, idx, axis)

    def backward(self, grad):
        return accumulate_at(self._input_meta[0][0], _along(self.idx, self.axis), grad, grad.dtype)


def _along(idx, axis):
    """The full advanced index that picks ``idx`` along ``axis`` (gather/scatter's pattern)."""
    full = list(np.ogrid[tuple(slice(s) for s in idx.shape)])
    full[axis] = idx
    return tuple(full)


def gather(input, dim, index, *, sparse_grad=False):
    """``out[i][j][k] = input[i][index[i][j][k]][k]`` for dim=1 (and likewise for other dims)."""
    _check_index_tensor("gather", index)
    axis = input._wrap_dim(dim, "gather")
    idx = index._data
    if idx.ndim != input._data.ndim:
        raise RuntimeError(f"gather: index tensor must have the same number of dimensions as "
                           f"input tensor ({input._data.ndim}), got {idx.ndim}")
    for d in range(idx.ndim):
        if d != axis and idx.shape[d] > input._data.shape[d]:
            raise RuntimeError(f"gather: size of index {tuple(idx.shape)} does not fit input "
                               f"{tuple(input.shape)} at dimension {d}")
    n = input._data.shape[axis]
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise RuntimeError(f"gather: index {int(idx.max()) if idx.max() >= n else int(idx.min())} "
                           f"is out of bounds for dimension {dim} with size {n}")
    sl = tuple(slice(0, s) if d != axis else slice(None) for d, s in enumerate(idx.shape))
    src = input[sl] if any(idx.shape[d] != input._data.shape[d] for d in range(idx.ndim) if d != axis) else input
    return Gather.apply(src, axis=axis, idx=idx)


class Scatter(Function):
    def forward(self, x, src, axis, idx, reduce):
        self.axis, self.idx, self.reduce = axis, idx, reduce
        full = self.full = _along(idx, axis)
        s = np.broadcast_to(src, idx.shape) if src.ndim == 0 else src[tuple(slice(0, k) for k in idx.shape)]
        if reduce == "add":
            return x + accumulate_at(x.shape, full, s, x.dtype)
        out = x.copy()
        if reduce == "multiply":
            np.multiply.at(out, full, s)
        else:
            out[full] = s
        return out

    def backward(self, grad):
        gx = gs = None
        if self.reduce == "multiply":
            raise RuntimeError("scatter: the backward of reduce='multiply' is not differentiable "
                               "in Ember; use scatter_reduce or an out-of-place formulation")
        if self.needs_input_grad[0]:
            gx = grad.copy()
            if self.reduce is None:
                gx[self.full] = 0
        if self.needs_input_grad[1]:
            src_shape = self._input_meta[1][0]
            gsel = grad[self.full]
            if len(src_shape) == 0:
                gs = np.asarray(gsel.sum())
            else:
                gs = np.zeros(src_shape, dtype=grad.dtype)
                gs[tuple(slice(0, k) for k in self.idx.shape)] = gsel
        return gx, gs


def scatter(input, dim, index, src=None, *, value=None, reduce=None):
    """Write ``src`` (or ``value``) into ``input`` at ``index`` along ``dim`` (out of place)."""
    _check_index_tensor("scatter", index)
    if src is None and value is None:
        raise TypeError("scatter: expected 'src' or 'value'")
    if src is None or not isinstance(src, Tensor):
        src = Tensor._wrap(np.asarray(value if src is None else src, dtype=input._data.dtype))
    if reduce not in (None, "add", "multiply"):
        raise RuntimeError(f"scatter: reduce argument must be either 'add' or 'multiply', got {reduce!r}")
    axis = input._wrap_dim(dim, "scatter")
    n = input._data.shape[axis]
    idx = index._data
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise RuntimeError(f"scatter: index out of bounds for dimension {dim} with size {n}")
    return Scatter.apply(input, cast(src, input.dtype), axis=axis, idx=idx, reduce=reduce)


def scatter_add(input, dim, index, src):
    return scatter(input, dim, index, src, reduce="add")


def scatter_reduce(input, dim, index, src, reduce, *, include_self=True):
    """Reduce ``src`` into ``input`` at ``index``: 'sum', 'prod', 'mean', 'amax', 'amin'."""
    if reduce == "sum":
        if include_self:
            return scatter_add(input, dim, index, src)
        mask = scatter(Tensor._wrap(np.ones_like(input._data)), dim, index, value=0.0)
        return scatter_add(input * mask, dim, index, src)
    axis = input._wrap_dim(dim, "scatter_reduce")
    idx = index._data
    full = _along(idx, axis)
    out = input._data.copy()
    s = src._data[tuple(slice(0, k) for k in idx.shape)]
    if not include_self:
        touched = np.zeros(out.shape, bool)
        touched[full] = True
        fill = {"prod": 1, "mean": 0, "amax": -np.inf, "amin": np.inf}[reduce]
        out[touched] = fill if out.dtype.kind == "f" else 0
    if reduce == "prod":
        np.multiply.at(out, full, s)
    elif reduce == "amax":
        np.maximum.at(out, full, s)
    elif reduce == "amin":
        np.minimum.at(out, full, s)
    elif reduce == "mean":
        cnt = np.zeros(out.shape, out.dtype) + (1 if include_self else 0)
        np.add.at(out, full, s)
        np.add.at(cnt, full, 1)
        out = np.where(cnt > 0, out / np.maximum(cnt, 1), out).astype(out.dtype)
    else:
        raise RuntimeError(f"scatter_reduce: reduce argument must be one of sum, prod, mean, amax, "
                           f"amin, got {reduce!r}")
    return Tensor._wrap(out)


def index_select(input, dim, index):
    """Rows (or slices along ``dim``) picked by a 1-D integer index."""
    _check_index_tensor("index_select", index)
    if index._data.ndim > 1:
        raise IndexError(f"index_select: index must be a vector, got shape {tuple(index.shape)}")
    axis = input._wrap_dim(dim, "index_select")
    return index_fn_along(input, axis, index._data.reshape(-1))


def index_fn_along(input, axis, idx):
    return globals()["index"](input, (slice(None),) * axis + (idx,))


def repeat_interleave(input, repeats=None, dim=None, *, output_size=None):
    """Each slice along ``dim`` repeated ``repeats`` times in place (``[a, b]`` with 2 ->
    ``[a, a, b, b]``); ``repeats`` is an int or one count per slice; ``dim=None`` flattens
    first. ``repeat_interleave(counts)`` alone gives the indices ``0`` ``counts[0]`` times,
    ``1`` ``counts[1]`` times, ... The result is ``index_select`` with the repeated indices,
    so the gradient sums the copies.
    """
    if repeats is None:                      # repeat_interleave(counts)
        counts = input
        _check_index_tensor("repeat_interleave", counts)
        return Tensor._wrap(np.repeat(np.arange(counts._data.size), counts._data.reshape(-1)))
    if dim is None:
        from ember.ops.shape import reshape
        input, axis = reshape(input, -1), 0
    else:
        axis = input._wrap_dim(dim, "repeat_interleave")
    counts = repeats._data if isinstance(repeats, Tensor) else np.asarray(repeats)
    size = input._data.shape[axis]
    if counts.ndim > 1 or (counts.ndim == 1 and counts.size not in (1, size)):
        raise RuntimeError(f"repeat_interleave: repeats must have the same size as input along "
                           f"dim ({size}), or be a single value; got shape {counts.shape}")
    if counts.dtype.kind not in "iu" or (counts < 0).any():
        raise RuntimeError(f"repeat_interleave: repeats must be non-negative integers, got "
                           f"{counts.tolist()}")
    idx = np.repeat(np.arange(size), counts.reshape(-1) if counts.ndim else int(counts))
    if output_size is not None and len(idx) != output_size:
        raise RuntimeError(f"repeat_interleave: output_size {output_size} does not match the "
                           f"repeated size {len(idx)}")
    return index_fn_along(input, axis, idx)


def index_add(input, dim, index, source, *, alpha=1):
    axis = input._wrap_dim(dim, "index_add")
    src = source if alpha == 1 else source * alpha
    return index_put(input, (slice(None),) * axis + (index._data,), src, accumulate=True)


class MaskedFill(Function):
    def forward(self, x, mask, value):
        self.mask = mask
        return np.where(mask, x.dtype.type(value), x)

    def backward(self, grad):
        return unbroadcast(np.where(self.mask, 0, grad), self._input_meta[0][0]), None


def masked_fill(input, mask, value):
    """Set elements where ``mask`` (bool, broadcastable) is True to ``value``."""
    if not isinstance(mask, Tensor) or mask._data.dtype != np.bool_:
        got = mask.dtype if isinstance(mask, Tensor) else type(mask).__name__
        raise RuntimeError(f"masked_fill: expected a bool mask tensor, got {got}")
    if isinstance(value, Tensor):
        if value._data.ndim != 0:
            raise RuntimeError(f"masked_fill: only supports a 0-dimensional value tensor, but got "
                               f"tensor with {value._data.ndim} dimension(s)")
        if value.requires_grad:
            from ember.ops.elementwise import where
            return where(mask, value, input)
        value = value.item()
    try:
        shape = np.broadcast_shapes(input._data.shape, mask._data.shape)
    except ValueError:
        raise RuntimeError(f"masked_fill: mask of shape {tuple(mask.shape)} is not broadcastable "
                           f"to input of shape {tuple(input.shape)}") from None
    if shape != input._data.shape:
        raise RuntimeError(f"masked_fill: mask of shape {tuple(mask.shape)} would change the "
                           f"shape of the input {tuple(input.shape)}")
    return MaskedFill.apply(input, mask, value=value)


def masked_select(input, mask):
    shape = np.broadcast_shapes(input._data.shape, mask._data.shape)
    from ember.ops.shape import expand
    return index(expand(input, *shape), np.broadcast_to(mask._data, shape))


def masked_scatter(input, mask, source):
    m = np.broadcast_to(mask._data, input._data.shape)
    n = int(m.sum())
    from ember.ops.shape import reshape
    return index_put(input, m, reshape(source, -1)[:n])


def take(input, index):
    from ember.ops.shape import reshape
    return globals()["index"](reshape(input, -1), index._data)


def take_along_dim(input, indices, dim=None):
    if dim is None:
        from ember.ops.shape import reshape
        return gather(reshape(input, -1), 0, reshape(indices, -1))
    return gather(input, dim, indices)


class _Tri(Function):
    def forward(self, x, k, upper):
        self.k, self.upper = k, upper
        return np.triu(x, k) if upper else np.tril(x, k)

    def backward(self, grad):
        return np.triu(grad, self.k) if self.upper else np.tril(grad, self.k)


def tril(input, diagonal=0):
    """Lower triangle (elements on and below ``diagonal``) of the last two dims."""
    if input._data.ndim < 2:
        raise RuntimeError(f"tril: input tensor must have at least 2 dimensions, got shape "
                           f"{tuple(input.shape)}")
    return _Tri.apply(input, k=diagonal, upper=False)


def triu(input, diagonal=0):
    """Upper triangle (elements on and above ``diagonal``) of the last two dims."""
    if input._data.ndim < 2:
        raise RuntimeError(f"triu: input tensor must have at least 2 dimensions, got shape "
                           f"{tuple(input.shape)}")
    return _Tri.apply(input, k=diagonal, upper=True)


class _SortResult(tuple):
    @property
    def values(self):
        return self[0]

    @property
    def indices(self):
        return self[1]


def _sorted_indices(a, axis, descending, stable=True):
    if descending:
        # stable descending order: sort the negated keys (NaN first, as torch puts NaN as largest)
        if a.dtype.kind == "b":
            key = ~a
        elif a.dtype.kind == "u":
            key = a.max(initial=0) - a
        elif a.dtype.kind == "f":
            key = np.where(np.isnan(a), -np.inf, -a)
            idx = np.argsort(key, axis=axis, kind="stable")
            nanfirst = np.argsort(~np.isnan(np.take_along_axis(a, idx, axis)), axis=axis, kind="stable")
            return np.take_along_axis(idx, nanfirst, axis)
        else:
            key = -a
        return np.argsort(key, axis=axis, kind="stable")
    return np.argsort(a, axis=axis, kind="stable")


def sort(input, dim=-1, descending=False, stable=False):
    """``(values, indices)`` sorted along ``dim``; ties keep their original order."""
    axis = input._wrap_dim(dim, "sort") if input._data.ndim else 0
    if input._data.ndim == 0:
        return _SortResult((input.clone(), Tensor._wrap(np.zeros((), np.int64))))
    idx = _sorted_indices(input._data, axis, descending)
    vals = gather(input, axis, Tensor._wrap(idx))
    return _SortResult((vals, Tensor._wrap(idx.astype(np.int64))))


def argsort(input, dim=-1, descending=False, stable=False):
    return sort(input, dim, descending)[1]


def topk(input, k, dim=-1, largest=True, sorted=True):
    """The ``k`` largest (or smallest) elements along ``dim`` and their indices."""
    axis = input._wrap_dim(dim, "topk")
    n = input._data.shape[axis] if input._data.ndim else 1
    if not 0 <= k <= n:
        raise RuntimeError(f"topk: k ({k}) is out of range for dimension {dim} of size {n}")
    idx = _sorted_indices(input._data, axis, descending=largest)
    idx = np.take(idx, np.arange(k), axis=axis)
    vals = gather(input, axis, Tensor._wrap(idx))
    return _SortResult((vals, Tensor._wrap(idx.astype(np.int64))))


def kthvalue(input, k, dim=-1, keepdim=False):
    axis = input._wrap_dim(dim, "kthvalue")
    idx = np.take(np.argsort(input._data, axis=axis, kind="stable"), [k - 1], axis=axis)
    vals = gather(input, axis, Tensor._wrap(idx))
    if not keepdim:
        vals = vals.squeeze(axis)
        idx = np.squeeze(idx, axis)
    return _SortResult((vals, Tensor._wrap(idx.astype(np.int64))))


def one_hot(tensor, num_classes=-1):
    """Integer class indices ``(*)`` -> int64 one-hot ``(*, num_classes)``."""
    if not isinstance(tensor, Tensor) or tensor._data.dtype.kind not in "iu":
        got = tensor.dtype if isinstance(tensor, Tensor) else type(tensor).__name__
        raise RuntimeError(f"one_hot: is only applicable to index tensors (int64), got {got}")
    a = tensor._data
    if a.size and a.min() < 0:
        raise RuntimeError(f"one_hot: class values must be non-negative, got {int(a.min())}")
    if num_classes == -1:
        num_classes = int(a.max()) + 1 if a.size else 0
    elif a.size and a.max() >= num_classes:
        raise RuntimeError(f"one_hot: class values must be smaller than num_classes "
                           f"({num_classes}), got {int(a.max())}")
    out = np.zeros(a.shape + (num_classes,), dtype=np.int64)
    np.put_along_axis(out, a[..., None].astype(np.int64), 1, axis=-1)
    return Tensor._wrap(out)


def nonzero(input, *, as_tuple=False):
    nz = np.nonzero(input._data)
    if as_tuple:
        return tuple(Tensor._wrap(i.astype(np.int64)) for i in nz)
    return Tensor._wrap(np.stack(nz, axis=1).astype(np.int64) if nz else np.zeros((0, 0), np.int64))


argwhere = nonzero


def searchsorted(sorted_sequence, input, *, right=False, side=None):
    side = side or ("right" if right else "left")
    seq = sorted_sequence._data
    vals = input._data if isinstance(input, Tensor) else np.asarray(input)
    if seq.ndim == 1:
        r = np.searchsorted(seq, vals, side=side)
    else:
        r = np.stack([np.searchsorted(s, v, side=side) for s, v in
                      zip(seq.reshape(-1, seq.shape[-1]), vals.reshape(-1, vals.shape[-1]))])
        r = r.reshape(vals.shape)
    return Tensor._wrap(np.asarray(r, dtype=np.int64))


def bucketize(input, boundaries, *, right=False):
    side = "left" if not right else "right"
    return Tensor._wrap(np.searchsorted(boundaries._data, input._data, side=side).astype(np.int64))


def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):
    res = np.unique(input._data, return_inverse=return_inverse, return_counts=return_counts, axis=dim)
    if not isinstance(res, tuple):
        return Tensor._wrap(res)
    out = [Tensor._wrap(res[0])]
    for r in res[1:]:
        out.append(Tensor._wrap(r.astype(np.int64).reshape(input._data.shape) if r.size == input._data.size
                                and return_inverse and r is res[1] else r.astype(np.int64)))
    return tuple(out)


def segment_sum(values, index, size):
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
