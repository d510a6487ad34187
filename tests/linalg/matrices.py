"""Test matrices with known conditioning, so that float32 tolerances follow from the numbers.

LAPACK's factorisations are backward stable: a float32 result carries a relative error of
about ``n * kappa * eps`` (``eps = 1.2e-7``), and a gradient through singular vectors or
eigenvectors divides that by the gap between singular values (eigenvalues) relative to the
largest. Here the general matrices have ``kappa <= 2`` (``well_conditioned``), the symmetric
ones eigenvalue gaps of at least a fifth of their largest magnitude (``symmetric``,
``positive_definite``), so for ``n <= 6`` and a few matrix products a float32 forward or
backward result is within about ``6 * 2 * 1.2e-7 * 5 * 4 ~ 3e-5`` of the exact one, below the
harness's float32 ``atol`` of ``1e-4`` (scaled by the largest expected magnitude). The
tolerance tests of ``pinv``/``matrix_rank`` spread the singular values wider (``kappa <= 10``)
but take no eigenvector gradients: ``6 * 10 * 1.2e-7 * 4 ~ 3e-5``. Float64 comparisons use the
harness's ``1e-10``: the same bounds with ``eps = 2.2e-16``.
"""
import numpy as np

R = np.random.default_rng(31)


def orthogonal(batch, n):
    """Random orthogonal matrices ``(*batch, n, n)`` (QR of a Gaussian matrix)."""
    q, r = np.linalg.qr(R.standard_normal(tuple(batch) + (n, n)))
    return q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[..., None, :]


def well_conditioned(*shape, dtype=np.float64, low=1.0, high=2.0):
    """``U diag(s) V^T`` of shape ``(*batch, m, n)``, singular values evenly spread over
    ``[low, high]`` (so ``kappa = high / low``)."""
    *batch, m, n = shape
    k = min(m, n)
    s = np.linspace(high, low, k) if k > 1 else np.array([high])
    u = orthogonal(batch, m)[..., :k]
    v = orthogonal(batch, n)[..., :k]
    return ((u * s) @ np.swapaxes(v, -1, -2)).astype(dtype)


def symmetric(*shape, dtype=np.float64, low=-2.0, high=3.0):
    """Symmetric ``(*batch, n, n)`` with eigenvalues evenly spread over ``[low, high]``."""
    *batch, n, _ = shape
    q = orthogonal(batch, n)
    return ((q * np.linspace(low, high, n)) @ np.swapaxes(q, -1, -2)).astype(dtype)


def positive_definite(*shape, dtype=np.float64):
    """Symmetric positive-definite, eigenvalues in ``[1, 3]``."""
    return symmetric(*shape, dtype=dtype, low=1.0, high=3.0)


def rank_deficient(m, n, rank, batch=(), dtype=np.float64):
    """``(*batch, m, n)`` of the given rank, non-zero singular values in ``[1, 2]``."""
    u = orthogonal(batch, m)[..., :rank]
    v = orthogonal(batch, n)[..., :rank]
    s = np.linspace(2.0, 1.0, rank) if rank > 1 else np.array([1.5])
    return ((u * s) @ np.swapaxes(v, -1, -2)).astype(dtype)
