"""The pictures of ``ember explain`` / ``ember visualize``, drawn with matplotlib's Agg backend
(written through ``ember.train.plots``' atomic save). Every map of values has a colour bar
with its scale, every picture of several kinds of points a legend.

Images come in as NumPy arrays ``(C, H, W)`` in the model's input units; :func:`display`
turns one into what ``imshow`` takes (undoing the normalisation when ``mean`` and ``std`` are
given, otherwise stretching its own range to [0, 1]).
"""
import numpy as np

from ember.train.plots import _pyplot, _save

__all__ = ["display", "attribution_figure", "activations_figure", "patches_figure",
           "embedding_figure", "neighbours_figure", "dream_figure", "robustness_figure",
           "adversarial_figure", "images_figure"]


def display(image, mean=None, std=None):
    """``(C, H, W)`` -> ``(H, W)`` grey or ``(H, W, 3)`` RGB in [0, 1]."""
    image = np.asarray(image, dtype=np.float64)
    if mean is not None and std is not None:
        image = image * np.asarray(std).reshape(-1, 1, 1) + np.asarray(mean).reshape(-1, 1, 1)
        image = np.clip(image, 0.0, 1.0)
    else:
        span = image.max() - image.min()
        image = (image - image.min()) / (span if span > 0 else 1.0)
    return image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)[..., :3]


def _show(ax, picture):
    ax.imshow(picture, cmap="gray" if picture.ndim == 2 else None, vmin=0, vmax=1,
              interpolation="nearest")
    ax.axis("off")


def _heat_scale(heat, signed):
    """``(cmap, vmin, vmax)``: a diverging map symmetric about 0 for signed values, a
    sequential one from 0 otherwise."""
    top = float(np.abs(heat).max()) or 1.0
    return ("RdBu_r", -top, top) if signed else ("inferno", 0.0, top)


def attribution_figure(picture, heat, path, title, signed=False, label="attribution"):
    """Three panels: the image, the heat map ``(H, W)`` and the two blended, the heat map's
    scale in a colour bar. ``picture``: from :func:`display`."""
    plt = _pyplot()
    cmap, vmin, vmax = _heat_scale(heat, signed)
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.8), layout="constrained")
    _show(axes[0], picture)
    axes[0].set_title("image")
    shown = axes[1].imshow(heat, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    axes[1].set_title(label)
    axes[1].axis("off")
    grey = picture if picture.ndim == 2 else picture.mean(axis=2)
    axes[2].imshow(grey, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    axes[2].imshow(heat, cmap=cmap, vmin=vmin, vmax=vmax, alpha=0.55, interpolation="bilinear")
    axes[2].set_title("blend")
    axes[2].axis("off")
    fig.colorbar(shown, ax=axes, location="right", shrink=0.8, label=label)
    fig.suptitle(title)
    return _save(fig, path)


def activations_figure(maps, path, title, limit=64):
    """The channels of one feature map ``(C, h, w)`` as a grid on one colour scale (lecture
    003: "visualize as 128 13x13 grayscale images"), with its colour bar."""
    plt = _pyplot()
    maps = np.asarray(maps, dtype=np.float64)[:limit]
    n = len(maps)
    cols = min(8, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.4 * cols + 1.0, 1.4 * rows + 0.6),
                             squeeze=False)
    vmin, vmax = float(maps.min()), float(maps.max())
    vmax = vmax if vmax > vmin else vmin + 1.0
    shown = None
    for ax in axes.ravel():
        ax.axis("off")
    for i, (ax, plane) in enumerate(zip(axes.ravel(), maps)):
        shown = ax.imshow(plane, cmap="gray", vmin=vmin, vmax=vmax, interpolation="nearest")
        ax.set_title(str(i), fontsize=7)
    fig.colorbar(shown, ax=axes, fraction=0.02, pad=0.02, label="activation")
    fig.suptitle(title)
    return _save(fig, path)


def patches_figure(rows, row_labels, path, title):
    """Image patches with a unit's receptive field drawn as a box (lecture 003's white boxes):
    ``rows[r]`` is a list of ``(picture, (top, left, bottom, right), caption)``, one row per
    ``row_labels[r]``."""
    plt = _pyplot()
    from matplotlib.patches import Rectangle
    cols = max(len(row) for row in rows)
    fig, axes = plt.subplots(len(rows), cols, figsize=(1.7 * cols + 0.6, 1.9 * len(rows) + 0.4),
                             squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for r, row in enumerate(rows):
        for c, (picture, (top, left, bottom, right), caption) in enumerate(row):
            ax = axes[r, c]
            _show(ax, picture)
            ax.add_patch(Rectangle((left - 0.5, top - 0.5), right - left, bottom - top,
                                   fill=False, edgecolor="#00e5ff", linewidth=1.5))
            ax.set_title(caption, fontsize=8)
        axes[r, 0].text(-0.15, 0.5, row_labels[r], transform=axes[r, 0].transAxes,
                        rotation=90, va="center", ha="right", fontsize=9)
    fig.suptitle(title)
    return _save(fig, path)


def embedding_figure(points, pictures, labels, classes, path, title, thumbnails=200):
    """2-D points coloured by class (legend) with up to ``thumbnails`` of the images drawn at
    their points (Karpathy's t-SNE grids, lecture 003)."""
    plt = _pyplot()
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage
    points = np.asarray(points, dtype=np.float64)
    labels = np.asarray(labels)
    fig, ax = plt.subplots(figsize=(9, 8))
    colours = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
    for c, name in enumerate(classes):
        chosen = labels == c
        if chosen.any():
            ax.scatter(points[chosen, 0], points[chosen, 1], s=10, color=colours(c % colours.N),
                       label=str(name))
    step = max(1, len(points) // thumbnails)
    zoom = 0.9 * 28 / max(pictures[0].shape[:2])
    for i in range(0, len(points), step):
        picture = pictures[i]
        box = OffsetImage(picture, cmap="gray" if picture.ndim == 2 else None, zoom=zoom)
        ax.add_artist(AnnotationBbox(box, points[i], frameon=True, pad=0.05,
                                     bboxprops={"edgecolor": colours(int(labels[i]) %
                                                                     colours.N)}))
    ax.legend(title="class", loc="best", fontsize=8, markerscale=2)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title)
    return _save(fig, path)


def neighbours_figure(query_pictures, neighbour_pictures, path, title, row_labels):
    """One row per query: the query, then its neighbours (nearest first); ``row_labels``
    names each row (e.g. "features" / "pixels")."""
    plt = _pyplot()
    rows, cols = len(neighbour_pictures), 1 + len(neighbour_pictures[0])
    fig, axes = plt.subplots(rows, cols, figsize=(1.4 * cols, 1.5 * rows + 0.4),
                             squeeze=False)
    for r in range(rows):
        _show(axes[r, 0], query_pictures[r])
        axes[r, 0].set_title(row_labels[r], fontsize=8)
        for c, picture in enumerate(neighbour_pictures[r], start=1):
            _show(axes[r, c], picture)
    fig.suptitle(title)
    return _save(fig, path)


def dream_figure(before, after, path, title):
    """The photograph before and after DeepDream, side by side."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 5.2))
    for ax, picture, name in ((axes[0], before, "input"), (axes[1], after, "dream")):
        _show(ax, picture)
        ax.set_title(name)
    fig.suptitle(title)
    return _save(fig, path)


def robustness_figure(epsilons, curves, path, title):
    """Accuracy (%) against epsilon: ``curves`` is ``{model: {attack: accuracies}}``, one
    colour per model and one line style per attack, with a legend."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 5.2), layout="constrained")
    colours = plt.get_cmap("tab10")
    styles = ["-", "--", ":", "-."]
    attacks = list(dict.fromkeys(a for per_model in curves.values() for a in per_model))
    for m, (model, per_model) in enumerate(curves.items()):
        for attack, accuracies in per_model.items():
            ax.plot(epsilons, 100 * np.asarray(accuracies), marker="o", markersize=4,
                    color=colours(m % 10), linestyle=styles[attacks.index(attack) % 4],
                    label=f"{model}: {attack}")
    ax.set(xlabel="epsilon (L-inf, pixel values in [0, 1])", ylabel="test accuracy (%)",
           title=title, ylim=(0, 100))
    ax.grid(alpha=0.3)
    fig.legend(loc="outside lower center", ncols=1, fontsize=8)
    return _save(fig, path)


def adversarial_figure(clean, adversarial, captions, path, title):
    """Rows of (clean image, perturbation, adversarial image) ``(H, W)`` in [0, 1] with
    ``captions`` ``[(clean caption, adversarial caption)]``; the perturbation's colour bar is
    in pixel values."""
    plt = _pyplot()
    n = len(clean)
    fig, axes = plt.subplots(n, 3, figsize=(6.6, 2.1 * n + 0.4), squeeze=False,
                             layout="constrained")
    top = max(float(np.abs(np.asarray(adversarial) - np.asarray(clean)).max()), 1e-12)
    shown = None
    for i in range(n):
        _show(axes[i, 0], clean[i])
        axes[i, 0].set_title(captions[i][0], fontsize=8)
        shown = axes[i, 1].imshow(np.asarray(adversarial[i]) - np.asarray(clean[i]),
                                  cmap="RdBu_r", vmin=-top, vmax=top, interpolation="nearest")
        axes[i, 1].axis("off")
        axes[i, 1].set_title("perturbation", fontsize=8)
        _show(axes[i, 2], adversarial[i])
        axes[i, 2].set_title(captions[i][1], fontsize=8)
    fig.colorbar(shown, ax=axes, location="right", shrink=0.6, label="pixel change")
    fig.suptitle(title)
    return _save(fig, path)


def images_figure(pictures, captions, path, title):
    """A row of images with captions (class visualizations, feature inversions)."""
    plt = _pyplot()
    n = len(pictures)
    cols = min(10, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.8 * rows + 0.4), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, picture, caption in zip(axes.ravel(), pictures, captions):
        _show(ax, picture)
        ax.set_title(caption, fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)
