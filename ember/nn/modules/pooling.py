"""Pooling layers (``torch.nn``): max, average, power-average (LP), adaptive and max-unpool.

Lectures 002/003 "Pooling池化": a window of ``kernel_size`` slides with ``stride`` (default:
the kernel size, non-overlapping) and keeps the max (or mean) of each window; lecture 004's
LeNet uses ``F.max_pool2d(x, (2, 2))`` and AlexNet ``nn.MaxPool2d(kernel_size=3, stride=2)``
and ``nn.AdaptiveAvgPool2d((6, 6))``. Shapes: ``(N, C, *in) -> (N, C, *out)`` with
``out = floor((in + 2·padding − dilation·(k − 1) − 1) / stride) + 1`` (``ceil`` with
``ceil_mode``).
"""
import ember
from ember.nn import functional as F
from ember.nn.modules.module import Module
from ember.ops._checks import ntuple

__all__ = ["MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
           "LPPool1d", "LPPool2d", "LPPool3d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d",
           "AdaptiveAvgPool3d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d",
           "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d", "SpatialPyramidPooling"]


class _MaxPoolNd(Module):
    _functional = None

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, input):
        return self._functional(
            input, self.kernel_size, self.stride, self.padding, self.dilation,
            ceil_mode=self.ceil_mode, return_indices=self.return_indices)

    def extra_repr(self):
        return ("kernel_size={kernel_size}, stride={stride}, padding={padding}, "
                "dilation={dilation}, ceil_mode={ceil_mode}".format(**self.__dict__))


class MaxPool1d(_MaxPoolNd):
    """Max over windows of length ``kernel_size``: ``(N, C, L) -> (N, C, L_out)``.
    With ``return_indices`` also returns the flat argmax indices (for ``MaxUnpool1d``)."""
    _functional = staticmethod(F.max_pool1d)


class MaxPool2d(_MaxPoolNd):
    """Max over ``kH × kW`` windows: ``(N, C, H, W) -> (N, C, H_out, W_out)`` (lecture 002
    "Max Pooling"). With ``return_indices`` also returns the argmax indices into each
    ``H × W`` plane (for ``MaxUnpool2d``)."""
    _functional = staticmethod(F.max_pool2d)


class MaxPool3d(_MaxPoolNd):
    """Max over ``kD × kH × kW`` windows: ``(N, C, D, H, W) -> (N, C, D_out, H_out, W_out)``."""
    _functional = staticmethod(F.max_pool3d)


class AvgPool1d(Module):
    """Mean over windows: ``(N, C, L) -> (N, C, L_out)``. ``count_include_pad`` counts the
    zero padding in the divisor."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True):
        super().__init__()
        who = type(self).__name__
        self.kernel_size = ntuple(kernel_size, 1, who, "kernel_size")
        self.stride = ntuple(stride if stride is not None else kernel_size, 1, who, "stride")
        self.padding = ntuple(padding, 1, who, "padding")
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def forward(self, input):
        return F.avg_pool1d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _AvgPoolNd(Module):
    _functional = None

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input):
        return self._functional(input, self.kernel_size, self.stride, self.padding,
                                            self.ceil_mode, self.count_include_pad,
                                            self.divisor_override)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(_AvgPoolNd):
    """Mean over ``kH × kW`` windows (lecture 003 "Avg Pool"): ``(N, C, H, W) -> (N, C, H_out,
    W_out)``. ``divisor_override`` replaces the window size in the divisor."""
    _functional = staticmethod(F.avg_pool2d)


class AvgPool3d(_AvgPoolNd):
    """Mean over ``kD × kH × kW`` windows: ``(N, C, D, H, W) -> (N, C, D_out, H_out, W_out)``."""
    _functional = staticmethod(F.avg_pool3d)


class _LPPoolNd(Module):
    _functional = None

    def __init__(self, norm_type, kernel_size, stride=None, ceil_mode=False):
        super().__init__()
        self.norm_type = norm_type
        self.kernel_size = kernel_size
        self.stride = stride
        self.ceil_mode = ceil_mode

    def forward(self, input):
        return self._functional(input, float(self.norm_type), self.kernel_size,
                                            self.stride, self.ceil_mode)

    def extra_repr(self):
        return ("norm_type={norm_type}, kernel_size={kernel_size}, stride={stride}, "
                "ceil_mode={ceil_mode}".format(**self.__dict__))


class LPPool1d(_LPPoolNd):
    """Power-average pooling ``(Σ_window x^p)^{1/p}``: ``(N, C, L) -> (N, C, L_out)``."""
    _functional = staticmethod(F.lp_pool1d)


class LPPool2d(_LPPoolNd):
    """Power-average pooling ``(Σ_window x^p)^{1/p}``: ``(N, C, H, W) -> (N, C, H_out, W_out)``."""
    _functional = staticmethod(F.lp_pool2d)


class LPPool3d(_LPPoolNd):
    """Power-average pooling over ``kD × kH × kW`` windows."""
    _functional = staticmethod(F.lp_pool3d)


class _AdaptiveAvgPoolNd(Module):
    _functional = None

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input):
        return self._functional(input, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd):
    """Average pooling to a fixed ``output_size``: ``(N, C, L) -> (N, C, output_size)``."""
    _functional = staticmethod(F.adaptive_avg_pool1d)


class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd):
    """Average pooling to a fixed ``output_size`` (``None`` keeps that dim): ``(N, C, H, W)
    -> (N, C, *output_size)``; window ``i`` spans ``[floor(i·H/out), ceil((i+1)·H/out))``.
    AlexNet (lecture 004) uses ``AdaptiveAvgPool2d((6, 6))``."""
    _functional = staticmethod(F.adaptive_avg_pool2d)


class AdaptiveAvgPool3d(_AdaptiveAvgPoolNd):
    """Average pooling to a fixed ``output_size``: ``(N, C, D, H, W) -> (N, C, *output_size)``."""
    _functional = staticmethod(F.adaptive_avg_pool3d)


class _AdaptiveMaxPoolNd(Module):
    _functional = None

    def __init__(self, output_size, return_indices=False):
        super().__init__()
        self.output_size = output_size
        self.return_indices = return_indices

    def forward(self, input):
        return self._functional(input, self.output_size, self.return_indices)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    """Max pooling to a fixed ``output_size``: ``(N, C, L) -> (N, C, output_size)``."""
    _functional = staticmethod(F.adaptive_max_pool1d)


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    """Max pooling to a fixed ``output_size``: ``(N, C, H, W) -> (N, C, *output_size)``."""
    _functional = staticmethod(F.adaptive_max_pool2d)


class AdaptiveMaxPool3d(_AdaptiveMaxPoolNd):
    """Max pooling to a fixed ``output_size``: ``(N, C, D, H, W) -> (N, C, *output_size)``."""
    _functional = staticmethod(F.adaptive_max_pool3d)


class _MaxUnpoolNd(Module):
    _functional = None
    _n = 2

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        n = self._n
        who = type(self).__name__
        self.kernel_size = ntuple(kernel_size, n, who, "kernel_size")
        self.stride = ntuple(stride if stride is not None else kernel_size, n, who, "stride")
        self.padding = ntuple(padding, n, who, "padding")

    def forward(self, input, indices, output_size=None):
        return self._functional(input, indices, self.kernel_size, self.stride,
                                            self.padding, output_size)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    """Partial inverse of ``MaxPool1d``: each value goes back to its argmax position, zeros
    elsewhere. ``forward(input, indices, output_size=None)``."""
    _functional = staticmethod(F.max_unpool1d)
    _n = 1


class MaxUnpool2d(_MaxUnpoolNd):
    """Partial inverse of ``MaxPool2d`` (lecture 003 "Unpooling——反池化", max-unpooling):
    ``forward(input, indices, output_size=None)``."""
    _functional = staticmethod(F.max_unpool2d)
    _n = 2


class MaxUnpool3d(_MaxUnpoolNd):
    """Partial inverse of ``MaxPool3d``. ``forward(input, indices, output_size=None)``."""
    _functional = staticmethod(F.max_unpool3d)
    _n = 3


class SpatialPyramidPooling(Module):
    """Spatial pyramid pooling (He et al. 2014; lecture 003 「语义分割变种: DeepLab」, inventory
    B21): pool the feature map to an ``l × l`` grid for every pyramid level ``l`` and
    concatenate the flattened grids, so that any input size gives the same output length::

        (N, C, H, W) -> (N, C · Σ_l l²)       e.g. levels (4, 2, 1): 16·C + 4·C + C

    The slide's figure: the last conv layer (conv5) has 256 filters, so the pyramid gives a
    (16 + 4 + 1)·256 = 5376-d vector whatever the image size. Each level is
    ``F.adaptive_max_pool2d`` (``mode='max'``, the paper's) or ``F.adaptive_avg_pool2d``
    (``mode='avg'``); within a level the order is channel-major, as ``flatten`` gives. A 3-D
    ``(C, H, W)`` input gives ``(C · Σ l²,)``. Not in torch.
    """

    def __init__(self, levels=(4, 2, 1), mode="max"):
        super().__init__()
        levels = tuple(levels) if isinstance(levels, (tuple, list)) else (levels,)
        if not levels or not all(isinstance(l, int) and not isinstance(l, bool) and l >= 1
                                 for l in levels):
            raise ValueError(f"SpatialPyramidPooling: levels must be positive ints, got "
                             f"{levels!r}")
        if mode not in ("max", "avg"):
            raise ValueError(f"SpatialPyramidPooling: mode must be 'max' or 'avg', got {mode!r}")
        self.levels = levels
        self.mode = mode

    def forward(self, input):
        if input.dim() not in (3, 4):
            raise ValueError(f"SpatialPyramidPooling: expected (N, C, H, W) or (C, H, W) input, "
                             f"got input of shape {tuple(input.shape)}")
        pool = F.adaptive_max_pool2d if self.mode == "max" else F.adaptive_avg_pool2d
        start = input.dim() - 3
        return ember.cat([ember.flatten(pool(input, level), start) for level in self.levels],
                         dim=start)

    def extra_repr(self):
        return f"levels={self.levels}, mode={self.mode!r}"
