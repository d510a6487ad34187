"""Activations, softmax family, glu, prelu, rrelu, maxout: parity with torch (values and input
gradients, float32 and float64), float64 gradchecks, in-place semantics, errors and the
lectures' worked numbers."""
import math
import warnings

import numpy as np
import pytest

import ember
from ember.ops import activation as A
from tests.harness import assert_close, check_parity, gradcheck64


def F(m):
    """The functional namespace of a library: Ember's activation module or torch's F."""
    return A if m is ember else m.nn.functional


# values at and around the kinks of every piecewise activation (0, +-0.5, +-1, +-3, 6)
KINKS = np.array([-7.0, -3.0, -2.5, -1.0, -0.5, -0.2, 0.0, 0.2, 0.5, 1.0, 2.5, 3.0, 6.0, 7.5])

POINTWISE = {
    "relu": lambda m, x: F(m).relu(x),
    "relu6": lambda m, x: F(m).relu6(x),
    "leaky_relu": lambda m, x: F(m).leaky_relu(x),
    "leaky_relu_0.1": lambda m, x: F(m).leaky_relu(x, 0.1),
    "leaky_relu_steep": lambda m, x: F(m).leaky_relu(x, 1.5),
    "leaky_relu_negative": lambda m, x: F(m).leaky_relu(x, -0.3),
    "elu": lambda m, x: F(m).elu(x),
    "elu_alpha2": lambda m, x: F(m).elu(x, alpha=2.0),
    "selu": lambda m, x: F(m).selu(x),
    # torch's celu derivative rounds 1/alpha through float32 (``1.0 / alpha.toFloat()``), so
    # the float64 comparison uses an alpha that float32 represents exactly
    "celu": lambda m, x: F(m).celu(x, alpha=0.75),
    "gelu": lambda m, x: F(m).gelu(x),
    "gelu_tanh": lambda m, x: F(m).gelu(x, approximate="tanh"),
    "silu": lambda m, x: F(m).silu(x),
    "mish": lambda m, x: F(m).mish(x),
    "softplus": lambda m, x: F(m).softplus(x),
    "softplus_beta": lambda m, x: F(m).softplus(x, beta=2.0, threshold=5.0),
    "softsign": lambda m, x: F(m).softsign(x),
    "hardtanh": lambda m, x: F(m).hardtanh(x),
    "hardtanh_range": lambda m, x: F(m).hardtanh(x, min_val=-2.5, max_val=0.5),
    "hardsigmoid": lambda m, x: F(m).hardsigmoid(x),
    "hardswish": lambda m, x: F(m).hardswish(x),
    "sigmoid": lambda m, x: F(m).sigmoid(x),
    "tanh": lambda m, x: F(m).tanh(x),
    "logsigmoid": lambda m, x: F(m).logsigmoid(x),
    "tanhshrink": lambda m, x: F(m).tanhshrink(x),
    "softshrink": lambda m, x: F(m).softshrink(x),
    "softshrink_1": lambda m, x: F(m).softshrink(x, 1.0),
    "hardshrink": lambda m, x: F(m).hardshrink(x),
    "hardshrink_1": lambda m, x: F(m).hardshrink(x, lambd=1.0),
    "threshold": lambda m, x: F(m).threshold(x, 0.5, -3.0),
    "rrelu_eval": lambda m, x: F(m).rrelu(x, 0.1, 0.3, training=False),
}


@pytest.mark.parametrize("name", sorted(POINTWISE))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pointwise_parity_random_and_kinks(name, dtype):
    fn = POINTWISE[name]
    # torch's hardsigmoid backward multiplies by the float32 constant 1.0f / 6.0f, also for
    # float64 (relative error 3e-8); Ember uses the exact 1/6
    rtol = 1e-7 if name == "hardsigmoid" and dtype == np.float64 else None
    check_parity(fn, [np.random.randn(2, 3, 5) * 3], dtype=dtype, rtol=rtol)
    check_parity(fn, [KINKS], dtype=dtype, rtol=rtol)
    check_parity(fn, [np.array(-0.7)], dtype=dtype, rtol=rtol)         # 0-d tensors


@pytest.mark.parametrize("name", sorted(POINTWISE))
def test_pointwise_gradcheck(name):
    fn = POINTWISE[name]
    x = np.random.randn(3, 4) * 2
    assert gradcheck64(lambda t: fn(ember, t), [x])


@pytest.mark.parametrize("name", sorted(set(POINTWISE) - {"relu", "sigmoid", "tanh"}))
def test_each_activation_is_one_fused_node(name):
    """One graph node whose input edge is the leaf itself (not a chain of small ops)."""
    x = ember.randn(3, 4, requires_grad=True)
    y = POINTWISE[name](ember, x)
    assert [type(n).__name__ for n in y.grad_fn.next_functions] == ["AccumulateGrad"]
    for fn in (lambda t: A.softmax(t, 1), lambda t: A.log_softmax(t, 1), lambda t: A.glu(t, 1),
               lambda t: A.maxout(t, 2), lambda t: A.softmin(t, 0)):
        assert [type(n).__name__ for n in fn(x).grad_fn.next_functions] == ["AccumulateGrad"]


def test_extreme_values_stay_finite():
    big = np.array([-1000.0, -100.0, -30.0, 30.0, 100.0, 1000.0], dtype=np.float32)
    for name in ["softplus", "logsigmoid", "silu", "mish", "elu", "selu", "gelu", "sigmoid"]:
        check_parity(POINTWISE[name], [big])
    check_parity(lambda m, x: F(m).softmax(x, dim=0), [big])
    check_parity(lambda m, x: F(m).log_softmax(x, dim=0), [big])


@pytest.mark.parametrize("name", ["relu", "relu6", "leaky_relu", "elu", "selu", "celu", "silu",
                                  "mish", "hardtanh", "hardsigmoid", "hardswish", "threshold",
                                  "rrelu_eval"])
def test_inplace_modifies_input_and_backprops(name):
    """``inplace=True`` writes into the input's storage; gradients match torch's in-place op."""
    import torch
    calls = {
        "relu": lambda f, x: f.relu(x, inplace=True),
        "relu6": lambda f, x: f.relu6(x, inplace=True),
        "leaky_relu": lambda f, x: f.leaky_relu(x, 0.2, inplace=True),
        "elu": lambda f, x: f.elu(x, 1.5, inplace=True),
        "selu": lambda f, x: f.selu(x, inplace=True),
        "celu": lambda f, x: f.celu(x, 0.5, inplace=True),
        "silu": lambda f, x: f.silu(x, inplace=True),
        "mish": lambda f, x: f.mish(x, inplace=True),
        "hardtanh": lambda f, x: f.hardtanh(x, -0.5, 2.0, inplace=True),
        "hardsigmoid": lambda f, x: f.hardsigmoid(x, inplace=True),
        "hardswish": lambda f, x: f.hardswish(x, inplace=True),
        "threshold": lambda f, x: f.threshold(x, 0.1, 20.0, inplace=True),
        "rrelu_eval": lambda f, x: f.rrelu(x, 0.1, 0.3, False, inplace=True),
    }
    call = calls[name]
    a = (np.random.randn(4, 5) * 3).astype(np.float32)
    g = np.random.randn(4, 5).astype(np.float32)
    for m in (ember, torch):
        leaf = m.tensor(a, requires_grad=True)
        h = leaf * 1.0                      # a non-leaf, so in-place is allowed
        out = call(F(m), h)
        assert out is h
        (h * m.tensor(g)).sum().backward()
        if m is ember:
            e_val, e_grad = h.detach().numpy(), leaf.grad.numpy()
        else:
            t_val, t_grad = h.detach().numpy(), leaf.grad.numpy()
    assert_close(e_val, t_val)
    assert_close(e_grad, t_grad)


def test_inplace_without_grad_writes_storage_and_view():
    base = ember.tensor([[-1.0, 2.0], [3.0, -4.0]])
    row = base[1]
    A.leaky_relu(row, 0.5, inplace=True)
    np.testing.assert_allclose(base.numpy(), [[-1.0, 2.0], [3.0, -2.0]])
    v = base._version
    A.elu_(base)
    assert base._version > v
    np.testing.assert_allclose(base.numpy()[0, 0], math.expm1(-1.0), rtol=1e-6)


def test_inplace_on_leaf_requiring_grad_is_an_error():
    x = ember.randn(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        A.hardswish(x, inplace=True)
    with ember.no_grad():
        A.hardswish(x, inplace=True)   # allowed without recording


def test_underscore_variants_match_inplace_keyword():
    a = np.random.randn(6).astype(np.float32) * 3
    pairs = [(A.relu_, lambda t: A.relu(t)), (A.elu_, lambda t: A.elu(t)),
             (lambda t: A.leaky_relu_(t, 0.3), lambda t: A.leaky_relu(t, 0.3)),
             (lambda t: A.hardtanh_(t, -2.0, 2.0), lambda t: A.hardtanh(t, -2.0, 2.0)),
             (lambda t: A.threshold_(t, 1.0, 0.0), lambda t: A.threshold(t, 1.0, 0.0)),
             (A.selu_, A.selu), (lambda t: A.celu_(t, 2.0), lambda t: A.celu(t, 2.0)),
             (lambda t: A.rrelu_(t), lambda t: A.rrelu(t))]
    for inplace, outplace in pairs:
        t = ember.tensor(a)
        expected = outplace(ember.tensor(a)).numpy()
        assert inplace(t) is t
        np.testing.assert_allclose(t.numpy(), expected)


def test_float32_preserved_and_integer_inputs():
    x = ember.randn(4)
    for name, fn in POINTWISE.items():
        assert fn(ember, x).dtype == ember.float32, name
    with pytest.raises(RuntimeError, match="gelu: expected a floating-point tensor, got "
                                           "ember.int64"):
        A.gelu(ember.tensor([1, 2]))
    np.testing.assert_array_equal(A.relu6(ember.tensor([-2, 3, 9])).numpy(), [0, 3, 6])
    np.testing.assert_array_equal(A.relu(ember.tensor([-2, 3])).numpy(), [0, 3])


def test_argument_errors():
    x = ember.randn(2, 3)
    with pytest.raises(ValueError, match="approximate"):
        A.gelu(x, approximate="fast")
    with pytest.raises(ValueError, match="hardtanh: min_val"):
        A.hardtanh(x, 1.0, -1.0)
    with pytest.raises(ValueError, match="softshrink: lambd must be greater or equal to 0"):
        A.softshrink(x, -0.5)
    with pytest.raises(ValueError, match="celu: alpha"):
        A.celu(x, alpha=0.0)
    with pytest.raises(TypeError, match="must be Tensor"):
        A.silu([1.0, 2.0])


# --------------------------------------------------------------------------- lecture numbers
def test_lecture_leaky_relu_slope_and_elu():
    """Lectures 000/001/003 "Activation functions": Leaky ReLU max(0.1x, x); ELU a(e^x - 1)."""
    # inventory B1
    x = ember.tensor([-2.0, -0.5, 0.0, 3.0])
    np.testing.assert_allclose(A.leaky_relu(x, 0.1).numpy(), np.maximum(0.1 * x.numpy(), x.numpy()))
    np.testing.assert_allclose(A.elu(x).numpy(), [math.expm1(-2.0), math.expm1(-0.5), 0.0, 3.0],
                               rtol=1e-6)
    np.testing.assert_allclose(A.sigmoid(ember.tensor([0.0])).numpy(), [0.5])


def test_lecture_softmax_cross_entropy_numbers():
    """Lecture 001 score table (cat/car/frog columns): -log softmax of the true class is
    2.0404, 0.0791 and 6.1565 (inventory H16)."""
    # inventory B2, C1
    scores = ember.tensor([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])  # one image a row
    loss = -A.log_softmax(scores, dim=1).numpy()[[0, 1, 2], [0, 1, 2]]
    np.testing.assert_allclose(loss, [2.0404, 0.0791, 6.1565], atol=1e-4)
    np.testing.assert_allclose(A.softmax(scores, dim=1).numpy().sum(1), 1.0, rtol=1e-6)


def test_lecture_softmax_temperature():
    """Lecture 003 temperature sampling: exp(5)/exp(1) = 54.6; at t = 5 the ratio is 2.2."""
    # inventory B2, H17
    s = ember.tensor([5.0, 1.0])
    p = A.softmax(s, dim=0).numpy()
    np.testing.assert_allclose(p[0] / p[1], 54.598, rtol=1e-4)
    p = A.softmax(s / 5, dim=0).numpy()
    np.testing.assert_allclose(p[0] / p[1], 2.2255, rtol=1e-4)


def test_lecture_maxout_two_affine_pieces():
    """Lectures 000/001 "Maxout": max(w1.x + b1, w2.x + b2) = maxout(linear(x, [w1; w2], b), 2)."""
    # inventory B1
    x = np.random.randn(5, 4)
    w = np.random.randn(2, 4)
    b = np.random.randn(2)
    expected = np.maximum(x @ w[0] + b[0], x @ w[1] + b[1])
    aff = ember.tensor(x @ w.T + b)
    np.testing.assert_allclose(A.maxout(aff, 2, dim=-1).numpy()[:, 0], expected, rtol=1e-6)


# ---------------------------------------------------------------------------- softmax family
@pytest.mark.parametrize("fname", ["softmax", "log_softmax", "softmin"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,dim", [((7,), 0), ((3, 5), 1), ((3, 5), 0), ((2, 3, 4), -1),
                                       ((2, 4, 3, 3), 1), ((2, 3, 4), -3)])
def test_softmax_family_parity(fname, dtype, shape, dim):
    x = np.random.randn(*shape) * 4
    check_parity(lambda m, t: getattr(F(m), fname)(t, dim=dim), [x], dtype=dtype)


@pytest.mark.parametrize("fname", ["softmax", "log_softmax", "softmin"])
def test_softmax_family_gradcheck_and_dtype(fname):
    fn = getattr(A, fname)
    assert gradcheck64(lambda t: fn(t, dim=1), [np.random.randn(3, 4, 2)])
    check_parity(lambda m, t: getattr(F(m), fname)(t, 1, dtype=m.float64),
                 [np.random.randn(3, 4).astype(np.float32)])
    y = fn(ember.randn(2, 3, dtype=ember.float32), dim=-1)
    assert y.dtype == ember.float32


def test_softmax_implicit_dim_warns_like_torch():
    for shape in [(4,), (2, 3), (2, 3, 4), (2, 3, 4, 5)]:
        x = np.random.randn(*shape)
        for fname in ["softmax", "log_softmax", "softmin"]:
            with pytest.warns(UserWarning, match="Implicit dimension choice"):
                out = check_parity(lambda m, t: getattr(F(m), fname)(t), [x])
            assert out[0].shape == shape


def test_tensor_methods_route_to_the_fused_softmax():
    x = ember.randn(3, 4, requires_grad=True)
    np.testing.assert_allclose(x.softmax(1).detach().numpy(), A.softmax(x, 1).detach().numpy())
    np.testing.assert_allclose(x.log_softmax(0).detach().numpy(),
                               A.log_softmax(x, 0).detach().numpy())
    assert type(x.softmax(1).grad_fn).__name__ == "Softmax"


def test_softmax_scalar_and_errors():
    np.testing.assert_allclose(A.softmax(ember.tensor(3.0), dim=0).numpy(), 1.0)
    with pytest.raises(IndexError, match=r"softmax: dim 2 is out of range .*shape \(2, 3\)"):
        A.softmax(ember.randn(2, 3), dim=2)
    with pytest.raises(IndexError, match="log_softmax: dim -3"):
        A.log_softmax(ember.randn(2, 3), dim=-3)
    with pytest.raises(RuntimeError, match="softmax: expected a floating-point tensor"):
        A.softmax(ember.tensor([1, 2]), dim=0)
    np.testing.assert_allclose(A.softmax(ember.tensor([1, 2]), dim=0, dtype=ember.float32).numpy(),
                               [1 / (1 + math.e), math.e / (1 + math.e)], rtol=1e-6)


def test_softmax_detects_inplace_change_of_output():
    x = ember.randn(2, 3, requires_grad=True)
    y = A.softmax(x, dim=1)
    y.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


# --------------------------------------------------------------------------- gumbel_softmax
def test_gumbel_softmax_distribution_and_hard_one_hot():
    logits = np.log(np.array([0.1, 0.2, 0.7]))
    x = ember.tensor(np.tile(logits, (4000, 1)).astype(np.float32))
    soft = A.gumbel_softmax(x, tau=0.5)
    np.testing.assert_allclose(soft.numpy().sum(1), 1.0, rtol=1e-5)
    hard = A.gumbel_softmax(x, tau=0.5, hard=True).numpy()
    assert set(np.unique(hard)) == {0.0, 1.0}
    np.testing.assert_array_equal(hard.sum(1), 1.0)
    # argmax of logits + Gumbel noise is a sample of softmax(logits)
    np.testing.assert_allclose(hard.mean(0), [0.1, 0.2, 0.7], atol=0.03)
    assert soft.dtype == ember.float32


def test_gumbel_softmax_reproducible_and_gradients():
    x = np.random.randn(3, 5)
    ember.manual_seed(3)
    a = A.gumbel_softmax(ember.tensor(x), tau=2.0, dim=0).numpy()
    ember.manual_seed(3)
    b = A.gumbel_softmax(ember.tensor(x), tau=2.0, dim=0).numpy()
    np.testing.assert_array_equal(a, b)
    for hard in (False, True):
        def fn(t, hard=hard):
            ember.manual_seed(7)
            return A.gumbel_softmax(t, tau=0.7, hard=hard, dim=1)
        soft_fn = lambda t: fn(t, hard=False)  # noqa: E731
        assert gradcheck64(soft_fn, [x])
        # straight-through: the gradient of the hard sample is the soft sample's gradient
        g = np.random.randn(3, 5)
        t1, t2 = ember.tensor(x, requires_grad=True), ember.tensor(x, requires_grad=True)
        fn(t1).backward(ember.tensor(g))
        soft_fn(t2).backward(ember.tensor(g))
        np.testing.assert_allclose(t1.grad.numpy(), t2.grad.numpy(), rtol=1e-12)


def test_gumbel_softmax_eps_is_deprecated():
    with pytest.warns(UserWarning, match="deprecated"):
        A.gumbel_softmax(ember.randn(2, 3), eps=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        A.gumbel_softmax(ember.randn(2, 3))


# ---------------------------------------------------------------------- glu, prelu, maxout
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,dim", [((4, 6), -1), ((4, 6), 0), ((2, 4, 3), 1), ((8,), 0)])
def test_glu_parity(dtype, shape, dim):
    check_parity(lambda m, t: F(m).glu(t, dim), [np.random.randn(*shape) * 2], dtype=dtype)


def test_glu_gradcheck_and_errors():
    assert gradcheck64(lambda t: A.glu(t, 1), [np.random.randn(3, 4, 2)])
    with pytest.raises(RuntimeError, match=r"glu: halving dimension must be even, but dimension 1 "
                                           r"is size 3 \(shape \(2, 3\)\)"):
        A.glu(ember.randn(2, 3), dim=1)
    with pytest.raises(RuntimeError, match="scalars"):
        A.glu(ember.tensor(1.0))
    with pytest.raises(IndexError, match="glu: dim 2"):
        A.glu(ember.randn(2, 4), dim=2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xshape,wshape", [((4, 3), (3,)), ((2, 3, 5, 5), (3,)),
                                           ((2, 3, 5, 5), (1,)), ((2, 4, 7), (4,)), ((6,), (1,)),
                                           ((2, 3), ())])
def test_prelu_parity(dtype, xshape, wshape):
    x = np.random.randn(*xshape)
    w = np.asarray(np.random.rand(*wshape) * 0.5)
    check_parity(lambda m, a, b: F(m).prelu(a, b), [x, w], dtype=dtype)


def test_prelu_gradcheck_and_errors():
    assert gradcheck64(lambda a, b: A.prelu(a, b), [np.random.randn(2, 3, 4), np.random.rand(3)])
    assert gradcheck64(lambda a, b: A.prelu(a, b), [np.random.randn(2, 3, 4), np.random.rand(1)])
    with pytest.raises(RuntimeError, match=r"prelu: weight has 2 parameters \(shape \(2,\)\) but "
                                           r"the input has 3 channels \(shape \(4, 3\)\)"):
        A.prelu(ember.randn(4, 3), ember.rand(2))
    with pytest.raises(RuntimeError, match="prelu: weight has 1 parameters"):
        A.prelu(ember.randn(4, 3), ember.rand(1, 1))
    with pytest.raises(RuntimeError, match="zero-dim"):
        A.prelu(ember.tensor(1.0), ember.rand(1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,k,dim", [((2, 6, 3, 3), 2, 1), ((2, 6, 3, 3), 3, 1),
                                         ((5, 8), 4, -1), ((4, 3, 2), 4, 0)])
def test_maxout_parity_with_torch_grouped_max(dtype, shape, k, dim):
    def fn(m, t):
        if m is ember:
            return A.maxout(t, k, dim)
        d = dim % t.dim()
        grouped = t.unflatten(d, (t.shape[d] // k, k))
        return grouped.max(dim=d + 1).values
    check_parity(fn, [np.random.randn(*shape)], dtype=dtype)


def test_maxout_gradcheck_and_errors():
    assert gradcheck64(lambda t: A.maxout(t, 3, 1), [np.random.randn(2, 6, 2)])
    with pytest.raises(RuntimeError, match=r"maxout: size 6 of dim 1 is not divisible by "
                                           r"num_pieces=4 \(shape \(2, 6\)\)"):
        A.maxout(ember.randn(2, 6), 4)
    with pytest.raises(ValueError, match="num_pieces"):
        A.maxout(ember.randn(2, 6), 0)


# ------------------------------------------------------------------------------------ rrelu
def test_rrelu_training_random_slopes():
    x = ember.tensor(np.concatenate([-np.random.rand(20000) - 0.1, np.random.rand(100) + 0.1])
                     .astype(np.float32), requires_grad=True)
    y = A.rrelu(x, 0.1, 0.3, training=True)
    xv, yv = x.detach().numpy(), y.detach().numpy()
    slope = yv[:20000] / xv[:20000]
    assert slope.min() >= 0.1 - 1e-6 and slope.max() <= 0.3 + 1e-6
    assert abs(slope.mean() - 0.2) < 0.005 and slope.std() > 0.05   # U(0.1, 0.3): std 0.058
    np.testing.assert_array_equal(yv[20000:], xv[20000:])
    g = np.random.randn(20100).astype(np.float32)
    y.backward(ember.tensor(g))
    np.testing.assert_allclose(x.grad.numpy()[:20000], g[:20000] * slope, rtol=1e-5)
    np.testing.assert_array_equal(x.grad.numpy()[20000:], g[20000:])
    assert y.dtype == ember.float32


def test_rrelu_reproducible_eval_mean_slope_and_gradcheck():
    a = np.random.randn(50)
    ember.manual_seed(5)
    y1 = A.rrelu(ember.tensor(a), training=True).numpy()
    ember.manual_seed(5)
    y2 = A.rrelu(ember.tensor(a), training=True).numpy()
    np.testing.assert_array_equal(y1, y2)
    ev = A.rrelu(ember.tensor(a), 0.1, 0.3).numpy()
    np.testing.assert_allclose(ev, np.where(a > 0, a, 0.2 * a), rtol=1e-6)

    def fn(t):
        ember.manual_seed(1)
        return A.rrelu(t, training=True)
    assert gradcheck64(fn, [np.random.randn(4, 5)])


def test_gelu_float32_normal_cdf_is_accurate_in_both_tails():
    # float32 Φ comes from an erfc fit (ember/ops/activation.py); against float64 SciPy
    from scipy.special import ndtr
    x = np.linspace(-12, 12, 48001).astype(np.float32)
    y = A.gelu(ember.tensor(x)).numpy()
    exact = x.astype(np.float64) * ndtr(x.astype(np.float64))
    big = np.abs(exact) > 1e-5
    assert np.max(np.abs(y[big] - exact[big]) / np.abs(exact[big])) < 3e-6
    assert np.max(np.abs(y - exact)) < 1e-6
    assert A.gelu(ember.tensor(np.float32(0.5))).shape == ()
    assert np.isnan(A.gelu(ember.tensor([np.nan], dtype=ember.float32)).numpy()).all()
