"""The detection recipes of ``scripts/detection_mnist.py`` in PyTorch/torchvision: the same
canvases, networks, optimizer, schedule and epochs, evaluated by the same COCO metric.

    python scripts/detection_torch.py                        # all three models
    python scripts/detection_torch.py --models fasterrcnn_small --epochs 4

Faster and Mask R-CNN are torchvision's ``FasterRCNN`` and ``MaskRCNN`` classes with the small
backbone and heads of ``ember.vision.models.detection.small``; YOLO is Ember's ``yolo_small``
written with ``torch.nn`` (``benchmarks/torch_detection.py``). torchvision's compiled NMS and
RoI Align cannot load with the CPU build of torch, so they run as the plain-PyTorch kernels of
``benchmarks/torch_detection.py`` (NMS as torchvision's greedy loop, RoI Align through
``grid_sample``). Data come from Ember's ``MNISTDetection`` (as NumPy arrays); the mAP is
Ember's ``MeanAveragePrecision`` (equal to pycocotools). Prints one JSON line per model and a
table with wall-clock and CPU time.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _data(split, size):
    from ember.vision.datasets import MNISTDetection
    items = []
    for image, target in (MNISTDetection(split, size)[i] for i in range(size)):
        items.append((image.numpy(), {k: v.numpy() for k, v in target.items()
                                      if k in ("boxes", "labels", "masks")}))
    return items


def _tensors(torch, items):
    return ([torch.from_numpy(i) for i, _ in items],
            [{k: torch.from_numpy(v) for k, v in t.items()} for _, t in items])


def main(argv=None):
    from benchmarks.torch_detection import patch_torchvision, small_rcnn, small_yolo
    from ember.train.tasks.detection import DetectionTask, MODELS
    from ember.vision.metrics import MeanAveragePrecision
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--epochs", type=int, default=None, help="default: the recipe's")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch, _ = patch_torchvision()
    torch.set_num_threads(args.threads)
    train, test = _data("train", 2000), _data("test", 500)
    rows = []
    for name in args.models:
        recipe = DetectionTask().recipe_defaults(name)
        epochs = args.epochs or recipe["epochs"]
        torch.manual_seed(args.seed)
        model = {"fasterrcnn_small": lambda: small_rcnn(torch),
                 "maskrcnn_small": lambda: small_rcnn(torch, masks=True, mask_layers=(32,),
                                                     returned_stages=(0, 1)),
                 "yolo_small": lambda: small_yolo(torch)}[name]()
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.SGD(params, lr=recipe["lr"], momentum=recipe["momentum"],
                                    weight_decay=recipe["weight_decay"])
        batch = recipe["batch_size"]
        steps = epochs * -(-len(train) // batch)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe["lr"],
                                                       total_steps=steps)
        wall, cpu = time.perf_counter(), time.process_time()
        model.train()
        for epoch in range(epochs):
            order = torch.randperm(len(train)).tolist()
            for start in range(0, len(order), batch):
                images, targets = _tensors(torch, [train[i] for i in order[start:start + batch]])
                loss = sum(model(images, targets).values())
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                schedule.step()
            print(f"{name} epoch {epoch + 1}/{epochs}: loss {loss.item():.4f}", flush=True)
        train_wall, train_cpu = time.perf_counter() - wall, time.process_time() - cpu
        model.eval()
        boxes = MeanAveragePrecision()
        masks = MeanAveragePrecision(iou_type="segm") if name == "maskrcnn_small" else None
        with torch.no_grad():
            for start in range(0, len(test), 50):
                images, _ = _tensors(torch, test[start:start + 50])
                out = [{k: v.numpy() for k, v in d.items()} for d in model(images)]
                truth = [t for _, t in test[start:start + 50]]
                boxes.update(out, truth)
                if masks is not None:
                    masks.update(out, truth)
        box = boxes.compute()
        row = {"library": "torch " + torch.__version__, "model": name, "epochs": epochs,
               "train_wall_s": round(train_wall, 1), "train_cpu_s": round(train_cpu, 1),
               "map_50": box["map_50"], "map": box["map"]}
        if masks is not None:
            mask = masks.compute()
            row.update(mask_map_50=mask["map_50"], mask_map=mask["map"])
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(f"\n{'model':<18} {'epochs':>6} {'wall':>8} {'CPU':>8} {'mAP@.5':>7} {'mAP':>6} "
          f"{'mask@.5':>8}")
    for r in rows:
        print(f"{r['model']:<18} {r['epochs']:>6} {r['train_wall_s']:>7.0f}s "
              f"{r['train_cpu_s']:>7.0f}s {r['map_50']:>7.3f} {r['map']:>6.3f} "
              f"{r.get('mask_map_50', float('nan')):>8.3f}")
    return rows


if __name__ == "__main__":
    main()
