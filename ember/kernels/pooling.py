"""Compiled 2-D max pooling: ``ember.ops.pooling.max_pool_forward`` and ``max_pool_backward``
for any kernel, stride, padding, dilation and ``ceil_mode``, one window (forward) or one input
cell (backward) at a time instead of one NumPy pass per kernel offset.

Arrays are ``(planes, H, W)``: the batch and channel dims of the NumPy code flattened.
"""
import numpy as np

from ember.kernels._jit import kernel


@kernel
def max_pool2d_forward(x, out, argmax, kernel_size, stride, padding, dilation, need_argmax):
    """``out[p, o] = max`` of the window of output ``o`` over its in-bounds cells, and (if
    ``need_argmax``) ``argmax[p, o]`` = the row-major kernel-offset number of the chosen cell,
    with the NumPy code's rules: the first maximum in scan order, the last NaN over anything
    else (a NaN result), and the first in-bounds cell for a window of −inf only. Bit for bit."""
    kh, kw = kernel_size
    sh, sw = stride
    ph, pw = padding
    dh, dw = dilation
    height, width = x.shape[1], x.shape[2]
    lowest = x.dtype.type(-np.inf)
    for p in range(x.shape[0]):
        for oy in range(out.shape[1]):
            top = oy * sh - ph
            for ox in range(out.shape[2]):
                left = ox * sw - pw
                best = lowest
                chosen = -1
                first = -1
                for ky in range(kh):
                    iy = top + ky * dh
                    if iy < 0 or iy >= height:
                        continue
                    for kx in range(kw):
                        ix = left + kx * dw
                        if ix < 0 or ix >= width:
                            continue
                        v = x[p, iy, ix]
                        if first < 0:
                            first = ky * kw + kx
                        if v > best or v != v:
                            best = v
                            chosen = ky * kw + kx
                out[p, oy, ox] = best
                if need_argmax:
                    argmax[p, oy, ox] = chosen if chosen >= 0 else first


@kernel
def max_pool2d_backward(grad, argmax, dx, kernel_size, stride, padding, dilation, tiled):
    """``dx[p, q] = Σ grad[p, o]·[argmax[p, o] = j]`` over the windows ``o`` that hold cell ``q``
    at kernel offset ``j``, summed in increasing ``j`` as the NumPy code adds its per-offset
    slices, the mask multiplied (an inf or NaN gradient reaches every cell of its window, as
    there). ``tiled`` windows (no overlap) write the single term itself, as the NumPy code's
    tiled branch does. Bit for bit."""
    kh, kw = kernel_size
    sh, sw = stride
    ph, pw = padding
    dh, dw = dilation
    out_h, out_w = grad.shape[1], grad.shape[2]
    one, zero = grad.dtype.type(1), grad.dtype.type(0)
    for p in range(dx.shape[0]):
        for iy in range(dx.shape[1]):
            for ix in range(dx.shape[2]):
                total = zero
                hit = False
                for ky in range(kh):
                    ry = iy + ph - ky * dh
                    if ry < 0 or ry % sh != 0:
                        continue
                    oy = ry // sh
                    if oy >= out_h:
                        continue
                    for kx in range(kw):
                        rx = ix + pw - kx * dw
                        if rx < 0 or rx % sw != 0:
                            continue
                        ox = rx // sw
                        if ox >= out_w:
                            continue
                        term = grad[p, oy, ox] * (one if argmax[p, oy, ox] == ky * kw + kx
                                                  else zero)
                        total = term if (tiled and not hit) else total + term
                        hit = True
                dx[p, iy, ix] = total
