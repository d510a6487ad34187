"""ember.train.data (splits, preprocessing, batch augmentation), recipes and plots."""
import numpy as np
import pytest

import ember
from ember.optim import lr_scheduler
from ember.train import data, plots, recipes
from ember.utils.data.worker import batch_stream, fetching_with


def test_mnist_sample_split_is_the_reference_split():
    images, labels, classes, has_test = data.load_arrays("mnist-sample")
    assert images.shape == (5000, 28, 28, 1) and images.dtype == np.uint8 and not has_test
    train, val, test = data.split_indices(5000, 0.1, 0.1, 0, has_test)
    perm = np.random.default_rng(0).permutation(5000)     # /tmp/exp/torch_lenet.py's split
    np.testing.assert_array_equal(test, perm[:500])
    np.testing.assert_array_equal(val, perm[500:1000])
    np.testing.assert_array_equal(train, perm[1000:])
    assert classes == [str(i) for i in range(10)]


def test_preprocessing_normalises_with_train_statistics(digits_splits):
    pre = digits_splits["preprocessing"]
    x, y = digits_splits["train"]
    assert pre["channels"] == 1 and pre["size"] == [8, 8]
    assert x.dtype == np.float32 and x.shape[1:] == (1, 8, 8)
    assert abs(float(x.mean())) < 1e-4 and float(x.std()) == pytest.approx(1.0, rel=1e-4)
    assert len(y) + len(digits_splits["val"][1]) + len(digits_splits["test"][1]) == 1797
    grey = (np.arange(64, dtype=np.uint8).reshape(1, 8, 8, 1) * 3)
    rgb_pre = data.fit_preprocessing(grey, channels=3)
    assert rgb_pre["mean"] == [pytest.approx(grey.mean() / 255)] * 3
    out = data.preprocess_arrays(grey, rgb_pre)
    assert out.shape == (1, 3, 8, 8) and np.array_equal(out[:, 0], out[:, 2])


def test_preprocess_image_converts_mode_and_size(digits_splits):
    from PIL import Image
    pre = digits_splits["preprocessing"]
    pixels = (np.arange(64).reshape(8, 8) * 4).astype(np.uint8)
    same = data.preprocess_image(Image.fromarray(pixels), pre)
    np.testing.assert_array_equal(same, data.preprocess_arrays(pixels[None, :, :, None], pre))
    big_rgb = Image.fromarray(np.zeros((30, 20, 3), np.uint8) + 255)
    out = data.preprocess_image(big_rgb, pre)
    assert out.shape == (1, 1, 8, 8)
    np.testing.assert_allclose(out, (1.0 - pre["mean"][0]) / pre["std"][0], rtol=1e-6)


def test_random_shift_is_a_padded_crop_drawn_from_the_fetch_stream():
    rng = np.random.default_rng(1)
    images = rng.normal(size=(6, 2, 5, 7)).astype(np.float32)
    ds = data.ArrayDataset(images, np.arange(6), augment="basic", shift=2, background=[-1.0, -2.0])
    with fetching_with(batch_stream(5, 0)):
        x, y = ds.__getitems__([0, 1, 2, 3, 4, 5])
    dy, dx = batch_stream(5, 0).integers(0, 5, size=(2, 6))
    for i in range(6):                       # reference: pad each image, crop at its offset
        padded = np.stack([np.pad(images[i, c], 2, constant_values=-1.0 - c) for c in range(2)])
        np.testing.assert_array_equal(x.numpy()[i], padded[:, dy[i]:dy[i] + 5, dx[i]:dx[i] + 7])
    assert y.tolist() == list(range(6))
    assert not np.array_equal(x.numpy(), images)
    plain = data.ArrayDataset(images, np.arange(6))
    np.testing.assert_array_equal(plain.__getitems__([2, 4])[0].numpy(), images[[2, 4]])
    image, label = plain[3]
    assert label == 3 and image.shape == (2, 5, 7)
    with pytest.raises(ValueError, match="ArrayDataset: augment must be 'none' or 'basic'"):
        data.ArrayDataset(images, np.arange(6), augment="heavy")


def test_data_errors_are_one_line(tmp_path):
    with pytest.raises(data.DataError, match="unknown dataset 'svhn'"):
        data.load_arrays("svhn")
    with pytest.raises(data.DataError, match="dataset mnist needs --data-root"):
        data.load_arrays("mnist")
    with pytest.raises(data.DataError, match="dataset path .*nowhere does not exist"):
        data.load_arrays("cifar10", str(tmp_path / "nowhere"))
    with pytest.raises(data.DataError, match="MNIST: missing"):
        data.load_arrays("mnist", str(tmp_path))
    with pytest.raises(data.DataError, match="has 8x8 images but the model expects 28x28"):
        data.check_image_size(np.zeros((1, 8, 8, 1), np.uint8),
                              {"channels": 1, "size": [28, 28]}, "dataset digits")
    with pytest.raises(data.DataError, match="no training images"):
        data.split_indices(10, 0.5, 0.5, 0, False)


def test_image_folder_dataset(tmp_path):
    from PIL import Image
    for label, value in (("cat", 30), ("dog", 220)):
        (tmp_path / label).mkdir()
        for i in range(3):
            Image.fromarray(np.full((6, 5), value + i, np.uint8)).save(tmp_path / label / f"{i}.png")
    images, labels, classes, _ = data.load_arrays("folder", str(tmp_path))
    assert images.shape == (6, 6, 5, 1) and classes == ["cat", "dog"]
    assert labels.tolist() == [0, 0, 0, 1, 1, 1] and images[4, 0, 0, 0] == 221


def test_build_model_fits_the_data():
    model, channels = recipes.build_model("lenet5", 10, 1, (28, 28))
    assert model.padded and channels == 1
    assert sum(p.numel() for p in model.parameters()) == 61706
    model, channels = recipes.build_model("lenet5", 10, 3, (32, 32))
    assert not model.padded and model.conv1.in_channels == 3
    model, channels = recipes.build_model("mlp", 4, 1, (8, 8))
    assert model(ember.zeros(3, 1, 8, 8)).shape == (3, 4)
    _, channels = recipes.build_model("resnet20", 10, 1, (28, 28))
    assert channels == 3                              # grey data is fed as three channels
    with pytest.raises(recipes.ModelError, match="lenet5 expects 28x28 .* the data has 8x8"):
        recipes.build_model("lenet5", 10, 1, (8, 8))
    with pytest.raises(recipes.ModelError, match="model alexnet does not accept 3x8x8 images"):
        recipes.build_model("alexnet", 10, 1, (8, 8))
    with pytest.raises(recipes.ModelError, match="unknown model 'lenet6'"):
        recipes.build_model("lenet6", 10, 1, (28, 28))
    assert "mlp" in recipes.model_names() and "resnet18" in recipes.model_names()


@pytest.mark.parametrize("name", recipes.OPTIMIZERS)
def test_build_optimizer(name):
    model, _ = recipes.build_model("mlp", 10, 1, (8, 8))
    recipe = recipes.Recipe(optimizer=name, lr=0.01, momentum=0.5, weight_decay=0.001)
    opt = recipes.build_optimizer(recipe, model.parameters())
    group = opt.param_groups[0]
    assert type(opt).__name__.lower() == name and group["lr"] == 0.01
    assert group["weight_decay"] == 0.001
    if name in ("sgd", "rmsprop"):
        assert group["momentum"] == 0.5


@pytest.mark.parametrize("schedule,cls,interval", [
    ("none", None, "epoch"), ("step", lr_scheduler.StepLR, "epoch"),
    ("cosine", lr_scheduler.CosineAnnealingLR, "step"),
    ("onecycle", lr_scheduler.OneCycleLR, "step"),
    ("plateau", lr_scheduler.ReduceLROnPlateau, "epoch")])
def test_build_scheduler(schedule, cls, interval):
    model, _ = recipes.build_model("mlp", 10, 1, (8, 8))
    recipe = recipes.Recipe(schedule=schedule, epochs=6, lr=0.1)
    opt = recipes.build_optimizer(recipe, model.parameters())
    sched, got = recipes.build_scheduler(recipe, opt, steps_per_epoch=10)
    assert got == interval and (sched is None if cls is None else isinstance(sched, cls))
    if schedule == "onecycle":
        assert sched.total_steps == 60 and opt.param_groups[0]["lr"] == pytest.approx(0.1 / 25)
    if schedule == "step":
        assert sched.step_size == 2


def test_recipe_round_trip_and_main_job():
    assert recipes.MAIN_JOB.model == "lenet5" and recipes.MAIN_JOB.dataset == "mnist-sample"
    recipe = recipes.Recipe(epochs=3, lr=0.5)
    assert recipes.Recipe.from_dict(dict(recipe.to_dict(), unknown=1)) == recipe


@pytest.mark.parametrize("field,value,message", [
    ("adversarial", "deepfool", "adversarial 'deepfool' is unknown; choose one of none, fgsm, pgd"),
    ("epsilon", 0.0, r"epsilon must lie in \(0, 1\] \(pixel values\), got 0.0"),
    ("epsilon", 2.0, r"epsilon must lie in \(0, 1\]"),
    ("attack_steps", 0, "attack_steps must be at least 1, got 0"),
    ("adversarial_fraction", 1.5, r"adversarial_fraction must lie in \(0, 1\], got 1.5"),
])
def test_adversarial_recipe_fields_are_checked(field, value, message):
    with pytest.raises(recipes.RecipeError, match=message) as error:
        recipes.Recipe(**{"adversarial": "pgd", field: value}).validate()
    assert error.value.field == field


def test_build_attack_follows_the_recipe():
    pre = {"mean": [0.13], "std": [0.31]}
    assert recipes.build_attack(recipes.Recipe(), None, pre) is None
    recipe = recipes.Recipe(adversarial="pgd", epsilon=0.2, attack_steps=7,
                            adversarial_fraction=0.25)
    attack = recipes.build_attack(recipe, None, pre)
    assert (attack.attack, attack.epsilon, attack.steps, attack.fraction) == ("pgd", 0.2, 7, 0.25)
    assert attack.mean.ravel().tolist() == [0.13] and attack.std.ravel().tolist() == [0.31]
    assert recipes.build_attack(recipe, None, pre, evaluation=True).fraction == 1.0


def _is_png(path):
    with open(path, "rb") as f:
        return f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_plots_write_png_files(tmp_path):
    history = [{"epoch": e, "train_loss": 1.0 / e, "train_acc": 0.5 + e / 10, "val_loss": 1.2 / e,
                "val_acc": 0.4 + e / 10} for e in (1, 2, 3)]
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (10, 8, 8, 1), dtype=np.uint8)
    targets, predictions = np.arange(10) % 3, np.array([0, 1, 2, 1, 1, 2, 0, 0, 2, 0])
    model, _ = recipes.build_model("mlp", 3, 1, (8, 8))
    conv, _ = recipes.build_model("lenet5", 10, 3, (32, 32))
    assert plots.first_layer_weights(model, (1, 8, 8)).shape == (256, 1, 8, 8)
    assert plots.first_layer_weights(conv, (3, 32, 32)).shape == (6, 3, 5, 5)
    recurrent, _ = recipes.build_model("lstm_mnist", 10, 1, (28, 28))
    assert plots.first_layer_weights(recurrent, (1, 28, 28)) is None     # it reads rows
    paths = [plots.plot_history(history, str(tmp_path / "curves.png")),
             plots.plot_confusion_matrix(np.eye(3, dtype=int) * 4, ["a", "b", "c"],
                                         str(tmp_path / "cm.png")),
             plots.plot_misclassified(images, targets, predictions, ["a", "b", "c"],
                                      str(tmp_path / "wrong.png")),
             plots.plot_misclassified(images, targets, targets, ["a", "b", "c"],
                                      str(tmp_path / "none_wrong.png")),
             plots.plot_filters(plots.first_layer_weights(conv, (3, 32, 32)),
                                str(tmp_path / "filters.png"))]
    assert all(_is_png(p) for p in paths)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["curves.png", "cm.png", "wrong.png", "none_wrong.png", "filters.png"])
