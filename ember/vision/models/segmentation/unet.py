"""U-Net (Ronneberger, Fischer & Brox 2015) as lecture 004 draws it (inventory D12, B24, B25).

The legend of the lecture's figure (`004_25213424c1456006.txt` L633-670) lists every layer
there is: "Max pooling 2*2, Up-conv 2*2, Conv 3*3, Conv 1*1, Copy and crop". The encoder
repeats *two 3x3 convolutions (each followed by ReLU), then a 2x2 max-pool* and doubles the
channels at every level; the decoder repeats *a 2x2 up-convolution (transposed convolution,
stride 2) that halves the channels, the encoder's feature map of the same level copied and
centre-cropped to the up-sampled size and concatenated, then two 3x3 convolutions*; a 1x1
convolution maps the last features to the class scores. Lecture 003 calls the skip
connections "Copy" (`003` L4374-4392: "非常非常常用的结构 用于各式分割、生成模型").

With the paper's unpadded ("valid") 3x3 convolutions each convolution trims one pixel per
side, so the output is smaller than the input — the paper's 572x572 tile gives a 388x388
map, 31,030,658 parameters for 1 input channel and 2 classes::

    572 -> 570 -> 568 --------------------------------- crop 392 -> 390 -> 388 -> 1x1 -> 388
           pool 284 -> 282 -> 280 -------------- crop 200 -> 198 -> 196 -> up 392
                  pool 140 -> 138 -> 136 ---- crop 104 -> 102 -> 100 -> up 200
                         pool 68 -> 66 -> 64 - crop 56 -> 54 -> 52 -> up 104
                                pool 32 -> 30 -> 28 -> up 56

``padded=True`` is the variant that keeps sizes (3x3 convolutions with padding 1, so the
copies need no crop): ``(N, C, H, W) -> (N, num_classes, H, W)`` for ``H`` and ``W``
divisible by ``2 ** depth``. ``base_width`` (64 in the paper) and ``depth`` (4 max-pools)
make the small networks that train on a CPU; ``batch_norm=True`` adds ``BatchNorm2d`` after
every 3x3 convolution (not in the paper; it lets small networks train fast with large
learning rates).
"""
import ember
from ember import nn
from ember.vision.models._utils import _check_weights

__all__ = ["UNet", "unet"]


class DoubleConv(nn.Sequential):
    """Two 3x3 convolutions, each followed by (``BatchNorm2d`` and) ReLU: ``(N, in, H, W) ->
    (N, out, H - 4, W - 4)``, or ``(N, out, H, W)`` with ``padding=1``."""

    def __init__(self, in_channels, out_channels, padding, batch_norm):
        layers = []
        for cin in (in_channels, out_channels):
            layers.append(nn.Conv2d(cin, out_channels, 3, padding=padding, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out_channels))
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class UNet(nn.Module):
    """``(N, in_channels, H, W) -> (N, num_classes, H', W')``: see the module docstring.

    Args:
        in_channels: input channels (1 in the paper: grey microscopy images).
        num_classes: output channels of the final 1x1 convolution (class scores).
        base_width: channels of the first level; level ``k`` has ``base_width * 2**k``.
        depth: the number of 2x2 max-pools (and of up-convolutions).
        padded: 3x3 convolutions with padding 1 (sizes kept, no crop) instead of the
            paper's unpadded ones (output smaller than the input).
        batch_norm: ``BatchNorm2d`` after every 3x3 convolution (whose bias is then left out).

    Modules: ``encoder`` (``depth`` :class:`DoubleConv` blocks), ``pool`` (the 2x2 max-pool),
    ``bottleneck``, ``up`` (``depth`` 2x2 stride-2 ``ConvTranspose2d``, deepest first),
    ``decoder`` (``depth`` blocks), ``classifier`` (the 1x1 convolution). Every layer keeps
    ``nn.Conv2d`` / ``nn.ConvTranspose2d``'s default initialization.
    """

    def __init__(self, in_channels=1, num_classes=2, base_width=64, depth=4, padded=False,
                 batch_norm=False):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("num_classes", num_classes),
                            ("base_width", base_width), ("depth", depth)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"UNet: {name} must be a positive int, got {value!r}")
        self.depth = depth
        self.padded = bool(padded)
        padding = 1 if padded else 0
        widths = [base_width * 2 ** k for k in range(depth + 1)]
        self.encoder = nn.ModuleList(
            DoubleConv(cin, cout, padding, batch_norm)
            for cin, cout in zip([in_channels] + widths[:depth - 1], widths[:depth]))
        self.pool = nn.MaxPool2d(2, 2)
        self.bottleneck = DoubleConv(widths[depth - 1], widths[depth], padding, batch_norm)
        self.up = nn.ModuleList(nn.ConvTranspose2d(widths[k + 1], widths[k], 2, stride=2)
                                for k in reversed(range(depth)))
        self.decoder = nn.ModuleList(DoubleConv(2 * widths[k], widths[k], padding, batch_norm)
                                     for k in reversed(range(depth)))
        self.classifier = nn.Conv2d(widths[0], num_classes, 1)

    def _check_size(self, x):
        if x.ndim != 4:
            raise ValueError(f"UNet: expected input of shape (N, C, H, W), got shape "
                             f"{tuple(x.shape)}")
        h, w = x.shape[-2:]
        if self.padded:
            step = 2 ** self.depth
            if h % step or w % step:
                raise ValueError(f"UNet(padded=True, depth={self.depth}): height and width must "
                                 f"be multiples of {step}, got input of shape {tuple(x.shape)}")
            return
        for side in (h, w):
            valid = valid_unpadded_size(self.depth, side)
            if valid != side:
                raise ValueError(f"UNet(padded=False, depth={self.depth}): every map before a "
                                 f"max-pool must have an even size and every map at least one "
                                 f"pixel; input of shape {tuple(x.shape)} has a side of "
                                 f"{side}, the next side that works is {valid}")

    def forward(self, x):
        self._check_size(x)
        skips = []
        for block in self.encoder:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for up, block, skip in zip(self.up, self.decoder, reversed(skips)):
            x = up(x)
            x = block(ember.cat((crop_to(skip, x), x), 1))
        return self.classifier(x)

    def extra_repr(self):
        return f"depth={self.depth}, padded={self.padded}"


def crop_to(feature, reference):
    """"Copy and crop": the centre of ``feature`` ``(N, C, H, W)`` with ``reference``'s height
    and width (the encoder's map is larger by the pixels its unpadded convolutions kept)."""
    h, w = reference.shape[-2:]
    if tuple(feature.shape[-2:]) == (h, w):
        return feature
    top = (feature.shape[-2] - h) // 2
    left = (feature.shape[-1] - w) // 2
    return feature[:, :, top:top + h, left:left + w]


def unpadded_output_size(depth, side):
    """The output side of the unpadded U-Net of ``depth`` levels for an input side, or None
    when that side does not work: every map before a max-pool must have an even size and
    every map after a 3x3 convolution at least one pixel."""
    for _ in range(depth):
        side -= 4
        if side < 2 or side % 2:
            return None
        side //= 2
    for _ in range(depth + 1):        # the bottleneck, then each up-convolution's level
        side -= 4
        if side < 1:
            return None
        side *= 2
    return side // 2


def valid_unpadded_size(depth, at_least):
    """The smallest input side ``>= at_least`` that the unpadded U-Net of ``depth`` levels
    takes (572 -> 572 for the paper's depth 4)."""
    side = max(int(at_least), 1)
    while unpadded_output_size(depth, side) is None:
        side += 1
    return side


def unet(*, weights=None, **kwargs):
    """:class:`UNet` with the paper's defaults (``in_channels=1``, ``num_classes=2``,
    ``base_width=64``, ``depth=4``, unpadded, no batch norm: 31,030,658 parameters, 572x572
    -> 388x388). ``weights`` must be None."""
    _check_weights(weights, "unet", kwargs)
    return UNet(**kwargs)
