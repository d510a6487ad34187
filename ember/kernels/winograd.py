"""Compiled transforms of Winograd's F(2x2, 3x3) (``ember.ops._winograd``): the filter, input,
output and gradient transforms, tile by tile with the same float operations in the same order
as the NumPy functions (so bit for bit), without their temporaries and padded copies.

The transformed arrays are stacks of 16 planes given as a (16, stride) array whose rows hold
the planes (``ember.ops._winograd.stack``: rows a little longer than a plane, so that the 16
streams a transform reads or writes do not fall into the same cache sets), addressed through
flat unsigned offsets (Numba wraps negative signed indices around at every access, which
costs more than the transform's arithmetic).
"""
import numpy as np

from ember.kernels._jit import inline, kernel


@inline
def _transform_filters(w, planes, start, stop, first, last):
    """``G g Gᵀ`` of every filter of w (K, C, 3, 3), rows first, ``(g0, (g0 + g1 + g2)/2,
    (g0 − g1 + g2)/2, g2)`` along each axis, written to the planes with row/column 0 at index
    ``first`` and 3 at ``last`` (1 and 2 in place); filters ``start`` to ``stop`` of the K·C."""
    weights, transformed = w.reshape(-1), planes.reshape(-1)
    plane = np.uint64(planes.shape[1])
    half = w.dtype.type(0.5)
    at0, at3 = np.uint64(first), np.uint64(last)
    t = np.empty((4, 3), w.dtype)
    for kc in range(start, stop):
        base = np.uint64(9 * kc)
        for b in range(3):
            g0 = weights[base + np.uint64(b)]
            g1 = weights[base + np.uint64(3 + b)]
            g2 = weights[base + np.uint64(6 + b)]
            t[0, b] = g0
            t[1, b] = (g0 + g1 + g2) * half
            t[2, b] = (g0 - g1 + g2) * half
            t[3, b] = g2
        for a in range(4):
            at = at0 if a == 0 else (at3 if a == 3 else np.uint64(a))
            row = np.uint64(4) * at * plane + np.uint64(kc)
            transformed[row + at0 * plane] = t[a, 0]
            transformed[row + plane] = (t[a, 0] + t[a, 1] + t[a, 2]) * half
            transformed[row + np.uint64(2) * plane] = (t[a, 0] - t[a, 1] + t[a, 2]) * half
            transformed[row + at3 * plane] = t[a, 2]


@kernel
def filter_transform(w, planes, start, stop):
    """``ember.ops._winograd.filter_transform``: w (K, C, 3, 3) → planes of (K, C), the
    filters ``start`` to ``stop`` of the K·C."""
    _transform_filters(w, planes, start, stop, 0, 3)


@kernel
def flipped_filter_transform(w, planes, start, stop):
    """``ember.ops._winograd.filter_transform(w, flip=True)``: the planes of
    :func:`filter_transform` with rows and columns 0 and 3 swapped."""
    _transform_filters(w, planes, start, stop, 3, 0)


@kernel
def filter_from_transform(du, dw, start, stop):
    """``ember.ops._winograd.filter_from_transform``: du (16, K, C) → dw (K, C, 3, 3),
    ``Gᵀ dU G`` with ``(u0 + mid, (u1 − u2)/2, mid + u3)``, ``mid = (u1 + u2)/2``, along the
    rows (ξ) first, then along ν; the filters ``start`` to ``stop`` of the K·C."""
    planes, weights = du.reshape(-1), dw.reshape(-1)
    plane = np.uint64(dw.shape[0] * dw.shape[1])
    half = du.dtype.type(0.5)
    r = np.empty((3, 4), du.dtype)
    for kc in range(start, stop):
        at = np.uint64(kc)
        for b in range(4):
            u0 = planes[np.uint64(b) * plane + at]
            u1 = planes[np.uint64(4 + b) * plane + at]
            u2 = planes[np.uint64(8 + b) * plane + at]
            u3 = planes[np.uint64(12 + b) * plane + at]
            mid = (u1 + u2) * half
            r[0, b] = u0 + mid
            r[1, b] = (u1 - u2) * half
            r[2, b] = mid + u3
        base = np.uint64(9 * kc)
        for i in range(3):
            mid = (r[i, 1] + r[i, 2]) * half
            weights[base + np.uint64(3 * i)] = r[i, 0] + mid
            weights[base + np.uint64(3 * i + 1)] = (r[i, 1] - r[i, 2]) * half
            weights[base + np.uint64(3 * i + 2)] = mid + r[i, 3]


@inline
def _pad_plane(values, source, height, width, top, left, grid_w, padded):
    """Copy the plane of ``height x width`` values at ``source`` into the zero-padded grid
    ``padded`` (rows of ``grid_w``) at row ``top``, column ``left``; the border stays as it
    was (zero: every plane lands at the same place)."""
    for y in range(height):
        row = np.uint64((top + y) * grid_w + left)
        start = source + np.uint64(y * width)
        for i in range(width):
            padded[row + np.uint64(i)] = values[start + np.uint64(i)]


@kernel
def input_transform(x, top, left, tiles_h, tiles_w, planes):
    """``ember.ops._winograd.input_transform``: x (N, C, H, W) zero-padded by ``top`` rows and
    ``left`` columns (and as many as the tiles need after) → planes of (C, N, th, tw),
    ``Bᵀ d B`` rows first, ``(d0 − d2, d1 + d2, d2 − d1, d1 − d3)`` along each axis."""
    batch, channels, height, width = x.shape
    grid_w = 2 * tiles_w + 2
    padded = np.zeros((2 * tiles_h + 2) * grid_w, x.dtype)
    values, transformed = x.reshape(-1), planes.reshape(-1)
    plane = np.uint64(planes.shape[1])
    r = np.empty((4, 4), x.dtype)
    for c in range(channels):
        for n in range(batch):
            _pad_plane(values, np.uint64((n * channels + c) * height * width), height, width,
                       top, left, grid_w, padded)
            tiles = np.uint64((c * batch + n) * tiles_h * tiles_w)
            for ty in range(tiles_h):
                top_row = np.uint64(2 * ty * grid_w)
                for tx in range(tiles_w):
                    corner = top_row + np.uint64(2 * tx)
                    for b in range(4):
                        d0 = padded[corner + np.uint64(b)]
                        d1 = padded[corner + np.uint64(grid_w + b)]
                        d2 = padded[corner + np.uint64(2 * grid_w + b)]
                        d3 = padded[corner + np.uint64(3 * grid_w + b)]
                        r[0, b] = d0 - d2
                        r[1, b] = d1 + d2
                        r[2, b] = d2 - d1
                        r[3, b] = d1 - d3
                    at = tiles + np.uint64(ty * tiles_w + tx)
                    for a in range(4):
                        out = np.uint64(4 * a) * plane + at
                        transformed[out] = r[a, 0] - r[a, 2]
                        transformed[out + plane] = r[a, 1] + r[a, 2]
                        transformed[out + np.uint64(2) * plane] = r[a, 2] - r[a, 1]
                        transformed[out + np.uint64(3) * plane] = r[a, 1] - r[a, 3]


@kernel
def input_transform_by_rows(x, top, left, tiles_h, tiles_w, planes):
    """:func:`input_transform` by rows of tiles, for wide rows: the row transform of the four
    padded rows under a row of tiles, for every column (one pass; neighbouring tiles share two
    columns), then the column transform of each of its four rows for every tile, writing a run
    of consecutive tiles in each of the 16 planes. Both loops run along the row, so LLVM
    vectorizes them; the same float operations, bit for bit. One thread, 16 images: ResNet-18's
    64x32x32 input 2.3 -> 0.94 ms, 128x16x16 1.15 -> 0.78 ms; at 8 tiles a row and fewer the
    loops are too short and one tile at a time is faster (256x8x8: 0.60 against 0.64 ms)."""
    batch, channels, height, width = x.shape
    grid_w = 2 * tiles_w + 2
    padded = np.zeros((2 * tiles_h + 2) * grid_w, x.dtype)
    values, transformed = x.reshape(-1), planes.reshape(-1)
    plane = np.uint64(planes.shape[1])
    r = np.empty((4, grid_w), x.dtype)
    for c in range(channels):
        for n in range(batch):
            _pad_plane(values, np.uint64((n * channels + c) * height * width), height, width,
                       top, left, grid_w, padded)
            tiles = np.uint64((c * batch + n) * tiles_h * tiles_w)
            for ty in range(tiles_h):
                top_row = np.uint64(2 * ty * grid_w)
                for j in range(grid_w):
                    at = top_row + np.uint64(j)
                    d0 = padded[at]
                    d1 = padded[at + np.uint64(grid_w)]
                    d2 = padded[at + np.uint64(2 * grid_w)]
                    d3 = padded[at + np.uint64(3 * grid_w)]
                    r[0, j] = d0 - d2
                    r[1, j] = d1 + d2
                    r[2, j] = d2 - d1
                    r[3, j] = d1 - d3
                first = tiles + np.uint64(ty * tiles_w)
                for a in range(4):
                    p0 = np.uint64(4 * a) * plane + first
                    p1, p2, p3 = p0 + plane, p0 + np.uint64(2) * plane, p0 + np.uint64(3) * plane
                    for tx in range(tiles_w):
                        e0, e1 = r[a, 2 * tx], r[a, 2 * tx + 1]
                        e2, e3 = r[a, 2 * tx + 2], r[a, 2 * tx + 3]
                        t = np.uint64(tx)
                        transformed[p0 + t] = e0 - e2
                        transformed[p1 + t] = e1 + e2
                        transformed[p2 + t] = e2 - e1
                        transformed[p3 + t] = e1 - e3


@kernel
def output_transform(planes, tiles_h, tiles_w, bias, out):
    """``ember.ops._winograd.output_transform``: planes of (K, N, th, tw) → out
    (N, K, O_h, O_w), ``Aᵀ M A`` rows first, ``(m0 + m1 + m2, m1 − m2 − m3)`` along each axis,
    cropped, ``+ bias[k]`` when given."""
    batch, kernels_out, out_h, out_w = out.shape
    transformed, result = planes.reshape(-1), out.reshape(-1)
    plane = np.uint64(planes.shape[1])
    s = np.empty((2, 4), out.dtype)
    for k in range(kernels_out):
        for n in range(batch):
            tiles = np.uint64((k * batch + n) * tiles_h * tiles_w)
            image = np.uint64((n * kernels_out + k) * out_h * out_w)
            for ty in range(tiles_h):
                for tx in range(tiles_w):
                    at = tiles + np.uint64(ty * tiles_w + tx)
                    for b in range(4):
                        column = np.uint64(b) * plane + at
                        m0 = transformed[column]
                        m1 = transformed[column + np.uint64(4) * plane]
                        m2 = transformed[column + np.uint64(8) * plane]
                        m3 = transformed[column + np.uint64(12) * plane]
                        s[0, b] = m0 + m1 + m2
                        s[1, b] = m1 - m2 - m3
                    for i in range(2):
                        y = 2 * ty + i
                        if y >= out_h:
                            continue
                        first = s[i, 0] + s[i, 1] + s[i, 2]
                        second = s[i, 1] - s[i, 2] - s[i, 3]
                        if bias is not None:
                            first = first + bias[k]
                            second = second + bias[k]
                        cell = image + np.uint64(y * out_w + 2 * tx)
                        result[cell] = first
                        if 2 * tx + 1 < out_w:
                            result[cell + np.uint64(1)] = second


@kernel
def output_transform_by_rows(planes, tiles_h, tiles_w, bias, out):
    """:func:`output_transform` by rows of tiles (see :func:`input_transform_by_rows`), bit
    for bit (64x32x32, 16 images: 1.6 -> 0.8 ms)."""
    batch, kernels_out, out_h, out_w = out.shape
    transformed, result = planes.reshape(-1), out.reshape(-1)
    plane = np.uint64(planes.shape[1])
    s = np.empty((2, 4, tiles_w), out.dtype)
    whole = out_w // 2                  # tiles whose second column is inside the output
    for k in range(kernels_out):
        shift = out.dtype.type(0) if bias is None else bias[k]
        for n in range(batch):
            tiles = np.uint64((k * batch + n) * tiles_h * tiles_w)
            image = np.uint64((n * kernels_out + k) * out_h * out_w)
            for ty in range(tiles_h):
                first = tiles + np.uint64(ty * tiles_w)
                for b in range(4):
                    c0 = np.uint64(b) * plane + first
                    c1, c2 = c0 + np.uint64(4) * plane, c0 + np.uint64(8) * plane
                    c3 = c0 + np.uint64(12) * plane
                    for tx in range(tiles_w):
                        t = np.uint64(tx)
                        m0, m1 = transformed[c0 + t], transformed[c1 + t]
                        m2, m3 = transformed[c2 + t], transformed[c3 + t]
                        s[0, b, tx] = m0 + m1 + m2
                        s[1, b, tx] = m1 - m2 - m3
                for i in range(2):
                    y = 2 * ty + i
                    if y >= out_h:
                        continue
                    row = image + np.uint64(y * out_w)
                    if bias is None:
                        for tx in range(whole):
                            cell = row + np.uint64(2 * tx)
                            result[cell] = s[i, 0, tx] + s[i, 1, tx] + s[i, 2, tx]
                            result[cell + np.uint64(1)] = s[i, 1, tx] - s[i, 2, tx] - s[i, 3, tx]
                    else:
                        for tx in range(whole):
                            cell = row + np.uint64(2 * tx)
                            result[cell] = (s[i, 0, tx] + s[i, 1, tx] + s[i, 2, tx]) + shift
                            result[cell + np.uint64(1)] = (s[i, 1, tx] - s[i, 2, tx]
                                                           - s[i, 3, tx]) + shift
                    if whole < tiles_w:         # an odd width: the last tile's first column
                        value = s[i, 0, whole] + s[i, 1, whole] + s[i, 2, whole]
                        if bias is not None:
                            value = value + shift
                        result[row + np.uint64(2 * whole)] = value


@kernel
def grad_transform(dy, tiles_h, tiles_w, planes):
    """``ember.ops._winograd.grad_transform``: dy (N, K, O_h, O_w) → planes of
    (K, N, th, tw), ``A dY Aᵀ`` rows first, ``(y0, y0 + y1, y0 − y1, −y1)`` along each axis,
    the half-used last tiles read as zeros."""
    batch, kernels_out, out_h, out_w = dy.shape
    values, transformed = dy.reshape(-1), planes.reshape(-1)
    plane = np.uint64(planes.shape[1])
    zero = dy.dtype.type(0)
    y = np.empty((2, 2), dy.dtype)
    q = np.empty((4, 2), dy.dtype)
    for k in range(kernels_out):
        for n in range(batch):
            image = np.uint64((n * kernels_out + k) * out_h * out_w)
            tiles = np.uint64((k * batch + n) * tiles_h * tiles_w)
            for ty in range(tiles_h):
                for tx in range(tiles_w):
                    for a in range(2):
                        for b in range(2):
                            row, col = 2 * ty + a, 2 * tx + b
                            y[a, b] = (values[image + np.uint64(row * out_w + col)]
                                       if row < out_h and col < out_w else zero)
                    for b in range(2):
                        q[0, b] = y[0, b]
                        q[1, b] = y[0, b] + y[1, b]
                        q[2, b] = y[0, b] - y[1, b]
                        q[3, b] = -y[1, b]
                    at = tiles + np.uint64(ty * tiles_w + tx)
                    for a in range(4):
                        out = np.uint64(4 * a) * plane + at
                        transformed[out] = q[a, 0]
                        transformed[out + plane] = q[a, 0] + q[a, 1]
                        transformed[out + np.uint64(2) * plane] = q[a, 0] - q[a, 1]
                        transformed[out + np.uint64(3) * plane] = -q[a, 1]


@kernel
def grad_transform_by_rows(dy, tiles_h, tiles_w, planes):
    """:func:`grad_transform` by rows of tiles (see :func:`input_transform_by_rows`), bit for
    bit; the half-used last tiles read zeros from the zero-padded row buffer (64x32x32, 16
    images: 2.0 -> 0.95 ms)."""
    batch, kernels_out, out_h, out_w = dy.shape
    values, transformed = dy.reshape(-1), planes.reshape(-1)
    plane = np.uint64(planes.shape[1])
    span = 2 * tiles_w
    rows = np.zeros((2, span), dy.dtype)       # the two rows under a row of tiles, zero-padded
    q = np.empty((4, span), dy.dtype)
    for k in range(kernels_out):
        for n in range(batch):
            image = np.uint64((n * kernels_out + k) * out_h * out_w)
            tiles = np.uint64((k * batch + n) * tiles_h * tiles_w)
            for ty in range(tiles_h):
                for a in range(2):
                    y = 2 * ty + a
                    if y < out_h:
                        line = image + np.uint64(y * out_w)
                        for j in range(out_w):
                            rows[a, j] = values[line + np.uint64(j)]
                    else:
                        for j in range(out_w):
                            rows[a, j] = 0
                for j in range(span):
                    y0, y1 = rows[0, j], rows[1, j]
                    q[0, j] = y0
                    q[1, j] = y0 + y1
                    q[2, j] = y0 - y1
                    q[3, j] = -y1
                first = tiles + np.uint64(ty * tiles_w)
                for a in range(4):
                    p0 = np.uint64(4 * a) * plane + first
                    p1, p2, p3 = p0 + plane, p0 + np.uint64(2) * plane, p0 + np.uint64(3) * plane
                    for tx in range(tiles_w):
                        e0, e1 = q[a, 2 * tx], q[a, 2 * tx + 1]
                        t = np.uint64(tx)
                        transformed[p0 + t] = e0
                        transformed[p1 + t] = e0 + e1
                        transformed[p2 + t] = e0 - e1
                        transformed[p3 + t] = -e1
