"""Building blocks torchvision keeps in ``torchvision.ops.misc``: ``Conv2dNormActivation``
and ``FrozenBatchNorm2d``."""
import ember
from ember import nn

__all__ = ["Conv2dNormActivation", "FrozenBatchNorm2d"]


class Conv2dNormActivation(nn.Sequential):
    """``Sequential(Conv2d, norm, activation)`` with "same" padding ``(k - 1) // 2 *
    dilation``; the conv has a bias only when there is no norm layer (torchvision.ops).
    ``norm_layer=None`` or ``activation_layer=None`` leaves that layer out."""

    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1, padding=None,
                 groups=1, norm_layer=nn.BatchNorm2d, activation_layer=nn.ReLU, dilation=1,
                 inplace=True, bias=None):
        if padding is None:
            padding = (kernel_size - 1) // 2 * dilation
        if bias is None:
            bias = norm_layer is None
        layers = [nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding,
                            dilation=dilation, groups=groups, bias=bias)]
        if norm_layer is not None:
            layers.append(norm_layer(out_channels))
        if activation_layer is not None:
            layers.append(activation_layer(inplace=inplace))
        super().__init__(*layers)
        self.out_channels = out_channels


class FrozenBatchNorm2d(nn.Module):
    """Batch normalization with fixed statistics and affine parameters, all buffers (no
    parameters, so an optimizer never changes them): ``y = x · w / sqrt(var + eps) + (b − mean
    · w / sqrt(var + eps))`` per channel. What detectors put in a pretrained backbone, whose
    batches of one or two large images would give poor batch statistics. The state_dict keys
    are ``weight``, ``bias``, ``running_mean``, ``running_var`` (a ``num_batches_tracked`` entry
    of a BatchNorm2d state_dict is ignored when loading, as in torchvision)."""

    def __init__(self, num_features, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.register_buffer("weight", ember.ones(num_features))
        self.register_buffer("bias", ember.zeros(num_features))
        self.register_buffer("running_mean", ember.zeros(num_features))
        self.register_buffer("running_var", ember.ones(num_features))

    def _load_from_state_dict(self, state_dict, prefix, strict, missing_keys, unexpected_keys,
                              error_msgs, assign):
        state_dict.pop(prefix + "num_batches_tracked", None)
        super()._load_from_state_dict(state_dict, prefix, strict, missing_keys, unexpected_keys,
                                      error_msgs, assign)

    def forward(self, x):
        scale = self.weight * (self.running_var + self.eps).rsqrt()
        shift = self.bias - self.running_mean * scale
        return x * scale.reshape(1, -1, 1, 1) + shift.reshape(1, -1, 1, 1)

    def __repr__(self):
        return f"{type(self).__name__}({self.weight.shape[0]}, eps={self.eps})"
