"""The original fully convolutional networks on VGG-16: FCN-32s, FCN-16s and FCN-8s (Long,
Shelhamer & Darrell, CVPR 2015; lectures 000 L668-676 and 004 L638, inventory D13, B23, B25).

A classifier becomes a dense predictor by reading its fully connected layers as
convolutions: VGG-16's ``fc6`` (25088 -> 4096 on a 7x7x512 map) is a 7x7 convolution and
``fc7`` a 1x1 one, so the network slides over an image of any size and gives a coarse map of
class scores (``score_fr``, 1/32 of the input). Transposed convolutions ("Up-conv",
"反卷积"; inventory B23) learn to upsample it, and skip connections add finer predictions
from earlier layers (inventory B25):

- **FCN-32s**: ``upscore``, one 64x64 transposed convolution of stride 32, straight to the
  input size.
- **FCN-16s**: ``upscore2`` (4x4, stride 2) doubles the scores, ``score_pool4`` (a 1x1 conv on
  ``pool4``, 1/16) is added, and ``upscore16`` (32x32, stride 16) goes to the input size.
- **FCN-8s**: as FCN-16s, then ``upscore_pool4`` (4x4, stride 2) and ``score_pool3`` (on
  ``pool3``, 1/8) are added before ``upscore8`` (16x16, stride 8).

As in the paper's Caffe definitions, ``conv1_1`` pads the input by 100 pixels, so that any
input size gives score maps large enough to align, pools round up (``ceil_mode=True``),
and every sum and the output crop the larger map at the offset the layers' geometry fixes
(5 for ``pool4``, 9 for ``pool3``; 19, 27 and 31 for the 32s, 16s and 8s outputs), so
``(N, C, H, W) -> (N, num_classes, H, W)`` for every ``H, W``.

Initialization follows the paper: every transposed convolution starts as bilinear
interpolation (:func:`bilinear_upsampling_weight`, no bias), the final one stays fixed
(``requires_grad=False``; "the last deconvolution filters are fixed to bilinear
interpolation"), the class-scoring 1x1 convolutions start at zero; the VGG layers take
torchvision VGG's Kaiming initialization (the paper starts from ImageNet weights:
``features`` has the keys of torchvision's ``vgg16().features``, and ``fc6`` / ``fc7`` take
its ``classifier.0`` / ``classifier.3`` weights reshaped to ``(4096, 512, 7, 7)`` and
``(4096, 4096, 1, 1)``). ``widths`` and ``fc_width`` shrink the network for a CPU.
"""
import numpy as np

import ember
from ember import nn
from ember.vision.models._utils import _check_weights

__all__ = ["FCNVGG16", "bilinear_upsampling_weight", "fcn32s", "fcn16s", "fcn8s"]

# the offsets of the crops (Caffe's crop layers for conv1_1's padding of 100)
_POOL4_OFFSET, _POOL3_OFFSET = 5, 9
_OUTPUT_OFFSET = {32: 19, 16: 27, 8: 31}
# (kernel, stride) of the last transposed convolution
_FINAL_UPSAMPLING = {32: (64, 32), 16: (32, 16), 8: (16, 8)}


def bilinear_upsampling_weight(channels, kernel_size):
    """The ``(channels, channels, k, k)`` weight with which ``ConvTranspose2d(channels,
    channels, k, stride=s)`` (``k = 2 s``) is bilinear upsampling by ``s``, channel by
    channel (FCN's ``upsample_filt``): ``w[c, c, i, j] = (1 - |i - m| / f) (1 - |j - m| / f)``
    with ``f = ceil(k / 2)`` and centre ``m = f - 1`` (odd ``k``) or ``f - 0.5`` (even ``k``),
    zero between different channels."""
    factor = (kernel_size + 1) // 2
    centre = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    taps = 1 - np.abs(np.arange(kernel_size) - centre) / factor
    weight = np.zeros((channels, channels, kernel_size, kernel_size), np.float32)
    weight[np.arange(channels), np.arange(channels)] = np.outer(taps, taps)
    return weight


def _crop(x, offset, height, width):
    return x[:, :, offset:offset + height, offset:offset + width]


class FCNVGG16(nn.Module):
    """``(N, in_channels, H, W) -> (N, num_classes, H, W)``: FCN-``stride``s on VGG-16 (see
    the module docstring).

    Args:
        num_classes: class scores per pixel (21: Pascal VOC's 20 classes and background).
        stride: 32, 16 or 8 (FCN-32s, FCN-16s, FCN-8s).
        in_channels: input channels.
        widths: the channels of VGG-16's five stages (64, 128, 256, 512, 512).
        fc_width: the channels of ``fc6`` and ``fc7`` (4096).
        dropout: the ``Dropout2d`` probability after ``fc6`` and ``fc7`` (0.5).

    Modules: ``features`` (VGG-16's 13 conv + ReLU layers and 5 max-pools, torchvision's
    indices), ``fc6``, ``relu6``, ``drop6``, ``fc7``, ``relu7``, ``drop7``, ``score_fr``, then
    per variant ``upscore`` (32s); ``upscore2``, ``score_pool4``, ``upscore16`` (16s);
    ``upscore2``, ``score_pool4``, ``upscore_pool4``, ``score_pool3``, ``upscore8`` (8s).
    """

    def __init__(self, num_classes=21, stride=32, in_channels=3, widths=(64, 128, 256, 512, 512),
                 fc_width=4096, dropout=0.5):
        super().__init__()
        if stride not in _OUTPUT_OFFSET:
            raise ValueError(f"FCNVGG16: stride must be 32, 16 or 8 (FCN-32s/16s/8s), got "
                             f"{stride!r}")
        if len(widths) != 5:
            raise ValueError(f"FCNVGG16: widths must give VGG-16's 5 stages, got {widths!r}")
        self.stride = stride
        layers, channels = [], in_channels
        for stage, (width, convs) in enumerate(zip(widths, (2, 2, 3, 3, 3))):
            for k in range(convs):
                padding = 100 if stage == 0 and k == 0 else 1
                layers += [nn.Conv2d(channels, width, 3, padding=padding), nn.ReLU(inplace=True)]
                channels = width
            layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
        self.features = nn.Sequential(*layers)
        # the positions of pool3 and pool4 in ``features`` (16 and 23 for VGG-16)
        pools = [i for i, layer in enumerate(layers) if isinstance(layer, nn.MaxPool2d)]
        self._pool3, self._pool4 = pools[2], pools[3]
        self.fc6 = nn.Conv2d(widths[4], fc_width, 7)
        self.relu6 = nn.ReLU(inplace=True)
        self.drop6 = nn.Dropout2d(dropout)
        self.fc7 = nn.Conv2d(fc_width, fc_width, 1)
        self.relu7 = nn.ReLU(inplace=True)
        self.drop7 = nn.Dropout2d(dropout)
        self.score_fr = nn.Conv2d(fc_width, num_classes, 1)
        if stride <= 16:
            self.upscore2 = nn.ConvTranspose2d(num_classes, num_classes, 4, stride=2, bias=False)
            self.score_pool4 = nn.Conv2d(widths[3], num_classes, 1)
        if stride == 8:
            self.upscore_pool4 = nn.ConvTranspose2d(num_classes, num_classes, 4, stride=2,
                                                    bias=False)
            self.score_pool3 = nn.Conv2d(widths[2], num_classes, 1)
        kernel, step = _FINAL_UPSAMPLING[stride]
        self._final_name = {32: "upscore", 16: "upscore16", 8: "upscore8"}[stride]
        setattr(self, self._final_name,
                nn.ConvTranspose2d(num_classes, num_classes, kernel, stride=step, bias=False))
        self._initialize()

    def _initialize(self):
        scoring = {id(m) for name, m in self.named_children() if name.startswith("score")}
        for module in self.modules():
            if isinstance(module, nn.ConvTranspose2d):
                weight = bilinear_upsampling_weight(module.in_channels, module.kernel_size[0])
                with ember.no_grad():
                    module.weight.copy_(ember.from_numpy(weight))
            elif isinstance(module, nn.Conv2d) and id(module) in scoring:
                nn.init.zeros_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(module.bias)
        getattr(self, self._final_name).weight.requires_grad_(False)

    def forward(self, x):
        if x.ndim != 4:
            raise ValueError(f"FCNVGG16: expected input of shape (N, C, H, W), got shape "
                             f"{tuple(x.shape)}")
        height, width = x.shape[-2:]
        h = x
        for index, layer in enumerate(self.features):
            h = layer(h)
            if index == self._pool3:
                pool3 = h
            elif index == self._pool4:
                pool4 = h
        h = self.drop6(self.relu6(self.fc6(h)))
        h = self.drop7(self.relu7(self.fc7(h)))
        h = self.score_fr(h)
        if self.stride <= 16:
            h = self.upscore2(h)
            h = h + _crop(self.score_pool4(pool4), _POOL4_OFFSET, *h.shape[-2:])
        if self.stride == 8:
            h = self.upscore_pool4(h)
            h = h + _crop(self.score_pool3(pool3), _POOL3_OFFSET, *h.shape[-2:])
        h = getattr(self, self._final_name)(h)
        return _crop(h, _OUTPUT_OFFSET[self.stride], height, width)

    def extra_repr(self):
        return f"stride={self.stride}"


def _fcn(name, stride, weights, kwargs):
    _check_weights(weights, name, kwargs)
    return FCNVGG16(stride=stride, **kwargs)


def fcn32s(*, weights=None, **kwargs):
    """FCN-32s (:class:`FCNVGG16` with ``stride=32``): 136,152,917 parameters for 21 classes,
    134,346,581 of them trained (the 64x64 upsampling is fixed). ``weights`` must be None."""
    return _fcn("fcn32s", 32, weights, kwargs)


def fcn16s(*, weights=None, **kwargs):
    """FCN-16s (:class:`FCNVGG16` with ``stride=16``): 134,815,994 parameters for 21 classes,
    134,364,410 of them trained. ``weights`` must be None."""
    return _fcn("fcn16s", 16, weights, kwargs)


def fcn8s(*, weights=None, **kwargs):
    """FCN-8s (:class:`FCNVGG16` with ``stride=8``): 134,489,759 parameters for 21 classes,
    134,376,863 of them trained. ``weights`` must be None."""
    return _fcn("fcn8s", 8, weights, kwargs)
