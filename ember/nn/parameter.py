"""``nn.Parameter`` and ``nn.Buffer``: tensors that a :class:`~ember.nn.Module` registers.

Assigning a ``Parameter`` to a module attribute (``self.weight = nn.Parameter(...)``) puts
it in ``module.parameters()`` (what an optimizer updates) and in ``state_dict()``. A
``Buffer`` assigned the same way becomes persistent state that is not trained (e.g.
BatchNorm's ``running_mean``).
"""
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

