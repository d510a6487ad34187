"""torch's legacy tensor types: ``FloatTensor``, ``LongTensor``, ... .

Older tutorials use them as constructors of a fixed dtype (``torch.LongTensor([1, 2])``,
``torch.FloatTensor(2, 3)``), as cast targets (``x.type(torch.FloatTensor)``,
``x.type('torch.FloatTensor')``) and in ``isinstance`` checks. As in torch, every tensor is an
``ember.Tensor``; a legacy type only fixes the dtype, and ``isinstance(x, ember.FloatTensor)``
holds when ``x.dtype`` is float32. ``x.type()`` names the type as ``'ember.FloatTensor'``
(torch: ``'torch.FloatTensor'``).
"""
import numpy as np

from ember import _dtype
from ember._tensor import Tensor

TYPENAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor",
             "int64": "LongTensor", "int32": "IntTensor", "int16": "ShortTensor",
             "int8": "CharTensor", "uint8": "ByteTensor", "bool": "BoolTensor"}


class _LegacyTensorType(type):
    """Metaclass: calling the type builds a tensor of its dtype; ``isinstance`` checks it."""

    def __instancecheck__(cls, obj):
        return isinstance(obj, Tensor) and obj.dtype is cls.dtype

    def __call__(cls, *args):
        """``T(sequence_or_array)`` copies data into dtype ``T.dtype``; ``T(tensor)`` returns
        it when it already has that dtype; ``T(*sizes)`` / ``T(size)`` / ``T()`` an
        uninitialised tensor of that shape."""
        from ember._creation import empty, tensor
        if len(args) == 1 and isinstance(args[0], Tensor):
            if args[0].dtype is not cls.dtype:
                raise TypeError(f"{cls.__name__}: expected a tensor of dtype {cls.dtype}, got "
                                f"{args[0].dtype}; use .type(ember.{cls.__name__}) to convert")
            return args[0].detach()
        if len(args) == 1 and not isinstance(args[0], (int, np.integer, tuple)):
            return tensor(args[0], dtype=cls.dtype)
        size = args[0] if len(args) == 1 and isinstance(args[0], tuple) else args
        return empty(size if args else (0,), dtype=cls.dtype)

    def __repr__(cls):
        return f"<class 'ember.{cls.__name__}'>"


LEGACY_TYPES = {name: _LegacyTensorType(name, (), {"dtype": _dtype.as_dtype(dt)})
                for dt, name in TYPENAMES.items()}
globals().update(LEGACY_TYPES)
__all__ = list(LEGACY_TYPES)


def typename(dtype):
    """``'ember.FloatTensor'`` for float32, ... (what ``Tensor.type()`` returns)."""
    return f"ember.{TYPENAMES[dtype.name]}"


def dtype_of(t):
    """The dtype a ``.type(t)`` argument stands for: a legacy type, its name
    (``'torch.FloatTensor'`` or ``'ember.FloatTensor'``), or anything ``as_dtype`` accepts."""
    if isinstance(t, _LegacyTensorType):
        return t.dtype
    if isinstance(t, str) and t.rpartition(".")[0] in ("torch", "ember"):
        name = t.rpartition(".")[2]
        if name not in LEGACY_TYPES:
            raise ValueError(f"type: invalid type {t!r}; expected one of "
                             f"{sorted('ember.' + n for n in LEGACY_TYPES)}")
        return LEGACY_TYPES[name].dtype
    return _dtype.as_dtype(t)
