"""Recurrent layers as single primitives: one :class:`Function` per layer and direction runs
the whole sequence forward, keeps what the backward pass needs (the gates, the states), and
its backward is backpropagation through time over the whole sequence — not one graph node per
gate per step.

Lecture 004 "RNNs" (``004_25213424c1456006.txt`` L742–755, inventory B40): a recurrence
``h_t = f(h_{t-1}, x_t)`` with the same ``f`` at every ``t``; the vanilla RNN
``h_t = tanh(W h_{t-1} + U x_t)``. Its "Back Propagation" (L770–773):
``∂h_t/∂h_{t-1} = σ'(W h_{t-1} + U x_t) W`` with one ``W`` shared by all ``t`` — the backward
here walks the steps in reverse, multiplying the gradient of ``h_t`` by that Jacobian, and adds
up the weight gradients of all steps. The LSTM (L800–819, inventory B41) and the GRU
(lecture 003 names it, L6559) are the same driver with other gate arithmetic.

How the work is laid out (the speed comes from few, large matrix products):

- the input projection ``x_t W_ih^T + b`` of *all* steps is one GEMM before the loop;
- each step adds ``h_{t-1} W_hh^T`` (one GEMM per step) and applies the gate nonlinearities
  to the whole ``(batch, gates·H)`` block at once: every sigmoid is written as
  ``σ(a) = (1 + tanh(a/2)) / 2`` with the ``1/2`` folded into scaled copies of the weights,
  so one ``tanh`` covers all gates of a step;
- the backward keeps the per-step gradients of the pre-activations ``dG`` of all steps and
  turns them into ``dx = dG W_ih``, ``dW_ih = dG^T x``, ``dW_hh = dG^T h_prev`` and
  ``db = Σ dG`` with one GEMM each after the loop; only ``dh_{t-1} = dG_t W_hh`` is per step;
- with the compiled kernels the gate arithmetic between two products takes one to three
  passes per step (``ember.kernels.recurrent``, bit for bit). Training steps of 2x256
  layers, 32 steps, batch 64, on two threads: LSTM 113 -> 101 ms, GRU 83 -> 66 ms. The
  per-step products stay on one BLAS thread: they are too small to hand to Ember's workers
  (a hand-off costs about what the second thread saves), and giving the BLAS two threads
  for the layer (its threads spin between calls) made the LSTM step 101 -> 85 ms but the
  GRU's 66 -> 70 ms and a CNN + LSTM captioning-style step 36 -> 42–46 ms (OpenBLAS's
  threads, still spinning after the layer, take the core Ember's workers want).

Sequences are in the *packed* layout of :class:`ember.nn.utils.rnn.PackedSequence`: the rows
of step ``t`` are ``batch_sizes[t]`` consecutive rows of a 2-D array ``(Σ batch_sizes, I)``,
the first ``batch_sizes[t]`` sequences of a batch sorted by decreasing length. A padded
time-major input ``(T, N, I)`` is the special case where every step has ``N`` rows. A
sequence that has ended (or, in reverse direction, not yet started) keeps its state
untouched, so ``h_n`` holds each sequence's state after its own last step.
"""
import numpy as np

from ember import _parallel
from ember.autograd.function import Function
from ember.kernels import compiled
from ember.ops._ones import sum_rows
from ember.ops._checks import same_float_dtype, tensor_argument

__all__ = ["rnn_layer", "lstm_layer", "gru_layer"]


def _steps(batch_sizes, reverse):
    """``[(start, stop, rows)]`` of each step's rows, in the order the recurrence visits them."""
    steps, start = [], 0
    for rows in batch_sizes:
        steps.append((start, start + rows, rows))
        start += rows
    return steps[::-1] if reverse else steps


def _sigmoid_from_tanh(block):
    """In place: ``block`` holds ``tanh(a/2)``; turn it into ``σ(a) = (1 + tanh(a/2)) / 2``."""
    block *= 0.5
    block += 0.5


def _sigmoid_grad_(grad, s):
    """In place: ``grad *= σ'(a) = s (1 - s)`` for ``s = σ(a)``."""
    grad *= s
    grad -= grad * s


def _tanh_grad_(grad, t):
    """In place: ``grad *= tanh'(a) = 1 - t²`` for ``t = tanh(a)``."""
    grad -= grad * t * t


def _input_projection(x, w_ih, bias):
    """``x W_ih^T + bias`` for the rows of all steps at once: ``(rows, I) -> (rows, G)``."""
    out = _parallel.matmul(x, w_ih.T)
    if bias is not None:
        out += bias
    return out


def _weight_grads(need, dgates_x, x, w_ih, dgates_h, h_prev, first):
    """The gradients of all steps at once, one GEMM each: ``dx = dG_x W_ih``,
    ``dW_ih = dG_x^T x``, ``dW_hh = dG_h^T h_prev`` (``dG_x``, ``dG_h``: the pre-activation
    gradients of the input and recurrent products, the same array except in the GRU).
    ``need`` is the layer's ``needs_input_grad``, ``first`` the index of ``w_ih`` in it."""
    dx = _parallel.matmul(dgates_x, w_ih) if need[0] else None
    dw_ih = _parallel.matmul(dgates_x.T, x) if need[first] else None
    dw_hh = _parallel.matmul(dgates_h.T, h_prev) if need[first + 1] else None
    return dx, dw_ih, dw_hh


def _cell_kernels(dtype):
    """The compiled gate arithmetic of the LSTM and GRU steps (``ember.kernels.recurrent``,
    equal to the NumPy code bit for bit) for float32 and float64, else None."""
    if dtype != np.float32 and dtype != np.float64:
        return None
    kernels = compiled()
    return None if kernels is None else kernels.recurrent


def _state_grad(grad, shape, dtype):
    """The gradient reaching a final state (zeros when none did), as a writable copy."""
    return np.zeros(shape, dtype) if grad is None else np.array(grad, dtype=dtype, copy=True)


class RNNLayer(Function):
    """Elman RNN over a sequence (lecture 004 "Vanilla RNN", L753–755, inventory B40)::

        h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh),   act = tanh or relu

    and its backpropagation through time (L770–773)::

        dG_t = (dy_t + dh_t) ⊙ act'(h_t),     dh_{t-1} = dG_t W_hh

    Inputs ``x (rows, I)``, ``h0 (N, H)``, ``w_ih (H, I)``, ``w_hh (H, H)``, optionally
    ``b_ih, b_hh (H,)``; outputs ``y (rows, H)`` (every step's ``h_t``) and ``h_n (N, H)``.
    """
    saved_inputs = (0, 2, 3)
    saves_output = True             # the backward reads act'(h_t) off the output y

    def forward(self, x, h0, w_ih, w_hh, *biases, batch_sizes, reverse, nonlinearity):
        bias = biases[0] + biases[1] if biases else None
        pre = _input_projection(x, w_ih, bias)
        w_hh_t = np.ascontiguousarray(w_hh.T)
        h = np.array(h0, copy=True)
        keep = any(self.needs_input_grad)
        h_prev = np.empty((x.shape[0], h.shape[1]), x.dtype) if keep else None
        steps = _steps(batch_sizes, reverse)
        for start, stop, rows in steps:
            a = pre[start:stop]
            if keep:
                h_prev[start:stop] = h[:rows]
            a += _parallel.matmul(h[:rows], w_hh_t)
            if nonlinearity == "tanh":
                np.tanh(a, out=a)
            else:
                np.maximum(a, 0, out=a)
            h[:rows] = a
        if keep:
            self.x, self.w_ih, self.w_hh, self.y, self.h_prev = x, w_ih, w_hh, pre, h_prev
            self.steps, self.relu = steps, nonlinearity == "relu"
        return pre, h

    def backward(self, grad_y, grad_h):
        y = self.y
        dh = _state_grad(grad_h, self._output_meta[1][0], y.dtype)
        dgates = np.empty_like(y)
        for start, stop, rows in reversed(self.steps):
            d = dgates[start:stop]
            d[...] = dh[:rows]
            if grad_y is not None:
                d += grad_y[start:stop]
            if self.relu:
                d *= y[start:stop] > 0
            else:
                _tanh_grad_(d, y[start:stop])
            dh[:rows] = _parallel.matmul(d, self.w_hh)
        need = self.needs_input_grad
        dx, dw_ih, dw_hh = _weight_grads(need, dgates, self.x, self.w_ih, dgates, self.h_prev,
                                         2)
        grads = [dx, dh, dw_ih, dw_hh]
        if len(need) == 6:
            db = sum_rows(dgates)
            grads += [db, db]
        return tuple(grads)


class LSTMLayer(Function):
    """LSTM over a sequence (lecture 004 "LSTM", L800–819, inventory B41; torch's gate order
    ``i, f, g, o`` in the rows of the weights)::

        [i; f; g; o] = [σ; σ; tanh; σ](x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)
        c_t = f ⊙ c_{t-1} + i ⊙ g              (the "conveyor belt"; f = 1 passes c on, "like ResNet")
        h_t = o ⊙ tanh(c_t)                     (times W_hr^T when projected: h_t ∈ R^P)

    (the lecture writes the candidate ``C̃_t`` for ``g`` and no biases). Backpropagation
    through time, per step in reverse, with ``dh`` the gradient reaching ``h_t`` (from
    ``y_t`` and from step ``t+1``) and ``dm = dh`` (``dh W_hr`` when projected)::

        do = dm ⊙ tanh(c_t)
        dc = dc_{t+1} + dm ⊙ o ⊙ (1 - tanh²(c_t))
        di = dc ⊙ g,   df = dc ⊙ c_{t-1},   dg = dc ⊙ i,   dc_{t-1} = dc ⊙ f
        dG_t = [di σ'; df σ'; dg tanh'; do σ'],   dh_{t-1} = dG_t W_hh

    Inputs ``x (rows, I)``, ``h0 (N, P)``, ``c0 (N, H)``, ``w_ih (4H, I)``, ``w_hh (4H, P)``,
    optionally ``b_ih, b_hh (4H,)`` and ``w_hr (P, H)`` (``P = H`` without projection);
    outputs ``y (rows, P)``, ``h_n (N, P)``, ``c_n (N, H)``.
    """
    saved_inputs = (0, 3, 4)

    def forward(self, x, h0, c0, w_ih, w_hh, *rest, batch_sizes, reverse, bias, proj):
        hidden = w_ih.shape[0] // 4
        w_hr = rest[-1] if proj else None
        # σ(a) = (1 + tanh(a/2)) / 2: the i, f, o rows are halved so that one tanh covers a step
        half = np.ones(4 * hidden, x.dtype)
        half[:2 * hidden] = half[3 * hidden:] = 0.5
        pre = _input_projection(x, w_ih * half[:, None], (rest[0] + rest[1]) * half if bias else None)
        w_hh_t = np.ascontiguousarray((w_hh * half[:, None]).T)
        w_hr_t = w_hr.T if proj else None
        h, c = np.array(h0, copy=True), np.array(c0, copy=True)
        total = x.shape[0]
        y = np.empty((total, h.shape[1]), x.dtype)
        keep = any(self.needs_input_grad)
        if keep:
            h_prev = np.empty_like(y)
            c_prev = np.empty((total, hidden), x.dtype)
            tanh_c = np.empty((total, hidden), x.dtype)
            m_all = np.empty((total, hidden), x.dtype) if proj else None
        i_f, g_, o_ = slice(0, 2 * hidden), slice(2 * hidden, 3 * hidden), slice(3 * hidden, None)
        steps = _steps(batch_sizes, reverse)
        cell = _cell_kernels(x.dtype)
        for start, stop, rows in steps:
            gates = pre[start:stop]
            hp, cp = h[:rows], c[:rows]
            gates += _parallel.matmul(hp, w_hh_t)
            np.tanh(gates, out=gates)
            if cell is not None:        # the rest of the gate arithmetic in one pass
                cell.lstm_cell_forward(gates, cp, c_prev[start:stop] if keep else cp, hp,
                                       h_prev[start:stop] if keep else hp, keep)
            else:
                if keep:
                    h_prev[start:stop] = hp
                    c_prev[start:stop] = cp
                _sigmoid_from_tanh(gates[:, i_f])
                _sigmoid_from_tanh(gates[:, o_])
                cp *= gates[:, hidden:2 * hidden]                   # f ⊙ c_{t-1}
                cp += gates[:, :hidden] * gates[:, g_]              # + i ⊙ g
            tc = tanh_c[start:stop] if keep else np.empty_like(cp)
            np.tanh(cp, out=tc)
            if proj:
                m = m_all[start:stop] if keep else np.empty_like(cp)
                np.multiply(gates[:, o_], tc, out=m)
                y[start:stop] = m @ w_hr_t
            else:
                np.multiply(gates[:, o_], tc, out=y[start:stop])
            h[:rows] = y[start:stop]
        if keep:
            self.x, self.w_ih, self.w_hh, self.w_hr = x, w_ih, w_hh, w_hr
            self.gates, self.h_prev, self.c_prev, self.tanh_c, self.m = (pre, h_prev, c_prev,
                                                                          tanh_c, m_all)
            self.steps, self.hidden = steps, hidden
        return y, h, c

    def backward(self, grad_y, grad_h, grad_c):
        gates, tanh_c, c_prev, hidden = self.gates, self.tanh_c, self.c_prev, self.hidden
        dh = _state_grad(grad_h, self._output_meta[1][0], gates.dtype)
        dc = _state_grad(grad_c, self._output_meta[2][0], gates.dtype)
        proj = self.w_hr is not None
        dh_all = np.empty((gates.shape[0], dh.shape[1]), gates.dtype) if proj else None
        dgates = np.empty_like(gates)
        i_, f_, g_, o_ = (slice(k * hidden, (k + 1) * hidden) for k in range(4))
        cell = _cell_kernels(gates.dtype)
        for start, stop, rows in reversed(self.steps):
            a, d = gates[start:stop], dgates[start:stop]
            dht = dh[:rows] if grad_y is None else dh[:rows] + grad_y[start:stop]
            if proj:
                dh_all[start:stop] = dht
                dm = dht @ self.w_hr
            else:
                dm = dht
            tc = tanh_c[start:stop]
            if cell is not None:        # the elementwise part of the step in one pass
                cell.lstm_cell_backward(dm, tc, a, c_prev[start:stop], dc[:rows], d)
                dh[:rows] = _parallel.matmul(d, self.w_hh)
                continue
            np.multiply(dm, tc, out=d[:, o_])                         # do
            dct = dm * a[:, o_]
            _tanh_grad_(dct, tc)
            dct += dc[:rows]                                          # dc_t
            np.multiply(dct, a[:, g_], out=d[:, i_])                  # di
            np.multiply(dct, c_prev[start:stop], out=d[:, f_])       # df
            np.multiply(dct, a[:, i_], out=d[:, g_])                  # dg
            np.multiply(dct, a[:, f_], out=dc[:rows])                 # dc_{t-1}
            _sigmoid_grad_(d[:, :2 * hidden], a[:, :2 * hidden])
            _sigmoid_grad_(d[:, o_], a[:, o_])
            _tanh_grad_(d[:, g_], a[:, g_])
            dh[:rows] = _parallel.matmul(d, self.w_hh)
        need = self.needs_input_grad
        dx, dw_ih, dw_hh = _weight_grads(need, dgates, self.x, self.w_ih, dgates, self.h_prev,
                                         3)
        grads = [dx, dh, dc, dw_ih, dw_hh]
        if len(need) - proj == 7:
            db = sum_rows(dgates)
            grads += [db, db]
        if proj:
            grads.append(_parallel.matmul(dh_all.T, self.m) if need[-1] else None)
        return tuple(grads)


class GRULayer(Function):
    """GRU over a sequence (torch's equations and gate order ``r, z, n``)::

        r = σ(x W_ir^T + b_ir + h_{t-1} W_hr^T + b_hr)
        z = σ(x W_iz^T + b_iz + h_{t-1} W_hz^T + b_hz)
        n = tanh(x W_in^T + b_in + r ⊙ (h_{t-1} W_hn^T + b_hn))
        h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}

    Backpropagation through time, per step in reverse (``dh`` reaches ``h_t``, ``a_n = h_{t-1}
    W_hn^T + b_hn``)::

        dn = dh ⊙ (1 - z) ⊙ tanh',   dz = dh ⊙ (h_{t-1} - n) ⊙ σ',   dr = dn ⊙ a_n ⊙ σ'
        dG_x = [dr, dz, dn],   dG_h = [dr, dz, dn ⊙ r]
        dh_{t-1} = dh ⊙ z + dG_h W_hh

    Inputs ``x (rows, I)``, ``h0 (N, H)``, ``w_ih (3H, I)``, ``w_hh (3H, H)``, optionally
    ``b_ih, b_hh (3H,)``; outputs ``y (rows, H)``, ``h_n (N, H)``.
    """
    saved_inputs = (0, 2, 3)

    def forward(self, x, h0, w_ih, w_hh, *biases, batch_sizes, reverse):
        hidden = w_ih.shape[0] // 3
        rz = slice(0, 2 * hidden)
        half = np.ones(3 * hidden, x.dtype)
        half[rz] = 0.5
        bias = None
        if biases:
            bias = biases[0] * half
            bias[rz] += biases[1][rz] * 0.5
            b_hn = biases[1][2 * hidden:]
        pre = _input_projection(x, w_ih * half[:, None], bias)
        w_hh_t = np.ascontiguousarray((w_hh * half[:, None]).T)
        h = np.array(h0, copy=True)
        keep = any(self.needs_input_grad)
        total = x.shape[0]
        y = np.empty((total, hidden), x.dtype)
        if keep:
            h_prev = np.empty_like(y)
            a_n_all = np.empty_like(y)
        steps = _steps(batch_sizes, reverse)
        cell = _cell_kernels(x.dtype)
        no_bias = np.empty(0, x.dtype)
        for start, stop, rows in steps:
            gates, hp = pre[start:stop], h[:rows]
            if cell is not None:        # the gate arithmetic between the tanh passes
                gh = _parallel.matmul(hp, w_hh_t)
                cell.gru_gates_sum(gates, gh, b_hn if biases else no_bias, bool(biases))
                np.tanh(gates[:, rz], out=gates[:, rz])
                cell.gru_candidate(gates, gh)
                np.tanh(gates[:, rz.stop:], out=gates[:, rz.stop:])
                cell.gru_state(gates, gh, hp, y[start:stop], h_prev[start:stop] if keep else hp,
                               a_n_all[start:stop] if keep else hp, keep)
                continue
            if keep:
                h_prev[start:stop] = hp
            gh = _parallel.matmul(hp, w_hh_t)
            a_n = gh[:, 2 * hidden:]
            if biases:
                a_n += b_hn
            gates[:, rz] += gh[:, rz]
            np.tanh(gates[:, rz], out=gates[:, rz])
            _sigmoid_from_tanh(gates[:, rz])
            r, z, n = gates[:, :hidden], gates[:, hidden:rz.stop], gates[:, rz.stop:]
            n += r * a_n
            np.tanh(n, out=n)
            out = y[start:stop]
            np.subtract(hp, n, out=out)
            out *= z
            out += n                                                  # n + z (h - n)
            h[:rows] = out
            if keep:
                a_n_all[start:stop] = a_n
        if keep:
            self.x, self.w_ih, self.w_hh = x, w_ih, w_hh
            self.gates, self.h_prev, self.a_n = pre, h_prev, a_n_all
            self.steps, self.hidden = steps, hidden
        return y, h

    def backward(self, grad_y, grad_h):
        gates, h_prev, hidden = self.gates, self.h_prev, self.hidden
        dh = _state_grad(grad_h, self._output_meta[1][0], gates.dtype)
        dgh = np.empty_like(gates)                                    # [dr, dz, dn ⊙ r]
        dxn = np.empty((gates.shape[0], hidden), gates.dtype)        # dn
        r_, z_, n_ = (slice(k * hidden, (k + 1) * hidden) for k in range(3))
        cell = _cell_kernels(gates.dtype)
        for start, stop, rows in reversed(self.steps):
            a, d, dn = gates[start:stop], dgh[start:stop], dxn[start:stop]
            r, z, n = a[:, r_], a[:, z_], a[:, n_]
            dht = dh[:rows] if grad_y is None else dh[:rows] + grad_y[start:stop]
            hp = h_prev[start:stop]
            if cell is not None:        # the elementwise parts of the step in two passes
                cell.gru_step_backward(dht, a, hp, self.a_n[start:stop], d, dn)
                cell.gru_state_backward(_parallel.matmul(d, self.w_hh), dht, a, dh[:rows])
                continue
            np.subtract(hp, n, out=d[:, z_])
            d[:, z_] *= dht
            _sigmoid_grad_(d[:, z_], z)                               # dz
            np.subtract(dht, dht * z, out=dn)
            _tanh_grad_(dn, n)                                        # dn
            np.multiply(dn, self.a_n[start:stop], out=d[:, r_])
            _sigmoid_grad_(d[:, r_], r)                               # dr
            np.multiply(dn, r, out=d[:, n_])                          # dn ⊙ r
            dh_prev = _parallel.matmul(d, self.w_hh)
            dh_prev += dht * z
            dh[:rows] = dh_prev
        need = self.needs_input_grad
        dgx = dgh.copy()
        dgx[:, n_] = dxn
        dx, dw_ih, dw_hh = _weight_grads(need, dgx, self.x, self.w_ih, dgh, h_prev, 2)
        grads = [dx, dh, dw_ih, dw_hh]
        if len(need) == 6:
            grads += [sum_rows(dgx), sum_rows(dgh)]
        return tuple(grads)


# ------------------------------------------------------------------------------------------
# The functions the layers of ember.nn call
# ------------------------------------------------------------------------------------------
def _layer_args(name, input, states, weight_ih, weight_hh, biases, batch_sizes, gates,
                state_sizes, weight_hr=None):
    """Check one layer's arguments and return ``(rows array input, steps, time-major shape)``.

    ``input`` is ``(T, N, I)`` (``batch_sizes`` None) or packed ``(rows, I)``; each state in
    ``states`` must be ``(N, size)`` for the matching entry of ``state_sizes``."""
    tensor_argument(input, name, "input")
    for arg, t in (("weight_ih", weight_ih), ("weight_hh", weight_hh)) + tuple(states.items()):
        tensor_argument(t, name, arg)
    same_float_dtype(name, input=input, weight_ih=weight_ih, weight_hh=weight_hh, **states,
                     **{k: v for k, v in biases.items() if v is not None}, weight_hr=weight_hr)
    hidden = weight_ih.shape[0] // gates
    if weight_ih.ndim != 2 or weight_ih.shape[0] != gates * hidden or hidden == 0:
        raise RuntimeError(f"{name}: weight_ih must be ({gates}·hidden, input_size), got shape "
                           f"{tuple(weight_ih.shape)}")
    shape = tuple(input.shape)
    if batch_sizes is None:
        if input.ndim != 3:
            raise RuntimeError(f"{name}: expected a time-major input (T, N, input_size), got "
                               f"shape {shape}")
        steps, batch = shape[0], shape[1]
        batch_sizes = (batch,) * steps
        rows = input.reshape(steps * batch, shape[2])
    else:
        batch_sizes = tuple(int(b) for b in batch_sizes)
        if input.ndim != 2 or sum(batch_sizes) != shape[0]:
            raise RuntimeError(f"{name}: packed input must be (sum(batch_sizes) = "
                               f"{sum(batch_sizes)}, input_size), got shape {shape}")
        if any(b < 1 for b in batch_sizes) or any(
                later > earlier for earlier, later in zip(batch_sizes, batch_sizes[1:])):
            raise RuntimeError(f"{name}: batch_sizes must be positive and non-increasing, got "
                               f"{list(batch_sizes)}")
        batch = batch_sizes[0] if batch_sizes else 0
        rows = input
    if input.shape[-1] != weight_ih.shape[1]:
        raise RuntimeError(f"{name}: input has {input.shape[-1]} features (shape {shape}) but "
                           f"weight_ih expects {weight_ih.shape[1]}")
    for (arg, state), size in zip(states.items(), state_sizes):
        if tuple(state.shape) != (batch, size):
            raise RuntimeError(f"{name}: expected {arg} of shape {(batch, size)}, got "
                               f"{tuple(state.shape)}")
    for arg, b in biases.items():
        if b is not None and tuple(b.shape) != (gates * hidden,):
            raise RuntimeError(f"{name}: expected {arg} of shape {(gates * hidden,)}, got "
                               f"{tuple(b.shape)}")
    if (biases["bias_ih"] is None) != (biases["bias_hh"] is None):
        raise RuntimeError(f"{name}: give both bias_ih and bias_hh or neither")
    return rows, batch_sizes, (shape[0], shape[1]) if input.ndim == 3 else None


def _time_major(output, shape):
    return output if shape is None else output.reshape(*shape, output.shape[-1])


def rnn_layer(input, hx, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh",
              batch_sizes=None, reverse=False):
    """One layer and direction of an Elman RNN (:class:`RNNLayer`).

    ``input (T, N, I)`` time-major, or packed ``(Σ batch_sizes, I)`` with ``batch_sizes``;
    ``hx (N, H)``; ``weight_ih (H, I)``, ``weight_hh (H, H)``, ``bias_ih``/``bias_hh (H,)``.
    ``reverse`` runs from the last step to the first. Returns ``(output, h_n)``: ``output``
    shaped like ``input`` with ``H`` features, ``h_n (N, H)``.
    """
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"rnn_layer: Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' "
                         f"or 'relu'.")
    hidden = weight_hh.shape[-1]
    rows, batch_sizes, shape = _layer_args(
        "rnn_layer", input, {"hx": hx}, weight_ih, weight_hh,
        {"bias_ih": bias_ih, "bias_hh": bias_hh}, batch_sizes, 1, (hidden,))
    _check_recurrent_weight("rnn_layer", weight_hh, hidden, hidden)
    biases = (bias_ih, bias_hh) if bias_ih is not None else ()
    y, h = RNNLayer.apply(rows, hx, weight_ih, weight_hh, *biases, batch_sizes=batch_sizes,
                          reverse=bool(reverse), nonlinearity=nonlinearity)
    return _time_major(y, shape), h


def lstm_layer(input, hx, cx, weight_ih, weight_hh, bias_ih=None, bias_hh=None, weight_hr=None,
               batch_sizes=None, reverse=False):
    """One layer and direction of an LSTM (:class:`LSTMLayer`).

    ``input (T, N, I)`` time-major, or packed ``(Σ batch_sizes, I)`` with ``batch_sizes``;
    ``hx (N, P)``, ``cx (N, H)``; ``weight_ih (4H, I)``, ``weight_hh (4H, P)``,
    ``bias_ih``/``bias_hh (4H,)``, ``weight_hr (P, H)`` for a projected LSTM (``P = H``
    without). Returns ``(output, h_n, c_n)``.
    """
    hidden = weight_ih.shape[0] // 4
    if weight_hr is not None:
        tensor_argument(weight_hr, "lstm_layer", "weight_hr")
        if weight_hr.ndim != 2 or weight_hr.shape[1] != hidden or weight_hr.shape[0] >= hidden:
            raise RuntimeError(f"lstm_layer: expected weight_hr of shape (proj_size < {hidden}, "
                               f"{hidden}), got {tuple(weight_hr.shape)}")
    out_size = hidden if weight_hr is None else weight_hr.shape[0]
    rows, batch_sizes, shape = _layer_args(
        "lstm_layer", input, {"hx": hx, "cx": cx}, weight_ih, weight_hh,
        {"bias_ih": bias_ih, "bias_hh": bias_hh}, batch_sizes, 4, (out_size, hidden),
        weight_hr=weight_hr)
    _check_recurrent_weight("lstm_layer", weight_hh, 4 * hidden, out_size)
    extra = ((bias_ih, bias_hh) if bias_ih is not None else ()) + \
        ((weight_hr,) if weight_hr is not None else ())
    y, h, c = LSTMLayer.apply(rows, hx, cx, weight_ih, weight_hh, *extra,
                              batch_sizes=batch_sizes, reverse=bool(reverse),
                              bias=bias_ih is not None, proj=weight_hr is not None)
    return _time_major(y, shape), h, c


def gru_layer(input, hx, weight_ih, weight_hh, bias_ih=None, bias_hh=None, batch_sizes=None,
              reverse=False):
    """One layer and direction of a GRU (:class:`GRULayer`).

    ``input (T, N, I)`` time-major, or packed ``(Σ batch_sizes, I)`` with ``batch_sizes``;
    ``hx (N, H)``; ``weight_ih (3H, I)``, ``weight_hh (3H, H)``, ``bias_ih``/``bias_hh (3H,)``.
    Returns ``(output, h_n)``.
    """
    hidden = weight_ih.shape[0] // 3
    rows, batch_sizes, shape = _layer_args(
        "gru_layer", input, {"hx": hx}, weight_ih, weight_hh,
        {"bias_ih": bias_ih, "bias_hh": bias_hh}, batch_sizes, 3, (hidden,))
    _check_recurrent_weight("gru_layer", weight_hh, 3 * hidden, hidden)
    biases = (bias_ih, bias_hh) if bias_ih is not None else ()
    y, h = GRULayer.apply(rows, hx, weight_ih, weight_hh, *biases, batch_sizes=batch_sizes,
                          reverse=bool(reverse))
    return _time_major(y, shape), h


def _check_recurrent_weight(name, weight_hh, rows, cols):
    if tuple(weight_hh.shape) != (rows, cols):
        raise RuntimeError(f"{name}: expected weight_hh of shape {(rows, cols)}, got "
                           f"{tuple(weight_hh.shape)}")

