"""Stochastic gradient descent with momentum (lecture 003 "梯度下降", "动量法 momentum")."""
from functools import partial

import numpy as np

from ember import _parallel
from ember._tensor import Tensor
from ember.kernels import compiled, flat
from ember.optim.optimizer import Optimizer


# a parameter is updated in blocks on Ember's threads from this many elements (1 MB of float32:
# the pass reads and writes 5 MB, ~0.25 ms on one core, against ~0.07 ms to hand a block to a
# worker); ResNet-18's SGD step on two threads: 8.5 -> 5.8 ms
PARALLEL_MIN_ELEMENTS = 2 ** 18


class SGD(Optimizer):
    r"""Stochastic gradient descent, optionally with momentum (torch.optim.SGD).

    The lectures' update ``w_{t+1} = w_t - lr * g_t`` (lecture 003 "梯度下降", lecture 000
    "Gradient Descent"), extended with the options torch has. Per parameter, with
    ``g = ∂L/∂w`` (``-g`` if ``maximize``)::

        g ← g + weight_decay · w                      (L2 penalty λ‖w‖², lecture 003 "正则项")
        b ← g                              at the first step
        b ← momentum · b + (1 − dampening) · g   afterwards   (the momentum buffer)
        g ← g + momentum · b   if nesterov, else   g ← b
        w ← w − lr · g

    Lecture 003 describes momentum as "recording the gradient history and taking a weighted
    average with the current gradient" without a formula (inventory ⚠ A19); Ember uses
    torch's heavy-ball form above (no ``1 − momentum`` factor on ``g``), so with
    ``momentum=0.25`` the buffer is ``g_t + 0.25 g_{t−1} + 0.25² g_{t−2} + …``. With
    ``dampening = momentum`` it becomes the exponential moving average
    ``b ← m·b + (1−m)·g`` (except for the first step, which copies ``g`` as torch does).

    One step of plain gradient descent on ``f(w) = w²`` from ``w = 1`` (gradient 2):

    >>> w = ember.tensor([1.0], requires_grad=True)
    >>> opt = ember.optim.SGD([w], lr=0.1)
    >>> (w ** 2).sum().backward(); opt.step()
    >>> w
    tensor([0.8000], requires_grad=True)

    Args:
        params: parameters or parameter groups (see :class:`Optimizer`).
        lr (float): learning rate, default 1e-3.
        momentum (float): momentum factor, default 0.
        dampening (float): dampening of the gradient term in the buffer, default 0.
        weight_decay (float): L2 penalty coefficient, default 0.
        nesterov (bool): Nesterov momentum (needs ``momentum > 0`` and ``dampening = 0``).
        maximize (bool): ascend the objective instead of descending it.

    State per parameter: ``momentum_buffer`` (only when ``momentum != 0``).
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False,
                 *, maximize=False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, group):
        self._check_nonnegative(group, "lr", "momentum", "weight_decay")
        if group.get("nesterov") and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"SGD: Nesterov momentum requires a momentum > 0 and zero dampening, "
                             f"got momentum={group['momentum']}, dampening={group['dampening']}")

    def step(self, closure=None):
        """One update of every parameter with a gradient; returns ``closure()`` if given."""
        return self._run_step(closure, self._update)

    @staticmethod
    def _update(w, g, state, group):
        lr, momentum = float(group["lr"]), float(group["momentum"])
        weight_decay = float(group["weight_decay"])
        kernels = compiled()
        if kernels is not None and SGD._compiled_update(kernels, w, g, state, group, lr,
                                                        momentum, weight_decay):
            return
        if group["maximize"]:
            g = -g
        if weight_decay != 0:
            g = g + weight_decay * w
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                state["momentum_buffer"] = Tensor._wrap(np.array(g, copy=True))
                buf = state["momentum_buffer"]._data
            else:
                buf = buf._data
                buf *= momentum
                dampening = float(group["dampening"])
                buf += g if dampening == 0 else (1 - dampening) * g
                state["momentum_buffer"]._bump_version()
            g = g + momentum * buf if group["nesterov"] else buf
        w -= lr * g

    @staticmethod
    def _compiled_update(kernels, w, g, state, group, lr, momentum, weight_decay):
        """:meth:`_update` in one pass (``ember.kernels.optim.sgd_step``, equal bit for bit);
        False (nothing done) unless the parameter, its gradient and its momentum buffer are
        contiguous arrays of one float dtype."""
        buf = state.get("momentum_buffer") if momentum != 0 else None
        views = flat(w, g) if buf is None else flat(w, g, buf._data)
        if views is None:
            return False
        first = momentum != 0 and buf is None
        if first:
            buf = state["momentum_buffer"] = Tensor._wrap(np.empty(w.shape, w.dtype))
            views.append(buf._data.reshape(-1))
        elif buf is not None:
            buf._bump_version()
        else:
            views.append(views[0])          # no momentum: the buffer argument is not used
        hyper = (lr, momentum, float(group["dampening"]), weight_decay, bool(group["nesterov"]),
                 bool(group["maximize"]), first)
        size = views[0].shape[0]
        parts = _parallel.batch_parts(size, size, PARALLEL_MIN_ELEMENTS)
        if len(parts) == 1:
            kernels.optim.sgd_step(*views, *hyper)
        else:   # an element's update reads and writes only that element, so blocks of a
            # large parameter go to Ember's threads (ResNet-18's 512-channel convs: 2.4M each)
            _parallel.run([partial(kernels.optim.sgd_step, *[v[part] for v in views], *hyper)
                           for part in parts])
        return True
