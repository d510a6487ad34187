"""PyTorch checkpoints (``torch.save`` files) read without torch and without running pickle.

``torch.save`` has written three layouts over the years; all hold a pickle whose tensors
point at raw storages kept beside it:

* the zip format (torch >= 1.6, the default): ``<name>/data.pkl`` is the pickle; a storage
  is the persistent id ``('storage', StorageType, key, location, numel)`` and its bytes are
  the member ``<name>/data/<key>``; ``<name>/byteorder`` says ``little`` or ``big``;
* the legacy format (``_use_new_zipfile_serialization=False``): five pickles in a row -- the
  magic number ``0x1950a86a20f9469cfc6c``, the protocol version 1001, a ``sys_info`` dict
  (with ``little_endian``), the object (persistent ids ``('storage', StorageType, key,
  location, numel, view)``), the list of storage keys -- then each storage as an int64
  element count and its bytes;
* the tar format (torch < 0.4): members ``storages`` (a count, then per storage a pickled
  ``(key, location, StorageType)``, an int64 element count and the bytes, then the
  views), ``tensors`` (per tensor a pickled ``(key, storage key, TensorType)``, its
  ``ndim``, sizes, strides and offset) and ``pickle`` (the object; persistent ids name
  tensors and storages by key).

The pickles run on Ember's restricted machine (``restricted_pickle.py``) with an allowlist of
what state dicts and checkpoints hold: torch's tensor and parameter rebuild functions
(``torch._utils._rebuild_tensor``, ``_v2``, ``_v3``, ``_rebuild_parameter``,
``_rebuild_parameter_with_state``, ``torch._tensor._rebuild_from_type_v2``), the storage
types and dtypes, ``torch.Size``, ``torch.device('cpu')``, ``OrderedDict``, ``Counter``,
sets, and NumPy arrays and scalars. Anything else -- a pickled ``nn.Module``, an optimizer
class, ``os.system`` -- is refused by name and never called.

A tensor comes back as an Ember ``Tensor`` (a ``Parameter`` if it was one), holding its own
values: the first tensor covering a whole storage in order uses the storage's buffer as it
is, any other view (a slice, a transpose, a tensor sharing a storage already used) is
copied, within ``max_expansion_ratio`` times the file's size in all. torch's dtypes map to
Ember's; ``bfloat16`` becomes ``float32`` (exactly); complex, quantized and unsigned
16/32/64-bit tensors are refused. Every size is checked before anything is allocated:
a storage's bytes must match its declared element count, and a tensor's sizes, strides and
offset must stay inside its storage.
"""
import re
import struct
import tarfile
from collections import OrderedDict

import numpy as np

from ember import _dtype
from ember._tensor import Size, Tensor, device as _device
from ember.reading import ExpansionBudget, FileFormatError
from ember.serialization.restricted_pickle import DataRebuilders, Unpickler, end_of_pickle

__all__ = ["LEGACY_MAGIC", "read_zip", "read_legacy", "read_tar", "is_legacy", "is_tar",
           "is_torch_zip"]

# the pickle of torch's legacy magic number 0x1950a86a20f9469cfc6c (protocol 2, LONG1)
LEGACY_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19."
_LEGACY_PROTOCOL = 1001

# element kinds: torch name -> NumPy dtype of the stored elements
_ELEMENTS = {"float32": np.float32, "float64": np.float64, "float16": np.float16,
             "bfloat16": np.uint16, "int64": np.int64, "int32": np.int32, "int16": np.int16,
             "int8": np.int8, "uint8": np.uint8, "bool": np.bool_, "complex64": np.complex64,
             "complex128": np.complex128, "uint16": np.uint16, "uint32": np.uint32,
             "uint64": np.uint64}
_STORAGE_TYPES = {"FloatStorage": "float32", "DoubleStorage": "float64",
                  "HalfStorage": "float16", "BFloat16Storage": "bfloat16",
                  "LongStorage": "int64", "IntStorage": "int32", "ShortStorage": "int16",
                  "CharStorage": "int8", "ByteStorage": "uint8", "BoolStorage": "bool",
                  "ComplexFloatStorage": "complex64", "ComplexDoubleStorage": "complex128",
                  "UntypedStorage": "uint8"}
_TORCH_DTYPES = {"float32": "float32", "float": "float32", "float64": "float64",
                 "double": "float64", "float16": "float16", "half": "float16",
                 "bfloat16": "bfloat16", "int64": "int64", "long": "int64", "int32": "int32",
                 "int": "int32", "int16": "int16", "short": "int16", "int8": "int8",
                 "uint8": "uint8", "bool": "bool", "complex64": "complex64",
                 "cfloat": "complex64", "complex128": "complex128", "cdouble": "complex128",
                 "uint16": "uint16", "uint32": "uint32", "uint64": "uint64"}
_TENSOR_TYPES = {f"{kind}Tensor" for kind in ("Float", "Double", "Half", "BFloat16", "Long", "Int",
                                             "Short", "Char", "Byte", "Bool")}


def is_torch_zip(names):
    """Whether a zip's member names are a ``torch.save`` archive."""
    return any(name.count("/") == 1 and name.endswith("/data.pkl") for name in names)


def is_legacy(head):
    return head.startswith(LEGACY_MAGIC)


def is_tar(head):
    return len(head) >= 262 and head[257:262] == b"ustar"


class _TorchDtype(str):
    """A torch dtype that Ember has no equivalent for, as a value in a checkpoint: the string
    ``'torch.bfloat16'`` (also what ``_rebuild_tensor_v3`` receives)."""

    @property
    def element(self):
        return self[len("torch."):]


class _StorageType:
    """What ``torch.FloatStorage`` & co. stand for: the element kind of a storage."""

    def __init__(self, element, untyped=False):
        self.element = element
        self.untyped = untyped


class _Marker:
    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


_TENSOR_CLASS = _Marker("torch.Tensor")
_PARAMETER_CLASS = _Marker("torch.nn.Parameter")


class _Storage:
    """A storage's elements (a 1-D NumPy array, native byte order) and whether a tensor has
    already taken its buffer."""

    def __init__(self, element, array):
        self.element = element
        self.array = array
        self.claimed = False


class _Reader:
    """What the three layouts share: the allowlist, the rebuild functions and the checks."""

    def __init__(self, source, file_size, mapper):
        self.source = source
        self.mapper = mapper
        self.budget = ExpansionBudget(source, file_size)
        self.data = DataRebuilders()
        self.storages = {}
        self.globals = dict(self.data.globals)
        for name, element in _STORAGE_TYPES.items():
            storage_type = _StorageType(element, untyped=name == "UntypedStorage")
            self.globals[("torch", name)] = storage_type
            self.globals[("torch.storage", name)] = storage_type
        for name, element in _TORCH_DTYPES.items():
            ember_dtype = _dtype._BY_NAME.get(element)
            self.globals[("torch", name)] = ember_dtype or _TorchDtype(f"torch.{element}")
        for name in _TENSOR_TYPES:
            self.globals[("torch", name)] = _TENSOR_CLASS
        self.globals.update({
            ("torch._utils", "_rebuild_tensor"): self.rebuild_tensor,
            ("torch._utils", "_rebuild_tensor_v2"): self.rebuild_tensor_v2,
            ("torch._utils", "_rebuild_tensor_v3"): self.rebuild_tensor_v3,
            ("torch._utils", "_rebuild_parameter"): self.rebuild_parameter,
            ("torch._utils", "_rebuild_parameter_with_state"): self.rebuild_parameter_with_state,
            ("torch._tensor", "_rebuild_from_type_v2"): self.rebuild_from_type_v2,
            ("torch", "Tensor"): _TENSOR_CLASS, ("torch._tensor", "Tensor"): _TENSOR_CLASS,
            ("torch.nn.parameter", "Parameter"): _PARAMETER_CLASS,
            ("torch", "Size"): self.torch_size, ("torch", "device"): self.device})

    def fail(self, what):
        raise FileFormatError(f"{self.source} is not a readable PyTorch checkpoint: {what}")

    def find_global(self, module, name):
        found = self.globals.get((module, name))
        if found is None:
            hint = ""
            if module.startswith("torch.nn") or module.startswith("torch.optim"):
                hint = (" -- it holds a pickled whole module or optimizer; save "
                        "model.state_dict() with torch.save instead")
            raise FileFormatError(
                f"{self.source}: refusing to load {module}.{name}: a PyTorch checkpoint may "
                f"only name tensor rebuild functions, storage types, dtypes and plain "
                f"containers{hint}"[:400])
        return found

    def build(self, obj, state):
        built = self.data.build(obj, state)
        if built is not None:
            return built
        if isinstance(obj, OrderedDict) and isinstance(state, dict):
            return obj                 # torch's state_dict()._metadata: not used by Ember
        return None

    def unpickler(self, data, what, persistent_load):
        return Unpickler(data, f"{self.source} ({what})", self.find_global,
                         persistent_load=persistent_load, build=self.build)

    # ------------------------------------------------------------------ storages
    def element_dtype(self, element, what):
        if element not in _ELEMENTS:
            self.fail(f"{what} has unknown element type {element!r}")
        return np.dtype(_ELEMENTS[element])

    def storage_from_bytes(self, key, element, numel, raw, little_endian, what):
        """A ``_Storage`` from ``raw`` (a writable buffer), which must hold ``numel`` elements."""
        dtype = self.element_dtype(element, what)
        if type(numel) is not int or numel < 0 or numel * dtype.itemsize != len(raw):
            self.fail(f"{what} declares {numel!r} {element} elements "
                      f"({numel * dtype.itemsize if type(numel) is int else '?'} bytes) but "
                      f"holds {len(raw)} bytes"[:300])
        array = np.frombuffer(raw, dtype=dtype.newbyteorder("<" if little_endian else ">"))
        if not array.dtype.isnative or not array.flags.aligned:
            array = array.astype(dtype)
        storage = _Storage(element, array)
        self.storages[key] = storage
        return storage

    # ------------------------------------------------------------------ rebuilds
    @staticmethod
    def size(dims=()):
        if not isinstance(dims, (tuple, list)) or len(dims) > 64 or not all(
                type(d) is int and d >= 0 for d in dims):
            raise ValueError(f"sizes and strides must be non-negative ints, got {dims!r}"[:120])
        return tuple(dims)

    def torch_size(self, dims=()):
        return Size(self.size(dims))

    @staticmethod
    def device(kind, index=None):
        if not isinstance(kind, str) or kind.split(":")[0] != "cpu":
            raise ValueError(f"device {kind!r}: Ember runs on the CPU only"[:120])
        return _device("cpu")

    def rebuild_tensor(self, storage, offset, size, stride):
        return self._tensor(storage, offset, size, stride, False, None, {})

    def rebuild_tensor_v2(self, storage, offset, size, stride, requires_grad, hooks,
                          metadata=None):
        return self._tensor(storage, offset, size, stride, requires_grad, None, metadata)

    def rebuild_tensor_v3(self, storage, offset, size, stride, requires_grad, hooks, dtype,
                          metadata=None):
        return self._tensor(storage, offset, size, stride, requires_grad, dtype, metadata)

    def rebuild_parameter(self, data, requires_grad, hooks):
        from ember.nn.parameter import Parameter
        if not isinstance(data, Tensor) or type(requires_grad) is not bool:
            raise ValueError("a parameter needs a tensor and a bool requires_grad")
        if requires_grad and not data.dtype.is_floating_point:
            raise ValueError(f"a {data.dtype.name} parameter cannot require gradients")
        return Parameter(data, requires_grad=requires_grad)

    def rebuild_parameter_with_state(self, data, requires_grad, hooks, state):
        return self.rebuild_parameter(data, requires_grad, hooks)

    def rebuild_from_type_v2(self, function, new_type, args, state):
        rebuilders = (self.rebuild_tensor, self.rebuild_tensor_v2, self.rebuild_tensor_v3,
                      self.rebuild_parameter, self.rebuild_parameter_with_state)
        if function not in rebuilders or new_type not in (_TENSOR_CLASS, _PARAMETER_CLASS) \
                or not isinstance(args, tuple):
            raise ValueError("only plain tensors and parameters are rebuilt")
        from ember.nn.parameter import Parameter
        tensor = function(*args)
        if new_type is _PARAMETER_CLASS and not isinstance(tensor, Parameter):
            tensor = self.rebuild_parameter(tensor, tensor.requires_grad, None)
        return tensor

    def _tensor(self, storage, offset, size, stride, requires_grad, dtype, metadata):
        if not isinstance(storage, _Storage):
            raise ValueError(f"expected a storage, got {type(storage).__name__}")
        size, stride = self.size(size), self.size(stride)
        if storage.array is None:            # read_legacy's first pass: no data yet
            return Tensor._wrap(np.zeros(0, np.float32))
        if type(offset) is not int or offset < 0 or len(size) != len(stride) \
                or type(requires_grad) is not bool:
            raise ValueError("bad offset, sizes/strides of different lengths, or a "
                             "requires_grad that is not a bool")
        if metadata and set(metadata) - {"neg", "conj"} or not isinstance(metadata or {}, dict):
            raise ValueError(f"unsupported tensor metadata {metadata!r}"[:120])
        array = storage.array
        element = storage.element
        if dtype is not None:                               # _rebuild_tensor_v3: untyped bytes
            element = dtype.element if isinstance(dtype, _TorchDtype) else getattr(
                dtype, "name", None)
            target = self.element_dtype(element, "a tensor")
            if array.dtype != np.uint8 or array.size % target.itemsize:
                raise ValueError("a typed tensor over an untyped storage of the wrong size")
            array = array.view(target)
        element = self._check_element(element)
        numel = 1
        for dim in size:
            numel *= dim
        if numel:
            last = offset + sum((dim - 1) * step for dim, step in zip(size, stride))
            if last >= array.size:
                raise ValueError(f"a tensor of size {size}, stride {stride} and offset {offset} "
                                 f"reaches element {last} of a storage of {array.size}")
        elif offset > array.size:
            raise ValueError(f"offset {offset} is past the end of a storage of {array.size}")
        values = self._values(storage, array, offset, size, stride, numel)
        if element == "bfloat16":
            values = (values.astype(np.uint32) << 16).view(np.float32)
        if metadata and metadata.get("neg"):
            values = np.negative(values)
        if requires_grad and values.dtype.kind != "f":
            raise ValueError(f"a {values.dtype} tensor cannot require gradients")
        tensor = Tensor._wrap(values)
        if requires_grad:
            tensor.requires_grad_(True)
        return tensor if self.mapper is None else self.mapper(tensor)

    def _check_element(self, element):
        if element in ("complex64", "complex128", "uint16", "uint32", "uint64") \
                or element not in _ELEMENTS:
            raise ValueError(f"{element} tensors have no Ember dtype (Ember reads float16/32/64, "
                             "bfloat16 as float32, int8/16/32/64, uint8 and bool)")
        return element

    def _values(self, storage, array, offset, size, stride, numel):
        """The tensor's elements: the storage's own buffer for the first tensor that covers
        it whole and in order, a copy for any other view."""
        contiguous = [1] * len(size)
        for i in range(len(size) - 2, -1, -1):
            contiguous[i] = contiguous[i + 1] * size[i + 1]
        whole = (offset == 0 and numel == array.size and array is storage.array
                 and all(st == c for dim, st, c in zip(size, stride, contiguous) if dim > 1))
        if whole and not storage.claimed:
            storage.claimed = True
            return array.reshape(size)
        self.budget.spend(numel * array.itemsize, "copying the tensors that share storages")
        view = np.lib.stride_tricks.as_strided(     # a stride along a length-1 axis is moot
            array[offset:], shape=size, writeable=False,
            strides=[st * array.itemsize if dim > 1 else 0 for dim, st in zip(size, stride)])
        return np.array(view, order="C")


# ---------------------------------------------------------------------------- zip format
def read_zip(archive, source, file_size, mapper=None):
    """The object a zip-format ``torch.save`` file holds (``archive``: its ``ZipArchive``)."""
    reader = _Reader(source, file_size, mapper)
    names = archive.names()
    pickles = [name for name in names if name.count("/") == 1 and name.endswith("/data.pkl")]
    if len(pickles) != 1:
        reader.fail(f"expected one <name>/data.pkl, found {len(pickles)}")
    prefix = pickles[0][:-len("data.pkl")]
    if any(name.startswith(prefix + "code/") for name in names) or \
            prefix + "constants.pkl" in archive.infos:
        reader.fail("it is a TorchScript archive (torch.jit.save); Ember reads torch.save files")
    little_endian = True
    if prefix + "byteorder" in archive.infos:
        order = bytes(archive.read(prefix + "byteorder")) if archive.size(
            prefix + "byteorder") <= 16 else b"?"
        if order not in (b"little", b"big"):
            reader.fail(f"unknown byte order {order[:16]!r}")
        little_endian = order == b"little"

    def persistent_load(pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType) and isinstance(pid[2], str)
                and isinstance(pid[3], str) and type(pid[4]) is int):
            reader.fail(f"unexpected persistent id {pid!r}"[:200])
        _, storage_type, key, _location, numel = pid
        storage = reader.storages.get(key)
        if storage is not None:
            if storage.element != storage_type.element or storage.array.size != numel:
                reader.fail(f"storage {key!r} is named with two different types or sizes"[:200])
            return storage
        member = f"{prefix}data/{key}"
        if member not in archive.infos:
            reader.fail(f"storage {key!r} has no member {member!r}"[:200])
        dtype = reader.element_dtype(storage_type.element, f"storage {key!r}")
        if numel < 0 or numel * dtype.itemsize != archive.size(member):
            reader.fail(f"storage {key!r} declares {numel} {storage_type.element} elements but "
                        f"its member holds {archive.size(member)} bytes"[:300])
        return reader.storage_from_bytes(key, storage_type.element, numel, archive.read(member),
                                         little_endian, f"storage {key!r}")

    data = archive.read(pickles[0])
    return reader.unpickler(data, pickles[0], persistent_load).load()[0]


# ---------------------------------------------------------------------------- legacy format
def read_legacy(data, source, mapper=None):
    """The object a legacy (non-zip) ``torch.save`` file holds; ``data``: its bytes (a
    writable bytearray, so tensors can use it without a copy).

    The storages' bytes follow the object pickle, and their element sizes are known only
    from it, so the object pickle runs twice: first over storages without data (to learn
    each storage's type and element count, building nothing large), then for real."""
    reader = _Reader(source, len(data), mapper)

    def plain(what):
        def refuse(pid):
            reader.fail(f"the {what} pickle has a persistent id")
        return refuse

    _magic, pos = reader.unpickler(data, "magic number", plain("magic")).load(0)
    protocol, pos = reader.unpickler(data, "protocol", plain("protocol")).load(pos)
    if protocol != _LEGACY_PROTOCOL:
        reader.fail(f"unknown legacy protocol {protocol!r}"[:100])
    sys_info, pos = reader.unpickler(data, "sys_info", plain("sys_info")).load(pos)
    little_endian = sys_info.get("little_endian") if isinstance(sys_info, dict) else None
    if type(little_endian) is not bool:
        reader.fail("sys_info does not say whether the file is little-endian")
    object_start = pos
    keys_start = end_of_pickle(data, object_start, f"{source} (object pickle)")
    keys, pos = reader.unpickler(data, "storage keys", plain("storage keys")).load(keys_start)
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys) \
            or len(set(keys)) != len(keys):
        reader.fail("the storage keys are not a list of distinct strings")
    declared = {}

    def persistent_load(pid):
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType) and isinstance(pid[2], str)
                and type(pid[4]) is int and pid[4] >= 0):
            reader.fail(f"unexpected persistent id {pid!r}"[:200])
        _, storage_type, key, _location, numel, view = pid
        if declared.setdefault(key, (storage_type.element, numel)) != (storage_type.element,
                                                                         numel):
            reader.fail(f"storage {key!r} is named with two different types or sizes"[:200])
        storage = reader.storages.get(key) or _Storage(storage_type.element, None)
        if view is None:
            return storage
        if not (isinstance(view, tuple) and len(view) == 3 and isinstance(view[0], str)
                and type(view[1]) is int and type(view[2]) is int
                and 0 <= view[1] and 0 <= view[2] and view[1] + view[2] <= numel):
            reader.fail(f"bad storage view {view!r}"[:200])
        if storage.array is None:
            return storage
        part = _Storage(storage.element, storage.array[view[1]:view[1] + view[2]])
        part.claimed = True                  # a view of a storage: tensors on it are copied
        return part

    reader.unpickler(data, "object pickle", persistent_load).load(object_start)
    if set(keys) != set(declared):
        reader.fail("the stored storage keys differ from those the object uses")
    for key in keys:
        element, numel = declared[key]
        itemsize = reader.element_dtype(element, f"storage {key!r}").itemsize
        if pos + 8 > len(data):
            reader.fail(f"the file is truncated before storage {key!r}"[:200])
        stored = int.from_bytes(data[pos:pos + 8], "little" if little_endian else "big")
        if stored != numel or pos + 8 + numel * itemsize > len(data):
            reader.fail(f"storage {key!r} declares {numel} elements, the file says {stored} "
                        f"and holds {max(len(data) - pos - 8, 0)} more bytes"[:300])
        raw = memoryview(data)[pos + 8:pos + 8 + numel * itemsize]
        reader.storage_from_bytes(key, element, numel, raw, little_endian, f"storage {key!r}")
        pos += 8 + numel * itemsize
    return reader.unpickler(data, "object pickle", persistent_load).load(object_start)[0]


# ---------------------------------------------------------------------------- tar format
def read_tar(fileobj, file_size, source, mapper=None):
    """The object a tar-format (torch < 0.4) ``torch.save`` file holds."""
    reader = _Reader(source, file_size, mapper)
    try:
        with tarfile.open(fileobj=fileobj, mode="r:") as tar:
            members = {}
            for member in tar.getmembers():
                if member.name in members:
                    reader.fail(f"the tar archive holds {member.name!r} twice"[:200])
                members[member.name] = member
            parts = {}
            for name in ("storages", "tensors", "pickle"):
                member = members.get(name)
                if member is None or not member.isfile():
                    reader.fail(f"the tar archive has no {name!r} file")
                if member.offset_data + member.size > file_size:
                    reader.fail(f"{name!r} runs past the end of the file")
                extracted = tar.extractfile(member)
                parts[name] = bytearray(extracted.read(member.size))
                if len(parts[name]) != member.size:
                    reader.fail(f"{name!r} is truncated")
    except (tarfile.TarError, EOFError, OSError, ValueError, UnicodeDecodeError,
            OverflowError, struct.error) as exc:
        reader.fail(f"unreadable tar archive ({type(exc).__name__}: {exc})"[:300])
    tensors = _tar_storages(reader, parts["storages"])
    _tar_tensors(reader, parts["tensors"], tensors)

    def persistent_load(pid):
        if not isinstance(pid, str) or not re.fullmatch(r"\d{1,20}", pid):
            reader.fail("the object pickle names a module's source or an unknown id; Ember "
                        "reads tensors and containers from tar-format files")
        if pid not in tensors:
            reader.fail(f"the object pickle names tensor {pid!r}, which is not stored"[:200])
        return tensors[pid]

    return reader.unpickler(parts["pickle"], "pickle", persistent_load).load()[0]


def _tar_pickle(reader, data, pos, what):
    def refuse(pid):
        reader.fail(f"the {what} have a persistent id")
    return reader.unpickler(data, what, refuse).load(pos)


def _tar_storages(reader, data):
    """Read the ``storages`` member into ``reader.storages``; returns the dict that the object
    pickle's ids resolve in (storages now, tensors added by ``_tar_tensors``)."""
    count, pos = _tar_pickle(reader, data, 0, "storages")
    if type(count) is not int or count < 0:
        reader.fail("the storage count is not a non-negative int")
    objects = {}
    for _ in range(count):
        record, pos = _tar_pickle(reader, data, pos, "storages")
        if not (isinstance(record, tuple) and len(record) == 3 and type(record[0]) is int
                and isinstance(record[2], _StorageType)):
            reader.fail(f"bad storage record {record!r}"[:200])
        key, element = str(record[0]), record[2].element
        itemsize = reader.element_dtype(element, f"storage {key}").itemsize
        numel = int.from_bytes(data[pos:pos + 8], "little")
        if pos + 8 + numel * itemsize > len(data):
            reader.fail(f"storage {key} declares {numel} elements, more than the bytes left")
        raw = memoryview(data)[pos + 8:pos + 8 + numel * itemsize]
        objects[key] = reader.storage_from_bytes(key, element, numel, raw, True,
                                                 f"storage {key}")
        pos += 8 + numel * itemsize
    views, pos = _tar_pickle(reader, data, pos, "storages")
    if not isinstance(views, list):
        reader.fail("the storage views are not a list")
    for view in views:
        if not (isinstance(view, tuple) and len(view) == 4
                and all(type(v) is int and v >= 0 for v in view) and str(view[1]) in objects):
            reader.fail(f"bad storage view {view!r}"[:200])
        root = objects[str(view[1])]
        if view[2] + view[3] > root.array.size:
            reader.fail(f"storage view {view!r} runs past its storage"[:200])
        part = _Storage(root.element, root.array[view[2]:view[2] + view[3]])
        part.claimed = True
        objects[str(view[0])] = part
    return objects


def _tar_tensors(reader, data, objects):
    count, pos = _tar_pickle(reader, data, 0, "tensors")
    if type(count) is not int or count < 0:
        reader.fail("the tensor count is not a non-negative int")
    for _ in range(count):
        record, pos = _tar_pickle(reader, data, pos, "tensors")
        if not (isinstance(record, tuple) and len(record) == 3 and type(record[0]) is int
                and type(record[1]) is int and str(record[1]) in objects):
            reader.fail(f"bad tensor record {record!r}"[:200])
        if pos + 8 > len(data):
            reader.fail("the tensors member is truncated")
        ndim = int.from_bytes(data[pos:pos + 4], "little", signed=True)
        if not 0 <= ndim <= 32 or pos + 8 + 16 * ndim + 8 > len(data):
            reader.fail(f"tensor {record[0]} has {ndim} dimensions or is truncated")
        numbers = struct.unpack_from(f"<{2 * ndim + 1}q", data, pos + 8)
        pos += 8 + 16 * ndim + 8
        try:
            tensor = reader.rebuild_tensor(objects[str(record[1])], numbers[-1],
                                           tuple(numbers[:ndim]), tuple(numbers[ndim:-1]))
        except ValueError as exc:
            reader.fail(f"tensor {record[0]}: {exc}")
        objects[str(record[0])] = tensor
