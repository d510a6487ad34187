"""Ember's worker threads: the heavy array work of one op spread over the machine's cores.

NumPy releases the GIL inside its copy loops, ufuncs, BLAS and LAPACK calls, so Python threads
that each run the NumPy calls for one slice of the batch (an im2col, a GEMM and a col2im on a
chunk of a convolution; one half of a max-pool; a block of rows of a matrix product; a block of
a batch of LAPACK factorisations) run on separate cores. :func:`run` takes a list of
independent tasks and runs them on the calling thread and ``get_num_threads() - 1`` workers;
:func:`split` cuts a length into one slice per thread.

Two thread pools on the same cores fight: OpenBLAS's idle workers spin for a while after each
call and take the core an Ember worker wants (LeNet-5 training step, batch 64: 9.2 ms with
two-thread BLAS around Ember's workers, 7.1 ms with one-thread BLAS). So the first time Ember's
workers run, the BLAS library under NumPy is limited to one thread (``threadpoolctl``; this
also holds for the user's own NumPy code in the process), and from then on Ember splits large
matrix products itself (:func:`matmul`). Until then (a network of matrix products only, such
as an MLP), OpenBLAS keeps its own threads, which hand off work faster than Python threads:
a region costs 50–70 µs here (waking a worker and handing the GIL back and forth on a 2-core
VM), so only ops with a millisecond or more of work use the workers. Measured on 2 cores
(forward + backward of one conv, 64→64 3×3 at 32×32, batch 64, one-thread BLAS): one chunk
258 ms, two chunks on two threads 138 ms.

``set_num_threads(n)`` (like ``torch.set_num_threads``) sets the number of threads; the
default is ``EMBER_NUM_THREADS`` or ``OMP_NUM_THREADS`` if set, else the usable cores. With one
thread everything runs on the caller. A task that itself asks for parallel work (nesting), and
a second thread asking while the workers are busy (e.g. a DataLoader thread), run serially
instead of waiting. Results are reproducible for a given thread count; a different count cuts
the work differently, which moves float32 results by rounding only.
"""
import itertools
import math
import os
import queue
import threading
from functools import partial

import numpy as np

__all__ = ["get_num_threads", "set_num_threads", "run", "split", "batch_parts", "batch_block",
           "enabled", "map_rows", "matmul", "sum_shares"]

_lock = threading.Lock()          # one parallel region at a time
_local = threading.local()        # .inside: this thread is running a task of a region
_threads = None                   # the configured count (None: not decided yet)
_workers = []                     # [(thread, inbox)], started on first use
_blas_limited = False


def _default_threads():
    for var in ("EMBER_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(var, "").strip()
        if value:
            try:
                count = int(value)
            except ValueError:
                raise ValueError(f"ember: {var} must be a positive integer, got {value!r}") from None
            if count < 1:
                raise ValueError(f"ember: {var} must be a positive integer, got {value!r}")
            return count
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:        # not Linux
        return max(1, os.cpu_count() or 1)


def _limit_blas():
    """Run the BLAS under NumPy on one thread from now on (once; ``threadpoolctl``)."""
    global _blas_limited
    if not _blas_limited:
        _blas_limited = True
        from threadpoolctl import threadpool_limits
        threadpool_limits(limits=1, user_api="blas")


def get_num_threads():
    """The number of threads Ember's ops use (the caller plus the workers)."""
    global _threads
    if _threads is None:
        _threads = _default_threads()
        if _threads == 1:       # one thread for everything, BLAS included
            _limit_blas()
    return _threads


def set_num_threads(n):
    """Use ``n`` threads for Ember's ops from now on (``torch.set_num_threads``): ``n`` for
    the BLAS under NumPy until Ember's workers first run, then ``n`` Ember threads with a
    one-thread BLAS each."""
    global _threads, _blas_limited
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive integer, got {n!r}")
    from threadpoolctl import threadpool_limits
    _threads = int(n)
    threadpool_limits(limits=_threads, user_api="blas")
    _blas_limited = False


def enabled():
    """True when a call to :func:`run` from this thread now would use more than one thread."""
    return get_num_threads() > 1 and not getattr(_local, "inside", False)


def split(length, parts=None, minimum=1):
    """``length`` cut into at most ``parts`` (default: the thread count) contiguous slices of
    at least ``minimum`` (the last may be shorter only when there is one slice)."""
    parts = get_num_threads() if parts is None else parts
    count = max(1, min(parts, length // max(1, minimum)))
    size, extra = divmod(length, count)
    slices, start = [], 0
    for i in range(count):
        stop = start + size + (i < extra)
        slices.append(slice(start, stop))
        start = stop
    return slices


# a memory-bound pass (max-pool) is split over the threads from this many elements: below it,
# handing work to a worker and the GIL hand-offs between the threads' NumPy calls cost more
# than they save (measured: LeNet-5's first pool at batch 64, 301K elements, 0.34 → 0.57 ms)
PARALLEL_MIN_ELEMENTS = 2 ** 20


def batch_parts(n, elements, minimum=None):
    """Slices of a batch of ``n`` samples (``elements`` array elements in all) for a pass that
    is memory-bound: one per thread when ``elements`` reaches ``minimum`` (default
    ``PARALLEL_MIN_ELEMENTS``; less for tasks of a few large NumPy calls, which hand the GIL
    back and forth rarely), else the whole batch."""
    minimum = PARALLEL_MIN_ELEMENTS if minimum is None else minimum
    if elements < minimum or n < 2 or not enabled():
        return [slice(0, n)]
    return split(n)


def batch_block(x, part, batch_ndim):
    """The share ``part`` (a slice) of a batch of matrices ``x`` in the first of ``batch_ndim``
    broadcast batch dims: ``x[part]``, or all of ``x`` where it broadcasts along that dim (it
    has fewer batch dims, or length 1 there)."""
    return x[part] if x.ndim - 2 == batch_ndim and x.shape[0] != 1 else x


def map_rows(fn, first, *rest, minimum=None):
    """``fn(first, *rest, out=...)`` computed by blocks of rows (dim 0) on Ember's threads once
    ``first`` is large (:func:`batch_parts` with ``minimum``), each thread writing its rows of
    one output of ``first``'s shape and dtype; a single call ``fn(first, *rest)`` otherwise.
    Every array in ``rest`` is ``None`` or has ``first``'s leading dim (others broadcast
    against the rows)."""
    parts = batch_parts(first.shape[0], first.size, minimum) if first.ndim else [slice(None)]
    if len(parts) == 1:
        return fn(first, *rest)
    out = np.empty(first.shape, first.dtype)
    arrays = (first,) + rest
    run([partial(fn, *(None if a is None else a[p] for a in arrays), out=out[p])
         for p in parts])
    return out


class _Job:
    """A list of tasks claimed one at a time by the threads that run it."""

    def __init__(self, tasks):
        self.tasks = tasks
        self.results = [None] * len(tasks)
        self.claim = itertools.count()     # next() is atomic under the GIL
        self.error = None
        self.done = queue.SimpleQueue()

    def work(self):
        _local.inside = True
        try:
            while self.error is None:
                i = next(self.claim)
                if i >= len(self.tasks):
                    break
                try:
                    self.results[i] = self.tasks[i]()
                except BaseException as exc:          # re-raised on the caller
                    self.error = exc
        finally:
            _local.inside = False


def _worker(inbox):
    # a worker runs Ember's own computation only: float errors give inf/nan silently, as in
    # the op that handed it the task (see ember.autograd.function.quiet_float_errors)
    from ember.autograd.function import quiet_float_errors
    quiet_float_errors()
    while True:
        job = inbox.get()
        job.work()
        job.done.put(None)


def _start_workers(count):
    while len(_workers) < count:
        inbox = queue.SimpleQueue()
        thread = threading.Thread(target=_worker, args=(inbox,), daemon=True,
                                  name=f"ember-worker-{len(_workers) + 1}")
        thread.start()
        _workers.append((thread, inbox))


def _forget_workers():
    """After ``fork`` the child has no worker threads: start afresh on first use."""
    global _lock
    _workers.clear()
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_workers)


def run(tasks):
    """Run the zero-argument callables ``tasks`` (independent of each other) and return their
    results in order. The first exception raised by a task is raised here once all threads
    have stopped taking tasks."""
    tasks = list(tasks)
    helpers = min(get_num_threads(), len(tasks)) - 1
    if helpers < 1 or getattr(_local, "inside", False) or not _lock.acquire(blocking=False):
        return [task() for task in tasks]
    _limit_blas()
    try:
        _start_workers(helpers)
        job = _Job(tasks)
        for _, inbox in _workers[:helpers]:
            inbox.put(job)
        job.work()
        for _ in range(helpers):
            job.done.get()
    finally:
        _lock.release()
    # a worker keeps its last job until the next one arrives: drop the tasks (and the arrays
    # their arguments reference) now, or an op's output would stay referenced after the op
    # (the engine then copies a gradient it could have kept, and memory peaks higher)
    results, error = job.results, job.error
    job.tasks = job.results = None
    if error is not None:
        raise error
    return results


def sum_shares(shares):
    """The sum of the per-task shares of a result (a gradient summed over batch parts), added
    in task order into the first share (so a given split always gives the same float32 sum)."""
    total = shares[0]
    for share in shares[1:]:
        total += share
    return total


# a product is split over the threads from this many multiply-adds per thread: ~40 µs of one
# core's GEMM, several times the cost of handing a task to a worker
MATMUL_SPLIT_MACS = 2 ** 21


def matmul(a, b):
    """``np.matmul(a, b)`` with the work split over Ember's threads when it is large.

    2-D products are cut along the longer side of the result (rows of ``a`` or columns of
    ``b``), batched ones along the leading batch dim; every block is one BLAS call on its own
    thread, so the result equals a single call's up to the order of float32 roundings inside
    BLAS's own blocking.

    A product over one term (``k = 1``: ``(..., n, 1) @ (..., 1, m)``, the weight gradient of
    a batch of one) is the outer product ``a * b``, bit for bit what the GEMM returns, and
    3x faster than NumPy's matmul there (a (256, 1) @ (1, 784) product: 0.25 -> 0.08 ms).
    """
    if a.ndim >= 2 and b.ndim >= 2 and a.shape[-1] == 1 == b.shape[-2]:
        return np.multiply(a, b)
    if not _blas_limited or a.ndim < 2 or b.ndim < 2 or not enabled():
        return np.matmul(a, b)
    n, k, m = a.shape[-2], a.shape[-1], b.shape[-1]
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) if a.ndim > 2 or b.ndim > 2 else ()
    threads = get_num_threads()
    if math.prod(batch) * n * k * m < MATMUL_SPLIT_MACS * threads:
        return np.matmul(a, b)
    out = np.empty(batch + (n, m), np.result_type(a, b))
    if batch and batch[0] >= threads:
        tasks = [lambda part=part: np.matmul(batch_block(a, part, len(batch)),
                                             batch_block(b, part, len(batch)), out=out[part])
                 for part in split(batch[0])]
    elif n >= m:
        tasks = [lambda part=part: np.matmul(a[..., part, :], b, out=out[..., part, :])
                 for part in split(n)]
    else:
        tasks = [lambda part=part: np.matmul(a, b[..., part], out=out[..., part])
                 for part in split(m)]
    run(tasks)
    return out
