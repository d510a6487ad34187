"""ember.utils.safetensors and ember.save/load(format='safetensors'): round-trips, files
exchanged with the safetensors package itself (NumPy and torch APIs as oracles), and clear
one-line errors for what the format cannot hold or a damaged file."""
import io
import os

import numpy as np
import pytest

import ember
from ember import nn
from ember.utils import safetensors as st

safetensors_numpy = pytest.importorskip("safetensors.numpy")

ALL_DTYPES = (np.bool_, np.uint8, np.int8, np.int16, np.int32, np.int64, np.float16,
              np.float32, np.float64)


def _tensors():
    rng = np.random.default_rng(0)
    out = {f"t_{np.dtype(d).name}": ember.tensor((rng.normal(size=(2, 3)) * 50).astype(d))
           for d in ALL_DTYPES}
    out["scalar"] = ember.tensor(2.5)
    out["empty"] = ember.zeros(0, 4)
    out["transposed"] = ember.arange(12.0).reshape(3, 4).T       # not contiguous
    out["ndarray"] = rng.normal(size=(5,)).astype(np.float32)
    return out


def _assert_same(saved, loaded):
    assert sorted(saved) == sorted(loaded)
    for name, value in saved.items():
        array = value.numpy() if isinstance(value, ember.Tensor) else value
        assert isinstance(loaded[name], ember.Tensor) and not loaded[name].requires_grad
        assert loaded[name].numpy().dtype == array.dtype, name
        np.testing.assert_array_equal(loaded[name].numpy(), array)


def test_save_file_load_file_round_trip_every_dtype(tmp_path):
    tensors = _tensors()
    path = tmp_path / "all.safetensors"
    st.save_file(tensors, path, metadata={"made_by": "ember", "epoch": "3"})
    _assert_same(tensors, st.load_file(path))
    _assert_same(tensors, st.load(path.read_bytes()))
    assert st.load_metadata(path) == {"made_by": "ember", "epoch": "3"}
    st.save_file({"a": ember.ones(1)}, path)
    assert st.load_metadata(path) is None
    _assert_same(tensors, st.load(st.save(tensors)))


def test_state_dict_through_ember_save_and_load(tmp_path):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * 6 * 6, 5)).eval()
    path = tmp_path / "model.safetensors"
    ember.save(model.state_dict(), path)                 # format picked by the suffix
    loaded = ember.load(str(path))
    assert set(loaded) == set(model.state_dict())
    assert loaded["1.num_batches_tracked"].dtype == ember.int64
    other = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * 6 * 6, 5)).eval()
    other.load_state_dict(loaded)
    x = ember.randn(2, 3, 8, 8)
    np.testing.assert_array_equal(other(x).detach().numpy(), model(x).detach().numpy())


def test_format_keyword_file_objects_and_sniffing(tmp_path):
    tensors = {"w": ember.randn(3, 2), "i": ember.tensor([1, 2, 3])}
    buffer = io.BytesIO()
    ember.save(tensors, buffer, format="safetensors")
    buffer.seek(0)
    _assert_same(tensors, ember.load(buffer))
    # the header, not the name, tells ember.load what it reads
    odd_name = tmp_path / "weights.bin"
    ember.save(tensors, odd_name, format="safetensors")
    _assert_same(tensors, ember.load(odd_name))
    # and Ember's own format stays the default elsewhere, even for a flat dict
    own = tmp_path / "weights.ember"
    ember.save(tensors, own)
    assert own.read_bytes()[:2] == b"PK"
    ember.save(tensors, tmp_path / "forced.safetensors", format="ember")
    assert (tmp_path / "forced.safetensors").read_bytes()[:2] == b"PK"


def test_map_location_applies_to_safetensors(tmp_path):
    path = tmp_path / "m.safetensors"
    ember.save({"a": ember.ones(2)}, path)
    seen = []
    loaded = ember.load(path, map_location=lambda t, loc: seen.append(loc) or t * 2)
    np.testing.assert_array_equal(loaded["a"].numpy(), [2.0, 2.0])
    assert seen == ["cpu"]
    assert set(ember.load(path, map_location="cpu")) == {"a"}


def test_files_from_the_safetensors_package_read_and_back(tmp_path):
    rng = np.random.default_rng(1)
    arrays = {"x": rng.normal(size=(4, 3)).astype(np.float32),
              "y": np.arange(7, dtype=np.int32)}
    theirs = tmp_path / "theirs.safetensors"
    safetensors_numpy.save_file(arrays, str(theirs), metadata={"k": "v"})
    _assert_same(arrays, st.load_file(theirs))
    assert st.load_metadata(theirs) == {"k": "v"}
    ours = tmp_path / "ours.safetensors"
    st.save_file({k: ember.from_numpy(v) for k, v in arrays.items()}, ours)
    back = safetensors_numpy.load_file(str(ours))
    for name, array in arrays.items():
        assert back[name].dtype == array.dtype
        np.testing.assert_array_equal(back[name], array)


def test_torch_written_file_with_bfloat16_reads_exactly_as_float32(tmp_path):
    torch = pytest.importorskip("torch")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    torch.manual_seed(0)
    weights = {"half": torch.randn(3, 5, dtype=torch.bfloat16),
               "full": torch.randn(2, 2), "long": torch.tensor([5, -6])}
    path = tmp_path / "hub.safetensors"
    safetensors_torch.save_file(weights, str(path))
    loaded = ember.load(path)
    assert loaded["half"].dtype == ember.float32
    np.testing.assert_array_equal(loaded["half"].numpy(), weights["half"].float().numpy())
    np.testing.assert_array_equal(loaded["full"].numpy(), weights["full"].numpy())
    assert loaded["long"].dtype == ember.int64
    # and torch reads what Ember writes
    ember.save(loaded, tmp_path / "back.safetensors")
    again = safetensors_torch.load_file(str(tmp_path / "back.safetensors"))
    assert torch.equal(again["half"], weights["half"].float())


@pytest.mark.parametrize("obj, message", [
    ({"model": {"w": ember.ones(1)}}, "'model' is of type dict"),
    ({"epoch": 3}, "'epoch' is of type int"),
    ({1: ember.ones(1)}, "keys must be str, got 1"),
    ([ember.ones(1)], "flat dict of str -> Tensor"),
    ({"x": np.array(["a"])}, "tensor 'x' has dtype <U1"),
])
def test_what_safetensors_cannot_hold_is_refused_and_nothing_written(tmp_path, obj, message):
    path = tmp_path / "keep.safetensors"
    st.save_file({"old": ember.ones(2)}, path)
    before = path.read_bytes()
    with pytest.raises(TypeError, match=message):
        ember.save(obj, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["keep.safetensors"]       # no temporary file left


def test_bad_arguments():
    with pytest.raises(TypeError, match="metadata must be a dict of str -> str"):
        st.save({"a": ember.ones(1)}, metadata={"epoch": 3})
    with pytest.raises(ValueError, match="format must be 'ember', 'safetensors' or None"):
        ember.save({}, io.BytesIO(), format="onnx")
    with pytest.raises(ValueError, match="CPU only"):
        st.load_file("x.safetensors", device="cuda")
    with pytest.raises(FileNotFoundError, match="missing.safetensors"):
        st.load_file("missing.safetensors")
    with pytest.raises(FileNotFoundError, match="missing.safetensors"):
        st.load_metadata("missing.safetensors")


def test_truncated_or_corrupt_file_one_line_naming_it(tmp_path):
    path = tmp_path / "cut.safetensors"
    st.save_file({"w": ember.randn(10, 10)}, path)
    data = path.read_bytes()
    path.write_bytes(data[:-7])
    for call in (lambda: ember.load(path), lambda: st.load_file(path),
                 lambda: st.load_metadata(path)):
        with pytest.raises(RuntimeError) as info:
            call()
        message = str(info.value)
        assert "cut.safetensors" in message and "not a valid safetensors file" in message
        assert "\n" not in message
    header_cut = tmp_path / "head.safetensors"
    header_cut.write_bytes(data[:20])
    with pytest.raises(RuntimeError, match="head.safetensors.*not a valid safetensors"):
        ember.load(header_cut)


def test_dtype_ember_lacks_is_refused_naming_the_tensor(tmp_path):
    path = tmp_path / "u16.safetensors"
    safetensors_numpy.save_file({"counts": np.arange(3, dtype=np.uint16)}, str(path))
    with pytest.raises(RuntimeError, match="tensor 'counts' has dtype uint16"):
        ember.load(path)


@pytest.mark.parametrize("head, expected", [
    ((100).to_bytes(8, "little") + b"{", True),
    (b"PK\x03\x04" + b"\0" * 5, False),                  # Ember's zip checkpoints
    (b"\x80\x02" + b"\0" * 7, False),                    # a pickle
    ((100).to_bytes(8, "little") + b"[", False),
    ((1 << 40).to_bytes(8, "little") + b"{", False),
    (b"{", False),
])
def test_header_sniffing(head, expected):
    assert st.is_safetensors_header(head) is expected
