"""``Unfold`` (im2col) and ``Fold`` (col2im) (``torch.nn``).

``Unfold`` extracts every sliding ``kernel_size`` block: ``(N, C, H, W) -> (N, C·∏k, L)`` with
``L`` the number of block positions -- the matrix whose product with the flattened filters is
a convolution (lecture 002 "卷积的矩阵形式"). ``Fold`` sums blocks back into an image.
"""
from ember.nn import functional as F
from ember.nn.modules.module import Module

__all__ = ["Fold", "Unfold"]


class Fold(Module):
    """col2im: ``(N, C·∏k, L) -> (N, C, *output_size)``, overlapping values summed."""

    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.output_size = output_size
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.padding = padding
        self.stride = stride

    def forward(self, input):
        return F.fold(input, self.output_size, self.kernel_size, self.dilation, self.padding,
                      self.stride)

    def extra_repr(self):
        return ("output_size={output_size}, kernel_size={kernel_size}, dilation={dilation}, "
                "padding={padding}, stride={stride}".format(**self.__dict__))


class Unfold(Module):
    """im2col: ``(N, C, H, W) -> (N, C·kH·kW, L)``."""

    def __init__(self, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.padding = padding
        self.stride = stride

    def forward(self, input):
        return F.unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self):
        return ("kernel_size={kernel_size}, dilation={dilation}, padding={padding}, "
                "stride={stride}".format(**self.__dict__))
