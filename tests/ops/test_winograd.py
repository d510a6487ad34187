"""Winograd F(2x2, 3x3) convolutions (``ember/ops/_winograd.py``): forward, input and weight
gradient against torch (float64 tightly, float32 with the harness's tolerances) with the NumPy
transforms and with the compiled ones, float64 finite differences, the compiled transforms bit
for bit against the NumPy ones, the float32 error against a float64 conv within a bound derived
from the sums, and which convs qualify."""
import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember import kernels
from ember.ops import _winograd as wg
from tests.harness import check_parity, gradcheck64

BACKENDS = ["numpy"] + (["numba"] if kernels.compiled() is not None else [])

CASES = [  # (input shape, C_out, padding, bias)
    ((2, 16, 8, 8), 16, 1, True),
    ((3, 17, 7, 9), 20, 1, False),        # odd output sizes: half-used last tiles
    ((2, 16, 6, 5), 18, 2, True),
    ((2, 16, 5, 6), 16, 0, True),
    ((16, 4, 3), 16, (1, 0), True),       # unbatched, padding per dim
    ((1, 16, 3, 3), 16, 0, False),        # a single output
]


@pytest.fixture(params=BACKENDS)
def winograd(request, monkeypatch):
    """Every conv that qualifies goes through Winograd, on the given kernels."""
    monkeypatch.setattr(wg, "POLICY", "always")
    with kernels.use(request.param):
        yield request.param


def _qualifies(x_shape, c_out, padding):
    pad = (padding, padding) if isinstance(padding, int) else padding
    shape = x_shape if len(x_shape) == 4 else (1,) + x_shape
    return wg.applies(shape, (c_out, shape[1], 3, 3), (1, 1), tuple((p, p) for p in pad),
                      (1, 1), 1, np.float32)


@pytest.mark.parametrize("x_shape, c_out, padding, bias", CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_winograd_conv_matches_torch(winograd, x_shape, c_out, padding, bias, dtype):
    assert _qualifies(x_shape, c_out, padding)
    rng = np.random.default_rng(0)
    c_in = x_shape[-3]
    arrays = [rng.standard_normal(x_shape), rng.standard_normal((c_out, c_in, 3, 3)) / 12]
    if bias:
        arrays.append(rng.standard_normal(c_out))
    tol = dict(rtol=1e-10, atol=1e-10) if dtype == np.float64 else {}
    check_parity(lambda m, *t: m.nn.functional.conv2d(*t, padding=padding), arrays, dtype=dtype,
                 **tol)


def test_winograd_conv_gradcheck(winograd):
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal((2, 16, 4, 5)), rng.standard_normal((16, 16, 3, 3)),
              rng.standard_normal(16)]
    assert gradcheck64(lambda x, w, b: F.conv2d(x, w, b, padding=1), arrays)


def test_winograd_in_batch_chunks_on_threads(winograd, monkeypatch):
    """Several chunks (each a task for Ember's threads), each with its share of dW and db."""
    from ember.ops import _im2col as ic
    monkeypatch.setattr(ic, "WIDE_CHUNK_BYTES", 4096)
    monkeypatch.setattr(ic, "CHUNK_MIN_COLUMNS", 1)
    monkeypatch.setattr(ic, "PARALLEL_MIN_BYTES", 1)
    assert len(ic.batch_chunks(6, 16 * 9, 36, 16, 4)) > 1
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal((6, 16, 6, 6)), rng.standard_normal((16, 16, 3, 3)) / 12,
              rng.standard_normal(16)]
    check_parity(lambda m, *t: m.nn.functional.conv2d(*t, padding=1), arrays, dtype=np.float64,
                 rtol=1e-10, atol=1e-10)


def _abs_conv(x, w, padding):
    """``conv(|x|, |w|)`` in float64: the sum of the magnitudes of each output's terms."""
    with kernels.use("numpy"):
        return F.conv2d(ember.tensor(np.abs(x)), ember.tensor(np.abs(w)), padding=padding).numpy()


@pytest.mark.parametrize("n, c, size", [(4, 64, 8), (2, 256, 4)])
def test_winograd_float32_error_is_within_a_bound_of_its_sums(winograd, n, c, size):
    """Each float32 output of a conv sums L = 9·C_in products; rounding moves it by at most
    about ``L·u·Σ|w||x|`` (u = 2^-24) for any order of the sums. Winograd adds the roundings of
    its transforms, sums of at most 4 terms each way scaled by ≤ 3/2 (``B``, ``G``) and 3
    (``A``): bound ``4·(L + 16)·u·Σ|w||x|`` per output. The input gradient is the same bound
    with the rotated filter (L = 9·C_out), the weight gradient ``4·(N·H·W + 16)·u·Σ|dY||X|``.
    (Measured: the Winograd error is 0.5–2x the im2col one, at most 7.4e-7 of the largest
    value at these sizes; README, "Speed".)"""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((n, c, size, size))
    w = rng.standard_normal((c, c, 3, 3)) * np.sqrt(2 / (9 * c))
    dy = rng.standard_normal((n, c, size, size))
    results = {}
    for dtype in (np.float64, np.float32):
        xt = ember.tensor(x.astype(dtype), requires_grad=True)
        wt = ember.tensor(w.astype(dtype), requires_grad=True)
        y = F.conv2d(xt, wt, padding=1)
        y.backward(ember.tensor(dy.astype(dtype)))
        results[dtype] = [a.astype(np.float64) for a in
                          (y.detach().numpy(), xt.grad.numpy(), wt.grad.numpy())]
    u = 2.0 ** -24
    sums = [_abs_conv(x, w, 1) * (9 * c + 16),
            _abs_conv(dy, np.abs(w).transpose(1, 0, 2, 3)[:, :, ::-1, ::-1], 1) * (9 * c + 16),
            np.einsum("nkhw,nchw->kc", np.abs(dy), np.ones_like(x))[:, :, None, None]
            * np.abs(x).max() * (n * size * size + 16)]
    for what, got, exact, bound in zip(("y", "dx", "dw"), results[np.float32],
                                       results[np.float64], sums):
        assert np.all(np.abs(got - exact) <= 4 * u * bound), what


@pytest.mark.skipif("numba" not in BACKENDS, reason="needs the compiled kernels")
@pytest.mark.parametrize("x_shape, padding", [((2, 3, 7, 9), ((1, 1), (2, 0))),
                                              ((1, 2, 4, 4), ((0, 0), (0, 0))),
                                              ((3, 4, 6, 5), ((2, 2), (1, 1)))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("row_tiles", [1, 10 ** 6])     # every row by rows / one tile at a time
def test_compiled_transforms_equal_numpy(x_shape, padding, dtype, row_tiles, monkeypatch):
    from ember import _parallel
    monkeypatch.setattr(_parallel, "PARALLEL_MIN_ELEMENTS", 1)    # filters in blocks on threads
    monkeypatch.setattr(wg, "ROW_TILES", row_tiles)
    rng = np.random.default_rng(4)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal((5, x_shape[1], 3, 3)).astype(dtype)
    b = rng.standard_normal(5).astype(dtype)
    out_size = tuple(s + lo + hi - 2 for s, (lo, hi) in zip(x_shape[2:], padding))
    tiles = wg.tile_grid(out_size)
    dy = rng.standard_normal((x_shape[0], 5) + out_size).astype(dtype)

    def run():
        u = wg.filter_transform(w).copy()
        v = wg.input_transform(x, padding, tiles).copy()
        g = wg.grad_transform(dy, tiles).copy()
        m, planes = wg.stack(5, v.shape[2], dtype)
        m[...] = rng_m
        out = wg.output_transform(m, planes, out_size, b, np.empty(dy.shape, dtype))
        flipped = wg.flipped_filter_transform(w).copy()
        parts = [u.copy(), (u * 3).astype(dtype), (u - 1).astype(dtype)]
        return u, v, g, out, flipped, wg.filter_from_transform(parts, w.shape)
    rng_m = rng.standard_normal((16, 5, x_shape[0] * tiles[0] * tiles[1])).astype(dtype)
    with kernels.use("numpy"):
        reference = run()
    with kernels.use("numba"):
        compiled = run()
    for r, c in zip(reference, compiled):
        assert r.shape == c.shape and r.dtype == c.dtype
        np.testing.assert_array_equal(c, r)


def test_which_convs_qualify(monkeypatch):
    monkeypatch.setattr(wg, "POLICY", "always")
    base = dict(x_shape=(2, 16, 8, 8), weight_shape=(16, 16, 3, 3), stride=(1, 1),
                padding=((1, 1), (1, 1)), dilation=(1, 1), groups=1, dtype=np.float32)
    assert wg.applies(**base)
    for change in [dict(stride=(2, 1)), dict(dilation=(1, 2)), dict(groups=2),
                   dict(weight_shape=(16, 16, 5, 5)), dict(weight_shape=(16, 8, 3, 3)),
                   dict(weight_shape=(8, 16, 3, 3)), dict(padding=((3, 3), (1, 1))),
                   dict(dtype=np.float16), dict(x_shape=(0, 16, 8, 8)),
                   dict(x_shape=(2, 16, 1, 8), padding=((0, 0), (1, 1))),
                   dict(weight_shape=(16, 16, 3, 3, 3))]:
        assert not wg.applies(**dict(base, **change)), change
    monkeypatch.setattr(wg, "POLICY", "never")
    assert not wg.applies(**base)
    monkeypatch.setattr(wg, "POLICY", "auto")
    with kernels.use("numpy"):
        assert not wg.applies(**base)        # the NumPy transforms cost more than they save
