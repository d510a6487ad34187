"""Resampling: ``interpolate`` (nearest, linear, cubic, area, anti-aliased) and the separable
resample behind it and behind adaptive average pooling.

Along one spatial axis, output position i reads K input positions ``index[i, k]`` with
weights ``weight[i, k]`` ("taps"). A multi-dimensional resample applies the 1-D one axis by
axis, last axis first. The 1-D resample is a small ``(out, in)`` matrix W, so backward is one
product with Wᵀ. Lecture 003 「Unpooling——反池化」 upsamples with nearest-neighbour unpooling;
its bilinear form is ``interpolate(mode="bilinear")``.

``interpolate`` needs the batch dimension ``(N, C, *spatial)``, as in torch, and keeps
float32 as float32.
"""
import math
import warnings

import numpy as np

from ember._tensor import Tensor
from ember.autograd.function import Function
from ember.ops._checks import float_input

__all__ = ["interpolate", "upsample", "upsample_nearest", "upsample_bilinear"]


# ----------------------------------------------------------------------------------------------
# Separable resampling along one axis (interpolate, adaptive average pooling)
# ----------------------------------------------------------------------------------------------

class Resample(Function):
    """``y[..., i, ...] = Σ_k weight[i, k] · x[..., index[i, k], ...]`` along ``axis``.

    ``index``/``weight`` have shape ``(out_size, K)``; ``weight`` None means 1 (nearest).
    The map is linear, ``y = W x`` along the axis with the ``(out_size, in_size)`` matrix
    ``W[i, index[i, k]] += weight[i, k]``; backward multiplies by ``Wᵀ`` (one matrix product,
    which sums the many outputs that read the same input without a scatter).
    """

    def forward(self, x, axis, index, weight):
        self.axis, self.index, self.weight, self.size = axis, index, weight, x.shape[axis]
        bshape = [1] * x.ndim
        bshape[axis] = -1
        out = None
        for k in range(index.shape[1]):
            term = np.take(x, index[:, k], axis=axis)
            if weight is not None:
                term *= weight[:, k].reshape(bshape)
            if out is None:
                out = term
            else:
                out += term
        if out is None:
            shape = list(x.shape)
            shape[axis] = index.shape[0]
            out = np.zeros(shape, dtype=x.dtype)
        return out

    def backward(self, grad):
        out_size, taps = self.index.shape
        matrix = np.zeros((out_size, self.size), dtype=grad.dtype)
        rows = np.repeat(np.arange(out_size), taps)
        np.add.at(matrix, (rows, self.index.ravel()),
                  1 if self.weight is None else self.weight.ravel())
        axis = self.axis - grad.ndim
        if axis == -1:
            return grad @ matrix
        if axis == -2:
            return matrix.T @ grad
        return np.moveaxis(np.moveaxis(grad, axis, -1) @ matrix, -1, axis)


def resample(input, taps):
    """Apply one ``(index, weight)`` pair per spatial dim, last dim first (so that bilinear
    sums in the same nesting as torch: ``h0·(w0·x00 + w1·x01) + h1·(…)``)."""
    nd = len(taps)
    first = input._data.ndim - nd
    moved = [i for i, (index, weight) in enumerate(taps) if not (
        weight is None and index.shape[1] == 1 and np.array_equal(
            index[:, 0], np.arange(input._data.shape[first + i])))]
    out = input
    for i in reversed(moved or [nd - 1]):     # an identity resample still returns a new tensor
        index, weight = taps[i]
        out = Resample.apply(out, axis=first + i, index=index, weight=weight)
    return out


def adaptive_bounds(size, out):
    """torch's adaptive windows: ``[⌊i·L/out⌋, ⌈(i+1)·L/out⌉)``."""
    i = np.arange(out, dtype=np.int64)
    return (i * size) // out, -((-(i + 1) * size) // out)


def area_taps(size, out, dtype):
    """Adaptive-average taps: window ``[start, end)`` with weights ``1/(end − start)``."""
    if out == size:
        return np.arange(out)[:, None], None
    start, end = adaptive_bounds(size, out)
    width = end - start
    k = np.arange(int(width.max(initial=0)))
    index = np.minimum(start[:, None] + k, end[:, None] - 1)
    weight = np.where(k < width[:, None], 1.0 / width[:, None], 0.0).astype(dtype)
    return index, weight



# ----------------------------------------------------------------------------------------------
# interpolate
# ----------------------------------------------------------------------------------------------

_MODE_DIMS = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}
_MODES = ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear", "area")


def _source_scale(size, out, align_corners, scale, t):
    """torch's ``area_pixel_compute_scale``: input pixels per output pixel."""
    if align_corners:
        return t(size - 1) / t(out - 1) if out > 1 else t(0)
    return t(1.0 / scale) if scale is not None and scale > 0 else t(size) / t(out)


def _source_index(ratio, out, align_corners, t, cubic=False):
    """Continuous source coordinate of every output position (half-pixel centres unless
    ``align_corners``); non-cubic modes clamp negative coordinates to 0."""
    dst = np.arange(out).astype(t)
    if align_corners:
        return ratio * dst
    real = ratio * (dst + t(0.5)) - t(0.5)
    return real if cubic else np.maximum(real, t(0))


def _floor_and_fraction(real, size, t):
    index = np.minimum(np.floor(real).astype(np.int64), size - 1)
    return index, np.clip(real - index.astype(t), t(0), t(1)).astype(t)


def _nearest_taps(size, out, scale, exact, shortcuts):
    """``src = ⌊dst·scale⌋`` (``⌊(dst + ½)·scale⌋`` if ``exact``). torch's 2-D 'nearest' kernel
    copies a dim whose size is unchanged and uses ``dst // 2`` for a doubled one, whatever the
    ``scale_factor`` (``shortcuts``); its 1-D and 3-D kernels do not."""
    if shortcuts and out == size:
        index = np.arange(out)
    elif shortcuts and out == 2 * size:
        index = np.arange(out) >> 1
    else:
        ratio = _source_scale(size, out, False, scale, np.float32)
        dst = np.arange(out).astype(np.float32)
        src = np.floor((dst + np.float32(0.5)) * ratio if exact else dst * ratio)
        index = np.minimum(src.astype(np.int64), size - 1)
    return index[:, None], None


def _linear_taps(size, out, scale, align_corners, t):
    if out == size:
        return np.arange(out)[:, None], None
    real = _source_index(_source_scale(size, out, align_corners, scale, t), out, align_corners, t)
    i0, lam1 = _floor_and_fraction(real, size, t)
    i1 = i0 + (i0 < size - 1)
    return np.stack([i0, i1], 1), np.stack([t(1) - lam1, lam1], 1)


def _cubic_weights(x, a, t):
    """Keys' cubic convolution kernel W(|x|) (a = −0.75 as torch, −0.5 for anti-aliasing)."""
    x = np.abs(x)
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return np.where(x < 1, near, np.where(x < 2, far, 0)).astype(t)


def _cubic_taps(size, out, scale, align_corners, t):
    real = _source_index(_source_scale(size, out, align_corners, scale, t), out, align_corners, t,
                         cubic=True)
    i0, lam = _floor_and_fraction(real, size, t)
    one, two = t(1), t(2)
    weight = _cubic_weights(np.stack([lam + one, lam, one - lam, two - lam], 1), t(-0.75), t)
    index = np.clip(i0[:, None] + np.arange(-1, 3), 0, size - 1)
    return index, weight


def _antialias_taps(size, out, scale, align_corners, t, cubic):
    """torch's anti-aliased resampling (PIL's): when shrinking, the filter (triangle, or cubic
    with a = −0.5) is stretched by the scale, and each output's weights are normalised."""
    ratio = _source_scale(size, out, align_corners, scale, t)
    half = t(2.0 if cubic else 1.0)
    support = half * ratio if ratio >= 1 else half
    width = int(math.ceil(support)) * 2 + 1
    center = ratio * (np.arange(out).astype(t) + t(0.5))
    invscale = t(1) / ratio if ratio >= 1 else t(1)
    xmin = np.maximum(np.trunc(center - support + t(0.5)).astype(np.int64), 0)
    xsize = np.clip(np.minimum(np.trunc(center + support + t(0.5)).astype(np.int64), size)
                    - xmin, 0, width)
    j = np.arange(width)
    x = ((j + xmin[:, None]).astype(t) - center[:, None] + t(0.5)) * invscale
    weight = (_cubic_weights(x, t(-0.5), t) if cubic
              else np.maximum(t(1) - np.abs(x), t(0)).astype(t))
    weight = np.where(j < xsize[:, None], weight, t(0))
    total = weight.sum(axis=1, keepdims=True)
    weight = np.where(total != 0, weight / np.where(total != 0, total, t(1)), weight).astype(t)
    return np.minimum(xmin[:, None] + j, size - 1), weight


def _interpolate_sizes(input, nd, size, scale_factor, recompute_scale_factor, mode):
    """Output sizes and the per-dim scales handed to the kernels (None: use in/out)."""
    spatial = tuple(input._data.shape[2:])
    if size is not None and scale_factor is not None:
        raise ValueError("interpolate: only one of size or scale_factor should be defined, got "
                         f"size={size} and scale_factor={scale_factor}")
    if size is not None:
        if recompute_scale_factor:
            raise ValueError("interpolate: recompute_scale_factor is not meaningful with an "
                             "explicit size")
        sizes = tuple(size) if isinstance(size, (tuple, list)) else (size,) * nd
        if len(sizes) != nd or not all(isinstance(v, (int, np.integer)) for v in sizes):
            raise ValueError(f"interpolate: size must be an int or {nd} ints for an input with "
                             f"spatial dimensions {list(spatial)}, got {size}")
        return tuple(int(v) for v in sizes), (None,) * nd
    if scale_factor is None:
        raise ValueError("interpolate: either size or scale_factor should be defined")
    scales = (tuple(scale_factor) if isinstance(scale_factor, (tuple, list))
              else (scale_factor,) * nd)
    if len(scales) != nd:
        raise ValueError(f"interpolate: scale_factor must be a number or {nd} numbers for an input "
                         f"with spatial dimensions {list(spatial)}, got {scale_factor}")
    scales = tuple(float(s) for s in scales)
    sizes = tuple(int(math.floor(n * s)) for n, s in zip(spatial, scales))
    if recompute_scale_factor or mode == "area":
        scales = (None,) * nd
    return sizes, scales


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize ``(N, C, *spatial) -> (N, C, *size)`` with 1, 2 or 3 spatial dims.

    Exactly one of ``size`` (ints) and ``scale_factor`` (output = ⌊n·scale⌋) is given; the
    scale itself sets the sampling positions unless ``recompute_scale_factor``. Modes:

    * ``'nearest'``: ``src = ⌊dst·in/out⌋`` (lecture 003 「Unpooling」's "Nearest Neighbor
      Unpool x2": ``[[8,6],[4,3]]`` -> ``[[8,8,6,6],[8,8,6,6],[4,4,3,3],[4,4,3,3]]``);
      ``'nearest-exact'``: ``src = ⌊(dst + ½)·in/out⌋`` (pixel centres, like PIL).
    * ``'linear'`` (3-D input), ``'bilinear'`` (4-D), ``'trilinear'`` (5-D): separable linear
      interpolation at ``src = (dst + ½)·in/out − ½`` (clamped at 0), or ``dst·(in−1)/(out−1)``
      with ``align_corners=True`` (corner pixels aligned).
    * ``'bicubic'`` (4-D): Keys' cubic convolution with a = −0.75, borders replicated; the
      result can overshoot the input range, as in torch.
    * ``'area'``: ``adaptive_avg_pool`` to ``size``.

    ``antialias=True`` (bilinear/bicubic, 4-D) low-pass filters when shrinking, as torch/PIL.
    Integer inputs are supported by the nearest modes only.
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"interpolate: expected input to be a Tensor, got {type(input).__name__}")
    if mode not in _MODES:
        raise ValueError(f"interpolate: unknown mode {mode!r}; expected one of {', '.join(_MODES)}")
    if mode in ("nearest", "nearest-exact", "area"):
        if align_corners is not None:
            raise ValueError("interpolate: align_corners option can only be set with the "
                             "interpolating modes: linear | bilinear | bicubic | trilinear, got "
                             f"mode {mode!r}")
    else:
        align_corners = bool(align_corners)
    shape = tuple(input._data.shape)
    if input._data.ndim not in (3, 4, 5):
        raise ValueError(f"interpolate: expected a 3-D, 4-D or 5-D input (N, C, *spatial), got "
                         f"a {input._data.ndim}-D input of shape {shape}")
    nd = input._data.ndim - 2
    if _MODE_DIMS.get(mode, nd) != nd:
        need = _MODE_DIMS[mode] + 2
        raise ValueError(f"interpolate: mode {mode!r} needs a {need}-D input, got a "
                         f"{input._data.ndim}-D input of shape {shape}")
    if antialias and mode not in ("bilinear", "bicubic"):
        raise ValueError(f"interpolate: antialias is restricted to the bilinear and bicubic "
                         f"modes with 4-D input, got mode {mode!r}")
    sizes, scales = _interpolate_sizes(input, nd, size, scale_factor, recompute_scale_factor,
                                       mode)
    spatial = shape[2:]
    if any(n <= 0 for n in spatial) or any(o <= 0 for o in sizes):
        raise ValueError(f"interpolate: input and output sizes should be greater than 0, got "
                         f"input {spatial} (shape {shape}) and output {sizes}")
    if mode == "area":                  # adaptive average pooling to the output size
        float_input(input, "interpolate (mode 'area')")
        return resample(input, [area_taps(n, o, input._data.dtype) for n, o in zip(spatial, sizes)])
    if mode.startswith("nearest"):
        shortcuts = mode == "nearest" and nd == 2
        taps = [_nearest_taps(n, o, s, mode == "nearest-exact", shortcuts)
                for n, o, s in zip(spatial, sizes, scales)]
        return resample(input, taps)
    float_input(input, f"interpolate (mode {mode!r})")
    t = input._data.dtype.type
    if antialias:
        taps = [_antialias_taps(n, o, s, align_corners, t, mode == "bicubic")
                for n, o, s in zip(spatial, sizes, scales)]
    elif mode == "bicubic":
        taps = [_cubic_taps(n, o, s, align_corners, t) for n, o, s in zip(spatial, sizes, scales)]
    else:
        taps = [_linear_taps(n, o, s, align_corners, t) for n, o, s in zip(spatial, sizes, scales)]
    return resample(input, taps)


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """Deprecated alias of :func:`interpolate` (warns, like torch)."""
    warnings.warn("nn.functional.upsample is deprecated. Use nn.functional.interpolate instead.",
                  stacklevel=2)
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    """Deprecated: ``interpolate(input, size, scale_factor, mode='nearest')`` (warns)."""
    warnings.warn("nn.functional.upsample_nearest is deprecated. Use nn.functional.interpolate "
                  "instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    """Deprecated: ``interpolate(..., mode='bilinear', align_corners=True)`` (warns)."""
    warnings.warn("nn.functional.upsample_bilinear is deprecated. Use nn.functional.interpolate "
                  "instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)
