"""What deployment with ONNX Runtime buys: inference of an exported model in ONNX Runtime vs
Ember's own forward (``no_grad``, eval mode), on the same inputs, in one process.

    python -m benchmarks.onnx_runtime [--rounds 5] [--threads 2] [--only lenet5_b64]

Each workload exports the model with ``ember.onnx.export`` (dynamic batch), checks that both
sides agree (within 1e-4 of the output scale), then alternates Ember and ONNX Runtime for
``--rounds`` rounds of ``reps`` timed calls each after warm-up calls, both limited to the same
number of threads (``ember.set_num_threads``; ONNX Runtime's ``intra_op_num_threads``). The
table gives the median time per call of each side and the ratio Ember / ONNX Runtime (how
many times faster ONNX Runtime is); ``benchmarks/results/onnx_runtime.json`` keeps the
numbers with the machine and versions. On a shared machine read the ratio, not the times.
"""
import argparse
import io
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results", "onnx_runtime.json")

# name: (model builder name, keyword arguments, input shape, timed calls per round)
WORKLOADS = {
    "lenet5_b64": ("lenet5", {"padded": True}, (64, 1, 28, 28), 40),
    "lenet5_b256": ("lenet5", {"padded": True}, (256, 1, 28, 28), 15),
    "resnet18_b4_224": ("resnet18", {}, (4, 3, 224, 224), 3),
}


def timed(fn, reps):
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def run(name, rounds, threads):
    import onnxruntime

    import ember
    import ember.onnx
    from ember.vision import models
    builder, kwargs, shape, reps = WORKLOADS[name]
    ember.manual_seed(0)
    model = models.get_model(builder, **kwargs).eval()
    buffer = io.BytesIO()
    ember.onnx.export(model, ember.randn(*shape), buffer, dynamic_axes={"input": [0]})
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(buffer.getvalue(), options,
                                           providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    tensor = ember.from_numpy(x)

    def ember_forward():
        with ember.no_grad():
            return model(tensor).numpy()

    def ort_forward():
        return session.run(None, {"input": x})[0]

    expected, got = ember_forward(), ort_forward()
    diff = float(np.abs(got - expected).max() / np.abs(expected).max())
    assert diff <= 1e-4, f"{name}: ONNX Runtime differs from Ember by {diff:.1e}"
    sides = {"ember": [], "onnxruntime": []}
    for _ in range(rounds):
        for side, fn in (("ember", ember_forward), ("onnxruntime", ort_forward)):
            timed(fn, 2)                                             # warm-up
            sides[side] += timed(fn, reps)
    ember_ms = statistics.median(sides["ember"]) * 1e3
    ort_ms = statistics.median(sides["onnxruntime"]) * 1e3
    return {"workload": name, "input": list(shape), "ember_ms": ember_ms, "onnxruntime_ms": ort_ms,
            "ratio": ember_ms / ort_ms, "max_relative_difference": diff,
            "calls": {k: len(v) for k, v in sides.items()}}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--only", action="append", choices=sorted(WORKLOADS))
    args = parser.parse_args(argv)
    import onnxruntime

    import ember
    ember.set_num_threads(args.threads)
    rows = [run(name, args.rounds, args.threads) for name in (args.only or WORKLOADS)]
    print(f"{'workload':<18} {'Ember ms':>9} {'ORT ms':>9} {'Ember/ORT':>9}")
    for row in rows:
        print(f"{row['workload']:<18} {row['ember_ms']:>9.2f} {row['onnxruntime_ms']:>9.2f} "
              f"{row['ratio']:>9.2f}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    info = {"threads": args.threads, "rounds": args.rounds, "load_1min": load,
            "machine": platform.machine(), "cores": os.cpu_count(),
            "python": platform.python_version(), "numpy": np.__version__,
            "onnxruntime": onnxruntime.__version__, "ember": ember.__version__}
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as f:
        json.dump({"machine": info, "results": rows}, f, indent=1)
    print(f"threads {args.threads}, 1-minute load {load}; results in {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
