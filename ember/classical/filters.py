"""Image filters of lecture 004 「Filtering for Image Processing」 (inventory F13, F14, H29).

Every filter takes a NumPy array or an Ember ``Tensor`` and works on two spatial axes
(``axes``, default the last two: ``(..., H, W)``; pass ``axes=(0, 1)`` for an ``H x W x C``
photograph). NumPy arrays are filtered in NumPy (``float32`` stays ``float32``, integer
images are filtered in ``float64``); a ``Tensor`` is filtered by fixed convolutions
(``ember.nn.functional.conv2d``), so gradients flow back to the image. Borders follow
``scipy.ndimage``'s modes and names (:mod:`ember.classical.borders`), and each filter equals
its ``scipy.ndimage`` namesake on the same axes (``tests/classical/test_filters.py``).

Lecture vocabulary: the slides' "sliding window, dot product" is correlation
(:func:`correlate`); their formula ``g[i, j] = sum_mn f[m, n] h[i - m, j - n]`` is true
convolution (:func:`convolve`), which flips the kernel. Mean (box) and median filters, the
Gaussian ``n_sigma[i, j] = 1/(2 pi sigma^2) exp(-(i^2 + j^2) / (2 sigma^2))`` applied as two
1-D passes (cost ``O(N^2 K)`` instead of ``O(N^2 K^2)``), Sobel ``[1, 0, -1]^T (x) [1, 2, 1]``,
high-pass (edges) and low-pass (smoothing) filters, and the convolution theorem
``G(u) = F(u) H(u)`` (:func:`fft_convolve`, :func:`fourier_gaussian_filter`).
"""
import math

import numpy as np

import ember
import ember.nn as nn
import ember.nn.functional as F
from ember.classical._arguments import pair
from ember.classical.borders import check_mode, extended_indices, pad_axis

__all__ = ["correlate", "convolve", "mean_filter", "median_filter", "box_kernel",
           "gaussian_kernel1d", "gaussian_kernel2d", "gaussian_filter", "sobel_kernel",
           "prewitt_kernel", "sobel", "prewitt", "laplace", "unsharp_mask", "image_gradient",
           "gradient_magnitude_orientation", "fft_convolve", "fourier_gaussian_filter",
           "convolution_cost", "Filter2d"]

# the 1-D parts of the separable derivative kernels (scipy.ndimage.sobel/prewitt convention:
# the derivative kernel correlates as [-1, 0, 1], so the response grows with the index)
_DERIVATIVE = np.array([-1.0, 0.0, 1.0])
_SMOOTHING = {"sobel": np.array([1.0, 2.0, 1.0]), "prewitt": np.array([1.0, 1.0, 1.0])}


# ------------------------------------------------------------------------------- plumbing

def _float_dtype(dtype):
    """The dtype NumPy filtering computes in: float32/float64 stay, everything else float64."""
    return dtype if dtype in (np.float32, np.float64) else np.dtype(np.float64)


def _spatial_axes(ndim, axes, caller):
    """``axes`` as two distinct non-negative axes of an ``ndim``-D image."""
    try:
        first, second = (int(a) for a in axes)
    except (TypeError, ValueError):
        raise ValueError(f"{caller}: axes must be two axes, got {axes!r}") from None
    if ndim < 2:
        raise ValueError(f"{caller}: expected an image with at least 2 dimensions, got {ndim}")
    for a in (first, second):
        if not -ndim <= a < ndim:
            raise ValueError(f"{caller}: axis {a} is out of range for a {ndim}-D image")
    first, second = first % ndim, second % ndim
    if first == second:
        raise ValueError(f"{caller}: axes must be two different axes, got {axes!r}")
    return first, second


class _Image:
    """An image and its two spatial axes: ``data`` and ``rows``, ``cols`` (axes of ``data``).

    A NumPy image keeps its layout (filtering along its own axes keeps the memory access
    contiguous), cast to the float dtype it is filtered in. A Tensor is seen with its
    spatial axes last, ``(..., H, W)``, as the convolutions want it; ``restore`` puts a
    result back into the caller's axis order.
    """

    def __init__(self, image, axes, caller):
        self.is_tensor = isinstance(image, ember.Tensor)
        if not self.is_tensor:
            image = np.asarray(image)
            if image.dtype.kind not in "biuf":
                raise TypeError(f"{caller}: expected a real-valued image, got dtype {image.dtype}")
        elif not image.is_floating_point():
            raise TypeError(f"{caller}: a Tensor image must be floating point, got {image.dtype}")
        self.axes = _spatial_axes(image.ndim, axes, caller)
        if self.is_tensor:
            self.data = ember.movedim(image, self.axes, (-2, -1))
            self.rows, self.cols = image.ndim - 2, image.ndim - 1
        else:
            self.data = image.astype(_float_dtype(image.dtype), copy=False)
            self.rows, self.cols = self.axes

    def restore(self, result):
        if self.is_tensor:
            return ember.movedim(result, (-2, -1), self.axes)
        return result


def _pad_tensor(x, axis, before, after, mode, cval):
    """Extend a 4-D tensor along ``axis`` (2 or 3) like
    :func:`ember.classical.borders.pad_axis`."""
    if mode == "constant":
        widths = [0, 0, 0, 0]
        widths[0 if axis == 3 else 2] = before
        widths[1 if axis == 3 else 3] = after
        return F.pad(x, tuple(widths), mode="constant", value=float(cval))
    index = ember.from_numpy(extended_indices(x.shape[axis], before, after, mode))
    return ember.index_select(x, axis, index)


# elements of one block of a 1-D pass: its shifted copies stay in the CPU cache (a 512x512
# RGB Gaussian blur: 25 ms in one piece, 15 ms by blocks, on this machine)
_BLOCK_ELEMENTS = 1 << 16


def _blocks(shape, axis):
    """Index tuples cutting an array of ``shape`` into cache-sized blocks for a 1-D pass
    along ``axis``: along the outermost axis (at most ``axis``) whose trailing part is
    small enough, all axes before it one index at a time."""
    block_axis = next(a for a in range(len(shape))
                      if a == axis or math.prod(shape[a + 1:]) <= _BLOCK_ELEMENTS)
    step = max(1, _BLOCK_ELEMENTS // max(1, math.prod(shape[block_axis + 1:])))
    for outer in np.ndindex(*shape[:block_axis]):
        for start in range(0, shape[block_axis], step):
            yield outer + (slice(start, min(start + step, shape[block_axis])),)


def _taps(source, weights, axis, before, out):
    """``out = sum_j weights[j] * source shifted by j`` along ``axis`` (``source`` holds
    ``len(weights) - 1`` extra entries along it)."""
    n = out.shape[axis]

    def tap(j):
        return source[(slice(None),) * axis + (slice(j, j + n),)]

    size = len(weights)
    if size % 2 == 1 and before == size // 2 and np.array_equal(weights, weights[::-1]):
        # a symmetric kernel (Gaussian, box): one multiply per pair of taps
        np.multiply(tap(before), weights[before], out=out)
        pair = np.empty_like(out)
        for k in range(1, before + 1):
            if weights[before + k]:
                np.add(tap(before - k), tap(before + k), out=pair)
                pair *= weights[before + k]
                out += pair
        return
    taps = np.flatnonzero(weights)
    np.multiply(tap(taps[0]), weights[taps[0]], out=out)
    term = np.empty_like(out)
    for j in taps[1:]:
        np.multiply(tap(j), weights[j], out=term)
        out += term


def _correlate_axis(x, weights, axis, before, mode, cval):
    """1-D correlation of ``x`` along ``axis``: ``out[i] = sum_j weights[j] x[i + j -
    before]``, borders by ``mode``. A Tensor (spatial axes last) goes through ``conv2d``
    with a ``(K, 1)`` or ``(1, K)`` kernel; an array through shifted slices, block by block."""
    size = len(weights)
    after = size - 1 - before
    if isinstance(x, ember.Tensor):
        shape = tuple(x.shape)
        along_rows = axis == x.ndim - 2
        x4 = _pad_tensor(x.reshape(-1, 1, *shape[-2:]), 2 if along_rows else 3, before, after,
                         mode, cval)
        kernel_shape = (1, 1, size, 1) if along_rows else (1, 1, 1, size)
        kernel = ember.tensor(np.asarray(weights).reshape(kernel_shape), dtype=x.dtype)
        return F.conv2d(x4, kernel).reshape(shape)
    padded = pad_axis(x, axis, before, after, mode, cval)
    weights = np.asarray(weights, dtype=x.dtype)
    out = np.empty(x.shape, x.dtype)
    for block in _blocks(x.shape, axis):
        source = list(block)
        if len(block) == axis + 1:                   # cut along the filtered axis: add the halo
            source[axis] = slice(block[axis].start, block[axis].stop + size - 1)
        dropped = sum(isinstance(i, int) for i in block)
        _taps(padded[tuple(source)], weights, axis - dropped, before, out[block])
    return out


def _correlate_2d(x, kernel, before, mode, cval, axes):
    """2-D correlation of ``x`` with ``kernel`` ``(kh, kw)`` over ``axes = (rows, cols)``
    (or, for a tensor with its spatial axes last, ``(K, kh, kw)`` kernels giving
    ``(..., K, H, W)``); ``before = (rows, cols)`` before the kernel's centre."""
    kh, kw = kernel.shape[-2:]
    (top, left), bottom, right = before, kh - 1 - before[0], kw - 1 - before[1]
    if isinstance(x, ember.Tensor):
        shape = tuple(x.shape)
        x4 = x.reshape(-1, 1, *shape[-2:])
        x4 = _pad_tensor(_pad_tensor(x4, 2, top, bottom, mode, cval), 3, left, right, mode, cval)
        weight = ember.tensor(kernel.reshape(-1, 1, kh, kw), dtype=x.dtype)
        out = F.conv2d(x4, weight)
        return out.reshape(shape if kernel.ndim == 2 else shape[:-2] + out.shape[1:])
    rows, cols = axes
    h, w = x.shape[rows], x.shape[cols]
    padded = pad_axis(pad_axis(x, rows, top, bottom, mode, cval), cols, left, right, mode, cval)
    kernel = np.asarray(kernel, dtype=x.dtype)
    out = np.zeros(x.shape, x.dtype)
    for r, c in zip(*np.nonzero(kernel)):            # loop over kernel offsets only
        window = [slice(None)] * x.ndim
        window[rows], window[cols] = slice(r, r + h), slice(c, c + w)
        out += kernel[r, c] * padded[tuple(window)]
    return out


def _kernel_2d(kernel, caller):
    kernel = np.asarray(kernel.numpy() if isinstance(kernel, ember.Tensor) else kernel,
                        dtype=np.float64)
    if kernel.ndim != 2 or kernel.size == 0:
        raise ValueError(f"{caller}: kernel must be a non-empty 2-D array, got shape "
                         f"{kernel.shape}")
    return kernel


# ------------------------------------------------------------------------- linear filters

def correlate(image, kernel, mode="reflect", cval=0.0, axes=(-2, -1)):
    """Sliding-window dot product (lecture 004 「2D Convolution」: "sliding window, dot
    product"): ``out[i, j] = sum_mn kernel[m, n] image[i + m - kh//2, j + n - kw//2]``.

    ``image`` ``(..., H, W)`` -> same shape; ``kernel`` ``(kh, kw)``, any size (an even size
    centres at ``k // 2``, as ``scipy.ndimage.correlate``). Equal to
    ``scipy.ndimage.correlate(image, kernel, mode=mode, cval=cval)`` on the two ``axes``.
    """
    kernel = _kernel_2d(kernel, "correlate")
    mode = check_mode(mode, "correlate")
    img = _Image(image, axes, "correlate")
    before = (kernel.shape[0] // 2, kernel.shape[1] // 2)
    return img.restore(_correlate_2d(img.data, kernel, before, mode, cval,
                                     (img.rows, img.cols)))


def convolve(image, kernel, mode="reflect", cval=0.0, axes=(-2, -1)):
    """True convolution, lecture 004's ``g[i, j] = sum_mn f[m, n] h[i - m, j - n]``: the
    correlation with the kernel flipped in both axes.

    ``image`` ``(..., H, W)`` -> same shape. Equal to ``scipy.ndimage.convolve`` (including
    its centring of even-sized kernels).
    """
    kernel = _kernel_2d(kernel, "convolve")
    mode = check_mode(mode, "convolve")
    img = _Image(image, axes, "convolve")
    before = ((kernel.shape[0] - 1) // 2, (kernel.shape[1] - 1) // 2)
    return img.restore(_correlate_2d(img.data, kernel[::-1, ::-1].copy(), before, mode, cval,
                                     (img.rows, img.cols)))


def box_kernel(size=3):
    """The mean filter's kernel ``ones(size, size) / size^2`` (lecture 004: ``1/9 * ones(3, 3)``)."""
    rows, cols = pair(size, "size", "box_kernel", int, minimum=1)
    return np.full((rows, cols), 1.0 / (rows * cols))


def mean_filter(image, size=3, mode="reflect", cval=0.0, axes=(-2, -1)):
    """Mean (box) filter: every pixel becomes the mean of its ``size x size`` neighbourhood
    (lecture 004 「Mean filtering」), as two 1-D passes of ``ones(size) / size``.

    ``image`` ``(..., H, W)`` -> same shape; ``size`` an int or ``(rows, cols)``. Equal to
    ``scipy.ndimage.uniform_filter(image, size, mode=mode, cval=cval)``.
    """
    sizes = pair(size, "size", "mean_filter", int, minimum=1)
    mode = check_mode(mode, "mean_filter")
    img = _Image(image, axes, "mean_filter")
    out = img.data
    for axis, n in zip((img.rows, img.cols), sizes):
        out = _correlate_axis(out, np.full(n, 1.0 / n), axis, n // 2, mode, cval)
    return img.restore(out)


def gaussian_kernel1d(sigma, truncate=4.0, radius=None):
    """The sampled, normalised 1-D Gaussian ``exp(-x^2 / (2 sigma^2)) / sum`` on
    ``x = -radius .. radius`` with ``radius = int(truncate * sigma + 0.5)`` unless given
    (``scipy.ndimage``'s kernel). Shape ``(2 radius + 1,)``."""
    sigma = float(sigma)
    if not sigma > 0:
        raise ValueError(f"gaussian_kernel1d: sigma must be > 0, got {sigma}")
    radius = int(truncate * sigma + 0.5) if radius is None else int(radius)
    if radius < 0:
        raise ValueError(f"gaussian_kernel1d: radius must be >= 0, got {radius}")
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    weights = np.exp(-0.5 * (x / sigma) ** 2)
    return weights / weights.sum()


def gaussian_kernel2d(sigma, truncate=4.0, radius=None, normalize=True):
    """Lecture 004's Gaussian ``n_sigma[i, j] = 1/(2 pi sigma^2) exp(-(i^2 + j^2)/(2 sigma^2))``
    on ``i, j = -radius .. radius`` (inventory F13, H29).

    With ``normalize=True`` the samples are divided by their sum, so that the kernel sums to 1
    exactly (the continuous constant ``1/(2 pi sigma^2)`` does so only approximately) and
    equals ``outer(g, g)`` for ``g = gaussian_kernel1d(sigma)``: the separability the lecture
    uses. Shape ``(2 radius + 1, 2 radius + 1)``.
    """
    sigma = float(sigma)
    if not sigma > 0:
        raise ValueError(f"gaussian_kernel2d: sigma must be > 0, got {sigma}")
    radius = int(truncate * sigma + 0.5) if radius is None else int(radius)
    i = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (i[:, None] ** 2 + i[None, :] ** 2) / sigma ** 2) / (
        2 * math.pi * sigma ** 2)
    return kernel / kernel.sum() if normalize else kernel


def gaussian_filter(image, sigma, mode="reflect", cval=0.0, truncate=4.0, radius=None,
                    axes=(-2, -1)):
    """Gaussian smoothing (lecture 004 「Gaussian Filtering」; "larger the kernel (or sigma),
    more the blurring"), computed as the lecture's two 1-D passes.

    ``image`` ``(..., H, W)`` -> same shape. ``sigma``: a number or one per axis (0 leaves an
    axis alone); the kernel spans ``radius = int(truncate * sigma + 0.5)`` pixels each side
    unless ``radius`` is given. Equal to ``scipy.ndimage.gaussian_filter`` with the same
    arguments on the same axes.
    """
    sigmas = pair(sigma, "sigma", "gaussian_filter", minimum=0)
    radii = (None, None) if radius is None else pair(radius, "radius", "gaussian_filter", int,
                                                     minimum=0)
    mode = check_mode(mode, "gaussian_filter")
    img = _Image(image, axes, "gaussian_filter")
    out = img.data
    for axis, s, r in zip((img.rows, img.cols), sigmas, radii):
        if s > 1e-15:                                # scipy's test for "no smoothing"
            weights = gaussian_kernel1d(s, truncate, r)
            out = _correlate_axis(out, weights, axis, len(weights) // 2, mode, cval)
    return img.restore(out)


def median_filter(image, size=3, mode="reflect", cval=0.0, axes=(-2, -1)):
    """Median filter: every pixel becomes the median of its ``size x size`` neighbourhood
    (lecture 004 「Median filtering」); not linear, robust to salt-and-pepper noise.

    ``image`` ``(..., H, W)`` -> same shape. For an even number of neighbours the upper of
    the two middle values is taken (rank ``count // 2``), as ``scipy.ndimage.median_filter``,
    which this equals (NumPy images keep their dtype). On a Tensor the gradient goes to the
    selected neighbour.
    """
    rows, cols = pair(size, "size", "median_filter", int, minimum=1)
    mode = check_mode(mode, "median_filter")
    is_tensor = isinstance(image, ember.Tensor)
    dtype = None if is_tensor else np.asarray(image).dtype
    img = _Image(image, axes, "median_filter")
    x = img.data if is_tensor else np.asarray(image)        # a selection: keep the dtype
    top, left = rows // 2, cols // 2
    rank = (rows * cols) // 2
    if is_tensor:
        shape = tuple(x.shape)
        x4 = x.reshape(-1, 1, *shape[-2:])
        x4 = _pad_tensor(_pad_tensor(x4, 2, top, rows - 1 - top, mode, cval), 3,
                         left, cols - 1 - left, mode, cval)
        windows = F.unfold(x4, (rows, cols))                 # (N, rows*cols, H*W)
        out = ember.kthvalue(windows, rank + 1, dim=1)[0].reshape(shape)
        return img.restore(out)
    padded = pad_axis(pad_axis(x, img.rows, top, rows - 1 - top, mode, cval), img.cols,
                      left, cols - 1 - left, mode, cval)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (rows, cols),
                                                       axis=(img.rows, img.cols))
    windows = windows.reshape(windows.shape[:-2] + (rows * cols,))
    return np.partition(windows, rank, axis=-1)[..., rank].astype(dtype, copy=False)


# ----------------------------------------------------------------------- derivative filters

def sobel_kernel(axis=0):
    """The 3x3 Sobel kernel that :func:`correlate` uses to differentiate along ``axis``
    (0: rows, 1: columns): ``[-1, 0, 1]^T (x) [1, 2, 1]`` for rows, its transpose for columns.

    Lecture 004 writes ``[[1, 2, 1], [0, 0, 0], [-1, -2, -1]] = [1, 0, -1]^T (x) [1 2 1]``: the
    same kernel for true convolution (:func:`convolve` flips it into this one); used in a
    sliding dot product, as in the lecture's worked example (inventory H6), it gives the
    negated derivative.
    """
    return _derivative_kernel("sobel", axis)


def prewitt_kernel(axis=0):
    """The 3x3 Prewitt kernel ``[-1, 0, 1]^T (x) [1, 1, 1]`` (rows) or its transpose (columns)."""
    return _derivative_kernel("prewitt", axis)


def _derivative_kernel(operator, axis):
    if axis not in (0, 1):
        raise ValueError(f"{operator}_kernel: axis must be 0 (rows) or 1 (columns), got {axis!r}")
    kernel = np.outer(_DERIVATIVE, _SMOOTHING[operator])
    return kernel if axis == 0 else kernel.T.copy()


def _derivative(operator, image, axis, mode, cval, axes):
    mode = check_mode(mode, operator)
    img = _Image(image, axes, operator)
    ndim = img.data.ndim
    if not -ndim <= axis < ndim or axis % ndim not in img.axes:
        raise ValueError(f"{operator}: axis {axis} must be one of the spatial axes {img.axes}")
    along, across = ((img.rows, img.cols) if axis % ndim == img.axes[0] else
                     (img.cols, img.rows))
    out = _correlate_axis(img.data, _DERIVATIVE, along, 1, mode, cval)
    out = _correlate_axis(out, _SMOOTHING[operator], across, 1, mode, cval)
    return img.restore(out)


def sobel(image, axis=-1, mode="reflect", cval=0.0, axes=(-2, -1)):
    """Sobel derivative along array axis ``axis`` (one of ``axes``): ``[-1, 0, 1]`` along it,
    smoothing ``[1, 2, 1]`` across it, two separable passes (lecture 004 「Sobel Filter」).

    ``image`` ``(..., H, W)`` -> same shape. Equal to ``scipy.ndimage.sobel`` on a 2-D image;
    on more dimensions only the two ``axes`` are filtered (scipy smooths every other axis).
    """
    return _derivative("sobel", image, axis, mode, cval, axes)


def prewitt(image, axis=-1, mode="reflect", cval=0.0, axes=(-2, -1)):
    """Prewitt derivative along ``axis``: ``[-1, 0, 1]`` along it, ``[1, 1, 1]`` across it.
    Equal to ``scipy.ndimage.prewitt`` on a 2-D image (see :func:`sobel` for more axes)."""
    return _derivative("prewitt", image, axis, mode, cval, axes)


def laplace(image, mode="reflect", cval=0.0, axes=(-2, -1)):
    """Discrete Laplacian ``d2/drow2 + d2/dcol2``: ``[1, -2, 1]`` along each axis, summed
    (the 5-point kernel ``[[0, 1, 0], [1, -4, 1], [0, 1, 0]]``); a high-pass filter.
    Equal to ``scipy.ndimage.laplace``. ``(..., H, W)`` -> same shape."""
    mode = check_mode(mode, "laplace")
    img = _Image(image, axes, "laplace")
    second = np.array([1.0, -2.0, 1.0])
    out = (_correlate_axis(img.data, second, img.rows, 1, mode, cval)
           + _correlate_axis(img.data, second, img.cols, 1, mode, cval))
    return img.restore(out)


def unsharp_mask(image, sigma=1.0, amount=1.0, mode="reflect", cval=0.0, truncate=4.0,
                 axes=(-2, -1)):
    """Sharpening by adding back the high-pass part: ``image + amount * (image - G_sigma *
    image)`` (high pass = image minus its low-pass, lecture 004). Not clipped, so it stays
    linear; equal to ``skimage.filters.unsharp_mask(image, radius=sigma, amount=amount,
    preserve_range=True)``. ``(..., H, W)`` -> same shape."""
    blurred = gaussian_filter(image, sigma, mode=mode, cval=cval, truncate=truncate, axes=axes)
    if not isinstance(image, ember.Tensor):
        image = np.asarray(image).astype(np.asarray(blurred).dtype, copy=False)
    return image + (image - blurred) * amount


_GRADIENT_OPERATORS = ("sobel", "prewitt", "central")


def image_gradient(image, operator="sobel", mode="reflect", cval=0.0, axes=(-2, -1)):
    """The image gradient ``(d/drow, d/dcol)`` (lecture 003 「图像梯度」 as a conv layer,
    inventory F14), each of the input's shape.

    ``operator``: ``'sobel'``, ``'prewitt'`` (unnormalised, as scipy.ndimage) or
    ``'central'``, the centred difference ``(f[i+1] - f[i-1]) / 2`` (``np.gradient`` inside
    the image).
    """
    if operator not in _GRADIENT_OPERATORS:
        raise ValueError(f"image_gradient: operator must be one of {_GRADIENT_OPERATORS}, "
                         f"got {operator!r}")
    if operator != "central":
        first, second = _spatial_axes(np.ndim(image) if not isinstance(image, ember.Tensor)
                                      else image.ndim, axes, "image_gradient")
        derivative = sobel if operator == "sobel" else prewitt
        return (derivative(image, first, mode, cval, axes),
                derivative(image, second, mode, cval, axes))
    mode = check_mode(mode, "image_gradient")
    img = _Image(image, axes, "image_gradient")
    half = _DERIVATIVE / 2
    return (img.restore(_correlate_axis(img.data, half, img.rows, 1, mode, cval)),
            img.restore(_correlate_axis(img.data, half, img.cols, 1, mode, cval)))


def gradient_magnitude_orientation(image, operator="sobel", mode="reflect", cval=0.0,
                                   axes=(-2, -1)):
    """``(magnitude, orientation)`` of the image gradient: ``sqrt(g_row^2 + g_col^2)`` and
    ``atan2(g_row, g_col)`` in radians in ``(-pi, pi]`` (0 points along increasing columns,
    ``pi/2`` along increasing rows). On a Tensor both are differentiable where the gradient
    is not zero."""
    g_row, g_col = image_gradient(image, operator, mode, cval, axes)
    if isinstance(image, ember.Tensor):
        return (g_row * g_row + g_col * g_col).sqrt(), ember.atan2(g_row, g_col)
    return np.hypot(g_row, g_col), np.arctan2(g_row, g_col)


# ---------------------------------------------------------------------- Fourier domain

def fft_convolve(image, kernel, axes=(-2, -1)):
    """Convolution by the convolution theorem ``G(u) = F(u) H(u)`` (lecture 004 「Convolution
    Theorem」): multiply the 2-D DFTs of the image and of the kernel (zero-padded to the image
    size, its centre ``(k - 1) // 2`` moved to the origin), then invert.

    The DFT sees the image as periodic, so this equals :func:`convolve` with
    ``mode='wrap'`` (and ``scipy.ndimage.convolve(..., mode='wrap')``) for a kernel no larger
    than the image; its cost does not grow with the kernel size. NumPy arrays only:
    ``(..., H, W)`` -> same shape, float64.
    """
    kernel = _kernel_2d(kernel, "fft_convolve")
    img = _Image(_numpy_only(image, "fft_convolve"), axes, "fft_convolve")
    x = np.moveaxis(img.data, img.axes, (-2, -1))
    h, w = x.shape[-2:]
    kh, kw = kernel.shape
    if kh > h or kw > w:
        raise ValueError(f"fft_convolve: the kernel {kernel.shape} must not be larger than the "
                         f"image {(h, w)}")
    transfer = np.zeros((h, w))
    transfer[:kh, :kw] = kernel
    transfer = np.roll(transfer, (-(kh // 2), -(kw // 2)), axis=(0, 1))
    spectrum = np.fft.rfft2(x.astype(np.float64)) * np.fft.rfft2(transfer)
    return np.moveaxis(np.fft.irfft2(spectrum, s=(h, w)), (-2, -1), img.axes)


def fourier_gaussian_filter(image, sigma, highpass=False, axes=(-2, -1)):
    """Gaussian filtering in the Fourier domain (lecture 004 「Gaussian Filtering in Fourier
    Domain」): the spectrum times the Gaussian's transform ``exp(-2 pi^2 sigma^2 u^2)``, a
    low-pass filter; ``highpass=True`` keeps ``1 - exp(...)``, the image minus its low-pass.

    Periodic borders; the low-pass equals ``ifft2(scipy.ndimage.fourier_gaussian(fft2(image),
    sigma))``. NumPy arrays only: ``(..., H, W)`` -> same shape, float64.
    """
    sigmas = pair(sigma, "sigma", "fourier_gaussian_filter", minimum=0)
    img = _Image(_numpy_only(image, "fourier_gaussian_filter"), axes, "fourier_gaussian_filter")
    x = np.moveaxis(img.data, img.axes, (-2, -1))
    h, w = x.shape[-2:]
    u_row, u_col = np.fft.fftfreq(h)[:, None], np.fft.rfftfreq(w)[None, :]
    transfer = np.exp(-2 * math.pi ** 2 * (sigmas[0] ** 2 * u_row ** 2
                                           + sigmas[1] ** 2 * u_col ** 2))
    if highpass:
        transfer = 1.0 - transfer
    spectrum = np.fft.rfft2(x.astype(np.float64)) * transfer
    return np.moveaxis(np.fft.irfft2(spectrum, s=(h, w)), (-2, -1), img.axes)


def _numpy_only(image, caller):
    if isinstance(image, ember.Tensor):
        raise TypeError(f"{caller}: works on NumPy arrays, got a Tensor (use .numpy())")
    return image


def convolution_cost(image_size, kernel_size, separable=False):
    """Multiplications to filter an ``N x N`` image with a ``K x K`` kernel (lecture 004,
    Gaussian separability): ``N^2 K^2`` directly, ``2 N^2 K`` as two 1-D passes, i.e.
    ``O(N^2 K^2)`` vs ``O(N^2 K)``."""
    n, k = int(image_size), int(kernel_size)
    if n < 1 or k < 1:
        raise ValueError(f"convolution_cost: sizes must be >= 1, got {image_size}, {kernel_size}")
    return 2 * n * n * k if separable else n * n * k * k


# --------------------------------------------------------------------- a fixed conv layer

class Filter2d(nn.Module):
    """A fixed (not trained) filter bank as a layer: ``(N, C, H, W) -> (N, C * K, H, W)``,
    every input channel correlated with each of the ``K`` kernels, borders by ``mode``.

    ``kernels``: ``(kh, kw)`` or ``(K, kh, kw)``; output channel ``c * K + k`` is channel
    ``c`` filtered by kernel ``k``. The kernels are a float64 buffer (saved in
    ``state_dict``, no gradient), applied in the input's dtype; the gradient flows to the
    input. Lecture 003 「图像梯度」 asks how a conv layer
    computes the image gradient of a 400x600x1 image into 400x600x2, and with how many
    parameters: ``Filter2d(np.stack([sobel_kernel(0), sobel_kernel(1)]))``, 2 x 3 x 3 = 18.
    """

    def __init__(self, kernels, mode="reflect", cval=0.0):
        super().__init__()
        kernels = np.asarray(kernels.numpy() if isinstance(kernels, ember.Tensor) else kernels,
                             dtype=np.float64)
        if kernels.ndim == 2:
            kernels = kernels[None]
        if kernels.ndim != 3 or kernels.size == 0:
            raise ValueError(f"Filter2d: kernels must have shape (kh, kw) or (K, kh, kw), got "
                             f"{kernels.shape}")
        self.mode = check_mode(mode, "Filter2d")
        self.cval = float(cval)
        self.register_buffer("kernels", ember.from_numpy(kernels))

    def forward(self, input):
        if not isinstance(input, ember.Tensor) or input.ndim != 4:
            shape = tuple(input.shape) if hasattr(input, "shape") else type(input).__name__
            raise ValueError(f"Filter2d: expected an (N, C, H, W) Tensor, got {shape}")
        kernels = self.kernels.numpy()
        before = (kernels.shape[1] // 2, kernels.shape[2] // 2)
        n, c, h, w = input.shape
        out = _correlate_2d(input, kernels, before, self.mode, self.cval, (2, 3))  # (N,C,K,H,W)
        return out.reshape(n, c * kernels.shape[0], h, w)

    def extra_repr(self):
        k, kh, kw = self.kernels.shape
        return f"kernels={k}x{kh}x{kw}, mode={self.mode!r}"
