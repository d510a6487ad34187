"""ember.save / ember.load: round-trips, atomic writes, and clear errors for bad files."""
import io
import json
import os
import pickle
import zipfile
from collections import Counter, OrderedDict, defaultdict

import numpy as np
import pytest

import ember
from ember import serialization


def _tensor(values, dtype, requires_grad=False):
    return ember.tensor(np.asarray(values).astype(dtype), requires_grad=requires_grad)


def _assert_tensor_equal(a, b):
    assert isinstance(b, ember.Tensor)
    assert type(a) is type(b)
    assert a.dtype == b.dtype and a.shape == b.shape and a.requires_grad == b.requires_grad
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


def _rich_object():
    rng = np.random.default_rng(3)
    return {
        "float32": _tensor(rng.normal(size=(2, 3)), np.float32, requires_grad=True),
        "float64": _tensor(rng.normal(size=(4,)), np.float64),
        "int64": _tensor([1, -2, 3], np.int64),
        "int32": _tensor([[7]], np.int32),
        "bool": _tensor([True, False], np.bool_),
        "uint8": _tensor(rng.integers(0, 255, size=(2, 2, 3)), np.uint8),
        "scalar": ember.tensor(3.5),
        "empty": ember.zeros(0, 3),
        "transposed": ember.arange(6.0).reshape(2, 3).T,
        "ndarray": rng.normal(size=(3, 2)),
        "fortran": np.asfortranarray(np.arange(6, dtype=np.int16).reshape(2, 3)),
        "np_scalars": [np.float32(1.25), np.int64(-4), np.bool_(True)],
        "numbers": [0, -7, 2 ** 70, 1.5, -0.0, float("inf"), float("-inf"), 1e-320],
        "flags": (True, False, None),
        "text": "损失函数 / loss ✓",
        "nested": {1: {"a": [1, (2, 3.0)], (4, "b"): None}, 2.5: [], None: {}, True: "t"},
        "ordered": OrderedDict([("z", 1), ("a", 2)]),
    }


def _assert_equal(a, b):
    if isinstance(a, ember.Tensor):
        _assert_tensor_equal(a, b)
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, np.generic):
        assert type(a) is type(b) and a == b
    elif isinstance(a, dict):
        assert type(a) is type(b) and list(a) == list(b)
        for k in a:
            _assert_equal(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            _assert_equal(x, y)
    elif isinstance(a, float):
        assert type(b) is float and (a == b or (a != a and b != b))
        assert str(a) == str(b)  # keeps -0.0 and subnormals
    else:
        assert type(a) is type(b) and a == b


def test_roundtrip_path(tmp_path):
    obj = _rich_object()
    ember.save(obj, tmp_path / "rich.ember")
    _assert_equal(obj, ember.load(tmp_path / "rich.ember"))
    ember.save(obj, str(tmp_path / "rich2.ember"))
    _assert_equal(obj, ember.load(str(tmp_path / "rich2.ember")))


def test_roundtrip_file_objects(tmp_path):
    obj = _rich_object()
    buffer = io.BytesIO()
    ember.save(obj, buffer)
    buffer.seek(0)
    _assert_equal(obj, ember.load(buffer))
    with open(tmp_path / "f.ember", "wb") as f:
        ember.save(obj, f)
    with open(tmp_path / "f.ember", "rb") as f:
        _assert_equal(obj, ember.load(f))


def test_nan_and_top_level_values(tmp_path):
    ember.save(float("nan"), tmp_path / "nan")
    assert np.isnan(ember.load(tmp_path / "nan"))
    t = _tensor([1.0, np.nan, -np.inf], np.float32)
    ember.save(t, tmp_path / "t")
    _assert_tensor_equal(t, ember.load(tmp_path / "t"))
    ember.save(None, tmp_path / "none")
    assert ember.load(tmp_path / "none") is None


class _TaggedDict(dict):
    """A dict subclass Ember does not know: it comes back as a plain dict."""


def test_same_tensor_twice_loads_as_one_and_dict_kinds(tmp_path):
    t = ember.ones(2)
    counts = defaultdict(list, {1: [2]})
    ember.save({"a": t, "b": [t], "c": Counter({3: 2}), "d": counts, "e": _TaggedDict(x=1),
                "s": {1, (2, "x")}, "f": frozenset({"a"})}, tmp_path / "shared")
    out = ember.load(tmp_path / "shared")
    assert out["a"] is out["b"][0]
    assert out["c"] == {3: 2} and type(out["c"]) is Counter and out["c"][7] == 0
    assert type(out["d"]) is defaultdict and out["d"] == {1: [2]} and out["d"][5] == []
    assert out["e"] == {"x": 1} and type(out["e"]) is dict
    assert out["s"] == {1, (2, "x")} and out["f"] == frozenset({"a"})
    with zipfile.ZipFile(tmp_path / "shared") as archive:
        assert json.loads(archive.read(serialization.MANIFEST))["version"] == 2


def test_plain_data_is_written_as_version_1(tmp_path):
    ember.save({"w": ember.ones(2), "k": (1, OrderedDict(a=2))}, tmp_path / "v1")
    with zipfile.ZipFile(tmp_path / "v1") as archive:
        assert json.loads(archive.read(serialization.MANIFEST))["version"] == 1


def test_loaded_tensors_are_independent_writable_leaves(tmp_path):
    src = ember.ones(3, requires_grad=True)
    (src * 2).sum().backward()
    ember.save(src * 3, tmp_path / "nonleaf")
    out = ember.load(tmp_path / "nonleaf")
    assert out.is_leaf and out.requires_grad and out.grad is None
    (out * out).sum().backward()
    np.testing.assert_array_equal(out.grad.numpy(), [6.0, 6.0, 6.0])
    with ember.no_grad():
        out.add_(1)
    np.testing.assert_array_equal(out.detach().numpy(), [4.0, 4.0, 4.0])


def test_parameters_come_back_as_parameters(tmp_path):
    parameter = pytest.importorskip("ember.nn.parameter").Parameter
    p = parameter(ember.ones(2, 2))
    frozen = parameter(ember.zeros(3), requires_grad=False)
    ember.save({"w": p, "frozen": frozen}, tmp_path / "params")
    out = ember.load(tmp_path / "params")
    assert type(out["w"]) is parameter and out["w"].requires_grad
    assert type(out["frozen"]) is parameter and not out["frozen"].requires_grad
    _assert_tensor_equal(p, out["w"])


def test_optimizer_checkpoint_roundtrip(tmp_path):
    w = ember.ones(3, requires_grad=True)
    opt = ember.optim.Adam([w], lr=0.01, amsgrad=True)
    w.grad = ember.tensor([1.0, -2.0, 0.5])
    opt.step()
    ckpt = {"epoch": 4, "optimizer": opt.state_dict(), "config": {"lr": 0.01, "arch": "lenet"}}
    ember.save(ckpt, tmp_path / "ckpt.ember")
    out = ember.load(tmp_path / "ckpt.ember")
    assert out["epoch"] == 4 and out["config"] == ckpt["config"]
    assert list(out["optimizer"]["state"]) == [0]
    assert out["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
    for key, value in opt.state_dict()["state"][0].items():
        _assert_tensor_equal(value, out["optimizer"]["state"][0][key])


def test_file_format_is_zip_with_json_manifest_and_npy(tmp_path):
    ember.save({"w": ember.ones(2), "n": 3}, tmp_path / "fmt")
    with zipfile.ZipFile(tmp_path / "fmt") as archive:
        manifest = json.loads(archive.read(serialization.MANIFEST))
        assert manifest["format"] == "ember.save" and manifest["version"] == 1
        entry = manifest["root"]["items"][0][1]
        assert entry["$type"] == "tensor" and entry["dtype"] == "float32"
        array = np.load(io.BytesIO(archive.read(entry["array"])), allow_pickle=False)
    np.testing.assert_array_equal(array, [1.0, 1.0])


def test_unsupported_objects_raise_before_writing(tmp_path):
    path = tmp_path / "keep"
    ember.save({"old": 1}, path)
    before = path.read_bytes()
    with pytest.raises(TypeError, match=r"cannot save <function .*<lambda>.* at "
                                        r"obj\['fn'\]\[1\]: .*define it at module level"):
        ember.save({"fn": [1, lambda: 0]}, path)
    with pytest.raises(TypeError, match=r"cannot save an object of type object at obj key "
                                        r".*model.state_dict\(\) is always savable"):
        ember.save({object(): 1}, path)
    with pytest.raises(TypeError, match="dtype object"):
        ember.save(np.array([{}, 1], dtype=object), path)
    with pytest.raises(TypeError, match="path or a binary file object"):
        ember.save({}, 42)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["keep"]


def test_failure_mid_write_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "model.ember"
    old = {"weights": ember.arange(4.0)}
    ember.save(old, path)
    calls = []
    real_write = np.lib.format.write_array

    def failing_write(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        return real_write(*args, **kwargs)
    monkeypatch.setattr(np.lib.format, "write_array", failing_write)
    with pytest.raises(OSError, match="disk full"):
        ember.save({"a": ember.ones(1000), "b": ember.ones(1000)}, path)
    monkeypatch.setattr(np.lib.format, "write_array", real_write)
    assert len(calls) == 2
    assert sorted(os.listdir(tmp_path)) == ["model.ember"]
    _assert_equal(old, ember.load(path))


def test_interrupt_and_replace_failure_keep_old_file(tmp_path, monkeypatch):
    path = tmp_path / "model.ember"
    ember.save([1, 2, 3], path)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ember.save([4], path)
    monkeypatch.undo()
    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(PermissionError("ro")))
    with pytest.raises(PermissionError):
        ember.save([5], path)
    monkeypatch.undo()
    assert ember.load(path) == [1, 2, 3]
    assert sorted(os.listdir(tmp_path)) == ["model.ember"]


def test_new_file_gets_normal_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        ember.save(1, tmp_path / "perm")
    finally:
        os.umask(umask)
    assert (os.stat(tmp_path / "perm").st_mode & 0o777) == 0o644


def _good_file(tmp_path):
    path = tmp_path / "good.ember"
    ember.save({"w": ember.arange(50.0), "step": 3}, path)
    return path


@pytest.mark.parametrize("keep", [0, 10, 100, 0.5, -22, -1])
def test_truncated_file_raises_clear_error(tmp_path, keep):
    data = _good_file(tmp_path).read_bytes()
    cut = int(len(data) * keep) if isinstance(keep, float) else keep % len(data)
    bad = tmp_path / "bad.ember"
    bad.write_bytes(data[:cut])
    with pytest.raises(RuntimeError, match=r"ember.load: '.*bad.ember' is not an Ember "
                                           r"checkpoint.*truncated or corrupt"):
        ember.load(bad)


def test_random_bytes_and_foreign_files(tmp_path):
    noise = tmp_path / "noise.bin"
    noise.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(RuntimeError, match="noise.bin' is not an Ember checkpoint"):
        ember.load(noise)
    pickled = tmp_path / "model.pkl"
    pickled.write_bytes(pickle.dumps({"w": np.ones(3)}))
    with pytest.raises(ember.FileFormatError,
                       match="model.pkl' is not an Ember checkpoint.*a pickle but not a "
                             "torch.save file"):
        ember.load(pickled)
    other_zip = tmp_path / "other.zip"
    with zipfile.ZipFile(other_zip, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(RuntimeError, match="other.zip' is not an Ember checkpoint"):
        ember.load(other_zip)
    npy = tmp_path / "array.npy"
    np.save(npy, np.ones(3))
    with pytest.raises(RuntimeError, match="array.npy' is not an Ember checkpoint"):
        ember.load(npy)
    with pytest.raises(RuntimeError, match="<BytesIO file object> is not an Ember checkpoint"):
        ember.load(io.BytesIO(b""))
    with pytest.raises(FileNotFoundError):
        ember.load(tmp_path / "missing.ember")


def _rewrite(path, out, edit):
    """Copy the archive at ``path`` to ``out`` with ``edit(name, bytes) -> bytes or None``."""
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            data = edit(name, src.read(name))
            if data is not None:
                dst.writestr(name, data)
    return out


def _edit_manifest(fn):
    def edit(name, data):
        if name != serialization.MANIFEST:
            return data
        return json.dumps(fn(json.loads(data))).encode()
    return edit


def test_corrupt_archives_raise_clear_errors(tmp_path):
    good = _good_file(tmp_path)
    data = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as archive:
        info = archive.getinfo("arrays/0.npy")
    flipped = tmp_path / "flipped.ember"
    data[info.header_offset + 30 + len(info.filename) + 200] ^= 0xFF
    flipped.write_bytes(bytes(data))
    with pytest.raises(RuntimeError, match="flipped.ember' is corrupt: cannot read member "
                                           "'arrays/0.npy' .*CRC"):
        ember.load(flipped)

    cases = {
        "missing_array": (lambda n, d: None if n.startswith("arrays/") else d, "missing array"),
        "bad_json": (lambda n, d: b"{not json" if n == serialization.MANIFEST else d,
                     "cannot read the manifest"),
        "pickled_array": (lambda n, d: _object_npy() if n.startswith("arrays/") else d,
                          "cannot read array"),
        "short_array": (lambda n, d: d[:-40] if n.startswith("arrays/") else d,
                        "cannot read array"),
        "wrong_format": (_edit_manifest(lambda m: {**m, "format": "other"}), "no format"),
        "new_version": (_edit_manifest(lambda m: {**m, "version": 99}), "format version 99"),
        "bad_entry": (_edit_manifest(lambda m: {**m, "root": {"$type": "pickle"}}),
                      "unknown entry type 'pickle'"),
        "dtype_lie": (_edit_manifest(lambda m: json.loads(json.dumps(m).replace(
            '"float32"', '"int64"'))), "manifest says int64"),
    }
    for name, (edit, message) in cases.items():
        bad = _rewrite(good, tmp_path / f"{name}.ember", edit)
        with pytest.raises(RuntimeError, match=f"{name}.ember.*{message}"):
            ember.load(bad)


def _object_npy():
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    return buffer.getvalue()


def test_load_options(tmp_path):
    path = _good_file(tmp_path)
    for kwargs in ({"map_location": "cpu"}, {"map_location": ember.device("cpu")},
                   {"weights_only": True}, {"weights_only": False}):
        out = ember.load(path, **kwargs)
        np.testing.assert_array_equal(out["w"].numpy(), np.arange(50.0, dtype=np.float32))
    with pytest.raises(ValueError, match="map_location must be None or 'cpu'.*'cuda:0'"):
        ember.load(path, map_location="cuda:0")
    with pytest.raises(TypeError, match="opened in text mode"):
        with open(path, "r", encoding="latin-1") as f:
            ember.load(f)


class _Stream:
    """A binary stream without seek/tell (a pipe or socket)."""

    def __init__(self, data=b""):
        self.chunks, self.data = [], data

    def write(self, b):
        self.chunks.append(bytes(b))
        return len(b)

    def flush(self):
        pass

    def read(self, n=-1):
        out, self.data = (self.data, b"") if n is None or n < 0 else (self.data[:n], self.data[n:])
        return out


def test_unseekable_streams():
    obj = {"w": ember.arange(5.0), "k": (1, "x")}
    out = _Stream()
    ember.save(obj, out)
    _assert_equal(obj, ember.load(_Stream(b"".join(out.chunks))))


def test_deeply_nested_manifest_raises(tmp_path):
    good = _good_file(tmp_path)
    deep = "[" * 100_000 + "]" * 100_000
    bad = _rewrite(good, tmp_path / "deep.ember", _edit_manifest(
        lambda m: {**m, "root": "PLACEHOLDER"}))
    _rewrite(bad, tmp_path / "deep2.ember", lambda n, d: d.replace(b'"PLACEHOLDER"',
                                                                    deep.encode()))
    with pytest.raises(RuntimeError, match="deep2.ember' is corrupt"):
        ember.load(tmp_path / "deep2.ember")


def test_save_into_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="folder .*nowhere.* does not exist"):
        ember.save(1, tmp_path / "nowhere" / "x.ember")
