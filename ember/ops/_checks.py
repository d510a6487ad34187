"""Argument checks shared by the op families: a Tensor argument, one floating dtype, an
int-or-tuple size argument, a spatial ``(N, C, *spatial)`` input."""
import numpy as np

from ember._tensor import Tensor

_SPATIAL = {1: "L", 2: "H, W", 3: "D, H, W"}


def tensor_argument(x, name, arg):
    """``x`` itself if it is a Tensor; else torch's ``TypeError`` naming function and argument."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}(): argument '{arg}' must be Tensor, not {type(x).__name__}")
    return x


def same_float_dtype(name, **tensors):
    """Check that all given tensors share one floating dtype (torch does not promote here)."""
    items = [(k, t) for k, t in tensors.items() if t is not None]
    first_name, first = items[0]
    if first._data.dtype.kind != "f":
        raise RuntimeError(f"{name}: expected a floating-point {first_name}, got {first.dtype}")
    for k, t in items[1:]:
        if t._data.dtype != first._data.dtype:
            raise RuntimeError(f"{name}: {first_name} dtype {first.dtype} and {k} dtype {t.dtype} "
                               f"differ; convert one of them (e.g. .float() or .double())")


def ntuple(value, n, fname, argname, allow_none=False):
    """An int, or a sequence (or 1-D Tensor) of 1 or ``n`` ints, as a tuple of ``n`` Python
    ints (``kernel_size=3`` -> ``(3, 3)``). With ``allow_none``, None stands for "keep that
    size". A non-int is a ``TypeError``, a sequence of another length a ``RuntimeError``
    (torch's types), each naming the function and the argument."""
    if allow_none and value is None:
        return (None,) * n
    if isinstance(value, Tensor):
        value = value.tolist()
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return (int(value),) * n
    if not isinstance(value, (tuple, list)) or not all(
            (allow_none and v is None) or (isinstance(v, (int, np.integer))
                                           and not isinstance(v, (bool, np.bool_)))
            for v in value):
        raise TypeError(f"{fname}: {argname} must be an int or a tuple of {n} ints, got "
                        f"{value!r}")
    if len(value) not in (1, n):
        raise RuntimeError(f"{fname}: {argname} must be an int or a tuple of {n} ints (expected "
                           f"{argname} to be a single integer value or a list of {n} values), "
                           f"got {value!r}")
    values = tuple(None if v is None else int(v) for v in value)
    return values * n if len(values) == 1 else values


def spatial_input(input, nd, fname):
    """``input`` must be a Tensor of shape ``(N, C, *spatial)`` or ``(C, *spatial)`` with
    ``nd`` spatial dims, none of them empty."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{fname}: expected input to be a Tensor, got {type(input).__name__}")
    shape = tuple(input._data.shape)
    if input._data.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"{fname}: expected a {nd + 1}-D or {nd + 2}-D input (N, C, "
                           f"{_SPATIAL[nd]}) with optional batch dimension, got a "
                           f"{input._data.ndim}-D input of shape {shape}")
    if any(s == 0 for s in shape[-nd - 1:]):
        raise RuntimeError(f"{fname}: expected non-empty channel and spatial dimensions, "
                           f"got input of shape {shape}")


def float_input(input, fname):
    """``input`` must have a floating dtype."""
    if input._data.dtype.kind != "f":
        raise RuntimeError(f"{fname}: expected a floating-point input, got {input.dtype}")
