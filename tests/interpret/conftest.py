import pytest

import ember
from ember import nn


class DigitsNet(nn.Module):
    """A small CNN for the 8x8 digits ending in a global average pool and a Linear layer
    (Grad-CAM, CAM and the attacks all apply)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.relu2(self.conv2(self.pool1(self.relu1(self.conv1(x)))))
        return self.fc(ember.flatten(self.avgpool(x), 1))


@pytest.fixture(scope="session")
def digits():
    """The bundled 8x8 digits split as ``ember train`` splits them (normalised inputs)."""
    from ember.train.data import load_splits
    return load_splits("digits", val_split=0.1, test_fraction=0.1)


def train_digits_net(digits, epochs=5, batch_transform=None, seed=0):
    from ember.train.data import ArrayDataset, collate_batch
    from ember.train.trainer import Trainer
    from ember.utils.data import DataLoader
    ember.manual_seed(seed)
    model = DigitsNet()
    loader = DataLoader(ArrayDataset(*digits["train"]), batch_size=64, shuffle=True,
                        collate_fn=collate_batch)
    trainer = Trainer(model, ember.optim.Adam(model.parameters(), lr=0.02),
                      batch_transform=batch_transform)
    trainer.fit(loader, epochs=epochs)
    return model.eval()


@pytest.fixture(scope="session")
def trained_digits_net(digits):
    """DigitsNet trained for 5 epochs on the digits (about 86% test accuracy, in 2 s)."""
    return train_digits_net(digits)
