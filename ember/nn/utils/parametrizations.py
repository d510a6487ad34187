"""Weight and spectral normalization (``torch.nn.utils.parametrizations``).

Lecture 003 「其他normalization」 (inventory B28) names both with their papers only (Salimans &
Kingma 2016, arXiv 1602.07868; Miyato et al. 2018, "Spectrum Normalization", arXiv
1705.10941 / 1802.05957); the formulas below are the papers', and the state-dict layout,
initialisation and power iteration are torch's, so converted torch checkpoints load and
give the same outputs. Both are parametrizations (:mod:`ember.nn.utils.parametrize`): the
module's ``weight`` is computed from the trained tensors on every access.
"""
import ember
from ember.nn import functional as F
from ember.nn.modules.conv import ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from ember.nn.modules.module import Module
from ember.nn.utils import parametrize

__all__ = ["weight_norm", "spectral_norm"]


def _norm_except_dim(v, dim):
    """The 2-norm over every axis but ``dim``, kept as size-1 axes; ``dim=-1`` is the norm of
    the whole tensor (a scalar), as in torch's ``norm_except_dim``."""
    if dim == -1:
        return (v * v).sum().sqrt()
    dim = dim % v.ndim
    others = tuple(d for d in range(v.ndim) if d != dim)
    return (v * v).sum(others, keepdim=True).sqrt()


class _WeightNorm(Module):
    """``w = g · v / ‖v‖`` with the norm taken per slice along ``dim``."""

    def __init__(self, dim=0):
        super().__init__()
        self.dim = -1 if dim is None else dim

    def forward(self, weight_g, weight_v):
        return weight_v * (weight_g / _norm_except_dim(weight_v, self.dim))

    def right_inverse(self, weight):
        return _norm_except_dim(weight, self.dim), weight


def weight_norm(module, name="weight", dim=0):
    """Weight normalization (Salimans & Kingma 2016; lecture 003, inventory B28)::

        w = g · v / ‖v‖

    decouples the length ``g`` of each weight vector from its direction ``v``. With ``dim=0``
    (default) there is one ``g`` per output unit / channel: for a ``Linear(in, out)``,
    ``g (out, 1)`` and ``v (out, in)``, the norm over the input axis; ``dim=None`` (or ``-1``,
    as in torch) uses one norm for the whole tensor (a scalar ``g``). ``g`` and ``v`` start so
    that ``w`` equals the current weight, and are stored as
    ``parametrizations.<name>.original0`` (g) and ``original1`` (v).

    Differs from torch: the old ``weight_g`` / ``weight_v`` state-dict keys of the deprecated
    ``torch.nn.utils.weight_norm`` are not renamed on load.

    Returns ``module``.
    """
    return parametrize.register_parametrization(module, name, _WeightNorm(dim), unsafe=True)


class _SpectralNorm(Module):
    """``W / σ(W)``, σ estimated by power iteration on ``W`` reshaped to a matrix."""

    def __init__(self, weight, n_power_iterations=1, dim=0, eps=1e-12):
        super().__init__()
        ndim = weight.ndim
        if dim >= ndim or dim < -ndim:
            raise IndexError(f"spectral_norm: dimension out of range (expected to be in range of "
                             f"[-{ndim}, {ndim - 1}] but got {dim}) for weight of shape "
                             f"{tuple(weight.shape)}")
        if n_power_iterations <= 0:
            raise ValueError(f"spectral_norm: expected n_power_iterations to be positive, but "
                             f"got n_power_iterations={n_power_iterations}")
        self.dim = dim % ndim
        self.eps = eps
        if ndim > 1:
            self.n_power_iterations = n_power_iterations
            weight_mat = self._reshape_weight_to_matrix(weight)
            h, w = weight_mat.shape
            u = ember.randn(h, dtype=weight.dtype)
            v = ember.randn(w, dtype=weight.dtype)
            self.register_buffer("_u", F.normalize(u, dim=0, eps=self.eps))
            self.register_buffer("_v", F.normalize(v, dim=0, eps=self.eps))
            # start from good estimates of the singular vectors, as torch does
            self._power_method(weight_mat, 15)

    def _reshape_weight_to_matrix(self, weight):
        """``dim`` (the output axis) first, every other axis flattened into columns."""
        if self.dim != 0:
            weight = weight.permute(self.dim, *(d for d in range(weight.ndim) if d != self.dim))
        return weight.flatten(1)

    def _power_method(self, weight_mat, n_power_iterations):
        """``u ← W v / ‖W v‖``, ``v ← Wᵀ u / ‖Wᵀ u‖``, written into the buffers in place."""
        with ember.no_grad():
            for _ in range(n_power_iterations):
                self._u.copy_(F.normalize(ember.mv(weight_mat, self._v), dim=0, eps=self.eps))
                self._v.copy_(F.normalize(ember.mv(weight_mat.t(), self._u), dim=0, eps=self.eps))

    def forward(self, weight):
        if weight.ndim == 1:
            return F.normalize(weight, dim=0, eps=self.eps)
        weight_mat = self._reshape_weight_to_matrix(weight)
        if self.training:
            self._power_method(weight_mat, self.n_power_iterations)
        # copies, so that the next step's in-place update does not touch this graph
        u, v = self._u.clone(), self._v.clone()
        sigma = ember.vdot(u, ember.mv(weight_mat, v))
        return weight / sigma

    def right_inverse(self, value):
        return value


def spectral_norm(module, name="weight", n_power_iterations=1, eps=1e-12, dim=None):
    """Spectral normalization (Miyato et al. 2018; lecture 003 "Spectrum Normalization",
    inventory B28)::

        W_SN = W / σ(W),      σ(W) = max_{h ≠ 0} ‖W h‖₂ / ‖h‖₂ ≈ uᵀ W v

    σ is the largest singular value of the weight reshaped to a ``(out, rest)`` matrix
    (``dim`` is the output axis: 0, or 1 for ``ConvTranspose*d``). ``u`` and ``v`` (buffers
    ``parametrizations.<name>.0._u`` / ``._v``) are random unit vectors refined by 15 power
    iterations at registration, then by ``n_power_iterations`` more at every access in
    training mode; in eval mode they stay fixed. A 1-D weight is simply ``w / ‖w‖``. The trained
    tensor is ``parametrizations.<name>.original``. Returns ``module``.
    """
    weight = getattr(module, name, None)
    if not isinstance(weight, ember.Tensor):
        raise ValueError(f"spectral_norm: module '{module}' has no parameter or buffer with name "
                         f"'{name}'")
    if dim is None:
        dim = 1 if isinstance(module, (ConvTranspose1d, ConvTranspose2d, ConvTranspose3d)) else 0
    return parametrize.register_parametrization(
        module, name, _SpectralNorm(weight, n_power_iterations, dim, eps))
