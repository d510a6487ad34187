"""Constructor arguments of the layers that become tensor sizes, checked when the layer is
built, with torch's error types.

In torch, ``nn.Linear(3.5, 2)`` or ``nn.Conv2d(24, 44.0, 3)`` fails at once with a
``TypeError`` (the parameter's allocation wants integer sizes), and a negative size with a
``RuntimeError``; a layer that accepted them would fail later, in its forward pass, far from
the mistake. Each layer declares which of its arguments are sizes with one decorator on its
``__init__``::

    @integer_arguments(counts=("in_features", "out_features"))
    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None): ...

and the message names the layer, the argument and the value:
``Linear: in_features must be an int, got 3.5 (float)``. Ember also refuses non-integer
``stride``/``padding``/``dilation`` there (torch accepts them at construction and its
functional call raises the same ``TypeError`` at the first forward pass).
"""
import functools
import inspect
import operator

__all__ = ["integer_arguments"]


def integer_arguments(counts=(), shapes=(), offsets=()):
    """Decorator for a layer's ``__init__``.

    Args:
        counts: arguments that are one size each (``in_features``, ``num_features``):
            an int, non-negative.
        shapes: arguments that are an int or a sequence of ints, non-negative
            (``kernel_size``, ``normalized_shape``).
        offsets: arguments that are an int or a sequence of ints of any sign (``stride``,
            ``padding`` -- which may also be a string -- ``dilation``, ``output_padding``).
    """
    kinds = {**{n: "count" for n in counts}, **{n: "shape" for n in shapes},
             **{n: "offset" for n in offsets}}

    def decorate(init):
        signature = inspect.signature(init)

        @functools.wraps(init)
        def checked_init(self, *args, **kwargs):
            try:
                bound = signature.bind(self, *args, **kwargs)
            except TypeError as e:
                raise TypeError(f"{type(self).__name__}: {e}") from None
            for name, value in bound.arguments.items():
                optional = value is None and signature.parameters[name].default is None
                if name in kinds and not optional:
                    _check(type(self).__name__, name, value, kinds[name])
            init(self, *args, **kwargs)
        return checked_init
    return decorate


def _is_int(value):
    try:
        operator.index(value)
    except TypeError:
        return False
    return True


def _check(layer, name, value, kind):
    if kind == "offset" and isinstance(value, str):
        return
    values = value if kind != "count" and isinstance(value, (tuple, list)) else (value,)
    if not all(_is_int(v) for v in values):
        expected = "an int" if kind == "count" else "an int or a tuple of ints"
        raise TypeError(f"{layer}: {name} must be {expected}, got {value!r} "
                        f"({type(value).__name__})")
    if kind != "offset" and any(operator.index(v) < 0 for v in values):
        raise RuntimeError(f"{layer}: {name} must not be negative (it is a tensor size), got "
                           f"{value!r}")
