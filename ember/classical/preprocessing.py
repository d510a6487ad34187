"""Feature standardization (lecture 003 「特征标准化」, inventory A31).

For every dimension ``i``, with the training mean ``m_i`` and standard deviation
``sigma_i``: ``x~_i = (x_i - m_i) / sigma_i``, so that every dimension has mean 0 and variance
1 ("makes the network converge faster": gradient descent takes equal steps in every
direction). The statistics come from the training data only and are reused for test data.
"""
import numpy as np

from ember.classical.base import Estimator, as_samples

__all__ = ["StandardScaler"]


class StandardScaler(Estimator):
    """``transform(X) = (X - mean_) / scale_`` per feature (``with_mean`` / ``with_std`` turn
    either part off). ``scale_`` is the population standard deviation (divisor ``N``); a
    feature that never varies keeps scale 1, so it maps to 0 instead of dividing by zero.
    Equal to ``sklearn.preprocessing.StandardScaler``.

    Fitted: ``mean_``, ``var_``, ``scale_``, ``n_features_in_``.
    """

    def __init__(self, with_mean=True, with_std=True):
        self.with_mean = with_mean
        self.with_std = with_std

    def fit(self, X, y=None):
        """Learn the per-feature mean and standard deviation of ``X`` ``(N, D)``."""
        X = as_samples(X, "StandardScaler.fit")
        self.mean_ = X.mean(axis=0)
        self.var_ = X.var(axis=0)
        # a feature is constant when its variance is within the rounding error of the
        # two-pass variance (Chan, Golub and LeVeque's bound, as scikit-learn)
        n, eps = len(X), np.finfo(np.float64).eps
        constant = self.var_ <= n * eps * self.var_ + (n * self.mean_ * eps) ** 2
        self.scale_ = np.where(constant, 1.0, np.sqrt(self.var_))
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        """``(X - mean_) / scale_`` -> ``(N, D)`` float64."""
        X = self._samples(X, "transform")
        if self.with_mean:
            X = X - self.mean_
        return X / self.scale_ if self.with_std else X.copy()

    def fit_transform(self, X, y=None):
        return self.fit(X).transform(X)

    def inverse_transform(self, X):
        """``X * scale_ + mean_``: back to the original units."""
        X = self._samples(X, "inverse_transform")
        if self.with_std:
            X = X * self.scale_
        return X + self.mean_ if self.with_mean else X.copy()
