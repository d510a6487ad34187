"""Object detection and instance segmentation: ``ember train --task detection``.

Data: ``mnist-detect`` (``ember.vision.datasets.MNISTDetection``): 64x64 canvases with 1 to 6
real MNIST digits, their boxes, classes (``1 + digit``) and masks; 2,000 training, 200
validation and 500 test canvases whose digits come from disjoint pools of the bundled images
(the splits are fixed by the pools: ``--val-split 0`` drops the validation set, the other
split options do not apply). Models (``--model``): ``fasterrcnn_small`` (default),
``maskrcnn_small`` and ``yolo_small`` (``ember.vision.models.detection``), all with
torchvision's convention: ``model(images, targets)`` gives the dict of losses that the step
sums, ``model(images)`` in evaluation the detections.

Metrics (``ember.vision.metrics``): the training phase reports every loss component
(``train_loss_classifier``, ``train_loss_box_reg``, ...); the validation phase the COCO
``map`` (AP@[.5:.95], the best checkpoint's criterion), ``map_50`` and ``map_75``, and for
Mask R-CNN the same for masks (``mask_map``, ...). The run folder gets ``test_metrics.json``
(the COCO summaries, VOC AP@0.5 per class), ``curves.png`` (losses and mAP per epoch) and
``detections.png`` (test canvases with the predicted boxes, labels, scores and masks, and the
true boxes in white). ``ember eval`` prints pycocotools' table; ``ember predict`` draws the
detections into a PNG and prints them as JSON.
"""
import json
import os

import numpy as np

import ember
from ember.train.data import DataError
from ember.train.recipes import ModelError
from ember.vision.metrics.detection import (MeanAveragePrecision, format_coco_summary,
                                            voc_evaluate)

__all__ = ["DetectionTask", "DetectionMetrics", "draw_detections", "MODELS"]

DATASET = "mnist-detect"
# model name -> (builder in ember.vision.models.detection, recipe defaults)
MODELS = {
    "fasterrcnn_small": ("ember.vision.models.detection.small:fasterrcnn_small",
                         {"epochs": 8, "batch_size": 16, "lr": 0.02, "weight_decay": 1e-4}),
    "maskrcnn_small": ("ember.vision.models.detection.small:maskrcnn_small",
                       {"epochs": 8, "batch_size": 16, "lr": 0.02, "weight_decay": 1e-4}),
    "yolo_small": ("ember.vision.models.detection.yolo:yolo_small",
                   {"epochs": 8, "batch_size": 16, "lr": 0.01, "weight_decay": 1e-4}),
}
_COMMON_DEFAULTS = {"optimizer": "sgd", "momentum": 0.9, "schedule": "onecycle",
                    "augment": "none"}
_SIZES = {"train": 2000, "val": 200, "test": 500}
_EVAL_BATCH = 50


def _builder(name):
    import importlib
    module, attr = MODELS[name][0].split(":")
    return getattr(importlib.import_module(module), attr)


def _numpy_detections(detections):
    """Detections as NumPy dicts; masks as booleans ``(K, H, W)`` (probability > 0.5)."""
    out = []
    for d in detections:
        item = {k: v.detach().numpy() for k, v in d.items()}
        if "masks" in item:
            masks = item["masks"]
            item["masks"] = (masks[:, 0] if masks.ndim == 4 else masks) > 0.5
        out.append(item)
    return out


class DetectionMetrics:
    """The detection task's streaming metric: loss components in training (the step gives a
    dict of floats), COCO mAP of boxes (and masks with ``masks=True``) in evaluation."""

    def __init__(self, masks=False):
        self.sums, self.seen = {}, 0
        self.boxes = MeanAveragePrecision()
        self.masks = MeanAveragePrecision(iou_type="segm") if masks else None
        self._cache = None

    def update(self, output, target):
        if isinstance(output, dict):
            n = len(target)
            for name, value in output.items():
                self.sums[name] = self.sums.get(name, 0.0) + value * n
            self.seen += n
            return
        targets = [{k: v for k, v in t.items() if k in ("boxes", "labels", "masks", "iscrowd")}
                   for t in target]
        self.boxes.update(output, targets)
        if self.masks is not None:
            self.masks.update(output, targets)
        self._cache = None

    def compute(self):
        out = {name: total / self.seen for name, total in self.sums.items()} if self.seen else {}
        if self.boxes.images:
            if self._cache is None:
                box = self.boxes.compute()
                self._cache = {"map": box["map"], "map_50": box["map_50"],
                               "map_75": box["map_75"]}
                if self.masks is not None:
                    mask = self.masks.compute()
                    self._cache.update(mask_map=mask["map"], mask_map_50=mask["map_50"],
                                       mask_map_75=mask["map_75"])
            out.update(self._cache)
        return out


def _collate(batch):
    images, targets = zip(*batch)
    return list(images), list(targets)


class _Scenes:
    """A list of ``(image, target)`` pairs as a dataset."""

    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        return self.items[index]


def _augmentation(recipe, size):
    """``basic``: a light large-scale jitter (x1 to x1.15, then a random 64x64 crop), which
    moves and enlarges the digits a little; boxes and masks follow."""
    from ember.vision.transforms import detection as T
    if recipe.augment == "none":
        return None
    return T.Compose([T.ScaleJitter(size, (1.0, 1.15)), T.RandomCrop(size, min_size=2.0)])


class DetectionTask:
    """The detection task (see ``ember.train.tasks`` for the protocol)."""
    name = "detection"
    monitor = ("val_map", "max")
    early_stopping = ("val_map", "max")
    loss_fn = None
    datasets = (DATASET,)
    default_dataset = DATASET
    predict_options = ("score_thresh", "out")   # the ``ember predict`` options that apply

    def __init__(self):
        self.metrics = DetectionMetrics

    def recipe_defaults(self, model=None):
        """The recipe fields this task sets when the user does not: per model, the epochs,
        batch size, learning rate and weight decay measured to reach the targets
        (``scripts/detection_mnist.py``), with SGD + momentum and a 1cycle schedule."""
        model = model or "fasterrcnn_small"
        if model not in MODELS:
            raise ModelError(f"unknown detection model {model!r}; choose one of "
                             f"{', '.join(MODELS)}")
        return {"model": model, "dataset": DATASET, **_COMMON_DEFAULTS, **MODELS[model][1]}

    @staticmethod
    def step_fn(model, images, targets):
        """Training: the sum of the model's losses, and their values for the metric;
        evaluation: no loss, the detections."""
        if model.training:
            losses = model(images, targets)
            return sum(losses.values()), {k: float(v.item()) for k, v in losses.items()}
        return None, _numpy_detections(model(images))

    # ------------------------------------------------------------------------- data
    def load_data(self, recipe, preprocessing=None, channels=None):
        """The mnist-detect splits as lists of ``(image, target)``."""
        from ember.vision.datasets.detection import MNISTDetection
        if recipe.dataset != DATASET:
            raise DataError(f"the detection task trains on {DATASET}, got dataset "
                            f"{recipe.dataset!r}")
        # pixel values in [0, 1] as they are (mean 0, std 1): the detectors normalise inside
        data = {"classes": list(MNISTDetection.classes),
                "preprocessing": {"channels": 1, "size": [64, 64], "background": 0.0,
                                  "mean": [0.0], "std": [1.0]}}
        for split in ("train", "val", "test"):
            length = 0 if split == "val" and recipe.val_split == 0 else _SIZES[split]
            dataset = MNISTDetection(split, length)
            data[split] = [dataset[i] for i in range(len(dataset))]
        # without validation canvases the best checkpoint is the one of the lowest training loss
        self.monitor = ("val_map", "max") if data["val"] else ("train_loss", "min")
        return data

    def default_model(self, data):
        return "fasterrcnn_small"

    def build_model(self, recipe, data):
        if recipe.model not in MODELS:
            raise ModelError(f"unknown detection model {recipe.model!r}; choose one of "
                             f"{', '.join(MODELS)}")
        pre = data["preprocessing"]
        model = _builder(recipe.model)(num_classes=len(data["classes"]),
                                       in_channels=pre["channels"])
        if recipe.model == "maskrcnn_small":
            self.metrics = lambda: DetectionMetrics(masks=True)
        return model, data

    def config(self, data):
        return {"preprocessing": data["preprocessing"], "classes": data["classes"],
                "input_shape": [data["preprocessing"]["channels"], *data["preprocessing"]["size"]],
                "splits": {k: len(data[k]) for k in ("train", "val", "test")}}

    def describe(self, data):
        return (f"{len(data['train'])} train / {len(data['val'])} val / {len(data['test'])} "
                f"test canvases")

    def loaders(self, recipe, data):
        from ember.utils.data import DataLoader
        transforms = _augmentation(recipe, tuple(data["preprocessing"]["size"]))
        train = (_Scenes(data["train"]) if transforms is None
                 else _Transformed(data["train"], transforms))
        train_loader = DataLoader(train, batch_size=recipe.batch_size, shuffle=True,
                                  collate_fn=_collate)

        def evaluation(split):
            return DataLoader(_Scenes(data[split]), batch_size=_EVAL_BATCH, collate_fn=_collate)
        return train_loader, (evaluation("val") if data["val"] else None), evaluation("test")

    # ---------------------------------------------------------------------- results
    def _report(self, predictions, targets, classes):
        strip = [{k: v for k, v in t.items() if k in ("boxes", "labels", "masks", "iscrowd")}
                 for t in targets]
        boxes = MeanAveragePrecision(class_metrics=True)
        boxes.update(predictions, strip)
        report = {"bbox": boxes.compute()}
        if predictions and "masks" in predictions[0]:
            masks = MeanAveragePrecision(iou_type="segm", class_metrics=True)
            masks.update(predictions, strip)
            report["segm"] = masks.compute()
        voc = voc_evaluate(predictions, strip, 0.5, "all_points")
        report["voc_ap50"] = {classes[c]: ap for c, ap in voc["ap"].items()}
        report["voc_map50"] = voc["map"]
        for kind in ("bbox", "segm"):
            if kind in report:
                per_class = report[kind]
                per_class["classes"] = [classes[c] for c in per_class["classes"]]
        report["images"] = len(targets)
        report["objects"] = int(sum(len(t["labels"]) for t in strip))
        return report

    def report(self, out, trainer, model, data, test, best_epoch):
        """``test_metrics.json``, ``curves.png`` and ``detections.png`` in ``out``."""
        from ember.train.callbacks import write_text_atomic
        report = self._report(test["scores"], test["targets"], data["classes"])
        report["epoch"] = best_epoch
        write_text_atomic(os.path.join(out, "test_metrics.json"),
                          json.dumps(report, indent=1) + "\n")
        plot_detection_history(trainer.history, os.path.join(out, "curves.png"))
        pictures = [(img, pred, tgt) for (img, tgt), pred in
                    zip(data["test"][:16], test["scores"][:16])]
        detection_grid(pictures, data["classes"], os.path.join(out, "detections.png"))
        box = report["bbox"]
        summary = (f"test mAP@.5 {box['map_50']:.3f}, mAP@[.5:.95] {box['map']:.3f}")
        if "segm" in report:
            summary += (f"; mask mAP@.5 {report['segm']['map_50']:.3f}, mask mAP@[.5:.95] "
                        f"{report['segm']['map']:.3f}")
        criterion = ("best validation mAP" if self.monitor[0] == "val_map"
                     else "lowest training loss")
        summary += (f" ({report['images']} held-out canvases, {report['objects']} digits; "
                    f"model of epoch {best_epoch}, {criterion})")
        return report, summary

    def evaluate(self, model, config, split, dataset=None, data_root=None):
        """``ember eval``: pycocotools' table for boxes (and masks) and VOC AP@0.5 per class."""
        from ember.train.recipes import Recipe
        recipe = Recipe.from_dict(config["recipe"])
        if dataset is not None:
            recipe.dataset = dataset
        recipe.val_split = 0.1
        data = self.load_data(recipe)
        items = data[split]
        if not items:
            raise DataError(f"the {split} split of {recipe.dataset} is empty")
        predictions = predict_items(model, [img for img, _ in items])
        report = self._report(predictions, [t for _, t in items], config["classes"])
        lines = [f"on {recipe.dataset} {split} split: {len(items)} canvases, "
                 f"{report['objects']} digits", format_coco_summary(report["bbox"], "bbox")]
        if "segm" in report:
            lines.append(format_coco_summary(report["segm"], "segm"))
        lines.append("VOC AP@0.5 (all points) per class: " + ", ".join(
            f"{name} {ap:.3f}" for name, ap in report["voc_ap50"].items())
            + f"; mean {report['voc_map50']:.3f}")
        return "\n".join(lines)

    def print_predictions(self, model, config, args, stream, notes_stream):
        """``ember predict``: for each image, the detections above ``--score-thresh`` drawn into
        ``<out>/<name>.detections.png`` (next to the image by default; an existing file is never
        overwritten) and printed as one JSON object per line."""
        drawings = []
        for path in args.images:                  # refuse before anything is written
            folder = args.out or os.path.dirname(os.path.abspath(path))
            drawing = os.path.join(folder, os.path.splitext(os.path.basename(path))[0]
                                   + ".detections.png")
            if os.path.exists(drawing):
                raise DataError(f"{drawing} exists; ember predict never overwrites a file "
                                f"(choose another --out)")
            drawings.append(drawing)
        for path, target in zip(args.images, drawings):
            image, scale, notes = load_image_for(path, config["preprocessing"], args.invert)
            for note in notes:
                print(f"note: {path}: {note}", file=notes_stream)
            detections = predict_items(model, [image])[0]
            keep = detections["scores"] >= (0.5 if args.score_thresh is None
                                             else args.score_thresh)
            detections = {k: v[keep] for k, v in detections.items()}
            detections["boxes"] = detections["boxes"] / np.array([scale[1], scale[0]] * 2)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            original = _open_original(path)
            drawn = draw_detections(original, detections, config["classes"])
            _save_png(drawn, target)
            print(json.dumps({"image": path, "drawing": target, "detections": [
                {"label": config["classes"][int(lab)], "score": round(float(s), 4),
                 "box": [round(float(v), 2) for v in box]}
                for lab, s, box in zip(detections["labels"], detections["scores"],
                                       detections["boxes"])]}), file=stream)


class _Transformed:
    """Items with a joint ``(image, target)`` transform applied on access."""

    def __init__(self, items, transforms):
        self.items, self.transforms = items, transforms

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        image, target = self.items[index]
        return self.transforms(image, target)


def predict_items(model, images, batch_size=_EVAL_BATCH):
    """The model's detections (NumPy dicts) for a list of image tensors, under ``no_grad``."""
    model.eval()
    out = []
    with ember.no_grad():
        for i in range(0, len(images), batch_size):
            out.extend(_numpy_detections(model(images[i:i + batch_size])))
    return out


# ------------------------------------------------------------------------------ pictures
_PALETTE = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
            (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
            (0, 128, 128)]


def _open_original(path):
    from ember.train.data import _open_image
    return _open_image(path, "RGB")


def load_image_for(path, preprocessing, invert="auto"):
    """An image file as the model's input: converted to the training channels, inverted when
    its background is the opposite of the training images' (``invert="auto"``), resized to the
    training size. Returns ``(tensor (C, H, W), (scale_y, scale_x), notes)``."""
    from PIL import Image, ImageOps
    from ember.train.data import _border_brightness, _open_image
    notes = []
    image = _open_image(path, "L" if preprocessing["channels"] == 1 else "RGB")
    if invert == "yes" or (invert == "auto" and preprocessing["channels"] == 1
                           and abs(_border_brightness(np.asarray(image))
                                   - preprocessing.get("background", 0.0)) > 0.5):
        image = ImageOps.invert(image)
        notes.append("inverted: the training canvases are white digits on black")
    h, w = preprocessing["size"]
    scale = (h / image.size[1], w / image.size[0])
    if image.size != (w, h):
        notes.append(f"resized from {image.size[0]}x{image.size[1]} to {w}x{h}")
        image = image.resize((w, h), Image.BILINEAR)
    pixels = np.asarray(image, np.float32) / 255.0
    pixels = pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
    return ember.from_numpy(np.ascontiguousarray(pixels)), scale, notes


def _as_pil(image):
    from PIL import Image
    if hasattr(image, "convert"):
        return image.convert("RGB")
    array = image.detach().numpy() if isinstance(image, ember.Tensor) else np.asarray(image)
    array = array[0] if array.ndim == 3 and array.shape[0] == 1 else (
        array.transpose(1, 2, 0) if array.ndim == 3 else array)
    return Image.fromarray(np.clip(array * 255 + 0.5, 0, 255).astype(np.uint8)).convert("RGB")


def draw_detections(image, detections, classes, truth=None, zoom=None):
    """A PIL image of ``image`` with the predicted masks (tinted), boxes, class names and
    scores in one colour per class, and the true boxes (``truth``) in thin white, drawn by
    ``ember.vision.utils.draw_segmentation_masks`` and ``draw_bounding_boxes``. Small images
    are enlarged (``zoom``, default: to about 256 pixels) so the labels read; masks of another
    size than the image (a resized input) are resized to it."""
    from PIL import Image
    from ember.vision.utils import draw_bounding_boxes, draw_segmentation_masks
    base = _as_pil(image)
    zoom = zoom or max(1, 256 // max(base.size))
    base = base.resize((base.size[0] * zoom, base.size[1] * zoom), Image.NEAREST)
    canvas = ember.from_numpy(np.ascontiguousarray(np.asarray(base).transpose(2, 0, 1)))
    colours = [_PALETTE[int(label) % len(_PALETTE)] for label in detections["labels"]]
    if "masks" in detections and len(detections["masks"]):
        grown = np.stack([np.asarray(Image.fromarray(np.asarray(m, np.uint8) * 255)
                                     .resize(base.size, Image.NEAREST)) > 0
                          for m in detections["masks"]])
        canvas = draw_segmentation_masks(canvas, ember.from_numpy(grown), 0.5, colours)
    if truth is not None and len(truth["boxes"]):
        canvas = draw_bounding_boxes(canvas, ember.from_numpy(np.asarray(truth["boxes"]) * zoom),
                                     colors="white", width=1)
    if len(detections["boxes"]):
        names = [f"{classes[int(label)]}: {float(score):.2f}"
                 for label, score in zip(detections["labels"], detections["scores"])]
        canvas = draw_bounding_boxes(canvas,
                                     ember.from_numpy(np.asarray(detections["boxes"]) * zoom),
                                     names, colours, width=2, fill_labels=True)
    return Image.fromarray(np.ascontiguousarray(canvas.numpy().transpose(1, 2, 0)))


def _save_png(image, path):
    tmp = f"{path}.tmp-{os.getpid()}.png"
    try:
        image.save(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def detection_grid(items, classes, path, columns=4, score_thresh=0.5):
    """A grid of ``(image, detections, target)`` drawings (detections above
    ``score_thresh``), saved as a PNG."""
    from PIL import Image
    tiles = []
    for image, pred, target in items:
        keep = pred["scores"] >= score_thresh
        shown = {k: v[keep] for k, v in pred.items()}
        truth = {"boxes": target["boxes"].numpy()}
        tiles.append(draw_detections(image, shown, classes, truth))
    if not tiles:
        return None
    w, h = tiles[0].size
    rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (columns * (w + 4), rows * (h + 4)), (40, 40, 40))
    for i, tile in enumerate(tiles):
        sheet.paste(tile, ((i % columns) * (w + 4) + 2, (i // columns) * (h + 4) + 2))
    _save_png(sheet, path)
    return path


def plot_detection_history(history, path):
    """Training loss components and validation mAP per epoch, side by side."""
    from ember.train.plots import _pyplot, _save
    plt = _pyplot()
    epochs = [row["epoch"] for row in history]
    fig, (ax_loss, ax_map) = plt.subplots(1, 2, figsize=(11, 4))
    for key in [k for k in history[0] if k.startswith("train_loss")]:
        ax_loss.plot(epochs, [row[key] for row in history], marker="o",
                     label=key[len("train_"):])
    for key in [k for k in history[0] if k.startswith("val_") and "map" in k]:
        ax_map.plot(epochs, [row[key] for row in history], marker="o", label=key[len("val_"):])
    ax_loss.set(xlabel="epoch", ylabel="loss", title="training losses")
    ax_map.set(xlabel="epoch", ylabel="mAP", title="validation mAP (COCO)", ylim=(0, 1))
    for ax in (ax_loss, ax_map):
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    return _save(fig, path)
