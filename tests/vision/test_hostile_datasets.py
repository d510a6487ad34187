"""The dataset readers on hostile files (issue 23): IDX, CIFAR pickles, image folders and
``ember predict`` end in one DatasetFormatError / DataError line naming the file, in bounded
memory, whatever the bytes."""
import gzip
import io
import os
import struct
import tracemalloc

import numpy as np
import pytest
from PIL import Image

import ember
from ember import reading
from ember.cli import main
from ember.train import checkpoint as ckpt
from ember.train.data import DataError, load_arrays
from ember.train.recipes import Recipe, build_model
from ember.vision.datasets import CIFAR10, MNIST, DatasetFormatError, ImageFolder, read_idx
from ember.vision.datasets.folder import load_image
from tests.hostile import png_bytes, png_chunks, png_with_size
from tests.vision.test_datasets import make_cifar10, make_mnist, write_pickle


def _refused(call, pattern, error=DatasetFormatError, limit=16 * 2 ** 20):
    """``call()`` raises one line of ``error`` matching ``pattern``, allocating < ``limit``."""
    tracemalloc.start()
    try:
        with pytest.raises(error, match=pattern) as info:
            call()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "\n" not in str(info.value)
    assert peak < limit, f"peak {peak:,} bytes"
    return str(info.value)


def _idx(path, type_code, dims, payload, gz=False):
    header = bytes([0, 0, type_code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)
    with (gzip.open if gz else open)(path, "wb") as f:
        f.write(header + payload)
    return str(path)


# ------------------------------------------------------------------ IDX
def test_idx_dimensions_whose_product_overflows_int64(tmp_path):
    path = _idx(tmp_path / "wrap", 0x08, (2 ** 31, 2 ** 31, 4), b"\0" * 64)
    _refused(lambda: read_idx(path), r"wrap: file is truncated: the header declares "
                                     r"2147483648 x 2147483648 x 4 uint8 values")
    path = _idx(tmp_path / "zero", 0x08, (0, 2 ** 32 - 1, 2 ** 32 - 1, 2 ** 32 - 1), b"")
    _refused(lambda: read_idx(path), "too large to address")


def test_a_small_gz_declaring_gigabytes_is_refused_before_decompressing(tmp_path):
    path = _idx(tmp_path / "bomb.gz", 0x08, (3, 2 ** 30), b"\0" * 2 ** 20, gz=True)
    assert os.path.getsize(path) < 10_000
    _refused(lambda: read_idx(path), r"bomb.gz: decompressing the IDX data it declares would "
                                     r"make 3,221,225,484 bytes")
    zeros = _idx(tmp_path / "zeros.gz", 0x08, (16, 2 ** 20), b"\0" * 2 ** 24, gz=True)
    _refused(lambda: read_idx(zeros), "max_expansion_ratio=100")
    with reading.limits(max_expansion_ratio=2000):
        assert read_idx(zeros).shape == (16, 2 ** 20)


def test_idx_float_data_must_be_finite(tmp_path):
    values = np.array([1.0, np.nan, 3.0], ">f4").tobytes()
    path = _idx(tmp_path / "nan", 0x0D, (3,), values)
    _refused(lambda: read_idx(path), "nan: the float32 values include NaN or infinity")


def test_mnist_with_hostile_image_files(tmp_path):
    make_mnist(str(tmp_path))
    _idx(tmp_path / "train-images-idx3-ubyte", 0x08, (2 ** 31, 28, 28), b"\0" * 784)
    _refused(lambda: MNIST(str(tmp_path)), "train-images-idx3-ubyte: file is truncated")


# ------------------------------------------------------------------ CIFAR
@pytest.mark.parametrize("labels, message", [
    ("0120", "'labels' must be a list of ints, got str"),
    ([0, float("nan"), 1], "'labels' must hold ints in 0..9, found nan at index 1"),
    ([0, None, 1], "'labels' must hold ints in 0..9, found None at index 1"),
    ([[0], [1], [2]], r"'labels' must hold ints in 0..9, found \[0\] at index 0"),
    ([0, 1.0, 2], "'labels' must hold ints in 0..9, found 1.0 at index 1"),
    ([0, True, 2], "'labels' must hold ints in 0..9, found True at index 1"),
    (np.array([0.0, 1.0, 2.0]), "'labels' must be a list of ints, got ndarray"),
])
def test_cifar_labels_of_the_wrong_type(tmp_path, labels, message):
    folder, _ = make_cifar10(str(tmp_path))
    write_pickle(os.path.join(folder, "data_batch_3"),
                 {"data": np.zeros((3, 3072), np.uint8), "labels": labels})
    _refused(lambda: CIFAR10(str(tmp_path)), f"data_batch_3: {message}")


@pytest.mark.parametrize("names", [7, ["a"] * 9, list(range(10)), None])
def test_cifar_class_names_of_the_wrong_type(tmp_path, names):
    folder, _ = make_cifar10(str(tmp_path))
    write_pickle(os.path.join(folder, "batches.meta"), {"label_names": names})
    _refused(lambda: CIFAR10(str(tmp_path)), "batches.meta: expected a dict whose "
                                             "'label_names' lists 10 class names")


@pytest.mark.parametrize("payload, message", [
    (b"\x80\x04\x8e" + (2 ** 62).to_bytes(8, "little") + b".", "bytes declared"),
    (b"\x80\x02T" + (2 ** 31 - 1).to_bytes(4, "little") + b"x.", "bytes declared"),
    (b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b\x87R"
     b"(K\x01J\x00\xe4\x0bT\x85cnumpy\ndtype\nX\x02\x00\x00\x00u1\x89\x88\x87R"
     b"(K\x03X\x01\x00\x00\x00|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89C\x04abcdtb.",
     "shape .1410065408,. of uint8 needs 1410065408 bytes, the pickle holds 4"),
])
def test_cifar_length_fields_that_lie(tmp_path, payload, message):
    folder, _ = make_cifar10(str(tmp_path))
    with open(os.path.join(folder, "data_batch_4"), "wb") as f:
        f.write(payload)
    _refused(lambda: CIFAR10(str(tmp_path)), f"data_batch_4: not a readable CIFAR pickle: "
                                             f".*{message}")


# ------------------------------------------------------------------ images
def _write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return path


def _tiff(width=None, height=None, photometric=None, channels=1):
    """A small TIFF whose width, height or photometric-interpretation tag says otherwise."""
    buffer = io.BytesIO()
    shape = (4, 4) if channels == 1 else (4, 4, channels)
    Image.fromarray(np.zeros(shape, np.uint8)).save(buffer, format="TIFF")
    data = bytearray(buffer.getvalue())
    ifd = struct.unpack_from("<I", data, 4)[0]
    values = {256: width, 257: height, 262: photometric}
    for i in range(struct.unpack_from("<H", data, ifd)[0]):
        entry = ifd + 2 + 12 * i
        tag, kind = struct.unpack_from("<HH", data, entry)
        if values.get(tag) is not None:
            struct.pack_into("<H" if kind == 3 else "<I", data, entry + 8, values[tag])
    return bytes(data)


def _damaged_pngs():
    good = png_bytes(np.full((6, 6, 3), 90, np.uint8))
    offset, length, _ = png_chunks(good)[0]
    bad_crc = bytearray(good)
    bad_crc[offset + 8 + length] ^= 1
    data_offset = png_chunks(good)[1][0]
    broken_data = bytearray(good)
    broken_data[data_offset + 10] ^= 0xFF
    return {"bomb": png_with_size(good, 20000, 20000),
            "under_pil_limit": png_with_size(good, 13000, 13000),
            "ihdr_crc": bytes(bad_crc), "idat": bytes(broken_data),
            "truncated_ihdr": good[:20], "short_chunk": good[:offset + 4] + b"IHDR\x00",
            "zero": png_with_size(good, 0, 6)}


@pytest.mark.parametrize("name, data", list(_damaged_pngs().items()) + [
    ("pgm_maxval", b"P2 2 2 70000\n1 2 3 4\n"), ("tiff_zero", _tiff(0, 4)),
    ("tiff_huge", _tiff(60000, 60000)), ("text", b"not an image at all")])
def test_damaged_images_are_one_line_errors(tmp_path, name, data):
    path = _write(str(tmp_path / f"{name}.img"), data)
    message = _refused(lambda: load_image(path), f"cannot read image .*{name}.img: ")
    if name == "under_pil_limit":
        assert "13000x13000 = 169,000,000 pixels, more than max_image_pixels=67,108,864" in message
    if name in ("bomb", "tiff_huge"):                  # past twice Pillow's own limit
        assert "DecompressionBombError" in message


def test_a_mode_pillow_cannot_convert(tmp_path):
    """Found by the fuzzing suite: a TIFF that decodes as CIE L*a*b*, which Pillow cannot
    convert to grey (what ``ember predict`` needs for a one-channel model)."""
    path = _write(str(tmp_path / "lab.tif"), _tiff(photometric=8, channels=3))
    assert load_image(path).mode == "LAB" and load_image(path, "RGB").mode == "RGB"
    _refused(lambda: load_image(path, "L"), r"cannot read image .*lab.tif: ValueError: "
                                            r"conversion from LAB to RGB not supported")


def test_the_pixel_limit_can_be_raised(tmp_path):
    path = _write(str(tmp_path / "wide.png"), png_bytes(np.zeros((2, 3000), np.uint8)))
    with reading.limits(max_image_pixels=5000):
        _refused(lambda: load_image(path), "declares 3000x2 = 6,000 pixels, more than "
                                           "max_image_pixels=5,000")
    assert load_image(path).size == (3000, 2)


def test_image_folders_with_a_bad_or_huge_image(tmp_path):
    for name in ("a", "b"):
        for i in range(3):
            _write(str(tmp_path / "ok" / name / f"{i}.png"),
                   png_bytes(np.random.default_rng(i).integers(0, 255, (8, 8, 3), np.uint8)))
    _write(str(tmp_path / "ok" / "b" / "9.png"), _damaged_pngs()["under_pil_limit"])
    folder = ImageFolder(str(tmp_path / "ok"))
    _refused(lambda: folder[len(folder) - 1], "9.png: it declares 13000x13000")
    _refused(lambda: load_arrays("folder", str(tmp_path / "ok")), "9.png", error=DataError)
    # a huge first image would blow every small one up to its size
    _write(str(tmp_path / "big" / "a" / "0.png"), png_bytes(np.zeros((3000, 3000, 3), np.uint8)))
    for i in range(1, 6):
        _write(str(tmp_path / "big" / "a" / f"{i}.png"), png_bytes(np.zeros((4, 4, 3), np.uint8)))
    _refused(lambda: load_arrays("folder", str(tmp_path / "big")),
             r"image folder .*big: converting its 6 images to the first one's 3000x3000 pixels "
             r"would make", error=DataError, limit=64 * 2 ** 20)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """A checkpoint of an 8x8 grey MLP, written without training."""
    path = str(tmp_path_factory.mktemp("ckpt") / "mlp.ember")
    model, _ = build_model("mlp", 10, 1, (8, 8))
    recipe = Recipe(model="mlp", dataset="digits", epochs=1)
    config = {"recipe": recipe.to_dict(), "classes": [str(i) for i in range(10)],
              "preprocessing": {"channels": 1, "size": [8, 8], "mean": [0.3], "std": [0.3]}}
    ckpt.save_checkpoint(path, model=model, optimizer=ember.optim.SGD(model.parameters(), lr=0.1),
                         config=config)
    return path


def test_predict_on_hostile_images(tmp_path, capsys, tiny_checkpoint):
    good = _write(str(tmp_path / "good.png"), png_bytes(np.zeros((8, 8), np.uint8)))
    assert main(["predict", tiny_checkpoint, good]) == 0
    capsys.readouterr()
    damaged = {f"{name}.png": data for name, data in _damaged_pngs().items()}
    damaged["lab.tif"] = _tiff(photometric=8, channels=3)          # grey from LAB: refused
    for name, data in damaged.items():
        path = _write(str(tmp_path / name), data)
        assert main(["predict", tiny_checkpoint, good, path]) == 1, name
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "Traceback" not in err and name in err, err
        assert err.startswith("ember predict: error: cannot read image")
