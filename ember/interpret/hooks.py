"""How ``ember.interpret`` sees inside a model: forward hooks that keep what a layer returns,
full backward hooks that change what every ``nn.ReLU`` passes back, and the forward pass
itself with errors that name the method. Every hook is removed when the call that placed it
ends, also when it fails, so a model explained once behaves exactly as before.

Layers are named as ``model.named_modules()`` names them (``"conv2"``, ``"layer4.1.conv2"``);
a name the model does not have is an error that lists the names it does have.
"""
import numpy as np

import ember
from ember import nn
from ember.nn import functional as F

__all__ = ["layer_names", "find_layer", "LayerRecorder", "relu_backward_rule",
           "frozen_parameters", "run_model", "as_batch"]


def layer_names(model):
    """The dotted names of every sub-module of ``model`` (the model itself excluded)."""
    return [name for name, _ in model.named_modules() if name]


def find_layer(model, layer, caller):
    """The sub-module named ``layer`` (a dotted name, or the module itself)."""
    if isinstance(layer, nn.Module):
        if not any(m is layer for m in model.modules()):
            raise ValueError(f"{caller}: the {type(layer).__name__} given as layer is not a "
                             f"sub-module of {type(model).__name__}")
        return layer
    modules = dict(model.named_modules())
    if not isinstance(layer, str) or layer == "" or layer not in modules:
        raise ValueError(f"{caller}: {type(model).__name__} has no layer {layer!r}; its layers "
                         f"are: {', '.join(layer_names(model))}")
    return modules[layer]


class _StopForward(Exception):
    """Raised by a recording hook to end a forward pass once the wanted layer has run."""


class LayerRecorder:
    """A context manager keeping what the modules named in ``layers`` return during the
    forward passes run inside it (the last call when a module runs several times, as a
    ResNet block's shared ReLU does), and what they take with ``inputs=True``.

    ``layers`` is a list of names or modules; ``None`` records every module, in the order
    the calls finish (``order``); ``outputs`` / ``arguments`` map each recorded name to what
    its last call returned / took as first argument. With ``stop=True`` the forward pass
    ends as soon as the first of ``layers`` has run (the rest of the network is not
    computed) and the ``with`` block carries on after the model call. With ``cut=True`` the
    graph starts at the layer: its output is recorded as a new leaf that requires grad, and
    the rest of the network runs on a copy of it, so a backward pass from the model's output
    stops there (Grad-CAM needs nothing below the layer).

    ::

        with LayerRecorder(model, ["conv2"], "deep_dream", stop=True) as record:
            model(x)
        activation = record.output("conv2")     # (N, C, H, W) Tensor, still in the graph
    """

    def __init__(self, model, layers, caller, stop=False, inputs=False, cut=False):
        self.model = model
        self.caller = caller
        self.stop = stop
        self.cut = cut
        self.keep_inputs = inputs
        names = {id(m): name for name, m in model.named_modules()}
        modules = (list(model.modules())[1:] if layers is None
                   else [find_layer(model, layer, caller) for layer in layers])
        self._names = {id(m): names[id(m)] for m in modules}
        self._modules = modules
        self.outputs, self.arguments, self.order = {}, {}, []
        self._handles = []

    def __enter__(self):
        for module in self._modules:
            self._handles.append(module.register_forward_hook(self._hook))
        return self

    def _hook(self, module, args, output):
        name = self._names[id(module)]
        if self.cut and isinstance(output, ember.Tensor):
            output = output.detach().requires_grad_()
        self.outputs[name] = output
        if self.keep_inputs:
            self.arguments[name] = args[0] if args else None
        self.order.append(name)
        if self.stop:
            raise _StopForward
        if self.cut and isinstance(output, ember.Tensor):
            # a copy carries on, so that in-place layers further on leave the leaf alone
            return output.clone()

    def __exit__(self, kind, error, traceback):
        for handle in self._handles:
            handle.remove()
        self._handles = []
        return kind is _StopForward

    def _name(self, layer):
        if isinstance(layer, nn.Module):
            return self._names[id(layer)]
        return layer

    def ran(self, layer):
        return self._name(layer) in self.outputs

    def output(self, layer):
        """What ``layer`` returned (raises a one-line error if it did not run)."""
        name = self._name(layer)
        if name not in self.outputs:
            raise ValueError(f"{self.caller}: layer {name!r} of {type(self.model).__name__} "
                             f"did not run in the forward pass")
        output = self.outputs[name]
        if not isinstance(output, ember.Tensor):
            raise ValueError(f"{self.caller}: layer {name!r} returns a "
                             f"{type(output).__name__}, not a Tensor; choose a layer that "
                             f"returns one tensor")
        return output

    def input(self, layer):
        """The first positional argument ``layer`` was called with."""
        self.output(layer)
        return self.arguments[self._name(layer)]


class relu_backward_rule:
    """A context manager replacing the gradient every ``nn.ReLU`` module of ``model`` passes
    back (full backward hooks), for guided backpropagation and the deconvnet (Springenberg
    et al. 2015, Zeiler & Fergus 2014):

    - ``"guided"``: ``relu(grad_input)`` = ``relu(grad_output * [x > 0])``, only positive
      gradients through units that were on;
    - ``"deconvnet"``: ``relu(grad_output)``, the forward pass's on/off pattern ignored.

    ReLUs applied as functions (``F.relu`` inside a ``forward``) are not modules and keep
    their gradient, as in Captum; a model with no ``nn.ReLU`` module is an error."""

    RULES = ("guided", "deconvnet")

    def __init__(self, model, rule, caller):
        if rule not in self.RULES:
            raise ValueError(f"{caller}: rule must be one of {self.RULES}, got {rule!r}")
        self.relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
        if not self.relus:
            raise ValueError(f"{caller}: {type(model).__name__} has no nn.ReLU module to "
                             f"change the backward pass of (ReLUs called as functions in "
                             f"forward cannot be hooked)")
        self.rule = rule
        self._handles = []

    def _hook(self, module, grad_input, grad_output):
        grad = grad_output[0] if self.rule == "deconvnet" else grad_input[0]
        return (F.relu(grad),)

    def __enter__(self):
        self._handles = [m.register_full_backward_hook(self._hook) for m in self.relus]
        return self

    def __exit__(self, kind, error, traceback):
        for handle in self._handles:
            handle.remove()
        self._handles = []
        return False


class frozen_parameters:
    """A context manager that turns ``requires_grad`` off on every parameter of ``model`` that
    has it, and back on at the end: gradients with respect to inputs or activations then skip
    the weight-gradient products of every layer (a third of a convolution's backward)."""

    def __init__(self, model):
        self.parameters = [p for p in model.parameters() if p.requires_grad]

    def __enter__(self):
        for p in self.parameters:
            p.requires_grad_(False)
        return self

    def __exit__(self, kind, error, traceback):
        for p in self.parameters:
            p.requires_grad_(True)
        return False


def run_model(model, x, caller):
    """``model(x)``, with a model's refusal of the input (wrong size, wrong channel count)
    turned into one line that names ``caller`` and the input's shape."""
    try:
        return model(x)
    except (ValueError, RuntimeError, IndexError, TypeError) as e:
        text = str(e).strip()
        first = text.splitlines()[0] if text else type(e).__name__
        raise ValueError(f"{caller}: {type(model).__name__} cannot take inputs of shape "
                         f"{tuple(x.shape)}: {first}") from None


def as_batch(inputs, caller, ndim=None):
    """``inputs`` (a Tensor or a NumPy array ``(N, ...)``) as a floating NumPy array; with
    ``ndim``, the number of dimensions it must have (4: images ``(N, C, H, W)``)."""
    if isinstance(inputs, ember.Tensor):
        array = inputs.detach().numpy()
    elif isinstance(inputs, np.ndarray):
        array = inputs
    else:
        raise TypeError(f"{caller}: inputs must be a Tensor or a NumPy array, got "
                        f"{type(inputs).__name__}")
    if array.dtype.kind != "f":
        raise TypeError(f"{caller}: inputs must be floating point, got {array.dtype}")
    if ndim is not None and array.ndim != ndim:
        what = "images (N, C, H, W)" if ndim == 4 else f"{ndim}-D inputs"
        raise ValueError(f"{caller}: expected a batch of {what}, got shape {array.shape}")
    if array.ndim < 2 or array.shape[0] == 0:
        raise ValueError(f"{caller}: expected a non-empty batch (N, ...), got shape "
                         f"{array.shape}")
    return np.array(array, copy=True)
