"""The ONNX operators ``ember.onnx.load`` runs, each written with Ember's public ops.

``OPERATORS`` maps an ONNX ``op_type`` (default domain) to a function ``op(node, *inputs)``:
``node`` gives the attributes (``node.ints("strides", default)``, ...) and the opset, the
inputs are Ember tensors (``None`` for an omitted optional input) and the result is a tensor or
a tuple of tensors, one per output. Since everything runs through Ember's differentiable ops,
an imported graph trains like any ``nn.Module``: gradients reach its initializers.

Semantics follow the ONNX operator specification (https://onnx.ai/onnx/operators/); where an
attribute became an input in a later opset (``axes`` of ``ReduceMean``/``Squeeze``/
``Unsqueeze``/``Split``, ``min``/``max`` of ``Clip``, the ``Slice`` and ``Pad`` amounts), both
forms are read. What Ember cannot compute the way ONNX defines it raises an
:class:`UnsupportedOperator` naming the node.
"""
import math

import numpy as np

import ember
import ember.nn.functional as F

__all__ = ["OPERATORS", "UnsupportedOperator"]

INT64_MAX = np.iinfo(np.int64).max


class UnsupportedOperator(RuntimeError):
    """A node uses an operator, attribute value or input Ember does not implement."""


# ONNX TensorProto data types -> Ember dtypes (the ones Ember has)
DTYPES = {1: ember.float32, 2: ember.uint8, 3: ember.int8, 5: ember.int16, 6: ember.int32,
          7: ember.int64, 9: ember.bool, 10: ember.float16, 11: ember.float64}


def _array(t):
    """The values of a tensor read as data (a shape, axes, scales), outside autograd."""
    return t.detach().numpy()


def _ints(t):
    """A 1-D integer tensor (a shape, axes, pads) as a tuple of Python ints."""
    return tuple(int(v) for v in np.asarray(_array(t)).reshape(-1))


def _axis(axis, ndim):
    return axis + ndim if axis < 0 else axis


def _conv_nd(nd, name):
    functions = {1: (F.conv1d, F.max_pool1d, F.avg_pool1d), 2: (F.conv2d, F.max_pool2d,
                 F.avg_pool2d), 3: (F.conv3d, F.max_pool3d, F.avg_pool3d)}
    if nd not in functions:
        raise UnsupportedOperator(f"{name} with {nd} spatial dims (Ember has 1-D, 2-D and 3-D)")
    return functions[nd]


def _pads(node, size, kernel, strides, dilations):
    """``[(lo, hi), ...]`` per spatial dim from ``pads`` or ``auto_pad``."""
    nd = len(size)
    auto = node.string("auto_pad", "NOTSET")
    if auto in ("NOTSET", "VALID"):
        pads = node.ints("pads", [0] * 2 * nd) if auto == "NOTSET" else [0] * 2 * nd
        return [(pads[i], pads[i + nd]) for i in range(nd)]
    if auto not in ("SAME_UPPER", "SAME_LOWER"):
        raise UnsupportedOperator(f"{node.describe()}: auto_pad {auto!r}")
    out = []
    for n, k, s, d in zip(size, kernel, strides, dilations):
        total = max(0, (-(-n // s) - 1) * s + (k - 1) * d + 1 - n)
        small, large = total // 2, total - total // 2
        out.append((small, large) if auto == "SAME_UPPER" else (large, small))
    return out


def _pad_spatial(x, pads, value=0.0):
    """``x`` padded by ``pads`` ((lo, hi) per spatial dim) with ``value``."""
    flat = []
    for lo, hi in reversed(pads):
        flat += [lo, hi]
    return F.pad(x, tuple(flat), value=value)


def _window(node, x, kernel=None):
    nd = x.ndim - 2
    kernel = tuple(node.ints("kernel_shape") if kernel is None else kernel)
    strides = tuple(node.ints("strides", [1] * nd))
    dilations = tuple(node.ints("dilations", [1] * nd))
    return nd, kernel, strides, dilations, _pads(node, x.shape[2:], kernel, strides, dilations)


# ------------------------------------------------------------------------ convolution
def conv(node, x, w, b=None):
    nd, kernel, strides, dilations, pads = _window(node, x, w.shape[2:])
    if any(lo != hi for lo, hi in pads):
        x, padding = _pad_spatial(x, pads), 0
    else:
        padding = tuple(lo for lo, _ in pads)
    return _conv_nd(nd, "Conv")[0](x, w, b, stride=strides, padding=padding,
                                    dilation=dilations, groups=node.int("group", 1))


def conv_transpose(node, x, w, b=None):
    nd = x.ndim - 2
    functions = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
    if nd not in functions:
        raise UnsupportedOperator(f"{node.describe()}: {nd} spatial dims")
    if node.string("auto_pad", "NOTSET") != "NOTSET" or node.has("output_shape"):
        raise UnsupportedOperator(f"{node.describe()}: auto_pad / output_shape (give pads)")
    pads = node.ints("pads", [0] * 2 * nd)
    if pads[:nd] != pads[nd:]:
        raise UnsupportedOperator(f"{node.describe()}: asymmetric pads {pads}")
    return functions[nd](x, w, b, stride=tuple(node.ints("strides", [1] * nd)),
                         padding=tuple(pads[:nd]),
                         output_padding=tuple(node.ints("output_padding", [0] * nd)),
                         groups=node.int("group", 1),
                         dilation=tuple(node.ints("dilations", [1] * nd)))


def _torch_pool_padding(pads, kernel):
    """Symmetric pads of at most half the kernel (what Ember's pools take) or None."""
    if all(lo == hi and 2 * lo <= k for (lo, hi), k in zip(pads, kernel)):
        return tuple(lo for lo, _ in pads)
    return None


def max_pool(node, x):
    nd, kernel, strides, dilations, pads = _window(node, x)
    if node.int("storage_order", 0) != 0 or len(node.outputs) > 1 and node.outputs[1]:
        raise UnsupportedOperator(f"{node.describe()}: the Indices output / storage_order")
    padding = _torch_pool_padding(pads, kernel)
    if padding is None:                          # pad with -inf, which never wins a window
        x, padding = _pad_spatial(x, pads, float("-inf")), 0
    return _conv_nd(nd, "MaxPool")[1](x, kernel, strides, padding, dilations,
                                       ceil_mode=bool(node.int("ceil_mode", 0)))


def average_pool(node, x):
    nd, kernel, strides, dilations, pads = _window(node, x)
    if any(d != 1 for d in dilations):
        raise UnsupportedOperator(f"{node.describe()}: dilations {dilations}")
    include = bool(node.int("count_include_pad", 0))
    ceil = bool(node.int("ceil_mode", 0))
    pool = _conv_nd(nd, "AveragePool")[2]
    padding = _torch_pool_padding(pads, kernel)
    if padding is not None:
        return pool(x, kernel, strides, padding, ceil_mode=ceil, count_include_pad=include)
    # uneven or large pads: average over explicitly zero-padded input, divided by the share of
    # real cells in each window when the padding must not count
    total = pool(_pad_spatial(x, pads), kernel, strides, 0, ceil_mode=ceil)
    if include:
        return total
    ones = ember.ones((1, 1) + tuple(x.shape[2:]), dtype=x.dtype)
    return total / pool(_pad_spatial(ones, pads), kernel, strides, 0, ceil_mode=ceil)


def global_average_pool(node, x):
    return ember.mean(x, dim=tuple(range(2, x.ndim)), keepdim=True)


def global_max_pool(node, x):
    return ember.amax(x, dim=tuple(range(2, x.ndim)), keepdim=True)


def batch_normalization(node, x, scale, bias, mean, var):
    if node.int("training_mode", 0) or len([o for o in node.outputs if o]) > 1:
        raise UnsupportedOperator(f"{node.describe()}: training_mode (the graph must be exported "
                                  "for inference)")
    return F.batch_norm(x, mean, var, scale, bias, training=False,
                        eps=node.float("epsilon", 1e-5))


def instance_normalization(node, x, scale, bias):
    return F.instance_norm(x, weight=scale, bias=bias, eps=node.float("epsilon", 1e-5))


def layer_normalization(node, x, scale, bias=None):
    if len([o for o in node.outputs if o]) > 1:
        raise UnsupportedOperator(f"{node.describe()}: the Mean / InvStdDev outputs")
    axis = _axis(node.int("axis", -1), x.ndim)
    shape = tuple(x.shape[axis:])
    eps = node.float("epsilon", 1e-5)
    if tuple(scale.shape) == shape and (bias is None or tuple(bias.shape) == shape):
        return F.layer_norm(x, shape, scale, bias, eps)
    out = F.layer_norm(x, shape, None, None, eps) * scale
    return out if bias is None else out + bias


def group_normalization(node, x, scale, bias):
    groups = node.int("num_groups")
    eps = node.float("epsilon", 1e-5)
    channels = x.shape[1]
    if tuple(scale.shape) == (channels,):                 # opset 21: one scale per channel
        return F.group_norm(x, groups, scale, bias, eps)
    # opset 18: one scale per group, broadcast over its channels
    per_channel = channels // groups
    def per_group(t):
        return ember.broadcast_to(t.reshape(groups, 1), (groups, per_channel)).reshape(-1)
    return F.group_norm(x, groups, per_group(scale), per_group(bias), eps)


def lrn(node, x):
    size = node.int("size")
    if size % 2 == 0:
        raise UnsupportedOperator(f"{node.describe()}: an even size ({size}); ONNX centres the "
                                  "window differently from local_response_norm for even sizes")
    return F.local_response_norm(x, size, node.float("alpha", 1e-4), node.float("beta", 0.75),
                                 node.float("bias", 1.0))


# ------------------------------------------------------------------------------ linear
def gemm(node, a, b, c=None):
    if node.int("transA", 0):
        a = a.T
    if node.int("transB", 0):
        b = b.T
    alpha, beta = node.float("alpha", 1.0), node.float("beta", 1.0)
    out = a @ b
    if alpha != 1.0:
        out = out * alpha
    if c is not None:
        out = out + (c if beta == 1.0 else c * beta)
    return out


def matmul(node, a, b):
    return ember.matmul(a, b)


def einsum(node, *operands):
    return ember.einsum(node.string("equation"), *operands)


# -------------------------------------------------------------------------- activations
def _softmax(function):
    def op(node, x):
        if node.opset >= 13:
            return function(x, dim=node.int("axis", -1))
        # before opset 13: the input is seen as 2-D, flattened at ``axis``
        axis = _axis(node.int("axis", 1), x.ndim)
        flat = x.reshape(math.prod(x.shape[:axis]), -1)
        return function(flat, dim=1).reshape(x.shape)
    return op


def clip(node, x, low=None, high=None):
    if node.opset < 11:
        low, high = node.float("min", None), node.float("max", None)
    else:
        low = None if low is None else low.item()
        high = None if high is None else high.item()
    return ember.clamp(x, low, high)


def gelu(node, x):
    return F.gelu(x, approximate=node.string("approximate", "none"))


def hard_sigmoid(node, x):
    return ember.clamp(x * node.float("alpha", 0.2) + node.float("beta", 0.5), 0.0, 1.0)


def prelu(node, x, slope):
    return ember.where(x < 0, x * slope, x)


def elu(node, x):
    return F.elu(x, node.float("alpha", 1.0))


def celu(node, x):
    return F.celu(x, node.float("alpha", 1.0))


def selu(node, x):
    alpha, gamma = node.float("alpha", 1.67326319217681884765625), \
        node.float("gamma", 1.05070102214813232421875)
    return gamma * ember.where(x > 0, x, alpha * (ember.exp(x) - 1))


def leaky_relu(node, x):
    return F.leaky_relu(x, node.float("alpha", 0.01))


def _unary(function):
    return lambda node, x: function(x)


# ------------------------------------------------------------------------- arithmetic
def div(node, a, b):
    if a.dtype.is_floating_point or b.dtype.is_floating_point:
        return a / b
    return ember.div(a, b, rounding_mode="trunc")


def _variadic(function):
    def op(node, *xs):
        out = xs[0]
        for x in xs[1:]:
            out = function(out, x)
        return out
    return op


def mean(node, *xs):
    return _variadic(ember.add)(node, *xs) / len(xs)


def _reduce(function, name):
    def op(node, x, axes=None):
        if node.has("axes"):
            axes = node.ints("axes")
        elif axes is not None:
            axes = _ints(axes)
        keepdims = bool(node.int("keepdims", 1))
        if not axes:
            if node.int("noop_with_empty_axes", 0):
                return x
            axes = tuple(range(x.ndim))
        return function(x, tuple(_axis(a, x.ndim) for a in axes), keepdims)
    op.__name__ = name
    return op


def _prod(x, dims, keepdim):
    """Product over several axes (``ember.prod`` takes one at a time), last axis first."""
    for axis in sorted(dims, reverse=True):
        x = ember.prod(x, dim=axis, keepdim=keepdim)
    return x


def _arg(function):
    def op(node, x):
        if node.int("select_last_index", 0):
            raise UnsupportedOperator(f"{node.describe()}: select_last_index=1")
        return function(x, dim=node.int("axis", 0), keepdim=bool(node.int("keepdims", 1)))
    return op


# ------------------------------------------------------------------------------ shape
def reshape(node, x, shape):
    shape = list(_ints(shape))
    if not node.int("allowzero", 0):
        shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return x.reshape(shape)


def flatten(node, x):
    axis = _axis(node.int("axis", 1), x.ndim)
    return x.reshape(math.prod(x.shape[:axis]), math.prod(x.shape[axis:]))


def transpose(node, x):
    perm = node.ints("perm", list(reversed(range(x.ndim))))
    return x.permute(*perm)


def squeeze(node, x, axes=None):
    axes = node.ints("axes") if node.has("axes") else (_ints(axes) if axes is not None else None)
    if axes is None:
        axes = [i for i, n in enumerate(x.shape) if n == 1]
    keep = [n for i, n in enumerate(x.shape) if i not in {_axis(a, x.ndim) for a in axes}]
    return x.reshape(keep)


def unsqueeze(node, x, axes=None):
    axes = node.ints("axes") if node.has("axes") else _ints(axes)
    rank = x.ndim + len(axes)
    shape = list(x.shape)
    for a in sorted(_axis(a, rank) for a in axes):
        shape.insert(a, 1)
    return x.reshape(shape)


def concat(node, *xs):
    return ember.cat([x for x in xs if x is not None], dim=node.int("axis"))


def split(node, x, sizes=None):
    axis = _axis(node.int("axis", 0), x.ndim)
    if node.has("split"):
        sizes = node.ints("split")
    elif sizes is not None:
        sizes = _ints(sizes)
    else:
        count = node.int("num_outputs", len(node.outputs))
        step = -(-x.shape[axis] // count)
        sizes = [min(step, x.shape[axis] - i * step) for i in range(count)]
    return tuple(ember.split(x, list(sizes), dim=axis))


def slice_(node, x, starts=None, ends=None, axes=None, steps=None):
    if node.opset < 10:
        starts, ends = node.ints("starts"), node.ints("ends")
        axes = node.ints("axes", list(range(len(starts))))
        steps = [1] * len(starts)
    else:
        starts, ends = _ints(starts), _ints(ends)
        axes = _ints(axes) if axes is not None else range(len(starts))
        steps = _ints(steps) if steps is not None else [1] * len(starts)
    index = [slice(None)] * x.ndim
    for start, end, axis, step in zip(starts, ends, axes, steps):
        # Python's slice clamps exactly as ONNX specifies, INT64_MIN/MAX included
        index[_axis(axis, x.ndim)] = slice(start, end, step)
    return x[tuple(index)]


def gather(node, x, indices):
    axis = _axis(node.int("axis", 0), x.ndim)
    idx = _array(indices)
    idx = np.where(idx < 0, idx + x.shape[axis], idx)
    lead = (slice(None),) * axis
    if idx.ndim == 0:
        return x[lead + (int(idx),)]
    return x[lead + (ember.from_numpy(np.ascontiguousarray(idx, dtype=np.int64)),)]


def _nd_index(node, indices):
    """``GatherND``/``ScatterND`` indices ``(..., k)`` as a NumPy advanced index into the
    first k axes."""
    if node.int("batch_dims", 0):
        raise UnsupportedOperator(f"{node.describe()}: batch_dims")
    idx = np.asarray(_array(indices), dtype=np.int64)
    return tuple(ember.from_numpy(np.ascontiguousarray(idx[..., i]))
                 for i in range(idx.shape[-1]))


def gather_nd(node, x, indices):
    return x[_nd_index(node, indices)]


def scatter_nd(node, x, indices, updates):
    reduction = node.string("reduction", "none")
    if reduction not in ("none", "add"):
        raise UnsupportedOperator(f"{node.describe()}: reduction {reduction!r}")
    return ember.index_put(x, _nd_index(node, indices), updates,
                           accumulate=reduction == "add")


def shape(node, x):
    dims = list(x.shape)
    start, end = node.int("start", 0), node.int("end", len(dims))
    return ember.tensor(dims[start:end], dtype=ember.int64)


def size(node, x):
    return ember.tensor(x.numel(), dtype=ember.int64)


def expand(node, x, shape):
    return ember.broadcast_to(x, np.broadcast_shapes(tuple(x.shape), _ints(shape)))


def tile(node, x, repeats):
    return x.repeat(*_ints(repeats))


def pad(node, x, pads=None, value=None, axes=None):
    pads = node.ints("pads") if node.opset < 11 else _ints(pads)
    mode = node.string("mode", "constant")
    modes = {"constant": "constant", "reflect": "reflect", "edge": "replicate",
             "wrap": "circular"}
    if mode not in modes:
        raise UnsupportedOperator(f"{node.describe()}: mode {mode!r}")
    axes = list(range(x.ndim)) if axes is None else [_axis(a, x.ndim) for a in _ints(axes)]
    count = len(axes)
    per_axis = dict(zip(axes, zip(pads[:count], pads[count:])))
    first = min(a for a in axes if per_axis[a] != (0, 0)) if any(
        p != (0, 0) for p in per_axis.values()) else x.ndim
    flat = []
    for a in reversed(range(first, x.ndim)):
        flat += list(per_axis.get(a, (0, 0)))
    if node.opset < 11:
        fill = node.float("value", 0.0)
    else:
        fill = 0.0 if value is None or value.numel() == 0 else value.item()
    if not flat:
        return x
    if mode == "constant":
        return F.pad(x, tuple(flat), value=fill)
    return F.pad(x, tuple(flat), mode=modes[mode])


def constant(node):
    for name in ("value", "value_float", "value_int", "value_floats", "value_ints"):
        if node.has(name):
            value = node.attr(name)
            if isinstance(value, np.ndarray):
                return ember.from_numpy(as_ember_array(value, node.describe()))
            dtype = np.float32 if "float" in name else np.int64
            return ember.from_numpy(np.asarray(value, dtype=dtype))
    raise UnsupportedOperator(f"{node.describe()}: a sparse or string value")


def constant_of_shape(node, shape):
    value = node.attr("value") if node.has("value") else np.zeros(1, np.float32)
    value = as_ember_array(value, node.describe())
    return ember.from_numpy(np.full(_ints(shape), value.reshape(-1)[0], dtype=value.dtype))


def range_(node, start, limit, delta):
    dtype = _array(start).dtype
    start, limit, delta = start.item(), limit.item(), delta.item()
    count = max(int(math.ceil((limit - start) / delta)), 0)
    return ember.from_numpy((start + delta * np.arange(count)).astype(dtype))


def cast(node, x):
    to = node.int("to")
    if to not in DTYPES:
        raise UnsupportedOperator(f"{node.describe()}: target type {to}")
    return x.to(DTYPES[to])


def identity(node, x):
    return x


def dropout(node, x, ratio=None, training_mode=None):
    if training_mode is not None and bool(training_mode.item()):
        raise UnsupportedOperator(f"{node.describe()}: training_mode=True")
    if len(node.outputs) > 1 and node.outputs[1]:
        return x, ember.ones(tuple(x.shape), dtype=ember.bool)
    return x


def where(node, condition, a, b):
    return ember.where(condition, a, b)


def resize(node, x, roi=None, scales=None, sizes=None):
    if node.opset < 11:
        scales = roi
    mode = node.string("mode", "nearest")
    transform = node.string("coordinate_transformation_mode",
                            "half_pixel" if node.opset >= 11 else "asymmetric")
    nearest_mode = node.string("nearest_mode", "round_prefer_floor")
    spatial = x.ndim - 2
    if sizes is not None and sizes.numel():
        size, factor = _ints(sizes)[2:], None
        if len(_ints(sizes)) != x.ndim:
            raise UnsupportedOperator(f"{node.describe()}: sizes for some axes only")
    else:
        values = [float(v) for v in _array(scales).reshape(-1)]
        if values[:2] != [1.0, 1.0]:
            raise UnsupportedOperator(f"{node.describe()}: resizing the batch or channel axis")
        size, factor = None, tuple(values[2:])
    if mode == "nearest":
        if transform == "asymmetric" and nearest_mode == "floor":
            torch_mode, align = "nearest", None
        elif transform in ("half_pixel", "pytorch_half_pixel") and \
                nearest_mode == "round_prefer_ceil":
            # round((dst + 1/2) / scale - 1/2) with halves up = floor((dst + 1/2) / scale)
            torch_mode, align = "nearest-exact", None
        else:
            raise UnsupportedOperator(f"{node.describe()}: nearest with "
                                      f"{transform}/{nearest_mode}")
    elif mode in ("linear", "cubic"):
        torch_mode = ("linear", "bilinear", "trilinear")[spatial - 1] if mode == "linear" \
            else "bicubic"
        if transform == "align_corners":
            align = True
        elif transform in ("half_pixel", "pytorch_half_pixel"):
            align = False
        else:
            raise UnsupportedOperator(f"{node.describe()}: {mode} with {transform}")
        if mode == "cubic" and node.float("cubic_coeff_a", -0.75) != -0.75:
            raise UnsupportedOperator(f"{node.describe()}: cubic_coeff_a other than -0.75")
    else:
        raise UnsupportedOperator(f"{node.describe()}: mode {mode!r}")
    return F.interpolate(x, size=size, scale_factor=factor, mode=torch_mode,
                         align_corners=align, recompute_scale_factor=False if factor else None)


def as_ember_array(array, where):
    """A NumPy array of a dtype Ember has (ONNX tensors may be e.g. uint16 or bfloat16);
    ``where`` names the node or initializer in the error."""
    array = np.asarray(array)
    if array.dtype.name == "bfloat16":
        return array.astype(np.float32)
    try:
        ember.from_numpy(array)
    except TypeError:
        raise UnsupportedOperator(f"{where}: a tensor of dtype {array.dtype}") from None
    return array


def _compare(function):
    return lambda node, a, b: function(a, b)


# the inputs each operator reads as data (shapes, axes, indices, scales, bounds): an
# initializer feeding one is a buffer of the imported module, not a trainable parameter
DATA_INPUTS = {
    "Reshape": (1,), "Squeeze": (1,), "Unsqueeze": (1,), "Split": (1,), "Slice": (1, 2, 3, 4),
    "Gather": (1,), "GatherND": (1,), "ScatterND": (1,), "Expand": (1,), "Tile": (1,),
    "Pad": (1, 2, 3), "ConstantOfShape": (0,), "Range": (0, 1, 2), "Clip": (1, 2),
    "Resize": (1, 2, 3), "Dropout": (1, 2), "Where": (0,), "ReduceMean": (1,),
    "ReduceSum": (1,), "ReduceMax": (1,), "ReduceMin": (1,), "ReduceProd": (1,),
    "ReduceL1": (1,), "ReduceL2": (1,), "ReduceSumSquare": (1,), "ReduceLogSumExp": (1,),
    "BatchNormalization": (3, 4),                # running mean and variance
}

OPERATORS = {
    # convolution, pooling, normalization
    "Conv": conv, "ConvTranspose": conv_transpose, "MaxPool": max_pool,
    "AveragePool": average_pool, "GlobalAveragePool": global_average_pool,
    "GlobalMaxPool": global_max_pool, "BatchNormalization": batch_normalization,
    "InstanceNormalization": instance_normalization, "LayerNormalization": layer_normalization,
    "GroupNormalization": group_normalization, "LRN": lrn,
    # linear algebra
    "Gemm": gemm, "MatMul": matmul, "Einsum": einsum,
    # activations
    "Relu": _unary(F.relu), "Sigmoid": _unary(ember.sigmoid), "Tanh": _unary(ember.tanh),
    "Softmax": _softmax(F.softmax), "LogSoftmax": _softmax(F.log_softmax), "Clip": clip,
    "Gelu": gelu, "HardSigmoid": hard_sigmoid, "HardSwish": _unary(F.hardswish),
    "LeakyRelu": leaky_relu, "PRelu": prelu, "Elu": elu, "Selu": selu, "Celu": celu,
    "Softplus": _unary(F.softplus), "Softsign": _unary(F.softsign), "Mish": _unary(F.mish),
    # elementwise arithmetic and functions
    "Add": _compare(ember.add), "Sub": _compare(ember.sub), "Mul": _compare(ember.mul),
    "Div": div, "Pow": _compare(ember.pow), "Neg": _unary(ember.neg),
    "Abs": _unary(ember.abs), "Sqrt": _unary(ember.sqrt), "Exp": _unary(ember.exp),
    "Log": _unary(ember.log), "Erf": _unary(ember.erf), "Reciprocal": _unary(ember.reciprocal),
    "Floor": _unary(ember.floor), "Ceil": _unary(ember.ceil), "Sin": _unary(ember.sin),
    "Cos": _unary(ember.cos),
    "Max": _variadic(ember.maximum), "Min": _variadic(ember.minimum),
    "Sum": _variadic(ember.add), "Mean": mean,
    "Equal": _compare(ember.eq), "Less": _compare(ember.lt), "Greater": _compare(ember.gt),
    "LessOrEqual": _compare(ember.le), "GreaterOrEqual": _compare(ember.ge),
    "Not": _unary(ember.logical_not), "And": _compare(ember.logical_and),
    "Or": _compare(ember.logical_or), "Where": where,
    # reductions
    "ReduceMean": _reduce(lambda x, d, k: ember.mean(x, dim=d, keepdim=k), "ReduceMean"),
    "ReduceSum": _reduce(lambda x, d, k: ember.sum(x, dim=d, keepdim=k), "ReduceSum"),
    "ReduceMax": _reduce(lambda x, d, k: ember.amax(x, dim=d, keepdim=k), "ReduceMax"),
    "ReduceMin": _reduce(lambda x, d, k: ember.amin(x, dim=d, keepdim=k), "ReduceMin"),
    "ReduceProd": _reduce(lambda x, d, k: _prod(x, d, k), "ReduceProd"),
    "ReduceL1": _reduce(lambda x, d, k: ember.sum(ember.abs(x), dim=d, keepdim=k), "ReduceL1"),
    "ReduceL2": _reduce(lambda x, d, k: ember.sqrt(ember.sum(x * x, dim=d, keepdim=k)),
                        "ReduceL2"),
    "ReduceSumSquare": _reduce(lambda x, d, k: ember.sum(x * x, dim=d, keepdim=k),
                               "ReduceSumSquare"),
    "ReduceLogSumExp": _reduce(lambda x, d, k: ember.logsumexp(x, dim=d, keepdim=k),
                               "ReduceLogSumExp"),
    "ArgMax": _arg(ember.argmax), "ArgMin": _arg(ember.argmin),
    # shapes and data movement
    "Reshape": reshape, "Flatten": flatten, "Transpose": transpose, "Squeeze": squeeze,
    "Unsqueeze": unsqueeze, "Concat": concat, "Split": split, "Slice": slice_,
    "Gather": gather, "GatherND": gather_nd, "ScatterND": scatter_nd, "Shape": shape, "Size": size, "Expand": expand, "Tile": tile, "Pad": pad,
    "Constant": constant, "ConstantOfShape": constant_of_shape, "Range": range_,
    "Cast": cast, "Identity": identity, "Dropout": dropout, "Resize": resize,
}
