"""pytorch/examples' ``dcgan`` program in its shape: generator of transposed convolutions and
discriminator of strided convolutions with batch norm, ``weights_init`` by class name,
``nn.parallel.data_parallel`` when several GPUs exist (the CPU path here), BCE with
``torch.full`` labels and ``fill_``, two Adam optimizers, the printed report, and
``vutils.save_image(..., normalize=True)``; ``--dataset fake`` reads ``dset.FakeData``.
It runs under torch and under Ember's hook from the same initial weights and with the same
noise (both libraries' ``randn`` replaced by one shared sequence). The comparison runs in
float64 (``DTYPE`` stands where the example leaves the default float32): the reports agree
digit for digit and the pictures to one grey level; the float32 run prints the same report."""
import contextlib
import io

import numpy as np
from PIL import Image

import ember
from tests.compat.script import (assert_same_report, assert_same_shape_of_report, run_script,
                                 torch_state_as_numpy)
from tests.compat.test_example_vae import SharedNoise
from tests.torchvision_oracle import import_torchvision

DEFINITIONS = '''
import argparse
import os
import random
import torch
import torch.nn as nn
import torch.nn.parallel
import torch.backends.cudnn as cudnn
import torch.optim as optim
import torch.utils.data
import torchvision.datasets as dset
import torchvision.transforms as transforms
import torchvision.utils as vutils
from PIL import Image

parser = argparse.ArgumentParser()
parser.add_argument('--dataset', required=True, help='mnist | fake')
parser.add_argument('--workers', type=int, help='number of data loading workers', default=0)
parser.add_argument('--batchSize', type=int, default=64, help='input batch size')
parser.add_argument('--imageSize', type=int, default=64, help='the height / width of the input image to network')
parser.add_argument('--nz', type=int, default=100, help='size of the latent z vector')
parser.add_argument('--ngf', type=int, default=64)
parser.add_argument('--ndf', type=int, default=64)
parser.add_argument('--niter', type=int, default=25, help='number of epochs to train for')
parser.add_argument('--lr', type=float, default=0.0002, help='learning rate, default=0.0002')
parser.add_argument('--beta1', type=float, default=0.5, help='beta1 for adam. default=0.5')
parser.add_argument('--cuda', action='store_true', default=False, help='enables cuda')
parser.add_argument('--dry-run', action='store_true', help='check a single training cycle works')
parser.add_argument('--ngpu', type=int, default=1, help='number of GPUs to use')
parser.add_argument('--outf', default='.', help='folder to output images and model checkpoints')
parser.add_argument('--manualSeed', type=int, help='manual seed')
opt = parser.parse_args(ARGV)

random.seed(opt.manualSeed)
torch.manual_seed(opt.manualSeed)
cudnn.benchmark = True
if torch.cuda.is_available() and not opt.cuda:
    print("WARNING: You have a CUDA device, so you should probably run with --cuda")


class Digits(torch.utils.data.Dataset):
    """dset.MNIST as the example reads it, from the bundled digits (no download)."""
    def __init__(self, images, transform):
        self.images, self.transform = images, transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        return self.transform(Image.fromarray(self.images[index], mode="L")), 0


if opt.dataset == 'mnist':
    dataset = Digits(mnist_images, transform=transforms.Compose([
                               transforms.Resize(opt.imageSize),
                               transforms.ToTensor(),
                               transforms.Normalize((0.5,), (0.5,)),
                           ]))
    nc = 1
elif opt.dataset == 'fake':
    dataset = dset.FakeData(size=opt.batchSize * 2, image_size=(3, opt.imageSize, opt.imageSize),
                            transform=transforms.ToTensor())
    nc = 3

dataloader = torch.utils.data.DataLoader(dataset, batch_size=opt.batchSize,
                                         shuffle=False, num_workers=int(opt.workers))
use_mps = hasattr(torch.backends, "mps") and torch.backends.mps.is_available()
if opt.cuda:
    device = torch.device("cuda:0")
elif use_mps:
    device = torch.device("mps")
else:
    device = torch.device("cpu")

ngpu = int(opt.ngpu)
nz = int(opt.nz)
ngf = int(opt.ngf)
ndf = int(opt.ndf)


# custom weights initialization called on netG and netD
def weights_init(m):
    classname = m.__class__.__name__
    if classname.find('Conv') != -1:
        torch.nn.init.normal_(m.weight, 0.0, 0.02)
    elif classname.find('BatchNorm') != -1:
        torch.nn.init.normal_(m.weight, 1.0, 0.02)
        torch.nn.init.zeros_(m.bias)


class Generator(nn.Module):
    def __init__(self, ngpu):
        super(Generator, self).__init__()
        self.ngpu = ngpu
        self.main = nn.Sequential(
            # input is Z, going into a convolution
            nn.ConvTranspose2d(     nz, ngf * 8, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * 8),
            nn.ReLU(True),
            # state size. (ngf*8) x 4 x 4
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 4),
            nn.ReLU(True),
            # state size. (ngf*4) x 8 x 8
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            # state size. (ngf*2) x 16 x 16
            nn.ConvTranspose2d(ngf * 2,     ngf, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf),
            nn.ReLU(True),
            # state size. (ngf) x 32 x 32
            nn.ConvTranspose2d(    ngf,      nc, 4, 2, 1, bias=False),
            nn.Tanh()
            # state size. (nc) x 64 x 64
        )

    def forward(self, input):
        if input.is_cuda and self.ngpu > 1:
            output = nn.parallel.data_parallel(self.main, input, range(self.ngpu))
        else:
            output = self.main(input)
        return output


class Discriminator(nn.Module):
    def __init__(self, ngpu):
        super(Discriminator, self).__init__()
        self.ngpu = ngpu
        self.main = nn.Sequential(
            # input is (nc) x 64 x 64
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            # state size. (ndf) x 32 x 32
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, inplace=True),
            # state size. (ndf*2) x 16 x 16
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 4),
            nn.LeakyReLU(0.2, inplace=True),
            # state size. (ndf*4) x 8 x 8
            nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 8),
            nn.LeakyReLU(0.2, inplace=True),
            # state size. (ndf*8) x 4 x 4
            nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False),
            nn.Sigmoid()
        )

    def forward(self, input):
        if input.is_cuda and self.ngpu > 1:
            output = nn.parallel.data_parallel(self.main, input, range(self.ngpu))
        else:
            output = self.main(input)

        return output.view(-1, 1).squeeze(1)


netG = Generator(ngpu).to(device, DTYPE)
netG.apply(weights_init)
netD = Discriminator(ngpu).to(device, DTYPE)
netD.apply(weights_init)
'''

TRAINING = '''
if init_states is not None:
    netG.load_state_dict({k: torch.from_numpy(v) for k, v in init_states[0].items()})
    netD.load_state_dict({k: torch.from_numpy(v) for k, v in init_states[1].items()})
if opt.ngpu > 1:
    netG, netD = nn.DataParallel(netG), nn.DataParallel(netD)
print(netG)
print(netD)

criterion = nn.BCELoss()

fixed_noise = torch.randn(opt.batchSize, nz, 1, 1, device=device, dtype=DTYPE)
real_label = 1
fake_label = 0

# setup optimizer
optimizerD = optim.Adam(netD.parameters(), lr=opt.lr, betas=(opt.beta1, 0.999))
optimizerG = optim.Adam(netG.parameters(), lr=opt.lr, betas=(opt.beta1, 0.999))

for epoch in range(opt.niter):
    for i, data in enumerate(dataloader, 0):
        ############################
        # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
        ###########################
        # train with real
        netD.zero_grad()
        real_cpu = data[0].to(device, DTYPE)
        batch_size = real_cpu.size(0)
        label = torch.full((batch_size,), real_label,
                           dtype=real_cpu.dtype, device=device)

        output = netD(real_cpu)
        errD_real = criterion(output, label)
        errD_real.backward()
        D_x = output.mean().item()

        # train with fake
        noise = torch.randn(batch_size, nz, 1, 1, device=device, dtype=DTYPE)
        fake = netG(noise)
        label.fill_(fake_label)
        output = netD(fake.detach())
        errD_fake = criterion(output, label)
        errD_fake.backward()
        D_G_z1 = output.mean().item()
        errD = errD_real + errD_fake
        optimizerD.step()

        ############################
        # (2) Update G network: maximize log(D(G(z)))
        ###########################
        netG.zero_grad()
        label.fill_(real_label)  # fake labels are real for generator cost
        output = netD(fake)
        errG = criterion(output, label)
        errG.backward()
        D_G_z2 = output.mean().item()
        optimizerG.step()

        print('[%d/%d][%d/%d] Loss_D: %.4f Loss_G: %.4f D(x): %.4f D(G(z)): %.4f / %.4f'
              % (epoch, opt.niter, i, len(dataloader),
                 errD.item(), errG.item(), D_x, D_G_z1, D_G_z2))
        if i % 100 == 0:
            vutils.save_image(real_cpu,
                    '%s/real_samples.png' % opt.outf,
                    normalize=True)
            fake = netG(fixed_noise)
            vutils.save_image(fake.detach(),
                    '%s/fake_samples_epoch_%03d.png' % (opt.outf, epoch),
                    normalize=True)

        if opt.dry_run:
            break
    # do checkpointing
    torch.save(netG.state_dict(), '%s/netG_epoch_%d.pth' % (opt.outf, epoch))
    torch.save(netD.state_dict(), '%s/netD_epoch_%d.pth' % (opt.outf, epoch))
'''
SCRIPT = DEFINITIONS + TRAINING


def _run(mode, lib, outf, monkeypatch, argv, shared_noise=True, **inputs):
    with monkeypatch.context() as patch:
        if shared_noise:
            patch.setattr(lib, "randn", SharedNoise(lib).randn)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            namespace = run_script(SCRIPT, mode, ARGV=argv + ["--outf", str(outf)], **inputs)
    return namespace, out.getvalue()


ARGV = ["--dataset", "mnist", "--batchSize", "4", "--nz", "16", "--ngf", "8", "--ndf", "8",
        "--niter", "1", "--manualSeed", "7"]


def test_dcgan_example_matches_torch(dithered_digits, tmp_path, monkeypatch):
    import torch
    import_torchvision()
    images = dithered_digits[0][:12]
    definitions = run_script(DEFINITIONS, "torch", ARGV=ARGV, mnist_images=images,
                             DTYPE=torch.float32)
    init_states = (torch_state_as_numpy(definitions["netG"].state_dict()),
                   torch_state_as_numpy(definitions["netD"].state_dict()))
    reports = {}
    for run, mode, lib, dtype in (("torch", "torch", torch, "float64"),
                                  ("ember", "compat", ember, "float64"),
                                  ("ember32", "compat", ember, "float32")):
        (tmp_path / run).mkdir()
        namespace, reports[run] = _run(mode, lib, tmp_path / run, monkeypatch, ARGV,
                                       mnist_images=images, init_states=init_states,
                                       DTYPE=getattr(lib, dtype))
        if run == "ember":
            assert type(namespace["netG"].main[0]).__module__.startswith("ember")
    # the networks' reprs, then one line per iteration
    assert_same_report(reports["ember"], reports["torch"])
    assert_same_shape_of_report(reports["ember32"], reports["ember"])
    assert reports["ember"].count("Loss_D") == 3
    for name in ("real_samples.png", "fake_samples_epoch_000.png"):
        ours, theirs = (np.asarray(Image.open(tmp_path / run / name), dtype=np.int32)
                        for run in ("ember", "torch"))
        assert ours.shape == theirs.shape == (68, 266, 3) and np.abs(ours - theirs).max() <= 1
    saved = ember.load(str(tmp_path / "ember" / "netG_epoch_0.pth"))
    assert list(saved) == list(init_states[0])


def test_dcgan_example_on_fake_data_with_two_gpus_asked(tmp_path, monkeypatch):
    """``--dataset fake`` (torchvision's FakeData) and ``--ngpu 2``: without GPUs the
    networks run on the CPU path, wrapped in DataParallel as the program asks."""
    ours, report = _run("compat", ember, tmp_path, monkeypatch,
                        ["--dataset", "fake", "--batchSize", "2", "--nz", "8", "--ngf", "4",
                         "--ndf", "4", "--niter", "1", "--ngpu", "2", "--dry-run",
                         "--manualSeed", "1"], shared_noise=False, mnist_images=None,
                        init_states=None, DTYPE=ember.float32)
    assert report.startswith("DataParallel(") and report.count("Loss_D") == 1
    assert (tmp_path / "fake_samples_epoch_000.png").exists()
    assert ours["nc"] == 3 and type(ours["dataset"]).__name__ == "FakeData"
