"""Binds the primitives of ``ember/ops`` to ``Tensor`` as methods and operators, and defines
the in-place variants (``add_``, ``mul_``, ``x[i] = v``, ...).

In-place ops follow torch: they write into the tensor's storage (so views see the change),
bump its version counter, and, when the result needs a gradient, make the tensor's
``grad_fn`` the node of the out-of-place computation. Modifying in place a leaf that requires
grad (outside ``no_grad``) is an error, as is modifying a view of a tensor in the graph."""
import numpy as np

from ember import _dtype, _legacy_types
from ember._tensor import Tensor
from ember.autograd.function import Function
from ember.autograd.grad_mode import is_grad_enabled, no_grad
from ember.ops import elementwise as E, indexing as I, linalg as L, reduction as R, shape as S
from ember.ops import linalg_decompositions as LD

_METHODS = {}
for _mod in (E, R, S, I, L):
    for _name in _mod.__all__:
        _METHODS[_name] = getattr(_mod, _name)
for _name in ("where", "one_hot", "einsum", "cat", "concat", "concatenate", "stack", "hstack",
              "vstack", "broadcast_tensors", "equal", "allclose", "isclose", "meshgrid", "index",
              "index_put"):
    _METHODS.pop(_name, None)

for _name, _fn in _METHODS.items():
    setattr(Tensor, _name, _fn)


def _where_method(self, condition, other):
    """``x.where(cond, y)`` == ``where(cond, x, y)``."""
    return E.where(condition, self, other)


Tensor.where = _where_method

# ---- linear algebra methods (torch's Tensor.det, ...), from ember/ops/linalg_decompositions.py
Tensor.det = LD.det
Tensor.slogdet = LD.slogdet
Tensor.logdet = LD.logdet
Tensor.inverse = LD.inverse
Tensor.pinverse = LD.pinverse
# ----
Tensor.allclose = E.allclose
Tensor.isclose = E.isclose
Tensor.equal = E.equal
Tensor.index_put = I.index_put


def _reverse(fn):
    return lambda self, other: fn(other, self)


Tensor.__add__ = Tensor.__radd__ = lambda self, other: E.add(self, other)
Tensor.__sub__ = lambda self, other: E.sub(self, other)
Tensor.__rsub__ = lambda self, other: E.sub(other, self)
Tensor.__mul__ = Tensor.__rmul__ = lambda self, other: E.mul(self, other)
Tensor.__truediv__ = lambda self, other: E.div(self, other)
Tensor.__rtruediv__ = lambda self, other: E.div(other, self)
Tensor.__floordiv__ = lambda self, other: E.floor_divide(self, other)
Tensor.__rfloordiv__ = lambda self, other: E.floor_divide(other, self)
Tensor.__mod__ = lambda self, other: E.remainder(self, other)
Tensor.__rmod__ = lambda self, other: E.remainder(other, self)
Tensor.__pow__ = lambda self, other: E.pow(self, other)
Tensor.__rpow__ = lambda self, other: E.pow(other, self)
Tensor.__matmul__ = lambda self, other: L.matmul(self, other)
Tensor.__rmatmul__ = lambda self, other: L.matmul(other, self)
Tensor.__neg__ = lambda self: E.neg(self)
Tensor.__pos__ = lambda self: self
Tensor.__abs__ = lambda self: E.abs(self)
Tensor.__invert__ = lambda self: E.logical_not(self) if self._data.dtype == np.bool_ else E.bitwise_not(self)
Tensor.__and__ = Tensor.__rand__ = lambda self, other: E.bitwise_and(self, other)
Tensor.__or__ = Tensor.__ror__ = lambda self, other: E.bitwise_or(self, other)
Tensor.__xor__ = Tensor.__rxor__ = lambda self, other: E.bitwise_xor(self, other)
Tensor.__eq__ = lambda self, other: E.eq(self, other) if _comparable(other) else NotImplemented
Tensor.__ne__ = lambda self, other: E.ne(self, other) if _comparable(other) else NotImplemented
Tensor.__lt__ = lambda self, other: E.lt(self, other)
Tensor.__le__ = lambda self, other: E.le(self, other)
Tensor.__gt__ = lambda self, other: E.gt(self, other)
Tensor.__ge__ = lambda self, other: E.ge(self, other)
Tensor.__hash__ = lambda self: id(self)


def _comparable(other):
    return isinstance(other, (Tensor, int, float, bool, np.ndarray, np.generic))


def _getitem(self, idx):
    return I.index(self, idx)


Tensor.__getitem__ = _getitem


# ------------------------------------------------------------------------------- dtype conversion
def _to(self, *args, **kwargs):
    """``to(dtype)``, ``to(device)``, ``to(other)``, ``to(device, dtype)``; 'cpu' only."""
    from ember._tensor import device as _device
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
        elif isinstance(a, (str, _device)):
            dev = a
        elif a is not None:
            dtype = a
    if dev is not None:
        _device(dev)
    if dtype is None:
        return S.clone(self) if copy else self
    d = _dtype.as_dtype(dtype)
    if d is self.dtype:
        return S.clone(self) if copy else self
    return E.cast(self, d)


Tensor.to = _to


def _type(self, dtype=None, non_blocking=False):
    """``x.type()`` names the legacy type (``'ember.FloatTensor'``); ``x.type(T)`` casts to
    ``T``: a dtype, a legacy type (``ember.FloatTensor``) or its name (``'torch.FloatTensor'``)."""
    if dtype is None:
        return _legacy_types.typename(self.dtype)
    return _to(self, _legacy_types.dtype_of(dtype), non_blocking=non_blocking)


Tensor.type = _type
Tensor.type_as = lambda self, other: _to(self, other.dtype)
Tensor.float = lambda self: _to(self, _dtype.float32)
Tensor.double = lambda self: _to(self, _dtype.float64)
Tensor.half = lambda self: _to(self, _dtype.float16)
Tensor.long = lambda self: _to(self, _dtype.int64)
Tensor.int = lambda self: _to(self, _dtype.int32)
Tensor.short = lambda self: _to(self, _dtype.int16)
Tensor.byte = lambda self: _to(self, _dtype.uint8)
Tensor.bool = lambda self: _to(self, _dtype.bool_)
Tensor.cpu = lambda self, memory_format=None: self
Tensor.clone = S.clone


def _cuda(self, *args, **kwargs):
    raise RuntimeError("cuda: Ember runs on the CPU only; remove .cuda() / use device='cpu'")


Tensor.cuda = _cuda
Tensor.T = property(lambda self: S.permute(self, *reversed(range(self._data.ndim))))
Tensor.mT = property(lambda self: S.transpose(self, -2, -1))
Tensor.H = Tensor.T
Tensor.view_as = lambda self, other: S.view(self, *other.shape)
Tensor.reshape_as = lambda self, other: S.reshape(self, *other.shape)
Tensor.new_tensor = lambda self, data, dtype=None, **kw: _new(self, np.array(data), dtype)
Tensor.new_zeros = lambda self, *size, dtype=None, **kw: _new(self, np.zeros(S._shape_arg(size)), dtype)
Tensor.new_ones = lambda self, *size, dtype=None, **kw: _new(self, np.ones(S._shape_arg(size)), dtype)
Tensor.new_empty = lambda self, *size, dtype=None, **kw: _new(self, np.empty(S._shape_arg(size)), dtype)
Tensor.new_full = lambda self, size, fill_value, dtype=None, **kw: _new(
    self, np.full(tuple(size), fill_value), dtype)


def _new(self, arr, dtype):
    return Tensor._wrap(arr.astype(self._data.dtype if dtype is None else _dtype.to_numpy(dtype)))


Tensor.diag = lambda self, diagonal=0: __import__("ember")._creation.diag(self, diagonal)
Tensor.diagonal = lambda self, offset=0, dim1=0, dim2=1: __import__(
    "ember")._creation.diagonal(self, offset, dim1, dim2)


def _softmax(self, dim, dtype=None):
    from ember.nn import functional as F
    return F.softmax(self, dim, dtype=dtype)


def _log_softmax(self, dim, dtype=None):
    from ember.nn import functional as F
    return F.log_softmax(self, dim, dtype=dtype)


Tensor.softmax = _softmax
Tensor.log_softmax = _log_softmax


# ------------------------------------------------------------------------------- in-place ops
def _check_inplace(self, op):
    """Raise for in-place ops torch refuses; return whether the op must be recorded."""
    if not self._data.flags.writeable:
        raise RuntimeError(f"{op}: unsupported operation: more than one element of the written-to "
                           f"tensor (shape {tuple(self.shape)}) refers to a single memory location "
                           f"(an expanded view, or a read-only NumPy array). Call .clone() before "
                           f"writing to it.")
    if not is_grad_enabled():
        return False
    if self.is_leaf and self._requires_grad:
        raise RuntimeError(f"{op}: a leaf Variable that requires grad is being used in an in-place "
                           f"operation. Wrap it in `with ember.no_grad():` or use an out-of-place op.")
    base = self._base
    if base is not None and base._requires_grad:
        if base.is_leaf:
            raise RuntimeError(f"{op}: a view of a leaf Variable that requires grad is being used "
                               f"in an in-place operation. Wrap it in `with ember.no_grad():`.")
        if not self._requires_grad or self._view_fn is None:
            raise RuntimeError(f"{op}: a view created in no_grad mode (or by detach) is being "
                               f"modified in-place with grad mode enabled; the base's gradient "
                               f"would be wrong. Take the view with grad mode enabled, or clone it.")
        if base.grad_fn is not self._base_fn:
            raise RuntimeError(f"{op}: this view's base was modified in place after the view was "
                               f"taken; take the view again before modifying it.")
    return True


class CopySlices(Function):
    """The base of a view after an in-place op on the view: ``base[view] = value``.

    Built by ``_commit`` (the data was already written through the view); backward routes
    the view's part of the gradient to the new value and the rest to the old base."""

    def backward(self, grad):
        view_fn = self.view_fn
        g_base = g_value = None
        if self.needs_input_grad[1]:
            g_value = E.unbroadcast(np.array(view_fn(grad)), self._input_meta[1][0])
        if self.needs_input_grad[0]:
            g_base = np.array(grad, copy=True, order="C")
            view_fn(g_base)[...] = 0
        return g_base, g_value


class _AsView(Function):
    """The view, recomputed from its base's new node, so later uses see the new history."""

    def backward(self, grad):
        g = np.zeros(self._input_meta[0][0], dtype=grad.dtype)
        self.view_fn(g)[...] = grad
        return g


def _rebase_view(view, result):
    """After writing ``result`` into ``view``, make the base's graph include the write."""
    base = view._base
    needs = (base._requires_grad, result._requires_grad)
    node = CopySlices()
    node.view_fn = view._view_fn
    node.needs_input_grad = needs
    node._connect((base, result))
    node._input_meta = ((base._data.shape, base._data.dtype),
                        (result._data.shape, result._data.dtype))
    base.grad_fn = node
    base._output_nr = None
    base._requires_grad = True
    as_view = _AsView()
    as_view.view_fn = view._view_fn
    as_view.needs_input_grad = (True,)
    as_view.next_functions = (node,)          # the base after the write: a one-output node
    as_view._input_meta = ((base._data.shape, base._data.dtype),)
    view.grad_fn = as_view
    view._output_nr = None
    view._requires_grad = True
    view._base_fn = node


def _commit(self, result, op):
    """Write ``result`` into ``self``'s storage and take over its graph node."""
    r = result._data
    if r.shape != self._data.shape:
        try:
            r = np.broadcast_to(r, self._data.shape)
        except ValueError:
            raise RuntimeError(f"{op}: output with shape {tuple(self.shape)} doesn't match the "
                               f"broadcast shape {tuple(result.shape)}") from None
    if r.dtype != self._data.dtype:
        if not np.can_cast(r.dtype, self._data.dtype, casting="same_kind") or (
                r.dtype.kind == "f" and self._data.dtype.kind in "biu"):
            raise RuntimeError(f"{op}: result type {_dtype.from_numpy(r.dtype)} can't be cast to "
                               f"the desired output type {self.dtype}")
    np.copyto(self._data, r, casting="unsafe")
    self._bump_version()
    if self._base is not None and self._view_fn is not None and is_grad_enabled() and (
            result._requires_grad or self._base._requires_grad):
        _rebase_view(self, result)
        return self
    if result._requires_grad and result.grad_fn is not None:
        self.grad_fn = result.grad_fn
        self._output_nr = result._output_nr
        self._requires_grad = True
        result._vc = self._vc
    return self


def _source(self, recording):
    """The value of ``self`` before the in-place op, as an operand for the out-of-place op."""
    if not recording or not self._requires_grad:
        return self
    src = Tensor._wrap(self._data.copy())
    src._requires_grad = True
    src.grad_fn = self.grad_fn
    src._output_nr = self._output_nr
    return src


def _inplace(fn, op, fast=None):
    """The in-place method ``op`` built from the out-of-place ``fn``.

    When no gradient is recorded (``no_grad``, or no operand requires grad) and ``fast`` is
    given, the update is one NumPy kernel writing into the storage (``fast(x, *args, **kw)``
    returns False when it cannot handle the operands, e.g. dtype promotion or broadcasting
    that torch would reject; the general path then raises torch's error)."""
    def method(self, *args, **kwargs):
        recording = _check_inplace(self, op)
        if fast is not None and self._data.dtype.kind == "f" and not (
                recording and (self._requires_grad or _any_requires_grad(args, kwargs))):
            try:
                done = fast(self._data, *args, **kwargs)
            except (ValueError, TypeError):
                done = False
            if done is not False:
                self._bump_version()
                return self
        if not recording:
            with no_grad():
                return _commit(self, fn(self, *args, **kwargs), op)
        return _commit(self, fn(_source(self, True), *args, **kwargs), op)
    method.__name__ = op
    method.__doc__ = f"In-place version of ``{op[:-1]}``."
    return method


def _any_requires_grad(args, kwargs):
    for a in args:
        if isinstance(a, Tensor) and a._requires_grad:
            return True
    for a in kwargs.values():
        if isinstance(a, Tensor) and a._requires_grad:
            return True
    return False


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


_FAST = {
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


_INPLACE = {
    "add_": E.add, "sub_": E.sub, "mul_": E.mul, "div_": E.div, "pow_": E.pow,
    "clamp_": E.clamp, "clip_": E.clamp, "clamp_min_": E.clamp_min, "clamp_max_": E.clamp_max,
    "exp_": E.exp, "log_": E.log, "sqrt_": E.sqrt, "rsqrt_": E.rsqrt, "abs_": E.abs, "neg_": E.neg,
    "sign_": E.sign, "sin_": E.sin, "cos_": E.cos, "tanh_": E.tanh, "sigmoid_": E.sigmoid,
    "relu_": E.relu, "floor_": E.floor, "ceil_": E.ceil, "round_": E.round, "trunc_": E.trunc,
    "reciprocal_": E.reciprocal, "log1p_": E.log1p, "expm1_": E.expm1, "square_": E.square,
    "remainder_": E.remainder, "fmod_": E.fmod, "lerp_": E.lerp, "addcmul_": E.addcmul,
    "addcdiv_": E.addcdiv, "masked_fill_": I.masked_fill, "scatter_": I.scatter,
    "scatter_add_": I.scatter_add, "index_add_": I.index_add, "tril_": I.tril, "triu_": I.triu,
    "maximum_": E.maximum, "minimum_": E.minimum, "nan_to_num_": E.nan_to_num,
    "floor_divide_": E.floor_divide, "true_divide_": E.div, "erf_": E.erf,
}
for _name, _fn in _INPLACE.items():
    setattr(Tensor, _name, _inplace(_fn, _name, _FAST.get(_name)))
Tensor.__iadd__ = Tensor.add_
Tensor.__isub__ = Tensor.sub_
Tensor.__imul__ = Tensor.mul_
Tensor.__itruediv__ = Tensor.div_
Tensor.__ipow__ = Tensor.pow_


def _zero_(self):
    """Fill with zeros in place."""
    return _fill_(self, 0)


class _Overwrite(Function):
    """``x`` replaced by ``value`` broadcast to its shape: the node ``fill_``/``zero_``/``copy_``
    leave on a tensor in the graph. The old values get a zero gradient; a tensor ``value``
    gets the gradient summed over the broadcast dims."""

    def forward(self, x, value):
        out = np.empty_like(x)
        np.copyto(out, value, casting="unsafe")
        return out

    def backward(self, grad):
        gx = np.zeros_like(grad) if self.needs_input_grad[0] else None
        gv = E.unbroadcast(grad, self._input_meta[1][0]) if self.needs_input_grad[1] else None
        return gx, gv


def _overwrite(self, value, op):
    """Write ``value`` (a number or a tensor broadcastable to ``self``) into ``self``."""
    recording = _check_inplace(self, op)
    v = value if isinstance(value, Tensor) else Tensor._wrap(np.asarray(value))
    if recording and (self._requires_grad or v._requires_grad):
        return _commit(self, _Overwrite.apply(_source(self, True), v), op)
    np.copyto(self._data, v._data, casting="unsafe")
    self._bump_version()
    return self


def _fill_(self, value):
    """Fill with ``value`` in place (a number or a 0-d tensor)."""
    if isinstance(value, Tensor) and value._data.ndim:
        raise RuntimeError(f"fill_: only supports a 0-dimension value tensor, but got tensor "
                           f"with {value._data.ndim} dimension(s)")
    return _overwrite(self, value, "fill_")


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
    return _overwrite(self, src, "copy_")


def _setitem(self, idx, value):
    """``x[idx] = value``: writes through to the storage; differentiable w.r.t. ``x`` and ``value``."""
    recording = _check_inplace(self, "__setitem__")
    val_grad = isinstance(value, Tensor) and value._requires_grad
    if recording and (self._requires_grad or val_grad):
        res = I.index_put(_source(self, True), idx, value)
        _commit(self, res, "__setitem__")
        return
    conv = I._convert_index(idx)
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
    _check_inplace(self, 'uniform_')
    from ember._random import rng
    self._data[...] = rng(generator).uniform(a, b, self._data.shape)
    self._bump_version()
    return self


def _normal_(self, mean=0.0, std=1.0, *, generator=None):
    _check_inplace(self, 'normal_')
    from ember._random import rng
    self._data[...] = mean + std * rng(generator).standard_normal(self._data.shape)
    self._bump_version()
    return self


def _bernoulli_(self, p=0.5, *, generator=None):
    _check_inplace(self, 'bernoulli_')
    from ember._random import rng
    self._data[...] = rng(generator).random(self._data.shape) < p
    self._bump_version()
    return self


def _random_(self, low=0, high=None, *, generator=None):
    _check_inplace(self, 'random_')
    from ember._random import rng
    if high is None:
        low, high = 0, low
    self._data[...] = rng(generator).integers(low, high, self._data.shape)
    self._bump_version()
    return self


Tensor.zero_ = _zero_
Tensor.fill_ = _fill_
Tensor.copy_ = _copy_
Tensor.__setitem__ = _setitem
Tensor.uniform_ = _uniform_
Tensor.normal_ = _normal_
Tensor.bernoulli_ = _bernoulli_
Tensor.random_ = _random_
