"""Tasks: what differs between classification, segmentation, detection, ... — and nothing else.

One training loop serves every task (``ember.train.Trainer``, driven by ``ember.train.run``).
A task is a small object that supplies the rest, and ``ember train --task NAME`` selects it:

============================  ============================================================
``load_data(recipe, pre)``    the splits, class names and input preprocessing (``pre``: the
                              preprocessing of a checkpoint, reused as it is; None: fit it
                              on the training split)
``build_model(recipe, d)``    the model for the data ``d`` (and ``d`` itself, which may be
                              reloaded, e.g. grey images for a 3-channel model)
``default_model(d)``          the model name used when the recipe names none
``model_names()``,            (optional) the names ``--model`` accepts; ``ember summary``'s
``build_named_model(...)``    full-size model of a name and the input channels it expects
``loss_fn``, ``metrics``      ``Trainer``'s loss and streaming-metric factory (a task may set
                              ``metrics`` in ``load_data``, once it knows the classes)
``step_fn`` (optional)        ``step_fn(model, x, y) -> (loss, output)``, the ``Trainer``'s
                              step, for models that do not map ``x`` to an output scored by
                              ``loss_fn`` (a detector) or whose metrics see less than the
                              output (segmentation: the per-pixel argmax of the main head)
``monitor``                   ``(history column, "max" | "min")`` choosing the best
                              checkpoint
``early_stopping``            ``(history column, mode)`` watched by ``--patience``
``loaders(recipe, d)``        ``(train, val or None, test)`` data loaders
``report(run, test, rob.)``   the test metrics (``test_metrics.json``; ``robust``, for
                              classification: the accuracy under attack after adversarial
                              training) and the pictures of the run folder; returns
                              ``(metrics dict, summary line(s))``
``evaluate(...)``             what ``ember eval`` prints
``print_predictions(...)``    what ``ember predict`` does with image files (prints, writes
                              masks, draws detections); ``predict_options`` names the
                              task's own options (``topk``; ``out``; ``score_thresh``)
``datasets``                  the ``--dataset`` names the task reads; ``default_dataset``
``recipe_defaults(model)``    the recipe fields the task sets when the user does not
                              (segmentation and detection train with other settings than
                              the main job), used by ``ember train`` and ``ember.train.fit``
``load_images(...)``          image files as the model's inputs, for ``ember explain`` and
                              ``ember visualize`` (classification only)
============================  ============================================================

Each task lives in its own module beside this one and is registered in ``TASKS``;
``task_of_model(name)`` finds the task whose ``model_names()`` has a model.
"""
import importlib

__all__ = ["TASKS", "get_task", "task_of_model", "TaskError"]

# task name -> "module:class"; a module is imported only when its task is used
TASKS = {"classification": "ember.train.tasks.classification:ClassificationTask",
         "segmentation": "ember.train.tasks.segmentation:SegmentationTask",
         "detection": "ember.train.tasks.detection:DetectionTask"}


class TaskError(RuntimeError):
    """An unknown task name; one line."""


def get_task(name):
    """A new instance of the task ``name`` (see ``TASKS``)."""
    if name not in TASKS:
        raise TaskError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    module, cls = TASKS[name].split(":")
    return getattr(importlib.import_module(module), cls)()


def task_of_model(name):
    """The name of the first task in ``TASKS`` whose ``model_names()`` include ``name``
    (classification for an unknown name, whose builder then reports it)."""
    for task in TASKS:
        names = getattr(get_task(task), "model_names", None)
        if names is not None and name in names():
            return task
    return next(iter(TASKS))
