"""``MultiheadAttention`` (``torch.nn.MultiheadAttention``).

Lecture 004 "Self-attention" (B37): ``Q = X W_q, K = X W_k, V = X W_v`` with W shared by all
tokens, ``softmax(Q K^T / sqrt(d)) V``; multi-head attention runs ``num_heads`` such maps on
``embed_dim / num_heads``-wide slices and mixes them with an output projection (Vaswani et
al.; not in the slides). Parameter names and layout are torch's, so torch checkpoints load.
"""
import math

import ember
from ember.nn import functional as F
from ember.nn import init
from ember.nn.modules.linear import Linear
from ember.nn.modules.module import Module
from ember.nn.parameter import Parameter

__all__ = ["MultiheadAttention"]


class NonDynamicallyQuantizableLinear(Linear):
    """A ``Linear`` under torch's name for MultiheadAttention's ``out_proj`` (so the repr
    and the checkpoint layout match torch's)."""


def _float_mask(mask, dtype, who, name):
    """Boolean masks (True = not allowed) become additive ``-inf`` masks."""
    if mask is None:
        return None
    if mask.dtype == ember.bool:
        return ember.zeros(*mask.shape, dtype=dtype).masked_fill(mask, float("-inf"))
    if not mask.is_floating_point():
        raise TypeError(f"{who}: only bool and floating types of {name} are supported, got "
                        f"{mask.dtype}")
    return mask.to(dtype)


class MultiheadAttention(Module):
    """Multi-head scaled dot-product attention.

    ``forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False) -> (attn_output, attn_weights)``.

    Shapes (``batch_first=False``): query ``(L, N, E)``, key ``(S, N, kdim)``, value ``(S, N,
    vdim)`` (``(N, L, E)`` ... with ``batch_first=True``; unbatched ``(L, E)`` also works);
    output ``(L, N, E)``; weights ``(N, L, S)`` averaged over heads or ``(N, num_heads, L,
    S)``. ``attn_mask``: ``(L, S)`` or ``(N·num_heads, L, S)``, bool (True = masked) or
    additive float; ``key_padding_mask``: ``(N, S)``, True = ignore that key. ``is_causal``
    is a hint, as in torch: it requires ``attn_mask`` (the causal mask), which is what is
    applied. ``dropout`` is applied to the attention weights in training mode.

    Parameters: ``in_proj_weight (3E, E)`` (or ``q_proj_weight``, ``k_proj_weight``,
    ``v_proj_weight`` when ``kdim``/``vdim`` differ from E), ``in_proj_bias (3E,)``,
    ``out_proj`` (a Linear E -> E), ``bias_k``/``bias_v (1, 1, E)`` with ``add_bias_kv``.
    Init as torch: Xavier-uniform projections, zero in/out biases, Xavier-normal bias_k/v.
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False,
                 add_zero_attn=False, kdim=None, vdim=None, batch_first=False, device=None,
                 dtype=None):
        super().__init__()
        ember.device(device or "cpu")
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"MultiheadAttention: embed_dim and num_heads must be greater than "
                             f"0, got embed_dim={embed_dim} and num_heads={num_heads} instead")
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        if self.head_dim * num_heads != embed_dim:
            raise AssertionError(f"MultiheadAttention: embed_dim ({embed_dim}) must be divisible "
                                 f"by num_heads ({num_heads})")
        if not self._qkv_same_embed_dim:
            self.q_proj_weight = Parameter(ember.empty(embed_dim, embed_dim, dtype=dtype))
            self.k_proj_weight = Parameter(ember.empty(embed_dim, self.kdim, dtype=dtype))
            self.v_proj_weight = Parameter(ember.empty(embed_dim, self.vdim, dtype=dtype))
            self.register_parameter("in_proj_weight", None)
        else:
            self.in_proj_weight = Parameter(ember.empty(3 * embed_dim, embed_dim, dtype=dtype))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(ember.empty(3 * embed_dim, dtype=dtype))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias,
                                                        dtype=dtype)
        if add_bias_kv:
            self.bias_k = Parameter(ember.empty(1, 1, embed_dim, dtype=dtype))
            self.bias_v = Parameter(ember.empty(1, 1, embed_dim, dtype=dtype))
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self):
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
        if self.bias_v is not None:
            init.xavier_normal_(self.bias_v)

    def _projections(self, query, key, value):
        e = self.embed_dim
        b = self.in_proj_bias
        bq, bk, bv = (None, None, None) if b is None else (b[:e], b[e:2 * e], b[2 * e:])
        if self._qkv_same_embed_dim:
            w = self.in_proj_weight
            wq, wk, wv = w[:e], w[e:2 * e], w[2 * e:]
        else:
            wq, wk, wv = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        return F.linear(query, wq, bq), F.linear(key, wk, bk), F.linear(value, wv, bv)

    def _check_shapes(self, query, key, value):
        who = "MultiheadAttention"
        if query.dim() not in (2, 3):
            raise ValueError(f"{who}: expected query to be 2-D (unbatched) or 3-D (batched), got "
                             f"shape {tuple(query.shape)}")
        if key.dim() != query.dim() or value.dim() != query.dim():
            raise ValueError(f"{who}: query, key and value must have the same number of "
                             f"dimensions, got shapes {tuple(query.shape)}, {tuple(key.shape)}, "
                             f"{tuple(value.shape)}")
        for name, t, d in (("query", query, self.embed_dim), ("key", key, self.kdim),
                           ("value", value, self.vdim)):
            if t.shape[-1] != d:
                raise ValueError(f"{who}: expected {name} with {d} features in the last "
                                 f"dimension, got shape {tuple(t.shape)}")

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True,
                attn_mask=None, average_attn_weights=True, is_causal=False):
        self._check_shapes(query, key, value)
        if is_causal and attn_mask is None:
            raise RuntimeError("MultiheadAttention: need attn_mask if specifying the is_causal "
                               "hint (e.g. ember.ones(L, L, dtype=ember.bool).triu(1))")
        batched = query.dim() == 3
        if batched and self.batch_first:
            query, key, value = (x.transpose(0, 1) for x in (query, key, value))
        if not batched:
            query, key, value = (x.unsqueeze(1) for x in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        tgt_len, bsz, e = query.shape
        heads, hd = self.num_heads, self.head_dim
        dtype = query.dtype
        attn_mask = _float_mask(attn_mask, dtype, "MultiheadAttention", "attn_mask")
        key_padding_mask = _float_mask(key_padding_mask, dtype, "MultiheadAttention",
                                       "key_padding_mask")
        if attn_mask is not None:
            expected3 = (bsz * heads, tgt_len, key.shape[0])
            if attn_mask.dim() == 2:
                if tuple(attn_mask.shape) != (tgt_len, key.shape[0]):
                    raise RuntimeError(f"MultiheadAttention: the shape of the 2D attn_mask is "
                                       f"{tuple(attn_mask.shape)}, but should be "
                                       f"{(tgt_len, key.shape[0])}.")
                attn_mask = attn_mask.unsqueeze(0)
            elif attn_mask.dim() != 3 or tuple(attn_mask.shape) != expected3:
                raise RuntimeError(f"MultiheadAttention: the shape of attn_mask is "
                                   f"{tuple(attn_mask.shape)}, but should be (L, S) = "
                                   f"{expected3[1:]} or (N*num_heads, L, S) = {expected3}.")

        q, k, v = self._projections(query, key, value)
        if self.bias_k is not None:
            k = ember.cat([k, self.bias_k.expand(1, bsz, e)])
            v = ember.cat([v, self.bias_v.expand(1, bsz, e)])
            if attn_mask is not None:
                attn_mask = F.pad(attn_mask, (0, 1))
            if key_padding_mask is not None:
                key_padding_mask = F.pad(key_padding_mask, (0, 1))
        q = q.reshape(tgt_len, bsz * heads, hd).transpose(0, 1)
        k = k.reshape(k.shape[0], bsz * heads, hd).transpose(0, 1)
        v = v.reshape(v.shape[0], bsz * heads, hd).transpose(0, 1)
        if self.add_zero_attn:
            k = ember.cat([k, ember.zeros(bsz * heads, 1, hd, dtype=dtype)], dim=1)
            v = ember.cat([v, ember.zeros(bsz * heads, 1, hd, dtype=dtype)], dim=1)
            if attn_mask is not None:
                attn_mask = F.pad(attn_mask, (0, 1))
            if key_padding_mask is not None:
                key_padding_mask = F.pad(key_padding_mask, (0, 1))
        src_len = k.shape[1]
        if key_padding_mask is not None:
            if tuple(key_padding_mask.shape) != (bsz, src_len):
                raise RuntimeError(f"MultiheadAttention: expected key_padding_mask of shape "
                                   f"{(bsz, src_len)}, got {tuple(key_padding_mask.shape)}")
            kpm = key_padding_mask.reshape(bsz, 1, 1, src_len).expand(bsz, heads, 1, src_len)
            kpm = kpm.reshape(bsz * heads, 1, src_len)
            attn_mask = kpm if attn_mask is None else attn_mask + kpm

        scores = ember.matmul(q * math.sqrt(1.0 / hd), k.transpose(-2, -1))
        if attn_mask is not None:
            scores = scores + attn_mask
        weights = F.softmax(scores, dim=-1)
        p = self.dropout if self.training else 0.0
        if p > 0:
            weights = F.dropout(weights, p=p)
        out = ember.matmul(weights, v)
        out = out.transpose(0, 1).reshape(tgt_len * bsz, e)
        out = self.out_proj(out).reshape(tgt_len, bsz, e)
        if not batched:
            out = out.squeeze(1)
        elif self.batch_first:
            out = out.transpose(0, 1)
        if not need_weights:
            return out, None
        weights = weights.reshape(bsz, heads, tgt_len, src_len)
        if average_attn_weights:
            weights = weights.mean(dim=1)
        if not batched:
            weights = weights.squeeze(0)
        return out, weights
