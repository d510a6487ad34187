"""Ember without Numba (the ``fast`` extra not installed): a child process in which ``import
numba`` fails trains a small network that reaches every op with a compiled kernel (conv, ReLU,
GELU, max-pool, batch/layer norm, softmax, log-softmax, cross-entropy, SGD) and must get
exactly what a child gets on ``EMBER_KERNELS=numpy``; asking for the kernels explicitly
is a clear error. Runs whether or not Numba is installed."""
import os
import subprocess
import sys

import numpy as np

from ember import _parallel

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


def _child(code, block_numba=True, **env):
    """Run ``code`` in a fresh interpreter (``import numba`` failing if ``block_numba``), with
    this process's thread count and ``env`` (EMBER_KERNELS unset unless given)."""
    full = dict(os.environ, PYTHONPATH=ROOT, EMBER_NUM_THREADS=str(_parallel.get_num_threads()))
    full.pop("EMBER_KERNELS", None)
    full.update(env)
    code = (BLOCK_NUMBA if block_numba else "") + code
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=full, cwd=ROOT, timeout=600)


def _train_in_child(path, block_numba, **env):
    """The parameters and loss of ``TRAIN`` run in a child, with the backend it used."""
    run = _child(TRAIN + f"""
import ember.kernels as k
np.savez({str(path)!r}, *train(), backend=k.backend())
""", block_numba, **env)
    assert run.returncode == 0, run.stderr
    assert "ember:" not in run.stderr             # no compile notice, no warning
    with np.load(path) as saved:
        return str(saved["backend"]), [saved[f"arr_{i}"] for i in range(len(saved.files) - 1)]


def test_training_without_numba_equals_the_numpy_path(tmp_path):
    """Both children alike but for Numba: unimportable in one (auto), switched off in the
    other (``EMBER_KERNELS=numpy``)."""
    backend, got = _train_in_child(tmp_path / "without.npz", block_numba=True)
    assert backend == "numpy"
    backend, expected = _train_in_child(tmp_path / "numpy.npz", block_numba=False,
                                        EMBER_KERNELS="numpy")
    assert backend == "numpy" and len(got) == len(expected) > 1
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)


def test_asking_for_the_kernels_without_numba_is_a_clear_error():
    run = _child("import ember; ember.relu(ember.ones(2))", EMBER_KERNELS="numba")
    assert run.returncode != 0
    assert ("EMBER_KERNELS=numba, but Numba is not installed; install it with "
            "`pip install ember[fast]`") in run.stderr
