"""Reading files that may be hostile: the one error every reader raises, and the limits it
checks before it trusts a size the file declares.

Every reader of a user's file in Ember -- ``ember.load`` (Ember checkpoints, PyTorch ``.pth``
files), the IDX (MNIST) and CIFAR readers, image folders and ``ember predict`` -- keeps one
contract, whatever the bytes:

* it returns what the file holds, or raises :class:`FileFormatError` (a ``RuntimeError``)
  whose message is one line naming the file and what is wrong with it; no exception of
  ``zipfile``, ``zlib``, ``gzip``, NumPy's ``.npy`` parser, ``pickle`` or Pillow reaches the
  caller, and the ``ember`` command prints that line and exits with status 1;
* it never executes anything a file names: pickles go through Ember's restricted unpickler
  (``ember.serialization.restricted_pickle``), which only calls the rebuild functions of an
  allowlist;
* its memory is bounded by the bytes actually in the file, never by a size the file
  declares: every declared size (zip member sizes, ``.npy`` shapes, IDX dimensions, pickle
  length fields, image dimensions) is checked against the file, or against the limits below,
  before anything is allocated or decompressed.

The limits (:class:`ReadLimits`) and what they bound:

=========================  =========================  ======================================
limit                      default                    bounds
=========================  =========================  ======================================
``max_expansion_ratio``    100                        bytes produced from compressed data
                                                      (deflated zip members, ``.gz`` files)
                                                      or from strided views of stored
                                                      tensors, per byte stored
``max_manifest_bytes``     16 MiB                     the JSON manifest of an Ember file
``max_pickle_ops``         2,000,000                  opcodes a pickle may run; each builds
                                                      at most one object, so a pickle's
                                                      objects stay under ~250 bytes an op
``max_image_pixels``       67,108,864 (8192 x 8192)   pixels of one decoded image
=========================  =========================  ======================================

A caller who trusts a file and needs more raises a limit deliberately, for a block or for
the process::

    with ember.reading.limits(max_image_pixels=200_000_000):
        image = ember.vision.datasets.folder.load_image("panorama.png")
    ember.reading.set_limits(max_expansion_ratio=1000)
"""
import contextlib
import contextvars
import dataclasses
import os

__all__ = ["FileFormatError", "ReadLimits", "get_limits", "set_limits", "limits",
           "describe_source", "raise_limit_hint", "ExpansionBudget"]


class FileFormatError(RuntimeError):
    """A file cannot be read as what it should be: corrupt, truncated, not in the expected
    format, over a limit of :class:`ReadLimits`, or refused (it names a class or function
    outside the allowlist). The message is one line and names the file: whatever a raise
    site quotes from the file (a repr of its values may span lines) is folded onto one line
    of at most 1,000 characters."""

    def __init__(self, message):
        super().__init__(" ".join(str(message).split())[:1000])


@dataclasses.dataclass(frozen=True)
class ReadLimits:
    """The sizes a reader accepts before it trusts a file (see the module docstring)."""
    max_expansion_ratio: float = 100.0
    max_manifest_bytes: int = 16 * 2 ** 20
    max_pickle_ops: int = 2_000_000
    max_image_pixels: int = 8192 * 8192

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"ember.reading: {field.name} must be a positive number, got "
                                 f"{value!r}")


_process_limits = ReadLimits()
_block_limits = contextvars.ContextVar("ember_read_limits", default=None)


def get_limits():
    """The limits in force here (those of the innermost ``limits(...)`` block, else the
    process-wide ones)."""
    return _block_limits.get() or _process_limits


def set_limits(**changes):
    """Change the process-wide limits, e.g. ``set_limits(max_image_pixels=10**8)``; returns
    the previous :class:`ReadLimits`."""
    global _process_limits
    previous = _process_limits
    _process_limits = dataclasses.replace(_process_limits, **changes)
    return previous


@contextlib.contextmanager
def limits(**changes):
    """A block in which the given limits replace the current ones (this thread/task only)."""
    token = _block_limits.set(dataclasses.replace(get_limits(), **changes))
    try:
        yield get_limits()
    finally:
        _block_limits.reset(token)


def describe_source(f):
    """How an error names ``f``: the quoted path, the file object's name, or its type."""
    if isinstance(f, (str, bytes, os.PathLike)):
        return repr(os.fsdecode(f))
    name = getattr(f, "name", None)
    return repr(name) if isinstance(name, str) else f"<{type(f).__name__} file object>"


def raise_limit_hint(name):
    """The end of a message about an exceeded limit: how to raise it on purpose."""
    return (f"if you trust the file, raise the limit: "
            f"with ember.reading.limits({name}=...): ...")


class ExpansionBudget:
    """Counts the bytes a reader produces beyond those stored (decompressed data, copies of
    strided views) and raises ``FileFormatError`` once they pass ``max_expansion_ratio``
    times ``stored_bytes`` (the size of the file)."""

    def __init__(self, source, stored_bytes):
        self.source = source
        self.ratio = get_limits().max_expansion_ratio
        self.stored = max(int(stored_bytes), 1)
        self.spent = 0

    def spend(self, nbytes, what):
        self.spent += int(nbytes)
        if self.spent > self.ratio * self.stored:
            raise FileFormatError(
                f"{self.source}: {what} would make {self.spent:,} bytes from {self.stored:,} "
                f"bytes stored, more than max_expansion_ratio={self.ratio:g} times as many; "
                f"{raise_limit_hint('max_expansion_ratio')}")
