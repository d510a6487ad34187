"""Trainer: phases, history, callbacks, schedulers, and exact resumption from checkpoints."""
import io
import json

import numpy as np
import pytest

import ember
from ember import optim
from ember.optim import lr_scheduler
from ember.train import (CheckpointError, EarlyStopping, MetricLogger, ModelCheckpoint,
                         ProgressBar, Trainer, TrainingError)


def _trainer(net, steps, epochs, callbacks=(), lr=0.1):
    opt = optim.SGD(net.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    sched = lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps * epochs)
    return Trainer(net, opt, scheduler=sched, scheduler_interval="step", callbacks=callbacks,
                   config={"name": "tiny"})


def _metrics(history):
    return [{k: v for k, v in row.items() if k != "time"} for row in history]


def test_fit_learns_and_records_history(tiny_net, make_loaders, tmp_path):
    # inventory A15, A16
    train, val = make_loaders()
    out = io.StringIO()
    trainer = _trainer(tiny_net(), len(train), 3,
                       [ProgressBar(stream=out), MetricLogger(str(tmp_path))])
    history = trainer.fit(train, val, epochs=3)
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert set(history[0]) == {"epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc",
                               "time"}
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["val_acc"] > 0.5                       # chance is 0.1
    assert trainer.best_metric == max(row["val_acc"] for row in history)
    assert history[trainer.best_epoch - 1]["val_acc"] == trainer.best_metric
    # the evaluation agrees with a direct computation on the validation set
    result = trainer.evaluate(val, return_outputs=True)
    assert result["acc"] == pytest.approx(float((result["scores"].argmax(1) == result["targets"]).mean()))
    assert result["acc"] == pytest.approx(history[-1]["val_acc"])
    # not a terminal: one plain line per epoch, no bar
    lines = out.getvalue().splitlines()
    assert len(lines) == 3 and lines[0].startswith("epoch 1/3  train loss") and "\r" not in out.getvalue()
    # metric files hold the whole history
    rows = (tmp_path / "metrics.csv").read_text().splitlines()
    assert rows[0] == "epoch,lr,train_loss,train_acc,val_loss,val_acc,time" and len(rows) == 4
    assert float(rows[2].split(",")[2]) == history[1]["train_loss"]
    assert json.loads((tmp_path / "metrics.json").read_text()) == history


def test_progress_bar_on_a_terminal_shows_live_loss(tiny_net, make_loaders):
    train, _ = make_loaders(n_train=96)
    out = io.StringIO()
    _trainer(tiny_net(), len(train), 1, [ProgressBar(stream=out, bar=True, mininterval=0)]).fit(train, epochs=1)
    text = out.getvalue()
    assert "loss=" in text and "acc=" in text and "epoch 1/1  train loss" in text


def test_step_and_epoch_scheduler_intervals(tiny_net, make_loaders):
    train, _ = make_loaders(n_train=96, batch_size=32)           # 3 steps per epoch
    net = tiny_net()
    opt = optim.SGD(net.parameters(), lr=1.0)
    trainer = Trainer(net, opt, scheduler=lr_scheduler.StepLR(opt, 1, gamma=0.5),
                      scheduler_interval="epoch")
    trainer.fit(train, epochs=2)
    assert [row["lr"] for row in trainer.history] == [1.0, 0.5]
    assert opt.param_groups[0]["lr"] == 0.25
    opt = optim.SGD(net.parameters(), lr=1.0)
    trainer = Trainer(net, opt, scheduler=lr_scheduler.StepLR(opt, 1, gamma=0.5),
                      scheduler_interval="step")
    trainer.fit(train, epochs=2)
    assert [row["lr"] for row in trainer.history] == [1.0, 0.125]
    with pytest.raises(ValueError, match="scheduler_interval must be 'epoch' or 'step'"):
        Trainer(net, opt, scheduler_interval="batch")


def _flat_loss(output, target):
    return (output * 0.0).sum() + 1.0                  # no gradient: the loss never improves


def test_reduce_on_plateau_uses_the_validation_loss(tiny_net, make_loaders):
    train, val = make_loaders(n_train=64)
    net = tiny_net()
    opt = optim.SGD(net.parameters(), lr=0.1)
    sched = lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=0)
    trainer = Trainer(net, opt, _flat_loss, scheduler=sched)
    trainer.fit(train, val, epochs=3)
    assert [row["lr"] for row in trainer.history] == [0.1, 0.1, 0.05]
    with pytest.raises(ValueError, match="ReduceLROnPlateau steps once per epoch"):
        Trainer(net, opt, scheduler=sched, scheduler_interval="step")


def test_early_stopping_stops_and_its_state_is_checkpointed(tiny_net, make_loaders, tmp_path):
    # inventory A27
    train, val = make_loaders(n_train=64)
    net = tiny_net()
    stopper = EarlyStopping(monitor="val_loss", patience=2)
    trainer = Trainer(net, optim.SGD(net.parameters(), lr=0.1), _flat_loss,
                      callbacks=[ModelCheckpoint(str(tmp_path)), stopper])
    trainer.fit(train, val, epochs=10)
    assert len(trainer.history) == 3 and stopper.stopped_epoch == 3 and trainer.should_stop
    fresh = EarlyStopping(monitor="val_loss", patience=2)
    Trainer(net, optim.SGD(net.parameters(), lr=0.1), callbacks=[fresh]).load_checkpoint(
        str(tmp_path / "last.ember"))
    assert (fresh.wait, fresh.best, fresh.stopped_epoch) == (2, 1.0, 3)
    with pytest.raises(ValueError, match="EarlyStopping: patience must be at least 1"):
        EarlyStopping(patience=0)


def test_nan_loss_stops_with_a_one_line_error(tiny_net, make_loaders):
    train, _ = make_loaders(n_train=64)
    net = tiny_net()
    trainer = Trainer(net, optim.SGD(net.parameters(), lr=0.1),
                      lambda out, y: out.sum() * float("nan"))
    with pytest.raises(TrainingError, match=r"training loss became nan at epoch 1, batch 1"):
        trainer.fit(train, epochs=1)


def test_batch_transform_changes_the_training_and_evaluation_inputs(tiny_net, make_loaders):
    # the hook of adversarial training: transform(model, x, y) -> x' before every forward
    train, val = make_loaders(n_train=64, augment="none")
    net = tiny_net()
    calls = []

    def blank(model, x, y):
        assert model is net
        calls.append((tuple(x.shape), tuple(y.shape)))
        return ember.zeros_like(x)

    trainer = Trainer(net, optim.SGD(net.parameters(), lr=0.1), batch_transform=blank)
    trainer.fit(train, epochs=1)
    assert calls == [((32, 1, 8, 8), (32,))] * 2
    clean = trainer.evaluate(val, return_outputs=True)
    blanked = trainer.evaluate(val, return_outputs=True, batch_transform=blank)
    assert len(calls) == 2 + len(val)             # evaluate transforms only when asked
    assert np.ptp(blanked["scores"], axis=0).max() == 0 != np.ptp(clean["scores"], axis=0).max()
    with pytest.raises(TypeError, match="Trainer: batch_transform must be callable"):
        Trainer(net, optim.SGD(net.parameters(), lr=0.1), batch_transform=3)


@pytest.mark.parametrize("num_workers", [0, 2])
def test_resume_continues_bit_for_bit(tiny_net, make_loaders, tmp_path, num_workers):
    """3 uninterrupted epochs == 2 epochs, a new process-like start, resume, 1 more epoch."""
    epochs = 3
    ember.manual_seed(7)
    train, val = make_loaders(num_workers=num_workers)
    full = _trainer(tiny_net(), len(train), epochs, [ModelCheckpoint(str(tmp_path / "a"))])
    full.fit(train, val, epochs)

    ember.manual_seed(7)
    train, val = make_loaders(num_workers=num_workers)
    part = _trainer(tiny_net(), len(train), epochs, [ModelCheckpoint(str(tmp_path / "b"))])
    part.fit(train, val, 2)
    ember.manual_seed(12345)                        # another start: other init, other stream
    np.random.seed(999)
    train, val = make_loaders(num_workers=num_workers)
    resumed = _trainer(tiny_net(), len(train), epochs, [ModelCheckpoint(str(tmp_path / "b"))])
    resumed.load_checkpoint(str(tmp_path / "b" / "last.ember"))
    assert resumed.epoch == 2 and len(resumed.history) == 2
    resumed.fit(train, val, epochs)

    assert _metrics(resumed.history) == _metrics(full.history)
    assert (resumed.best_metric, resumed.best_epoch) == (full.best_metric, full.best_epoch)
    for (name, a), (_, b) in zip(full.model.state_dict().items(),
                                 resumed.model.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
    for a, b in zip(full.optimizer.state_dict()["state"].values(),
                    resumed.optimizer.state_dict()["state"].values()):
        np.testing.assert_array_equal(a["momentum_buffer"].numpy(), b["momentum_buffer"].numpy())
    assert ember.rand(3).tolist() != []            # the restored stream keeps working
    ember.manual_seed(0)


def test_best_checkpoint_holds_the_best_epoch(tiny_net, make_loaders, tmp_path):
    train, val = make_loaders()
    trainer = _trainer(tiny_net(), len(train), 3, [ModelCheckpoint(str(tmp_path))])
    trainer.fit(train, val, 3)
    from ember.train.checkpoint import load_checkpoint
    best = load_checkpoint(str(tmp_path / "best.ember"))
    last = load_checkpoint(str(tmp_path / "last.ember"))
    assert best["epoch"] == trainer.best_epoch and last["epoch"] == 3
    assert best["best_metric"] == trainer.best_metric
    assert best["config"] == {"name": "tiny"} and len(last["history"]) == 3
    assert set(last["rng"]) == {"ember", "numpy", "python"}


def test_load_checkpoint_errors(tiny_net, make_loaders, tmp_path):
    train, val = make_loaders(n_train=64)
    trainer = _trainer(tiny_net(), len(train), 1, [ModelCheckpoint(str(tmp_path))])
    trainer.fit(train, val, 1)
    path = tmp_path / "last.ember"
    other = ember.nn.Linear(64, 10)
    with pytest.raises(CheckpointError, match=r"does not fit Linear: .*different architecture"):
        Trainer(other, optim.SGD(other.parameters(), lr=0.1)).load_checkpoint(str(path))
    truncated = tmp_path / "truncated.ember"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="cannot read checkpoint .*truncated.ember"):
        trainer.load_checkpoint(str(truncated))
    plain = tmp_path / "weights.ember"
    ember.save(trainer.model.state_dict(), str(plain))
    with pytest.raises(CheckpointError, match="not a training checkpoint"):
        trainer.load_checkpoint(str(plain))
    with pytest.raises(CheckpointError, match="does not exist"):
        trainer.load_checkpoint(str(tmp_path / "missing.ember"))
    net = tiny_net()
    no_sched = Trainer(net, optim.SGD(net.parameters(), lr=0.1))
    with pytest.raises(CheckpointError, match="disagree on having a scheduler"):
        no_sched.load_checkpoint(str(path))


def test_failed_save_keeps_the_previous_checkpoint(tiny_net, make_loaders, tmp_path):
    train, val = make_loaders(n_train=64)
    trainer = _trainer(tiny_net(), len(train), 1, [ModelCheckpoint(str(tmp_path))])
    trainer.fit(train, val, 1)
    path = tmp_path / "last.ember"
    before = path.read_bytes()
    trainer.config["bad"] = object()                 # not serialisable: the save fails
    with pytest.raises(TypeError):
        trainer.save_checkpoint(str(path))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.ember", "last.ember"]
