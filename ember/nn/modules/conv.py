"""Convolution layers: ``Conv1d/2d/3d`` and ``ConvTranspose1d/2d/3d`` (``torch.nn``).

Lecture 004 "LeNet": ``torch.nn.Conv2d(in_channels, out_channels, kernel_size, stride=1,
padding=0, dilation=1, groups=1, bias=True)`` (inventory B6, B15, B16). Output size per
spatial dim (lectures 002/003, inventory B13): ``out = floor((in + 2·padding − dilation·(k − 1) − 1) / stride) + 1``; for the
transposed conv ``out = (in − 1)·stride − 2·padding + dilation·(k − 1) + output_padding + 1``.

``padding_mode`` other than ``'zeros'`` pads with ``F.pad`` (reflect / replicate / circular,
and ``'symmetric'``, the lecture's "Symm: fold sides over" (inventory B14), which torch lacks)
and then convolves with ``padding=0``. ``padding='same'`` keeps the size (stride 1; an even
kernel puts the extra pixel on the right, as torch does); ``'valid'`` is no padding.
"""
import math

import ember
from ember.nn import functional as F
from ember.nn import init
from ember.nn.modules.lazy import LazyModuleMixin
from ember.nn.modules.arguments import integer_arguments
from ember.nn.modules.module import Module
from ember.ops._checks import ntuple
from ember.nn.parameter import Parameter, UninitializedParameter

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d",
           "ConvTranspose3d", "LazyConv1d", "LazyConv2d", "LazyConv3d", "LazyConvTranspose1d",
           "LazyConvTranspose2d", "LazyConvTranspose3d"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular", "symmetric")


class _ConvNd(Module):
    """Shared constructor, initialization and printing of the conv layers."""
    _n = 2
    _transposed = False

    @integer_arguments(counts=("in_channels", "out_channels", "groups"), shapes=("kernel_size",),
                       offsets=("stride", "padding", "dilation", "output_padding"))
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None,
                 output_padding=0):
        super().__init__()
        who = type(self).__name__
        ember.device(device or "cpu")
        n = self._n
        if groups <= 0:
            raise ValueError(f"{who}: groups must be a positive integer, got {groups}")
        if in_channels % groups != 0:
            raise ValueError(f"{who}: in_channels ({in_channels}) must be divisible by groups "
                             f"({groups})")
        if out_channels % groups != 0:
            raise ValueError(f"{who}: out_channels ({out_channels}) must be divisible by groups "
                             f"({groups})")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{who}: padding_mode must be one of {list(_PADDING_MODES)}, got "
                             f"{padding_mode!r}")
        kernel_size = ntuple(kernel_size, n, who, "kernel_size")
        stride = ntuple(stride, n, who, "stride")
        dilation = ntuple(dilation, n, who, "dilation")
        if isinstance(padding, str):
            if self._transposed:
                raise ValueError(f"{who}: padding must be an int or a tuple of ints, got "
                                 f"{padding!r}")
            if padding not in ("same", "valid"):
                raise ValueError(f"{who}: invalid padding string {padding!r}, should be one of "
                                 f"{{'valid', 'same'}}")
            if padding == "same" and any(s != 1 for s in stride):
                raise ValueError(f"{who}: padding='same' is not supported for strided "
                                 f"convolutions (stride={stride})")
        else:
            padding = ntuple(padding, n, who, "padding")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.transposed = self._transposed
        self.output_padding = ntuple(output_padding, n, who, "output_padding")
        self.groups = groups
        self.padding_mode = padding_mode
        # F.pad order: last spatial dim first, (left, right) for each
        if isinstance(padding, str):
            pads = [0, 0] * n
            if padding == "same":
                for d, k, i in zip(dilation, kernel_size, range(n - 1, -1, -1)):
                    total = d * (k - 1)
                    pads[2 * i] = total // 2
                    pads[2 * i + 1] = total - total // 2
            self._reversed_padding_repeated_twice = pads
        else:
            self._reversed_padding_repeated_twice = [p for p in reversed(padding) for _ in (0, 1)]
        if self._transposed:
            shape = (in_channels, out_channels // groups) + kernel_size
        else:
            shape = (out_channels, in_channels // groups) + kernel_size
        self.weight = Parameter(ember.empty(*shape, dtype=dtype))
        if bias:
            self.bias = Parameter(ember.empty(out_channels, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        """weight: ``kaiming_uniform_(a=sqrt(5))``, i.e. ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``;
        bias: ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` with ``fan_in = weight.shape[1] * prod(k)``."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def _check_input(self, input):
        who = type(self).__name__
        if not isinstance(input, ember.Tensor):
            raise TypeError(f"{who}: expected input to be a Tensor, got {type(input).__name__}")
        n = self._n
        if input.dim() not in (n + 1, n + 2):
            raise RuntimeError(f"{who}: expected a {n + 2}-D (batched) or {n + 1}-D (unbatched) "
                               f"input, got a {input.dim()}-D input of shape {tuple(input.shape)}")
        c = input.shape[-n - 1]
        if c != self.in_channels:
            plural = "s" if self.in_channels != 1 else ""
            raise RuntimeError(f"{who}(in_channels={self.in_channels}): expected input with "
                               f"{self.in_channels} channel{plural}, got {c} (shape "
                               f"{tuple(input.shape)})")

    def extra_repr(self):
        s = "{in_channels}, {out_channels}, kernel_size={kernel_size}, stride={stride}"
        if self.padding != (0,) * len(self.padding):
            s += ", padding={padding}"
        if self.dilation != (1,) * len(self.dilation):
            s += ", dilation={dilation}"
        if self.output_padding != (0,) * len(self.output_padding):
            s += ", output_padding={output_padding}"
        if self.groups != 1:
            s += ", groups={groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += ", padding_mode={padding_mode}"
        return s.format(**self.__dict__)


class _Conv(_ConvNd):
    _functional = None

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, device, dtype)

    def _conv_forward(self, input, weight, bias):
        fn = self._functional
        if self.padding_mode != "zeros":
            mode = self.padding_mode
            padded = F.pad(input, self._reversed_padding_repeated_twice, mode=mode)
            return fn(padded, weight, bias, self.stride, 0, self.dilation, self.groups)
        return fn(input, weight, bias, self.stride, self.padding, self.dilation, self.groups)

    def forward(self, input):
        self._check_input(input)
        return self._conv_forward(input, self.weight, self.bias)


class Conv1d(_Conv):
    """1-D convolution (cross-correlation): ``(N, C_in, L) -> (N, C_out, L_out)``.

    Parameters: ``weight (C_out, C_in / groups, k)``, ``bias (C_out,)``.
    """
    _n = 1
    _functional = staticmethod(F.conv1d)


class Conv2d(_Conv):
    """2-D convolution (cross-correlation, lecture 002 "Convolution卷积"):
    ``(N, C_in, H, W) -> (N, C_out, H_out, W_out)``,
    ``out[n, o] = b[o] + Σ_c Σ_{i,j} w[o, c, i, j] · x[n, c, s·y + d·i − p, s·x + d·j − p]``.

    Parameters: ``weight (C_out, C_in / groups, kH, kW)``, ``bias (C_out,)``.

    Lecture 003's first LeNet layer: six 5x5 filters over a grey 32x32 image, 6·(25+1) = 156
    parameters.

    >>> conv = nn.Conv2d(1, 6, 5)
    >>> conv(ember.randn(8, 1, 32, 32)).shape, sum(p.numel() for p in conv.parameters())
    (ember.Size([8, 6, 28, 28]), 156)
    """
    _n = 2
    _functional = staticmethod(F.conv2d)


class Conv3d(_Conv):
    """3-D convolution: ``(N, C_in, D, H, W) -> (N, C_out, D_out, H_out, W_out)``.

    Parameters: ``weight (C_out, C_in / groups, kD, kH, kW)``, ``bias (C_out,)``.
    """
    _n = 3
    _functional = staticmethod(F.conv3d)


class _ConvTransposeNd(_ConvNd):
    _transposed = True
    _functional = None

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros",
                 device=None, dtype=None):
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {type(self).__name__}')
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, device, dtype, output_padding=output_padding)
        who = type(self).__name__
        for op, s, d in zip(self.output_padding, self.stride, self.dilation):
            if op >= max(s, d):
                raise ValueError(f"{who}: output_padding {self.output_padding} must be smaller "
                                 f"than either stride {self.stride} or dilation {self.dilation}")

    def _output_padding(self, input, output_size):
        """The output_padding that makes the output ``output_size`` (torch's rule): the
        smallest size is ``(in − 1)·s − 2p + d·(k − 1) + 1``; up to ``s − 1`` more is allowed."""
        if output_size is None:
            return self.output_padding
        n = self._n
        who = type(self).__name__
        output_size = tuple(int(s) for s in output_size)
        non_spatial = 2 if input.dim() == n + 2 else 1
        if len(output_size) == non_spatial + n:
            output_size = output_size[non_spatial:]
        if len(output_size) != n:
            raise ValueError(f"{who}: output_size must have {n} or {non_spatial + n} elements "
                             f"(got {len(output_size)})")
        result = []
        for d in range(n):
            lo = ((input.shape[d + non_spatial] - 1) * self.stride[d] - 2 * self.padding[d]
                  + self.dilation[d] * (self.kernel_size[d] - 1) + 1)
            hi = lo + self.stride[d] - 1
            if not lo <= output_size[d] <= hi:
                raise ValueError(f"{who}: requested an output size of {output_size}, but valid "
                                 f"sizes range from {lo} to {hi} for dim {d} (for an input of "
                                 f"shape {tuple(input.shape)})")
            result.append(output_size[d] - lo)
        return tuple(result)

    def forward(self, input, output_size=None):
        self._check_input(input)
        output_padding = self._output_padding(input, output_size)
        fn = self._functional
        return fn(input, self.weight, self.bias, self.stride, self.padding, output_padding,
                  self.groups, self.dilation)


class ConvTranspose1d(_ConvTransposeNd):
    """Transposed 1-D convolution (the gradient of Conv1d w.r.t. its input):
    ``(N, C_in, L) -> (N, C_out, L_out)``. ``forward(input, output_size=None)``.

    Parameters: ``weight (C_in, C_out / groups, k)``, ``bias (C_out,)``.
    """
    _n = 1
    _functional = staticmethod(F.conv_transpose1d)


class ConvTranspose2d(_ConvTransposeNd):
    """Transposed 2-D convolution (lecture 003 "转置卷积", learnable upsampling):
    ``(N, C_in, H, W) -> (N, C_out, H_out, W_out)``. ``forward(input, output_size=None)``
    picks the ``output_padding`` that yields ``output_size``.

    Parameters: ``weight (C_in, C_out / groups, kH, kW)``, ``bias (C_out,)``.
    """
    _n = 2
    _functional = staticmethod(F.conv_transpose2d)


class ConvTranspose3d(_ConvTransposeNd):
    """Transposed 3-D convolution: ``(N, C_in, D, H, W) -> (N, C_out, D_out, H_out, W_out)``.

    Parameters: ``weight (C_in, C_out / groups, kD, kH, kW)``, ``bias (C_out,)``.
    """
    _n = 3
    _functional = staticmethod(F.conv_transpose3d)


class _LazyConvMixin(LazyModuleMixin):
    """``in_channels`` from the first input (dim 1 if batched, dim 0 if not); the layer then
    becomes its eager class (see :mod:`ember.nn.modules.lazy`)."""

    def _make_lazy(self, out_channels, bias, device, dtype):
        self.weight = UninitializedParameter(device=device, dtype=dtype)
        self.out_channels = out_channels
        if bias:
            self.bias = UninitializedParameter(device=device, dtype=dtype)

    def reset_parameters(self):
        if not self.has_uninitialized_params() and self.in_channels != 0:
            super().reset_parameters()

    def _in_channels_of(self, input):
        n = self._n
        if input.dim() not in (n + 1, n + 2):
            raise RuntimeError(f"Expected {n + 1}D (unbatched) or {n + 2}D (batched) input to "
                               f"{self._get_name()}, but got input of size: "
                               f"{tuple(input.shape)}")
        return input.shape[1] if input.dim() == n + 2 else input.shape[0]

    def initialize_parameters(self, input, *args, **kwargs):
        if self.has_uninitialized_params():
            self.in_channels = self._in_channels_of(input)
            if self.in_channels % self.groups != 0:
                raise ValueError(f"{self._get_name()}: in_channels ({self.in_channels}) must be "
                                 f"divisible by groups ({self.groups})")
            if self.transposed:
                shape = (self.in_channels, self.out_channels // self.groups)
            else:
                shape = (self.out_channels, self.in_channels // self.groups)
            self.weight.materialize(shape + self.kernel_size)
            if self.bias is not None:
                self.bias.materialize((self.out_channels,))
            self.reset_parameters()
        elif self.in_channels == 0:   # loaded from a state dict
            w = self.weight.shape
            self.in_channels = w[0] if self.transposed else w[1] * self.groups


class _LazyConv(_LazyConvMixin):
    @integer_arguments(counts=("out_channels",))
    def __init__(self, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(0, 0, kernel_size, stride, padding, dilation, groups, False,
                         padding_mode, device, dtype)
        self._make_lazy(out_channels, bias, device, dtype)


class _LazyConvTranspose(_LazyConvMixin):
    @integer_arguments(counts=("out_channels",))
    def __init__(self, out_channels, kernel_size, stride=1, padding=0, output_padding=0,
                 groups=1, bias=True, dilation=1, padding_mode="zeros", device=None,
                 dtype=None):
        super().__init__(0, 0, kernel_size, stride, padding, output_padding, groups, False,
                         dilation, padding_mode, device, dtype)
        self._make_lazy(out_channels, bias, device, dtype)


class LazyConv1d(_LazyConv, Conv1d):
    """:class:`Conv1d` with ``in_channels`` from the first input."""
    cls_to_become = Conv1d


class LazyConv2d(_LazyConv, Conv2d):
    """:class:`Conv2d` with ``in_channels`` from the first input (the d2l book's CNNs)."""
    cls_to_become = Conv2d


class LazyConv3d(_LazyConv, Conv3d):
    """:class:`Conv3d` with ``in_channels`` from the first input."""
    cls_to_become = Conv3d


class LazyConvTranspose1d(_LazyConvTranspose, ConvTranspose1d):
    """:class:`ConvTranspose1d` with ``in_channels`` from the first input."""
    cls_to_become = ConvTranspose1d


class LazyConvTranspose2d(_LazyConvTranspose, ConvTranspose2d):
    """:class:`ConvTranspose2d` with ``in_channels`` from the first input."""
    cls_to_become = ConvTranspose2d


class LazyConvTranspose3d(_LazyConvTranspose, ConvTranspose3d):
    """:class:`ConvTranspose3d` with ``in_channels`` from the first input."""
    cls_to_become = ConvTranspose3d
