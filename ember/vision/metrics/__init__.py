"""``ember.vision.metrics``: streaming evaluation metrics of the vision tasks.

``detection``: precision/recall curves, VOC and COCO average precision, the COCO evaluation
(``MeanAveragePrecision``) for boxes and instance masks.
"""
from ember.vision.metrics.detection import (MeanAveragePrecision, average_precision,
                                            format_coco_summary, match_detections,
                                            precision_recall_curve, voc_evaluate)

__all__ = ["MeanAveragePrecision", "average_precision", "precision_recall_curve",
           "match_detections", "voc_evaluate", "format_coco_summary"]
