"""interpolate (every mode, align_corners, scale_factor vs size, recompute_scale_factor,
antialias), the deprecated upsample aliases and pixel (un)shuffle against torch 2.13, with
float64 gradchecks and the argument errors."""
import warnings

import numpy as np
import pytest

import ember
from ember.ops import resampling
from ember.ops import shape as shape_ops
from tests.harness import check_parity, gradcheck64


def F(lib):
    return ember.nn.functional if lib is ember else lib.nn.functional


_LINEAR = {1: "linear", 2: "bilinear", 3: "trilinear"}


def _shape(rng, nd):
    return (2, 3) + tuple(int(v) for v in rng.integers(1, 9 if nd < 3 else 5, nd))


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("seed", range(8))
def test_interpolate_random_sizes_every_mode(nd, seed):
    rng = np.random.default_rng(10 * nd + seed)
    x = rng.standard_normal(_shape(rng, nd)).astype(np.float32)
    size = tuple(int(v) for v in rng.integers(1, 13 if nd < 3 else 7, nd))
    modes = ["nearest", "nearest-exact", "area", _LINEAR[nd]] + (["bicubic"] if nd == 2 else [])
    for mode in modes:
        check_parity(lambda m, x: F(m).interpolate(x, size=size, mode=mode), [x])
        if mode in ("linear", "bilinear", "trilinear", "bicubic"):
            check_parity(lambda m, x: F(m).interpolate(x, size=size, mode=mode,
                                                       align_corners=True), [x])


@pytest.mark.parametrize("scale", [2, 0.5, 1.7, 3.0, 0.3, (2.0, 1.25), 1.1])
@pytest.mark.parametrize("recompute", [None, True])
def test_interpolate_scale_factor(scale, recompute):
    # the scale itself (not in/out) sets the sampling positions unless recompute_scale_factor
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 2, 5, 7)).astype(np.float32)
    for mode, ac in [("nearest", None), ("nearest-exact", None), ("bilinear", False),
                     ("bilinear", True), ("bicubic", False), ("area", None)]:
        # torch's bicubic backward copies the gradient when the size is unchanged, unlike its
        # forward; that gradient is checked by finite differences below instead
        same = mode == "bicubic" and scale == 1.1 and not recompute
        check_parity(lambda m, x: F(m).interpolate(x, scale_factor=scale, mode=mode,
                                                   align_corners=ac,
                                                   recompute_scale_factor=recompute), [x],
                     requires_grad=[not same])
    s1 = scale if not isinstance(scale, tuple) else scale[0]
    check_parity(lambda m, x: F(m).interpolate(x[:, :, 0], scale_factor=s1, mode="linear",
                                               recompute_scale_factor=recompute), [x])
    v = rng.standard_normal((1, 2, 4, 5, 6)).astype(np.float32)
    check_parity(lambda m, v: F(m).interpolate(v, scale_factor=s1, mode="trilinear"), [v])


def test_interpolate_nearest_output_equal_or_twice_the_input():
    # torch's 2-D 'nearest' copies a dim whose size is unchanged and maps dst -> dst // 2 for a
    # doubled one, whatever the scale; its 1-D kernel follows ⌊dst/scale⌋. torch's 1-D backward
    # still takes the shortcuts (inconsistent with its own forward), so there the gradient is
    # checked by finite differences instead.
    rng = np.random.default_rng(11)
    for n, s in [(3, 2.3), (7, 2.13), (10, 1.05), (9, 0.77), (4, 2.0), (5, 1.1)]:
        x = rng.standard_normal((1, 2, n, n + 1)).astype(np.float32)
        for mode in ("nearest", "nearest-exact"):
            check_parity(lambda m, x: F(m).interpolate(x, scale_factor=s, mode=mode), [x])
            shortcut = int(np.floor(n * s)) in (n, 2 * n) and s not in (1.0, 2.0)
            check_parity(lambda m, x: F(m).interpolate(x[:, :, 0, :n], scale_factor=s,
                                                       mode=mode), [x],
                         requires_grad=[not shortcut or mode == "nearest-exact"])
            assert gradcheck64(lambda t: resampling.interpolate(t[:, :, 0], scale_factor=s, mode=mode),
                               [x[:, :, :, :n]])


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize("align_corners", [False, True])
def test_interpolate_antialias(mode, align_corners):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 17, 13)).astype(np.float32)
    for size in [(5, 4), (8, 13), (17, 26), (3, 2), (1, 5), (9, 6)]:
        check_parity(lambda m, x: F(m).interpolate(x, size=size, mode=mode,
                                                   align_corners=align_corners, antialias=True),
                     [x])
    check_parity(lambda m, x: F(m).interpolate(x, scale_factor=0.35, mode=mode,
                                               align_corners=align_corners, antialias=True), [x])


def test_interpolate_float64_noncontiguous_and_integer_nearest():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 6, 5, 2))
    for mode in ["bilinear", "bicubic", "nearest", "area"]:
        check_parity(lambda m, x: F(m).interpolate(x.permute(3, 0, 2, 1), size=(9, 4), mode=mode),
                     [x])
    img = rng.integers(0, 256, (1, 3, 4, 5)).astype(np.uint8)
    check_parity(lambda m, x: F(m).interpolate(x, scale_factor=2.5, mode="nearest"), [img])
    out = resampling.interpolate(ember.from_numpy(x.astype(np.float32)), scale_factor=2)
    assert out.dtype == ember.float32


@pytest.mark.parametrize("mode", ["linear", "nearest", "nearest-exact", "area"])
def test_interpolate_gradcheck_1d(mode):
    x = np.random.default_rng(4).standard_normal((2, 2, 5))
    for size in (3, 8):
        assert gradcheck64(lambda t: resampling.interpolate(t, size=size, mode=mode), [x])


def test_interpolate_gradcheck_2d_3d():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 2, 4, 3))
    assert gradcheck64(lambda t: resampling.interpolate(t, size=(6, 5), mode="bilinear"), [x])
    assert gradcheck64(lambda t: resampling.interpolate(t, size=(3, 7), mode="bicubic",
                                                  align_corners=True), [x])
    assert gradcheck64(lambda t: resampling.interpolate(t, size=(2, 2), mode="bicubic",
                                                  antialias=True), [x])
    assert gradcheck64(lambda t: resampling.interpolate(t, scale_factor=1.1, mode="bicubic"), [x])
    v = rng.standard_normal((1, 1, 3, 2, 3))
    assert gradcheck64(lambda t: resampling.interpolate(t, scale_factor=1.5, mode="trilinear"), [v])


def test_interpolate_to_the_same_size_returns_a_new_tensor():
    x = ember.randn(1, 2, 3, 4, requires_grad=True)
    for mode in ("nearest", "bilinear", "area"):
        y = resampling.interpolate(x, size=(3, 4), mode=mode)
        assert y is not x and y.grad_fn is not None
        np.testing.assert_array_equal(y.detach().numpy(), x.detach().numpy())


def test_upsample_aliases_warn_and_match_torch():
    x = np.random.default_rng(6).standard_normal((1, 2, 3, 4)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_parity(lambda m, x: F(m).upsample(x, scale_factor=2, mode="bilinear"), [x])
        check_parity(lambda m, x: F(m).upsample(x, size=(5, 3), mode="bicubic",
                                                align_corners=True), [x])
        check_parity(lambda m, x: F(m).upsample_nearest(x, size=(5, 7)), [x])
        check_parity(lambda m, x: F(m).upsample_bilinear(x, scale_factor=2), [x])
    with pytest.warns(UserWarning, match="upsample_nearest is deprecated"):
        resampling.upsample_nearest(ember.from_numpy(x), scale_factor=2)


@pytest.mark.parametrize("call, message", [
    (lambda x: resampling.interpolate(x, size=3, scale_factor=2), "only one of size or scale_factor"),
    (lambda x: resampling.interpolate(x), "either size or scale_factor"),
    (lambda x: resampling.interpolate(x, size=3, align_corners=True), "align_corners option"),
    (lambda x: resampling.interpolate(x, size=3, mode="trilinear"), "'trilinear' needs a 5-D input"),
    (lambda x: resampling.interpolate(x, size=3, mode="nearest", antialias=True), "antialias"),
    (lambda x: resampling.interpolate(x, size=(3, 3, 3)), "size must be an int or 2 ints"),
    (lambda x: resampling.interpolate(x, scale_factor=0.1), "sizes should be greater than 0"),
    (lambda x: resampling.interpolate(x, size=3, mode="cubic"), "unknown mode 'cubic'"),
    (lambda x: resampling.interpolate(x[0, 0], size=3), r"got a 2-D input of shape \(4, 5\)"),
    (lambda x: resampling.interpolate(x, size=3, recompute_scale_factor=True), "not meaningful"),
    (lambda x: resampling.interpolate(x.long(), size=3, mode="bilinear"), "floating-point"),
    (lambda x: shape_ops.pixel_shuffle(x, 2), r"channel dimension 3 .* not divisible by"),
    (lambda x: shape_ops.pixel_unshuffle(x, 2), r"spatial size \(4, 5\)"),
    (lambda x: shape_ops.pixel_shuffle(x[0, 0], 1), "at least 3 dimensions"),
    (lambda x: shape_ops.pixel_shuffle(x, 0), "positive int"),
])
def test_resample_errors(call, message):
    x = ember.randn(2, 3, 4, 5)
    with pytest.raises((RuntimeError, ValueError, TypeError), match=message):
        call(x)


@pytest.mark.parametrize("shape, r", [((2, 8, 3, 4), 2), ((18, 2, 3), 3), ((2, 2, 4, 1, 2), 2)])
def test_pixel_shuffle_and_unshuffle(shape, r):
    x = np.random.default_rng(7).standard_normal(shape).astype(np.float32)
    check_parity(lambda m, x: F(m).pixel_shuffle(x, r), [x])
    back = shape[:-3] + (shape[-3] // r ** 2, shape[-2] * r, shape[-1] * r)
    y = np.random.default_rng(8).standard_normal(back).astype(np.float32)
    check_parity(lambda m, y: F(m).pixel_unshuffle(y, r), [y])
    t = ember.from_numpy(x)
    np.testing.assert_array_equal(shape_ops.pixel_unshuffle(shape_ops.pixel_shuffle(t, r), r).numpy(), x)
    assert gradcheck64(lambda v: shape_ops.pixel_shuffle(v, r), [x.astype(np.float64)])
