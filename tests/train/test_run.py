"""``ember.train.run`` / ``fit``: a whole training run as a Python call, the run folder's
atomic claim, and runs stopped before their first checkpoint (issue "Any machine, any new
user", items 2 and 3)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import ember
from ember.train import Recipe, callbacks, fit, run
from ember.train.recipes import RecipeError
from ember.train.run import LOCK_NAME, RunError, RunFolder, RunInterrupted
from ember.train.trainer import TrainingError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = dict(model="mlp", dataset="digits", epochs=1, schedule="none", optimizer="adam", lr=0.01,
            augment="none")


def _strip(history):
    return [{k: v for k, v in row.items() if k != "time"} for row in history]


def test_run_returns_the_result_and_writes_the_run_folder(tmp_path):
    out = str(tmp_path / "run")
    result = run(Recipe(**TINY), out, progress=False)
    assert result.out == out and result.recipe.model == "mlp" and result.best_epoch == 1
    assert result.summary.startswith("test accuracy: ") and not result.stopped_early
    assert result.test_metrics == json.load(open(os.path.join(out, "test_metrics.json")))
    assert _strip(result.history) == _strip(json.load(open(os.path.join(out, "metrics.json"))))
    assert result.config == json.load(open(os.path.join(out, "config.json")))
    assert all(os.path.isfile(p) for p in result.checkpoints.values())
    assert result.test_metrics["accuracy"] > 0.7


def test_fit_takes_recipe_fields_and_the_task_picks_a_model_for_the_data(tmp_path):
    """``--dataset digits`` with no model: LeNet-5 cannot take 8x8 images, so the task picks
    the MLP (item 7: the default model used to fail on the digits)."""
    result = fit(dataset="digits", epochs=1, schedule="none", out=str(tmp_path / "d"),
                 progress=False)
    assert result.recipe.model == "mlp" and result.config["recipe"]["model"] == "mlp"
    with pytest.raises(RecipeError, match="unknown recipe field.*colour"):
        fit(colour="red", out=str(tmp_path / "x"))
    assert not (tmp_path / "x").exists()


def test_bad_recipes_are_one_line_errors_naming_the_field(tmp_path):
    for field, value, pattern in (("epochs", 0, "epochs must be at least 1"),
                                  ("lr", -1.0, "lr must be positive"),
                                  ("optimizer", "lbfgs", "optimizer 'lbfgs' is unknown"),
                                  ("val_split", 1.0, r"val_split must lie in \[0, 1\)")):
        with pytest.raises(RecipeError, match=pattern) as info:
            run(Recipe(**{**TINY, field: value}), str(tmp_path / "r"), progress=False)
        assert info.value.field == field
    assert not (tmp_path / "r").exists()


def test_a_claimed_folder_refuses_a_second_run_at_once(tmp_path):
    out = str(tmp_path / "busy")
    claim = RunFolder.claim(out)
    try:
        with pytest.raises(RunError, match=f"run folder {out} is in use by another ember train "
                                           f"\\(process {os.getpid()}\\)"):
            run(Recipe(**TINY), out, progress=False)
    finally:
        claim.release()
    assert os.listdir(out) == [LOCK_NAME]
    run(Recipe(**TINY), out, progress=False)       # free again once released


def test_two_runs_started_together_into_one_folder(tmp_path):
    """Item 2: both used to exit 0, leaving one run's config beside the other's metrics. Now
    exactly one runs; the other stops at once with a one-line error."""
    out = str(tmp_path / "shared")
    argv = [sys.executable, "-m", "ember", "train", "--model", "mlp", "--dataset", "digits",
            "--epochs", "2", "--schedule", "none", "--out", out]
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    procs = [subprocess.Popen(argv + ["--seed", str(seed)], cwd=ROOT, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for seed in (1, 2)]
    results = [(p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in procs]
    assert sorted(code for code, _, _ in results) == [0, 1], results
    (_, _, err), = [r for r in results if r[0] == 1]
    assert err.count("\n") == 1 and ("is in use by another ember train" in err
                                     or "already exists and is not empty" in err), err
    winner = [code for code, _, _ in results].index(0)
    assert "test accuracy" in results[winner][1]
    config = json.load(open(os.path.join(out, "config.json")))
    assert config["recipe"]["seed"] == (1, 2)[winner]      # the folder is the winner's alone
    assert len(json.load(open(os.path.join(out, "metrics.json")))) == 2


def _interrupt_in_first_epoch(monkeypatch):
    """Ctrl-C at the second training batch of epoch 1 (before any checkpoint)."""
    class Stop(callbacks.Callback):
        def on_batch_end(self, trainer, phase, batch_index, logs):
            if phase == "train" and trainer.epoch == 0 and batch_index == 1:
                raise KeyboardInterrupt
    return [Stop()]


def test_interrupted_in_the_first_epoch_resumes_from_the_start(tmp_path, monkeypatch):
    """Item 3: a run stopped before its first checkpoint used to leave a folder that could be
    neither reused nor resumed, while the message advised --resume."""
    recipe = Recipe(**{**TINY, "epochs": 2, "seed": 3})
    full = run(recipe, str(tmp_path / "full"), progress=False)
    out = str(tmp_path / "cut")
    with pytest.raises(RunInterrupted) as info:
        run(recipe, out, progress=False, callbacks=_interrupt_in_first_epoch(monkeypatch))
    assert str(info.value) == (f"interrupted during epoch 1, before any checkpoint; start it "
                               f"again with: ember train --resume {out}")
    assert info.value.last_checkpoint is None and os.path.isfile(os.path.join(out, "config.json"))
    ember.manual_seed(99)
    resumed = run(None, resume=out, progress=False)
    assert resumed.notes == [f"no epoch of the run in {out} was completed: it starts again from "
                             f"epoch 1"]
    assert _strip(resumed.history) == _strip(full.history)
    assert resumed.test_metrics == full.test_metrics


def test_a_folder_without_checkpoint_can_be_reused_by_a_new_run(tmp_path, monkeypatch):
    out = str(tmp_path / "cut")
    with pytest.raises(RunInterrupted):
        run(Recipe(**TINY), out, progress=False, callbacks=_interrupt_in_first_epoch(monkeypatch))
    result = run(Recipe(**{**TINY, "optimizer": "sgd", "lr": 0.05}), out, progress=False)
    assert result.notes == [f"reusing run folder {out}: its earlier run never completed an epoch"]
    assert json.load(open(os.path.join(out, "config.json")))["recipe"]["optimizer"] == "sgd"
    with pytest.raises(RunError, match="already exists and is not empty; choose another --out, "
                                       "or continue it with --resume"):
        run(Recipe(**TINY), out, progress=False)        # a finished run is never overwritten


def test_a_nan_loss_in_the_first_epoch_says_what_works(tmp_path):
    out = str(tmp_path / "nan")
    with pytest.raises(TrainingError) as info:
        run(Recipe(**{**TINY, "lr": 1e30, "optimizer": "sgd"}), out, progress=False)
    message = str(info.value)
    assert "the training loss became" in message and "lower the learning rate" in message
    assert (f"no epoch was completed, so the run folder {out} holds no checkpoint: start again "
            f"there with other settings (ember train --out {out} --lr ...)") in message
    result = run(Recipe(**TINY), out, progress=False)
    assert result.test_metrics["accuracy"] > 0.5


def test_resume_keeps_the_recipe(tmp_path):
    out = str(tmp_path / "r")
    run(Recipe(**{**TINY, "epochs": 1}), out, progress=False)
    with pytest.raises(RunError, match="--model lenet5 differs from the checkpoint's mlp"):
        run(None, resume=out, overrides={"model": "lenet5"}, progress=False)
    with pytest.raises(RunError, match="cannot change batch_size"):
        run(None, resume=out, overrides={"batch_size": 8}, progress=False)
    with pytest.raises(RunError, match="either a recipe or resume="):
        run(Recipe(**TINY), resume=out, progress=False)
    longer = run(None, resume=out, overrides={"epochs": 2}, progress=False)
    assert [row["epoch"] for row in longer.history] == [1, 2]


def test_the_trainer_streams_any_metric_into_the_history(tmp_path):
    """A task's metric (here: error rate) reaches the history columns and the epoch line."""
    import io

    class ErrorRate:
        def __init__(self):
            self.wrong = self.seen = 0

        def update(self, output, target):
            target = target.numpy()
            self.wrong += int((output.argmax(1) != target).sum())
            self.seen += len(target)

        def compute(self):
            return {"error": self.wrong / self.seen}

    from ember.train import Trainer
    from ember.train.callbacks import ProgressBar
    from ember.utils.data import DataLoader, TensorDataset
    x = ember.randn(64, 4)
    y = (x[:, 0] > 0).long()
    net = ember.nn.Linear(4, 2)
    stream = io.StringIO()
    trainer = Trainer(net, ember.optim.SGD(net.parameters(), lr=0.5), metrics=ErrorRate,
                      monitor="val_error", mode="min", callbacks=[ProgressBar(stream=stream)])
    loader = DataLoader(TensorDataset(x, y), batch_size=16)
    trainer.fit(loader, loader, epochs=3)
    assert set(trainer.history[0]) >= {"train_loss", "train_error", "val_loss", "val_error"}
    assert trainer.history[-1]["val_error"] < 0.3
    assert "val loss" in stream.getvalue() and "error 0." in stream.getvalue()
    np.testing.assert_allclose(trainer.best_metric, min(r["val_error"] for r in trainer.history))
