"""The Transformer (``torch.nn.modules.transformer``) and positional encodings.

Lecture 004 "Transformer" (``004_25213424c1456006.txt`` L901–1027, inventory B34–B38, D29):
self-attention lets every token look at every other ("Allow for parallel computation!"), and
since "Transformer contains no recurrence and no convolution", the order of the tokens is
injected by adding a position embedding (B32). An encoder layer is self-attention followed
by a position-wise feed-forward network, each wrapped in a residual connection and a layer
normalization (after the sum, ``norm_first=False``, as in the paper; before the block,
``norm_first=True``); a decoder layer adds attention over the encoder's output ("memory")
between the two, and a causal mask keeps each target token from seeing later ones.

``Transformer``, ``TransformerEncoder``, ``TransformerDecoder``, ``TransformerEncoderLayer``
and ``TransformerDecoderLayer`` have torch's arguments, submodule names and ``state_dict``
keys (``layers.0.self_attn.in_proj_weight``, ``layers.0.linear1.weight``, ``norm1`` ...).
``SinusoidalPositionalEncoding`` (the lecture's formula) and ``LearnedPositionalEmbedding``
are Ember's: torch has no module for either.
"""
import copy
import warnings

import numpy as np

import ember
from ember.nn import functional as F
from ember.nn import init
from ember.nn.modules.activation import GELU, ReLU
from ember.nn.modules.attention import MultiheadAttention
from ember.nn.modules.container import ModuleList
from ember.nn.modules.dropout import Dropout
from ember.nn.modules.linear import Linear
from ember.nn.modules.module import Module
from ember.nn.modules.normalization import LayerNorm
from ember.nn.parameter import Parameter

__all__ = ["Transformer", "TransformerEncoder", "TransformerDecoder", "TransformerEncoderLayer",
           "TransformerDecoderLayer", "SinusoidalPositionalEncoding",
           "LearnedPositionalEmbedding"]


def _generate_square_subsequent_mask(sz, device=None, dtype=None):
    """``(sz, sz)`` float mask: 0 on and below the diagonal, ``-inf`` above (position ``i``
    may attend to ``j <= i`` only)."""
    ember.device(device or "cpu")
    return ember.full((sz, sz), float("-inf"), dtype=dtype).triu(1)


def _get_activation_fn(activation, layer=None):
    """torch's helper of the same name (programs import it); ``layer`` names the caller in
    the error."""
    if activation == "relu":
        return F.relu
    if activation == "gelu":
        return F.gelu
    where = f"{layer}: " if layer else ""
    raise RuntimeError(f"{where}activation should be relu/gelu, not {activation}")


def _get_clones(module, n):
    return ModuleList([copy.deepcopy(module) for _ in range(n)])


def _seq_len(src, batch_first):
    return src.shape[0] if src.dim() == 2 else src.shape[1 if batch_first else 0]


def _detect_is_causal_mask(mask, is_causal=None, size=None):
    """``is_causal`` when given; otherwise whether ``mask`` equals the causal mask of
    ``size`` (torch's rule, so a causal mask takes the kernel's causal path)."""
    make_causal = is_causal is True
    if is_causal is None and mask is not None:
        size = size if size is not None else mask.shape[-2]
        causal = _generate_square_subsequent_mask(size, dtype=mask.dtype)
        make_causal = tuple(mask.shape) == (size, size) and bool((mask == causal).all())
    return make_causal


def _check_mask_type(mask, name, layer):
    if mask is not None and mask.dtype != ember.bool and not mask.is_floating_point():
        raise TypeError(f"{layer}: only bool and floating types of {name} are supported, got "
                        f"{mask.dtype}")


class TransformerEncoderLayer(Module):
    """Self-attention and a feed-forward network, each in a residual connection with layer
    normalization (Vaswani et al.; lecture 004 "Transformer", inventory B37/B38)::

        norm_first=False:  x = norm1(x + SA(x));   x = norm2(x + FF(x))
        norm_first=True:   x = x + SA(norm1(x));   x = x + FF(norm2(x))
        SA(x) = dropout1(self_attn(x, x, x)),   FF(x) = dropout2(linear2(dropout(act(linear1(x)))))

    ``(S, N, d_model)`` (``(N, S, d_model)`` with ``batch_first``, or unbatched ``(S,
    d_model)``) -> same shape. ``activation``: ``"relu"``, ``"gelu"`` or any callable;
    ``bias=False`` drops the biases of the linear layers, the attention and the norms.
    ``forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False)``: masks as in
    :class:`~ember.nn.MultiheadAttention`; ``is_causal`` is a hint that ``src_mask`` is causal.
    """

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation=F.relu,
                 layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True,
                 device=None, dtype=None):
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, **factory)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **factory)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **factory)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        if isinstance(activation, str):
            activation = _get_activation_fn(activation, "TransformerEncoderLayer")
        if activation is F.relu or isinstance(activation, ReLU):
            self.activation_relu_or_gelu = 1
        elif activation is F.gelu or isinstance(activation, GELU):
            self.activation_relu_or_gelu = 2
        else:
            self.activation_relu_or_gelu = 0
        self.activation = activation

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        _check_mask_type(src_key_padding_mask, "src_key_padding_mask", "TransformerEncoderLayer")
        _check_mask_type(src_mask, "src_mask", "TransformerEncoderLayer")
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal=False):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x):
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerDecoderLayer(Module):
    """Self-attention on the target, attention over the encoder's ``memory``, and a
    feed-forward network, each in a residual connection with layer normalization::

        norm_first=False:  x = norm1(x + SA(x));  x = norm2(x + MHA(x, mem));  x = norm3(x + FF(x))
        norm_first=True:   x = x + SA(norm1(x));  x = x + MHA(norm2(x), mem);  x = x + FF(norm3(x))

    ``tgt (T, N, d_model)``, ``memory (S, N, d_model)`` (batch first with ``batch_first``)
    -> ``(T, N, d_model)``. ``forward(tgt, memory, tgt_mask=None, memory_mask=None,
    tgt_key_padding_mask=None, memory_key_padding_mask=None, tgt_is_causal=False,
    memory_is_causal=False)``. Other arguments as :class:`TransformerEncoderLayer`.
    """

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation=F.relu,
                 layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True,
                 device=None, dtype=None):
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout,
                                            batch_first=batch_first, bias=bias, **factory)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout,
                                                 batch_first=batch_first, bias=bias, **factory)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **factory)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **factory)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.activation = _get_activation_fn(activation, "TransformerDecoderLayer") \
            if isinstance(activation, str) else activation

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False):
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask,
                                    memory_key_padding_mask, memory_is_causal)
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask,
                                               memory_is_causal))
            x = self.norm3(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal=False):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           is_causal=is_causal, need_weights=False)[0]
        return self.dropout1(x)

    def _mha_block(self, x, mem, attn_mask, key_padding_mask, is_causal=False):
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask,
                                key_padding_mask=key_padding_mask, is_causal=is_causal,
                                need_weights=False)[0]
        return self.dropout2(x)

    def _ff_block(self, x):
        return self.dropout3(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerEncoder(Module):
    """``num_layers`` deep copies of ``encoder_layer`` (``layers.0`` ... — the copies start
    with the same weights, as in torch) and an optional final ``norm``.

    ``forward(src, mask=None, src_key_padding_mask=None, is_causal=None)``: ``is_causal=None``
    detects a causal ``mask``. ``enable_nested_tensor`` (with ``mask_check``) reproduces
    torch's inference path for padded batches: in evaluation mode without gradients, with a
    ``src_key_padding_mask`` whose padding is at the end of each sequence and no ``mask``,
    torch runs the layers on the unpadded tokens only (nested tensors) and returns zeros at
    the padded positions (before the final ``norm``); Ember computes the padded batch and
    zeroes those positions, so the outputs match. ``mask_check=False`` skips the check that
    the padding is at the end.
    """

    def __init__(self, encoder_layer, num_layers, norm=None, enable_nested_tensor=True,
                 mask_check=True):
        super().__init__()
        self.layers = _get_clones(encoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm
        self.enable_nested_tensor = enable_nested_tensor
        self.use_nested_tensor = enable_nested_tensor
        self.mask_check = mask_check
        reason = self._why_not_nested(encoder_layer)
        if enable_nested_tensor and reason:
            warnings.warn(f"enable_nested_tensor is True, but self.use_nested_tensor is False "
                          f"because {reason}", stacklevel=2)
            self.use_nested_tensor = False

    @staticmethod
    def _why_not_nested(layer):
        """torch's conditions on the layer for its nested-tensor path ('' when they hold)."""
        if not isinstance(layer, TransformerEncoderLayer):
            return "encoder_layer was not TransformerEncoderLayer"
        if layer.norm_first:
            return "encoder_layer.norm_first was True"
        if not layer.self_attn.batch_first:
            return ("encoder_layer.self_attn.batch_first was not True(use batch_first for better "
                    "inference performance)")
        if not layer.self_attn._qkv_same_embed_dim:
            return "encoder_layer.self_attn._qkv_same_embed_dim was not True"
        if layer.self_attn.in_proj_bias is None:
            return "encoder_layer.self_attn was passed bias=False"
        if not layer.activation_relu_or_gelu:
            return "encoder_layer.activation_relu_or_gelu was not True"
        if layer.norm1.eps != layer.norm2.eps:
            return "encoder_layer.norm1.eps was not equal to encoder_layer.norm2.eps"
        if layer.self_attn.num_heads % 2 == 1:
            return "encoder_layer.self_attn.num_heads is odd"
        return ""

    def _zero_padding(self, src, mask, key_padding_mask):
        """Whether torch would take its nested-tensor path for this call (see the class)."""
        if not self.use_nested_tensor or self.layers[0].training or src.dim() != 3 or \
                key_padding_mask is None or mask is not None:
            return False
        if ember.is_grad_enabled() and (src.requires_grad or any(
                p.requires_grad for p in self.layers[0].parameters())):
            return False
        padding = key_padding_mask.detach().numpy()
        padding = padding != 0 if padding.dtype != np.bool_ else padding
        if self.mask_check and np.any(padding[:, :-1] & ~padding[:, 1:]):
            return False                # padding not at the end of every sequence
        return True

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        _check_mask_type(src_key_padding_mask, "src_key_padding_mask", "TransformerEncoder")
        _check_mask_type(mask, "mask", "TransformerEncoder")
        first = self.layers[0]
        batch_first = first.self_attn.batch_first
        is_causal = _detect_is_causal_mask(mask, is_causal, _seq_len(src, batch_first))
        zero_padding = self._zero_padding(src, mask, src_key_padding_mask)
        output = src
        for mod in self.layers:
            output = mod(output, src_mask=mask, is_causal=is_causal,
                         src_key_padding_mask=src_key_padding_mask)
        if zero_padding:
            keep = ember.from_numpy(~(src_key_padding_mask.detach().numpy() != 0))
            output = output * keep.unsqueeze(-1).to(output.dtype)
        if self.norm is not None:
            output = self.norm(output)
        return output


class TransformerDecoder(Module):
    """``num_layers`` deep copies of ``decoder_layer`` and an optional final ``norm``.
    ``forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False)``;
    ``tgt_is_causal=None`` detects a causal ``tgt_mask``."""

    def __init__(self, decoder_layer, num_layers, norm=None):
        super().__init__()
        self.layers = _get_clones(decoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False):
        output = tgt
        tgt_is_causal = _detect_is_causal_mask(
            tgt_mask, tgt_is_causal, _seq_len(tgt, self.layers[0].self_attn.batch_first))
        for mod in self.layers:
            output = mod(output, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                         tgt_key_padding_mask=tgt_key_padding_mask,
                         memory_key_padding_mask=memory_key_padding_mask,
                         tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)
        if self.norm is not None:
            output = self.norm(output)
        return output


class Transformer(Module):
    """The encoder-decoder Transformer (Vaswani et al., "Attention Is All You Need"; lecture
    004 L901–1027, inventory D29): ``num_encoder_layers`` encoder layers with a final
    LayerNorm, ``num_decoder_layers`` decoder layers with a final LayerNorm; every parameter
    of two or more dims Xavier-uniform.

    ``forward(src, tgt, src_mask=None, tgt_mask=None, memory_mask=None,
    src_key_padding_mask=None, tgt_key_padding_mask=None, memory_key_padding_mask=None,
    src_is_causal=None, tgt_is_causal=None, memory_is_causal=False)``: ``src (S, N, E)``,
    ``tgt (T, N, E)`` (batch first with ``batch_first``; unbatched without ``N``) -> ``(T, N,
    E)``. ``custom_encoder`` / ``custom_decoder`` replace the stacks.
    """

    def __init__(self, d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6,
                 dim_feedforward=2048, dropout=0.1, activation=F.relu, custom_encoder=None,
                 custom_decoder=None, layer_norm_eps=1e-5, batch_first=False, norm_first=False,
                 bias=True, device=None, dtype=None):
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        layer_args = (d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                      batch_first, norm_first, bias)
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            self.encoder = TransformerEncoder(
                TransformerEncoderLayer(*layer_args, **factory), num_encoder_layers,
                LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory))
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            self.decoder = TransformerDecoder(
                TransformerDecoderLayer(*layer_args, **factory), num_decoder_layers,
                LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory))
        self._reset_parameters()
        self.d_model = d_model
        self.nhead = nhead
        self.batch_first = batch_first

    def forward(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None,
                src_key_padding_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
                memory_is_causal=False):
        batched = src.dim() == 3
        batch_dim = 0 if self.batch_first else 1
        if batched and src.shape[batch_dim] != tgt.shape[batch_dim]:
            raise RuntimeError(f"Transformer: the batch number of src and tgt must be equal, got "
                               f"src {tuple(src.shape)} and tgt {tuple(tgt.shape)} "
                               f"(batch_first={self.batch_first})")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise RuntimeError(f"Transformer: the feature number of src and tgt must be equal to "
                               f"d_model={self.d_model}, got src {tuple(src.shape)} and tgt "
                               f"{tuple(tgt.shape)}")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask,
                              is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask,
                            tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz, device=None, dtype=None):
        """The causal mask ``(sz, sz)``: ``-inf`` above the diagonal, 0 elsewhere."""
        return _generate_square_subsequent_mask(sz, device=device, dtype=dtype)

    def _reset_parameters(self):
        for p in self.parameters():
            if p.dim() > 1:
                init.xavier_uniform_(p)


# ------------------------------------------------------------------------------------------
# Positional encodings (not in torch)
# ------------------------------------------------------------------------------------------
class SinusoidalPositionalEncoding(Module):
    """Adds the fixed sinusoidal position embedding of lecture 004 "Position Embedding"
    (L1013–1023, inventory B32) to a sequence of token embeddings::

        p_{i,2j}   = sin(i / 10000^{2j/d})
        p_{i,2j+1} = cos(i / 10000^{2j/d})          P ∈ R^{n×d}: n tokens, d dims

    ``(S, N, d_model)`` (``(N, S, d_model)`` with ``batch_first``, or ``(S, d_model)``) ->
    same shape, ``x + P[:S]`` followed by ``Dropout(dropout)`` (the Transformer paper's
    dropout on the sums). ``P`` for ``max_len`` positions is the non-persistent buffer ``pe``
    ``(max_len, d_model)`` (recomputed on construction, not stored in checkpoints);
    :meth:`table` computes it for any size. ``base`` is the lecture's 10000.
    """

    def __init__(self, d_model, max_len=5000, dropout=0.0, batch_first=False, base=10000.0):
        super().__init__()
        self.d_model, self.max_len, self.batch_first, self.base = d_model, max_len, \
            batch_first, base
        self.dropout = Dropout(dropout)
        self.register_buffer("pe", self.table(max_len, d_model, base), persistent=False)

    @staticmethod
    def table(n, d, base=10000.0, dtype=None):
        """The ``(n, d)`` matrix ``P`` of the lecture's formula (an odd ``d`` ends with a sine
        column)."""
        position = np.arange(n, dtype=np.float64)[:, None]
        rate = base ** (np.arange(0, d, 2, dtype=np.float64) / d)      # 10000^{2j/d}
        table = np.empty((n, d))
        table[:, 0::2] = np.sin(position / rate)
        table[:, 1::2] = np.cos(position / rate[:d // 2])
        dtype = dtype or ember.get_default_dtype()
        return ember.from_numpy(table).to(dtype)

    def forward(self, x):
        seq = x.shape[1] if self.batch_first and x.dim() == 3 else x.shape[0]
        if x.shape[-1] != self.d_model or seq > self.max_len:
            raise ValueError(f"SinusoidalPositionalEncoding(d_model={self.d_model}, max_len="
                             f"{self.max_len}): got input of shape {tuple(x.shape)}")
        table = self.pe[:seq].to(x.dtype)
        if x.dim() == 3:
            table = table.unsqueeze(0 if self.batch_first else 1)
        return self.dropout(x + table)

    def extra_repr(self):
        return (f"d_model={self.d_model}, max_len={self.max_len}, "
                f"batch_first={self.batch_first}")


class LearnedPositionalEmbedding(Module):
    """Adds a learned embedding per position (as ViT and BERT do, instead of the fixed
    sinusoids): ``x + weight[:S]`` for ``(S, N, d_model)`` (``(N, S, d_model)`` with
    ``batch_first``, or ``(S, d_model)``). ``weight (max_len, d_model)`` starts
    ``N(0, 0.02²)``."""

    def __init__(self, max_len, d_model, batch_first=False, device=None, dtype=None):
        super().__init__()
        ember.device(device or "cpu")
        self.max_len, self.d_model, self.batch_first = max_len, d_model, batch_first
        self.weight = Parameter(ember.empty(max_len, d_model, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self):
        init.normal_(self.weight, std=0.02)

    def forward(self, x):
        seq = x.shape[1] if self.batch_first and x.dim() == 3 else x.shape[0]
        if x.shape[-1] != self.d_model or seq > self.max_len:
            raise ValueError(f"LearnedPositionalEmbedding(max_len={self.max_len}, d_model="
                             f"{self.d_model}): got input of shape {tuple(x.shape)}")
        table = self.weight[:seq]
        if x.dim() == 3:
            table = table.unsqueeze(0 if self.batch_first else 1)
        return x + table

    def extra_repr(self):
        return f"{self.max_len}, {self.d_model}, batch_first={self.batch_first}"

