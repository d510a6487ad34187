"""Choosing hyper-parameters on held-out data (lecture 001 「Data split」, inventory A26).

Choosing what works best on the training data is bad (k = 1 is always perfect there);
splitting only into train and test and choosing on test is bad (the test score is then
spent); split into train, validation and test, choose on validation and report on test.
With little data, k-fold cross-validation rotates the validation part over ``k`` folds of
the training data and averages.
"""
import numpy as np

from ember.classical.base import Estimator, as_samples, as_targets, clone

__all__ = ["KFold", "cross_val_score", "validation_curve"]


class KFold:
    """``n_splits`` consecutive folds of ``N`` samples (after a seeded shuffle if ``shuffle``);
    each fold is the validation set once, the others the training set. The first ``N %
    n_splits`` folds hold one sample more. Without shuffling the folds equal
    ``sklearn.model_selection.KFold(n_splits)``'s."""

    def __init__(self, n_splits=5, shuffle=False, seed=None):
        if int(n_splits) != n_splits or n_splits < 2:
            raise ValueError(f"KFold: n_splits must be an integer >= 2, got {n_splits!r}")
        self.n_splits = int(n_splits)
        self.shuffle = shuffle
        self.seed = seed

    def split(self, n_samples):
        """Yields ``(train_indices, validation_indices)`` for each fold."""
        if n_samples < self.n_splits:
            raise ValueError(f"KFold: cannot split {n_samples} samples into {self.n_splits} folds")
        order = (np.random.default_rng(self.seed).permutation(n_samples) if self.shuffle
                 else np.arange(n_samples))
        sizes = np.full(self.n_splits, n_samples // self.n_splits)
        sizes[:n_samples % self.n_splits] += 1
        stops = np.cumsum(sizes)
        for start, stop in zip(stops - sizes, stops):
            yield np.concatenate([order[:start], order[stop:]]), order[start:stop]

    def __repr__(self):
        return f"KFold(n_splits={self.n_splits}, shuffle={self.shuffle}, seed={self.seed})"


def _folds(cv, n, caller):
    splitter = KFold(cv) if isinstance(cv, (int, np.integer)) else cv
    if not isinstance(splitter, KFold):
        raise TypeError(f"{caller}: cv must be a number of folds or a KFold, got "
                        f"{type(cv).__name__}")
    return list(splitter.split(n))


def _data(estimator, X, y, caller):
    if not isinstance(estimator, Estimator):
        raise TypeError(f"{caller}: expected an ember.classical estimator, got "
                        f"{type(estimator).__name__}")
    X = as_samples(X, caller)
    return X, as_targets(y, len(X), caller)


def cross_val_score(estimator, X, y, cv=5):
    """The validation score of ``estimator`` (a fresh clone fitted per fold) on each of the
    ``cv`` folds (an int or a :class:`KFold`) -> ``(n_folds,)``."""
    X, y = _data(estimator, X, y, "cross_val_score")
    return np.array([clone(estimator).fit(X[train], y[train]).score(X[val], y[val])
                     for train, val in _folds(cv, len(X), "cross_val_score")])


def validation_curve(estimator, X, y, param_name, param_range, cv=5):
    """Training and validation scores of ``estimator`` with ``param_name`` set to each value
    of ``param_range``, by cross-validation: ``(train_scores, validation_scores)``, each
    ``(len(param_range), n_folds)``, as ``sklearn.model_selection.validation_curve``.

    The lecture's use: the validation accuracy of kNN against ``k`` (the training accuracy
    of 1-NN is always 1); choose the value with the best mean validation score.
    """
    X, y = _data(estimator, X, y, "validation_curve")
    if param_name not in estimator.get_params():
        raise ValueError(f"validation_curve: {type(estimator).__name__} has no parameter "
                         f"{param_name!r}; it has {sorted(estimator.get_params())}")
    folds = _folds(cv, len(X), "validation_curve")
    train_scores = np.empty((len(param_range), len(folds)))
    val_scores = np.empty((len(param_range), len(folds)))
    for i, value in enumerate(param_range):
        for j, (train, val) in enumerate(folds):
            model = clone(estimator).set_params(**{param_name: value}).fit(X[train], y[train])
            train_scores[i, j] = model.score(X[train], y[train])
            val_scores[i, j] = model.score(X[val], y[val])
    return train_scores, val_scores
