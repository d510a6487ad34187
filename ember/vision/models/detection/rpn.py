"""The region proposal network of Faster R-CNN (Ren et al. 2015; lecture 003 「Faster R-CNN」,
inventory C8, D21).

A small network slides over the backbone's feature maps: a 3x3 conv, then two 1x1 convs give,
for each of the ``A`` anchors at each position, an *objectness* logit (``A x H x W``, "object
or not") and four box offsets (``4A x H x W``). Training labels anchors with IoU > 0.7
(``fg_iou_thresh``) as objects and < 0.3 (``bg_iou_thresh``) as background, ignores the rest,
samples 256 of them (half positive at most) and adds two of the lecture's four losses:
binary cross-entropy on objectness and smooth-L1 on the offsets of the positives. The
proposals are the decoded anchors, the best ``pre_nms_top_n`` per map by objectness,
clipped, de-duplicated by NMS (0.7) and cut to ``post_nms_top_n`` (the lecture's "keep ~300").
"""
import numpy as np

import ember
from ember import nn
from ember.nn import functional as F
from ember.vision.models.detection.anchor_utils import AnchorGenerator
from ember.vision.models.detection.box_coder import BoxCoder
from ember.vision.models.detection.matcher import BalancedPositiveNegativeSampler, Matcher
from ember.vision.ops import boxes as box_ops
from ember.vision.ops.misc import Conv2dNormActivation
from ember.vision.ops.nms import greedy_keep

__all__ = ["RPNHead", "RegionProposalNetwork", "AnchorGenerator",
           "concat_box_prediction_layers"]


class RPNHead(nn.Module):
    """``conv_depth`` 3x3 convs with ReLU, then ``cls_logits`` (1x1, ``num_anchors``
    channels) and ``bbox_pred`` (1x1, ``4 num_anchors``), shared by every feature map; weights
    ``N(0, 0.01²)``, biases 0."""

    def __init__(self, in_channels, num_anchors, conv_depth=1):
        super().__init__()
        self.conv = nn.Sequential(*[Conv2dNormActivation(in_channels, in_channels, kernel_size=3,
                                                         norm_layer=None)
                                    for _ in range(conv_depth)])
        self.cls_logits = nn.Conv2d(in_channels, num_anchors, kernel_size=1, stride=1)
        self.bbox_pred = nn.Conv2d(in_channels, num_anchors * 4, kernel_size=1, stride=1)
        for layer in self.modules():
            if isinstance(layer, nn.Conv2d):
                nn.init.normal_(layer.weight, std=0.01)
                if layer.bias is not None:
                    nn.init.constant_(layer.bias, 0)

    def forward(self, x):
        logits, bbox_reg = [], []
        for feature in x:
            t = self.conv(feature)
            logits.append(self.cls_logits(t))
            bbox_reg.append(self.bbox_pred(t))
        return logits, bbox_reg


def _permute_and_flatten(layer, n, a, c, h, w):
    return layer.view(n, -1, c, h, w).permute(0, 3, 4, 1, 2).reshape(n, -1, c)


def concat_box_prediction_layers(box_cls, box_regression):
    """The per-map head outputs ``(N, A·C, H, W)`` and ``(N, A·4, H, W)`` as
    ``(N·sum H W A, C)`` and ``(N·sum H W A, 4)``, in the anchors' order."""
    flat_cls, flat_reg = [], []
    for cls, reg in zip(box_cls, box_regression):
        n, axc, h, w = cls.shape
        a = reg.shape[1] // 4
        flat_cls.append(_permute_and_flatten(cls, n, a, axc // a, h, w))
        flat_reg.append(_permute_and_flatten(reg, n, a, 4, h, w))
    return ember.cat(flat_cls, dim=1).flatten(0, -2), ember.cat(flat_reg, dim=1).reshape(-1, 4)


class RegionProposalNetwork(nn.Module):
    """The RPN (see the module docstring); torchvision's arguments.

    ``forward(images, features, targets=None)`` -> ``(boxes, losses)``: per image the
    proposals ``(L_i, 4)`` (no gradient), and in training ``{"loss_objectness",
    "loss_rpn_box_reg"}``.

    ``featmap_names`` (attribute, Ember's addition, default None: every map, as torchvision):
    the names of the maps the RPN slides over, when the backbone returns maps meant for the
    RoI heads only (``maskrcnn_small`` keeps its stride-2 map for the mask head).
    """

    def __init__(self, anchor_generator, head, fg_iou_thresh, bg_iou_thresh,
                 batch_size_per_image, positive_fraction, pre_nms_top_n, post_nms_top_n,
                 nms_thresh, score_thresh=0.0):
        super().__init__()
        self.anchor_generator = anchor_generator
        self.head = head
        self.box_coder = BoxCoder(weights=(1.0, 1.0, 1.0, 1.0))
        self.box_similarity = box_ops.box_iou
        self.proposal_matcher = Matcher(fg_iou_thresh, bg_iou_thresh,
                                        allow_low_quality_matches=True)
        self.fg_bg_sampler = BalancedPositiveNegativeSampler(batch_size_per_image,
                                                             positive_fraction)
        self._pre_nms_top_n = pre_nms_top_n
        self._post_nms_top_n = post_nms_top_n
        self.nms_thresh = nms_thresh
        self.score_thresh = score_thresh
        self.min_size = 1e-3
        self.featmap_names = None

    def pre_nms_top_n(self):
        return self._pre_nms_top_n["training" if self.training else "testing"]

    def post_nms_top_n(self):
        return self._post_nms_top_n["training" if self.training else "testing"]

    def assign_targets_to_anchors(self, anchors, targets):
        """Per image: anchor labels (1 object, 0 background, -1 ignored) and the box of each
        anchor's object."""
        labels, matched_gt_boxes = [], []
        for anchors_per_image, target in zip(anchors, targets):
            gt_boxes = target["boxes"]
            if gt_boxes.numel() == 0:                 # an image without objects: all background
                matched = ember.zeros(anchors_per_image.shape, dtype=ember.float32)
                labels_per_image = ember.zeros(anchors_per_image.shape[0], dtype=ember.float32)
            else:
                with ember.no_grad():
                    quality = self.box_similarity(gt_boxes, anchors_per_image)
                matched_idxs = self.proposal_matcher(quality).numpy()
                matched = gt_boxes[ember.from_numpy(np.maximum(matched_idxs, 0))]
                lab = (matched_idxs >= 0).astype(np.float32)
                lab[matched_idxs == Matcher.BELOW_LOW_THRESHOLD] = 0.0
                lab[matched_idxs == Matcher.BETWEEN_THRESHOLDS] = -1.0
                labels_per_image = ember.from_numpy(lab)
            labels.append(labels_per_image)
            matched_gt_boxes.append(matched)
        return labels, matched_gt_boxes

    def _get_top_n_idx(self, objectness, num_anchors_per_level):
        """Per image, the indices of the best ``pre_nms_top_n`` anchors of every map."""
        out, offset = [], 0
        for n in num_anchors_per_level:
            level = objectness[:, offset:offset + n]
            k = min(self.pre_nms_top_n(), n)
            top = np.argsort(-level, axis=1, kind="stable")[:, :k]
            out.append(top + offset)
            offset += n
        return np.concatenate(out, axis=1)

    def filter_proposals(self, proposals, objectness, image_shapes, num_anchors_per_level):
        """The proposals of each image: top anchors per map, clipped, small and low-score
        boxes dropped, NMS per map, the best ``post_nms_top_n`` kept."""
        num_images = proposals.shape[0]
        objectness = objectness.detach()._data.reshape(num_images, -1)
        proposals = proposals.detach()._data
        levels = np.concatenate([np.full(n, i) for i, n in enumerate(num_anchors_per_level)])
        top = self._get_top_n_idx(objectness, num_anchors_per_level)
        rows = np.arange(num_images)[:, None]
        scores_all = 1.0 / (1.0 + np.exp(-objectness[rows, top].astype(np.float64)))
        scores_all = scores_all.astype(objectness.dtype)
        boxes_all, levels_all = proposals[rows, top], levels[top]
        final_boxes, final_scores = [], []
        for boxes, scores, lvl, (h, w) in zip(boxes_all, scores_all, levels_all, image_shapes):
            boxes = np.stack([boxes[:, 0].clip(0, w), boxes[:, 1].clip(0, h),
                              boxes[:, 2].clip(0, w), boxes[:, 3].clip(0, h)], 1)
            keep = (((boxes[:, 2] - boxes[:, 0]) >= self.min_size)
                    & ((boxes[:, 3] - boxes[:, 1]) >= self.min_size)
                    & (scores >= self.score_thresh))
            boxes, scores, lvl = boxes[keep], scores[keep], lvl[keep]
            keep = greedy_keep(boxes, scores, self.nms_thresh, lvl)[:self.post_nms_top_n()]
            final_boxes.append(ember.from_numpy(np.ascontiguousarray(boxes[keep])))
            final_scores.append(ember.from_numpy(np.ascontiguousarray(scores[keep])))
        return final_boxes, final_scores

    def compute_loss(self, objectness, pred_bbox_deltas, labels, regression_targets):
        """``(objectness loss, box loss)`` over the sampled anchors: mean binary
        cross-entropy, and smooth-L1 (``beta = 1/9``) summed over the positives divided by the
        number of sampled anchors."""
        pos_masks, neg_masks = self.fg_bg_sampler(labels)
        pos = np.flatnonzero(np.concatenate([m.numpy() for m in pos_masks]))
        neg = np.flatnonzero(np.concatenate([m.numpy() for m in neg_masks]))
        sampled = ember.from_numpy(np.concatenate([pos, neg]))
        pos = ember.from_numpy(pos)
        objectness = objectness.flatten()
        labels = ember.cat(labels, dim=0)
        regression_targets = ember.cat(regression_targets, dim=0)
        box_loss = F.smooth_l1_loss(pred_bbox_deltas[pos], regression_targets[pos],
                                    beta=1 / 9, reduction="sum") / max(sampled.numel(), 1)
        objectness_loss = F.binary_cross_entropy_with_logits(objectness[sampled],
                                                             labels[sampled])
        return objectness_loss, box_loss

    def forward(self, images, features, targets=None):
        if self.featmap_names is not None:
            missing = [name for name in self.featmap_names if name not in features]
            if missing:
                raise KeyError(f"RegionProposalNetwork: featmap_names {self.featmap_names} "
                               f"asks for maps {missing} the backbone does not return (it "
                               f"returns {list(features)})")
            features = [features[name] for name in self.featmap_names]
        else:
            features = list(features.values())
        objectness, pred_bbox_deltas = self.head(features)
        anchors = self.anchor_generator(images, features)
        num_images = len(anchors)
        num_anchors_per_level = [int(np.prod(o.shape[1:])) for o in objectness]
        objectness, pred_bbox_deltas = concat_box_prediction_layers(objectness, pred_bbox_deltas)
        with ember.no_grad():
            proposals = self.box_coder.decode(pred_bbox_deltas.detach(), anchors)
        proposals = proposals.view(num_images, -1, 4)
        boxes, _ = self.filter_proposals(proposals, objectness, images.image_sizes,
                                         num_anchors_per_level)
        losses = {}
        if self.training:
            if targets is None:
                raise ValueError("RegionProposalNetwork: targets are needed in training mode")
            labels, matched_gt_boxes = self.assign_targets_to_anchors(anchors, targets)
            with ember.no_grad():
                regression_targets = self.box_coder.encode(matched_gt_boxes, anchors)
            loss_objectness, loss_rpn_box_reg = self.compute_loss(
                objectness, pred_bbox_deltas, labels, regression_targets)
            losses = {"loss_objectness": loss_objectness, "loss_rpn_box_reg": loss_rpn_box_reg}
        return boxes, losses
