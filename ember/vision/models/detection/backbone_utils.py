"""Backbones for the detectors: a ResNet with a feature pyramid (torchvision's
``resnet_fpn_backbone``) and ``BackboneWithFPN`` for any network whose stages are children."""
import warnings

from ember import nn
from ember.vision.models import resnet
from ember.vision.models._utils import IntermediateLayerGetter
from ember.vision.ops.fpn import FeaturePyramidNetwork, LastLevelMaxPool
from ember.vision.ops.misc import FrozenBatchNorm2d

__all__ = ["BackboneWithFPN", "resnet_fpn_backbone"]


class BackboneWithFPN(nn.Module):
    """``body`` (the children of ``backbone`` up to the last of ``return_layers``, returning
    those layers' outputs) followed by an FPN with ``out_channels`` channels per level;
    ``out_channels`` is an attribute, as the detectors require."""

    def __init__(self, backbone, return_layers, in_channels_list, out_channels,
                 extra_blocks=None, norm_layer=None):
        super().__init__()
        if extra_blocks is None:
            extra_blocks = LastLevelMaxPool()
        self.body = IntermediateLayerGetter(backbone, return_layers=return_layers)
        self.fpn = FeaturePyramidNetwork(in_channels_list=in_channels_list,
                                         out_channels=out_channels, extra_blocks=extra_blocks,
                                         norm_layer=norm_layer)
        self.out_channels = out_channels

    def forward(self, x):
        return self.fpn(self.body(x))


def _validate_trainable_layers(is_trained, trainable_backbone_layers, max_value, default_value):
    """torchvision's rule: without pretrained weights every layer trains (a warning if a
    number was asked for); otherwise ``default_value`` unless given."""
    if not is_trained:
        if trainable_backbone_layers is not None:
            warnings.warn(f"Changing trainable_backbone_layers has no effect if neither "
                          f"pretrained nor pretrained_backbone have been set to True, falling "
                          f"back to trainable_backbone_layers={max_value} so that all layers "
                          f"are trainable")
        trainable_backbone_layers = max_value
    if trainable_backbone_layers is None:
        trainable_backbone_layers = default_value
    if not 0 <= trainable_backbone_layers <= max_value:
        raise ValueError(f"trainable_backbone_layers must lie in [0, {max_value}], got "
                         f"{trainable_backbone_layers}")
    return trainable_backbone_layers


def _resnet_fpn_extractor(backbone, trainable_layers, returned_layers=None, extra_blocks=None,
                          norm_layer=None):
    if not 0 <= trainable_layers <= 5:
        raise ValueError(f"trainable_layers must lie in [0, 5], got {trainable_layers}")
    layers_to_train = ["layer4", "layer3", "layer2", "layer1", "conv1"][:trainable_layers]
    if trainable_layers == 5:
        layers_to_train.append("bn1")
    for name, parameter in backbone.named_parameters():
        if all(not name.startswith(layer) for layer in layers_to_train):
            parameter.requires_grad_(False)
    if extra_blocks is None:
        extra_blocks = LastLevelMaxPool()
    if returned_layers is None:
        returned_layers = [1, 2, 3, 4]
    if min(returned_layers) <= 0 or max(returned_layers) >= 5:
        raise ValueError(f"returned_layers must lie in [1, 4], got {returned_layers}")
    return_layers = {f"layer{k}": str(v) for v, k in enumerate(returned_layers)}
    in_channels_stage2 = backbone.inplanes // 8
    in_channels_list = [in_channels_stage2 * 2 ** (i - 1) for i in returned_layers]
    return BackboneWithFPN(backbone, return_layers, in_channels_list, 256,
                           extra_blocks=extra_blocks, norm_layer=norm_layer)


def resnet_fpn_backbone(*, backbone_name, weights=None, norm_layer=FrozenBatchNorm2d,
                        trainable_layers=3, returned_layers=None, extra_blocks=None):
    """A torchvision ResNet (``backbone_name``: ``resnet18`` ... ``resnet152``,
    ``resnext50_32x4d``, ``wide_resnet50_2``) with its ``layer1..4`` outputs fed to a 256-channel
    FPN (plus a ``"pool"`` level); the first ``5 − trainable_layers`` stages are frozen. Ember
    ships no pretrained weights (``weights`` must be None)."""
    backbone = getattr(resnet, backbone_name)(weights=weights, norm_layer=norm_layer)
    return _resnet_fpn_extractor(backbone, trainable_layers, returned_layers, extra_blocks)
