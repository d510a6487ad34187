"""pytorch/examples' ``vae`` program in its shape: a variational autoencoder (reparameterized
with ``torch.randn_like``), the BCE + KL loss, Adam, the train/test report, and
``torchvision.utils.save_image`` of reconstructions and samples. It runs unchanged under
torch and under Ember's hook from the same weights and with the same noise (both libraries'
``randn_like``/``randn`` replaced by one shared sequence, as their generators differ). The
comparison runs in float64 (``DTYPE`` stands where the example leaves the default float32):
the reports agree digit for digit and the saved images to one grey level; the float32 run
prints the same report."""
import contextlib
import io

import numpy as np
import pytest
from PIL import Image

import ember
from tests.compat.script import (assert_same_report, assert_same_shape_of_report, run_script,
                                 torch_state_as_numpy)
from tests.torchvision_oracle import import_torchvision

DEFINITIONS = '''
import os
import torch
import torch.utils.data
from torch import nn, optim
from torch.nn import functional as F
from torchvision.utils import save_image


class VAE(nn.Module):
    def __init__(self):
        super(VAE, self).__init__()

        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5*logvar)
        eps = torch.randn_like(std)
        return mu + eps*std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 784))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


# Reconstruction + KL divergence losses summed over all elements and batch
def loss_function(recon_x, x, mu, logvar):
    BCE = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction='sum')
    # see Appendix B from VAE paper: 0.5 * sum(1 + log(sigma^2) - mu^2 - sigma^2)
    KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return BCE + KLD


def train(epoch):
    model.train()
    train_loss = 0
    for batch_idx, (data, _) in enumerate(train_loader):
        data = data.to(device)
        optimizer.zero_grad()
        recon_batch, mu, logvar = model(data)
        loss = loss_function(recon_batch, data, mu, logvar)
        loss.backward()
        train_loss += loss.item()
        optimizer.step()
        if batch_idx % log_interval == 0:
            print('Train Epoch: {} [{}/{} ({:.0f}%)]\\tLoss: {:.6f}'.format(
                epoch, batch_idx * len(data), len(train_loader.dataset),
                100. * batch_idx / len(train_loader),
                loss.item() / len(data)))

    print('====> Epoch: {} Average loss: {:.4f}'.format(
          epoch, train_loss / len(train_loader.dataset)))


def test(epoch):
    model.eval()
    test_loss = 0
    with torch.no_grad():
        for i, (data, _) in enumerate(test_loader):
            data = data.to(device)
            recon_batch, mu, logvar = model(data)
            test_loss += loss_function(recon_batch, data, mu, logvar).item()
            if i == 0:
                n = min(data.size(0), 8)
                comparison = torch.cat([data[:n],
                                      recon_batch.view(batch_size, 1, 28, 28)[:n]])
                save_image(comparison.cpu(),
                         os.path.join(results, 'reconstruction_' + str(epoch) + '.png'), nrow=n)

    test_loss /= len(test_loader.dataset)
    print('====> Test set loss: {:.4f}'.format(test_loss))
'''
MAIN = '''
torch.manual_seed(1)
device = torch.device("cpu")
batch_size, log_interval = 16, 2
train_set = torch.utils.data.TensorDataset(torch.from_numpy(train_x), torch.from_numpy(train_y))
test_set = torch.utils.data.TensorDataset(torch.from_numpy(test_x), torch.from_numpy(test_y))
train_loader = torch.utils.data.DataLoader(train_set, batch_size=batch_size, shuffle=False)
test_loader = torch.utils.data.DataLoader(test_set, batch_size=batch_size, shuffle=False)

model = VAE().to(device, DTYPE)
if init_state is not None:
    model.load_state_dict({k: torch.from_numpy(v) for k, v in init_state.items()})
optimizer = optim.Adam(model.parameters(), lr=1e-3)

for epoch in range(1, epochs + 1):
    train(epoch)
    test(epoch)
    with torch.no_grad():
        sample = torch.randn(64, 20, dtype=DTYPE).to(device)
        sample = model.decode(sample).cpu()
        save_image(sample.view(64, 1, 28, 28),
                   os.path.join(results, 'sample_' + str(epoch) + '.png'))
'''
SCRIPT = DEFINITIONS + MAIN


class SharedNoise:
    """``randn``/``randn_like`` for both libraries from one seeded NumPy sequence of float32
    values (a float64 run gets the same values, exactly)."""

    def __init__(self, lib):
        self.lib = lib
        self.rng = np.random.default_rng(5)

    def randn(self, *size, dtype=None, **kwargs):
        values = self.rng.standard_normal(size).astype(np.float32)
        if dtype is not None:
            values = values.astype(str(dtype).split(".")[-1])
        return self.lib.from_numpy(values)

    def randn_like(self, tensor, **kwargs):
        return self.randn(*tensor.shape, dtype=tensor.dtype)


def _run(mode, lib, results, monkeypatch, **inputs):
    noise = SharedNoise(lib)
    with monkeypatch.context() as patch:
        patch.setattr(lib, "randn", noise.randn)
        patch.setattr(lib, "randn_like", noise.randn_like)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            namespace = run_script(SCRIPT, mode, results=str(results), **inputs)
    return namespace, out.getvalue()


@pytest.fixture
def data(mnist_digits):
    images, labels = mnist_digits
    x = (images[:80] / 255.0).astype(np.float32)[:, None]
    return dict(train_x=x[:48], train_y=labels[:48], test_x=x[48:], test_y=labels[48:80])


def test_vae_example_matches_torch(data, tmp_path, monkeypatch):
    import torch
    import_torchvision()
    torch.manual_seed(1)
    init_state = torch_state_as_numpy(run_script(DEFINITIONS, "torch")["VAE"]().state_dict())
    data64 = {k: v.astype(np.float64) if v.dtype == np.float32 else v for k, v in data.items()}
    reports = {}
    for run, mode, lib, inputs in (("torch", "torch", torch, data64),
                                   ("ember", "compat", ember, data64),
                                   ("ember32", "compat", ember, data)):
        (tmp_path / run).mkdir()
        dtype = lib.float32 if run == "ember32" else lib.float64
        _, reports[run] = _run(mode, lib, tmp_path / run, monkeypatch, epochs=2,
                               init_state=init_state, DTYPE=dtype, **inputs)
    assert_same_report(reports["ember"], reports["torch"])
    assert_same_shape_of_report(reports["ember32"], reports["ember"])
    assert "====> Test set loss" in reports["ember"]
    for name in ("reconstruction_1.png", "reconstruction_2.png", "sample_1.png", "sample_2.png"):
        ours, theirs = (np.asarray(Image.open(tmp_path / run / name), dtype=np.int32)
                        for run in ("ember", "torch"))
        assert ours.shape == theirs.shape
        assert np.abs(ours - theirs).max() <= 1, name   # x·255 + 0.5 on a rounding boundary
