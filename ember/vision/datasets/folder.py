"""``DatasetFolder`` / ``ImageFolder``: a user's own pictures, one subfolder per class.

    root/cat/001.png
    root/cat/nested/002.jpg
    root/dog/003.png

gives ``classes == ["cat", "dog"]`` (sorted folder names), ``class_to_idx == {"cat": 0,
"dog": 1}`` and ``samples == [(path, class_index), ...]`` in sorted order, as torchvision's.
"""
import io
import logging
import os
import warnings

from ember.reading import get_limits, raise_limit_hint
from ember.vision.datasets.vision import DatasetFormatError, DatasetNotFoundError, VisionDataset

_QUIET = logging.NullHandler()

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def has_file_allowed_extension(filename, extensions):
    """Whether ``filename`` ends with one of ``extensions`` (a string or tuple; case-insensitive)."""
    return filename.lower().endswith(extensions if isinstance(extensions, str) else tuple(extensions))


def is_image_file(filename):
    return has_file_allowed_extension(filename, IMG_EXTENSIONS)


def load_image(path, mode=None):
    """Open an image file with Pillow and decode it, in the file's own mode or converted to
    ``mode`` (e.g. ``"RGB"``, ``"L"``).

    Keeps ``ember.reading``'s contract: the size the header declares is checked against
    ``max_image_pixels`` before anything is decoded (Pillow's own bomb limit,
    ``PIL.Image.MAX_IMAGE_PIXELS``: twice it is refused by Pillow, whatever ours is), and a
    file that is missing, not an image Pillow reads, damaged or too large raises
    ``DatasetFormatError`` (one line naming it)."""
    from PIL import Image, UnidentifiedImageError
    limit = get_limits().max_image_pixels
    # Pillow logs what it finds wrong in a file before it raises; with no handler of the
    # application's, Python would print that to stderr beside Ember's one line
    logging.getLogger("PIL").addHandler(_QUIET)
    try:
        with open(path, "rb") as f, warnings.catch_warnings():
            # the image decodes or this raises one line: Pillow's warnings about parts of a
            # file it skips, or about sizes under Ember's own limit, would only add noise
            warnings.filterwarnings("ignore", module=r"PIL\.")
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            # from memory: Pillow asks the file for as many bytes as a chunk declares (4 GiB
            # for a damaged PNG length), which a buffer, unlike a file, never allocates
            image = Image.open(io.BytesIO(f.read()))
            width, height = image.size
            if width * height > limit:
                raise DatasetFormatError(
                    f"cannot read image {path}: it declares {width}x{height} = "
                    f"{width * height:,} pixels, more than max_image_pixels={limit:,}; "
                    f"{raise_limit_hint('max_image_pixels')}")
            image.load()
            # a file can claim a mode Pillow decodes but cannot convert (LAB to RGB)
            return image if mode is None or image.mode == mode else image.convert(mode)
    except (DatasetFormatError, MemoryError):
        raise
    except FileNotFoundError:
        raise DatasetNotFoundError(f"image {path} does not exist") from None
    except UnidentifiedImageError:
        raise DatasetFormatError(f"cannot read image {path}: not an image format Pillow "
                                 "reads") from None
    # Pillow's decoders raise whatever their parsing hits on a damaged file (OSError,
    # ValueError, SyntaxError, struct.error, EOFError, IndexError, DecompressionBombError...)
    except Exception as e:                                 # noqa: BLE001
        reason = str(e).strip().splitlines()[0] if str(e).strip() else "no details"
        raise DatasetFormatError(f"cannot read image {path}: {type(e).__name__}: "
                                 f"{reason}"[:300]) from None


def pil_loader(path):
    """Open an image file with Pillow and convert it to RGB (see ``load_image`` for errors
    and limits)."""
    return load_image(path, "RGB")


default_loader = pil_loader


def find_classes(directory):
    """The sorted class-folder names of ``directory`` and their indices."""
    if not os.path.isdir(directory):
        raise DatasetNotFoundError(f"folder '{directory}' does not exist; expected one subfolder "
                                   f"per class, e.g. {os.path.join(directory, 'cat', '001.png')}")
    classes = sorted(entry.name for entry in os.scandir(directory) if entry.is_dir())
    if not classes:
        raise DatasetNotFoundError(f"Couldn't find any class folder in {directory}; expected "
                                   f"one subfolder per class, e.g. "
                                   f"{os.path.join(directory, 'cat', '001.png')}")
    return classes, {name: i for i, name in enumerate(classes)}


def make_dataset(directory, class_to_idx=None, extensions=None, is_valid_file=None,
                 allow_empty=False):
    """The ``(path, class_index)`` pairs under ``directory``, walking each class folder
    recursively in sorted order. Exactly one of ``extensions`` / ``is_valid_file`` is given."""
    directory = os.path.expanduser(directory)
    if class_to_idx is None:
        _, class_to_idx = find_classes(directory)
    elif not class_to_idx:
        raise ValueError("'class_to_index' must have at least one entry to collect any samples.")
    if (extensions is None) == (is_valid_file is None):
        raise ValueError("Both extensions and is_valid_file cannot be None or not None at the same time")
    if extensions is not None:
        def is_valid_file(path):
            return has_file_allowed_extension(path, extensions)
    instances = []
    found = set()
    for target_class in sorted(class_to_idx):
        target_dir = os.path.join(directory, target_class)
        if not os.path.isdir(target_dir):
            continue
        for folder, _, fnames in sorted(os.walk(target_dir, followlinks=True)):
            for fname in sorted(fnames):
                path = os.path.join(folder, fname)
                if is_valid_file(path):
                    instances.append((path, class_to_idx[target_class]))
                    found.add(target_class)
    empty = set(class_to_idx) - found
    if empty and not allow_empty:
        msg = f"Found no valid file for the classes {', '.join(sorted(empty))}. "
        if extensions is not None:
            msg += ("Supported extensions are: "
                    + (extensions if isinstance(extensions, str) else ", ".join(extensions)))
        raise DatasetNotFoundError(msg)
    return instances


class DatasetFolder(VisionDataset):
    """Samples arranged as ``root/<class>/**/<file>``, read by ``loader`` (torchvision's
    ``DatasetFolder``).

    Args:
        root: the folder holding one subfolder per class.
        loader: ``path -> sample``.
        extensions: the file endings to keep (case-insensitive); give this or ``is_valid_file``.
        transform: applied to the loaded sample.
        target_transform: applied to the integer class index.
        is_valid_file: ``path -> bool`` deciding which files to keep.
        allow_empty: if False (default), a class folder with no valid file is an error.

    Attributes: ``classes``, ``class_to_idx``, ``samples`` (list of ``(path, class_index)``),
    ``targets`` (the class indices), ``loader``, ``extensions``.
    """

    def __init__(self, root, loader, extensions=None, transform=None, target_transform=None,
                 is_valid_file=None, allow_empty=False):
        super().__init__(root, transform, target_transform)
        self.classes, self.class_to_idx = self.find_classes(self.root)
        self.samples = self.make_dataset(self.root, self.class_to_idx, extensions, is_valid_file,
                                         allow_empty=allow_empty)
        self.loader = loader
        self.extensions = extensions
        self.targets = [target for _, target in self.samples]

    @staticmethod
    def make_dataset(directory, class_to_idx, extensions=None, is_valid_file=None,
                     allow_empty=False):
        return make_dataset(directory, class_to_idx, extensions, is_valid_file, allow_empty)

    def find_classes(self, directory):
        return find_classes(directory)

    def __getitem__(self, index):
        path, target = self.samples[index]
        return self._apply_transforms(self.loader(path), target)

    def __len__(self):
        return len(self.samples)


class ImageFolder(DatasetFolder):
    """Images arranged as ``root/<class>/**/<image>`` (PNG, JPEG, BMP, ... via Pillow).

    ``dataset[i]`` is ``(RGB PIL image, class index)`` after the transforms; ``imgs`` is an
    alias of ``samples``. Without ``is_valid_file``, files are kept by ``IMG_EXTENSIONS``.
    """

    def __init__(self, root, transform=None, target_transform=None, loader=default_loader,
                 is_valid_file=None, allow_empty=False):
        super().__init__(root, loader, IMG_EXTENSIONS if is_valid_file is None else None,
                         transform=transform, target_transform=target_transform,
                         is_valid_file=is_valid_file, allow_empty=allow_empty)
        self.imgs = self.samples
