"""Ember's restricted pickle machine: plain data of every protocol as Python's pickle builds
it; every call only through the allowlist; every length and count bounded."""
import pickle
from collections import Counter, OrderedDict

import numpy as np
import pytest

from ember import reading
from ember.reading import FileFormatError
from ember.serialization.restricted_pickle import (DataRebuilders, Unpickler, check_key,
                                                   end_of_pickle)


def _load(data, encoding="utf-8"):
    rebuilders = DataRebuilders()

    def find_global(module, name):
        if (module, name) not in rebuilders.globals:
            raise FileFormatError(f"test: refusing {module}.{name}")
        return rebuilders.globals[(module, name)]
    return Unpickler(data, "test", find_global, build=rebuilders.build,
                     encoding=encoding).load()[0]


PLAIN = [None, True, False, 0, -1, 255, 65535, 2 ** 31 - 1, -2 ** 31, 2 ** 40, -2 ** 70,
         3.25, float("-inf"), "", "ascii", "ünïcødé ✓" * 30, b"", b"\x00\xff" * 200,
         bytearray(b"xy"), (), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4), [], [1, [2, [3]]],
         {}, {"a": 1, 2: (3,), (4, "b"): [None]}, set(), {1, "x", (2, 3)}, frozenset({4}),
         OrderedDict([("z", 1), ("a", [2])]), Counter({"x": 3}), "x" * 300, b"y" * 300]


@pytest.mark.parametrize("protocol", range(0, 6))
def test_plain_data_is_built_as_pickle_builds_it(protocol):
    for value in PLAIN:
        if isinstance(value, bytearray) and protocol < 2:
            continue
        data = pickle.dumps(value, protocol=protocol)
        ours = _load(data)
        assert ours == value and type(ours) is type(value), (protocol, value)
    shared = [1]
    out = _load(pickle.dumps([shared, shared, {"k": shared}], protocol=protocol))
    assert out[0] is out[1] is out[2]["k"]


@pytest.mark.parametrize("protocol", [2, 4, 5])
@pytest.mark.parametrize("array", [np.arange(6, dtype=np.float32).reshape(2, 3),
                                   np.asfortranarray(np.arange(6.0).reshape(2, 3)),
                                   np.array([True, False]), np.zeros((0, 3), np.uint8),
                                   np.arange(4, dtype=">i4")])
def test_numpy_arrays_and_scalars(protocol, array):
    out = _load(pickle.dumps({"a": array, "s": array.dtype.type(1)}, protocol=protocol))
    np.testing.assert_array_equal(out["a"], array)
    assert out["a"].dtype == array.dtype.newbyteorder("=") and out["a"].shape == array.shape
    assert out["a"].dtype.isnative
    assert out["s"] == 1 and type(out["s"]) is array.dtype.type


def test_python2_strings_use_the_given_encoding():
    data = b"\x80\x02U\x04caf\xe9q\x00."               # a Python 2 str: SHORT_BINSTRING
    assert _load(data, encoding="latin1") == "café"
    assert _load(data, encoding="bytes") == b"caf\xe9"
    with pytest.raises(FileFormatError, match="not valid utf-8"):
        _load(data)


@pytest.mark.parametrize("data, message", [
    (b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00id\x85R.", "refusing os.system"),
    (b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93.", "refusing builtins.eval"),
    (b"(S'id'\nios\nsystem\n.", "opcode b'i' is not allowed"),
    (b"\x80\x02(]o.", "opcode b'o' is not allowed"),
    (b"\x80\x02\x82\x01.", r"opcode b'\\x82' is not allowed"),
    (b"\x80\x05\x97.", r"opcode b'\\x97' is not allowed"),
    (b"\x80\x02NQ.", "persistent id"),
    (b"\x80\x02]X\x01\x00\x00\x00aR.", "REDUCE of a list"),
    (b"\x80\x02}N\x85R.", "REDUCE of a dict"),
    (b"\x80\x02]}b.", "BUILD of a list"),
    (b"\x80\x02K\x00K\x01K\x02s.", "SETITEM on a int"),
    (b"\x80\x02h\x05.", "memo entry 5 is read before it is written"),
    (b"\x80\x02.", "the pickle stack is empty"),
    (b"\x80\x02e.", "needs a MARK"),
    (b"\x80\x06N.", "unsupported pickle protocol 6"),
    (b"\x80\x02X\xff\xff\xff\x7fab.", "truncated: 2147483647 bytes declared, 3 left"),
    (b"\x80\x04\x8e" + (2 ** 62).to_bytes(8, "little") + b".", "bytes declared"),
    (b"\x80\x02\x8b\x00\x00\x00\x10" + b"\x01" * 16 + b".", "integer of 268435456 bytes"),
    (b"\x80\x02}\x8a\x09" + (2 ** 64).to_bytes(9, "little") + b"Ns.", "out of range"),
    (b"\x80\x02}]Ns.", "unhashable"),
    (b"\x80\x02I" + b"9" * 1000 + b"\n.", "an integer of 1000 digits"),
    (b"\x80\x02I12x\n.", "bad integer"),
    (b"\x80\x02c__builtin__\nbytes\nJ\x00\x00\x00\x40\x85R.", "only bytes"),
    (b"\x80\x02cbuiltins\nbytearray\nJ\x00\x00\x00\x40\x85R.", "only bytearray"),
    (b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x05\x85C\x01b\x87R.",
     r"only numpy.ndarray with the empty shape \(0,\)"),
    (b"\x80\x02cnumpy\ndtype\nX\x02\x00\x00\x00O8\x89\x88\x87R.", "not a plain bool"),
    (b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00xX\x03\x00\x00\x00hex\x86R.",
     r"_codecs.encode\(str, 'latin1'\)"),
])
def test_refusals_and_damage_are_one_line_errors(data, message):
    with pytest.raises(FileFormatError, match=message) as info:
        _load(data)
    assert "\n" not in str(info.value)


def test_array_states_must_match_their_bytes():
    good = pickle.dumps(np.arange(4, dtype=np.int32), protocol=2)
    claimed = good.replace(b"K\x04\x85", b"J\x00\xe4\x0bT\x85")      # shape (1410065408,)
    assert claimed != good
    with pytest.raises(FileFormatError, match="needs 5640261632 bytes, the pickle holds 16"):
        _load(claimed)
    with pytest.raises(FileFormatError, match="shape must be"):
        _load(good.replace(b"K\x04\x85", b"\x88\x85"))                # shape (True,)


def test_the_number_of_opcodes_is_limited():
    data = pickle.dumps(list(range(1000)), protocol=2)
    with reading.limits(max_pickle_ops=500):
        with pytest.raises(FileFormatError, match="more than 500 opcodes \\(max_pickle_ops\\); "
                                                  "if you trust the file"):
            _load(data)
        with pytest.raises(FileFormatError, match="more than 500 opcodes"):
            end_of_pickle(data, 0, "test")
    assert _load(data) == list(range(1000))


def test_end_of_pickle_finds_stop_without_building():
    first = pickle.dumps({"a": [1, 2.5, "x" * 70000, b"y"]}, protocol=4)
    second = pickle.dumps(("cos\nsystem\n", 3), protocol=0)
    data = first + second + b"trailing bytes"
    assert end_of_pickle(data, 0, "t") == len(first)
    assert end_of_pickle(data, len(first), "t") == len(first) + len(second)
    with pytest.raises(FileFormatError, match="truncated"):
        end_of_pickle(first[:-1], 0, "t")
    with pytest.raises(FileFormatError, match="is not a pickle opcode"):
        end_of_pickle(b"\x80\x02\xff.", 0, "t")
    assert _load(second) == ("cos\nsystem\n", 3)


def test_colliding_keys_are_refused():
    for key in (2 ** 61 - 1, -(2 ** 61 - 1), 2.0 ** 62, (1, 2 ** 64)):
        with pytest.raises(ValueError, match="out of range"):
            check_key(key, lambda message: (_ for _ in ()).throw(ValueError(message)))
    for key in (2 ** 61 - 2, 0.5, 1.5e-300, 2.0 ** 60, "x" * 100, (1, "a")):
        check_key(key, lambda message: pytest.fail(message))
