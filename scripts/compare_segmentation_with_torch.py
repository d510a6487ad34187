"""Train the segmentation recipe (``ember train --task segmentation --model unet --dataset
mnist-segment``) in Ember and the same recipe in PyTorch; print both test mIoUs with the wall
and CPU time of each.

Same data (``mnist-segment``: 2,000 / 200 / 500 scenes of 64x64 pixels from disjoint pools of
the bundled MNIST digits), same normalisation, the recipe's augmentation, the same U-Net
(padded 3x3 convs with BatchNorm at the recipe's widths, ``CPU_WIDTHS["unet"]``:
``benchmarks.workloads.unet_small``, written once for both libraries), per-pixel
cross-entropy with the recipe's class weights, the same optimizer and 1cycle schedule
(``SegmentationTask.recipe_defaults()``), and the test mIoU of the epoch with the best
validation mIoU. Each framework uses its own initialisation and random streams. Both run on the same
thread count (``--threads``, default 2); the machine's load average is printed, since a
shared machine slows either side.

    python scripts/compare_segmentation_with_torch.py [--seeds 0 1] [--threads 2]
    python scripts/compare_segmentation_with_torch.py --only ember --out runs/unet-mnist-segment
"""
import argparse
import json
import os
import resource
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

COMMAND = ["train", "--task", "segmentation", "--model", "unet", "--dataset", "mnist-segment"]


def _cpu_seconds():
    """User + system CPU time of this process (all its threads)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def run_ember(seed, out, threads):
    from ember.cli import main
    wall, cpu = time.perf_counter(), _cpu_seconds()
    if main(COMMAND + ["--seed", str(seed), "--out", out, "--threads", str(threads)]) != 0:
        raise SystemExit("ember train failed")
    wall, cpu = time.perf_counter() - wall, _cpu_seconds() - cpu
    with open(os.path.join(out, "test_metrics.json")) as f:
        report = json.load(f)
    return report["mean_iou"], report["pixel_accuracy"], wall, cpu


def run_torch(seed, threads):
    import torch
    import torch.nn.functional as F

    from benchmarks.workloads import unet_small
    from ember.train.recipes import Recipe
    from ember.train.tasks import get_task
    from ember.train.tasks.segmentation import CPU_WIDTHS, IGNORE_INDEX, SegmentationArrays
    from ember.utils.data.worker import batch_stream, fetching_with
    from ember.vision.metrics import confusion_matrix, mean_iou, pixel_accuracy

    wall, cpu = time.perf_counter(), _cpu_seconds()
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    task = get_task("segmentation")
    recipe = Recipe(**{**Recipe().to_dict(), **task.recipe_defaults(), "task": "segmentation",
                       "model": "unet", "seed": seed})
    data = task.load_data(recipe)
    pre = data["preprocessing"]
    train = SegmentationArrays(*data["train"], pre, recipe.augment)
    evaluation = {k: SegmentationArrays(*data[k], pre) for k in ("val", "test")}
    widths = CPU_WIDTHS["unet"]
    model = unet_small(torch, base_width=widths["base_width"], depth=widths["depth"])
    weight = torch.from_numpy(np.asarray(task.class_weights, np.float32))
    opt = torch.optim.Adam(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    steps = -(-len(train) // recipe.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, recipe.lr, total_steps=recipe.epochs * steps)
    classes = len(data["classes"])

    def miou(split):
        model.eval()
        images, masks = evaluation[split].__getitems__(np.arange(len(evaluation[split])))
        with torch.no_grad():
            labels = np.concatenate([model(torch.from_numpy(images.numpy()[i:i + 64])).argmax(1)
                                     .numpy() for i in range(0, len(masks), 64)])
        matrix = confusion_matrix(labels, masks.numpy(), classes, IGNORE_INDEX)
        return mean_iou(matrix), pixel_accuracy(matrix)

    rng = np.random.default_rng(seed)
    best_val, best_test = -1.0, None
    for epoch in range(recipe.epochs):
        model.train()
        order = rng.permutation(len(train))
        for b in range(steps):
            idx = order[b * recipe.batch_size:(b + 1) * recipe.batch_size]
            with fetching_with(batch_stream(seed * 1000 + epoch, b)):
                xb, yb = train.__getitems__(idx)
            loss = F.cross_entropy(model(torch.from_numpy(xb.numpy())),
                                   torch.from_numpy(yb.numpy()), weight=weight,
                                   ignore_index=IGNORE_INDEX)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        val = miou("val")[0]
        if val > best_val:
            best_val, best_test = val, miou("test")
    return (*best_test, time.perf_counter() - wall, _cpu_seconds() - cpu)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", choices=("ember", "torch"), default=None)
    parser.add_argument("--out", default=None,
                        help="keep Ember's run folder here (one seed); default: a temporary one")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for seed in args.seeds:
            out = args.out if args.out is not None else os.path.join(folder, f"seed{seed}")
            e = run_ember(seed, out, args.threads) if args.only != "torch" else None
            t = run_torch(seed, args.threads) if args.only != "ember" else None
            rows.append((seed, e, t))
    print(f"\nload average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
          f"{args.threads} threads per side")
    print("seed  side     test mIoU  pixel acc   wall      CPU")
    for seed, e, t in rows:
        for side, r in (("ember", e), ("pytorch", t)):
            if r is not None:
                print(f"{seed:>4}  {side:<7}  {r[0]:9.4f}  {100 * r[1]:8.2f}%  {r[2]:6.0f}s  "
                      f"{r[3]:6.0f}s")
    if args.only is None:
        e = np.mean([r[1][0] for r in rows])
        t = np.mean([r[2][0] for r in rows])
        print(f"mean test mIoU: ember {e:.4f}, pytorch {t:.4f} (difference {100 * (e - t):+.2f} "
              f"points)")


if __name__ == "__main__":
    main()
