"""Compiled pointwise activations: ReLU (``ember.ops.elementwise.relu``) and GELU
(``ember.ops.activation.GELU``). Each pass is one loop over the elements instead of one NumPy
call per operation of the formula.
"""
import math

import numpy as np

from ember.kernels._jit import kernel
from ember.kernels.mathfn import exp32, normal_cdf32


@kernel
def relu_forward(x, out):
    """``out = max(x, 0)`` over 1-D ``x`` (NaN stays NaN), as ``np.maximum(x, 0)``: bit for
    bit, up to the sign of a zero result (NumPy's own sign there depends on its SIMD path)."""
    zero = x.dtype.type(0)
    for i in range(x.shape[0]):
        v = x[i]
        out[i] = v if (v > zero or v != v) else zero


@kernel
def relu_backward(grad, y, out):
    """``out = grad · [y > 0]`` over 1-D arrays, as ``np.multiply(grad, y > 0)``: the mask is
    multiplied, not selected, so an inf or NaN upstream value gives NaN where ``y ≤ 0`` as in
    the NumPy code; bit for bit."""
    one, zero = grad.dtype.type(1), grad.dtype.type(0)
    for i in range(grad.shape[0]):
        out[i] = grad[i] * (one if y[i] > 0 else zero)


@kernel
def gelu_forward(x, out, cdf):
    """``cdf = Φ(x)``, ``out = x·Φ(x)`` over 1-D float32 ``x`` in one pass, as ``GELU.forward``
    (the float32 operations of ``ember.ops.activation._normal_cdf`` in its order; its ``exp``
    is :func:`ember.kernels.mathfn.exp32`, so the two differ by float32 rounding only)."""
    for i in range(x.shape[0]):
        c = normal_cdf32(x[i])
        cdf[i] = c
        out[i] = x[i] * c


@kernel
def gelu_backward(grad, x, cdf, out):
    """``out = grad·(Φ(x) + x·φ(x))``, ``φ(x) = e^{−x²/2}/√(2π)``, over 1-D float32 arrays, as
    ``GELU.backward`` (operation for operation; ``exp`` as in :func:`gelu_forward`)."""
    inv_sqrt_2pi = np.float32(1.0 / math.sqrt(2.0 * math.pi))
    for i in range(x.shape[0]):
        v = x[i]
        pdf = inv_sqrt_2pi * exp32(np.float32(-0.5) * v * v)
        out[i] = grad[i] * (cdf[i] + v * pdf)
