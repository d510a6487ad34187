"""``MultiheadAttention`` (``torch.nn.MultiheadAttention``) and the lectures' self-attention
inside a CNN, ``NonLocalBlock1d/2d/3d`` (not in torch).

Lecture 004 "Self-attention" (inventory B37, B34): ``Q = X W_q, K = X W_k, V = X W_v`` with W shared by all
tokens, ``softmax(Q K^T / sqrt(d)) V``; multi-head attention runs ``num_heads`` such maps on
``embed_dim / num_heads``-wide slices and mixes them with an output projection (Vaswani et
al.; not in the slides, inventory B38). Parameter names and layout are torch's, so torch checkpoints load.
"""
import math

import ember
from ember.nn import functional as F
from ember.nn import init
from ember.nn.modules.container import Sequential
from ember.nn.modules.conv import Conv1d, Conv2d, Conv3d
from ember.nn.modules.linear import Linear
from ember.nn.modules.arguments import integer_arguments
from ember.nn.modules.module import Module
from ember.nn.modules.normalization import BatchNorm1d, BatchNorm2d, BatchNorm3d
from ember.nn.modules.pooling import MaxPool1d, MaxPool2d, MaxPool3d
from ember.nn.parameter import Parameter

__all__ = ["MultiheadAttention", "NonLocalBlock1d", "NonLocalBlock2d", "NonLocalBlock3d"]


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

    @integer_arguments(counts=("embed_dim", "num_heads", "kdim", "vdim"))
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


_NON_LOCAL_MODES = ("embedded_gaussian", "gaussian", "dot_product")


class _NonLocalBlockNd(Module):
    _n = 2
    _conv, _norm, _pool = Conv2d, BatchNorm2d, MaxPool2d
    _pool_kernel = 2

    def __init__(self, in_channels, inter_channels=None, mode="embedded_gaussian",
                 sub_sample=False, bn_layer=True):
        super().__init__()
        who = type(self).__name__
        if mode not in _NON_LOCAL_MODES:
            raise ValueError(f"{who}: mode must be one of {list(_NON_LOCAL_MODES)}, got {mode!r}")
        if inter_channels is None:
            inter_channels = max(in_channels // 2, 1)
        if in_channels < 1 or inter_channels < 1:
            raise ValueError(f"{who}: in_channels and inter_channels must be positive, got "
                             f"{in_channels} and {inter_channels}")
        self.in_channels = in_channels
        self.inter_channels = inter_channels
        self.mode = mode
        self.sub_sample = sub_sample
        self.bn_layer = bn_layer
        conv, pool = self._conv, self._pool
        self.g = conv(in_channels, inter_channels, 1)
        if mode != "gaussian":
            self.theta = conv(in_channels, inter_channels, 1)
            self.phi = conv(in_channels, inter_channels, 1)
        if sub_sample:
            self.g = Sequential(self.g, pool(self._pool_kernel))
            self.phi = Sequential(self.phi, pool(self._pool_kernel)) if mode != "gaussian" \
                else pool(self._pool_kernel)
        if bn_layer:
            self.W = Sequential(conv(inter_channels, in_channels, 1), self._norm(in_channels))
            last = self.W[1]
        else:
            self.W = conv(inter_channels, in_channels, 1)
            last = self.W
        # zero output: the block starts as the identity and learns what to add
        init.zeros_(last.weight)
        init.zeros_(last.bias)

    def forward(self, x):
        who, n = self._get_name(), self._n
        if x.dim() != n + 2 or x.shape[1] != self.in_channels:
            raise ValueError(f"{who}: expected input (N, {self.in_channels}, "
                             f"{', '.join('*' * n)}), got input of shape {tuple(x.shape)}")
        batch = x.shape[0]

        def positions(t):                       # (N, C, *spatial) -> (N, positions, C)
            return t.flatten(2).transpose(1, 2)
        values = positions(self.g(x))
        if self.mode == "gaussian":
            queries = positions(x)
            keys = positions(self.phi(x)) if self.sub_sample else queries
        else:
            queries, keys = positions(self.theta(x)), positions(self.phi(x))
        if self.mode == "dot_product":
            affinity = ember.matmul(queries, keys.transpose(1, 2)) / keys.shape[1]
            y = ember.matmul(affinity, values)
        else:
            y = F.scaled_dot_product_attention(queries, keys, values, scale=1.0)
        y = y.transpose(1, 2).reshape(batch, self.inter_channels, *x.shape[2:])
        return self.W(y) + x

    def extra_repr(self):
        return (f"{self.in_channels}, inter_channels={self.inter_channels}, mode={self.mode!r}, "
                f"sub_sample={self.sub_sample}, bn_layer={self.bn_layer}")


class NonLocalBlock1d(_NonLocalBlockNd):
    """Non-local block over sequences ``(N, C, L)``; see :class:`NonLocalBlock2d`."""
    _n = 1
    _conv, _norm, _pool = Conv1d, BatchNorm1d, MaxPool1d


class NonLocalBlock2d(_NonLocalBlockNd):
    """Self-attention inside a CNN, added back to the features as a residual (Wang et al.
    2018; lecture 003 「使用CNN的Self-Attention」 "以残差形式加到原特征上", inventory B39)::

        y_i = (1 / C(x)) Σ_j f(x_i, x_j) · g(x_j),        z = W_z y + x

    over all positions ``i, j`` of the feature map ``(N, C, H, W) -> (N, C, H, W)``. ``g``,
    θ, φ and ``W_z`` are 1×1 convolutions (C → ``inter_channels`` → C, default C // 2).
    ``mode``: ``'embedded_gaussian'`` (default) ``f = exp(θ(x_i)ᵀ φ(x_j))`` normalized by a
    softmax over j, i.e. scaled dot-product attention with queries θ(x), keys φ(x), values
    g(x) and scale 1; ``'gaussian'`` the same on ``x`` itself (no θ, φ); ``'dot_product'``
    ``f = θ(x_i)ᵀ φ(x_j)`` divided by the number of positions j. ``sub_sample=True``
    max-pools the keys and values by 2 in space (fewer positions j). ``bn_layer=True`` puts a
    BatchNorm after ``W_z``; its γ and β (or ``W_z`` itself without it) start at zero, so the
    block starts as the identity. Submodule names follow the authors' reference code (``g``,
    ``theta``, ``phi``, ``W``). Not in torch.
    """
    _n = 2


class NonLocalBlock3d(_NonLocalBlockNd):
    """Spatio-temporal non-local block over videos ``(N, C, T, H, W)`` (lecture 003
    "Spatio-Temporal Self-Attention (Nonlocal Block)", inventory B39): every position attends
    to every position of every frame. ``sub_sample`` pools space only (kernel ``(1, 2, 2)``).
    See :class:`NonLocalBlock2d`."""
    _n = 3
    _conv, _norm, _pool = Conv3d, BatchNorm3d, MaxPool3d
    _pool_kernel = (1, 2, 2)
