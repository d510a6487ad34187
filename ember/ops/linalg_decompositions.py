"""Matrix decompositions and the functions computed from them, the primitives of ``ember.linalg``:
``inv``, ``det``, ``slogdet``, ``solve`` (LU), ``cholesky``, ``qr``, ``eigh``/``eigvalsh``,
``svd``/``svdvals`` and ``pinv``.

Every function takes a batch ``(*, m, n)`` of matrices with any leading dims, in float32 or
float64 (integer and float16 inputs are refused, as in torch). The forward passes call NumPy's
LAPACK routines on the whole batch (a large one cut over Ember's threads, :func:`_lapack`),
the same routines torch calls on the CPU (getrf, potrf, geqrf, syevd, gesdd); each backward is
the adjoint of the differential, written out on raw arrays next to its forward, after
PyTorch's ``torch/csrc/autograd/FunctionsManual.cpp``. Notation: ``X^T`` swaps the last two
dims, ``g`` is the gradient arriving at an output.

A decomposition with several outputs (``slogdet``, ``qr``, ``eigh``, ``svd``) is computed once
into a factors object (``_Slogdet``, ``_Qr``, ``_Eigh``, ``_Svd``); each output is a graph node
of its own (a :class:`FactorOutput`) holding those factors, and its backward is the
decomposition's backward fed with that output's gradient alone. The backward is linear in the
output gradients, so the engine's sum over the outputs' nodes equals the joint backward (once
the engine has multi-output nodes, each factors object becomes one node whose ``backward``
receives all its output gradients at once).
"""
import math
from collections import namedtuple
from functools import partial

import numpy as np

from ember import _parallel
from ember._tensor import Tensor
from ember.autograd.function import Function, unbroadcast
from ember.autograd.grad_mode import is_grad_enabled

__all__ = ["LinAlgError", "inv", "inverse", "det", "slogdet", "logdet", "solve", "cholesky", "qr",
           "eigh", "eigvalsh", "svd", "svdvals", "pinv", "pinverse", "matrix_rank"]

linalg_slogdet = namedtuple("linalg_slogdet", ["sign", "logabsdet"])
linalg_qr = namedtuple("linalg_qr", ["Q", "R"])
linalg_eigh = namedtuple("linalg_eigh", ["eigenvalues", "eigenvectors"])
linalg_svd = namedtuple("linalg_svd", ["U", "S", "Vh"])


class LinAlgError(RuntimeError):
    """A matrix function cannot be computed for its input (a singular matrix in ``inv`` or
    ``solve``, a matrix that is not positive-definite in ``cholesky``, an SVD that does not
    converge). Like ``torch.linalg.LinAlgError``, a ``RuntimeError`` whose message names the
    function and, for a batch, the first failing matrix (``(Batch element 3): ...``)."""


def _mT(a):
    return np.swapaxes(a, -1, -2)


def _check_matrices(op, A, square=False):
    """Refuse what torch refuses: non-tensors, integer/bool/float16 dtypes, fewer than 2 dims,
    and non-square matrices where ``square``."""
    if not isinstance(A, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(A).__name__}")
    kind, dt = A._data.dtype.kind, A._data.dtype
    if kind != "f":
        raise RuntimeError(f"{op}: Expected a floating point tensor (float32 or float64) as "
                           f"input. Got {A.dtype}")
    if dt == np.float16:
        raise RuntimeError(f"{op}: Low precision dtypes not supported. Got {A.dtype}")
    if A._data.ndim < 2:
        raise RuntimeError(f"{op}: The input tensor A must have at least 2 dimensions, got shape "
                           f"{tuple(A.shape)}")
    m, n = A._data.shape[-2:]
    if square and m != n:
        raise RuntimeError(f"{op}: A must be batches of square matrices, but they are {m} by {n} "
                           f"matrices")


# The batch of a LAPACK call is split over Ember's threads (NumPy's linalg loops release the GIL)
# when its estimated time on one thread reaches LAPACK_SPLIT_SECONDS. One matrix of n x n
# takes about ``k n^2`` µs for n = 8 ... 64 (one thread, NumPy 2.4's OpenBLAS LAPACK, Intel
# Xeon; e.g. an SVD 9.8, 39, 130, 492 µs at n = 8, 16, 32, 64), more than that above; ``k`` is
# the cheaper variant's (singular values only, R only, eigenvalues only), so the estimate
# errs low. Splitting pays for the iterative eigen- and singular-value solvers from 8 x 8
# (1024 8x8 SVDs: 9.4 -> 5.0 ms on two threads) but for the LU/QR/Cholesky family only from
# about 32 x 32 (below, the two threads' many small BLAS calls contend: 256 16x16 solves took
# 1.04 ms on one thread and 1.11 on two), and never for det/slogdet (no speed-up at any
# size). On two threads: 64 64x64 solves 2.55 -> 1.50 ms, inverses 7.6 -> 3.5, eigh 20.9 ->
# 10.4, SVDs 31.1 -> 15.4; 256 16x16 eigh 5.3 -> 4.0, SVDs 9.1 -> 6.7.
LAPACK_SPLIT_SECONDS = 1e-3
_LAPACK_COSTS = {          # fn: (k, µs per n^2 of one matrix; smallest n worth splitting)
    np.linalg.solve: (0.008, 32), np.linalg.inv: (0.022, 32), np.linalg.cholesky: (0.0045, 32),
    np.linalg.qr: (0.017, 32), np.linalg.eigh: (0.031, 8), np.linalg.eigvalsh: (0.031, 8),
    np.linalg.svd: (0.045, 8),
}


def _lapack_parts(fn, arrays):
    """The blocks of the first batch dim to run ``fn`` on, one per thread, or None."""
    cost = _LAPACK_COSTS.get(fn)
    if cost is None or arrays[0].ndim < 3 or not _parallel.enabled():
        return None
    us_per_n2, smallest = cost
    n = max(arrays[0].shape[-2:])
    batch = np.broadcast_shapes(*(a.shape[:-2] for a in arrays))
    if (n < smallest or batch[0] < 2
            or math.prod(batch) * n * n * us_per_n2 * 1e-6 < LAPACK_SPLIT_SECONDS):
        return None
    return _parallel.split(batch[0])


def _lapack(fn, *arrays, **kwargs):
    """Call a NumPy linalg function without letting its floating point warnings out (e.g. the
    det of a matrix holding NaN); its failures still raise ``numpy.linalg.LinAlgError``.

    ``arrays`` are batches of matrices (their batch dims broadcast). A large batch is cut along
    its first dim into one block per thread (see ``LAPACK_SPLIT_SECONDS``); every matrix is
    factorised on its own, so the result is bit for bit the single call's."""
    parts = _lapack_parts(fn, arrays)
    if parts is None:
        with np.errstate(all="ignore"):
            return fn(*arrays, **kwargs)
    batch_ndim = max(a.ndim for a in arrays) - 2

    def run_block(part):
        with np.errstate(all="ignore"):
            return fn(*(_parallel.batch_block(a, part, batch_ndim) for a in arrays), **kwargs)

    results = _parallel.run([partial(run_block, part) for part in parts])
    if isinstance(results[0], tuple):      # EighResult, SVDResult, QRResult: gather each field
        return results[0]._make(np.concatenate(field) for field in zip(*results))
    return np.concatenate(results)


def _batch_label(index, A):
    return f"(Batch element {index}): " if A.ndim > 2 else ""


def _singular_error(op, A, what):
    """The LinAlgError for a batch ``A`` in which some matrix is singular, naming the first one
    whose LU factorisation (LAPACK getrf) meets an exactly zero pivot and, for ``inv``, that
    pivot's (1-based) position on the diagonal of U, as torch does; ``what`` names the
    operation. Runs only once a batched call has failed."""
    from scipy.linalg import lapack
    stack = A.reshape((-1,) + A.shape[-2:])
    getrf = lapack.get_lapack_funcs("getrf", (stack,))
    label, pivot = "", 0
    for index, matrix in enumerate(stack):
        pivot = int(getrf(matrix)[-1])
        if pivot > 0:
            label = _batch_label(index, A)
            break
    if op == "linalg.inv" and pivot:
        detail = (f"The diagonal element {pivot} is zero, the inversion could not be completed "
                  f"because the input matrix is singular.")
    else:
        detail = f"The {what} failed because the input matrix is singular."
    return LinAlgError(f"{op}: {label}{detail}")


def _unit_diagonal(scale, n, dtype):
    """``scale[..., None, None] * I_n``."""
    return scale[..., None, None] * np.eye(n, dtype=dtype)


# --------------------------------------------------------------------------------- inverse
class Inv(Function):
    """``X = A^{-1}`` for ``(*, n, n)``.

    Backward: ``dX = -X dA X``, so ``gA = -X^T g X^T``."""
    saves_output = True

    def forward(self, a):
        try:
            self.inverse = _lapack(np.linalg.inv, a)
        except np.linalg.LinAlgError:
            raise _singular_error("linalg.inv", a, "inversion") from None
        return self.inverse

    def backward(self, grad):
        x_t = _mT(self.inverse)
        return -(x_t @ grad @ x_t)


def inv(A):
    """Inverse of each square matrix of ``A`` ``(*, n, n)``; raises :class:`LinAlgError` naming
    the first singular matrix (``torch.linalg.inv``)."""
    _check_matrices("linalg.inv", A, square=True)
    return Inv.apply(A)


def inverse(input):
    """``torch.inverse``: :func:`inv`."""
    return inv(input)


# ----------------------------------------------------------------------------- determinant
def _cofactor_matrix(A):
    """``cof(A)``, the matrix of cofactors (``d det(A) / dA``), for ``(*, n, n)`` matrices,
    singular or not, from the SVD ``A = U diag(s) V^T``: ``det(A) = det(U) det(V^T) prod(s)``,
    so ``cof(A) = det(U) det(V^T) U diag(prod_{j != i} s_j) V^T`` (the adjugate of a singular
    matrix, as torch computes it; N. Higham, "What is the adjugate of a matrix?", 2020)."""
    from ember.ops.reduction import _exclusive_prod
    U, s, Vh = _lapack(np.linalg.svd, A)
    orientation = np.linalg.det(U) * np.linalg.det(Vh)
    return (U * (orientation[..., None] * _exclusive_prod(s))[..., None, :]) @ Vh


class Det(Function):
    """``det(A)`` for ``(*, n, n)``, from the LU factorisation.

    Backward: ``d det = det(A) tr(A^{-1} dA)``, so ``gA = g cof(A)`` with the cofactor matrix
    ``cof(A) = det(A) A^{-T}``. That is a solve where A is safely invertible; where ``|det A|
    < 100 eps`` it is computed from the SVD (:func:`_cofactor_matrix`), which is exact for
    singular matrices too (the derivative of a polynomial; torch's eager backward returns 0
    for an exactly singular matrix, its ``create_graph`` backward this same cofactor matrix)."""
    saved_inputs = (0,)
    saves_output = True

    def forward(self, a):
        self.a = a
        self.det = np.asarray(_lapack(np.linalg.det, a))
        return self.det

    def backward(self, grad):
        a, det = self.a, self.det
        if a.size == 0:
            return np.zeros_like(a)
        n = a.shape[-1]
        near_singular = np.abs(det) < 100 * np.finfo(a.dtype).eps
        ga = np.empty_like(a)
        invertible = ~near_singular
        ga[invertible] = _lapack(np.linalg.solve, _mT(a[invertible]),
                                 _unit_diagonal((grad * det)[invertible], n, a.dtype))
        ga[near_singular] = (grad[near_singular][..., None, None]
                             * _cofactor_matrix(a[near_singular]))
        return ga


def det(A):
    """Determinant of each square matrix of ``A`` ``(*, n, n)`` -> ``(*)``
    (``torch.linalg.det``; ``det`` of a 0x0 matrix is 1)."""
    _check_matrices("linalg.det", A, square=True)
    return Det.apply(A)


# ------------------------------------------------------- decompositions with several outputs
class FactorOutput(Function):
    """Output ``index`` of a decomposition ``factors`` of the input ``a``.

    ``factors`` holds ``outputs`` (the arrays handed to the user, in order) and
    ``backward(*output_grads)``, which takes ``None`` for an output without gradient and
    returns the gradient of ``a`` (or None). The node's value is a copy of its factor, so that
    changing it in place cannot corrupt the factors the other outputs' nodes read; its backward
    is the decomposition's with this output's gradient alone. One subclass per decomposition
    names the node (``LinalgSvdBackward``, ...)."""

    def forward(self, a, factors, index):
        self.factors, self.index = factors, index
        return factors.outputs[index].copy()

    def backward(self, grad):
        output_grads = [None] * len(self.factors.outputs)
        output_grads[self.index] = grad
        return self.factors.backward(*output_grads)


class LinalgSlogdet(FactorOutput):
    """An output of :func:`slogdet`."""


class LinalgQr(FactorOutput):
    """An output of :func:`qr`."""


class LinalgEigh(FactorOutput):
    """An output of :func:`eigh` or :func:`eigvalsh`."""


class LinalgSvd(FactorOutput):
    """An output of :func:`svd` or :func:`svdvals`."""


def _outputs(node, A, factors):
    return tuple(node.apply(A, factors=factors, index=i) for i in range(len(factors.outputs)))


def _grad_needed(A):
    return A.requires_grad and is_grad_enabled()


def _diagonal_view(a):
    """A writeable view of the diagonals of the matrices ``a`` ``(*, n, n)``."""
    return np.einsum("...ii->...i", a)


# --------------------------------------------------------------------- log of |determinant|
class _Slogdet:
    """``sign(det A)`` and ``log |det A|`` from the LU factorisation.

    Backward: ``d log|det A| = tr(A^{-1} dA)``, so ``gA = g A^{-T}``; the sign is locally
    constant (its gradient is 0). A singular matrix has ``log|det| = -inf`` and no finite
    gradient: its gradient is NaN (torch returns infinities there)."""
    def __init__(self, a):
        self.a = a
        self.outputs = tuple(np.asarray(v) for v in _lapack(np.linalg.slogdet, a))

    def backward(self, g_sign, g_logabsdet):
        if g_logabsdet is None:
            return None
        a, sign = self.a, self.outputs[0]
        ga = np.full(a.shape, np.nan, dtype=a.dtype)
        invertible = sign != 0
        ga[invertible] = _lapack(np.linalg.solve, _mT(a[invertible]),
                                 _unit_diagonal(g_logabsdet[invertible], a.shape[-1], a.dtype))
        return ga


def slogdet(A):
    """``(sign, logabsdet)`` with ``det(A) = sign * exp(logabsdet)``, for ``(*, n, n)``
    (``torch.linalg.slogdet``); stable where ``det`` over- or underflows. A singular matrix
    gives ``sign = 0, logabsdet = -inf``."""
    _check_matrices("linalg.slogdet", A, square=True)
    return linalg_slogdet(*_outputs(LinalgSlogdet, A, _Slogdet(A._data)))


def logdet(A):
    """``log(det(A))`` for ``(*, n, n)``: NaN where the determinant is negative, ``-inf`` where
    it is 0 (``torch.logdet``); the gradient is that of ``slogdet``'s ``logabsdet``."""
    from ember.ops.elementwise import where
    _check_matrices("logdet", A, square=True)
    sign, logabsdet = slogdet(A)
    return where(sign == -1, float("nan"), logabsdet)


# ---------------------------------------------------------------------------- linear solve
class Solve(Function):
    """``X = A^{-1} B`` (``left``) or ``X = B A^{-1}``, with broadcast batch dims; ``vector``
    marks a right-hand side of vectors ``(*, n)``.

    Backward (left): ``dX = A^{-1}(dB - dA X)``, so ``gB = A^{-T} g`` and ``gA = -gB X^T``;
    (right): ``gB = g A^{-T}``, ``gA = -X^T gB``; both summed over broadcast batch dims."""
    saved_inputs = (0,)
    saves_output = True

    def forward(self, a, b, left, vector):
        self.a, self.left, self.vector = a, left, vector
        rhs = b[..., None] if vector else b
        try:
            if left:
                x = _lapack(np.linalg.solve, a, rhs)
            else:
                x = _mT(_lapack(np.linalg.solve, _mT(a), _mT(rhs)))
        except np.linalg.LinAlgError:
            raise _singular_error("linalg.solve", np.broadcast_to(
                a, np.broadcast_shapes(a.shape[:-2], rhs.shape[:-2]) + a.shape[-2:]),
                "solver") from None
        self.x = x
        return x[..., 0] if vector else x

    def backward(self, grad):
        a, x = self.a, self.x
        g = grad[..., None] if self.vector else grad
        if self.left:
            gb = _lapack(np.linalg.solve, _mT(a), g)
            ga = -(gb @ _mT(x))
        else:
            gb = _mT(_lapack(np.linalg.solve, a, _mT(g)))
            ga = -(_mT(x) @ gb)
        if self.vector:
            gb = gb[..., 0]
        a_shape, b_shape = self._input_meta[0][0], self._input_meta[1][0]
        return (unbroadcast(ga, a_shape) if self.needs_input_grad[0] else None,
                unbroadcast(gb, b_shape) if self.needs_input_grad[1] else None)


def solve(A, B, *, left=True):
    """Solve ``A X = B`` (``left=True``) or ``X A = B`` for square ``A`` ``(*, n, n)``
    (``torch.linalg.solve``). ``B`` is a batch of vectors ``(*, n)`` when it is 1-D or has
    the shape of ``A`` without its last dim, else of matrices ``(*, n, k)``; batch dims
    broadcast. Raises :class:`LinAlgError` naming the first singular matrix."""
    _check_matrices("linalg.solve", A, square=True)
    if not isinstance(B, Tensor):
        raise TypeError(f"linalg.solve: expected B to be a Tensor, got {type(B).__name__}")
    if B._data.dtype != A._data.dtype:
        raise RuntimeError(f"linalg.solve: Expected A and B to have the same dtype, but found A "
                           f"of type {A.dtype} and B of type {B.dtype} instead")
    a_shape, b_shape = A._data.shape, B._data.shape
    vector = len(b_shape) == 1 or b_shape == a_shape[:-1]
    if vector and not left:
        raise RuntimeError("linalg.solve: Vector broadcasting of the left hand side is not "
                           "supported for left=False. In this case linalg.solve is equivalent "
                           "to B / A.squeeze(-1)")
    rhs_shape = b_shape + (1,) if vector else b_shape
    n = a_shape[-1]
    if len(rhs_shape) < 2 or rhs_shape[-2 if left else -1] != n:
        rows, cols = (rhs_shape[-2], rhs_shape[-1]) if len(rhs_shape) >= 2 else (rhs_shape[0], 1)
        raise RuntimeError(f"linalg.solve: Incompatible shapes of A and B for the equation "
                           f"{'AX = B' if left else 'XA = B'} ({n}x{n} and {rows}x{cols})")
    try:
        np.broadcast_shapes(a_shape[:-2], rhs_shape[:-2])
    except ValueError:
        raise RuntimeError(f"linalg.solve: the batch dims of A {tuple(a_shape)} and B "
                           f"{tuple(b_shape)} cannot be broadcast") from None
    return Solve.apply(A, B, left=left, vector=vector)


# -------------------------------------------------------------------------------- Cholesky
class Cholesky(Function):
    """``A = L L^T`` with lower-triangular ``L`` (``upper``: ``A = U^T U``, ``U = L^T``), read
    from the lower (``upper``: upper) triangle of ``A``.

    Backward (Murray 2016, arXiv:1602.07527): with ``P = tril(L^T g)`` and ``Phi(P) = (P +
    tril(P, -1)^T) / 2`` (symmetric, half the diagonal), ``gA = L^{-T} Phi(P) L^{-1}``:
    symmetric, like torch's, since ``A`` is taken to be symmetric."""
    saves_output = True

    def forward(self, a, upper):
        self.upper = upper
        lower_input = _mT(a) if upper else a
        lower = _cholesky_or_none(lower_input)
        if lower is None:
            raise _not_positive_definite_error(lower_input)
        self.lower = lower
        return _mT(lower).copy() if upper else lower

    def backward(self, grad):
        lower = self.lower
        g = _mT(grad) if self.upper else grad
        p = np.tril(_mT(lower) @ g)
        phi = 0.5 * (p + _mT(np.tril(p, -1)))
        left_solved = _lapack(np.linalg.solve, _mT(lower), phi)                # L^{-T} Phi
        return _mT(_lapack(np.linalg.solve, _mT(lower), _mT(left_solved)))    # ... L^{-1}


def _cholesky_or_none(a):
    """The lower Cholesky factors of ``a`` ``(*, n, n)``, or None if a matrix is not positive
    definite. For a matrix holding NaN NumPy returns a NaN factor where torch (MKL's potrf)
    refuses the matrix; a NaN on the diagonal of the factor counts as a failure here too."""
    try:
        lower = _lapack(np.linalg.cholesky, a)
    except np.linalg.LinAlgError:
        return None
    return None if np.isnan(np.diagonal(lower, axis1=-2, axis2=-1)).any() else lower


def _not_positive_definite_error(a):
    """The LinAlgError naming the first matrix of the batch ``a`` that is not positive definite
    and the order of its first leading minor that is not (found by bisection: once a leading
    minor is not positive definite, no larger one is)."""
    stack = a.reshape((-1,) + a.shape[-2:])
    index = next(i for i, m in enumerate(stack) if _cholesky_or_none(m) is None)
    low, high = 1, a.shape[-1]
    while low < high:
        order = (low + high) // 2
        if _cholesky_or_none(stack[index, :order, :order]) is None:
            high = order
        else:
            low = order + 1
    return LinAlgError(f"linalg.cholesky: {_batch_label(index, a)}The factorization could not be "
                       f"completed because the input is not positive-definite (the leading minor "
                       f"of order {low} is not positive-definite).")


def cholesky(A, *, upper=False):
    """Cholesky factor of each symmetric positive-definite matrix of ``A`` ``(*, n, n)``:
    lower-triangular ``L`` with ``A = L L^T``, or with ``upper=True`` upper-triangular ``U``
    with ``A = U^T U`` (``torch.linalg.cholesky``). Only one triangle of ``A`` is read.
    Raises :class:`LinAlgError` naming the first matrix that is not positive-definite and
    the order of its first leading minor that is not."""
    _check_matrices("linalg.cholesky", A, square=True)
    return Cholesky.apply(A, upper=bool(upper))


# --------------------------------------------------------------------------------------- QR
class _Qr:
    """``A = Q R``, ``Q`` with orthonormal columns, ``R`` upper-triangular (Householder, as
    LAPACK geqrf).

    Backward (torch's ``linalg_qr_backward``): with ``M = g_R R^T - Q^T g_Q``,
    m >= n: ``gA = (Q (triu(M) + triu(M, 1)^T) + g_Q) R^{-T}``;
    m < n: with ``R = [R_1 | R_2]`` (``R_1`` square),
    ``gA = [Q tril(M^T - M) R_1^{-T} | 0] + Q g_R``.
    Not differentiable for ``mode='r'`` (no Q) nor ``mode='complete'`` with m > n; NaN where
    ``R`` (``R_1``) is singular, i.e. for rank-deficient inputs (torch: infinities)."""
    def __init__(self, a, mode):
        self.mode = mode
        if mode == "r":
            r = _lapack(np.linalg.qr, a, mode="r")
            self.outputs = (np.zeros((0,), dtype=a.dtype), np.asarray(r))
        else:
            self.outputs = tuple(_lapack(np.linalg.qr, a, mode=mode))

    def backward(self, g_q, g_r):
        q, r = self.outputs
        if self.mode == "r":
            raise RuntimeError("The derivative of linalg.qr depends on Q, which is not computed "
                               "when mode='r'. Please use linalg.qr(A, mode='reduced') if you are "
                               "going to differentiate through linalg.qr.")
        m, n = q.shape[-2], r.shape[-1]
        if self.mode == "complete" and m > n:
            raise RuntimeError("The QR decomposition is not differentiable when mode='complete' "
                               "and nrows > ncols.")
        if g_q is None and g_r is None:
            return None
        if g_q is None:
            mixed = g_r @ _mT(r)
        elif g_r is None:
            mixed = -(_mT(q) @ g_q)
        else:
            mixed = g_r @ _mT(r) - _mT(q) @ g_q
        if m >= n:
            ga = q @ (np.triu(mixed) + _mT(np.triu(mixed, 1)))
            if g_q is not None:
                ga = ga + g_q
            return _times_inverse_transpose(ga, r)
        ga_square = _times_inverse_transpose(q @ np.tril(_mT(mixed) - mixed), r[..., :m])
        ga = np.concatenate([ga_square, np.zeros(ga_square.shape[:-1] + (n - m,), q.dtype)], -1)
        return ga + q @ g_r if g_r is not None else ga


def _times_inverse_transpose(b, r):
    """``b R^{-T}`` for upper-triangular ``R`` ``(*, k, k)`` (a solve with ``R``), NaN for the
    matrices whose ``R`` has a zero on its diagonal (singular)."""
    invertible = np.all(np.diagonal(r, axis1=-2, axis2=-1) != 0, axis=-1)
    if invertible.all():
        return _mT(_lapack(np.linalg.solve, r, _mT(b)))
    out = np.full(b.shape, np.nan, dtype=b.dtype)
    out[invertible] = _mT(_lapack(np.linalg.solve, r[invertible], _mT(b[invertible])))
    return out


def qr(A, mode="reduced"):
    """QR decomposition of ``A`` ``(*, m, n)`` -> ``(Q, R)`` (``torch.linalg.qr``), with
    ``k = min(m, n)``: ``mode='reduced'`` Q ``(*, m, k)``, R ``(*, k, n)``; ``'complete'``
    Q ``(*, m, m)``, R ``(*, m, n)``; ``'r'`` R only (Q is an empty tensor). Q and R are
    unique up to the signs of Q's columns (R's rows)."""
    _check_matrices("linalg.qr", A)
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(f"linalg.qr: received unrecognized mode '{mode}' but expected one of "
                           f"'reduced' (default), 'r', or 'complete'")
    return linalg_qr(*_outputs(LinalgQr, A, _Qr(A._data, mode)))


# ---------------------------------------------------------- symmetric eigendecomposition
class _Eigh:
    """``A = V diag(L) V^T`` for symmetric ``A``, eigenvalues ``L`` ascending, orthonormal
    eigenvectors ``V`` (LAPACK syevd on one triangle of ``A``).

    Backward (torch's ``linalg_eig_backward``, Hermitian case):
    ``gA = V (diag(g_L) + skew(V^T g_V) / E) V^T`` with ``skew(X) = (X - X^T) / 2`` and
    ``E_ij = L_j - L_i`` (off the diagonal). Symmetric. Infinite where two eigenvalues are
    equal and ``g_V`` is given: the eigenvectors of a repeated eigenvalue are not unique."""
    def __init__(self, a, uplo):
        self.outputs = tuple(_lapack(np.linalg.eigh, a, UPLO=uplo))

    def backward(self, g_l, g_v):
        eigenvalues, v = self.outputs
        if g_v is None:
            return None if g_l is None else (v * g_l[..., None, :]) @ _mT(v)
        vt_gv = _mT(v) @ g_v
        gaps = eigenvalues[..., None, :] - eigenvalues[..., :, None]
        _diagonal_view(gaps)[...] = 1
        with np.errstate(divide="ignore", invalid="ignore"):
            inner = 0.5 * (vt_gv - _mT(vt_gv)) / gaps
        _diagonal_view(inner)[...] = 0 if g_l is None else g_l
        return v @ inner @ _mT(v)


def _check_uplo(UPLO):
    if not isinstance(UPLO, str) or UPLO.upper() not in ("L", "U"):
        raise RuntimeError(f"linalg.eigh: Expected UPLO argument to be 'L' or 'U', but got "
                           f"{UPLO!r}")
    return UPLO.upper()


def eigh(A, UPLO="L"):
    """Eigenvalues (ascending) and orthonormal eigenvectors of each symmetric matrix of ``A``
    ``(*, n, n)`` -> ``(eigenvalues (*, n), eigenvectors (*, n, n))``, reading only the lower
    (``UPLO='L'``) or upper (``'U'``) triangle (``torch.linalg.eigh``). Each eigenvector is
    unique up to sign only where its eigenvalue is simple."""
    _check_matrices("linalg.eigh", A, square=True)
    return linalg_eigh(*_outputs(LinalgEigh, A, _Eigh(A._data, _check_uplo(UPLO))))


def eigvalsh(A, UPLO="L"):
    """Eigenvalues (ascending) of each symmetric matrix of ``A`` ``(*, n, n)``
    (``torch.linalg.eigvalsh``); differentiable: ``gA = V diag(g) V^T``."""
    _check_matrices("linalg.eigvalsh", A, square=True)
    uplo = _check_uplo(UPLO)
    if not _grad_needed(A):
        return Tensor._wrap(_lapack(np.linalg.eigvalsh, A._data, UPLO=uplo))
    return LinalgEigh.apply(A, factors=_Eigh(A._data, uplo), index=0)


# ---------------------------------------------------------- singular value decomposition
def _svd_error(a):
    """The LinAlgError for an SVD that did not converge, naming the first matrix holding a
    non-finite value (the usual cause; torch refuses those the same way)."""
    finite = np.isfinite(a).reshape((-1,) + a.shape[-2:]).all(axis=(-2, -1))
    if finite.all():
        return LinAlgError("linalg.svd: The algorithm failed to converge.")
    return LinAlgError(f"linalg.svd: {_batch_label(int(np.argmin(finite)), a)}The algorithm "
                       f"failed to converge because the input matrix contained non-finite values.")


class _Svd:
    """``A = U diag(S) V^T``, singular values ``S`` descending (LAPACK gesdd).

    Backward (torch's ``svd_backward``; J. Townsend, "Differentiating the singular value
    decomposition", 2016), with ``k = min(m, n)``, ``skew(X) = X - X^T`` and ``E_ij = S_j^2 -
    S_i^2`` off the diagonal:
    ``gA = U [ (skew(U^T g_U) / E) S + S (skew(V^T g_V) / E) + diag(g_S) ] V^T``
    plus ``(I - U U^T) g_U S^{-1} V^T`` when m > k, ``U S^{-1} g_V^T (I - V V^T)`` when n > k.
    Only ``g_S`` is safe everywhere; the singular vectors' gradients are infinite where
    singular values repeat (or, for m != n, vanish). With ``full_matrices=True`` the extra
    columns of U (rows of Vh) are arbitrary bases and their gradients are ignored, as torch
    does."""
    def __init__(self, a, full_matrices):
        try:
            self.outputs = tuple(_lapack(np.linalg.svd, a, full_matrices=full_matrices))
        except np.linalg.LinAlgError:
            raise _svd_error(a) from None

    def backward(self, g_u, g_s, g_vh):
        u, s, vh = self.outputs
        k = s.shape[-1]
        u, vh = u[..., :k], vh[..., :k, :]
        g_u = None if g_u is None else g_u[..., :k]
        g_vh = None if g_vh is None else g_vh[..., :k, :]
        m, n = u.shape[-2], vh.shape[-1]
        if g_u is None and g_vh is None:
            return None if g_s is None else (u * g_s[..., None, :]) @ vh
        s_sq = s * s
        gaps = s_sq[..., None, :] - s_sq[..., :, None]
        _diagonal_view(gaps)[...] = 1
        inner = np.zeros(s.shape + (k,), dtype=s.dtype)
        with np.errstate(divide="ignore", invalid="ignore"):
            if g_u is not None:
                ut_gu = _mT(u) @ g_u
                inner = inner + (ut_gu - _mT(ut_gu)) / gaps * s[..., None, :]
            if g_vh is not None:
                vt_gv = vh @ _mT(g_vh)
                inner = inner + s[..., :, None] * ((vt_gv - _mT(vt_gv)) / gaps)
            if g_s is not None:
                _diagonal_view(inner)[...] += g_s
            if m > k and g_u is not None:
                gu_sinv = g_u / s[..., None, :]
                return (u @ inner + gu_sinv - u @ (_mT(u) @ gu_sinv)) @ vh
            if n > k and g_vh is not None:
                sinv_gvh = g_vh / s[..., :, None]
                return u @ (inner @ vh + sinv_gvh - (sinv_gvh @ _mT(vh)) @ vh)
        return u @ inner @ vh


def _check_driver(op, driver):
    if driver is not None:
        raise RuntimeError(f"{op}: keyword argument `driver=` is only supported on CUDA inputs "
                           f"with cuSOLVER backend; Ember runs on the CPU (LAPACK gesdd), where "
                           f"driver must be None, got {driver!r}")


def svd(A, full_matrices=True, *, driver=None):
    """Singular value decomposition ``A = U diag(S) Vh`` of ``A`` ``(*, m, n)`` -> ``(U, S,
    Vh)`` (``torch.linalg.svd``), ``S`` descending, ``k = min(m, n)``: U ``(*, m, m)`` and Vh
    ``(*, n, n)`` with ``full_matrices=True`` (the default, as in torch), else ``(*, m, k)``
    and ``(*, k, n)``. Each pair of singular vectors is unique up to a common sign only where
    its singular value is simple. ``driver`` selects a cuSOLVER routine in torch; on the CPU
    only ``None`` is accepted."""
    _check_matrices("linalg.svd", A)
    _check_driver("linalg.svd", driver)
    return linalg_svd(*_outputs(LinalgSvd, A, _Svd(A._data, bool(full_matrices))))


def svdvals(A, *, driver=None):
    """Singular values (descending) of ``A`` ``(*, m, n)`` -> ``(*, min(m, n))``
    (``torch.linalg.svdvals``). Their gradient ``gA = U diag(g) V^T`` is finite everywhere
    (unique where the singular values are distinct and non-zero)."""
    _check_matrices("linalg.svdvals", A)
    _check_driver("linalg.svdvals", driver)
    if not _grad_needed(A):
        try:
            return Tensor._wrap(_lapack(np.linalg.svd, A._data, compute_uv=False))
        except np.linalg.LinAlgError:
            raise _svd_error(A._data) from None
    return LinalgSvd.apply(A, factors=_Svd(A._data, False), index=1)


# ---------------------------------------------------------------------------- pseudoinverse
def _tolerances(op, A, atol, rtol):
    """``(atol, rtol)`` as float64 arrays broadcastable over the batch dims, with torch's
    defaults: ``atol = 0``; ``rtol = eps * max(m, n)`` when neither is given, ``0`` when only
    a positive ``atol`` is."""
    def as_array(value, name):
        if isinstance(value, Tensor):
            if value._data.dtype.kind not in "fiub":
                raise RuntimeError(f"{op}: {name} must be a real tensor, got {value.dtype}")
            return value._data.astype(np.float64)
        return np.asarray(float(value))
    atol_arr = np.zeros(()) if atol is None else as_array(atol, "atol")
    if rtol is not None:
        rtol_arr = as_array(rtol, "rtol")
    else:
        default = np.finfo(A._data.dtype).eps * max(A._data.shape[-2:])
        rtol_arr = np.where(atol_arr > 0, 0.0, default) if atol is not None else np.asarray(default)
    return atol_arr, rtol_arr


def _spectral_threshold(largest, atol, rtol):
    """``max(atol, rtol * largest)`` per matrix, in float64 as torch compares; ``largest``
    is ``(*, 1)``, so the result broadcasts against the singular values ``(*, k)``."""
    return np.maximum(atol[..., None], rtol[..., None] * largest.astype(np.float64))


class PInv(Function):
    """Moore-Penrose pseudoinverse ``A^+`` of ``(*, m, n)``: from the SVD, ``V diag(1/s) U^T``
    over the singular values ``s > max(atol, rtol * s_max)`` (the rest dropped); with
    ``hermitian``, from the eigendecomposition ``U diag(1/l) U^T`` of the symmetric ``A``.

    Backward (Golub & Pereyra 1973; torch's ``pinv_backward``), the derivative of ``A^+`` for
    perturbations that keep the rank, with ``X = A^+``:
    ``gA = -X^T g X^T + (I - A X) g^T X X^T + X^T X g^T (I - X A)``."""
    saved_inputs = (0,)
    saves_output = True

    def forward(self, a, atol, rtol, hermitian):
        self.a = a
        if a.size == 0:
            self.pinv = np.zeros(a.shape[:-2] + (a.shape[-1], a.shape[-2]), dtype=a.dtype)
            return self.pinv
        with np.errstate(divide="ignore"):
            if hermitian:
                values, vectors = _lapack(np.linalg.eigh, a)
                size = np.abs(values)
                keep = size > _spectral_threshold(size.max(-1, keepdims=True), atol, rtol)
                inverted = np.where(keep, 1 / values, 0).astype(a.dtype)
                self.pinv = (vectors * inverted[..., None, :]) @ _mT(vectors)
            else:
                u, s, vh = _Svd(a, False).outputs
                keep = s > _spectral_threshold(s[..., :1], atol, rtol)
                inverted = np.where(keep, 1 / s, 0).astype(a.dtype)
                self.pinv = (_mT(vh) * inverted[..., None, :]) @ _mT(u)
        return self.pinv

    def backward(self, grad):
        a, x = self.a, self.pinv
        x_t, grad_t = _mT(x), _mT(grad)
        m, n = a.shape[-2:]
        if m <= n:
            k = grad_t @ x
            k_xt = k @ x_t
            return -_mT(x @ k) + k_xt - (a @ x) @ k_xt + (x_t @ x) @ (grad_t - k @ a)
        k = x @ grad_t
        xt_k = x_t @ k
        return -_mT(k @ x) + (grad_t - a @ k) @ x @ x_t + xt_k - xt_k @ x @ a


def pinv(A, rcond=None, hermitian=False, *, atol=None, rtol=None):
    """Pseudoinverse of each matrix of ``A`` ``(*, m, n)`` -> ``(*, n, m)``
    (``torch.linalg.pinv``). Singular values at most ``max(atol, rtol * s_max)`` count as
    zero; ``atol``/``rtol`` are numbers or tensors broadcast over the batch, ``rtol``
    defaulting to ``eps * max(m, n)`` (to 0 when only a positive ``atol`` is given).
    ``rcond`` is torch's older name for ``rtol``. ``hermitian=True`` takes ``A`` symmetric
    and reads only its lower triangle (faster: an eigendecomposition)."""
    if not isinstance(A, Tensor) or A._data.dtype not in (np.float32, np.float64) \
            or A._data.ndim < 2:
        what = (f"{A.dtype}, shape {tuple(A.shape)}" if isinstance(A, Tensor)
                else type(A).__name__)
        raise RuntimeError(f"linalg.pinv: expected a tensor with 2 or more dimensions of float "
                           f"or double types, got {what}")
    if rcond is not None:
        if rtol is not None:
            raise TypeError("linalg.pinv: rcond is another name for rtol; give only one of them")
        rtol = rcond
    atol_arr, rtol_arr = _tolerances("linalg.pinv", A, atol, rtol)
    return PInv.apply(A, atol=atol_arr, rtol=rtol_arr, hermitian=bool(hermitian))


def pinverse(input, rcond=1e-15):
    """``torch.pinverse``: :func:`pinv` with ``rtol=rcond`` (note the tiny default)."""
    return pinv(input, rtol=rcond)


def matrix_rank(A, tol=None, hermitian=False, *, atol=None, rtol=None):
    """Numerical rank of each matrix of ``A`` ``(*, m, n)`` -> int64 ``(*)``: the number of
    singular values (``hermitian``: of absolute eigenvalues) above ``max(atol, rtol * s_max)``,
    with the tolerances of :func:`pinv` (``torch.linalg.matrix_rank``); ``tol`` is torch's
    older spelling of ``atol`` with ``rtol = 0``. Not differentiable (an integer)."""
    _check_matrices("linalg.matrix_rank", A, square=hermitian)
    if tol is not None:
        if atol is not None or rtol is not None:
            raise TypeError("linalg.matrix_rank: tol is the older spelling of atol (with rtol=0); "
                            "give either tol or atol/rtol")
        atol, rtol = tol, 0.0
    atol_arr, rtol_arr = _tolerances("linalg.matrix_rank", A, atol, rtol)
    a = A._data
    if a.size == 0:
        return Tensor._wrap(np.zeros(a.shape[:-2], dtype=np.int64))
    if hermitian:
        values = np.abs(_lapack(np.linalg.eigvalsh, a))
        largest = values.max(-1, keepdims=True)
    else:
        try:
            values = _lapack(np.linalg.svd, a, compute_uv=False)
        except np.linalg.LinAlgError:
            raise _svd_error(a) from None
        largest = values[..., :1]
    above = values > _spectral_threshold(largest, atol_arr, rtol_arr)
    return Tensor._wrap(np.asarray(above.sum(-1), dtype=np.int64))
