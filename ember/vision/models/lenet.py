"""LeNet-5 as the lectures write it (LeCun et al. 1989/1998; lectures 001 "Case Study:
LeNet-5", 002 "LeNet-5", 004 "LeNet, 1989"; inventory D1).

Lecture 004 gives the network as PyTorch code (the ``Net`` class); :class:`LeNet5` is that
network, layer for layer, with the same ``state_dict`` keys (``conv1``, ``conv2``, ``fc1``,
``fc2``, ``fc3``), so a checkpoint of the lecture's ``Net`` loads into it:

    [1x32x32] -> conv1 6@5x5 -> ReLU -> max-pool 2x2 -> [6x14x14]
              -> conv2 16@5x5 -> ReLU -> max-pool 2x2 -> [16x5x5] -> flatten 400
              -> fc1 120 -> ReLU -> fc2 84 -> ReLU -> fc3 10

61,706 parameters. The pooling and ReLU are modules here (the lecture calls
``F.max_pool2d`` / ``F.relu``) so that ``ember.summary`` and feature extraction see them;
they have no parameters, so the keys do not change.

``padded=True`` is the usual MNIST variant: conv1 gets ``padding=2`` so a 28x28 image
yields the same 28x28 -> 14x14 -> 10x10 -> 5x5 chain (and the same 61,706 parameters).
"""
import ember
from ember import nn
from ember.vision.models._utils import _check_weights

__all__ = ["LeNet5", "lenet5"]


class LeNet5(nn.Module):
    """``(N, in_channels, 32, 32) -> (N, num_classes)`` (``(N, in_channels, 28, 28)`` with
    ``padded=True``). Every layer keeps ``nn.Conv2d`` / ``nn.Linear``'s default init."""

    def __init__(self, num_classes=10, padded=False, in_channels=1):
        super().__init__()
        self.padded = padded
        self.conv1 = nn.Conv2d(in_channels, 6, 5, padding=2 if padded else 0)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d((2, 2))
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(120, 84)
        self.relu4 = nn.ReLU()
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x):
        expected = 28 if self.padded else 32
        if tuple(x.shape[-2:]) != (expected, expected):
            raise ValueError(f"LeNet5(padded={self.padded}): expected {expected}x{expected} "
                             f"inputs, got shape {tuple(x.shape)}")
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        x = ember.flatten(x, 1)
        x = self.relu3(self.fc1(x))
        x = self.relu4(self.fc2(x))
        return self.fc3(x)


def lenet5(*, weights=None, **kwargs):
    """The lecture-004 LeNet (:class:`LeNet5`): ``num_classes=10``, ``padded=False``,
    ``in_channels=1``. ``weights`` must be None."""
    _check_weights(weights, "lenet5", kwargs)
    return LeNet5(**kwargs)
