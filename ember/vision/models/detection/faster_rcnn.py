"""Faster R-CNN (Ren et al. 2015), torchvision's ``FasterRCNN`` and ``fasterrcnn_resnet50_fpn``.

Lecture 003 builds it in steps (inventory D19-D21): R-CNN runs a CNN on ~2,000 warped
proposals; Fast R-CNN runs the CNN once and crops each proposal's features (RoI pooling);
Faster R-CNN also learns the proposals, with a region proposal network on the same features.
Two stages, four losses: the RPN's objectness and box offsets, the heads' class and box
offsets.

``FasterRCNN(backbone, num_classes, ...)`` takes any backbone with an ``out_channels``
attribute returning one map or an ordered dict of maps, so a small CPU-sized network is one
argument away (``ember.vision.models.detection.small``).
"""
from ember import nn
from ember.nn import functional as F
from ember.vision.models._utils import _check_weights
from ember.vision.models.detection.anchor_utils import AnchorGenerator
from ember.vision.models.detection.backbone_utils import (_resnet_fpn_extractor,
                                                          _validate_trainable_layers)
from ember.vision.models.detection.generalized_rcnn import GeneralizedRCNN
from ember.vision.models.detection.roi_heads import RoIHeads
from ember.vision.models.detection.rpn import RegionProposalNetwork, RPNHead
from ember.vision.models.detection.transform import GeneralizedRCNNTransform
from ember.vision.models.resnet import resnet50
from ember.vision.ops.misc import Conv2dNormActivation
from ember.vision.ops.poolers import MultiScaleRoIAlign

__all__ = ["FasterRCNN", "TwoMLPHead", "FastRCNNConvFCHead", "FastRCNNPredictor",
           "fasterrcnn_resnet50_fpn"]


def _default_anchorgen():
    anchor_sizes = ((32,), (64,), (128,), (256,), (512,))
    return AnchorGenerator(anchor_sizes, ((0.5, 1.0, 2.0),) * len(anchor_sizes))


class FasterRCNN(GeneralizedRCNN):
    """Faster R-CNN with torchvision's arguments and defaults.

    Args:
        backbone: a module with ``out_channels``, returning a map or an ordered dict of maps.
        num_classes: classes including the background (index 0); None when ``box_predictor``
            is given.
        min_size, max_size, image_mean, image_std: the ``GeneralizedRCNNTransform``.
        rpn_anchor_generator, rpn_head: default: anchors of sizes 32..512 on five maps with
            ratios 0.5/1/2, and an ``RPNHead``.
        rpn_pre_nms_top_n_train/test, rpn_post_nms_top_n_train/test, rpn_nms_thresh,
        rpn_fg_iou_thresh, rpn_bg_iou_thresh, rpn_batch_size_per_image,
        rpn_positive_fraction, rpn_score_thresh: the ``RegionProposalNetwork``.
        box_roi_pool: default ``MultiScaleRoIAlign(["0", "1", "2", "3"], 7, 2)``.
        box_head, box_predictor: default ``TwoMLPHead`` (1024) and ``FastRCNNPredictor``.
        box_score_thresh, box_nms_thresh, box_detections_per_img, box_fg_iou_thresh,
        box_bg_iou_thresh, box_batch_size_per_image, box_positive_fraction,
        bbox_reg_weights: the ``RoIHeads``.
    """

    def __init__(self, backbone, num_classes=None, min_size=800, max_size=1333, image_mean=None,
                 image_std=None, rpn_anchor_generator=None, rpn_head=None,
                 rpn_pre_nms_top_n_train=2000, rpn_pre_nms_top_n_test=1000,
                 rpn_post_nms_top_n_train=2000, rpn_post_nms_top_n_test=1000, rpn_nms_thresh=0.7,
                 rpn_fg_iou_thresh=0.7, rpn_bg_iou_thresh=0.3, rpn_batch_size_per_image=256,
                 rpn_positive_fraction=0.5, rpn_score_thresh=0.0, box_roi_pool=None,
                 box_head=None, box_predictor=None, box_score_thresh=0.05, box_nms_thresh=0.5,
                 box_detections_per_img=100, box_fg_iou_thresh=0.5, box_bg_iou_thresh=0.5,
                 box_batch_size_per_image=512, box_positive_fraction=0.25, bbox_reg_weights=None,
                 **kwargs):
        if not hasattr(backbone, "out_channels"):
            raise ValueError("FasterRCNN: the backbone needs an out_channels attribute (the "
                             "channels of its feature maps, the same for every level)")
        if not isinstance(rpn_anchor_generator, (AnchorGenerator, type(None))):
            raise TypeError(f"FasterRCNN: rpn_anchor_generator must be an AnchorGenerator or "
                            f"None, got {type(rpn_anchor_generator).__name__}")
        if not isinstance(box_roi_pool, (MultiScaleRoIAlign, type(None))):
            raise TypeError(f"FasterRCNN: box_roi_pool must be a MultiScaleRoIAlign or None, "
                            f"got {type(box_roi_pool).__name__}")
        if num_classes is not None and box_predictor is not None:
            raise ValueError("FasterRCNN: num_classes should be None when box_predictor is given")
        if num_classes is None and box_predictor is None:
            raise ValueError("FasterRCNN: give num_classes (including the background) or a "
                             "box_predictor")
        out_channels = backbone.out_channels
        if rpn_anchor_generator is None:
            rpn_anchor_generator = _default_anchorgen()
        if rpn_head is None:
            rpn_head = RPNHead(out_channels, rpn_anchor_generator.num_anchors_per_location()[0])
        rpn = RegionProposalNetwork(
            rpn_anchor_generator, rpn_head, rpn_fg_iou_thresh, rpn_bg_iou_thresh,
            rpn_batch_size_per_image, rpn_positive_fraction,
            dict(training=rpn_pre_nms_top_n_train, testing=rpn_pre_nms_top_n_test),
            dict(training=rpn_post_nms_top_n_train, testing=rpn_post_nms_top_n_test),
            rpn_nms_thresh, score_thresh=rpn_score_thresh)
        if box_roi_pool is None:
            box_roi_pool = MultiScaleRoIAlign(featmap_names=["0", "1", "2", "3"], output_size=7,
                                              sampling_ratio=2)
        if box_head is None:
            resolution = box_roi_pool.output_size[0]
            box_head = TwoMLPHead(out_channels * resolution ** 2, 1024)
        if box_predictor is None:
            box_predictor = FastRCNNPredictor(1024, num_classes)
        roi_heads = RoIHeads(box_roi_pool, box_head, box_predictor, box_fg_iou_thresh,
                             box_bg_iou_thresh, box_batch_size_per_image, box_positive_fraction,
                             bbox_reg_weights, box_score_thresh, box_nms_thresh,
                             box_detections_per_img)
        image_mean = [0.485, 0.456, 0.406] if image_mean is None else image_mean
        image_std = [0.229, 0.224, 0.225] if image_std is None else image_std
        transform = GeneralizedRCNNTransform(min_size, max_size, image_mean, image_std, **kwargs)
        super().__init__(backbone, rpn, roi_heads, transform)


class TwoMLPHead(nn.Module):
    """Flatten, then ``fc6`` and ``fc7`` with ReLU: the box head of the FPN detectors."""

    def __init__(self, in_channels, representation_size):
        super().__init__()
        self.fc6 = nn.Linear(in_channels, representation_size)
        self.fc7 = nn.Linear(representation_size, representation_size)

    def forward(self, x):
        x = x.flatten(start_dim=1)
        return F.relu(self.fc7(F.relu(self.fc6(x))))


class FastRCNNConvFCHead(nn.Sequential):
    """Convs (``Conv2dNormActivation``) then fully connected layers with ReLU; the box head of
    the "v2" detectors. ``input_size`` is ``(C, H, W)`` of the pooled features."""

    def __init__(self, input_size, conv_layers, fc_layers, norm_layer=None):
        in_channels, in_height, in_width = input_size
        blocks, previous = [], in_channels
        for channels in conv_layers:
            blocks.append(Conv2dNormActivation(previous, channels, norm_layer=norm_layer))
            previous = channels
        blocks.append(nn.Flatten())
        previous = previous * in_height * in_width
        for channels in fc_layers:
            blocks += [nn.Linear(previous, channels), nn.ReLU(inplace=True)]
            previous = channels
        super().__init__(*blocks)
        _init_convolutions(self)


def _init_convolutions(module):
    """torchvision's initialization of the convolutional box and mask heads: He normal
    (fan out, ReLU) weights, zero biases."""
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d):
            nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


class FastRCNNPredictor(nn.Module):
    """``cls_score`` (``num_classes`` logits) and ``bbox_pred`` (4 offsets per class)."""

    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.cls_score = nn.Linear(in_channels, num_classes)
        self.bbox_pred = nn.Linear(in_channels, num_classes * 4)

    def forward(self, x):
        if x.ndim == 4 and tuple(x.shape[2:]) != (1, 1):
            raise ValueError(f"FastRCNNPredictor: expected features (N, C) or (N, C, 1, 1), got "
                             f"{tuple(x.shape)}")
        x = x.flatten(start_dim=1)
        return self.cls_score(x), self.bbox_pred(x)


def fasterrcnn_resnet50_fpn(*, weights=None, progress=True, num_classes=None,
                            weights_backbone=None, trainable_backbone_layers=None, **kwargs):
    """Faster R-CNN with a ResNet-50 + FPN backbone, torchvision's builder (91 COCO classes by
    default; 41,808,406 parameters with ``BatchNorm2d``, which is what torchvision builds
    without pretrained weights). Ember ships no weights: ``weights`` and
    ``weights_backbone`` must be None. ``kwargs`` go to :class:`FasterRCNN`."""
    _check_weights(weights, "fasterrcnn_resnet50_fpn", kwargs)
    _check_weights(weights_backbone, "fasterrcnn_resnet50_fpn (weights_backbone)", {})
    num_classes = 91 if num_classes is None else num_classes
    trainable = _validate_trainable_layers(False, trainable_backbone_layers, 5, 3)
    backbone = _resnet_fpn_extractor(resnet50(norm_layer=nn.BatchNorm2d), trainable)
    return FasterRCNN(backbone, num_classes=num_classes, **kwargs)
