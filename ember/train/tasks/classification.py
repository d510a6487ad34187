"""Image classification: the task of the main job (LeNet-5 on the bundled MNIST digits).

Data comes from ``ember.train.data`` (datasets by name, seeded splits, normalisation fitted on
the training split, random shifts as augmentation); the model from ``ember.vision.models`` by
name (``ember.train.recipes.build_model``); the loss is ``F.cross_entropy`` (lecture 001:
softmax + cross-entropy) and the metric accuracy. The run folder gets ``test_metrics.json``
(accuracy, top-5, per-class precision/recall/F1, the confusion matrix) and the pictures:
``curves.png``, ``confusion_matrix.png``, ``misclassified.png``, ``filters.png``.
"""
import os

import numpy as np

import ember
from ember.train import data as _data
from ember.train import metrics as _metrics
from ember.train import plots as _plots
from ember.train.recipes import build_model

__all__ = ["ClassificationTask"]


class ClassificationTask:
    """The classification task (see ``ember.train.tasks`` for the protocol)."""
    name = "classification"
    monitor = ("val_acc", "max")
    early_stopping = ("val_loss", "min")
    metrics = _metrics.Accuracy
    datasets = _data.DATASETS
    default_dataset = "mnist-sample"
    predict_options = ("topk",)         # the ``ember predict`` options that apply

    def recipe_defaults(self, model=None):
        """No overrides: the command line's defaults are this task's (the main job)."""
        return {}

    @staticmethod
    def loss_fn(output, target):
        from ember.nn import functional as F
        return F.cross_entropy(output, target)

    # ------------------------------------------------------------------------- data
    def load_data(self, recipe, preprocessing=None, channels=None):
        """``ember.train.data.load_splits`` for the recipe's dataset and split settings."""
        return _data.load_splits(recipe.dataset, recipe.data_root, recipe.val_split,
                                 recipe.test_fraction, recipe.split_seed,
                                 preprocessing=preprocessing, channels=channels)

    def default_model(self, data):
        """``lenet5`` for the 28x28 and 32x32 images it is made for, ``mlp`` otherwise."""
        return "lenet5" if tuple(data["preprocessing"]["size"]) in ((28, 28), (32, 32)) else "mlp"

    def build_model(self, recipe, data):
        """The recipe's model for the data's classes, channels and size; grey data meant for
        a 3-channel model is reloaded as three equal channels."""
        pre = data["preprocessing"]
        model, wanted = build_model(recipe.model, len(data["classes"]), pre["channels"],
                                    tuple(pre["size"]))
        if wanted != pre["channels"]:
            data = self.load_data(recipe, channels=wanted)
        return model, data

    def model_names(self):
        """The names ``--model`` accepts (``ember.train.recipes.model_names``)."""
        from ember.train.recipes import model_names
        return model_names()

    def build_named_model(self, name, num_classes, channels, size):
        """``ember summary``: the model ``name`` for ``channels`` x ``size`` images and the
        channels it expects (``ember.train.recipes.build_model``)."""
        return build_model(name, num_classes, channels, size)

    def config(self, data):
        """What the run's ``config.json`` and checkpoints record about the data, so that
        ``ember eval`` and ``ember predict`` treat new images as training did."""
        pre = data["preprocessing"]
        return {"preprocessing": pre, "classes": data["classes"],
                "input_shape": [pre["channels"], *pre["size"]],
                "splits": {k: int(len(data[k][1])) for k in ("train", "val", "test")}}

    def describe(self, data):
        splits = {k: len(data[k][1]) for k in ("train", "val", "test")}
        return (f"{splits['train']} train / {splits['val']} val / {splits['test']} test "
                f"images")

    def loaders(self, recipe, data):
        """``(train, val or None, test)`` loaders: shuffled, augmented training batches of
        the recipe's size; evaluation batches of 256."""
        from ember.utils.data import DataLoader
        pre = data["preprocessing"]
        background = [-m / s for m, s in zip(pre["mean"], pre["std"])]   # a black pixel
        train = _data.ArrayDataset(*data["train"], augment=recipe.augment, background=background)
        train_loader = DataLoader(train, batch_size=recipe.batch_size, shuffle=True,
                                  collate_fn=_data.collate_batch)

        def evaluation(split):
            return DataLoader(_data.ArrayDataset(*data[split]), batch_size=256,
                              collate_fn=_data.collate_batch)
        val_loader = evaluation("val") if len(data["val"][1]) else None
        return train_loader, val_loader, evaluation("test")

    # ---------------------------------------------------------------------- results
    def report(self, out, trainer, model, data, test, best_epoch, robust=None):
        """Write ``test_metrics.json`` and the pictures into ``out``; return the report dict
        and the one-line summary ``ember train`` prints. ``robust``: the test evaluation under
        an attack (``{"loss", "acc", "attack"}``), reported as ``robust`` beside the clean
        accuracy."""
        from ember.train.callbacks import write_text_atomic
        import json
        classes = data["classes"]
        pre = data["preprocessing"]
        report = _metrics.classification_report(test["scores"], test["targets"], len(classes),
                                                classes)
        report.update(loss=test["loss"], epoch=best_epoch)
        if robust is not None:
            report["robust"] = {"attack": robust["attack"], "accuracy": robust["acc"],
                                "loss": robust["loss"]}
        write_text_atomic(os.path.join(out, "test_metrics.json"),
                          json.dumps(report, indent=1) + "\n")
        predictions = test["scores"].argmax(1)
        _plots.plot_history(trainer.history, os.path.join(out, "curves.png"))
        _plots.plot_confusion_matrix(report["confusion_matrix"], classes,
                                     os.path.join(out, "confusion_matrix.png"))
        _plots.plot_misclassified(data["raw_test"], test["targets"], predictions, classes,
                                  os.path.join(out, "misclassified.png"))
        weights = _plots.first_layer_weights(model, [pre["channels"], *pre["size"]])
        if weights is not None:
            _plots.plot_filters(weights, os.path.join(out, "filters.png"))
        n = len(test["targets"])
        summary = (f"test accuracy: {100 * test['acc']:.2f}% "
                   f"({int(round(test['acc'] * n))}/{n} held-out images; model of epoch "
                   f"{best_epoch}, best validation accuracy)")
        if robust is not None:
            summary += (f"\nrobust test accuracy: {100 * robust['acc']:.2f}% "
                        f"({int(round(robust['acc'] * n))}/{n}) under {robust['attack']}")
        return report, summary

    def evaluate(self, model, config, split, dataset=None, data_root=None):
        """``ember eval``: the classification report of ``model`` on a split, as text."""
        from ember.train.recipes import Recipe
        recipe = Recipe.from_dict(config["recipe"])
        if dataset is not None:
            recipe.dataset = dataset
        if data_root is not None:
            recipe.data_root = data_root
        data = self.load_data(recipe, preprocessing=config["preprocessing"])
        images, targets = data[split]
        classes = config["classes"]
        if len(data["classes"]) != len(classes):
            raise _data.DataError(f"dataset {recipe.dataset} has {len(data['classes'])} classes "
                                  f"but the model was trained on {len(classes)}")
        if not len(targets):
            raise _data.DataError(f"the {split} split of {recipe.dataset} is empty")
        scores = predict_scores(model, images)
        report = _metrics.classification_report(scores, targets, len(classes), classes)
        return (f"on {recipe.dataset} {split} split: {len(targets)} images\n"
                f"{_metrics.format_report(report)}")

    def load_images(self, config, paths, invert="auto", longer_side=None):
        """Image files as the model's normalised inputs: a list of ``(1, C, H, W)`` arrays,
        converted as the training images were (``ember.train.data.preprocess_image``), and
        per image the notes on how it was adapted (inverted, padded, resized). With
        ``longer_side``, each image keeps its aspect ratio and is resized so that its longer
        side has that many pixels, instead of taking the training images' size (for networks
        that accept any size)."""
        mode = "L" if config["preprocessing"]["channels"] == 1 else "RGB"
        batch, notes = [], []
        for path in paths:
            image, image_notes = _data._open_image(path, mode), []
            pre = config["preprocessing"]
            if longer_side is not None:
                width, height = image.size
                scale = longer_side / max(width, height)
                pre = dict(pre, size=[max(1, round(height * scale)), max(1, round(width * scale))])
            batch.append(_data.preprocess_image(image, pre, invert=invert, notes=image_notes))
            notes.append(image_notes)
        return batch, notes

    def predict(self, model, config, paths, topk=3, invert="auto"):
        """``ember predict``: ``[(path, [(class, probability), ...], notes)]`` for each image
        file, the ``topk`` most probable classes first; ``notes`` say how the image was
        adapted (inverted, padded, resized)."""
        classes = config["classes"]
        if not 1 <= topk <= len(classes):
            raise _data.DataError(f"--topk must lie in [1, {len(classes)}], got {topk}")
        batch, notes = self.load_images(config, paths, invert)
        scores = predict_scores(model, np.concatenate(batch)).astype(np.float64)
        probs = np.exp(scores - scores.max(1, keepdims=True))
        probs /= probs.sum(1, keepdims=True)
        results = []
        for path, p, image_notes in zip(paths, probs, notes):
            top = np.argsort(-p, kind="stable")[:topk]
            results.append((path, [(classes[i], float(p[i])) for i in top], image_notes))
        return results

    def print_predictions(self, model, config, args, stream, notes_stream):
        """``ember predict``: one line per image with its ``--topk`` classes and their
        probabilities; the notes on how each image was adapted go to ``notes_stream``."""
        topk = 3 if args.topk is None else args.topk
        for path, top, notes in self.predict(model, config, args.images, topk, args.invert):
            for note in notes:
                print(f"note: {path}: {note}", file=notes_stream)
            print(f"{path}: " + ", ".join(f"{name} ({p:.3f})" for name, p in top), file=stream)


def predict_scores(model, images, batch_size=256):
    """The model's outputs for preprocessed images ``(N, C, H, W)``, in batches, under
    ``no_grad`` (a NumPy array)."""
    scores = []
    with ember.no_grad():
        for i in range(0, len(images), batch_size):
            scores.append(model(ember.from_numpy(images[i:i + batch_size]))._data)
    return np.concatenate(scores) if scores else np.zeros((0, 0), np.float32)
