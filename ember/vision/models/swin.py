"""Swin Transformers (Liu et al. 2021; lecture 004 L1043–1052 and lecture 003 L7408–7421,
inventory B43): "Only perform self-attentions within each window; by shifting the window,
boundary patches can interact with more patches", and hierarchical stages
("分阶段在不同尺度内部做transformer") joined by patch merging.

torchvision's ``SwinTransformer`` and builders ``swin_t``, ``swin_s``, ``swin_b`` with its
names, arguments, initialization and ``state_dict`` keys (``features.1.0.attn.qkv.weight``,
``...attn.relative_position_bias_table``, the ``relative_position_index`` buffer,
``features.2.reduction.weight`` ...), so the parameter counts equal torchvision's (28,288,354
for ``swin_t``); ``swin_mnist`` is a small one for 28x28 digits.

A stage works on channels-last token maps ``(N, H, W, C)``:

- :func:`shifted_window_attention` cuts the map into ``window_size`` windows (after rolling
  it by ``-shift_size`` in every other block), runs multi-head self-attention inside each
  window with a learned *relative position bias* (one value per head and relative offset
  ``(Δh, Δw)``), masks the pairs of tokens that the roll brought together from opposite
  edges of the image, and rolls back;
- :class:`PatchMerging` concatenates each 2x2 neighbourhood (``4C`` channels), normalizes and
  projects it to ``2C``: half the resolution, twice the width, like a CNN's stages.
"""
from functools import partial

import numpy as np

import ember
from ember import nn
from ember.nn import functional as F
from ember.vision.models._utils import _check_weights
from ember.vision.models.blocks import MLP, Permute, StochasticDepth

__all__ = ["SwinTransformer", "SwinTransformerBlock", "ShiftedWindowAttention", "PatchMerging",
           "shifted_window_attention", "swin_t", "swin_s", "swin_b", "swin_mnist"]


def _patch_merging_pad(x):
    """``(*, H, W, C) -> (*, ⌈H/2⌉, ⌈W/2⌉, 4C)``: the four pixels of each 2x2 block side by
    side (padding odd sizes with zeros), in torchvision's order (0,0), (1,0), (0,1), (1,1)."""
    h, w = x.shape[-3], x.shape[-2]
    x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
    return ember.cat([x[..., 0::2, 0::2, :], x[..., 1::2, 0::2, :], x[..., 0::2, 1::2, :],
                      x[..., 1::2, 1::2, :]], -1)


class PatchMerging(nn.Module):
    """``(N, H, W, C) -> (N, H/2, W/2, 2C)``: ``reduction(norm(2x2 blocks as 4C channels))``."""

    def __init__(self, dim, norm_layer=nn.LayerNorm):
        super().__init__()
        self.dim = dim
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = norm_layer(4 * dim)

    def forward(self, x):
        return self.reduction(self.norm(_patch_merging_pad(x)))


def _relative_position_index(window_size):
    """``(Wh·Ww)²`` indices into the bias table: for tokens ``a`` and ``b`` of a window, the
    row of their offset ``(h_a - h_b + Wh - 1) (2 Ww - 1) + (w_a - w_b + Ww - 1)``."""
    wh, ww = window_size
    coords = np.stack(np.meshgrid(np.arange(wh), np.arange(ww), indexing="ij")).reshape(2, -1)
    relative = (coords[:, :, None] - coords[:, None, :]).transpose(1, 2, 0)
    relative[:, :, 0] += wh - 1
    relative[:, :, 1] += ww - 1
    relative[:, :, 0] *= 2 * ww - 1
    return relative.sum(-1).reshape(-1).astype(np.int64)


def _shift_mask(pad_h, pad_w, window_size, shift_size):
    """``(windows, Wh·Ww, Wh·Ww)`` additive mask of the shifted windows: -100 between tokens
    that come from different regions of the un-rolled map (torchvision's value), 0 within."""
    regions = np.zeros((pad_h, pad_w))
    count = 0
    for h in ((0, -window_size[0]), (-window_size[0], -shift_size[0]), (-shift_size[0], None)):
        for w in ((0, -window_size[1]), (-window_size[1], -shift_size[1]),
                  (-shift_size[1], None)):
            regions[h[0]:h[1], w[0]:w[1]] = count
            count += 1
    regions = regions.reshape(pad_h // window_size[0], window_size[0], pad_w // window_size[1],
                              window_size[1]).transpose(0, 2, 1, 3)
    regions = regions.reshape(-1, window_size[0] * window_size[1])
    differ = regions[:, None, :] != regions[:, :, None]
    return ember.from_numpy(np.where(differ, -100.0, 0.0))


def shifted_window_attention(input, qkv_weight, proj_weight, relative_position_bias, window_size,
                             num_heads, shift_size, attention_dropout=0.0, dropout=0.0,
                             qkv_bias=None, proj_bias=None, training=True):
    """Window multi-head self-attention with optional shift (torchvision's function of the
    same name, Swin V1).

    ``input (N, H, W, C)`` is padded to multiples of the window, rolled by ``-shift_size``
    (a shift is dropped along an axis the window already covers), cut into windows of
    ``Wh·Ww`` tokens; inside each window ``softmax(Q K^T / sqrt(C/heads) + B + M) V`` with the
    relative position bias ``B (1, heads, Wh·Ww, Wh·Ww)`` and, when shifted, the mask ``M``
    of :func:`_shift_mask`; then the output projection, the reverse roll and the crop:
    ``-> (N, H, W, C)``.
    """
    batch, h, w, channels = input.shape
    pad_r = (window_size[1] - w % window_size[1]) % window_size[1]
    pad_b = (window_size[0] - h % window_size[0]) % window_size[0]
    x = F.pad(input, (0, 0, 0, pad_r, 0, pad_b))
    _, pad_h, pad_w, _ = x.shape
    shift_size = list(shift_size)
    if window_size[0] >= pad_h:
        shift_size[0] = 0
    if window_size[1] >= pad_w:
        shift_size[1] = 0
    shifted = sum(shift_size) > 0
    if shifted:
        x = x.roll(shifts=(-shift_size[0], -shift_size[1]), dims=(1, 2))
    rows, cols = pad_h // window_size[0], pad_w // window_size[1]
    num_windows = rows * cols
    tokens = window_size[0] * window_size[1]
    x = x.reshape(batch, rows, window_size[0], cols, window_size[1], channels)
    x = x.permute(0, 1, 3, 2, 4, 5).reshape(batch * num_windows, tokens, channels)
    qkv = F.linear(x, qkv_weight, qkv_bias)
    qkv = qkv.reshape(x.shape[0], tokens, 3, num_heads, channels // num_heads).permute(
        2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]
    mask = relative_position_bias
    if shifted:
        window_mask = _shift_mask(pad_h, pad_w, window_size, shift_size).to(input.dtype)
        # (batch·windows, heads, T, T) scores = (batch, windows, heads, T, T) broadcast
        q, k, v = (t.reshape(batch, num_windows, num_heads, tokens, -1) for t in (q, k, v))
        mask = relative_position_bias.unsqueeze(0) + window_mask.unsqueeze(1).unsqueeze(0)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                         dropout_p=attention_dropout if training else 0.0)
    out = out.reshape(batch * num_windows, num_heads, tokens, -1)
    x = out.transpose(1, 2).reshape(batch * num_windows, tokens, channels)
    x = F.dropout(F.linear(x, proj_weight, proj_bias), p=dropout, training=training)
    x = x.reshape(batch, rows, cols, window_size[0], window_size[1], channels)
    x = x.permute(0, 1, 3, 2, 4, 5).reshape(batch, pad_h, pad_w, channels)
    if shifted:
        x = x.roll(shifts=(shift_size[0], shift_size[1]), dims=(1, 2))
    return x[:, :h, :w, :]


class ShiftedWindowAttention(nn.Module):
    """Window attention of one Swin block: ``qkv`` and ``proj`` Linear layers, the learned
    ``relative_position_bias_table ((2 Wh - 1)(2 Ww - 1), heads)`` (truncated normal, std
    0.02) and the ``relative_position_index`` buffer that spreads it over the token pairs of a
    window. ``(N, H, W, dim) -> (N, H, W, dim)`` via :func:`shifted_window_attention`."""

    def __init__(self, dim, window_size, shift_size, num_heads, qkv_bias=True, proj_bias=True,
                 attention_dropout=0.0, dropout=0.0):
        super().__init__()
        if len(window_size) != 2 or len(shift_size) != 2:
            raise ValueError(f"ShiftedWindowAttention: window_size and shift_size must be of "
                             f"length 2, got {window_size} and {shift_size}")
        self.window_size = list(window_size)
        self.shift_size = list(shift_size)
        self.num_heads = num_heads
        self.attention_dropout = attention_dropout
        self.dropout = dropout
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim, bias=proj_bias)
        self.define_relative_position_bias_table()
        self.define_relative_position_index()

    def define_relative_position_bias_table(self):
        wh, ww = self.window_size
        self.relative_position_bias_table = nn.Parameter(
            ember.zeros((2 * wh - 1) * (2 * ww - 1), self.num_heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def define_relative_position_index(self):
        self.register_buffer("relative_position_index",
                             ember.from_numpy(_relative_position_index(self.window_size)))

    def get_relative_position_bias(self):
        """``(1, heads, Wh·Ww, Wh·Ww)``: the table's row for each token pair, per head."""
        tokens = self.window_size[0] * self.window_size[1]
        bias = self.relative_position_bias_table[self.relative_position_index]
        return bias.reshape(tokens, tokens, -1).permute(2, 0, 1).unsqueeze(0)

    def _mult_adds(self, inputs, output):
        """Multiply-adds for ``ember.summary``: the ``qkv`` and ``proj`` products of every
        token (of the map padded to whole windows)."""
        batch, h, w, _ = inputs[0].shape
        wh, ww = self.window_size
        tokens = batch * -(-h // wh) * wh * -(-w // ww) * ww
        return tokens * (self.qkv.weight.numel() + self.proj.weight.numel())

    def forward(self, x):
        return shifted_window_attention(
            x, self.qkv.weight, self.proj.weight, self.get_relative_position_bias(),
            self.window_size, self.num_heads, shift_size=self.shift_size,
            attention_dropout=self.attention_dropout, dropout=self.dropout,
            qkv_bias=self.qkv.bias, proj_bias=self.proj.bias, training=self.training)


class SwinTransformerBlock(nn.Module):
    """``x = x + SD(attn(norm1(x)))``, ``x = x + SD(mlp(norm2(x)))`` on ``(N, H, W, dim)``,
    with stochastic depth ``SD`` (per sample, in training) and a GELU MLP of width
    ``mlp_ratio · dim``."""

    def __init__(self, dim, num_heads, window_size, shift_size, mlp_ratio=4.0, dropout=0.0,
                 attention_dropout=0.0, stochastic_depth_prob=0.0, norm_layer=nn.LayerNorm,
                 attn_layer=ShiftedWindowAttention):
        super().__init__()
        self.norm1 = norm_layer(dim)
        self.attn = attn_layer(dim, window_size, shift_size, num_heads,
                               attention_dropout=attention_dropout, dropout=dropout)
        self.stochastic_depth = StochasticDepth(stochastic_depth_prob, "row")
        self.norm2 = norm_layer(dim)
        self.mlp = MLP(dim, [int(dim * mlp_ratio), dim], activation_layer=nn.GELU, inplace=None,
                       dropout=dropout)
        for m in self.mlp.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.normal_(m.bias, std=1e-6)

    def forward(self, x):
        x = x + self.stochastic_depth(self.attn(self.norm1(x)))
        return x + self.stochastic_depth(self.mlp(self.norm2(x)))


class SwinTransformer(nn.Module):
    """``(N, in_channels, H, W) -> (N, num_classes)``.

    ``features``: ``[0]`` the patch embedding (a ``patch_size`` convolution to
    ``embed_dim`` channels, made channels-last, normalized), then for each stage ``i`` a
    ``Sequential`` of ``depths[i]`` :class:`SwinTransformerBlock` of width ``embed_dim · 2^i``
    with ``num_heads[i]`` heads — every second one shifted by half a window — and, between
    stages, a :class:`PatchMerging`. Then ``norm``, average pooling over the map and
    ``head``. The stochastic-depth probability grows linearly from 0 to
    ``stochastic_depth_prob`` over the blocks. Linear weights truncated normal (std 0.02),
    zero biases. ``in_channels`` (default 3) is Ember's addition, for grey images.
    """

    def __init__(self, patch_size, embed_dim, depths, num_heads, window_size, mlp_ratio=4.0,
                 dropout=0.0, attention_dropout=0.0, stochastic_depth_prob=0.1,
                 num_classes=1000, norm_layer=None, block=None, downsample_layer=PatchMerging,
                 in_channels=3):
        super().__init__()
        self.num_classes = num_classes
        self.in_channels = in_channels
        block = SwinTransformerBlock if block is None else block
        norm_layer = partial(nn.LayerNorm, eps=1e-5) if norm_layer is None else norm_layer
        layers = [nn.Sequential(
            nn.Conv2d(in_channels, embed_dim, kernel_size=(patch_size[0], patch_size[1]),
                      stride=(patch_size[0], patch_size[1])),
            Permute([0, 2, 3, 1]), norm_layer(embed_dim))]
        total_blocks = sum(depths)
        block_id = 0
        for stage_index, depth in enumerate(depths):
            dim = embed_dim * 2 ** stage_index
            stage = []
            for layer_index in range(depth):
                probability = stochastic_depth_prob * float(block_id) / max(total_blocks - 1, 1)
                stage.append(block(dim, num_heads[stage_index], window_size=window_size,
                                   shift_size=[0 if layer_index % 2 == 0 else w // 2
                                               for w in window_size],
                                   mlp_ratio=mlp_ratio, dropout=dropout,
                                   attention_dropout=attention_dropout,
                                   stochastic_depth_prob=probability, norm_layer=norm_layer))
                block_id += 1
            layers.append(nn.Sequential(*stage))
            if stage_index < len(depths) - 1:
                layers.append(downsample_layer(dim, norm_layer))
        self.features = nn.Sequential(*layers)
        num_features = embed_dim * 2 ** (len(depths) - 1)
        self.norm = norm_layer(num_features)
        self.permute = Permute([0, 3, 1, 2])
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.head = nn.Linear(num_features, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x):
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"SwinTransformer: expected input (N, {self.in_channels}, H, W), "
                             f"got {tuple(x.shape)}")
        x = self.norm(self.features(x))
        return self.head(self.flatten(self.avgpool(self.permute(x))))


def _swin_transformer(name, patch_size, embed_dim, depths, num_heads, window_size,
                      stochastic_depth_prob, weights, kwargs):
    _check_weights(weights, name, kwargs)
    kwargs.pop("progress", None)               # nothing is downloaded
    return SwinTransformer(patch_size=patch_size, embed_dim=embed_dim, depths=depths,
                           num_heads=num_heads, window_size=window_size,
                           stochastic_depth_prob=stochastic_depth_prob, **kwargs)


def swin_t(*, weights=None, progress=True, **kwargs):
    """Swin-T: patch 4, width 96, depths [2, 2, 6, 2], heads [3, 6, 12, 24], window 7,
    stochastic depth 0.2; 28,288,354 parameters."""
    return _swin_transformer("swin_t", [4, 4], 96, [2, 2, 6, 2], [3, 6, 12, 24], [7, 7], 0.2,
                             weights, kwargs)


def swin_s(*, weights=None, progress=True, **kwargs):
    """Swin-S: patch 4, width 96, depths [2, 2, 18, 2], heads [3, 6, 12, 24], window 7,
    stochastic depth 0.3; 49,606,258 parameters."""
    return _swin_transformer("swin_s", [4, 4], 96, [2, 2, 18, 2], [3, 6, 12, 24], [7, 7], 0.3,
                             weights, kwargs)


def swin_b(*, weights=None, progress=True, **kwargs):
    """Swin-B: patch 4, width 128, depths [2, 2, 18, 2], heads [4, 8, 16, 32], window 7,
    stochastic depth 0.5; 87,768,224 parameters."""
    return _swin_transformer("swin_b", [4, 4], 128, [2, 2, 18, 2], [4, 8, 16, 32], [7, 7], 0.5,
                             weights, kwargs)


def swin_mnist(*, weights=None, progress=True, **kwargs):
    """A small Swin for 28x28 grey digits: patches of 2 (a 14x14 map), width 32, two stages of
    depth 2 (heads 2 and 4) with 7x7 windows — four shifted windows at 14x14, one window
    after the merge to 7x7 — stochastic depth 0.1; 10 classes, 136,854 parameters. Any
    :class:`SwinTransformer` argument may be changed."""
    config = dict(patch_size=[2, 2], embed_dim=32, depths=[2, 2], num_heads=[2, 4],
                  window_size=[7, 7], stochastic_depth_prob=0.1, in_channels=1, num_classes=10)
    config.update(kwargs)
    _check_weights(weights, "swin_mnist", config)
    return SwinTransformer(**config)
