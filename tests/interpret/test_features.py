"""Feature visualization (inventory G1-G5, G13): activations, first-layer filters, receptive
fields of the maximally activating patches, nearest neighbours in feature space and 2-D
embeddings, each against a direct computation or scikit-learn."""
import numpy as np
import pytest

import ember
import ember.interpret as interpret
from ember import nn
from ember.vision import models
from tests.interpret.models import hook_counts


@pytest.fixture(scope="module")
def lenet():
    ember.manual_seed(3)
    return models.lenet5(padded=True).double().eval()


def images(n, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 1, 28, 28))


def test_layer_activations_stop_at_the_layer(lenet):
    # inventory G2
    x = images(3)
    with ember.no_grad():
        expected = lenet.relu2(lenet.conv2(lenet.pool1(lenet.relu1(lenet.conv1(
            ember.from_numpy(x)))))).numpy()
    ran = []
    handle = lenet.fc1.register_forward_hook(lambda *args: ran.append(True))
    try:
        out = interpret.layer_activations(lenet, x, "relu2", batch_size=2)
    finally:
        handle.remove()
    np.testing.assert_allclose(out.numpy(), expected, rtol=0, atol=1e-13)   # batches of 2
    assert ran == []                                 # the forward pass ended at relu2


def test_first_layer_filters(lenet):
    # inventory G1: the first convolution's weights, "6 x 1 x 5 x 5" for LeNet-5
    filters = interpret.first_layer_filters(lenet)
    np.testing.assert_array_equal(filters.numpy(), lenet.conv1.weight.detach().numpy())
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(12, 4))
    assert tuple(interpret.first_layer_filters(mlp, (3, 2, 2)).shape) == (4, 3, 2, 2)
    with pytest.raises(ValueError, match="first_layer_filters: Sequential has no Conv2d"):
        interpret.first_layer_filters(mlp)


def test_receptive_field_boxes(lenet):
    # inventory G13: pool2's units see 16x16 pixels 4 apart, starting 2 pixels before the
    # image (conv1 pads by 2)
    field = interpret.receptive_field(lenet, (1, 28, 28), "pool2")
    assert (field.size, field.jump, field.start) == ((16, 16), (4, 4), (-2, -2))
    assert field.box(0, 0, (28, 28)) == (0, 0, 14, 14)
    assert field.box(4, 2, (28, 28)) == (14, 6, 28, 22)
    with pytest.raises(ValueError, match="receptive_field: layer 'fc1' returns shape"):
        interpret.receptive_field(lenet, (1, 28, 28), "fc1")


def test_top_patches_are_the_strongest_units_with_their_fields(lenet):
    # inventory G3
    x = images(12)
    patches = interpret.top_patches(lenet, x, "conv2", channel=5, k=4)
    maps = interpret.layer_activations(lenet, x, "conv2").numpy()[:, 5]
    best = maps.reshape(12, -1).max(axis=1)
    assert [p.image for p in patches] == list(np.argsort(-best, kind="stable")[:4])
    field = interpret.receptive_field(lenet, (1, 28, 28), "conv2")
    for patch in patches:
        row, col = patch.position
        assert maps[patch.image, row, col] == pytest.approx(patch.activation) == best[patch.image]
        assert patch.box == field.box(row, col, (28, 28))
        top, left, bottom, right = patch.box
        assert bottom - top <= 14 and right - left <= 14
    with pytest.raises(ValueError, match="top_patches: channel 16 is out of range for layer "
                                         "'conv2' with 16 channels"):
        interpret.top_patches(lenet, x, "conv2", channel=16)


def test_layer_features_default_to_the_last_linear_layers_input(lenet):
    x = images(5)
    captured = []
    handle = lenet.fc3.register_forward_pre_hook(lambda m, args: captured.append(args[0]))
    try:
        with ember.no_grad():
            lenet(ember.from_numpy(x))
    finally:
        handle.remove()
    features = interpret.layer_features(lenet, x, batch_size=2)
    assert features.shape == (5, 84)
    np.testing.assert_allclose(features, captured[0].numpy(), rtol=0, atol=1e-13)
    flat = interpret.layer_features(lenet, x, "pool2")
    assert flat.shape == (5, 400)


def test_nearest_neighbours_equal_scikit_learn():
    # inventory G4
    from sklearn.neighbors import NearestNeighbors
    rng = np.random.default_rng(0)
    features, queries = rng.normal(size=(50, 7)), rng.normal(size=(4, 7))
    indices, distances = interpret.nearest_neighbours(queries, features, k=5)
    theirs_d, theirs_i = NearestNeighbors(n_neighbors=5).fit(features).kneighbors(queries)
    np.testing.assert_array_equal(indices, theirs_i)
    np.testing.assert_allclose(distances, theirs_d, rtol=1e-12)
    with pytest.raises(ValueError, match=r"nearest_neighbours: k must lie in \[1, 50\]"):
        interpret.nearest_neighbours(queries, features, k=51)


def test_embeddings():
    # inventory G5: PCA is scikit-learn's; t-SNE keeps the clusters apart and is seeded
    from sklearn.decomposition import PCA
    rng = np.random.default_rng(0)
    features = np.concatenate([rng.normal(0, 1, (20, 10)), rng.normal(8, 1, (20, 10))])
    np.testing.assert_allclose(interpret.embed(features, "pca"),
                               PCA(n_components=2, random_state=0).fit_transform(features))
    points = interpret.embed(features, "tsne", perplexity=10)
    assert points.shape == (40, 2)
    np.testing.assert_array_equal(points, interpret.embed(features, "tsne", perplexity=10))
    a, b = points[:20].mean(axis=0), points[20:].mean(axis=0)
    spread = max(points[:20].std(axis=0).max(), points[20:].std(axis=0).max())
    assert np.linalg.norm(a - b) > 3 * spread
    with pytest.raises(ValueError, match="embed: method must be 'tsne' or 'pca'"):
        interpret.embed(features, "umap")


def test_feature_methods_leave_no_hooks(lenet):
    hooks = hook_counts(lenet)
    x = images(3)
    interpret.layer_activations(lenet, x, "conv1")
    interpret.top_patches(lenet, x, "conv1", 0, k=2)
    interpret.layer_features(lenet, x)
    with pytest.raises(ValueError, match="layer_activations: LeNet5 has no layer 'conv3'"):
        interpret.layer_activations(lenet, x, "conv3")
    assert hook_counts(lenet) == hooks
