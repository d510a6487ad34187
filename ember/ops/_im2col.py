"""The one convolution mechanism: im2col on a strided view, one GEMM, col2im.

Every convolution in Ember (1-D/2-D/3-D, grouped, depthwise, transposed) and ``unfold``/``fold``
are built from three array functions that work for any number of spatial dimensions:

* :func:`conv_forward`        ``Y = W · im2col(X)``                 (the conv itself)
* :func:`conv_input_grad`     ``dX = col2im(Wᵀ · dY)``              (= transposed conv forward)
* :func:`conv_weight_grad`    ``dW = dY · im2col(X)ᵀ``

Lecture 002 「残差的反向传播 – 卷积层: 卷积 vs. 反卷积」: the gradient of a convolution w.r.t. its
input is the "full" correlation of the zero-padded output gradient with the kernel rotated by
180°; :func:`col2im` computes exactly that by scatter-adding ``dY · W`` window by window. Lecture
003 「为什么叫"Transpose Convolution"?」: writing the conv as a matrix ``C`` (``Y = C X``), the
transposed convolution multiplies by ``Cᵀ``, which is :func:`conv_input_grad`.

Layouts. ``X`` is ``(N, C, *S)`` (NCHW), the weight ``(C_out, C_in / groups, *K)``. The column
matrix is ``cols[(c, *k), (n, *o)] = X_pad[n, c, o·stride + k·dilation]`` stored as an array of
shape ``(C, *K, N, *O)``, i.e. a ``(C·prod(K), N·prod(O))`` matrix: one GEMM per group with a long
contiguous inner dimension, whatever the shape (channels-last columns and per-sample batched
GEMMs each lose at one of the network shapes). :func:`col2im` accumulates into a
channel-major ``(C, N, *S_pad)`` image so that every slice-add runs over operands laid out
alike.

The input gradient has one definition, :func:`conv_input_grad_reference` (``Wᵀ · dY``, then
the plain :func:`col2im`), and two faster layouts of the same sums for stride 1
(:func:`conv_input_grad` chooses; the tests hold every layout to the reference): on the padded
grid (:func:`col2im_wide`) and with the sample index last (:func:`col2im_batch_last`). They
exist because a slice-add over one short image row at a time runs far below memory speed; the
measurements behind every such choice in this file are reproduced by
``python -m benchmarks.conv_layouts`` (see ``benchmarks/README.md``), not written here, where
they would go stale.

Large temporaries (padded inputs, columns, GEMM results) live in a per-thread workspace that
grows to the largest size requested and is then kept for reuse (like torch's caching
allocator): page-faulting a fresh large array in on every step costs more than refilling a
warm one. Arrays handed back to callers are always fresh.
"""
import math
import threading

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ember import _parallel
from ember.kernels import compiled
from ember.ops._ones import ones

_local = threading.local()

# see batch_chunks. CHUNK_BYTES: 1 MB of columns fits the L2 cache of the cores Ember runs
# on (1 MB per Zen 4 core, 2 MB per Sapphire Rapids core); against 4 MB, LeNet-5's steps ran
# as fast on one thread (b64 7.6-7.9 ms, b256 28-31 ms) with the peak memory above the
# baseline down from 17 to 10-11 MB at batch 64 and from 37 to 28-30 MB at batch 256 (the
# per-thread workspaces are sized by the largest chunk)
THIN_GEMM_CHANNELS = 32
CHUNK_BYTES = 2 ** 20
WIDE_CHUNK_BYTES = 8 * 2 ** 20
CHUNK_MIN_COLUMNS = 2048
PARALLEL_MIN_BYTES = 2 * 2 ** 20
GEMM_BLOCK_BYTES = 400 * 2 ** 10
WIDE_MAX_WASTE = 1.15
WEIGHT_GRAD_DIRECT_ELEMENTS = 2 ** 17


# workspaces start on a cache line: a compiled kernel's vector loads from a misaligned buffer
# straddle two lines (the direct conv's input gradient took 0.55 ms instead of 0.40)
ALIGNMENT = 64


def workspace(name, shape, dtype):
    """A reusable scratch array of ``shape`` (contents undefined), one per name and dtype,
    starting at a multiple of ``ALIGNMENT`` bytes."""
    bufs = _local.__dict__.setdefault("buffers", {})
    dtype = np.dtype(dtype)
    size = math.prod(shape)
    buf = bufs.get((name, dtype))
    if buf is None or buf.size < size:
        raw = np.empty(size + ALIGNMENT // dtype.itemsize, dtype)
        skip = (-raw.ctypes.data % ALIGNMENT) // dtype.itemsize
        buf = raw[skip:skip + size]
        bufs[(name, dtype)] = buf
    return buf[:size].reshape(shape)


def compiled_conv(nd, dtype):
    """The compiled passes of a 2-D float32/float64 conv (``ember.kernels.conv``), or None.

    With them, a 2-D conv keeps the plain layout everywhere: the wide and batch-last layouts
    below exist because NumPy's slice-adds and copies over short image rows run far below
    memory speed, which a compiled loop does not."""
    if nd != 2 or (dtype != np.float32 and dtype != np.float64):
        return None
    kernels = compiled()
    return None if kernels is None else kernels.conv


def bias_grad(grad):
    """``db = Σ dY`` over everything but the channel: the matrix (g, C/g, M) from
    :func:`as_matrix` times a ones vector (a GEMV, which BLAS runs faster than ``sum``
    reduces over the long axis)."""
    return np.matmul(grad, ones(grad.shape[2], grad.dtype)).reshape(-1)


def batch_chunks(n, rows, positions, out_channels, itemsize):
    """Slices of the batch for a conv whose columns have ``rows`` = C_in/g·prod(K) rows and
    ``positions`` = prod(O) output positions per sample, with ``out_channels`` = C_out/g.

    Each slice is one task for Ember's threads (``ember/_parallel.py``): im2col, GEMM and
    col2im of a slice run on one thread with one-thread BLAS, and the threads take slices
    until none are left. The slices are cut so that

    * a GEMM with few output channels (LeNet's 1→6, 6→16), which does little work per byte of
      columns and runs at memory speed, gets columns of about ``CHUNK_BYTES`` that stay in
      cache from im2col to the GEMM and on to col2im (which also halves the peak memory of
      such a network's step);
    * a wide GEMM (ResNet's 64+ channels) gets columns of at most ``WIDE_CHUNK_BYTES``, which
      bounds the column workspace of each thread, with each GEMM still large enough to run at
      full BLAS speed;
    * there are at least as many slices as threads (a multiple of the thread count, all about
      the same size) once the columns of the whole batch reach ``PARALLEL_MIN_BYTES``: below
      that, handing work to another thread costs more than it saves.
    """
    per_sample = max(1, rows * positions * itemsize)
    threads = _parallel.get_num_threads() if per_sample * n >= PARALLEL_MIN_BYTES else 1
    cap = CHUNK_BYTES if out_channels <= THIN_GEMM_CHANNELS else WIDE_CHUNK_BYTES
    size = max(1, cap // per_sample, -(-CHUNK_MIN_COLUMNS // max(1, positions)))
    count = -(-n // size)
    count = min(n, -(-count // threads) * threads)
    return _parallel.split(n, max(1, count))


def output_size(size, kernel, stride, padding, dilation):
    """``⌊(n + p_lo + p_hi − d·(k − 1) − 1) / s⌋ + 1`` per spatial dimension.

    With ``d = 1`` and ``p`` per side this is the lecture formula ``⌊(n + 2p − f)/s⌋ + 1``
    (002 L351; 003 L1542 ``(N − F)/S + 1`` without padding).
    """
    return tuple((n + lo + hi - d * (k - 1) - 1) // s + 1
                 for n, k, s, (lo, hi), d in zip(size, kernel, stride, padding, dilation))


def pad_zeros(x, padding):
    """Zero-pad the spatial dims of ``x`` (N, C, *S) by ``padding`` ((lo, hi) per dim).

    Returns ``x`` itself when there is nothing to pad, else a workspace array.
    """
    if not any(lo or hi for lo, hi in padding):
        return x
    shape = x.shape[:2] + tuple(n + lo + hi for n, (lo, hi) in zip(x.shape[2:], padding))
    xp = workspace("xpad", shape, x.dtype)
    for axis, (lo, hi) in enumerate(padding, start=2):
        index = [slice(None)] * xp.ndim
        if lo:
            index[axis] = slice(0, lo)
            xp[tuple(index)] = 0
        if hi:
            index[axis] = slice(xp.shape[axis] - hi, None)
            xp[tuple(index)] = 0
    xp[_interior(padding, x.shape[2:])] = x
    return xp


def _interior(padding, size):
    return (slice(None), slice(None)) + tuple(slice(lo, lo + n)
                                              for (lo, _), n in zip(padding, size))


def _window(offset, stride, dilation, out_size):
    return tuple(slice(o * d, o * d + s * (n - 1) + 1, s)
                 for o, s, d, n in zip(offset, stride, dilation, out_size))


def im2col(xp, kernel, stride, dilation, out_size, out):
    """Copy the sliding windows of ``xp`` (N, C, *S_pad) into ``out`` (C, *K, N, *O).

    ``out[c, k, n, o] = xp[n, c, o·stride + k·dilation]``. The windows are a strided view of
    ``xp`` (no copy), and ``out`` may be any array of that shape (e.g. a transposed view of
    ``unfold``'s result), so the whole im2col is a single strided copy.
    """
    sn, sc, *ss = xp.strides
    shape = (xp.shape[1],) + tuple(kernel) + (xp.shape[0],) + tuple(out_size)
    strides = ((sc,) + tuple(s * d for s, d in zip(ss, dilation)) + (sn,)
               + tuple(s * st for s, st in zip(ss, stride)))
    np.copyto(out, as_strided(xp, shape, strides, writeable=False))
    return out


def col2im(cols, stride, dilation, out):
    """Scatter-add columns back to image positions (the adjoint of :func:`im2col`).

    ``cols`` (C, *K, N, *O) → ``out`` (C, N, *S_pad), which is zeroed first:
    ``out[c, n, o·stride + k·dilation] += cols[c, k, n, o]``. One slice-add per kernel offset
    (``prod(K)`` iterations); overlapping windows sum, as in lecture 002's conv backward. ``out``
    is channel-major so that every add runs over operands laid out alike.
    """
    nd = out.ndim - 2
    kernels = compiled_conv(nd, out.dtype)
    if kernels is not None and cols.dtype == out.dtype:
        kernels.col2im2d(cols, tuple(stride), tuple(dilation), out)
        return out
    kernel, out_size = cols.shape[1:1 + nd], cols.shape[2 + nd:]
    out.fill(0)
    for offset in np.ndindex(*kernel):
        window = (slice(None), slice(None)) + _window(offset, stride, dilation, out_size)
        out[window] += cols[(slice(None),) + offset]
    return out


def as_batch_last_matrix(a, groups):
    """``a`` (N, C, *O) → workspace matrix (groups, C/groups, prod(O)·N) whose column
    ``(o, n)`` is ``a[n, :, o]``: the sample index runs fastest (for
    :func:`col2im_batch_last`)."""
    n, c = a.shape[:2]
    m = workspace("grad_t", (c,) + a.shape[2:] + (n,), a.dtype)
    np.copyto(m, np.moveaxis(a, 0, -1))
    return m.reshape(groups, c // groups, -1)


def col2im_batch_last(cols, dilation, out):
    """:func:`col2im` at stride 1 with the sample index last: ``cols`` (C, *K, *O, N) →
    ``out`` (C, *S_pad, N), zeroed first, ``out[c, o + k·d, n] += cols[c, k, o, n]``.

    A window's last spatial dim and the batch together are one contiguous run of
    ``O_last·N`` elements, where :func:`col2im` runs over ``O_last`` only: for small images
    whose padded grid would waste GEMM work in :func:`col2im_wide` (LeNet-5's 6→16 conv:
    10×10 outputs), the prod(K) slice-adds make fewer, longer passes.
    """
    nd = out.ndim - 2
    kernel, out_size = cols.shape[1:1 + nd], cols.shape[1 + nd:1 + 2 * nd]
    out.fill(0)
    for offset in np.ndindex(*kernel):
        window = ((slice(None),) + _window(offset, (1,) * nd, dilation, out_size)
                  + (slice(None),))
        out[window] += cols[(slice(None),) + offset]
    return out


def _grid_strides(padded):
    """Element strides of a C-contiguous array with spatial shape ``padded``."""
    return tuple(math.prod(padded[a + 1:]) for a in range(len(padded)))


def col2im_wide(cols, padded, dilation, out):
    """:func:`col2im` for stride 1, with each column row laid out on the padded grid.

    ``cols`` (C, *K, N, L): entry ``l`` of a row is the output position whose flat index on the
    ``padded`` grid is ``l`` (zeros between image rows, see :func:`as_wide_matrix`). A kernel
    offset then shifts a whole row by one flat amount, so each of the ``prod(K)`` slice-adds runs
    over long contiguous runs instead of one short image row at a time. The price is GEMM work
    on the zeros between image rows (``wide_length``). ``out`` (C, N, *padded) is zeroed first.
    """
    nd = len(padded)
    grid = _grid_strides(padded)
    length = cols.shape[-1]
    flat = out.reshape(out.shape[0], out.shape[1], -1)
    out.fill(0)
    for offset in np.ndindex(*cols.shape[1:1 + nd]):
        start = sum(k * d * g for k, d, g in zip(offset, dilation, grid))
        flat[:, :, start:start + length] += cols[(slice(None),) + offset]
    return out


def wide_length(out_size, padded):
    """The flat span ``L`` of the output positions on the ``padded`` grid (see
    :func:`as_wide_matrix`); ``L / prod(O)`` is the extra GEMM work of :func:`col2im_wide`."""
    return sum((o - 1) * g for o, g in zip(out_size, _grid_strides(padded))) + 1


def as_wide_matrix(a, groups, padded):
    """``a`` (N, C, *O) → workspace matrix (groups, C/groups, N·L) for :func:`col2im_wide`:
    row (c, n) holds ``a[n, c]`` placed on the ``padded`` grid, zeros elsewhere, where ``L`` is
    the flat span of the output positions ``Σ (O_d − 1)·grid_d + 1``."""
    n, c, out_size = a.shape[0], a.shape[1], a.shape[2:]
    grid = _grid_strides(padded)
    length = wide_length(out_size, padded)
    m = workspace("wide", (c, n, length), a.dtype)
    m.fill(0)
    view = as_strided(m, (c, n) + out_size, m.strides[:2] + tuple(g * m.itemsize for g in grid))
    np.copyto(view, a.transpose((1, 0) + tuple(range(2, a.ndim))))
    return m.reshape(groups, c // groups, n * length)


def batch_last_layout(stride, out_size, padded):
    """True for a stride-1 conv whose outputs cover too little of the padded grid for
    :func:`col2im_wide` (more than ``WIDE_MAX_WASTE`` extra GEMM work): small images, such as
    LeNet-5's 6→16 conv (10×10 outputs of 14×14 inputs) or ResNet's 4×4 and 8×8 layers. Such a
    conv keeps its columns and gradients with the sample index last (:func:`columns` with
    ``batch_last``, :func:`col2im_batch_last`), so that every copy and slice-add runs over
    ``O_last·N`` contiguous values instead of ``O_last``."""
    return (all(s == 1 for s in stride) and all(o > 0 for o in out_size)
            and wide_length(out_size, padded) > WIDE_MAX_WASTE * math.prod(out_size))


def columns(x, kernel, stride, padding, dilation, out_size, batch_last=False):
    """im2col of ``x`` (N, C, *S) zero-padded by ``padding``: a workspace array (C, *K, N, *O),
    or (C, *K, *O, N) with ``batch_last`` (stride 1; the input is first copied to a padded
    (C, *S_pad, N) workspace).

    The columns are not saved for backward but rebuilt there from the saved input: a saved
    array is fresh memory page-faulted in on every step while the workspace stays warm, so
    rebuilding was faster at every size measured, and a network's memory stays at the level
    of its activations.
    """
    if batch_last:
        n, c = x.shape[:2]
        padded = tuple(s + lo + hi for s, (lo, hi) in zip(x.shape[2:], padding))
        xt = workspace("xpad_t", (c,) + padded + (n,), x.dtype)
        xt.fill(0)
        np.copyto(xt[(slice(None),) + _interior(padding, x.shape[2:])[2:]],
                  np.moveaxis(x, 0, -1))
        sc, *ss, sn = xt.strides
        shape = (c,) + tuple(kernel) + tuple(out_size) + (n,)
        view = as_strided(xt, shape, (sc,) + tuple(st * d for st, d in zip(ss, dilation))
                          + tuple(ss) + (sn,), writeable=False)
        out = workspace("cols", shape, x.dtype)
        np.copyto(out, view)
        return out
    shape = (x.shape[1],) + tuple(kernel) + (x.shape[0],) + tuple(out_size)
    out = workspace("cols", shape, x.dtype)
    kernels = compiled_conv(len(kernel), x.dtype)
    if kernels is not None:
        kernels.im2col2d(x, out, tuple(stride), tuple(padding), tuple(dilation))
        return out
    return im2col(pad_zeros(x, padding), kernel, stride, dilation, out_size, out)


def as_matrix(a, groups, name):
    """``a`` (N, C, *S) → workspace matrix (groups, C / groups, N·prod(S)): the GEMM operand."""
    n, c = a.shape[:2]
    m = workspace(name, (c, n) + a.shape[2:], a.dtype)
    np.copyto(m, a.transpose((1, 0) + tuple(range(2, a.ndim))))
    return m.reshape(groups, c // groups, m[0].size)


def _to_batch_first(t, bias, out_shape, out=None):
    """(C, N, *S) → ``out`` (N, C, *S) (fresh if None), adding ``bias`` (C,) on the way."""
    if out is None:
        out = np.empty(out_shape, t.dtype)
    kernels = compiled_conv(t.ndim - 2, t.dtype)
    if kernels is not None and t.flags.c_contiguous and out.flags.c_contiguous:
        positions = math.prod(t.shape[2:])
        kernels.to_batch_first(t.reshape(t.shape[0], t.shape[1], positions), bias,
                               out.reshape(out.shape[0], out.shape[1], positions))
        return out
    t = t.transpose((1, 0) + tuple(range(2, t.ndim)))
    if bias is None:
        np.copyto(out, t)
    else:
        np.add(t, bias.reshape((-1,) + (1,) * (t.ndim - 2)), out=out)
    return out


def conv_forward(cols, weight, groups, bias=None, out=None, batch_last=False):
    """``Y = W · cols`` per group (the convolution itself).

    cols (C_in, *K, N, *O) (or (C_in, *K, *O, N) with ``batch_last``), weight
    (C_out, C_in / g, *K), bias (C_out,) or None → Y (N, C_out, *O) (written into ``out`` if
    given): one GEMM batched over the g groups,
    ``(g, C_out/g, C_in/g·prod(K)) @ (g, C_in/g·prod(K), N·prod(O))``.
    """
    nd = weight.ndim - 2
    c_out = weight.shape[0]
    if batch_last:
        n, out_size = cols.shape[-1], tuple(cols.shape[1 + nd:1 + 2 * nd])
    else:
        n, out_size = cols.shape[1 + nd], tuple(cols.shape[2 + nd:])
    w = weight.reshape(groups, c_out // groups, -1)
    cols = cols.reshape(groups, w.shape[2], n * math.prod(out_size))
    y = workspace("gemm", (groups, w.shape[1], cols.shape[2]), cols.dtype)
    for block in _column_blocks(w.shape[1], cols.shape[1], cols.shape[2], cols.itemsize):
        np.matmul(w, cols[..., block], out=y[..., block])
    y = np.moveaxis(y.reshape((c_out,) + out_size + (n,)), -1, 1) if batch_last else \
        y.reshape((c_out, n) + out_size)
    return _to_batch_first(y, bias, (n, c_out) + out_size, out)


def conv_input_grad_reference(grad, weight, groups, input_size, stride, padding, dilation):
    """The definition of the input gradient, ``dX = col2im(Wᵀ · dY)`` (lecture 002: the full
    correlation of dY with the 180°-rotated kernel): one GEMM per group, then the plain
    :func:`col2im` scatter-add. grad dY (N, C_out, *O), weight (C_out, C_in/g, *K) → dX
    (N, C_in, *input_size). :func:`conv_input_grad` computes the same sums faster."""
    c_in, kernel = weight.shape[1] * groups, tuple(weight.shape[2:])
    n, out_size = grad.shape[0], tuple(grad.shape[2:])
    padded = tuple(s + lo + hi for s, (lo, hi) in zip(input_size, padding))
    w = weight.reshape(groups, weight.shape[0] // groups, -1)
    matrix = grad.transpose((1, 0) + tuple(range(2, grad.ndim))).reshape(
        groups, -1, n * math.prod(out_size))
    dcols = np.matmul(w.transpose(0, 2, 1), matrix)
    dxp = np.empty((c_in, n) + padded, grad.dtype)
    col2im(dcols.reshape((c_in,) + kernel + (n,) + out_size), stride, dilation, dxp)
    return np.ascontiguousarray(np.moveaxis(dxp[_interior(padding, input_size)], 1, 0))


def input_grad_layout(stride, out_size, padded, n):
    """Which layout :func:`conv_input_grad` uses: ``"plain"`` (:func:`col2im` over strided
    windows: every strided conv), ``"wide"`` (stride 1, on the padded grid,
    :func:`col2im_wide`: long slice-adds for the price of GEMM work on the zeros between image
    rows) or ``"batch_last"`` (stride 1 where that price exceeds ``WIDE_MAX_WASTE``: small
    images, whose slice-adds instead get long by running over the samples too,
    :func:`col2im_batch_last`)."""
    if n == 0 or not all(o > 0 for o in out_size) or not all(s == 1 for s in stride):
        return "plain"
    return "batch_last" if batch_last_layout(stride, out_size, padded) else "wide"


def conv_input_grad(grad, weight, groups, input_size, stride, padding, dilation, bias=None,
                    matrix=None, out=None, layout=None):
    """``dX = col2im(Wᵀ · dY)``: the gradient of a conv w.r.t. its input, which is also the
    forward pass of the transposed convolution; equal to
    :func:`conv_input_grad_reference` up to float rounding, in the layout
    :func:`input_grad_layout` picks (or ``layout``, for tests and benchmarks).

    grad: dY (N, C_out, *O); weight (C_out, C_in/g, *K); ``input_size`` the spatial size of X
    before padding → dX (N, C_in, *input_size) (+ bias, for the transposed conv). ``matrix`` is
    ``as_matrix(grad, groups)`` (``as_batch_last_matrix`` in the batch-last layout) if the
    caller has it already (the wide layout builds its own); ``out`` receives dX if given.
    """
    c_in, kernel = weight.shape[1] * groups, tuple(weight.shape[2:])
    n, out_size = grad.shape[0], tuple(grad.shape[2:])
    padded = tuple(s + lo + hi for s, (lo, hi) in zip(input_size, padding))
    kernels = compiled_conv(len(kernel), grad.dtype) if layout in (None, "plain") else None
    if kernels is not None and n > 0 and weight.dtype == grad.dtype:
        return _compiled_input_grad(kernels, grad, weight, groups, input_size, stride, padding,
                                    dilation, bias, matrix, out)
    layout = layout or input_grad_layout(stride, out_size, padded, n)
    if layout == "wide":
        matrix = as_wide_matrix(grad, groups, padded)
    elif layout == "batch_last":
        if matrix is None:
            matrix = as_batch_last_matrix(grad, groups)
    elif matrix is None:
        matrix = as_matrix(grad, groups, "grad")
    w = weight.reshape(groups, weight.shape[0] // groups, -1)
    dcols = workspace("dcols", (groups, w.shape[2], matrix.shape[2]), grad.dtype)
    np.matmul(w.transpose(0, 2, 1), matrix, out=dcols)
    if layout == "batch_last":
        dxp = workspace("dxpad", (c_in,) + padded + (n,), grad.dtype)
        col2im_batch_last(dcols.reshape((c_in,) + kernel + out_size + (n,)), dilation, dxp)
        interior = dxp[(slice(None),) + _interior(padding, input_size)[2:]]
        return _to_batch_first(np.moveaxis(interior, -1, 1), bias,
                               (n, c_in) + tuple(input_size), out)
    dxp = workspace("dxpad", (c_in, n) + padded, grad.dtype)
    if layout == "wide":
        col2im_wide(dcols.reshape((c_in,) + kernel + (n, -1)), padded, dilation, dxp)
    else:
        col2im(dcols.reshape((c_in,) + kernel + (n,) + out_size), stride, dilation, dxp)
    return _to_batch_first(dxp[_interior(padding, input_size)], bias,
                           (n, c_in) + tuple(input_size), out)


def _compiled_input_grad(kernels, grad, weight, groups, input_size, stride, padding, dilation,
                         bias, matrix, out):
    """:func:`conv_input_grad` in the plain layout with its col2im, crop and transpose done by
    one compiled pass (``ember.kernels.conv.conv_input_grad2d``)."""
    c_in, kernel = weight.shape[1] * groups, tuple(weight.shape[2:])
    n, out_size = grad.shape[0], tuple(grad.shape[2:])
    if matrix is None:
        matrix = as_matrix(grad, groups, "grad")
    w = weight.reshape(groups, weight.shape[0] // groups, -1)
    dcols = workspace("dcols", (groups, w.shape[2], matrix.shape[2]), grad.dtype)
    np.matmul(w.transpose(0, 2, 1), matrix, out=dcols)
    if out is None or not out.flags.c_contiguous:
        result = np.empty((n, c_in) + tuple(input_size), grad.dtype)
    else:
        result = out
    kernels.conv_input_grad2d(dcols.reshape((c_in,) + kernel + (n,) + out_size), tuple(stride),
                              tuple(dilation), tuple(padding), bias, result)
    if result is not out and out is not None:
        np.copyto(out, result)
        return out
    return result


def conv_weight_grad(grad, cols, groups, weight_shape):
    """``dW = dY · colsᵀ`` per group: grad (g, C_out/g, N·prod(O)) from :func:`as_matrix`, cols
    (C_in, *K, N, *O) → contiguous dW ``weight_shape`` (C_out, C_in/g, *K).

    A contiguous gradient keeps the optimizer's passes over it at memory speed (SGD over
    ResNet-18's transposed weight gradients took ~50 ms a step instead of ~9). Small weights
    are computed as ``(cols · dYᵀ)ᵀ`` and copied (OpenBLAS runs that orientation, with the
    tall result, faster there: LeNet-5's 16x150 and ResNet's 64x576 weights, 0.39 vs 0.65 and
    5.6 vs 6.5 ms on one core); from ``WEIGHT_GRAD_DIRECT_ELEMENTS`` on, both orientations run
    alike and a transposing copy of dW costs as much as the product (512x4608: 16 ms GEMM +
    18 ms copy), so dW is computed as ``dY · colsᵀ`` directly."""
    cols = cols.reshape(groups, math.prod(weight_shape[1:]), grad.shape[2])
    direct = math.prod(weight_shape) >= WEIGHT_GRAD_DIRECT_ELEMENTS
    grad_t = grad.transpose(0, 2, 1)
    dw = None
    for block in _column_blocks(grad.shape[1], cols.shape[1], cols.shape[2], cols.itemsize):
        if direct:
            part = np.matmul(grad[..., block], cols[..., block].transpose(0, 2, 1))
        else:
            part = np.matmul(cols[..., block], grad_t[:, block])
        dw = part if dw is None else np.add(dw, part, out=dw)
    if not direct:
        dw = np.ascontiguousarray(dw.transpose(0, 2, 1))
    return dw.reshape(weight_shape)


def _column_blocks(out_channels, rows, length, itemsize):
    """Slices of the ``length`` (= N·prod(O)) side of a conv GEMM whose columns have ``rows``
    rows: one slice, unless the GEMM is thin (``out_channels`` ≤ ``THIN_GEMM_CHANNELS``), where
    blocks of about ``GEMM_BLOCK_BYTES`` of columns each are multiplied in turn. OpenBLAS runs
    a thin product over a very long side at a fraction of memory speed (LeNet-5's 1→6 conv:
    (6×25)·(25×N·784)); blocks shorter than ``CHUNK_MIN_COLUMNS`` gain nothing."""
    size = GEMM_BLOCK_BYTES // max(1, rows * itemsize)
    if out_channels > THIN_GEMM_CHANNELS or size < CHUNK_MIN_COLUMNS:
        return [slice(None)]
    return [slice(start, start + size) for start in range(0, length, size)] or [slice(None)]
