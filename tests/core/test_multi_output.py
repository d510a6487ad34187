"""Graph nodes with several outputs (torch semantics): built-in ops whose node returns values
and indices (max/min over a dim, max pooling and adaptive max pooling with indices), and
``ember.autograd.Function`` subclasses whose ``forward`` returns a tuple."""
import numpy as np
import pytest
import torch

import ember
from ember.autograd import gradcheck
from tests.harness import check_parity

RNG = np.random.default_rng(0)


# ------------------------------------------------------------------- built-in multi-output ops
@pytest.mark.parametrize("op", ["max", "min"])
@pytest.mark.parametrize("keepdim", [False, True])
def test_max_over_a_dim_is_one_node_with_values_and_indices(op, keepdim):
    x = ember.tensor(RNG.standard_normal((3, 5, 4)), requires_grad=True)
    values, indices = getattr(ember, op)(x, 1, keepdim)
    assert values.grad_fn is not None and values.grad_fn is getattr(indices, "grad_fn", None) \
        or indices.grad_fn is None
    assert not indices.requires_grad and indices.dtype == ember.int64
    assert values.grad_fn.name() == "_ExtremeDimBackward"
    assert (values._output_nr, values.grad_fn._num_outputs) == (0, 2)
    check_parity(lambda m, a: getattr(m, op)(a, 1, keepdim), [RNG.standard_normal((3, 5, 4))])
    check_parity(lambda m, a: getattr(m, op)(a, -1, keepdim).values * 2,
                 [RNG.standard_normal((2, 6))])


def test_indices_output_used_downstream_and_values_backward():
    """The int output feeds a gather on another tensor; the float output's gradient still
    reaches the arg-max positions only."""
    def fn(m, a, b):
        values, indices = m.max(a, dim=0)
        return values * m.gather(b, 0, indices.unsqueeze(0)).squeeze(0)
    check_parity(fn, [RNG.standard_normal((4, 5)), RNG.standard_normal((4, 5))])


def test_max_over_dim_gradcheck_float64():
    assert gradcheck(lambda a: ember.max(a, 1).values, [ember.tensor(
        RNG.standard_normal((3, 4)), dtype=ember.float64, requires_grad=True)])


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_max_pool_with_indices_is_one_node(nd):
    shape = (2, 3) + (6,) * nd
    pool = getattr(ember.nn.functional, f"max_pool{nd}d")
    x = ember.tensor(RNG.standard_normal(shape), requires_grad=True)
    out, indices = pool(x, 2, return_indices=True)
    assert out.grad_fn.name() == "MaxPoolBackward" and out.grad_fn._num_outputs == 2
    assert not indices.requires_grad
    check_parity(lambda m, a: getattr(m.nn.functional, f"max_pool{nd}d")(
        a, 3, stride=2, padding=1, return_indices=True), [RNG.standard_normal(shape)])


def test_max_pool_indices_drive_max_unpool_like_segnet():
    """SegNet's decoder: unpool with the encoder's max indices; gradients through both."""
    def fn(m, a):
        pooled, indices = m.nn.functional.max_pool2d(a, 2, return_indices=True)
        return m.nn.functional.max_unpool2d(pooled * 3, indices, 2)
    check_parity(fn, [RNG.standard_normal((2, 3, 8, 8))])


def test_adaptive_max_pool_with_indices_is_one_node():
    check_parity(lambda m, a: m.nn.functional.adaptive_max_pool2d(a, (3, 2), return_indices=True),
                 [RNG.standard_normal((2, 3, 7, 5))])
    x = ember.tensor(RNG.standard_normal((1, 2, 7, 5)), requires_grad=True)
    out, positions = ember.nn.functional.adaptive_max_pool2d(x, 3, return_indices=True)
    assert out.grad_fn is not None and out.grad_fn._num_outputs == 2
    assert not positions.requires_grad


# ------------------------------------------------------------------- custom Functions
def _sincos(lib):
    class SinCos(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, scale):
            ctx.save_for_backward(x)
            ctx.scale = scale
            return lib.sin(x) * scale, lib.cos(x) * scale

        @staticmethod
        def backward(ctx, grad_sin, grad_cos):
            x, = ctx.saved_tensors
            return (grad_sin * lib.cos(x) - grad_cos * lib.sin(x)) * ctx.scale, None
    return SinCos


@pytest.mark.parametrize("use", ["both", "first", "second"])
def test_custom_function_with_two_outputs_matches_torch(use):
    def fn(m, a):
        s, c = _sincos(m).apply(a, 1.5)
        return {"both": s * c + c, "first": s * 2, "second": c.exp()}[use]
    check_parity(fn, [RNG.standard_normal((3, 4))])


def test_custom_function_two_outputs_gradcheck_float64():
    f = _sincos(ember)
    x = ember.tensor(RNG.standard_normal((2, 3)), dtype=ember.float64, requires_grad=True)
    assert gradcheck(lambda a: f.apply(a, 0.7)[0] * f.apply(a, 0.7)[1], [x])


def test_unused_outputs_get_zeros_or_none_as_torch_does():
    seen = {}

    def make(lib, materialize):
        class Split(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.set_materialize_grads(materialize)
                return x * 2, x * 3

            @staticmethod
            def backward(ctx, g1, g2):
                seen[lib.__name__, materialize] = (g1 is None, g2 is None)
                return (g1 if g1 is not None else 0) * 2 + (g2 if g2 is not None else 0) * 3
        return Split

    for lib in (ember, torch):
        for materialize in (True, False):
            x = lib.ones(3, requires_grad=True)
            a, _ = make(lib, materialize).apply(x)
            a.sum().backward()
            assert x.grad.tolist() == [2.0, 2.0, 2.0]
    assert seen[("ember", True)] == seen[("torch", True)] == (False, False)
    assert seen[("ember", False)] == seen[("torch", False)] == (False, True)


def test_mark_non_differentiable_output():
    def make(lib):
        class SortValues(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                values, order = lib.sort(x)
                ctx.mark_non_differentiable(order)
                ctx.save_for_backward(order)
                return values, order

            @staticmethod
            def backward(ctx, grad_values, grad_order):
                order, = ctx.saved_tensors
                grad = lib.zeros_like(grad_values)
                grad[order] = grad_values
                return grad
        return SortValues
    x = RNG.standard_normal(6)
    check_parity(lambda m, a: make(m).apply(a)[0] * m.arange(6.0), [x])
    values, order = make(ember).apply(ember.tensor(x, requires_grad=True))
    assert values.requires_grad and not order.requires_grad


def test_a_lone_non_differentiable_output_has_no_history():
    class Mask(ember.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            out = (x > 0).float()
            ctx.mark_non_differentiable(out)
            return out

    out = Mask.apply(ember.randn(3, requires_grad=True))
    assert not out.requires_grad and out.grad_fn is None


# ------------------------------------------------------------------- engine details
def test_hooks_retain_grad_and_autograd_grad_on_each_output():
    x = ember.tensor(RNG.standard_normal((2, 3)), requires_grad=True)
    s, c = _sincos(ember).apply(x, 1.0)
    s.retain_grad()
    c.register_hook(lambda g: g * 10)
    (s * 2 + c * 3).sum().backward(retain_graph=True)
    np.testing.assert_allclose(s.grad.numpy(), 2.0)
    xn = x.detach().numpy()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.cos(xn) - 30 * np.sin(xn), rtol=1e-5)
    gs, gc = ember.autograd.grad((s * 2 + c * 3).sum(), [s, c])
    np.testing.assert_allclose(gs.numpy(), 2.0)
    np.testing.assert_allclose(gc.numpy(), 30.0)      # as torch: the hook runs before capture


def test_in_place_on_one_output_then_backward():
    def fn(m, a):
        values, _ = m.max(a, dim=1)
        v = values.clone()
        values.mul_(2)                 # the node's output is modified: not saved, so allowed
        return values + v
    check_parity(fn, [RNG.standard_normal((3, 4))])


def test_saved_output_modified_in_place_is_refused():
    from ember.autograd.function import Function

    class TwoSaved(Function):
        saves_output = True

        def forward(self, x):
            self.a, self.b = x * 2, x * 3
            return self.a, self.b

        def backward(self, ga, gb):
            return (0 if ga is None else ga * 2) + (0 if gb is None else gb * 3)

    x = ember.ones(3, requires_grad=True)
    a, b = TwoSaved.apply(x)
    b.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        (a.sum() + b.sum()).backward()
