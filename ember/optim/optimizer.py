"""The ``Optimizer`` base class: parameter groups, per-parameter state and its ``state_dict``.

Every optimizer in ``ember.optim`` is the lecture's gradient-descent loop (lecture 003
"梯度下降": ``w = w + -stepsize(iter) * g``) with a different rule for turning the gradient
``g`` into a step. The base class owns what they share:

* ``param_groups`` -- a list of dicts, each with ``'params'`` (a list of leaf Tensors) and the
  hyper-parameters of that group (``lr``, ``momentum``, ...). Options missing from a group are
  filled from ``defaults``, exactly as in torch.
* ``state`` -- a dict keyed by parameter holding the optimizer's running quantities
  (``momentum_buffer``, ``exp_avg``, ``step``, ...), created lazily at the first step.
* ``state_dict()`` / ``load_state_dict()`` in torch's layout::

      {'state': {0: {'step': tensor(3.), 'exp_avg': ..., ...}, 1: {...}},
       'param_groups': [{'lr': 0.001, 'betas': (0.9, 0.999), ..., 'params': [0, 1]}]}

  where parameters are numbered by their position across all groups.

Updates run under ``no_grad`` on the parameters' NumPy arrays in place (``p._data``), keep
the parameter's dtype (float32 stays float32), and bump the parameter's version counter so
that a backward pass through a graph that saved the old value raises instead of silently
using the new one.
"""
import copy
import functools
from collections import defaultdict

import numpy as np

from ember._tensor import Tensor
from ember.autograd.function import quiet_float_errors, restore_float_errors
from ember.autograd.grad_mode import enable_grad, no_grad


# State entries of the built-in optimizers that always have their parameter's shape.
_PARAMETER_SHAPED_STATE = frozenset(("momentum_buffer", "exp_avg", "exp_avg_sq", "max_exp_avg_sq",
                                     "square_avg", "grad_avg", "sum"))


class Optimizer:
    """Base class of all optimizers (torch.optim.Optimizer).

    Args:
        params: an iterable of Tensors, of ``(name, Tensor)`` pairs (as returned by
            ``module.named_parameters()``), or of dicts defining parameter groups
            (``{'params': [...], 'lr': 0.1}``).
        defaults: the default value of every hyper-parameter, used for groups that do not
            set it.

    Subclasses implement ``step(closure=None)``; the built-in ones call ``_run_step`` with a
    per-parameter update function and validate hyper-parameters in ``_check_group``.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "step" in cls.__dict__:
            cls.step = _records_step_call(cls.__dict__["step"])

    def __init__(self, params, defaults):
        self.defaults = defaults
        self.state = defaultdict(dict)
        self.param_groups = []
        if isinstance(params, Tensor):
            raise TypeError(f"{self._name}: params should be an iterable of Tensors or dicts, "
                            f"got a single Tensor of shape {tuple(params.shape)}; "
                            "wrap it in a list")
        if isinstance(params, (dict, set, frozenset)):
            raise TypeError(f"{self._name}: params should be an ordered iterable of Tensors or "
                            f"dicts, got a {type(params).__name__}; pass a list")
        self._check_group(defaults)
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError(f"{self._name}: got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    @property
    def _name(self):
        return type(self).__name__

    def _check_group(self, group):
        """Raise ``ValueError`` for an invalid hyper-parameter in ``group`` (a group or defaults)."""

    def _check_nonnegative(self, group, *keys):
        for key in keys:
            if key in group and not group[key] >= 0.0:
                raise ValueError(f"{self._name}: invalid {key} value {group[key]!r} "
                                 f"(expected {key} >= 0)")

    def __repr__(self):
        lines = [f"{self._name} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key not in ("params", "param_names"):
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)

    # ------------------------------------------------------------------ groups
    def add_param_group(self, param_group):
        """Add a group of parameters (a dict with ``'params'`` and optional per-group options).

        Useful for fine-tuning: unfreeze layers and hand them to the optimizer mid-training.
        A parameter may belong to only one group and appear only once.
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"{self._name}: param_group must be a dict, "
                            f"got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"{self._name}: param_group has no 'params' entry "
                             f"(keys: {sorted(param_group)})")
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(f"{self._name}: parameters must be given in an ordered collection "
                            "(a list), not a set: set order changes between runs")
        else:
            params = list(params)

        names = [p[0] for p in params if isinstance(p, tuple)]
        params = [p[1] if isinstance(p, tuple) else p for p in params]
        if names and len(names) != len(params):
            raise ValueError(f"{self._name}: either all parameters of a group are named "
                             "(name, tensor) pairs or none is")
        if names:
            group["param_names"] = names
        group["params"] = params

        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{self._name}: can only optimize Tensors, but parameter {i} of "
                                f"the group is a {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{self._name}: can't optimize a non-leaf Tensor (parameter {i} "
                                 f"of the group, shape {tuple(p.shape)}, was produced by "
                                 f"{p.grad_fn.name()}); use a leaf tensor, e.g. x.detach()"
                                 ".requires_grad_()")

        for key, default in self.defaults.items():
            group.setdefault(key, default)
        self._check_group(group)

        seen = set()
        for i, p in enumerate(params):
            if id(p) in seen:
                raise ValueError(f"{self._name}: parameter {i} of the group (shape "
                                 f"{tuple(p.shape)}) appears more than once in the group")
            seen.add(id(p))
        for gi, other in enumerate(self.param_groups):
            if ("param_names" in other) != ("param_names" in group):
                raise ValueError(f"{self._name}: all parameter groups must be either named or "
                                 "unnamed; cannot mix them")
            if any(id(p) in seen for p in other["params"]):
                raise ValueError(f"{self._name}: some parameters appear in more than one "
                                 f"parameter group (already in group {gi})")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none=True):
        """Reset the gradients of all optimized parameters.

        ``set_to_none=True`` (torch's default) sets ``p.grad = None``; ``False`` fills the
        existing gradient tensors with zeros.
        """
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                    continue
                grad = p.grad
                if grad.grad_fn is not None:
                    grad = grad.detach()
                    p.grad = grad
                else:
                    grad.requires_grad_(False)
                grad._data[...] = 0
                grad._bump_version()

    # -------------------------------------------------------------------- step
    def _run_step(self, closure, update):
        """The loop every built-in optimizer shares.

        Re-evaluates ``closure`` (with gradients enabled) if given, then calls
        ``update(param_array, grad_array, state, group)`` for every parameter that has a
        gradient, under ``no_grad``, and bumps the parameter's version. ``state`` is the
        parameter's state dict; it is kept in ``self.state`` only once the update puts
        something in it (so, as in torch, plain SGD has no state). Returns the loss the
        closure returned (or None).
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        quiet = quiet_float_errors()           # an overflowing update gives inf, as in torch
        try:
            with no_grad():
                for group in self.param_groups:
                    for p in group["params"]:
                        if p.grad is None:
                            continue
                        state = self.state.get(p, {})
                        update(p._data, p.grad._data, state, group)
                        if state:
                            self.state[p] = state
                        p._bump_version()
        finally:
            restore_float_errors(quiet)
        return loss

    # -------------------------------------------------------------- state dict
    def state_dict(self):
        """The optimizer's state in torch's layout (see the module docstring).

        Like torch, the returned tensors are the live state tensors (not copies): save it or
        deep-copy it before stepping again if you need a snapshot.
        """
        index = {}
        param_groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            param_groups.append(packed)
        state = {index[id(p)] if isinstance(p, Tensor) else p: v for p, v in self.state.items()}
        return {"state": state, "param_groups": param_groups}

    def load_state_dict(self, state_dict):
        """Load a state produced by ``state_dict()`` (possibly after ``ember.save``/``ember.load``).

        The groups must match this optimizer's in number and size. Saved hyper-parameters
        replace the current ones; floating-point state tensors are copied and cast to their
        parameter's dtype (``step`` counters are copied as they are), so the loaded optimizer
        never shares state with the one that produced ``state_dict``.
        """
        if not isinstance(state_dict, dict) or "state" not in state_dict \
                or "param_groups" not in state_dict:
            got = sorted(state_dict) if isinstance(state_dict, dict) else type(state_dict).__name__
            raise ValueError(f"{self._name}.load_state_dict: expected a dict with keys 'state' "
                             f"and 'param_groups', got {got}")
        groups = self.param_groups
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError(f"{self._name}.load_state_dict: loaded state dict has "
                             f"{len(saved_groups)} parameter groups, the optimizer has "
                             f"{len(groups)}")
        for i, (g, sg) in enumerate(zip(groups, saved_groups)):
            if len(g["params"]) != len(sg["params"]):
                raise ValueError(f"{self._name}.load_state_dict: parameter group {i} of the "
                                 f"loaded state dict has {len(sg['params'])} parameters, the "
                                 f"optimizer's has {len(g['params'])}")
        id_map = {}
        for g, sg in zip(groups, saved_groups):
            id_map.update(zip(sg["params"], g["params"]))

        state = defaultdict(dict)
        for key, value in state_dict["state"].items():
            if key in id_map:
                param = id_map[key]
                state[param] = {k: self._cast_state(param, k, v) for k, v in value.items()}
            else:
                state[key] = copy.deepcopy(value)
        for g, sg in zip(groups, saved_groups):
            sg["params"] = g["params"]
            if "param_names" in g and "param_names" not in sg:
                sg["param_names"] = g["param_names"]
        self.state = state
        self.param_groups = saved_groups

    def _cast_state(self, param, key, value):
        if isinstance(value, Tensor):
            data = value._data
            if key != "step" and param._data.dtype.kind == "f":
                data = data.astype(param._data.dtype)
            out = Tensor._wrap(np.array(data, copy=True))
            if key in _PARAMETER_SHAPED_STATE and data.shape != param._data.shape:
                raise ValueError(f"{self._name}.load_state_dict: state '{key}' has shape "
                                 f"{data.shape}, its parameter has shape {param._data.shape}")
            return out
        return copy.deepcopy(value)


def _records_step_call(step):
    """Wrap a subclass's ``step`` so that it sets ``self._opt_called``.

    Learning-rate schedulers read the flag to warn when ``scheduler.step()`` is called before
    the first ``optimizer.step()`` (which would skip the schedule's first value, as in torch).
    """
    @functools.wraps(step)
    def step_and_record(self, *args, **kwargs):
        self._opt_called = True
        return step(self, *args, **kwargs)
    return step_and_record


def _new_step_counter():
    """A zero-dim float32 step counter, like torch's ``state['step']`` tensor."""
    return Tensor._wrap(np.zeros((), dtype=np.float32))


def _increment(step_tensor):
    """Add one to a ``state['step']`` tensor in place and return the new count as a float."""
    step_tensor._data += 1
    step_tensor._bump_version()
    return float(step_tensor._data)


def _zeros_like(array):
    return Tensor._wrap(np.zeros_like(array))


def _lerp_(start, end, weight):
    """``start += weight * (end - start)`` in place, rounded the way torch's ``lerp_`` rounds.

    torch switches formula at ``|weight| = 0.5`` to keep the result close to the nearer end
    point; doing the same keeps long trajectories equal to torch's.
    """
    w = start.dtype.type(weight)
    if abs(w) < 0.5:
        start += w * (end - start)
    else:
        start[...] = end - (end - start) * (start.dtype.type(1) - w)
