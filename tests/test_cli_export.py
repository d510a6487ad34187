"""``ember export CHECKPOINT --format onnx|safetensors``: the file is verified before it is
written, never written over, and bad input ends in one line and exit code 1."""
import os

import numpy as np
import pytest

import ember
from ember.cli import main
from tests.test_cli import FAST, assert_one_line_error, run

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("runs") / "digits-mlp")
    ember.manual_seed(0)
    assert main(FAST + ["--out", out]) == 0
    return os.path.join(out, "checkpoints", "best.ember")


def _model_of(path):
    from ember.cli import _load_for_inference
    return _load_for_inference(path)[1]


def test_onnx_export_is_verified_and_runs_with_any_batch(capsys, checkpoint, tmp_path):
    out = str(tmp_path / "mlp.onnx")
    code, stdout, err = run(capsys, "export", checkpoint, "--format", "onnx", "--out", out)
    assert code == 0, err
    lines = stdout.strip().splitlines()
    assert lines[0].startswith(f"wrote {out} (onnx, ") and "from mlp (" in lines[0]
    assert lines[1].startswith("verified: ONNX Runtime") and "batches of 1 and 2" in lines[1]
    x = np.random.default_rng(0).normal(size=(5, 1, 8, 8)).astype(np.float32)
    got = ort.InferenceSession(out).run(None, {"input": x})[0]
    with ember.no_grad():
        expected = _model_of(checkpoint)(ember.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())
    assert onnx.load(out).opset_import[0].version == 18


def test_default_name_input_size_and_opset(capsys, checkpoint, tmp_path):
    import shutil
    copy = str(tmp_path / "best.ember")
    shutil.copy(checkpoint, copy)
    code, stdout, err = run(capsys, "export", copy, "--format", "onnx", "--input-size",
                            "3", "1", "8", "8", "--opset", "20")
    assert code == 0, err
    model = onnx.load(str(tmp_path / "best.onnx"))
    assert model.opset_import[0].version == 20
    assert "batches of 3 and 4" in stdout


def test_safetensors_export_loads_into_the_model(capsys, checkpoint, tmp_path):
    out = str(tmp_path / "weights.safetensors")
    code, stdout, err = run(capsys, "export", checkpoint, "--format", "safetensors", "--out",
                            out)
    assert code == 0, err
    assert "verified: read back:" in stdout
    model = _model_of(checkpoint)
    state = ember.load(out)
    assert set(state) == set(model.state_dict())
    model.load_state_dict(state)
    from ember.utils.safetensors import load_metadata
    assert load_metadata(out) == {"producer": "ember export"}


def test_onnx_file_as_the_source(capsys, checkpoint, tmp_path):
    first = str(tmp_path / "model.onnx")
    assert run(capsys, "export", checkpoint, "--format", "onnx", "--out", first)[0] == 0
    code, stdout, err = run(capsys, "export", first, "--format", "safetensors")
    assert code == 0, err
    assert os.path.exists(str(tmp_path / "model.safetensors"))
    code, stdout, err = run(capsys, "export", first, "--format", "onnx", "--out",
                            str(tmp_path / "again.onnx"))
    assert code == 0, err


def test_existing_file_is_never_written_over(capsys, checkpoint, tmp_path):
    out = tmp_path / "taken.onnx"
    out.write_bytes(b"keep me")
    code, _, err = run(capsys, "export", checkpoint, "--format", "onnx", "--out", str(out))
    assert_one_line_error(code, err, r"^ember export: error: .*taken.onnx already exists")
    assert out.read_bytes() == b"keep me"


def test_bad_sources_one_line_exit_1_nothing_written(capsys, checkpoint, tmp_path):
    good = str(tmp_path / "good.onnx")
    assert run(capsys, "export", checkpoint, "--format", "onnx", "--out", good)[0] == 0
    data = open(good, "rb").read()
    truncated = tmp_path / "cut.onnx"
    truncated.write_bytes(data[:len(data) // 3])
    code, _, err = run(capsys, "export", str(truncated), "--format", "safetensors")
    assert_one_line_error(code, err, r"cut.onnx.* is not a valid ONNX model")
    from onnx import helper
    graph = helper.make_graph([helper.make_node("NonZero", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", 1, [2])],
                              [helper.make_tensor_value_info("y", 7, None)])
    unsupported = tmp_path / "nonzero.onnx"
    unsupported.write_bytes(helper.make_model(graph).SerializeToString())
    code, _, err = run(capsys, "export", str(unsupported), "--format", "onnx",
                       "--input-size", "1", "1", "1", "2")
    assert_one_line_error(code, err, r"nonzero.onnx.* uses operators Ember does not implement: "
                                     r"NonZero")
    corrupt = tmp_path / "corrupt.ember"
    corrupt.write_bytes(open(checkpoint, "rb").read()[:100])
    code, _, err = run(capsys, "export", str(corrupt), "--format", "onnx")
    assert_one_line_error(code, err, r"cannot read checkpoint .*corrupt.ember")
    code, _, err = run(capsys, "export", str(tmp_path / "missing.onnx"), "--format", "onnx")
    assert_one_line_error(code, err, r"missing.onnx does not exist")
    assert sorted(os.listdir(tmp_path)) == ["corrupt.ember", "cut.onnx", "good.onnx",
                                            "nonzero.onnx"]


def test_bad_options(capsys, checkpoint, tmp_path):
    code, _, err = run(capsys, "export", checkpoint, "--format", "safetensors",
                       "--input-size", "1", "1", "8", "8")
    assert_one_line_error(code, err, "--input-size and --opset apply to --format onnx only")
    code, _, err = run(capsys, "export", checkpoint, "--format", "onnx", "--input-size",
                       "0", "1", "8", "8")
    assert_one_line_error(code, err, "--input-size must be positive")
    code, _, err = run(capsys, "export", checkpoint, "--format", "onnx", "--opset", "30")
    assert_one_line_error(code, err, r"opset_version must lie in \[18, 26\], got 30")
    code, _, err = run(capsys, "export", checkpoint, "--format", "onnx", "--out",
                       str(tmp_path / "no" / "such" / "folder.onnx"))
    assert_one_line_error(code, err, "folder .* does not exist")
    code, _, err = run(capsys, "export", checkpoint, "--format", "onnx", "--input-size",
                       "1", "3", "8", "8")
    assert_one_line_error(code, err, r"cannot run on an input of shape \(1, 3, 8, 8\).*Linear")
    assert run(capsys, "export", checkpoint)[0] == 2               # --format is required
    assert os.listdir(tmp_path) == []


def test_help(capsys):
    code, stdout, _ = run(capsys, "export", "--help")
    assert code == 0 and "--format {onnx,safetensors}" in stdout
