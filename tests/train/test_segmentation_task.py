"""``ember train --task segmentation``, ``ember eval`` and ``ember predict`` on a segmentation
checkpoint, through the task protocol, on a tiny folder of digit scenes written here (the
full mnist-segment recipe is trained by ``scripts/compare_segmentation_with_torch.py``):
semantic segmentation with per-pixel cross-entropy (lecture 003, inventory E8, C2)."""
import json
import os

import numpy as np
import pytest
from PIL import Image

import ember
from ember.cli import main
from tests.run_folders import assert_resumed_run_equals_full
from ember.train.recipes import Recipe
from ember.train.tasks import get_task, task_of_model
from ember.vision.datasets import DigitCanvases

TINY = ["train", "--task", "segmentation", "--epochs", "2", "--batch-size", "8", "--seed", "3"]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code, err, pattern):
    import re
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and "Traceback" not in err, err
    assert re.search(pattern, lines[0]), lines[0]


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    """40 digit scenes of 16x16 pixels as images/ + masks/ (32 train / 4 val / 4 test)."""
    root = tmp_path_factory.mktemp("scenes")
    (root / "images").mkdir()
    (root / "masks").mkdir()
    for i, scene in enumerate(DigitCanvases("train", 40, size=16, digits=(1, 2),
                                            scale=(0.5, 0.55), seed=1)):
        Image.fromarray(scene.image).save(root / "images" / f"{i:02d}.png")
        Image.fromarray(scene.semantic().astype(np.uint8)).save(root / "masks" / f"{i:02d}.png")
    (root / "classes.txt").write_text("\n".join(["background"] + list("0123456789")) + "\n")
    return str(root)


@pytest.fixture(scope="module")
def run_dir(scenes, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("runs") / "unet")
    assert main(TINY + ["--dataset", scenes, "--out", out]) == 0
    return out


def test_train_writes_the_segmentation_run_folder(run_dir):
    names = set(os.listdir(run_dir))
    assert {"config.json", "metrics.csv", "metrics.json", "test_metrics.json", "curves.png",
            "iou_per_class.csv", "iou_per_class.png", "overlays.png", "checkpoints"} <= names
    config = json.load(open(os.path.join(run_dir, "config.json")))
    assert config["recipe"]["task"] == "segmentation" and config["recipe"]["model"] == "unet"
    assert config["recipe"]["optimizer"] == "adam" and config["ignore_index"] == 255
    assert config["splits"] == {"train": 32, "val": 4, "test": 4}
    assert config["classes"][:2] == ["background", "0"] and config["input_shape"] == [1, 16, 16]
    history = json.load(open(os.path.join(run_dir, "metrics.json")))
    assert {"train_loss", "train_pixel_acc", "train_miou", "val_miou"} <= set(history[0])
    test = json.load(open(os.path.join(run_dir, "test_metrics.json")))
    assert {"pixel_accuracy", "mean_iou", "frequency_weighted_iou", "iou", "pixels",
            "confusion_matrix", "loss", "epoch"} <= set(test)
    assert np.sum(test["confusion_matrix"]) == np.sum(test["pixels"]) == 4 * 16 * 16
    rows = open(os.path.join(run_dir, "iou_per_class.csv")).read().splitlines()
    assert rows[0] == "class,iou,pixels" and len(rows) == 12 and rows[1].startswith("background,")


def test_train_prints_the_test_miou(capsys, scenes, tmp_path):
    code, out, err = run(capsys, *TINY, "--epochs", "1", "--dataset", scenes, "--out",
                         str(tmp_path / "r"))
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].startswith(f"training unet on folder (32 train / 4 val / 4 test 16x16 "
                               f"images, 11 classes) for 1 epochs")
    assert "miou" in lines[1] and "pixel_acc" in lines[1]
    assert lines[-2].startswith("test mIoU: ") and "(4 held-out images; model of epoch 1" \
        in lines[-2]


def test_eval_reports_pixel_accuracy_and_iou_per_class(capsys, run_dir):
    code, out, err = run(capsys, "eval", run_dir, "--split", "val")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("unet (") and lines[0].endswith("on folder val split: 4 images")
    assert lines[1].startswith("pixel accuracy: ") and lines[2].startswith("mean IoU: ")
    assert lines[5].split() == ["class", "IoU", "pixels"] and len(lines) == 6 + 11
    last = json.load(open(os.path.join(run_dir, "metrics.json")))[-1]     # a run folder: last
    assert float(lines[2].split(": ")[1]) == pytest.approx(last["val_miou"], abs=5e-5)


def test_predict_writes_a_palette_mask_and_a_legend(capsys, run_dir, tmp_path):
    source = DigitCanvases("test", 1, size=(20, 30), digits=(1, 1), scale=(0.6, 0.6))[0]
    path = tmp_path / "scene.png"
    Image.fromarray(source.image).save(path)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, out, err = run(capsys, "predict", run_dir, str(path), "--out", str(out_dir))
    assert code == 0, err
    assert out.startswith(f"{path}: mask {out_dir / 'scene_mask.png'}, legend "
                          f"{out_dir / 'scene_legend.png'}; pixels: ")
    assert "padded from 30x20 to 32x32 for the model" in err
    mask = Image.open(out_dir / "scene_mask.png")
    assert mask.mode == "P" and mask.size == (30, 20) and np.asarray(mask).max() <= 10
    shares = [float(part.split()[-1].rstrip("%")) for part in out.split("pixels: ")[1].split(", ")]
    assert sum(shares) == pytest.approx(100, abs=0.1)
    assert Image.open(out_dir / "scene_legend.png").size[0] > 300
    code, _, err = run(capsys, "predict", run_dir, str(path), "--topk", "2")
    one_line_error(code, err, "--topk applies to classification, not to this segmentation "
                              "checkpoint")


def test_classifier_only_commands_and_options_refuse_segmentation(capsys, scenes, run_dir,
                                                                  tmp_path):
    image = tmp_path / "scene.png"
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(image)
    code, _, err = run(capsys, "explain", run_dir, str(image), "--out", str(tmp_path / "e"))
    one_line_error(code, err, r"is a segmentation model; ember explain explains classifiers "
                              r"only")
    code, _, err = run(capsys, "visualize", run_dir, "--filters", "--out", str(tmp_path / "v"))
    one_line_error(code, err, r"is a segmentation model; ember visualize explains classifiers "
                              r"only")
    code, _, err = run(capsys, *TINY, "--dataset", scenes, "--adversarial", "fgsm",
                       "--out", str(tmp_path / "adv"))
    one_line_error(code, err, r"adversarial training is for classification, not for the "
                              r"segmentation task")
    assert not os.path.exists(tmp_path / "adv")


def test_interrupted_then_resumed_run_is_bit_for_bit_the_full_run(capsys, scenes, tmp_path):
    from ember.train import callbacks
    common = TINY + ["--dataset", scenes]
    assert main(common + ["--out", str(tmp_path / "full")]) == 0
    original = callbacks.ModelCheckpoint.on_epoch_end

    def stop(self, trainer, row):
        original(self, trainer, row)
        if trainer.epoch == 1:
            raise KeyboardInterrupt

    callbacks.ModelCheckpoint.on_epoch_end = stop
    try:
        assert main(common + ["--out", str(tmp_path / "cut")]) == 130
    finally:
        callbacks.ModelCheckpoint.on_epoch_end = original
    ember.manual_seed(1234)
    np.random.seed(4321)
    assert main(["train", "--resume", str(tmp_path / "cut")]) == 0
    assert_resumed_run_equals_full(str(tmp_path / "full"), str(tmp_path / "cut"), 2)


def test_other_models_and_data_errors(capsys, scenes, tmp_path):
    code, _, err = run(capsys, *TINY, "--dataset", scenes, "--model", "segnet")
    one_line_error(code, err, r"model segnet does not accept 1x16x16 images: SegNet: input of "
                              r"shape \(1, 1, 16, 16\) is too small for 5 2x2 max-pools")
    code, _, err = run(capsys, *TINY, "--dataset", scenes, "--model", "lenet5")
    one_line_error(code, err, r"unknown segmentation model 'lenet5'; choose one of fcn_resnet50")
    code, _, err = run(capsys, *TINY, "--dataset", "mnist-sample")
    one_line_error(code, err, r"dataset mnist-sample is for --task classification, not "
                              r"segmentation \(which reads mnist-segment or a folder's path\)")
    bad = tmp_path / "bad"
    (bad / "images").mkdir(parents=True)
    (bad / "masks").mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(bad / "images" / "a.png")
    Image.fromarray(np.zeros((8, 9), np.uint8)).save(bad / "masks" / "a.png")
    code, _, err = run(capsys, *TINY, "--dataset", str(bad))
    one_line_error(code, err, r"mask .*a\.png is 9x8 but its image .*a\.png is 8x8")
    assert not os.path.exists(tmp_path / "bad-run")


def test_mnist_segment_splits_and_the_task_registry():
    task = get_task("segmentation")
    data = task.load_data(Recipe(task="segmentation", dataset="mnist-segment"))
    assert [len(data[k][1]) for k in ("train", "val", "test")] == [2000, 200, 500]
    assert data["train"][0].shape == (2000, 64, 64, 1) and data["train"][1].dtype == np.uint8
    assert data["classes"] == ["background"] + [str(d) for d in range(10)]
    assert data["preprocessing"]["channels"] == 1 and data["preprocessing"]["size"] == [64, 64]
    assert task.metrics().compute() == {"pixel_acc": pytest.approx(float("nan"), nan_ok=True),
                                        "miou": pytest.approx(float("nan"), nan_ok=True)}
    assert task_of_model("unet") == "segmentation" and task_of_model("lenet5") == "classification"


def test_summary_of_a_segmentation_model(capsys):
    code, out, err = run(capsys, "summary", "unet", "--input-size", "1", "1", "188", "188")
    assert code == 0, err
    assert "Total params: 31,030,658" in out and "[1, 2, 4, 4]" in out
    code, out, err = run(capsys, "datasets")
    assert "--task segmentation --dataset mnist-segment" in out
    assert "ember train uses its own splits: 2,000 train / 200 val / 500 test" in out
