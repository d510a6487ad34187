"""``GeneralizedRCNN``: transform -> backbone -> RPN -> RoI heads -> postprocess, torchvision's
input/output convention for every two-stage detector."""
from collections import OrderedDict

import numpy as np

import ember
from ember import nn

__all__ = ["GeneralizedRCNN", "check_targets"]


def check_targets(targets, num_images, owner):
    """One-line errors for training targets a detector cannot use: not one dict per image,
    boxes not ``(L, 4)`` floats, labels not ``(L,)`` int64, boxes with ``x2 <= x1`` or
    ``y2 <= y1``, non-finite coordinates. An image may have no objects (``(0, 4)`` boxes)."""
    if targets is None:
        raise ValueError(f"{owner}: targets are needed in training mode (model(images, targets))")
    if len(targets) != num_images:
        raise ValueError(f"{owner}: {len(targets)} targets for {num_images} images")
    for i, target in enumerate(targets):
        if not isinstance(target, dict) or "boxes" not in target or "labels" not in target:
            raise ValueError(f"{owner}: target {i} must be a dict with 'boxes' and 'labels'")
        boxes, labels = target["boxes"], target["labels"]
        if not isinstance(boxes, ember.Tensor) or boxes.ndim != 2 or boxes.shape[-1] != 4:
            shape = tuple(boxes.shape) if isinstance(boxes, ember.Tensor) else type(boxes).__name__
            raise ValueError(f"{owner}: expected target boxes of shape (L, 4), got {shape} for "
                             f"target {i}")
        if not isinstance(labels, ember.Tensor) or labels.shape != (boxes.shape[0],):
            shape = (tuple(labels.shape) if isinstance(labels, ember.Tensor)
                     else type(labels).__name__)
            raise ValueError(f"{owner}: expected target labels of shape ({boxes.shape[0]},), got "
                             f"{shape} for target {i}")
        b = boxes.detach().numpy()
        if not np.isfinite(b).all():
            raise ValueError(f"{owner}: target {i} has NaN or infinite box coordinates")
        bad = np.flatnonzero((b[:, 2] <= b[:, 0]) | (b[:, 3] <= b[:, 1]))
        if len(bad):
            raise ValueError(f"{owner}: all bounding boxes should have positive height and "
                             f"width; found invalid box {b[bad[0]].tolist()} for target at "
                             f"index {i}")


class GeneralizedRCNN(nn.Module):
    """``forward(images, targets=None)``: ``images`` a list of ``(C, H, W)`` tensors in [0, 1]
    (sizes may differ). Training (``model.train()``): ``targets`` a list of ``{"boxes": (L, 4)
    float xyxy, "labels": (L,) int64[, "masks": (L, H, W) uint8]}``, returns the dict of
    losses. Evaluation: returns one ``{"boxes", "labels", "scores"[, "masks"]}`` per image, in
    the image's own coordinates."""

    def __init__(self, backbone, rpn, roi_heads, transform):
        super().__init__()
        self.transform = transform
        self.backbone = backbone
        self.rpn = rpn
        self.roi_heads = roi_heads

    def forward(self, images, targets=None):
        if isinstance(images, ember.Tensor) and images.ndim == 4:
            images = list(images.unbind(0))
        if not isinstance(images, (list, tuple)) or not images:
            raise ValueError(f"{type(self).__name__}: images must be a non-empty list of (C, H, W) "
                             f"tensors")
        if self.training:
            check_targets(targets, len(images), type(self).__name__)
        original_image_sizes = []
        for img in images:
            if not isinstance(img, ember.Tensor) or img.ndim != 3:
                shape = tuple(img.shape) if isinstance(img, ember.Tensor) else type(img).__name__
                raise ValueError(f"{type(self).__name__}: expected images of shape (C, H, W), "
                                 f"got {shape}")
            original_image_sizes.append(tuple(img.shape[-2:]))
        images, targets = self.transform(images, targets if self.training else None)
        features = self.backbone(images.tensors)
        if isinstance(features, ember.Tensor):
            features = OrderedDict([("0", features)])
        proposals, proposal_losses = self.rpn(images, features, targets)
        detections, detector_losses = self.roi_heads(features, proposals, images.image_sizes,
                                                     targets)
        detections = self.transform.postprocess(detections, images.image_sizes,
                                                original_image_sizes)
        if self.training:
            return {**detector_losses, **proposal_losses}
        return detections
