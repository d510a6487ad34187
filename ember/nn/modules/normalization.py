"""Normalization layers (``torch.nn``): ``BatchNorm1d/2d/3d``, ``InstanceNorm1d/2d/3d``,
``LayerNorm``, ``GroupNorm``, ``LocalResponseNorm``, and the lectures' ``LocalContrastNorm`` and
``BatchRenorm1d/2d/3d`` (not in torch). Lecture 003 names the other normalizations with their
papers only (inventory B28); weight and spectral normalization are in
``ember.nn.utils.parametrizations``.

Lecture 003 "Batch normalization" (inventory B27, A35): per channel, ``x̂ = (x − μ_B) / sqrt(σ²_B + eps)``,
``y = γ x̂ + β``, with running averages of μ and σ² used at test time. Shapes: ``(N, C, *) ->
(N, C, *)``.
"""
import numbers
import warnings

import ember
from ember.autograd.grad_mode import no_grad
from ember.nn import functional as F
from ember.nn import init
from ember.nn.modules.lazy import LazyModuleMixin
from ember.nn.modules.arguments import integer_arguments
from ember.nn.modules.module import Module
from ember.nn.parameter import Parameter, UninitializedBuffer, UninitializedParameter

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "BatchRenorm1d", "BatchRenorm2d",
           "BatchRenorm3d", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "LayerNorm",
           "GroupNorm", "LocalResponseNorm", "LocalContrastNorm", "LazyBatchNorm1d",
           "LazyBatchNorm2d", "LazyBatchNorm3d", "LazyInstanceNorm1d", "LazyInstanceNorm2d",
           "LazyInstanceNorm3d"]


def _register_affine(module, shape, affine, bias, dtype):
    """``weight`` (γ) and ``bias`` (β) of ``shape`` when ``affine``, else both registered as
    None (``bias=False`` drops β alone); their values are set by ``_reset_affine``."""
    if affine:
        module.weight = Parameter(ember.empty(*shape, dtype=dtype))
        if bias:
            module.bias = Parameter(ember.empty(*shape, dtype=dtype))
        else:
            module.register_parameter("bias", None)
    else:
        module.register_parameter("weight", None)
        module.register_parameter("bias", None)


def _reset_affine(module):
    """γ = 1, β = 0."""
    if module.weight is not None:
        init.ones_(module.weight)
    if module.bias is not None:
        init.zeros_(module.bias)


class _NormBase(Module):
    """Parameters and running statistics shared by BatchNorm and InstanceNorm."""

    @integer_arguments(counts=("num_features",))
    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, device=None, dtype=None, *, bias=True):
        super().__init__()
        ember.device(device or "cpu")
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        _register_affine(self, (num_features,), affine, bias, dtype)
        if track_running_stats:
            self.register_buffer("running_mean", ember.zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", ember.ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", ember.tensor(0, dtype=ember.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self):
        """running_mean = 0, running_var = 1, num_batches_tracked = 0."""
        if self.track_running_stats:
            with no_grad():
                self.running_mean.zero_()
                self.running_var.fill_(1)
                self.num_batches_tracked.zero_()

    def reset_parameters(self):
        """Running statistics reset; weight (γ) = 1, bias (β) = 0."""
        self.reset_running_stats()
        _reset_affine(self)

    def _load_from_state_dict(self, state_dict, prefix, strict, missing_keys, unexpected_keys,
                              error_msgs, assign):
        # Checkpoints from before num_batches_tracked existed (and, as in torch, any state
        # dict without version metadata -- all of Ember's) may lack it: keep the current count.
        key = prefix + "num_batches_tracked"
        if self.track_running_stats and key not in state_dict:
            state_dict[key] = self.num_batches_tracked
        super()._load_from_state_dict(state_dict, prefix, strict, missing_keys, unexpected_keys,
                                      error_msgs, assign)

    def _check_channels(self, input, channel_dim=1):
        c = input.shape[channel_dim]
        if c != self.num_features:
            raise ValueError(f"{self._get_name()}({self.num_features}): expected input with "
                             f"{self.num_features} channels at dim {channel_dim}, got {c} (shape "
                             f"{tuple(input.shape)})")

    def extra_repr(self):
        return ("{num_features}, eps={eps}, momentum={momentum}, affine={affine}, "
                "bias={use_bias}, track_running_stats={track_running_stats}".format(
                    **self.__dict__, use_bias=self.bias is not None))


class _BatchNorm(_NormBase):
    _dims = (4,)
    _dims_text = "4D"

    def forward(self, input):
        if input.dim() not in self._dims:
            raise ValueError(f"{self._get_name()}: expected {self._dims_text} input (got "
                             f"{input.dim()}D input of shape {tuple(input.shape)})")
        self._check_channels(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            with no_grad():
                self.num_batches_tracked.add_(1)
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked)
        if self.training:
            bn_training = True
        else:
            bn_training = self.running_mean is None and self.running_var is None
        use_buffers = not self.training or self.track_running_stats
        weight, bias = self._scale_and_shift(input)
        return F.batch_norm(input, self.running_mean if use_buffers else None,
                            self.running_var if use_buffers else None, weight, bias,
                            bn_training, factor, self.eps)

    def _scale_and_shift(self, input):
        """The γ and β applied after standardization (batch renormalization corrects them)."""
        return self.weight, self.bias


class BatchNorm1d(_BatchNorm):
    """Batch norm over ``(N, C)`` or ``(N, C, L)`` (statistics per channel over N and L).

    ``momentum``: ``running = (1 − momentum)·running + momentum·batch`` (the unbiased batch
    variance); ``momentum=None`` keeps a cumulative average ``1 / num_batches_tracked``.
    In eval mode the running statistics normalize (unless ``track_running_stats=False``).
    Parameters: ``weight (C,) = 1``, ``bias (C,) = 0``; buffers ``running_mean (C,) = 0``,
    ``running_var (C,) = 1``, ``num_batches_tracked`` (int64) ``= 0``.
    """
    _dims = (2, 3)
    _dims_text = "2D or 3D"


class BatchNorm2d(_BatchNorm):
    """Batch norm over ``(N, C, H, W)`` (statistics per channel over N, H, W; lecture 003).
    See :class:`BatchNorm1d` for momentum, parameters and buffers."""
    _dims = (4,)
    _dims_text = "4D"


class BatchNorm3d(_BatchNorm):
    """Batch norm over ``(N, C, D, H, W)``. See :class:`BatchNorm1d`."""
    _dims = (5,)
    _dims_text = "5D"


class _BatchRenorm(_BatchNorm):
    """Batch norm whose training output is corrected towards the running statistics."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, r_max=3.0, d_max=5.0,
                 device=None, dtype=None, *, bias=True):
        if r_max < 1 or d_max < 0:
            raise ValueError(f"{type(self).__name__}: expected r_max >= 1 and d_max >= 0, got "
                             f"r_max={r_max}, d_max={d_max}")
        super().__init__(num_features, eps, momentum, affine, True, device, dtype, bias=bias)
        self.r_max = r_max
        self.d_max = d_max

    def _scale_and_shift(self, input):
        """``γ·r`` and ``γ·d + β``: batch norm's output ``γ·x̂ + β`` becomes ``γ·(x̂·r + d) + β``
        with r and d constants of the step (no gradient flows through them)."""
        if not self.training:
            return self.weight, self.bias
        dims = (0,) + tuple(range(2, input.dim()))
        with no_grad():
            batch_mean = input.mean(dims)
            batch_std = (input.var(dims, unbiased=False) + self.eps).sqrt()
            running_std = (self.running_var + self.eps).sqrt()
            r = (batch_std / running_std).clamp(1 / self.r_max, self.r_max)
            d = ((batch_mean - self.running_mean) / running_std).clamp(-self.d_max, self.d_max)
        if self.weight is None:
            return r, d
        shift = self.weight * d
        return self.weight * r, shift if self.bias is None else shift + self.bias

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, r_max={self.r_max}, "
                f"d_max={self.d_max}")


class BatchRenorm1d(_BatchRenorm):
    """Batch renormalization (Ioffe 2017, lecture 003 「其他normalization」, inventory B28) over
    ``(N, C)`` or ``(N, C, L)``. In training, per channel::

        x̂ = (x − μ_B) / σ_B · r + d,    y = γ · x̂ + β
        r = clip(σ_B / σ, 1/r_max, r_max),    d = clip((μ_B − μ) / σ, −d_max, d_max)

    with the batch's ``μ_B``, ``σ_B = sqrt(var_B + eps)`` (biased) and the running ``μ``,
    ``σ = sqrt(running_var + eps)``; r and d are treated as constants by backpropagation
    (the paper's stop-gradient). The correction makes the training output equal what the
    running statistics would give, so training and inference agree even for small or
    non-i.i.d. batches; ``r_max = 1, d_max = 0`` is batch norm exactly. The paper starts at
    those values and relaxes them to 3 and 5 (assign ``module.r_max`` / ``module.d_max`` to
    follow a schedule). The running statistics, the buffers, eval mode and ``momentum``
    (``None``: cumulative average) are :class:`BatchNorm1d`'s; the paper's moving average of σ
    is kept as ``running_var``. Not in torch.
    """
    _dims = (2, 3)
    _dims_text = "2D or 3D"


class BatchRenorm2d(_BatchRenorm):
    """Batch renormalization over ``(N, C, H, W)``; see :class:`BatchRenorm1d`."""
    _dims = (4,)
    _dims_text = "4D"


class BatchRenorm3d(_BatchRenorm):
    """Batch renormalization over ``(N, C, D, H, W)``; see :class:`BatchRenorm1d`."""
    _dims = (5,)
    _dims_text = "5D"


class _InstanceNorm(_NormBase):
    _no_batch_dim = 3

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False,
                 track_running_stats=False, device=None, dtype=None, *, bias=True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device,
                         dtype, bias=bias)

    def _load_from_state_dict(self, state_dict, prefix, strict, missing_keys, unexpected_keys,
                              error_msgs, assign):
        if not self.track_running_stats:
            stats = [prefix + n for n in ("running_mean", "running_var")
                     if prefix + n in state_dict]
            if stats:
                klass = self._get_name()
                error_msgs.append(
                    "Unexpected running stats buffer(s) {} for {} with track_running_stats=False. "
                    "If the running stats are actually needed, instead set "
                    "track_running_stats=True in {}.".format(
                        " and ".join(f'"{k}"' for k in stats), klass, klass))
                for k in stats:
                    state_dict.pop(k)
        super()._load_from_state_dict(state_dict, prefix, strict, missing_keys, unexpected_keys,
                                      error_msgs, assign)

    def _apply_instance_norm(self, input):
        return F.instance_norm(input, self.running_mean, self.running_var, self.weight,
                               self.bias, self.training or not self.track_running_stats,
                               self.momentum if self.momentum is not None else 0.0, self.eps)

    def forward(self, input):
        nb = self._no_batch_dim
        if input.dim() not in (nb, nb + 1):
            raise ValueError(f"{self._get_name()}: expected {nb}D or {nb + 1}D input (got "
                             f"{input.dim()}D input of shape {tuple(input.shape)})")
        feature_dim = input.dim() - nb
        if input.shape[feature_dim] != self.num_features:
            if self.affine:
                self._check_channels(input, feature_dim)
            warnings.warn(f"{self._get_name()}: input's size at dim={feature_dim} does not match "
                          f"num_features. You can silence this warning by not passing in "
                          f"num_features, which is not used because affine=False", stacklevel=2)
        if input.dim() == nb:
            return self._apply_instance_norm(input.unsqueeze(0)).squeeze(0)
        return self._apply_instance_norm(input)


class InstanceNorm1d(_InstanceNorm):
    """Instance norm of ``(N, C, L)`` or ``(C, L)``: each (sample, channel) standardized over
    L. Defaults: no affine parameters, no running statistics."""
    _no_batch_dim = 2


class InstanceNorm2d(_InstanceNorm):
    """Instance norm of ``(N, C, H, W)`` or ``(C, H, W)``: each (sample, channel) standardized
    over H, W."""
    _no_batch_dim = 3


class InstanceNorm3d(_InstanceNorm):
    """Instance norm of ``(N, C, D, H, W)`` or ``(C, D, H, W)``."""
    _no_batch_dim = 4


class _LazyNormBase(LazyModuleMixin):
    """``num_features`` from the input's channel dimension (dim 1, or dim 0 of an unbatched
    instance-norm input); then the layer becomes its eager class (see
    :mod:`ember.nn.modules.lazy`). Note torch's defaults: ``affine=True`` and
    ``track_running_stats=True`` for the lazy instance norms too."""

    def __init__(self, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 device=None, dtype=None):
        super().__init__(0, eps, momentum, False, False, device, dtype)
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = UninitializedParameter(device=device, dtype=dtype)
            self.bias = UninitializedParameter(device=device, dtype=dtype)
        if track_running_stats:
            self.running_mean = UninitializedBuffer(device=device, dtype=dtype)
            self.running_var = UninitializedBuffer(device=device, dtype=dtype)
            self.num_batches_tracked = ember.tensor(0, dtype=ember.int64)

    def reset_parameters(self):
        if not self.has_uninitialized_params() and self.num_features != 0:
            super().reset_parameters()

    def _channel_dim(self, input):
        return 1

    def initialize_parameters(self, input, *args, **kwargs):
        channels = input.shape[self._channel_dim(input)]
        if self.has_uninitialized_params():
            self.num_features = channels
            for tensor in (self.weight, self.bias, self.running_mean, self.running_var):
                if tensor is not None:
                    tensor.materialize((channels,))
            self.reset_parameters()
        elif self.num_features == 0:   # loaded from a state dict, or nothing to materialize
            loaded = self.weight if self.weight is not None else self.running_mean
            self.num_features = loaded.shape[0] if loaded is not None else channels


class LazyBatchNorm1d(_LazyNormBase, BatchNorm1d):
    """:class:`BatchNorm1d` with ``num_features`` from the first input."""
    cls_to_become = BatchNorm1d


class LazyBatchNorm2d(_LazyNormBase, BatchNorm2d):
    """:class:`BatchNorm2d` with ``num_features`` from the first input."""
    cls_to_become = BatchNorm2d


class LazyBatchNorm3d(_LazyNormBase, BatchNorm3d):
    """:class:`BatchNorm3d` with ``num_features`` from the first input."""
    cls_to_become = BatchNorm3d


class _LazyInstanceNorm(_LazyNormBase):
    def _channel_dim(self, input):
        return input.dim() - self._no_batch_dim


class LazyInstanceNorm1d(_LazyInstanceNorm, InstanceNorm1d):
    """:class:`InstanceNorm1d` with ``num_features`` from the first input."""
    cls_to_become = InstanceNorm1d


class LazyInstanceNorm2d(_LazyInstanceNorm, InstanceNorm2d):
    """:class:`InstanceNorm2d` with ``num_features`` from the first input."""
    cls_to_become = InstanceNorm2d


class LazyInstanceNorm3d(_LazyInstanceNorm, InstanceNorm3d):
    """:class:`InstanceNorm3d` with ``num_features`` from the first input."""
    cls_to_become = InstanceNorm3d


class LayerNorm(Module):
    """Standardize over the last ``len(normalized_shape)`` dims of each sample:
    ``y = (x − E[x]) / sqrt(Var[x] + eps) · γ + β``.

    Parameters (``elementwise_affine``): ``weight = 1`` and ``bias = 0`` of shape
    ``normalized_shape``.
    """

    @integer_arguments(shapes=("normalized_shape",))
    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True,
                 device=None, dtype=None):
        super().__init__()
        ember.device(device or "cpu")
        if isinstance(normalized_shape, numbers.Integral):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        _register_affine(self, self.normalized_shape, elementwise_affine, bias, dtype)
        self.reset_parameters()

    def reset_parameters(self):
        _reset_affine(self)

    def forward(self, input):
        n = len(self.normalized_shape)
        if tuple(input.shape[input.dim() - n:]) != self.normalized_shape or input.dim() < n:
            raise RuntimeError(f"{self._get_name()}({self.normalized_shape}): expected input "
                               f"whose last {n} dimension(s) are {self.normalized_shape}, got "
                               f"shape {tuple(input.shape)}")
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return ("{normalized_shape}, eps={eps}, elementwise_affine={elementwise_affine}, "
                "bias={use_bias}".format(**self.__dict__, use_bias=self.bias is not None))


class GroupNorm(Module):
    """Split the C channels into ``num_groups`` groups and standardize each (sample, group)
    over its channels and positions; then a per-channel affine.

    Parameters (``affine``): ``weight (C,) = 1``, ``bias (C,) = 0``.
    """

    @integer_arguments(counts=("num_groups", "num_channels"))
    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, device=None,
                 dtype=None, *, bias=True):
        super().__init__()
        ember.device(device or "cpu")
        if num_channels % num_groups != 0:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by "
                             f"num_groups ({num_groups})")
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        _register_affine(self, (num_channels,), affine, bias, dtype)
        self.reset_parameters()

    def reset_parameters(self):
        _reset_affine(self)

    def forward(self, input):
        if input.dim() < 2 or input.shape[1] != self.num_channels:
            raise RuntimeError(f"{self._get_name()}({self.num_groups}, {self.num_channels}): "
                               f"expected input of shape (N, {self.num_channels}, *), got shape "
                               f"{tuple(input.shape)}")
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return ("{num_groups}, {num_channels}, eps={eps}, affine={affine}, "
                "bias={use_bias}".format(**self.__dict__, use_bias=self.bias is not None))


class LocalResponseNorm(Module):
    """Normalization across neighbouring channels (AlexNet's "NORM" layers, lecture 001):
    ``b_c = a_c / (k + alpha/size · Σ_{c' in window} a_{c'}^2)^beta``."""

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, input):
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return "{size}, alpha={alpha}, beta={beta}, k={k}".format(**self.__dict__)


class LocalContrastNorm(Module):
    """Local contrast normalization (lecture 002 "CNN的改进", Jarrett et al. 2009; not in
    torch): subtract a Gaussian-weighted local mean, then divide by the local standard
    deviation floored at ``c``. Calls ``F.local_contrast_norm`` (see it for the formula).

    Args:
        size (int): odd side of the Gaussian window (default 9).
        sigma (float): the window's standard deviation (default ``size / 4``).
        across_channels (bool): one mean and σ shared by all channels (Jarrett's form, the
            lecture's Σ over i) or each channel on its own.
        c (float): the divisive floor; ``None`` uses the mean σ of each image (Jarrett).
        eps (float): added under the square root.

    Shapes: ``(N, C, H, W) -> (N, C, H, W)``. No parameters.
    """

    def __init__(self, size=9, sigma=None, across_channels=True, c=None, eps=1e-8):
        super().__init__()
        if int(size) < 1 or int(size) % 2 == 0:
            raise ValueError(f"LocalContrastNorm: expected an odd window size >= 1, got {size}")
        self.size, self.sigma, self.across_channels, self.c, self.eps = (
            size, sigma, across_channels, c, eps)

    def forward(self, input):
        return F.local_contrast_norm(input, self.size, self.sigma, self.across_channels, self.c,
                                     self.eps)

    def extra_repr(self):
        return ("{size}, sigma={sigma}, across_channels={across_channels}, c={c}, "
                "eps={eps}".format(**self.__dict__))
