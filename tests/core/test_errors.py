"""User mistakes raise errors that name the op and the expected vs actual shapes/dtypes/values,
never a raw NumPy traceback from deep inside."""
import pytest

import ember

E = ember


CASES = [
    ("matmul", lambda: E.ones(3, 4) @ E.ones(5, 6), RuntimeError,
     r"matmul: \(3, 4\) @ \(5, 6\): inner dimensions 4 and 5 differ"),
    ("matmul_batch", lambda: E.ones(2, 3, 4) @ E.ones(3, 4, 5), RuntimeError, r"matmul.*batch"),
    ("matmul_0d", lambda: E.matmul(E.tensor(1.0), E.ones(2)), RuntimeError, r"matmul.*1D"),
    ("matmul_dtype", lambda: E.ones(2, 2) @ E.ones(2, 2, dtype=E.float64), RuntimeError,
     r"matmul.*float32.*float64"),
    ("mm_1d", lambda: E.mm(E.ones(3), E.ones(3, 2)), RuntimeError, r"mm: expected 2-D.*\(3,\)"),
    ("bmm_batch", lambda: E.bmm(E.ones(2, 3, 4), E.ones(3, 4, 5)), RuntimeError, r"bmm.*batch"),
    ("add_broadcast", lambda: E.ones(3, 4) + E.ones(5), RuntimeError,
     r"add: the shapes \(3, 4\) and \(5,\) cannot be broadcast"),
    ("mul_broadcast", lambda: E.ones(2, 3) * E.ones(3, 2), RuntimeError, r"mul: .*\(2, 3\).*\(3, 2\)"),
    ("where_cond", lambda: E.where(E.ones(2), E.ones(2), E.zeros(2)), RuntimeError,
     r"where: .*bool.*float32"),
    ("bool_sub", lambda: E.tensor([True]) - E.tensor([False]), RuntimeError, r"sub.*bool"),
    ("reshape", lambda: E.ones(2, 3).reshape(4, 2), RuntimeError,
     r"reshape: shape \[4, 2\] is invalid for input of size 6"),
    ("view_two_neg", lambda: E.ones(6).view(-1, -1), RuntimeError, r"view.*one dimension"),
    ("dim_range", lambda: E.ones(2, 3).sum(2), IndexError, r"sum: dimension out of range.*\[-2, 1\].*2"),
    ("permute", lambda: E.ones(2, 3).permute(0), RuntimeError, r"permute.*2 dims"),
    ("expand", lambda: E.ones(2, 3).expand(4, 3), RuntimeError, r"expand.*\(4\).*\(2\)"),
    ("cat_dims", lambda: E.cat([E.ones(2, 3), E.ones(2, 4)], 0), RuntimeError,
     r"cat: sizes of tensors must match except in dimension 0.*3.*4"),
    ("stack_shapes", lambda: E.stack([E.ones(2), E.ones(3)]), RuntimeError, r"stack.*\[2\].*\[3\]"),
    ("split_sizes", lambda: E.ones(5).split([2, 2]), RuntimeError, r"split.*5"),
    ("gather_index", lambda: E.ones(2, 3).gather(1, E.tensor([[5]])), RuntimeError,
     r"gather: index 5 is out of bounds.*size 3"),
    ("gather_float_index", lambda: E.ones(2, 3).gather(1, E.tensor([[0.0]])), RuntimeError,
     r"gather.*int64.*float32"),
    ("index", lambda: E.ones(3, 4)[3], IndexError, r"index.*\(3, 4\)"),
    ("masked_fill", lambda: E.ones(3).masked_fill(E.ones(3), 0.0), RuntimeError, r"masked_fill.*bool"),
    ("topk", lambda: E.ones(3).topk(4), RuntimeError, r"topk: k \(4\).*size 3"),
    ("one_hot", lambda: E.one_hot(E.tensor([3]), 2), RuntimeError, r"one_hot.*\(2\).*3"),
    ("tril_1d", lambda: E.tril(E.ones(3)), RuntimeError, r"tril.*\(3,\)"),
    ("item", lambda: E.ones(2).item(), RuntimeError, r"item: a Tensor with 2 elements"),
    ("requires_grad_int", lambda: E.ones(2, dtype=E.int64).requires_grad_(), RuntimeError,
     r"requires_grad_.*int64"),
    ("mean_int", lambda: E.arange(3).mean(), RuntimeError, r"mean.*int64"),
    ("clamp_none", lambda: E.ones(2).clamp(), RuntimeError, r"clamp.*min.*max"),
    ("einsum_operands", lambda: E.einsum("ij,jk->ik", E.ones(2, 3)), RuntimeError, r"einsum.*2 operands.*1"),
    ("einsum_rank", lambda: E.einsum("ij->i", E.ones(2)), RuntimeError, r"einsum.*'ij'.*\(2,\)"),
    ("einsum_size", lambda: E.einsum("ij,jk->ik", E.ones(2, 3), E.ones(4, 2)), RuntimeError,
     r"einsum.*'j'.*size"),
    ("backward_scalar", lambda: (E.ones(2, requires_grad=True) * 2).backward(), RuntimeError,
     r"backward.*scalar.*\(2,\)"),
    ("bitwise_float", lambda: E.ones(2) & E.ones(2), RuntimeError, r"bitwise_and.*float32"),
    ("unsupported_numpy_dtype", lambda: E.from_numpy(__import__("numpy").ones(2, dtype="complex64")),
     TypeError, r"unsupported NumPy dtype"),
    ("out_kw", lambda: E.add(E.ones(2), 1, out=E.ones(2)), TypeError, r"add: the out= argument"),
    ("cuda", lambda: E.ones(2).cuda(), RuntimeError, r"cuda: .*CPU"),
    ("int_neg_pow", lambda: E.tensor([2]) ** -1, RuntimeError, r"pow: integers to negative"),
    ("narrow", lambda: E.ones(4).narrow(0, 2, 3), IndexError, r"narrow.*\(2\).*\(3\).*\(4\)"),
    ("chunk", lambda: E.ones(4).chunk(0), RuntimeError, r"chunk.*greater than 0"),
    ("div_mode", lambda: E.ones(2).div(2, rounding_mode="round"), ValueError, r"div.*rounding_mode"),
    ("write_expanded", lambda: E.ones(3).expand(2, 3).add_(1), RuntimeError,
     r"add_: .*\(2, 3\).*single memory location"),
    ("grad_unused", lambda: E.autograd.grad(E.ones(1, requires_grad=True).sum(), [E.ones(1, requires_grad=True)]),
     RuntimeError, r"grad:.*allow_unused"),
]


@pytest.mark.parametrize("name,fn,exc,pattern", CASES, ids=[c[0] for c in CASES])
def test_error_names_op_and_values(name, fn, exc, pattern):
    with pytest.raises(exc, match=pattern) as info:
        fn()
    tb = info.traceback
    assert "numpy" not in str(tb[-1].path), f"raised from inside NumPy: {tb[-1].path}"


MORE = [
    ("cat_non_tensor", lambda: E.cat([E.ones(2), [1.0, 2.0]]), TypeError, r"cat: .*element 1 is a list"),
    ("stack_single_tensor", lambda: E.stack(E.ones(2, 2)), TypeError, r"stack: .*single Tensor"),
    ("einsum_output_letter", lambda: E.einsum("ij->k", E.ones(2, 3)), RuntimeError,
     r"einsum: output subscript 'k'"),
    ("einsum_bad_char", lambda: E.einsum("i1->i", E.ones(2, 3)), RuntimeError, r"einsum: invalid subscript '1'"),
    ("sum_float_dim", lambda: E.ones(3).sum(dim=0.5), TypeError, r"sum: dim must be"),
    ("std_int", lambda: E.arange(3).std(), RuntimeError, r"var/std.*int64"),
]


@pytest.mark.parametrize("name,fn,exc,pattern", MORE, ids=[c[0] for c in MORE])
def test_more_errors(name, fn, exc, pattern):
    test_error_names_op_and_values(name, fn, exc, pattern)
