"""``pad`` in every mode (constant / reflect / replicate / circular) against torch 2.13, and the
lectures' 'symmetric' mode against NumPy: forward
and input gradient for 1-, 2- and 3-dimensional padding, batched and unbatched, cropping with
negative amounts, constant padding of any dimension, float64 gradcheck and the errors."""
import numpy as np
import pytest

import ember
from ember.ops import conv
from tests.harness import check_parity, gradcheck64


def F(lib):
    return conv if lib is ember else lib.nn.functional


MODES = ["constant", "reflect", "replicate", "circular"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("seed", range(3))
def test_pad_random(mode, k, batched, seed):
    rng = np.random.default_rng(seed * 31 + k)
    size = tuple(int(v) for v in rng.integers(3, 6, k))
    shape = ((2, 3) if batched else (3,)) + size
    amounts = []
    for n in reversed(size):
        amounts += [int(rng.integers(-1, n)), int(rng.integers(-1, n))]
    check_parity(lambda m, x: F(m).pad(x, tuple(amounts), mode=mode), [rng.standard_normal(shape)],
                 dtype=np.float32)


@pytest.mark.parametrize("mode,amounts", [
    ("reflect", (3, -2)),        # reflection indexes the uncropped input
    ("replicate", (-2, 4)),
    ("circular", (-1, 3)),       # circular crops first, then wraps the cropped row
    ("circular", (2, -1)),
    ("constant", (-3, 2)),
    ("constant", (0, -4)),
])
def test_pad_negative_1d(mode, amounts):
    check_parity(lambda m, x: F(m).pad(x, amounts, mode=mode), [np.random.randn(2, 5)],
                 dtype=np.float64)


@pytest.mark.parametrize("amounts,value", [
    ((1, 2), None),
    ((1, 0, 0, 2, 2, 1), 1.5),            # three trailing dimensions of a 4-D tensor
    ((1, 1, 0, 0, 0, 0, 2, -1), -3.0),    # every dimension, including the batch
    ((), None),
])
def test_pad_constant_any_dims(amounts, value):
    check_parity(lambda m, x: F(m).pad(x, amounts, value=value), [np.random.randn(2, 3, 4, 5)],
                 dtype=np.float32)


def test_pad_constant_integer_input():
    import torch
    x = np.arange(12).reshape(3, 4)
    got = conv.pad(ember.from_numpy(x), (1, 2, 0, 1), value=7)
    want = torch.nn.functional.pad(torch.from_numpy(x), (1, 2, 0, 1), value=7)
    assert got.dtype == ember.int64
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_pad_lecture_modes():
    """Seed 003 「Padding」 (inventory B14): Symm folds the sides over, repeating the edge
    ('symmetric'; torch's 'reflect' mirrors without repeating it), Circular wraps around, fill
    adds a value."""
    x = ember.tensor([[[1., 2., 3.]]])
    assert conv.pad(x, (2, 3), mode="symmetric").tolist() == [[[2., 1., 1., 2., 3., 3., 2., 1.]]]
    assert conv.pad(x, (2, 2), mode="reflect").tolist() == [[[3., 2., 1., 2., 3., 2., 1.]]]
    assert conv.pad(x, (2, 2), mode="circular").tolist() == [[[2., 3., 1., 2., 3., 1., 2.]]]
    assert conv.pad(x, (2, 2), mode="replicate").tolist() == [[[1., 1., 1., 2., 3., 3., 3.]]]
    assert conv.pad(x, (1, 2), value=9.).tolist() == [[[9., 1., 2., 3., 9., 9.]]]


@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("seed", range(3))
def test_pad_symmetric_matches_numpy(k, seed):
    """'symmetric' (not a torch mode) against ``np.pad(mode='symmetric')``, up to the full size
    on each side, with a crop on one side; the gradient folds the border back onto the cells it
    copies (checked against the adjoint: <pad(x), g> = <x, pad*(g)>)."""
    rng = np.random.default_rng(seed * 7 + k)
    size = tuple(int(v) for v in rng.integers(2, 5, k))
    x = rng.standard_normal((2,) + size)
    amounts, np_pads, crop = [], [], [slice(None)]
    for n in size:
        lo, hi = int(rng.integers(-1, n + 1)), int(rng.integers(0, n + 1))
        np_pads.append((max(lo, 0), hi))
        crop.append(slice(max(-lo, 0), None))
        amounts = [lo, hi] + amounts
    xt = ember.tensor(x, requires_grad=True)
    y = conv.pad(xt, tuple(amounts), mode="symmetric")
    want = np.pad(x[tuple(crop)], [(0, 0)] + np_pads, mode="symmetric")
    np.testing.assert_array_equal(y.detach().numpy(), want)
    g = rng.standard_normal(want.shape)
    y.backward(ember.tensor(g))
    # the adjoint identity pins every entry of the gradient: d<pad(x), g>/dx
    eye = np.eye(x.size).reshape((x.size,) + x.shape)
    cols = [(np.pad(e[tuple(crop)], [(0, 0)] + np_pads, mode="symmetric") * g).sum() for e in eye]
    np.testing.assert_allclose(xt.grad.numpy(), np.reshape(cols, x.shape), rtol=1e-12)


def test_symmetric_pad_modules_and_conv_padding_mode():
    """``SymmetricPad2d`` and ``Conv2d(padding_mode='symmetric')`` are F.pad in that mode."""
    x = ember.randn(2, 3, 5, 4)
    pad = ember.nn.SymmetricPad2d((1, 2, 2, 0))
    assert repr(pad) == "SymmetricPad2d((1, 2, 2, 0))"
    np.testing.assert_array_equal(pad(x).numpy(), conv.pad(x, (1, 2, 2, 0), "symmetric").numpy())
    np.testing.assert_array_equal(ember.nn.SymmetricPad1d(2)(x[0]).numpy(),
                                  conv.pad(x[0], (2, 2), "symmetric").numpy())
    np.testing.assert_array_equal(ember.nn.SymmetricPad3d(1)(x).numpy(),
                                  conv.pad(x, (1,) * 6, "symmetric").numpy())
    layer = ember.nn.Conv2d(3, 2, 3, padding=(1, 2), padding_mode="symmetric")
    assert "padding_mode=symmetric" in repr(layer)
    want = conv.conv2d(conv.pad(x, (2, 2, 1, 1), "symmetric"), layer.weight, layer.bias)
    np.testing.assert_allclose(layer(x).detach().numpy(), want.detach().numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        ember.nn.Conv2d(3, 2, 3, padding_mode="mirror")


@pytest.mark.parametrize("mode", MODES + ["symmetric"])
def test_pad_gradcheck(mode):
    assert gradcheck64(lambda x: conv.pad(x, (2, 1, 1, 2), mode=mode),
                       [np.random.randn(1, 2, 3, 4)])
    assert gradcheck64(lambda x: conv.pad(x, (1, 0, 2, 1, 1, 1), mode=mode),
                       [np.random.randn(2, 3, 3, 3)])


def test_pad_then_conv_is_padding_mode():
    """What ``Conv2d(padding_mode='circular')`` does: pad in the mode, then conv with padding 0."""
    def f(m, x, w):
        return F(m).conv2d(F(m).pad(x, (1, 1, 2, 2), mode="circular"), w)
    check_parity(f, [np.random.randn(2, 3, 5, 6), np.random.randn(4, 3, 5, 3)], dtype=np.float32)


@pytest.mark.parametrize("call,match", [
    (lambda: conv.pad(ember.randn(1, 2, 3), (1,)), "divisible by 2"),
    (lambda: conv.pad(ember.randn(3), (1, 1, 1, 1)), "too large"),
    (lambda: conv.pad(ember.randn(1, 2, 3), (1, 1), mode="wrap"), "unknown padding mode 'wrap'"),
    (lambda: conv.pad(ember.randn(1, 1, 3), (3, 0), mode="reflect"),
     r"reflect padding \(3, 0\) must be smaller than the dimension it pads \(size 3"),
    (lambda: conv.pad(ember.randn(1, 1, 3), (0, 4), mode="circular"), "more than once"),
    (lambda: conv.pad(ember.randn(1, 1, 3), (4, 0), mode="symmetric"),
     r"symmetric padding \(4, 0\) must not exceed the dimension it pads \(size 3"),
    (lambda: conv.pad(ember.randn(3), (1, 1), mode="reflect"), r"expects a 2-D or 3-D input"),
    (lambda: conv.pad(ember.randn(1, 1, 3, 3), (1, 1), mode="replicate"),
     r"expects a 2-D or 3-D input, got input of shape \(1, 1, 3, 3\)"),
    (lambda: conv.pad(ember.randn(1, 1, 3), (1, 1), mode="reflect", value=2.0),
     "doesn't take a value"),
    (lambda: conv.pad(ember.randn(1, 3), (-2, -2)), "negative output size"),
])
def test_pad_errors(call, match):
    with pytest.raises(RuntimeError, match=match):
        call()
