"""ember.linalg's decompositions (inv, det, slogdet, logdet, solve, cholesky, qr, eigh,
eigvalsh, svd, svdvals, pinv, matrix_rank): values and gradients against torch, float64
finite-difference gradient checks, batching, result tuples, and torch's errors.

Singular vectors, eigenvectors and QR factors are unique only up to sign, and LAPACK builds
may choose differently: they are compared through sign-invariant functions (their squares,
the reconstruction of the input), with random upstream gradients on every output at once, so
the gradients reaching the input from several outputs' nodes are summed as in torch's single
node. Tolerances: see tests/linalg/matrices.py."""
import warnings

import numpy as np
import pytest
import torch

import ember
import ember.linalg as LA
from tests.harness import assert_close, check_parity, gradcheck64
from tests.linalg.matrices import (R, positive_definite, rank_deficient, symmetric,
                                   well_conditioned)

SQUARE_SHAPES = [(3, 3), (1, 1), (2, 4, 4), (2, 1, 3, 3)]
RECT_SHAPES = [(3, 3), (5, 3), (3, 5), (2, 4, 2), (2, 2, 4)]


def _sym(x):
    """The symmetric part: the functions that read one triangle are checked on it."""
    return (x + x.mT) / 2


# ---------------------------------------------------------------------------------- inv
@pytest.mark.parametrize("shape", SQUARE_SHAPES, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_inv_parity(shape, dtype):
    a = well_conditioned(*shape, dtype=dtype)
    check_parity(lambda m, a: m.linalg.inv(a), [a])
    check_parity(lambda m, a: m.inverse(a), [a], noncontiguous=True)
    check_parity(lambda m, a: a.inverse(), [a])


def test_inv_gradcheck_and_empty():
    assert gradcheck64(LA.inv, [well_conditioned(2, 3, 3)])
    assert gradcheck64(LA.inv, [R.standard_normal((3, 3))])
    for shape in [(0, 0), (2, 0, 0), (0, 3, 3)]:
        check_parity(lambda m, a: m.linalg.inv(a), [np.zeros(shape)])


def test_inv_singular_names_function_batch_element_and_pivot():
    singular = np.array([[1.0, 2.0], [2.0, 4.0]])
    with pytest.raises(LA.LinAlgError, match=r"^linalg.inv: The diagonal element 2 is zero, the "
                                             r"inversion could not be completed because the input "
                                             r"matrix is singular.$"):
        LA.inv(ember.tensor(singular))
    batch = np.stack([np.eye(2), np.eye(2), singular, np.zeros((2, 2))])
    with pytest.raises(RuntimeError, match=r"linalg.inv: \(Batch element 2\): The diagonal "
                                           r"element 2 is zero"):
        LA.inv(ember.tensor(batch))
    with pytest.raises(LA.LinAlgError, match=r"element 1 is zero"):
        LA.inv(ember.zeros(3, 3))
    assert issubclass(LA.LinAlgError, RuntimeError)


@pytest.mark.parametrize("fn", ["inv", "det", "slogdet", "cholesky", "eigh", "eigvalsh"])
def test_square_functions_refuse_bad_input(fn):
    f = getattr(LA, fn)
    with pytest.raises(RuntimeError, match=rf"linalg.{fn}: Expected a floating point tensor.*"
                                           r"int64"):
        f(ember.ones(2, 2, dtype=ember.int64))
    with pytest.raises(RuntimeError, match=rf"linalg.{fn}: Low precision dtypes not supported. "
                                           r"Got ember.float16"):
        f(ember.ones(2, 2, dtype=ember.float16))
    with pytest.raises(RuntimeError, match=rf"linalg.{fn}: .*at least 2 dimensions.*\(3,\)"):
        f(ember.ones(3))
    with pytest.raises(RuntimeError, match=rf"linalg.{fn}: A must be batches of square matrices, "
                                           r"but they are 2 by 3 matrices"):
        f(ember.ones(2, 2, 3))


# ---------------------------------------------------------------------------------- det
@pytest.mark.parametrize("shape", SQUARE_SHAPES + [(3, 2, 2)], ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_det_parity(shape, dtype):
    a = well_conditioned(*shape, dtype=dtype)
    check_parity(lambda m, a: m.linalg.det(a), [a])
    check_parity(lambda m, a: m.det(a), [a], noncontiguous=True)
    check_parity(lambda m, a: a.det(), [a])


def test_det_gradcheck_including_singular_matrices():
    """det is a polynomial: its gradient, the cofactor matrix, exists at singular matrices
    too (rank n-1: non-zero; rank n-2: zero)."""
    assert gradcheck64(LA.det, [R.standard_normal((2, 3, 3))])
    assert gradcheck64(LA.det, [rank_deficient(3, 3, 2, batch=(2,))])
    assert gradcheck64(LA.det, [rank_deficient(4, 4, 2)])
    assert gradcheck64(LA.det, [np.array([[1.0, 2.0], [2.0, 4.0]])])


def test_det_gradient_at_singular_matrices_is_torchs_cofactor_matrix():
    """torch's eager backward returns 0 at an exactly singular matrix; its create_graph
    backward returns the cofactor matrix, which Ember returns always (and gradcheck agrees)."""
    batch = np.stack([np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]),
                      well_conditioned(3, 3), rank_deficient(3, 3, 2)])
    a = ember.tensor(batch, requires_grad=True)
    LA.det(a).sum().backward()
    t = torch.tensor(batch, requires_grad=True)
    (expected,) = torch.autograd.grad(torch.linalg.det(t).sum(), t, create_graph=True)
    assert_close(a.grad.numpy(), expected.detach().numpy())
    assert_close(a.grad.numpy()[0], np.array([[-3, 6, -3], [6, -12, 6], [-3, 6, -3]], float))


def test_det_of_empty_matrices():
    check_parity(lambda m, a: m.linalg.det(a), [np.zeros((0, 0))])
    check_parity(lambda m, a: m.linalg.det(a), [np.zeros((2, 0, 0))])
    check_parity(lambda m, a: m.linalg.det(a), [np.zeros((0, 2, 2))])


def test_det_of_nan_matrix_warns_nothing():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(LA.det(ember.full((2, 2), float("nan"))).item())
        assert np.isnan(LA.slogdet(ember.full((2, 2), float("nan"))).logabsdet.item())


# ------------------------------------------------------------------------ slogdet, logdet
@pytest.mark.parametrize("shape", SQUARE_SHAPES, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_slogdet_parity(shape, dtype):
    a = well_conditioned(*shape, dtype=dtype) * 3
    out = check_parity(lambda m, a: tuple(m.linalg.slogdet(a)), [a])
    res = LA.slogdet(ember.tensor(a))
    assert res.sign is res[0] and res.logabsdet is res[1] and res._fields == ("sign", "logabsdet")
    assert out[0].requires_grad                       # like torch's, with a zero gradient
    check_parity(lambda m, a: tuple(m.slogdet(a)), [a], noncontiguous=True)
    check_parity(lambda m, a: a.slogdet().logabsdet, [a])


def test_slogdet_gradcheck_and_singular_batch_element():
    assert gradcheck64(lambda a: LA.slogdet(a).logabsdet, [R.standard_normal((2, 3, 3))])
    batch = np.stack([well_conditioned(2, 2), np.array([[1.0, 2.0], [2.0, 4.0]])])
    a = ember.tensor(batch, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sign, logabsdet = LA.slogdet(a)
        assert sign[1].item() == 0 and logabsdet[1].item() == -np.inf
        logabsdet.sum().backward()
    assert np.isnan(a.grad.numpy()[1]).all()         # no finite gradient (torch: infinities)
    assert_close(a.grad.numpy()[0], np.linalg.inv(batch[0]).T)


def test_logdet():
    pos, neg = well_conditioned(3, 3), well_conditioned(3, 3)
    pos *= np.sign(np.linalg.det(pos))
    neg *= -np.sign(np.linalg.det(neg))
    batch = np.stack([pos, neg])
    check_parity(lambda m, a: m.logdet(a), [batch])
    check_parity(lambda m, a: a.logdet(), [batch.astype(np.float32)])
    check_parity(lambda m, a: m.logdet(a), [np.stack([pos, neg, np.zeros((3, 3))])],
                 requires_grad=[False])              # -inf at the singular matrix
    assert gradcheck64(ember.logdet, [pos])


# --------------------------------------------------------------------------------- solve
SOLVE_CASES = [((3, 3), (3,), True), ((3, 3), (3, 2), True), ((2, 3, 3), (2, 3), True),
               ((2, 3, 3), (3, 4), True), ((2, 1, 3, 3), (5, 3, 4), True), ((3, 3), (2, 3, 1), True),
               ((3, 3), (4, 3), False), ((2, 3, 3), (2, 5, 3), False), ((3, 3), (2, 1, 3), False)]


@pytest.mark.parametrize("a_shape, b_shape, left", SOLVE_CASES, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_solve_parity_broadcast_vector_and_right(a_shape, b_shape, left, dtype):
    a = well_conditioned(*a_shape, dtype=dtype)
    b = R.standard_normal(b_shape).astype(dtype)
    check_parity(lambda m, a, b: m.linalg.solve(a, b, left=left), [a, b])


def test_solve_gradcheck():
    for a_shape, b_shape, left in SOLVE_CASES:
        assert gradcheck64(lambda a, b: LA.solve(a, b, left=left),
                           [well_conditioned(*a_shape), R.standard_normal(b_shape)])


@pytest.mark.parametrize("call, error, pattern", [
    (lambda: LA.solve(ember.eye(3), ember.ones(2)), RuntimeError,
     r"linalg.solve: Incompatible shapes of A and B for the equation AX = B \(3x3 and 2x1\)"),
    (lambda: LA.solve(ember.eye(3), ember.ones(2, 2)), RuntimeError, r"\(3x3 and 2x2\)"),
    (lambda: LA.solve(ember.eye(3).expand(2, 3, 3), ember.ones(4, 3)), RuntimeError,
     r"AX = B \(3x3 and 4x3\)"),
    (lambda: LA.solve(ember.eye(3), ember.ones(3, 4), left=False), RuntimeError,
     r"XA = B \(3x3 and 3x4\)"),
    (lambda: LA.solve(ember.eye(3), ember.ones(3), left=False), RuntimeError,
     r"Vector broadcasting .* left=False"),
    (lambda: LA.solve(ember.eye(3), ember.ones(3, dtype=ember.float64)), RuntimeError,
     r"linalg.solve: Expected A and B to have the same dtype.*float32.*float64"),
    (lambda: LA.solve(ember.eye(3).expand(2, 3, 3), ember.ones(3, 3, 1)), RuntimeError,
     r"linalg.solve: the batch dims .*\(2, 3, 3\).*\(3, 3, 1\)"),
    (lambda: LA.solve(ember.tensor([[1.0, 2.0], [2.0, 4.0]]), ember.ones(2)), LA.LinAlgError,
     r"^linalg.solve: The solver failed because the input matrix is singular.$"),
    (lambda: LA.solve(ember.stack([ember.eye(2), ember.tensor([[1.0, 2.0], [2.0, 4.0]])]),
                      ember.ones(2)), LA.LinAlgError, r"linalg.solve: \(Batch element 1\): The "
                                                      r"solver failed"),
])
def test_solve_errors(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


# ------------------------------------------------------------------------------ cholesky
@pytest.mark.parametrize("shape", SQUARE_SHAPES, ids=str)
@pytest.mark.parametrize("upper", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cholesky_parity(shape, upper, dtype):
    a = positive_definite(*shape, dtype=dtype)
    check_parity(lambda m, a: m.linalg.cholesky(a, upper=upper), [a])


def test_cholesky_reads_one_triangle_like_torch():
    a = positive_definite(2, 4, 4)
    a += np.triu(R.standard_normal((4, 4)), 1)        # junk in the strict upper triangle
    check_parity(lambda m, a: m.linalg.cholesky(a), [a])
    check_parity(lambda m, a: m.linalg.cholesky(a.mT, upper=True), [a], noncontiguous=True)


def test_cholesky_gradcheck():
    a = positive_definite(2, 3, 3)
    assert gradcheck64(lambda x: LA.cholesky(_sym(x)), [a])
    assert gradcheck64(lambda x: LA.cholesky(_sym(x), upper=True), [a])


def test_cholesky_not_positive_definite_names_minor_and_batch_element():
    with pytest.raises(LA.LinAlgError, match=r"^linalg.cholesky: The factorization could not be "
                                             r"completed because the input is not positive-"
                                             r"definite \(the leading minor of order 2 is not "
                                             r"positive-definite\).$"):
        LA.cholesky(ember.tensor([[1.0, 2.0], [2.0, 1.0]]))
    batch = ember.stack([ember.eye(3), -ember.eye(3)])
    with pytest.raises(LA.LinAlgError, match=r"\(Batch element 1\): .*order 1 is not"):
        LA.cholesky(batch)
    with pytest.raises(LA.LinAlgError, match=r"order 1 is not"):
        LA.cholesky(ember.full((2, 2), float("nan")))
    upper_bad = ember.tensor([[1.0, 5.0], [0.0, 1.0]])     # upper triangle is not PD
    assert LA.cholesky(upper_bad).allclose(ember.eye(2))
    with pytest.raises(LA.LinAlgError, match=r"order 2"):
        LA.cholesky(upper_bad, upper=True)


# ------------------------------------------------------------------------------------ qr
def _qr_invariants(m, a, mode):
    q, r = m.linalg.qr(a, mode=mode)
    return q ** 2, r ** 2, q @ r


@pytest.mark.parametrize("shape", RECT_SHAPES, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_qr_reduced_parity(shape, dtype):
    a = well_conditioned(*shape, dtype=dtype)
    check_parity(lambda m, a: _qr_invariants(m, a, "reduced"), [a])
    q, r = LA.qr(ember.tensor(a))
    k = min(shape[-2:])
    assert q.shape == shape[:-1] + (k,) and r.shape == shape[:-2] + (k, shape[-1])
    assert_close((q.mT @ q).numpy(), np.broadcast_to(np.eye(k, dtype=dtype), shape[:-2] + (k, k)))


@pytest.mark.parametrize("shape", [(3, 3), (3, 5), (2, 2, 4), (5, 3)], ids=str)
def test_qr_complete_and_r_modes(shape):
    a = well_conditioned(*shape)
    m, n = shape[-2:]
    if m <= n:
        check_parity(lambda m, a: _qr_invariants(m, a, "complete"), [a])
    else:  # complete with m > n: the extra columns of Q are not unique, R is
        check_parity(lambda m, a: m.linalg.qr(a, mode="complete").R ** 2, [a],
                     requires_grad=[False])
    q, r = LA.qr(ember.tensor(a), mode="complete")
    assert q.shape == shape[:-1] + (m,) and r.shape == shape
    res = LA.qr(ember.tensor(a), mode="r")
    assert res.Q.shape == (0,) and res._fields == ("Q", "R")
    check_parity(lambda m, a: m.linalg.qr(a, mode="r").R ** 2, [a], requires_grad=[False])


def test_qr_gradcheck():
    for shape in [(4, 3), (3, 3), (3, 5), (2, 2, 3)]:
        a = well_conditioned(*shape)
        assert gradcheck64(lambda x: _qr_invariants(ember, x, "reduced"), [a])
        if shape[-2] <= shape[-1]:
            assert gradcheck64(lambda x: _qr_invariants(ember, x, "complete"), [a])


def test_qr_gradient_through_a_singular_r_is_not_finite_there_only():
    """A zero column makes a diagonal entry of R exactly 0: no finite gradient (torch's is not
    finite either), while the other matrices of the batch are unaffected."""
    for shape in [(4, 3), (3, 4)]:
        singular = well_conditioned(*shape)
        singular[:, 1] = 0
        a_np = np.stack([well_conditioned(*shape), singular])
        a = ember.tensor(a_np, requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            q, r = LA.qr(a)
            ((q ** 2).sum() + (r ** 2).sum()).backward()
        t = torch.tensor(a_np, requires_grad=True)
        tq, tr = torch.linalg.qr(t)
        ((tq ** 2).sum() + (tr ** 2).sum()).backward()
        assert_close(a.grad.numpy()[0], t.grad.numpy()[0])
        assert np.isnan(a.grad.numpy()[1]).any() and not np.isfinite(t.grad.numpy()[1]).all()


def test_qr_modes_that_torch_does_not_differentiate():
    a = ember.tensor(well_conditioned(4, 3), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"derivative of linalg.qr depends on Q, which is not "
                                           r"computed when mode='r'"):
        LA.qr(a, mode="r").R.sum().backward()
    with pytest.raises(RuntimeError, match=r"not differentiable when mode='complete' and nrows "
                                           r"> ncols"):
        LA.qr(a, mode="complete").Q.sum().backward()
    with pytest.raises(RuntimeError, match=r"linalg.qr: received unrecognized mode 'full'"):
        LA.qr(a, mode="full")
    with pytest.raises(RuntimeError, match=r"linalg.qr: Expected a floating point.*int64"):
        LA.qr(ember.ones(3, 2, dtype=ember.int64))


# ---------------------------------------------------------------------------------- eigh
def _eigh_invariants(m, a, uplo="L"):
    values, vectors = m.linalg.eigh(a, UPLO=uplo)
    return values, vectors ** 2


@pytest.mark.parametrize("shape", SQUARE_SHAPES, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_eigh_parity(shape, dtype):
    a = symmetric(*shape, dtype=dtype)
    check_parity(lambda m, a: _eigh_invariants(m, a), [a])
    check_parity(lambda m, a: m.linalg.eigvalsh(a), [a])
    res = LA.eigh(ember.tensor(a))
    assert res._fields == ("eigenvalues", "eigenvectors") and res.eigenvalues is res[0]


def test_eigh_uplo_reads_that_triangle():
    a = symmetric(2, 4, 4) + np.triu(R.standard_normal((4, 4)), 1)
    for uplo in ("L", "U", "l", "u"):
        check_parity(lambda m, a: _eigh_invariants(m, a, uplo), [a])
        check_parity(lambda m, a: m.linalg.eigvalsh(a, UPLO=uplo), [a])
    with pytest.raises(RuntimeError, match=r"linalg.eigh: Expected UPLO argument to be 'L' or "
                                           r"'U', but got 'X'"):
        LA.eigh(ember.eye(2), UPLO="X")


def test_eigh_gradcheck():
    a = symmetric(2, 3, 3)
    assert gradcheck64(lambda x: _eigh_invariants(ember, _sym(x)), [a])
    assert gradcheck64(lambda x: LA.eigvalsh(_sym(x)), [a])
    assert gradcheck64(lambda x: LA.eigvalsh(_sym(x), UPLO="U"), [a])


def test_eigvalsh_gradient_at_repeated_eigenvalues_is_finite():
    """Eigenvalues are differentiable where eigenvectors are not: the identity has one
    eigenvalue of multiplicity n, and d(sum w_i L_i) = V diag(w) V^T for any eigenbasis."""
    check_parity(lambda m, a: m.linalg.eigvalsh(a).sum(), [np.eye(4)])
    check_parity(lambda m, a: m.linalg.eigh(a).eigenvalues.sum(), [np.eye(3) * 2])


# ----------------------------------------------------------------------------------- svd
def _svd_invariants(m, a, full_matrices):
    u, s, vh = m.linalg.svd(a, full_matrices=full_matrices)
    k = s.shape[-1]
    return u[..., :k] ** 2, s, vh[..., :k, :] ** 2, (u[..., :k] * s.unsqueeze(-2)) @ vh[..., :k, :]


@pytest.mark.parametrize("shape", RECT_SHAPES + [(2, 3, 3, 2)], ids=str)
@pytest.mark.parametrize("full_matrices", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_svd_parity(shape, full_matrices, dtype):
    a = well_conditioned(*shape, dtype=dtype)
    check_parity(lambda m, a: _svd_invariants(m, a, full_matrices), [a])
    u, s, vh = res = LA.svd(ember.tensor(a), full_matrices=full_matrices)
    m, n = shape[-2:]
    k = min(m, n)
    assert res._fields == ("U", "S", "Vh") and res.S is s
    assert u.shape[-1] == (m if full_matrices else k) and vh.shape[-2] == (n if full_matrices else k)
    assert_close((u.mT @ u).numpy(), np.broadcast_to(np.eye(u.shape[-1], dtype=dtype),
                                                     u.shape[:-2] + (u.shape[-1],) * 2))


@pytest.mark.parametrize("shape", RECT_SHAPES, ids=str)
def test_svdvals_parity(shape):
    a = well_conditioned(*shape)
    check_parity(lambda m, a: m.linalg.svdvals(a), [a])
    check_parity(lambda m, a: m.linalg.svdvals(a), [a.astype(np.float32)], noncontiguous=True)


def test_svd_gradcheck():
    for shape in [(3, 3), (4, 2), (2, 4), (2, 3, 2)]:
        a = well_conditioned(*shape)
        for full in (False, True):
            assert gradcheck64(lambda x: _svd_invariants(ember, x, full), [a])
        assert gradcheck64(LA.svdvals, [a])


def test_svdvals_gradient_is_finite_at_repeated_singular_values():
    """A function of the singular values symmetric in the repeated ones (here their sum, the
    nuclear norm) has a unique gradient, ``U V^T``, whatever basis the SVD picks."""
    check_parity(lambda m, a: m.linalg.svdvals(a).sum(), [np.eye(3) * 2])
    u, _, vh = np.linalg.svd(well_conditioned(4, 3), full_matrices=False)
    check_parity(lambda m, a: m.linalg.svd(a).S.sum(), [(u * [2.0, 2.0, 1.0]) @ vh])


def test_svd_gradient_of_full_matrices_ignores_the_extra_basis():
    """torch ignores the gradients on U[..., k:] and Vh[..., k:, :] (arbitrary bases); the
    projectors onto their spans are basis-free, so their values are comparable."""
    def projectors(m, a):
        u, s, vh = m.linalg.svd(a)
        k = s.shape[-1]
        return u[..., k:] @ u[..., k:].mT, s, vh[..., k:, :].mT @ vh[..., k:, :]
    check_parity(projectors, [well_conditioned(5, 3)])
    check_parity(projectors, [well_conditioned(2, 3, 5)])


def test_svd_driver_and_errors():
    with pytest.raises(RuntimeError, match=r"linalg.svd: keyword argument `driver=` is only "
                                           r"supported on CUDA.*'gesvd'"):
        LA.svd(ember.eye(2), driver="gesvd")
    with pytest.raises(RuntimeError, match=r"linalg.svdvals: keyword argument `driver=`"):
        LA.svdvals(ember.eye(2), driver="gesvdj")
    assert LA.svd(ember.eye(2), driver=None).S.tolist() == [1.0, 1.0]
    batch = ember.stack([ember.eye(2), ember.full((2, 2), float("nan"))])
    for fn in (LA.svd, LA.svdvals):
        with pytest.raises(LA.LinAlgError, match=r"linalg.svd: \(Batch element 1\): The algorithm "
                                                 r"failed to converge because the input matrix "
                                                 r"contained non-finite values."):
            fn(batch)
    with pytest.raises(RuntimeError, match=r"linalg.svd: The input tensor A must have at least 2"):
        LA.svd(ember.ones(3))


@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (0, 0), (2, 0, 3)], ids=str)
@pytest.mark.parametrize("full_matrices", [True, False])
def test_svd_of_empty_matrices(shape, full_matrices):
    out = LA.svd(ember.zeros(*shape), full_matrices=full_matrices)
    ref = torch.linalg.svd(torch.zeros(*shape), full_matrices=full_matrices)
    assert [tuple(x.shape) for x in out] == [tuple(x.shape) for x in ref]


# --------------------------------------------------------- several outputs, one factorisation
def test_gradients_from_all_outputs_sum_and_in_place_changes_stay_local():
    a_np = well_conditioned(4, 3)
    a = ember.tensor(a_np, requires_grad=True)
    u, s, vh = LA.svd(a, full_matrices=False)
    ((u ** 2).sum() + s.sum() * 3 + (vh ** 2 * ember.arange(3.0, dtype=ember.float64)).sum()
     ).backward()
    t = torch.tensor(a_np, requires_grad=True)
    tu, ts, tvh = torch.linalg.svd(t, full_matrices=False)
    ((tu ** 2).sum() + ts.sum() * 3 + (tvh ** 2 * torch.arange(3.0, dtype=torch.float64)).sum()
     ).backward()
    assert_close(a.grad.numpy(), t.grad.numpy())

    a.grad = None
    u, s, vh = LA.svd(a, full_matrices=False)
    u.mul_(2.0)                       # the S node still reads the factors it was built from
    s.sum().backward()
    assert_close(a.grad.numpy(), (u.detach().numpy() / 2) @ vh.detach().numpy())


def test_outputs_do_not_require_grad_without_need():
    a = ember.tensor(well_conditioned(3, 3))
    assert not any(x.requires_grad for x in LA.svd(a))
    with ember.no_grad():
        b = ember.tensor(well_conditioned(3, 3), requires_grad=True)
        assert not any(x.requires_grad for x in LA.eigh(_sym(b)))
        assert not LA.svdvals(b).requires_grad and not LA.inv(b).requires_grad


# ---------------------------------------------------------------------------------- pinv
@pytest.mark.parametrize("shape", RECT_SHAPES + [(0, 3), (2, 3, 0)], ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pinv_parity(shape, dtype):
    a = well_conditioned(*shape, dtype=dtype)
    check_parity(lambda m, a: m.linalg.pinv(a), [a])
    check_parity(lambda m, a: m.pinverse(a), [a])


@pytest.mark.parametrize("m, n, rank", [(4, 3, 2), (3, 5, 1), (4, 4, 3)])
@pytest.mark.parametrize("rtol", [None, 1e-8])
def test_pinv_rank_deficient_value_and_constant_rank_gradient(m, n, rank, rtol):
    """Zero singular values are dropped; the gradient is that of the constant-rank map
    (torch's pinv_backward), checked against torch. (The default rtol, eps * max(m, n), sits
    a few times above the rounding noise of a zero singular value; 1e-8 far above it.)"""
    check_parity(lambda m_, a: m_.linalg.pinv(a, rtol=rtol), [rank_deficient(m, n, rank, batch=(2,))])
    check_parity(lambda m_, a: m_.linalg.pinv(a, hermitian=True, rtol=rtol),
                 [_sym_np(rank_deficient(m, m, rank))])


def _sym_np(a):
    return (a + np.swapaxes(a, -1, -2)) / 2


@pytest.mark.parametrize("kwargs", [dict(atol=0.5), dict(rtol=0.6), dict(atol=0.5, rtol=0.1),
                                    dict(rcond=0.6), dict(atol=0.0), dict(rtol=0.0)], ids=str)
@pytest.mark.parametrize("hermitian", [False, True])
def test_pinv_tolerances(kwargs, hermitian):
    a = symmetric(2, 4, 4, low=0.1, high=1.0) if hermitian else well_conditioned(2, 4, 3, low=0.1,
                                                                                  high=1.0)
    check_parity(lambda m, a: m.linalg.pinv(a, hermitian=hermitian, **kwargs), [a])


def test_pinv_tensor_tolerances_broadcast_over_the_batch():
    a = well_conditioned(3, 4, 4, low=0.1, high=1.0)
    rtol = np.array([0.0, 0.35, 0.75])
    check_parity(lambda m, a, r: m.linalg.pinv(a, rtol=r), [a, rtol], requires_grad=[True, False])
    check_parity(lambda m, a, t: m.linalg.pinv(a, atol=t), [a, rtol], requires_grad=[True, False])


def test_pinv_gradcheck_and_errors():
    assert gradcheck64(LA.pinv, [well_conditioned(2, 4, 3)])
    assert gradcheck64(LA.pinv, [well_conditioned(3, 5)])
    assert gradcheck64(lambda x: LA.pinv(_sym(x), hermitian=True), [symmetric(3, 3)])
    with pytest.raises(RuntimeError, match=r"linalg.pinv: expected a tensor with 2 or more "
                                           r"dimensions of float or double types, got ember.int64"):
        LA.pinv(ember.ones(2, 2, dtype=ember.int64))
    with pytest.raises(RuntimeError, match=r"linalg.pinv: .*shape \(2,\)"):
        LA.pinv(ember.ones(2))
    with pytest.raises(TypeError, match=r"linalg.pinv: rcond is another name for rtol"):
        LA.pinv(ember.eye(2), rcond=0.1, rtol=0.1)


# --------------------------------------------------------------------------- matrix_rank
@pytest.mark.parametrize("kwargs", [{}, dict(atol=0.5), dict(rtol=0.4), dict(tol=0.5),
                                    dict(hermitian=True), dict(hermitian=True, atol=0.3)], ids=str)
def test_matrix_rank(kwargs):
    batch = np.stack([rank_deficient(4, 4, r) for r in (0, 1, 2, 3, 4)]
                     + [well_conditioned(4, 4, low=0.2, high=1.0)])
    if kwargs.get("hermitian"):
        batch = _sym_np(batch)
    out = check_parity(lambda m, a: m.linalg.matrix_rank(a, **kwargs), [batch],
                       requires_grad=[False])
    assert out[0].dtype is ember.int64
    if set(kwargs) & {"atol", "rtol", "tol"}:   # thresholds far from float32 rounding noise
        check_parity(lambda m, a: m.linalg.matrix_rank(a, **kwargs), [batch.astype(np.float32)],
                     requires_grad=[False])
    if not kwargs.get("hermitian"):
        check_parity(lambda m, a: m.linalg.matrix_rank(a, **kwargs), [batch[:, :3]],
                     requires_grad=[False])


def test_matrix_rank_empty_and_errors():
    check_parity(lambda m, a: m.linalg.matrix_rank(a), [np.zeros((2, 0, 3))], requires_grad=[False])
    with pytest.raises(RuntimeError, match=r"linalg.matrix_rank: Expected a floating point.*int64"):
        LA.matrix_rank(ember.ones(3, 3, dtype=ember.int64))
    with pytest.raises(TypeError, match=r"linalg.matrix_rank: tol is the older spelling of atol"):
        LA.matrix_rank(ember.eye(3), tol=0.1, atol=0.1)
