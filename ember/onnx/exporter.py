"""``ember.onnx.export``: write an Ember model as an ONNX file by tracing its primitives.

Every op Ember runs is a :class:`~ember.autograd.function.Function` whose ``apply`` is the
single entry point; while :func:`export` traces, a hook there (``function.trace_hook``)
records each call — the node class, its configuration, its input and output tensors and the
module it ran in. Each recorded op is then written as ONNX nodes by the converter registered
for its class name in :data:`ember.onnx.export_ops.CONVERTERS`.

A tensor is identified by the graph node that made it (``grad_fn``), so an in-place op that
hands its node to the tensor it overwrote (``relu_``) is followed; the trace therefore runs
with gradients enabled and the inputs requiring grad, in eval mode (like ``torch.onnx.export``
with its default ``training=EVAL``), and leaves the model as it found it.

The model is traced twice: the second time with other input values and, when
``dynamic_axes`` marks an input axis as dynamic (e.g. the batch), with that axis one longer.
A size that changes between the two traces is dynamic; the converters write such sizes
symbolically (``Reshape`` copies them with ``0``, infers one with ``-1`` or reads them from
the graph input's ``Shape``) and refuse, naming the op and module, what they cannot express
(an op whose configuration itself depends on the size, such as an adaptive pool over a
dynamic spatial axis). A tensor the trace sees as a constant but which differs between the
traces was computed from the input by something the tracer cannot see (Ember's comparisons,
``argmax`` and ``.item()`` do not go through ``Function.apply``): the export refuses it rather
than freezing one input's result into the file.
"""
import os

import numpy as np

import ember
from ember.autograd import function as _function
from ember.onnx.export_ops import CONVERTERS, DATA_CONFIG, ExportError

__all__ = ["export", "ExportError", "DEFAULT_OPSET", "MIN_OPSET", "MAX_OPSET"]

DEFAULT_OPSET = 18
MIN_OPSET = 18
MAX_OPSET = 26       # the newest opset onnxruntime 1.31 runs
MAX_IR_VERSION = 13


class Value:
    """A tensor of the traced graph: its shape (and its shape in the second trace), dtype, and
    for inputs, parameters, buffers and constants, how it enters the ONNX graph."""
    __slots__ = ("shape", "shape2", "dtype", "kind", "name", "array")

    def __init__(self, shape, dtype, kind, name=None, array=None):
        self.shape = self.shape2 = tuple(shape)
        self.dtype, self.kind, self.name, self.array = np.dtype(dtype), kind, name, array

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def dynamic(self):
        """The axes whose size differs between the two traces."""
        return {i for i, (a, b) in enumerate(zip(self.shape, self.shape2)) if a != b}


class TracedOp:
    """One ``Function.apply``: node class, inputs, configuration, output, module path."""
    __slots__ = ("cls", "inputs", "config", "config2", "output", "module")

    def __init__(self, cls, inputs, config, output, module):
        self.cls, self.inputs, self.config, self.output, self.module = \
            cls, inputs, config, output, module
        self.config2 = config

    @property
    def name(self):
        return self.cls.__name__


class _Tracer:
    """The ``trace_hook``: records every op as a :class:`TracedOp`."""

    def __init__(self, model):
        self.ops, self.values, self.inputs, self._alive = [], {}, [], []
        self.names = {}
        for name, p in model.named_parameters():
            self.names[id(p)] = name
        # raw arrays some ops are configured with (BatchNorm's running statistics)
        self.array_names = {}
        for name, b in model.named_buffers():
            self.names[id(b)] = name
            self.array_names[id(b._data)] = name
        self.modules = []
        self._constants = 0

    @staticmethod
    def key(t):
        node = t.grad_fn
        return ("node", id(node)) if node is not None else ("tensor", id(t))

    def add_input(self, tensor, name):
        value = Value(tensor.shape, tensor._data.dtype, "input", name)
        self.values[self.key(tensor)] = value
        self.inputs.append(value)
        self._alive.append(tensor)

    def value_of(self, t, cls=None):
        value = self.values.get(self.key(t))
        if value is not None:
            return value
        if t.grad_fn is not None:
            reader = f"an input of {cls.__name__}" if cls is not None else "an output"
            raise ExportError(
                f"ember.onnx.export: {reader} in {self.module_path()} was made by "
                f"{t.grad_fn.name()}, which the tracer cannot see (an in-place write into a "
                "view, or a custom autograd Function); rewrite that step out of place")
        name = self.names.get(id(t))
        if name is not None:
            value = Value(t.shape, t._data.dtype, "initializer", name, t._data)
        else:
            self._constants += 1
            value = Value(t.shape, t._data.dtype, "constant", f"constant_{self._constants}",
                          np.array(t._data))
        self.values[self.key(t)] = value
        self._alive.append(t)
        return value

    def module_path(self):
        if not self.modules:
            return "the model's forward"
        name, module = self.modules[-1]
        return f"module {name!r} ({type(module).__name__})" if name else \
            f"the model ({type(module).__name__})"

    def __call__(self, cls, tensors, config, result):
        if isinstance(result, tuple):
            raise ExportError(f"ember.onnx.export: no ONNX conversion for the op {cls.__name__} "
                              f"with several outputs (values and indices; called in "
                              f"{self.module_path()}); export the form that returns values only")
        inputs = [self.value_of(t, cls) for t in tensors]
        output = Value(result.shape, result._data.dtype, "op")
        self.values[self.key(result)] = output
        self._alive.append(result)
        self.ops.append(TracedOp(cls, inputs, config, output, self.module_path()))


def _flatten_outputs(out):
    if isinstance(out, ember.Tensor):
        return [out]
    if isinstance(out, (tuple, list)) and out and all(isinstance(t, ember.Tensor) for t in out):
        return list(out)
    raise ExportError(f"ember.onnx.export: the model must return a Tensor or a tuple/list of "
                      f"Tensors, got {type(out).__name__}")


def _trace(model, args, input_names):
    tracer = _Tracer(model)
    inputs = []
    for tensor, name in zip(args, input_names):
        x = ember.tensor(tensor.detach().numpy())
        if x.is_floating_point():
            x.requires_grad_(True)
        tracer.add_input(x, name)
        inputs.append(x)
    def enter(name):
        def hook(module, args):
            tracer.modules.append((name, module))
        return hook

    def leave(module, args, output):
        tracer.modules.pop()

    handles = []
    for name, module in model.named_modules():
        handles.append(module.register_forward_pre_hook(enter(name)))
        handles.append(module.register_forward_hook(leave))
    if _function.trace_hook is not None:
        raise RuntimeError("ember.onnx.export: another export is already tracing")
    _function.trace_hook = tracer
    try:
        with ember.enable_grad():
            outputs = _flatten_outputs(model(*inputs))
    finally:
        _function.trace_hook = None
        for handle in handles:
            handle.remove()
    tracer.modules = []
    return tracer, [tracer.value_of(t) for t in outputs]


def _same(a, b):
    """Equality of two op configurations (arrays by value, objects by their attributes)."""
    if a is b:
        return True
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and \
            a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if hasattr(a, "__dict__") and type(a) is type(b) and not isinstance(a, type):
        return _same(vars(a), vars(b))
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _pair_traces(first, second, outputs, outputs2):
    """Give every value of the first trace its shape in the second, and every op its second
    configuration; refuse what differs in a way ONNX cannot express."""
    if [op.cls for op in first.ops] != [op.cls for op in second.ops]:
        raise ExportError("ember.onnx.export: the model runs different ops when a dynamic axis "
                          "changes size (its forward branches on the size); export it with "
                          "static shapes")
    for op, op2 in zip(first.ops, second.ops):
        op.output.shape2 = op2.output.shape
        op.config2 = op2.config
        for value, value2 in zip(op.inputs, op2.inputs):
            if value.kind == "constant" and not _same(value.array, value2.array):
                raise ExportError(
                    f"ember.onnx.export: {op.name} in {op.module} reads a tensor (shape "
                    f"{value.shape}) that changes with the input but was not made by an op the "
                    "exporter traces: a comparison, a cast to an integer type, argmax/sort "
                    "indices, .item(), or a tensor built from x.shape; compute it with traced tensor ops, or keep the shapes "
                    "static")
    for value, value2 in zip(first.inputs + outputs, second.inputs + outputs2):
        value.shape2 = value2.shape


def _check_configs(ops):
    for op in ops:
        converter = CONVERTERS.get(op.name)
        if converter is None or getattr(converter, "handles_dynamic_config", False):
            continue
        ignore = DATA_CONFIG.get(op.name, ())
        keys = [k for k in op.config if k not in ignore]
        if not all(_same(op.config[k], op.config2.get(k)) for k in keys):
            raise ExportError(
                f"ember.onnx.export: {op.name} in {op.module} is configured from the size of "
                f"a dynamic axis (its input shape {op.inputs[0].shape} vs "
                f"{op.inputs[0].shape2} in the two traces), which ONNX cannot express; export "
                "with that axis static")


class ExportContext:
    """What converters write into: ONNX nodes, initializers and names for traced values."""

    def __init__(self, opset, array_names, inputs):
        from onnx import helper
        self.helper, self.opset, self.array_names = helper, opset, array_names
        self.nodes, self.initializers = [], []
        self._names, self._counter, self._initialized = {}, 0, set()
        self._arrays_added, self._sizes = {}, {}
        # the graph input axis carrying each dynamic size (its sizes in the two traces)
        self._size_sources = {}
        for value in inputs:
            for axis in sorted(value.dynamic):
                self._size_sources.setdefault((value.shape[axis], value.shape2[axis]),
                                              (value.name, axis))
        self.op = None

    def dynamic_size(self, sizes):
        """A 1-element int64 tensor that holds at run time the size that was ``sizes[0]`` and
        ``sizes[1]`` in the two traces (read from a graph input with such an axis), or None."""
        source = self._size_sources.get(tuple(sizes))
        if source is None:
            return None
        if source not in self._sizes:
            name, axis = source
            self._sizes[source] = self.emit("Shape", [name], start=axis, end=axis + 1)
        return self._sizes[source]

    def shape_tensor(self, dims):
        """An int64 shape from ints and 1-element tensor names (``dynamic_size``)."""
        if all(not isinstance(d, str) for d in dims):
            return self.int64(dims)
        return self.emit("Concat", [d if isinstance(d, str) else self.int64([d]) for d in dims],
                         axis=0)

    def fresh(self, stem="v"):
        self._counter += 1
        return f"{stem}_{self._counter}"

    def value(self, value):
        """The ONNX name of a traced value (an initializer is added on first use)."""
        name = self._names.get(id(value))
        if name is not None:
            return name
        if value.kind in ("initializer", "constant"):
            name = self.initializer(value.array, value.name)
        elif value.kind == "input":
            name = value.name
        else:
            raise ExportError(f"ember.onnx.export: internal error: value of shape "
                              f"{value.shape} used before the op that makes it was converted")
        self._names[id(value)] = name
        return name

    def bind(self, value, name):
        self._names[id(value)] = name

    def initializer(self, array, name=None):
        """Add ``array`` as an initializer (under ``name`` if free) and return its name."""
        from onnx import numpy_helper
        if name is None or name in self._initialized:
            name = self.fresh(name or "const")
        self._initialized.add(name)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def array(self, array, hint):
        """An initializer for a raw array an op was configured with (e.g. BatchNorm's running
        mean): named after the buffer it belongs to (else ``hint``), added once."""
        name = self._arrays_added.get(id(array))
        if name is None:
            name = self._arrays_added[id(array)] = self.initializer(
                array, self.array_names.get(id(array), hint))
        return name

    def int64(self, values):
        return self.initializer(np.asarray(values, dtype=np.int64), "shape")

    def scalar(self, value, dtype):
        return self.initializer(np.asarray(value, dtype=dtype), "scalar")

    def emit(self, op_type, inputs, outputs=1, **attributes):
        """Add a node; returns its output name (or the list of names for ``outputs > 1``)."""
        names = [self.fresh(op_type) for _ in range(outputs)]
        label = self.op.module if self.op is not None else "graph"
        self.nodes.append(self.helper.make_node(
            op_type, inputs, names, name=f"{label}: {op_type} {len(self.nodes)}",
            **{k: v for k, v in attributes.items() if v is not None}))
        return names[0] if outputs == 1 else names

    def error(self, op, problem):
        return ExportError(f"ember.onnx.export: cannot export {op.name} in {op.module}: "
                           f"{problem}")


def _normalize_dynamic_axes(dynamic_axes, names):
    out = {}
    for name, axes in (dynamic_axes or {}).items():
        if name not in names:
            raise ValueError(f"ember.onnx.export: dynamic_axes names {name!r}, which is neither "
                             f"an input nor an output (names: {names})")
        if isinstance(axes, dict):
            out[name] = {int(a): str(s) for a, s in axes.items()}
        elif isinstance(axes, (list, tuple)):
            out[name] = {int(a): f"{name}_dynamic_axes_{i + 1}" for i, a in enumerate(axes)}
        else:
            raise TypeError(f"ember.onnx.export: dynamic_axes[{name!r}] must be a dict "
                            f"{{axis: name}} or a list of axes, got {type(axes).__name__}")
    return out


def _variant(tensor, axes, name):
    """The second trace's input: one longer along each dynamic axis (its first slice repeated)
    and with other values (a tensor that the trace sees as a constant but that changes with
    them was computed from the input by an op the tracer cannot see)."""
    for axis in axes:
        if not -tensor.ndim <= axis < tensor.ndim:
            raise ValueError(f"ember.onnx.export: dynamic axis {axis} of input {name!r} is out "
                             f"of range for its shape {tuple(tensor.shape)}")
        if tensor.shape[axis] == 0:
            raise ValueError(f"ember.onnx.export: input {name!r} has size 0 along dynamic axis "
                             f"{axis}; give an example with at least one element")
        tensor = ember.cat([tensor, tensor.narrow(axis, 0, 1)], dim=axis)
    array = tensor.detach().numpy()
    if array.dtype.kind == "f":
        array = 0.5 - array
    elif array.dtype.kind == "b":
        array = ~array
    else:
        array = np.roll(array.reshape(-1), 1).reshape(array.shape)
    return ember.from_numpy(np.ascontiguousarray(array))


def _value_info(name, value, symbols):
    from onnx import helper
    dims = [symbols.get(i, d) for i, d in enumerate(value.shape)]
    return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(value.dtype),
                                         dims)


def _ir_version(opset):
    from onnx import helper
    return min(helper.find_min_ir_version_for([helper.make_opsetid("", opset)]), MAX_IR_VERSION)


def export(model, args, f, input_names=None, output_names=None, dynamic_axes=None,
           opset_version=None):
    """Export ``model`` (an ``nn.Module``) to ONNX, like ``torch.onnx.export``.

    Args:
        model: the module; it is traced in eval mode and put back in its mode afterwards.
        args: the example input: a Tensor or a tuple of Tensors (``model(*args)``).
        f: a path (written atomically) or a writable binary file object.
        input_names / output_names: names of the graph's inputs and outputs (default
            ``input``/``output``, numbered ``input_0``, ... when there are several).
        dynamic_axes: ``{name: {axis: symbol}}`` or ``{name: [axis, ...]}`` for inputs and
            outputs, e.g. ``{"input": {0: "batch"}, "output": {0: "batch"}}`` for a dynamic
            batch size. Output axes that follow a dynamic input axis are dynamic in the file
            whether listed or not.
        opset_version: the ONNX operator set, 18 to 26 (default 18).

    Returns:
        the ``onnx.ModelProto`` written (``onnx.checker`` has accepted it).

    Raises:
        ExportError: for an op Ember has no ONNX conversion for, or one it cannot express
            with the requested dynamic axes; the message names the op and the module path.
    """
    import onnx
    from onnx import helper

    opset = DEFAULT_OPSET if opset_version is None else int(opset_version)
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise ValueError(f"ember.onnx.export: opset_version must lie in [{MIN_OPSET}, "
                         f"{MAX_OPSET}], got {opset_version}")
    args = (args,) if isinstance(args, ember.Tensor) else tuple(args)
    if not args or not all(isinstance(a, ember.Tensor) for a in args):
        raise TypeError("ember.onnx.export: args must be a Tensor or a non-empty tuple of "
                        "Tensors")
    input_names = _default_names(input_names, len(args), "input")
    was_training = model.training
    model.eval()
    try:
        tracer, outputs = _trace(model, args, input_names)
        output_names = _default_names(output_names, len(outputs), "output")
        dynamic = _normalize_dynamic_axes(dynamic_axes, input_names + output_names)
        variant = [_variant(a, sorted(dynamic.get(n, {})), n) for a, n in zip(args, input_names)]
        tracer2, outputs2 = _trace(model, variant, input_names)
        _pair_traces(tracer, tracer2, outputs, outputs2)
    finally:
        model.train(was_training)
    _check_configs(tracer.ops)

    ctx = ExportContext(opset, tracer.array_names, tracer.inputs)
    for op in tracer.ops:
        converter = CONVERTERS.get(op.name)
        if converter is None:
            raise ExportError(f"ember.onnx.export: no ONNX conversion for the op {op.name} "
                              f"(called in {op.module})")
        ctx.op = op
        ctx.bind(op.output, converter(ctx, op))
    ctx.op = None

    inputs_info = []
    symbols_by_size = {}
    for name, value in zip(input_names, tracer.inputs):
        symbols = {axis: dynamic.get(name, {}).get(axis, f"{name}_dim{axis}")
                   for axis in value.dynamic}
        for axis, symbol in symbols.items():
            symbols_by_size.setdefault((value.shape[axis], value.shape2[axis]), symbol)
        inputs_info.append(_value_info(name, value, symbols))
    outputs_info = []
    for name, value in zip(output_names, outputs):
        wanted = dynamic.get(name, {})
        for axis in wanted:
            if axis not in value.dynamic:
                raise ExportError(f"ember.onnx.export: dynamic_axes marks axis {axis} of "
                                  f"output {name!r} as dynamic, but its size "
                                  f"{value.shape[axis] if axis < value.ndim else '?'} does not "
                                  "follow any dynamic input axis")
        symbols = {axis: wanted.get(axis, symbols_by_size.get(
            (value.shape[axis], value.shape2[axis]), f"{name}_dim{axis}"))
            for axis in value.dynamic}
        ctx.nodes.append(helper.make_node("Identity", [ctx.value(value)], [name],
                                          name=f"output {name}"))
        outputs_info.append(_value_info(name, value, symbols))

    graph = helper.make_graph(ctx.nodes, type(model).__name__, inputs_info, outputs_info,
                              ctx.initializers)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="ember", producer_version=ember.__version__)
    proto.ir_version = _ir_version(opset)
    onnx.checker.check_model(proto)
    data = proto.SerializeToString()
    if isinstance(f, (str, bytes, os.PathLike)):
        from ember.serialization import write_atomic
        write_atomic(os.fsdecode(f), lambda out: out.write(data), "ember.onnx.export")
    elif hasattr(f, "write"):
        f.write(data)
    else:
        raise TypeError(f"ember.onnx.export: f must be a path or a binary file object, got "
                        f"{type(f).__name__}")
    return proto


def _default_names(names, count, stem):
    if names is None:
        return [stem] if count == 1 else [f"{stem}_{i}" for i in range(count)]
    names = list(names)
    if len(names) != count or len(set(names)) != count or not all(
            isinstance(n, str) and n for n in names):
        raise ValueError(f"ember.onnx.export: expected {count} distinct non-empty {stem} "
                         f"names, got {names}")
    return names
