"""``ember.save`` / ``ember.load``: checkpoints in a safe, inspectable format, and PyTorch's.

``ember.save`` writes Ember's own format (``ember_format.py``: a zip of a JSON manifest and
``.npy`` arrays, never pickle) -- tensors, containers, and whole modules and optimizers.
``ember.load`` reads what a file's first bytes say it is (``_FORMATS`` below, the one place
where formats are told apart):

=====================================  ====================================================
file                                   read by
=====================================  ====================================================
Ember checkpoint (``ember.save``)      ``ember_format.read``
PyTorch zip ``.pth`` (``torch.save``)  ``torch_format.read_zip``
PyTorch legacy ``.pth``                ``torch_format.read_legacy``
(``_use_new_zipfile_serialization``
``=False``)
PyTorch tar ``.pth`` (torch < 0.4)     ``torch_format.read_tar``
safetensors (any name)                 ``ember.utils.safetensors.load``
=====================================  ====================================================

``ember.save(state_dict, "model.safetensors")`` (or ``format="safetensors"``) writes the
safetensors format instead (:mod:`ember.utils.safetensors`).

Every reader keeps ``ember.reading``'s contract: it returns what the file holds or raises
``ember.FileFormatError`` with one line naming the file and the problem, runs nothing the
file names except the rebuild functions of an allowlist, and allocates nothing a file
declares before checking it against the bytes present and the limits of
``ember.reading.get_limits()``.

Whole objects: ``ember.load`` rebuilds a module, optimizer or scheduler only if its class is
on the allowlist (``allowlist.py``): Ember's own, plus what ``add_safe_globals`` /
``safe_globals`` add (torch's functions of the same names).
"""
import io
import os

from ember._tensor import Tensor
from ember.reading import FileFormatError, describe_source
from ember.serialization import ember_format, torch_format
from ember.serialization.allowlist import (add_safe_globals, clear_safe_globals,
                                           get_safe_globals, safe_globals)
from ember.serialization.archive import ZipArchive
from ember.serialization.ember_format import FORMAT, MANIFEST, write_atomic

__all__ = ["save", "load", "add_safe_globals", "get_safe_globals", "clear_safe_globals",
           "safe_globals", "write_atomic", "FileFormatError", "FORMAT", "MANIFEST"]

_HEAD = 512
_EXPECTED = ("an Ember checkpoint (ember.save), a PyTorch checkpoint (torch.save: zip, "
             "legacy or tar format) or a safetensors file")


def _read_zip(fileobj, size, source, mapper):
    with ZipArchive(fileobj, size, source, _EXPECTED) as archive:
        names = archive.names()
        if MANIFEST in archive.infos:
            return ember_format.read(archive, source, mapper)
        if torch_format.is_torch_zip(names):
            return torch_format.read_zip(archive, source, size, mapper)
        raise FileFormatError(f"{source} is not {_EXPECTED}: it is a zip archive holding "
                              f"neither {MANIFEST!r} nor <name>/data.pkl")


def _read_legacy(fileobj, size, source, mapper):
    data = bytearray(size)
    if fileobj.readinto(data) != size:
        raise FileFormatError(f"{source} changed size while it was read")
    return torch_format.read_legacy(data, source, mapper)


def _read_tar(fileobj, size, source, mapper):
    return torch_format.read_tar(fileobj, size, source, mapper)


def _read_safetensors(fileobj, size, source, mapper):
    from ember.utils import safetensors
    tensors = safetensors.load(fileobj.read(size), source)
    return tensors if mapper is None else {name: mapper(t) for name, t in tensors.items()}


def _is_safetensors(head):
    from ember.utils.safetensors import is_safetensors_header
    return is_safetensors_header(head[:9])


def _is_zip(head):
    return head[:4] in (b"PK\x03\x04", b"PK\x05\x06")


# (name, test of the file's first bytes, reader(fileobj, size, source, mapper)); the first
# whose test passes reads the file
_FORMATS = (
    ("zip", _is_zip, _read_zip),
    ("torch-legacy", torch_format.is_legacy, _read_legacy),
    ("torch-tar", torch_format.is_tar, _read_tar),
    ("safetensors", _is_safetensors, _read_safetensors),
)


def save(obj, f, format=None):
    """Save ``obj`` to ``f`` (a path or a writable binary file object) in Ember's format, or
    as safetensors.

    ``obj`` may nest dicts (also with int keys, OrderedDict, defaultdict, Counter), lists,
    tuples and sets of Tensors, NumPy arrays and scalars, ints, floats, bools, strings and
    None -- e.g. ``model.state_dict()``, ``optimizer.state_dict()``, or a checkpoint
    ``{'epoch': 3, 'model': ..., 'optim': ...}``. Tensors keep their dtype, shape and
    ``requires_grad`` (and come back as ``nn.Parameter`` if they were one); autograd history
    is not saved.

    Whole objects are saved too: ``ember.save(model, f)`` for an ``nn.Module``, an optimizer
    or a scheduler (and instances of classes added with ``add_safe_globals``), as their
    class name and attributes (``ember_format.py``). ``ember.load`` rebuilds them only for
    classes on the allowlist: Ember's own at once, a class of yours after
    ``ember.serialization.add_safe_globals([YourNet])``.

    ``format`` is ``"ember"`` (this format) or ``"safetensors"`` (a flat dict of str -> Tensor
    such as a ``state_dict``, see :mod:`ember.utils.safetensors`); ``None`` picks
    ``"safetensors"`` for a path ending in ``.safetensors`` and ``"ember"`` otherwise.

    Saving to a path is atomic (``write_atomic``); a file object is written as is.

    Raises:
        TypeError: for an object (or dict key) of an unsupported type, with what can be
            saved; nothing is written.
    """
    if _save_format(f, format) == "safetensors":
        from ember.utils import safetensors
        if isinstance(f, (str, bytes, os.PathLike)):
            safetensors.save_file(obj, f)
        elif hasattr(f, "write"):
            f.write(safetensors.save(obj))
        else:
            raise TypeError(f"ember.save: f must be a path or a binary file object, "
                            f"got {type(f).__name__}")
        return
    ember_format.write(obj, f)


def _save_format(f, format):
    if format is None:
        is_path = isinstance(f, (str, bytes, os.PathLike))
        return "safetensors" if is_path and os.fsdecode(f).endswith(".safetensors") else "ember"
    if format not in ("ember", "safetensors"):
        raise ValueError(f"ember.save: format must be 'ember', 'safetensors' or None, got "
                         f"{format!r}")
    return format


def load(f, map_location=None, weights_only=None):
    """Load what ``ember.save`` or ``torch.save`` wrote to ``f`` (a path or binary file object).

    PyTorch files come back with Ember tensors where torch's were (``nn.Parameter`` where it
    was one), so ``model.load_state_dict(ember.load("resnet18.pth"))`` works for a
    torchvision-style state dict; torch is never imported and nothing in the pickle is run.

    Args:
        f: path (str or PathLike) or a readable binary file object.
        map_location: as in torch, with the CPU as the only device: ``None``, ``'cpu'`` or
            ``ember.device('cpu')``; a dict mapping saved locations to ``'cpu'`` (e.g.
            ``{'cuda:0': 'cpu'}``); or a function ``(storage, location) -> storage``, which
            Ember calls with each loaded tensor and ``'cpu'`` and whose result (a tensor) it
            uses (``lambda storage, loc: storage`` keeps them). Anything naming another
            device raises ``ValueError``.
        weights_only: accepted for torch compatibility. Ember always loads the safe way:
            data, plus objects of allowlisted classes only; ``False`` does not lift the
            allowlist (add classes with ``ember.serialization.add_safe_globals``).

    Raises:
        FileNotFoundError: if the path does not exist.
        ember.FileFormatError: (a ``RuntimeError``) if ``f`` is neither format, is truncated
            or corrupt, declares sizes its bytes do not hold, passes a limit of
            ``ember.reading``, or names a class outside the allowlist; the message is one line
            naming the file.
    """
    mapper = _tensor_mapper(map_location)
    source = describe_source(f)
    try:
        if isinstance(f, (str, bytes, os.PathLike)):
            with open(f, "rb") as fileobj:
                return _load_from(fileobj, source, mapper)
        if not hasattr(f, "read"):
            raise TypeError(f"ember.load: f must be a path or a binary file object, "
                            f"got {type(f).__name__}")
        if isinstance(f.read(0), str):
            raise TypeError(f"ember.load: {source} was opened in text mode; open it with 'rb'")
        seekable = getattr(f, "seekable", None)
        if seekable is None or not seekable():
            f = io.BytesIO(f.read())
        return _load_from(f, source, mapper)
    except FileFormatError as exc:
        raise FileFormatError(f"ember.load: {exc}") from None


def _load_from(fileobj, source, mapper):
    start = fileobj.tell()
    size = fileobj.seek(0, io.SEEK_END) - start
    fileobj.seek(start)
    head = fileobj.read(_HEAD)
    fileobj.seek(start)
    for _, matches, reader in _FORMATS:
        if matches(head):
            return reader(fileobj, size, source, mapper)
    if not head:
        what = "it is empty"
    elif head[:1] == b"\x80":
        what = "it is a pickle but not a torch.save file; Ember never unpickles arbitrary files"
    else:
        what = f"it starts with {bytes(head[:8])!r}"
    raise FileFormatError(f"{source} is not {_EXPECTED}: {what}; it may be truncated or "
                          "corrupt")


def _tensor_mapper(map_location):
    """The function ``load`` applies to each loaded tensor (None: keep it), from ``map_location``."""
    def on_cpu(location):
        return location is None or str(location) == "cpu"
    if isinstance(map_location, dict):
        if all(on_cpu(v) for v in map_location.values()):
            return None
    elif on_cpu(map_location):
        return None
    elif callable(map_location):
        def mapper(tensor):
            out = map_location(tensor, "cpu")
            if not isinstance(out, Tensor):
                raise TypeError(f"ember.load: map_location function should return a tensor "
                                f"(the storage), got {type(out).__name__}")
            return out
        return mapper
    raise ValueError(f"ember.load: map_location must be None or 'cpu' (Ember runs on the CPU "
                     f"only), a dict mapping locations to 'cpu', or a function (storage, "
                     f"location) -> storage; got {map_location!r}")
