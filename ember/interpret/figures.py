"""One picture per call, computed with ``ember.interpret`` and drawn with
``ember.interpret.pictures``: what ``ember explain`` and ``ember visualize`` write. Images are
the model's normalised inputs ``(N, C, H, W)``; ``mean`` / ``std`` (per channel) undo the
normalisation for display, and bound the synthesised images to real pixel values.
"""
import numpy as np

from ember import nn
from ember.interpret import pictures

__all__ = ["explanations", "filters", "activations", "embedding", "patches", "dream",
           "first_conv_layer", "last_conv_layer"]


def _conv_layers(model):
    return [name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def first_conv_layer(model):
    """The name of the first ``nn.Conv2d`` of ``model`` (None without one)."""
    names = _conv_layers(model)
    return names[0] if names else None


def last_conv_layer(model):
    """The name of the last ``nn.Conv2d`` of ``model`` (None without one)."""
    names = _conv_layers(model)
    return names[-1] if names else None


def _pixel_bounds(mean, std):
    """The normalised values of black and white per channel, shaped ``(1, C, 1, 1)``."""
    mean, std = np.asarray(mean).reshape(1, -1, 1, 1), np.asarray(std).reshape(1, -1, 1, 1)
    return (0.0 - mean) / std, (1.0 - mean) / std


def explanations(model, images, method, paths, names, classes, target=None, layer=None,
                 mean=None, std=None, generator=None):
    """:func:`ember.interpret.explain` the images and write one figure (image, heat map with
    colour bar, blend) per image to ``paths``, titled with its name in ``names``, the class
    explained (``classes`` names them) and its probability; returns the ``Explanation``."""
    from ember.interpret.heatmaps import explain
    result = explain(model, images, method, target, layer, generator=generator)
    where = f" at {result.layer}" if result.layer else ""
    for i, (image, heat, path) in enumerate(zip(images, result.maps, paths)):
        c = result.targets[i]
        title = (f"{names[i]}: {method}{where} for class {classes[c]} "
                 f"(probability {result.probabilities[i, c]:.2f})")
        pictures.attribution_figure(pictures.display(image, mean, std), heat, path, title,
                                    signed=result.signed, label=result.label)
    return result


def filters(model, input_shape, path):
    """The first layer's filters (``ember.train.plots.plot_filters``: one scale and a colour
    bar for single-channel filters, each RGB filter stretched to its own range)."""
    from ember.interpret.features import first_layer_filters
    from ember.train.plots import plot_filters
    return plot_filters(first_layer_filters(model, input_shape).numpy(), path)


def activations(model, image, layer, path, mean=None, std=None):
    """The feature maps of ``layer`` for one image ``(1, C, H, W)`` as a grid on one colour
    scale, next to the image."""
    from ember.interpret.features import layer_activations
    maps = layer_activations(model, image, layer).numpy()[0]
    if maps.ndim != 3:
        raise ValueError(f"activations: layer {layer!r} returns shape {maps.shape} per image; "
                         f"choose a layer with feature maps (C, h, w)")
    return pictures.activations_figure(maps, path, f"{layer}: {maps.shape[0]} feature maps of "
                                                   f"{maps.shape[1]}x{maps.shape[2]}")


def embedding(model, images, labels, classes, path, method="tsne", mean=None, std=None,
              seed=0):
    """The last layer's features of ``images`` mapped to 2-D (t-SNE or PCA), coloured by
    label, with the images as markers."""
    from ember.interpret.features import embed, layer_features
    features = layer_features(model, images)
    points = embed(features, method, seed=seed,
                   perplexity=min(30.0, (len(images) - 1) / 3))
    name = "t-SNE" if method == "tsne" else "PCA"
    return pictures.embedding_figure(
        points, [pictures.display(x, mean, std) for x in images], labels, classes, path,
        f"{name} of the last layer's {features.shape[1]}-d features ({len(images)} images)")


def patches(model, images, layer, path, channels=4, k=6, mean=None, std=None):
    """For the first ``channels`` channels of ``layer``, the ``k`` images that excite it most,
    each with the unit's receptive field drawn; one figure, a row per channel."""
    from ember.interpret.features import layer_activations, top_patches
    channels = min(channels, layer_activations(model, images[:1], layer).shape[1])
    rows = [[(pictures.display(images[p.image], mean, std), p.box,
              f"#{p.image}: {p.activation:.2f}")
             for p in top_patches(model, images, layer, channel, k=k)]
            for channel in range(channels)]
    return pictures.patches_figure(rows, [f"channel {c}" for c in range(channels)], path,
                                   f"{layer}: the {k} images exciting each channel most, with "
                                   f"the unit's receptive field")


def dream(model, image, layer, path, tile=None, mean=None, std=None, octaves=3, steps=10,
          generator=None):
    """DeepDream of ``layer`` on one image ``(1, C, H, W)``, in tiles of ``tile`` pixels,
    pixels kept real; writes the before/after figure and returns the dream image."""
    from ember.interpret.synthesis import deep_dream
    bounds = _pixel_bounds(mean, std) if mean is not None else None
    result = deep_dream(model, image, layer, octaves=octaves, steps=steps, tile=tile,
                        bounds=bounds, generator=generator).numpy()
    pictures.dream_figure(pictures.display(image[0], mean, std),
                          pictures.display(result[0], mean, std), path,
                          f"DeepDream of {layer} ({octaves} octaves x {steps} steps)")
    return result
