"""Parametrizations (``torch.nn.utils.parametrize``): a parameter computed from other tensors.

After ``register_parametrization(module, "weight", P)``, reading ``module.weight`` returns
``P(original)``, where ``original`` is the trained tensor, stored at
``module.parametrizations.weight.original`` (or ``original0``, ``original1``, ... when ``P``
takes several, as weight normalization's ``g`` and ``v`` do). The gradient flows through
``P`` into the originals, which are what the optimizer updates. This is the machinery behind
``parametrizations.weight_norm`` and ``parametrizations.spectral_norm`` (the weight and
spectral normalizations lecture 003 names, inventory B28).

How it works, as in torch: the module's class is swapped for a subclass
``Parametrized<Name>`` that carries one property per parametrized tensor; the property's
getter evaluates the :class:`ParametrizationList` (cached inside :func:`cached`), its setter
runs the parametrizations' ``right_inverse``. State-dict keys are torch's, so checkpoints of
parametrized torch modules load.
"""
import collections.abc
import copy
import copyreg
from contextlib import contextmanager

from ember._tensor import Tensor
from ember.autograd.grad_mode import no_grad
from ember.nn.modules.container import ModuleDict, ModuleList
from ember.nn.modules.module import Module
from ember.nn.parameter import Parameter

__all__ = ["cached", "ParametrizationList", "register_parametrization", "is_parametrized",
           "remove_parametrizations", "type_before_parametrizations",
           "transfer_parametrizations_and_params"]

_cache_depth = 0
_cache = {}


@contextmanager
def cached():
    """Inside this context each parametrized tensor is computed once, on first use, and reused
    (e.g. a weight read at every step of a loop); the cache is dropped on leaving the
    outermost ``cached()``."""
    global _cache_depth
    _cache_depth += 1
    try:
        yield
    finally:
        _cache_depth -= 1
        if not _cache_depth:
            _cache.clear()


def _register_parameter_or_buffer(module, name, tensor):
    if isinstance(tensor, Parameter):
        module.register_parameter(name, tensor)
    else:
        module.register_buffer(name, tensor)


def _set_in_place(dest, src):
    """``dest`` takes ``src``'s values (and shape) while keeping its identity, so an optimizer
    holding ``dest`` keeps updating the right tensor (torch's ``set_``)."""
    if src is not dest:
        dest._data = src._data
        dest._bump_version()


class ParametrizationList(ModuleList):
    """The parametrizations of one tensor, applied in registration order, and the original
    tensor(s) they start from (``original``, or ``original0``, ``original1``, ... when the
    first parametrization's ``right_inverse`` returns a sequence). Made by
    :func:`register_parametrization`; calling it computes the parametrized tensor."""

    def __init__(self, modules, original, unsafe=False):
        if len(modules) == 0:
            raise ValueError("ParametrizationList requires one or more modules.")
        super().__init__(modules)
        self.unsafe = unsafe
        shape, dtype = tuple(original.shape), original.dtype
        with no_grad():
            new = original
            for module in reversed(list(self)):
                if hasattr(module, "right_inverse"):
                    new = module.right_inverse(new)
        if not isinstance(new, (Tensor, collections.abc.Sequence)):
            raise ValueError(f"'right_inverse' must return a Tensor or a Sequence of tensors "
                             f"(list, tuple...). Got {type(new).__name__}")
        self.is_tensor = isinstance(new, Tensor)
        self.ntensors = 1 if self.is_tensor else len(new)
        if self.is_tensor:
            if new.dtype != dtype:
                raise ValueError(f"When `right_inverse` outputs one tensor, it may not change the "
                                 f"dtype.\noriginal.dtype: {dtype}\nright_inverse(original)"
                                 f".dtype: {new.dtype}")
            with no_grad():
                _set_in_place(original, new)
            _register_parameter_or_buffer(self, "original", original)
        else:
            for i, part in enumerate(new):
                if not isinstance(part, Tensor):
                    raise ValueError(f"'right_inverse' must return a Tensor or a Sequence of "
                                     f"tensors (list, tuple...). Got element {i} of the sequence "
                                     f"with type {type(part).__name__}.")
                if isinstance(original, Parameter):
                    part = Parameter(part, original.requires_grad)
                part.requires_grad_(original.requires_grad)
                _register_parameter_or_buffer(self, f"original{i}", part)
        if not self.unsafe:
            value = self()
            if not isinstance(value, Tensor):
                raise ValueError(f"A parametrization must return a tensor. Got "
                                 f"{type(value).__name__}.")
            if value.dtype != dtype:
                raise ValueError(f"Registering a parametrization may not change the dtype of the "
                                 f"tensor, unless `unsafe` flag is enabled.\nunparametrized dtype: "
                                 f"{dtype}\nparametrized dtype: {value.dtype}")
            if tuple(value.shape) != shape:
                raise ValueError(f"Registering a parametrization may not change the shape of the "
                                 f"tensor, unless `unsafe` flag is enabled.\nunparametrized shape: "
                                 f"{shape}\nparametrized shape: {tuple(value.shape)}")

    def right_inverse(self, value):
        """Store the originals that make the parametrized tensor ``value``: the
        parametrizations' ``right_inverse`` methods, last registered first."""
        with no_grad():
            for module in reversed(list(self)):
                if not hasattr(module, "right_inverse"):
                    raise RuntimeError(f"parametrization {type(module).__name__} does not "
                                       f"implement right_inverse.")
                value = module.right_inverse(value)
            if self.is_tensor:
                if not isinstance(value, Tensor):
                    raise ValueError(f"`right_inverse` should return a tensor. Got "
                                     f"{type(value).__name__}")
                if value.dtype != self.original.dtype:
                    raise ValueError(f"The tensor returned by `right_inverse` has dtype "
                                     f"{value.dtype} while `original` has dtype "
                                     f"{self.original.dtype}")
                _set_in_place(self.original, value)
                return
            if not isinstance(value, collections.abc.Sequence) or len(value) != self.ntensors:
                raise ValueError(f"'right_inverse' must return a sequence of {self.ntensors} "
                                 f"tensors, got {value!r}")
            for i, tensor in enumerate(value):
                original_i = getattr(self, f"original{i}")
                if not isinstance(tensor, Tensor) or tensor.dtype != original_i.dtype:
                    raise ValueError(f"Tensor {i} returned by `right_inverse` must be a tensor "
                                     f"of dtype {original_i.dtype}, got {tensor!r}")
                _set_in_place(original_i, tensor)

    def forward(self):
        if self.is_tensor:
            x = self[0](self.original)
        else:
            x = self[0](*(getattr(self, f"original{i}") for i in range(self.ntensors)))
        for module in list(self)[1:]:
            x = module(x)
        return x


def _default_deepcopy(self, memo):
    replica = memo.get(id(self))
    if replica is not None:
        return replica
    replica = self.__new__(self.__class__)
    memo[id(self)] = replica
    replica.__dict__ = copy.deepcopy(self.__dict__, memo)
    for slot in copyreg._slotnames(self.__class__):
        if hasattr(self, slot):
            setattr(replica, slot, copy.deepcopy(getattr(self, slot), memo))
    return replica


def _refuse_pickling(self):
    raise RuntimeError("Serialization of parametrized modules is only supported through "
                       "state_dict().")


def _inject_new_class(module):
    """Give ``module`` its own subclass ``Parametrized<Name>`` to hold the properties (deep
    copies work; pickling is refused, as in torch: save the state_dict)."""
    cls = module.__class__
    namespace = {"__getstate__": _refuse_pickling}
    if not hasattr(cls, "__deepcopy__"):
        namespace["__deepcopy__"] = _default_deepcopy
    module.__class__ = type(f"Parametrized{cls.__name__}", (cls,), namespace)


def _inject_property(module, tensor_name):
    def get_parametrized(self):
        parametrization = self.parametrizations[tensor_name]
        if not _cache_depth:
            return parametrization()
        key = (id(self), tensor_name)
        if _cache.get(key) is None:
            _cache[key] = parametrization()
        return _cache[key]

    def set_original(self, value):
        self.parametrizations[tensor_name].right_inverse(value)

    setattr(module.__class__, tensor_name, property(get_parametrized, set_original))


def _check_same_kind(what, expected, got, tensor_name):
    for attr in ("dtype", "shape"):
        if getattr(expected, attr) != getattr(got, attr):
            raise ValueError(f"Registering a parametrization may not change the {attr} of the "
                             f"tensor, unless the `unsafe` flag is enabled.\nmodule.{tensor_name}."
                             f"{attr}: {getattr(expected, attr)}\n{what}.{attr}: "
                             f"{getattr(got, attr)}")


def register_parametrization(module, tensor_name, parametrization, *, unsafe=False):
    """Make ``module.<tensor_name>`` the output of ``parametrization`` (an ``nn.Module``).

    The first registration on a tensor moves the parameter (or buffer) to
    ``module.parametrizations[tensor_name].original``, initialised through
    ``parametrization.right_inverse`` when it has one (else kept as is); later registrations
    chain after the existing ones. ``unsafe=True`` skips the checks that the parametrized tensor
    keeps its shape and dtype. Returns ``module``.

    Raises:
        ValueError: ``module`` has no parameter, buffer or parametrized tensor ``tensor_name``,
        or (unless ``unsafe``) the parametrization changes the shape or dtype.
    """
    parametrization.train(module.training)
    if is_parametrized(module, tensor_name):
        if not unsafe:
            current = getattr(module, tensor_name)
            value = parametrization(current)
            if not isinstance(value, Tensor):
                raise ValueError(f"A parametrization must return a tensor. Got "
                                 f"{type(value).__name__}.")
            _check_same_kind(f"parametrization(module.{tensor_name})", current, value,
                             tensor_name)
            if hasattr(parametrization, "right_inverse"):
                inverse = parametrization.right_inverse(value)
                if not isinstance(inverse, Tensor):
                    raise ValueError(f"parametrization.right_inverse must return a tensor. Got: "
                                     f"{type(inverse).__name__}")
                _check_same_kind("parametrization.right_inverse(...)", current, inverse,
                                 tensor_name)
        module.parametrizations[tensor_name].append(parametrization)
        module.parametrizations[tensor_name].unsafe |= unsafe
    elif tensor_name in module._buffers or tensor_name in module._parameters:
        original = getattr(module, tensor_name)
        if original is None:
            raise ValueError(f"{module._get_name()}.{tensor_name} is None: there is nothing to "
                             f"parametrize")
        parametrizations = ParametrizationList([parametrization], original, unsafe=unsafe)
        delattr(module, tensor_name)
        if not is_parametrized(module):
            _inject_new_class(module)
            module.parametrizations = ModuleDict()
        _inject_property(module, tensor_name)
        module.parametrizations[tensor_name] = parametrizations
    else:
        raise ValueError(f"Module '{module}' does not have a parameter, a buffer, or a "
                         f"parametrized element with name '{tensor_name}'")
    return module


def is_parametrized(module, tensor_name=None):
    """Whether ``module`` has a parametrization on ``tensor_name`` (on any tensor if None)."""
    parametrizations = module.__dict__.get("_modules", {}).get("parametrizations")
    if not isinstance(parametrizations, ModuleDict):
        return False
    return len(parametrizations) > 0 if tensor_name is None else tensor_name in parametrizations


def remove_parametrizations(module, tensor_name, leave_parametrized=True):
    """Undo :func:`register_parametrization` on ``tensor_name``.

    ``leave_parametrized=True`` stores the current parametrized value in the tensor (which
    keeps its identity when there was one original); ``False`` restores the original, which
    needs a single original tensor. The module gets its class back when no parametrization is
    left. Returns ``module``.
    """
    if not is_parametrized(module, tensor_name):
        raise ValueError(f"Module {module} does not have a parametrization on {tensor_name}")
    parametrizations = module.parametrizations[tensor_name]
    if parametrizations.is_tensor:
        original = parametrizations.original
        if leave_parametrized:
            with no_grad():
                _set_in_place(original, getattr(module, tensor_name))
    else:
        if not leave_parametrized:
            raise ValueError("Cannot leave unparametrized (`leave_parametrized=False`) a tensor "
                             "that is parametrized in terms of a sequence of tensors.")
        value = getattr(module, tensor_name)
        original = Parameter(value.detach()) if value.requires_grad else value.detach()
    delattr(module.__class__, tensor_name)
    del module.parametrizations[tensor_name]
    _register_parameter_or_buffer(module, tensor_name, original)
    if not is_parametrized(module):
        delattr(module, "parametrizations")
        module.__class__ = module.__class__.__bases__[0]
    return module


def type_before_parametrizations(module):
    """The module's class before any parametrization was registered."""
    return module.__class__.__bases__[0] if is_parametrized(module) else type(module)


def transfer_parametrizations_and_params(from_module, to_module, tensor_name=None):
    """Register ``from_module``'s parametrizations (of ``tensor_name``, or all of them) on
    ``to_module`` too, sharing the parametrization modules and the original tensors; a tensor
    ``to_module`` lacks is first created from ``from_module``'s value. Returns ``to_module``."""
    if not is_parametrized(from_module):
        return to_module
    names = list(from_module.parametrizations) if tensor_name is None else [tensor_name]
    for name in names:
        source = from_module.parametrizations[name]
        if not hasattr(to_module, name):
            setattr(to_module, name, Parameter(getattr(from_module, name).detach()))
        for parametrization in source:
            register_parametrization(to_module, name, parametrization)
        target = to_module.parametrizations[name]
        originals = ["original"] if source.is_tensor else [f"original{i}" for i in
                                                            range(source.ntensors)]
        for original in originals:
            setattr(target, original, getattr(source, original))
    return to_module
