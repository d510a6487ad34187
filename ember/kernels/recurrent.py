"""Compiled gate arithmetic of the LSTM step (``ember.ops.recurrent.LSTMLayer``).

Each step of the NumPy code is one matrix product and a dozen elementwise NumPy calls on
``(batch, H)`` blocks (~0.2 ms of calls per step at batch 64, H = 256, against a 0.15 ms
product). These kernels do the elementwise part between the products in one pass per step,
with the float operations of the NumPy code in its order, so bit for bit; the two ``tanh``
passes of a forward step stay NumPy's own ``np.tanh`` (the kernels take their results).
Arrays are the C-contiguous row blocks of one step: ``gates (rows, 4H)`` in the gate order
``i, f, g, o`` and ``(rows, H)`` for the cell state and its gradients.
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
