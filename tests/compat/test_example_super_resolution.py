"""pytorch/examples' ``super_resolution`` program in its shape: images read from a folder
and converted to YCbCr (the Y channel is learned), ``CenterCrop`` + ``Resize`` +
``ToTensor`` input and target transforms, the sub-pixel network (``nn.PixelShuffle``,
orthogonal initialization with ``init.calculate_gain('relu')``), MSE with Adam, the PSNR
report, then ``super_resolve``: a picture upscaled and merged back with its resized Cb and
Cr. It runs under torch and under Ember's hook on small files the test writes, from the
same weights; the comparison runs in float64 (``DTYPE`` where the example leaves the default
float32): the reports agree digit for digit and the pictures to one grey level; the float32
run prints the same report."""
import contextlib
import io

import numpy as np
from PIL import Image

import ember
from tests.compat.script import (assert_same_report, assert_same_shape_of_report, run_script,
                                 torch_state_as_numpy)
from tests.torchvision_oracle import import_torchvision

DEFINITIONS = '''
from math import log10
from os import listdir
from os.path import join

import numpy as np
import torch
import torch.nn as nn
import torch.nn.init as init
import torch.optim as optim
import torch.utils.data as data
from PIL import Image
from torch.utils.data import DataLoader
from torchvision.transforms import CenterCrop, Compose, Resize, ToTensor


class Net(nn.Module):
    def __init__(self, upscale_factor):
        super(Net, self).__init__()

        self.relu = nn.ReLU()
        self.conv1 = nn.Conv2d(1, 64, (5, 5), (1, 1), (2, 2))
        self.conv2 = nn.Conv2d(64, 64, (3, 3), (1, 1), (1, 1))
        self.conv3 = nn.Conv2d(64, 32, (3, 3), (1, 1), (1, 1))
        self.conv4 = nn.Conv2d(32, upscale_factor ** 2, (3, 3), (1, 1), (1, 1))
        self.pixel_shuffle = nn.PixelShuffle(upscale_factor)

        self._initialize_weights()

    def forward(self, x):
        x = self.relu(self.conv1(x))
        x = self.relu(self.conv2(x))
        x = self.relu(self.conv3(x))
        x = self.pixel_shuffle(self.conv4(x))
        return x

    def _initialize_weights(self):
        init.orthogonal_(self.conv1.weight, init.calculate_gain('relu'))
        init.orthogonal_(self.conv2.weight, init.calculate_gain('relu'))
        init.orthogonal_(self.conv3.weight, init.calculate_gain('relu'))
        init.orthogonal_(self.conv4.weight)


def is_image_file(filename):
    return any(filename.endswith(extension) for extension in [".png", ".jpg", ".jpeg"])


def load_img(filepath):
    img = Image.open(filepath).convert('YCbCr')
    y, _, _ = img.split()
    return y


class DatasetFromFolder(data.Dataset):
    def __init__(self, image_dir, input_transform=None, target_transform=None):
        super(DatasetFromFolder, self).__init__()
        self.image_filenames = [join(image_dir, x) for x in sorted(listdir(image_dir))
                                if is_image_file(x)]

        self.input_transform = input_transform
        self.target_transform = target_transform

    def __getitem__(self, index):
        input = load_img(self.image_filenames[index])
        target = input.copy()
        if self.input_transform:
            input = self.input_transform(input)
        if self.target_transform:
            target = self.target_transform(target)

        return input, target

    def __len__(self):
        return len(self.image_filenames)


def calculate_valid_crop_size(crop_size, upscale_factor):
    return crop_size - (crop_size % upscale_factor)


def input_transform(crop_size, upscale_factor):
    return Compose([
        CenterCrop(crop_size),
        Resize(crop_size // upscale_factor),
        ToTensor(),
    ])


def target_transform(crop_size):
    return Compose([
        CenterCrop(crop_size),
        ToTensor(),
    ])
'''
MAIN = '''
torch.manual_seed(123)
device = torch.device("cpu")
upscale_factor = 2
crop_size = calculate_valid_crop_size(30, upscale_factor)
train_set = DatasetFromFolder(join(root, "train"), input_transform(crop_size, upscale_factor),
                              target_transform(crop_size))
test_set = DatasetFromFolder(join(root, "test"), input_transform(crop_size, upscale_factor),
                             target_transform(crop_size))
training_data_loader = DataLoader(dataset=train_set, num_workers=0, batch_size=4, shuffle=False)
testing_data_loader = DataLoader(dataset=test_set, num_workers=0, batch_size=4, shuffle=False)

model = Net(upscale_factor=upscale_factor).to(device, DTYPE)
model.load_state_dict({k: torch.from_numpy(v) for k, v in init_state.items()})
criterion = nn.MSELoss()
optimizer = optim.Adam(model.parameters(), lr=0.01)


def train(epoch):
    epoch_loss = 0
    for iteration, batch in enumerate(training_data_loader, 1):
        input, target = batch[0].to(device, DTYPE), batch[1].to(device, DTYPE)

        optimizer.zero_grad()
        loss = criterion(model(input), target)
        epoch_loss += loss.item()
        loss.backward()
        optimizer.step()

        print("===> Epoch[{}]({}/{}): Loss: {:.4f}".format(epoch, iteration, len(training_data_loader), loss.item()))

    print("===> Epoch {} Complete: Avg. Loss: {:.4f}".format(epoch, epoch_loss / len(training_data_loader)))


def test():
    avg_psnr = 0
    with torch.no_grad():
        for batch in testing_data_loader:
            input, target = batch[0].to(device, DTYPE), batch[1].to(device, DTYPE)

            prediction = model(input)
            mse = criterion(prediction, target)
            psnr = 10 * log10(1 / mse.item())
            avg_psnr += psnr
    print("===> Avg. PSNR: {:.4f} dB".format(avg_psnr / len(testing_data_loader)))


def checkpoint(epoch):
    model_out_path = join(root, "model_epoch_{}.pth".format(epoch))
    torch.save(model.state_dict(), model_out_path)   # the example pickles the whole model
    print("Checkpoint saved to {}".format(model_out_path.replace(root, "ROOT")))


for epoch in range(1, 3):
    train(epoch)
    test()
    checkpoint(epoch)

# super_resolve.py: one picture through the trained network
img = Image.open(join(root, "test", sorted(listdir(join(root, "test")))[0])).convert('YCbCr')
y, cb, cr = img.split()
net = Net(upscale_factor).to(device, DTYPE)
net.load_state_dict(torch.load(join(root, "model_epoch_2.pth")))
img_to_tensor = ToTensor()
input = img_to_tensor(y).to(DTYPE).view(1, -1, y.size[1], y.size[0])
out = net(input)
out_img_y = out[0].detach().numpy()
out_img_y *= 255.0
out_img_y = out_img_y.clip(0, 255)
out_img_y = Image.fromarray(np.uint8(out_img_y[0]), mode='L')
out_img_cb = cb.resize(out_img_y.size, Image.BICUBIC)
out_img_cr = cr.resize(out_img_y.size, Image.BICUBIC)
out_img = Image.merge('YCbCr', [out_img_y, out_img_cb, out_img_cr]).convert('RGB')
out_img.save(join(root, "out.png"))
'''


def _pictures(root, images):
    """Colour pictures made of digits: each channel a different digit."""
    for part, start in (("train", 0), ("test", 24)):
        (root / part).mkdir(parents=True)
        for i in range(start, start + 8, 1):
            rgb = np.stack([images[i], images[i + 8], images[i + 16]], axis=-1)
            rgb = np.pad(rgb, ((1, 1), (1, 1), (0, 0)), mode="edge")      # 30 x 30
            Image.fromarray(rgb, mode="RGB").save(root / part / f"{i:03d}.png")


def test_super_resolution_example_matches_torch(dithered_digits, tmp_path):
    import torch
    import_torchvision()
    torch.manual_seed(3)
    init_state = torch_state_as_numpy(run_script(DEFINITIONS, "torch")["Net"](2).state_dict())
    reports = {}
    for run, mode, lib, dtype in (("torch", "torch", torch, "float64"),
                                  ("ember", "compat", ember, "float64"),
                                  ("ember32", "compat", ember, "float32")):
        _pictures(tmp_path / run, dithered_digits[0])
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            namespace = run_script(DEFINITIONS + MAIN, mode, root=str(tmp_path / run),
                                   init_state=init_state, DTYPE=getattr(lib, dtype))
        reports[run] = out.getvalue()
        if run == "ember":
            assert type(namespace["net"].pixel_shuffle).__module__.startswith("ember")
    assert_same_report(reports["ember"], reports["torch"])
    assert_same_shape_of_report(reports["ember32"], reports["ember"])
    assert reports["ember"].count("Avg. PSNR") == 2
    ours, theirs = (np.asarray(Image.open(tmp_path / run / "out.png"), dtype=np.int32)
                    for run in ("ember", "torch"))
    assert ours.shape == (60, 60, 3) and np.abs(ours - theirs).max() <= 1
