"""Elementwise ops: forward and backward parity with torch (broadcasting, size-1 and empty
dims, non-contiguous inputs), float64 gradcheck, and the lecture-003 toy backward."""
import numpy as np
import pytest

import ember
from tests.harness import check_parity, gradcheck64

R = np.random.default_rng(1)


def randn(*shape, dtype=np.float32):
    return np.asarray(R.standard_normal(shape), dtype=dtype)


def positive(*shape, dtype=np.float32):
    return np.asarray(R.random(shape) + 0.5, dtype=dtype)


def unit(*shape, dtype=np.float32):
    return np.asarray(R.random(shape) * 1.6 - 0.8, dtype=dtype)


# name -> (function of (lib, x), input sampler)
UNARY = {
    "exp": (lambda m, x: m.exp(x), randn),
    "log": (lambda m, x: m.log(x), positive),
    "log1p": (lambda m, x: m.log1p(x), positive),
    "sqrt": (lambda m, x: m.sqrt(x), positive),
    "rsqrt": (lambda m, x: m.rsqrt(x), positive),
    "abs": (lambda m, x: m.abs(x), randn),
    "neg": (lambda m, x: m.neg(x), randn),
    "neg_op": (lambda m, x: -x, randn),
    "sign": (lambda m, x: m.sign(x), randn),
    "sin": (lambda m, x: m.sin(x), randn),
    "cos": (lambda m, x: m.cos(x), randn),
    "tan": (lambda m, x: m.tan(x), unit),
    "tanh": (lambda m, x: m.tanh(x), randn),
    "sigmoid": (lambda m, x: m.sigmoid(x), randn),
    "relu": (lambda m, x: m.relu(x), randn),
    "floor": (lambda m, x: m.floor(x), randn),
    "ceil": (lambda m, x: m.ceil(x), randn),
    "round": (lambda m, x: m.round(x), randn),
    "round_decimals": (lambda m, x: m.round(x * 10, decimals=1), randn),
    "trunc": (lambda m, x: m.trunc(x), randn),
    "frac": (lambda m, x: m.frac(x), randn),
    "reciprocal": (lambda m, x: m.reciprocal(x), positive),
    "square": (lambda m, x: m.square(x), randn),
    "exp2": (lambda m, x: m.exp2(x), randn),
    "expm1": (lambda m, x: m.expm1(x), randn),
    "log2": (lambda m, x: m.log2(x), positive),
    "log10": (lambda m, x: m.log10(x), positive),
    "asin": (lambda m, x: m.asin(x), unit),
    "acos": (lambda m, x: m.acos(x), unit),
    "atan": (lambda m, x: m.atan(x), randn),
    "sinh": (lambda m, x: m.sinh(x), randn),
    "cosh": (lambda m, x: m.cosh(x), randn),
    "asinh": (lambda m, x: m.asinh(x), randn),
    "acosh": (lambda m, x: m.acosh(x + 1.5), positive),
    "atanh": (lambda m, x: m.atanh(x), unit),
    "erf": (lambda m, x: m.erf(x), randn),
    "erfc": (lambda m, x: m.erfc(x), randn),
    "erfinv": (lambda m, x: m.erfinv(x), unit),
    "pow_scalar": (lambda m, x: x ** 3, randn),
    "pow_half": (lambda m, x: x ** 0.5, positive),
    "pow_neg": (lambda m, x: m.pow(x, -1.5), positive),
    "pow_zero": (lambda m, x: x ** 0, randn),
    "rpow": (lambda m, x: 2.0 ** x, randn),
    "clamp": (lambda m, x: m.clamp(x, -0.5, 0.7), randn),
    "clamp_min": (lambda m, x: m.clamp(x, min=-0.2), randn),
    "clamp_max": (lambda m, x: x.clamp(max=0.3), randn),
    "clip": (lambda m, x: m.clip(x, -0.1, 0.1), randn),
    "nan_to_num": (lambda m, x: m.nan_to_num(x), randn),
    "method_chain": (lambda m, x: x.exp().log1p().tanh().sigmoid(), randn),
}

SHAPES = [(), (1,), (5,), (3, 4), (2, 1, 3), (0, 3)]


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_unary_parity(name, shape):
    fn, sample = UNARY[name]
    check_parity(fn, [sample(*shape)])


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_parity_float64_noncontiguous(name):
    fn, sample = UNARY[name]
    x = sample(4, 3, dtype=np.float64)
    check_parity(lambda m, x: fn(m, x.t()), [x])


@pytest.mark.parametrize("name", sorted(set(UNARY) - {"floor", "ceil", "round", "round_decimals",
                                                      "trunc", "sign"}))
def test_unary_gradcheck(name):
    fn, sample = UNARY[name]
    x = sample(2, 3, dtype=np.float64)
    if name.startswith("clamp") or name == "clip":  # stay 0.05+ away from the kinks
        x = np.array([[-0.9, -0.3, 0.05], [0.4, 0.9, 1.2]])
    if name in ("abs", "relu"):
        x = np.where(np.abs(x) < 0.05, 0.3, x)
    assert gradcheck64(lambda t: fn(ember, t), [x])


BINARY = {
    "add": lambda m, a, b: a + b,
    "add_alpha": lambda m, a, b: m.add(a, b, alpha=2.5),
    "sub": lambda m, a, b: a - b,
    "sub_alpha": lambda m, a, b: m.sub(a, b, alpha=0.5),
    "mul": lambda m, a, b: a * b,
    "div": lambda m, a, b: a / b,
    "pow": lambda m, a, b: m.abs(a) ** b,
    "maximum": lambda m, a, b: m.maximum(a, b),
    "minimum": lambda m, a, b: m.minimum(a, b),
    "atan2": lambda m, a, b: m.atan2(a, b),
    "logaddexp": lambda m, a, b: m.logaddexp(a, b),
    "remainder": lambda m, a, b: m.remainder(a, b),
    "fmod": lambda m, a, b: m.fmod(a, b),
    "where": lambda m, a, b: m.where(a > 0, a, b),
    "lerp": lambda m, a, b: m.lerp(a, b, 0.3),
    "addcmul": lambda m, a, b: m.addcmul(a, a, b, value=0.5),
    "addcdiv": lambda m, a, b: m.addcdiv(a, a, b, value=0.5),
    "clamp_tensor": lambda m, a, b: m.clamp(a, min=b),
    "clamp_tensor_both": lambda m, a, b: m.clamp(a, min=b, max=b + 1),
}

BROADCAST = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (2, 3)), ((3, 1), (1, 5)),
             ((0, 4), (4,)), ((1,), ())]


def _away_from_zero(a, margin=0.3):
    return np.where(np.abs(a) < margin, np.sign(a + 1e-12) * margin + a, a)


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("shapes", BROADCAST, ids=str)
def test_binary_parity_broadcast(name, shapes):
    sa, sb = shapes
    a, b = randn(*sa), randn(*sb)
    if name in ("div", "remainder", "fmod", "addcdiv"):
        b = _away_from_zero(b).astype(np.float32)
    if name in ("remainder", "fmod"):  # keep away from the jumps of the sawtooth
        a = (np.round(a / b) * b + 0.3 * b).astype(np.float32)
    if name == "pow":
        a = _away_from_zero(a).astype(np.float32)
    check_parity(BINARY[name], [a, b])


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_gradcheck(name):
    a = np.array([[0.7, -1.3, 2.1], [-0.4, 1.6, -2.2]])
    b = np.array([0.45, -1.9, 1.2])
    assert gradcheck64(lambda x, y: BINARY[name](ember, x, y), [a, b])


@pytest.mark.parametrize("name", ["add", "mul", "div", "sub", "maximum", "pow"])
def test_binary_noncontiguous_inputs(name):
    a, b = positive(4, 3, dtype=np.float64), positive(6, 4, dtype=np.float64)
    check_parity(lambda m, a, b: BINARY[name](m, a.t(), b[::2]), [a, b])
    check_parity(lambda m, a, b: BINARY[name](m, a.t().expand(2, 3, 4), b[1::2]), [a, b])
    check_parity(BINARY[name], [positive(3, 4), positive(2, 1, 4)], noncontiguous=True)


@pytest.mark.parametrize("scalar", [2, 2.5, -1, True])
@pytest.mark.parametrize("op", ["add", "radd", "sub", "rsub", "mul", "rmul", "div", "rdiv", "pow"])
def test_python_scalar_operands(op, scalar):
    fn = {"add": lambda m, x: x + scalar, "radd": lambda m, x: scalar + x,
          "sub": lambda m, x: x - scalar, "rsub": lambda m, x: scalar - x,
          "mul": lambda m, x: x * scalar, "rmul": lambda m, x: scalar * x,
          "div": lambda m, x: x / scalar, "rdiv": lambda m, x: scalar / x,
          "pow": lambda m, x: x ** scalar}[op]
    if scalar is True and op in ("rdiv", "sub", "rsub"):
        return  # torch rejects bool subtraction too (tested in test_errors)
    check_parity(fn, [positive(2, 3)])


def test_maximum_ties_split_gradient():
    x = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    check_parity(lambda m, a, b: m.maximum(a, b), [x, x.copy()])
    check_parity(lambda m, a: m.clamp(a, -1.0, 2.0), [x])


@pytest.mark.parametrize("op", ["eq", "ne", "lt", "le", "gt", "ge"])
def test_comparisons(op):
    a = R.integers(0, 3, (3, 4)).astype(np.float32)
    b = R.integers(0, 3, (4,)).astype(np.float32)
    check_parity(lambda m, a, b: getattr(m, op)(a, b), [a, b], requires_grad=[False, False])
    sym = {"eq": "__eq__", "ne": "__ne__", "lt": "__lt__", "le": "__le__", "gt": "__gt__",
           "ge": "__ge__"}[op]
    check_parity(lambda m, a: getattr(a, sym)(1), [a], requires_grad=[False])


def test_logical_and_bitwise():
    a = R.random((3, 4)) > 0.5
    b = R.random((4,)) > 0.5
    for fn in (lambda m, a, b: a & b, lambda m, a, b: a | b, lambda m, a, b: a ^ b,
               lambda m, a, b: ~a, lambda m, a, b: m.logical_and(a, b),
               lambda m, a, b: m.logical_or(a, b), lambda m, a, b: m.logical_xor(a, b),
               lambda m, a, b: m.logical_not(a)):
        check_parity(fn, [a, b])
    i, j = R.integers(-5, 5, (3, 4)), R.integers(-5, 5, (4,))
    for fn in (lambda m, a, b: a & b, lambda m, a, b: a | b, lambda m, a, b: ~a,
               lambda m, a, b: a // b.clamp(min=1), lambda m, a, b: a % b.clamp(min=1)):
        check_parity(fn, [i, j])


def test_isnan_isinf_isfinite_isclose():
    x = np.array([1.0, np.nan, np.inf, -np.inf, 0.0], dtype=np.float32)
    for f in ("isnan", "isinf", "isfinite"):
        check_parity(lambda m, x: getattr(m, f)(x), [x], requires_grad=[False])
    y = x + np.float32(1e-7)
    check_parity(lambda m, a, b: m.isclose(a, b), [x, y], requires_grad=[False, False])
    assert ember.allclose(ember.tensor([1.0, 2.0]), ember.tensor([1.0, 2.0 + 1e-9]))
    assert not ember.allclose(ember.tensor([1.0, 2.0]), ember.tensor([1.0, 2.1]))


@pytest.mark.parametrize("mode", ["trunc", "floor"])
def test_div_rounding_modes(mode):
    a = np.array([7, -7, 5, -5, 0], dtype=np.int64)
    b = np.array([2, 2, -3, -3, 4], dtype=np.int64)
    check_parity(lambda m, a, b: m.div(a, b, rounding_mode=mode), [a, b])
    check_parity(lambda m, a, b: m.div(a, b, rounding_mode=mode),
                 [a.astype(np.float32), b.astype(np.float32)], requires_grad=[False, False])


def test_lecture_toy_backward_matches_derived_formula():
    """Lecture 003 'Backpropagation' (A10): f(x) = (-x + 3)^2, f'(x) = 2(x - 3).
    The forward at x = 1 is 4 and the backward gives -4."""
    # inventory A10
    x = ember.tensor(1.0, requires_grad=True)
    q = -x + 3
    f = q ** 2
    assert f.item() == 4.0
    f.backward()
    assert x.grad.item() == -4.0
    xs = np.array([-2.0, 0.0, 3.0, 4.5])
    check_parity(lambda m, x: (-x + 3) ** 2, [xs.astype(np.float32)])
    assert gradcheck64(lambda x: (-x + 3) ** 2, [xs])


def test_sigmoid_is_stable_for_large_inputs():
    x = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0], dtype=np.float32)
    with np.errstate(over="raise", invalid="raise"):
        out = check_parity(lambda m, x: m.sigmoid(x), [x])
    assert np.isfinite(out[0].detach().numpy()).all()
