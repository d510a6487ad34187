"""bincount, histc, diff and trace (functions and Tensor methods): values and dtypes against
torch, the edge cases torch defines (min == max in histc, n = 0 or n >= length in diff, empty
and non-square trace), gradients where torch has them, and errors that name the function."""
import numpy as np
import pytest

import ember
from tests.harness import check_parity, gradcheck64

R = np.random.default_rng(12)


# ----------------------------------------------------------------------------- bincount
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.int16, np.uint8])
@pytest.mark.parametrize("minlength", [0, 3, 12])
def test_bincount_counts(dtype, minlength):
    x = R.integers(0, 7, size=20).astype(dtype)
    out = check_parity(lambda m, x: m.bincount(x, minlength=minlength), [x])
    assert out[0].dtype is ember.int64
    check_parity(lambda m, x: x.bincount(None, minlength), [x])


@pytest.mark.parametrize("weight_dtype", [np.float32, np.float64, np.int64, np.int32, np.uint8])
def test_bincount_weights_dtype_rule(weight_dtype):
    """float32 weights sum to float32, every other dtype to float64 (torch's rule)."""
    x = R.integers(0, 5, size=30)
    w = (R.standard_normal(30) * 10).astype(weight_dtype)
    out = check_parity(lambda m, x, w: m.bincount(x, weights=w, minlength=8), [x, w],
                       requires_grad=[False, False])
    expected = ember.float32 if weight_dtype == np.float32 else ember.float64
    assert out[0].dtype is expected
    np.testing.assert_allclose(out[0].numpy(), np.bincount(x, w.astype(np.float64), 8), rtol=1e-6)


def test_bincount_empty_and_not_differentiable():
    empty = ember.tensor([], dtype=ember.int64)
    assert ember.bincount(empty).shape == (0,)
    assert ember.bincount(empty, minlength=4).tolist() == [0, 0, 0, 0]
    w = ember.ones(3, requires_grad=True)
    assert not ember.bincount(ember.tensor([0, 1, 1]), w).requires_grad


@pytest.mark.parametrize("call, pattern", [
    (lambda: ember.bincount(ember.tensor([1.0, 2.0])),
     r"bincount: expected a tensor of integers.*float32"),
    (lambda: ember.bincount(ember.tensor([True])), r"bincount: .*integers.*bool"),
    (lambda: ember.bincount(ember.tensor([1, -2])), r"bincount: .*non-negative.*minimum -2"),
    (lambda: ember.bincount(ember.tensor([[1, 2]])), r"bincount: .*1-d.*\(1, 2\)"),
    (lambda: ember.bincount(ember.tensor([1, 2]), minlength=-1), r"bincount: minlength.*-1"),
    (lambda: ember.bincount(ember.tensor([1, 2]), ember.ones(3)), r"bincount: weights.*\(2\).*\(3,\)"),
])
def test_bincount_errors(call, pattern):
    with pytest.raises(RuntimeError, match=pattern):
        call()


# -------------------------------------------------------------------------------- histc
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bins, low, high", [(100, 0, 0), (7, -1.0, 1.0), (5, 0.3, 2.5),
                                             (1, -3, 3), (10, 1.0, 1.0)])
def test_histc_parity(dtype, bins, low, high):
    x = (R.standard_normal((6, 50)) * 1.5).astype(dtype)
    out = check_parity(lambda m, x: m.histc(x, bins=bins, min=low, max=high), [x],
                       requires_grad=[False])
    assert out[0].dtype is ember.from_numpy(np.zeros(0, dtype)).dtype
    check_parity(lambda m, x: x.histc(bins, low, high), [x], requires_grad=[False])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_histc_counts_agree_on_bin_edges(dtype):
    """Values exactly on the edges, on max, just outside, and NaN: the bin of x is computed as
    torch's kernel does, in the input dtype."""
    edges = np.linspace(-1, 1, 11).astype(dtype)
    x = np.concatenate([edges, np.nextafter(edges, 2 * edges.dtype.type(1)),
                        np.nextafter(edges, -2 * edges.dtype.type(1)), [np.nan, 1.5, -1.5],
                        np.arange(-1, 1, 0.1, dtype=dtype)]).astype(dtype)
    check_parity(lambda m, x: m.histc(x, bins=10, min=-1, max=1), [x], requires_grad=[False])
    check_parity(lambda m, x: m.histc(x, bins=3, min=-0.7, max=0.9), [x], requires_grad=[False])


def test_histc_min_equal_max_cases():
    check_parity(lambda m, x: m.histc(x, bins=4), [np.full(5, 2.0, np.float32)],
                 requires_grad=[False])                      # all equal: range [1, 3]
    check_parity(lambda m, x: m.histc(x, bins=4, min=5, max=5), [np.array([1.0, 2.0, 3.0])],
                 requires_grad=[False])                      # data range
    check_parity(lambda m, x: m.histc(x, bins=4), [np.zeros(0, np.float32)], requires_grad=[False])
    check_parity(lambda m, x: m.histc(x, bins=3), [np.float64(3.0)], requires_grad=[False])
    a = ember.randn(10, requires_grad=True)
    assert not ember.histc(a, bins=4).requires_grad


@pytest.mark.parametrize("call, pattern", [
    (lambda: ember.histc(ember.tensor([1, 2])), r"histc: expected a floating point input.*int64"),
    (lambda: ember.histc(ember.ones(3), bins=0), r"histc: bins must be > 0, but got 0"),
    (lambda: ember.histc(ember.ones(3), bins=3, min=3, max=1), r"histc: max must be larger"),
    (lambda: ember.histc(ember.tensor([1.0, float("inf")])),
     r"histc: range of \[1.0, inf\] is not finite"),
    (lambda: ember.histc(ember.tensor([1.0, float("nan")])), r"histc: range of \[nan, nan\]"),
    (lambda: ember.histc(ember.ones(3), min=float("-inf"), max=1), r"histc: range .* not finite"),
])
def test_histc_errors(call, pattern):
    with pytest.raises(RuntimeError, match=pattern):
        call()


# --------------------------------------------------------------------------------- diff
@pytest.mark.parametrize("n", [0, 1, 2, 3, 6, 9])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_diff_parity_and_gradient(n, dim):
    x = R.standard_normal((5, 6, 3)).astype(np.float32)
    check_parity(lambda m, x: m.diff(x, n=n, dim=dim), [x])
    check_parity(lambda m, x: x.diff(n, dim), [x.astype(np.float64)])


def test_diff_prepend_append_promote_and_differentiate():
    x, before, after = (R.standard_normal(s) for s in [(3, 4), (3, 2), (3, 1)])
    check_parity(lambda m, x, p, a: m.diff(x, n=2, dim=1, prepend=p, append=a), [x, before, after])
    check_parity(lambda m, x, a: m.diff(x, dim=0, append=a),
                 [x.astype(np.float32), R.standard_normal((1, 4)).astype(np.float32)])
    ints = np.array([1, 3, 2, 7])
    check_parity(lambda m, x, p: m.diff(x, prepend=p), [ints, np.array([5.0], np.float32)],
                 requires_grad=[False, True])
    check_parity(lambda m, x: m.diff(x, n=0, prepend=x), [ints])   # n = 0 ignores prepend
    assert gradcheck64(lambda x, p, a: ember.diff(x, n=2, dim=1, prepend=p, append=a),
                       [x, before, after])


@pytest.mark.parametrize("values", [[1, 3, 2, 7], [True, False, False, True]])
def test_diff_integer_and_bool(values):
    x = np.array(values)
    out = check_parity(lambda m, x: m.diff(x), [x])
    check_parity(lambda m, x: m.diff(x, n=2), [x])
    assert out[0].dtype is ember.tensor(values).dtype
    check_parity(lambda m, x: m.diff(x), [np.array([3, 1], np.uint8)])   # wraps around like torch
    check_parity(lambda m, x, p: m.diff(x, prepend=p), [np.array([True, False]), np.array([1])])


def test_diff_is_a_copy_for_n_zero():
    x = ember.arange(4.0)
    y = ember.diff(x, n=0)
    y[0] = 10.0
    assert x[0].item() == 0.0


@pytest.mark.parametrize("call, error, pattern", [
    (lambda: ember.diff(ember.tensor(3.0)), RuntimeError, r"diff: .*one-dimensional"),
    (lambda: ember.diff(ember.ones(3), n=-1), RuntimeError, r"diff: order must be non-negative.*-1"),
    (lambda: ember.diff(ember.ones(3), prepend=5), TypeError,
     r"diff\(\): argument 'prepend' must be Tensor, not int"),
    (lambda: ember.diff(ember.ones(3), append=ember.tensor(5.0)), RuntimeError,
     r"diff: expects append to have the same number of dimensions as input \(1\)"),
    (lambda: ember.diff(ember.ones(2, 3), dim=0, prepend=ember.zeros(1, 2)), RuntimeError,
     r"diff: expects the shape of prepend .*\(2, 3\).*\(1, 2\)"),
    (lambda: ember.diff(ember.ones(2, 3), dim=2), IndexError, r"diff: dimension out of range"),
])
def test_diff_errors(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


# -------------------------------------------------------------------------------- trace
@pytest.mark.parametrize("shape", [(4, 4), (3, 5), (5, 2), (0, 3), (1, 1)])
def test_trace_parity_and_gradient(shape):
    a = R.standard_normal(shape)
    check_parity(lambda m, a: m.trace(a), [a.astype(np.float32)])
    check_parity(lambda m, a: a.trace(), [a], noncontiguous=True)
    if a.size:
        assert gradcheck64(lambda a: ember.trace(a), [a])


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8, np.float16])
def test_trace_dtypes(dtype):
    out = check_parity(lambda m, a: m.trace(a), [np.arange(9).reshape(3, 3).astype(dtype)],
                       requires_grad=[False])
    assert out[0].dtype is (ember.float16 if dtype == np.float16 else ember.int64)


@pytest.mark.parametrize("call, pattern", [
    (lambda: ember.trace(ember.ones(3)), r"trace: expected a matrix.*\(3,\)"),
    (lambda: ember.ones(2, 2, 2).trace(), r"trace: expected a matrix.*\(2, 2, 2\)"),
    (lambda: ember.trace(ember.ones(2, 2, dtype=ember.bool)), r"trace: .*bool"),
])
def test_trace_errors(call, pattern):
    with pytest.raises(RuntimeError, match=pattern):
        call()

