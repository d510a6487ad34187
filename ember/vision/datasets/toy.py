"""Generated toy problems: 2-D classification data that is not linearly separable (MLP
examples), and the lectures' 1-D polynomial regression data (under- and overfitting).

The lectures ask whether a linear model can separate such data ("数据并非线性可分") and
whether a network can compute XOR ("可以实现xor吗?": it needs a hidden layer; `003`
L600-690, inventory A32). Each generator returns ``(X, y)``: ``X`` float32 of shape
``(n_samples, 2)``, ``y`` int64 class labels of shape ``(n_samples,)``, in a random order, or
with ``as_dataset=True`` a ``TensorDataset`` of the two tensors.

``noise`` is the standard deviation of Gaussian noise added to every coordinate (to the
target, for ``make_polynomial``). ``seed``
makes the draw independent of everything else; with ``seed=None`` the draws come from
ember's default generator, so ``ember.manual_seed`` makes them reproducible.
"""
import numpy as np

import ember
from ember import _random
from ember.utils.data import TensorDataset


def _rng(seed):
    return _random.rng() if seed is None else np.random.default_rng(seed)


def _check(name, n_samples, noise, min_samples=1):
    if int(n_samples) != n_samples or n_samples < min_samples:
        raise ValueError(f"{name}: n_samples must be an integer >= {min_samples}, got {n_samples}")
    if noise < 0:
        raise ValueError(f"{name}: noise is a standard deviation and must be >= 0, got {noise}")


def _finish(points, labels, noise, rng, as_dataset):
    """Add noise, shuffle, cast to float32 / int64 and optionally wrap in a TensorDataset."""
    points = points + noise * rng.standard_normal(points.shape)
    order = rng.permutation(len(labels))
    X = points[order].astype(np.float32)
    y = labels[order].astype(np.int64)
    if as_dataset:
        return TensorDataset(ember.from_numpy(X), ember.from_numpy(y))
    return X, y


def _split_evenly(n_samples, parts):
    """Labels ``0..parts-1`` with counts as equal as possible (the first ones get the extra)."""
    return np.arange(n_samples) % parts


def make_xor(n_samples=200, noise=0.1, seed=None, as_dataset=False):
    """XOR: points around the four corners of the unit square, label ``x1 XOR x2``.

    The corners ``(0,0), (0,1), (1,0), (1,1)`` get labels ``0, 1, 1, 0`` and (nearly) equal
    shares of the samples; with ``noise=0`` and ``n_samples=4`` this is the truth table.
    """
    _check("make_xor", n_samples, noise)
    rng = _rng(seed)
    corners = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    corner = _split_evenly(n_samples, 4)
    return _finish(corners[corner], np.array([0, 1, 1, 0])[corner], noise, rng, as_dataset)


def make_circles(n_samples=200, noise=0.1, seed=None, factor=0.5, as_dataset=False):
    """Two concentric circles: label 0 on the unit circle, label 1 on the circle of radius
    ``factor`` (0 < factor < 1); points evenly spaced in angle, as scikit-learn's."""
    _check("make_circles", n_samples, noise, min_samples=2)
    if not 0.0 < factor < 1.0:
        raise ValueError(f"make_circles: factor must lie in (0, 1), got {factor}")
    rng = _rng(seed)
    n_outer = n_samples // 2
    n_inner = n_samples - n_outer
    angle_outer = np.linspace(0.0, 2.0 * np.pi, n_outer, endpoint=False)
    angle_inner = np.linspace(0.0, 2.0 * np.pi, n_inner, endpoint=False)
    points = np.concatenate([np.stack([np.cos(angle_outer), np.sin(angle_outer)], 1),
                             factor * np.stack([np.cos(angle_inner), np.sin(angle_inner)], 1)])
    labels = np.repeat([0, 1], [n_outer, n_inner])
    return _finish(points, labels, noise, rng, as_dataset)


def make_moons(n_samples=200, noise=0.1, seed=None, as_dataset=False):
    """Two interleaving half circles, as scikit-learn's: label 0 on ``(cos t, sin t)``,
    label 1 on ``(1 - cos t, 0.5 - sin t)``, ``t`` evenly spaced in ``[0, pi]``."""
    _check("make_moons", n_samples, noise, min_samples=2)
    rng = _rng(seed)
    n_outer = n_samples // 2
    n_inner = n_samples - n_outer
    t_outer = np.linspace(0.0, np.pi, n_outer)
    t_inner = np.linspace(0.0, np.pi, n_inner)
    points = np.concatenate([np.stack([np.cos(t_outer), np.sin(t_outer)], 1),
                             np.stack([1.0 - np.cos(t_inner), 0.5 - np.sin(t_inner)], 1)])
    labels = np.repeat([0, 1], [n_outer, n_inner])
    return _finish(points, labels, noise, rng, as_dataset)


def make_spirals(n_samples=200, noise=0.1, seed=None, n_classes=2, as_dataset=False):
    """``n_classes`` interleaved spiral arms, one per class.

    A point of arm ``k`` at radius ``r`` (``r`` evenly spaced in ``[0, 1]`` along the arm)
    sits at angle ``2*pi*k/n_classes + 3*pi*r``: every arm winds 1.5 turns, the arms are
    rotated copies of each other.
    """
    _check("make_spirals", n_samples, noise, min_samples=n_classes)
    if int(n_classes) != n_classes or n_classes < 2:
        raise ValueError(f"make_spirals: n_classes must be an integer >= 2, got {n_classes}")
    rng = _rng(seed)
    labels = np.sort(_split_evenly(n_samples, n_classes))
    starts = np.searchsorted(labels, np.arange(n_classes))
    counts = np.bincount(labels, minlength=n_classes)
    position = np.arange(n_samples) - starts[labels]                # index along its arm
    radius = position / np.maximum(counts[labels] - 1, 1)
    angle = 2.0 * np.pi * labels / n_classes + 3.0 * np.pi * radius
    points = radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], 1)
    return _finish(points, labels, noise, rng, as_dataset)


def make_polynomial(n_samples=50, coefficients=(1.5, 2.3, 2.0), noise=0.5, x_range=(-2.0, 2.0),
                    seed=None, as_dataset=False):
    """Noisy samples of a polynomial: lecture 003 「过拟合、欠拟合与模型复杂度」 (inventory A25,
    H30) draws its under/overfitting data from ``1.5x² + 2.3x + 2 + N(0, 0.5)``, the default
    (polynomial regression: inventory F5).

    ``coefficients`` are highest degree first, like the slide's ``[w_F … w_2 w_1 w_0]`` and
    ``np.polyval``; ``x`` is uniform over ``x_range`` (the slide gives no range). ⚠ The slide's
    ``N(0, 0.5)`` does not say whether 0.5 is the standard deviation or the variance; here
    ``noise`` is the standard deviation, as for every generator of this module. Returns ``X``
    float32 ``(n_samples, 1)`` and ``y`` float32 ``(n_samples,)`` (or a ``TensorDataset``).
    Fitting ``ember.vander(X[:, 0], F + 1)`` by least squares is polynomial regression of
    degree F.
    """
    _check("make_polynomial", n_samples, noise)
    low, high = x_range
    if not low < high:
        raise ValueError(f"make_polynomial: x_range must be (low, high) with low < high, got "
                         f"{x_range}")
    if len(coefficients) == 0:
        raise ValueError("make_polynomial: expected at least one coefficient, got none")
    rng = _rng(seed)
    x = rng.uniform(low, high, n_samples)
    y = np.polyval(np.asarray(coefficients, np.float64), x) + noise * rng.standard_normal(
        n_samples)
    X, y = x[:, None].astype(np.float32), y.astype(np.float32)
    if as_dataset:
        return TensorDataset(ember.from_numpy(X), ember.from_numpy(y))
    return X, y
