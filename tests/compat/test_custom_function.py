"""PyTorch's "Defining new autograd functions" tutorial: a user-written
``torch.autograd.Function`` (``forward(ctx, ...)`` / ``backward(ctx, ...)`` static methods,
``ctx.save_for_backward``) fitting ``sin(x)`` with a Legendre polynomial, plus the ReLU of the
same tutorial series, run verbatim under torch and under Ember."""
import numpy as np
import pytest

import ember
from tests.compat.script import run_script
from tests.harness import gradcheck64

LEGENDRE = '''
import math
import torch


class LegendrePolynomial3(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return 0.5 * (5 * input ** 3 - 3 * input)

    @staticmethod
    def backward(ctx, grad_output):
        input, = ctx.saved_tensors
        return grad_output * 1.5 * (5 * input ** 2 - 1)


dtype = torch.float
x = torch.linspace(-math.pi, math.pi, 2000, dtype=dtype)
y = torch.sin(x)
a = torch.full((), 0.0, dtype=dtype, requires_grad=True)
b = torch.full((), -1.0, dtype=dtype, requires_grad=True)
c = torch.full((), 0.0, dtype=dtype, requires_grad=True)
d = torch.full((), 0.3, dtype=dtype, requires_grad=True)

learning_rate = 5e-6
losses = []
for t in range(300):
    P3 = LegendrePolynomial3.apply
    y_pred = a + b * P3(c + d * x)
    loss = (y_pred - y).pow(2).sum()
    losses.append(loss.item())
    loss.backward()
    with torch.no_grad():
        a -= learning_rate * a.grad
        b -= learning_rate * b.grad
        c -= learning_rate * c.grad
        d -= learning_rate * d.grad
        a.grad = None
        b.grad = None
        c.grad = None
        d.grad = None
result = [a.item(), b.item(), c.item(), d.item()]
'''

RELU_AND_CTX = '''
import torch


class MyReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return input.clamp(min=0)

    @staticmethod
    def backward(ctx, grad_output):
        input, = ctx.saved_tensors
        grad_input = grad_output.clone()
        grad_input[input < 0] = 0
        return grad_input


class ScaledMul(torch.autograd.Function):
    """Two tensors and a Python constant; records which inputs need a gradient."""
    @staticmethod
    def forward(ctx, u, v, scale):
        ctx.save_for_backward(u, v)
        ctx.scale = scale
        seen.append(ctx.needs_input_grad)
        return u * v * scale

    @staticmethod
    def backward(ctx, grad):
        u, v = ctx.saved_tensors
        gu = grad * v * ctx.scale if ctx.needs_input_grad[0] else None
        gv = grad * u * ctx.scale if ctx.needs_input_grad[1] else None
        return gu, gv, None


class Square(torch.autograd.Function):
    """torch 2 style: forward without ctx, setup_context fills it."""
    @staticmethod
    def forward(x):
        return x * x

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, = inputs
        ctx.save_for_backward(x)

    @staticmethod
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return 2 * x * grad


seen = []
x = torch.from_numpy(x_np).requires_grad_()
w = torch.from_numpy(w_np).requires_grad_()
out = MyReLU.apply(x)
out2 = ScaledMul.apply(out, w, 3.0)
out3 = Square.apply(out2).sum()
out3.backward()
grads = (x.grad.numpy().copy(), w.grad.numpy().copy())
flags = (out.requires_grad, out.is_leaf, out2.requires_grad)
with torch.no_grad():
    no_grad_out = MyReLU.apply(x)
no_grad_flags = (no_grad_out.requires_grad, no_grad_out.grad_fn is None)
u = torch.from_numpy(w_np)
ScaledMul.apply(u, w, 2.0).sum().backward()
'''


def test_legendre_tutorial_matches_torch():
    ref = run_script(LEGENDRE, "torch")
    out = run_script(LEGENDRE, "ember")
    np.testing.assert_allclose(out["losses"], ref["losses"], rtol=2e-4)
    assert out["losses"][-1] < out["losses"][0] / 2
    np.testing.assert_allclose(out["result"], ref["result"], rtol=1e-4, atol=1e-6)


def test_relu_ctx_and_setup_context_match_torch():
    rng = np.random.default_rng(7)
    inputs = dict(x_np=rng.standard_normal((3, 4)).astype(np.float32),
                  w_np=rng.standard_normal((3, 4)).astype(np.float32))
    ref = run_script(RELU_AND_CTX, "torch", **inputs)
    out = run_script(RELU_AND_CTX, "ember", **inputs)
    for a, b in zip(out["grads"], ref["grads"]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert out["flags"] == ref["flags"] == (True, False, True)
    assert out["no_grad_flags"] == ref["no_grad_flags"] == (False, True)
    assert out["seen"] == ref["seen"] == [(True, True, False), (False, True, False)]
    assert type(out["out"].grad_fn).__name__ == type(ref["out"].grad_fn).__name__ == \
        "MyReLUBackward"


class _Cube(ember.autograd.Function):
    @staticmethod
    def forward(ctx, x, k):
        ctx.save_for_backward(x)
        ctx.k = k
        return k * x ** 3

    @staticmethod
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return 3 * ctx.k * x ** 2 * grad, None


def test_custom_function_gradcheck_float64():
    gradcheck64(lambda x: _Cube.apply(x, 0.5), [np.random.default_rng(0).standard_normal((3, 2))])


def test_custom_function_mistakes_are_reported():
    class WrongCount(ember.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            return x + y

        @staticmethod
        def backward(ctx, grad):
            return grad

    a = ember.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"WrongCountBackward: .*incorrect number of "
                                           r"gradients \(expected 2, got 1\)"):
        WrongCount.apply(a, a * 2).sum().backward()

    x = ember.ones(2, requires_grad=True)
    y = x * 1
    z = _Cube.apply(y, 2.0)
    y.add_(1)                      # the saved input changes before backward: refused
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()

    class NotATensor(ember.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return [x, x]

    with pytest.raises(TypeError, match="NotATensor.forward: expected a Tensor or a tuple"):
        NotATensor.apply(x)


def test_identity_forward_returns_a_new_tensor():
    class Ident(ember.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, grad):
            return grad * 2

    x = ember.ones(3, requires_grad=True)
    y = Ident.apply(x)
    y.sum().backward()
    assert x.grad.tolist() == [2.0, 2.0, 2.0]
    assert not np.may_share_memory(y.detach().numpy(), x.detach().numpy())
