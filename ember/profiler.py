"""Per-op timing: where does a forward/backward pass spend its time?

::

    import ember.profiler
    with ember.profiler.profile() as prof:
        loss = F.cross_entropy(model(x), y)
        loss.backward()
    print(prof.key_averages().table(sort_by="total", row_limit=10))

While a :func:`profile` block is active, every differentiable primitive (each
:class:`~ember.autograd.function.Function` subclass) is timed twice: its forward, from entry to
return of ``Function.apply`` (conversion of the inputs, the NumPy kernel, building the graph
node), and its backward, the node's ``backward`` call inside the backward engine. The table
gives per op the call counts, the total and mean times of each direction and the share of the
block's wall-clock time; its footer says how much of the block was spent outside any op
(Python in modules and optimizers, gradient accumulation into ``.grad``). With
``record_shapes=True`` the ops are also told apart by the shapes of their inputs, like
``torch.profiler.profile(record_shapes=True)`` with ``key_averages(group_by_input_shape=True)``,
which separates e.g. the convolutions of the different layers of a network.

Differences from ``torch.profiler``: Ember has no dispatcher, so an op is a ``Function`` class
(its name is the class name, e.g. ``Conv``, with forward and backward on one row) and times
are wall-clock times of the calling thread (ops run in other threads, e.g. data-loading
workers, are recorded too). Profiles do not nest. When no profile is active the hook in
``Function.apply`` and the engine is a single test of a global ``None``.
"""
import time

import numpy as np

from ember.autograd import function as _function

__all__ = ["profile", "OpStats", "OpTable"]


class OpStats:
    """Accumulated time of one op (one ``Function`` class, and input shapes if recorded)."""
    __slots__ = ("key", "input_shapes", "count", "forward_time", "backward_count",
                 "backward_time")

    def __init__(self, key, input_shapes=None):
        self.key = key
        self.input_shapes = input_shapes
        self.count = 0
        self.forward_time = 0.0
        self.backward_count = 0
        self.backward_time = 0.0

    @property
    def total_time(self):
        """Forward plus backward time in seconds."""
        return self.forward_time + self.backward_time

    def __repr__(self):
        shapes = f", input_shapes={self.input_shapes}" if self.input_shapes is not None else ""
        return (f"OpStats(key={self.key!r}{shapes}, count={self.count}, "
                f"forward_time={self.forward_time:.6f}, backward_count={self.backward_count}, "
                f"backward_time={self.backward_time:.6f})")


_SORT_KEYS = {
    "total": lambda s: s.total_time,
    "forward": lambda s: s.forward_time,
    "backward": lambda s: s.backward_time,
    "count": lambda s: s.count + s.backward_count,
    "name": None,
}


class OpTable(list):
    """A list of :class:`OpStats` (what ``profile.key_averages()`` returns) with ``table()``."""

    def __init__(self, stats, elapsed):
        super().__init__(stats)
        self.elapsed = elapsed

    def table(self, sort_by="total", row_limit=None):
        """The ops as a text table, sorted by ``sort_by`` (descending, ``"name"`` ascending):
        one of ``"total"``, ``"forward"``, ``"backward"``, ``"count"``, ``"name"``; at most
        ``row_limit`` rows (all if ``None``)."""
        if sort_by not in _SORT_KEYS:
            raise ValueError(f"profiler.table: sort_by must be one of {list(_SORT_KEYS)}, got "
                             f"{sort_by!r}")
        if row_limit is not None and (not isinstance(row_limit, int) or row_limit < 0):
            raise ValueError(f"profiler.table: row_limit must be a non-negative int or None, got "
                             f"{row_limit!r}")
        key = _SORT_KEYS[sort_by]
        rows = sorted(self, key=lambda s: _label(s)) if key is None else \
            sorted(self, key=key, reverse=True)
        if row_limit is not None:
            rows = rows[:row_limit]
        labels = [_label(s) for s in rows]
        width = max([len("op")] + [len(x) for x in labels])
        wall = self.elapsed if self.elapsed > 0 else float("nan")
        lines = [f"{'op':<{width}}  {'calls':>6}  {'fwd ms':>9}  {'fwd avg':>9}  "
                 f"{'bwd calls':>9}  {'bwd ms':>9}  {'bwd avg':>9}  {'total ms':>9}  "
                 f"{'% wall':>6}"]
        lines.append("-" * len(lines[0]))
        for s, label in zip(rows, labels):
            lines.append(
                f"{label:<{width}}  {s.count:>6}  {s.forward_time * 1e3:>9.3f}  "
                f"{_avg(s.forward_time, s.count):>9.3f}  {s.backward_count:>9}  "
                f"{s.backward_time * 1e3:>9.3f}  {_avg(s.backward_time, s.backward_count):>9.3f}"
                f"  {s.total_time * 1e3:>9.3f}  {100 * s.total_time / wall:>6.1f}")
        ops = sum(s.total_time for s in self)
        lines.append("-" * len(lines[0]))
        lines.append(f"ops {ops * 1e3:.3f} ms of {self.elapsed * 1e3:.3f} ms wall-clock "
                     f"({100 * ops / wall:.1f}%); outside ops {(self.elapsed - ops) * 1e3:.3f} ms"
                     f"; {len(self)} distinct ops, {len(rows)} shown")
        return "\n".join(lines)


def _avg(total, count):
    return total * 1e3 / count if count else 0.0


def _label(stats):
    if stats.input_shapes is None:
        return stats.key
    return stats.key + " " + ", ".join("x".join(map(str, s)) if s else "scalar"
                                       for s in stats.input_shapes)


def _shape(x):
    shape = getattr(x, "shape", None)
    return tuple(shape) if shape is not None else np.shape(x)


class profile:
    """Context manager recording forward/backward time and calls per op; see the module doc.

    ``enabled=False`` makes the block a no-op (nothing is recorded). ``record_shapes=True``
    keeps the input shapes of every call so that ``key_averages(group_by_input_shape=True)``
    can separate calls of one op on different shapes.
    """

    def __init__(self, enabled=True, record_shapes=False):
        self.enabled = bool(enabled)
        self.record_shapes = bool(record_shapes)
        self.elapsed = 0.0
        self._stats = {}
        self._start = None
        self.clock = time.perf_counter

    def __enter__(self):
        if not self.enabled:
            return self
        if _function.profiler_hook is not None:
            raise RuntimeError("profiler.profile: another profile is already active (profiles "
                               "do not nest)")
        self._stats = {}
        self.elapsed = 0.0
        self._start = time.perf_counter()
        _function.profiler_hook = self
        return self

    def __exit__(self, *exc):
        if self.enabled and _function.profiler_hook is self:
            _function.profiler_hook = None
            self.elapsed = time.perf_counter() - self._start
        return False

    # -- called by the autograd hooks ---------------------------------------------------------
    def _entry(self, cls, shapes):
        key = (cls.__name__, shapes if self.record_shapes else None)
        stats = self._stats.get(key)
        if stats is None:
            stats = self._stats[key] = OpStats(cls.__name__,
                                               shapes if self.record_shapes else None)
        return stats

    def forward_done(self, cls, inputs, start):
        """``Function.apply`` of ``cls`` on ``inputs`` that began at ``start`` has returned."""
        elapsed = time.perf_counter() - start
        shapes = tuple(_shape(x) for x in inputs) if self.record_shapes else None
        stats = self._entry(cls, shapes)
        stats.count += 1
        stats.forward_time += elapsed

    def backward(self, node, *grads):
        """Run ``node.backward(*grads)`` for the engine, timing it."""
        start = time.perf_counter()
        result = node.backward(*grads)
        elapsed = time.perf_counter() - start
        shapes = tuple(m[0] for m in node._input_meta) if self.record_shapes else None
        stats = self._entry(type(node), shapes)
        stats.backward_count += 1
        stats.backward_time += elapsed
        return result

    # -- results ------------------------------------------------------------------------------
    def key_averages(self, group_by_input_shape=False):
        """The recorded ops as an :class:`OpTable` (a list of :class:`OpStats`), one entry per
        op, or per op and input shapes with ``group_by_input_shape=True`` (which needs
        ``record_shapes=True``)."""
        if group_by_input_shape and not self.record_shapes:
            raise ValueError("profiler.key_averages: group_by_input_shape=True needs "
                             "profile(record_shapes=True)")
        if group_by_input_shape:
            return OpTable(self._stats.values(), self.elapsed)
        merged = {}
        for stats in self._stats.values():
            m = merged.get(stats.key)
            if m is None:
                m = merged[stats.key] = OpStats(stats.key)
            m.count += stats.count
            m.forward_time += stats.forward_time
            m.backward_count += stats.backward_count
            m.backward_time += stats.backward_time
        return OpTable(merged.values(), self.elapsed)

    def table(self, sort_by="total", row_limit=None):
        """``key_averages(group_by_input_shape=record_shapes).table(sort_by, row_limit)``."""
        return self.key_averages(self.record_shapes).table(sort_by, row_limit)

    def __str__(self):
        return self.table()
