"""``Trainer``: the lectures' SGD loop with train / validation / test phases (inventory A15,
A16).

Lecture 003's recipe, "for every epoch: shuffle, then for every minibatch: forward, loss,
backward, step" (`003` L3215-3224), plus what a real run needs around it: a learning-rate
schedule stepped per optimizer step or per epoch (``ReduceLROnPlateau`` on the validation
loss), the best value of a monitored metric, a history of per-epoch metrics, callbacks
(progress bar, metric files, early stopping, checkpoints; ``ember.train.callbacks``) and
exact resumption from a checkpoint.

Determinism: every random draw of a run (``DataLoader`` shuffles and the per-batch streams of
its workers, dropout, augmentation) comes from ember's default generator, whose state is
saved in every checkpoint together with NumPy's and Python's. Resuming a checkpoint written
after epoch ``K`` and training to epoch ``N`` therefore gives bit-for-bit the weights and
metrics of an uninterrupted ``N``-epoch run with the same seed (only the ``time`` column
differs).
"""
import math
import time

import numpy as np

import ember
from ember.optim.lr_scheduler import ReduceLROnPlateau
from ember.train import checkpoint as _checkpoint
from ember.train import metrics as _metrics
from ember.train.callbacks import Callback

__all__ = ["Trainer", "TrainingError"]


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. the loss became NaN or infinite); one-line message."""


def _cross_entropy(output, target):
    from ember.nn import functional as F
    return F.cross_entropy(output, target)


def _array(output):
    return output._data


class Trainer:
    """Train ``model`` with ``optimizer`` on ``loss_fn(model(x), y)``.

    Args:
        model: an ``ember.nn.Module`` mapping a batch ``x`` to its output (class scores
            ``(N, C)`` by default).
        optimizer: an ``ember.optim`` optimizer over the model's parameters.
        loss_fn: ``loss_fn(output, targets) -> scalar Tensor`` with mean reduction (default
            ``F.cross_entropy``).
        metrics: a callable returning a fresh streaming metric for each phase: an object
            with ``update(output, targets)`` (NumPy ``output``) and ``compute() -> {name:
            value}`` (default :class:`ember.train.metrics.Accuracy`: ``{"acc": ...}``). Each
            name becomes the history columns ``train_<name>`` and ``val_<name>``, so every
            task (classification, segmentation, ...) runs through this one loop.
        scheduler: an ``ember.optim.lr_scheduler`` scheduler or None.
        scheduler_interval: ``"epoch"`` (step once after each epoch) or ``"step"`` (after each
            optimizer step, e.g. ``OneCycleLR``). ``ReduceLROnPlateau`` is always stepped per
            epoch with ``val_loss`` (``train_loss`` when there is no validation data).
        callbacks: ``Callback`` objects, called in order of their ``order`` attribute.
        monitor / mode: the history column whose best value is tracked (``best_metric``,
            ``best_epoch``, ``improved``), ``"max"`` or ``"min"`` (default ``val_acc``, max).
            Without validation data a ``val_*`` monitor falls back to ``train_*``.
        config: a JSON-like dict stored in checkpoints (the run's configuration).
        output_transform: ``output_transform(output) -> NumPy array``, what the metric's
            ``update`` and ``evaluate(return_outputs=True)`` get of the model's output
            (default: the output tensor's array, e.g. class scores ``(N, C)``). Segmentation
            uses it to pass on the per-pixel argmax instead of the ``(N, C, H, W)`` scores, and
            to take the main output of models that return a dict of heads.
        batch_transform: ``transform(model, x, y) -> x'`` applied to the inputs of every
            training batch before the forward pass (None: the batch as it is), e.g.
            ``ember.interpret.AdversarialTraining`` for adversarial training; the training
            loss and metrics are those of the transformed batch. ``evaluate`` takes one too.

    After ``fit``, ``history`` is a list of dicts, one per epoch: ``epoch`` (1-based),
    ``lr``, ``train_loss``, ``train_<metric>``, ``val_loss``, ``val_<metric>`` (when there
    is validation data; with the default metric: ``train_acc``, ``val_acc``) and ``time``
    (seconds).
    """

    def __init__(self, model, optimizer, loss_fn=None, *, metrics=None, scheduler=None,
                 scheduler_interval="epoch", callbacks=(), monitor="val_acc", mode="max",
                 config=None, output_transform=None, batch_transform=None):
        if scheduler_interval not in ("epoch", "step"):
            raise ValueError(f"Trainer: scheduler_interval must be 'epoch' or 'step', got "
                             f"{scheduler_interval!r}")
        if mode not in ("min", "max"):
            raise ValueError(f"Trainer: mode must be 'min' or 'max', got {mode!r}")
        if isinstance(scheduler, ReduceLROnPlateau) and scheduler_interval == "step":
            raise ValueError("Trainer: ReduceLROnPlateau steps once per epoch on the validation "
                             "loss; use scheduler_interval='epoch'")
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"Trainer: callbacks must be ember.train.callbacks.Callback "
                                f"objects, got {type(cb).__name__}")
        self.model = model
        self.optimizer = optimizer
        self.loss_fn = loss_fn if loss_fn is not None else _cross_entropy
        self.metrics = metrics if metrics is not None else _metrics.Accuracy
        self.scheduler = scheduler
        self.scheduler_interval = scheduler_interval
        self.callbacks = sorted(callbacks, key=lambda cb: cb.order)
        self.monitor = monitor
        self.mode = mode
        self.config = dict(config or {})
        self.output_transform = output_transform if output_transform is not None else _array
        if batch_transform is not None and not callable(batch_transform):
            raise TypeError(f"Trainer: batch_transform must be callable(model, x, y), got "
                            f"{type(batch_transform).__name__}")
        self.batch_transform = batch_transform
        self.epoch = 0                 # completed epochs
        self.epochs = 0                # the target of the current fit
        self.history = []
        self.best_metric = None
        self.best_epoch = None
        self.improved = False
        self.should_stop = False

    # ------------------------------------------------------------------------ phases
    def _run_phase(self, loader, phase, batch_fn):
        """Call ``batch_fn(index, x, y) -> (mean loss, output array)`` on every batch, keep the
        sample-weighted running loss and the phase's streaming metric, and tell the callbacks.
        Returns ``{"loss": ..., <metric>: ...}``."""
        for cb in self.callbacks:
            cb.on_phase_start(self, phase, len(loader))
        meter = self.metrics()
        seen = loss_sum = 0
        for index, (x, y) in enumerate(loader):
            loss, output = batch_fn(index, x, y)
            n = len(y)
            seen += n
            loss_sum += loss * n
            meter.update(output, y)
            logs = {"loss": loss_sum / seen, **meter.compute()}
            for cb in self.callbacks:
                cb.on_batch_end(self, phase, index, logs)
        for cb in self.callbacks:
            cb.on_phase_end(self, phase)
        return {"loss": loss_sum / seen if seen else math.nan, **meter.compute()}

    def train_epoch(self, loader):
        """One pass over ``loader`` with gradient steps; returns ``{"loss", <metric>...}`` (the
        mean over samples of the per-batch mean loss, and the metric over the pass)."""
        self.model.train()

        def step(index, x, y):
            if self.batch_transform is not None:
                x = self.batch_transform(self.model, x, y)
            scores = self.model(x)
            loss = self.loss_fn(scores, y)
            value = float(loss.item())
            if not math.isfinite(value):
                raise TrainingError(f"the training loss became {value} at epoch {self.epoch + 1}, "
                                    f"batch {index + 1}; lower the learning rate")
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            if self.scheduler is not None and self.scheduler_interval == "step":
                self.scheduler.step()
            return value, self.output_transform(scores)

        return self._run_phase(loader, "train", step)

    def evaluate(self, loader, phase="val", return_outputs=False, batch_transform=None):
        """Loss and metric of the model on ``loader`` in eval mode under ``no_grad``:
        ``{"loss", <metric>...}``, plus the model's outputs (through ``output_transform``) as
        ``"scores"`` (N, ...) and the ``"targets"`` (N, ...) as NumPy arrays with
        ``return_outputs``. ``phase`` names the pass for the callbacks (``"val"``,
        ``"test"``). ``batch_transform(model, x, y)`` changes each batch's inputs first (an
        attack, for the robust accuracy; it may enable gradients for itself)."""
        self.model.eval()
        scores, targets = [], []

        def forward(index, x, y):
            if batch_transform is not None:
                x = batch_transform(self.model, x, y)
            out = self.model(x)
            kept = self.output_transform(out)
            if return_outputs:
                scores.append(kept.copy())
                targets.append(y._data.copy())
            return float(self.loss_fn(out, y).item()), kept

        with ember.no_grad():
            logs = self._run_phase(loader, phase, forward)
        if return_outputs:
            logs["scores"] = np.concatenate(scores) if scores else np.zeros((0, 0), np.float32)
            logs["targets"] = np.concatenate(targets) if targets else np.zeros(0, np.int64)
        return logs

    # ----------------------------------------------------------------------- the loop
    def _monitored(self, row):
        key = self.monitor
        if key not in row and key.startswith("val_"):
            key = "train_" + key[len("val_"):]
        if key not in row:
            raise KeyError(f"Trainer: monitor {self.monitor!r} is not a history column; "
                           f"columns: {sorted(row)}")
        return row[key]

    def _better(self, value, best):
        if best is None:
            return True
        return value > best if self.mode == "max" else value < best

    def fit(self, train_loader, val_loader=None, epochs=1):
        """Train until ``epochs`` epochs are complete (counting those of a loaded checkpoint)
        or a callback sets ``should_stop``; returns ``history``."""
        self.epochs = int(epochs)
        self.should_stop = False
        for cb in self.callbacks:
            cb.on_fit_start(self)
        while self.epoch < self.epochs and not self.should_stop:
            for cb in self.callbacks:
                cb.on_epoch_start(self, self.epoch + 1)
            start = time.perf_counter()
            lr = float(self.optimizer.param_groups[0]["lr"])
            train = self.train_epoch(train_loader)
            row = {"epoch": self.epoch + 1, "lr": lr}
            row.update((f"train_{key}", value) for key, value in train.items())
            if val_loader is not None:
                val = self.evaluate(val_loader, "val")
                row.update((f"val_{key}", value) for key, value in val.items())
            if self.scheduler is not None and self.scheduler_interval == "epoch":
                if isinstance(self.scheduler, ReduceLROnPlateau):
                    self.scheduler.step(row.get("val_loss", row["train_loss"]))
                else:
                    self.scheduler.step()
            row["time"] = time.perf_counter() - start
            self.epoch += 1
            self.history.append(row)
            value = self._monitored(row)
            self.improved = self._better(value, self.best_metric)
            if self.improved:
                self.best_metric, self.best_epoch = float(value), self.epoch
            for cb in self.callbacks:
                cb.on_epoch_end(self, row)
        for cb in self.callbacks:
            cb.on_fit_end(self)
        return self.history

    # ------------------------------------------------------------------ checkpoints
    def save_checkpoint(self, path):
        """Write the complete training state to ``path`` (atomically; see
        ``ember.train.checkpoint``)."""
        states = {cb.state_key: cb.state_dict() for cb in self.callbacks}
        _checkpoint.save_checkpoint(
            path, model=self.model, optimizer=self.optimizer, scheduler=self.scheduler,
            callbacks={k: v for k, v in states.items() if v is not None}, epoch=self.epoch,
            best_metric=self.best_metric, best_epoch=self.best_epoch, history=self.history,
            config=self.config)

    def load_checkpoint(self, path):
        """Restore the state ``save_checkpoint`` wrote (model, optimizer, scheduler, callbacks,
        RNG states, epoch, best metric, history); the next ``fit`` continues from there.
        Returns the checkpoint dict. Raises ``CheckpointError`` (one line) if the file is
        unreadable or was made for another architecture."""
        state = _checkpoint.load_checkpoint(path)
        _checkpoint.load_model_state(self.model, state["model"], f"checkpoint {path}")
        try:
            self.optimizer.load_state_dict(state["optimizer"])
            if (state["scheduler"] is None) != (self.scheduler is None):
                raise ValueError("the checkpoint and the trainer disagree on having a scheduler")
            if self.scheduler is not None:
                self.scheduler.load_state_dict(state["scheduler"])
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as e:
            raise _checkpoint.CheckpointError(
                f"checkpoint {path} does not fit this optimizer/scheduler: "
                f"{str(e).splitlines()[0]}") from None
        # the rest is the file's word too: a damaged or crafted value is one line, not a
        # traceback from deep inside a callback or a random generator
        try:
            for cb in self.callbacks:
                if cb.state_key in state["callbacks"]:
                    cb.load_state_dict(state["callbacks"][cb.state_key])
            if type(state["epoch"]) is not int or state["epoch"] < 0:
                raise ValueError(f"epoch {state['epoch']!r} is not a count")
            self.epoch = state["epoch"]
            self.best_metric = state["best_metric"]
            self.best_epoch = state["best_epoch"]
            self.history = [dict(row) for row in state["history"]]
            _checkpoint.set_rng_state(state["rng"])
        except (ValueError, KeyError, TypeError, IndexError, AttributeError,
                OverflowError) as e:
            raise _checkpoint.CheckpointError(
                f"checkpoint {path} holds a training state that cannot be restored: "
                f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:400]) from None
        return state
