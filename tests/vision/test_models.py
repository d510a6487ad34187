"""ember.vision.models: parameter counts, torchvision state_dict compatibility (keys, shapes,
and the same outputs and gradients as a plain-torch build of torchvision's architecture
with the same weights), forward + backward of every model, and that each family learns.

torchvision is not installed: the reference architectures are re-stated below in plain
torch, following torchvision's definitions, and a few keys are written out literally.
"""
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn as tnn
import torch.nn.functional as TF

import ember
import ember.nn as nn
import ember.vision.models as M
from ember.vision.models.vgg import VGG, cfgs, make_layers
from tests.harness import assert_close


@pytest.fixture(autouse=True)
def _seed_torch():
    torch.manual_seed(0)


def n_params(model):
    return sum(p.numel() for p in model.parameters())


# ------------------------------------------------------------------------------------------
# Plain-torch restatements of torchvision's architectures (the oracle for keys and numerics)
# ------------------------------------------------------------------------------------------
def torch_alexnet(num_classes=1000, dropout=0.5):
    class AlexNet(tnn.Module):
        def __init__(self):
            super().__init__()
            self.features = tnn.Sequential(
                tnn.Conv2d(3, 64, 11, 4, 2), tnn.ReLU(), tnn.MaxPool2d(3, 2),
                tnn.Conv2d(64, 192, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(3, 2),
                tnn.Conv2d(192, 384, 3, padding=1), tnn.ReLU(),
                tnn.Conv2d(384, 256, 3, padding=1), tnn.ReLU(),
                tnn.Conv2d(256, 256, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(3, 2))
            self.avgpool = tnn.AdaptiveAvgPool2d((6, 6))
            self.classifier = tnn.Sequential(
                tnn.Dropout(dropout), tnn.Linear(9216, 4096), tnn.ReLU(), tnn.Dropout(dropout),
                tnn.Linear(4096, 4096), tnn.ReLU(), tnn.Linear(4096, num_classes))

        def forward(self, x):
            return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))
    return AlexNet()


def torch_vgg11(num_classes=1000, dropout=0.5):
    layers, c = [], 3
    for v in [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]:
        if v == "M":
            layers.append(tnn.MaxPool2d(2, 2))
        else:
            layers += [tnn.Conv2d(c, v, 3, padding=1), tnn.ReLU()]
            c = v

    class VGG(tnn.Module):
        def __init__(self):
            super().__init__()
            self.features = tnn.Sequential(*layers)
            self.avgpool = tnn.AdaptiveAvgPool2d((7, 7))
            self.classifier = tnn.Sequential(
                tnn.Linear(25088, 4096), tnn.ReLU(), tnn.Dropout(dropout),
                tnn.Linear(4096, 4096), tnn.ReLU(), tnn.Dropout(dropout),
                tnn.Linear(4096, num_classes))

        def forward(self, x):
            return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))
    return VGG()


def torch_resnet18(num_classes=1000):
    class Block(tnn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = tnn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = tnn.BatchNorm2d(cout)
            self.relu = tnn.ReLU()
            self.conv2 = tnn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = tnn.BatchNorm2d(cout)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = tnn.Sequential(tnn.Conv2d(cin, cout, 1, stride, bias=False),
                                                 tnn.BatchNorm2d(cout))

        def forward(self, x):
            out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
            return self.relu(out + (x if self.downsample is None else self.downsample(x)))

    class ResNet(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = tnn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = tnn.BatchNorm2d(64)
            self.relu = tnn.ReLU()
            self.maxpool = tnn.MaxPool2d(3, 2, 1)
            cin = 64
            for i, c in enumerate([64, 128, 256, 512]):
                stride = 1 if i == 0 else 2
                setattr(self, f"layer{i + 1}", tnn.Sequential(Block(cin, c, stride),
                                                              Block(c, c, 1)))
                cin = c
            self.avgpool = tnn.AdaptiveAvgPool2d((1, 1))
            self.fc = tnn.Linear(512, num_classes)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))
    return ResNet()


def torch_mobilenet_v2(num_classes=1000, width_mult=1.0, dropout=0.2):
    def divisible(v, d=8):
        new_v = max(d, int(v + d / 2) // d * d)
        return new_v + d if new_v < 0.9 * v else new_v

    def cna(cin, cout, k=3, stride=1, groups=1):
        return tnn.Sequential(tnn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups,
                                         bias=False), tnn.BatchNorm2d(cout), tnn.ReLU6())

    class InvertedResidual(tnn.Module):
        def __init__(self, inp, oup, stride, t):
            super().__init__()
            hidden = int(round(inp * t))
            self.use_res = stride == 1 and inp == oup
            layers = [cna(inp, hidden, 1)] if t != 1 else []
            layers += [cna(hidden, hidden, 3, stride, hidden),
                       tnn.Conv2d(hidden, oup, 1, 1, 0, bias=False), tnn.BatchNorm2d(oup)]
            self.conv = tnn.Sequential(*layers)

        def forward(self, x):
            return x + self.conv(x) if self.use_res else self.conv(x)

    class MobileNetV2(tnn.Module):
        def __init__(self):
            super().__init__()
            cin = divisible(32 * width_mult)
            last = divisible(1280 * max(1.0, width_mult))
            feats = [cna(3, cin, stride=2)]
            for t, c, n, s in [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2],
                               [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]]:
                cout = divisible(c * width_mult)
                for i in range(n):
                    feats.append(InvertedResidual(cin, cout, s if i == 0 else 1, t))
                    cin = cout
            feats.append(cna(cin, last, 1))
            self.features = tnn.Sequential(*feats)
            self.classifier = tnn.Sequential(tnn.Dropout(dropout), tnn.Linear(last, num_classes))

        def forward(self, x):
            x = TF.adaptive_avg_pool2d(self.features(x), (1, 1))
            return self.classifier(torch.flatten(x, 1))
    return MobileNetV2()


def torch_densenet(growth_rate=32, block_config=(6, 12, 24, 16), num_init_features=64,
                   bn_size=4, num_classes=1000):
    class DenseLayer(tnn.Module):
        def __init__(self, cin):
            super().__init__()
            self.norm1 = tnn.BatchNorm2d(cin)
            self.relu1 = tnn.ReLU()
            self.conv1 = tnn.Conv2d(cin, bn_size * growth_rate, 1, bias=False)
            self.norm2 = tnn.BatchNorm2d(bn_size * growth_rate)
            self.relu2 = tnn.ReLU()
            self.conv2 = tnn.Conv2d(bn_size * growth_rate, growth_rate, 3, padding=1, bias=False)

        def forward(self, feats):
            x = self.conv1(self.relu1(self.norm1(torch.cat(feats, 1))))
            return self.conv2(self.relu2(self.norm2(x)))

    class DenseBlock(tnn.ModuleDict):
        def __init__(self, n, cin):
            super().__init__()
            for i in range(n):
                self.add_module(f"denselayer{i + 1}", DenseLayer(cin + i * growth_rate))

        def forward(self, x):
            feats = [x]
            for _, layer in self.items():
                feats.append(layer(feats))
            return torch.cat(feats, 1)

    class DenseNet(tnn.Module):
        def __init__(self):
            super().__init__()
            self.features = tnn.Sequential(OrderedDict([
                ("conv0", tnn.Conv2d(3, num_init_features, 7, 2, 3, bias=False)),
                ("norm0", tnn.BatchNorm2d(num_init_features)), ("relu0", tnn.ReLU()),
                ("pool0", tnn.MaxPool2d(3, 2, 1))]))
            c = num_init_features
            for i, n in enumerate(block_config):
                self.features.add_module(f"denseblock{i + 1}", DenseBlock(n, c))
                c += n * growth_rate
                if i != len(block_config) - 1:
                    self.features.add_module(f"transition{i + 1}", tnn.Sequential(OrderedDict([
                        ("norm", tnn.BatchNorm2d(c)), ("relu", tnn.ReLU()),
                        ("conv", tnn.Conv2d(c, c // 2, 1, bias=False)),
                        ("pool", tnn.AvgPool2d(2, 2))])))
                    c //= 2
            self.features.add_module("norm5", tnn.BatchNorm2d(c))
            self.classifier = tnn.Linear(c, num_classes)

        def forward(self, x):
            out = TF.adaptive_avg_pool2d(TF.relu(self.features(x)), (1, 1))
            return self.classifier(torch.flatten(out, 1))
    return DenseNet()


def torch_googlenet(num_classes=1000, aux_logits=True, dropout=0.2, dropout_aux=0.7):
    class BasicConv2d(tnn.Module):
        def __init__(self, cin, cout, **kw):
            super().__init__()
            self.conv = tnn.Conv2d(cin, cout, bias=False, **kw)
            self.bn = tnn.BatchNorm2d(cout, eps=0.001)

        def forward(self, x):
            return TF.relu(self.bn(self.conv(x)))

    class Inception(tnn.Module):
        def __init__(self, cin, c1, c3r, c3, c5r, c5, pp):
            super().__init__()
            self.branch1 = BasicConv2d(cin, c1, kernel_size=1)
            self.branch2 = tnn.Sequential(BasicConv2d(cin, c3r, kernel_size=1),
                                          BasicConv2d(c3r, c3, kernel_size=3, padding=1))
            self.branch3 = tnn.Sequential(BasicConv2d(cin, c5r, kernel_size=1),
                                          BasicConv2d(c5r, c5, kernel_size=3, padding=1))
            self.branch4 = tnn.Sequential(tnn.MaxPool2d(3, 1, 1, ceil_mode=True),
                                          BasicConv2d(cin, pp, kernel_size=1))

        def forward(self, x):
            return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x),
                              self.branch4(x)], 1)

    class InceptionAux(tnn.Module):
        def __init__(self, cin):
            super().__init__()
            self.conv = BasicConv2d(cin, 128, kernel_size=1)
            self.fc1 = tnn.Linear(2048, 1024)
            self.fc2 = tnn.Linear(1024, num_classes)

        def forward(self, x):
            x = torch.flatten(self.conv(TF.adaptive_avg_pool2d(x, (4, 4))), 1)
            x = TF.dropout(TF.relu(self.fc1(x)), dropout_aux, training=self.training)
            return self.fc2(x)

    class GoogLeNet(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = BasicConv2d(3, 64, kernel_size=7, stride=2, padding=3)
            self.maxpool1 = tnn.MaxPool2d(3, 2, ceil_mode=True)
            self.conv2 = BasicConv2d(64, 64, kernel_size=1)
            self.conv3 = BasicConv2d(64, 192, kernel_size=3, padding=1)
            self.maxpool2 = tnn.MaxPool2d(3, 2, ceil_mode=True)
            self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32)
            self.inception3b = Inception(256, 128, 128, 192, 32, 96, 64)
            self.maxpool3 = tnn.MaxPool2d(3, 2, ceil_mode=True)
            self.inception4a = Inception(480, 192, 96, 208, 16, 48, 64)
            self.inception4b = Inception(512, 160, 112, 224, 24, 64, 64)
            self.inception4c = Inception(512, 128, 128, 256, 24, 64, 64)
            self.inception4d = Inception(512, 112, 144, 288, 32, 64, 64)
            self.inception4e = Inception(528, 256, 160, 320, 32, 128, 128)
            self.maxpool4 = tnn.MaxPool2d(2, 2, ceil_mode=True)
            self.inception5a = Inception(832, 256, 160, 320, 32, 128, 128)
            self.inception5b = Inception(832, 384, 192, 384, 48, 128, 128)
            self.aux1 = InceptionAux(512) if aux_logits else None
            self.aux2 = InceptionAux(528) if aux_logits else None
            self.avgpool = tnn.AdaptiveAvgPool2d((1, 1))
            self.dropout = tnn.Dropout(dropout)
            self.fc = tnn.Linear(1024, num_classes)

        def forward(self, x):
            x = self.maxpool2(self.conv3(self.conv2(self.maxpool1(self.conv1(x)))))
            x = self.inception4a(self.maxpool3(self.inception3b(self.inception3a(x))))
            a1 = self.aux1(x) if self.aux1 is not None and self.training else None
            x = self.inception4d(self.inception4c(self.inception4b(x)))
            a2 = self.aux2(x) if self.aux2 is not None and self.training else None
            x = self.inception5b(self.inception5a(self.maxpool4(self.inception4e(x))))
            x = self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))
            return (x, a2, a1) if self.training and aux_logits else x
    return GoogLeNet()


# ------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------
def load_torch_weights(ember_model, torch_model):
    """Convert a torch state_dict to NumPy and load it (strict) into the Ember model."""
    sd = {k: v.detach().numpy().copy() for k, v in torch_model.state_dict().items()}
    if any(v.dtype == np.float64 for v in sd.values()):
        ember_model.double()
    ember_model.load_state_dict({k: ember.from_numpy(v) for k, v in sd.items()})


def assert_same_state_dict_layout(ember_model, torch_model):
    esd, tsd = ember_model.state_dict(), torch_model.state_dict()
    assert list(esd.keys()) == list(tsd.keys())
    for k in tsd:
        assert tuple(esd[k].shape) == tuple(tsd[k].shape), k


def parity_forward_backward(ember_model, torch_model, x, train, float64=True):
    """Same weights -> same outputs; in training mode also the same input and parameter
    gradients of sum(out * g) for a random g. Run in float64 (tolerance 1e-7) so that the
    comparison is tight even through BatchNorm on tiny batches, which amplifies float32
    rounding; the two big BatchNorm-free nets (AlexNet, VGG) compare in float32 (1e-4)."""
    if float64:
        torch_model.double()
        x = x.astype(np.float64)
    rtol = atol = 1e-7 if float64 else 1e-4
    load_torch_weights(ember_model, torch_model)
    ember_model.train(train)
    torch_model.train(train)
    xe = ember.from_numpy(x.copy()).requires_grad_(train)
    xt = torch.from_numpy(x.copy()).requires_grad_(train)
    if not train:
        with ember.no_grad():
            ye = ember_model(xe)
        with torch.no_grad():
            yt = torch_model(xt)
        assert_close(ye.detach().numpy(), yt.detach().numpy(), rtol, atol, "output")
        return
    ye, yt = ember_model(xe), torch_model(xt)
    ye = ye[0] if isinstance(ye, tuple) else ye
    yt = yt[0] if isinstance(yt, tuple) else yt
    assert_close(ye.detach().numpy(), yt.detach().numpy(), rtol, atol, "output")
    g = np.random.randn(*yt.shape)
    (ye * ember.from_numpy(g)).sum().backward()
    (yt * torch.from_numpy(g)).sum().backward()
    assert_close(xe.grad.numpy(), xt.grad.numpy(), rtol, atol, "input grad")
    tparams = dict(torch_model.named_parameters())
    for name, p in ember_model.named_parameters():
        if tparams[name].grad is None:
            assert p.grad is None or not np.any(p.grad.numpy()), name
            continue
        assert_close(p.grad.numpy(), tparams[name].grad.numpy(), rtol, atol, name)


# ------------------------------------------------------------------------------------------
# Parameter counts (lecture and torchvision references)
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("builder, kwargs, expected", [
    ("lenet5", {}, 61_706),                         # 004 Net, derived in the inventory
    ("lenet5", {"padded": True}, 61_706),
    ("alexnet", {}, 61_100_840),                    # torchvision AlexNet (004 code)
    ("resnet18", {}, 11_689_512),
    ("resnet34", {}, 21_797_672),
    ("resnet50", {}, 25_557_032),
    ("resnext50_32x4d", {}, 25_028_904),
    ("densenet121", {}, 7_978_856),
    ("densenet169", {}, 14_149_480),
    ("densenet161", {}, 28_681_000),
    ("densenet201", {}, 20_013_928),
    ("googlenet", {}, 13_004_888),
    ("googlenet", {"aux_logits": False}, 6_624_904),  # 003 table: "6.8" M
    ("mobilenet_v2", {}, 3_504_872),
    ("mobilenet_v1", {}, 4_231_976),                # 003 table: 1.0 MobileNet-224 "4.2"
    ("mobilenet_v1", {"width_mult": 0.5, "resolution": 160}, 1_331_592),   # "1.32"
    ("resnet20", {}, 269_722),                      # He et al.: 0.27M
    ("resnet56", {}, 853_018),                      # He et al.: 0.85M
    ("one_vs_seven", {}, 3 * (16 * 16 + 16) + 17),
])
def test_parameter_counts(builder, kwargs, expected):
    # inventory H12
    assert n_params(M.get_model(builder, **kwargs)) == expected


@pytest.mark.parametrize("cfg, batch_norm, total", [
    ("A", False, 132_863_336), ("B", False, 133_047_848), ("D", False, 138_357_544),
    ("E", False, 143_667_240), ("A", True, 132_868_840), ("B", True, 133_053_736),
    ("D", True, 138_365_992), ("E", True, 143_678_248),
])
def test_vgg_configurations(cfg, batch_norm, total):
    """torchvision's totals for vgg11/13/16/19(_bn) = the conv part built by make_layers +
    the fixed classifier (25088 -> 4096 -> 4096 -> 1000); the classifier is not built here
    because initializing its 120 M weights dominates the cost."""
    # inventory D4
    classifier = (25088 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000)
    assert n_params(make_layers(cfgs[cfg], batch_norm=batch_norm)) + classifier == total


def test_alexnet_paper_parameters_init_and_forward():
    # inventory D2, H12
    m = M.alexnet_paper(num_classes=1000)
    assert n_params(m) == 62_378_344                 # 003 "62.4百万" (single tower)
    # inventory H12, 003 quiz "以每个参数4秒": 62.4 M parameters at 4 s each is about 8 years
    assert round(n_params(m) * 4 / (365.25 * 24 * 3600)) == 8
    conv1, fc6, fc7 = m.features[0], m.classifier[1], m.classifier[4]
    assert conv1.weight.numel() == 11 * 11 * 3 * 96 == 34_848          # 001 "35K"
    assert fc6.weight.numel() + fc6.bias.numel() == 6 * 6 * 256 * 4096 + 4096   # "38 million"
    assert fc7.weight.numel() + fc7.bias.numel() == 4096 * 4096 + 4096          # "17 million"
    biases = [float(c.bias.detach().numpy()[0]) for c in m.features if isinstance(c, nn.Conv2d)]
    assert biases == [0.0, 1.0, 0.0, 1.0, 1.0]       # Krizhevsky et al.: 1 in conv2/4/5
    assert float(fc6.bias.detach().numpy()[0]) == 1.0
    assert float(m.classifier[6].bias.detach().numpy()[0]) == 0.0
    assert abs(float(m.features[0].weight.detach().numpy().std()) - 0.01) < 1e-3
    m.eval()
    with ember.no_grad():
        assert m(ember.randn(1, 3, 227, 227)).shape == (1, 1000)
    with pytest.raises(ValueError, match="AlexNetPaper: expected a 227x227"):
        m(ember.randn(1, 3, 224, 224))


def test_sample_cnn_layer_parameters():
    # 003 "样例卷积网络": (3*3*3)*10+10 = 280, (3*3*10)*10+10 = 910, 10*4*4*10+10 = 1610,
    # 10*10+10 = 110
    # inventory D10, H12
    for ending, head in (("fc", 1610), ("avgpool", 110)):
        m = M.sample_cnn(ending=ending)
        convs = [c for c in m.features if isinstance(c, nn.Conv2d)]
        assert [n_params(c) for c in convs] == [280] + [910] * 5
        assert n_params(m.classifier) == head


def test_depthwise_separable_parameter_example():
    # 003: 3 -> 8 channels, 3x3, no bias: normal 3*3*3*8 = 216; DS 3*3*3 + 3*8 = 51
    # inventory B18, H13
    normal = nn.Conv2d(3, 8, 3, bias=False)
    ds = [nn.Conv2d(3, 3, 3, groups=3, bias=False), nn.Conv2d(3, 8, 1, bias=False)]
    assert n_params(normal) == 216
    assert sum(n_params(c) for c in ds) == 51
    block = M.mobilenet.DepthwiseSeparableConv(3, 8)
    bn_params = 2 * 3 + 2 * 8
    assert n_params(block) == 51 + bn_params


# ------------------------------------------------------------------------------------------
# torchvision compatibility: keys, shapes, numerics with converted weights
# ------------------------------------------------------------------------------------------
def test_resnet18_state_dict_and_parity():
    # inventory D5
    em, tm = M.resnet18(num_classes=7), torch_resnet18(num_classes=7)
    assert_same_state_dict_layout(em, tm)
    sd = em.state_dict()
    assert len(sd) == 122
    assert tuple(sd["conv1.weight"].shape) == (64, 3, 7, 7)                  # 003 L8531
    assert tuple(sd["layer2.0.downsample.0.weight"].shape) == (128, 64, 1, 1)
    assert tuple(sd["layer4.1.bn2.running_var"].shape) == (512,)
    assert "layer3.0.bn1.num_batches_tracked" in sd
    x = np.random.randn(2, 3, 32, 32).astype(np.float32)
    parity_forward_backward(em, tm, x, train=True)
    parity_forward_backward(em, tm, x, train=False)


@pytest.fixture(scope="module")
def alexnet_pair():
    torch.manual_seed(0)
    return M.alexnet(num_classes=4, dropout=0.0), torch_alexnet(num_classes=4, dropout=0.0)


@pytest.fixture(scope="module")
def vgg11_pair():
    torch.manual_seed(0)
    return M.vgg11(num_classes=4, dropout=0.0, init_weights=False), torch_vgg11(4, 0.0)


def test_alexnet_state_dict_and_parity(alexnet_pair):
    # inventory D2
    em, tm = alexnet_pair
    assert_same_state_dict_layout(em, tm)
    assert list(em.state_dict())[:4] == ["features.0.weight", "features.0.bias",
                                        "features.3.weight", "features.3.bias"]
    assert len(em.state_dict()) == 16
    assert tuple(em.state_dict()["features.0.weight"].shape) == (64, 3, 11, 11)   # 003 L8511
    x = np.random.randn(2, 3, 63, 63).astype(np.float32)
    parity_forward_backward(em, tm, x, train=False, float64=False)


def test_vgg11_state_dict_and_parity(vgg11_pair):
    em, tm = vgg11_pair
    assert_same_state_dict_layout(em, tm)
    keys = list(em.state_dict())
    assert len(keys) == 22 and keys[-1] == "classifier.6.bias"
    assert "features.18.weight" in keys                       # the 8th conv of config A
    x = np.random.randn(1, 3, 32, 32).astype(np.float32)
    parity_forward_backward(em, tm, x, train=False, float64=False)


def test_vgg_bn_keys():
    m = VGG(make_layers(cfgs["A"], batch_norm=True), init_weights=False)
    keys = list(m.state_dict())
    # conv, BN (weight, bias, running_mean, running_var, num_batches_tracked) per layer
    assert keys[:7] == ["features.0.weight", "features.0.bias", "features.1.weight",
                        "features.1.bias", "features.1.running_mean", "features.1.running_var",
                        "features.1.num_batches_tracked"]
    assert len(keys) == 8 * 7 + 6


def test_mobilenet_v2_state_dict_and_parity():
    em = M.mobilenet_v2(num_classes=6, width_mult=0.5, dropout=0.0)
    tm = torch_mobilenet_v2(num_classes=6, width_mult=0.5, dropout=0.0)
    assert_same_state_dict_layout(em, tm)
    full = M.mobilenet_v2().state_dict()
    assert len(full) == 314
    assert tuple(full["features.1.conv.0.0.weight"].shape) == (32, 1, 3, 3)
    assert tuple(full["features.2.conv.0.0.weight"].shape) == (96, 16, 1, 1)
    assert tuple(full["features.18.0.weight"].shape) == (1280, 320, 1, 1)
    assert tuple(full["classifier.1.weight"].shape) == (1000, 1280)
    x = np.random.randn(2, 3, 32, 32).astype(np.float32)
    parity_forward_backward(em, tm, x, train=True)


def test_densenet121_state_dict_and_small_parity():
    # inventory D8
    sd = M.densenet121().state_dict()
    ref = torch_densenet()
    assert list(sd) == list(ref.state_dict())
    assert len(sd) == 727
    assert tuple(sd["features.denseblock4.denselayer16.conv2.weight"].shape) == (32, 128, 3, 3)
    assert tuple(sd["features.transition3.conv.weight"].shape) == (512, 1024, 1, 1)
    assert tuple(sd["classifier.weight"].shape) == (1000, 1024)
    assert tuple(sd["features.conv0.weight"].shape) == (64, 3, 7, 7)         # 003 L8541
    kw = dict(growth_rate=8, block_config=(2, 3), num_init_features=16, num_classes=5)
    parity_forward_backward(M.densenet.DenseNet(**kw), torch_densenet(**kw),
                            np.random.randn(2, 3, 32, 32).astype(np.float32), train=True)


def test_googlenet_state_dict_and_parity():
    # inventory D6
    em = M.googlenet(num_classes=10, dropout=0.0, dropout_aux=0.0)
    tm = torch_googlenet(num_classes=10, dropout=0.0, dropout_aux=0.0)
    assert_same_state_dict_layout(em, tm)
    sd = em.state_dict()
    assert tuple(sd["inception5b.branch3.1.conv.weight"].shape) == (128, 48, 3, 3)
    assert tuple(sd["aux1.fc1.weight"].shape) == (1024, 2048)
    assert len(M.googlenet(aux_logits=False).state_dict()) == len(sd) - 2 * 10
    x = np.random.randn(1, 3, 40, 40).astype(np.float32)
    parity_forward_backward(em, tm, x, train=False)
    # training mode: logits and both auxiliary heads
    load_torch_weights(em, tm)
    em.train()
    tm.train()
    x2 = np.concatenate([x, -x]).astype(np.float64)
    out_e = em(ember.from_numpy(x2))
    out_t = tm(torch.from_numpy(x2))
    assert isinstance(out_e, M.GoogLeNetOutputs)
    for a, b in zip(out_e, out_t):
        assert_close(a.detach().numpy(), b.detach().numpy(), 1e-9, 1e-9)


def test_googlenet_transform_input():
    m = M.googlenet(transform_input=True, aux_logits=False).eval()
    x = ember.randn(1, 3, 4, 4)
    y = m._transform_input(x).detach().numpy()
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    for c in range(3):
        expected = x.detach().numpy()[:, c] * (std[c] / 0.5) + (mean[c] - 0.5) / 0.5
        np.testing.assert_allclose(y[:, c], expected, rtol=1e-6, atol=1e-6)
    assert M.googlenet(aux_logits=False)._transform_input(x) is x


def test_converted_torch_checkpoint_loads_through_ember_save(tmp_path):
    tm = torch_resnet18()
    path = tmp_path / "resnet18.pt"
    ember.save({k: ember.from_numpy(v.detach().numpy().copy()) for k, v in tm.state_dict().items()},
               str(path))
    em = M.resnet18()
    em.load_state_dict(ember.load(str(path)))
    np.testing.assert_array_equal(em.fc.weight.detach().numpy(), tm.fc.weight.detach().numpy())


# ------------------------------------------------------------------------------------------
# Constructor arguments
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("builder", ["alexnet", "resnet18", "vgg11", "googlenet", "densenet121",
                                     "mobilenet_v2", "mobilenet_v1", "lenet5", "alexnet_paper",
                                     "resnet20", "sample_cnn", "one_vs_seven"])
def test_weights_other_than_none_raise(builder):
    with pytest.raises(ValueError, match=rf"{builder}: weights=.*never downloads"):
        M.get_model(builder, weights="IMAGENET1K_V1")


def test_get_model_and_list_models():
    assert {"resnet18", "lenet5", "mobilenet_v1", "sample_cnn"} <= set(M.list_models())
    assert M.list_models() == sorted(M.list_models())
    assert M.get_model("resnet20", num_classes=3).fc.out_features == 3
    with pytest.raises(ValueError, match="unknown model 'resnet7'"):
        M.get_model("resnet7")


def test_resnet_zero_init_residual():
    m = M.resnet18(zero_init_residual=True)
    assert not np.any(m.layer1[0].bn2.weight.detach().numpy())
    assert np.all(m.layer1[0].bn1.weight.detach().numpy() == 1)
    m50 = M.resnet50(zero_init_residual=True)
    assert not np.any(m50.layer3[2].bn3.weight.detach().numpy())
    # each block starts as the identity on its (non-negative) input
    block = m.layer1[0].eval()
    x = ember.rand(1, 64, 4, 4)
    with ember.no_grad():
        np.testing.assert_allclose(block(x).detach().numpy(), x.detach().numpy(), rtol=0, atol=0)


def test_resnet_groups_width_and_dilation():
    m = M.resnet50(groups=4, width_per_group=16, num_classes=3)
    conv2 = m.layer1[0].conv2
    assert (conv2.groups, conv2.in_channels, conv2.weight.shape[1]) == (4, 64, 16)
    assert M.resnext50_32x4d().layer1[0].conv2.groups == 32
    assert M.wide_resnet50_2().layer1[0].conv2.out_channels == 128
    with pytest.raises(ValueError, match="BasicBlock only supports groups=1"):
        M.resnet18(groups=2)
    with pytest.raises(ValueError, match="replace_stride_with_dilation"):
        M.resnet50(replace_stride_with_dilation=[True])
    d = M.resnet50(replace_stride_with_dilation=[False, True, True], num_classes=3).eval()
    assert d.layer4[1].conv2.dilation == (4, 4)
    out = {}

    def record(module, args, output):
        out["l4"] = output.shape
    d.layer4.register_forward_hook(record)
    with ember.no_grad():
        assert d(ember.randn(1, 3, 32, 32)).shape == (1, 3)
    assert tuple(out["l4"]) == (1, 2048, 4, 4)      # output stride 8 instead of 32


def test_resnet_norm_layer():
    m = M.resnet18(norm_layer=lambda c: nn.GroupNorm(2, c), num_classes=2)
    assert isinstance(m.layer1[0].bn1, nn.GroupNorm)
    assert m(ember.randn(1, 3, 32, 32)).shape == (1, 2)


def test_cifar_resnet_shortcuts():
    a, b = M.resnet20(shortcut="A"), M.resnet20(shortcut="B")
    # option B adds two 1x1 projections (16->32, 32->64) with their BatchNorms
    assert n_params(b) - n_params(a) == (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64)
    blk = a.layer2[0].eval()
    x = ember.randn(2, 16, 8, 8)
    sc = blk.shortcut(x).detach().numpy()
    assert sc.shape == (2, 32, 4, 4)
    np.testing.assert_array_equal(sc[:, :16], x.detach().numpy()[:, :, ::2, ::2])
    assert not np.any(sc[:, 16:])
    assert M.resnet20(base_width=4).fc.in_features == 16
    with pytest.raises(ValueError, match="6n\\+2"):
        M.CifarResNet(depth=21)
    with pytest.raises(ValueError, match="shortcut must be 'A' or 'B'"):
        M.resnet20(shortcut="C")


def test_mobilenet_v1_width_resolution():
    # inventory D7
    m = M.mobilenet_v1(width_mult=0.75, resolution=192, num_classes=4)
    assert m.features[0][0].out_channels == 24 and m.fc.in_features == 768
    assert m.avgpool.kernel_size in (6, (6, 6))
    with pytest.raises(ValueError, match="built for 192x192"):
        m(ember.randn(1, 3, 224, 224))
    with pytest.raises(ValueError, match="multiple of 32"):
        M.mobilenet_v1(resolution=100)
    d = M.mobilenet_v1(width_mult=0.25, resolution=32, num_classes=3, dropout=0.5)
    assert d.dropout.p == 0.5


def test_mobilenet_v2_width_mult_rounding():
    m = M.mobilenet_v2(width_mult=1.4)
    assert m.features[0][0].out_channels == 48 and m.last_channel == 1792
    assert M.mobilenet_v2(width_mult=0.35).last_channel == 1280
    custom = M.mobilenet_v2(inverted_residual_setting=[[1, 16, 1, 1], [6, 24, 1, 2]],
                            round_nearest=4, num_classes=2)
    assert len(custom.features) == 4
    with pytest.raises(ValueError, match="inverted_residual_setting"):
        M.mobilenet_v2(inverted_residual_setting=[[1, 16, 1]])


def test_conv_norm_activation_options():
    plain = M.mobilenet.Conv2dNormActivation(3, 4, norm_layer=None, activation_layer=None)
    assert len(plain) == 1 and plain[0].bias is not None
    blk = M.mobilenet.Conv2dNormActivation(3, 4, kernel_size=5, dilation=2, inplace=False,
                                           bias=True)
    assert blk[0].padding == (4, 4) and blk[0].bias is not None and not blk[2].inplace


def test_input_size_errors_name_the_model():
    with pytest.raises(ValueError, match="LeNet5\\(padded=False\\): expected 32x32"):
        M.lenet5()(ember.randn(1, 1, 28, 28))
    with pytest.raises(ValueError, match="SampleCNN: expected 32x32"):
        M.sample_cnn()(ember.randn(1, 3, 28, 28))
    with pytest.raises(ValueError, match="ending must be"):
        M.sample_cnn(ending="max")


def test_lenet5_matches_lecture_net_code():
    """The lecture-004 ``Net`` (functional pooling) gives the same outputs with the same
    state_dict."""
    # inventory D1
    import ember.nn.functional as F

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 6, 5)
            self.conv2 = nn.Conv2d(6, 16, 5)
            self.fc1 = nn.Linear(16 * 5 * 5, 120)
            self.fc2 = nn.Linear(120, 84)
            self.fc3 = nn.Linear(84, 10)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv1(x)), (2, 2))
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            x = ember.flatten(x, 1)
            x = F.relu(self.fc1(x))
            x = F.relu(self.fc2(x))
            return self.fc3(x)

    net, lenet = Net(), M.lenet5()
    lenet.load_state_dict(net.state_dict())
    x = ember.randn(3, 1, 32, 32)
    np.testing.assert_allclose(lenet(x).detach().numpy(), net(x).detach().numpy(), rtol=1e-6)


def test_one_vs_seven_keys_and_rule():
    m = M.one_vs_seven()
    assert list(m.state_dict())[:2] == ["FC1.Linear_Layer.weight", "FC1.Linear_Layer.bias"]
    assert list(m.state_dict())[-1] == "judge_layer.bias"
    x = ember.randn(6, 16)
    out = m(x).detach().numpy().reshape(-1)
    np.testing.assert_array_equal(m.predict(x).detach().numpy(), np.where(out < 0, 1, 7))
    assert m(ember.randn(2, 1, 4, 4)).shape == (2, 1)     # a 4x4 image flattens to 16


# ------------------------------------------------------------------------------------------
# Every model: forward and backward on a small input
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("builder, kwargs, shape", [
    ("lenet5", {}, (2, 1, 32, 32)),
    ("lenet5", {"padded": True}, (2, 1, 28, 28)),
    ("resnet50", {"num_classes": 4}, (2, 3, 32, 32)),
    ("resnet20", {}, (2, 3, 32, 32)),
    ("resnet32", {"shortcut": "B", "base_width": 8}, (2, 3, 32, 32)),
    ("resnet56", {"base_width": 4}, (2, 3, 32, 32)),
    ("densenet121", {"num_classes": 4}, (2, 3, 32, 32)),
    ("mobilenet_v1", {"width_mult": 0.25, "resolution": 64, "num_classes": 4},
     (2, 3, 64, 64)),
    ("sample_cnn", {}, (2, 3, 32, 32)),
    ("sample_cnn", {"ending": "avgpool"}, (2, 3, 32, 32)),
    ("one_vs_seven", {}, (2, 16)),
])
def test_forward_backward(builder, kwargs, shape):
    m = M.get_model(builder, **kwargs).train()
    x = ember.randn(*shape, requires_grad=True)
    out = m(x)
    assert out.shape[0] == shape[0]
    (out ** 2).mean().backward()
    assert x.grad is not None and x.grad.shape == x.shape
    for name, p in m.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape, name
        assert np.all(np.isfinite(p.grad.numpy())), name
    assert np.any(m.get_parameter(next(iter(dict(m.named_parameters())))).grad.numpy())


def test_googlenet_aux_loss_backward():
    m = M.googlenet(num_classes=3).train()
    out = m(ember.randn(2, 3, 40, 40))
    y = ember.tensor([0, 2])
    ce = nn.functional.cross_entropy
    loss = ce(out.logits, y) + 0.3 * (ce(out.aux_logits1, y) + ce(out.aux_logits2, y))
    loss.backward()
    assert np.any(m.aux1.fc2.weight.grad.numpy()) and np.any(m.aux2.fc2.weight.grad.numpy())
    assert np.any(m.conv1.conv.weight.grad.numpy())
    assert M.googlenet(aux_logits=False, init_weights=False).train()(
        ember.randn(2, 3, 32, 32)).shape == (2, 1000)


# ------------------------------------------------------------------------------------------
# Each family learns: a few steps on a tiny batch lower the loss
# ------------------------------------------------------------------------------------------
def _fit(model, x, y, steps, lr, loss_fn=None):
    """Adam for ``steps`` steps in float64; returns the first loss and the loss after training
    (still in training mode, so that BatchNorm uses batch statistics as during the steps).

    float64 because a few Adam steps on a tiny batch are chaotic: Adam's first step moves
    every parameter by ``lr * sign(grad)``, so a gradient that is zero up to rounding (BatchNorm
    makes many) takes a full step in a direction the rounding chose. In float32 the outcome
    then depends on the BLAS kernels of the CPU (measured: MobileNet v2's loss ratio 0.01 with
    one OpenBLAS core type, 1.5 with another); in float64 it is the same on every CPU."""
    loss_fn = loss_fn or nn.functional.cross_entropy
    model.double()
    x = x.double()
    opt = ember.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    first = None
    for _ in range(steps):
        opt.zero_grad()
        out = model(x)
        loss = loss_fn(out.logits if isinstance(out, tuple) else out, y)
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    with ember.no_grad():
        out = model(x)
    return first, loss_fn(out.logits if isinstance(out, tuple) else out, y).item()


def _batch(shape, classes):
    x = ember.randn(*shape)
    y = ember.arange(shape[0]) % classes
    return x, y


@pytest.mark.parametrize("builder, kwargs, shape, steps, lr", [
    ("lenet5", {}, (8, 1, 32, 32), 12, 3e-3),
    ("resnet20", {"base_width": 4, "num_classes": 4}, (4, 3, 16, 16), 6, 1e-2),
    ("mobilenet_v1", {"width_mult": 0.25, "resolution": 32, "num_classes": 4},
     (4, 3, 32, 32), 6, 1e-2),
    ("mobilenet_v2", {"width_mult": 0.25, "num_classes": 4, "dropout": 0.0},
     (8, 3, 32, 32), 6, 3e-3),
    ("googlenet", {"num_classes": 4, "aux_logits": False, "dropout": 0.0},
     (4, 3, 32, 32), 2, 1e-3),
])
def test_family_learns(builder, kwargs, shape, steps, lr):
    x, y = _batch(shape, kwargs.get("num_classes", 10))
    first, final = _fit(M.get_model(builder, **kwargs), x, y, steps, lr)
    assert final < 0.5 * first, (first, final)


def test_densenet_learns():
    x, y = _batch((4, 3, 32, 32), 4)
    m = M.DenseNet(growth_rate=8, block_config=(2, 2), num_init_features=16, num_classes=4,
                   drop_rate=0.1)
    first, final = _fit(m, x, y, 6, 1e-2)
    assert final < 0.5 * first


def test_sample_cnn_learns_with_lecture_kaiming_init():
    """003 "从头训练CNN": without BatchNorm the sample CNN needs a proper initialization
    (Kaiming, ``lecture_kaiming_``) to start learning within a few steps."""
    x, y = _batch((4, 3, 32, 32), 4)
    m = M.sample_cnn(num_classes=4)
    for layer in m.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.lecture_kaiming_(layer.weight)
            nn.init.zeros_(layer.bias)
    first, final = _fit(m, x, y, 10, 3e-3)
    assert final < 0.5 * first, (first, final)


def test_alexnet_features_learn(alexnet_pair):
    """AlexNet: the convolutional ``features`` learn through a new linear head
    (``model.classifier = nn.Linear(...)``, lecture 003's fine-tuning move). The two 4096-wide
    hidden layers — most of the parameters (003) — are swapped out to keep the test fast."""
    m = alexnet_pair[0]
    m.classifier = nn.Linear(m.classifier[1].in_features, 4)
    x, y = _batch((4, 3, 64, 64), 4)
    first, final = _fit(m, x, y, 6, 3e-4)
    assert final < 0.75 * first, (first, final)     # no BatchNorm: a slower start


def test_vgg_bn_learns_and_backpropagates():
    """VGG-11-BN (features as torchvision builds them, new linear head as in fine-tuning):
    gradients reach every layer and a few steps lower the loss."""
    m = M.vgg11_bn(num_classes=4, init_weights=False)
    m.classifier = nn.Linear(512 * 7 * 7, 4)
    x, y = _batch((4, 3, 32, 32), 4)
    out = m.train()(x)
    nn.functional.cross_entropy(out, y).backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and np.any(p.grad.numpy()), name
    m.zero_grad()
    first, final = _fit(m, x, y, 4, 1e-4)
    assert final < 0.5 * first, (first, final)


def test_one_vs_seven_learns_the_lecture_task():
    """Lecture 000: 4x4 images of "1" (a vertical bar) and "7" (top bar + diagonal)."""
    # inventory D11, E2
    one = np.zeros((4, 4), np.float32)
    one[:, 2] = 1
    seven = np.zeros((4, 4), np.float32)
    seven[0, :] = 1
    seven[[1, 2, 3], [3, 2, 1]] = 1
    rng = np.random.default_rng(0)
    imgs = np.stack([one] * 8 + [seven] * 8) + 0.1 * rng.standard_normal((16, 4, 4))
    x = ember.from_numpy(imgs.astype(np.float32).reshape(16, 16))
    target = ember.from_numpy(np.array([0.0] * 8 + [1.0] * 8, np.float32).reshape(16, 1))
    m = M.one_vs_seven()
    first, final = _fit(m, x, target, 60, 1e-2, nn.functional.binary_cross_entropy_with_logits)
    assert final < 0.3 * first
    np.testing.assert_array_equal(m.predict(x.double()).detach().numpy(), [1] * 8 + [7] * 8)
