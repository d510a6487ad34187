"""Linear models, the lectures' first learned classifiers and regressors (inventory F3, F4,
F5, A23, A25, C3, H16).

- :class:`LinearClassifier`: one weight vector (a "template") per class, scores
  ``f(x) = W x + b``, decision ``argmax_k (W x + b)_k`` (lecture 003 「线性模型」); trained on
  Ember by mini-batch SGD with momentum and step-decayed learning rate (lecture 003's rule of
  thumb, A20) on the multiclass SVM (hinge) or the softmax (cross-entropy) loss, plus an L2
  penalty ``lambda |W|^2`` (A23). Its rows reshaped to images are the class templates of
  "Interpreting a Linear Classifier: Visual Viewpoint".
- :class:`Perceptron`: Rosenblatt's rule ``w_i(t+1) = w_i(t) + alpha (d_j - y_j(t)) x_{j,i}``
  (lecture 001, Mark I Perceptron); it converges on linearly separable data and never on XOR,
  which needs a hidden layer (A32).
- :class:`RidgeRegression` and :class:`PolynomialRegression`: least squares with
  ``lambda |w|^2`` (A23), and the under/over-fitting demo on the Vandermonde design matrix
  ``[x^F ... x^2 x 1]`` with data ``1.5 x^2 + 2.3 x + 2 + N(0, 0.5)`` (A25).
"""
import numpy as np

import ember
import ember.nn.functional as F
from ember.classical.base import Classifier, Regressor, as_samples, as_targets

__all__ = ["multiclass_svm_loss", "LinearClassifier", "Perceptron", "RidgeRegression",
           "PolynomialRegression", "polynomial_features", "make_polynomial_data"]

LOSSES = ("svm", "softmax")


def multiclass_svm_loss(scores, target, margin=1.0, reduction="mean"):
    """The multiclass SVM (hinge) loss of the lectures' score tables:
    ``L_i = sum_{j != y_i} max(0, s_j - s_{y_i} + margin)``; zero once the true class leads
    every other class by ``margin`` (lecture 003 「最大间距」: ``max(0, (Wx)_2 - (Wx)_1)``,
    "avoid optimising to minus infinity").

    ``scores`` ``(N, C)`` Tensor, ``target`` ``(N,)`` class indices -> per-sample ``(N,)``
    (``reduction='none'``), their mean or sum. Differentiable. It is ``C`` times
    ``ember.nn.functional.multi_margin_loss`` (torch's divides by the number of classes).
    On lecture 001's cat/car/frog scores it gives 2.9, 0 and 12.9 (inventory H16).
    """
    return F.multi_margin_loss(scores, target, margin=margin, reduction=reduction) * \
        scores.shape[-1]


class LinearClassifier(Classifier):
    """Linear classifier ``scores = X W^T + b`` trained by mini-batch SGD on Ember.

    Objective: the mean of ``loss`` over the batch plus ``reg * |W|^2`` (the bias is not
    penalised). ``loss``: ``'svm'`` (:func:`multiclass_svm_loss`, margin 1) or ``'softmax'``
    (cross-entropy of ``softmax(scores)``; with ``reg = 1 / (2 C N)`` this is scikit-learn's
    ``LogisticRegression(C=C)`` objective). Training: ``epochs`` passes over the data in a
    seeded random order, batches of ``batch_size``, ``ember.optim.SGD(lr, momentum)``, the
    learning rate multiplied by ``lr_decay`` after every epoch. ``W`` starts from
    ``N(0, 0.01^2)`` (lecture 003's AlexNet initialisation), ``b`` from 0, both seeded by
    ``seed``; float32 throughout, as Ember trains networks.

    Features should be on comparable scales: standardise them first
    (:class:`ember.classical.preprocessing.StandardScaler`).

    Fitted: ``coef_`` ``(C, D)``, ``intercept_`` ``(C,)``, ``classes_``, ``loss_history_``
    (the mean objective of every epoch), ``n_features_in_``.
    """

    def __init__(self, loss="softmax", reg=1e-3, lr=0.1, momentum=0.9, epochs=50,
                 batch_size=32, lr_decay=0.93, seed=0):
        self.loss = loss
        self.reg = reg
        self.lr = lr
        self.momentum = momentum
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr_decay = lr_decay
        self.seed = seed

    def _check_hyper_parameters(self):
        if self.loss not in LOSSES:
            raise ValueError(f"LinearClassifier: loss must be one of {LOSSES}, got {self.loss!r}")
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if int(value) != value or value < 1:
                raise ValueError(f"LinearClassifier: {name} must be an integer >= 1, got {value!r}")
        if self.reg < 0 or not self.lr > 0 or not 0 < self.lr_decay <= 1:
            raise ValueError(f"LinearClassifier: need reg >= 0, lr > 0 and 0 < lr_decay <= 1, got "
                             f"reg={self.reg}, lr={self.lr}, lr_decay={self.lr_decay}")

    def fit(self, X, y):
        """Train on ``X`` ``(N, D)`` (or images) and labels ``y`` ``(N,)``."""
        self._check_hyper_parameters()
        X = as_samples(X, "LinearClassifier.fit", dtype=np.float32)
        labels = self._encode(y, len(X), "fit")
        rng = np.random.default_rng(self.seed)
        classes, features = len(self.classes_), X.shape[1]
        weight = ember.tensor(0.01 * rng.standard_normal((classes, features)),
                              dtype=ember.float32, requires_grad=True)
        bias = ember.zeros(classes, requires_grad=True)
        optimizer = ember.optim.SGD([weight, bias], lr=self.lr, momentum=self.momentum)
        schedule = ember.optim.lr_scheduler.ExponentialLR(optimizer, gamma=self.lr_decay)
        data_loss = multiclass_svm_loss if self.loss == "svm" else F.cross_entropy
        inputs, targets = ember.from_numpy(X), ember.from_numpy(labels.astype(np.int64))
        self.loss_history_ = []
        for _ in range(int(self.epochs)):
            order = ember.from_numpy(rng.permutation(len(X)))
            total = 0.0
            for start in range(0, len(X), int(self.batch_size)):
                batch = order[start:start + int(self.batch_size)]
                scores = F.linear(inputs[batch], weight, bias)
                objective = data_loss(scores, targets[batch]) + self.reg * (weight * weight).sum()
                optimizer.zero_grad()
                objective.backward()
                optimizer.step()
                total += objective.item() * len(batch)
            schedule.step()
            self.loss_history_.append(total / len(X))
        self.coef_ = weight.detach().numpy().copy()
        self.intercept_ = bias.detach().numpy().copy()
        self.n_features_in_ = features
        return self

    def decision_function(self, X):
        """Class scores ``X W^T + b`` -> ``(N, C)``, one column per entry of ``classes_``."""
        X = self._samples(X, "decision_function")
        return X @ self.coef_.T.astype(np.float64) + self.intercept_

    def predict(self, X):
        """``classes_[argmax_k score_k]`` -> ``(N,)``."""
        return self.classes_[self.decision_function(X).argmax(axis=1)]

    def predict_proba(self, X):
        """``softmax(scores)`` -> ``(N, C)``: the class probabilities the softmax loss trains
        (scores of the SVM loss are not probabilities, so only ``loss='softmax'`` has them)."""
        if self.loss != "softmax":
            raise AttributeError("LinearClassifier.predict_proba: only loss='softmax' gives "
                                 f"probabilities, this model has loss={self.loss!r}")
        scores = self.decision_function(X)
        scores = np.exp(scores - scores.max(axis=1, keepdims=True))
        return scores / scores.sum(axis=1, keepdims=True)

    def templates(self, image_shape):
        """The rows of ``W`` as images ``(C, *image_shape)``: what each class's score looks
        for (lecture 003 「可视化线性分类器」: one template per class)."""
        self._check_fitted("templates")
        return self.coef_.reshape((len(self.classes_),) + tuple(image_shape))


class Perceptron(Classifier):
    """Rosenblatt's perceptron for two classes (lecture 001 「A bit of history」):
    ``y = 1 if w . x + b > 0 else 0`` and, for every training sample ``j`` in turn,
    ``w <- w + lr (d_j - y_j) x_j``, ``b <- b + lr (d_j - y_j)`` (a change only on a mistake).

    ``classes_[1]`` is the positive class (``d = 1``). Each epoch visits the samples in a
    seeded random order (``shuffle``) or in order; training stops after an epoch without a
    mistake, which happens on linearly separable data, or after ``epochs``.

    Fitted: ``coef_`` ``(D,)``, ``intercept_``, ``classes_``, ``mistakes_`` (per epoch),
    ``n_features_in_``.
    """

    def __init__(self, lr=1.0, epochs=100, shuffle=True, seed=0):
        self.lr = lr
        self.epochs = epochs
        self.shuffle = shuffle
        self.seed = seed

    def fit(self, X, y):
        X = as_samples(X, "Perceptron.fit")
        targets = self._encode(y, len(X), "fit")
        if len(self.classes_) != 2:
            raise ValueError(f"Perceptron: needs exactly 2 classes, got {len(self.classes_)}: "
                             f"{self.classes_.tolist()[:10]}")
        if int(self.epochs) != self.epochs or self.epochs < 1 or not self.lr > 0:
            raise ValueError(f"Perceptron: need an integer epochs >= 1 and lr > 0, got "
                             f"epochs={self.epochs!r}, lr={self.lr!r}")
        rng = np.random.default_rng(self.seed)
        weights, bias = np.zeros(X.shape[1]), 0.0
        self.mistakes_ = []
        for _ in range(int(self.epochs)):
            mistakes = 0
            for j in rng.permutation(len(X)) if self.shuffle else range(len(X)):
                output = 1 if X[j] @ weights + bias > 0 else 0
                if output != targets[j]:
                    step = self.lr * (targets[j] - output)
                    weights += step * X[j]
                    bias += step
                    mistakes += 1
            self.mistakes_.append(mistakes)
            if mistakes == 0:
                break
        self.coef_, self.intercept_ = weights, bias
        self.n_features_in_ = X.shape[1]
        return self

    def decision_function(self, X):
        """``w . x + b`` -> ``(N,)``; positive means ``classes_[1]``."""
        return self._samples(X, "decision_function") @ self.coef_ + self.intercept_

    def predict(self, X):
        return self.classes_[(self.decision_function(X) > 0).astype(np.int64)]


class RidgeRegression(Regressor):
    """Least squares with an L2 penalty (lecture 003, A23): minimise
    ``sum_i (y_i - w . x_i - b)^2 + alpha |w|^2`` (the intercept ``b`` is not penalised; with
    ``fit_intercept=False`` there is none). ``alpha = 0`` is ordinary least squares.

    Solved exactly: centre ``X`` and ``y`` (removes ``b``), then the least-squares solution
    of ``[X_c; sqrt(alpha) I] w = [y_c; 0]`` by SVD (stable where the normal equations
    ``(X_c^T X_c + alpha I) w = X_c^T y_c`` lose precision; the minimum-norm ``w`` if ``X`` is
    rank deficient). Equal to ``sklearn.linear_model.Ridge(alpha)``.

    Fitted: ``coef_`` ``(D,)``, ``intercept_``, ``n_features_in_``.
    """

    def __init__(self, alpha=1.0, fit_intercept=True):
        self.alpha = alpha
        self.fit_intercept = fit_intercept

    def fit(self, X, y):
        if self.alpha < 0:
            raise ValueError(f"RidgeRegression: alpha must be >= 0, got {self.alpha}")
        X = as_samples(X, f"{type(self).__name__}.fit")
        y = as_targets(y, len(X), f"{type(self).__name__}.fit").astype(np.float64)
        x_mean = X.mean(axis=0) if self.fit_intercept else np.zeros(X.shape[1])
        y_mean = y.mean() if self.fit_intercept else 0.0
        design, target = X - x_mean, y - y_mean
        if self.alpha > 0:
            design = np.vstack([design, np.sqrt(self.alpha) * np.eye(X.shape[1])])
            target = np.concatenate([target, np.zeros(X.shape[1])])
        self.coef_ = np.linalg.lstsq(design, target, rcond=None)[0]
        self.intercept_ = float(y_mean - x_mean @ self.coef_)
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X):
        """``X w + b`` -> ``(N,)``."""
        return self._samples(X, "predict") @ self.coef_ + self.intercept_


def polynomial_features(x, degree):
    """The lecture's Vandermonde rows ``[x^F, ..., x^2, x]`` (highest power first; the
    constant column is the intercept) -> ``(N, F)`` for ``x`` ``(N,)`` or ``(N, 1)``."""
    x = as_samples(np.reshape(np.asarray(x.numpy() if isinstance(x, ember.Tensor) else x),
                              (-1, 1)), "polynomial_features")[:, 0]
    if int(degree) != degree or degree < 1:
        raise ValueError(f"polynomial_features: degree must be an integer >= 1, got {degree!r}")
    return x[:, None] ** np.arange(int(degree), 0, -1)[None, :]


class PolynomialRegression(RidgeRegression):
    """``y = w_F x^F + ... + w_1 x + w_0`` fitted by (ridge) least squares on
    :func:`polynomial_features` (lecture 003 「过拟合、欠拟合与模型复杂度」, A25): too low a
    ``degree`` underfits (bias), too high overfits (variance), ``alpha > 0`` tames it.

    ``X``: ``(N,)`` or ``(N, 1)`` values of ``x``. Fitted: ``coefficients_`` =
    ``[w_F, ..., w_1, w_0]`` (``np.polyfit``'s order, which it equals for ``alpha=0``), plus
    ``coef_``/``intercept_`` as :class:`RidgeRegression`.
    """

    def __init__(self, degree=2, alpha=0.0):
        super().__init__(alpha=alpha, fit_intercept=True)
        self.degree = degree

    def fit(self, X, y):
        super().fit(polynomial_features(X, self.degree), y)
        self.n_features_in_ = 1
        self.coefficients_ = np.append(self.coef_, self.intercept_)
        return self

    def predict(self, X):
        self._check_fitted("predict")
        return polynomial_features(X, self.degree) @ self.coef_ + self.intercept_


def make_polynomial_data(n_samples=50, noise=0.5, x_range=(-3.0, 3.0), seed=None):
    """The lecture's regression data ``y = 1.5 x^2 + 2.3 x + 2 + N(0, 0.5)`` (A25): ``x``
    uniform in ``x_range`` -> ``(x, y)``, both ``(n_samples,)`` float64. ⚠ The slide does not
    say whether 0.5 is the standard deviation or the variance; ``noise`` is the standard
    deviation. The slide gives no range for ``x``; the default is ``[-3, 3]``."""
    if int(n_samples) != n_samples or n_samples < 1 or noise < 0:
        raise ValueError(f"make_polynomial_data: need n_samples >= 1 and noise >= 0, got "
                         f"{n_samples!r} and {noise!r}")
    rng = np.random.default_rng(seed)
    x = rng.uniform(x_range[0], x_range[1], int(n_samples))
    return x, 1.5 * x ** 2 + 2.3 * x + 2.0 + noise * rng.standard_normal(int(n_samples))
