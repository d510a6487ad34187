"""Image operations on PIL images, done by Pillow itself (torchvision's ``functional_pil``)."""
import numpy as np
from PIL import Image, ImageEnhance, ImageOps

_RESAMPLE = {"nearest": Image.Resampling.NEAREST, "nearest-exact": Image.Resampling.NEAREST,
             "bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC}


def resample(mode):
    return _RESAMPLE[mode]


def num_channels(img):
    return len(img.getbands())


def parse_fill(fill, img, name):
    """``fill`` as Pillow wants it for ``img``'s mode: an int (or float for mode F) or a
    tuple with one value per band."""
    channels = num_channels(img)
    fill = 0 if fill is None else fill
    if isinstance(fill, (list, tuple)):
        if len(fill) == 1:
            fill = fill[0] if channels == 1 else tuple(fill) * channels
        elif len(fill) != channels:
            raise ValueError(f"{name}: the number of fill values ({len(fill)}) does not match the "
                             f"number of image channels ({channels})")
        else:
            fill = tuple(fill) if channels > 1 else fill[0]
    elif channels > 1:
        fill = (fill,) * channels
    if img.mode == "F":
        return fill
    return tuple(int(v) for v in fill) if isinstance(fill, tuple) else int(fill)


def hflip(img):
    return img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)


def vflip(img):
    return img.transpose(Image.Transpose.FLIP_TOP_BOTTOM)


def crop(img, top, left, height, width):
    return img.crop((left, top, left + width, top + height))


def resize(img, height, width, mode):
    if img.size == (width, height):
        return img.copy()
    return img.resize((width, height), resample(mode))


def pad(img, left, top, right, bottom, fill, mode):
    """Pad (negative amounts crop); constant mode with ``fill``, else NumPy's edge /
    reflect / symmetric, keeping a palette image's palette."""
    if min(left, top, right, bottom) < 0:
        w, h = img.size
        img = img.crop((max(-left, 0), max(-top, 0), w - max(-right, 0), h - max(-bottom, 0)))
        left, top, right, bottom = (max(p, 0) for p in (left, top, right, bottom))
    palette = img.getpalette() if img.mode == "P" else None
    if mode == "constant":
        out = ImageOps.expand(img, border=(left, top, right, bottom),
                              fill=parse_fill(fill, img, "pad"))
    else:
        array = np.asarray(img)
        width = [(top, bottom), (left, right)] + [(0, 0)] * (array.ndim - 2)
        out = Image.fromarray(np.pad(array, width, mode=mode))
    if palette is not None:
        out.putpalette(palette)
    return out


def rotate(img, angle, mode, expand, center, fill):
    return img.rotate(angle, resample(mode), expand, center,
                      fillcolor=parse_fill(fill, img, "rotate"))


def affine(img, matrix, mode, fill):
    return img.transform(img.size, Image.Transform.AFFINE, matrix, resample(mode),
                         fillcolor=parse_fill(fill, img, "affine"))


def adjust_brightness(img, factor):
    return ImageEnhance.Brightness(img).enhance(factor)


def adjust_contrast(img, factor):
    return ImageEnhance.Contrast(img).enhance(factor)


def adjust_saturation(img, factor):
    return ImageEnhance.Color(img).enhance(factor)


def adjust_hue(img, factor):
    """Shift the 8-bit hue channel of Pillow's HSV by ``int(factor * 255)``, wrapping around."""
    if img.mode in ("L", "1", "I", "F"):
        return img.copy()
    h, s, v = img.convert("HSV").split()
    hue = np.array(h, dtype=np.uint8)
    hue += np.uint8(int(factor * 255) % 256)        # uint8 arithmetic wraps, as intended
    return Image.merge("HSV", (Image.fromarray(hue), s, v)).convert(img.mode)


def to_grayscale(img, num_output_channels):
    gray = img.convert("L")
    if num_output_channels == 3:
        return Image.merge("RGB", (gray, gray, gray))
    return gray
