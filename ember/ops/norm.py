"""Normalization layers as functions: batch / layer / group / instance norm, local response
norm (AlexNet's NORM1/NORM2), ``normalize`` and the local contrast normalization of Jarrett et
al. 2009 (lecture 002 "CNN的改进").

Batch, layer, group and instance norm all standardize slices of the input,
``x̂ = (x − μ) / sqrt(σ² + eps)`` (lecture 003 "Batch normalization": ``z̃ = (z − μ)/σ``,
``ẑ = γ ⊙ z̃ + β``); they differ only in which elements share a ``μ, σ²``. One fused primitive,
:class:`BatchNorm`, standardizes each channel of a ``(N, C, L)`` view over its N·L elements;
the other three reshape their input so that their slices become the channels of that view.
"""
import math
import numbers
from functools import partial

import numpy as np

from ember import _parallel
from ember._tensor import Tensor
from ember.autograd.function import Function
from ember.kernels import compiled, flat
from ember.ops._ones import sum_rows
from ember.ops.elementwise import maximum, sqrt
from ember.ops.reduction import mean, norm

__all__ = ["batch_norm", "layer_norm", "group_norm", "instance_norm", "local_response_norm",
           "normalize", "local_contrast_norm"]


def _channel_parts(x3):
    """Channel slices of an ``(N, C, L)`` array for Ember's threads (one if it is small)."""
    if x3.size < _parallel.PARALLEL_MIN_ELEMENTS or not _parallel.enabled():
        return [slice(None)]
    return _parallel.split(x3.shape[1])


def _norm_kernels(*arrays):
    """The compiled training-mode passes (``ember.kernels.norm``; equal to the NumPy code to
    float32 rounding) for C-contiguous float32/float64 (N, C, L) arrays, else None."""
    kernels = compiled()
    return None if kernels is None or flat(*arrays) is None else kernels.norm


_EMPTY = {np.dtype(np.float32): np.empty((0, 0, 0), np.float32),
          np.dtype(np.float64): np.empty((0, 0, 0), np.float64)}


def _channel_view(a):
    """``(1, C)``-broadcastable view of a per-channel vector against an ``(N, C, L)`` array."""
    return a.reshape(1, -1, 1)


def _standardize_channels(x3, w, b, eps):
    """Training-mode batch norm of ``x3`` (N, C, L) per channel, by blocks of channels on
    Ember's threads: ``(out, xc, μ, σ², σ⁻¹)`` with ``xc = x − μ`` and ``out = xc·σ⁻¹·γ + β``
    (γ, β when given)."""
    dt = x3.dtype
    c, m = x3.shape[1], x3.shape[0] * x3.shape[2]
    out, xc = np.empty(x3.shape, dt), np.empty(x3.shape, dt)
    mu, var, invstd = np.empty(c, dt), np.empty(c, dt), np.empty(c, dt)
    kernels = _norm_kernels(x3)

    def standardize(part):
        """Statistics and output of the channels ``part``."""
        if kernels is not None:
            kernels.batch_norm_forward(x3, *part.indices(c)[:2], eps, w, b, out, xc, mu, var,
                                       invstd)
            return
        xp, xcp = x3[:, part], xc[:, part]
        # a float64 accumulator keeps μ within half an ulp (x̂ amplifies μ's error by σ⁻¹)
        mu[part] = xp.sum(axis=(0, 2), dtype=np.float64) / m
        np.subtract(xp, _channel_view(mu[part]), out=xcp)
        var[part] = np.einsum("ncl,ncl->c", xcp, xcp) / dt.type(m)
        invstd[part] = 1.0 / np.sqrt(var[part] + eps)
        scale = invstd[part] * w[part] if w is not None else invstd[part]
        np.multiply(xcp, _channel_view(scale), out=out[:, part])
        if b is not None:
            out[:, part] += _channel_view(b[part])
    _parallel.run([partial(standardize, part) for part in _channel_parts(x3)])
    return out, xc, mu, var, invstd


def _standardize_channels_backward(dy, xc, invstd, gamma, m, need_x):
    """The backward of :func:`_standardize_channels` (see :class:`BatchNorm`): ``(dx or None,
    Σdy, Σdy·xc)`` per channel, by blocks of channels on Ember's threads."""
    c = dy.shape[1]
    sum_dy, sum_dy_xc = np.empty(c, dy.dtype), np.empty(c, dy.dtype)
    dx = np.empty(dy.shape, dy.dtype) if need_x else None
    kernels = _norm_kernels(dy, xc)

    def backward_part(part):
        """Σdy, Σdy·xc and dx of the channels ``part``."""
        if kernels is not None:
            kernels.batch_norm_backward(dy, xc, *part.indices(c)[:2], invstd, gamma, sum_dy,
                                        sum_dy_xc, dx if need_x else _EMPTY[dy.dtype])
            return
        dyp, xcp = dy[:, part], xc[:, part]
        sum_dy[part] = dyp.sum(axis=(0, 2))
        sum_dy_xc[part] = np.einsum("ncl,ncl->c", dyp, xcp)
        if need_x:
            # dx = γσ⁻¹·(dy − Σdy/M − xc·σ⁻²·Σ(dy·xc)/M), built in one buffer
            inv = invstd[part]
            dxp = dx[:, part]
            np.multiply(xcp, _channel_view(inv * inv * sum_dy_xc[part] / m), out=dxp)
            dxp += _channel_view(sum_dy[part] / m)
            np.subtract(dyp, dxp, out=dxp)
            dxp *= _channel_view(gamma[part] * inv)
    _parallel.run([partial(backward_part, part) for part in _channel_parts(dy)])
    return dx, sum_dy, sum_dy_xc


class BatchNorm(Function):
    """Per-channel standardization of ``x`` viewed as ``(N, C, L)``, with optional affine.

    Positional inputs: ``x`` and then ``weight`` and/or ``bias`` as flagged by ``has_weight`` /
    ``has_bias``. In training mode the statistics are the biased mean/variance over the N·L
    elements of each channel, and ``running = (1 − momentum)·running + momentum·batch_stat``
    is applied in place to the ``running`` arrays (with the unbiased batch variance). In eval
    mode the ``running`` statistics are used instead (an affine map per channel).

    Backward in training mode (M = N·L elements per channel, sums over them)::

        dx = γ·σ⁻¹/M · (M·dy − Σdy − x̂·Σ(dy·x̂)),   dγ = Σ(dy·x̂),   dβ = Σdy

    computed from the saved centred input ``xc = x − μ`` (``x̂ = xc·σ⁻¹``) with per-channel
    coefficients: two reductions (Σdy, Σdy·xc) and one output buffer.
    """

    def forward(self, x, *affine, has_weight, has_bias, training, running, momentum, eps):
        dt = x.dtype
        self.shape = x.shape
        n, c = x.shape[0], x.shape[1]
        x3 = x.reshape(n, c, -1)
        m = x3.shape[0] * x3.shape[2]
        w = affine[0].astype(dt, copy=False) if has_weight else None
        b = affine[-1].astype(dt, copy=False) if has_bias else None
        self.w, self.has_weight, self.has_bias, self.training = w, has_weight, has_bias, training
        if training:
            out, xc, mu, var, invstd = _standardize_channels(x3, w, b, eps)
            if running is not None:
                running_mean, running_var = running
                running_mean *= 1.0 - momentum
                running_mean += (momentum * mu).astype(running_mean.dtype, copy=False)
                running_var *= 1.0 - momentum
                unbiased = var * (m / max(m - 1, 1))
                running_var += (momentum * unbiased).astype(running_var.dtype, copy=False)
            self.xc, self.invstd, self.m = xc, invstd, m
        else:
            running_mean, running_var = (r.astype(dt, copy=False) for r in running)
            invstd = (1.0 / np.sqrt(running_var + eps)).astype(dt, copy=False)
            scale = invstd * w if has_weight else invstd
            out = x3 * _channel_view(scale)
            out -= _channel_view(running_mean * scale)
            self.invstd, self.running_mean = invstd, running_mean
            if has_weight and self.needs_input_grad[1]:
                self.x3 = x3
            if has_bias:
                out += _channel_view(b)
        return out.reshape(self.shape)

    def backward(self, grad):
        n, c = self.shape[0], self.shape[1]
        dy = grad.reshape(n, c, -1)
        invstd = self.invstd
        gamma = self.w if self.has_weight else np.ones_like(invstd)
        need_x = self.needs_input_grad[0]
        need_w = self.has_weight and self.needs_input_grad[1]
        need_b = self.has_bias and self.needs_input_grad[-1]
        if self.training:
            dx, sum_dy, sum_dy_xc = None, None, None
            if need_x or need_w or need_b:
                dx, sum_dy, sum_dy_xc = _standardize_channels_backward(dy, self.xc, invstd,
                                                                       gamma, self.m, need_x)
            grads = [dx.reshape(self.shape) if need_x else None]
            if self.has_weight:
                grads.append(invstd * sum_dy_xc if need_w else None)
        else:
            sum_dy = dy.sum(axis=(0, 2)) if need_w or need_b else None
            dx = (dy * _channel_view(gamma * invstd)).reshape(self.shape) if need_x else None
            grads = [dx]
            if self.has_weight:
                if need_w:
                    sum_dy_x = np.einsum("ncl,ncl->c", dy, self.x3)
                    grads.append(invstd * (sum_dy_x - self.running_mean * sum_dy))
                else:
                    grads.append(None)
        if self.has_bias:
            grads.append(sum_dy if need_b else None)
        return tuple(grads)


def _check_per_channel(op, name, t, c, input):
    if t is not None and (t.ndim != 1 or t.shape[0] != c):
        raise RuntimeError(f"{op}: expected {name} with {c} elements (one per channel of input "
                           f"shape {tuple(input.shape)}), got shape {tuple(t.shape)}")


def _standardize(input, weight, bias, training, running_mean, running_var, momentum, eps):
    """Apply :class:`BatchNorm` and update the running statistics' version counters."""
    affine = [t for t in (weight, bias) if t is not None]
    running = None
    if running_mean is not None:
        running = (running_mean._data, running_var._data)
    out = BatchNorm.apply(input, *affine, has_weight=weight is not None, has_bias=bias is not None,
                          training=training, running=running, momentum=float(momentum),
                          eps=float(eps))
    if training and running is not None:
        running_mean._bump_version()
        running_var._bump_version()
    return out


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Batch normalization (lecture 003 "Batch normalization"; Ioffe & Szegedy 2015).

    ``input``: ``(N, C)``, ``(N, C, L)``, ``(N, C, H, W)`` or ``(N, C, D, H, W)``; output: same.
    Per channel c, over the batch and spatial positions::

        y = (x − μ_c) / sqrt(σ²_c + eps) · γ_c + β_c

    ``training=True``: μ, σ² (biased) are the batch statistics, and ``running_mean`` /
    ``running_var`` (if given) are updated in place: ``running = (1 − momentum)·running +
    momentum·batch_stat`` with the *unbiased* batch variance (torch's convention; the lecture
    writes the same moving average as ``μ̄ ← p·μ̄ + (1 − p)·μ``, i.e. ``p = 1 − momentum``).
    ``training=False``: the running statistics are used. ``momentum`` is a float here; the
    cumulative average of ``BatchNorm2d(momentum=None)`` is computed by the module.
    """
    op = "batch_norm"
    if input.ndim < 2:
        raise ValueError(f"{op}: expected input of shape (N, C, ...), got shape "
                         f"{tuple(input.shape)}")
    c = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        _check_per_channel(op, name, t, c, input)
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{op}: running_mean and running_var must be given together")
    if training:
        per_channel = input.numel() // c if c else 0
        if per_channel <= 1:
            raise ValueError(f"{op}: expected more than 1 value per channel when training, got "
                             f"input of shape {tuple(input.shape)}")
    elif running_mean is None:
        raise ValueError(f"{op}: running_mean and running_var must be defined in evaluation mode "
                         f"(training=False)")
    if not isinstance(momentum, numbers.Real):
        raise TypeError(f"{op}: expected momentum to be a float, got {momentum!r} (the cumulative "
                        f"average of momentum=None is handled by the BatchNorm module)")
    return _standardize(input, weight, bias, training, running_mean, running_var, momentum, eps)


class LayerNorm(Function):
    """``y = (x − μ)·σ⁻¹·w + b`` over the last ``normalized_ndim`` dims of ``x`` (``m``
    elements: x viewed as (rows, m)), with ``w``, ``b`` of those dims' shape as flagged by
    ``has_weight`` / ``has_bias``: one node for :func:`layer_norm` (the affine was two more
    nodes, whose backward each reduced over every row). The standardization is :class:`BatchNorm`'s with the rows as
    its channels. Backward, with ``x̂ = xc·σ⁻¹`` and ``dx̂ = dy·w``::

        dx = σ⁻¹/m · (m·dx̂ − Σdx̂ − x̂·Σ(dx̂·x̂))   per row,
        dw = Σ_rows dy·x̂ = σ⁻¹ᵀ·(dy ⊙ xc),        db = Σ_rows dy

    the last two as BLAS products over the rows (``sum_rows`` for db, as Linear's bias)."""

    def forward(self, x, *affine, has_weight, has_bias, normalized_ndim, eps):
        m = math.prod(x.shape[x.ndim - normalized_ndim:])
        self.has_weight, self.has_bias = has_weight, has_bias
        self.affine_shape = x.shape[x.ndim - normalized_ndim:]
        self.m, self.shape = m, x.shape
        kernels = compiled()
        self.rowwise = kernels is not None and x.dtype == np.float32 and x.size > 0
        if self.rowwise:
            return self._rowwise_forward(kernels.norm, x, affine, eps)
        x3 = x.reshape(1, -1, m)
        out, xc, _, _, invstd = _standardize_channels(x3, None, None, eps)
        rows = out.reshape(-1, m)
        w = affine[0].reshape(m) if has_weight else None
        if w is not None:
            rows *= w
        if has_bias:
            rows += affine[-1].reshape(m)
        self.xc, self.invstd, self.w = xc, invstd, w
        return out.reshape(x.shape)

    def _rowwise_forward(self, norm, x, affine, eps):
        """float32 with the compiled kernels: one pass per row (``layer_norm_forward``), the
        rows split over Ember's threads when there are many."""
        m = self.m
        x2 = np.ascontiguousarray(x).reshape(-1, m)
        w = np.ascontiguousarray(affine[0], np.float32).reshape(m) if self.has_weight else None
        b = np.ascontiguousarray(affine[-1], np.float32).reshape(m) if self.has_bias else None
        out, xc = np.empty(x2.shape, np.float32), np.empty(x2.shape, np.float32)
        invstd = np.empty(x2.shape[0], np.float32)
        _parallel.run([partial(norm.layer_norm_forward, x2[s], eps, w, b, out[s], xc[s],
                               invstd[s]) for s in _parallel.batch_parts(x2.shape[0], x2.size)])
        self.xc, self.invstd, self.w = xc, invstd, w
        return out.reshape(self.shape)

    def _rowwise_backward(self, grad):
        need = self.needs_input_grad
        dy = np.ascontiguousarray(grad, np.float32).reshape(-1, self.m)
        dx = np.empty(dy.shape, np.float32) if need[0] else None
        need_w = self.has_weight and need[1]
        need_b = self.has_bias and need[-1]
        parts = _parallel.batch_parts(dy.shape[0], dy.size)
        shares = [(np.empty(self.m, np.float32) if need_w else None,
                   np.empty(self.m, np.float32) if need_b else None) for _ in parts]
        norm = compiled().norm
        _parallel.run([partial(norm.layer_norm_backward, dy[s], self.xc[s], self.invstd[s],
                               self.w, None if dx is None else dx[s], dw, db)
                       for s, (dw, db) in zip(parts, shares)])
        grads = [None if dx is None else dx.reshape(self.shape)]
        for i, (present, needed) in enumerate(((self.has_weight, need_w),
                                                (self.has_bias, need_b))):
            if present:
                total = _parallel.sum_shares([share[i] for share in shares]) if needed else None
                grads.append(None if total is None else total.reshape(self.affine_shape))
        return tuple(grads)

    def backward(self, grad):
        if self.rowwise:
            return self._rowwise_backward(grad)
        need = self.needs_input_grad
        dy = grad.reshape(-1, self.m)
        grads = [None]
        if need[0]:
            dxhat = dy * self.w if self.w is not None else dy
            ones = np.ones(self.invstd.shape, grad.dtype)
            dx, _, _ = _standardize_channels_backward(dxhat.reshape(1, -1, self.m), self.xc,
                                                      self.invstd, ones, self.m, True)
            grads[0] = dx.reshape(self.shape)
        if self.has_weight:
            grads.append((self.invstd @ (dy * self.xc.reshape(dy.shape))).reshape(
                self.affine_shape) if need[1] else None)
        if self.has_bias:
            grads.append(sum_rows(dy).reshape(self.affine_shape) if need[-1] else None)
        return tuple(grads)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Layer normalization (Ba et al. 2016; named in lecture 003 "Batch normalization").

    Each sample is standardized over its last ``len(normalized_shape)`` dims, which must equal
    ``normalized_shape``; ``weight`` / ``bias`` have shape ``normalized_shape`` (elementwise)::

        y = (x − E[x]) / sqrt(Var[x] + eps) · weight + bias     (biased Var over those dims)
    """
    op = "layer_norm"
    if isinstance(normalized_shape, numbers.Integral):
        normalized_shape = (int(normalized_shape),)
    normalized_shape = tuple(int(s) for s in normalized_shape)
    k = len(normalized_shape)
    if k == 0 or tuple(input.shape[input.ndim - k:]) != normalized_shape or input.ndim < k:
        raise RuntimeError(f"{op}: expected input with trailing shape {normalized_shape}, got "
                           f"shape {tuple(input.shape)}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != normalized_shape:
            raise RuntimeError(f"{op}: expected {name} of shape {normalized_shape}, got shape "
                               f"{tuple(t.shape)}")
    m = math.prod(normalized_shape)
    rows = input.numel() // m if m else 0
    affine = [t for t in (weight, bias) if t is not None]
    dt = input._data.dtype
    if rows and m and dt in (np.float32, np.float64) and all(t._data.dtype == dt
                                                              for t in affine):
        return LayerNorm.apply(input, *affine, has_weight=weight is not None,
                               has_bias=bias is not None, normalized_ndim=k, eps=float(eps))
    out = _standardize(input.reshape(1, rows, m), None, None, True, None, None, 0.0, eps)
    out = out.reshape(input.shape)
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def _affine_per_channel(out, weight, bias):
    shape = (1, -1) + (1,) * (out.ndim - 2)
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Group normalization (Wu & He 2018; named in lecture 003 "Batch normalization").

    ``input`` ``(N, C, *)``: the C channels are split into ``num_groups`` groups of C/G
    consecutive channels; each (sample, group) is standardized over its channels and positions
    (biased variance), then ``weight``/``bias`` of shape ``(C,)`` apply per channel.
    """
    op = "group_norm"
    if input.ndim < 2:
        raise RuntimeError(f"{op}: expected input of shape (N, C, ...), got shape "
                           f"{tuple(input.shape)}")
    n, c = input.shape[0], input.shape[1]
    if num_groups <= 0 or c % num_groups:
        raise RuntimeError(f"{op}: expected the number of channels {c} to be divisible by "
                           f"num_groups {num_groups} (input shape {tuple(input.shape)})")
    for name, t in (("weight", weight), ("bias", bias)):
        _check_per_channel(op, name, t, c, input)
    out = _standardize(input.reshape(1, n * num_groups, -1), None, None, True, None, None, 0.0, eps)
    return _affine_per_channel(out.reshape(input.shape), weight, bias)


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats=True, momentum=0.1, eps=1e-5):
    """Instance normalization (Ulyanov et al. 2016; named in lecture 003 "Batch normalization").

    ``input`` ``(N, C, *)``: each (sample, channel) is standardized over its positions.
    With ``use_input_stats=True`` the running statistics, if given, are updated in place with
    the batch average of the per-instance mean and unbiased variance (torch's convention);
    with ``use_input_stats=False`` the running statistics normalize every instance.
    """
    op = "instance_norm"
    if input.ndim < 3:
        raise ValueError(f"{op}: expected input of shape (N, C, L, ...), got shape "
                         f"{tuple(input.shape)}")
    n, c = input.shape[0], input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        _check_per_channel(op, name, t, c, input)
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{op}: running_mean and running_var must be given together")
    if not use_input_stats:
        if running_mean is None:
            raise ValueError(f"{op}: use_input_stats=False needs running_mean and running_var")
        return _standardize(input, weight, bias, False, running_mean, running_var, momentum, eps)
    if input.numel() // (n * c) <= 1:
        raise ValueError(f"{op}: expected more than 1 spatial element when training, got input "
                         f"of shape {tuple(input.shape)}")
    running = None
    if running_mean is not None:
        running = (Tensor._wrap(np.tile(running_mean._data, n)),
                   Tensor._wrap(np.tile(running_var._data, n)))
    out = _standardize(input.reshape(1, n * c, -1), None, None, True,
                       *(running or (None, None)), momentum, eps)
    if running is not None:
        running_mean._data[...] = running[0]._data.reshape(n, c).mean(axis=0)
        running_var._data[...] = running[1]._data.reshape(n, c).mean(axis=0)
        running_mean._bump_version()
        running_var._bump_version()
    return _affine_per_channel(out.reshape(input.shape), weight, bias)


def _channel_window_sum(a, before, after):
    """``S[:, c] = Σ_{o=−before..after} a[:, c + o]`` (zero outside), looping over offsets."""
    out = a.copy()
    c = a.shape[1]
    for o in range(1, min(before, c - 1) + 1):
        out[:, o:] += a[:, :c - o]
    for o in range(1, min(after, c - 1) + 1):
        out[:, :c - o] += a[:, o:]
    return out


class LocalResponseNorm(Function):
    """``y = x · d^(−β)``, ``d = k + α/size · S(x²)`` with S the channel-window sum.

    Backward: ``dx = dy·d^(−β) − 2αβ/size · x · Sᵀ(dy·x·d^(−β−1))``, where ``Sᵀ`` is the window
    sum with the ``before``/``after`` extents swapped.
    """
    saved_inputs = (0,)

    def forward(self, x, size, alpha, beta, k):
        self.x, self.size, self.alpha, self.beta = x, size, alpha, beta
        self.before, self.after = size // 2, (size - 1) // 2
        d = _channel_window_sum(x * x, self.before, self.after)
        d *= alpha / size
        d += k
        self.d = d
        self.d_pow = d ** -beta
        return x * self.d_pow

    def backward(self, grad):
        x = self.x
        t = grad * x
        t *= self.d_pow
        t /= self.d
        dx = x * _channel_window_sum(t, self.after, self.before)
        dx *= -2.0 * self.alpha * self.beta / self.size
        dx += grad * self.d_pow
        return dx


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """Local response normalization across channels (AlexNet's NORM1/NORM2 layers, lecture 001
    "AlexNet"; Krizhevsky et al. 2012), with torch's exact formula::

        y_c = x_c / (k + α/size · Σ_{c' = c − ⌊size/2⌋}^{c + ⌊(size−1)/2⌋} x_{c'}²)^β

    i.e. α multiplies the *average* of squares over a window of ``size`` channels (zero padded).
    ``input``: ``(N, C, *)`` with at least 3 dims; output: same shape.
    """
    if input.ndim < 3:
        raise ValueError(f"local_response_norm: expected 3D or higher dimensional input, got "
                         f"shape {tuple(input.shape)}")
    if int(size) < 1:
        raise ValueError(f"local_response_norm: expected size >= 1, got {size}")
    return LocalResponseNorm.apply(input, size=int(size), alpha=float(alpha), beta=float(beta),
                                   k=float(k))


def normalize(input, p=2.0, dim=1, eps=1e-12):
    """``v / max(‖v‖_p, eps)`` over ``dim`` (torch.nn.functional.normalize)."""
    denom = norm(input, p, dim, keepdim=True).clamp_min(eps)
    return input / denom.expand_as(input)


def _gaussian_window(size, sigma):
    r = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-0.5 * (r / sigma) ** 2)
    return g / g.sum()


class WindowAverage(Function):
    """Normalized 1-D window average along ``axis`` (zero padding, border-renormalized)::

        y[j] = Σ_p g_p · x[j + p] / Σ_{p : j+p inside} g_p,    p = −r..r, g symmetric

    Linear in ``x``; backward applies the transpose ``dx[i] = Σ_p g_p · (dy/Z)[i − p]``.
    """

    def forward(self, x, g, axis):
        self.g, self.axis = g, axis
        n = x.shape[axis]
        self.z = self._correlate(np.ones(n, dtype=x.dtype), g, 0, transpose=False)
        self.bshape = [1] * x.ndim
        self.bshape[axis] = n
        return self._correlate(x, g, axis, transpose=False) / self.z.reshape(self.bshape)

    @staticmethod
    def _correlate(x, g, axis, transpose):
        """``Σ_p g_p x[j ± p]`` with zero padding, looping over the kernel offsets p."""
        r = len(g) // 2
        n = x.shape[axis]
        out = np.zeros_like(x)
        xm, om = np.moveaxis(x, axis, 0), np.moveaxis(out, axis, 0)
        for i, w in enumerate(g):
            p = -(i - r) if transpose else i - r
            if abs(p) >= n:
                continue
            if p >= 0:
                om[:n - p] += w * xm[p:]
            else:
                om[-p:] += w * xm[:n + p]
        return out

    def backward(self, grad):
        return self._correlate(grad / self.z.reshape(self.bshape), self.g, self.axis,
                               transpose=True)


def _local_average(x, g, across_channels):
    """Gaussian-weighted local mean over space (and over all channels if ``across_channels``)."""
    if across_channels:
        x = mean(x, dim=1, keepdim=True)
    for axis in range(2, x.ndim):
        x = WindowAverage.apply(x, g=g.astype(x._data.dtype), axis=axis)
    return x


def local_contrast_norm(input, size=9, sigma=None, across_channels=True, c=None, eps=1e-8):
    """Local contrast normalization (lecture 002 "CNN的改进 — local Contrast Normalization";
    Jarrett, Kavukcuoglu, Ranzato & LeCun 2009; inventory B29). No torch equivalent.

    ``input``: ``(N, C, H, W)`` (or any ``(N, C, *spatial)``); output: same shape.
    Subtractive then divisive normalization with a Gaussian window w (side ``size``, standard
    deviation ``sigma``, default ``size / 4``)::

        v_ijk = x_ijk − Σ_ipq w_pq · x_{i, j+p, k+q}                (Σ_ipq w_pq = 1)
        σ_jk  = sqrt(Σ_ipq w_pq · v²_{i, j+p, k+q} + eps)
        y_ijk = v_ijk / max(c, σ_jk)

    With ``across_channels=True`` (Jarrett's form, the lecture's Σ over i) the window is
    uniform over the C feature maps (``w_ipq = g_p g_q / C``), so all maps share one local
    mean and one σ per position; with ``across_channels=False`` each map is normalized on its
    own (``w_pq = g_p g_q``). At the borders the window is cut and renormalized to sum to 1
    (zero padding divided by the in-image weight), so a constant image maps to 0 everywhere.
    ``c`` is the divisive floor: ``None`` uses Jarrett's ``c = mean_jk(σ_jk)`` per image (per
    map when ``across_channels=False``); a number fixes it. ``eps`` keeps ``sqrt``
    differentiable where the local variance is 0.
    """
    op = "local_contrast_norm"
    if input.ndim < 3:
        raise ValueError(f"{op}: expected input of shape (N, C, H, W), got shape "
                         f"{tuple(input.shape)}")
    if int(size) < 1 or int(size) % 2 == 0:
        raise ValueError(f"{op}: expected an odd window size >= 1, got {size}")
    sigma = size / 4.0 if sigma is None else float(sigma)
    if sigma <= 0:
        raise ValueError(f"{op}: expected sigma > 0, got {sigma}")
    g = _gaussian_window(int(size), sigma)
    v = input - _local_average(input, g, across_channels)
    local_sd = sqrt(_local_average(v * v, g, across_channels) + eps)
    if c is None:
        floor = mean(local_sd, dim=tuple(range(2, input.ndim)), keepdim=True)
        divisor = maximum(local_sd, floor.expand_as(local_sd))
    else:
        divisor = local_sd.clamp_min(float(c))
    return v / divisor
