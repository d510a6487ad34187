"""Mask R-CNN (He et al. 2017), torchvision's ``MaskRCNN`` and ``maskrcnn_resnet50_fpn``.

Lecture 003 (「Mask R-CNN」, inventory D22, E9): Faster R-CNN plus a small fully convolutional
head that predicts, for every detected box, a ``28x28`` mask per class from ``14x14`` RoI
Align features (the precise alignment is what made RoI Align necessary). Instance
segmentation: every object gets its own mask, unlike semantic segmentation's one label per
pixel.
"""
from collections import OrderedDict

from ember import nn
from ember.vision.models._utils import _check_weights
from ember.vision.models.detection.backbone_utils import (_resnet_fpn_extractor,
                                                          _validate_trainable_layers)
from ember.vision.models.detection.faster_rcnn import FasterRCNN, _init_convolutions
from ember.vision.models.resnet import resnet50
from ember.vision.ops.misc import Conv2dNormActivation
from ember.vision.ops.poolers import MultiScaleRoIAlign

__all__ = ["MaskRCNN", "MaskRCNNHeads", "MaskRCNNPredictor", "maskrcnn_resnet50_fpn"]


class MaskRCNN(FasterRCNN):
    """Faster R-CNN plus ``mask_roi_pool`` (default ``MultiScaleRoIAlign(["0", "1", "2",
    "3"], 14, 2)``), ``mask_head`` (default four 3x3 conv layers of 256) and
    ``mask_predictor`` (default ``MaskRCNNPredictor(256, 256, num_classes)``); the other
    arguments are :class:`FasterRCNN`'s. Targets need ``masks`` ``(L, H, W)`` uint8; outputs
    have ``masks`` ``(L, 1, H, W)`` probabilities (threshold at 0.5 for binary masks)."""

    def __init__(self, backbone, num_classes=None, *args, mask_roi_pool=None, mask_head=None,
                 mask_predictor=None, **kwargs):
        if not isinstance(mask_roi_pool, (MultiScaleRoIAlign, type(None))):
            raise TypeError(f"MaskRCNN: mask_roi_pool must be a MultiScaleRoIAlign or None, got "
                            f"{type(mask_roi_pool).__name__}")
        if num_classes is not None and mask_predictor is not None:
            raise ValueError("MaskRCNN: num_classes should be None when mask_predictor is given")
        out_channels = backbone.out_channels
        if mask_roi_pool is None:
            mask_roi_pool = MultiScaleRoIAlign(featmap_names=["0", "1", "2", "3"],
                                               output_size=14, sampling_ratio=2)
        if mask_head is None:
            mask_head = MaskRCNNHeads(out_channels, (256, 256, 256, 256), 1)
        if mask_predictor is None:
            mask_predictor = MaskRCNNPredictor(256, 256, num_classes)
        super().__init__(backbone, num_classes, *args, **kwargs)
        self.roi_heads.mask_roi_pool = mask_roi_pool
        self.roi_heads.mask_head = mask_head
        self.roi_heads.mask_predictor = mask_predictor


class MaskRCNNHeads(nn.Sequential):
    """3x3 ``Conv2dNormActivation`` layers of the given widths (``dilation`` and padding
    ``dilation``), Kaiming-normal weights."""

    def __init__(self, in_channels, layers, dilation, norm_layer=None):
        blocks, previous = [], in_channels
        for features in layers:
            blocks.append(Conv2dNormActivation(previous, features, kernel_size=3, stride=1,
                                               padding=dilation, dilation=dilation,
                                               norm_layer=norm_layer))
            previous = features
        super().__init__(*blocks)
        _init_convolutions(self)


class MaskRCNNPredictor(nn.Sequential):
    """``conv5_mask`` (2x2 transposed conv, stride 2: ``14 -> 28``), ReLU, and
    ``mask_fcn_logits`` (1x1, one mask logit per class)."""

    def __init__(self, in_channels, dim_reduced, num_classes):
        super().__init__(OrderedDict([
            ("conv5_mask", nn.ConvTranspose2d(in_channels, dim_reduced, 2, 2, 0)),
            ("relu", nn.ReLU(inplace=True)),
            ("mask_fcn_logits", nn.Conv2d(dim_reduced, num_classes, 1, 1, 0))]))
        for name, param in self.named_parameters():
            if "weight" in name:
                nn.init.kaiming_normal_(param, mode="fan_out", nonlinearity="relu")


def maskrcnn_resnet50_fpn(*, weights=None, progress=True, num_classes=None,
                          weights_backbone=None, trainable_backbone_layers=None, **kwargs):
    """Mask R-CNN with a ResNet-50 + FPN backbone, torchvision's builder (91 classes by
    default; 44,454,513 parameters). No pretrained weights in Ember."""
    _check_weights(weights, "maskrcnn_resnet50_fpn", kwargs)
    _check_weights(weights_backbone, "maskrcnn_resnet50_fpn (weights_backbone)", {})
    num_classes = 91 if num_classes is None else num_classes
    trainable = _validate_trainable_layers(False, trainable_backbone_layers, 5, 3)
    backbone = _resnet_fpn_extractor(resnet50(norm_layer=nn.BatchNorm2d), trainable)
    return MaskRCNN(backbone, num_classes=num_classes, **kwargs)
