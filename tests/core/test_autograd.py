"""The autograd engine: accumulation, retain_graph, freed graphs, non-scalar backward, hooks,
autograd.grad, no_grad/enable_grad, leaves and grad_fn, gradcheck itself."""
import numpy as np
import pytest
import torch

import ember
from ember.autograd.gradcheck import GradcheckError


def both(fn):
    """Run ``fn(lib)`` under Ember and torch."""
    return fn(ember), fn(torch)


def test_gradients_accumulate_across_backward_calls():
    def run(m):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        (x * x).sum().backward()
        (3 * x).sum().backward()
        return x.grad.numpy().copy()
    e, t = both(run)
    np.testing.assert_allclose(e, t)


def test_diamond_graph_sums_both_paths():
    # inventory A8, A9
    def run(m):
        x = m.tensor([0.5, -1.5], requires_grad=True)
        a = x.exp()
        y = (a * a.sin() + a / (x * x + 1)).sum()
        y.backward()
        return x.grad.numpy().copy()
    e, t = both(run)
    np.testing.assert_allclose(e, t, rtol=1e-6)


def test_same_tensor_used_twice_in_one_op():
    x = ember.tensor([3.0], requires_grad=True)
    (x * x).backward()
    assert x.grad.item() == 6.0


def test_backward_non_scalar_needs_gradient():
    x = ember.ones(3, requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match=r"backward.*scalar.*\(3,\)"):
        y.backward()
    y.backward(ember.tensor([1.0, 10.0, 100.0]))
    assert x.grad.tolist() == [2.0, 20.0, 200.0]
    with pytest.raises(RuntimeError, match=r"shape"):
        (x * 2).backward(ember.ones(4))


def test_second_backward_through_freed_graph_is_an_error():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.tolist() == [4.0, 8.0]
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_backward_on_tensor_without_grad_is_an_error():
    with pytest.raises(RuntimeError, match="does not require grad"):
        ember.ones(2).sum().backward()


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(RuntimeError, match="floating point"):
        ember.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="int64"):
        ember.arange(3).requires_grad_()
    assert ember.arange(3.0).requires_grad_().requires_grad


def test_leaf_grad_fn_and_requires_grad_propagation():
    x = ember.ones(2, requires_grad=True)
    c = ember.ones(2)
    y = x * c
    assert x.is_leaf and x.grad_fn is None
    assert not y.is_leaf and y.requires_grad and y.grad_fn is not None
    assert "Mul" in y.grad_fn.name()
    z = c * 2
    assert z.is_leaf and not z.requires_grad and z.grad_fn is None
    d = y.detach()
    assert d.is_leaf and not d.requires_grad and np.shares_memory(d.numpy(), y.detach().numpy())
    with pytest.raises(RuntimeError, match="requires_grad"):
        y.requires_grad_(False)
    with pytest.raises(RuntimeError, match="numpy"):
        x.numpy()


def test_non_leaf_grad_is_not_kept_unless_retained():
    x = ember.ones(2, requires_grad=True)
    y = x * 3
    y.retain_grad()
    z = x * 4
    (y * z).sum().backward()
    assert y.grad.tolist() == [4.0, 4.0]
    assert z.grad is None
    assert x.grad.tolist() == [24.0, 24.0]


def test_no_grad_enable_grad_context_and_decorator():
    x = ember.ones(2, requires_grad=True)
    with ember.no_grad():
        assert not ember.is_grad_enabled()
        y = x * 2
        with ember.enable_grad():
            w = x * 2
        assert not ember.is_grad_enabled()
    assert ember.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert w.requires_grad

    @ember.no_grad()
    def f(t):
        return t * 2

    assert not f(x).requires_grad and ember.is_grad_enabled()
    with ember.set_grad_enabled(False):
        assert not (x * 1).requires_grad
    assert ember.is_grad_enabled()
    try:
        with ember.no_grad():
            raise ValueError
    except ValueError:
        pass
    assert ember.is_grad_enabled()


def test_register_hook_on_leaf_and_non_leaf():
    # inventory A9
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    h = x.register_hook(lambda g: g * 10)
    y = x * x
    y.register_hook(lambda g: seen.append(g.tolist()))
    y.sum().backward()
    assert seen == [[1.0, 1.0]]
    assert x.grad.tolist() == [20.0, 40.0]
    h.remove()
    x.grad = None
    (x * x).sum().backward()
    assert x.grad.tolist() == [2.0, 4.0]
    with pytest.raises(RuntimeError, match="register_hook"):
        ember.ones(1).register_hook(lambda g: g)


def test_autograd_grad_returns_without_accumulating():
    def run(m):
        x = m.tensor([1.0, -2.0], requires_grad=True)
        w = m.tensor([0.5, 3.0], requires_grad=True)
        y = (x * w).exp().sum()
        gx, gw = m.autograd.grad(y, [x, w])
        return gx.numpy().copy(), gw.numpy().copy(), x.grad
    (egx, egw, exg), (tgx, tgw, txg) = both(run)
    np.testing.assert_allclose(egx, tgx, rtol=1e-6)
    np.testing.assert_allclose(egw, tgw, rtol=1e-6)
    assert exg is None and txg is None


def test_autograd_grad_unused_inputs_and_grad_outputs():
    x = ember.ones(2, requires_grad=True)
    u = ember.ones(2, requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="allow_unused"):
        ember.autograd.grad(y.sum(), [x, u], retain_graph=True)
    gx, gu = ember.autograd.grad(y, [x, u], grad_outputs=[ember.tensor([1.0, 5.0])],
                                 allow_unused=True)
    assert gx.tolist() == [2.0, 10.0] and gu is None
    (g,) = ember.autograd.grad((x * x).sum(), x)
    assert g.tolist() == [2.0, 2.0]


def test_backward_inputs_argument_limits_accumulation():
    x = ember.ones(2, requires_grad=True)
    w = ember.ones(2, requires_grad=True)
    (x * w * 3).sum().backward(inputs=[x])
    assert x.grad.tolist() == [3.0, 3.0] and w.grad is None


def test_dtype_casts_in_graph_and_gradient_dtype():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = (x.double() * 2).sum()
    y.backward()
    assert x.grad.dtype is ember.float32 and x.grad.tolist() == [2.0, 2.0]


def test_deep_chain_does_not_recurse():
    x = ember.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(3000):
        y = y * 1.0
    y.sum().backward()
    assert x.grad.item() == 1.0


def test_gradcheck_catches_a_wrong_backward():
    from ember.autograd.function import Function

    class BadSquare(Function):
        saved_inputs = (0,)

        def forward(self, x):
            self.x = x
            return x * x

        def backward(self, grad):
            return grad * 3 * self.x  # wrong: should be 2x

    x = ember.tensor([0.3, -0.7], dtype=ember.float64, requires_grad=True)
    with pytest.raises(GradcheckError, match="Jacobian mismatch"):
        ember.autograd.gradcheck(BadSquare.apply, (x,))
    assert ember.autograd.gradcheck(BadSquare.apply, (x,), raise_exception=False) is False
    with pytest.raises(GradcheckError, match="float64"):
        ember.autograd.gradcheck(lambda t: t * 2, (ember.ones(2, requires_grad=True),))
    assert ember.autograd.gradcheck(lambda t: t * t, (x,))


def test_create_graph_is_refused_clearly():
    x = ember.ones(1, requires_grad=True)
    with pytest.raises(RuntimeError, match="create_graph"):
        (x * x).backward(create_graph=True)
