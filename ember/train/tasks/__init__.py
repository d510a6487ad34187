"""Tasks: what differs between classification, segmentation, detection, ... — and nothing else.

One training loop serves every task (``ember.train.Trainer``, driven by ``ember.train.run``).
A task is a small object that supplies the rest, and ``ember train --task NAME`` selects it:

==========================  ==============================================================
``load_data(recipe, pre)``  the splits, class names and input preprocessing (``pre``: the
                            preprocessing of a checkpoint, reused as it is; None: fit it on
                            the training split)
``build_model(recipe, d)``  the model for the data ``d`` (and ``d`` itself, which may be
                            reloaded, e.g. grey images for a 3-channel model)
``default_model(d)``        the model name used when the recipe names none
``loss_fn``, ``metrics``    ``Trainer``'s loss and streaming-metric factory
``monitor``                 ``(history column, "max" | "min")`` choosing the best checkpoint
``loaders(recipe, d)``      ``(train, val or None, test)`` data loaders
``report(run, test, rob.)``  the test metrics (``test_metrics.json``; ``robust``: the accuracy
                            under attack after adversarial training, for the tasks that offer
                            it) and the pictures of the run folder; returns ``(metrics dict,
                            summary line(s))``
``evaluate(...)``           what ``ember eval`` prints
``print_predictions(...)``  what ``ember predict`` does with image files (prints, draws)
``datasets``                the ``--dataset`` names the task reads; ``default_dataset``
``recipe_defaults(model)``  the recipe fields the task sets when the user does not (a
                            detector trains with other settings than the main job)
``step_fn`` (optional)      ``step_fn(model, x, y) -> (loss, output)`` for models that do
                            not map ``x`` to an output scored by ``loss_fn`` (``Trainer``)
``early_stopping``          ``(history column, mode)`` watched by ``--patience``
==========================  ==============================================================

Each task lives in its own module beside this one and is registered in ``TASKS``.
"""
import importlib

__all__ = ["TASKS", "get_task", "TaskError"]

# task name -> "module:class"; a module is imported only when its task is used
TASKS = {"classification": "ember.train.tasks.classification:ClassificationTask",
         "detection": "ember.train.tasks.detection:DetectionTask"}


class TaskError(RuntimeError):
    """An unknown task name; one line."""


def get_task(name):
    """A new instance of the task ``name`` (see ``TASKS``)."""
    if name not in TASKS:
        raise TaskError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    module, cls = TASKS[name].split(":")
    return getattr(importlib.import_module(module), cls)()
