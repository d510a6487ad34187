"""pytorch/examples' ``mnist`` program, in its shape: argparse options, a CNN with dropout,
``transforms.Compose([ToTensor(), Normalize(...)])`` on PIL images, ``optim.Adadelta`` with
``StepLR``, the train/test loops and their printed report, ``torch.save`` of the weights.
The script runs unchanged under torch and under Ember's import hook, on the bundled MNIST
digits (the example downloads MNIST), from the same initial weights and with dropout off. The
comparison runs in float64 (``DTYPE`` stands where the example leaves the default float32):
the reports agree digit for digit; the float32 run prints the same report."""
import contextlib
import io

import ember
from tests.compat.script import (assert_same_report, assert_same_shape_of_report, run_script,
                                 torch_state_as_numpy)
from tests.torchvision_oracle import import_torchvision

SCRIPT = '''
import argparse
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from PIL import Image
from torchvision import transforms
from torch.optim.lr_scheduler import StepLR


class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(DROPOUT[0])
        self.dropout2 = nn.Dropout(DROPOUT[1])
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = self.conv1(x)
        x = F.relu(x)
        x = self.conv2(x)
        x = F.relu(x)
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = self.fc1(x)
        x = F.relu(x)
        x = self.dropout2(x)
        x = self.fc2(x)
        output = F.log_softmax(x, dim=1)
        return output


class Digits(torch.utils.data.Dataset):
    """MNIST as the example reads it (PIL images through a transform), from arrays."""
    def __init__(self, images, labels, transform):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        image = Image.fromarray(self.images[index], mode="L")
        return self.transform(image), int(self.labels[index])


def train(args, model, device, train_loader, optimizer, epoch):
    model.train()
    for batch_idx, (data, target) in enumerate(train_loader):
        data, target = data.to(device, DTYPE), target.to(device)
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        if batch_idx % args.log_interval == 0:
            print('Train Epoch: {} [{}/{} ({:.0f}%)]\\tLoss: {:.6f}'.format(
                epoch, batch_idx * len(data), len(train_loader.dataset),
                100. * batch_idx / len(train_loader), loss.item()))
            if args.dry_run:
                break


def test(model, device, test_loader):
    model.eval()
    test_loss = 0
    correct = 0
    with torch.no_grad():
        for data, target in test_loader:
            data, target = data.to(device, DTYPE), target.to(device)
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction='sum').item()  # sum up batch loss
            pred = output.argmax(dim=1, keepdim=True)  # get the index of the max log-probability
            correct += pred.eq(target.view_as(pred)).sum().item()

    test_loss /= len(test_loader.dataset)
    print('\\nTest set: Average loss: {:.4f}, Accuracy: {}/{} ({:.0f}%)\\n'.format(
        test_loss, correct, len(test_loader.dataset),
        100. * correct / len(test_loader.dataset)))
    return test_loss


parser = argparse.ArgumentParser(description='PyTorch MNIST Example')
parser.add_argument('--batch-size', type=int, default=64)
parser.add_argument('--test-batch-size', type=int, default=1000)
parser.add_argument('--epochs', type=int, default=14)
parser.add_argument('--lr', type=float, default=1.0)
parser.add_argument('--gamma', type=float, default=0.7)
parser.add_argument('--no-accel', action='store_true')
parser.add_argument('--dry-run', action='store_true')
parser.add_argument('--seed', type=int, default=1)
parser.add_argument('--log-interval', type=int, default=10)
parser.add_argument('--save-model', action='store_true')
args = parser.parse_args(ARGV)

use_accel = not args.no_accel and torch.accelerator.is_available()
torch.manual_seed(args.seed)
device = torch.accelerator.current_accelerator() if use_accel else torch.device("cpu")
train_kwargs = {'batch_size': args.batch_size}
test_kwargs = {'batch_size': args.test_batch_size}

transform = transforms.Compose([
    transforms.ToTensor(),
    transforms.Normalize((0.1307,), (0.3081,))
])
dataset1 = Digits(train_images, train_labels, transform)
dataset2 = Digits(test_images, test_labels, transform)
train_loader = torch.utils.data.DataLoader(dataset1, **train_kwargs)
test_loader = torch.utils.data.DataLoader(dataset2, **test_kwargs)

model = Net().to(device, DTYPE)
if init_state is not None:
    model.load_state_dict({k: torch.from_numpy(v) for k, v in init_state.items()})
optimizer = optim.Adadelta(model.parameters(), lr=args.lr)

scheduler = StepLR(optimizer, step_size=1, gamma=args.gamma)
losses = []
for epoch in range(1, args.epochs + 1):
    train(args, model, device, train_loader, optimizer, epoch)
    losses.append(test(model, device, test_loader))
    scheduler.step()

if args.save_model:
    torch.save(model.state_dict(), save_path)
'''

ARGV = ["--batch-size", "16", "--test-batch-size", "32", "--epochs", "2", "--log-interval", "2",
        "--save-model"]


def _run(mode, **inputs):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        namespace = run_script(SCRIPT, mode, **inputs)
    return namespace, out.getvalue()


def test_mnist_example_prints_what_torch_prints(dithered_digits, tmp_path):
    import torch
    import_torchvision()
    images, labels = dithered_digits
    inputs = dict(train_images=images[:64], train_labels=labels[:64], test_images=images[64:128],
                  test_labels=labels[64:128], ARGV=ARGV, DROPOUT=(0.0, 0.0), init_state=None)
    torch.manual_seed(1)
    first, _ = _run("torch", **inputs, DTYPE=torch.float32, save_path=str(tmp_path / "first.pt"))
    inputs["init_state"] = torch_state_as_numpy(first["model"].state_dict())
    theirs, theirs_report = _run("torch", **inputs, DTYPE=torch.float64,
                                 save_path=str(tmp_path / "torch.pt"))
    ours, ours_report = _run("compat", **inputs, DTYPE=ember.float64,
                             save_path=str(tmp_path / "ember.pt"))
    assert_same_report(ours_report, theirs_report)
    assert "Train Epoch: 2 [32/64 (50%)]" in ours_report and "Test set: Average loss" in ours_report
    saved = ember.load(str(tmp_path / "ember.pt"))
    assert list(saved) == list(theirs["model"].state_dict())
    # the example's own dtype
    ours32, report32 = _run("compat", **inputs, DTYPE=ember.float32,
                            save_path=str(tmp_path / "ember32.pt"))
    assert_same_shape_of_report(report32, ours_report)
    assert ours32["losses"][1] < ours32["losses"][0]
    assert all(v.dtype is ember.float32 for v in ember.load(str(tmp_path / "ember32.pt")).values())


def test_mnist_example_with_its_dropout_learns(dithered_digits, tmp_path):
    images, labels = dithered_digits
    ours, report = _run("compat", train_images=images[:96], train_labels=labels[:96],
                        test_images=images[96:160], test_labels=labels[96:160],
                        ARGV=ARGV[:4] + ["--epochs", "3", "--dry-run"], DROPOUT=(0.25, 0.5),
                        init_state=None, save_path=None, DTYPE=ember.float32)
    assert report.count("Train Epoch") == 3 and ours["losses"][-1] < ours["losses"][0]
