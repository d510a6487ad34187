"""Affine layers: ``Identity``, ``Linear``, ``Bilinear`` (``torch.nn``).

Lecture 000 "Implement with PyTorch": ``nn.Linear(in_dim, out_dim)`` computes
``y = x W^T + b``, the fully-connected layer ``ŷ = g(w_0 + X^T W)`` before its activation:
each output is a neuron's weighted sum of its inputs (inventory A1, A2), and a linear
classifier's scores ``W x + b`` are one such layer (inventory F3).
"""
import math

import ember
from ember.nn import functional as F
from ember.nn import init
from ember.nn.modules.lazy import LazyModuleMixin
from ember.nn.modules.arguments import integer_arguments
from ember.nn.modules.module import Module
from ember.nn.parameter import Parameter, UninitializedParameter

__all__ = ["Identity", "Linear", "Bilinear", "LazyLinear"]


class Identity(Module):
    """Returns its input unchanged; accepts (and ignores) any constructor arguments, like
    torch, so it can stand in for another layer."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


def _check_features(module, input, expected, what="input"):
    if not isinstance(input, ember.Tensor):
        raise TypeError(f"{module._get_name()}: expected {what} to be a Tensor, got "
                        f"{type(input).__name__}")
    got = input.shape[-1] if input.dim() else None
    if got != expected:
        raise RuntimeError(f"{module._get_name()}({module.extra_repr()}): expected {what} with "
                           f"{expected} features in the last dimension, got {got} "
                           f"(shape {tuple(input.shape)})")


class Linear(Module):
    """``y = x W^T + b``.

    Shapes: ``(*, in_features) -> (*, out_features)``.
    Parameters: ``weight (out_features, in_features)``, ``bias (out_features,)``, both
    ``U(-1/sqrt(in_features), 1/sqrt(in_features))`` (torch's ``kaiming_uniform_(a=sqrt(5))``).

    >>> layer = nn.Linear(3, 2)
    >>> layer
    Linear(in_features=3, out_features=2, bias=True)
    >>> layer(ember.randn(4, 3)).shape
    ember.Size([4, 2])
    """

    @integer_arguments(counts=("in_features", "out_features"))
    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        ember.device(device or "cpu")
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(ember.empty(out_features, in_features, dtype=dtype))
        if bias:
            self.bias = Parameter(ember.empty(out_features, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_features
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        _check_features(self, input, self.in_features)
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Bilinear(Module):
    """``y_k = x1^T A_k x2 + b_k``.

    Shapes: ``(*, in1_features), (*, in2_features) -> (*, out_features)``.
    Parameters: ``weight (out_features, in1_features, in2_features)``, ``bias
    (out_features,)``, both ``U(-1/sqrt(in1_features), 1/sqrt(in1_features))``.
    """

    @integer_arguments(counts=("in1_features", "in2_features", "out_features"))
    def __init__(self, in1_features, in2_features, out_features, bias=True, device=None,
                 dtype=None):
        super().__init__()
        ember.device(device or "cpu")
        self.in1_features = in1_features
        self.in2_features = in2_features
        self.out_features = out_features
        self.weight = Parameter(ember.empty(out_features, in1_features, in2_features,
                                            dtype=dtype))
        if bias:
            self.bias = Parameter(ember.empty(out_features, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        bound = 1 / math.sqrt(self.weight.shape[1])
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1, input2):
        _check_features(self, input1, self.in1_features, "input1")
        _check_features(self, input2, self.in2_features, "input2")
        return F.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self):
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")


class LazyLinear(LazyModuleMixin, Linear):
    """A :class:`Linear` whose ``in_features`` is the size of the last dimension of the first
    input; then it becomes a ``Linear`` (see :mod:`ember.nn.modules.lazy`).

    ``LazyLinear(out_features, bias=True, device=None, dtype=None)``.

    >>> layer = nn.LazyLinear(3)
    >>> layer
    LazyLinear(in_features=0, out_features=3, bias=True)
    >>> layer(ember.ones(2, 5)).shape
    ember.Size([2, 3])
    >>> layer
    Linear(in_features=5, out_features=3, bias=True)
    """
    cls_to_become = Linear

    @integer_arguments(counts=("out_features",))
    def __init__(self, out_features, bias=True, device=None, dtype=None):
        super().__init__(0, 0, False, device, dtype)
        self.weight = UninitializedParameter(device=device, dtype=dtype)
        self.out_features = out_features
        if bias:
            self.bias = UninitializedParameter(device=device, dtype=dtype)

    def reset_parameters(self):
        if not self.has_uninitialized_params() and self.in_features != 0:
            super().reset_parameters()

    def initialize_parameters(self, input, *args, **kwargs):
        if self.has_uninitialized_params():
            self.in_features = input.shape[-1]
            self.weight.materialize((self.out_features, self.in_features))
            if self.bias is not None:
                self.bias.materialize((self.out_features,))
            self.reset_parameters()
        elif self.in_features == 0:   # loaded from a state dict
            self.in_features = self.weight.shape[1]
