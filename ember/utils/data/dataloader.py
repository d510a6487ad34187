"""``DataLoader``: batches from a dataset, shuffled per epoch, prefetched in background threads.

This is step 1 of the lectures' SGD loop, "sample a batch" (`001` L855-862; `003` L3215-3224:
for every epoch shuffle the data set, then for every minibatch load it, compute the
gradient and step). The signature and semantics are torch's, with one difference:
``num_workers`` threads (not processes) prefetch batches while the model trains; NumPy and
Pillow release the GIL for the heavy work.

Reproducibility: all of an epoch's randomness is drawn in the calling thread when the
iterator is created (the sampler's order and a base seed), and every batch is fetched with
its own random stream derived from that seed (see ``ember.utils.data.worker``), so the
batches, including random augmentations drawn from ``fetch_rng()``, depend only on the seed,
never on thread timing or on ``num_workers``.
"""
import collections
import concurrent.futures
import functools
import itertools
import queue
import threading

from ember._random import rng
from ember.utils.data.collate import default_collate, default_convert
from ember.utils.data.dataset import IterableDataset
from ember.utils.data.sampler import BatchSampler, RandomSampler, SequentialSampler
from ember.utils.data.worker import WorkerInfo, batch_stream, fetching_with, set_worker_info


class DataLoader:
    """Iterate over ``dataset`` in batches.

    Args:
        dataset: a map-style ``Dataset`` (``__getitem__`` + ``__len__``) or an ``IterableDataset``.
        batch_size: samples per batch (default 1); ``None`` disables batching: every sample
            is yielded on its own, passed through ``collate_fn`` (default ``default_convert``).
        shuffle: reshuffle the indices at every epoch (``RandomSampler``).
        sampler: the index order (a ``Sampler`` or any iterable of indices); excludes ``shuffle``.
        batch_sampler: yields whole lists of indices; excludes batch_size, shuffle, sampler,
            drop_last.
        num_workers: number of background threads prefetching batches (0: load in the
            calling thread). An ``IterableDataset`` is read by a single background thread,
            since a stream can only be read in order.
        collate_fn: list of samples -> batch (default ``default_collate``).
        pin_memory: accepted for torch compatibility; a no-op (Ember runs on the CPU).
        drop_last: drop the last batch if it is smaller than ``batch_size``.
        timeout: seconds to wait for a batch from the workers before raising (0: forever).
        worker_init_fn: called as ``worker_init_fn(worker_id)`` in each worker thread before
            it fetches anything.
        generator: the ``ember.Generator`` used for shuffling and for the epoch's base seed
            (default: ember's default generator, so ``ember.manual_seed`` fixes the epochs).
        prefetch_factor: batches loaded in advance per worker (default 2 when
            ``num_workers > 0``; must be None when ``num_workers == 0``).

    ``len(loader)`` is the number of batches per epoch.
    """

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None,
                 num_workers=0, collate_fn=None, pin_memory=False, drop_last=False, timeout=0,
                 worker_init_fn=None, *, generator=None, prefetch_factor=None):
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"num_workers option should be a non-negative integer; use "
                             f"num_workers=0 to load in the calling thread (got {num_workers})")
        if timeout < 0:
            raise ValueError(f"timeout option should be non-negative, got {timeout}")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified with background "
                             "workers: let num_workers > 0, otherwise set prefetch_factor to None")
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        if prefetch_factor is not None and (not isinstance(prefetch_factor, int)
                                            or prefetch_factor < 1):
            raise ValueError(f"prefetch_factor should be a positive integer, got {prefetch_factor}")

        iterable = isinstance(dataset, IterableDataset)
        if iterable:
            for name, value in (("shuffle", shuffle), ("sampler", sampler),
                                ("batch_sampler", batch_sampler)):
                if value not in (None, False):
                    raise ValueError(f"DataLoader with IterableDataset: expected unspecified "
                                     f"{name} option, but got {name}={value}")
        shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, "
                                 "shuffle, sampler, and drop_last")
            batch_size = None
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually "
                             "exclusive with drop_last")
        if sampler is None and not iterable:
            sampler = (RandomSampler(dataset, generator=generator) if shuffle
                       else SequentialSampler(dataset))
        if batch_size is not None and batch_sampler is None and not iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.generator = generator
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn

    @property
    def _auto_collation(self):
        return self.batch_sampler is not None or (
            isinstance(self.dataset, IterableDataset) and self.batch_size is not None)

    @property
    def _index_sampler(self):
        return self.batch_sampler if self.batch_sampler is not None else self.sampler

    def __iter__(self):
        if isinstance(self.dataset, IterableDataset):
            return _IterableIterator(self)
        return _MapIterator(self)

    def __len__(self):
        if isinstance(self.dataset, IterableDataset):
            n = len(self.dataset)
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return len(self._index_sampler)


def _draw_base_seed(loader):
    return int(rng(loader.generator).integers(2 ** 63))


def _fetch_batch(loader, base_seed, batch_index, indices):
    """Load and collate batch ``batch_index`` of a map-style dataset with its random stream."""
    dataset = loader.dataset
    with fetching_with(batch_stream(base_seed, batch_index)):
        if loader._auto_collation:
            getitems = getattr(dataset, "__getitems__", None)
            samples = getitems(indices) if callable(getitems) else [dataset[i] for i in indices]
        else:
            samples = dataset[indices]
        return loader.collate_fn(samples)


def _next_stream_batch(loader, source):
    """The next batch read from an iterable dataset's iterator (StopIteration at the end)."""
    if loader.batch_size is None:
        return loader.collate_fn(next(source))
    samples = list(itertools.islice(source, loader.batch_size))
    if not samples or (loader.drop_last and len(samples) < loader.batch_size):
        raise StopIteration
    return loader.collate_fn(samples)


def _timeout_error(loader):
    return RuntimeError(f"DataLoader timed out after {loader.timeout} seconds waiting for a batch")


class _WorkerThreads:
    """``num_workers`` daemon threads running submitted functions in FIFO order.

    The threads hold no reference to the epoch iterator, so dropping the iterator (e.g.
    breaking out of a loop) lets it be collected, which shuts the threads down.
    """

    def __init__(self, loader, base_seed):
        self._tasks = queue.SimpleQueue()
        self._threads = []
        started = []
        for worker_id in range(loader.num_workers):
            ready = concurrent.futures.Future()
            info = WorkerInfo(worker_id, loader.num_workers, base_seed, loader.dataset)
            thread = threading.Thread(target=self._run, args=(info, loader.worker_init_fn, ready),
                                      name=f"ember-DataLoader-worker-{worker_id}", daemon=True)
            thread.start()
            self._threads.append(thread)
            started.append(ready)
        for ready in started:
            try:
                ready.result()
            except BaseException:
                self.shutdown([])
                raise

    def _run(self, info, worker_init_fn, ready):
        set_worker_info(info)
        try:
            if worker_init_fn is not None:
                worker_init_fn(info.id)
        except BaseException as e:
            ready.set_exception(e)
            return
        ready.set_result(None)
        while True:
            task = self._tasks.get()
            if task is None:
                return
            fn, future = task
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as e:
                future.set_exception(e)

    def submit(self, fn):
        future = concurrent.futures.Future()
        self._tasks.put((fn, future))
        return future

    def shutdown(self, pending):
        for future in pending:
            future.cancel()
        for _ in self._threads:
            self._tasks.put(None)
        self._threads = []


class _MapIterator:
    """One epoch over a map-style dataset; indices are drawn here, in the calling thread."""

    def __init__(self, loader):
        self._workers = None
        self._pending = collections.deque()
        self._loader = loader
        self._base_seed = _draw_base_seed(loader)
        self._indices = iter(loader._index_sampler)
        self._batch_index = 0
        if loader.num_workers > 0:
            self._workers = _WorkerThreads(loader, self._base_seed)
            self._dispatch(loader.num_workers * loader.prefetch_factor)

    def _dispatch(self, count):
        for indices in itertools.islice(self._indices, count):
            task = functools.partial(_fetch_batch, self._loader, self._base_seed,
                                     self._batch_index, indices)
            self._batch_index += 1
            self._pending.append(self._workers.submit(task))

    def __iter__(self):
        return self

    def __len__(self):
        return len(self._loader)

    def __next__(self):
        if self._workers is None:
            indices = next(self._indices)
            self._batch_index += 1
            return _fetch_batch(self._loader, self._base_seed, self._batch_index - 1, indices)
        if not self._pending:
            self._shutdown()
            raise StopIteration
        future = self._pending.popleft()
        self._dispatch(1)
        try:
            return future.result(timeout=self._loader.timeout or None)
        except concurrent.futures.TimeoutError:
            self._shutdown()
            raise _timeout_error(self._loader) from None
        except BaseException:
            self._shutdown()
            raise

    def _shutdown(self):
        if self._workers is not None:
            self._workers.shutdown(self._pending)
            self._pending.clear()
            self._workers = None
            self._indices = iter(())

    def __del__(self):
        self._shutdown()


_END = object()


class _Failure:
    """An exception raised in the producer thread, handed to the consumer."""

    def __init__(self, error):
        self.error = error


class _Producer:
    """A background thread reading an ``IterableDataset`` into a bounded queue of batches."""

    def __init__(self, loader, base_seed, stream):
        self.queue = queue.Queue(maxsize=loader.num_workers * loader.prefetch_factor)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(loader, base_seed, stream),
                                       name="ember-DataLoader-worker-0", daemon=True)
        self.thread.start()

    def _put(self, item):
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, loader, base_seed, stream):
        set_worker_info(WorkerInfo(0, 1, base_seed, loader.dataset))
        try:
            with fetching_with(stream):
                if loader.worker_init_fn is not None:
                    loader.worker_init_fn(0)
                source = iter(loader.dataset)
                while self._put(_next_stream_batch(loader, source)):
                    pass
        except StopIteration:
            self._put(_END)
        except BaseException as e:
            self._put(_Failure(e))


class _IterableIterator:
    """One epoch over an ``IterableDataset``, read in order, in the calling thread or by a
    single background producer thread."""

    def __init__(self, loader):
        self._producer = None
        self._loader = loader
        base_seed = _draw_base_seed(loader)
        self._stream = batch_stream(base_seed, 0)
        if loader.num_workers == 0:
            with fetching_with(self._stream):
                self._source = iter(loader.dataset)
        else:
            self._producer = _Producer(loader, base_seed, self._stream)

    def __iter__(self):
        return self

    def __len__(self):
        return len(self._loader)

    def __next__(self):
        if self._producer is None:
            with fetching_with(self._stream):
                return _next_stream_batch(self._loader, self._source)
        if self._producer.stop.is_set():
            raise StopIteration
        try:
            item = self._producer.queue.get(timeout=self._loader.timeout or None)
        except queue.Empty:
            self._shutdown()
            raise _timeout_error(self._loader) from None
        if item is _END:
            self._shutdown()
            raise StopIteration
        if isinstance(item, _Failure):
            self._shutdown()
            raise item.error
        return item

    def _shutdown(self):
        if self._producer is not None:
            self._producer.stop.set()

    def __del__(self):
        self._shutdown()
