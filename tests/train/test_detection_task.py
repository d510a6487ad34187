"""``ember train --task detection`` end to end on a few canvases (the full recipe is trained in
scripts/detection_mnist.py): the run folder, the loss-component and mAP columns, ``ember eval``'s
COCO table, ``ember predict``'s drawing and JSON, and the one-line errors."""
import json
import os

import numpy as np
import pytest

import ember
from ember.cli import main
from ember.train.tasks import detection


@pytest.fixture
def few_canvases(monkeypatch):
    monkeypatch.setitem(detection._SIZES, "train", 32)
    monkeypatch.setitem(detection._SIZES, "val", 12)
    monkeypatch.setitem(detection._SIZES, "test", 12)


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("model, masks", [("fasterrcnn_small", False), ("maskrcnn_small", True),
                                          ("yolo_small", False)])
def test_train_eval_predict(capsys, tmp_path, few_canvases, model, masks):
    ember.manual_seed(0)
    out = str(tmp_path / "run")
    code, stdout, err = _run(capsys, "train", "--task", "detection", "--model", model,
                             "--epochs", "1", "--batch-size", "8", "--out", out)
    assert code == 0, err
    assert stdout.splitlines()[0].startswith(f"training {model} on mnist-detect (32 train / 12 "
                                             f"val / 12 test canvases) for 1 epochs")
    assert "test mAP@.5 " in stdout and ("mask mAP@.5" in stdout) == masks
    assert {"config.json", "metrics.csv", "metrics.json", "test_metrics.json", "curves.png",
            "detections.png", "checkpoints"} <= set(os.listdir(out))
    row = json.load(open(os.path.join(out, "metrics.json")))[0]
    losses = {k for k in row if k.startswith("train_loss_")}
    assert len(losses) >= 4 and "val_loss" not in row
    assert {"val_map", "val_map_50", "val_map_75"} <= set(row)
    assert ("val_mask_map" in row) == masks
    report = json.load(open(os.path.join(out, "test_metrics.json")))
    assert report["images"] == 12 and 0 <= report["bbox"]["map_50"] <= 1
    assert len(report["voc_ap50"]) >= 1 and ("segm" in report) == masks

    checkpoint = os.path.join(out, "checkpoints", "best.ember")
    code, stdout, err = _run(capsys, "eval", checkpoint)
    assert code == 0, err
    assert "IoU metric: bbox" in stdout and ("IoU metric: segm" in stdout) == masks
    assert "Average Precision  (AP) @[ IoU=0.50      | area=   all | maxDets=100 ]" in stdout

    from PIL import Image
    image = MNIST_INVERTED(tmp_path)
    code, stdout, err = _run(capsys, "predict", checkpoint, image, "--score-thresh", "0.0",
                             "--out", str(tmp_path / "drawn"))
    assert code == 0, err
    result = json.loads(stdout.strip())
    drawing = str(tmp_path / "drawn" / "canvas.detections.png")
    assert result["image"] == image and result["drawing"] == drawing
    # small images are drawn enlarged by a whole factor (96 -> 192) so the labels read
    assert Image.open(drawing).size == (192, 192) and "inverted" in err
    for d in result["detections"]:
        assert d["label"] in [str(i) for i in range(10)] and len(d["box"]) == 4
    code, _, err = _run(capsys, "predict", checkpoint, image, "--out", str(tmp_path / "drawn"))
    assert code == 1 and "never overwrites" in err and len(err.strip().splitlines()) == 1
    for command in (["explain", checkpoint, image], ["visualize", checkpoint, "--filters"]):
        code, _, err = _run(capsys, *command, "--out", str(tmp_path / "pictures"))
        assert code == 1 and f"is a detection model; ember {command[0]} explains classifiers " \
            "only" in err


def MNIST_INVERTED(tmp_path):
    """A test canvas as a user would have it: black digits on white, 96x96 pixels."""
    from PIL import Image
    from ember.vision.datasets import MNISTDetection
    image, _ = MNISTDetection("test", length=1)[0]
    pixels = ((1 - image.numpy()[0]) * 255).astype(np.uint8)
    path = str(tmp_path / "canvas.png")
    Image.fromarray(pixels).resize((96, 96)).save(path)
    return path


def test_without_validation_the_lowest_training_loss_is_kept(capsys, tmp_path, few_canvases):
    ember.manual_seed(0)
    code, stdout, err = _run(capsys, "train", "--task", "detection", "--model", "yolo_small",
                             "--epochs", "2", "--batch-size", "16", "--val-split", "0",
                             "--out", str(tmp_path / "run"))
    assert code == 0, err
    assert "(32 train / 0 val / 12 test canvases)" in stdout
    assert "lowest training loss" in stdout
    history = json.load(open(tmp_path / "run" / "metrics.json"))
    assert not any(k.startswith("val_") for k in history[0])


def test_detection_errors(capsys, tmp_path):
    code, _, err = _run(capsys, "train", "--task", "detection", "--model", "lenet5",
                        "--out", str(tmp_path / "a"))
    assert code == 1 and "unknown detection model 'lenet5'; choose one of fasterrcnn_small" in err
    code, _, err = _run(capsys, "train", "--task", "detection", "--dataset", "digits",
                        "--out", str(tmp_path / "b"))
    assert code == 1 and "dataset digits is for --task classification, not detection" in err
    code, _, err = _run(capsys, "train", "--dataset", "mnist-detect", "--out", str(tmp_path / "c"))
    assert code == 1 and "dataset mnist-detect is for --task detection" in err
    code, _, err = _run(capsys, "train", "--task", "detection", "--adversarial", "fgsm",
                        "--out", str(tmp_path / "d"))
    assert code == 1 and "adversarial training is for classification, not for the detection " \
        "task" in err
    assert not os.path.exists(tmp_path / "a")


def test_detection_recipe_defaults():
    task = detection.DetectionTask()
    assert task.recipe_defaults()["model"] == "fasterrcnn_small"
    assert task.recipe_defaults("yolo_small")["lr"] == 0.01
    from ember.cli import _new_recipe, build_parser
    recipe = _new_recipe(build_parser().parse_args(["train", "--task", "detection",
                                                    "--batch-size", "4"]))
    assert (recipe.model, recipe.dataset, recipe.batch_size, recipe.lr, recipe.augment) == \
        ("fasterrcnn_small", "mnist-detect", 4, 0.02, "none")
    classic = _new_recipe(build_parser().parse_args(["train"]))
    assert (classic.model, classic.dataset, classic.batch_size, classic.augment) == \
        ("lenet5", "mnist-sample", 64, "basic")
