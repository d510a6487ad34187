"""Detection transforms move boxes and masks with the image: after any of them, the boxes are
still the tight boxes of the masks, and the per-object entries stay aligned."""
import numpy as np
import pytest

import ember
from ember.vision.datasets import MNISTDetection
from ember.vision.ops import masks_to_boxes
from ember.vision.transforms import detection as T


def _tight(target):
    """The tight pixel-edge boxes of the masks."""
    return masks_to_boxes(target["masks"]).numpy() + [0, 0, 1, 1]


@pytest.fixture
def sample():
    return MNISTDetection("val", length=4)[1]


def test_flip_moves_boxes_with_the_masks(sample):
    image, target = sample
    flipped, moved = T.RandomHorizontalFlip(p=1.0)(image, target)
    assert (flipped.numpy() == image.numpy()[..., ::-1]).all()
    assert np.allclose(moved["boxes"].numpy(), _tight(moved))
    back = T.RandomHorizontalFlip(p=1.0)(flipped, moved)[1]
    assert np.allclose(back["boxes"].numpy(), target["boxes"].numpy())
    same = T.RandomHorizontalFlip(p=0.0)(image, target)[1]
    assert same["boxes"] is target["boxes"]


def test_resize_and_scale_jitter_scale_boxes_masks_and_areas(sample):
    image, target = sample
    resized, moved = T.Resize((32, 96))(image, target)
    assert resized.shape == (1, 32, 96) and moved["masks"].shape[1:] == (32, 96)
    assert np.allclose(moved["boxes"].numpy(), target["boxes"].numpy() * [1.5, 0.5, 1.5, 0.5])
    assert np.allclose(moved["area"].numpy(), target["area"].numpy() * 0.75)
    # nearest-neighbour masks: their boxes stay within a pixel of the scaled boxes
    assert np.abs(_tight(moved) - moved["boxes"].numpy()).max() <= 1.5
    ember.manual_seed(0)
    for _ in range(5):
        jittered, moved = T.ScaleJitter((64, 64), (0.5, 1.5))(image, target)
        scale = jittered.shape[-1] / 64
        assert 0.5 <= scale <= 1.5 and jittered.shape[-2] == jittered.shape[-1]
        assert np.allclose(moved["boxes"].numpy(), target["boxes"].numpy() * scale, atol=1e-4)
    with pytest.raises(ValueError, match="scale_range must be"):
        T.ScaleJitter((64, 64), (2.0, 1.0))


def test_random_crop_keeps_objects_aligned(sample):
    image, target = sample
    ember.manual_seed(3)
    for _ in range(10):
        cropped, moved = T.RandomCrop(40, min_size=3)(image, target)
        assert cropped.shape == (1, 40, 40) and moved["masks"].shape[1:] == (40, 40)
        k = len(moved["boxes"])
        assert all(len(moved[key]) == k for key in ("labels", "masks", "area", "iscrowd"))
        b = moved["boxes"].numpy()
        assert (b >= 0).all() and (b <= 40).all() and ((b[:, 2:] - b[:, :2]) >= 3).all()
        assert (moved["area"].numpy() == moved["masks"].numpy().sum((1, 2))).all()
        # a kept object's mask lies inside its clipped box
        assert (_tight(moved)[:, :2] >= b[:, :2] - 1e-6).all()
    with pytest.raises(ValueError, match=r"crop size \(80, 80\) is larger than the image"):
        T.RandomCrop(80)(image, target)


def test_compose_and_bad_input(sample):
    image, target = sample
    pipeline = T.Compose([T.Resize(32), T.RandomHorizontalFlip(1.0)])
    out, moved = pipeline(image, target)
    assert out.shape == (1, 32, 32) and "Resize(size=32)" in repr(pipeline)
    with pytest.raises(TypeError, match=r"expected an image tensor \(C, H, W\)"):
        T.Resize(8)(np.zeros((8, 8)), target)
    with pytest.raises(TypeError, match="expected a target dict with 'boxes'"):
        T.RandomCrop(8)(image, {"labels": target["labels"]})
