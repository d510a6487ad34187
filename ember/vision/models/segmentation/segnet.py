"""SegNet (Badrinarayanan, Kendall & Cipolla 2017): an encoder-decoder whose decoder
upsamples with the encoder's max-pooling indices (inventory B22, B24).

Lecture 003 builds segmentation networks as "卷积 + 池化 来做 下采样/压缩/编码; 反卷积/反池化
来做 上采样/解压缩/解码" (conv + pool to encode, unpool / transposed conv to decode; `003`
L4086-4283) and shows "Unpooling——反池化" (L4692-4711). SegNet's unpooling is *max*
unpooling: each 2x2 max-pool of the encoder remembers where its maximum was
(``return_indices=True``), and the matching decoder stage puts every value back at that
position with zeros elsewhere (``F.max_unpool2d``); convolutions then fill the sparse map in.
Boundaries come back where the encoder found them, without learning any upsampling weights
and without copying whole feature maps as U-Net does.

The encoder is VGG-16's 13 convolutions (each 3x3 + BatchNorm + ReLU) in five stages; the
decoder mirrors it, stage by stage: unpool, then as many 3x3 + BatchNorm + ReLU as the
encoder stage had, the last one narrowing to the next stage's width; a 3x3 convolution maps
the first stage's features to the class scores. ``(N, C, H, W) -> (N, num_classes, H, W)``
for any ``H, W`` (the unpooling restores the encoder's exact sizes, odd ones included).
``widths`` and ``depths`` shrink the network for a CPU.
"""
from ember import nn
from ember.nn import functional as F
from ember.vision.models._utils import _check_weights

__all__ = ["SegNet", "segnet"]


def _conv_bn_relu(in_channels, out_channels):
    return [nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]


class SegNet(nn.Module):
    """``(N, in_channels, H, W) -> (N, num_classes, H, W)``: see the module docstring.

    Args:
        in_channels: input channels.
        num_classes: class scores per pixel (11: CamVid's classes, the paper's data).
        widths: channels of the encoder's stages (VGG-16: 64, 128, 256, 512, 512).
        depths: 3x3 convolutions per stage (VGG-16: 2, 2, 3, 3, 3).

    Modules: ``encoder`` and ``decoder`` (``ModuleList`` of one ``Sequential`` per stage; the
    decoder's are deepest first) and ``classifier``. Convolutions are Kaiming-normal
    initialized (fan_out, ReLU), BatchNorm weight 1 and bias 0.
    """

    def __init__(self, in_channels=3, num_classes=11, widths=(64, 128, 256, 512, 512),
                 depths=(2, 2, 3, 3, 3)):
        super().__init__()
        if len(widths) != len(depths) or not widths:
            raise ValueError(f"SegNet: widths and depths must have the same positive length, "
                             f"got {widths!r} and {depths!r}")
        if any(d < 1 for d in depths):
            raise ValueError(f"SegNet: every stage needs at least one convolution, got depths "
                             f"{depths!r}")
        encoder, channels = [], in_channels
        for width, depth in zip(widths, depths):
            layers = []
            for _ in range(depth):
                layers += _conv_bn_relu(channels, width)
                channels = width
            encoder.append(nn.Sequential(*layers))
        self.encoder = nn.ModuleList(encoder)
        decoder = []
        for stage in reversed(range(len(widths))):
            width = widths[stage]
            narrower = widths[stage - 1] if stage else widths[0]
            layers = []
            for k in range(depths[stage]):
                layers += _conv_bn_relu(width, narrower if k == depths[stage] - 1 else width)
            decoder.append(nn.Sequential(*layers))
        self.decoder = nn.ModuleList(decoder)
        self.classifier = nn.Conv2d(widths[0], num_classes, 3, padding=1)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x):
        if x.ndim != 4:
            raise ValueError(f"SegNet: expected input of shape (N, C, H, W), got shape "
                             f"{tuple(x.shape)}")
        if min(x.shape[-2:]) < 2 ** len(self.encoder):
            raise ValueError(f"SegNet: input of shape {tuple(x.shape)} is too small for "
                             f"{len(self.encoder)} 2x2 max-pools (at least "
                             f"{2 ** len(self.encoder)} pixels a side)")
        pooled = []                        # (indices, size before pooling) per stage
        for stage in self.encoder:
            x = stage(x)
            size = tuple(x.shape[-2:])
            x, indices = F.max_pool2d(x, 2, 2, return_indices=True)
            pooled.append((indices, size))
        for stage, (indices, size) in zip(self.decoder, reversed(pooled)):
            x = stage(F.max_unpool2d(x, indices, 2, 2, output_size=size))
        return self.classifier(x)


def segnet(*, weights=None, **kwargs):
    """:class:`SegNet` on VGG-16's encoder (``in_channels=3``, ``num_classes=11``):
    29,478,411 parameters. ``weights`` must be None."""
    _check_weights(weights, "segnet", kwargs)
    return SegNet(**kwargs)
