"""nn.init and the layers' default initialization: gains, fans, and the distributions'
moments and bounds against torch's formulas (draws differ: Ember uses NumPy's generator)."""
import math

import numpy as np
import pytest
import torch

import ember
import ember.nn as nn
from ember.nn import init

GAINS = [("linear", None), ("conv2d", None), ("conv_transpose3d", None), ("sigmoid", None),
         ("tanh", None), ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2),
         ("leaky_relu", 3), ("selu", None)]


@pytest.mark.parametrize("nonlinearity,param", GAINS)
def test_calculate_gain_matches_torch(nonlinearity, param):
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(
        torch.nn.init.calculate_gain(nonlinearity, param), rel=1e-12)


def test_calculate_gain_errors():
    with pytest.raises(ValueError, match="unsupported nonlinearity"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="not a valid number"):
        init.calculate_gain("leaky_relu", "0.1")


@pytest.mark.parametrize("shape", [(7, 5), (8, 3, 5, 5), (4, 6, 3), (2, 3, 2, 3, 4)])
def test_fans_match_torch(shape):
    assert init._calculate_fan_in_and_fan_out(ember.empty(*shape)) == \
        torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(*shape))


def test_fan_needs_two_dims():
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(ember.empty(5))
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        init.kaiming_uniform_(ember.empty(3, 4), mode="fan_avg")


def _check_uniform(values, bound):
    v = np.asarray(values, dtype=np.float64).ravel()
    assert v.min() >= -bound and v.max() <= bound
    assert v.max() > 0.98 * bound and v.min() < -0.98 * bound
    assert abs(v.mean()) < 0.03 * bound
    assert v.std() == pytest.approx(bound / math.sqrt(3), rel=0.03)


def _check_normal(values, std, mean=0.0):
    v = np.asarray(values, dtype=np.float64).ravel()
    assert abs(v.mean() - mean) < 0.03 * std + 1e-12
    assert v.std() == pytest.approx(std, rel=0.03)


SHAPE = (64, 32, 3, 3)  # fan_in 288, fan_out 576
FAN_IN, FAN_OUT = 32 * 9, 64 * 9


@pytest.mark.parametrize("kwargs,bound", [
    ({}, math.sqrt(6 / (FAN_IN + FAN_OUT))),
    ({"gain": 2.0}, 2.0 * math.sqrt(6 / (FAN_IN + FAN_OUT))),
])
def test_xavier_uniform(kwargs, bound):
    _check_uniform(init.xavier_uniform_(ember.empty(*SHAPE), **kwargs).numpy(), bound)


def test_xavier_normal():
    _check_normal(init.xavier_normal_(ember.empty(*SHAPE), gain=0.5).numpy(),
                  0.5 * math.sqrt(2 / (FAN_IN + FAN_OUT)))


@pytest.mark.parametrize("kwargs,fan,gain", [
    ({}, FAN_IN, math.sqrt(2 / (1 + 0 ** 2))),
    ({"a": math.sqrt(5)}, FAN_IN, math.sqrt(2 / 6)),
    ({"mode": "fan_out", "nonlinearity": "relu"}, FAN_OUT, math.sqrt(2)),
    ({"a": 0.1, "nonlinearity": "leaky_relu"}, FAN_IN, math.sqrt(2 / 1.01)),
    ({"nonlinearity": "tanh"}, FAN_IN, 5 / 3),
])
def test_kaiming(kwargs, fan, gain):
    std = gain / math.sqrt(fan)
    _check_uniform(init.kaiming_uniform_(ember.empty(*SHAPE), **kwargs).numpy(),
                   math.sqrt(3) * std)
    _check_normal(init.kaiming_normal_(ember.empty(*SHAPE), **kwargs).numpy(), std)


def test_uniform_normal_constant():
    _check_uniform(init.uniform_(ember.empty(200, 300), -0.5, 0.5).numpy(), 0.5)
    _check_normal(init.normal_(ember.empty(200, 300), mean=2.0, std=3.0).numpy(), 3.0, 2.0)
    for fn, val in ((lambda t: init.constant_(t, 0.3), 0.3), (init.ones_, 1.0),
                    (init.zeros_, 0.0)):
        np.testing.assert_array_equal(fn(ember.empty(3, 4)).numpy(),
                                      np.full((3, 4), val, dtype=np.float32))


def test_trunc_normal_matches_torch_moments():
    e = init.trunc_normal_(ember.empty(400, 500), mean=0.5, std=2.0, a=-1.0, b=3.0).numpy()
    t = torch.nn.init.trunc_normal_(torch.empty(400, 500), mean=0.5, std=2.0, a=-1.0,
                                    b=3.0).numpy()
    assert e.min() >= -1.0 and e.max() <= 3.0
    assert e.mean() == pytest.approx(t.mean(), abs=0.01)
    assert e.std() == pytest.approx(t.std(), rel=0.01)
    with pytest.raises(ValueError, match="a < b"):
        init.trunc_normal_(ember.empty(2), a=1.0, b=0.0)


def test_eye_and_dirac_equal_torch():
    np.testing.assert_array_equal(init.eye_(ember.empty(3, 5)).numpy(),
                                  torch.nn.init.eye_(torch.empty(3, 5)).numpy())
    for shape, groups in [((4, 3, 3, 3), 1), ((6, 2, 3), 2), ((4, 4, 3, 2, 3), 2),
                          ((2, 5, 5, 5), 1)]:
        np.testing.assert_array_equal(
            init.dirac_(ember.empty(*shape), groups).numpy(),
            torch.nn.init.dirac_(torch.empty(*shape), groups).numpy(), err_msg=str(shape))
    with pytest.raises(ValueError):
        init.eye_(ember.empty(2, 2, 2))
    with pytest.raises(ValueError):
        init.dirac_(ember.empty(2, 2))


def test_dirac_conv_is_identity():
    w = init.dirac_(ember.empty(3, 3, 3, 3))
    x = ember.randn(2, 3, 5, 5)
    y = nn.functional.conv2d(x, w, padding=1)
    np.testing.assert_allclose(y.numpy(), x.numpy(), atol=1e-6)


@pytest.mark.parametrize("shape", [(5, 8), (8, 5), (6, 2, 2)])
def test_orthogonal(shape):
    w = init.orthogonal_(ember.empty(*shape), gain=2.0).numpy().reshape(shape[0], -1)
    small = min(w.shape)
    gram = w @ w.T if w.shape[0] == small else w.T @ w
    np.testing.assert_allclose(gram, 4.0 * np.eye(small), atol=1e-5)


def test_sparse():
    t = init.sparse_(ember.empty(50, 40), sparsity=0.3, std=0.5).numpy()
    zeros_per_col = (t == 0).sum(axis=0)
    assert np.all(zeros_per_col == math.ceil(0.3 * 50))
    nz = t[t != 0]
    assert nz.std() == pytest.approx(0.5, rel=0.06)
    with pytest.raises(ValueError):
        init.sparse_(ember.empty(2, 2, 2), 0.1)


def test_init_in_place_no_grad_keeps_dtype_and_generator():
    p = nn.Parameter(ember.zeros(30, 20, dtype=ember.float64))
    v0 = p._version
    out = init.kaiming_normal_(p)
    assert out is p and p.grad_fn is None and p.is_leaf and p.dtype == ember.float64
    assert p._version > v0
    g1, g2 = ember.Generator().manual_seed(7), ember.Generator().manual_seed(7)
    a = init.xavier_uniform_(ember.empty(4, 5), generator=g1).numpy()
    b = init.xavier_uniform_(ember.empty(4, 5), generator=g2).numpy()
    np.testing.assert_array_equal(a, b)
    c = init.xavier_uniform_(ember.empty(4, 5), generator=g2).numpy()
    assert not np.array_equal(b, c)
    with pytest.warns(UserWarning, match="no-op"):
        init.kaiming_uniform_(ember.empty(0, 3))


# ------------------------------------------------------------------ the lectures' presets
def test_lecture_xavier_is_the_slides_one_over_sqrt_n_rule():
    """Lecture 003 "从头训练CNN": "Xavier" = U(-1/sqrt(n), 1/sqrt(n)), n = fan_in. The slide's
    rule, not Glorot's (whose bound here would be sqrt(6/(400+100)) = 0.1095)."""
    # inventory A22, H30
    w = init.lecture_xavier_(ember.empty(100, 400)).numpy()
    _check_uniform(w, 1 / math.sqrt(400))
    assert np.abs(w).max() < 0.06


def test_lecture_kaiming():
    """Lecture 003: "Kaiming" = N(0, sqrt(2/n)), the second argument being the std."""
    # inventory A22, H30
    _check_normal(init.lecture_kaiming_(ember.empty(*SHAPE)).numpy(), math.sqrt(2 / FAN_IN))


def test_lecture_alexnet_preset():
    """Lecture 003: AlexNet weights ~ N(0, 0.01), bias = 1 -- for every conv and linear."""
    # inventory A22, H30
    model = nn.Sequential(nn.Conv2d(3, 64, 5), nn.BatchNorm2d(64), nn.ReLU(), nn.Flatten(),
                          nn.Linear(400, 300))
    assert init.lecture_alexnet_(model) is model
    _check_normal(model[0].weight.detach().numpy(), 0.01)
    _check_normal(model[4].weight.detach().numpy(), 0.01)
    assert np.all(model[0].bias.detach().numpy() == 1)
    assert np.all(model[4].bias.detach().numpy() == 1)
    assert np.all(model[1].weight.detach().numpy() == 1)
    assert np.all(model[1].bias.detach().numpy() == 0)


# ------------------------------------------------------------------ default initialization
def _moments(t):
    a = t.detach().numpy().astype(np.float64).ravel()
    return a.mean(), a.std(), a.min(), a.max()


DEFAULTS = [
    ("Linear", lambda L: L.nn.Linear(300, 200)),
    ("Conv2d", lambda L: L.nn.Conv2d(16, 32, 5)),
    ("Conv2d-groups", lambda L: L.nn.Conv2d(16, 32, 3, groups=4)),
    ("Conv1d", lambda L: L.nn.Conv1d(8, 64, 7)),
    ("ConvTranspose2d", lambda L: L.nn.ConvTranspose2d(32, 16, 4)),
    ("Bilinear", lambda L: L.nn.Bilinear(30, 20, 50)),
    ("Embedding", lambda L: L.nn.Embedding(300, 64)),
    ("MultiheadAttention", lambda L: L.nn.MultiheadAttention(64, 4, add_bias_kv=True)),
]


GAUSSIAN = {("Embedding", "weight"), ("MultiheadAttention", "bias_k"),
            ("MultiheadAttention", "bias_v")}


@pytest.mark.parametrize("name,make", DEFAULTS, ids=[d[0] for d in DEFAULTS])
def test_default_init_moments_match_torch(name, make):
    torch.manual_seed(0)
    em, tm = make(ember), make(torch)
    tp = dict(tm.named_parameters())
    for pname, p in em.named_parameters():
        e_mean, e_std, e_min, e_max = _moments(p)
        t_mean, t_std, t_min, t_max = _moments(tp[pname])
        n = p.numel()
        if t_std == 0:
            assert e_std == 0 and e_mean == t_mean, pname
            continue
        rel = 4 / math.sqrt(n) + 0.02
        assert e_std == pytest.approx(t_std, rel=rel), pname
        assert abs(e_mean - t_mean) < 5 * t_std / math.sqrt(n), pname
        if (name, pname) not in GAUSSIAN and n >= 1000:  # uniform: same support
            assert max(abs(e_min), abs(e_max)) <= max(abs(t_min), abs(t_max)) * 1.05 + 1e-6, \
                pname


def test_default_init_formulas():
    lin = nn.Linear(400, 120)
    _check_uniform(lin.weight.detach().numpy(), 1 / math.sqrt(400))
    conv = nn.Conv2d(6, 64, 5)
    _check_uniform(conv.weight.detach().numpy(), 1 / math.sqrt(6 * 25))
    assert np.abs(conv.bias.detach().numpy()).max() <= 1 / math.sqrt(150)
    _check_normal(nn.Embedding(200, 100).weight.detach().numpy(), 1.0)
    bn = nn.BatchNorm2d(5)
    for name, value in (("weight", 1), ("bias", 0), ("running_mean", 0), ("running_var", 1)):
        assert np.all(getattr(bn, name).detach().numpy() == value), name
    assert bn.num_batches_tracked.dtype == ember.int64 and int(bn.num_batches_tracked) == 0
    ln, gn = nn.LayerNorm((3, 4)), nn.GroupNorm(2, 6)
    assert np.all(ln.weight.detach().numpy() == 1) and np.all(gn.bias.detach().numpy() == 0)
    assert np.all(nn.PReLU(3, init=0.1).weight.detach().numpy() == np.float32(0.1))
    mx = nn.Maxout(50, 10, pieces=3)
    assert mx.linear.weight.shape == (30, 50)
    _check_uniform(mx.linear.weight.detach().numpy(), 1 / math.sqrt(50))


def test_reset_parameters_redraws():
    lin = nn.Linear(20, 10)
    before = lin.weight.detach().numpy().copy()
    lin.reset_parameters()
    assert not np.array_equal(before, lin.weight.detach().numpy())
    bn = nn.BatchNorm1d(3)
    bn(ember.randn(5, 3) + 4)
    bn.reset_running_stats()
    assert np.all(bn.running_mean.numpy() == 0) and int(bn.num_batches_tracked) == 0
