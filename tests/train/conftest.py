import pytest

import ember
from ember import nn
from ember.train.data import ArrayDataset, collate_batch, load_splits
from ember.utils.data import DataLoader


class TinyNet(nn.Module):
    """A small CNN for the 8x8 digits, with dropout so that runs use the main generator."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.drop = nn.Dropout(0.2)
        self.fc = nn.Linear(4 * 4 * 4, 10)

    def forward(self, x):
        x = self.pool(ember.relu(self.conv(x)))
        return self.fc(self.drop(ember.flatten(x, 1)))


@pytest.fixture(scope="session")
def digits_splits():
    return load_splits("digits", val_split=0.1, test_fraction=0.1)


@pytest.fixture
def make_loaders(digits_splits):
    def make(n_train=400, batch_size=32, augment="basic", num_workers=0):
        x, y = digits_splits["train"]
        train = ArrayDataset(x[:n_train], y[:n_train], augment=augment, shift=1)
        val = ArrayDataset(*digits_splits["val"])
        kwargs = {"num_workers": num_workers} if num_workers else {}
        return (DataLoader(train, batch_size=batch_size, shuffle=True, collate_fn=collate_batch,
                           **kwargs),
                DataLoader(val, batch_size=64, collate_fn=collate_batch))
    return make


@pytest.fixture
def tiny_net():
    return TinyNet
