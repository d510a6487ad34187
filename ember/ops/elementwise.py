"""Elementwise primitives: arithmetic with broadcasting and torch's type promotion, comparisons,
and unary math. Broadcasting is undone for the backward pass in :func:`unbroadcast`."""
import numpy as np

from ember import _dtype, _parallel
from ember._tensor import Tensor, as_tensor_arg
from ember.autograd.function import Function, unbroadcast
from ember.kernels import compiled, flat

__all__ = ["add", "sub", "subtract", "mul", "multiply", "div", "divide", "true_divide",
           "floor_divide", "remainder", "fmod", "pow", "float_power", "maximum", "minimum", "fmax", "fmin",
           "eq", "ne", "lt", "le", "gt", "ge", "equal", "allclose", "isclose", "isnan", "isinf",
           "isfinite", "logical_and", "logical_or", "logical_xor", "logical_not",
           "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not",
           "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "rsqrt", "square",
           "abs", "absolute", "neg", "negative", "sign", "sgn", "sin", "cos", "tan", "asin", "acos",
           "atan", "atan2", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh",
           "sigmoid", "relu", "floor", "ceil", "round", "trunc", "frac",
           "reciprocal", "clamp", "clip", "clamp_min", "clamp_max", "where", "lerp", "addcmul",
           "addcdiv", "erf", "erfc", "erfinv", "nan_to_num", "cast", "heaviside", "logaddexp"]


def _check_broadcast(op, a, b):
    sa, sb = a.shape, b.shape
    for x, y in zip(reversed(sa), reversed(sb)):
        if x != y and x != 1 and y != 1:
            raise RuntimeError(f"{op}: the shapes {tuple(sa)} and {tuple(sb)} cannot be broadcast "
                               f"together (size {x} vs {y} in a non-singleton dimension)")


class Cast(Function):
    def forward(self, x, dtype):
        self.src = x.dtype
        return x.astype(dtype, copy=True)

    def backward(self, grad):
        return grad.astype(self.src)


def cast(x, dtype):
    """Differentiable dtype conversion (the backward casts the gradient back)."""
    dt = _dtype.to_numpy(dtype)
    if x._data.dtype == dt:
        return x
    if dt.kind != "f":
        return Tensor._wrap(x._data.astype(dt))
    return Cast.apply(x, dtype=dt)


def _operands(op, a, b, dtype=None):
    """Promote two operands (Tensors or Python numbers) to a common dtype."""
    if dtype is None and isinstance(a, Tensor):
        # fast paths for the common cases: same-dtype tensors, float tensor with a number
        ad = a._data.dtype
        if isinstance(b, Tensor):
            if b._data.dtype == ad:
                if a._data.ndim and b._data.ndim:
                    _check_broadcast(op, a._data, b._data)
                return a, b
        elif ad.kind == "f" and type(b) in (float, int):
            return a, Tensor._wrap(np.asarray(b, dtype=ad))
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        a = as_tensor_arg(a)
    try:
        rd = _dtype.result_type(a, b) if dtype is None else dtype
    except TypeError:
        raise TypeError(f"{op}: unsupported operand types {type(a).__name__} and "
                        f"{type(b).__name__}") from None
    npd = rd.np
    if isinstance(a, Tensor):
        a = cast(a, rd) if a._data.dtype != npd else a
    else:
        a = Tensor._wrap(np.asarray(a, dtype=npd))
    if isinstance(b, Tensor):
        b = cast(b, rd) if b._data.dtype != npd else b
    else:
        b = Tensor._wrap(np.asarray(b, dtype=npd))
    if a._data.ndim and b._data.ndim:
        _check_broadcast(op, a._data, b._data)
    return a, b


# ---------------------------------------------------------------------------- arithmetic
class Add(Function):
    def forward(self, a, b, alpha=1):
        self.alpha = alpha
        return a + b if alpha == 1 else a + alpha * b

    def backward(self, grad):
        sa, sb = self._input_meta[0][0], self._input_meta[1][0]
        ga = unbroadcast(grad, sa) if self.needs_input_grad[0] else None
        gb = None
        if self.needs_input_grad[1]:
            gb = unbroadcast(grad if self.alpha == 1 else grad * self.alpha, sb)
        return ga, gb


class Sub(Function):
    def forward(self, a, b, alpha=1):
        self.alpha = alpha
        return a - b if alpha == 1 else a - alpha * b

    def backward(self, grad):
        sa, sb = self._input_meta[0][0], self._input_meta[1][0]
        ga = unbroadcast(grad, sa) if self.needs_input_grad[0] else None
        gb = unbroadcast(-grad if self.alpha == 1 else grad * -self.alpha, sb) \
            if self.needs_input_grad[1] else None
        return ga, gb


class Mul(Function):
    saved_inputs = (0, 1)

    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, grad):
        ga = unbroadcast(grad * self.b, self.a.shape) if self.needs_input_grad[0] else None
        gb = unbroadcast(grad * self.a, self.b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Div(Function):
    saved_inputs = (0, 1)

    def forward(self, a, b):
        self.a, self.b = a, b
        with np.errstate(divide="ignore", invalid="ignore"):  # inf/nan like torch, silently
            return a / b

    def backward(self, grad):
        with np.errstate(divide="ignore", invalid="ignore"):
            ga = unbroadcast(grad / self.b, self.a.shape) if self.needs_input_grad[0] else None
            gb = unbroadcast(-grad * self.a / (self.b * self.b), self.b.shape) \
                if self.needs_input_grad[1] else None
        return ga, gb


def add(input, other, *, alpha=1, out=None):
    """``input + alpha * other`` with broadcasting."""
    _no_out(out, "add")
    a, b = _operands("add", input, other)
    if alpha != 1 and not a.is_floating_point() and isinstance(alpha, float):
        raise RuntimeError(f"add: for integral input tensors, argument alpha must not be a "
                           f"floating point number (got {alpha})")
    if a._data.dtype == np.bool_:
        return Tensor._wrap(np.logical_or(a._data, b._data))
    return Add.apply(a, b, alpha=alpha)


def sub(input, other, *, alpha=1, out=None):
    """``input - alpha * other`` with broadcasting."""
    _no_out(out, "sub")
    a, b = _operands("sub", input, other)
    if a._data.dtype == np.bool_:
        raise RuntimeError("sub: subtraction with two bool tensors is not supported; "
                           "use logical_xor() or ~ instead")
    return Sub.apply(a, b, alpha=alpha)


subtract = sub


def mul(input, other, *, out=None):
    """Elementwise product with broadcasting."""
    _no_out(out, "mul")
    a, b = _operands("mul", input, other)
    if a._data.dtype == np.bool_:
        return Tensor._wrap(np.logical_and(a._data, b._data))
    return Mul.apply(a, b)


multiply = mul


def div(input, other, *, rounding_mode=None, out=None):
    """True division (integers give floats), or ``rounding_mode='trunc'|'floor'``."""
    _no_out(out, "div")
    if rounding_mode is None:
        rd = _dtype.result_type(input, other)
        if not rd.is_floating_point:
            rd = _dtype.get_default_dtype()
        a, b = _operands("div", input, other, dtype=rd)
        return Div.apply(a, b)
    if rounding_mode not in ("trunc", "floor"):
        raise ValueError(f"div: expected rounding_mode to be one of None, 'trunc', or 'floor', "
                         f"but found {rounding_mode!r}")
    a, b = _operands("div", input, other)
    with np.errstate(divide="ignore", invalid="ignore"):
        if a._data.dtype.kind in "iu":
            if np.any(b._data == 0):
                raise ZeroDivisionError("div: integer division by zero")
            q = np.floor_divide(a._data, b._data)
            if rounding_mode == "trunc":
                q = np.where((q < 0) & (q * b._data != a._data), q + 1, q)
        else:
            q = np.true_divide(a._data, b._data)
            q = np.floor(q) if rounding_mode == "floor" else np.trunc(q)
    return Tensor._wrap(np.asarray(q, dtype=a._data.dtype))


divide = true_divide = div


def floor_divide(input, other):
    return div(input, other, rounding_mode="floor")


def remainder(input, other):
    """Python-style modulus (sign of the divisor). Gradient 1 w.r.t. input."""
    a, b = _operands("remainder", input, other)
    return Remainder.apply(a, b, fn=np.mod)


def fmod(input, other):
    """C-style modulus (sign of the dividend)."""
    a, b = _operands("fmod", input, other)
    return Remainder.apply(a, b, fn=np.fmod)


class Remainder(Function):
    saved_inputs = (0, 1)

    def forward(self, a, b, fn):
        self.a, self.b, self.fn = a, b, fn
        if a.dtype.kind in "iu" and np.any(b == 0):
            raise ZeroDivisionError("remainder: integer division by zero")
        return fn(a, b)

    def backward(self, grad):
        ga = unbroadcast(grad, self.a.shape) if self.needs_input_grad[0] else None
        gb = None
        if self.needs_input_grad[1]:
            q = np.floor(self.a / self.b) if self.fn is np.mod else np.trunc(self.a / self.b)
            gb = unbroadcast(-grad * q, self.b.shape)
        return ga, gb


class Pow(Function):
    saved_inputs = (0, 1)
    saves_output = True

    def forward(self, a, b):
        self.a, self.b = a, b
        self.out = np.power(a, b)
        return self.out

    def backward(self, grad):
        a, b = self.a, self.b
        ga = gb = None
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.needs_input_grad[0]:
                g = grad * b * np.power(a, b - 1)
                ga = unbroadcast(np.where(b == 0, 0, g).astype(grad.dtype, copy=False), a.shape)
            if self.needs_input_grad[1]:
                g = grad * self.out * np.log(a)
                gb = unbroadcast(np.where((a == 0) & (b >= 0), 0, g).astype(grad.dtype, copy=False),
                                 b.shape)
        return ga, gb


class PowScalar(Function):
    saved_inputs = (0,)

    def forward(self, a, exponent):
        self.a, self.e = a, exponent
        if exponent == 2:
            return a * a
        return np.power(a, a.dtype.type(exponent) if a.dtype.kind == "f" else exponent)

    def backward(self, grad):
        e = self.e
        if e == 0:
            return np.zeros_like(grad)
        if e == 2:
            return grad * 2 * self.a
        with np.errstate(divide="ignore", invalid="ignore"):
            return grad * e * np.power(self.a, self.a.dtype.type(e - 1))


class RPowScalar(Function):
    saves_output = True

    def forward(self, b, base):
        self.base = base
        self.out = np.power(b.dtype.type(base), b)
        return self.out

    def backward(self, grad):
        with np.errstate(divide="ignore"):
            return grad * self.out * np.log(self.base) if self.base != 0 else np.zeros_like(grad)


def pow(input, exponent, *, out=None):
    """``input ** exponent`` (either may be a number)."""
    _no_out(out, "pow")
    if isinstance(input, Tensor) and not isinstance(exponent, Tensor):
        rd = _dtype.result_type(input, exponent)
        x = cast(input, rd)
        if rd.np.kind in "iu" and exponent < 0:
            raise RuntimeError("pow: integers to negative integer powers are not allowed")
        return PowScalar.apply(x, exponent=exponent)
    if not isinstance(input, Tensor):
        rd = _dtype.result_type(input, exponent)
        return RPowScalar.apply(cast(exponent, rd), base=input)
    a, b = _operands("pow", input, exponent)
    return Pow.apply(a, b)


def float_power(input, exponent):
    a = cast(input, _dtype.float64) if isinstance(input, Tensor) else input
    b = cast(exponent, _dtype.float64) if isinstance(exponent, Tensor) else exponent
    return pow(a, b)


class _PickBinary(Function):
    saved_inputs = (0, 1)

    def forward(self, a, b, fn):
        self.a, self.b = a, b
        self.out = fn(a, b)
        return self.out

    def backward(self, grad):
        # ties split the gradient evenly, as torch does for maximum/minimum
        a_sel = np.asarray(self.a == self.out, dtype=grad.dtype)
        b_sel = np.asarray(self.b == self.out, dtype=grad.dtype)
        total = np.maximum(a_sel + b_sel, 1)
        ga = unbroadcast(grad * a_sel / total, self.a.shape) if self.needs_input_grad[0] else None
        gb = unbroadcast(grad * b_sel / total, self.b.shape) if self.needs_input_grad[1] else None
        return ga, gb


def maximum(input, other):
    a, b = _operands("maximum", input, other)
    return _PickBinary.apply(a, b, fn=np.maximum)


def minimum(input, other):
    a, b = _operands("minimum", input, other)
    return _PickBinary.apply(a, b, fn=np.minimum)


def fmax(input, other):
    a, b = _operands("fmax", input, other)
    return _PickBinary.apply(a, b, fn=np.fmax)


def fmin(input, other):
    a, b = _operands("fmin", input, other)
    return _PickBinary.apply(a, b, fn=np.fmin)


class Atan2(Function):
    saved_inputs = (0, 1)

    def forward(self, a, b):
        self.a, self.b = a, b
        return np.arctan2(a, b)

    def backward(self, grad):
        d = self.a * self.a + self.b * self.b
        ga = unbroadcast(grad * self.b / d, self.a.shape) if self.needs_input_grad[0] else None
        gb = unbroadcast(-grad * self.a / d, self.b.shape) if self.needs_input_grad[1] else None
        return ga, gb


def atan2(input, other):
    rd = _dtype.result_type(input, other)
    if not rd.is_floating_point:
        rd = _dtype.get_default_dtype()
    a, b = _operands("atan2", input, other, dtype=rd)
    return Atan2.apply(a, b)


class LogAddExp(Function):
    saved_inputs = (0, 1)
    saves_output = True

    def forward(self, a, b):
        self.a, self.b = a, b
        self.out = np.logaddexp(a, b)
        return self.out

    def backward(self, grad):
        ga = unbroadcast(grad * np.exp(self.a - self.out), self.a.shape) if self.needs_input_grad[0] else None
        gb = unbroadcast(grad * np.exp(self.b - self.out), self.b.shape) if self.needs_input_grad[1] else None
        return ga, gb


def logaddexp(input, other):
    a, b = _operands("logaddexp", input, other)
    return LogAddExp.apply(a, b)


# ---------------------------------------------------------------------------- comparison / logic
def _compare(op, fn):
    def compare(input, other, *, out=None):
        _no_out(out, op)
        a, b = _operands(op, input, other)
        return Tensor._wrap(np.asarray(fn(a._data, b._data)))
    compare.__name__ = op
    compare.__doc__ = f"Elementwise ``{op}`` with broadcasting; returns a bool tensor."
    return compare


eq = _compare("eq", np.equal)
ne = _compare("ne", np.not_equal)
lt = _compare("lt", np.less)
le = _compare("le", np.less_equal)
gt = _compare("gt", np.greater)
ge = _compare("ge", np.greater_equal)
logical_and = _compare("logical_and", np.logical_and)
logical_or = _compare("logical_or", np.logical_or)
logical_xor = _compare("logical_xor", np.logical_xor)


def _bitwise(op, fn):
    def bitwise(input, other):
        a, b = _operands(op, input, other)
        if a._data.dtype.kind == "f":
            raise RuntimeError(f"{op}: not implemented for floating point dtype {a.dtype}")
        return Tensor._wrap(np.asarray(fn(a._data, b._data)))
    bitwise.__name__ = op
    return bitwise


bitwise_and = _bitwise("bitwise_and", np.bitwise_and)
bitwise_or = _bitwise("bitwise_or", np.bitwise_or)
bitwise_xor = _bitwise("bitwise_xor", np.bitwise_xor)


def bitwise_not(input):
    if input._data.dtype.kind == "f":
        raise RuntimeError(f"bitwise_not: not implemented for floating point dtype {input.dtype}")
    return Tensor._wrap(np.asarray(np.invert(input._data)))


def logical_not(input):
    return Tensor._wrap(np.logical_not(input._data))


def equal(input, other):
    """True if both tensors have the same shape and elements."""
    return input.shape == other.shape and bool(np.array_equal(input._data, other._data))


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    a, b = _operands("isclose", input, other)
    return Tensor._wrap(np.isclose(a._data, b._data, rtol=rtol, atol=atol, equal_nan=equal_nan))


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    return bool(isclose(input, other, rtol, atol, equal_nan)._data.all())


def isnan(input):
    return Tensor._wrap(np.isnan(input._data))


def isinf(input):
    return Tensor._wrap(np.isinf(input._data))


def isfinite(input):
    return Tensor._wrap(np.isfinite(input._data))


# ---------------------------------------------------------------------------- unary math
def _float_input(x, op):
    """Unary float functions promote integer inputs to the default float dtype (torch)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): argument 'input' must be Tensor, not {type(x).__name__}")
    if x._data.dtype.kind != "f":
        return cast(x, _dtype.get_default_dtype())
    return x


def _unary(name, forward, backward, uses="input", float_only=True, doc="", parallel=False):
    """Build a unary primitive from ``forward(x)`` and ``backward(grad, x, out)``.

    ``parallel``: both also take ``out=`` (same shape and dtype as ``x``) and large batches
    are computed half by half on Ember's threads, each thread writing its rows of ``out``."""
    cls = type(name.capitalize(), (Function,), {})
    cls.saved_inputs = (0,) if uses in ("input", "both") else ()
    cls.saves_output = uses in ("output", "both")

    def fwd(self, x):
        self.x = x
        self.out = _parallel.map_rows(forward, x) if parallel else forward(x)
        return self.out

    def bwd(self, grad):
        if parallel:
            return _parallel.map_rows(backward, grad, self.x, self.out)
        return backward(grad, self.x, self.out)

    cls.forward, cls.backward = fwd, bwd

    def op(input, *, out=None):
        _no_out(out, name)
        x = _float_input(input, name) if float_only else input
        return cls.apply(x)
    op.__name__ = name
    op.__doc__ = doc or f"Elementwise ``{name}``."
    op.Function = cls
    return op


def _errstate(fn):
    def wrapped(*args):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return fn(*args)
    return wrapped


exp = _unary("exp", np.exp, lambda g, x, y: g * y, "output")
exp2 = _unary("exp2", np.exp2, lambda g, x, y: g * y * np.log(2).astype(y.dtype), "output")
expm1 = _unary("expm1", np.expm1, lambda g, x, y: g * (y + 1), "output")
log = _unary("log", _errstate(np.log), _errstate(lambda g, x, y: g / x))
log2 = _unary("log2", _errstate(np.log2), _errstate(lambda g, x, y: g / (x * np.log(2).astype(x.dtype))))
log10 = _unary("log10", _errstate(np.log10),
               _errstate(lambda g, x, y: g / (x * np.log(10).astype(x.dtype))))
log1p = _unary("log1p", _errstate(np.log1p), _errstate(lambda g, x, y: g / (1 + x)))
sqrt = _unary("sqrt", _errstate(np.sqrt), _errstate(lambda g, x, y: g / (2 * y)), "output")
rsqrt = _unary("rsqrt", _errstate(lambda x: 1 / np.sqrt(x)),
               _errstate(lambda g, x, y: -0.5 * g * y * y * y), "output")
square = _unary("square", lambda x: x * x, lambda g, x, y: 2 * g * x, float_only=False)
abs = _unary("abs", np.abs, lambda g, x, y: g * np.sign(x), float_only=False)
absolute = abs
neg = _unary("neg", np.negative, lambda g, x, y: -g, "none", float_only=False)
negative = neg
sign = _unary("sign", np.sign, lambda g, x, y: np.zeros_like(g), "none", float_only=False)
sgn = sign
sin = _unary("sin", np.sin, lambda g, x, y: g * np.cos(x))
cos = _unary("cos", np.cos, lambda g, x, y: -g * np.sin(x))
tan = _unary("tan", np.tan, lambda g, x, y: g * (1 + y * y), "output")
asin = _unary("asin", _errstate(np.arcsin), _errstate(lambda g, x, y: g / np.sqrt(1 - x * x)))
acos = _unary("acos", _errstate(np.arccos), _errstate(lambda g, x, y: -g / np.sqrt(1 - x * x)))
atan = _unary("atan", np.arctan, lambda g, x, y: g / (1 + x * x))
sinh = _unary("sinh", np.sinh, lambda g, x, y: g * np.cosh(x))
cosh = _unary("cosh", np.cosh, lambda g, x, y: g * np.sinh(x))
tanh = _unary("tanh", np.tanh, lambda g, x, y: g * (1 - y * y), "output")
asinh = _unary("asinh", np.arcsinh, lambda g, x, y: g / np.sqrt(x * x + 1))
acosh = _unary("acosh", _errstate(np.arccosh), _errstate(lambda g, x, y: g / np.sqrt(x * x - 1)))
atanh = _unary("atanh", _errstate(np.arctanh), _errstate(lambda g, x, y: g / (1 - x * x)))


def _sigmoid(x):
    # exp of a non-positive number never overflows
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


sigmoid = _unary("sigmoid", _sigmoid, lambda g, x, y: g * y * (1 - y), "output",
                 doc="Logistic sigmoid 1 / (1 + exp(-x)) (lecture 000 'Activation Functions').")


def _relu_forward(x, out=None):
    """``max(x, 0)``; one pass of ``ember.kernels.activation.relu_forward`` when compiled.

    The NumPy path keeps the scalar 0: comparing against a cached zeros array of ``x``'s shape
    was 1.7–2.8x faster on an AMD EPYC (Zen 4) but 1.1–1.9x slower on an Intel Xeon with
    AVX-512 (NumPy 2.4, LeNet-5's and ResNet's activations): not a choice that holds on both."""
    kernels = compiled()
    views = flat(x) if kernels is not None else None
    if views is None:
        return np.maximum(x, 0, out=out)
    result = np.empty(x.shape, x.dtype) if out is None else out
    kernels.activation.relu_forward(views[0], result.reshape(-1))
    return result


def _relu_backward(grad, x, y, out=None):
    """``grad · [y > 0]``; one pass of ``ember.kernels.activation.relu_backward`` when
    compiled."""
    kernels = compiled()
    views = flat(grad, y) if kernels is not None else None
    if views is None:
        return np.multiply(grad, y > 0, out=out)
    result = np.empty(grad.shape, grad.dtype) if out is None else out
    kernels.activation.relu_backward(*views, result.reshape(-1))
    return result


relu = _unary("relu", _relu_forward, _relu_backward, "output", float_only=False,
              doc="max(0, x) (lecture 000 'ReLU').", parallel=True)
floor = _unary("floor", np.floor, lambda g, x, y: np.zeros_like(g), "none", float_only=False)
ceil = _unary("ceil", np.ceil, lambda g, x, y: np.zeros_like(g), "none", float_only=False)
trunc = _unary("trunc", np.trunc, lambda g, x, y: np.zeros_like(g), "none", float_only=False)
frac = _unary("frac", lambda x: x - np.trunc(x), lambda g, x, y: g, "none")
reciprocal = _unary("reciprocal", _errstate(lambda x: 1 / x), lambda g, x, y: -g * y * y, "output")


def _erf(x):
    from scipy.special import erf as _e
    return _e(x).astype(x.dtype, copy=False)


def _erfinv(x):
    from scipy.special import erfinv as _e
    return _e(x).astype(x.dtype, copy=False)


erf = _unary("erf", _erf, lambda g, x, y: g * (2 / np.sqrt(np.pi)) * np.exp(-x * x))
erfc = _unary("erfc", lambda x: 1 - _erf(x), lambda g, x, y: -g * (2 / np.sqrt(np.pi)) * np.exp(-x * x))
erfinv = _unary("erfinv", _erfinv,
                lambda g, x, y: g * (np.sqrt(np.pi) / 2) * np.exp(y * y), "both")


class Round(Function):
    def forward(self, x, decimals=0):
        return np.round(x, decimals)

    def backward(self, grad):
        return np.zeros_like(grad)


def round(input, *, decimals=0):
    """Round half to even, like torch."""
    return Round.apply(input, decimals=decimals)


class Clamp(Function):
    saved_inputs = (0,)

    def forward(self, x, lo, hi):
        self.x, self.lo, self.hi = x, lo, hi
        out = x
        if lo is not None:
            out = np.maximum(out, lo)
        if hi is not None:
            out = np.minimum(out, hi)
        return out if out is not x else x.copy()

    def backward(self, grad):
        mask = np.ones(self.x.shape, dtype=bool)
        if self.lo is not None:
            mask &= self.x >= self.lo
        if self.hi is not None:
            mask &= self.x <= self.hi
        return grad * mask


class ClampTensor(Function):
    saved_inputs = (0, 1, 2)

    def forward(self, x, lo, hi):
        self.x, self.lo, self.hi = x, lo, hi
        return np.minimum(np.maximum(x, lo), hi)

    def backward(self, grad):
        x, lo, hi = self.x, self.lo, self.hi
        gx = grad * ((x >= lo) & (x <= hi))
        glo = unbroadcast(grad * ((x < lo) & (lo <= hi)), lo.shape) if self.needs_input_grad[1] else None
        ghi = unbroadcast(grad * ((x > hi) | (lo > hi)), hi.shape) if self.needs_input_grad[2] else None
        return unbroadcast(gx, x.shape), glo, ghi


def clamp(input, min=None, max=None, *, out=None):
    """Clip values to ``[min, max]``; the gradient passes where ``min <= x <= max``."""
    _no_out(out, "clamp")
    if min is None and max is None:
        raise RuntimeError("clamp: at least one of 'min' or 'max' must not be None")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        dt = input.dtype
        big = np.finfo(dt.np).max if dt.is_floating_point else np.iinfo(dt.np).max
        lo = min if isinstance(min, Tensor) else Tensor._wrap(np.asarray(-big if min is None else min, dt.np))
        hi = max if isinstance(max, Tensor) else Tensor._wrap(np.asarray(big if max is None else max, dt.np))
        return ClampTensor.apply(input, cast(lo, dt), cast(hi, dt))
    x = input
    if x._data.dtype.kind != "f" and (isinstance(min, float) or isinstance(max, float)):
        x = cast(x, _dtype.get_default_dtype())
    t = x._data.dtype.type
    return Clamp.apply(x, lo=None if min is None else t(min), hi=None if max is None else t(max))


clip = clamp


def clamp_min(input, min):
    return clamp(input, min=min)


def clamp_max(input, max):
    return clamp(input, max=max)


class Where(Function):
    saved_inputs = ()

    def forward(self, cond, a, b):
        self.cond = cond
        return np.where(cond, a, b)

    def backward(self, grad):
        sa, sb = self._input_meta[1][0], self._input_meta[2][0]
        ga = unbroadcast(grad * self.cond, sa) if self.needs_input_grad[1] else None
        gb = unbroadcast(grad * ~self.cond, sb) if self.needs_input_grad[2] else None
        return None, ga, gb


def where(condition, input=None, other=None):
    """``condition ? input : other`` elementwise with broadcasting; one argument: ``nonzero``."""
    if input is None and other is None:
        return tuple(Tensor._wrap(i) for i in np.nonzero(condition._data))
    cond = condition if isinstance(condition, Tensor) else as_tensor_arg(condition)
    if cond._data.dtype != np.bool_:
        if cond._data.dtype == np.uint8:
            cond = Tensor._wrap(cond._data.astype(bool))
        else:
            raise RuntimeError(f"where: expected condition to be a bool tensor, got {cond.dtype}")
    a, b = _operands("where", input, other)
    _check_broadcast("where", cond._data, a._data)
    _check_broadcast("where", cond._data, b._data)
    return Where.apply(cond, a, b)


def lerp(input, end, weight):
    """``input + weight * (end - input)``."""
    return add(input, mul(weight, sub(end, input)))


def addcmul(input, tensor1, tensor2, *, value=1):
    return add(input, mul(tensor1, tensor2), alpha=value)


def addcdiv(input, tensor1, tensor2, *, value=1):
    return add(input, div(tensor1, tensor2), alpha=value)


def heaviside(input, values):
    a, b = _operands("heaviside", input, values)
    return Tensor._wrap(np.heaviside(a._data, b._data).astype(a._data.dtype))


class NanToNum(Function):
    saved_inputs = (0,)

    def forward(self, x, nan, posinf, neginf):
        self.x = x
        return np.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)

    def backward(self, grad):
        return grad * np.isfinite(self.x)


def nan_to_num(input, nan=0.0, posinf=None, neginf=None):
    return NanToNum.apply(input, nan=nan, posinf=posinf, neginf=neginf)


def _no_out(out, op):
    if out is not None:
        raise TypeError(f"{op}: the out= argument is not supported by Ember; assign the result instead")
