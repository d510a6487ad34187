"""GoogLeNet / Inception v1 (Szegedy et al. 2014; lectures 002 "Inception", 003 "Inception").

An Inception module (inventory B46, D6) runs four branches on the same input — 1x1; 1x1 -> 3x3; 1x1 -> "5x5";
3x3 max-pool -> 1x1 — and concatenates them along channels; the 1x1 convolutions first
shrink the channels so the wide branches stay cheap. Lecture 003's table: 69.8% top-1,
1550 M mult-adds, 6.8 M parameters.

Structure and ``state_dict`` keys are torchvision's, including its known quirk: the "5x5"
branch (``branch3``) uses a 3x3 convolution (pytorch/vision issue 906), so converted
torchvision weights load as they are. 6,624,904 parameters without the auxiliary heads,
13,004,888 with them.
"""
from collections import namedtuple

import ember
from ember import nn
from ember.vision.models._utils import _check_weights

__all__ = ["GoogLeNet", "GoogLeNetOutputs", "Inception", "InceptionAux", "BasicConv2d",
           "googlenet"]

GoogLeNetOutputs = namedtuple("GoogLeNetOutputs", ["logits", "aux_logits2", "aux_logits1"])


class BasicConv2d(nn.Module):
    """Conv (no bias) -> BatchNorm(eps=0.001) -> ReLU; ``kwargs`` go to ``nn.Conv2d``."""

    def __init__(self, in_channels, out_channels, **kwargs):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)))


class Inception(nn.Module):
    """``(N, in_channels, H, W) -> (N, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W)``: the
    concatenation of the four branches."""

    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj,
                 conv_block=None):
        super().__init__()
        if conv_block is None:
            conv_block = BasicConv2d
        self.branch1 = conv_block(in_channels, ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(
            conv_block(in_channels, ch3x3red, kernel_size=1),
            conv_block(ch3x3red, ch3x3, kernel_size=3, padding=1),
        )
        self.branch3 = nn.Sequential(
            conv_block(in_channels, ch5x5red, kernel_size=1),
            conv_block(ch5x5red, ch5x5, kernel_size=3, padding=1),  # torchvision's 3x3
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
            conv_block(in_channels, pool_proj, kernel_size=1),
        )

    def forward(self, x):
        return ember.cat([self.branch1(x), self.branch2(x), self.branch3(x),
                          self.branch4(x)], 1)


class InceptionAux(nn.Module):
    """Auxiliary classifier on an intermediate map: adaptive avg-pool to 4x4 -> 1x1 conv 128
    -> FC 1024 -> ReLU -> Dropout -> FC ``num_classes``."""

    def __init__(self, in_channels, num_classes, conv_block=None, dropout=0.7):
        super().__init__()
        if conv_block is None:
            conv_block = BasicConv2d
        self.avgpool = nn.AdaptiveAvgPool2d((4, 4))
        self.conv = conv_block(in_channels, 128, kernel_size=1)
        self.fc1 = nn.Linear(2048, 1024)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(p=dropout)
        self.fc2 = nn.Linear(1024, num_classes)

    def forward(self, x):
        x = self.conv(self.avgpool(x))
        x = ember.flatten(x, 1)
        x = self.dropout(self.relu(self.fc1(x)))
        return self.fc2(x)


class GoogLeNet(nn.Module):
    """``(N, 3, H, W) -> (N, num_classes)`` (H, W >= 15), torchvision's signature.

    In training mode with ``aux_logits=True`` the forward returns
    ``GoogLeNetOutputs(logits, aux_logits2, aux_logits1)`` (the heads after inception4d and
    inception4a; the paper adds them to the loss with weight 0.3), otherwise the logits.

    Args:
        num_classes: outputs of ``fc`` (and of the auxiliary heads).
        aux_logits: build the two auxiliary classifiers ``aux1``, ``aux2``.
        transform_input: re-normalize an input standardized with the ImageNet mean/std to
            the ``(x - 0.5) / 0.5`` scaling the original weights were trained on.
        init_weights: conv and linear weights from a normal truncated to ``[-2, 2]`` with
            std 0.01, BatchNorm weight 1 / bias 0 (torchvision's scheme; ``None`` means
            True). False keeps each layer's default initialization.
        dropout, dropout_aux: dropout before ``fc`` and inside the auxiliary heads.
    """

    def __init__(self, num_classes=1000, aux_logits=True, transform_input=False,
                 init_weights=None, blocks=None, dropout=0.2, dropout_aux=0.7):
        super().__init__()
        if blocks is None:
            blocks = [BasicConv2d, Inception, InceptionAux]
        if len(blocks) != 3:
            raise ValueError(f"GoogLeNet: blocks must be [conv_block, inception_block, "
                             f"inception_aux_block], got {len(blocks)} entries")
        if init_weights is None:
            init_weights = True
        conv_block, inception_block, inception_aux_block = blocks
        self.aux_logits = aux_logits
        self.transform_input = transform_input

        self.conv1 = conv_block(3, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = conv_block(64, 64, kernel_size=1)
        self.conv3 = conv_block(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        self.inception3a = inception_block(192, 64, 96, 128, 16, 32, 32)
        self.inception3b = inception_block(256, 128, 128, 192, 32, 96, 64)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        self.inception4a = inception_block(480, 192, 96, 208, 16, 48, 64)
        self.inception4b = inception_block(512, 160, 112, 224, 24, 64, 64)
        self.inception4c = inception_block(512, 128, 128, 256, 24, 64, 64)
        self.inception4d = inception_block(512, 112, 144, 288, 32, 64, 64)
        self.inception4e = inception_block(528, 256, 160, 320, 32, 128, 128)
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)

        self.inception5a = inception_block(832, 256, 160, 320, 32, 128, 128)
        self.inception5b = inception_block(832, 384, 192, 384, 48, 128, 128)

        if aux_logits:
            self.aux1 = inception_aux_block(512, num_classes, dropout=dropout_aux)
            self.aux2 = inception_aux_block(528, num_classes, dropout=dropout_aux)
        else:
            self.aux1 = None
            self.aux2 = None

        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(1024, num_classes)

        if init_weights:
            for m in self.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)

    def _transform_input(self, x):
        if not self.transform_input:
            return x
        scale = ember.tensor([0.229 / 0.5, 0.224 / 0.5, 0.225 / 0.5], dtype=x.dtype)
        shift = ember.tensor([(0.485 - 0.5) / 0.5, (0.456 - 0.5) / 0.5,
                              (0.406 - 0.5) / 0.5], dtype=x.dtype)
        return x * scale.reshape(1, 3, 1, 1) + shift.reshape(1, 3, 1, 1)

    def forward(self, x):
        x = self._transform_input(x)
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool2(self.conv3(self.conv2(x)))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        aux1 = self.aux1(x) if self.aux1 is not None and self.training else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if self.aux2 is not None and self.training else None
        x = self.maxpool4(self.inception4e(x))
        x = self.inception5b(self.inception5a(x))
        x = ember.flatten(self.avgpool(x), 1)
        x = self.fc(self.dropout(x))
        if self.training and self.aux_logits:
            return GoogLeNetOutputs(x, aux2, aux1)
        return x


def googlenet(*, weights=None, **kwargs):
    """torchvision's ``googlenet(weights=None, ...)``; ``kwargs`` go to :class:`GoogLeNet`
    (``num_classes``, ``aux_logits``, ``transform_input``, ``init_weights``, ...)."""
    _check_weights(weights, "googlenet", kwargs)
    return GoogLeNet(**kwargs)
