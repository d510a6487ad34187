"""benchmarks/onnx_runtime.py runs (a smoke test: one tiny round, no timing asserted)."""
import pytest

pytest.importorskip("onnxruntime")


def test_onnx_runtime_benchmark_runs(monkeypatch, tmp_path):
    from benchmarks import onnx_runtime
    monkeypatch.setitem(onnx_runtime.WORKLOADS, "tiny", ("lenet5", {"padded": True},
                                                         (2, 1, 28, 28), 1))
    row = onnx_runtime.run("tiny", rounds=1, threads=1)
    assert row["calls"] == {"ember": 1, "onnxruntime": 1}
    assert row["ember_ms"] > 0 and row["onnxruntime_ms"] > 0
    assert row["max_relative_difference"] <= 1e-4
