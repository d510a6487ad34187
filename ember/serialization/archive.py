"""Zip archives read in bounded memory: Ember checkpoints and PyTorch's zip ``.pth`` files.

``zipfile`` trusts the sizes the central directory declares and raises its own exceptions.
``ZipArchive`` checks the whole directory against the file before any member is read:

* member names are unique (a second member of the same name would silently win);
* each member is stored or deflated (no other compression, no encryption), a stored member's
  two sizes agree, and its data lies inside the file;
* the members' compressed sizes add up to no more than the file (members cannot overlap to
  be counted twice), and their declared sizes to no more than ``max_expansion_ratio`` times
  the file (``ember.reading``).

Members are then read in 1 MiB chunks into a buffer of their declared, checked size; the CRC
is verified at the end. Every failure is a ``FileFormatError`` naming the file and member.
"""
import struct
import zipfile

from ember.reading import ExpansionBudget, FileFormatError

__all__ = ["ZipArchive", "ZIP_ERRORS"]

_CHUNK = 1 << 20
_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}

# what zipfile and zlib raise on damaged archives (zlib.error is reported by zipfile as
# BadZipFile or passed through; struct.error comes from malformed extra fields)
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError,
              struct.error, NotImplementedError, KeyError, IndexError, OverflowError)


def _zlib_error():
    import zlib
    return zlib.error


class ZipArchive:
    """A zip archive whose directory has been checked against the file (see module docstring).

    Args:
        fileobj: a seekable binary file object.
        size: the file's size in bytes.
        source: how errors name the file.
        what: what the file should be, for the error when it is no zip at all.
    """

    def __init__(self, fileobj, size, source, what):
        self.source = source
        try:
            self._zip = zipfile.ZipFile(fileobj)
            infos = self._zip.infolist()
        except ZIP_ERRORS + (_zlib_error(),) as exc:
            raise FileFormatError(f"{source} is not {what} ({type(exc).__name__}: {exc}); it "
                                  f"may be truncated or corrupt") from None
        self.infos = {}
        stored = 0
        budget = ExpansionBudget(source, size)
        for info in infos:
            name = info.filename
            if name in self.infos:
                self.fail(f"the archive holds member {name!r} twice")
            if info.flag_bits & 0x1:
                self.fail(f"member {name!r} is encrypted")
            if info.compress_type not in _METHODS:
                self.fail(f"member {name!r} uses compression method {info.compress_type}; "
                          "only stored and deflated members are read")
            if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
                self.fail(f"stored member {name!r} declares {info.file_size} bytes but "
                          f"occupies {info.compress_size}")
            if info.header_offset + info.compress_size > size:
                self.fail(f"member {name!r} runs past the end of the file ({size} bytes); "
                          "the file is truncated")
            stored += info.compress_size
            if info.compress_type != zipfile.ZIP_STORED:
                budget.spend(info.file_size, f"deflated member {name!r}")
            self.infos[name] = info
        if stored > size:
            self.fail(f"the members occupy {stored} bytes, more than the file's {size}: they "
                      "overlap")

    def fail(self, what):
        raise FileFormatError(f"{self.source} is corrupt: {what}")

    def names(self):
        return list(self.infos)

    def size(self, name):
        return self.infos[name].file_size

    def read(self, name):
        """The member's bytes (a writable ``bytearray`` of its declared size)."""
        info = self.infos[name]
        out = bytearray(info.file_size)
        view = memoryview(out)
        filled = 0
        try:
            with self._zip.open(info) as member:
                while filled < len(out):
                    chunk = member.read(min(_CHUNK, len(out) - filled))
                    if not chunk:
                        self.fail(f"member {name!r} is truncated ({filled} of "
                                  f"{len(out)} bytes)")
                    view[filled:filled + len(chunk)] = chunk
                    filled += len(chunk)
                if member.read(1):
                    self.fail(f"member {name!r} is longer than it declares")
        except ZIP_ERRORS + (_zlib_error(),) as exc:
            self.fail(f"cannot read member {name!r} ({type(exc).__name__}: {exc})")
        return out

    def close(self):
        self._zip.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
