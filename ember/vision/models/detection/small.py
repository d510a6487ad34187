"""Small detectors for CPU training: the torchvision classes with a small backbone.

``SmallBackbone`` is a plain stack of 3x3 Conv-BN-ReLU blocks (each stage halves the size
with a stride-2 conv, then refines with a stride-1 conv), returning the maps of the stages
asked for, with an ``out_channels`` attribute as the detectors require; a 1x1 conv per
returned stage brings them to ``out_channels`` (an FPN without the top-down path).
``fasterrcnn_small`` and ``maskrcnn_small`` put it under ``FasterRCNN`` / ``MaskRCNN`` with
anchors, RoI sizes and sampling scaled to small images (the defaults suit the 64x64
``mnist-detect`` canvases: digits of 10 to 35 pixels).
"""
from collections import OrderedDict

from ember import nn
from ember.vision.models.detection.anchor_utils import AnchorGenerator
from ember.vision.models.detection.faster_rcnn import FasterRCNN, FastRCNNPredictor, TwoMLPHead
from ember.vision.models.detection.mask_rcnn import MaskRCNN, MaskRCNNHeads, MaskRCNNPredictor
from ember.vision.ops.misc import Conv2dNormActivation
from ember.vision.ops.poolers import MultiScaleRoIAlign

__all__ = ["SmallBackbone", "fasterrcnn_small", "maskrcnn_small"]


class SmallBackbone(nn.Module):
    """``stem`` (3x3 conv, stride 1) and one stage per entry of ``widths`` (a stride-2 then a
    stride-1 3x3 conv); stage ``i`` has stride ``2^(i+1)``. ``returned_stages`` (indices into
    ``widths``, the last stage by default) are returned as an ordered dict ``{"0": ..., "1":
    ...}``, each brought to ``out_channels`` by a 1x1 conv."""

    def __init__(self, in_channels=1, widths=(16, 32), out_channels=64, returned_stages=None,
                 stem_channels=None):
        super().__init__()
        stem_channels = widths[0] if stem_channels is None else stem_channels
        self.stem = Conv2dNormActivation(in_channels, stem_channels, 3)
        stages, previous = [], stem_channels
        for width in widths:
            stages.append(nn.Sequential(Conv2dNormActivation(previous, width, 3, stride=2),
                                        Conv2dNormActivation(width, width, 3)))
            previous = width
        self.stages = nn.ModuleList(stages)
        self.returned_stages = ((len(widths) - 1,) if returned_stages is None
                                else tuple(returned_stages))
        if any(not 0 <= i < len(widths) for i in self.returned_stages):
            raise ValueError(f"SmallBackbone: returned_stages must index widths {widths}, got "
                             f"{returned_stages}")
        if max(self.returned_stages) != len(widths) - 1:
            raise ValueError(f"SmallBackbone: the stages after the last returned one would be "
                             f"unused (widths {widths}, returned_stages {returned_stages})")
        self.lateral = nn.ModuleList([nn.Conv2d(widths[i], out_channels, 1)
                                      for i in self.returned_stages])
        self.out_channels = out_channels

    def forward(self, x):
        x = self.stem(x)
        outputs = OrderedDict()
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.returned_stages:
                k = self.returned_stages.index(i)
                outputs[str(k)] = self.lateral[k](x)
        return outputs


def _anchor_sets(anchor_sizes, levels):
    """One tuple of anchor sizes per map: ``anchor_sizes`` is a flat tuple (the same sizes on
    every map) or one tuple per map."""
    if isinstance(anchor_sizes[0], (tuple, list)):
        if len(anchor_sizes) != levels:
            raise ValueError(f"{len(anchor_sizes)} sets of anchor sizes for {levels} feature maps")
        return tuple(tuple(a) for a in anchor_sizes)
    return (tuple(anchor_sizes),) * levels


def _small_kwargs(num_classes, image_size, anchor_sizes, aspect_ratios, representation_size,
                  backbone, kwargs, names=None):
    """The FasterRCNN arguments shared by the small builders (``kwargs`` override them), for
    an RPN and a box head on the maps ``names`` (default: every map of ``backbone``)."""
    names = names or [str(i) for i in range(len(backbone.returned_stages))]
    levels = len(names)
    defaults = dict(
        min_size=image_size, max_size=image_size,
        image_mean=[0.5] * backbone.stem[0].in_channels,
        image_std=[0.5] * backbone.stem[0].in_channels, size_divisible=16,
        rpn_anchor_generator=AnchorGenerator(_anchor_sets(anchor_sizes, levels),
                                             (tuple(aspect_ratios),) * levels),
        rpn_pre_nms_top_n_train=600, rpn_post_nms_top_n_train=200,
        rpn_pre_nms_top_n_test=300, rpn_post_nms_top_n_test=100,
        box_roi_pool=MultiScaleRoIAlign(names, 7, 2),
        box_head=TwoMLPHead(backbone.out_channels * 49, representation_size),
        box_predictor=FastRCNNPredictor(representation_size, num_classes),
        box_batch_size_per_image=64, box_detections_per_img=30)
    defaults.update(kwargs)
    if defaults["box_predictor"] is None:          # the user asked for torchvision's default
        defaults["num_classes"] = num_classes
    return defaults


def fasterrcnn_small(num_classes=11, in_channels=1, image_size=64, widths=(16, 32),
                     out_channels=64, anchor_sizes=(12, 20, 32), aspect_ratios=(1.0, 2.0),
                     representation_size=128, **kwargs):
    """``FasterRCNN`` on a :class:`SmallBackbone` (stride-4 map), for ``image_size`` images:
    anchors of ``anchor_sizes`` x ``aspect_ratios`` (height / width), a ``7x7`` RoI Align, a
    two-layer box head of ``representation_size``, 64 sampled proposals per image. Other
    ``FasterRCNN`` arguments in ``kwargs`` override these."""
    backbone = SmallBackbone(in_channels, widths, out_channels)
    return FasterRCNN(backbone, **_small_kwargs(num_classes, image_size, anchor_sizes,
                                                aspect_ratios, representation_size, backbone,
                                                kwargs))


def maskrcnn_small(num_classes=11, in_channels=1, image_size=64, widths=(16, 32),
                   out_channels=64, anchor_sizes=(12, 20, 32), aspect_ratios=(1.0, 2.0),
                   representation_size=128, mask_layers=(32,), mask_targets_aligned=True,
                   mask_paste_aligned=True, returned_stages=(0, 1), **kwargs):
    """``MaskRCNN`` on a :class:`SmallBackbone`: ``fasterrcnn_small``'s parts plus a
    ``14x14`` mask RoI Align, ``mask_layers`` 3x3 convs and a ``28x28`` mask per class.

    The backbone returns the maps of ``returned_stages`` (by default stride 2 and 4): the RPN
    and the box head work on the last (coarsest) map as in ``fasterrcnn_small``, the mask head
    pools the first (the finest): on the stride-4 map a 12-pixel digit spans 3x3 cells, too
    few for its 2-3 pixel strokes. The mask targets are projected with aligned RoI Align
    (``RoIHeads.mask_targets_aligned``) and the predicted masks pasted back by its exact
    inverse (``GeneralizedRCNNTransform.mask_paste_aligned``): a small object's thin parts
    need both."""
    backbone = SmallBackbone(in_channels, widths, out_channels, returned_stages)
    finest, coarsest = "0", str(len(backbone.returned_stages) - 1)
    options = dict(mask_roi_pool=MultiScaleRoIAlign([finest], 14, 2),
                   mask_head=MaskRCNNHeads(out_channels, mask_layers, 1),
                   mask_predictor=MaskRCNNPredictor(mask_layers[-1], mask_layers[-1], num_classes))
    options.update(kwargs)
    args = _small_kwargs(num_classes, image_size, anchor_sizes, aspect_ratios,
                         representation_size, backbone, options, names=[coarsest])
    model = MaskRCNN(backbone, **args)
    model.rpn.featmap_names = [coarsest]
    model.roi_heads.mask_targets_aligned = mask_targets_aligned
    model.transform.mask_paste_aligned = mask_paste_aligned
    return model
