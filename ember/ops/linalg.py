"""Matrix products: matmul (``@``), mm, bmm, mv, dot, outer, addmm, einsum; and the
Vandermonde matrix of polynomial regression (``vander``)."""
import numpy as np

from ember import _dtype, _parallel
from ember._tensor import Tensor
from ember.autograd.function import Function, unbroadcast
from ember.ops.elementwise import cast

__all__ = ["matmul", "mm", "bmm", "mv", "dot", "vdot", "inner", "outer", "ger", "addmm", "baddbmm",
           "einsum", "tensordot", "vander"]


class MatMul(Function):
    """``a @ b`` for ``(..., n, k) @ (..., k, m)`` with broadcast batch dims.

    Backward (lecture 003 linear layer): ``dA = dC @ B^T``, ``dB = A^T @ dC``, summed over
    broadcast batch dims."""
    saved_inputs = (0, 1)

    def forward(self, a, b):
        self.a, self.b = a, b
        return _parallel.matmul(a, b)

    def backward(self, grad):
        a, b = self.a, self.b
        ga = gb = None
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g = grad
        if b.ndim == 1:  # restore the dims matmul dropped for vector operands
            g = g[..., None]
        if a.ndim == 1:
            g = g[..., None, :]
        if self.needs_input_grad[0]:
            ga = _parallel.matmul(g, np.swapaxes(b2, -1, -2))
            ga = unbroadcast(ga, a2.shape).reshape(a.shape)
        if self.needs_input_grad[1]:
            gb = _parallel.matmul(np.swapaxes(a2, -1, -2), g)
            gb = unbroadcast(gb, b2.shape).reshape(b.shape)
        return ga, gb


def _promote_pair(op, a, b):
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError(f"{op}: expected Tensor operands, got {type(a).__name__} and "
                        f"{type(b).__name__}")
    if a._data.dtype != b._data.dtype:
        raise RuntimeError(f"{op}: expected both operands to have the same dtype, but got "
                           f"{a.dtype} and {b.dtype}")
    return a, b


def matmul(input, other):
    """Matrix product with NumPy/torch broadcasting rules (1-D operands are vectors)."""
    a, b = _promote_pair("matmul", input, other)
    sa, sb = a._data.shape, b._data.shape
    if a._data.ndim == 0 or b._data.ndim == 0:
        raise RuntimeError(f"matmul: both arguments need to be at least 1D, but they are "
                           f"{a._data.ndim}D and {b._data.ndim}D")
    ka = sa[-1]
    kb = sb[0] if len(sb) == 1 else sb[-2]
    if ka != kb:
        raise RuntimeError(f"matmul: {tuple(sa)} @ {tuple(sb)}: inner dimensions {ka} and {kb} differ")
    if len(sa) > 2 or len(sb) > 2:
        try:
            np.broadcast_shapes(sa[:-2], sb[:-2] if len(sb) > 1 else ())
        except ValueError:
            raise RuntimeError(f"matmul: {tuple(sa)} @ {tuple(sb)}: batch dimensions "
                               f"{tuple(sa[:-2])} and {tuple(sb[:-2])} cannot be broadcast") from None
    return MatMul.apply(a, b)


def mm(input, mat2):
    if input._data.ndim != 2 or mat2._data.ndim != 2:
        raise RuntimeError(f"mm: expected 2-D matrices, got shapes {tuple(input.shape)} and "
                           f"{tuple(mat2.shape)}")
    return matmul(input, mat2)


def bmm(input, mat2):
    """Batched ``(b, n, k) @ (b, k, m)``; batch sizes must match (no broadcasting)."""
    if input._data.ndim != 3 or mat2._data.ndim != 3:
        raise RuntimeError(f"bmm: expected 3-D tensors, got shapes {tuple(input.shape)} and "
                           f"{tuple(mat2.shape)}")
    if input._data.shape[0] != mat2._data.shape[0]:
        raise RuntimeError(f"bmm: batch sizes differ: {tuple(input.shape)} and {tuple(mat2.shape)}")
    return matmul(input, mat2)


def mv(input, vec):
    if input._data.ndim != 2 or vec._data.ndim != 1:
        raise RuntimeError(f"mv: expected a matrix and a vector, got shapes {tuple(input.shape)} "
                           f"and {tuple(vec.shape)}")
    return matmul(input, vec)


def dot(input, other):
    if input._data.ndim != 1 or other._data.ndim != 1:
        raise RuntimeError(f"dot: 1D tensors expected, but got {input._data.ndim}D and "
                           f"{other._data.ndim}D tensors")
    if input._data.shape != other._data.shape:
        raise RuntimeError(f"dot: inconsistent tensor size, expected tensor [{input.shape[0]}] and "
                           f"src [{other.shape[0]}] to have the same number of elements")
    return matmul(input, other)


vdot = inner = dot


def outer(input, vec2):
    from ember.ops.shape import reshape
    return reshape(input, -1, 1) * reshape(vec2, 1, -1)


ger = outer


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    """``beta * input + alpha * (mat1 @ mat2)``."""
    prod = mm(mat1, mat2)
    if alpha != 1:
        prod = prod * alpha
    return prod + (input if beta == 1 else input * beta)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    prod = bmm(batch1, batch2)
    if alpha != 1:
        prod = prod * alpha
    return prod + (input if beta == 1 else input * beta)


class Einsum(Function):
    saved_inputs = ()

    def forward(self, *ops, equation):
        self.ops = ops
        ins, out = equation.split("->")
        self.ins = ins.split(",")
        self.out = out
        return np.einsum(equation, *ops, optimize=len(ops) > 2)

    def backward(self, grad):
        grads = []
        for i, need in enumerate(self.needs_input_grad):
            if not need:
                grads.append(None)
                continue
            target = self.ins[i]
            others = [s for j, s in enumerate(self.ins) if j != i]
            arrays = [a for j, a in enumerate(self.ops) if j != i]
            # letters of input i that appear nowhere else were summed out: broadcast back
            present = set(self.out).union(*others) if others else set(self.out)
            missing = [c for c in dict.fromkeys(target) if c not in present]
            eq_target = "".join(c for c in dict.fromkeys(target) if c in present)
            eq = ",".join([self.out] + others) + "->" + eq_target
            g = np.einsum(eq, grad, *arrays, optimize=len(arrays) > 1)
            shape = self.ops[i].shape
            sizes = dict(zip(target, shape))
            for c in missing:
                g = np.expand_dims(g, -1)
                eq_target += c
            g = np.broadcast_to(g, tuple(sizes[c] for c in eq_target))
            # repeated letters in the target (a diagonal, e.g. 'ii->i')
            if len(set(target)) != len(target):
                full = np.zeros(shape, dtype=grad.dtype)
                diag = np.einsum(target + "->" + eq_target, full)
                diag[...] = g
                g = full
            else:
                g = np.transpose(g, [eq_target.index(c) for c in target])
            grads.append(np.ascontiguousarray(g))
        return tuple(grads)


def _normalize_equation(equation, operands):
    eq = equation.replace(" ", "")
    if "..." in eq:
        ins = eq.split("->")[0].split(",")
        free = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in eq]
        n_ell = max(op._data.ndim - (len(s) - 3) for s, op in zip(ins, operands) if "..." in s)
        ell = "".join(free[:n_ell])
        new_ins = []
        for s, op in zip(ins, operands):
            if "..." in s:
                k = op._data.ndim - (len(s) - 3)
                s = s.replace("...", ell[n_ell - k:])
            new_ins.append(s)
        if "->" in eq:
            out = eq.split("->")[1].replace("...", ell)
        else:
            letters = "".join(new_ins)
            out = ell + "".join(sorted(c for c in set(letters) if letters.count(c) == 1 and c not in ell))
        return ",".join(new_ins) + "->" + out
    if "->" not in eq:
        letters = eq.replace(",", "")
        out = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
        eq = eq + "->" + out
    return eq


def einsum(equation, *operands):
    """Einstein summation, e.g. ``einsum('bij,bjk->bik', a, b)``; differentiable in every operand."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    for i, op in enumerate(operands):
        if not isinstance(op, Tensor):
            raise TypeError(f"einsum: operand {i} must be a Tensor, got {type(op).__name__}")
    bad = sorted(set(equation) - set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ,.->  "))
    if bad:
        raise RuntimeError(f"einsum: invalid subscript {bad[0]!r} in {equation!r}: subscripts "
                           f"must be letters")
    eq = _normalize_equation(equation, operands)
    ins = eq.split("->")[0].split(",")
    missing = sorted(set(eq.split("->")[1]) - set("".join(ins)))
    if missing:
        raise RuntimeError(f"einsum: output subscript {missing[0]!r} in {equation!r} does not "
                           f"appear in any input")
    if len(ins) != len(operands):
        raise RuntimeError(f"einsum: equation {equation!r} names {len(ins)} operands but "
                           f"{len(operands)} were given")
    for s, op in zip(ins, operands):
        if len(s) != op._data.ndim:
            raise RuntimeError(f"einsum: the subscript {s!r} has {len(s)} letters but the operand "
                               f"has {op._data.ndim} dimensions (shape {tuple(op.shape)})")
    sizes = {}
    for s, op in zip(ins, operands):
        for c, n in zip(s, op._data.shape):
            if sizes.setdefault(c, n) != n and n != 1 and sizes[c] != 1:
                raise RuntimeError(f"einsum: subscript {c!r} has size {n} for operand shape "
                                   f"{tuple(op.shape)}, which does not match the size {sizes[c]} "
                                   f"it has elsewhere in {equation!r}")
    rd = _dtype.result_type(*operands)
    ops = [cast(o, rd) for o in operands]
    return Einsum.apply(*ops, equation=eq)


def tensordot(a, b, dims=2):
    if isinstance(dims, int):
        la = list(range(a._data.ndim - dims, a._data.ndim))
        lb = list(range(dims))
    else:
        la, lb = [list(d) if isinstance(d, (list, tuple)) else [d] for d in dims]
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    sa = [next(letters) for _ in range(a._data.ndim)]
    sb = [next(letters) for _ in range(b._data.ndim)]
    for i, j in zip(la, lb):
        sb[j] = sa[i]
    out = [c for k, c in enumerate(sa) if k not in la] + [c for k, c in enumerate(sb) if k not in lb]
    return einsum("".join(sa) + "," + "".join(sb) + "->" + "".join(out), a, b)


def vander(x, N=None, increasing=False):
    """The Vandermonde matrix of a 1-D ``x`` (``torch.vander``): ``(n,) -> (n, N)``, columns
    ``x^(N−1), …, x², x, 1`` (``increasing=True`` reverses them); ``N`` defaults to ``n``.

    Lecture 003 「过拟合、欠拟合与模型复杂度」 (inventory A25, F5): polynomial regression of
    degree F is the linear model ``y = X w`` on the rows ``[x_i^F … x_i² x_i 1]``, i.e.
    ``vander(x, F + 1)``. Each column is the previous one times ``x`` (so the gradient is
    defined at ``x = 0``, which a power ``x^0`` would not give). Differs from torch: the
    constant column of ones is not part of the graph, so ``N = 1`` gives a result that does
    not require grad (torch's does, with a zero gradient).
    """
    from ember.ops.shape import stack

    if not isinstance(x, Tensor) or x.ndim != 1:
        raise RuntimeError(f"vander: expected a 1-D tensor x, got "
                           f"{tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__}")
    n = x.shape[0] if N is None else N
    if n < 0:
        raise RuntimeError(f"vander: N must be non-negative, got N={N}")
    if x._data.dtype.kind == "b":
        x = cast(x, _dtype.int64)
    columns = []
    if n > 0:
        columns.append(Tensor._wrap(np.ones_like(x._data)))
    for _ in range(1, n):
        columns.append(columns[-1] * x)
    if not columns:
        return Tensor._wrap(np.empty((x.shape[0], 0), x._data.dtype))
    return stack(columns if increasing else columns[::-1], dim=1)
