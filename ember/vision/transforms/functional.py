"""Functional image transforms (torchvision's ``transforms.functional``).

Every function accepts the image kinds torchvision accepts and returns the same kind:

- a PIL image: the work is done by Pillow;
- a Tensor image ``(..., C, H, W)`` (or ``(H, W)``), uint8 in 0..255 or float in [0, 1];
- a NumPy array ``(H, W)`` or ``(H, W, C)`` (the layout ``ToTensor`` accepts).

Tensor and array images go through the same NumPy kernels (``_array.py``), which follow
torchvision's tensor formulas. Apart from ``normalize`` (built from differentiable ember
ops), these are data-pipeline operations: they do not record autograd history and refuse a
tensor that requires grad.
"""
import numbers
import sys
import warnings
from enum import Enum

import numpy as np

import ember
from ember import Tensor
from ember.vision.transforms import _array


class InterpolationMode(Enum):
    """How to resample: ``NEAREST`` (torch's ``nearest``: ``floor(i * in/out)``),
    ``NEAREST_EXACT`` (``floor((i + 0.5) * in/out)``, what PIL's NEAREST does),
    ``BILINEAR``, ``BICUBIC``."""
    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"


def _interpolation(value, name):
    try:
        return InterpolationMode(value).value
    except ValueError:
        modes = ", ".join(m.name for m in InterpolationMode)
        raise ValueError(f"{name}: interpolation must be an InterpolationMode ({modes}), "
                         f"got {value!r}") from None


def _kind_error(name, img):
    return TypeError(f"{name}: expected a PIL Image, a NumPy array (H x W or H x W x C) or a "
                     f"Tensor (C x H x W), got {type(img).__name__}")


def _is_pil(img):
    pil_image = sys.modules.get("PIL.Image")      # no Pillow loaded: img cannot be a PIL image
    return pil_image is not None and isinstance(img, pil_image.Image)


def _pil():
    """The Pillow implementations, imported on first use: Tensor-only users need no Pillow."""
    from ember.vision.transforms import _pil as pil_ops
    return pil_ops


def _on_pixels(name, img, kernel, *args):
    """Apply ``kernel`` (on ``(..., C, H, W)`` arrays) to a Tensor or NumPy image and return
    the same kind; a 2-D image stays 2-D when the kernel keeps one channel."""
    if isinstance(img, Tensor):
        if img.requires_grad and ember.is_grad_enabled():
            raise RuntimeError(f"{name}: image transforms do not record autograd history; pass "
                               f"a tensor that does not require grad (e.g. x.detach())")
        if img.dim() < 2:
            raise TypeError(f"{name}: expected a tensor image of shape (..., C, H, W) or (H, W), "
                            f"got shape {tuple(img.shape)}")
        pixels = img.detach().numpy()
        if pixels.ndim == 2:
            out = kernel(pixels[None], *args)
            return ember.from_numpy(out[0] if out.shape[0] == 1 else out)
        return ember.from_numpy(kernel(pixels, *args))
    if isinstance(img, np.ndarray):
        if img.ndim == 2:
            out = kernel(img[None], *args)
            return out[0] if out.shape[0] == 1 else np.ascontiguousarray(np.moveaxis(out, 0, -1))
        if img.ndim == 3:
            return np.ascontiguousarray(np.moveaxis(kernel(np.moveaxis(img, -1, 0), *args), 0, -1))
        raise TypeError(f"{name}: expected a NumPy image of shape (H, W) or (H, W, C), got shape "
                        f"{img.shape}")
    raise _kind_error(name, img)


def get_dimensions(img):
    """``[channels, height, width]`` of any image kind."""
    if _is_pil(img):
        return [_pil().num_channels(img), img.height, img.width]
    if isinstance(img, Tensor):
        shape = tuple(img.shape)
        if len(shape) < 2:
            raise TypeError(f"get_dimensions: expected a tensor image of shape (..., C, H, W) or "
                            f"(H, W), got shape {shape}")
        return [1, *shape] if len(shape) == 2 else list(shape[-3:])
    if isinstance(img, np.ndarray) and img.ndim in (2, 3):
        return [1, *img.shape] if img.ndim == 2 else [img.shape[2], img.shape[0], img.shape[1]]
    raise _kind_error("get_dimensions", img)


def get_image_size(img):
    """``[width, height]`` (torchvision's order)."""
    _, h, w = get_dimensions(img)
    return [w, h]


def get_image_num_channels(img):
    return get_dimensions(img)[0]


# ---------------------------------------------------------------------------- conversion
def to_tensor(pic):
    """PIL image or ``(H, W[, C])`` array -> ``(C, H, W)`` Tensor; uint8 values are divided
    by 255 into float32 [0, 1], other dtypes are kept as they are (torchvision's rule)."""
    if _is_pil(pic):
        nptype = {"I": np.int32, "I;16": np.int16, "F": np.float32}.get(pic.mode, np.uint8)
        array = np.array(pic, nptype, copy=True)
        if pic.mode == "1":
            array = 255 * array
        array = array.reshape(pic.height, pic.width, _pil().num_channels(pic))
    elif isinstance(pic, np.ndarray):
        if pic.ndim not in (2, 3):
            raise ValueError(f"to_tensor: pic should be 2/3 dimensional. Got {pic.ndim} dimensions.")
        array = np.array(pic[:, :, None] if pic.ndim == 2 else pic, copy=True)
    else:
        raise TypeError(f"to_tensor: pic should be PIL Image or ndarray. Got {type(pic).__name__}")
    chw = np.ascontiguousarray(array.transpose(2, 0, 1))
    if chw.dtype == np.uint8:
        dtype = ember.get_default_dtype().np
        return ember.from_numpy(chw.astype(dtype) / dtype.type(255))
    return ember.from_numpy(chw)


def pil_to_tensor(pic):
    """PIL image -> ``(C, H, W)`` Tensor with the image's own values and dtype (no scaling).
    16-bit images become int32 (ember has no uint16)."""
    if not _is_pil(pic):
        raise TypeError(f"pil_to_tensor: pic should be PIL Image. Got {type(pic).__name__}")
    array = np.array(pic, copy=True)
    if array.dtype == np.uint16:
        array = array.astype(np.int32)
    array = array.reshape(pic.height, pic.width, _pil().num_channels(pic))
    return ember.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))


_MODES = {1: {np.dtype(np.uint8): "L", np.dtype(np.int16): "I", np.dtype(np.int32): "I",
              np.dtype(np.float32): "F"},
          2: ("LA",), 3: ("RGB", "YCbCr", "HSV"), 4: ("RGBA", "CMYK", "RGBX")}


def to_pil_image(pic, mode=None):
    """``(C, H, W)`` Tensor or ``(H, W[, C])`` array -> PIL image.

    Floats (unless ``mode="F"``) are taken to lie in [0, 1] and become ``uint8(x * 255)``,
    truncated as torchvision does (values outside [0, 1] are clipped first). The mode is
    inferred: 1 channel uint8 -> L (int16 and int32 -> I, float32 -> F), 2 -> LA, 3 -> RGB,
    4 -> RGBA. (torchvision maps int16 to I;16; Pillow 13 stores signed 16-bit data as I.)
    """
    if isinstance(pic, Tensor):
        array = pic.detach().numpy()
        if array.ndim == 3:
            array = array.transpose(1, 2, 0)
    elif isinstance(pic, np.ndarray):
        array = pic
    else:
        raise TypeError(f"to_pil_image: pic should be Tensor or ndarray. Got {type(pic).__name__}.")
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3:
        raise ValueError(f"to_pil_image: pic should be 2/3 dimensional. Got {array.ndim} dimensions.")
    channels = array.shape[-1]
    if channels > 4:
        raise ValueError(f"to_pil_image: pic should not have > 4 channels. Got {channels} "
                         f"channels (shape {array.shape}; a Tensor is read as C x H x W, an "
                         f"array as H x W x C).")
    if np.issubdtype(array.dtype, np.floating) and mode != "F":
        array = (np.clip(array, 0.0, 1.0) * 255).astype(np.uint8)
    if channels == 1:
        array = array[:, :, 0]
        expected = _MODES[1].get(array.dtype)
        if mode is not None and mode != expected:
            raise ValueError(f"to_pil_image: incorrect mode ({mode}) supplied for input type "
                             f"{array.dtype}. Should be {expected}")
        mode = expected
    else:
        if mode is not None and mode not in _MODES[channels]:
            raise ValueError(f"to_pil_image: only modes {list(_MODES[channels])} are supported "
                             f"for {channels}-channel inputs, got {mode}")
        if mode is None and array.dtype == np.uint8:
            mode = _MODES[channels][0]
    if mode is None:
        raise TypeError(f"to_pil_image: input type {array.dtype} is not supported")
    from PIL import Image
    array = np.ascontiguousarray(array)
    if channels == 1 or mode == _MODES[channels][0]:
        return Image.fromarray(array)                 # Pillow infers exactly this mode
    return Image.fromarray(array, mode=mode)


def normalize(tensor, mean, std, inplace=False):
    """``(x - mean[c]) / std[c]`` per channel of a float ``(..., C, H, W)`` image.

    On a Tensor this is built from ember ops, so it is differentiable (e.g. inside a model
    whose input gradient is wanted). ``inplace=True`` overwrites the input.
    """
    if _is_pil(tensor) or not isinstance(tensor, (Tensor, np.ndarray)):
        raise TypeError(f"normalize: img should be a Tensor (or a NumPy array) image, got "
                        f"{type(tensor).__name__}; apply ToTensor first")
    array = tensor.detach().numpy() if isinstance(tensor, Tensor) else tensor
    if not np.issubdtype(array.dtype, np.floating):
        raise TypeError(f"normalize: input tensor should be a float tensor. Got {array.dtype}.")
    if array.ndim < 3 and isinstance(tensor, Tensor):
        raise ValueError(f"normalize: expected a tensor image of size (..., C, H, W), got "
                         f"shape {tuple(array.shape)}")
    channels = array.shape[-3] if isinstance(tensor, Tensor) else (
        array.shape[-1] if array.ndim == 3 else 1)
    mean = np.asarray(mean, dtype=array.dtype).reshape(-1)
    std = np.asarray(std, dtype=array.dtype).reshape(-1)
    for name, values in (("mean", mean), ("std", std)):
        if values.size not in (1, channels):
            raise ValueError(f"normalize: {name} has {values.size} values but the image has "
                             f"{channels} channels (shape {tuple(array.shape)})")
    if (std == 0).any():
        raise ValueError(f"normalize: std evaluated to zero after conversion to {array.dtype}, "
                         f"leading to division by zero.")
    if isinstance(tensor, Tensor):
        mean_t = ember.from_numpy(mean.reshape(-1, 1, 1))
        std_t = ember.from_numpy(std.reshape(-1, 1, 1))
        if inplace:
            return tensor.sub_(mean_t).div_(std_t)
        return (tensor - mean_t) / std_t
    if inplace:
        tensor -= mean
        tensor /= std
        return tensor
    return (tensor - mean) / std


# ---------------------------------------------------------------------------- geometry
def _output_size(height, width, size, max_size, name):
    """torchvision's ``_compute_resized_output_size``: an int (or 1-sequence) sets the
    shorter edge and keeps the aspect ratio (``long = int(size * long / short)``), capped so
    that the longer edge is at most ``max_size``; a pair is ``(height, width)``."""
    if isinstance(size, numbers.Number):
        size = [size]
    size = list(size)
    if len(size) not in (1, 2):
        raise ValueError(f"{name}: size must be an int or a 1 or 2 element tuple/list, not a "
                         f"{len(size)} element tuple/list")
    if len(size) == 2:
        if max_size is not None:
            raise ValueError(f"{name}: max_size should only be passed if size specifies the "
                             f"length of the smaller edge, i.e. size should be an int or a "
                             f"sequence of length 1")
        return int(size[0]), int(size[1])
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = int(size[0]), int(int(size[0]) * long / short)
    if max_size is not None:
        if max_size <= new_short:
            raise ValueError(f"{name}: max_size = {max_size} must be strictly greater than the "
                             f"requested size for the smaller edge = {new_short}")
        if new_long > max_size:
            new_short, new_long = int(max_size * new_short / new_long), max_size
    return (new_long, new_short) if width <= height else (new_short, new_long)


def resize(img, size, interpolation=InterpolationMode.BILINEAR, max_size=None, antialias=True):
    """Resize to ``size``: ``(h, w)``, or an int for the shorter edge keeping the aspect ratio.

    Tensor / array images are resampled like torch's ``interpolate`` (``align_corners=False``);
    with ``antialias=True`` (default) bilinear and bicubic downsampling average over the
    whole footprint as PIL does. PIL images are always antialiased by Pillow (``antialias``
    is ignored with a warning, as torchvision).
    """
    mode = _interpolation(interpolation, "resize")
    _, h, w = get_dimensions(img)
    out_h, out_w = _output_size(h, w, size, max_size, "resize")
    if out_h <= 0 or out_w <= 0:
        raise ValueError(f"resize: the output size must be positive, got {(out_h, out_w)}")
    if _is_pil(img):
        if not antialias:
            warnings.warn("resize: anti-alias is always applied for PIL Image input; "
                          "argument antialias is ignored.")
        return _pil().resize(img, out_h, out_w, mode)
    return _on_pixels("resize", img, _array.resize, out_h, out_w, mode, bool(antialias))


def _parse_padding(padding, name):
    if isinstance(padding, bool) or not isinstance(padding, (numbers.Number, tuple, list)):
        raise TypeError(f"{name}: got inappropriate padding arg {padding!r}")
    if isinstance(padding, numbers.Number):
        padding = [padding]
    padding = [int(p) for p in padding]
    if len(padding) == 1:
        return padding * 4
    if len(padding) == 2:
        return [padding[0], padding[1], padding[0], padding[1]]
    if len(padding) == 4:
        return padding
    raise ValueError(f"{name}: padding must be an int or a 1, 2, or 4 element tuple, not a "
                     f"{len(padding)} element tuple")


_PADDING_MODES = ("constant", "edge", "reflect", "symmetric")


def pad(img, padding, fill=0, padding_mode="constant"):
    """Pad the borders. ``padding``: an int (all sides), ``(left/right, top/bottom)`` or
    ``(left, top, right, bottom)``; negative values crop. ``padding_mode``: ``constant``
    (with ``fill``: a number or one value per channel), ``edge`` (repeat the border pixel),
    ``reflect`` (mirror without repeating it: ``[1,2,3,4]`` padded by 2 -> ``[3,2,1,2,3,4,3,2]``)
    or ``symmetric`` (mirror repeating it: ``[2,1,1,2,3,4,4,3]``)."""
    left, top, right, bottom = _parse_padding(padding, "pad")
    if not isinstance(fill, (numbers.Number, tuple, list)):
        raise TypeError(f"pad: got inappropriate fill arg {fill!r}")
    if padding_mode not in _PADDING_MODES:
        raise ValueError(f"pad: padding mode should be either constant, edge, reflect or "
                         f"symmetric, got {padding_mode!r}")
    if _is_pil(img):
        return _pil().pad(img, left, top, right, bottom, fill, padding_mode)
    return _on_pixels("pad", img, _array.pad, left, top, right, bottom, fill, padding_mode)


def crop(img, top, left, height, width):
    """The ``height x width`` window whose top-left corner is ``(top, left)``; where it
    leaves the image it is filled with zeros."""
    if _is_pil(img):
        return _pil().crop(img, top, left, height, width)
    return _on_pixels("crop", img, _array.crop, int(top), int(left), int(height), int(width))


def center_crop(img, output_size):
    """The central ``output_size`` window (an int for a square, or ``(h, w)``); an image
    smaller than that is zero-padded first. The top-left corner is
    ``round((H - h) / 2), round((W - w) / 2)`` (Python's rounding, as torchvision)."""
    if isinstance(output_size, numbers.Number):
        output_size = (int(output_size), int(output_size))
    elif len(output_size) == 1:
        output_size = (output_size[0], output_size[0])
    crop_h, crop_w = (int(v) for v in output_size)
    _, h, w = get_dimensions(img)
    if crop_w > w or crop_h > h:
        img = pad(img, [(crop_w - w) // 2 if crop_w > w else 0, (crop_h - h) // 2 if crop_h > h else 0,
                        (crop_w - w + 1) // 2 if crop_w > w else 0,
                        (crop_h - h + 1) // 2 if crop_h > h else 0], fill=0)
        _, h, w = get_dimensions(img)
    return crop(img, int(round((h - crop_h) / 2.0)), int(round((w - crop_w) / 2.0)), crop_h, crop_w)


def resized_crop(img, top, left, height, width, size, interpolation=InterpolationMode.BILINEAR,
                 antialias=True):
    """``crop`` then ``resize`` to ``size``."""
    return resize(crop(img, top, left, height, width), size, interpolation, antialias=antialias)


def _flip_columns(pixels):
    return np.ascontiguousarray(pixels[..., ::-1])


def _flip_rows(pixels):
    return np.ascontiguousarray(pixels[..., ::-1, :])


def hflip(img):
    """Mirror left-right."""
    return _pil().hflip(img) if _is_pil(img) else _on_pixels("hflip", img, _flip_columns)


def vflip(img):
    """Mirror top-bottom."""
    return _pil().vflip(img) if _is_pil(img) else _on_pixels("vflip", img, _flip_rows)


def _warp_mode(interpolation, img, name):
    mode = _interpolation(interpolation, name)
    if not _is_pil(img) and mode not in ("nearest", "bilinear"):
        raise ValueError(f"{name}: tensor and array images support NEAREST and BILINEAR "
                         f"interpolation, got {mode}")
    return mode


def _warp_fill(fill, img, name):
    if fill is not None and not isinstance(fill, (numbers.Number, tuple, list)):
        raise TypeError(f"{name}: fill should be a number or a sequence, got {fill!r}")
    return fill


def rotate(img, angle, interpolation=InterpolationMode.NEAREST, expand=False, center=None,
           fill=None):
    """Rotate by ``angle`` degrees counter-clockwise about ``center`` (``(x, y)`` in pixels;
    default the image centre). ``expand=True`` enlarges the output to hold the whole rotated
    image. Uncovered pixels get ``fill``."""
    mode = _warp_mode(interpolation, img, "rotate")
    fill = _warp_fill(fill, img, "rotate")
    if _is_pil(img):
        return _pil().rotate(img, angle, mode, expand, center, fill)
    _, h, w = get_dimensions(img)
    center_f = [0.0, 0.0] if center is None else [c - s * 0.5 for c, s in zip(center, (w, h))]
    matrix = _array.inverse_affine_matrix(center_f, -angle, [0.0, 0.0], 1.0, [0.0, 0.0])
    out_w, out_h = _array.affine_output_size(matrix, w, h) if expand else (w, h)
    return _on_pixels("rotate", img, _array.warp_affine, matrix, out_h, out_w, mode, fill)


def affine(img, angle, translate, scale, shear, interpolation=InterpolationMode.NEAREST,
           fill=None, center=None):
    """Rotate by ``angle`` degrees (clockwise), scale by ``scale``, shear by ``shear``
    degrees (a number for x, or ``(x, y)``) about ``center``, then translate by
    ``translate`` = ``(dx, dy)`` pixels; the image centre stays the centre."""
    mode = _warp_mode(interpolation, img, "affine")
    fill = _warp_fill(fill, img, "affine")
    if not isinstance(translate, (list, tuple)) or len(translate) != 2:
        raise ValueError(f"affine: translate should be a sequence of length 2, got {translate!r}")
    if scale <= 0.0:
        raise ValueError(f"affine: scale should be positive, got {scale}")
    if isinstance(shear, numbers.Number):
        shear = [shear, 0.0]
    shear = list(shear)
    if len(shear) == 1:
        shear = [shear[0], shear[0]]
    if len(shear) != 2:
        raise ValueError(f"affine: shear should be a number or a sequence of 1 or 2 values, "
                         f"got {shear}")
    _, h, w = get_dimensions(img)
    if _is_pil(img):
        center = [w * 0.5, h * 0.5] if center is None else center
        matrix = _array.inverse_affine_matrix(center, angle, translate, scale, shear)
        return _pil().affine(img, matrix, mode, fill)
    center_f = [0.0, 0.0] if center is None else [c - s * 0.5 for c, s in zip(center, (w, h))]
    matrix = _array.inverse_affine_matrix(center_f, angle, [float(t) for t in translate],
                                          scale, shear)
    return _on_pixels("affine", img, _array.warp_affine, matrix, h, w, mode, fill)


# ---------------------------------------------------------------------------- colour
def _check_factor(name, factor):
    if factor < 0:
        raise ValueError(f"{name}: factor ({factor}) is not non-negative.")


def _colour(name, img, array_fn, factor, channels=(1, 3)):
    if _is_pil(img):
        return getattr(_pil(), name)(img, factor)

    def kernel(pixels, f):
        _array.check_channels(pixels, channels, name)
        return array_fn(pixels, f)
    return _on_pixels(name, img, kernel, factor)


def adjust_brightness(img, brightness_factor):
    """``clamp(factor * img)``: 0 gives black, 1 the original, 2 twice as bright."""
    _check_factor("adjust_brightness", brightness_factor)
    return _colour("adjust_brightness", img, lambda x, f: _array.blend(x, 0.0, f),
                   brightness_factor)


def adjust_contrast(img, contrast_factor):
    """Blend with the mean grey level: 0 gives a uniform grey image, 1 the original."""
    _check_factor("adjust_contrast", contrast_factor)
    return _colour("adjust_contrast", img, _array.adjust_contrast, contrast_factor)


def adjust_saturation(img, saturation_factor):
    """Blend with the greyscale image: 0 gives grey, 1 the original, 2 doubles saturation."""
    _check_factor("adjust_saturation", saturation_factor)

    def saturate(x, f):
        return x.copy() if x.shape[-3] == 1 else _array.blend(x, _array.rgb_to_grayscale(x, 1), f)
    return _colour("adjust_saturation", img, saturate, saturation_factor)


def adjust_hue(img, hue_factor):
    """Rotate the hue by ``hue_factor`` turns, in [-0.5, 0.5] (0.5 and -0.5 give the
    complementary colours)."""
    if not -0.5 <= hue_factor <= 0.5:
        raise ValueError(f"adjust_hue: hue_factor ({hue_factor}) is not in [-0.5, 0.5].")
    return _colour("adjust_hue", img, _array.adjust_hue, hue_factor)


def rgb_to_grayscale(img, num_output_channels=1):
    """Luma ``0.2989 R + 0.587 G + 0.114 B`` (PIL: its own ``convert("L")``), repeated to 3
    channels if ``num_output_channels == 3``."""
    if num_output_channels not in (1, 3):
        raise ValueError(f"rgb_to_grayscale: num_output_channels should be either 1 or 3, got "
                         f"{num_output_channels}")
    if _is_pil(img):
        return _pil().to_grayscale(img, num_output_channels)
    return _colour("rgb_to_grayscale", img, _array.rgb_to_grayscale, num_output_channels)


to_grayscale = rgb_to_grayscale


def erase(img, i, j, h, w, v, inplace=False):
    """Set the ``h x w`` window at ``(i, j)`` to ``v`` (a number or anything broadcasting to
    ``(C, h, w)``). Tensor and array images only, as torchvision."""
    if _is_pil(img) or not isinstance(img, (Tensor, np.ndarray)):
        raise TypeError(f"erase: img should be a Tensor (or NumPy array) image, got "
                        f"{type(img).__name__}")
    value = v.detach().numpy() if isinstance(v, Tensor) else np.asarray(v)

    def kernel(pixels, *_):
        out = pixels if inplace else pixels.copy()
        out[..., i:i + h, j:j + w] = value
        return out
    if isinstance(img, Tensor) and inplace:
        if img.requires_grad and ember.is_grad_enabled():
            raise RuntimeError("erase: cannot erase in place a tensor that requires grad")
        pixels = img.detach().numpy()
        kernel(pixels if pixels.ndim > 2 else pixels[None])
        img._bump_version()
        return img
    if isinstance(img, np.ndarray) and inplace:
        kernel(img[None] if img.ndim == 2 else np.moveaxis(img, -1, 0))
        return img
    return _on_pixels("erase", img, kernel)

