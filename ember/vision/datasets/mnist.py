"""MNIST-format datasets read from the user's IDX files: ``MNIST``, ``FashionMNIST``, ``KMNIST``.

MNIST is the lectures' first data set (70,000 handwritten digits, 28x28 grey, 60,000 for
training and 10,000 for testing, shipped as four IDX files; `000` L145-206, inventory E2). Fashion-MNIST
and Kuzushiji-MNIST use the same four files and sizes with other pictures.

The IDX format: a big-endian header ``0 0 <type> <ndim>`` followed by ``ndim`` 32-bit sizes,
then the values in C order. Images have magic number 2051 (uint8, 3 dims: N x 28 x 28),
labels 2049 (uint8, 1 dim: N).
"""
import gzip
import os
import struct
import zlib

import numpy as np

import ember
from ember.reading import ExpansionBudget, FileFormatError
from ember.vision.datasets.vision import (DatasetFormatError, DatasetNotFoundError,
                                          VisionDataset, no_download_error)

# IDX type codes -> big-endian NumPy dtypes
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_IMAGES_MAGIC = 2051
_LABELS_MAGIC = 2049
_CHUNK = 1 << 20


def _read_bytes(path):
    """The file's bytes, gunzipped when the name ends in ``.gz``: read in 1 MiB chunks and
    only as far as the IDX header says the file goes (a raw file must be exactly that long;
    a ``.gz`` may not expand past ``max_expansion_ratio`` times its size, ``ember.reading``)."""
    try:
        if not path.endswith(".gz"):
            with open(path, "rb") as f:
                header = f.read(4 + 4 * 255)
                expected = _declared_size(header, path)
                if expected != os.fstat(f.fileno()).st_size:
                    _size_error(path, header, expected, os.fstat(f.fileno()).st_size)
                f.seek(0)
                return f.read()
        budget = ExpansionBudget(path, os.path.getsize(path))
        with gzip.open(path, "rb") as f:
            out = bytearray(f.read(4 + 4 * 255))
            expected = _declared_size(bytes(out), path)
            budget.spend(expected, "decompressing the IDX data it declares")
            while len(out) <= expected:
                chunk = f.read(min(_CHUNK, expected + 1 - len(out)))
                if not chunk:
                    break
                out += chunk
        if len(out) != expected:
            _size_error(path, bytes(out), expected, len(out))
        return bytes(out)
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise DatasetFormatError(f"{path}: corrupt or truncated gzip file ({e})") from None
    except FileFormatError as e:                       # over max_expansion_ratio
        if isinstance(e, DatasetFormatError):
            raise
        raise DatasetFormatError(str(e)) from None


def _header(raw, path):
    """``(dtype, dims, header bytes)`` from the start of an IDX file."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DatasetFormatError(
            f"{path}: not an IDX file (the first 4 bytes should be 0, 0, a type code in "
            f"{sorted(_IDX_DTYPES)}, the number of dimensions; got {list(raw[:4])})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetFormatError(f"{path}: truncated IDX header: {ndim} dimensions need "
                                 f"{header} header bytes, the file has {len(raw)}")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    return np.dtype(_IDX_DTYPES[raw[2]]), dims, header


def _declared_size(raw, path):
    """The file size the header declares, computed in Python ints (no overflow)."""
    dtype, dims, header = _header(raw, path)
    count = 1
    for dim in dims:
        count *= dim
    return header + count * dtype.itemsize


def _size_error(path, raw, expected, actual):
    dtype, dims, _ = _header(raw, path)
    what = "truncated" if actual < expected else "longer than its header declares"
    raise DatasetFormatError(
        f"{path}: file is {what}: the header declares {' x '.join(map(str, dims))} "
        f"{dtype.name} values ({expected} bytes with the header), the file has "
        f"{actual} bytes"[:300])


def read_idx(path):
    """Read an IDX file (raw or ``.gz``) into a NumPy array in native byte order, of the
    file's own type (uint8 for MNIST; the float types for float IDX files).

    Raises ``DatasetFormatError`` naming the file if the header is malformed, the file is
    shorter or longer than its header declares, or float data holds NaN or infinity.
    """
    return _parse_idx(_read_bytes(path), path)


def _parse_idx(raw, path):
    dtype, dims, header = _header(raw, path)
    expected = _declared_size(raw, path)
    if len(raw) != expected:
        _size_error(path, raw, expected, len(raw))
    extent = dtype.itemsize
    for dim in dims:
        extent *= max(dim, 1)
    if extent >= 2 ** 62:
        raise DatasetFormatError(f"{path}: dimensions {' x '.join(map(str, dims))} are too "
                                 f"large to address"[:300])
    array = np.frombuffer(raw, dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))
    if dtype.kind == "f" and not np.isfinite(array).all():
        raise DatasetFormatError(f"{path}: the {dtype.name} values include NaN or infinity")
    return array


def _magic(raw_header):
    return struct.unpack(">I", raw_header)[0]


class MNIST(VisionDataset):
    """MNIST handwritten digits from the four IDX files (torchvision's ``MNIST``).

    Args:
        root: folder holding the files, either torchvision's layout
            ``root/MNIST/raw/train-images-idx3-ubyte`` or flat ``root/train-images-idx3-ubyte``;
            each file may also be gzipped (``.gz``).
        train: the 60,000 training images (``train-*``) if True, else the 10,000 test images
            (``t10k-*``).
        transform: applied to the PIL image (mode ``"L"``), e.g. ``transforms.ToTensor()``.
        target_transform: applied to the integer label.
        download: Ember never downloads; if the files are present this is a no-op, otherwise
            it raises ``DatasetNotFoundError`` explaining where to put them.

    Attributes: ``data`` (uint8 Tensor, N x 28 x 28), ``targets`` (int64 Tensor, N),
    ``classes``, ``class_to_idx``. ``dataset[i]`` is ``(PIL image, int label)`` after the
    transforms.
    """
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
               "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine"]
    _splits = {True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", 60000),
               False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 10000)}

    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        if root is None:
            raise TypeError(f"{type(self).__name__}: root is required (the folder holding the "
                            f"IDX files)")
        super().__init__(root, transform, target_transform)
        self.train = bool(train)
        images_name, labels_name, standard_size = self._splits[self.train]
        images_path = self._find(images_name)
        labels_path = self._find(labels_name)
        missing = [name for name, path in ((images_name, images_path),
                                           (labels_name, labels_path)) if path is None]
        if missing:
            files = [f"{name} (or {name}.gz)" for name in (images_name, labels_name)]
            if download:
                raise no_download_error(type(self).__name__, self._search_folders(), files)
            raise DatasetNotFoundError(
                f"{type(self).__name__}: missing {', '.join(missing)} (raw or .gz). Put "
                f"{' and '.join(files)} in {self.raw_folder} (torchvision's layout) or "
                f"directly in {self.root}. Searched: {', '.join(self._search_folders())}")
        images = self._read(images_path, _IMAGES_MAGIC,
                            f"uint8 images, N x 28 x 28 ({standard_size} x 28 x 28 for the "
                            f"standard {'train' if self.train else 'test'} file)")
        labels = self._read(labels_path, _LABELS_MAGIC,
                            f"uint8 labels, N ({standard_size} for the standard "
                            f"{'train' if self.train else 'test'} file)")
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise DatasetFormatError(f"{images_path}: expected N x 28 x 28 images, got shape "
                                     f"{' x '.join(map(str, images.shape))}")
        if labels.ndim != 1 or len(labels) != len(images):
            raise DatasetFormatError(
                f"{labels_path}: expected {len(images)} labels (one per image in "
                f"{images_path}), got shape {' x '.join(map(str, labels.shape))}")
        if labels.size and labels.max() >= len(self.classes):
            raise DatasetFormatError(f"{labels_path}: labels must lie in 0..{len(self.classes) - 1}, "
                                     f"found {int(labels.max())}")
        self.data = ember.from_numpy(images)
        self.targets = ember.from_numpy(labels.astype(np.int64))

    @property
    def raw_folder(self):
        return os.path.join(self.root, type(self).__name__, "raw")

    @property
    def class_to_idx(self):
        return {name: i for i, name in enumerate(self.classes)}

    def _search_folders(self):
        return [self.raw_folder, os.path.join(self.root, type(self).__name__), self.root]

    def _find(self, name):
        """The first existing variant of ``name`` (raw or .gz; '-' or '.' before idx)."""
        dotted = name.replace("-idx", ".idx")
        for folder in self._search_folders():
            for candidate in (name, name + ".gz", dotted, dotted + ".gz"):
                path = os.path.join(folder, candidate)
                if os.path.isfile(path):
                    return path
        return None

    @staticmethod
    def _read(path, magic, description):
        raw = _read_bytes(path)
        if len(raw) < 4 or _magic(raw[:4]) != magic:
            found = _magic(raw[:4]) if len(raw) >= 4 else f"only {len(raw)} bytes"
            raise DatasetFormatError(f"{path}: expected an IDX file with magic number {magic} "
                                     f"({description}), got {found}")
        return _parse_idx(raw, path)

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        from PIL import Image
        image = Image.fromarray(self.data.numpy()[index])
        return self._apply_transforms(image, int(self.targets.numpy()[index]))

    def extra_repr(self):
        return f"Split: {'Train' if self.train else 'Test'}"


class FashionMNIST(MNIST):
    """Fashion-MNIST: Zalando's 28x28 grey clothing pictures in MNIST's IDX format.

    Same files, layout (``root/FashionMNIST/raw/`` or flat) and attributes as ``MNIST``.
    """
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


class KMNIST(MNIST):
    """Kuzushiji-MNIST: 28x28 cursive Japanese characters in MNIST's IDX format.

    Same files, layout (``root/KMNIST/raw/`` or flat) and attributes as ``MNIST``.
    """
    classes = ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]
