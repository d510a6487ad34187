"""The ``ember`` command: ``train``, ``eval``, ``predict``, ``inspect``, ``explain``,
``visualize``, ``datasets``, ``summary`` and ``export``.

    ember train                       # LeNet-5 on the bundled MNIST digits (the main job)
    ember train --model resnet20 --dataset cifar10 --data-root ~/data --epochs 30
    ember eval runs/<run>/checkpoints/best.ember
    ember predict runs/<run>/checkpoints/best.ember digit.png --topk 3
    ember inspect resnet18.pth --model resnet18
    ember explain runs/<run>/checkpoints/best.ember digit.png --method gradcam
    ember visualize runs/<run>/checkpoints/best.ember --filters --tsne --dream photo.png
    ember datasets
    ember summary lenet5 --input-size 1 1 28 28
    ember export runs/<run>/checkpoints/best.ember --format onnx

Heavy modules (models, plots, tqdm) are imported only by the subcommand that needs them, so
``ember --help`` is fast. Bad input (a missing data path, an image size the model cannot
take, a corrupt or hostile file (``ember.reading``), a checkpoint made for another
architecture, an existing run folder) ends with a one-line ``ember <command>: error: ...``
on stderr and exit code 1 (2 for command-line usage errors), never a traceback, and never
overwrites a run folder or a checkpoint.
"""
import argparse
import os
import sys

__all__ = ["main", "build_parser"]


class CliError(RuntimeError):
    """A user-facing error: printed as one line, exit code 1."""


def _user_errors():
    from ember.reading import FileFormatError
    from ember.train.checkpoint import CheckpointError
    from ember.train.data import DataError
    from ember.train.recipes import ModelError, RecipeError
    from ember.train.run import RunError
    from ember.train.tasks import TaskError
    from ember.train.trainer import TrainingError
    return (CliError, CheckpointError, DataError, ModelError, RecipeError, RunError, TaskError,
            TrainingError, FileFormatError)


# ------------------------------------------------------------------------------- parser
def build_parser():
    from ember.train.data import DATASETS
    from ember.train.recipes import ADVERSARIAL, DEFAULT_LR, MAIN_JOB, OPTIMIZERS, SCHEDULES
    from ember.train.tasks import TASKS, get_task
    parser = argparse.ArgumentParser(
        prog="ember", description="Ember: train, evaluate and inspect image classifiers and "
                                  "segmentation networks.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("train", help="train a model and write a run folder",
                       description="Train a model. With no arguments: LeNet-5 on the bundled "
                                   "MNIST digits (4,000 train / 500 val / 500 test), which "
                                   "reaches about 97-98%% test accuracy in about 10 seconds "
                                   "on two cores.")
    p.add_argument("--task", default=MAIN_JOB.task, choices=list(TASKS),
                   help=f"what to learn (default {MAIN_JOB.task}; detection trains object "
                        f"detectors on the mnist-detect canvases)")
    p.add_argument("--model", default=None,
                   help=f"mlp or a name from ember.vision.models (default {MAIN_JOB.model}; "
                        f"mlp for images LeNet-5 cannot take, such as the 8x8 digits); for "
                        f"--task segmentation a name from ember.vision.models.segmentation "
                        f"(default unet); --task detection fasterrcnn_small (default), "
                        f"maskrcnn_small or yolo_small")
    segment = get_task("segmentation").recipe_defaults()
    detect = get_task("detection").recipe_defaults()

    def per_task(name, fmt=str):
        return (f"segmentation {fmt(segment[name])}, detection {fmt(detect[name])}"
                if name in segment and name in detect else "")
    p.add_argument("--dataset", default=None,
                   help=f"classification: one of {', '.join(DATASETS)}, or the path of an image "
                        f"folder (default {MAIN_JOB.dataset}); segmentation: "
                        f"{segment['dataset']} (default) or the path of a folder with images/ "
                        f"and masks/; detection: {detect['dataset']}")
    p.add_argument("--data-root", default=None,
                   help="folder holding the dataset's files (mnist, fashion-mnist, kmnist, "
                        "cifar10, cifar100, folder)")
    p.add_argument("--epochs", type=int, default=None,
                   help=f"default {MAIN_JOB.epochs} ({per_task('epochs')})")
    p.add_argument("--batch-size", type=int, default=None,
                   help=f"default {MAIN_JOB.batch_size} ({per_task('batch_size')})")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=None,
                   help=f"default {MAIN_JOB.optimizer} (segmentation {segment['optimizer']}, "
                        f"detection {detect['optimizer']})")
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate; the peak rate for --schedule onecycle (default: "
                        + ", ".join(f"{k} {v:g}" for k, v in DEFAULT_LR.items())
                        + f"; segmentation {segment['lr']:g}; detection {detect['lr']:g}, "
                          f"yolo_small {get_task('detection').recipe_defaults('yolo_small')['lr']:g})")
    p.add_argument("--momentum", type=float, default=None,
                   help=f"SGD / RMSprop momentum (default {MAIN_JOB.momentum})")
    p.add_argument("--weight-decay", type=float, default=None,
                   help=f"default {MAIN_JOB.weight_decay:g} (segmentation "
                        f"{segment['weight_decay']:g}, detection {detect['weight_decay']:g})")
    p.add_argument("--schedule", choices=SCHEDULES, default=None,
                   help=f"default {MAIN_JOB.schedule}")
    p.add_argument("--augment", choices=("none", "basic"), default=None,
                   help="basic: random shifts of up to 2 pixels per 28 of image side (random "
                        "crop with padding; 1 pixel on 8x8 digits; image and mask together for "
                        "segmentation); for detection a light scale jitter and crop moving the "
                        "boxes and masks (default: basic; segmentation, detection: none)")
    p.add_argument("--val-split", type=float, default=MAIN_JOB.val_split,
                   help="share of the images held out for validation (image folders, "
                        "classification datasets)")
    p.add_argument("--patience", type=int, default=MAIN_JOB.patience,
                   help="stop early after this many epochs without a lower validation loss "
                        "(default 0: never)")
    p.add_argument("--seed", type=int, default=MAIN_JOB.seed,
                   help="seeds initialisation, shuffling and augmentation (the data split "
                        "is fixed)")
    p.add_argument("--adversarial", choices=ADVERSARIAL, default=MAIN_JOB.adversarial,
                   help="adversarial training: replace every training batch by FGSM or PGD "
                        "examples of the current model, and report the test accuracy under "
                        "the same attack beside the clean one (default none)")
    p.add_argument("--epsilon", type=float, default=MAIN_JOB.epsilon,
                   help="L-inf radius of the adversarial examples in pixel values, images "
                        f"scaled to [0, 1] (default {MAIN_JOB.epsilon:g})")
    p.add_argument("--attack-steps", type=int, default=MAIN_JOB.attack_steps,
                   help=f"PGD steps (default {MAIN_JOB.attack_steps}; step size 2.5 epsilon / "
                        f"steps, random start)")
    p.add_argument("--adversarial-fraction", type=float, default=MAIN_JOB.adversarial_fraction,
                   help="the share of each training batch replaced by adversarial examples "
                        f"(default {MAIN_JOB.adversarial_fraction:g}; 1: adversarial examples "
                        "only)")
    p.add_argument("--out", default=None,
                   help="run folder (default runs/<model>-<dataset>-<timestamp>); an existing "
                        "non-empty folder is never overwritten")
    p.add_argument("--resume", default=None, metavar="PATH",
                   help="continue a run from a checkpoint, or a run folder from its "
                        "checkpoints/last.ember (from epoch 1 if no epoch was completed)")
    p.add_argument("--profile", action="store_true",
                   help="time every op of the training (ember.profiler) and write the per-op "
                        "table to profile.txt in the run folder")
    _add_threads(p)

    p = sub.add_parser("eval", help="evaluate a checkpoint on a dataset split",
                       description="Classification: accuracy, top-5 accuracy (more than 5 "
                                   "classes), per-class precision/recall/F1 and the confusion "
                                   "matrix. Segmentation: pixel accuracy, mean and "
                                   "frequency-weighted IoU and the IoU of every class.")
    p.add_argument("checkpoint")
    p.add_argument("--dataset", default=None, help="default: the checkpoint's dataset")
    p.add_argument("--data-root", default=None)
    p.add_argument("--split", choices=("train", "val", "test"), default="test")
    p.add_argument("--model", default=None, help="default: the checkpoint's model")
    _add_threads(p)

    p = sub.add_parser("predict", help="classify, segment or detect objects in image files "
                                       "with a checkpoint",
                       description="Each image is converted to the model's input channels "
                                   "and normalised as the training data was; a grey image "
                                   "whose background is the opposite of the training images' "
                                   "(black on white for MNIST) is inverted. Classification: "
                                   "an image of another size is padded to the training aspect "
                                   "ratio and resized, and the most probable classes are "
                                   "printed. Segmentation: the image keeps its size (padded "
                                   "to a multiple of 32 for the model), and NAME_mask.png (a "
                                   "palette PNG of the class labels) and NAME_legend.png (the "
                                   "mask, an overlay and the colour legend) are written. "
                                   "Detection: the detections are printed as one JSON line per "
                                   "image and drawn into NAME.detections.png. Each change is "
                                   "reported in a note.")
    p.add_argument("checkpoint")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--topk", type=int, default=None,
                   help="classification: how many classes to print (default 3)")
    p.add_argument("--invert", choices=("auto", "yes", "no"), default="auto",
                   help="invert grey images: auto (default) when the border is the opposite "
                        "shade of the training images', yes, or no")
    p.add_argument("--score-thresh", type=float, default=None,
                   help="detection: the lowest score reported and drawn (default 0.5)")
    p.add_argument("--out", default=None,
                   help="segmentation and detection: the folder of the masks or drawings "
                        "(default: each image's own folder); an existing drawing is never "
                        "overwritten")
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

    from ember.interpret.heatmaps import METHODS
    p = sub.add_parser("explain", help="heat maps of where a checkpoint's model looks",
                       description="For each image, a figure (the image, the heat map with its "
                                   "colour bar, the two blended) of the evidence for the target "
                                   "class, and the model's most probable classes. Images are "
                                   "prepared as ember predict prepares them. Figures are "
                                   "written to --out as <image name>-<method>.png, replacing "
                                   "earlier ones of that name.")
    p.add_argument("checkpoint")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--method", choices=METHODS, default="gradcam",
                   help="saliency (|gradient|), smoothgrad, ig (integrated gradients), "
                        "occlusion, cam (global-pool networks) or gradcam (default)")
    p.add_argument("--target", type=int, default=None,
                   help="the class index to explain (default: each image's predicted class)")
    p.add_argument("--layer", default=None,
                   help="the layer of gradcam (default: the last layer with feature maps; "
                        "ember summary MODEL lists the names)")
    p.add_argument("--out", default="explanations", help="folder for the figures")
    p.add_argument("--topk", type=int, default=3)
    p.add_argument("--invert", choices=("auto", "yes", "no"), default="auto",
                   help="invert grey images, as ember predict")
    p.add_argument("--seed", type=int, default=0, help="seeds smoothgrad's noise")
    p.add_argument("--model", default=None, help="default: the checkpoint's model")
    _add_threads(p)

    p = sub.add_parser("visualize", help="pictures of what a checkpoint's model has learnt",
                       description="Writes the chosen pictures into --out (replacing earlier "
                                   "ones of the same name): first-layer filters, a layer's "
                                   "activation maps for an image, a t-SNE or PCA map of the "
                                   "last layer's features of a data split with the images as "
                                   "markers, the images that excite a layer's channels most "
                                   "with their receptive fields, and DeepDream on a photograph.")
    p.add_argument("checkpoint")
    p.add_argument("--filters", action="store_true", help="filters.png")
    p.add_argument("--activations", metavar="IMAGE", default=None,
                   help="activations.png: --layer's feature maps for IMAGE")
    p.add_argument("--tsne", action="store_true", help="tsne.png")
    p.add_argument("--pca", action="store_true", help="pca.png")
    p.add_argument("--patches", action="store_true",
                   help="patches.png: top images of --layer's first channels")
    p.add_argument("--dream", metavar="IMAGE", default=None,
                   help="dream.png: DeepDream of --layer on IMAGE at its own aspect ratio, in "
                        "tiles of the model's input size")
    p.add_argument("--layer", default=None,
                   help="for --activations (default: the first convolution), --patches and "
                        "--dream (default: the last convolution)")
    p.add_argument("--dream-size", type=int, default=224,
                   help="the dream image's longer side in pixels (default 224)")
    p.add_argument("--split", choices=("train", "val", "test"), default="test",
                   help="the data of --tsne, --pca and --patches (default test)")
    p.add_argument("--limit", type=int, default=500,
                   help="at most this many images of the split (default 500)")
    p.add_argument("--out", default="visualizations", help="folder for the pictures")
    p.add_argument("--seed", type=int, default=0, help="seeds t-SNE and DeepDream's jitter")
    p.add_argument("--model", default=None, help="default: the checkpoint's model")
    _add_threads(p)

    sub.add_parser("datasets", help="list the datasets Ember can open",
                   description="Every dataset, where its data comes from and its sizes.")

    p = sub.add_parser("summary", help="print a model's layer table",
                       description="Output shapes, parameters, multiply-adds and receptive "
                                   "fields of a named model (ember.summary).")
    p.add_argument("model")
    p.add_argument("--input-size", type=int, nargs=4, default=None,
                   metavar=("N", "C", "H", "W"),
                   help="default: one image of the size the model is made for (1x28x28 "
                        "for lenet5 and mlp, 3x32x32 for the CIFAR ResNets, 3x224x224 for "
                        "the ImageNet models)")
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


def _dataset_name(value, task):
    """``(dataset name, data root or None)`` for ``--dataset``: one of the task's dataset
    names, or a folder path (``"folder"``)."""
    names = [name for name in task.datasets if name != "folder"]
    if value in names:
        return value, None
    if os.path.sep in value or os.path.exists(value):
        if not os.path.isdir(value):
            raise CliError(f"dataset path {value} does not exist or is not a folder")
        return "folder", value
    from ember.train.tasks import TASKS, get_task
    for other in TASKS:
        if other != task.name and value in get_task(other).datasets:
            raise CliError(f"dataset {value} is for --task {other}, not {task.name} (which "
                           f"reads {', '.join(names)} or a folder's path)")
    raise CliError(f"unknown dataset {value!r} for {task.name}; choose one of "
                   f"{', '.join(names)} or give a folder's path")


def _resolve_checkpoint(path):
    if os.path.isdir(path):
        candidate = os.path.join(path, "checkpoints", "last.ember")
        if not os.path.isfile(candidate):
            raise CliError(f"{path} is a folder without checkpoints/last.ember")
        return candidate
    return path


def _load_for_inference(path, model_name=None):
    """``(task, model, checkpoint)`` with the checkpoint's weights, in eval mode."""
    from ember.train import checkpoint as ckpt
    from ember.train.tasks import get_task
    path = _resolve_checkpoint(path)
    state = ckpt.load_checkpoint(path)
    recipe, preprocessing, classes = ckpt.run_config(state, path)
    if model_name is not None:
        recipe.model = model_name
    task = get_task(recipe.task)
    model, _ = task.build_model(recipe, {"preprocessing": preprocessing, "classes": classes})
    ckpt.load_model_state(model, state["model"], f"checkpoint {path}")
    model.eval()
    return task, model, state


# ------------------------------------------------------------------------------- train
def _new_recipe(args):
    """The recipe of the command line: the options given, then the task's own defaults
    (``recipe_defaults``), then the main job's."""
    from ember.train.recipes import MAIN_JOB, Recipe
    from ember.train.tasks import get_task
    task = get_task(args.task)
    defaults = task.recipe_defaults(args.model)
    dataset, root = _dataset_name(args.dataset or defaults.get("dataset", MAIN_JOB.dataset),
                                  task)
    use_main_model = (args.model is None and dataset == MAIN_JOB.dataset
                      and args.task == MAIN_JOB.task)

    def option(name):
        given = getattr(args, name)
        return given if given is not None else defaults.get(name, getattr(MAIN_JOB, name))
    recipe = Recipe(task=args.task,
                    model=args.model or defaults.get("model") or (MAIN_JOB.model if use_main_model
                                                                  else None),
                    dataset=dataset, data_root=args.data_root or root,
                    epochs=option("epochs"), batch_size=option("batch_size"),
                    optimizer=option("optimizer"),
                    lr=args.lr if args.lr is not None else defaults.get("lr"),
                    momentum=option("momentum"), weight_decay=option("weight_decay"),
                    schedule=option("schedule"), augment=option("augment"),
                    val_split=args.val_split, patience=args.patience, seed=args.seed,
                    adversarial=args.adversarial, epsilon=args.epsilon,
                    attack_steps=args.attack_steps,
                    adversarial_fraction=args.adversarial_fraction)
    return recipe


def _cmd_train(args):
    from ember.train.run import RunInterrupted, run
    if args.patience and args.val_split == 0 and args.resume is None:
        raise CliError("--patience needs validation data (a positive --val-split)")
    try:
        if args.resume is not None:
            overrides = {"model": args.model, "dataset": args.dataset, "epochs": args.epochs,
                         "data_root": args.data_root}
            result = run(None, args.out, resume=args.resume, overrides=overrides,
                         profile=args.profile)
        else:
            result = run(_new_recipe(args), args.out, profile=args.profile)
    except RunInterrupted as e:
        print(f"ember train: {e}", file=sys.stderr)
        return 130
    print(result.summary)
    if result.stopped_early:
        from ember.train.tasks import get_task
        watched, mode = get_task(result.recipe.task).early_stopping
        what = {"val_loss": "no lower validation loss"}.get(
            watched, f"no {'higher' if mode == 'max' else 'lower'} {watched}")
        print(f"stopped early after epoch {len(result.history)}: {what} for "
              f"{result.recipe.patience} epochs")
    print(f"run folder: {result.out}")
    return 0


# -------------------------------------------------------------------------------- eval
def _cmd_eval(args):
    task, model, state = _load_for_inference(args.checkpoint, args.model)
    config = state["config"]
    dataset = root = None
    if args.dataset is not None:
        dataset, root = _dataset_name(args.dataset, task)
    text = task.evaluate(model, config, args.split, dataset, args.data_root or root)
    print(f"{config['recipe']['model']} ({args.checkpoint}, epoch {state['epoch']}) {text}")
    return 0


# ----------------------------------------------------------------------------- predict
def _cmd_predict(args):
    from ember.train.tasks import TASKS, get_task
    task, model, state = _load_for_inference(args.checkpoint, args.model)
    given = {"topk": args.topk, "out": args.out, "score_thresh": args.score_thresh}
    for name, value in given.items():
        if value is not None and name not in task.predict_options:
            users = [t for t in TASKS if name in get_task(t).predict_options]
            raise CliError(f"--{name.replace('_', '-')} applies to {' and '.join(users)}, not to "
                           f"this {task.name} checkpoint")
    task.print_predictions(model, state["config"], args, sys.stdout, sys.stderr)
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


# ----------------------------------------------------------------------------- explain
def _out_folder(path):
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise CliError(f"cannot create folder {path}: {e.strerror or e}") from None
    return path


def _interpret_errors(command):
    """Run ``command()``; the one-line ``ValueError`` of ``ember.interpret`` (a layer that
    does not exist, a target out of range, CAM without a global pool) becomes a CliError."""
    try:
        return command()
    except ValueError as e:
        raise CliError(str(e)) from None


def _classifier_only(task, args):
    """explain and visualize read class scores: refuse the checkpoints of other tasks."""
    if task.name != "classification":
        raise CliError(f"{args.checkpoint} is a {task.name} model; ember {args.command} "
                       f"explains classifiers only")


def _cmd_explain(args):
    import numpy as np

    import ember
    from ember.interpret import figures
    from ember.interpret.heatmaps import top_classes
    task, model, state = _load_for_inference(args.checkpoint, args.model)
    _classifier_only(task, args)
    config = state["config"]
    pre, classes = config["preprocessing"], config["classes"]
    if not 1 <= args.topk <= len(classes):
        raise CliError(f"--topk must lie in [1, {len(classes)}], got {args.topk}")
    if args.target is not None and not 0 <= args.target < len(classes):
        raise CliError(f"--target {args.target} is out of range: the model has "
                       f"{len(classes)} classes (0 to {len(classes) - 1})")
    batch, notes = task.load_images(config, args.images, args.invert)
    out = _out_folder(args.out)
    stems = [os.path.splitext(os.path.basename(path))[0] for path in args.images]
    if len(set(stems)) < len(stems):            # a/x.png and b/x.png: number the figures
        stems = [f"{stem}-{i}" for i, stem in enumerate(stems)]
    paths = [os.path.join(out, f"{stem}-{args.method}.png") for stem in stems]
    result = _interpret_errors(lambda: figures.explanations(
        model, np.concatenate(batch), args.method, paths, args.images, classes,
        target=args.target, layer=args.layer, mean=pre["mean"], std=pre["std"],
        generator=ember.Generator().manual_seed(args.seed)))
    for i, path in enumerate(args.images):
        for note in notes[i]:
            print(f"note: {path}: {note}", file=sys.stderr)
        top = ", ".join(f"{classes[c]} ({result.probabilities[i, c]:.3f})"
                        for c in top_classes(result.probabilities[i:i + 1], args.topk)[0])
        where = f" at {result.layer}" if result.layer else ""
        print(f"{path}: {top}; {args.method}{where} for class {classes[result.targets[i]]} "
              f"-> {paths[i]}")
    return 0


# --------------------------------------------------------------------------- visualize
def _cmd_visualize(args):
    import ember
    from ember.interpret import figures
    wanted = [args.filters, args.activations, args.tsne, args.pca, args.patches, args.dream]
    if not any(wanted):
        raise CliError("nothing to draw: give --filters, --activations IMAGE, --tsne, --pca, "
                       "--patches or --dream IMAGE")
    if args.limit < 3:
        raise CliError(f"--limit must be at least 3, got {args.limit}")
    if args.dream_size < 1:
        raise CliError(f"--dream-size must be positive, got {args.dream_size}")
    task, model, state = _load_for_inference(args.checkpoint, args.model)
    _classifier_only(task, args)
    config = state["config"]
    pre = config["preprocessing"]
    mean, std = pre["mean"], pre["std"]
    out = _out_folder(args.out)
    written = []

    def layer_or(default):
        if args.layer is not None:
            return args.layer
        if default is None:
            raise CliError(f"{config['recipe']['model']} has no convolution; name a layer "
                           f"with --layer")
        return default

    def draw():
        if args.filters:
            written.append(figures.filters(model, config["input_shape"],
                                           os.path.join(out, "filters.png")))
        if args.activations:
            batch, _ = task.load_images(config, [args.activations], "auto")
            written.append(figures.activations(model, batch[0],
                                               layer_or(figures.first_conv_layer(model)),
                                               os.path.join(out, "activations.png")))
        if args.tsne or args.pca or args.patches:
            from ember.train.recipes import Recipe
            data = task.load_data(Recipe.from_dict(config["recipe"]), preprocessing=pre)
            images, labels = (a[:args.limit] for a in data[args.split])
            if len(labels) < 3:
                raise CliError(f"the {args.split} split has {len(labels)} images; t-SNE, PCA "
                               f"and patches need at least 3")
            for method in [m for m, on in (("tsne", args.tsne), ("pca", args.pca)) if on]:
                written.append(figures.embedding(model, images, labels, config["classes"],
                                                 os.path.join(out, f"{method}.png"), method,
                                                 mean, std, seed=args.seed))
            if args.patches:
                written.append(figures.patches(model, images,
                                               layer_or(figures.last_conv_layer(model)),
                                               os.path.join(out, "patches.png"),
                                               mean=mean, std=std))
        if args.dream:
            batch, _ = task.load_images(config, [args.dream], "no", longer_side=args.dream_size)
            path = os.path.join(out, "dream.png")
            figures.dream(model, batch[0], layer_or(figures.last_conv_layer(model)), path,
                          tile=tuple(pre["size"]), mean=mean, std=std,
                          generator=ember.Generator().manual_seed(args.seed))
            written.append(path)

    _interpret_errors(draw)
    for path in written:
        print(f"wrote {path}")
    return 0


# ---------------------------------------------------------------------------- datasets
def _cmd_datasets(args):
    from ember.train.data import HAS_TEST_SPLIT, split_sizes
    from ember.train.recipes import MAIN_JOB
    from ember.vision.datasets import available
    cli_names = {"MNISTSample": "mnist-sample", "Digits": "digits", "MNIST": "mnist",
                 "FashionMNIST": "fashion-mnist", "KMNIST": "kmnist", "CIFAR10": "cifar10",
                 "CIFAR100": "cifar100", "ImageFolder": "folder", "MNISTSegment": "mnist-segment",
                 "SegmentationFolder": "PATH", "MNISTDetection": "mnist-detect"}
    for info in available():
        name = cli_names.get(info.name)
        sizes = ", ".join(f"{k} {v:,}" for k, v in info.sizes.items()) or "your data"
        shape = "x".join(map(str, info.image_shape)) if info.image_shape else "any size"
        task = "" if info.task == MAIN_JOB.task else f"--task {info.task} "
        usage = f"{task}--dataset {name}" if name else \
            f"ember.vision.datasets only ({'2-D points' if info.image_shape == (2,) else 'Python'})"
        print(f"{info.name:<13} {info.source:<24} {shape:<9} {sizes}")
        print(f"{'':<13} {info.description}; {usage}")
        if name and info.sizes and info.task != MAIN_JOB.task:
            print(f"{'':<13} ember train uses its own splits: "
                  + " / ".join(f"{v:,} {k}" for k, v in info.sizes.items()))
        elif name and info.sizes:
            has_test = name in HAS_TEST_SPLIT
            total = info.sizes["train"] if has_test else sum(info.sizes.values())
            train, val, test = split_sizes(total, MAIN_JOB.val_split, MAIN_JOB.test_fraction,
                                           has_test)
            test = info.sizes["test"] if has_test else test
            print(f"{'':<13} ember train splits it: {train:,} train / {val:,} val / "
                  f"{test:,} test")
        if info.files:
            print(f"{'':<13} files under --data-root: {', '.join(info.files)}")
    return 0


# ----------------------------------------------------------------------------- summary
def _cmd_summary(args):
    import ember
    from ember.train.recipes import ModelError
    from ember.train.tasks import get_task, task_of_model
    from ember.vision.models import default_input_size
    if args.input_size is None:
        try:
            shape = (1, 28, 28) if args.model == "mlp" else default_input_size(args.model)
        except ValueError:
            raise ModelError(f"unknown model {args.model!r}; choose mlp or one of the names "
                             f"ember.vision.models.list_models() gives") from None
        if len(shape) != 3:
            raise CliError(f"model {args.model} takes flattened inputs of shape (N, "
                           f"{shape[0]}), not images; use ember.summary(model, (1, "
                           f"{shape[0]})) from Python")
        n, c, h, w = 1, *shape
    else:
        n, c, h, w = args.input_size
    if min(n, c, h, w) < 1:
        raise CliError(f"--input-size must be positive, got {n} {c} {h} {w}")
    task = get_task(task_of_model(args.model))
    model, wanted = task.build_named_model(args.model, args.num_classes, c, (h, w))
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
    _, model, state = _load_for_inference(path, args.model)
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
             "inspect": _cmd_inspect, "explain": _cmd_explain, "visualize": _cmd_visualize,
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
    from ember.train.recipes import RecipeError
    try:
        _set_threads(getattr(args, "threads", 0))
        return _COMMANDS[args.command](args)
    except _user_errors() as e:
        message = " ".join(str(e).split()) or type(e).__name__
        if isinstance(e, RecipeError) and e.field is not None:   # the field as its flag
            message = f"--{e.field.replace('_', '-')}{message[len(e.field):]}"
        print(f"ember {args.command}: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"ember {args.command}: interrupted", file=sys.stderr)
        return 130
