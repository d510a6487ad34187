"""A pickle machine that builds data and calls nothing but an allowlist.

Python's ``pickle`` rebuilds objects by importing and calling whatever the file names
(``GLOBAL os system`` + ``REDUCE`` runs a command), so a pickle from an untrusted source can
never be loaded with it. PyTorch ``.pth`` files and the CIFAR batches are pickles, so Ember
reads them with this machine instead: it runs the opcodes of pickle protocols 0-5 that build
plain data (numbers, strings, bytes, tuples, lists, dicts, sets), and the opcodes that name
and call a global (``GLOBAL``/``STACK_GLOBAL`` + ``REDUCE``/``NEWOBJ``/``BUILD``) only through
the ``find_global`` / ``build`` functions its caller gives -- which map a small allowlist of
names to Ember's own rebuild functions. Nothing is ever imported. ``INST``/``OBJ`` (which
call a class found by name), the extension registry (``EXT*``) and out-of-band buffers are
refused.

Bounds (see ``ember.reading``): every length field is checked against the bytes that are
left before anything is sliced; at most ``max_pickle_ops`` opcodes run (each builds at most
one object); integers are at most 256 bytes long; ints used as dict keys or set items lie
within ``|k| < 2**61 - 1`` (beyond it Python's hash of ints repeats, and a file of colliding
keys would make a dict quadratic). Every failure is a one-line ``FileFormatError`` naming the
file, the opcode and its position.
"""
import codecs
import math
import re
import struct
from collections import Counter, OrderedDict

import numpy as np

from ember.reading import FileFormatError, get_limits, raise_limit_hint

__all__ = ["Unpickler", "DataRebuilders", "check_key", "end_of_pickle"]

_MAX_LONG_BYTES = 256
_MAX_LONG_DIGITS = 620                # the decimal length of a 256-byte integer
_MAX_LINE = 1 << 20
_HASH_MODULUS = 2 ** 61 - 1

# protocol-2 pickles written by Python 2 name some builtins by their old modules
_PY2_NAMES = {("__builtin__", "set"): ("builtins", "set"),
              ("__builtin__", "bytes"): ("builtins", "bytes"),
              ("__builtin__", "frozenset"): ("builtins", "frozenset"),
              ("__builtin__", "bytearray"): ("builtins", "bytearray"),
              ("copy_reg", "_reconstructor"): ("copyreg", "_reconstructor")}


def check_key(key, fail):
    """``key`` if it can be a dict key or set item from a file: hashable, and not a number
    whose hash an attacker can make collide (see the module docstring); otherwise
    ``fail(message)``, which raises."""
    if isinstance(key, int) and not -_HASH_MODULUS < key < _HASH_MODULUS:
        fail(f"dict key or set item {key} is out of range (|k| < 2**61 - 1)")
    if isinstance(key, float) and math.isfinite(key) and key.is_integer() \
            and not -_HASH_MODULUS < key < _HASH_MODULUS:
        fail(f"dict key or set item {key!r} is out of range (|k| < 2**61 - 1)")
    if isinstance(key, tuple):
        for item in key:
            check_key(item, fail)
    try:
        hash(key)
    except TypeError:
        fail(f"unhashable dict key or set item of type {type(key).__name__}")
    return key


class _Mark:
    """The marker ``MARK`` pushes; never returned to a caller."""


_MARK = _Mark()


class Unpickler:
    """Run one pickle in ``data`` (bytes, bytearray or memoryview) from ``start``.

    Args:
        data: the bytes holding the pickle (possibly followed by other data).
        source: how errors name the file (e.g. ``"'model.pth' (member data.pkl)"``).
        find_global: ``(module, name) -> object``; raises ``FileFormatError`` for a name
            outside the caller's allowlist. Only objects it returned are ever called.
        persistent_load: ``persistent id -> object`` for ``PERSID``/``BINPERSID``, or None to
            refuse persistent ids.
        build: ``(obj, state) -> obj`` for ``BUILD`` (None from it, or no ``build``,
            refuses the object).
        encoding: how Python 2 ``str`` values (``STRING``/``BINSTRING``) are decoded;
            ``"bytes"`` keeps them as bytes.

    ``load()`` returns ``(object, end)``, ``end`` being the offset just after ``STOP``.
    """

    def __init__(self, data, source, find_global, persistent_load=None, build=None,
                 encoding="utf-8"):
        self.raw = data if isinstance(data, (bytes, bytearray)) else bytes(data)
        self.data = memoryview(self.raw)
        self.source = source
        self.find_global = find_global
        self.persistent_load = persistent_load
        self.build = build
        self.encoding = encoding
        self.max_ops = get_limits().max_pickle_ops
        self._callables = set()

    # ------------------------------------------------------------------ helpers
    def fail(self, what):
        raise FileFormatError(f"{self.source}: {what} (pickle opcode at byte {self._op_pos})")

    def _take(self, n):
        if n < 0 or self.pos + n > len(self.data):
            self.fail(f"the pickle is truncated: {n} bytes declared, "
                      f"{len(self.data) - self.pos} left")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def _uint(self, size):
        return int.from_bytes(self._take(size), "little")

    def _line(self, max_length=4096):
        end = self.raw.find(b"\n", self.pos, self.pos + max_length)
        if end < 0:
            self.fail(f"a text opcode's line has no end within {max_length} bytes")
        text = bytes(self._take(end + 1 - self.pos)[:-1])
        try:
            return text.decode("ascii")
        except UnicodeDecodeError:
            self.fail("a text opcode's line is not ASCII")

    def _pop_mark(self):
        if not self.marks:
            self.fail("an opcode needs a MARK but there is none")
        items = self.stack[self.marks[-1]:]
        del self.stack[self.marks.pop():]
        return items

    def _pop(self):
        if not self.stack or (self.marks and len(self.stack) <= self.marks[-1]):
            self.fail("the pickle stack is empty")
        return self.stack.pop()

    def _top(self):
        if not self.stack or (self.marks and len(self.stack) <= self.marks[-1]):
            self.fail("the pickle stack is empty")
        return self.stack[-1]

    def _str(self, raw, encoding="utf-8"):
        try:
            return str(raw, encoding)
        except (UnicodeDecodeError, LookupError):
            self.fail(f"a string is not valid {encoding}")

    def _py2_str(self, raw):
        return bytes(raw) if self.encoding == "bytes" else self._str(raw, self.encoding)

    def _int(self, text):
        if len(text) > _MAX_LONG_DIGITS:
            self.fail(f"an integer of {len(text)} digits (at most {_MAX_LONG_DIGITS} are "
                      "accepted)")
        try:
            if text in ("00", "01"):          # protocol 0 spells False / True this way
                return text == "01"
            return int(text.rstrip("L"))
        except ValueError:
            self.fail(f"bad integer {text[:40]!r}")

    def _long(self, n):
        if n > _MAX_LONG_BYTES:
            self.fail(f"an integer of {n} bytes (at most {_MAX_LONG_BYTES} are accepted)")
        return int.from_bytes(self._take(n), "little", signed=True)

    def _global(self, module, name):
        module, name = _PY2_NAMES.get((module, name), (module, name))
        obj = self.find_global(module, name)
        if callable(obj):
            self._callables.add(id(obj))
        self._keep_alive.append(obj)
        return obj

    def _call(self, func, args, opcode):
        if id(func) not in self._callables:
            self.fail(f"{opcode} of a {type(func).__name__}, which is not a function this "
                      "reader allows")
        if not isinstance(args, tuple):
            self.fail(f"{opcode} arguments must be a tuple, got {type(args).__name__}")
        try:
            return func(*args)
        except (TypeError, ValueError, KeyError, IndexError, OverflowError) as exc:
            self.fail(f"cannot rebuild {getattr(func, '__name__', type(func).__name__)} "
                      f"({type(exc).__name__}: {exc})")

    # ------------------------------------------------------------------ the machine
    def load(self, start=0):
        self.pos = start
        self._op_pos = start
        self.stack, self.marks, self.memo = [], [], {}
        self._keep_alive = []
        for ops in range(self.max_ops + 1):
            if ops == self.max_ops:
                raise FileFormatError(
                    f"{self.source}: the pickle runs more than {self.max_ops:,} opcodes "
                    f"(max_pickle_ops); {raise_limit_hint('max_pickle_ops')}")
            self._op_pos = self.pos
            code = self._take(1)[0]
            handler = _DISPATCH.get(code)
            if handler is None:
                self.fail(f"opcode {bytes([code])!r} is not allowed or not a pickle opcode")
            if handler is _stop:
                return self._pop(), self.pos
            handler(self)
        raise AssertionError("unreachable")


# ---------------------------------------------------------------------- opcode handlers
def _proto(m):
    version = m._take(1)[0]
    if version > 5:
        m.fail(f"unsupported pickle protocol {version}")


def _frame(m):
    size = m._uint(8)
    if size > len(m.data) - m.pos:
        m.fail(f"a frame of {size} bytes runs past the end of the pickle")


def _stop(m):
    raise AssertionError("handled in load")


def _push(value):
    def handler(m):
        m.stack.append(value)
    return handler


def _fixed_int(size, signed):
    def handler(m):
        m.stack.append(int.from_bytes(m._take(size), "little", signed=signed))
    return handler


def _int_text(m):
    m.stack.append(m._int(m._line()))


def _long_text(m):
    m.stack.append(m._int(m._line()))


def _long1(m):
    m.stack.append(m._long(m._take(1)[0]))


def _long4(m):
    n = int.from_bytes(m._take(4), "little", signed=True)
    if n < 0:
        m.fail("negative LONG4 byte count")
    m.stack.append(m._long(n))


def _float_text(m):
    text = m._line()
    try:
        m.stack.append(float(text))
    except ValueError:
        m.fail(f"bad float {text[:40]!r}")


def _binfloat(m):
    m.stack.append(struct.unpack(">d", m._take(8))[0])


def _sized(size_bytes, make):
    def handler(m):
        n = m._uint(size_bytes)
        m.stack.append(make(m, m._take(n)))
    return handler


def _string_text(m):
    text = m._line(_MAX_LINE)
    if len(text) < 2 or text[0] != text[-1] or text[0] not in "'\"":
        m.fail("STRING value is not quoted")
    try:
        raw = codecs.escape_decode(text[1:-1].encode("ascii"))[0]
    except ValueError as exc:
        m.fail(f"bad STRING value ({exc})")
    m.stack.append(m._py2_str(raw))


def _binstring(m):
    n = int.from_bytes(m._take(4), "little", signed=True)
    if n < 0:
        m.fail("negative BINSTRING length")
    m.stack.append(m._py2_str(m._take(n)))


def _unicode_text(m):
    end = m.raw.find(b"\n", m.pos, m.pos + _MAX_LINE)
    if end < 0:
        m.fail("UNICODE value has no end within 1 MiB")
    try:
        value = codecs.raw_unicode_escape_decode(bytes(m._take(end + 1 - m.pos)[:-1]))[0]
    except UnicodeDecodeError:
        m.fail("bad UNICODE value")
    m.stack.append(value)


def _empty(factory):
    def handler(m):
        m.stack.append(factory())
    return handler


def _list(m):
    m.stack.append(list(m._pop_mark()))


def _tuple(m):
    m.stack.append(tuple(m._pop_mark()))


def _tuple_n(n):
    def handler(m):
        if len(m.stack) - (m.marks[-1] if m.marks else 0) < n:
            m.fail("the pickle stack is empty")
        items = tuple(m.stack[-n:])
        del m.stack[-n:]
        m.stack.append(items)
    return handler


def _dict(m):
    items = m._pop_mark()
    if len(items) % 2:
        m.fail("DICT needs key/value pairs")
    out = {}
    for key, value in zip(items[::2], items[1::2]):
        out[check_key(key, m.fail)] = value
    m.stack.append(out)


def _frozenset(m):
    m.stack.append(frozenset(check_key(item, m.fail) for item in m._pop_mark()))


def _target(m, kinds, opcode):
    target = m._top()
    if type(target) not in kinds:
        m.fail(f"{opcode} on a {type(target).__name__}")
    return target


def _append(m):
    value = m._pop()
    _target(m, (list,), "APPEND").append(value)


def _appends(m):
    items = m._pop_mark()
    _target(m, (list,), "APPENDS").extend(items)


def _setitem(m):
    value = m._pop()
    key = m._pop()
    _target(m, (dict, OrderedDict), "SETITEM")[check_key(key, m.fail)] = value


def _setitems(m):
    items = m._pop_mark()
    if len(items) % 2:
        m.fail("SETITEMS needs key/value pairs")
    target = _target(m, (dict, OrderedDict), "SETITEMS")
    for key, value in zip(items[::2], items[1::2]):
        target[check_key(key, m.fail)] = value


def _additems(m):
    items = m._pop_mark()
    target = _target(m, (set,), "ADDITEMS")
    for item in items:
        target.add(check_key(item, m.fail))


def _pop_op(m):
    if m.stack and (not m.marks or len(m.stack) > m.marks[-1]):
        m.stack.pop()
    elif m.marks:
        m.marks.pop()
    else:
        m.fail("POP on an empty stack")


def _pop_mark_op(m):
    m._pop_mark()


def _dup(m):
    m.stack.append(m._top())


def _mark(m):
    m.marks.append(len(m.stack))


def _get(index_of):
    def handler(m):
        index = index_of(m)
        if index not in m.memo:
            m.fail(f"memo entry {index} is read before it is written")
        m.stack.append(m.memo[index])
    return handler


def _put(index_of):
    def handler(m):
        index = index_of(m)
        if index < 0:
            m.fail("negative memo index")
        m.memo[index] = m._top()
    return handler


def _memoize(m):
    m.memo[len(m.memo)] = m._top()


def _text_index(m):
    return m._int(m._line())


def _global_text(m):
    module = m._line()
    name = m._line()
    m.stack.append(m._global(module, name))


def _stack_global(m):
    name = m._pop()
    module = m._pop()
    if not (isinstance(module, str) and isinstance(name, str)):
        m.fail("STACK_GLOBAL needs two strings")
    m.stack.append(m._global(module, name))


def _reduce(m):
    args = m._pop()
    func = m._pop()
    m.stack.append(m._call(func, args, "REDUCE"))


def _newobj(m):
    args = m._pop()
    cls = m._pop()
    m.stack.append(m._call(cls, args, "NEWOBJ"))


def _newobj_ex(m):
    kwargs = m._pop()
    args = m._pop()
    cls = m._pop()
    if kwargs != {}:
        m.fail("NEWOBJ_EX with keyword arguments")
    m.stack.append(m._call(cls, args, "NEWOBJ_EX"))


def _build(m):
    state = m._pop()
    obj = m._pop()
    built = None
    if m.build is not None:
        try:
            built = m.build(obj, state)
        except (TypeError, ValueError, KeyError, IndexError, OverflowError) as exc:
            m.fail(f"cannot rebuild a {type(obj).__name__} ({type(exc).__name__}: {exc})")
    if built is None:
        m.fail(f"BUILD of a {type(obj).__name__}, which this reader does not allow")
    m.stack.append(built)


def _persid_text(m):
    _persistent(m, m._line())


def _binpersid(m):
    _persistent(m, m._pop())


def _persistent(m, pid):
    if m.persistent_load is None:
        m.fail("a persistent id, which this file format does not use")
    m.stack.append(m.persistent_load(pid))


def _bytes(m, raw):
    return bytes(raw)


def _bytearray(m, raw):
    return bytearray(raw)


def _unicode(m, raw):
    return m._str(raw)


def _py2(m, raw):
    return m._py2_str(raw)


_HANDLERS = {
    "PROTO": _proto, "FRAME": _frame, "STOP": _stop,
    "NONE": _push(None), "NEWTRUE": _push(True), "NEWFALSE": _push(False),
    "INT": _int_text, "BININT": _fixed_int(4, True), "BININT1": _fixed_int(1, False),
    "BININT2": _fixed_int(2, False), "LONG": _long_text, "LONG1": _long1, "LONG4": _long4,
    "FLOAT": _float_text, "BINFLOAT": _binfloat,
    "STRING": _string_text, "BINSTRING": _binstring, "SHORT_BINSTRING": _sized(1, _py2),
    "BINBYTES": _sized(4, _bytes), "SHORT_BINBYTES": _sized(1, _bytes),
    "BINBYTES8": _sized(8, _bytes), "BYTEARRAY8": _sized(8, _bytearray),
    "UNICODE": _unicode_text, "BINUNICODE": _sized(4, _unicode),
    "SHORT_BINUNICODE": _sized(1, _unicode), "BINUNICODE8": _sized(8, _unicode),
    "EMPTY_LIST": _empty(list), "LIST": _list, "APPEND": _append, "APPENDS": _appends,
    "EMPTY_TUPLE": _push(()), "TUPLE": _tuple, "TUPLE1": _tuple_n(1), "TUPLE2": _tuple_n(2),
    "TUPLE3": _tuple_n(3), "EMPTY_DICT": _empty(dict), "DICT": _dict, "SETITEM": _setitem,
    "SETITEMS": _setitems, "EMPTY_SET": _empty(set), "ADDITEMS": _additems,
    "FROZENSET": _frozenset,
    "POP": _pop_op, "DUP": _dup, "MARK": _mark, "POP_MARK": _pop_mark_op,
    "GET": _get(_text_index), "BINGET": _get(lambda m: m._uint(1)),
    "LONG_BINGET": _get(lambda m: m._uint(4)), "PUT": _put(_text_index),
    "BINPUT": _put(lambda m: m._uint(1)), "LONG_BINPUT": _put(lambda m: m._uint(4)),
    "MEMOIZE": _memoize,
    "GLOBAL": _global_text, "STACK_GLOBAL": _stack_global, "REDUCE": _reduce,
    "NEWOBJ": _newobj, "NEWOBJ_EX": _newobj_ex, "BUILD": _build,
    "PERSID": _persid_text, "BINPERSID": _binpersid,
}


def _dispatch_table():
    import pickletools
    codes = {op.name: op.code for op in pickletools.opcodes}
    return {ord(codes[name].encode("latin-1")): handler for name, handler in _HANDLERS.items()}


def _argument_layouts():
    """``opcode byte -> (kind, size)`` for ``end_of_pickle``: kind ``"fixed"`` (``size`` bytes),
    ``"counted"`` (a ``size``-byte little-endian length, then that many bytes) or ``"lines"``
    (``size`` newline-terminated lines)."""
    import pickletools
    counted = {-2: 1, -3: 4, -4: 4, -5: 8}
    layouts = {}
    for op in pickletools.opcodes:
        code = ord(op.code.encode("latin-1"))
        if op.arg is None:
            layouts[code] = ("fixed", 0)
        elif op.arg.n >= 0:
            layouts[code] = ("fixed", op.arg.n)
        elif op.arg.n in counted:
            layouts[code] = ("counted", counted[op.arg.n])
        else:
            layouts[code] = ("lines", 2 if op.arg.name == "stringnl_noescape_pair" else 1)
    return layouts


_DISPATCH = _dispatch_table()
_LAYOUTS = _argument_layouts()
_STOP = ord(".")


def end_of_pickle(data, start, source):
    """The offset just after the ``STOP`` of the pickle at ``data[start:]``, found by reading
    opcodes and argument lengths only (nothing is built or called). Raises
    ``FileFormatError`` if the pickle is truncated or holds an unknown opcode."""
    raw = data if isinstance(data, (bytes, bytearray)) else bytes(data)
    data = memoryview(raw)
    pos = start
    max_ops = get_limits().max_pickle_ops
    for _ in range(max_ops):
        if pos >= len(data):
            break
        code = data[pos]
        layout = _LAYOUTS.get(code)
        if layout is None:
            raise FileFormatError(f"{source}: byte {pos} is not a pickle opcode")
        pos += 1
        kind, size = layout
        if kind == "counted":
            length = int.from_bytes(data[pos:pos + size], "little", signed=size == 4)
            pos += size + max(length, 0)
        elif kind == "lines":
            for _ in range(size):
                newline = raw.find(b"\n", pos, pos + _MAX_LINE)
                if newline < 0:
                    pos = len(data) + 1
                    break
                pos = newline + 1
        else:
            pos += size
        if code == _STOP and pos <= len(data):
            return pos
    else:
        raise FileFormatError(f"{source}: the pickle runs more than {max_ops:,} opcodes "
                              f"(max_pickle_ops); {raise_limit_hint('max_pickle_ops')}")
    raise FileFormatError(f"{source}: the pickle is truncated (no STOP opcode)")


# ---------------------------------------------------------------------- allowed rebuilds
# The plain-data globals that pickles of NumPy arrays, OrderedDicts, Counters and sets name.
# Each is Ember's own function that checks its arguments and builds the value; a readers's
# ``find_global`` maps names to these (and to its own rebuild functions), nothing else.
_NUMPY_DESCR = re.compile(r"[biuf][1-8]")


class _NdarrayClass:
    """What ``numpy.ndarray`` stands for in a pickle: the argument of ``_reconstruct``."""

    def __repr__(self):
        return "numpy.ndarray"


_NDARRAY = _NdarrayClass()


class DataRebuilders:
    """The rebuild functions for NumPy arrays, dtypes and scalars and for ``OrderedDict``,
    ``Counter``, ``set``, ``frozenset``, ``bytes``, ``bytearray`` (``globals``), and the ``BUILD``
    steps of NumPy arrays and dtypes (``build``). Arrays are plain bool/int/float only, and
    every declared shape must match the bytes given."""

    def __init__(self):
        self._fresh = set()         # ids of arrays/dtypes made here, the only ones BUILD fills
        self._keep = []
        self.globals = {("collections", "OrderedDict"): self.ordered_dict,
                        ("collections", "Counter"): self.counter,
                        ("builtins", "set"): self.set, ("builtins", "frozenset"): self.frozenset,
                        ("builtins", "bytes"): self.bytes,
                        ("builtins", "bytearray"): self.bytearray,
                        ("_codecs", "encode"): self.encode, ("numpy", "ndarray"): _NDARRAY,
                        ("numpy", "dtype"): self.dtype}
        for prefix in ("numpy.core", "numpy._core"):
            self.globals[(f"{prefix}.multiarray", "_reconstruct")] = self.reconstruct
            self.globals[(f"{prefix}.multiarray", "scalar")] = self.scalar
            self.globals[(f"{prefix}.numeric", "_frombuffer")] = self.frombuffer

    @staticmethod
    def _pairs(items):
        items = dict(items) if isinstance(items, dict) else items
        if isinstance(items, dict):
            items = list(items.items())
        if not isinstance(items, (list, tuple)) or not all(
                isinstance(pair, (list, tuple)) and len(pair) == 2 for pair in items):
            raise TypeError("expected key/value pairs")
        for key, _ in items:
            check_key(key, _value_error)
        return items

    def ordered_dict(self, items=()):
        return OrderedDict(self._pairs(items))

    def counter(self, items=()):
        return Counter(dict(self._pairs(items)))

    @staticmethod
    def set(items=()):
        if not isinstance(items, (list, tuple, set, frozenset)):
            raise TypeError(f"expected a list of items, got {type(items).__name__}")
        for item in items:
            check_key(item, _value_error)
        return set(items)

    def frozenset(self, items=()):
        return frozenset(self.set(items))

    @staticmethod
    def bytes(data=b""):
        if not isinstance(data, bytes):            # bytes(n) would allocate n bytes
            raise ValueError("only bytes() and bytes(b'...') are allowed")
        return data

    @staticmethod
    def bytearray(data=b"", encoding=None):
        if isinstance(data, str) and encoding in ("latin1", "latin-1"):
            data = data.encode("latin-1")            # how protocols 0-2 spell a bytearray
        if not isinstance(data, bytes):            # bytearray(n) would allocate n bytes
            raise ValueError("only bytearray(b'...') and bytearray(str, 'latin-1') are "
                             "allowed")
        return bytearray(data)

    @staticmethod
    def encode(text, encoding="utf-8"):
        if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
            raise ValueError("only _codecs.encode(str, 'latin1') is allowed (how protocol-2 "
                             "pickles spell bytes)")
        return text.encode("latin-1")

    def _made_here(self, obj):
        self._fresh.add(id(obj))
        self._keep.append(obj)
        return obj

    def reconstruct(self, cls, shape, typecode):
        if cls is not _NDARRAY or shape != (0,):
            raise ValueError("only numpy.ndarray with the empty shape (0,) is rebuilt")
        return self._made_here(np.empty(0, np.uint8))

    def dtype(self, descr, align=False, copy=True):
        if not isinstance(descr, str) or not _NUMPY_DESCR.fullmatch(descr) \
                or type(align) is not bool:
            raise ValueError(f"dtype {descr!r} is not a plain bool, integer or float type"[:120])
        return self._made_here(np.dtype(descr, align, True))

    @staticmethod
    def _plain_dtype(dtype):
        if not isinstance(dtype, np.dtype) or dtype.kind not in "biuf" or dtype.hasobject \
                or dtype.names is not None or dtype.subdtype is not None:
            raise ValueError(f"{dtype!r} is not a plain bool, integer or float dtype"[:120])
        return dtype

    @staticmethod
    def _raw(data):
        if isinstance(data, str):                      # Python 2 str, decoded as latin-1
            data = data.encode("latin-1")
        if not isinstance(data, (bytes, bytearray)):
            raise ValueError(f"array data must be bytes, got {type(data).__name__}")
        return data

    @staticmethod
    def _shape(shape):
        if type(shape) not in (tuple, list) or len(shape) > 32 or not all(
                type(d) is int and d >= 0 for d in shape):
            raise ValueError(f"shape must be at most 32 non-negative ints, got {shape!r}"[:120])
        count = 1
        for dim in shape:
            count *= dim
        return tuple(shape), count

    def scalar(self, dtype, data):
        dtype, data = self._plain_dtype(dtype), self._raw(data)
        if len(data) != dtype.itemsize:
            raise ValueError(f"a {dtype.name} scalar needs {dtype.itemsize} bytes, got {len(data)}")
        return np.frombuffer(bytes(data), dtype)[0]

    def frombuffer(self, data, dtype, shape, order):
        dtype, data = self._plain_dtype(dtype), self._raw(data)
        shape, count = self._shape(shape)
        if order not in ("C", "F") or count * dtype.itemsize != len(data):
            raise ValueError(f"shape {shape} of {dtype.name} needs {count * dtype.itemsize} "
                             f"bytes, got {len(data)} (order {order!r})"[:160])
        flat = np.frombuffer(bytearray(data), dtype)
        if not dtype.isnative:
            flat = flat.astype(dtype.newbyteorder("="))     # as ndarray.__setstate__ gives
        return flat.reshape(shape, order=order)

    def build(self, obj, state):
        """``BUILD`` of an array or dtype made here (in place, as pickle does); None for
        any other object (the caller decides)."""
        if id(obj) not in self._fresh:
            return None
        if isinstance(obj, np.dtype):
            if not (isinstance(state, tuple) and len(state) == 8 and state[0] == 3
                    and state[1] in ("<", ">", "|", "=") and state[2:5] == (None, None, None)
                    and state[5:7] == (-1, -1) and type(state[7]) is int):
                raise ValueError(f"unsupported dtype state {state!r}"[:120])
            obj.__setstate__(state)
            return obj
        if not (isinstance(state, tuple) and len(state) == 5 and state[0] == 1
                and type(state[3]) is bool):
            raise ValueError("unsupported array state")
        shape, count = self._shape(state[1])
        dtype, data = self._plain_dtype(state[2]), self._raw(state[4])
        if count * dtype.itemsize != len(data):
            raise ValueError(f"shape {shape} of {dtype.name} needs {count * dtype.itemsize} "
                             f"bytes, the pickle holds {len(data)}")
        obj.__setstate__((1, shape, dtype, state[3], bytes(data)))
        return obj


def _value_error(message):
    raise ValueError(message)
