"""``GeneralizedRCNNTransform``: what happens to images between the user and an R-CNN.

Each image ``(C, H, W)`` (floats in [0, 1]) is normalized per channel, resized so that its
short side is ``min_size`` unless its long side would exceed ``max_size`` (bilinear; target
boxes scaled with it, target masks by nearest neighbour), and the batch is padded with zeros
to common dimensions divisible by ``size_divisible``. After the model, ``postprocess`` maps
the detected boxes back to each original image and pastes the masks into it.
"""
import math

import numpy as np

import ember
from ember import nn
from ember.nn import functional as F
from ember.vision.models.detection.image_list import ImageList
from ember.vision.models.detection.roi_heads import paste_masks_in_image

__all__ = ["GeneralizedRCNNTransform", "resize_boxes"]


def resize_boxes(boxes, original_size, new_size):
    """xyxy boxes ``(L, 4)`` of an image of ``original_size`` scaled to ``new_size``."""
    ratio_h = float(np.float32(new_size[0]) / np.float32(original_size[0]))
    ratio_w = float(np.float32(new_size[1]) / np.float32(original_size[1]))
    x1, y1, x2, y2 = boxes.unbind(1)
    return ember.stack((x1 * ratio_w, y1 * ratio_h, x2 * ratio_w, y2 * ratio_h), dim=1)


class GeneralizedRCNNTransform(nn.Module):
    """Normalize, resize and batch images (and their targets); see the module docstring.

    Args:
        min_size: the short side after resizing (a tuple: one picked at random per image in
            training, the last one in evaluation).
        max_size: the largest long side.
        image_mean, image_std: per-channel normalization.
        size_divisible: the padded batch's height and width are multiples of this.
        fixed_size: ``(width, height)`` to resize every image to, instead of min/max size.

    ``mask_paste_aligned`` (attribute, Ember's addition, default False as in torchvision):
    ``postprocess`` pastes the masks with ``paste_masks_in_image(..., aligned=True)``, the
    inverse of the aligned mask targets (``RoIHeads.mask_targets_aligned``).
    """

    def __init__(self, min_size, max_size, image_mean, image_std, size_divisible=32,
                 fixed_size=None, **kwargs):
        super().__init__()
        if not isinstance(min_size, (list, tuple)):
            min_size = (min_size,)
        self.min_size = tuple(min_size)
        self.max_size = max_size
        self.image_mean = list(image_mean)
        self.image_std = list(image_std)
        self.size_divisible = size_divisible
        self.fixed_size = fixed_size
        self._skip_resize = kwargs.pop("_skip_resize", False)
        self.mask_paste_aligned = False
        if kwargs:
            raise TypeError(f"GeneralizedRCNNTransform: unexpected arguments {sorted(kwargs)}")

    def forward(self, images, targets=None):
        images = list(images)
        if targets is not None:
            targets = [dict(t) for t in targets]
        for i, image in enumerate(images):
            if image.ndim != 3:
                raise ValueError(f"GeneralizedRCNNTransform: images must be 3-D tensors (C, H, W), "
                                 f"got shape {tuple(image.shape)}")
            image = self.normalize(image)
            image, target = self.resize(image, targets[i] if targets is not None else None)
            images[i] = image
            if targets is not None:
                targets[i] = target
        image_sizes = [tuple(img.shape[-2:]) for img in images]
        return ImageList(self.batch_images(images, self.size_divisible), image_sizes), targets

    def normalize(self, image):
        if image.dtype not in (ember.float16, ember.float32, ember.float64):
            raise TypeError(f"GeneralizedRCNNTransform: expected floating-point images in [0, 1], "
                            f"got {image.dtype}")
        if image.shape[0] != len(self.image_mean):
            raise ValueError(f"GeneralizedRCNNTransform: image has {image.shape[0]} channels but "
                             f"image_mean has {len(self.image_mean)} (shape {tuple(image.shape)})")
        mean = ember.tensor(self.image_mean, dtype=image.dtype)
        std = ember.tensor(self.image_std, dtype=image.dtype)
        return (image - mean[:, None, None]) / std[:, None, None]

    def torch_choice(self, k):
        """A random element of ``k`` from Ember's generator (seeded runs repeat)."""
        return k[int(ember.randint(0, len(k), (1,)).item())]

    def resize(self, image, target=None):
        h, w = image.shape[-2:]
        if self.training:
            if self._skip_resize:
                return image, target
            size = self.torch_choice(self.min_size)
        else:
            size = self.min_size[-1]
        if self.fixed_size is not None:
            out = (self.fixed_size[1], self.fixed_size[0])
            scale = None
        else:
            scale = min(size / min(h, w), self.max_size / max(h, w))
            out = (int(math.floor(h * scale)), int(math.floor(w * scale)))
        if out != (h, w):
            # torchvision recomputes the scale from the output size (recompute_scale_factor)
            image = F.interpolate(image[None], size=out, mode="bilinear", align_corners=False)[0]
            if target is not None and "masks" in target:
                masks = target["masks"][:, None].float()
                target["masks"] = F.interpolate(masks, size=out)[:, 0].to(ember.uint8)
        if target is None:
            return image, target
        target["boxes"] = resize_boxes(target["boxes"], (h, w), tuple(image.shape[-2:]))
        return image, target

    def batch_images(self, images, size_divisible=32):
        """``(N, C, H_max, W_max)``: the images padded with zeros at the bottom and right, the
        common size rounded up to a multiple of ``size_divisible``."""
        c = max(img.shape[0] for img in images)
        h = int(math.ceil(max(img.shape[1] for img in images) / size_divisible) * size_divisible)
        w = int(math.ceil(max(img.shape[2] for img in images) / size_divisible) * size_divisible)
        padded = [F.pad(img, (0, w - img.shape[2], 0, h - img.shape[1], 0, c - img.shape[0]))
                  for img in images]
        return ember.stack(padded)

    def postprocess(self, result, image_shapes, original_image_sizes):
        """Boxes back to the original image sizes; masks pasted into the original images."""
        if self.training:
            return result
        for pred, size, original in zip(result, image_shapes, original_image_sizes):
            pred["boxes"] = resize_boxes(pred["boxes"], size, original)
            if "masks" in pred:
                pred["masks"] = paste_masks_in_image(pred["masks"], pred["boxes"], original,
                                                     aligned=self.mask_paste_aligned)
        return result

    def __repr__(self):
        return (f"{type(self).__name__}(\n    Normalize(mean={self.image_mean}, "
                f"std={self.image_std})\n    Resize(min_size={self.min_size}, "
                f"max_size={self.max_size}, mode='bilinear')\n)")
