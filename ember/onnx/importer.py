"""``ember.onnx.load``: an ONNX file as an Ember ``nn.Module`` that runs its graph.

The module keeps the graph's nodes in their (topological) file order and, on ``forward``,
runs each with Ember's ops (:mod:`ember.onnx.import_ops`), so the result is differentiable:
the floating-point initializers are ``nn.Parameter`` s (integer ones, and those an operator
reads as data — a ``BatchNormalization``'s running statistics, ``Resize`` scales — are
buffers), and
``model.parameters()`` can be trained like any Ember module. Initializer names become
``state_dict`` keys: a graph exported from ``torchvision.models.resnet18`` has
``conv1.weight``, ``layer1.0.bn1.running_mean``, ... (a dotted name becomes nested
submodules; characters that cannot name an attribute become ``_``).

Nothing in an ONNX file is executed as code: it is a protobuf message of nodes and tensors.
"""
import os
import re
from collections import Counter

import numpy as np

import ember
from ember import nn
from ember.onnx.import_ops import (DATA_INPUTS, OPERATORS, UnsupportedOperator,
                                   as_ember_array)

__all__ = ["load", "OnnxModule", "OnnxLoadError"]

_DEFAULT_DOMAINS = ("", "ai.onnx")


class OnnxLoadError(RuntimeError):
    """An ONNX file that cannot be read or run (truncated, corrupt, unsupported operators);
    the message is one line naming the file."""


class OnnxNode:
    """One node of the graph: its operator, the names of its inputs and outputs, its decoded
    attributes and the opset its operator follows."""
    __slots__ = ("op_type", "name", "inputs", "outputs", "attributes", "opset", "run",
                 "release")

    def __init__(self, proto, opset, attributes):
        self.op_type, self.name = proto.op_type, proto.name
        self.inputs, self.outputs = list(proto.input), list(proto.output)
        self.attributes, self.opset = attributes, opset
        self.run = OPERATORS[proto.op_type]
        self.release = ()

    def describe(self):
        return f"{self.op_type} node {self.name!r}" if self.name else f"{self.op_type} node"

    def has(self, name):
        return name in self.attributes

    def attr(self, name, default=None):
        return self.attributes.get(name, default)

    def int(self, name, default=None):
        return self._get(name, default, int)

    def float(self, name, default=None):
        return self._get(name, default, float)

    def string(self, name, default=None):
        return self._get(name, default, str)

    def ints(self, name, default=None):
        value = self.attributes.get(name, default)
        if value is None:
            raise UnsupportedOperator(f"{self.describe()}: missing attribute {name!r}")
        return [int(v) for v in value]

    def _get(self, name, default, kind):
        value = self.attributes.get(name, default)
        return value if value is None else kind(value)


def _decode_attribute(attribute):
    import onnx
    from onnx import numpy_helper
    value = onnx.helper.get_attribute_value(attribute)
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, onnx.TensorProto):
        return numpy_helper.to_array(value)
    if isinstance(value, list) and value and isinstance(value[0], bytes):
        return [v.decode("utf-8") for v in value]
    return value


_NAME_SEGMENT = re.compile(r"[^0-9A-Za-z_]")


class OnnxModule(nn.Module):
    """An ONNX graph run by Ember (built by :func:`ember.onnx.load`).

    ``forward(*inputs)`` takes the graph's inputs in order (tensors of the declared rank and
    static sizes; ``input_names`` lists them) and returns its output, or a tuple when the
    graph has several (``output_names``).
    """

    def __init__(self, nodes, inputs, output_names, initializers, constants, source):
        super().__init__()
        self.source = source
        self.input_names = [name for name, _ in inputs]
        self._input_shapes = dict(inputs)
        self.output_names = list(output_names)
        self._nodes = nodes
        self._constants = constants
        self._slots = {}
        for name, (array, trainable) in initializers.items():
            self._slots[name] = self._place(name, ember.from_numpy(array), trainable)

    def _place(self, name, tensor, trainable):
        """Register an initializer under its dotted name (nested submodules) and return where
        it lives, ``(module, attribute)``."""
        segments = [_NAME_SEGMENT.sub("_", s) or "_" for s in name.split(".")]
        owner = self
        for segment in segments[:-1]:
            child = owner._modules.get(segment)
            if child is None:
                if segment in owner.__dict__ or hasattr(type(owner), segment) or \
                        segment in owner._parameters or segment in owner._buffers:
                    return self._place_flat(name, tensor, trainable)
                child = nn.Module()
                owner.add_module(segment, child)
            owner = child
        leaf = segments[-1]
        if leaf in owner._modules or leaf in owner._parameters or leaf in owner._buffers or \
                leaf in owner.__dict__ or hasattr(type(owner), leaf):
            return self._place_flat(name, tensor, trainable)
        self._register(owner, leaf, tensor, trainable)
        return owner, leaf

    def _place_flat(self, name, tensor, trainable):
        base = _NAME_SEGMENT.sub("_", name) or "_"
        attribute, count = base, 0
        while attribute in self._parameters or attribute in self._buffers or \
                attribute in self._modules or attribute in self.__dict__ or \
                hasattr(type(self), attribute):
            count += 1
            attribute = f"{base}_{count}"
        self._register(self, attribute, tensor, trainable)
        return self, attribute

    @staticmethod
    def _register(owner, attribute, tensor, trainable):
        if trainable:
            owner.register_parameter(attribute, nn.Parameter(tensor))
        else:
            owner.register_buffer(attribute, tensor)

    def forward(self, *inputs):
        if len(inputs) != len(self.input_names):
            raise TypeError(f"OnnxModule ({self.source}): expected {len(self.input_names)} "
                            f"input(s) {self.input_names}, got {len(inputs)}")
        values = dict(self._constants)
        for name, (owner, attribute) in self._slots.items():
            values[name] = getattr(owner, attribute)
        for name, x in zip(self.input_names, inputs):
            values[name] = self._check_input(name, x)
        for node in self._nodes:
            args = [values[n] if n else None for n in node.inputs]
            try:
                out = node.run(node, *args)
            except UnsupportedOperator as e:
                raise OnnxLoadError(f"OnnxModule ({self.source}): {e}") from None
            if type(out) is tuple:
                for name, value in zip(node.outputs, out):
                    if name:
                        values[name] = value
            else:
                values[node.outputs[0]] = out
            for name in node.release:
                values.pop(name, None)
        outputs = tuple(values[n] for n in self.output_names)
        return outputs[0] if len(outputs) == 1 else outputs

    def _check_input(self, name, x):
        if not isinstance(x, ember.Tensor):
            x = ember.as_tensor(x)
        expected = self._input_shapes[name]
        if expected is not None and (x.ndim != len(expected) or any(
                e is not None and e != n for e, n in zip(expected, x.shape))):
            shown = "(" + ", ".join("?" if e is None else str(e) for e in expected) + ")"
            raise ValueError(f"OnnxModule ({self.source}): input {name!r} expects shape {shown} "
                             f"(? = any size), got {tuple(x.shape)}")
        return x

    def extra_repr(self):
        ops = Counter(node.op_type for node in self._nodes)
        return (f"source={self.source}, inputs={self.input_names}, outputs={self.output_names}, "
                f"{len(self._nodes)} nodes: " + ", ".join(f"{k} x{v}" for k, v in
                                                          ops.most_common()))


def _read_model(f):
    """``(ModelProto, description)`` from a path, a binary file object, bytes or a ModelProto."""
    import onnx
    from google.protobuf.message import DecodeError
    if isinstance(f, onnx.ModelProto):
        return f, "<ModelProto>"
    if isinstance(f, (bytes, bytearray)):
        data, source = bytes(f), "<bytes>"
        folder = None
    elif isinstance(f, (str, os.PathLike)):
        path = os.fsdecode(f)
        source = repr(path)
        with open(path, "rb") as fileobj:
            data = fileobj.read()
        folder = os.path.dirname(os.path.abspath(path))
    elif hasattr(f, "read"):
        data = f.read()
        name = getattr(f, "name", None)
        source = repr(name) if isinstance(name, str) else f"<{type(f).__name__}>"
        folder = None
    else:
        raise TypeError(f"ember.onnx.load: expected a path, a binary file object, bytes or an "
                        f"onnx.ModelProto, got {type(f).__name__}")
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, ValueError, RuntimeError) as e:
        raise OnnxLoadError(f"ember.onnx.load: {source} is not a valid ONNX model (cannot parse "
                            f"it: {' '.join(str(e).split())}); it may be truncated or "
                            "corrupt") from None
    if not model.HasField("graph") or not model.graph.node:
        raise OnnxLoadError(f"ember.onnx.load: {source} is not a valid ONNX model (it holds no "
                            "graph); it may be truncated or corrupt")
    if folder is not None and any(t.data_location == onnx.TensorProto.EXTERNAL
                                  for t in model.graph.initializer):
        from onnx.external_data_helper import load_external_data_for_model
        try:
            load_external_data_for_model(model, folder)
        except (OSError, ValueError) as e:
            raise OnnxLoadError(f"ember.onnx.load: {source}: cannot read its external weights "
                                f"({e})") from None
    return model, source


def _default_opset(model, source):
    for opset in model.opset_import:
        if opset.domain in _DEFAULT_DOMAINS:
            return opset.version
    raise OnnxLoadError(f"ember.onnx.load: {source} imports no version of the default ONNX "
                        "operator set")


def _check_operators(graph, source):
    unsupported = Counter(
        node.op_type if node.domain in _DEFAULT_DOMAINS else f"{node.domain}::{node.op_type}"
        for node in graph.node
        if node.domain not in _DEFAULT_DOMAINS or node.op_type not in OPERATORS)
    if unsupported:
        listed = ", ".join(f"{op} ({n} node{'s' if n > 1 else ''})"
                           for op, n in unsupported.most_common())
        raise OnnxLoadError(f"ember.onnx.load: {source} uses operators Ember does not "
                            f"implement: {listed}")


def _input_shape(value_info):
    tensor_type = value_info.type.tensor_type
    if not tensor_type.HasField("shape"):
        return None
    return tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
                 for d in tensor_type.shape.dim)


def _data_initializers(graph):
    """Names that feed an input an operator reads as data (``import_ops.DATA_INPUTS``): the
    running statistics of a ``BatchNormalization``, shapes, scales, ... — buffers, not
    parameters."""
    return {node.input[i] for node in graph.node
            for i in DATA_INPUTS.get(node.op_type, ()) if i < len(node.input)}


def load(f):
    """Read an ONNX model and return an :class:`OnnxModule` that runs it with Ember.

    Args:
        f: a path, a binary file object, ``bytes``, or an ``onnx.ModelProto``. Weights stored
            as external data beside a path are read too.

    Covers the operators Ember exports and those ``torch.onnx.export`` writes for
    torchvision's classification models (see ``ember.onnx.import_ops.OPERATORS``).

    Raises:
        FileNotFoundError: if the path does not exist.
        OnnxLoadError: if the file is not a valid ONNX model (truncated, corrupt, a graph
            reading values nothing defines) or uses operators Ember does not implement; one
            line naming the file and the problem (all unsupported operators are listed).
    """
    model, source = _read_model(f)
    if model.functions:
        import onnx.inliner
        model = onnx.inliner.inline_local_functions(model)
    graph = model.graph
    opset = _default_opset(model, source)
    _check_operators(graph, source)

    from onnx import numpy_helper
    frozen = _data_initializers(graph)
    initializers = {}
    for tensor in graph.initializer:
        try:
            array = np.array(numpy_helper.to_array(tensor))
        except (ValueError, TypeError) as e:
            raise OnnxLoadError(f"ember.onnx.load: {source}: cannot read initializer "
                                f"{tensor.name!r} ({e}); the file may be truncated") from None
        array = _checked_array(array, f"initializer {tensor.name!r}", source)
        trainable = array.dtype.kind == "f" and tensor.name not in frozen
        initializers[tensor.name] = (array, trainable)

    defined = set(initializers)
    inputs = []
    for value in graph.input:
        if value.name not in defined:
            inputs.append((value.name, _input_shape(value)))
            defined.add(value.name)
    constants, nodes = {}, []
    for proto in graph.node:
        for name in proto.input:
            if name and name not in defined:
                raise OnnxLoadError(f"ember.onnx.load: {source} is not a valid ONNX graph: "
                                    f"{proto.op_type} node {proto.name!r} reads {name!r}, which "
                                    "no earlier node, input or initializer defines")
        attributes = {a.name: _decode_attribute(a) for a in proto.attribute}
        node = OnnxNode(proto, opset, attributes)
        if proto.op_type == "Constant":
            try:
                constants[proto.output[0]] = node.run(node)
            except UnsupportedOperator as e:
                raise OnnxLoadError(f"ember.onnx.load: {source}: {e}") from None
        else:
            nodes.append(node)
        defined.update(n for n in proto.output if n)
    outputs = [value.name for value in graph.output]
    for name in outputs:
        if name not in defined:
            raise OnnxLoadError(f"ember.onnx.load: {source} is not a valid ONNX graph: its "
                                f"output {name!r} is never computed")
    _plan_release(nodes, set(outputs) | set(initializers) | set(constants))
    return OnnxModule(nodes, inputs, outputs, initializers, constants, source)


def _checked_array(array, what, source):
    try:
        return as_ember_array(array, what)
    except UnsupportedOperator as e:
        raise OnnxLoadError(f"ember.onnx.load: {source}: {e}") from None


def _plan_release(nodes, keep):
    """Let ``forward`` drop each intermediate value after the last node that reads it."""
    last_use = {}
    for i, node in enumerate(nodes):
        for name in node.inputs:
            if name:
                last_use[name] = i
        for name in node.outputs:
            if name:
                last_use.setdefault(name, i)
    releases = [[] for _ in nodes]
    for name, i in last_use.items():
        if name not in keep:
            releases[i].append(name)
    for node, names in zip(nodes, releases):
        node.release = tuple(names)
