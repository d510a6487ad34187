"""``ember.summary``: a layer-by-layer table of a model, like torchinfo's ``summary``.

One forward pass on a zero input, in eval mode and under ``no_grad``, with forward hooks on
every sub-module records, per module call: output shape, parameters, multiply-adds and the
receptive field. The lectures compute all three by hand — AlexNet's 227 -> 55 -> 27 -> 13
-> 6 chain and "(11*11*3)*96 = 35K" weights (001), the sample CNN's 280/910/1610 (003),
MobileNet's 569 M multiply-adds (003), "two stacked 3x3 convs see 5x5" (003) — and
``summary`` reproduces them. The receptive field (inventory B47, G13) is the input region one
output value depends on.

Conventions (documented choices):

- **Multiply-adds** are counted for the whole input batch, for the layers that multiply
  weights: convolution ``out_elems * (C_in / groups) * prod(kernel)``, transposed
  convolution ``in_elems * (C_out / groups) * prod(kernel)``, linear ``out_elems *
  in_features``. Bias additions, normalization, activations and pooling count 0 — the
  convention of the MobileNet paper's 569 M (lecture 003). A container's count is the sum
  of its children's. A module that multiplies weights in its own forward (recurrent layers,
  attention: their projections; the products of activations with activations count 0)
  reports its count through a ``_mult_adds(inputs, output)`` method.
- **Receptive field** ``r`` and **jump** ``j`` (distance in input pixels between adjacent
  outputs) follow the recurrence ``r_out = r_in + (k_eff - 1) * j_in``, ``j_out = j_in *
  s`` (``k_eff = d (k - 1) + 1``) through convolutions and pools (adaptive pools use ``k =
  ceil(in/out)``, ``s = floor(in/out)``; transposed convs ``r_out = r_in + (ceil(k_eff/s) -
  1) * j_in``, ``j_out = j_in / s``; upsampling divides ``j`` by the scale); every other
  layer passes ``r, j`` through. The **start** ``a`` is the input coordinate where the first
  output's field begins (negative inside the padding): ``a_out = a_in - p * j_in`` through
  convolutions and pools with padding ``p`` (``a_in + ceil((p - k_eff + 1) / s) * j_in``
  through a transposed convolution, unchanged through upsampling and other layers, the
  smallest start where branches meet), so output ``i`` sees the input pixels ``a + i * j`` to
  ``a + i * j + r - 1`` (clipped to the image). Values travel with the tensors a module returns. When a
  module's input was made outside any module (``x + identity``, ``cat`` of branches) it
  gets the largest ``r, j`` among the outputs produced so far inside the enclosing module —
  so **branches take the max** (ResNet blocks: the residual path; Inception: the widest
  branch; a module given several tensors, such as a DenseNet layer: the widest of them).
  Functional calls such as ``F.max_pool2d`` inside a ``forward`` are invisible to hooks and
  are not counted: use modules (as ``ember.vision.models`` does) for exact fields. Shown for
  rows whose output has spatial dimensions.
- **Parameters** of a row are those of the module and its descendants; the totals count
  each parameter once (shared weights too). Modules that do not run on this input
  (GoogLeNet's auxiliary heads in eval mode) have no row but count in the totals.
"""
import math
from dataclasses import dataclass

import numpy as np

import ember
from ember._dtype import to_numpy

__all__ = ["summary", "ModelSummary", "LayerRow"]


@dataclass
class LayerRow:
    """One module call. ``receptive_field`` / ``jump`` are ints for square fields (tuples
    per spatial dimension otherwise), None when the output has no spatial dimensions."""

    name: str                  # dotted name as in model.named_modules() ("" for the model)
    type: str                  # class name, e.g. "Conv2d"
    depth: int                 # 0 for the model, 1 for its children, ...
    input_shape: object        # tuple, or list of tuples for several tensors
    output_shape: object
    params: int
    trainable_params: int
    mult_adds: int
    receptive_field: object
    jump: object
    is_leaf: bool
    output_bytes: int = 0      # bytes of the output tensor(s)
    rf_start: object = None    # where output 0's field starts in the input (like jump)


def _shapes(obj):
    """The shape(s) of the tensors in ``obj``: a tuple for one tensor, else a list."""
    tensors = _tensors(obj)
    if len(tensors) == 1 and isinstance(obj, ember.Tensor):
        return tuple(tensors[0].shape)
    return [tuple(t.shape) for t in tensors]


def _tensors(obj):
    if isinstance(obj, ember.Tensor):
        return [obj]
    if isinstance(obj, dict):
        obj = list(obj.values())
    if isinstance(obj, (list, tuple)):
        return [t for item in obj for t in _tensors(item)]
    return []


def _tuple(value, n):
    if isinstance(value, (tuple, list)):
        return tuple(int(v) for v in value)
    return (int(value),) * n


def _compact(values):
    if values is None:
        return None
    values = tuple(int(v) if float(v).is_integer() else float(v) for v in values)
    return values[0] if len(set(values)) == 1 else values


class _Field:
    """Receptive field ``r``, jump ``j`` and start ``a`` per spatial dimension."""

    __slots__ = ("r", "j", "a")

    def __init__(self, r, j, a):
        self.r, self.j, self.a = tuple(r), tuple(j), tuple(a)

    @staticmethod
    def max(fields):
        n = max(len(f.r) for f in fields)
        fields = [f for f in fields if len(f.r) == n]
        return _Field([max(f.r[i] for f in fields) for i in range(n)],
                      [max(f.j[i] for f in fields) for i in range(n)],
                      [min(f.a[i] for f in fields) for i in range(n)])

    def through(self, kernel, stride, padding):
        """A sliding window of size ``kernel``, step ``stride`` and padding ``padding``."""
        return _Field([r + (k - 1) * j for r, k, j in zip(self.r, kernel, self.j)],
                      [j * s for j, s in zip(self.j, stride)],
                      [a - p * j for a, p, j in zip(self.a, padding, self.j)])


def _spatial(shape, n):
    return tuple(shape[-n:])


def _next_field(module, field, x, out):
    """The receptive field after ``module`` (input tensor ``x``, output ``out``)."""
    nn = ember.nn
    n = len(field.r)
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        k = [d * (kk - 1) + 1 for kk, d in zip(module.kernel_size, module.dilation)]
        return field.through(k, module.stride, _conv_padding(module, k))
    if isinstance(module, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
        k = [d * (kk - 1) + 1 for kk, d in zip(module.kernel_size, module.dilation)]
        return _Field([r + (math.ceil(kk / s) - 1) * j
                       for r, kk, s, j in zip(field.r, k, module.stride, field.j)],
                      [j / s for j, s in zip(field.j, module.stride)],
                      [a + math.ceil((p - kk + 1) / s) * j for a, p, kk, s, j
                       in zip(field.a, module.padding, k, module.stride, field.j)])
    if isinstance(module, (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)):
        kernel = _tuple(module.kernel_size, n)
        stride = _tuple(module.stride if module.stride is not None else module.kernel_size, n)
        dilation = _tuple(module.dilation, n)
        return field.through([d * (k - 1) + 1 for k, d in zip(kernel, dilation)], stride,
                             _tuple(module.padding, n))
    if isinstance(module, (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
                           nn.LPPool1d, nn.LPPool2d, nn.LPPool3d)):
        kernel = _tuple(module.kernel_size, n)
        stride = _tuple(module.stride if module.stride is not None else module.kernel_size, n)
        return field.through(kernel, stride, _tuple(getattr(module, "padding", 0), n))
    if isinstance(module, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
                           nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)):
        size_in, size_out = _spatial(x.shape, n), _spatial(out.shape, n)
        return field.through([math.ceil(i / o) for i, o in zip(size_in, size_out)],
                             [i // o for i, o in zip(size_in, size_out)], (0,) * n)
    if isinstance(module, (nn.Upsample, nn.PixelShuffle)):
        size_in, size_out = _spatial(x.shape, n), _spatial(out.shape, n)
        return _Field(field.r, [j * i / o for j, i, o in zip(field.j, size_in, size_out)],
                      field.a)
    return field


def _conv_padding(module, kernel):
    """A convolution's padding per dimension (``'same'`` pads ``(k_eff - 1) // 2`` before)."""
    if module.padding == "valid":
        return (0,) * len(kernel)
    if module.padding == "same":
        return tuple((k - 1) // 2 for k in kernel)
    return tuple(module.padding)


def _mult_adds(module, x, out):
    nn = ember.nn
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        per_output = module.in_channels // module.groups * math.prod(module.kernel_size)
        return out.numel() * per_output
    if isinstance(module, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
        per_input = module.out_channels // module.groups * math.prod(module.kernel_size)
        return x.numel() * per_input
    if isinstance(module, nn.Linear):
        return out.numel() * module.in_features
    return 0


class ModelSummary:
    """The result of :func:`summary`: ``rows`` (a list of :class:`LayerRow`, in execution
    order, down to ``depth``), totals, and a printable table (``str(s)``)."""

    def __init__(self, model, rows, input_shapes, output_shape, depth):
        self.model_name = type(model).__name__
        self.rows = [row for row in rows if row.depth <= depth]
        self.depth = depth
        self.input_shapes = input_shapes
        self.output_shape = output_shape
        unique = {id(p): p for p in model.parameters()}.values()
        self.total_params = sum(p.numel() for p in unique)
        self.trainable_params = sum(p.numel() for p in unique if p.requires_grad)
        self.non_trainable_params = self.total_params - self.trainable_params
        self.total_mult_adds = rows[0].mult_adds
        self.params_bytes = sum(p.numel() * p.element_size() for p in unique)
        self.buffers_bytes = sum(b.numel() * b.element_size() for b in model.buffers())
        self.activations_bytes = sum(r.output_bytes for r in rows if r.is_leaf)

    def __str__(self):
        header = ("Layer (type)", "Output Shape", "Param #", "Mult-Adds", "RF", "Jump")
        lines = []
        for row in self.rows:
            label = row.type if row.depth == 0 else f"{row.name.rsplit('.', 1)[-1]} ({row.type})"
            indent = "" if row.depth == 0 else "│    " * (row.depth - 1) + "├─"
            lines.append((indent + label, _format_shape(row.output_shape),
                          f"{row.params:,}" if row.params else "--",
                          f"{row.mult_adds:,}" if row.mult_adds else "--",
                          _format_rf(row.receptive_field), _format_rf(row.jump)))
        widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
        width = sum(widths) + 2 * (len(widths) - 1)

        def fmt(cells):
            first = cells[0].ljust(widths[0])
            rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:])]
            return "  ".join([first, *rest]).rstrip()

        mb = 1024 ** 2
        out = ["=" * width, fmt(header), "=" * width, *(fmt(line) for line in lines),
               "=" * width,
               f"Total params: {self.total_params:,}",
               f"Trainable params: {self.trainable_params:,}",
               f"Non-trainable params: {self.non_trainable_params:,}",
               f"Total mult-adds (M): {self.total_mult_adds / 1e6:,.2f}",
               "=" * width,
               f"Input shape: {', '.join(_format_shape(s) for s in self.input_shapes)}",
               f"Params size (MB): {self.params_bytes / mb:,.2f}",
               f"Buffers size (MB): {self.buffers_bytes / mb:,.2f}",
               f"Forward pass activations (MB): {self.activations_bytes / mb:,.2f}",
               "=" * width]
        return "\n".join(out)

    __repr__ = __str__


def _format_shape(shape):
    if isinstance(shape, tuple):
        return str(list(shape))
    return ", ".join(str(list(s)) for s in shape) if shape else "--"


def _format_rf(value):
    if value is None:
        return "--"
    if isinstance(value, tuple):
        return "x".join(f"{v:g}" for v in value)
    return f"{value:g}"


class _Recorder:
    """The hooks' shared state: the rows, the stack of running module calls, and the
    receptive field carried by each tensor a module returned (keyed by ``id``; the tensors
    are kept alive until the pass ends so ids are not reused)."""

    def __init__(self, model):
        self.model = model
        self.names = {id(m): name for name, m in model.named_modules()}
        self.rows = []
        self.stack = []          # [row, fields seen inside this call, input field]
        self.fields = {}         # id(tensor) -> (tensor, _Field)

    def field_of(self, tensor):
        entry = self.fields.get(id(tensor))
        if entry is not None:
            return entry[1]
        if not self.stack:
            return None
        _, seen, input_field = self.stack[-1]
        candidates = [f for f in seen + [input_field] if f is not None]
        return _Field.max(candidates) if candidates else None

    def pre_hook(self, module, args):
        known = [f for f in (self.field_of(t) for t in _tensors(args)) if f is not None]
        field = _Field.max(known) if known else None
        name = self.names[id(module)]
        params = list(module.parameters())
        row = LayerRow(name=name, type=type(module).__name__,
                       depth=0 if name == "" else name.count(".") + 1,
                       input_shape=_shapes(args), output_shape=None,
                       params=sum(p.numel() for p in params),
                       trainable_params=sum(p.numel() for p in params if p.requires_grad),
                       mult_adds=0, receptive_field=None, jump=None,
                       is_leaf=not any(True for _ in module.children()))
        self.rows.append(row)
        self.stack.append([row, [], field])

    def hook(self, module, args, output):
        row, seen, input_field = self.stack.pop()
        inputs, outputs = _tensors(args), _tensors(output)
        row.output_shape = _shapes(output)
        row.output_bytes = sum(t.numel() * t.element_size() for t in outputs)
        own_count = getattr(module, "_mult_adds", None)
        if own_count is not None and outputs:
            row.mult_adds += own_count(inputs, outputs[0])
        elif row.is_leaf and inputs and outputs:
            row.mult_adds += _mult_adds(module, inputs[0], outputs[0])
        field = None
        if outputs:
            if row.is_leaf:
                field = (_next_field(module, input_field, inputs[0], outputs[0])
                         if input_field is not None and inputs else input_field)
            else:
                known = self.fields.get(id(outputs[0]))
                field = known[1] if known is not None else (
                    _Field.max(seen) if seen else input_field)
            if field is not None and len(outputs[0].shape) < len(field.r) + 2:
                field = None                   # flattened: no spatial layout any more
            if field is not None:
                for t in outputs:
                    self.fields[id(t)] = (t, field)
                row.receptive_field, row.jump = _compact(field.r), _compact(field.j)
                row.rf_start = _compact(field.a)
        if self.stack:
            parent_row, parent_seen, _ = self.stack[-1]
            parent_row.mult_adds += row.mult_adds
            if field is not None:
                parent_seen.append(field)


def summary(model, input_size=(1, 1, 28, 28), dtypes=None, depth=3, input_data=None):
    """Run ``model`` once on zeros of ``input_size`` and tabulate every module call.

    Args:
        model: an ``nn.Module``.
        input_size: the shape of the input including the batch dimension, e.g.
            ``(1, 3, 224, 224)``; a list of shapes for a model with several inputs.
        dtypes: one ember dtype per input (default ``ember.float32``; ``ember.int64`` for an
            embedding's indices).
        depth: rows nested deeper than this are left out of ``rows`` and the table (they
            still count in their parents and in the totals). The model itself is depth 0.
        input_data: actual input tensor(s) to use instead of zeros of ``input_size``.

    Returns:
        :class:`ModelSummary` with ``rows``, ``total_params``, ``trainable_params``,
        ``non_trainable_params``, ``total_mult_adds``; ``print(summary(...))`` prints the
        table. The model is run in eval mode (no dropout, BatchNorm running statistics
        unchanged) and each module's train/eval flag is restored afterwards.

    Example::

        >>> s = ember.summary(lenet5(), (1, 1, 32, 32))
        >>> s.total_params, [r.output_shape for r in s.rows][:3]
        (61706, [(1, 10), (1, 6, 28, 28), (1, 6, 28, 28)])
    """
    if not isinstance(model, ember.nn.Module):
        raise TypeError(f"summary: expected an nn.Module, got {type(model).__name__}")
    if not isinstance(depth, int) or depth < 0:
        raise ValueError(f"summary: depth must be a non-negative int, got {depth!r}")
    inputs = _make_inputs(input_size, dtypes, input_data)
    recorder = _Recorder(model)
    for t in inputs:
        if t.dim() >= 3:
            n = t.dim() - 2
            recorder.fields[id(t)] = (t, _Field([1] * n, [1] * n, [0] * n))
    modes = {m: m.training for m in model.modules()}
    handles = []
    try:
        for m in model.modules():
            handles.append(m.register_forward_pre_hook(recorder.pre_hook))
            handles.append(m.register_forward_hook(recorder.hook))
        model.eval()
        with ember.no_grad():
            output = model(*inputs)
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes.items():
            m.training = mode
    return ModelSummary(model, recorder.rows, [tuple(t.shape) for t in inputs],
                        _shapes(output), depth)


def _make_inputs(input_size, dtypes, input_data):
    if input_data is not None:
        data = [input_data] if isinstance(input_data, ember.Tensor) else list(input_data)
        bad = [type(d).__name__ for d in data if not isinstance(d, ember.Tensor)]
        if bad:
            raise TypeError(f"summary: input_data must be a Tensor or a sequence of Tensors, "
                            f"got {bad}")
        return data
    sizes = input_size
    if not isinstance(sizes, (list, tuple)) or not sizes:
        raise ValueError(f"summary: input_size must be a shape such as (1, 3, 224, 224) or a "
                         f"list of shapes, got {input_size!r}")
    if all(isinstance(s, (int, np.integer)) for s in sizes):
        sizes = [tuple(sizes)]
    sizes = [tuple(s) for s in sizes]
    if dtypes is None:
        dtypes = [ember.float32] * len(sizes)
    if len(dtypes) != len(sizes):
        raise ValueError(f"summary: got {len(dtypes)} dtypes for {len(sizes)} inputs")
    return [ember.from_numpy(np.zeros(s, dtype=to_numpy(d))) for s, d in zip(sizes, dtypes)]
