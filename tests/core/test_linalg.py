"""Matrix products: @, matmul (1-D, 2-D, batched, broadcast), mm, bmm, mv, dot, outer,
addmm, einsum, tensordot: parity with torch and gradcheck."""
import numpy as np
import pytest

import ember
from tests.harness import check_parity, gradcheck64

R = np.random.default_rng(5)


def randn(*shape, dtype=np.float32):
    return np.asarray(R.standard_normal(shape), dtype=dtype)


MATMUL_SHAPES = [((3,), (3,)), ((3,), (3, 4)), ((2, 3), (3,)), ((2, 3), (3, 4)),
                 ((5, 2, 3), (3, 4)), ((2, 3), (5, 3, 4)), ((5, 2, 3), (5, 3, 4)),
                 ((2, 1, 2, 3), (5, 3, 4)), ((4,), (2, 4, 3)), ((2, 3, 4), (4,)),
                 ((0, 3), (3, 2)), ((2, 0), (0, 3)), ((1, 1), (1, 1))]


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul_parity(shapes):
    a, b = randn(*shapes[0]), randn(*shapes[1])
    check_parity(lambda m, a, b: a @ b, [a, b])
    check_parity(lambda m, a, b: m.matmul(a, b), [a.astype(np.float64), b.astype(np.float64)])


@pytest.mark.parametrize("shapes", [s for s in MATMUL_SHAPES if 0 not in s[0] + s[1]], ids=str)
def test_matmul_gradcheck(shapes):
    a, b = randn(*shapes[0], dtype=np.float64), randn(*shapes[1], dtype=np.float64)
    assert gradcheck64(lambda a, b: a @ b, [a, b])


def test_matmul_transposed_inputs():
    a, b = randn(4, 3), randn(5, 4)
    check_parity(lambda m, a, b: a.t() @ b.t(), [a, b])
    check_parity(lambda m, a, b: m.mm(b, a[:, ::2]), [a, b])


def test_mm_bmm_mv_dot_outer_addmm():
    a, b, v = randn(2, 3), randn(3, 4), randn(3)
    check_parity(lambda m, a, b: m.mm(a, b), [a, b])
    check_parity(lambda m, a, b: m.bmm(a, b), [randn(2, 3, 4), randn(2, 4, 5)])
    check_parity(lambda m, a, v: m.mv(a, v), [a, v])
    check_parity(lambda m, u, v: m.dot(u, v), [randn(3), v])
    check_parity(lambda m, u, v: m.outer(u, v), [randn(2), v])
    check_parity(lambda m, c, a, b: m.addmm(c, a, b, beta=0.5, alpha=2.0), [randn(4), a, b])
    check_parity(lambda m, c, a, b: m.baddbmm(c, a, b), [randn(2, 3, 5), randn(2, 3, 4),
                                                          randn(2, 4, 5)])
    for f in (ember.mm, ember.mv, ember.dot, ember.outer):
        args = {ember.mm: (a, b), ember.mv: (a, v), ember.dot: (v, v), ember.outer: (v, v)}[f]
        assert gradcheck64(lambda x, y: f(x, y), [x.astype(np.float64) for x in args])


EINSUM = [("ij,jk->ik", [(2, 3), (3, 4)]), ("bij,bjk->bik", [(2, 2, 3), (2, 3, 4)]),
          ("ij->ji", [(2, 3)]), ("ii->i", [(3, 3)]), ("ii", [(3, 3)]), ("ij->", [(2, 3)]),
          ("i,j->ij", [(2,), (3,)]), ("ij,ij->i", [(2, 3), (2, 3)]), ("ij,jk", [(2, 3), (3, 4)]),
          ("...ij,...jk->...ik", [(2, 2, 3), (2, 3, 4)]), ("bhqd,bhkd->bhqk", [(1, 2, 3, 4), (1, 2, 5, 4)]),
          ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]), ("i,i", [(4,), (4,)]), ("ijk->kj", [(2, 3, 4)])]


@pytest.mark.parametrize("eq,shapes", EINSUM, ids=[e for e, _ in EINSUM])
def test_einsum(eq, shapes):
    arrays = [randn(*s) for s in shapes]
    check_parity(lambda m, *xs: m.einsum(eq, *xs), arrays)
    assert gradcheck64(lambda *xs: ember.einsum(eq, *xs), [a.astype(np.float64) for a in arrays])


def test_einsum_list_operands_and_tensordot():
    a, b = randn(2, 3, 4), randn(4, 3, 5)
    check_parity(lambda m, a, b: m.einsum("ijk,kjl->il", [a, b]), [a, b])
    check_parity(lambda m, a, b: m.tensordot(a, b, dims=([1, 2], [1, 0])), [a, b])
    check_parity(lambda m, a, b: m.tensordot(a, b.permute(1, 0, 2), dims=2), [a, b])


@pytest.mark.parametrize("n,increasing", [(None, False), (3, False), (5, True), (2, True)])
def test_vander_parity(n, increasing):
    """torch.vander: columns x^(N−1) … x 1 (the lecture's polynomial-regression design matrix,
    inventory A25). torch 2.13's own vander fails in backward ("modified by an inplace
    operation"), so the gradient is compared with torch differentiating the same columns
    written as powers (including at x = 0)."""
    x = np.array([0.0, 1.5, -2.0, 0.3])
    for dtype in (np.float64, np.float32):
        check_parity(lambda m, x: m.vander(x, n, increasing), [x], requires_grad=[False],
                     dtype=dtype)

    def powers(m, x):
        if m is ember:
            return ember.vander(x, n, increasing)
        k = len(x) if n is None else n
        exponents = m.arange(k, dtype=x.dtype) if increasing else m.arange(k - 1, -1, -1,
                                                                             dtype=x.dtype)
        return x.unsqueeze(-1) ** exponents
    check_parity(powers, [x], dtype=np.float64)


def test_vander_integer_input_gradcheck_and_errors():
    ones = ember.vander(ember.tensor([0.5, 2.0], requires_grad=True), 1)
    assert ones.tolist() == [[1.0], [1.0]] and not ones.requires_grad
    ints = ember.vander(ember.tensor([1, 2, 3]), 3)
    assert ints.dtype == ember.int64 and ints.tolist() == [[1, 1, 1], [4, 2, 1], [9, 3, 1]]
    assert tuple(ember.vander(ember.tensor([1.0, 2.0]), 0).shape) == (2, 0)
    assert gradcheck64(lambda x: ember.vander(x, 4), [np.array([0.0, -1.3, 2.1])])
    with pytest.raises(RuntimeError, match=r"vander: expected a 1-D tensor x, got \(2, 2\)"):
        ember.vander(ember.ones(2, 2))
    with pytest.raises(RuntimeError, match="N must be non-negative"):
        ember.vander(ember.ones(2), -1)
