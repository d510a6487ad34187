"""``AnchorGenerator``: the reference boxes of the region proposal network.

Lecture 003 (「Faster R-CNN」, inventory D21, B50): at every position of a feature map the RPN
considers ``K`` anchor boxes of different sizes and shapes; with sizes ``s`` and aspect ratios
``a = h / w`` an anchor has ``h = s √a`` and ``w = s / √a`` (area ``s²``), centred on the
position's stride step (torchvision rounds the half-sizes to whole pixels). One set of sizes
and ratios per feature map: with a pyramid, small anchors on fine maps, large on coarse.
"""
import numpy as np

import ember
from ember import nn

__all__ = ["AnchorGenerator"]


class AnchorGenerator(nn.Module):
    """Anchors for a list of feature maps: ``sizes`` and ``aspect_ratios``, one tuple per map
    (a flat tuple of sizes means one size per map). ``forward(image_list, feature_maps)``
    returns, per image, the anchors ``(sum_l H_l W_l A_l, 4)`` in image coordinates, ordered
    map by map, then row by row, then anchor by anchor (the order of the heads' outputs)."""

    def __init__(self, sizes=((128, 256, 512),), aspect_ratios=((0.5, 1.0, 2.0),)):
        super().__init__()
        if not isinstance(sizes[0], (list, tuple)):
            sizes = tuple((s,) for s in sizes)
        if not isinstance(aspect_ratios[0], (list, tuple)):
            aspect_ratios = (aspect_ratios,) * len(sizes)
        if len(sizes) != len(aspect_ratios):
            raise ValueError(f"AnchorGenerator: {len(sizes)} sets of sizes but "
                             f"{len(aspect_ratios)} sets of aspect ratios (one each per map)")
        self.sizes = sizes
        self.aspect_ratios = aspect_ratios
        self.cell_anchors = [self.generate_anchors(s, a) for s, a in zip(sizes, aspect_ratios)]

    def generate_anchors(self, scales, aspect_ratios, dtype=ember.float32):
        """The ``len(aspect_ratios) · len(scales)`` anchors ``(x1, y1, x2, y2)`` centred on 0."""
        scales = np.asarray(scales, np.float32)
        ratios = np.asarray(aspect_ratios, np.float32)
        h_ratios = np.sqrt(ratios)
        w_ratios = 1 / h_ratios
        ws = (w_ratios[:, None] * scales[None, :]).reshape(-1)
        hs = (h_ratios[:, None] * scales[None, :]).reshape(-1)
        base = np.round(np.stack([-ws, -hs, ws, hs], axis=1) / 2)
        return ember.from_numpy(base.astype(np.float32)).to(dtype)

    def num_anchors_per_location(self):
        return [len(s) * len(a) for s, a in zip(self.sizes, self.aspect_ratios)]

    def grid_anchors(self, grid_sizes, strides):
        """Per map: the cell anchors shifted to every position, ``(H W A, 4)``."""
        if not len(grid_sizes) == len(strides) == len(self.cell_anchors):
            raise ValueError(f"AnchorGenerator: {len(grid_sizes)} feature maps but anchors for "
                             f"{len(self.cell_anchors)} (one set of sizes and aspect ratios per "
                             f"map)")
        anchors = []
        for (gh, gw), (sh, sw), base in zip(grid_sizes, strides, self.cell_anchors):
            shift_x = np.arange(gw, dtype=np.int64) * sw
            shift_y = np.arange(gh, dtype=np.int64) * sh
            yy, xx = np.meshgrid(shift_y, shift_x, indexing="ij")
            shifts = np.stack([xx.ravel(), yy.ravel(), xx.ravel(), yy.ravel()], 1)
            grid = (shifts[:, None, :] + base._data[None]).reshape(-1, 4)
            anchors.append(grid.astype(base._data.dtype))
        return anchors

    def forward(self, image_list, feature_maps):
        grid_sizes = [tuple(f.shape[-2:]) for f in feature_maps]
        image_size = tuple(image_list.tensors.shape[-2:])
        dtype = feature_maps[0].dtype
        strides = [(image_size[0] // g[0], image_size[1] // g[1]) for g in grid_sizes]
        self.cell_anchors = [a.to(dtype) for a in self.cell_anchors]
        anchors = np.concatenate(self.grid_anchors(grid_sizes, strides))
        return [ember.from_numpy(anchors.copy()) for _ in image_list.image_sizes]

    def extra_repr(self):
        return f"sizes={self.sizes}, aspect_ratios={self.aspect_ratios}"
