"""The lectures' PyTorch code, run unchanged under Ember.

The class definitions below are copied verbatim from the slides -- only the imports differ
(``import ember as torch`` ...):

* lecture 000 "Implement with PyTorch" (``000_7ee7a0b9b8a7359e.txt`` L351-380):
  ``Fully_Connected_Layer`` and the script that stacks three of them under a judge layer;
* lecture 004 "LeNet, 1989" (``004_25213424c1456006.txt`` L520-553): ``Net``;
* lecture 004 "AlexNet" (L560-605): ``AlexNet`` (torchvision's definition).

Each model trains for a few SGD steps, and a torch ``state_dict`` converted to NumPy arrays
loads into the Ember model and gives torch's outputs (and, for LeNet, torch's gradients and
updated weights).
"""
import io
from contextlib import redirect_stdout

import numpy as np
import pytest
import torch as real_torch

import ember as torch
import ember.nn as nn
import ember.nn.functional as F
from tests.harness import assert_close


def _log_api_usage_once(obj):
    """torchvision's usage-logging hook, called by its AlexNet; a no-op here as in a plain
    torchvision install without telemetry."""


# ----------------------------------------------------------- lecture 000, verbatim
class Fully_Connected_Layer(nn.Module):
    def __init__(self, in_dim, out_dim):
        super(Fully_Connected_Layer, self).__init__()
        self.Linear_Layer = nn.Linear(in_dim, out_dim)
        self.activation = nn.ReLU()

    def forward(self, x):
        return self.activation(self.Linear_Layer(x))


def lecture_000_script():
    # 创建全连接层
    FC1 = Fully_Connected_Layer(16, 16)
    FC2 = Fully_Connected_Layer(16, 16)
    FC3 = Fully_Connected_Layer(16, 16)

    # 判断层
    judge_layer = nn.Linear(16, 1)

    # 输入数据
    x = torch.randn(1, 16) # 示例输入

    # 前向传播
    out = judge_layer(FC3(FC2(FC1(x)))) # out < 0: 1, out >= 0: 7
    return FC1, FC2, FC3, judge_layer, x, out


# ----------------------------------------------------------- lecture 004, verbatim
class Net(nn.Module):

    def __init__(self):
        super(Net, self).__init__()
        # 1 input image channel, 6 output channels, 5x5 square convolution
        # kernel
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        # an affine operation: y = Wx + b
        self.fc1 = nn.Linear(16 * 5 * 5, 120)  # 5*5 from image dimension
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        # Max pooling over a (2, 2) window
        x = F.max_pool2d(F.relu(self.conv1(x)), (2, 2))
        # If the size is a square, you can specify with a single number
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)  # flatten all dimensions except the batch dimension
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.fc3(x)
        return x


class AlexNet(nn.Module):
    def __init__(self, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        _log_api_usage_once(self)
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.classifier(x)
        return x


# ----------------------------------------------------------- the same classes under torch
def _torch_twin(cls):
    """Re-create a class above with ``torch``/``nn``/``F`` bound to PyTorch (same source)."""
    import inspect
    import textwrap
    src = textwrap.dedent(inspect.getsource(cls))
    env = {"torch": real_torch, "nn": real_torch.nn, "F": real_torch.nn.functional,
           "_log_api_usage_once": _log_api_usage_once}
    exec(compile(src, f"<torch {cls.__name__}>", "exec"), env)
    return env[cls.__name__]


def _torch_state_as_arrays(model):
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


def _train(model, x, y, steps, lr, lib):
    opt = lib.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    loss_fn = lib.nn.CrossEntropyLoss()
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_lecture_000_fully_connected_layers_run_and_train():
    # inventory A2, D11
    FC1, FC2, FC3, judge_layer, x, out = lecture_000_script()
    assert out.shape == (1, 1) and out.requires_grad
    print_out = io.StringIO()
    with redirect_stdout(print_out):
        print(FC1)
    assert print_out.getvalue().strip() == (
        "Fully_Connected_Layer(\n"
        "  (Linear_Layer): Linear(in_features=16, out_features=16, bias=True)\n"
        "  (activation): ReLU()\n)")
    # train the stack to say "7" (out >= 0) for x and "1" (out < 0) for -x
    params = [p for m in (FC1, FC2, FC3, judge_layer) for p in m.parameters()]
    assert len(params) == 8
    opt = torch.optim.SGD(params, lr=0.05)
    xs = torch.cat([x, -x])
    target = torch.tensor([[1.0], [-1.0]])
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = F.mse_loss(judge_layer(FC3(FC2(FC1(xs)))), target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    pred = judge_layer(FC3(FC2(FC1(xs)))).detach().numpy().ravel()
    assert pred[0] >= 0 > pred[1]


def test_lecture_000_matches_torch_with_copied_weights():
    FC1, FC2, FC3, judge_layer, x, out = lecture_000_script()
    TFC = _torch_twin(Fully_Connected_Layer)
    t_layers = [TFC(16, 16) for _ in range(3)] + [real_torch.nn.Linear(16, 1)]
    for e, t in zip((FC1, FC2, FC3, judge_layer), t_layers):
        e.load_state_dict(_torch_state_as_arrays(t))
    out = judge_layer(FC3(FC2(FC1(x))))
    t_out = t_layers[3](t_layers[2](t_layers[1](t_layers[0](real_torch.from_numpy(x.numpy())))))
    assert_close(out.detach().numpy(), t_out.detach().numpy())


def test_lenet_prints_like_torch():
    buf = io.StringIO()
    with redirect_stdout(buf):
        net = Net()
        print(net)
    assert buf.getvalue() == str(_torch_twin(Net)()) + "\n"
    assert [n for n, _ in net.named_parameters()] == [
        "conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight", "fc1.bias",
        "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"]
    assert sum(p.numel() for p in net.parameters()) == 61706


def test_lenet_loads_torch_weights_and_trains_like_torch():
    # inventory D1
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 1, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, 8)
    tnet = _torch_twin(Net)()
    net = Net()
    res = net.load_state_dict(_torch_state_as_arrays(tnet))
    assert res.missing_keys == [] and res.unexpected_keys == []
    assert_close(net(torch.from_numpy(x)).detach().numpy(),
                 tnet(real_torch.from_numpy(x)).detach().numpy())
    e_losses = _train(net, torch.from_numpy(x), torch.from_numpy(y), 5, 0.05, torch)
    t_losses = _train(tnet, real_torch.from_numpy(x), real_torch.from_numpy(y), 5, 0.05,
                      real_torch)
    np.testing.assert_allclose(e_losses, t_losses, rtol=1e-4)
    assert e_losses[-1] < e_losses[0]
    tsd = tnet.state_dict()
    for k, v in net.state_dict().items():
        assert_close(v.numpy(), tsd[k].numpy(), rtol=1e-3, atol=1e-5, what=k)


def test_lenet_learns_a_small_task():
    """Two classes told apart by the sign of the mean pixel: 20 SGD steps fit them."""
    rng = np.random.default_rng(1)
    y = np.arange(16) % 2
    x = (rng.standard_normal((16, 1, 32, 32)) + np.where(y, 1.0, -1.0)[:, None, None, None])
    net = Net()
    losses = _train(net, torch.tensor(x.astype(np.float32)), torch.from_numpy(y), 20, 0.01,
                    torch)
    assert losses[-1] < 0.2 * losses[0]


@pytest.fixture(scope="module")
def alexnets():
    real_torch.manual_seed(0)
    tnet = _torch_twin(AlexNet)(num_classes=10)
    net = AlexNet(num_classes=10)
    net.load_state_dict(_torch_state_as_arrays(tnet))
    return net, tnet


def test_alexnet_structure_matches_torch(alexnets):
    # inventory D2
    net, tnet = alexnets
    assert str(net) == str(tnet)
    assert list(net.state_dict()) == list(tnet.state_dict())
    assert net.features[0].weight.shape == (64, 3, 11, 11)


def test_alexnet_torch_weights_give_torch_outputs_at_224(alexnets):
    """One forward/backward at the lectures' 224x224 (eval mode: dropout off)."""
    net, tnet = alexnets
    x = np.random.default_rng(2).standard_normal((1, 3, 224, 224)).astype(np.float32)
    net.eval()
    tnet.eval()
    xe = torch.from_numpy(x.copy()).requires_grad_(True)
    xt = real_torch.from_numpy(x.copy()).requires_grad_(True)
    out, t_out = net(xe), tnet(xt)
    assert out.shape == (1, 10)
    assert_close(out.detach().numpy(), t_out.detach().numpy(), rtol=1e-3, atol=1e-5)
    out.sum().backward()
    t_out.sum().backward()
    assert_close(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-3, atol=1e-5)
    assert_close(net.features[0].weight.grad.numpy(), tnet.features[0].weight.grad.numpy(),
                 rtol=1e-3, atol=1e-5)
    net.zero_grad()
    tnet.zero_grad()
    net.train()
    tnet.train()


def test_alexnet_trains_a_few_steps_at_64(alexnets):
    """Small 64x64 inputs (the adaptive pool brings any size to 6x6): the loss goes down."""
    net, _ = alexnets
    rng = np.random.default_rng(3)
    x = torch.tensor(rng.standard_normal((2, 3, 64, 64)).astype(np.float32))
    y = torch.tensor([0, 1])
    net.eval()  # no dropout, so the loss curve is deterministic
    losses = _train(net, x, y, 3, 0.01, torch)
    assert losses[-1] < losses[0]
