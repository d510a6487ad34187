"""ember.linalg.vector_norm, matrix_norm and norm: values and gradients against torch (the
subgradients torch picks where a norm is not differentiable included), float64 gradient
checks, dim/keepdim/dtype, and torch's errors."""
import math

import numpy as np
import pytest

import ember
import ember.linalg as LA
from tests.harness import check_parity, gradcheck64
from tests.linalg.matrices import R, well_conditioned

INF = math.inf
VECTOR_ORDERS = [2, 1, 3, 1.5, 0.5, INF, -INF, 0, -1, -2.5]


@pytest.mark.parametrize("ord", VECTOR_ORDERS, ids=str)
@pytest.mark.parametrize("dim", [None, 0, -1, (0, 2), (2, 0, 1)], ids=str)
@pytest.mark.parametrize("keepdim", [False, True])
def test_vector_norm_parity(ord, dim, keepdim):
    x = R.standard_normal((3, 4, 5)).astype(np.float32)
    check_parity(lambda m, x: m.linalg.vector_norm(x, ord, dim, keepdim), [x])


@pytest.mark.parametrize("ord", VECTOR_ORDERS, ids=str)
def test_vector_norm_float64_noncontiguous_and_gradcheck(ord):
    x = R.standard_normal((4, 3))
    check_parity(lambda m, x: m.linalg.vector_norm(x, ord=ord, dim=1), [x], noncontiguous=True)
    if ord != 0:
        assert gradcheck64(lambda x: LA.vector_norm(x, ord, dim=(0, 1)), [x])
        assert gradcheck64(lambda x: LA.vector_norm(x, ord, dim=0, keepdim=True), [x])


@pytest.mark.parametrize("ord", VECTOR_ORDERS, ids=str)
def test_vector_norm_subgradients_at_zeros_and_ties_are_torchs(ord):
    """Zeros in a vector, an all-zero vector, ties for the largest/smallest |x|."""
    x = np.array([[0.0, 2.0, -1.0, 0.0], [0.0, 0.0, 0.0, 0.0], [3.0, -3.0, 1.0, -1.0]])
    check_parity(lambda m, x: m.linalg.vector_norm(x, ord, dim=1), [x])
    check_parity(lambda m, x: m.linalg.vector_norm(x, ord), [x[1:]])


def test_vector_norm_dtype_and_errors():
    x = R.standard_normal(5).astype(np.float32)
    out = check_parity(lambda m, x: m.linalg.vector_norm(x, dtype=m.float64), [x])
    assert out[0].dtype is ember.float64
    with pytest.raises(RuntimeError, match=r"linalg.vector_norm: the dtype of the input "
                                           r"\(ember.float64\) should be convertible without "
                                           r"narrowing to the specified dtype \(ember.float32\)"):
        LA.vector_norm(ember.ones(3, dtype=ember.float64), dtype=ember.float32)
    with pytest.raises(RuntimeError, match=r"linalg.vector_norm: dtype should be floating point, "
                                           r"but got ember.int64"):
        LA.vector_norm(ember.ones(3), dtype=ember.int64)
    with pytest.raises(RuntimeError, match=r"linalg.vector_norm: Expected a floating point tensor "
                                           r"as input. Got ember.int64"):
        LA.vector_norm(ember.ones(3, dtype=ember.int64))
    with pytest.raises(TypeError, match=r"linalg.vector_norm: ord must be a number, got str"):
        LA.vector_norm(ember.ones(3), ord="fro")
    for ord in (INF, -1, -INF):
        for dim in (0, None, ()):
            with pytest.raises(RuntimeError, match=r"linalg.vector_norm: cannot compute the "
                                                   r".*norm over the empty dimension 0"):
                LA.vector_norm(ember.ones(0, 3), ord=ord, dim=dim)
    check_parity(lambda m, x: m.linalg.vector_norm(x, INF, dim=1), [np.ones((0, 3))])
    check_parity(lambda m, x: m.linalg.vector_norm(x, 0), [np.ones((0,))])


MATRIX_ORDERS = ["fro", "nuc", 1, -1, 2, -2, INF, -INF]


@pytest.mark.parametrize("ord", MATRIX_ORDERS, ids=str)
@pytest.mark.parametrize("dim", [(-2, -1), (0, 2), (2, 0), (1, 0)], ids=str)
@pytest.mark.parametrize("keepdim", [False, True])
def test_matrix_norm_parity(ord, dim, keepdim):
    a = well_conditioned(3, 4, 3).astype(np.float32) + R.standard_normal((3, 4, 3)).astype(np.float32)
    check_parity(lambda m, a: m.linalg.matrix_norm(a, ord, dim, keepdim), [a])


@pytest.mark.parametrize("ord", MATRIX_ORDERS, ids=str)
def test_matrix_norm_gradcheck_and_dtype(ord):
    a = well_conditioned(2, 3, 4)
    assert gradcheck64(lambda a: LA.matrix_norm(a, ord), [a])
    out = check_parity(lambda m, a: m.linalg.matrix_norm(a, ord, dtype=m.float64),
                       [a.astype(np.float32)])
    assert out[0].dtype is ember.float64


def test_matrix_norm_errors():
    with pytest.raises(RuntimeError, match=r"linalg.matrix_norm: Order 3 not supported"):
        LA.matrix_norm(ember.ones(3, 3), ord=3)
    with pytest.raises(RuntimeError, match=r"linalg.matrix_norm: Order 'foo' not supported"):
        LA.matrix_norm(ember.ones(3, 3), ord="foo")
    with pytest.raises(RuntimeError, match=r"linalg.matrix_norm: The input tensor A must have at "
                                           r"least 2 dimensions, got shape \(3,\)"):
        LA.matrix_norm(ember.ones(3))
    with pytest.raises(RuntimeError, match=r"linalg.matrix_norm: dims must be different, got "
                                           r"\(0, 0\)"):
        LA.matrix_norm(ember.ones(3, 3), dim=(0, 0))
    with pytest.raises(RuntimeError, match=r"linalg.matrix_norm: dim must be a 2-tuple"):
        LA.matrix_norm(ember.ones(3, 3), dim=0)
    with pytest.raises(RuntimeError, match=r"linalg.matrix_norm: Expected a floating point"):
        LA.matrix_norm(ember.ones(3, 3, dtype=ember.int64))


@pytest.mark.parametrize("shape, ord, dim", [
    ((3, 4, 5), None, None), ((5,), None, None), ((5,), 3, None), ((5,), INF, None),
    ((4, 5), None, None), ((4, 5), 2, None), ((4, 5), -1, None), ((4, 5), "fro", None),
    ((4, 5), "nuc", None), ((3, 4, 5), 2, (1, 2)), ((3, 4, 5), "nuc", (0, 2)),
    ((3, 4, 5), 1, 1), ((3, 4, 5), 0.5, (2,)), ((3, 4, 5), None, (0, 1)), ((3, 4, 5), INF, (2, 0)),
], ids=str)
@pytest.mark.parametrize("keepdim", [False, True])
def test_norm_dispatch_parity(shape, ord, dim, keepdim):
    x = R.standard_normal(shape)
    check_parity(lambda m, x: m.linalg.norm(x, ord, dim, keepdim), [x])
    assert gradcheck64(lambda x: LA.norm(x, ord, dim, keepdim), [x[..., :3]])


def test_norm_errors():
    with pytest.raises(RuntimeError, match=r"linalg.norm: If dim is not specified but ord is, the "
                                           r"input must be 1D or 2D. Got 3D."):
        LA.norm(ember.ones(3, 3, 3), ord=2)
    with pytest.raises(RuntimeError, match=r"linalg.norm: If dim is specified, it must be of "
                                           r"length 1 or 2. Got \[0, 1, 2\]"):
        LA.norm(ember.ones(3, 3, 3), dim=(0, 1, 2))
    with pytest.raises(RuntimeError, match=r"linalg.matrix_norm: The input tensor A must have"):
        LA.norm(ember.ones(3), ord="fro")
    with pytest.raises(RuntimeError, match=r"linalg.vector_norm: Expected a floating point"):
        LA.norm(ember.ones(3, dtype=ember.int64))
