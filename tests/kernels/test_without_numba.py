"""Ember without Numba (the ``fast`` extra not installed): a child process in which ``import
numba`` fails trains a small network that reaches every op with a compiled kernel (conv, ReLU,
GELU, max-pool, batch/layer norm, softmax, log-softmax, cross-entropy, SGD) and must get
exactly what this process gets on ``EMBER_KERNELS=numpy``; asking for the kernels explicitly
is a clear error. Runs whether or not Numba is installed."""
import os
import subprocess
import sys

import numpy as np

from ember import _parallel, kernels

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# ``None`` in sys.modules makes ``import numba`` raise ImportError, as when it is not installed
BLOCK_NUMBA = "import sys; sys.modules['numba'] = None\n"

TRAIN = """
import numpy as np
import ember, ember.nn as nn, ember.nn.functional as F

def train():
    ember.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 5, padding=2), nn.GELU(), nn.Flatten(), nn.LayerNorm(8 * 6 * 6),
        nn.Linear(8 * 6 * 6, 10))
    opt = ember.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    rng = np.random.default_rng(1)
    x = ember.tensor(rng.standard_normal((6, 3, 12, 12)).astype(np.float32))
    y = ember.tensor(rng.integers(0, 10, size=6))
    for _ in range(2):
        opt.zero_grad()
        logits = model(x)
        loss = F.cross_entropy(logits, y) + 0.1 * F.log_softmax(logits, 1).mean() \\
            + F.softmax(logits, -1).square().mean()
        loss.backward()
        opt.step()
    return [p.detach().numpy() for p in model.parameters()] + [loss.detach().numpy()]
"""


def _child(code, **env):
    full = dict(os.environ, PYTHONPATH=ROOT, EMBER_NUM_THREADS=str(_parallel.get_num_threads()))
    full.pop("EMBER_KERNELS", None)
    full.update(env)
    return subprocess.run([sys.executable, "-c", BLOCK_NUMBA + code], capture_output=True,
                          text=True, env=full, cwd=ROOT, timeout=600)


def test_training_without_numba_equals_the_numpy_path(tmp_path):
    out = tmp_path / "params.npz"
    run = _child(TRAIN + f"""
import ember.kernels as k
arrays = train()
assert k.backend() == "numpy" and sys.modules['numba'] is None
np.savez({str(out)!r}, *arrays)
""".replace("import numpy as np", "import sys, numpy as np", 1))
    assert run.returncode == 0, run.stderr
    assert "ember:" not in run.stderr             # no compile notice, no warning
    namespace = {}
    exec(TRAIN, namespace)
    with kernels.use("numpy"):
        expected = namespace["train"]()
    with np.load(out) as got:
        assert len(got.files) == len(expected)
        for i, e in enumerate(expected):
            np.testing.assert_array_equal(got[f"arr_{i}"], e)


def test_asking_for_the_kernels_without_numba_is_a_clear_error():
    run = _child("import ember; ember.relu(ember.ones(2))", EMBER_KERNELS="numba")
    assert run.returncode != 0
    assert ("EMBER_KERNELS=numba, but Numba is not installed; install it with "
            "`pip install ember[fast]`") in run.stderr
