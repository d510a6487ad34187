"""Segmentation data: the ``MNISTSegment`` scenes, the Pascal VOC and ``images/`` + ``masks/``
readers on small files written here, the joint image + mask transforms and the Dice loss."""
import numpy as np
import pytest
from PIL import Image

import ember
from ember.autograd import gradcheck
from ember.vision.datasets import (DigitCanvases, MNISTSegment, SegmentationFolder,
                                   VOCSegmentation)
from ember.vision.datasets.segmentation import palette
from ember.vision.datasets.vision import DatasetFormatError, DatasetNotFoundError
from ember.vision.losses import DiceLoss, dice_loss
from ember.vision.transforms import RandomCrop as SingleImageCrop
from ember.vision.transforms import joint


# ----------------------------------------------------------------------------- MNISTSegment
def test_mnist_segment_gives_the_canvas_scenes_as_images_and_palette_masks():
    ds = MNISTSegment(split="val", length=5, seed=2)
    canvases = DigitCanvases("val", 5, seed=2)
    image, mask = ds[3]
    assert image.mode == "L" and mask.mode == "P" and image.size == mask.size == (64, 64)
    np.testing.assert_array_equal(np.asarray(image), canvases[3].image)
    np.testing.assert_array_equal(np.asarray(mask), canvases[3].semantic())
    assert mask.getpalette()[3:6] == [128, 0, 0]             # label 1 in VOC's colours
    images, masks = ds.arrays()
    assert images.shape == masks.shape == (5, 64, 64) and masks.dtype == np.uint8
    np.testing.assert_array_equal(masks[3], canvases[3].semantic())
    assert len(MNISTSegment(split="test")) == 500 and MNISTSegment.classes[1] == "0"
    with pytest.raises(ValueError, match="split must be one of"):
        MNISTSegment(split="dev")


def test_mnist_segment_in_the_catalogue():
    from ember.vision.datasets import available
    info = {i.name: i for i in available()}["MNISTSegment"]
    assert info.task == "segmentation" and info.num_classes == len(MNISTSegment.classes) == 11
    assert {split: len(MNISTSegment(split=split)) for split in info.sizes} == info.sizes
    image, mask = MNISTSegment(split="val", length=1)[0]
    assert (1, image.height, image.width) == info.image_shape == (1, 64, 64)


def test_mnist_segment_with_joint_transforms():
    ds = MNISTSegment(length=3, transforms=joint.Compose([joint.RandomHorizontalFlip(1.0),
                                                          joint.ToTensor()]))
    image, mask = ds[0]
    raw_image, raw_mask = MNISTSegment(length=3).scene(0)
    np.testing.assert_allclose(image.numpy()[0], raw_image[:, ::-1] / 255.0, atol=1e-7)
    assert mask.dtype == ember.int64
    np.testing.assert_array_equal(mask.numpy(), raw_mask[:, ::-1])
    with pytest.raises(ValueError, match="either transforms .* or transform / target_transform"):
        MNISTSegment(transforms=joint.ToTensor(), transform=lambda x: x)


# --------------------------------------------------------------------------------- VOC
def _palette_png(labels, path, colours=None):
    image = Image.fromarray(np.asarray(labels, np.uint8), mode="P")
    image.putpalette((palette() if colours is None else colours).reshape(-1).tolist())
    image.save(path)


def _voc(tmp_path, masks, sizes=None):
    base = tmp_path / "VOCdevkit" / "VOC2012"
    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    ids = []
    for k, mask in enumerate(masks):
        name = f"2007_{k:06d}"
        ids.append(name)
        h, w = (sizes or {}).get(k, (mask if isinstance(mask, np.ndarray) else mask[0]).shape[:2])
        Image.fromarray(np.full((h, w, 3), 40 * k, np.uint8)).save(base / "JPEGImages" /
                                                                   f"{name}.jpg")
        if isinstance(mask, np.ndarray):
            _palette_png(mask, base / "SegmentationClass" / f"{name}.png")
        else:                                        # (array, "RGB") or (array, colours)
            array, kind = mask
            if isinstance(kind, str):
                Image.fromarray(array).save(base / "SegmentationClass" / f"{name}.png")
            else:
                _palette_png(array, base / "SegmentationClass" / f"{name}.png", kind)
    (base / "ImageSets" / "Segmentation" / "train.txt").write_text("\n".join(ids) + "\n")
    return base


def test_voc_reads_palette_masks_and_keeps_the_ignore_label(tmp_path):
    labels = np.zeros((6, 8), np.uint8)
    labels[1:4, 2:6] = 15                                        # a person
    labels[1, 2:6] = 255                                         # its border
    _voc(tmp_path, [labels, np.full((5, 7), 20, np.uint8)])
    ds = VOCSegmentation(str(tmp_path), image_set="train")
    assert len(ds) == 2 and ds.classes[15] == "person"
    image, mask = ds[0]
    assert image.mode == "RGB" and image.size == (8, 6)
    np.testing.assert_array_equal(np.asarray(mask), labels)
    image, mask = VOCSegmentation(str(tmp_path), transforms=joint.ToTensor())[1]
    assert tuple(image.shape) == (3, 5, 7) and (mask.numpy() == 20).all()


def test_voc_reads_rgb_masks_through_the_colour_map(tmp_path):
    labels = np.array([[0, 1, 2], [15, 255, 20]], np.uint8)
    _voc(tmp_path, [(palette()[labels], "RGB")])
    np.testing.assert_array_equal(np.asarray(VOCSegmentation(str(tmp_path))[0][1]), labels)


def test_voc_errors_name_the_file_and_the_value(tmp_path):
    rgb = palette()[np.zeros((2, 3), np.uint8)]
    rgb[1, 2] = (1, 2, 3)
    base = _voc(tmp_path / "a", [(rgb, "RGB")])
    with pytest.raises(DatasetFormatError, match=r"mask .*2007_000000\.png has colour \(1, 2, 3\), "
                                                 r"which is not in VOC's colour map"):
        VOCSegmentation(str(tmp_path / "a"))[0]
    colours = palette().copy()
    colours[3] = (9, 9, 9)
    _voc(tmp_path / "b", [(np.full((2, 3), 3, np.uint8), colours)])
    with pytest.raises(DatasetFormatError, match=r"uses palette entry 3 with colour \(9, 9, 9\), "
                                                 r"not VOC's \(128, 128, 0\)"):
        VOCSegmentation(str(tmp_path / "b"))[0]
    _voc(tmp_path / "c", [np.full((2, 3), 30, np.uint8)])
    with pytest.raises(DatasetFormatError, match=r"2007_000000\.png has label 30, outside the "
                                                 r"classes 0\.\.20 and not the ignore label 255"):
        VOCSegmentation(str(tmp_path / "c"))[0]
    _voc(tmp_path / "d", [np.zeros((4, 5), np.uint8)], sizes={0: (4, 6)})
    with pytest.raises(DatasetFormatError, match=r"mask .*2007_000000\.png is 5x4 but its image "
                                                 r".*2007_000000\.jpg is 6x4"):
        VOCSegmentation(str(tmp_path / "d"))[0]
    with pytest.raises(DatasetNotFoundError, match=r"ImageSets/Segmentation/val\.txt does not "
                                                   r"exist"):
        VOCSegmentation(str(tmp_path / "a"), image_set="val")
    with pytest.raises(DatasetNotFoundError, match="never downloads"):
        VOCSegmentation(str(tmp_path / "a"), download=True)
    with pytest.raises(ValueError, match="image_set must be one of"):
        VOCSegmentation(str(tmp_path / "a"), image_set="test")
    assert base.name == "VOC2012"


# ------------------------------------------------------------------------ SegmentationFolder
def _folder(root, masks, image_sizes=None, classes=None):
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for k, mask in enumerate(masks):
        h, w = (image_sizes or {}).get(k, np.asarray(mask).shape[:2])
        Image.fromarray(np.full((h, w), 10 * k, np.uint8)).save(root / "images" / f"im{k}.png")
        Image.fromarray(np.asarray(mask)).save(root / "masks" / f"im{k}.png")
    if classes is not None:
        (root / "classes.txt").write_text("\n".join(classes) + "\n")
    return str(root)


def test_folder_pairs_images_and_masks(tmp_path):
    masks = [np.array([[0, 1], [2, 255]], np.uint8), np.array([[3, 0], [0, 0]], np.uint8)]
    ds = SegmentationFolder(_folder(tmp_path / "a", masks))
    assert len(ds) == 2 and ds.num_classes == 4 and ds.classes == ["0", "1", "2", "3"]
    image, mask = ds[0]
    assert image.mode == "L" and mask.mode == "P"
    np.testing.assert_array_equal(np.asarray(mask), masks[0])
    named = SegmentationFolder(_folder(tmp_path / "b", masks, classes=["bg", "a", "b", "c", "d"]))
    assert named.num_classes == 5 and named.classes[4] == "d"
    assert SegmentationFolder(str(tmp_path / "a"), num_classes=6).classes[-1] == "5"


def test_folder_errors_name_the_file_and_the_value(tmp_path):
    root = _folder(tmp_path / "a", [np.array([[0, 7]], np.uint8)])
    with pytest.raises(DatasetFormatError, match=r"masks/im0\.png has label 7, outside the classes "
                                                 r"0\.\.2 and not the ignore label 255"):
        SegmentationFolder(root, num_classes=3)[0]
    root = _folder(tmp_path / "b", [np.zeros((3, 4), np.uint8)], image_sizes={0: (3, 5)})
    with pytest.raises(DatasetFormatError, match=r"mask .*im0\.png is 4x3 but its image .*im0\.png "
                                                 r"is 5x3"):
        SegmentationFolder(root)[0]
    root = _folder(tmp_path / "c", [np.zeros((2, 2, 3), np.uint8)])
    with pytest.raises(DatasetFormatError, match=r"im0\.png is a RGB image; masks must be "
                                                 r"single-channel"):
        SegmentationFolder(root)
    root = _folder(tmp_path / "d", [np.zeros((2, 2), np.uint8)])
    (tmp_path / "d" / "images" / "extra.png").write_bytes(
        (tmp_path / "d" / "images" / "im0.png").read_bytes())
    with pytest.raises(DatasetNotFoundError, match=r"extra\.png has no mask .*masks/extra\.png"):
        SegmentationFolder(root)
    with pytest.raises(DatasetNotFoundError, match="images does not exist"):
        SegmentationFolder(str(tmp_path / "nowhere"))


# ------------------------------------------------------------------------ joint transforms
def _position_pair(h=12, w=16):
    """An image and a mask that hold the same position code, so that any geometric transform
    applied alike to both keeps them equal wherever the mask is not fill."""
    code = (np.arange(h * w).reshape(h, w) % 250 + 1).astype(np.uint8)
    return code.copy(), code.copy()


@pytest.mark.parametrize("transform", [
    joint.RandomCrop(8, padding=3),
    joint.RandomCrop((14, 20), pad_if_needed=True),
    joint.RandomHorizontalFlip(0.5),
    joint.RandomVerticalFlip(0.5),
    joint.RandomRotation(40, interpolation=joint.NEAREST),
    joint.RandomRotation(30, interpolation=joint.NEAREST, expand=True),
    joint.RandomResize(6, 30, interpolation=joint.NEAREST),
    joint.CenterCrop(14),
    joint.Compose([joint.RandomResize(10, 20, interpolation=joint.NEAREST),
                   joint.RandomCrop(9, pad_if_needed=True), joint.RandomHorizontalFlip()]),
])
@pytest.mark.parametrize("kind", ["numpy", "pil", "tensor"])
def test_joint_transforms_move_image_and_mask_alike(transform, kind):
    ember.manual_seed(3)
    for _ in range(4):
        image, mask = _position_pair()
        if kind == "pil":
            image, mask = Image.fromarray(image), Image.fromarray(mask)
        elif kind == "tensor":
            image, mask = ember.from_numpy(image[None]), ember.from_numpy(mask.astype(np.int64))
        out_image, out_mask = transform(image, mask)
        assert type(out_image) is type(image) and type(out_mask) is type(mask)
        out_image = np.asarray(out_image.numpy() if kind == "tensor" else out_image)
        out_mask = np.asarray(out_mask.numpy() if kind == "tensor" else out_mask)
        out_image = out_image[0] if kind == "tensor" else out_image
        covered = out_mask != 255
        assert covered.any()
        np.testing.assert_array_equal(out_image[covered], out_mask[covered])
        assert (out_image[~covered] == 0).all()                    # the image's fill


def test_masks_are_resampled_with_nearest_neighbour():
    """A bilinear image resize next to a mask: the mask keeps only its own labels."""
    image = np.linspace(0, 255, 64, dtype=np.float32).reshape(8, 8).astype(np.uint8)
    mask = np.zeros((8, 8), np.int64)
    mask[:, 4:] = 7
    for transform in (joint.Resize((13, 11)),
                      joint.RandomRotation((20, 20), joint.InterpolationMode.BILINEAR)):
        out_image, out_mask = transform(image, mask)
        assert set(np.unique(out_mask)) <= {0, 7, 255}
        assert out_image.dtype == np.uint8 and out_mask.dtype == np.int64


def test_joint_transform_errors():
    image, mask = _position_pair()
    with pytest.raises(ValueError, match="RandomHorizontalFlip: the mask is 12x15 but the image "
                                         "is 12x16"):
        joint.RandomHorizontalFlip()(image, mask[:, :15])
    with pytest.raises(TypeError, match="expected joint transforms .* a single-image transform "
                                        "would move the image but not its mask"):
        joint.Compose([SingleImageCrop(4)])
    with pytest.raises(TypeError, match="mask_fill must be an integer label"):
        joint.RandomCrop(4, mask_fill=0.5)
    with pytest.raises(ValueError, match="1 <= min_size < max_size"):
        joint.RandomResize(10, 10)
    with pytest.raises(TypeError, match="a mask must hold integer labels"):
        joint.ToTensor()(image, mask.astype(np.float32))


def test_image_alone_and_to_tensor_normalize():
    image, mask = _position_pair()
    assert joint.RandomHorizontalFlip(1.0)(image).shape == image.shape      # no mask: image only
    x, y = joint.Compose([joint.ToTensor(), joint.Normalize([0.5], [0.25])])(image, mask)
    # float32: x / 255 (<= 1) rounds by <= 2**-24, x - 0.5 (<= 0.5) by <= 2**-25, / 0.25 is
    # exact and multiplies both by 4: |error| <= 3.6e-7
    np.testing.assert_allclose(x.numpy()[0], (image / 255.0 - 0.5) / 0.25, rtol=0, atol=3.6e-7)
    assert y.dtype == ember.int64 and tuple(y.shape) == (12, 16)


# ------------------------------------------------------------------------------ Dice loss
def test_dice_loss_by_hand_and_ignore_index():
    """Scores that put probability 1 (to 1e-9) on the predicted class: ``D_c = (2 |P & T| +
    1) / (|P| + |T| + 1)``; the ignored pixel counts in neither."""
    predicted = np.array([[[0, 0, 1, 1]]])
    truth = np.array([[[0, 1, 1, -100]]])
    scores = np.where(np.arange(2)[None, :, None, None] == predicted[:, None], 40.0, -40.0)
    loss = dice_loss(ember.from_numpy(scores), ember.from_numpy(truth)).item()
    # class 0: P = {0, 1}, T = {0}: (2 + 1) / (2 + 1 + 1); class 1: P = {2}, T = {1, 2}
    assert loss == pytest.approx(1 - ((3 / 4) + (3 / 4)) / 2, abs=1e-12)
    assert DiceLoss(smooth=2.0)(ember.from_numpy(scores), ember.from_numpy(truth)).item() == \
        pytest.approx(1 - (4 / 5 + 4 / 5) / 2, abs=1e-12)


def test_dice_loss_gradient_and_errors():
    rng = np.random.default_rng(0)
    x = ember.from_numpy(rng.normal(size=(2, 3, 4, 5))).requires_grad_(True)
    target = rng.integers(0, 3, size=(2, 4, 5))
    target[0, 0, 0] = 255
    t = ember.from_numpy(target)
    assert gradcheck(lambda a: dice_loss(a, t, ignore_index=255), (x,))
    with pytest.raises(ValueError, match="a target label is 255, outside the classes 0..2"):
        dice_loss(x, t)
    with pytest.raises(ValueError, match=r"target of shape \(2, 4, 4\) does not match scores"):
        dice_loss(x, t[:, :, :4])
    with pytest.raises(ValueError, match="smooth must be positive"):
        dice_loss(x, t, ignore_index=255, smooth=0)


def test_median_frequency_weights_by_hand():
    """Two 2x2 masks, the second with an ignored pixel (3 counted pixels). Class 0: 4 pixels
    of the 4 + 3 of the masks where it occurs (4/7); class 1: 2 of 4 (1/2); class 2: 1 of 3
    (1/3); class 3 never occurs (weight 0). The median of (4/7, 1/2, 1/3) is 1/2."""
    from ember.vision.losses import median_frequency_weights
    masks = np.array([[[0, 1], [1, 0]],
                      [[0, 0], [2, 255]]])
    weights = median_frequency_weights(masks, 4)
    np.testing.assert_allclose(weights, [0.5 / (4 / 7), 0.5 / 0.5, 0.5 / (1 / 3), 0.0],
                               rtol=1e-6)
    assert weights.dtype == np.float32
    np.testing.assert_allclose(median_frequency_weights(masks, 4, power=0.5), np.sqrt(weights),
                               rtol=1e-6)
    with pytest.raises(ValueError, match="a label is 4, outside the classes 0..3"):
        median_frequency_weights(np.where(masks == 2, 4, masks), 4)
