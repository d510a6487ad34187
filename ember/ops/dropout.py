"""Dropout family (``torch.nn.functional`` names).

Lecture 001/002 "Dropout": during training each hidden unit is zeroed with probability ``p``
("将隐层节点以一定概率清0"), which can be seen as averaging exponentially many thinned
networks. The slides do not say how the expected activation is kept; Ember follows torch's
*inverted* dropout: the kept units are scaled by ``1 / (1 - p)`` at training time, so
evaluation (``training=False``) is the identity.

One primitive serves the whole family: ``y = x * noise + shift`` with a ``noise`` tensor
drawn once per call (element-wise, or one value per channel for the ``*d``/feature variants,
broadcast over the spatial dims) and ``dy/dx = noise``. Masks come from the default
generator (``ember.manual_seed`` makes them reproducible).
"""
import math
import warnings

import numpy as np

from ember._random import rng
from ember._tensor import Tensor
from ember.autograd.inplace import inplace_method
from ember.autograd.function import Function

__all__ = ["dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout",
           "feature_alpha_dropout"]

# -SELU's negative saturation value, scale * alpha = 1.0507 * 1.6733
_SELU_SATURATION = 1.7580993408473766


class Dropout(Function):
    """``y = x * noise + shift`` (``noise``/``shift`` broadcast to ``x``); ``dx = g * noise``."""

    def forward(self, x, noise, shift=None):
        self.noise = noise
        out = x * noise
        if shift is not None:
            out += shift
        return out

    def backward(self, grad):
        return grad * self.noise


def _check(input, p, name):
    if p < 0.0 or p > 1.0:
        raise ValueError(f"{name}: dropout probability has to be between 0 and 1, but got {p}")
    if not isinstance(input, Tensor):
        raise TypeError(f"{name}(): argument 'input' must be Tensor, not {type(input).__name__}")
    if input._data.dtype.kind != "f":
        raise RuntimeError(f"{name}: expected a floating-point tensor, got {input.dtype} "
                           f"(shape {tuple(input.shape)})")


def _apply(input, p, training, inplace, name, noise_shape, alpha=False):
    """Draw the mask of ``noise_shape`` and apply ``x * noise (+ shift)`` (arguments checked)."""
    x = input._data
    if not training or p == 0 or x.size == 0:
        return input
    dt = x.dtype
    shift = None
    if p == 1:
        noise = np.zeros(noise_shape, dtype=dt)
    else:
        keep = (rng().random(noise_shape, dtype=np.float32) >= p).astype(dt)
        if alpha:
            # keeps mean 0 / variance 1 of SELU activations: dropped units go to the negative
            # saturation value, then an affine map a * y + b restores the moments
            a = 1.0 / math.sqrt((_SELU_SATURATION ** 2 * p + 1) * (1 - p))
            noise = keep * a
            shift = (keep - 1) * (_SELU_SATURATION * a) + _SELU_SATURATION * a * p
        else:
            noise = keep * (1.0 / (1.0 - p))
    if inplace:
        return inplace_method(lambda t: Dropout.apply(t, noise=noise, shift=shift),
                              name + "_")(input)
    return Dropout.apply(input, noise=noise, shift=shift)


def _channel_shape(shape, batched, name):
    """Noise shape with one value per (sample, channel): ``(N, C, 1, ...)`` or ``(C, 1, ...)``."""
    if batched:
        if len(shape) < 2:
            raise RuntimeError(f"{name}: feature dropout requires at least 2 dimensions in the "
                               f"input, got shape {tuple(shape)}")
        return shape[:2] + (1,) * (len(shape) - 2)
    return shape[:1] + (1,) * (len(shape) - 1)


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)``.

    Any shape; identity when ``training=False`` or ``p=0``; all zeros (gradient 0) when
    ``p=1``. ``inplace=True`` writes into ``input``.
    """
    _check(input, p, "dropout")
    return _apply(input, p, training, inplace, "dropout", input._data.shape)


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels: ``(N, C, L)`` or unbatched ``(C, L)``; each channel of each sample
    is dropped with probability ``p``, the rest scaled by ``1 / (1 - p)``."""
    _check(input, p, "dropout1d")
    nd = input._data.ndim
    if nd not in (2, 3):
        raise RuntimeError(f"dropout1d: Expected 2D or 3D input, but received a {nd}D input "
                           f"(shape {tuple(input.shape)}); dropout1d drops channels of inputs "
                           f"(N, C, L) or (C, L)")
    shape = _channel_shape(input._data.shape, nd == 3, "dropout1d")
    return _apply(input, p, training, inplace, "dropout1d", shape)


def _warn_dims(name, nd, expected):
    warnings.warn(f"{name}: Received a {nd}-D input to {name}, which is deprecated and will "
                  f"result in an error in a future release. To retain the behavior and silence "
                  f"this warning, please use dropout instead. Note that {name} exists to provide "
                  f"channel-wise dropout on inputs with {expected} spatial dimensions, a channel "
                  f"dimension, and an optional batch dimension.", stacklevel=3)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of ``(N, C, H, W)`` inputs (one Bernoulli draw per sample and
    channel), scaling the kept ones by ``1 / (1 - p)``.

    As in torch, a 3-D input is read as ``(N, C, L)`` (with a warning: torch plans to read it
    as unbatched ``(C, H, W)``), and other ranks warn and drop along dim 1.
    """
    _check(input, p, "dropout2d")
    nd = input._data.ndim
    if nd not in (3, 4):
        _warn_dims("dropout2d", nd, 2)
    if nd == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise "
                      "1D dropout behavior is desired - input is interpreted as shape (N, C, L), "
                      "where C is the channel dim. This behavior will change in a future release "
                      "to interpret the input as one without a batch dimension, i.e. shape "
                      "(C, H, W). To maintain the 1D channel-wise dropout behavior, please switch "
                      "to using dropout1d instead.", stacklevel=2)
    shape = _channel_shape(input._data.shape, True, "dropout2d")
    return _apply(input, p, training, inplace, "dropout2d", shape)


def dropout3d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of ``(N, C, D, H, W)`` or unbatched ``(C, D, H, W)`` inputs,
    scaling the kept ones by ``1 / (1 - p)``. Other ranks warn (as in torch)."""
    _check(input, p, "dropout3d")
    nd = input._data.ndim
    if nd not in (4, 5):
        _warn_dims("dropout3d", nd, 3)
    shape = _channel_shape(input._data.shape, nd != 4, "dropout3d")
    return _apply(input, p, training, inplace, "dropout3d", shape)


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    """Alpha dropout for SELU networks (Klambauer et al. 2017): dropped elements are set to
    SELU's negative saturation ``-1.7581`` and the result is mapped by ``a * y + b`` with
    ``a = ((1 - p)(1 + p 1.7581^2))^-1/2`` so that zero mean and unit variance are kept.
    Gradient ``a`` where kept, 0 where dropped. Note torch's default ``training=False``."""
    _check(input, p, "alpha_dropout")
    return _apply(input, p, training, inplace, "alpha_dropout", input._data.shape, alpha=True)


def feature_alpha_dropout(input, p=0.5, training=False, inplace=False):
    """Alpha dropout of whole channels: one draw per ``(sample, channel)`` of an
    ``(N, C, *)`` input."""
    _check(input, p, "feature_alpha_dropout")
    shape = _channel_shape(input._data.shape, True, "feature_alpha_dropout")
    return _apply(input, p, training, inplace, "feature_alpha_dropout", shape, alpha=True)
