"""Every compiled kernel (``ember.kernels``) against the NumPy code it replaces, in one process:
the same call under ``kernels.use("numpy")`` and ``kernels.use("numba")``. Kernels that do the
NumPy code's float operations in its order must equal it bit for bit (``assert_array_equal``,
which also matches NaN positions); the others are held to the float32 bound their docstring
derives. The switch itself (``EMBER_KERNELS``, lazy import, the cache directory, the one-line
notice on a cold compile) is tested in subprocesses."""
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember import kernels
from ember.ops import _im2col as ic

pytest.importorskip("numba")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _both(fn):
    """``fn()`` on NumPy alone, then on the compiled kernels."""
    with kernels.use("numpy"):
        reference = fn()
    with kernels.use("numba"):
        compiled = fn()
    return reference, compiled


def _equal(reference, compiled):
    for r, c in zip(reference, compiled):
        assert r.dtype == c.dtype and r.shape == c.shape
        np.testing.assert_array_equal(c, r)


def _special(shape, dtype, rng):
    """Random values with zeros of both signs, infinities and NaNs mixed in."""
    a = rng.standard_normal(shape).astype(dtype)
    flat = a.reshape(-1)
    picks = rng.choice(flat.size, size=min(flat.size, 12), replace=False)
    flat[picks] = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0] * 2, dtype)[:picks.size]
    return a


# ----------------------------------------------------------------------------- ReLU, GELU

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_forward_and_backward_equal_numpy(dtype):
    rng = np.random.default_rng(0)
    x = _special((3, 5, 7), dtype, rng)
    g = _special((3, 5, 7), dtype, rng)

    def run():
        t = ember.from_numpy(x.copy()).requires_grad_(True)
        y = F.relu(t)
        y.backward(ember.from_numpy(g.copy()))
        return y.detach().numpy(), t.grad.numpy()
    _equal(*_both(run))


def test_relu_of_an_integer_or_strided_tensor_stays_on_numpy():
    x = ember.tensor([[-2, 3], [4, -5]])
    with kernels.use("numba"):
        np.testing.assert_array_equal(F.relu(x).numpy(), [[0, 3], [4, 0]])
        strided = ember.from_numpy(np.arange(-6.0, 6.0, dtype=np.float32).reshape(3, 4))[:, ::2]
        np.testing.assert_array_equal(F.relu(strided).numpy(), [[0, 0], [0, 0], [2, 4]])


def _ulp_distance(a, b):
    """|a − b| in units in the last place of float32 at |b| (0 where both are equal)."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    spacing = np.spacing(np.abs(b).astype(np.float32)).astype(np.float64)
    with np.errstate(invalid="ignore"):
        return np.where(a == b, 0.0, np.abs(a - b) / spacing)


def test_exp32_is_within_one_ulp_of_float64_exp():
    from ember.kernels import mathfn
    from numba import njit

    @njit
    def apply(x, out):
        for i in range(x.shape[0]):
            out[i] = mathfn.exp32(x[i])
    x = np.linspace(-103.9, 88.7, 2_000_003, dtype=np.float32)
    out = np.empty_like(x)
    apply(x, out)
    exact = np.exp(x.astype(np.float64))
    normal = exact >= np.finfo(np.float32).tiny
    assert _ulp_distance(out, exact.astype(np.float32))[normal].max() < 1.0 + 1e-9
    # subnormal results: correctly rounded to within one subnormal step
    assert np.abs(out[~normal] - exact[~normal]).max() <= 2.0 ** -149
    special = np.array([np.inf, -np.inf, np.nan, 89.0, -104.0, 0.0], np.float32)
    out = np.empty_like(special)
    apply(special, out)
    np.testing.assert_array_equal(out, [np.inf, 0.0, np.nan, np.inf, 0.0, 1.0])


def test_exp32_normal_equals_exp32_on_its_range():
    from ember.kernels import mathfn
    from numba import njit

    @njit
    def both(x, full, normal):
        for i in range(x.shape[0]):
            full[i] = mathfn.exp32(x[i])
            normal[i] = mathfn.exp32_normal(x[i])
    floor = float(mathfn.NORMAL_FLOOR)
    x = np.concatenate([np.linspace(floor, 88.0, 2_000_003, dtype=np.float32),
                        np.array([floor, 88.0, 0.0, -0.0, 1e-30, -1e-30, -1e-45], np.float32),
                        np.nextafter(np.float32(floor), np.float32(0.0), dtype=np.float32)[None]])
    full, normal = np.empty_like(x), np.empty_like(x)
    both(x, full, normal)
    np.testing.assert_array_equal(normal, full)
    assert np.all(np.abs(full) >= np.finfo(np.float32).tiny)      # normal results throughout


def test_gelu_agrees_with_numpy_to_float32_rounding():
    """The kernel repeats ``_normal_cdf``'s float32 operations; only ``exp`` differs (within
    1.03 ulp of float64's, NumPy's within 2.3, see ember/kernels/mathfn.py), which moves Φ(−|x|)
    by at most 3.4 ulp and, through ``Φ = Φ(−|x|) + (1 − 2Φ(−|x|))``, Φ(x) by a few ulp of 1; the derivative
    ``Φ + x·φ`` likewise. Bound: 4 ulp of the value plus 4 float32 eps times the size of the
    terms summed (|x| for the output, 1 + |x|·φ(x) for the gradient)."""
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.standard_normal(20000) * 3, np.linspace(-12, 12, 4001)]).astype(
        np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)

    def run():
        t = ember.from_numpy(x.copy()).requires_grad_(True)
        y = F.gelu(t)
        y.backward(ember.from_numpy(g.copy()))
        return y.detach().numpy(), t.grad.numpy()
    (y_ref, dx_ref), (y, dx) = _both(run)
    eps = np.finfo(np.float32).eps
    assert np.all(np.abs(y - y_ref) <= 4 * np.spacing(np.abs(y_ref)) + 4 * eps * np.abs(x))
    scale = np.abs(g) * (1 + np.abs(x))
    assert np.all(np.abs(dx - dx_ref) <= 4 * np.spacing(np.abs(dx_ref)) + 4 * eps * scale)


# ----------------------------------------------------------------------------- SGD

@pytest.mark.parametrize("options", [
    dict(),
    dict(momentum=0.9),
    dict(momentum=0.9, dampening=0.3, weight_decay=1e-2),
    dict(momentum=0.8, nesterov=True, weight_decay=5e-3),
    dict(momentum=0.5, maximize=True),
    dict(weight_decay=0.1, maximize=True),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sgd_steps_equal_numpy(options, dtype):
    rng = np.random.default_rng(2)
    start = [rng.standard_normal(s).astype(dtype) for s in [(6, 4), (4,), (3, 2, 5)]]
    grads = [[rng.standard_normal(w.shape).astype(dtype) for w in start] for _ in range(4)]

    def run():
        params = [ember.from_numpy(w.copy()).requires_grad_(True) for w in start]
        opt = ember.optim.SGD(params, lr=0.05, **options)
        for step in grads:
            for p, g in zip(params, step):
                p.grad = ember.from_numpy(g.copy())
            opt.step()
        buffers = [opt.state[p]["momentum_buffer"].numpy() for p in params
                   if "momentum_buffer" in opt.state[p]]
        return [p.detach().numpy() for p in params] + buffers
    reference, compiled = _both(run)
    assert len(reference) == len(compiled)
    _equal(reference, compiled)


@pytest.mark.parametrize("options", [dict(), dict(momentum=0.9, nesterov=True, weight_decay=1e-2)])
def test_sgd_split_over_threads_equals_numpy(monkeypatch, options):
    """A large parameter is updated in blocks on Ember's threads; each element's update is the
    same, so the result is the NumPy update's bit for bit."""
    from ember.optim import sgd
    monkeypatch.setattr(sgd, "PARALLEL_MIN_ELEMENTS", 1)
    before = ember.get_num_threads()
    ember.set_num_threads(2)
    try:
        rng = np.random.default_rng(3)
        start = rng.standard_normal((37, 5)).astype(np.float32)
        grads = [rng.standard_normal(start.shape).astype(np.float32) for _ in range(3)]

        def run():
            w = ember.from_numpy(start.copy()).requires_grad_(True)
            opt = ember.optim.SGD([w], lr=0.05, **options)
            for g in grads:
                w.grad = ember.from_numpy(g.copy())
                opt.step()
            return [w.detach().numpy()]
        reference, compiled = _both(run)
        _equal(reference, compiled)
    finally:
        ember.set_num_threads(before)


def test_sgd_with_a_strided_gradient_takes_the_numpy_path():
    w = ember.zeros(3, 4, requires_grad=True)
    opt = ember.optim.SGD([w], lr=1.0, momentum=0.5)
    with kernels.use("numba"):
        for _ in range(2):
            w.grad = ember.from_numpy(np.ones((4, 3), np.float32)).t()
            opt.step()
    np.testing.assert_array_equal(w.detach().numpy(), np.full((3, 4), -2.5, np.float32))


# ----------------------------------------------------------------------------- convolution

CONV_CONFIGS = [  # (input shape, kernel, stride, padding, dilation)
    ((2, 3, 9, 8), (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1)),
    ((3, 2, 10, 11), (5, 5), (1, 1), ((2, 2), (2, 2)), (1, 1)),
    ((2, 4, 12, 9), (3, 2), (2, 3), ((1, 1), (0, 2)), (1, 2)),
    ((1, 2, 7, 7), (4, 4), (3, 2), ((3, 3), (3, 3)), (2, 1)),
    ((2, 1, 5, 6), (2, 3), (1, 1), ((0, 1), (1, 0)), (1, 1)),   # asymmetric ('same' style)
]


def _out_size(shape, kernel, stride, padding, dilation):
    return ic.output_size(shape[2:], kernel, stride, padding, dilation)


@pytest.mark.parametrize("config", CONV_CONFIGS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_columns_equal_numpy(config, dtype):
    shape, kernel, stride, padding, dilation = config
    x = np.random.randn(*shape[:2], shape[3], shape[2]).astype(dtype).transpose(0, 1, 3, 2)
    out_size = _out_size(shape, kernel, stride, padding, dilation)
    _equal(*_both(lambda: [ic.columns(x, kernel, stride, padding, dilation, out_size).copy()]))


@pytest.mark.parametrize("config", CONV_CONFIGS)
def test_col2im_equals_numpy(config):
    shape, kernel, stride, padding, dilation = config
    out_size = _out_size(shape, kernel, stride, padding, dilation)
    padded = tuple(s + lo + hi for s, (lo, hi) in zip(shape[2:], padding))
    cols = np.random.randn(shape[1], *kernel, shape[0], *out_size).astype(np.float32)

    def run():
        out = np.full((shape[1], shape[0]) + padded, np.nan, np.float32)
        return [ic.col2im(cols, stride, dilation, out)]
    _equal(*_both(run))


@pytest.mark.parametrize("config", CONV_CONFIGS)
@pytest.mark.parametrize("groups, bias", [(1, False), (1, True), (2, False)])
def test_conv_input_grad_equals_the_plain_numpy_layout(config, groups, bias):
    """The compiled col2im + crop + transpose against ``conv_input_grad`` in its plain layout on
    NumPy: the same GEMM, then the same scatter-adds."""
    shape, kernel, stride, padding, dilation = config
    c_in = shape[1] * groups
    out_size = _out_size(shape, kernel, stride, padding, dilation)
    w = np.random.randn(4, c_in // groups, *kernel).astype(np.float32)
    dy = np.random.randn(shape[0], 4, *out_size).astype(np.float32)
    b = np.random.randn(c_in).astype(np.float32) if bias else None

    def run():
        return [ic.conv_input_grad(dy, w, groups, shape[2:], stride, padding, dilation, b,
                                   layout="plain" if kernels.backend() == "numpy" else None)]
    _equal(*_both(run))


def test_conv_forward_epilogue_equals_numpy():
    t = np.random.randn(5, 3, 4, 6).astype(np.float32)
    b = np.random.randn(5).astype(np.float32)
    _equal(*_both(lambda: [ic._to_batch_first(t, b, (3, 5, 4, 6)),
                           ic._to_batch_first(t, None, (3, 5, 4, 6))]))


@pytest.mark.parametrize("config", CONV_CONFIGS[:3])
def test_conv_layers_on_both_paths_agree(config):
    """A whole conv (forward and every gradient) on the compiled path against the NumPy path,
    which may use another layout: equal to float32 GEMM rounding (the parity tests compare
    both with torch)."""
    shape, kernel, stride, padding, dilation = config
    x = np.random.randn(*shape).astype(np.float32)
    w = np.random.randn(4, shape[1], *kernel).astype(np.float32)
    b = np.random.randn(4).astype(np.float32)
    pad = tuple(lo for lo, _ in padding)

    def run():
        ts = [ember.from_numpy(a.copy()).requires_grad_(True) for a in (x, w, b)]
        y = F.conv2d(*ts, stride=stride, padding=pad, dilation=dilation)
        y.backward(ember.ones_like(y))
        return [y.detach().numpy()] + [t.grad.numpy() for t in ts]
    for r, c in zip(*_both(run)):
        np.testing.assert_allclose(c, r, rtol=1e-5, atol=1e-5 * max(1, np.abs(r).max()))


def test_fold_uses_the_compiled_col2im():
    cols = np.random.randn(2, 3 * 2 * 2, 21).astype(np.float32)
    _equal(*_both(lambda: [F.fold(ember.from_numpy(cols), (5, 6), 2, stride=(2, 1),
                                  padding=1).numpy()]))


# ----------------------------------------------------------------------------- max pooling

POOL_CONFIGS = [  # (input shape, kernel, stride, padding, dilation, ceil_mode)
    ((2, 3, 8, 8), 2, 2, 0, 1, False),            # the lectures' 2x2/2: tiled
    ((2, 3, 9, 7), 2, 2, 0, 1, False),            # tiled, a row and a column left over
    ((2, 2, 9, 10), 3, 3, 0, 1, False),           # tiled 3x3 (the general tiled loop)
    ((2, 2, 9, 9), 3, 2, 1, 1, False),            # overlapping windows, padding
    ((1, 2, 10, 9), (3, 2), (2, 1), (1, 1), (2, 1), True),
    ((3, 8, 7), 3, 1, 1, 1, True),                # unbatched
]


@pytest.mark.parametrize("config", POOL_CONFIGS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool_equals_numpy(config, dtype):
    shape, kernel, stride, padding, dilation, ceil = config
    rng = np.random.default_rng(3)
    x = _special(shape, dtype, rng)
    x.reshape(-1)[5:9] = x.reshape(-1)[9]            # ties: the first maximum wins
    x.reshape(-1)[20:30] = -np.inf                   # a window of -inf only
    g = rng.standard_normal(
        F.max_pool2d(ember.from_numpy(x), kernel, stride, padding, dilation, ceil).shape
    ).astype(dtype)
    g.reshape(-1)[0] = np.inf                        # reaches every cell of its window

    def run():
        t = ember.from_numpy(x.copy()).requires_grad_(True)
        y, idx = F.max_pool2d(t, kernel, stride, padding, dilation, ceil, return_indices=True)
        y.backward(ember.from_numpy(g.copy()))
        return y.detach().numpy(), idx.numpy(), t.grad.numpy()
    _equal(*_both(run))


def test_max_pool_split_over_threads_equals_numpy(monkeypatch):
    from ember import _parallel
    monkeypatch.setattr(_parallel, "PARALLEL_MIN_ELEMENTS", 1)
    x = np.random.randn(6, 3, 8, 8).astype(np.float32)

    def run():
        t = ember.from_numpy(x.copy()).requires_grad_(True)
        y = F.max_pool2d(t, 3, 2, 1)
        y.sum().backward()
        return y.detach().numpy(), t.grad.numpy()
    _equal(*_both(run))


# ----------------------------------------------------------------------------- the switch

def _python(code, **env):
    full = dict(os.environ, PYTHONPATH=ROOT, **env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=full, cwd=ROOT, timeout=600)


def test_import_ember_does_not_import_numba():
    run = _python("import sys, ember; print('numba' in sys.modules)")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False"


def test_environment_variable_chooses_the_kernels():
    code = ("import ember, ember.kernels as k; ember.relu(ember.ones(2)); "
            "print(k.backend(), 'numba' in __import__('sys').modules)")
    assert _python(code, EMBER_KERNELS="numpy").stdout.split() == ["numpy", "False"]
    assert _python(code, EMBER_KERNELS="numba").stdout.split() == ["numba", "True"]
    bad = _python(code, EMBER_KERNELS="fortran")
    assert bad.returncode != 0
    assert "EMBER_KERNELS must be one of numpy, numba" in bad.stderr
    with pytest.raises(ValueError, match="expected one of"):
        kernels.set_backend("cuda")


def test_cold_compile_prints_one_line_and_caches_in_the_user_directory(tmp_path):
    code = ("import numpy as np, ember.kernels as k; "
            "k.compiled().activation.relu_forward(np.ones(3), np.empty(3)); "
            "k.compiled().activation.relu_backward(np.ones(3), np.ones(3), np.empty(3))")
    cold = _python(code, EMBER_CACHE_DIR=str(tmp_path), EMBER_KERNELS="numba")
    assert cold.returncode == 0, cold.stderr
    notices = [line for line in cold.stderr.splitlines() if line.startswith("ember:")]
    assert len(notices) == 1 and "compiling the Numba kernels" in notices[0]
    assert str(tmp_path) in notices[0]
    cached = [f for _, _, files in os.walk(tmp_path) for f in files]
    assert any(f.startswith("activation.relu_forward") for f in cached)
    warm = _python(code, EMBER_CACHE_DIR=str(tmp_path), EMBER_KERNELS="numba")
    assert warm.returncode == 0 and "ember:" not in warm.stderr
    package = os.path.join(ROOT, "ember", "kernels")
    in_package = [f for _, _, files in os.walk(package) for f in files
                  if f.endswith((".nbi", ".nbc"))]
    assert in_package == []


# ----------------------------------------------------------------------------- rows (float32)

U32 = 2.0 ** -24


def _row_bound(n):
    """The relative bound of ``ember/kernels/rows.py`` for a row of ``n``: a float32 sum of
    ``n`` terms moves by at most ``(n − 1)·u`` relative to the sum of their magnitudes in any
    order, for each of the two sums compared; each exponential differs by at most 3.4 ulp
    (≤ 2·3.4·u), and a division, log or product adds an ulp: ``(2n + 24)·u``."""
    return (2 * n + 24) * U32


def _assert_within(got, expected, scale, what):
    err = np.abs(got.astype(np.float64) - expected.astype(np.float64))
    assert np.all(err <= scale), f"{what}: max excess {np.max(err - scale)}"


def _lanes_reference(values):
    """The sum and the max of ``values`` in the order ``ember.kernels.lanes`` defines: 16 lanes
    (lane j takes elements j, j + 16, ...; NumPy's reduction over axis 0 of a (blocks, 16) array
    adds block after block), the lanes added pairwise, then the tail one by one."""
    blocks = values.size // 16
    lanes = np.add.reduce(values[:16 * blocks].reshape(blocks, 16), axis=0) if blocks else \
        np.zeros(16, np.float32)
    while lanes.size > 1:
        lanes = lanes[0::2] + lanes[1::2]
    total = lanes[0]
    for v in values[16 * blocks:]:
        total = np.float32(total + v)
    return total, np.max(values) if values.size else np.float32(-np.inf)


@pytest.mark.parametrize("n", [0, 1, 15, 16, 17, 31, 65, 1000])
def test_lane_sum_max_and_min_follow_their_stated_order_bit_for_bit(n):
    from numba import njit
    from ember.kernels import lanes

    @njit
    def apply(values, rows, n, sums, maxima, minima):
        for r in range(rows):
            sums[r] = lanes.run_sum(values, np.uint64(r * n), n)
            maxima[r] = lanes.run_max(values, np.uint64(r * n), n)
            minima[r] = lanes.run_min(values, np.uint64(r * n), n)
    rng = np.random.default_rng(n)
    x = (rng.standard_normal((3, n)) * 100).astype(np.float32)
    sums, maxima, minima = (np.empty(3, np.float32) for _ in range(3))
    apply(x.reshape(-1), 3, n, sums, maxima, minima)
    for r in range(3):
        total, top = _lanes_reference(x[r])
        assert sums[r] == total and maxima[r] == top
        assert minima[r] == (x[r].min() if n else np.inf)
    if n:       # a NaN anywhere in the run (a lane or the tail) gives NaN, as np.max
        for at in {0, n // 2, n - 1}:
            y = x.copy()
            y[1, at] = np.nan
            apply(y.reshape(-1), 3, n, sums, maxima, minima)
            assert np.isnan(maxima[1]) and np.isnan(sums[1]) and np.isnan(minima[1])
            assert maxima[0] == x[0].max() and maxima[2] == x[2].max()
            assert minima[0] == x[0].min() and minima[2] == x[2].min()
        y = np.full((3, n), -np.inf, np.float32)
        apply(y.reshape(-1), 3, n, sums, maxima, minima)
        assert np.all(maxima == -np.inf) and np.all(sums == -np.inf)


def test_cross_entropy_gradient_kernel_equals_numpy_bit_for_bit(monkeypatch):
    from ember.ops import loss
    rng = np.random.default_rng(9)
    x = (rng.standard_normal((300, 37)) * 3).astype(np.float32)
    target = rng.integers(0, 37, 300)
    target[::7] = 5
    # the same softmax numerators on both paths, so that only the backward pass is compared
    p = np.exp(x - x.max(axis=1, keepdims=True))
    monkeypatch.setattr(loss, "_shifted_exp", lambda a: (a.max(axis=1, keepdims=True), p.copy(),
                                                         p.sum(axis=1, keepdims=True)))
    monkeypatch.setattr(loss, "_one_pass_rows", lambda *args: None)     # the same forward
    monkeypatch.setattr(loss, "CE_PARALLEL_MIN_ELEMENTS", 1)     # blocks of rows on threads

    def run(**kw):
        t = ember.from_numpy(x.copy()).requires_grad_(True)
        F.cross_entropy(t, ember.from_numpy(target.copy()), **kw).backward()
        return [t.grad.numpy()]
    for kw in (dict(), dict(ignore_index=5), dict(reduction="sum")):
        _equal(*_both(lambda: run(**kw)))


@pytest.mark.parametrize("case", ["ignored rows", "all ignored", "one sample", "strided target",
                                  "special logits"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_one_pass_cross_entropy_matches_numpy_on_edge_cases(case, reduction):
    """The one-call forward (``rows.cross_entropy_forward``) against the NumPy code: ignored
    targets (an all-ignored mean is 0/0 = NaN on both), an unbatched sample, a strided target
    and rows with inf/NaN logits; the same inf and NaN as NumPy, else within the row bound."""
    rng = np.random.default_rng(11)
    x = (rng.standard_normal((9, 6)) * 3).astype(np.float32)
    target = rng.integers(0, 6, 18)[::2]
    kw = dict(reduction=reduction)
    if case == "ignored rows":
        target[[1, 4]] = 2
        kw["ignore_index"] = 2
    elif case == "all ignored":
        target[:] = -100
    elif case == "one sample":
        x, target = x[0], np.array(target[0])
    elif case == "special logits":
        x[2, 1], x[3, 0], x[5, 4] = np.inf, np.nan, -np.inf
    else:
        assert not target.flags.c_contiguous

    def run():
        t = ember.from_numpy(x.copy()).requires_grad_(True)
        out = F.cross_entropy(t, ember.from_numpy(target.copy() if case != "strided target"
                                                  else target), **kw)
        out.backward(ember.ones_like(out))
        return out.detach().numpy(), t.grad.numpy()
    for ref, got in zip(*_both(run)):
        assert ref.shape == got.shape and ref.dtype == got.dtype
        finite = np.isfinite(ref)
        np.testing.assert_array_equal(got[~finite], ref[~finite])     # inf, -inf and NaN
        _assert_within(got[finite], ref[finite],
                       4 * _row_bound(6) * 9 * np.maximum(1, np.abs(ref[finite])), case)


@pytest.mark.parametrize("shape", [(3, 5, 4, 6), (2, 4, 7)])
@pytest.mark.parametrize("kw", [dict(), dict(ignore_index=2, reduction="none"),
                                dict(reduction="sum"), dict(label_smoothing=0.2),
                                dict(weight=True)])
def test_per_pixel_cross_entropy_agrees_with_numpy_to_float32_rounding(shape, kw):
    """Logits (N, C, d1, ...): the forward over the class axis in one kernel call per block of
    samples (``cross_entropy_planes_forward``; with class weights or label smoothing the
    forward stays NumPy's) and the input gradient (``cross_entropy_planes_backward``), with
    inf and NaN logits at some pixels of the unreduced loss."""
    from ember.ops import loss
    rng = np.random.default_rng(13)
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    if kw.get("reduction") == "none":   # elsewhere they would make the reduced loss NaN
        x[0, 1, 0], x[-1, 0, -1] = np.inf, np.nan
    target = rng.integers(0, shape[1], (shape[0],) + shape[2:])
    kw = dict(kw)
    if kw.pop("weight", False):
        kw["weight"] = ember.from_numpy(rng.uniform(0.5, 2, shape[1]).astype(np.float32))

    def run():
        loss.CE_PARALLEL_MIN_ELEMENTS, before = 1, loss.CE_PARALLEL_MIN_ELEMENTS   # blocks
        try:
            t = ember.from_numpy(x.copy()).requires_grad_(True)
            out = F.cross_entropy(t, ember.from_numpy(target.copy()), **kw)
            out.backward(ember.ones_like(out))
        finally:
            loss.CE_PARALLEL_MIN_ELEMENTS = before
        return out.detach().numpy(), t.grad.numpy()
    items = target.size
    bound = 4 * _row_bound(shape[1])
    per_item = 1 / items if kw.get("reduction", "mean") == "mean" else 1
    (loss_ref, dx_ref), (got, dx) = _both(run)
    for ref, value, scale, what in ((loss_ref, got, np.maximum(1, np.abs(loss_ref)), "loss"),
                                    (dx_ref, dx, np.abs(dx_ref) + 2 * per_item, "gradient")):
        assert ref.shape == value.shape and ref.dtype == value.dtype
        finite = np.isfinite(ref)
        np.testing.assert_array_equal(value[~finite], ref[~finite])    # inf, -inf and NaN
        # a loss item is lse − x_t ≥ 0 (a sum or mean of them is within the bound relative to
        # its size); a gradient element is g·(A·softmax − a), |g·A| and |g·a| at most twice
        # the per-item weight
        _assert_within(value[finite], ref[finite], bound * np.broadcast_to(scale, ref.shape)[finite],
                       what)


@pytest.mark.parametrize("shape", [(7, 65), (3, 4, 1000), (5, 3)])
def test_softmax_and_log_softmax_agree_with_numpy_to_float32_rounding(shape):
    rng = np.random.default_rng(5)
    x = (rng.standard_normal(shape) * 4).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    n = shape[-1]
    bound = _row_bound(n)

    def run(fn):
        t = ember.from_numpy(x.copy()).requires_grad_(True)
        y = fn(t, dim=-1)
        y.backward(ember.from_numpy(g.copy()))
        return y.detach().numpy(), t.grad.numpy()
    (y_ref, dx_ref), (y, dx) = _both(lambda: run(F.softmax))
    assert not np.array_equal(y, y_ref) or not np.array_equal(dx, dx_ref) or n < 8
    _assert_within(y, y_ref, bound * y_ref + 1e-37, "softmax")
    magnitude = np.abs(g * y_ref) + y_ref * np.sum(np.abs(g * y_ref), axis=-1, keepdims=True)
    _assert_within(dx, dx_ref, 4 * bound * magnitude + 1e-37, "softmax grad")
    (y_ref, dx_ref), (y, dx) = _both(lambda: run(F.log_softmax))
    _assert_within(y, y_ref, bound * (1 + np.abs(y_ref)), "log_softmax")
    magnitude = np.abs(g) + np.exp(y_ref) * np.sum(np.abs(g), axis=-1, keepdims=True)
    _assert_within(dx, dx_ref, 4 * bound * magnitude, "log_softmax grad")


def test_softmax_special_values_match_numpy():
    # rows with inf or NaN, and rows reaching more than 87 below their maximum (the exact
    # exponential; results down to subnormals and zero)
    x = np.array([[1.0, np.nan, 2.0], [-np.inf, 0.0, 1.0], [np.inf, 1.0, 2.0],
                  [-np.inf, -np.inf, -np.inf], [-100.0, 0.0, 5.0], [-90.0, 0.0, -87.5],
                  [-87.0, 0.0, 0.5]], np.float32)
    reference, compiled = _both(lambda: [F.softmax(ember.from_numpy(x.copy()), dim=1).numpy(),
                                         F.log_softmax(ember.from_numpy(x.copy()), dim=1).numpy()])
    for r, c in zip(reference, compiled):
        np.testing.assert_array_equal(np.isnan(c), np.isnan(r))
        np.testing.assert_allclose(c, r, rtol=_row_bound(3), atol=0)


def test_softmax_on_another_axis_or_with_a_temperature_stays_on_numpy():
    x = np.random.randn(4, 6).astype(np.float32)
    reference, compiled = _both(lambda: [F.softmax(ember.from_numpy(x.copy()), dim=0).numpy(),
                                         F.softmin(ember.from_numpy(x.copy()), dim=1).numpy()])
    _equal(reference, compiled)


@pytest.mark.parametrize("kw", [dict(), dict(label_smoothing=0.1, reduction="none"),
                                dict(ignore_index=3, reduction="sum")])
def test_cross_entropy_agrees_with_numpy_to_float32_rounding(kw, monkeypatch):
    from ember.ops import loss
    monkeypatch.setattr(loss, "CE_PARALLEL_MIN_ELEMENTS", 1)     # blocks of rows on threads
    rng = np.random.default_rng(6)
    x = (rng.standard_normal((64, 100)) * 3).astype(np.float32)
    target = rng.integers(0, 100, 64)

    def run():
        t = ember.from_numpy(x.copy()).requires_grad_(True)
        out = F.cross_entropy(t, ember.from_numpy(target.copy()), **kw)
        out.backward(ember.ones_like(out))
        return out.detach().numpy(), t.grad.numpy()
    (loss_ref, dx_ref), (got, dx) = _both(run)
    bound = _row_bound(100)
    # a loss item is lse − x_t (lse = max + log Σ); a summed loss adds 64 of them
    _assert_within(got, loss_ref, 4 * bound * np.maximum(1, np.abs(loss_ref)) * 64, "loss")
    # dx = g·(A·softmax − a): the size of its two terms (a: the one-hot and ε/C parts)
    e = np.exp(x - x.max(axis=1, keepdims=True).astype(np.float64))
    terms = e / e.sum(axis=1, keepdims=True) + 0.01
    terms[np.arange(64), target] += 1
    per_item = 1 / 64 if kw.get("reduction", "mean") == "mean" else 1
    _assert_within(dx, dx_ref, 4 * bound * terms * per_item, "grad")


@pytest.mark.parametrize("causal", [False, True])
def test_attention_softmax_agrees_with_numpy_to_float32_rounding(causal):
    rng = np.random.default_rng(8)
    q, k, v, g = (rng.standard_normal((2, 3, 65, 16)).astype(np.float32) for _ in range(4))

    def run():
        leaves = [ember.from_numpy(a.copy()).requires_grad_(True) for a in (q, k, v)]
        out = F.scaled_dot_product_attention(*leaves, is_causal=causal)
        out.backward(ember.from_numpy(g.copy()))
        return [out.detach().numpy()] + [t.grad.numpy() for t in leaves]
    reference, compiled = _both(run)
    assert not all(np.array_equal(r, c) for r, c in zip(reference, compiled))
    # the softmax rows differ by the row bound (relative); each output sums 65 products of
    # weights and unit-normal values (and the gradients two such products in a chain)
    bound = _row_bound(65)
    scale = [np.abs(r).max() for r in reference]
    for r, c, size, what in zip(reference, compiled, scale, ("out", "dq", "dk", "dv")):
        _assert_within(c, r, 8 * 65 * bound * max(size, 1.0), what)


def test_wide_vectors_are_allowed_only_where_the_user_left_numba_alone(monkeypatch):
    from numba.core import config
    import llvmlite.binding as llvm
    from ember.kernels import _jit
    monkeypatch.setattr(config, "CPU_NAME", None)
    monkeypatch.setattr(config, "CPU_FEATURES", "+sse2")        # the user's choice stays
    _jit._allow_wide_vectors()
    assert config.CPU_FEATURES == "+sse2"
    monkeypatch.setattr(config, "CPU_FEATURES", None)
    _jit._allow_wide_vectors()
    host = llvm.get_host_cpu_features().flatten()
    if "+avx512f" in host.split(","):
        assert config.CPU_FEATURES == host + ",-prefer-256-bit"
    else:
        assert config.CPU_FEATURES is None


NORMS = {
    "batch_norm": lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
    "layer_norm": lambda x, w, b: F.layer_norm(x, x.shape[-1:], w, b),
    "group_norm": lambda x, w, b: F.group_norm(x, 2, w, b),
    "instance_norm": lambda x, w, b: F.instance_norm(x, weight=w, bias=b),
}


@pytest.mark.parametrize("name", NORMS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_normalizations_agree_with_numpy_to_rounding(name, dtype):
    """``ember/kernels/norm.py``: only the sums over a channel's M elements differ in order,
    each by at most ``(M − 1)·u`` relative to the sum of the magnitudes of its terms; through
    σ⁻¹ and the backward's formula that bounds every result by ``4·(M + 8)·u`` times the size
    of the terms that make it (computed here in float64)."""
    rng = np.random.default_rng(7)
    shape = (4, 6, 5, 7) if name != "layer_norm" else (3, 5, 33)
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    size = shape[-1] if name == "layer_norm" else shape[1]
    w = (rng.standard_normal(size) + 2).astype(dtype)
    b = rng.standard_normal(size).astype(dtype)

    def run():
        ts = [ember.from_numpy(a.copy()).requires_grad_(True) for a in (x, w, b)]
        y = NORMS[name](*ts)
        y.backward(ember.from_numpy(g.copy()))
        return [y.detach().numpy()] + [t.grad.numpy() for t in ts]
    (y_ref, dx_ref, dw_ref, db_ref), (y, dx, dw, db) = _both(run)
    u = np.finfo(dtype).eps / 2
    # the standardized slices, in float64: layer norm's rows, the others' (sample, group) or
    # channel blocks
    if name == "layer_norm":
        view, axes, affine = x.reshape(-1, shape[-1]), (1,), (1, -1)
    elif name == "batch_norm":
        view, axes, affine = np.moveaxis(x, 1, 0).reshape(shape[1], -1), (1,), None
    elif name == "group_norm":
        view, axes, affine = x.reshape(shape[0] * 2, -1), (1,), None
    else:
        view, axes, affine = x.reshape(shape[0] * shape[1], -1), (1,), None
    m = view.shape[1]
    v64 = view.astype(np.float64)
    sigma = np.sqrt(v64.var(axis=1, keepdims=True) + 1e-5)
    xhat = ((v64 - v64.mean(axis=1, keepdims=True)) / sigma)
    g_view = {"layer_norm": lambda a: a.reshape(-1, shape[-1]),
              "batch_norm": lambda a: np.moveaxis(a, 1, 0).reshape(shape[1], -1),
              "group_norm": lambda a: a.reshape(shape[0] * 2, -1),
              "instance_norm": lambda a: a.reshape(shape[0] * shape[1], -1)}[name]
    dyv = g_view(g).astype(np.float64)
    if name == "layer_norm":
        dyv = dyv * w                              # the upstream of the standardization
    mean_dy = np.abs(dyv).mean(axis=1, keepdims=True)
    mean_dy_xhat = np.abs(dyv * xhat).mean(axis=1, keepdims=True)
    k = 4 * (m + 8) * u
    terms_dx = (mean_dy + np.abs(xhat) * mean_dy_xhat) / sigma
    if name == "batch_norm":
        terms_dx = terms_dx * np.abs(w)[:, None]
    _assert_within(g_view(dx), g_view(dx_ref), k * (np.abs(g_view(dx_ref)) + terms_dx), "dx")
    _assert_within(y, y_ref, k * (np.abs(y_ref) + np.abs(b).max() + np.abs(w).max()), "y")
    _assert_within(dw, dw_ref, k * np.abs(g).sum() * np.abs(xhat).max(), "dw")
    _assert_within(db, db_ref, k * np.abs(g).sum(), "db")


# ----------------------------------------------------------------------------- LSTM, GRU steps

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("packed", [False, True])
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_recurrent_steps_equal_numpy_bit_for_bit(kind, dtype, packed):
    """The compiled gate arithmetic (``ember.kernels.recurrent``) against the NumPy steps of
    ``LSTMLayer`` and ``GRULayer``: outputs, final states and every gradient, two layers, both
    directions, upstream gradients on the outputs and on the final states, and a packed batch
    whose sequences end at different steps."""
    from ember.nn.utils import rnn as rnn_utils
    rng = np.random.default_rng(12)
    x = rng.standard_normal((6, 4, 5)).astype(dtype)
    h0 = rng.standard_normal((4, 4, 7)).astype(dtype)
    c0 = rng.standard_normal((4, 4, 7)).astype(dtype)
    gy = rng.standard_normal((6, 4, 14)).astype(dtype)

    def run():
        ember.manual_seed(0)
        layer = getattr(ember.nn, kind)(5, 7, num_layers=2, bidirectional=True,
                                        dtype=getattr(ember, np.dtype(dtype).name))
        inp = ember.from_numpy(x.copy()).requires_grad_(True)
        states = [ember.from_numpy(a.copy()).requires_grad_(True)
                  for a in ((h0, c0) if kind == "LSTM" else (h0,))]
        state = tuple(states) if kind == "LSTM" else states[0]
        if packed:
            out, final = layer(rnn_utils.pack_padded_sequence(inp, [6, 5, 3, 1]), state)
            y, _ = rnn_utils.pad_packed_sequence(out)
        else:
            y, final = layer(inp, state)
        finals = final if kind == "LSTM" else (final,)
        loss = (y * ember.from_numpy(gy)).sum() + (finals[0] * finals[0]).sum()
        if kind == "LSTM":
            loss = loss + (finals[1] * 0.5).sum()
        loss.backward()
        return ([y.detach().numpy()] + [f.detach().numpy() for f in finals]
                + [inp.grad.numpy()] + [s.grad.numpy() for s in states]
                + [p.grad.numpy() for p in layer.parameters()])
    reference, compiled = _both(run)
    states = 2 if kind == "LSTM" else 1
    assert len(reference) == len(compiled) == 2 + 2 * states + 16
    _equal(reference, compiled)
