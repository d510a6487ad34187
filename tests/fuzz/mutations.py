"""Mutations of valid files: structure-aware ones that know each format, and byte-level ones.

``mutate(family, data, rng, others)`` applies one to three mutations, each chosen among the
family's structure-aware mutations and the byte mutations, and returns the new bytes and a
description of what was done. ``rng`` is a ``random.Random``; the same rng state gives the
same bytes. A structure-aware mutation whose input no longer parses (an earlier mutation
damaged it) falls back to a byte mutation.
"""
import gzip
import io
import json
import pickle
import pickletools
import re
import struct
import tarfile
import zipfile
import zlib

import numpy as np

from tests.hostile import CENTRAL_FIELDS, npy_bytes, patch_zip_field, png_chunks, rewrite_zip

INTERESTING = [0, 1, 2, 3, 7, 8, 15, 16, 63, 64, 127, 128, 255, 256, 1000, 0x7FFF, 0x8000,
               0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 2 ** 32, 2 ** 40, 2 ** 62,
               2 ** 63 - 1, 2 ** 64 - 1, 10 ** 11, -1, -2, -(2 ** 31), -(2 ** 63)]
_DANGEROUS_PICKLE = [b"cos\nsystem\n", b"cbuiltins\neval\n", b"c__builtin__\ngetattr\n",
                     b"(S'id'\nios\nsystem\n", b"\x8c\x02os\x8c\x06system\x93", b"R", b"b",
                     b"\x81", b")R", b"N\x85R", b"(", b"0", b"1", b"2", b"t", b"s", b"u",
                     b"a", b"e", b"h\xff", b"j\xff\xff\xff\x7f", b"q\x00", b"\x94", b"Q", b"NQ",
                     b"\x8e" + (2 ** 62).to_bytes(8, "little"),
                     b"\x8b\xff\xff\xff\x7f", b"X\xff\xff\xff\x7f", b"I99999999\n",
                     b"]" * 50, b"(" * 50, b"\x82\x01", b".",
                     b"cnumpy.core.multiarray\n_reconstruct\n", b"cnumpy\ndtype\n",
                     b"ctorch._utils\n_rebuild_tensor_v2\n", b"ctorch\nFloatStorage\n",
                     b"ccollections\nOrderedDict\n", b"c_codecs\nencode\n"]


# ------------------------------------------------------------------------------ bytes
def _int_bytes(rng, value=None):
    value = rng.choice(INTERESTING) if value is None else value
    size = rng.choice([1, 2, 4, 8])
    order = rng.choice(["little", "big"])
    return (value % (1 << (8 * size))).to_bytes(size, order)


def flip(data, rng, others):
    if not data:
        return b"\x00", "flip on empty -> one byte"
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(out))
        out[i] ^= 1 << rng.randrange(8) if rng.random() < 0.7 else rng.randrange(1, 256)
    return bytes(out), "flip bits"


def set_integer(data, rng, others):
    if not data:
        return _int_bytes(rng), "integer on empty"
    raw = _int_bytes(rng)
    i = rng.randrange(len(data))
    return data[:i] + raw + data[i + len(raw):], f"integer {raw.hex()} at {i}"


def insert(data, rng, others):
    i = rng.randrange(len(data) + 1)
    if rng.random() < 0.5 and data:
        j = rng.randrange(len(data))
        chunk = data[j:j + rng.randint(1, 256)] * rng.randint(1, 8)
    else:
        chunk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    return data[:i] + chunk + data[i:], f"insert {len(chunk)} bytes at {i}"


def delete(data, rng, others):
    if not data:
        return data, "delete on empty"
    i = rng.randrange(len(data))
    n = rng.randint(1, max(1, min(256, len(data) - i)))
    return data[:i] + data[i + n:], f"delete {n} bytes at {i}"


def truncate(data, rng, others):
    cut = rng.randrange(len(data) + 1)
    return data[:cut], f"truncate at {cut}"


def splice(data, rng, others):
    other = rng.choice(others) if others else data
    i, j = rng.randrange(len(data) + 1), rng.randrange(len(other) + 1)
    return data[:i] + other[j:], f"splice at {i} with another seed from {j}"


BYTE_MUTATIONS = [flip, flip, set_integer, set_integer, insert, delete, truncate, splice]


# ------------------------------------------------------------------------------ zip
def zip_field(data, rng, others):
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
    name = rng.choice(names)
    field = rng.choice(list(CENTRAL_FIELDS))
    value = rng.choice([v for v in INTERESTING if v >= 0]) % (1 << 16 if field in (
        "flags", "method", "name_length", "extra_length", "comment_length") else 1 << 32)
    if field == "method" and rng.random() < 0.7:
        value = rng.choice([0, 8, 12, 14, 93, 99])
    where = rng.choice([("local",), ("central",), ("local", "central")])
    return patch_zip_field(data, name, field, value, where), f"zip {name} {field}={value} {where}"


def zip_member(data, rng, others):
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
    name = rng.choice(names)
    content_mutation = _content_mutation(name)
    description = []

    def edit(member, content):
        if member != name:
            return content
        new, what = content_mutation(content, rng, others)
        description.append(what)
        return new
    return rewrite_zip(data, edit), f"zip member {name}: {description[0] if description else ''}"


def zip_structure(data, rng, others):
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
    name = rng.choice(names)
    choice = rng.randrange(5)
    if choice == 0:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            content = archive.read(name)
        return rewrite_zip(data, extra=[(name, content[: rng.randrange(len(content) + 1)])]), \
            f"zip duplicate {name}"
    if choice == 1:
        return rewrite_zip(data, lambda n, c: None if n == name else c), f"zip drop {name}"
    if choice == 2:
        return rewrite_zip(data, compression=zipfile.ZIP_DEFLATED), "zip deflate every member"
    if choice == 3:
        size = rng.choice([2 ** 20, 2 ** 23])
        return rewrite_zip(data, lambda n, c: c + b"\0" * size if n == name else c,
                           compression=zipfile.ZIP_DEFLATED), f"zip inflate {name} by {size}"
    return rewrite_zip(data, extra=[(rng.choice(["extra.bin", "arrays/99.npy", "x/data/9"]),
                                     bytes(rng.randrange(256) for _ in range(64)))]), \
        "zip add a member"


def _content_mutation(name):
    if name.endswith(".npy"):
        return npy_header
    if name.endswith(".json"):
        return manifest
    if name.endswith(".pkl"):
        return pickle_opcodes
    return lambda content, rng, others: rng.choice(BYTE_MUTATIONS)(content, rng, others)


# ------------------------------------------------------------------------------ .npy
_DESCRS = ["'<f4'", "'<f8'", "'|b1'", "'|u1'", "'<i8'", "'>f4'", "'|O'", "'<f16'", "'<c8'",
           "'V8'", "'<U3'", "'f'", "'<m8'", "[('a', '<f4')]", "1", "None", "'<i3'"]
_SHAPES = ["()", "(0,)", "(1,)", "(-1,)", "(True,)", "(10**30,)", "(2**40,)", "(100000000000,)",
           "(1099511627776,)", "(3, 'x')", "(2147483648, 2147483648, 4)", "(0, 4294967296)",
           "[2]", "None", "(1.5,)", "((1,),)", "(" + "1, " * 40 + ")"]


def npy_header(data, rng, others):
    match = re.match(rb"\x93NUMPY(.)(.)", data)
    if not match:
        return rng.choice(BYTE_MUTATIONS)(data, rng, others)
    major = data[6]
    start = 10 if major == 1 else 12
    length = int.from_bytes(data[8:start], "little")
    header = data[start:start + length].decode("latin-1", "replace")
    payload = data[start + length:]
    choice = rng.randrange(6)
    if choice == 0:
        header = re.sub(r"'shape': \([^)]*\)", "'shape': " + rng.choice(_SHAPES), header)
    elif choice == 1:
        header = re.sub(r"'descr': '[^']*'", "'descr': " + rng.choice(_DESCRS), header)
    elif choice == 2:
        header = header.replace("False", rng.choice(["True", "0", "'no'", "None"]))
    elif choice == 3:
        header = header[: rng.randrange(len(header) + 1)] + rng.choice(
            ["", "}", "{", "'x': 1, ", "\x00", "(" * 300])
    elif choice == 4:
        out = bytearray(data)
        struct.pack_into("<H" if major == 1 else "<I", out, 8,
                         rng.choice([0, 1, 2, 10, 9999, 10001, 65535]) % (1 << 16))
        return bytes(out), "npy header length"
    else:
        payload = payload[: rng.randrange(len(payload) + 1)] if rng.random() < 0.5 else \
            payload * rng.randint(2, 3)
    return npy_bytes(header.strip(), payload, version=rng.choice([1, 1, 2, 3])), \
        f"npy header {header[:80]!r}"


# ------------------------------------------------------------------------------ manifests
_CLASSES = ["os.system", "builtins.eval", "subprocess.Popen", "ember.nn.Linear", "ember.nn.Module",
            "ember.optim.SGD", "builtins.dict", "builtins.list", "ember.load", "evil.Payload",
            "collections.OrderedDict", "ember.nn.modules.linear.Linear", ""]


def _interesting_json(rng):
    choice = rng.randrange(12)
    if choice == 0:
        return rng.choice(INTERESTING + [10 ** 400 if rng.random() < 0.1 else 2 ** 70])
    if choice == 1:
        return rng.choice(["", "arrays/0.npy", "arrays/1.npy", "float32", "bool", "int64",
                           "nan", "inf", "../../etc/passwd", "x" * 1000])
    if choice == 2:
        return rng.choice([True, False, None, 1.5, -0.0, [], {}])
    if choice == 3:
        return {"$type": rng.choice(["tensor", "ndarray", "numpy_scalar", "tuple", "dict",
                                     "set", "frozenset", "float", "object", "ref", "global",
                                     "method", "dtype", "device", "pickle"])}
    if choice == 4:
        return {"$type": "object", "id": rng.choice([0, 1, 5, -1]),
                "class": rng.choice(_CLASSES), "state": rng.choice([[], [["x", 1]], {}, None])}
    if choice == 5:
        return {"$type": "ref", "id": rng.choice([0, 1, 99, -1, "0"])}
    if choice == 6:
        return {"$type": "global", "name": rng.choice(_CLASSES)}
    if choice == 7:
        return {"$type": "tensor", "array": rng.choice(["arrays/0.npy", "arrays/9.npy", 0]),
                "dtype": rng.choice(["float32", "bool", "int64", "complex64", None]),
                "requires_grad": rng.choice([True, False, "no", 1]), "parameter": rng.choice(
                    [True, False, None])}
    if choice == 8:
        nested = []
        for _ in range(rng.choice([10, 1000, 100000])):
            nested = [nested]
        return nested
    if choice == 9:
        return {"$type": "dict", "items": [[rng.choice([2 ** 61, 1, "a", [1]]), 1]] * rng.choice(
            [1, 2, 1000]), "ordered": rng.choice([True, "yes"])}
    if choice == 10:
        return {"$type": "method", "object": {"$type": "ref", "id": 0},
                "name": rng.choice(["forward", "__init__", "__class__", "nope"])}
    return {"$type": "dict", "items": [], "default_factory": {"$type": "global",
                                                               "name": rng.choice(_CLASSES)}}


def _nodes(value, path=()):
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _nodes(item, path + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value[:200]):
            yield from _nodes(item, path + (i,))


def _set(root, path, value):
    if not path:
        return value
    target = root
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return root


def manifest(data, rng, others):
    try:
        root = json.loads(data)
    except (ValueError, RecursionError):
        return rng.choice(BYTE_MUTATIONS)(data, rng, others)
    nodes = list(_nodes(root))
    path, node = rng.choice(nodes)
    choice = rng.randrange(4)
    if choice == 0:
        root = _set(root, path, _interesting_json(rng))
        what = f"manifest {path[-4:]} = something else"
    elif choice == 1 and isinstance(node, list) and node:
        times = rng.choice([2, 100, 3000])
        root = _set(root, path, node * times)
        what = f"manifest {path[-4:]} repeated {times} times"
    elif choice == 2 and isinstance(node, dict) and node:
        key = rng.choice(list(node))
        del node[key]
        what = f"manifest {path[-4:]} without {key!r}"
    else:
        root = _set(root, path, rng.choice([str(node), [node], {"$type": "tuple",
                                                                "items": node}]))
        what = f"manifest {path[-4:]} retyped"
    try:
        return json.dumps(root).encode(), what
    except (ValueError, RecursionError):
        return data, "manifest (unchanged: not serialisable)"


# ------------------------------------------------------------------------------ pickles
def pickle_opcodes(data, rng, others):
    try:
        ops = list(pickletools.genops(data))
    except Exception:                                   # noqa: BLE001  (a damaged pickle)
        return rng.choice(BYTE_MUTATIONS)(data, rng, others)
    if not ops:
        return rng.choice(BYTE_MUTATIONS)(data, rng, others)
    bounds = [pos for _, _, pos in ops] + [len(data)]
    index = rng.randrange(len(ops))
    op, arg, pos = ops[index]
    end = bounds[index + 1]
    choice = rng.randrange(6)
    if choice == 0:                                      # a new argument
        head = op.code.encode("latin-1")
        if isinstance(arg, int) and op.arg is not None and op.arg.n > 0:
            return data[:pos] + head + _int_bytes(rng, None)[:op.arg.n].ljust(op.arg.n, b"\0") + \
                data[end:], f"pickle {op.name} argument"
        if op.arg is not None and op.arg.n < 0 and op.arg.n != -1:
            size = {-2: 1, -3: 4, -4: 4, -5: 8}[op.arg.n]
            length = rng.choice([0, 1, 255, 2 ** 16, 2 ** 31 - 1, 2 ** 32 - 1, 2 ** 62])
            return data[:pos] + head + (length % (1 << 8 * size)).to_bytes(size, "little") + \
                data[pos + 1 + size:], f"pickle {op.name} length {length}"
    if choice == 1:                                      # something dangerous in between
        snippet = rng.choice(_DANGEROUS_PICKLE)
        return data[:pos] + snippet + data[pos:], f"pickle insert {snippet[:20]!r} before {op.name}"
    if choice == 2:
        return data[:pos] + data[end:], f"pickle delete {op.name}"
    if choice == 3:
        other = rng.randrange(len(ops))
        return data[:pos] + data[bounds[other]:bounds[other + 1]] + data[end:], \
            f"pickle {op.name} -> {ops[other][0].name}"
    if choice == 4:
        j = rng.randrange(index, len(ops))
        chunk = data[pos:bounds[j + 1]]
        return data[:pos] + chunk * rng.choice([2, 10, 200]) + data[pos:], \
            f"pickle repeat ops {index}..{j}"
    return rng.choice(BYTE_MUTATIONS)(data, rng, others)


def pickle_sequence(data, rng, others):
    """A legacy torch file: mutate one of its pickles, or the storage data after them."""
    from ember.serialization.restricted_pickle import end_of_pickle
    starts = [0]
    try:
        for _ in range(5):
            starts.append(end_of_pickle(data, starts[-1], "seed"))
    except Exception:                                   # noqa: BLE001
        return rng.choice(BYTE_MUTATIONS)(data, rng, others)
    which = rng.randrange(len(starts))
    if which == len(starts) - 1:                        # the storage records
        region = data[starts[-1]:]
        if len(region) >= 8 and rng.random() < 0.6:
            raw = (rng.choice([v for v in INTERESTING if v >= 0]) % 2 ** 64).to_bytes(8, "little")
            return data[:starts[-1]] + raw + region[8:], f"legacy storage count {raw.hex()}"
        new, what = rng.choice(BYTE_MUTATIONS)(region, rng, others)
        return data[:starts[-1]] + new, f"legacy storages: {what}"
    new, what = pickle_opcodes(data[starts[which]:starts[which + 1]], rng, others)
    return data[:starts[which]] + new + data[starts[which + 1]:], f"legacy pickle {which}: {what}"


def tar_member(data, rng, others):
    try:
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    except Exception:                                   # noqa: BLE001
        return rng.choice(BYTE_MUTATIONS)(data, rng, others)
    name = rng.choice(sorted(members))
    if rng.random() < 0.3:                              # the header's own fields
        out = bytearray(data)
        offset = data.find(name.encode())
        field = rng.choice([(124, 12), (100, 8), (148, 8), (156, 1), (0, 100)])
        text = rng.choice([b"77777777777", b"00000000000", b"-1", b"\xff" * 8, b"x"])
        out[offset + field[0]:offset + field[0] + len(text)] = text
        return bytes(out), f"tar header of {name} at {field}"
    new, what = (pickle_sequence if name != "pickle" else pickle_opcodes)(members[name], rng, others)
    members[name] = new
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:", format=tarfile.PAX_FORMAT) as tar:
        for member, content in members.items():
            info = tarfile.TarInfo(member)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue(), f"tar {name}: {what}"


# ------------------------------------------------------------------------------ CIFAR objects
_BAD_LABELS = [lambda rng: "0123", lambda rng: [0, float("nan"), 1, 2], lambda rng: [None] * 4,
               lambda rng: [[0], [1], [2], [3]], lambda rng: [0.0, 1.5, 2.0, 3.0],
               lambda rng: [True, False, 1, 0], lambda rng: [2 ** 70, 1, 2, 3],
               lambda rng: [-1, 0, 1, 2], lambda rng: np.arange(4.0), lambda rng: {0: 1},
               lambda rng: list(range(10 ** 5)), lambda rng: [10] * 4]
_BAD_DATA = [lambda rng: np.zeros((4, 3072), np.float32), lambda rng: np.zeros((4, 100), np.uint8),
             lambda rng: np.zeros(3072, np.uint8), lambda rng: b"\0" * 3072 * 4,
             lambda rng: [[0] * 3072] * 4, lambda rng: np.zeros((0, 3072), np.uint8),
             lambda rng: np.zeros((4, 3072), ">u2"), lambda rng: None]


def cifar_object(data, rng, others):
    from tests.fuzz.seeds import cifar_batch
    obj = cifar_batch(np.random.default_rng(rng.randrange(2 ** 32)))
    choice = rng.randrange(5)
    if choice == 0:
        obj["labels"] = rng.choice(_BAD_LABELS)(rng)
    elif choice == 1:
        obj["data"] = rng.choice(_BAD_DATA)(rng)
    elif choice == 2:
        del obj[rng.choice(["data", "labels"])]
    elif choice == 3:
        obj = rng.choice([[obj], None, "batch", {"label_names": 7}, {"label_names": [1] * 10},
                          {"label_names": ["a"] * 9}, {"label_names": None}])
    else:
        obj["label_names"] = rng.choice([7, [b"x"] * 10, [1.5] * 10, "abc"])
    return pickle.dumps(obj, protocol=rng.choice([0, 2, 4, 5])), f"cifar object variant {choice}"


# ------------------------------------------------------------------------------ IDX
def idx_header(data, rng, others):
    gz = data[:2] == b"\x1f\x8b"
    if gz:
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as f:
                payload = f.read(1 << 24)
        except Exception:                               # noqa: BLE001
            return rng.choice(BYTE_MUTATIONS)(data, rng, others)
    else:
        payload = data
    out = bytearray(payload)
    choice = rng.randrange(4)
    if choice == 0 and len(out) >= 4:
        out[2] = rng.choice([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x00, 0x0A, 0xFF])
    elif choice == 1 and len(out) >= 4:
        out[3] = rng.choice([0, 1, 2, 3, 4, 255])
    elif choice == 2 and len(out) >= 8:
        dims = (len(out) - 4) // 4
        i = 4 + 4 * rng.randrange(max(1, min(dims, out[3] or 1)))
        value = rng.choice([0, 1, 28, 2 ** 31, 2 ** 32 - 1, 3 * 2 ** 30, 60000])
        struct.pack_into(">I", out, i, value % 2 ** 32)
    else:
        out = bytearray(rng.choice(BYTE_MUTATIONS)(bytes(out), rng, others)[0])
    result = bytes(out)
    if gz:
        result = gzip.compress(result, mtime=0)
        if rng.random() < 0.2:                          # a large, very compressible body
            result = gzip.compress(bytes(out) + b"\0" * rng.choice([2 ** 20, 2 ** 24]), mtime=0)
    return result, f"idx header variant {choice}{' (gz)' if gz else ''}"


# ------------------------------------------------------------------------------ images
def png_chunk(data, rng, others):
    chunks = png_chunks(data)
    if not chunks:
        return rng.choice(BYTE_MUTATIONS)(data, rng, others)
    offset, length, kind = rng.choice(chunks)
    out = bytearray(data)
    choice = rng.randrange(5)
    if choice == 0 and kind == b"IHDR" and length >= 13:
        field = rng.choice([(0, ">I"), (4, ">I"), (8, "B"), (9, "B"), (10, "B"), (11, "B"),
                            (12, "B")])
        value = rng.choice([0, 1, 2, 3, 4, 6, 8, 16, 255, 13000, 20000, 2 ** 31 - 1, 2 ** 32 - 1])
        struct.pack_into(field[1], out, offset + 8 + field[0],
                         value % (256 if field[1] == "B" else 2 ** 32))
        what = f"png IHDR field {field[0]} = {value}"
    elif choice == 1:
        struct.pack_into(">I", out, offset, rng.choice([0, 1, 13, 2 ** 31 - 1, 2 ** 32 - 1]))
        what = f"png {kind} length"
    elif choice == 2:
        out[offset + 4:offset + 8] = rng.choice([b"IHDR", b"IDAT", b"IEND", b"PLTE", b"tRNS",
                                                 b"zTXt", b"iCCP", b"acTL", b"fdAT", b"XXXX"])
        what = f"png {kind} type"
    elif choice == 3 and length:
        i = offset + 8 + rng.randrange(length)
        out[i] ^= rng.randrange(1, 256)
        what = f"png {kind} data byte"
    else:
        chunk = bytes(out[offset:offset + 12 + length])
        out[offset:offset] = chunk * rng.choice([1, 2, 50])
        what = f"png {kind} repeated"
    if rng.random() < 0.7:                               # keep CRCs right so the damage parses
        for o, n, _ in png_chunks(bytes(out)):
            if o + 12 + n <= len(out):
                struct.pack_into(">I", out, o + 8 + n, zlib.crc32(out[o + 4:o + 8 + n]))
    return bytes(out), what


def image_header(data, rng, others):
    """Fixed header fields of BMP, GIF, PNM, TIFF and JPEG files, set to interesting values."""
    out = bytearray(data)
    value = rng.choice([0, 1, 2, 8, 16, 24, 32, 255, 65535, 13000, 20000, 2 ** 31 - 1,
                        2 ** 32 - 1, -1])
    if data[:2] == b"BM" and len(out) >= 34:
        offset, fmt = rng.choice([(2, "<I"), (10, "<I"), (14, "<I"), (18, "<i"), (22, "<i"),
                                  (26, "<H"), (28, "<H"), (30, "<I"), (34, "<I")])
    elif data[:3] == b"GIF" and len(out) >= 13:
        offset, fmt = rng.choice([(6, "<H"), (8, "<H"), (10, "B")])
    elif data[:2] in (b"II", b"MM") and len(out) >= 8:
        order = "<" if data[:2] == b"II" else ">"
        ifd = struct.unpack_from(order + "I", data, 4)[0]
        if ifd + 2 > len(data):
            return rng.choice(BYTE_MUTATIONS)(data, rng, others)
        count = struct.unpack_from(order + "H", data, ifd)[0]
        if not count or ifd + 2 + 12 * count > len(data):
            return rng.choice(BYTE_MUTATIONS)(data, rng, others)
        entry = ifd + 2 + 12 * rng.randrange(count)
        offset, fmt = rng.choice([(entry + 2, order + "H"), (entry + 4, order + "I"),
                                  (entry + 8, order + "I"), (entry + 8, order + "H")])
    elif data[:1] == b"P" and data[1:2] in b"123456":
        tokens = data.split(maxsplit=4)
        if len(tokens) < 5:
            return rng.choice(BYTE_MUTATIONS)(data, rng, others)
        i = rng.choice([1, 2, 3])
        tokens[i] = str(rng.choice([0, 1, 255, 256, 65535, 65536, 70000, 20000, -1])).encode()
        return b" ".join(tokens[:4]) + b"\n" + tokens[4], f"pnm token {i}"
    elif data[:2] == b"\xff\xd8":
        sof = data.find(b"\xff\xc0")
        if sof < 0:
            return rng.choice(BYTE_MUTATIONS)(data, rng, others)
        offset, fmt = rng.choice([(sof + 2, ">H"), (sof + 5, ">H"), (sof + 7, ">H"),
                                  (sof + 9, "B")])
    else:
        return rng.choice(BYTE_MUTATIONS)(data, rng, others)
    size = struct.calcsize(fmt)
    if offset + size > len(out):
        return rng.choice(BYTE_MUTATIONS)(data, rng, others)
    limit = 1 << (8 * size)
    packed = value % limit
    if fmt.endswith(("i",)):
        packed = value if -limit // 2 <= value < limit // 2 else -1
    struct.pack_into(fmt, out, offset, packed)
    return bytes(out), f"image header field at {offset} = {value}"


# ------------------------------------------------------------------------------ dispatch
STRUCTURED = {
    "ember": [zip_field, zip_member, zip_member, zip_member, zip_structure],
    "torch_zip": [zip_field, zip_member, zip_member, zip_structure],
    "torch_legacy": [pickle_sequence, pickle_sequence],
    "torch_tar": [tar_member, tar_member],
    "idx": [idx_header],
    "idx_gz": [idx_header],
    "cifar_batch": [pickle_opcodes, pickle_opcodes, cifar_object],
    "cifar_meta": [pickle_opcodes, cifar_object],
    "image": [png_chunk, image_header, image_header],
}


def mutate(family, data, rng, others):
    """1-3 stacked mutations of ``data`` (a seed of ``family``); ``(bytes, description)``."""
    steps = []
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        structured = STRUCTURED[family]
        if rng.random() < 0.65:
            mutation = rng.choice(structured)
            if mutation is png_chunk and data[:4] != b"\x89PNG":
                mutation = image_header
        else:
            mutation = rng.choice(BYTE_MUTATIONS)
        try:
            data, what = mutation(data, rng, others)
        except (zipfile.BadZipFile, ValueError, KeyError, IndexError, EOFError, OSError,
                struct.error, tarfile.TarError, zlib.error, RecursionError):
            data, what = rng.choice(BYTE_MUTATIONS)(data, rng, others)
        steps.append(what)
    return data, "; ".join(steps)
