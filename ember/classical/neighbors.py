"""Nearest-neighbour classification (lecture 003 「最近邻」/「K近邻」, inventory F1, F2).

The nearest-neighbour classifier (1) computes the distance from a test sample to every
training sample, (2) finds the most similar one and (3) answers with its label; kNN lets the
``k`` nearest vote. There is no training (``fit`` only stores the data) and every prediction
costs a pass over the whole training set. As the data grows, 1-NN's error is at most twice
the best possible; with ``k -> inf`` and ``k / N -> 0`` kNN's error tends to the Bayes error.
``k`` is a hyper-parameter: choose it on validation data or by cross-validation
(:func:`ember.classical.model_selection.validation_curve`, lecture 001 「Data split」).
"""
from functools import partial

import numpy as np

from ember import _parallel
from ember.classical.base import Classifier, as_samples

__all__ = ["KNeighborsClassifier", "pairwise_distances"]

METRICS = ("l2", "l1")
# queries per block of the distance computation: a (block, N_train) matrix at a time
_QUERY_BLOCK = 512
# query x training x feature products from which the blocks of queries are spread over
# Ember's threads (~0.1 s of one core's float64 GEMM; a hand-off costs ~0.1 ms)
PARALLEL_MIN_MACS = 2 ** 24
# elements of the L1 distance's difference buffer: a block of training rows that stays in
# the CPU cache (64K float64 = 512 KB; a whole (queries, N_train, D) array would be gigabytes)
_L1_ELEMENTS = 1 << 16


def _squared_l2_ranking(queries, train, train_sq_norms):
    """``|y|^2 - 2 x.y``: the squared L2 distance less ``|x|^2``, which does not change the
    order of one query's neighbours (one matrix product for all pairs)."""
    return train_sq_norms[None, :] - 2.0 * (queries @ train.T)


def _l1(queries, train):
    """``sum_d |x_d - y_d|`` for every pair, one query against a cache-sized block of
    training rows at a time."""
    rows = max(1, _L1_ELEMENTS // max(1, train.shape[1]))
    out = np.empty((len(queries), len(train)))
    buffer = np.empty((rows, train.shape[1]))
    for i, query in enumerate(queries):
        for start in range(0, len(train), rows):
            block = train[start:start + rows]
            diff = buffer[:len(block)]
            np.subtract(block, query, out=diff)
            np.abs(diff, out=diff)
            out[i, start:start + len(block)] = diff.sum(axis=1)
    return out


def pairwise_distances(X, Y, metric="l2"):
    """Distances between the rows of ``X`` ``(N, D)`` and ``Y`` ``(M, D)`` -> ``(N, M)``:
    ``'l2'`` ``sqrt(sum_d (x_d - y_d)^2)`` (by ``|x|^2 - 2 x.y + |y|^2``, one matrix product;
    negative rounding clipped to 0) or ``'l1'`` ``sum_d |x_d - y_d|``. float64."""
    if metric not in METRICS:
        raise ValueError(f"pairwise_distances: metric must be one of {METRICS}, got {metric!r}")
    X = as_samples(X, "pairwise_distances")
    Y = as_samples(Y, "pairwise_distances")
    if X.shape[1] != Y.shape[1]:
        raise ValueError(f"pairwise_distances: X has {X.shape[1]} features, Y has {Y.shape[1]}")
    if metric == "l1":
        return _l1(X, Y)
    squared = _squared_l2_ranking(X, Y, (Y ** 2).sum(axis=1)) + (X ** 2).sum(axis=1)[:, None]
    return np.sqrt(np.maximum(squared, 0.0))


class KNeighborsClassifier(Classifier):
    """kNN classifier: the majority label of the ``n_neighbors`` nearest training samples.

    ``n_neighbors=1`` is the nearest-neighbour classifier (F1). ``metric``: ``'l2'``
    (Euclidean) or ``'l1'`` (Manhattan). Distances are computed in float64, a block of test
    samples at a time (L2: one matrix product per block).

    Ties, fixed so that results are reproducible: training samples at the same distance are
    taken in the order of their index; a vote tied between classes goes to the smallest
    label, as in scikit-learn's ``KNeighborsClassifier(algorithm='brute')``. With integer
    pixel values (the bundled digits) both compute exact distances and predict the same
    labels, except where the k-th nearest distance is shared by training samples of
    different labels: scikit-learn's choice among them is not defined (it merges per-thread
    heaps), e.g. a duplicate image scored against its own training set.

    Fitted: ``classes_``, ``n_features_in_``.
    """

    def __init__(self, n_neighbors=1, metric="l2"):
        self.n_neighbors = n_neighbors
        self.metric = metric

    def fit(self, X, y):
        """Store the training samples ``X`` ``(N, D)`` (or images) and their labels ``y``."""
        if self.metric not in METRICS:
            raise ValueError(f"KNeighborsClassifier: metric must be one of {METRICS}, got "
                             f"{self.metric!r}")
        if int(self.n_neighbors) != self.n_neighbors or self.n_neighbors < 1:
            raise ValueError(f"KNeighborsClassifier: n_neighbors must be an integer >= 1, got "
                             f"{self.n_neighbors!r}")
        X = as_samples(X, "KNeighborsClassifier.fit")
        self._train_labels = self._encode(y, len(X), "fit")
        if self.n_neighbors > len(X):
            raise ValueError(f"KNeighborsClassifier: n_neighbors={self.n_neighbors} exceeds the "
                             f"{len(X)} training samples")
        self._train = np.ascontiguousarray(X)
        self._train_sq_norms = (X ** 2).sum(axis=1)
        self.n_features_in_ = X.shape[1]
        return self

    def _ranking(self, queries):
        if self.metric == "l1":
            return _l1(queries, self._train)
        return _squared_l2_ranking(queries, self._train, self._train_sq_norms)

    def _nearest(self, ranking, k):
        """Indices ``(B, k)`` of the ``k`` smallest entries of each row, nearest first, equal
        values in index order."""
        if k == len(self._train):
            return np.argsort(ranking, axis=1, kind="stable")
        candidates = np.argpartition(ranking, k - 1, axis=1)[:, :k]
        values = np.take_along_axis(ranking, candidates, axis=1)
        # order by (value, index); rows where the k-th value is shared with a sample left out
        # are redone with a stable sort, so ties always keep the lower index
        order = np.lexsort((candidates, values), axis=1)
        candidates = np.take_along_axis(candidates, order, axis=1)
        kth = np.take_along_axis(ranking, candidates[:, -1:], axis=1)
        tied = np.flatnonzero((ranking <= kth).sum(axis=1) > k)
        if len(tied):
            candidates[tied] = np.argsort(ranking[tied], axis=1, kind="stable")[:, :k]
        return candidates

    def kneighbors(self, X, n_neighbors=None):
        """``(distances, indices)``, both ``(N, k)``: the ``k`` nearest training samples of each
        row of ``X``, nearest first (``k = n_neighbors`` or the model's)."""
        X = self._samples(X, "kneighbors")
        k = self.n_neighbors if n_neighbors is None else int(n_neighbors)
        if not 1 <= k <= len(self._train):
            raise ValueError(f"KNeighborsClassifier.kneighbors: n_neighbors must lie in "
                             f"[1, {len(self._train)}], got {n_neighbors!r}")
        return self._kneighbors(X, k)

    def _kneighbors(self, X, k):
        """The blocks of queries run on Ember's threads once the distance computation is
        large (``PARALLEL_MIN_MACS``), each with its own matrix product and neighbour search
        (fit + predict of 1,000 queries against 4,000 digits on two threads: 96 -> 71 ms,
        as the BLAS's two threads had the product alone in parallel). The results do not
        depend on the blocks: every query's distances and ranking are its own."""
        indices = np.empty((len(X), k), dtype=np.int64)
        distances = np.empty((len(X), k))

        def fill(rows):
            block = X[rows]
            ranking = self._ranking(block)
            nearest = self._nearest(ranking, k)
            indices[rows] = nearest
            values = np.take_along_axis(ranking, nearest, axis=1)
            if self.metric == "l2":
                values = np.sqrt(np.maximum(values + (block ** 2).sum(axis=1)[:, None], 0.0))
            distances[rows] = values

        threads = 1
        if X.size * len(self._train) >= PARALLEL_MIN_MACS and _parallel.enabled():
            threads = _parallel.get_num_threads()
        size = min(_QUERY_BLOCK, -(-len(X) // threads))
        _parallel.run([partial(fill, slice(start, start + size))
                       for start in range(0, len(X), size)])
        return distances, indices

    def predict(self, X):
        """The label voted by the ``n_neighbors`` nearest training samples of each row of
        ``X`` -> ``(N,)``."""
        _, indices = self._kneighbors(self._samples(X, "predict"), self.n_neighbors)
        votes = self._train_labels[indices]                      # (N, k) class indices
        classes = len(self.classes_)
        slots = np.arange(len(votes))[:, None] * classes + votes
        counts = np.bincount(slots.ravel(), minlength=len(votes) * classes)
        counts = counts.reshape(len(votes), classes)
        return self.classes_[counts.argmax(axis=1)]              # first maximum: smallest label
