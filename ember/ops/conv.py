"""Convolutions (1-D/2-D/3-D, grouped, depthwise, transposed), unfold/fold, and padding.

All convolutions share one mechanism (``ember/ops/_im2col.py``): im2col on a strided view of
the zero-padded input, one GEMM batched over groups, and col2im for the input gradient. Two
faster algorithms compute the same sums where measurement says so (:func:`_algorithm`):
Winograd F(2x2, 3x3) for stride-1 3x3 convs of 16+ channels (``_winograd.py``), and the direct
convolution of thin stride-1 2-D convs such as LeNet-5's (``_direct.py``, compiled kernels).

* ``conv{1,2,3}d``: ``Y = W · im2col(X) + b``; backward ``dX = col2im(Wᵀ dY)``,
  ``dW = dY · im2col(X)ᵀ``, ``db = Σ dY`` (the lectures' conv backward: inventory A12).
* ``conv_transpose{1,2,3}d``: the same three products with the roles swapped: the forward pass
  is a conv's input gradient (``col2im(Wᵀ X)``) and its input gradient is a conv
  (lecture 003 「Transpose Convolution」: the transposed conv multiplies by the transpose of
  the conv matrix; inventory B23).

Like torch (and the lectures: "实际操作中均使用矩阵乘法和互相关来实现卷积", 003 L1911), a
"convolution" is a cross-correlation: the kernel is not flipped.

The column layout and the measurements behind it are described in ``_im2col.py``.
"""
import math
from functools import partial

import numpy as np

from ember import _parallel
from ember._tensor import Tensor, as_tensor_arg
from ember.autograd.function import Function
from ember.ops import _direct as dc
from ember.ops import _im2col as ic
from ember.ops import _winograd as wg
from ember.ops._checks import ntuple
from ember.ops.shape import flip

__all__ = ["conv1d", "conv2d", "conv3d", "convolve1d", "convolve2d", "convolve3d",
           "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "unfold", "fold", "pad"]


# ----------------------------------------------------------------------------- arguments

def _positive(fn, name, value, nd):
    values = ntuple(value, nd, fn, name)
    if any(v <= 0 for v in values):
        raise RuntimeError(f"{fn}: {name} must be positive, got {name}={value!r}")
    return values


def _as_tensor(x):
    return x if isinstance(x, Tensor) else as_tensor_arg(x)


def _plural(n, word):
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _check_operands(fn, nd, input, weight, bias):
    """ndim and dtype checks shared by every conv; returns (input, weight, bias) as Tensors."""
    input, weight = _as_tensor(input), _as_tensor(weight)
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"{fn}: expected {nd + 1}-D (unbatched) or {nd + 2}-D (batched) input, "
                           f"got {input.ndim}-D input of shape {tuple(input.shape)}")
    if weight.ndim != nd + 2:
        raise RuntimeError(f"{fn}: expected a {nd + 2}-D weight, got weight of shape "
                           f"{tuple(weight.shape)}")
    operands = [("input", input), ("weight", weight)]
    if bias is not None:
        bias = _as_tensor(bias)
        operands.append(("bias", bias))
    for name, t in operands:
        if t._data.dtype.kind != "f":
            raise RuntimeError(f"{fn}: expected a floating-point {name}, got {name} of dtype "
                               f"{t.dtype}")
    for name, t in operands[1:]:
        if t._data.dtype != input._data.dtype:
            raise RuntimeError(f"{fn}: input ({input.dtype}) and {name} ({t.dtype}) must have the "
                               f"same dtype")
    return input, weight, bias


def _check_bias(fn, bias, channels, weight):
    if bias is not None and tuple(bias.shape) != (channels,):
        raise RuntimeError(f"{fn}: expected bias of shape ({channels},) for weight of shape "
                           f"{tuple(weight.shape)}, got bias of shape {tuple(bias.shape)}")


def _check_groups(fn, groups):
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups <= 0:
        raise RuntimeError(f"{fn}: groups must be a positive integer, got groups={groups!r}")
    return int(groups)


def _conv_padding(fn, padding, kernel, stride, dilation):
    """``padding`` (int, tuple, 'valid' or 'same') → ((lo, hi), ...) per spatial dim.

    'same' pads ``d·(k − 1)`` in total, ``⌊total/2⌋`` before and the rest after (torch puts the
    extra element of an odd total at the end).
    """
    nd = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * nd
        if padding == "same":
            if any(s != 1 for s in stride):
                raise RuntimeError(f"{fn}: padding='same' is not supported for strided "
                                   f"convolutions (stride={stride})")
            totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
            return tuple((t // 2, t - t // 2) for t in totals)
        raise RuntimeError(f"{fn}: invalid padding string {padding!r}; expected 'same', 'valid', "
                           f"an int or a tuple of {nd} ints")
    values = ntuple(padding, nd, fn, "padding")
    if any(p < 0 for p in values):
        raise RuntimeError(f"{fn}: negative padding is not supported, got padding={padding!r}")
    return tuple((p, p) for p in values)


def _check_kernel_fits(fn, spatial, kernel, padding, dilation):
    padded = tuple(n + lo + hi for n, (lo, hi) in zip(spatial, padding))
    extent = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    if any(e > p for e, p in zip(extent, padded)):
        raise RuntimeError(f"{fn}: padded input size {padded} is smaller than the dilated kernel "
                           f"size {extent} (kernel {tuple(kernel)}, dilation {tuple(dilation)})")


# ----------------------------------------------------------------------------- convolution

class Conv(Function):
    """N-d convolution ``Y = W ⋆ X + b`` (cross-correlation; any number of spatial dims).

    input (N, C_in, *S) or unbatched (C_in, *S); weight (C_out, C_in/groups, *K); bias (C_out,)
    → (N, C_out, *O) with ``O = ⌊(S + p_lo + p_hi − d·(K − 1) − 1)/s⌋ + 1``.
    """
    saved_inputs = (0, 1)

    def forward(self, x, w, b=None, *, stride, padding, dilation, groups):
        self.batched = x.ndim == w.ndim
        if not self.batched:
            x = x[None]
        self.conf = (stride, padding, dilation, groups)
        kernel = w.shape[2:]
        out_size = ic.output_size(x.shape[2:], kernel, stride, padding, dilation)
        self.x, self.w, self.has_bias = x, w, b is not None
        y = np.empty((x.shape[0], w.shape[0]) + tuple(out_size), np.result_type(x, w))
        algorithm = _algorithm(x.shape, w.shape, stride, padding, dilation, groups, x.dtype)
        self.winograd, self.direct = algorithm == "winograd", algorithm == "direct"
        if self.direct:
            dc.conv(x, w, b, padding, dilation, y)
            return y if self.batched else y[0]
        self.chunks = ic.batch_chunks(x.shape[0], w[0].size, math.prod(out_size),
                                      w.shape[0] // groups, x.itemsize)
        padded = tuple(n + lo + hi for n, (lo, hi) in zip(x.shape[2:], padding))
        self.batch_last = batch_last = (ic.batch_last_layout(stride, out_size, padded)
                                        and ic.compiled_conv(len(kernel), x.dtype) is None)
        if self.winograd:
            u = wg.filter_transform(w)

            def forward_part(part):
                wg.conv(x[part], u, padding, b, y[part])
        else:
            def forward_part(part):
                cols = ic.columns(x[part], kernel, stride, padding, dilation, out_size,
                                  batch_last)
                ic.conv_forward(cols, w, groups, b, y[part], batch_last)
        _parallel.run([partial(forward_part, part) for part in self.chunks])
        return y if self.batched else y[0]

    def backward(self, grad):
        """Lecture 002 「卷积层: 卷积 vs. 反卷积」: dX is the full correlation of dY with the
        180°-rotated kernel (col2im of Wᵀ dY); dW correlates X with dY; db sums dY."""
        stride, padding, dilation, groups = self.conf
        x, w = self.x, self.w
        if not self.batched:
            grad = grad[None]
        need_dx, need_dw = self.needs_input_grad[:2]
        need_db = self.has_bias and self.needs_input_grad[2]
        dx = np.empty(x.shape, np.result_type(grad, w)) if need_dx else None
        if self.direct:
            return self._direct_backward(grad, dx, need_dw, need_db)
        flipped = wg.flipped_filter_transform(w) if self.winograd and need_dx else None

        def winograd_part(part):
            """dX of the slice (a Winograd conv of dY with the rotated filter), and its shares
            of dU (the transformed dW) and db."""
            gp = grad[part]
            du = wg.weight_grad_transformed(gp, x[part], padding) if need_dw else None
            db = ic.bias_grad(ic.as_matrix(gp, groups, "grad")) if need_db else None
            if need_dx:
                wg.conv(gp, flipped, wg.input_grad_padding(padding), None, dx[part])
            return du, db

        def backward_part(part):
            """dX of the slice, and its shares of dW and db."""
            gp = grad[part]
            dw = db = g = None
            if need_dw or need_db:
                g = (ic.as_batch_last_matrix(gp, groups) if self.batch_last
                     else ic.as_matrix(gp, groups, "grad"))
            if need_dw:
                cols = ic.columns(x[part], w.shape[2:], stride, padding, dilation, gp.shape[2:],
                                  self.batch_last)
                dw = ic.conv_weight_grad(g, cols, groups, w.shape)
            if need_db:
                db = ic.bias_grad(g)
            if need_dx:
                ic.conv_input_grad(gp, w, groups, x.shape[2:], stride, padding, dilation,
                                   matrix=g, out=dx[part])
            return dw, db

        task = winograd_part if self.winograd else backward_part
        shares = _parallel.run([partial(task, part) for part in self.chunks])
        dw = None
        if need_dw:
            dw = [s[0] for s in shares]
            dw = (wg.filter_from_transform(dw, w.shape) if self.winograd
                  else _parallel.sum_shares(dw))
        db = _parallel.sum_shares([s[1] for s in shares]) if need_db else None
        if dx is not None and not self.batched:
            dx = dx[0]
        return (dx, dw, db) if self.has_bias else (dx, dw)

    def _direct_backward(self, grad, dx, need_dw, need_db):
        """dX, dW and db of a conv computed directly (``ember/ops/_direct.py``)."""
        _, padding, dilation, _ = self.conf
        dw, db = dc.backward(grad, self.x, self.w, padding, dilation, dx, need_dw, need_db)
        if dx is not None and not self.batched:
            dx = dx[0]
        return (dx, dw, db) if self.has_bias else (dx, dw)


def _algorithm(x_shape, w_shape, stride, padding, dilation, groups, dtype):
    """``"winograd"`` (``_winograd.py``: 3x3 convs of 16+ channels), else ``"direct"``
    (``_direct.py``: thin convs), else ``"im2col"``; a module's ``POLICY = "always"`` (tests)
    puts it first."""
    args = (x_shape, w_shape, stride, padding, dilation, groups, dtype)
    direct = dc.applies(*args)
    if direct and dc.POLICY == "always":
        return "direct"
    if wg.applies(*args):
        return "winograd"
    return "direct" if direct else "im2col"


def _conv(fn, nd, input, weight, bias, stride, padding, dilation, groups):
    input, weight, bias = _check_operands(fn, nd, input, weight, bias)
    groups = _check_groups(fn, groups)
    stride = _positive(fn, "stride", stride, nd)
    dilation = _positive(fn, "dilation", dilation, nd)
    kernel = tuple(weight.shape[2:])
    pads = _conv_padding(fn, padding, kernel, stride, dilation)
    c_out, c_in = weight.shape[0], weight.shape[1] * groups
    if c_out % groups:
        raise RuntimeError(f"{fn}: weight's {_plural(c_out, 'output channel')} (weight shape "
                           f"{tuple(weight.shape)}) are not divisible by groups={groups}")
    channels = input.shape[-nd - 1]
    if channels != c_in:
        raise RuntimeError(f"{fn}: expected input with {_plural(c_in, 'channel')} (weight shape "
                           f"{tuple(weight.shape)}, groups={groups}), got "
                           f"{_plural(channels, 'channel')} (input shape {tuple(input.shape)})")
    _check_bias(fn, bias, c_out, weight)
    _check_kernel_fits(fn, tuple(input.shape[-nd:]), kernel, pads, dilation)
    args = (input, weight) if bias is None else (input, weight, bias)
    return Conv.apply(*args, stride=stride, padding=pads, dilation=dilation, groups=groups)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution (cross-correlation) over (N, C_in, L) or (C_in, L).

    weight (C_out, C_in/groups, K), bias (C_out,) → (N, C_out, L_out),
    ``L_out = ⌊(L + 2p − d·(K − 1) − 1)/s⌋ + 1``. ``padding`` is an int, a 1-tuple, 'valid'
    or 'same' (stride 1 only). Lecture 004 「Convolution」: "discrete 1D convolution is matrix
    multiplication".
    """
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation) over (N, C_in, H, W) or (C_in, H, W).

    ``Y[n, o, y, x] = b[o] + Σ_{c,i,j} W[o, c, i, j] · X_pad[n, g(o)·C_in/groups + c,
    y·s_h + i·d_h, x·s_w + j·d_w]`` (lecture 003 「卷积层」: ``b + Σ_i Σ_j Σ_k F_{ijk} I_{y+i,x+j,k}``;
    one output channel per filter, the stride skips positions: inventory B5, B11, B12).
    weight (C_out, C_in/groups, kH, kW), bias (C_out,) → (N, C_out, H_out, W_out) with
    ``H_out = ⌊(H + 2p − d·(k − 1) − 1)/s⌋ + 1`` (lecture 002: ``⌊(n + 2p − f)/s⌋ + 1``).
    ``padding``: int, (pH, pW), 'valid' or 'same' (stride 1; odd totals put the extra row/column
    at the end, like torch). ``groups`` splits the channels into independent convolutions
    (003 「Group Convolution」); ``groups = C_in`` is the depthwise conv (003 「Depthwise」;
    inventory B16, B17).

    >>> F.conv2d(ember.ones(1, 1, 4, 4), ember.ones(1, 1, 3, 3))   # each 3x3 window sums 9 ones
    tensor([[[[9., 9.],
              [9., 9.]]]])
    """
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """3-D convolution (cross-correlation) over (N, C_in, D, H, W) or (C_in, D, H, W).

    weight (C_out, C_in/groups, kD, kH, kW) → (N, C_out, D_out, H_out, W_out), each size
    ``⌊(n + 2p − d·(k − 1) − 1)/s⌋ + 1`` (lecture: ``(a1−f+1)(a2−f+1)(a3−f+1)`` unpadded;
    inventory B10).
    """
    return _conv("conv3d", 3, input, weight, bias, stride, padding, dilation, groups)


# ------------------------------------------------------------------ true (flipped) convolution


def _convolve(fn, nd, input, weight, bias, stride, padding, dilation, groups):
    """A cross-correlation with the kernel rotated by 180° in every spatial dim is the
    convolution of signal processing; ``padding='full'`` pads ``d·(k − 1)`` on each side."""
    input, weight, bias = _check_operands(fn, nd, input, weight, bias)
    if isinstance(padding, str) and padding == "full":
        dilation = _positive(fn, "dilation", dilation, nd)
        padding = tuple(d * (k - 1) for d, k in zip(dilation, weight.shape[2:]))
    flipped = flip(weight, tuple(range(2, nd + 2)))
    return _conv(fn, nd, input, flipped, bias, stride, padding, dilation, groups)


def convolve1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """True 1-D convolution (the kernel flipped), not the cross-correlation of :func:`conv1d`.

    Lecture 004 「Convolution」 (inventory B8, B9): ``g[i] = Σ_n f[n] h[i − n]``. Same arguments
    and shapes as :func:`conv1d`, plus ``padding='full'``: with it and stride 1 the output has
    ``L + K − 1`` values, ``np.convolve(f, h, 'full')`` per channel, and the operation is
    commutative (``f * h = h * f``). Not in torch; equals ``conv1d`` with ``weight.flip(-1)``.
    """
    return _convolve("convolve1d", 1, input, weight, bias, stride, padding, dilation, groups)


def convolve2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """True 2-D convolution (the kernel rotated by 180°), beside :func:`conv2d`'s correlation.

    Lecture 004 「2D Convolution」 (inventory B9)::

        g[i, j] = Σ_m Σ_n f[m, n] · h[i − m, j − n]

    It is linear, shift invariant, commutative and associative (for ``padding='full'``), and
    the impulse is its identity: ``f * δ = f``, ``f * δ(x − u, y − v) = f(x − u, y − v)``. The
    lectures' CNNs use correlation instead (003 L1911); for a symmetric kernel the two agree,
    and for the Sobel example (inventory H6) they differ by a sign. Input ``(N, C_in, H, W)``,
    weight ``(C_out, C_in/groups, kH, kW)`` → ``(N, C_out, H_out, W_out)`` exactly as
    :func:`conv2d`; ``padding`` may also be ``'full'`` (``d·(k − 1)`` on each side: the output
    is ``(H + kH − 1) × (W + kW − 1)`` at stride 1, ``scipy.signal.convolve2d(f, h, 'full')``).
    ``padding='same'`` pads like conv2d (an even kernel's extra row/column goes at the end,
    which aligns the result one step off SciPy's 'same'). Not in torch.
    """
    return _convolve("convolve2d", 2, input, weight, bias, stride, padding, dilation, groups)


def convolve3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """True 3-D convolution (the kernel flipped in depth, height and width): :func:`conv3d`'s
    arguments and shapes, plus ``padding='full'`` (inventory B9). Not in torch."""
    return _convolve("convolve3d", 3, input, weight, bias, stride, padding, dilation, groups)


# ----------------------------------------------------------------------- transposed convolution

class ConvTranspose(Function):
    """N-d transposed convolution: the adjoint (matrix transpose) of :class:`Conv`.

    input (N, C_in, *I) or unbatched; weight (C_in, C_out/groups, *K); bias (C_out,)
    → (N, C_out, *O), ``O = (I − 1)·s − 2p + d·(K − 1) + output_padding + 1``.
    """
    saved_inputs = (0, 1)

    def forward(self, x, w, b=None, *, stride, padding, dilation, groups, output_size):
        self.batched = x.ndim == w.ndim
        if not self.batched:
            x = x[None]
        self.conf = (stride, padding, dilation, groups)
        self.x, self.w, self.has_bias = x, w, b is not None
        y = ic.conv_input_grad(x, w, groups, output_size, stride, padding, dilation, b)
        return y if self.batched else y[0]

    def backward(self, grad):
        """The input gradient of a transposed conv is a conv of dY with the same weight; the
        weight gradient is ``X · im2col(dY)ᵀ``."""
        stride, padding, dilation, groups = self.conf
        x, w = self.x, self.w
        if not self.batched:
            grad = grad[None]
        dx = dw = db = None
        if self.needs_input_grad[0] or self.needs_input_grad[1]:
            cols = ic.columns(grad, w.shape[2:], stride, padding, dilation, x.shape[2:])
            if self.needs_input_grad[1]:
                dw = ic.conv_weight_grad(ic.as_matrix(x, groups, "grad"), cols, groups, w.shape)
            if self.needs_input_grad[0]:
                dx = ic.conv_forward(cols, w, groups)
                if not self.batched:
                    dx = dx[0]
        if self.has_bias and self.needs_input_grad[2]:
            db = grad.sum(axis=(0,) + tuple(range(2, grad.ndim)))
        return (dx, dw, db) if self.has_bias else (dx, dw)


def _conv_transpose(fn, nd, input, weight, bias, stride, padding, output_padding, groups,
                    dilation):
    input, weight, bias = _check_operands(fn, nd, input, weight, bias)
    groups = _check_groups(fn, groups)
    stride = _positive(fn, "stride", stride, nd)
    dilation = _positive(fn, "dilation", dilation, nd)
    if isinstance(padding, str):
        raise RuntimeError(f"{fn}: padding must be an int or a tuple of {nd} ints, got "
                           f"{padding!r} (string padding is only supported by convolutions)")
    pad = ntuple(padding, nd, fn, "padding")
    if any(p < 0 for p in pad):
        raise RuntimeError(f"{fn}: negative padding is not supported, got padding={padding!r}")
    out_pad = ntuple(output_padding, nd, fn, "output_padding")
    if any(op < 0 or (op >= s and op >= d) for op, s, d in zip(out_pad, stride, dilation)):
        raise RuntimeError(f"{fn}: output padding must be smaller than either stride or dilation, "
                           f"got output_padding={out_pad}, stride={stride}, dilation={dilation}")
    c_in = weight.shape[0]
    if c_in % groups:
        raise RuntimeError(f"{fn}: weight's {_plural(c_in, 'input channel')} (weight shape "
                           f"{tuple(weight.shape)}) are not divisible by groups={groups}")
    channels = input.shape[-nd - 1]
    if channels != c_in:
        raise RuntimeError(f"{fn}: expected input with {_plural(c_in, 'channel')} (weight shape "
                           f"{tuple(weight.shape)}, groups={groups}), got "
                           f"{_plural(channels, 'channel')} (input shape {tuple(input.shape)})")
    c_out = weight.shape[1] * groups
    _check_bias(fn, bias, c_out, weight)
    kernel = tuple(weight.shape[2:])
    in_size = tuple(input.shape[-nd:])
    out_size = tuple((n - 1) * s - 2 * p + d * (k - 1) + op + 1
                     for n, s, p, d, k, op in zip(in_size, stride, pad, dilation, kernel, out_pad))
    if any(o <= 0 for o in out_size):
        raise RuntimeError(f"{fn}: output size {out_size} is too small (input shape "
                           f"{tuple(input.shape)}, kernel {kernel}, stride {stride}, padding "
                           f"{pad}, dilation {dilation}, output_padding {out_pad})")
    args = (input, weight) if bias is None else (input, weight, bias)
    return ConvTranspose.apply(*args, stride=stride, padding=tuple((p, p) for p in pad),
                               dilation=dilation, groups=groups, output_size=out_size)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """1-D transposed convolution ("deconvolution") over (N, C_in, L) or (C_in, L).

    weight (C_in, C_out/groups, K) → (N, C_out, (L − 1)·s − 2p + d·(K − 1) + output_padding + 1).
    Lecture 003 「为什么叫"Transpose Convolution"?」: multiplying by the transposed conv matrix.
    """
    return _conv_transpose("conv_transpose1d", 1, input, weight, bias, stride, padding,
                           output_padding, groups, dilation)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """2-D transposed convolution over (N, C_in, H, W) or (C_in, H, W).

    weight (C_in, C_out/groups, kH, kW) → (N, C_out, H_out, W_out),
    ``H_out = (H − 1)·s − 2p + d·(kH − 1) + output_padding + 1``. Each input value "tiles" a
    copy of the kernel scaled by itself onto the output, overlaps summing (lecture 003
    「Transpose Convolution」, e.g. 3×3, stride 2, pad 1 for 2× upsampling).
    """
    return _conv_transpose("conv_transpose2d", 2, input, weight, bias, stride, padding,
                           output_padding, groups, dilation)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """3-D transposed convolution over (N, C_in, D, H, W) or (C_in, D, H, W).

    weight (C_in, C_out/groups, kD, kH, kW); each output size as in :func:`conv_transpose2d`.
    """
    return _conv_transpose("conv_transpose3d", 3, input, weight, bias, stride, padding,
                           output_padding, groups, dilation)


# ----------------------------------------------------------------------------- unfold / fold

def _unfold_array(x, kernel, dilation, padding, stride):
    """(N, C, H, W) → (N, C·kH·kW, L): im2col written straight into the result's layout."""
    n, c = x.shape[:2]
    out_size = ic.output_size(x.shape[2:], kernel, stride, padding, dilation)
    out = np.empty((n, c) + kernel + out_size, x.dtype)
    ic.im2col(ic.pad_zeros(x, padding), kernel, stride, dilation, out_size,
              out.transpose(1, 2, 3, 0, 4, 5))
    return out.reshape(n, c * kernel[0] * kernel[1], out_size[0] * out_size[1])


def _fold_array(cols, size, kernel, dilation, padding, stride):
    """(N, C·kH·kW, L) → fresh (N, C, *size): col2im, summing overlapping blocks."""
    n = cols.shape[0]
    c = cols.shape[1] // (kernel[0] * kernel[1])
    out_size = ic.output_size(size, kernel, stride, padding, dilation)
    view = cols.reshape((n, c) + kernel + out_size).transpose(1, 2, 3, 0, 4, 5)
    padded = (c, n) + tuple(s + lo + hi for s, (lo, hi) in zip(size, padding))
    image = ic.col2im(view, stride, dilation, ic.workspace("fold", padded, cols.dtype))
    crop_h, crop_w = (slice(lo, lo + s) for s, (lo, _) in zip(size, padding))
    return np.ascontiguousarray(image[:, :, crop_h, crop_w].transpose(1, 0, 2, 3))


class Unfold(Function):
    """im2col as an op: (N, C, H, W) → (N, C·kH·kW, L); its backward is :class:`Fold`."""

    def forward(self, x, *, kernel, dilation, padding, stride):
        self.conf = (kernel, dilation, padding, stride)
        self.size = x.shape[2:]
        return _unfold_array(x, kernel, dilation, padding, stride)

    def backward(self, grad):
        return _fold_array(grad, self.size, *self.conf)


class Fold(Function):
    """col2im as an op: (N, C·kH·kW, L) → (N, C, H, W); its backward is :class:`Unfold`."""

    def forward(self, cols, *, size, kernel, dilation, padding, stride):
        self.conf = (kernel, dilation, padding, stride)
        return _fold_array(cols, size, kernel, dilation, padding, stride)

    def backward(self, grad):
        return _unfold_array(grad, *self.conf)


def _block_args(fn, kernel_size, dilation, padding, stride):
    kernel = _positive(fn, "kernel_size", kernel_size, 2)
    dilation = _positive(fn, "dilation", dilation, 2)
    stride = _positive(fn, "stride", stride, 2)
    pad = ntuple(padding, 2, fn, "padding")
    if any(p < 0 for p in pad):
        raise RuntimeError(f"{fn}: padding must be non-negative, got padding={padding!r}")
    return kernel, dilation, tuple((p, p) for p in pad), stride


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Extract sliding local blocks (im2col): (N, C, H, W) → (N, C·kH·kW, L), or unbatched
    (C, H, W) → (C·kH·kW, L); ``L = Π_d ⌊(S_d + 2p_d − dil_d·(k_d − 1) − 1)/s_d⌋ + 1``.

    Column ``l`` holds the block at output position ``l`` (row-major), its rows ordered
    (channel, kernel row, kernel column), as in torch.
    """
    input = _as_tensor(input)
    kernel, dilation, pads, stride = _block_args("unfold", kernel_size, dilation, padding, stride)
    if input.ndim not in (3, 4):
        raise RuntimeError(f"unfold: expected a 3-D (unbatched) or 4-D (batched) input, got "
                           f"input of shape {tuple(input.shape)}")
    if input.ndim == 3:
        return unfold(input.unsqueeze(0), kernel_size, dilation, padding, stride).squeeze(0)
    _check_kernel_fits("unfold", tuple(input.shape[2:]), kernel, pads, dilation)
    return Unfold.apply(input, kernel=kernel, dilation=dilation, padding=pads, stride=stride)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Combine sliding local blocks into an image (col2im), summing overlaps: (N, C·kH·kW, L)
    → (N, C, *output_size), or unbatched (C·kH·kW, L) → (C, *output_size). The adjoint of
    :func:`unfold`; ``fold(unfold(x))`` multiplies each pixel by the number of blocks covering it.
    """
    input = _as_tensor(input)
    kernel, dilation, pads, stride = _block_args("fold", kernel_size, dilation, padding, stride)
    size = _positive("fold", "output_size", output_size, 2)
    if input.ndim not in (2, 3):
        raise RuntimeError(f"fold: expected a 2-D (unbatched) or 3-D (batched) input, got input "
                           f"of shape {tuple(input.shape)}")
    if input.ndim == 2:
        return fold(input.unsqueeze(0), output_size, kernel_size, dilation, padding,
                    stride).squeeze(0)
    k = kernel[0] * kernel[1]
    if input.shape[1] % k:
        raise RuntimeError(f"fold: expected size of input's dimension 1 ({input.shape[1]}) to be "
                           f"divisible by the product of kernel_size {kernel} = {k} (input shape "
                           f"{tuple(input.shape)})")
    _check_kernel_fits("fold", size, kernel, pads, dilation)
    blocks = ic.output_size(size, kernel, stride, pads, dilation)
    if input.shape[2] != blocks[0] * blocks[1]:
        raise RuntimeError(f"fold: output_size={size}, kernel_size={kernel}, dilation={dilation}, "
                           f"padding={tuple(p for p, _ in pads)}, stride={stride} give "
                           f"{blocks[0]} * {blocks[1]} = {blocks[0] * blocks[1]} sliding blocks, "
                           f"but input's dimension 2 is {input.shape[2]} (input shape "
                           f"{tuple(input.shape)})")
    return Fold.apply(input, size=size, kernel=kernel, dilation=dilation, padding=pads,
                      stride=stride)


# ----------------------------------------------------------------------------- padding

_PAD_MODES = ("constant", "reflect", "replicate", "circular", "symmetric")


def _reflect_right(n, count):
    """Indices n−2, n−3, …, n−1−count as a slice (reflection about the last element)."""
    stop = n - 2 - count
    return slice(n - 2, stop if stop >= 0 else None, -1)


def _mirror_slices(n, lo, hi, mode):
    """The input cells copied, in output order, into the ``lo`` cells before and the ``hi``
    cells after the input: 'reflect' mirrors about the edge cell (``cba|abc|cba`` → ``ba``),
    'symmetric' about the edge itself, repeating the edge cell (``cba``)."""
    if mode == "reflect":
        return slice(lo, 0, -1), _reflect_right(n, hi)
    stop = n - 1 - hi
    return slice(lo - 1, None, -1), slice(n - 1, stop if stop >= 0 else None, -1)


def _axis_slice(ndim, axis, sl):
    index = [slice(None)] * ndim
    index[axis] = sl
    return tuple(index)


def _pad_axis(a, axis, lo, hi, mode):
    """Pad (or crop, for negative amounts) one axis in a non-constant mode."""
    n = a.shape[axis]
    at = lambda sl: a[_axis_slice(a.ndim, axis, sl)]  # noqa: E731
    if mode == "circular":
        # torch crops first, then wraps the cropped array around
        a = at(slice(max(-lo, 0), n - max(-hi, 0)))
        n, lo, hi = a.shape[axis], max(lo, 0), max(hi, 0)
        parts = [at(slice(n - lo, n))] if lo else []
        parts.append(a)
        if hi:
            parts.append(at(slice(0, hi)))
        return np.concatenate(parts, axis=axis)
    parts = []
    mirrored = mode in ("reflect", "symmetric")
    before, after = _mirror_slices(n, lo, hi, mode) if mirrored else (None, None)
    if lo > 0:
        parts.append(at(before) if mirrored else np.repeat(at(slice(0, 1)), lo, axis=axis))
    parts.append(at(slice(max(-lo, 0), n - max(-hi, 0))))
    if hi > 0:
        parts.append(at(after) if mirrored else np.repeat(at(slice(n - 1, n)), hi, axis=axis))
    return np.concatenate(parts, axis=axis)


def _pad_axis_backward(g, axis, lo, hi, n, mode):
    """Gradient of :func:`_pad_axis`: fold the padded borders back onto the cells they copy."""
    ndim, m_out = g.ndim, g.shape[axis]
    at = lambda sl: _axis_slice(ndim, axis, sl)  # noqa: E731
    shape = list(g.shape)
    shape[axis] = n
    gx = np.zeros(shape, g.dtype)
    start = max(-lo, 0)
    if mode == "circular":
        m = n - start - max(-hi, 0)
        lo, hi = max(lo, 0), max(hi, 0)
        core = gx[at(slice(start, start + m))]
        core[...] = g[at(slice(lo, lo + m))]
        if lo:
            core[at(slice(m - lo, m))] += g[at(slice(0, lo))]
        if hi:
            core[at(slice(0, hi))] += g[at(slice(m_out - hi, m_out))]
        return gx
    length = n - start - max(-hi, 0)
    gx[at(slice(start, start + length))] = g[at(slice(max(lo, 0), max(lo, 0) + length))]
    mirrored = mode in ("reflect", "symmetric")
    before, after = _mirror_slices(n, lo, hi, mode) if mirrored else (None, None)
    if lo > 0:
        if mirrored:
            gx[at(before)] += g[at(slice(0, lo))]
        else:
            gx[at(slice(0, 1))] += g[at(slice(0, lo))].sum(axis=axis, keepdims=True)
    if hi > 0:
        if mirrored:
            gx[at(after)] += g[at(slice(m_out - hi, m_out))]
        else:
            gx[at(slice(n - 1, n))] += g[at(slice(m_out - hi, m_out))].sum(axis=axis,
                                                                           keepdims=True)
    return gx


class Pad(Function):
    """Pad the last ``len(pads)`` axes; ``pads`` holds (lo, hi) per axis, first padded first."""

    def forward(self, x, *, pads, mode, value):
        self.pads, self.mode, self.shape = pads, mode, x.shape
        first = x.ndim - len(pads)
        if mode == "constant":
            out_shape = x.shape[:first] + tuple(n + lo + hi for n, (lo, hi)
                                                in zip(x.shape[first:], pads))
            out = np.full(out_shape, value, dtype=x.dtype)
            self.dst, self.src = self._regions(x.shape[first:])
            out[self.dst] = x[self.src]
            return out
        for axis, (lo, hi) in enumerate(pads, start=first):
            x = _pad_axis(x, axis, lo, hi, mode)
        return x

    def _regions(self, size):
        """Where the (cropped) input lands in the output, and which part of the input that is."""
        dst, src = [Ellipsis], [Ellipsis]
        for n, (lo, hi) in zip(size, self.pads):
            dst.append(slice(max(lo, 0), max(lo, 0) + n - max(-lo, 0) - max(-hi, 0)))
            src.append(slice(max(-lo, 0), n - max(-hi, 0)))
        return tuple(dst), tuple(src)

    def backward(self, grad):
        if self.mode == "constant":
            gx = np.zeros(self.shape, grad.dtype)
            gx[self.src] = grad[self.dst]
            return gx
        first = len(self.shape) - len(self.pads)
        for axis in reversed(range(first, len(self.shape))):
            lo, hi = self.pads[axis - first]
            grad = _pad_axis_backward(grad, axis, lo, hi, self.shape[axis], self.mode)
        return grad


def pad(input, pad, mode="constant", value=None):
    """Pad (or crop, with negative amounts) the last dimensions of ``input``.

    ``pad = (left, right, top, bottom, front, back)``: pairs for the last, second-to-last, …
    dimension, as in torch. Modes (lecture 003 「Padding」, inventory B14): 'constant'
    ("pad/fill: add value, often 0"; any number of dimensions), 'symmetric' ("Symm: fold sides
    over": the border is a mirror image that repeats the edge cell, ``cba|abc|cba``; NumPy's and
    MATLAB's 'symmetric'; not a torch mode), 'reflect' (mirror without repeating the edge cell,
    ``cb|abc|ba``), 'replicate' (repeat the edge) and 'circular' ("Circular/Wrap: wrap
    around"). The non-constant modes pad the last 1, 2 or 3 dimensions of a 2-D/3-D, 3-D/4-D
    or 4-D/5-D input respectively. Negative amounts crop (in 'circular' mode the crop happens
    before wrapping, as in torch).
    """
    input = _as_tensor(input)
    try:
        amounts = tuple(int(p) for p in pad)
    except TypeError:
        raise TypeError(f"pad: pad must be a sequence of ints, got {pad!r}") from None
    if len(amounts) % 2:
        raise RuntimeError(f"pad: padding length must be divisible by 2, got pad={amounts}")
    k = len(amounts) // 2
    if k > input.ndim:
        raise RuntimeError(f"pad: padding length {len(amounts)} is too large for a "
                           f"{input.ndim}-D input of shape {tuple(input.shape)}")
    if mode not in _PAD_MODES:
        raise RuntimeError(f"pad: unknown padding mode {mode!r}; expected one of {_PAD_MODES}")
    shape = tuple(input.shape)
    pads = tuple((amounts[2 * i], amounts[2 * i + 1]) for i in reversed(range(k)))
    size = shape[len(shape) - k:]
    if mode != "constant":
        if value is not None and value != 0:
            raise RuntimeError(f"pad: padding mode {mode!r} doesn't take a value argument, "
                               f"got value={value!r}")
        if not 1 <= k <= 3 or input.ndim not in (k + 1, k + 2):
            raise RuntimeError(f"pad: mode {mode!r} with padding length {len(amounts)} expects a "
                               f"{k + 1}-D or {k + 2}-D input, got input of shape {shape}")
        for n, (lo, hi) in zip(size, pads):
            if mode == "reflect" and (lo >= n or hi >= n):
                raise RuntimeError(f"pad: reflect padding {(lo, hi)} must be smaller than the "
                                   f"dimension it pads (size {n}, input shape {shape})")
            if mode == "symmetric" and (lo > n or hi > n):
                raise RuntimeError(f"pad: symmetric padding {(lo, hi)} must not exceed the "
                                   f"dimension it pads (size {n}, input shape {shape})")
            kept = n - max(-lo, 0) - max(-hi, 0)
            if mode == "circular" and max(lo, hi) > kept:
                raise RuntimeError(f"pad: circular padding {(lo, hi)} wraps around more than once "
                                   f"(size {n} after cropping, input shape {shape})")
            if mode == "replicate" and n == 0:
                raise RuntimeError(f"pad: replicate padding needs a non-empty dimension "
                                   f"(input shape {shape})")
    out_size = tuple(n + lo + hi for n, (lo, hi) in zip(size, pads))
    if any(o < 0 for o in out_size):
        raise RuntimeError(f"pad: padding {amounts} gives a negative output size {out_size} for "
                           f"input of shape {shape}")
    return Pad.apply(input, pads=pads, mode=mode, value=0 if value is None else value)
