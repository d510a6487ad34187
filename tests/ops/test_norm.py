"""Normalization functions: parity with torch (outputs, input gradients and running statistics,
float32 and float64), float64 gradchecks, running-stat trajectories, errors, and the properties
of local contrast normalization (which has no torch reference)."""
import numpy as np
import pytest

import ember
from ember.ops import norm as N
from tests.harness import assert_close, check_parity, gradcheck64

DTYPES = [np.float32, np.float64]
BN_SHAPES = [(5, 4), (3, 4, 7), (2, 4, 3, 5), (2, 4, 2, 3, 2)]


def F(m):
    """The functional namespace of a library: Ember's norm module or torch's F."""
    return N if m is ember else m.nn.functional


def _stats(m, c, dtype, rng):
    """Fresh running statistics (non-trivial, so that eval mode is really tested)."""
    mean = rng.standard_normal(c).astype(dtype)
    var = (rng.random(c) + 0.5).astype(dtype)
    return m.from_numpy(mean.copy()), m.from_numpy(var.copy())


# ---------------------------------------------------------------- batch_norm

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", BN_SHAPES)
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_parity(shape, training, dtype):
    c = shape[1]
    rng = np.random.default_rng(1)

    def fn(m, x, w, b):
        rm, rv = _stats(m, c, dtype, np.random.default_rng(7))
        out = F(m).batch_norm(x, rm, rv, w, b, training=training, momentum=0.3, eps=1e-3)
        return out, rm, rv          # the running statistics are compared too

    check_parity(fn, [rng.standard_normal(shape) * 3 + 1, rng.random(c) + 0.5,
                      rng.standard_normal(c)], dtype=dtype)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", ["none", "weight", "bias"])
def test_batch_norm_partial_affine_and_grads(training, affine):
    rng = np.random.default_rng(2)
    x, p = rng.standard_normal((4, 3, 5)), rng.random(3) + 0.5

    def fn(m, x, p):
        rm, rv = _stats(m, 3, np.float64, np.random.default_rng(3))
        w, b = (p if affine == "weight" else None), (p if affine == "bias" else None)
        return F(m).batch_norm(x, rm, rv, w, b, training=training)

    check_parity(fn, [x, p])
    # only the parameters require grad: the input gets none
    check_parity(fn, [x, p], requires_grad=[False, True])


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradcheck(training):
    rng = np.random.default_rng(4)
    rm, rv = ember.tensor(rng.standard_normal(3)), ember.tensor(rng.random(3) + 0.5)
    gradcheck64(lambda x, w, b: N.batch_norm(x, rm.clone(), rv.clone(), w, b, training=training),
                [rng.standard_normal((3, 3, 2, 2)), rng.random(3) + 0.5, rng.standard_normal(3)])


def test_batch_norm_running_stat_trajectory_matches_torch():
    """Several training steps (different batches, momentum 0.1) then eval: torch's running
    mean/var (unbiased batch variance) at every step, and the eval output at the end."""
    import torch
    rng = np.random.default_rng(5)
    rm_e, rv_e = ember.zeros(6), ember.ones(6)
    rm_t, rv_t = torch.zeros(6), torch.ones(6)
    w, b = rng.random(6).astype(np.float32), rng.standard_normal(6).astype(np.float32)
    for step in range(5):
        x = (rng.standard_normal((8, 6, 4, 4)) * (step + 1) + step).astype(np.float32)
        N.batch_norm(ember.from_numpy(x), rm_e, rv_e, ember.from_numpy(w), ember.from_numpy(b),
                     training=True)
        torch.nn.functional.batch_norm(torch.from_numpy(x), rm_t, rv_t, torch.from_numpy(w),
                                       torch.from_numpy(b), training=True)
        assert_close(rm_e.numpy(), rm_t.numpy(), what=f"running_mean at step {step}")
        assert_close(rv_e.numpy(), rv_t.numpy(), what=f"running_var at step {step}")
    x = rng.standard_normal((2, 6, 3, 3)).astype(np.float32)
    out_e = N.batch_norm(ember.from_numpy(x), rm_e, rv_e, ember.from_numpy(w), ember.from_numpy(b))
    out_t = torch.nn.functional.batch_norm(torch.from_numpy(x), rm_t, rv_t, torch.from_numpy(w),
                                           torch.from_numpy(b))
    assert_close(out_e.numpy(), out_t.numpy(), what="eval output")


def test_batch_norm_update_formula_and_version():
    """running = (1 − m)·running + m·stat with the unbiased variance; the version counter moves
    so that a graph that saved the running stats sees the in-place update."""
    # inventory B27
    x = ember.tensor([[1.0, 10.0], [3.0, 20.0], [5.0, 60.0]])
    rm, rv = ember.tensor([1.0, 2.0]), ember.tensor([1.0, 1.0])
    v0 = rm._version
    out = N.batch_norm(x, rm, rv, training=True, momentum=0.25)
    np.testing.assert_allclose(rm.numpy(), 0.75 * np.array([1, 2]) + 0.25 * np.array([3, 30]),
                               rtol=1e-6)
    np.testing.assert_allclose(rv.numpy(), 0.75 + 0.25 * np.array([4.0, 700.0]), rtol=1e-6)
    assert rm._version > v0
    # output: the lecture's z̃ = (z − μ)/σ with the biased σ
    xn = x.numpy()
    expect = (xn - xn.mean(0)) / np.sqrt(xn.var(0) + 1e-5)
    np.testing.assert_allclose(out.numpy(), expect, rtol=1e-5, atol=1e-6)


def test_batch_norm_training_without_running_stats():
    check_parity(lambda m, x: F(m).batch_norm(x, None, None, training=True),
                 [np.random.default_rng(6).standard_normal((4, 3, 2))])


def test_batch_norm_large_offset_float32():
    """A large per-channel mean with a small spread (1000 ± 0.01): x̂ magnifies an error in μ by
    σ⁻¹ = 100, so μ is accumulated in float64. Ember's float32 result is compared with the exact
    float64 normalization of the same float32 input, and must be at least as close as torch's."""
    import torch
    x = (np.random.default_rng(8).standard_normal((16, 3, 8, 8)) * 0.01 + 1000.0).astype(np.float32)
    exact = N.batch_norm(ember.tensor(x.astype(np.float64)), None, None, training=True).numpy()
    ours = N.batch_norm(ember.from_numpy(x), None, None, training=True).numpy()
    theirs = torch.nn.functional.batch_norm(torch.from_numpy(x), None, None, training=True).numpy()
    err, torch_err = np.abs(ours - exact).max(), np.abs(theirs - exact).max()
    assert err < 5e-3 and err <= torch_err * 1.01, (err, torch_err)


def test_batch_norm_errors():
    x = ember.randn(4, 3, 2)
    with pytest.raises(RuntimeError, match=r"batch_norm: expected running_mean with 3 elements.*"
                                           r"\(4, 3, 2\).*got shape \(5,\)"):
        N.batch_norm(x, ember.zeros(5), ember.ones(5), training=True)
    with pytest.raises(RuntimeError, match=r"batch_norm: expected weight with 3 elements"):
        N.batch_norm(x, None, None, ember.ones(2), training=True)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        N.batch_norm(ember.randn(1, 3), None, None, training=True)
    with pytest.raises(ValueError, match="evaluation mode"):
        N.batch_norm(x, None, None, training=False)
    with pytest.raises(TypeError, match="momentum"):
        N.batch_norm(x, ember.zeros(3), ember.ones(3), training=True, momentum=None)
    with pytest.raises(ValueError, match="shape \\(N, C, ...\\)"):
        N.batch_norm(ember.randn(3), None, None, training=True)


# ---------------------------------------------------------------- layer / group / instance

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,normalized", [((4, 6), (6,)), ((2, 3, 4, 5), (4, 5)),
                                              ((2, 3, 4), (2, 3, 4)), ((7,), 7)])
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_parity(shape, normalized, affine, dtype):
    # inventory B28
    rng = np.random.default_rng(9)
    # Ember also accepts a bare int (as nn.LayerNorm does); torch's F wants a tuple
    ns = (normalized,) if isinstance(normalized, int) else normalized
    arg = lambda m: normalized if m is ember else ns  # noqa: E731
    ins = [rng.standard_normal(shape) * 2 + 0.5]
    if affine:
        ins += [rng.random(ns) + 0.5, rng.standard_normal(ns)]
        fn = lambda m, x, w, b: F(m).layer_norm(x, arg(m), w, b, eps=1e-4)  # noqa: E731
    else:
        fn = lambda m, x: F(m).layer_norm(x, arg(m))  # noqa: E731
    check_parity(fn, ins, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,groups", [((2, 6, 3, 4), 3), ((3, 4, 5), 1), ((2, 4, 2, 2, 3), 4),
                                          ((4, 6), 2)])
def test_group_norm_parity(shape, groups, dtype):
    # inventory B28
    rng = np.random.default_rng(10)
    c = shape[1]
    check_parity(lambda m, x, w, b: F(m).group_norm(x, groups, w, b, eps=1e-3),
                 [rng.standard_normal(shape) - 1, rng.random(c) + 0.5, rng.standard_normal(c)],
                 dtype=dtype)
    check_parity(lambda m, x: F(m).group_norm(x, groups), [rng.standard_normal(shape)], dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(2, 3, 5), (2, 3, 4, 5), (1, 2, 2, 3, 2)])
def test_instance_norm_parity(shape, dtype):
    # inventory B28
    rng = np.random.default_rng(11)
    c = shape[1]

    def fn(m, x, w, b):
        rm, rv = _stats(m, c, dtype, np.random.default_rng(12))
        return F(m).instance_norm(x, rm, rv, w, b, use_input_stats=True, momentum=0.2), rm, rv

    check_parity(fn, [rng.standard_normal(shape) * 2, rng.random(c) + 0.5,
                      rng.standard_normal(c)], dtype=dtype)
    check_parity(lambda m, x: F(m).instance_norm(x), [rng.standard_normal(shape)], dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_instance_norm_running_stats_in_eval(dtype):
    rng = np.random.default_rng(13)

    def fn(m, x, w, b):
        rm, rv = _stats(m, 3, dtype, np.random.default_rng(14))
        return F(m).instance_norm(x, rm, rv, w, b, use_input_stats=False)

    check_parity(fn, [rng.standard_normal((2, 3, 4, 4)), rng.random(3), rng.standard_normal(3)],
                 dtype=dtype)


def test_layer_group_instance_gradcheck():
    rng = np.random.default_rng(15)
    x = rng.standard_normal((2, 4, 3))
    gradcheck64(lambda x, w, b: N.layer_norm(x, (4, 3), w, b),
                [x, rng.random((4, 3)) + 0.5, rng.standard_normal((4, 3))])
    gradcheck64(lambda x, w: N.layer_norm(x, (4, 3), weight=w), [x, rng.random((4, 3)) + 0.5])
    gradcheck64(lambda x, b: N.layer_norm(x, (3,), bias=b), [x, rng.standard_normal(3)])
    gradcheck64(lambda x, w, b: N.group_norm(x, 2, w, b),
                [x, rng.random(4) + 0.5, rng.standard_normal(4)])
    gradcheck64(lambda x, w, b: N.instance_norm(x, weight=w, bias=b),
                [x, rng.random(4) + 0.5, rng.standard_normal(4)])


def test_layer_group_instance_errors():
    x = ember.randn(2, 6, 4)
    with pytest.raises(RuntimeError, match=r"layer_norm: expected input with trailing shape "
                                           r"\(5,\), got shape \(2, 6, 4\)"):
        N.layer_norm(x, 5)
    with pytest.raises(RuntimeError, match=r"layer_norm: expected weight of shape \(4,\)"):
        N.layer_norm(x, 4, weight=ember.ones(3))
    with pytest.raises(RuntimeError, match="group_norm: expected the number of channels 6 to be "
                                           "divisible by num_groups 4"):
        N.group_norm(x, 4)
    with pytest.raises(RuntimeError, match="group_norm: expected weight with 6 elements"):
        N.group_norm(x, 3, weight=ember.ones(3))
    with pytest.raises(ValueError, match="instance_norm: expected input of shape"):
        N.instance_norm(ember.randn(2, 6))
    with pytest.raises(ValueError, match="more than 1 spatial element"):
        N.instance_norm(ember.randn(2, 6, 1))
    with pytest.raises(ValueError, match="use_input_stats=False needs running_mean"):
        N.instance_norm(x, use_input_stats=False)


# ---------------------------------------------------------------- LRN, normalize

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(2, 7, 5), (2, 6, 3, 4), (1, 5, 2, 3, 2)])
@pytest.mark.parametrize("size,alpha,beta,k", [(5, 1e-4, 0.75, 2.0), (2, 0.5, 0.6, 1.0),
                                               (4, 0.3, 1.2, 0.5), (9, 1.0, 0.75, 1.0)])
def test_local_response_norm_parity(shape, size, alpha, beta, k, dtype):
    x = np.random.default_rng(16).standard_normal(shape) * 2
    check_parity(lambda m, x: F(m).local_response_norm(x, size, alpha=alpha, beta=beta, k=k), [x],
                 dtype=dtype)


def test_local_response_norm_alexnet_formula_and_gradcheck():
    """AlexNet-style numbers (n=5, α=1e-4 on the window average, β=0.75, k=2) by hand."""
    # inventory B28
    x = np.random.default_rng(17).standard_normal((1, 6, 2, 2)) * 30
    out = N.local_response_norm(ember.tensor(x), 5, alpha=1e-4, beta=0.75, k=2.0).numpy()
    sq = np.pad(x ** 2, ((0, 0), (2, 2), (0, 0), (0, 0)))
    window = sum(sq[:, o:o + 6] for o in range(5))
    np.testing.assert_allclose(out, x / (2.0 + 1e-4 / 5 * window) ** 0.75, rtol=1e-12)
    gradcheck64(lambda t: N.local_response_norm(t, 3, alpha=0.5, beta=0.75, k=1.0),
                [np.random.default_rng(18).standard_normal((2, 4, 3))])
    with pytest.raises(ValueError, match="local_response_norm: expected 3D"):
        N.local_response_norm(ember.randn(2, 3), 3)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p,dim", [(2.0, 1), (1.0, -1), (3.0, 0), (float("inf"), 1)])
def test_normalize_parity(p, dim, dtype):
    x = np.random.default_rng(19).standard_normal((3, 4, 5))
    check_parity(lambda m, x: F(m).normalize(x, p=p, dim=dim), [x], dtype=dtype)


def test_normalize_eps_and_gradcheck():
    x = np.zeros((2, 3))
    x[1] = [3.0, 4.0, 0.0]
    check_parity(lambda m, x: F(m).normalize(x, eps=1e-3), [x])
    gradcheck64(lambda t: N.normalize(t, p=2.0, dim=0),
                [np.random.default_rng(20).standard_normal((3, 2))])


# ---------------------------------------------------------------- local contrast norm

def _lcn_reference(x, size, sigma, across, c):
    """Direct float64 evaluation of the lecture formula with explicit window sums (loops over
    window offsets), w_ipq = g_p g_q / C (across maps) or g_p g_q (per map), cut at the
    borders and renormalized to sum to 1."""
    n, ch, h, w = x.shape
    r = size // 2
    g = np.exp(-0.5 * ((np.arange(size) - r) / sigma) ** 2)

    def local_mean(a):
        acc, z = np.zeros_like(a), np.zeros((h, w))
        for p in range(-r, r + 1):
            for q in range(-r, r + 1):
                wpq = g[p + r] * g[q + r]
                shifted = np.zeros_like(a)
                valid = np.zeros((h, w))
                ys, yd = slice(max(p, 0), h + min(p, 0)), slice(max(-p, 0), h + min(-p, 0))
                xs, xd = slice(max(q, 0), w + min(q, 0)), slice(max(-q, 0), w + min(-q, 0))
                shifted[..., yd, xd] = a[..., ys, xs]
                valid[yd, xd] = 1
                acc += wpq * shifted
                z += wpq * valid
        out = acc / z
        return out.mean(axis=1, keepdims=True) if across else out

    v = x - local_mean(x)
    sd = np.sqrt(local_mean(v * v) + 1e-8)
    floor = sd.mean(axis=(2, 3), keepdims=True) if c is None else c
    return v / np.maximum(sd, floor)


@pytest.mark.parametrize("across,c", [(True, None), (False, None), (True, 0.7), (False, 0.2)])
def test_local_contrast_norm_matches_formula(across, c):
    # inventory B29
    x = np.random.default_rng(21).standard_normal((2, 3, 7, 8)) * 2 + 1
    out = N.local_contrast_norm(ember.tensor(x), size=5, sigma=1.3, across_channels=across, c=c)
    np.testing.assert_allclose(out.numpy(), _lcn_reference(x, 5, 1.3, across, c), rtol=1e-10,
                               atol=1e-12)
    # float32 end to end
    out32 = N.local_contrast_norm(ember.tensor(x.astype(np.float32)), size=5, sigma=1.3,
                                  across_channels=across, c=c)
    assert out32.dtype == ember.float32
    np.testing.assert_allclose(out32.numpy(), out.numpy(), rtol=1e-4, atol=1e-5)


def test_local_contrast_norm_properties():
    rng = np.random.default_rng(22)
    x = ember.tensor(rng.standard_normal((2, 3, 16, 16)) * 5 + 3)
    y = N.local_contrast_norm(x, size=9)
    # subtractive step: a constant image (any level) becomes exactly 0, even at the borders
    const = N.local_contrast_norm(ember.full((1, 2, 9, 9), 4.0, dtype=ember.float64), size=5)
    np.testing.assert_allclose(const.numpy(), 0.0, atol=1e-12)
    # shift and (positive) scale invariance: c = mean(σ) scales with the input
    y2 = N.local_contrast_norm(x * 7.0 - 11.0, size=9)
    np.testing.assert_allclose(y2.numpy(), y.numpy(), rtol=1e-8, atol=1e-8)
    # zero local mean: the Gaussian-weighted mean over maps of the output is ~0 compared with
    # the input's, and the local contrast is unit-ish where σ exceeds the floor
    g = N._gaussian_window(9, 9 / 4)
    lm = N._local_average(y, g, True).numpy()
    lm_x = N._local_average(x, g, True).numpy()
    assert np.abs(lm).mean() < 0.1 * np.abs(lm_x).mean()
    ysd = np.sqrt(N._local_average(y * y, g, True).numpy())[..., 4:-4, 4:-4]
    assert 0.7 < ysd.mean() < 1.1, ysd.mean()
    # a fixed floor c: above every σ the output is v / c, below every σ it is v / σ
    v = x - N._local_average(x, g, True)
    sd = (N._local_average(v * v, g, True) + 1e-8).sqrt()
    np.testing.assert_allclose(N.local_contrast_norm(x, size=9, c=1e6).numpy() * 1e6, v.numpy(),
                               rtol=1e-10)
    np.testing.assert_allclose(N.local_contrast_norm(x, size=9, c=1e-6).numpy(),
                               (v / sd).numpy(), rtol=1e-10)


def test_local_contrast_norm_gradcheck():
    rng = np.random.default_rng(23)
    x = rng.standard_normal((1, 2, 5, 6))
    gradcheck64(lambda t: N.local_contrast_norm(t, size=3), [x])
    gradcheck64(lambda t: N.local_contrast_norm(t, size=5, sigma=2.0, across_channels=False,
                                                c=0.3), [x])


def test_local_contrast_norm_errors():
    with pytest.raises(ValueError, match="local_contrast_norm: expected an odd window size"):
        N.local_contrast_norm(ember.randn(1, 1, 4, 4), size=4)
    with pytest.raises(ValueError, match="local_contrast_norm: expected input of shape"):
        N.local_contrast_norm(ember.randn(4, 4))
    with pytest.raises(ValueError, match="sigma > 0"):
        N.local_contrast_norm(ember.randn(1, 1, 4, 4), sigma=0.0)
