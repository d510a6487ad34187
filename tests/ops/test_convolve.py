"""True convolution (``convolve1d/2d/3d``, the kernel flipped) beside the cross-correlation of
``conv2d``: against SciPy and against torch's conv with a flipped weight, float64 gradcheck,
and the properties lecture 004 「Convolution」 states (inventory B9)."""
import numpy as np
import pytest
import scipy.signal

import ember
import ember.nn.functional as F
from tests.harness import check_parity, gradcheck64

R = np.random.default_rng(9)


def _batch(a):
    return ember.tensor(np.asarray(a, np.float64)[None, None])


def convolve(f, h, padding="full"):
    """Single-channel 2-D true convolution of arrays through ``convolve2d``."""
    return F.convolve2d(_batch(f), _batch(h), padding=padding)[0, 0].numpy()


@pytest.mark.parametrize("mode", ["full", "valid"])
@pytest.mark.parametrize("kernel", [(3, 3), (2, 4), (1, 5)])
def test_b9_convolve2d_is_scipy_convolve2d(mode, kernel):
    f, h = R.standard_normal((7, 6)), R.standard_normal(kernel)
    np.testing.assert_allclose(convolve(f, h, mode), scipy.signal.convolve2d(f, h, mode),
                               rtol=1e-12, atol=1e-12)


def test_b9_same_padding_odd_kernel_is_scipy_same():
    f, h = R.standard_normal((6, 8)), R.standard_normal((3, 5))
    np.testing.assert_allclose(convolve(f, h, "same"), scipy.signal.convolve2d(f, h, "same"),
                               rtol=1e-12, atol=1e-12)


def test_b8_convolve1d_and_3d_against_numpy_and_scipy():
    """``g[i] = Σ_n f[n] h[i − n]`` (004 L58) is ``np.convolve``; 3-D is ``scipy.signal``'s."""
    f, h = R.standard_normal(11), R.standard_normal(4)
    out = F.convolve1d(ember.tensor(f[None, None]), ember.tensor(h[None, None]), padding="full")
    np.testing.assert_allclose(out[0, 0].numpy(), np.convolve(f, h, "full"), rtol=1e-12)
    v, k = R.standard_normal((4, 5, 6)), R.standard_normal((2, 3, 2))
    out = F.convolve3d(ember.tensor(v[None, None]), ember.tensor(k[None, None]))
    np.testing.assert_allclose(out[0, 0].numpy(), scipy.signal.convolve(v, k, "valid"),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("kw", [
    dict(),
    dict(padding="full"),
    dict(stride=2, padding=1),
    dict(dilation=2, padding="full"),
    dict(groups=2, padding=(1, 0)),
    dict(padding="same"),
])
def test_convolve2d_is_conv2d_with_a_flipped_weight_torch_parity(kw):
    """Against torch: ``conv2d(x, w.flip(-2, -1))`` with the same arguments ('full' spelled as
    the explicit padding d·(k − 1)); forward and the gradients of input, weight and bias."""
    torch_kw = dict(kw)
    if torch_kw.get("padding") == "full":
        torch_kw["padding"] = tuple(kw.get("dilation", 1) * (k - 1) for k in (3, 2))

    def fn(lib, x, w, b):
        if lib is ember:
            return F.convolve2d(x, w, b, **kw)
        return lib.nn.functional.conv2d(x, w.flip((2, 3)), b, **torch_kw)
    check_parity(fn, [R.standard_normal((2, 4, 7, 6)), R.standard_normal((6, 4 // kw.get(
        "groups", 1), 3, 2)), R.standard_normal(6)], dtype=np.float32)


def test_convolve_gradcheck_float64():
    assert gradcheck64(lambda x, w, b: F.convolve2d(x, w, b, stride=(1, 2), padding="full"),
                       [R.standard_normal((1, 2, 4, 5)), R.standard_normal((3, 2, 2, 3)),
                        R.standard_normal(3)])
    assert gradcheck64(lambda x, w: F.convolve1d(x, w, padding="full", dilation=2),
                       [R.standard_normal((2, 1, 6)), R.standard_normal((2, 1, 3))])
    assert gradcheck64(lambda x, w: F.convolve3d(x, w, padding=1),
                       [R.standard_normal((1, 1, 3, 3, 3)), R.standard_normal((1, 1, 2, 2, 2))])


def test_b9_linearity_and_shift_invariance():
    """004 L67–86: G(αf₁ + βf₂) = αG(f₁) + βG(f₂); G(f(· − a))(x) = G(f)(x − a)."""
    f1, f2, h = R.standard_normal((6, 6)), R.standard_normal((6, 6)), R.standard_normal((3, 3))
    np.testing.assert_allclose(convolve(2.5 * f1 - 0.7 * f2, h),
                               2.5 * convolve(f1, h) - 0.7 * convolve(f2, h), rtol=1e-12,
                               atol=1e-12)
    shifted = np.zeros((9, 8))
    shifted[2:8, 1:7] = f1                              # f moved by a = (2, 1)
    expected = np.zeros((11, 10))
    expected[2:10, 1:9] = convolve(f1, h)
    np.testing.assert_allclose(convolve(shifted, h), expected, rtol=1e-12, atol=1e-12)


def test_b9_commutative_and_associative():
    """004 L93–97: a * b = b * a and (a * b) * c = a * (b * c) (full convolutions)."""
    a, b, c = R.standard_normal((5, 4)), R.standard_normal((3, 3)), R.standard_normal((2, 4))
    np.testing.assert_allclose(convolve(a, b), convolve(b, a), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(convolve(convolve(a, b), c), convolve(a, convolve(b, c)),
                               rtol=1e-12, atol=1e-12)


def test_b9_impulse_and_shifted_impulse():
    """004 L171–189: f * δ = f; f * δ(x − u, y − v) = f(x − u, y − v)."""
    f = R.standard_normal((5, 6))
    delta = np.zeros((3, 3))
    delta[1, 1] = 1
    np.testing.assert_array_equal(convolve(f, delta, "same"), f)
    shift = np.zeros((3, 3))
    shift[2, 0] = 1                                    # δ(x − u, y − v), (u, v) = (1, −1)
    expected = np.zeros_like(f)
    expected[1:, :-1] = f[:-1, 1:]
    np.testing.assert_array_equal(convolve(f, shift, "same"), expected)


def test_h6_sobel_printed_output_is_correlation_not_convolution():
    """Inventory H6 (004 L111–144, ⚠ slide formula): the slide defines g = f * h with the flip,
    but its printed Sobel output is the correlation; the true convolution negates it."""
    image = ([[0] * 8, [0, 0, 0, 0, 0, 1, 1, 0]] + [[0, 1, 1, 1, 1, 1, 1, 0]] * 3
             + [[0, 0, 1, 1, 1, 0, 0, 0]] * 2 + [[0] * 8])
    sobel = [[1, 2, 1], [0, 0, 0], [-1, -2, -1]]
    printed = np.array([[-3, -4, -4, -4, -4, -3], [-3, -4, -4, -3, -1, 0], [0, 0, 0, 0, 0, 0],
                        [2, 1, 0, 1, 3, 3], [2, 1, 0, 1, 3, 3], [1, 3, 4, 3, 1, 0]])
    np.testing.assert_array_equal(F.conv2d(_batch(image), _batch(sobel))[0, 0].numpy(), printed)
    np.testing.assert_array_equal(convolve(image, sobel, "valid"), -printed)


def test_convolve_errors_name_the_function():
    with pytest.raises(RuntimeError, match="convolve2d: expected a 4-D weight"):
        F.convolve2d(ember.randn(1, 1, 5, 5), ember.randn(3, 3), padding="full")
    with pytest.raises(RuntimeError, match="convolve1d: dilation must be positive"):
        F.convolve1d(ember.randn(1, 1, 5), ember.randn(1, 1, 2), padding="full", dilation=0)
    with pytest.raises(RuntimeError, match="convolve2d: invalid padding string 'fill'"):
        F.convolve2d(ember.randn(1, 1, 5, 5), ember.randn(1, 1, 3, 3), padding="fill")
