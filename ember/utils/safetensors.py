"""``ember.utils.safetensors``: read and write ``.safetensors`` files.

safetensors is the weight format of the Hugging Face ecosystem: an 8-byte little-endian
header length, a JSON header ``{name: {"dtype", "shape", "data_offsets"}, "__metadata__":
{str: str}}`` and the raw little-endian bytes of every tensor. It holds a *flat* mapping of
names to arrays and nothing else, so reading one never executes code. The functions mirror
``safetensors.torch``::

    from ember.utils.safetensors import save_file, load_file
    save_file(model.state_dict(), "model.safetensors", metadata={"arch": "resnet18"})
    model.load_state_dict(load_file("model.safetensors"))

``ember.save(state_dict, "model.safetensors")`` and ``ember.load("model.safetensors")`` do
the same (``ember.save`` picks the format from the ``.safetensors`` suffix or
``format="safetensors"``; ``ember.load`` recognises the file by its header).

What survives: names, shapes, dtypes and values. A safetensors file has no ``requires_grad``,
no ``Parameter`` flag, no nesting and no key order (the header is sorted), so tensors come
back as plain tensors in a plain dict; a checkpoint with optimizer state or an epoch counter
needs Ember's own format. Tensors stored as ``BF16`` (bfloat16, common in published weights)
are read exactly as float32 (a bfloat16 is the top half of a float32, so widening is a bit
shift), Ember having no bfloat16; other dtypes Ember lacks (unsigned 16/32/64-bit ints,
float8, complex) are refused with an error naming the tensor.

The ``safetensors`` package (``pip install 'ember[safetensors]'``, imported when a function is
first called) writes the files and checks a file's header against its bytes when reading
(``safetensors.deserialize``); Ember turns the raw bytes into arrays itself.
"""
import os

import numpy as np

from ember import _dtype
from ember._tensor import Tensor
from ember.reading import FileFormatError

__all__ = ["save", "save_file", "load", "load_file", "load_metadata", "is_safetensors_header"]

_HEADER_LENGTH_BYTES = 8


def _backend():
    """``(safetensors package, SafetensorError)``, or an ImportError saying what to install."""
    try:
        import safetensors
        import safetensors.numpy
    except ImportError:
        raise ImportError("ember.utils.safetensors needs the 'safetensors' package: pip install "
                          "'ember[safetensors]' (or pip install safetensors)") from None
    return safetensors, safetensors.SafetensorError


# the file's dtype names -> little-endian NumPy dtypes Ember has (BF16 is widened, see below)
_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
           "I8": "i1", "U8": "u1", "BOOL": "?"}
_UNSUPPORTED_NAMES = {"U16": "uint16", "U32": "uint32", "U64": "uint64", "C64": "complex64",
                      "F8_E4M3": "float8_e4m3", "F8_E5M2": "float8_e5m2"}


def _arrays_to_write(tensors, who):
    """``{name: contiguous ndarray}`` from a flat mapping of names to Tensors or arrays."""
    if not isinstance(tensors, dict):
        raise TypeError(f"{who}: safetensors stores a flat dict of str -> Tensor (e.g. "
                        f"model.state_dict()), got {type(tensors).__name__}")
    arrays = {}
    for name, value in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"{who}: safetensors keys must be str, got {name!r} "
                            f"({type(name).__name__})")
        if isinstance(value, Tensor):
            array = value._data
        elif isinstance(value, np.ndarray):
            array = value
        else:
            raise TypeError(f"{who}: safetensors stores only tensors, but {name!r} is of type "
                            f"{type(value).__name__}; save checkpoints with other values in "
                            "Ember's own format (ember.save without format='safetensors')")
        try:
            _dtype.from_numpy(array.dtype)
        except TypeError:
            raise TypeError(f"{who}: tensor {name!r} has dtype {array.dtype}, which Ember "
                            "cannot store") from None
        arrays[name] = np.ascontiguousarray(array)
    return arrays


def _check_metadata(metadata, who):
    if metadata is None:
        return None
    if not isinstance(metadata, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                 for k, v in metadata.items()):
        raise TypeError(f"{who}: metadata must be a dict of str -> str, got {metadata!r}")
    return metadata


def save(tensors, metadata=None):
    """The bytes of a safetensors file holding ``tensors`` (a dict of str -> Tensor or
    ndarray) and ``metadata`` (a dict of str -> str, or None)."""
    backend, _ = _backend()
    arrays = _arrays_to_write(tensors, "safetensors.save")
    return backend.numpy.save(arrays, metadata=_check_metadata(metadata, "safetensors.save"))


def save_file(tensors, filename, metadata=None):
    """Write ``tensors`` (a dict of str -> Tensor or ndarray) to the path ``filename``.

    The file is written to a temporary file and moved into place, so an existing file is
    never left half-written (see ``ember.save``).

    Raises:
        TypeError: for a value that is not a tensor, a non-str key, or bad ``metadata``;
            nothing is written.
    """
    from ember.serialization import write_atomic
    data = save(tensors, metadata)
    write_atomic(os.fsdecode(filename), lambda out: out.write(data), "safetensors.save_file")


def _to_tensors(entries, source):
    """Tensors from ``safetensors.deserialize``'s ``[(name, {dtype, shape, data})]``."""
    out = {}
    for name, entry in entries:
        kind, shape, data = entry["dtype"], tuple(entry["shape"]), entry["data"]
        if kind == "BF16":        # the top half of a float32: widening is exact
            array = (np.frombuffer(data, "<u2").astype(np.uint32) << 16).view(np.float32)
        elif kind in _DTYPES:
            dtype = np.dtype(_DTYPES[kind])
            array = np.frombuffer(data, dtype).astype(dtype.newbyteorder("="))   # a copy
        else:
            readable = _UNSUPPORTED_NAMES.get(kind, kind)
            raise FileFormatError(f"{source}: tensor {name!r} has dtype {readable}, which Ember "
                                  "does not support")
        out[name] = Tensor._wrap(array.reshape(shape))
    return out


def _fail(source, exc):
    message = " ".join(str(exc).split())
    raise FileFormatError(f"{source} is not a valid safetensors file ({message}); it may be "
                          "truncated or corrupt") from None


def load(data, source="<bytes>"):
    """The tensors of a safetensors file given as ``bytes``, as a dict of str -> Tensor."""
    backend, error = _backend()
    try:
        entries = backend.deserialize(bytes(data))
    except (error, TypeError, ValueError) as exc:
        _fail(source, exc)
    return _to_tensors(entries, source)


def load_file(filename, device="cpu"):
    """The tensors of the safetensors file at ``filename``, as a dict of str -> Tensor.
    ``device`` must be ``'cpu'`` (Ember's only device).

    Raises:
        FileNotFoundError: if the file does not exist.
        RuntimeError: if it is truncated or not a safetensors file, or holds a dtype Ember
            lacks; the message names the file.
    """
    if str(device) != "cpu":
        raise ValueError(f"safetensors.load_file: Ember runs on the CPU only, got "
                         f"device={device!r}")
    filename = os.fsdecode(filename)
    if not os.path.exists(filename):
        raise FileNotFoundError(f"safetensors.load_file: {filename!r} does not exist")
    with open(filename, "rb") as f:
        return load(f.read(), repr(filename))


def load_metadata(filename):
    """The ``__metadata__`` dict (str -> str) of the safetensors file at ``filename``, or None
    if it has none."""
    _, error = _backend()
    from safetensors import safe_open
    filename = os.fsdecode(filename)
    if not os.path.exists(filename):
        raise FileNotFoundError(f"safetensors.load_metadata: {filename!r} does not exist")
    try:
        with safe_open(filename, framework="numpy") as f:
            return f.metadata()
    except (error, TypeError, ValueError) as exc:
        _fail(repr(filename), exc)


def is_safetensors_header(head):
    """Whether ``head`` (the first 9 bytes of a file) starts a safetensors file: a header
    length that is not absurd followed by the JSON header's opening brace. Ember's own
    checkpoints start with ``PK`` (a ZIP archive) and pickles with ``0x80``."""
    if len(head) < _HEADER_LENGTH_BYTES + 1:
        return False
    length = int.from_bytes(head[:_HEADER_LENGTH_BYTES], "little")
    return 2 <= length < (1 << 32) and head[_HEADER_LENGTH_BYTES:_HEADER_LENGTH_BYTES + 1] == b"{"
