"""Compiled gate arithmetic of the LSTM and GRU steps (``ember.ops.recurrent``).

Each step of the NumPy code is one matrix product and a dozen elementwise NumPy calls on
``(batch, H)`` blocks (~0.2 ms of calls per step at batch 64, H = 256, against a 0.15 ms
product). These kernels do the elementwise parts between the products in one pass each,
with the float operations of the NumPy code in its order, so bit for bit; the ``tanh``
passes of a forward step stay NumPy's own ``np.tanh`` (the kernels take their results).
Arrays are the C-contiguous row blocks of one step: ``gates (rows, 4H)`` in the LSTM's gate
order ``i, f, g, o`` or ``(rows, 3H)`` in the GRU's ``r, z, n``, and ``(rows, H)`` for the
states and their gradients.
"""
from ember.kernels._jit import kernel


@kernel
def lstm_cell_forward(gates, c, c_prev, h, h_prev, keep):
    """After ``gates = tanh(pre)`` (the ``i, f, o`` rows of ``pre`` halved): ``σ = t·½ + ½``
    in place for ``i, f, o``, then ``c ← c·f + i·g``; with ``keep``, the states before the
    step are first copied to ``c_prev`` and ``h_prev`` (the backward reads them)."""
    rows, width = c.shape
    dt = gates.dtype.type
    half = dt(0.5)
    for r in range(rows):
        if keep:
            for j in range(h.shape[1]):
                h_prev[r, j] = h[r, j]
        for j in range(width):
            i = gates[r, j] * half + half
            f = gates[r, width + j] * half + half
            o = gates[r, 3 * width + j] * half + half
            gates[r, j] = i
            gates[r, width + j] = f
            gates[r, 3 * width + j] = o
            if keep:
                c_prev[r, j] = c[r, j]
            kept = c[r, j] * f
            c[r, j] = kept + i * gates[r, 2 * width + j]


@kernel
def lstm_cell_backward(dm, tanh_c, gates, c_prev, dc, d):
    """One step of the LSTM's backpropagation through time, as ``LSTMLayer.backward``::

        do = dm·tanh(c_t);   dc_t = (dm·o)·(1 − tanh²(c_t)) + dc_{t+1}
        di = dc_t·g,  df = dc_t·c_{t−1},  dg = dc_t·i;   dc ← dc_t·f   (dc_{t−1}, in place)
        d = [di·σ'(i); df·σ'(f); dg·tanh'(g); do·σ'(o)]

    with ``x·σ'`` computed as ``(x·s) − (x·s)·s`` and ``x·tanh'`` as ``x − (x·t)·t``."""
    rows, width = dc.shape
    for r in range(rows):
        for j in range(width):
            i, f = gates[r, j], gates[r, width + j]
            g, o = gates[r, 2 * width + j], gates[r, 3 * width + j]
            m, t = dm[r, j], tanh_c[r, j]
            d_o = m * t
            dct = m * o
            dct = dct - dct * t * t
            dct = dct + dc[r, j]
            d_i = dct * g
            d_f = dct * c_prev[r, j]
            d_g = dct * i
            dc[r, j] = dct * f
            d_i = d_i * i
            d[r, j] = d_i - d_i * i
            d_f = d_f * f
            d[r, width + j] = d_f - d_f * f
            d[r, 2 * width + j] = d_g - d_g * g * g
            d_o = d_o * o
            d[r, 3 * width + j] = d_o - d_o * o


@kernel
def gru_gates_sum(gates, gh, b_hn, has_bias):
    """GRU step, before the first ``tanh``: ``a_n = h W_hn^T (+ b_hn)`` in place in the
    ``n`` columns of ``gh`` (rows, 3H), and ``gates[:, r|z] += gh[:, r|z]``."""
    rows, width = gates.shape[0], gates.shape[1] // 3
    for r in range(rows):
        for j in range(2 * width):
            gates[r, j] = gates[r, j] + gh[r, j]
        if has_bias:
            for j in range(width):
                gh[r, 2 * width + j] = gh[r, 2 * width + j] + b_hn[j]


@kernel
def gru_candidate(gates, gh):
    """GRU step, between the two ``tanh``: ``σ = t·½ + ½`` in place for ``r, z``, then the
    candidate's pre-activation ``n ← n + r·a_n`` (``a_n`` in the ``n`` columns of ``gh``)."""
    rows, width = gates.shape[0], gates.shape[1] // 3
    half = gates.dtype.type(0.5)
    for r in range(rows):
        for j in range(2 * width):
            gates[r, j] = gates[r, j] * half + half
        for j in range(width):
            gates[r, 2 * width + j] = gates[r, 2 * width + j] + gates[r, j] * gh[r, 2 * width + j]


@kernel
def gru_state(gates, gh, h, out, h_prev, a_n, keep):
    """GRU step, after the second ``tanh``: ``out = (h − n)·z + n`` and ``h ← out``; with
    ``keep``, ``h_prev`` gets the state before the step and ``a_n`` the ``n`` columns of
    ``gh`` (the backward reads both)."""
    rows, width = h.shape
    for r in range(rows):
        for j in range(width):
            z, n = gates[r, width + j], gates[r, 2 * width + j]
            if keep:
                h_prev[r, j] = h[r, j]
                a_n[r, j] = gh[r, 2 * width + j]
            value = (h[r, j] - n) * z + n
            out[r, j] = value
            h[r, j] = value


@kernel
def gru_step_backward(dht, gates, h_prev, a_n, d, dn):
    """One step of the GRU's backpropagation through time before the product with ``W_hh``,
    as ``GRULayer.backward``::

        dz = ((h_{t−1} − n)·dh)·σ'(z);   dn = (dh − dh·z)·tanh'(n)
        dr = (dn·a_n)·σ'(r);   d = [dr, dz, dn·r]

    with ``x·σ'`` as ``(x·s) − (x·s)·s`` and ``x·tanh'`` as ``x − (x·t)·t``."""
    rows, width = dht.shape
    for r in range(rows):
        for j in range(width):
            g = dht[r, j]
            rr, z, n = gates[r, j], gates[r, width + j], gates[r, 2 * width + j]
            dz = (h_prev[r, j] - n) * g
            dz = dz * z
            d[r, width + j] = dz - dz * z
            dnn = g - g * z
            dnn = dnn - dnn * n * n
            dn[r, j] = dnn
            dr = dnn * a_n[r, j]
            dr = dr * rr
            d[r, j] = dr - dr * rr
            d[r, 2 * width + j] = dnn * rr


@kernel
def gru_state_backward(dh_prev, dht, gates, dh):
    """``dh ← dh_prev + dh_t·z`` (``dh_prev = d W_hh``; ``dht`` may be a view of ``dh``: each
    element is read before it is written)."""
    rows, width = dh_prev.shape
    for r in range(rows):
        for j in range(width):
            dh[r, j] = dh_prev[r, j] + dht[r, j] * gates[r, width + j]
