"""Layers that cannot be compared draw-for-draw with torch (random in training mode), layers
torch does not have (Maxout, LocalContrastNorm), and the lectures' worked numbers at the
layer level."""
import math

import numpy as np
import pytest
import torch

import ember
import ember.nn as nn
import ember.nn.functional as F
from tests.harness import assert_close


# ------------------------------------------------------------------ dropout family, training
def _grad_of_sum(module, x):
    x = x.clone().requires_grad_(True) if x.is_leaf else x
    y = module(x)
    y.sum().backward()
    return y.detach().numpy(), x.grad.numpy()


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_dropout_training_statistics(p):
    # inventory A28
    d = nn.Dropout(p)
    x = ember.ones(400, 250)
    y, g = _grad_of_sum(d, x)
    kept = y != 0
    assert kept.mean() == pytest.approx(1 - p, abs=0.01)
    np.testing.assert_allclose(y[kept], 1 / (1 - p), rtol=1e-6)
    np.testing.assert_array_equal(g, y)  # d(sum)/dx = mask / (1 - p)
    assert nn.Dropout(1.0)(x).numpy().max() == 0


@pytest.mark.parametrize("cls,shape", [(nn.Dropout1d, (40, 30, 5)), (nn.Dropout2d, (40, 30, 3, 4)),
                                       (nn.Dropout3d, (20, 30, 2, 3, 2))])
def test_channel_dropout_zeros_whole_channels(cls, shape):
    d = cls(0.4)
    y, g = _grad_of_sum(d, ember.ones(*shape))
    per_channel = y.reshape(shape[0], shape[1], -1)
    assert np.all(per_channel.min(axis=2) == per_channel.max(axis=2))
    kept = per_channel[:, :, 0] != 0
    assert kept.mean() == pytest.approx(0.6, abs=0.04)
    np.testing.assert_allclose(per_channel[kept], 1 / 0.6, rtol=1e-6)
    np.testing.assert_array_equal(g, y)
    d.eval()
    np.testing.assert_array_equal(d(ember.ones(*shape)).numpy(), np.ones(shape))
    assert repr(d) == repr(getattr(torch.nn, cls.__name__)(0.4))


@pytest.mark.parametrize("cls,shape", [(nn.AlphaDropout, (300, 400)),
                                       (nn.FeatureAlphaDropout, (300, 400, 2))])
def test_alpha_dropout_keeps_mean_and_variance(cls, shape):
    x = ember.randn(*shape)
    y = cls(0.3)(x).numpy()
    assert y.mean() == pytest.approx(0.0, abs=0.02)
    assert y.std() == pytest.approx(1.0, abs=0.03)
    tx = torch.randn(*shape)
    ty = getattr(torch.nn, cls.__name__)(0.3)(tx).numpy()
    assert y.std() == pytest.approx(ty.std(), abs=0.03)
    if cls is nn.FeatureAlphaDropout:
        assert np.all(y[..., 0][y[..., 0] == y[..., 1]] == y[..., 1][y[..., 0] == y[..., 1]])


def test_rrelu_training_slopes():
    m = nn.RReLU(0.1, 0.3)
    x = -ember.rand(200, 100) - 0.5
    y, g = _grad_of_sum(m, x)
    slopes = y / x.numpy()
    assert slopes.min() >= 0.1 - 1e-6 and slopes.max() <= 0.3 + 1e-6
    assert slopes.mean() == pytest.approx(0.2, abs=0.005)
    np.testing.assert_allclose(g, slopes, rtol=1e-5)
    m.eval()
    np.testing.assert_allclose(m(x).numpy(), x.numpy() * 0.2, rtol=1e-6)
    assert repr(m) == repr(torch.nn.RReLU(0.1, 0.3))


# ------------------------------------------------------------------ Maxout (not in torch)
def test_maxout_is_the_lecture_formula():
    """Lectures 000/001 "Activation functions": Maxout = max(w1·x + b1, w2·x + b2)."""
    # inventory B1
    m = nn.Maxout(3, 1)
    w = m.linear.weight.detach().numpy()
    b = m.linear.bias.detach().numpy()
    x = ember.randn(5, 3)
    expected = np.maximum(x.numpy() @ w[0] + b[0], x.numpy() @ w[1] + b[1])[:, None]
    np.testing.assert_allclose(m(x).detach().numpy(), expected, rtol=1e-5, atol=1e-6)
    assert repr(m) == ("Maxout(\n  in_features=3, out_features=1, pieces=2\n"
                       "  (linear): Linear(in_features=3, out_features=2, bias=True)\n)")
    assert list(m.state_dict()) == ["linear.weight", "linear.bias"]


def test_maxout_matches_torch_composition():
    e = nn.Maxout(4, 3, pieces=3)
    t = torch.nn.Linear(4, 9)
    e.linear.load_state_dict({k: v.numpy() for k, v in t.state_dict().items()})
    x = np.random.randn(2, 5, 4).astype(np.float32)
    xe = ember.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    ye = e(xe)
    yt = t(xt).unflatten(-1, (3, 3)).amax(dim=-1)
    assert_close(ye.detach().numpy(), yt.detach().numpy())
    g = np.random.randn(*yt.shape).astype(np.float32)
    ye.backward(ember.tensor(g))
    yt.backward(torch.tensor(g))
    assert_close(xe.grad.numpy(), xt.grad.numpy())
    assert_close(e.linear.weight.grad.numpy(), t.weight.grad.numpy())
    with pytest.raises(ValueError, match="pieces"):
        nn.Maxout(2, 2, pieces=0)


# ------------------------------------------------------------------ LocalContrastNorm
@pytest.mark.parametrize("kwargs", [{}, {"size": 5, "sigma": 1.0, "across_channels": False},
                                    {"size": 3, "c": 0.5}])
def test_local_contrast_norm_module_calls_functional(kwargs):
    m = nn.LocalContrastNorm(**kwargs)
    x = ember.randn(2, 3, 9, 8, dtype=ember.float64, requires_grad=True)
    y = m(x)
    np.testing.assert_array_equal(y.detach().numpy(),
                                  F.local_contrast_norm(x, **kwargs).detach().numpy())
    assert ember.autograd.gradcheck(m, [x])
    assert list(m.parameters()) == [] and m.state_dict() == {}


def test_local_contrast_norm_properties():
    """Lecture 002 B29: a constant image has no contrast (maps to 0); the output is invariant
    to adding a constant and to scaling (with Jarrett's c = mean σ)."""
    # inventory B29
    m = nn.LocalContrastNorm(size=5)
    np.testing.assert_allclose(m(ember.full((1, 2, 7, 7), 3.0, dtype=ember.float64)).numpy(), 0,
                               atol=1e-9)
    x = ember.randn(1, 2, 10, 10, dtype=ember.float64)
    np.testing.assert_allclose(m(x + 5).numpy(), m(x).numpy(), atol=1e-9)
    np.testing.assert_allclose(m(x * 4).numpy(), m(x).numpy(), atol=1e-6)
    assert "LocalContrastNorm(5, sigma=None" in repr(m)
    with pytest.raises(ValueError, match="odd window size"):
        nn.LocalContrastNorm(size=4)


# ------------------------------------------------------------------ lecture worked numbers
def test_nearest_neighbour_unpool_x2_lecture_numbers():
    """Lecture 003 "Unpooling——反池化" (H19): [[8,6],[4,3]] -> each value as a 2x2 block."""
    # inventory B22, H19
    up = nn.Upsample(scale_factor=2, mode="nearest")
    out = up(ember.tensor([[[[8.0, 6.0], [4.0, 3.0]]]]))
    np.testing.assert_array_equal(out.numpy()[0, 0], [[8, 8, 6, 6], [8, 8, 6, 6],
                                                      [4, 4, 3, 3], [4, 4, 3, 3]])


def test_batchnorm_moving_average_lecture_form():
    """Lecture 003 "Batch normalization" (B27): at test time use moving averages
    mu_bar <- p mu_bar + (1 - p) mu_t. torch's (and Ember's) momentum is 1 - p; the variance
    average uses the unbiased batch variance. Then eval mode normalizes with the averages."""
    # inventory B27, A35, H30
    bn = nn.BatchNorm1d(2, momentum=0.25)  # p = 0.75
    batches = [np.array([[1.0, 2.0], [3.0, 6.0], [5.0, 4.0]]),
               np.array([[0.0, 1.0], [4.0, 1.0], [2.0, 7.0]])]
    mu_bar, var_bar = np.zeros(2), np.ones(2)
    for b in batches:
        bn(ember.tensor(b, dtype=ember.float32))
        mu_bar = 0.75 * mu_bar + 0.25 * b.mean(axis=0)
        var_bar = 0.75 * var_bar + 0.25 * b.var(axis=0, ddof=1)
    np.testing.assert_allclose(bn.running_mean.numpy(), mu_bar, rtol=1e-6)
    np.testing.assert_allclose(bn.running_var.numpy(), var_bar, rtol=1e-6)
    bn.eval()
    x = np.array([[2.0, 3.0]])
    np.testing.assert_allclose(bn(ember.tensor(x, dtype=ember.float32)).detach().numpy(),
                               (x - mu_bar) / np.sqrt(var_bar + 1e-5), rtol=1e-5)


def test_batchnorm_cumulative_average_with_momentum_none():
    bn = nn.BatchNorm1d(3, momentum=None)
    xs = [np.random.randn(4, 3).astype(np.float32) + i for i in range(3)]
    for x in xs:
        bn(ember.tensor(x))
    np.testing.assert_allclose(bn.running_mean.numpy(), np.mean([x.mean(0) for x in xs], 0),
                               rtol=1e-5, atol=1e-6)
    assert int(bn.num_batches_tracked) == 3


def test_lecture_leaky_relu_slope():
    """Lectures' Leaky ReLU is max(0.1x, x): nn.LeakyReLU(0.1)."""
    # inventory B1
    x = ember.tensor([-2.0, -0.5, 0.0, 3.0])
    np.testing.assert_allclose(nn.LeakyReLU(0.1)(x).numpy(), [-0.2, -0.05, 0.0, 3.0], rtol=1e-6)


def test_lecture_flatten_stretches_image():
    """Lecture 001: a 32x32x3 image "stretch to 3072 x 1"."""
    # inventory B30
    assert nn.Flatten()(ember.zeros(2, 3, 32, 32)).shape == (2, 3072)


def test_conv_output_size_formula():
    """Lectures 002/003 (B13): out = floor((in + 2p - k) / s) + 1; AlexNet conv1 on 227:
    (227 - 11) / 4 + 1 = 55."""
    # inventory B13, H11
    conv = nn.Conv2d(3, 96, 11, stride=4)
    assert conv(ember.zeros(1, 3, 227, 227)).shape == (1, 96, 55, 55)
    assert nn.MaxPool2d(3, 2)(ember.zeros(1, 1, 55, 55)).shape == (1, 1, 27, 27)
    lenet_conv1 = nn.Conv2d(1, 6, 5)(ember.zeros(1, 1, 32, 32))
    assert lenet_conv1.shape[-1] == math.floor((32 + 0 - 5) / 1) + 1 == 28


# ------------------------------------------------------------------ float64 gradcheck
GRADCHECK = [
    (lambda: nn.Linear(3, 2), (2, 3)),
    (lambda: nn.Bilinear(2, 3, 2), None),
    (lambda: nn.Conv2d(2, 2, 3, padding=1, padding_mode="reflect"), (1, 2, 4, 4)),
    (lambda: nn.ConvTranspose2d(2, 1, 3, stride=2), (1, 2, 3, 3)),
    (lambda: nn.BatchNorm2d(2), (3, 2, 2, 2)),
    (lambda: nn.GroupNorm(2, 4), (2, 4, 3)),
    (lambda: nn.LayerNorm(4), (3, 4)),
    (lambda: nn.Maxout(3, 2), (4, 3)),
    (lambda: nn.PReLU(2), (3, 2, 2)),
    (lambda: nn.AvgPool2d(2, 1), (1, 1, 3, 3)),
    (lambda: nn.Upsample(scale_factor=2, mode="bilinear"), (1, 1, 2, 3)),
    (lambda: nn.MultiheadAttention(4, 2), None),
]


@pytest.mark.parametrize("make,shape", GRADCHECK, ids=lambda v: "" if callable(v) else str(v))
def test_module_gradcheck_float64(make, shape):
    m = make().double()
    if isinstance(m, nn.Bilinear):
        xs = [ember.randn(2, 2, dtype=ember.float64, requires_grad=True),
              ember.randn(2, 3, dtype=ember.float64, requires_grad=True)]
        fn = m
    elif isinstance(m, nn.MultiheadAttention):
        xs = [ember.randn(3, 1, 4, dtype=ember.float64, requires_grad=True) for _ in range(3)]

        def fn(q, k, v):
            return m(q, k, v)[0]
    else:
        xs = [ember.randn(*shape, dtype=ember.float64, requires_grad=True)]
        fn = m
    assert ember.autograd.gradcheck(fn, xs)
    params = [ember.tensor(p.detach().numpy(), requires_grad=True) for p in m.parameters()]
    if params:
        assert ember.autograd.gradcheck(lambda *ps: _rebind(m, ps, fn, xs), params)


def _rebind(m, values, fn, xs):
    """Evaluate ``fn`` with the module's parameters replaced by ``values`` (differentiably)."""
    names = [n for n, _ in m.named_parameters()]
    saved = {}
    for name, v in zip(names, values):
        owner = m.get_submodule(name.rpartition(".")[0])
        attr = name.rpartition(".")[2]
        saved[(owner, attr)] = owner._parameters[attr]
        owner._parameters[attr] = v
    try:
        return fn(*[x.detach() for x in xs])
    finally:
        for (owner, attr), p in saved.items():
            owner._parameters[attr] = p
