"""VGG (Simonyan & Zisserman 2014): stacks of 3x3 convolutions (lectures 002 "VGG-16",
003 "VGG"; 004 "VGG"; inventory D4).

"CONV = 3x3 filter, s = 1, same; MAX-POOL = 2x2, s = 2" (002). Two stacked 3x3 layers see
5x5, three see 7x7 (003 "3x3 stacks"), with fewer parameters (27 vs 49 per channel pair)
and more non-linearities. VGG-16 on 224x224: 224 -> 112 -> 56 -> 28 -> 14 -> 7, 138,357,544
parameters. Module structure and ``state_dict`` keys are torchvision's.
"""
import ember
from ember import nn
from ember.vision.models._utils import _check_weights

__all__ = ["VGG", "make_layers", "cfgs", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16",
           "vgg16_bn", "vgg19", "vgg19_bn"]

# Configurations A, B, D, E of the paper (11, 13, 16, 19 weight layers); "M" = 2x2 max pool.
cfgs = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
          512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M"],
}


def make_layers(cfg, batch_norm=False, in_channels=3):
    """The convolutional part: for each number ``v`` in ``cfg`` a ``Conv2d(c, v, 3,
    padding=1)`` (+ ``BatchNorm2d(v)``) + ``ReLU``; for each ``"M"`` a ``MaxPool2d(2, 2)``."""
    layers = []
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        layers.append(nn.Conv2d(in_channels, v, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(v))
        layers.append(nn.ReLU(inplace=True))
        in_channels = v
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """``(N, 3, H, W) -> (N, num_classes)``: ``features`` -> ``AdaptiveAvgPool2d((7, 7))`` ->
    flatten 25088 -> ``classifier`` (FC 4096, ReLU, Dropout, FC 4096, ReLU, Dropout, FC).

    ``init_weights`` (torchvision's scheme): conv weights Kaiming-normal (fan_out, ReLU) and
    zero bias, BatchNorm weight 1 / bias 0, linear weights ``N(0, 0.01^2)`` and zero bias.
    """

    def __init__(self, features, num_classes=1000, init_weights=True, dropout=0.5):
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )
        if init_weights:
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    if m.bias is not None:
                        nn.init.constant_(m.bias, 0)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)
                elif isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, 0, 0.01)
                    nn.init.constant_(m.bias, 0)

    def forward(self, x):
        x = self.features(x)
        x = self.avgpool(x)
        x = ember.flatten(x, 1)
        return self.classifier(x)


def _vgg(name, cfg, batch_norm, weights, kwargs):
    _check_weights(weights, name, kwargs)
    return VGG(make_layers(cfgs[cfg], batch_norm=batch_norm), **kwargs)


def vgg11(*, weights=None, **kwargs):
    """VGG-11 (configuration A): 132,863,336 parameters. ``kwargs`` go to :class:`VGG`."""
    return _vgg("vgg11", "A", False, weights, kwargs)


def vgg11_bn(*, weights=None, **kwargs):
    """VGG-11 with BatchNorm after every conv."""
    return _vgg("vgg11_bn", "A", True, weights, kwargs)


def vgg13(*, weights=None, **kwargs):
    """VGG-13 (configuration B)."""
    return _vgg("vgg13", "B", False, weights, kwargs)


def vgg13_bn(*, weights=None, **kwargs):
    """VGG-13 with BatchNorm."""
    return _vgg("vgg13_bn", "B", True, weights, kwargs)


def vgg16(*, weights=None, **kwargs):
    """VGG-16 (configuration D, the lectures' network): 138,357,544 parameters."""
    return _vgg("vgg16", "D", False, weights, kwargs)


def vgg16_bn(*, weights=None, **kwargs):
    """VGG-16 with BatchNorm."""
    return _vgg("vgg16_bn", "D", True, weights, kwargs)


def vgg19(*, weights=None, **kwargs):
    """VGG-19 (configuration E)."""
    return _vgg("vgg19", "E", False, weights, kwargs)


def vgg19_bn(*, weights=None, **kwargs):
    """VGG-19 with BatchNorm."""
    return _vgg("vgg19_bn", "E", True, weights, kwargs)
