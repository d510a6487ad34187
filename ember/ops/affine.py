"""Affine maps (``torch.nn.functional`` names): ``linear`` and ``bilinear``.

Lecture 000 "Activation Functions" / lecture 003 "全连接网络": a fully connected ("linear")
layer computes ``h = W a + b``. Each function is one fused :class:`Function` whose forward and
backward are a handful of matrix products on the raw arrays.
"""
import numpy as np

from ember import _parallel
from ember.autograd.function import Function, unbroadcast
from ember.ops._checks import same_float_dtype, tensor_argument
from ember.ops._ones import sum_rows

__all__ = ["linear", "bilinear"]


class Linear(Function):
    """``y = x W^T + b`` on ``x`` flattened to ``(n, in)``: one GEMM forward, two backward."""
    saved_inputs = (0, 1)

    def forward(self, x, w, b=None):
        self.x2 = x.reshape(-1, x.shape[-1])          # a view unless x is non-contiguous
        self.w2 = w.reshape(-1, w.shape[-1])
        y = _parallel.matmul(self.x2, self.w2.T)
        if b is not None:
            y += b
        if x.ndim == 2 and w.ndim == 2:     # already (n, out); a fresh array, not a view
            return y
        return y.reshape(x.shape[:-1] + w.shape[:-1])

    def backward(self, grad):
        x2, w2 = self.x2, self.w2
        (x_shape, _), (w_shape, _) = self._input_meta[:2]
        g2 = grad.reshape(-1, w2.shape[0])
        gb = None
        if len(self.needs_input_grad) == 3 and self.needs_input_grad[2]:
            # first, while dy is still in cache from the op that produced it: after the two
            # products it is not (the MLP's first layer, dy (128, 256), in a step: 19 -> 9 us)
            b_shape = self._input_meta[2][0]
            gb = sum_rows(g2) if len(b_shape) == 1 else unbroadcast(grad, b_shape)
        gx = _parallel.matmul(g2, w2).reshape(x_shape) if self.needs_input_grad[0] else None
        gw = None
        if self.needs_input_grad[1]:
            gw = _parallel.matmul(g2.T, x2)
            if gw.shape != w_shape:   # a 1-D weight; a 2-D one is returned as is, not as a
                gw = gw.reshape(w_shape)  # view, so that the leaf can keep it without a copy
        if len(self.needs_input_grad) == 2:
            return gx, gw
        return gx, gw, gb


def linear(input, weight, bias=None):
    """Fully connected layer ``y = x W^T + b`` (lecture 003 "全连接网络": ``h = W a + b``).

    ``input (*, in)``, ``weight (out, in)`` (or ``(in,)`` for a single output, which drops
    the last dim), ``bias (out,)`` -> ``(*, out)``. Backward: ``dx = dy W``,
    ``dW = dy^T x``, ``db = sum of dy`` over the leading dims.
    """
    x, w = tensor_argument(input, "linear", "input"), tensor_argument(weight, "linear", "weight")
    if bias is not None:
        tensor_argument(bias, "linear", "bias")
    if x._data.ndim == 0:
        raise RuntimeError("linear: input must have at least 1 dimension, got a 0-d tensor")
    if w._data.ndim not in (1, 2):
        raise RuntimeError(f"linear: weight must be 1-D or 2-D (out_features, in_features), got "
                           f"shape {tuple(w.shape)}")
    n_in = x._data.shape[-1]
    if w._data.shape[-1] != n_in:
        raise RuntimeError(f"linear: input has {n_in} features (shape {tuple(x.shape)}) but weight "
                           f"expects {w._data.shape[-1]} (weight shape {tuple(w.shape)})")
    same_float_dtype("linear", input=x, weight=w, bias=bias)
    if bias is None:
        return Linear.apply(x, w)
    out_shape = w._data.shape[:-1]
    ok = bias._data.shape == out_shape           # the usual (out,) bias, without the general test
    if not ok:
        try:
            ok = np.broadcast_shapes(bias._data.shape, out_shape) == out_shape
        except ValueError:
            ok = False
    if not ok:
        raise RuntimeError(f"linear: bias of shape {tuple(bias.shape)} does not match the "
                           f"{out_shape[0] if out_shape else 1} output features of weight "
                           f"(weight shape {tuple(w.shape)})")
    return Linear.apply(x, w, bias)


class Bilinear(Function):
    """``y_k = x1^T W_k x2 + b_k`` with ``t[n, k, j] = sum_i x1[n, i] W[k, i, j]`` as one GEMM."""
    saved_inputs = (0, 1, 2)

    def forward(self, x1, x2, w, b=None):
        out, in1, in2 = w.shape
        self.x1 = x1.reshape(-1, in1)
        self.x2 = x2.reshape(-1, in2)
        self.w = w
        self.t = (self.x1 @ w.transpose(1, 0, 2).reshape(in1, out * in2)).reshape(-1, out, in2)
        y = (self.t @ self.x2[:, :, None])[:, :, 0]
        if b is not None:
            y += b
        return y.reshape(x1.shape[:-1] + (out,))

    def backward(self, grad):
        w, x1, x2 = self.w, self.x1, self.x2
        out, in1, in2 = w.shape
        g = grad.reshape(-1, out)
        need = self.needs_input_grad
        u = (g[:, :, None] * x2[:, None, :]).reshape(-1, out * in2)   # u[n, k, j] = g x2
        g1 = (u @ w.transpose(0, 2, 1).reshape(out * in2, in1)).reshape(self._input_meta[0][0]) \
            if need[0] else None
        g2 = (g[:, None, :] @ self.t)[:, 0, :].reshape(self._input_meta[1][0]) if need[1] else None
        gw = (x1.T @ u).reshape(in1, out, in2).transpose(1, 0, 2) if need[2] else None
        if len(need) == 3:
            return g1, g2, gw
        return g1, g2, gw, (g.sum(axis=0) if need[3] else None)


def bilinear(input1, input2, weight, bias=None):
    """Bilinear map ``y_k = x1^T W_k x2 + b_k``.

    ``input1 (*, in1)``, ``input2 (*, in2)`` (same leading dims), ``weight (out, in1, in2)``,
    ``bias (out,)`` -> ``(*, out)``.
    """
    x1, x2 = tensor_argument(input1, "bilinear", "input1"), tensor_argument(input2, "bilinear", "input2")
    w = tensor_argument(weight, "bilinear", "weight")
    if w._data.ndim != 3:
        raise RuntimeError(f"bilinear: weight must be 3-D (out, in1, in2), got shape "
                           f"{tuple(w.shape)}")
    out, in1, in2 = w._data.shape
    if x1._data.ndim == 0 or x1._data.shape[-1] != in1:
        raise RuntimeError(f"bilinear: input1 has shape {tuple(x1.shape)} but weight expects "
                           f"{in1} features (weight shape {tuple(w.shape)})")
    if x2._data.ndim == 0 or x2._data.shape[-1] != in2:
        raise RuntimeError(f"bilinear: input2 has shape {tuple(x2.shape)} but weight expects "
                           f"{in2} features (weight shape {tuple(w.shape)})")
    if x1._data.shape[:-1] != x2._data.shape[:-1]:
        raise RuntimeError(f"bilinear: input batch dimensions do not match: input1 "
                           f"{tuple(x1.shape)}, input2 {tuple(x2.shape)}")
    if bias is not None and tuple(tensor_argument(bias, "bilinear", "bias").shape) != (out,):
        raise RuntimeError(f"bilinear: bias must have shape ({out},), got {tuple(bias.shape)}")
    same_float_dtype("bilinear", input1=x1, input2=x2, weight=w, bias=bias)
    return Bilinear.apply(x1, x2, w) if bias is None else Bilinear.apply(x1, x2, w, bias)
