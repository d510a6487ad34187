"""``ember.vision.utils`` draws the same pixels as ``torchvision.utils``: grids, saved
images, bounding boxes (with labels, fills, rotated boxes) and segmentation masks."""
import inspect
import io

import numpy as np
import pytest
import torch
from PIL import Image

import ember
from ember.vision import utils as eu
from tests.torchvision_oracle import import_torchvision

tu = import_torchvision("utils")
RNG = np.random.default_rng(3)
BATCH = RNG.uniform(-0.5, 1.5, size=(5, 3, 6, 7)).astype(np.float32)
GRAY = RNG.uniform(size=(3, 1, 5, 5)).astype(np.float32)
IMAGE8 = RNG.integers(0, 256, size=(3, 40, 50), dtype=np.uint8)
BOXES = np.array([[2, 3, 20, 30], [10.7, 5.2, 45.9, 18.4], [0, 0, 49, 39], [30, 20, 31, 21]],
                 dtype=np.float32)


def _both(fn, *arrays, **kwargs):
    """``fn`` from each library on the same arrays; the two results as arrays."""
    ours = getattr(eu, fn)(*[ember.from_numpy(a.copy()) if isinstance(a, np.ndarray) else a
                             for a in arrays], **kwargs)
    theirs = getattr(tu, fn)(*[torch.from_numpy(a.copy()) if isinstance(a, np.ndarray) else a
                               for a in arrays], **kwargs)
    assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
    return ours.numpy(), theirs.numpy()


GRIDS = [
    (BATCH, {}), (BATCH, dict(nrow=2)), (BATCH, dict(nrow=10, padding=0)),
    (BATCH, dict(padding=3, pad_value=0.5)), (BATCH, dict(normalize=True)),
    (BATCH, dict(normalize=True, value_range=(0.0, 1.0))),
    (BATCH, dict(normalize=True, scale_each=True, nrow=3)), (GRAY, dict(nrow=2)),
    (BATCH[0], {}), (GRAY[0], {}), (GRAY[0, 0], dict(normalize=True)), (BATCH[:1], {}),
    (IMAGE8[None].repeat(2, 0), dict(pad_value=255)), (BATCH.astype(np.float64), dict(nrow=4)),
]


@pytest.mark.parametrize("images,kwargs", GRIDS, ids=[str(i) for i in range(len(GRIDS))])
def test_make_grid_equals_torchvision(images, kwargs):
    ours, theirs = _both("make_grid", images, **kwargs)
    np.testing.assert_array_equal(ours, theirs)


def test_make_grid_of_a_list_and_its_errors():
    ours = eu.make_grid([ember.from_numpy(b) for b in BATCH], nrow=3)
    theirs = tu.make_grid([torch.from_numpy(b) for b in BATCH], nrow=3)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    for lib, module in ((ember, eu), (torch, tu)):
        with pytest.raises(TypeError):
            module.make_grid([lib.zeros(3, 2, 2), np.zeros((3, 2, 2))])
        with pytest.raises(TypeError):
            module.make_grid(np.zeros((2, 3, 2, 2)))
        with pytest.raises(TypeError):
            module.make_grid(lib.zeros(2, 3, 2, 2), normalize=True, value_range=[0, 1])


@pytest.mark.parametrize("kwargs", [dict(), dict(nrow=2, normalize=True)])
@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp"])
def test_save_image_writes_torchvisions_pixels(tmp_path, suffix, kwargs):
    ours, theirs = tmp_path / f"ours{suffix}", tmp_path / f"theirs{suffix}"
    eu.save_image(ember.from_numpy(BATCH.copy()), ours, **kwargs)
    tu.save_image(torch.from_numpy(BATCH.copy()), theirs, **kwargs)
    np.testing.assert_array_equal(np.asarray(Image.open(ours)), np.asarray(Image.open(theirs)))


def test_save_image_to_a_file_object_with_format():
    ours, theirs = io.BytesIO(), io.BytesIO()
    eu.save_image(ember.from_numpy(GRAY[0].copy()), ours, format="png")
    tu.save_image(torch.from_numpy(GRAY[0].copy()), theirs, format="png")
    assert ours.getvalue() == theirs.getvalue()


FLOAT_IMAGE = IMAGE8.astype(np.float32) / 255
DRAWINGS = [
    (IMAGE8, BOXES, {}),
    (IMAGE8, BOXES, dict(colors="red", width=3)),
    (IMAGE8, BOXES, dict(colors=[(255, 0, 0), "#00FF00", "blue", "yellow"], fill=True)),
    (IMAGE8, BOXES, dict(labels=["cat", "dog", "a long label", "x"])),
    (IMAGE8, BOXES, dict(labels=["cat", "dog", "b", "x"], fill_labels=True,
                         label_colors="white", label_background_colors=(10, 20, 30))),
    (IMAGE8, BOXES, dict(labels=["a", "b", "c", "d"], label_colors=["red"] * 4)),
    (IMAGE8[:1], BOXES[:2], dict(colors=(0, 255, 255))),
    (FLOAT_IMAGE, BOXES, dict(fill=True, labels=["1", "2", "3", "4"])),
    (IMAGE8, np.array([[5, 5, 30, 8, 27, 30, 2, 27], [40, 10, 48, 20, 38, 35, 30, 25]],
                      dtype=np.float32), dict(width=2, fill=True)),
]


@pytest.mark.parametrize("image,boxes,kwargs", DRAWINGS, ids=[str(i) for i in range(len(DRAWINGS))])
def test_draw_bounding_boxes_equals_torchvision(image, boxes, kwargs):
    ours, theirs = _both("draw_bounding_boxes", image, boxes, **kwargs)
    np.testing.assert_array_equal(ours, theirs)
    assert ours.shape == (3,) + image.shape[1:]


def test_draw_bounding_boxes_refuses_what_torchvision_refuses():
    bad = [(IMAGE8.astype(np.int32), BOXES, {}), (IMAGE8[None], BOXES, {}),
           (np.zeros((2, 5, 5), np.uint8), BOXES, {}), (IMAGE8, BOXES[:, [2, 1, 0, 3]], {}),
           (IMAGE8, BOXES, dict(labels=["one"])), (IMAGE8, BOXES, dict(colors=["red"])),
           (IMAGE8, BOXES, dict(colors=(1, 2))), (IMAGE8, BOXES, dict(colors=3))]
    for image, boxes, kwargs in bad:
        with pytest.raises(Exception) as theirs:
            tu.draw_bounding_boxes(torch.from_numpy(image), torch.from_numpy(boxes), **kwargs)
        with pytest.raises(type(theirs.value)):
            eu.draw_bounding_boxes(ember.from_numpy(image), ember.from_numpy(boxes), **kwargs)
    with pytest.raises(TypeError):
        eu.draw_bounding_boxes(IMAGE8, ember.from_numpy(BOXES))
    with pytest.warns(UserWarning, match="No box was drawn"):
        same = eu.draw_bounding_boxes(ember.from_numpy(IMAGE8), ember.zeros(0, 4))
    np.testing.assert_array_equal(same.numpy(), IMAGE8)


MASKS = np.zeros((3, 40, 50), dtype=bool)
MASKS[0, 5:20, 5:30] = True
MASKS[1, 15:35, 20:45] = True     # overlaps mask 0
MASKS[2, 30:, :10] = True
SEGMENTATIONS = [
    (IMAGE8, MASKS, {}), (IMAGE8, MASKS, dict(alpha=0.3, colors="magenta")),
    (IMAGE8, MASKS, dict(colors=[(255, 0, 0), "#00FF00", "blue"], alpha=1.0)),
    (IMAGE8, MASKS[0], dict(alpha=0.5)), (FLOAT_IMAGE, MASKS, dict(alpha=0.6)),
    (FLOAT_IMAGE.astype(np.float64), MASKS[1:], dict(colors=(10, 200, 30))),
]


@pytest.mark.parametrize("image,masks,kwargs", SEGMENTATIONS,
                         ids=[str(i) for i in range(len(SEGMENTATIONS))])
def test_draw_segmentation_masks_equals_torchvision(image, masks, kwargs):
    ours, theirs = _both("draw_segmentation_masks", image, masks, **kwargs)
    if ours.dtype.kind == "f":   # the blend's two products are rounded the same way
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-7)
    else:
        np.testing.assert_array_equal(ours, theirs)


def test_draw_segmentation_masks_refuses_what_torchvision_refuses():
    bad = [(IMAGE8.astype(np.int64), MASKS), (IMAGE8[:1], MASKS[:, :, :]), (IMAGE8[None], MASKS),
           (IMAGE8, MASKS.astype(np.uint8)), (IMAGE8, MASKS[:, :10]), (IMAGE8, MASKS[None])]
    for image, masks in bad:
        with pytest.raises(Exception) as theirs:
            tu.draw_segmentation_masks(torch.from_numpy(image), torch.from_numpy(masks))
        with pytest.raises(type(theirs.value)):
            eu.draw_segmentation_masks(ember.from_numpy(image), ember.from_numpy(masks))


def test_signatures_are_torchvisions():
    for name in eu.__all__:
        ours, theirs = inspect.signature(getattr(eu, name)), inspect.signature(getattr(tu, name))
        assert [(p.name, p.default) for p in ours.parameters.values()] == \
            [(p.name, p.default) for p in theirs.parameters.values()], name
