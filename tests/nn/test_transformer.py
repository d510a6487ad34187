"""The Transformer family (ember.nn.Transformer*), multi-head attention's functional form and
the positional encodings: repr, state_dict keys and, with torch's weights copied in, the same
outputs and gradients of inputs and parameters (norm first or last, relu/gelu/callable
activations, without biases, batch first, unbatched, boolean and float masks, key-padding
masks, causal hints); torch's inference path for padded batches; the lecture's sinusoidal
position embedding (inventory B32); the errors.

Dropout is 0 (or the module in eval mode) wherever outputs are compared: the random masks of
the two libraries differ. Float64 comparisons are at 1e-10; float32 ones use the harness's
bounds (sums of at most d_model = 8 or dim_feedforward = 16 products per output, a few layers
deep, so float32 rounding stays near 1e-6 relative).
"""
import math
import warnings

import numpy as np
import pytest
import torch

import ember
from tests.harness import gradcheck64
from tests.nn.parity import module_parity

R = np.random.default_rng(11)
TIGHT = {"double": True, "rtol": 1e-10, "atol": 1e-10}


def f64(*shape):
    return R.standard_normal(shape)


def f32(*shape):
    return R.standard_normal(shape).astype(np.float32)


def _lib(module):
    return torch if isinstance(module, torch.nn.Module) else ember


ENCODER_LAYERS = [
    ("post-norm", dict(), False),
    ("pre-norm-gelu", dict(norm_first=True, activation="gelu"), False),
    ("batch_first-nobias", dict(batch_first=True, bias=False), True),
    ("callable-activation", dict(activation="callable", layer_norm_eps=1e-3), False),
]


def _encoder_layer(L, options):
    options = dict(options)
    if options.get("activation") == "callable":
        options["activation"] = L.nn.functional.silu
    return L.nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, **options)


@pytest.mark.parametrize("name,options,batch_first", ENCODER_LAYERS,
                         ids=[c[0] for c in ENCODER_LAYERS])
def test_encoder_layer_matches_torch_with_masks(name, options, batch_first):
    shape = (2, 5, 8) if batch_first else (5, 2, 8)
    causal = np.triu(np.ones((5, 5), dtype=bool), 1)
    padding = np.zeros((2, 5), dtype=bool)
    padding[1, 3:] = True

    def call(m, x, float_mask):
        lib = _lib(m)
        plain = m(x)
        masked = m(x, src_mask=lib.from_numpy(causal), src_key_padding_mask=lib.from_numpy(padding))
        added = m(x, src_mask=float_mask)
        hinted = m(x, src_mask=lib.from_numpy(causal), is_causal=True)
        return [plain, masked, added, hinted]
    module_parity(lambda L: _encoder_layer(L, options), [f64(*shape), f64(5, 5)],
                  requires_grad=[True, False], call=call, **TIGHT)


def test_encoder_layer_float32_and_unbatched():
    module_parity(lambda L: L.nn.TransformerEncoderLayer(8, 4, 16, dropout=0.0), [f32(3, 2, 8)])
    module_parity(lambda L: L.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0), [f64(5, 8)],
                  **TIGHT)


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_matches_torch(norm_first):
    causal = np.triu(np.ones((4, 4), dtype=bool), 1)
    memory_padding = np.zeros((2, 6), dtype=bool)
    memory_padding[0, 4:] = True

    def call(m, tgt, memory, memory_mask):
        lib = _lib(m)
        return [m(tgt, memory),
                m(tgt, memory, tgt_mask=lib.from_numpy(causal), tgt_is_causal=True,
                  memory_key_padding_mask=lib.from_numpy(memory_padding)),
                m(tgt, memory, memory_mask=memory_mask),
                m(tgt, memory[:4], memory_mask=lib.from_numpy(causal), memory_is_causal=True)]
    module_parity(lambda L: L.nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0,
                                                         norm_first=norm_first),
                  [f64(4, 2, 8), f64(6, 2, 8), f64(4, 6)], requires_grad=[True, True, False],
                  call=call, **TIGHT)


def test_encoder_and_decoder_stacks_match_torch():
    def encoder(L):
        layer = L.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")         # enable_nested_tensor's note (both libs)
            return L.nn.TransformerEncoder(layer, 2, norm=L.nn.LayerNorm(8))

    def call(m, x):
        lib = _lib(m)
        mask = lib.nn.Transformer.generate_square_subsequent_mask(5, dtype=x.dtype)
        return [m(x), m(x, mask=mask), m(x, mask=mask, is_causal=False)]
    module_parity(encoder, [f64(5, 3, 8)], call=call, **TIGHT)

    def decoder(L):
        return L.nn.TransformerDecoder(L.nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0), 2)

    def call_decoder(m, tgt, memory):
        lib = _lib(m)
        mask = lib.nn.Transformer.generate_square_subsequent_mask(4, dtype=tgt.dtype)
        return [m(tgt, memory), m(tgt, memory, tgt_mask=mask)]
    module_parity(decoder, [f64(4, 3, 8), f64(5, 3, 8)], call=call_decoder, **TIGHT)


@pytest.mark.parametrize("batch_first", [False, True])
def test_transformer_matches_torch(batch_first):
    """The encoder-decoder Transformer of lecture 004 (inventory D29) with padding and a
    causal target mask."""
    def make(L):
        return L.nn.Transformer(d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=1,
                                dim_feedforward=16, dropout=0.0, batch_first=batch_first)

    def call(m, src, tgt):
        lib = _lib(m)
        mask = m.generate_square_subsequent_mask(4, dtype=src.dtype)
        padding = lib.zeros(3, 5, dtype=lib.bool)
        padding[2, 3:] = True
        return m(src, tgt, tgt_mask=mask, src_key_padding_mask=padding,
                 memory_key_padding_mask=padding)
    src, tgt = (f64(3, 5, 8), f64(3, 4, 8)) if batch_first else (f64(5, 3, 8), f64(4, 3, 8))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module_parity(make, [src, tgt], call=call, **TIGHT)


def test_transformer_init_and_mask():
    model = ember.nn.Transformer(d_model=16, nhead=4, num_encoder_layers=1, num_decoder_layers=1,
                                 dim_feedforward=32)
    reference = torch.nn.Transformer(d_model=16, nhead=4, num_encoder_layers=1,
                                     num_decoder_layers=1, dim_feedforward=32)
    assert list(model.state_dict()) == list(reference.state_dict())
    weight = model.encoder.layers[0].linear1.weight.detach().numpy()
    bound = math.sqrt(6 / (16 + 32))                    # Xavier-uniform
    assert np.abs(weight).max() <= bound and weight.std() > bound / 3
    mask = ember.nn.Transformer.generate_square_subsequent_mask(4)
    np.testing.assert_array_equal(
        mask.numpy(), torch.nn.Transformer.generate_square_subsequent_mask(4).numpy())
    assert mask.dtype == ember.float32
    copies = model.encoder.layers
    assert copies[0].linear1.weight is not model.decoder.layers[0].linear1.weight
    assert ember.nn.modules.transformer.Transformer is ember.nn.Transformer


def test_encoder_inference_on_padded_batches_matches_torchs_nested_path():
    """torch's encoder in eval mode without gradients runs padded batches as nested tensors
    and returns zeros at the padded positions (then the final norm); Ember does the same."""
    def make(L):
        layer = L.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
        return L.nn.TransformerEncoder(layer, 2, norm=L.nn.LayerNorm(8))
    padding = np.zeros((3, 5), dtype=bool)
    padding[1, 3:] = padding[2, 1:] = True

    def call(m, x):
        lib = _lib(m)
        with lib.no_grad():
            return [m(x, src_key_padding_mask=lib.from_numpy(padding)),
                    m(x, src_key_padding_mask=lib.from_numpy(padding[:, ::-1].copy()))]
    em, _, outputs = module_parity(make, [f64(3, 5, 8)], train=False, call=call, **TIGHT)
    bias = em.norm.bias.detach().numpy()
    np.testing.assert_allclose(outputs[0].numpy()[2, 1:], np.broadcast_to(bias, (4, 8)))
    with pytest.warns(UserWarning, match="batch_first was not True"):
        ember.nn.TransformerEncoder(ember.nn.TransformerEncoderLayer(8, 2), 1)
    x = ember.tensor(f64(3, 5, 8))
    with ember.no_grad():
        unchecked = em.__class__(em.layers[0], 2, norm=em.norm, mask_check=False).double().eval()
        unchecked.load_state_dict(em.state_dict())
        np.testing.assert_allclose(unchecked(x, src_key_padding_mask=ember.from_numpy(padding))
                                   .numpy(), em(x, src_key_padding_mask=ember.from_numpy(
                                       padding)).numpy(), rtol=1e-12)
        plain = em.__class__(em.layers[0], 2, norm=None, enable_nested_tensor=False).double()
        plain.eval()
        out = plain(x, src_key_padding_mask=ember.from_numpy(padding)).numpy()
        assert np.abs(out[2, 1:]).min() > 0           # padded positions computed, not zeroed


def test_transformer_custom_stacks_and_factory_keywords():
    encoder = ember.nn.TransformerEncoder(ember.nn.TransformerEncoderLayer(8, 2, 16, 0.0), 1)
    decoder = ember.nn.TransformerDecoder(ember.nn.TransformerDecoderLayer(8, 2, 16, 0.0), 1)
    model = ember.nn.Transformer(8, 2, custom_encoder=encoder, custom_decoder=decoder)
    assert model.encoder is encoder and model.decoder is decoder
    src, tgt = ember.randn(5, 2, 8), ember.randn(3, 2, 8)
    np.testing.assert_allclose(model(src, tgt).detach().numpy(),
                               decoder(tgt, encoder(src)).detach().numpy(), rtol=1e-6)
    layer = ember.nn.TransformerDecoderLayer(8, 2, 16, dtype=ember.float64, device="cpu")
    assert {str(v.dtype) for v in layer.state_dict().values()} == {"ember.float64"}
    with pytest.raises(RuntimeError, match="CPU only"):
        ember.nn.Transformer(8, 2, 1, 1, 16, device="cuda")


# ------------------------------------------------------------------------------------------
# Multi-head attention: the functional form and the weights output
# ------------------------------------------------------------------------------------------
def test_multi_head_attention_forward_matches_torch():
    """F.multi_head_attention_forward (self-attention's Q = X W_q, K = X W_k, V = X W_v,
    inventory B37) with separate projection weights, bias_k/bias_v, a zero key, static keys
    and values, and unbatched inputs."""
    e, heads, n = 6, 2, 2
    arrays = [f64(4, n, e), f64(5, n, e), f64(5, n, e), f64(3 * e, e), f64(3 * e),
              f64(1, 1, e), f64(1, 1, e), f64(e, e), f64(e), f64(e, e), f64(e, e), f64(e, e),
              f64(n * heads, 7, e // heads), f64(n * heads, 7, e // heads)]

    def run(lib, q, k, v, w, b, bk, bv, wo, bo, wq, wk, wv, sk, sv):
        F = lib.nn.functional
        common = dict(training=True, average_attn_weights=False)
        first = F.multi_head_attention_forward(q, k, v, e, heads, w, b, bk, bv, True, 0.0, wo,
                                               bo, **common)
        second = F.multi_head_attention_forward(q, k, v, e, heads, None, b, None, None, False,
                                                0.0, wo, bo, use_separate_proj_weight=True,
                                                q_proj_weight=wq, k_proj_weight=wk,
                                                v_proj_weight=wv, **common)
        third = F.multi_head_attention_forward(q, k, v, e, heads, w, b, None, None, False, 0.0,
                                               wo, bo, static_k=sk, static_v=sv)
        fourth = F.multi_head_attention_forward(q[:, 0], k[:, 0], v[:, 0], e, heads, w, b, None,
                                                None, False, 0.0, wo, bo, need_weights=False)
        return [*first, *second, *third, fourth[0]]
    e_out, t_out = run(ember, *[ember.tensor(a, requires_grad=True) for a in arrays]), \
        run(torch, *[torch.tensor(a, requires_grad=True) for a in arrays])
    for i, (a, b) in enumerate(zip(e_out, t_out)):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-10,
                                   atol=1e-10, err_msg=f"output {i}")


def test_attention_weights_output_gradcheck():
    """The weights output of the fused attention carries a gradient of its own."""
    def fn(q, k, v, w, b, wo):
        out, weights = ember.nn.functional.multi_head_attention_forward(
            q, k, v, 4, 2, w, b, None, None, False, 0.0, wo, None, average_attn_weights=False)
        return out, weights
    gradcheck64(fn, [f64(3, 2, 4), f64(5, 2, 4), f64(5, 2, 4), f64(12, 4), f64(12), f64(4, 4)])


def test_multihead_attention_float_padding_mask_causal_kernel_and_merge_masks():
    def call(m, x, float_padding):
        lib = _lib(m)
        mask = lib.nn.Transformer.generate_square_subsequent_mask(5, dtype=x.dtype)
        return [*m(x, x, x, key_padding_mask=float_padding),
                m(x, x, x, attn_mask=mask, is_causal=True, need_weights=False)[0]]
    padding = np.zeros((3, 5))
    padding[0, 3:] = -np.inf
    padding[1, 0] = -2.0
    module_parity(lambda L: L.nn.MultiheadAttention(8, 2, batch_first=True),
                  [f64(3, 5, 8), padding], requires_grad=[True, False], call=call, **TIGHT)
    mha = ember.nn.MultiheadAttention(8, 2, batch_first=True)
    reference = torch.nn.MultiheadAttention(8, 2, batch_first=True)
    mask, kpm, query = f64(5, 5), f64(3, 5), f64(3, 5, 8)
    merged, kind = mha.merge_masks(ember.tensor(mask), ember.tensor(kpm), ember.tensor(query))
    t_merged, t_kind = reference.merge_masks(torch.tensor(mask), torch.tensor(kpm),
                                             torch.tensor(query))
    assert kind == t_kind == 2
    np.testing.assert_allclose(merged.numpy(), t_merged.numpy())


def test_bahdanau_context_vector_over_recurrent_states():
    """Lecture 004 "Attention" (inventory B33): the decoder state ``s_{t-1}`` attends over the
    encoder's states ``h_i``: ``c_t = Σ_i α_{t,i} h_i`` with ``α_{t,i} = softmax_i(score(s_{t-1},
    h_i))``. With the dot score this is scaled dot-product attention with one query and scale
    1; the encoder is a GRU, and the context's gradient reaches its weights through BPTT."""
    ember.manual_seed(0)
    encoder = ember.nn.GRU(3, 5, batch_first=True, dtype=ember.float64)
    states, _ = encoder(ember.tensor(f64(2, 6, 3)))                    # h_i: (N, 6, 5)
    decoder_state = ember.tensor(f64(2, 1, 5))                          # s_{t-1}: one query
    context = ember.nn.functional.scaled_dot_product_attention(decoder_state, states, states,
                                                               scale=1.0)
    h, s = states.detach().numpy(), decoder_state.numpy()
    score = np.einsum("nqd,nkd->nqk", s, h)
    alpha = np.exp(score - score.max(-1, keepdims=True))
    alpha /= alpha.sum(-1, keepdims=True)
    np.testing.assert_allclose(context.detach().numpy(), alpha @ h, rtol=1e-12, atol=1e-15)
    context.sum().backward()
    assert np.abs(encoder.weight_hh_l0.grad.numpy()).max() > 0


# ------------------------------------------------------------------------------------------
# Positional encodings
# ------------------------------------------------------------------------------------------
def test_sinusoidal_encoding_is_the_lecture_formula():
    """Lecture 004 "Position Embedding" (inventory B32): p_{i,2j} = sin(i / 10000^{2j/d}),
    p_{i,2j+1} = cos(i / 10000^{2j/d}), P ∈ R^{n×d}."""
    n, d = 50, 6
    table = ember.nn.SinusoidalPositionalEncoding.table(n, d, dtype=ember.float64).numpy()
    for i in (0, 1, 7, 49):
        for j in range(d // 2):
            angle = i / 10000 ** (2 * j / d)
            assert table[i, 2 * j] == pytest.approx(math.sin(angle), abs=1e-15)
            assert table[i, 2 * j + 1] == pytest.approx(math.cos(angle), abs=1e-15)
    assert table[1, 0] == pytest.approx(math.sin(1.0)) and table[1, 1] == pytest.approx(
        math.cos(1.0))
    odd = ember.nn.SinusoidalPositionalEncoding.table(4, 5).numpy()
    np.testing.assert_allclose(odd[:, 4], np.sin(np.arange(4) / 10000 ** (4 / 5)), rtol=1e-6)
    other_base = ember.nn.SinusoidalPositionalEncoding(4, max_len=3, base=100.0).pe.numpy()
    np.testing.assert_allclose(other_base[2, 2], math.sin(2 / 100 ** 0.5), rtol=1e-6)


def test_positional_modules_add_to_the_tokens_and_learn():
    enc = ember.nn.SinusoidalPositionalEncoding(6, max_len=20, batch_first=True)
    x = ember.randn(2, 7, 6, requires_grad=True)
    out = enc(x)
    np.testing.assert_allclose((out - x).detach().numpy()[1], enc.pe[:7].numpy(), atol=1e-6)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 1)
    assert "pe" not in enc.state_dict()
    seq_first = ember.nn.SinusoidalPositionalEncoding(6, max_len=20)(ember.zeros(7, 3, 6))
    np.testing.assert_allclose(seq_first.numpy()[:, 2], enc.pe[:7].numpy())
    dropped = ember.nn.SinusoidalPositionalEncoding(6, max_len=20, dropout=0.5)
    ember.manual_seed(0)
    assert (dropped(ember.ones(7, 4, 6)).numpy() == 0).mean() > 0.3
    assert (dropped.eval()(ember.ones(7, 4, 6)).numpy() != 0).all()
    learned = ember.nn.LearnedPositionalEmbedding(10, 6)
    assert list(learned.state_dict()) == ["weight"]
    y = learned(ember.zeros(4, 2, 6))
    y.sum().backward()
    grad = learned.weight.grad.numpy()
    np.testing.assert_array_equal(grad[:4], 2)
    np.testing.assert_array_equal(grad[4:], 0)
    with pytest.raises(ValueError, match=r"SinusoidalPositionalEncoding\(d_model=6, max_len=20\)"):
        enc(ember.zeros(2, 21, 6))
    with pytest.raises(ValueError, match=r"LearnedPositionalEmbedding\(max_len=10, d_model=6\)"):
        learned(ember.zeros(4, 2, 5))


def test_errors_name_the_layer():
    with pytest.raises(RuntimeError, match="TransformerEncoderLayer: activation should be "
                                           "relu/gelu, not tanh"):
        ember.nn.TransformerEncoderLayer(8, 2, activation="tanh")
    with pytest.raises(RuntimeError, match="TransformerDecoderLayer: activation should be "
                                           "relu/gelu, not swish"):
        ember.nn.TransformerDecoderLayer(8, 2, activation="swish")
    layer = ember.nn.TransformerEncoderLayer(8, 2, 16)
    with pytest.raises(RuntimeError, match=r"The shape of the 2D attn_mask is \(4, 4\), but "
                                           r"should be \(5, 5\)"):
        layer(ember.randn(5, 2, 8), src_mask=ember.zeros(4, 4))
    with pytest.raises(RuntimeError, match=r"expected key_padding_mask of shape \(2, 5\)"):
        layer(ember.randn(5, 2, 8), src_key_padding_mask=ember.zeros(2, 4, dtype=ember.bool))
    with pytest.raises(TypeError, match="TransformerEncoderLayer: only bool and floating types "
                                        "of src_key_padding_mask"):
        layer(ember.randn(5, 2, 8), src_key_padding_mask=ember.zeros(2, 5, dtype=ember.int64))
    with pytest.raises(TypeError, match="TransformerEncoder: only bool and floating types of mask"):
        ember.nn.TransformerEncoder(layer, 1)(ember.randn(5, 2, 8),
                                              mask=ember.zeros(5, 5, dtype=ember.int64))
    with pytest.raises(ValueError, match=r"expected query with 8 features"):
        layer(ember.randn(5, 2, 6))
    model = ember.nn.Transformer(8, 2, 1, 1, 16)
    with pytest.raises(RuntimeError, match="the batch number of src and tgt must be equal"):
        model(ember.randn(5, 2, 8), ember.randn(4, 3, 8))
    with pytest.raises(RuntimeError, match="must be equal to d_model=8"):
        model(ember.randn(5, 2, 8), ember.randn(4, 2, 6))
