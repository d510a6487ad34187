"""``LazyModuleMixin``: layers whose input size is read from the first batch (``torch.nn.
modules.lazy``).

``nn.LazyLinear(120)`` is a ``Linear`` whose ``in_features`` is not given: its parameters are
:class:`~ember.nn.parameter.UninitializedParameter` until the first forward pass, which
reads the size from the input, materializes the parameters, initializes them as the eager
layer would (``reset_parameters``) and turns the module, in place, into the eager class
(``cls_to_become``: a ``LazyLinear`` becomes a ``Linear``). The d2l book writes every
chapter's CNN this way (``nn.LazyConv2d(6, kernel_size=5)``, ``nn.LazyBatchNorm2d()``).

As in torch:

* the parameter objects stay the same, so an optimizer built before the first forward pass
  (``SGD(model.parameters())``) updates them afterwards; optimizers that create state when
  built (``Adagrad``) refuse uninitialized parameters, with a ``ValueError``;
* ``state_dict()`` before initialization holds the uninitialized objects themselves;
  ``load_state_dict`` into a lazy module materializes each parameter with the shape of the
  loaded value (the module becomes eager at its next forward pass); loading an uninitialized
  value into an initialized parameter is a ``RuntimeError``;
* ``.double()`` / ``.to(dtype)`` before initialization set the dtype that parameters will
  have.

Where Ember differs: torch leaves the inferred size at 0 when the parameters were loaded from
a state dict rather than inferred, or when the layer has no parameters at all
(``LazyBatchNorm2d(affine=False, track_running_stats=False)`` stays ``BatchNorm2d(0, ...)``);
Ember's layers check their input's size against it, so Ember fills it in from the loaded
parameters or from the input.
"""
import itertools

from ember.autograd.grad_mode import no_grad
from ember.nn.parameter import is_lazy

__all__ = ["LazyModuleMixin"]


class LazyModuleMixin:
    """Mixed in before an eager layer class (``class LazyLinear(LazyModuleMixin, Linear)``).

    Subclasses implement ``initialize_parameters(*forward_args)``, which materializes the
    parameters from the input, and set ``cls_to_become``.
    """
    cls_to_become = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._initialize_hook = self.register_forward_pre_hook(self._infer_parameters,
                                                               with_kwargs=True)

    def has_uninitialized_params(self):
        """Whether a parameter or buffer still waits for its shape."""
        return any(is_lazy(t) for t in itertools.chain(self._parameters.values(),
                                                      self._buffers.values()))

    def initialize_parameters(self, *args, **kwargs):
        raise TypeError(f"{self._get_name()}: a lazy module must define "
                        f"initialize_parameters(input)")

    def _infer_parameters(self, module, args, kwargs):
        """Forward pre-hook: materialize from the first input, then become the eager class."""
        with no_grad():
            self.initialize_parameters(*args, **kwargs)
        if self.has_uninitialized_params():
            raise RuntimeError(f"module {self._get_name()} has not been fully initialized")
        self._initialize_hook.remove()
        del self._initialize_hook
        if self.cls_to_become is not None:
            self.__class__ = self.cls_to_become

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        """Uninitialized parameters and buffers are saved as the objects themselves."""
        for name, param in self._parameters.items():
            if param is not None:
                destination[prefix + name] = param if keep_vars or is_lazy(param) \
                    else param.detach()
        for name, buf in self._buffers.items():
            if buf is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = buf if keep_vars or is_lazy(buf) else buf.detach()

    def _load_from_state_dict(self, state_dict, prefix, strict, missing_keys, unexpected_keys,
                              error_msgs, assign):
        """An uninitialized parameter takes the shape of the value loaded into it."""
        for name, param in itertools.chain(self._parameters.items(), self._buffers.items()):
            key = prefix + name
            if param is not None and is_lazy(param) and key in state_dict \
                    and not is_lazy(state_dict[key]):
                with no_grad():
                    param.materialize(_shape_of(state_dict[key]))
        super()._load_from_state_dict(state_dict, prefix, strict, missing_keys,
                                      unexpected_keys, error_msgs, assign)


def _shape_of(value):
    import numpy as np
    return tuple(value.shape) if hasattr(value, "shape") else np.shape(value)
