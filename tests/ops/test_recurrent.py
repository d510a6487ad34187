"""The recurrent primitives (ember.ops.recurrent): float64 finite-difference checks of every
layer function (both directions, packed batches, with and without biases, LSTM projections),
the lecture's numbers (BPTT through a linear recurrence multiplies by W^t; a forget gate at 1
carries the cell state and its gradient unchanged), and the argument errors. Module-level
parity with torch is in tests/nn/test_rnn.py."""
import numpy as np
import pytest

import ember
from ember.ops.recurrent import gru_layer, lstm_layer, rnn_layer
from tests.harness import gradcheck64

R = np.random.default_rng(7)


def normal(*shape, scale=1.0):
    return R.standard_normal(shape) * scale


# (T, N) time-major with every step full, or packed batch sizes
LAYOUTS = [("padded", None), ("packed", (3, 3, 2, 1))]


def _input(layout, features):
    name, batch_sizes = layout
    if batch_sizes is None:
        return normal(4, 3, features), None, 3
    return normal(sum(batch_sizes), features), batch_sizes, batch_sizes[0]


@pytest.mark.parametrize("layout", LAYOUTS, ids=[n for n, _ in LAYOUTS])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_layer_gradcheck(layout, reverse, nonlinearity):
    x, batch_sizes, n = _input(layout, 3)
    arrays = [x, normal(n, 4), normal(4, 3, scale=0.5), normal(4, 4, scale=0.5), normal(4),
              normal(4)]
    gradcheck64(lambda *a: rnn_layer(*a, nonlinearity=nonlinearity, batch_sizes=batch_sizes,
                                     reverse=reverse), arrays)


@pytest.mark.parametrize("layout", LAYOUTS, ids=[n for n, _ in LAYOUTS])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("variant", ["bias", "nobias", "proj"])
def test_lstm_layer_gradcheck(layout, reverse, variant):
    hidden, out = 4, (2 if variant == "proj" else 4)
    x, batch_sizes, n = _input(layout, 3)
    arrays = [x, normal(n, out), normal(n, hidden), normal(4 * hidden, 3, scale=0.5),
              normal(4 * hidden, out, scale=0.5)]
    biases = [normal(4 * hidden), normal(4 * hidden)] if variant != "nobias" else [None, None]
    proj = normal(out, hidden, scale=0.5) if variant == "proj" else None

    def fn(x, h, c, w_ih, w_hh, *rest):
        b_ih, b_hh = rest[:2] if variant != "nobias" else (None, None)
        w_hr = rest[-1] if variant == "proj" else None
        return lstm_layer(x, h, c, w_ih, w_hh, b_ih, b_hh, w_hr, batch_sizes=batch_sizes,
                          reverse=reverse)
    extra = [b for b in biases if b is not None] + ([proj] if proj is not None else [])
    gradcheck64(fn, arrays + extra)


@pytest.mark.parametrize("layout", LAYOUTS, ids=[n for n, _ in LAYOUTS])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_gru_layer_gradcheck(layout, reverse, bias):
    x, batch_sizes, n = _input(layout, 3)
    arrays = [x, normal(n, 4), normal(12, 3, scale=0.5), normal(12, 4, scale=0.5)]
    arrays += [normal(12), normal(12)] if bias else []
    gradcheck64(lambda *a: gru_layer(*a, batch_sizes=batch_sizes, reverse=reverse), arrays)


def test_only_some_outputs_and_inputs_need_grad():
    """A gradient reaching only ``h_n`` (not the outputs), and inputs that need none."""
    x = ember.tensor(normal(5, 2, 3))
    h, c = ember.zeros(2, 4, dtype=ember.float64), ember.zeros(2, 4, dtype=ember.float64)
    w_ih = ember.tensor(normal(16, 3), requires_grad=True)
    w_hh = ember.tensor(normal(16, 4))
    _, h_n, _ = lstm_layer(x, h, c, w_ih, w_hh)
    h_n.sum().backward()
    assert w_ih.grad is not None and x.grad is None and w_hh.grad is None
    with ember.no_grad():
        y, *_ = lstm_layer(x, h, c, w_ih, w_hh)
    assert not y.requires_grad


def test_bptt_of_a_linear_recurrence_multiplies_by_w_to_the_t():
    """Lecture 004 "RNNs: Back Propagation" (inventory B40): ∂h_t/∂h_{t-1} = σ'(W h_{t-1} + U
    x_t) W with W shared over t; with the nonlinearity out of the way (relu on positive
    pre-activations) ∂h_T/∂h_0 = W^T, the product that explodes or vanishes."""
    steps, hidden = 6, 3
    w_hh = np.array([[0.9, 0.3, 0.1], [0.2, 0.8, 0.4], [0.5, 0.1, 0.7]])
    x = ember.tensor(np.abs(normal(steps, 1, 2)))
    h0 = ember.tensor(np.abs(normal(1, hidden)) + 0.1, requires_grad=True)
    w_ih = ember.tensor(np.abs(normal(hidden, 2)))
    _, h_n = rnn_layer(x, h0, w_ih, ember.tensor(w_hh), nonlinearity="relu")
    upstream = normal(1, hidden)
    h_n.backward(ember.tensor(upstream))
    # h_T = W^T h_0 + (terms without h_0) in column form, so dL/dh_0 = g W^T (row form)
    expected = upstream @ np.linalg.matrix_power(w_hh, steps)
    np.testing.assert_allclose(h0.grad.numpy(), expected, rtol=1e-12)
    for scale, grows in ((3.0, True), (0.2, False)):          # exploding or vanishing
        h0.grad = None
        _, h_n = rnn_layer(x, h0, w_ih, ember.tensor(w_hh * scale), nonlinearity="relu")
        h_n.backward(ember.tensor(upstream))
        ratio = np.abs(h0.grad.numpy()).sum() / np.abs(upstream).sum()
        assert (ratio > 100) if grows else (ratio < 1e-2)


def test_vanilla_rnn_step_is_the_lecture_formula():
    """Lecture 004 "Vanilla RNN": h_t = tanh(W h_{t-1} + U x_t) (no bias)."""
    W, U = normal(4, 4), normal(4, 3)
    xs, h = normal(5, 1, 3), normal(1, 4)
    y, h_n = rnn_layer(ember.tensor(xs), ember.tensor(h), ember.tensor(U), ember.tensor(W))
    for t in range(5):
        h = np.tanh(h @ W.T + xs[t] @ U.T)
        np.testing.assert_allclose(y.numpy()[t], h, rtol=1e-12)
    np.testing.assert_allclose(h_n.numpy(), h, rtol=1e-12)


def test_lstm_forget_gate_one_is_a_conveyor_belt():
    """Lecture 004 "LSTM" (inventory B41): C_t = f ⊙ C_{t-1} + i ⊙ C̃_t; with f = 1 and i = 0
    ("f_t = 1, like ResNet!") the cell state and its gradient pass through unchanged."""
    hidden = 3
    bias = np.zeros(4 * hidden)
    bias[:hidden] = -60.0                    # input gate i = σ(-60) ≈ 0
    bias[hidden:2 * hidden] = 60.0           # forget gate f = σ(60) = 1 in float64
    c0 = ember.tensor(normal(2, hidden), requires_grad=True)
    x = ember.tensor(normal(7, 2, 2) * 0.1)
    _, _, c_n = lstm_layer(x, ember.zeros(2, hidden, dtype=ember.float64), c0,
                           ember.tensor(normal(4 * hidden, 2) * 0.1),
                           ember.tensor(normal(4 * hidden, hidden) * 0.1),
                           ember.tensor(bias), ember.zeros(4 * hidden, dtype=ember.float64))
    np.testing.assert_allclose(c_n.detach().numpy(), c0.detach().numpy(), rtol=1e-12)
    g = normal(2, hidden)
    c_n.backward(ember.tensor(g))
    np.testing.assert_allclose(c0.grad.numpy(), g, rtol=1e-12)


def test_errors_name_the_function_and_the_shapes():
    x = ember.randn(4, 2, 3)
    h = ember.zeros(2, 5)
    w_ih, w_hh = ember.randn(20, 3), ember.randn(20, 5)
    with pytest.raises(RuntimeError, match=r"lstm_layer: input has 7 features .* weight_ih "
                                           r"expects 3"):
        lstm_layer(ember.randn(4, 2, 7), h, h, w_ih, w_hh)
    with pytest.raises(RuntimeError, match=r"lstm_layer: expected hx of shape \(2, 5\), got "
                                           r"\(3, 5\)"):
        lstm_layer(x, ember.zeros(3, 5), h, w_ih, w_hh)
    with pytest.raises(RuntimeError, match=r"gru_layer: expected weight_hh of shape \(15, 5\)"):
        gru_layer(x, h, ember.randn(15, 3), ember.randn(15, 4))
    with pytest.raises(RuntimeError, match="non-increasing"):
        rnn_layer(ember.randn(5, 3), ember.zeros(2, 4), ember.randn(4, 3), ember.randn(4, 4),
                  batch_sizes=(2, 3))
    with pytest.raises(RuntimeError, match=r"time-major input \(T, N, input_size\)"):
        rnn_layer(ember.randn(5, 3), ember.zeros(2, 4), ember.randn(4, 3), ember.randn(4, 4))
    with pytest.raises(RuntimeError, match="dtype"):
        rnn_layer(x.double(), ember.zeros(2, 4), ember.randn(4, 3), ember.randn(4, 4))
    with pytest.raises(ValueError, match="Unknown nonlinearity 'sigmoid'"):
        rnn_layer(x, ember.zeros(2, 4), ember.randn(4, 3), ember.randn(4, 4),
                  nonlinearity="sigmoid")
