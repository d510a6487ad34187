"""The direct convolution of thin convs (``ember/ops/_direct.py`` on the register tiles of
``ember.kernels.tiles``): forward, input, weight and bias gradients exactly equal to a float64
conv on integer data (every sum exact, so any indexing slip shows), against torch in float32,
the float32 error against float64 within a bound derived from the sums, threads and batch
parts, the padded-plane copies bit for bit against NumPy, and which convs qualify."""
import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember import _parallel, kernels
from ember.ops import _direct as dc
from ember.ops import _winograd as wg
from tests.harness import check_parity

pytestmark = pytest.mark.skipif(kernels.compiled() is None,
                                reason="the direct convolution needs the compiled kernels")

CASES = [  # (input shape, C_out, kernel, padding, dilation)
    ((2, 6, 14, 14), 16, (5, 5), 0, 1),          # LeNet-5's conv2
    ((3, 1, 28, 28), 6, (5, 5), 2, 1),           # LeNet-5's conv1
    ((2, 3, 9, 11), 7, (3, 2), (1, 0), 1),       # 4 + 3 output channels, 6-tap kernel
    ((2, 5, 13, 10), 9, (3, 3), (2, 1), (2, 1)),  # 4 + 4 + 1 channels, dilated
    ((1, 2, 5, 6), 2, (2, 3), (0, 2), 1),        # 2 channels, taps not a multiple of 4
    ((2, 4, 8, 8), 5, (1, 1), 0, 1),             # 1x1 kernel
    ((1, 1, 1, 1), 1, (1, 1), 0, 1),             # one value
    ((4, 3, 17, 19), 12, (3, 3), 1, 1),          # several tiles of 64 positions + single blocks
    ((3, 4, 6), 3, (3, 3), "same", 1),           # unbatched
]


@pytest.fixture
def direct(monkeypatch):
    """Every float32 conv that can goes through the direct convolution."""
    monkeypatch.setattr(dc, "POLICY", "always")
    with kernels.use("numba"):
        yield


def _run(x, w, b, dy, padding, dilation, dtype):
    xt = ember.tensor(x.astype(dtype), requires_grad=True)
    wt = ember.tensor(w.astype(dtype), requires_grad=True)
    bt = ember.tensor(b.astype(dtype), requires_grad=True)
    y = F.conv2d(xt, wt, bt, padding=padding, dilation=dilation)
    y.backward(ember.tensor(dy.astype(dtype)))
    return [a.astype(np.float64) for a in (y.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(),
                                           bt.grad.numpy())]


def _arrays(rng, x_shape, c_out, kernel, padding, dilation, integers):
    draw = ((lambda shape: rng.integers(-3, 4, shape).astype(np.float64)) if integers
            else rng.standard_normal)
    x, w, b = draw(x_shape), draw((c_out, x_shape[-3]) + kernel), draw(c_out)
    with kernels.use("numpy"):
        y = F.conv2d(ember.tensor(x), ember.tensor(w), padding=padding, dilation=dilation)
    return x, w, b, draw(tuple(y.shape))


@pytest.mark.parametrize("x_shape, c_out, kernel, padding, dilation", CASES)
def test_direct_conv_is_exact_on_integers(direct, x_shape, c_out, kernel, padding, dilation):
    """Small integers make every product and partial sum exact in float32, whatever the order:
    the direct conv must then equal the float64 im2col conv exactly (y, dX, dW, db)."""
    x, w, b, dy = _arrays(np.random.default_rng(0), x_shape, c_out, kernel, padding, dilation,
                          integers=True)
    assert dc.applies(x.shape if x.ndim == 4 else (1,) + x.shape, w.shape, (1, 1),
                      ((0, 0), (0, 0)), (1, 1), 1, np.float32)
    got = _run(x, w, b, dy, padding, dilation, np.float32)
    with kernels.use("numpy"):
        exact = _run(x, w, b, dy, padding, dilation, np.float64)
    for what, g, e in zip(("y", "dx", "dw", "db"), got, exact):
        np.testing.assert_array_equal(g, e, err_msg=what)


@pytest.mark.parametrize("x_shape, c_out, kernel, padding, dilation", CASES[:4])
def test_direct_conv_matches_torch(direct, x_shape, c_out, kernel, padding, dilation):
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal(x_shape), rng.standard_normal((c_out, x_shape[-3]) + kernel),
              rng.standard_normal(c_out)]
    check_parity(lambda m, *t: m.nn.functional.conv2d(*t, padding=padding, dilation=dilation),
                 arrays, dtype=np.float32)


def _abs_conv(x, w, padding):
    with kernels.use("numpy"):
        return F.conv2d(ember.tensor(np.abs(x)), ember.tensor(np.abs(w)), padding=padding).numpy()


def test_direct_float32_error_is_within_a_bound_of_its_sums(direct):
    """Each float32 output of the forward sums L = C_in·k² products by fused multiply-adds,
    one rounding each: at most ``L·u·Σ|w||x|`` away from the exact sum (u = 2^-24), plus the
    bias's rounding. dX sums C_out·k² products (two chains, added, then added to memory by
    tap): the same bound with L = C_out·k² + k² + 1. dW and db sum N·(positions of the grid)
    products in 16 lanes then 4 pairwise steps: L = N·H_grid·W_pad + 4."""
    rng = np.random.default_rng(2)
    n, c_in, c_out, size, k, pad = 6, 8, 12, 12, 5, 2
    x, w, b, dy = _arrays(rng, (n, c_in, size, size), c_out, (k, k), pad, 1, integers=False)
    got = _run(x, w, b, dy, pad, 1, np.float32)
    with kernels.use("numpy"):
        exact = _run(x, w, b, dy, pad, 1, np.float64)
    u = 2.0 ** -24
    grid = size + 2 * pad
    bounds = [c_in * k * k * u * _abs_conv(x, w, pad) + u * np.abs(b),
              (c_out * k * k + k * k + 1) * u * _abs_conv(
                  dy, np.abs(w).transpose(1, 0, 2, 3)[:, :, ::-1, ::-1], k - 1 - pad),
              (n * grid * grid + 4) * u * np.einsum("nkhw->k", np.abs(dy))[:, None, None, None]
              * np.abs(x).max(),
              (n * grid * grid + 4) * u * np.einsum("nkhw->k", np.abs(dy))]
    for what, g, e, bound in zip(("y", "dx", "dw", "db"), got, exact, bounds):
        assert np.all(np.abs(g - e) <= bound), what


@pytest.mark.parametrize("part_bytes", [dc.PART_BYTES, 1])    # one part per thread / per sample
def test_direct_conv_in_batch_parts_on_threads(direct, monkeypatch, part_bytes):
    """The batch in parts (one per thread, or one per sample when the planes of a part are
    capped), each with its share of dW and db: the forward and dX are the same bit for bit as
    in one part on one thread (each sample's sums do not depend on the parts)."""
    monkeypatch.setattr(dc, "PARALLEL_MIN_MACS", 1)
    monkeypatch.setattr(dc, "PART_BYTES", part_bytes)
    rng = np.random.default_rng(3)
    x, w, b, dy = _arrays(rng, (5, 3, 9, 9), 6, (3, 3), 1, 1, integers=False)
    threads = _parallel.get_num_threads()
    try:
        _parallel.set_num_threads(1)
        monkeypatch.setattr(dc, "PART_BYTES", 2 ** 40)
        one = _run(x, w, b, dy, 1, 1, np.float32)
        monkeypatch.setattr(dc, "PART_BYTES", part_bytes)
        _parallel.set_num_threads(2)
        assert len(dc._parts(5, 10 ** 6, 1000)) == (2 if part_bytes > 1 else 5)
        two = _run(x, w, b, dy, 1, 1, np.float32)
    finally:
        _parallel.set_num_threads(threads)
    np.testing.assert_array_equal(two[0], one[0])
    np.testing.assert_array_equal(two[1], one[1])
    np.testing.assert_allclose(two[2], one[2], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(two[3], one[3], rtol=1e-5, atol=1e-5)


def test_direct_conv_computes_only_the_gradients_asked_for(direct):
    rng = np.random.default_rng(4)
    x = ember.tensor(rng.standard_normal((2, 1, 8, 8)).astype(np.float32))
    w = ember.tensor(rng.standard_normal((6, 1, 5, 5)).astype(np.float32), requires_grad=True)
    F.conv2d(x, w, padding=2).sum().backward()
    assert x.grad is None and w.grad.shape == (6, 1, 5, 5)
    x.requires_grad_(True)
    w.requires_grad_(False)
    w.grad = None
    F.conv2d(x, w, padding=2).sum().backward()
    assert w.grad is None and x.grad.shape == (2, 1, 8, 8)


@pytest.mark.parametrize("shape, top, left, width", [((2, 3, 4, 5), 1, 2, 9),
                                                      ((1, 1, 1, 1), 0, 0, 1),
                                                      ((2, 2, 3, 3), 2, 0, 3)])
def test_padded_planes_equal_numpy(shape, top, left, width):
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape).astype(np.float32)
    height = top + shape[2] + 2
    length = height * width + 7
    direct = kernels.compiled().direct
    out = np.full(shape[:2] + (length,), np.nan, np.float32)
    direct.pad_planes(x, top, left, width, out)
    expected = np.zeros(shape[:2] + (length,), np.float32)
    grid = expected[:, :, :height * width].reshape(shape[:2] + (height, width))
    grid[:, :, top:top + shape[2], left:left + shape[3]] = x
    np.testing.assert_array_equal(out, expected)
    back = np.empty_like(x)
    direct.crop_planes(out, top, left, width, back)
    np.testing.assert_array_equal(back, x)


def test_which_convs_go_direct(monkeypatch):
    base = dict(x_shape=(2, 6, 14, 14), weight_shape=(16, 6, 5, 5), stride=(1, 1),
                padding=((0, 0), (0, 0)), dilation=(1, 1), groups=1, dtype=np.float32)
    with kernels.use("numba"):
        monkeypatch.setattr(kernels.compiled().tiles, "_wide", True)
        assert dc.applies(**base)
        assert dc.applies(**dict(base, dilation=(2, 2), padding=((3, 3), (1, 1))))
        for change in [dict(stride=(2, 1)), dict(groups=2), dict(dtype=np.float64),
                       dict(x_shape=(0, 6, 14, 14)), dict(weight_shape=(16, 6, 5)),
                       dict(weight_shape=(16, dc.MAX_IN_CHANNELS + 1, 1, 1)),
                       dict(weight_shape=(dc.MAX_OUT_CHANNELS + 1, 6, 5, 5)),
                       dict(weight_shape=(16, 32, 5, 6))]:        # 960 taps
            assert not dc.applies(**dict(base, **change)), change
        # Winograd keeps the 3x3 convs of 16+ channels
        from ember.ops.conv import _algorithm
        args = ((2, 16, 8, 8), (16, 16, 3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1, np.float32)
        assert dc.applies(*args) and wg.applies(*args) and _algorithm(*args) == "winograd"
        assert _algorithm(*base.values()) == "direct"
        monkeypatch.setattr(kernels.compiled().tiles, "_wide", False)   # 16 accumulators spill
        assert not dc.applies(**base)
        monkeypatch.setattr(dc, "POLICY", "always")
        assert dc.applies(**base)
        monkeypatch.setattr(dc, "POLICY", "never")
        assert not dc.applies(**base)
    with kernels.use("numpy"):
        monkeypatch.setattr(dc, "POLICY", "auto")
        assert not dc.applies(**base)
