"""Every model of ``ember.vision.models`` through ONNX: export (traced at batch 2, dynamic
batch), ONNX Runtime at batch 3 against Ember's forward, and the file read back with
``ember.onnx.load``. Prints one row per model with the largest difference relative to the
output scale (the target is <= 1e-4).

    python scripts/onnx_zoo.py [MODEL ...]        # default: every model, ~20 min on 2 cores

tests/onnx/test_export.py runs the same check on small builds of each architecture family.
"""
import io
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

INPUTS = {"lenet5": (1, 32, 32), "one_vs_seven": (1, 4, 4), "alexnet_paper": (3, 227, 227),
          "resnet20": (3, 32, 32), "resnet32": (3, 32, 32), "resnet56": (3, 32, 32),
          "sample_cnn": (3, 32, 32)}


def relative(a, b):
    scale = float(np.abs(b).max())
    if scale == 0:
        raise RuntimeError("Ember's output is all zeros: nothing to compare")
    return float(np.abs(a - b).max() / scale)


def check(name):
    import onnxruntime

    import ember
    import ember.onnx
    from ember.vision import models
    ember.manual_seed(0)
    model = models.get_model(name).eval()
    shape = INPUTS.get(name, (3, 224, 224))
    start = time.perf_counter()
    buffer = io.BytesIO()
    ember.onnx.export(model, ember.randn(2, *shape), buffer, dynamic_axes={"input": [0]})
    seconds = time.perf_counter() - start
    x = np.random.default_rng(1).normal(size=(3, *shape)).astype(np.float32)
    with ember.no_grad():
        expected = model(ember.from_numpy(x)).numpy()
    session = onnxruntime.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    runtime = session.run(None, {"input": x})[0]
    with ember.no_grad():
        reloaded = ember.onnx.load(buffer.getvalue())(ember.from_numpy(x)).numpy()
    params = sum(p.numel() for p in model.parameters())
    return params, len(buffer.getvalue()), seconds, relative(runtime, expected), \
        relative(reloaded, expected)


def main(names):
    from ember.vision import models
    names = names or models.list_models()
    print(f"{'model':<18} {'params':>11} {'file MB':>8} {'export s':>8} "
          f"{'ORT vs Ember':>12} {'load vs Ember':>13}")
    worst = 0.0
    for name in names:
        params, size, seconds, ort_diff, load_diff = check(name)
        worst = max(worst, ort_diff, load_diff)
        print(f"{name:<18} {params:>11,} {size / 1e6:>8.1f} {seconds:>8.1f} {ort_diff:>12.1e} "
              f"{load_diff:>13.1e}", flush=True)
    print(f"largest difference relative to the output scale: {worst:.1e} (target 1e-4)")
    return 0 if worst <= 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
