"""Shape primitives: reshape/view, permute/transpose, squeeze/unsqueeze, expand/repeat,
cat/stack/split, flip/roll/narrow. Most forwards return NumPy views, so the results share
memory (and a version counter) with their input, as in torch."""
import numpy as np

from ember import _dtype
from ember._tensor import Tensor
from ember.autograd.function import Function
from ember.ops.elementwise import cast

__all__ = ["reshape", "view", "flatten", "unflatten", "squeeze", "unsqueeze", "permute",
           "transpose", "swapaxes", "swapdims", "t", "movedim", "moveaxis", "expand", "expand_as",
           "broadcast_to", "repeat", "tile", "cat", "concat", "concatenate", "stack", "hstack",
           "vstack", "split", "chunk", "unbind", "flip", "fliplr", "flipud", "roll", "narrow",
           "contiguous", "clone", "broadcast_tensors", "ravel", "atleast_1d", "atleast_2d",
           "pixel_shuffle", "pixel_unshuffle"]


def _shape_arg(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return tuple(int(s) for s in shape)


def _infer_shape(op, x, shape):
    n = x._data.size
    neg = [i for i, s in enumerate(shape) if s == -1]
    if len(neg) > 1:
        raise RuntimeError(f"{op}: only one dimension can be inferred, got shape {shape}")
    known = 1
    for s in shape:
        if s != -1:
            if s < 0:
                raise RuntimeError(f"{op}: invalid shape dimension {s} in {shape}")
            known *= s
    if neg:
        if known == 0 or n % known:
            raise RuntimeError(f"{op}: shape {list(shape)} is invalid for input of size {n}")
        shape = tuple(n // known if s == -1 else s for s in shape)
    elif known != n:
        raise RuntimeError(f"{op}: shape {list(shape)} is invalid for input of size {n}")
    return shape


class Reshape(Function):
    def forward(self, x, shape, copy_ok=True):
        if copy_ok:
            return x.reshape(shape)
        try:
            return np.reshape(x, shape, copy=False)
        except ValueError:
            raise RuntimeError(
                f"view: view size is not compatible with input tensor's size and stride (input "
                f"shape {x.shape}, requested {shape}: at least one dimension spans across two "
                f"contiguous subspaces). Use .reshape(...) instead.") from None

    def backward(self, grad):
        return grad.reshape(self._input_meta[0][0])


def reshape(input, *shape):
    """Same data, new shape (a view when possible, else a copy). One dim may be -1."""
    shape = _infer_shape("reshape", input, _shape_arg(shape))
    return Reshape.apply(input, shape=shape)


def view(input, *shape):
    """Like ``reshape`` but never copies: raises if the memory layout does not allow a view.
    ``view(dtype)`` reinterprets the bytes."""
    if len(shape) == 1 and isinstance(shape[0], _dtype.dtype):
        return Tensor._wrap(input._data.view(shape[0].np))
    shape = _infer_shape("view", input, _shape_arg(shape))
    return Reshape.apply(input, shape=shape, copy_ok=False)


def flatten(input, start_dim=0, end_dim=-1):
    """Merge dims ``start_dim..end_dim`` into one (``torch.flatten(x, 1)`` in the lectures' LeNet)."""
    nd = input._data.ndim
    if nd == 0:
        return reshape(input, 1)
    s = input._wrap_dim(start_dim, "flatten")
    e = input._wrap_dim(end_dim, "flatten")
    if s > e:
        raise RuntimeError(f"flatten: start_dim {start_dim} cannot come after end_dim {end_dim}")
    shp = input._data.shape
    return reshape(input, shp[:s] + (-1 if 0 not in shp[s:e + 1] else 0,) + shp[e + 1:])


def ravel(input):
    return reshape(input, -1)


def unflatten(input, dim, sizes):
    d = input._wrap_dim(dim, "unflatten")
    shp = input._data.shape
    sizes = tuple(sizes)
    if -1 not in sizes and int(np.prod(sizes)) != shp[d]:
        raise RuntimeError(f"unflatten: provided sizes {list(sizes)} don't multiply up to the size "
                           f"of dim {dim} ({shp[d]}) in the input tensor")
    return reshape(input, shp[:d] + sizes + shp[d + 1:])


def squeeze(input, dim=None):
    """Remove size-1 dims (all, or only those listed in ``dim``; others are left alone)."""
    shp = input._data.shape
    if dim is None:
        new = tuple(s for s in shp if s != 1)
    else:
        dims = dim if isinstance(dim, (tuple, list)) else (dim,)
        axes = {input._wrap_dim(d, "squeeze") for d in dims}
        new = tuple(s for i, s in enumerate(shp) if not (i in axes and s == 1))
    return Reshape.apply(input, shape=new)


def unsqueeze(input, dim):
    """Insert a size-1 dim at ``dim`` (in ``[-ndim-1, ndim]``)."""
    nd = input._data.ndim
    d = input._wrap_dim(dim, "unsqueeze", ndim=nd + 1)
    shp = input._data.shape
    return Reshape.apply(input, shape=shp[:d] + (1,) + shp[d:])


class Permute(Function):
    def forward(self, x, dims):
        self.dims = dims
        return np.transpose(x, dims)

    def backward(self, grad):
        return np.transpose(grad, np.argsort(self.dims))


def permute(input, *dims):
    dims = _shape_arg(dims)
    nd = input._data.ndim
    if len(dims) != nd:
        raise RuntimeError(f"permute: number of dims don't match: input has {nd} dims, got "
                           f"{len(dims)} ({list(dims)})")
    axes = tuple(input._wrap_dim(d, "permute") for d in dims)
    if len(set(axes)) != nd:
        raise RuntimeError(f"permute: repeated dim in {list(dims)}")
    return Permute.apply(input, dims=axes)


def transpose(input, dim0, dim1):
    nd = input._data.ndim
    if nd == 0:
        return Permute.apply(input, dims=())
    a, b = input._wrap_dim(dim0, "transpose"), input._wrap_dim(dim1, "transpose")
    axes = list(range(nd))
    axes[a], axes[b] = axes[b], axes[a]
    return Permute.apply(input, dims=tuple(axes))


swapaxes = swapdims = transpose


def t(input):
    """Transpose of a tensor with at most 2 dims."""
    if input._data.ndim > 2:
        raise RuntimeError(f"t: expects a tensor with <= 2 dimensions, but self is "
                           f"{input._data.ndim}D (shape {tuple(input.shape)})")
    return transpose(input, 0, 1) if input._data.ndim == 2 else Permute.apply(
        input, dims=tuple(range(input._data.ndim)))


def movedim(input, source, destination):
    nd = input._data.ndim
    src = source if isinstance(source, (tuple, list)) else (source,)
    dst = destination if isinstance(destination, (tuple, list)) else (destination,)
    src = [input._wrap_dim(d, "movedim") for d in src]
    dst = [input._wrap_dim(d, "movedim") for d in dst]
    order = [i for i in range(nd) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return Permute.apply(input, dims=tuple(order))


moveaxis = movedim


class Expand(Function):
    def forward(self, x, shape):
        return np.broadcast_to(x, shape)

    def backward(self, grad):
        from ember.autograd.function import unbroadcast
        return unbroadcast(grad, self._input_meta[0][0])


def expand(input, *sizes):
    """Broadcast size-1 dims to ``sizes`` without copying (-1 keeps a size)."""
    sizes = _shape_arg(sizes)
    shp = input._data.shape
    if len(sizes) < len(shp):
        raise RuntimeError(f"expand: the number of sizes provided ({len(sizes)}) must be greater "
                           f"or equal to the number of dimensions in the tensor ({len(shp)})")
    lead = len(sizes) - len(shp)
    target = []
    for i, s in enumerate(sizes):
        if i < lead:
            if s < 0:
                raise RuntimeError("expand: -1 is not allowed in a leading, non-existing dimension")
            target.append(s)
        else:
            cur = shp[i - lead]
            if s == -1:
                s = cur
            if cur != s and cur != 1:
                raise RuntimeError(f"expand: the expanded size of the tensor ({s}) must match the "
                                   f"existing size ({cur}) at non-singleton dimension {i}. Target "
                                   f"sizes: {list(sizes)}. Tensor sizes: {list(shp)}")
            target.append(s)
    return Expand.apply(input, shape=tuple(target))


def expand_as(input, other):
    return expand(input, *other.shape)


def broadcast_to(input, size):
    return expand(input, *size)


def broadcast_tensors(*tensors):
    shape = np.broadcast_shapes(*(t._data.shape for t in tensors))
    return tuple(expand(t, *shape) for t in tensors)


class Tile(Function):
    def forward(self, x, reps):
        self.reps = reps
        return np.tile(x, reps)

    def backward(self, grad):
        shape = self._input_meta[0][0]
        lead = len(self.reps) - len(shape)
        full = (1,) * lead + tuple(shape)
        split = []
        for r, s in zip(self.reps, full):
            split += [r, s]
        g = grad.reshape(split).sum(axis=tuple(range(0, 2 * len(full), 2)))
        return g.reshape(shape)


def repeat(input, *sizes):
    """Tile the tensor ``sizes[i]`` times along dim i (torch's ``Tensor.repeat``)."""
    sizes = _shape_arg(sizes)
    if len(sizes) < input._data.ndim:
        raise RuntimeError(f"repeat: number of repeat dims ({len(sizes)}) can not be smaller than "
                           f"number of dimensions of tensor ({input._data.ndim})")
    return Tile.apply(input, reps=sizes)


def tile(input, dims):
    dims = tuple(dims)
    if len(dims) < input._data.ndim:
        dims = (1,) * (input._data.ndim - len(dims)) + dims
    return Tile.apply(input, reps=dims)


class Cat(Function):
    def forward(self, *xs, axis):
        self.axis = axis
        self.sizes = [x.shape[axis] for x in xs]
        return np.concatenate(xs, axis=axis)

    def backward(self, grad):
        bounds = np.cumsum(self.sizes)[:-1]
        parts = np.split(grad, bounds, axis=self.axis)
        return tuple(p if need else None for p, need in zip(parts, self.needs_input_grad))


def _tensor_list(op, tensors):
    if isinstance(tensors, Tensor):
        raise TypeError(f"{op}: expected a sequence of Tensors, got a single Tensor "
                        f"(shape {tuple(tensors.shape)})")
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError(f"{op}: expected a non-empty list of Tensors")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: expected a sequence of Tensors, but element {i} is a "
                            f"{type(t).__name__}")
    return tensors


def cat(tensors, dim=0):
    """Concatenate along an existing dim; all other dims must match."""
    tensors = _tensor_list("cat", tensors)
    # torch's legacy rule: a 1-D empty tensor may be concatenated with tensors of any shape
    ref = next((t for t in tensors if not (t._data.ndim == 1 and t._data.shape[0] == 0)), tensors[0])
    axis = ref._wrap_dim(dim, "cat")
    empty_shape = ref._data.shape[:axis] + (0,) + ref._data.shape[axis + 1:]
    tensors = [reshape(t, empty_shape) if t._data.ndim == 1 and t._data.shape[0] == 0 else t
               for t in tensors]
    for i, t in enumerate(tensors):
        if t._data.ndim != ref._data.ndim:
            raise RuntimeError(f"cat: tensors must have the same number of dimensions: got "
                               f"{ref._data.ndim} and {t._data.ndim} (tensor {i})")
        for d in range(ref._data.ndim):
            if d != axis and t._data.shape[d] != ref._data.shape[d]:
                raise RuntimeError(f"cat: sizes of tensors must match except in dimension {axis}: "
                                   f"expected size {ref._data.shape[d]} but got size "
                                   f"{t._data.shape[d]} for tensor number {i} in the list")
    rd = _dtype.result_type(*[t for t in tensors])
    tensors = [cast(t, rd) for t in tensors]
    return Cat.apply(*tensors, axis=axis)


concat = concatenate = cat


def stack(tensors, dim=0):
    """Join tensors of equal shape along a new dim."""
    tensors = _tensor_list("stack", tensors)
    shp = tensors[0]._data.shape
    for i, t in enumerate(tensors):
        if t._data.shape != shp:
            raise RuntimeError(f"stack: expects each tensor to be equal size, but got {list(shp)} "
                               f"at entry 0 and {list(t._data.shape)} at entry {i}")
    d = tensors[0]._wrap_dim(dim, "stack", ndim=len(shp) + 1)
    return cat([unsqueeze(t, d) for t in tensors], d)


def hstack(tensors):
    tensors = list(tensors)
    return cat(tensors, 0 if tensors[0]._data.ndim == 1 else 1)


def vstack(tensors):
    return cat([t if t._data.ndim > 1 else unsqueeze(t, 0) for t in tensors], 0)


def narrow(input, dim, start, length):
    """The slice ``start:start+length`` of ``dim`` (a view)."""
    d = input._wrap_dim(dim, "narrow")
    size = input._data.shape[d]
    start = int(start)
    if start < 0:
        start += size
    if not (0 <= start <= size) or length < 0 or start + length > size:
        raise IndexError(f"narrow: start ({start}) + length ({length}) exceeds dimension size "
                         f"({size}) of dim {dim}")
    idx = (slice(None),) * d + (slice(start, start + length),)
    return input[idx]


def split(tensor, split_size_or_sections, dim=0):
    """Split into chunks of ``split_size`` (last may be smaller) or of the listed sizes."""
    d = tensor._wrap_dim(dim, "split")
    size = tensor._data.shape[d]
    if isinstance(split_size_or_sections, (int, np.integer)):
        s = int(split_size_or_sections)
        if s <= 0 and size > 0:
            raise RuntimeError(f"split: split_size must be positive, got {s}")
        sizes = [s] * (size // s) + ([size % s] if size % s else []) if size else [0]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != size:
            raise RuntimeError(f"split: split_with_sizes expects split_sizes to sum exactly to "
                               f"{size} (input tensor's size at dimension {dim}), but got "
                               f"split_sizes={sizes}")
    out, start = [], 0
    for s in sizes:
        out.append(narrow(tensor, d, start, s))
        start += s
    return tuple(out)


def chunk(input, chunks, dim=0):
    """Split into ``chunks`` pieces of size ceil(n / chunks) (fewer if it divides unevenly)."""
    if chunks <= 0:
        raise RuntimeError(f"chunk: number of chunks must be greater than 0, got {chunks}")
    d = input._wrap_dim(dim, "chunk")
    size = input._data.shape[d]
    step = max(-(-size // chunks), 1)
    return split(input, step, d)


def unbind(input, dim=0):
    d = input._wrap_dim(dim, "unbind")
    return tuple(input[(slice(None),) * d + (i,)] for i in range(input._data.shape[d]))


class Flip(Function):
    def forward(self, x, axes):
        self.axes = axes
        return np.flip(x, axes)

    def backward(self, grad):
        return np.flip(grad, self.axes)


def flip(input, dims):
    """Reverse the order along ``dims``. (torch copies; Ember returns a view: values agree.)"""
    dims = dims if isinstance(dims, (tuple, list)) else (dims,)
    return Flip.apply(input, axes=tuple(input._wrap_dim(d, "flip") for d in dims))


def fliplr(input):
    return flip(input, (1,))


def flipud(input):
    return flip(input, (0,))


class Roll(Function):
    def forward(self, x, shifts, axes):
        self.shifts, self.axes = shifts, axes
        return np.roll(x, shifts, axes)

    def backward(self, grad):
        shifts = tuple(-s for s in self.shifts) if isinstance(self.shifts, tuple) else -self.shifts
        return np.roll(grad, shifts, self.axes)


def roll(input, shifts, dims=None):
    """Circular shift along ``dims`` (the flattened tensor when ``dims`` is None)."""
    if dims is None:
        flat = reshape(input, -1)
        return reshape(Roll.apply(flat, shifts=int(shifts) if not isinstance(shifts, (tuple, list))
                                  else int(shifts[0]), axes=0), *input.shape)
    shifts = tuple(shifts) if isinstance(shifts, (tuple, list)) else (shifts,)
    dims = tuple(dims) if isinstance(dims, (tuple, list)) else (dims,)
    if len(shifts) != len(dims):
        raise RuntimeError(f"roll: shifts and dimensions must align. shifts: {len(shifts)}, "
                           f"dims: {len(dims)}")
    return Roll.apply(input, shifts=shifts, axes=tuple(input._wrap_dim(d, "roll") for d in dims))


class Copy(Function):
    def forward(self, x):
        return np.array(x, copy=True, order="C")

    def backward(self, grad):
        return grad


def contiguous(input, memory_format=None):
    """The tensor itself if C-contiguous, else a contiguous copy."""
    if input._data.flags.c_contiguous:
        return input
    return Copy.apply(input)


def clone(input, *, memory_format=None):
    """A copy that keeps the graph (gradients flow back to the input)."""
    return Copy.apply(input)


def atleast_1d(input):
    return reshape(input, 1) if input._data.ndim == 0 else input


def atleast_2d(input):
    if input._data.ndim >= 2:
        return input
    return reshape(input, 1, -1)


# ------------------------------------------------------------------------------ pixel shuffle

def _check_factor(fname, factor, argname):
    if not isinstance(factor, (int, np.integer)) or isinstance(factor, bool) or factor <= 0:
        raise ValueError(f"{fname}: {argname} must be a positive int, got {factor!r}")
    return int(factor)


def pixel_shuffle(input, upscale_factor):
    """Sub-pixel upsampling: ``(*, C·r², H, W) -> (*, C, H·r, W·r)`` with
    ``y[c, h·r + i, w·r + j] = x[c·r² + i·r + j, h, w]``. A reshape and a transpose, so the
    gradient is the inverse rearrangement (``pixel_unshuffle``)."""
    r = _check_factor("pixel_shuffle", upscale_factor, "upscale_factor")
    shape = tuple(input.shape)
    if len(shape) < 3:
        raise RuntimeError(f"pixel_shuffle: expected an input with at least 3 dimensions "
                           f"(*, C, H, W), got shape {shape}")
    *lead, c, h, w = shape
    if c % (r * r):
        raise RuntimeError(f"pixel_shuffle: the channel dimension {c} of the input (shape "
                           f"{shape}) is not divisible by upscale_factor² = {r * r}")
    k = len(lead)
    x = input.reshape(*lead, c // (r * r), r, r, h, w)
    x = x.permute(*range(k), k, k + 3, k + 1, k + 4, k + 2)
    return x.reshape(*lead, c // (r * r), h * r, w * r)


def pixel_unshuffle(input, downscale_factor):
    """Inverse of ``pixel_shuffle``: ``(*, C, H·r, W·r) -> (*, C·r², H, W)``."""
    r = _check_factor("pixel_unshuffle", downscale_factor, "downscale_factor")
    shape = tuple(input.shape)
    if len(shape) < 3:
        raise RuntimeError(f"pixel_unshuffle: expected an input with at least 3 dimensions "
                           f"(*, C, H, W), got shape {shape}")
    *lead, c, h, w = shape
    if h % r or w % r:
        raise RuntimeError(f"pixel_unshuffle: the spatial size ({h}, {w}) of the input (shape "
                           f"{shape}) is not divisible by downscale_factor = {r}")
    k = len(lead)
    x = input.reshape(*lead, c, h // r, r, w // r, r)
    x = x.permute(*range(k), k, k + 2, k + 4, k + 1, k + 3)
    return x.reshape(*lead, c * r * r, h // r, w // r)
