"""Reductions with dim/keepdim: parity with torch (forward and gradient), gradcheck."""
import numpy as np
import pytest

import ember
from tests.harness import check_parity, gradcheck64

R = np.random.default_rng(2)


def randn(*shape, dtype=np.float32):
    return np.asarray(R.standard_normal(shape), dtype=dtype)


DIMS = [None, 0, 1, -1, (0, 2), (1, -1)]

REDUCE = {
    "sum": lambda m, x, d, k: x.sum() if d is None else m.sum(x, d, keepdim=k),
    "mean": lambda m, x, d, k: x.mean() if d is None else m.mean(x, d, keepdim=k),
    "amax": lambda m, x, d, k: m.amax(x) if d is None else m.amax(x, d, keepdim=k),
    "amin": lambda m, x, d, k: m.amin(x) if d is None else m.amin(x, d, keepdim=k),
    "var": lambda m, x, d, k: x.var() if d is None else m.var(x, d, keepdim=k),
    "var_biased": lambda m, x, d, k: m.var(x, d, unbiased=False, keepdim=k),
    "var_correction": lambda m, x, d, k: m.var(x, d, correction=0, keepdim=k),
    "std": lambda m, x, d, k: x.std() if d is None else m.std(x, d, keepdim=k),
    "logsumexp": lambda m, x, d, k: m.logsumexp(x, d if d is not None else (0, 1, 2), keepdim=k),
    "norm": lambda m, x, d, k: x.norm() if d is None else m.norm(x, dim=d, keepdim=k),
    "norm1": lambda m, x, d, k: m.norm(x, p=1, dim=d, keepdim=k),
    "norm3": lambda m, x, d, k: m.norm(x, p=3, dim=d, keepdim=k),
    "norm_inf": lambda m, x, d, k: m.norm(x, p=float("inf"), dim=d, keepdim=k),
}


@pytest.mark.parametrize("name", sorted(REDUCE))
@pytest.mark.parametrize("dim", DIMS, ids=str)
@pytest.mark.parametrize("keepdim", [False, True])
def test_reduction_parity(name, dim, keepdim):
    check_parity(lambda m, x: REDUCE[name](m, x, dim, keepdim), [randn(2, 3, 4)])


@pytest.mark.parametrize("name", sorted(REDUCE))
def test_reduction_noncontiguous_and_float64(name):
    x = randn(4, 3, 2, dtype=np.float64)
    check_parity(lambda m, x: REDUCE[name](m, x.permute(2, 1, 0), 1, False), [x])


@pytest.mark.parametrize("name", sorted(REDUCE))
def test_reduction_gradcheck(name):
    x = randn(2, 3, 2, dtype=np.float64)
    assert gradcheck64(lambda t: REDUCE[name](ember, t, (0, 2), False), [x])
    assert gradcheck64(lambda t: REDUCE[name](ember, t, None, False), [x])


@pytest.mark.parametrize("op", ["max", "min"])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_max_min_dim_returns_values_indices(op, keepdim, dim):
    x = randn(3, 4, 2)
    out = check_parity(lambda m, x: getattr(m, op)(x, dim, keepdim=keepdim), [x])
    res = getattr(ember, op)(ember.tensor(x), dim, keepdim)
    assert res.values.shape == res[0].shape and res.indices.dtype is ember.int64
    assert len(out) == 2


@pytest.mark.parametrize("op", ["max", "min", "amax", "amin"])
def test_extreme_ties(op):
    """Full reductions and amax/amin share the gradient evenly among ties (torch);
    max(dim) sends it to the returned (first) index."""
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]], dtype=np.float32)
    if op in ("amax", "amin"):
        check_parity(lambda m, x: getattr(m, op)(x, 1), [x])
    check_parity(lambda m, x: getattr(m, op)(x), [x])
    check_parity(lambda m, x: getattr(x, op)(1) if op in ("max", "min") else getattr(x, op)(0), [x])


def test_max_of_two_tensors_is_elementwise():
    check_parity(lambda m, a, b: m.max(a, b), [randn(3, 1), randn(4)])


@pytest.mark.parametrize("op", ["argmax", "argmin"])
@pytest.mark.parametrize("dim", [None, 0, 1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_argmax_argmin(op, dim, keepdim):
    x = np.array([[1.0, 5.0, 5.0], [7.0, 0.0, 7.0]], dtype=np.float32)  # ties -> first index
    check_parity(lambda m, x: getattr(m, op)(x, dim, keepdim=keepdim), [x], requires_grad=[False])


@pytest.mark.parametrize("dim", [None, 0, 1])
def test_prod(dim):
    x = randn(3, 4)
    x[1, 2] = 0.0  # the backward must stay exact with a zero
    fn = (lambda m, x: x.prod()) if dim is None else (lambda m, x: m.prod(x, dim))
    check_parity(fn, [x])
    check_parity(lambda m, x: m.prod(x, 1, keepdim=True), [x])
    assert gradcheck64(lambda t: fn(ember, t), [x.astype(np.float64)])


@pytest.mark.parametrize("op", ["all", "any"])
@pytest.mark.parametrize("dim", [None, 0, 1])
def test_all_any(op, dim):
    x = R.random((3, 4)) > 0.3
    f = (lambda m, x: getattr(m, op)(x)) if dim is None else (lambda m, x: getattr(m, op)(x, dim))
    check_parity(f, [x])
    check_parity(lambda m, x: getattr(m, op)(x, 1, keepdim=True), [x.astype(np.int64)],
                 check_dtype=False)


def test_integer_sum_and_mean_errors():
    check_parity(lambda m, x: m.sum(x, 1), [R.integers(0, 5, (3, 4)).astype(np.int32)])
    check_parity(lambda m, x: x.sum(), [R.random((3, 4)) > 0.5])
    check_parity(lambda m, x: m.mean(x, 1, dtype=m.float64), [R.integers(0, 5, (3, 4))])
    with pytest.raises(RuntimeError, match="mean"):
        ember.arange(5).mean()


def test_empty_reductions():
    x = np.zeros((0, 3), dtype=np.float32)
    check_parity(lambda m, x: m.sum(x, 0), [x])
    check_parity(lambda m, x: x.sum(), [x])
    check_parity(lambda m, x: m.amax(x, 1), [x])
    check_parity(lambda m, x: m.logsumexp(x, 0), [x])
    with pytest.raises(RuntimeError, match="max"):
        ember.tensor(x).max()


def test_cumsum_cumprod():
    x = randn(3, 4)
    zeros = x.copy()
    zeros[0, 1] = zeros[1, 0] = zeros[1, 2] = zeros[2, 3] = 0.0  # one and two zeros per slice
    check_parity(lambda m, x: m.cumprod(x, 1), [zeros])
    check_parity(lambda m, x: m.cumprod(x, 0), [zeros])
    assert gradcheck64(lambda t: ember.cumprod(t, 1), [zeros.astype(np.float64)])
    for dim in (0, 1):
        check_parity(lambda m, x: m.cumsum(x, dim), [x])
        check_parity(lambda m, x: m.cumprod(x, dim), [x])
        assert gradcheck64(lambda t: ember.cumprod(t, dim), [x.astype(np.float64)])


def test_logsumexp_is_stable():
    x = np.array([[1000.0, 1000.0], [-1000.0, 0.0]], dtype=np.float32)
    out = check_parity(lambda m, x: m.logsumexp(x, 1), [x])
    assert np.isfinite(out[0].detach().numpy()).all()


def test_var_mean_std_mean_median():
    x = randn(3, 5)
    check_parity(lambda m, x: m.var_mean(x, 1), [x])
    check_parity(lambda m, x: m.std_mean(x, 0, keepdim=True), [x])
    check_parity(lambda m, x: m.median(x, 1), [x])
    check_parity(lambda m, x: m.median(x), [x])
    check_parity(lambda m, x: m.count_nonzero(x > 0, 1), [x], requires_grad=[False])


@pytest.mark.parametrize("op", ["max", "min"])
def test_max_min_dim_gradcheck(op):
    x = randn(3, 4, dtype=np.float64)
    assert gradcheck64(lambda t: getattr(ember, op)(t, 1)[0], [x])
    assert gradcheck64(lambda t: getattr(ember, op)(t, 0, keepdim=True).values, [x])
    assert gradcheck64(lambda t: getattr(t, op)(), [x])
