"""The main job's recipe in Ember and in PyTorch on a small budget land in the same place.

Same data (1,000 training images of the bundled MNIST sample, in one fixed order), same
initial weights (Ember's, copied into torch), LeNet-5 (padded), SGD momentum 0.9, weight
decay 5e-4, batch 64, 1cycle peaking at 0.1, 2 epochs. The full comparison (15 epochs,
4,000 images, held-out test accuracy) is ``scripts/compare_main_job_with_torch.py``.
"""
import numpy as np
import pytest

from ember.train import Trainer
from ember.train.data import ArrayDataset, collate_batch, load_splits
from ember.train.recipes import MAIN_JOB, build_model, build_optimizer, build_scheduler
from ember.utils.data import DataLoader

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """Small matrix products: one thread each for NumPy's BLAS and torch (fast and stable on
    a busy machine)."""
    from threadpoolctl import threadpool_limits
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1, user_api="blas"):
        yield
    torch.set_num_threads(threads)


def _torch_lenet(state):
    nn = torch.nn

    class LeNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
            self.conv2 = nn.Conv2d(6, 16, 5)
            self.fc1 = nn.Linear(400, 120)
            self.fc2 = nn.Linear(120, 84)
            self.fc3 = nn.Linear(84, 10)

        def forward(self, x):
            F = torch.nn.functional
            x = F.max_pool2d(F.relu(self.conv1(x)), 2)
            x = F.max_pool2d(F.relu(self.conv2(x)), 2).flatten(1)
            return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))

    model = LeNet()
    model.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in state.items()})
    return model


def test_lenet_recipe_matches_pytorch_on_a_small_budget():
    splits = load_splits("mnist-sample")
    x, y = splits["train"]
    x, y = x[:1000], y[:1000]
    xv, yv = splits["val"]
    epochs, batch = 2, MAIN_JOB.batch_size
    recipe = MAIN_JOB.__class__(**dict(MAIN_JOB.to_dict(), epochs=epochs))

    model, _ = build_model("lenet5", 10, 1, (28, 28))
    initial = {k: v.detach().clone() for k, v in model.state_dict().items()}
    loader = DataLoader(ArrayDataset(x, y), batch_size=batch, collate_fn=collate_batch)
    optimizer = build_optimizer(recipe, model.parameters())
    scheduler, interval = build_scheduler(recipe, optimizer, len(loader))
    trainer = Trainer(model, optimizer, scheduler=scheduler, scheduler_interval=interval)
    trainer.fit(loader, epochs=epochs)
    ours = trainer.evaluate(DataLoader(ArrayDataset(xv, yv), batch_size=250,
                                       collate_fn=collate_batch), return_outputs=True)

    torch.manual_seed(0)
    reference = _torch_lenet(initial)
    opt = torch.optim.SGD(reference.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                          weight_decay=recipe.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, recipe.lr, total_steps=epochs * len(loader))
    losses, rates = [], []
    for _ in range(epochs):
        rates.append(opt.param_groups[0]["lr"])
        total = 0.0
        for i in range(0, len(x), batch):
            xb, yb = torch.from_numpy(x[i:i + batch]), torch.from_numpy(y[i:i + batch])
            loss = torch.nn.functional.cross_entropy(reference(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(yb)
        losses.append(total / len(x))
    with torch.no_grad():
        scores = reference(torch.from_numpy(xv)).numpy()

    # the runs start identical and follow the same schedule: per-epoch losses agree closely
    np.testing.assert_allclose([row["train_loss"] for row in trainer.history], losses,
                               rtol=2e-3)
    assert [row["lr"] for row in trainer.history] == pytest.approx(rates, rel=1e-12)
    # and they land in the same place: same weights (to float32 drift), same validation scores
    for key, value in model.state_dict().items():
        np.testing.assert_allclose(value.numpy(), reference.state_dict()[key].numpy(),
                                   rtol=1e-2, atol=2e-3, err_msg=key)
    theirs = float((scores.argmax(1) == yv).mean())
    assert abs(ours["acc"] - theirs) <= 0.01
    assert ours["acc"] > 0.6                      # 2 epochs on 1,000 images already learn
