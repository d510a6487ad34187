"""Tensor's methods and operators, bound from one explicit table.

Why a table and not the class body: every op is defined once, in ``ember/ops`` by family
(forward beside backward), and ``x.exp()`` is ``ember.exp(x)``; writing each as a method in
``ember/_tensor.py`` would repeat ~300 signatures and docstrings. So ``Tensor`` holds the
storage and the autograd state, and this module lists, by name and by family, every method
and operator a tensor gets, and what implements it: ``METHODS`` (``x.name(*a)`` is
``function(x, *a)``), the operators, the conversions (``to``, ``float``, ``new_zeros`` ...)
and ``INPLACE`` (``x.add_(y)``: the in-place form of ``add``, built by
``ember.autograd.inplace.inplace_method``; with no gradient to record, the update is one
NumPy kernel from ``FAST_INPLACE``). To find what ``x.foo`` runs, search this file for
``"foo"``.
"""
import numpy as np

from ember import _creation, _dtype, _legacy_types
from ember._tensor import Tensor, device
from ember.autograd.inplace import check_inplace, commit, inplace_method, overwrite, value_before
from ember.ops import activation, elementwise, indexing, linalg, linalg_decompositions, reduction
from ember.ops import shape

__all__ = ["METHODS", "INPLACE", "FAST_INPLACE"]

# -------------------------------------------------------------------------------- methods
# x.name(*args, **kw) is module.name(x, *args, **kw)
_BY_FAMILY = {
    elementwise: (
        "add", "sub", "subtract", "mul", "multiply", "div", "divide", "true_divide",
        "floor_divide", "remainder", "fmod", "pow", "float_power", "maximum", "minimum", "fmax",
        "fmin", "eq", "ne", "lt", "le", "gt", "ge", "isnan", "isinf", "isfinite", "logical_and",
        "logical_or", "logical_xor", "logical_not", "bitwise_and", "bitwise_or", "bitwise_xor",
        "bitwise_not", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "rsqrt",
        "square", "abs", "absolute", "neg", "negative", "sign", "sgn", "sin", "cos", "tan",
        "asin", "acos", "atan", "atan2", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh",
        "sigmoid", "relu", "floor", "ceil", "round", "trunc", "frac", "reciprocal", "clamp",
        "clip", "clamp_min", "clamp_max", "lerp", "addcmul", "addcdiv", "erf", "erfc", "erfinv",
        "nan_to_num", "cast", "heaviside", "logaddexp", "allclose", "isclose", "equal"),
    reduction: (
        "sum", "mean", "prod", "max", "min", "amax", "amin", "argmax", "argmin", "var", "std",
        "var_mean", "std_mean", "logsumexp", "norm", "all", "any", "cumsum", "cumprod",
        "count_nonzero", "aminmax", "median", "nansum", "bincount", "histc", "diff", "trace"),
    shape: (
        "reshape", "view", "flatten", "unflatten", "squeeze", "unsqueeze", "permute",
        "transpose", "swapaxes", "swapdims", "t", "movedim", "moveaxis", "expand", "expand_as",
        "broadcast_to", "repeat", "tile", "split", "chunk", "unbind", "flip", "fliplr",
        "flipud", "roll", "narrow", "contiguous", "clone", "ravel", "atleast_1d", "atleast_2d"),
    indexing: (
        "gather", "scatter", "scatter_add", "scatter_reduce", "index_select", "index_add",
        "masked_fill", "masked_select", "masked_scatter", "take", "take_along_dim", "tril",
        "triu", "topk", "sort", "argsort", "kthvalue", "nonzero", "argwhere", "searchsorted",
        "bucketize", "unique", "index_put", "repeat_interleave"),
    linalg: (
        "matmul", "mm", "bmm", "mv", "dot", "vdot", "inner", "outer", "ger", "addmm", "baddbmm",
        "tensordot"),
    linalg_decompositions: ("det", "slogdet", "logdet", "inverse", "pinverse"),
    _creation: ("diag", "diagonal"),
}
METHODS = {name: getattr(module, name) for module, names in _BY_FAMILY.items() for name in names}


def _where(self, condition, other):
    """``x.where(cond, y)`` is ``where(cond, x, y)``."""
    return elementwise.where(condition, self, other)


def _softmax(self, dim, dtype=None):
    """``x.softmax(dim, dtype)`` (torch's method signature; see ``ember.ops.activation``)."""
    return activation.softmax(self, dim, dtype=dtype)


def _log_softmax(self, dim, dtype=None):
    return activation.log_softmax(self, dim, dtype=dtype)


METHODS.update(where=_where, softmax=_softmax, log_softmax=_log_softmax)


# ------------------------------------------------------------------------------ operators
def _comparable(other):
    return isinstance(other, (Tensor, int, float, bool, np.ndarray, np.generic))


def _invert(self):
    return (elementwise.logical_not(self) if self._data.dtype == np.bool_
            else elementwise.bitwise_not(self))


OPERATORS = {
    "__add__": lambda self, other: elementwise.add(self, other),
    "__radd__": lambda self, other: elementwise.add(self, other),
    "__sub__": lambda self, other: elementwise.sub(self, other),
    "__rsub__": lambda self, other: elementwise.sub(other, self),
    "__mul__": lambda self, other: elementwise.mul(self, other),
    "__rmul__": lambda self, other: elementwise.mul(self, other),
    "__truediv__": lambda self, other: elementwise.div(self, other),
    "__rtruediv__": lambda self, other: elementwise.div(other, self),
    "__floordiv__": lambda self, other: elementwise.floor_divide(self, other),
    "__rfloordiv__": lambda self, other: elementwise.floor_divide(other, self),
    "__mod__": lambda self, other: elementwise.remainder(self, other),
    "__rmod__": lambda self, other: elementwise.remainder(other, self),
    "__pow__": lambda self, other: elementwise.pow(self, other),
    "__rpow__": lambda self, other: elementwise.pow(other, self),
    "__matmul__": lambda self, other: linalg.matmul(self, other),
    "__rmatmul__": lambda self, other: linalg.matmul(other, self),
    "__neg__": lambda self: elementwise.neg(self),
    "__pos__": lambda self: self,
    "__abs__": lambda self: elementwise.abs(self),
    "__invert__": _invert,
    "__and__": lambda self, other: elementwise.bitwise_and(self, other),
    "__rand__": lambda self, other: elementwise.bitwise_and(self, other),
    "__or__": lambda self, other: elementwise.bitwise_or(self, other),
    "__ror__": lambda self, other: elementwise.bitwise_or(self, other),
    "__xor__": lambda self, other: elementwise.bitwise_xor(self, other),
    "__rxor__": lambda self, other: elementwise.bitwise_xor(self, other),
    "__eq__": lambda self, other: (elementwise.eq(self, other) if _comparable(other)
                                   else NotImplemented),
    "__ne__": lambda self, other: (elementwise.ne(self, other) if _comparable(other)
                                   else NotImplemented),
    "__lt__": lambda self, other: elementwise.lt(self, other),
    "__le__": lambda self, other: elementwise.le(self, other),
    "__gt__": lambda self, other: elementwise.gt(self, other),
    "__ge__": lambda self, other: elementwise.ge(self, other),
    "__hash__": lambda self: id(self),
    "__getitem__": lambda self, idx: indexing.index(self, idx),
}


# ---------------------------------------------------------------- conversions and creation
def _to(self, *args, **kwargs):
    """``to(dtype)``, ``to(device)``, ``to(other)``, ``to(device, dtype)``; 'cpu' only."""
    dtype = kwargs.pop("dtype", None)
    copy = kwargs.pop("copy", False)
    kwargs.pop("non_blocking", None)
    kwargs.pop("memory_format", None)
    dev = kwargs.pop("device", None)
    if kwargs:
        raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
    for a in args:
        if isinstance(a, Tensor):
            dtype = a.dtype
        elif isinstance(a, (str, device)):
            dev = a
        elif a is not None:
            dtype = a
    if dev is not None:
        device(dev)
    if dtype is None:
        return shape.clone(self) if copy else self
    d = _dtype.as_dtype(dtype)
    if d is self.dtype:
        return shape.clone(self) if copy else self
    return elementwise.cast(self, d)


def _type(self, dtype=None, non_blocking=False):
    """``x.type()`` names the legacy type (``'ember.FloatTensor'``); ``x.type(T)`` casts to
    ``T``: a dtype, a legacy type (``ember.FloatTensor``) or its name (``'torch.FloatTensor'``)."""
    if dtype is None:
        return _legacy_types.typename(self.dtype)
    return _to(self, _legacy_types.dtype_of(dtype), non_blocking=non_blocking)


def _cuda(self, *args, **kwargs):
    raise RuntimeError("cuda: Ember runs on the CPU only; remove .cuda() / use device='cpu'")


def _new(self, arr, dtype):
    return Tensor._wrap(arr.astype(self._data.dtype if dtype is None else _dtype.to_numpy(dtype)))


CONVERSIONS = {
    "to": _to,
    "type": _type,
    "type_as": lambda self, other: _to(self, other.dtype),
    "float": lambda self: _to(self, _dtype.float32),
    "double": lambda self: _to(self, _dtype.float64),
    "half": lambda self: _to(self, _dtype.float16),
    "long": lambda self: _to(self, _dtype.int64),
    "int": lambda self: _to(self, _dtype.int32),
    "short": lambda self: _to(self, _dtype.int16),
    "byte": lambda self: _to(self, _dtype.uint8),
    "bool": lambda self: _to(self, _dtype.bool_),
    "cpu": lambda self, memory_format=None: self,
    "cuda": _cuda,
    "view_as": lambda self, other: shape.view(self, *other.shape),
    "reshape_as": lambda self, other: shape.reshape(self, *other.shape),
    "new_tensor": lambda self, data, dtype=None, **kw: _new(self, np.array(data), dtype),
    "new_zeros": lambda self, *size, dtype=None, **kw: _new(
        self, np.zeros(shape._shape_arg(size)), dtype),
    "new_ones": lambda self, *size, dtype=None, **kw: _new(
        self, np.ones(shape._shape_arg(size)), dtype),
    "new_empty": lambda self, *size, dtype=None, **kw: _new(
        self, np.empty(shape._shape_arg(size)), dtype),
    "new_full": lambda self, size, fill_value, dtype=None, **kw: _new(
        self, np.full(tuple(size), fill_value), dtype),
}
PROPERTIES = {
    "T": lambda self: shape.permute(self, *reversed(range(self._data.ndim))),
    "H": lambda self: shape.permute(self, *reversed(range(self._data.ndim))),
    "mT": lambda self: shape.transpose(self, -2, -1),
}

# ------------------------------------------------------------------------------- in-place
# x.name_(*args) writes name(x, *args) into x (ember.autograd.inplace.inplace_method)
_IN_PLACE_OF = {
    "add_": elementwise.add, "sub_": elementwise.sub, "mul_": elementwise.mul,
    "div_": elementwise.div, "true_divide_": elementwise.div, "pow_": elementwise.pow,
    "floor_divide_": elementwise.floor_divide, "remainder_": elementwise.remainder,
    "fmod_": elementwise.fmod, "clamp_": elementwise.clamp, "clip_": elementwise.clamp,
    "clamp_min_": elementwise.clamp_min, "clamp_max_": elementwise.clamp_max,
    "maximum_": elementwise.maximum, "minimum_": elementwise.minimum,
    "exp_": elementwise.exp, "log_": elementwise.log, "log1p_": elementwise.log1p,
    "expm1_": elementwise.expm1, "sqrt_": elementwise.sqrt, "rsqrt_": elementwise.rsqrt,
    "square_": elementwise.square, "abs_": elementwise.abs, "neg_": elementwise.neg,
    "sign_": elementwise.sign, "reciprocal_": elementwise.reciprocal,
    "sin_": elementwise.sin, "cos_": elementwise.cos, "tanh_": elementwise.tanh,
    "sigmoid_": elementwise.sigmoid, "relu_": elementwise.relu, "erf_": elementwise.erf,
    "floor_": elementwise.floor, "ceil_": elementwise.ceil, "round_": elementwise.round,
    "trunc_": elementwise.trunc, "nan_to_num_": elementwise.nan_to_num,
    "lerp_": elementwise.lerp, "addcmul_": elementwise.addcmul, "addcdiv_": elementwise.addcdiv,
    "masked_fill_": indexing.masked_fill, "scatter_": indexing.scatter,
    "scatter_add_": indexing.scatter_add, "index_add_": indexing.index_add,
    "tril_": indexing.tril, "triu_": indexing.triu,
}


def _operand(x, v):
    """``v`` as an array/number a kernel on float array ``x`` may use without changing its
    dtype (same-dtype tensors and Python numbers), else None."""
    if isinstance(v, Tensor):
        return v._data if v._data.dtype == x.dtype else None
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return v
    return None


def _fast_alpha(ufunc):
    def kernel(x, other, *, alpha=1):
        b = _operand(x, other)
        if b is None or not isinstance(alpha, (int, float)):
            return False
        if alpha == 1:
            ufunc(x, b, out=x)
            return
        if ufunc is np.subtract:
            alpha = -alpha
        np.add(x, np.multiply(b, x.dtype.type(alpha)), out=x)
    return kernel


def _fast_ufunc(ufunc):
    def kernel(x, other):
        b = _operand(x, other)
        if b is None:
            return False
        ufunc(x, b, out=x)
    return kernel


def _fast_unary(ufunc):
    def kernel(x):
        ufunc(x, out=x)
    return kernel


def _fast_clamp(x, min=None, max=None):
    if min is None and max is None or isinstance(min, Tensor) or isinstance(max, Tensor):
        return False
    np.clip(x, min, max, out=x)


def _fast_addc(ufunc):
    def kernel(x, tensor1, tensor2, *, value=1):
        a, b = _operand(x, tensor1), _operand(x, tensor2)
        if a is None or b is None or not isinstance(value, (int, float)):
            return False
        t = ufunc(a, b)
        if value != 1:
            t *= x.dtype.type(value)
        np.add(x, t, out=x)
    return kernel


def _fast_lerp(x, end, weight):
    e, w = _operand(x, end), _operand(x, weight)
    if e is None or w is None:
        return False
    t = np.subtract(e, x)
    t *= w
    np.add(x, t, out=x)


FAST_INPLACE = {
    "add_": _fast_alpha(np.add), "sub_": _fast_alpha(np.subtract),
    "mul_": _fast_ufunc(np.multiply), "div_": _fast_ufunc(np.true_divide),
    "true_divide_": _fast_ufunc(np.true_divide), "pow_": _fast_ufunc(np.power),
    "maximum_": _fast_ufunc(np.maximum), "minimum_": _fast_ufunc(np.minimum),
    "clamp_": _fast_clamp, "clip_": _fast_clamp,
    "clamp_min_": lambda x, min: _fast_clamp(x, min=min),
    "clamp_max_": lambda x, max: _fast_clamp(x, max=max),
    "exp_": _fast_unary(np.exp), "sqrt_": _fast_unary(np.sqrt), "abs_": _fast_unary(np.abs),
    "neg_": _fast_unary(np.negative), "sign_": _fast_unary(np.sign), "sin_": _fast_unary(np.sin),
    "cos_": _fast_unary(np.cos), "tanh_": _fast_unary(np.tanh), "floor_": _fast_unary(np.floor),
    "ceil_": _fast_unary(np.ceil), "trunc_": _fast_unary(np.trunc),
    "square_": _fast_unary(np.square),
    "addcmul_": _fast_addc(np.multiply), "addcdiv_": _fast_addc(np.true_divide),
    "lerp_": _fast_lerp,
}


def _zero_(self):
    """Fill with zeros in place."""
    return _fill_(self, 0)


def _fill_(self, value):
    """Fill with ``value`` in place (a number or a 0-d tensor)."""
    if isinstance(value, Tensor) and value._data.ndim:
        raise RuntimeError(f"fill_: only supports a 0-dimension value tensor, but got tensor "
                           f"with {value._data.ndim} dimension(s)")
    return overwrite(self, value, "fill_")


def _copy_(self, src, non_blocking=False):
    """Copy ``src`` (broadcastable) into this tensor's storage; gradients flow to ``src``."""
    if not isinstance(src, Tensor):
        src = Tensor._wrap(np.asarray(src))
    try:
        if np.broadcast_shapes(src._data.shape, self._data.shape) != self._data.shape:
            raise ValueError
    except ValueError:
        raise RuntimeError(f"copy_: the source of shape {tuple(src.shape)} must be broadcastable "
                           f"to the destination of shape {tuple(self.shape)}") from None
    return overwrite(self, src, "copy_")


def _setitem(self, idx, value):
    """``x[idx] = value``: writes through to the storage; differentiable w.r.t. ``x`` and
    ``value``."""
    recording = check_inplace(self, "__setitem__")
    val_grad = isinstance(value, Tensor) and value._requires_grad
    if recording and (self._requires_grad or val_grad):
        res = indexing.index_put(value_before(self, True), idx, value)
        commit(self, res, "__setitem__")
        return
    conv = indexing._convert_index(idx)
    v = value._data if isinstance(value, Tensor) else value
    try:
        if isinstance(v, np.ndarray) and v.dtype.kind == "f" and self._data.dtype.kind in "biu":
            raise RuntimeError(f"__setitem__: cannot assign a {_dtype.from_numpy(v.dtype)} value "
                               f"to a tensor of dtype {self.dtype}")
        self._data[conv] = v
    except (IndexError, ValueError, TypeError) as e:
        raise RuntimeError(f"__setitem__: cannot assign a value of shape {np.shape(v)} to index "
                           f"{idx!r} of a tensor of shape {tuple(self.shape)}: {e}") from None
    self._bump_version()


def _uniform_(self, a=0.0, b=1.0, *, generator=None):
    check_inplace(self, 'uniform_')
    from ember._random import rng
    self._data[...] = rng(generator).uniform(a, b, self._data.shape)
    self._bump_version()
    return self


def _normal_(self, mean=0.0, std=1.0, *, generator=None):
    check_inplace(self, 'normal_')
    from ember._random import rng
    self._data[...] = mean + std * rng(generator).standard_normal(self._data.shape)
    self._bump_version()
    return self


def _bernoulli_(self, p=0.5, *, generator=None):
    check_inplace(self, 'bernoulli_')
    from ember._random import rng
    self._data[...] = rng(generator).random(self._data.shape) < p
    self._bump_version()
    return self


def _random_(self, low=0, high=None, *, generator=None):
    check_inplace(self, 'random_')
    from ember._random import rng
    if high is None:
        low, high = 0, low
    self._data[...] = rng(generator).integers(low, high, self._data.shape)
    self._bump_version()
    return self


INPLACE = {name: inplace_method(fn, name, FAST_INPLACE.get(name))
           for name, fn in _IN_PLACE_OF.items()}
INPLACE.update(zero_=_zero_, fill_=_fill_, copy_=_copy_, uniform_=_uniform_, normal_=_normal_,
               bernoulli_=_bernoulli_, random_=_random_, __setitem__=_setitem)


def _bind():
    for table in (METHODS, OPERATORS, CONVERSIONS, INPLACE):
        for name, fn in table.items():
            setattr(Tensor, name, fn)
    for name, getter in PROPERTIES.items():
        setattr(Tensor, name, property(getter))
    for op, name in (("__iadd__", "add_"), ("__isub__", "sub_"), ("__imul__", "mul_"),
                     ("__itruediv__", "div_"), ("__ipow__", "pow_")):
        setattr(Tensor, op, INPLACE[name])


_bind()
