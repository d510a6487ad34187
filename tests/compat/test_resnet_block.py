"""Scenario 4: a ResNet basic block (``out += identity``, BatchNorm, a 1x1 downsample) trained
three steps in float64 under torch and under Ember from the same weights: losses, weights,
BatchNorm running statistics and the eval-mode output must agree to float64 precision."""
import numpy as np

from tests.compat.script import run_script, torch_state_as_numpy
from tests.harness import assert_close

SCRIPT = '''
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim


def conv3x3(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)
        out = self.conv2(out)
        out = self.bn2(out)
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        out = self.relu(out)
        return out


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        down = nn.Sequential(nn.Conv2d(3, 8, 1, stride=2, bias=False), nn.BatchNorm2d(8))
        self.block1 = BasicBlock(3, 8, stride=2, downsample=down)
        self.block2 = BasicBlock(8, 8)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        x = self.block2(self.block1(x))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


model = Net().double()
if init_state is not None:
    model.load_state_dict({k: torch.from_numpy(v) for k, v in init_state.items()})
optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
criterion = nn.CrossEntropyLoss()
x = torch.from_numpy(x_np)
y = torch.from_numpy(y_np)

model.train()
losses = []
for step in range(3):
    optimizer.zero_grad()
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()
    losses.append(loss.item())

grads = {n: p.grad.numpy().copy() for n, p in model.named_parameters()}
model.eval()
with torch.no_grad():
    eval_out = model(x).numpy()
state = {k: v.numpy().copy() for k, v in model.state_dict().items()}
'''


def test_resnet_block_trains_like_torch_float64():
    # inventory B26
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 3, 8, 8))
    y = rng.integers(0, 4, 4)
    first = run_script(SCRIPT, "torch", x_np=x, y_np=y, init_state=None)
    init = torch_state_as_numpy(first["Net"]().double().state_dict())
    ref = run_script(SCRIPT, "torch", x_np=x, y_np=y, init_state=init)
    out = run_script(SCRIPT, "ember", x_np=x, y_np=y, init_state=init)

    np.testing.assert_allclose(out["losses"], ref["losses"], rtol=1e-10)
    assert ref["losses"][2] != ref["losses"][0]
    assert list(out["state"]) == list(ref["state"])  # incl. running_mean/var, num_batches_tracked
    for k, v in ref["state"].items():
        assert out["state"][k].dtype == v.dtype, k
        assert_close(out["state"][k], v, what=k)
    assert ref["state"]["block1.bn1.num_batches_tracked"] == 3
    for k, v in ref["grads"].items():
        assert_close(out["grads"][k], v, what=f"grad {k}")
    assert_close(out["eval_out"], ref["eval_out"], what="eval output")
