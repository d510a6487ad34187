"""Transfer learning, the way lecture 003 "微调" (fine-tuning) describes it — runnable in
well under a minute on a CPU, with no download.

1. **Pre-train** a network on a big task. Here: a small CIFAR-style ResNet
   (``ember.vision.models.resnet20``) learns the digits 0-6 of the bundled 8x8
   ``ember.vision.datasets.Digits`` (scikit-learn's handwritten digits).
2. **Reuse it on a new, small task**: tell 7, 8 and 9 apart from only a few examples each.
   - *Small data set* -> treat the CNN as a fixed feature extractor: freeze everything
     (``requires_grad_(False)``), replace the last layer (``model.fc = nn.Linear(32, 3)``,
     via ``replace_head``) and train only that layer.
   - *More data* -> also fine-tune the top layers (``unfreeze(model, "layer3")``) with a
     smaller learning rate.
3. Look at the features the backbone computes for the new classes
   (``create_feature_extractor``).

Run:  ``python examples/transfer_learning.py``
"""
import time

import numpy as np

import ember
import ember.nn as nn
from ember.utils.data import DataLoader, TensorDataset
from ember.vision.datasets import Digits
from ember.vision.models import (create_feature_extractor, freeze, replace_head, resnet20,
                                 unfreeze)


def digits_tensors(train, classes):
    """Images ``(N, 3, 8, 8)`` in [0, 1] (gray copied to 3 channels, as for an RGB
    backbone) and labels ``0..len(classes)-1`` for the chosen digits."""
    ds = Digits(train=train)
    images = ds.data.numpy().astype(np.float32) / 16.0
    labels = ds.targets.numpy()
    keep = np.isin(labels, classes)
    x = np.repeat(images[keep][:, None], 3, axis=1)
    y = np.searchsorted(np.asarray(classes), labels[keep])
    return ember.from_numpy(np.ascontiguousarray(x)), ember.from_numpy(y.astype(np.int64))


def train(model, x, y, epochs, lr, batch_size=64):
    """Mini-batch SGD with momentum over ``epochs``; returns the mean loss of each epoch.
    Only parameters with ``requires_grad`` are handed to the optimizer."""
    params = [p for p in model.parameters() if p.requires_grad]
    opt = ember.optim.SGD(params, lr=lr, momentum=0.9)
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True)
    losses = []
    for _ in range(epochs):
        model.train()
        total, count = 0.0, 0
        for xb, yb in loader:
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item() * len(yb)
            count += len(yb)
        losses.append(total / count)
    return losses


def accuracy(model, x, y):
    model.eval()
    with ember.no_grad():
        pred = model(x).argmax(1)
    return float((pred.numpy() == y.numpy()).mean())


def main(pretrain_epochs=4, finetune_epochs=15, shots=10, max_train=None, verbose=True):
    """Run the three steps; returns a dict of the numbers it prints. ``shots`` is the
    number of examples per new class for the frozen-backbone step; ``max_train`` caps the
    training images of the other two steps (for a quick run)."""
    ember.manual_seed(0)
    start = time.time()
    say = print if verbose else (lambda *a, **k: None)

    # 1. pre-train on digits 0-6
    old = list(range(7))
    x_old, y_old = digits_tensors(True, old)
    x_old, y_old = x_old[:max_train], y_old[:max_train]
    model = resnet20(num_classes=len(old), base_width=8)
    pre_losses = train(model, x_old, y_old, pretrain_epochs, lr=0.05)
    x_old_test, y_old_test = digits_tensors(False, old)
    say(f"pre-training on {len(y_old)} images of 0-6: loss {pre_losses[0]:.3f} -> "
        f"{pre_losses[-1]:.3f}, test accuracy {accuracy(model, x_old_test, y_old_test):.2%}")

    # 2a. new task with a few examples per class: freeze the backbone, train a new head
    new = [7, 8, 9]
    x_new, y_new = digits_tensors(True, new)
    few = np.concatenate([np.flatnonzero(y_new.numpy() == c)[:shots] for c in range(3)])
    x_few, y_few = x_new[ember.from_numpy(few)], y_new[ember.from_numpy(few)]
    x_test, y_test = digits_tensors(False, new)

    freeze(model)
    model.eval()          # frozen BatchNorm layers keep their pre-trained statistics too
    head = replace_head(model, len(new))            # same as model.fc = nn.Linear(32, 3)
    frozen_before = model.layer1[0].conv1.weight.detach().numpy().copy()
    train_head = _HeadOnly(model)
    head_losses = train(train_head, x_few, y_few, finetune_epochs, lr=0.05, batch_size=15)
    frozen_same = bool(np.array_equal(frozen_before,
                                      model.layer1[0].conv1.weight.detach().numpy()))
    acc_head = accuracy(model, x_test, y_test)
    say(f"new head on {len(few)} images of 7/8/9 (backbone frozen, "
        f"{sum(p.numel() for p in head.parameters())} trainable parameters): "
        f"test accuracy {acc_head:.2%}")

    # 2b. more data: also fine-tune the last stage with a smaller learning rate
    unfreeze(model, "layer3")
    ft_losses = train(model, x_new[:max_train], y_new[:max_train],
                      max(1, finetune_epochs // 5), lr=0.005)
    acc_ft = accuracy(model, x_test, y_test)
    say(f"fine-tuning layer3 + head on {len(y_new[:max_train])} images: loss {ft_losses[-1]:.3f}, "
        f"test accuracy {acc_ft:.2%}")

    # 3. the backbone's features for the new classes
    extractor = create_feature_extractor(model, {"layer3": "features"}).eval()
    with ember.no_grad():
        feats = extractor(x_test[:4])["features"]
    say(f"layer3 features of 4 test images: shape {tuple(feats.shape)}; "
        f"done in {time.time() - start:.1f} s")
    return {"pretrain_loss": pre_losses, "head_loss": head_losses,
            "frozen_params_unchanged": frozen_same, "head_classes": head.out_features,
            "head_accuracy": acc_head, "finetune_accuracy": acc_ft}


class _HeadOnly(nn.Module):
    """Runs the frozen model in eval mode (BatchNorm statistics untouched) while the head
    trains: ``train()`` on this wrapper does not switch the backbone to training mode."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def train(self, mode=True):
        self.training = mode
        self.model.eval()
        return self

    def forward(self, x):
        return self.model(x)


if __name__ == "__main__":
    main()
