"""Train the three detectors of ``ember train --task detection`` on mnist-detect with their
default recipes and report the test mAP with the wall-clock and CPU time of each run.

    python scripts/detection_mnist.py                       # all three, runs/detection-<model>
    python scripts/detection_mnist.py --models yolo_small --epochs 4
    python scripts/detection_mnist.py --figure docs/figures/detections.png   # the README's picture

Each run is ``ember train --task detection --model <model>`` (2,000 training canvases, SGD with
momentum and a 1cycle schedule; ``ember.train.tasks.detection.MODELS`` holds the recipes).
Wall time is the elapsed time (on a shared machine it depends on the other processes); CPU
time counts every thread of the process. ``scripts/detection_torch.py`` trains the same
networks with the same recipe in PyTorch/torchvision.
"""
import argparse
import json
import os
import shutil
import time


def main(argv=None):
    from ember.train import Recipe, run
    from ember.train.tasks.detection import DetectionTask, MODELS
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--epochs", type=int, default=None, help="default: the recipe's")
    parser.add_argument("--out", default="runs", help="parent folder of the run folders")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--figure", default=None,
                        help="copy the test detections of the last model trained here (PNG)")
    args = parser.parse_args(argv)
    rows = []
    for name in args.models:
        settings = DetectionTask().recipe_defaults(name)
        if args.epochs:
            settings["epochs"] = args.epochs
        recipe = Recipe(task="detection", seed=args.seed, **settings)
        out = os.path.join(args.out, f"detection-{name}")
        wall, cpu = time.perf_counter(), time.process_time()
        result = run(recipe, out)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        report = result.test_metrics
        row = {"model": name, "epochs": recipe.epochs, "wall_s": round(wall, 1),
               "cpu_s": round(cpu, 1), "map_50": report["bbox"]["map_50"],
               "map": report["bbox"]["map"], "run": out}
        if "segm" in report:
            row.update(mask_map_50=report["segm"]["map_50"], mask_map=report["segm"]["map"])
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.figure:
        shutil.copyfile(os.path.join(rows[-1]["run"], "detections.png"), args.figure)
        print(f"wrote {args.figure}")
    print(f"\n{'model':<18} {'epochs':>6} {'wall':>8} {'CPU':>8} {'mAP@.5':>7} {'mAP':>6} "
          f"{'mask@.5':>8} {'mask':>6}")
    for r in rows:
        print(f"{r['model']:<18} {r['epochs']:>6} {r['wall_s']:>7.0f}s {r['cpu_s']:>7.0f}s "
              f"{r['map_50']:>7.3f} {r['map']:>6.3f} {r.get('mask_map_50', float('nan')):>8.3f} "
              f"{r.get('mask_map', float('nan')):>6.3f}")
    return rows


if __name__ == "__main__":
    main()
