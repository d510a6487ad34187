"""linear, bilinear, embedding, scaled_dot_product_attention, cosine_similarity,
pairwise_distance, pdist: parity with torch (values and the gradient of every input, float32
and float64), float64 gradchecks, keyword options and errors."""
import math

import numpy as np
import pytest

import ember
from ember.nn import functional as L
from tests.harness import assert_close, check_parity, gradcheck64


def F(m):
    return L if m is ember else m.nn.functional


def _idx(a):
    return np.asarray(a, dtype=np.int64)


# ------------------------------------------------------------------------------------ linear
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xshape,wshape,bias", [
    ((8, 20), (4, 20), True), ((8, 20), (4, 20), False), ((2, 3, 5, 6), (7, 6), True),
    ((6,), (3, 6), True), ((4, 6), (6,), False), ((4, 6), (3, 6), "scalar"), ((1, 1), (1, 1), True),
])
def test_linear_parity(dtype, xshape, wshape, bias):
    inputs = [np.random.randn(*xshape), np.random.randn(*wshape)]
    if bias == "scalar":
        inputs.append(np.array(np.random.randn()))
    elif bias:
        inputs.append(np.random.randn(wshape[0]))
    check_parity(lambda m, *t: F(m).linear(*t), inputs, dtype=dtype)


def test_linear_partial_requires_grad_and_noncontiguous():
    x = np.random.randn(5, 3, 4).transpose(1, 0, 2)          # non-contiguous leading dims
    w, b = np.random.randn(6, 4), np.random.randn(6)
    for rg in ([True, False, False], [False, True, True], [False, False, True]):
        check_parity(lambda m, *t: F(m).linear(*t), [x, w, b], requires_grad=rg, dtype=np.float32)


def test_linear_gradcheck():
    assert gradcheck64(L.linear, [np.random.randn(2, 3, 4), np.random.randn(5, 4),
                                  np.random.randn(5)])
    assert gradcheck64(L.linear, [np.random.randn(3, 4), np.random.randn(4)])


def test_linear_lecture_fc_layer():
    """Lecture 003 "全连接网络": h = W a + b, row i of h is w_i . a + b_i (4x4 example)."""
    # inventory A1, A2
    w = np.arange(16, dtype=np.float32).reshape(4, 4) / 10
    a = np.array([1.0, -1.0, 2.0, 0.5], dtype=np.float32)
    b = np.array([0.1, 0.2, 0.3, 0.4], dtype=np.float32)
    h = L.linear(ember.tensor(a), ember.tensor(w), ember.tensor(b)).numpy()
    np.testing.assert_allclose(h, [w[i] @ a + b[i] for i in range(4)], rtol=1e-6)


def test_linear_errors():
    with pytest.raises(RuntimeError, match=r"^linear: input has 20 features \(shape \(8, 20\)\) "
                                           r"but weight expects 16 \(weight shape \(4, 16\)\)$"):
        L.linear(ember.randn(8, 20), ember.randn(4, 16))
    with pytest.raises(RuntimeError, match=r"linear: bias of shape \(5,\) does not match the 4 "
                                           r"output features"):
        L.linear(ember.randn(8, 16), ember.randn(4, 16), ember.randn(5))
    with pytest.raises(RuntimeError, match="linear: input dtype ember.float64 and weight dtype "
                                           "ember.float32 differ"):
        L.linear(ember.randn(2, 3, dtype=ember.float64), ember.randn(4, 3))
    with pytest.raises(RuntimeError, match="weight must be 1-D or 2-D"):
        L.linear(ember.randn(2, 3), ember.randn(1, 4, 3))
    with pytest.raises(TypeError, match="argument 'weight' must be Tensor"):
        L.linear(ember.randn(2, 3), np.ones((4, 3)))


# ---------------------------------------------------------------------------------- bilinear
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("lead,bias", [((5,), True), ((2, 3), False), ((), True)])
def test_bilinear_parity(dtype, lead, bias):
    inputs = [np.random.randn(*lead, 4), np.random.randn(*lead, 3), np.random.randn(6, 4, 3)]
    if bias:
        inputs.append(np.random.randn(6))
    check_parity(lambda m, *t: F(m).bilinear(*t), inputs, dtype=dtype)


def test_bilinear_gradcheck_and_errors():
    assert gradcheck64(L.bilinear, [np.random.randn(3, 2), np.random.randn(3, 4),
                                    np.random.randn(5, 2, 4), np.random.randn(5)])
    with pytest.raises(RuntimeError, match=r"bilinear: input1 has shape \(3, 2\) but weight "
                                           r"expects 5 features"):
        L.bilinear(ember.randn(3, 2), ember.randn(3, 4), ember.randn(6, 5, 4))
    with pytest.raises(RuntimeError, match="batch dimensions do not match"):
        L.bilinear(ember.randn(3, 2), ember.randn(4, 4), ember.randn(6, 2, 4))
    with pytest.raises(RuntimeError, match=r"bilinear: bias must have shape \(6,\)"):
        L.bilinear(ember.randn(3, 2), ember.randn(3, 4), ember.randn(6, 2, 4), ember.randn(5))


# --------------------------------------------------------------------------------- embedding
EMB_INDEX = [[1, 2, 4, 5], [4, 3, 2, 9], [0, 4, 4, 1]]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kwargs", [{}, {"padding_idx": 4}, {"padding_idx": -6},
                                    {"scale_grad_by_freq": True},
                                    {"scale_grad_by_freq": True, "padding_idx": 0}])
def test_embedding_parity(dtype, kwargs):
    check_parity(lambda m, i, w: F(m).embedding(i, w, **kwargs),
                 [_idx(EMB_INDEX), np.random.randn(10, 3)], dtype=dtype)


def test_embedding_repeated_indices_accumulate_and_shapes():
    check_parity(lambda m, i, w: F(m).embedding(i, w), [_idx([3, 3, 3, 0, 3]),
                                                        np.random.randn(4, 2)])
    check_parity(lambda m, i, w: F(m).embedding(i, w), [_idx(7), np.random.randn(8, 5)])
    check_parity(lambda m, i, w: F(m).embedding(i, w), [np.zeros((0, 3), np.int64),
                                                        np.random.randn(8, 5)])
    check_parity(lambda m, i, w: F(m).embedding(i, w), [np.array([[1, 0], [2, 1]], np.int32),
                                                        np.random.randn(3, 2)])


def test_embedding_sparse_gives_densified_gradient():
    import torch
    w = np.random.randn(10, 3).astype(np.float32)
    g = np.random.randn(3, 4, 3).astype(np.float32)
    tw = torch.tensor(w, requires_grad=True)
    torch.nn.functional.embedding(torch.tensor(EMB_INDEX), tw, sparse=True).backward(
        torch.tensor(g))
    ew = ember.tensor(w, requires_grad=True)
    L.embedding(ember.tensor(EMB_INDEX), ew, sparse=True).backward(ember.tensor(g))
    assert_close(ew.grad.numpy(), tw.grad.to_dense().numpy())


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
def test_embedding_max_norm_renormalises_weight_in_place(norm_type):
    import torch
    w = (np.random.randn(10, 4) * 2).astype(np.float32)
    idx = [[1, 2, 2], [7, 1, 0]]
    g = np.random.randn(2, 3, 4).astype(np.float32)
    tw, ew = torch.tensor(w.copy(), requires_grad=True), ember.tensor(w.copy(), requires_grad=True)
    ty = torch.nn.functional.embedding(torch.tensor(idx), tw, max_norm=1.5, norm_type=norm_type)
    ey = L.embedding(ember.tensor(idx), ew, max_norm=1.5, norm_type=norm_type)
    assert_close(ey.detach().numpy(), ty.detach().numpy())
    assert_close(ew.detach().numpy(), tw.detach().numpy())      # rows renormalised in place
    assert not np.allclose(ew.detach().numpy(), w)              # ... and they did change
    np.testing.assert_array_equal(ew.detach().numpy()[3], w[3])  # rows not looked up untouched
    ty.backward(torch.tensor(g))
    ey.backward(ember.tensor(g))
    assert_close(ew.grad.numpy(), tw.grad.numpy())


def test_embedding_gradcheck_and_errors():
    idx = ember.tensor(EMB_INDEX)
    # (scale_grad_by_freq and padding_idx deliberately deviate from the true gradient)
    assert gradcheck64(lambda w: L.embedding(idx, w), [np.random.randn(10, 3)])
    with pytest.raises(IndexError, match=r"embedding: index 12 is out of range for "
                                         r"num_embeddings=10 \(weight shape \(10, 3\)\)"):
        L.embedding(ember.tensor([1, 12, 3]), ember.randn(10, 3))
    with pytest.raises(IndexError, match="index -1 is out of range"):
        L.embedding(ember.tensor([1, -1]), ember.randn(10, 3))
    with pytest.raises(RuntimeError, match="embedding: expected indices of dtype int64 or int32"):
        L.embedding(ember.tensor([1.0, 2.0]), ember.randn(10, 3))
    with pytest.raises(ValueError, match="padding_idx 10 must be within num_embeddings=10"):
        L.embedding(ember.tensor([1]), ember.randn(10, 3), padding_idx=10)
    with pytest.raises(RuntimeError, match="weight must be 2-D"):
        L.embedding(ember.tensor([1]), ember.randn(10))


# ------------------------------------------------------------------------------- attention
def _sdpa(**kw):
    return lambda m, *t: F(m).scaled_dot_product_attention(*t, **kw)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("qshape,kshape,vshape", [
    ((2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 7)), ((4, 5), (6, 5), (6, 3)),
    ((2, 3, 4, 5), (1, 3, 6, 5), (1, 3, 6, 7)), ((3, 1, 5), (3, 7, 5), (3, 7, 2)),
])
def test_sdpa_parity_shapes(dtype, qshape, kshape, vshape):
    inputs = [np.random.randn(*s) for s in (qshape, kshape, vshape)]
    check_parity(_sdpa(), inputs, dtype=dtype)
    check_parity(_sdpa(scale=0.3), inputs, dtype=dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sdpa_masks_and_causal(dtype):
    q, k, v = np.random.randn(2, 2, 4, 3), np.random.randn(2, 2, 6, 3), np.random.randn(2, 2, 6, 5)
    bool_mask = np.random.rand(4, 6) > 0.4
    bool_mask[1] = False                                     # a row that attends to nothing
    check_parity(lambda m, q, k, v: F(m).scaled_dot_product_attention(
        q, k, v, attn_mask=m.from_numpy(bool_mask)), [q, k, v], dtype=dtype)
    float_mask = np.random.randn(2, 1, 4, 6)
    check_parity(lambda m, q, k, v, msk: F(m).scaled_dot_product_attention(q, k, v, attn_mask=msk),
                 [q, k, v, float_mask], dtype=dtype)             # the float mask gets a gradient
    check_parity(_sdpa(is_causal=True), [q, k, v], dtype=dtype)
    check_parity(_sdpa(is_causal=True), [np.random.randn(3, 5, 4), np.random.randn(3, 5, 4),
                                         np.random.randn(3, 5, 2)], dtype=dtype)


def test_sdpa_lecture_formula_and_gqa():
    """Lecture 004: Z = softmax(Q K^T / sqrt(c)) V."""
    # inventory B35, B36
    q, k, v = np.random.randn(4, 8), np.random.randn(6, 8), np.random.randn(6, 3)
    s = q @ k.T / math.sqrt(8)
    w = np.exp(s - s.max(1, keepdims=True))
    w /= w.sum(1, keepdims=True)
    z = L.scaled_dot_product_attention(*(ember.tensor(a) for a in (q, k, v))).numpy()
    np.testing.assert_allclose(z, w @ v, rtol=1e-12)
    inputs = [np.random.randn(2, 6, 4, 5), np.random.randn(2, 2, 3, 5), np.random.randn(2, 2, 3, 4)]
    check_parity(_sdpa(enable_gqa=True), inputs, dtype=np.float32)
    check_parity(_sdpa(enable_gqa=True, is_causal=True), inputs, dtype=np.float64)


def test_sdpa_gradcheck():
    q, k, v = np.random.randn(2, 3, 4), np.random.randn(2, 5, 4), np.random.randn(2, 5, 3)
    assert gradcheck64(lambda *t: L.scaled_dot_product_attention(*t), [q, k, v])
    assert gradcheck64(lambda *t: L.scaled_dot_product_attention(*t), [q, k, v,
                                                                       np.random.randn(3, 5)])
    assert gradcheck64(lambda *t: L.scaled_dot_product_attention(*t, is_causal=True,
                                                                 scale=0.7), [q, k, v])
    assert gradcheck64(lambda *t: L.scaled_dot_product_attention(*t, enable_gqa=True),
                       [np.random.randn(4, 3, 2), np.random.randn(2, 5, 2),
                        np.random.randn(2, 5, 3)])

    def with_dropout(*t):
        ember.manual_seed(9)
        return L.scaled_dot_product_attention(*t, dropout_p=0.3)
    assert gradcheck64(with_dropout, [q, k, v])


def test_split_heads_equals_chunk_and_transpose_and_is_differentiable():
    from ember.ops.attention import SplitHeads
    length, batch, heads, head_dim = 5, 3, 2, 4
    qkv = np.random.randn(length, batch, 3 * heads * head_dim)
    parts = SplitHeads.apply(ember.tensor(qkv), heads=heads)
    for part, chunk in zip(parts, np.split(qkv, 3, axis=-1)):
        expected = chunk.reshape(length, batch * heads, head_dim).transpose(1, 0, 2)
        assert part.shape == expected.shape and part.numpy().flags.c_contiguous
        np.testing.assert_array_equal(part.numpy(), expected)
    # every output used, and only the first and last (the middle gets a zero gradient)
    assert gradcheck64(lambda t: sum((p * p).sum() * (i + 1) for i, p in
                                     enumerate(SplitHeads.apply(t, heads=heads))), [qkv])
    x = ember.tensor(qkv, requires_grad=True)
    q, k, v = SplitHeads.apply(x, heads=heads)
    (q.sum() + 2 * v.sum()).backward()
    g = x.grad.numpy().reshape(length, batch, 3, -1)
    assert np.all(g[:, :, 0] == 1) and np.all(g[:, :, 1] == 0) and np.all(g[:, :, 2] == 2)


def test_sdpa_dropout_statistics():
    q, k = ember.zeros(1, 200, 4), ember.zeros(1, 50, 4)       # uniform weights 1/50
    v = ember.ones(1, 50, 1)
    p = 0.25
    ember.manual_seed(0)
    out = L.scaled_dot_product_attention(q, k, v, dropout_p=p).numpy()
    # each output is (number of kept keys) / 50 / (1 - p): mean 1, spread of a binomial
    assert abs(out.mean() - 1) < 0.03
    assert out.std() > 0.05
    np.testing.assert_array_equal(
        L.scaled_dot_product_attention(q, k, v, dropout_p=1.0).numpy(), 0)
    np.testing.assert_allclose(L.scaled_dot_product_attention(q, k, v).numpy(), 1, rtol=1e-6)


def test_sdpa_errors():
    q, k, v = ember.randn(2, 4, 3), ember.randn(2, 6, 3), ember.randn(2, 6, 5)
    with pytest.raises(RuntimeError, match="attn_mask should not be set when is_causal=True"):
        L.scaled_dot_product_attention(q, k, v, attn_mask=ember.ones(4, 6), is_causal=True)
    with pytest.raises(RuntimeError, match=r"query has 3 channels \(shape \(2, 4, 3\)\) but key "
                                           r"has 2"):
        L.scaled_dot_product_attention(q, ember.randn(2, 6, 2), v)
    with pytest.raises(RuntimeError, match="key has 6 positions"):
        L.scaled_dot_product_attention(q, k, ember.randn(2, 5, 5))
    with pytest.raises(RuntimeError, match=r"attn_mask of shape \(3, 6\) cannot be broadcast"):
        L.scaled_dot_product_attention(q, k, v, attn_mask=ember.zeros(3, 6))
    with pytest.raises(RuntimeError, match="multiple of the key/value heads"):
        L.scaled_dot_product_attention(ember.randn(1, 3, 4, 2), ember.randn(1, 2, 4, 2),
                                       ember.randn(1, 2, 4, 2), enable_gqa=True)
    with pytest.raises(ValueError, match="dropout_p"):
        L.scaled_dot_product_attention(q, k, v, dropout_p=1.5)


# --------------------------------------------------------------------------------- distances
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("s1,s2,dim", [((5, 8), (5, 8), 1), ((5, 8), (1, 8), 1),
                                       ((2, 3, 4), (3, 4), 0), ((2, 3, 4), (2, 3, 4), -1),
                                       ((8,), (8,), 0)])
def test_cosine_similarity_parity(dtype, s1, s2, dim):
    check_parity(lambda m, a, b: F(m).cosine_similarity(a, b, dim=dim),
                 [np.random.randn(*s1), np.random.randn(*s2)], dtype=dtype)


def test_cosine_similarity_eps_clamp_matches_torch():
    a = np.random.randn(4, 3) * 1e-3
    a[0] = 0
    b = np.random.randn(4, 3)
    check_parity(lambda m, a, b: F(m).cosine_similarity(a, b, eps=1e-2), [a, b],
                 dtype=np.float64)
    assert gradcheck64(lambda a, b: L.cosine_similarity(a, b, dim=0), [np.random.randn(5, 3),
                                                                       np.random.randn(5, 1)])
    with pytest.raises(IndexError, match="cosine_similarity: dim 2 is out of range"):
        L.cosine_similarity(ember.randn(2, 3), ember.randn(2, 3), dim=2)
    with pytest.raises(RuntimeError, match="cannot be broadcast"):
        L.cosine_similarity(ember.randn(2, 3), ember.randn(4, 3))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, 0.5, math.inf, 0.0])
@pytest.mark.parametrize("keepdim", [False, True])
def test_pairwise_distance_parity(dtype, p, keepdim):
    check_parity(lambda m, a, b: F(m).pairwise_distance(a, b, p=p, keepdim=keepdim),
                 [np.random.randn(6, 5), np.random.randn(6, 5)], dtype=dtype)
    check_parity(lambda m, a, b: F(m).pairwise_distance(a, b, p=p, eps=0.1, keepdim=keepdim),
                 [np.random.randn(2, 3, 4), np.random.randn(4)], dtype=dtype)


def test_pairwise_distance_gradcheck_and_1d():
    for p in (2.0, 1.5, 3.0, math.inf):
        assert gradcheck64(lambda a, b, p=p: L.pairwise_distance(a, b, p=p),
                           [np.random.randn(4, 3), np.random.randn(4, 3)])
    check_parity(lambda m, a, b: F(m).pairwise_distance(a, b), [np.random.randn(5),
                                                                np.random.randn(5)])


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, math.inf, 0.0])
def test_pdist_parity(p):
    x = np.random.randn(6, 4)
    check_parity(lambda m, t: F(m).pdist(t, p=p), [x], dtype=np.float64)
    check_parity(lambda m, t: F(m).pdist(t, p=p), [x], dtype=np.float32)
    if p not in (0.0,):
        assert gradcheck64(lambda t: L.pdist(t, p=p), [x])
    with pytest.raises(RuntimeError, match="pdist: only supports 2D tensors"):
        L.pdist(ember.randn(2, 3, 4))
