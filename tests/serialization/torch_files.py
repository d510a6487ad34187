"""PyTorch checkpoint files for the tests: torch.save in its zip and legacy layouts, the tar
layout of torch < 0.4 written the way torch 0.3's ``_save`` wrote it (torch 2.13 still reads
it, which checks this writer), and malicious pickles in each layout."""
import io
import os
import pickle
import struct
import tarfile

import torch

LAYOUTS = ("zip", "legacy", "tar")


def save(obj, path, layout):
    if layout == "zip":
        torch.save(obj, path)
    elif layout == "legacy":
        torch.save(obj, path, _use_new_zipfile_serialization=False)
    else:
        save_tar(obj, path)
    return path


def save_tar(obj, path):
    """``obj`` (containers of CPU tensors) in torch 0.3's tar layout: members ``storages``,
    ``tensors`` and ``pickle``; every tensor keeps its whole storage, sizes, strides and
    offset. Keys count up from 0 where torch 0.3 used C pointers, so the bytes repeat."""
    tensors, storages, numbers = {}, {}, {}

    def key_of(value):
        return numbers.setdefault(value, len(numbers))

    class Pickler(pickle.Pickler):
        def persistent_id(self, value):
            if isinstance(value, torch.Tensor):
                key = key_of(("tensor", id(value)))
                tensors[key] = value
                return str(key)
            return None

    objects = io.BytesIO()
    Pickler(objects, protocol=2).dump(obj)
    tensor_part = io.BytesIO()
    tensor_part.write(pickle.dumps(len(tensors), protocol=2))
    for key, tensor in tensors.items():
        storage = tensor.untyped_storage()
        storage_key = key_of(("storage", storage.data_ptr()))
        storages[storage_key] = (tensor.dtype, bytes(storage))
        tensor_type = getattr(torch, tensor.type().split(".")[-1])     # torch.FloatTensor
        tensor_part.write(pickle.dumps((key, storage_key, tensor_type), protocol=2))
        tensor_part.write(struct.pack("<i", tensor.dim()) + b"\0" * 4)
        tensor_part.write(struct.pack(f"<{tensor.dim()}q", *tensor.shape))
        tensor_part.write(struct.pack(f"<{tensor.dim()}q", *tensor.stride()))
        tensor_part.write(struct.pack("<q", tensor.storage_offset()))
    storage_part = io.BytesIO()
    storage_part.write(pickle.dumps(len(storages), protocol=2))
    for key, (dtype, raw) in storages.items():
        storage_type = getattr(torch, _STORAGE_NAMES[dtype])
        storage_part.write(pickle.dumps((key, "cpu", storage_type), protocol=2))
        itemsize = torch.empty((), dtype=dtype).element_size()
        storage_part.write(struct.pack("<q", len(raw) // itemsize) + raw)
    storage_part.write(pickle.dumps([], protocol=2))
    write_tar(path, {"tensors": tensor_part.getvalue(), "storages": storage_part.getvalue(),
                     "pickle": objects.getvalue()})
    return path


_STORAGE_NAMES = {torch.float32: "FloatStorage", torch.float64: "DoubleStorage",
                  torch.float16: "HalfStorage", torch.int64: "LongStorage",
                  torch.int32: "IntStorage", torch.int16: "ShortStorage",
                  torch.int8: "CharStorage", torch.uint8: "ByteStorage",
                  torch.bool: "BoolStorage", torch.bfloat16: "BFloat16Storage"}


def write_tar(path, members):
    with tarfile.open(path, "w:", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))


class Exploit:
    """Unpickled by Python's pickle, this runs ``os.system`` and leaves ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def malicious(path, layout, payload):
    """A checkpoint of ``layout`` whose object pickle is ``payload`` (bytes)."""
    if layout == "zip":
        import zipfile
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("archive/data.pkl", payload)
            archive.writestr("archive/byteorder", "little")
            archive.writestr("archive/version", "3\n")
    elif layout == "legacy":
        head = b"".join(pickle.dumps(v, protocol=2) for v in (
            0x1950a86a20f9469cfc6c, 1001, {"protocol_version": 1001, "little_endian": True,
                                           "type_sizes": {"short": 2, "int": 4, "long": 8}}))
        with open(path, "wb") as f:
            f.write(head + payload + pickle.dumps([], protocol=2))
    else:
        empty = pickle.dumps(0, protocol=2)
        write_tar(path, {"storages": empty + pickle.dumps([], protocol=2), "tensors": empty,
                         "pickle": payload})
    return path
