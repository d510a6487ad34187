"""Indexing and assignment: ints, slices, ellipsis, None, integer arrays/tensors, boolean
masks; gradients through advanced indexing accumulate over repeated indices."""
import numpy as np
import pytest

import ember
from tests.harness import check_parity, gradcheck64

R = np.random.default_rng(4)


def randn(*shape, dtype=np.float32):
    return np.asarray(R.standard_normal(shape), dtype=dtype)


IDX_REP = np.array([0, 2, 2, 0, 1, 2])
INDEXERS = {
    "int": lambda m, x: x[1],
    "neg_int": lambda m, x: x[-1, 0],
    "all_ints": lambda m, x: x[1, 2, 3],
    "slice": lambda m, x: x[:, 1:3],
    "slice_step": lambda m, x: x[::2, ::-1] if m.__name__ == "ember" else x[::2].flip(1),
    "slice_neg": lambda m, x: x[-2:, :, -3:-1],
    "ellipsis": lambda m, x: x[..., 1],
    "ellipsis_mid": lambda m, x: x[0, ..., 2:],
    "none": lambda m, x: x[None, :, None, 1],
    "int_list": lambda m, x: x[[0, 2, 2]],
    "int_tensor_repeats": lambda m, x: x[m.tensor(IDX_REP)],
    "int_tensor_2d": lambda m, x: x[m.tensor([[0, 1], [2, 2]])],
    "int_tensor_dim1": lambda m, x: x[:, m.tensor([3, 0, 3, 1])],
    "pair_arrays": lambda m, x: x[m.tensor([0, 2, 0]), m.tensor([1, 1, 1])],
    "arrays_split_by_slice": lambda m, x: x[m.tensor([0, 2]), :, m.tensor([1, 1])],
    "bool_mask": lambda m, x: x[x > 0],
    "bool_mask_rows": lambda m, x: x[m.tensor([True, False, True])],
    "bool_mask_2d": lambda m, x: x[:, m.tensor([True, False, True, True])],
    "mixed": lambda m, x: x[1:, m.tensor([0, 0]), None],
    "empty_slice": lambda m, x: x[2:2],
    "empty_index": lambda m, x: x[m.tensor([], dtype=m.int64)],
}


@pytest.mark.parametrize("name", sorted(INDEXERS))
def test_getitem_parity(name):
    check_parity(INDEXERS[name], [randn(3, 4, 5)])


@pytest.mark.parametrize("name", sorted(INDEXERS))
def test_getitem_on_noncontiguous_float64(name):
    x = randn(5, 4, 3, dtype=np.float64)
    check_parity(lambda m, x: INDEXERS[name](m, x.permute(2, 1, 0)), [x])


@pytest.mark.parametrize("name", sorted(set(INDEXERS) - {"bool_mask", "empty_slice", "empty_index"}))
def test_getitem_gradcheck(name):
    assert gradcheck64(lambda t: INDEXERS[name](ember, t), [randn(3, 4, 5, dtype=np.float64)])


def test_repeated_index_gradient_accumulates():
    x = ember.zeros(4, requires_grad=True)
    x[ember.tensor([1, 1, 3, 1])].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 3, 0, 1])
    big = randn(50, 7)
    idx = R.integers(0, 50, 200)
    check_parity(lambda m, x, i: x[i] * 2, [big, idx])
    check_parity(lambda m, x, i: x[:, i[:9] % 7], [big, idx])


SETITEM = {
    "int": (lambda x: (1,), (4, 5)),
    "slice": (lambda x: (slice(None), slice(1, 3)), (3, 2, 5)),
    "scalar_value": (lambda x: (Ellipsis, 0), ()),
    "broadcast_value": (lambda x: (slice(0, 2),), (5,)),
    "int_array": (lambda x: ([0, 2],), (2, 4, 5)),
    "bool_mask": (lambda x: (x > 0,), None),
}


@pytest.mark.parametrize("name", sorted(SETITEM))
def test_setitem_parity_value_and_gradients(name):
    make_idx, vshape = SETITEM[name]
    x = randn(3, 4, 5)
    v = randn(*vshape) if vshape is not None else randn(int((x > 0).sum()))

    def fn(m, x, v):
        y = x * 1.0  # a non-leaf we may modify in place
        idx = make_idx(y)
        y[idx] = v
        return y * y

    check_parity(fn, [x, v])


def test_setitem_python_number_and_no_grad_leaf():
    x = ember.zeros(2, 3)
    x[0, 1] = 5
    x[1] = ember.tensor([1.0, 2.0, 3.0])
    x[x > 2] = -1.0
    np.testing.assert_array_equal(x.numpy(), [[0, -1, 0], [1, 2, -1]])
    w = ember.ones(3, requires_grad=True)
    with ember.no_grad():
        w[1] = 7.0
    assert w.tolist() == [1.0, 7.0, 1.0] and w.requires_grad and w.is_leaf


def test_index_put_accumulate_and_index_add():
    x, v = randn(5), randn(4)
    idx = np.array([0, 3, 3, 1])
    check_parity(lambda m, x, i, v: x.index_put((i,), v, accumulate=True), [x, idx, v])
    check_parity(lambda m, x, i, v: x.index_put((i[:2],), v[:2]), [x, idx, v])
    check_parity(lambda m, x, i, v: m.index_add(x, 0, i, v), [x, idx, v])


def test_index_errors_name_the_op_and_shape():
    x = ember.zeros(3, 4)
    with pytest.raises(IndexError, match=r"index.*\(3, 4\)"):
        x[5]
    with pytest.raises(IndexError, match=r"index.*\(3, 4\)"):
        x[ember.tensor([0, 7])]
    with pytest.raises(IndexError, match="float32"):
        x[ember.tensor([0.0])]
    with pytest.raises(RuntimeError, match=r"__setitem__.*\(3, 4\)"):
        x[0] = ember.ones(5)
