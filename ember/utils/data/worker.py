"""Per-thread state of ``DataLoader`` fetching: worker info and the batch's random stream.

Ember's ``DataLoader`` prefetches in threads, not processes. To keep random data
augmentation reproducible however the threads are scheduled, every batch is fetched with
its own random stream, seeded from ``(base_seed, batch_index)``; ``base_seed`` is drawn from
the loader's generator (or ember's default one) when an epoch's iterator is created.
Random transforms draw from ``fetch_rng()``, which is that stream while a batch is being
fetched and ember's default generator otherwise. While a batch is fetched, ember's own
random functions (``ember.rand``, ``randn``, ``randint``, ...) that name no generator draw
from the same stream too (through ``ember._random.use_generator``), so a user dataset
calling them is reproducible and never consumes the main thread's generator (dropout,
init). The batches are therefore the same for every ``num_workers``.
"""
import threading

import numpy as np

from ember._random import Generator, rng, use_generator

_state = threading.local()


class WorkerInfo:
    """What ``get_worker_info()`` returns inside a loader thread: ``id`` (0-based thread index),
    ``num_workers``, ``seed`` (the epoch's base seed) and ``dataset``."""

    def __init__(self, id, num_workers, seed, dataset):
        self.id = id
        self.num_workers = num_workers
        self.seed = seed
        self.dataset = dataset

    def __repr__(self):
        return (f"WorkerInfo(id={self.id}, num_workers={self.num_workers}, seed={self.seed}, "
                f"dataset={type(self.dataset).__name__})")


def get_worker_info():
    """The ``WorkerInfo`` of the current ``DataLoader`` worker thread, or None in any other
    thread (as torch's). An ``IterableDataset`` can use it to split its stream among workers;
    Ember reads an iterable dataset with a single worker thread (``num_workers == 1``)."""
    return getattr(_state, "info", None)


def fetch_rng():
    """The ``numpy.random.Generator`` random data transforms should draw from: the stream of
    the batch being fetched in this thread, else ember's default generator."""
    stream = getattr(_state, "stream", None)
    return stream if stream is not None else rng()


def batch_stream(base_seed, batch_index):
    """The random stream of batch ``batch_index`` of an epoch with ``base_seed``."""
    return np.random.default_rng([base_seed, batch_index])


def _stream_generator(stream):
    """An ``ember.Generator`` drawing from the NumPy generator ``stream`` (shared, not copied)."""
    generator = Generator()
    generator.np = stream
    return generator


class fetching_with:
    """``with fetching_with(stream):`` makes ``fetch_rng()`` return ``stream`` in this thread
    for the duration of the block, and makes ember's random functions draw from it."""

    def __init__(self, stream):
        self._stream = stream
        self._use_generator = use_generator(_stream_generator(stream))

    def __enter__(self):
        self._previous = getattr(_state, "stream", None)
        _state.stream = self._stream
        self._use_generator.__enter__()

    def __exit__(self, *exc_info):
        self._use_generator.__exit__(*exc_info)
        _state.stream = self._previous


def set_worker_info(info):
    _state.info = info
