"""How each traced Ember op is written as ONNX nodes: the table ``CONVERTERS``.

The table is keyed by the name of the op's :class:`~ember.autograd.function.Function` class
(the node class ``Function.apply`` ran). A converter ``convert(ctx, op)`` reads the op's
inputs (``op.inputs``: traced values with ``shape``, ``shape2`` — the shape in the second
trace when an axis is dynamic — and ``dtype``), its configuration ``op.config`` (the keyword
arguments ``apply`` received) and output, adds ONNX nodes through ``ctx`` (``ctx.value(v)``
names a value, ``ctx.emit(op_type, inputs, **attributes)`` adds a node, ``ctx.initializer``
/ ``ctx.int64`` / ``ctx.scalar`` add constants) and returns the name of the op's output.

``DATA_CONFIG`` lists, per op, configuration entries that carry data rather than
configuration, which the exporter does not compare between its two traces (none today: every
op computes its forward inside its node).
"""
import math

import numpy as np

__all__ = ["CONVERTERS", "DATA_CONFIG", "ExportError"]

INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min


class ExportError(RuntimeError):
    """An op or a model that cannot be written as ONNX; the message names the op and the
    module path."""


def _x(ctx, op, i=0):
    return ctx.value(op.inputs[i])


def _same_dtype(ctx, op, indices=None):
    """Names of the op's inputs, cast to the output dtype where they differ (ONNX's binary ops
    take one element type; Ember promotes)."""
    from onnx import helper
    names = []
    for i, value in enumerate(op.inputs):
        name = ctx.value(value)
        if (indices is None or i in indices) and value.dtype != op.output.dtype:
            name = ctx.emit("Cast", [name],
                            to=helper.np_dtype_to_tensor_dtype(op.output.dtype))
        names.append(name)
    return names


def _batched(ctx, op, spatial, convert):
    """Run ``convert(x_name)`` on a batched input: an unbatched ``(C, *S)`` input gets a batch
    axis before and loses it after (Ember's convs and pools accept both)."""
    x = op.inputs[0]
    if x.ndim == spatial + 2:
        return convert(ctx.value(x))
    axis = ctx.int64([0])
    return ctx.emit("Squeeze", [convert(ctx.emit("Unsqueeze", [ctx.value(x), axis])), axis])


def _require_static(ctx, op, value, axes, what):
    dynamic = sorted(value.dynamic & set(axes))
    if dynamic:
        raise ctx.error(op, f"{what} is fixed at trace time, so axes {dynamic} (sizes "
                            f"{[value.shape[a] for a in dynamic]}) cannot be dynamic")


# ------------------------------------------------------------------ convolution, pooling
def conv(ctx, op):
    c = op.config
    w = op.inputs[1]
    nd = w.ndim - 2
    pads = [lo for lo, _ in c["padding"]] + [hi for _, hi in c["padding"]]

    def convert(x):
        inputs = [x] + [ctx.value(v) for v in op.inputs[1:]]
        return ctx.emit("Conv", inputs, kernel_shape=list(w.shape[2:]),
                        strides=list(c["stride"]), pads=pads, dilations=list(c["dilation"]),
                        group=c["groups"])
    return _batched(ctx, op, nd, convert)


def _pool_pads(g):
    """ONNX pads giving torch's pool output size: the begin pads are torch's, the end pads are
    widened so that the floor formula reaches every window torch's ``ceil_mode`` keeps.
    Returns ``(pads, ceil_mode)``; ``ceil_mode`` is used only when the widening would reach
    a whole kernel (ONNX Runtime refuses such pads)."""
    ends, ceil = [], 0
    for n, k, s, p, d, o in zip(g.size, g.kernel, g.stride, g.padding, g.dilation, g.out):
        needed = (o - 1) * s + d * (k - 1) + 1 - n - p
        if needed <= p:
            ends.append(p)
        elif needed < k:
            ends.append(needed)
        else:
            ends.append(p)
            ceil = 1
    return list(g.padding) + ends, ceil


def max_pool(ctx, op):
    g = op.config["geometry"]
    _require_static(ctx, op, op.inputs[0], range(op.inputs[0].ndim - g.nd, op.inputs[0].ndim),
                    "the pooling window layout")
    pads, ceil = _pool_pads(g)
    return _batched(ctx, op, g.nd, lambda x: ctx.emit(
        "MaxPool", [x], kernel_shape=list(g.kernel), strides=list(g.stride), pads=pads,
        dilations=list(g.dilation), ceil_mode=ceil))


def avg_pool(ctx, op):
    g, divisor = op.config["geometry"], op.config["divisor"]
    pads, ceil = _pool_pads(g)
    if ceil:
        raise ctx.error(op, f"ceil_mode windows reaching past a whole kernel {g.kernel}")
    window = math.prod(g.kernel)

    def convert(x):
        y = ctx.emit("AveragePool", [x], kernel_shape=list(g.kernel), strides=list(g.stride),
                     pads=pads, count_include_pad=1)
        divisor_array = np.asarray(divisor)
        if divisor_array.ndim == 0 and float(divisor_array) == window:
            return y
        # every ONNX window holds prod(kernel) cells; rescale to Ember's (torch's) divisor
        factor = (window / divisor_array).astype(op.output.dtype)
        return ctx.emit("Mul", [y, ctx.initializer(factor, "avg_pool_divisor")])
    return _batched(ctx, op, g.nd, convert)


def global_avg_pool(ctx, op):
    x, nd = op.inputs[0], op.config["nd"]
    if nd == x.ndim - 2:
        return ctx.emit("GlobalAveragePool", [ctx.value(x)])
    return ctx.emit("ReduceMean", [ctx.value(x), ctx.int64(range(x.ndim - nd, x.ndim))],
                    keepdims=1)


def resample(ctx, op):
    """``y = W x`` along one axis (adaptive average pooling, interpolation): the
    ``(out, in)`` matrix ``W`` as a MatMul, or a Gather for a one-tap (nearest) resample."""
    x, c = op.inputs[0], op.config
    axis, index, weight = c["axis"], c["index"], c["weight"]
    _require_static(ctx, op, x, [axis], "the resampling matrix")
    size = x.shape[axis]
    if weight is None and index.shape[1] == 1:
        if np.array_equal(index[:, 0], np.arange(size)):
            return ctx.emit("Identity", [ctx.value(x)])
        return ctx.emit("Gather", [ctx.value(x), ctx.int64(index[:, 0])], axis=axis)
    matrix = np.zeros((index.shape[0], size), dtype=op.output.dtype)
    rows = np.repeat(np.arange(index.shape[0]), index.shape[1])
    np.add.at(matrix, (rows, index.ravel()), 1 if weight is None else weight.ravel())
    name = ctx.value(x)
    if axis == x.ndim - 1:
        return ctx.emit("MatMul", [name, ctx.initializer(matrix.T, "resample")])
    if axis == x.ndim - 2:
        return ctx.emit("MatMul", [ctx.initializer(matrix, "resample"), name])
    perm = list(range(x.ndim))
    perm[axis], perm[-1] = perm[-1], perm[axis]
    moved = ctx.emit("Transpose", [name], perm=perm)
    out = ctx.emit("MatMul", [moved, ctx.initializer(matrix.T, "resample")])
    return ctx.emit("Transpose", [out], perm=perm)


def pad(ctx, op):
    x, c = op.inputs[0], op.config
    modes = {"constant": "constant", "reflect": "reflect", "replicate": "edge",
             "circular": "wrap"}
    if c["mode"] == "circular" and ctx.opset < 19:
        raise ctx.error(op, "circular padding needs opset_version >= 19")
    first = x.ndim - len(c["pads"])
    begins = [0] * first + [lo for lo, _ in c["pads"]]
    ends = [0] * first + [hi for _, hi in c["pads"]]
    inputs = [ctx.value(x), ctx.int64(begins + ends)]
    if c["mode"] == "constant":
        inputs.append(ctx.scalar(c["value"], x.dtype))
    return ctx.emit("Pad", inputs, mode=modes[c["mode"]])


# ------------------------------------------------------------------------ normalization
def batch_norm(ctx, op):
    x, c = op.inputs[0], op.config
    channels = x.shape[1]
    affine = iter(op.inputs[1:])
    weight = ctx.value(next(affine)) if c["has_weight"] else None
    bias = ctx.value(next(affine)) if c["has_bias"] else None
    if not c["training"] and c["running"] is not None:
        mean = ctx.array(c["running"][0], "running_mean")
        var = ctx.array(c["running"][1], "running_var")
        weight = weight or ctx.initializer(np.ones(channels, x.dtype), "bn_weight")
        bias = bias or ctx.initializer(np.zeros(channels, x.dtype), "bn_bias")
        return ctx.emit("BatchNormalization", [ctx.value(x), weight, bias, mean, var],
                        epsilon=c["eps"])
    # statistics of the batch itself (BatchNorm without running statistics): standardize over
    # every axis but the channel axis 1
    out = _standardize(ctx, x, [0] + list(range(2, x.ndim)), c["eps"])
    shape = ctx.int64([channels] + [1] * (x.ndim - 2))
    if weight is not None:
        out = ctx.emit("Mul", [out, ctx.emit("Reshape", [weight, shape])])
    if bias is not None:
        out = ctx.emit("Add", [out, ctx.emit("Reshape", [bias, shape])])
    return out


def _standardize(ctx, x, axes, eps):
    """``(x − mean) / sqrt(var + eps)`` over ``axes`` (biased variance)."""
    axes = ctx.int64(axes)
    name = ctx.value(x)
    centred = ctx.emit("Sub", [name, ctx.emit("ReduceMean", [name, axes], keepdims=1)])
    variance = ctx.emit("ReduceMean", [ctx.emit("Mul", [centred, centred]), axes], keepdims=1)
    std = ctx.emit("Sqrt", [ctx.emit("Add", [variance, ctx.scalar(eps, x.dtype)])])
    return ctx.emit("Div", [centred, std])


def layer_norm(ctx, op):
    x, c = op.inputs[0], op.config
    out = _standardize(ctx, x, list(range(x.ndim - c["normalized_ndim"], x.ndim)), c["eps"])
    affine = iter(op.inputs[1:])
    if c["has_weight"]:
        out = ctx.emit("Mul", [out, ctx.value(next(affine))])
    if c["has_bias"]:
        out = ctx.emit("Add", [out, ctx.value(next(affine))])
    return out


def local_response_norm(ctx, op):
    c = op.config
    if c["size"] % 2 == 0:
        raise ctx.error(op, f"an even size ({c['size']}): ONNX's LRN centres its window "
                            "differently from local_response_norm")
    return ctx.emit("LRN", [_x(ctx, op)], size=c["size"], alpha=float(c["alpha"]),
                    beta=float(c["beta"]), bias=float(c["k"]))


# ------------------------------------------------------------------------------ linear
def linear(ctx, op):
    x = op.inputs[0]
    names = [ctx.value(v) for v in op.inputs]
    if x.ndim == 2:
        return ctx.emit("Gemm", names, transB=1)
    out = ctx.emit("MatMul", [names[0], ctx.emit("Transpose", [names[1]], perm=[1, 0])])
    return ctx.emit("Add", [out, names[2]]) if len(names) == 3 else out


def matmul(ctx, op):
    return ctx.emit("MatMul", _same_dtype(ctx, op))


def embedding(ctx, op):
    return ctx.emit("Gather", [_x(ctx, op, 0), _x(ctx, op, 1)], axis=0)


# -------------------------------------------------------------------------- activations
def _unary(onnx_op, **attributes):
    def convert(ctx, op):
        return ctx.emit(onnx_op, [_x(ctx, op)], **attributes)
    return convert


def hard_tanh(ctx, op):
    dtype = op.inputs[0].dtype
    return ctx.emit("Clip", [_x(ctx, op), ctx.scalar(op.config["min_val"], dtype),
                             ctx.scalar(op.config["max_val"], dtype)])


def clamp(ctx, op):
    dtype = op.inputs[0].dtype
    bounds = [("" if v is None else ctx.scalar(v, dtype))
              for v in (op.config["lo"], op.config["hi"])]
    return ctx.emit("Clip", [_x(ctx, op)] + bounds)


def leaky_relu(ctx, op):
    return ctx.emit("LeakyRelu", [_x(ctx, op)], alpha=float(op.config["slope"]))


def elu(ctx, op):
    from ember.ops.activation import SELU_ALPHA, SELU_SCALE
    c = op.config
    if c["in_scale"] != 1.0:
        return ctx.emit("Celu", [_x(ctx, op)], alpha=float(c["alpha"]))
    if c["scale"] == 1.0:
        return ctx.emit("Elu", [_x(ctx, op)], alpha=float(c["alpha"]))
    if (c["alpha"], c["scale"]) == (SELU_ALPHA, SELU_SCALE):
        return ctx.emit("Selu", [_x(ctx, op)], alpha=float(c["alpha"]),
                        gamma=float(c["scale"]))
    raise ctx.error(op, f"an ELU with scale {c['scale']}")


def gelu(ctx, op):
    approximate = op.config["approximate"]
    x, dtype = _x(ctx, op), op.inputs[0].dtype
    if ctx.opset >= 20:
        return ctx.emit("Gelu", [x], approximate=approximate)
    # before opset 20: x/2 · (1 + erf(x/√2)), or the tanh form
    if approximate == "tanh":
        cube = ctx.emit("Mul", [ctx.emit("Mul", [x, x]), x])
        inner = ctx.emit("Add", [x, ctx.emit("Mul", [cube, ctx.scalar(0.044715, dtype)])])
        core = ctx.emit("Tanh", [ctx.emit("Mul", [inner, ctx.scalar(math.sqrt(2 / math.pi),
                                                                       dtype)])])
    else:
        core = ctx.emit("Erf", [ctx.emit("Div", [x, ctx.scalar(math.sqrt(2.0), dtype)])])
    half = ctx.emit("Mul", [x, ctx.scalar(0.5, dtype)])
    return ctx.emit("Mul", [half, ctx.emit("Add", [core, ctx.scalar(1.0, dtype)])])


def silu(ctx, op):
    x = _x(ctx, op)
    return ctx.emit("Mul", [x, ctx.emit("Sigmoid", [x])])


def softplus(ctx, op):
    beta = op.config.get("beta", 1.0)     # the loss module's Softplus has beta 1
    x, dtype = _x(ctx, op), op.inputs[0].dtype
    if beta == 1:
        return ctx.emit("Softplus", [x])
    scaled = ctx.emit("Softplus", [ctx.emit("Mul", [x, ctx.scalar(beta, dtype)])])
    return ctx.emit("Div", [scaled, ctx.scalar(beta, dtype)])


def softmax(ctx, op):
    c = op.config
    if c.get("noise") is not None:
        raise ctx.error(op, "Gumbel noise (gumbel_softmax) is random")
    x = _x(ctx, op)
    if c.get("scale", 1.0) != 1.0:
        x = ctx.emit("Mul", [x, ctx.scalar(c["scale"], op.inputs[0].dtype)])
    return ctx.emit("Softmax", [x], axis=c["axis"])


def log_softmax(ctx, op):
    return ctx.emit("LogSoftmax", [_x(ctx, op)], axis=op.config["axis"])


# ------------------------------------------------------------------------- arithmetic
def _binary(onnx_op):
    def convert(ctx, op):
        a, b = _same_dtype(ctx, op)
        alpha = op.config.get("alpha", 1)
        if alpha != 1:
            b = ctx.emit("Mul", [b, ctx.scalar(alpha, op.output.dtype)])
        return ctx.emit(onnx_op, [a, b])
    return convert


def pow_scalar(ctx, op):
    x = op.inputs[0]
    exponent = op.config["exponent"]
    dtype = x.dtype if x.dtype.kind == "f" else np.int64
    return ctx.emit("Pow", [ctx.value(x), ctx.scalar(exponent, dtype)])


def cast(ctx, op):
    from onnx import helper
    return ctx.emit("Cast", [_x(ctx, op)], to=helper.np_dtype_to_tensor_dtype(op.output.dtype))


def _reduce(onnx_op):
    def convert(ctx, op):
        x, c = op.inputs[0], op.config
        axes = c["axes"]
        axes = list(range(x.ndim)) if axes is None else \
            [axes] if isinstance(axes, int) else list(axes)
        out = ctx.emit(onnx_op, [_same_dtype(ctx, op)[0], ctx.int64(axes)],
                       keepdims=int(bool(c["keepdim"])))
        return out
    return convert


# ------------------------------------------------------------------------------ shapes
def reshape(ctx, op):
    """Static sizes are written as they are; a dynamic size is ``0`` (copy the input's size
    at that index) when it equals the input's there in both traces, else ``-1`` (inferred)
    if it is the only such size, else read from the graph input that carries it."""
    x, y = op.inputs[0], op.output
    target, unresolved = [], []
    for j, (a, b) in enumerate(zip(y.shape, y.shape2)):
        if a == b:
            target.append(a)
        elif j < x.ndim and (x.shape[j], x.shape2[j]) == (a, b):
            target.append(0)
        else:
            target.append(-1)
            unresolved.append(j)
    if len(unresolved) > 1:
        for j in unresolved:
            size = ctx.dynamic_size((y.shape[j], y.shape2[j]))
            if size is None:
                raise ctx.error(op, f"a reshape to {y.shape} with several dynamic sizes that "
                                    "are neither copied from the input nor sizes of a graph "
                                    "input")
            target[j] = size
    if 0 in y.shape and not y.dynamic:
        raise ctx.error(op, "a reshape to an empty shape")
    return ctx.emit("Reshape", [ctx.value(x), ctx.shape_tensor(target)])


reshape.handles_dynamic_config = True


def expand(ctx, op):
    """ONNX's Expand broadcasts both ways, so a dynamic size the input already has is written
    as 1; one the input lacks is read from the graph input that carries it."""
    x, y = op.inputs[0], op.output
    offset = y.ndim - x.ndim
    target = []
    for j, (a, b) in enumerate(zip(y.shape, y.shape2)):
        i = j - offset
        if a == b:
            target.append(a)
        elif i >= 0 and (x.shape[i], x.shape2[i]) == (a, b):
            target.append(1)
        else:
            size = ctx.dynamic_size((a, b))
            if size is None:
                raise ctx.error(op, f"an expand to a dynamic size that is neither the input's "
                                    f"nor a graph input's (shape {x.shape} -> {y.shape})")
            target.append(size)
    return ctx.emit("Expand", [ctx.value(x), ctx.shape_tensor(target)])


expand.handles_dynamic_config = True


def permute(ctx, op):
    return ctx.emit("Transpose", [_x(ctx, op)], perm=[int(d) for d in op.config["dims"]])


def cat(ctx, op):
    return ctx.emit("Concat", _same_dtype(ctx, op), axis=op.config["axis"])


def tile(ctx, op):
    x, reps = op.inputs[0], list(op.config["reps"])
    name = ctx.value(x)
    if len(reps) > x.ndim:
        name = ctx.emit("Reshape", [name, ctx.int64([1] * (len(reps) - x.ndim) + [0] * x.ndim)])
    elif len(reps) < x.ndim:
        reps = [1] * (x.ndim - len(reps)) + reps
    return ctx.emit("Tile", [name, ctx.int64(reps)])


def index(ctx, op):
    """Basic indexing (slices, ints, None, ...) as Slice, Gather and Unsqueeze; an index
    with one integer array (and full slices) as Gather."""
    x, idx = op.inputs[0], op.config["idx"]
    items = list(idx) if isinstance(idx, tuple) else [idx]
    consumed = sum(1 for i in items if i is not None and i is not Ellipsis)
    ellipsis = [k for k, i in enumerate(items) if i is Ellipsis]
    fill = [slice(None)] * (x.ndim - consumed)
    if ellipsis:
        items[ellipsis[0]:ellipsis[0] + 1] = fill
    else:
        items += fill
    arrays = [k for k, i in enumerate(items) if isinstance(i, np.ndarray)]
    if not op.config["basic"]:
        if len(arrays) == 1 and items[arrays[0]].dtype.kind in "iu" and all(
                i == slice(None) for k, i in enumerate(items) if k != arrays[0]):
            axis = arrays[0]
            _require_static(ctx, op, x, [axis], "a negative index")
            indices = np.where(items[axis] < 0, items[axis] + x.shape[axis], items[axis])
            return ctx.emit("Gather", [ctx.value(x), ctx.int64(indices)], axis=axis)
        raise ctx.error(op, "advanced indexing other than one integer array on one axis")
    name = ctx.value(x)
    starts, ends, axes, steps, picks, news = [], [], [], [], [], []
    axis = out_axis = 0
    for item in items:
        if item is None:
            news.append(out_axis)
            out_axis += 1
        elif isinstance(item, slice):
            if item != slice(None) and item != slice(None, None, 1):
                step = 1 if item.step is None else item.step
                starts.append(item.start if item.start is not None else
                              (0 if step > 0 else INT64_MAX))
                ends.append(item.stop if item.stop is not None else
                            (INT64_MAX if step > 0 else INT64_MIN))
                axes.append(axis)
                steps.append(step)
            axis += 1
            out_axis += 1
        else:
            picks.append((axis, int(item)))
            axis += 1
    if axes:
        name = ctx.emit("Slice", [name, ctx.int64(starts), ctx.int64(ends), ctx.int64(axes),
                                  ctx.int64(steps)])
    for axis, position in reversed(picks):
        name = ctx.emit("Gather", [name, ctx.initializer(np.asarray(position, np.int64),
                                                         "index")], axis=axis)
    if news:
        name = ctx.emit("Unsqueeze", [name, ctx.int64(news)])
    if name == ctx.value(x):
        name = ctx.emit("Identity", [name])
    return name



def identity(ctx, op):
    return ctx.emit("Identity", [_x(ctx, op)])


CONVERTERS = {
    # convolution, pooling, resampling
    "Conv": conv, "MaxPool": max_pool, "AvgPool": avg_pool, "GlobalAvgPool": global_avg_pool,
    "Resample": resample, "Pad": pad,
    # normalization
    "BatchNorm": batch_norm, "LayerNorm": layer_norm, "LocalResponseNorm": local_response_norm,
    # linear
    "Linear": linear, "MatMul": matmul, "Embedding": embedding,
    # activations
    "Relu": _unary("Relu"), "Sigmoid": _unary("Sigmoid"), "Tanh": _unary("Tanh"),
    "HardTanh": hard_tanh, "LeakyReLU": leaky_relu, "ELU": elu, "GELU": gelu, "SiLU": silu,
    "Mish": _unary("Mish"), "Softplus": softplus, "Softsign": _unary("Softsign"),
    "HardSigmoid": _unary("HardSigmoid", alpha=1.0 / 6, beta=0.5),
    "HardSwish": _unary("HardSwish"), "Softmax": softmax, "LogSoftmax": log_softmax,
    "Clamp": clamp,
    # elementwise
    "Add": _binary("Add"), "Sub": _binary("Sub"), "Mul": _binary("Mul"),
    "Div": _binary("Div"), "Pow": _binary("Pow"), "PowScalar": pow_scalar,
    "Exp": _unary("Exp"), "Log": _unary("Log"), "Sqrt": _unary("Sqrt"),
    "Abs": _unary("Abs"), "Neg": _unary("Neg"), "Reciprocal": _unary("Reciprocal"),
    "Erf": _unary("Erf"), "Floor": _unary("Floor"), "Ceil": _unary("Ceil"),
    "Sin": _unary("Sin"), "Cos": _unary("Cos"), "Cast": cast,
    # reductions
    "Sum": _reduce("ReduceSum"), "Mean": _reduce("ReduceMean"),
    # shapes
    "Reshape": reshape, "Expand": expand, "Permute": permute, "Cat": cat, "Tile": tile,
    "Index": index, "Copy": identity,
}

# configuration entries holding the op's data, not its configuration
DATA_CONFIG = {}
