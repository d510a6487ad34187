"""Image kernels on NumPy arrays shaped ``(..., C, H, W)``: what torchvision's tensor
functions do, without Python loops over pixels or channels.

Integer images (uint8) are processed in float32 and converted back the way torchvision
converts them (rounded after resampling, truncated after colour blending). Float images
are taken to lie in [0, 1].
"""
import math

import numpy as np


def max_value(dtype):
    """The value of "white": 1.0 for floats, the largest integer otherwise (255 for uint8)."""
    return 1.0 if np.issubdtype(dtype, np.floating) else np.iinfo(dtype).max


def working_float(dtype):
    return dtype if np.issubdtype(dtype, np.floating) else np.dtype(np.float32)


def cast_rounded(values, dtype):
    """Back to ``dtype`` after resampling: integers are rounded (half to even) and clipped."""
    if np.issubdtype(dtype, np.floating):
        return values.astype(dtype, copy=False)
    info = np.iinfo(dtype)
    return np.clip(np.rint(values), info.min, info.max).astype(dtype)


# ---------------------------------------------------------------------------- resampling
def _cubic(x, a):
    """Keys' cubic convolution kernel (PIL and torch's antialiased mode use a = -0.5,
    torch's plain bicubic a = -0.75)."""
    x = np.abs(x)
    inner = ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    outer = ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a
    return np.where(x <= 1.0, inner, np.where(x < 2.0, outer, 0.0))


def _triangle(x):
    return np.maximum(0.0, 1.0 - np.abs(x))


def resize_matrix(in_size, out_size, mode, antialias, dtype):
    """The ``(out_size, in_size)`` matrix ``R`` with ``resized = R @ column`` along one axis.

    ``antialias`` (PIL's and torch's ``antialias=True``): output pixel ``i`` averages the
    input around its centre ``c = (i + 0.5) * s`` (``s = in/out``) with the filter
    stretched by ``max(s, 1)``, weights normalised over the pixels inside the image.
    Otherwise torch's ``interpolate(align_corners=False)``: sample at ``c - 0.5`` with the
    plain 2-tap (bilinear) or 4-tap (bicubic, a = -0.75) kernel, clamping at the borders.
    """
    scale = in_size / out_size
    centre = (np.arange(out_size) + 0.5) * scale
    matrix = np.zeros((out_size, in_size))
    if antialias:
        kernel, support = ((_triangle, 1.0) if mode == "bilinear"
                           else (lambda x: _cubic(x, -0.5), 2.0))
        stretch = max(scale, 1.0)
        support *= stretch
        lo = np.maximum(np.trunc(centre - support + 0.5), 0)
        hi = np.minimum(np.trunc(centre + support + 0.5), in_size)
        j = np.arange(in_size)
        inside = (j >= lo[:, None]) & (j < hi[:, None])
        matrix = np.where(inside, kernel((j - centre[:, None] + 0.5) / stretch), 0.0)
        matrix /= matrix.sum(1, keepdims=True)
    elif mode == "bilinear":
        source = np.maximum(centre - 0.5, 0.0)
        left = np.floor(source).astype(np.int64)
        right = np.minimum(left + 1, in_size - 1)
        frac = source - left
        rows = np.arange(out_size)
        np.add.at(matrix, (rows, left), 1.0 - frac)
        np.add.at(matrix, (rows, right), frac)
    else:
        source = centre - 0.5
        base = np.floor(source).astype(np.int64)
        rows = np.arange(out_size)
        for tap in range(-1, 3):                              # loop over the 4 kernel taps
            index = base + tap
            np.add.at(matrix, (rows, np.clip(index, 0, in_size - 1)), _cubic(source - index, -0.75))
    return matrix.astype(dtype)


def nearest_indices(in_size, out_size, exact):
    """torch's ``nearest`` (``floor(i * s)``) or ``nearest-exact`` (``floor((i + 0.5) * s)``),
    computed in float32 as torch does."""
    scale = np.float32(in_size / out_size)
    position = np.arange(out_size, dtype=np.float32) + (np.float32(0.5) if exact else 0)
    return np.minimum(np.floor(position * scale).astype(np.int64), in_size - 1)


def resize(img, height, width, mode, antialias):
    """``(..., C, H, W) -> (..., C, height, width)``; mode is nearest, nearest-exact,
    bilinear or bicubic. Separable: one matrix product per axis."""
    in_h, in_w = img.shape[-2:]
    if (in_h, in_w) == (height, width):
        return img.copy()
    if mode in ("nearest", "nearest-exact"):
        rows = nearest_indices(in_h, height, mode == "nearest-exact")
        cols = nearest_indices(in_w, width, mode == "nearest-exact")
        return img[..., rows[:, None], cols]
    dtype = working_float(img.dtype)
    rows = resize_matrix(in_h, height, mode, antialias, dtype)
    cols = resize_matrix(in_w, width, mode, antialias, dtype)
    out = rows @ img.astype(dtype, copy=False) @ cols.T
    if mode == "bicubic" and not np.issubdtype(img.dtype, np.floating):
        out = np.clip(out, 0, max_value(img.dtype))
    return cast_rounded(out, img.dtype)


# ---------------------------------------------------------------------------- geometry
def pad(img, left, top, right, bottom, fill, mode):
    """Pad the last two axes; negative amounts crop. ``fill`` is a number or one value per
    channel (constant mode); other modes: edge, reflect, symmetric (as ``numpy.pad``)."""
    h, w = img.shape[-2:]
    img = img[..., max(-top, 0):h - max(-bottom, 0), max(-left, 0):w - max(-right, 0)]
    left, top, right, bottom = (max(p, 0) for p in (left, top, right, bottom))
    if mode != "constant":
        width = [(0, 0)] * (img.ndim - 2) + [(top, bottom), (left, right)]
        return np.pad(img, width, mode=mode)
    h, w = img.shape[-2:]
    out = np.empty(img.shape[:-2] + (h + top + bottom, w + left + right), dtype=img.dtype)
    out[...] = fill_values(fill, img)
    out[..., top:top + h, left:left + w] = img
    return out


def fill_values(fill, img):
    """``fill`` (None, a number or one value per channel) as an array broadcasting to ``img``."""
    values = np.asarray(0 if fill is None else fill, dtype=np.float64).reshape(-1)
    channels = img.shape[-3]
    if values.size not in (1, channels):
        raise ValueError(f"fill: expected 1 value or one per channel ({channels}), got "
                         f"{values.size}")
    return values.reshape(-1, 1, 1).astype(img.dtype)


def crop(img, top, left, height, width):
    """The ``height x width`` window at ``(top, left)``; parts outside the image are zeros."""
    h, w = img.shape[-2:]
    bottom, right = top + height, left + width
    if top < 0 or left < 0 or bottom > h or right > w:
        inside = img[..., max(top, 0):max(min(bottom, h), 0), max(left, 0):max(min(right, w), 0)]
        pad_top = max(-top, 0)
        pad_left = max(-left, 0)
        return pad(inside, pad_left, pad_top, width - inside.shape[-1] - pad_left,
                   height - inside.shape[-2] - pad_top, 0, "constant")
    return img[..., top:bottom, left:right].copy()


def inverse_affine_matrix(center, angle, translate, scale, shear):
    """torchvision's ``_get_inverse_affine_matrix``: the 2x3 matrix mapping output
    coordinates to input coordinates for ``T * C * R * S * Sh * C^-1`` (degrees; ``angle``
    is clockwise in image coordinates, i.e. with y pointing down)."""
    rot = math.radians(angle)
    sx, sy = math.radians(shear[0]), math.radians(shear[1])
    cx, cy = center
    tx, ty = translate
    a = math.cos(rot - sy) / math.cos(sy)
    b = -math.cos(rot - sy) * math.tan(sx) / math.cos(sy) - math.sin(rot)
    c = math.sin(rot - sy) / math.cos(sy)
    d = -math.sin(rot - sy) * math.tan(sx) / math.cos(sy) + math.cos(rot)
    m = [d / scale, -b / scale, 0.0, -c / scale, a / scale, 0.0]
    m[2] += m[0] * (-cx - tx) + m[1] * (-cy - ty)
    m[5] += m[3] * (-cx - tx) + m[4] * (-cy - ty)
    m[2] += cx
    m[5] += cy
    return m


def affine_output_size(matrix, width, height):
    """Bounding box ``(width, height)`` of the transformed image, for ``expand=True``
    (torchvision's ``_compute_affine_output_size``, itself PIL's rule). Computed in float32
    like torchvision, whose rounding it must reproduce."""
    f32 = np.float32
    corners = np.array([[-0.5 * width, -0.5 * height, 1.0], [-0.5 * width, 0.5 * height, 1.0],
                        [0.5 * width, 0.5 * height, 1.0], [0.5 * width, -0.5 * height, 1.0]], f32)
    points = corners @ np.asarray(matrix, dtype=f32).reshape(2, 3).T
    half = np.array([0.5 * width, 0.5 * height], f32)
    low, high = points.min(0) + half, points.max(0) + half
    tol = f32(1e-4)                                       # drop 1e-7 noise before ceil / floor
    size = np.ceil(np.trunc(high / tol) * tol) - np.floor(np.trunc(low / tol) * tol)
    return int(size[0]), int(size[1])


def warp_affine(img, matrix, out_height, out_width, mode, fill):
    """Resample ``img`` at ``matrix @ (x, y, 1)`` for every output pixel.

    Coordinates are relative to the image centre: output pixel ``(i, j)`` sits at
    ``(j + 0.5 - W_out/2, i + 0.5 - H_out/2)``, the source point is read at column
    ``x_src + W/2 - 0.5`` (torch's ``grid_sample(align_corners=False)``). ``nearest`` rounds
    half to even; ``bilinear`` blends the 4 neighbours. Pixels whose source lies outside
    the image get ``fill``; in bilinear mode a border pixel is
    ``sum(w_k * inside_k) + (1 - sum(w_k)) * fill`` over its in-image neighbours ``k``
    (torchvision multiplies the first term by ``sum(w_k)`` once more when a fill is given,
    darkening partly covered border pixels; with ``fill=None``, the functional default, and
    wherever all four neighbours are inside the image, the two agree).
    """
    h, w = img.shape[-2:]
    m = np.asarray(matrix, dtype=np.float64).reshape(2, 3)
    x = np.arange(out_width) + 0.5 - out_width / 2
    y = np.arange(out_height) + 0.5 - out_height / 2
    src_x = m[0, 0] * x[None, :] + m[0, 1] * y[:, None] + m[0, 2] + w / 2 - 0.5
    src_y = m[1, 0] * x[None, :] + m[1, 1] * y[:, None] + m[1, 2] + h / 2 - 0.5
    dtype = working_float(img.dtype)
    source = img.astype(dtype, copy=False)
    fill_value = fill_values(fill, source)
    if mode == "nearest":
        col, row = np.rint(src_x).astype(np.int64), np.rint(src_y).astype(np.int64)
        inside = (col >= 0) & (col < w) & (row >= 0) & (row < h)
        out = np.where(inside, source[..., np.clip(row, 0, h - 1), np.clip(col, 0, w - 1)],
                       fill_value)
        return cast_rounded(out, img.dtype)
    col0, row0 = np.floor(src_x).astype(np.int64), np.floor(src_y).astype(np.int64)
    fx, fy = (src_x - col0).astype(dtype), (src_y - row0).astype(dtype)
    out = np.zeros(img.shape[:-2] + (out_height, out_width), dtype=dtype)
    covered = np.zeros((out_height, out_width), dtype=dtype)
    for dy, dx in ((0, 0), (0, 1), (1, 0), (1, 1)):           # loop over the 4 kernel taps
        row, col = row0 + dy, col0 + dx
        weight = (fy if dy else 1 - fy) * (fx if dx else 1 - fx)
        weight = np.where((col >= 0) & (col < w) & (row >= 0) & (row < h), weight, 0)
        out += weight * source[..., np.clip(row, 0, h - 1), np.clip(col, 0, w - 1)]
        covered += weight
    out += (1 - covered) * fill_value
    return cast_rounded(out, img.dtype)


# ---------------------------------------------------------------------------- colour
def blend(img1, img2, ratio):
    """``clamp(ratio * img1 + (1 - ratio) * img2, 0, white)`` in ``img1``'s dtype (integers
    truncate, as torch's ``.to(uint8)``)."""
    dtype = working_float(img1.dtype)
    out = ratio * img1.astype(dtype) + (1.0 - ratio) * np.asarray(img2, dtype=dtype)
    return np.clip(out, 0, max_value(img1.dtype)).astype(img1.dtype)


def check_channels(img, allowed, name):
    channels = img.shape[-3]
    if channels not in allowed:
        raise TypeError(f"{name}: expected an image with {' or '.join(map(str, allowed))} "
                        f"channels, got {channels} (shape {img.shape})")


def rgb_to_grayscale(img, num_output_channels):
    """ITU-R 601-2 luma ``L = 0.2989 R + 0.587 G + 0.114 B``, in ``img``'s dtype."""
    if img.shape[-3] == 3:
        dtype = working_float(img.dtype)
        r, g, b = (img[..., k, :, :].astype(dtype) for k in range(3))
        gray = (dtype.type(0.2989) * r + dtype.type(0.587) * g + dtype.type(0.114) * b)
        gray = gray.astype(img.dtype)[..., None, :, :]
    else:
        gray = img.copy()
    if num_output_channels == 3:
        return np.repeat(gray, 3, axis=-3)
    return gray


def adjust_contrast(img, factor):
    """Blend with the mean grey level of the image."""
    dtype = working_float(img.dtype)
    gray = rgb_to_grayscale(img, 1) if img.shape[-3] == 3 else img
    mean = gray.astype(dtype).mean(axis=(-3, -2, -1), keepdims=True)
    return blend(img, mean, factor)


def rgb_to_hsv(img):
    """RGB in [0, 1] -> HSV in [0, 1] along axis -3 (torchvision's ``_rgb2hsv``)."""
    r, g, b = img[..., 0, :, :], img[..., 1, :, :], img[..., 2, :, :]
    maxc, minc = img.max(axis=-3), img.min(axis=-3)
    equal = maxc == minc
    chroma = maxc - minc
    s = chroma / np.where(equal, 1.0, maxc)
    divisor = np.where(equal, 1.0, chroma)
    rc, gc, bc = (maxc - r) / divisor, (maxc - g) / divisor, (maxc - b) / divisor
    h = np.where(maxc == r, bc - gc, np.where(maxc == g, 2.0 + rc - bc, 4.0 + gc - rc))
    h = np.fmod(h / 6.0 + 1.0, 1.0)
    return np.stack([h, s, maxc], axis=-3).astype(img.dtype, copy=False)


def hsv_to_rgb(img):
    """HSV in [0, 1] -> RGB in [0, 1] along axis -3 (torchvision's ``_hsv2rgb``)."""
    h, s, v = img[..., 0, :, :], img[..., 1, :, :], img[..., 2, :, :]
    sector = np.floor(h * 6.0)
    f = h * 6.0 - sector
    sector = sector.astype(np.int64) % 6
    p = np.clip(v * (1.0 - s), 0.0, 1.0)
    q = np.clip(v * (1.0 - s * f), 0.0, 1.0)
    t = np.clip(v * (1.0 - s * (1.0 - f)), 0.0, 1.0)
    r = np.choose(sector, [v, q, p, p, t, v])
    g = np.choose(sector, [t, v, v, q, p, p])
    b = np.choose(sector, [p, p, t, v, v, q])
    return np.stack([r, g, b], axis=-3).astype(img.dtype, copy=False)


def adjust_hue(img, factor):
    """Rotate the hue by ``factor`` turns (in [-0.5, 0.5]) in HSV space."""
    if img.shape[-3] == 1:
        return img.copy()
    integer = not np.issubdtype(img.dtype, np.floating)
    hsv = rgb_to_hsv(img.astype(np.float32) / max_value(img.dtype) if integer else img)
    hsv[..., 0, :, :] = np.mod(hsv[..., 0, :, :] + factor, 1.0)
    rgb = hsv_to_rgb(hsv)
    if integer:                          # torchvision's convert_image_dtype float -> int
        top = max_value(img.dtype)
        return (rgb * (top + 1.0 - 1e-3)).astype(img.dtype)
    return rgb
