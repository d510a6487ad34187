"""What every classical model shares: scikit-learn's estimator conventions.

``fit(X, y)`` learns and returns the model, ``predict(X)`` answers, ``score(X, y)`` is the
accuracy of a classifier or the ``R^2`` of a regressor; the constructor's arguments are the
hyper-parameters (``get_params`` / ``set_params``, :func:`clone` makes an unfitted copy, as
cross-validation needs), and what ``fit`` learns ends in ``_`` (``classes_``, ``coef_``).

Data: ``X`` is a NumPy array or an Ember ``Tensor`` of ``N`` samples; every sample is seen
as one vector, so images ``(N, H, W)`` become ``(N, H*W)`` (lecture 003: a 100x100 grey
image is a point of a 10,000-dimensional space, inventory F16). ``y`` holds ``N`` labels of
any type that NumPy can sort.
"""
import inspect

import numpy as np

import ember

__all__ = ["Estimator", "Classifier", "Regressor", "clone", "as_samples", "as_targets"]


def _numpy(data):
    return data.detach().numpy() if isinstance(data, ember.Tensor) else np.asarray(data)


def as_samples(X, caller, dtype=np.float64):
    """``X`` as a ``(N, D)`` array of ``dtype``: every sample flattened to a vector."""
    X = _numpy(X)
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{caller}: X must be numeric, got dtype {X.dtype}")
    if X.ndim < 2:
        raise ValueError(f"{caller}: X must be (N, D) samples (or (N, ...) images), got shape "
                         f"{X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{caller}: X has no samples (shape {X.shape})")
    return X.reshape(X.shape[0], -1).astype(dtype, copy=False)


def as_targets(y, n, caller):
    """``y`` as a 1-D array of ``n`` labels (or regression targets)."""
    y = _numpy(y)
    if y.ndim != 1 or len(y) != n:
        raise ValueError(f"{caller}: y must be ({n},) to match X's {n} samples, got shape "
                         f"{y.shape}")
    return y


class Estimator:
    """Hyper-parameters are the constructor's arguments, stored under the same names."""

    @classmethod
    def _param_names(cls):
        signature = inspect.signature(cls.__init__)
        return [name for name, p in signature.parameters.items()
                if name != "self" and p.kind is not p.VAR_KEYWORD]

    def get_params(self):
        """``{name: value}`` of the hyper-parameters."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        """Change hyper-parameters by name (unknown names are an error); returns ``self``."""
        names = self._param_names()
        for name, value in params.items():
            if name not in names:
                raise ValueError(f"{type(self).__name__}.set_params: unknown parameter {name!r}; "
                                 f"expected one of {names}")
            setattr(self, name, value)
        return self

    def _check_fitted(self, caller):
        if not hasattr(self, "n_features_in_"):
            raise RuntimeError(f"{type(self).__name__}.{caller}: call fit(X, y) first")

    def _samples(self, X, caller):
        """``X`` for a fitted model: ``(N, D)`` with the ``D`` features seen by ``fit``."""
        self._check_fitted(caller)
        X = as_samples(X, f"{type(self).__name__}.{caller}")
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"{type(self).__name__}.{caller}: X has {X.shape[1]} features per "
                             f"sample, but the model was fitted on {self.n_features_in_}")
        return X

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


class Classifier(Estimator):
    """``score`` is the accuracy ``(1/N) sum_i 1(predict(x_i) = y_i)`` (lecture 003)."""

    def _encode(self, y, n, caller):
        """Sets ``classes_`` (sorted labels) and returns ``y`` as indices into it."""
        y = as_targets(y, n, f"{type(self).__name__}.{caller}")
        self.classes_, encoded = np.unique(y, return_inverse=True)
        return encoded

    def score(self, X, y):
        X = as_samples(X, f"{type(self).__name__}.score")
        y = as_targets(y, len(X), f"{type(self).__name__}.score")
        return float(np.mean(self.predict(X) == y))


class Regressor(Estimator):
    """``score`` is the coefficient of determination ``R^2 = 1 - SS_res / SS_tot``."""

    def score(self, X, y):
        prediction = self.predict(X)
        y = as_targets(y, len(prediction), f"{type(self).__name__}.score").astype(np.float64)
        residual = ((y - prediction) ** 2).sum()
        total = ((y - y.mean()) ** 2).sum()
        return float(1.0 - residual / total) if total > 0 else float(residual == 0)


def clone(estimator):
    """A new, unfitted estimator with the same hyper-parameters."""
    if not isinstance(estimator, Estimator):
        raise TypeError(f"clone: expected an ember.classical estimator, got "
                        f"{type(estimator).__name__}")
    return type(estimator)(**estimator.get_params())
