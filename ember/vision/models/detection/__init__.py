"""``ember.vision.models.detection`` (``torchvision.models.detection``): object detectors and
instance segmentation.

torchvision's two-stage detectors with its names, arguments, ``state_dict`` keys, parameter
counts and input/output convention (a list of ``(C, H, W)`` images in; a dict of losses in
training, a list of ``{"boxes", "labels", "scores"[, "masks"]}`` in evaluation):
``FasterRCNN``, ``fasterrcnn_resnet50_fpn``, ``MaskRCNN``, ``maskrcnn_resnet50_fpn`` and their
parts (``AnchorGenerator``, ``RegionProposalNetwork``, ``RPNHead``, ``RoIHeads``,
``GeneralizedRCNNTransform``, ``BackboneWithFPN``, ``resnet_fpn_backbone``). Small CPU-sized
versions: ``fasterrcnn_small``, ``maskrcnn_small`` (``small``).

The lectures' own detectors: ``YOLO`` (``yolo``: the single-stage S x S grid, B boxes, output
S x S x (5B + C)) and ``LocalizationNet`` (``localization``: classification with
localization, the target ``[p_c, b_x, b_y, b_h, b_w, c_1..c_K]`` and its loss, with
optional landmarks).
"""
from ember.vision.models.detection.anchor_utils import AnchorGenerator
from ember.vision.models.detection.backbone_utils import BackboneWithFPN, resnet_fpn_backbone
from ember.vision.models.detection.box_coder import BoxCoder
from ember.vision.models.detection.faster_rcnn import (FasterRCNN, FastRCNNConvFCHead,
                                                       FastRCNNPredictor, TwoMLPHead,
                                                       fasterrcnn_resnet50_fpn)
from ember.vision.models.detection.generalized_rcnn import GeneralizedRCNN
from ember.vision.models.detection.image_list import ImageList
from ember.vision.models.detection.mask_rcnn import (MaskRCNN, MaskRCNNHeads, MaskRCNNPredictor,
                                                     maskrcnn_resnet50_fpn)
from ember.vision.models.detection.matcher import BalancedPositiveNegativeSampler, Matcher
from ember.vision.models.detection.roi_heads import RoIHeads, paste_masks_in_image
from ember.vision.models.detection.rpn import RegionProposalNetwork, RPNHead
from ember.vision.models.detection.small import SmallBackbone, fasterrcnn_small, maskrcnn_small
from ember.vision.models.detection.transform import GeneralizedRCNNTransform
from ember.vision.models.detection.yolo import YOLO, yolo_small
from ember.vision.models.detection.localization import (LocalizationNet, decode_localization,
                                                        localization_loss, localization_target)

__all__ = ["AnchorGenerator", "BackboneWithFPN", "resnet_fpn_backbone", "BoxCoder",
           "FasterRCNN", "FastRCNNConvFCHead", "FastRCNNPredictor", "TwoMLPHead",
           "fasterrcnn_resnet50_fpn", "GeneralizedRCNN", "ImageList", "MaskRCNN",
           "MaskRCNNHeads", "MaskRCNNPredictor", "maskrcnn_resnet50_fpn",
           "BalancedPositiveNegativeSampler", "Matcher", "RoIHeads", "paste_masks_in_image",
           "RegionProposalNetwork", "RPNHead", "GeneralizedRCNNTransform", "SmallBackbone",
           "fasterrcnn_small", "maskrcnn_small", "YOLO", "yolo_small", "LocalizationNet",
           "localization_target", "localization_loss", "decode_localization"]
