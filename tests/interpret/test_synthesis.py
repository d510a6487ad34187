"""Images made by gradient ascent (inventory G9, G11, G12): each does what its objective says
on a small trained network, stays in bounds, is seeded, and leaves the model as it was."""
import numpy as np
import pytest

import ember
import ember.interpret as interpret
from tests.interpret.models import hook_counts


def pixel_bounds(digits):
    """The normalised values of a black and a white pixel."""
    pre = digits["preprocessing"]
    return (0 - pre["mean"][0]) / pre["std"][0], (1 - pre["mean"][0]) / pre["std"][0]


def test_class_visualization_raises_the_class_score(trained_digits_net, digits):
    # inventory G9: argmax_I S_c(I) - lambda |I|^2
    model = trained_digits_net
    hooks = hook_counts(model)
    lo, hi = pixel_bounds(digits)
    # jitter and blur are for large images: 2 pixels are a quarter of an 8x8 digit
    targets = [1, 3, 7]
    images = interpret.class_visualization(model, targets, (1, 8, 8), steps=100, lr=0.05,
                                           bounds=(lo, hi), jitter=0, blur_every=0,
                                           generator=ember.Generator().manual_seed(0)).numpy()
    assert images.shape == (3, 1, 8, 8) and images.min() >= lo and images.max() <= hi
    with ember.no_grad():
        scores = model(ember.from_numpy(images)).numpy()[:, targets]     # S_c(I_d)
    start = 0.01 * ember.randn(3, 1, 8, 8, generator=ember.Generator().manual_seed(0)).numpy()
    with ember.no_grad():
        before = model(ember.from_numpy(start.astype(np.float32))).numpy()[:, targets]
    # each image scores its own class higher than the other classes' images do, and far
    # higher than the noise it started from
    others = ~np.eye(3, dtype=bool)
    assert (np.broadcast_to(np.diag(scores), (3, 3))[others] > scores[others]).all()
    assert (np.diag(scores) > np.diag(before) + 5).all()
    assert hook_counts(model) == hooks


def total_variation(x):
    return np.abs(np.diff(x, axis=2)).sum() + np.abs(np.diff(x, axis=3)).sum()


def test_blur_and_jitter_regularisers(trained_digits_net):
    def visualize(**kwargs):
        return interpret.class_visualization(trained_digits_net, 5, (1, 8, 8), steps=20,
                                             generator=ember.Generator().manual_seed(2),
                                             **kwargs).numpy()
    sharp, smooth = visualize(blur_every=0, jitter=0), visualize(blur_every=1, jitter=0)
    assert total_variation(smooth) < 0.7 * total_variation(sharp)
    jittered = visualize(blur_every=0, jitter=2)
    np.testing.assert_array_equal(jittered, visualize(blur_every=0, jitter=2))   # seeded
    assert not np.allclose(jittered, sharp)


def test_l2_regulariser_shrinks_the_image(trained_digits_net):
    norms = [np.linalg.norm(interpret.class_visualization(
        trained_digits_net, 2, (1, 8, 8), steps=20, l2=l2, blur_every=0, jitter=0,
        generator=ember.Generator().manual_seed(1)).numpy()) for l2 in (0.0, 2.0)]
    assert norms[1] < norms[0]


def test_feature_inversion_matches_the_features(trained_digits_net, digits):
    # inventory G11: the image found has (nearly) the features of the original
    model = trained_digits_net
    target = digits["test"][0][:2]
    inverted = interpret.feature_inversion(model, target, "relu1", steps=60, lr=0.1,
                                           generator=ember.Generator().manual_seed(0)).numpy()
    wanted = interpret.layer_activations(model, target, "relu1").numpy()
    got = interpret.layer_activations(model, inverted, "relu1").numpy()
    start = interpret.layer_activations(model, 0.01 * np.random.default_rng(0).normal(
        size=target.shape).astype(np.float32), "relu1").numpy()
    error = np.linalg.norm(got - wanted) / np.linalg.norm(wanted)
    assert error < 0.5 * np.linalg.norm(start - wanted) / np.linalg.norm(wanted)
    assert error < 0.3
    assert all(p.grad is None or np.isfinite(p.grad.numpy()).all() for p in model.parameters())


def test_deep_dream_amplifies_the_layer(trained_digits_net, digits):
    # inventory G12: the layer's energy grows; octaves and tiles keep the image's size
    model = trained_digits_net
    image = np.tile(digits["test"][0][:1], (1, 1, 3, 2))            # a 24x16 "photo"

    def energy(x):
        a = interpret.layer_activations(model, x, "relu2").numpy()
        return float((a * a).sum())
    for tile in (None, (8, 8)):
        dream = interpret.deep_dream(model, image, "relu2", octaves=2, octave_scale=1.5,
                                     steps=5, lr=0.05, tile=tile, bounds=(-1.0, 3.0),
                                     generator=ember.Generator().manual_seed(0)).numpy()
        assert dream.shape == image.shape and dream.min() >= -1 and dream.max() <= 3
        assert energy(dream) > 1.5 * energy(image)
    with pytest.raises(ValueError, match=r"deep_dream: the image \(24x16\) is smaller than a "
                                         r"tile \(32x32\)"):
        interpret.deep_dream(model, image, "relu2", tile=(32, 32))
    with pytest.raises(ValueError, match="deep_dream: expected one image"):
        interpret.deep_dream(model, np.concatenate([image, image]), "relu2")


def test_synthesis_argument_errors(trained_digits_net):
    model = trained_digits_net
    with pytest.raises(ValueError, match="class_visualization: target 10 is out of range"):
        interpret.class_visualization(model, 10, (1, 8, 8), steps=1)
    with pytest.raises(ValueError, match=r"class_visualization: shape must be one image's"):
        interpret.class_visualization(model, 1, (8, 8), steps=1)
    with pytest.raises(ValueError, match="feature_inversion: DigitsNet has no layer 'conv9'"):
        interpret.feature_inversion(model, np.zeros((1, 1, 8, 8), np.float32), "conv9")
    with pytest.raises(ValueError, match="deep_dream: octave_scale must be a number > 1"):
        interpret.deep_dream(model, np.zeros((1, 1, 8, 8), np.float32), "relu2",
                             octave_scale=1.0)
