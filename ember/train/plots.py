"""The figures of a run folder, drawn with matplotlib's Agg backend (no display needed):
learning curves, the confusion matrix, misclassified test images and the first layer's
filters (lecture 001/003 show AlexNet's first-layer filters the same way; inventory G1). Every figure is
written to a temporary file and moved into place."""
import os

import numpy as np

__all__ = ["plot_history", "plot_confusion_matrix", "plot_misclassified", "plot_filters",
           "first_layer_weights"]


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


def plot_history(history, path):
    """Loss and accuracy per epoch (train and, when present, validation) side by side."""
    plt = _pyplot()
    epochs = [row["epoch"] for row in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for phase in ("train", "val"):
        if history and f"{phase}_loss" in history[0]:
            ax_loss.plot(epochs, [row[f"{phase}_loss"] for row in history], marker="o",
                         label=phase)
            ax_acc.plot(epochs, [100 * row[f"{phase}_acc"] for row in history], marker="o",
                        label=phase)
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    from matplotlib.ticker import MaxNLocator
    for ax in (ax_loss, ax_acc):
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
    """A grid of (up to ``limit``) test images the model got wrong, titled ``true -> predicted``.
    ``images``: uint8 ``(N, H, W, C)``; ``targets`` / ``predictions``: ``(N,)``."""
    plt = _pyplot()
    wrong = np.flatnonzero(np.asarray(targets) != np.asarray(predictions))[:limit]
    cols = max(1, min(6, len(wrong)))
    rows = max(1, -(-len(wrong) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.8 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), wrong):
        ax.imshow(_display(images[i]), cmap="gray")
        ax.set_title(f"{classes[targets[i]]} -> {classes[predictions[i]]}", fontsize=8)
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
