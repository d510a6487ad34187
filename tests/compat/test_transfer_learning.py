"""Scenario 5: the transfer-learning recipe (lecture 003 "微调") on
``ember.vision.models.resnet18(num_classes=10)``: freeze everything, replace ``model.fc``,
train only the head. torchvision is not installed, so the torch side runs the same script on
a minimal torch transcription of torchvision's ResNet-18 (same module names and order), into
which Ember's initial weights are loaded: this also checks Ember's ResNet-18 against the
torchvision architecture (``state_dict`` keys/shapes and the eval-mode forward)."""
from types import SimpleNamespace

import numpy as np
import pytest

import ember
from tests.compat.script import run_script
from tests.harness import assert_close

TORCH_RESNET18 = '''
import torch
import torch.nn as nn


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


class ResNet(nn.Module):
    def __init__(self, layers=(2, 2, 2, 2), num_classes=1000):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(64, layers[0])
        self.layer2 = self._make_layer(128, layers[1], stride=2)
        self.layer3 = self._make_layer(256, layers[2], stride=2)
        self.layer4 = self._make_layer(512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, num_classes)

    def _make_layer(self, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes, 1, stride, bias=False),
                                       nn.BatchNorm2d(planes))
        layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18(num_classes=1000):
    return ResNet((2, 2, 2, 2), num_classes)
'''

SCRIPT = '''
import torch
import torch.nn as nn
import torch.optim as optim

model = models.resnet18(num_classes=10)
model.load_state_dict({k: torch.from_numpy(v) for k, v in init_state.items()})
model.eval()
with torch.no_grad():
    eval_before = model(torch.from_numpy(x_np)).numpy()

for param in model.parameters():
    param.requires_grad = False
num_ftrs = model.fc.in_features
model.fc = nn.Linear(num_ftrs, 3)
with torch.no_grad():
    model.fc.weight.copy_(torch.from_numpy(fc_w))
    model.fc.bias.copy_(torch.from_numpy(fc_b))

flags = [(n, p.requires_grad) for n, p in model.named_parameters()]
n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
optimizer = optim.SGD(model.fc.parameters(), lr=0.01, momentum=0.9)
criterion = nn.CrossEntropyLoss()
model.train()
losses = []
for step in range(2):
    optimizer.zero_grad()
    loss = criterion(model(torch.from_numpy(x_np)), torch.from_numpy(y_np))
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
backbone_grads = [p.grad for n, p in model.named_parameters() if not n.startswith("fc.")]
state = {k: v.numpy().copy() for k, v in model.state_dict().items()}
'''


def test_transfer_learning_resnet18_head_only_like_torch():
    # inventory A30, E20
    import torch  # noqa: F401  (the reference run)

    ember.manual_seed(5)
    init = {k: v.numpy().copy()
            for k, v in ember.vision.models.resnet18(num_classes=10).state_dict().items()}
    reference_models = run_script(TORCH_RESNET18, "torch")
    torch_keys = {k: tuple(v.shape) for k, v in
                  reference_models["resnet18"](num_classes=10).state_dict().items()}
    assert list(torch_keys) == list(init)
    assert torch_keys == {k: v.shape for k, v in init.items()}

    rng = np.random.default_rng(5)
    inputs = dict(x_np=rng.standard_normal((4, 3, 32, 32)).astype(np.float32),
                  y_np=np.array([0, 1, 2, 1]), init_state=init,
                  fc_w=(0.05 * rng.standard_normal((3, 512))).astype(np.float32),
                  fc_b=np.zeros(3, np.float32))

    # `models` is what `from torchvision import models` would give the user
    ref = run_script(SCRIPT, "torch", models=SimpleNamespace(
        resnet18=reference_models["resnet18"]), **inputs)
    out = run_script(SCRIPT, "ember", models=ember.vision.models, **inputs)

    assert_close(out["eval_before"], ref["eval_before"], rtol=1e-4, atol=1e-4,
                 what="eval forward")
    assert out["flags"] == ref["flags"]
    assert [n for n, g in out["flags"] if g] == ["fc.weight", "fc.bias"]
    assert out["n_trainable"] == ref["n_trainable"] == 3 * 512 + 3
    assert out["backbone_grads"] == ref["backbone_grads"] == [None] * 60
    np.testing.assert_allclose(out["losses"], ref["losses"], rtol=1e-4)
    for k, v in ref["state"].items():
        if k.startswith("fc."):
            assert not np.array_equal(v, inputs["fc_w" if k == "fc.weight" else "fc_b"])
        elif "running" in k or "num_batches" in k:
            # frozen parameters do not stop BatchNorm (in train mode) from updating its stats
            assert not np.array_equal(v, init[k]), k
        else:
            np.testing.assert_array_equal(out["state"][k], init[k], err_msg=k)
        assert_close(out["state"][k], v, rtol=1e-4, atol=1e-4, what=k)


@pytest.mark.parametrize("builder", ["resnet18", "vgg11", "alexnet", "mobilenet_v2", "lenet5",
                                     "resnext50_32x4d", "densenet121", "googlenet"])
def test_torchvision_legacy_pretrained_keyword(builder):
    """Tutorials still write ``models.resnet18(pretrained=True)``: torchvision maps it to the
    default weights (Ember has none: a clear error, not an unexpected-keyword TypeError) and
    ``pretrained=False`` to ``weights=None``."""
    build = getattr(ember.vision.models, builder)
    with pytest.raises(ValueError, match=rf"{builder}: pretrained=True is not available .*"
                                         r"never downloads"):
        build(pretrained=True)
    if builder in ("resnet18", "mobilenet_v2", "lenet5"):  # small enough to build quickly
        model = build(pretrained=False, num_classes=3)
        shape = (1, 32, 32) if builder == "lenet5" else (3, 32, 32)
        assert model.eval()(ember.zeros(1, *shape)).shape == (1, 3)
