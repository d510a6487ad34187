"""``MultiScaleRoIAlign``: RoI Align over a feature pyramid (``torchvision.ops.poolers``).

A feature pyramid holds maps at strides 4, 8, 16, 32, ...; a box should be pooled from the
level whose resolution suits its size. The FPN paper's rule (eq. 1), with ``k0 = 4`` the
level of a 224x224 box::

    level(box) = clamp(floor(k0 + log2(sqrt(w h) / 224) + 1e-6), k_min, k_max)

The scale of each level (``2^-level``) is inferred from the map and image sizes. Boxes are
grouped by level, each group pooled by ``roi_align`` on its map, and the results put back
in the boxes' order (one gather, so the gradient reaches every level).
"""
import math

import numpy as np

import ember
from ember import nn
from ember.vision.ops.boxes import box_area
from ember.vision.ops.roi import convert_boxes_to_roi_format, roi_align

__all__ = ["MultiScaleRoIAlign", "LevelMapper"]


class LevelMapper:
    """The FPN level (0-based from ``k_min``) of each box: ``floor(canonical_level +
    log2(sqrt(area) / canonical_scale) + eps)``, clamped to ``[k_min, k_max]``."""

    def __init__(self, k_min, k_max, canonical_scale=224, canonical_level=4, eps=1e-6):
        self.k_min, self.k_max = k_min, k_max
        self.s0, self.lvl0, self.eps = canonical_scale, canonical_level, eps

    def __call__(self, boxlists):
        """``boxlists``: per-image xyxy boxes; returns int64 levels ``(sum L_i,)`` (NumPy)."""
        s = np.sqrt(np.concatenate([box_area(b)._data for b in boxlists]))
        with np.errstate(divide="ignore"):
            levels = np.floor(self.lvl0 + np.log2(s / self.s0) + np.asarray(self.eps, s.dtype))
        return (np.clip(levels, self.k_min, self.k_max).astype(np.int64) - self.k_min)


def _infer_scale(feature, original_size):
    """The power of two closest to ``feature height / image height``."""
    approx = feature.shape[-2] / original_size[0]
    return 2.0 ** round(math.log2(approx))


class MultiScaleRoIAlign(nn.Module):
    """RoI Align of boxes on the pyramid level that suits each one's size (see the module
    docstring); with one feature map it is plain ``roi_align`` at that map's scale.

    Args:
        featmap_names: the names (keys of the feature dict) of the maps to pool from, finest
            first.
        output_size: ``(PH, PW)`` or one int.
        sampling_ratio: as in ``roi_align``.
        canonical_scale, canonical_level: ``224`` and ``k0 = 4`` of the FPN rule.

    ``forward(x, boxes, image_shapes)``: ``x`` an (ordered) dict of maps ``(N, C, H_l, W_l)``,
    ``boxes`` a list of ``(L_i, 4)`` xyxy boxes per image in image coordinates, and
    ``image_shapes`` the ``(height, width)`` of each image, from which the level scales are
    inferred on the first call. Returns ``(sum L_i, C, PH, PW)``.
    """

    def __init__(self, featmap_names, output_size, sampling_ratio, *, canonical_scale=224,
                 canonical_level=4):
        super().__init__()
        if isinstance(output_size, int):
            output_size = (output_size, output_size)
        self.featmap_names = list(featmap_names)
        self.sampling_ratio = sampling_ratio
        self.output_size = tuple(output_size)
        self.scales = None
        self.map_levels = None
        self.canonical_scale = canonical_scale
        self.canonical_level = canonical_level

    def _setup_scales(self, features, image_shapes):
        if not image_shapes:
            raise ValueError("MultiScaleRoIAlign: image_shapes is empty")
        original = (max(s[0] for s in image_shapes), max(s[1] for s in image_shapes))
        self.scales = [_infer_scale(f, original) for f in features]
        lvl_min = -math.log2(self.scales[0])
        lvl_max = -math.log2(self.scales[-1])
        self.map_levels = LevelMapper(int(lvl_min), int(lvl_max), self.canonical_scale,
                                      self.canonical_level)

    def forward(self, x, boxes, image_shapes):
        missing = [name for name in self.featmap_names if name not in x]
        if missing:
            raise KeyError(f"MultiScaleRoIAlign: feature maps {missing} are not among the "
                           f"inputs {list(x)}")
        features = [v for k, v in x.items() if k in self.featmap_names]
        if self.scales is None:
            self._setup_scales(features, image_shapes)
        rois = convert_boxes_to_roi_format(boxes)
        if len(features) == 1:
            return roi_align(features[0], rois, self.output_size, self.scales[0],
                             self.sampling_ratio)
        levels = self.map_levels(boxes)
        pooled, order = [], []
        for level, (feature, scale) in enumerate(zip(features, self.scales)):
            # every level is pooled, also without boxes, so each map gets a (zero) gradient
            idx = np.flatnonzero(levels == level)
            pooled.append(roi_align(feature, rois[ember.from_numpy(idx)], self.output_size,
                                    scale, self.sampling_ratio))
            order.append(idx)
        inverse = np.empty(len(levels), np.int64)
        inverse[np.concatenate(order)] = np.arange(len(levels))
        return ember.cat(pooled).index_select(0, ember.from_numpy(inverse))

    def __repr__(self):
        return (f"{type(self).__name__}(featmap_names={self.featmap_names}, "
                f"output_size={self.output_size}, sampling_ratio={self.sampling_ratio})")
