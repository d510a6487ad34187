"""``BoxCoder``: boxes as offsets from reference boxes, the regression targets of R-CNN.

A detector does not regress box corners directly; it predicts how to move and stretch a
reference box (an anchor, or a proposal): for a reference of centre ``(x_a, y_a)`` and size
``(w_a, h_a)`` and a box ``(x, y, w, h)`` (R-CNN, Girshick et al. 2014; lecture 003's "box
regression", inventory D19-D21)::

    t_x = w_x (x − x_a) / w_a      t_y = w_y (y − y_a) / h_a
    t_w = w_w log(w / w_a)         t_h = w_h log(h / h_a)

with per-coordinate weights ``(w_x, w_y, w_w, w_h)`` (``(1, 1, 1, 1)`` in the RPN,
``(10, 10, 5, 5)`` in the box head: they scale the targets to unit-ish variance). Decoding
inverts it, clamping ``t_w``, ``t_h`` at ``log(1000/16)`` so that an untrained network cannot
overflow ``exp``.
"""
import math

import ember

__all__ = ["BoxCoder"]


class BoxCoder:
    """Encode boxes relative to references and decode them back (see the module docstring).
    Built from differentiable Ember ops: ``decode`` carries gradients to the offsets."""

    def __init__(self, weights, bbox_xform_clip=math.log(1000.0 / 16)):
        self.weights = tuple(float(w) for w in weights)
        self.bbox_xform_clip = bbox_xform_clip

    def encode(self, reference_boxes, proposals):
        """Per image: the offsets ``(L_i, 4)`` that move ``proposals[i]`` onto
        ``reference_boxes[i]`` (lists of ``(L_i, 4)`` tensors)."""
        sizes = [len(b) for b in reference_boxes]
        targets = self.encode_single(ember.cat(list(reference_boxes)), ember.cat(list(proposals)))
        return list(targets.split(sizes, 0))

    def encode_single(self, reference_boxes, proposals):
        """Offsets ``(L, 4)`` of boxes ``reference_boxes`` ``(L, 4)`` relative to
        ``proposals`` ``(L, 4)``."""
        wx, wy, ww, wh = self.weights
        ex_w = proposals[:, 2] - proposals[:, 0]
        ex_h = proposals[:, 3] - proposals[:, 1]
        ex_x = proposals[:, 0] + 0.5 * ex_w
        ex_y = proposals[:, 1] + 0.5 * ex_h
        gt_w = reference_boxes[:, 2] - reference_boxes[:, 0]
        gt_h = reference_boxes[:, 3] - reference_boxes[:, 1]
        gt_x = reference_boxes[:, 0] + 0.5 * gt_w
        gt_y = reference_boxes[:, 1] + 0.5 * gt_h
        return ember.stack((wx * (gt_x - ex_x) / ex_w, wy * (gt_y - ex_y) / ex_h,
                            ww * ember.log(gt_w / ex_w), wh * ember.log(gt_h / ex_h)), dim=1)

    def decode(self, rel_codes, boxes):
        """Boxes ``(sum L_i, K, 4)`` from offsets ``rel_codes`` ``(sum L_i, 4 K)`` and the
        per-image references ``boxes`` (a list of ``(L_i, 4)``)."""
        if not isinstance(boxes, (list, tuple)):
            raise TypeError(f"BoxCoder.decode: boxes must be a list of (L, 4) tensors, got "
                            f"{type(boxes).__name__}")
        total = sum(len(b) for b in boxes)
        concat = ember.cat(list(boxes))
        if total > 0:
            rel_codes = rel_codes.reshape(total, -1)
        pred = self.decode_single(rel_codes, concat)
        return pred.reshape(total, -1, 4) if total > 0 else pred

    def decode_single(self, rel_codes, boxes):
        """Boxes ``(L, 4 K)`` from offsets ``(L, 4 K)`` relative to ``boxes`` ``(L, 4)``."""
        boxes = boxes.to(rel_codes.dtype)
        widths = boxes[:, 2] - boxes[:, 0]
        heights = boxes[:, 3] - boxes[:, 1]
        ctr_x = boxes[:, 0] + 0.5 * widths
        ctr_y = boxes[:, 1] + 0.5 * heights
        wx, wy, ww, wh = self.weights
        dx = rel_codes[:, 0::4] / wx
        dy = rel_codes[:, 1::4] / wy
        dw = (rel_codes[:, 2::4] / ww).clamp(max=self.bbox_xform_clip)
        dh = (rel_codes[:, 3::4] / wh).clamp(max=self.bbox_xform_clip)
        pred_x = dx * widths[:, None] + ctr_x[:, None]
        pred_y = dy * heights[:, None] + ctr_y[:, None]
        half_w = 0.5 * (ember.exp(dw) * widths[:, None])
        half_h = 0.5 * (ember.exp(dh) * heights[:, None])
        return ember.stack((pred_x - half_w, pred_y - half_h, pred_x + half_w, pred_y + half_h),
                           dim=2).flatten(1)
