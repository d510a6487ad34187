"""Training checkpoints: everything needed to continue a run exactly where it stopped.

A checkpoint is one ``ember.save`` file (a ZIP of JSON + ``.npy``, never pickle; written to a
temporary file and moved into place, so an interrupted save never damages an existing
checkpoint) holding a dict:

==================  ==========================================================================
key                 value
==================  ==========================================================================
``format``          ``"ember.train.checkpoint"`` and ``version`` 1
``model``           ``model.state_dict()``
``optimizer``       ``optimizer.state_dict()``
``scheduler``       ``scheduler.state_dict()`` or None
``callbacks``       ``{callback name: callback.state_dict()}`` (early-stopping counters, ...)
``rng``             ember's default generator, NumPy's global ``np.random`` and Python's
                    ``random`` states
``epoch``           the number of completed epochs
``best_metric``     the best monitored value so far (None before the first epoch)
``best_epoch``      the epoch that reached it (None before the first epoch)
``history``         a list with one dict of metrics per completed epoch
``config``          the run's configuration (model name, data, preprocessing, recipe)
==================  ==========================================================================

Restoring the RNG states together with the model, optimizer and scheduler makes a resumed
run draw the same shuffles, dropout masks and augmentations as an uninterrupted one.
"""
import math
import random

import numpy as np

import ember
from ember import _random

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint", "get_rng_state",
           "set_rng_state", "load_model_state", "run_config"]

FORMAT = "ember.train.checkpoint"
VERSION = 1
_REQUIRED = ("model", "optimizer", "scheduler", "callbacks", "rng", "epoch", "best_metric",
             "best_epoch", "history", "config")


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, corrupt, truncated, not a training checkpoint, or does not
    fit the model it is loaded into. The message is one line naming the file."""


def get_rng_state():
    """The states of ember's default generator, NumPy's global generator and Python's
    ``random``, as a dict ``ember.save`` can store."""
    kind, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    return {"ember": _random.default_generator.get_state(),
            "numpy": {"kind": kind, "keys": keys, "pos": int(pos), "has_gauss": int(has_gauss),
                      "cached_gaussian": float(cached_gaussian)},
            "python": {"version": version, "internal": np.asarray(internal, dtype=np.int64),
                       "gauss_next": gauss_next}}


def set_rng_state(state):
    """Restore what ``get_rng_state`` returned."""
    _random.default_generator.set_state(state["ember"])
    numpy = state["numpy"]
    np.random.set_state((numpy["kind"], np.asarray(numpy["keys"], dtype=np.uint32), numpy["pos"],
                         numpy["has_gauss"], numpy["cached_gaussian"]))
    python = state["python"]
    random.setstate((python["version"], tuple(int(v) for v in python["internal"]),
                     python["gauss_next"]))


def save_checkpoint(path, *, model, optimizer, scheduler=None, callbacks=None, epoch=0,
                    best_metric=None, best_epoch=None, history=(), config=None):
    """Write a training checkpoint to ``path`` atomically (see the module docstring)."""
    ember.save({"format": FORMAT, "version": VERSION,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "callbacks": dict(callbacks or {}),
                "rng": get_rng_state(),
                "epoch": int(epoch),
                "best_metric": None if best_metric is None else float(best_metric),
                "best_epoch": None if best_epoch is None else int(best_epoch),
                "history": [dict(row) for row in history],
                "config": dict(config or {})}, path)


def load_checkpoint(path):
    """Read a checkpoint written by ``save_checkpoint``; raises ``CheckpointError`` (one line)
    if it is missing, unreadable, corrupt or not a training checkpoint."""
    try:
        checkpoint = ember.load(path)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} does not exist") from None
    except IsADirectoryError:
        raise CheckpointError(f"checkpoint {path} is a folder, not a checkpoint file") from None
    except (RuntimeError, OSError, ValueError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(f"cannot read checkpoint {path}: {reason}") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        held = (f"a dict with keys {', '.join(map(repr, list(checkpoint)[:5]))}"
                if isinstance(checkpoint, dict) else f"a {type(checkpoint).__name__}")
        raise CheckpointError(f"{path} is not a training checkpoint of ember train (expected "
                              f"format {FORMAT!r}; it holds {held})"[:400])
    if checkpoint.get("version") != VERSION:
        raise CheckpointError(f"{path} has checkpoint version {checkpoint.get('version')!r}; this "
                              f"Ember reads version {VERSION}")
    missing = [key for key in _REQUIRED if key not in checkpoint]
    if missing:
        raise CheckpointError(f"{path} is an incomplete training checkpoint: missing "
                              f"{', '.join(missing)}")
    return checkpoint


def run_config(checkpoint, path):
    """``(Recipe, preprocessing, classes)`` of a checkpoint written by ``ember train``, every
    field type-checked (a crafted or damaged file is one ``CheckpointError`` line)."""
    from dataclasses import fields

    from ember.train.recipes import Recipe

    def fail(what):
        raise CheckpointError(f"{path} has {what} in its config; it was not written by "
                              f"ember train or is damaged"[:400])
    config = checkpoint.get("config")
    if not isinstance(config, dict):
        fail("no config dict")
    for key in ("recipe", "preprocessing", "classes"):
        if key not in config:
            fail(f"no {key!r}")
    recipe, pre, classes = config["recipe"], config["preprocessing"], config["classes"]
    if not isinstance(recipe, dict):
        fail("a recipe that is not a dict")
    for field in fields(Recipe):
        value = recipe.get(field.name, getattr(Recipe, field.name))
        expected = {str: (str,), int: (int,), float: (int, float)}[field.type]
        if field.name in ("data_root", "model", "lr") and value is None:
            continue                    # optional: no folder; chosen by the task; the default
        if isinstance(value, bool) or not isinstance(value, expected) or (
                isinstance(value, float) and not math.isfinite(value)):
            fail(f"a recipe {field.name} of {value!r}"[:120])
    if not isinstance(pre, dict) or pre.get("channels") not in (1, 3) \
            or isinstance(pre.get("channels"), bool):
        fail("a preprocessing without channels 1 or 3")
    size = pre.get("size")
    if not (isinstance(size, (list, tuple)) and len(size) == 2 and all(
            type(v) is int and 0 < v <= 8192 for v in size)):
        fail(f"a preprocessing size of {size!r}"[:120])
    for key in ("mean", "std"):
        values = pre.get(key)
        if not (isinstance(values, (list, tuple)) and len(values) == pre["channels"] and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                for v in values)) or (key == "std" and min(values) <= 0):
            fail(f"a preprocessing {key} of {values!r}"[:120])
    background = pre.get("background")
    if background is not None and (isinstance(background, bool) or not isinstance(
            background, (int, float)) or not 0.0 <= background <= 1.0):
        fail(f"a preprocessing background of {background!r}"[:120])
    if not (isinstance(classes, list) and classes and all(isinstance(c, str) for c in classes)):
        fail("class names that are not a non-empty list of strings")
    if type(checkpoint.get("epoch")) is not int:
        fail("an epoch that is not an int")
    return Recipe.from_dict(recipe), pre, classes


def load_model_state(model, state_dict, source="checkpoint"):
    """``model.load_state_dict(state_dict)`` with a one-line ``CheckpointError`` when the
    checkpoint was made for a different architecture (missing/unexpected keys, shapes)."""
    if not isinstance(state_dict, dict) or not all(
            isinstance(k, str) and isinstance(v, ember.Tensor) for k, v in state_dict.items()):
        raise CheckpointError(f"{source} holds no state dict (a dict of names to tensors) for "
                              f"{type(model).__name__}")
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    mismatched = [f"{k} {tuple(state_dict[k].shape)} vs {tuple(own[k].shape)}" for k in own
                  if k in state_dict and tuple(state_dict[k].shape) != tuple(own[k].shape)]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing key(s) (e.g. {missing[0]})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s) (e.g. {unexpected[0]})")
    if mismatched:
        problems.append(f"{len(mismatched)} shape mismatch(es) (e.g. {mismatched[0]}, "
                        f"checkpoint vs model)")
    if problems:
        raise CheckpointError(f"{source} does not fit {type(model).__name__}: "
                              f"{'; '.join(problems)} -- it was made for a different architecture")
    model.load_state_dict(state_dict)
