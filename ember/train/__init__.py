"""``ember.train``: the training loop, its callbacks, metrics, checkpoints, plots, recipes and
tasks (what ``ember train`` / ``eval`` / ``predict`` run).

    result = ember.train.run(ember.train.Recipe(epochs=5), "runs/lenet")   # a whole run
    print(result.summary, result.test_metrics["accuracy"])

    from ember.train import Trainer, callbacks
    trainer = Trainer(model, optimizer, scheduler=sched, scheduler_interval="step",
                      callbacks=[callbacks.ProgressBar(), callbacks.ModelCheckpoint("ckpt")])
    trainer.fit(train_loader, val_loader, epochs=15)
    print(trainer.evaluate(test_loader, "test"))
"""
from ember.train import callbacks, checkpoint, metrics, recipes
from ember.train.callbacks import (Callback, EarlyStopping, MetricLogger, ModelCheckpoint,
                                   ProgressBar)
from ember.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from ember.train.recipes import MAIN_JOB, Recipe
from ember.train.run import RunResult, fit, run
from ember.train.trainer import Trainer, TrainingError

__all__ = ["Trainer", "TrainingError", "Callback", "ProgressBar", "MetricLogger",
           "EarlyStopping", "ModelCheckpoint", "CheckpointError", "save_checkpoint",
           "load_checkpoint", "Recipe", "MAIN_JOB", "callbacks", "checkpoint", "metrics",
           "recipes", "run", "fit", "RunResult"]
