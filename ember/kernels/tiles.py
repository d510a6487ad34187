"""Register tiles of ``<16 x float>`` accumulators for the direct convolution
(``ember.kernels.direct``).

A direct convolution of few channels (LeNet-5's 1→6 and 6→16 5x5 convs) does ``C_in·k²``
multiply-adds per output, which im2col + GEMM runs at memory speed: the column matrix is 25x
the input, and a GEMM with 6 or 16 output rows reads it once per handful of multiply-adds.
Computed from the input itself, the same sums run at the speed of the FMA units, if the partial
sums stay in registers. Numba has no vector type and LLVM's loop vectorizer only vectorizes
innermost loops, so a Python loop cannot keep a block of partial sums in registers across the
loop over kernel taps. The two intrinsics here write that loop in LLVM IR, with ``R × V``
accumulators of 16 float32 lanes as loop-carried values (R channels, V vectors of 16
consecutive positions): each step loads V vectors of input and R scalars (broadcast), and does
``R·V`` fused multiply-adds. At R = V = 4 that is 16 FMAs for 8 loads, and LLVM keeps the 16
accumulators in 16 of the 32 AVX-512 registers (on a CPU with 16 vector registers they would
spill, which is why ``ember.ops._direct`` uses these tiles only where AVX-512 is present).

Each accumulator adds its terms one at a time, in tap order, with one rounding per
multiply-add (``llvm.fma``): the result is the same on every CPU.
"""
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ember.kernels._jit import inline, kernel

LANES = 16

_wide = None


def wide_registers():
    """True when the kernels compile for a CPU with AVX-512 (32 vector registers), where a
    tile's 16 accumulators stay in registers; elsewhere they would spill, and the ops that
    pick tiles by measurement (``ember.ops._direct``, ``ember.ops.attention``) do not. Numba's
    target CPU decides: the host, unless ``NUMBA_CPU_NAME`` / ``NUMBA_CPU_FEATURES`` say
    otherwise (a named CPU's features are not known here: False)."""
    global _wide
    if _wide is None:
        import llvmlite.binding as llvm
        from numba.core import config
        if config.CPU_FEATURES is not None:
            features = config.CPU_FEATURES
        elif config.CPU_NAME in (None, "host"):
            features = llvm.get_host_cpu_features().flatten()
        else:
            features = ""
        _wide = "+avx512f" in features.split(",")
    return _wide

_F32 = ir.FloatType()
_I64 = ir.IntType(64)
_VECTOR = ir.VectorType(_F32, LANES)
_ZERO = ir.Constant(_VECTOR, [0.0] * LANES)


def _int64(builder, value):
    return value if value.type.width == 64 else builder.sext(value, _I64)


def _const(n):
    return ir.Constant(_I64, n)


def _data(context, builder, array_type, array):
    return context.make_array(array_type)(context, builder, array).data


def _arguments(context, builder, sig, args):
    """An intrinsic's arguments as its codegen uses them: an array as its data pointer, an
    integer (literal or not) as an int64."""
    return [_data(context, builder, t, v) if isinstance(t, types.Array) else _int64(builder, v)
            for t, v in zip(sig.args, args)]


def _vector_at(builder, data, index):
    """A ``<16 x float>*`` to ``data[index : index + 16]`` (float32 alignment only)."""
    return builder.bitcast(builder.gep(data, [index]), _VECTOR.as_pointer())


def _load(builder, data, index):
    return builder.load(_vector_at(builder, data, index), align=4)


def _store(builder, value, data, index):
    builder.store(value, _vector_at(builder, data, index), align=4)


def _broadcast(builder, data, index):
    scalar = builder.load(builder.gep(data, [index]), align=4)
    single = builder.insert_element(ir.Constant(_VECTOR, ir.Undefined), scalar,
                                    ir.Constant(ir.IntType(32), 0))
    return builder.shuffle_vector(single, single, ir.Constant(
        ir.VectorType(ir.IntType(32), LANES), [0] * LANES))


def _fma(builder, a, b, c):
    fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_VECTOR, [_VECTOR] * 3),
                                        "llvm.fma.v16f32")
    return builder.call(fn, [a, b, c])


def _counted_loop(builder, count, state, body):
    """Emit ``for i in range(count): state = body(i, state)`` with ``state`` (a list of LLVM
    values) carried in phi nodes; returns the state after the loop (the initial state when
    ``count`` is 0)."""
    entry = builder.block
    loop = builder.append_basic_block("tile.loop")
    done = builder.append_basic_block("tile.done")
    builder.cbranch(builder.icmp_signed(">", count, _const(0)), loop, done)
    builder.position_at_end(loop)
    index = builder.phi(_I64)
    carried = [builder.phi(value.type) for value in state]
    updated = body(index, carried)
    following = builder.add(index, _const(1))
    end = builder.block
    index.add_incoming(_const(0), entry)
    index.add_incoming(following, end)
    for phi, start, new in zip(carried, state, updated):
        phi.add_incoming(start, entry)
        phi.add_incoming(new, end)
    builder.cbranch(builder.icmp_signed("<", following, count), loop, done)
    builder.position_at_end(done)
    result = []
    for start, new in zip(state, updated):
        phi = builder.phi(start.type)
        phi.add_incoming(start, entry)
        phi.add_incoming(new, end)
        result.append(phi)
    return result


def _literal(value):
    return value.literal_value if isinstance(value, types.IntegerLiteral) else None


def _float32_vector(array):
    return (isinstance(array, types.Array) and array.ndim == 1 and array.dtype == types.float32
            and array.layout == "C")


def _int64_vector(array):
    return isinstance(array, types.Array) and array.ndim == 1 and array.dtype == types.int64


def _tile_shapes(rows, columns, shapes):
    """The tile shapes a call can ask for: its own when both sizes are literal ints, else every
    shape of ``shapes`` (the sizes are then chosen at run time); None if the arguments are not
    integers."""
    if not (isinstance(rows, types.Integer) and isinstance(columns, types.Integer)):
        return None
    literal = (_literal(rows), _literal(columns))
    return [literal] if None not in literal else list(shapes)


def _for_tile_shape(builder, rows, columns, shapes, emit):
    """Emit ``emit(r, c)`` for the shape ``(rows, columns)`` (LLVM values) among ``shapes``: a
    switch with one case (one tile loop) per shape; any other shape does nothing."""
    if len(shapes) == 1:
        emit(*shapes[0])
        return
    key = builder.add(builder.mul(_int64(builder, rows), _const(64)), _int64(builder, columns))
    done = builder.append_basic_block("tile.shape.done")
    switch = builder.switch(key, done)
    for r, c in shapes:
        case = builder.append_basic_block(f"tile.shape.{r}x{c}")
        switch.add_case(_const(64 * r + c), case)
        builder.position_at_end(case)
        emit(r, c)
        builder.branch(done)
    builder.position_at_end(done)


# the (rows, vectors) shapes product_tile compiles when they are chosen at run time: up to 4 rows
# of 1, 2 or 4 vectors, and 8 rows of one vector (so that 8 chains of FMAs are in flight)
PRODUCT_SHAPES = tuple((r, v) for r in (1, 2, 3, 4) for v in (1, 2, 4)) + ((8, 1),)


@intrinsic(prefer_literal=True)
def product_tile(typingctx, x, x_base, offsets, weights, w_base, w_tap, w_row, out, out_base,
                 out_stride, rows, vectors):
    """``rows`` × ``vectors`` outputs of a sum of shifted runs, the inner loop of a direct
    convolution (and of a matrix product: ``offsets[t] = t·ld``)::

        out[out_base + r·out_stride + j] = Σ_t weights[w_base + t·w_tap + r·w_row] ·
                                               x[x_base + offsets[t] + j]

    for ``r < rows``, ``j < 16·vectors``, the sum over ``t < len(offsets)`` taken in order of
    ``t`` by fused multiply-adds from 0. ``rows`` and ``vectors`` are literal ints, or run-time
    ints among ``PRODUCT_SHAPES`` (one loop per shape is compiled; another shape does nothing).
    ``x``, ``weights``, ``out``: 1-D contiguous float32; ``offsets``: 1-D int64. No bounds are
    checked: the caller sizes the arrays."""
    shapes = _tile_shapes(rows, vectors, PRODUCT_SHAPES)
    if (shapes is None or not all(map(_float32_vector, (x, weights, out)))
            or not _int64_vector(offsets)):
        return None

    def codegen(context, builder, sig, args):
        (x_data, x_base, offset_data, weight_data, w_base, w_tap, w_row, out_data, out_base,
         out_stride, rows_value, vectors_value) = _arguments(context, builder, sig, args)
        taps = context.make_array(sig.args[2])(context, builder, args[2]).nitems

        def tile(count_r, count_v):
            row_shifts = [builder.mul(w_row, _const(r)) for r in range(count_r)]

            def step(t, acc):
                at = builder.add(x_base, builder.load(builder.gep(offset_data, [t])))
                inputs = [_load(builder, x_data, builder.add(at, _const(LANES * v)))
                          for v in range(count_v)]
                w_at = builder.add(w_base, builder.mul(t, w_tap))
                updated = []
                for r in range(count_r):
                    w = _broadcast(builder, weight_data, builder.add(w_at, row_shifts[r]))
                    updated += [_fma(builder, w, inputs[v], acc[r * count_v + v])
                                for v in range(count_v)]
                return updated

            acc = _counted_loop(builder, taps, [_ZERO] * (count_r * count_v), step)
            for r in range(count_r):
                row = builder.add(out_base, builder.mul(out_stride, _const(r)))
                for v in range(count_v):
                    _store(builder, acc[r * count_v + v], out_data,
                           builder.add(row, _const(LANES * v)))

        _for_tile_shape(builder, rows_value, vectors_value, shapes, tile)
        return context.get_dummy_value()

    return types.none(x, x_base, offsets, weights, w_base, w_tap, w_row, out, out_base,
                      out_stride, rows, vectors), codegen


# the (rows, taps) shapes correlation_tile compiles when rows are chosen at run time
CORRELATION_SHAPES = tuple((r, 4) for r in (1, 2, 3, 4))


@intrinsic(prefer_literal=True)
def correlation_tile(typingctx, dy, dy_base, dy_stride, x, x_base, offsets, first_tap, blocks,
                     samples, dy_sample, x_sample, acc, rows, taps):
    """``rows`` × ``taps`` lane-wise correlations of a weight gradient, added to the
    accumulators ``acc[(r·taps + t)·16 : +16]``::

        acc[r, t, j] += Σ_s Σ_b dy[dy_base + s·dy_sample + r·dy_stride + 16·b + j] ·
                                 x[x_base + s·x_sample + offsets[first_tap + t] + 16·b + j]

    over ``s < samples`` and ``b < blocks``, in that order, by fused multiply-adds (lane ``j``
    sums every 16th position; the caller combines the 16 lanes). ``rows`` and ``taps`` are
    literal ints, or run-time ints among ``CORRELATION_SHAPES``. ``dy``, ``x``, ``acc``: 1-D
    contiguous float32; ``offsets``: 1-D int64. No bounds are checked."""
    shapes = _tile_shapes(rows, taps, CORRELATION_SHAPES)
    if (shapes is None or not all(map(_float32_vector, (dy, x, acc)))
            or not _int64_vector(offsets)):
        return None

    def codegen(context, builder, sig, args):
        (dy_data, dy_base, dy_stride, x_data, x_base, offset_data, first, count, samples,
         dy_sample, x_sample, acc_data, rows_value, taps_value) = _arguments(context, builder,
                                                                            sig, args)

        def tile(count_r, count_t):
            shifts = [builder.load(builder.gep(offset_data, [builder.add(first, _const(t))]))
                      for t in range(count_t)]
            initial = [_load(builder, acc_data, _const(LANES * i))
                       for i in range(count_r * count_t)]

            def sample(s, acc):
                g_at = builder.add(dy_base, builder.mul(s, dy_sample))
                x_at = builder.add(x_base, builder.mul(s, x_sample))
                starts = [builder.add(x_at, shift) for shift in shifts]
                rows_at = [builder.add(g_at, builder.mul(dy_stride, _const(r)))
                           for r in range(count_r)]

                def step(b, acc):
                    shift = builder.mul(b, _const(LANES))
                    inputs = [_load(builder, x_data, builder.add(at, shift)) for at in starts]
                    updated = []
                    for r in range(count_r):
                        g = _load(builder, dy_data, builder.add(rows_at[r], shift))
                        updated += [_fma(builder, g, inputs[t], acc[r * count_t + t])
                                    for t in range(count_t)]
                    return updated

                return _counted_loop(builder, count, acc, step)

            acc = _counted_loop(builder, samples, initial, sample)
            for i, value in enumerate(acc):
                _store(builder, value, acc_data, _const(LANES * i))

        _for_tile_shape(builder, rows_value, taps_value, shapes, tile)
        return context.get_dummy_value()

    return types.none(dy, dy_base, dy_stride, x, x_base, offsets, first_tap, blocks, samples,
                      dy_sample, x_sample, acc, rows, taps), codegen


@intrinsic(prefer_literal=True)
def transposed_tile(typingctx, dy, dy_base, dy_stride, channels, weights, offsets, out,
                    out_base, vectors):
    """``vectors`` (a literal int) blocks of 16 positions of a transposed convolution, added
    into ``out``::

        out[out_base + offsets[t] + j] += Σ_o weights[t·channels + o] ·
                                             dy[dy_base + o·dy_stride + j]

    for each tap ``t < len(offsets)`` in order and ``j < 16·vectors``: the sum over ``o <
    channels`` is taken in registers by fused multiply-adds from 0, the even and the odd
    channels in two partial sums (each in order; two chains of FMAs keep twice as many in
    flight), the last channel of an odd count added to the even one; then the odd sum is added
    to the even one, and the result to ``out``. ``dy``, ``weights``, ``out``: 1-D contiguous
    float32; ``offsets``: 1-D int64. No bounds are checked."""
    count_v = _literal(vectors)
    if (count_v is None or not all(map(_float32_vector, (dy, weights, out)))
            or not _int64_vector(offsets)):
        return None

    def codegen(context, builder, sig, args):
        (dy_data, dy_base, dy_stride, channels, weight_data, offset_data, out_data, out_base,
         _) = _arguments(context, builder, sig, args)
        taps = context.make_array(sig.args[5])(context, builder, args[5]).nitems

        def tap(t, state):
            w_at = builder.mul(t, channels)

            def add_channel(o, acc):
                w = _broadcast(builder, weight_data, builder.add(w_at, o))
                row = builder.add(dy_base, builder.mul(o, dy_stride))
                return [_fma(builder, w, _load(builder, dy_data,
                                                builder.add(row, _const(LANES * v))), acc[v])
                        for v in range(count_v)]

            def channel_pair(i, acc):
                even = builder.mul(i, _const(2))
                return (add_channel(even, acc[:count_v])
                        + add_channel(builder.add(even, _const(1)), acc[count_v:]))

            pairs = builder.sdiv(channels, _const(2))
            acc = _counted_loop(builder, pairs, [_ZERO] * (2 * count_v), channel_pair)
            last = builder.sub(channels, _const(1))
            odd = builder.icmp_signed("==", builder.srem(channels, _const(2)), _const(1))
            before = builder.block
            with builder.if_then(odd):
                with_last = add_channel(last, acc[:count_v])
                then_end = builder.block
            merged = []
            for v in range(count_v):
                phi = builder.phi(_VECTOR)
                phi.add_incoming(acc[v], before)
                phi.add_incoming(with_last[v], then_end)
                merged.append(phi)
            at = builder.add(out_base, builder.load(builder.gep(offset_data, [t])))
            for v in range(count_v):
                index = builder.add(at, _const(LANES * v))
                total = builder.fadd(merged[v], acc[count_v + v])
                _store(builder, builder.fadd(_load(builder, out_data, index), total), out_data,
                       index)
            return state

        _counted_loop(builder, taps, [], tap)
        return context.get_dummy_value()

    return types.none(dy, dy_base, dy_stride, channels, weights, offsets, out, out_base,
                      vectors), codegen


@kernel
def product_rows(x, x_base, offsets, w, w_base, w_tap, w_row, rows, out, out_base, out_stride,
                 vectors):
    """``out[out_base + r·out_stride + j] = Σ_t w[w_base + t·w_tap + r·w_row] · x[x_base +
    offsets[t] + j]`` for ``r < rows``, ``j < 16·vectors`` (:func:`product_tile`'s sums, each in
    tap order by fused multiply-adds): rows in tiles of 4 (8 when ``vectors`` is 1, so that 8
    sums are in flight), the columns of each in tiles of 4 vectors, then 2, then 1."""
    r0 = 0
    if vectors == 1:
        while rows - r0 >= 8:
            product_tile(x, x_base, offsets, w, w_base + r0 * w_row, w_tap, w_row, out,
                         out_base + r0 * out_stride, out_stride, 8, 1)
            r0 += 8
    while r0 < rows:
        count = min(4, rows - r0)
        v0 = 0
        while v0 < vectors:
            step = 4 if vectors - v0 >= 4 else 2 if vectors - v0 >= 2 else 1
            shift = v0 * LANES
            product_tile(x, x_base + shift, offsets, w, w_base + r0 * w_row, w_tap, w_row, out,
                         out_base + r0 * out_stride + shift, out_stride, count, step)
            v0 += step
        r0 += count
