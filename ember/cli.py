"""The ``ember`` command: ``train``, ``eval``, ``predict``, ``inspect``, ``datasets`` and
``summary``.

    ember train                       # LeNet-5 on the bundled MNIST digits (the main job)
    ember train --model resnet20 --dataset cifar10 --data-root ~/data --epochs 30
    ember eval runs/<run>/checkpoints/best.ember
    ember predict runs/<run>/checkpoints/best.ember digit.png --topk 3
    ember inspect resnet18.pth --model resnet18
    ember datasets
    ember summary lenet5 --input-size 1 1 28 28

Heavy modules (models, plots, tqdm) are imported only by the subcommand that needs them, so
``ember --help`` is fast. Bad input (a missing data path, an image size the model cannot
take, a corrupt or hostile file (``ember.reading``), a checkpoint made for another
architecture, an existing run folder) ends with a one-line ``ember <command>: error: ...``
on stderr and exit code 1 (2 for command-line usage errors), never a traceback, and never
overwrites a run folder or a checkpoint.
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
    from ember.reading import FileFormatError
    from ember.train.checkpoint import CheckpointError
    from ember.train.data import DataError
    from ember.train.recipes import ModelError
    from ember.train.trainer import TrainingError
    return (CliError, CheckpointError, DataError, ModelError, TrainingError, FileFormatError)


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

    p = sub.add_parser("inspect", help="list the tensors of a checkpoint (.ember or PyTorch .pth)",
                       description="Read an Ember checkpoint or a torch.save file (zip, legacy "
                                   "or tar format) safely -- nothing in it is run -- and list "
                                   "its tensors. With --model, load its weights into that "
                                   "model to check that they fit.")
    p.add_argument("checkpoint")
    p.add_argument("--model", default=None,
                   help="a name from ember.vision.models (e.g. resnet18): check that the "
                        "file's state dict fits it")
    p.add_argument("--num-classes", type=int, default=None,
                   help="with --model: default the model's own (1,000 for torchvision's)")

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
    """``(model, checkpoint, recipe)``: the model with the checkpoint's weights, in eval mode."""
    from ember.train import checkpoint as ckpt
    from ember.train.recipes import build_model
    path = _resolve_checkpoint(path)
    state = ckpt.load_checkpoint(path)
    recipe, pre, classes = ckpt.run_config(state, path)
    model, _ = build_model(model_name or recipe.model, len(classes), pre["channels"],
                           tuple(pre["size"]))
    ckpt.load_model_state(model, state["model"], f"checkpoint {path}")
    model.eval()
    return model, state, recipe


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
    from ember.train.checkpoint import run_config
    recipe, _, _ = run_config(state, path)
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
    model, state, recipe = _load_for_inference(args.checkpoint, args.model)
    config = state["config"]
    if args.dataset is not None:
        dataset, root = _dataset_name(args.dataset)
        root = args.data_root or root
    else:
        dataset, root = recipe.dataset, args.data_root or recipe.data_root
    splits = load_splits(dataset, root, recipe.val_split, recipe.test_fraction,
                         recipe.split_seed, preprocessing=config["preprocessing"])
    images, targets = splits[args.split]
    classes = config["classes"]
    if len(splits["classes"]) != len(classes):
        raise CliError(f"dataset {dataset} has {len(splits['classes'])} classes but the model "
                       f"was trained on {len(classes)}")
    if not len(targets):
        raise CliError(f"the {args.split} split of {dataset} is empty")
    scores = _predict_scores(model, images)
    report = metrics.classification_report(scores, targets, len(classes), classes)
    print(f"{recipe.model} ({args.checkpoint}, epoch {state['epoch']}) on {dataset} "
          f"{args.split} split: {len(targets)} images")
    print(metrics.format_report(report))
    return 0


# ----------------------------------------------------------------------------- predict
def _cmd_predict(args):
    import numpy as np

    from ember.train.data import _open_image, preprocess_image
    model, state, _ = _load_for_inference(args.checkpoint, args.model)
    classes = state["config"]["classes"]
    pre = state["config"]["preprocessing"]
    if not 1 <= args.topk <= len(classes):
        raise CliError(f"--topk must lie in [1, {len(classes)}], got {args.topk}")
    mode = "L" if pre["channels"] == 1 else "RGB"
    batch = np.concatenate([preprocess_image(_open_image(path, mode), pre)
                            for path in args.images])
    scores = _predict_scores(model, batch).astype(np.float64)
    probs = np.exp(scores - scores.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    for path, p in zip(args.images, probs):
        top = np.argsort(-p, kind="stable")[:args.topk]
        print(f"{path}: " + ", ".join(f"{classes[i]} ({p[i]:.3f})" for i in top))
    return 0


# ----------------------------------------------------------------------------- inspect
def _tensor_rows(obj, limit=100_000):
    """``(dotted name, tensor)`` for every tensor in ``obj`` (dicts, lists, tuples, modules),
    depth first, each object once, at most ``limit``."""
    import ember
    from ember.nn import Module
    rows, seen, stack = [], set(), [("", obj)]
    while stack and len(rows) < limit:
        name, value = stack.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, ember.Tensor):
            rows.append((name or "(root)", value))
            continue
        if isinstance(value, Module):
            children = list(value.state_dict().items())
        elif isinstance(value, dict):
            children = list(value.items())
        elif isinstance(value, (list, tuple)):
            children = list(enumerate(value))
        else:
            continue
        prefix = f"{name}." if name else ""
        stack.extend((f"{prefix}{key}", child) for key, child in reversed(children))
    return rows


def _state_dict_in(obj, path):
    """The state dict a loaded file holds: the object itself, a module's, or the one under
    'model' / 'state_dict'."""
    import ember
    from ember.nn import Module

    def is_state_dict(value):
        return isinstance(value, dict) and value and all(
            isinstance(v, ember.Tensor) for v in value.values())
    if isinstance(obj, Module):
        return obj.state_dict()
    if is_state_dict(obj):
        return obj
    for key in ("model", "state_dict"):
        if isinstance(obj, dict) and is_state_dict(obj.get(key)):
            return obj[key]
    keys = ", ".join(map(repr, list(obj)[:8])) if isinstance(obj, dict) else type(obj).__name__
    raise CliError(f"{path} holds no state dict (a dict of tensors, or one under 'model' or "
                   f"'state_dict'); it holds {keys}")


def _cmd_inspect(args):
    import numpy as np

    import ember
    from ember.train.checkpoint import load_model_state
    from ember.vision import models
    path = args.checkpoint
    if not os.path.isfile(path):
        raise CliError(f"{path} does not exist or is not a file")
    obj = ember.load(path)
    rows = _tensor_rows(obj)
    width = max([len(name) for name, _ in rows] + [4])
    print(f"{path}: {type(obj).__name__}")
    for name, tensor in rows:
        kind = "Parameter" if isinstance(tensor, ember.nn.Parameter) else "Tensor"
        print(f"  {name:<{width}}  {tensor.dtype.name:<8} {tuple(tensor.shape)}  {kind}")
    total = sum(int(np.prod(t.shape)) for _, t in rows)
    print(f"{len(rows)} tensors, {total:,} elements")
    if args.model is not None:
        if args.model not in models.list_models():
            raise CliError(f"unknown model {args.model!r}; choose one of "
                           f"{', '.join(models.list_models())}")
        options = {} if args.num_classes is None else {"num_classes": args.num_classes}
        model = models.get_model(args.model, **options)
        state = _state_dict_in(obj, path)
        load_model_state(model, state, path)
        print(f"the weights fit {args.model}: {len(state)} entries loaded")
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


_COMMANDS = {"train": _cmd_train, "eval": _cmd_eval, "predict": _cmd_predict,
             "inspect": _cmd_inspect, "datasets": _cmd_datasets, "summary": _cmd_summary}


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
