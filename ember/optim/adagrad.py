"""Adagrad (Duchi, Hazan & Singer 2011): per-coordinate steps scaled by summed squared gradients."""
import numpy as np

from ember._tensor import Tensor
from ember.optim.optimizer import Optimizer, _increment, _new_step_counter


class Adagrad(Optimizer):
    r"""Adagrad (torch.optim.Adagrad).

    Per parameter, at step ``t = 1, 2, ...`` with ``g = ∂L/∂w`` (``-g`` if ``maximize``)::

        g ← g + weight_decay · w
        lr_t = lr / (1 + (t − 1) · lr_decay)      (a 1/t learning-rate decay, cf. lecture 003)
        s ← s + g²                                (sum, starts at initial_accumulator_value)
        w ← w − lr_t · g / (sqrt(s) + eps)

    Args:
        params: parameters or parameter groups (see :class:`Optimizer`).
        lr (float): learning rate, default 1e-2.
        lr_decay (float): learning-rate decay, default 0.
        weight_decay (float): L2 penalty, default 0.
        initial_accumulator_value (float): starting value of ``s``, default 0.
        eps (float): added to the denominator, default 1e-10.
        maximize (bool): ascend the objective instead of descending it.

    State per parameter (created as soon as the parameter joins the optimizer, as in torch):
    ``step`` and ``sum``.
    """

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                 eps=1e-10, *, maximize=False):
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, group):
        self._check_nonnegative(group, "lr", "lr_decay", "weight_decay",
                                "initial_accumulator_value", "eps")

    def add_param_group(self, param_group):
        """Add a parameter group and create its ``step``/``sum`` state right away."""
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        for p in group["params"]:
            self.state[p] = {
                "step": _new_step_counter(),
                "sum": Tensor._wrap(np.full_like(p._data, group["initial_accumulator_value"])),
            }

    def step(self, closure=None):
        """One update of every parameter with a gradient; returns ``closure()`` if given."""
        return self._run_step(closure, self._update)

    @staticmethod
    def _update(w, g, state, group):
        lr, eps = float(group["lr"]), float(group["eps"])
        lr_decay, weight_decay = float(group["lr_decay"]), float(group["weight_decay"])
        t = _increment(state["step"])
        if group["maximize"]:
            g = -g
        if weight_decay != 0:
            g = g + weight_decay * w
        clr = lr / (1 + (t - 1) * lr_decay)
        s = state["sum"]._data
        s += g * g
        w += -clr * g / (np.sqrt(s) + eps)
        state["sum"]._bump_version()
