"""One benchmark process: ``python -m benchmarks.worker LIB WORKLOAD WARMUP REPS``.

Imports only the library under test (``ember`` or ``torch``, never both: OpenBLAS worker
threads left spinning by NumPy slow PyTorch down; or, for the classical workloads, one of
``scipy``, ``sklearn``, ``skimage``), limits it to the thread count in
``EMBER_BENCH_THREADS`` (the runner also sets the usual ``*_NUM_THREADS`` variables before this
process starts), builds the workload, runs ``WARMUP`` untimed and ``REPS`` timed steps and
prints one JSON line: the step times in seconds (wall-clock, and CPU time of all threads), the peak resident memory above the baseline
(``ru_maxrss``, the high-water mark of this process) and the library's version and threading.

The baseline is taken after the imports and, for the network workloads, one tiny forward +
backward, so that code and modules the libraries load lazily on first use (PyTorch's
optimizer step alone pulls in ~70 MB) are not counted as memory of the workload. The
classical workloads skip that network step on both sides: it exercises nothing they use,
and their own warm-up steps load what they need.
"""
import importlib
import json
import os
import platform
import resource
import sys
import time


def _peak_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _warm_library(lib):
    """One tiny training step through every kind of layer the workloads use."""
    F = lib.nn.functional
    x = lib.ones(2, 3, 8, 8)
    conv, fc = lib.nn.Conv2d(3, 4, 3, padding=1), lib.nn.Linear(64, 5)
    params = list(conv.parameters()) + list(fc.parameters())
    opt = lib.optim.SGD(params, lr=0.01, momentum=0.9)
    y = F.max_pool2d(F.relu(F.batch_norm(conv(x), None, None, training=True)), 2)
    y = F.layer_norm(y.flatten(1), (64,))
    F.cross_entropy(fc(y), lib.zeros(2, dtype=lib.int64)).backward()
    opt.step()


REFERENCE_LIBRARIES = ("scipy", "sklearn", "skimage")


def library_info(lib_name, lib):
    info = {"python": platform.python_version()}
    if lib_name == "torch":
        info.update(torch=lib.__version__, torch_threads=lib.get_num_threads(),
                    torch_parallel=lib.__config__.parallel_info().splitlines()[:6])
        return info
    import numpy as np
    info.update({lib_name: getattr(lib, "__version__", None), "numpy": np.__version__})
    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    info["numpy_blas"] = {k: blas.get(k) for k in ("name", "version", "openblas configuration")}
    try:
        import threadpoolctl
        info["numpy_blas_runtime"] = [
            {k: p.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
            for p in threadpoolctl.threadpool_info()]
    except ImportError:
        pass
    return info


def main(argv):
    lib_name, workload, warmup, reps = argv[0], argv[1], int(argv[2]), int(argv[3])
    threads = int(os.environ.get("EMBER_BENCH_THREADS", "2"))
    if lib_name == "torch":
        import torch as lib
        import torch.nn.functional  # noqa: F401
        lib.set_num_threads(threads)
    elif lib_name == "ember":
        import ember as lib
        import ember.nn.functional  # noqa: F401
        lib.set_num_threads(threads)
    elif lib_name in REFERENCE_LIBRARIES:
        lib = importlib.import_module(lib_name)
    else:
        raise SystemExit(f"benchmarks.worker: LIB must be one of "
                         f"{('ember', 'torch') + REFERENCE_LIBRARIES}, got {lib_name!r}")
    from benchmarks.workloads import AGAINST, WORKLOADS
    if workload not in AGAINST:
        _warm_library(lib)
    baseline = _peak_bytes()
    step = WORKLOADS[workload](lib, quick=reps <= 1)
    for _ in range(warmup):
        step()
    times, cpu_times = [], []
    for _ in range(reps):
        start, cpu_start = time.perf_counter(), time.process_time()
        step()
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
    print(json.dumps({"lib": lib_name, "workload": workload, "times": times,
                      "cpu_times": cpu_times,
                      "peak_bytes": _peak_bytes() - baseline,
                      "info": library_info(lib_name, lib)}))


if __name__ == "__main__":
    main(sys.argv[1:])
