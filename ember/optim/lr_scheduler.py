"""Learning-rate schedulers (torch.optim.lr_scheduler).

Lecture 003 "梯度下降" gives the idea: start from an initial lr and multiply it by ``f``
every ``N`` steps (``init_lr = 1e-1, f = 0.1, N = 10K``, i.e.
``lr = 0.1 · 0.1^⌊step / 10000⌋``) -- that is :class:`StepLR` (inventory A18). The other schedulers here
are torch's, with the same formulas, so a run with ``import ember as torch`` follows the
same learning-rate trajectory.

A scheduler is stepped once per epoch (or per iteration), *after* ``optimizer.step()``; it
writes the new rate into every ``param_group['lr']``. Like torch, most schedulers update the
rate *recursively* from the group's current ``lr`` (so several schedulers can be chained on
one optimizer), and the scheduler records each group's starting rate in
``param_group['initial_lr']``.

Differences from torch: ``step(epoch)`` (deprecated in torch since 1.4) is not accepted --
call ``step()``; learning rates are Python floats (no Tensor learning rates).
"""
import abc
import math
import types
import warnings
from bisect import bisect_right
from collections import Counter

from ember.optim.optimizer import Optimizer

__all__ = ["LRScheduler", "LambdaLR", "StepLR", "MultiStepLR", "ExponentialLR",
           "CosineAnnealingLR", "LinearLR", "OneCycleLR", "SequentialLR", "ReduceLROnPlateau"]


def _check_optimizer(name, optimizer):
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{name}: expected an ember.optim.Optimizer, "
                        f"got {type(optimizer).__name__}")


def _per_group(name, optimizer, value):
    """One value per param group: a list/tuple must match the group count, a scalar is repeated."""
    if isinstance(value, (list, tuple)):
        if len(value) != len(optimizer.param_groups):
            raise ValueError(f"{name} must have one value per param group: got {len(value)} "
                             f"values for {len(optimizer.param_groups)} param groups")
        return list(value)
    return [value] * len(optimizer.param_groups)


class LRScheduler(abc.ABC):
    """Base class of the learning-rate schedulers.

    Args:
        optimizer (Optimizer): the optimizer whose ``param_group['lr']`` values are set.
        last_epoch (int): index of the last epoch seen; ``-1`` (default) starts fresh. A
            value ``>= 0`` resumes a schedule and requires ``'initial_lr'`` in every group.

    Subclasses implement :meth:`get_lr` (the recursive update used by :meth:`step`) and
    ``_get_closed_form_lr`` when a closed form exists (used by :class:`SequentialLR` to
    restart a scheduler at a milestone).

    Attributes mirror torch's: ``base_lrs`` (the groups' ``initial_lr``), ``last_epoch``
    (the number of ``step()`` calls so far, 0 right after construction), ``_step_count``.
    """

    _get_lr_called_within_step = False
    _is_initial = False

    def __init__(self, optimizer, last_epoch=-1):
        _check_optimizer(type(self).__name__, optimizer)
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"{type(self).__name__}: param 'initial_lr' is not specified "
                                   f"in param_groups[{i}] when resuming with last_epoch="
                                   f"{last_epoch}; load the optimizer's state dict first or "
                                   "use last_epoch=-1")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self):
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    @abc.abstractmethod
    def get_lr(self):
        """The learning rates for the current ``last_epoch`` (one per param group).

        Called by :meth:`step`; to read the current rates use :meth:`get_last_lr`.
        """

    def get_last_lr(self):
        """The learning rates set by the most recent :meth:`step` (one per param group)."""
        return self._last_lr

    def state_dict(self):
        """Every attribute except the optimizer (torch's layout)."""
        return {key: value for key, value in self.__dict__.items() if key != "optimizer"}

    def load_state_dict(self, state_dict):
        """Restore attributes saved by :meth:`state_dict`."""
        self.__dict__.update(state_dict)

    def step(self):
        """Advance the schedule by one epoch and write the new rates into the optimizer.

        Call it after ``optimizer.step()``; calling it first skips the schedule's first value
        (torch warns about this, and so does Ember).
        """
        if self._step_count == 1 and not getattr(self.optimizer, "_opt_called", False):
            warnings.warn("Detected call of `lr_scheduler.step()` before `optimizer.step()`. "
                          "Call `optimizer.step()` first, otherwise the first value of the "
                          "learning rate schedule is skipped.", UserWarning, stacklevel=2)
        self._step_count += 1
        self._update_lr()

    def _update_lr(self, epoch=None):
        self._get_lr_called_within_step = True
        try:
            if epoch is None:
                self.last_epoch += 1
                values = self.get_lr()
            else:
                self.last_epoch = epoch
                closed_form = getattr(self, "_get_closed_form_lr", None)
                values = closed_form() if closed_form is not None else self.get_lr()
        finally:
            self._get_lr_called_within_step = False
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _warn_if_called_outside_step(self):
        if not self._get_lr_called_within_step:
            warnings.warn("To get the last learning rate computed by the scheduler, "
                          "please use `get_last_lr()`.", UserWarning, stacklevel=3)

    def _current_lrs(self):
        return [group["lr"] for group in self.optimizer.param_groups]


class LambdaLR(LRScheduler):
    """``lr = initial_lr · lr_lambda(epoch)``.

    Args:
        optimizer (Optimizer): wrapped optimizer.
        lr_lambda (callable or list): a function of the epoch index, or one per param group.
        last_epoch (int): see :class:`LRScheduler`.

    ``state_dict()`` stores ``None`` for plain functions and lambdas and the ``__dict__`` of
    callable objects, as torch does (functions cannot be serialised safely).
    """

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        _check_optimizer("LambdaLR", optimizer)
        n = len(optimizer.param_groups)
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != n:
                raise ValueError(f"LambdaLR: expected {n} lr_lambdas (one per param group), "
                                 f"got {len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * n
        for fn in self.lr_lambdas:
            if not callable(fn):
                raise TypeError(f"LambdaLR: lr_lambda should be callable, got {type(fn).__name__}")
        super().__init__(optimizer, last_epoch)

    def state_dict(self):
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "lr_lambdas")}
        state["lr_lambdas"] = [None if isinstance(fn, types.FunctionType) else dict(fn.__dict__)
                               for fn in self.lr_lambdas]
        return state

    def load_state_dict(self, state_dict):
        state_dict = dict(state_dict)
        lr_lambdas = state_dict.pop("lr_lambdas")
        self.__dict__.update(state_dict)
        for fn, saved in zip(self.lr_lambdas, lr_lambdas):
            if saved is not None:
                fn.__dict__.update(saved)

    def get_lr(self):
        self._warn_if_called_outside_step()
        return [base_lr * fn(self.last_epoch) for fn, base_lr in zip(self.lr_lambdas, self.base_lrs)]


class StepLR(LRScheduler):
    """Multiply the lr by ``gamma`` every ``step_size`` epochs (lecture 003 "梯度下降").

    ``lr = initial_lr · gamma^⌊epoch / step_size⌋``; the lecture's example is
    ``StepLR(opt, step_size=10_000, gamma=0.1)`` with ``lr=0.1``, stepped every iteration.

    Args:
        optimizer (Optimizer): wrapped optimizer.
        step_size (int): period of the decay, in ``step()`` calls.
        gamma (float): multiplicative factor, default 0.1.
        last_epoch (int): see :class:`LRScheduler`.
    """

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        if not isinstance(step_size, int) or isinstance(step_size, bool) or step_size <= 0:
            raise ValueError(f"StepLR: step_size must be a positive int, got {step_size!r}")
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        self._warn_if_called_outside_step()
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]

    def _get_closed_form_lr(self):
        return [base_lr * self.gamma ** (self.last_epoch // self.step_size)
                for base_lr in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Multiply the lr by ``gamma`` at each milestone epoch.

    ``lr = initial_lr · gamma^(number of milestones <= epoch)``; a milestone listed twice
    applies ``gamma`` twice.

    Args:
        optimizer (Optimizer): wrapped optimizer.
        milestones (iterable of int): epoch indices (need not be sorted).
        gamma (float): multiplicative factor, default 0.1.
        last_epoch (int): see :class:`LRScheduler`.
    """

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        self.milestones = Counter(milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        self._warn_if_called_outside_step()
        if self.last_epoch not in self.milestones:
            return self._current_lrs()
        return [lr * self.gamma ** self.milestones[self.last_epoch] for lr in self._current_lrs()]

    def _get_closed_form_lr(self):
        milestones = sorted(Counter(self.milestones).elements())
        return [base_lr * self.gamma ** bisect_right(milestones, self.last_epoch)
                for base_lr in self.base_lrs]


class ExponentialLR(LRScheduler):
    """Multiply the lr by ``gamma`` every epoch: ``lr = initial_lr · gamma^epoch``.

    Args:
        optimizer (Optimizer): wrapped optimizer.
        gamma (float): multiplicative factor.
        last_epoch (int): see :class:`LRScheduler`.
    """

    def __init__(self, optimizer, gamma, last_epoch=-1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        self._warn_if_called_outside_step()
        if self._is_initial:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]

    def _get_closed_form_lr(self):
        return [base_lr * self.gamma ** self.last_epoch for base_lr in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    r"""Cosine annealing from ``initial_lr`` down to ``eta_min`` over ``T_max`` epochs (SGDR).

    Closed form: ``lr_t = eta_min + (initial_lr − eta_min) · (1 + cos(π t / T_max)) / 2``.
    Like torch, :meth:`step` uses the recursive form

        ``lr_t = eta_min + (lr_{t−1} − eta_min) · (1 + cos(π t/T_max)) / (1 + cos(π (t−1)/T_max))``

    so that the trajectory (including past ``T_max``, where the rate rises again with period
    ``2·T_max``, and when other schedulers also change the lr) is the same as torch's.

    Args:
        optimizer (Optimizer): wrapped optimizer.
        T_max (int): half period, in epochs.
        eta_min (float): minimum learning rate, default 0.
        last_epoch (int): see :class:`LRScheduler`.
    """

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        if not T_max > 0:
            raise ValueError(f"CosineAnnealingLR: T_max must be positive, got {T_max!r}")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        self._warn_if_called_outside_step()
        t, T = self.last_epoch, self.T_max
        if self._is_initial:
            return self._current_lrs()
        if self._step_count == 1 and t > 0:
            return [self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(t * math.pi / T)) / 2
                    for base_lr in self.base_lrs]
        if (t - 1 - T) % (2 * T) == 0:
            return [lr + (base_lr - self.eta_min) * (1 - math.cos(math.pi / T)) / 2
                    for base_lr, lr in zip(self.base_lrs, self._current_lrs())]
        return [(1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T))
                * (lr - self.eta_min) + self.eta_min
                for lr in self._current_lrs()]

    def _get_closed_form_lr(self):
        return [self.eta_min + (base_lr - self.eta_min)
                * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
                for base_lr in self.base_lrs]


class LinearLR(LRScheduler):
    """Scale the lr linearly from ``start_factor`` to ``end_factor`` over ``total_iters`` epochs.

    ``lr = initial_lr · (start_factor + (end_factor − start_factor) · min(epoch, total_iters)
    / total_iters)``; a common warm-up.

    Args:
        optimizer (Optimizer): wrapped optimizer.
        start_factor (float): factor at epoch 0, in (0, 1], default 1/3.
        end_factor (float): factor from ``total_iters`` on, in [0, 1], default 1.
        total_iters (int): length of the ramp, default 5.
        last_epoch (int): see :class:`LRScheduler`.
    """

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5,
                 last_epoch=-1):
        if not 0 < start_factor <= 1:
            raise ValueError(f"LinearLR: start_factor must be in (0, 1], got {start_factor!r}")
        if not 0 <= end_factor <= 1:
            raise ValueError(f"LinearLR: end_factor must be in [0, 1], got {end_factor!r}")
        if not total_iters > 0:
            raise ValueError(f"LinearLR: total_iters must be positive, got {total_iters!r}")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        self._warn_if_called_outside_step()
        if self.last_epoch == 0:
            return [lr * self.start_factor for lr in self._current_lrs()]
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._current_lrs()
        delta = self.end_factor - self.start_factor
        ratio = 1.0 + delta / (self.total_iters * self.start_factor + (self.last_epoch - 1) * delta)
        return [lr * ratio for lr in self._current_lrs()]

    def _get_closed_form_lr(self):
        return [base_lr * (self.start_factor + (self.end_factor - self.start_factor)
                           * min(self.total_iters, self.last_epoch) / self.total_iters)
                for base_lr in self.base_lrs]


class SequentialLR(LRScheduler):
    """Run ``schedulers[0]`` until ``milestones[0]``, then ``schedulers[1]``, and so on.

    At each milestone the next scheduler restarts from its epoch 0 (its closed form at 0), e.g.
    a ``LinearLR`` warm-up for 5 epochs followed by ``CosineAnnealingLR``::

        SequentialLR(opt, [LinearLR(opt, 0.1, total_iters=5), CosineAnnealingLR(opt, 95)],
                     milestones=[5])

    Args:
        optimizer (Optimizer): the optimizer all ``schedulers`` belong to.
        schedulers (list): the schedulers, in order (not :class:`ReduceLROnPlateau`).
        milestones (list of int): ``len(schedulers) − 1`` switch epochs.
        last_epoch (int): see :class:`LRScheduler`.
    """

    def __init__(self, optimizer, schedulers, milestones, last_epoch=-1):
        _check_optimizer("SequentialLR", optimizer)
        if len(schedulers) < 1:
            raise ValueError("SequentialLR: expects at least one scheduler, got none")
        for i, scheduler in enumerate(schedulers):
            if isinstance(scheduler, ReduceLROnPlateau):
                raise ValueError(f"SequentialLR: scheduler {i} is a ReduceLROnPlateau, which is "
                                 "not supported (its step() needs a metric)")
            if not isinstance(scheduler, LRScheduler):
                raise TypeError(f"SequentialLR: scheduler {i} is a {type(scheduler).__name__}, "
                                "not an LRScheduler")
            if scheduler.optimizer is not optimizer:
                raise ValueError(f"SequentialLR: scheduler {i} ({type(scheduler).__name__}) "
                                 "belongs to a different optimizer")
        milestones = list(milestones)
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"SequentialLR: expects len(schedulers) - 1 milestones, got "
                             f"{len(schedulers)} schedulers and {len(milestones)} milestones")
        self._schedulers = list(schedulers)
        self._milestones = milestones
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer
        # Each scheduler's constructor already took one step; undo them and restart the first.
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        self._recursive_undo(self)
        idx = bisect_right(self._milestones, 0)
        self._schedulers[idx]._initial_step()
        self._last_lr = self._schedulers[idx].get_last_lr()

    def _recursive_undo(self, sched):
        if sched is self or isinstance(sched, SequentialLR):
            for s in sched._schedulers:
                self._recursive_undo(s)
        else:
            sched.last_epoch -= 1

    def get_lr(self):
        """The rates of the scheduler active at ``last_epoch``."""
        idx = bisect_right(self._milestones, self.last_epoch)
        return self._schedulers[idx].get_last_lr()

    def step(self):
        """Step the active scheduler, restarting the next one at a milestone."""
        self.last_epoch += 1
        idx = bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            scheduler._update_lr(0)
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()

    def state_dict(self):
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "_schedulers")}
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return state

    def load_state_dict(self, state_dict):
        state_dict = dict(state_dict)
        schedulers = state_dict.pop("_schedulers")
        self.__dict__.update(state_dict)
        for scheduler, saved in zip(self._schedulers, schedulers):
            scheduler.load_state_dict(saved)


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin 2018): warm up to ``max_lr``, then anneal far below.

    Phases (``total_steps`` steps in all; ``step()`` is called once per batch):

    * two-phase (default): ``initial_lr = max_lr / div_factor`` → ``max_lr`` over the first
      ``pct_start · total_steps − 1`` steps, then → ``min_lr = initial_lr / final_div_factor``;
    * ``three_phase=True``: up to ``max_lr``, symmetrically back down to ``initial_lr``, then
      → ``min_lr``.

    Each phase interpolates with ``anneal_strategy`` ``'cos'``
    (``end + (start − end)/2 · (1 + cos(π·pct))``) or ``'linear'``. With ``cycle_momentum``
    the momentum (SGD, RMSprop) or ``beta1`` (Adam) moves inversely, between ``max_momentum``
    and ``base_momentum``. The groups receive ``initial_lr``, ``max_lr``, ``min_lr`` (and
    ``max_momentum``, ``base_momentum``) entries, as in torch.

    Args:
        optimizer (Optimizer): wrapped optimizer.
        max_lr (float or list): peak learning rate(s).
        total_steps (int): number of steps; or give ``epochs`` and ``steps_per_epoch``.
        epochs (int), steps_per_epoch (int): ``total_steps = epochs · steps_per_epoch``.
        pct_start (float): fraction of the cycle spent increasing the lr, default 0.3.
        anneal_strategy (str): ``'cos'`` (default) or ``'linear'``.
        cycle_momentum (bool): cycle momentum/beta1 inversely to the lr, default True.
        base_momentum (float or list): lowest momentum, default 0.85.
        max_momentum (float or list): highest momentum, default 0.95.
        div_factor (float): ``initial_lr = max_lr / div_factor``, default 25.
        final_div_factor (float): ``min_lr = initial_lr / final_div_factor``, default 1e4.
        three_phase (bool): use the three-phase schedule, default False.
        last_epoch (int): see :class:`LRScheduler`.

    Stepping more than ``total_steps`` times raises ``ValueError``.
    """

    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None,
                 pct_start=0.3, anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85,
                 max_momentum=0.95, div_factor=25.0, final_div_factor=1e4, three_phase=False,
                 last_epoch=-1):
        _check_optimizer("OneCycleLR", optimizer)
        self.optimizer = optimizer
        if total_steps is not None:
            if not isinstance(total_steps, int) or total_steps <= 0:
                raise ValueError(f"OneCycleLR: expected a positive int total_steps, "
                                 f"got {total_steps!r}")
            self.total_steps = total_steps
        elif epochs is not None and steps_per_epoch is not None:
            if not isinstance(epochs, int) or epochs <= 0:
                raise ValueError(f"OneCycleLR: expected a positive int epochs, got {epochs!r}")
            if not isinstance(steps_per_epoch, int) or steps_per_epoch <= 0:
                raise ValueError(f"OneCycleLR: expected a positive int steps_per_epoch, "
                                 f"got {steps_per_epoch!r}")
            self.total_steps = epochs * steps_per_epoch
        else:
            raise ValueError("OneCycleLR: give either total_steps or both epochs and "
                             "steps_per_epoch")
        if not isinstance(pct_start, float) or not 0 <= pct_start <= 1:
            raise ValueError(f"OneCycleLR: expected a float pct_start in [0, 1], got {pct_start!r}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"OneCycleLR: anneal_strategy must be 'cos' or 'linear', "
                             f"got {anneal_strategy!r}")
        self._anneal_func_type = anneal_strategy
        up_end = float(pct_start * self.total_steps) - 1
        if three_phase:
            self._schedule_phases = [
                dict(end_step=up_end, start_lr="initial_lr", end_lr="max_lr",
                     start_momentum="max_momentum", end_momentum="base_momentum"),
                dict(end_step=float(2 * pct_start * self.total_steps) - 2, start_lr="max_lr",
                     end_lr="initial_lr", start_momentum="base_momentum",
                     end_momentum="max_momentum"),
                dict(end_step=self.total_steps - 1, start_lr="initial_lr", end_lr="min_lr",
                     start_momentum="max_momentum", end_momentum="max_momentum"),
            ]
        else:
            self._schedule_phases = [
                dict(end_step=up_end, start_lr="initial_lr", end_lr="max_lr",
                     start_momentum="max_momentum", end_momentum="base_momentum"),
                dict(end_step=self.total_steps - 1, start_lr="max_lr", end_lr="min_lr",
                     start_momentum="base_momentum", end_momentum="max_momentum"),
            ]
        max_lrs = _per_group("OneCycleLR: max_lr", optimizer, max_lr)
        if last_epoch == -1:
            for group, lr in zip(optimizer.param_groups, max_lrs):
                group["initial_lr"] = lr / div_factor
                group["max_lr"] = lr
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError(f"OneCycleLR: cycle_momentum=True needs an optimizer with "
                                 f"momentum or betas; {type(optimizer).__name__} has neither")
            self.use_beta1 = "betas" in optimizer.defaults
            max_momenta = _per_group("OneCycleLR: max_momentum", optimizer, max_momentum)
            base_momenta = _per_group("OneCycleLR: base_momentum", optimizer, base_momentum)
            if last_epoch == -1:
                for m_max, m_base, group in zip(max_momenta, base_momenta,
                                                optimizer.param_groups):
                    self._set_momentum(group, m_max)
                    group["max_momentum"] = m_max
                    group["base_momentum"] = m_base
        super().__init__(optimizer, last_epoch)

    def _set_momentum(self, group, value):
        if self.use_beta1:
            group["betas"] = (value, *group["betas"][1:])
        else:
            group["momentum"] = value

    def _anneal(self, start, end, pct):
        if self._anneal_func_type == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self):
        self._warn_if_called_outside_step()
        step_num = self.last_epoch
        if step_num > self.total_steps:
            raise ValueError(f"OneCycleLR: tried to step {step_num} times; the schedule has "
                             f"total_steps={self.total_steps}")
        lrs = []
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for i, phase in enumerate(self._schedule_phases):
                end_step = phase["end_step"]
                if step_num <= end_step or i == len(self._schedule_phases) - 1:
                    pct = (step_num - start_step) / (end_step - start_step)
                    lr = self._anneal(group[phase["start_lr"]], group[phase["end_lr"]], pct)
                    if self.cycle_momentum:
                        momentum = self._anneal(group[phase["start_momentum"]],
                                                group[phase["end_momentum"]], pct)
                    break
                start_step = end_step
            lrs.append(lr)
            if self.cycle_momentum:
                self._set_momentum(group, momentum)
        return lrs


class ReduceLROnPlateau(LRScheduler):
    """Multiply the lr by ``factor`` when a metric stops improving for ``patience`` epochs.

    ``step(metric)`` is called once per epoch with e.g. the validation loss. A value is an
    improvement when (``mode='min'``) it is below ``best · (1 − threshold)``
    (``threshold_mode='rel'``) or ``best − threshold`` (``'abs'``); ``'max'`` mirrors this.
    After more than ``patience`` epochs without improvement every group's lr becomes
    ``max(lr · factor, min_lr)`` (a change smaller than ``eps`` is skipped), and the next
    ``cooldown`` epochs are not counted.

    Args:
        optimizer (Optimizer): wrapped optimizer.
        mode (str): ``'min'`` (default) or ``'max'``.
        factor (float): reduction factor, ``< 1``, default 0.1.
        patience (int): epochs without improvement tolerated, default 10.
        threshold (float): minimal significant change, default 1e-4.
        threshold_mode (str): ``'rel'`` (default) or ``'abs'``.
        cooldown (int): epochs to wait after a reduction, default 0.
        min_lr (float or list): lower bound(s) on the lr, default 0.
        eps (float): minimal applied change of the lr, default 1e-8.
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0, eps=1e-8):
        _check_optimizer("ReduceLROnPlateau", optimizer)
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor should be < 1.0, got {factor!r}")
        self.factor = factor
        self.optimizer = optimizer
        if isinstance(min_lr, (list, tuple)):
            self.default_min_lr = None
            self.min_lrs = _per_group("ReduceLROnPlateau: min_lr", optimizer, min_lr)
        else:
            self.default_min_lr = min_lr
            self.min_lrs = [min_lr] * len(optimizer.param_groups)
        self.patience = patience
        self.cooldown = cooldown
        self.eps = eps
        self.last_epoch = 0
        self._last_lr = self._current_lrs()
        self._init_is_better(mode, threshold, threshold_mode)
        self._reset()

    def _init_is_better(self, mode, threshold, threshold_mode):
        if mode not in ("min", "max"):
            raise ValueError(f"ReduceLROnPlateau: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"ReduceLROnPlateau: threshold_mode must be 'rel' or 'abs', "
                             f"got {threshold_mode!r}")
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.mode = mode
        self.threshold = threshold
        self.threshold_mode = threshold_mode

    def _reset(self):
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    def get_lr(self):
        """The current learning rates (this scheduler only changes them inside ``step``)."""
        return self._current_lrs()

    @property
    def in_cooldown(self):
        return self.cooldown_counter > 0

    def _is_better(self, a, best):
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min":
            return a < best - self.threshold
        if self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    def step(self, metrics):
        """Record this epoch's metric (a number or one-element Tensor) and maybe reduce the lr."""
        current = float(metrics)
        self.last_epoch += 1
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = self._current_lrs()

    def _reduce_lr(self):
        if len(self.optimizer.param_groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RuntimeError(f"ReduceLROnPlateau: the optimizer has "
                                   f"{len(self.optimizer.param_groups)} param groups but min_lr "
                                   f"was given for {len(self.min_lrs)}; update `min_lrs`")
            self.min_lrs = [self.default_min_lr] * len(self.optimizer.param_groups)
        for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, min_lr)
            if old_lr - new_lr > self.eps:
                group["lr"] = new_lr

    def load_state_dict(self, state_dict):
        self.__dict__.update(state_dict)
        self._init_is_better(self.mode, self.threshold, self.threshold_mode)
