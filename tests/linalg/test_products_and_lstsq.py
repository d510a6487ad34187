"""ember.linalg.cross, vecdot, multi_dot, matrix_power, lstsq and the aliases matmul and
diagonal: values and gradients against torch, gradient checks, torch's errors; the namespace
is lazy and mirrors torch.linalg's names."""
import subprocess
import sys

import numpy as np
import pytest
import torch

import ember
import ember.linalg as LA
from tests.harness import check_parity, gradcheck64
from tests.linalg.matrices import R, rank_deficient, well_conditioned


# ---------------------------------------------------------------------------------- cross
@pytest.mark.parametrize("a_shape, b_shape, dim", [((3,), (3,), -1), ((4, 3), (4, 3), -1),
                                                   ((3, 5), (3, 5), 0), ((2, 1, 3), (1, 4, 3), -1),
                                                   ((2, 3, 4), (2, 3, 1), 1)], ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_parity(a_shape, b_shape, dim, dtype):
    a, b = (R.standard_normal(s).astype(dtype) for s in (a_shape, b_shape))
    check_parity(lambda m, a, b: m.linalg.cross(a, b, dim=dim), [a, b])


def test_cross_gradcheck_integers_and_errors():
    assert gradcheck64(lambda a, b: LA.cross(a, b), [R.standard_normal((2, 3)),
                                                     R.standard_normal((1, 3))])
    check_parity(lambda m, a, b: m.linalg.cross(a, b), [np.array([1, 2, 3]), np.array([4, 5, 7])])
    with pytest.raises(RuntimeError, match=r"linalg.cross: inputs dimension -1 must have length "
                                           r"3. Got 3 and 4"):
        LA.cross(ember.ones(3), ember.ones(4))
    with pytest.raises(RuntimeError, match=r"linalg.cross: inputs must have the same number of "
                                           r"dimensions, got shapes \(2, 1, 3\) and \(4, 3\)"):
        LA.cross(ember.ones(2, 1, 3), ember.ones(4, 3))
    with pytest.raises(RuntimeError, match=r"linalg.cross: expected both inputs to have the same "
                                           r"dtype, got ember.int64 and ember.float32"):
        LA.cross(ember.ones(3, dtype=ember.int64), ember.ones(3))


# --------------------------------------------------------------------------------- vecdot
@pytest.mark.parametrize("x_shape, y_shape, dim", [((5,), (5,), -1), ((2, 5), (5,), -1),
                                                   ((3, 1, 4), (2, 4), -1), ((4, 3), (4, 3), 0)],
                         ids=str)
def test_vecdot(x_shape, y_shape, dim):
    x, y = (R.standard_normal(s) for s in (x_shape, y_shape))
    check_parity(lambda m, x, y: m.linalg.vecdot(x, y, dim=dim), [x, y])
    check_parity(lambda m, x, y: m.linalg.vecdot(x, y, dim=dim), [x.astype(np.float32),
                                                                  y.astype(np.float32)])
    assert gradcheck64(lambda x, y: LA.vecdot(x, y, dim=dim), [x, y])
    with pytest.raises(RuntimeError, match=r"linalg.vecdot: Expected a floating point tensor as "
                                           r"input. Got ember.int64"):
        LA.vecdot(ember.ones(3, dtype=ember.int64), ember.ones(3))


# ------------------------------------------------------------------------------ multi_dot
@pytest.mark.parametrize("shapes", [[(3, 4), (4, 2)], [(5,), (5, 3), (3,)],
                                    [(2, 30), (30, 3), (3, 40), (40, 4)],
                                    [(6,), (6, 2), (2, 8), (8, 3), (3, 1)], [(4, 4)] * 5], ids=str)
def test_multi_dot(shapes):
    arrays = [R.standard_normal(s) for s in shapes]
    check_parity(lambda m, *xs: m.linalg.multi_dot(xs), arrays)
    check_parity(lambda m, *xs: m.linalg.multi_dot(list(xs)), [a.astype(np.float32) for a in arrays])
    assert gradcheck64(lambda *xs: LA.multi_dot(xs), arrays)


def test_multi_dot_picks_the_cheapest_order():
    """(10x100)(100x5)(5x50): (AB)C costs 5000 + 2500 products, A(BC) 25000 + 50000."""
    split = LA._chain_order([10, 100, 5, 50])
    assert split[0][2] == 1
    check_parity(lambda m, a, b: m.linalg.multi_dot([a, b, b.mT]),
                 [np.arange(6).reshape(2, 3), np.arange(12).reshape(3, 4)])


@pytest.mark.parametrize("tensors, pattern", [
    (lambda: [ember.ones(3, 3)], r"multi_dot\(\): expected at least 2 tensors but got 1"),
    (lambda: [ember.ones(3, 3), ember.ones(3, 3, 3)],
     r"the last tensor must be 1D or 2D but got 3D"),
    (lambda: [ember.ones(2, 3, 3), ember.ones(3, 3)],
     r"the first tensor must be 1D or 2D but got 3D"),
    (lambda: [ember.ones(3), ember.ones(3), ember.ones(3)],
     r"the tensor 1 tensor must be 2D but got 1D"),
    (lambda: [ember.ones(3, 3, dtype=ember.float64), ember.ones(3, 3)],
     r"all tensors must have the same dtype but tensor 0 is ember.float64 and tensor 1 ember.float32"),
    (lambda: [ember.ones(3, 2), ember.ones(3, 3)],
     r"tensors 0 and 1 with shapes \[3, 2\] and \[3, 3\] cannot be multiplied"),
])
def test_multi_dot_errors(tensors, pattern):
    with pytest.raises(RuntimeError, match=pattern):
        LA.multi_dot(tensors())


# --------------------------------------------------------------------------- matrix_power
@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 8, -1, -2, -3])
def test_matrix_power(n):
    a = well_conditioned(2, 3, 3)
    check_parity(lambda m, a: m.linalg.matrix_power(a, n), [a])
    check_parity(lambda m, a: m.linalg.matrix_power(a, n), [a.astype(np.float32) / 1.5])
    assert gradcheck64(lambda a: LA.matrix_power(a, n), [a[0]])


def test_matrix_power_integers_and_errors():
    check_parity(lambda m, a: m.linalg.matrix_power(a, 3), [np.arange(4).reshape(2, 2)])
    with pytest.raises(RuntimeError, match=r"linalg.matrix_power: A must be batches of square "
                                           r"matrices, got shape \(2, 3\)"):
        LA.matrix_power(ember.ones(2, 3), 2)
    with pytest.raises(TypeError, match=r"linalg.matrix_power: n must be an int, got float 2.0"):
        LA.matrix_power(ember.eye(2), 2.0)
    with pytest.raises(LA.LinAlgError, match=r"linalg.inv: .*singular"):
        LA.matrix_power(ember.zeros(2, 2), -1)


# ---------------------------------------------------------------------------------- lstsq
def _solution_and_residuals(m, a, b, **kwargs):
    res = m.linalg.lstsq(a, b, **kwargs)
    return res.solution, res.residuals


@pytest.mark.parametrize("a_shape, b_shape", [((5, 3), (5, 2)), ((5, 3), (5,)), ((3, 3), (3, 4)),
                                              ((3, 5), (3, 2)), ((2, 6, 3), (2, 6, 2)),
                                              ((2, 6, 3), (2, 6)), ((2, 1, 5, 3), (1, 4, 5, 2))],
                         ids=str)
@pytest.mark.parametrize("driver", [None, "gels", "gelsy", "gelsd", "gelss"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lstsq_full_rank_parity(a_shape, b_shape, driver, dtype):
    a = well_conditioned(*a_shape, dtype=dtype)
    b = R.standard_normal(b_shape).astype(dtype)
    check_parity(lambda m, a, b: _solution_and_residuals(m, a, b, driver=driver), [a, b])
    res, ref = LA.lstsq(ember.tensor(a), ember.tensor(b), driver=driver), torch.linalg.lstsq(
        torch.tensor(a), torch.tensor(b), driver=driver)
    assert res._fields == ("solution", "residuals", "rank", "singular_values")
    np.testing.assert_array_equal(res.rank.numpy(), ref.rank.numpy())
    assert res.rank.dtype is ember.int64
    assert res.singular_values.shape == tuple(ref.singular_values.shape)
    if res.singular_values.numel():
        np.testing.assert_allclose(res.singular_values.numpy(), ref.singular_values.numpy(),
                                   rtol=1e-5)


@pytest.mark.parametrize("driver", ["gelsd", "gelss", "gelsy"])
def test_lstsq_rank_deficient_minimum_norm_solution(driver):
    a = rank_deficient(6, 4, 2, batch=(2,))
    b = R.standard_normal((2, 6, 3))
    check_parity(lambda m, a, b: m.linalg.lstsq(a, b, rcond=1e-8, driver=driver).solution, [a, b])
    res = LA.lstsq(ember.tensor(a), ember.tensor(b), rcond=1e-8, driver=driver)
    assert res.rank.tolist() == [2, 2] and res.residuals.shape == (0,)


def test_lstsq_gradcheck_and_errors():
    a, b = well_conditioned(5, 3), R.standard_normal((5, 2))
    assert gradcheck64(lambda a, b: _solution_and_residuals(ember, a, b, driver="gelsd"), [a, b])
    assert gradcheck64(lambda a, b: LA.lstsq(a, b).solution, [well_conditioned(3, 5),
                                                              R.standard_normal((3,))])
    with pytest.raises(RuntimeError, match=r"linalg.lstsq: parameter `driver` should be one of "
                                           r"\(gels, gelsy, gelsd, gelss\), got 'gesvd'"):
        LA.lstsq(ember.eye(3), ember.ones(3), driver="gesvd")
    with pytest.raises(RuntimeError, match=r"linalg.lstsq: A has 3 rows but B has 4"):
        LA.lstsq(ember.eye(3), ember.ones(4, 2))
    with pytest.raises(RuntimeError, match=r"linalg.lstsq: Expected A and B to have the same dtype"):
        LA.lstsq(ember.eye(3), ember.ones(3, dtype=ember.float64))
    with pytest.raises(RuntimeError, match=r"linalg.lstsq: A.dim\(\) must be greater or equal to "
                                           r"B.dim\(\)"):
        LA.lstsq(ember.eye(3), ember.ones(1, 1, 3, 1))


# ----------------------------------------------------------------------- namespace, aliases
def test_aliases_and_names_mirror_torch_linalg():
    a = R.standard_normal((2, 3, 4))
    check_parity(lambda m, a: m.linalg.diagonal(a, offset=1), [a])
    check_parity(lambda m, a: m.linalg.matmul(a, a.mT), [a])
    missing = [name for name in LA.__all__ if not hasattr(torch.linalg, name)]
    assert missing == []
    for name in ("det", "slogdet", "logdet", "inverse", "pinverse"):
        assert hasattr(torch, name) and hasattr(torch.Tensor, name)
        assert callable(getattr(ember, name)) and callable(getattr(ember.Tensor, name))


def test_ember_linalg_is_imported_on_first_use():
    code = ("import sys, ember; print('ember.linalg' in sys.modules); ember.linalg.inv; "
            "print('ember.linalg' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]
