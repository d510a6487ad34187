"""PyTorch's "Saving and loading a general checkpoint" recipe: save epoch, model and
optimizer state and the loss in one dict, load it back (with the ``map_location`` forms found
in scripts written for GPUs) and resume; the resumed run must continue exactly as the
uninterrupted one, and both libraries must agree."""
import numpy as np
import pytest

import ember
from tests.compat.script import run_script, torch_state_as_numpy

SCRIPT = '''
import torch
import torch.nn as nn
import torch.optim as optim


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 8)
        self.bn = nn.BatchNorm1d(8)
        self.fc2 = nn.Linear(8, 3)

    def forward(self, x):
        return self.fc2(torch.relu(self.bn(self.fc1(x))))


def make():
    net = Net()
    net.load_state_dict({k: torch.from_numpy(v) for k, v in init_state.items()})
    return net, optim.Adam(net.parameters(), lr=0.01, weight_decay=1e-4)


X, Y = torch.from_numpy(x_np), torch.from_numpy(y_np)


def train(net, optimizer, steps):
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(net(X), Y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


net, optimizer = make()
first = train(net, optimizer, 3)
torch.save({"epoch": 3, "model_state_dict": net.state_dict(),
            "optimizer_state_dict": optimizer.state_dict(), "loss": first[-1]}, PATH)
uninterrupted = train(net, optimizer, 3)

resumed = {}
for name, map_location in [("none", None), ("cpu", "cpu"), ("device", torch.device("cpu")),
                           ("dict", {"cuda:0": "cpu"}),
                           ("lambda", lambda storage, loc: storage)]:
    model, opt = make()
    checkpoint = torch.load(PATH, map_location=map_location)
    model.load_state_dict(checkpoint["model_state_dict"])
    opt.load_state_dict(checkpoint["optimizer_state_dict"])
    epoch = checkpoint["epoch"]
    model.train()
    resumed[name] = (epoch, checkpoint["loss"], train(model, opt, 3))
'''


def test_checkpoint_resume_matches_uninterrupted_and_torch(tmp_path):
    import torch
    torch.manual_seed(0)
    rng = np.random.default_rng(2)
    first = run_script(SCRIPT.split("def make")[0], "torch")
    inputs = dict(init_state=torch_state_as_numpy(first["Net"]().state_dict()),
                  x_np=rng.standard_normal((10, 6)).astype(np.float32),
                  y_np=rng.integers(0, 3, 10))
    ref = run_script(SCRIPT, "torch", PATH=str(tmp_path / "t.pt"), **inputs)
    out = run_script(SCRIPT, "ember", PATH=str(tmp_path / "e.pt"), **inputs)
    np.testing.assert_allclose(out["first"], ref["first"], rtol=1e-5)
    np.testing.assert_allclose(out["uninterrupted"], ref["uninterrupted"], rtol=1e-4)
    for name, (epoch, loss, losses) in out["resumed"].items():
        assert epoch == 3 and loss == out["first"][-1] and type(loss) is float
        assert losses == out["uninterrupted"], name          # bit-identical continuation
        np.testing.assert_allclose(losses, ref["resumed"][name][2], rtol=1e-4)


def test_map_location_naming_another_device_is_refused(tmp_path):
    path = str(tmp_path / "x.pt")
    ember.save({"w": ember.ones(2)}, path)
    for bad in ("cuda:0", {"cpu": "cuda:1"}):
        with pytest.raises(ValueError, match="map_location must be None or 'cpu'"):
            ember.load(path, map_location=bad)
    with pytest.raises(RuntimeError, match="cuda: Ember runs on the CPU only"):
        ember.load(path, map_location=lambda storage, loc: storage.cuda())
    with pytest.raises(TypeError, match="map_location function should return a tensor"):
        ember.load(path, map_location=lambda storage, loc: 3)
    doubled = ember.load(path, map_location=lambda storage, loc: storage * 2)
    assert doubled["w"].tolist() == [2.0, 2.0]
