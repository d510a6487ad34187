"""torch's module path ``torch.nn.modules.pixelshuffle``: ``PixelShuffle`` and
``PixelUnshuffle``, which Ember defines in :mod:`ember.nn.modules.upsampling`."""
from ember.nn.modules.upsampling import PixelShuffle, PixelUnshuffle  # noqa: F401

__all__ = ["PixelShuffle", "PixelUnshuffle"]
