"""Convolutions (1-D/2-D/3-D, grouped, depthwise, transposed) and unfold/fold against torch 2.13:
forward and the gradients of input, weight and bias over randomized configurations, float64
gradcheck, the column-saving and workspace paths, and the error messages."""
import numpy as np
import pytest

import ember
from ember.ops import conv
from tests.harness import check_parity, gradcheck64

pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")


def F(lib):
    """``torch.nn.functional`` or Ember's conv module, so one lambda runs under both."""
    return conv if lib is ember else lib.nn.functional


CONV = {1: "conv1d", 2: "conv2d", 3: "conv3d"}
CONVT = {1: "conv_transpose1d", 2: "conv_transpose2d", 3: "conv_transpose3d"}


def _maybe_int(t, rng):
    return t[0] if all(v == t[0] for v in t) and rng.integers(0, 2) else t


def _conv_config(rng, nd):
    """A random valid conv configuration: shapes of input/weight/bias and the keywords."""
    groups = int(rng.choice([1, 1, 2, 3]))
    cin, cout = groups * int(rng.integers(1, 4)), groups * int(rng.integers(1, 4))
    k = tuple(int(v) for v in rng.integers(1, 5 if nd < 3 else 4, nd))
    d = tuple(int(v) for v in rng.integers(1, 3, nd))
    kind = rng.integers(0, 4)
    if kind == 0:
        padding, s = "same", (1,) * nd
    elif kind == 1:
        padding, s = "valid", tuple(int(v) for v in rng.integers(1, 4, nd))
    else:
        padding = tuple(int(rng.integers(0, 3)) for _ in range(nd))
        s = tuple(int(v) for v in rng.integers(1, 4, nd))
        padding = _maybe_int(padding, rng)
    pads = (0,) * nd if isinstance(padding, str) else (
        (padding,) * nd if isinstance(padding, int) else padding)
    top = 9 if nd < 3 else 4
    size = tuple(int(max(dd * (kk - 1) + 1 - 2 * pp, 1) + rng.integers(0, top))
                 for kk, dd, pp in zip(k, d, pads))
    n = int(rng.integers(1, 4))
    unbatched = bool(rng.integers(0, 5) == 0)
    x_shape = ((cin,) if unbatched else (n, cin)) + size
    w_shape = (cout, cin // groups) + k
    bias = bool(rng.integers(0, 3))
    kw = dict(stride=_maybe_int(s, rng), padding=padding, dilation=_maybe_int(d, rng),
              groups=groups)
    return x_shape, w_shape, (cout,) if bias else None, kw


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("seed", range(10))
def test_conv_random_configs(nd, seed, dtype):
    # inventory B5, B6, B12, B15
    rng = np.random.default_rng(1000 * nd + seed)
    x_shape, w_shape, b_shape, kw = _conv_config(rng, nd)
    arrays = [rng.standard_normal(x_shape), rng.standard_normal(w_shape)]
    if b_shape is not None:
        arrays.append(rng.standard_normal(b_shape))
    check_parity(lambda m, x, w, *b: getattr(F(m), CONV[nd])(x, w, *b, **kw), arrays,
                 dtype=dtype)


def _convt_config(rng, nd):
    groups = int(rng.choice([1, 1, 2, 3]))
    cin, cout = groups * int(rng.integers(1, 4)), groups * int(rng.integers(1, 4))
    k = tuple(int(v) for v in rng.integers(1, 5 if nd < 3 else 4, nd))
    s = tuple(int(v) for v in rng.integers(1, 4, nd))
    d = tuple(int(v) for v in rng.integers(1, 3, nd))
    op = tuple(int(rng.integers(0, max(ss, dd))) for ss, dd in zip(s, d))
    size = tuple(int(v) for v in rng.integers(1, 6 if nd < 3 else 4, nd))
    # padding may not eat the whole output: O = (I-1)s - 2p + d(k-1) + op + 1 > 0
    p = tuple(int(rng.integers(0, ((i - 1) * ss + dd * (kk - 1) + o) // 2 + 1))
              for i, ss, dd, kk, o in zip(size, s, d, k, op))
    n = int(rng.integers(1, 4))
    unbatched = bool(rng.integers(0, 5) == 0)
    x_shape = ((cin,) if unbatched else (n, cin)) + size
    w_shape = (cin, cout // groups) + k
    kw = dict(stride=_maybe_int(s, rng), padding=_maybe_int(p, rng), output_padding=op,
              groups=groups, dilation=_maybe_int(d, rng))
    return x_shape, w_shape, (cout,) if rng.integers(0, 3) else None, kw


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("seed", range(10))
def test_conv_transpose_random_configs(nd, seed, dtype):
    # inventory B23
    rng = np.random.default_rng(2000 * nd + seed)
    x_shape, w_shape, b_shape, kw = _convt_config(rng, nd)
    arrays = [rng.standard_normal(x_shape), rng.standard_normal(w_shape)]
    if b_shape is not None:
        arrays.append(rng.standard_normal(b_shape))
    check_parity(lambda m, x, w, *b: getattr(F(m), CONVT[nd])(x, w, *b, **kw), arrays,
                 dtype=dtype)


@pytest.mark.parametrize("kw", [
    dict(padding="same", dilation=2),             # even kernel, odd total: asymmetric 'same'
    dict(padding="same", dilation=(1, 3)),
    dict(padding="valid", stride=(2, 3)),
    dict(stride=4),                               # stride larger than the kernel: skipped pixels
    dict(padding=(2, 0), stride=(3, 1), dilation=(2, 1)),
])
def test_conv2d_even_kernel_cases(kw):
    x, w, b = np.random.randn(2, 3, 9, 10), np.random.randn(4, 3, 2, 4), np.random.randn(4)
    check_parity(lambda m, x, w, b: F(m).conv2d(x, w, b, **kw), [x, w, b], dtype=np.float32)


def test_depthwise_and_pointwise():
    """Depthwise (groups = C_in, seed 003 「Depthwise Convolution」) followed by a 1×1 pointwise
    conv: the depthwise-separable block of MobileNet."""
    # inventory B17, B18
    x = np.random.randn(2, 4, 7, 7)
    dw, pw = np.random.randn(8, 1, 3, 3), np.random.randn(5, 8, 1, 1)

    def block(m, x, dw, pw):
        f = F(m)
        return f.conv2d(f.conv2d(x, dw, padding=1, groups=4), pw)

    out = check_parity(block, [x, dw, pw], dtype=np.float32)[0]
    assert tuple(out.shape) == (2, 5, 7, 7)


def test_group_conv_is_independent_convs():
    """Seed 003 「Group Convolution」: each group of filters sees only its own input channels."""
    # inventory B16
    x = ember.randn(2, 6, 5, 5)
    w = ember.randn(4, 3, 3, 3)
    y = conv.conv2d(x, w, groups=2)
    y0 = conv.conv2d(x[:, :3], w[:2])
    y1 = conv.conv2d(x[:, 3:], w[2:])
    np.testing.assert_allclose(y.numpy(), np.concatenate([y0.numpy(), y1.numpy()], 1),
                               rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("which", ["input", "weight", "bias"])
def test_partial_requires_grad(which):
    arrays = [np.random.randn(2, 3, 6, 6), np.random.randn(4, 3, 3, 3), np.random.randn(4)]
    rg = [name == which for name in ("input", "weight", "bias")]
    check_parity(lambda m, x, w, b: F(m).conv2d(x, w, b, stride=2, padding=1), arrays,
                 requires_grad=rg, dtype=np.float32)
    check_parity(lambda m, x, w, b: F(m).conv_transpose2d(x, w.transpose(0, 1), b, stride=2),
                 arrays, requires_grad=rg, dtype=np.float32)


def test_workspace_shared_by_interleaved_convs():
    """Columns are rebuilt in backward inside a workspace shared by every conv: two convs of
    different shapes run forward before either runs backward, and both gradients stay right."""
    arrays = [np.random.randn(2, 3, 8, 8), np.random.randn(4, 3, 3, 3), np.random.randn(4)]

    def two_convs(m, x, w, b):
        f = F(m)
        y1 = f.conv2d(x, w, b, padding=1)
        y2 = f.conv2d(x[:, :, ::2], w[:, :, :2], stride=(1, 2))   # reuses the workspace
        return y1, y2

    check_parity(two_convs, arrays, dtype=np.float32)


def test_gradients_do_not_depend_on_other_convs_in_between():
    x = ember.randn(2, 3, 8, 8, requires_grad=True)
    w = ember.randn(4, 3, 3, 3, requires_grad=True)
    y = conv.conv2d(x, w, padding=1)
    conv.conv2d(ember.randn(3, 3, 12, 12), ember.randn(4, 3, 3, 3), padding=1)
    y.sum().backward()
    x2 = x.detach().requires_grad_(True)
    w2 = w.detach().requires_grad_(True)
    conv.conv2d(x2, w2, padding=1).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), w2.grad.numpy())
    np.testing.assert_array_equal(x.grad.numpy(), x2.grad.numpy())


def test_float32_stays_float32_and_outputs_are_fresh():
    x = ember.randn(2, 3, 6, 6, requires_grad=True)
    w = ember.randn(4, 3, 3, 3, requires_grad=True)
    y1 = conv.conv2d(x, w, padding=1)
    y2 = conv.conv2d(x, w, padding=1)
    assert y1.dtype == ember.float32 and not np.shares_memory(y1._data, y2._data)
    t = conv.conv_transpose2d(x, w.transpose(0, 1), padding=1)
    assert t.dtype == ember.float32
    (y1.sum() + t.sum()).backward()
    assert x.grad.dtype == ember.float32 and w.grad.dtype == ember.float32


def test_inplace_change_of_saved_input_is_detected():
    x = ember.randn(1, 1, 5, 5, requires_grad=True)
    w = ember.randn(1, 1, 3, 3, requires_grad=True)
    h = x * 1
    y = conv.conv2d(h, w)
    with ember.no_grad():
        h.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


@pytest.mark.parametrize("fn,args", [
    (lambda x, w, b: conv.conv1d(x, w, b, stride=2, padding=1, dilation=2),
     [(2, 2, 7), (3, 2, 3), (3,)]),
    (lambda x, w, b: conv.conv2d(x, w, b, stride=(2, 1), padding=1, groups=2),
     [(1, 4, 5, 4), (2, 2, 3, 2), (2,)]),
    (lambda x, w, b: conv.conv2d(x, w, b, padding="same", dilation=(1, 2)),
     [(1, 2, 4, 5), (2, 2, 2, 2), (2,)]),
    (lambda x, w, b: conv.conv3d(x, w, b, stride=(1, 2, 1), padding=(1, 0, 1)),
     [(1, 2, 3, 4, 3), (2, 2, 2, 2, 2), (2,)]),
    (lambda x, w, b: conv.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1,
                                           groups=2, dilation=1),
     [(1, 4, 3, 3), (4, 1, 3, 3), (2,)]),
    (lambda x, w, b: conv.conv_transpose1d(x, w, b, stride=1, output_padding=1, dilation=2),
     [(2, 2, 4), (2, 3, 3), (3,)]),
    (lambda x, w, b: conv.conv_transpose3d(x, w, b, stride=(2, 1, 1), padding=(0, 1, 0)),
     [(1, 2, 2, 3, 2), (2, 1, 2, 2, 2), (1,)]),
])
def test_gradcheck_float64(fn, args):
    assert gradcheck64(fn, [np.random.randn(*s) for s in args])


# ---------------------------------------------------------------------------------------------
# unfold / fold
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kw", [
    dict(kernel_size=2),
    dict(kernel_size=(2, 3), stride=(2, 1)),
    dict(kernel_size=3, padding=1, dilation=2),
    dict(kernel_size=(3, 1), padding=(1, 2), stride=2, dilation=(1, 3)),
])
@pytest.mark.parametrize("unbatched", [False, True])
def test_unfold_fold_parity(kw, unbatched):
    x = np.random.randn(*((3, 7, 8) if unbatched else (2, 3, 7, 8)))
    cols = check_parity(lambda m, x: F(m).unfold(x, **kw), [x], dtype=np.float32)[0]
    c = np.random.randn(*cols.shape)
    check_parity(lambda m, c: F(m).fold(c, (7, 8), **kw), [c], dtype=np.float32)
    check_parity(lambda m, c: F(m).fold(c, (7, 8), **kw), [c], dtype=np.float64)


def test_unfold_matmul_is_conv():
    """The im2col view of a conv (lecture "Everything's a convolution" / conv as matrix product):
    ``W.view(C_out, -1) @ unfold(X)`` reshaped is ``conv2d(X, W)``."""
    # inventory B8
    x, w = ember.randn(2, 3, 6, 7), ember.randn(4, 3, 3, 2)
    y = (w.reshape(4, -1) @ conv.unfold(x, (3, 2), stride=(1, 2))).reshape(2, 4, 4, 3)
    np.testing.assert_allclose(y.numpy(), conv.conv2d(x, w, stride=(1, 2)).numpy(),
                               rtol=1e-5, atol=1e-5)


def test_fold_unfold_gradcheck():
    assert gradcheck64(lambda x: conv.unfold(x, 2, padding=1, stride=(1, 2)),
                       [np.random.randn(1, 2, 3, 4)])
    assert gradcheck64(lambda c: conv.fold(c, (4, 5), 3, padding=1, stride=2),
                       [np.random.randn(2, 9, 6)])


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------

def test_channel_mismatch_message():
    x, w = ember.randn(8, 1, 28, 28), ember.randn(8, 3, 3, 3)
    with pytest.raises(RuntimeError) as e:
        conv.conv2d(x, w)
    assert str(e.value) == ("conv2d: expected input with 3 channels (weight shape (8, 3, 3, 3), "
                            "groups=1), got 1 channel (input shape (8, 1, 28, 28))")


@pytest.mark.parametrize("call,match", [
    (lambda: conv.conv2d(ember.randn(4, 4), ember.randn(2, 1, 3, 3)),
     r"conv2d: expected 3-D \(unbatched\) or 4-D \(batched\) input, got 2-D input of shape "
     r"\(4, 4\)"),
    (lambda: conv.conv2d(ember.randn(1, 1, 4, 4), ember.randn(2, 1, 3)), "expected a 4-D weight"),
    (lambda: conv.conv2d(ember.randn(1, 1, 4, 4), ember.randn(2, 1, 5, 5)),
     r"padded input size \(4, 4\) is smaller than the dilated kernel size \(5, 5\)"),
    (lambda: conv.conv2d(ember.randn(1, 1, 4, 4), ember.randn(2, 1, 3, 3), dilation=2),
     r"dilated kernel size \(5, 5\)"),
    (lambda: conv.conv2d(ember.randn(1, 4, 4, 4), ember.randn(3, 2, 3, 3), groups=2),
     r"weight's 3 output channels .* not divisible by groups=2"),
    (lambda: conv.conv2d(ember.randn(1, 3, 4, 4), ember.randn(3, 1, 3, 3), groups=0),
     "groups must be a positive integer"),
    (lambda: conv.conv2d(ember.randn(1, 1, 4, 4), ember.randn(2, 1, 3, 3), stride=0),
     "stride must be positive"),
    (lambda: conv.conv1d(ember.randn(1, 1, 4), ember.randn(2, 1, 3), dilation=-1),
     "dilation must be positive"),
    (lambda: conv.conv2d(ember.randn(1, 1, 4, 4), ember.randn(2, 1, 3, 3), padding=-1),
     "negative padding"),
    (lambda: conv.conv2d(ember.randn(1, 1, 4, 4), ember.randn(2, 1, 3, 3), padding="same",
                         stride=2), "padding='same' is not supported for strided"),
    (lambda: conv.conv2d(ember.randn(1, 1, 4, 4), ember.randn(2, 1, 3, 3), padding="full"),
     "invalid padding string 'full'"),
    (lambda: conv.conv2d(ember.randn(1, 1, 4, 4), ember.randn(2, 1, 3, 3), stride=(1, 1, 1)),
     "expected stride to be a single integer value or a list of 2 values"),
    (lambda: conv.conv2d(ember.randn(1, 1, 4, 4), ember.randn(2, 1, 3, 3), ember.randn(3)),
     r"expected bias of shape \(2,\)"),
    (lambda: conv.conv2d(ember.randn(1, 1, 4, 4, dtype=ember.float64), ember.randn(2, 1, 3, 3)),
     r"input \(ember.float64\) and weight \(ember.float32\) must have the same dtype"),
    (lambda: conv.conv2d(ember.ones(1, 1, 4, 4, dtype=ember.int64),
                         ember.ones(2, 1, 3, 3, dtype=ember.int64)),
     "expected a floating-point input"),
    (lambda: conv.conv_transpose2d(ember.randn(1, 2, 3, 3), ember.randn(2, 1, 3, 3), stride=2,
                                   output_padding=2),
     "output padding must be smaller than either stride or dilation"),
    (lambda: conv.conv_transpose2d(ember.randn(1, 3, 3, 3), ember.randn(2, 1, 3, 3)),
     r"conv_transpose2d: expected input with 2 channels .* got 3 channels"),
    (lambda: conv.conv_transpose1d(ember.randn(1, 1, 1), ember.randn(1, 1, 1), padding=1),
     "output size"),
    (lambda: conv.conv_transpose2d(ember.randn(1, 2, 3, 3), ember.randn(2, 1, 3, 3),
                                   padding="same"), "string padding"),
    (lambda: conv.unfold(ember.randn(1, 1, 2, 2), 3), "unfold: padded input size"),
    (lambda: conv.unfold(ember.randn(2, 2), 1), "unfold: expected a 3-D"),
    (lambda: conv.fold(ember.randn(1, 5, 4), (3, 3), 2), "divisible by the product of kernel_size"),
    (lambda: conv.fold(ember.randn(1, 4, 5), (3, 3), 2), r"2 \* 2 = 4 sliding blocks"),
])
def test_errors(call, match):
    with pytest.raises(RuntimeError, match=match):
        call()


def test_empty_batch():
    x, w = np.random.randn(0, 3, 5, 5), np.random.randn(3, 3, 3, 3)
    check_parity(lambda m, x, w: F(m).conv2d(x, w, padding=1), [x, w], dtype=np.float32)
    check_parity(lambda m, x, w: F(m).conv_transpose2d(x, w, stride=2), [x, w], dtype=np.float32)
    check_parity(lambda m, x: F(m).unfold(x, 2), [x], dtype=np.float32)


def test_non_contiguous_inputs():
    """im2col reads through the input's own strides: flipped, broadcast and transposed views."""
    w = np.random.randn(4, 3, 3, 3)
    check_parity(lambda m, x, w: F(m).conv2d(m.flip(x, (3,)), w, stride=2),
                 [np.random.randn(2, 3, 7, 9), w], dtype=np.float32)
    check_parity(lambda m, x, w: F(m).conv2d(x.expand(3, 3, 7, 9), w, padding=1),
                 [np.random.randn(1, 3, 7, 9), w], dtype=np.float32)
    check_parity(lambda m, x, w: F(m).conv_transpose2d(x.transpose(2, 3), w, padding=1),
                 [np.random.randn(2, 3, 5, 4), w.transpose(1, 0, 2, 3).copy()], dtype=np.float32)


# ------------------------------------------------------------- input-gradient layouts
_LAYOUT_CASES = [   # x shape, weight shape, groups, stride, padding, dilation
    ((4, 6, 14, 14), (16, 6, 5, 5), 1, (1, 1), ((0, 0), (0, 0)), (1, 1)),     # LeNet 6->16
    ((3, 4, 9, 7), (6, 2, 3, 3), 2, (1, 1), ((1, 1), (2, 0)), (2, 1)),       # grouped, dilated
    ((2, 3, 8, 8), (5, 3, 3, 3), 1, (2, 1), ((1, 1), (1, 1)), (1, 1)),       # strided
    ((2, 2, 6, 5, 4), (3, 2, 2, 3, 2), 1, (1, 1, 1), ((0, 1), (1, 1), (0, 0)), (1, 1, 2)),
]


@pytest.mark.parametrize("x_shape, w_shape, groups, stride, padding, dilation", _LAYOUT_CASES)
def test_every_input_grad_layout_equals_the_reference(x_shape, w_shape, groups, stride,
                                                        padding, dilation):
    """The plain col2im is the definition of dX; each faster layout of the same sums must give
    the same numbers (in float64 to 1e-12), and the reference equals torch's gradient."""
    from ember.ops import _im2col as ic
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal(w_shape)
    out = ic.output_size(x_shape[2:], w_shape[2:], stride, padding, dilation)
    dy = rng.standard_normal((x_shape[0], w_shape[0]) + out)
    reference = ic.conv_input_grad_reference(dy, w, groups, x_shape[2:], stride, padding,
                                             dilation)
    layouts = ["plain"] + (["wide", "batch_last"] if all(s == 1 for s in stride) else [])
    for layout in layouts:
        dx = ic.conv_input_grad(dy, w, groups, x_shape[2:], stride, padding, dilation,
                                layout=layout)
        np.testing.assert_allclose(dx, reference, rtol=1e-12, atol=1e-12, err_msg=layout)
    import torch
    conv = {2: torch.nn.functional.conv2d, 3: torch.nn.functional.conv3d}[len(stride)]
    xt = torch.tensor(x, requires_grad=True)
    xp = torch.nn.functional.pad(xt, [p for lo_hi in reversed(padding) for p in lo_hi])
    conv(xp, torch.tensor(w), stride=stride, dilation=dilation, groups=groups).backward(
        torch.tensor(dy))
    np.testing.assert_allclose(reference, xt.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_input_grad_layout_choice():
    from ember.ops import _im2col as ic
    assert ic.input_grad_layout((2, 2), (4, 4), (9, 9), 8) == "plain"
    assert ic.input_grad_layout((1, 1), (28, 28), (32, 32), 8) == "wide"        # LeNet 1->6
    assert ic.input_grad_layout((1, 1), (10, 10), (14, 14), 8) == "batch_last"  # LeNet 6->16
    assert ic.input_grad_layout((1, 1), (10, 10), (14, 14), 0) == "plain"
