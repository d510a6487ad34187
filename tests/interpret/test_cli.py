"""``ember explain``, ``ember visualize`` and ``ember train --adversarial``, in-process through
``ember.cli.main``. The checkpoints are written by the training code's own ``Trainer`` for an
untrained model (the commands' plumbing does not depend on what the model learnt); one tiny
adversarial training run checks the option end to end."""
import json
import os

import pytest

import ember
from tests.test_cli import FAST, assert_one_line_error, run


def write_checkpoint(path, model, dataset):
    """An ``ember train`` checkpoint of an untrained ``model`` for ``dataset``."""
    from ember.train.recipes import Recipe, build_optimizer
    from ember.train.tasks import get_task
    from ember.train.trainer import Trainer
    ember.manual_seed(0)
    recipe = Recipe(model=model, dataset=dataset).validate()
    task = get_task("classification")
    net, data = task.build_model(recipe, task.load_data(recipe))
    config = {"recipe": recipe.to_dict(), **task.config(data)}
    Trainer(net, build_optimizer(recipe, net.parameters()), config=config).save_checkpoint(path)
    return path, data


@pytest.fixture(scope="module")
def lenet_run(tmp_path_factory):
    """A LeNet-5 checkpoint for the MNIST sample and three of its test digits as PNG files."""
    from PIL import Image
    folder = tmp_path_factory.mktemp("lenet")
    path, data = write_checkpoint(str(folder / "lenet.ember"), "lenet5", "mnist-sample")
    digits = []
    for i in range(3):
        digits.append(str(folder / f"digit{i}.png"))
        Image.fromarray(data["raw_test"][i][..., 0]).save(digits[-1])
    photo = str(folder / "coffee.png")
    from skimage import data as photos
    Image.fromarray(photos.coffee()[::4, ::4]).save(photo)
    return path, digits, photo


def is_png(path):
    with open(path, "rb") as f:
        return f.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("method", ["gradcam", "saliency", "smoothgrad", "ig", "occlusion"])
def test_explain_writes_a_figure_per_image(capsys, lenet_run, tmp_path, method):
    checkpoint, digits, _ = lenet_run
    out = str(tmp_path / "figures")
    code, stdout, err = run(capsys, "explain", checkpoint, *digits[:2], "--method", method,
                            "--out", out, "--topk", "2")
    assert code == 0, err
    lines = stdout.strip().splitlines()
    assert len(lines) == 2
    for line, digit in zip(lines, digits):
        stem = os.path.splitext(os.path.basename(digit))[0]
        figure = os.path.join(out, f"{stem}-{method}.png")
        assert line.startswith(f"{digit}: ") and line.endswith(f"-> {figure}")
        assert line.count("(0.") + line.count("(1.0") == 2 and is_png(figure)
    if method == "gradcam":
        assert " at pool2 for class " in lines[0]


def test_explain_a_chosen_target_and_layer(capsys, lenet_run, tmp_path):
    checkpoint, digits, _ = lenet_run
    code, stdout, err = run(capsys, "explain", checkpoint, digits[0], digits[0], "--target", "7",
                            "--layer", "conv1", "--out", str(tmp_path))
    assert code == 0, err
    first, second = stdout.strip().splitlines()
    assert "gradcam at conv1 for class 7 ->" in first
    # two images of one name get numbered figures
    assert first.endswith("digit0-0-gradcam.png") and second.endswith("digit0-1-gradcam.png")


def test_explain_errors_are_one_line(capsys, lenet_run, tmp_path):
    checkpoint, digits, _ = lenet_run
    out = str(tmp_path)
    code, _, err = run(capsys, "explain", checkpoint, digits[0], "--layer", "conv7", "--out",
                       out)
    assert_one_line_error(code, err, r"^ember explain: error: grad_cam: LeNet5 has no layer "
                                     r"'conv7'; its layers are: conv1, relu1, pool1, conv2, "
                                     r"relu2, pool2, fc1, relu3, fc2, relu4, fc3$")
    code, _, err = run(capsys, "explain", checkpoint, digits[0], "--target", "10", "--out", out)
    assert_one_line_error(code, err, r"--target 10 is out of range: the model has 10 classes")
    code, _, err = run(capsys, "explain", checkpoint, digits[0], "--method", "cam", "--out",
                       out)
    assert_one_line_error(code, err, r"cam: LeNet5 does not end in a global average pool")
    code, _, err = run(capsys, "explain", checkpoint, digits[0], "--method", "saliency",
                       "--layer", "conv1", "--out", out)
    assert_one_line_error(code, err, r"a layer applies to gradcam only, not saliency")
    code, _, err = run(capsys, "explain", checkpoint, str(tmp_path / "missing.png"), "--out",
                       out)
    assert_one_line_error(code, err, r"missing.png does not exist")


def test_explain_cam_of_a_global_pool_network(capsys, tmp_path):
    from PIL import Image
    checkpoint, data = write_checkpoint(str(tmp_path / "r20.ember"), "resnet20", "digits")
    image = str(tmp_path / "eight.png")
    Image.fromarray(data["raw_test"][0][..., 0]).save(image)
    code, stdout, err = run(capsys, "explain", checkpoint, image, "--method", "cam", "--out",
                            str(tmp_path / "cam"))
    assert code == 0, err
    assert is_png(str(tmp_path / "cam" / "eight-cam.png")) and "cam for class" in stdout


def test_visualize_writes_every_picture(capsys, lenet_run, tmp_path):
    checkpoint, digits, photo = lenet_run
    out = str(tmp_path / "pictures")
    code, stdout, err = run(capsys, "visualize", checkpoint, "--filters", "--activations",
                            digits[0], "--tsne", "--pca", "--patches", "--dream", photo,
                            "--dream-size", "64", "--limit", "40", "--out", out)
    assert code == 0, err
    names = ["filters", "activations", "tsne", "pca", "patches", "dream"]
    assert stdout.strip().splitlines() == [f"wrote {os.path.join(out, n)}.png" for n in names]
    assert all(is_png(os.path.join(out, f"{n}.png")) for n in names)


def test_visualize_a_chosen_split_and_explain_without_inverting(capsys, lenet_run, tmp_path):
    checkpoint, digits, _ = lenet_run
    code, stdout, err = run(capsys, "visualize", checkpoint, "--pca", "--split", "val",
                            "--limit", "12", "--out", str(tmp_path), "--threads", "1")
    assert code == 0, err
    assert stdout.strip() == f"wrote {tmp_path / 'pca.png'}"
    from PIL import Image, ImageOps
    inverted = str(tmp_path / "black_on_white.png")
    ImageOps.invert(Image.open(digits[0])).save(inverted)
    notes = []
    for invert in ("auto", "no"):
        code, _, err = run(capsys, "explain", checkpoint, inverted, "--invert", invert,
                           "--out", str(tmp_path))
        assert code == 0, err
        notes.append("inverted" in err)
    assert notes == [True, False]


def test_visualize_errors_are_one_line(capsys, lenet_run, tmp_path):
    checkpoint, digits, _ = lenet_run
    code, _, err = run(capsys, "visualize", checkpoint, "--out", str(tmp_path))
    assert_one_line_error(code, err, r"nothing to draw: give --filters")
    code, _, err = run(capsys, "visualize", checkpoint, "--activations", digits[0], "--layer",
                       "fc9", "--out", str(tmp_path))
    assert_one_line_error(code, err, r"layer_activations: LeNet5 has no layer 'fc9'; its "
                                     r"layers are: conv1, ")
    code, _, err = run(capsys, "visualize", checkpoint, "--activations", digits[0], "--layer",
                       "fc1", "--out", str(tmp_path))
    assert_one_line_error(code, err, r"activations: layer 'fc1' returns shape \(120,\)")


def test_train_with_adversarial_examples_reports_both_accuracies(capsys, tmp_path):
    out = str(tmp_path / "run")
    code, stdout, err = run(capsys, *FAST, "--adversarial", "pgd", "--epsilon", "0.1",
                            "--attack-steps", "2", "--adversarial-fraction", "0.75", "--out", out)
    assert code == 0, err
    assert ("with PGD (L-inf, epsilon 0.1, 2 steps, random start) examples replacing 75% of "
            "each batch for 1 epochs") in stdout
    clean, robust = (line for line in stdout.splitlines() if "test accuracy:" in line)
    report = json.load(open(os.path.join(out, "test_metrics.json")))
    assert clean.startswith(f"test accuracy: {100 * report['accuracy']:.2f}%")
    assert robust.startswith(f"robust test accuracy: {100 * report['robust']['accuracy']:.2f}%")
    assert report["robust"]["attack"] == "PGD (L-inf, epsilon 0.1, 2 steps, random start)"
    assert report["robust"]["accuracy"] < report["accuracy"]
    config = json.load(open(os.path.join(out, "config.json")))["recipe"]
    assert (config["adversarial"], config["epsilon"], config["attack_steps"],
            config["adversarial_fraction"]) == ("pgd", 0.1, 2, 0.75)
    code, _, err = run(capsys, *FAST, "--adversarial", "pgd", "--epsilon", "0",
                       "--out", str(tmp_path / "bad"))
    assert_one_line_error(code, err, r"--epsilon must lie in \(0, 1\]")
