"""Pictures of tensors (``torchvision.utils``): ``make_grid``, ``save_image``,
``draw_bounding_boxes``, ``draw_segmentation_masks``.

The same arguments and the same pixels as torchvision 0.28's: pytorch/examples' VAE and DCGAN
write their samples with ``save_image(make_grid(...))``, and the detection and segmentation
tasks draw their predictions with the ``draw_*`` functions. Results are plain tensors, not
part of any graph (torchvision runs these under ``no_grad`` too). Pillow does the drawing and
the file writing.
"""
import math
import warnings

import numpy as np

import ember
from ember._tensor import Tensor

__all__ = ["make_grid", "save_image", "draw_bounding_boxes", "draw_segmentation_masks"]


def make_grid(tensor, nrow=8, padding=2, normalize=False, value_range=None, scale_each=False,
              pad_value=0.0):
    """Tile a batch of images into one image: ``(B, C, H, W)`` (or a list of ``(C, H, W)``)
    -> ``(C', rows·(H + padding) + padding, cols·(W + padding) + padding)`` with ``cols =
    min(nrow, B)`` and ``rows = ceil(B / cols)``; single-channel images become 3-channel.

    Args:
        tensor: a 4-D batch, a list of 3-D images of one size, a 3-D image or a 2-D one.
        nrow (int): images per row.
        padding (int): pixels between (and around) the images, filled with ``pad_value``.
        normalize (bool): map ``value_range`` (default: the tensor's min and max) to [0, 1],
            clamping values outside it.
        value_range (tuple): ``(low, high)`` for ``normalize``.
        scale_each (bool): normalize each image by its own min and max.
        pad_value (float): the value of the padding pixels.
    """
    if isinstance(tensor, list):
        for t in tensor:
            if not isinstance(t, Tensor):
                raise TypeError(f"make_grid: tensor or list of tensors expected, got a list "
                                f"containing {type(t).__name__}")
        array = np.stack([t.detach().numpy() for t in tensor])
    elif isinstance(tensor, Tensor):
        array = tensor.detach().numpy()
    else:
        raise TypeError(f"make_grid: tensor or list of tensors expected, got "
                        f"{type(tensor).__name__}")
    if array.ndim == 2:
        array = array[None]
    if array.ndim == 3:
        if array.shape[0] == 1:
            array = np.concatenate([array] * 3, 0)
        array = array[None]
    if array.ndim == 4 and array.shape[1] == 1:
        array = np.concatenate([array] * 3, 1)
    if array.ndim != 4:
        raise ValueError(f"make_grid: expected images of 2, 3 or 4 dimensions, got shape "
                         f"{array.shape}")
    if normalize is True:
        if value_range is not None and not isinstance(value_range, tuple):
            raise TypeError("make_grid: value_range has to be a tuple (min, max) if specified. "
                            "min and max are numbers")
        if array.dtype.kind != "f":
            raise RuntimeError(f"make_grid: normalize=True needs floating point images, got "
                               f"{array.dtype}")
        array = array.copy()
        for images in (array if scale_each is True else [array]):
            low, high = value_range if value_range is not None else (
                float(images.min()), float(images.max()))
            np.clip(images, low, high, out=images)
            images -= low
            images /= max(high - low, 1e-5)
    if array.shape[0] == 1:
        return Tensor._wrap(np.ascontiguousarray(array[0]))

    count, channels, height, width = array.shape
    cols = min(nrow, count)
    rows = int(math.ceil(float(count) / cols))
    cell_h, cell_w = height + padding, width + padding
    grid = np.full((channels, cell_h * rows + padding, cell_w * cols + padding), pad_value,
                   dtype=array.dtype)
    for k in range(count):
        y, x = divmod(k, cols)
        grid[:, y * cell_h + padding:(y + 1) * cell_h, x * cell_w + padding:(x + 1) * cell_w] = \
            array[k]
    return Tensor._wrap(grid)


def save_image(tensor, fp, format=None, **kwargs):
    """Write ``make_grid(tensor, **kwargs)`` to ``fp`` (a path or a binary file object; give
    ``format`` for a file object): values in [0, 1] become ``uint8(x · 255 + 0.5)``."""
    from PIL import Image
    grid = make_grid(tensor, **kwargs).numpy()
    pixels = np.clip(grid * 255 + 0.5, 0, 255).transpose(1, 2, 0).astype(np.uint8)
    Image.fromarray(np.ascontiguousarray(pixels)).save(fp, format=format)


def draw_bounding_boxes(image, boxes, labels=None, colors=None, fill=False, width=1, font=None,
                        font_size=None, label_colors=None, label_background_colors=None,
                        fill_labels=False):
    """Draw boxes (and their labels) on an image.

    Args:
        image (Tensor): ``(C, H, W)``, uint8 in [0, 255] or float in [0, 1]; C is 1 or 3
            (a grayscale image comes back with 3 channels).
        boxes (Tensor): ``(N, 4)`` as ``(xmin, ymin, xmax, ymax)`` in pixels, or ``(N, 8)``
            as the four corners of rotated boxes (drawn with a dashed first side).
        labels (list[str]): a text per box, drawn inside its top-left corner.
        colors: one color for all boxes or one per box (a Pillow color name, ``"#RRGGBB"`` or
            an RGB tuple); default: a fixed palette.
        fill (bool): fill each box with its color at alpha 100/255.
        width (int): line width.
        font (str): a TrueType font file (default: Pillow's default font).
        font_size (int): the size of ``font``.
        label_colors: text colors (default: the box colors, or black with ``fill_labels``).
        label_background_colors: label box colors with ``fill_labels`` (default: box colors).
        fill_labels (bool): draw each label on a filled box.

    Returns:
        Tensor: ``(3, H, W)`` of the image's dtype.
    """
    from PIL import ImageFont
    if not isinstance(image, Tensor):
        raise TypeError(f"draw_bounding_boxes: Tensor expected, got {type(image).__name__}")
    if not (image.dtype is ember.uint8 or image.is_floating_point()):
        raise ValueError(f"draw_bounding_boxes: the image dtype must be uint8 or float, got "
                         f"{image.dtype}")
    if image.dim() != 3:
        raise ValueError(f"draw_bounding_boxes: pass individual images, not batches (got shape "
                         f"{tuple(image.shape)})")
    if image.shape[0] not in (1, 3):
        raise ValueError(f"draw_bounding_boxes: only grayscale and RGB images are supported "
                         f"(got {image.shape[0]} channels)")
    box_array = boxes.detach().numpy()
    if box_array.ndim != 2 or box_array.shape[-1] not in (4, 8):
        raise ValueError(f"draw_bounding_boxes: boxes must have shape (N, 4) or (N, 8), got "
                         f"{box_array.shape}")
    if box_array.shape[-1] == 4 and ((box_array[:, 0] > box_array[:, 2]).any()
                                     or (box_array[:, 1] > box_array[:, 3]).any()):
        raise ValueError("draw_bounding_boxes: boxes need to be in (xmin, ymin, xmax, ymax) "
                         "format")
    count = box_array.shape[0]
    if count == 0:
        warnings.warn("boxes doesn't contain any box. No box was drawn")
        return image
    if labels is None:
        labels = [None] * count
    elif len(labels) != count:
        raise ValueError(f"draw_bounding_boxes: number of boxes ({count}) and labels "
                         f"({len(labels)}) mismatch. Please specify labels for each box.")
    colors = _parse_colors(colors, count)
    if label_colors or fill_labels:
        label_colors = _parse_colors(label_colors if label_colors else "black", count)
    else:
        label_colors = list(colors)
    if fill_labels and label_background_colors:
        label_background_colors = _parse_colors(label_background_colors, count)
    else:
        label_background_colors = list(colors)
    if font is None:
        if font_size is not None:
            warnings.warn("Argument 'font_size' will be ignored since 'font' is not set.")
        text_font = ImageFont.load_default()
    else:
        text_font = ImageFont.truetype(font=font, size=font_size or 10)

    pixels = image.detach().numpy()
    if pixels.shape[0] == 1:
        pixels = np.concatenate([pixels] * 3, 0)
    floating = pixels.dtype.kind == "f"
    if floating:
        pixels = _float_to_uint8(pixels)
    canvas = _to_pil(pixels)
    draw = _draw(canvas, "RGBA" if fill else None)
    for box, color, label, label_color, label_bg in zip(box_array.astype(np.int64).tolist(),
                                                        colors, labels, label_colors,
                                                        label_background_colors):
        shape = draw.oriented_rectangle if len(box) > 4 else draw.rectangle
        shape(box, width=width, outline=color, fill=color + (100,) if fill else None)
        if label is not None:
            box_margin = 1
            margin = width + box_margin
            if fill_labels:
                left, top, right, bottom = draw.textbbox((box[0] + margin, box[1] + margin),
                                                         label, font=text_font)
                draw.rectangle((left - box_margin, top - box_margin, right + box_margin,
                                bottom + box_margin), fill=label_bg)
            draw.text((box[0] + margin, box[1] + margin), label, fill=label_color,
                      font=text_font)
    out = np.ascontiguousarray(np.asarray(canvas).transpose(2, 0, 1))
    if floating:   # back to [0, 1] as torchvision does: uint8 · (1 / 255)
        out = out.astype(image.dtype.np)
        out *= 1.0 / 255
    return Tensor._wrap(out)


def draw_segmentation_masks(image, masks, alpha=0.8, colors=None):
    """Blend masks onto an image: each mask's pixels take its color, pixels in two or more
    masks become black, and ``out = image · (1 − alpha) + painted · alpha``.

    Args:
        image (Tensor): ``(3, H, W)``, uint8 or float.
        masks (Tensor): ``(num_masks, H, W)`` or ``(H, W)``, bool.
        alpha (float): opacity of the masks, 0 (invisible) to 1 (opaque).
        colors: one color for all masks or one per mask (see :func:`draw_bounding_boxes`).

    Returns:
        Tensor: ``(3, H, W)`` of the image's dtype.
    """
    if not isinstance(image, Tensor):
        raise TypeError(f"draw_segmentation_masks: the image must be a tensor, got "
                        f"{type(image).__name__}")
    if not (image.dtype is ember.uint8 or image.is_floating_point()):
        raise ValueError(f"draw_segmentation_masks: the image dtype must be uint8 or float, "
                         f"got {image.dtype}")
    if image.dim() != 3:
        raise ValueError("draw_segmentation_masks: pass individual images, not batches")
    if image.shape[0] != 3:
        raise ValueError("draw_segmentation_masks: pass an RGB image. Other image formats are "
                         "not supported")
    mask_array = masks.detach().numpy()
    if mask_array.ndim == 2:
        mask_array = mask_array[None]
    if mask_array.ndim != 3:
        raise ValueError("draw_segmentation_masks: masks must be of shape (H, W) or "
                         "(batch_size, H, W)")
    if mask_array.dtype != np.bool_:
        raise ValueError(f"draw_segmentation_masks: the masks must be of dtype bool. Got "
                         f"{masks.dtype}")
    if mask_array.shape[-2:] != tuple(image.shape[-2:]):
        raise ValueError("draw_segmentation_masks: the image and the masks must have the same "
                         "height and width")
    if mask_array.shape[0] == 0:
        warnings.warn("masks doesn't contain any mask. No mask was drawn")
        return image
    pixels = image.detach().numpy()
    floating = pixels.dtype.kind == "f"
    painted = pixels.copy()
    for mask, color in zip(mask_array, _parse_colors(colors, mask_array.shape[0], floating)):
        painted[:, mask] = np.asarray(color, dtype=pixels.dtype)[:, None]
    painted[:, mask_array.sum(0) > 1] = 0
    blend = pixels.dtype.type if floating else np.float32   # torch: uint8 · float -> float32
    out = pixels.astype(blend) * blend(1 - alpha) + painted.astype(blend) * blend(alpha)
    return Tensor._wrap(out.astype(pixels.dtype))


# -------------------------------------------------------------------------------- helpers
def _palette_color(i):
    """torchvision's default palette: ``(i · (2^25 − 1, 2^15 − 1, 2^21 − 1)) mod 255``."""
    return tuple(int(i * p % 255) for p in (2 ** 25 - 1, 2 ** 15 - 1, 2 ** 21 - 1))


def _parse_colors(colors, count, floating=False):
    """A list of ``count`` RGB tuples from None (the palette), one color or a list of colors;
    scaled to [0, 1] for float images."""
    from PIL import ImageColor
    if colors is None:
        colors = [_palette_color(i) for i in range(count)]
    elif isinstance(colors, list):
        if len(colors) < count:
            raise ValueError(f"Number of colors must be equal or larger than the number of "
                             f"objects, but got {len(colors)} < {count}.")
    elif not isinstance(colors, (tuple, str)):
        raise ValueError(f"colors must be a tuple or a string, or a list thereof, but got "
                         f"{colors}.")
    elif isinstance(colors, tuple) and len(colors) != 3:
        raise ValueError(f"If passed as tuple, colors should be an RGB triplet, but got "
                         f"{colors}.")
    else:
        colors = [colors] * count
    colors = [ImageColor.getrgb(c) if isinstance(c, str) else tuple(c) for c in colors]
    if floating:
        colors = [tuple(v / 255 for v in c) for c in colors]
    return colors


def _float_to_uint8(pixels):
    """torchvision's float -> uint8 image conversion: ``x · (256 − 1e-3)``, truncated."""
    return (pixels * (255 + 1.0 - 1e-3)).astype(np.uint8)


def _to_pil(chw):
    from PIL import Image
    return Image.fromarray(np.ascontiguousarray(chw.transpose(1, 2, 0)))


def _draw(canvas, mode):
    """A Pillow drawing context that also draws rotated boxes as torchvision does."""
    from PIL import ImageDraw

    class _BoxDraw(ImageDraw.ImageDraw):
        def oriented_rectangle(self, xy, fill=None, outline=None, width=1):
            """Corners ``(x1, y1, ..., x4, y4)``: the first side dashed (it marks the box's
            orientation), the other three solid."""
            self.dashed_line(((xy[0], xy[1]), (xy[2], xy[3])), width=width, fill=outline)
            for i in range(2, len(xy), 2):
                self.line(((xy[i], xy[i + 1]), (xy[(i + 2) % len(xy)], xy[(i + 3) % len(xy)])),
                          width=width, fill=outline)
            self.polygon(xy, fill=fill, outline=None, width=0)

        def dashed_line(self, xy, fill=None, width=0, dash_length=5, space_length=5):
            dash = True
            for (x1, y1), (x2, y2) in zip(xy[:-1], xy[1:]):
                remaining = ((x2 - x1) ** 2 + (y2 - y1) ** 2) ** 0.5
                while remaining > 0:
                    length = min(remaining, dash_length if dash else space_length)
                    angle = math.atan2(y2 - y1, x2 - x1)   # from the current point, as torchvision
                    end_x = x1 + math.cos(angle) * length
                    end_y = y1 + math.sin(angle) * length
                    if dash:
                        self.line([(x1, y1), (end_x, end_y)], fill, width, None)
                    remaining -= length
                    x1, y1 = end_x, end_y
                    dash = not dash

    return _BoxDraw(canvas, mode)
