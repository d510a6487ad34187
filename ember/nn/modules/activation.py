"""Activation layers (``torch.nn`` activation modules), each calling the functional of the
same name in ``ember.nn.functional``.

Lectures 000/001/003 "Activation functions": sigmoid, tanh, ReLU ``max(0, x)``, Leaky ReLU,
ELU and Maxout ``max(w1.x + b1, w2.x + b2)`` (:class:`Maxout` below); lecture 000 "Softmax"
(inventory B1, B2).
Shapes: ``(*) -> (*)`` unless stated.
"""
import ember
from ember.nn import functional as F
from ember.nn import init
from ember.nn.modules.arguments import integer_arguments
from ember.nn.modules.module import Module
from ember.nn.parameter import Parameter

__all__ = ["ReLU", "ReLU6", "LeakyReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish", "Softplus",
           "Softsign", "Hardtanh", "Hardsigmoid", "Hardswish", "Sigmoid", "Tanh", "LogSigmoid",
           "Tanhshrink", "Softshrink", "Hardshrink", "Threshold", "PReLU", "RReLU", "GLU",
           "Softmax", "LogSoftmax", "Softmin", "Softmax2d", "Maxout"]


def _inplace_str(inplace, first=False):
    if not inplace:
        return ""
    return "inplace=True" if first else ", inplace=True"


class ReLU(Module):
    """``ReLU(x) = max(0, x)`` (lecture 000 "Activation functions")."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return F.relu(input, inplace=self.inplace)

    def extra_repr(self):
        return _inplace_str(self.inplace, first=True)


class Hardtanh(Module):
    """``Hardtanh(x) = clamp(x, min_val, max_val)``."""

    def __init__(self, min_val=-1.0, max_val=1.0, inplace=False):
        super().__init__()
        if max_val <= min_val:
            raise ValueError(f"Hardtanh: max_val ({max_val}) must be greater than min_val "
                             f"({min_val})")
        self.min_val, self.max_val, self.inplace = min_val, max_val, inplace

    def forward(self, input):
        return F.hardtanh(input, self.min_val, self.max_val, self.inplace)

    def extra_repr(self):
        return f"min_val={self.min_val}, max_val={self.max_val}{_inplace_str(self.inplace)}"


class ReLU6(Hardtanh):
    """``ReLU6(x) = min(max(0, x), 6)``."""

    def __init__(self, inplace=False):
        super().__init__(0.0, 6.0, inplace)

    def forward(self, input):
        return F.relu6(input, self.inplace)

    def extra_repr(self):
        return _inplace_str(self.inplace, first=True)


class LeakyReLU(Module):
    """``LeakyReLU(x) = max(0, x) + negative_slope * min(0, x)`` (the lectures use 0.1)."""

    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, input):
        return F.leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}{_inplace_str(self.inplace)}"


class ELU(Module):
    """``ELU(x) = x`` if ``x > 0`` else ``alpha (e^x - 1)`` (lecture 003; the slide gives no
    alpha, torch's default is 1)."""

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, input):
        return F.elu(input, self.alpha, self.inplace)

    def extra_repr(self):
        return f"alpha={self.alpha}{_inplace_str(self.inplace)}"


class CELU(Module):
    """``CELU(x) = max(0, x) + min(0, alpha (e^{x/alpha} - 1))``."""

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, input):
        return F.celu(input, self.alpha, self.inplace)

    def extra_repr(self):
        return f"alpha={self.alpha}{_inplace_str(self.inplace)}"


class SELU(Module):
    """``SELU(x) = scale * ELU(x, alpha)`` with the self-normalizing constants."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return F.selu(input, self.inplace)

    def extra_repr(self):
        return _inplace_str(self.inplace, first=True)


class GELU(Module):
    """``GELU(x) = x Φ(x)``; ``approximate='tanh'`` uses the tanh approximation."""

    def __init__(self, approximate="none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, input):
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class _InplaceActivation(Module):
    """An activation whose only option is ``inplace`` (printed only when set)."""
    _fn = None

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return type(self)._fn(input, inplace=self.inplace)

    def extra_repr(self):
        return _inplace_str(self.inplace, first=True)


class SiLU(_InplaceActivation):
    """``SiLU(x) = x σ(x)`` (swish)."""
    _fn = staticmethod(F.silu)


class Mish(_InplaceActivation):
    """``Mish(x) = x tanh(softplus(x))``."""
    _fn = staticmethod(F.mish)


class Hardsigmoid(_InplaceActivation):
    """``Hardsigmoid(x) = clamp(x / 6 + 1/2, 0, 1)``."""
    _fn = staticmethod(F.hardsigmoid)

    def extra_repr(self):
        return ""


class Hardswish(_InplaceActivation):
    """``Hardswish(x) = x * Hardsigmoid(x)``."""
    _fn = staticmethod(F.hardswish)

    def extra_repr(self):
        return ""


class _Plain(Module):
    """An activation without options."""
    _fn = None

    def forward(self, input):
        return type(self)._fn(input)


class Sigmoid(_Plain):
    """``σ(x) = 1 / (1 + e^{-x})`` (lecture 000 "Activation Functions")."""
    _fn = staticmethod(F.sigmoid)


class Tanh(_Plain):
    """``tanh(x)``."""
    _fn = staticmethod(F.tanh)


class LogSigmoid(_Plain):
    """``log σ(x)``."""
    _fn = staticmethod(F.logsigmoid)


class Softsign(_Plain):
    """``x / (1 + |x|)``."""
    _fn = staticmethod(F.softsign)


class Tanhshrink(_Plain):
    """``x - tanh(x)``."""
    _fn = staticmethod(F.tanhshrink)


class Softplus(Module):
    """``Softplus(x) = log(1 + e^{beta x}) / beta``; linear where ``beta x > threshold``."""

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, input):
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


class Hardshrink(Module):
    """``x`` where ``|x| > lambd``, else 0."""

    def __init__(self, lambd=0.5):
        super().__init__()
        self.lambd = lambd

    def forward(self, input):
        return F.hardshrink(input, self.lambd)

    def extra_repr(self):
        return f"{self.lambd}"


class Softshrink(Hardshrink):
    """``x - lambd`` where ``x > lambd``, ``x + lambd`` where ``x < -lambd``, else 0."""

    def forward(self, input):
        return F.softshrink(input, self.lambd)


class Threshold(Module):
    """``y = x`` where ``x > threshold``, else ``value``."""

    def __init__(self, threshold, value, inplace=False):
        super().__init__()
        self.threshold, self.value, self.inplace = threshold, value, inplace

    def forward(self, input):
        return F.threshold(input, self.threshold, self.value, self.inplace)

    def extra_repr(self):
        return f"threshold={self.threshold}, value={self.value}{_inplace_str(self.inplace)}"


class PReLU(Module):
    """``PReLU(x) = max(0, x) + a * min(0, x)`` with a learned slope ``a`` (one per channel
    when ``num_parameters`` is the channel count; the channel dim is dim 1).

    Parameters: ``weight`` of shape ``(num_parameters,)`` initialized to ``init``.
    """

    @integer_arguments(counts=("num_parameters",))
    def __init__(self, num_parameters=1, init=0.25, device=None, dtype=None):
        super().__init__()
        ember.device(device or "cpu")
        self.num_parameters = num_parameters
        self.init = init
        self.weight = Parameter(ember.empty(num_parameters, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self):
        init.constant_(self.weight, self.init)

    def forward(self, input):
        return F.prelu(input, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


class RReLU(Module):
    """Randomized leaky ReLU: in training the negative slope is drawn from
    ``U(lower, upper)`` per element; in eval it is ``(lower + upper) / 2``."""

    def __init__(self, lower=1.0 / 8, upper=1.0 / 3, inplace=False):
        super().__init__()
        self.lower, self.upper, self.inplace = lower, upper, inplace

    def forward(self, input):
        return F.rrelu(input, self.lower, self.upper, self.training, self.inplace)

    def extra_repr(self):
        return f"lower={self.lower}, upper={self.upper}{_inplace_str(self.inplace)}"


class GLU(Module):
    """Gated linear unit: split ``dim`` into halves ``a, b``; ``a * σ(b)``."""

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return F.glu(input, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class Softmax(Module):
    """``softmax(x)_i = e^{x_i} / Σ_j e^{x_j}`` along ``dim`` (lecture 000 "Softmax")."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return F.softmax(input, self.dim, _stacklevel=5)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """``log softmax(x)`` along ``dim``."""

    def forward(self, input):
        return F.log_softmax(input, self.dim, _stacklevel=5)


class Softmin(Softmax):
    """``softmax(-x)`` along ``dim``."""

    def forward(self, input):
        return F.softmin(input, self.dim, _stacklevel=5)


class Softmax2d(Module):
    """Softmax over the channels at every location: ``(N, C, H, W)`` or ``(C, H, W)``."""

    def forward(self, input):
        if input.dim() not in (3, 4):
            raise ValueError(f"Softmax2d: expected input of shape (N, C, H, W) or (C, H, W), "
                             f"got shape {tuple(input.shape)}")
        return F.softmax(input, -3, _stacklevel=5)


class Maxout(Module):
    """Maxout unit (lectures 000/001 "Activation functions": ``max(w1·x + b1, w2·x + b2)``).

    Not in torch. ``Maxout(in_features, out_features, pieces=2)`` is a Linear layer with
    ``pieces * out_features`` outputs followed by the maximum over each group of ``pieces``
    consecutive outputs: output ``j`` is ``max_k (W[j*pieces + k]·x + b[j*pieces + k])``.
    With ``pieces=2`` and one output this is the lecture's formula with ``W = [w1; w2]``.

    Shapes: ``(*, in_features) -> (*, out_features)``.
    Parameters: ``linear.weight (pieces*out_features, in_features)``, ``linear.bias``,
    initialized like ``nn.Linear``.
    """

    @integer_arguments(counts=("in_features", "out_features", "pieces"))
    def __init__(self, in_features, out_features, pieces=2, bias=True, device=None,
                 dtype=None):
        super().__init__()
        if pieces < 1:
            raise ValueError(f"Maxout: pieces must be >= 1, got {pieces}")
        from ember.nn.modules.linear import Linear
        self.in_features, self.out_features, self.pieces = in_features, out_features, pieces
        self.linear = Linear(in_features, out_features * pieces, bias=bias, dtype=dtype)

    def forward(self, input):
        return F.maxout(self.linear(input), self.pieces, dim=-1)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"pieces={self.pieces}")



# torch defines MultiheadAttention in torch/nn/modules/activation.py; programs import it
# from there (``from torch.nn.modules.activation import MultiheadAttention``)
from ember.nn.modules.attention import MultiheadAttention  # noqa: E402,F401
