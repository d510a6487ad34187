"""torchvision's ``DeepLabV3`` on a dilated ResNet (``deeplabv3_resnet50/101``): names,
arguments, module structure, ``state_dict`` keys and parameter counts are torchvision 0.28's.

DeepLab (Chen et al. 2017; lecture 003 「语义分割变种: DeepLab」, inventory D24) is an FCN
(``ember.vision.models.segmentation.fcn``: the same dilated backbone, auxiliary head and
bilinear upsampling) whose head is atrous spatial pyramid pooling (inventory B21): five
parallel branches — a 1x1 conv, three 3x3 convs dilated by 12, 24 and 36, and image-level
average pooling + 1x1 conv broadcast back to every pixel — each to 256 channels,
concatenated and projected by a 1x1 conv to 256 (Dropout 0.5), then a 3x3 conv, BatchNorm,
ReLU and a 1x1 conv to the classes. The dilated branches see context at several scales at
the same cost as a plain 3x3 convolution.
"""
import ember
from ember import nn
from ember.nn import functional as F
from ember.vision.models.resnet import resnet50, resnet101
from ember.vision.models.segmentation.fcn import _segmentation_resnet, _SimpleSegmentationModel

__all__ = ["DeepLabV3", "DeepLabHead", "ASPP", "ASPPConv", "ASPPPooling", "deeplabv3_resnet50",
           "deeplabv3_resnet101"]


class DeepLabV3(_SimpleSegmentationModel):
    """DeepLabV3 (torchvision's ``DeepLabV3``): see the module docstring."""


class ASPPConv(nn.Sequential):
    """A 3x3 convolution dilated by ``dilation`` (padding ``dilation`` keeps the size),
    BatchNorm, ReLU."""

    def __init__(self, in_channels, out_channels, dilation):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=dilation, dilation=dilation,
                      bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
        )


class ASPPPooling(nn.Sequential):
    """Image-level features: global average pool, 1x1 conv, BatchNorm, ReLU, then bilinear
    upsampling of the ``1 x 1`` map back to the input's size (every pixel gets the same
    vector)."""

    def __init__(self, in_channels, out_channels):
        super().__init__(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
        )

    def forward(self, x):
        size = tuple(x.shape[-2:])
        for module in self:
            x = module(x)
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: ``(N, in, H, W) -> (N, out_channels, H, W)``, the
    concatenation of a 1x1 conv branch, one :class:`ASPPConv` per rate of ``atrous_rates``
    and :class:`ASPPPooling`, projected by a 1x1 conv (BatchNorm, ReLU, Dropout(0.5))."""

    def __init__(self, in_channels, atrous_rates, out_channels=256):
        super().__init__()
        modules = [nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, bias=False),
                                 nn.BatchNorm2d(out_channels), nn.ReLU())]
        modules += [ASPPConv(in_channels, out_channels, rate) for rate in tuple(atrous_rates)]
        modules.append(ASPPPooling(in_channels, out_channels))
        self.convs = nn.ModuleList(modules)
        self.project = nn.Sequential(
            nn.Conv2d(len(self.convs) * out_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
            nn.Dropout(0.5),
        )

    def forward(self, x):
        return self.project(ember.cat([conv(x) for conv in self.convs], 1))


class DeepLabHead(nn.Sequential):
    """:class:`ASPP` (rates 12, 24, 36), 3x3 conv 256 -> 256, BatchNorm, ReLU, 1x1 conv to
    ``num_classes``."""

    def __init__(self, in_channels, num_classes, atrous_rates=(12, 24, 36)):
        super().__init__(
            ASPP(in_channels, atrous_rates),
            nn.Conv2d(256, 256, 3, padding=1, bias=False),
            nn.BatchNorm2d(256),
            nn.ReLU(),
            nn.Conv2d(256, num_classes, 1),
        )


def deeplabv3_resnet50(*, weights=None, num_classes=None, aux_loss=None, weights_backbone=None,
                       **kwargs):
    """DeepLabV3 on a dilated ResNet-50: 42,004,074 parameters with ``aux_loss=True`` and 21
    classes."""
    return _segmentation_resnet("deeplabv3_resnet50", DeepLabV3, DeepLabHead, resnet50,
                                weights,
                                num_classes, aux_loss, weights_backbone, kwargs)


def deeplabv3_resnet101(*, weights=None, num_classes=None, aux_loss=None,
                        weights_backbone=None, **kwargs):
    """DeepLabV3 on a dilated ResNet-101: 60,996,202 parameters with ``aux_loss=True`` and 21
    classes."""
    return _segmentation_resnet("deeplabv3_resnet101", DeepLabV3, DeepLabHead, resnet101,
                                weights,
                                num_classes, aux_loss, weights_backbone, kwargs)
