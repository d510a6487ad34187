"""How long ``ember explain --method gradcam`` takes on one image, for LeNet-5 and ResNet-18.

The whole command is timed as a user runs it (a fresh process: imports, checkpoint, image,
Grad-CAM, the figure), the median of ``--repeats`` runs, wall clock and CPU time. The two
checkpoints are real ``ember train`` runs:

- LeNet-5: the main job (``ember train``), or ``--lenet`` a checkpoint of it; the image is a
  test digit.
- ResNet-18 at 224x224: ``ember train --model resnet18`` on an image folder made here from
  four scikit-image photographs (``astronaut``, ``chelsea``, ``coffee``, ``rocket``; 16 random
  224x224 crops of each at a random scale, mirrored at random), 10 epochs — a toy task, but a
  real 224x224 checkpoint; the image is a whole photograph, which ``ember explain`` pads and
  resizes to 224x224 as ``ember predict`` does.

With ``--figures`` the two Grad-CAM figures are copied there (``gradcam_lenet.png``,
``gradcam_resnet18.png``).

Run:  ``python scripts/explain_timing.py [--work runs/explain-timing] [--figures docs/figures]``
"""
import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time

import numpy as np

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")


def photo_folder(root, crops=16, seed=0):
    """An ``ImageFolder`` of 224x224 crops of scikit-image photographs, one class each, the
    photograph scaled first so that its shorter side has 224 to 320 pixels."""
    from PIL import Image
    from skimage import data
    rng = np.random.default_rng(seed)
    for name in PHOTOS:
        folder = os.path.join(root, name)
        os.makedirs(folder, exist_ok=True)
        photo = Image.fromarray(getattr(data, name)()).convert("RGB")
        for i in range(crops):
            scale = rng.uniform(224, 320) / min(photo.size)
            pixels = np.asarray(photo.resize((round(photo.width * scale),
                                              round(photo.height * scale))))
            top = rng.integers(0, pixels.shape[0] - 224 + 1)
            left = rng.integers(0, pixels.shape[1] - 224 + 1)
            crop = pixels[top:top + 224, left:left + 224]
            if rng.random() < 0.5:
                crop = crop[:, ::-1]
            Image.fromarray(np.ascontiguousarray(crop)).save(os.path.join(folder, f"{i}.png"))
    return root


def ember_command(*args):
    return [sys.executable, "-m", "ember", *args]


def train(out, *args):
    if not os.path.exists(os.path.join(out, "checkpoints", "best.ember")):
        subprocess.run(ember_command("train", "--out", out, *args), check=True)
    return os.path.join(out, "checkpoints", "best.ember")


def timed(command, repeats):
    """Median wall-clock and CPU seconds of ``repeats`` runs of ``command``."""
    walls, cpus = [], []
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", default="runs/explain-timing", help="runs and images go here")
    parser.add_argument("--lenet", default=None, help="a LeNet-5 checkpoint of the main job")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--figures", default=None)
    args = parser.parse_args(argv)
    from PIL import Image
    from skimage import data
    os.makedirs(args.work, exist_ok=True)
    lenet = args.lenet or train(os.path.join(args.work, "lenet"))
    resnet = train(os.path.join(args.work, "resnet18"), "--model", "resnet18", "--dataset",
                   photo_folder(os.path.join(args.work, "photos")), "--epochs", "10",
                   "--batch-size", "8", "--optimizer", "adam", "--lr", "0.001", "--schedule",
                   "none", "--augment", "none")
    from ember.train.data import load_splits
    digit = os.path.join(args.work, "digit.png")
    Image.fromarray(load_splits("mnist-sample")["raw_test"][0][..., 0]).save(digit)
    photo = os.path.join(args.work, "chelsea.png")
    Image.fromarray(data.chelsea()).save(photo)
    print("| model (checkpoint), image | wall clock | CPU time |")
    print("|---|---:|---:|")
    for name, checkpoint, image in (("lenet", lenet, digit), ("resnet18", resnet, photo)):
        out = os.path.join(args.work, f"explain-{name}")
        wall, cpu = timed(ember_command("explain", checkpoint, image, "--method", "gradcam",
                                        "--out", out), args.repeats)
        label = {"lenet": "LeNet-5 (main job), 28x28 digit",
                 "resnet18": "ResNet-18 (photo folder), 451x300 photograph -> 224x224"}[name]
        print(f"| {label} | {wall:.2f} s | {cpu:.2f} s |")
        if args.figures:
            os.makedirs(args.figures, exist_ok=True)
            stem = os.path.splitext(os.path.basename(image))[0]
            shutil.copy(os.path.join(out, f"{stem}-gradcam.png"),
                        os.path.join(args.figures, f"gradcam_{name}.png"))
    print(f"(load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
