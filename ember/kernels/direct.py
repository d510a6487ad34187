"""Direct 2-D convolution on flattened padded planes: the conv, its input gradient and its
weight gradient of ``ember.ops._direct`` (which describes the layout and when it is used),
built from the register tiles of ``ember.kernels.tiles``.

A sample's zero-padded input is stored as one row per channel, ``xp[n, c·L + y·width + x]``,
with ``L`` beyond the padded plane left zero. An output position ``p = oy·width + ox`` on the
same grid then reads the input at ``p + offset`` for every tap ``(c, ky, kx)``, ``offset = c·L
+ ky·dh·width + kx·dw``: the conv is a sum over taps of one shifted contiguous run each. The
columns ``ox ≥ W_out`` of that grid are computed and dropped (they read the next row).
"""
import numpy as np

from ember.kernels._jit import inline, kernel
from ember.kernels.lanes import lane_sum
from ember.kernels.tiles import LANES, correlation_tile, product_rows, transposed_tile

# output channels per tile (the accumulators of a tile are ROWS x 4 vectors of 16 positions)
ROWS = 4
VECTORS = 4


@kernel
def pad_planes(x, top, left, width, out):
    """``out`` (N, C, L) ← zeros, with ``out[n, c, (y + top)·width + left + i] = x[n, c, y, i]``
    (``x``: (N, C, H, W), ``width ≥ left + W``, ``L ≥ (top + H)·width``); each element of
    ``out`` written once."""
    height, cols = x.shape[2], x.shape[3]
    length = out.shape[2]
    zero = np.float32(0)
    for n in range(out.shape[0]):
        for c in range(out.shape[1]):
            row = out[n, c]
            plane = x[n, c]
            _fill(row, 0, top * width + left, zero)
            for y in range(height):
                at = (y + top) * width + left
                source = plane[y]
                base = np.uint64(at)
                for i in range(np.uint64(cols)):
                    row[base + i] = source[i]
                stop = min(length, at + width) if y < height - 1 else length
                _fill(row, at + cols, stop, zero)


@inline
def _fill(row, start, stop, value):
    """``row[start:stop] = value`` (unsigned indices: no wrap-around test per element)."""
    base = np.uint64(start)
    for i in range(np.uint64(max(0, stop - start))):
        row[base + i] = value


@kernel
def conv(xp, offsets, packed, bias, width, out):
    """``out[n, o, y, x] = Σ_t w[o, t] · xp[n, y·width + x + offsets[t]] (+ bias[o])``, the sum
    in tap order by fused multiply-adds from 0, the bias added last.

    ``xp`` (N, C·L) float32, ``offsets`` (T,) int64, ``packed`` (C_out·T,) float32: the
    weights ``w`` (C_out, T) in blocks of ``ROWS`` output channels (fewer in the last), block
    ``o0`` stored tap-major at ``o0·T`` (``packed[o0·T + t·R + r] = w[o0 + r, t]``), ``bias``
    (C_out,) or None, ``out`` (N, C_out, H_out, W_out) float32. ``xp`` must extend 16 values
    past the last position read (:func:`ember.ops._direct.plane_length`)."""
    channels, height, cols = out.shape[1], out.shape[2], out.shape[3]
    taps = offsets.shape[0]
    blocks = (height * width + LANES - 1) // LANES
    scratch = np.empty((ROWS, blocks * LANES), np.float32)
    flat, stride = scratch.reshape(-1), blocks * LANES
    for n in range(out.shape[0]):
        x = xp[n]
        for o0 in range(0, channels, ROWS):
            rows = min(ROWS, channels - o0)
            product_rows(x, 0, offsets, packed, o0 * taps, rows, 1, rows, flat, 0, stride,
                         blocks)
            for r in range(rows):
                b = np.float32(0) if bias is None else bias[o0 + r]
                source = scratch[r]
                target = out[n, o0 + r]
                for y in range(height):
                    at = y * width
                    row = target[y]
                    if bias is None:
                        for i in range(cols):
                            row[i] = source[at + i]
                    else:
                        for i in range(cols):
                            row[i] = source[at + i] + b


# the weight gradient goes through the batch in groups of samples whose planes (input and
# output gradient) take at most this many bytes, each group once through every tile of
# accumulators: a whole batch's planes per tile came from L2 instead of L1
GROUP_BYTES = 32 * 2 ** 10


@kernel
def weight_grad(dyp, xp, offsets, blocks, out, bias_out):
    """``out[o, t] = Σ_n Σ_p dyp[n, o·Ld + p] · xp[n, p + offsets[t]]`` over the positions ``p <
    16·blocks`` of each sample (``dyp`` (N, C_out·Ld), the output gradient on the padded grid,
    zero in its dropped columns and past its last row; ``xp`` (N, C·L) as in :func:`conv`;
    ``out`` (C_out, T) float32, ``T = len(offsets)`` a multiple of 4 (the caller repeats a tap to
    fill the last group and drops its sums)).

    Lane ``j`` of each sum takes the positions ``j, j + 16, ...`` of sample 0, then of sample 1
    and so on, by fused multiply-adds; the 16 lanes are then added pairwise (``lane_sum``).
    ``bias_out`` (C_out,) float32 or None: ← ``Σ_n Σ_p dyp[n, o·Ld + p]``, each sample's sum taken
    in 16 lanes (``lane_sum``), the samples' sums added in order."""
    channels, taps = out.shape[0], out.shape[1]
    samples, dy_sample, x_sample = dyp.shape[0], dyp.shape[1], xp.shape[1]
    length = dy_sample // channels
    tap_groups = taps // 4
    acc = np.zeros(((channels + ROWS - 1) // ROWS * tap_groups, ROWS * 4 * LANES), np.float32)
    group = max(1, GROUP_BYTES // ((dy_sample + x_sample) * 4))
    g, x = dyp.reshape(-1), xp.reshape(-1)
    if bias_out is not None:
        bias_out[:] = 0
    for n0 in range(0, samples, group):
        count = min(samples, n0 + group) - n0
        if bias_out is not None:
            for o in range(channels):
                for n in range(n0, n0 + count):
                    bias_out[o] += lane_sum(g, n * dy_sample + o * length, blocks)
        for o0 in range(0, channels, ROWS):
            rows = min(ROWS, channels - o0)
            g0, x0 = n0 * dy_sample + o0 * length, n0 * x_sample
            for t0 in range(0, taps, 4):
                tile = acc[o0 // ROWS * tap_groups + t0 // 4]
                correlation_tile(g, g0, length, x, x0, offsets, t0, blocks, count, dy_sample,
                                 x_sample, tile, rows, 4)
    for o0 in range(0, channels, ROWS):
        for t0 in range(0, taps, 4):
            tile = acc[o0 // ROWS * tap_groups + t0 // 4]
            for r in range(min(ROWS, channels - o0)):
                for t in range(4):
                    out[o0 + r, t0 + t] = lane_sum(tile, (r * 4 + t) * LANES, 1)


@kernel
def input_grad(dyp, offsets, packed, blocks, planes):
    """``planes`` (N, C·L) ← the input gradient on the padded grid of :func:`conv`: zeros, then
    for every block of 16 positions ``p`` and tap ``t`` in order, ``planes[n, p + offsets[t]]
    += Σ_o packed[t·C_out + o] · dyp[n, o·Ld + p]`` (the sum over ``o`` in registers by fused
    multiply-adds, ``transposed_tile``). ``dyp`` (N, C_out·Ld) as in :func:`weight_grad`,
    ``packed`` (T·C_out,): the weights (C_out, T) transposed."""
    taps = offsets.shape[0]
    channels = packed.shape[0] // taps
    samples, dy_sample = dyp.shape[0], dyp.shape[1]
    length = dy_sample // channels
    g = dyp.reshape(-1)
    full = blocks - blocks % VECTORS
    zero = np.float32(0)
    for n in range(samples):
        row = planes[n]
        _fill(row, 0, row.shape[0], zero)
        for b in range(0, full, VECTORS):
            transposed_tile(g, n * dy_sample + b * LANES, length, channels, packed, offsets, row,
                            b * LANES, 4)
        for b in range(full, blocks):
            transposed_tile(g, n * dy_sample + b * LANES, length, channels, packed, offsets, row,
                            b * LANES, 1)


@kernel
def crop_planes(planes, top, left, width, out):
    """``out[n, c, y, i] = planes[n, c, (y + top)·width + left + i]``: the inverse of
    :func:`pad_planes` (``planes`` (N, C, L), ``out`` (N, C, H, W))."""
    height, cols = out.shape[2], out.shape[3]
    for n in range(out.shape[0]):
        for c in range(out.shape[1]):
            row = planes[n, c]
            plane = out[n, c]
            for y in range(height):
                base = np.uint64((y + top) * width + left)
                target = plane[y]
                for i in range(np.uint64(cols)):
                    target[i] = row[base + i]
