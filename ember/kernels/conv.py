"""Compiled passes of the 2-D convolution around its GEMM (``ember.ops._im2col``): im2col with
the zero padding folded in, col2im (plain, and fused with the crop and the transpose back to
``(N, C, H, W)`` of the conv's input gradient), and the forward's epilogue (transpose + bias).

Each replaces a sequence of NumPy passes (a padded copy and a strided copy; ``prod(K)``
slice-adds; a transposing add) by one GIL-free call, so that Ember's threads running the
batch chunks of a conv (``ember/ops/conv.py``) no longer wait for each other between passes.
The NumPy functions named in each docstring are the definitions; every kernel does the same
copies and the same additions in the same order, so it equals them bit for bit.
"""
import numpy as np

from ember.kernels._jit import inline, kernel

# Indices in the inner loops are unsigned: Numba wraps a negative signed index around (a test
# and an add per access, which also keeps LLVM from vectorizing); these never are negative.
_U0 = np.uint64(0)


@inline
def _valid_range(size, out_size, offset, stride):
    """The outputs ``o`` in ``[0, out_size)`` whose input position ``o·stride + offset`` lies
    in ``[0, size)``: ``first ≤ o < stop``."""
    first = min(out_size, (-offset + stride - 1) // stride) if offset < 0 else 0
    stop = min(out_size, (size - offset + stride - 1) // stride) if size > offset else 0
    return first, max(first, stop)


@kernel
def im2col2d(x, cols, stride, padding, dilation):
    """``padding`` ((top, bottom), (left, right)):
    ``cols[c, ky, kx, n, oy, ox] = x[n, c, oy·sh − ph + ky·dh, ox·sw − pw + kx·dw]`` (0 in
    the padding): ``ember.ops._im2col.columns`` (``pad_zeros`` then ``im2col``) in one copy."""
    channels, kh, kw, batch, out_h, out_w = cols.shape
    height, width = x.shape[2], x.shape[3]
    sh, sw = stride
    ph, pw = padding[0][0], padding[1][0]
    dh, dw = dilation
    zero = cols.dtype.type(0)
    for c in range(channels):
        for ky in range(kh):
            row_offset = ky * dh - ph
            y_first, y_stop = _valid_range(height, out_h, row_offset, sh)
            for kx in range(kw):
                col_offset = kx * dw - pw
                x_first, x_stop = _valid_range(width, out_w, col_offset, sw)
                ufirst, usw = np.uint64(x_first), np.uint64(sw)
                start = np.uint64(x_first * sw + col_offset) if x_stop > x_first else _U0
                for n in range(batch):
                    target = cols[c, ky, kx, n]
                    for oy in range(out_h):
                        row = target[oy]
                        if oy < y_first or oy >= y_stop:
                            for ox in range(out_w):
                                row[ox] = zero
                            continue
                        source = x[n, c, oy * sh + row_offset]
                        for ox in range(x_first):
                            row[ox] = zero
                        for i in range(x_stop - x_first):
                            row[ufirst + np.uint64(i)] = source[start + np.uint64(i) * usw]
                        for ox in range(x_stop, out_w):
                            row[ox] = zero


@inline
def _scatter_add(cols, c, n, stride, dilation, plane):
    """``plane`` (H_pad, W_pad) ← the col2im of channel ``c``, sample ``n``: zeroed, then
    ``plane[oy·sh + ky·dh, ox·sw + kx·dw] += cols[c, ky, kx, n, oy, ox]`` offset by offset in
    row-major kernel order, the order of ``ember.ops._im2col.col2im``'s slice-adds."""
    kh, kw, out_h, out_w = cols.shape[1], cols.shape[2], cols.shape[4], cols.shape[5]
    sh, sw = stride
    dh, dw = dilation
    plane[:] = 0
    usw = np.uint64(sw)
    for ky in range(kh):
        for kx in range(kw):
            source = cols[c, ky, kx, n]
            start = np.uint64(kx * dw)
            for oy in range(out_h):
                row = plane[oy * sh + ky * dh]
                values = source[oy]
                for ox in range(out_w):
                    row[start + np.uint64(ox) * usw] += values[ox]


@kernel
def col2im2d(cols, stride, dilation, out):
    """``ember.ops._im2col.col2im`` for 2-D: ``cols`` (C, kH, kW, N, O_h, O_w) scatter-added
    into ``out`` (C, N, H_pad, W_pad), which is zeroed first."""
    for c in range(out.shape[0]):
        for n in range(out.shape[1]):
            _scatter_add(cols, c, n, stride, dilation, out[c, n])


@kernel
def conv_input_grad2d(cols, stride, dilation, padding, bias, out):
    """The last steps of ``ember.ops._im2col.conv_input_grad`` in its plain layout, fused:
    col2im of ``cols`` = Wᵀ·dY (C, kH, kW, N, O_h, O_w) into a padded plane per channel and
    sample (kept in cache), its interior copied to ``out[n, c]`` (N, C, H, W), ``+ bias[c]``
    when ``bias`` is given (the transposed conv's forward)."""
    channels, batch, height, width = out.shape[1], out.shape[0], out.shape[2], out.shape[3]
    ph, pw = padding
    plane = np.empty((height + ph[0] + ph[1], width + pw[0] + pw[1]), out.dtype)
    for c in range(channels):
        for n in range(batch):
            _scatter_add(cols, c, n, stride, dilation, plane)
            target = out[n, c]
            for y in range(height):
                source = plane[y + ph[0]]
                row = target[y]
                if bias is None:
                    for x in range(width):
                        row[x] = source[x + pw[0]]
                else:
                    b = bias[c]
                    for x in range(width):
                        row[x] = source[x + pw[0]] + b


@kernel
def to_batch_first(t, bias, out):
    """``ember.ops._im2col._to_batch_first`` for a flattened spatial dim: ``t`` (C, N, L) →
    ``out[n, c] = t[c, n] (+ bias[c])`` (N, C, L)."""
    for n in range(out.shape[0]):
        for c in range(out.shape[1]):
            source = t[c, n]
            row = out[n, c]
            if bias is None:
                for i in range(row.shape[0]):
                    row[i] = source[i]
            else:
                b = bias[c]
                for i in range(row.shape[0]):
                    row[i] = source[i] + b
