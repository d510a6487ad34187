"""Recurrent layers (``torch.nn.modules.rnn``): ``RNN``, ``LSTM``, ``GRU`` over whole
sequences and the single-step ``RNNCell``, ``LSTMCell``, ``GRUCell``.

Lecture 004 "RNNs" (inventory B40): ``h_t = f(h_{t-1}, x_t)``, ``y_t = g(h_t)``, "same f, g for
different t"; stacked into a "Deep RNN" (L823–833) by feeding each layer's outputs to the
next; the LSTM's gates and cell state (B41). Each layer and direction is one primitive of
``ember.ops.recurrent`` whose backward is backpropagation through time over the whole
sequence (its docstrings give the equations and their gradients).

Names, signatures, defaults, parameter names and shapes (``weight_ih_l0``,
``weight_hh_l1_reverse``, ``weight_hr_l0`` with ``proj_size``), the initialization
``U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))`` and the ``repr`` are torch's, so torch
checkpoints load as they are. Every layer takes a time-major ``(T, N, I)`` batch, ``(N, T, I)``
with ``batch_first=True``, an unbatched ``(T, I)`` sequence, or a
:class:`~ember.nn.utils.rnn.PackedSequence`.
"""
import math
import numbers
import warnings

import ember
from ember.nn import functional as F
from ember.nn import init
from ember.nn.modules.module import Module
from ember.nn.parameter import Parameter
from ember.nn.utils.rnn import PackedSequence
from ember.ops.recurrent import gru_layer, lstm_layer, rnn_layer

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


class RNNBase(Module):
    """What ``RNN``, ``LSTM`` and ``GRU`` share: the parameters of every layer and direction,
    their initialization, the checks of the input and hidden state, and the forward pass
    that runs layer after layer (dropout between layers in training mode) and direction
    after direction (the reverse direction's outputs concatenated after the forward one's).

    ``mode`` is ``'RNN_TANH'``, ``'RNN_RELU'``, ``'LSTM'`` or ``'GRU'``. Parameters of layer
    ``k`` (suffix ``_reverse`` for the backward direction): ``weight_ih_lk (G·H, I_k)``,
    ``weight_hh_lk (G·H, P)``, ``bias_ih_lk``, ``bias_hh_lk (G·H,)`` and, for an LSTM with
    ``proj_size = P > 0``, ``weight_hr_lk (P, H)``; ``G`` gates (4, 3 or 1), ``I_0 =
    input_size`` and ``I_k = D·P`` above (``D = 2`` when bidirectional, ``P = H`` without
    projection).
    """

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        ember.device(device or "cpu")
        name = {"RNN_TANH": "RNN", "RNN_RELU": "RNN"}.get(mode, mode)
        if mode not in _GATES:
            raise ValueError(f"Unrecognized RNN mode: {mode}")
        if not isinstance(dropout, numbers.Number) or isinstance(dropout, bool) or \
                not 0 <= dropout <= 1:
            raise ValueError(f"{name}: dropout should be a number in range [0, 1] representing "
                             f"the probability of an element being zeroed, got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"dropout option adds dropout after all but last recurrent layer, so "
                          f"non-zero dropout expects num_layers greater than 1, but got "
                          f"dropout={dropout} and num_layers={num_layers}", stacklevel=3)
        for arg, value in (("bias", bias), ("batch_first", batch_first)):
            if not isinstance(value, bool):
                raise TypeError(f"{name}: {arg} should be of type bool, got: "
                                f"{type(value).__name__}")
        for arg, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name}: {arg} should be of type int, got: "
                                f"{type(value).__name__}")
            if value <= 0:
                raise ValueError(f"{name}: {arg} must be greater than zero, got {value}")
        if num_layers <= 0:
            raise ValueError(f"{name}: num_layers must be greater than zero, got {num_layers}")
        if proj_size < 0:
            raise ValueError(f"{name}: proj_size should be a positive integer or zero to disable "
                             f"projections, got {proj_size}")
        if proj_size >= hidden_size:
            raise ValueError(f"{name}: proj_size has to be smaller than hidden_size, got "
                             f"proj_size={proj_size} and hidden_size={hidden_size}")
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        directions = 2 if bidirectional else 1
        gate_size = _GATES[mode] * hidden_size
        out_size = proj_size if proj_size > 0 else hidden_size
        self._flat_weights_names = []
        self._all_weights = []
        for layer in range(num_layers):
            for direction in range(directions):
                layer_input = input_size if layer == 0 else out_size * directions
                suffix = "_reverse" if direction == 1 else ""
                shapes = [("weight_ih_l{}{}", (gate_size, layer_input)),
                          ("weight_hh_l{}{}", (gate_size, out_size))]
                if bias:
                    shapes += [("bias_ih_l{}{}", (gate_size,)), ("bias_hh_l{}{}", (gate_size,))]
                if proj_size > 0:
                    shapes += [("weight_hr_l{}{}", (proj_size, hidden_size))]
                names = []
                for pattern, shape in shapes:
                    param_name = pattern.format(layer, suffix)
                    setattr(self, param_name, Parameter(ember.empty(*shape, dtype=dtype)))
                    names.append(param_name)
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    @property
    def _flat_weights(self):
        """The parameters in torch's order (layer, direction, then ih, hh, biases, hr)."""
        return [getattr(self, name, None) for name in self._flat_weights_names]

    @property
    def all_weights(self):
        """One list of parameters per layer and direction."""
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def flatten_parameters(self):
        """torch packs the weights into one cuDNN buffer here; on the CPU this is a no-op in
        torch too, and Ember reads each parameter where it is, so there is nothing to do."""

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s

    def _mult_adds(self, inputs, output):
        """Multiply-adds of one call for ``ember.summary``: every step of every layer and
        direction multiplies its input by ``weight_ih``, its state by ``weight_hh`` (and its
        output by ``weight_hr``)."""
        rows = inputs[0].numel() // inputs[0].shape[-1]
        return rows * sum(p.numel() for name, p in self.named_parameters()
                          if name.startswith("weight_"))

    # ------------------------------------------------------------------------ forward
    def _state_sizes(self):
        """Feature sizes of the states: ``(P,)``, and ``(P, H)`` for an LSTM (h and c)."""
        out_size = self.proj_size if self.proj_size > 0 else self.hidden_size
        return (out_size, self.hidden_size) if self.mode == "LSTM" else (out_size,)

    def _layer(self, layer_input, states, layer, direction, batch_sizes):
        """Run one layer in one direction: returns ``(output, *final states)``."""
        suffix = "_reverse" if direction == 1 else ""
        weights = [getattr(self, f"{kind}_l{layer}{suffix}") for kind in ("weight_ih",
                                                                          "weight_hh")]
        biases = ([getattr(self, f"bias_ih_l{layer}{suffix}"),
                   getattr(self, f"bias_hh_l{layer}{suffix}")] if self.bias else [None, None])
        reverse = direction == 1
        if self.mode == "LSTM":
            weight_hr = getattr(self, f"weight_hr_l{layer}{suffix}") if self.proj_size else None
            return lstm_layer(layer_input, *states, *weights, *biases, weight_hr,
                              batch_sizes=batch_sizes, reverse=reverse)
        if self.mode == "GRU":
            return gru_layer(layer_input, *states, *weights, *biases, batch_sizes=batch_sizes,
                             reverse=reverse)
        return rnn_layer(layer_input, *states, *weights, *biases,
                         nonlinearity="tanh" if self.mode == "RNN_TANH" else "relu",
                         batch_sizes=batch_sizes, reverse=reverse)

    def _check_states(self, states, batch, who):
        directions = 2 if self.bidirectional else 1
        lstm = self.mode == "LSTM"
        for k, (state, size) in enumerate(zip(states, self._state_sizes())):
            expected = (self.num_layers * directions, batch, size)
            if tuple(state.shape) != expected:
                what = f"hidden[{k}]" if lstm else "hidden"
                raise RuntimeError(f"{who}: Expected {what} size {expected}, got "
                                   f"{list(state.shape)}")
            if state.dtype != self.weight_ih_l0.dtype:
                raise ValueError(f"{who}: {'hx' if k == 0 else 'cx'} dtype ({state.dtype}) does "
                                 f"not match weight dtype ({self.weight_ih_l0.dtype})")

    def _initial_states(self, hx, batched, who):
        """``hx`` as a tuple of batched states (one for RNN/GRU, ``(h, c)`` for an LSTM)."""
        if hx is None:
            return None
        lstm = self.mode == "LSTM"
        states = tuple(hx) if lstm else (hx,)
        if lstm and len(states) != 2:
            raise RuntimeError(f"{who}: expected hx to be a tuple (h_0, c_0), got "
                               f"{len(states)} tensors")
        want = 3 if batched else 2
        dims = tuple(s.dim() for s in states)
        if any(d != want for d in dims):
            kind = "batched 3-D" if batched else "unbatched 2-D"
            got = ", ".join(f"{d}-D" for d in dims)
            raise RuntimeError(f"{who}: For {kind} input, hx{' and cx' if lstm else ''} should "
                               f"also be {want}-D but got ({got}) tensor{'s' if lstm else ''}")
        return states if batched else tuple(s.unsqueeze(1) for s in states)

    def forward(self, input, hx=None):
        """``input``: ``(T, N, I)`` (``(N, T, I)`` with ``batch_first``), ``(T, I)`` or a
        ``PackedSequence``; ``hx``: ``h_0 (D·num_layers, N, P)`` — for an LSTM the pair
        ``(h_0, c_0)`` with ``c_0 (D·num_layers, N, H)`` — or None for zeros (unbatched:
        without the ``N`` dim). Returns ``(output, h_n)`` (``(output, (h_n, c_n))`` for an
        LSTM): ``output`` ``(T, N, D·P)`` (or packed like ``input``) holds the last layer's
        ``h_t`` for every ``t``, both directions concatenated; ``h_n`` the final state of every
        layer and direction, ordered ``layer·D + direction``."""
        who = self._get_name()
        packed = isinstance(input, PackedSequence)
        if packed:
            data, batch_sizes, sorted_indices, unsorted_indices = input
            batch_sizes = [int(b) for b in batch_sizes.tolist()]
            batched, batch = True, batch_sizes[0]
            states = self._initial_states(hx, True, who)
            if states is not None and sorted_indices is not None:
                states = tuple(s.index_select(1, sorted_indices) for s in states)
        else:
            if not isinstance(input, ember.Tensor):
                raise TypeError(f"{who}: expected input to be a Tensor or PackedSequence, got "
                                f"{type(input).__name__}")
            if input.dim() not in (2, 3):
                raise ValueError(f"{who}: Expected input to be 2D or 3D, got {input.dim()}D "
                                 f"tensor instead (shape {tuple(input.shape)})")
            batched = input.dim() == 3
            states = self._initial_states(hx, batched, who)
            data = input if batched else input.unsqueeze(1 if not self.batch_first else 0)
            if self.batch_first:
                data = data.transpose(0, 1)
            batch_sizes, batch = None, data.shape[1]
        if data.dtype != self.weight_ih_l0.dtype:
            raise ValueError(f"{who}: input dtype ({data.dtype}) does not match weight dtype "
                             f"({self.weight_ih_l0.dtype}). Convert input: input.to("
                             f"{self.weight_ih_l0.dtype}), or convert model: model.to("
                             f"{data.dtype})")
        if data.shape[-1] != self.input_size:
            raise RuntimeError(f"{who}({self.extra_repr()}): input.size(-1) must be equal to "
                               f"input_size. Expected {self.input_size}, got {data.shape[-1]} "
                               f"(input shape {tuple(data.shape)})")
        directions = 2 if self.bidirectional else 1
        if states is None:
            states = tuple(ember.zeros(self.num_layers * directions, batch, size,
                                       dtype=data.dtype) for size in self._state_sizes())
        else:
            self._check_states(states, batch, who)
        finals = [[] for _ in states]
        layer_input = data
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                index = layer * directions + direction
                output, *last = self._layer(layer_input, [s[index] for s in states], layer,
                                            direction, batch_sizes)
                outputs.append(output)
                for store, state in zip(finals, last):
                    store.append(state)
            layer_input = outputs[0] if directions == 1 else ember.cat(outputs, dim=-1)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, p=self.dropout, training=True)
        final = tuple(ember.stack(store) for store in finals)
        if packed:
            if unsorted_indices is not None:
                final = tuple(s.index_select(1, unsorted_indices) for s in final)
            output = PackedSequence(layer_input, input.batch_sizes, sorted_indices,
                                    unsorted_indices)
        else:
            output = layer_input.transpose(0, 1) if self.batch_first else layer_input
            if not batched:
                output = output.squeeze(0 if self.batch_first else 1)
                final = tuple(s.squeeze(1) for s in final)
        return output, (final if self.mode == "LSTM" else final[0])


class RNN(RNNBase):
    """Multi-layer Elman RNN (lecture 004 "Vanilla RNN", inventory B40)::

        h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)       (or relu)

    ``RNN(input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True,
    batch_first=False, dropout=0.0, bidirectional=False)``; see :class:`RNNBase` for the
    parameters and :meth:`RNNBase.forward` for the shapes.
    """

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("RNN: proj_size argument is only supported for LSTM, not RNN or GRU")
        if len(args) > 3:
            nonlinearity = args[3]
            args = args[:3] + args[4:]
        else:
            nonlinearity = kwargs.pop("nonlinearity", "tanh")
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: Unknown nonlinearity '{nonlinearity}'. Select from "
                             f"'tanh' or 'relu'.")
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", *args,
                         **kwargs)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """Multi-layer LSTM (lecture 004 "LSTM", inventory B41)::

        i, f, g, o = σ, σ, tanh, σ of (x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)
        c_t = f ⊙ c_{t-1} + i ⊙ g,     h_t = o ⊙ tanh(c_t)     (h_t W_hr^T with proj_size)

    ``LSTM(input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
    bidirectional=False, proj_size=0)``; ``forward(input, (h_0, c_0)) -> (output, (h_n,
    c_n))``. See :class:`RNNBase` for the parameters and :meth:`RNNBase.forward` for shapes.
    """

    def __init__(self, *args, **kwargs):
        super().__init__("LSTM", *args, **kwargs)


class GRU(RNNBase):
    """Multi-layer GRU (torch's equations; ``ember.ops.recurrent.GRULayer``)::

        r, z = σ(x W_i{r,z}^T + b_i{r,z} + h W_h{r,z}^T + b_h{r,z})
        n = tanh(x W_in^T + b_in + r ⊙ (h W_hn^T + b_hn)),     h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}

    ``GRU(input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
    bidirectional=False)``; see :class:`RNNBase` and :meth:`RNNBase.forward`.
    """

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("GRU: proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__("GRU", *args, **kwargs)


# ------------------------------------------------------------------------------------------
# Cells: one time step
# ------------------------------------------------------------------------------------------
class RNNCellBase(Module):
    """One step of a recurrent layer: ``weight_ih (G·H, I)``, ``weight_hh (G·H, H)``,
    ``bias_ih``, ``bias_hh (G·H,)``, all ``U(-1/sqrt(H), 1/sqrt(H))``. The step is the
    layer primitive of ``ember.ops.recurrent`` on a sequence of length 1."""

    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        ember.device(device or "cpu")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.weight_ih = Parameter(ember.empty(num_chunks * hidden_size, input_size, dtype=dtype))
        self.weight_hh = Parameter(ember.empty(num_chunks * hidden_size, hidden_size,
                                               dtype=dtype))
        if bias:
            self.bias_ih = Parameter(ember.empty(num_chunks * hidden_size, dtype=dtype))
            self.bias_hh = Parameter(ember.empty(num_chunks * hidden_size, dtype=dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def _mult_adds(self, inputs, output):
        """Multiply-adds of one step for ``ember.summary``: input and state times their
        weights."""
        rows = inputs[0].numel() // self.input_size
        return rows * (self.weight_ih.numel() + self.weight_hh.numel())

    def _step_input(self, input, states):
        """Check the input and states; return them batched, the step input as ``(1, N, I)``,
        and whether the call was unbatched."""
        who = self._get_name()
        if not isinstance(input, ember.Tensor):
            raise TypeError(f"{who}: expected input to be a Tensor, got {type(input).__name__}")
        if input.dim() not in (1, 2):
            raise ValueError(f"{who}: Expected input to be 1D or 2D, got {input.dim()}D instead "
                             f"(shape {tuple(input.shape)})")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"{who}({self.extra_repr()}): input has inconsistent input_size: "
                               f"got {input.shape[-1]}, expected {self.input_size} (shape "
                               f"{tuple(input.shape)})")
        batched = input.dim() == 2
        x = input if batched else input.unsqueeze(0)
        batch = x.shape[0]
        if states is None:
            states = (ember.zeros(batch, self.hidden_size, dtype=input.dtype),) * \
                (2 if isinstance(self, LSTMCell) else 1)
        checked = []
        for k, state in enumerate(states):
            name = f"hx[{k}]" if isinstance(self, LSTMCell) else "hidden"
            if state.dim() not in (1, 2):
                raise ValueError(f"{who}: Expected {name} to be 1D or 2D, got {state.dim()}D "
                                 f"instead")
            state = state if batched else state.unsqueeze(0)
            if tuple(state.shape) != (batch, self.hidden_size):
                raise RuntimeError(f"{who}({self.extra_repr()}): expected {name} of shape "
                                   f"{(batch, self.hidden_size)}, got {tuple(state.shape)}")
            checked.append(state)
        return x.unsqueeze(0), checked, batched


class RNNCell(RNNCellBase):
    """``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)`` (or relu): ``(N, I), (N, H) -> (N,
    H)``, unbatched ``(I), (H) -> (H)``; ``hx`` defaults to zeros."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None,
                 dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=1, device=device,
                         dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        if self.nonlinearity not in ("tanh", "relu"):
            raise RuntimeError(f"RNNCell: Unknown nonlinearity: {self.nonlinearity}")
        x, (h,), batched = self._step_input(input, None if hx is None else (hx,))
        _, h = rnn_layer(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh,
                         nonlinearity=self.nonlinearity)
        return h if batched else h.squeeze(0)


class LSTMCell(RNNCellBase):
    """One LSTM step (lecture 004 "LSTM", inventory B41): ``(N, I), ((N, H), (N, H)) ->
    (h', c')`` with ``c' = f ⊙ c + i ⊙ g``, ``h' = o ⊙ tanh(c')``; unbatched without ``N``;
    ``hx`` defaults to zeros."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=4, device=device,
                         dtype=dtype)

    def forward(self, input, hx=None):
        x, (h, c), batched = self._step_input(input, hx)
        _, h, c = lstm_layer(x, h, c, self.weight_ih, self.weight_hh, self.bias_ih,
                             self.bias_hh)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(RNNCellBase):
    """One GRU step: ``(N, I), (N, H) -> (N, H)`` (equations in :class:`GRU`); unbatched
    without ``N``; ``hx`` defaults to zeros."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=3, device=device,
                         dtype=dtype)

    def forward(self, input, hx=None):
        x, (h,), batched = self._step_input(input, None if hx is None else (hx,))
        _, h = gru_layer(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return h if batched else h.squeeze(0)
