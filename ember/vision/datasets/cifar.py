"""CIFAR-10 and CIFAR-100 read from the user's "python version" pickle batches.

CIFAR images are 32x32x3 (3,072 numbers per image, the lectures' CIFAR example: `001`
L162-209, inventory E3). Each batch file is a pickled dict with ``data`` (uint8, N x 3072: the red plane,
then green, then blue, each row-major 32x32) and the labels (``labels`` for CIFAR-10,
``fine_labels`` for CIFAR-100); the ``meta`` file holds the class names.

Pickle can run arbitrary code, so the files are read with ``restricted_unpickle``: Ember's
restricted pickle machine (``ember.serialization.restricted_pickle``), which only rebuilds
the builtin containers and NumPy arrays these files hold and refuses anything else, and
every field is type-checked before it is used (``ember.reading``'s contract: a bad file is
one ``DatasetFormatError`` line naming it).
"""
import numbers
import os

import numpy as np

from ember.reading import FileFormatError
from ember.serialization.restricted_pickle import DataRebuilders, Unpickler
from ember.vision.datasets.vision import (DatasetFormatError, DatasetNotFoundError,
                                          VisionDataset, no_download_error)


def restricted_unpickle(path):
    """Unpickle ``path`` allowing only builtin containers, numbers, strings and NumPy arrays.

    Python-2 pickles (the CIFAR originals) are decoded with ``encoding="latin1"``, as
    torchvision does, so their keys come back as ``str``. Any error, including a pickle
    that tries to call a function, is raised as ``DatasetFormatError`` naming the file.
    """
    with open(path, "rb") as f:
        data = f.read()
    rebuilders = DataRebuilders()

    def find_global(module, name):
        found = rebuilders.globals.get((module, name))
        if found is None:
            raise DatasetFormatError(f"{path}: not a readable CIFAR pickle: refusing to load "
                                     f"'{module}.{name}': only builtin containers and NumPy "
                                     f"arrays are allowed in a dataset file"[:300])
        return found
    try:
        return Unpickler(data, f"{path}: not a readable CIFAR pickle", find_global,
                         build=rebuilders.build, encoding="latin1").load()[0]
    except DatasetFormatError:
        raise
    except FileFormatError as e:
        raise DatasetFormatError(str(e)) from None


def _labels(values, path, key, num_classes):
    """``values`` as a list of ints in ``0..num_classes-1``, or a one-line error."""
    if isinstance(values, np.ndarray) and values.ndim == 1 and values.dtype.kind in "iu":
        values = values.tolist()
    if not isinstance(values, (list, tuple)):
        raise DatasetFormatError(f"{path}: '{key}' must be a list of ints, got "
                                 f"{type(values).__name__}")
    for i, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) \
                or not 0 <= value < num_classes:
            raise DatasetFormatError(f"{path}: '{key}' must hold ints in 0..{num_classes - 1}, "
                                     f"found {value!r} at index {i}"[:300])
    return [int(value) for value in values]


class CIFAR10(VisionDataset):
    """CIFAR-10: 60,000 32x32 colour images in 10 classes (50,000 train, 10,000 test).

    Args:
        root: folder holding ``cifar-10-batches-py/`` (the extracted archive), or the batch
            files themselves.
        train: ``data_batch_1`` .. ``data_batch_5`` if True, else ``test_batch``.
        transform: applied to the PIL image (mode ``"RGB"``).
        target_transform: applied to the integer label.
        download: Ember never downloads; if the files are present this is a no-op, otherwise
            it raises ``DatasetNotFoundError`` explaining where to put them.

    Attributes: ``data`` (uint8 ndarray, N x 32 x 32 x 3, as in torchvision), ``targets``
    (list of int), ``classes`` (from ``batches.meta``), ``class_to_idx``.
    """
    base_folder = "cifar-10-batches-py"
    train_list = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5"]
    test_list = ["test_batch"]
    meta = {"filename": "batches.meta", "key": "label_names"}
    labels_key = "labels"
    num_classes = 10

    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        if root is None:
            raise TypeError(f"{type(self).__name__}: root is required (the folder holding "
                            f"{self.base_folder}/)")
        super().__init__(root, transform, target_transform)
        self.train = bool(train)
        names = (self.train_list if self.train else self.test_list) + [self.meta["filename"]]
        folder = self._find_folder(names)
        if folder is None:
            searched = [os.path.join(self.root, self.base_folder), self.root]
            files = [os.path.join(self.base_folder, n)
                     for n in self.train_list + self.test_list + [self.meta["filename"]]]
            if download:
                raise no_download_error(type(self).__name__, [self.root], files)
            missing = [n for n in names if not os.path.isfile(os.path.join(searched[0], n))]
            raise DatasetNotFoundError(
                f"{type(self).__name__}: missing {', '.join(missing)} in {searched[0]}. Extract "
                f"the CIFAR 'python version' archive into {self.root} so that "
                f"{self.root}/{self.base_folder}/ holds "
                f"{', '.join(self.train_list + self.test_list + [self.meta['filename']])}")
        self.classes = self._load_meta(os.path.join(folder, self.meta["filename"]))
        batches = [self._load_batch(os.path.join(folder, n))
                   for n in (self.train_list if self.train else self.test_list)]
        flat = np.concatenate([data for data, _ in batches])
        self.data = np.ascontiguousarray(flat.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        self.targets = [label for _, labels in batches for label in labels]

    def _find_folder(self, names):
        for folder in (os.path.join(self.root, self.base_folder), self.root):
            if all(os.path.isfile(os.path.join(folder, n)) for n in names):
                return folder
        return None

    def _load_batch(self, path):
        entry = restricted_unpickle(path)
        expected = (f"a dict with 'data' (uint8, N x 3072) and '{self.labels_key}' "
                    f"(N ints in 0..{self.num_classes - 1})")
        if not isinstance(entry, dict) or "data" not in entry or self.labels_key not in entry:
            keys = sorted(map(repr, entry)) if isinstance(entry, dict) else type(entry).__name__
            raise DatasetFormatError(f"{path}: expected {expected}, got {keys}"[:300])
        data = entry["data"]
        if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
                or data.shape[1] != 3072:
            got = f"{data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray) \
                else type(data).__name__
            raise DatasetFormatError(f"{path}: expected 'data' to be uint8 N x 3072, got {got}")
        labels = _labels(entry[self.labels_key], path, self.labels_key, self.num_classes)
        if len(labels) != len(data):
            raise DatasetFormatError(f"{path}: {len(data)} images but {len(labels)} labels in "
                                     f"'{self.labels_key}'")
        return data, labels

    def _load_meta(self, path):
        meta = restricted_unpickle(path)
        key = self.meta["key"]
        names = meta.get(key) if isinstance(meta, dict) else None
        if not isinstance(names, (list, tuple)) or len(names) != self.num_classes \
                or not all(isinstance(name, (str, bytes)) for name in names):
            raise DatasetFormatError(f"{path}: expected a dict whose '{key}' lists "
                                     f"{self.num_classes} class names (strings)")
        return [name.decode("latin-1") if isinstance(name, bytes) else name for name in names]

    @property
    def class_to_idx(self):
        return {name: i for i, name in enumerate(self.classes)}

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        from PIL import Image
        image = Image.fromarray(self.data[index])
        return self._apply_transforms(image, self.targets[index])

    def extra_repr(self):
        return f"Split: {'Train' if self.train else 'Test'}"


class CIFAR100(CIFAR10):
    """CIFAR-100: like ``CIFAR10`` with 100 fine classes.

    Files: ``cifar-100-python/train``, ``test`` and ``meta``; labels are ``fine_labels`` and
    ``classes`` are ``fine_label_names``, as in torchvision.
    """
    base_folder = "cifar-100-python"
    train_list = ["train"]
    test_list = ["test"]
    meta = {"filename": "meta", "key": "fine_label_names"}
    labels_key = "fine_labels"
    num_classes = 100
