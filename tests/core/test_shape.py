"""Shape ops (views share memory and gradients flow back), cat/stack/split, where/gather/
scatter, sort/topk, tril/triu, one_hot: parity with torch and gradcheck."""
import numpy as np
import pytest

import ember
from tests.harness import check_parity, gradcheck64

R = np.random.default_rng(3)


def randn(*shape, dtype=np.float32):
    return np.asarray(R.standard_normal(shape), dtype=dtype)


# name -> function of (lib, x) for an input of shape (2, 3, 4)
SHAPE_OPS = {
    "reshape": lambda m, x: x.reshape(4, -1),
    "reshape_fn": lambda m, x: m.reshape(x, (6, 4)),
    "view": lambda m, x: x.view(-1, 12),
    "view_tuple": lambda m, x: x.view((3, 8)),
    "flatten": lambda m, x: m.flatten(x),
    "flatten1": lambda m, x: m.flatten(x, 1),
    "flatten_mid": lambda m, x: x.flatten(0, 1),
    "unflatten": lambda m, x: x.unflatten(2, (2, 2)),
    "squeeze": lambda m, x: x[:, :1].squeeze(),
    "squeeze_dim": lambda m, x: x[:, :1].squeeze(1),
    "squeeze_noop": lambda m, x: x.squeeze(0),
    "unsqueeze": lambda m, x: x.unsqueeze(1),
    "unsqueeze_neg": lambda m, x: m.unsqueeze(x, -1),
    "permute": lambda m, x: x.permute(2, 0, 1),
    "permute_tuple": lambda m, x: m.permute(x, (1, 2, 0)),
    "transpose": lambda m, x: x.transpose(0, 2),
    "t": lambda m, x: x[0].t(),
    "T2d": lambda m, x: x[1].T,
    "mT": lambda m, x: x.mT,
    "expand": lambda m, x: x[:, :1].expand(2, 5, 4),
    "expand_neg": lambda m, x: x[None].expand(3, -1, -1, -1),
    "expand_as": lambda m, x: x[0, :1].expand_as(x),
    "repeat": lambda m, x: x.repeat(2, 1, 3),
    "repeat_lead": lambda m, x: x[0].repeat(2, 2, 1),
    "flip": lambda m, x: m.flip(x, (0, 2)),
    "flip_neg": lambda m, x: x.flip(-1),
    "roll": lambda m, x: m.roll(x, 1, 2),
    "roll_multi": lambda m, x: m.roll(x, (1, -2), (0, 2)),
    "roll_flat": lambda m, x: m.roll(x, 5),
    "narrow": lambda m, x: x.narrow(2, 1, 2),
    "narrow_neg": lambda m, x: m.narrow(x, 1, -2, 2),
    "contiguous": lambda m, x: x.transpose(0, 1).contiguous(),
    "clone": lambda m, x: x.clone(),
    "tril": lambda m, x: m.tril(x),
    "tril_k": lambda m, x: x.tril(-1),
    "triu": lambda m, x: m.triu(x, 1),
    "movedim": lambda m, x: m.movedim(x, 0, 2),
    "tile": lambda m, x: m.tile(x, (2,)),
}


@pytest.mark.parametrize("name", sorted(SHAPE_OPS))
def test_shape_op_parity(name):
    check_parity(SHAPE_OPS[name], [randn(2, 3, 4)])


@pytest.mark.parametrize("name", sorted(SHAPE_OPS))
def test_shape_op_parity_on_transposed_input(name):
    if name.startswith("view"):
        return  # torch and Ember both refuse to view a transposed layout (tested above)
    x = randn(4, 3, 2, dtype=np.float64)
    check_parity(lambda m, x: SHAPE_OPS[name](m, x.permute(2, 1, 0)), [x])


@pytest.mark.parametrize("name", sorted(SHAPE_OPS))
def test_shape_op_gradcheck(name):
    assert gradcheck64(lambda t: SHAPE_OPS[name](ember, t), [randn(2, 3, 4, dtype=np.float64)])


def test_views_share_memory_and_view_rejects_incompatible_layout():
    x = ember.arange(12.0).reshape(3, 4)
    v = x.view(4, 3)
    v[0, 0] = 100.0
    assert x[0, 0].item() == 100.0
    x.t()[1, 0] = -1.0
    assert x[0, 1].item() == -1.0
    with pytest.raises(RuntimeError, match="view"):
        x.t().view(12)
    assert x.t().reshape(12).shape == (12,)
    assert x.t().is_contiguous() is False and x.t().contiguous().is_contiguous()


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat_stack(dim):
    a, b, c = randn(2, 3), randn(2, 3), randn(2, 3)
    check_parity(lambda m, a, b, c: m.cat([a, b, c], dim), [a, b, c])
    check_parity(lambda m, a, b, c: m.stack((a, b, c), dim), [a, b, c])
    check_parity(lambda m, a, b, c: m.stack([a, b.t().t(), c], dim - 1 if dim < 0 else dim), [a, b, c])
    assert gradcheck64(lambda a, b: ember.cat([a, b], dim), [a.astype(np.float64), b.astype(np.float64)])
    assert gradcheck64(lambda a, b: ember.stack([a, b], dim), [a.astype(np.float64), b.astype(np.float64)])


def test_cat_uneven_sizes_mixed_dtypes_and_empty():
    a, b = randn(2, 3), randn(2, 5)
    check_parity(lambda m, a, b: m.cat([a, b], 1), [a, b])
    check_parity(lambda m, a, b: m.cat([a, b], 1), [a, b.astype(np.float64)])
    check_parity(lambda m, a, b: m.cat([a, b], 0), [randn(0, 3), randn(2, 3)])
    check_parity(lambda m, a, b: m.cat([a, b]), [randn(0), randn(4)])


@pytest.mark.parametrize("arg", [2, 3, [1, 4], (2, 2, 1)])
def test_split(arg):
    x = randn(5, 3)
    check_parity(lambda m, x: m.split(x, arg), [x])
    check_parity(lambda m, x: x.split(arg, dim=0), [x])


@pytest.mark.parametrize("chunks", [1, 2, 3, 4, 6])
def test_chunk(chunks):
    x = randn(2, 5)
    check_parity(lambda m, x: m.chunk(x, chunks, 1), [x])
    check_parity(lambda m, x: x.chunk(chunks, -1), [x])


def test_unbind_and_partial_use_of_outputs():
    x = randn(3, 4)
    check_parity(lambda m, x: m.unbind(x, 1), [x])
    check_parity(lambda m, x: m.split(x, 2)[1], [x])


def test_where_broadcast_and_scalars():
    c = R.random((3, 1)) > 0.5
    a, b = randn(1, 4), randn(3, 4)
    check_parity(lambda m, c, a, b: m.where(c, a, b), [c, a, b])
    check_parity(lambda m, c, a, b: m.where(c, a, 0.0), [c, a, b])
    check_parity(lambda m, c, a, b: m.where(c, 1.5, b), [c, a, b])
    check_parity(lambda m, c, a, b: a.where(c, b), [c, a, b])
    assert gradcheck64(lambda a, b: ember.where(ember.tensor(c), a, b),
                       [a.astype(np.float64), b.astype(np.float64)])


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_gather(dim):
    x = randn(3, 4, 2)
    idx_shape = list(x.shape)
    idx_shape[dim] = 5  # more picks than the size along dim: repeats accumulate
    idx = R.integers(0, x.shape[dim], idx_shape)
    check_parity(lambda m, x, i: m.gather(x, dim, i), [x, idx])
    check_parity(lambda m, x, i: x.gather(dim, i[:2, :2, :1]), [x, idx])
    assert gradcheck64(lambda t: ember.gather(t, dim, ember.tensor(idx)), [x.astype(np.float64)])


@pytest.mark.parametrize("dim", [0, 1])
def test_scatter_and_scatter_add(dim):
    x = randn(3, 4)
    idx = np.stack([R.permutation(3)[:2] for _ in range(4)], 1) if dim == 0 else \
        np.stack([R.permutation(4)[:3] for _ in range(3)], 0)
    src = randn(*idx.shape)  # torch's backward needs src shaped like index
    check_parity(lambda m, x, i, s: m.scatter(x, dim, i, s), [x, idx, src])
    check_parity(lambda m, x, i, s: x.scatter(dim, i, 2.5), [x, idx, src])
    check_parity(lambda m, x, i, s: x.scatter(dim, i, s, reduce="add") if m is ember
                 else x.scatter_add(dim, i, s), [x, idx, src])  # torch deprecates reduce='add'
    rep = R.integers(0, x.shape[dim], idx.shape)  # repeated indices
    check_parity(lambda m, x, i, s: m.scatter_add(x, dim, i, s), [x, rep, src])
    assert gradcheck64(lambda a, s: ember.scatter_add(a, dim, ember.tensor(rep), s),
                       [x.astype(np.float64), src.astype(np.float64)])


def test_index_select_masked_fill():
    x = randn(4, 3)
    idx = np.array([2, 0, 2, 3])
    check_parity(lambda m, x, i: m.index_select(x, 0, i), [x, idx])
    check_parity(lambda m, x, i: x.index_select(1, i[:2]), [x, idx])
    mask = R.random((4, 1)) > 0.5
    check_parity(lambda m, x, k: x.masked_fill(k, -1.0), [x, mask])
    check_parity(lambda m, x, k: m.masked_fill(x, k, float("-inf")).exp(), [x, mask])
    assert gradcheck64(lambda t: ember.index_select(t, 0, ember.tensor(idx)), [x.astype(np.float64)])
    assert gradcheck64(lambda t: t.masked_fill(ember.tensor(mask), 0.5), [x.astype(np.float64)])


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("dim", [0, -1])
def test_sort(descending, dim):
    x = randn(4, 5)
    check_parity(lambda m, x: m.sort(x, dim, descending=descending), [x])
    ties = np.array([[3, 1, 3, 2, 1], [0, 0, 5, 5, 0]], dtype=np.float32)
    check_parity(lambda m, x: x.sort(dim=dim, descending=descending, stable=True), [ties])
    check_parity(lambda m, x: m.argsort(x, dim, descending=descending), [x], requires_grad=[False])


@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("k", [1, 3])
def test_topk(largest, k):
    x = randn(3, 6)
    check_parity(lambda m, x: m.topk(x, k, largest=largest), [x])
    check_parity(lambda m, x: x.topk(k, dim=0, largest=largest), [x])
    assert gradcheck64(lambda t: ember.topk(t, k, largest=largest)[0], [x.astype(np.float64)])


def test_one_hot():
    y = np.array([[0, 2], [1, 3]])
    check_parity(lambda m, y: m.nn.functional.one_hot(y) if m.__name__ == "torch" else m.one_hot(y), [y])
    check_parity(lambda m, y: m.nn.functional.one_hot(y, 6) if m.__name__ == "torch"
                 else m.one_hot(y, num_classes=6), [y])
    with pytest.raises(RuntimeError, match="one_hot"):
        ember.one_hot(ember.tensor([0, 5]), 3)
    with pytest.raises(RuntimeError, match="one_hot"):
        ember.one_hot(ember.tensor([0.0, 1.0]))


def test_split_chunk_sort_gradcheck():
    x = randn(5, 4, dtype=np.float64)
    assert gradcheck64(lambda t: ember.split(t, [2, 3])[1] * 2 + ember.split(t, [2, 3])[0].sum(), [x])
    assert gradcheck64(lambda t: ember.chunk(t, 2, 1), [x])
    assert gradcheck64(lambda t: ember.sort(t, 1, descending=True).values, [x])
    assert gradcheck64(lambda t: ember.stack(ember.unbind(t, 1), 0), [x])


@pytest.mark.parametrize("name", ["flatten1", "permute", "expand", "repeat", "flip", "roll",
                                  "narrow", "squeeze", "unsqueeze", "transpose", "tril"])
def test_shape_ops_with_size_one_and_empty_dims(name):
    check_parity(SHAPE_OPS[name], [randn(2, 1, 4)])
    if name not in ("expand", "squeeze"):
        check_parity(SHAPE_OPS[name], [randn(2, 3, 0)] if name != "narrow" else [randn(0, 3, 4)])
