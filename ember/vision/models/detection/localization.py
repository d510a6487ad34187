"""Classification with localization, and landmarks (lecture 002 「目标定位」, inventory C6, E5).

A classifier that also says *where* the one object of the image is: the network outputs ::

    ŷ = [p_c, b_x, b_y, b_h, b_w, c_1, ..., c_K (, l_1x, l_1y, ..., l_Lx, l_Ly)]

``p_c`` whether there is an object at all, ``(b_x, b_y)`` its centre and ``(b_h, b_w)`` its
height and width as fractions of the image, ``c_k`` the class indicators (the lecture's
pedestrian / car / motorcycle; background is ``p_c = 0``), and optionally ``L`` landmark
points (the lecture's face and pose examples: 64 or 32 points, ⚠ written "l_64, l_64y"). The
loss is the lecture's squared error, all components when there is an object and only the
first when there is none::

    L(ŷ, y) = Σ_k (ŷ_k − y_k)²   if y_1 = 1,        (ŷ_1 − y_1)²   if y_1 = 0

``LocalizationNet`` is a backbone, global average pooling and one linear layer producing
``ŷ``; ``localization_target`` builds ``y`` from a box and a class, ``localization_loss`` is
``L`` averaged over the batch, and ``decode_localization`` reads predictions back as boxes.
"""
import numpy as np

import ember
from ember import nn

__all__ = ["LocalizationNet", "localization_target", "localization_loss",
           "decode_localization"]


class LocalizationNet(nn.Module):
    """``backbone`` (maps ``(N, F, h, w)`` or features ``(N, F)``; ``out_channels`` = ``F``),
    global average pooling, ``Linear(F, 5 + num_classes + 2 num_landmarks)``. Output
    ``(N, 5 + K + 2L)`` in the layout of the module docstring."""

    def __init__(self, backbone, num_classes, num_landmarks=0):
        super().__init__()
        if not hasattr(backbone, "out_channels"):
            raise ValueError("LocalizationNet: the backbone needs an out_channels attribute")
        self.backbone = backbone
        self.num_classes = num_classes
        self.num_landmarks = num_landmarks
        self.head = nn.Linear(backbone.out_channels, 5 + num_classes + 2 * num_landmarks)

    def forward(self, x):
        features = self.backbone(x)
        if not isinstance(features, ember.Tensor):
            features = list(features.values())[-1]
        if features.ndim == 4:
            features = features.mean((2, 3))
        return self.head(features)


def localization_target(boxes, labels, image_size, num_classes, landmarks=None):
    """The lecture's targets ``y`` ``(N, 5 + K [+ 2L])`` (float32) for ``N`` images.

    Args:
        boxes: ``(N, 4)`` xyxy pixel boxes (rows of images without an object are ignored).
        labels: ``(N,)`` classes ``1..K`` of the objects, ``0`` for "no object" (``p_c = 0``).
        image_size: ``(height, width)`` of the images.
        num_classes: ``K``.
        landmarks: optional ``(N, L, 2)`` points ``(x, y)`` in pixels.
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    labels = np.asarray(labels, np.int64).reshape(-1)
    if len(boxes) != len(labels):
        raise ValueError(f"localization_target: {len(boxes)} boxes for {len(labels)} labels")
    if labels.size and (labels.min() < 0 or labels.max() > num_classes):
        raise ValueError(f"localization_target: labels must lie in [0, {num_classes}] (0: no "
                         f"object), got values in [{labels.min()}, {labels.max()}]")
    h, w = image_size
    extra = 0 if landmarks is None else 2 * np.asarray(landmarks).shape[1]
    y = np.zeros((len(labels), 5 + num_classes + extra), np.float32)
    present = labels > 0
    b = boxes[present]
    y[present, 0] = 1
    y[present, 1] = (b[:, 0] + b[:, 2]) / 2 / w
    y[present, 2] = (b[:, 1] + b[:, 3]) / 2 / h
    y[present, 3] = (b[:, 3] - b[:, 1]) / h
    y[present, 4] = (b[:, 2] - b[:, 0]) / w
    y[np.flatnonzero(present), 4 + labels[present]] = 1
    if landmarks is not None:
        points = np.asarray(landmarks, np.float64)[present] / np.array([w, h])
        y[present, 5 + num_classes:] = points.reshape(int(present.sum()), -1)
    return ember.from_numpy(y)


def localization_loss(output, target):
    """The lecture's loss ``L`` (module docstring), averaged over the batch: every component
    squared when ``y_1 = 1``, only ``(ŷ_1 − y_1)²`` when ``y_1 = 0``."""
    if tuple(output.shape) != tuple(target.shape):
        raise ValueError(f"localization_loss: output {tuple(output.shape)} and target "
                         f"{tuple(target.shape)} must have the same shape")
    squared = (output - target) ** 2
    has_object = target[:, :1]
    per_image = squared[:, 0] + (squared[:, 1:] * has_object).sum(1)
    return per_image.mean()


def decode_localization(output, image_size, num_classes, threshold=0.5):
    """Predictions ``(N, 5 + K [+ 2L])`` read back: per image ``{"present": p_c > threshold,
    "score": p_c, "box": (4,) xyxy pixels, "label": 1 + argmax c_k, "landmarks": (L, 2)}``."""
    out = output.detach().numpy() if isinstance(output, ember.Tensor) else np.asarray(output)
    h, w = image_size
    results = []
    for row in out:
        cx, cy, bh, bw = row[1] * w, row[2] * h, row[3] * h, row[4] * w
        landmarks = row[5 + num_classes:].reshape(-1, 2) * np.array([w, h])
        results.append({"present": bool(row[0] > threshold), "score": float(row[0]),
                        "box": np.array([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2]),
                        "label": int(np.argmax(row[5:5 + num_classes])) + 1,
                        "landmarks": landmarks})
    return results
