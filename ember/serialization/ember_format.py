"""Ember's own file format: a zip of a JSON manifest and ``.npy`` arrays, never pickle.

The file is a ZIP archive (members stored, not compressed) holding

* ``ember_checkpoint.json`` -- the manifest: ``{"format": "ember.save", "version": 1 or 2,
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
*version 2 only:*
set / frozenset             ``{"$type": "set", "items": [...]}`` (``"frozenset"``)
defaultdict / Counter       a dict entry with ``"default_factory": <global or null>`` /
                            ``"counter": true``
a whole module, optimizer,  ``{"$type": "object", "id": 0, "class": "ember.nn.Linear",
scheduler, or an instance   "state": [[attribute, value], ...]}`` -- the instance's
of an allowlisted class     ``__dict__``; ``id`` numbers objects in the order they appear
the same object again       ``{"$type": "ref", "id": 0}``
a class or function         ``{"$type": "global", "name": "ember.nn.BatchNorm2d"}``
a bound method              ``{"$type": "method", "object": <entry>, "name": "_hook"}``
ember dtype / device        ``{"$type": "dtype", "name": "float32"}`` / ``{"$type": "device",
                            "type": "cpu"}``
==========================  ==================================================================

A file is written as version 1 unless it needs a version-2 entry, so files of plain data
stay readable by older Ember.

Loading never executes code a file chooses: the manifest is parsed with ``json``, arrays
with Ember's own ``.npy`` parser (``npy.py``), and an ``object``/``global`` entry is rebuilt
only if its name is on the allowlist (``allowlist.py``): Ember's modules, optimizers and
schedulers, and what the user allowed with ``ember.serialization.add_safe_globals`` /
``safe_globals``. An object is rebuilt as pickle does -- ``cls.__new__(cls)``, then
``__setstate__(state)`` (``nn.Module`` defines it) or ``__dict__.update(state)`` -- and a
rebuilt module or optimizer is checked to have the structure its methods rely on. Other dict
subclasses come back as plain dicts; a Tensor or object saved twice comes back as one (other
aliasing, e.g. views, is not kept).

Bounds (``ember.reading``): the archive's directory is checked first (``archive.py``); the
manifest may be at most ``max_manifest_bytes``; every field of every entry is type-checked;
each array member is read once however often the manifest names it, and its ``.npy`` header
must describe exactly the member's bytes.

Saving to a path is atomic: the archive is written to a temporary file in the same folder,
flushed and ``fsync``-ed, then moved over the destination with ``os.replace``; if anything
fails the temporary file is removed and an existing file at the destination is untouched.
"""
import inspect
import json
import math
import os
import secrets
import types
import zipfile
from collections import Counter, OrderedDict, defaultdict

import numpy as np

from ember import _dtype
from ember._tensor import Tensor, device as _device
from ember.reading import FileFormatError, get_limits, raise_limit_hint
from ember.serialization import allowlist
from ember.serialization.npy import NpyError, parse_npy
from ember.serialization.restricted_pickle import check_key

__all__ = ["write", "write_atomic", "read", "MANIFEST", "FORMAT"]

FORMAT = "ember.save"
VERSION = 2
MANIFEST = "ember_checkpoint.json"

_SAVABLE = ("Tensor, numpy arrays and scalars, dict (also OrderedDict, defaultdict, Counter), "
            "list, tuple, set, str, int, float, bool, None, ember dtypes and devices, whole "
            "nn.Module / optim.Optimizer / lr_scheduler objects, and instances of classes "
            "added with ember.serialization.add_safe_globals")


# ---------------------------------------------------------------------------- encoding
class _Encoder:
    """Turns an object into a JSON-able manifest plus a list of arrays to write."""

    def __init__(self):
        self.arrays = []
        self.version = 1
        self._tensor_entries = {}
        self._objects = {}

    def _add_array(self, array):
        name = f"arrays/{len(self.arrays)}.npy"
        self.arrays.append((name, array))
        return name

    def _v2(self, entry):
        self.version = 2
        return entry

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
        if isinstance(obj, (set, frozenset)):
            return self._v2({"$type": "frozenset" if isinstance(obj, frozenset) else "set",
                             "items": [self.encode(v, f"{where} item") for v in obj]})
        if isinstance(obj, dict):
            return self._encode_dict(obj, where)
        if isinstance(obj, _dtype.dtype):
            return self._v2({"$type": "dtype", "name": obj.name})
        if isinstance(obj, _device):
            return self._v2({"$type": "device", "type": obj.type})
        if isinstance(obj, types.MethodType):
            return self._encode_method(obj, where)
        if isinstance(obj, (type, types.FunctionType, types.BuiltinFunctionType)):
            return self._encode_global(obj, where)
        return self._encode_object(obj, where)

    def _encode_dict(self, obj, where):
        items = []
        for key, value in obj.items():
            items.append([self.encode(key, f"{where} key {key!r}"),
                          self.encode(value, f"{where}[{key!r}]")])
        entry = {"$type": "dict", "ordered": isinstance(obj, OrderedDict), "items": items}
        if isinstance(obj, defaultdict):
            factory = obj.default_factory
            entry["default_factory"] = None if factory is None else self._encode_global(
                factory, f"{where}.default_factory")
            self.version = 2
        elif isinstance(obj, Counter):
            entry["counter"] = True
            self.version = 2
        return entry

    def _encode_tensor(self, tensor, where):
        entry = self._tensor_entries.get(id(tensor))
        if entry is None:
            array = self._check_array(tensor._data, where)
            entry = {"$type": "tensor", "array": self._add_array(array),
                     "dtype": array.dtype.name, "requires_grad": bool(tensor.requires_grad),
                     "parameter": _is_parameter(tensor)}
            self._tensor_entries[id(tensor)] = (entry, tensor)
            return entry
        return entry[0]

    def _encode_global(self, obj, where):
        name = allowlist.public_name(obj)
        if name is None:
            raise TypeError(f"ember.save: cannot save {obj!r} at {where}: a file names a "
                            "class or function by its module and name, and this one has none "
                            "(a lambda or something defined inside a function); define it at "
                            "module level")
        return self._v2({"$type": "global", "name": name})

    def _encode_method(self, method, where):
        name = method.__func__.__name__
        if inspect.getattr_static(type(method.__self__), name, None) is not method.__func__:
            raise TypeError(f"ember.save: cannot save the bound method {method!r} at {where}: "
                            "only methods defined on the object's class can be saved")
        return self._v2({"$type": "method",
                         "object": self.encode(method.__self__, f"{where}.__self__"),
                         "name": name})

    def _encode_object(self, obj, where):
        known = self._objects.get(id(obj))
        if known is not None:
            return {"$type": "ref", "id": known[0]}
        cls = type(obj)
        name = allowlist.public_name(cls)
        problem = _unsavable_reason(obj, cls, name)
        if problem:
            raise TypeError(f"ember.save: cannot save an object of type {cls.__name__} at "
                            f"{where}: {problem}. Supported: {_SAVABLE}; for a model, "
                            "model.state_dict() is always savable")
        self._objects[id(obj)] = (len(self._objects), obj)
        entry = {"$type": "object", "id": self._objects[id(obj)][0], "class": name}
        entry["state"] = [[attribute, self.encode(value, f"{where}.{attribute}")]
                          for attribute, value in vars(obj).items()]
        return self._v2(entry)

    @staticmethod
    def _check_array(array, where):
        if array.dtype.hasobject or array.dtype.kind not in "biuf":
            raise TypeError(f"ember.save: cannot save an array of dtype {array.dtype} at "
                            f"{where}; only bool, integer and floating-point arrays are "
                            "supported")
        return array


def _unsavable_reason(obj, cls, name):
    """Why ``obj`` cannot be saved as an object entry ('' if it can)."""
    from ember.nn import Module
    from ember.optim import Optimizer
    from ember.optim.lr_scheduler import LRScheduler
    own_kind = isinstance(obj, (Module, Optimizer, LRScheduler))
    if name is None:
        return "its class is defined inside a function, so a file cannot name it"
    if not own_kind and allowlist.Resolver().resolve(name) is not cls:
        return "it is not a module, optimizer or scheduler, and its class is not allowlisted"
    if not hasattr(obj, "__dict__"):
        return "it has no instance __dict__ to save"
    for base in cls.__mro__[:-1]:
        slots = base.__dict__.get("__slots__")
        if slots:
            return f"its class {base.__name__} keeps attributes in __slots__"
        custom = {"__reduce__", "__reduce_ex__", "__getstate__"} & set(base.__dict__)
        if custom:
            return (f"its class {base.__name__} defines {sorted(custom)[0]}, so its state is "
                    "not just its attributes")
    return ""


def _is_parameter(tensor):
    parameter_cls = _parameter_class()
    return parameter_cls is not None and isinstance(tensor, parameter_cls)


def _parameter_class():
    try:
        from ember.nn.parameter import Parameter
    except ImportError:
        return None
    return Parameter


def _member(name):
    """A member dated 1980-01-01 (zip's epoch), so the same object always gives the same
    bytes."""
    return zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))


def _write_archive(fileobj, manifest, arrays):
    with zipfile.ZipFile(fileobj, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(_member(MANIFEST), json.dumps(manifest, allow_nan=False))
        for name, array in arrays:
            with archive.open(_member(name), "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array,
                                          allow_pickle=False)


def write(obj, f):
    """Write ``obj`` to ``f`` (a path, atomically, or a binary file object) in Ember's format;
    ``ember.save`` (``serialization/__init__.py``) documents what may be saved."""
    encoder = _Encoder()
    root = encoder.encode(obj, "obj")
    manifest = {"format": FORMAT, "version": encoder.version, "root": root}
    if isinstance(f, (str, bytes, os.PathLike)):
        write_atomic(os.fsdecode(f), lambda out: _write_archive(out, manifest, encoder.arrays),
                     "ember.save")
    elif hasattr(f, "write"):
        _write_archive(f, manifest, encoder.arrays)
    else:
        raise TypeError(f"ember.save: f must be a path or a binary file object, "
                        f"got {type(f).__name__}")


def write_atomic(path, write, who):
    """Call ``write(binary_file)`` on a temporary file beside ``path``, ``fsync`` it and move it
    over ``path``; if ``write`` fails the temporary file is removed and an existing file at
    ``path`` is untouched. ``who`` names the caller in errors. Every file writer of Ember's
    formats goes through here."""
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
_TENSOR_DTYPES = frozenset(d.name for d in _dtype.ALL)
_ENTRY_FIELDS = {
    "float": ({"value"}, set()),
    "tuple": ({"items"}, set()),
    "set": ({"items"}, set()),
    "frozenset": ({"items"}, set()),
    "dict": ({"items"}, {"ordered", "default_factory", "counter"}),
    "tensor": ({"array", "dtype"}, {"requires_grad", "parameter"}),
    "ndarray": ({"array", "dtype"}, set()),
    "numpy_scalar": ({"array", "dtype"}, set()),
    "object": ({"id", "class", "state"}, set()),
    "ref": ({"id"}, set()),
    "global": ({"name"}, set()),
    "method": ({"object", "name"}, set()),
    "dtype": ({"name"}, set()),
    "device": ({"type"}, set()),
}


class _Decoder:
    def __init__(self, archive, source, mapper=None):
        self.archive = archive
        self.source = source
        self.mapper = mapper
        self.resolver = allowlist.Resolver()
        self._arrays = {}
        self._tensors = {}
        self._objects = []

    def fail(self, what):
        raise FileFormatError(f"{self.source} is corrupt: {what}")

    def refuse(self, what, name):
        raise FileFormatError(f"{self.source} {what} {name!r}, which is not on Ember's "
                              f"allowlist of classes it rebuilds; {allowlist.allow_hint(name)}")

    def decode(self, entry):
        if entry is None or isinstance(entry, (bool, int, str)):
            return entry
        if isinstance(entry, float):
            return entry
        if isinstance(entry, list):
            return [self.decode(v) for v in entry]
        if not isinstance(entry, dict):
            self.fail(f"unexpected manifest entry of type {type(entry).__name__}")
        kind = entry.get("$type")
        if not isinstance(kind, str) or kind not in _ENTRY_FIELDS:
            self.fail(f"unknown entry type {kind!r}"[:200])
        required, optional = _ENTRY_FIELDS[kind]
        fields = set(entry) - {"$type"}
        if not required <= fields <= required | optional:
            self.fail(f"entry {kind!r} has fields {sorted(fields)}; expected "
                      f"{sorted(required)} (and optionally {sorted(optional)})"[:300])
        return getattr(self, f"_decode_{kind}")(entry)

    def _field(self, entry, key, kind, default=None):
        if key not in entry and default is not None:
            return default
        value = entry.get(key)
        if type(value) is not kind:
            self.fail(f"entry {entry.get('$type')!r} has no valid {key!r} field "
                      f"(expected {kind.__name__}, got {type(value).__name__})")
        return value

    # -------------------------------------------------------------- plain data
    def _decode_float(self, entry):
        value = entry["value"]
        if value not in ("inf", "-inf", "nan"):
            self.fail(f"bad float entry {value!r}"[:100])
        return float(value)

    def _decode_tuple(self, entry):
        return tuple(self.decode(v) for v in self._field(entry, "items", list))

    def _decode_set(self, entry):
        return {check_key(self.decode(v), self.fail) for v in self._field(entry, "items", list)}

    def _decode_frozenset(self, entry):
        return frozenset(self._decode_set(entry))

    def _decode_dict(self, entry):
        items = self._field(entry, "items", list)
        ordered = self._field(entry, "ordered", bool, default=False)
        if "default_factory" in entry:
            factory = entry["default_factory"]
            factory = None if factory is None else self.decode(factory)
            if factory is not None and not callable(factory):
                self.fail("a defaultdict's factory is not callable")
            out = defaultdict(factory)
        elif self._field(entry, "counter", bool, default=False):
            out = Counter()
        else:
            out = OrderedDict() if ordered else {}
        for item in items:
            if not (isinstance(item, list) and len(item) == 2):
                self.fail(f"bad dict item of type {type(item).__name__}")
            key = check_key(self.decode(item[0]), self.fail)
            out[key] = self.decode(item[1])
        return out

    def _decode_dtype(self, entry):
        name = self._field(entry, "name", str)
        if name not in _TENSOR_DTYPES:
            self.fail(f"unknown dtype {name!r}"[:100])
        return _dtype.from_name(name)

    def _decode_device(self, entry):
        kind = self._field(entry, "type", str)
        if kind != "cpu":
            self.fail(f"device {kind!r}: Ember runs on the CPU only"[:100])
        return _device("cpu")

    # -------------------------------------------------------------- arrays and tensors
    def _array(self, entry):
        name = self._field(entry, "array", str)
        dtype = self._field(entry, "dtype", str)
        array = self._arrays.get(name)
        if array is None:
            if name not in self.archive.infos:
                self.fail(f"missing array member {name!r}"[:200])
            try:
                array = parse_npy(self.archive.read(name))
            except NpyError as exc:
                self.fail(f"cannot read array {name!r}: {exc}")
            self._arrays[name] = array
        if array.dtype.name != dtype:
            self.fail(f"array {name!r} has dtype {array.dtype.name}, the manifest says "
                      f"{dtype[:40]}"[:200])
        return array

    def _decode_ndarray(self, entry):
        return self._array(entry)

    def _decode_numpy_scalar(self, entry):
        array = self._array(entry)
        if array.ndim != 0:
            self.fail(f"numpy scalar {entry['array']!r} has shape {array.shape}")
        return array[()]

    def _decode_tensor(self, entry):
        name = self._field(entry, "array", str)
        if name in self._tensors:
            return self._tensors[name]
        array = self._array(entry)
        if array.dtype.name not in _TENSOR_DTYPES:
            self.fail(f"tensor {name!r} has unsupported dtype {array.dtype}")
        requires_grad = self._field(entry, "requires_grad", bool, default=False)
        is_parameter = self._field(entry, "parameter", bool, default=False)
        if requires_grad and array.dtype.kind != "f":
            self.fail(f"tensor {name!r} of dtype {array.dtype.name} has requires_grad=true "
                      "(only floating-point tensors can require gradients)")
        tensor = Tensor._wrap(array)
        if is_parameter:
            tensor = _parameter_class()(tensor, requires_grad=requires_grad)
        elif requires_grad:
            tensor.requires_grad_(True)
        if self.mapper is not None:
            tensor = self.mapper(tensor)
        self._tensors[name] = tensor
        return tensor

    # -------------------------------------------------------------- objects and globals
    def _decode_global(self, entry):
        name = self._field(entry, "name", str)
        obj = self.resolver.resolve(name)
        if obj is None:
            self.refuse("names the class or function", name[:200])
        return obj

    def _decode_ref(self, entry):
        index = self._field(entry, "id", int)
        if not 0 <= index < len(self._objects):
            self.fail(f"reference to object {index}, which comes later or not at all")
        return self._objects[index]

    def _decode_object(self, entry):
        index = self._field(entry, "id", int)
        name = self._field(entry, "class", str)
        state_items = self._field(entry, "state", list)
        if index != len(self._objects):
            self.fail(f"object id {index} where id {len(self._objects)} comes next")
        cls = self.resolver.resolve(name)
        if cls is None:
            self.refuse("holds an object of class", name[:200])
        if not isinstance(cls, type):
            self.fail(f"{name!r} is a function, not a class")
        try:
            obj = cls.__new__(cls)
        except TypeError as exc:
            self.fail(f"cannot create a {name} ({exc})")
        self._objects.append(obj)
        state = {}
        for item in state_items:
            if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
                self.fail(f"bad attribute of a {name}: expected [name, value]")
            state[item[0]] = self.decode(item[1])
        setstate = getattr(obj, "__setstate__", None)
        try:
            if setstate is not None:
                setstate(state)
            else:
                obj.__dict__.update(state)
        except (TypeError, ValueError, AttributeError, KeyError) as exc:
            self.fail(f"cannot rebuild a {name} ({type(exc).__name__}: {exc})")
        _check_structure(obj, name, self.fail)
        return obj

    def _decode_method(self, entry):
        name = self._field(entry, "name", str)
        obj = self.decode(entry["object"])
        if not any(obj is known for known in self._objects):
            self.fail(f"method {name!r} is bound to something that is not an object of the "
                      "file"[:200])
        function = inspect.getattr_static(type(obj), name, None)
        if not isinstance(function, types.FunctionType):
            self.fail(f"{type(obj).__name__} has no method {name!r}"[:200])
        return types.MethodType(function, obj)


def _check_structure(obj, name, fail):
    """A rebuilt module, optimizer or scheduler has what its methods rely on."""
    from ember.nn import Module, Parameter
    from ember.optim import Optimizer
    from ember.optim.lr_scheduler import LRScheduler

    def require(condition, what):
        if not condition:
            fail(f"the {name} object {what}")

    def mapping(value, key_type, value_types, what):
        require(isinstance(value, dict) and all(
            isinstance(k, key_type) and (v is None or isinstance(v, value_types))
            for k, v in value.items()), what)

    if isinstance(obj, Module):
        state = obj.__dict__
        for key, value in Module().__dict__.items():
            state.setdefault(key, value)            # a file from an Ember with fewer of them
            require(type(state[key]) is type(value),
                    f"has an invalid {key!r} (expected {type(value).__name__})")
        mapping(state["_parameters"], str, Parameter, "has a parameter that is not a Parameter")
        mapping(state["_buffers"], str, Tensor, "has a buffer that is not a Tensor")
        mapping(state["_modules"], str, Module, "has a child that is not a Module")
    elif isinstance(obj, Optimizer):
        state = obj.__dict__
        require(isinstance(state.get("defaults"), dict), "lacks a valid 'defaults' dict")
        mapping(state.get("state"), Tensor, dict, "has a 'state' not keyed by tensors")
        groups = state.get("param_groups")
        require(isinstance(groups, list) and all(
            isinstance(g, dict) and isinstance(g.get("params"), list)
            and all(isinstance(p, Tensor) for p in g["params"]) for g in groups),
            "has 'param_groups' that are not dicts with a list of tensors in 'params'")
    elif isinstance(obj, LRScheduler):
        require(isinstance(obj.__dict__.get("optimizer"), Optimizer), "has no optimizer")


def read(archive, source, mapper=None):
    """The object an Ember file holds (``archive``: its checked ``ZipArchive``)."""
    limit = get_limits().max_manifest_bytes
    if archive.size(MANIFEST) > limit:
        raise FileFormatError(f"{source}: its manifest declares {archive.size(MANIFEST):,} "
                              f"bytes, more than max_manifest_bytes={limit:,}; "
                              f"{raise_limit_hint('max_manifest_bytes')}")
    try:
        manifest = json.loads(archive.read(MANIFEST).decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise FileFormatError(f"{source} is corrupt: cannot read the manifest "
                              f"({type(exc).__name__}: {exc})"[:400]) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT \
            or "root" not in manifest:
        raise FileFormatError(f"{source} is not an Ember checkpoint (its manifest has no "
                              f"format {FORMAT!r})")
    version = manifest.get("version")
    if type(version) is not int or not 1 <= version <= VERSION:
        raise FileFormatError(f"{source} has format version {version!r}; this Ember reads "
                              f"versions 1 to {VERSION}"[:300])
    try:
        return _Decoder(archive, source, mapper).decode(manifest["root"])
    except RecursionError:
        raise FileFormatError(f"{source} is corrupt: the manifest nests too deeply") from None
