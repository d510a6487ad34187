"""In-place operations and views inside autograd: how ``x.add_(y)``, ``x[i] = v`` and writes
through a view keep gradients right.

torch's rules, which Ember follows:

- An in-place op writes into the tensor's storage (views see the change), bumps the version
  counter its views share, and, when the result needs a gradient, the tensor takes over the
  node of the out-of-place computation (``commit``): ``x.add_(y)`` is ``x = x + y`` computed
  from the old value (``value_before``) and written back.
- A node that saved a tensor checks its version at backward time, so a tensor modified after
  it was saved is an error, never a silently wrong gradient.
- Writing through a view ``v`` of a base ``b`` that is in the graph rewires the base:
  ``b``'s new node is ``CopySlices`` (the gradient of the view's region goes to the written
  value, the rest to the old base) and ``v``'s is ``AsView`` (the view recomputed from the new
  base), so later uses of either see the write (``rebase_view``).
- Refused, as torch refuses them (``check_inplace``): writing into a leaf that requires grad,
  into a view of one, into a view taken under ``no_grad`` or by ``detach``, into a view whose
  base was written since the view was taken, or into an expanded (self-overlapping) view.

``inplace_method(fn, name)`` turns an out-of-place op into its in-place method; the Tensor
methods (``ember/_tensor_methods.py``) and the in-place activations and dropout use it.
"""
import numpy as np

from ember import _dtype
from ember._tensor import Tensor
from ember.autograd.function import Function, unbroadcast
from ember.autograd.grad_mode import is_grad_enabled, no_grad

__all__ = ["check_inplace", "commit", "value_before", "inplace_method", "overwrite",
           "CopySlices", "AsView", "Overwrite"]


def check_inplace(tensor, op):
    """Raise for in-place ops torch refuses; return whether the op must be recorded."""
    if not tensor._data.flags.writeable:
        raise RuntimeError(f"{op}: unsupported operation: more than one element of the written-to "
                           f"tensor (shape {tuple(tensor.shape)}) refers to a single memory "
                           f"location "
                           f"(an expanded view, or a read-only NumPy array). Call .clone() before "
                           f"writing to it.")
    if not is_grad_enabled():
        return False
    if tensor.is_leaf and tensor._requires_grad:
        raise RuntimeError(f"{op}: a leaf Variable that requires grad is being used in an in-place "
                           f"operation. Wrap it in `with ember.no_grad():` or use an out-of-place "
                           f"op.")
    base = tensor._base
    if base is not None and base._requires_grad:
        if base.is_leaf:
            raise RuntimeError(f"{op}: a view of a leaf Variable that requires grad is being used "
                               f"in an in-place operation. Wrap it in `with ember.no_grad():`.")
        if not tensor._requires_grad or tensor._view_fn is None:
            raise RuntimeError(f"{op}: a view created in no_grad mode (or by detach) is being "
                               f"modified in-place with grad mode enabled; the base's gradient "
                               f"would be wrong. Take the view with grad mode enabled, or clone "
                               f"it.")
        if base.grad_fn is not tensor._base_fn:
            raise RuntimeError(f"{op}: this view's base was modified in place after the view was "
                               f"taken; take the view again before modifying it.")
    return True


class CopySlices(Function):
    """The base of a view after an in-place op on the view: ``base[view] = value``.

    Built by ``commit`` (the data was already written through the view); backward routes
    the view's part of the gradient to the new value and the rest to the old base."""

    def backward(self, grad):
        view_fn = self.view_fn
        g_base = g_value = None
        if self.needs_input_grad[1]:
            g_value = unbroadcast(np.array(view_fn(grad)), self._input_meta[1][0])
        if self.needs_input_grad[0]:
            g_base = np.array(grad, copy=True, order="C")
            view_fn(g_base)[...] = 0
        return g_base, g_value


class AsView(Function):
    """The view, recomputed from its base's new node, so later uses see the new history."""

    def backward(self, grad):
        g = np.zeros(self._input_meta[0][0], dtype=grad.dtype)
        self.view_fn(g)[...] = grad
        return g


def rebase_view(view, result):
    """After writing ``result`` into ``view``, make the base's graph include the write."""
    base = view._base
    needs = (base._requires_grad, result._requires_grad)
    node = CopySlices()
    node.view_fn = view._view_fn
    node.needs_input_grad = needs
    node._connect((base, result))
    node._input_meta = ((base._data.shape, base._data.dtype),
                        (result._data.shape, result._data.dtype))
    base.grad_fn = node
    base._output_nr = None
    base._requires_grad = True
    as_view = AsView()
    as_view.view_fn = view._view_fn
    as_view.needs_input_grad = (True,)
    as_view.next_functions = (node,)          # the base after the write: a one-output node
    as_view._input_meta = ((base._data.shape, base._data.dtype),)
    view.grad_fn = as_view
    view._output_nr = None
    view._requires_grad = True
    view._base_fn = node


def commit(tensor, result, op):
    """Write ``result`` into ``tensor``'s storage and take over its graph node."""
    r = result._data
    if r.shape != tensor._data.shape:
        try:
            r = np.broadcast_to(r, tensor._data.shape)
        except ValueError:
            raise RuntimeError(f"{op}: output with shape {tuple(tensor.shape)} doesn't match the "
                               f"broadcast shape {tuple(result.shape)}") from None
    if r.dtype != tensor._data.dtype:
        if not np.can_cast(r.dtype, tensor._data.dtype, casting="same_kind") or (
                r.dtype.kind == "f" and tensor._data.dtype.kind in "biu"):
            raise RuntimeError(f"{op}: result type {_dtype.from_numpy(r.dtype)} can't be cast to "
                               f"the desired output type {tensor.dtype}")
    np.copyto(tensor._data, r, casting="unsafe")
    tensor._bump_version()
    if tensor._base is not None and tensor._view_fn is not None and is_grad_enabled() and (
            result._requires_grad or tensor._base._requires_grad):
        rebase_view(tensor, result)
        return tensor
    if result._requires_grad and result.grad_fn is not None:
        tensor.grad_fn = result.grad_fn
        tensor._output_nr = result._output_nr
        tensor._requires_grad = True
        result._vc = tensor._vc
    return tensor


def value_before(tensor, recording):
    """The value of ``tensor`` before the in-place op, as an operand for the out-of-place op."""
    if not recording or not tensor._requires_grad:
        return tensor
    src = Tensor._wrap(tensor._data.copy())
    src._requires_grad = True
    src.grad_fn = tensor.grad_fn
    src._output_nr = tensor._output_nr
    return src


def inplace_method(fn, op, fast=None):
    """The in-place method ``op`` built from the out-of-place ``fn``.

    When no gradient is recorded (``no_grad``, or no operand requires grad) and ``fast`` is
    given, the update is one NumPy kernel writing into the storage (``fast(x, *args, **kw)``
    returns False when it cannot handle the operands, e.g. dtype promotion or broadcasting
    that torch would reject; the general path then raises torch's error)."""
    def method(self, *args, **kwargs):
        recording = check_inplace(self, op)
        if fast is not None and self._data.dtype.kind == "f" and not (
                recording and (self._requires_grad or any_requires_grad(args, kwargs))):
            try:
                done = fast(self._data, *args, **kwargs)
            except (ValueError, TypeError):
                done = False
            if done is not False:
                self._bump_version()
                return self
        if not recording:
            with no_grad():
                return commit(self, fn(self, *args, **kwargs), op)
        return commit(self, fn(value_before(self, True), *args, **kwargs), op)
    method.__name__ = op
    method.__doc__ = f"In-place version of ``{op[:-1]}``."
    return method


def any_requires_grad(args, kwargs):
    for a in args:
        if isinstance(a, Tensor) and a._requires_grad:
            return True
    for a in kwargs.values():
        if isinstance(a, Tensor) and a._requires_grad:
            return True
    return False


class Overwrite(Function):
    """``x`` replaced by ``value`` broadcast to its shape: the node ``fill_``/``zero_``/``copy_``
    leave on a tensor in the graph. The old values get a zero gradient; a tensor ``value``
    gets the gradient summed over the broadcast dims."""

    def forward(self, x, value):
        out = np.empty_like(x)
        np.copyto(out, value, casting="unsafe")
        return out

    def backward(self, grad):
        gx = np.zeros_like(grad) if self.needs_input_grad[0] else None
        gv = unbroadcast(grad, self._input_meta[1][0]) if self.needs_input_grad[1] else None
        return gx, gv


def overwrite(tensor, value, op):
    """Write ``value`` (a number or a tensor broadcastable to ``tensor``) into ``tensor``."""
    recording = check_inplace(tensor, op)
    v = value if isinstance(value, Tensor) else Tensor._wrap(np.asarray(value))
    if recording and (tensor._requires_grad or v._requires_grad):
        return commit(tensor, Overwrite.apply(value_before(tensor, True), v), op)
    np.copyto(tensor._data, v._data, casting="unsafe")
    tensor._bump_version()
    return tensor
