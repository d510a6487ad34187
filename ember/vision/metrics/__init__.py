"""``ember.vision.metrics``: metrics of the vision tasks, streamed over batches.

One module per task, each self-contained: ``segmentation`` (the pixel confusion matrix,
pixel accuracy, per-class / mean / frequency-weighted IoU and the ``SegmentationMetrics``
the trainer streams) and ``detection`` (precision/recall curves, VOC and COCO average
precision, the COCO evaluation ``MeanAveragePrecision`` for boxes and instance masks).
Classification's accuracy and confusion matrix live in ``ember.train.metrics``.
"""
from ember.vision.metrics.detection import (MeanAveragePrecision, average_precision,
                                            format_coco_summary, match_detections,
                                            precision_recall_curve, voc_evaluate)
from ember.vision.metrics.segmentation import (SegmentationMetrics, class_iou, confusion_matrix,
                                               format_segmentation_report,
                                               frequency_weighted_iou, mean_iou, pixel_accuracy,
                                               segmentation_report)

__all__ = ["SegmentationMetrics", "confusion_matrix", "pixel_accuracy", "class_iou", "mean_iou",
           "frequency_weighted_iou", "segmentation_report", "format_segmentation_report",
           "MeanAveragePrecision", "average_precision", "precision_recall_curve",
           "match_detections", "voc_evaluate", "format_coco_summary"]
