"""Matching predictions to objects, and sampling the matches a loss looks at.

``Matcher`` gives each prediction (anchor or proposal) the object it overlaps most, or a
negative code: the RPN's rule from lecture 003 (inventory C8, D21) — IoU above 0.7 is an
object, below 0.3 background, in between ignored — and, optionally, every object also keeps
the predictions that overlap it best even below the high threshold ("low-quality matches",
so that no object goes without an anchor).

``BalancedPositiveNegativeSampler`` draws at most ``batch_size_per_image`` matches per image,
at most ``positive_fraction`` of them positive: thousands of anchors are background, and a
loss over all of them would teach mostly "nothing here".
"""
import numpy as np

import ember

__all__ = ["Matcher", "BalancedPositiveNegativeSampler"]


class Matcher:
    """``matcher(quality)`` for a ``(M objects, N predictions)`` IoU matrix returns int64
    ``(N,)``: the index of each prediction's object, ``BELOW_LOW_THRESHOLD`` (-1) when its
    best IoU is ``< low_threshold``, ``BETWEEN_THRESHOLDS`` (-2) when in ``[low, high)``.
    With ``allow_low_quality_matches``, every prediction whose IoU with some object equals
    that object's best IoU keeps its best object whatever the thresholds."""

    BELOW_LOW_THRESHOLD = -1
    BETWEEN_THRESHOLDS = -2

    def __init__(self, high_threshold, low_threshold, allow_low_quality_matches=False):
        if low_threshold > high_threshold:
            raise ValueError(f"Matcher: low_threshold ({low_threshold}) must be <= "
                             f"high_threshold ({high_threshold})")
        self.high_threshold = high_threshold
        self.low_threshold = low_threshold
        self.allow_low_quality_matches = allow_low_quality_matches

    def __call__(self, match_quality_matrix):
        q = match_quality_matrix._data if hasattr(match_quality_matrix, "_data") else \
            np.asarray(match_quality_matrix)
        if q.size == 0:
            what = "ground-truth boxes" if q.shape[0] == 0 else "proposal boxes"
            raise ValueError(f"Matcher: no {what} available for one of the images during "
                             f"training")
        matches = q.argmax(0).astype(np.int64)
        matched_vals = q[matches, np.arange(q.shape[1])]
        all_matches = matches.copy()
        matches[matched_vals < self.low_threshold] = self.BELOW_LOW_THRESHOLD
        between = (matched_vals >= self.low_threshold) & (matched_vals < self.high_threshold)
        matches[between] = self.BETWEEN_THRESHOLDS
        if self.allow_low_quality_matches:
            best_per_object = q.max(1, keepdims=True)
            _, predictions = np.nonzero(q == best_per_object)
            matches[predictions] = all_matches[predictions]
        return ember.from_numpy(matches)


class BalancedPositiveNegativeSampler:
    """``sampler(matched_idxs)``: for each image's labels (``-1`` ignored, ``0`` negative,
    ``>= 1`` positive) two uint8 masks of the sampled positives and negatives: at most
    ``int(batch_size_per_image · positive_fraction)`` positives, the rest of the batch
    negatives, each drawn uniformly at random (``ember.randperm``, so runs are seeded)."""

    def __init__(self, batch_size_per_image, positive_fraction):
        self.batch_size_per_image = batch_size_per_image
        self.positive_fraction = positive_fraction

    def __call__(self, matched_idxs):
        pos_masks, neg_masks = [], []
        for labels in matched_idxs:
            labels = labels._data if hasattr(labels, "_data") else np.asarray(labels)
            positive = np.flatnonzero(labels >= 1)
            negative = np.flatnonzero(labels == 0)
            num_pos = min(len(positive), int(self.batch_size_per_image * self.positive_fraction))
            num_neg = min(len(negative), self.batch_size_per_image - num_pos)
            pos = positive[ember.randperm(len(positive)).numpy()[:num_pos]]
            neg = negative[ember.randperm(len(negative)).numpy()[:num_neg]]
            pos_mask = np.zeros(len(labels), np.uint8)
            neg_mask = np.zeros(len(labels), np.uint8)
            pos_mask[pos] = 1
            neg_mask[neg] = 1
            pos_masks.append(ember.from_numpy(pos_mask))
            neg_masks.append(ember.from_numpy(neg_mask))
        return pos_masks, neg_masks
