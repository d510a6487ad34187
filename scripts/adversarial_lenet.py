"""LeNet-5 on the bundled MNIST test split under attack, before and after adversarial training.

Trains three runs of the main job (``ember train``: LeNet-5, 4,000 bundled MNIST digits, 15
epochs) — on clean images, and with half of every batch replaced by FGSM or by PGD examples
(``ember train --adversarial fgsm|pgd --epsilon 0.2``) — then measures each best checkpoint on the 500 held-out test digits: clean
accuracy and accuracy under FGSM and PGD (20 steps of 2.5 eps / 20 from a random start, L-inf)
at epsilon 0.1 and 0.2, in pixel values of images scaled to [0, 1]. Prints a Markdown table,
and with ``--figures`` writes the robustness curves and a few adversarial digits.

Run:  ``python scripts/adversarial_lenet.py [--runs runs/adversarial] [--figures docs/figures]``
(finished runs in ``--runs`` are reused; all of it takes about 6 minutes on two cores).
"""
import argparse
import os
import sys
import time

import numpy as np

import ember
import ember.interpret as interpret
from ember.train import checkpoint as ckpt
from ember.train.recipes import MAIN_JOB, Recipe
from ember.train.run import run
from ember.train.tasks import get_task

TRAININGS = {"clean": {}, "fgsm": {"adversarial": "fgsm", "epsilon": 0.2},
             "pgd": {"adversarial": "pgd", "epsilon": 0.2, "attack_steps": 10}}
EPSILONS = (0.1, 0.2)
CURVE = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)


def trained(name, runs):
    """The best model of run ``name`` (trained now unless its folder holds a finished run)
    and the run's test data."""
    out = os.path.join(runs, name)
    best = os.path.join(out, "checkpoints", "best.ember")
    recipe = Recipe(**{**MAIN_JOB.to_dict(), **TRAININGS[name]})
    if not os.path.exists(os.path.join(out, "test_metrics.json")):
        started = time.perf_counter()
        result = run(recipe, out)
        print(f"{name}: trained in {time.perf_counter() - started:.0f} s: {result.summary}",
              file=sys.stderr)
    state = ckpt.load_checkpoint(best)
    task = get_task("classification")
    data = task.load_data(recipe, preprocessing=state["config"]["preprocessing"])
    model, data = task.build_model(recipe, data)
    ckpt.load_model_state(model, state["model"], best)
    return model.eval(), data


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", default="runs/adversarial", help="folder of the three runs")
    parser.add_argument("--figures", default=None, help="write the figures into this folder")
    parser.add_argument("--pgd-steps", type=int, default=20)
    args = parser.parse_args(argv)
    curves, rows = {}, []
    for name in TRAININGS:
        model, data = trained(name, args.runs)
        pre = data["preprocessing"]
        images, labels = data["test"]
        pixels = (images * pre["std"][0] + pre["mean"][0]).astype(np.float32)
        seen = interpret.Normalized(model, pre["mean"], pre["std"])
        fgsm = interpret.robustness_curve(seen, pixels, labels, CURVE, bounds=(0, 1))
        ember.manual_seed(0)
        pgd = interpret.robustness_curve(seen, pixels, labels, CURVE, attack="pgd",
                                         steps=args.pgd_steps, random_start=True,
                                         bounds=(0, 1))
        label = {"clean": "clean training", "fgsm": "FGSM training (eps 0.2, half of each batch)",
                 "pgd": "PGD training (eps 0.2, 10 steps, half of each batch)"}[name]
        curves[label] = {"FGSM": fgsm, f"PGD-{args.pgd_steps}": pgd}
        at = {eps: CURVE.index(eps) for eps in EPSILONS}
        rows.append((label, fgsm[0], *(fgsm[at[e]] for e in EPSILONS),
                     *(pgd[at[e]] for e in EPSILONS)))
        if name == "clean" and args.figures:
            adversarial_examples(seen, pixels[:4], labels[:4], data["classes"], args.figures)
    print(f"| LeNet-5, 500 test digits | clean | FGSM eps 0.1 | FGSM eps 0.2 | "
          f"PGD-{args.pgd_steps} eps 0.1 | PGD-{args.pgd_steps} eps 0.2 |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, *values in rows:
        print(f"| {label} | " + " | ".join(f"{100 * v:.1f}%" for v in values) + " |")
    if args.figures:
        from ember.interpret import pictures
        os.makedirs(args.figures, exist_ok=True)
        pictures.robustness_figure(CURVE, curves,
                                   os.path.join(args.figures, "robustness_lenet.png"),
                                   "LeNet-5 on 500 MNIST test digits under attack")


def adversarial_examples(model, pixels, labels, classes, folder):
    """Clean digits, the FGSM perturbation at eps 0.2 and the adversarial digits, with what
    the clean-trained model predicts for each."""
    from ember.interpret import pictures
    adversarial = interpret.fgsm(model, pixels, labels, 0.2, bounds=(0, 1)).numpy()
    with ember.no_grad():
        before = model(ember.from_numpy(pixels)).numpy().argmax(1)
        after = model(ember.from_numpy(adversarial)).numpy().argmax(1)
    captions = [(f"true {classes[y]}, predicted {classes[b]}", f"predicted {classes[a]}")
                for y, b, a in zip(labels, before, after)]
    os.makedirs(folder, exist_ok=True)
    pictures.adversarial_figure(pixels[:, 0], adversarial[:, 0], captions,
                                os.path.join(folder, "adversarial_digits.png"),
                                "FGSM, epsilon 0.2 (clean-trained LeNet-5)")


if __name__ == "__main__":
    main()
