"""Activation functions, softmax and friends (``torch.nn.functional`` names).

Lectures 000/001/003 "Activation functions": sigmoid ``1 / (1 + e^-x)``, tanh, ReLU
``max(0, x)``, Leaky ReLU ``max(0.1 x, x)``, Maxout ``max(w1.x + b1, w2.x + b2)`` and ELU;
lecture 000 "Softmax": ``softmax(y)_i = e^{y_i} / sum_j e^{y_j}``.

Every activation is one fused :class:`Function` whose backward is the analytic local
derivative times the upstream gradient, computed from the saved input (or output). All work
in the input's floating dtype (float32 stays float32). Formulas that involve ``exp`` use
overflow-free forms: ``softplus(z) = max(z, 0) + log1p(exp(-|z|))`` and softmax subtracts the
row maximum.

``inplace=True`` (where torch has it) writes the result into the input's storage through the
core's in-place machinery, with torch's rules (a leaf that requires grad cannot be modified;
the gradient still flows to the value the input had before).
"""
import math
import warnings

import numpy as np

from ember._random import rng
from ember._tensor import Tensor
from ember.autograd.inplace import inplace_method
from ember.autograd.function import Function
from ember.kernels import compiled, flat
from ember.ops import elementwise as _core
from ember.ops._ones import ones
from ember.ops.elementwise import cast, sigmoid, tanh

__all__ = ["relu", "relu_", "relu6", "leaky_relu", "leaky_relu_", "elu", "elu_", "selu", "selu_",
           "celu", "celu_", "gelu", "silu", "mish", "softplus", "softsign", "hardtanh",
           "hardtanh_", "hardsigmoid", "hardswish", "sigmoid", "tanh", "logsigmoid",
           "tanhshrink", "softshrink", "hardshrink", "threshold", "threshold_", "prelu", "rrelu",
           "rrelu_", "glu", "softmax", "log_softmax", "softmin", "gumbel_softmax", "maxout"]

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _sigmoid(x):
    """Logistic function ``1 / (1 + e^-x)``; for ``x`` very negative ``e^-x`` overflows to inf
    and the result is the correct limit 0 (relative precision is kept in both tails)."""
    with np.errstate(over="ignore"):
        e = np.asarray(np.exp(-x))
    e += 1
    return np.reciprocal(e, out=e)


def _mask(cond, dtype):
    """A boolean mask as 0/1 numbers of ``dtype``. Masks are combined arithmetically below:
    ``np.where`` on a random mask is an order of magnitude slower than a multiply."""
    return cond.astype(dtype)


def _softplus(z):
    """``log(1 + e^z)`` without overflow."""
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def _float_input(input, name):
    if not isinstance(input, Tensor):
        raise TypeError(f"{name}(): argument 'input' must be Tensor, not {type(input).__name__}")
    if input._data.dtype.kind != "f":
        raise RuntimeError(f"{name}: expected a floating-point tensor, got {input.dtype} "
                           f"(shape {tuple(input.shape)})")
    return input


def _run(cls, name, input, inplace=False, **config):
    """Apply the pointwise activation ``cls``, out of place or in place."""
    x = _float_input(input, name)
    if inplace:
        return inplace_method(lambda t: cls.apply(t, **config), name + "_")(x)
    return cls.apply(x, **config)


class _Pointwise(Function):
    """Base of the pointwise activations: forward keeps the input for the backward pass."""
    saved_inputs = (0,)


# ------------------------------------------------------------------------ ReLU family
def relu_(input):
    """In-place ``relu`` (``torch.nn.functional.relu_``)."""
    return input.relu_()


def relu(input, inplace=False):
    """``max(0, x)`` (lecture 000 "ReLU"); ``inplace=True`` modifies ``input``. Shape-preserving.

    >>> F.relu(ember.tensor([-1.0, 0.0, 2.0]))
    tensor([0., 0., 2.])"""
    return input.relu_() if inplace else _core.relu(input)


class HardTanh(_Pointwise):
    def forward(self, x, min_val, max_val):
        self.x, self.lo, self.hi = x, min_val, max_val
        return np.clip(x, min_val, max_val)

    def backward(self, grad):
        return grad * ((self.x > self.lo) & (self.x < self.hi))


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """``clamp(x, min_val, max_val)``; gradient 1 strictly inside, 0 outside. Shape-preserving.
    Integer tensors are clamped too (no gradient), as in torch."""
    return _hardtanh(input, min_val, max_val, inplace, "hardtanh")


def _hardtanh(input, min_val, max_val, inplace, name):
    if min_val > max_val:
        raise ValueError(f"{name}: min_val ({min_val}) must not be greater than max_val "
                         f"({max_val})")
    if isinstance(input, Tensor) and input._data.dtype.kind in "iu":
        if inplace:
            np.clip(input._data, min_val, max_val, out=input._data, casting="unsafe")
            input._bump_version()
            return input
        return Tensor._wrap(np.clip(input._data, min_val, max_val).astype(input._data.dtype))
    return _run(HardTanh, name, input, inplace, min_val=min_val, max_val=max_val)


def hardtanh_(input, min_val=-1.0, max_val=1.0):
    return hardtanh(input, min_val, max_val, inplace=True)


def relu6(input, inplace=False):
    """``min(max(0, x), 6)`` = ``hardtanh(x, 0, 6)``."""
    return _hardtanh(input, 0.0, 6.0, inplace, "relu6")


class LeakyReLU(_Pointwise):
    def forward(self, x, slope):
        self.x, self.slope = x, slope
        if 0 <= slope <= 1:
            return np.maximum(x, x * slope)
        return np.maximum(x, 0) + slope * np.minimum(x, 0)

    def backward(self, grad):
        local = _mask(self.x > 0, grad.dtype)
        local *= 1 - self.slope
        local += self.slope
        return grad * local


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """``x`` if ``x > 0`` else ``negative_slope * x``.

    torch's default slope is 0.01; the lectures' slide ("Leaky ReLU max(0.1x, x)", lectures
    000/001/003 "Activation functions") uses 0.1 — pass ``negative_slope=0.1`` for that form.
    """
    return _run(LeakyReLU, "leaky_relu", input, inplace, slope=negative_slope)


def leaky_relu_(input, negative_slope=0.01):
    return leaky_relu(input, negative_slope, inplace=True)


class RReLU(Function):
    def forward(self, x, slopes):
        self.slopes = slopes
        return x * slopes

    def backward(self, grad):
        return grad * self.slopes


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):
    """Randomized leaky ReLU (Xu et al. 2015).

    Training: each element ``x <= 0`` is multiplied by its own slope ``a ~ U(lower, upper)``
    (drawn from the default generator); the gradient is that slope. Evaluation: a leaky ReLU
    with the mean slope ``(lower + upper) / 2``.
    """
    x = _float_input(input, "rrelu")
    if not training:
        return leaky_relu(x, (lower + upper) / 2, inplace)
    dt = x._data.dtype
    slopes = rng().uniform(lower, upper, x._data.shape).astype(dt)
    slopes -= 1
    slopes *= x._data <= 0
    slopes += 1                                   # the random slope where x <= 0, else 1
    return _run(RReLU, "rrelu", x, inplace, slopes=slopes)


def rrelu_(input, lower=1.0 / 8, upper=1.0 / 3, training=False):
    return rrelu(input, lower, upper, training, inplace=True)


class Threshold(_Pointwise):
    def forward(self, x, threshold, value):
        self.x, self.t = x, threshold
        return np.where(x > threshold, x, x.dtype.type(value))

    def backward(self, grad):
        return grad * (self.x > self.t)


def threshold(input, threshold, value, inplace=False):
    """``x`` if ``x > threshold`` else ``value``."""
    return _run(Threshold, "threshold", input, inplace, threshold=threshold, value=value)


def threshold_(input, threshold, value):
    return _run(Threshold, "threshold", input, True, threshold=threshold, value=value)


class PReLU(Function):
    saved_inputs = (0, 1)

    def forward(self, x, w):
        self.x = x
        self.w = w.reshape((1, -1) + (1,) * (x.ndim - 2)) if x.ndim >= 2 else w.reshape(-1)
        return np.maximum(x, 0) + self.w * np.minimum(x, 0)

    def backward(self, grad):
        x, gx, gw = self.x, None, None
        if self.needs_input_grad[0]:
            pos = _mask(x > 0, grad.dtype)
            gx = grad * (pos + (1 - pos) * self.w)
        if self.needs_input_grad[1]:
            contrib = grad * np.minimum(x, 0)
            w_shape = self._input_meta[1][0]
            if int(np.prod(w_shape)) == 1:
                gw = contrib.sum().reshape(w_shape)
            else:
                gw = contrib.sum(axis=tuple(a for a in range(x.ndim) if a != 1)).reshape(w_shape)
        return gx, gw


def prelu(input, weight):
    """Parametric ReLU: ``x`` if ``x > 0`` else ``a_c * x`` with a learned slope per channel.

    ``input``: ``(N, C, *)`` (channels on dim 1; a 1-D input has one channel);
    ``weight``: ``(C,)`` or ``(1,)`` (one slope shared by all channels).
    """
    x = _float_input(input, "prelu")
    if x._data.ndim == 0:
        raise RuntimeError("prelu: zero-dim input tensors are not allowed")
    if not isinstance(weight, Tensor):
        raise TypeError(f"prelu(): argument 'weight' must be Tensor, not {type(weight).__name__}")
    channels = x._data.shape[1] if x._data.ndim >= 2 else 1
    n = weight._data.size
    if weight._data.ndim > 1 or n not in (1, channels):
        raise RuntimeError(f"prelu: weight has {n} parameters (shape {tuple(weight.shape)}) but "
                           f"the input has {channels} channels (shape {tuple(x.shape)}); expected "
                           f"a 1-D weight with 1 or {channels} elements")
    if weight._data.dtype != x._data.dtype:
        raise RuntimeError(f"prelu: weight dtype {weight.dtype} differs from input dtype {x.dtype}")
    return PReLU.apply(x, weight)


# ------------------------------------------------------------------- exponential units
class ELU(_Pointwise):
    """``scale * (x if x > 0 else alpha * (exp(x * in_scale) - 1))``: ELU, SELU and CELU."""

    def forward(self, x, alpha, scale, in_scale):
        self.x, self.alpha, self.scale, self.in_scale = x, alpha, scale, in_scale
        out = np.expm1(np.minimum(x, 0) * in_scale)       # 0 where x > 0
        out *= alpha
        out += np.maximum(x, 0)
        return out * scale if scale != 1 else out

    def backward(self, grad):
        x, k = self.x, self.scale
        # k * alpha * in_scale * exp(x * in_scale) for x <= 0, k for x > 0
        neg = np.exp(np.minimum(x, 0) * self.in_scale)
        neg *= k * self.alpha * self.in_scale
        neg += _mask(x > 0, grad.dtype) * (k - neg)
        return grad * neg


def elu(input, alpha=1.0, inplace=False):
    """ELU: ``x`` if ``x > 0`` else ``alpha * (e^x - 1)`` (lecture 000 "Activation functions";
    the slide gives no alpha, torch's default is 1)."""
    return _run(ELU, "elu", input, inplace, alpha=alpha, scale=1.0, in_scale=1.0)


def elu_(input, alpha=1.0):
    return elu(input, alpha, inplace=True)


def selu(input, inplace=False):
    """SELU: ``1.0507 * elu(x, alpha=1.6733)`` (self-normalizing networks, Klambauer 2017)."""
    return _run(ELU, "selu", input, inplace, alpha=SELU_ALPHA, scale=SELU_SCALE, in_scale=1.0)


def selu_(input):
    return selu(input, inplace=True)


def celu(input, alpha=1.0, inplace=False):
    """CELU: ``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``."""
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0 (the formula divides by alpha)")
    return _run(ELU, "celu", input, inplace, alpha=alpha, scale=1.0, in_scale=1.0 / alpha)


def celu_(input, alpha=1.0):
    return celu(input, alpha, inplace=True)


# ------------------------------------------------------------------ smooth activations
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


# Numerical Recipes' erfcc: erfc(z) = t·exp(−z² + P(t)), t = 1/(1 + z/2), for z ≥ 0, with a
# fractional error below 1.2e-7 everywhere (so also in the tail, where 1 − erf cancels)
_ERFC_COEFFS = (-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807,
                -1.13520398, 1.48851587, -0.82215223, 0.17087277)


def _normal_cdf(x):
    """``Φ(x) = erfc(−x/√2) / 2``. float64 through SciPy; float32 (and float16) through the
    erfc fit above in the input's precision: 5× faster than SciPy's float32 erf (1.4 vs 7.3 ms
    for 532K values), GELU within 2.2e-6 relative of the float64 value wherever |GELU(x)| >
    1e-5 (torch's float32 GELU: 2.3e-2 there, from the cancellation in 1 + erf)."""
    if x.dtype == np.float64:
        from scipy.special import ndtr
        return ndtr(x)
    shape, x = x.shape, x.reshape(-1)        # 1-D, so that in-place ops keep arrays
    dt = x.dtype.type
    z = np.abs(x)
    z *= dt(1 / math.sqrt(2.0))
    t = z * dt(0.5)
    t += 1
    np.reciprocal(t, out=t)
    acc = np.full_like(z, dt(_ERFC_COEFFS[-1]))
    for c in _ERFC_COEFFS[-2:0:-1]:
        acc *= t
        acc += dt(c)
    acc *= t
    acc += dt(_ERFC_COEFFS[0])
    z *= z
    acc -= z
    np.exp(acc, out=acc)
    acc *= t
    acc *= dt(0.5)                      # Φ(−|x|)
    # Φ(x) = 1 − Φ(−|x|) where x ≥ 0, by arithmetic (``where=`` is 10× slower here)
    flip = 1 - 2 * acc
    flip *= _mask(x >= 0, acc.dtype)
    acc += flip
    return acc.reshape(shape)


class GELU(_Pointwise):
    """``x·Φ(x)`` (or the tanh form). The exact form in float32 runs as one compiled pass each
    way when the kernels are in use (``ember.kernels.activation.gelu_forward`` /
    ``gelu_backward``: the same float32 operations, equal to float32 rounding)."""

    def forward(self, x, approximate):
        self.x, self.approximate = x, approximate
        if approximate == "tanh":
            self.t = np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x))
            return 0.5 * x * (1 + self.t)
        kernels = _float32_kernels(x)
        if kernels is not None:
            out, self.cdf = np.empty_like(x), np.empty_like(x)
            kernels.gelu_forward(x.reshape(-1), out.reshape(-1), self.cdf.reshape(-1))
            return out
        self.cdf = _normal_cdf(x)
        return x * self.cdf

    def backward(self, grad):
        x = self.x
        if self.approximate == "tanh":
            t = self.t
            dinner = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
            return grad * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * dinner)
        kernels = _float32_kernels(x, grad)
        if kernels is not None:
            dx = np.empty_like(x)
            kernels.gelu_backward(grad.reshape(-1), x.reshape(-1), self.cdf.reshape(-1),
                                  dx.reshape(-1))
            return dx
        pdf = _INV_SQRT_2PI * np.exp(-0.5 * x * x)
        return grad * (self.cdf + x * pdf)


def _float32_kernels(*arrays):
    """The compiled activations (``ember.kernels.activation``) when every array is a
    C-contiguous float32 array, else None."""
    if arrays[0].dtype != np.float32:
        return None
    kernels = compiled()
    return None if kernels is None or flat(*arrays) is None else kernels.activation


def gelu(input, approximate="none"):
    """GELU: ``x * Phi(x)`` with ``Phi`` the standard normal CDF (exact, via erf), or with
    ``approximate='tanh'``: ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return _run(GELU, "gelu", input, approximate=approximate)


class SiLU(_Pointwise):
    def forward(self, x):
        self.x, self.s = x, _sigmoid(x)
        return x * self.s

    def backward(self, grad):
        s = self.s
        return grad * (s * (1 + self.x * (1 - s)))


def silu(input, inplace=False):
    """SiLU / swish: ``x * sigmoid(x)``; derivative ``s (1 + x (1 - s))``."""
    return _run(SiLU, "silu", input, inplace)


class Mish(_Pointwise):
    def forward(self, x):
        self.x, self.t = x, np.tanh(_softplus(x))
        return x * self.t

    def backward(self, grad):
        t = self.t
        return grad * (t + self.x * (1 - t * t) * _sigmoid(self.x))


def mish(input, inplace=False):
    """Mish: ``x * tanh(softplus(x))``."""
    return _run(Mish, "mish", input, inplace)


class Softplus(_Pointwise):
    def forward(self, x, beta, threshold):
        z = x * beta
        self.z, self.threshold = z, threshold
        return np.where(z > threshold, x, _softplus(z) / beta)

    def backward(self, grad):
        s = _sigmoid(self.z)
        s += _mask(self.z > self.threshold, s.dtype) * (1 - s)
        return grad * s


def softplus(input, beta=1.0, threshold=20.0):
    """``log(1 + exp(beta x)) / beta``, and ``x`` itself where ``beta x > threshold``."""
    return _run(Softplus, "softplus", input, beta=beta, threshold=threshold)


class Softsign(_Pointwise):
    def forward(self, x):
        self.d = 1 + np.abs(x)
        return x / self.d

    def backward(self, grad):
        return grad / (self.d * self.d)


def softsign(input):
    """``x / (1 + |x|)``."""
    return _run(Softsign, "softsign", input)


class HardSigmoid(_Pointwise):
    def forward(self, x):
        self.x = x
        return np.clip(x * (1 / 6) + 0.5, 0, 1)

    def backward(self, grad):
        return grad * (1 / 6) * ((self.x > -3) & (self.x < 3))


def hardsigmoid(input, inplace=False):
    """``relu6(x + 3) / 6``: 0 below -3, 1 above 3, linear in between."""
    return _run(HardSigmoid, "hardsigmoid", input, inplace)


class HardSwish(_Pointwise):
    def forward(self, x):
        self.x = x
        return x * np.clip(x + 3, 0, 6) * (1 / 6)

    def backward(self, grad):
        x = self.x
        local = (x * (1 / 3) + 0.5) * ((x > -3) & (x < 3))
        local += x >= 3
        return grad * local


def hardswish(input, inplace=False):
    """``x * relu6(x + 3) / 6`` (MobileNetV3)."""
    return _run(HardSwish, "hardswish", input, inplace)


class LogSigmoid(_Pointwise):
    def forward(self, x):
        self.x = x
        return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))

    def backward(self, grad):
        return grad * _sigmoid(-self.x)


def logsigmoid(input):
    """``log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|))`` (never overflows)."""
    return _run(LogSigmoid, "logsigmoid", input)


class Tanhshrink(_Pointwise):
    def forward(self, x):
        self.t = np.tanh(x)
        return x - self.t

    def backward(self, grad):
        return grad * (self.t * self.t)


def tanhshrink(input):
    """``x - tanh(x)``."""
    return _run(Tanhshrink, "tanhshrink", input)


class Shrink(_Pointwise):
    """Soft (``x - lambd sign(x)``) or hard (``x``) outside ``[-lambd, lambd]``, 0 inside."""

    def forward(self, x, lambd, soft):
        self.keep = np.abs(x) > lambd
        out = x - np.sign(x) * x.dtype.type(lambd) if soft else x
        return out * self.keep

    def backward(self, grad):
        return grad * self.keep


def _check_lambd(lambd, name):
    if lambd < 0:
        raise ValueError(f"{name}: lambd must be greater or equal to 0, got {lambd}")


def softshrink(input, lambd=0.5):
    """``x - lambd`` above ``lambd``, ``x + lambd`` below ``-lambd``, else 0."""
    _check_lambd(lambd, "softshrink")
    return _run(Shrink, "softshrink", input, lambd=lambd, soft=True)


def hardshrink(input, lambd=0.5):
    """``x`` where ``|x| > lambd``, else 0."""
    _check_lambd(lambd, "hardshrink")
    return _run(Shrink, "hardshrink", input, lambd=lambd, soft=False)


# --------------------------------------------------------------- gating and max pieces
def _dim(x, dim, name):
    n = x._data.ndim
    lo, hi = (-n, n - 1) if n else (-1, 0)
    if not isinstance(dim, (int, np.integer)) or not lo <= dim <= hi:
        raise IndexError(f"{name}: dim {dim} is out of range for a tensor of {n} dimensions "
                         f"(shape {tuple(x.shape)}; expected dim in [{lo}, {hi}])")
    return int(dim) % n if n else None


class GLU(Function):
    saved_inputs = (0,)

    def forward(self, x, axis):
        self.axis = axis
        self.a, b = np.split(x, 2, axis=axis)
        self.s = _sigmoid(b)
        return self.a * self.s

    def backward(self, grad):
        s = self.s
        ga = grad * s
        gb = grad * self.a * s * (1 - s)
        return np.concatenate([ga, gb], axis=self.axis)


def glu(input, dim=-1):
    """Gated linear unit: split ``input`` in halves ``a, b`` along ``dim``, return
    ``a * sigmoid(b)``. ``(*, 2M, *) -> (*, M, *)``."""
    x = _float_input(input, "glu")
    if x._data.ndim == 0:
        raise RuntimeError("glu: does not support scalars because halving size must be even")
    axis = _dim(x, dim, "glu")
    if x._data.shape[axis] % 2:
        raise RuntimeError(f"glu: halving dimension must be even, but dimension {axis} is size "
                           f"{x._data.shape[axis]} (shape {tuple(x.shape)})")
    return GLU.apply(x, axis=axis)


class Maxout(Function):
    def forward(self, x, axis, pieces):
        shape = x.shape
        grouped = x.reshape(shape[:axis] + (shape[axis] // pieces, pieces) + shape[axis + 1:])
        self.grouped_shape = grouped.shape
        self.axis = axis
        self.idx = np.expand_dims(np.argmax(grouped, axis=axis + 1), axis + 1)
        return np.take_along_axis(grouped, self.idx, axis=axis + 1).squeeze(axis + 1)

    def backward(self, grad):
        g = np.zeros(self.grouped_shape, dtype=grad.dtype)
        np.put_along_axis(g, self.idx, np.expand_dims(grad, self.axis + 1), axis=self.axis + 1)
        return g.reshape(self._input_meta[0][0])


def maxout(input, num_pieces, dim=1):
    """Maxout (lectures 000/001 "Activation functions": ``max(w1.x + b1, w2.x + b2)``).

    Splits dim ``dim`` (size ``C``) into ``C / num_pieces`` consecutive groups of
    ``num_pieces`` and keeps the maximum of each group: ``(*, C, *) -> (*, C / k, *)``.
    The lecture's two-piece unit is ``maxout(linear(x, W, b), 2, dim=-1)`` with
    ``W = [w1; w2]``, ``b = [b1, b2]``. The gradient goes to the (first) maximal piece.
    """
    x = _float_input(input, "maxout")
    axis = _dim(x, dim, "maxout")
    if axis is None:
        raise RuntimeError("maxout: expected a tensor with at least one dimension")
    if not isinstance(num_pieces, (int, np.integer)) or num_pieces < 1:
        raise ValueError(f"maxout: num_pieces must be a positive integer, got {num_pieces!r}")
    c = x._data.shape[axis]
    if c % num_pieces:
        raise RuntimeError(f"maxout: size {c} of dim {axis} is not divisible by "
                           f"num_pieces={num_pieces} (shape {tuple(x.shape)})")
    return Maxout.apply(x, axis=axis, pieces=int(num_pieces))


# ------------------------------------------------------------------------------ softmax
class Softmax(Function):
    """``y = softmax(scale * (x + noise))`` along ``axis``; backward
    ``dx = scale * y * (g - sum(g * y))``. ``scale=-1`` gives softmin, ``noise`` Gumbel noise."""
    saves_output = True

    def forward(self, x, axis, scale=1.0, noise=None):
        self.axis, self.scale = axis, scale
        kernels = _row_kernels(axis, x) if noise is None and scale == 1 else None
        if kernels is not None:
            self.out = np.empty_like(x)
            kernels.softmax_forward(_rows(x), _rows(self.out))
            return self.out
        z = x if noise is None else x + noise
        z = z * scale if scale != 1 else z
        e = np.asarray(z - z.max(axis=axis, keepdims=True))
        np.exp(e, out=e)
        e /= _sum_along(e, axis)
        self.out = e
        return e

    def backward(self, grad):
        y = self.out
        kernels = _row_kernels(self.axis, grad, y) if self.scale == 1 else None
        if kernels is not None:
            gz = np.empty_like(grad)
            kernels.softmax_backward(_rows(grad), _rows(y), _rows(gz))
            return gz
        gz = grad * y
        gz -= y * _sum_along(gz, self.axis)
        return gz * self.scale if self.scale != 1 else gz


def _row_kernels(axis, *arrays):
    """The compiled row-wise passes (``ember.kernels.rows``: softmax, log-softmax, attention's
    softmax, the cross-entropy's forward and input gradient; equal to the NumPy code to float32
    rounding or bit for bit, see there) for float32 arrays that are C-contiguous and reduced
    along their last axis, else None."""
    a = arrays[0]
    if a.dtype != np.float32 or a.ndim == 0 or axis != a.ndim - 1 or a.size == 0:
        return None
    kernels = compiled()
    return None if kernels is None or flat(*arrays) is None else kernels.rows


def _rows(a):
    """``a`` as a (rows, last dim) matrix (a view: ``a`` is C-contiguous)."""
    return a.reshape(-1, a.shape[-1])


def _sum_along(a, axis):
    """``a.sum(axis, keepdims=True)``; over the last axis of a C-contiguous float array as a
    product with a ones vector (BLAS): 6× faster for short rows (attention's 65-long rows:
    0.45 → 0.08 ms for 1M elements), where NumPy's reduction pays per row."""
    if (axis in (-1, a.ndim - 1) and a.ndim > 1 and a.flags.c_contiguous
            and a.dtype in (np.float32, np.float64)):
        return np.matmul(a, ones(a.shape[-1], a.dtype))[..., None]
    return a.sum(axis=axis, keepdims=True)


class HardGumbelSoftmax(Softmax):
    """Straight-through Gumbel-softmax: the forward value is the one-hot argmax of the soft
    sample, the gradient is the soft sample's."""
    saves_output = False

    def forward(self, x, axis, scale=1.0, noise=None):
        y = super().forward(x, axis, scale, noise)
        hard = np.zeros_like(y)
        np.put_along_axis(hard, np.expand_dims(np.argmax(y, axis=axis), axis), 1, axis=axis)
        return hard


class LogSoftmax(Function):
    """``y = x - max - log(sum(exp(x - max)))``; backward ``dx = g - exp(y) * sum(g)``."""
    saves_output = True

    def forward(self, x, axis):
        self.axis = axis
        kernels = _row_kernels(axis, x)
        if kernels is not None:
            self.out = np.empty_like(x)
            kernels.log_softmax_forward(_rows(x), _rows(self.out))
            return self.out
        z = x - x.max(axis=axis, keepdims=True)
        z -= np.log(np.exp(z).sum(axis=axis, keepdims=True))
        self.out = z
        return z

    def backward(self, grad):
        kernels = _row_kernels(self.axis, grad, self.out)
        if kernels is not None:
            dx = np.empty_like(grad)
            kernels.log_softmax_backward(_rows(grad), _rows(self.out), _rows(dx))
            return dx
        return grad - np.exp(self.out) * grad.sum(axis=self.axis, keepdims=True)


def _softmax_input(input, dim, dtype, name, stacklevel):
    if not isinstance(input, Tensor):
        raise TypeError(f"{name}(): argument 'input' must be Tensor, not {type(input).__name__}")
    if dim is None:
        warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the "
                      f"call to include dim=X as an argument.", stacklevel=stacklevel)
        dim = 0 if input._data.ndim in (0, 1, 3) else 1
    if dtype is not None:
        input = cast(input, dtype)
    x = _float_input(input, name)
    return x, _dim(x, dim, name)


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    """``softmax(x)_i = exp(x_i) / sum_j exp(x_j)`` along ``dim`` (lecture 000 "Softmax"),
    computed as ``exp(x - max)`` so it never overflows. Shape-preserving.

    ``dim=None`` picks torch's legacy implicit dim (0 for 0-, 1- and 3-D inputs, else 1) with a
    deprecation warning. ``dtype`` casts the input first (the gradient is cast back).

    >>> F.softmax(ember.tensor([1.0, 2.0, 3.0]), dim=0)
    tensor([0.0900, 0.2447, 0.6652])
    """
    x, axis = _softmax_input(input, dim, dtype, "softmax", _stacklevel)
    return Softmax.apply(x, axis=axis)


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    """``softmax(-x)`` along ``dim``."""
    x, axis = _softmax_input(input, dim, dtype, "softmin", _stacklevel)
    return Softmax.apply(x, axis=axis, scale=-1.0)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    """``log(softmax(x)) = x - logsumexp(x)`` along ``dim``, computed stably in one pass."""
    x, axis = _softmax_input(input, dim, dtype, "log_softmax", _stacklevel)
    return LogSoftmax.apply(x, axis=axis)


def gumbel_softmax(logits, tau=1, hard=False, eps=1e-10, dim=-1):
    """Sample from the Gumbel-softmax distribution: ``softmax((logits + g) / tau)`` with
    ``g = -log(E)``, ``E ~ Exp(1)`` from the default generator.

    ``hard=True`` returns the one-hot argmax of that sample, differentiated as the soft sample
    (straight-through estimator). ``eps`` is deprecated in torch and has no effect (a warning
    is issued when it is changed), as in torch.
    """
    if eps != 1e-10:
        warnings.warn("`eps` parameter is deprecated and has no effect.", stacklevel=2)
    x = _float_input(logits, "gumbel_softmax")
    axis = _dim(x, dim, "gumbel_softmax")
    noise = -np.log(rng().standard_exponential(x._data.shape)).astype(x._data.dtype)
    cls = HardGumbelSoftmax if hard else Softmax
    return cls.apply(x, axis=axis, scale=1.0 / tau, noise=noise)
