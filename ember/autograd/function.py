"""The autograd graph and the backward engine.

Every differentiable primitive is a :class:`Function`: ``forward`` computes on NumPy arrays,
``backward`` maps the output gradient to one gradient per input, and the two sit side by side
(lecture 001 "Backpropagation (recursive chain rule)": each gate multiplies the upstream
gradient by its local gradient; inventory A8, A9, A34). ``Function.apply`` runs ``forward``
and, when a gradient will be needed, turns the function object into a graph node: it
remembers the nodes that produced its inputs (``next_functions``) and the versions of the
arrays it saved.

A node may have several outputs: a ``forward`` that returns a tuple of arrays makes ``apply``
return a tuple of tensors (max over a dim: values and indices; an LSTM step: ``h`` and ``c``),
and ``backward(*grads)`` then receives one gradient per output, ``None`` for an output no
gradient reached. Outputs that are not floating point (indices), and those listed in
``non_differentiable_outputs``, never require grad. A tensor knows which output of its node
it is (``_output_nr``), and every node records, per input, the output of the producing node
it came from (``_next_outputs``), so the engine sums gradients per output slot.

``backward`` walks the graph from the output in topological order, sums the gradients that
reach each node (each output slot of a multi-output node), and hands leaf gradients to
:class:`AccumulateGrad`, which adds them to ``tensor.grad``.
"""
import math
import sys

import numpy as np

from ember.autograd.grad_mode import is_grad_enabled

# bound by ember/_tensor.py once the class exists (the tensor module imports this one)
Tensor = as_tensor_arg = None


def _keep_freed_memory():
    """Let glibc keep freed memory in the process instead of unmapping it (what torch's caching
    allocator achieves for its tensors). Every step of a network allocates activations and
    gradients of the same sizes again; by default glibc serves large ones with fresh ``mmap``
    pages and unmaps them on free, so each is page-faulted in again: measured 5 of the 7 ms of
    a cross-entropy forward + backward at (1024, 1000) and 10–20% of a LeNet-5 training step.
    Raising the mmap and trim thresholds keeps the pages; the peak memory is unchanged. Left
    alone when the user tunes malloc (``MALLOC_*_`` or ``GLIBC_TUNABLES``) or libc is not glibc.
    """
    import os
    try:
        glibc = os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc")
    except (AttributeError, ValueError, OSError):
        glibc = False
    if not glibc or any(k == "GLIBC_TUNABLES" or (k.startswith("MALLOC_") and k.endswith("_"))
                        for k in os.environ):
        return False
    import ctypes
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(mallopt(m_mmap_threshold, 256 << 20) and mallopt(m_trim_threshold, 1 << 30))


MALLOC_TUNED = _keep_freed_memory()


# Floating-point errors inside Ember's ops give inf and nan silently, as in torch: softmax of
# [inf, 1] is [nan, 0] with no NumPy RuntimeWarning pointing into ember/ops. The context is set
# per op (and per backward pass, per worker task) and only for Ember's own computation; the
# user's NumPy settings are untouched. NumPy's context variable behind np.errstate is set
# directly, ~10x cheaper than building an errstate per op; np.errstate where it is missing.
try:
    from numpy._core._ufunc_config import _extobj_contextvar, _make_extobj
    _QUIET_EXTOBJ = _make_extobj(all="ignore")
except ImportError:
    _extobj_contextvar = None


def quiet_float_errors():
    """Start ignoring floating-point errors in this thread's NumPy calls; returns the token
    for :func:`restore_float_errors`."""
    if _extobj_contextvar is not None:
        return _extobj_contextvar.set(_QUIET_EXTOBJ)
    state = np.errstate(all="ignore")
    state.__enter__()
    return state


def restore_float_errors(token):
    """Undo :func:`quiet_float_errors`."""
    if _extobj_contextvar is not None:
        _extobj_contextvar.reset(token)
    else:
        token.__exit__(None, None, None)

# set by ember.profiler while a profile() block is active: it times Function.apply and each
# node's backward; None (one global test per op) costs nothing measurable when off
profiler_hook = None
# set by ember.onnx.export while it traces a model: called as trace_hook(cls, inputs, config,
# result) after each Function.apply; None costs one global test like profiler_hook
trace_hook = None

_BASE_ATTRS = frozenset(("next_functions", "needs_input_grad", "_input_meta", "_saved_versions",
                         "_pre_hooks", "_freed", "_had_saved", "_num_outputs", "_output_meta",
                         "_next_outputs", "__weakref__"))


def unbroadcast(grad, shape):
    """Sum ``grad`` over the axes that broadcasting added or stretched, back to ``shape``.

    The added leading axes are summed first, then the stretched ones (two reductions measure
    faster than one over scattered axes, e.g. a conv bias gradient (N, C, H, W) -> (C, 1, 1))."""
    if grad.shape == shape:
        return grad
    shape = tuple(shape)
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad


class RemovableHandle:
    """Returned by ``register_hook``; ``handle.remove()`` takes the hook off."""

    def __init__(self, hooks, key):
        self._hooks, self._key = hooks, key

    def remove(self):
        self._hooks.pop(self._key, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


_hook_ids = iter(range(1 << 62))


class Node:
    """A vertex of the backward graph: ``next_functions`` are the nodes its input gradients flow
    into (None for an input that needs none) and ``_next_outputs`` (present only when an input
    came from a node with several outputs) the output slot of each; ``_num_outputs`` is how many
    gradients its ``backward`` takes."""
    next_functions = ()
    _num_outputs = 1

    def name(self):
        return type(self).__name__ + "Backward"

    def __repr__(self):
        return f"<{self.name()} object at {id(self):#x}>"

    def register_prehook(self, fn, output_nr=None):
        """Call ``fn(grad)`` on the gradient of output ``output_nr`` (of the node's only output
        when None) before ``backward`` runs; it may return a replacement."""
        hooks = self.__dict__.setdefault("_pre_hooks", {})
        key = next(_hook_ids)
        hooks[key] = (output_nr or 0, fn)
        return RemovableHandle(hooks, key)

    def _connect(self, tensors):
        """Point this node's edges at the nodes that produced ``tensors`` (None entries, and
        tensors that do not require grad, get no edge)."""
        self.next_functions = tuple([t._edge() if t is not None and t._requires_grad else None
                                     for t in tensors])
        for t in tensors:
            if t is not None and t._output_nr is not None and t._requires_grad:
                self._next_outputs = tuple([0 if t is None or t._output_nr is None
                                            else t._output_nr for t in tensors])
                break


def _refcount_of_sole_owner():
    """``sys.getrefcount`` seen by :func:`_sole_owner` for an array held only by a caller's local
    and a callee's parameter, the way ``run_backward`` hands a gradient to
    ``AccumulateGrad.accumulate`` (measured, since the count differs between Python versions)."""
    def count(grad):
        return sys.getrefcount(grad)

    def accumulate(grad):
        return count(grad)

    def engine():
        g = np.empty(1)
        return accumulate(g)
    return engine()


_SOLE_OWNER_REFS = _refcount_of_sole_owner()


def _sole_owner(grad, dtype):
    """Whether a leaf may keep ``grad`` as its ``.grad`` without a copy (like torch stealing a
    gradient nobody else references): a fresh, writeable, contiguous array of the right dtype
    that owns its memory and is referenced only by the engine. A shared one (returned for two
    inputs, a view, the user's ``gradient=`` argument) is copied, so that in-place updates of
    one ``.grad`` (``+=`` on accumulation, ``clip_grad_norm_``) never reach another array."""
    return (type(grad) is np.ndarray and grad.dtype == dtype and grad.base is None
            and grad.flags.c_contiguous and grad.flags.writeable
            and sys.getrefcount(grad) <= _SOLE_OWNER_REFS)


class AccumulateGrad(Node):
    """The sink for a leaf tensor: adds the incoming gradient to ``variable.grad``."""

    def __init__(self, variable):
        self.variable = variable

    def name(self):
        return "AccumulateGrad"

    def accumulate(self, grad):
        var = self.variable
        for hook in list(var._hooks.values()) if var._hooks else ():
            res = hook(Tensor._wrap(grad))
            if res is not None:
                grad = res._data
        if var.grad is None:
            if var._hooks or not _sole_owner(grad, var._data.dtype):
                grad = np.array(grad, dtype=var._data.dtype, copy=True)
            var.grad = Tensor._wrap(grad)
        else:
            g = var.grad._data
            if g.shape != var._data.shape:
                raise RuntimeError(f"backward: .grad of a tensor of shape {var._data.shape} has "
                                   f"shape {g.shape}")
            g += grad
            var.grad._bump_version()


class ViewFn:
    """Recomputes a view from its base: the chain of view ops (slicing, reshape, permute, ...)
    that produced it. In-place ops on views use it to route gradients through the base."""
    __slots__ = ("prev", "cls", "config")

    def __init__(self, prev, cls, config):
        self.prev, self.cls, self.config = prev, cls, config

    def __call__(self, base_array):
        a = base_array if self.prev is None else self.prev(base_array)
        return self.cls().forward(a, **self.config)


class Function(Node):
    """Base of differentiable primitives. See the module docstring and ``ember/ops`` for examples.

    Subclasses set ``saved_inputs`` (indices of inputs whose arrays ``backward`` reads) and
    ``saves_output`` so that an in-place change of a saved tensor is detected at backward
    time instead of producing a silently wrong gradient.
    """
    saved_inputs = ()
    saves_output = False
    differentiable = True
    non_differentiable_outputs = ()

    def forward(self, *arrays, **config):
        raise TypeError(f"{type(self).__name__} defines no forward")

    def backward(self, grad):
        raise RuntimeError(f"{self.name()}: this function is not differentiable")

    @classmethod
    def apply(cls, *inputs, **config):
        # the hot path of every op: keep it free of imports, generators and repeated lookups
        prof = profiler_hook
        if prof is not None:
            start = prof.clock()
        tensors = [x if isinstance(x, Tensor) else as_tensor_arg(x) for x in inputs]
        fn = cls()
        need = False
        if cls.differentiable and is_grad_enabled():
            for t in tensors:
                if t._requires_grad:
                    need = True
                    break
        fn.needs_input_grad = tuple([t._requires_grad for t in tensors]) if need \
            else (False,) * len(tensors)
        quiet = quiet_float_errors()
        try:
            out = fn.forward(*[t._data for t in tensors], **config)
        finally:
            restore_float_errors(quiet)
        if type(out) is tuple:
            results = _wrap_outputs(fn, tensors, out, need)
            if prof is not None:
                prof.forward_done(cls, inputs, start)
            if trace_hook is not None:
                trace_hook(cls, tensors, config, results)
            return results
        if type(out) is not np.ndarray:
            out = np.asarray(out)
        result = Tensor._wrap(out)
        if out.base is not None:
            for t in tensors:
                if np.may_share_memory(out, t._data):
                    base = result._base = t._base if t._base is not None else t
                    result._base_fn = base.grad_fn
                    result._vc = t._vc
                    if len(tensors) == 1:
                        result._view_fn = ViewFn(t._view_fn, cls, config)
                    break
        if need and out.dtype.kind == "f":
            _check_fresh_views(cls, tensors)
            fn._connect(tensors)
            fn._input_meta = tuple([(t._data.shape, t._data.dtype) for t in tensors])
            if cls.saved_inputs or cls.saves_output:
                saved = [(tensors[i]._vc, tensors[i]._vc.value) for i in cls.saved_inputs]
                if cls.saves_output:
                    saved.append((result._vc, result._vc.value))
                fn._saved_versions = saved
            result._requires_grad = True
            result.grad_fn = fn
        if prof is not None:
            prof.forward_done(cls, inputs, start)
        if trace_hook is not None:
            trace_hook(cls, tensors, config, result)
        return result

    def _check_versions(self):
        for vc, expected in getattr(self, "_saved_versions", ()):
            if vc.value != expected:
                raise RuntimeError(
                    f"{self.name()}: one of the variables needed for gradient computation has been "
                    f"modified by an inplace operation: it is at version {vc.value}; expected version "
                    f"{expected} instead. Use an out-of-place op (e.g. x = x + 1 instead of x += 1), "
                    f"or .clone() the tensor before modifying it.")

    def _release(self):
        d = self.__dict__
        extra = d.keys() - _BASE_ATTRS
        for k in extra:
            del d[k]
        d["_had_saved"] = bool(extra)
        d["_freed"] = True


def _check_fresh_views(cls, tensors):
    for t in tensors:
        if t._base is not None and t._requires_grad and t._base.grad_fn is not t._base_fn:
            raise RuntimeError(
                f"{cls.__name__}: an input is a view of a tensor that was modified by an "
                f"in-place operation after the view was taken, so the view's gradient path "
                f"is stale. Take the view again after the in-place op (or clone it before).")


def _wrap_outputs(fn, tensors, arrays, need):
    """The tensors of a multi-output ``forward`` (see the module docstring): each output that
    can carry a gradient points at ``fn`` with its output number. Outputs never share memory
    with the inputs (a forward returning an input or a view of one is given a copy)."""
    cls = type(fn)
    outs = []
    for a in arrays:
        a = a if type(a) is np.ndarray else np.asarray(a)
        if any(np.may_share_memory(a, t._data) for t in tensors):
            a = a.copy()
        outs.append(a)
    results = tuple([Tensor._wrap(a) for a in outs])
    skip = fn.__dict__.get("non_differentiable_outputs", cls.non_differentiable_outputs)
    grads = [a.dtype.kind == "f" and i not in skip for i, a in enumerate(outs)]
    if need and any(grads):
        _check_fresh_views(cls, tensors)
        fn._connect(tensors)
        fn._input_meta = tuple([(t._data.shape, t._data.dtype) for t in tensors])
        fn._num_outputs = len(outs)
        fn._output_meta = tuple([(a.shape, a.dtype) for a in outs])
        if cls.saved_inputs or cls.saves_output:
            saved = [(tensors[i]._vc, tensors[i]._vc.value) for i in cls.saved_inputs]
            if cls.saves_output:
                saved += [(r._vc, r._vc.value) for r in results]
            fn._saved_versions = saved
        for i, r in enumerate(results):
            if grads[i]:
                r._requires_grad = True
                r.grad_fn = fn
                r._output_nr = i
    return results


def _deliver(grads, node, slot, g):
    """Add gradient ``g`` for output ``slot`` of ``node`` to what has reached it (one array,
    or for a multi-output node a list with one entry per output)."""
    count = node._num_outputs
    if count == 1:
        prev = grads.get(node)
        grads[node] = g if prev is None else prev + g
        return
    slots = grads.get(node)
    if slots is None:
        slots = grads[node] = [None] * count
    slots[slot] = g if slots[slot] is None else slots[slot] + g


def _run_hooks(hooks, g, count):
    """Apply a node's gradient pre-hooks (``{key: (output slot, fn)}``) to ``g`` (the list of
    per-output gradients when ``count > 1``)."""
    for slot, hook in list(hooks.values()):
        if count == 1:
            res = hook(Tensor._wrap(g))
            if res is not None:
                g = res._data
        elif g[slot] is not None:
            res = hook(Tensor._wrap(g[slot]))
            if res is not None:
                g[slot] = res._data
    return g


def run_backward(roots, retain_graph=False, capture=None):
    """Propagate gradients from ``roots`` (a list of ``(node, grad_array)``) through the graph.

    Nodes run in topological order: a node runs once every node that feeds it a gradient
    has run (dependency counting, no recursion, so deep graphs are fine). A root may also be
    ``(node, grad_array, output_nr)``, for an output of a multi-output node. ``capture`` maps
    nodes to slots: gradients reaching those nodes are stored there (the list of per-output
    gradients for a multi-output node), and no leaf ``.grad`` is touched (``autograd.grad``
    and ``backward(inputs=...)``).
    """
    deps = {}
    stack = []
    for node, *_ in roots:
        if node not in deps:
            deps[node] = 0
            stack.append(node)
    while stack:
        for nxt in stack.pop().next_functions:
            if nxt is not None:
                count = deps.get(nxt)
                if count is None:
                    deps[nxt] = 1
                    stack.append(nxt)
                else:
                    deps[nxt] = count + 1

    quiet = quiet_float_errors()
    try:
        _propagate(roots, deps, retain_graph, capture)
    finally:
        restore_float_errors(quiet)


def _propagate(roots, deps, retain_graph, capture):
    """The body of :func:`run_backward`: ``deps`` counts, per node, the nodes that feed it."""
    grads = {}
    for node, g, *slot in roots:
        _deliver(grads, node, slot[0] if slot and slot[0] is not None else 0, g)
    ready = [node for node in grads if deps[node] == 0]
    while ready:
        node = ready.pop()
        g = grads.pop(node, None)
        attrs = node.__dict__
        if g is not None:
            hooks = attrs.get("_pre_hooks")
            if hooks:
                g = _run_hooks(hooks, g, node._num_outputs)
            if capture is not None and node in capture:
                capture[node] = g
                if type(node) is AccumulateGrad:
                    continue
        if type(node) is AccumulateGrad:
            if g is not None and capture is None:
                node.accumulate(g)
            continue
        nexts = node.next_functions
        if g is None:
            for nxt in nexts:
                if nxt is not None:
                    deps[nxt] -= 1
                    if deps[nxt] == 0:
                        ready.append(nxt)
            continue
        if attrs.get("_freed") and attrs["_had_saved"]:
            raise RuntimeError(
                f"{node.name()}: trying to backward through the graph a second time (or to "
                f"access saved tensors after they have been freed). Saved intermediate values "
                f"of the graph are freed when you call .backward() or autograd.grad(). Specify "
                f"retain_graph=True if you need to backward through the graph a second time.")
        if "_saved_versions" in attrs:
            node._check_versions()
        if node._num_outputs != 1:
            in_grads = (node.backward(*g) if profiler_hook is None
                        else profiler_hook.backward(node, *g))
        else:
            in_grads = (node.backward(g) if profiler_hook is None
                        else profiler_hook.backward(node, g))
        if type(in_grads) is not tuple:
            in_grads = (in_grads,)
        if len(in_grads) != len(nexts):
            raise RuntimeError(f"{node.name()}: backward returned {len(in_grads)} gradients for "
                               f"{len(nexts)} inputs")
        metas = node._input_meta
        slots = attrs.get("_next_outputs")
        if not retain_graph:
            node._release()
        for i, nxt in enumerate(nexts):
            if nxt is None:
                continue
            ig = in_grads[i]
            if ig is not None:
                shape, dt = metas[i]
                if type(ig) is not np.ndarray:
                    ig = np.asarray(ig)
                if ig.shape != shape:
                    if ig.ndim == 0 and ig.size == math.prod(shape):
                        ig = ig.reshape(shape)
                    else:
                        raise RuntimeError(f"{node.name()}: backward produced a gradient of shape "
                                           f"{ig.shape} for input {i} of shape {shape}")
                if ig.dtype != dt:
                    ig = ig.astype(dt)
                if nxt._num_outputs == 1:
                    prev = grads.get(nxt)
                    grads[nxt] = ig if prev is None else prev + ig
                else:
                    _deliver(grads, nxt, slots[i], ig)
            count = deps[nxt] - 1
            deps[nxt] = count
            if count == 0:
                ready.append(nxt)
        in_grads = ig = None  # the grads dict is then a gradient's only holder (see _sole_owner)
