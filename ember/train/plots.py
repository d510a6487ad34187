"""The figures of a run folder, drawn with matplotlib's Agg backend (no display needed):
learning curves, the confusion matrix, misclassified test images and the first layer's
filters (lecture 001/003 show AlexNet's first-layer filters the same way; inventory G1); for
segmentation, images beside their true and predicted masks, the per-class IoU and a mask
with its colour legend. Every figure is written to a temporary file and moved into place."""
import os

import numpy as np

__all__ = ["plot_history", "plot_confusion_matrix", "plot_misclassified", "plot_filters",
           "first_layer_weights", "colour_mask", "plot_segmentation", "plot_class_iou",
           "plot_mask_legend"]


def _pyplot():
    import matplotlib
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path):
    plt = _pyplot()
    root, ext = os.path.splitext(path)
    tmp = f"{root}.tmp-{os.getpid()}{ext}"
    try:
        fig.savefig(tmp, dpi=100, bbox_inches="tight")
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def plot_history(history, path, metric="acc", name="accuracy", percent=True):
    """Loss and a metric per epoch (train and, when present, validation) side by side; the
    metric is the history's ``<phase>_<metric>`` column (``acc`` by default, ``miou`` for
    segmentation), shown in percent when ``percent``."""
    plt = _pyplot()
    epochs = [row["epoch"] for row in history]
    scale = 100 if percent else 1
    fig, (ax_loss, ax_metric) = plt.subplots(1, 2, figsize=(10, 4))
    for phase in ("train", "val"):
        if history and f"{phase}_loss" in history[0]:
            ax_loss.plot(epochs, [row[f"{phase}_loss"] for row in history], marker="o",
                         label=phase)
            ax_metric.plot(epochs, [scale * row[f"{phase}_{metric}"] for row in history],
                           marker="o", label=phase)
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_metric.set(xlabel="epoch", ylabel=f"{name} (%)" if percent else name, title=name)
    from matplotlib.ticker import MaxNLocator
    for ax in (ax_loss, ax_metric):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # no epoch 0.96
        ax.grid(alpha=0.3)
        ax.legend()
    return _save(fig, path)


def plot_confusion_matrix(matrix, classes, path, title="confusion matrix (test)"):
    """Counts ``matrix[i, j]`` (true ``i``, predicted ``j``) as an annotated heat map."""
    plt = _pyplot()
    matrix = np.asarray(matrix)
    c = len(matrix)
    size = max(4.0, 0.45 * c + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    if c <= 20:
        threshold = matrix.max(initial=0) / 2
        for i in range(c):
            for j in range(c):
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if matrix[i, j] > threshold else "black")
        ax.set_xticks(range(c), [str(n) for n in classes], rotation=90)
        ax.set_yticks(range(c), [str(n) for n in classes])
    ax.set(xlabel="predicted class", ylabel="true class", title=title)
    return _save(fig, path)


def _display(image):
    """uint8 (H, W, C) -> what ``imshow`` takes (grey 2-D or RGB)."""
    return image[..., 0] if image.shape[-1] == 1 else image


def plot_misclassified(images, targets, predictions, classes, path, limit=36):
    """A grid of (up to ``limit``) test images the model got wrong, each labelled ``true ->
    predicted``. ``images``: uint8 ``(N, H, W, C)``; ``targets`` / ``predictions``: ``(N,)``.

    The images are pasted into one mosaic drawn on a single axes (grey images on the fixed
    0..255 scale): a grid of 36 axes took 0.65 s to lay out and save, the mosaic 0.1 s, a
    tenth of the main job's run."""
    plt = _pyplot()
    wrong = np.flatnonzero(np.asarray(targets) != np.asarray(predictions))[:limit]
    cols = max(1, min(6, len(wrong)))
    rows = max(1, -(-len(wrong) // cols))
    h, w, channels = images.shape[1:] if len(images) else (1, 1, 1)
    gap, label = max(2, w // 7), max(6, h // 2)      # between images; the label's band above
    cell_h, cell_w = label + h, gap + w
    mosaic = np.full((rows * cell_h, cols * cell_w, channels), 255, np.uint8)
    for k, i in enumerate(wrong):
        top, left = (k // cols) * cell_h + label, (k % cols) * cell_w + gap // 2
        mosaic[top:top + h, left:left + w] = images[i]
    fig = plt.figure(figsize=(1.6 * cols, 1.8 * rows + 0.4))
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0 - 0.4 / (1.8 * rows + 0.4)))
    ax.axis("off")
    ax.imshow(_display(mosaic), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    for k, i in enumerate(wrong):
        ax.text((k % cols) * cell_w + cell_w / 2, (k // cols) * cell_h + label - 1,
                f"{classes[targets[i]]} -> {classes[predictions[i]]}", ha="center",
                va="bottom", fontsize=8)
    fig.suptitle(f"misclassified test images ({len(wrong)} shown; true -> predicted)"
                 if len(wrong) else "no misclassified test images")
    return _save(fig, path)


def first_layer_weights(model, input_shape):
    """The first convolution's weights ``(O, C, kH, kW)``, or the first linear layer's rows
    reshaped to input images ``(O, C, H, W)`` for a model without convolutions; None when
    that linear layer does not read whole images (a recurrent model reading rows)."""
    from ember import nn
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            return module.weight.detach().numpy()
        if isinstance(module, nn.Linear):
            if module.in_features != int(np.prod(input_shape)):
                return None
            return module.weight.detach().numpy().reshape((-1,) + tuple(input_shape))
    return None


def plot_filters(weights, path, limit=64):
    """Each filter (output channel) of ``weights`` ``(O, C, kH, kW)`` as a small image: RGB
    when ``C == 3``, each filter stretched to its own min..max; otherwise the mean over input
    channels, all filters on one grey scale symmetric about 0 with its colour bar."""
    plt = _pyplot()
    weights = np.asarray(weights, dtype=np.float64)[:limit]
    n = len(weights)
    cols = min(8, n)
    rows = -(-n // cols)
    rgb = weights.shape[1] == 3
    fig, axes = plt.subplots(rows, cols, figsize=(1.2 * cols + (0 if rgb else 0.8),
                                                  1.2 * rows + 0.4), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    top = float(np.abs(weights).max()) or 1.0
    shown = None
    for ax, w in zip(axes.ravel(), weights):
        if rgb:
            image = w.transpose(1, 2, 0)
            span = image.max() - image.min()
            ax.imshow((image - image.min()) / (span if span > 0 else 1.0),
                      interpolation="nearest")
        else:
            shown = ax.imshow(w.mean(axis=0), cmap="gray", vmin=-top, vmax=top,
                              interpolation="nearest")
    if shown is not None:
        fig.colorbar(shown, ax=axes, fraction=0.03, pad=0.02, label="weight")
    scale = "each stretched to its own range" if rgb else "one scale"
    fig.suptitle(f"first-layer filters ({n} of shape {tuple(weights.shape[1:])}; {scale})")
    return _save(fig, path)


# ------------------------------------------------------------------------- segmentation
def colour_mask(labels, ignore_index=255):
    """``(H, W)`` labels -> ``(H, W, 3)`` uint8 in Pascal VOC's colours
    (``ember.vision.datasets.segmentation.palette``; ``ignore_index`` pixels in its cream)."""
    from ember.vision.datasets.segmentation import palette
    labels = np.asarray(labels, dtype=np.int64)
    colours = palette()
    return colours[np.where((labels >= 0) & (labels < 256), labels, ignore_index)]


def _legend(ax, classes, shown, ignore_index=255):
    """Colour patches with the names of the classes in ``shown`` (labels), beside ``ax``."""
    from matplotlib.patches import Patch
    colours = colour_mask(np.asarray(sorted(shown)), ignore_index) / 255.0
    handles = [Patch(facecolor=colour, edgecolor="0.5", label=classes[label]
                     if 0 <= label < len(classes) else f"ignored ({label})")
               for label, colour in zip(sorted(shown), colours)]
    ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8,
              frameon=False, title="class")


def plot_segmentation(images, truths, predictions, classes, path, limit=8):
    """One row per image (up to ``limit``): the image, its true mask and the predicted one,
    in VOC colours, with a legend of the classes that appear. ``images``: uint8 ``(N, H, W,
    C)``; ``truths`` / ``predictions``: ``(N, H, W)`` labels."""
    plt = _pyplot()
    n = min(limit, len(images))
    fig, axes = plt.subplots(max(n, 1), 3, figsize=(7.5, 2.4 * max(n, 1)), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for title, ax in zip(("image", "truth", "prediction"), axes[0]):
        ax.set_title(title)
    shown = set()
    for i in range(n):
        axes[i, 0].imshow(_display(images[i]), cmap="gray")
        axes[i, 1].imshow(colour_mask(truths[i]), interpolation="nearest")
        axes[i, 2].imshow(colour_mask(predictions[i]), interpolation="nearest")
        shown |= set(np.unique(truths[i]).tolist()) | set(np.unique(predictions[i]).tolist())
    if shown:
        _legend(axes[0, 2], classes, shown)
    return _save(fig, path)


def plot_class_iou(classes, iou, path, title="IoU per class (test)"):
    """A horizontal bar per class with its IoU (classes whose IoU is undefined — absent from
    truth and prediction — are marked n/a) and the mean as a dashed line."""
    plt = _pyplot()
    values = np.array([np.nan if v is None else v for v in iou], dtype=np.float64)
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(classes) + 1.2))
    rows = np.arange(len(classes))
    ax.barh(rows, np.nan_to_num(values), color=colour_mask(rows) / 255.0, edgecolor="0.3")
    for row, value in zip(rows, values):
        ax.text(min(np.nan_to_num(value), 1.0) + 0.01, row,
                "n/a" if np.isnan(value) else f"{value:.3f}", va="center", fontsize=8)
    if (~np.isnan(values)).any():
        ax.axvline(np.nanmean(values), color="k", linestyle="--", linewidth=1,
                   label=f"mean {np.nanmean(values):.3f}")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_yticks(rows, [str(c) for c in classes])
    ax.invert_yaxis()
    ax.set(xlim=(0, 1.12), xlabel="IoU", title=title)
    return _save(fig, path)


def plot_mask_legend(image, labels, classes, path):
    """The image, its predicted mask in VOC colours and the two blended, with a legend of the
    classes present and their share of the pixels (what ``ember predict`` writes beside the
    mask PNG). ``image``: uint8 ``(H, W, C)``; ``labels``: ``(H, W)``."""
    plt = _pyplot()
    colours = colour_mask(labels)
    grey = image if image.shape[-1] == 3 else np.repeat(image, 3, axis=-1)
    blend = (0.5 * grey + 0.5 * colours).astype(np.uint8)
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.4))
    for ax, picture, title in zip(axes, (_display(image), colours, blend),
                                  ("image", "predicted mask", "overlay")):
        ax.imshow(picture, cmap="gray" if picture.ndim == 2 else None, interpolation="nearest")
        ax.set_title(title)
        ax.axis("off")
    present, counts = np.unique(labels, return_counts=True)
    named = [f"{classes[k]} ({100 * c / labels.size:.1f}%)" for k, c in zip(present, counts)]
    from matplotlib.patches import Patch
    handles = [Patch(facecolor=colour / 255.0, edgecolor="0.5", label=name)
               for colour, name in zip(colour_mask(present), named)]
    axes[2].legend(handles=handles, loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8,
                   frameon=False, title="class (share of pixels)")
    return _save(fig, path)
