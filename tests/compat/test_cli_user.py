"""Scenario 6: the ``ember`` command as a user runs it (``python -m ember``, a real process):
help, data sets, a model summary, a one-epoch training run, eval and predict on a PNG the user
drew; then the usual mistakes, each a one-line error and a non-zero exit code."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from ember.cli import main
from ember.train import plots
from ember.train.data import ArrayDataset

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def ember_cmd(*argv, cwd):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "ember", *map(str, argv)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


def one_line_error(code, err, command, *words):
    lines = err.strip().splitlines()
    assert code != 0
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"ember {command}: error: "), lines[0]
    for w in words:
        assert w in lines[0], (w, lines[0])


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """One user session: train a small MLP on the bundled digits and draw a digit."""
    work = tmp_path_factory.mktemp("user")
    code, out, err = ember_cmd("train", "--model", "mlp", "--dataset", "digits", "--epochs", 1,
                               "--out", work / "run", cwd=work)
    assert code == 0, err
    from sklearn.datasets import load_digits
    digits = load_digits()
    zero = (digits.images[0] / 16 * 255).astype(np.uint8)        # a "0", 8x8 grey
    Image.fromarray(zero).save(work / "zero.png")
    Image.fromarray(np.kron(zero, np.ones((4, 4), np.uint8))).convert("RGB").save(
        work / "zero_big_rgb.png")                                 # 32x32 RGB: resized, greyed
    return work, out


def test_help_datasets_and_summary(tmp_path):
    code, out, err = ember_cmd("--help", cwd=tmp_path)
    assert code == 0 and err == ""
    for command in ("train", "eval", "predict", "datasets", "summary"):
        assert command in out
    code, out, err = ember_cmd("datasets", cwd=tmp_path)
    assert code == 0 and "Digits" in out and "MNISTSample" in out and "CIFAR10" in out
    code, out, err = ember_cmd("summary", "resnet18", "--input-size", 1, 3, 224, 224,
                               cwd=tmp_path)
    assert code == 0, err
    # torchvision's resnet18 with its own 1000-class head
    assert "Total params: 11,689,512" in out
    code, out, err = ember_cmd("summary", "resnet18", "--input-size", 1, 3, 224, 224,
                               "--num-classes", 10, cwd=tmp_path)
    # a 10-class head: 11,689,512 - 1000*513 + 10*513 parameters
    assert code == 0 and "Total params: 11,181,642" in out
    assert "[1, 64, 112, 112]" in out and "[1, 512, 7, 7]" in out


def test_train_writes_a_run_folder_that_learned(session):
    work, out = session
    run = work / "run"
    assert "test accuracy:" in out
    for name in ("config.json", "metrics.csv", "metrics.json", "test_metrics.json", "curves.png",
                 "confusion_matrix.png", "misclassified.png", "filters.png",
                 "checkpoints/best.ember", "checkpoints/last.ember"):
        assert (run / name).is_file(), name
    metrics = json.loads((run / "test_metrics.json").read_text())
    # one epoch of an MLP on the 8x8 digits learns (it did not while the random shift was
    # 2 pixels, a quarter of the image: ~33% test accuracy)
    assert metrics["accuracy"] > 0.5
    assert np.array(metrics["confusion_matrix"]).sum() == 180


def test_eval_and_predict(session):
    work, _ = session
    run = work / "run"
    code, out, err = ember_cmd("eval", run, cwd=work)
    assert code == 0, err
    acc = json.loads((run / "test_metrics.json").read_text())["accuracy"]
    assert f"accuracy: {acc:.4f}" in out and "confusion matrix" in out
    code, out, err = ember_cmd("predict", run / "checkpoints" / "best.ember", "zero.png",
                               "zero_big_rgb.png", "--topk", 2, cwd=work)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert [ln.split(":")[0] for ln in lines] == ["zero.png", "zero_big_rgb.png"]
    assert all(ln.count("(") == 2 for ln in lines)               # top-2 with probabilities


def test_bad_inputs_give_one_line_errors(session, tmp_path):
    work, _ = session
    code, _, err = ember_cmd("train", "--model", "mlp", "--dataset", tmp_path / "no_such_dir",
                             "--epochs", 1, cwd=work)
    one_line_error(code, err, "train", "no_such_dir", "does not exist")
    (tmp_path / "corrupt.ember").write_bytes(b"not a checkpoint" * 8)
    code, _, err = ember_cmd("eval", tmp_path / "corrupt.ember", cwd=work)
    one_line_error(code, err, "eval", "corrupt.ember", "corrupt")
    (tmp_path / "half.ember").write_bytes(
        (work / "run" / "checkpoints" / "best.ember").read_bytes()[:2000])   # truncated copy
    code, _, err = ember_cmd("predict", tmp_path / "half.ember", work / "zero.png", cwd=work)
    one_line_error(code, err, "predict", "half.ember")


def test_bad_inputs_in_process_messages(session, tmp_path, capsys):
    """More mistakes, through ``ember.cli.main`` (the same code path without the interpreter
    start-up)."""
    work, _ = session
    (tmp_path / "text.png").write_text("not an image")
    for argv, words in [
            (["predict", str(work / "run"), str(tmp_path / "text.png")], ["text.png"]),
            (["predict", str(work / "run"), str(tmp_path / "missing.png")],
             ["missing.png", "does not exist"]),
            (["eval", str(work / "run"), "--dataset", "mnist-sample"], ["28x28", "8x8"]),
            (["summary", "lenet5", "--input-size", "1", "1", "8", "8"], ["8x8"]),
            (["train", "--model", "mlp", "--dataset", "mnist"], ["--data-root"]),
            (["train", "--model", "resnet9000", "--dataset", "digits"], ["resnet9000"])]:
        code = main(argv)
        out, err = capsys.readouterr()
        one_line_error(code, err, argv[0], *words)


def test_augmentation_shift_scales_with_image_size():
    def shift(h, w):
        return ArrayDataset(np.zeros((2, 1, h, w), np.float32), np.zeros(2, np.int64),
                            augment="basic").shift
    assert (shift(8, 8), shift(28, 28), shift(32, 32), shift(64, 64)) == (1, 2, 2, 5)
    assert ArrayDataset(np.zeros((2, 1, 8, 8), np.float32), np.zeros(2, np.int64),
                        augment="basic", shift=3).shift == 3


def test_curves_use_whole_epoch_ticks(tmp_path, monkeypatch):
    """A one-epoch run used to label its epoch axis 0.96, 0.98, 1.00, ..."""
    figures = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: figures.append(fig) or path)
    history = [{"epoch": 1, "train_loss": 2.3, "train_acc": 0.1, "val_loss": 2.2,
                "val_acc": 0.2}]
    plots.plot_history(history, str(tmp_path / "curves.png"))
    (fig,) = figures
    for ax in fig.axes:
        assert ax.get_xlabel() == "epoch" and ax.get_ylabel()
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
    plots._pyplot().close(fig)
