"""Gradient clipping (torch.nn.utils.clip_grad_norm_ / clip_grad_value_).

Exploding gradients -- a product of many factors ``d`` grows like ``d^(n−1)`` when ``d ≫ 1``
(lecture 003 "反向传播", inventory A14) -- are tamed by rescaling or clamping the gradients
between ``backward()`` and ``optimizer.step()``::

    loss.backward()
    ember.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
    opt.step()
"""
import types
import warnings

import numpy as np

from ember import _dtype
from ember._tensor import Tensor
from ember.autograd.grad_mode import no_grad

__all__ = ["clip_grad_norm_", "clip_grad_value_", "get_total_norm", "clip_grads_with_norm_"]


def _as_list(parameters, name):
    if isinstance(parameters, Tensor):
        return [parameters]
    is_generator = isinstance(parameters, types.GeneratorType)
    parameters = list(parameters)
    if is_generator and not parameters:
        warnings.warn(f"{name}: `parameters` is an empty generator, no gradient clipping will "
                      "occur.", stacklevel=3)
    for i, p in enumerate(parameters):
        if not isinstance(p, Tensor):
            raise TypeError(f"{name}: expected Tensors, but item {i} is a {type(p).__name__}")
    return parameters


def _vector_norm(x, p):
    """``‖x‖_p`` of the flattened array: ``(Σ|x_i|^p)^(1/p)``; max/min of ``|x|`` for ±inf,
    the number of non-zeros for ``p = 0`` (torch.linalg.vector_norm)."""
    a = np.abs(x.ravel())
    if p == np.inf:
        return a.max(initial=0).astype(x.dtype)
    if p == -np.inf:
        return a.min(initial=np.inf).astype(x.dtype) if a.size else x.dtype.type(np.inf)
    if p == 0:
        return x.dtype.type(np.count_nonzero(a))
    if p == 1:
        return a.sum(dtype=x.dtype)
    if p == 2:
        return np.sqrt(np.dot(a, a) if a.dtype.kind == "f" else (a * a).sum()).astype(x.dtype)
    return (a ** p).sum(dtype=x.dtype) ** x.dtype.type(1.0 / p)


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False):
    r"""The ``norm_type``-norm of all ``tensors`` together, as if concatenated into one vector.

    Computed as the norm of the per-tensor norms, ``‖(‖t_1‖_p, …, ‖t_n‖_p)‖_p``, like torch.

    Args:
        tensors (Tensor or iterable of Tensors): e.g. the gradients.
        norm_type (float or str): ``p``; ``inf``/``'inf'`` for the max-norm. Default 2.
        error_if_nonfinite (bool): raise ``RuntimeError`` if the norm is nan or inf.

    Returns:
        A zero-dim Tensor (the tensors' dtype; float32 zero if there are no tensors).
    """
    tensors = _as_list(tensors, "get_total_norm")
    norm_type = float(norm_type)
    if not tensors:
        return Tensor._wrap(np.zeros((), dtype=_dtype.get_default_dtype().np))
    dtype = np.result_type(*[t._data.dtype for t in tensors])
    norms = np.array([_vector_norm(t._data, norm_type) for t in tensors], dtype=dtype)
    total = np.asarray(_vector_norm(norms, norm_type), dtype=dtype)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the "
                           f"gradients is non-finite ({float(total)}), so it cannot be clipped; "
                           "pass error_if_nonfinite=False to scale the gradients anyway")
    return Tensor._wrap(total)


def clip_grads_with_norm_(parameters, max_norm, total_norm):
    r"""Scale the gradients of ``parameters`` in place by ``min(1, max_norm / (total_norm + 1e-6))``.

    Args:
        parameters (Tensor or iterable of Tensors): tensors whose ``.grad`` is scaled.
        max_norm (float): the largest allowed norm.
        total_norm (Tensor): the norm to scale against (e.g. from :func:`get_total_norm`).
    """
    parameters = _as_list(parameters, "clip_grads_with_norm_")
    max_norm = float(max_norm)
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return
    total = total_norm._data if isinstance(total_norm, Tensor) else np.asarray(total_norm)
    # torch computes max_norm / x as reciprocal(x) * max_norm; same rounding here.
    coef = np.minimum(np.reciprocal(total + 1e-6) * max_norm, 1.0)
    with no_grad():
        for g in grads:
            g._data *= coef.astype(g._data.dtype)
            g._bump_version()


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    r"""Rescale gradients so that their joint norm is at most ``max_norm`` (in place).

    ``total = ‖(g_1, …, g_n)‖_p`` over all gradients together; every gradient is multiplied by
    ``min(1, max_norm / (total + 1e-6))``. Parameters without a gradient are skipped.

    Args:
        parameters (Tensor or iterable of Tensors): the parameters (``model.parameters()``).
        max_norm (float): the largest allowed norm.
        norm_type (float or str): ``p`` of the norm, ``inf``/``'inf'`` for the max-norm.
            Default 2.
        error_if_nonfinite (bool): raise ``RuntimeError`` if the total norm is nan or inf
            instead of scaling by it. Default False.

    Returns:
        The total norm of the gradients before clipping (a zero-dim Tensor).
    """
    parameters = _as_list(parameters, "clip_grad_norm_")
    grads = [p.grad for p in parameters if p.grad is not None]
    total_norm = get_total_norm(grads, norm_type, error_if_nonfinite)
    clip_grads_with_norm_(parameters, max_norm, total_norm)
    return total_norm


def clip_grad_value_(parameters, clip_value):
    r"""Clamp every gradient element into ``[-clip_value, clip_value]`` (in place).

    Args:
        parameters (Tensor or iterable of Tensors): the parameters (``model.parameters()``).
        clip_value (float): the largest allowed absolute value.
    """
    parameters = _as_list(parameters, "clip_grad_value_")
    clip_value = float(clip_value)
    with no_grad():
        for p in parameters:
            if p.grad is not None:
                g = p.grad._data
                np.clip(g, -clip_value, clip_value, out=g)
                p.grad._bump_version()
