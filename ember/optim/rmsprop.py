"""RMSprop (Hinton, Coursera lecture 6e): divide the step by a running RMS of the gradient."""
import numpy as np

from ember.optim.optimizer import Optimizer, _increment, _lerp_, _new_step_counter, _zeros_like


class RMSprop(Optimizer):
    r"""RMSprop (torch.optim.RMSprop).

    Per parameter, with ``g = ∂L/∂w`` (``-g`` if ``maximize``)::

        g ← g + weight_decay · w
        v ← α · v + (1 − α) · g²                  (square_avg)
        ḡ ← α · ḡ + (1 − α) · g   if centered     (grad_avg)
        d ← sqrt(v − ḡ²) + eps   if centered, else   sqrt(v) + eps
        b ← momentum · b + g / d,  w ← w − lr · b   if momentum > 0
        w ← w − lr · g / d                            otherwise

    ``eps`` is added outside the square root, as in torch (TensorFlow adds it inside).

    Args:
        params: parameters or parameter groups (see :class:`Optimizer`).
        lr (float): learning rate, default 1e-2.
        alpha (float): smoothing constant, default 0.99.
        eps (float): added to the denominator, default 1e-8.
        weight_decay (float): L2 penalty, default 0.
        momentum (float): momentum factor, default 0.
        centered (bool): normalise by the estimated variance instead of the raw second
            moment, default False.
        maximize (bool): ascend the objective instead of descending it.

    State per parameter: ``step``, ``square_avg``, ``momentum_buffer`` (if ``momentum > 0``),
    ``grad_avg`` (if ``centered``).
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, *, maximize=False):
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, group):
        self._check_nonnegative(group, "lr", "eps", "momentum", "weight_decay", "alpha")

    def step(self, closure=None):
        """One update of every parameter with a gradient; returns ``closure()`` if given."""
        return self._run_step(closure, self._update)

    @staticmethod
    def _update(w, g, state, group):
        lr, alpha, eps = float(group["lr"]), float(group["alpha"]), float(group["eps"])
        momentum, weight_decay = float(group["momentum"]), float(group["weight_decay"])
        if not state:
            state["step"] = _new_step_counter()
            state["square_avg"] = _zeros_like(w)
            if momentum > 0:
                state["momentum_buffer"] = _zeros_like(w)
            if group["centered"]:
                state["grad_avg"] = _zeros_like(w)
        if group["maximize"]:
            g = -g
        _increment(state["step"])
        if weight_decay != 0:
            g = g + weight_decay * w
        v = state["square_avg"]._data
        v *= alpha
        v += (1 - alpha) * g * g
        if group["centered"]:
            g_avg = state["grad_avg"]._data
            _lerp_(g_avg, g, 1 - alpha)
            denom = np.sqrt(v + -g_avg * g_avg)
        else:
            denom = np.sqrt(v)
        denom += eps
        if momentum > 0:
            buf = state["momentum_buffer"]._data
            buf *= momentum
            buf += g / denom
            w += -lr * buf
        else:
            w += -lr * g / denom
        for tensor in state.values():
            tensor._bump_version()
