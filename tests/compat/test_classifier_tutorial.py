"""Scenario 1: PyTorch's "Training a classifier" tutorial loop, run verbatim under Ember.

Same initial weights (the torch model's ``state_dict`` handed over as NumPy arrays), same
data, ``shuffle=False`` so the batches agree: the running losses, the accuracy, the final
weights and the predictions after a ``torch.save``/``torch.load`` round trip must match.
"""
import numpy as np

from tests.compat.script import run_script, torch_state_as_numpy
from tests.harness import assert_close

SCRIPT = '''
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.utils.data import TensorDataset, DataLoader


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)  # flatten all dimensions except batch
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.fc3(x)
        return x


net = Net()
if init_state is not None:
    net.load_state_dict({k: torch.from_numpy(v) for k, v in init_state.items()})

trainset = TensorDataset(torch.from_numpy(images), torch.from_numpy(labels))
trainloader = DataLoader(trainset, batch_size=8, shuffle=False, num_workers=0)

criterion = nn.CrossEntropyLoss()
optimizer = optim.SGD(net.parameters(), lr=0.01, momentum=0.9)

epoch_losses = []
for epoch in range(2):  # loop over the dataset multiple times
    running_loss = 0.0
    for i, data in enumerate(trainloader, 0):
        # get the inputs; data is a list of [inputs, labels]
        inputs, labels_batch = data
        optimizer.zero_grad()
        outputs = net(inputs)
        loss = criterion(outputs, labels_batch)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()
    epoch_losses.append(running_loss / len(trainloader))

PATH = str(tmp_dir / 'cifar_net.pth')
torch.save(net.state_dict(), PATH)

net2 = Net()
net2.load_state_dict(torch.load(PATH))

correct = 0
total = 0
all_predicted = []
with torch.no_grad():
    for data in trainloader:
        images_batch, labels_batch = data
        outputs = net2(images_batch)
        _, predicted = torch.max(outputs.data, 1)
        total += labels_batch.size(0)
        correct += (predicted == labels_batch).sum().item()
        all_predicted.append(predicted.numpy())
accuracy = 100 * correct // total
final_state = {k: v.detach().numpy().copy() for k, v in net2.state_dict().items()}
'''


def test_classifier_tutorial_matches_torch(tmp_path):
    import torch

    rng = np.random.default_rng(0)
    images = rng.standard_normal((32, 3, 32, 32)).astype(np.float32)
    labels = rng.integers(0, 10, 32).astype(np.int64)
    torch.manual_seed(0)
    (tmp_path / "t").mkdir()
    (tmp_path / "e").mkdir()
    # The torch run starts from torch's own init; its initial weights are handed to Ember.
    first = run_script(SCRIPT, "torch", images=images, labels=labels, init_state=None,
                       tmp_dir=tmp_path / "t")
    init = torch_state_as_numpy(first["Net"]().state_dict())
    ref = run_script(SCRIPT, "torch", images=images, labels=labels, init_state=init,
                     tmp_dir=tmp_path / "t")
    out = run_script(SCRIPT, "ember", images=images, labels=labels, init_state=init,
                     tmp_dir=tmp_path / "e")

    assert len(out["epoch_losses"]) == 2 and all(isinstance(v, float) for v in out["epoch_losses"])
    np.testing.assert_allclose(out["epoch_losses"], ref["epoch_losses"], rtol=1e-4)
    assert out["total"] == ref["total"] == 32
    assert isinstance(out["correct"], int)
    assert out["correct"] == ref["correct"]
    assert out["accuracy"] == ref["accuracy"]
    assert list(out["final_state"]) == list(ref["final_state"])
    for k, v in ref["final_state"].items():
        assert_close(out["final_state"][k], v, rtol=1e-4, atol=1e-5, what=k)
    np.testing.assert_array_equal(np.concatenate(out["all_predicted"]),
                                  np.concatenate(ref["all_predicted"]))
    # The weights really moved (the comparison above is not between two untouched inits).
    assert max(np.abs(ref["final_state"][k] - init[k]).max() for k in init) > 1e-3
