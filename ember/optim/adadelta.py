"""Adadelta (Zeiler 2012): steps sized by the ratio of running RMS of updates and gradients."""
import numpy as np

from ember.optim.optimizer import Optimizer, _increment, _new_step_counter, _zeros_like


class Adadelta(Optimizer):
    r"""Adadelta (torch.optim.Adadelta), the optimizer of pytorch/examples' mnist program.

    Per parameter, with ``g = ∂L/∂w`` (``-g`` if ``maximize``)::

        g ← g + weight_decay · w
        v ← ρ · v + (1 − ρ) · g²                              (square_avg)
        Δ ← sqrt(u + eps) / sqrt(v + eps) · g                 (the step, in the units of w)
        u ← ρ · u + (1 − ρ) · Δ²                              (acc_delta)
        w ← w − lr · Δ

    Args:
        params: parameters or parameter groups (see :class:`Optimizer`).
        lr (float): scales the step, default 1.0 (Zeiler's method has none).
        rho (float): decay rate of both running averages, in [0, 1], default 0.9.
        eps (float): added inside both square roots, default 1e-6.
        weight_decay (float): L2 penalty, default 0.
        maximize (bool): ascend the objective instead of descending it.

    State per parameter: ``step``, ``square_avg``, ``acc_delta``.
    """

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, *, maximize=False):
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, group):
        self._check_nonnegative(group, "lr", "eps", "weight_decay")
        if "rho" in group and not 0.0 <= group["rho"] <= 1.0:
            raise ValueError(f"{self._name}: invalid rho value {group['rho']!r} "
                             "(expected 0 <= rho <= 1)")

    def step(self, closure=None):
        """One update of every parameter with a gradient; returns ``closure()`` if given."""
        return self._run_step(closure, self._update)

    @staticmethod
    def _update(w, g, state, group):
        lr, rho, eps = float(group["lr"]), float(group["rho"]), float(group["eps"])
        weight_decay = float(group["weight_decay"])
        if not state:
            state["step"] = _new_step_counter()
            state["square_avg"] = _zeros_like(w)
            state["acc_delta"] = _zeros_like(w)
        _increment(state["step"])
        if group["maximize"]:
            g = -g
        if weight_decay != 0:
            g = g + weight_decay * w
        square_avg, acc_delta = state["square_avg"]._data, state["acc_delta"]._data
        square_avg *= rho
        square_avg += (1 - rho) * g * g
        delta = np.sqrt(acc_delta + eps)
        delta /= np.sqrt(square_avg + eps)
        delta *= g
        acc_delta *= rho
        acc_delta += (1 - rho) * delta * delta
        w += -lr * delta
        for tensor in state.values():
            tensor._bump_version()
