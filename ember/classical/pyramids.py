"""Image pyramids (lecture 003 「下采样」, inventory B48/F17): an image at a sequence of ever
coarser scales.

Sub-sampling alone ("drop every other row and column") aliases: fine detail folds into
coarse patterns, which is why the lecture's 1/4 and 1/8 images look so rough. The Gaussian
pyramid blurs before each reduction so that what is dropped is what the coarser grid cannot
hold. The Laplacian pyramid keeps, per level, what the next coarser level loses, and adds back
up to the image exactly. NumPy images ``(..., H, W)`` (``axes`` as in
:mod:`ember.classical.filters`).
"""
import math

import numpy as np

from ember.classical.filters import gaussian_filter
from ember.classical.geometry import resize

__all__ = ["gaussian_pyramid", "laplacian_pyramid", "reconstruct_from_laplacian"]


def _spatial_shape(image, axes):
    return tuple(image.shape[a] for a in axes)


def gaussian_pyramid(image, max_layer=-1, downscale=2.0, sigma=None, mode="reflect", cval=0.0,
                     axes=(-2, -1)):
    """``[G_0, G_1, ...]``: ``G_0`` the image, ``G_{k+1}`` = ``G_k`` blurred by a Gaussian of
    ``sigma`` (default ``2 * downscale / 6``: the kernel spans twice the reduction) and resized
    (bilinear, :func:`~ember.classical.geometry.resize`) to ``ceil(shape / downscale)``.

    Stops after ``max_layer`` reductions (``-1``: until the image is one pixel). Equal to
    ``skimage.transform.pyramid_gaussian(image, max_layer, downscale, sigma, order=1,
    mode=mode, preserve_range=True)``. Every level is float (``float32`` stays ``float32``).
    """
    downscale = float(downscale)
    if not downscale > 1:
        raise ValueError(f"gaussian_pyramid: downscale must be > 1, got {downscale}")
    sigma = 2 * downscale / 6.0 if sigma is None else sigma
    level = np.asarray(image)
    if level.dtype not in (np.float32, np.float64):
        level = level.astype(np.float64)
    levels = [level]
    while len(levels) - 1 != max_layer:
        shape = _spatial_shape(level, [a % level.ndim for a in axes])
        reduced = tuple(math.ceil(n / downscale) for n in shape)
        if reduced == shape:
            break
        level = resize(gaussian_filter(level, sigma, mode=mode, cval=cval, axes=axes), reduced,
                       mode=mode, cval=cval, axes=axes)
        levels.append(level)
    return levels


def laplacian_pyramid(image, max_layer=-1, downscale=2.0, sigma=None, mode="reflect",
                      cval=0.0, axes=(-2, -1)):
    """``[L_0, ..., L_n]``: ``L_k = G_k - expand(G_{k+1})`` for the Gaussian pyramid ``G``
    (:func:`gaussian_pyramid`, same arguments), ``expand`` the bilinear resize back to
    ``G_k``'s size, and ``L_n = G_n`` (Burt and Adelson's band-pass pyramid). Each band holds
    the detail of one scale; :func:`reconstruct_from_laplacian` adds them back to the image.
    """
    gaussians = gaussian_pyramid(image, max_layer, downscale, sigma, mode, cval, axes)
    spatial = [a % gaussians[0].ndim for a in axes]
    bands = [fine - resize(coarse, _spatial_shape(fine, spatial), mode=mode, cval=cval,
                           axes=axes)
             for fine, coarse in zip(gaussians[:-1], gaussians[1:])]
    return bands + [gaussians[-1]]


def reconstruct_from_laplacian(bands, mode="reflect", cval=0.0, axes=(-2, -1)):
    """The image from its Laplacian pyramid: ``G_n = L_n``, ``G_k = L_k + expand(G_{k+1})``
    (use the ``mode``, ``cval`` and ``axes`` the pyramid was built with)."""
    if not bands:
        raise ValueError("reconstruct_from_laplacian: expected at least one band, got none")
    image = bands[-1]
    spatial = [a % image.ndim for a in axes]
    for band in reversed(bands[:-1]):
        image = band + resize(image, _spatial_shape(band, spatial), mode=mode, cval=cval,
                              axes=axes)
    return image
