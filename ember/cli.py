"""The ``ember`` command: ``train``, ``eval``, ``predict``, ``datasets``, ``summary``, ``export``.

    ember train                       # LeNet-5 on the bundled MNIST digits (the main job)
    ember train --model resnet20 --dataset cifar10 --data-root ~/data --epochs 30
    ember eval runs/<run>/checkpoints/best.ember
    ember predict runs/<run>/checkpoints/best.ember digit.png --topk 3
    ember datasets
    ember summary lenet5 --input-size 1 1 28 28
    ember export runs/<run>/checkpoints/best.ember --format onnx

Heavy modules (models, plots, tqdm) are imported only by the subcommand that needs them, so
``ember --help`` is fast. Bad input (a missing data path, an image size the model cannot
take, a corrupt checkpoint or one made for another architecture, an existing run folder)
ends with a one-line ``ember <command>: error: ...`` on stderr and exit code 1 (2 for
command-line usage errors), never a traceback, and never overwrites a run folder or a
checkpoint.
"""
import argparse
import json
import os
import sys
import time

__all__ = ["main", "build_parser"]


class CliError(RuntimeError):
    """A user-facing error: printed as one line, exit code 1."""


def _user_errors():
    from ember.train.checkpoint import CheckpointError
    from ember.train.data import DataError
    from ember.train.recipes import ModelError
    from ember.train.trainer import TrainingError
    return (CliError, CheckpointError, DataError, ModelError, TrainingError)


# ------------------------------------------------------------------------------- parser
def build_parser():
    from ember.train.recipes import DEFAULT_LR, MAIN_JOB, OPTIMIZERS, SCHEDULES
    from ember.train.data import DATASETS
    parser = argparse.ArgumentParser(
        prog="ember", description="Ember: train, evaluate and inspect image classifiers.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("train", help="train a model and write a run folder",
                       description="Train a model. With no arguments: LeNet-5 on the bundled "
                                   "MNIST digits (4,000 train / 500 val / 500 test), which "
                                   "reaches about 97-98% test accuracy in a few minutes.")
    p.add_argument("--model", default=None,
                   help=f"mlp or a name from ember.vision.models (default {MAIN_JOB.model})")
    p.add_argument("--dataset", default=None,
                   help=f"one of {', '.join(DATASETS)}, or the path of an image folder "
                        f"(default {MAIN_JOB.dataset})")
    p.add_argument("--data-root", default=None,
                   help="folder holding the dataset's files (mnist, fashion-mnist, kmnist, "
                        "cifar10, cifar100, folder)")
    p.add_argument("--epochs", type=int, default=None, help=f"default {MAIN_JOB.epochs}")
    p.add_argument("--batch-size", type=int, default=MAIN_JOB.batch_size)
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=MAIN_JOB.optimizer)
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate; the peak rate for --schedule onecycle (default: "
                        + ", ".join(f"{k} {v:g}" for k, v in DEFAULT_LR.items()) + ")")
    p.add_argument("--momentum", type=float, default=MAIN_JOB.momentum,
                   help="SGD / RMSprop momentum")
    p.add_argument("--weight-decay", type=float, default=MAIN_JOB.weight_decay)
    p.add_argument("--schedule", choices=SCHEDULES, default=MAIN_JOB.schedule)
    p.add_argument("--augment", choices=("none", "basic"), default=MAIN_JOB.augment,
                   help="basic: random shifts of up to 2 pixels per 28 of image side (random "
                        "crop with padding; 1 pixel on 8x8 digits)")
    p.add_argument("--val-split", type=float, default=MAIN_JOB.val_split,
                   help="share of the images held out for validation")
    p.add_argument("--patience", type=int, default=MAIN_JOB.patience,
                   help="stop early after this many epochs without a lower validation loss "
                        "(default 0: never)")
    p.add_argument("--seed", type=int, default=MAIN_JOB.seed,
                   help="seeds initialisation, shuffling and augmentation (the data split "
                        "is fixed)")
    p.add_argument("--out", default=None,
                   help="run folder (default runs/<model>-<dataset>-<timestamp>); an existing "
                        "non-empty folder is never overwritten")
    p.add_argument("--resume", default=None, metavar="PATH",
                   help="continue a run from a checkpoint (or a run folder: its "
                        "checkpoints/last.ember)")
    p.add_argument("--profile", action="store_true",
                   help="profile the training and write profile.txt to the run folder")
    _add_threads(p)

    p = sub.add_parser("eval", help="evaluate a checkpoint on a dataset split",
                       description="Accuracy, top-5 accuracy (more than 5 classes), per-class "
                                   "precision/recall/F1 and the confusion matrix.")
    p.add_argument("checkpoint")
    p.add_argument("--dataset", default=None, help="default: the checkpoint's dataset")
    p.add_argument("--data-root", default=None)
    p.add_argument("--split", choices=("train", "val", "test"), default="test")
    p.add_argument("--model", default=None, help="default: the checkpoint's model")
    _add_threads(p)

    p = sub.add_parser("predict", help="classify image files with a checkpoint",
                       description="Each image is converted to the model's input channels "
                                   "and size and normalised as the training data was.")
    p.add_argument("checkpoint")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--topk", type=int, default=3)
    p.add_argument("--model", default=None, help="default: the checkpoint's model")

    sub.add_parser("datasets", help="list the datasets Ember can open",
                   description="Every dataset, where its data comes from and its sizes.")

    p = sub.add_parser("summary", help="print a model's layer table",
                       description="Output shapes, parameters, multiply-adds and receptive "
                                   "fields of a named model (ember.summary).")
    p.add_argument("model")
    p.add_argument("--input-size", type=int, nargs=4, default=[1, 1, 28, 28],
                   metavar=("N", "C", "H", "W"))
    p.add_argument("--num-classes", type=int, default=None,
                   help="default: the model's own (1,000 for torchvision's models, 10 for lenet5)")

    p = sub.add_parser("export", help="write a checkpoint as ONNX or safetensors",
                       description="Export a checkpoint's model (an ember train checkpoint, a "
                                   "run folder, or an .onnx file) to ONNX with a dynamic batch "
                                   "size (checked with ONNX Runtime against Ember's forward) or "
                                   "its weights to safetensors (checked by reading them back). "
                                   "The file is written only once it has been verified, and "
                                   "an existing file is never overwritten.")
    p.add_argument("checkpoint")
    p.add_argument("--format", choices=("onnx", "safetensors"), required=True)
    p.add_argument("--out", default=None,
                   help="the file to write (default: the checkpoint's path with .onnx or "
                        ".safetensors)")
    p.add_argument("--input-size", type=int, nargs=4, default=None,
                   metavar=("N", "C", "H", "W"),
                   help="the example input traced for ONNX (default: 1 and the checkpoint's "
                        "input shape)")
    p.add_argument("--opset", type=int, default=None,
                   help="ONNX operator set, 18 to 26 (default 18)")
    p.add_argument("--model", default=None, help="default: the checkpoint's model")
    return parser


def _add_threads(parser):
    parser.add_argument("--threads", type=int, default=0,
                        help="threads for Ember's ops (ember.set_num_threads; default 0: "
                             "EMBER_NUM_THREADS or OMP_NUM_THREADS if set, else every usable "
                             "core)")


# ------------------------------------------------------------------------------ helpers
def _set_threads(count):
    """``ember.set_num_threads(count)``; ``count == 0`` keeps Ember's default (the
    ``EMBER_NUM_THREADS``/``OMP_NUM_THREADS`` variables, else every usable core)."""
    if count < 0:
        raise CliError(f"--threads must be non-negative, got {count}")
    if count:
        from ember._parallel import set_num_threads
        set_num_threads(count)


def _write_json(path, obj):
    from ember.train.callbacks import write_text_atomic
    write_text_atomic(path, json.dumps(obj, indent=1) + "\n")


def _dataset_name(value):
    from ember.train.data import DATASETS
    if value in DATASETS:
        return value, None
    if os.path.sep in value or os.path.exists(value):
        if not os.path.isdir(value):
            raise CliError(f"dataset path {value} does not exist or is not a folder")
        return "folder", value
    raise CliError(f"unknown dataset {value!r}; choose one of {', '.join(DATASETS)} or give "
                   f"an image folder's path")


def _resolve_checkpoint(path):
    if os.path.isdir(path):
        candidate = os.path.join(path, "checkpoints", "last.ember")
        if not os.path.isfile(candidate):
            raise CliError(f"{path} is a folder without checkpoints/last.ember")
        return candidate
    return path


def _load_for_inference(path, model_name=None):
    """``(model, checkpoint)`` with the checkpoint's weights, in eval mode."""
    from ember.train import checkpoint as ckpt
    from ember.train.recipes import build_model
    path = _resolve_checkpoint(path)
    state = ckpt.load_checkpoint(path)
    config = state["config"]
    try:
        recipe, pre, classes = config["recipe"], config["preprocessing"], config["classes"]
    except KeyError as e:
        raise ckpt.CheckpointError(f"{path} has no {e.args[0]} in its config; it was not "
                                   f"written by ember train") from None
    model, _ = build_model(model_name or recipe["model"], len(classes), pre["channels"],
                           tuple(pre["size"]))
    ckpt.load_model_state(model, state["model"], f"checkpoint {path}")
    model.eval()
    return model, state


def _predict_scores(model, images, batch_size=256):
    import numpy as np
    import ember
    scores = []
    with ember.no_grad():
        for i in range(0, len(images), batch_size):
            scores.append(model(ember.from_numpy(images[i:i + batch_size]))._data)
    return np.concatenate(scores) if scores else np.zeros((0, 0), np.float32)


# ------------------------------------------------------------------------------- train
def _new_recipe(args):
    from ember.train.recipes import DEFAULT_LR, MAIN_JOB, Recipe
    dataset, root = _dataset_name(args.dataset or MAIN_JOB.dataset)
    recipe = Recipe(model=args.model or MAIN_JOB.model, dataset=dataset,
                    data_root=args.data_root or root,
                    epochs=args.epochs if args.epochs is not None else MAIN_JOB.epochs,
                    batch_size=args.batch_size, optimizer=args.optimizer,
                    lr=args.lr if args.lr is not None else DEFAULT_LR[args.optimizer],
                    momentum=args.momentum, weight_decay=args.weight_decay,
                    schedule=args.schedule, augment=args.augment, val_split=args.val_split,
                    patience=args.patience, seed=args.seed)
    for name in ("epochs", "batch_size"):
        if getattr(recipe, name) < 1:
            raise CliError(f"--{name.replace('_', '-')} must be at least 1, got "
                           f"{getattr(recipe, name)}")
    if recipe.patience < 0:
        raise CliError(f"--patience must be non-negative, got {recipe.patience}")
    if recipe.lr <= 0:
        raise CliError(f"--lr must be positive, got {recipe.lr}")
    return recipe


def _resumed_recipe(args, state, path):
    from ember.train.recipes import Recipe
    if "recipe" not in state["config"]:
        raise CliError(f"{path} was not written by ember train (no recipe in its config)")
    recipe = Recipe.from_dict(state["config"]["recipe"])
    for option, value in (("model", args.model), ("dataset", args.dataset)):
        if value is not None and value != getattr(recipe, option):
            raise CliError(f"--{option} {value} differs from the checkpoint's "
                           f"{getattr(recipe, option)}; a resumed run keeps its configuration")
    if args.epochs is not None and args.epochs != recipe.epochs:
        if recipe.schedule in ("onecycle", "cosine"):
            raise CliError(f"the {recipe.schedule} schedule was laid out for {recipe.epochs} "
                           f"epochs; it cannot be changed when resuming")
        if args.epochs < state["epoch"]:
            raise CliError(f"--epochs {args.epochs} is fewer than the {state['epoch']} epochs "
                           f"the checkpoint has completed")
        recipe.epochs = args.epochs
    if args.data_root is not None:
        recipe.data_root = args.data_root
    return recipe


def _refuse_non_empty(out):
    if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
        raise CliError(f"run folder {out} already exists and is not empty; choose another "
                       f"--out, or continue it with --resume {out}")


def _cmd_train(args):
    import numpy as np

    import ember
    from ember.train import checkpoint as ckpt
    from ember.train.data import collate_batch, load_splits
    from ember.train.recipes import build_model, build_optimizer, build_scheduler

    resume_path, state = None, None
    if args.resume is not None:
        resume_path = _resolve_checkpoint(args.resume)
        state = ckpt.load_checkpoint(resume_path)
        recipe = _resumed_recipe(args, state, resume_path)
        own = os.path.dirname(os.path.dirname(os.path.abspath(resume_path)))
        out = args.out or own
        if os.path.abspath(out) != own:
            _refuse_non_empty(out)
    else:
        recipe = _new_recipe(args)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = args.out or os.path.join("runs", f"{recipe.model}-{recipe.dataset}-{stamp}")
        _refuse_non_empty(out)

    ember.manual_seed(recipe.seed)
    np.random.seed(recipe.seed)
    pre = state["config"]["preprocessing"] if state is not None else None
    splits = load_splits(recipe.dataset, recipe.data_root, recipe.val_split, recipe.test_fraction,
                         recipe.split_seed, preprocessing=pre)
    pre = splits["preprocessing"]
    classes = splits["classes"]
    size = tuple(pre["size"])
    model, wanted = build_model(recipe.model, len(classes), pre["channels"], size)
    if wanted != pre["channels"]:          # grey data for an RGB model: three equal channels
        splits = load_splits(recipe.dataset, recipe.data_root, recipe.val_split,
                             recipe.test_fraction, recipe.split_seed, channels=wanted)
        pre = splits["preprocessing"]
    config = {"recipe": recipe.to_dict(), "preprocessing": pre, "classes": classes,
              "input_shape": [pre["channels"], *size],
              "splits": {k: int(len(splits[k][1])) for k in ("train", "val", "test")}}

    from ember.train import callbacks as cbs
    from ember.train.data import ArrayDataset
    from ember.train.trainer import Trainer
    from ember.utils.data import DataLoader
    background = [-m / s for m, s in zip(pre["mean"], pre["std"])]
    train_data = ArrayDataset(*splits["train"], augment=recipe.augment, background=background)
    train_loader = DataLoader(train_data, batch_size=recipe.batch_size, shuffle=True,
                              collate_fn=collate_batch)

    def loader(split):
        return DataLoader(ArrayDataset(*splits[split]), batch_size=256, collate_fn=collate_batch)

    val_loader = loader("val") if len(splits["val"][1]) else None
    optimizer = build_optimizer(recipe, model.parameters())
    scheduler, interval = build_scheduler(recipe, optimizer, len(train_loader))
    ckpt_dir = os.path.join(out, "checkpoints")
    checkpointer = cbs.ModelCheckpoint(ckpt_dir)
    callbacks = [cbs.ProgressBar(), cbs.MetricLogger(out), checkpointer]
    if recipe.patience:
        if val_loader is None:
            raise CliError("--patience needs validation data (a positive --val-split)")
        callbacks.append(cbs.EarlyStopping("val_loss", patience=recipe.patience))
    trainer = Trainer(model, optimizer, scheduler=scheduler, scheduler_interval=interval,
                      callbacks=callbacks, config=config)
    if state is not None:
        trainer.load_checkpoint(resume_path)
    os.makedirs(out, exist_ok=True)
    _write_json(os.path.join(out, "config.json"), config)
    print(f"training {recipe.model} on {recipe.dataset} ({config['splits']['train']} train / "
          f"{config['splits']['val']} val / {config['splits']['test']} test images) for "
          f"{recipe.epochs} epochs -> {out}", flush=True)

    try:
        _fit(trainer, train_loader, val_loader, recipe.epochs, args.profile, out)
    except KeyboardInterrupt:
        hint = (f"; continue with: ember train --resume {checkpointer.last_path}"
                if os.path.exists(checkpointer.last_path) else "")
        print(f"ember train: interrupted after epoch {trainer.epoch}{hint}", file=sys.stderr)
        return 130

    best = ckpt.load_checkpoint(checkpointer.best_path)
    ckpt.load_model_state(model, best["model"], checkpointer.best_path)
    test = trainer.evaluate(loader("test"), "test", return_outputs=True)
    _write_run_report(out, trainer, model, test, splits, classes, pre, best["epoch"])
    print(f"test accuracy: {100 * test['acc']:.2f}% "
          f"({int(round(test['acc'] * len(test['targets'])))}/{len(test['targets'])} held-out "
          f"images; model of epoch {best['epoch']}, best validation accuracy)")
    if trainer.should_stop:
        print(f"stopped early after epoch {trainer.epoch}: no lower validation loss for "
              f"{recipe.patience} epochs")
    print(f"run folder: {out}")
    return 0


def _fit(trainer, train_loader, val_loader, epochs, profile, out):
    """``trainer.fit``, under cProfile with ``--profile`` (the 40 most expensive calls by
    cumulative time go to ``out/profile.txt``)."""
    if not profile:
        trainer.fit(train_loader, val_loader, epochs)
        return
    import cProfile
    import io
    import pstats
    profiler = cProfile.Profile()
    try:
        profiler.runcall(trainer.fit, train_loader, val_loader, epochs)
    finally:
        report = io.StringIO()
        pstats.Stats(profiler, stream=report).sort_stats("cumulative").print_stats(40)
        with open(os.path.join(out, "profile.txt"), "w", encoding="utf-8") as f:
            f.write(report.getvalue())


def _write_run_report(out, trainer, model, test, splits, classes, pre, best_epoch):
    from ember.train import metrics, plots
    report = metrics.classification_report(test["scores"], test["targets"], len(classes),
                                           classes)
    report.update(loss=test["loss"], epoch=best_epoch)
    _write_json(os.path.join(out, "test_metrics.json"), report)
    predictions = test["scores"].argmax(1)
    plots.plot_history(trainer.history, os.path.join(out, "curves.png"))
    plots.plot_confusion_matrix(report["confusion_matrix"], classes,
                                os.path.join(out, "confusion_matrix.png"))
    plots.plot_misclassified(splits["raw_test"], test["targets"], predictions, classes,
                             os.path.join(out, "misclassified.png"))
    weights = plots.first_layer_weights(model, [pre["channels"], *pre["size"]])
    if weights is not None:
        plots.plot_filters(weights, os.path.join(out, "filters.png"))


# -------------------------------------------------------------------------------- eval
def _cmd_eval(args):
    from ember.train import metrics
    from ember.train.data import load_splits
    model, state = _load_for_inference(args.checkpoint, args.model)
    config = state["config"]
    recipe = config["recipe"]
    if args.dataset is not None:
        dataset, root = _dataset_name(args.dataset)
        root = args.data_root or root
    else:
        dataset, root = recipe["dataset"], args.data_root or recipe["data_root"]
    splits = load_splits(dataset, root, recipe["val_split"], recipe["test_fraction"],
                         recipe["split_seed"], preprocessing=config["preprocessing"])
    images, targets = splits[args.split]
    classes = config["classes"]
    if len(splits["classes"]) != len(classes):
        raise CliError(f"dataset {dataset} has {len(splits['classes'])} classes but the model "
                       f"was trained on {len(classes)}")
    if not len(targets):
        raise CliError(f"the {args.split} split of {dataset} is empty")
    scores = _predict_scores(model, images)
    report = metrics.classification_report(scores, targets, len(classes), classes)
    print(f"{recipe['model']} ({args.checkpoint}, epoch {state['epoch']}) on {dataset} "
          f"{args.split} split: {len(targets)} images")
    print(metrics.format_report(report))
    return 0


# ----------------------------------------------------------------------------- predict
def _cmd_predict(args):
    import numpy as np

    from ember.train.data import _open_image, preprocess_image
    model, state = _load_for_inference(args.checkpoint, args.model)
    classes = state["config"]["classes"]
    pre = state["config"]["preprocessing"]
    if not 1 <= args.topk <= len(classes):
        raise CliError(f"--topk must lie in [1, {len(classes)}], got {args.topk}")
    batch = np.concatenate([preprocess_image(_open_image(path), pre) for path in args.images])
    scores = _predict_scores(model, batch).astype(np.float64)
    probs = np.exp(scores - scores.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    for path, p in zip(args.images, probs):
        top = np.argsort(-p, kind="stable")[:args.topk]
        print(f"{path}: " + ", ".join(f"{classes[i]} ({p[i]:.3f})" for i in top))
    return 0


# ---------------------------------------------------------------------------- datasets
def _cmd_datasets(args):
    from ember.vision.datasets import available
    cli_names = {"MNISTSample": "mnist-sample", "Digits": "digits", "MNIST": "mnist",
                 "FashionMNIST": "fashion-mnist", "KMNIST": "kmnist", "CIFAR10": "cifar10",
                 "CIFAR100": "cifar100", "ImageFolder": "folder"}
    for info in available():
        name = cli_names.get(info.name)
        sizes = ", ".join(f"{k} {v:,}" for k, v in info.sizes.items()) or "your data"
        shape = "x".join(map(str, info.image_shape)) if info.image_shape else "any size"
        usage = f"--dataset {name}" if name else "ember.vision.datasets only (2-D points)"
        print(f"{info.name:<13} {info.source:<24} {shape:<9} {sizes}")
        print(f"{'':<13} {info.description}; {usage}")
        if info.files:
            print(f"{'':<13} files under --data-root: {', '.join(info.files)}")
    return 0


# ----------------------------------------------------------------------------- summary
def _cmd_summary(args):
    import ember
    from ember.train.recipes import build_model
    n, c, h, w = args.input_size
    if min(n, c, h, w) < 1:
        raise CliError(f"--input-size must be positive, got {n} {c} {h} {w}")
    model, wanted = build_model(args.model, args.num_classes, c, (h, w))
    if wanted != c:
        raise CliError(f"model {args.model} expects {wanted}-channel inputs, got --input-size "
                       f"{n} {c} {h} {w}")
    print(ember.summary(model, (n, c, h, w)))
    return 0


# ------------------------------------------------------------------------------ export
def _export_source(args):
    """``(model, input shape or None, description)`` for ``ember export``."""
    path = _resolve_checkpoint(args.checkpoint)
    if path.endswith(".onnx"):
        if args.model is not None:
            raise CliError("--model applies to ember train checkpoints, not to an .onnx file")
        import ember.onnx
        try:
            model = ember.onnx.load(path)
        except FileNotFoundError:
            raise CliError(f"{path} does not exist") from None
        except ember.onnx.OnnxLoadError as e:
            raise CliError(str(e).replace("ember.onnx.load: ", "")) from None
        shape = model._input_shapes[model.input_names[0]] if len(model.input_names) == 1 \
            else None
        shape = None if shape is None or None in shape[1:] else (1,) + tuple(shape[1:])
        return model, shape, f"{path}"
    model, state = _load_for_inference(path, args.model)
    shape = state["config"].get("input_shape")
    return model, (1, *shape) if shape else None, f"{state['config']['recipe']['model']} " \
        f"({path}, epoch {state['epoch']})"


def _export_target(args, source_path):
    out = args.out
    if out is None:
        stem = os.path.splitext(_resolve_checkpoint(source_path))[0]
        out = f"{stem}.{args.format}"
    if os.path.exists(out):
        raise CliError(f"{out} already exists; remove it or choose another --out")
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder):
        raise CliError(f"cannot write {out}: folder {folder} does not exist")
    return out


def _export_onnx(model, shape, opset):
    """The ONNX file's bytes and the verification message: ONNX Runtime runs the file on a
    batch of N and of N + 1 and must agree with Ember within 1e-4 of the output scale."""
    import io

    import numpy as np

    import ember
    try:
        import onnxruntime
        from ember.onnx import ExportError, export
    except ImportError:
        raise CliError("--format onnx needs the onnx and onnxruntime packages: pip install "
                       "'ember[onnx]'") from None
    buffer = io.BytesIO()
    try:
        export(model, ember.randn(*shape), buffer, input_names=["input"],
               output_names=["output"], dynamic_axes={"input": {0: "batch"}},
               opset_version=opset)
    except ExportError as e:
        raise CliError(str(e).replace("ember.onnx.export: ", "")) from None
    except (RuntimeError, ValueError, TypeError) as e:
        message = str(e).replace("ember.onnx.export: ", "")
        if "opset_version" in message:
            raise CliError(message) from None
        raise CliError(f"the model cannot run on an input of shape {tuple(shape)} (give "
                       f"--input-size N C H W): {message}") from None
    data = buffer.getvalue()
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    worst = 0.0
    for batch in (shape[0], shape[0] + 1):
        x = np.random.default_rng(batch).normal(size=(batch, *shape[1:])).astype(np.float32)
        with ember.no_grad():
            expected = model(ember.from_numpy(x)).numpy()
        got = session.run(None, {"input": x})[0]
        scale = max(float(np.abs(expected).max(initial=0.0)), 1e-30)
        worst = max(worst, float(np.abs(got - expected).max(initial=0.0)) / scale)
    if not worst <= 1e-4:
        raise CliError(f"verification failed: ONNX Runtime differs from Ember by {worst:.2e} "
                       "of the output scale (more than 1e-4); nothing was written")
    return data, (f"ONNX Runtime {onnxruntime.__version__} agrees with Ember to {worst:.1e} of "
                  f"the output scale on batches of {shape[0]} and {shape[0] + 1}")


def _export_safetensors(model):
    import numpy as np
    try:
        from ember.utils import safetensors
        data = safetensors.save(model.state_dict(), metadata={"producer": "ember export"})
        back = safetensors.load(data)
    except ImportError:
        raise CliError("--format safetensors needs the safetensors package: pip install "
                       "'ember[safetensors]'") from None
    state = model.state_dict()
    if set(back) != set(state) or not all(
            np.array_equal(back[k].numpy(), state[k].detach().numpy()) for k in state):
        raise CliError("verification failed: the safetensors data read back differs from the "
                       "model's state_dict; nothing was written")
    return data, f"read back: {len(state)} tensors equal to the model's state_dict"


def _cmd_export(args):
    model, shape, description = _export_source(args)
    out = _export_target(args, args.checkpoint)
    if args.format == "onnx":
        if args.input_size is not None:
            shape = tuple(args.input_size)
            if min(shape) < 1:
                raise CliError(f"--input-size must be positive, got {' '.join(map(str, shape))}")
        if shape is None:
            raise CliError("the checkpoint does not record its input shape; give --input-size "
                           "N C H W")
        data, verified = _export_onnx(model, shape, args.opset)
    else:
        if args.input_size is not None or args.opset is not None:
            raise CliError("--input-size and --opset apply to --format onnx only")
        data, verified = _export_safetensors(model)
    from ember.serialization import write_atomic
    write_atomic(out, lambda f: f.write(data), "ember export")
    print(f"wrote {out} ({args.format}, {len(data) / 1e6:.2f} MB) from {description}")
    print(f"verified: {verified}")
    return 0


_COMMANDS = {"train": _cmd_train, "eval": _cmd_eval, "predict": _cmd_predict,
             "datasets": _cmd_datasets, "summary": _cmd_summary, "export": _cmd_export}


def main(argv=None):
    """Run the ``ember`` command with ``argv`` (default ``sys.argv[1:]``); returns the exit
    code (0 success, 1 error, 2 usage error, 130 interrupted)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    if args.command is None:
        parser.print_help()
        return 2
    try:
        _set_threads(getattr(args, "threads", 0))
        return _COMMANDS[args.command](args)
    except _user_errors() as e:
        message = " ".join(str(e).split()) or type(e).__name__
        print(f"ember {args.command}: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"ember {args.command}: interrupted", file=sys.stderr)
        return 130
