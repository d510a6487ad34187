"""Feature Pyramid Network (Lin et al. 2017; ``torchvision.ops.FeaturePyramidNetwork``).

A backbone's deep maps see large objects well but are coarse; its early maps are fine but
shallow. The FPN gives every level both: a 1x1 "inner" conv brings each backbone map to
``out_channels``, a top-down pass adds to each level the (nearest-neighbour) upsampled
result of the level above, and a 3x3 "layer" conv smooths each sum::

    inner_L = conv1x1_L(C_L);   inner_l = conv1x1_l(C_l) + upsample(inner_{l+1})
    P_l = conv3x3_l(inner_l)

``extra_blocks`` add coarser levels: ``LastLevelMaxPool`` (Faster R-CNN's ``"pool"``, a
stride-2 subsampling of the last level) or ``LastLevelP6P7`` (RetinaNet).
"""
from collections import OrderedDict

from ember import nn
from ember.nn import functional as F
from ember.vision.ops.misc import Conv2dNormActivation

__all__ = ["FeaturePyramidNetwork", "ExtraFPNBlock", "LastLevelMaxPool", "LastLevelP6P7"]


class ExtraFPNBlock(nn.Module):
    """Base of the extra FPN levels; a subclass defines ``forward(results, x, names) ->
    (results, names)``, given the FPN outputs, the backbone maps and the level names."""


class FeaturePyramidNetwork(nn.Module):
    """FPN over ``len(in_channels_list)`` maps, finest first (see the module docstring).

    Args:
        in_channels_list: the channels of each input map.
        out_channels: the channels of every output level.
        extra_blocks: an ``ExtraFPNBlock`` or None.
        norm_layer: a normalization after each conv (None: convs with bias).

    ``forward(x)``: an ordered dict of maps ``(N, C_l, H_l, W_l)``; returns an ordered dict
    with the same names (plus the extra block's) of ``(N, out_channels, H_l, W_l)`` maps.
    Initialization as torchvision: Kaiming-uniform (``a = 1``) weights, zero biases.
    """

    def __init__(self, in_channels_list, out_channels, extra_blocks=None, norm_layer=None):
        super().__init__()
        self.inner_blocks = nn.ModuleList()
        self.layer_blocks = nn.ModuleList()
        for in_channels in in_channels_list:
            if in_channels == 0:
                raise ValueError("FeaturePyramidNetwork: in_channels=0 is not supported")
            self.inner_blocks.append(Conv2dNormActivation(
                in_channels, out_channels, kernel_size=1, padding=0, norm_layer=norm_layer,
                activation_layer=None))
            self.layer_blocks.append(Conv2dNormActivation(
                out_channels, out_channels, kernel_size=3, norm_layer=norm_layer,
                activation_layer=None))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_uniform_(m.weight, a=1)
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0)
        if extra_blocks is not None and not isinstance(extra_blocks, ExtraFPNBlock):
            raise TypeError(f"FeaturePyramidNetwork: extra_blocks should be an ExtraFPNBlock, "
                            f"got {type(extra_blocks).__name__}")
        self.extra_blocks = extra_blocks

    def forward(self, x):
        names = list(x.keys())
        maps = list(x.values())
        if len(maps) != len(self.inner_blocks):
            raise ValueError(f"FeaturePyramidNetwork: expected {len(self.inner_blocks)} feature "
                             f"maps, got {len(maps)}")
        last_inner = self.inner_blocks[-1](maps[-1])
        results = [self.layer_blocks[-1](last_inner)]
        for idx in range(len(maps) - 2, -1, -1):
            lateral = self.inner_blocks[idx](maps[idx])
            top_down = F.interpolate(last_inner, size=tuple(lateral.shape[-2:]), mode="nearest")
            last_inner = lateral + top_down
            results.insert(0, self.layer_blocks[idx](last_inner))
        if self.extra_blocks is not None:
            results, names = self.extra_blocks(results, maps, names)
        return OrderedDict(zip(names, results))


class LastLevelMaxPool(ExtraFPNBlock):
    """Adds the level ``"pool"``: the last level subsampled by 2 (``max_pool2d`` with a 1x1
    kernel and stride 2)."""

    def forward(self, x, y, names):
        names.append("pool")
        x.append(F.max_pool2d(x[-1], kernel_size=1, stride=2, padding=0))
        return x, names


class LastLevelP6P7(ExtraFPNBlock):
    """RetinaNet's extra levels ``p6 = conv3x3/2(P5 or C5)`` and ``p7 = conv3x3/2(relu(p6))``
    (P5 when ``in_channels == out_channels``, else the backbone's C5)."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.p6 = nn.Conv2d(in_channels, out_channels, 3, 2, 1)
        self.p7 = nn.Conv2d(out_channels, out_channels, 3, 2, 1)
        for module in (self.p6, self.p7):
            nn.init.kaiming_uniform_(module.weight, a=1)
            nn.init.constant_(module.bias, 0)
        self.use_P5 = in_channels == out_channels

    def forward(self, p, c, names):
        p5, c5 = p[-1], c[-1]
        p6 = self.p6(p5 if self.use_P5 else c5)
        p7 = self.p7(F.relu(p6))
        p.extend([p6, p7])
        names.extend(["p6", "p7"])
        return p, names
