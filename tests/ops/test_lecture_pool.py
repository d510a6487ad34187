"""The lectures' pooling and unpooling worked numbers (LECTURE_INVENTORY B19, B20, B22, H7, H8,
H11, H19), each also checked against the formula it illustrates. Slips flagged ⚠ in the
inventory are not encoded: the "3.1" global average is tested as its exact value 49/16."""
import numpy as np
import pytest

import ember
from ember.ops import pooling as pool
from ember.ops import resampling

# lecture 003 「Pooling 前后对比」 (H7)
H7 = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 1, 3, 4]], np.float32)


def _t(a, requires_grad=False):
    t = ember.tensor(np.asarray(a, np.float32)[None, None])
    return t.requires_grad_(True) if requires_grad else t


def test_h7_max_pool_2x2_stride_2():
    out = pool.max_pool2d(_t(H7), 2, 2).numpy()[0, 0]
    np.testing.assert_array_equal(out, [[6, 8], [3, 4]])
    blocks = H7.reshape(2, 2, 2, 2).transpose(0, 2, 1, 3).reshape(2, 2, 4)   # y = max{x_i}
    np.testing.assert_array_equal(out, blocks.max(-1))


def test_h7_global_average_is_49_over_16():
    # "Avg Pool HxW Filter Stride 1" -> the slide prints "3.1" (rounded, ⚠); exact 49/16
    for y in (pool.avg_pool2d(_t(H7), 4, 1), pool.adaptive_avg_pool2d(_t(H7), 1)):
        assert y.shape == (1, 1, 1, 1)
        assert y.item() == pytest.approx(49 / 16, abs=1e-7)
        assert y.item() == pytest.approx(H7.sum() / H7.size)


def test_h7_convolved_feature_mean_pool():
    # lecture 002 「Pooling池化」: 2×2 kernel of 1/4 -> "Pooled Feature" [[1/2, 1], [1/2, 1/2]]
    feature = np.array([[1, 1, 1, 1], [0, 0, 1, 1], [0, 1, 1, 0], [0, 1, 1, 0]], np.float32)
    out = pool.avg_pool2d(_t(feature), 2).numpy()[0, 0]
    np.testing.assert_array_equal(out, [[0.5, 1.0], [0.5, 0.5]])
    np.testing.assert_array_equal(out, feature.reshape(2, 2, 2, 2).sum((1, 3)) / 4)


def test_h7_seven_by_seven_max_pool_3x3_stride_2():
    # lecture 003: a 7×7 input, 3×3 max pool, stride 2 -> 3×3 outputs O11 … O33
    x = np.random.default_rng(0).permutation(49).reshape(7, 7).astype(np.float32)
    out = pool.max_pool2d(_t(x), 3, 2).numpy()[0, 0]
    assert out.shape == (3, 3) and (7 - 3) // 2 + 1 == 3
    expected = [[x[2 * i:2 * i + 3, 2 * j:2 * j + 3].max() for j in range(3)] for i in range(3)]
    np.testing.assert_array_equal(out, expected)


def test_h8_average_pool_backward_spreads_a_quarter():
    # lecture 002 「残差的反向传播 ■ Pooling层」: upstream delta [[1,3],[2,4]], 2×2 average pool
    x = _t(np.random.default_rng(1).standard_normal((4, 4)), requires_grad=True)
    pool.avg_pool2d(x, 2).backward(_t([[1, 3], [2, 4]]))
    expected = [[0.25, 0.25, 0.75, 0.75], [0.25, 0.25, 0.75, 0.75],
                [0.5, 0.5, 1, 1], [0.5, 0.5, 1, 1]]
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], expected)
    np.testing.assert_array_equal(expected, np.kron([[1, 3], [2, 4]], np.ones((2, 2))) / 4)


def test_h8_max_pool_backward_routes_to_the_argmax():
    # same delta, max pool: the lecture's result [[0,0,0,3],[0,1,0,0],[2,0,0,0],[0,0,4,0]] has
    # its maxima at (1,1), (0,3), (2,0), (3,2); the slide does not show the input, so build one
    x = np.random.default_rng(2).uniform(0, 1, (4, 4)).astype(np.float32)
    for r, c in [(1, 1), (0, 3), (2, 0), (3, 2)]:
        x[r, c] = 5.0
    t = _t(x, requires_grad=True)
    y, idx = pool.max_pool2d(t, 2, return_indices=True)
    y.backward(_t([[1, 3], [2, 4]]))
    np.testing.assert_array_equal(t.grad.numpy()[0, 0],
                                  [[0, 0, 0, 3], [0, 1, 0, 0], [2, 0, 0, 0], [0, 0, 4, 0]])
    np.testing.assert_array_equal(idx.numpy()[0, 0], [[1 * 4 + 1, 0 * 4 + 3],
                                                      [2 * 4 + 0, 3 * 4 + 2]])


def test_h19_nearest_neighbour_unpool_x2():
    # lecture 003 「Unpooling——反池化」: "Nearest Neighbor Unpool x2"
    out = resampling.interpolate(_t([[8, 6], [4, 3]]), scale_factor=2, mode="nearest").numpy()[0, 0]
    np.testing.assert_array_equal(out, [[8, 8, 6, 6], [8, 8, 6, 6], [4, 4, 3, 3], [4, 4, 3, 3]])
    np.testing.assert_array_equal(out, np.kron([[8, 6], [4, 3]], np.ones((2, 2))))
    # its backward sums each 2×2 block of the upstream gradient (sum pooling)
    x = _t([[8, 6], [4, 3]], requires_grad=True)
    g = np.arange(16, dtype=np.float32).reshape(4, 4)
    resampling.interpolate(x, scale_factor=2).backward(_t(g))
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], g.reshape(2, 2, 2, 2).sum((1, 3)))


def test_max_unpooling_puts_the_h7_maxima_back():
    # B22 (⚠ no numbers in the text): max-unpooling is derived from H7 — each maximum returns
    # to where it came from and every other cell is 0
    y, idx = pool.max_pool2d(_t(H7), 2, return_indices=True)
    out = pool.max_unpool2d(y, idx, 2).numpy()[0, 0]
    expected = np.where(H7 == np.kron(y.numpy()[0, 0], np.ones((2, 2))), H7, 0)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(out, [[0, 0, 0, 0], [0, 6, 0, 8], [3, 0, 0, 0], [0, 0, 0, 4]])


def test_b19_l2_pool_formula():
    # lecture 002 「Pooling池化」: L2 pool y = √((1/s²) Σ x_i²); torch's Lp pool omits 1/s²
    s = 2
    out = pool.lp_pool2d(_t(H7), 2, s).numpy()[0, 0] / s
    blocks = H7.reshape(2, 2, 2, 2).transpose(0, 2, 1, 3).reshape(2, 2, 4)
    np.testing.assert_allclose(out, np.sqrt((blocks ** 2).sum(-1) / s ** 2), rtol=1e-6)
    assert out[0, 0] == pytest.approx(np.sqrt(63 / 4), rel=1e-6)   # √((1+1+25+36)/4)


def test_b20_global_average_pool_4x4x10_to_10():
    # lecture 003: "Average POOL 4x4x10 to 10 neurons" and H×W×C -> 1×1×C
    x = ember.randn(1, 10, 4, 4)
    y = pool.adaptive_avg_pool2d(x, 1)
    assert y.shape == (1, 10, 1, 1)
    np.testing.assert_allclose(y.numpy().ravel(), x.numpy().mean((2, 3))[0], rtol=1e-6)


def test_b20_alexnet_adaptive_avg_pool_6x6():
    # lecture 004: nn.AdaptiveAvgPool2d((6, 6)); identity on 6×6, torch's windows on 13×13
    x = ember.randn(2, 3, 6, 6)
    np.testing.assert_array_equal(pool.adaptive_avg_pool2d(x, (6, 6)).numpy(), x.numpy())
    z = np.random.default_rng(3).standard_normal((1, 1, 13, 13)).astype(np.float32)
    out = pool.adaptive_avg_pool2d(ember.from_numpy(z), (6, 6)).numpy()[0, 0]
    lo = [i * 13 // 6 for i in range(6)]
    hi = [-(-(i + 1) * 13 // 6) for i in range(6)]
    expected = [[z[0, 0, lo[i]:hi[i], lo[j]:hi[j]].mean() for j in range(6)] for i in range(6)]
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("size, kernel, stride, expected", [
    (55, 3, 2, 27), (27, 3, 2, 13), (13, 3, 2, 6),          # AlexNet "(55-3)/2+1 = 27" (H11)
    (224, 2, 2, 112), (112, 2, 2, 56), (56, 2, 2, 28), (28, 2, 2, 14), (14, 2, 2, 7),   # VGG16
    (32, 2, 2, 16), (16, 2, 2, 8),                          # sample CNN (D10)
    (28, 2, 2, 14), (10, 2, 2, 5),                          # LeNet (004)
])
def test_h11_pool_output_sizes(size, kernel, stride, expected):
    x = ember.zeros(1, 2, size, size)
    assert pool.max_pool2d(x, kernel, stride).shape == (1, 2, expected, expected)
    assert (size - kernel) // stride + 1 == expected
