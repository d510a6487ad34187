"""Vision Transformers (Dosovitskiy et al. 2020, "An Image is Worth 16x16 Words"; lecture 003
L7345–7367 and lecture 004 L1031–1041, inventory B42): cut the image into patches, embed
each patch as a token ("切分图像变成小的token, 输入transformer"), add a class token and learned
position embeddings, run a Transformer encoder, and classify from the class token.

torchvision's ``VisionTransformer`` and builders ``vit_b_16``, ``vit_b_32``, ``vit_l_16``,
``vit_l_32``, ``vit_h_14`` with its names, arguments, initialization and ``state_dict`` keys
(``conv_proj``, ``class_token``, ``encoder.pos_embedding``,
``encoder.layers.encoder_layer_0.self_attention.in_proj_weight``, ``heads.head`` ...), so
their parameter counts equal torchvision's (86,567,656 for ``vit_b_16``). The lecture's
caveat — "too many tokens in one image; the computation is slow" — is why the small
``vit_mnist`` (patches of 7 on 28x28 digits: 16 tokens) is the one to train on a CPU.
"""
import math
from collections import OrderedDict
from functools import partial
from typing import NamedTuple

import ember
from ember import nn
from ember.vision.models._utils import _check_weights
from ember.vision.models.blocks import MLP
from ember.vision.models.mobilenet import Conv2dNormActivation

__all__ = ["VisionTransformer", "ConvStemConfig", "MLPBlock", "EncoderBlock", "Encoder",
           "vit_b_16", "vit_b_32", "vit_l_16", "vit_l_32", "vit_h_14", "vit_mnist"]


class ConvStemConfig(NamedTuple):
    """One convolution of an optional convolutional stem (Xiao et al. 2021) replacing the
    patch embedding."""
    out_channels: int
    kernel_size: int
    stride: int
    norm_layer: type = nn.BatchNorm2d
    activation_layer: type = nn.ReLU


class MLPBlock(MLP):
    """The encoder's feed-forward network: ``Linear(in, mlp) -> GELU -> Dropout ->
    Linear(mlp, in) -> Dropout``; Xavier-uniform weights, ``N(0, 1e-6²)`` biases."""

    def __init__(self, in_dim, mlp_dim, dropout):
        super().__init__(in_dim, [mlp_dim, in_dim], activation_layer=nn.GELU, inplace=None,
                         dropout=dropout)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.normal_(m.bias, std=1e-6)


class EncoderBlock(nn.Module):
    """A pre-norm Transformer encoder layer: ``x = x + dropout(SA(ln_1(x)))``, then ``x + mlp(
    ln_2(x))``; ``(N, S, hidden_dim) -> (N, S, hidden_dim)``."""

    def __init__(self, num_heads, hidden_dim, mlp_dim, dropout, attention_dropout,
                 norm_layer=partial(nn.LayerNorm, eps=1e-6)):
        super().__init__()
        self.num_heads = num_heads
        self.ln_1 = norm_layer(hidden_dim)
        self.self_attention = nn.MultiheadAttention(hidden_dim, num_heads,
                                                    dropout=attention_dropout, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.ln_2 = norm_layer(hidden_dim)
        self.mlp = MLPBlock(hidden_dim, mlp_dim, dropout)

    def forward(self, input):
        if input.dim() != 3:
            raise ValueError(f"EncoderBlock: Expected (batch_size, seq_length, hidden_dim) got "
                             f"{tuple(input.shape)}")
        x = self.ln_1(input)
        x, _ = self.self_attention(x, x, x, need_weights=False)
        x = self.dropout(x) + input
        return x + self.mlp(self.ln_2(x))


class Encoder(nn.Module):
    """Learned position embeddings ``pos_embedding (1, seq_length, hidden_dim)`` (``N(0,
    0.02²)``) added to the tokens, dropout, ``num_layers`` :class:`EncoderBlock` and a final
    norm ``ln``."""

    def __init__(self, seq_length, num_layers, num_heads, hidden_dim, mlp_dim, dropout,
                 attention_dropout, norm_layer=partial(nn.LayerNorm, eps=1e-6)):
        super().__init__()
        self.pos_embedding = nn.Parameter(ember.empty(1, seq_length, hidden_dim))
        nn.init.normal_(self.pos_embedding, std=0.02)
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.Sequential(OrderedDict(
            (f"encoder_layer_{i}", EncoderBlock(num_heads, hidden_dim, mlp_dim, dropout,
                                                attention_dropout, norm_layer))
            for i in range(num_layers)))
        self.ln = norm_layer(hidden_dim)

    def forward(self, input):
        if input.dim() != 3:
            raise ValueError(f"Encoder: Expected (batch_size, seq_length, hidden_dim) got "
                             f"{tuple(input.shape)}")
        return self.ln(self.layers(self.dropout(input + self.pos_embedding)))


class VisionTransformer(nn.Module):
    """``(N, in_channels, image_size, image_size) -> (N, num_classes)``.

    ``conv_proj`` embeds each ``patch_size``² patch as one token (a convolution with kernel
    and stride ``patch_size``: the "16x16 words"), ``class_token`` is prepended, the
    :class:`Encoder` runs, and ``heads`` (``head``, or ``pre_logits -> tanh -> head`` with
    ``representation_size``) classify the class token's output. ``conv_stem_configs``
    replaces the patch embedding by a stack of :class:`ConvStemConfig` convolutions and a
    final 1x1 convolution. ``in_channels`` (default 3) is Ember's addition, for grey images.

    Initialization as torchvision: patch embedding truncated normal with std
    ``sqrt(1 / fan_in)``, zero bias; class token zero; ``head`` zero.
    """

    def __init__(self, image_size, patch_size, num_layers, num_heads, hidden_dim, mlp_dim,
                 dropout=0.0, attention_dropout=0.0, num_classes=1000, representation_size=None,
                 norm_layer=partial(nn.LayerNorm, eps=1e-6), conv_stem_configs=None,
                 in_channels=3):
        super().__init__()
        if image_size % patch_size != 0:
            raise ValueError(f"VisionTransformer: Input shape indivisible by patch size! "
                             f"(image_size={image_size}, patch_size={patch_size})")
        self.image_size = image_size
        self.patch_size = patch_size
        self.hidden_dim = hidden_dim
        self.mlp_dim = mlp_dim
        self.attention_dropout = attention_dropout
        self.dropout = dropout
        self.num_classes = num_classes
        self.representation_size = representation_size
        self.norm_layer = norm_layer
        self.in_channels = in_channels
        if conv_stem_configs is not None:
            stem = nn.Sequential()
            channels = in_channels
            for i, config in enumerate(conv_stem_configs):
                stem.add_module(f"conv_bn_relu_{i}", Conv2dNormActivation(
                    channels, config.out_channels, kernel_size=config.kernel_size,
                    stride=config.stride, norm_layer=config.norm_layer,
                    activation_layer=config.activation_layer))
                channels = config.out_channels
            stem.add_module("conv_last", nn.Conv2d(channels, hidden_dim, kernel_size=1))
            self.conv_proj = stem
        else:
            self.conv_proj = nn.Conv2d(in_channels, hidden_dim, kernel_size=patch_size,
                                       stride=patch_size)
        seq_length = (image_size // patch_size) ** 2
        self.class_token = nn.Parameter(ember.zeros(1, 1, hidden_dim))
        seq_length += 1
        self.encoder = Encoder(seq_length, num_layers, num_heads, hidden_dim, mlp_dim, dropout,
                               attention_dropout, norm_layer)
        self.seq_length = seq_length
        heads = OrderedDict()
        if representation_size is None:
            heads["head"] = nn.Linear(hidden_dim, num_classes)
        else:
            heads["pre_logits"] = nn.Linear(hidden_dim, representation_size)
            heads["act"] = nn.Tanh()
            heads["head"] = nn.Linear(representation_size, num_classes)
        self.heads = nn.Sequential(heads)

        if isinstance(self.conv_proj, nn.Conv2d):
            fan_in = self.conv_proj.in_channels * patch_size * patch_size
            nn.init.trunc_normal_(self.conv_proj.weight, std=math.sqrt(1 / fan_in))
            nn.init.zeros_(self.conv_proj.bias)
        else:
            last = self.conv_proj.conv_last
            nn.init.normal_(last.weight, mean=0.0, std=math.sqrt(2.0 / last.out_channels))
            nn.init.zeros_(last.bias)
        if representation_size is not None:
            nn.init.trunc_normal_(self.heads.pre_logits.weight,
                                  std=math.sqrt(1 / self.heads.pre_logits.in_features))
            nn.init.zeros_(self.heads.pre_logits.bias)
        nn.init.zeros_(self.heads.head.weight)
        nn.init.zeros_(self.heads.head.bias)

    def _process_input(self, x):
        """``(N, C, H, W) -> (N, (H/p)·(W/p), hidden_dim)``: one token per patch."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"VisionTransformer: expected input (N, {self.in_channels}, "
                             f"{self.image_size}, {self.image_size}), got {tuple(x.shape)}")
        n, _, h, w = x.shape
        if h != self.image_size or w != self.image_size:
            raise ValueError(f"VisionTransformer: Wrong image size! Expected "
                             f"{self.image_size}x{self.image_size} but got {h}x{w} (input "
                             f"{tuple(x.shape)})")
        p = self.patch_size
        x = self.conv_proj(x)
        return x.reshape(n, self.hidden_dim, (h // p) * (w // p)).permute(0, 2, 1)

    def forward(self, x):
        x = self._process_input(x)
        n = x.shape[0]
        x = ember.cat([self.class_token.expand(n, -1, -1), x], dim=1)
        x = self.encoder(x)
        return self.heads(x[:, 0])


def _vision_transformer(name, patch_size, num_layers, num_heads, hidden_dim, mlp_dim, weights,
                        kwargs):
    _check_weights(weights, name, kwargs)
    kwargs.pop("progress", None)               # nothing is downloaded
    image_size = kwargs.pop("image_size", 224)
    return VisionTransformer(image_size=image_size, patch_size=patch_size, num_layers=num_layers,
                             num_heads=num_heads, hidden_dim=hidden_dim, mlp_dim=mlp_dim,
                             **kwargs)


def vit_b_16(*, weights=None, progress=True, **kwargs):
    """ViT-B/16: patch 16, 12 layers, 12 heads, width 768, MLP 3072; 86,567,656 parameters."""
    return _vision_transformer("vit_b_16", 16, 12, 12, 768, 3072, weights, kwargs)


def vit_b_32(*, weights=None, progress=True, **kwargs):
    """ViT-B/32: patch 32, 12 layers, 12 heads, width 768, MLP 3072; 88,224,232 parameters."""
    return _vision_transformer("vit_b_32", 32, 12, 12, 768, 3072, weights, kwargs)


def vit_l_16(*, weights=None, progress=True, **kwargs):
    """ViT-L/16: patch 16, 24 layers, 16 heads, width 1024, MLP 4096; 304,326,632
    parameters."""
    return _vision_transformer("vit_l_16", 16, 24, 16, 1024, 4096, weights, kwargs)


def vit_l_32(*, weights=None, progress=True, **kwargs):
    """ViT-L/32: patch 32, 24 layers, 16 heads, width 1024, MLP 4096; 306,535,400
    parameters."""
    return _vision_transformer("vit_l_32", 32, 24, 16, 1024, 4096, weights, kwargs)


def vit_h_14(*, weights=None, progress=True, **kwargs):
    """ViT-H/14: patch 14, 32 layers, 16 heads, width 1280, MLP 5120; 632,045,800
    parameters."""
    return _vision_transformer("vit_h_14", 14, 32, 16, 1280, 5120, weights, kwargs)


def vit_mnist(*, weights=None, progress=True, **kwargs):
    """A ViT small enough to train on a CPU, for 28x28 grey digits: patches of 7 (16 tokens
    and the class token), 4 layers, 4 heads, width 64, MLP 128; 139,018 parameters with 10
    classes. Any :class:`VisionTransformer` argument may be changed (``patch_size=4`` for 49
    finer tokens at three times the cost; ``image_size=32, patch_size=8, in_channels=3`` for
    CIFAR-sized images)."""
    config = dict(image_size=28, patch_size=7, num_layers=4, num_heads=4, hidden_dim=64,
                  mlp_dim=128, in_channels=1, num_classes=10)
    config.update(kwargs)
    _check_weights(weights, "vit_mnist", config)
    return VisionTransformer(**config)
