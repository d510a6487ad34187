"""Pooling: max / average / power-average / adaptive pools and max-unpooling.

Lecture 002 「Pooling池化」 (inventory B19) defines the three pools on a window of s×s inputs x_i::

    average  y = (1/s²) Σ x_i        max  y = max{x_i}        L2  y = √((1/s²) Σ x_i²)

applied per channel, with the conv output-size formula. Lecture 002 「残差的反向传播 ■ Pooling层」
gives the backward routing: average pooling spreads the upstream delta evenly over its window,
max pooling sends it to the arg-max cell only (inventory A12). Max-unpooling puts each value
back where the max came from (lecture 003 「Unpooling——反池化」).

**Sliding windows** (``max_pool*``, ``avg_pool*``): the input is padded once and split into
its stride phases (``_PoolGeometry.split``); the pool is then a reduction over the kernel
offsets, each offset being one unit-stride slice (a view) of one phase. Backward adds the
(masked or divided) upstream gradient into the same slices and merges the phases back.
Adaptive average pooling is a separable resampling (``ember.ops.resampling``).

All functions accept batched ``(N, C, *spatial)`` and unbatched ``(C, *spatial)`` inputs like
torch, and keep float32 as float32.
"""
import itertools
import math
from functools import partial

import numpy as np

from ember import _parallel
from ember._tensor import Tensor
from ember.autograd.function import Function
from ember.kernels import compiled
from ember.ops._checks import float_input, ntuple, spatial_input
from ember.ops.resampling import adaptive_bounds, area_taps, resample

__all__ = ["max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
           "lp_pool1d", "lp_pool2d", "lp_pool3d",
           "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
           "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
           "max_unpool1d", "max_unpool2d", "max_unpool3d"]


# ----------------------------------------------------------------------------------------------
# Sliding-window geometry
# ----------------------------------------------------------------------------------------------

def _pool_output_size(size, k, s, p, d, ceil_mode):
    """torch's pooling size: ⌊(L + 2p − d(k−1) − 1)/s⌋ + 1 (⌈·⌉ with ``ceil_mode``), except
    that a last window starting in the right padding is dropped."""
    out = (size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


class _PoolGeometry:
    """Kernel, stride, padding, dilation, input and output sizes of a sliding-window pool,
    one entry per spatial dimension, validated like torch."""

    def __init__(self, fname, input, nd, kernel_size, stride, padding, dilation, ceil_mode):
        self.kernel = ntuple(kernel_size, nd, fname, "kernel_size")
        stride = self.kernel if stride is None or (isinstance(stride, (tuple, list))
                                                   and len(stride) == 0) else stride
        self.stride = ntuple(stride, nd, fname, "stride")
        self.padding = ntuple(padding, nd, fname, "padding")
        self.dilation = ntuple(dilation, nd, fname, "dilation")
        self.size = tuple(input._data.shape[-nd:])
        self.nd = nd
        shape = tuple(input._data.shape)
        for name, vals in (("kernel_size", self.kernel), ("stride", self.stride),
                           ("dilation", self.dilation)):
            if any(v <= 0 for v in vals):
                raise RuntimeError(f"{fname}: {name} must be greater than zero, got {vals}")
        if any(p < 0 or p > k // 2 for p, k in zip(self.padding, self.kernel)):
            raise RuntimeError(f"{fname}: padding should be at most half of the kernel size, "
                               f"got padding {self.padding} with kernel_size {self.kernel}")
        self.out = tuple(_pool_output_size(*a, ceil_mode) for a in zip(
            self.size, self.kernel, self.stride, self.padding, self.dilation))
        if any(o < 1 for o in self.out):
            raise RuntimeError(
                f"{fname}: kernel_size {self.kernel} with dilation {self.dilation} does not fit "
                f"the input {self.size} padded by {self.padding} (input shape {shape}); the "
                f"output would be {self.out}. Output size is too small")
        for o, s, p, d, k, n in zip(self.out, self.stride, self.padding, self.dilation,
                                    self.kernel, self.size):
            pos = (np.arange(o) * s - p)[:, None] + np.arange(k) * d
            if not ((pos >= 0) & (pos < n)).any(axis=1).all():
                raise RuntimeError(
                    f"{fname}: with kernel_size {self.kernel}, dilation {self.dilation} and "
                    f"padding {self.padding}, some windows hold only padding (input shape "
                    f"{shape})")
        # Polyphase layout: in padded coordinates q = position + padding, dim i is split into
        # its ``stride`` phases q % s (each phase is a contiguous sub-grid q // s), so that every
        # kernel offset reads a unit-stride slice of one phase instead of a stride-s view.
        self.phase_len = tuple(
            -(-max((o - 1) * s + d * (k - 1) + 1, p + n) // s) for o, s, d, k, p, n
            in zip(self.out, self.stride, self.dilation, self.kernel, self.padding, self.size))
        # windows that tile the input without overlap or padding (the lectures' 2x2/2 pool)
        self.tiled = (self.stride == self.kernel and not any(self.padding)
                      and all(d == 1 for d in self.dilation)
                      and all(o * k <= n for o, k, n in zip(self.out, self.kernel, self.size)))

    def _phase_blocks(self):
        """Per phase: (phase index, slices of the input, slices of that phase's grid)."""
        per_dim = []
        for s, p, n in zip(self.stride, self.padding, self.size):
            blocks = []
            for r in range(s):
                start = (r - p) % s
                count = len(range(start, n, s))
                if count:
                    t0 = (start + p) // s
                    blocks.append((r, slice(start, None, s), slice(t0, t0 + count)))
            per_dim.append(blocks)
        for combo in itertools.product(*per_dim):
            yield (tuple(b[0] for b in combo), (Ellipsis,) + tuple(b[1] for b in combo),
                   (Ellipsis,) + tuple(b[2] for b in combo))

    def split(self, x, fill):
        """``x`` padded with ``fill`` in polyphase layout: shape ``stride + lead + phase_len``
        (a view of ``x`` when there is no stride and no padding)."""
        lead = x.shape[:x.ndim - self.nd]
        if all(s == 1 for s in self.stride) and self.phase_len == self.size:
            return x[(None,) * self.nd]
        shape = self.stride + lead + self.phase_len
        # windows that tile x exactly fill every phase cell from x: no padding value needed
        phases = (np.empty(shape, dtype=x.dtype) if self.tiled and self.covers()
                  else np.full(shape, fill, dtype=x.dtype))
        for r, x_slices, grid_slices in self._phase_blocks():
            phases[r][grid_slices] = x[x_slices]
        return phases

    def merge(self, phases, shape, out=None):
        """Inverse of ``split`` for gradients: the input-shaped array (padding dropped), written
        into ``out`` if given."""
        if all(s == 1 for s in self.stride) and self.phase_len == self.size:
            if out is None:
                return phases[(0,) * self.nd]
            np.copyto(out, phases[(0,) * self.nd])
            return out
        if out is None:
            out = np.empty(shape, dtype=phases.dtype)
        for r, x_slices, grid_slices in self._phase_blocks():
            out[x_slices] = phases[r][grid_slices]
        return out

    def windows(self):
        """``(offset_number, key)`` per kernel offset in row-major kernel order; ``key`` picks
        from the polyphase array the element at that offset of every window (offset j of
        output o sits at q = o·s + j·d: phase (j·d) % s, grid index o + (j·d) // s)."""
        ranges = [range(k) for k in self.kernel]
        for number, offsets in enumerate(itertools.product(*ranges)):
            steps = [j * d for j, d in zip(offsets, self.dilation)]
            yield number, (tuple(q % s for q, s in zip(steps, self.stride)) + (Ellipsis,) + tuple(
                slice(q // s, q // s + o) for q, s, o in zip(steps, self.stride, self.out)))

    def tiles(self):
        """For ``tiled`` windows: ``(offset_number, key)`` per kernel offset, ``key`` picking
        that offset of every window straight from the input (a stride-``k`` view; no
        polyphase copy, and every input element belongs to at most one window)."""
        ranges = [range(k) for k in self.kernel]
        for number, offsets in enumerate(itertools.product(*ranges)):
            yield number, (Ellipsis,) + tuple(slice(j, j + o * k, k) for j, o, k
                                              in zip(offsets, self.out, self.kernel))

    def covers(self):
        """True when tiled windows cover every input element (no rows/columns left over)."""
        return all(o * k == n for o, k, n in zip(self.out, self.kernel, self.size))

    def axis_shape(self, i):
        """Shape that puts a 1-D array along spatial dim ``i`` of the output."""
        return tuple(-1 if j == i else 1 for j in range(self.nd))


_GEOMETRIES = {}


def _geometry(fname, input, *args):
    """``_PoolGeometry`` of a call, kept per (function, input shape, arguments): a training
    loop asks for the same few, and validating one costs ~60 µs of Python."""
    try:
        key = (fname, tuple(input.shape)) + tuple(
            tuple(a) if isinstance(a, list) else a for a in args)
        hash(key)
    except TypeError:
        return _PoolGeometry(fname, input, *args)
    geom = _GEOMETRIES.get(key)
    if geom is None:
        if len(_GEOMETRIES) >= 256:
            _GEOMETRIES.clear()
        geom = _GEOMETRIES[key] = _PoolGeometry(fname, input, *args)
    return geom


def _lowest(dtype):
    if dtype.kind == "f":
        return -np.inf
    if dtype.kind in "iu":
        return np.iinfo(dtype).min
    raise RuntimeError(f"max pooling: unsupported dtype {dtype}")


# ----------------------------------------------------------------------------------------------
# Max pooling
# ----------------------------------------------------------------------------------------------

def _running_max(windows, need_argmax, check_nan, label_dtype):
    """Max over ``(label, values)`` windows and, if asked, the label of the first maximum in
    scan order (torch's tie rule). Labels must not decrease along the scan (so the newest
    strictly-greater label is also the largest: ``arg = max(arg, label·better)``; 3.5× faster
    than ``copyto(arg, label, where=better)``). A NaN wins over every number, the last NaN over
    earlier ones, as torch's ``val > max || isnan(val)``."""
    best = arg = better = None
    for label, v in windows:
        if best is None:
            best = np.array(v, copy=True)
            if need_argmax:
                arg = np.empty(best.shape, dtype=label_dtype)
                arg[...] = label
                better = np.empty(best.shape, dtype=bool)
                scratch = np.empty(best.shape, dtype=label_dtype)
            continue
        if need_argmax:
            np.greater(v, best, out=better)
            if check_nan:
                better |= np.isnan(v)
            np.multiply(better, label, out=scratch)
            np.maximum(arg, scratch, out=arg)
        np.maximum(best, v, out=best)
    return best, arg


def _offset_dtype(geom):
    return np.uint8 if math.prod(geom.kernel) <= 256 else np.int32


def _compiled_pool(geom, dtype):
    """The compiled 2-D max-pool kernels (``ember.kernels.pooling``) for a float32/float64
    pool, or None."""
    if geom.nd != 2 or (dtype != np.float32 and dtype != np.float64):
        return None
    kernels = compiled()
    return None if kernels is None else kernels.pooling


def _planes(a, nd):
    """``a`` (*lead, *spatial) as (prod(lead), *spatial) (a view when ``a`` is contiguous)."""
    return a.reshape((math.prod(a.shape[:a.ndim - nd]),) + a.shape[a.ndim - nd:])


def max_pool_forward(x, geom, need_argmax, out_dest=None, argmax_dest=None):
    """Max over the kernel offsets of the (−∞-padded, polyphase) input ``x``. (Reading the
    offsets of tiled windows straight from ``x``, as the backward writes them, was 3.6× slower:
    ufuncs over stride-2 views do not vectorise.)

    Returns ``(out, argmax)`` (written into ``out_dest`` / ``argmax_dest`` if given); ``argmax`` is
    the row-major kernel-offset number of the chosen element of each window (``None`` unless
    ``need_argmax``). The NaN rule costs extra passes, so it is applied only when the result
    shows a NaN. With the compiled kernels a 2-D pool is one pass over the windows
    (``ember.kernels.pooling.max_pool2d_forward``, equal bit for bit).
    """
    label = _offset_dtype(geom)
    kernels = _compiled_pool(geom, x.dtype)
    if kernels is not None:
        shape = x.shape[:x.ndim - geom.nd] + geom.out
        pooled = np.empty(shape, x.dtype) if out_dest is None else out_dest
        argmax = None
        if need_argmax:
            argmax = np.empty(shape, label) if argmax_dest is None else argmax_dest
        chosen = _planes(argmax, 2) if need_argmax else np.empty((0, 0, 0), label)
        kernels.max_pool2d_forward(np.ascontiguousarray(_planes(x, 2)), _planes(pooled, 2),
                                   chosen, geom.kernel, geom.stride, geom.padding,
                                   geom.dilation, geom.tiled)
        return pooled, argmax

    phases = geom.split(x, _lowest(x.dtype))

    def scan(check_nan):
        windows = ((label(n), phases[key]) for n, key in geom.windows())
        return _running_max(windows, need_argmax, check_nan, label)

    out, argmax = scan(False)
    if need_argmax and x.dtype.kind == "f" and np.isnan(out).any():
        out, argmax = scan(True)
    if need_argmax and x.dtype.kind == "f" and any(geom.padding) and np.isneginf(out).any():
        # a window of -inf (or padding) only: torch reports its first in-bounds element
        np.copyto(argmax, _first_valid_offset(geom), where=np.isneginf(out), casting="unsafe")
    if out_dest is not None:
        np.copyto(out_dest, out)
        out = out_dest
        if argmax is not None:
            np.copyto(argmax_dest, argmax)
            argmax = argmax_dest
    return out, argmax


def _first_valid_offset(geom):
    """Row-major offset number of the first in-bounds element of every window."""
    number = 0
    for i, (o, s, p, d, k) in enumerate(zip(geom.out, geom.stride, geom.padding, geom.dilation,
                                            geom.kernel)):
        start = np.arange(o) * s - p
        j = np.where(start < 0, (-start + d - 1) // d, 0)
        number = number * k + j.reshape(geom.axis_shape(i))
    return number


def max_pool_backward(grad, argmax, geom, input_shape, out=None):
    """Route each output gradient to the arg-max cell of its window (lecture 002: the
    non-maximum cells get 0). One masked slice-add per kernel offset, in polyphase layout;
    tiled windows write each offset's share straight into its stride-``k`` view of dX.
    ``out`` receives dX if given. With the compiled kernels a 2-D pool gathers each cell's
    share in one pass (``ember.kernels.pooling.max_pool2d_backward``, equal bit for bit)."""
    kernels = _compiled_pool(geom, grad.dtype)
    if kernels is not None:
        dx = np.empty(input_shape, dtype=grad.dtype) if out is None else out
        kernels.max_pool2d_backward(np.ascontiguousarray(_planes(grad, 2)),
                                    np.ascontiguousarray(_planes(argmax, 2)), _planes(dx, 2),
                                    geom.kernel, geom.stride, geom.padding, geom.dilation,
                                    geom.tiled)
        return dx
    chosen = np.empty(grad.shape, dtype=bool)
    if geom.tiled:
        dx = np.empty(input_shape, dtype=grad.dtype) if out is None else out
        if not geom.covers():
            dx.fill(0)
        for number, key in geom.tiles():
            np.equal(argmax, number, out=chosen)
            np.multiply(grad, chosen, out=dx[key])
        return dx
    phases = np.zeros(geom.stride + grad.shape[:grad.ndim - geom.nd] + geom.phase_len,
                      dtype=grad.dtype)
    routed = np.empty(grad.shape, dtype=grad.dtype)
    for number, key in geom.windows():
        np.equal(argmax, number, out=chosen)
        np.multiply(grad, chosen, out=routed)
        phases[key] += routed
    return geom.merge(phases, input_shape, out)


def _argmax_to_flat_index(argmax, geom):
    """Kernel-offset numbers -> torch's indices: the flat position in the unpadded input plane
    (``h * W + w`` in 2-D)."""
    offsets = np.unravel_index(argmax, geom.kernel)
    flat = np.zeros(argmax.shape, dtype=np.int64)
    for i, (j, o, s, p, d, n) in enumerate(zip(offsets, geom.out, geom.stride, geom.padding,
                                               geom.dilation, geom.size)):
        pos = np.arange(o, dtype=np.int64).reshape(geom.axis_shape(i)) * s - p + j.astype(
            np.int64) * d
        flat = flat * n + pos
    return flat


class MaxPool(Function):
    """Max pooling: ``pooled``, and with ``return_indices`` also the int64 flat position of
    each maximum (a second, non-differentiable output). Large batches are pooled in parts on
    Ember's threads. The arg-max (kernel-offset numbers) is kept for ``max_pool_backward``
    when a gradient will be needed."""

    def forward(self, x, geometry, return_indices):
        geom = geometry
        need_argmax = return_indices or self.needs_input_grad[0]
        parts = _batch_parts(x, geom)
        if len(parts) == 1:
            pooled, argmax = max_pool_forward(x, geom, need_argmax)
        else:
            pooled = np.empty(x.shape[:x.ndim - geom.nd] + geom.out, x.dtype)
            argmax = np.empty(pooled.shape, _offset_dtype(geom)) if need_argmax else None
            _parallel.run([partial(max_pool_forward, x[p], geom, need_argmax, pooled[p],
                                   None if argmax is None else argmax[p]) for p in parts])
        self.argmax, self.geometry = argmax, geom
        if return_indices:
            return pooled, _argmax_to_flat_index(argmax, geom)
        return pooled

    def backward(self, grad, grad_indices=None):
        shape, geom = self._input_meta[0][0], self.geometry
        parts = _batch_parts(grad, geom)
        if len(parts) == 1:
            return max_pool_backward(grad, self.argmax, geom, shape)
        dx = np.empty(shape, dtype=grad.dtype)
        _parallel.run([partial(max_pool_backward, grad[p], self.argmax[p], geom, dx[p].shape, dx[p])
                       for p in parts])
        return dx


def _batch_parts(x, geom):
    """Slices of a batched input's first dim for Ember's threads (one slice if unbatched or
    small)."""
    if x.ndim == geom.nd + 1:
        return [slice(None)]
    return _parallel.batch_parts(x.shape[0], x.size)


def _max_pool(fname, nd, input, kernel_size, stride, padding, dilation, ceil_mode,
              return_indices):
    spatial_input(input, nd, fname)
    if input._data.dtype.kind not in "fiu":
        raise RuntimeError(f"{fname}: expected a floating-point or integer input, got "
                           f"{input.dtype}")
    geom = _geometry(fname, input, nd, kernel_size, stride, padding, dilation, ceil_mode)
    return MaxPool.apply(input, geometry=geom, return_indices=bool(return_indices))


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """1-D max pooling: ``(N, C, L) -> (N, C, L_out)`` (or unbatched ``(C, L)``),
    ``y[l] = max_j x[l·s − p + j·d]`` over ``j < k``, with
    ``L_out = ⌊(L + 2p − d(k−1) − 1)/s⌋ + 1`` (``⌈·⌉`` if ``ceil_mode``). ``stride`` defaults
    to ``kernel_size``. With ``return_indices`` also returns the int64 position of each maximum
    in its input row (first maximum on ties, like torch), for ``max_unpool1d``."""
    return _max_pool("max_pool1d", 1, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """2-D max pooling (lecture 002 「Pooling池化」, ``y = max{x_i}`` per window and channel):
    ``(N, C, H, W) -> (N, C, H_out, W_out)`` (or unbatched ``(C, H, W)``), each output size
    ``⌊(n + 2p − d(k−1) − 1)/s⌋ + 1`` (``⌈·⌉`` if ``ceil_mode``); ``stride`` defaults to
    ``kernel_size``; padding is −∞ and at most half the kernel. ``return_indices`` also returns
    the int64 flat index ``h·W + w`` of each maximum in its input plane (the first maximum in
    row-major order on ties). Backward routes each gradient to its arg-max cell only.

    Example (lecture 003 「Pooling 前后对比」): 2×2 stride 2

    >>> x = ember.tensor([[[[1., 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 1, 3, 4]]]])
    >>> F.max_pool2d(x, 2)
    tensor([[[[6., 8.],
              [3., 4.]]]])
    """
    return _max_pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """3-D max pooling (lecture 003 「视频分类: 3D CNN」): ``(N, C, D, H, W) ->
    (N, C, D_out, H_out, W_out)`` (or unbatched ``(C, D, H, W)``), sizes as in ``max_pool2d``;
    indices are flat ``(d·H + h)·W + w`` positions in the input volume."""
    return _max_pool("max_pool3d", 3, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


# ----------------------------------------------------------------------------------------------
# Average pooling
# ----------------------------------------------------------------------------------------------

def _avg_pool_divisor(geom, count_include_pad, divisor_override, dtype):
    """The divisor of every window, as torch: the window clipped to the padded input
    (``count_include_pad``) or to the input itself, or ``divisor_override``."""
    if divisor_override is not None:
        return dtype.type(divisor_override)
    div = 1
    for i, (o, s, p, k, n) in enumerate(zip(geom.out, geom.stride, geom.padding, geom.kernel,
                                            geom.size)):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, n + p)
        count = end - start if count_include_pad else (np.minimum(end, n)
                                                       - np.maximum(start, 0))
        div = div * count.reshape(geom.axis_shape(i))
    div = np.asarray(div)
    return dtype.type(div.flat[0]) if np.all(div == div.flat[0]) else div.astype(dtype)


class AvgPool(Function):
    """Average pooling: the window sums over kernel offsets divided by the window divisor."""

    def forward(self, x, geometry, divisor):
        self.geometry, self.divisor = geometry, divisor
        phases = geometry.split(x, 0)
        total = None
        for _, key in geometry.windows():
            if total is None:
                total = np.array(phases[key], copy=True)
            else:
                total += phases[key]
        return total / divisor

    def backward(self, grad):
        """Spread each gradient evenly over its window: every cell gets ``grad / divisor``
        (lecture 002: a 2×2 average pool passes 1/4 of the delta to each of the 4 cells)."""
        geom = self.geometry
        share = grad / self.divisor
        phases = np.zeros(geom.stride + grad.shape[:grad.ndim - geom.nd] + geom.phase_len,
                          dtype=grad.dtype)
        for _, key in geom.windows():
            phases[key] += share
        return geom.merge(phases, self._input_meta[0][0])


def _avg_pool(fname, nd, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override):
    spatial_input(input, nd, fname)
    float_input(input, fname)
    geom = _geometry(fname, input, nd, kernel_size, stride, padding, 1, ceil_mode)
    if nd == 3 and any(n < k for n, k in zip(geom.size, geom.kernel)):
        raise RuntimeError(f"{fname}: input {geom.size} (shape {tuple(input._data.shape)}) is "
                           f"smaller than kernel_size {geom.kernel}")
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError(f"{fname}: divisor_override must be non-zero, got 0")
    divisor = _avg_pool_divisor(geom, count_include_pad, divisor_override, input._data.dtype)
    return AvgPool.apply(input, geometry=geom, divisor=divisor)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    """1-D average pooling: ``(N, C, L) -> (N, C, L_out)`` (or ``(C, L)``), ``y = Σ x / n``
    over each window, ``n`` counting the zero padding if ``count_include_pad``. Output size as
    in ``max_pool1d`` (no dilation). torch's ``avg_pool1d`` has no ``divisor_override``."""
    return _avg_pool("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, None)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """2-D average pooling (lecture 002 「Pooling池化」: ``y = (1/s²) Σ x_i``):
    ``(N, C, H, W) -> (N, C, H_out, W_out)`` (or ``(C, H, W)``), sizes as in ``max_pool2d``.
    The divisor is ``divisor_override`` if given, else the window size clipped to the padded
    input (``count_include_pad=True``) or to the input. Backward spreads ``grad / divisor``
    over the window."""
    return _avg_pool("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """3-D average pooling: ``(N, C, D, H, W) -> (N, C, D_out, H_out, W_out)`` (or unbatched),
    as ``avg_pool2d``."""
    return _avg_pool("avg_pool3d", 3, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


# ----------------------------------------------------------------------------------------------
# Power-average (Lp) pooling
# ----------------------------------------------------------------------------------------------

def _lp_pool(fname, nd, input, norm_type, kernel_size, stride, ceil_mode):
    from ember.ops.elementwise import abs as abs_, relu, sign
    spatial_input(input, nd, fname)
    float_input(input, fname)
    kernel = ntuple(kernel_size, nd, fname, "kernel_size")
    max_pool = (max_pool1d, max_pool2d, max_pool3d)[nd - 1]
    avg_pool = (avg_pool1d, avg_pool2d, avg_pool3d)[nd - 1]
    if norm_type == math.inf:
        return max_pool(abs_(input), kernel_size, stride, 0, 1, ceil_mode)
    if norm_type == -math.inf:
        return -max_pool(-abs_(input), kernel_size, stride, 0, 1, ceil_mode)
    mean = avg_pool(input.pow(norm_type), kernel_size, stride, 0, ceil_mode)
    return (sign(mean) * relu(abs_(mean))).mul(math.prod(kernel)).pow(1.0 / norm_type)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """1-D power-average pooling: ``y = (Σ_window x^p)^(1/p)`` (no padding), ``(N, C, L) ->
    (N, C, L_out)``; ``p = inf`` is max pooling of ``|x|``. As in torch, a window whose sum of
    powers is ≤ 0 gives 0 (odd ``p``) and the gradient there is 0."""
    return _lp_pool("lp_pool1d", 1, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """2-D power-average pooling ``y = (Σ_window x^p)^(1/p)``: ``(N, C, H, W) ->
    (N, C, H_out, W_out)``. Lecture 002 「Pooling池化」's L2 pool ``√((1/s²) Σ x_i²)`` is
    ``lp_pool2d(x, 2, s) / s`` (torch's Lp pool, like ours, does not divide by the window
    size)."""
    return _lp_pool("lp_pool2d", 2, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """3-D power-average pooling ``y = (Σ_window x^p)^(1/p)``: ``(N, C, D, H, W) -> (N, C,
    D_out, H_out, W_out)``."""
    return _lp_pool("lp_pool3d", 3, input, norm_type, kernel_size, stride, ceil_mode)


# ----------------------------------------------------------------------------------------------
# Adaptive pooling
# ----------------------------------------------------------------------------------------------

def _adaptive_output(fname, input, nd, output_size):
    sizes = ntuple(output_size, nd, fname, "output_size", allow_none=True)
    sizes = tuple(n if o is None else o for o, n in zip(sizes, input._data.shape[-nd:]))
    if any(o < 0 for o in sizes):
        raise RuntimeError(f"{fname}: output_size must be non-negative, got {sizes}")
    return sizes


class GlobalAvgPool(Function):
    """Mean over the trailing ``nd`` axes, kept as size-1 dims (global average pooling)."""

    def forward(self, x, nd):
        self.axes = tuple(range(x.ndim - nd, x.ndim))
        self.shape, self.count = x.shape, math.prod(x.shape[-nd:])
        return x.mean(axis=self.axes, keepdims=True, dtype=x.dtype)

    def backward(self, grad):
        return np.broadcast_to(grad / grad.dtype.type(self.count), self.shape).copy()


def _adaptive_avg_pool(fname, nd, input, output_size):
    spatial_input(input, nd, fname)
    float_input(input, fname)
    sizes = _adaptive_output(fname, input, nd, output_size)
    if all(o == 1 for o in sizes):
        return GlobalAvgPool.apply(input, nd=nd)
    dtype = input._data.dtype
    return resample(input, [area_taps(n, o, dtype) for n, o in
                             zip(input._data.shape[-nd:], sizes)])


def adaptive_avg_pool1d(input, output_size):
    """Adaptive average pooling to ``L_out`` positions: ``(N, C, L) -> (N, C, L_out)``;
    output i averages ``x[⌊i·L/L_out⌋ : ⌈(i+1)·L/L_out⌉]``."""
    return _adaptive_avg_pool("adaptive_avg_pool1d", 1, input, output_size)


def adaptive_avg_pool2d(input, output_size):
    """Adaptive average pooling (inventory B20): ``(N, C, H, W) -> (N, C, H_out, W_out)``, the
    window of output
    ``(i, j)`` being rows ``[⌊i·H/H_out⌋, ⌈(i+1)·H/H_out⌉)`` × the same for columns. A ``None``
    entry keeps that size. ``output_size=1`` is the global average pool (lecture 003
    「特征转化为向量 —— Pooling」: H×W×C -> 1×1×C); AlexNet uses ``(6, 6)`` (lecture 004)."""
    return _adaptive_avg_pool("adaptive_avg_pool2d", 2, input, output_size)


def adaptive_avg_pool3d(input, output_size):
    """Adaptive average pooling: ``(N, C, D, H, W) -> (N, C, D_out, H_out, W_out)``."""
    return _adaptive_avg_pool("adaptive_avg_pool3d", 3, input, output_size)


def _scatter_to_planes(grad, positions, shape, nd):
    """Sum ``grad`` into a zero array of ``shape`` at the flat per-plane ``positions`` (shaped
    like ``grad``); repeated positions add up (``np.bincount``)."""
    plane = math.prod(shape[len(shape) - nd:])
    batch = math.prod(shape[:len(shape) - nd])
    flat = positions.reshape(batch, -1) + (np.arange(batch, dtype=np.int64) * plane)[:, None]
    summed = np.bincount(flat.ravel(), weights=grad.ravel(), minlength=batch * plane)
    return summed.astype(grad.dtype).reshape(shape)


def adaptive_max_pool_forward(x, sizes):
    """Max over torch's adaptive windows. The loop runs over the offsets inside the widest
    window; shorter windows repeat their last element, which never changes a maximum.
    Returns ``(out, positions)``, positions being flat indices in the input plane."""
    nd = len(sizes)
    spatial = x.shape[x.ndim - nd:]
    if any(o == 0 for o in sizes):
        shape = x.shape[:x.ndim - nd] + tuple(sizes)
        return np.zeros(shape, dtype=x.dtype), np.zeros(shape, dtype=np.int64)
    bounds = [adaptive_bounds(n, o) for n, o in zip(spatial, sizes)]
    widths = [int((end - start).max()) for start, end in bounds]

    def windows():
        for offsets in itertools.product(*(range(w) for w in widths)):
            grids = np.ix_(*[np.minimum(start + j, end - 1)
                             for (start, end), j in zip(bounds, offsets)])
            position = 0
            for grid, n in zip(grids, spatial):
                position = position * n + grid
            yield position, x[(Ellipsis,) + grids]

    check_nan = x.dtype.kind == "f" and bool(np.isnan(np.max(x)))
    return _running_max(windows(), True, check_nan, np.int64)


class AdaptiveMaxPool(Function):
    """Adaptive max pooling: ``pooled``, and with ``return_indices`` also the int64 flat
    positions of the maxima (a second, non-differentiable output). Windows may overlap, so
    backward sums per position."""

    def forward(self, x, sizes, return_indices):
        pooled, positions = adaptive_max_pool_forward(x, sizes)
        self.positions, self.nd = positions, len(sizes)
        return (pooled, positions) if return_indices else pooled

    def backward(self, grad, grad_indices=None):
        shape, _ = self._input_meta[0]
        return _scatter_to_planes(grad, self.positions, shape, self.nd)


def _adaptive_max_pool(fname, nd, input, output_size, return_indices):
    spatial_input(input, nd, fname)
    if input._data.dtype.kind not in "fiu":
        raise RuntimeError(f"{fname}: expected a floating-point or integer input, got "
                           f"{input.dtype}")
    sizes = _adaptive_output(fname, input, nd, output_size)
    return AdaptiveMaxPool.apply(input, sizes=tuple(sizes), return_indices=bool(return_indices))


def adaptive_max_pool1d(input, output_size, return_indices=False):
    """Adaptive max pooling: ``(N, C, L) -> (N, C, L_out)``, output i being the max of
    ``x[⌊i·L/L_out⌋ : ⌈(i+1)·L/L_out⌉]``; ``return_indices`` also gives the int64 positions."""
    return _adaptive_max_pool("adaptive_max_pool1d", 1, input, output_size, return_indices)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Adaptive max pooling: ``(N, C, H, W) -> (N, C, H_out, W_out)`` over torch's windows
    ``[⌊i·H/H_out⌋, ⌈(i+1)·H/H_out⌉)`` × (same for W); ``None`` keeps a size. Indices are
    flat ``h·W + w`` positions (first maximum in row-major order on ties)."""
    return _adaptive_max_pool("adaptive_max_pool2d", 2, input, output_size, return_indices)


def adaptive_max_pool3d(input, output_size, return_indices=False):
    """Adaptive max pooling: ``(N, C, D, H, W) -> (N, C, D_out, H_out, W_out)``."""
    return _adaptive_max_pool("adaptive_max_pool3d", 3, input, output_size, return_indices)


# ----------------------------------------------------------------------------------------------
# Max unpooling
# ----------------------------------------------------------------------------------------------

class MaxUnpool(Function):
    """Max-unpooling: a zero output plane with each input value written at its index."""

    def forward(self, x, indices, plane_shape, nd):
        lead = x.shape[:x.ndim - nd]
        batch, count = math.prod(lead), math.prod(x.shape[x.ndim - nd:])
        self.indices = indices.reshape(batch, count)
        self.in_shape = x.shape
        out = np.zeros((batch, math.prod(plane_shape)), dtype=x.dtype)
        np.put_along_axis(out, self.indices, x.reshape(batch, count), axis=1)
        return out.reshape(lead + tuple(plane_shape))

    def backward(self, grad):
        """Each input reads the gradient at the cell it was written to."""
        planes = grad.reshape(self.indices.shape[0], -1)
        return np.take_along_axis(planes, self.indices, axis=1).reshape(self.in_shape)


def _max_unpool(fname, nd, input, indices, kernel_size, stride, padding, output_size):
    spatial_input(input, nd, fname)
    if not isinstance(indices, Tensor) or indices._data.dtype.kind not in "iu":
        raise TypeError(f"{fname}: expected indices to be an integer Tensor (from max_pool with "
                        f"return_indices=True), got "
                        f"{indices.dtype if isinstance(indices, Tensor) else type(indices)}")
    if indices._data.shape != input._data.shape:
        raise RuntimeError(f"{fname}: expected indices of the input's shape "
                           f"{tuple(input._data.shape)}, got {tuple(indices._data.shape)}")
    kernel = ntuple(kernel_size, nd, fname, "kernel_size")
    stride = kernel if stride is None else ntuple(stride, nd, fname, "stride")
    padding = ntuple(padding, nd, fname, "padding")
    spatial = input._data.shape[-nd:]
    default = tuple((n - 1) * s + k - 2 * p for n, s, k, p in zip(spatial, stride, kernel,
                                                                  padding))
    if output_size is None:
        plane = default
    else:
        requested = tuple(int(v) for v in (output_size.tolist() if isinstance(output_size, Tensor)
                                           else output_size))
        plane = requested[2:] if len(requested) == nd + 2 else requested
        if len(plane) != nd:
            raise ValueError(f"{fname}: output_size should have {nd} or {nd + 2} elements, got "
                             f"{requested}")
        for d, (o, m, s) in enumerate(zip(plane, default, stride)):
            if not m - s < o < m + s:
                raise ValueError(f"{fname}: invalid output_size {requested}: dim {d} must be "
                                 f"between {m - s} and {m + s} (exclusive) for input of shape "
                                 f"{tuple(input._data.shape)}, kernel_size {kernel}, stride "
                                 f"{stride} and padding {padding}")
    if any(o < 0 for o in plane):
        raise ValueError(f"{fname}: output_size must be non-negative, got {plane}")
    idx = indices._data
    size = math.prod(plane)
    if idx.size and (idx.min() < 0 or idx.max() >= size):
        bad = idx.min() if idx.min() < 0 else idx.max()
        raise RuntimeError(f"{fname}: found an invalid max index {bad} (the output planes "
                           f"{plane} have {size} elements)")
    return MaxUnpool.apply(input, indices=idx.astype(np.int64, copy=False), plane_shape=plane,
                           nd=nd)


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Partial inverse of ``max_pool1d``: ``(N, C, L_in) -> (N, C, L_out)`` with
    ``L_out = (L_in − 1)·s − 2p + k`` (or ``output_size``); each value goes back to the position
    its ``indices`` entry names, everything else is 0."""
    return _max_unpool("max_unpool1d", 1, input, indices, kernel_size, stride, padding,
                       output_size)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Max-unpooling (the decoder half of lecture 003 「Unpooling——反池化」): ``(N, C, H_in,
    W_in) -> (N, C, H_out, W_out)``, ``H_out = (H_in − 1)·s − 2p + k`` unless ``output_size``
    (which may differ from it by less than the stride) is given. Values return to the flat
    positions ``indices`` (from ``max_pool2d(..., return_indices=True)``); other cells are 0.
    Backward reads the gradient at those positions."""
    return _max_unpool("max_unpool2d", 2, input, indices, kernel_size, stride, padding,
                       output_size)


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Partial inverse of ``max_pool3d``: ``(N, C, D, H, W)`` in, sizes as ``max_unpool2d``."""
    return _max_unpool("max_unpool3d", 3, input, indices, kernel_size, stride, padding,
                       output_size)
