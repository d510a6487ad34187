"""End-to-end smoke test of ``python -m benchmarks.run``: one tiny workload in ``--quick`` mode
(one Ember and one PyTorch process, a few steps each). Kept cheap on purpose (~10 s, mostly
the two interpreter start-ups); it checks the runner's plumbing and report, never times."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_quick_run_of_one_tiny_workload_writes_the_report(tmp_path):
    out = tmp_path / "result.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--only", "tiny_mlp_train",
         "--output", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "tiny_mlp_train" in proc.stdout and "ratio" in proc.stdout
    report = json.loads(out.read_text())
    assert report["quick"] is True
    machine = report["machine"]
    assert machine["cores"] == os.cpu_count() and machine["threads_per_side"] == 2
    for key in ("cpu", "numpy", "numpy_blas", "torch", "torch_threads", "ember", "blas_env"):
        assert key in machine
    assert machine["torch_threads"] == 2
    (row,) = report["results"]
    assert row["workload"] == "tiny_mlp_train" and row["rounds"] == 1
    assert row["against"] == "torch"
    assert len(row["ember_process_medians_s"]) == len(row["torch_process_medians_s"]) == 1
    assert row["ember_median_s"] > 0 and row["torch_median_s"] > 0
    assert row["ratio"] == row["ember_median_s"] / row["torch_median_s"]
    assert row["best_process_ratio"] == (min(row["ember_process_medians_s"])
                                         / min(row["torch_process_medians_s"]))
    assert row["ember_peak_mb"] >= 0 and row["torch_peak_mb"] >= 0


def test_a_classical_workload_runs_against_its_reference_library(tmp_path):
    """The classical-vision workloads compare Ember with scipy / scikit-learn / scikit-image:
    the row names the other side and keys its figures by that library's name."""
    pytest.importorskip("skimage")
    out = tmp_path / "result.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--only", "hog_256_vs_skimage",
         "--output", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "skimage" in proc.stdout
    report = json.loads(out.read_text())
    (row,) = report["results"]
    assert row["against"] == "skimage" and "torch_median_s" not in row
    assert row["ratio"] == row["ember_median_s"] / row["skimage_median_s"]
    assert row["skimage_peak_mb"] >= 0 and report["machine"]["skimage"]


def test_unknown_workload_is_rejected_by_name():
    proc = subprocess.run([sys.executable, "-m", "benchmarks.run", "--only", "no_such_net"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "no_such_net" in proc.stderr and "mlp_b128_train" in proc.stderr


_FAULTS = r"""
import resource, numpy as np, ember
from ember.autograd.function import MALLOC_TUNED
a = np.ones(1 << 18, np.float32); del a
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    a = np.ones(1 << 18, np.float32); del a
print(MALLOC_TUNED, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(env):
    proc = subprocess.run([sys.executable, "-c", _FAULTS], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    tuned, faults = proc.stdout.split()
    return tuned == "True", int(faults)


def test_importing_ember_keeps_freed_memory_unless_malloc_is_tuned_by_the_user():
    """glibc: 1 MB arrays allocated again and again are not page-faulted in each time after
    ``import ember``; a user's own ``MALLOC_*_`` setting is left alone."""
    try:
        glibc = os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc")
    except (AttributeError, ValueError, OSError):
        glibc = False
    if not glibc:
        pytest.skip("the allocator setting applies to glibc only")
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("MALLOC_") or k == "GLIBC_TUNABLES")}
    tuned, faults = _faults(env)
    assert tuned and faults < 100
    tuned, faults = _faults(dict(env, MALLOC_MMAP_THRESHOLD_="131072"))
    assert not tuned and faults > 2000     # 20 fresh arrays of 256 pages, faulted in


@pytest.mark.skipif(__import__("ember").kernels.compiled() is None,
                    reason="the direct convolution needs the compiled kernels")
def test_conv_algorithms_direct_error_reports_every_algorithm_that_applies(capsys, monkeypatch):
    """``python -m benchmarks.conv_algorithms --direct --error`` (batch 4, so cheap): one line
    per algorithm that applies to each shape, the direct convolution among them, every float32
    error small; the policies are restored afterwards."""
    from benchmarks import conv_algorithms
    from ember.ops import _direct as dc
    from ember.ops import _winograd as wg
    monkeypatch.setattr(conv_algorithms, "DIRECT_SHAPES", conv_algorithms.DIRECT_SHAPES[:2] + [
        ("16->16 3x3, 8x8, b32", (32, 16, 8, 8), 16, 3, 1)])
    conv_algorithms.main(["--direct", "--error"])
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[1:]]
    algorithms = [row[-4] for row in rows]
    assert algorithms.count("direct") == 3 and algorithms.count("im2col") == 3
    assert algorithms.count("winograd") == 1
    assert all(0 < float(e) < 1e-5 for row in rows for e in row[-3:])
    assert dc.POLICY == wg.POLICY == "auto"
