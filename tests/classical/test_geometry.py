"""ember.classical.geometry and .pyramids against scipy.ndimage and scikit-image, and the
lecture's definitions (DLT rows, inventory F11; Moving Least Squares, F12; pyramids, B48)."""
import numpy as np
import pytest
import scipy.ndimage as ndi

from ember.classical import geometry, pyramids

transform = pytest.importorskip("skimage.transform")

# this module's modes and the names scipy's interpolation gives the same extension
SAMPLING_MODES = [("constant", "grid-constant"), ("wrap", "grid-wrap"), ("reflect", "reflect"),
                  ("mirror", "mirror"), ("nearest", "nearest")]


def close(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-12 * max(
        1.0, float(np.max(np.abs(expected)))))


def random_image(shape, seed=0):
    return np.random.default_rng(seed).random(shape)


# ---------------------------------------------------------------- sampling and resizing

@pytest.mark.parametrize("mode,scipy_mode", SAMPLING_MODES)
def test_bilinear_sampling_equals_map_coordinates(mode, scipy_mode):
    x = random_image((9, 11))
    rng = np.random.default_rng(1)
    rows, cols = rng.uniform(-4, 13, (6, 5)), rng.uniform(-4, 15, (6, 5))
    rows[0, 0], cols[0, 0] = 3.0, 8.0                         # exactly on a pixel
    close(geometry.sample_bilinear(x, rows, cols, mode, cval=0.4),
          ndi.map_coordinates(x, [rows, cols], order=1, mode=scipy_mode, cval=0.4))
    assert geometry.sample_bilinear(x, 3.0, 8.0) == x[3, 8]


def test_bilinear_sampling_keeps_other_axes():
    photo = random_image((8, 9, 3))
    rows, cols = np.array([[0.5, 2.25]]), np.array([[1.5, 7.75]])
    out = geometry.sample_bilinear(photo, rows, cols, axes=(0, 1))
    assert out.shape == (1, 2, 3)
    for c in range(3):
        close(out[..., c], ndi.map_coordinates(photo[..., c], [rows, cols], order=1))


@pytest.mark.parametrize("mode,scipy_mode", SAMPLING_MODES)
@pytest.mark.parametrize("shape", [(5, 17), (20, 3), (9, 11), (1, 1)])
def test_resize_equals_zoom_with_grid_mode(mode, scipy_mode, shape):
    x = random_image((9, 11))
    zoom = (shape[0] / 9, shape[1] / 11)
    close(geometry.resize(x, shape, mode=mode, cval=0.3),
          ndi.zoom(x, zoom, order=1, mode=scipy_mode, cval=0.3, grid_mode=True))


def test_resize_equals_scikit_image():
    x = random_image((13, 10))
    for shape in [(4, 23), (26, 20), (7, 5)]:
        close(geometry.resize(x, shape),
              transform.resize(x, shape, order=1, anti_aliasing=False))
    photo = random_image((12, 10, 3))
    close(geometry.resize(photo, (5, 7), axes=(0, 1)),
          transform.resize(photo, (5, 7, 3), order=1, anti_aliasing=False))


# ------------------------------------------------------------------------- homography

H_TRUE = np.array([[1.1, 0.2, 3.0], [-0.1, 0.9, 1.0], [0.001, -0.002, 1.0]])


def test_lecture_dlt_rows_have_the_homography_in_their_null_space():
    """003 「求解同构映射」: rows [x, y, 1, 0, 0, 0, -x'x, -x'y, -x'] and
    [0, 0, 0, x, y, 1, -y'x, -y'y, -y'] per correspondence; A h = 0 for the true h."""
    src = np.array([[2.0, 3.0], [10.0, 1.0], [7.0, 8.0], [0.0, 9.0], [5.0, 5.0]])
    dst = geometry.apply_homography(H_TRUE, src)
    a = geometry.dlt_matrix(src, dst)
    assert a.shape == (10, 9)
    (x, y), (xp, yp) = src[0], dst[0]
    np.testing.assert_array_equal(a[0], [x, y, 1, 0, 0, 0, -xp * x, -xp * y, -xp])
    np.testing.assert_array_equal(a[1], [0, 0, 0, x, y, 1, -yp * x, -yp * y, -yp])
    assert np.abs(a @ H_TRUE.ravel()).max() < 1e-12


@pytest.mark.parametrize("normalize", [True, False])
def test_dlt_recovers_an_exact_homography(normalize):
    src = np.random.default_rng(2).uniform(0, 200, (6, 2))
    dst = geometry.apply_homography(H_TRUE, src)
    np.testing.assert_allclose(geometry.homography_dlt(src, dst, normalize), H_TRUE,
                               rtol=1e-9, atol=1e-11)
    four = src[:4]                                             # the minimum: 4 points
    np.testing.assert_allclose(geometry.homography_dlt(four, dst[:4], normalize), H_TRUE,
                               rtol=1e-8, atol=1e-10)


def test_dlt_with_noise_equals_scikit_image():
    """Noisy correspondences: the normalised DLT is scikit-image's estimator."""
    rng = np.random.default_rng(3)
    src = rng.uniform(0, 300, (20, 2))
    dst = geometry.apply_homography(H_TRUE, src) + rng.normal(0, 0.5, (20, 2))
    expected = transform.ProjectiveTransform.from_estimate(src, dst).params
    np.testing.assert_allclose(geometry.homography_dlt(src, dst), expected, rtol=1e-8,
                               atol=1e-10)


def test_warp_equals_scikit_image():
    x = random_image((30, 40))
    h = np.array([[0.9, 0.1, 4.0], [-0.05, 1.1, -2.0], [0.0005, 0.001, 1.0]])
    for shape in [None, (25, 50)]:
        expected = transform.warp(x, transform.ProjectiveTransform(h).inverse,
                                  output_shape=shape, order=1, mode="constant", cval=0.2)
        close(geometry.warp_homography(x, h, shape, cval=0.2), expected)
    expected = transform.warp(x, transform.ProjectiveTransform(h).inverse, order=1, mode="edge")
    close(geometry.warp_homography(x, h, mode="nearest"), expected)


def test_apply_homography_and_errors():
    assert np.allclose(geometry.apply_homography(np.eye(3) * 2, [[3.0, 4.0]]), [[3.0, 4.0]])
    with pytest.raises(ValueError, match=r"homography_dlt: needs the same number N >= 4"):
        geometry.homography_dlt(np.zeros((3, 2)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"apply_homography: points must be \(N, 2\) points"):
        geometry.apply_homography(np.eye(3), np.zeros((4, 3)))


# ------------------------------------------------------------------ Moving Least Squares

def mls_by_weighted_least_squares(v, p, q, alpha):
    """The lecture's definition for one point, solved directly: the affine l_v(x) = x A + t
    minimising sum_i w_i |l_v(p_i) - q_i|^2, w_i = 1 / |p_i - v|^(2 alpha)."""
    w = 1.0 / (((p - v) ** 2).sum(axis=1) ** alpha)
    design = np.hstack([p, np.ones((len(p), 1))]) * np.sqrt(w)[:, None]
    solution = np.linalg.lstsq(design, q * np.sqrt(w)[:, None], rcond=None)[0]
    return np.append(v, 1.0) @ solution


@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.0])
def test_mls_affine_equals_the_lecture_minimisation(alpha):
    rng = np.random.default_rng(4)
    p = rng.uniform(0, 50, (6, 2))
    q = p + rng.normal(0, 4, p.shape)
    points = rng.uniform(-5, 55, (25, 2))
    expected = np.array([mls_by_weighted_least_squares(v, p, q, alpha) for v in points])
    np.testing.assert_allclose(geometry.mls_affine_deform(points, p, q, alpha), expected,
                               rtol=1e-9, atol=1e-9)


def test_mls_interpolates_the_handles_and_keeps_a_global_affine_map():
    rng = np.random.default_rng(5)
    p = rng.uniform(0, 40, (5, 2))
    q = p + rng.normal(0, 3, p.shape)
    np.testing.assert_allclose(geometry.mls_affine_deform(p, p, q), q, atol=1e-12)
    near = p + 1e-7
    np.testing.assert_allclose(geometry.mls_affine_deform(near, p, q), q, atol=1e-4)
    a, t = np.array([[1.2, 0.3], [-0.2, 0.8]]), np.array([1.0, 2.0])
    points = rng.uniform(0, 40, (30, 2))
    np.testing.assert_allclose(geometry.mls_affine_deform(points, p, p @ a + t),
                               points @ a + t, atol=1e-9)


def test_mls_warp_moves_the_image_with_its_handles():
    """A global affine motion of the handles warps the image exactly like that affine map
    (scikit-image's AffineTransform warp), and p == q leaves the image unchanged."""
    x = random_image((24, 30))
    p = np.array([[3.0, 4.0], [25.0, 5.0], [14.0, 20.0], [5.0, 18.0]])
    close(geometry.mls_affine_warp(x, p, p), x)
    matrix = np.array([[1.0, 0.1, 2.0], [-0.05, 0.95, 1.0], [0, 0, 1]])   # (x, y) column form
    q = geometry.apply_homography(matrix, p)
    expected = transform.warp(x, transform.AffineTransform(matrix).inverse, order=1,
                              mode="constant", cval=0.0)
    np.testing.assert_allclose(geometry.mls_affine_warp(x, p, q), expected, atol=1e-9)


def test_mls_needs_three_points_not_on_a_line():
    with pytest.raises(ValueError, match="must not all lie on a line"):
        geometry.mls_affine_deform([[0.0, 0.0]], [[0, 0], [1, 1], [2, 2]], [[0, 0], [1, 1], [2, 2]])
    with pytest.raises(ValueError, match="needs the same number n >= 3"):
        geometry.mls_affine_deform([[0.0, 0.0]], [[0, 0], [1, 1]], [[0, 0], [1, 1]])


# ----------------------------------------------------------------------------- pyramids

@pytest.mark.parametrize("downscale", [2, 1.5, 3])
@pytest.mark.parametrize("mode", ["reflect", "constant", "wrap"])
def test_gaussian_pyramid_equals_scikit_image(downscale, mode):
    """scikit-image blurs with scipy's ``mode`` and resizes with numpy.pad's (its 'reflect' is
    scipy's 'mirror'); shrinking never reads beyond the edge, so the modes agree."""
    x = random_image((37, 50))
    ours = pyramids.gaussian_pyramid(x, downscale=downscale, mode=mode, cval=0.2)
    theirs = list(transform.pyramid_gaussian(x, downscale=downscale, mode=mode, cval=0.2,
                                             preserve_range=True))
    assert [level.shape for level in ours] == [level.shape for level in theirs]
    for a, b in zip(ours, theirs):
        close(a, b)
    assert [lv.shape for lv in pyramids.gaussian_pyramid(x, max_layer=2)] == [
        (37, 50), (19, 25), (10, 13)]


def test_laplacian_pyramid_bands_and_exact_reconstruction():
    """L_k = G_k - expand(G_{k+1}); expanding reads beyond the edge, in scipy's 'reflect'
    (numpy.pad's and scikit-image's 'symmetric')."""
    x = random_image((40, 33))
    bands = pyramids.laplacian_pyramid(x, max_layer=3)
    gaussians = list(transform.pyramid_gaussian(x, max_layer=3, preserve_range=True))
    for band, fine, coarse in zip(bands, gaussians, gaussians[1:]):
        close(band, fine - transform.resize(coarse, fine.shape, order=1, mode="symmetric",
                                            anti_aliasing=False))
    close(bands[-1], gaussians[-1])
    close(pyramids.reconstruct_from_laplacian(bands), x)
    # a band-pass: away from the borders, blurring, shrinking and expanding keep a linear
    # ramp, so its fine band is zero there
    ramp = np.add.outer(np.arange(40.0), 2 * np.arange(32.0)) / 80
    assert np.abs(pyramids.laplacian_pyramid(ramp, max_layer=1)[0][6:-6, 6:-6]).max() < 1e-12


def test_subsampling_aliases_where_the_gaussian_pyramid_does_not():
    """003 「下采样」: dropping every other row and column of a fine stripe pattern gives a
    flat or wrong image; the Gaussian pyramid gives the stripes' mean grey."""
    stripes = np.tile([1.0, 0.0], (32, 16))                  # period-2 vertical stripes
    assert np.all(stripes[::2, ::2] == 1.0)                  # aliased to pure white
    level = pyramids.gaussian_pyramid(stripes, max_layer=1)[1]
    assert np.abs(level[2:-2, 2:-2] - 0.5).max() < 0.05
