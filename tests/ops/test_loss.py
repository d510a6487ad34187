"""Loss functions: parity with torch (values and the gradient of every differentiable input,
float32 and float64, every reduction and option), float64 gradchecks, the lectures' worked
softmax / SVM numbers, numerical stability, and error messages."""
import math
import warnings

import numpy as np
import pytest

import ember
from ember.ops import loss as L
from tests.harness import check_parity, gradcheck64

DTYPES = [np.float32, np.float64]
REDUCTIONS = ["mean", "sum", "none"]


def F(m):
    """The functional namespace of a library: Ember's loss module or torch's F."""
    return L if m is ember else m.nn.functional


def T(m, a, dtype=None):
    """A constant (non-differentiable) tensor of library ``m``."""
    a = np.array(a) if dtype is None else np.asarray(a, dtype=dtype)
    return m.from_numpy(a)


RNG = np.random.default_rng(0)


def _class_data(shape, c, ignore=True, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((shape[0], c) + tuple(shape[1:])) * 2
    y = rng.integers(0, c, shape)
    if ignore:
        y.flat[1] = -100
    return x, y


# ---------------------------------------------------------------- cross_entropy

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.15])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(6,), (2, 3, 4), (2, 2, 1, 3)])
def test_cross_entropy_class_targets(shape, weighted, smoothing, reduction, dtype):
    """(N, C) and per-pixel (N, C, d1, ...) logits, class weights, ignore_index (item 1 is
    ignored), label smoothing (also combined with weights), every reduction."""
    c = 5
    x, y = _class_data(shape, c)
    w = np.random.default_rng(2).random(c) + 0.2
    check_parity(lambda m, x: F(m).cross_entropy(
        x, T(m, y), weight=T(m, w, dtype) if weighted else None, reduction=reduction,
        label_smoothing=smoothing), [x], dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 2, 3)])
def test_cross_entropy_probability_targets(shape, smoothing, reduction, dtype):
    """Soft targets: gradients of the logits, of the target and of the class weights."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape)
    t = rng.random(shape)
    t /= t.sum(axis=1, keepdims=True)
    w = rng.random(shape[1]) + 0.3
    check_parity(lambda m, x, t, w: F(m).cross_entropy(x, t, weight=w, reduction=reduction,
                                                       label_smoothing=smoothing),
                 [x, t, w], dtype=dtype)
    check_parity(lambda m, x, t: F(m).cross_entropy(x, t, reduction=reduction,
                                                    label_smoothing=smoothing), [x, t], dtype=dtype)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_unbatched(reduction, smoothing):
    rng = np.random.default_rng(4)
    x = rng.standard_normal(5)
    check_parity(lambda m, x: F(m).cross_entropy(x, T(m, np.int64(3)), reduction=reduction,
                                                 label_smoothing=smoothing), [x])
    t = rng.random(5)
    check_parity(lambda m, x, t: F(m).cross_entropy(x, t / t.sum(), reduction=reduction,
                                                    label_smoothing=smoothing), [x, t])


def test_cross_entropy_zero_class_weight_with_smoothing():
    """An item whose class weight is 0 still pays the smoothing term (only ignore_index masks)."""
    x, y = _class_data((8,), 4, ignore=True, seed=29)
    y[:3] = 0
    w = np.array([0.0, 1.0, 2.0, 0.5])
    for reduction in REDUCTIONS:
        check_parity(lambda m, x: F(m).cross_entropy(x, T(m, y), weight=T(m, w), label_smoothing=0.3,
                                                     reduction=reduction), [x])


def test_cross_entropy_custom_ignore_index_and_all_ignored():
    x, y = _class_data((6,), 4, ignore=False)
    y[[0, 3]] = 2
    check_parity(lambda m, x: F(m).cross_entropy(x, T(m, y), ignore_index=2), [x])
    # every item ignored: the mean is 0/0 = NaN as in torch, and the gradient is all zeros
    yi = np.full(6, -100)
    out = check_parity(lambda m, x: F(m).cross_entropy(x, T(m, yi)), [x])
    assert np.isnan(out[0].item())


def test_cross_entropy_is_stable_for_huge_logits():
    x = np.array([[1000.0, -1000.0, 0.0], [-500.0, 800.0, 799.0], [88.0, 89.0, 90.0]])
    y = np.array([1, 2, 0])
    out = check_parity(lambda m, x: F(m).cross_entropy(x, T(m, y), reduction="none"), [x],
                       dtype=np.float32)
    assert np.all(np.isfinite(out[0].detach().numpy()))


@pytest.mark.parametrize("smoothing", [0.0, 0.3])
def test_cross_entropy_gradcheck(smoothing):
    x, y = _class_data((3, 2), 4, seed=5)
    w = ember.tensor(np.random.default_rng(6).random(4) + 0.5, dtype=ember.float64)
    yt = ember.tensor(y)
    gradcheck64(lambda x: L.cross_entropy(x, yt, weight=w, label_smoothing=smoothing), [x])
    gradcheck64(lambda x: L.cross_entropy(x, yt, reduction="none", label_smoothing=smoothing), [x])
    t = np.random.default_rng(7).random(x.shape)
    gradcheck64(lambda x, t, w: L.cross_entropy(x, t, weight=w, label_smoothing=smoothing),
                [x, t, np.random.default_rng(8).random(4)])


def test_cross_entropy_lecture_scores():
    """Lecture 001 "f(x, W) = Wx": scores for the cat / car / frog images (class rows × image
    columns: cat 3.2 1.3 2.2; car 5.1 4.9 2.5; frog −1.7 2.0 −3.1). Softmax cross-entropy
    (natural log) per image: 2.0404, 0.0791, 6.1565, mean 2.7587; 0.886 for the cat image
    with log10 (LECTURE_INVENTORY H16)."""
    # inventory C1
    scores = ember.tensor([[3.2, 1.3, 2.2], [5.1, 4.9, 2.5], [-1.7, 2.0, -3.1]]).T
    labels = ember.tensor([0, 1, 2])
    per_image = L.cross_entropy(scores, labels, reduction="none").numpy()
    np.testing.assert_allclose(per_image, [2.0404, 0.0791, 6.1565], atol=5e-5)
    assert abs(L.cross_entropy(scores, labels).item() - 2.7587) < 5e-5
    assert abs(per_image[0] / math.log(10) - 0.886) < 5e-4
    # the lecture's L_i = −f_{y_i} + log Σ_j e^{f_j}, and its gradient softmax − onehot
    s = scores.numpy().astype(np.float64)
    np.testing.assert_allclose(per_image, -s[[0, 1, 2], [0, 1, 2]] + np.log(np.exp(s).sum(1)),
                               rtol=1e-5)
    x = scores.detach().requires_grad_()
    L.cross_entropy(x, labels, reduction="sum").backward()
    softmax = np.exp(s) / np.exp(s).sum(1, keepdims=True)
    np.testing.assert_allclose(x.grad.numpy(), softmax - np.eye(3), rtol=1e-5, atol=1e-6)


def test_cross_entropy_errors():
    x = ember.randn(16, 10)
    with pytest.raises(ValueError, match=r"cross_entropy: expected target with 16 elements to "
                                         r"match the batch size of input \(shape \(16, 10\)\), "
                                         r"got shape \(8,\)"):
        L.cross_entropy(x, ember.zeros(8, dtype=ember.int64))
    with pytest.raises(IndexError, match=r"cross_entropy: target class 12 is out of range for 10 "
                                         r"classes"):
        L.cross_entropy(x, ember.full((16,), 12, dtype=ember.int64))
    with pytest.raises(IndexError, match="target class -3 is out of range"):
        L.cross_entropy(x, ember.full((16,), -3, dtype=ember.int64))
    with pytest.raises(ValueError, match=r"expected target of shape \(2, 4\) for input of shape "
                                         r"\(2, 3, 4\), got shape \(2, 5\)"):
        L.cross_entropy(ember.randn(2, 3, 4), ember.zeros(2, 5, dtype=ember.int64))
    with pytest.raises(ValueError, match=r"expected target of the same shape as input \(16, 10\)"):
        L.cross_entropy(x, ember.rand(16, 9))
    with pytest.raises(ValueError, match=r"expected weight of shape \(10,\)"):
        L.cross_entropy(x, ember.zeros(16, dtype=ember.int64), weight=ember.ones(9))
    with pytest.raises(ValueError, match="label_smoothing must be between 0.0 and 1.0"):
        L.cross_entropy(x, ember.zeros(16, dtype=ember.int64), label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"cross_entropy: reduction must be one of 'none', "
                                         r"'mean', 'sum', got 'avg'"):
        L.cross_entropy(x, ember.zeros(16, dtype=ember.int64), reduction="avg")


# ---------------------------------------------------------------- nll_loss

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(6,), (2, 3, 2)])
def test_nll_loss_parity(shape, weighted, reduction, dtype):
    x, y = _class_data(shape, 4, seed=9)
    w = np.random.default_rng(10).random(4) + 0.1
    check_parity(lambda m, x: F(m).nll_loss(x, T(m, y), weight=T(m, w, dtype) if weighted else None,
                                            reduction=reduction), [x], dtype=dtype)


def test_nll_loss_unbatched_gradcheck_and_errors():
    check_parity(lambda m, x: F(m).nll_loss(x, T(m, np.int64(2))), [RNG.standard_normal(4)])
    x, y = _class_data((3,), 4, seed=11)
    yt = ember.tensor(y)
    gradcheck64(lambda x: L.nll_loss(x, yt, weight=ember.tensor([1.0, 2.0, 0.5, 3.0],
                                                               dtype=ember.float64)), [x])
    with pytest.raises(IndexError, match="nll_loss: target class 4 is out of range for 4 classes"):
        L.nll_loss(ember.randn(2, 4), ember.tensor([0, 4]))
    with pytest.raises(TypeError, match="nll_loss: expected target of class indices"):
        L.nll_loss(ember.randn(2, 4), ember.tensor([0.0, 1.0]))


# ---------------------------------------------------------------- regression

REGRESSION = {
    "mse": lambda m, a, b, r: F(m).mse_loss(a, b, reduction=r),
    "l1": lambda m, a, b, r: F(m).l1_loss(a, b, reduction=r),
    "smooth_l1": lambda m, a, b, r: F(m).smooth_l1_loss(a, b, reduction=r),
    "smooth_l1_beta": lambda m, a, b, r: F(m).smooth_l1_loss(a, b, reduction=r, beta=0.4),
    "smooth_l1_beta0": lambda m, a, b, r: F(m).smooth_l1_loss(a, b, reduction=r, beta=0.0),
    "huber": lambda m, a, b, r: F(m).huber_loss(a, b, reduction=r),
    "huber_delta": lambda m, a, b, r: F(m).huber_loss(a, b, reduction=r, delta=0.3),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", sorted(REGRESSION))
def test_regression_losses(name, reduction, dtype):
    rng = np.random.default_rng(12)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    b[0, 0] = a[0, 0]          # a zero difference: the L1 kink (gradient 0 as in torch)
    check_parity(lambda m, a, b: REGRESSION[name](m, a, b, reduction), [a, b], dtype=dtype)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "huber_loss"])
def test_regression_weights(name, reduction):
    """Elementwise ``weight``: torch's 'mean' is Σw·l/Σw for mse/l1 and the plain mean for huber."""
    rng = np.random.default_rng(13)
    a, b, w = rng.standard_normal((3, 4)), rng.standard_normal((3, 4)), rng.random((3, 4))
    check_parity(lambda m, a, b: getattr(F(m), name)(a, b, reduction=reduction,
                                                     weight=T(m, w)), [a, b])
    with pytest.raises(ValueError, match=rf"{name}: expected weight of the input's shape"):
        getattr(L, name)(ember.tensor(a), ember.tensor(b), weight=ember.ones(4))


def test_regression_broadcast_and_gradcheck():
    rng = np.random.default_rng(14)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((1, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)   # torch warns about the broadcast
        check_parity(lambda m, a, b: F(m).mse_loss(a, b), [a, b])
    for name in REGRESSION:
        gradcheck64(lambda a, b: REGRESSION[name](ember, a, b, "sum"), [a, a[::-1] * 0.7])


# ---------------------------------------------------------------- binary

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_cross_entropy(weighted, reduction, dtype):
    rng = np.random.default_rng(15)
    p, t, w = rng.random((4, 3)) * 0.98 + 0.01, rng.random((4, 3)), rng.random(3) + 0.2
    check_parity(lambda m, p, t: F(m).binary_cross_entropy(
        p, t, weight=T(m, w, dtype) if weighted else None, reduction=reduction), [p, t],
        dtype=dtype)


def test_binary_cross_entropy_clamps_log_at_minus_100():
    """x = 0 and 1 give a finite loss (log clamped to −100) and torch's finite gradient."""
    p = np.array([0.0, 1.0, 0.0, 1.0, 0.5])
    t = np.array([1.0, 0.0, 0.0, 1.0, 1.0])
    # the gradient there is ±g/1e-12 ~ 1e11; torch's float EPSILON differs in the 9th digit
    out = check_parity(lambda m, p: F(m).binary_cross_entropy(p, T(m, t), reduction="none"), [p],
                       rtol=1e-8)
    np.testing.assert_allclose(out[0].detach().numpy(), [100, 100, 0, 0, math.log(2)], rtol=1e-12)
    gradcheck64(lambda p, t: L.binary_cross_entropy(p, t),
                [RNG.random((3, 2)) * 0.8 + 0.1, RNG.random((3, 2))])
    with pytest.raises(ValueError, match="binary_cross_entropy: all elements of input should be "
                                         "between 0 and 1"):
        L.binary_cross_entropy(ember.tensor([1.5]), ember.tensor([1.0]))
    with pytest.raises(ValueError, match=r"expected target of the same shape as input \(2,\)"):
        L.binary_cross_entropy(ember.tensor([0.5, 0.5]), ember.tensor([1.0]))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weights", ["none", "weight", "pos_weight", "both"])
def test_binary_cross_entropy_with_logits(weights, reduction, dtype):
    rng = np.random.default_rng(16)
    x, t = rng.standard_normal((4, 3)) * 4, rng.random((4, 3))
    w, pw = rng.random((4, 1)) + 0.2, rng.random(3) * 3 + 0.1
    check_parity(lambda m, x, t: F(m).binary_cross_entropy_with_logits(
        x, t, weight=T(m, w, dtype) if weights in ("weight", "both") else None,
        pos_weight=T(m, pw, dtype) if weights in ("pos_weight", "both") else None,
        reduction=reduction), [x, t], dtype=dtype)


def test_binary_cross_entropy_with_logits_stable_and_gradcheck():
    x = np.array([-200.0, -40.0, 0.0, 40.0, 200.0])
    t = np.array([1.0, 0.0, 0.5, 1.0, 0.0])
    out = check_parity(lambda m, x, t: F(m).binary_cross_entropy_with_logits(
        x, t, reduction="none"), [x, t], dtype=np.float32)
    np.testing.assert_allclose(out[0].detach().numpy(), [200, 0, math.log(2), 0, 200], rtol=1e-6,
                               atol=1e-6)
    pw = ember.tensor([2.0, 0.5, 1.5], dtype=ember.float64)
    gradcheck64(lambda x, t: L.binary_cross_entropy_with_logits(x, t, pos_weight=pw),
                [RNG.standard_normal((2, 3)), RNG.random((2, 3))])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_soft_margin_loss(reduction, dtype):
    rng = np.random.default_rng(17)
    x, y = rng.standard_normal((4, 3)), np.where(rng.random((4, 3)) > 0.5, 1.0, -1.0)
    x[0, 0] = 0.0
    check_parity(lambda m, x, y: F(m).soft_margin_loss(x, y, reduction=reduction), [x, y],
                 requires_grad=[True, False], dtype=dtype)
    gradcheck64(lambda x: L.soft_margin_loss(x, ember.tensor(y)), [x])


# ---------------------------------------------------------------- distributions

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS + ["batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(log_target, reduction, dtype):
    rng = np.random.default_rng(18)
    logq = np.log(rng.dirichlet(np.ones(4), size=3))
    p = rng.dirichlet(np.ones(4), size=3)
    target = np.log(p) if log_target else p
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)   # torch: 'mean' will change meaning
        check_parity(lambda m, q, t: F(m).kl_div(q, t, reduction=reduction, log_target=log_target),
                     [logq, target], dtype=dtype)


def test_kl_div_zero_target_and_batchmean_is_kl():
    rng = np.random.default_rng(19)
    logq = np.log(rng.dirichlet(np.ones(4), size=3))
    p = np.array([[0.5, 0.5, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25]])
    check_parity(lambda m, q: F(m).kl_div(q, T(m, p), reduction="sum"), [logq])
    kl = L.kl_div(ember.tensor(logq), ember.tensor(p), reduction="batchmean").item()
    with np.errstate(divide="ignore", invalid="ignore"):
        expect = np.nansum(np.where(p > 0, p * (np.log(p) - logq), 0)) / 3
    assert abs(kl - expect) < 1e-12


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("log_input", [True, False])
@pytest.mark.parametrize("full", [False, True])
def test_poisson_nll_loss(full, log_input, reduction):
    rng = np.random.default_rng(20)
    x = rng.random((3, 4)) * 2 + (0.0 if log_input else 0.1)
    t = np.floor(rng.random((3, 4)) * 5)
    # with full=True torch's target gradient is NaN where t <= 1 (0·log 0 inside its masked
    # Stirling term); Ember's is the gradient of the masked term, so only the input is compared
    check_parity(lambda m, x, t: F(m).poisson_nll_loss(x, t, log_input=log_input, full=full,
                                                       reduction=reduction), [x, t],
                 requires_grad=[True, not full])
    gradcheck64(lambda x, t: L.poisson_nll_loss(x, t, log_input=log_input, full=full),
                [x, t + 1.5])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("var_shape", [(3, 4), (3, 1), (3,)])
@pytest.mark.parametrize("full", [False, True])
def test_gaussian_nll_loss(full, var_shape, reduction):
    rng = np.random.default_rng(21)
    x, t, v = rng.standard_normal((3, 4)), rng.standard_normal((3, 4)), rng.random(var_shape) + 0.1
    check_parity(lambda m, x, t, v: F(m).gaussian_nll_loss(x, t, v, full=full, reduction=reduction),
                 [x, t, v])


def test_gaussian_nll_loss_clamp_and_float_var():
    rng = np.random.default_rng(22)
    x, t = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    v = np.array([[1e-9, 0.5, 2.0], [0.3, 1e-8, 1.0]])    # clamped to eps, gradient passes
    check_parity(lambda m, x, t, v: F(m).gaussian_nll_loss(x, t, v, eps=1e-3), [x, t, v])
    check_parity(lambda m, x, t: F(m).gaussian_nll_loss(x, t, 0.7), [x, t])
    with pytest.raises(ValueError, match="gaussian_nll_loss: var of shape"):
        L.gaussian_nll_loss(ember.randn(3, 4), ember.randn(3, 4), ember.ones(2, 4))
    with pytest.raises(ValueError, match="negative"):
        L.gaussian_nll_loss(ember.randn(3, 4), ember.randn(3, 4), -ember.ones(3, 4))


# ---------------------------------------------------------------- margins

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("p,margin,weighted", [(1, 1.0, False), (2, 0.6, False), (1, 2.0, True),
                                               (2, 1.0, True)])
def test_multi_margin_loss(p, margin, weighted, reduction, dtype):
    rng = np.random.default_rng(23)
    x, y, w = rng.standard_normal((5, 4)), rng.integers(0, 4, 5), rng.random(4) + 0.2
    check_parity(lambda m, x: F(m).multi_margin_loss(
        x, T(m, y), p=p, margin=margin, weight=T(m, w, dtype) if weighted else None,
        reduction=reduction), [x], dtype=dtype)
    check_parity(lambda m, x: F(m).multi_margin_loss(x[0], T(m, y[0]), p=p, reduction=reduction),
                 [x], dtype=dtype)


def test_multi_margin_loss_lecture_svm_scores_and_gradcheck():
    """Multiclass SVM loss (margin 1) on lecture 001's cat / car / frog scores: 2.9, 0, 12.9,
    mean 5.27 (LECTURE_INVENTORY H16). torch's multi_margin_loss divides each sample by the
    number of classes C = 3."""
    # inventory C3
    scores = ember.tensor([[3.2, 1.3, 2.2], [5.1, 4.9, 2.5], [-1.7, 2.0, -3.1]]).T
    labels = ember.tensor([0, 1, 2])
    per_image = L.multi_margin_loss(scores, labels, reduction="none").numpy() * 3
    np.testing.assert_allclose(per_image, [2.9, 0.0, 12.9], atol=1e-5)
    assert abs(L.multi_margin_loss(scores, labels).item() * 3 - 15.8 / 3) < 1e-5
    # lecture 003's max-margin pair max(0, (Wx)_2 − (Wx)_1): margin 0, two classes, C = 2
    pair = ember.tensor([[3.0, 5.0], [4.0, 1.0]])
    np.testing.assert_allclose(L.multi_margin_loss(pair, ember.tensor([0, 0]), margin=0.0,
                                                   reduction="none").numpy() * 2, [2.0, 0.0])
    x = RNG.standard_normal((3, 4))
    yt = ember.tensor([0, 3, 1])
    for p in (1, 2):
        gradcheck64(lambda x: L.multi_margin_loss(x, yt, p=p, margin=0.9), [x])
    with pytest.raises(ValueError, match="multi_margin_loss: only p == 1 and p == 2"):
        L.multi_margin_loss(ember.tensor(x), yt, p=3)
    with pytest.raises(IndexError, match="multi_margin_loss: target class 4 is out of range for "
                                         "4 classes"):
        L.multi_margin_loss(ember.tensor(x), ember.tensor([0, 4, 1]))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_multilabel_margin_loss(reduction):
    rng = np.random.default_rng(24)
    x = rng.standard_normal((4, 5))
    y = np.array([[3, 0, -1, 1, 1], [0, 1, 2, 3, 4], [4, -1, 0, 0, 0], [-1, 2, 2, 2, 2]])
    check_parity(lambda m, x: F(m).multilabel_margin_loss(x, T(m, y), reduction=reduction), [x])
    check_parity(lambda m, x: F(m).multilabel_margin_loss(x[0], T(m, y[0]), reduction=reduction),
                 [x])


def test_multilabel_margin_loss_by_hand_and_gradcheck():
    # torch docs example: classes {3, 0}, others {1, 2}: Σ of 4 hinges / 4 = 0.85
    x = ember.tensor([[0.1, 0.2, 0.4, 0.8]])
    y = ember.tensor([[3, 0, -1, 1]])
    assert abs(L.multilabel_margin_loss(x, y).item() - 0.85) < 1e-6
    gradcheck64(lambda x: L.multilabel_margin_loss(x, ember.tensor([[1, 2, -1], [0, -1, 2]])),
                [RNG.standard_normal((2, 3))])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_pairwise_margin_losses(reduction, dtype):
    rng = np.random.default_rng(25)
    a, b = rng.standard_normal((6, 3)), rng.standard_normal((6, 3))
    sign = np.where(rng.random(6) > 0.5, 1.0, -1.0)
    sign33 = np.where(rng.random((6, 3)) > 0.5, 1.0, -1.0)
    check_parity(lambda m, a: F(m).hinge_embedding_loss(a, T(m, sign33, dtype), margin=0.5,
                                                        reduction=reduction), [a], dtype=dtype)
    check_parity(lambda m, a: F(m).hinge_embedding_loss(a, T(m, sign33, dtype),
                                                        reduction=reduction), [np.abs(a)],
                 dtype=dtype)
    check_parity(lambda m, a, b: F(m).margin_ranking_loss(a[:, 0], b[:, 0], T(m, sign, dtype),
                                                          margin=0.3, reduction=reduction),
                 [a, b], dtype=dtype)
    check_parity(lambda m, a, b: F(m).margin_ranking_loss(a[:, 0], b[:, 0], T(m, sign, dtype),
                                                          reduction=reduction), [a, b], dtype=dtype)
    for margin in (0.0, -0.3, 0.5):
        check_parity(lambda m, a, b: F(m).cosine_embedding_loss(a, b, T(m, sign, dtype),
                                                                margin=margin, reduction=reduction),
                     [a, b], dtype=dtype)
    check_parity(lambda m, a, b: F(m).cosine_embedding_loss(a[0], b[0], T(m, sign[0], dtype),
                                                            reduction=reduction), [a, b],
                 dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("p,margin,swap", [(2, 1.0, False), (2, 2.0, True), (1, 0.5, False),
                                           (3, 1.5, True)])
def test_triplet_margin_loss(p, margin, swap, reduction, dtype):
    rng = np.random.default_rng(26)
    a, pos, neg = (rng.standard_normal((5, 4)) for _ in range(3))
    check_parity(lambda m, a, pos, neg: F(m).triplet_margin_loss(
        a, pos, neg, margin=margin, p=p, swap=swap, reduction=reduction), [a, pos, neg],
        dtype=dtype)
    check_parity(lambda m, a, pos, neg: F(m).triplet_margin_loss(
        a[0], pos[0], neg[0], margin=margin, p=p, swap=swap, reduction=reduction), [a, pos, neg],
        dtype=dtype)


def test_triplet_margin_loss_by_hand_and_gradcheck():
    """Lecture 002 "Triplet损失": max(d(A, P) − d(A, N) + a, 0) (torch's d is the distance, the
    lecture's its square). A = (0, 0), P = (3, 4): d = 5; N = (0, 5.5): d = 5.5; a = 1 → 0.5;
    N = (6, 8): d = 10 → 0."""
    # inventory C10
    a, p = ember.tensor([[0.0, 0.0], [0.0, 0.0]]), ember.tensor([[3.0, 4.0], [3.0, 4.0]])
    n = ember.tensor([[0.0, 5.5], [6.0, 8.0]])
    out = L.triplet_margin_loss(a, p, n, margin=1.0, eps=0.0, reduction="none").numpy()
    np.testing.assert_allclose(out, [0.5, 0.0], atol=1e-6)
    # swap: d(P, N) = 3.20 < d(A, N) = 5.5 becomes the negative distance
    swapped = L.triplet_margin_loss(a[:1], p[:1], n[:1], margin=1.0, eps=0.0, swap=True).item()
    assert abs(swapped - (5.0 - math.hypot(3.0, 1.5) + 1.0)) < 1e-5
    gradcheck64(lambda a, p, n: L.triplet_margin_loss(a, p, n, margin=3.0, swap=True),
                [RNG.standard_normal((3, 4)) for _ in range(3)])
    with pytest.raises(ValueError, match="triplet_margin_loss: margin must be greater than 0"):
        L.triplet_margin_loss(a, p, n, margin=0.0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("p,margin,swap", [(2, 1.0, False), (2, 2.0, True), (1, 0.5, False)])
def test_c10_squared_triplet_loss_torch_parity(p, margin, swap, reduction, dtype):
    """The lecture's squared distances (``squared=True``, not a torch option) against torch's
    ``triplet_margin_with_distance_loss`` with the squared pairwise distance."""
    rng = np.random.default_rng(28)
    a, pos, neg = (rng.standard_normal((5, 4)) for _ in range(3))

    def fn(m, a, pos, neg):
        if m is ember:
            return L.triplet_margin_loss(a, pos, neg, margin=margin, p=p, swap=swap,
                                         reduction=reduction, squared=True)
        return m.nn.functional.triplet_margin_with_distance_loss(
            a, pos, neg, distance_function=lambda x, y: m.nn.functional.pairwise_distance(
                x, y, p) ** 2, margin=margin, swap=swap, reduction=reduction)
    check_parity(fn, [a, pos, neg], dtype=dtype)


def test_c10_lecture_triplet_loss_by_hand():
    """Lecture 002 L1073–1084: ``L(A, P, N) = max(‖f(A) − f(P)‖² − ‖f(A) − f(N)‖² + a, 0)``,
    zero once the constraint ``‖f(A) − f(P)‖² − ‖f(A) − f(N)‖² + a ≤ 0`` holds. A = (0, 0),
    P = (3, 4): 25; N = (0, 5): 25 − 25 + 1 = 1; N = (0, 5.5): 25 − 30.25 + 1 < 0 → 0;
    N = (0, 4.5): 25 − 20.25 + 1 = 5.75. torch's unsquared form gives 1, 0.5 and 1.5."""
    a = ember.zeros(3, 2)
    p = ember.tensor([[3.0, 4.0]] * 3)
    n = ember.tensor([[0.0, 5.0], [0.0, 5.5], [0.0, 4.5]])
    out = L.triplet_margin_loss(a, p, n, eps=0.0, reduction="none", squared=True).numpy()
    np.testing.assert_allclose(out, [1.0, 0.0, 5.75], atol=1e-5)
    module = ember.nn.TripletMarginLoss(margin=1.0, eps=0.0, squared=True, reduction="sum")
    assert module(a, p, n).item() == pytest.approx(6.75, abs=1e-5)
    np.testing.assert_allclose(L.triplet_margin_loss(a, p, n, eps=0.0, reduction="none").numpy(),
                               [1.0, 0.5, 1.5], atol=1e-5)
    single = L.triplet_margin_loss(a[2], p[2], n[2], eps=0.0, squared=True)
    assert single.shape == () and single.item() == pytest.approx(5.75, abs=1e-5)
    gradcheck64(lambda a, p, n: L.triplet_margin_loss(a, p, n, margin=2.0, swap=True,
                                                      squared=True),
                [RNG.standard_normal((3, 4)) for _ in range(3)])


def test_margin_losses_gradcheck():
    rng = np.random.default_rng(27)
    a, b = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    sign = ember.tensor(np.array([1.0, -1.0, -1.0, 1.0]))
    gradcheck64(lambda a, b: L.cosine_embedding_loss(a, b, sign, margin=-0.5), [a, b])
    gradcheck64(lambda a, b: L.margin_ranking_loss(a, b, sign[:, None].expand(4, 3), margin=0.2),
                [a, b])
    gradcheck64(lambda a: L.hinge_embedding_loss(a, sign[:, None].expand(4, 3), margin=2.0), [a])


# ---------------------------------------------------------------- reductions

ALL_LOSSES = {
    "cross_entropy": lambda r: L.cross_entropy(ember.randn(3, 4), ember.tensor([0, 1, 2]),
                                               reduction=r),
    "nll_loss": lambda r: L.nll_loss(ember.randn(3, 4), ember.tensor([0, 1, 2]), reduction=r),
    "mse_loss": lambda r: L.mse_loss(ember.randn(3), ember.randn(3), reduction=r),
    "l1_loss": lambda r: L.l1_loss(ember.randn(3), ember.randn(3), reduction=r),
    "smooth_l1_loss": lambda r: L.smooth_l1_loss(ember.randn(3), ember.randn(3), reduction=r),
    "huber_loss": lambda r: L.huber_loss(ember.randn(3), ember.randn(3), reduction=r),
    "binary_cross_entropy": lambda r: L.binary_cross_entropy(ember.rand(3), ember.rand(3),
                                                             reduction=r),
    "binary_cross_entropy_with_logits": lambda r: L.binary_cross_entropy_with_logits(
        ember.randn(3), ember.rand(3), reduction=r),
    "kl_div": lambda r: L.kl_div(ember.randn(3), ember.rand(3), reduction=r),
    "multi_margin_loss": lambda r: L.multi_margin_loss(ember.randn(2, 3), ember.tensor([0, 2]),
                                                       reduction=r),
    "multilabel_margin_loss": lambda r: L.multilabel_margin_loss(
        ember.randn(2, 3), ember.tensor([[0, -1, 0], [1, 2, -1]]), reduction=r),
    "hinge_embedding_loss": lambda r: L.hinge_embedding_loss(ember.randn(3), ember.ones(3),
                                                             reduction=r),
    "margin_ranking_loss": lambda r: L.margin_ranking_loss(ember.randn(3), ember.randn(3),
                                                           ember.ones(3), reduction=r),
    "triplet_margin_loss": lambda r: L.triplet_margin_loss(ember.randn(2, 3), ember.randn(2, 3),
                                                           ember.randn(2, 3), reduction=r),
    "cosine_embedding_loss": lambda r: L.cosine_embedding_loss(ember.randn(2, 3), ember.randn(2, 3),
                                                               ember.ones(2), reduction=r),
    "soft_margin_loss": lambda r: L.soft_margin_loss(ember.randn(3), ember.ones(3), reduction=r),
    "poisson_nll_loss": lambda r: L.poisson_nll_loss(ember.randn(3), ember.rand(3), reduction=r),
    "gaussian_nll_loss": lambda r: L.gaussian_nll_loss(ember.randn(3), ember.randn(3),
                                                       ember.rand(3) + 0.1, reduction=r),
}


def test_every_loss_is_listed():
    assert sorted(ALL_LOSSES) == sorted(L.__all__)


@pytest.mark.parametrize("name", sorted(ALL_LOSSES))
def test_bad_reduction_names_the_loss(name):
    with pytest.raises(ValueError, match=rf"{name}: reduction must be one of .*got 'average'"):
        ALL_LOSSES[name]("average")


@pytest.mark.parametrize("size_average,reduce", [(None, False), (False, None), (True, True),
                                                 (False, True), (True, False)])
def test_legacy_size_average_and_reduce(size_average, reduce):
    """torch's deprecated flags pick the reduction when given."""
    x, y = _class_data((4,), 3, seed=28)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        check_parity(lambda m, x: F(m).cross_entropy(x, T(m, y), size_average=size_average,
                                                     reduce=reduce), [x])
        check_parity(lambda m, a, b: F(m).mse_loss(a, b, size_average=size_average, reduce=reduce),
                     [x, x[::-1].copy()])
