"""How an image is extended beyond its edges: the border modes of ``scipy.ndimage``.

Every filter, resampler and warp of :mod:`ember.classical` reads pixels outside the image
through one index map per axis (:func:`extended_indices`). For an axis ``a b c d`` the
modes are scipy.ndimage's, with its behaviour also for extensions longer than the axis:

- ``'reflect'``  ``d c b a | a b c d | d c b a``: half-sample symmetric (``np.pad``'s
  'symmetric'); alias ``'grid-mirror'``.
- ``'mirror'``   ``d c b | a b c d | c b a``: whole-sample symmetric (``np.pad``'s and
  torch's 'reflect').
- ``'nearest'``  ``a a a | a b c d | d d d``: the edge pixel (torch's 'replicate').
- ``'wrap'``     ``a b c d | a b c d | a b c d``: periodic (torch's 'circular'); alias
  ``'grid-wrap'``.
- ``'constant'`` ``k k k | a b c d | k k k``: the constant ``cval``; alias ``'grid-constant'``.

The lecture names the same choices (003 「Padding」: "pad/fill", "Symm: fold sides over",
"Circular/Wrap: wrap around").
"""
import numpy as np

MODES = ("reflect", "mirror", "nearest", "wrap", "constant")
_ALIASES = {"grid-mirror": "reflect", "grid-wrap": "wrap", "grid-constant": "constant"}


def check_mode(mode, caller):
    """The canonical name of border mode ``mode``; a clear error naming ``caller`` if unknown."""
    canonical = _ALIASES.get(mode, mode)
    if canonical not in MODES:
        raise ValueError(f"{caller}: unknown border mode {mode!r}; expected one of "
                         f"{MODES + tuple(_ALIASES)}")
    return canonical


def border_index(positions, size, mode):
    """The pixel that integer ``positions`` (any shape, may lie outside ``0 .. size-1``) of an
    axis of ``size`` pixels read under border ``mode``; ``-1`` where ``'constant'`` reads
    ``cval``. int64, the shape of ``positions``."""
    mode = check_mode(mode, "border_index")
    i = np.asarray(positions, dtype=np.int64)
    if mode == "constant":
        return np.where((i >= 0) & (i < size), i, -1)
    if mode == "nearest":
        return np.clip(i, 0, size - 1)
    if mode == "wrap":
        return i % size
    if mode == "reflect":                       # period 2n: a b c d d c b a
        j = i % (2 * size)
        return np.where(j < size, j, 2 * size - 1 - j)
    if size == 1:                               # 'mirror' of a single pixel repeats it
        return np.zeros_like(i)
    j = i % (2 * size - 2)                      # period 2n - 2: a b c d c b
    return np.where(j < size, j, 2 * size - 2 - j)


def extended_indices(size, before, after, mode):
    """Indices into an axis of ``size`` pixels for the positions ``-before .. size+after-1``:
    :func:`border_index` of that range, an int64 array of length ``before + size + after``."""
    return border_index(np.arange(-before, size + after), size, mode)


def pad_axis(array, axis, before, after, mode, cval=0.0):
    """``array`` extended by ``before``/``after`` pixels along ``axis`` (a NumPy copy)."""
    mode = check_mode(mode, "pad_axis")
    if mode == "constant":
        widths = [(0, 0)] * array.ndim
        widths[axis] = (before, after)
        return np.pad(array, widths, mode="constant", constant_values=cval)
    return np.take(array, extended_indices(array.shape[axis], before, after, mode), axis=axis)
