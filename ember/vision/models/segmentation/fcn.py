"""torchvision's ``FCN`` on a dilated ResNet (``fcn_resnet50``, ``fcn_resnet101``): names,
arguments, module structure, ``state_dict`` keys and parameter counts are torchvision 0.28's,
so its weights load as they are.

The backbone is a ResNet whose ``layer3`` and ``layer4`` replace their stride by dilation
(``replace_stride_with_dilation=[False, True, True]``): the 3x3 convolutions of those stages
look at pixels 2 and 4 apart instead of sub-sampling, so the features stay at 1/8 of the
input size while the receptive field grows as in the classifier (DeepLab's "atrous"
convolution; lecture 003 「语义分割变种: DeepLab」, inventory D24). A fully convolutional head
(Long, Shelhamer & Darrell 2015; lectures 000/004, inventory D13), ``FCNHead(2048)`` = 3x3
conv to 512, BatchNorm, ReLU, Dropout(0.1), 1x1 conv, maps ``layer4``'s 2048 channels to
class scores at 1/8 resolution, and a bilinear ``F.interpolate`` brings them back to the
input size: the "H x W x F" score volume of lecture 003 whose per-pixel argmax is the
segmentation (inventory C2, C14, E8). ``aux_loss=True`` adds an ``FCNHead`` on ``layer3``
(1024 channels) whose output ``"aux"`` serves only as a second training loss (torchvision's
reference weighs it 0.5). ``deeplabv3.py`` swaps the head for atrous spatial pyramid pooling.

Every model returns an ``OrderedDict`` ``{"out": (N, num_classes, H, W)}`` (plus ``"aux"``).
Ember never downloads: ``weights`` and ``weights_backbone`` must be None (torchvision's
``weights_backbone`` defaults to ImageNet weights, which it downloads).
"""
from collections import OrderedDict

from ember import nn
from ember.nn import functional as F
from ember.vision.models._utils import IntermediateLayerGetter, _check_weights
from ember.vision.models.resnet import resnet50, resnet101

__all__ = ["FCN", "FCNHead", "fcn_resnet50", "fcn_resnet101"]


class _SimpleSegmentationModel(nn.Module):
    """``backbone`` (returning ``{"out": ..., "aux": ...}`` features), ``classifier`` and an
    optional ``aux_classifier``; both heads' scores are resized bilinearly to the input's
    height and width: ``(N, C, H, W) -> {"out": (N, classes, H, W)[, "aux": ...]}``."""

    def __init__(self, backbone, classifier, aux_classifier=None):
        super().__init__()
        self.backbone = backbone
        self.classifier = classifier
        self.aux_classifier = aux_classifier

    def forward(self, x):
        size = tuple(x.shape[-2:])
        features = self.backbone(x)
        result = OrderedDict()
        result["out"] = F.interpolate(self.classifier(features["out"]), size=size,
                                      mode="bilinear", align_corners=False)
        if self.aux_classifier is not None:
            result["aux"] = F.interpolate(self.aux_classifier(features["aux"]), size=size,
                                          mode="bilinear", align_corners=False)
        return result


class FCN(_SimpleSegmentationModel):
    """Fully convolutional network (torchvision's ``FCN``): see the module docstring."""


class FCNHead(nn.Sequential):
    """3x3 conv ``in -> in/4`` (no bias), BatchNorm, ReLU, Dropout(0.1), 1x1 conv to
    ``channels``."""

    def __init__(self, in_channels, channels):
        inter_channels = in_channels // 4
        super().__init__(
            nn.Conv2d(in_channels, inter_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(inter_channels),
            nn.ReLU(),
            nn.Dropout(0.1),
            nn.Conv2d(inter_channels, channels, 1),
        )


def _segmentation_resnet(name, model, head, backbone_builder, weights, num_classes, aux_loss,
                         weights_backbone, kwargs):
    """The builders' common part: check the weights and keywords, dilate ``layer3`` and
    ``layer4`` of the backbone, take ``layer4`` (and ``layer3`` for ``aux_loss``) as
    features and attach ``head(2048, num_classes)`` (and ``FCNHead(1024, num_classes)``)."""
    _check_weights(weights, name, kwargs)
    if kwargs.pop("pretrained_backbone", False) and weights_backbone is None:
        weights_backbone = "DEFAULT"
    _check_weights(weights_backbone, f"{name} (weights_backbone)", {})
    if kwargs:
        raise TypeError(f"{name}() got unexpected keyword argument(s) {', '.join(sorted(kwargs))}; "
                        f"it takes weights, num_classes, aux_loss and weights_backbone")
    num_classes = 21 if num_classes is None else num_classes
    backbone = backbone_builder(replace_stride_with_dilation=[False, True, True])
    return_layers = {"layer4": "out"}
    if aux_loss:
        return_layers["layer3"] = "aux"
    backbone = IntermediateLayerGetter(backbone, return_layers=return_layers)
    aux_classifier = FCNHead(1024, num_classes) if aux_loss else None
    return model(backbone, head(2048, num_classes), aux_classifier)


def fcn_resnet50(*, weights=None, num_classes=None, aux_loss=None, weights_backbone=None,
                 **kwargs):
    """FCN on a dilated ResNet-50: 35,322,218 parameters with ``aux_loss=True`` and 21
    classes (torchvision's count; 32,957,013 without the auxiliary head)."""
    return _segmentation_resnet("fcn_resnet50", FCN, FCNHead, resnet50, weights, num_classes,
                                aux_loss, weights_backbone, kwargs)


def fcn_resnet101(*, weights=None, num_classes=None, aux_loss=None, weights_backbone=None,
                  **kwargs):
    """FCN on a dilated ResNet-101: 54,314,346 parameters with ``aux_loss=True`` and 21
    classes."""
    return _segmentation_resnet("fcn_resnet101", FCN, FCNHead, resnet101, weights, num_classes,
                                aux_loss, weights_backbone, kwargs)


