"""``ember.vision.ops`` (``torchvision.ops``): the operators of detection, one family per file.

==================  =========================================================================
``boxes``           ``box_convert``, ``box_area``, ``box_iou``, ``generalized_box_iou``,
                    ``distance_box_iou``, ``complete_box_iou``, ``clip_boxes_to_image``,
                    ``remove_small_boxes``, ``masks_to_boxes``
``nms``             ``nms``, ``batched_nms``
``roi``             ``roi_align``, ``roi_pool``, ``RoIAlign``, ``RoIPool``
``poolers``         ``MultiScaleRoIAlign``
``fpn``             ``FeaturePyramidNetwork`` (+ ``LastLevelMaxPool``, ``LastLevelP6P7``)
``losses``          ``sigmoid_focal_loss``, ``generalized_box_iou_loss``,
                    ``distance_box_iou_loss``, ``complete_box_iou_loss``
``misc``            ``Conv2dNormActivation``, ``FrozenBatchNorm2d``
==================  =========================================================================

Names, signatures, box formats (xyxy pixels) and semantics are torchvision's; what differs is
said in each docstring.
"""
from ember.vision.ops.boxes import (box_area, box_convert, box_iou, clip_boxes_to_image,
                                    complete_box_iou, distance_box_iou, generalized_box_iou,
                                    masks_to_boxes, remove_small_boxes)
from ember.vision.ops.fpn import (ExtraFPNBlock, FeaturePyramidNetwork, LastLevelMaxPool,
                                  LastLevelP6P7)
from ember.vision.ops.losses import (complete_box_iou_loss, distance_box_iou_loss,
                                     generalized_box_iou_loss, sigmoid_focal_loss)
from ember.vision.ops.misc import Conv2dNormActivation, FrozenBatchNorm2d
from ember.vision.ops.nms import batched_nms, nms
from ember.vision.ops.poolers import MultiScaleRoIAlign
from ember.vision.ops.roi import RoIAlign, RoIPool, roi_align, roi_pool

__all__ = ["box_convert", "box_area", "box_iou", "generalized_box_iou", "distance_box_iou",
           "complete_box_iou", "clip_boxes_to_image", "remove_small_boxes", "masks_to_boxes",
           "nms", "batched_nms", "roi_align", "roi_pool", "RoIAlign", "RoIPool",
           "MultiScaleRoIAlign", "FeaturePyramidNetwork", "ExtraFPNBlock", "LastLevelMaxPool",
           "LastLevelP6P7", "sigmoid_focal_loss", "generalized_box_iou_loss",
           "distance_box_iou_loss", "complete_box_iou_loss", "Conv2dNormActivation",
           "FrozenBatchNorm2d"]
