"""``DigitCanvases``: scenes of real MNIST digits with exact annotations."""
import numpy as np
import pytest

from ember.vision.datasets import DigitCanvases
from ember.vision.datasets.canvas import digit_pools


def test_pools_are_disjoint_and_cover_the_bundled_digits():
    pools = digit_pools()
    assert [len(pools[k][1]) for k in ("train", "val", "test")] == [4000, 500, 500]
    rows = {k: {v.tobytes() for v in pools[k][0]} for k in pools}
    assert not rows["train"] & rows["test"] and not rows["train"] & rows["val"]


def test_scenes_are_deterministic_and_random_access():
    a, b = DigitCanvases("test", 20, seed=3), DigitCanvases("test", 20, seed=3)
    for i in (0, 7, 19, -1):
        sa, sb = a[i], b[i]
        np.testing.assert_array_equal(sa.image, sb.image)
        np.testing.assert_array_equal(sa.boxes, sb.boxes)
    assert not np.array_equal(a[0].image, DigitCanvases("test", 20, seed=4)[0].image)
    assert not np.array_equal(a[0].image, DigitCanvases("train", 20, seed=3)[0].image)
    with pytest.raises(IndexError, match="index 20 out of range for 20 scenes"):
        a[20]


def test_annotations_are_exact():
    """Masks are disjoint, lie on bright pixels, and the semantic map and boxes follow them."""
    scenes = DigitCanvases("train", 40, size=64, digits=(1, 6), seed=0)
    counts = []
    for scene in scenes:
        k = len(scene.labels)
        counts.append(k)
        assert scene.image.dtype == np.uint8 and scene.masks.shape == (k, 64, 64)
        assert (scene.masks.sum(0) <= 1).all()                         # one owner per pixel
        assert (scene.image[scene.masks.any(0)] > 100).all()           # owned pixels are ink
        assert ((scene.labels >= 0) & (scene.labels <= 9)).all()
        semantic = scene.semantic()
        for label, mask, (x1, y1, x2, y2) in zip(scene.labels, scene.masks, scene.boxes):
            assert (semantic[mask] == label + 1).all() and mask.sum() >= 20
            rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
            assert (x1, y1, x2, y2) == (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)
        assert (semantic[~scene.masks.any(0)] == 0).all()
    assert min(counts) >= 1 and max(counts) >= 4


def test_bad_arguments_are_one_line_errors():
    with pytest.raises(ValueError, match="split must be one of"):
        DigitCanvases("dev")
    with pytest.raises(ValueError, match="does not fit a 32x32 canvas"):
        DigitCanvases(size=32, scale=(1.0, 1.5))
    with pytest.raises(ValueError, match="digits must be"):
        DigitCanvases(digits=(0, 2))
