"""``ember.linalg`` (``torch.linalg``): norms, decompositions, inverses and solvers for batches
of matrices ``(*, m, n)``, with torch's names, keywords, result tuples and errors.

    import ember as torch
    A = torch.randn(4, 3, 3, dtype=torch.float64, requires_grad=True)
    U, S, Vh = torch.linalg.svd(A)               # named tuple: .U .S .Vh
    torch.linalg.matrix_norm(A, ord="nuc").sum().backward()

Decompositions (``inv``, ``det``, ``slogdet``, ``solve``, ``cholesky``, ``qr``, ``eigh``,
``eigvalsh``, ``svd``, ``svdvals``, ``pinv``, ``matrix_rank``) are primitives with their
backward written out in ``ember/ops/linalg_decompositions.py``; the rest of this module
composes them with Ember's differentiable ops. Failures on singular or indefinite matrices
raise :class:`LinAlgError` (a ``RuntimeError``) naming the function and the batch element.
Float32 and float64 only; there is no complex dtype in Ember, so ``eig``/``eigvals`` of
non-symmetric matrices (complex in general) are absent.
"""
import math
from collections import namedtuple

import ember
from ember._dtype import as_dtype
from ember.ops.linalg_decompositions import (LinAlgError, cholesky, det, eigh, eigvalsh, inv,
                                             matrix_rank, pinv, qr, slogdet, solve, svd,
                                             svdvals)

__all__ = ["LinAlgError", "norm", "vector_norm", "matrix_norm", "inv", "det", "slogdet", "solve",
           "cholesky", "qr", "eigh", "eigvalsh", "svd", "svdvals", "pinv", "matrix_rank",
           "lstsq", "cross", "vecdot", "multi_dot", "matrix_power", "matmul", "diagonal"]

matmul = ember.matmul


def diagonal(A, *, offset=0, dim1=-2, dim2=-1):
    """``ember.diagonal`` with the defaults of ``torch.linalg.diagonal`` (the last two dims)."""
    return ember.diagonal(A, offset, dim1, dim2)


def _check_float(op, x, name="input"):
    if not isinstance(x, ember.Tensor):
        raise TypeError(f"{op}: expected {name} to be a Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise RuntimeError(f"{op}: Expected a floating point tensor as {name}. Got {x.dtype}")


def _format_order(ord):
    return str(int(ord)) if isinstance(ord, float) and math.isfinite(ord) and ord.is_integer() \
        else str(ord)


# ----------------------------------------------------------------------------------- norms
def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None):
    """``(sum_i |x_i|^ord)^(1/ord)`` over ``dim`` (all elements when None), any shape
    (``torch.linalg.vector_norm``): ``ord`` inf/-inf is ``max``/``min |x_i|``, 0 the number of
    non-zeros. ``dtype`` casts the input first (it must not narrow it). At points where a
    norm is not differentiable the gradient is torch's (0 where the 2-norm is 0, ``sgn(x)``
    for the 1-norm, shared evenly among the extremes for inf)."""
    _check_float("linalg.vector_norm", x)
    if isinstance(ord, bool) or not isinstance(ord, (int, float)):
        raise TypeError(f"linalg.vector_norm: ord must be a number, got {type(ord).__name__} "
                        f"{ord!r}")
    if dtype is not None:
        target = as_dtype(dtype)
        if not target.is_floating_point:
            raise RuntimeError(f"linalg.vector_norm: dtype should be floating point, but got "
                               f"{target}")
        if ember.promote_types(x.dtype, target) is not target:
            raise RuntimeError(f"linalg.vector_norm: the dtype of the input ({x.dtype}) should be "
                               f"convertible without narrowing to the specified dtype ({target})")
    if ord < 0 or ord == math.inf:
        dims = (range(x.ndim) if dim is None or (isinstance(dim, (tuple, list)) and not dim)
                else dim if isinstance(dim, (tuple, list)) else (dim,))
        for d in dims:
            if x.shape[x._wrap_dim(d, "linalg.vector_norm")] == 0:
                raise RuntimeError(f"linalg.vector_norm: cannot compute the {_format_order(ord)} "
                                   f"norm over the empty dimension {d} (shape {tuple(x.shape)}): "
                                   f"the operation has no identity")
    return ember.norm(x, p=ord, dim=dim, keepdim=keepdim, dtype=dtype)


_MATRIX_ORDERS = ("fro", "nuc", 1, -1, 2, -2, math.inf, -math.inf)


def _matrix_dims(op, A, dim):
    if not isinstance(dim, (tuple, list)) or len(dim) != 2:
        raise RuntimeError(f"{op}: dim must be a 2-tuple of ints, got {dim!r}")
    d0, d1 = (A._wrap_dim(d, op) for d in dim)
    if d0 == d1:
        raise RuntimeError(f"{op}: dims must be different, got {tuple(dim)}")
    return d0, d1


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None):
    """Matrix norm of the matrices spanned by ``dim`` in ``A`` (``torch.linalg.matrix_norm``):
    ``'fro'`` sqrt of the sum of squares, ``'nuc'`` sum of singular values, ``2``/``-2`` the
    largest/smallest singular value, ``1``/``-1`` max/min column sum of ``|A|``, ``inf``/``-inf``
    max/min row sum of ``|A|``; differentiable through those definitions."""
    op = "linalg.matrix_norm"
    _check_float(op, A)
    if A.ndim < 2:
        raise RuntimeError(f"{op}: The input tensor A must have at least 2 dimensions, got shape "
                           f"{tuple(A.shape)}")
    if isinstance(ord, bool) or ord not in _MATRIX_ORDERS:
        raise RuntimeError(f"{op}: Order {ord!r} not supported; use one of 'fro', 'nuc', 1, -1, 2, "
                           f"-2, inf, -inf")
    d0, d1 = _matrix_dims(op, A, dim)
    if ord == "fro":
        return vector_norm(A, 2, (d0, d1), keepdim, dtype=dtype)
    if ord in (1, -1, math.inf, -math.inf):
        # the inf norm is the 1-norm of the transpose: sum |A| over one dim, extreme over the other
        summed, extreme = (d0, d1) if abs(ord) == 1 else (d1, d0)
        sums = vector_norm(A, 1, summed, keepdim, dtype=dtype)
        if not keepdim and summed < extreme:
            extreme -= 1
        return (ember.amax if ord > 0 else ember.amin)(sums, extreme, keepdim)
    if dtype is not None:
        A = A.to(dtype)
    batch = [d for d in range(A.ndim) if d not in (d0, d1)]
    singular_values = svdvals(A.permute(*batch, d0, d1))
    if ord == "nuc":
        result = singular_values.sum(-1)
    else:
        result = (ember.amax if ord > 0 else ember.amin)(singular_values, -1)
    if keepdim:
        order = batch + [d0, d1]
        result = result.unsqueeze(-1).unsqueeze(-1).permute(*[order.index(d)
                                                              for d in range(A.ndim)])
    return result


def norm(A, ord=None, dim=None, keepdim=False, *, dtype=None):
    """``torch.linalg.norm``: a vector norm when ``dim`` is an int or 1-tuple (or ``ord`` is None
    and ``dim`` is None: the 2-norm of all elements), a matrix norm when ``dim`` is a 2-tuple
    (or ``dim`` is None and ``A`` is 2-D with ``ord`` given). ``ord='fro'``/``'nuc'`` are matrix
    norms."""
    op = "linalg.norm"
    if not isinstance(A, ember.Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(A).__name__}")
    if isinstance(dim, int):
        dim = (dim,)
    if dim is not None and len(dim) not in (1, 2):
        raise RuntimeError(f"{op}: If dim is specified, it must be of length 1 or 2. Got "
                           f"{list(dim)}")
    if dim is None and ord is not None and A.ndim not in (1, 2):
        raise RuntimeError(f"{op}: If dim is not specified but ord is, the input must be 1D or "
                           f"2D. Got {A.ndim}D.")
    matrix_dims = (0, 1) if dim is None else tuple(dim)
    if isinstance(ord, str) or (ord is not None and len(matrix_dims) == 2 and A.ndim >= 2):
        return matrix_norm(A, ord, matrix_dims, keepdim, dtype=dtype)
    return vector_norm(A, 2 if ord is None else ord, dim, keepdim, dtype=dtype)


# ------------------------------------------------------------------------- least squares
linalg_lstsq = namedtuple("linalg_lstsq", ["solution", "residuals", "rank", "singular_values"])

_LSTSQ_DRIVERS = ("gels", "gelsy", "gelsd", "gelss")


def lstsq(A, B, rcond=None, *, driver=None):
    """Least-squares solution ``X = argmin ||A X - B||_F`` for ``A`` ``(*, m, n)`` and ``B``
    ``(*, m, k)`` (or ``(*, m)``), batch dims broadcast (``torch.linalg.lstsq``) -> named tuple
    ``(solution, residuals, rank, singular_values)``.

    Ember computes every driver's solution as ``pinv(A, rtol=rcond) @ B``, the minimum-norm
    least-squares solution with the rank decided from the singular values (LAPACK gelsd's
    rule, singular values ``<= rcond * s_max`` dropped; ``rcond`` defaults to ``eps *
    max(m, n)``). For full-rank ``A`` that is what every LAPACK driver returns; torch's
    ``gels`` assumes full rank and ``gelsy`` estimates the rank from a pivoted QR, so on
    rank-deficient inputs those may differ. The other outputs follow torch's driver rules:
    ``rank`` (int64) for all but ``gels``; ``singular_values`` for ``gelsd``/``gelss``;
    ``residuals`` (squared column norms of ``A X - B``) only when m > n, for ``gels``, and for
    ``gelsd``/``gelss`` when every matrix has full rank; an empty tensor otherwise. ``driver``
    defaults to ``'gelsy'``, torch's CPU default. Differentiable in ``A`` and ``B`` through the
    solution and the residuals (as torch's; ``rank`` and ``singular_values`` are not)."""
    op = "linalg.lstsq"
    _check_float(op, A, "A")
    _check_float(op, B, "B")
    if A.dtype is not B.dtype:
        raise RuntimeError(f"{op}: Expected A and B to have the same dtype, but got A of type "
                           f"{A.dtype} and B of type {B.dtype}")
    if A.ndim < 2:
        raise RuntimeError(f"{op}: A must have at least 2 dimensions, got shape {tuple(A.shape)}")
    driver = "gelsy" if driver is None else driver
    if driver not in _LSTSQ_DRIVERS:
        raise RuntimeError(f"{op}: parameter `driver` should be one of (gels, gelsy, gelsd, "
                           f"gelss), got {driver!r}")
    if not 0 <= A.ndim - B.ndim <= 1:
        raise RuntimeError(f"{op}: A.dim() must be greater or equal to B.dim() and (A.dim() - "
                           f"B.dim()) <= 1; got shapes {tuple(A.shape)} and {tuple(B.shape)}")
    vector = B.ndim == A.ndim - 1
    rhs = B.unsqueeze(-1) if vector else B
    m, n = A.shape[-2:]
    if rhs.shape[-2] != m:
        raise RuntimeError(f"{op}: A has {m} rows but B has {rhs.shape[-2]} "
                           f"(shapes {tuple(A.shape)} and {tuple(B.shape)})")
    solution = matmul(pinv(A, rtol=rcond), rhs)
    empty = ember.empty(0, dtype=A.dtype)
    rank = empty.long() if driver == "gels" else matrix_rank(A, rtol=rcond)
    with ember.no_grad():
        singular_values = svdvals(A) if driver in ("gelsd", "gelss") else empty
    full_rank = driver == "gels" or bool((rank == n).all())
    if m > n and driver != "gelsy" and full_rank:
        residuals = ((matmul(A, solution) - rhs) ** 2).sum(-2)
    else:  # empty, but in the graph of A and B like torch's (a sum over it backpropagates 0)
        residuals = A.reshape(-1)[:0] + B.reshape(-1)[:0]
    return linalg_lstsq(solution.squeeze(-1) if vector else solution, residuals, rank,
                        singular_values)


# ------------------------------------------------------------------------ vector products
def cross(input, other, *, dim=-1):
    """Cross product of the 3-vectors along ``dim`` (``torch.linalg.cross``), other dims
    broadcast: ``c_i = a_{i+1} b_{i+2} - a_{i+2} b_{i+1}`` (indices mod 3), i.e. ``roll(a, -1)
    * roll(b, -2) - roll(a, -2) * roll(b, -1)``; differentiable through those ops."""
    op = "linalg.cross"
    for name, t in (("input", input), ("other", other)):
        if not isinstance(t, ember.Tensor):
            raise TypeError(f"{op}: expected {name} to be a Tensor, got {type(t).__name__}")
    if input.ndim != other.ndim:
        raise RuntimeError(f"{op}: inputs must have the same number of dimensions, got shapes "
                           f"{tuple(input.shape)} and {tuple(other.shape)}")
    if input.dtype is not other.dtype:
        raise RuntimeError(f"{op}: expected both inputs to have the same dtype, got {input.dtype} "
                           f"and {other.dtype}")
    axis = input._wrap_dim(dim, op)
    if input.shape[axis] != 3 or other.shape[axis] != 3:
        raise RuntimeError(f"{op}: inputs dimension {dim} must have length 3. Got "
                           f"{input.shape[axis]} and {other.shape[axis]}")
    return (ember.roll(input, -1, axis) * ember.roll(other, -2, axis)
            - ember.roll(input, -2, axis) * ember.roll(other, -1, axis))


def vecdot(x, y, *, dim=-1):
    """Dot product of the vectors along ``dim``, other dims broadcast: ``sum_i x_i y_i``
    (``torch.linalg.vecdot``)."""
    _check_float("linalg.vecdot", x)
    _check_float("linalg.vecdot", y, "other")
    return ember.sum(x * y, dim)


def _chain_order(sizes):
    """Cheapest parenthesisation of a chain of matrices, matrix ``i`` being ``sizes[i] x
    sizes[i + 1]`` (the textbook dynamic programme, as torch's ``multi_dot``): ``split[i][j]``
    is where the product of matrices ``i..j`` splits."""
    count = len(sizes) - 1
    cost = [[0] * count for _ in range(count)]
    split = [[0] * count for _ in range(count)]
    for length in range(1, count):
        for i in range(count - length):
            j = i + length
            cost[i][j] = math.inf
            for k in range(i, j):
                c = cost[i][k] + cost[k + 1][j] + sizes[i] * sizes[k + 1] * sizes[j + 1]
                if c < cost[i][j]:
                    cost[i][j], split[i][j] = c, k
    return split


def multi_dot(tensors):
    """``tensors[0] @ tensors[1] @ ... @ tensors[-1]`` in the order of fewest multiplications
    (``torch.linalg.multi_dot``): the first may be a 1-D row vector and the last a 1-D column
    vector, the others are matrices."""
    op = "multi_dot()"
    tensors = list(tensors)
    if len(tensors) < 2:
        raise RuntimeError(f"{op}: expected at least 2 tensors but got {len(tensors)}")
    for i, t in enumerate(tensors):
        allowed = (1, 2) if i in (0, len(tensors) - 1) else (2,)
        if t.ndim not in allowed:
            which = "first" if i == 0 else "last" if i == len(tensors) - 1 else f"tensor {i}"
            raise RuntimeError(f"{op}: the {which} tensor must be "
                               f"{' or '.join(f'{d}D' for d in allowed)} but got {t.ndim}D")
        if t.dtype is not tensors[0].dtype:
            raise RuntimeError(f"{op}: all tensors must have the same dtype but tensor 0 is "
                               f"{tensors[0].dtype} and tensor {i} {t.dtype}")
    matrices = list(tensors)
    if matrices[0].ndim == 1:
        matrices[0] = matrices[0].unsqueeze(0)
    if matrices[-1].ndim == 1:
        matrices[-1] = matrices[-1].unsqueeze(1)
    for i in range(len(matrices) - 1):
        if matrices[i].shape[1] != matrices[i + 1].shape[0]:
            raise RuntimeError(f"{op}: tensors {i} and {i + 1} with shapes "
                               f"{list(matrices[i].shape)} and {list(matrices[i + 1].shape)} "
                               f"cannot be multiplied")
    split = _chain_order([matrices[0].shape[0]] + [t.shape[1] for t in matrices])

    def product(i, j):
        if i == j:
            return matrices[i]
        k = split[i][j]
        return matmul(product(i, k), product(k + 1, j))

    result = product(0, len(matrices) - 1)
    if tensors[0].ndim == 1:
        result = result.squeeze(0)
    if tensors[-1].ndim == 1:
        result = result.squeeze(-1)
    return result


def matrix_power(A, n):
    """``A^n`` for square ``A`` ``(*, m, m)`` and an integer ``n`` (``torch.linalg.matrix_power``):
    by repeated squaring; ``n = 0`` gives the identity, ``n < 0`` the power of ``inv(A)``."""
    op = "linalg.matrix_power"
    if not isinstance(A, ember.Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(A).__name__}")
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"{op}: n must be an int, got {type(n).__name__} {n!r}")
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise RuntimeError(f"{op}: A must be batches of square matrices, got shape "
                           f"{tuple(A.shape)}")
    if n == 0:
        identity = ember.eye(A.shape[-1], dtype=A.dtype).expand(*A.shape)
        return A.clone().copy_(identity)
    if n < 0:
        A, n = inv(A), -n
    result, square = None, A
    while True:
        if n % 2:
            result = square if result is None else matmul(result, square)
        n //= 2
        if not n:
            return result
        square = matmul(square, square)
