"""The compiled attention (``ember.kernels.attention``): scaled dot-product attention and the
packed multi-head self-attention against torch in float32 (forward and every gradient), the
float64 NumPy path, which calls take it, and the (sample, head) pairs split over threads
(each pair's sums do not depend on the split: equal bit for bit)."""
import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember import _parallel, kernels
from ember.ops import attention as A
from tests.harness import assert_close, check_parity

pytestmark = pytest.mark.skipif(kernels.compiled() is None,
                                reason="the compiled attention needs the compiled kernels")


@pytest.fixture
def fused(monkeypatch):
    monkeypatch.setattr(A, "POLICY", "always")
    with kernels.use("numba"):
        yield


SHAPES = [  # query, key, value
    ((2, 3, 7, 32), (2, 3, 9, 32), (2, 3, 9, 16)),     # L < S, Dv != D
    ((4, 2, 33, 16), (4, 2, 33, 16), (4, 2, 33, 16)),  # 33 queries: 3 lanes of 16, one padded
    ((5, 1, 16), (5, 40, 16), (5, 40, 48)),            # one query, 3-vector value rows
    ((1, 17, 64), (1, 5, 64), (1, 5, 16)),
]


@pytest.mark.parametrize("q_shape, k_shape, v_shape", SHAPES)
def test_fused_attention_matches_torch(fused, q_shape, k_shape, v_shape):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s) for s in (q_shape, k_shape, v_shape)]
    assert A._fused_kernels(*[a.astype(np.float32) for a in arrays]) is not None
    check_parity(lambda m, q, k, v: m.nn.functional.scaled_dot_product_attention(q, k, v),
                 arrays, dtype=np.float32)
    check_parity(lambda m, q, k, v: m.nn.functional.scaled_dot_product_attention(
        q, k, v, scale=0.3), arrays, dtype=np.float32)


def test_fused_attention_matches_the_float64_products(fused):
    """Large scores (a peaked softmax, exp's full range) and one extreme row."""
    rng = np.random.default_rng(1)
    q, k, v = (rng.standard_normal((3, 2, 20, 16)) * 4 for _ in range(3))
    q[0, 0, 3] = 60.0                           # scores of ±1000: one key takes all the weight
    g = rng.standard_normal((3, 2, 20, 16))

    def run(dtype):
        ts = [ember.tensor(a.astype(dtype), requires_grad=True) for a in (q, k, v)]
        out = F.scaled_dot_product_attention(*ts)
        out.backward(ember.tensor(g.astype(dtype)))
        return [out.detach().numpy()] + [t.grad.numpy() for t in ts]
    got = run(np.float32)
    exact = run(np.float64)                     # float64 never takes the compiled path
    for what, a, e in zip(("out", "dq", "dk", "dv"), got, exact):
        assert_close(a, e, rtol=1e-4, atol=1e-4, what=what)


def test_which_attention_calls_are_fused(fused):
    f32 = lambda *s: np.zeros(s, np.float32)   # noqa: E731
    assert A._fused_kernels(f32(2, 4, 16), f32(2, 5, 16), f32(2, 5, 32)) is not None
    for q, k, v in [(f32(2, 4, 8), f32(2, 5, 8), f32(2, 5, 16)),       # head dim 8
                    (f32(2, 4, 16), f32(2, 5, 16), f32(2, 5, 8)),
                    (f32(1, 4, 16), f32(2, 5, 16), f32(2, 5, 16)),     # broadcast batch
                    (f32(4, 16), f32(5, 16), f32(5, 16)),              # 2-D
                    (f32(2, 0, 16), f32(2, 5, 16), f32(2, 5, 16)),
                    (np.zeros((2, 4, 16)), f32(2, 5, 16), f32(2, 5, 16))]:
        assert A._fused_kernels(q, k, v) is None
    rng = np.random.default_rng(2)
    q, k, v = (ember.tensor(rng.standard_normal((2, 3, 5, 16)).astype(np.float32))
               for _ in range(3))
    calls = []
    original = A.ScaledDotProductAttention._fused_forward

    def spy(self, *args):
        calls.append(1)
        return original(self, *args)
    A.ScaledDotProductAttention._fused_forward = spy
    try:
        F.scaled_dot_product_attention(q, k, v)
        assert calls == [1]
        F.scaled_dot_product_attention(q, k, v, is_causal=True)       # masks: NumPy path
        F.scaled_dot_product_attention(q, k, v, attn_mask=ember.ones(5, 5, dtype=ember.bool))
        assert calls == [1]
        F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
        assert calls == [1, 1]
    finally:
        A.ScaledDotProductAttention._fused_forward = original


def _mha_pair(embed, heads, batch_first, rng):
    import torch
    t = torch.nn.MultiheadAttention(embed, heads, batch_first=batch_first)
    e = ember.nn.MultiheadAttention(embed, heads, batch_first=batch_first)
    for name, p in t.named_parameters():
        value = rng.standard_normal(tuple(p.shape)).astype(np.float32) * 0.3
        with torch.no_grad():
            p.copy_(torch.from_numpy(value))
        dict(e.named_parameters())[name].data = ember.tensor(value)
    return t, e


@pytest.mark.parametrize("shape, batch_first", [((6, 3, 32), False), ((3, 6, 32), True),
                                                 ((7, 32), False)])
def test_packed_self_attention_matches_torch(fused, shape, batch_first):
    """nn.MultiheadAttention on one input, need_weights=False: the packed path (no split of
    the projection, the heads read in place), against torch's module, outputs and gradients
    of the input and every parameter."""
    import torch
    rng = np.random.default_rng(3)
    t_mha, e_mha = _mha_pair(32, 2, batch_first, rng)
    x = rng.standard_normal(shape).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    calls = []
    original = A.PackedSelfAttention.forward

    def spy(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)
    A.PackedSelfAttention.forward = spy
    try:
        xe = ember.tensor(x, requires_grad=True)
        out = e_mha(xe, xe, xe, need_weights=False)[0]
    finally:
        A.PackedSelfAttention.forward = original
    assert calls == [1]
    out.backward(ember.tensor(g))
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    ref = t_mha(xt, xt, xt, need_weights=False)[0]
    ref.backward(torch.from_numpy(g))
    assert_close(out.detach().numpy(), ref.detach().numpy(), what="output")
    assert_close(xe.grad.numpy(), xt.grad.numpy(), what="input grad")
    for name, p in t_mha.named_parameters():
        assert_close(dict(e_mha.named_parameters())[name].grad.numpy(), p.grad.numpy(),
                     what=name)


def test_attention_pairs_on_threads_equal_one_thread(fused, monkeypatch):
    monkeypatch.setattr(A, "PARALLEL_MIN_MACS", 1)
    rng = np.random.default_rng(4)
    arrays = [rng.standard_normal((3, 2, 9, 16)).astype(np.float32) for _ in range(3)]
    g = rng.standard_normal((3, 2, 9, 16)).astype(np.float32)

    def run():
        ts = [ember.tensor(a, requires_grad=True) for a in arrays]
        out = F.scaled_dot_product_attention(*ts)
        out.backward(ember.tensor(g))
        return [out.detach().numpy()] + [t.grad.numpy() for t in ts]
    threads = _parallel.get_num_threads()
    try:
        _parallel.set_num_threads(1)
        one = run()
        _parallel.set_num_threads(2)
        assert len(A._pair_parts(6, 9, 9, 16, 16)) == 2
        two = run()
    finally:
        _parallel.set_num_threads(threads)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)


def _dropout_run(fn, dtype, seed=5):
    """``fn(*tensors)`` forward and backward on fixed data under a fixed dropout seed: the
    output and the gradients."""
    rng = np.random.default_rng(6)
    arrays = [rng.standard_normal((2, 3, 11, 16)) for _ in range(3)]
    g = rng.standard_normal((2, 3, 11, 16))
    ts = [ember.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    ember.manual_seed(seed)
    out = fn(*ts)
    out.backward(ember.tensor(g.astype(dtype)))
    return [out.detach().numpy()] + [t.grad.numpy() for t in ts]


@pytest.mark.parametrize("p", [0.3, 1.0])
def test_fused_attention_dropout_equals_the_numpy_path(fused, p):
    """The same seed draws the same keep-mask on both paths (float64 takes the NumPy one)."""
    def fn(q, k, v):
        return F.scaled_dot_product_attention(q, k, v, dropout_p=p)
    got, exact = _dropout_run(fn, np.float32), _dropout_run(fn, np.float64)
    assert np.any(got[0] != 0) == (p < 1)          # p = 1 drops every weight
    for what, a, e in zip(("out", "dq", "dk", "dv"), got, exact):
        assert_close(a, e, rtol=1e-4, atol=1e-4, what=what)


def test_packed_self_attention_dropout_equals_the_numpy_path(fused, monkeypatch):
    """MultiheadAttention in training with dropout: the packed path draws the mask of the
    (sample, head) pairs in the order the NumPy path does; with the same seed both agree."""
    rng = np.random.default_rng(7)
    _, mha = _mha_pair(32, 2, True, rng)
    mha.dropout = 0.25
    mha.train()
    x = rng.standard_normal((3, 9, 32)).astype(np.float32)
    g = rng.standard_normal((3, 9, 32)).astype(np.float32)

    def run(policy):
        monkeypatch.setattr(A, "POLICY", policy)
        xe = ember.tensor(x, requires_grad=True)
        for p in mha.parameters():
            p.grad = None
        ember.manual_seed(11)
        out = mha(xe, xe, xe, need_weights=False)[0]
        out.backward(ember.tensor(g))
        return [out.detach().numpy(), xe.grad.numpy()] + [p.grad.numpy() for p in
                                                          mha.parameters()]
    fused_run, numpy_run = run("always"), run("never")
    for i, (a, e) in enumerate(zip(fused_run, numpy_run)):
        assert_close(a, e, what=f"result {i}")
