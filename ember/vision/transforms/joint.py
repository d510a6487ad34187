"""Joint transforms for segmentation: one random draw of geometry applied to an image and to
its mask, in the style of torchvision's ``transforms.v2``.

Augmenting a segmentation example must move the labels with the pixels (lecture 003's rule
that an augmentation must not change what the image shows; inventory A29, E21): a random
crop, flip, rescaling or rotation is drawn once and applied to both. The image is resampled
with the transform's ``interpolation``; the mask always with nearest neighbour, so that every
output label is one of the input labels (a bilinear mix of classes 3 and 7 would be a
meaningless 5). Areas a transform uncovers get ``fill`` in the image and ``mask_fill`` in
the mask (255 by default: Pascal VOC's "ignore" label, which ``F.cross_entropy(...,
ignore_index=255)`` and ``ember.vision.metrics`` leave out).

Every transform is called as torchvision v2's are with a segmentation pair::

    augment = joint.Compose([joint.RandomResize(256, 512),
                             joint.RandomCrop(240, pad_if_needed=True),
                             joint.RandomHorizontalFlip(), joint.RandomRotation(10),
                             joint.ToTensor(), joint.Normalize(mean, std)])
    image, mask = augment(image, mask)       # or augment(image) for an image alone

``image``: a PIL image, an ``(H, W[, C])`` NumPy array or a ``(C, H, W)`` Tensor; ``mask``: a
PIL image (mode ``L``, ``P`` or ``I``), an ``(H, W)`` integer array or an ``(H, W)`` integer
Tensor, of the image's height and width. Both keep their kind (``ToTensor`` converts them).
Random draws come from ``ember.utils.data.fetch_rng()``, as the single-image transforms'
(reproducible with ``ember.manual_seed`` and inside ``DataLoader`` workers).
"""
import numbers

import numpy as np

import ember
from ember.utils.data.worker import fetch_rng
from ember.vision.transforms import functional as F
from ember.vision.transforms import transforms as T
from ember.vision.transforms.functional import InterpolationMode

__all__ = ["JointTransform", "Compose", "Resize", "RandomResize", "CenterCrop", "RandomCrop",
           "RandomHorizontalFlip", "RandomVerticalFlip", "RandomRotation", "ToTensor",
           "Normalize"]

NEAREST = InterpolationMode.NEAREST


def _mask_size(mask, name):
    if F._is_pil(mask):
        return mask.height, mask.width
    shape = tuple(mask.shape)
    if len(shape) != 2:
        raise ValueError(f"{name}: expected a mask of shape (H, W), got shape {shape}")
    return shape


class JointTransform:
    """Base class: ``transform(image, mask)`` returns the transformed ``(image, mask)``;
    ``transform(image)`` the image alone. Subclasses implement ``forward(image, mask)``
    (``mask`` may be None) and draw their random parameters once per call."""

    def __call__(self, image, mask=None):
        if mask is not None:
            _, height, width = F.get_dimensions(image)
            if _mask_size(mask, type(self).__name__) != (height, width):
                raise ValueError(f"{type(self).__name__}: the mask is "
                                 f"{'x'.join(map(str, _mask_size(mask, '')))} but the image is "
                                 f"{height}x{width}; a mask must have its image's size")
        image, mask = self.forward(image, mask)
        return image if mask is None else (image, mask)

    def extra_repr(self):
        return ""

    def __repr__(self):
        return f"{type(self).__name__}({self.extra_repr()})"


class Compose(JointTransform):
    """Apply ``transforms`` (joint transforms) one after the other."""

    def __init__(self, transforms):
        self.transforms = list(transforms)
        for t in self.transforms:
            if not isinstance(t, JointTransform):
                raise TypeError(f"Compose: expected joint transforms (ember.vision.transforms."
                                f"joint), got {type(t).__name__}; a single-image transform "
                                f"would move the image but not its mask")

    def forward(self, image, mask):
        for t in self.transforms:
            image, mask = t.forward(image, mask)
        return image, mask

    def __repr__(self):
        inner = "".join(f"\n    {t}" for t in self.transforms)
        return f"{type(self).__name__}({inner}\n)"


def _resize(image, mask, size, interpolation, max_size, antialias):
    image = F.resize(image, size, interpolation, max_size, antialias)
    if mask is not None:
        mask = F.resize(mask, size, NEAREST, max_size)
    return image, mask


class Resize(JointTransform):
    """Resize both to ``size`` (``(h, w)``, or an int for the shorter edge); the image with
    ``interpolation``, the mask with nearest neighbour (see ``F.resize``)."""

    def __init__(self, size, interpolation=InterpolationMode.BILINEAR, max_size=None,
                 antialias=True):
        self.size = T._check_size(size, "Resize")
        self.interpolation = InterpolationMode(interpolation)
        self.max_size = max_size
        self.antialias = antialias

    def forward(self, image, mask):
        return _resize(image, mask, self.size, self.interpolation, self.max_size, self.antialias)

    def extra_repr(self):
        return f"size={self.size}, interpolation={self.interpolation.value}"


class RandomResize(JointTransform):
    """Random scale (torchvision v2's ``RandomResize``): the shorter edge becomes an integer
    drawn uniformly from ``[min_size, max_size)``, the aspect ratio is kept."""

    def __init__(self, min_size, max_size, interpolation=InterpolationMode.BILINEAR,
                 antialias=True):
        if not 1 <= int(min_size) < int(max_size):
            raise ValueError(f"RandomResize: expected 1 <= min_size < max_size, got "
                             f"{min_size} and {max_size}")
        self.min_size, self.max_size = int(min_size), int(max_size)
        self.interpolation = InterpolationMode(interpolation)
        self.antialias = antialias

    def forward(self, image, mask):
        size = int(fetch_rng().integers(self.min_size, self.max_size))
        return _resize(image, mask, size, self.interpolation, None, self.antialias)

    def extra_repr(self):
        return f"min_size={self.min_size}, max_size={self.max_size}"


class CenterCrop(JointTransform):
    """The central ``size`` window of both (zero-padded image and ``mask_fill``-padded mask
    when they are smaller)."""

    def __init__(self, size, mask_fill=255):
        self.size = T._pair(size, "CenterCrop")
        self.mask_fill = mask_fill

    def forward(self, image, mask):
        _, h, w = F.get_dimensions(image)
        th, tw = self.size
        if th > h or tw > w:               # pad both first, so the mask gets its own fill
            image, mask = _pad(image, mask, _symmetric_padding(h, w, th, tw), 0, self.mask_fill,
                               "constant")
            _, h, w = F.get_dimensions(image)
        top, left = int(round((h - th) / 2.0)), int(round((w - tw) / 2.0))
        return _crop(image, mask, top, left, th, tw)

    def extra_repr(self):
        return f"size={self.size}"


def _symmetric_padding(h, w, th, tw):
    """``[left, top, right, bottom]`` growing ``h x w`` to at least ``th x tw``, split as
    ``center_crop`` splits it."""
    dw, dh = max(tw - w, 0), max(th - h, 0)
    return [dw // 2, dh // 2, (dw + 1) // 2, (dh + 1) // 2]


def _pad(image, mask, padding, fill, mask_fill, padding_mode):
    image = F.pad(image, padding, fill, padding_mode)
    if mask is not None:
        mask = F.pad(mask, padding, mask_fill, padding_mode)
    return image, mask


def _crop(image, mask, top, left, height, width):
    image = F.crop(image, top, left, height, width)
    if mask is not None:
        mask = F.crop(mask, top, left, height, width)
    return image, mask


class RandomCrop(JointTransform):
    """The same random ``size`` window of both, after optional padding (as ``RandomCrop``:
    ``padding`` pads every example first, ``pad_if_needed`` pads one smaller than ``size``).
    Padding fills the image with ``fill`` and the mask with ``mask_fill`` (constant mode;
    the other ``padding_mode`` values mirror or repeat both alike)."""

    def __init__(self, size, padding=None, pad_if_needed=False, fill=0, mask_fill=255,
                 padding_mode="constant"):
        self.size = T._pair(size, "RandomCrop")
        if padding is not None:
            F._parse_padding(padding, "RandomCrop")
        if padding_mode not in F._PADDING_MODES:
            raise ValueError(f"RandomCrop: padding mode should be either constant, edge, reflect "
                             f"or symmetric, got {padding_mode!r}")
        if not isinstance(mask_fill, numbers.Integral) or isinstance(mask_fill, bool):
            raise TypeError(f"RandomCrop: mask_fill must be an integer label, got {mask_fill!r}")
        self.padding = padding
        self.pad_if_needed = pad_if_needed
        self.fill = fill
        self.mask_fill = int(mask_fill)
        self.padding_mode = padding_mode

    def forward(self, image, mask):
        if self.padding is not None:
            image, mask = _pad(image, mask, self.padding, self.fill, self.mask_fill,
                               self.padding_mode)
        _, h, w = F.get_dimensions(image)
        if self.pad_if_needed and (h < self.size[0] or w < self.size[1]):
            dw, dh = max(self.size[1] - w, 0), max(self.size[0] - h, 0)
            image, mask = _pad(image, mask, [dw, dh], self.fill, self.mask_fill,
                               self.padding_mode)
        return _crop(image, mask, *T.RandomCrop.get_params(image, self.size))

    def extra_repr(self):
        return f"size={self.size}, padding={self.padding}, mask_fill={self.mask_fill}"


class RandomHorizontalFlip(JointTransform):
    """Mirror both left-right with probability ``p``."""

    def __init__(self, p=0.5):
        self.p = T._check_probability(p, "RandomHorizontalFlip")

    def forward(self, image, mask):
        if fetch_rng().random() >= self.p:
            return image, mask
        return F.hflip(image), None if mask is None else F.hflip(mask)

    def extra_repr(self):
        return f"p={self.p}"


class RandomVerticalFlip(JointTransform):
    """Mirror both top-bottom with probability ``p``."""

    def __init__(self, p=0.5):
        self.p = T._check_probability(p, "RandomVerticalFlip")

    def forward(self, image, mask):
        if fetch_rng().random() >= self.p:
            return image, mask
        return F.vflip(image), None if mask is None else F.vflip(mask)

    def extra_repr(self):
        return f"p={self.p}"


class RandomRotation(JointTransform):
    """Rotate both by the same angle drawn uniformly from ``degrees`` (``d`` means ``[-d,
    d]``), counter-clockwise about ``center``; the image with ``interpolation`` (nearest or
    bilinear), the mask with nearest neighbour; uncovered corners get ``fill`` and
    ``mask_fill``. ``expand=True`` enlarges both to hold the whole rotated image."""

    def __init__(self, degrees, interpolation=InterpolationMode.NEAREST, expand=False,
                 center=None, fill=0, mask_fill=255):
        self.degrees = T._setup_angle(degrees, "degrees")
        self.interpolation = InterpolationMode(interpolation)
        self.expand = expand
        self.center = T._check_center(center, "RandomRotation")
        self.fill = fill
        self.mask_fill = mask_fill

    def forward(self, image, mask):
        angle = T.RandomRotation.get_params(self.degrees)
        image = F.rotate(image, angle, self.interpolation, self.expand, self.center, self.fill)
        if mask is not None:
            mask = F.rotate(mask, angle, NEAREST, self.expand, self.center, self.mask_fill)
        return image, mask

    def extra_repr(self):
        return (f"degrees={self.degrees}, interpolation={self.interpolation.value}, "
                f"expand={self.expand}, fill={self.fill}, mask_fill={self.mask_fill}")


def mask_to_tensor(mask):
    """A mask (PIL image, ``(H, W)`` array or Tensor) as an int64 ``(H, W)`` Tensor of its
    labels (a palette image gives its palette indices, as Pascal VOC's masks store them)."""
    if isinstance(mask, ember.Tensor):
        labels = mask.detach().numpy()
    else:
        labels = np.asarray(mask)
    if labels.dtype.kind not in "biu":
        raise TypeError(f"ToTensor: a mask must hold integer labels, got dtype {labels.dtype}")
    return ember.from_numpy(np.ascontiguousarray(labels, dtype=np.int64))


class ToTensor(JointTransform):
    """The image as a float ``(C, H, W)`` Tensor in [0, 1] (``F.to_tensor``; a Tensor image is
    kept), the mask as an int64 ``(H, W)`` Tensor of labels (:func:`mask_to_tensor`)."""

    def forward(self, image, mask):
        if not isinstance(image, ember.Tensor):
            image = F.to_tensor(image)
        return image, None if mask is None else mask_to_tensor(mask)


class Normalize(JointTransform):
    """``(x - mean[c]) / std[c]`` on the float Tensor image (``F.normalize``); the mask is
    passed through."""

    def __init__(self, mean, std):
        self.mean = mean
        self.std = std

    def forward(self, image, mask):
        return F.normalize(image, self.mean, self.std), mask

    def extra_repr(self):
        return f"mean={self.mean}, std={self.std}"
