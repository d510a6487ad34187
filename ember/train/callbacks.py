"""Callbacks of ``ember.train.Trainer``: progress bar, metric files, early stopping and
checkpoints.

A callback overrides any of the hooks below; the trainer calls them in increasing ``order``
(``ModelCheckpoint`` runs last, so the state it saves includes every other callback's update
for the epoch). A callback with state (early-stopping counters) returns it from
``state_dict`` and gets it back in ``load_state_dict`` when a checkpoint is resumed.
"""
import csv
import io
import json
import math
import os
import sys

__all__ = ["Callback", "ProgressBar", "MetricLogger", "EarlyStopping", "ModelCheckpoint",
           "write_text_atomic"]


def write_text_atomic(path, text):
    """Write ``text`` to ``path`` through a temporary file in the same folder and
    ``os.replace``, so a reader never sees a half-written file."""
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


class Callback:
    """Base class: every hook does nothing."""
    order = 0

    @property
    def state_key(self):
        return type(self).__name__

    def on_fit_start(self, trainer):
        pass

    def on_epoch_start(self, trainer, epoch):
        pass

    def on_phase_start(self, trainer, phase, num_batches):
        pass

    def on_batch_end(self, trainer, phase, batch_index, logs):
        """``logs``: the running ``loss`` and metrics (``acc``, ...) of the phase so far."""

    def on_phase_end(self, trainer, phase):
        pass

    def on_epoch_end(self, trainer, row):
        """``row``: the epoch's history dict (already appended to ``trainer.history``)."""

    def on_fit_end(self, trainer):
        pass

    def state_dict(self):
        return None

    def load_state_dict(self, state):
        pass


def _format_metric(name, value):
    """``acc 97.40%`` for accuracies, ``miou 0.8123`` for other metrics."""
    if name == "acc" or name.endswith("_acc"):
        return f"{name} {100 * value:.2f}%"
    return f"{name} {value:.4f}"


def _format_phase(row, phase):
    """``train loss 0.1234 acc 97.40%`` from a history row's ``<phase>_*`` columns."""
    prefix = f"{phase}_"
    parts = [phase] + ([f"loss {row[prefix + 'loss']:.4f}"] if prefix + "loss" in row else [])
    parts += [_format_metric(key[len(prefix):], value) for key, value in row.items()
              if key.startswith(prefix) and key != prefix + "loss"]
    return " ".join(parts)


def _format_row(row, epochs):
    parts = [f"epoch {row['epoch']}/{epochs}", _format_phase(row, "train")]
    if any(key.startswith("val_") for key in row):
        parts.append(_format_phase(row, "val"))
    parts.append(f"lr {row['lr']:.3g}")
    parts.append(f"{row['time']:.1f}s")
    return "  ".join(parts)


class ProgressBar(Callback):
    """A tqdm bar per epoch phase with the live loss and accuracy when ``stream`` is a
    terminal; otherwise (logs, pipes, CI) one concise line per epoch.

    Args:
        stream: where to write (default ``sys.stdout``).
        bar: True / False to force the bar on or off; None (default) asks ``stream.isatty()``.
        mininterval: minimum seconds between two redraws of the bar (tqdm's, default 0.1).
    """
    order = 50

    def __init__(self, stream=None, bar=None, mininterval=0.1):
        self.stream = stream
        self.bar = bar
        self.mininterval = mininterval
        self._tqdm = None

    def _out(self):
        return self.stream if self.stream is not None else sys.stdout

    def _use_bar(self):
        if self.bar is not None:
            return self.bar
        isatty = getattr(self._out(), "isatty", None)
        return bool(isatty and isatty())

    def on_phase_start(self, trainer, phase, num_batches):
        if self._use_bar() and phase == "train":
            from tqdm import tqdm
            self._tqdm = tqdm(total=num_batches, file=self._out(), leave=False, dynamic_ncols=True,
                              mininterval=self.mininterval,
                              desc=f"epoch {trainer.epoch + 1}/{trainer.epochs}")

    def on_batch_end(self, trainer, phase, batch_index, logs):
        if self._tqdm is not None and phase == "train":
            self._tqdm.set_postfix({k: _format_metric(k, v).split(" ", 1)[1] if k != "loss"
                                    else f"{v:.4f}" for k, v in logs.items()}, refresh=False)
            self._tqdm.update(1)

    def on_phase_end(self, trainer, phase):
        if self._tqdm is not None and phase == "train":
            self._tqdm.close()
            self._tqdm = None

    def on_epoch_end(self, trainer, row):
        print(_format_row(row, trainer.epochs), file=self._out(), flush=True)


class MetricLogger(Callback):
    """After every epoch, rewrite ``metrics.csv`` (one row per epoch) and ``metrics.json``
    (the list of epoch dicts, non-finite numbers as null) in ``folder`` from the trainer's
    whole history, atomically, so a resumed run's files continue the interrupted ones."""

    def __init__(self, folder, csv_name="metrics.csv", json_name="metrics.json"):
        self.folder = folder
        self.csv_path = os.path.join(folder, csv_name)
        self.json_path = os.path.join(folder, json_name)

    def on_epoch_end(self, trainer, row):
        history = trainer.history
        columns = []
        for r in history:
            columns += [k for k in r if k not in columns]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(history)
        write_text_atomic(self.csv_path, buffer.getvalue())
        clean = [{k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                  for k, v in r.items()} for r in history]
        write_text_atomic(self.json_path, json.dumps(clean, indent=1) + "\n")


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience``
    epochs (Keras/Lightning semantics; the lectures do not cover early stopping, inventory
    A27).
    ``mode``: ``"min"`` (losses) or ``"max"``."""
    order = 10

    def __init__(self, monitor="val_loss", mode="min", patience=5, min_delta=0.0):
        if mode not in ("min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'min' or 'max', got {mode!r}")
        if patience < 1:
            raise ValueError(f"EarlyStopping: patience must be at least 1, got {patience}")
        self.monitor = monitor
        self.mode = mode
        self.patience = int(patience)
        self.min_delta = float(min_delta)
        self.best = None
        self.wait = 0
        self.stopped_epoch = None

    def on_epoch_end(self, trainer, row):
        if self.monitor not in row:
            raise KeyError(f"EarlyStopping: monitor {self.monitor!r} is not a history column; "
                           f"columns: {sorted(row)}")
        value = row[self.monitor]
        if self.best is None or (value < self.best - self.min_delta if self.mode == "min"
                                 else value > self.best + self.min_delta):
            self.best = float(value)
            self.wait = 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = row["epoch"]
            trainer.should_stop = True

    def state_dict(self):
        return {"best": self.best, "wait": self.wait, "stopped_epoch": self.stopped_epoch}

    def load_state_dict(self, state):
        self.best, self.wait = state["best"], state["wait"]
        self.stopped_epoch = state["stopped_epoch"]


class ModelCheckpoint(Callback):
    """Save the full training state (``Trainer.save_checkpoint``) to ``folder/last.ember``
    after every epoch and to ``folder/best.ember`` when the trainer's monitored metric
    improved. Both writes are atomic: an interrupted save leaves the previous file intact."""
    order = 100

    def __init__(self, folder):
        self.folder = folder
        self.last_path = os.path.join(folder, "last.ember")
        self.best_path = os.path.join(folder, "best.ember")

    def on_fit_start(self, trainer):
        os.makedirs(self.folder, exist_ok=True)

    def on_epoch_end(self, trainer, row):
        trainer.save_checkpoint(self.last_path)
        if trainer.improved:
            trainer.save_checkpoint(self.best_path)
