"""``nn.Parameter`` and ``nn.Buffer``: tensors that a :class:`~ember.nn.Module` registers.

Assigning a ``Parameter`` to a module attribute (``self.weight = nn.Parameter(...)``) puts
it in ``module.parameters()`` (what an optimizer updates) and in ``state_dict()``. A
``Buffer`` assigned the same way becomes persistent state that is not trained (e.g.
BatchNorm's ``running_mean``).
"""
import sys

import numpy as np

from ember._tensor import Tensor, _infer_array


def _as_array(data, who):
    if data is None:
        return np.empty((0,), dtype=np.float32)
    if isinstance(data, Tensor):
        return data._data
    if isinstance(data, np.ndarray):
        return data
    raise TypeError(f"{who}: expected a Tensor or an ndarray as data, got {type(data).__name__}")


class Parameter(Tensor):
    """A Tensor that is a module parameter (``torch.nn.Parameter``).

    ``Parameter(data)`` shares storage with ``data`` (no copy) and requires grad by default.
    Operations on a parameter return plain Tensors.

    Args:
        data (Tensor): the values (an empty tensor if ``None``).
        requires_grad (bool): default ``True``.
    """

    def __new__(cls, data=None, requires_grad=True):
        return object.__new__(cls)

    def __init__(self, data=None, requires_grad=True):
        Tensor._init(self, _as_array(data, "Parameter"))
        if isinstance(data, Tensor):
            self._vc = data._vc
        self.requires_grad_(bool(requires_grad))

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__

    def __reduce_ex__(self, protocol):
        return (_rebuild_parameter, (np.array(self._data), self._requires_grad))


def _rebuild_parameter(arr, requires_grad):
    return Parameter(Tensor._wrap(arr), requires_grad)


class Buffer(Tensor):
    """Marks a tensor as a buffer when assigned to a module attribute (``torch.nn.Buffer``).

    ``self.running_mean = nn.Buffer(ember.zeros(4))`` is ``self.register_buffer(
    'running_mean', ember.zeros(4), persistent=True)``. The module stores a plain Tensor.

    Args:
        data (Tensor): the values.
        persistent (bool): whether the buffer is part of ``state_dict`` (default ``True``).
    """

    def __new__(cls, data=None, *, persistent=True):
        return object.__new__(cls)

    def __init__(self, data=None, *, persistent=True):
        Tensor._init(self, _as_array(data, "Buffer") if data is None or isinstance(
            data, (Tensor, np.ndarray)) else _infer_array(data))
        if isinstance(data, Tensor):
            self._vc = data._vc
        self.persistent = persistent



_DATA_SLOT = Tensor.__dict__["_data"]   # the array slot of every Tensor

_USE_MESSAGE = ("Attempted to use an uninitialized parameter in {what}. This error happens when "
                "you are using a `LazyModule` or explicitly manipulating "
                "`ember.nn.parameter.{cls}` objects. When using LazyModules call `forward` with "
                "a dummy batch to initialize the parameters before calling ember functions")
UNINITIALIZED_SHAPE_MESSAGE = (
    "Can't access the shape of an uninitialized parameter or buffer. This error usually happens "
    "in `load_state_dict` when trying to load an uninitialized parameter into an initialized "
    "one. Call `forward` to initialize the parameters before accessing their attributes.")


class UninitializedTensorMixin:
    """A tensor whose shape is not known yet (``torch.nn.parameter.UninitializedTensorMixin``).

    Lazy modules (``nn.LazyLinear``, ...) hold their parameters in this state until the first
    forward pass shows the input's size; :meth:`materialize` then gives the tensor a shape and
    turns it, in place, into an ordinary ``Parameter`` (or ``Tensor``), so that optimizers and
    containers holding the object keep working. Until then the tensor has a dtype,
    ``requires_grad`` and a device, converts to other dtypes (``.double()``, ``.to(...)``), and
    every computation with it is refused with a ``ValueError`` (its shape with a
    ``RuntimeError``), as in torch.
    """
    __slots__ = ()
    cls_to_become = None

    def _init_uninitialized(self, requires_grad, device, dtype):
        from ember import _dtype
        from ember._tensor import device as _device
        _device(device or "cpu")
        Tensor._init(self, None)
        d = _dtype.get_default_dtype() if dtype is None else _dtype.as_dtype(dtype)
        _DATA_SLOT.__set__(self, np.empty((0,), dtype=d.np))  # keeps only the dtype
        self._requires_grad = bool(requires_grad)

    @property
    def _data(self):
        what = sys._getframe(1).f_code.co_name
        raise ValueError(_USE_MESSAGE.format(what=f"{what}()", cls=type(self).__name__))

    @_data.setter
    def _data(self, value):
        if value is not None:   # Tensor._init's placeholder is the only value written here
            raise ValueError(_USE_MESSAGE.format(what="an assignment of values",
                                                 cls=type(self).__name__))

    def materialize(self, shape, device=None, dtype=None):
        """Give the tensor ``shape`` (uninitialised values; the module's ``reset_parameters``
        fills them) and turn it into ``cls_to_become`` in place."""
        from ember import _dtype
        from ember._tensor import device as _device
        _device(device or "cpu")
        d = self.dtype if dtype is None else _dtype.as_dtype(dtype)
        shape = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
        self.__class__ = self.cls_to_become
        self._data = np.empty(shape, dtype=d.np)

    # what torch allows on an uninitialized tensor
    @property
    def dtype(self):
        from ember import _dtype
        return _dtype.from_numpy(_DATA_SLOT.__get__(self).dtype)

    @property
    def shape(self):
        raise RuntimeError(UNINITIALIZED_SHAPE_MESSAGE)

    def size(self, dim=None):
        raise RuntimeError(UNINITIALIZED_SHAPE_MESSAGE)

    @property
    def data(self):
        return Tensor._wrap(np.empty((0,), dtype=self.dtype.np))

    @data.setter
    def data(self, value):
        """``Module._apply`` converts a parameter by assigning ``.data``; an uninitialized
        tensor takes the dtype of the uninitialized tensor assigned to it."""
        if not is_lazy(value):
            raise ValueError(_USE_MESSAGE.format(what="an assignment to .data",
                                                 cls=type(self).__name__))
        _DATA_SLOT.__set__(self, np.empty((0,), dtype=value.dtype.np))

    def is_floating_point(self):
        return self.dtype.is_floating_point

    def is_complex(self):
        return False

    def requires_grad_(self, requires_grad=True):
        if requires_grad and not self.dtype.is_floating_point:
            raise RuntimeError(f"requires_grad_: only tensors of floating point dtype can require "
                               f"gradients, got {self.dtype}")
        self._requires_grad = bool(requires_grad)
        return self

    def to(self, *args, **kwargs):
        """A new uninitialized tensor of the requested dtype (``self`` if it is unchanged)."""
        from ember import _dtype
        from ember._tensor import device as _device
        dtype = kwargs.pop("dtype", None)
        _device(kwargs.pop("device", None) or "cpu")
        for a in args:
            if isinstance(a, Tensor):
                dtype = a.dtype
            elif isinstance(a, (str, _device)):
                _device(a)
            elif a is not None:
                dtype = a
        if dtype is None or _dtype.as_dtype(dtype) is self.dtype:
            return self
        return type(self)(requires_grad=self._requires_grad, dtype=dtype)

    def double(self):
        from ember import _dtype
        return self.to(_dtype.float64)

    def float(self):
        from ember import _dtype
        return self.to(_dtype.float32)

    def half(self):
        from ember import _dtype
        return self.to(_dtype.float16)

    def cpu(self):
        return self

    def share_memory_(self):
        raise RuntimeError("Can't share memory on an uninitialized parameter or buffer. Call "
                           "`forward` to initialize the parameters before calling "
                           "`module.share_memory()`.")

    def __repr__(self):
        return f"<{type(self).__name__}>"

    __str__ = __repr__

    def __reduce_ex__(self, protocol):
        return (_rebuild_uninitialized, (type(self), self._requires_grad, self.dtype.np.str))

    def __deepcopy__(self, memo):
        new = type(self)(requires_grad=self._requires_grad, dtype=self.dtype)
        memo[id(self)] = new
        return new


def _rebuild_uninitialized(cls, requires_grad, dtype):
    return cls(requires_grad=requires_grad, dtype=np.dtype(dtype))


class UninitializedParameter(UninitializedTensorMixin, Parameter):
    """A parameter of a lazy module before the first forward pass
    (``torch.nn.parameter.UninitializedParameter``); becomes a :class:`Parameter`."""
    cls_to_become = Parameter

    def __new__(cls, requires_grad=True, device=None, dtype=None):
        return object.__new__(cls)

    def __init__(self, requires_grad=True, device=None, dtype=None):
        self._init_uninitialized(requires_grad, device, dtype)


class UninitializedBuffer(UninitializedTensorMixin, Tensor):
    """A buffer of a lazy module before the first forward pass (running statistics of
    ``LazyBatchNorm2d``); becomes a plain :class:`~ember.Tensor`."""
    cls_to_become = Tensor

    def __init__(self, requires_grad=False, device=None, dtype=None):
        self._init_uninitialized(requires_grad, device, dtype)


def is_lazy(obj):
    """Whether ``obj`` is an uninitialized parameter or buffer."""
    return isinstance(obj, UninitializedTensorMixin)
