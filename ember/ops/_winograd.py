"""Winograd's minimal filtering F(2x2, 3x3) for stride-1 3x3 convolutions: 16 GEMMs of
``C_in·C_out·(tiles)`` multiply-adds instead of one of ``9·C_in·C_out·(positions)``, i.e.
2.25x fewer multiplications (Lavin & Gray 2016, "Fast Algorithms for Convolutional Neural
Networks"; the convolution itself is lecture 003's 「卷积层」 correlation).

Each 2x2 block of outputs (a *tile*) of one output channel is, with the 4x4 input patch ``d``
under it and the 3x3 filter ``g`` (correlation, as every conv in Ember)::

    Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A          Bᵀ = [[1, 0, −1, 0],    G = [[1,    0,   0],
                                                     [0, 1,  1, 0],         [1/2, 1/2, 1/2],
    Aᵀ = [[1, 1,  1,  0],                            [0, −1, 1, 0],         [1/2, −1/2, 1/2],
          [0, 1, −1, −1]]                            [0, 1,  0, −1]]        [0,    0,   1]]

Summing over input channels inside the brackets makes it one matrix product per position
``(ξ, ν)`` of the 4x4 transformed tile: ``M[ξν] = U[ξν] · V[ξν]`` with ``U = G g Gᵀ``
(C_out, C_in) and ``V = Bᵀ d B`` (C_in, N·tiles). The gradients are the same structure
(``ember/ops/conv.py`` uses all three):

* input gradient: the full correlation of dY with the 180°-rotated kernel (lecture 002,
  see ``conv_input_grad``), itself a stride-1 3x3 conv of dY, padded by ``2 − p`` on each side,
  with the filter ``W[k, c, 2 − u, 2 − v]`` (C_in and C_out swapped);
* weight gradient: ``dU[ξν] = (A dY Aᵀ)[ξν] · V[ξν]ᵀ`` summed over tiles, then
  ``dW = Gᵀ dU G``.

Transforms are sums and differences (and halvings, for the filter), computed in a fixed order
written out below; ``ember.kernels.winograd`` does the same operations in the same order
without the NumPy temporaries, and the tests hold it to these functions bit for bit. Float32
error against a float64 convolution: see ``tests/ops/test_winograd.py`` (measured there on
ResNet-sized reductions and stated in the README's speed section).
"""
from functools import partial

import numpy as np

from ember import _parallel
from ember.kernels import compiled
from ember.ops._im2col import workspace

# Elements between consecutive planes of a transformed stack (beyond the plane itself): the
# 16 planes of a stack are otherwise a multiple of 4 KiB apart, their streams fall into the
# same cache sets, and a transform reading or writing all 16 at once ran 5x slower (input
# transform at ResNet's 64x32x32, batch 32: 27 ms, 5 ms with the planes offset).
PLANE_PAD = 16

# When convs use this module: "auto" with the compiled transforms only (``ember.kernels``),
# "always" (the NumPy transforms too; for tests), "never". Measured on one core (benchmarks/
# conv_algorithms.py), forward + backward of ResNet-18 (CIFAR) 3x3 convs, batch 32: with the
# compiled transforms Winograd took 0.64-0.92 of im2col's time at every width from 16 to 512
# channels; with the NumPy transforms (a dozen passes over memory each) 0.94-1.6.
POLICY = "auto"
# ... and from this many input and output channels: the thin GEMMs of fewer channels leave
# nothing for the saved multiplications to win against the transforms (ResNet's 3->64 stem).
MIN_CHANNELS = 16
# The compiled transforms go by rows of tiles (vectorized along the row) from this many tiles a
# row, one tile at a time below (see ember.kernels.winograd.input_transform_by_rows)
ROW_TILES = 8


def applies(x_shape, weight_shape, stride, padding, dilation, groups, dtype):
    """True for the convs this module computes (under ``POLICY``): 2-D, 3x3, stride 1, no
    dilation, one group, at least ``MIN_CHANNELS`` channels in and out, padding ≤ 2 per side
    (the input gradient pads by ``2 − p``), float32/float64, a non-empty batch."""
    if POLICY == "never" or (POLICY == "auto" and _compiled() is None):
        return False
    return (len(weight_shape) == 4 and tuple(weight_shape[2:]) == (3, 3)
            and tuple(stride) == (1, 1) and tuple(dilation) == (1, 1) and groups == 1
            and weight_shape[0] >= MIN_CHANNELS and weight_shape[1] >= MIN_CHANNELS
            and all(0 <= lo <= 2 and 0 <= hi <= 2 for lo, hi in padding)
            and dtype in (np.float32, np.float64) and x_shape[0] > 0
            and all(s + lo + hi >= 3 for s, (lo, hi) in zip(x_shape[2:], padding)))


def _compiled():
    kernels = compiled()
    return None if kernels is None else kernels.winograd


def stack(rows, cols, dtype, name=None):
    """A stack of 16 (rows, cols) planes, ``PLANE_PAD`` elements more than a plane apart:
    ``(view, planes)``, the (16, rows, cols) view for the GEMMs and the (16, stride) array of
    planes the compiled transforms write. A workspace when ``name`` is given, else fresh."""
    shape = (16, rows * cols + PLANE_PAD)
    planes = workspace(name, shape, dtype) if name else np.empty(shape, dtype)
    return planes[:, :rows * cols].reshape(16, rows, cols), planes


def tile_grid(out_size):
    """Tiles per dim: ``⌈O / 2⌉`` (a last, half-used tile when O is odd)."""
    return tuple(-(-o // 2) for o in out_size)


# --------------------------------------------------------------------------- the filter

def filter_transform(w, flip=False):
    """``U = G g Gᵀ`` per filter: w (C_out, C_in, 3, 3) → stack (16, C_out, C_in) (see
    :func:`stack`), row-major over (ξ, ν). Rows first: ``t0 = g0, t1 = (g0 + g1 + g2)/2,
    t2 = (g0 − g1 + g2)/2, t3 = g2``. With ``flip`` the planes are written in the order
    :data:`FLIP` along each axis (see :func:`flipped_filter_transform`)."""
    u, planes = stack(w.shape[0], w.shape[1], w.dtype)
    kernels = _compiled()
    if kernels is not None:
        transform = kernels.flipped_filter_transform if flip else kernels.filter_transform
        w, channels = np.ascontiguousarray(w), w.shape[1]
        # blocks of filters on Ember's threads (ResNet-18's 512x512: 2.2 ms on one thread)
        _parallel.run([partial(transform, w, planes, rows.start * channels, rows.stop * channels)
                       for rows in _parallel.batch_parts(w.shape[0], 16 * w.shape[0] * channels)])
        return u
    half = w.dtype.type(0.5)
    g = np.ascontiguousarray(w.transpose(2, 3, 0, 1))          # (3, 3, C_out, C_in)
    rows = (g[0], (g[0] + g[1] + g[2]) * half, (g[0] - g[1] + g[2]) * half, g[2])
    target = u.reshape(4, 4, w.shape[0], w.shape[1])
    at = FLIP if flip else range(4)
    for i, t in enumerate(rows):
        target[at[i], at[0]] = t[0]
        np.multiply(t[0] + t[1] + t[2], half, out=target[at[i], at[1]])
        np.multiply(t[0] - t[1] + t[2], half, out=target[at[i], at[2]])
        target[at[i], at[3]] = t[2]
    return u


# G·R = P·G for the reversal R of a filter's 3 taps, with P the swap of rows 0 and 3 of G
FLIP = (3, 1, 2, 0)


def flipped_filter_transform(w):
    """The transformed filter of the input gradient, (16, C_in, C_out): the transform of
    ``W[k, c, 2 − u, 2 − v]`` with the channel roles swapped. Reversing the taps permutes the
    rows of G (``G R = P G``, P swapping rows 0 and 3), so this is ``P U Pᵀ``: the planes of
    :func:`filter_transform` in the order :data:`FLIP` along each axis, each plane read
    transposed (a view; the GEMM takes it as a transposed operand). The same values as
    transforming the rotated filter, up to the order of the three additions in ``t1``
    (ResNet-18's 512x512 filter: 6.2 -> 2.1 ms, one thread, against the transposing copy of
    the rotated filter and its transform)."""
    return filter_transform(w, flip=True).transpose(0, 2, 1)


def filter_from_transform(shares, weight_shape):
    """``dW = Gᵀ dU G`` with ``dU = shares[0] + shares[1] + ...`` (the batch parts' sums, added
    in that order into ``shares[0]``): the adjoint of :func:`filter_transform`, dU (16, C_out,
    C_in) → (C_out, C_in, 3, 3). Rows first: ``w0 = u0 + (u1 + u2)/2, w1 = (u1 − u2)/2,
    w2 = (u1 + u2)/2 + u3``. With the compiled kernel, blocks of filters are summed and
    transformed on Ember's threads (ResNet-18's 512x512, one thread: the sum of two parts 1.5
    ms and the NumPy transform 6.5 ms, the kernel 2.1 ms)."""
    du = shares[0]
    kernels = _compiled()
    if kernels is not None and du.flags.c_contiguous:
        dw = np.empty(tuple(weight_shape[:2]) + (3, 3), du.dtype)
        channels = weight_shape[1]

        def block(rows):
            for part in shares[1:]:
                du[:, rows] += part[:, rows]
            kernels.filter_from_transform(du, dw, rows.start * channels, rows.stop * channels)
        _parallel.run([partial(block, rows)
                       for rows in _parallel.batch_parts(weight_shape[0], du.size)])
        return dw
    for part in shares[1:]:
        du += part
    half = du.dtype.type(0.5)
    u = du.reshape(4, 4, weight_shape[0], weight_shape[1])

    def along(u0, u1, u2, u3):
        mid = (u1 + u2) * half
        return u0 + mid, (u1 - u2) * half, mid + u3
    dw = np.empty((3, 3) + tuple(weight_shape[:2]), du.dtype)
    for i, row in enumerate(along(*(u[a] for a in range(4)))):
        for j, values in enumerate(along(*(row[b] for b in range(4)))):
            dw[i, j] = values
    return np.ascontiguousarray(dw.transpose(2, 3, 0, 1))


# --------------------------------------------------------------------------- the input

def _input_rows(d0, d1, d2, d3):
    """``Bᵀ`` along one axis: ``(d0 − d2, d1 + d2, d2 − d1, d1 − d3)``."""
    return d0 - d2, d1 + d2, d2 - d1, d1 - d3


def input_transform(x, padding, tiles):
    """``V = Bᵀ d B`` of every tile of ``x`` (N, C, H, W) zero-padded by ``padding``
    → workspace stack (16, C, N·th·tw), row-major over (ξ, ν), tile (ty, tx) reading the padded
    rows ``2ty .. 2ty + 3`` and columns ``2tx .. 2tx + 3``. Rows are transformed first, then
    columns, each with :func:`_input_rows`."""
    n, c = x.shape[:2]
    th, tw = tiles
    v, planes = stack(c, n * th * tw, x.dtype, "winograd_v")
    kernels = _compiled()
    if kernels is not None:
        transform = (kernels.input_transform_by_rows if tw >= ROW_TILES
                     else kernels.input_transform)
        transform(np.ascontiguousarray(x), padding[0][0], padding[1][0], th, tw, planes)
        return v
    grid = (2 * th + 2, 2 * tw + 2)
    xp = workspace("winograd_xpad", (n, c) + grid, x.dtype)
    xp.fill(0)
    (top, _), (left, _) = padding
    xp[:, :, top:top + x.shape[2], left:left + x.shape[3]] = x
    rows = _input_rows(*(xp[:, :, a:a + 2 * th - 1:2] for a in range(4)))
    target = v.reshape(4, 4, c, n, th, tw)
    for i, r in enumerate(rows):
        cols = _input_rows(*(r[..., b:b + 2 * tw - 1:2] for b in range(4)))
        for j, values in enumerate(cols):
            np.copyto(target[i, j].transpose(1, 0, 2, 3), values)
    return v


# --------------------------------------------------------------------------- the output

def output_transform(m, planes, out_size, bias, out):
    """``Y = Aᵀ M A`` of every tile, cropped to ``out_size``, ``+ bias``: m (16, C_out, N·T)
    (a :func:`stack`, whose ``planes`` the compiled transform reads) → ``out``
    (N, C_out, *out_size). Rows first: ``s0 = m0 + m1 + m2``,
    ``s1 = m1 − m2 − m3`` (left to right), then the same along columns."""
    n, k = out.shape[:2]
    th, tw = tile_grid(out_size)
    kernels = _compiled()
    if kernels is not None:
        transform = (kernels.output_transform_by_rows if tw >= ROW_TILES
                     else kernels.output_transform)
        transform(planes, th, tw, bias, out)
        return out
    t = m.reshape(4, 4, k, n, th, tw)
    full = np.empty((n, k, 2 * th, 2 * tw), m.dtype)
    for i, row in enumerate(_output_rows(*(t[a] for a in range(4)))):
        for j, values in enumerate(_output_rows(*(row[b] for b in range(4)))):
            np.copyto(full[:, :, i::2, j::2], values.transpose(1, 0, 2, 3))
    cropped = full[:, :, :out_size[0], :out_size[1]]
    if bias is None:
        np.copyto(out, cropped)
    else:
        np.add(cropped, bias.reshape(1, -1, 1, 1), out=out)
    return out


def _output_rows(m0, m1, m2, m3):
    """``Aᵀ`` along one axis: ``(m0 + m1 + m2, m1 − m2 − m3)``."""
    return m0 + m1 + m2, m1 - m2 - m3


# --------------------------------------------------------------------------- the gradient

def _grad_rows(y0, y1):
    """``A`` along one axis (the adjoint of :func:`_output_rows`): ``(y0, y0 + y1, y0 − y1,
    −y1)``."""
    return y0, y0 + y1, y0 - y1, -y1


def grad_transform(dy, tiles):
    """``A dY Aᵀ`` of every 2x2 tile of dY (N, C_out, O_h, O_w), the half-used last tiles
    padded with zeros (the outputs they would add do not exist): → workspace stack
    (16, C_out, N·th·tw), rows first."""
    n, k = dy.shape[:2]
    th, tw = tiles
    g, planes = stack(k, n * th * tw, dy.dtype, "winograd_dy")
    kernels = _compiled()
    if kernels is not None:
        transform = (kernels.grad_transform_by_rows if tw >= ROW_TILES
                     else kernels.grad_transform)
        transform(np.ascontiguousarray(dy), th, tw, planes)
        return g
    padded = workspace("winograd_dypad", (n, k, 2 * th, 2 * tw), dy.dtype)
    padded.fill(0)
    padded[:, :, :dy.shape[2], :dy.shape[3]] = dy
    target = g.reshape(4, 4, k, n, th, tw)
    for i, r in enumerate(_grad_rows(padded[:, :, 0::2], padded[:, :, 1::2])):
        for j, values in enumerate(_grad_rows(r[..., 0::2], r[..., 1::2])):
            np.copyto(target[i, j].transpose(1, 0, 2, 3), values)
    return g


# --------------------------------------------------------------------------- the conv

def conv(x, u, padding, bias, out):
    """The stride-1 3x3 conv of ``x`` (N, C, H, W) with the transformed filter ``u``
    (16, C_out, C) (:func:`filter_transform`), padding ((top, bottom), (left, right)),
    ``+ bias`` → ``out`` (N, C_out, O_h, O_w): 16 GEMMs ``U[ξν] · V[ξν]``."""
    out_size = tuple(s + lo + hi - 2 for s, (lo, hi) in zip(x.shape[2:], padding))
    v = input_transform(x, padding, tile_grid(out_size))
    m, planes = stack(u.shape[1], v.shape[2], x.dtype, "winograd_m")
    np.matmul(u, v, out=m)
    return output_transform(m, planes, out_size, bias, out)


def input_grad_padding(padding):
    """The padding of the input gradient's conv of dY: ``2 − p`` on each side."""
    return tuple((2 - lo, 2 - hi) for lo, hi in padding)


def weight_grad_transformed(dy, x, padding):
    """``dU = Σ_tiles (A dY Aᵀ) · Vᵀ`` (16, C_out, C_in) for one batch part; the parts' sums
    go through :func:`filter_from_transform` once."""
    tiles = tile_grid(dy.shape[2:])
    g = grad_transform(dy, tiles)
    v = input_transform(x, padding, tiles)
    return np.matmul(g, v.transpose(0, 2, 1))
