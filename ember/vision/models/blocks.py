"""The small building blocks torchvision's transformers take from ``torchvision.ops``:
``MLP`` (``ops.misc.MLP``), ``Permute`` (``ops.misc.Permute``) and stochastic depth
(``ops.stochastic_depth``, ``ops.StochasticDepth``), with torchvision's arguments, layouts and
``repr``, so the ViT and Swin ``state_dict`` keys match (``mlp.0.weight``, ``mlp.3.weight``).
"""
import ember
from ember import nn

__all__ = ["MLP", "Permute", "StochasticDepth", "stochastic_depth"]


class MLP(nn.Sequential):
    """``Linear -> [norm] -> activation -> Dropout`` for each width of ``hidden_channels``
    but the last, then ``Linear -> Dropout`` to the last width: ``(*, in_channels) -> (*,
    hidden_channels[-1])``. ``inplace`` (None: the layers' default) goes to the activation
    and dropout layers."""

    def __init__(self, in_channels, hidden_channels, norm_layer=None,
                 activation_layer=nn.ReLU, inplace=None, bias=True, dropout=0.0):
        params = {} if inplace is None else {"inplace": inplace}
        layers, width = [], in_channels
        for hidden in hidden_channels[:-1]:
            layers.append(nn.Linear(width, hidden, bias=bias))
            if norm_layer is not None:
                layers.append(norm_layer(hidden))
            layers.append(activation_layer(**params))
            layers.append(nn.Dropout(dropout, **params))
            width = hidden
        layers.append(nn.Linear(width, hidden_channels[-1], bias=bias))
        layers.append(nn.Dropout(dropout, **params))
        super().__init__(*layers)


class Permute(nn.Module):
    """``x.permute(*dims)`` as a layer (Swin turns ``(N, C, H, W)`` feature maps into
    channels-last ``(N, H, W, C)`` tokens and back)."""

    def __init__(self, dims):
        super().__init__()
        self.dims = list(dims)

    def forward(self, x):
        return x.permute(*self.dims)


def stochastic_depth(input, p, mode, training=True):
    """Stochastic depth (Huang et al. 2016): in training, drop the whole residual branch
    ``input`` with probability ``p`` — per sample (``mode='row'``: noise of shape ``(N, 1,
    ...)``) or for the whole batch (``'batch'``) — and scale the kept ones by ``1 / (1 -
    p)``; the identity in evaluation."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"stochastic_depth: drop probability has to be between 0 and 1, but got "
                         f"{p}")
    if mode not in ("batch", "row"):
        raise ValueError(f"stochastic_depth: mode has to be either 'batch' or 'row', but got "
                         f"{mode}")
    if not training or p == 0.0:
        return input
    survival = 1.0 - p
    size = [input.shape[0]] + [1] * (input.dim() - 1) if mode == "row" else [1] * input.dim()
    noise = ember.empty(*size, dtype=input.dtype).bernoulli_(survival)
    if survival > 0.0:
        noise = noise / survival
    return input * noise


class StochasticDepth(nn.Module):
    """:func:`stochastic_depth` as a layer (active in ``train()`` mode)."""

    def __init__(self, p, mode):
        super().__init__()
        self.p = p
        self.mode = mode

    def forward(self, input):
        return stochastic_depth(input, self.p, self.mode, self.training)

    def __repr__(self):
        return f"{type(self).__name__}(p={self.p}, mode={self.mode})"
