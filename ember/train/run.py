"""A whole training run as one Python call: what ``ember train`` does, without the command line.

::

    from ember.train import Recipe, run, fit
    result = run(Recipe(model="lenet5", dataset="mnist-sample", epochs=15), "runs/lenet")
    print(result.summary)                 # test accuracy: 97.40% (487/500 held-out images; ...)
    result = fit(dataset="digits", epochs=20, out="runs/digits")    # the same, by keywords
    run(None, resume="runs/lenet", overrides={"epochs": 20})        # continue it to epoch 20

A run: claim the run folder, seed every generator, let the task (``ember.train.tasks``) load
the data and build the model, write ``config.json``, train with ``Trainer`` (progress, metric
files, checkpoints after every epoch), then evaluate the best checkpoint on the held-out test
split and let the task write ``test_metrics.json`` and the pictures. With adversarial
training (the recipe's ``adversarial``), a share of every training batch is replaced by
adversarial examples of the current model (``Trainer``'s ``batch_transform``) and the test
split is evaluated a second time under the same attack: the report holds the clean and the
robust accuracy.

The run folder is claimed atomically for the whole run (an ``fcntl`` lock on its
``.ember-run.lock`` file, released by the operating system even if the process dies): a
second run into the same folder fails at once. A new run takes a folder that does not exist, is
empty, or holds only the leftovers of a run that never completed an epoch (``config.json``,
partial metric files: no checkpoint); anything else is refused, so nothing a finished run
wrote is ever overwritten. ``resume`` continues a folder from ``checkpoints/last.ember`` (bit
for bit like the uninterrupted run), or starts it again from epoch 1 with its ``config.json``
when no epoch was completed.
"""
import json
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np

import ember
from ember.train import callbacks as _callbacks
from ember.train import checkpoint as _checkpoint
from ember.train.recipes import (MAIN_JOB, Recipe, RecipeError, build_attack, build_optimizer,
                                 build_scheduler)
from ember.train.tasks import get_task
from ember.train.trainer import Trainer, TrainingError

__all__ = ["run", "fit", "RunResult", "RunError", "RunInterrupted", "RunFolder",
           "resumed_recipe"]

LOCK_NAME = ".ember-run.lock"
# what a run writes before its first checkpoint: a folder holding only these is reusable
_LEFTOVERS = frozenset({LOCK_NAME, "config.json", "metrics.csv", "metrics.json", "profile.txt",
                        "checkpoints"})


class RunError(RuntimeError):
    """The run folder or the resume request cannot be used; one line."""


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run. ``str(error)`` says how far the run got and how to continue it;
    ``out`` is the run folder and ``last_checkpoint`` the file to resume from (None if no
    epoch was completed)."""

    def __init__(self, message, out, last_checkpoint):
        super().__init__(message)
        self.out = out
        self.last_checkpoint = last_checkpoint


@dataclass
class RunResult:
    """What a finished run produced.

    ``out``: the run folder; ``recipe`` and ``config``: as stored in ``config.json``;
    ``history``: one dict per epoch (the ``metrics.json`` rows); ``best_epoch``: the epoch of
    ``checkpoints/best.ember``, the model evaluated on the test split; ``test_metrics``: the
    task's report (``test_metrics.json``); ``summary``: the one line ``ember train`` prints;
    ``checkpoints``: ``{"best": path, "last": path}``; ``stopped_early``: early stopping ended
    the run before ``recipe.epochs``; ``notes``: what the run adapted or decided on its own
    (a reused folder, a restart from epoch 1)."""
    out: str
    recipe: Recipe
    config: dict
    history: list
    best_epoch: int
    test_metrics: dict
    summary: str
    checkpoints: dict
    stopped_early: bool = False
    notes: list = field(default_factory=list)


# --------------------------------------------------------------------------- the folder
class RunFolder:
    """An exclusive claim on a run folder for the duration of a run (see the module
    docstring). ``RunFolder.claim(path, new=True)`` refuses a folder that holds another run;
    ``new=False`` (resume) takes the folder as it is. ``release()`` ends the claim."""

    def __init__(self, path, fd, reused, created):
        self.path = path
        self._fd = fd
        self.reused = reused
        self.created = created

    @classmethod
    def claim(cls, path, new=True):
        import fcntl
        if os.path.exists(path) and not os.path.isdir(path):
            raise RunError(f"run folder {path} exists and is not a folder")
        if new and os.path.isdir(path):
            cls._check_free(path)        # refuse without touching the folder
        created = not os.path.exists(path)
        try:
            os.makedirs(path, exist_ok=True)
            fd = os.open(os.path.join(path, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise RunError(f"cannot create run folder {path}: {e.strerror or e}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            owner = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise RunError(f"run folder {path} is in use by another ember train (process "
                           f"{owner}); wait for it to finish or choose another --out") from None
        claim = cls(path, fd, reused=False, created=created)
        try:
            if new:
                claim.reused = cls._check_free(path)     # again, now that the folder is ours
                claim._clear_leftovers()
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        except BaseException:
            claim.release()
            raise
        return claim

    @staticmethod
    def _check_free(path):
        """Raise ``RunError`` unless the folder is empty or holds only the leftovers of a run
        that never completed an epoch; return whether there are leftovers."""
        entries = set(os.listdir(path)) - {LOCK_NAME}
        if not entries:
            return False
        checkpoints = os.path.join(path, "checkpoints")
        has_config = os.path.isfile(os.path.join(path, "config.json"))
        saved = os.path.isdir(checkpoints) and os.listdir(checkpoints)
        if saved or not entries <= _LEFTOVERS or not has_config:
            hint = f", or continue it with --resume {path}" if has_config else ""
            raise RunError(f"run folder {path} already exists and is not empty; choose "
                           f"another --out{hint}")
        return True

    def _clear_leftovers(self):
        for name in set(os.listdir(self.path)) - {LOCK_NAME}:
            target = os.path.join(self.path, name)
            if os.path.isdir(target):
                os.rmdir(target)
            else:
                os.remove(target)

    def release(self, unused=False):
        """End the claim. ``unused=True`` (the run failed before writing anything) also
        removes the folder if this claim created it, so a failed start leaves no trace."""
        if self._fd is None:
            return
        if unused and self.created and os.listdir(self.path) == [LOCK_NAME]:
            os.remove(os.path.join(self.path, LOCK_NAME))
            os.close(self._fd)
            os.rmdir(self.path)
        else:
            os.close(self._fd)          # closing the descriptor releases the flock
        self._fd = None


# ---------------------------------------------------------------------------- resuming
def resumed_recipe(saved, overrides):
    """The recipe of a resumed run: the ``saved`` recipe dict with the ``overrides`` a resume
    may change (``epochs``: more epochs unless the schedule was laid out for the old count;
    ``data_root``); ``model``, ``dataset`` and ``task`` must match the saved ones."""
    recipe = Recipe.from_dict(saved)
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    for option in ("task", "model", "dataset"):
        value = overrides.pop(option, None)
        if value is not None and value != getattr(recipe, option):
            raise RunError(f"--{option} {value} differs from the checkpoint's "
                           f"{getattr(recipe, option)}; a resumed run keeps its configuration")
    epochs = overrides.pop("epochs", None)
    if epochs is not None and epochs != recipe.epochs:
        if recipe.schedule in ("onecycle", "cosine"):
            raise RunError(f"the {recipe.schedule} schedule was laid out for {recipe.epochs} "
                           f"epochs; it cannot be changed when resuming")
        recipe.epochs = epochs
    if "data_root" in overrides:
        recipe.data_root = overrides.pop("data_root")
    if overrides:
        raise RunError(f"a resumed run keeps its configuration; cannot change "
                       f"{', '.join(sorted(overrides))}")
    return recipe


def _resume_source(resume):
    """``(checkpoint path or None, run folder, saved recipe dict)`` for ``resume`` (a
    checkpoint file or a run folder)."""
    if os.path.isdir(resume):
        last = os.path.join(resume, "checkpoints", "last.ember")
        if os.path.isfile(last):
            state = _checkpoint.load_checkpoint(last)
            _checkpoint.run_config(state, last)
            return last, state, os.path.abspath(resume)
        config_path = os.path.join(resume, "config.json")
        if not os.path.isfile(config_path):
            raise RunError(f"{resume} is a folder without checkpoints/last.ember or config.json; "
                           f"it holds no ember train run")
        try:
            with open(config_path, encoding="utf-8") as f:
                config = json.load(f)
            if not isinstance(config, dict) or not isinstance(config.get("recipe"), dict):
                raise ValueError("no recipe")
            Recipe.from_dict(config["recipe"])
        except (OSError, ValueError, TypeError) as e:
            raise RunError(f"cannot resume {resume}: its config.json is unreadable ({e})") from None
        return None, {"config": config}, os.path.abspath(resume)
    state = _checkpoint.load_checkpoint(resume)
    _checkpoint.run_config(state, resume)
    return resume, state, os.path.dirname(os.path.dirname(os.path.abspath(resume)))


# ------------------------------------------------------------------------------ the run
def run(recipe=None, out=None, *, resume=None, overrides=None, progress=True, stream=None,
        profile=False, callbacks=()):
    """Train as ``ember train`` does and return a :class:`RunResult`.

    Args:
        recipe: an ``ember.train.Recipe`` (validated here; ``model=None`` lets the task
            choose), or None with ``resume`` (the run's own recipe) or for the main job.
        out: the run folder (default ``runs/<model>-<dataset>-<timestamp>``; with
            ``resume``, the resumed run's folder).
        resume: a run folder or checkpoint file to continue (see the module docstring).
        overrides: with ``resume``, the recipe fields to change (``epochs``, ``data_root``).
        progress: print the start line and one line (or a bar) per epoch to ``stream``
            (default ``sys.stdout``).
        profile: time every op (``ember.profiler``) and write the per-op table of the whole
            training to ``out/profile.txt``.
        callbacks: more ``ember.train.callbacks.Callback`` objects for the ``Trainer``.

    Raises one-line errors a user can act on: ``RunError`` (folder, resume),
    ``RecipeError``, ``DataError``, ``ModelError``, ``CheckpointError``, ``TrainingError``
    (a non-finite loss), and ``RunInterrupted`` on Ctrl-C.
    """
    stream = sys.stdout if stream is None else stream
    notes = []
    resume_path = state = None
    if resume is not None:
        if recipe is not None:
            raise RunError("run: give either a recipe or resume=, not both (a resumed run keeps "
                           "its recipe; change epochs or data_root through overrides=)")
        resume_path, state, own = _resume_source(resume)
        recipe = resumed_recipe(state["config"]["recipe"], overrides)
        if resume_path is None:
            notes.append(f"no epoch of the run in {resume} was completed: it starts again from "
                         f"epoch 1")
            state = None
        out = own if out is None else out
        new_folder = os.path.abspath(out) != own
    else:
        if overrides:
            raise RunError("run: overrides= applies to resumed runs; put the values in the recipe")
        recipe = Recipe(**MAIN_JOB.to_dict()) if recipe is None else Recipe(**recipe.to_dict())
        new_folder = True
    recipe.validate()
    if out is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = os.path.join("runs", f"{recipe.model or 'model'}-{recipe.dataset}-{stamp}")
    folder = RunFolder.claim(out, new=new_folder or resume_path is None)
    if folder.reused and resume is None:
        notes.append(f"reusing run folder {out}: its earlier run never completed an epoch")
    try:
        return _run_claimed(recipe, out, state, resume_path, notes, progress, stream, profile,
                            callbacks)
    finally:
        folder.release(unused=True)


def _run_claimed(recipe, out, state, resume_path, notes, progress, stream, profile, callbacks):
    ember.manual_seed(recipe.seed)
    np.random.seed(recipe.seed)
    task = get_task(recipe.task)
    preprocessing = state["config"]["preprocessing"] if state is not None else None
    data = task.load_data(recipe, preprocessing=preprocessing)
    if recipe.model is None:
        recipe.model = task.default_model(data)
    model, data = task.build_model(recipe, data)
    config = {"recipe": recipe.to_dict(), **task.config(data)}
    train_loader, val_loader, test_loader = task.loaders(recipe, data)
    optimizer = build_optimizer(recipe, model.parameters())
    scheduler, interval = build_scheduler(recipe, optimizer, len(train_loader))
    checkpointer = _callbacks.ModelCheckpoint(os.path.join(out, "checkpoints"))
    every = ([_callbacks.ProgressBar(stream=stream)] if progress else []) + [
        _callbacks.MetricLogger(out), checkpointer, *callbacks]
    if recipe.patience:
        if val_loader is None:
            raise RecipeError("early stopping (patience) needs validation data (a positive "
                              "validation split)")
        watched, direction = task.early_stopping
        every.append(_callbacks.EarlyStopping(watched, mode=direction, patience=recipe.patience))
    monitor, mode = task.monitor
    attack = build_attack(recipe, task.loss_fn, data["preprocessing"])
    trainer = Trainer(model, optimizer, task.loss_fn, metrics=task.metrics, scheduler=scheduler,
                      scheduler_interval=interval, callbacks=every, monitor=monitor, mode=mode,
                      config=config, step_fn=getattr(task, "step_fn", None),
                      batch_transform=attack)
    if state is not None:
        trainer.load_checkpoint(resume_path)
    _callbacks.write_text_atomic(os.path.join(out, "config.json"),
                                 json.dumps(config, indent=1) + "\n")
    if progress:
        for note in notes:
            print(f"note: {note}", file=stream)
        adversarial = (f" with {attack.describe()} examples replacing {attack.fraction:.0%} of "
                       f"each batch" if attack else "")
        print(f"training {recipe.model} on {recipe.dataset} ({task.describe(data)}){adversarial} "
              f"for {recipe.epochs} epochs -> {out}", file=stream, flush=True)
    try:
        _fit(trainer, train_loader, val_loader, recipe.epochs, profile, out)
    except KeyboardInterrupt:
        raise _interrupted(out, trainer, checkpointer) from None
    except TrainingError as e:
        raise TrainingError(f"{e}; {_stopped_hint(out, trainer, checkpointer)}") from None

    best = _checkpoint.load_checkpoint(checkpointer.best_path)
    _checkpoint.load_model_state(model, best["model"], checkpointer.best_path)
    test = trainer.evaluate(test_loader, "test", return_outputs=True)
    robust = {}                 # tasks without adversarial training need not take robust=
    if attack is not None:
        whole = build_attack(recipe, task.loss_fn, data["preprocessing"], evaluation=True)
        robust["robust"] = trainer.evaluate(test_loader, "test", batch_transform=whole)
        robust["robust"]["attack"] = whole.describe()
    report, summary = task.report(out, trainer, model, data, test, best["epoch"], **robust)
    return RunResult(out=out, recipe=recipe, config=config, history=list(trainer.history),
                     best_epoch=best["epoch"], test_metrics=report, summary=summary,
                     checkpoints={"best": checkpointer.best_path, "last": checkpointer.last_path},
                     stopped_early=trainer.should_stop, notes=notes)


def _interrupted(out, trainer, checkpointer):
    if os.path.exists(checkpointer.last_path):
        return RunInterrupted(f"interrupted after epoch {trainer.epoch}; continue with: "
                              f"ember train --resume {checkpointer.last_path}", out,
                              checkpointer.last_path)
    return RunInterrupted(f"interrupted during epoch {trainer.epoch + 1}, before any checkpoint; "
                          f"start it again with: ember train --resume {out}", out, None)


def _stopped_hint(out, trainer, checkpointer):
    if os.path.exists(checkpointer.last_path):
        return (f"the run folder {out} keeps the state after epoch {trainer.epoch} "
                f"(checkpoints/last.ember)")
    return (f"no epoch was completed, so the run folder {out} holds no checkpoint: start "
            f"again there with other settings (ember train --out {out} --lr ...)")


def _fit(trainer, train_loader, val_loader, epochs, profile, out):
    """``trainer.fit``; with ``profile``, under ``ember.profiler`` and ``cProfile``, writing
    to ``out/profile.txt`` (also when interrupted) the per-op table of the whole training
    (forward and backward time of every op) and the 30 Python functions with the most
    cumulative time (the cost around the ops: data loading, optimizer, callbacks)."""
    if not profile:
        trainer.fit(train_loader, val_loader, epochs)
        return
    import cProfile
    import io
    import pstats

    import ember.profiler
    ops = ember.profiler.profile()
    python = cProfile.Profile()
    try:
        with ops:
            python.runcall(trainer.fit, train_loader, val_loader, epochs)
    finally:
        functions = io.StringIO()
        pstats.Stats(python, stream=functions).sort_stats("cumulative").print_stats(30)
        _callbacks.write_text_atomic(
            os.path.join(out, "profile.txt"),
            f"Per-op time of the training (ember.profiler)\n\n"
            f"{ops.table(sort_by='total', row_limit=40)}\n\n"
            f"Python functions by cumulative time (cProfile)\n{functions.getvalue()}")


def fit(*, out=None, progress=True, stream=None, profile=False, callbacks=(), **recipe):
    """``run(Recipe(**recipe), out, ...)``: a training run from keyword arguments, e.g.
    ``fit(model="resnet20", dataset="cifar10", data_root="~/data", epochs=30)``; fields not
    given take the task's defaults (``task.recipe_defaults(model)``, e.g. segmentation's
    dataset, epochs and optimizer), then the main job's. Unknown keywords are an error naming the fields a
    recipe has."""
    from dataclasses import fields
    names = {f.name for f in fields(Recipe)}
    unknown = sorted(set(recipe) - names)
    if unknown:
        raise RecipeError(f"fit: unknown recipe field(s) {', '.join(unknown)}; a recipe has "
                          f"{', '.join(sorted(names))}")
    task = get_task(recipe.get("task", MAIN_JOB.task))
    base = {**MAIN_JOB.to_dict(), "model": None, "lr": None,
            **task.recipe_defaults(recipe.get("model"))}
    return run(Recipe(**{**base, **recipe}), out, progress=progress, stream=stream,
               profile=profile, callbacks=callbacks)
