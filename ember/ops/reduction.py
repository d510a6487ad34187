"""Reductions over dimensions: sum, mean, prod, max/min, var/std, logsumexp, norm, ...

Each takes ``dim`` (an int, a tuple of ints, or None for all) and ``keepdim`` like torch. At the
end of the file: counting (``bincount``, ``histc``), finite differences (``diff``) and ``trace``.
"""
import builtins

import numpy as np

from ember import _dtype
from ember._tensor import Tensor
from ember.autograd.function import Function
from ember.ops.elementwise import cast

__all__ = ["sum", "mean", "prod", "max", "min", "amax", "amin", "argmax", "argmin", "var", "std",
           "var_mean", "std_mean", "logsumexp", "norm", "all", "any", "cumsum", "cumprod",
           "count_nonzero", "aminmax", "median", "nansum", "bincount", "histc", "diff", "trace"]


def _dims(x, dim, op):
    """Normalise ``dim`` to a sorted tuple of non-negative axes (None -> all axes)."""
    nd = x._data.ndim
    if dim is None or (isinstance(dim, (tuple, list)) and len(dim) == 0):
        return tuple(range(nd))
    if isinstance(dim, (int, np.integer)):
        dim = (dim,)
    if not isinstance(dim, (tuple, list)):
        raise TypeError(f"{op}: dim must be an int, a tuple of ints or None, got "
                        f"{type(dim).__name__} {dim!r}")
    axes = tuple(sorted(x._wrap_dim(d, op) for d in dim))
    if len(set(axes)) != len(axes):
        raise RuntimeError(f"{op}: dim {tuple(dim)} appears multiple times in the list of dims")
    return axes


def _expand_back(grad, shape, axes, keepdim):
    """Reinsert reduced axes so ``grad`` broadcasts against the input of shape ``shape``."""
    if not keepdim and len(shape):
        grad = np.expand_dims(grad, axes)
    return grad


class Sum(Function):
    def forward(self, x, axes, keepdim, dtype):
        self.axes, self.keepdim = axes, keepdim
        return np.sum(x, axis=axes, keepdims=keepdim, dtype=dtype)

    def backward(self, grad):
        shape = self._input_meta[0][0]
        g = _expand_back(grad, shape, self.axes, self.keepdim)
        return np.broadcast_to(g, shape)


def sum(input, dim=None, keepdim=False, *, dtype=None):
    """Sum over ``dim`` (all elements when None). Integer and bool inputs sum to int64."""
    axes = _dims(input, dim, "sum")
    if dtype is not None:
        input = cast(input, dtype)
    npd = input._data.dtype
    if npd.kind in "biu":
        npd = np.dtype(np.int64)
    return Sum.apply(input, axes=axes, keepdim=keepdim, dtype=npd)


def nansum(input, dim=None, keepdim=False):
    from ember.ops.elementwise import isnan, where
    return sum(where(isnan(input), 0.0, input), dim, keepdim)


class Mean(Function):
    def forward(self, x, axes, keepdim):
        self.axes, self.keepdim = axes, keepdim
        self.count = int(np.prod([x.shape[a] for a in axes])) if axes else 1
        return np.mean(x, axis=axes, keepdims=keepdim)

    def backward(self, grad):
        shape = self._input_meta[0][0]
        g = _expand_back(grad, shape, self.axes, self.keepdim) / grad.dtype.type(self.count)
        return np.broadcast_to(g, shape)


def mean(input, dim=None, keepdim=False, *, dtype=None):
    """Arithmetic mean over ``dim``; needs a floating point input (or ``dtype``), as in torch."""
    if dtype is not None:
        input = cast(input, dtype)
    if input._data.dtype.kind != "f":
        raise RuntimeError(f"mean: could not infer output dtype. Input dtype must be either a "
                           f"floating point or complex dtype. Got: {input.dtype}")
    axes = _dims(input, dim, "mean")
    return Mean.apply(input, axes=axes, keepdim=keepdim)


class Prod(Function):
    saved_inputs = (0,)

    def forward(self, x, axis, keepdim):
        self.x, self.axis, self.keepdim = x, axis, keepdim
        return np.prod(x, axis=axis, keepdims=keepdim)

    def backward(self, grad):
        x = self.x
        if self.axis is None:
            flat = x.reshape(-1)
            others = _exclusive_prod(flat[None, :])[0].reshape(x.shape)
            return grad * others
        moved = np.moveaxis(x, self.axis, -1)
        others = np.moveaxis(_exclusive_prod(moved), -1, self.axis)
        g = grad if self.keepdim else np.expand_dims(grad, self.axis)
        return g * others


def _exclusive_prod(a):
    """Product of all other elements along the last axis, exact with zeros."""
    ones = np.ones(a.shape[:-1] + (1,), dtype=a.dtype)
    left = np.cumprod(np.concatenate([ones, a[..., :-1]], axis=-1), axis=-1)
    right = np.cumprod(np.concatenate([ones, a[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    return left * right


def prod(input, dim=None, keepdim=False, *, dtype=None):
    if dtype is not None:
        input = cast(input, dtype)
    if input._data.dtype.kind in "biu":
        input = cast(input, _dtype.int64)
    axis = None if dim is None else input._wrap_dim(dim, "prod")
    return Prod.apply(input, axis=axis, keepdim=keepdim)


class _ExtremeAll(Function):
    """max()/min()/amax/amin: the gradient is shared evenly among tied extremes."""
    saved_inputs = (0,)
    saves_output = True

    def forward(self, x, axes, keepdim, fn):
        self.x, self.axes, self.keepdim = x, axes, keepdim
        self.out = fn(x, axis=axes, keepdims=keepdim)
        return self.out

    def backward(self, grad):
        shape = self.x.shape
        out = _expand_back(self.out, shape, self.axes, self.keepdim)
        g = _expand_back(grad, shape, self.axes, self.keepdim)
        mask = (self.x == out)
        count = mask.sum(axis=self.axes, keepdims=True)
        return g * mask / count.astype(grad.dtype)


class _ExtremeDim(Function):
    """max(dim)/min(dim): ``(values, indices)`` of the first extreme along ``axis`` (a NaN
    counts as the extreme, as in torch); the gradient of the values goes to the returned
    index, the int64 indices take none."""

    def forward(self, x, axis, keepdim, arg):
        idx = _first_index(x, axis, arg)
        self.axis, self.keepdim, self.idx = axis, keepdim, idx
        out = np.take_along_axis(x, np.expand_dims(idx, axis), axis)
        indices = idx.astype(np.int64, copy=False)
        if keepdim:
            return out, np.expand_dims(indices, axis)
        return np.squeeze(out, axis), indices

    def backward(self, grad, grad_indices=None):
        shape, dt = self._input_meta[0]
        g = np.zeros(shape, dtype=grad.dtype)
        g_k = grad if self.keepdim else np.expand_dims(grad, self.axis)
        np.put_along_axis(g, np.expand_dims(self.idx, self.axis), g_k, self.axis)
        return g


class _MinMax(tuple):
    """``(values, indices)`` returned by ``max(dim)``, like torch's named tuple."""

    @property
    def values(self):
        return self[0]

    @property
    def indices(self):
        return self[1]


def _extreme(input, dim, keepdim, op, other):
    name = "max" if op is np.max else "min"
    if isinstance(dim, Tensor):
        from ember.ops.elementwise import maximum, minimum
        return (maximum if name == "max" else minimum)(input, dim)
    if dim is None:
        if input._data.size == 0:
            raise RuntimeError(f"{name}: expected a non-empty tensor for reduction over all elements")
        return _ExtremeAll.apply(input, axes=tuple(range(input._data.ndim)), keepdim=False, fn=op)
    axis = input._wrap_dim(dim, name)
    if input._data.shape and input._data.shape[axis] == 0:
        raise IndexError(f"{name}: expected reduction dim {dim} to have non-zero size")
    arg = np.argmax if name == "max" else np.argmin
    return _MinMax(_ExtremeDim.apply(input, axis=axis, keepdim=keepdim, arg=arg))


def _first_index(a, axis, arg):
    if a.dtype.kind == "f" and np.isnan(a).any():
        return np.argmax(np.isnan(a), axis=axis)
    return arg(a, axis=axis)


def max(input, dim=None, keepdim=False, *, out=None):
    """``max(x)`` -> the largest value; ``max(x, dim)`` -> ``(values, indices)``;
    ``max(x, other)`` -> elementwise maximum."""
    return _extreme(input, dim, keepdim, np.max, None)


def min(input, dim=None, keepdim=False, *, out=None):
    """``min(x)`` -> the smallest value; ``min(x, dim)`` -> ``(values, indices)``."""
    return _extreme(input, dim, keepdim, np.min, None)


def amax(input, dim=(), keepdim=False):
    return _ExtremeAll.apply(input, axes=_dims(input, dim, "amax"), keepdim=keepdim, fn=np.max)


def amin(input, dim=(), keepdim=False):
    return _ExtremeAll.apply(input, axes=_dims(input, dim, "amin"), keepdim=keepdim, fn=np.min)


def aminmax(input, *, dim=None, keepdim=False):
    return amin(input, dim if dim is not None else (), keepdim), amax(
        input, dim if dim is not None else (), keepdim)


def argmax(input, dim=None, keepdim=False):
    """Index of the first largest value along ``dim`` (of the flattened tensor when None)."""
    if dim is None:
        r = np.asarray(_first_index(input._data.reshape(-1), 0, np.argmax), dtype=np.int64)
        return Tensor._wrap(r.reshape((1,) * input._data.ndim) if keepdim else r)
    axis = input._wrap_dim(dim, "argmax")
    r = _first_index(input._data, axis, np.argmax)
    return Tensor._wrap(np.asarray(np.expand_dims(r, axis) if keepdim else r, dtype=np.int64))


def argmin(input, dim=None, keepdim=False):
    """Index of the first smallest value along ``dim`` (of the flattened tensor when None)."""
    if dim is None:
        r = np.asarray(_first_index(input._data.reshape(-1), 0, np.argmin), dtype=np.int64)
        return Tensor._wrap(r.reshape((1,) * input._data.ndim) if keepdim else r)
    axis = input._wrap_dim(dim, "argmin")
    r = _first_index(input._data, axis, np.argmin)
    return Tensor._wrap(np.asarray(np.expand_dims(r, axis) if keepdim else r, dtype=np.int64))


class Var(Function):
    saved_inputs = (0,)

    def forward(self, x, axes, correction, keepdim):
        self.x, self.axes, self.correction, self.keepdim = x, axes, correction, keepdim
        self.mu = np.mean(x, axis=axes, keepdims=True)
        n = int(np.prod([x.shape[a] for a in axes])) if axes else 1
        self.denom = x.dtype.type(builtins.max(n - correction, 0))
        d = x - self.mu
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.sum(d * d, axis=axes, keepdims=keepdim) / self.denom

    def backward(self, grad):
        g = _expand_back(grad, self.x.shape, self.axes, self.keepdim)
        return g * (2 / self.denom) * (self.x - self.mu)


def _correction(unbiased, correction, op):
    if correction is not None and unbiased is not None:
        raise RuntimeError(f"{op}: cannot specify both 'unbiased' and 'correction'")
    if correction is not None:
        return correction
    return 0 if unbiased is False else 1


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Variance with Bessel's correction by default (``correction=1``)."""
    if isinstance(dim, bool):
        unbiased, dim = dim, None
    if input._data.dtype.kind != "f":
        raise RuntimeError(f"var/std: only floating point dtypes are supported, got {input.dtype}")
    return Var.apply(input, axes=_dims(input, dim, "var"),
                     correction=_correction(unbiased, correction, "var"), keepdim=keepdim)


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    from ember.ops.elementwise import sqrt
    return sqrt(var(input, dim, unbiased, keepdim, correction=correction))


def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return var(input, dim, unbiased, keepdim, correction=correction), mean(input, dim, keepdim)


def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return std(input, dim, unbiased, keepdim, correction=correction), mean(input, dim, keepdim)


class LogSumExp(Function):
    saved_inputs = (0,)
    saves_output = True

    def forward(self, x, axes, keepdim):
        self.x, self.axes, self.keepdim = x, axes, keepdim
        m = np.max(x, axis=axes, keepdims=True) if x.size else np.zeros((1,) * x.ndim, x.dtype)
        m = np.where(np.isfinite(m), m, 0)
        with np.errstate(divide="ignore"):  # log(0) = -inf for empty or all -inf slices
            s = np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True)) + m
        self.out = s if keepdim else np.squeeze(s, axes)
        return self.out

    def backward(self, grad):
        g = _expand_back(grad, self.x.shape, self.axes, self.keepdim)
        out = _expand_back(self.out, self.x.shape, self.axes, self.keepdim)
        return g * np.exp(self.x - out)


def logsumexp(input, dim, keepdim=False):
    """``log(sum(exp(x)))`` computed stably by subtracting the maximum."""
    x = input if input._data.dtype.kind == "f" else cast(input, _dtype.get_default_dtype())
    return LogSumExp.apply(x, axes=_dims(x, dim, "logsumexp"), keepdim=keepdim)


class Norm(Function):
    """Vector p-norm ``(sum |x|^p)^(1/p)`` over ``axes`` (``max |x|`` for inf, ``min |x|`` for
    -inf, the count of non-zeros for 0).

    Backward with torch's choices where the norm is not differentiable (``norm_backward`` in
    torch's ``FunctionsManual.cpp``): ``g x / ||x||`` for p = 2 and ``g sgn(x) |x|^(p-1) /
    ||x||^(p-1)`` for other p > 1, both 0 where the norm is 0; ``g sgn(x)`` for p = 1; for
    p < 1, ``g sgn(x) |x|^(p-1) ||x||^(1-p)`` with ``|x|^(p-1)`` read as 0 at x = 0; for +-inf
    the gradient split evenly among the elements that attain the extreme (or are NaN); 0 for
    p = 0."""
    saved_inputs = (0,)
    saves_output = True

    def forward(self, x, p, axes, keepdim):
        self.x, self.p, self.axes, self.keepdim = x, p, axes, keepdim
        a = np.abs(x)
        with np.errstate(divide="ignore", over="ignore"):  # 0 ** (p < 0) = inf, as in torch
            if p == np.inf:
                out = np.max(a, axis=axes, keepdims=keepdim)
            elif p == -np.inf:
                out = np.min(a, axis=axes, keepdims=keepdim)
            elif p == 0:
                out = np.sum(a != 0, axis=axes, keepdims=keepdim).astype(x.dtype)
            elif p == 1:
                out = np.sum(a, axis=axes, keepdims=keepdim)
            elif p == 2:
                out = np.sqrt(np.sum(x * x, axis=axes, keepdims=keepdim))
            else:
                out = np.sum(a ** p, axis=axes, keepdims=keepdim) ** (1.0 / p)
        self.out = np.asarray(out, dtype=x.dtype)
        return self.out

    def backward(self, grad):
        x, p = self.x, self.p
        g = _expand_back(grad, x.shape, self.axes, self.keepdim)
        n = _expand_back(self.out, x.shape, self.axes, self.keepdim)
        a = np.abs(x)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if p == 0:
                r = np.zeros_like(x)
            elif p == 1:
                r = g * np.sign(x)
            elif p == 2:
                r = g * np.where(n == 0, 0, x / n)
            elif p in (np.inf, -np.inf):
                extreme = (a == n) | np.isnan(a)
                r = np.sign(x) * (g / extreme.sum(axis=self.axes, keepdims=True)) * extreme
            elif p < 1:
                r = np.where(x == 0, 0, np.sign(x) * a ** (p - 1)) * g * n ** (1 - p)
            else:
                r = np.sign(x) * a ** (p - 1) * np.where(n == 0, 0, g / n ** (p - 1))
        return r.astype(x.dtype, copy=False)


def norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    """Vector p-norm over ``dim`` (2-norm / Frobenius by default; p may be inf, -inf, 0, 1, ...)."""
    if dtype is not None:
        input = cast(input, dtype)
    if input._data.dtype.kind != "f":
        raise RuntimeError(f"norm: expected a floating point input, got {input.dtype}")
    if p == "fro" or p is None:
        p = 2
    if p == "nuc":
        raise ValueError("norm: the nuclear norm is not supported; use a vector p-norm")
    return Norm.apply(input, p=float(p), axes=_dims(input, dim, "norm"), keepdim=keepdim)


def all(input, dim=None, keepdim=False):
    axes = None if dim is None else _dims(input, dim, "all")
    return Tensor._wrap(np.asarray(np.all(input._data, axis=axes, keepdims=keepdim)))


def any(input, dim=None, keepdim=False):
    axes = None if dim is None else _dims(input, dim, "any")
    return Tensor._wrap(np.asarray(np.any(input._data, axis=axes, keepdims=keepdim)))


def count_nonzero(input, dim=None):
    axes = None if dim is None else _dims(input, dim, "count_nonzero")
    return Tensor._wrap(np.asarray(np.count_nonzero(input._data, axis=axes), dtype=np.int64))


class Cumsum(Function):
    def forward(self, x, axis):
        self.axis = axis
        return np.cumsum(x, axis=axis)

    def backward(self, grad):
        return np.flip(np.cumsum(np.flip(grad, self.axis), axis=self.axis), self.axis)


def cumsum(input, dim, *, dtype=None):
    if dtype is not None:
        input = cast(input, dtype)
    elif input._data.dtype.kind in "biu":
        input = cast(input, _dtype.int64)
    return Cumsum.apply(input, axis=input._wrap_dim(dim, "cumsum"))


class Cumprod(Function):
    """``out_j = prod_{k<=j} x_k`` along an axis.

    Backward: ``dx_i = sum_{j>=i} g_j prod_{k<=j, k!=i} x_k``. Before the first zero of a
    slice this is ``revcumsum(g * out)_i / x_i``; at the first zero ``z`` it is
    ``revcumsum(g * c)_z`` with ``c`` the cumulative product that skips ``x_z``; after it, 0."""
    saved_inputs = (0,)
    saves_output = True

    def forward(self, x, axis):
        self.x, self.axis = x, axis
        self.out = np.cumprod(x, axis=axis)
        return self.out

    def backward(self, grad):
        x = np.moveaxis(self.x, self.axis, -1)
        out = np.moveaxis(self.out, self.axis, -1)
        g = np.moveaxis(grad, self.axis, -1)
        n = x.shape[-1]
        pos = np.arange(n)
        zero = x == 0
        first = np.where(zero.any(-1), np.argmax(zero, -1), n)[..., None]
        at_first = pos == first
        skipped = np.cumprod(np.where(at_first, 1, x), axis=-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            before = _reverse_cumsum(g * out) / np.where(pos < first, x, 1)
        dx = np.where(pos < first, before, np.where(at_first, _reverse_cumsum(g * skipped), 0))
        return np.moveaxis(dx, -1, self.axis)


def _reverse_cumsum(a):
    return np.flip(np.cumsum(np.flip(a, -1), axis=-1), -1)


def cumprod(input, dim, *, dtype=None):
    if dtype is not None:
        input = cast(input, dtype)
    return Cumprod.apply(input, axis=input._wrap_dim(dim, "cumprod"))


def median(input, dim=None, keepdim=False):
    """Lower median (torch's convention); with ``dim`` returns ``(values, indices)``."""
    from ember.ops.indexing import gather
    if dim is None:
        flat = input.reshape(-1)
        k = (flat.shape[0] - 1) // 2
        idx = np.argsort(flat._data, kind="stable")[k]
        return flat[int(idx)]
    axis = input._wrap_dim(dim, "median")
    k = (input._data.shape[axis] - 1) // 2
    order = np.argsort(input._data, axis=axis, kind="stable")
    idx = np.take(order, [k], axis=axis)
    vals = gather(input, axis, Tensor._wrap(idx.astype(np.int64)))
    if not keepdim:
        vals = vals.squeeze(axis)
        idx = np.squeeze(idx, axis)
    return _MinMax((vals, Tensor._wrap(idx.astype(np.int64))))


# ------------------------------------------------------------- counting, differences, trace
def bincount(input, weights=None, minlength=0):
    """How often each value occurs in a 1-D tensor of non-negative integers: ``out[v] =
    #{i : input[i] == v}``, or ``sum of weights[i]`` over those ``i`` with ``weights`` (same
    length as ``input``); ``len(out) = max(max(input) + 1, minlength)``.

    Counts are int64; weighted sums are float32 for float32 weights and float64 for any other
    weight dtype (torch's rule). Not differentiable, as in torch."""
    x = input._data
    if x.dtype.kind not in "iu":
        raise RuntimeError(f"bincount: expected a tensor of integers, got dtype {input.dtype}")
    if x.ndim != 1 or (x.size and x.min() < 0):
        raise RuntimeError(f"bincount: only supports 1-d non-negative integral inputs; got shape "
                           f"{tuple(x.shape)}" + (f" with minimum {x.min()}" if x.size else ""))
    if minlength < 0:
        raise RuntimeError(f"bincount: minlength should be >= 0, got {minlength}")
    if weights is None:
        return Tensor._wrap(np.bincount(x, minlength=minlength).astype(np.int64))
    w = weights._data
    if w.shape != x.shape:
        raise RuntimeError(f"bincount: weights should be 1-d and have the same length as input "
                           f"({x.shape[0]}), got shape {tuple(w.shape)}")
    out_dtype = np.float32 if w.dtype == np.float32 else np.float64
    return Tensor._wrap(np.bincount(x, weights=w.astype(np.float64), minlength=minlength)
                        .astype(out_dtype))


def histc(input, bins=100, min=0, max=0):
    """Histogram of the elements of ``input`` (any shape, flattened) over ``bins`` equal-width
    bins spanning ``[min, max]``; elements outside the range (and NaNs) are ignored, ``max``
    itself falls in the last bin. When ``min == max`` the range is the data's ``[min(x),
    max(x)]``, widened to ``[v - 1, v + 1]`` when those are equal too (torch's rule).

    The bin of ``x`` is ``floor((x - min) * bins / (max - min))`` computed in the input dtype,
    as torch's CPU kernel does, so the counts agree at the bin edges. The result has the
    input's floating dtype. Not differentiable, as in torch."""
    x = input._data
    if x.dtype.kind != "f":
        raise RuntimeError(f"histc: expected a floating point input, got dtype {input.dtype}")
    if bins <= 0:
        raise RuntimeError(f"histc: bins must be > 0, but got {bins}")
    low, high = float(min), float(max)
    if low == high and x.size:
        low, high = float(np.min(x)), float(np.max(x))
    if low == high:
        low, high = low - 1, high + 1
    if not (np.isfinite(low) and np.isfinite(high)):
        raise RuntimeError(f"histc: range of [{low}, {high}] is not finite")
    if not low < high:
        raise RuntimeError(f"histc: max must be larger than min, got min={low}, max={high}")
    flat = x.reshape(-1)
    left, right = x.dtype.type(low), x.dtype.type(high)
    with np.errstate(invalid="ignore"):  # NaNs fall outside the range
        inside = flat[(flat >= left) & (flat <= right)]
    position = ((inside - left) * x.dtype.type(bins) / (right - left)).astype(np.int64)
    position[position == bins] = bins - 1
    return Tensor._wrap(np.bincount(position, minlength=bins).astype(x.dtype))


def diff(input, n=1, dim=-1, prepend=None, append=None):
    """``n``-th forward difference along ``dim``: ``out[i] = x[i + 1] - x[i]``, applied ``n``
    times (logical xor for bool tensors), after concatenating ``prepend`` and ``append``
    (tensors of the input's number of dims, matching it except along ``dim``) to the input.
    Differentiable through ``narrow``, ``sub`` and ``cat``. ``n = 0`` returns a copy of the
    input (without ``prepend``/``append``, as torch does); ``n`` at least the length gives an
    empty result."""
    from ember.ops.elementwise import logical_xor, sub
    from ember.ops.shape import cat, clone, narrow
    if input._data.ndim < 1:
        raise RuntimeError("diff: expects input to be at least one-dimensional, got a 0-d tensor")
    if n < 0:
        raise RuntimeError(f"diff: order must be non-negative but got {n}")
    axis = input._wrap_dim(dim, "diff")
    for name, other in (("prepend", prepend), ("append", append)):
        if other is None:
            continue
        if not isinstance(other, Tensor):
            raise TypeError(f"diff(): argument '{name}' must be Tensor, not {type(other).__name__}")
        if other._data.ndim != input._data.ndim:
            raise RuntimeError(f"diff: expects {name} to have the same number of dimensions as "
                               f"input ({input._data.ndim}), got shape {tuple(other.shape)}")
        for d in range(input._data.ndim):
            if d != axis and other._data.shape[d] != input._data.shape[d]:
                raise RuntimeError(
                    f"diff: expects the shape of {name} to match that of input except along the "
                    f"differencing dimension {axis}; input has shape {tuple(input.shape)}, "
                    f"{name} has shape {tuple(other.shape)}")
    if n == 0:
        return clone(input)
    x = input
    if prepend is not None or append is not None:
        x = cat([t for t in (prepend, input, append) if t is not None], axis)
    length = x._data.shape[axis]
    for _ in range(builtins.min(n, length)):
        later, earlier = narrow(x, axis, 1, length - 1), narrow(x, axis, 0, length - 1)
        x = logical_xor(later, earlier) if x._data.dtype == np.bool_ else sub(later, earlier)
        length -= 1
    return x


def trace(input):
    """Sum of the main diagonal of a matrix (any ``(n, m)``): ``sum_i A_ii``; integer inputs
    sum to int64. Its gradient is ``g`` on the diagonal, 0 elsewhere."""
    from ember._creation import diagonal
    if input._data.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got a tensor of shape "
                           f"{tuple(input.shape)}")
    if input._data.dtype == np.bool_:
        raise RuntimeError("trace: not implemented for bool tensors")
    return sum(diagonal(input))
