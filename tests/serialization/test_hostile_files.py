"""ember.load on hostile Ember files: one FileFormatError line naming the file, in bounded
memory, for each class of file the fuzzing campaign of issue 23 found (and issue 12's
545-byte file claiming 10**11 floats)."""
import io
import json
import os
import tracemalloc
import zipfile

import numpy as np
import pytest

import ember
from ember import reading, serialization
from ember.cli import main
from tests.hostile import npy_bytes, patch_zip_field, rewrite_zip

MANIFEST = serialization.MANIFEST


def _file(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _saved(obj):
    buffer = io.BytesIO()
    ember.save(obj, buffer)
    return buffer.getvalue()


def _refused(path, pattern, limit=8 * 2 ** 20):
    """Load ``path``: it must raise one FileFormatError line naming it and matching
    ``pattern``, with a peak of traced allocations under ``limit`` bytes."""
    tracemalloc.start()
    try:
        with pytest.raises(ember.FileFormatError) as info:
            ember.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert "\n" not in message and os.path.basename(str(path)) in message, message
    assert pattern in message or __import__("re").search(pattern, message), message
    assert peak < limit, f"peak {peak:,} bytes"
    return message


def _manifest_edit(change):
    def edit(name, content):
        if name != MANIFEST:
            return content
        return json.dumps(change(json.loads(content))).encode()
    return edit


def test_issue_12_a_545_byte_file_claiming_10_11_floats(tmp_path, capsys):
    good = _saved({"weights": ember.ones(1)})
    array = npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (100000000000,), }",
                      np.ones(1, np.float32).tobytes())
    data = rewrite_zip(good, lambda name, content: array if name.endswith(".npy") else content)
    path = _file(tmp_path, "crafted.ember", data)
    assert len(data) < 600
    _refused(path, r"shape \(100000000000,\) of float32 needs 400000000000 data bytes, the "
                   r"array has 4")
    assert main(["eval", str(path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "crafted.ember" in err and "Traceback" not in err


@pytest.mark.parametrize("shape, message", [
    ("(10**30,)", "unreadable header"),
    ("(1000000000000000000000000000000,)", "too large to address"),
    ("(1099511627776,)", "needs 4398046511104 data bytes"),
    ("(True,)", "non-negative ints, got (True,)"),
    ("(-4,)", "non-negative ints"),
    ("(2, 'x')", "non-negative ints"),
    ("(4294967296, 4294967296, 0)", "too large to address"),
    ("(4611686018427387904, 4, 0)", "too large to address"),
])
def test_npy_shape_lies(tmp_path, shape, message):
    array = npy_bytes(f"{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}",
                      b"\0" * 16)
    data = rewrite_zip(_saved({"w": ember.zeros(4)}),
                       lambda name, content: array if name.endswith(".npy") else content)
    _refused(_file(tmp_path, "shape.ember", data), message)


@pytest.mark.parametrize("header, message", [
    (None, r"unreadable header \(SyntaxError\)"),
    ("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", "not a plain bool"),
    ("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", "not a plain bool"),
    ("{'descr': '<f4', 'fortran_order': 0, 'shape': (1,), }", "fortran_order must be"),
    ("{'descr': '<f4', 'shape': (1,), }", "keys descr, fortran_order and shape"),
    ("[" * 500 + "]" * 500, "unreadable header"),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': __import__('os')}",
     "unreadable header"),
])
def test_npy_header_lies(tmp_path, header, message):
    if header is None:                              # header-length field 1: one byte of header
        array = b"\x93NUMPY\x01\x00\x01\x00{"
    else:
        array = npy_bytes(header, b"\0" * 4)
    data = rewrite_zip(_saved({"w": ember.zeros(1)}),
                       lambda name, content: array if name.endswith(".npy") else content)
    _refused(_file(tmp_path, "header.ember", data), message)


def test_a_stored_member_patched_to_deflate(tmp_path):
    data = patch_zip_field(_saved({"w": ember.arange(100.0)}), "arrays/0.npy", "method",
                           zipfile.ZIP_DEFLATED)
    _refused(_file(tmp_path, "method.ember", data), r"cannot read member 'arrays/0.npy'")
    data = patch_zip_field(_saved({"w": ember.arange(100.0)}), "arrays/0.npy", "method", 12)
    _refused(_file(tmp_path, "bzip.ember", data), "compression method 12")


def test_declared_sizes_are_checked_before_anything_is_read(tmp_path):
    good = _saved({"w": ember.arange(1000.0)})
    # a deflated member declaring 3 GiB in a small file: refused from the directory alone
    deflated = rewrite_zip(good, compression=zipfile.ZIP_DEFLATED)
    bomb = patch_zip_field(deflated, "arrays/0.npy", "file_size", 3 * 2 ** 30)
    _refused(_file(tmp_path, "bomb.ember", bomb), "max_expansion_ratio=100")
    # the same for a manifest of spaces
    spaces = rewrite_zip(good, lambda n, c: c + b" " * (8 * 2 ** 20) if n == MANIFEST else c,
                         compression=zipfile.ZIP_DEFLATED)
    _refused(_file(tmp_path, "spaces.ember", spaces), "max_expansion_ratio")
    with reading.limits(max_expansion_ratio=10 ** 5):
        assert ember.load(_file(tmp_path, "spaces.ember", spaces))["w"].shape == (1000,)
        with reading.limits(max_manifest_bytes=2 ** 20):
            _refused(tmp_path / "spaces.ember", "max_manifest_bytes=1,048,576", limit=32 * 2 ** 20)
    # a stored member whose sizes disagree, or that runs past the end of the file
    lying = patch_zip_field(good, "arrays/0.npy", "file_size", 10 ** 9, where=("central",))
    _refused(_file(tmp_path, "lying.ember", lying), "declares 1000000000 bytes but occupies")
    both = patch_zip_field(lying, "arrays/0.npy", "compress_size", 10 ** 9, where=("central",))
    _refused(_file(tmp_path, "past.ember", both), "runs past the end of the file")


def test_an_array_named_3000_times_is_read_once(tmp_path):
    data = _saved({"a": np.zeros(2 ** 20, np.float64)})          # one 8 MiB array
    entry = {"$type": "ndarray", "array": "arrays/0.npy", "dtype": "float64"}
    data = rewrite_zip(data, _manifest_edit(lambda m: {**m, "root": [entry] * 3000}))
    path = _file(tmp_path, "many.ember", data)
    tracemalloc.start()
    try:
        out = ember.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(out) == 3000 and all(a is out[0] for a in out)
    assert peak < 3 * 8 * 2 ** 20


def test_duplicate_members_are_refused(tmp_path):
    good = _saved({"w": ember.ones(3)})
    other = npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", b"\0" * 4)
    twice = rewrite_zip(good, extra=[("arrays/0.npy", other)])
    _refused(_file(tmp_path, "twice.ember", twice), "holds member 'arrays/0.npy' twice")
    manifest = rewrite_zip(good, extra=[(MANIFEST, b"{}")])
    _refused(_file(tmp_path, "manifest.ember", manifest), f"holds member '{MANIFEST}' twice")


@pytest.mark.parametrize("change, message", [
    (lambda e: {**e, "requires_grad": "no"}, "no valid 'requires_grad' field"),
    (lambda e: {**e, "parameter": 1}, "no valid 'parameter' field"),
    (lambda e: {**e, "array": 7}, "no valid 'array' field"),
    (lambda e: {**e, "dtype": None}, "no valid 'dtype' field"),
    (lambda e: {**e, "extra": 1}, "has fields"),
    (lambda e: {**e, "$type": "pickle"}, "unknown entry type 'pickle'"),
    (lambda e: {**e, "array": "arrays/9.npy"}, "missing array member 'arrays/9.npy'"),
])
def test_every_manifest_field_is_type_checked(tmp_path, change, message):
    data = rewrite_zip(_saved({"w": ember.ones(2)}), _manifest_edit(
        lambda m: {**m, "root": {**m["root"], "items": [["w", change(m["root"]["items"][0][1])]]}}))
    _refused(_file(tmp_path, "field.ember", data), message)


def test_dtype_lies(tmp_path):
    good = _saved({"w": ember.tensor([1.5, 2.5])})
    as_bool = npy_bytes("{'descr': '|b1', 'fortran_order': False, 'shape': (8,), }",
                        np.array([1.5, 2.5], np.float32).tobytes())
    data = rewrite_zip(good, lambda n, c: as_bool if n.endswith(".npy") else c)
    _refused(_file(tmp_path, "b1.ember", data), "boolean data holds bytes other than 0 and 1")
    data = rewrite_zip(data, _manifest_edit(lambda m: json.loads(
        json.dumps(m).replace('"float32"', '"bool"'))))
    _refused(_file(tmp_path, "b1manifest.ember", data), "boolean data")
    ints = _saved({"i": ember.tensor([1, 2])})
    data = rewrite_zip(ints, _manifest_edit(lambda m: json.loads(
        json.dumps(m).replace('"requires_grad": false', '"requires_grad": true'))))
    _refused(_file(tmp_path, "intgrad.ember", data),
             "of dtype int64 has requires_grad=true (only floating-point")


def test_manifest_structure_lies(tmp_path):
    good = _saved({"w": ember.ones(2)})
    cases = {
        "keys": (lambda m: {**m, "root": {"$type": "dict", "items": [[2 ** 70, 1]]}},
                 "out of range"),
        "unhashable": (lambda m: {**m, "root": {"$type": "dict", "items": [[[1], 1]]}},
                       "unhashable"),
        "version": (lambda m: {**m, "version": True}, "format version True"),
        "item": (lambda m: {**m, "root": {"$type": "dict", "items": [[1, 2, 3]]}},
                 "bad dict item"),
        "ref": (lambda m: {**m, "root": {"$type": "ref", "id": 0}}, "reference to object 0"),
        "global": (lambda m: {**m, "root": {"$type": "global", "name": "os.system"}},
                   "names the class or function 'os.system', which is not on Ember's "
                   "allowlist"),
        "scalar": (lambda m: {**m, "root": {"$type": "numpy_scalar", "array": "arrays/0.npy",
                                            "dtype": "float32"}}, "numpy scalar"),
    }
    for name, (change, message) in cases.items():
        data = rewrite_zip(good, _manifest_edit(change))
        _refused(_file(tmp_path, f"{name}.ember", data), message)


def test_truncations_and_bit_flips_of_every_byte_region(tmp_path):
    good = _saved({"w": ember.arange(64.0), "n": [1, (2, "x")]})
    for cut in range(0, len(good), max(1, len(good) // 40)):
        _refused(_file(tmp_path, "cut.ember", good[:cut]), r"\.ember")
    for position in range(0, len(good), max(1, len(good) // 60)):
        flipped = bytearray(good)
        flipped[position] ^= 0x55
        path = _file(tmp_path, "flip.ember", bytes(flipped))
        try:
            ember.load(path)
        except ember.FileFormatError as error:
            assert "\n" not in str(error) and "flip.ember" in str(error)


def test_the_limits_api():
    before = reading.get_limits()
    with reading.limits(max_image_pixels=10) as inside:
        assert inside.max_image_pixels == 10 and reading.get_limits() is inside
        assert inside.max_expansion_ratio == before.max_expansion_ratio
    assert reading.get_limits() == before
    previous = reading.set_limits(max_pickle_ops=123)
    try:
        assert previous == before and reading.get_limits().max_pickle_ops == 123
    finally:
        reading.set_limits(max_pickle_ops=before.max_pickle_ops)
    for bad in (0, -1, True, "10"):
        with pytest.raises(ValueError, match="max_manifest_bytes must be a positive number"):
            reading.limits(max_manifest_bytes=bad).__enter__()
    with pytest.raises(TypeError):
        reading.set_limits(max_widgets=1)
