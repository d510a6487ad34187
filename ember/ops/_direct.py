"""Direct convolution for thin 2-D convs (few channels in and out): the sums of lecture 003's
「卷积层」 (``Y[o, y, x] = b[o] + Σ_{c,i,j} W[o, c, i, j] · X_pad[c, y + i·d_h, x + j·d_w]``)
computed from the input itself, without a column matrix.

Why. im2col + GEMM (``_im2col.py``) copies the input ``k²`` times into columns, and a GEMM with
6 or 16 output rows (LeNet-5's 1→6 and 6→16 5x5 convs) reads those columns once per handful of
multiply-adds, at memory speed: LeNet-5's second conv took 0.93 ms forward and 2.1 ms backward
at batch 64 on one core, PyTorch's direct kernels 0.24 and 1.35. The compiled register tiles
of ``ember.kernels.tiles`` run the same sums at the speed of the FMA units; the forward, the
input gradient and the weight gradient use them here.

Layout (``ember.kernels.direct``). Each sample's padded input is one row per channel,
``xp[n, c·L + y·width + x]`` (``width`` the padded width, zeros past the padded plane), and the
outputs are computed on the same grid, ``p = y·width + x``: the input of tap ``(c, i, j)`` is
then the contiguous run at ``p + offset``, ``offset = c·L + i·d_h·width + j·d_w``. Outputs with
``x ≥ W_out`` are computed and dropped; the waste is ``width/W_out`` (LeNet-5: 1.14 and 1.4).

* forward: ``Y = Σ_taps w[o, t] · xp[p + offset_t]`` in tiles of 4 channels x 64 positions;
* input gradient: the full correlation of dY with the 180°-rotated kernel (lecture 002
  「卷积 vs. 反卷积」): the same conv of dY padded by ``d·(k − 1) − p`` per side, with the filter
  ``W[o, c, k − 1 − i, k − 1 − j]`` (C_in and C_out swapped);
* weight gradient: ``dW[o, t] = Σ_n Σ_p dY[n, o, p] · xp[n, p + offset_t]`` with dY laid on the
  padded grid (zeros in the dropped columns), in tiles of 4 channels x 4 taps of 16 lanes.

Every sum runs in a fixed order by fused multiply-adds (see the kernels), so the results are the
same on every CPU; against im2col + GEMM (whose order is BLAS's) they agree to float32
rounding, and the tests hold them to float64 within bounds derived from that order.
"""
from functools import lru_cache, partial

import numpy as np

from ember import _parallel
from ember.kernels import compiled
from ember.ops._im2col import workspace

LANES = 16

# When convs use this module: "auto" (with the compiled kernels, on a CPU with AVX-512: the
# 16 accumulators of a tile need its 32 vector registers), "always" (with the compiled kernels
# on any CPU; for tests), "never".
POLICY = "auto"
# ... and for convs with at most this many input and output channels and kernel taps per
# output (C_in·kH·kW), where Winograd does not apply (it takes the 3x3 convs of 16+ channels).
# Measured on one core (python -m benchmarks.conv_algorithms --direct), forward + backward:
# direct/im2col 0.43-0.49 at LeNet-5's convs, 0.44-0.62 at 3x3 and 5x5 convs of 3 to 32
# input channels, 0.75 at 3->128 3x3; 1.04 and 1.17 at 64->64 3x3 and 5x5 (8x8).
MAX_IN_CHANNELS = 32
MAX_OUT_CHANNELS = 128
MAX_TAPS = 800
# a batch is split over Ember's threads from this many multiply-adds (forward) per thread
PARALLEL_MIN_MACS = 2 ** 21
# ... and into parts whose planes (the padded input, the output gradient on the grid, the input
# gradient's planes) take at most this many bytes each: the planes live in per-thread
# workspaces, so a whole large batch at once would add a copy of its output gradient to the
# peak memory (VGG's 3->64 conv at 224x224, batch 32: 415 MB); LeNet-5's and ResNet-18's
# stem convs stay in one part per thread
PART_BYTES = 16 * 2 ** 20

def _compiled():
    kernels = compiled()
    return None if kernels is None else kernels.direct


def applies(x_shape, weight_shape, stride, padding, dilation, groups, dtype):
    """True for the convs this module computes (under ``POLICY``): 2-D float32, stride 1, one
    group, at most ``MAX_IN_CHANNELS`` input channels, ``MAX_OUT_CHANNELS`` output channels and
    ``MAX_TAPS`` taps (C_in·kH·kW), a non-empty batch. ``ember/ops/conv.py`` asks Winograd
    first."""
    if POLICY == "never" or len(weight_shape) != 4 or dtype != np.float32:
        return False
    if _compiled() is None or (POLICY == "auto" and not compiled().tiles.wide_registers()):
        return False
    c_out, c_in, kh, kw = weight_shape
    return (tuple(stride) == (1, 1) and groups == 1 and x_shape[0] > 0
            and (POLICY == "always" or (c_out <= MAX_OUT_CHANNELS and c_in <= MAX_IN_CHANNELS
                                         and c_in * kh * kw <= MAX_TAPS)))


@lru_cache(maxsize=64)
def grid(size, channels, kernel, padding, dilation):
    """The :class:`Grid` of a conv's input (one per shape, kept: a grid's tap offsets cost as
    much to build as a quarter of LeNet-5's conv2 forward kernel); arguments as :class:`Grid`'s,
    as tuples."""
    return Grid(size, channels, kernel, padding, dilation)


class Grid:
    """The padded grid of a conv's input (H, W) under ``padding`` ((top, bottom), (left,
    right)), ``dilation`` and ``kernel`` (kH, kW) for ``channels`` input channels: ``width``
    and ``height`` of the padded plane, the output size, the ``blocks`` of 16 grid positions
    that cover the outputs, the per-channel row length ``length`` and the tap ``offsets``."""

    def __init__(self, size, channels, kernel, padding, dilation):
        (pt, pb), (pl, pr) = padding
        self.top, self.left = pt, pl
        self.height, self.width = size[0] + pt + pb, size[1] + pl + pr
        dh, dw = dilation
        self.out_size = (self.height - dh * (kernel[0] - 1), self.width - dw * (kernel[1] - 1))
        self.blocks = -(-self.out_size[0] * self.width // LANES)
        reach = dh * (kernel[0] - 1) * self.width + dw * (kernel[1] - 1)
        length = max(self.height * self.width, self.blocks * LANES + reach)
        self.length = -(-length // LANES) * LANES     # every channel's row on a cache line
        c, i, j = np.meshgrid(np.arange(channels), np.arange(kernel[0]), np.arange(kernel[1]),
                              indexing="ij")
        self.offsets = (c * self.length + i * dh * self.width + j * dw).astype(np.int64).ravel()

    def planes(self, x, name):
        """``x`` (N, C, H, W) on the grid: (N, C·length) float32 (a per-thread workspace)."""
        out = workspace(name, (x.shape[0], x.shape[1], self.length), np.float32)
        _compiled().pad_planes(x, self.top, self.left, self.width, out)
        return out.reshape(x.shape[0], -1)


def _grid_of(x, w, padding, dilation):
    return grid(tuple(x.shape[2:]), x.shape[1], tuple(w.shape[2:]),
                tuple(tuple(p) for p in padding), tuple(dilation))


def pack(w):
    """The weights (C_out, C_in, kH, kW) as the kernels read them: blocks of 4 output channels
    (fewer in the last), each tap-major (``ember.kernels.direct.conv``)."""
    rows = w.reshape(w.shape[0], -1)
    rows_per_block = _compiled().ROWS
    return np.concatenate([np.ascontiguousarray(rows[o:o + rows_per_block].T).ravel()
                           for o in range(0, w.shape[0], rows_per_block)]).astype(np.float32)


def _parts(n, macs, sample_bytes):
    """Slices of the batch, each one task for Ember's threads: one per thread once there are
    ``PARALLEL_MIN_MACS`` per thread, and more (a multiple of the threads) when a part's planes
    (``sample_bytes`` per sample) would exceed ``PART_BYTES``."""
    threads = _parallel.get_num_threads()
    threads = threads if macs >= PARALLEL_MIN_MACS * threads else 1
    count = max(threads, -(-n * sample_bytes // PART_BYTES))
    return _parallel.split(n, min(n, -(-count // threads) * threads))


def _conv(x, w, bias, padding, dilation, out):
    """``out`` (N, C_out, H_out, W_out) ← the conv of ``x`` (N, C_in, H, W) with ``w``."""
    grid = _grid_of(x, w, padding, dilation)
    packed, kernels = pack(w), _compiled()

    def part(s):
        kernels.conv(grid.planes(x[s], "direct_x"), grid.offsets, packed, bias, grid.width,
                     out[s])

    parts = _parts(x.shape[0], out.size * grid.offsets.size, 4 * x.shape[1] * grid.length)
    _parallel.run([partial(part, s) for s in parts])


def conv(x, w, bias, padding, dilation, out):
    """The conv's forward: ``out`` ← ``conv2d(x, w, bias)`` (float32, stride 1)."""
    _conv(x, w, bias, padding, dilation, out)


def backward(grad, x, w, padding, dilation, dx, need_dw, need_db):
    """The conv's gradients for the output gradient ``grad`` (N, C_out, H_out, W_out): ``dx``
    (N, C_in, H, W) filled when given; returns ``(dW, db)`` (None where not needed).

    ``grad`` is laid on the input's padded grid once (zeros in the dropped columns) and read by
    all three: dX scatters ``Wᵀ·dY`` back to the taps' positions (the transposed conv, lecture
    003 「Transpose Convolution」), dW correlates it with the padded input, db sums it."""
    grid = _grid_of(x, w, padding, dilation)
    taps = grid.offsets.size
    kernels = _compiled()
    c_out = w.shape[0]
    if dx is not None:
        # taps channel-innermost: consecutive taps then scatter to positions a plane apart,
        # and a tap's read-add-write of dX does not wait for the previous tap's stores
        order = np.arange(taps).reshape(w.shape[1:]).transpose(1, 2, 0).ravel()
        scatter = grid.offsets[order]
        transposed = np.ascontiguousarray(w.reshape(c_out, taps).T[order]).reshape(-1)
    offsets = np.concatenate([grid.offsets, np.repeat(grid.offsets[:1], -taps % 4)])

    def part(s):
        gp = workspace("direct_grad", (s.stop - s.start, c_out, grid.blocks * LANES), np.float32)
        kernels.pad_planes(grad[s], 0, 0, grid.width, gp)
        gp = gp.reshape(gp.shape[0], -1)
        if dx is not None:
            planes = workspace("direct_dx", (s.stop - s.start, x.shape[1], grid.length),
                               np.float32)
            kernels.input_grad(gp, scatter, transposed, grid.blocks,
                               planes.reshape(planes.shape[0], -1))
            kernels.crop_planes(planes, grid.top, grid.left, grid.width, dx[s])
        dw = db = None
        if need_dw or need_db:
            dw = np.empty((c_out, offsets.size), np.float32)
            db = np.empty(c_out, np.float32) if need_db else None
            kernels.weight_grad(gp, grid.planes(x[s], "direct_x"), offsets, grid.blocks, dw, db)
        return dw, db

    sample_bytes = 4 * (grad.shape[1] * grid.blocks * LANES
                        + x.shape[1] * grid.length * (2 if dx is not None else 1))
    shares = _parallel.run([partial(part, s)
                            for s in _parts(x.shape[0], grad.size * taps, sample_bytes)])
    dw = db = None
    if need_dw:
        dw = _parallel.sum_shares([share[0] for share in shares])
        dw = np.ascontiguousarray(dw[:, :taps]).reshape(w.shape)
    if need_db:
        db = _parallel.sum_shares([share[1] for share in shares])
    return dw, db
