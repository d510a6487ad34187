"""The valid files the fuzzing suite starts from, one family per format, written here.

``write_seeds(folder)`` writes every family and returns ``{family: [file names]}``. PyTorch
seeds need torch (the test environment's oracle); they are written once by the process that
starts the campaign, never by the workers, which do not import torch. Everything is
deterministic: the same call writes the same bytes.
"""
import functools
import gzip
import io
import os
import pickle
import struct

import numpy as np

FAMILIES = ("ember", "torch_zip", "torch_legacy", "torch_tar", "idx", "idx_gz", "cifar_batch",
            "cifar_meta", "image")


def _idx_bytes(code, array):
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


@functools.lru_cache(maxsize=None)
def mnist_files():
    """The four valid MNIST test files that the MNIST target puts beside a mutated one."""
    rng = np.random.default_rng(1)
    images = _idx_bytes(0x08, rng.integers(0, 256, (3, 28, 28)).astype(np.uint8))
    labels = _idx_bytes(0x08, np.array([3, 1, 4], np.uint8))
    return {"t10k-images-idx3-ubyte": images, "t10k-labels-idx1-ubyte": labels,
            "train-images-idx3-ubyte": images, "train-labels-idx1-ubyte": labels}


@functools.lru_cache(maxsize=None)
def cifar_files():
    """Valid CIFAR-10 test files that the CIFAR target puts beside a mutated one."""
    rng = np.random.default_rng(1)
    return {"test_batch": pickle.dumps(cifar_batch(rng), protocol=2),
            "batches.meta": pickle.dumps({"label_names": [f"c{i}" for i in range(10)]},
                                         protocol=2)}


@functools.lru_cache(maxsize=None)
def folder_images():
    """Valid images of an image folder that the folder target adds a mutated one to."""
    from PIL import Image
    rng = np.random.default_rng(1)
    out = {}
    for i in range(4):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (8, 8, 3)).astype(np.uint8)).save(buffer, "PNG")
        out[f"ok{i}.png"] = buffer.getvalue()
    return out


def _ember_seeds(folder):
    import ember
    import ember.nn as nn
    from ember.train import checkpoint
    from ember.train.recipes import Recipe, build_model
    ember.manual_seed(0)
    names = {}
    names["state_dict.ember"] = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2),
                                              nn.Flatten(), nn.Linear(8, 3)).state_dict()
    names["rich.ember"] = {"f16": ember.ones(3, dtype=ember.float16), "b": ember.tensor([True]),
                           "i": ember.arange(4), "nd": np.arange(6.0).reshape(2, 3),
                           "s": np.float32(2.5), "t": (1, "x", None, float("inf")),
                           "d": {1: [2, 3], (4, 5): {"k": -1}}, "set": {1, 2}}
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    optimizer = ember.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(ember.randn(2, 3)).sum().backward()
    optimizer.step()
    names["whole.ember"] = {"model": model, "optimizer": optimizer}
    for name, obj in names.items():
        ember.save(obj, os.path.join(folder, name))
    mlp, _ = build_model("mlp", 10, 1, (8, 8))
    config = {"recipe": Recipe(model="mlp", dataset="digits", epochs=1).to_dict(),
              "classes": [str(i) for i in range(10)],
              "preprocessing": {"channels": 1, "size": [8, 8], "mean": [0.3], "std": [0.3]}}
    checkpoint.save_checkpoint(os.path.join(folder, "train.ember"), model=mlp,
                               optimizer=ember.optim.SGD(mlp.parameters(), lr=0.1),
                               config=config)
    return sorted(names) + ["train.ember"]


def _torch_seeds(folder):
    import torch

    from tests.serialization.torch_files import save
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2),
                                torch.nn.Flatten(), torch.nn.Linear(8, 3))
    x = torch.arange(12.0).reshape(3, 4)
    objects = {"state_dict": model.state_dict(),
               "views": {"x": x, "t": x.t(), "row": x[1], "half": torch.ones(2).half(),
                         "i": torch.arange(3), "n": [1, "two", 3.0]}}
    # a legacy file orders its storages by their addresses: seeds with one storage repeat
    one_storage = {"shared": {"x": x, "t": x.t(), "row": x[1], "n": [1, "two", 3.0]},
                   "parameter": {"w": torch.nn.Parameter(torch.ones(2, 3)), "epoch": 3}}
    written = {}
    for layout in ("zip", "legacy", "tar"):
        written[f"torch_{layout}"] = []
        for stem, obj in (one_storage if layout == "legacy" else objects).items():
            name = f"{stem}.{layout}.pth"
            path = os.path.join(folder, name)
            save(obj, path, layout)
            if layout == "legacy":
                _number_legacy_keys(path)
            written[f"torch_{layout}"].append(name)
    return written


def _number_legacy_keys(path):
    """Replace the storage keys of a legacy torch file (C addresses printed in decimal) by
    counters of the same length."""
    from ember.serialization.restricted_pickle import end_of_pickle
    data = open(path, "rb").read()
    position = 0
    for _ in range(4):                       # magic, protocol, sys_info, the object
        position = end_of_pickle(data, position, path)
    keys = pickle.loads(data[position:])     # our own file: the list of storage keys
    for number, key in enumerate(keys):
        data = data.replace(key.encode(), str(number).zfill(len(key)).encode())
    with open(path, "wb") as f:
        f.write(data)


def _idx_seeds(folder):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 28, 28)).astype(np.uint8)
    labels = np.array([3, 1, 4], np.uint8)
    floats = np.array([[1.5, -2.0], [0.25, 8.0]], ">f4")
    out = {"idx": [], "idx_gz": []}
    for name, code, array in (("images", 0x08, images), ("labels", 0x08, labels),
                              ("floats", 0x0D, floats)):
        payload = _idx_bytes(code, array)
        with open(os.path.join(folder, f"{name}.idx"), "wb") as f:
            f.write(payload)
        with open(os.path.join(folder, f"{name}.idx.gz"), "wb") as f:
            f.write(gzip.compress(payload, mtime=0))
        out["idx"].append(f"{name}.idx")
        out["idx_gz"].append(f"{name}.idx.gz")
    return out


def cifar_batch(rng, count=4):
    return {"batch_label": "testing batch 1 of 1",
            "data": rng.integers(0, 256, (count, 3072)).astype(np.uint8),
            "labels": [int(v) for v in rng.integers(0, 10, count)],
            "filenames": [f"img_{i}.png" for i in range(count)]}


def _cifar_seeds(folder):
    rng = np.random.default_rng(0)
    out = {"cifar_batch": [], "cifar_meta": []}
    for protocol in (2, 4):
        name = f"test_batch.p{protocol}"
        with open(os.path.join(folder, name), "wb") as f:
            pickle.dump(cifar_batch(rng), f, protocol=protocol)
        out["cifar_batch"].append(name)
        name = f"batches.meta.p{protocol}"
        with open(os.path.join(folder, name), "wb") as f:
            pickle.dump({"label_names": [f"class{i}" for i in range(10)], "num_cases_per_batch":
                         4, "num_vis": 3072}, f, protocol=protocol)
        out["cifar_meta"].append(name)
    return out


def _image_seeds(folder):
    from PIL import Image
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (8, 8, 3)).astype(np.uint8))
    grey = Image.fromarray(rng.integers(0, 256, (8, 8)).astype(np.uint8))
    names = []
    for name, image, kwargs in (
            ("rgb.png", rgb, {}), ("grey.png", grey, {}), ("palette.png", rgb.quantize(8), {}),
            ("interlaced.png", rgb, {"interlace": 1}), ("rgb.jpg", rgb, {"quality": 90}),
            ("grey.jpg", grey, {}), ("rgb.bmp", rgb, {}), ("grey.pgm", grey, {}),
            ("rgb.ppm", rgb, {}), ("rgb.tif", rgb, {}), ("deflate.tif", grey,
                                                          {"compression": "tiff_adobe_deflate"}),
            ("rgb.gif", rgb.quantize(16), {}), ("rgb.webp", rgb, {"lossless": True})):
        buffer = io.BytesIO()
        image.save(buffer, format=_FORMATS[name.rsplit(".", 1)[1]], **kwargs)
        with open(os.path.join(folder, name), "wb") as f:
            f.write(buffer.getvalue())
        names.append(name)
    return names


_FORMATS = {"png": "PNG", "jpg": "JPEG", "bmp": "BMP", "pgm": "PPM", "ppm": "PPM", "tif": "TIFF",
            "gif": "GIF", "webp": "WEBP"}


def write_seeds(folder):
    """Write every seed into ``folder``; ``{family: [file names]}``."""
    os.makedirs(folder, exist_ok=True)
    families = {"ember": _ember_seeds(folder), "image": _image_seeds(folder)}
    families.update(_torch_seeds(folder))
    families.update(_idx_seeds(folder))
    families.update(_cifar_seeds(folder))
    assert set(families) == set(FAMILIES)
    return families
