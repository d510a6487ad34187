"""Adam and AdamW (Kingma & Ba 2015; Loshchilov & Hutter 2019).

The lectures name Adam and AdamW as alternatives to "SGD + momentum + a decaying learning
rate" (lecture 003 "经验", lecture 004 "Optimization: SGD, Adam") but give no formula or
defaults (inventory ⚠ A20); Ember follows torch's definitions and defaults exactly.
"""
import numpy as np

from ember.optim.optimizer import Optimizer, _increment, _lerp_, _new_step_counter, _zeros_like


class Adam(Optimizer):
    r"""Adam: gradient descent with bias-corrected running moments (torch.optim.Adam).

    Per parameter, at step ``t = 1, 2, ...`` with ``g = ∂L/∂w`` (``-g`` if ``maximize``)::

        g ← g + weight_decay · w            (L2 penalty; if decoupled_weight_decay instead
                                             w ← w · (1 − lr · weight_decay), as in AdamW)
        m ← β1 · m + (1 − β1) · g           first moment   (exp_avg)
        v ← β2 · v + (1 − β2) · g²          second moment  (exp_avg_sq)
        v̂ ← max(v̂, v) if amsgrad else v     (max_exp_avg_sq)
        w ← w − lr / (1 − β1^t) · m / (sqrt(v̂) / sqrt(1 − β2^t) + eps)

    Args:
        params: parameters or parameter groups (see :class:`Optimizer`).
        lr (float): learning rate, default 1e-3.
        betas (tuple[float, float]): moment decay rates ``(β1, β2)``, default (0.9, 0.999).
        eps (float): added to the denominator, default 1e-8.
        weight_decay (float): L2 penalty (or decoupled decay), default 0.
        amsgrad (bool): use the running maximum of ``v`` (Reddi et al. 2018), default False.
        maximize (bool): ascend the objective instead of descending it.
        decoupled_weight_decay (bool): decay the weights directly (AdamW), default False.

    State per parameter: ``step`` (a zero-dim float32 tensor, like torch), ``exp_avg``,
    ``exp_avg_sq`` and, with ``amsgrad``, ``max_exp_avg_sq``.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, maximize=False, decoupled_weight_decay=False):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _check_group(self, group):
        self._check_nonnegative(group, "lr", "eps", "weight_decay")
        betas = group["betas"]
        if not (isinstance(betas, (tuple, list)) and len(betas) == 2):
            raise ValueError(f"{self._name}: betas must be a pair (beta1, beta2), got {betas!r}")
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"{self._name}: invalid beta parameter at index {i}: {beta!r} "
                                 "(expected 0 <= beta < 1)")

    def step(self, closure=None):
        """One update of every parameter with a gradient; returns ``closure()`` if given."""
        return self._run_step(closure, self._update)

    @staticmethod
    def _update(w, g, state, group):
        lr, eps, weight_decay = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
        beta1, beta2 = (float(b) for b in group["betas"])
        if not state:
            state["step"] = _new_step_counter()
            state["exp_avg"] = _zeros_like(w)
            state["exp_avg_sq"] = _zeros_like(w)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = _zeros_like(w)
        if group["maximize"]:
            g = -g
        t = _increment(state["step"])
        if weight_decay != 0:
            if group["decoupled_weight_decay"]:
                w *= 1 - lr * weight_decay
            else:
                g = g + weight_decay * w
        m, v = state["exp_avg"]._data, state["exp_avg_sq"]._data
        _lerp_(m, g, 1 - beta1)
        v *= beta2
        v += (1 - beta2) * g * g
        bias_correction1 = 1 - beta1 ** t
        bias_correction2_sqrt = (1 - beta2 ** t) ** 0.5
        if group["amsgrad"]:
            v_max = state["max_exp_avg_sq"]._data
            np.maximum(v_max, v, out=v_max)
            v = v_max
        denom = np.sqrt(v) / bias_correction2_sqrt + eps
        w += (-lr / bias_correction1) * m / denom
        for key in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
            if key in state:
                state[key]._bump_version()


class AdamW(Adam):
    r"""Adam with decoupled weight decay (torch.optim.AdamW).

    Identical to :class:`Adam` except that weight decay shrinks the weights directly,
    ``w ← w · (1 − lr · weight_decay)``, before the Adam step instead of being added to the
    gradient, and that the default ``weight_decay`` is 1e-2.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize, decoupled_weight_decay=True)
