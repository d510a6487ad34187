"""Datasets for ``ember.vision``: bundled real digits, readers for standard formats the
user brings (MNIST IDX, CIFAR pickles, image folders, Pascal VOC segmentation, image + mask
folders), scenes of digits for segmentation, generated 2-D toy sets, and the ``available()``
catalogue. Nothing here ever downloads."""
from ember.vision.datasets.bundled import Digits, MNISTSample
from ember.vision.datasets.canvas import DigitCanvases, Scene
from ember.vision.datasets.cifar import CIFAR10, CIFAR100
from ember.vision.datasets.detection import (VOC_CLASSES, CocoDetection, MNISTDetection,
                                             VOCDetection, parse_voc_xml)
from ember.vision.datasets.fakedata import FakeData
from ember.vision.datasets.folder import IMG_EXTENSIONS, DatasetFolder, ImageFolder, default_loader
from ember.vision.datasets.mnist import KMNIST, MNIST, FashionMNIST, read_idx
from ember.vision.datasets.registry import DatasetInfo, available
from ember.vision.datasets.segmentation import (MNISTSegment, SegmentationFolder,
                                                VOCSegmentation)
from ember.vision.datasets.toy import (make_circles, make_moons, make_polynomial, make_spirals,
                                       make_xor)
from ember.vision.datasets.vision import DatasetFormatError, DatasetNotFoundError, VisionDataset

__all__ = ["MNISTSample", "Digits", "DigitCanvases", "Scene", "FakeData", "MNISTDetection",
           "CocoDetection", "VOCDetection", "VOC_CLASSES", "parse_voc_xml", "MNIST",
           "FashionMNIST", "KMNIST", "CIFAR10", "CIFAR100",
           "DatasetFolder", "ImageFolder", "IMG_EXTENSIONS", "default_loader", "read_idx",
           "MNISTSegment", "VOCSegmentation", "SegmentationFolder",
           "make_xor", "make_circles", "make_moons", "make_spirals", "make_polynomial",
           "available", "DatasetInfo",
           "VisionDataset", "DatasetNotFoundError", "DatasetFormatError"]
