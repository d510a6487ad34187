"""Run the main job (``ember train``: LeNet-5 on the bundled MNIST sample) in Ember and the
same recipe in PyTorch, and print both held-out test accuracies.

Same split (4,000 / 500 / 500, ``ember.train.data``), same normalisation, same augmentation
(random shifts of up to 2 pixels), LeNet-5 with padding 2, SGD momentum 0.9, weight decay
5e-4, batch 64, 1cycle peaking at 0.1, 15 epochs, and the test accuracy of the epoch with the
best validation accuracy. Each framework uses its own initialisation and random streams.

    python scripts/compare_main_job_with_torch.py [--seeds 0 1 2]
"""
import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_ember(seed, folder):
    from ember.cli import main
    out = os.path.join(folder, f"ember-seed{seed}")
    start = time.time()
    if main(["train", "--seed", str(seed), "--out", out]) != 0:
        raise SystemExit("ember train failed")
    with open(os.path.join(out, "test_metrics.json")) as f:
        return json.load(f)["accuracy"], time.time() - start


def run_torch(seed):
    import torch
    import torch.nn.functional as F
    from ember.train.data import ArrayDataset, load_splits
    from ember.train.recipes import MAIN_JOB as R
    from ember.utils.data.worker import batch_stream, fetching_with

    torch.manual_seed(seed)
    torch.set_num_threads(1)
    splits = load_splits(R.dataset, val_split=R.val_split, test_fraction=R.test_fraction,
                         split_seed=R.split_seed)
    pre = splits["preprocessing"]
    (x, y), (xv, yv), (xt, yt) = splits["train"], splits["val"], splits["test"]
    shifter = ArrayDataset(x, y, augment=R.augment, background=[-pre["mean"][0] / pre["std"][0]])

    class LeNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = torch.nn.Conv2d(1, 6, 5, padding=2)
            self.conv2 = torch.nn.Conv2d(6, 16, 5)
            self.fc1, self.fc2, self.fc3 = (torch.nn.Linear(400, 120), torch.nn.Linear(120, 84),
                                            torch.nn.Linear(84, 10))

        def forward(self, t):
            t = F.max_pool2d(F.relu(self.conv1(t)), 2)
            t = F.max_pool2d(F.relu(self.conv2(t)), 2).flatten(1)
            return self.fc3(F.relu(self.fc2(F.relu(self.fc1(t)))))

    model = LeNet()
    steps = -(-len(y) // R.batch_size)
    opt = torch.optim.SGD(model.parameters(), lr=R.lr, momentum=R.momentum,
                          weight_decay=R.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, R.lr, total_steps=R.epochs * steps)
    rng = np.random.default_rng(seed)
    best_val, best_test = -1.0, None
    start = time.time()
    for epoch in range(R.epochs):
        model.train()
        order = rng.permutation(len(y))
        for b in range(steps):
            idx = order[b * R.batch_size:(b + 1) * R.batch_size]
            with fetching_with(batch_stream(seed * 1000 + epoch, b)):
                xb, yb = shifter.__getitems__(idx)
            loss = F.cross_entropy(model(torch.from_numpy(xb.numpy())), torch.from_numpy(yb.numpy()))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        model.eval()
        with torch.no_grad():
            val = (model(torch.from_numpy(xv)).argmax(1).numpy() == yv).mean()
            test = (model(torch.from_numpy(xt)).argmax(1).numpy() == yt).mean()
        if val > best_val:
            best_val, best_test = val, test
    return float(best_test), time.time() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for seed in args.seeds:
            ember_acc, ember_s = run_ember(seed, folder)
            torch_acc, torch_s = run_torch(seed)
            rows.append((seed, ember_acc, ember_s, torch_acc, torch_s))
    print("\nseed  ember test acc (time)   pytorch test acc (time)")
    for seed, ea, es, ta, ts in rows:
        print(f"{seed:>4}  {100 * ea:6.2f}% ({es:5.1f}s)       {100 * ta:6.2f}% ({ts:5.1f}s)")
    e = np.mean([r[1] for r in rows])
    t = np.mean([r[3] for r in rows])
    print(f"mean  {100 * e:6.2f}%                 {100 * t:6.2f}%   (difference "
          f"{100 * (e - t):+.2f} points)")


if __name__ == "__main__":
    main()
