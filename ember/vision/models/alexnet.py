"""AlexNet (Krizhevsky, Sutskever, Hinton 2012) in its two lecture versions (inventory D2).

- :func:`alexnet` — torchvision's single-tower variant, shown as code in lecture 004
  ("AlexNet"): 64-192-384-256-256 filters, 224x224 input, ``AdaptiveAvgPool2d((6, 6))``,
  61,100,840 parameters. Same module structure and ``state_dict`` keys as torchvision.
- :func:`alexnet_paper` — the paper's network as a single tower, as in the lecture tables
  (001 "Full (simplified) AlexNet architecture", 003 AlexNet table): 96-256-384-384-256
  filters, 227x227 input, local response normalization, 62,378,344 parameters
  (003: "62.4百万"). Output sizes 227 -> 55 -> 27 -> 27 -> 13 -> 13 -> 6.
"""
import ember
from ember import nn
from ember.vision.models._utils import _check_weights

__all__ = ["AlexNet", "alexnet", "AlexNetPaper", "alexnet_paper"]


class AlexNet(nn.Module):
    """torchvision's AlexNet: ``(N, 3, H, W) -> (N, num_classes)`` (any H, W >= 63).

    ``features`` (5 conv + 3 max-pool) -> ``avgpool`` (adaptive, to 6x6) -> flatten 9216 ->
    ``classifier`` (Dropout, FC 4096, ReLU, Dropout, FC 4096, ReLU, FC num_classes).
    Initialization: torch's defaults for each layer, like torchvision.
    """

    def __init__(self, num_classes=1000, dropout=0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(256 * 6 * 6, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x):
        x = self.features(x)
        x = self.avgpool(x)
        x = ember.flatten(x, 1)
        return self.classifier(x)


def alexnet(*, weights=None, **kwargs):
    """torchvision's ``alexnet(weights=None, num_classes=1000, dropout=0.5)``; any
    ``weights`` other than None raises (nothing is ever downloaded)."""
    _check_weights(weights, "alexnet", kwargs)
    return AlexNet(**kwargs)


class AlexNetPaper(nn.Module):
    """The paper's AlexNet as one tower: ``(N, 3, 227, 227) -> (N, num_classes)``.

    ========  ==========================================  ==============
    layer     operation                                   output
    ========  ==========================================  ==============
    conv1     96 11x11, stride 4, pad 0; ReLU             55 x 55 x 96
    pool1     max 3x3, stride 2                           27 x 27 x 96
    norm1     LRN(size 5, alpha 1e-4, beta 0.75, k 2)     27 x 27 x 96
    conv2     256 5x5, pad 2; ReLU                        27 x 27 x 256
    pool2     max 3x3, stride 2                           13 x 13 x 256
    norm2     LRN                                         13 x 13 x 256
    conv3-5   384, 384, 256 3x3, pad 1; ReLU              13 x 13 x 256
    pool5     max 3x3, stride 2                           6 x 6 x 256
    fc6, fc7  Dropout(0.5), FC 4096, ReLU                 4096
    fc8       FC num_classes                              num_classes
    ========  ==========================================  ==============

    The order pool -> norm follows the lecture table (001); the paper normalizes before
    pooling. Neither choice changes the sizes or the 62,378,344 parameters. The paper's
    two-GPU split (grouped conv2/4/5) is not reproduced: every layer sees all channels, as
    in the lecture tables. Initialization is the paper's (lecture 003): weights
    ``N(0, 0.01^2)``, biases 1 in conv2, conv4, conv5 and the hidden FC layers, 0 elsewhere.
    The input must be 227x227 (the 6x6x256 -> 4096 layer fixes it).
    """

    def __init__(self, num_classes=1000, dropout=0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 96, kernel_size=11, stride=4),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0),
            nn.Conv2d(96, 256, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0),
            nn.Conv2d(256, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(256 * 6 * 6, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )
        ones = {self.features[4], self.features[10], self.features[12],
                self.classifier[1], self.classifier[4]}
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.constant_(m.bias, 1.0 if m in ones else 0.0)

    def forward(self, x):
        if tuple(x.shape[-2:]) != (227, 227):
            raise ValueError(f"AlexNetPaper: expected a 227x227 input, got shape "
                             f"{tuple(x.shape)}")
        x = self.features(x)
        x = ember.flatten(x, 1)
        return self.classifier(x)


def alexnet_paper(*, weights=None, **kwargs):
    """The paper's single-tower AlexNet with LRN (:class:`AlexNetPaper`); ``num_classes``,
    ``dropout``. ``weights`` must be None."""
    _check_weights(weights, "alexnet_paper", kwargs)
    return AlexNetPaper(**kwargs)
