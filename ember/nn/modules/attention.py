"""``MultiheadAttention`` (``torch.nn.MultiheadAttention``) and the lectures' self-attention
inside a CNN, ``NonLocalBlock1d/2d/3d`` (not in torch).

Lecture 004 "Self-attention" (inventory B37, B34): ``Q = X W_q, K = X W_k, V = X W_v`` with W shared by all
tokens, ``softmax(Q K^T / sqrt(d)) V``; multi-head attention runs ``num_heads`` such maps on
``embed_dim / num_heads``-wide slices and mixes them with an output projection (Vaswani et
al.; not in the slides, inventory B38). Parameter names and layout are torch's, so torch checkpoints load.
"""
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

    def _check_features(self, query, key, value):
        for name, t, d in (("query", query, self.embed_dim), ("key", key, self.kdim),
                           ("value", value, self.vdim)):
            if not isinstance(t, ember.Tensor):
                raise TypeError(f"MultiheadAttention: expected {name} to be a Tensor, got "
                                f"{type(t).__name__}")
            if t.dim() and t.shape[-1] != d:
                raise ValueError(f"MultiheadAttention: expected {name} with {d} features in the "
                                 f"last dimension, got shape {tuple(t.shape)}")

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True,
                attn_mask=None, average_attn_weights=True, is_causal=False):
        """See the class docstring; ``F.multi_head_attention_forward`` does the work."""
        self._check_features(query, key, value)
        batched = query.dim() == 3
        if batched and self.batch_first:
            query, key, value = self._seq_first(query, key, value)
        out, weights = F.multi_head_attention_forward(
            query, key, value, self.embed_dim, self.num_heads, self.in_proj_weight,
            self.in_proj_bias, self.bias_k, self.bias_v, self.add_zero_attn, self.dropout,
            self.out_proj.weight, self.out_proj.bias, training=self.training,
            key_padding_mask=key_padding_mask, need_weights=need_weights, attn_mask=attn_mask,
            use_separate_proj_weight=not self._qkv_same_embed_dim,
            q_proj_weight=self.q_proj_weight, k_proj_weight=self.k_proj_weight,
            v_proj_weight=self.v_proj_weight, average_attn_weights=average_attn_weights,
            is_causal=is_causal)
        if batched and self.batch_first:
            out = out.transpose(0, 1)
        return out, weights

    def _mult_adds(self, inputs, output):
        """Multiply-adds of one call for ``ember.summary``: the query, key, value and output
        projections (the attention products multiply activations, not weights: 0)."""
        query, key, value = inputs[:3]
        e = self.embed_dim
        return (query.numel() * e + key.numel() * e + value.numel() * e
                + query.numel() // e * e * e)

    def merge_masks(self, attn_mask, key_padding_mask, query):
        """torch's helper: one mask ``(N, num_heads, L, L)`` from ``attn_mask`` ``(L, L)`` or
        ``(N·num_heads, L, L)`` and ``key_padding_mask`` ``(N, L)`` for a batch-first
        self-attention ``query (N, L, E)``; returns ``(merged_mask, mask_type)`` with
        ``mask_type`` 1 (padding mask only), 2 (attention mask given) or None."""
        mask_type, merged = None, None
        if key_padding_mask is not None:
            mask_type, merged = 1, key_padding_mask
        if attn_mask is not None:
            batch, length, _ = query.shape
            mask_type = 2
            if attn_mask.dim() == 3:
                merged = attn_mask.reshape(batch, -1, length, length)
            else:
                merged = attn_mask.reshape(1, 1, length, length).expand(
                    batch, self.num_heads, length, length)
            if key_padding_mask is not None:
                merged = merged + key_padding_mask.reshape(batch, 1, 1, length).expand(
                    batch, self.num_heads, 1, length)
        return merged, mask_type

    @staticmethod
    def _seq_first(query, key, value):
        """Batch-first inputs as sequence-first views, keeping ``query is key is value`` (the
        self-attention that takes one packed projection) true when it was."""
        if query is key and key is value:
            query = key = value = query.transpose(0, 1)
        elif key is value:
            query, key = query.transpose(0, 1), key.transpose(0, 1)
            value = key
        else:
            query, key, value = (x.transpose(0, 1) for x in (query, key, value))
        return query, key, value


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
