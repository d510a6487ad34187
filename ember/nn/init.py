"""Weight initialization (``torch.nn.init``), plus the lectures' own presets.

Every function fills its tensor in place without recording autograd history, keeps the
tensor's dtype, and returns the tensor. Random draws come from the default generator or the
``generator=`` given (an ``ember.Generator``).

Fans: for a weight of shape ``(out, in, *kernel)``, ``fan_in = in * prod(kernel)`` and
``fan_out = out * prod(kernel)`` (a Linear weight ``(out, in)`` has no kernel).

Lecture 003 "从头训练CNN" (inventory A22) lists three recipes, provided as presets:

* ``lecture_alexnet_(module)``: every conv / linear weight ``~ N(0, 0.01)``, bias ``= 1``;
* ``lecture_xavier_(tensor)``: ``U(-1/sqrt(n), 1/sqrt(n))`` with ``n = fan_in`` -- the slide
  calls this "Xavier", but it is the simple ``1/sqrt(n)`` rule, *not* Glorot's
  ``xavier_uniform_`` bound ``gain * sqrt(6 / (fan_in + fan_out))``;
* ``lecture_kaiming_(tensor)``: ``N(0, std = sqrt(2/n))`` with ``n = fan_in`` (the same as
  ``kaiming_normal_(tensor, nonlinearity='relu')``).
"""
import math
import warnings

import numpy as np

from ember._random import rng as _rng
from ember._tensor import Tensor

__all__ = ["calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "ones_",
           "zeros_", "eye_", "dirac_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
           "kaiming_normal_", "orthogonal_", "sparse_", "lecture_alexnet_", "lecture_xavier_",
           "lecture_kaiming_"]


def _check(tensor, who):
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{who}: expected an ember Tensor, got {type(tensor).__name__}")


def _fill(tensor, values):
    """Write ``values`` into the tensor's storage (no autograd) and bump its version."""
    tensor._data[...] = values
    tensor._bump_version()
    return tensor


def _no_op(tensor, who):
    if tensor._data.size == 0:
        warnings.warn(f"{who}: Initializing zero-element tensors is a no-op")
        return True
    return False


def calculate_gain(nonlinearity, param=None):
    """The recommended gain for a nonlinearity (torch's table).

    ``linear``, ``conv*``, ``sigmoid``: 1; ``tanh``: 5/3; ``relu``: sqrt(2);
    ``leaky_relu``: sqrt(2 / (1 + slope^2)) with ``slope = param`` (default 0.01);
    ``selu``: 3/4.
    """
    linear_fns = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                  "conv_transpose2d", "conv_transpose3d"]
    if nonlinearity in linear_fns or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, (int, float)):
            slope = param
        else:
            raise ValueError(f"calculate_gain: negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(tensor):
    if tensor.dim() < 2:
        raise ValueError(f"Fan in and fan out can not be computed for tensor with fewer than 2 "
                         f"dimensions (got shape {tuple(tensor.shape)})")
    receptive = int(np.prod(tensor.shape[2:])) if tensor.dim() > 2 else 1
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _calculate_correct_fan(tensor, mode):
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of fan_in, fan_out")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _draw_dtype(tensor):
    """Draw float32 tensors' values directly in float32 (half the memory and time of float64
    draws; AlexNet's 61M weights); every other dtype draws in float64 and casts."""
    return np.float32 if tensor._data.dtype == np.float32 else np.float64


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    """Fill with draws from ``U(a, b)``."""
    _check(tensor, "uniform_")
    u = _rng(generator).random(tensor.shape, dtype=_draw_dtype(tensor))
    u *= b - a
    u += a
    return _fill(tensor, u)


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """Fill with draws from ``N(mean, std^2)``."""
    _check(tensor, "normal_")
    z = _rng(generator).standard_normal(tensor.shape, dtype=_draw_dtype(tensor))
    z *= std
    z += mean
    return _fill(tensor, z)


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    """Fill with draws from ``N(mean, std^2)`` truncated to ``[a, b]`` (absolute bounds, as in
    torch). Out-of-range draws are redrawn, which samples the truncated law exactly."""
    _check(tensor, "trunc_normal_")
    if not a < b:
        raise ValueError(f"trunc_normal_: expected a < b, got a={a}, b={b}")
    g = _rng(generator)
    out = mean + std * g.standard_normal(tensor.shape)
    bad = (out < a) | (out > b)
    while bad.any():
        out[bad] = mean + std * g.standard_normal(int(bad.sum()))
        bad = (out < a) | (out > b)
    return _fill(tensor, out)


def constant_(tensor, val):
    """Fill with the constant ``val``."""
    _check(tensor, "constant_")
    return _fill(tensor, val)


def ones_(tensor):
    """Fill with 1."""
    return constant_(tensor, 1.0)


def zeros_(tensor):
    """Fill with 0."""
    return constant_(tensor, 0.0)


def eye_(tensor):
    """Fill a 2-D tensor with the identity (ones on the main diagonal)."""
    _check(tensor, "eye_")
    if tensor.dim() != 2:
        raise ValueError(f"eye_: only tensors with 2 dimensions are supported, got shape "
                         f"{tuple(tensor.shape)}")
    return _fill(tensor, np.eye(*tensor.shape))


def dirac_(tensor, groups=1):
    """Fill a 3/4/5-D conv weight with the Dirac delta: the conv then preserves the identity
    of as many input channels as possible (per group)."""
    _check(tensor, "dirac_")
    if tensor.dim() not in (3, 4, 5):
        raise ValueError(f"dirac_: only tensors with 3, 4, or 5 dimensions are supported, got "
                         f"shape {tuple(tensor.shape)}")
    if tensor.shape[0] % groups != 0:
        raise ValueError(f"dirac_: dim 0 ({tensor.shape[0]}) must be divisible by groups "
                         f"({groups})")
    per_group = tensor.shape[0] // groups
    n = min(per_group, tensor.shape[1])
    values = np.zeros(tensor.shape)
    out_idx = (np.arange(groups)[:, None] * per_group + np.arange(n)[None, :]).ravel()
    in_idx = np.tile(np.arange(n), groups)
    centre = tuple(s // 2 for s in tensor.shape[2:])
    values[(out_idx, in_idx) + centre] = 1
    return _fill(tensor, values)


def xavier_uniform_(tensor, gain=1.0, generator=None):
    """Glorot: ``U(-a, a)`` with ``a = gain * sqrt(6 / (fan_in + fan_out))``."""
    _check(tensor, "xavier_uniform_")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    a = gain * math.sqrt(6.0 / float(fan_in + fan_out))
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    """Glorot: ``N(0, std^2)`` with ``std = gain * sqrt(2 / (fan_in + fan_out))``."""
    _check(tensor, "xavier_normal_")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator)


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """He: ``U(-bound, bound)`` with ``bound = gain * sqrt(3 / fan)``,
    ``gain = calculate_gain(nonlinearity, a)`` and ``fan`` chosen by ``mode``.

    ``Linear`` and ``Conv`` use ``a=sqrt(5)``, i.e. ``bound = 1 / sqrt(fan_in)``.
    """
    _check(tensor, "kaiming_uniform_")
    if _no_op(tensor, "kaiming_uniform_"):
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """He: ``N(0, std^2)`` with ``std = gain / sqrt(fan)``."""
    _check(tensor, "kaiming_normal_")
    if _no_op(tensor, "kaiming_normal_"):
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return normal_(tensor, 0.0, std, generator)


def orthogonal_(tensor, gain=1, generator=None):
    """Fill with a (semi-)orthogonal matrix times ``gain`` (Saxe et al.): the tensor is viewed
    as ``(shape[0], numel / shape[0])`` and set to Q of the QR decomposition of a Gaussian
    matrix, with signs fixed so that the law is uniform (Haar)."""
    _check(tensor, "orthogonal_")
    if tensor.dim() < 2:
        raise ValueError(f"orthogonal_: only tensors with 2 or more dimensions are supported, "
                         f"got shape {tuple(tensor.shape)}")
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    flat = _rng(generator).standard_normal((rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _fill(tensor, gain * q.reshape(tensor.shape))


def sparse_(tensor, sparsity, std=0.01, generator=None):
    """Fill a 2-D tensor with ``N(0, std^2)`` and zero ``ceil(sparsity * rows)`` randomly chosen
    entries in every column (Martens 2010)."""
    _check(tensor, "sparse_")
    if tensor.dim() != 2:
        raise ValueError(f"sparse_: only tensors with 2 dimensions are supported, got shape "
                         f"{tuple(tensor.shape)}")
    rows, cols = tensor.shape
    g = _rng(generator)
    values = std * g.standard_normal((rows, cols))
    num_zeros = int(math.ceil(sparsity * rows))
    zero_rows = np.argsort(g.random((rows, cols)), axis=0)[:num_zeros]
    values[zero_rows, np.arange(cols)[None, :]] = 0
    return _fill(tensor, values)


# ------------------------------------------------------------------ the lectures' presets
def lecture_xavier_(tensor, generator=None):
    """Lecture 003 "从头训练CNN": ``U(-1/sqrt(n), 1/sqrt(n))``, ``n = fan_in``.

    The slide names this "Xavier"; it is the simple 1/sqrt(n) rule, not Glorot's
    ``xavier_uniform_`` (whose bound is ``sqrt(6 / (fan_in + fan_out))``).
    """
    _check(tensor, "lecture_xavier_")
    fan_in, _ = _calculate_fan_in_and_fan_out(tensor)
    bound = 1.0 / math.sqrt(fan_in)
    return uniform_(tensor, -bound, bound, generator)


def lecture_kaiming_(tensor, generator=None):
    """Lecture 003 "从头训练CNN": ``N(0, std = sqrt(2/n))``, ``n = fan_in`` (He et al. for
    ReLU; equal to ``kaiming_normal_(tensor, nonlinearity='relu')``)."""
    _check(tensor, "lecture_kaiming_")
    fan_in, _ = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, math.sqrt(2.0 / fan_in), generator)


def lecture_alexnet_(module, std=0.01, bias=1.0, generator=None):
    """Lecture 003 "从头训练CNN", AlexNet's recipe: every convolution / linear weight
    ``~ N(0, std^2)`` with ``std = 0.01`` and every bias ``= 1``, applied to all such layers
    of ``module``. Returns ``module``.

    (The slide says "bias = 1" for all layers; Krizhevsky et al. used 1 for conv2/4/5 and the
    FC layers and 0 elsewhere.)
    """
    for m in module.modules():
        if _is_weight_layer(m):
            normal_(m.weight, 0.0, std, generator)
            if m.bias is not None:
                constant_(m.bias, bias)
    return module


def _is_weight_layer(module):
    """A convolution or linear layer (what the AlexNet recipe initialises): a module with a
    ``weight`` of two or more dims, a ``bias`` attribute and input features or channels —
    told apart by what it has, so that ``nn.init`` needs no import of the layer classes
    (which import ``nn.init`` for their own default initialization)."""
    weight = getattr(module, "weight", None)
    return (isinstance(weight, Tensor) and weight.dim() >= 2 and hasattr(module, "bias")
            and any(hasattr(module, a) for a in ("in_features", "in1_features", "in_channels")))
