"""``nn.Module``: the base class of every layer and model (``torch.nn.Module``).

A module owns named *parameters* (trained), *buffers* (state that is not trained, e.g.
BatchNorm's running statistics) and *submodules*. Assigning them as attributes registers
them, in order, so ``parameters()``, ``state_dict()`` and ``repr`` list them the way torch
does::

    class Fully_Connected_Layer(nn.Module):          # lecture 000 "Implement with PyTorch"
        def __init__(self, in_dim, out_dim):
            super().__init__()
            self.Linear_Layer = nn.Linear(in_dim, out_dim)
            self.activation = nn.ReLU()
        def forward(self, x):
            return self.activation(self.Linear_Layer(x))

Calling the module runs the forward pre-hooks, ``forward`` and the forward hooks.
"""
import itertools
from collections import OrderedDict, namedtuple

import numpy as np

from ember import _dtype, _legacy_types
from ember._tensor import Tensor, device as _device
from ember.autograd.function import Function, RemovableHandle
from ember.autograd.grad_mode import no_grad
from ember.nn.parameter import (UNINITIALIZED_SHAPE_MESSAGE, Buffer, Parameter,
                                 is_lazy)

__all__ = ["Module"]

_hook_ids = itertools.count()


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """What ``load_state_dict`` returns: the keys the model expected but did not get, and the
    keys of the state dict that the model does not have."""

    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


def _addindent(s, num_spaces):
    lines = s.split("\n")
    if len(lines) == 1:
        return s
    first = lines.pop(0)
    return first + "\n" + "\n".join(" " * num_spaces + line for line in lines)


def _shape_str(shape):
    return str(tuple(int(s) for s in shape))


class _BackwardHookBoundary(Function):
    """Identity on a module's inputs or outputs whose backward reports the gradient flowing
    through it: the place where full backward hooks observe ``grad_output`` / ``grad_input``."""

    def forward(self, x, callback):
        self.callback = callback
        return x.copy()

    def backward(self, grad):
        return self.callback(grad)


class Module:
    """Base class for all neural-network modules (``torch.nn.Module``).

    Subclasses call ``super().__init__()`` first, then assign parameters, buffers and
    submodules as attributes, and define ``forward``. ``training`` is ``True`` after
    construction; ``eval()`` / ``train(False)`` switch the whole tree (Dropout and BatchNorm
    behave differently in the two modes).
    """
    training: bool

    def __init__(self, *args, **kwargs):
        if args or kwargs:
            names = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
            raise TypeError(f"{type(self).__name__}.__init__() got unexpected arguments "
                            f"{', '.join(names)}")
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = OrderedDict()
        d["_buffers"] = OrderedDict()
        d["_non_persistent_buffers_set"] = set()
        d["_modules"] = OrderedDict()
        d["_forward_pre_hooks"] = OrderedDict()
        d["_forward_pre_hooks_with_kwargs"] = set()
        d["_forward_hooks"] = OrderedDict()
        d["_forward_hooks_with_kwargs"] = set()
        d["_forward_hooks_always_called"] = set()
        d["_backward_hooks"] = OrderedDict()
        d["_backward_pre_hooks"] = OrderedDict()
        d["_state_dict_hooks"] = OrderedDict()
        d["_load_state_dict_post_hooks"] = OrderedDict()

    def forward(self, *input):
        raise TypeError(f'Module [{type(self).__name__}] is missing the required "forward" '
                        f'function')

    # ------------------------------------------------------------------ registration
    def _check_name(self, name, kind):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {kind} before Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
        if "." in name:
            raise KeyError(f'{kind} name can\'t contain ".", got: {name}')
        if name == "":
            raise KeyError(f'{kind} name can\'t be empty string ""')

    def register_parameter(self, name, param):
        """Add a parameter (a :class:`Parameter` or ``None``) under ``name``."""
        self._check_name(name, "parameter")
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute '{name}' already exists")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter "
                            f"'{name}' (ember.nn.Parameter or None required)")
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        """Add a buffer (a Tensor or ``None``): module state that is not a parameter.

        Persistent buffers appear in ``state_dict``; non-persistent ones do not.
        """
        self._check_name(name, "buffer")
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' "
                            f"(ember Tensor or None required)")
        if isinstance(tensor, Buffer):
            persistent = tensor.persistent
            tensor = _plain(tensor)
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name, module):
        """Add a child module (or ``None``) under ``name``."""
        if not isinstance(module, Module) and module is not None:
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._check_name(name, "module")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        self._modules[name] = module

    register_module = add_module

    def __setattr__(self, name, value):
        d = self.__dict__

        def remove_from(*dicts_or_sets):
            for ds in dicts_or_sets:
                if name in ds:
                    if isinstance(ds, dict):
                        del ds[name]
                    else:
                        ds.discard(name)

        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            remove_from(d, self._buffers, self._modules, self._non_persistent_buffers_set)
            self.register_parameter(name, value)
            return
        if params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                                f"(ember.nn.Parameter or None expected)")
            self.register_parameter(name, value)
            return
        modules = d.get("_modules")
        if isinstance(value, Module):
            if modules is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            remove_from(d, self._parameters, self._buffers, self._non_persistent_buffers_set)
            modules[name] = value
            return
        if modules is not None and name in modules:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as child module "
                                f"'{name}' (ember.nn.Module or None expected)")
            modules[name] = value
            return
        buffers = d.get("_buffers")
        if isinstance(value, Buffer) or (buffers is not None and name in buffers):
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                                f"(ember.Tensor or None expected)")
            if isinstance(value, Buffer):
                persistent = value.persistent
            else:
                persistent = name not in self._non_persistent_buffers_set
            remove_from(d, self._parameters, self._modules)
            self.register_buffer(name, value, persistent)
            return
        object.__setattr__(self, name, value)

    def __getattr__(self, name):
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                self._non_persistent_buffers_set.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        keys = list(object.__dir__(self)) + list(self._parameters) + list(self._modules) + \
            list(self._buffers)
        return sorted(k for k in set(keys) if not k[0].isdigit())

    def __setstate__(self, state):
        self.__dict__.update(state)

    # ------------------------------------------------------------------ lookup
    def get_submodule(self, target):
        """The submodule at dotted path ``target`` (``''`` is ``self``)."""
        if target == "":
            return self
        mod = self
        for item in target.split("."):
            if not hasattr(mod, item):
                raise AttributeError(f"{mod._get_name()} has no attribute `{item}`")
            mod = getattr(mod, item)
            if not isinstance(mod, Module):
                raise AttributeError(f"`{item}` is not an nn.Module")
        return mod

    def get_parameter(self, target):
        """The parameter at dotted path ``target`` (e.g. ``'features.0.weight'``)."""
        module_path, _, name = target.rpartition(".")
        mod = self.get_submodule(module_path)
        if not hasattr(mod, name):
            raise AttributeError(f"{mod._get_name()} has no attribute `{name}`")
        param = getattr(mod, name)
        if not isinstance(param, Parameter):
            raise AttributeError(f"`{name}` is not an nn.Parameter")
        return param

    def get_buffer(self, target):
        """The buffer at dotted path ``target`` (e.g. ``'bn.running_mean'``)."""
        module_path, _, name = target.rpartition(".")
        mod = self.get_submodule(module_path)
        if name not in mod._buffers:
            raise AttributeError(f"{mod._get_name()} has no buffer `{name}`")
        return mod._buffers[name]

    # ------------------------------------------------------------------ iteration
    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        """Yield ``(dotted_name, module)`` for this module and all descendants, depth first."""
        if memo is None:
            memo = set()
        if self in memo:
            return
        if remove_duplicate:
            memo.add(self)
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            sub = prefix + ("." if prefix else "") + name
            yield from module.named_modules(memo, sub, remove_duplicate)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        memo = set()
        for name, module in self._modules.items():
            if module is not None and module not in memo:
                memo.add(module)
                yield name, module

    def children(self):
        for _, m in self.named_children():
            yield m

    def _named_members(self, get_members, prefix="", recurse=True, remove_duplicate=True):
        memo = set()
        modules = (self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
                   if recurse else [(prefix, self)])
        for module_prefix, module in modules:
            for k, v in get_members(module):
                if v is None or v in memo:
                    continue
                if remove_duplicate:
                    memo.add(v)
                yield module_prefix + ("." if module_prefix else "") + k, v

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        """Yield ``(dotted_name, parameter)``; a shared parameter is listed once."""
        yield from self._named_members(lambda m: m._parameters.items(), prefix, recurse,
                                       remove_duplicate)

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        yield from self._named_members(lambda m: m._buffers.items(), prefix, recurse,
                                       remove_duplicate)

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    # ------------------------------------------------------------------ modes and grads
    def train(self, mode=True):
        """Set training mode on this module and every descendant; returns ``self``."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for module in self.children():
            module.train(mode)
        return self

    def eval(self):
        """``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        """Reset the gradients of all parameters (to ``None`` by default, else to zeros)."""
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                g = p.grad
                if g.grad_fn is not None:
                    g.detach_()
                else:
                    g.requires_grad_(False)
                g._data[...] = 0
                g._bump_version()

    def apply(self, fn):
        """Call ``fn(m)`` on every submodule (children first) and on ``self``; returns ``self``.

        Typical use: ``net.apply(init_weights)``.
        """
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------ conversion
    def _apply(self, fn):
        """Replace every parameter's / buffer's array by ``fn(tensor)``, keeping the same
        Parameter objects (so an optimizer built before ``.double()`` still sees them)."""
        for module in self.children():
            module._apply(fn)
        for key, param in self._parameters.items():
            if param is None:
                continue
            with no_grad():
                new = fn(param)
            if new is not param:
                param.data = new
                param._bump_version()
            if param.grad is not None:
                g = fn(param.grad)
                if g is not param.grad:
                    param.grad._data = g._data
        for key, buf in self._buffers.items():
            if buf is not None:
                self._buffers[key] = fn(buf)
        return self

    def to(self, *args, **kwargs):
        """``to(dtype)``, ``to('cpu')``, ``to(device, dtype)``, ``to(tensor)``.

        Floating-point parameters and buffers are cast to ``dtype`` in place (integer ones,
        such as ``num_batches_tracked``, are kept), as in torch. Ember runs on the CPU only.
        """
        dtype = kwargs.pop("dtype", None)
        dev = kwargs.pop("device", None)
        kwargs.pop("non_blocking", None)
        kwargs.pop("memory_format", None)
        if kwargs:
            raise TypeError(f"Module.to() got unexpected keyword arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, Tensor):
                dtype = a.dtype
            elif isinstance(a, (str, _device)):
                dev = a
            elif isinstance(a, bool):
                continue
            elif a is not None:
                dtype = a
        if dev is not None:
            _device(dev)
        if dtype is None:
            return self
        d = _dtype.as_dtype(dtype)
        if not d.is_floating_point:
            raise TypeError(f"Module.to: only floating point dtypes are accepted, got {d}")
        return self._apply(lambda t: t.to(d) if t.is_floating_point() else t)

    def type(self, dst_type):
        """Cast all parameters and buffers to ``dst_type``: a dtype, a legacy type such as
        ``ember.DoubleTensor`` or its name ``'torch.DoubleTensor'``."""
        d = _legacy_types.dtype_of(dst_type)
        return self._apply(lambda t: t.to(d))

    def float(self):
        return self._apply(lambda t: t.float() if t.is_floating_point() else t)

    def double(self):
        return self._apply(lambda t: t.double() if t.is_floating_point() else t)

    def half(self):
        return self._apply(lambda t: t.half() if t.is_floating_point() else t)

    def share_memory(self):
        """Move every parameter and buffer into memory shared with child processes (see
        :mod:`ember.multiprocessing`); gradients, created later, are not shared."""
        return self._apply(lambda t: t.share_memory_())

    def cpu(self):
        return self

    def cuda(self, device=None):
        raise RuntimeError(f"{self._get_name()}.cuda: Ember runs on the CPU only; use .cpu() or "
                           f".to('cpu')")

    # ------------------------------------------------------------------ state dict
    def _save_to_state_dict(self, destination, prefix, keep_vars):
        for name, param in self._parameters.items():
            if param is not None:
                destination[prefix + name] = param if keep_vars else param.detach()
        for name, buf in self._buffers.items():
            if buf is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = buf if keep_vars else buf.detach()

    def state_dict(self, *args, destination=None, prefix="", keep_vars=False):
        """An ``OrderedDict`` from dotted names to the parameters and persistent buffers.

        Order (as in torch): a module's own parameters, then its buffers, then each child's
        entries in registration order. Values are detached tensors sharing storage with the
        module (``keep_vars=True`` returns the parameters themselves).
        """
        if args:
            destination = args[0] if len(args) > 0 else destination
            prefix = args[1] if len(args) > 1 else prefix
            keep_vars = args[2] if len(args) > 2 else keep_vars
        if destination is None:
            destination = OrderedDict()
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination=destination, prefix=prefix + name + ".",
                                  keep_vars=keep_vars)
        for hook in self._state_dict_hooks.values():
            if hook(self, destination, prefix, {}) is not None:
                raise RuntimeError("state_dict post-hook must return None")
        return destination

    def _load_from_state_dict(self, state_dict, prefix, strict, missing_keys, unexpected_keys,
                              error_msgs, assign):
        persistent = {k: v for k, v in self._buffers.items()
                      if k not in self._non_persistent_buffers_set}
        local_state = {k: v for k, v in itertools.chain(self._parameters.items(),
                                                           persistent.items()) if v is not None}
        for name, param in local_state.items():
            key = prefix + name
            if key not in state_dict:
                if strict:
                    missing_keys.append(key)
                continue
            value = state_dict[key]
            if is_lazy(value) or is_lazy(param):
                if not (is_lazy(value) and is_lazy(param)):
                    raise RuntimeError(UNINITIALIZED_SHAPE_MESSAGE)
                continue   # both still uninitialized: nothing to copy
            if isinstance(value, Tensor):
                arr = value._data
            else:
                try:
                    arr = np.asarray(value)
                except (TypeError, ValueError, RuntimeError):
                    arr = None
                if arr is None or arr.dtype.kind not in "biuf":
                    error_msgs.append(f'While copying the parameter named "{key}", expected an '
                                      f'ember Tensor or a NumPy array from checkpoint but '
                                      f'received {type(value).__name__}')
                    continue
            if param.ndim == 0 and arr.shape == (1,):
                arr = arr.reshape(())
            if arr.shape != param._data.shape:
                error_msgs.append(f"size mismatch for {key}: copying a param with shape "
                                  f"{_shape_str(arr.shape)} from checkpoint, the shape in current "
                                  f"model is {_shape_str(param.shape)}.")
                continue
            if assign:
                new = Tensor._wrap(arr) if not isinstance(value, Tensor) else value
                if isinstance(param, Parameter):
                    new = Parameter(new, requires_grad=param.requires_grad)
                setattr(self, name, new)
            else:
                param._data[...] = arr
                param._bump_version()
        if strict:
            for key in state_dict:
                if key.startswith(prefix):
                    parts = key[len(prefix):].split(".", 1)
                    if len(parts) > 1:
                        if parts[0] not in self._modules:
                            unexpected_keys.append(key)
                    elif parts[0] not in local_state:
                        unexpected_keys.append(key)

    def load_state_dict(self, state_dict, strict=True, assign=False):
        """Copy parameters and buffers from ``state_dict`` into this module and its children.

        Values may be ember Tensors or anything NumPy converts to an array, so a torch
        checkpoint converted with ``{k: v.numpy() for k, v in sd.items()}`` loads directly.
        Values are cast to each parameter's dtype; ``assign=True`` replaces the parameters by
        the given values instead of copying into them.

        Returns:
            ``(missing_keys, unexpected_keys)``, a named tuple.

        Raises:
            RuntimeError: listing the missing and unexpected keys (when ``strict``) and every
            shape mismatch (always).
        """
        if not hasattr(state_dict, "keys") or not hasattr(state_dict, "__getitem__"):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        missing, unexpected, errors = [], [], []
        state_dict = OrderedDict(state_dict)

        def load(module, local, prefix=""):
            module._load_from_state_dict(local, prefix, True, missing, unexpected, errors,
                                         assign)
            for name, child in module._modules.items():
                if child is not None:
                    child_prefix = prefix + name + "."
                    load(child, {k: v for k, v in local.items() if k.startswith(child_prefix)},
                         child_prefix)
            keys = _IncompatibleKeys(missing, unexpected)
            for hook in module._load_state_dict_post_hooks.values():
                hook(module, keys)

        load(self, state_dict)
        if strict:
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: {}. ".format(
                    ", ".join(f'"{k}"' for k in unexpected)))
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: {}. ".format(
                    ", ".join(f'"{k}"' for k in missing)))
        if errors:
            raise RuntimeError("Error(s) in loading state_dict for {}:\n\t{}".format(
                type(self).__name__, "\n\t".join(errors)))
        return _IncompatibleKeys(missing, unexpected)

    def register_state_dict_post_hook(self, hook):
        """``hook(module, state_dict, prefix, local_metadata)`` runs after ``state_dict`` and
        may edit it in place (it must return None; ``local_metadata`` is an empty dict)."""
        key = next(_hook_ids)
        self._state_dict_hooks[key] = hook
        return RemovableHandle(self._state_dict_hooks, key)

    def register_load_state_dict_post_hook(self, hook):
        """``hook(module, incompatible_keys)`` runs after ``load_state_dict`` visits ``module``."""
        key = next(_hook_ids)
        self._load_state_dict_post_hooks[key] = hook
        return RemovableHandle(self._load_state_dict_post_hooks, key)

    # ------------------------------------------------------------------ hooks and calling
    def _add_hook(self, store, hook, prepend):
        key = next(_hook_ids)
        store[key] = hook
        if prepend:
            store.move_to_end(key, last=False)
        return key

    def register_forward_pre_hook(self, hook, *, prepend=False, with_kwargs=False):
        """``hook(module, args)`` (or ``hook(module, args, kwargs)`` with ``with_kwargs``) runs
        before ``forward``; returning a value replaces the positional arguments (a tuple, or a
        single value that is wrapped in one), or ``(args, kwargs)`` with ``with_kwargs``."""
        key = self._add_hook(self._forward_pre_hooks, hook, prepend)
        if with_kwargs:
            self._forward_pre_hooks_with_kwargs.add(key)
        return RemovableHandle(self._forward_pre_hooks, key)

    def register_forward_hook(self, hook, *, prepend=False, with_kwargs=False,
                              always_call=False):
        """``hook(module, args, output)`` (or ``hook(module, args, kwargs, output)``) runs after
        ``forward``; returning a value replaces the output. ``always_call`` runs the hook even
        if ``forward`` raised."""
        key = self._add_hook(self._forward_hooks, hook, prepend)
        if with_kwargs:
            self._forward_hooks_with_kwargs.add(key)
        if always_call:
            self._forward_hooks_always_called.add(key)
        return RemovableHandle(self._forward_hooks, key)

    def register_full_backward_hook(self, hook, prepend=False):
        """``hook(module, grad_input, grad_output)`` runs once the gradients with respect to the
        module's tensor inputs are computed. ``grad_input`` / ``grad_output`` are tuples with
        one entry per positional Tensor input / output (``None`` for those that need no
        gradient). Returning a tuple replaces ``grad_input`` (supported when the module has
        a single Tensor input that requires grad; otherwise a RuntimeError says so)."""
        key = self._add_hook(self._backward_hooks, hook, prepend)
        return RemovableHandle(self._backward_hooks, key)

    def register_full_backward_pre_hook(self, hook, prepend=False):
        """``hook(module, grad_output)`` runs when the gradients with respect to the module's
        outputs are computed; returning a tuple replaces ``grad_output``."""
        key = self._add_hook(self._backward_pre_hooks, hook, prepend)
        return RemovableHandle(self._backward_pre_hooks, key)

    def _run_forward_pre_hooks(self, args, kwargs):
        for key, hook in list(self._forward_pre_hooks.items()):
            if key in self._forward_pre_hooks_with_kwargs:
                res = hook(self, args, kwargs)
                if res is not None:
                    if not (isinstance(res, tuple) and len(res) == 2):
                        raise RuntimeError(f"forward pre-hook must return None or a tuple of "
                                           f"(new_args, new_kwargs), but got {res}.")
                    args, kwargs = res
            else:
                res = hook(self, args)
                if res is not None:
                    args = res if isinstance(res, tuple) else (res,)
        return args, kwargs

    def _run_forward_hooks(self, args, kwargs, result, only_always=False):
        for key, hook in list(self._forward_hooks.items()):
            if only_always and key not in self._forward_hooks_always_called:
                continue
            if key in self._forward_hooks_with_kwargs:
                res = hook(self, args, kwargs, result)
            else:
                res = hook(self, args, result)
            if res is not None:
                result = res
        return result

    def _call_impl(self, *args, **kwargs):
        if self._forward_pre_hooks:
            args, kwargs = self._run_forward_pre_hooks(args, kwargs)
        bw_state = {} if (self._backward_hooks or self._backward_pre_hooks) else None
        if bw_state is not None:
            args = self._boundary_inputs(args, bw_state)
        if not self._forward_hooks:
            result = self.forward(*args, **kwargs)
        else:
            try:
                result = self.forward(*args, **kwargs)
            except Exception:
                self._run_forward_hooks(args, kwargs, None, only_always=True)
                raise
            result = self._run_forward_hooks(args, kwargs, result)
        if bw_state is not None:
            result = self._boundary_outputs(result, bw_state)
        return result

    __call__ = _call_impl

    def _boundary_inputs(self, args, state):
        """Wrap each grad-requiring Tensor input in an identity node whose backward records
        ``grad_input`` and, once all have arrived, runs the full backward hooks."""
        new_args = list(args)
        state["grad_input"] = [None] * len(args)
        state["pending"] = sum(isinstance(a, Tensor) and a.requires_grad for a in args)
        state["n_inputs"] = state["pending"]
        for i, a in enumerate(args):
            if isinstance(a, Tensor) and a.requires_grad:
                def cb(grad, i=i):
                    state["grad_input"][i] = Tensor._wrap(grad)
                    state["pending"] -= 1
                    if state["pending"] == 0:
                        new = self._fire_backward_hooks(state)
                        if new is not None:
                            if state["n_inputs"] > 1:
                                raise RuntimeError(
                                    f"{self._get_name()}: a full backward hook may replace "
                                    f"grad_input only for modules with one Tensor input "
                                    f"that requires grad (got {state['n_inputs']})")
                            if new[i] is not None:
                                return new[i]._data
                    return grad
                new_args[i] = _BackwardHookBoundary.apply(a, callback=cb)
        return tuple(new_args)

    def _fire_backward_hooks(self, state):
        """Run ``hook(module, grad_input, grad_output)``; returns a replacement grad_input."""
        gin, replaced = tuple(state["grad_input"]), None
        for hook in list(self._backward_hooks.values()):
            res = hook(self, gin, state["grad_output"])
            if res is not None:
                gin = replaced = tuple(res)
        return replaced

    def _boundary_outputs(self, result, state):
        """Wrap each grad-requiring Tensor output in an identity node whose backward records
        ``grad_output`` and runs the backward pre-hooks once all output grads have arrived."""
        outputs = result if isinstance(result, tuple) else (result,)
        pos = [i for i, o in enumerate(outputs) if isinstance(o, Tensor) and o.requires_grad]
        if not pos:
            return result
        grads = [None] * len(outputs)
        remaining = [len(pos)]

        def make_cb(i):
            def cb(grad):
                grads[i] = Tensor._wrap(grad)
                remaining[0] -= 1
                if remaining[0] == 0:
                    gout = tuple(grads)
                    for hook in list(self._backward_pre_hooks.values()):
                        res = hook(self, gout)
                        if res is not None:
                            gout = tuple(res)
                    state["grad_output"] = gout
                    if state["pending"] == 0:
                        self._fire_backward_hooks(state)
                    return gout[i]._data
                return grad
            return cb

        new_out = list(outputs)
        for i in pos:
            new_out[i] = _BackwardHookBoundary.apply(outputs[i], callback=make_cb(i))
        return tuple(new_out) if isinstance(result, tuple) else new_out[0]

    # ------------------------------------------------------------------ printing
    def _get_name(self):
        return type(self).__name__

    def extra_repr(self):
        """The constructor arguments shown inside ``Name(...)``; subclasses override it."""
        return ""

    def __repr__(self):
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({key}): " + _addindent(repr(module), 2)
                       for key, module in self._modules.items()]
        lines = extra_lines + child_lines
        main = self._get_name() + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                main += extra_lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"


def _plain(t):
    """A plain Tensor sharing storage and version counter with ``t`` (drops the Buffer type)."""
    out = Tensor._wrap(t._data)
    out._vc = t._vc
    return out
