"""PyTorch's "Quickstart" tutorial (train/test functions, device selection with
``torch.cuda`` / ``torch.accelerator``, ``nn.Flatten`` + ``nn.Sequential``, ``.to(device)``,
``.type(torch.float)``, f-string progress lines), run verbatim under torch and Ember on
FashionMNIST-shaped data from the same initial weights. The printed report must match."""
import contextlib
import io

import numpy as np

from tests.compat.script import run_script, torch_state_as_numpy

SCRIPT = '''
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
import torch.backends.cudnn as cudnn

cudnn.benchmark = True
torch.cuda.manual_seed_all(0)
device = torch.accelerator.current_accelerator().type if torch.accelerator.is_available() else "cpu"
legacy_device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
mps = torch.backends.mps.is_available()
print(f"Using {device} device")

training_data = TensorDataset(torch.from_numpy(train_x), torch.from_numpy(train_y))
test_data = TensorDataset(torch.from_numpy(test_x), torch.from_numpy(test_y))
batch_size = 16
train_dataloader = DataLoader(training_data, batch_size=batch_size)
test_dataloader = DataLoader(test_data, batch_size=batch_size)
for X, y in test_dataloader:
    print(f"Shape of X [N, C, H, W]: {X.shape}")
    print(f"Shape of y: {y.shape} {y.dtype}")
    break


class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(28*28, 64),
            nn.ReLU(),
            nn.Linear(64, 64),
            nn.ReLU(),
            nn.Linear(64, 10)
        )

    def forward(self, x):
        x = self.flatten(x)
        logits = self.linear_relu_stack(x)
        return logits


model = NeuralNetwork().to(device)
if init_state is not None:
    model.load_state_dict({k: torch.from_numpy(v) for k, v in init_state.items()})
loss_fn = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=1e-1)


def train(dataloader, model, loss_fn, optimizer):
    size = len(dataloader.dataset)
    model.train()
    for batch, (X, y) in enumerate(dataloader):
        X, y = X.to(device), y.to(device)
        pred = model(X)
        loss = loss_fn(pred, y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if batch % 2 == 0:
            loss, current = loss.item(), (batch + 1) * len(X)
            print(f"loss: {loss:>7f}  [{current:>5d}/{size:>5d}]")


def test(dataloader, model, loss_fn):
    size = len(dataloader.dataset)
    num_batches = len(dataloader)
    model.eval()
    test_loss, correct = 0, 0
    with torch.no_grad():
        for X, y in dataloader:
            X, y = X.to(device), y.to(device)
            pred = model(X)
            test_loss += loss_fn(pred, y).item()
            correct += (pred.argmax(1) == y).type(torch.float).sum().item()
    test_loss /= num_batches
    correct /= size
    print(f"Test Error: \\n Accuracy: {(100*correct):>0.1f}%, Avg loss: {test_loss:>8f} \\n")
    return correct


epochs = 3
for t in range(epochs):
    print(f"Epoch {t+1}\\n-------------------------------")
    train(train_dataloader, model, loss_fn, optimizer)
    accuracy = test(test_dataloader, model, loss_fn)
print("Done!")

model.eval()
x, y = test_data[0][0], test_data[0][1]
with torch.no_grad():
    x = x.to(device)
    pred = model(x.unsqueeze(0))
    predicted, actual = pred[0].argmax(0), y
    print(f'Predicted: "{int(predicted)}", Actual: "{int(actual)}"')
'''


def _run(lib, **inputs):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        ns = run_script(SCRIPT, lib, **inputs)
    return ns, buf.getvalue()


def test_quickstart_tutorial_prints_what_torch_prints():
    import torch
    torch.manual_seed(0)
    rng = np.random.default_rng(11)
    # images whose class is readable from the mean brightness of one of 10 bands, so that
    # three epochs visibly learn
    train_y = rng.integers(0, 10, 96)
    test_y = rng.integers(0, 10, 32)

    def images(labels):
        x = rng.random((len(labels), 1, 28, 28)).astype(np.float32) * 0.2
        for i, c in enumerate(labels):
            x[i, 0, 2 * c:2 * c + 3] += 0.8
        return x

    inputs = dict(train_x=images(train_y), train_y=train_y, test_x=images(test_y),
                  test_y=test_y, init_state=None)
    first, _ = _run("torch", **inputs)
    inputs["init_state"] = torch_state_as_numpy(first["NeuralNetwork"]().state_dict())
    ref, ref_text = _run("torch", **inputs)
    out, out_text = _run("ember", **inputs)

    assert out["device"] == ref["device"] == "cpu"
    assert str(out["legacy_device"]) == str(ref["legacy_device"]) == "cpu"
    assert out["mps"] is ref["mps"] is False
    # the printed report, line by line (shapes print as ember.Size / torch.Size)
    ref_lines = ref_text.replace("torch.", "").splitlines()
    out_lines = out_text.replace("ember.", "").splitlines()
    assert len(out_lines) == len(ref_lines)
    for a, b in zip(out_lines, ref_lines):
        if a.startswith("loss:") or "Avg loss" in a:   # float32 values: compare numerically
            va = [float(t) for t in a.replace("%", " ").replace(",", " ").split()
                  if t.replace(".", "", 1).isdigit()]
            vb = [float(t) for t in b.replace("%", " ").replace(",", " ").split()
                  if t.replace(".", "", 1).isdigit()]
            np.testing.assert_allclose(va, vb, rtol=1e-4, atol=2e-6, err_msg=a)
        else:
            assert a == b
    assert out["accuracy"] == ref["accuracy"] and ref["accuracy"] > 0.3, ref_text  # chance: 0.1
