"""PyTorch checkpoints read by ember.load without torch and without running pickle: files
written by torch.save here (zip and legacy layouts; the tar layout of torch < 0.4 by
torch_files.save_tar, which torch.load reads too), compared with what torch.load returns."""
import io
import math
import os
import pickle
import tarfile
import zipfile
from collections import Counter, OrderedDict

import numpy as np
import pytest
import torch

import ember
from ember.cli import main
from ember.vision import models
from tests.hostile import rewrite_zip
from tests.serialization.torch_files import LAYOUTS, Exploit, malicious, save, save_tar


@pytest.fixture(scope="module")
def torchvision():
    """torchvision 0.28 as the oracle (see tests/torchvision_oracle.py)."""
    from tests.torchvision_oracle import import_torchvision
    return import_torchvision()


def _same(ours, theirs):
    """``ours`` (from ember.load) holds what ``theirs`` (from torch.load) holds."""
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, ember.Tensor), type(ours)
        assert isinstance(ours, ember.nn.Parameter) == isinstance(theirs, torch.nn.Parameter)
        assert ours.requires_grad == theirs.requires_grad and tuple(ours.shape) == theirs.shape
        expected = theirs.detach().float() if theirs.dtype == torch.bfloat16 else theirs.detach()
        assert ours.dtype.name == str(expected.dtype).replace("torch.", "")
        np.testing.assert_array_equal(ours.detach().numpy(), expected.numpy())
    elif isinstance(theirs, dict):
        assert type(ours) is type(theirs) and list(ours) == list(theirs)
        for key in theirs:
            _same(ours[key], theirs[key])
    elif isinstance(theirs, (list, tuple)):
        assert type(ours) is type(theirs) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            _same(a, b)
    elif isinstance(theirs, torch.dtype):
        assert ours is getattr(ember, str(theirs).replace("torch.", ""))
    elif isinstance(theirs, float) and math.isnan(theirs):
        assert math.isnan(ours)
    else:
        assert type(ours) is type(theirs) and ours == theirs


def _load_both(obj, path, layout):
    save(obj, path, layout)
    return ember.load(path), torch.load(path, weights_only=False)


@pytest.mark.parametrize("layout", ["zip", "legacy"])
def test_torchvision_resnet18_state_dict_loads_into_ember_resnet18(tmp_path, torchvision,
                                                                    layout):
    torch.manual_seed(0)
    reference = torchvision.models.resnet18().eval()
    with torch.no_grad():                     # non-trivial running statistics
        for module in reference.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    path = save(reference.state_dict(), str(tmp_path / "resnet18.pth"), layout)
    model = models.resnet18().eval()
    assert repr(model.load_state_dict(ember.load(path))) == "<All keys matched successfully>"
    x = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)
    with torch.no_grad():
        expected = reference(torch.from_numpy(x)).numpy()
    with ember.no_grad():
        got = model(ember.from_numpy(x)).numpy()
    # float32 rounding through 18 conv layers whose sums run over up to 3*3*512 = 4608 terms
    # grows like depth * sqrt(K) * eps ~ 18 * 68 * 6e-8 ~ 7e-5 of the output's scale
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-4 * np.abs(expected).max())


@pytest.mark.parametrize("layout", LAYOUTS)
def test_nested_containers_and_plain_values(tmp_path, layout):
    obj = {"epoch": 7, "best": 0.25, "inf": float("inf"), "nan": float("nan"), "big": 2 ** 70,
           "name": "résumé ✓", "flags": (True, False, None), "raw": b"\x00\xff",
           "nested": {"list": [torch.ones(2), {"deep": torch.zeros(1, 3)}], 3: "int key"},
           "ordered": OrderedDict([("b", torch.arange(3)), ("a", torch.tensor(2.5))]),
           "empty": torch.zeros(0, 4)}
    if layout != "tar":                        # torch 0.3's tar files held no Counter/set
        obj.update(counts=Counter({"x": 2}), tags={1, 2}, size=torch.Size([2, 3]),
                   dtype=torch.float64, array=np.arange(4.0), scalar=np.float32(1.5))
    ours, theirs = _load_both(obj, str(tmp_path / "nested.pth"), layout)
    if "size" in theirs:
        assert type(ours.pop("size")) is ember.Size and theirs.pop("size") == (2, 3)
    for key in ("array", "scalar", "tags", "counts"):
        if key in theirs:
            mine, ref = ours.pop(key), theirs.pop(key)
            assert type(mine) is type(ref) and np.all(mine == ref), key
    _same(ours, theirs)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_shared_storages_views_and_non_contiguous_tensors(tmp_path, layout):
    x = torch.arange(24.0).reshape(4, 6)
    obj = {"x": x, "same": x, "row": x[1], "columns": x[:, ::2], "t": x.t(),
           "narrow": x.view(-1)[3:9], "expanded": torch.ones(1).expand(5, 3),
           "permuted": torch.arange(24).reshape(2, 3, 4).permute(2, 0, 1)}
    ours, theirs = _load_both(obj, str(tmp_path / "views.pth"), layout)
    _same(ours, theirs)
    assert ours["x"] is ours["same"]
    with ember.no_grad():
        ours["row"].add_(100)
    assert ours["x"].numpy()[1, 0] == 6.0     # every view came back as its own tensor
    assert ours["t"].numpy().flags.c_contiguous


@pytest.mark.parametrize("layout", LAYOUTS)
def test_dtypes_parameters_and_requires_grad(tmp_path, layout):
    rng = torch.Generator().manual_seed(0)
    obj = {name: (torch.randn(3, 2, generator=rng) * 100).to(dtype) for name, dtype in (
        ("f16", torch.float16), ("f32", torch.float32), ("f64", torch.float64),
        ("bf16", torch.bfloat16), ("i8", torch.int8), ("i16", torch.int16),
        ("i32", torch.int32), ("i64", torch.int64), ("u8", torch.uint8))}
    obj["bool"] = torch.tensor([True, False, True])
    obj["grad"] = torch.randn(2, generator=rng, requires_grad=True)
    if layout != "tar":                        # torch 0.3 knew no Parameter in a tar file
        obj["param"] = torch.nn.Parameter(torch.randn(3, generator=rng))
        obj["frozen"] = torch.nn.Parameter(torch.randn(2, generator=rng), requires_grad=False)
    ours, theirs = _load_both(obj, str(tmp_path / "dtypes.pth"), layout)
    _same(ours, theirs)
    assert ours["bf16"].dtype == ember.float32


@pytest.mark.parametrize("dtype", [torch.complex64, torch.uint16, torch.uint32])
def test_dtypes_ember_lacks_are_refused_by_name(tmp_path, dtype):
    path = str(tmp_path / "odd.pth")
    torch.save({"w": torch.zeros(2, dtype=dtype)}, path)
    name = str(dtype).replace("torch.", "")
    with pytest.raises(ember.FileFormatError, match=f"odd.pth.*{name} tensors have no Ember "
                                                    f"dtype"):
        ember.load(path)


def test_big_endian_zip_files(tmp_path):
    path = str(tmp_path / "little.pth")
    torch.save({"a": torch.arange(6, dtype=torch.float32), "b": torch.arange(3)}, path)

    def to_big_endian(name, content):
        if name.endswith("byteorder"):
            return b"big"
        if "/data/" in name:
            itemsize = 4 if len(content) == 24 else 8
            return np.frombuffer(content, f"<u{itemsize}").astype(f">u{itemsize}").tobytes()
        return content
    big = tmp_path / "big.pth"
    big.write_bytes(rewrite_zip(open(path, "rb").read(), to_big_endian))
    _same(ember.load(big), torch.load(big))
    np.testing.assert_array_equal(ember.load(big)["a"].numpy(), np.arange(6.0))


def test_map_location_works_on_torch_files(tmp_path):
    path = str(tmp_path / "m.pth")
    torch.save({"w": torch.ones(2)}, path)
    assert ember.load(path, map_location={"cuda:0": "cpu"})["w"].shape == (2,)
    doubled = ember.load(path, map_location=lambda storage, location: storage * 2)
    np.testing.assert_array_equal(doubled["w"].numpy(), [2.0, 2.0])


@pytest.mark.filterwarnings("ignore:Detected pickle protocol 4")
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("payload, refused", [
    (lambda marker: pickle.dumps(Exploit(marker), protocol=2), "refusing to load posix.system"),
    (lambda marker: pickle.dumps({"w": Exploit(marker)}, protocol=4),
     "refusing to load posix.system"),
    (lambda marker: b"\x80\x02cbuiltins\neval\nX\x0b\x00\x00\x00print('hi')\x85R.",
     "refusing to load builtins.eval"),
    (lambda marker: b"(S'touch " + marker.encode() + b"'\nios\nsystem\n.",
     "opcode b'i' is not allowed"),
    (lambda marker: b"\x80\x02ctorch.nn.modules.linear\nLinear\n)\x81.",
     "pickled whole module"),
    (lambda marker: b"\x80\x02cnumpy\nload\nX\x01\x00\x00\x00x\x85R.", "refusing to load numpy.load"),
    (lambda marker: b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00xX\x04\x00\x00\x00zlib\x86R.",
     r"only _codecs.encode\(str, 'latin1'\)"),
])
def test_malicious_pickles_are_refused_and_never_run(tmp_path, layout, payload, refused):
    marker = str(tmp_path / "pwned")
    path = malicious(str(tmp_path / "evil.pth"), layout, payload(marker))
    with pytest.raises(ember.FileFormatError) as info:
        ember.load(path)
    message = str(info.value)
    assert "\n" not in message and "evil.pth" in message
    assert __import__("re").search(refused, message), message
    assert not os.path.exists(marker)
    if "posix.system" in refused and layout != "tar":
        with pytest.raises(Exception):              # torch's safe loader refuses it too
            torch.load(path)


def test_a_pickled_torch_module_is_refused_with_what_to_do(tmp_path):
    path = str(tmp_path / "whole.pth")
    torch.save(torch.nn.Linear(2, 2), path)
    with pytest.raises(ember.FileFormatError, match=r"refusing to load torch\.nn\.modules\."
                                                    r"linear\.Linear.*save model\.state_dict\(\)"):
        ember.load(path)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_torchscript_archives_are_named(tmp_path):
    path = str(tmp_path / "scripted.pt")
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), path)
    with pytest.raises(ember.FileFormatError, match="TorchScript archive"):
        ember.load(path)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_truncated_files_are_one_line_errors(tmp_path, layout):
    path = save({"w": torch.arange(40.0), "b": [torch.ones(3)]}, str(tmp_path / "full.pth"),
                layout)
    full = open(path, "rb").read()
    data_end = len(full)
    if layout == "tar":                     # past the last member come only zero blocks
        with tarfile.open(path) as tar:
            data_end = max(m.offset_data + m.size for m in tar.getmembers())
    cut = tmp_path / "cut.pth"
    for end in sorted(set(range(0, data_end, max(1, data_end // 50))) | {data_end - 1}):
        cut.write_bytes(full[:end])
        with pytest.raises(ember.FileFormatError) as info:
            ember.load(cut)
        assert "\n" not in str(info.value) and "cut.pth" in str(info.value)


def test_tar_writer_matches_torch_load(tmp_path):
    x = torch.arange(6.0).reshape(2, 3)
    path = save_tar({"x": x, "t": x.t()}, str(tmp_path / "old.pth"))
    loaded = torch.load(path, weights_only=False)
    assert torch.equal(loaded["t"], x.t()) and loaded["t"].stride() == (1, 3)


def test_cli_inspect_reads_checks_and_reports_torch_files(tmp_path, capsys, torchvision):
    path = str(tmp_path / "resnet18.pth")
    torch.save(torchvision.models.resnet18().state_dict(), path)
    assert main(["inspect", path, "--model", "resnet18"]) == 0
    out = capsys.readouterr().out
    assert "conv1.weight" in out and "(64, 3, 7, 7)" in out and "122 tensors" in out
    assert "the weights fit resnet18: 122 entries loaded" in out
    cases = {
        "mismatch": ([path, "--model", "resnet18", "--num-classes", "10"],
                     r"resnet18.pth does not fit ResNet: 2 shape mismatch\(es\) \(e.g. fc.weight "
                     r"\(1000, 512\) vs \(10, 512\)"),
        "truncated": ([str(tmp_path / "cut.pth")], r"cut.pth' .*truncated or corrupt"),
        "global": ([malicious(str(tmp_path / "evil.pth"), "zip", pickle.dumps(
            Exploit(str(tmp_path / "pwned")), protocol=2))], "refusing to load posix.system"),
        "missing": ([str(tmp_path / "nothing.pth")], "does not exist"),
    }
    (tmp_path / "cut.pth").write_bytes(open(path, "rb").read()[:5000])
    for name, (argv, pattern) in cases.items():
        assert main(["inspect", *argv]) == 1, name
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "Traceback" not in err, err
        assert __import__("re").search(pattern, err), err
    assert not (tmp_path / "pwned").exists()


def test_state_dicts_are_found_inside_checkpoints(tmp_path, capsys):
    model = models.lenet5()
    path = str(tmp_path / "ckpt.pth")
    torch.save({"epoch": 3, "state_dict": {k: torch.from_numpy(v.numpy().copy())
                                           for k, v in model.state_dict().items()}}, path)
    assert main(["inspect", path, "--model", "lenet5"]) == 0
    assert "the weights fit lenet5" in capsys.readouterr().out
    ember.save({"epoch": 3}, str(tmp_path / "none.ember"))
    assert main(["inspect", str(tmp_path / "none.ember"), "--model", "lenet5"]) == 1
    assert "holds no state dict" in capsys.readouterr().err


def test_zip_members_must_be_consistent(tmp_path):
    path = str(tmp_path / "ok.pth")
    torch.save({"w": torch.arange(4.0)}, path)
    data = open(path, "rb").read()
    short = rewrite_zip(data, lambda n, c: c[:-4] if "/data/" in n else c)
    (tmp_path / "short.pth").write_bytes(short)
    with pytest.raises(ember.FileFormatError, match="declares 4 float32 elements but its member "
                                                    "holds 12 bytes"):
        ember.load(tmp_path / "short.pth")
    no_data = rewrite_zip(data, lambda n, c: None if "/data/" in n else c)
    (tmp_path / "nodata.pth").write_bytes(no_data)
    with pytest.raises(ember.FileFormatError, match="storage '0' has no member"):
        ember.load(tmp_path / "nodata.pth")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert any(name.endswith("data.pkl") for name in archive.namelist())


def test_values_quoted_from_a_file_stay_on_one_line(tmp_path):
    """Found by the fuzzing suite: a persistent id that is an array, whose repr spans lines."""
    class Pickler(pickle.Pickler):
        def persistent_id(self, value):
            return np.zeros((3, 3)) if value == "storage" else None
    payload = io.BytesIO()
    Pickler(payload, protocol=2).dump(["storage"])
    path = malicious(str(tmp_path / "odd.pth"), "zip", payload.getvalue())
    with pytest.raises(ember.FileFormatError, match=r"unexpected persistent id array\(\[\[0\., "
                                                    r"0\., 0\.\], \[0\.") as info:
        ember.load(path)
    assert "\n" not in str(info.value)
    assert str(ember.FileFormatError("a\n  b\tc")) == "a b c"
