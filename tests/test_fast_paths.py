"""The speed paths chosen by measurement (benchmarks/) against torch: a convolution's batch
cut into chunks, a leaf keeping its gradient without a copy, and the cross-entropy that
normalizes the softmax inside its backward."""
import numpy as np
import pytest

import ember
from ember.ops import _im2col as ic
from tests.harness import check_parity, gradcheck64


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of a few samples even at test sizes (and thin-GEMM chunking for any width)."""
    monkeypatch.setattr(ic, "CHUNK_BYTES", 2048)
    monkeypatch.setattr(ic, "CHUNK_MIN_COLUMNS", 1)
    monkeypatch.setattr(ic, "THIN_GEMM_CHANNELS", 64)


CONV_CASES = [  # (input shape, weight shape, keyword arguments)
    ((7, 3, 9, 8), (4, 3, 3, 3), dict(padding=1)),
    ((5, 4, 10, 9), (6, 2, 3, 2), dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2)),
    ((6, 2, 11), (3, 2, 4), dict(stride=3, padding=2)),
    ((4, 2, 5, 6, 5), (3, 2, 2, 3, 2), dict(padding=1)),
    ((3, 8, 8), (5, 3, 3, 3), dict(padding="same")),          # unbatched: one chunk
]


@pytest.mark.parametrize("x_shape, w_shape, kw", CONV_CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_conv_in_batch_chunks_matches_torch(small_chunks, x_shape, w_shape, kw, bias):
    nd = len(w_shape) - 2
    if len(x_shape) == nd + 2:
        chunks = ic.batch_chunks(x_shape[0], int(np.prod(w_shape[1:])), 30, w_shape[0], 4)
        assert len(chunks) > 1
    conv = {1: "conv1d", 2: "conv2d", 3: "conv3d"}[nd]
    arrays = [np.random.randn(*x_shape).astype(np.float32),
              np.random.randn(*w_shape).astype(np.float32)]
    if bias:
        arrays.append(np.random.randn(w_shape[0]).astype(np.float32))
    check_parity(lambda m, *t: getattr(m.nn.functional, conv)(*t, **kw), arrays)


def test_conv_in_batch_chunks_gradcheck(small_chunks):
    assert gradcheck64(lambda x, w, b: ember.nn.functional.conv2d(x, w, b, stride=2, padding=1),
                [np.random.randn(5, 2, 6, 5), np.random.randn(3, 2, 3, 3), np.random.randn(3)])


def test_chunked_conv_detects_an_in_place_edit_of_its_input(small_chunks):
    x = ember.randn(2, 3, 6, 6, requires_grad=True)
    w = ember.randn(4, 3, 3, 3, requires_grad=True)
    y = ember.nn.functional.conv2d(x * 1, w)
    y.sum().backward()
    expected = w.grad.numpy().copy()
    w.grad = None
    z = x * 1
    y = ember.nn.functional.conv2d(z, w)
    with ember.no_grad():
        z.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()
    y = ember.nn.functional.conv2d(x * 1, w)
    y.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), expected, rtol=1e-6)


def test_batch_chunks_cover_the_batch_once():
    for n in (1, 2, 7, 64, 257):
        chunks = ic.batch_chunks(n, 25, 784, 6, 4)
        covered = np.concatenate([np.arange(n)[c] for c in chunks])
        np.testing.assert_array_equal(covered, np.arange(n))
    assert ic.batch_chunks(256, 25, 784, 6, 4)[0] != slice(0, 256)     # thin: chunked
    wide = ic.batch_chunks(256, 576, 1024, 64, 4)                       # wide: bounded columns
    assert all(len(range(256)[c]) * 576 * 1024 * 4 <= ic.WIDE_CHUNK_BYTES for c in wide)


def test_leaf_keeps_a_fresh_gradient_and_copies_a_shared_one():
    lin = ember.nn.Linear(5, 3)
    lin(ember.randn(4, 5)).sum().backward()
    assert lin.weight.grad._data.base is None          # the GEMM result, kept as is
    a = ember.randn(3, requires_grad=True)
    b = ember.randn(3, requires_grad=True)
    (a + b).sum().backward()                            # one array sent to both leaves
    assert not np.shares_memory(a.grad._data, b.grad._data)
    a.grad.mul_(3.0)
    np.testing.assert_array_equal(b.grad.numpy(), np.ones(3, np.float32))
    g = ember.ones(3)
    c = ember.randn(3, requires_grad=True)
    c.clone().backward(g)                               # the user's gradient argument
    assert not np.shares_memory(c.grad._data, g._data)
    c.grad.add_(1.0)
    np.testing.assert_array_equal(g.numpy(), np.ones(3, np.float32))


def test_leaf_gradient_with_a_hook_is_copied():
    x = ember.randn(3, requires_grad=True)
    seen = []
    x.register_hook(lambda grad: seen.append(grad))
    (x * 2).sum().backward()
    assert not np.shares_memory(x.grad._data, seen[0]._data)


@pytest.mark.parametrize("kw", [dict(), dict(label_smoothing=0.1, ignore_index=2),
                                dict(weight=True, reduction="sum"), dict(reduction="none")])
def test_cross_entropy_2d_matches_torch(kw):
    kw = dict(kw)
    arrays = [np.random.randn(9, 7).astype(np.float32) * 4]
    target = np.random.randint(0, 7, size=9)

    def fn(m, x, *w):
        t = m.from_numpy(target.copy())
        if kw.get("weight"):
            return m.nn.functional.cross_entropy(x, t, weight=w[0],
                                                 **{k: v for k, v in kw.items() if k != "weight"})
        return m.nn.functional.cross_entropy(x, t, **kw)
    if kw.get("weight"):   # torch has no gradient for the class weights of an index target
        arrays.append(np.random.rand(7).astype(np.float32) + 0.5)
    check_parity(fn, arrays, requires_grad=[True, False][:len(arrays)])


def test_cross_entropy_probability_target_matches_torch():
    arrays = [np.random.randn(6, 5, 3).astype(np.float32),
              np.random.dirichlet(np.ones(5), size=(6, 3)).transpose(0, 2, 1).astype(np.float32)]
    check_parity(lambda m, x, t: m.nn.functional.cross_entropy(x, t, label_smoothing=0.2),
                 arrays)


@pytest.mark.parametrize("x_shape, w_shape, kw", [
    ((5, 6, 14, 14), (16, 6, 5, 5), {}),                              # LeNet-5's second conv
    ((3, 4, 7, 6), (6, 2, 3, 3), dict(padding=1, dilation=(2, 1), groups=2)),
    ((4, 3, 6, 9), (5, 3, 2, 4), dict(padding=1)),
    ((2, 2, 4, 5, 4), (3, 2, 3, 2, 3), {}),
])
def test_small_image_convs_with_the_sample_index_last_match_torch(x_shape, w_shape, kw):
    nd = len(w_shape) - 2
    pad = kw.get("padding", 0)
    dil = kw.get("dilation", 1)
    dil = (dil,) * nd if isinstance(dil, int) else dil
    padded = tuple(s + 2 * pad for s in x_shape[2:])
    out = tuple(p - d * (k - 1) for p, d, k in zip(padded, dil, w_shape[2:]))
    assert ic.batch_last_layout((1,) * nd, out, padded)
    conv = {1: "conv1d", 2: "conv2d", 3: "conv3d"}[nd]
    arrays = [np.random.randn(*x_shape), np.random.randn(*w_shape), np.random.randn(w_shape[0])]
    check_parity(lambda m, *t: getattr(m.nn.functional, conv)(*t, **kw), arrays, dtype=np.float32)
    assert gradcheck64(lambda *t: getattr(ember.nn.functional, conv)(*t, **kw),
                       [a[:2] if i == 0 else a for i, a in enumerate(arrays)])


@pytest.mark.parametrize("w_shape", [(6, 3, 3, 3), (128, 128, 3, 3)])
def test_conv_weight_gradient_is_contiguous_in_either_gemm_orientation(w_shape, monkeypatch):
    """Small weights take ``(cols · dYᵀ)ᵀ`` and a copy, large ones ``dY · colsᵀ``
    (``WEIGHT_GRAD_DIRECT_ELEMENTS``): both give the same contiguous dW."""
    assert (np.prod(w_shape) >= ic.WEIGHT_GRAD_DIRECT_ELEMENTS) == (w_shape[0] == 128)
    x = np.random.randn(2, w_shape[1], 5, 5)
    w = np.random.randn(*w_shape)
    grads = []
    for threshold in (1, 2 ** 40):
        monkeypatch.setattr(ic, "WEIGHT_GRAD_DIRECT_ELEMENTS", threshold)
        wt = ember.tensor(w, requires_grad=True)
        ember.nn.functional.conv2d(ember.tensor(x), wt, padding=1).sum().backward()
        assert wt.grad._data.flags.c_contiguous
        grads.append(wt.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-12, atol=1e-12)
