"""``ember.save`` / ``ember.load``: checkpoints in a safe, inspectable format.

The file is a ZIP archive (stored, not compressed) holding

* ``ember_checkpoint.json`` -- the manifest: ``{"format": "ember.save", "version": 1,
  "root": <encoded object>}``;
* ``arrays/<i>.npy`` -- one NumPy ``.npy`` file per Tensor or ndarray.

Objects are encoded in JSON as follows (so the structure survives exactly, including int
dict keys, tuples and non-finite floats):

==========================  ==================================================================
Python value                manifest entry
==========================  ==================================================================
None, bool, int, str        the JSON value itself
float                       a JSON number; ``{"$type": "float", "value": "inf"}`` for inf/nan
list                        a JSON array of encoded items
tuple                       ``{"$type": "tuple", "items": [...]}``
dict / OrderedDict          ``{"$type": "dict", "ordered": false, "items": [[key, value], ...]}``
Tensor / Parameter          ``{"$type": "tensor", "array": "arrays/0.npy", "dtype": "float32",
                            "requires_grad": true, "parameter": true}``
numpy.ndarray               ``{"$type": "ndarray", "array": "arrays/1.npy", "dtype": ...}``
NumPy scalar                ``{"$type": "numpy_scalar", "array": ..., "dtype": ...}``
==========================  ==================================================================

Loading never executes code: the manifest is parsed with ``json`` and the arrays are read
with ``numpy.load(allow_pickle=False)``. This is the reason Ember does not use pickle (which
``torch.save`` does): a checkpoint from an untrusted source cannot run anything. Other
dict subclasses (e.g. ``collections.Counter``) come back as plain dicts, and a Tensor saved
twice in one object comes back as one Tensor (other aliasing, e.g. views, is not kept).

``ember.save(state_dict, "model.safetensors")`` writes the safetensors format instead
(:mod:`ember.utils.safetensors`), and ``ember.load`` reads it back.

Saving to a path is atomic: the archive is written to a temporary file in the same folder,
flushed and ``fsync``-ed, then moved over the destination with ``os.replace``; if anything
fails the temporary file is removed and an existing file at the destination is untouched.
"""
import io
import json
import math
import os
import secrets
import zipfile
from collections import OrderedDict

import numpy as np

from ember import _dtype
from ember._tensor import Tensor

__all__ = ["save", "load"]

FORMAT = "ember.save"
VERSION = 1
MANIFEST = "ember_checkpoint.json"


# ---------------------------------------------------------------------------- encoding
class _Encoder:
    """Turns an object into a JSON-able manifest plus a list of arrays to write."""

    def __init__(self):
        self.arrays = []
        self._tensor_entries = {}

    def _add_array(self, array):
        name = f"arrays/{len(self.arrays)}.npy"
        self.arrays.append((name, array))
        return name

    def encode(self, obj, where):
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, int):
            return int(obj)
        if isinstance(obj, float):
            obj = float(obj)
            return obj if math.isfinite(obj) else {"$type": "float", "value": repr(obj)}
        if isinstance(obj, Tensor):
            return self._encode_tensor(obj, where)
        if isinstance(obj, np.ndarray):
            return {"$type": "ndarray", "array": self._add_array(self._check_array(obj, where)),
                    "dtype": obj.dtype.name}
        if isinstance(obj, np.generic):
            array = self._check_array(np.asarray(obj), where)
            return {"$type": "numpy_scalar", "array": self._add_array(array),
                    "dtype": array.dtype.name}
        if isinstance(obj, list):
            return [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        if isinstance(obj, tuple):
            return {"$type": "tuple",
                    "items": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]}
        if isinstance(obj, dict):
            items = []
            for key, value in obj.items():
                if not (key is None or isinstance(key, (bool, int, float, str, tuple))):
                    raise TypeError(f"ember.save: cannot save a dict key of type "
                                    f"{type(key).__name__} ({key!r}) in {where}; keys must be "
                                    "str, int, float, bool, None or tuples of these")
                items.append([self.encode(key, f"{where} key {key!r}"),
                              self.encode(value, f"{where}[{key!r}]")])
            return {"$type": "dict", "ordered": isinstance(obj, OrderedDict), "items": items}
        raise TypeError(f"ember.save: cannot save an object of type {type(obj).__name__} at "
                        f"{where}; supported: Tensor, numpy arrays and scalars, dict, list, "
                        "tuple, str, int, float, bool, None")

    def _encode_tensor(self, tensor, where):
        entry = self._tensor_entries.get(id(tensor))
        if entry is None:
            array = self._check_array(tensor._data, where)
            entry = {"$type": "tensor", "array": self._add_array(array),
                     "dtype": array.dtype.name, "requires_grad": bool(tensor.requires_grad),
                     "parameter": _is_parameter(tensor)}
            self._tensor_entries[id(tensor)] = entry
        return entry

    @staticmethod
    def _check_array(array, where):
        if array.dtype.hasobject or array.dtype.kind not in "biuf":
            raise TypeError(f"ember.save: cannot save an array of dtype {array.dtype} at "
                            f"{where}; only bool, integer and floating-point arrays are "
                            "supported")
        return array


def _is_parameter(tensor):
    parameter_cls = _parameter_class()
    return parameter_cls is not None and isinstance(tensor, parameter_cls)


def _parameter_class():
    try:
        from ember.nn.parameter import Parameter
    except ImportError:
        return None
    return Parameter


def _write_archive(fileobj, manifest, arrays):
    with zipfile.ZipFile(fileobj, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(MANIFEST, json.dumps(manifest, allow_nan=False))
        for name, array in arrays:
            with archive.open(name, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array,
                                          allow_pickle=False)


def save(obj, f, format=None):
    """Save ``obj`` to ``f`` (a path or a writable binary file object).

    ``obj`` may nest dicts (also with int keys), lists and tuples of Tensors, NumPy arrays and
    scalars, ints, floats, bools, strings and None -- e.g. ``model.state_dict()``,
    ``optimizer.state_dict()``, or a checkpoint ``{'epoch': 3, 'model': ..., 'optim': ...}``.
    Tensors keep their dtype, shape and ``requires_grad`` (and come back as
    ``nn.Parameter`` if they were one); autograd history is not saved.

    ``format`` is ``"ember"`` (this module's format) or ``"safetensors"`` (a flat dict of
    str -> Tensor such as a ``state_dict``, see :mod:`ember.utils.safetensors`); ``None`` picks
    ``"safetensors"`` for a path ending in ``.safetensors`` and ``"ember"`` otherwise.

    Saving to a path is atomic (see the module docstring); a file object is written as is.

    Raises:
        TypeError: for an object (or dict key) of an unsupported type; nothing is written.
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
    encoder = _Encoder()
    manifest = {"format": FORMAT, "version": VERSION, "root": encoder.encode(obj, "obj")}
    if isinstance(f, (str, bytes, os.PathLike)):
        write_atomic(os.fsdecode(f), lambda out: _write_archive(out, manifest, encoder.arrays),
                     "ember.save")
    elif hasattr(f, "write"):
        _write_archive(f, manifest, encoder.arrays)
    else:
        raise TypeError(f"ember.save: f must be a path or a binary file object, "
                        f"got {type(f).__name__}")


def _save_format(f, format):
    if format is None:
        is_path = isinstance(f, (str, bytes, os.PathLike))
        return "safetensors" if is_path and os.fsdecode(f).endswith(".safetensors") else "ember"
    if format not in ("ember", "safetensors"):
        raise ValueError(f"ember.save: format must be 'ember', 'safetensors' or None, got "
                         f"{format!r}")
    return format


def write_atomic(path, write, who):
    """Call ``write(binary_file)`` on a temporary file beside ``path``, ``fsync`` it and move it
    over ``path``; if ``write`` fails the temporary file is removed and an existing file at
    ``path`` is untouched. ``who`` names the caller in errors. Every file writer of Ember's
    formats (``ember.save``, safetensors, ONNX export) goes through here."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{who}: cannot write {path!r}: folder {folder!r} does not "
                                "exist")
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_folder(folder)


def _fsync_folder(folder):
    """Make the rename durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------- decoding
class _Decoder:
    def __init__(self, archive, source, mapper=None):
        self.archive = archive
        self.source = source
        self.mapper = mapper
        self.names = set(archive.namelist())
        self._tensors = {}

    def fail(self, what):
        raise RuntimeError(f"ember.load: {self.source} is corrupt: {what}")

    def decode(self, entry):
        if entry is None or isinstance(entry, (bool, int, float, str)):
            return entry
        if isinstance(entry, list):
            return [self.decode(v) for v in entry]
        if not isinstance(entry, dict):
            self.fail(f"unexpected manifest entry {entry!r}")
        kind = entry.get("$type")
        if kind == "float":
            value = entry.get("value")
            if value not in ("inf", "-inf", "nan"):
                self.fail(f"bad float entry {entry!r}")
            return float(value)
        if kind == "tuple":
            return tuple(self.decode(v) for v in self._field(entry, "items", list))
        if kind == "dict":
            items = self._field(entry, "items", list)
            out = OrderedDict() if entry.get("ordered") else {}
            for item in items:
                if not (isinstance(item, list) and len(item) == 2):
                    self.fail(f"bad dict item {item!r}")
                key = self.decode(item[0])
                value = self.decode(item[1])
                try:
                    out[key] = value
                except TypeError:
                    self.fail(f"unhashable dict key {key!r}")
            return out
        if kind == "tensor":
            return self._tensor(entry)
        if kind == "ndarray":
            return self._array(entry)
        if kind == "numpy_scalar":
            return self._array(entry)[()]
        self.fail(f"unknown entry type {kind!r}")

    def _field(self, entry, key, kind):
        value = entry.get(key)
        if not isinstance(value, kind):
            self.fail(f"entry {entry.get('$type')!r} has no valid {key!r} field")
        return value

    def _array(self, entry):
        name = self._field(entry, "array", str)
        dtype = self._field(entry, "dtype", str)
        if name not in self.names:
            self.fail(f"missing array member {name!r}")
        try:
            with self.archive.open(name) as member:
                array = np.lib.format.read_array(io.BytesIO(member.read()), allow_pickle=False)
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
            self.fail(f"cannot read array {name!r} ({exc})")
        if array.dtype.name != dtype:
            self.fail(f"array {name!r} has dtype {array.dtype.name}, the manifest says {dtype}")
        return array

    def _tensor(self, entry):
        name = self._field(entry, "array", str)
        if name in self._tensors:
            return self._tensors[name]
        array = self._array(entry)
        try:
            _dtype.from_numpy(array.dtype)
        except TypeError:
            self.fail(f"tensor {name!r} has unsupported dtype {array.dtype}")
        requires_grad = bool(entry.get("requires_grad", False))
        parameter_cls = _parameter_class() if entry.get("parameter") else None
        tensor = Tensor._wrap(array)
        if parameter_cls is not None:
            tensor = parameter_cls(tensor, requires_grad=requires_grad)
        elif requires_grad:
            tensor.requires_grad_(True)
        if self.mapper is not None:
            tensor = self.mapper(tensor)
        self._tensors[name] = tensor
        return tensor


def _describe(f):
    if isinstance(f, (str, bytes, os.PathLike)):
        return repr(os.fsdecode(f))
    name = getattr(f, "name", None)
    return repr(name) if isinstance(name, str) else f"<{type(f).__name__} file object>"


def load(f, map_location=None, weights_only=None):
    """Load an object saved with :func:`ember.save` from ``f`` (a path or binary file object).

    A safetensors file (recognised by its header, whatever its name) comes back as a dict of
    str -> Tensor (see :mod:`ember.utils.safetensors`).

    Args:
        f: path (str or PathLike) or a readable binary file object.
        map_location: as in torch, with the CPU as the only device: ``None``, ``'cpu'`` or
            ``ember.device('cpu')``; a dict mapping saved locations to ``'cpu'`` (e.g.
            ``{'cuda:0': 'cpu'}``); or a function ``(storage, location) -> storage``, which
            Ember calls with each loaded tensor and ``'cpu'`` and whose result (a tensor) it
            uses (``lambda storage, loc: storage`` keeps them). Anything naming another
            device raises ``ValueError``.
        weights_only: accepted for torch compatibility and ignored -- Ember checkpoints
            contain only data, so loading is always "weights only" (no code is executed).

    Raises:
        FileNotFoundError: if the path does not exist.
        RuntimeError: if ``f`` is not an Ember checkpoint (e.g. a ``torch.save`` file,
            random bytes) or is truncated or corrupt; the message names the file.
    """
    mapper = _tensor_mapper(map_location)
    source = _describe(f)
    if isinstance(f, (str, bytes, os.PathLike)):
        with open(f, "rb") as fileobj:
            if _is_safetensors(fileobj):
                from ember.utils import safetensors
                return _map_tensors(safetensors.load_file(f), mapper)
            return _load_archive(fileobj, source, mapper)
    if not hasattr(f, "read"):
        raise TypeError(f"ember.load: f must be a path or a binary file object, "
                        f"got {type(f).__name__}")
    if isinstance(f.read(0), str):
        raise TypeError(f"ember.load: {source} was opened in text mode; open it with 'rb'")
    seekable = getattr(f, "seekable", None)
    fileobj = f if seekable is not None and seekable() else io.BytesIO(f.read())
    if _is_safetensors(fileobj):
        from ember.utils import safetensors
        return _map_tensors(safetensors.load(fileobj.read(), source), mapper)
    return _load_archive(fileobj, source, mapper)


def _is_safetensors(fileobj):
    """Whether the file starts like a safetensors file (the read position is kept)."""
    from ember.utils.safetensors import is_safetensors_header
    start = fileobj.tell()
    head = fileobj.read(9)
    fileobj.seek(start)
    return is_safetensors_header(head)


def _map_tensors(tensors, mapper):
    return tensors if mapper is None else {name: mapper(t) for name, t in tensors.items()}


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


def _load_archive(fileobj, source, mapper=None):
    expected = "expected a zip archive written by ember.save"
    try:
        archive = zipfile.ZipFile(fileobj)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        raise RuntimeError(f"ember.load: {source} is not an Ember checkpoint ({expected}; "
                           f"{exc}); it may be truncated or corrupt") from None
    with archive:
        names = archive.namelist()
        if MANIFEST not in names:
            hint = ""
            if any(n.endswith("data.pkl") for n in names):
                hint = ("; it looks like a PyTorch torch.save file, which Ember cannot read "
                        "because it is pickled: re-save the tensors with ember.save")
            raise RuntimeError(f"ember.load: {source} is not an Ember checkpoint ({expected}, "
                               f"which holds {MANIFEST!r}){hint}")
        try:
            manifest = json.loads(archive.read(MANIFEST).decode("utf-8"))
        except (zipfile.BadZipFile, ValueError, OSError, EOFError, RecursionError) as exc:
            raise RuntimeError(f"ember.load: {source} is corrupt: cannot read the manifest "
                               f"({type(exc).__name__}: {exc})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT \
                or "root" not in manifest:
            raise RuntimeError(f"ember.load: {source} is not an Ember checkpoint (its manifest "
                               f"has no format {FORMAT!r})")
        if manifest.get("version") != VERSION:
            raise RuntimeError(f"ember.load: {source} has format version "
                               f"{manifest.get('version')!r}; this Ember reads version {VERSION}")
        try:
            return _Decoder(archive, source, mapper).decode(manifest["root"])
        except RecursionError:
            raise RuntimeError(f"ember.load: {source} is corrupt: the manifest nests too "
                               "deeply") from None
