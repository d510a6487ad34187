"""Reverse-mode automatic differentiation: ``backward``, ``grad``, ``gradcheck``, ``Function``."""
import numpy as np

from ember.autograd.custom_function import Function, FunctionCtx
from ember.autograd.function import AccumulateGrad, run_backward
from ember.autograd.grad_mode import (enable_grad, inference_mode, is_grad_enabled, no_grad,
                                      set_grad_enabled)
from ember.autograd.gradcheck import gradcheck

__all__ = ["backward", "grad", "gradcheck", "Function", "FunctionCtx", "no_grad", "enable_grad",
           "set_grad_enabled", "is_grad_enabled", "inference_mode"]


def _as_list(x):
    if x is None:
        return None
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _root_grads(op, outputs, grad_outputs):
    from ember._tensor import Tensor
    roots = []
    grad_outputs = grad_outputs or [None] * len(outputs)
    if len(grad_outputs) != len(outputs):
        raise RuntimeError(f"{op}: got {len(outputs)} outputs but {len(grad_outputs)} gradients")
    for out, g in zip(outputs, grad_outputs):
        if not isinstance(out, Tensor):
            raise TypeError(f"{op}: expected a Tensor output, got {type(out).__name__}")
        if not out.requires_grad:
            raise RuntimeError(f"{op}: element 0 of tensors does not require grad and does not have "
                               f"a grad_fn (shape {tuple(out.shape)})")
        if g is None:
            if out._data.size != 1:
                raise RuntimeError(f"{op}: grad can be implicitly created only for scalar outputs; "
                                   f"got an output of shape {tuple(out.shape)}. Pass gradient= "
                                   f"(a tensor of the output's shape).")
            garr = np.ones(out._data.shape, dtype=out._data.dtype)
        else:
            garr = g._data if isinstance(g, Tensor) else np.asarray(g)
            if garr.shape != out._data.shape:
                raise RuntimeError(f"{op}: mismatch in shape: grad_output has a shape of "
                                   f"{tuple(garr.shape)} and output has a shape of "
                                   f"{tuple(out.shape)}")
            garr = garr.astype(out._data.dtype, copy=False)
        roots.append((out._edge(), garr, out._output_nr))
    return roots


def _captured(capture, t):
    """The gradient ``run_backward`` captured for tensor ``t`` (its own output slot when its
    node has several outputs), or None."""
    g = capture[t._edge()]
    if g is not None and t._output_nr is not None and type(g) is list:
        g = g[t._output_nr]
    return g


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate gradients of ``tensors`` into the ``.grad`` of the graph's leaves."""
    if create_graph:
        raise RuntimeError("backward: create_graph=True (higher-order gradients) is not supported "
                           "by Ember: backward formulas run on NumPy arrays")
    tensors = _as_list(tensors)
    grads = _as_list(grad_tensors)
    roots = _root_grads("backward", tensors, grads)
    if inputs is not None:
        inputs = _as_list(inputs)
        capture = {t._edge(): None for t in inputs}
        run_backward(roots, retain_graph=bool(retain_graph), capture=capture)
        for t in inputs:
            g = _captured(capture, t)
            if g is not None:
                t._edge()
                if t.is_leaf:
                    t._edge().accumulate(g)
                else:
                    from ember._tensor import Tensor
                    t.grad = (Tensor._wrap(np.array(g)) if t._grad is None
                              else t._grad + Tensor._wrap(g))
        return
    run_backward(roots, retain_graph=bool(retain_graph))


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=False, materialize_grads=False):
    """Gradients of ``outputs`` w.r.t. ``inputs``, returned (not accumulated into ``.grad``).

    >>> x = ember.tensor([2.0], requires_grad=True)
    >>> ember.autograd.grad((x ** 3).sum(), x)      # d/dx x^3 = 3 x^2
    (tensor([12.]),)"""
    from ember._tensor import Tensor
    if create_graph:
        raise RuntimeError("grad: create_graph=True (higher-order gradients) is not supported by "
                           "Ember: backward formulas run on NumPy arrays")
    single = isinstance(inputs, Tensor)
    inputs = _as_list(inputs)
    for t in inputs:
        if not t.requires_grad:
            raise RuntimeError("grad: one of the differentiated Tensors does not require grad")
    roots = _root_grads("grad", _as_list(outputs), _as_list(grad_outputs))
    capture = {t._edge(): None for t in inputs}
    run_backward(roots, retain_graph=bool(retain_graph), capture=capture)
    result = []
    for t in inputs:
        g = _captured(capture, t)
        if g is None:
            if materialize_grads:
                g = np.zeros_like(t._data)
            elif not allow_unused:
                raise RuntimeError("grad: one of the differentiated Tensors appears to not have been "
                                   "used in the graph. Set allow_unused=True if this is the desired "
                                   "behavior.")
        result.append(None if g is None else Tensor._wrap(np.array(g)))
    return tuple(result)
