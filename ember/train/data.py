"""Data for ``ember train`` / ``eval`` / ``predict``: datasets by name, seeded splits, the
preprocessing every image goes through, and fast in-memory batches.

Every dataset is read once into a uint8 array ``(N, H, W, C)``. The preprocessing — stored
in the run's config and in every checkpoint, so ``ember predict`` treats a new picture the
way training treated the data — is::

    {"channels": C, "size": [H, W], "mean": [...], "std": [...]}

    image -> grey ("L") or RGB with C channels -> H x W (bilinear, only if the size differs)
          -> x / 255 -> (x - mean[c]) / std[c]       (per channel; mean/std of the TRAIN split)

Splits are seeded by ``split_seed`` (0 by default; independent of ``--seed``, so runs with
different seeds are evaluated on the same held-out images). Bundled data sets without a
test split (``mnist-sample``, ``digits``, image folders) are permuted with
``numpy.random.default_rng(split_seed)``: the first ``test_fraction`` of the permutation is
the test set, the next ``val_split`` the validation set, the rest the training set (for
``mnist-sample``: 500 / 500 / 4,000). Data sets with a test split (MNIST, CIFAR) take the
validation set from the end of a permutation of their training split.
"""
import os

import numpy as np

import ember
from ember.utils.data import Dataset
from ember.utils.data.worker import fetch_rng

__all__ = ["DATASETS", "DataError", "ArrayDataset", "collate_batch", "load_arrays", "split_indices",
           "fit_preprocessing", "preprocess_arrays", "preprocess_image", "check_image_size",
           "load_splits"]

DATASETS = ("mnist-sample", "digits", "mnist", "fashion-mnist", "kmnist", "cifar10", "cifar100",
            "folder")
_NEEDS_ROOT = ("mnist", "fashion-mnist", "kmnist", "cifar10", "cifar100", "folder")
HAS_TEST_SPLIT = ("mnist", "fashion-mnist", "kmnist", "cifar10", "cifar100")


class DataError(RuntimeError):
    """The requested data cannot be used (missing path, unknown name, wrong image size); the
    message is one line."""


def _first_line(error):
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _to_hwc(images):
    images = images._data if hasattr(images, "_data") else np.asarray(images)
    return images[..., None] if images.ndim == 3 else images


def load_arrays(name, root=None, train=True):
    """``(images uint8 (N, H, W, C), labels int64 (N,), class names, has_test_split)``.

    ``train`` selects the training or test files of data sets that have both (MNIST, CIFAR);
    bundled data sets and image folders return every image (split by ``split_indices``)."""
    from ember.vision import datasets
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    if name in _NEEDS_ROOT:
        if root is None:
            raise DataError(f"dataset {name} needs --data-root (the folder holding its files; "
                            f"Ember never downloads)")
        if not os.path.exists(root):
            raise DataError(f"dataset path {root} does not exist")
    try:
        if name in ("mnist-sample", "digits"):
            cls = datasets.MNISTSample if name == "mnist-sample" else datasets.Digits
            ds = cls(train=None)
            images = ds.data.numpy()
            if name == "digits":              # 0..16 -> 0..255, as Digits' PIL images
                images = np.floor(images * (255.0 / 16.0) + 0.5).astype(np.uint8)
            return _to_hwc(images), ds.targets.numpy(), list(ds.classes), False
        if name == "folder":
            return _load_folder(root) + (False,)
        cls = {"mnist": datasets.MNIST, "fashion-mnist": datasets.FashionMNIST,
               "kmnist": datasets.KMNIST, "cifar10": datasets.CIFAR10,
               "cifar100": datasets.CIFAR100}[name]
        ds = cls(root, train=train)
    except (datasets.DatasetNotFoundError, datasets.DatasetFormatError, ImportError) as e:
        raise DataError(_first_line(e)) from None
    labels = ds.targets.numpy() if hasattr(ds.targets, "numpy") else np.asarray(ds.targets)
    return _to_hwc(ds.data), labels.astype(np.int64), list(ds.classes), True


def _load_folder(root):
    """An ``ImageFolder``'s images, all converted to the first image's mode and size.

    The pixels this makes may not exceed ``max_expansion_ratio`` times the bytes of the image
    files (``ember.reading``): a huge first image would otherwise blow every small one up to
    its size."""
    from ember.reading import ExpansionBudget, FileFormatError
    from ember.vision import datasets
    try:
        folder = datasets.ImageFolder(root, loader=_open_image)
    except (datasets.DatasetNotFoundError, datasets.DatasetFormatError) as e:
        raise DataError(_first_line(e)) from None
    first = _open_image(folder.samples[0][0])
    mode = "L" if first.mode in ("1", "L", "LA", "I", "I;16", "F") else "RGB"
    size = first.size
    stored = sum(os.path.getsize(path) for path, _ in folder.samples)
    try:
        ExpansionBudget(f"image folder {root}", stored).spend(
            len(folder.samples) * size[0] * size[1] * (1 if mode == "L" else 3),
            f"converting its {len(folder.samples)} images to the first one's {size[0]}x"
            f"{size[1]} pixels")
    except FileFormatError as e:
        raise DataError(_first_line(e)) from None
    images = np.stack([np.asarray(_open_image(path, mode).resize(size))
                       for path, _ in folder.samples])
    return _to_hwc(images), np.asarray(folder.targets, dtype=np.int64), list(folder.classes)


def _open_image(path, mode=None):
    """The decoded image at ``path``, converted to ``mode`` if given (``load_image``), or a
    one-line ``DataError``."""
    from ember.vision.datasets import DatasetFormatError, DatasetNotFoundError
    from ember.vision.datasets.folder import load_image
    try:
        return load_image(path, mode)
    except DatasetNotFoundError:
        raise DataError(f"image {path} does not exist") from None
    except DatasetFormatError as e:
        raise DataError(_first_line(e)) from None


def split_sizes(n, val_split, test_fraction, has_test_split):
    """``(train, val, test)`` counts of ``split_indices`` for ``n`` images (test 0 when the
    data set has its own test split)."""
    if not 0.0 <= val_split < 1.0:
        raise DataError(f"--val-split must lie in [0, 1), got {val_split}")
    n_test = 0 if has_test_split else int(round(test_fraction * n))
    n_val = int(round(val_split * n))
    if n - n_test - n_val < 1:
        raise DataError(f"the splits leave no training images ({n} images, {n_test} test, "
                        f"{n_val} validation)")
    return n - n_test - n_val, n_val, n_test


def split_indices(n, val_split, test_fraction, split_seed, has_test_split):
    """``(train, val, test)`` index arrays into the ``n`` images (``test`` is None when the
    data set has its own test split)."""
    _, n_val, n_test = split_sizes(n, val_split, test_fraction, has_test_split)
    perm = np.random.default_rng(split_seed).permutation(n)
    test = None if has_test_split else perm[:n_test]
    return perm[n_test + n_val:], perm[n_test:n_test + n_val], test


def fit_preprocessing(train_images, channels=None):
    """The preprocessing dict (see the module docstring) for ``train_images`` uint8
    ``(N, H, W, C)``: per-channel mean and std of ``x / 255`` over the training split.
    ``channels`` (default: the data's) may turn grey data into 3 equal RGB channels."""
    data_channels = train_images.shape[-1]
    channels = data_channels if channels is None else channels
    if channels not in (1, 3) or (channels == 1 and data_channels == 3):
        raise DataError(f"cannot feed {data_channels}-channel images to a model expecting "
                        f"{channels} channel(s)")
    x = train_images.astype(np.float64) / 255.0
    mean = x.mean(axis=(0, 1, 2))
    std = x.std(axis=(0, 1, 2))
    if channels != data_channels:
        mean, std = np.repeat(mean, channels), np.repeat(std, channels)
    return {"channels": int(channels), "size": [int(s) for s in train_images.shape[1:3]],
            "mean": [float(m) for m in mean], "std": [float(max(s, 1e-8)) for s in std],
            "background": _uniform_background(x)}


def _uniform_background(images):
    """The brightness in [0, 1] of the border every training image shares (MNIST: 0.0, white
    digits on black), or None when the borders vary (photographs): the mean of the outermost
    pixel ring of grey images, kept when its spread over the images is below 0.15. ``ember
    predict`` compares a new image's border with it to detect inverted polarity."""
    if images.shape[-1] != 1 or min(images.shape[1:3]) < 3:
        return None
    grey = images[..., 0]
    ring = np.concatenate([grey[:, 0, :], grey[:, -1, :], grey[:, 1:-1, 0], grey[:, 1:-1, -1]],
                          axis=1)
    per_image = ring.mean(axis=1)
    return float(per_image.mean()) if per_image.std() < 0.15 else None


def check_image_size(images, preprocessing, what):
    """Raise a one-line ``DataError`` unless the uint8 ``(N, H, W, C)`` images have the size
    the model was trained on."""
    h, w = preprocessing["size"]
    if images.shape[-1] > preprocessing["channels"]:
        raise DataError(f"{what} has {images.shape[-1]}-channel images but the model expects "
                        f"{preprocessing['channels']} channel(s)")
    if tuple(images.shape[1:3]) != (h, w):
        raise DataError(f"{what} has {images.shape[1]}x{images.shape[2]} images but the model "
                        f"expects {h}x{w} inputs ({preprocessing['channels']} channel(s))")


def preprocess_arrays(images, preprocessing):
    """uint8 ``(N, H, W, C)`` -> normalised float32 ``(N, C, H, W)`` (sizes must match):
    ``x / 255``, then ``vision.transforms.functional.normalize`` with the preprocessing's
    per-channel mean and std."""
    from ember.vision.transforms import functional as TF
    x = images.astype(np.float32) / np.float32(255.0)
    if x.shape[-1] != preprocessing["channels"]:
        x = np.repeat(x, preprocessing["channels"], axis=-1)
    x = ember.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    with ember.no_grad():
        return TF.normalize(x, preprocessing["mean"], preprocessing["std"], inplace=True).numpy()


def preprocess_image(image, preprocessing, invert="no", notes=None):
    """A PIL image -> the model's normalised float32 input ``(1, C, H, W)``.

    The image is converted to grey or RGB as the training images were. Polarity (grey data):
    ``invert="no"`` (default) keeps it, ``"yes"`` inverts it, ``"auto"`` (what ``ember
    predict`` uses) inverts an image whose border is on the other side of mid-grey from the
    training images' common background (a black digit on white paper for a model trained on
    MNIST's white digits on black). An image of
    another size is padded to the training aspect ratio with its own border colour (so a digit
    is not stretched), then resized (bilinear). Each such change is described by a sentence
    appended to ``notes`` (a list) when one is given."""
    from PIL import Image, ImageOps
    if invert not in ("auto", "yes", "no"):
        raise DataError(f"invert must be 'auto', 'yes' or 'no', got {invert!r}")
    notes = [] if notes is None else notes
    image = image.convert("L" if preprocessing["channels"] == 1 else "RGB")
    background = preprocessing.get("background")
    if invert == "yes":
        image = ImageOps.invert(image)
        notes.append("inverted (--invert yes)")
    elif invert == "auto" and background is not None:
        border = _border_brightness(np.asarray(image))
        if abs(border - background) > 0.5:
            image = ImageOps.invert(image)
            notes.append(f"inverted: its border is {_shade(border)} ({border:.2f}) but the "
                         f"training images' is {_shade(background)} ({background:.2f}); "
                         f"--invert no keeps it as it is")
    h, w = preprocessing["size"]
    if image.size != (w, h):
        original = image.size
        image = _pad_to_aspect(image, w / h)
        image = image.resize((w, h), Image.BILINEAR)
        padded = " padded to the training aspect ratio and" if original[0] * h != original[1] * w else ""
        notes.append(f"{original[0]}x{original[1]}{padded} resized to {w}x{h}, the model's "
                     f"input size")
    pixels = np.asarray(image)
    return preprocess_arrays(_to_hwc(pixels[None]), preprocessing)


def _border_brightness(pixels):
    """Mean of the outermost pixel ring of a grey ``(H, W)`` uint8 image, in [0, 1]."""
    if min(pixels.shape) < 3:
        return float(pixels.mean() / 255.0)
    ring = np.concatenate([pixels[0], pixels[-1], pixels[1:-1, 0], pixels[1:-1, -1]])
    return float(ring.mean() / 255.0)


def _shade(value):
    return "light" if value >= 0.5 else "dark"


def _pad_to_aspect(image, aspect):
    """Pad a PIL image on two opposite sides with the colour of its border until
    ``width / height == aspect`` (to the nearest pixel)."""
    from PIL import ImageOps
    width, height = image.size
    target_w, target_h = max(width, round(height * aspect)), max(height, round(width / aspect))
    if (target_w, target_h) == (width, height):
        return image
    pixels = np.asarray(image)
    ring = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    fill = tuple(int(v) for v in np.median(ring, axis=0).reshape(-1))
    left, top = (target_w - width) // 2, (target_h - height) // 2
    return ImageOps.expand(image, (left, top, target_w - width - left, target_h - height - top),
                           fill=fill[0] if len(fill) == 1 else fill)


class ArrayDataset(Dataset):
    """Preprocessed images ``(N, C, H, W)`` float32 and labels ``(N,)`` held in memory, with an
    optional random augmentation applied to whole batches (``__getitems__``).

    ``augment="basic"``: a random crop with zero padding — every image is shifted by up to
    ``shift`` pixels in each direction (independently per image; the uncovered border is the
    normalised value of a black pixel) — the classic MNIST/CIFAR augmentation, done by
    ``vision.transforms.BatchRandomCrop`` on the whole batch. By default ``shift`` is 2 pixels
    per 28 of the smaller image side (2 for MNIST and CIFAR, 1 for the 8x8 digits, where 2
    pixels would be a quarter of the image). The offsets come from ``fetch_rng()``:
    reproducible, and never drawn from the training thread's generator (see
    ``ember.utils.data.worker``)."""

    def __init__(self, images, labels, augment="none", shift=None, background=None):
        from ember.vision.transforms import BatchRandomCrop
        if augment not in ("none", "basic"):
            raise ValueError(f"ArrayDataset: augment must be 'none' or 'basic', got {augment!r}")
        self.images = images
        self.labels = labels
        self.augment = augment
        if shift is None:
            shift = max(1, round(2 * min(images.shape[2:]) / 28))
        self.shift = int(shift)
        c = images.shape[1]
        fill = [0.0] * c if background is None else [float(v) for v in background]
        self.transform = (BatchRandomCrop(images.shape[2:], padding=self.shift, fill=fill)
                          if augment == "basic" else None)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        images, labels = self.__getitems__([index])
        return images[0], int(labels[0].item())

    def __getitems__(self, indices):
        indices = np.asarray(indices, dtype=np.int64)
        x = self.images[indices]
        if self.transform is not None:
            x = self.transform(x)
        return ember.from_numpy(x), ember.from_numpy(self.labels[indices])


def collate_batch(batch):
    """The ``DataLoader`` ``collate_fn`` for an ``ArrayDataset``, whose ``__getitems__``
    already returns the batch as ``(images, labels)`` tensors."""
    return batch


def load_splits(name, root=None, val_split=0.1, test_fraction=0.1, split_seed=0,
                preprocessing=None, channels=None):
    """The three splits of data set ``name`` as preprocessed ``(images, labels)`` pairs:
    ``{"train": ..., "val": ..., "test": ..., "classes": [...], "preprocessing": {...},
    "raw_test": uint8 test images (N, H, W, C)}``. ``preprocessing`` (from a checkpoint)
    is reused as it is; otherwise it is fitted on the training split."""
    images, labels, classes, has_test = load_arrays(name, root, train=True)
    train_idx, val_idx, test_idx = split_indices(len(labels), val_split, test_fraction,
                                                 split_seed, has_test)
    if has_test:
        test_images, test_labels, _, _ = load_arrays(name, root, train=False)
    else:
        test_images, test_labels = images[test_idx], labels[test_idx]
    if preprocessing is None:
        preprocessing = fit_preprocessing(images[train_idx], channels)
    check_image_size(images, preprocessing, f"dataset {name}")
    out = {"classes": classes, "preprocessing": preprocessing, "raw_test": test_images}
    for split, (x, y) in (("train", (images[train_idx], labels[train_idx])),
                          ("val", (images[val_idx], labels[val_idx])),
                          ("test", (test_images, test_labels))):
        out[split] = (preprocess_arrays(x, preprocessing), y)
    return out
