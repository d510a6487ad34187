"""Training checkpoints whose contents lie: every field ``ember eval`` / ``predict`` /
``train --resume`` uses is checked, so a damaged or crafted file is one error line (found by
the fuzzing suite: a recipe value that is a dict, class names that are a list of lists)."""
import numpy as np
import pytest

import ember
from ember.cli import main
from ember.train import checkpoint as ckpt
from ember.train.recipes import Recipe, build_model


def _checkpoint(path, change=lambda state: None):
    model, _ = build_model("mlp", 10, 1, (8, 8))
    ckpt.save_checkpoint(path, model=model, optimizer=ember.optim.SGD(model.parameters(), lr=0.1),
                         config={"recipe": Recipe(model="mlp", dataset="digits", epochs=2,
                                                  schedule="none", augment="none").to_dict(),
                                 "classes": [str(i) for i in range(10)],
                                 "preprocessing": {"channels": 1, "size": [8, 8], "mean": [0.3],
                                                   "std": [0.3]}})
    state = ember.load(path)
    change(state)
    ember.save(state, path)
    return str(path)


def _set(*keys, value):
    def change(state):
        target = state
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
    return change


@pytest.mark.parametrize("change, message", [
    (_set("config", "recipe", "test_fraction", value={1: 1}), "a recipe test_fraction of {1: 1}"),
    (_set("config", "recipe", "model", value=7), "a recipe model of 7"),
    (_set("config", "recipe", "split_seed", value=True), "a recipe split_seed of True"),
    (_set("config", "recipe", "val_split", value=float("nan")), "a recipe val_split of nan"),
    (_set("config", "preprocessing", "channels", value=4096), "without channels 1 or 3"),
    (_set("config", "preprocessing", "size", value=[8, 10 ** 9]), r"a preprocessing size of"),
    (_set("config", "preprocessing", "std", value=[0.0]), r"a preprocessing std of \[0.0\]"),
    (_set("config", "preprocessing", "mean", value=["x"]), "a preprocessing mean of"),
    (_set("config", "classes", value=[["a"], ["b"]]), "class names that are not"),
    (_set("config", "classes", value=[]), "class names that are not"),
    (_set("config", value=[]), "no config dict"),
    (_set("epoch", value="3"), "an epoch that is not an int"),
    (_set("model", value={"0.weight": np.zeros(2)}), "holds no state dict"),
])
def test_eval_and_predict_refuse_checkpoints_whose_fields_lie(tmp_path, capsys, change, message):
    path = _checkpoint(tmp_path / "run.ember", change)
    image = tmp_path / "x.png"
    from PIL import Image
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(image)
    for argv in (["eval", path], ["predict", path, str(image)]):
        assert main(argv) == 1
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "run.ember" in err and "Traceback" not in err, err
        assert __import__("re").search(message, err), err


@pytest.mark.parametrize("change", [
    _set("rng", "numpy", "keys", value=[1, 2]),
    _set("rng", "python", value=None),
    _set("history", value=[3]),
    _set("epoch", value=-1),
    _set("optimizer", "param_groups", value=[{"params": "x"}]),
])
def test_resume_refuses_a_training_state_that_cannot_be_restored(tmp_path, capsys, change):
    path = _checkpoint(tmp_path / "run.ember", change)
    assert main(["train", "--resume", path, "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err, err
    assert "run.ember" in err and ("cannot be restored" in err or "does not fit" in err
                                   or "epoch" in err), err
