"""Tensor factories: ``tensor``, ``zeros``, ``arange``, ``randn``, ... with torch's signatures.

``device`` / ``pin_memory`` / ``layout`` keywords are accepted for compatibility ('cpu' only)."""
import math

import numpy as np

from ember import _dtype
from ember._random import rng
from ember._tensor import Tensor, _infer_array, device as _device

__all__ = ["tensor", "as_tensor", "asarray", "from_numpy", "zeros", "ones", "full", "empty",
           "zeros_like", "ones_like", "full_like", "empty_like", "arange", "linspace", "logspace",
           "eye", "rand", "randn", "randint", "randperm", "rand_like", "randn_like",
           "randint_like", "normal", "bernoulli", "multinomial", "scalar_tensor", "meshgrid",
           "diag", "diagonal", "diag_embed", "cartesian_prod", "tril_indices", "triu_indices"]


def _check_device(device):
    if device is not None:
        _device(device)


def _finish(arr, requires_grad):
    t = Tensor._wrap(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _size(size, op):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    try:
        size = tuple(int(s) for s in size)
    except (TypeError, ValueError):
        raise TypeError(f"{op}: size must be a sequence of ints, got {size!r}") from None
    if any(s < 0 for s in size):
        raise RuntimeError(f"{op}: trying to create tensor with negative dimension: {list(size)}")
    return size


def _dt(dtype, default=None):
    if dtype is None:
        return (default or _dtype.get_default_dtype()).np
    return _dtype.to_numpy(dtype)


def tensor(data, *, dtype=None, device=None, requires_grad=False, pin_memory=False):
    """A new tensor copying ``data`` (nested lists, numbers, arrays, tensors).

    Python floats give float32 (the default dtype), ints int64, bools bool.

    >>> ember.tensor([[1., 2.], [3., 4.]])
    tensor([[1., 2.],
            [3., 4.]])
    >>> ember.tensor([1, 2]).dtype, ember.tensor(0.5).dtype
    (ember.int64, ember.float32)"""
    _check_device(device)
    arr = np.array(_infer_array(data, dtype), copy=True)
    return _finish(arr, requires_grad)


def as_tensor(data, dtype=None, device=None):
    """Like ``tensor`` but shares memory with ``data`` when it is a tensor/array of the dtype."""
    _check_device(device)
    if isinstance(data, Tensor):
        if dtype is None or _dtype.as_dtype(dtype) is data.dtype:
            return data
        return data.to(dtype)
    return Tensor._wrap(_infer_array(data, dtype))


asarray = as_tensor


def from_numpy(ndarray):
    """A tensor sharing memory with a NumPy array (keeps its dtype)."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"from_numpy: expected np.ndarray (got {type(ndarray).__name__})")
    _dtype.from_numpy(ndarray.dtype)
    return Tensor._wrap(ndarray)


def zeros(*size, dtype=None, device=None, requires_grad=False, out=None, layout=None, pin_memory=False):
    """A tensor of zeros of shape ``size`` (ints or one sequence), float32 by default.

    >>> ember.zeros(2, 3)
    tensor([[0., 0., 0.],
            [0., 0., 0.]])
    """
    _check_device(device)
    return _finish(np.zeros(_size(size, "zeros"), dtype=_dt(dtype)), requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False, out=None, layout=None, pin_memory=False):
    _check_device(device)
    return _finish(np.ones(_size(size, "ones"), dtype=_dt(dtype)), requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False, out=None, layout=None,
          pin_memory=False, memory_format=None):
    _check_device(device)
    return _finish(np.empty(_size(size, "empty"), dtype=_dt(dtype)), requires_grad)


def _fill_dtype(fill_value):
    if isinstance(fill_value, (bool, np.bool_)):
        return _dtype.bool_
    if isinstance(fill_value, (int, np.integer)):
        return _dtype.int64
    return _dtype.get_default_dtype()


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False, layout=None,
         pin_memory=False):
    """A tensor of ``size`` filled with ``fill_value`` (dtype inferred from the value)."""
    _check_device(device)
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    d = _dt(dtype, _fill_dtype(fill_value))
    return _finish(np.full(_size((size,), "full"), fill_value, dtype=d), requires_grad)


def _like(op, input, dtype):
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: argument 'input' must be Tensor, not {type(input).__name__}")
    return input._data.shape, (input._data.dtype if dtype is None else _dtype.to_numpy(dtype))


def zeros_like(input, *, dtype=None, device=None, requires_grad=False, memory_format=None, layout=None):
    shape, d = _like("zeros_like", input, dtype)
    return _finish(np.zeros(shape, dtype=d), requires_grad)


def ones_like(input, *, dtype=None, device=None, requires_grad=False, memory_format=None, layout=None):
    shape, d = _like("ones_like", input, dtype)
    return _finish(np.ones(shape, dtype=d), requires_grad)


def empty_like(input, *, dtype=None, device=None, requires_grad=False, memory_format=None, layout=None):
    shape, d = _like("empty_like", input, dtype)
    return _finish(np.empty(shape, dtype=d), requires_grad)


def full_like(input, fill_value, *, dtype=None, device=None, requires_grad=False,
              memory_format=None, layout=None):
    shape, d = _like("full_like", input, dtype)
    return _finish(np.full(shape, fill_value, dtype=d), requires_grad)


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False, out=None,
           layout=None):
    """Values ``start, start+step, ...`` below ``end``; int64 unless a bound or step is a float."""
    _check_device(device)
    if end is None:
        start, end = 0, start
    vals = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    start, end, step = vals
    if step == 0:
        raise RuntimeError("arange: step must be nonzero")
    if (end - start) * step < 0:
        raise RuntimeError(f"arange: upper bound and larger bound inconsistent with step sign "
                           f"(start={start}, end={end}, step={step})")
    is_float = any(isinstance(v, float) for v in vals)
    d = _dt(dtype, _dtype.get_default_dtype() if is_float else _dtype.int64)
    n = max(int(math.ceil((end - start) / step)), 0)
    arr = (start + step * np.arange(n, dtype=np.float64)) if is_float else np.arange(start, end, step)
    return _finish(arr.astype(d), requires_grad)


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False, out=None, layout=None):
    _check_device(device)
    if steps < 0:
        raise RuntimeError(f"linspace: number of steps must be non-negative, got {steps}")
    return _finish(np.linspace(start, end, int(steps)).astype(_dt(dtype)), requires_grad)


def logspace(start, end, steps, base=10.0, *, dtype=None, device=None, requires_grad=False):
    return _finish(np.logspace(start, end, int(steps), base=base).astype(_dt(dtype)), requires_grad)


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False, out=None, layout=None):
    _check_device(device)
    return _finish(np.eye(n, n if m is None else m, dtype=_dt(dtype)), requires_grad)


def rand(*size, generator=None, dtype=None, device=None, requires_grad=False, out=None, layout=None,
         pin_memory=False):
    """Uniform samples on [0, 1)."""
    _check_device(device)
    d = _dt(dtype)
    return _finish(rng(generator).random(_size(size, "rand"), dtype=d if d.itemsize >= 4 else np.float32)
                   .astype(d, copy=False), requires_grad)


def randn(*size, generator=None, dtype=None, device=None, requires_grad=False, out=None, layout=None,
          pin_memory=False):
    """Standard normal samples."""
    _check_device(device)
    d = _dt(dtype)
    return _finish(rng(generator).standard_normal(_size(size, "randn"),
                                                  dtype=d if d.itemsize >= 4 else np.float32)
                   .astype(d, copy=False), requires_grad)


def randint(low=0, high=None, size=None, *, generator=None, dtype=None, device=None,
            requires_grad=False, out=None, layout=None):
    """Integers uniform on ``[low, high)``: ``randint(high, size)`` or ``randint(low, high, size)``."""
    _check_device(device)
    if size is None:
        if high is None or not isinstance(high, (tuple, list)):
            raise TypeError("randint: missing required argument 'size'")
        low, high, size = 0, low, high
    elif high is None:
        raise TypeError("randint: missing required argument 'high'")
    if high <= low:
        raise RuntimeError(f"randint: expects 'from' < 'to', but got from={low} >= to={high}")
    arr = rng(generator).integers(low, high, size=_size((size,), "randint"))
    return _finish(arr.astype(_dt(dtype, _dtype.int64)), requires_grad)


def randperm(n, *, generator=None, dtype=None, device=None, requires_grad=False, out=None, layout=None):
    _check_device(device)
    return _finish(rng(generator).permutation(int(n)).astype(_dt(dtype, _dtype.int64)), requires_grad)


def rand_like(input, *, dtype=None, generator=None, **_):
    return rand(*input.shape, dtype=dtype or input.dtype, generator=generator)


def randn_like(input, *, dtype=None, generator=None, **_):
    return randn(*input.shape, dtype=dtype or input.dtype, generator=generator)


def randint_like(input, low=0, high=None, *, dtype=None, generator=None, **_):
    if high is None:
        low, high = 0, low
    return randint(low, high, tuple(input.shape), dtype=dtype or input.dtype, generator=generator)


def normal(mean, std=1.0, size=None, *, generator=None, dtype=None):
    """Samples from N(mean, std^2); mean/std may be tensors (broadcast) or numbers with ``size``."""
    m = mean._data if isinstance(mean, Tensor) else mean
    s = std._data if isinstance(std, Tensor) else std
    shape = np.broadcast_shapes(np.shape(m), np.shape(s)) if size is None else _size((size,), "normal")
    d = _dt(dtype, mean.dtype if isinstance(mean, Tensor) else None)
    return Tensor._wrap((m + s * rng(generator).standard_normal(shape)).astype(d))


def bernoulli(input, p=None, *, generator=None):
    prob = input._data if p is None else np.full(input._data.shape, p)
    return Tensor._wrap((rng(generator).random(input._data.shape) < prob).astype(input._data.dtype))


def multinomial(input, num_samples, replacement=False, *, generator=None):
    """Draw category indices with probabilities proportional to the rows of ``input``."""
    p = input._data.astype(np.float64)
    single = p.ndim == 1
    p = p.reshape(-1, p.shape[-1])
    if (p < 0).any() or not np.isfinite(p).all():
        raise RuntimeError("multinomial: probability tensor contains either inf, nan or element < 0")
    sums = p.sum(-1, keepdims=True)
    if (sums == 0).any():
        raise RuntimeError("multinomial: invalid multinomial distribution (sum of probabilities <= 0)")
    p = p / sums
    g = rng(generator)
    if not replacement and num_samples > (p > 0).sum(-1).min():
        raise RuntimeError("multinomial: cannot sample n_sample > prob_dist.size(-1) samples "
                           "without replacement")
    if replacement:
        u = g.random((p.shape[0], num_samples))
        out = np.stack([np.searchsorted(np.cumsum(row), ur, side="right") for row, ur in zip(p, u)])
        out = np.minimum(out, p.shape[1] - 1)
    else:
        # Gumbel top-k: sampling without replacement proportional to p
        with np.errstate(divide="ignore"):
            keys = np.log(p) - np.log(-np.log(g.random(p.shape)))
        out = np.argsort(-keys, axis=-1, kind="stable")[:, :num_samples]
    out = out.astype(np.int64)
    return Tensor._wrap(out[0] if single else out)


def scalar_tensor(s, *, dtype=None, device=None, requires_grad=False):
    return _finish(np.asarray(s, dtype=_dt(dtype)), requires_grad)


def meshgrid(*tensors, indexing="ij"):
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    from ember.ops.shape import expand, reshape
    n = len(tensors)
    shape = [t.numel() for t in tensors]
    if indexing == "xy" and n >= 2:
        shape[0], shape[1] = shape[1], shape[0]
    out = []
    for i, t in enumerate(tensors):
        view = [1] * n
        pos = i
        if indexing == "xy" and n >= 2 and i < 2:
            pos = 1 - i
        view[pos] = -1
        out.append(expand(reshape(t, *view), *shape))
    return tuple(out)


def diag(input, diagonal=0):
    """1-D -> a diagonal matrix; 2-D -> its diagonal (differentiable)."""
    from ember.ops.indexing import index_put
    if input._data.ndim == 1:
        n = input._data.shape[0] + abs(diagonal)
        z = Tensor._wrap(np.zeros((n, n), dtype=input._data.dtype))
        r = np.arange(input._data.shape[0])
        rows, cols = (r, r + diagonal) if diagonal >= 0 else (r - diagonal, r)
        return index_put(z, (rows, cols), input)
    return diagonal_(input, diagonal)


def diagonal_(input, offset=0, dim1=0, dim2=1):
    from ember.ops.indexing import index
    from ember.ops.shape import movedim
    x = movedim(input, (dim1, dim2), (-2, -1))
    n, m = x._data.shape[-2:]
    k = max(min(n, m - offset) if offset >= 0 else min(n + offset, m), 0)
    r = np.arange(k)
    rows, cols = (r, r + offset) if offset >= 0 else (r - offset, r)
    return index(x, (Ellipsis, rows, cols))


diagonal = diagonal_


def diag_embed(input, offset=0, dim1=-2, dim2=-1):
    from ember.ops.indexing import index_put
    n = input._data.shape[-1] + abs(offset)
    z = Tensor._wrap(np.zeros(input._data.shape[:-1] + (n, n), dtype=input._data.dtype))
    r = np.arange(input._data.shape[-1])
    rows, cols = (r, r + offset) if offset >= 0 else (r - offset, r)
    return index_put(z, (Ellipsis, rows, cols), input)


def cartesian_prod(*tensors):
    from ember.ops.shape import stack, reshape
    grids = meshgrid(*tensors, indexing="ij")
    return stack([reshape(g, -1) for g in grids], 1)


def tril_indices(row, col, offset=0, *, dtype=None, device=None):
    r, c = np.tril_indices(row, offset, col)
    return Tensor._wrap(np.stack([r, c]).astype(_dt(dtype, _dtype.int64)))


def triu_indices(row, col, offset=0, *, dtype=None, device=None):
    r, c = np.triu_indices(row, offset, col)
    return Tensor._wrap(np.stack([r, c]).astype(_dt(dtype, _dtype.int64)))
