"""DenseNet (Huang et al. 2017; lecture 001 "DenseNet": "Shorter connections (like ResNet)
help; why not just connect them all?"; inventory D8).

Inside a dense block every layer receives the concatenation of *all* earlier feature maps
of the block and adds ``growth_rate`` new ones: layer ``i`` sees ``c0 + i * k`` channels.
Each layer is the "DenseNet-BC" bottleneck BN-ReLU-1x1 conv (``bn_size * k`` channels) ->
BN-ReLU-3x3 conv (``k`` channels); transitions between blocks halve the channels (1x1
conv) and the resolution (2x2 average pool). The lectures give no growth rate or block
spec; these are torchvision's, with its module structure and ``state_dict`` keys.
DenseNet-121: 7,978,856 parameters.
"""
from collections import OrderedDict

import ember
import ember.nn.functional as F
from ember import nn
from ember.vision.models._utils import _check_weights

__all__ = ["DenseNet", "densenet121", "densenet161", "densenet169", "densenet201"]


class _DenseLayer(nn.Module):
    """``(N, c0 + i*k, H, W)`` (given as the list of earlier maps) ``-> (N, k, H, W)``."""

    def __init__(self, num_input_features, growth_rate, bn_size, drop_rate):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(num_input_features)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(num_input_features, bn_size * growth_rate, kernel_size=1,
                               stride=1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, kernel_size=3, stride=1,
                               padding=1, bias=False)
        self.drop_rate = float(drop_rate)

    def forward(self, prev_features):
        if isinstance(prev_features, ember.Tensor):
            prev_features = [prev_features]
        concated = ember.cat(prev_features, 1)
        bottleneck = self.conv1(self.relu1(self.norm1(concated)))
        new_features = self.conv2(self.relu2(self.norm2(bottleneck)))
        if self.drop_rate > 0:
            new_features = F.dropout(new_features, p=self.drop_rate, training=self.training)
        return new_features


class _DenseBlock(nn.ModuleDict):
    """``num_layers`` dense layers ``denselayer1..``; output: the input and every new map
    concatenated, ``(N, c0 + num_layers * k, H, W)``."""

    def __init__(self, num_layers, num_input_features, bn_size, growth_rate, drop_rate):
        super().__init__()
        for i in range(num_layers):
            layer = _DenseLayer(num_input_features + i * growth_rate, growth_rate=growth_rate,
                                bn_size=bn_size, drop_rate=drop_rate)
            self.add_module(f"denselayer{i + 1}", layer)

    def forward(self, init_features):
        features = [init_features]
        for _, layer in self.items():
            features.append(layer(features))
        return ember.cat(features, 1)


class _Transition(nn.Sequential):
    """BN -> ReLU -> 1x1 conv (``num_output_features``) -> 2x2 average pool, stride 2."""

    def __init__(self, num_input_features, num_output_features):
        super().__init__()
        self.norm = nn.BatchNorm2d(num_input_features)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(num_input_features, num_output_features, kernel_size=1,
                              stride=1, bias=False)
        self.pool = nn.AvgPool2d(kernel_size=2, stride=2)


class DenseNet(nn.Module):
    """``(N, 3, H, W) -> (N, num_classes)`` (H, W >= 29), torchvision's signature (without
    ``memory_efficient``, which trades compute for memory by checkpointing).

    Args:
        growth_rate: new channels per layer (``k``).
        block_config: layers per dense block, e.g. ``(6, 12, 24, 16)`` for DenseNet-121.
        num_init_features: channels of the 7x7 stem convolution.
        bn_size: bottleneck width multiplier (the 1x1 conv outputs ``bn_size * k``).
        drop_rate: dropout after each dense layer.
        num_classes: outputs of ``classifier``.

    Initialization (torchvision's): conv weights Kaiming-normal, BN weight 1 / bias 0,
    linear bias 0.
    """

    def __init__(self, growth_rate=32, block_config=(6, 12, 24, 16), num_init_features=64,
                 bn_size=4, drop_rate=0, num_classes=1000):
        super().__init__()
        self.features = nn.Sequential(OrderedDict([
            ("conv0", nn.Conv2d(3, num_init_features, kernel_size=7, stride=2, padding=3,
                                bias=False)),
            ("norm0", nn.BatchNorm2d(num_init_features)),
            ("relu0", nn.ReLU(inplace=True)),
            ("pool0", nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),
        ]))
        num_features = num_init_features
        for i, num_layers in enumerate(block_config):
            block = _DenseBlock(num_layers, num_features, bn_size, growth_rate, drop_rate)
            self.features.add_module(f"denseblock{i + 1}", block)
            num_features = num_features + num_layers * growth_rate
            if i != len(block_config) - 1:
                trans = _Transition(num_features, num_features // 2)
                self.features.add_module(f"transition{i + 1}", trans)
                num_features = num_features // 2
        self.features.add_module("norm5", nn.BatchNorm2d(num_features))
        self.relu = nn.ReLU(inplace=True)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Linear(num_features, num_classes)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.Linear):
                nn.init.constant_(m.bias, 0)

    def forward(self, x):
        out = self.avgpool(self.relu(self.features(x)))
        return self.classifier(ember.flatten(out, 1))


def _densenet(name, growth_rate, block_config, num_init_features, weights, kwargs):
    _check_weights(weights, name, kwargs)
    return DenseNet(growth_rate, block_config, num_init_features, **kwargs)


def densenet121(*, weights=None, **kwargs):
    """DenseNet-121: k = 32, blocks (6, 12, 24, 16), 64 stem channels; 7,978,856 params."""
    return _densenet("densenet121", 32, (6, 12, 24, 16), 64, weights, kwargs)


def densenet161(*, weights=None, **kwargs):
    """DenseNet-161: k = 48, blocks (6, 12, 36, 24), 96 stem channels."""
    return _densenet("densenet161", 48, (6, 12, 36, 24), 96, weights, kwargs)


def densenet169(*, weights=None, **kwargs):
    """DenseNet-169: k = 32, blocks (6, 12, 32, 32), 64 stem channels; 14,149,480 params."""
    return _densenet("densenet169", 32, (6, 12, 32, 32), 64, weights, kwargs)


def densenet201(*, weights=None, **kwargs):
    """DenseNet-201: k = 32, blocks (6, 12, 48, 32), 64 stem channels."""
    return _densenet("densenet201", 32, (6, 12, 48, 32), 64, weights, kwargs)
