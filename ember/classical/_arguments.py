"""The one check of per-axis arguments (sizes, sigmas, cells, steps) that the classical image
functions share."""
import numpy as np


def pair(value, name, caller, kind=float, minimum=None):
    """``value`` — a number for both spatial axes, or one per axis — as a 2-tuple of
    ``kind``; an error naming ``caller`` and ``name`` if it is neither or is below
    ``minimum``."""
    try:
        values = (value, value) if np.ndim(value) == 0 else tuple(value)
        if len(values) != 2:
            raise ValueError
        values = tuple(kind(v) for v in values)
    except (TypeError, ValueError):
        raise ValueError(f"{caller}: {name} must be a number or a pair, got {value!r}") from None
    if minimum is not None and min(values) < minimum:
        raise ValueError(f"{caller}: {name} must be >= {minimum}, got {value!r}")
    return values
