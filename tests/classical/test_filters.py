"""ember.classical.filters against scipy.ndimage (every border mode), scikit-image, finite
differences for the Tensor path, and the lecture's filter facts (inventory F13, F14, H6, H29)."""
import math

import numpy as np
import pytest
import scipy.ndimage as ndi

import ember
from ember.autograd import gradcheck
from ember.classical import borders, filters

MODES = ["reflect", "mirror", "nearest", "wrap", "constant"]
# (rows, cols): tiny axes make every mode extend further than the image itself
SHAPES = [(7, 9), (1, 5), (2, 3), (12, 4)]
CVAL = 0.75


def float64_close(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-12 * max(
        1.0, float(np.max(np.abs(expected)))))


def image(shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# --------------------------------------------------------------------- borders

@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_extended_indices_are_scipys_extension(mode, size):
    """Reading through the index map equals what scipy.ndimage sees beyond the edge: a 1-D
    correlation with a shifted delta returns x[i + d] for every offset d up to 9 > size."""
    x = np.arange(1.0, size + 1)
    reach = 9
    index = borders.extended_indices(size, reach, reach, mode)
    extended = np.where(index >= 0, x[np.maximum(index, 0)], CVAL)
    for d in range(-reach, reach + 1):
        delta = np.zeros(2 * reach + 1)
        delta[reach + d] = 1.0
        expected = ndi.correlate1d(x, delta, mode=mode, cval=CVAL)
        np.testing.assert_array_equal(extended[reach + d: reach + d + size], expected)


def test_mode_aliases_and_unknown_mode():
    assert borders.check_mode("grid-mirror", "f") == "reflect"
    assert borders.check_mode("grid-wrap", "f") == "wrap"
    assert borders.check_mode("grid-constant", "f") == "constant"
    with pytest.raises(ValueError, match=r"gaussian_filter: unknown border mode 'edge'"):
        filters.gaussian_filter(np.zeros((4, 4)), 1.0, mode="edge")


# ------------------------------------------------------- NumPy arrays against scipy.ndimage

@pytest.mark.parametrize("mode", MODES + ["grid-mirror", "grid-wrap", "grid-constant"])
@pytest.mark.parametrize("shape", SHAPES)
def test_linear_filters_equal_scipy(mode, shape):
    x = image(shape)
    kernel = image((4, 3), seed=1)                 # even rows: scipy's centring of even kernels
    kw = dict(mode=mode, cval=CVAL)
    float64_close(filters.correlate(x, kernel, **kw), ndi.correlate(x, kernel, **kw))
    float64_close(filters.convolve(x, kernel, **kw), ndi.convolve(x, kernel, **kw))
    float64_close(filters.mean_filter(x, 3, **kw), ndi.uniform_filter(x, 3, **kw))
    float64_close(filters.mean_filter(x, (4, 2), **kw), ndi.uniform_filter(x, (4, 2), **kw))
    float64_close(filters.gaussian_filter(x, 1.3, **kw), ndi.gaussian_filter(x, 1.3, **kw))
    float64_close(filters.gaussian_filter(x, (0.7, 2.0), truncate=3.0, **kw),
                  ndi.gaussian_filter(x, (0.7, 2.0), truncate=3.0, **kw))
    float64_close(filters.gaussian_filter(x, (1.0, 0.0), radius=(2, 5), **kw),
                  ndi.gaussian_filter(x, (1.0, 0.0), radius=(2, 5), **kw))
    for axis in (0, 1, -1):
        float64_close(filters.sobel(x, axis, **kw), ndi.sobel(x, axis, **kw))
        float64_close(filters.prewitt(x, axis, **kw), ndi.prewitt(x, axis, **kw))
    float64_close(filters.laplace(x, **kw), ndi.laplace(x, **kw))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size", [3, (4, 3), (2, 5)])
def test_median_filter_equals_scipy_and_keeps_the_dtype(mode, size):
    x = image((9, 8))
    np.testing.assert_array_equal(filters.median_filter(x, size, mode=mode, cval=CVAL),
                                  ndi.median_filter(x, size, mode=mode, cval=CVAL))
    pixels = np.random.default_rng(2).integers(0, 256, (6, 7)).astype(np.uint8)
    out = filters.median_filter(pixels, size, mode=mode, cval=7)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, ndi.median_filter(pixels, size, mode=mode, cval=7))


def test_median_filter_removes_salt_and_pepper_noise():
    """Lecture 004: the median, not the mean, ignores isolated outliers."""
    clean = np.full((10, 10), 0.5)
    noisy = clean.copy()
    noisy[2, 3], noisy[6, 7] = 1.0, 0.0
    np.testing.assert_array_equal(filters.median_filter(noisy, 3), clean)
    assert np.abs(filters.mean_filter(noisy, 3) - clean).max() > 0.05


def test_channels_last_photograph_with_axes():
    """An H x W x C photograph: filtering axes (0, 1) equals scipy on the same axes."""
    photo = image((10, 11, 3))
    float64_close(filters.gaussian_filter(photo, 2.0, axes=(0, 1)),
                  ndi.gaussian_filter(photo, 2.0, axes=(0, 1)))
    float64_close(filters.mean_filter(photo, 3, axes=(0, 1)),
                  ndi.uniform_filter(photo, 3, axes=(0, 1)))
    float64_close(filters.laplace(photo, axes=(0, 1)), ndi.laplace(photo, axes=(0, 1)))
    per_channel = np.stack([ndi.sobel(photo[..., c], 1) for c in range(3)], axis=-1)
    float64_close(filters.sobel(photo, 1, axes=(0, 1)), per_channel)
    np.testing.assert_array_equal(filters.median_filter(photo, 3, axes=(0, 1)),
                                  ndi.median_filter(photo, 3, axes=(0, 1)))


@pytest.mark.parametrize("shape,axes", [((3, 300, 301), (-2, -1)), ((300, 301, 3), (0, 1)),
                                        ((2, 260, 2, 270), (1, 3))])
def test_large_images_filtered_block_by_block_equal_scipy(shape, axes):
    """Images larger than a cache block are cut into blocks, along the filtered axis (with
    the kernel's overlap) or across it; every cut gives scipy's result."""
    x = image(shape)
    for mode in ("reflect", "constant", "wrap"):
        kw = dict(mode=mode, cval=CVAL)
        float64_close(filters.gaussian_filter(x, 3.0, axes=axes, **kw),
                      ndi.gaussian_filter(x, 3.0, axes=axes, **kw))
        float64_close(filters.laplace(x, axes=axes, **kw), ndi.laplace(x, axes=axes, **kw))
        axis = axes[0] % x.ndim                    # Sobel over these two axes only
        derivative = ndi.correlate1d(x, [-1.0, 0.0, 1.0], axis, **kw)
        float64_close(filters.sobel(x, axis, axes=axes, **kw),
                      ndi.correlate1d(derivative, [1.0, 2.0, 1.0], axes[1], **kw))


def test_batch_of_images_is_filtered_image_by_image():
    batch = image((2, 3, 6, 7))
    expected = ndi.gaussian_filter(batch, 1.0, axes=(2, 3))
    float64_close(filters.gaussian_filter(batch, 1.0), expected)


@pytest.mark.parametrize("mode", MODES)
def test_float32_stays_float32_within_rounding(mode):
    """float32 images are filtered in float32: each output is a sum of 2 x 17 products of
    weights summing to 1, so it is within about 2 * 17 float32 roundings of the value."""
    x = image((32, 33), dtype=np.float32)
    out = filters.gaussian_filter(x, 2.0, mode=mode, cval=CVAL)
    assert out.dtype == np.float32
    expected = ndi.gaussian_filter(x.astype(np.float64), 2.0, mode=mode, cval=CVAL)
    bound = 2 * 17 * np.finfo(np.float32).eps * max(np.abs(x).max(), CVAL)
    assert np.abs(out - expected).max() <= bound


def test_integer_images_are_filtered_in_float64():
    pixels = np.arange(30, dtype=np.uint8).reshape(5, 6)
    out = filters.gaussian_filter(pixels, 1.0)
    assert out.dtype == np.float64
    float64_close(out, ndi.gaussian_filter(pixels.astype(np.float64), 1.0))


def test_unsharp_mask_equals_scikit_image():
    skimage_filters = pytest.importorskip("skimage.filters")
    x = np.random.default_rng(3).random((12, 10))
    for sigma, amount in [(1.0, 1.0), (2.5, 0.6)]:
        float64_close(filters.unsharp_mask(x, sigma, amount),
                      skimage_filters.unsharp_mask(x, radius=sigma, amount=amount,
                                                   preserve_range=True))


def test_image_gradient_and_polar_form():
    x = image((9, 10))
    g_row, g_col = filters.image_gradient(x, "sobel")
    float64_close(g_row, ndi.sobel(x, 0))
    float64_close(g_col, ndi.sobel(x, 1))
    g_row, g_col = filters.image_gradient(x, "prewitt", mode="nearest")
    float64_close(g_col, ndi.prewitt(x, 1, mode="nearest"))
    g_row, g_col = filters.image_gradient(x, "central")
    np_row, np_col = np.gradient(x)                  # centred differences inside the image
    float64_close(g_row[1:-1], np_row[1:-1])
    float64_close(g_col[:, 1:-1], np_col[:, 1:-1])
    magnitude, orientation = filters.gradient_magnitude_orientation(x)
    float64_close(magnitude, np.hypot(ndi.sobel(x, 0), ndi.sobel(x, 1)))
    float64_close(orientation, np.arctan2(ndi.sobel(x, 0), ndi.sobel(x, 1)))
    with pytest.raises(ValueError, match="image_gradient: operator must be one of"):
        filters.image_gradient(x, "roberts")


# ----------------------------------------------------------------- Fourier domain

@pytest.mark.parametrize("kernel_shape", [(3, 3), (4, 5), (9, 9)])
def test_convolution_theorem_fft_equals_spatial_wrap_convolution(kernel_shape):
    """G(u) = F(u) H(u): the product of DFTs is the periodic ('wrap') spatial convolution."""
    x = image((16, 13))
    kernel = image(kernel_shape, seed=4)
    float64_close(filters.fft_convolve(x, kernel), ndi.convolve(x, kernel, mode="wrap"))
    float64_close(filters.fft_convolve(x, kernel), filters.convolve(x, kernel, mode="wrap"))


def test_fourier_gaussian_low_and_high_pass():
    x = image((20, 15))
    low = filters.fourier_gaussian_filter(x, 2.0)
    expected = np.fft.ifft2(ndi.fourier_gaussian(np.fft.fft2(x), 2.0)).real
    float64_close(low, expected)
    high = filters.fourier_gaussian_filter(x, 2.0, highpass=True)
    float64_close(low + high, x)
    # low-pass keeps the mean (u = 0) and smooths: less total variation than the image
    assert abs(low.mean() - x.mean()) < 1e-12 and abs(high.mean()) < 1e-12
    assert np.abs(np.diff(low)).sum() < 0.5 * np.abs(np.diff(x)).sum()


def test_fourier_functions_refuse_tensors():
    with pytest.raises(TypeError, match="fft_convolve: works on NumPy arrays"):
        filters.fft_convolve(ember.zeros(4, 4), np.ones((3, 3)))


# ------------------------------------------------------------- the lecture's facts

H6_INPUT = np.array([[0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 1, 1, 0],
                     [0, 1, 1, 1, 1, 1, 1, 0], [0, 1, 1, 1, 1, 1, 1, 0],
                     [0, 1, 1, 1, 1, 1, 1, 0], [0, 0, 1, 1, 1, 0, 0, 0],
                     [0, 0, 1, 1, 1, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0]], dtype=float)
H6_PRINTED = np.array([[-3, -4, -4, -4, -4, -3], [-3, -4, -4, -3, -1, 0], [0, 0, 0, 0, 0, 0],
                       [2, 1, 0, 1, 3, 3], [2, 1, 0, 1, 3, 3], [1, 3, 4, 3, 1, 0]])
LECTURE_SOBEL = np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]], dtype=float)


def test_h6_sobel_example_is_a_correlation():
    """H6 (004 L111–144), reconstructed input (⚠ garbled on the slide): the printed 6x6 output
    is the sliding dot product (correlate), valid part; the slide's own flipped-convolution
    formula negates every entry, and that is the row derivative ``sobel(axis=0)``."""
    np.testing.assert_array_equal(filters.correlate(H6_INPUT, LECTURE_SOBEL)[1:-1, 1:-1],
                                  H6_PRINTED)
    np.testing.assert_array_equal(filters.convolve(H6_INPUT, LECTURE_SOBEL)[1:-1, 1:-1],
                                  -H6_PRINTED)
    np.testing.assert_array_equal(filters.sobel(H6_INPUT, axis=0)[1:-1, 1:-1], -H6_PRINTED)
    assert H6_INPUT.shape[0] - 3 + 1 == H6_PRINTED.shape[0]      # (n_h - k_h + 1)


def test_h29_sobel_is_an_outer_product_and_separable():
    """004 「Sobel Filter」: [[1,2,1],[0,0,0],[-1,-2,-1]] = [1,0,-1]^T (x) [1 2 1]; so the 2-D
    correlation equals the two 1-D passes of :func:`sobel`, and Sobel along rows is its
    transpose's along columns. (With a non-zero ``cval`` the two passes differ at the
    border, since the first pass's output is padded with ``cval`` again, as in scipy.)"""
    np.testing.assert_array_equal(LECTURE_SOBEL, np.outer([1, 0, -1], [1, 2, 1]))
    np.testing.assert_array_equal(filters.sobel_kernel(0), -LECTURE_SOBEL)
    np.testing.assert_array_equal(filters.sobel_kernel(1), -LECTURE_SOBEL.T)
    np.testing.assert_array_equal(filters.prewitt_kernel(0), np.outer([-1, 0, 1], [1, 1, 1]))
    x = image((8, 9))
    for mode in MODES:
        for axis in (0, 1):
            float64_close(filters.sobel(x, axis, mode=mode),
                          filters.correlate(x, filters.sobel_kernel(axis), mode=mode))


def test_h29_gaussian_formula_separability_and_cost():
    """004 「Gaussian Filtering」: n_sigma[i, j] = 1/(2 pi sigma^2) exp(-(i^2+j^2)/(2 sigma^2));
    one 2-D filter = two 1-D filters; cost N^2 K^2 vs N^2 K (2 N^2 K for the two passes)."""
    for sigma in (2.0, 3.0):
        raw = filters.gaussian_kernel2d(sigma, normalize=False)
        radius = int(4 * sigma + 0.5)
        assert raw.shape == (2 * radius + 1,) * 2
        assert raw[radius, radius] == pytest.approx(1 / (2 * math.pi * sigma ** 2), rel=1e-15)
        assert raw[radius + 1, radius - 2] == pytest.approx(
            math.exp(-0.5 * 5 / sigma ** 2) / (2 * math.pi * sigma ** 2), rel=1e-15)
        assert raw.sum() == pytest.approx(1.0, abs=1e-3)            # the tails beyond 4 sigma
        g = filters.gaussian_kernel1d(sigma)
        float64_close(filters.gaussian_kernel2d(sigma), np.outer(g, g))
    x = image((20, 21))
    for mode in MODES:
        float64_close(filters.gaussian_filter(x, 2.0, mode=mode, cval=CVAL),
                      filters.correlate(x, filters.gaussian_kernel2d(2.0), mode=mode, cval=CVAL))
    assert filters.convolution_cost(512, 17) == 512 ** 2 * 17 ** 2
    assert filters.convolution_cost(512, 17, separable=True) == 2 * 512 ** 2 * 17
    # larger sigma, more blurring: the image's variation falls monotonically
    variation = [np.abs(np.diff(filters.gaussian_filter(x, s))).sum() for s in (2, 3, 4, 5)]
    assert variation == sorted(variation, reverse=True)


def test_h29_box_kernel_impulse_and_shift():
    """004: the box kernel is ones(3, 3)/9 and mean filtering is correlating with it; the
    impulse leaves an image unchanged (f * delta = f); a shifted impulse shifts it."""
    np.testing.assert_array_equal(filters.box_kernel(3), np.ones((3, 3)) / 9)
    x = image((7, 8))
    float64_close(filters.mean_filter(x, 3), filters.correlate(x, filters.box_kernel(3)))
    delta = np.zeros((3, 3))
    delta[1, 1] = 1
    for mode in MODES:
        np.testing.assert_array_equal(filters.convolve(x, delta, mode=mode), x)
    shifted = np.zeros((5, 5))
    shifted[2 + 1, 2 + 2] = 1                            # delta(x - u, y - v), u = 1, v = 2
    np.testing.assert_array_equal(filters.convolve(x, shifted, mode="wrap"),
                                  np.roll(x, (1, 2), axis=(0, 1)))


# ----------------------------------------------------- Ember tensors: values and gradients

@pytest.mark.parametrize("mode", MODES)
def test_tensor_filters_equal_the_numpy_filters(mode):
    x = image((2, 3, 7, 6))
    t = ember.tensor(x)
    kw = dict(mode=mode, cval=CVAL)
    kernel = image((2, 3), seed=5)
    pairs = [
        (filters.gaussian_filter(t, 1.2, **kw), filters.gaussian_filter(x, 1.2, **kw)),
        (filters.mean_filter(t, (2, 3), **kw), filters.mean_filter(x, (2, 3), **kw)),
        (filters.correlate(t, kernel, **kw), filters.correlate(x, kernel, **kw)),
        (filters.convolve(t, kernel, **kw), filters.convolve(x, kernel, **kw)),
        (filters.sobel(t, 2, **kw), filters.sobel(x, 2, **kw)),
        (filters.laplace(t, **kw), filters.laplace(x, **kw)),
        (filters.median_filter(t, 3, **kw), filters.median_filter(x, 3, **kw)),
        (filters.unsharp_mask(t, 1.0, 0.5, **kw), filters.unsharp_mask(x, 1.0, 0.5, **kw)),
    ]
    for out, expected in pairs:
        assert isinstance(out, ember.Tensor) and out.dtype == ember.float64
        float64_close(out.numpy(), expected)
    t_photo = ember.tensor(image((5, 6, 2)))
    float64_close(filters.gaussian_filter(t_photo, 1.0, axes=(0, 1), **kw).numpy(),
                  ndi.gaussian_filter(t_photo.numpy(), 1.0, axes=(0, 1), **kw))


@pytest.mark.parametrize("mode", MODES)
def test_tensor_filters_pass_gradcheck(mode):
    x = ember.tensor(image((1, 2, 5, 4)), requires_grad=True)
    kw = dict(mode=mode, cval=CVAL)
    kernel = image((3, 2), seed=6)
    assert gradcheck(lambda t: filters.gaussian_filter(t, 0.8, **kw), (x,))
    assert gradcheck(lambda t: filters.convolve(t, kernel, **kw), (x,))
    assert gradcheck(lambda t: filters.sobel(t, -1, **kw), (x,))
    assert gradcheck(lambda t: filters.median_filter(t, 3, **kw), (x,))
    if mode != "mirror":     # 'mirror' makes both derivatives 0 at the corners: no gradient
        assert gradcheck(lambda t: filters.gradient_magnitude_orientation(t, **kw), (x,))


def test_f14_image_gradient_as_a_fixed_conv_layer():
    """003 「图像梯度」 (F14): a 400x600x1 image to 400x600x2 (d/drow, d/dcol) by one conv layer
    of 2 fixed 3x3 kernels: 18 weights, no trainable parameter."""
    layer = filters.Filter2d(np.stack([filters.sobel_kernel(0), filters.sobel_kernel(1)]))
    assert layer.kernels.numel() == 18 and len(list(layer.parameters())) == 0
    x = np.random.default_rng(7).random((1, 1, 400, 600)).astype(np.float32)
    out = layer(ember.from_numpy(x))
    assert tuple(out.shape) == (1, 2, 400, 600)
    # a float32 dot product of 9 terms whose magnitudes sum to at most 8 (|x| <= 1): error
    # within 9 * 8 float32 epsilons, whatever order the BLAS sums in
    bound = 9 * 8 * np.finfo(np.float32).eps
    assert np.abs(out.numpy()[0, 0] - ndi.sobel(x[0, 0].astype(np.float64), 0)).max() < bound
    assert np.abs(out.numpy()[0, 1] - ndi.sobel(x[0, 0].astype(np.float64), 1)).max() < bound
    assert "kernels=2x3x3" in repr(layer) and "kernels" in layer.state_dict()
    small = ember.tensor(image((2, 3, 4, 5)), requires_grad=True)
    layer64 = filters.Filter2d(filters.box_kernel(3), mode="wrap")
    out = layer64(small)
    assert tuple(out.shape) == (2, 3, 4, 5)
    float64_close(out.detach().numpy(), ndi.uniform_filter(small.detach().numpy(), 3,
                                                            mode="wrap", axes=(2, 3)))
    assert gradcheck(layer64, (small,))
    with pytest.raises(ValueError, match=r"Filter2d: expected an \(N, C, H, W\) Tensor"):
        layer(ember.zeros(3, 4))


# ------------------------------------------------------------------------ bad input

def test_errors_name_the_function_and_the_value():
    with pytest.raises(ValueError, match=r"correlate: kernel must be a non-empty 2-D array, got "
                                         r"shape \(3,\)"):
        filters.correlate(np.zeros((4, 4)), np.ones(3))
    with pytest.raises(ValueError, match="gaussian_filter: sigma must be >= 0"):
        filters.gaussian_filter(np.zeros((4, 4)), -1.0)
    with pytest.raises(ValueError, match="mean_filter: expected an image with at least 2 "):
        filters.mean_filter(np.zeros(4))
    with pytest.raises(ValueError, match="sobel: axis 0 must be one of the spatial axes"):
        filters.sobel(np.zeros((3, 4, 4)), axis=0, axes=(1, 2))
    with pytest.raises(ValueError, match="median_filter: axes must be two different axes"):
        filters.median_filter(np.zeros((4, 4)), axes=(0, 0))
    with pytest.raises(TypeError, match="a Tensor image must be floating point"):
        filters.gaussian_filter(ember.zeros(4, 4, dtype=ember.int64), 1.0)
