"""Residual networks (He et al. 2015; lectures 001 "ResNet", 002 "残差网络", 003 "ResNet").

A residual block (inventory B26, D5) learns the *change* ``F(x)`` and outputs ``relu(F(x) + x)``: when the
best thing to do is nothing, it only has to drive ``F`` to zero, and the identity path
carries the gradient unchanged to earlier layers (002 "残差网络为什么有用？").

- ImageNet ResNets (torchvision names, structure and ``state_dict`` keys): ``resnet18/34``
  (:class:`BasicBlock`: two 3x3 convs) and ``resnet50/101/152`` (:class:`Bottleneck`:
  1x1 reduce, 3x3, 1x1 expand x4), plus ResNeXt / wide variants through ``groups`` and
  ``width_per_group``. Stem ``conv1`` 64x3x7x7 stride 2 (003), max-pool, four stages
  ``layer1..layer4`` at strides 4, 8, 16, 32, global average pool, ``fc``.
- CIFAR ResNets (:class:`CifarResNet`, ``resnet20/32/56``): the 6n+2-layer networks of the
  paper's section 4.2 for 32x32 inputs.
"""
import ember
from ember import nn
from ember.nn import functional as F
from ember.vision.models._utils import _check_weights

__all__ = ["ResNet", "BasicBlock", "Bottleneck", "resnet18", "resnet34", "resnet50",
           "resnet101", "resnet152", "resnext50_32x4d", "wide_resnet50_2",
           "CifarResNet", "resnet20", "resnet32", "resnet56"]


def conv3x3(in_planes, out_planes, stride=1, groups=1, dilation=1):
    """3x3 convolution with "same" padding (no bias: a BatchNorm follows)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=dilation,
                     groups=groups, bias=False, dilation=dilation)


def conv1x1(in_planes, out_planes, stride=1):
    """1x1 convolution (no bias)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))`` with two 3x3 convs;
    ``(N, inplanes, H, W) -> (N, planes, H/stride, W/stride)``. ``downsample`` (a 1x1 conv
    + BN) matches the shortcut's shape when the stride or width changes."""

    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64,
                 dilation=1, norm_layer=None):
        super().__init__()
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        if groups != 1 or base_width != 64:
            raise ValueError(f"BasicBlock only supports groups=1 and base_width=64, got "
                             f"groups={groups}, base_width={base_width} (use Bottleneck)")
        if dilation > 1:
            raise ValueError(f"BasicBlock does not support dilation > 1, got {dilation} "
                             f"(replace_stride_with_dilation needs Bottleneck)")
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = norm_layer(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = norm_layer(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """``relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x)))))))) + shortcut(x))``: 1x1 down to
    ``width = planes * base_width / 64 * groups``, 3x3 (stride, groups, dilation), 1x1 up to
    ``4 * planes``. The stride sits on the 3x3 conv (torchvision's "ResNet v1.5")."""

    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64,
                 dilation=1, norm_layer=None):
        super().__init__()
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = conv1x1(inplanes, width)
        self.bn1 = norm_layer(width)
        self.conv2 = conv3x3(width, width, stride, groups, dilation)
        self.bn2 = norm_layer(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = norm_layer(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class ResNet(nn.Module):
    """``(N, 3, H, W) -> (N, num_classes)`` (any H, W >= 32), torchvision's signature.

    Args:
        block: :class:`BasicBlock` or :class:`Bottleneck`.
        layers: blocks per stage, e.g. ``[2, 2, 2, 2]`` (ResNet-18), ``[3, 4, 6, 3]`` (50).
        num_classes: outputs of ``fc``.
        zero_init_residual: start the last BN of every block at weight 0, so each block
            begins as the identity (Goyal et al. 2017).
        groups, width_per_group: ResNeXt cardinality and per-group width (Bottleneck only).
        replace_stride_with_dilation: three bools for ``layer2..4``; True keeps the
            resolution there and dilates the 3x3 convs instead (for dense prediction).
        norm_layer: the normalization constructor (default ``nn.BatchNorm2d``).

    Initialization (torchvision's): conv weights Kaiming-normal (fan_out, ReLU); norm
    weights 1, biases 0; ``fc`` keeps ``nn.Linear``'s default.
    """

    def __init__(self, block, layers, num_classes=1000, zero_init_residual=False, groups=1,
                 width_per_group=64, replace_stride_with_dilation=None, norm_layer=None):
        super().__init__()
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        self._norm_layer = norm_layer
        self.inplanes = 64
        self.dilation = 1
        if replace_stride_with_dilation is None:
            replace_stride_with_dilation = [False, False, False]
        if len(replace_stride_with_dilation) != 3:
            raise ValueError(f"ResNet: replace_stride_with_dilation should be None or a "
                             f"3-element tuple, got {replace_stride_with_dilation}")
        self.groups = groups
        self.base_width = width_per_group
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3,
                               bias=False)
        self.bn1 = norm_layer(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2,
                                       dilate=replace_stride_with_dilation[0])
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2,
                                       dilate=replace_stride_with_dilation[1])
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2,
                                       dilate=replace_stride_with_dilation[2])
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck) and m.bn3.weight is not None:
                    nn.init.constant_(m.bn3.weight, 0)
                elif isinstance(m, BasicBlock) and m.bn2.weight is not None:
                    nn.init.constant_(m.bn2.weight, 0)

    def _make_layer(self, block, planes, blocks, stride=1, dilate=False):
        norm_layer = self._norm_layer
        downsample = None
        previous_dilation = self.dilation
        if dilate:
            self.dilation *= stride
            stride = 1
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                norm_layer(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample, self.groups,
                        self.base_width, previous_dilation, norm_layer)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes, groups=self.groups,
                                base_width=self.base_width, dilation=self.dilation,
                                norm_layer=norm_layer))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        x = self.avgpool(x)
        x = ember.flatten(x, 1)
        return self.fc(x)


def _resnet(name, block, layers, weights, kwargs):
    _check_weights(weights, name, kwargs)
    return ResNet(block, layers, **kwargs)


def resnet18(*, weights=None, **kwargs):
    """ResNet-18 ([2, 2, 2, 2] basic blocks): 11,689,512 parameters."""
    return _resnet("resnet18", BasicBlock, [2, 2, 2, 2], weights, kwargs)


def resnet34(*, weights=None, **kwargs):
    """ResNet-34 ([3, 4, 6, 3] basic blocks): 21,797,672 parameters."""
    return _resnet("resnet34", BasicBlock, [3, 4, 6, 3], weights, kwargs)


def resnet50(*, weights=None, **kwargs):
    """ResNet-50 ([3, 4, 6, 3] bottlenecks): 25,557,032 parameters."""
    return _resnet("resnet50", Bottleneck, [3, 4, 6, 3], weights, kwargs)


def resnet101(*, weights=None, **kwargs):
    """ResNet-101 ([3, 4, 23, 3] bottlenecks): 44,549,160 parameters."""
    return _resnet("resnet101", Bottleneck, [3, 4, 23, 3], weights, kwargs)


def resnet152(*, weights=None, **kwargs):
    """ResNet-152 ([3, 8, 36, 3] bottlenecks): 60,192,808 parameters."""
    return _resnet("resnet152", Bottleneck, [3, 8, 36, 3], weights, kwargs)


def resnext50_32x4d(*, weights=None, **kwargs):
    """ResNeXt-50 32x4d: ResNet-50 with 32 groups of width 4 in the 3x3 convs."""
    kwargs = {"groups": 32, "width_per_group": 4, **kwargs}
    return _resnet("resnext50_32x4d", Bottleneck, [3, 4, 6, 3], weights, kwargs)


def wide_resnet50_2(*, weights=None, **kwargs):
    """Wide ResNet-50-2: ResNet-50 with twice as wide 3x3 convs (width_per_group 128)."""
    kwargs = {"width_per_group": 128, **kwargs}
    return _resnet("wide_resnet50_2", Bottleneck, [3, 4, 6, 3], weights, kwargs)


# ------------------------------------------------------------------------------------------
# CIFAR ResNets (He et al. 2015, section 4.2)
# ------------------------------------------------------------------------------------------
class _PadShortcut(nn.Module):
    """Option-A shortcut: ``x[:, :, ::stride, ::stride]`` with zero channels appended up to
    ``out_channels`` — parameter-free (``(N, C, H, W) -> (N, out_channels, H/s, W/s)``)."""

    def __init__(self, in_channels, out_channels, stride):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.stride = stride

    def forward(self, x):
        x = x[:, :, ::self.stride, ::self.stride]
        extra = self.out_channels - self.in_channels
        if extra == 0:
            return x
        # zero channels appended by padding the channel axis: one op whose configuration does
        # not depend on the batch size (so the block exports to ONNX with a dynamic batch)
        return F.pad(x, (0, 0, 0, 0, 0, extra))

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, stride={self.stride}")


class _CifarBlock(nn.Module):
    """Basic block of the CIFAR ResNets; the shortcut is identity, or when the shape changes
    option A (:class:`_PadShortcut`) or option B (1x1 conv + BN)."""

    def __init__(self, in_planes, planes, stride, shortcut):
        super().__init__()
        self.conv1 = conv3x3(in_planes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = None
        if stride != 1 or in_planes != planes:
            if shortcut == "A":
                self.shortcut = _PadShortcut(in_planes, planes, stride)
            else:
                self.shortcut = nn.Sequential(conv1x1(in_planes, planes, stride),
                                              nn.BatchNorm2d(planes))

    def forward(self, x):
        identity = x if self.shortcut is None else self.shortcut(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class CifarResNet(nn.Module):
    """The 6n+2-layer ResNet for 32x32 images (He et al. 2015, section 4.2):
    ``(N, 3, 32, 32) -> (N, num_classes)``.

    ``conv1`` 3x3 16 -> ``layer1`` (n blocks, 16 ch, 32x32) -> ``layer2`` (32 ch, 16x16) ->
    ``layer3`` (64 ch, 8x8) -> global average pool -> ``fc``. ``base_width`` scales the
    widths 16/32/64 (for quick experiments).

    ``shortcut="A"`` (default, the paper's CIFAR choice): where the shape changes the
    shortcut subsamples with stride 2 and pads the new channels with zeros, so the network
    has no extra parameters (ResNet-20: 269,722 with 10 classes; the paper's "0.27M").
    ``shortcut="B"``: a 1x1 conv + BN projection there, identity elsewhere.
    """

    def __init__(self, depth=20, num_classes=10, shortcut="A", base_width=16):
        super().__init__()
        if (depth - 2) % 6 != 0 or depth < 8:
            raise ValueError(f"CifarResNet: depth must be 6n+2 (20, 32, 44, 56, 110), got "
                             f"{depth}")
        if shortcut not in ("A", "B"):
            raise ValueError(f"CifarResNet: shortcut must be 'A' or 'B', got {shortcut!r}")
        n = (depth - 2) // 6
        widths = [base_width, 2 * base_width, 4 * base_width]
        self.conv1 = conv3x3(3, widths[0])
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        in_planes = widths[0]
        stages = []
        for i, planes in enumerate(widths):
            blocks = []
            for j in range(n):
                stride = 2 if (i > 0 and j == 0) else 1
                blocks.append(_CifarBlock(in_planes, planes, stride, shortcut))
                in_planes = planes
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[2], num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = ember.flatten(self.avgpool(x), 1)
        return self.fc(x)


def resnet20(*, weights=None, **kwargs):
    """CIFAR ResNet-20 (n = 3): ``num_classes=10``, ``shortcut='A'``, ``base_width=16``."""
    _check_weights(weights, "resnet20", kwargs)
    return CifarResNet(20, **kwargs)


def resnet32(*, weights=None, **kwargs):
    """CIFAR ResNet-32 (n = 5)."""
    _check_weights(weights, "resnet32", kwargs)
    return CifarResNet(32, **kwargs)


def resnet56(*, weights=None, **kwargs):
    """CIFAR ResNet-56 (n = 9)."""
    _check_weights(weights, "resnet56", kwargs)
    return CifarResNet(56, **kwargs)
