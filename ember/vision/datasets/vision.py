"""``VisionDataset``, the base of the image datasets, and the errors they raise.

Every dataset here takes ``root``, ``transform`` (applied to the image) and
``target_transform`` (applied to the label), like torchvision's, and prints the same
summary. Nothing is ever downloaded: a dataset reads files that are bundled with a
Python package or that the user put under ``root``; when they are missing or damaged the
error says which file, what was expected and where to put it.
"""
import os

from ember.reading import FileFormatError
from ember.utils.data import Dataset


class DatasetNotFoundError(FileNotFoundError):
    """A dataset file is missing; the message names it and the folders that were searched."""


class DatasetFormatError(FileFormatError):
    """A dataset file exists but is corrupt, truncated, not in the expected format or over a
    limit of ``ember.reading`` (an ``ember.FileFormatError``)."""


def no_download_error(name, searched, files):
    """The error for ``download=True``: Ember has no network access at run time."""
    where = "\n  ".join(searched)
    wanted = "\n  ".join(files)
    return DatasetNotFoundError(
        f"{name}: download=True, but Ember never downloads data (there is no network access "
        f"at run time). Copy these files:\n  {wanted}\ninto one of:\n  {where}")


class VisionDataset(Dataset):
    """Base class: stores ``root``, ``transform``, ``target_transform`` and ``transforms``.

    ``transforms`` (torchvision's, a keyword here) is one callable ``transforms(image,
    target) -> (image, target)`` for targets that must move with the image, such as a
    segmentation mask (``ember.vision.transforms.joint``); it excludes ``transform`` and
    ``target_transform``. Subclasses implement ``__getitem__`` and ``__len__`` and may add
    lines to ``repr`` through ``extra_repr``.
    """

    def __init__(self, root=None, transform=None, target_transform=None, transforms=None):
        if transforms is not None and (transform is not None or target_transform is not None):
            raise ValueError(f"{type(self).__name__}: give either transforms (applied to the "
                             f"image and the target together) or transform / "
                             f"target_transform, not both")
        self.root = os.path.expanduser(os.fspath(root)) if root is not None else None
        self.transform = transform
        self.target_transform = target_transform
        self.transforms = transforms

    def _apply_transforms(self, image, target):
        if self.transforms is not None:
            return self.transforms(image, target)
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = [f"Number of datapoints: {len(self)}"]
        if self.root is not None:
            lines.append(f"Root location: {self.root}")
        lines += [line for line in self.extra_repr().splitlines() if line]
        if self.transform is not None:
            lines.append(f"Transform: {_indent(repr(self.transform))}")
        if self.target_transform is not None:
            lines.append(f"Target transform: {_indent(repr(self.target_transform))}")
        if self.transforms is not None:
            lines.append(f"Transforms: {_indent(repr(self.transforms))}")
        return "\n".join([f"Dataset {type(self).__name__}"] + ["    " + line for line in lines])


def _indent(text):
    return text.replace("\n", "\n    ")
