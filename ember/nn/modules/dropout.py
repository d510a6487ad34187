"""Dropout layers (``torch.nn``): ``Dropout``, ``Dropout1d/2d/3d``, ``AlphaDropout``,
``FeatureAlphaDropout``.

Lecture 003 "Dropout" / lecture 004 AlexNet ``nn.Dropout(p=dropout)`` (inventory A28): in training each
element is zeroed with probability ``p``; the survivors are scaled by ``1 / (1 − p)``
(inverted dropout, as in torch -- the slides do not say which scaling) so that nothing
changes at test time, where dropout is the identity. Shapes: ``(*) -> (*)``.
"""
from ember.nn import functional as F
from ember.nn.modules.module import Module

__all__ = ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout",
           "FeatureAlphaDropout"]


class _DropoutNd(Module):
    _functional = None

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if p < 0 or p > 1:
            raise ValueError(f"{type(self).__name__}: dropout probability has to be between 0 "
                             f"and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def forward(self, input):
        return self._functional(input, self.p, self.training, self.inplace)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Zero each element with probability ``p`` and scale the rest by ``1/(1-p)`` (training
    mode only)."""
    _functional = staticmethod(F.dropout)


class Dropout1d(_DropoutNd):
    """Zero whole channels of ``(N, C, L)`` with probability ``p`` (training mode only)."""
    _functional = staticmethod(F.dropout1d)


class Dropout2d(_DropoutNd):
    """Zero whole feature maps of ``(N, C, H, W)`` with probability ``p`` (training only)."""
    _functional = staticmethod(F.dropout2d)


class Dropout3d(_DropoutNd):
    """Zero whole channels of ``(N, C, D, H, W)`` with probability ``p`` (training only)."""
    _functional = staticmethod(F.dropout3d)


class AlphaDropout(_DropoutNd):
    """Dropout for SELU networks: dropped values are set to SELU's negative saturation and an
    affine correction keeps mean 0 and variance 1 (training mode only)."""
    _functional = staticmethod(F.alpha_dropout)


class FeatureAlphaDropout(_DropoutNd):
    """Alpha dropout of whole channels (training mode only)."""
    _functional = staticmethod(F.feature_alpha_dropout)
