"""Geometric transforms of images: bilinear sampling and resizing, homographies estimated by
DLT (lecture 003 「求解同构映射」, inventory F11) and Moving Least Squares deformation (lecture
000 「Tasks do not need learning」, inventory F12).

Points are ``(x, y)`` = (column, row) pairs, images are NumPy arrays ``(..., H, W)`` (pass
``axes=(0, 1)`` for an ``H x W x C`` photograph). A warp pulls every output pixel from the
input (inverse mapping) with bilinear interpolation; outside the input the border modes of
:mod:`ember.classical.borders` apply, where ``'constant'`` and ``'wrap'`` interpolate across
the edge like ``scipy.ndimage.map_coordinates``' ``'grid-constant'`` and ``'grid-wrap'``.
"""
import numpy as np

from ember.classical._arguments import pair
from ember.classical.borders import border_index, check_mode

__all__ = ["sample_bilinear", "resize", "dlt_matrix", "homography_dlt", "apply_homography",
           "warp_homography", "mls_affine_deform", "mls_affine_warp"]


def _moved(image, axes, caller):
    image = np.asarray(image)
    if image.dtype.kind not in "biuf":
        raise TypeError(f"{caller}: expected a real-valued NumPy image, got dtype {image.dtype}")
    if image.ndim < 2:
        raise ValueError(f"{caller}: expected an image with at least 2 dimensions, got "
                         f"shape {image.shape}")
    first, second = (a % image.ndim for a in axes)
    if first == second:
        raise ValueError(f"{caller}: axes must be two different axes, got {axes!r}")
    dtype = image.dtype if image.dtype in (np.float32, np.float64) else np.float64
    return np.moveaxis(image, (first, second), (-2, -1)).astype(dtype, copy=False), (first, second)


def _linear_taps(coords, size, mode):
    """For sample positions ``coords`` along an axis: the two pixels each reads under
    ``mode`` (``-1``: outside, ``cval``) and the weight of the second, ``coords - floor``."""
    low = np.floor(coords)
    frac = coords - low
    low = low.astype(np.int64)
    return border_index(low, size, mode), border_index(low + 1, size, mode), frac


def _gather(x, rows, cols, cval):
    """``x[..., rows, cols]`` with ``cval`` where either index is ``-1``."""
    values = x[..., np.maximum(rows, 0), np.maximum(cols, 0)]
    outside = (rows < 0) | (cols < 0)
    if outside.any():
        values = np.where(outside, np.asarray(cval, x.dtype), values)
    return values


def sample_bilinear(image, rows, cols, mode="constant", cval=0.0, axes=(-2, -1)):
    """The image at real positions ``(rows, cols)`` by bilinear interpolation:
    ``(1-a)(1-b) f[r, c] + (1-a) b f[r, c+1] + a (1-b) f[r+1, c] + a b f[r+1, c+1]`` with
    ``r = floor(row), a = row - r`` (and ``c, b`` for columns); pixel centres at integers.

    ``image`` ``(..., H, W)``; ``rows``, ``cols`` of one shape ``S`` -> ``(..., *S)`` (the
    spatial axes replaced by ``S``, at the position of the first one). Equal to
    ``scipy.ndimage.map_coordinates(image, [rows, cols], order=1)`` with the grid modes.
    """
    mode = check_mode(mode, "sample_bilinear")
    x, (first, _) = _moved(image, axes, "sample_bilinear")
    rows, cols = np.broadcast_arrays(np.asarray(rows, np.float64), np.asarray(cols, np.float64))
    h, w = x.shape[-2:]
    r0, r1, a = _linear_taps(rows, h, mode)
    c0, c1, b = _linear_taps(cols, w, mode)
    a, b = a.astype(x.dtype), b.astype(x.dtype)
    top = _gather(x, r0, c0, cval) * (1 - b) + _gather(x, r0, c1, cval) * b
    bottom = _gather(x, r1, c0, cval) * (1 - b) + _gather(x, r1, c1, cval) * b
    out = top * (1 - a) + bottom * a
    lead = x.ndim - 2                                  # move the sample axes back in place
    return np.moveaxis(out, tuple(range(lead, out.ndim)),
                       tuple(range(first, first + rows.ndim)))


def resize(image, output_shape, mode="mirror", cval=0.0, axes=(-2, -1)):
    """Bilinear resize to ``output_shape = (H', W')`` with pixel centres aligned: output pixel
    ``o`` reads the input at ``(o + 0.5) * n / n' - 0.5`` along each axis (two 1-D passes).

    ``image`` ``(..., H, W)`` -> ``(..., H', W')``. Equal to
    ``scipy.ndimage.zoom(image, (H'/H, W'/W), order=1, grid_mode=True, mode=mode)`` and to
    ``skimage.transform.resize(image, output_shape, order=1, anti_aliasing=False)`` (whose
    ``mode='reflect'`` is this ``'mirror'``). No smoothing: blur first when shrinking (as
    :func:`ember.classical.pyramids.gaussian_pyramid` does).
    """
    mode = check_mode(mode, "resize")
    x, axes = _moved(image, axes, "resize")
    out_h, out_w = pair(output_shape, "output_shape", "resize", int, minimum=1)
    for axis, out_n in ((-2, out_h), (-1, out_w)):
        n = x.shape[axis]
        coords = (np.arange(out_n) + 0.5) * (n / out_n) - 0.5
        low, high, frac = _linear_taps(coords, n, mode)
        shape = [1] * x.ndim
        shape[axis] = out_n
        frac = frac.astype(x.dtype).reshape(shape)

        def take(index):
            values = np.take(x, np.maximum(index, 0), axis=axis)
            return np.where((index < 0).reshape(shape), np.asarray(cval, x.dtype), values)

        x = take(low) * (1 - frac) + take(high) * frac
    return np.moveaxis(x, (-2, -1), axes)


# --------------------------------------------------------------------------- homography

def _points(points, name, caller):
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"{caller}: {name} must be (N, 2) points (x, y), got shape "
                         f"{points.shape}")
    return points


def _hartley(points):
    """The similarity that moves ``points`` to mean 0 and root-mean-square distance sqrt(2)
    from it (Hartley's normalisation, in scikit-image's RMS form)."""
    centre = points.mean(axis=0)
    spread = np.sqrt(((points - centre) ** 2).sum(axis=1).mean())
    scale = np.sqrt(2) / spread if spread > 0 else 1.0
    return np.array([[scale, 0, -scale * centre[0]], [0, scale, -scale * centre[1]], [0, 0, 1]])


def dlt_matrix(src, dst):
    """Lecture 003's DLT system ``A`` (2N x 9) with ``A h = 0`` for ``h = [h00 ... h22]``: per
    correspondence ``(x, y) -> (x', y')`` the rows ``[x, y, 1, 0, 0, 0, -x'x, -x'y, -x']`` and
    ``[0, 0, 0, x, y, 1, -y'x, -y'y, -y']`` (inventory F11)."""
    src, dst = _points(src, "src", "dlt_matrix"), _points(dst, "dst", "dlt_matrix")
    if len(src) != len(dst):
        raise ValueError(f"dlt_matrix: src and dst must hold the same number of points, got "
                         f"{len(src)} and {len(dst)}")
    x, y, xp, yp = src[:, 0], src[:, 1], dst[:, 0], dst[:, 1]
    zeros, ones = np.zeros_like(x), np.ones_like(x)
    a = np.empty((2 * len(src), 9))
    a[0::2] = np.stack([x, y, ones, zeros, zeros, zeros, -xp * x, -xp * y, -xp], axis=1)
    a[1::2] = np.stack([zeros, zeros, zeros, x, y, ones, -yp * x, -yp * y, -yp], axis=1)
    return a


def homography_dlt(src, dst, normalize=True):
    """The homography ``H`` (3x3) with ``dst ~ H src`` by the Direct Linear Transform
    (lecture 003 「求解同构映射」): ``h`` solves :func:`dlt_matrix`'s ``A h = 0`` in the
    least-squares sense with ``|h| = 1``, i.e. it is the right singular vector of ``A``'s
    smallest singular value (the slide implies the SVD).

    ``src``, ``dst``: ``(N, 2)`` points, ``N >= 4``. ``normalize=True`` first moves each point
    set to mean 0 and root-mean-square distance sqrt(2) (Hartley), which keeps ``A`` well
    conditioned with pixel coordinates; exact correspondences give the same ``H`` either
    way, noisy ones the same as ``skimage.transform.ProjectiveTransform.from_estimate``. ``H`` is
    scaled so that ``H[2, 2] = 1`` (unless that entry is 0, then ``|H| = 1``).
    """
    src, dst = _points(src, "src", "homography_dlt"), _points(dst, "dst", "homography_dlt")
    if len(src) != len(dst) or len(src) < 4:
        raise ValueError(f"homography_dlt: needs the same number N >= 4 of src and dst points, "
                         f"got {len(src)} and {len(dst)}")
    to_src, to_dst = (_hartley(src), _hartley(dst)) if normalize else (np.eye(3), np.eye(3))
    a = dlt_matrix(apply_homography(to_src, src), apply_homography(to_dst, dst))
    h = np.linalg.svd(a)[2][-1].reshape(3, 3)
    h = np.linalg.solve(to_dst, h @ to_src)            # undo the normalisations
    return h / h[2, 2] if abs(h[2, 2]) > 1e-12 * np.abs(h).max() else h / np.linalg.norm(h)


def apply_homography(h, points):
    """``points`` ``(N, 2)`` mapped by ``h`` (3x3) in homogeneous coordinates: ``(x', y') =
    ((h00 x + h01 y + h02) / w, (h10 x + h11 y + h12) / w)``, ``w = h20 x + h21 y + h22``."""
    h = np.asarray(h, dtype=np.float64)
    if h.shape != (3, 3):
        raise ValueError(f"apply_homography: h must be 3x3, got shape {h.shape}")
    points = _points(points, "points", "apply_homography")
    mapped = points @ h[:, :2].T + h[:, 2]
    return mapped[:, :2] / mapped[:, 2:]


def warp_homography(image, h, output_shape=None, mode="constant", cval=0.0, axes=(-2, -1)):
    """The image seen through homography ``h`` (input -> output coordinates): every output
    pixel ``(x, y)`` takes the input at ``h^-1 (x, y)`` by bilinear interpolation.

    ``image`` ``(..., H, W)`` -> ``(..., H', W')`` with ``output_shape = (H', W')`` (default
    the input's). Equal to ``skimage.transform.warp(image, ProjectiveTransform(h).inverse,
    output_shape, order=1, mode=..., cval=...)``.
    """
    h = np.asarray(h, dtype=np.float64)
    if h.shape != (3, 3):
        raise ValueError(f"warp_homography: h must be 3x3, got shape {h.shape}")
    x, _ = _moved(image, axes, "warp_homography")
    out_h, out_w = x.shape[-2:] if output_shape is None else pair(
        output_shape, "output_shape", "warp_homography", int, minimum=1)
    rows, cols = np.mgrid[:out_h, :out_w]
    source = apply_homography(np.linalg.inv(h),
                              np.stack([cols.ravel(), rows.ravel()], axis=1).astype(np.float64))
    return sample_bilinear(image, source[:, 1].reshape(out_h, out_w),
                           source[:, 0].reshape(out_h, out_w), mode, cval, axes)


# ----------------------------------------------------------------- Moving Least Squares

def mls_affine_deform(points, p, q, alpha=1.0):
    """Moving Least Squares affine deformation (Schaefer et al. 2006, lecture 000): every
    point ``v`` moves by its own affine map ``l_v`` minimising
    ``sum_i w_i |l_v(p_i) - q_i|^2`` with ``w_i = 1 / |p_i - v|^(2 alpha)``.

    Closed form: with the weighted centroids ``p* = sum w_i p_i / sum w_i`` (``q*`` alike) and
    ``p^_i = p_i - p*``, ``q^_i = q_i - q*`` (row vectors),
    ``l_v(v) = (v - p*) M + q*``, ``M = (sum_i w_i p^_i^T p^_i)^-1 sum_i w_i p^_i^T q^_i``.
    At a control point the weight is infinite and ``l_{p_i}(p_i) = q_i``.

    ``points`` ``(N, 2)``, ``p``, ``q`` ``(n, 2)`` with ``n >= 3`` points not all on a line
    -> ``(N, 2)``.
    """
    points = _points(points, "points", "mls_affine_deform")
    p, q = _points(p, "p", "mls_affine_deform"), _points(q, "q", "mls_affine_deform")
    if len(p) != len(q) or len(p) < 3:
        raise ValueError(f"mls_affine_deform: needs the same number n >= 3 of p and q points, "
                         f"got {len(p)} and {len(q)}")
    if np.linalg.matrix_rank(p - p.mean(axis=0)) < 2:
        raise ValueError("mls_affine_deform: the control points p must not all lie on a line")
    squared = ((p[None, :, :] - points[:, None, :]) ** 2).sum(axis=2)      # (N, n)
    on_control = squared == 0
    with np.errstate(divide="ignore"):
        weights = 1.0 / squared ** alpha
    weights[on_control.any(axis=1)] = 0.0              # solved below, exactly
    total = weights.sum(axis=1, keepdims=True)
    safe = np.where(total > 0, total, 1.0)
    p_star, q_star = weights @ p / safe, weights @ q / safe
    p_hat = p[None] - p_star[:, None]                                   # (N, n, 2)
    q_hat = q[None] - q_star[:, None]
    moment = np.einsum("ni,nia,nib->nab", weights, p_hat, p_hat)
    cross = np.einsum("ni,nia,nib->nab", weights, p_hat, q_hat)
    moment[on_control.any(axis=1)] = np.eye(2)
    m = np.linalg.solve(moment, cross)
    out = np.einsum("na,nab->nb", points - p_star, m) + q_star
    hit, which = np.nonzero(on_control)
    out[hit] = q[which]
    return out


def mls_affine_warp(image, p, q, alpha=1.0, mode="constant", cval=0.0, axes=(-2, -1)):
    """The image deformed so that control points ``p`` move to ``q`` (``(n, 2)`` as ``(x, y)``).

    Backward mapping: every output pixel ``v`` takes the input at the MLS affine deformation
    from ``q`` to ``p`` evaluated at ``v`` (:func:`mls_affine_deform` with the roles swapped),
    bilinear. A global affine motion ``q = A p + t`` warps exactly like that affine map.
    ``(..., H, W)`` -> same shape.
    """
    x, _ = _moved(image, axes, "mls_affine_warp")
    h, w = x.shape[-2:]
    rows, cols = np.mgrid[:h, :w]
    grid = np.stack([cols.ravel(), rows.ravel()], axis=1).astype(np.float64)
    source = mls_affine_deform(grid, q, p, alpha)
    return sample_bilinear(image, source[:, 1].reshape(h, w), source[:, 0].reshape(h, w),
                           mode, cval, axes)
