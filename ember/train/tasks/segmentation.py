"""Semantic segmentation: a class for every pixel (lectures 003/004; inventory E8, C2, C14).

``ember train --task segmentation --model unet --dataset mnist-segment`` trains the lecture's
U-Net to label the digits of scenes made of real MNIST digits. The pieces:

- data: ``mnist-segment`` (``ember.vision.datasets.MNISTSegment``: 2,000 train / 200 val /
  500 test scenes of 64x64 pixels, from disjoint pools of source digits; 11 classes,
  background and the ten digits) or the path of a folder with ``images/`` and ``masks/``
  (``SegmentationFolder``; split like classification's image folders, every image resized
  to the first one's size — bilinear — and every mask with nearest neighbour). Images are
  normalised as classification's (per-channel mean and std of the training split), batch by
  batch from uint8 arrays; ``--augment basic`` (not the default here) shifts image and
  mask together by up to 2 pixels per 28 of image side (the uncovered border is ignored in
  the loss);
- model: a name of ``ember.vision.models.segmentation``; the lecture models get the small
  widths of ``CPU_WIDTHS`` (the same classes as the full-size builders, narrower), the
  torchvision models their own size (grey images are fed to them as three equal channels);
- loss: per-pixel cross-entropy (lecture 003 "在每个像素上做 F-分类交叉熵损失", inventory C2)
  with ``ignore_index=255`` and class weights from median frequency balancing of the
  training masks, tempered by a square root (``ember.vision.losses.median_frequency_weights``
  with ``power=0.5``: on mnist-segment the background, 93% of the pixels, weighs 0.2 and a
  digit 0.85 to 1.34), plus 0.5 times the auxiliary head's loss when a model has one
  (torchvision's reference recipe). Exploratory PyTorch runs without augmentation (1,500
  steps) reported a test mIoU of 0.82 with these weights, 0.75 with the untempered ones
  (background 0.04: too many background pixels given to the digits) and 0.57 without
  weights (the first thousand steps go to "everything is background"); not reproduced:
  Ember's runs of a 12-epoch recipe at 3e-3 on the narrower U-Net (base width 8, 4 levels),
  whose steps equal PyTorch's from the same weights, reach a test mIoU of 0.15-0.16, and
  0.88 with 40 epochs at 0.01; the default recipe (base width 16, 3 levels, 11 epochs at a
  peak of 5e-3, no shifts) reaches 0.83 in under 5 minutes (README, "Semantic segmentation");
- metrics: pixel accuracy and mean IoU streamed over the batches
  (``ember.vision.metrics.SegmentationMetrics``: history columns ``train_pixel_acc``,
  ``val_miou``, ...); the best checkpoint has the highest validation mIoU;
- run folder: ``test_metrics.json`` (pixel accuracy, mean and frequency-weighted IoU, IoU and
  pixel count per class, confusion matrix), ``iou_per_class.csv`` and ``iou_per_class.png``,
  ``curves.png`` (loss and mIoU), ``overlays.png`` (test images beside their true and
  predicted masks);
- ``ember eval``: pixel accuracy, mIoU and the per-class table on a split; ``ember predict``:
  for each image ``NAME_mask.png`` (a palette PNG: pixel values are the class labels, shown
  in Pascal VOC's colours) and ``NAME_legend.png`` (the image, the mask, their overlay and a
  legend of the classes with their share of the pixels).
"""
import csv
import io
import json
import os

import numpy as np

import ember
from ember.train import data as _data
from ember.train import plots as _plots
from ember.train.recipes import ModelError

__all__ = ["SegmentationTask", "CPU_WIDTHS", "build_segmentation_model", "predict_labels"]

IGNORE_INDEX = 255
DATASETS = ("mnist-segment", "folder")
SPLITS = ("train", "val", "test")
# the lecture models: built with the data's channels (torchvision's take 3)
LECTURE_MODELS = ("unet", "segnet", "fcn32s", "fcn16s", "fcn8s")

# the widths ``ember train`` builds the lecture models with (full size: ``ember summary``)
CPU_WIDTHS = {
    "unet": {"base_width": 16, "depth": 3, "padded": True, "batch_norm": True},
    "segnet": {"widths": (16, 32, 64, 64, 64), "depths": (2, 2, 3, 3, 3)},
    "fcn32s": {"widths": (16, 32, 64, 128, 128), "fc_width": 256},
    "fcn16s": {"widths": (16, 32, 64, 128, 128), "fc_width": 256},
    "fcn8s": {"widths": (16, 32, 64, 128, 128), "fc_width": 256},
}
# the class weights of the loss: median frequency balancing, tempered (see the docstring)
WEIGHT_POWER = 0.5
# images are padded to a multiple of this before a model sees them in ``ember predict``
# (U-Net's and SegNet's pools need sizes divisible by 2 ** depth)
SIZE_MULTIPLE = 32


def _main_output(output):
    """The score tensor of a model's output: itself, or ``output["out"]`` for torchvision's
    models, which return ``{"out": ..., "aux": ...}``."""
    return output["out"] if isinstance(output, dict) else output


def build_segmentation_model(name, num_classes, channels, size, widths=None, keep_size=True):
    """The segmentation model ``name`` for ``channels`` x ``size`` images and
    ``num_classes`` classes (None: the builder's default), and the channels it expects (3
    for the torchvision models; grey data is then given as three equal channels).
    ``widths`` are keyword arguments for the builder (default ``CPU_WIDTHS[name]`` for the
    lecture models). A trial forward pass checks that the model takes the images and, with
    ``keep_size``, that its scores have the input's height and width (the unpadded U-Net's
    do not); if not, ``ModelError``."""
    from ember.vision.models import segmentation
    if name not in segmentation.BUILDERS:
        raise ModelError(f"unknown segmentation model {name!r}; choose one of "
                         f"{', '.join(segmentation.BUILDERS)}")
    builder = getattr(segmentation, name)
    options = dict(CPU_WIDTHS.get(name, {}) if widths is None else widths)
    classes = {} if num_classes is None else {"num_classes": num_classes}
    if name in LECTURE_MODELS:
        model, wanted = builder(in_channels=channels, **classes, **options), channels
    else:
        if channels not in (1, 3):
            raise ModelError(f"model {name} expects 3-channel images, the data has {channels}")
        model, wanted = builder(**classes, **options), 3
    h, w = size
    model.eval()
    try:
        with ember.no_grad():
            out = _main_output(model(ember.zeros(1, wanted, h, w)))
    except (ValueError, RuntimeError, IndexError) as e:
        raise ModelError(f"model {name} does not accept {wanted}x{h}x{w} images: "
                         f"{str(e).splitlines()[0]}") from None
    if out.ndim != 4 or (keep_size and tuple(out.shape[-2:]) != (h, w)):
        raise ModelError(f"model {name} returns shape {tuple(out.shape)[1:]} for {wanted}x{h}x{w} "
                         f"inputs; segmentation needs class scores of the input's size")
    model.train()
    return model, wanted


def predict_labels(model, images, batch_size=64):
    """The per-pixel argmax ``(N, H, W)`` of the model's scores for normalised images
    ``(N, C, H, W)`` (float32 NumPy), in batches, in eval mode under ``no_grad``."""
    labels = []
    model.eval()
    with ember.no_grad():
        for i in range(0, len(images), batch_size):
            scores = _main_output(model(ember.from_numpy(images[i:i + batch_size])))
            labels.append(scores._data.argmax(1))
    if not labels:
        return np.zeros((0,) + images.shape[2:], np.int64)
    return np.concatenate(labels)


class SegmentationArrays(ember.utils.data.Dataset):
    """uint8 images ``(N, H, W, C)`` and label masks ``(N, H, W)`` held in memory; a batch
    (``__getitems__``) is normalised with the preprocessing and, with ``augment="basic"``,
    shifted at random — the image and its mask by the same offsets (``BatchRandomCrop`` on
    the image channels and the mask stacked together). Pixels the shift uncovers are black
    in the image and ``ignore_index`` in the mask."""

    def __init__(self, images, masks, preprocessing, augment="none", ignore_index=IGNORE_INDEX):
        from ember.vision.transforms import BatchRandomCrop
        if augment not in ("none", "basic"):
            raise ValueError(f"SegmentationArrays: augment must be 'none' or 'basic', got "
                             f"{augment!r}")
        self.images, self.masks, self.preprocessing = images, masks, preprocessing
        self.augment = augment
        shift = max(1, round(2 * min(images.shape[1:3]) / 28))    # as classification's shifts
        black = [-m / s for m, s in zip(preprocessing["mean"], preprocessing["std"])]
        self.transform = (BatchRandomCrop(images.shape[1:3], padding=shift,
                                          fill=black + [float(ignore_index)])
                          if augment == "basic" else None)

    def __len__(self):
        return len(self.masks)

    def __getitem__(self, index):
        images, masks = self.__getitems__([index])
        return images[0], masks[0]

    def __getitems__(self, indices):
        indices = np.asarray(indices, dtype=np.int64)
        x = _data.preprocess_arrays(self.images[indices], self.preprocessing)
        y = self.masks[indices]
        if self.transform is not None:
            stacked = self.transform(np.concatenate([x, y[:, None].astype(np.float32)], 1))
            x, y = np.ascontiguousarray(stacked[:, :-1]), stacked[:, -1]
        return ember.from_numpy(x), ember.from_numpy(y.astype(np.int64))


def _collate(batch):
    return batch


def _resize_to(images, masks, size):
    """Lists of images ``(H, W, C)`` and masks ``(H, W)`` as two arrays of ``size``: images
    resized bilinearly (antialiased), masks with nearest neighbour (labels stay labels)."""
    from ember.vision.transforms import InterpolationMode
    from ember.vision.transforms import functional as TF
    size = list(size)
    images = [image if list(image.shape[:2]) == size else
              TF.resize(image, size, InterpolationMode.BILINEAR) for image in images]
    masks = [mask if list(mask.shape) == size else TF.resize(mask, size, InterpolationMode.NEAREST)
             for mask in masks]
    return np.stack(images), np.stack(masks)


class SegmentationTask:
    """The segmentation task (see ``ember.train.tasks`` for the protocol)."""
    name = "segmentation"
    monitor = ("val_miou", "max")
    datasets = DATASETS
    default_dataset = "mnist-segment"
    predict_options = ("out",)          # the ``ember predict`` options that apply

    def recipe_defaults(self, model=None):
        """The recipe fields whose defaults differ from classification's main job."""
        # with CPU_WIDTHS' U-Net (base width 16, 3 levels) 11 epochs at a peak of 5e-3 name the
        # digits within 5 minutes on two cores (test mIoU 0.83); a peak of 1e-2 stops at 0.79,
        # 2e-2 learns slower still, and the base-width-8 net needs 40 epochs (README)
        return {"dataset": "mnist-segment", "model": model or "unet", "epochs": 11,
                "batch_size": 16, "optimizer": "adam", "lr": 5e-3, "weight_decay": 0.0,
                "augment": "none"}

    def __init__(self):
        # set by load_data, once the classes and the training masks are known
        self.metrics = None
        self.class_weights = None

    def loss_fn(self, output, target):
        """Per-pixel cross-entropy weighted by ``class_weights`` (tempered median frequency
        balancing of the training masks), ignoring label 255, plus half the auxiliary
        head's."""
        from ember.nn import functional as F
        outputs = output if isinstance(output, dict) else {"out": output}
        weight = None if self.class_weights is None else ember.from_numpy(self.class_weights)
        losses = {name: F.cross_entropy(scores, target, weight=weight, ignore_index=IGNORE_INDEX)
                  for name, scores in outputs.items()}
        return losses["out"] + 0.5 * losses["aux"] if "aux" in losses else losses["out"]

    def step_fn(self, model, images, masks):
        """The trainer's step: the loss of the model's output, and the predicted labels
        ``(N, H, W)`` uint8 as what the metrics see and ``evaluate(return_outputs=True)`` keeps
        (not the scores, which take ``num_classes`` times the memory)."""
        output = model(images)
        return self.loss_fn(output, masks), _main_output(output)._data.argmax(1).astype(np.uint8)

    # ------------------------------------------------------------------------- data
    def _arrays(self, recipe, only=SPLITS):
        """``(splits {name: (images uint8 (N, H, W, C), masks uint8 (N, H, W))}, classes)``
        for the splits named in ``only`` (a folder is read whole, to split it)."""
        from ember.vision import datasets
        if recipe.dataset == "mnist-segment":
            splits = {}
            for split in only:
                images, masks = datasets.MNISTSegment(split=split).arrays()
                splits[split] = (images[..., None], masks)
            return splits, list(datasets.MNISTSegment.classes)
        if recipe.dataset != "folder":
            raise _data.DataError(f"unknown segmentation dataset {recipe.dataset!r}; choose one of "
                                  f"{', '.join(DATASETS[:-1])} or give the path of a folder with "
                                  f"images/ and masks/")
        if recipe.data_root is None:
            raise _data.DataError("a segmentation folder needs --data-root (the folder holding "
                                  "images/ and masks/)")
        try:
            folder = datasets.SegmentationFolder(recipe.data_root)
            images, masks = [], []
            first = _data._open_image(folder.images[0])
            mode = "L" if first.mode in ("1", "L", "LA", "I", "I;16", "F") else "RGB"
            for image_path, mask_path in zip(folder.images, folder.masks):
                image = np.asarray(_data._open_image(image_path).convert(mode))
                mask = folder.read_mask(mask_path)
                if image.shape[:2] != mask.shape:
                    raise _data.DataError(f"mask {mask_path} is {mask.shape[1]}x{mask.shape[0]} "
                                          f"but its image {image_path} is {image.shape[1]}x"
                                          f"{image.shape[0]} (width x height)")
                images.append(image[..., None] if image.ndim == 2 else image)
                masks.append(mask.astype(np.uint8))
        except (datasets.DatasetNotFoundError, datasets.DatasetFormatError, ValueError) as e:
            raise _data.DataError(_data._first_line(e)) from None
        images, masks = _resize_to(images, masks, images[0].shape[:2])
        train, val, test = _data.split_indices(len(masks), recipe.val_split, recipe.test_fraction,
                                               recipe.split_seed, False)
        parts = {"train": train, "val": val, "test": test}
        return {k: (images[parts[k]], masks[parts[k]]) for k in only}, folder.classes

    def load_data(self, recipe, preprocessing=None, channels=None):
        """The splits as uint8 arrays (``{"train": (images (N, H, W, C), masks (N, H, W)),
        "val": ..., "test": ..., "classes": [...], "preprocessing": {...}}``), with the
        preprocessing of the checkpoint or fitted on the training images."""
        from functools import partial

        from ember.vision.losses import median_frequency_weights
        from ember.vision.metrics import SegmentationMetrics
        splits, classes = self._arrays(recipe)
        train_images = splits["train"][0]
        if preprocessing is None:
            preprocessing = _data.fit_preprocessing(train_images, channels)
        elif channels is not None and channels != preprocessing["channels"]:
            raise _data.DataError(f"the checkpoint's images have {preprocessing['channels']} "
                                  f"channel(s), the model expects {channels}")
        _data.check_image_size(train_images, preprocessing, f"dataset {recipe.dataset}")
        self.metrics = partial(SegmentationMetrics, len(classes), IGNORE_INDEX)
        self.class_weights = median_frequency_weights(splits["train"][1], len(classes),
                                                      IGNORE_INDEX, power=WEIGHT_POWER)
        return {**splits, "classes": classes, "preprocessing": preprocessing}

    def default_model(self, data):
        return "unet"

    def build_model(self, recipe, data):
        """The recipe's model (``build_segmentation_model``) for the data's classes, channels
        and size; grey data for a 3-channel model gets a 3-channel preprocessing."""
        pre = data["preprocessing"]
        model, wanted = build_segmentation_model(recipe.model, len(data["classes"]),
                                                 pre["channels"], tuple(pre["size"]))
        if wanted != pre["channels"]:
            pre = dict(pre, channels=wanted, mean=pre["mean"] * wanted, std=pre["std"] * wanted)
            data = dict(data, preprocessing=pre)
        return model, data

    def model_names(self):
        from ember.vision.models import segmentation
        return list(segmentation.BUILDERS)

    def build_named_model(self, name, num_classes, channels, size):
        """``ember summary``: the full-size model ``name`` (not the CPU widths; the unpadded
        U-Net's output is smaller than its input)."""
        return build_segmentation_model(name, num_classes, channels, size, widths={},
                                        keep_size=False)

    def config(self, data):
        pre = data["preprocessing"]
        return {"preprocessing": pre, "classes": data["classes"], "ignore_index": IGNORE_INDEX,
                "class_weights": [float(w) for w in self.class_weights],
                "input_shape": [pre["channels"], *pre["size"]],
                "splits": {k: int(len(data[k][1])) for k in ("train", "val", "test")}}

    def describe(self, data):
        splits = {k: len(data[k][1]) for k in ("train", "val", "test")}
        h, w = data["preprocessing"]["size"]
        return (f"{splits['train']} train / {splits['val']} val / {splits['test']} test "
                f"{h}x{w} images, {len(data['classes'])} classes")

    def loaders(self, recipe, data):
        """``(train, val or None, test)``: shuffled, augmented training batches of the
        recipe's size; evaluation batches of 64."""
        from ember.utils.data import DataLoader
        pre = data["preprocessing"]
        train = DataLoader(SegmentationArrays(*data["train"], pre, recipe.augment),
                           batch_size=recipe.batch_size, shuffle=True, collate_fn=_collate)

        def evaluation(split):
            return DataLoader(SegmentationArrays(*data[split], pre), batch_size=64,
                              collate_fn=_collate)
        val = evaluation("val") if len(data["val"][1]) else None
        return train, val, evaluation("test")

    # ---------------------------------------------------------------------- results
    def report(self, out, trainer, model, data, test, best_epoch):
        """Write ``test_metrics.json``, ``iou_per_class.csv`` and the pictures; return the
        report and the summary line."""
        from ember.train.callbacks import write_text_atomic
        from ember.vision.metrics import confusion_matrix, segmentation_report
        classes = data["classes"]
        predictions, truths = test["scores"], test["targets"]
        matrix = confusion_matrix(predictions, truths, len(classes), IGNORE_INDEX)
        report = segmentation_report(matrix, classes)
        report.update(loss=test["loss"], epoch=best_epoch)
        write_text_atomic(os.path.join(out, "test_metrics.json"),
                          json.dumps(report, indent=1) + "\n")
        table = io.StringIO()
        writer = csv.writer(table, lineterminator="\n")
        writer.writerow(["class", "iou", "pixels"])
        for name, iou, pixels in zip(classes, report["iou"], report["pixels"]):
            writer.writerow([name, "" if iou is None else f"{iou:.6f}", pixels])
        write_text_atomic(os.path.join(out, "iou_per_class.csv"), table.getvalue())
        _plots.plot_history(trainer.history, os.path.join(out, "curves.png"), metric="miou",
                            name="mean IoU", percent=False)
        _plots.plot_class_iou(classes, report["iou"], os.path.join(out, "iou_per_class.png"))
        _plots.plot_segmentation(data["test"][0], truths, predictions, classes,
                                 os.path.join(out, "overlays.png"))
        summary = (f"test mIoU: {report['mean_iou']:.4f}, pixel accuracy "
                   f"{100 * report['pixel_accuracy']:.2f}% ({len(truths)} held-out images; model "
                   f"of epoch {best_epoch}, best validation mIoU)")
        return report, summary

    def evaluate(self, model, config, split, dataset=None, data_root=None):
        """``ember eval``: pixel accuracy, mean and frequency-weighted IoU and the per-class
        IoU table of ``model`` on a split, as text."""
        from ember.train.recipes import Recipe
        from ember.vision.metrics import (confusion_matrix, format_segmentation_report,
                                          segmentation_report)
        recipe = Recipe.from_dict(config["recipe"])
        if dataset is not None:
            recipe.dataset = dataset
        if data_root is not None:
            recipe.data_root = data_root
        splits, classes = self._arrays(recipe, only=(split,))
        images, masks = splits[split]
        if len(classes) != len(config["classes"]):
            raise _data.DataError(f"dataset {recipe.dataset} has {len(classes)} classes but the "
                                  f"model was trained on {len(config['classes'])}")
        _data.check_image_size(images, config["preprocessing"], f"dataset {recipe.dataset}")
        if not len(masks):
            raise _data.DataError(f"the {split} split of {recipe.dataset} is empty")
        labels = predict_labels(model, _data.preprocess_arrays(images, config["preprocessing"]))
        matrix = confusion_matrix(labels, masks.astype(np.int64), len(config["classes"]),
                                  IGNORE_INDEX)
        report = segmentation_report(matrix, config["classes"])
        return (f"on {recipe.dataset} {split} split: {len(masks)} images\n"
                f"{format_segmentation_report(report)}")

    def predict(self, model, config, paths, out_dir=None, invert="auto"):
        """``ember predict``: for each image file, its predicted mask written as
        ``NAME_mask.png`` (palette PNG of the labels) and ``NAME_legend.png`` in ``out_dir``
        (default: the image's folder). Returns ``[(path, {"mask": file, "legend": file,
        "classes": {name: share of pixels}}, notes)]``.

        An image is converted to the training channels (and, with ``invert="auto"``, a grey
        image whose border is the opposite shade of the training images' is inverted, as in
        classification), normalised, padded at its edges to a multiple of 32 pixels for the
        model, and the prediction is cropped back to the image's own size."""
        from PIL import Image

        from ember.vision.datasets.segmentation import palette
        if out_dir is not None and not os.path.isdir(out_dir):
            raise _data.DataError(f"output folder {out_dir} does not exist")
        classes = config["classes"]
        pre = config["preprocessing"]
        results = []
        for path in paths:
            notes = []
            image = _data._open_image(path)
            own = dict(pre, size=[image.height, image.width])        # no resize: any size works
            x = _data.preprocess_image(image, own, invert=invert, notes=notes)
            h, w = x.shape[-2:]
            padded_h, padded_w = (-(-side // SIZE_MULTIPLE) * SIZE_MULTIPLE for side in (h, w))
            if (padded_h, padded_w) != (h, w):
                x = np.pad(x, ((0, 0), (0, 0), (0, padded_h - h), (0, padded_w - w)), mode="edge")
                notes.append(f"padded from {w}x{h} to {padded_w}x{padded_h} for the model "
                             f"(edge pixels repeated), prediction cropped back")
            labels = predict_labels(model, np.ascontiguousarray(x))[0, :h, :w]
            stem = os.path.splitext(os.path.basename(path))[0]
            folder = out_dir if out_dir is not None else os.path.dirname(os.path.abspath(path))
            mask_path = os.path.join(folder, f"{stem}_mask.png")
            legend_path = os.path.join(folder, f"{stem}_legend.png")
            mask = Image.fromarray(labels.astype(np.uint8), mode="P")
            mask.putpalette(palette().reshape(-1).tolist())
            _save_png(mask, mask_path)
            shown = np.asarray(image.convert("L" if pre["channels"] == 1 else "RGB"))
            _plots.plot_mask_legend(shown[..., None] if shown.ndim == 2 else shown, labels,
                                    classes, legend_path)
            present, counts = np.unique(labels, return_counts=True)
            shares = {classes[k]: float(c / labels.size) for k, c in zip(present, counts)}
            results.append((path, {"mask": mask_path, "legend": legend_path, "classes": shares},
                            notes))
        return results

    def print_predictions(self, model, config, args, stream, notes_stream):
        """``ember predict``: each image's mask and legend written (into ``--out`` or the
        image's folder) and one line per image naming them with the share of each class."""
        for path, found, notes in self.predict(model, config, args.images, args.out,
                                               args.invert):
            for note in notes:
                print(f"note: {path}: {note}", file=notes_stream)
            shares = sorted(found["classes"].items(), key=lambda item: -item[1])
            print(f"{path}: mask {found['mask']}, legend {found['legend']}; pixels: "
                  + ", ".join(f"{name} {100 * share:.1f}%" for name, share in shares),
                  file=stream)


def _save_png(image, path):
    """Write a PIL image as PNG through a temporary file and ``os.replace``."""
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        image.save(tmp, format="PNG")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
