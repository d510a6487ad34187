"""Max / average / Lp / adaptive pooling and max-unpooling against torch 2.13 (forward and every
input gradient), float64 gradcheck, torch's tie rule and indices, and the error messages."""
import numpy as np
import pytest

import ember
from ember.ops import pooling as pool
from tests.harness import check_parity, gradcheck64


def F(lib):
    """``torch.nn.functional`` or Ember's pooling module, so one lambda runs under both."""
    return pool if lib is ember else lib.nn.functional


def _config(rng, nd, with_dilation=True):
    """A random valid sliding-window configuration and an input shape that fits it."""
    k = tuple(int(v) for v in rng.integers(1, 5, nd))
    s = tuple(int(v) for v in rng.integers(1, 4, nd))
    p = tuple(int(rng.integers(0, kk // 2 + 1)) for kk in k)
    d = tuple(int(v) for v in rng.integers(1, 3, nd)) if with_dilation else (1,) * nd
    size = tuple(int(max(dd * (kk - 1) + 1 - 2 * pp, dd) + rng.integers(0, 6))
                 for kk, pp, dd in zip(k, p, d))
    return k, s, p, d, bool(rng.integers(0, 2)), size


def _maybe_scalar(t, rng):
    return t[0] if all(v == t[0] for v in t) and rng.integers(0, 2) else t


# ---------------------------------------------------------------------------------------------
# max pooling
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("seed", range(12))
def test_max_pool_random_configs(nd, seed):
    rng = np.random.default_rng(100 * nd + seed)
    k, s, p, d, ceil, size = _config(rng, nd)
    if nd == 3:
        size = tuple(min(v, 7) for v in size)
        size = tuple(max(v, dd * (kk - 1) + 1 - 2 * pp, dd) for v, kk, pp, dd in zip(size, k, p, d))
    batched = bool(rng.integers(0, 2))
    shape = ((2,) if batched else ()) + (3,) + size
    x = rng.standard_normal(shape).astype(np.float32)
    name = f"max_pool{nd}d"
    ks = _maybe_scalar(k, rng)
    out = check_parity(lambda m, x: getattr(F(m), name)(x, ks, s, p, d, ceil, return_indices=True),
                       [x])
    assert out[1].dtype == ember.int64


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_max_pool_gradcheck(nd):
    rng = np.random.default_rng(nd)
    size = (5,) * nd
    x = rng.permutation(2 * 5 ** nd).reshape((2,) + size) * 0.1   # distinct: no ties
    fn = getattr(pool, f"max_pool{nd}d")
    assert gradcheck64(lambda t: fn(t, 3, 2, 1, ceil_mode=True), [x])
    assert gradcheck64(lambda t: fn(t, 2, 1, 0, 2), [x])


def test_max_pool_ties_pick_first_in_row_major_order():
    # integer-valued inputs: many ties; indices and gradient routing must match torch's
    rng = np.random.default_rng(0)
    x = rng.integers(0, 3, (2, 3, 7, 8)).astype(np.float32)
    for args in [(2, 2, 0), (3, 2, 1), (3, 1, 1), (2, 1, 0)]:
        check_parity(lambda m, x: F(m).max_pool2d(x, *args, return_indices=True), [x])
    x = np.ones((1, 1, 2, 2), np.float32)
    y, idx = pool.max_pool2d(ember.tensor(x), 2, return_indices=True)
    assert idx.item() == 0


def test_max_pool_float64_and_noncontiguous_and_unbatched():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 9, 10, 3))
    check_parity(lambda m, x: F(m).max_pool2d(x.permute(0, 3, 1, 2), (3, 2), (2, 1), (1, 0),
                                              return_indices=True), [x])
    check_parity(lambda m, x: F(m).max_pool2d(x[:, ::2, 1:, :].transpose(1, 3), 2, ceil_mode=True),
                 [x.astype(np.float32)])
    check_parity(lambda m, x: F(m).max_pool1d(x[0].transpose(0, 1), 3, 2), [x[:, :, :, 0]])


def test_max_pool_fast_paths_match_torch():
    # LeNet's 2x2 / stride 2 and ResNet's 3x3 / stride 2 / padding 1 (even and odd sizes)
    rng = np.random.default_rng(2)
    for shape in [(4, 6, 28, 28), (2, 8, 15, 17)]:
        x = rng.standard_normal(shape).astype(np.float32)
        check_parity(lambda m, x: F(m).max_pool2d(x, 2), [x])
        check_parity(lambda m, x: F(m).max_pool2d(x, (2, 2), return_indices=True), [x])
        check_parity(lambda m, x: F(m).max_pool2d(x, 3, 2, 1), [x])


def test_max_pool_integer_input_and_no_grad():
    rng = np.random.default_rng(3)
    x = rng.integers(-50, 50, (2, 3, 6, 7)).astype(np.int64)
    check_parity(lambda m, x: F(m).max_pool2d(x, 3, 2, 1, return_indices=True), [x])
    with ember.no_grad():
        t = ember.tensor(rng.standard_normal((1, 2, 6, 6)).astype(np.float32), requires_grad=True)
        y = pool.max_pool2d(t, 2)
    assert not y.requires_grad and y.dtype == ember.float32


def test_max_pool_nan_and_infinite_windows_like_torch():
    import torch
    x = np.array([[[[1.0, np.nan, 3.0, np.nan], [0.5, 2.0, 9.0, 4.0],
                    [-np.inf, -np.inf, 1.0, 2.0], [-np.inf, -np.inf, 0.0, 1.0]]]], np.float32)
    e_out, e_idx = pool.max_pool2d(ember.tensor(x), 2, return_indices=True)
    t_out, t_idx = torch.nn.functional.max_pool2d(torch.tensor(x), 2, return_indices=True)
    np.testing.assert_array_equal(e_out.numpy(), t_out.numpy())
    np.testing.assert_array_equal(e_idx.numpy(), t_idx.numpy())
    # a window of -inf next to padding: the index is the first in-bounds cell, as in torch
    y = np.full((1, 1, 3, 3), -np.inf, np.float32)
    e_out, e_idx = pool.max_pool2d(ember.tensor(y), 3, 2, 1, return_indices=True)
    t_out, t_idx = torch.nn.functional.max_pool2d(torch.tensor(y), 3, 2, 1, return_indices=True)
    np.testing.assert_array_equal(e_idx.numpy(), t_idx.numpy())


def test_max_pool_output_sizes_follow_the_formula():
    # (n + 2p - d(k-1) - 1) / s + 1, floor or ceil, the ceil window dropped in the right padding
    for n, k, s, p, d, ceil, expected in [(7, 3, 2, 0, 1, False, 3), (8, 3, 2, 0, 1, False, 3),
                                          (8, 3, 2, 0, 1, True, 4), (5, 2, 2, 1, 1, True, 3),
                                          (6, 3, 3, 1, 1, True, 3), (9, 3, 1, 0, 2, False, 5)]:
        x = ember.zeros(1, 1, n)
        assert pool.max_pool1d(x, k, s, p, d, ceil).shape[-1] == expected


@pytest.mark.parametrize("call, message", [
    (lambda x: pool.max_pool2d(x, 3, padding=2), "padding should be at most half"),
    (lambda x: pool.max_pool2d(x, 7), "Output size is too small"),
    (lambda x: pool.max_pool2d(x, 2, stride=0), "stride must be greater than zero"),
    (lambda x: pool.max_pool2d(x[..., :1, :], (2, 3), 2, (1, 0), 2), "windows hold only padding"),
    (lambda x: pool.max_pool2d(x, (2, 2, 2)), "kernel_size must be an int or a tuple of 2"),
    (lambda x: pool.max_pool2d(x[0, 0], 2), "expected a 3-D or 4-D input"),
    (lambda x: pool.max_pool1d(x, 2), "expected a 2-D or 3-D input"),
    (lambda x: pool.avg_pool2d(x, 3, padding=2), "padding should be at most half"),
    (lambda x: pool.avg_pool2d(x, 2, divisor_override=0), "divisor_override must be non-zero"),
    (lambda x: pool.avg_pool2d(x.long(), 2), "expected a floating-point input"),
    (lambda x: pool.avg_pool3d(x, (3, 2, 2), padding=1),
     r"input \(2, 5, 5\) .* is smaller than kernel"),
    (lambda x: pool.adaptive_avg_pool2d(x, (2, 2, 2)), "output_size must be an int or a tuple"),
])
def test_pool_errors_name_function_and_shapes(call, message):
    x = ember.randn(1, 2, 5, 5)
    with pytest.raises((RuntimeError, ValueError, TypeError), match=message):
        call(x)


def test_error_mentions_shape():
    with pytest.raises(RuntimeError, match=r"max_pool2d.*\(1, 2, 5, 5\)"):
        pool.max_pool2d(ember.randn(1, 2, 5, 5), 7)
    with pytest.raises(RuntimeError, match=r"max_pool2d.*shape \(5, 5\)"):
        pool.max_pool2d(ember.randn(5, 5), 2)


# ---------------------------------------------------------------------------------------------
# average pooling
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("seed", range(12))
def test_avg_pool_random_configs(nd, seed):
    rng = np.random.default_rng(1000 + 100 * nd + seed)
    k, s, p, _, ceil, size = _config(rng, nd, with_dilation=False)
    if nd == 3:
        size = tuple(max(min(v, 7), kk) for v, kk in zip(size, k))   # torch: no smaller than k
    include = bool(rng.integers(0, 2))
    shape = ((2,) if rng.integers(0, 2) else ()) + (3,) + size
    x = rng.standard_normal(shape).astype(np.float32)
    if nd == 1:
        check_parity(lambda m, x: F(m).avg_pool1d(x, k, s, p, ceil, include), [x])
        return
    div = [None, int(rng.integers(1, 7))][int(rng.integers(0, 2))]
    name = f"avg_pool{nd}d"
    check_parity(lambda m, x: getattr(F(m), name)(x, k, s, p, ceil, include, div), [x])


def test_avg_pool_ceil_mode_edge_windows_and_padding_counts():
    # windows cut by the padded border (ceil_mode) or made of padding: every divisor rule
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 2, 6, 7)).astype(np.float32)
    for include in (True, False):
        for div in (None, 3):
            check_parity(lambda m, x: F(m).avg_pool2d(x, 3, 2, 1, True, include, div), [x])
            check_parity(lambda m, x: F(m).avg_pool2d(x, (4, 2), (3, 2), (2, 1), True, include,
                                                      div), [x])


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_avg_pool_gradcheck(nd):
    x = np.random.default_rng(nd).standard_normal((2,) + (5,) * nd)
    fn = getattr(pool, f"avg_pool{nd}d")
    assert gradcheck64(lambda t: fn(t, 3, 2, 1, True, False), [x])
    assert gradcheck64(lambda t: fn(t, 2), [x])


def test_avg_pool_float64_noncontiguous():
    x = np.random.default_rng(6).standard_normal((3, 8, 9, 2))
    check_parity(lambda m, x: F(m).avg_pool2d(x.permute(3, 0, 1, 2), 3, 2, 1,
                                              count_include_pad=False), [x])


# ---------------------------------------------------------------------------------------------
# Lp pooling
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("norm_type", [1, 2, 3, 1.5, float("inf")])
def test_lp_pool_matches_torch(norm_type):
    rng = np.random.default_rng(7)
    x = rng.uniform(0.1, 2.0, (2, 3, 7, 8)).astype(np.float32)   # positive: well-defined powers
    check_parity(lambda m, x: F(m).lp_pool2d(x, norm_type, 2), [x])
    check_parity(lambda m, x: F(m).lp_pool2d(x, norm_type, (3, 2), (2, 1), ceil_mode=True), [x])
    check_parity(lambda m, x: F(m).lp_pool1d(x[0], norm_type, 3, 2), [x])
    check_parity(lambda m, x: F(m).lp_pool3d(x, norm_type, 2), [x])


@pytest.mark.filterwarnings("ignore:invalid value encountered in power")
def test_lp_pool_odd_power_negative_sum_and_gradcheck():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((1, 2, 6, 6)).astype(np.float32)
    check_parity(lambda m, x: F(m).lp_pool2d(x, 3, 2), [x])
    check_parity(lambda m, x: F(m).lp_pool2d(x, -float("inf"), 2), [x])
    pos = rng.uniform(0.5, 2.0, (1, 2, 4, 4))
    assert gradcheck64(lambda t: pool.lp_pool2d(t, 2, 2), [pos])


# ---------------------------------------------------------------------------------------------
# adaptive pooling
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("seed", range(6))
def test_adaptive_pools_random_sizes(nd, seed):
    rng = np.random.default_rng(2000 + 10 * nd + seed)
    size = tuple(int(v) for v in rng.integers(1, 9 if nd < 3 else 6, nd))
    out = tuple(int(v) for v in rng.integers(1, 2 * max(size) + 1, nd))   # up- and down-sizing
    shape = ((2,) if seed % 2 else ()) + (3,) + size
    x = rng.standard_normal(shape).astype(np.float32)
    check_parity(lambda m, x: getattr(F(m), f"adaptive_avg_pool{nd}d")(x, out), [x])
    check_parity(lambda m, x: getattr(F(m), f"adaptive_max_pool{nd}d")(x, out, True), [x])


def test_adaptive_pools_special_sizes():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 4, 7, 5)).astype(np.float32)
    assert pool.adaptive_avg_pool2d(ember.from_numpy(x), (0, 2)).shape == (2, 4, 0, 2)
    for out in [1, (1, 1), (None, 2), (3, None), (7, 5), (6, 6)]:
        check_parity(lambda m, x: F(m).adaptive_avg_pool2d(x, out), [x])
        check_parity(lambda m, x: F(m).adaptive_max_pool2d(x, out, return_indices=True), [x])
    ties = rng.integers(0, 2, (1, 2, 9, 7)).astype(np.float32)
    check_parity(lambda m, x: F(m).adaptive_max_pool2d(x, (4, 3), return_indices=True), [ties])
    x64 = rng.standard_normal((2, 3, 6, 5))
    check_parity(lambda m, x: F(m).adaptive_avg_pool2d(x.transpose(2, 3), 4), [x64])


def test_adaptive_max_pool_nan_like_torch():
    import torch
    x = np.random.default_rng(13).standard_normal((1, 2, 6, 5)).astype(np.float32)
    x[0, 0, 1, 1] = x[0, 0, 2, 3] = x[0, 1, 4, 0] = np.nan
    e_out, e_idx = pool.adaptive_max_pool2d(ember.tensor(x), (4, 3), return_indices=True)
    t_out, t_idx = torch.nn.functional.adaptive_max_pool2d(torch.tensor(x), (4, 3), True)
    np.testing.assert_array_equal(e_out.numpy(), t_out.numpy())
    np.testing.assert_array_equal(e_idx.numpy(), t_idx.numpy())


def test_adaptive_pools_gradcheck():
    x = np.random.default_rng(10).permutation(60).reshape(1, 3, 4, 5) * 0.1
    assert gradcheck64(lambda t: pool.adaptive_avg_pool2d(t, (3, 2)), [x])
    assert gradcheck64(lambda t: pool.adaptive_avg_pool2d(t, 1), [x])
    assert gradcheck64(lambda t: pool.adaptive_max_pool2d(t, (3, 4)), [x])   # overlapping windows
    assert gradcheck64(lambda t: pool.adaptive_avg_pool1d(t[0], 3), [x])


# ---------------------------------------------------------------------------------------------
# max unpooling
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("nd", [1, 2, 3])
def test_max_unpool_round_trip_matches_torch(nd):
    rng = np.random.default_rng(11 + nd)
    shape = (2, 3) + (6,) * nd if nd < 3 else (2, 2, 5, 6, 4)
    x = rng.standard_normal(shape).astype(np.float32)
    name = f"max_pool{nd}d"
    unname = f"max_unpool{nd}d"
    for k, s, p in [(2, 2, 0), (3, 2, 1), (2, 1, 0)]:
        def fn(m, x):
            y, idx = getattr(F(m), name)(x, k, s, p, return_indices=True)
            return getattr(F(m), unname)(y * 2, idx, k, s, p, output_size=x.shape)
        check_parity(fn, [x])


def test_max_unpool_default_size_unbatched_and_gradcheck():
    rng = np.random.default_rng(12)
    y = rng.standard_normal((3, 2, 3)).astype(np.float32)
    idx = np.stack([rng.choice(20, 6, replace=False) for _ in range(3)]).reshape(3, 2, 3)

    def fn(m, y):
        return F(m).max_unpool2d(y, m.from_numpy(idx.copy()), 2, (2, 3), output_size=(4, 7))
    check_parity(fn, [y])
    assert gradcheck64(lambda t: pool.max_unpool2d(t, ember.from_numpy(idx), 2, (2, 3),
                                                   output_size=(4, 7)), [y])
    out = pool.max_unpool2d(ember.from_numpy(y), ember.from_numpy(idx), 2)
    assert out.shape == (3, 4, 6)


def test_max_unpool_errors():
    y = ember.randn(1, 1, 2, 2)
    idx = ember.tensor([[[[0, 1], [2, 99]]]])
    with pytest.raises(RuntimeError, match="max_unpool2d: found an invalid max index 99"):
        pool.max_unpool2d(y, idx, 2)
    with pytest.raises(ValueError, match=r"max_unpool2d: invalid output_size \(7, 4\)"):
        pool.max_unpool2d(y, ember.tensor([[[[0, 1], [2, 3]]]]), 2, output_size=(7, 4))
    with pytest.raises(RuntimeError, match="expected indices of the input's shape"):
        pool.max_unpool2d(y, ember.tensor([[0, 1]]), 2)
    with pytest.raises(TypeError, match="integer Tensor"):
        pool.max_unpool2d(y, y, 2)
