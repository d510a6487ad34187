"""Hand-crafted features and sliding windows (lecture 003 「传统方法：HOG」, 「滑动窗口检测」;
inventory F6, F7, F8).

HOG, Histograms of Oriented Gradients (Dalal and Triggs 2005): "split the image into cells
and compute a histogram of gradient orientations in each", ``H x W x 3 -> H' x W' x C'``.
:func:`hog` equals ``skimage.feature.hog`` for the same arguments; its stages are public so
that a detector computes the cell histograms of a whole image once and scores every window
on the map (:func:`hog_cells`, :func:`hog_blocks`, :func:`template_response`), at every scale
of a pyramid (:func:`hog_pyramid`). A window of ``(h, w)`` pixels slides over an ``H x W``
image in ``(H - h + 1)(W - w + 1)`` positions (:func:`sliding_window_count`; ⚠ the slide
writes ``(H - by)(W - bx)``, which drops the ``+ 1``).
"""
import numpy as np

from ember.classical._arguments import pair
from ember.classical.pyramids import gaussian_pyramid

__all__ = ["hog", "hog_cells", "hog_blocks", "hog_pyramid", "template_response",
           "sliding_window_count", "sliding_windows", "window_shapes"]

BLOCK_NORMS = ("L1", "L1-sqrt", "L2", "L2-Hys")
_EPS = 1e-5                # the blocks' normaliser guard, as scikit-image


def _positive_pair(value, name, caller):
    return pair(value, name, caller, int, minimum=1)


def _centred_gradient(channel):
    """``[-1, 0, 1]`` differences along rows and columns, 0 on the image's outer ring
    (Dalal and Triggs found the unsmoothed centred difference best)."""
    g_row = np.zeros_like(channel)
    g_col = np.zeros_like(channel)
    g_row[1:-1, :] = channel[2:, :] - channel[:-2, :]
    g_col[:, 1:-1] = channel[:, 2:] - channel[:, :-2]
    return g_row, g_col


def _float_image(image, channel_axis, caller):
    image = np.asarray(image)
    if image.dtype.kind not in "biuf":
        raise TypeError(f"{caller}: expected a real-valued image, got dtype {image.dtype}")
    image = np.atleast_2d(image)
    dtype = np.float32 if image.dtype in (np.float16, np.float32) else np.float64
    image = image.astype(dtype, copy=False)
    if channel_axis is not None:
        image = np.moveaxis(image, channel_axis, -1)
    spatial = image.ndim - (channel_axis is not None)
    if spatial != 2:
        raise ValueError(f"{caller}: expected a 2-D image (with channel_axis for a colour "
                         f"image), got shape {image.shape} with channel_axis={channel_axis}")
    return image


def hog_cells(image, orientations=9, pixels_per_cell=(8, 8), transform_sqrt=False, *,
              channel_axis=None):
    """HOG's first stages: the per-cell histograms of gradient orientation, unnormalised.

    1. optionally ``sqrt`` of the image (power-law compression against illumination);
    2. gradient ``(g_row, g_col)`` by centred differences ``[-1, 0, 1]``; in a colour image
       every pixel keeps the channel whose gradient is largest;
    3. unsigned orientation ``theta = atan2(g_row, g_col)`` in degrees modulo 180, magnitude
       ``sqrt(g_row^2 + g_col^2)``;
    4. every pixel of the cell grid adds its magnitude to the bin ``[180 k/n, 180 (k+1)/n)``
       of its cell (hard binning; the bin edges are single-precision numbers, as in
       scikit-image). Pixels beyond the last whole cell are ignored.

    ``image`` ``(H, W)`` (or with a channel axis) -> ``(H // ch, W // cw, orientations)``,
    float64. scikit-image sums each cell in single precision, so the two agree to float32
    rounding; for odd cell sizes scikit-image also leaves out the last row and column of
    every cell, which this counts.
    """
    image = _float_image(image, channel_axis, "hog_cells")
    cell_rows, cell_cols = _positive_pair(pixels_per_cell, "pixels_per_cell", "hog_cells")
    if int(orientations) < 1:
        raise ValueError(f"hog_cells: orientations must be >= 1, got {orientations}")
    orientations = int(orientations)
    if transform_sqrt:
        image = np.sqrt(image)
    if channel_axis is None:
        g_row, g_col = _centred_gradient(image)
    else:
        grads = [_centred_gradient(image[..., c]) for c in range(image.shape[-1])]
        g_rows = np.stack([g[0] for g in grads], axis=-1)
        g_cols = np.stack([g[1] for g in grads], axis=-1)
        strongest = np.hypot(g_rows, g_cols).argmax(axis=-1)[..., None]
        g_row = np.take_along_axis(g_rows, strongest, -1)[..., 0]
        g_col = np.take_along_axis(g_cols, strongest, -1)[..., 0]
    n_rows, n_cols = image.shape[0] // cell_rows, image.shape[1] // cell_cols
    g_row = g_row[:n_rows * cell_rows, :n_cols * cell_cols].astype(np.float64)
    g_col = g_col[:n_rows * cell_rows, :n_cols * cell_cols].astype(np.float64)
    magnitude = np.hypot(g_col, g_row)
    theta = np.arctan2(g_row, g_col) * (180 / np.pi) % 180
    upper_edges = np.float32(180.0 / orientations * np.arange(1, orientations + 1)).astype(
        np.float64)
    bins = np.searchsorted(upper_edges, theta, side="right")    # == orientations: past the last edge
    cell = (np.arange(n_rows * cell_rows) // cell_rows)[:, None] * n_cols + (
        np.arange(n_cols * cell_cols) // cell_cols)[None, :]
    slot = cell * (orientations + 1) + bins
    histogram = np.bincount(slot.ravel(), weights=magnitude.ravel(),
                            minlength=n_rows * n_cols * (orientations + 1))
    return histogram.reshape(n_rows, n_cols, orientations + 1)[..., :orientations]


def hog_blocks(cells, cells_per_block=(3, 3), block_norm="L2-Hys"):
    """HOG's last stage: every block of ``cells_per_block`` neighbouring cells (overlapping,
    one cell apart) normalised on its own, for invariance to local contrast.

    ``cells`` ``(R, C, bins)`` -> ``(R - br + 1, C - bc + 1, br, bc, bins)``. With ``v`` the
    block and ``e = 1e-5``: ``'L1'`` ``v / (|v|_1 + e)``; ``'L1-sqrt'`` its square root;
    ``'L2'`` ``v / sqrt(|v|_2^2 + e^2)``; ``'L2-Hys'`` (Dalal and Triggs) that, clipped at 0.2
    and normalised again.
    """
    cells = np.asarray(cells, dtype=np.float64)
    if cells.ndim != 3:
        raise ValueError(f"hog_blocks: cells must be (rows, cols, bins), got shape {cells.shape}")
    block_rows, block_cols = _positive_pair(cells_per_block, "cells_per_block", "hog_blocks")
    if block_norm not in BLOCK_NORMS:
        raise ValueError(f"hog_blocks: block_norm must be one of {BLOCK_NORMS}, got {block_norm!r}")
    if cells.shape[0] < block_rows or cells.shape[1] < block_cols:
        raise ValueError(f"hog_blocks: {cells.shape[0]}x{cells.shape[1]} cells cannot hold a "
                         f"block of {block_rows}x{block_cols} cells")
    blocks = np.lib.stride_tricks.sliding_window_view(cells, (block_rows, block_cols),
                                                      axis=(0, 1))
    blocks = blocks.transpose(0, 1, 3, 4, 2)                    # (R', C', br, bc, bins)
    inner = (2, 3, 4)
    if block_norm in ("L1", "L1-sqrt"):
        out = blocks / (np.abs(blocks).sum(axis=inner, keepdims=True) + _EPS)
        return np.sqrt(out) if block_norm == "L1-sqrt" else out
    out = blocks / np.sqrt((blocks ** 2).sum(axis=inner, keepdims=True) + _EPS ** 2)
    if block_norm == "L2-Hys":
        out = np.minimum(out, 0.2)
        out = out / np.sqrt((out ** 2).sum(axis=inner, keepdims=True) + _EPS ** 2)
    return out


def hog(image, orientations=9, pixels_per_cell=(8, 8), cells_per_block=(3, 3),
        block_norm="L2-Hys", transform_sqrt=False, feature_vector=True, *, channel_axis=None):
    """Histogram of Oriented Gradients of ``image`` (lecture 003, Dalal and Triggs 2005):
    :func:`hog_cells` then :func:`hog_blocks`.

    Returns ``(n_blocks_row, n_blocks_col, br, bc, orientations)`` or, with
    ``feature_vector=True``, that raveled; float32 for a float32 image, else float64.
    Equal to ``skimage.feature.hog`` with the same arguments (see :func:`hog_cells` for the
    rounding and odd cell sizes). Dalal and Triggs used 9 bins, 8x8 cells and 2x2 blocks
    with ``'L2-Hys'``; the defaults are scikit-image's (3x3 blocks).
    """
    dtype = _float_image(image, channel_axis, "hog").dtype
    cells = hog_cells(image, orientations, pixels_per_cell, transform_sqrt,
                      channel_axis=channel_axis)
    block_rows, block_cols = _positive_pair(cells_per_block, "cells_per_block", "hog")
    if cells.shape[0] < block_rows or cells.shape[1] < block_cols:
        cell_rows, cell_cols = _positive_pair(pixels_per_cell, "pixels_per_cell", "hog")
        raise ValueError(f"hog: the image {np.shape(image)} is too small for blocks of "
                         f"{block_rows}x{block_cols} cells of {cell_rows}x{cell_cols} pixels: "
                         f"it needs at least {block_rows * cell_rows} rows and "
                         f"{block_cols * cell_cols} columns")
    blocks = hog_blocks(cells, cells_per_block, block_norm).astype(dtype)
    return blocks.ravel() if feature_vector else blocks


def hog_pyramid(image, downscale=2 ** 0.25, min_shape=None, orientations=9,
                pixels_per_cell=(8, 8), cells_per_block=(3, 3), block_norm="L2-Hys",
                transform_sqrt=False, *, channel_axis=None):
    """HOG maps of the image at every scale of its Gaussian pyramid (lecture 003: "don't
    forget multiple scales: a HOG pyramid"), so that one window size finds objects of many
    sizes.

    Returns ``[(scale, blocks), ...]`` from the full image down: ``blocks`` the
    :func:`hog` map ``(R, C, br, bc, bins)`` of the level, ``scale = (H / H_k, W / W_k)`` the
    factor from the level's pixel coordinates back to the image's (a window at level
    position ``(y, x)`` covers image position ``(y * scale[0], x * scale[1])``). Levels shrink
    by ``downscale`` (:func:`~ember.classical.pyramids.gaussian_pyramid`) while they are at
    least ``min_shape`` (default one block of cells) in both directions.
    """
    image = _float_image(image, channel_axis, "hog_pyramid")
    cell_rows, cell_cols = _positive_pair(pixels_per_cell, "pixels_per_cell", "hog_pyramid")
    block_rows, block_cols = _positive_pair(cells_per_block, "cells_per_block", "hog_pyramid")
    if min_shape is None:
        min_shape = (block_rows * cell_rows, block_cols * cell_cols)
    min_rows, min_cols = _positive_pair(min_shape, "min_shape", "hog_pyramid")
    height, width = image.shape[:2]
    levels = []
    # the Gaussian pyramid smooths only the spatial axes (a colour image keeps its channels)
    for level in gaussian_pyramid(image, downscale=downscale, axes=(0, 1)):
        rows, cols = level.shape[:2]
        if rows < min_rows or cols < min_cols:
            break
        cells = hog_cells(level, orientations, pixels_per_cell, transform_sqrt,
                          channel_axis=None if channel_axis is None else -1)
        levels.append(((height / rows, width / cols),
                       hog_blocks(cells, cells_per_block, block_norm)))
    return levels


def template_response(feature_map, template, bias=0.0):
    """A linear template correlated over a feature map: the detector's response map (lecture
    003: "at test time, convolve the template over the HOG map, find local maxima").

    ``feature_map`` ``(R, C, *F)`` (e.g. a HOG block map), ``template`` ``(r, c, *F)`` (e.g.
    a linear SVM's weights reshaped to a window's blocks) -> ``(R - r + 1, C - c + 1)``:
    ``response[i, j] = sum_{a, b} <feature_map[i + a, j + b], template[a, b]> + bias``, the
    window's score, computed as one matrix-vector product per template offset.
    """
    feature_map = np.asarray(feature_map, dtype=np.float64)
    template = np.asarray(template, dtype=np.float64)
    if feature_map.ndim < 2 or template.ndim != feature_map.ndim or \
            feature_map.shape[2:] != template.shape[2:]:
        raise ValueError(f"template_response: template {template.shape} must be (r, c, *F) for "
                         f"the feature map {feature_map.shape} (R, C, *F)")
    out_rows = feature_map.shape[0] - template.shape[0] + 1
    out_cols = feature_map.shape[1] - template.shape[1] + 1
    if out_rows < 1 or out_cols < 1:
        return np.empty((max(out_rows, 0), max(out_cols, 0)))
    response = np.full((out_rows, out_cols), float(bias))
    for a in range(template.shape[0]):
        for b in range(template.shape[1]):
            window = feature_map[a:a + out_rows, b:b + out_cols].reshape(out_rows, out_cols, -1)
            response += window @ template[a, b].ravel()
    return response


def sliding_window_count(image_shape, window_shape, step=1):
    """How many windows of ``window_shape = (h, w)`` fit in an ``image_shape = (H, W)`` image at
    ``step`` pixels apart: ``(floor((H - h) / step) + 1) * (floor((W - w) / step) + 1)``, i.e.
    ``(H - h + 1)(W - w + 1)`` at step 1 (lecture 003 「一共有多少窗口?」; ⚠ the slide's
    ``(H - by)(W - bx)`` drops the ``+ 1``: a window as large as the image fits once, not 0
    times). 0 if the window is larger than the image."""
    height, width = _positive_pair(image_shape, "image_shape", "sliding_window_count")
    h, w = _positive_pair(window_shape, "window_shape", "sliding_window_count")
    step = _positive_pair(step, "step", "sliding_window_count")
    if h > height or w > width:
        return 0
    return ((height - h) // step[0] + 1) * ((width - w) // step[1] + 1)


def sliding_windows(image_shape, window_shape, step=1):
    """Every window position as a box ``(x0, y0, x1, y1)`` (``x1 = x0 + w``, exclusive),
    row by row: an int64 array ``(sliding_window_count(...), 4)``."""
    height, width = _positive_pair(image_shape, "image_shape", "sliding_windows")
    h, w = _positive_pair(window_shape, "window_shape", "sliding_windows")
    step = _positive_pair(step, "step", "sliding_windows")
    if h > height or w > width:
        return np.empty((0, 4), dtype=np.int64)
    y0, x0 = np.meshgrid(np.arange(0, height - h + 1, step[0]),
                         np.arange(0, width - w + 1, step[1]), indexing="ij")
    x0, y0 = x0.ravel(), y0.ravel()
    return np.stack([x0, y0, x0 + w, y0 + h], axis=1).astype(np.int64)


def window_shapes(base_shape, scales=(1.0,), aspect_ratios=((1.0, 1.0),)):
    """The window sizes of a multi-scale search (lecture 003): for every scale ``s`` and
    aspect ratio ``(sy, sx)``, ``(round(by * s * sy), round(bx * s * sx))`` from the template
    size ``base_shape = (by, bx)``; duplicates are kept once, in order."""
    by, bx = _positive_pair(base_shape, "base_shape", "window_shapes")
    shapes = []
    for s in scales:
        for sy, sx in aspect_ratios:
            shape = (int(round(by * s * sy)), int(round(bx * s * sx)))
            if min(shape) < 1:
                raise ValueError(f"window_shapes: scale {s} and aspect ratio {(sy, sx)} give an "
                                 f"empty window {shape}")
            if shape not in shapes:
                shapes.append(shape)
    return shapes
