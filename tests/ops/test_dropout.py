"""Dropout family: statistics of the masks (fraction dropped, mean preserved, whole channels),
gradient = mask * scale, identity in evaluation, p edge cases, in-place, errors, and the
statistics of torch's own masks as reference."""
import math

import numpy as np
import pytest

import ember
from ember.ops import dropout as D
from tests.harness import gradcheck64


def _with_grad(shape, dtype=np.float32):
    return ember.tensor(np.random.rand(*shape).astype(dtype) + 0.5, requires_grad=True)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_statistics_and_gradient(p, dtype):
    # inventory A28
    x = _with_grad((200, 300), dtype)
    y = D.dropout(x, p)
    xv, yv = x.detach().numpy(), y.detach().numpy()
    dropped = yv == 0
    assert abs(dropped.mean() - p) < 0.01
    np.testing.assert_allclose(yv[~dropped], xv[~dropped] / (1 - p), rtol=1e-6)
    assert abs(yv.mean() / xv.mean() - 1) < 0.02            # inverted scaling keeps the mean
    assert y.dtype == x.dtype
    g = np.random.randn(200, 300).astype(dtype)
    y.backward(ember.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), np.where(dropped, 0, g / (1 - p)), rtol=1e-6)


def test_dropout_matches_torch_statistics():
    import torch
    p = 0.3
    t = torch.nn.functional.dropout(torch.ones(400, 400), p).numpy()
    e = D.dropout(ember.ones(400, 400), p).numpy()
    assert set(np.unique(e).round(5)) == set(np.unique(t).round(5))
    assert abs((e == 0).mean() - (t == 0).mean()) < 0.01


def test_dropout_eval_identity_and_p_edges():
    x = _with_grad((4, 5))
    assert D.dropout(x, 0.5, training=False) is x
    assert D.dropout(x, 0.0) is x
    z3, z4 = ember.randn(2, 3, 4), ember.randn(2, 3, 4, 5)
    for fn, t in ((D.dropout1d, z3), (D.dropout2d, z4), (D.dropout3d, z4), (D.alpha_dropout, z4),
                  (D.feature_alpha_dropout, z4)):
        assert fn(t, 0.5, training=False) is t
    y = D.dropout(x, 1.0)
    np.testing.assert_array_equal(y.detach().numpy(), 0)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 0)
    x2 = _with_grad((2, 3, 4))
    y2 = D.alpha_dropout(x2, 1.0, training=True)
    np.testing.assert_array_equal(y2.detach().numpy(), 0)


@pytest.mark.parametrize("fn", [D.dropout, D.dropout1d, D.dropout2d, D.dropout3d,
                                D.alpha_dropout, D.feature_alpha_dropout])
def test_invalid_p_is_an_error(fn):
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError, match=f"dropout probability has to be between 0 and 1, "
                                             f"but got {p}"):
            fn(ember.randn(2, 3, 4, 4, 4), p)


def test_dropout_reproducible_under_manual_seed():
    ember.manual_seed(11)
    a = D.dropout(ember.ones(50, 50)).numpy()
    ember.manual_seed(11)
    b = D.dropout(ember.ones(50, 50)).numpy()
    c = D.dropout(ember.ones(50, 50)).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(b, c)


@pytest.mark.filterwarnings("ignore:dropout2d. Received a 3D input")
@pytest.mark.parametrize("fn,shape,channel_axes", [
    (D.dropout1d, (40, 30, 7), (0, 1)), (D.dropout1d, (300, 7), (0,)),
    (D.dropout2d, (40, 30, 5, 6), (0, 1)), (D.dropout2d, (40, 30, 7), (0, 1)),
    (D.dropout3d, (20, 30, 3, 4, 2), (0, 1)), (D.dropout3d, (300, 3, 4, 2), (0,)),
])
def test_channel_dropout_drops_whole_channels(fn, shape, channel_axes):
    p = 0.4
    x = _with_grad(shape)
    y = fn(x, p)
    yv, xv = y.detach().numpy(), x.detach().numpy()
    spatial = tuple(a for a in range(len(shape)) if a not in channel_axes)
    dropped = (yv == 0).all(axis=spatial)
    kept = (yv != 0).all(axis=spatial)
    assert np.all(dropped | kept)                           # a channel is all-or-nothing
    assert abs(dropped.mean() - p) < 0.05
    mask = np.expand_dims(kept, spatial).astype(np.float32)
    np.testing.assert_allclose(yv, xv * mask / (1 - p), rtol=1e-6)
    g = np.random.randn(*shape).astype(np.float32)
    y.backward(ember.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), g * mask / (1 - p), rtol=1e-6)


def test_channel_dropout_dims_and_warnings():
    with pytest.raises(RuntimeError, match="dropout1d: Expected 2D or 3D input, but received a 4D"):
        D.dropout1d(ember.randn(2, 3, 4, 5))
    with pytest.warns(UserWarning, match="Received a 3D input to dropout2d"):
        D.dropout2d(ember.randn(2, 3, 4))
    with pytest.warns(UserWarning, match="Received a 2-D input to dropout2d"):
        y = D.dropout2d(ember.ones(100, 50), 0.5).numpy()
    assert 0.4 < (y == 0).mean() < 0.6                       # element-wise on (N, C)
    with pytest.warns(UserWarning, match="Received a 3-D input to dropout3d"):
        D.dropout3d(ember.randn(2, 3, 4))


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_alpha_dropout_values_moments_and_gradient(p):
    """Kept values are ``a x + a alpha' p``, dropped ones ``-a alpha' (1 - p)``; on a standard
    normal input the output keeps mean 0 and variance 1; compared with torch's affine map."""
    import torch
    n = 200000
    xv = np.random.randn(n).astype(np.float32)
    x = ember.tensor(xv, requires_grad=True)
    y = D.alpha_dropout(x, p, training=True)
    yv = y.detach().numpy()
    sat = 1.7580993408473766
    a = 1 / math.sqrt((sat ** 2 * p + 1) * (1 - p))
    drop_value = -a * sat * (1 - p)
    clear = ~np.isclose(a * xv + a * sat * p, drop_value, atol=1e-3)   # unambiguous elements
    dropped = np.isclose(yv, drop_value, rtol=1e-6) & clear
    kept = np.isclose(yv, a * xv + a * sat * p, rtol=1e-5, atol=1e-6) & clear
    assert np.all((dropped ^ kept)[clear])
    assert abs(dropped.mean() - p) < 0.01
    assert abs(yv.mean()) < 0.01 and abs(yv.var() - 1) < 0.02
    ty = torch.nn.functional.alpha_dropout(torch.zeros(10000), p, training=True).numpy()
    ey = D.alpha_dropout(ember.zeros(10000), p, training=True).numpy()
    np.testing.assert_allclose(np.unique(ey), np.unique(ty), rtol=1e-6)
    g = np.random.randn(n).astype(np.float32)
    y.backward(ember.tensor(g))
    np.testing.assert_allclose(x.grad.numpy()[clear], np.where(kept, a * g, 0)[clear], rtol=1e-5,
                               atol=1e-7)


def test_feature_alpha_dropout_whole_channels():
    p = 0.3
    x = ember.randn(60, 50, 4, 4)
    y = D.feature_alpha_dropout(x, p, training=True).numpy()
    sat = 1.7580993408473766
    a = 1 / math.sqrt((sat ** 2 * p + 1) * (1 - p))
    dropped = np.isclose(y, -a * sat * (1 - p), rtol=1e-6).all(axis=(2, 3))
    kept = np.isclose(y, a * x.numpy() + a * sat * p, rtol=1e-5, atol=1e-6).all(axis=(2, 3))
    assert np.all(dropped ^ kept)
    assert abs(dropped.mean() - p) < 0.03
    assert D.feature_alpha_dropout(x, p) is x                 # torch's default training=False
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        D.feature_alpha_dropout(ember.randn(5), 0.5, True)


@pytest.mark.parametrize("fn,shape", [(D.dropout, (6, 7)), (D.dropout2d, (2, 3, 4, 4)),
                                      (D.alpha_dropout, (6, 7)),
                                      (D.feature_alpha_dropout, (2, 3, 4))])
def test_dropout_gradcheck_with_fixed_mask(fn, shape):
    def f(t):
        ember.manual_seed(4)
        return fn(t, 0.4, True)
    assert gradcheck64(f, [np.random.randn(*shape)])


@pytest.mark.parametrize("fn", [D.dropout, D.dropout2d, D.alpha_dropout])
def test_inplace_dropout(fn):
    x = ember.randn(4, 6, 3, 3)
    ref = x.numpy().copy()
    ember.manual_seed(2)
    expected = fn(ember.tensor(ref), 0.5, True).numpy()
    ember.manual_seed(2)
    assert fn(x, 0.5, True, inplace=True) is x
    np.testing.assert_allclose(x.numpy(), expected)
    leaf = ember.tensor(ref, requires_grad=True)
    h = leaf * 2
    ember.manual_seed(2)
    fn(h, 0.5, True, inplace=True)
    ember.manual_seed(2)
    np.testing.assert_allclose(h.detach().numpy(), fn(ember.tensor(ref * 2), 0.5, True).numpy(),
                               rtol=1e-6)
    g = np.random.randn(*ref.shape).astype(np.float32)
    h.backward(ember.tensor(g))
    ember.manual_seed(2)
    probe = ember.tensor(ref * 2, requires_grad=True)
    fn(probe, 0.5, True).backward(ember.tensor(g))
    np.testing.assert_allclose(leaf.grad.numpy(), 2 * probe.grad.numpy(), rtol=1e-6)
    with pytest.raises(RuntimeError, match="leaf"):
        fn(leaf, 0.5, True, inplace=True)


def test_dropout_errors():
    with pytest.raises(RuntimeError, match="dropout: expected a floating-point tensor"):
        D.dropout(ember.tensor([1, 2, 3]))
    with pytest.raises(TypeError, match="must be Tensor"):
        D.dropout([1.0, 2.0])
