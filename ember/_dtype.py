"""Ember's dtypes and torch's type-promotion rules.

A dtype is a small named object (``ember.float32``) that maps to one NumPy dtype.
Promotion follows torch: operands are split into tensors with dimensions, zero-dim
tensors and Python numbers, and a lower-priority group only changes the result when
it belongs to a higher category (bool < integer < floating point).
"""
import numpy as np


class dtype:
    __slots__ = ("name", "np", "is_floating_point", "is_signed", "itemsize", "_rank")

    def __init__(self, name, np_dtype, rank):
        self.name = name
        self.np = np.dtype(np_dtype)
        self.is_floating_point = self.np.kind == "f"
        self.is_signed = self.np.kind in "fi"
        self.itemsize = self.np.itemsize
        self._rank = rank

    def __repr__(self):
        return f"ember.{self.name}"

    def __reduce__(self):
        return (from_name, (self.name,))


bool_ = dtype("bool", np.bool_, 0)
uint8 = dtype("uint8", np.uint8, 1)
int8 = dtype("int8", np.int8, 1)
int16 = dtype("int16", np.int16, 2)
int32 = dtype("int32", np.int32, 3)
int64 = dtype("int64", np.int64, 4)
float16 = dtype("float16", np.float16, 5)
float32 = dtype("float32", np.float32, 6)
float64 = dtype("float64", np.float64, 7)

ALL = (bool_, uint8, int8, int16, int32, int64, float16, float32, float64)
_BY_NP = {d.np: d for d in ALL}
_BY_NAME = {d.name: d for d in ALL}
_BY_NAME.update({"float": float32, "double": float64, "long": int64, "int": int32,
                 "half": float16, "short": int16})

_default_float = float32


def from_name(name):
    return _BY_NAME[name]


def get_default_dtype():
    return _default_float


def set_default_dtype(d):
    global _default_float
    d = as_dtype(d)
    if d not in (float32, float64):
        raise TypeError(f"set_default_dtype: only float32 and float64 are supported, got {d}")
    _default_float = d


def from_numpy(np_dtype):
    """The ember dtype of a NumPy dtype; raises TypeError for unsupported ones."""
    try:
        return _BY_NP[np.dtype(np_dtype)]
    except (KeyError, TypeError):
        raise TypeError(f"ember: unsupported NumPy dtype {np_dtype!r}; supported: "
                        + ", ".join(d.name for d in ALL)) from None


def to_numpy(d):
    return as_dtype(d).np


def as_dtype(d):
    """Accept an ember dtype, a NumPy dtype/type, a Python type or a name."""
    if isinstance(d, dtype):
        return d
    if d is float:
        return _default_float
    if d is int:
        return int64
    if d is bool:
        return bool_
    if isinstance(d, str) and d in _BY_NAME:
        return _BY_NAME[d]
    return from_numpy(d)


def promote_types(a, b):
    """The smallest dtype both ``a`` and ``b`` convert to (torch.promote_types)."""
    if a is b:
        return a
    if {a, b} == {uint8, int8}:
        return int16
    return a if a._rank >= b._rank else b


def _combine(higher, lower):
    """torch's combine_categories: the lower-priority group wins only in a higher category."""
    if higher is None:
        return lower
    if lower is None:
        return higher
    if higher.is_floating_point:
        return higher
    if higher is bool_ or lower.is_floating_point:
        return promote_types(higher, lower)
    return higher


def result_type(*operands):
    """Result dtype of an elementwise op over tensors and Python scalars (torch.result_type)."""
    from ember._tensor import Tensor
    dim_r = zero_r = wrapped_r = None
    for x in operands:
        if isinstance(x, Tensor):
            d = x.dtype
            if x._data.ndim:
                dim_r = d if dim_r is None else promote_types(dim_r, d)
            else:
                zero_r = d if zero_r is None else promote_types(zero_r, d)
        else:
            if isinstance(x, (bool, np.bool_)):
                d = bool_
            elif isinstance(x, (int, np.integer)):
                d = int64
            elif isinstance(x, (float, np.floating)):
                d = _default_float
            elif isinstance(x, np.ndarray):
                d = from_numpy(x.dtype)
                if x.ndim:
                    dim_r = d if dim_r is None else promote_types(dim_r, d)
                else:
                    zero_r = d if zero_r is None else promote_types(zero_r, d)
                continue
            else:
                raise TypeError(f"unsupported operand type {type(x).__name__}")
            wrapped_r = d if wrapped_r is None else promote_types(wrapped_r, d)
    return _combine(dim_r, _combine(zero_r, wrapped_r))
