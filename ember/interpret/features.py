"""What a trained network's layers respond to, read from its activations (lecture 003
「可视化」, inventory G1-G5, G13):

- :func:`layer_activations`: a layer's feature maps for a batch ("conv5 feature map is
  128x13x13; visualize as 128 13x13 grayscale images", G2); the forward pass stops at the
  layer.
- :func:`first_layer_filters`: the first convolution's weights as images (G1).
- :func:`receptive_field`: the input box one unit of a layer sees (G13), from the
  receptive-field arithmetic of ``ember.summary``.
- :func:`top_patches`: the dataset patches that excite one channel most, each with its
  receptive-field box ("怎么得到白框?", G3; Girshick et al. 2014).
- :func:`layer_features`, :func:`nearest_neighbours`: images compared in a layer's feature
  space (L2) instead of pixel space (G4).
- :func:`embed`: a 2-D map of feature vectors by t-SNE or PCA from scikit-learn ("把最后一层
  4096维的数据压缩成2维", G5).
"""
from dataclasses import dataclass

import numpy as np

import ember
from ember import nn
from ember.interpret.hooks import LayerRecorder, as_batch, find_layer, run_model

__all__ = ["layer_activations", "first_layer_filters", "receptive_field", "ReceptiveField",
           "top_patches", "Patch", "layer_features", "nearest_neighbours", "embed",
           "EMBEDDINGS"]

EMBEDDINGS = ("tsne", "pca")


def _batches(x, batch_size, caller):
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"{caller}: batch_size must be a positive integer, got {batch_size!r}")
    return (x[i:i + batch_size] for i in range(0, len(x), batch_size))


def _activations(model, x, layer, caller):
    """The output of ``layer`` for the NumPy batch ``x`` (forward pass stopped there)."""
    with LayerRecorder(model, [layer], caller, stop=True) as record, ember.no_grad():
        run_model(model, ember.from_numpy(x), caller)
    return record.output(layer).numpy()


def layer_activations(model, inputs, layer, batch_size=256):
    """The output of ``layer`` (a dotted name or a module) for ``inputs`` ``(N, ...)``: a
    Tensor ``(N, ...)``, e.g. ``(N, C, h, w)`` feature maps for a convolution. The forward
    pass stops once the layer has run."""
    caller = "layer_activations"
    x = as_batch(inputs, caller)
    find_layer(model, layer, caller)
    return ember.from_numpy(np.concatenate([_activations(model, b, layer, caller)
                                            for b in _batches(x, batch_size, caller)]))


def first_layer_filters(model, input_shape=None):
    """The first convolution's weights ``(O, C, kH, kW)`` as a Tensor, e.g. AlexNet's "64 x 3
    x 11 x 11" and ResNet-18's "64 x 3 x 7 x 7" (003); for a model without convolutions, the
    first Linear layer's rows as images of ``input_shape`` ``(C, H, W)``."""
    from ember.train.plots import first_layer_weights
    has_conv = any(isinstance(m, nn.Conv2d) for m in model.modules())
    weights = first_layer_weights(model, input_shape) if has_conv or input_shape else None
    if weights is None:
        raise ValueError(f"first_layer_filters: {type(model).__name__} has no Conv2d layer"
                         + ("" if input_shape is not None else
                            " (give input_shape to read the first Linear layer's rows)"))
    return ember.from_numpy(np.array(weights))


@dataclass
class ReceptiveField:
    """The input region a unit of a layer sees: ``size`` pixels per axis, ``jump`` pixels
    between neighbouring units, and ``start``, where unit 0's field begins (negative in the
    padding); all ``(rows, cols)`` pairs."""
    size: tuple
    jump: tuple
    start: tuple

    def box(self, row, col, image_size):
        """``(top, left, bottom, right)`` (bottom/right exclusive) of unit ``(row, col)``,
        clipped to an image of ``image_size`` ``(H, W)``."""
        top = self.start[0] + row * self.jump[0]
        left = self.start[1] + col * self.jump[1]
        return (int(max(top, 0)), int(max(left, 0)),
                int(min(top + self.size[0], image_size[0])),
                int(min(left + self.size[1], image_size[1])))


def receptive_field(model, input_shape, layer):
    """The :class:`ReceptiveField` of ``layer``'s units for inputs of ``input_shape`` ``(C,
    H, W)`` (``ember.summary``'s recurrence ``r_out = r_in + (k - 1) j_in``, ``j_out = j_in
    s``, ``a_out = a_in - p j_in``; lecture 003: two stacked 3x3 convolutions see 5x5)."""
    caller = "receptive_field"
    module = find_layer(model, layer, caller)
    name = next(n for n, m in model.named_modules() if m is module)
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), ember.float32)
    rows = [row for row in ember.summary(model, (1, *input_shape), dtypes=[dtype],
                                         depth=10 ** 6).rows
            if row.name == name]
    if not rows:
        raise ValueError(f"{caller}: layer {name!r} did not run in the forward pass")
    row = rows[-1]
    if row.receptive_field is None:
        raise ValueError(f"{caller}: layer {name!r} returns shape {row.output_shape}, which "
                         f"has no spatial layout")

    def pair(value):
        return tuple(value) if isinstance(value, tuple) else (value, value)
    return ReceptiveField(pair(row.receptive_field), pair(row.jump), pair(row.rf_start))


@dataclass
class Patch:
    """One of :func:`top_patches`: ``image`` (index into the images), the unit's ``position``
    ``(row, col)`` in the layer's map, its ``activation`` and the receptive-field ``box``
    ``(top, left, bottom, right)`` in the image."""
    image: int
    position: tuple
    activation: float
    box: tuple


def top_patches(model, images, layer, channel, k=9, batch_size=256):
    """The ``k`` images whose strongest unit of ``channel`` in ``layer`` is strongest, each
    with that unit's receptive-field box (at most one patch per image; best first). ``layer``
    must return feature maps ``(N, C, h, w)``."""
    caller = "top_patches"
    x = as_batch(images, caller, ndim=4)
    maps = np.concatenate([_activations(model, b, layer, caller)
                           for b in _batches(x, batch_size, caller)])
    if maps.ndim != 4:
        raise ValueError(f"{caller}: layer {layer!r} returns shape {maps.shape[1:]} per image; "
                         f"top patches need feature maps (C, h, w)")
    if not isinstance(channel, (int, np.integer)) or not 0 <= channel < maps.shape[1]:
        raise ValueError(f"{caller}: channel {channel!r} is out of range for layer {layer!r} "
                         f"with {maps.shape[1]} channels")
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"{caller}: k must be a positive integer, got {k!r}")
    plane = maps[:, channel].reshape(len(x), -1)
    best_unit = plane.argmax(axis=1)
    best_value = plane[np.arange(len(x)), best_unit]
    order = np.argsort(-best_value, kind="stable")[:k]
    field = receptive_field(model, x.shape[1:], layer)
    width = maps.shape[3]
    patches = []
    for i in order:
        row, col = divmod(int(best_unit[i]), width)
        patches.append(Patch(int(i), (row, col), float(best_value[i]),
                             field.box(row, col, x.shape[2:])))
    return patches


def layer_features(model, inputs, layer=None, batch_size=256):
    """One feature vector per input, ``(N, D)`` float64 NumPy: ``layer``'s output flattened,
    or with ``layer=None`` the input of the model's last Linear layer (the "last layer"
    features of lecture 003's nearest neighbours and t-SNE: 4096-d for AlexNet, 84-d for
    LeNet-5, 512-d for ResNet-18)."""
    caller = "layer_features"
    x = as_batch(inputs, caller)
    chunks = []
    for batch in _batches(x, batch_size, caller):
        if layer is None:
            with LayerRecorder(model, None, caller, inputs=True) as record, ember.no_grad():
                run_model(model, ember.from_numpy(batch), caller)
            last = next((name for name in reversed(record.order)
                         if isinstance(model.get_submodule(name), nn.Linear)), None)
            if last is None:
                raise ValueError(f"{caller}: {type(model).__name__} has no Linear layer; name "
                                 f"the layer whose output to use")
            values = record.input(last).numpy()
        else:
            values = _activations(model, batch, layer, caller)
        chunks.append(values.reshape(len(batch), -1).astype(np.float64))
    return np.concatenate(chunks)


def nearest_neighbours(queries, features, k=5):
    """``(indices (Q, k), distances (Q, k))``: the ``k`` rows of ``features`` ``(N, D)``
    nearest to each row of ``queries`` ``(Q, D)`` in L2 distance, nearest first (ties: the
    lower index first). For pixel-space neighbours pass the flattened images."""
    from ember.classical.neighbors import pairwise_distances
    queries = np.asarray(queries, dtype=np.float64)
    features = np.asarray(features, dtype=np.float64)
    if not isinstance(k, (int, np.integer)) or not 1 <= k <= len(features):
        raise ValueError(f"nearest_neighbours: k must lie in [1, {len(features)}], got {k!r}")
    distances = pairwise_distances(queries.reshape(len(queries), -1),
                                   features.reshape(len(features), -1))
    order = np.argsort(distances, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(distances, order, axis=1)


def embed(features, method="tsne", seed=0, perplexity=30.0):
    """2-D coordinates ``(N, 2)`` of the feature vectors ``(N, D)``: ``"tsne"``
    (``sklearn.manifold.TSNE`` with ``perplexity``, PCA initialisation) or ``"pca"``
    (``sklearn.decomposition.PCA``, the two directions of largest variance), seeded.

    t-SNE runs its OpenMP loops on one thread: on cores shared with other work their
    spin-waiting made 500 points take 70 s on two threads against 5 s on one."""
    features = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    if method not in EMBEDDINGS:
        raise ValueError(f"embed: method must be 'tsne' or 'pca', got {method!r}")
    if len(features) < 3:
        raise ValueError(f"embed: needs at least 3 feature vectors, got {len(features)}")
    if method == "pca":
        from sklearn.decomposition import PCA
        return PCA(n_components=2, random_state=seed).fit_transform(features)
    from sklearn.manifold import TSNE
    if not 0 < perplexity < len(features):
        raise ValueError(f"embed: perplexity must lie in (0, {len(features)}) for "
                         f"{len(features)} vectors, got {perplexity}")
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1, user_api="openmp"):
        return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed
                    ).fit_transform(features)
