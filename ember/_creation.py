"""Tensor factories: ``tensor``, ``zeros``, ``arange``, ``randn``, ... with torch's signatures.

``device`` / ``pin_memory`` / ``layout`` keywords are accepted for compatibility ('cpu' only)."""
import math
import operator

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


_NOT_GIVEN = object()


def _dims(values, op):
    """``values`` as a shape: each must be an integer (Python, NumPy, or a one-element integer
    tensor), as torch requires; floats are refused rather than truncated, and so is a bool in
    the first place (torch's parser reads ``zeros(True)`` as a mistake, ``zeros(2, True)``
    as a size of 1)."""
    dims = []
    for pos, v in enumerate(values):
        if (pos == 0 and isinstance(v, (bool, np.bool_))) or isinstance(v, (float, np.floating)):
            raise TypeError(f"{op}(): argument 'size' must be tuple of ints, but found element of "
                            f"type {type(v).__name__} at pos {pos}")
        try:
            dims.append(operator.index(v))
        except TypeError:
            raise TypeError(f"{op}(): argument 'size' must be tuple of ints, but found element of "
                            f"type {type(v).__name__} at pos {pos}") from None
    if any(d < 0 for d in dims):
        raise RuntimeError(f"{op}: trying to create tensor with negative dimension: {dims}")
    return tuple(dims)


def _size(args, op, kwargs=None):
    """The shape of a factory call in each of torch's forms: ``zeros(2, 3)``, ``zeros((2, 3))``,
    ``zeros([2, 3])``, ``zeros(ember.Size([2, 3]))``, ``zeros(size=(2, 3))``. A ``*size``
    parameter cannot also be a keyword, so ``size=`` arrives in ``kwargs``; anything else
    there is a mistake."""
    kwargs = dict(kwargs or {})
    size = kwargs.pop("size", _NOT_GIVEN)
    if kwargs:
        raise TypeError(f"{op}() got an unexpected keyword argument '{next(iter(kwargs))}'")
    if size is not _NOT_GIVEN:
        if args:
            raise TypeError(f"{op}() got multiple values for argument 'size'")
        return _sequence_size(size, op)
    if not args:
        raise TypeError(f'{op}() missing 1 required positional argument: "size"')
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return _dims(args[0], op)
    return _dims(args, op)


def _sequence_size(size, op):
    """A ``size`` argument that must be a sequence (``full``, ``randint``, ``size=``)."""
    if not isinstance(size, (tuple, list)):
        raise TypeError(f"{op}(): argument 'size' must be tuple of ints, not "
                        f"{type(size).__name__}")
    return _dims(size, op)


def _dt(dtype, default=None):
    if dtype is None:
        return (default or _dtype.get_default_dtype()).np
    return _dtype.to_numpy(dtype)


def _out_dtype(dtype, out, op):
    """The dtype to produce: ``dtype``, else that of ``out`` (which must agree), else None."""
    if out is None:
        return dtype
    if not isinstance(out, Tensor):
        raise TypeError(f"{op}(): argument 'out' must be Tensor, not {type(out).__name__}")
    if dtype is not None and _dtype.as_dtype(dtype) is not out.dtype:
        raise RuntimeError(f"{op}: dtype {_dtype.as_dtype(dtype)} does not match dtype of out "
                           f"parameter ({out.dtype})")
    return out.dtype


def _emit(arr, op, out=None, requires_grad=False):
    """Return ``arr`` as a new tensor, or written into ``out`` (``out=``), as torch does: the
    values are copied into ``out``'s memory when the shapes agree, and ``out`` is resized
    otherwise. A view is never resized (its memory belongs to another tensor)."""
    if out is None:
        return _finish(arr, requires_grad)
    from ember.autograd.grad_mode import is_grad_enabled
    if out.requires_grad and is_grad_enabled():
        raise RuntimeError(f"{op}(): functions with out=... arguments don't support automatic "
                           f"differentiation, but one of the arguments requires grad")
    if out._data.shape == arr.shape:
        out._data[...] = arr
    elif out._base is not None:
        raise RuntimeError(f"{op}: out= is a view of shape {tuple(out.shape)} and the result "
                           f"has shape {arr.shape}; Ember resizes only tensors that own their "
                           f"memory")
    else:
        out._data = arr
    out._bump_version()
    if requires_grad:
        out.requires_grad_(True)
    return out


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


def zeros(*size, out=None, dtype=None, layout=None, device=None, pin_memory=False,
          requires_grad=False, **kwargs):
    """A tensor of zeros, float32 by default: ``zeros(2, 3)``, ``zeros((2, 3))``,
    ``zeros([2, 3])``, ``zeros(size=(2, 3))``; ``out=`` writes into an existing tensor (taking
    its dtype).

    >>> ember.zeros(2, 3)
    tensor([[0., 0., 0.],
            [0., 0., 0.]])
    """
    _check_device(device)
    shape = _size(size, "zeros", kwargs)
    d = _out_dtype(dtype, out, "zeros")
    return _emit(np.zeros(shape, dtype=_dt(d)), "zeros", out, requires_grad)


def ones(*size, out=None, dtype=None, layout=None, device=None, pin_memory=False,
         requires_grad=False, **kwargs):
    """A tensor of ones; the calling forms of :func:`zeros`."""
    _check_device(device)
    shape = _size(size, "ones", kwargs)
    d = _out_dtype(dtype, out, "ones")
    return _emit(np.ones(shape, dtype=_dt(d)), "ones", out, requires_grad)


def empty(*size, out=None, dtype=None, layout=None, device=None, pin_memory=False,
          requires_grad=False, memory_format=None, **kwargs):
    """An uninitialised tensor; the calling forms of :func:`zeros`."""
    _check_device(device)
    shape = _size(size, "empty", kwargs)
    d = _out_dtype(dtype, out, "empty")
    if out is not None and out._data.shape == shape:
        return _emit(out._data, "empty", out, requires_grad)
    return _emit(np.empty(shape, dtype=_dt(d)), "empty", out, requires_grad)


def _fill_dtype(fill_value):
    if isinstance(fill_value, (bool, np.bool_)):
        return _dtype.bool_
    if isinstance(fill_value, (int, np.integer)):
        return _dtype.int64
    return _dtype.get_default_dtype()


def full(size, fill_value, *, out=None, dtype=None, layout=None, device=None, pin_memory=False,
         requires_grad=False):
    """A tensor of ``size`` (a sequence) filled with ``fill_value``; the dtype follows the
    value (bool, int64, or the default float) unless ``dtype`` or ``out`` gives one."""
    _check_device(device)
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    if not isinstance(fill_value, (bool, int, float, np.number, np.bool_)):
        raise TypeError(f"full(): argument 'fill_value' must be Number, not "
                        f"{type(fill_value).__name__}")
    shape = _sequence_size(size, "full")
    d = _out_dtype(dtype, out, "full")
    arr = np.full(shape, fill_value, dtype=_dt(d, _fill_dtype(fill_value)))
    return _emit(arr, "full", out, requires_grad)


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


def arange(start=0, end=None, step=1, *, out=None, dtype=None, layout=None, device=None,
           requires_grad=False):
    """Values ``start, start+step, ...`` below ``end``: ``arange(end)``, ``arange(start, end)``,
    ``arange(start, end, step)`` or by keyword; int64 unless a bound or step is a float."""
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
    is_float = any(isinstance(v, (float, np.floating)) for v in vals)
    d = _out_dtype(dtype, out, "arange")
    d = _dt(d, _dtype.get_default_dtype() if is_float else _dtype.int64)
    n = max(int(math.ceil((end - start) / step)), 0)
    arr = (start + step * np.arange(n, dtype=np.float64)) if is_float else np.arange(start, end, step)
    return _emit(arr.astype(d), "arange", out, requires_grad)


def linspace(start, end, steps, *, out=None, dtype=None, layout=None, device=None,
             requires_grad=False):
    _check_device(device)
    if steps < 0:
        raise RuntimeError(f"linspace: number of steps must be non-negative, got {steps}")
    d = _out_dtype(dtype, out, "linspace")
    return _emit(np.linspace(start, end, int(steps)).astype(_dt(d)), "linspace", out,
                 requires_grad)


def logspace(start, end, steps, base=10.0, *, dtype=None, device=None, requires_grad=False):
    return _finish(np.logspace(start, end, int(steps), base=base).astype(_dt(dtype)), requires_grad)


def eye(n, m=None, *, out=None, dtype=None, layout=None, device=None, requires_grad=False):
    _check_device(device)
    d = _out_dtype(dtype, out, "eye")
    return _emit(np.eye(n, n if m is None else m, dtype=_dt(d)), "eye", out, requires_grad)


def _float_draw(op, dtype, out):
    d = _dtype.as_dtype(_out_dtype(dtype, out, op) or _dtype.get_default_dtype())
    if not d.is_floating_point:
        raise TypeError(f"{op}: draws floating point values; got dtype {d}")
    return d.np


def rand(*size, generator=None, out=None, dtype=None, layout=None, device=None,
         pin_memory=False, requires_grad=False, **kwargs):
    """Uniform samples on [0, 1); the calling forms of :func:`zeros`, plus ``generator=``."""
    _check_device(device)
    shape = _size(size, "rand", kwargs)
    d = _float_draw("rand", dtype, out)
    arr = rng(generator).random(shape, dtype=d if d.itemsize >= 4 else np.float32)
    return _emit(arr.astype(d, copy=False), "rand", out, requires_grad)


def randn(*size, generator=None, out=None, dtype=None, layout=None, device=None,
          pin_memory=False, requires_grad=False, **kwargs):
    """Standard normal samples; the calling forms of :func:`zeros`, plus ``generator=``."""
    _check_device(device)
    shape = _size(size, "randn", kwargs)
    d = _float_draw("randn", dtype, out)
    arr = rng(generator).standard_normal(shape, dtype=d if d.itemsize >= 4 else np.float32)
    return _emit(arr.astype(d, copy=False), "randn", out, requires_grad)


def _int_arg(value, name):
    if isinstance(value, Tensor):
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"randint(): argument '{name}' must be int, not {type(value).__name__}")
    return int(value)


def randint(low=0, high=None, size=None, *, generator=None, out=None, dtype=None, layout=None,
            device=None, requires_grad=False):
    """Integers uniform on ``[low, high)``: ``randint(high, size)``, ``randint(low, high,
    size)``, ``randint(high, size=...)``, ``randint(low=.., high=.., size=..)``; int64 unless
    ``dtype`` or ``out`` gives another dtype (a float dtype holds integer values)."""
    _check_device(device)
    if size is None and isinstance(high, (tuple, list)):
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    if size is None:
        raise TypeError("randint(): missing required argument 'size' (a tuple of ints)")
    low, high = _int_arg(low, "low"), _int_arg(high, "high")
    shape = _sequence_size(size, "randint")
    if high <= low:
        raise RuntimeError(f"randint: random_ expects 'from' to be less than 'to', but got "
                           f"from={low} >= to={high}")
    d = _dtype.as_dtype(_out_dtype(dtype, out, "randint") or _dtype.int64)
    if not d.is_floating_point:
        info = np.iinfo(d.np) if d.np != np.bool_ else np.iinfo(np.uint8)
        top = 1 if d.np == np.bool_ else info.max
        if low < info.min or high - 1 > top:
            raise RuntimeError(f"randint: [{low}, {high}) is out of bounds for {d}")
    arr = rng(generator).integers(low, high, size=shape)
    return _emit(arr.astype(d.np), "randint", out, requires_grad)


def randperm(n, *, generator=None, out=None, dtype=None, layout=None, device=None,
             requires_grad=False):
    _check_device(device)
    d = _out_dtype(dtype, out, "randperm")
    return _emit(rng(generator).permutation(int(n)).astype(_dt(d, _dtype.int64)), "randperm",
                 out, requires_grad)


def rand_like(input, *, dtype=None, generator=None, **_):
    return rand(tuple(input.shape), dtype=dtype or input.dtype, generator=generator)


def randn_like(input, *, dtype=None, generator=None, **_):
    return randn(tuple(input.shape), dtype=dtype or input.dtype, generator=generator)


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
