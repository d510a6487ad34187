"""``torch.autograd.Function``: user-defined differentiable operations written with tensors.

PyTorch's tutorials define new operations as a class with two static methods::

    class MyReLU(ember.autograd.Function):
        @staticmethod
        def forward(ctx, input):              # tensors in, one tensor out (no graph recorded)
            ctx.save_for_backward(input)
            return input.clamp(min=0)

        @staticmethod
        def backward(ctx, grad_output):       # one gradient per forward argument
            input, = ctx.saved_tensors
            grad_input = grad_output.clone()
            grad_input[input < 0] = 0
            return grad_input

    y = MyReLU.apply(x)

torch 2's variant (``forward`` without ``ctx`` plus ``setup_context(ctx, inputs, output)``)
works too. ``apply`` runs ``forward`` under ``no_grad`` and records one graph node (the
:class:`ember.autograd.function.Function` mechanism of every built-in op); that node calls
``backward`` with the output gradient, also under ``no_grad``. Tensors saved with
``ctx.save_for_backward`` are version-checked: modifying one in place before ``backward`` is
an error, as in torch.

``forward`` may return several tensors (a tuple; other values in it are passed through):
``backward(ctx, *grad_outputs)`` then receives one gradient per returned tensor — zeros for
an output that received none, or None after ``ctx.set_materialize_grads(False)``.
``ctx.mark_non_differentiable(t)`` makes an output (indices, masks) never require grad.
"""
import weakref

import numpy as np

from ember.autograd import function as _function
from ember.autograd.grad_mode import is_grad_enabled, no_grad


class FunctionCtx:
    """The ``ctx`` of a custom Function: ``save_for_backward(*tensors)``, ``saved_tensors``,
    ``needs_input_grad`` (one bool per forward argument) and any attribute the user sets."""

    def __init__(self, needs_input_grad):
        self.needs_input_grad = needs_input_grad
        self._saved = ()
        self._non_differentiable = set()
        self.materialize_grads = True

    def mark_non_differentiable(self, *tensors):
        """The given outputs of ``forward`` never require grad (and get no gradient)."""
        for i, t in enumerate(tensors):
            if not isinstance(t, _function.Tensor):
                raise TypeError(f"mark_non_differentiable: argument {i} should be a Tensor, got "
                                f"{type(t).__name__}")
        self._non_differentiable.update(id(t) for t in tensors)

    def set_materialize_grads(self, value):
        """True (default): an output that received no gradient gets zeros in ``backward``;
        False: it gets None."""
        self.materialize_grads = bool(value)

    def save_for_backward(self, *tensors):
        for i, t in enumerate(tensors):
            if t is not None and not isinstance(t, _function.Tensor):
                raise TypeError(f"save_for_backward: argument {i} should be a Tensor or None, "
                                f"got {type(t).__name__}")
        self._saved = tuple((t, None if t is None else t._vc.value) for t in tensors)

    @property
    def saved_tensors(self):
        for i, (t, version) in enumerate(self._saved):
            if t is not None and t._vc.value != version:
                raise RuntimeError(
                    f"saved_tensors: saved tensor {i} (shape {tuple(t.shape)}) was modified by an "
                    f"inplace operation after save_for_backward: it is at version {t._vc.value}; "
                    f"expected version {version} instead")
        return tuple(t for t, _ in self._saved)


class _CustomNode(_function.Function):
    """The graph node of one ``apply`` call: its forward hands back the outputs computed by the
    user's ``forward`` (one array, or a tuple for several); its backward calls the user's
    ``backward``. One subclass per user Function, named like torch's (``MyReLUBackward``)."""

    def name(self):
        return type(self).__name__

    def forward(self, *arrays, user, ctx, outputs, non_differentiable, tensor_positions,
                n_args):
        self.user, self.ctx = user, ctx
        self.tensor_positions, self.n_args = tensor_positions, n_args
        if len(outputs) > 1:
            self.non_differentiable_outputs = non_differentiable
            return outputs             # _wrap_outputs copies an output that aliases an input
        output = outputs[0]
        if any(np.may_share_memory(output, a) for a in arrays):
            output = output.copy()  # an input returned as is: a new tensor, not a view of it
        return output

    def backward(self, *grads):
        ctx = self.ctx
        if ctx.materialize_grads:
            metas = getattr(self, "_output_meta", None) or (None,)
            grads = tuple(np.zeros(*meta) if g is None else g for g, meta in zip(grads, metas))
        with no_grad():
            grads = self.user.backward(ctx, *[None if g is None else _function.Tensor._wrap(g)
                                              for g in grads])
        grads = grads if isinstance(grads, tuple) else (grads,)
        if len(grads) != self.n_args:
            raise RuntimeError(f"{self.name()}: function backward returned an incorrect number of "
                               f"gradients (expected {self.n_args}, got {len(grads)})")
        out = []
        for i in self.tensor_positions:
            g = grads[i]
            if g is not None and not isinstance(g, _function.Tensor):
                raise TypeError(f"{self.name()}: backward should return a Tensor or None for "
                                f"argument {i}, got {type(g).__name__}")
            out.append(None if g is None else g._data)
        return tuple(out) if len(out) > 1 else out[0]


_NODE_TYPES = weakref.WeakKeyDictionary()


class Function(_function.Function):
    """Base class of user-defined operations with ``forward(ctx, *args)`` and
    ``backward(ctx, *grad_outputs)`` static methods, called through ``apply(*args)``; or with
    ``forward(*args)`` and ``setup_context(ctx, inputs, output)`` (torch 2).

    A function with two outputs, whose backward gets one gradient per output:

    >>> class SinCos(ember.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         ctx.save_for_backward(x)
    ...         return x.sin(), x.cos()
    ...     @staticmethod
    ...     def backward(ctx, grad_sin, grad_cos):
    ...         x, = ctx.saved_tensors
    ...         return grad_sin * x.cos() - grad_cos * x.sin()
    >>> x = ember.tensor([0.0], requires_grad=True)
    >>> s, c = SinCos.apply(x)
    >>> (s + c).sum().backward()
    >>> x.grad                                   # cos 0 - sin 0
    tensor([1.])"""

    @classmethod
    def apply(cls, *args, **kwargs):
        Tensor = _function.Tensor
        positions = tuple(i for i, a in enumerate(args) if isinstance(a, Tensor))
        grad_on = is_grad_enabled()
        ctx = FunctionCtx(tuple(grad_on and isinstance(a, Tensor) and a.requires_grad
                                for a in args))
        with no_grad():
            if hasattr(cls, "setup_context"):
                output = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, output)
            else:
                output = cls.forward(ctx, *args, **kwargs)
        single = isinstance(output, Tensor)
        if not single and not isinstance(output, tuple):
            raise TypeError(f"{cls.__name__}.forward: expected a Tensor or a tuple holding "
                            f"Tensors as the output, got {type(output).__name__}")
        items = (output,) if single else output
        slots = [i for i, item in enumerate(items) if isinstance(item, Tensor)]
        if not slots:
            raise TypeError(f"{cls.__name__}.forward: returned no Tensor")
        tensors = [items[i] for i in slots]
        marked = {i for i, t in enumerate(tensors) if id(t) in ctx._non_differentiable}
        if len(tensors) == 1 and marked:        # a lone non-differentiable output: no node
            result = Tensor._wrap(np.array(tensors[0]._data, copy=True))
            return result if single else _merge(items, slots, (result,))
        node = _NODE_TYPES.get(cls)
        if node is None:
            node = _NODE_TYPES[cls] = type(f"{cls.__name__}Backward", (_CustomNode,), {})
        results = node.apply(*[args[i] for i in positions], user=cls, ctx=ctx,
                             outputs=tuple(t._data for t in tensors), non_differentiable=marked,
                             tensor_positions=positions, n_args=len(args))
        if single:
            return results
        return _merge(items, slots, results if isinstance(results, tuple) else (results,))


def _merge(items, slots, tensors):
    """``items`` (what forward returned) with its Tensors at ``slots`` replaced by ``tensors``."""
    merged = list(items)
    for i, t in zip(slots, tensors):
        merged[i] = t
    return tuple(merged)
