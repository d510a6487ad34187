"""Crafting hostile files: the regression tests of the readers and the fuzzing suite's
structure-aware mutations build their cases with these.

Zip archives are changed either by rewriting them (``rewrite_zip``: new member bytes, fresh
CRCs, so only the content lies) or by patching one field of a member's local header or
central-directory record in place (``patch_zip_field``: the archive's own structure lies).
``.npy`` members and PNG files are built field by field so that a header can claim anything.
"""
import io
import struct
import warnings
import zipfile
import zlib

# offsets of a zip local file header's and central-directory record's fields (APPNOTE 4.3)
LOCAL_FIELDS = {"flags": (6, "<H"), "method": (8, "<H"), "crc": (14, "<I"),
                "compress_size": (18, "<I"), "file_size": (22, "<I"), "name_length": (26, "<H"),
                "extra_length": (28, "<H")}
CENTRAL_FIELDS = {"flags": (8, "<H"), "method": (10, "<H"), "crc": (16, "<I"),
                  "compress_size": (20, "<I"), "file_size": (24, "<I"),
                  "name_length": (28, "<H"), "extra_length": (30, "<H"),
                  "comment_length": (32, "<H"), "header_offset": (42, "<I")}


def zip_records(data):
    """``[(name, local header offset, central record offset)]`` of a well-formed archive."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        start = archive.start_dir
        infos = archive.infolist()
    records, pos = [], start
    for info in infos:
        name_length, extra_length, comment_length = struct.unpack_from("<HHH", data, pos + 28)
        records.append((info.filename, info.header_offset, pos))
        pos += 46 + name_length + extra_length + comment_length
    return records


def patch_zip_field(data, name, field, value, where=("local", "central")):
    """``data`` with ``field`` of member ``name`` set to ``value`` in its local header and/or
    central-directory record (CRCs are not fixed: the structure itself lies)."""
    out = bytearray(data)
    for member, local, central in zip_records(data):
        if member != name:
            continue
        if "local" in where and field in LOCAL_FIELDS:
            offset, fmt = LOCAL_FIELDS[field]
            struct.pack_into(fmt, out, local + offset, value)
        if "central" in where and field in CENTRAL_FIELDS:
            offset, fmt = CENTRAL_FIELDS[field]
            struct.pack_into(fmt, out, central + offset, value)
    return bytes(out)


def rewrite_zip(data, edit=lambda name, content: content, extra=(),
                compression=zipfile.ZIP_STORED):
    """A new archive with each member's bytes passed through ``edit(name, bytes)`` (None drops
    it) and ``extra`` ``(name, bytes)`` members appended (duplicates allowed)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, \
            zipfile.ZipFile(out, "w", compression=compression) as dst, \
            warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)   # duplicate names are the point here
        for info in src.infolist():
            content = edit(info.filename, src.read(info))
            if content is not None:
                dst.writestr(info.filename, content)
        for name, content in extra:
            info = zipfile.ZipInfo(name)
            info.compress_type = compression
            dst.writestr(info, content)
    return out.getvalue()


def npy_bytes(header, payload=b"", version=1):
    """An ``.npy`` file whose header is the text ``header`` (padded as NumPy pads it)."""
    text = header.encode("latin-1")
    prefix = 10 if version == 1 else 12
    pad = (64 - (prefix + len(text) + 1) % 64) % 64
    text += b" " * pad + b"\n"
    length = struct.pack("<H" if version == 1 else "<I", len(text))
    return b"\x93NUMPY" + bytes([version, 0]) + length + text + payload


def png_chunks(data):
    """``[(offset, length, type)]`` of the chunks of a PNG file (stops at a damaged one)."""
    chunks, pos = [], 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        chunks.append((pos, length, kind))
        pos += 12 + length
        if kind == b"IEND":
            break
    return chunks


def png_with_size(data, width, height):
    """A PNG whose IHDR claims ``width`` x ``height`` (CRC recomputed, pixels unchanged)."""
    out = bytearray(data)
    offset, length, kind = png_chunks(data)[0]
    assert kind == b"IHDR"
    struct.pack_into(">II", out, offset + 8, width, height)
    struct.pack_into(">I", out, offset + 8 + length, zlib.crc32(out[offset + 4:offset + 8 + length]))
    return bytes(out)


def png_bytes(array):
    """``array`` (H x W or H x W x 3 uint8) as PNG bytes."""
    from PIL import Image
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()
