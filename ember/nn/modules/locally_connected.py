"""Locally connected layers: a convolution without weight sharing (not in torch).

Lecture 004 "CNN" (inventory B7): a locally connected layer keeps the conv's local receptive
fields but gives every output position its own filter; adding weight sharing turns it into a
convolution ("local connectivity + weight sharing = convolution", 001 L446–493; "拥有相同感受
野的神经元也可以不共享参数", 003 L1219). For output position ``(i, j)``::

    Y[n, o, i, j] = b[o, i, j] + Σ_{c, p, q} W[o, c, p, q, i, j] · X_pad[n, c, i·s + p·d, j·s + q·d]

Weights ``C_out × C_in × K_h K_w × H_out W_out`` (004 L418–420, "MLP+Local connection"),
against ``C_out × C_in × K_h K_w`` for a conv and ``C_out × C_in × HW × H_out W_out`` for a
fully connected layer. The mechanism is ``F.unfold`` (im2col: the receptive field of each
position as a column) and one matrix product per position, batched over the positions.
"""
import math
import numbers

import ember
from ember.nn import functional as F
from ember.nn import init
from ember.nn.modules.module import Module
from ember.nn.parameter import Parameter

__all__ = ["LocallyConnected1d", "LocallyConnected2d"]


def _size_tuple(n, value, name, who, minimum):
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,) * n
    if len(values) != n or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool)
                                   for v in values):
        raise ValueError(f"{who}: expected {name} to be an int or a tuple of {n} ints, got "
                         f"{value!r}")
    if any(v < minimum for v in values):
        raise ValueError(f"{who}: {name} must be at least {minimum}, got {value!r}")
    return tuple(int(v) for v in values)


class _LocallyConnectedNd(Module):
    _n = 2

    def __init__(self, in_channels, out_channels, input_size, kernel_size, stride=1, padding=0,
                 dilation=1, bias=True, device=None, dtype=None):
        super().__init__()
        ember.device(device or "cpu")
        who, n = type(self).__name__, self._n
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            _size_tuple(1, value, name, who, 1)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.input_size = _size_tuple(n, input_size, "input_size", who, 1)
        self.kernel_size = _size_tuple(n, kernel_size, "kernel_size", who, 1)
        self.stride = _size_tuple(n, stride, "stride", who, 1)
        self.padding = _size_tuple(n, padding, "padding", who, 0)
        self.dilation = _size_tuple(n, dilation, "dilation", who, 1)
        self.output_size = tuple(
            (size + 2 * p - d * (k - 1) - 1) // s + 1 for size, k, s, p, d in
            zip(self.input_size, self.kernel_size, self.stride, self.padding, self.dilation))
        if any(o < 1 for o in self.output_size):
            raise ValueError(f"{who}: kernel_size {self.kernel_size} (dilation {self.dilation}) "
                             f"does not fit the padded input_size {self.input_size} (padding "
                             f"{self.padding})")
        self.weight = Parameter(ember.empty(out_channels, in_channels, *self.kernel_size,
                                            *self.output_size, dtype=dtype))
        if bias:
            self.bias = Parameter(ember.empty(out_channels, *self.output_size, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        """``U(−1/√fan_in, 1/√fan_in)`` with ``fan_in = C_in·∏k`` (one filter's inputs), the
        bound torch's conv layers use for weights and bias."""
        bound = 1 / math.sqrt(self.in_channels * math.prod(self.kernel_size))
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def _as_2d(self, values, fill):
        """A 1-D layer runs as a 2-D one over a height-1 input."""
        return values if self._n == 2 else (fill,) + values

    def forward(self, input):
        who, n = self._get_name(), self._n
        if input.dim() not in (n + 1, n + 2):
            raise ValueError(f"{who}: expected {n + 1}-D (unbatched) or {n + 2}-D input, got "
                             f"input of shape {tuple(input.shape)}")
        batched = input.dim() == n + 2
        x = input if batched else input.unsqueeze(0)
        if x.shape[1] != self.in_channels or tuple(x.shape[2:]) != self.input_size:
            raise ValueError(f"{who}: built for input (N, {self.in_channels}, "
                             f"{', '.join(map(str, self.input_size))}), got input of shape "
                             f"{tuple(input.shape)}")
        if n == 1:
            x = x.unsqueeze(2)
        cols = F.unfold(x, self._as_2d(self.kernel_size, 1), self._as_2d(self.dilation, 1),
                        self._as_2d(self.padding, 0), self._as_2d(self.stride, 1))
        positions = math.prod(self.output_size)
        weight = self.weight.reshape(self.out_channels, -1, positions)
        # (L, N, C_in·∏k) @ (L, C_in·∏k, C_out): one product per output position
        out = ember.matmul(cols.permute(2, 0, 1), weight.permute(2, 1, 0)).permute(1, 2, 0)
        out = out.reshape(x.shape[0], self.out_channels, *self.output_size)
        if self.bias is not None:
            out = out + self.bias
        return out if batched else out.squeeze(0)

    def extra_repr(self):
        s = ("{in_channels}, {out_channels}, input_size={input_size}, "
             "kernel_size={kernel_size}, stride={stride}")
        if self.padding != (0,) * self._n:
            s += ", padding={padding}"
        if self.dilation != (1,) * self._n:
            s += ", dilation={dilation}"
        if self.bias is None:
            s += ", bias=False"
        return s.format(**self.__dict__)


class LocallyConnected1d(_LocallyConnectedNd):
    """Unshared 1-D filters: ``(N, C_in, L) -> (N, C_out, L_out)``, ``L = input_size``.

    Parameters: ``weight (C_out, C_in, K, L_out)``, ``bias (C_out, L_out)``. Lecture 001
    "Weight Sharing" (inventory H12): 7 inputs, 3 hidden units that each see 3 inputs
    (``LocallyConnected1d(1, 1, 7, 3, stride=2, bias=False)``) have 3 × 3 = 9 weights, a conv
    with shared weights 3, a fully connected layer 3 × 7 = 21.
    """
    _n = 1


class LocallyConnected2d(_LocallyConnectedNd):
    """Unshared 2-D filters: ``(N, C_in, H, W) -> (N, C_out, H_out, W_out)``.

    ``LocallyConnected2d(in_channels, out_channels, input_size, kernel_size, stride=1,
    padding=0, dilation=1, bias=True)``; ``input_size = (H, W)`` fixes the number of positions,
    so the layer only accepts that size. ``H_out = ⌊(H + 2p − d·(k − 1) − 1)/s⌋ + 1`` as for
    ``Conv2d``. Parameters: ``weight (C_out, C_in, kH, kW, H_out, W_out)`` and ``bias (C_out,
    H_out, W_out)``, ``U(±1/√(C_in·kH·kW))``. With every position's filter equal it computes
    ``Conv2d`` (inventory B7).
    """
    _n = 2
