"""CIFAR-10 and CIFAR-100 read from the user's "python version" pickle batches.

CIFAR images are 32x32x3 (3,072 numbers per image, the lectures' CIFAR example: `001`
L162-209, inventory E3). Each batch file is a pickled dict with ``data`` (uint8, N x 3072: the red plane,
then green, then blue, each row-major 32x32) and the labels (``labels`` for CIFAR-10,
``fine_labels`` for CIFAR-100); the ``meta`` file holds the class names.

Pickle can run arbitrary code, so the files are read with ``restricted_unpickle``, which only
rebuilds the builtin containers and NumPy arrays these files hold and refuses anything else.
"""
import codecs
import importlib
import os
import pickle

import numpy as np

from ember.vision.datasets.vision import (DatasetFormatError, DatasetNotFoundError,
                                          VisionDataset, no_download_error)


def _numpy_private(module, name):
    """A NumPy internal that pickled arrays name (``numpy._core`` in NumPy 2, ``numpy.core`` before)."""
    for prefix in ("numpy._core", "numpy.core"):
        try:
            return getattr(importlib.import_module(f"{prefix}.{module}"), name)
        except (ImportError, AttributeError):
            continue
    raise ImportError(f"cannot find NumPy's {module}.{name}")


def _allowed_globals():
    reconstruct = _numpy_private("multiarray", "_reconstruct")
    scalar = _numpy_private("multiarray", "scalar")
    frombuffer = _numpy_private("numeric", "_frombuffer")
    allowed = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
               ("_codecs", "encode"): codecs.encode}
    for prefix in ("numpy.core", "numpy._core"):
        allowed[(f"{prefix}.multiarray", "_reconstruct")] = reconstruct
        allowed[(f"{prefix}.multiarray", "scalar")] = scalar
        allowed[(f"{prefix}.numeric", "_frombuffer")] = frombuffer
    return allowed


class _RestrictedUnpickler(pickle.Unpickler):
    _allowed = None

    def find_class(self, module, name):
        if _RestrictedUnpickler._allowed is None:
            _RestrictedUnpickler._allowed = _allowed_globals()
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load '{module}.{name}': only builtin containers and NumPy "
                f"arrays are allowed in a dataset file") from None


def restricted_unpickle(path):
    """Unpickle ``path`` allowing only builtin containers, numbers, strings and NumPy arrays.

    Python-2 pickles (the CIFAR originals) are decoded with ``encoding="latin1"``, as
    torchvision does, so their keys come back as ``str``. Any error, including a pickle
    that tries to call a function, is raised as ``DatasetFormatError`` naming the file.
    """
    try:
        with open(path, "rb") as f:
            return _RestrictedUnpickler(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, UnicodeDecodeError) as e:
        raise DatasetFormatError(f"{path}: not a readable CIFAR pickle ({type(e).__name__}: "
                                 f"{e})") from None


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
            keys = sorted(map(str, entry)) if isinstance(entry, dict) else type(entry).__name__
            raise DatasetFormatError(f"{path}: expected {expected}, got {keys}")
        data = entry["data"]
        if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
                or data.shape[1] != 3072:
            got = f"{data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray) \
                else type(data).__name__
            raise DatasetFormatError(f"{path}: expected 'data' to be uint8 N x 3072, got {got}")
        labels = [int(v) for v in entry[self.labels_key]]
        if len(labels) != len(data):
            raise DatasetFormatError(f"{path}: {len(data)} images but {len(labels)} labels in "
                                     f"'{self.labels_key}'")
        if labels and not 0 <= min(labels) <= max(labels) < self.num_classes:
            raise DatasetFormatError(f"{path}: labels must lie in 0..{self.num_classes - 1}, "
                                     f"found {min(labels)}..{max(labels)}")
        return data, labels

    def _load_meta(self, path):
        meta = restricted_unpickle(path)
        key = self.meta["key"]
        if not isinstance(meta, dict) or key not in meta or len(meta[key]) != self.num_classes:
            raise DatasetFormatError(f"{path}: expected a dict whose '{key}' lists "
                                     f"{self.num_classes} class names")
        return [str(name) for name in meta[key]]

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
