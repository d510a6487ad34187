"""Transforms for detection: each takes and returns ``(image, target)`` and moves the boxes
and instance masks with the image (torchvision's ``references/detection/transforms.py``).

``image`` is a tensor ``(C, H, W)``; ``target`` a dict with ``"boxes"`` ``(K, 4)`` xyxy pixels
and optionally ``"masks"`` ``(K, H, W)`` and per-object entries (``labels``, ``area``,
``iscrowd``, ``difficult``), which a crop filters together with the boxes. ``area`` follows
the change: scaled with a resize, and recounted from the masks (or the clipped boxes) after a
crop.

- ``RandomHorizontalFlip(p)``: ``x -> W - x`` (so ``x1' = W - x2``, ``x2' = W - x1``).
- ``Resize(size)``: ``(h, w)`` or the short side; boxes scale by ``(w'/w, h'/h)``, masks are
  resized by nearest neighbour.
- ``ScaleJitter(target_size, scale_range)``: resize by ``min(th/h, tw/w) · s`` with ``s``
  uniform in ``scale_range`` (large-scale jitter, Ghiasi et al. 2021).
- ``RandomCrop(size)``: a random ``size`` window; boxes are shifted and clipped to it, and
  objects left with a side shorter than ``min_size`` pixels are dropped.
"""
import numpy as np

import ember
from ember.nn import functional as F
from ember.vision.transforms import functional as TF

__all__ = ["Compose", "RandomHorizontalFlip", "Resize", "ScaleJitter", "RandomCrop"]

_PER_OBJECT = ("boxes", "labels", "masks", "area", "iscrowd", "difficult")


def _check(image, target, name):
    if not isinstance(image, ember.Tensor) or image.ndim != 3:
        shape = tuple(image.shape) if isinstance(image, ember.Tensor) else type(image).__name__
        raise TypeError(f"{name}: expected an image tensor (C, H, W), got {shape}")
    if not isinstance(target, dict) or "boxes" not in target:
        raise TypeError(f"{name}: expected a target dict with 'boxes'")
    return dict(target)


def _resize_target(target, old, new):
    """Boxes, masks and areas of an image resized from ``old`` to ``new`` ``(h, w)``."""
    sy, sx = new[0] / old[0], new[1] / old[1]
    target["boxes"] = target["boxes"] * ember.tensor([sx, sy, sx, sy], dtype=target["boxes"].dtype)
    if "masks" in target:
        masks = target["masks"]
        resized = F.interpolate(masks[:, None].float(), size=tuple(new))[:, 0] if len(masks) \
            else ember.zeros((0, *new))
        target["masks"] = resized.to(masks.dtype)
    if "area" in target:
        target["area"] = target["area"] * (sx * sy)
    return target


class Compose:
    """Apply detection transforms in order."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, image, target):
        for t in self.transforms:
            image, target = t(image, target)
        return image, target

    def __repr__(self):
        inner = "".join(f"\n    {t!r}" for t in self.transforms)
        return f"{type(self).__name__}({inner}\n)"


class RandomHorizontalFlip:
    """Mirror the image, its boxes and masks with probability ``p`` (Ember's generator)."""

    def __init__(self, p=0.5):
        self.p = p

    def __call__(self, image, target):
        target = _check(image, target, "RandomHorizontalFlip")
        if ember.rand(1).item() >= self.p:
            return image, target
        width = image.shape[-1]
        image = image.flip(-1)
        b = target["boxes"]
        target["boxes"] = ember.stack([width - b[:, 2], b[:, 1], width - b[:, 0], b[:, 3]], dim=1)
        if "masks" in target:
            target["masks"] = target["masks"].flip(-1)
        return image, target

    def __repr__(self):
        return f"{type(self).__name__}(p={self.p})"


class Resize:
    """Resize to ``size`` (``(h, w)``, or an int for the shorter side); bilinear image,
    nearest-neighbour masks, scaled boxes and areas."""

    def __init__(self, size, antialias=True):
        self.size, self.antialias = size, antialias

    def __call__(self, image, target):
        target = _check(image, target, "Resize")
        old = tuple(image.shape[-2:])
        image = TF.resize(image, self.size, antialias=self.antialias)
        return image, _resize_target(target, old, tuple(image.shape[-2:]))

    def __repr__(self):
        return f"{type(self).__name__}(size={self.size})"


class ScaleJitter:
    """Resize by ``min(target_h / h, target_w / w) · s``, ``s`` uniform in ``scale_range``
    (Ember's generator), keeping the aspect ratio."""

    def __init__(self, target_size, scale_range=(0.1, 2.0), antialias=True):
        self.target_size = tuple(target_size)
        self.scale_range = tuple(scale_range)
        if not 0 < self.scale_range[0] <= self.scale_range[1]:
            raise ValueError(f"ScaleJitter: scale_range must be (low, high) with 0 < low <= "
                             f"high, got {scale_range}")
        self.antialias = antialias

    def __call__(self, image, target):
        target = _check(image, target, "ScaleJitter")
        h, w = image.shape[-2:]
        low, high = self.scale_range
        s = low + (high - low) * ember.rand(1).item()
        r = min(self.target_size[0] / h, self.target_size[1] / w) * s
        new = (max(1, int(h * r)), max(1, int(w * r)))
        image = TF.resize(image, list(new), antialias=self.antialias)
        return image, _resize_target(target, (h, w), new)

    def __repr__(self):
        return (f"{type(self).__name__}(target_size={self.target_size}, "
                f"scale_range={self.scale_range})")


class RandomCrop:
    """Crop a random ``size`` (``(h, w)`` or an int) window; boxes shifted and clipped,
    objects with a clipped side shorter than ``min_size`` dropped (every per-object entry)."""

    def __init__(self, size, min_size=1.0):
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        self.min_size = min_size

    def __call__(self, image, target):
        target = _check(image, target, "RandomCrop")
        h, w = image.shape[-2:]
        ch, cw = self.size
        if ch > h or cw > w:
            raise ValueError(f"RandomCrop: crop size {self.size} is larger than the image "
                             f"{(h, w)}")
        top = int(ember.randint(0, h - ch + 1, (1,)).item())
        left = int(ember.randint(0, w - cw + 1, (1,)).item())
        image = image[:, top:top + ch, left:left + cw]
        b = target["boxes"].detach().numpy().astype(np.float64) - [left, top, left, top]
        b = np.stack([b[:, 0].clip(0, cw), b[:, 1].clip(0, ch), b[:, 2].clip(0, cw),
                      b[:, 3].clip(0, ch)], 1)
        keep = ((b[:, 2] - b[:, 0]) >= self.min_size) & ((b[:, 3] - b[:, 1]) >= self.min_size)
        index = ember.from_numpy(np.flatnonzero(keep))
        target["boxes"] = ember.from_numpy(b[keep].astype(np.float32)).to(target["boxes"].dtype)
        if "masks" in target:
            target["masks"] = target["masks"][:, top:top + ch, left:left + cw]
        for key in _PER_OBJECT[1:]:
            if key in target:
                target[key] = target[key][index]
        if "area" in target:
            area = (target["masks"].sum((1, 2)) if "masks" in target else
                    (target["boxes"][:, 2] - target["boxes"][:, 0])
                    * (target["boxes"][:, 3] - target["boxes"][:, 1]))
            target["area"] = area.to(target["area"].dtype)
        return image, target

    def __repr__(self):
        return f"{type(self).__name__}(size={self.size}, min_size={self.min_size})"
