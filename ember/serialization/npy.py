"""NumPy ``.npy`` arrays parsed from a buffer, trusting nothing the header says.

``numpy.lib.format.read_array`` allocates whatever shape the header declares and raises
NumPy's own errors (``OverflowError`` for a shape of ``(10**30,)``, a 4 TiB
``_ArrayMemoryError`` for ``(2**40,)``, ``TypeError`` for ``(True,)``, ``tokenize`` errors for a
malformed header). ``parse_npy`` reads the format itself:

    b"\\x93NUMPY" major minor  header-length (2 bytes in version 1, 4 in 2 and 3)
    header: a Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}
    data:   prod(shape) * itemsize bytes

and checks, before building anything, that the descr is a plain bool/int/uint/float type,
``fortran_order`` a bool, every shape entry a non-negative int (not a bool), and that the
data is exactly ``prod(shape) * itemsize`` bytes. The array is a view of the buffer (no copy
unless the byte order or alignment must change); boolean data must hold only 0 and 1.
"""
import ast
import re

import numpy as np

__all__ = ["parse_npy", "NpyError"]

_MAGIC = b"\x93NUMPY"
_MAX_HEADER = 10000           # NumPy's own default limit (max_header_size)
_DESCR = re.compile(r"[<>|=]?[biuf][1-8]")
_MAX_DIMS = 32


class NpyError(ValueError):
    """What is wrong with an ``.npy`` buffer (the caller adds the file's name)."""


def parse_npy(buffer):
    """``buffer`` (bytes-like, ideally a writable bytearray) -> ndarray in native byte order."""
    view = memoryview(buffer)
    if len(view) < 10 or bytes(view[:6]) != _MAGIC:
        raise NpyError("not an .npy array (bad magic string)")
    major = view[6]
    if major == 1:
        header_length, start = int.from_bytes(view[8:10], "little"), 10
    elif major in (2, 3) and len(view) >= 12:
        header_length, start = int.from_bytes(view[8:12], "little"), 12
    else:
        raise NpyError(f"unsupported .npy format version {major}.{view[7]}")
    if header_length > _MAX_HEADER:
        raise NpyError(f"header of {header_length} bytes (at most {_MAX_HEADER})")
    if start + header_length > len(view):
        raise NpyError(f"truncated header ({header_length} bytes declared, "
                       f"{len(view) - start} present)")
    dtype, fortran_order, shape = _parse_header(
        bytes(view[start:start + header_length]), "utf-8" if major == 3 else "latin-1")
    count = 1
    for dim in shape:
        count *= dim
    data_start = start + header_length
    expected = count * dtype.itemsize
    if expected != len(view) - data_start:
        raise NpyError(f"shape {shape} of {dtype.name} needs {expected} data bytes, the array "
                       f"has {len(view) - data_start}")
    flat = np.frombuffer(buffer, dtype=dtype, count=count, offset=data_start)
    if dtype.kind == "b" and count and flat.view(np.uint8).max() > 1:
        raise NpyError("boolean data holds bytes other than 0 and 1")
    if not flat.dtype.isnative or not flat.flags.aligned:
        flat = flat.astype(dtype.newbyteorder("="))
    return flat.reshape(shape, order="F" if fortran_order else "C")


def _parse_header(raw, encoding):
    try:
        header = ast.literal_eval(raw.decode(encoding))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError,
            UnicodeDecodeError) as exc:
        raise NpyError(f"unreadable header ({type(exc).__name__})") from None
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        keys = sorted(map(repr, header)) if isinstance(header, dict) else type(header).__name__
        raise NpyError(f"header must be a dict with keys descr, fortran_order and shape, got "
                       f"{keys}")
    descr, fortran_order, shape = header["descr"], header["fortran_order"], header["shape"]
    if not isinstance(descr, str) or not _DESCR.fullmatch(descr):
        raise NpyError(f"descr {descr!r} is not a plain bool, integer or float type")
    try:
        dtype = np.dtype(descr)
    except TypeError:
        raise NpyError(f"descr {descr!r} is not a NumPy type") from None
    if type(fortran_order) is not bool:
        raise NpyError(f"fortran_order must be True or False, got {fortran_order!r}")
    if type(shape) is not tuple or len(shape) > _MAX_DIMS \
            or not all(type(dim) is int and dim >= 0 for dim in shape):
        raise NpyError(f"shape must be a tuple of at most {_MAX_DIMS} non-negative ints, got "
                       f"{shape!r}"[:200])
    extent = dtype.itemsize
    for dim in shape:
        extent *= max(dim, 1)
    if extent >= 2 ** 62:
        raise NpyError(f"shape {shape} is too large to address")
    return dtype, fortran_order, shape
