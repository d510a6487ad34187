"""Region-of-interest pooling: a fixed-size feature per box (``torchvision.ops.roi_pool`` and
``roi_align``).

Fast R-CNN runs the backbone once and crops each proposal out of the feature map (lecture
003 「Fast R-CNN – ROI-Pool」, inventory B44, D20): project the box onto the map, divide it
into ``output_size`` sub-regions and pool each.

- ``roi_pool`` snaps the projected box to the grid (``round``), splits it into
  ``floor``/``ceil`` bins and max-pools each bin (torchvision's CPU kernel, bin for bin).
  Its node has two outputs, the pooled values and the flat position of each maximum; the
  gradient goes to that position only (like max pooling).
- ``roi_align`` (Mask R-CNN, lecture 003 「RoI Pool升级版: RoI Align」, inventory B45, D22)
  does not snap: each bin averages ``sampling_ratio²`` points (``ceil(roi_size /
  output_size)`` per axis when ``sampling_ratio <= 0``), each read from the map by bilinear
  interpolation, the lecture's ``f(x, y) = Σ_ij f_ij max(0, 1 − |x − x_i|) max(0, 1 − |y −
  y_j|)``. A sample outside ``[−1, size]`` reads 0, one in ``[−1, 0)`` is moved to 0 and one
  past the last pixel reads the last pixel (torchvision's kernel). ``aligned=True`` shifts
  the box by half a pixel so that pixel centres sit at ``i + 0.5``.

**RoI Align as one sparse product.** Every output value is a fixed linear combination of
feature-map pixels, the same for every channel, and the interpolation weight of a sample
factors into a row weight times a column weight. For each box and bin, the averaged row
weights ``A_y[k, p, :]`` (over the map's rows) and column weights ``A_x[k, q, :]`` are built
for all boxes at once; the weight of pixel ``(y, x)`` in bin ``(p, q)`` is
``A_y[k, p, y] A_x[k, q, x]``. These products form a sparse matrix ``M`` (bins x pixels, the
non-zeros of each bin a small rectangle), so ``output = M @ features`` with the features laid
out as ``(pixels, channels)``, and the backward pass is ``M^T @ grad``: two sparse-dense
products in compiled code, no loop over boxes. Box coordinates get no gradient (as in
torchvision's kernels).
"""

import numpy as np

import ember
from ember import nn
from ember._tensor import Tensor
from ember.autograd.function import Function
from ember.ops._checks import ntuple

__all__ = ["roi_align", "roi_pool", "RoIAlign", "RoIPool", "convert_boxes_to_roi_format"]


# ---------------------------------------------------------------------------------- boxes
def convert_boxes_to_roi_format(boxes):
    """A list of per-image boxes ``[(L_i, 4), ...]`` as one ``(sum L_i, 5)`` tensor whose first
    column is the image index (torchvision's layout of ``rois``)."""
    rows = [ember.cat([ember.full((len(b), 1), float(i), dtype=b.dtype), b], dim=1)
            for i, b in enumerate(boxes)]
    return rows[0] if len(rows) == 1 else ember.cat(rows, dim=0)


def _rois(boxes, fname):
    """``boxes`` (a ``(K, 5)`` Tensor or a list of ``(L, 4)`` Tensors) as a ``(K, 5)`` Tensor."""
    if isinstance(boxes, (list, tuple)):
        for i, b in enumerate(boxes):
            if not isinstance(b, Tensor) or b.ndim != 2 or b.shape[1] != 4:
                shape = tuple(b.shape) if isinstance(b, Tensor) else type(b).__name__
                raise ValueError(f"{fname}: boxes[{i}] must be a Tensor of shape (L, 4), got "
                                 f"{shape}")
        if not boxes:
            raise ValueError(f"{fname}: boxes is an empty list (one (L, 4) Tensor per image)")
        return convert_boxes_to_roi_format(boxes)
    if not isinstance(boxes, Tensor) or boxes.ndim != 2 or boxes.shape[1] != 5:
        shape = tuple(boxes.shape) if isinstance(boxes, Tensor) else type(boxes).__name__
        raise ValueError(f"{fname}: boxes must be a Tensor (K, 5) of (image index, x1, y1, x2, "
                         f"y2) or a list of (L, 4) Tensors, got {shape}")
    return boxes


def _check_input(input, rois, fname):
    if not isinstance(input, Tensor) or input.ndim != 4:
        shape = tuple(input.shape) if isinstance(input, Tensor) else type(input).__name__
        raise ValueError(f"{fname}: expected input of shape (N, C, H, W), got {shape}")
    if input.dtype not in (ember.float32, ember.float64):
        raise TypeError(f"{fname}: expected a float32 or float64 input, got {input.dtype}")
    index = rois._data[:, 0]
    if len(index) and (index.min() < 0 or index.max() >= input.shape[0]):
        raise ValueError(f"{fname}: box image index must lie in [0, {input.shape[0] - 1}] "
                         f"(input has {input.shape[0]} images), got values in "
                         f"[{index.min():g}, {index.max():g}]")
    rois_data = rois._data.astype(input._data.dtype, copy=False)
    if not np.isfinite(rois_data).all():
        raise ValueError(f"{fname}: boxes contain NaN or infinite coordinates")
    return rois_data


# ------------------------------------------------------------------------------ RoI Align
def _axis_weights(start, length, pooled, grid, size, dtype):
    """Averaged bilinear weights along one axis: ``(K, pooled, size)``, entry ``[k, p, i]``
    the weight of map row (or column) ``i`` in bin ``p`` of box ``k``: the mean over the
    bin's ``grid[k]`` samples ``start + p·bin + (s + 0.5)·bin/grid`` of their two-tap linear
    interpolation weights (torchvision's ``bilinear_interpolate`` along one axis)."""
    k = len(start)
    bin_size = length / pooled
    most = int(grid.max(initial=0))
    if most == 0:
        return np.zeros((k, pooled, size), dtype)
    s = np.arange(most, dtype=dtype)
    steps = np.maximum(grid, 1).astype(dtype)
    pos = (start[:, None, None] + np.arange(pooled, dtype=dtype)[None, :, None]
           * bin_size[:, None, None]
           + (s[None, None, :] + dtype(0.5)) * (bin_size / steps)[:, None, None])
    used = s[None, None, :] < grid[:, None, None]            # samples beyond grid[k] are padding
    inside = used & (pos >= -1.0) & (pos <= size)
    pos = np.maximum(pos, 0)
    low = np.floor(pos).astype(np.int64)
    last = low >= size - 1
    low = np.minimum(low, size - 1)
    high = np.where(last, size - 1, low + 1)
    frac = np.where(last, 0, pos - low).astype(dtype)
    scale = (inside / steps[:, None, None]).astype(dtype)
    weights = np.zeros((k * pooled, size), dtype)
    rows = np.arange(k * pooled).reshape(k, pooled, 1) * size
    flat = weights.reshape(-1)
    np.add.at(flat, (rows + low).ravel(), ((1 - frac) * scale).ravel())
    np.add.at(flat, (rows + high).ravel(), (frac * scale).ravel())
    return weights.reshape(k, pooled, size)


def _spans(weights):
    """The non-zero stretch of each row of ``weights`` (K, P, size): its first index
    ``(K, P)`` and the stretch values ``(K, P, L)`` (L the longest stretch; zero-padded)."""
    nonzero = weights != 0
    first = np.where(nonzero.any(-1), nonzero.argmax(-1), 0)
    last = weights.shape[-1] - 1 - nonzero[..., ::-1].argmax(-1)
    length = int(np.maximum(last - first + 1, 0).max(initial=0)) if nonzero.any() else 0
    index = first[..., None] + np.arange(max(length, 1))
    values = np.take_along_axis(weights, np.minimum(index, weights.shape[-1] - 1), -1)
    values[index >= weights.shape[-1]] = 0
    return first, values[..., :length], length


def roi_align_matrix(rois, shape, output_size, spatial_scale, sampling_ratio, aligned, dtype):
    """The sparse matrix ``M`` (CSR, ``K·PH·PW`` x ``N·H·W``) with ``roi_align(x) = M @ x``
    for features laid out as ``(N·H·W, C)``; see the module docstring."""
    import scipy.sparse
    n, _, height, width = shape
    ph, pw = output_size
    offset = 0.5 if aligned else 0.0
    coords = rois[:, 1:].astype(dtype) * dtype(spatial_scale) - dtype(offset)
    start_w, start_h, end_w, end_h = coords.T
    roi_w, roi_h = end_w - start_w, end_h - start_h
    if not aligned:                                   # malformed boxes are forced to 1x1
        roi_w, roi_h = np.maximum(roi_w, 1), np.maximum(roi_h, 1)
    if sampling_ratio > 0:
        grid_h = np.full(len(rois), sampling_ratio, np.int64)
        grid_w = grid_h
    else:
        grid_h = np.maximum(np.ceil(roi_h / ph), 0).astype(np.int64)
        grid_w = np.maximum(np.ceil(roi_w / pw), 0).astype(np.int64)
    first_y, ay, ly = _spans(_axis_weights(start_h, roi_h, ph, grid_h, height, dtype))
    first_x, ax, lx = _spans(_axis_weights(start_w, roi_w, pw, grid_w, width, dtype))
    k = len(rois)
    bins = k * ph * pw
    if ly == 0 or lx == 0:
        return scipy.sparse.csr_matrix((bins, n * height * width), dtype=dtype)
    image = rois[:, 0].astype(np.int64)
    # entry (k, p, q, j, l): pixel (first_y[k, p] + j, first_x[k, q] + l) of image[k]
    values = ay[:, :, None, :, None] * ax[:, None, :, None, :]
    rows_y = image[:, None, None] * height + first_y[:, :, None] + np.arange(ly)
    cols = (rows_y[:, :, None, :, None] * width
            + (first_x[:, :, None] + np.arange(lx))[:, None, :, None, :])
    keep = values != 0
    counts = keep.reshape(bins, -1).sum(1)
    indptr = np.concatenate([[0], np.cumsum(counts)])
    return scipy.sparse.csr_matrix((values[keep], cols[keep], indptr),
                                   shape=(bins, n * height * width))


def _channels_last(x):
    """``(N, C, H, W)`` -> ``(N·H·W, C)`` contiguous."""
    n, c, h, w = x.shape
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)).reshape(n * h * w, c)


class RoIAlignFunction(Function):
    """``roi_align`` on arrays: ``forward(input, rois)``; the gradient goes to ``input``."""

    def forward(self, x, rois, output_size, spatial_scale, sampling_ratio, aligned):
        n, c, h, w = x.shape
        matrix = roi_align_matrix(rois, x.shape, output_size, spatial_scale, sampling_ratio,
                                  aligned, x.dtype.type)
        out = matrix @ _channels_last(x)
        if self.needs_input_grad[0]:
            self.matrix = matrix
        return np.ascontiguousarray(
            out.reshape(len(rois), *output_size, c).transpose(0, 3, 1, 2)).astype(x.dtype,
                                                                                  copy=False)

    def backward(self, grad):
        shape = self._input_meta[0][0]
        n, c, h, w = shape
        g = np.ascontiguousarray(grad.transpose(0, 2, 3, 1)).reshape(-1, c)
        dx = (self.matrix.T @ g).reshape(n, h, w, c).transpose(0, 3, 1, 2)
        return np.ascontiguousarray(dx), None


def roi_align(input, boxes, output_size, spatial_scale=1.0, sampling_ratio=-1, aligned=False):
    """RoI Align (Mask R-CNN): ``(N, C, H, W)`` features and ``K`` boxes -> ``(K, C, PH, PW)``.

    Args:
        input: the feature maps ``(N, C, H, W)`` (float32 or float64).
        boxes: ``(K, 5)`` rows ``(image index, x1, y1, x2, y2)``, or a list of ``N`` tensors
            ``(L_i, 4)`` of xyxy boxes, one per image; in image coordinates.
        output_size: ``(PH, PW)`` or one int.
        spatial_scale: maps box coordinates to the map (``1/16`` for a stride-16 map).
        sampling_ratio: samples per bin along each axis; ``<= 0`` takes
            ``ceil(box size / output size)`` per box and axis (adaptive).
        aligned: shift boxes by ``-0.5`` pixel (pixel ``i`` covers ``[i, i+1)``); otherwise
            boxes smaller than a pixel are enlarged to 1x1 (the legacy behaviour).

    Degenerate boxes (``x2 <= x1``) are not an error: with ``aligned=False`` they pool a 1x1
    region at ``(x1, y1)``; with ``aligned=True`` they have no samples and give zeros.
    """
    rois = _rois(boxes, "roi_align")
    output_size = ntuple(output_size, 2, "roi_align", "output_size")
    if min(output_size) < 1:
        raise ValueError(f"roi_align: output_size must be positive, got {output_size}")
    _check_input(input, rois, "roi_align")
    return RoIAlignFunction.apply(input, rois.detach(), output_size=output_size,
                                  spatial_scale=float(spatial_scale),
                                  sampling_ratio=int(sampling_ratio), aligned=bool(aligned))


# ------------------------------------------------------------------------------- RoI Pool
def _round_half_away(x):
    """C's ``round``: halves away from zero (NumPy's ``round`` goes to even)."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _pool_bins(rois, spatial_scale, pooled, size, axis, dtype):
    """Start and end (exclusive) ``(K, pooled)`` of every bin along one axis, in map pixels,
    computed in the input's float type as torchvision's kernel does (``floor``/``ceil`` of
    ``p·bin``, offset by the rounded box start, clipped to the map)."""
    start = _round_half_away(rois[:, 1 + axis].astype(dtype) * dtype(spatial_scale))
    end = _round_half_away(rois[:, 3 + axis].astype(dtype) * dtype(spatial_scale))
    length = np.maximum(end - start + 1, 1).astype(dtype)
    bin_size = length / dtype(pooled)
    p = np.arange(pooled, dtype=dtype)
    lo = np.floor(p[None] * bin_size[:, None]).astype(np.int64) + start[:, None].astype(np.int64)
    hi = (np.ceil((p[None] + 1) * bin_size[:, None]).astype(np.int64)
          + start[:, None].astype(np.int64))
    return np.clip(lo, 0, size), np.clip(hi, 0, size)


# gathered elements per chunk of boxes in roi_pool's forward (bounds its memory)
_POOL_CHUNK = 1 << 23


class RoIPoolFunction(Function):
    """``roi_pool`` on arrays: returns ``(values, argmax)``, ``argmax`` the flat position
    ``y·W + x`` of each maximum in its channel (-1 for an empty bin); the gradient of the
    values goes to those positions."""

    def forward(self, x, rois, output_size, spatial_scale):
        n, c, height, width = x.shape
        ph, pw = output_size
        dtype = x.dtype.type
        h0, h1 = _pool_bins(rois, spatial_scale, ph, height, 1, dtype)
        w0, w1 = _pool_bins(rois, spatial_scale, pw, width, 0, dtype)
        bh = int(max((h1 - h0).max(initial=0), 1))
        bw = int(max((w1 - w0).max(initial=0), 1))
        image = rois[:, 0].astype(np.int64)
        nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        values = np.zeros((len(rois), ph, pw, c), x.dtype)
        argmax = np.full((len(rois), ph, pw, c), -1, np.int64)
        chunk = max(1, _POOL_CHUNK // max(1, ph * pw * bh * bw * c))
        for s in range(0, len(rois), chunk):          # chunks of boxes bound the memory
            part = slice(s, s + chunk)
            rows = h0[part][:, :, None] + np.arange(bh)            # (k, PH, bh)
            cols = w0[part][:, :, None] + np.arange(bw)            # (k, PW, bw)
            valid = ((rows < h1[part][:, :, None])[:, :, None, :, None]
                     & (cols < w1[part][:, :, None])[:, None, :, None, :])
            window = nhwc[image[part][:, None, None, None, None],
                          np.minimum(rows, height - 1)[:, :, None, :, None],
                          np.minimum(cols, width - 1)[:, None, :, None, :]]
            window = np.where(valid[..., None], window, -np.inf)
            k = window.shape[0]
            flat = window.reshape(k, ph, pw, bh * bw, c)
            best = flat.argmax(3)                     # the first maximum in row-major order
            top = np.take_along_axis(flat, best[:, :, :, None], 3)[:, :, :, 0]
            empty = ~valid.reshape(k, ph, pw, bh * bw).any(-1)[..., None]
            by, bx = np.divmod(best, bw)
            ys = h0[part][:, :, None, None] + by
            xs = w0[part][:, None, :, None] + bx
            values[part] = np.where(empty, 0, top)
            argmax[part] = np.where(empty, -1, ys * width + xs)
        self.argmax, self.rois_image = argmax, image
        return (np.ascontiguousarray(values.transpose(0, 3, 1, 2)),
                np.ascontiguousarray(argmax.transpose(0, 3, 1, 2)))

    def backward(self, grad, grad_argmax=None):
        n, c, height, width = self._input_meta[0][0]
        dtype = self._input_meta[0][1]
        image = self.rois_image
        argmax = self.argmax.transpose(0, 3, 1, 2)          # (K, C, PH, PW)
        hit = argmax >= 0
        channel = np.arange(c)[None, :, None, None]
        flat = ((image[:, None, None, None] * c + channel) * (height * width) + argmax)[hit]
        dx = np.bincount(flat, weights=grad[hit], minlength=n * c * height * width)
        return dx.reshape(n, c, height, width).astype(dtype), None


def roi_pool(input, boxes, output_size, spatial_scale=1.0):
    """RoI max pooling (Fast R-CNN): ``(N, C, H, W)`` features and ``K`` boxes ->
    ``(K, C, PH, PW)``.

    The box, scaled by ``spatial_scale``, is rounded to map pixels (its end pixel included),
    split into ``PH x PW`` bins with ``floor``/``ceil`` edges, and each bin takes its maximum;
    an empty bin (a box outside the map) gives 0. ``boxes``: ``(K, 5)`` rows ``(image index,
    x1, y1, x2, y2)`` or a list of ``(L_i, 4)`` tensors, one per image."""
    rois = _rois(boxes, "roi_pool")
    output_size = ntuple(output_size, 2, "roi_pool", "output_size")
    if min(output_size) < 1:
        raise ValueError(f"roi_pool: output_size must be positive, got {output_size}")
    _check_input(input, rois, "roi_pool")
    values, _ = RoIPoolFunction.apply(input, rois.detach(), output_size=output_size,
                                      spatial_scale=float(spatial_scale))
    return values


class RoIAlign(nn.Module):
    """``roi_align`` as a module: ``RoIAlign(output_size, spatial_scale, sampling_ratio,
    aligned=False)(input, boxes)``."""

    def __init__(self, output_size, spatial_scale, sampling_ratio, aligned=False):
        super().__init__()
        self.output_size = output_size
        self.spatial_scale = spatial_scale
        self.sampling_ratio = sampling_ratio
        self.aligned = aligned

    def forward(self, input, rois):
        return roi_align(input, rois, self.output_size, self.spatial_scale,
                         self.sampling_ratio, self.aligned)

    def __repr__(self):
        return (f"{type(self).__name__}(output_size={self.output_size}, spatial_scale="
                f"{self.spatial_scale}, sampling_ratio={self.sampling_ratio}, "
                f"aligned={self.aligned})")


class RoIPool(nn.Module):
    """``roi_pool`` as a module: ``RoIPool(output_size, spatial_scale)(input, boxes)``."""

    def __init__(self, output_size, spatial_scale):
        super().__init__()
        self.output_size = output_size
        self.spatial_scale = spatial_scale

    def forward(self, input, rois):
        return roi_pool(input, rois, self.output_size, self.spatial_scale)

    def __repr__(self):
        return (f"{type(self).__name__}(output_size={self.output_size}, "
                f"spatial_scale={self.spatial_scale})")
