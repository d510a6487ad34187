"""Recurrent layers (ember.nn.RNN/LSTM/GRU and their cells) and the packed-sequence utilities
(ember.nn.utils.rnn) against torch: same repr and state_dict keys; with torch's weights copied
in, the same outputs, final states, input, state and parameter gradients — multi-layer,
bidirectional, batch_first, unbatched, projected, without biases, from given states, on
packed batches (sorted or not); dropout between layers; and the errors that name the layer.

Tolerances: float64 runs are compared at 1e-10. The float32 runs use the harness's float32
bounds (1e-5 relative, 1e-4 of the largest magnitude): a layer's outputs are sums of at most
``input_size + hidden_size ≤ 16`` products per gate per step, over 5 steps and 2 layers, and
its gradients sums over at most ``T·N = 15`` rows, so float32 rounding stays near 1e-6.
"""
import warnings

import numpy as np
import pytest
import torch

import ember
from ember.nn.utils import rnn as ember_rnn
from tests.harness import assert_close
from tests.nn.parity import module_parity

R = np.random.default_rng(2024)


def f32(*shape):
    return R.standard_normal(shape).astype(np.float32)


def f64(*shape):
    return R.standard_normal(shape)


# (id, make(lib), inputs, options); inputs: x, then optional initial state(s)
CASES = [
    ("RNN", lambda L: L.nn.RNN(4, 6), [f32(5, 3, 4)], {}),
    ("RNN-relu-2layer-bi", lambda L: L.nn.RNN(4, 6, 2, "relu", bidirectional=True),
     [f64(5, 3, 4)], {"double": True}),
    ("RNN-hx-batch_first", lambda L: L.nn.RNN(4, 6, num_layers=2, batch_first=True),
     [f64(3, 5, 4), f64(2, 3, 6)], {"double": True}),
    ("LSTM", lambda L: L.nn.LSTM(4, 6), [f32(5, 3, 4)], {}),
    ("LSTM-2layer-bi-f64", lambda L: L.nn.LSTM(4, 5, num_layers=2, bidirectional=True),
     [f64(5, 3, 4)], {"double": True}),
    ("LSTM-proj-bi", lambda L: L.nn.LSTM(4, 6, num_layers=2, bidirectional=True, proj_size=3),
     [f64(5, 2, 4)], {"double": True}),
    ("LSTM-nobias-batch_first", lambda L: L.nn.LSTM(4, 5, bias=False, batch_first=True),
     [f64(2, 5, 4)], {"double": True}),
    ("GRU", lambda L: L.nn.GRU(4, 6), [f32(5, 3, 4)], {}),
    ("GRU-2layer-bi-nobias", lambda L: L.nn.GRU(4, 5, 2, bias=False, bidirectional=True),
     [f64(4, 3, 4)], {"double": True}),
    ("GRU-unbatched-hx", lambda L: L.nn.GRU(4, 5, 2), [f64(6, 4), f64(2, 5)],
     {"double": True}),
    ("RNN-unbatched-batch_first", lambda L: L.nn.RNN(4, 5, batch_first=True), [f64(6, 4)],
     {"double": True}),
]


def _tolerance(options):
    return {"rtol": 1e-10, "atol": 1e-10} if options.get("double") else {}


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_recurrent_layers_match_torch(case):
    _, make, inputs, options = case
    module_parity(make, inputs, double=options.get("double", False), **_tolerance(options))


@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm_given_states_unbatched_and_proj(bidirectional):
    directions = 2 if bidirectional else 1

    def call(m, x, h, c):
        return m(x, (h, c))
    module_parity(lambda L: L.nn.LSTM(3, 5, num_layers=2, proj_size=2,
                                      bidirectional=bidirectional),
                  [f64(4, 3), f64(2 * directions, 2), f64(2 * directions, 5)], double=True,
                  call=call, rtol=1e-10, atol=1e-10)


CELLS = [
    ("RNNCell", lambda L: L.nn.RNNCell(4, 6), [f32(3, 4), f32(3, 6)]),
    ("RNNCell-relu-nobias", lambda L: L.nn.RNNCell(4, 6, bias=False, nonlinearity="relu"),
     [f32(3, 4)]),
    ("LSTMCell", lambda L: L.nn.LSTMCell(4, 6), [f32(3, 4)]),
    ("GRUCell", lambda L: L.nn.GRUCell(4, 6), [f32(3, 4), f32(3, 6)]),
    ("GRUCell-unbatched", lambda L: L.nn.GRUCell(4, 6), [f32(4), f32(6)]),
]


@pytest.mark.parametrize("case", CELLS, ids=[c[0] for c in CELLS])
def test_cells_match_torch(case):
    _, make, inputs = case
    module_parity(make, inputs)


def test_lstm_cell_with_states_unrolled_like_the_torch_docs():
    def call(m, xs, h, c):
        outputs = []
        for t in range(xs.shape[0]):
            h, c = m(xs[t], (h, c))
            outputs.append(h)
        return outputs + [c]
    module_parity(lambda L: L.nn.LSTMCell(4, 5), [f64(3, 2, 4), f64(2, 5), f64(2, 5)],
                  double=True, call=call, rtol=1e-10, atol=1e-10)


# ------------------------------------------------------------------------------------------
# Packed sequences
# ------------------------------------------------------------------------------------------
def _utils(module):
    return torch.nn.utils.rnn if isinstance(module, torch.nn.Module) else ember_rnn


@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_packed_sequences_through_every_layer(mode, enforce_sorted):
    lengths = [5, 4, 2, 2] if enforce_sorted else [2, 5, 2, 4]

    def call(m, x, *hx):
        utils = _utils(m)
        packed = utils.pack_padded_sequence(x, lengths, enforce_sorted=enforce_sorted)
        state = None if not hx else (tuple(hx) if mode == "LSTM" else hx[0])
        out, final = m(packed, state)
        padded, out_lengths = utils.pad_packed_sequence(out, padding_value=-3.0)
        return [out.data, out.batch_sizes, padded, out_lengths, final]

    def make(L):
        return getattr(L.nn, mode)(3, 4, num_layers=2, bidirectional=True)
    hx = [f64(4, 4, 4)] + ([f64(4, 4, 4)] if mode == "LSTM" else [])
    module_parity(make, [f64(5, 4, 3)], double=True, call=call, rtol=1e-10, atol=1e-10)
    module_parity(make, [f64(5, 4, 3)] + hx, double=True, call=call, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("lengths,enforce_sorted", [([5, 3, 3, 1], True), ([2, 5, 1, 3], False)])
def test_pack_and_pad_round_trip_match_torch(batch_first, lengths, enforce_sorted):
    x = f64(4, 5, 3) if batch_first else f64(5, 4, 3)

    def call(m, x):
        utils = _utils(m)
        packed = utils.pack_padded_sequence(x, lengths, batch_first=batch_first,
                                            enforce_sorted=enforce_sorted)
        padded, out_lengths = utils.pad_packed_sequence(packed, batch_first=batch_first,
                                                        padding_value=7.0, total_length=6)
        return [packed.data, packed.batch_sizes, packed.sorted_indices,
                packed.unsorted_indices, padded * 2, out_lengths]
    module_parity(lambda L: L.nn.Identity(), [x], double=True, call=call)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_pad_sequence_pack_sequence_and_back(batch_first, padding_side):
    seqs = [f64(3, 2), f64(5, 2), f64(1, 2)]

    def call(m, *xs):
        utils = _utils(m)
        padded = utils.pad_sequence(list(xs), batch_first=batch_first, padding_value=9.0,
                                    padding_side=padding_side)
        packed = utils.pack_sequence(list(xs), enforce_sorted=False)
        unpacked = utils.unpack_sequence(packed)
        right = utils.pad_sequence(list(xs), batch_first=batch_first)
        lib = torch if isinstance(m, torch.nn.Module) else ember
        unpadded = utils.unpad_sequence(right, lib.tensor([3, 5, 1]), batch_first=batch_first)
        return [padded, packed.data, *unpacked, *unpadded]
    module_parity(lambda L: L.nn.Identity(), seqs, double=True, call=call)


def test_packed_sequence_object():
    packed = ember_rnn.pack_sequence([ember.ones(3, 2), ember.ones(2, 2)])
    assert packed.sorted_indices is None and packed.unsorted_indices is None
    assert packed.batch_sizes.tolist() == [2, 2, 1] and packed.batch_sizes.dtype == ember.int64
    doubled = packed.double()
    assert doubled.data.dtype == ember.float64 and doubled.batch_sizes is packed.batch_sizes
    assert not packed.is_cuda and packed.to(ember.float32) is packed
    again = ember_rnn.PackedSequence((packed.data, packed.batch_sizes))
    assert again.batch_sizes.tolist() == [2, 2, 1]
    perm = ember.tensor([2, 0, 1])
    assert ember_rnn.invert_permutation(perm).tolist() == [1, 2, 0]


# ------------------------------------------------------------------------------------------
# Dropout, module API, initialization, errors
# ------------------------------------------------------------------------------------------
def test_dropout_between_layers():
    """p = 1 drops everything between the layers in training mode (deterministically, so
    torch's result is the reference); eval mode turns it off; p > 0 with one layer warns."""
    def make(L):
        return L.nn.LSTM(3, 4, num_layers=3, dropout=1.0)
    module_parity(make, [f64(4, 2, 3)], double=True, train=True, rtol=1e-10, atol=1e-10)
    module_parity(make, [f64(4, 2, 3)], double=True, train=False, rtol=1e-10, atol=1e-10)
    lstm = ember.nn.GRU(3, 4, num_layers=2, dropout=0.5)
    ember.manual_seed(0)
    first = lstm(ember.randn(6, 2, 3))[0]
    assert first.shape == (6, 2, 4)
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        ember.nn.LSTM(3, 4, dropout=0.2)


def test_parameters_init_and_module_api():
    lstm = ember.nn.LSTM(10, 20, num_layers=2, bidirectional=True, proj_size=5)
    shapes = {k: tuple(v.shape) for k, v in lstm.state_dict().items()}
    reference = torch.nn.LSTM(10, 20, num_layers=2, bidirectional=True, proj_size=5)
    assert shapes == {k: tuple(v.shape) for k, v in reference.state_dict().items()}
    assert list(shapes) == list(reference.state_dict())
    bound = 1 / np.sqrt(20)
    values = np.concatenate([p.detach().numpy().ravel() for p in lstm.parameters()])
    assert values.min() >= -bound and values.max() <= bound and values.std() > bound / 2
    assert lstm._flat_weights_names == reference._flat_weights_names
    assert [[tuple(p.shape) for p in group] for group in lstm.all_weights] == \
        [[tuple(p.shape) for p in group] for group in reference.all_weights]
    assert lstm.flatten_parameters() is None
    assert ember.nn.modules.rnn.LSTM is ember.nn.LSTM
    assert ember.nn.modules.rnn.RNNBase is ember.nn.RNNBase
    gru = ember.nn.GRU(3, 4).double()
    assert gru(ember.randn(2, 1, 3, dtype=ember.float64))[0].dtype == ember.float64


@pytest.mark.parametrize("make", [
    lambda L, **kw: L.nn.LSTM(3, 4, num_layers=2, proj_size=2, **kw),
    lambda L, **kw: L.nn.GRU(3, 4, bidirectional=True, **kw),
    lambda L, **kw: L.nn.RNNCell(3, 4, **kw),
    lambda L, **kw: L.nn.LSTMCell(3, 4, **kw),
])
def test_factory_keywords_device_and_dtype(make):
    layer = make(ember, device="cpu", dtype=ember.float64)
    reference = make(torch, device="cpu", dtype=torch.float64)
    assert {k: str(v.dtype).split(".")[-1] for k, v in layer.state_dict().items()} == \
        {k: str(v.dtype).split(".")[-1] for k, v in reference.state_dict().items()}
    with pytest.raises(RuntimeError, match="CPU only"):
        make(ember, device="cuda")


def test_errors_name_the_layer():
    lstm = ember.nn.LSTM(10, 20, num_layers=2)
    with pytest.raises(RuntimeError, match=r"LSTM\(10, 20, num_layers=2\): input.size\(-1\) "
                                           r"must be equal to input_size. Expected 10, got 7"):
        lstm(ember.randn(5, 3, 7))
    with pytest.raises(RuntimeError, match=r"LSTM: Expected hidden\[0\] size \(2, 3, 20\), got "
                                           r"\[1, 3, 20\]"):
        lstm(ember.randn(5, 3, 10), (ember.zeros(1, 3, 20), ember.zeros(2, 3, 20)))
    with pytest.raises(RuntimeError, match=r"LSTM: Expected hidden\[1\] size \(2, 3, 20\)"):
        lstm(ember.randn(5, 3, 10), (ember.zeros(2, 3, 20), ember.zeros(2, 4, 20)))
    with pytest.raises(RuntimeError, match="For batched 3-D input, hx and cx should also be 3-D"):
        lstm(ember.randn(5, 3, 10), (ember.zeros(3, 20), ember.zeros(3, 20)))
    with pytest.raises(ValueError, match=r"LSTM: Expected input to be 2D or 3D, got 4D"):
        lstm(ember.randn(5, 3, 10, 1))
    with pytest.raises(ValueError, match="does not match weight dtype"):
        lstm(ember.randn(5, 3, 10, dtype=ember.float64))
    with pytest.raises(RuntimeError, match=r"GRU: Expected hidden size \(1, 3, 4\), got "
                                           r"\[1, 2, 4\]"):
        ember.nn.GRU(2, 4)(ember.randn(5, 3, 2), ember.zeros(1, 2, 4))
    with pytest.raises(RuntimeError, match=r"GRUCell\(3, 4\): input has inconsistent "
                                           r"input_size: got 5, expected 3"):
        ember.nn.GRUCell(3, 4)(ember.randn(2, 5))
    with pytest.raises(RuntimeError, match=r"LSTMCell\(3, 4\): expected hx\[1\] of shape "
                                           r"\(2, 4\), got \(3, 4\)"):
        ember.nn.LSTMCell(3, 4)(ember.randn(2, 3), (ember.zeros(2, 4), ember.zeros(3, 4)))
    with pytest.raises(ValueError, match="RNNCell: Expected input to be 1D or 2D, got 3D"):
        ember.nn.RNNCell(3, 4)(ember.randn(1, 2, 3))
    with pytest.raises(RuntimeError, match=r"`lengths` array must be sorted in decreasing order "
                                           r"when `enforce_sorted` is True \(got \[2, 5\]\)"):
        ember_rnn.pack_padded_sequence(ember.randn(5, 2, 3), [2, 5])
    with pytest.raises(RuntimeError, match="Length of all samples has to be greater than 0"):
        ember_rnn.pack_padded_sequence(ember.randn(5, 2, 3), [5, 0])
    with pytest.raises(RuntimeError, match=r"exceed the 5 time steps"):
        ember_rnn.pack_padded_sequence(ember.randn(5, 2, 3), [6, 1])
    with pytest.raises(ValueError, match=r"Expected `len\(lengths\)` to be equal to batch_size"):
        ember_rnn.pack_padded_sequence(ember.randn(5, 2, 3), [5, 4, 1])
    packed = ember_rnn.pack_sequence([ember.ones(3, 2), ember.ones(2, 2)])
    with pytest.raises(ValueError, match="total_length=2 and max sequence length being 3"):
        ember_rnn.pad_packed_sequence(packed, total_length=2)
    with pytest.raises(ValueError, match="proj_size has to be smaller than hidden_size"):
        ember.nn.LSTM(3, 4, proj_size=4)
    with pytest.raises(ValueError, match="proj_size argument is only supported for LSTM"):
        ember.nn.GRU(3, 4, proj_size=2)
    with pytest.raises(ValueError, match="Unknown nonlinearity 'gelu'"):
        ember.nn.RNN(3, 4, nonlinearity="gelu")
    with pytest.raises(ValueError, match=r"dropout should be a number in range \[0, 1\]"):
        ember.nn.GRU(3, 4, dropout=1.5)


def test_learns_to_add_two_numbers_over_time():
    """The lectures' use: a recurrent layer carries information across steps. The sum of the
    marked entries of a sequence (the "adding problem") needs memory over the whole length."""
    ember.manual_seed(0)
    rng = np.random.default_rng(0)
    steps, batch = 10, 64

    def data():
        values = rng.uniform(0, 1, (steps, batch, 1))
        marks = np.zeros((steps, batch, 1))
        for b in range(batch):
            marks[rng.choice(steps, 2, replace=False), b] = 1.0
        x = np.concatenate([values, marks], axis=2).astype(np.float32)
        return ember.tensor(x), ember.tensor((values * marks).sum(axis=(0, 2)).astype(np.float32))

    lstm, head = ember.nn.LSTM(2, 16), ember.nn.Linear(16, 1)
    opt = ember.optim.Adam(list(lstm.parameters()) + list(head.parameters()), lr=0.02)
    for _ in range(300):
        x, target = data()
        loss = ((head(lstm(x)[0][-1]).squeeze(1) - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, target = data()
    with ember.no_grad():
        loss = ((head(lstm(x)[0][-1]).squeeze(1) - target) ** 2).mean().item()
    assert loss < 0.01, loss     # predicting the mean (1.0) scores the variance, about 0.17


def test_warnings_free_forward():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, (h, c) = ember.nn.LSTM(3, 4, batch_first=True)(ember.randn(2, 5, 3))
    assert out.shape == (2, 5, 4) and h.shape == c.shape == (1, 2, 4)
    assert_close(out[:, -1].detach().numpy(), h[0].detach().numpy())
