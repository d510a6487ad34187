"""The lectures' convolution worked numbers (LECTURE_INVENTORY.md section H), computed by Ember.

Slides flagged ⚠ in the inventory are used only in their corrected form (noted per test). All
"convolutions" of the slides are cross-correlations (003 L1911: "实际操作中均使用矩阵乘法和互相关
来实现卷积"), which is what ``conv2d`` computes.
"""
import numpy as np
import pytest

import ember
from ember.ops import conv


def corr2d(image, kernel, **kw):
    """A single-channel 2-D correlation through ``conv2d``: (H, W) ⋆ (kH, kW) → (H', W')."""
    x = ember.tensor(image, dtype=ember.float32).reshape(1, 1, *np.shape(image))
    w = ember.tensor(kernel, dtype=ember.float32).reshape(1, 1, *np.shape(kernel))
    return conv.conv2d(x, w, **kw)[0, 0].numpy()


def test_h1_8x8_image_3x3_filter():
    """H1 (002 L118–146): 8×8 binary image ⋆ [[1,0,1],[0,1,0],[1,0,1]] → 6×6 "Convolved
    Features". ⚠ The slide's heading says 1-D; the example is 2-D. The slide prints the first
    rows (5 3 4 1 2 0 / 1 5 3 4 1 2 / 4 1 5 3 …); the rest is the inventory's recomputation."""
    # inventory B5
    image = [[1, 1, 1, 0, 0, 0, 1, 0], [0, 1, 1, 1, 0, 0, 0, 1], [1, 0, 1, 1, 1, 0, 0, 0],
             [0, 1, 0, 1, 1, 1, 0, 0], [0, 0, 1, 0, 1, 1, 1, 0], [0, 0, 0, 1, 1, 1, 0, 1],
             [1, 0, 1, 0, 1, 0, 1, 0], [0, 1, 0, 1, 0, 1, 0, 1]]
    out = corr2d(image, [[1, 0, 1], [0, 1, 0], [1, 0, 1]])
    assert out.shape == (6, 6)                       # 8 − 3 + 1
    np.testing.assert_array_equal(out[0], [5, 3, 4, 1, 2, 0])
    np.testing.assert_array_equal(out[1], [1, 5, 3, 4, 1, 2])
    np.testing.assert_array_equal(out[2, :4], [4, 1, 5, 3])
    np.testing.assert_array_equal(out, [[5, 3, 4, 1, 2, 0], [1, 5, 3, 4, 1, 2],
                                        [4, 1, 5, 3, 4, 1], [0, 4, 2, 5, 3, 4],
                                        [3, 0, 5, 2, 5, 1], [0, 4, 1, 5, 1, 5]])
    assert out[2, 3] == 3                            # the x1/x0 overlay drawn on the slide


def test_h2_edge_example_6x6():
    """H2 (002 L179–195): 6×6 image with the vertical filter [[1,0,−1]]×3 (result derived)."""
    image = [[3, 0, 1, 2, 7, 4], [1, 5, 8, 9, 3, 1], [2, 7, 2, 5, 1, 3], [0, 1, 3, 1, 7, 8],
             [4, 2, 1, 6, 2, 8], [2, 4, 5, 2, 3, 9]]
    out = corr2d(image, [[1, 0, -1]] * 3)
    np.testing.assert_array_equal(out, [[-5, -4, 0, 8], [-10, -2, 2, 3], [0, -2, -4, -7],
                                        [-3, -2, -3, -16]])


@pytest.mark.parametrize("row,expected", [([10, 10, 10, 0, 0, 0], [0, 30, 30, 0]),
                                          ([0, 0, 0, 10, 10, 10], [0, -30, -30, 0])])
def test_h3_vertical_edge_detection(row, expected):
    """H3 (002 L197–250): a bright/dark step gives a band of ±30 where the edge is."""
    out = corr2d([row] * 6, [[1, 0, -1]] * 3)
    np.testing.assert_array_equal(out, [expected] * 4)


def test_h4_curve_detector():
    """H4 (002 L256–339): the six-entry curve filter (⚠ the second rendering's extra 30 at (6,3)
    is a slip) gives 6600 on the curve-like receptive field and 0 on the other one."""
    # inventory G14
    f = np.zeros((7, 7))
    for r, c in [(0, 5), (1, 4), (2, 3), (3, 3), (4, 3), (5, 3)]:
        f[r, c] = 30
    field1 = np.array([[0, 0, 0, 0, 0, 0, 30], [0, 0, 0, 0, 50, 50, 50], [0, 0, 0, 20, 50, 0, 0]]
                      + [[0, 0, 0, 50, 50, 0, 0]] * 4)
    field2 = np.zeros((7, 7))
    field2[1, 1] = field2[2, 0] = field2[2, 2] = field2[3, 0] = 40
    field2[3, 1], field2[4, 1], field2[5, 2] = 20, 50, 50
    field2[6] = [25, 25, 0, 50, 0, 0, 0]
    assert corr2d(field1, f).item() == 6600          # (50*30)+(50*30)+(50*30)+(20*30)+(50*30)
    assert corr2d(field2, f).item() == 0


def test_h5_filter1_filter2_two_output_channels():
    """H5 (003 L8872–9020): one 6×6 image, two 3×3 filters → a 2-channel 4×4 output; Filter 1
    at stride 2 (derived) → 2×2."""
    # inventory B11
    image = ember.tensor([[1, 0, 0, 0, 0, 1], [0, 1, 0, 0, 1, 0], [0, 0, 1, 1, 0, 0],
                          [1, 0, 0, 0, 1, 0], [0, 1, 0, 0, 1, 0], [0, 0, 1, 0, 1, 0]],
                         dtype=ember.float32).reshape(1, 1, 6, 6)
    filters = ember.tensor([[[1, -1, -1], [-1, 1, -1], [-1, -1, 1]],
                            [[-1, 1, -1]] * 3], dtype=ember.float32).reshape(2, 1, 3, 3)
    out = conv.conv2d(image, filters)[0].numpy()
    np.testing.assert_array_equal(out[0], [[3, -1, -3, -1], [-3, 1, 0, -3], [-3, -3, 0, 1],
                                           [3, -2, -2, -1]])
    np.testing.assert_array_equal(out[1], [[-1, -1, -1, -1], [-1, -1, -2, 1], [-1, -1, -2, 1],
                                           [-1, 0, -4, 3]])
    np.testing.assert_array_equal(conv.conv2d(image, filters[:1], stride=2)[0, 0].numpy(),
                                  [[3, -3], [-3, 0]])


def test_h6_sobel_is_a_correlation():
    """H6 (004 L111–144): the reconstructed 8×8 input (⚠ the slide's text is garbled) with the
    Sobel filter [[1,2,1],[0,0,0],[−1,−2,−1]] gives the printed 6×6 output as a correlation
    (⚠ the slide's flipped-convolution formula would negate every entry)."""
    image = ([[0] * 8, [0, 0, 0, 0, 0, 1, 1, 0]] + [[0, 1, 1, 1, 1, 1, 1, 0]] * 3
             + [[0, 0, 1, 1, 1, 0, 0, 0]] * 2 + [[0] * 8])
    sobel = [[1, 2, 1], [0, 0, 0], [-1, -2, -1]]
    printed = [[-3, -4, -4, -4, -4, -3], [-3, -4, -4, -3, -1, 0], [0, 0, 0, 0, 0, 0],
               [2, 1, 0, 1, 3, 3], [2, 1, 0, 1, 3, 3], [1, 3, 4, 3, 1, 0]]
    out = corr2d(image, sobel)
    assert out.shape == (8 - 3 + 1, 8 - 3 + 1)      # (n_h − k_h + 1) × (n_w − k_w + 1)
    np.testing.assert_array_equal(out, printed)
    # true convolution (kernel flipped) is the negation here, as the inventory notes
    np.testing.assert_array_equal(corr2d(image, np.flip(sobel)), -np.array(printed))


def test_h9_symbolic_conv_backward():
    """H9 (002 L553–591): X = [[a..i]], W = [[1,2],[3,4]]; Y = corr(X, W) and the input
    gradient P_err = full-conv(Q_err, rot180(W)) in the corrected form (⚠ the slide's text
    drops terms)."""
    # inventory A12
    a, b, c, d, e, f, g, h, i = np.random.randn(9)
    A, B, C, D = np.random.randn(4)
    x = ember.tensor([[[[a, b, c], [d, e, f], [g, h, i]]]], dtype=ember.float64,
                     requires_grad=True)
    w = ember.tensor([[[[1., 2.], [3., 4.]]]], dtype=ember.float64)
    y = conv.conv2d(x, w)
    np.testing.assert_allclose(y[0, 0].detach().numpy(),
                               [[a + 2 * b + 3 * d + 4 * e, b + 2 * c + 3 * e + 4 * f],
                                [d + 2 * e + 3 * g + 4 * h, e + 2 * f + 3 * h + 4 * i]], rtol=1e-12)
    y.backward(ember.tensor([[[[A, B], [C, D]]]], dtype=ember.float64))
    p_err = [[A, 2 * A + B, 2 * B], [3 * A + C, 4 * A + 3 * B + 2 * C + D, 4 * B + 2 * D],
             [3 * C, 4 * C + 3 * D, 4 * D]]
    np.testing.assert_allclose(x.grad[0, 0].numpy(), p_err, rtol=1e-12, atol=1e-12)
    # ... which is the "full" correlation of the zero-padded Q_err with W rotated by 180°
    q = ember.tensor([[[[A, B], [C, D]]]], dtype=ember.float64)
    full = conv.conv2d(conv.pad(q, (1, 1, 1, 1)), ember.flip(w, (2, 3)))
    np.testing.assert_allclose(full[0, 0].numpy(), p_err, rtol=1e-12, atol=1e-12)


def test_h10_two_kernel_conv_backward():
    """H10 (002 L593–667): a 3×3 map feeding two 2×2 kernels; the deltas of the two 2×2 output
    maps propagate back as delta-weighted copies of each kernel, summed over the maps."""
    # inventory A12
    x = ember.zeros(1, 1, 3, 3, requires_grad=True)
    w = ember.tensor([[[[0.1, 0.2], [0.2, 0.4]]], [[[-0.3, 0.1], [0.1, 0.2]]]])
    delta = ember.tensor([[[[1., 3.], [2., 2.]], [[2., 1.], [1., 1.]]]])
    conv.conv2d(x, w).backward(delta)
    np.testing.assert_allclose(x.grad[0, 0].numpy(), [[-0.5, 0.4, 0.7], [0.3, 1.9, 1.9],
                                                      [0.5, 1.5, 1.0]], atol=1e-6)
    # each map's share is a transposed conv of its delta with its kernel
    per_map = [conv.conv_transpose2d(delta[:, k:k + 1], w[k:k + 1])[0, 0].numpy()
               for k in range(2)]
    np.testing.assert_allclose(per_map[0], [[0.1, 0.5, 0.6], [0.4, 1.6, 1.6], [0.4, 1.2, 0.8]],
                               atol=1e-6)
    np.testing.assert_allclose(per_map[1], [[-0.6, -0.1, 0.1], [-0.1, 0.3, 0.3],
                                            [0.1, 0.3, 0.2]], atol=1e-6)


def test_h14_conv_and_transposed_conv_as_matrices():
    """H14 (003 L4214–4254): input [a b c d], filter [x y z], stride 1, pad 1. The conv is the
    4×6 matrix with rows [x y z 0 0 0] … times the padded input; the transposed conv multiplies
    by its transpose, giving 6 values (⚠ the padded length; cropping pad = 1 leaves the middle
    4)."""
    # inventory B8, B23
    a, b, c, d = np.random.randn(4)
    x_, y_, z_ = np.random.randn(3)
    inp = ember.tensor([[[a, b, c, d]]], dtype=ember.float64)
    k = ember.tensor([[[x_, y_, z_]]], dtype=ember.float64)
    np.testing.assert_allclose(conv.conv1d(inp, k, padding=1)[0, 0].numpy(),
                               [a * y_ + b * z_, a * x_ + b * y_ + c * z_,
                                b * x_ + c * y_ + d * z_, c * x_ + d * y_], rtol=1e-12)
    transposed = [a * x_, a * y_ + b * x_, a * z_ + b * y_ + c * x_, b * z_ + c * y_ + d * x_,
                  c * z_ + d * y_, d * z_]
    np.testing.assert_allclose(conv.conv_transpose1d(inp, k)[0, 0].numpy(), transposed,
                               rtol=1e-12)
    np.testing.assert_allclose(conv.conv_transpose1d(inp, k, padding=1)[0, 0].numpy(),
                               transposed[1:-1], rtol=1e-12)
    # the matrices themselves: columns of the conv matrix are convs of basis vectors
    matrix = np.stack([conv.conv1d(ember.tensor(np.eye(6)[j][None, None]), k)[0, 0].numpy()
                       for j in range(6)], axis=1)
    np.testing.assert_allclose(matrix, [[x_, y_, z_, 0, 0, 0], [0, x_, y_, z_, 0, 0],
                                        [0, 0, x_, y_, z_, 0], [0, 0, 0, x_, y_, z_]], rtol=1e-12)
    np.testing.assert_allclose(matrix.T @ [a, b, c, d], transposed, rtol=1e-12)


@pytest.mark.parametrize("n,f,s,p,expected", [
    (227, 11, 4, 0, 55),     # 001 L677 "(227-11)/4+1 = 55" (AlexNet CONV1)
    (55, 3, 2, 0, 27),       # 001 L720 "(55-3)/2+1 = 27"
    (32, 5, 1, 0, 28),       # 003 L1342 "32 − 5 + 1 = 28", L1570
    (32, 5, 3, 0, 10),       # 003 L1617 "(32 − 5) / 3 + 1 = 10"
    (7, 3, 1, 0, 5),         # 003 L1417–1514: 7×7 input, 3×3 filter
    (7, 3, 2, 0, 3),
    (7, 3, 3, 0, 2),         # "有问题!": (7−3)/3 + 1 = 2.33 is not an integer; torch floors to 2
    (224, 11, 4, 2, 55),     # torchvision AlexNet: ⌊(224 + 4 − 11)/4⌋ + 1
    (32, 3, 1, 1, 32),       # padding (k − 1)/2 keeps the size (002 L341–351)
])
def test_h11_output_size_formula(n, f, s, p, expected):
    """H11: ``(N − F + 2P)/S + 1`` (floored), checked on the conv's actual output shape."""
    # inventory B12, B13
    x = ember.zeros(1, 1, n, n)
    w = ember.zeros(5, 1, f, f)
    assert tuple(conv.conv2d(x, w, stride=s, padding=p).shape) == (1, 5, expected, expected)


def test_h11_3d_conv_output_size():
    """H11: a 3-D conv without padding gives (a1−f+1)(a2−f+1)(a3−f+1)."""
    # inventory B10
    out = conv.conv3d(ember.zeros(1, 2, 5, 6, 7), ember.zeros(3, 2, 3, 3, 3))
    assert tuple(out.shape) == (1, 3, 5 - 3 + 1, 6 - 3 + 1, 7 - 3 + 1)


def test_h13_depthwise_separable_parameter_count():
    """H13 (003 L9254–9259): 3 input channels, 3×3 kernel, 8 output channels, no bias:
    normal conv 3·3·3·8 = 216 weights; depthwise (groups = 3) + pointwise 3·3·3 + 3·8 = 51.
    Both run through conv2d and give the same output shape."""
    x = ember.randn(2, 3, 10, 10)
    normal = ember.randn(8, 3, 3, 3)
    depthwise, pointwise = ember.randn(3, 1, 3, 3), ember.randn(8, 3, 1, 1)
    y1 = conv.conv2d(x, normal)
    y2 = conv.conv2d(conv.conv2d(x, depthwise, groups=3), pointwise)
    assert tuple(y1.shape) == tuple(y2.shape) == (2, 8, 8, 8)
    assert normal.numel() == 216 and depthwise.numel() + pointwise.numel() == 51


def test_b8_true_convolution_is_flipped_correlation():
    """B8 (004 「Convolution」): ``g[i] = Σ_n f[n] h[i − n]``; conv1d (a correlation) with the
    flipped kernel and full padding equals it (checked against ``np.convolve``)."""
    f, h = np.random.randn(9), np.random.randn(4)
    out = conv.conv1d(ember.tensor(f[None, None]), ember.tensor(h[::-1].copy()[None, None]),
                      padding=len(h) - 1)
    np.testing.assert_allclose(out[0, 0].numpy(), np.convolve(f, h, "full"), rtol=1e-12)


def test_h29_impulse_identity_and_separable_sobel():
    """H29: f ⋆ δ = f (with 'same' padding), and Sobel = [1,0,−1]ᵀ ⊗ [1,2,1] is separable: one
    3×3 pass equals a 3×1 pass followed by a 1×3 pass."""
    # inventory B9
    image = np.random.randn(9, 11)
    delta = np.zeros((3, 3))
    delta[1, 1] = 1
    np.testing.assert_allclose(corr2d(image, delta, padding="same"), image, rtol=1e-6)
    sobel = np.outer([1, 0, -1], [1, 2, 1])
    two_pass = corr2d(corr2d(image, [[1], [0], [-1]]), [[1, 2, 1]])
    np.testing.assert_allclose(corr2d(image, sobel), two_pass, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("k", [2, 3, 4, 5])
def test_b13_total_padding_convention(k):
    """B13 (004 L152–153): with p_h rows of padding *in total* the output has n_h − k_h + p_h + 1
    rows, and p_h = k_h − 1 keeps the size; for even k the total is split unevenly, which is
    what ``padding='same'`` does (the extra row/column goes after, as in torch)."""
    n, total = 9, k - 1
    x, w = ember.randn(1, 1, n, n + 1), ember.randn(1, 1, k, k)
    explicit = conv.conv2d(conv.pad(x, (total // 2, total - total // 2) * 2), w)
    assert tuple(explicit.shape[2:]) == (n - k + total + 1, n + 1 - k + total + 1) == (n, n + 1)
    np.testing.assert_allclose(conv.conv2d(x, w, padding="same").numpy(), explicit.numpy(),
                               rtol=1e-6, atol=1e-6)
