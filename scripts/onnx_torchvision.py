"""Every classification model of torchvision, exported by ``torch.onnx.export`` (batch
dynamic, traced at batch 2 since torch.export fixes a size-1 axis, 224x224) and run by
``ember.onnx.load`` at batch 3 against torch's own forward.
Prints one row per model with the ONNX operators it uses and the largest difference
relative to the output scale (the target is <= 1e-4).

    python scripts/onnx_torchvision.py [MODEL ...]   # default: all (an hour or more)

Needs torch, torchvision (``pip install --no-deps torchvision==0.28.0``) and onnxscript;
models with more than 300M parameters are skipped unless named.
"""
import collections
import os
import sys
import tempfile
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIZES = {"inception_v3": 299}
LARGE = 300_000_000


def import_torchvision():
    import torch
    original = torch.library.register_fake
    # torchvision 0.28's wheel registers fake kernels for compiled ops this CPU build lacks
    torch.library.register_fake = lambda *args, **kwargs: (lambda fn: fn)
    try:
        import torchvision
    finally:
        torch.library.register_fake = original
    return torch, torchvision


def check(torch, torchvision, name, folder):
    import onnx

    import ember
    import ember.onnx
    torch.manual_seed(0)
    model = torchvision.models.get_model(name, weights=None).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim >= 2 and not p.any():      # zero-initialized heads (ViT) would make the
                p.normal_(0, 0.02)               # output zero and the comparison empty
    params = sum(p.numel() for p in model.parameters())
    size = SIZES.get(name, 224)
    path = os.path.join(folder, f"{name}.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(2, 3, size, size),), path, input_names=["x"],
                          dynamic_axes={"x": {0: "batch"}}, dynamo=True, verbose=False)
    ops = collections.Counter(n.op_type for n in onnx.load(path, load_external_data=False)
                              .graph.node)
    x = np.random.default_rng(1).normal(size=(3, 3, size, size)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    start = time.perf_counter()
    imported = ember.onnx.load(path)
    with ember.no_grad():
        got = imported(ember.from_numpy(x)).numpy()
    seconds = time.perf_counter() - start
    scale = float(np.abs(expected).max())
    if scale == 0:
        raise RuntimeError("torch's output is all zeros: nothing to compare")
    diff = float(np.abs(got - expected).max() / scale)
    return params, sorted(ops), seconds, diff


def main(names):
    torch, torchvision = import_torchvision()
    explicit = bool(names)
    names = names or torchvision.models.list_models(module=torchvision.models)
    worst, failures = 0.0, []
    print(f"{'model':<20} {'params':>12} {'ember s':>8} {'vs torch':>9}  operators")
    with tempfile.TemporaryDirectory() as folder:
        for name in names:
            if not explicit:
                model = torchvision.models.get_model(name, weights=None)
                if sum(p.numel() for p in model.parameters()) > LARGE:
                    print(f"{name:<20} skipped (more than {LARGE:,} parameters)", flush=True)
                    continue
                del model
            try:
                params, ops, seconds, diff = check(torch, torchvision, name, folder)
            except Exception as e:                     # report and go on with the next model
                failures.append(name)
                print(f"{name:<20} FAILED {type(e).__name__}: {str(e).splitlines()[0][:150]}",
                      flush=True)
                continue
            worst = max(worst, diff)
            print(f"{name:<20} {params:>12,} {seconds:>8.1f} {diff:>9.1e}  {' '.join(ops)}",
                  flush=True)
            for f in os.listdir(folder):
                os.remove(os.path.join(folder, f))
    print(f"largest difference relative to the output scale: {worst:.1e} (target 1e-4); "
          f"failed: {failures or 'none'}")
    return 0 if worst <= 1e-4 and not failures else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
