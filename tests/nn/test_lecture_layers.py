"""Layers the lectures define that torch lacks: each against a definition written out
independently (NumPy loops, or the same formula in torch for the gradients), float64
gradcheck of inputs and parameters, and the lecture's own numbers."""
import math

import numpy as np
import pytest
import torch

import ember
import ember.nn as nn
import ember.nn.functional as F
from tests.harness import assert_close, check_parity
from tests.nn.parity import module_parity

R = np.random.default_rng(2024)


def _gradcheck_module(m, *shapes):
    """float64 gradcheck of a module's output in its inputs and in each of its parameters."""
    m = m.double()
    xs = [ember.tensor(R.standard_normal(s), requires_grad=True) for s in shapes]
    assert ember.autograd.gradcheck(m, xs)
    for name, p in list(m.named_parameters()):
        owner = m.get_submodule(name.rpartition(".")[0])
        attr = name.rpartition(".")[2]

        def as_param(value, owner=owner, attr=attr, p=p):
            owner._parameters[attr] = value
            try:
                return m(*[x.detach() for x in xs])
            finally:
                owner._parameters[attr] = p
        assert ember.autograd.gradcheck(as_param, [ember.tensor(p.detach().numpy(),
                                                                requires_grad=True)]), name


# ------------------------------------------------------------------ locally connected (B7)
def _local_reference(x, w, b, stride, padding, dilation):
    """The definition, one output position at a time (NumPy, 2-D)."""
    n, c, h, wd = x.shape
    o, _, kh, kw, ho, wo = w.shape
    xp = np.pad(x, [(0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2])
    out = np.zeros((n, o, ho, wo))
    for i in range(ho):
        for j in range(wo):
            rows = i * stride[0] + dilation[0] * np.arange(kh)
            cols = j * stride[1] + dilation[1] * np.arange(kw)
            field = xp[:, :, rows][:, :, :, cols]                      # (N, C, kh, kw)
            out[:, :, i, j] = np.einsum("ncpq,ocpq->no", field, w[..., i, j])
    return out if b is None else out + b


def _local_torch(x, w, b, kernel, stride, padding, dilation):
    """The same computation in torch (unfold + one product per position) for the gradients."""
    o, positions = w.shape[0], math.prod(w.shape[-2:])
    cols = torch.nn.functional.unfold(x, kernel, dilation, padding, stride)
    out = torch.einsum("njl,ojl->nol", cols, w.reshape(o, -1, positions))
    out = out.reshape(x.shape[0], o, *w.shape[-2:])
    return out if b is None else out + b


@pytest.mark.parametrize("config", [
    dict(in_channels=3, out_channels=4, input_size=(6, 5), kernel_size=3),
    dict(in_channels=2, out_channels=3, input_size=(7, 6), kernel_size=(3, 2), stride=(2, 1),
         padding=(1, 2), dilation=(1, 2)),
    dict(in_channels=1, out_channels=2, input_size=5, kernel_size=2, stride=3, bias=False),
])
def test_b7_locally_connected2d_definition_and_torch_gradients(config):
    m = nn.LocallyConnected2d(**config)
    x = R.standard_normal((2, config["in_channels"]) + m.input_size).astype(np.float32)
    out = m(ember.tensor(x, requires_grad=True))
    w = m.weight.detach().numpy()
    b = None if m.bias is None else m.bias.detach().numpy()
    expected = _local_reference(x, w, b, m.stride, m.padding, m.dilation).astype(np.float32)
    assert_close(out.detach().numpy(), expected, what="forward")
    # gradients of input, weight and bias against torch running the same formula
    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(w, requires_grad=True)
    tb = None if b is None else torch.tensor(b, requires_grad=True)
    t_out = _local_torch(tx, tw, tb, m.kernel_size, m.stride, m.padding, m.dilation)
    g = R.standard_normal(tuple(t_out.shape)).astype(np.float32)
    t_out.backward(torch.tensor(g))
    ex = ember.tensor(x, requires_grad=True)
    m(ex).backward(ember.tensor(g))
    assert_close(ex.grad.numpy(), tx.grad.numpy(), what="grad input")
    assert_close(m.weight.grad.numpy(), tw.grad.numpy(), what="grad weight")
    if b is not None:
        assert_close(m.bias.grad.numpy(), tb.grad.numpy(), what="grad bias")


def test_b7_weight_sharing_turns_it_into_a_convolution():
    """Local connectivity + weight sharing = convolution (001 L446–493): the same filter at
    every position gives ``conv2d``."""
    m = nn.LocallyConnected2d(3, 4, (7, 6), 3, stride=2, padding=1)
    conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)
    with ember.no_grad():
        shared = conv.weight.detach().numpy()[..., None, None]
        m.weight.copy_(ember.tensor(np.broadcast_to(shared, m.weight.shape).copy()))
        m.bias.copy_(ember.tensor(np.broadcast_to(conv.bias.detach().numpy()[:, None, None],
                                                  m.bias.shape).copy()))
    x = ember.randn(2, 3, 7, 6)
    np.testing.assert_allclose(m(x).detach().numpy(), conv(x).detach().numpy(), rtol=1e-5,
                               atol=1e-5)


def test_b7_parameter_counts_and_h12_unshared_nine():
    """004 L418–420: C_out × C_in × K_hK_w × H_outW_out weights; 001 L462–488 (inventory H12):
    7 inputs, 3 hidden units of 3 inputs each: fully connected 3 × 7 = 21, locally connected
    3 × 3 = 9, with weight sharing 3 × 1 = 3."""
    m = nn.LocallyConnected2d(3, 5, (32, 32), 5, bias=False)
    assert m.weight.numel() == 5 * 3 * 5 * 5 * 28 * 28
    fully = nn.Linear(3 * 32 * 32, 5 * 28 * 28, bias=False)
    assert fully.weight.numel() == 5 * 3 * (32 * 32) * (28 * 28)
    assert nn.Linear(7, 3, bias=False).weight.numel() == 21
    local = nn.LocallyConnected1d(1, 1, 7, 3, stride=2, bias=False)
    assert local.output_size == (3,) and local.weight.numel() == 9
    assert nn.Conv1d(1, 1, 3, stride=2, bias=False).weight.numel() == 3
    # unit j sees x[2j .. 2j + 2] through its own filter (here 10^j · [1, 2, 3])
    x = ember.zeros(1, 1, 7)
    x[0, 0, 2:5] = 1.0
    with ember.no_grad():
        local.weight.copy_(ember.tensor([[[[1., 2., 3.], [10., 20., 30.], [100., 200., 300.]]]]
                                        ).permute(0, 1, 3, 2))
    np.testing.assert_array_equal(local(x).detach().numpy(), [[[3., 60., 100.]]])


def test_locally_connected1d_matches_the_2d_layer_on_a_height_1_input():
    m1 = nn.LocallyConnected1d(2, 3, 9, 3, stride=2, padding=1, dilation=2)
    m2 = nn.LocallyConnected2d(2, 3, (1, 9), (1, 3), stride=(1, 2), padding=(0, 1),
                               dilation=(1, 2))
    with ember.no_grad():
        m2.weight.copy_(m1.weight.unsqueeze(2).unsqueeze(-2))
        m2.bias.copy_(m1.bias.unsqueeze(1))
    x = ember.randn(4, 2, 9)
    np.testing.assert_allclose(m1(x).detach().numpy(),
                               m2(x.unsqueeze(2)).squeeze(2).detach().numpy(), rtol=1e-6)
    assert tuple(m1(x[0]).shape) == (3, m1.output_size[0])           # unbatched


def test_locally_connected_init_repr_and_state_dict():
    m = nn.LocallyConnected2d(4, 2, 6, 3, padding=1, bias=True)
    bound = 1 / math.sqrt(4 * 9)
    for p in (m.weight, m.bias):
        assert float(p.detach().abs().max()) <= bound
    assert float(m.weight.detach().std()) == pytest.approx(bound / math.sqrt(3), rel=0.1)
    assert repr(m) == ("LocallyConnected2d(4, 2, input_size=(6, 6), kernel_size=(3, 3), "
                       "stride=(1, 1), padding=(1, 1))")
    assert list(m.state_dict()) == ["weight", "bias"]
    assert tuple(m.bias.shape) == (2, 6, 6)
    double = nn.LocallyConnected1d(1, 2, 5, 2, dtype=ember.float64)
    assert double.weight.dtype == double.bias.dtype == ember.float64


def test_locally_connected_gradcheck_float64():
    _gradcheck_module(nn.LocallyConnected2d(2, 2, (4, 3), 2, padding=(1, 0)), (2, 2, 4, 3))
    _gradcheck_module(nn.LocallyConnected1d(1, 2, 5, 2, stride=2), (3, 1, 5))


@pytest.mark.parametrize("make,x,match", [
    (lambda: nn.LocallyConnected2d(3, 4, (6, 6), 3), ember.randn(1, 3, 5, 6),
     r"LocallyConnected2d: built for input \(N, 3, 6, 6\), got input of shape \(1, 3, 5, 6\)"),
    (lambda: nn.LocallyConnected2d(3, 4, (6, 6), 3), ember.randn(1, 2, 6, 6),
     r"built for input \(N, 3, 6, 6\)"),
    (lambda: nn.LocallyConnected1d(1, 1, 7, 3), ember.randn(7),
     r"LocallyConnected1d: expected 2-D \(unbatched\) or 3-D input"),
])
def test_locally_connected_input_errors(make, x, match):
    with pytest.raises(ValueError, match=match):
        make()(x)


@pytest.mark.parametrize("kwargs,match", [
    (dict(input_size=2, kernel_size=3), r"kernel_size \(3, 3\) .* does not fit"),
    (dict(input_size=6, kernel_size=0), "kernel_size must be at least 1"),
    (dict(input_size=6, kernel_size=3, stride=(1, 2, 3)), "stride to be an int or a tuple of 2"),
    (dict(input_size=6, kernel_size=3, padding=-1), "padding must be at least 0"),
    (dict(input_size=(6, 6.5), kernel_size=3), r"input_size to be an int or a tuple of 2 ints"),
])
def test_locally_connected_constructor_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        nn.LocallyConnected2d(2, 2, **kwargs)


# ------------------------------------------------------------------ spatial pyramid pooling (B21)
def _spp_torch(x, levels, mode):
    pool = (torch.nn.functional.adaptive_max_pool2d if mode == "max"
            else torch.nn.functional.adaptive_avg_pool2d)
    start = x.dim() - 3
    return torch.cat([pool(x, level).flatten(start) for level in levels], dim=start)


@pytest.mark.parametrize("levels,mode,shape", [
    ((4, 2, 1), "max", (2, 3, 13, 13)),
    ((4, 2, 1), "max", (2, 3, 10, 7)),
    ((3, 1), "avg", (1, 4, 9, 11)),
    ((2, 5), "max", (3, 6, 4)),              # a level finer than the map: overlapping bins
])
def test_b21_spatial_pyramid_pooling_torch_parity(levels, mode, shape):
    """Against torch's adaptive pools, flattened and concatenated (forward and gradient)."""

    def fn(lib, x):
        if lib is ember:
            return nn.SpatialPyramidPooling(levels, mode)(x)
        return _spp_torch(x, levels, mode)
    check_parity(fn, [R.standard_normal(shape)], dtype=np.float32)


def test_b21_fixed_length_whatever_the_image_size():
    """The slide's figure: conv5 has 256 filters; levels 4, 2, 1 give (16 + 4 + 1) · 256 =
    5376 features for any input size, so a fully connected layer can follow."""
    spp = nn.SpatialPyramidPooling()
    assert repr(spp) == "SpatialPyramidPooling(levels=(4, 2, 1), mode='max')"
    for h, w in ((13, 13), (10, 15), (6, 4)):
        assert tuple(spp(ember.randn(2, 256, h, w)).shape) == (2, 5376)
    # level 1 is the global max of each channel, placed last
    x = ember.randn(1, 256, 9, 9)
    np.testing.assert_array_equal(spp(x)[0, -256:].numpy(), x.amax((2, 3))[0].numpy())


def test_spatial_pyramid_pooling_single_level():
    x = ember.randn(2, 3, 5, 5)
    np.testing.assert_array_equal(nn.SpatialPyramidPooling(2, "avg")(x).numpy(),
                                  F.adaptive_avg_pool2d(x, 2).flatten(1).numpy())


def test_spatial_pyramid_pooling_gradcheck_and_errors():
    _gradcheck_module(nn.SpatialPyramidPooling((2, 1), "avg"), (2, 2, 5, 4))
    _gradcheck_module(nn.SpatialPyramidPooling((3, 1), "max"), (1, 2, 6, 5))
    with pytest.raises(ValueError, match="levels must be positive ints, got \\(4, 0\\)"):
        nn.SpatialPyramidPooling((4, 0))
    with pytest.raises(ValueError, match="mode must be 'max' or 'avg', got 'sum'"):
        nn.SpatialPyramidPooling(mode="sum")
    with pytest.raises(ValueError, match=r"expected \(N, C, H, W\) or \(C, H, W\) input, got "
                                         r"input of shape \(2, 3\)"):
        nn.SpatialPyramidPooling()(ember.randn(2, 3))


# ------------------------------------------------------------------ batch renormalization (B28)
def _renorm_torch(x, state, gamma, beta, r_max, d_max, eps, momentum):
    """Ioffe 2017, Algorithm 1, in torch: r and d detached; running statistics as BatchNorm's
    (mean and unbiased variance, moved by ``momentum``)."""
    dims = [0] + list(range(2, x.dim()))
    shape = [1, -1] + [1] * (x.dim() - 2)
    mean, var = x.mean(dims), x.var(dims, unbiased=False)
    batch_std = (var + eps).sqrt()
    running_std = (state["var"] + eps).sqrt()
    r = (batch_std / running_std).clamp(1 / r_max, r_max).detach()
    d = ((mean - state["mean"]) / running_std).clamp(-d_max, d_max).detach()
    x_hat = (x - mean.view(shape)) / batch_std.view(shape) * r.view(shape) + d.view(shape)
    with torch.no_grad():
        state["mean"] += momentum * (mean - state["mean"])
        state["var"] += momentum * (x.var(dims, unbiased=True) - state["var"])
    return gamma.view(shape) * x_hat + beta.view(shape)


@pytest.mark.parametrize("cls,shape,bias", [(nn.BatchRenorm1d, (6, 3), True),
                                            (nn.BatchRenorm1d, (4, 3, 5), True),
                                            (nn.BatchRenorm2d, (4, 3, 3, 2), True),
                                            (nn.BatchRenorm2d, (4, 3, 3, 2), False),
                                            (nn.BatchRenorm3d, (2, 3, 2, 2, 3), True)])
def test_b28_batch_renorm_against_the_paper_in_torch(cls, shape, bias):
    """Four training steps on shifting batches (some channels clipped, some not): outputs,
    gradients of x, γ, β and the running statistics, then eval mode."""
    m = cls(3, r_max=1.5, d_max=0.5, momentum=0.3, bias=bias)
    betas = [0.1, 0.2, -0.3] if bias else [0.0, 0.0, 0.0]
    with ember.no_grad():
        m.weight.copy_(ember.tensor([1.5, -0.5, 2.0]))
        if bias:
            m.bias.copy_(ember.tensor(betas))
    gamma = torch.tensor([1.5, -0.5, 2.0], requires_grad=True)
    beta = torch.tensor(betas, requires_grad=True)
    state = {"mean": torch.zeros(3), "var": torch.ones(3)}
    channel = [1, 3] + [1] * (len(shape) - 2)
    for step in range(4):
        x = (R.standard_normal(shape) * R.uniform(0.3, 3.0, channel)
             + R.uniform(-2, 2, channel)).astype(np.float32)
        ex = ember.tensor(x, requires_grad=True)
        tx = torch.tensor(x, requires_grad=True)
        m.zero_grad()
        gamma.grad = beta.grad = None
        out = m(ex)
        t_out = _renorm_torch(tx, state, gamma, beta, 1.5, 0.5, m.eps, 0.3)
        assert_close(out.detach().numpy(), t_out.detach().numpy(), what=f"step {step} output")
        g = R.standard_normal(shape).astype(np.float32)
        out.backward(ember.tensor(g))
        t_out.backward(torch.tensor(g))
        assert_close(ex.grad.numpy(), tx.grad.numpy(), what=f"step {step} grad x")
        assert_close(m.weight.grad.numpy(), gamma.grad.numpy(), what=f"step {step} grad γ")
        if bias:
            assert_close(m.bias.grad.numpy(), beta.grad.numpy(), what=f"step {step} grad β")
        assert_close(m.running_mean.numpy(), state["mean"].numpy(), what="running_mean")
        assert_close(m.running_var.numpy(), state["var"].numpy(), what="running_var")
    assert int(m.num_batches_tracked) == 4
    m.eval()
    x = R.standard_normal(shape).astype(np.float32)
    std = np.sqrt(state["var"].numpy() + m.eps).reshape(channel)
    expected = ((x - state["mean"].numpy().reshape(channel)) / std * gamma.detach().numpy()
                .reshape(channel) + beta.detach().numpy().reshape(channel))
    assert_close(m(ember.tensor(x)).detach().numpy(), expected.astype(np.float32), what="eval")


@pytest.mark.parametrize("affine,bias,momentum", [(True, True, 0.1), (False, True, None),
                                                  (True, False, 0.2)])
def test_batch_renorm_with_r_max_1_d_max_0_is_torch_batch_norm(affine, bias, momentum):
    """No correction allowed: exactly ``torch.nn.BatchNorm2d`` (outputs, gradients, buffers)."""
    e = nn.BatchRenorm2d(4, affine=affine, momentum=momentum, r_max=1.0, d_max=0.0, bias=bias)
    t = torch.nn.BatchNorm2d(4, affine=affine, momentum=momentum, bias=bias)
    e.load_state_dict({k: v.numpy() for k, v in t.state_dict().items()})
    for _ in range(3):
        x = (R.standard_normal((3, 4, 5, 5)) * 2 + 1).astype(np.float32)
        ex, tx = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        out, t_out = e(ex), t(tx)
        assert_close(out.detach().numpy(), t_out.detach().numpy())
        g = R.standard_normal(x.shape).astype(np.float32)
        out.backward(ember.tensor(g))
        t_out.backward(torch.tensor(g))
        assert_close(ex.grad.numpy(), tx.grad.numpy())
    for name, buf in t.state_dict().items():
        assert_close(e.state_dict()[name].numpy(), buf.numpy(), what=name)
    if affine:
        assert_close(e.weight.grad.numpy(), t.weight.grad.numpy())


def test_batch_renorm_corrects_towards_the_running_statistics():
    """The point of the correction: a batch whose statistics differ from the running ones
    (within r_max, d_max) is normalized as the running statistics would normalize it, so the
    training output is the inference output."""
    m = nn.BatchRenorm1d(2, affine=False, momentum=0.0, r_max=10.0, d_max=20.0)
    with ember.no_grad():
        m.running_mean.copy_(ember.tensor([1.0, -2.0]))
        m.running_var.copy_(ember.tensor([4.0, 0.25]))
    x = R.standard_normal((64, 2)).astype(np.float32) * 3 + 5
    running = (x - [1.0, -2.0]) / np.sqrt(np.array([4.0, 0.25]) + m.eps)
    np.testing.assert_allclose(m(ember.tensor(x)).detach().numpy(), running, rtol=1e-4,
                               atol=1e-4)


def test_batch_renorm_gradcheck_when_clipped_and_errors():
    """With every r and d at its clip bound they are locally constant, so the stop-gradient
    backward is the true derivative and finite differences can check it."""
    m = nn.BatchRenorm2d(2, momentum=0.0, r_max=1.2, d_max=0.1)
    with ember.no_grad():
        m.running_mean.copy_(ember.tensor([50.0, -50.0]))
        m.running_var.copy_(ember.tensor([1e4, 1e-4]))
    _gradcheck_module(m, (3, 2, 2, 2))
    assert repr(m) == ("BatchRenorm2d(2, eps=1e-05, momentum=0.0, affine=True, bias=True, "
                       "r_max=1.2, d_max=0.1)")
    double = nn.BatchRenorm1d(3, dtype=ember.float64)
    assert double.running_var.dtype == double.weight.dtype == ember.float64
    with pytest.raises(ValueError, match="expected r_max >= 1 and d_max >= 0, got r_max=0.5"):
        nn.BatchRenorm2d(2, r_max=0.5)
    with pytest.raises(ValueError, match="BatchRenorm2d: expected 4D input"):
        nn.BatchRenorm2d(2)(ember.randn(3, 2))
    with pytest.raises(ValueError, match=r"BatchRenorm1d\(2\): expected input with 2 channels"):
        nn.BatchRenorm1d(2)(ember.randn(3, 5))


# ------------------------------------------------------------------ non-local block (B39)
def _torch_non_local(n, in_channels, inter_channels=None, mode="embedded_gaussian",
                     sub_sample=False, bn_layer=True):
    """Wang et al.'s block after the authors' reference code, in torch (matmul + softmax),
    with random instead of zero output weights so that every path is exercised."""
    conv = getattr(torch.nn, f"Conv{n}d")
    pool = getattr(torch.nn, f"MaxPool{n}d")((1, 2, 2) if n == 3 else 2)
    inter = inter_channels or max(in_channels // 2, 1)

    class Reference(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.g = conv(in_channels, inter, 1)
            if mode != "gaussian":
                self.theta = conv(in_channels, inter, 1)
                self.phi = conv(in_channels, inter, 1)
            if sub_sample:
                self.g = torch.nn.Sequential(self.g, pool)
                self.phi = torch.nn.Sequential(self.phi, pool) if mode != "gaussian" else pool
            out = conv(inter, in_channels, 1)
            self.W = (torch.nn.Sequential(out, getattr(torch.nn, f"BatchNorm{n}d")(in_channels))
                      if bn_layer else out)
            for p in self.W.parameters():
                torch.nn.init.normal_(p)

        def forward(self, x):
            b = x.shape[0]
            g_x = self.g(x).view(b, inter, -1).permute(0, 2, 1)
            if mode == "gaussian":
                theta_x = x.view(b, in_channels, -1).permute(0, 2, 1)
                phi_x = (self.phi(x) if sub_sample else x).view(b, in_channels, -1)
            else:
                theta_x = self.theta(x).view(b, inter, -1).permute(0, 2, 1)
                phi_x = self.phi(x).view(b, inter, -1)
            f = torch.matmul(theta_x, phi_x)
            f = f / f.shape[-1] if mode == "dot_product" else torch.softmax(f, dim=-1)
            y = torch.matmul(f, g_x).permute(0, 2, 1).reshape(b, inter, *x.shape[2:])
            return self.W(y) + x

        def extra_repr(self):
            return (f"{in_channels}, inter_channels={inter}, mode={mode!r}, "
                    f"sub_sample={sub_sample}, bn_layer={bn_layer}")
    Reference.__name__ = f"NonLocalBlock{n}d"
    return Reference()


@pytest.mark.parametrize("n,kwargs,shape", [
    (2, dict(), (2, 6, 5, 4)),
    (2, dict(mode="dot_product", sub_sample=True, inter_channels=4), (2, 6, 6, 4)),
    (2, dict(mode="gaussian", bn_layer=False), (1, 4, 3, 5)),
    (2, dict(mode="gaussian", sub_sample=True), (2, 4, 4, 4)),
    (1, dict(sub_sample=True), (2, 4, 8)),
    (3, dict(sub_sample=True), (2, 4, 3, 4, 4)),           # spatio-temporal (003 L8137)
    (3, dict(mode="dot_product", bn_layer=False), (1, 2, 2, 3, 3)),
])
def test_b39_non_local_block_torch_parity(n, kwargs, shape):
    """In float64: with a BatchNorm after W_z (training mode) the gradient of g's bias is a
    cancellation to ~0, which float32 resolves only to the rounding of the larger terms."""
    def make(lib):
        if lib is torch:
            return _torch_non_local(n, shape[1], **kwargs)
        return getattr(nn, f"NonLocalBlock{n}d")(shape[1], **kwargs)
    module_parity(make, [R.standard_normal(shape)], double=True)


def test_non_local_block_float32_parity():
    module_parity(lambda lib: _torch_non_local(2, 6, bn_layer=False) if lib is torch
                  else nn.NonLocalBlock2d(6, bn_layer=False),
                  [R.standard_normal((2, 6, 4, 5)).astype(np.float32)])


def test_b39_non_local_block_starts_as_the_identity_residual():
    """"以残差形式加到原特征上": z = W_z y + x with W_z's output zero at initialization."""
    for block in (nn.NonLocalBlock2d(8), nn.NonLocalBlock2d(8, bn_layer=False),
                  nn.NonLocalBlock3d(4, mode="dot_product")):
        x = ember.randn(2, block.in_channels, *((3, 4, 4) if isinstance(
            block, nn.NonLocalBlock3d) else (5, 5)))
        np.testing.assert_array_equal(block(x).detach().numpy(), x.numpy())


def test_b39_every_position_sees_every_other():
    """Non-local: changing one input position changes the output at every position (a 3×3
    conv would reach only its neighbours)."""
    block = nn.NonLocalBlock2d(4, bn_layer=False)
    with ember.no_grad():
        block.W.weight.normal_()
    x = ember.randn(1, 4, 6, 6)
    y0 = block(x).detach().numpy()
    x2 = x.clone()
    x2[0, :, 0, 0] += 5.0
    changed = np.abs(block(x2).detach().numpy() - y0).sum(1)[0]
    assert (changed > 1e-6).all()


def test_non_local_block_gradcheck_and_errors():
    block = nn.NonLocalBlock2d(2, inter_channels=2, bn_layer=False)
    with ember.no_grad():
        block.W.weight.normal_()
        block.W.bias.normal_()
    _gradcheck_module(block, (2, 2, 3, 2))
    _gradcheck_module(nn.NonLocalBlock1d(2, mode="dot_product", bn_layer=False), (1, 2, 4))
    with pytest.raises(ValueError, match="mode must be one of .* got 'concatenation'"):
        nn.NonLocalBlock2d(4, mode="concatenation")
    with pytest.raises(ValueError, match="in_channels and inter_channels must be positive, got "
                                         "4 and 0"):
        nn.NonLocalBlock2d(4, inter_channels=0)
    with pytest.raises(ValueError, match=r"NonLocalBlock2d: expected input \(N, 4, \*, \*\), "
                                         r"got input of shape \(1, 3, 5, 5\)"):
        nn.NonLocalBlock2d(4)(ember.randn(1, 3, 5, 5))
