"""The networks of the interpretability tests, built from the same code under Ember and torch
(``lib`` is ``ember`` or ``torch``) so that Captum can run on the same weights:

- ``lenet``: LeNet-5 (padded, 28x28) with its ReLUs and pools as modules, as
  ``ember.vision.models.LeNet5`` and as Captum's guided backprop needs them;
- ``tiny_resnet``: a stem, one residual block whose single ``ReLU(inplace=True)`` runs twice
  (as in a ResNet BasicBlock), BatchNorm with non-trivial running statistics, a global
  average pool and a Linear head (a CAM network), on 3x12x12 images.
"""
import numpy as np


def lenet(lib):
    nn = lib.nn

    class LeNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
            self.relu1 = nn.ReLU()
            self.pool1 = nn.MaxPool2d(2)
            self.conv2 = nn.Conv2d(6, 16, 5)
            self.relu2 = nn.ReLU()
            self.pool2 = nn.MaxPool2d(2)
            self.fc1 = nn.Linear(400, 120)
            self.relu3 = nn.ReLU()
            self.fc2 = nn.Linear(120, 84)
            self.relu4 = nn.ReLU()
            self.fc3 = nn.Linear(84, 10)

        def forward(self, x):
            x = self.pool1(self.relu1(self.conv1(x)))
            x = self.pool2(self.relu2(self.conv2(x)))
            x = lib.flatten(x, 1)
            return self.fc3(self.relu4(self.fc2(self.relu3(self.fc1(x)))))
    return LeNet()


def tiny_resnet(lib, classes=5):
    nn = lib.nn

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(c)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(c)

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            return self.relu(self.bn2(self.conv2(out)) + x)

    class TinyResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
            self.relu = nn.ReLU()
            self.pool = nn.MaxPool2d(2)
            self.layer1 = Block(8)
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(8, classes)

        def forward(self, x):
            x = self.layer1(self.pool(self.relu(self.conv1(x))))
            return self.fc(lib.flatten(self.avgpool(x), 1))
    return TinyResNet()


def twins(build, seed=0):
    """``(ember model, torch model)`` in float64 and eval mode with the same random weights
    (BatchNorm running statistics drawn too, so that eval mode is not the identity)."""
    import torch

    import ember
    rng = np.random.default_rng(seed)
    em, tm = build(ember).double(), build(torch).double()
    state = {}
    for key, value in tm.state_dict().items():
        shape = tuple(value.shape)
        if key.endswith("num_batches_tracked"):
            state[key] = value.numpy().copy()
        elif key.endswith("running_var"):
            state[key] = rng.uniform(0.5, 2.0, shape)
        else:
            fan_in = max(1, int(np.prod(shape[1:]))) if len(shape) > 1 else 4
            state[key] = rng.normal(0.0, 1.0 / np.sqrt(fan_in), shape)
    tm.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
    em.load_state_dict({k: ember.from_numpy(np.array(v)) for k, v in state.items()})
    return em.eval(), tm.eval()


def hook_counts(model):
    """The number of forward, forward-pre, backward and backward-pre hooks on every module."""
    return [(len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks),
             len(m._backward_pre_hooks)) for m in model.modules()]
