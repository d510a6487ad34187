"""Padding layers (``torch.nn``): constant / zero, reflection, replication and circular, and
the lectures' symmetric padding.

Lecture 002/003 "Padding" (inventory B14): zero padding keeps a "same"-size output; "Symm: fold
sides over" is ``SymmetricPad*`` (not in torch), "Circular/Wrap: wrap around" is
``CircularPad*``. ``padding`` is an int (all
sides) or a tuple ``(left, right)``, ``(left, right, top, bottom)`` or ``(left, right, top,
bottom, front, back)`` -- last dimension first, as for ``F.pad``.
Shapes: ``(N, C, *in) -> (N, C, *out)``, e.g. ``W_out = W + left + right``.
"""
from ember.nn import functional as F
from ember.nn.modules.module import Module

__all__ = ["ConstantPad1d", "ConstantPad2d", "ConstantPad3d", "ZeroPad1d", "ZeroPad2d",
           "ZeroPad3d", "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d",
           "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d", "CircularPad1d",
           "CircularPad2d", "CircularPad3d", "SymmetricPad1d", "SymmetricPad2d",
           "SymmetricPad3d"]


def _padding_tuple(padding, n, who):
    if isinstance(padding, (tuple, list)):
        if len(padding) != 2 * n:
            raise ValueError(f"{who}: expected padding to be an int or a tuple of {2 * n} ints, "
                             f"got {tuple(padding)}")
        return tuple(int(p) for p in padding)
    return (int(padding),) * (2 * n)


class _PadNd(Module):
    _n = 2
    _mode = "constant"

    def __init__(self, padding):
        super().__init__()
        self.padding = _padding_tuple(padding, self._n, type(self).__name__)

    def forward(self, input):
        return F.pad(input, self.padding, self._mode)

    def extra_repr(self):
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    def __init__(self, padding, value):
        super().__init__(padding)
        self.value = value

    def forward(self, input):
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    """Pad the last dimension with ``value``: ``(N, C, W) -> (N, C, W + left + right)``."""
    _n = 1


class ConstantPad2d(_ConstantPadNd):
    """Pad the last two dimensions with ``value``."""
    _n = 2


class ConstantPad3d(_ConstantPadNd):
    """Pad the last three dimensions with ``value``."""
    _n = 3


class _ZeroPadNd(_ConstantPadNd):
    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


class ZeroPad1d(_ZeroPadNd):
    """Pad the last dimension with zeros."""
    _n = 1


class ZeroPad2d(_ZeroPadNd):
    """Pad the last two dimensions with zeros (lecture 002 "zero padding")."""
    _n = 2


class ZeroPad3d(_ZeroPadNd):
    """Pad the last three dimensions with zeros."""
    _n = 3


class ReflectionPad1d(_PadNd):
    """Mirror the input at its border, excluding the edge value (``abc|ba``)."""
    _n, _mode = 1, "reflect"


class ReflectionPad2d(_PadNd):
    """Mirror the last two dimensions at the border, excluding the edge value."""
    _n, _mode = 2, "reflect"


class ReflectionPad3d(_PadNd):
    """Mirror the last three dimensions at the border, excluding the edge value."""
    _n, _mode = 3, "reflect"


class ReplicationPad1d(_PadNd):
    """Repeat the edge value (``abc|cc``)."""
    _n, _mode = 1, "replicate"


class ReplicationPad2d(_PadNd):
    """Repeat the edge values of the last two dimensions."""
    _n, _mode = 2, "replicate"


class ReplicationPad3d(_PadNd):
    """Repeat the edge values of the last three dimensions."""
    _n, _mode = 3, "replicate"


class CircularPad1d(_PadNd):
    """Wrap around (``abc|ab``, periodic boundary)."""
    _n, _mode = 1, "circular"


class CircularPad2d(_PadNd):
    """Wrap the last two dimensions around (periodic boundary)."""
    _n, _mode = 2, "circular"


class CircularPad3d(_PadNd):
    """Wrap the last three dimensions around (periodic boundary)."""
    _n, _mode = 3, "circular"


class SymmetricPad1d(_PadNd):
    """Fold the border over, repeating the edge value (``cba|abc|cba``): lecture 003 "Symm:
    fold sides over" (inventory B14). Not in torch; ``F.pad(x, padding, mode='symmetric')``."""
    _n, _mode = 1, "symmetric"


class SymmetricPad2d(_PadNd):
    """Fold the last two dimensions over at the border, repeating the edge values."""
    _n, _mode = 2, "symmetric"


class SymmetricPad3d(_PadNd):
    """Fold the last three dimensions over at the border, repeating the edge values."""
    _n, _mode = 3, "symmetric"
