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
contiguous inner dimension. Measured (float32, 2 cores, forward + backward of one conv at batch
128): this layout was 1.35× faster than ``(N·prod(O), prod(K)·C)`` (channels-last) at ResNet
shape (64→64, 3×3, 32×32) and on par with a per-sample ``(N, C·prod(K), prod(O))`` batched GEMM at
LeNet shapes (1→6 and 6→16, 5×5), which was 1.25× slower at ResNet shape. col2im accumulates
into a channel-major ``(C, N, *S_pad)`` image, and at stride 1 on the padded grid
(:func:`col2im_wide`) so that every slice-add runs over long contiguous memory.

Large temporaries (padded inputs, columns, GEMM results) live in a per-thread workspace that
grows to the largest size requested and is then kept for reuse (like torch's caching
allocator): faulting in a fresh 300 MB array costs ~4× more than refilling one. Arrays handed
back to callers are always fresh.
"""
import threading

import numpy as np
from numpy.lib.stride_tricks import as_strided

_local = threading.local()

# see batch_chunks
THIN_GEMM_CHANNELS = 32
CHUNK_BYTES = 4 * 2 ** 20
CHUNK_MIN_COLUMNS = 2048


def workspace(name, shape, dtype):
    """A reusable scratch array of ``shape`` (contents undefined), one per name and dtype."""
    bufs = _local.__dict__.setdefault("buffers", {})
    dtype = np.dtype(dtype)
    size = int(np.prod(shape))
    buf = bufs.get((name, dtype))
    if buf is None or buf.size < size:
        buf = np.empty(size, dtype)
        bufs[(name, dtype)] = buf
    return buf[:size].reshape(shape)


def bias_grad(grad):
    """``db = Σ dY`` over everything but the channel: the matrix (g, C/g, M) from
    :func:`as_matrix` times a ones vector (a GEMV; measured 1.1–2× faster than ``sum``)."""
    cache = _local.__dict__.setdefault("ones", {})
    ones = cache.get(grad.dtype)
    if ones is None or ones.size < grad.shape[2]:
        ones = cache[grad.dtype] = np.ones(grad.shape[2], grad.dtype)
    return np.matmul(grad, ones[:grad.shape[2]]).reshape(-1)


def batch_chunks(n, rows, positions, out_channels, itemsize):
    """Slices of the batch for a conv whose columns have ``rows`` = C_in/g·prod(K) rows and
    ``positions`` = prod(O) output positions per sample, with ``out_channels`` = C_out/g.

    A GEMM with few output channels (LeNet's 1→6, 6→16) does little work per byte of columns,
    so it runs at memory speed; there the batch is cut into chunks whose columns (about
    ``CHUNK_BYTES``) stay in cache from im2col to the GEMM and on to col2im, and the
    workspaces stay small. Measured at batch 256: forward + backward of LeNet-5's two convs
    ~20% faster (1 and 2 threads); the LeNet-5 training step 41 → 31 ms (1 thread) and its
    peak memory 78 → 37 MB. Wide layers (ResNet's 64+ channels) are compute-bound and keep
    one GEMM over the whole batch: chunking them was 5–100% slower at 2 threads, every extra
    multi-threaded BLAS call paying a wake-up of OpenBLAS's worker threads.
    """
    if out_channels > THIN_GEMM_CHANNELS or n <= 1:
        return [slice(0, n)]
    per_sample = max(1, rows * positions * itemsize)
    size = max(1, CHUNK_BYTES // per_sample, -(-CHUNK_MIN_COLUMNS // max(1, positions)))
    return [slice(start, min(n, start + size)) for start in range(0, n, size)]


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
    is channel-major so that every add runs over operands laid out alike (2.5× faster than
    adding into an (N, C, ...) array at ResNet shapes).
    """
    nd = out.ndim - 2
    kernel, out_size = cols.shape[1:1 + nd], cols.shape[2 + nd:]
    out.fill(0)
    for offset in np.ndindex(*kernel):
        window = (slice(None), slice(None)) + _window(offset, stride, dilation, out_size)
        out[window] += cols[(slice(None),) + offset]
    return out


def _grid_strides(padded):
    """Element strides of a C-contiguous array with spatial shape ``padded``."""
    return tuple(int(np.prod(padded[a + 1:])) for a in range(len(padded)))


def col2im_wide(cols, padded, dilation, out):
    """:func:`col2im` for stride 1, with each column row laid out on the padded grid.

    ``cols`` (C, *K, N, L): entry ``l`` of a row is the output position whose flat index on the
    ``padded`` grid is ``l`` (zeros between image rows, see :func:`as_wide_matrix`). A kernel
    offset then shifts a whole row by one flat amount, so each of the ``prod(K)`` slice-adds runs
    over long contiguous runs instead of one short image row at a time (1.2–1.7× faster at LeNet
    and ResNet shapes). ``out`` (C, N, *padded) is zeroed first.
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


def as_wide_matrix(a, groups, padded):
    """``a`` (N, C, *O) → workspace matrix (groups, C/groups, N·L) for :func:`col2im_wide`:
    row (c, n) holds ``a[n, c]`` placed on the ``padded`` grid, zeros elsewhere, where ``L`` is
    the flat span of the output positions ``Σ (O_d − 1)·grid_d + 1``."""
    n, c, out_size = a.shape[0], a.shape[1], a.shape[2:]
    grid = _grid_strides(padded)
    length = sum((o - 1) * g for o, g in zip(out_size, grid)) + 1
    m = workspace("wide", (c, n, length), a.dtype)
    m.fill(0)
    view = as_strided(m, (c, n) + out_size, m.strides[:2] + tuple(g * m.itemsize for g in grid))
    np.copyto(view, a.transpose((1, 0) + tuple(range(2, a.ndim))))
    return m.reshape(groups, c // groups, n * length)


def columns(x, kernel, stride, padding, dilation, out_size):
    """im2col of ``x`` (N, C, *S) zero-padded by ``padding``: a workspace array (C, *K, N, *O).

    The columns are not saved for backward but rebuilt there from the saved input: measured
    faster at every size tried (LeNet-5 train step, batch 16: 3.1 vs 3.6 ms; batch 128: 16.6
    vs 19.2 ms; ResNet 64→64 3×3 layer: rebuilding costs ~25 ms, faulting in a fresh 300 MB
    array ~80 ms), because a fresh array is page-faulted in on every step while the workspace
    stays warm. It also keeps a network's memory at the level of its activations.
    """
    shape = (x.shape[1],) + tuple(kernel) + (x.shape[0],) + tuple(out_size)
    out = workspace("cols", shape, x.dtype)
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
    t = t.transpose((1, 0) + tuple(range(2, t.ndim)))
    if bias is None:
        np.copyto(out, t)
    else:
        np.add(t, bias.reshape((-1,) + (1,) * (t.ndim - 2)), out=out)
    return out


def conv_forward(cols, weight, groups, bias=None, out=None):
    """``Y = W · cols`` per group (the convolution itself).

    cols (C_in, *K, N, *O), weight (C_out, C_in / g, *K), bias (C_out,) or None
    → Y (N, C_out, *O) (written into ``out`` if given): one GEMM batched over the g groups,
    ``(g, C_out/g, C_in/g·prod(K)) @ (g, C_in/g·prod(K), N·prod(O))``.
    """
    nd = weight.ndim - 2
    c_out = weight.shape[0]
    n, out_size = cols.shape[1 + nd], tuple(cols.shape[2 + nd:])
    w = weight.reshape(groups, c_out // groups, -1)
    cols = cols.reshape(groups, w.shape[2], n * int(np.prod(out_size)))
    y = workspace("gemm", (groups, w.shape[1], cols.shape[2]), cols.dtype)
    np.matmul(w, cols, out=y)
    return _to_batch_first(y.reshape((c_out, n) + out_size), bias, (n, c_out) + out_size, out)


def conv_input_grad(grad, weight, groups, input_size, stride, padding, dilation, bias=None,
                    matrix=None, out=None):
    """``dX = col2im(Wᵀ · dY)``: the gradient of a conv w.r.t. its input, which is also the
    forward pass of the transposed convolution.

    grad: dY (N, C_out, *O); weight (C_out, C_in/g, *K); ``input_size`` the spatial size of X
    before padding → dX (N, C_in, *input_size) (+ bias, for the transposed conv). ``matrix`` is
    ``as_matrix(grad, groups)`` if the caller has it already; ``out`` receives dX if given. At
    stride 1 the product is taken on the padded grid (:func:`col2im_wide`).
    """
    c_in, kernel = weight.shape[1] * groups, tuple(weight.shape[2:])
    n, out_size = grad.shape[0], tuple(grad.shape[2:])
    padded = tuple(s + lo + hi for s, (lo, hi) in zip(input_size, padding))
    wide = all(s == 1 for s in stride) and n > 0 and all(o > 0 for o in out_size)
    if wide:
        matrix = as_wide_matrix(grad, groups, padded)
    elif matrix is None:
        matrix = as_matrix(grad, groups, "grad")
    w = weight.reshape(groups, weight.shape[0] // groups, -1)
    dcols = workspace("dcols", (groups, w.shape[2], matrix.shape[2]), grad.dtype)
    np.matmul(w.transpose(0, 2, 1), matrix, out=dcols)
    dxp = workspace("dxpad", (c_in, n) + padded, grad.dtype)
    if wide:
        col2im_wide(dcols.reshape((c_in,) + kernel + (n, -1)), padded, dilation, dxp)
    else:
        col2im(dcols.reshape((c_in,) + kernel + (n,) + out_size), stride, dilation, dxp)
    return _to_batch_first(dxp[_interior(padding, input_size)], bias,
                           (n, c_in) + tuple(input_size), out)


def conv_weight_grad(grad, cols, groups, weight_shape):
    """``dW = dY · colsᵀ`` per group: grad (g, C_out/g, N·prod(O)) from :func:`as_matrix`, cols
    (C_in, *K, N, *O) → dW ``weight_shape`` (C_out, C_in/g, *K)."""
    cols = cols.reshape(groups, int(np.prod(weight_shape[1:])), grad.shape[2])
    # computed as (cols · dYᵀ)ᵀ: OpenBLAS runs this orientation up to 2× faster (tall result)
    return np.matmul(cols, grad.transpose(0, 2, 1)).transpose(0, 2, 1).reshape(weight_shape)
