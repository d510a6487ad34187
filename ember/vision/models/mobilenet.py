"""MobileNets: depthwise-separable convolutions (lecture 003 "MobileNet (2017)"; inventory
B18, D7).

A standard 3x3 convolution from C to C channels costs ``9 C^2 H W`` multiply-adds; a
*depthwise* 3x3 convolution (one filter per channel, ``groups = C``) followed by a
*pointwise* 1x1 convolution costs ``(9C + C^2) H W`` — a speed-up of ``9C / (9 + C)``,
about 9 for wide layers (003). Example from the lecture: 3 -> 8 channels, 3x3, no bias:
216 weights for a normal convolution, 27 + 24 = 51 for a depthwise-separable one.

- :func:`mobilenet_v1` (Howard et al. 2017), the lecture's network, with the width
  multiplier ``alpha`` and resolution ``rho`` of its tables: 1.0 MobileNet-224 has
  4,231,976 parameters and about 569 M multiply-adds; 0.50 MobileNet-160 1.33 M and 76 M.
- :func:`mobilenet_v2` (Sandler et al. 2018), torchvision's structure and ``state_dict``
  keys: inverted residual blocks (1x1 expand x6, depthwise 3x3, linear 1x1 project).
"""
import ember
from ember import nn
from ember.vision.models._utils import _check_weights
from ember.vision.ops.misc import Conv2dNormActivation

__all__ = ["Conv2dNormActivation", "DepthwiseSeparableConv", "MobileNetV1", "mobilenet_v1",
           "InvertedResidual", "MobileNetV2", "mobilenet_v2"]


def _init_mobilenet(model):
    """torchvision's MobileNet initialization: conv Kaiming-normal (fan_out) with zero
    bias, norm weight 1 / bias 0, linear ``N(0, 0.01^2)`` with zero bias."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)


# ------------------------------------------------------------------------------------------
# MobileNet v1
# ------------------------------------------------------------------------------------------
class DepthwiseSeparableConv(nn.Module):
    """``depthwise`` 3x3 conv (``groups = in_channels``, stride) + BN + ReLU, then
    ``pointwise`` 1x1 conv to ``out_channels`` + BN + ReLU:
    ``(N, C_in, H, W) -> (N, C_out, H/stride, W/stride)``."""

    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.depthwise = Conv2dNormActivation(in_channels, in_channels, 3, stride,
                                              groups=in_channels)
        self.pointwise = Conv2dNormActivation(in_channels, out_channels, 1)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


# (output channels, stride) of the 13 depthwise-separable layers of the paper's Table 1.
# The table prints stride 2 for the last depthwise layer, but its 7x7 input and output
# show stride 1 (the paper's known typo); stride 1 it is.
_V1_LAYERS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
              (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)]


class MobileNetV1(nn.Module):
    """``(N, 3, resolution, resolution) -> (N, num_classes)``.

    ``features``: conv 3x3 stride 2 (32 channels) + 13 :class:`DepthwiseSeparableConv`
    layers (overall stride 32); ``avgpool``: average over the final
    ``resolution/32 x resolution/32`` map; ``fc``: ``Linear(1024 * alpha, num_classes)``.
    Every conv is followed by BatchNorm and ReLU, as in the paper.

    Args:
        num_classes: outputs of ``fc``.
        width_mult: the width multiplier alpha: every layer has ``int(c * alpha)``
            channels (the paper's 1.0 / 0.75 / 0.5 / 0.25).
        resolution: the input size rho * 224 (224, 192, 160, 128); a multiple of 32. It
            fixes the final pooling window, and inputs of another size are rejected.
        dropout: dropout before ``fc`` (0 in the paper).
    """

    def __init__(self, num_classes=1000, width_mult=1.0, resolution=224, dropout=0.0):
        super().__init__()
        if resolution % 32 != 0 or resolution <= 0:
            raise ValueError(f"MobileNetV1: resolution must be a positive multiple of 32, "
                             f"got {resolution}")
        if width_mult <= 0:
            raise ValueError(f"MobileNetV1: width_mult must be positive, got {width_mult}")
        self.width_mult = width_mult
        self.resolution = resolution
        in_channels = int(32 * width_mult)
        layers = [Conv2dNormActivation(3, in_channels, 3, stride=2)]
        for channels, stride in _V1_LAYERS:
            out_channels = int(channels * width_mult)
            layers.append(DepthwiseSeparableConv(in_channels, out_channels, stride))
            in_channels = out_channels
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AvgPool2d(resolution // 32)
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(in_channels, num_classes)
        _init_mobilenet(self)

    def forward(self, x):
        if tuple(x.shape[-2:]) != (self.resolution, self.resolution):
            raise ValueError(f"MobileNetV1: built for {self.resolution}x{self.resolution} "
                             f"inputs (resolution={self.resolution}), got shape "
                             f"{tuple(x.shape)}")
        x = self.avgpool(self.features(x))
        return self.fc(self.dropout(ember.flatten(x, 1)))


def mobilenet_v1(*, weights=None, width_mult=1.0, resolution=224, **kwargs):
    """The lecture's MobileNet: ``mobilenet_v1(width_mult=1.0, resolution=224,
    num_classes=1000, dropout=0.0)`` (:class:`MobileNetV1`). ``weights`` must be None."""
    _check_weights(weights, "mobilenet_v1", kwargs)
    return MobileNetV1(width_mult=width_mult, resolution=resolution, **kwargs)


# ------------------------------------------------------------------------------------------
# MobileNet v2 (torchvision)
# ------------------------------------------------------------------------------------------
def _make_divisible(v, divisor, min_value=None):
    """Round ``v`` to the nearest multiple of ``divisor`` (at least ``min_value``), never
    going more than 10% below ``v`` — the channel rounding of the TensorFlow original."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class InvertedResidual(nn.Module):
    """``conv``: [1x1 expand to ``inp * expand_ratio`` + BN + ReLU6] -> depthwise 3x3
    (stride) + BN + ReLU6 -> 1x1 project to ``oup`` + BN (linear: no activation); plus the
    input when ``stride == 1 and inp == oup``."""

    def __init__(self, inp, oup, stride, expand_ratio, norm_layer=None):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"InvertedResidual: stride should be 1 or 2, got {stride}")
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        self.stride = stride
        hidden_dim = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers = []
        if expand_ratio != 1:
            layers.append(Conv2dNormActivation(inp, hidden_dim, kernel_size=1,
                                               norm_layer=norm_layer,
                                               activation_layer=nn.ReLU6))
        layers.extend([
            Conv2dNormActivation(hidden_dim, hidden_dim, stride=stride, groups=hidden_dim,
                                 norm_layer=norm_layer, activation_layer=nn.ReLU6),
            nn.Conv2d(hidden_dim, oup, 1, 1, 0, bias=False),
            norm_layer(oup),
        ])
        self.conv = nn.Sequential(*layers)
        self.out_channels = oup

    def forward(self, x):
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetV2(nn.Module):
    """``(N, 3, H, W) -> (N, num_classes)``, torchvision's signature.

    Args:
        num_classes: outputs of the classifier.
        width_mult: channel multiplier (rounded to multiples of ``round_nearest``; the last
            1280-channel layer only grows, never shrinks).
        inverted_residual_setting: rows ``[t, c, n, s]`` (expansion, channels, repeats,
            first stride); default the paper's Table 2.
        round_nearest: channel rounding multiple.
        block: the block class (default :class:`InvertedResidual`).
        norm_layer: normalization constructor (default ``nn.BatchNorm2d``).
        dropout: dropout before the final linear layer.
    """

    def __init__(self, num_classes=1000, width_mult=1.0, inverted_residual_setting=None,
                 round_nearest=8, block=None, norm_layer=None, dropout=0.2):
        super().__init__()
        if block is None:
            block = InvertedResidual
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        input_channel = 32
        last_channel = 1280
        if inverted_residual_setting is None:
            inverted_residual_setting = [
                [1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2],
                [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1],
            ]
        if len(inverted_residual_setting) == 0 or any(
                len(row) != 4 for row in inverted_residual_setting):
            raise ValueError(f"MobileNetV2: inverted_residual_setting should be a non-empty "
                             f"list of [t, c, n, s] rows, got {inverted_residual_setting}")
        input_channel = _make_divisible(input_channel * width_mult, round_nearest)
        self.last_channel = _make_divisible(last_channel * max(1.0, width_mult),
                                            round_nearest)
        features = [Conv2dNormActivation(3, input_channel, stride=2, norm_layer=norm_layer,
                                         activation_layer=nn.ReLU6)]
        for t, c, n, s in inverted_residual_setting:
            output_channel = _make_divisible(c * width_mult, round_nearest)
            for i in range(n):
                stride = s if i == 0 else 1
                features.append(block(input_channel, output_channel, stride, expand_ratio=t,
                                      norm_layer=norm_layer))
                input_channel = output_channel
        features.append(Conv2dNormActivation(input_channel, self.last_channel, kernel_size=1,
                                             norm_layer=norm_layer,
                                             activation_layer=nn.ReLU6))
        self.features = nn.Sequential(*features)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(self.last_channel, num_classes),
        )
        _init_mobilenet(self)

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(ember.flatten(x, 1))


def mobilenet_v2(*, weights=None, **kwargs):
    """torchvision's ``mobilenet_v2``: 3,504,872 parameters at ``width_mult=1.0``;
    ``kwargs`` go to :class:`MobileNetV2`."""
    _check_weights(weights, "mobilenet_v2", kwargs)
    return MobileNetV2(**kwargs)
