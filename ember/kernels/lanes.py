"""Sums and maxima of a run of float32 values in 16 vector lanes, for the compiled row passes.

A float32 reduction written in Python (``total += v``, or eight running partial sums) compiles
to scalar code: LLVM may vectorize a float sum only if it may reorder it (``fastmath``, which
the kernels never use: the order of the additions would then depend on the CPU's vector
width), and its SLP vectorizer does not start from loop-carried sums. A row's max and sum then
took 0.19 and 0.17 ms per million values on an Intel Xeon (Sapphire Rapids), more than half of
a softmax. The two intrinsics here write the loop in LLVM IR with an explicit ``<16 x float>``
accumulator: lane ``j`` takes elements ``j, j + 16, j + 32, ...`` of the run, one vector
instruction per 16 elements. The order of the float operations is fixed by this code (LLVM
splits a 16-lane vector into the CPU's registers without reordering lanes), so every CPU
computes the same result. The 16 lanes are then combined pairwise inside the vector (four
shuffles), and :func:`run_sum` / :func:`run_max` add the tail of the run (its last ``n mod
16`` values) one by one.
"""
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from ember.kernels._jit import inline

LANES = 16

_F32 = ir.FloatType()
_I64 = ir.IntType(64)
_VECTOR = ir.VectorType(_F32, LANES)
_MASK = ir.VectorType(ir.IntType(1), LANES)


def _lane_loop(context, builder, signature, args, start, step):
    """Emit ``acc = start; for each block of 16 values: acc = step(acc, block)`` over the first
    ``blocks`` blocks of ``values[base:]``, then combine the 16 lanes of ``acc`` by ``step``
    on adjacent pairs (lanes 0 and 1, 2 and 3, ...; then the pairs of those, four times) and
    return the float32 that remains."""
    array_type = signature.args[0]
    array = context.make_array(array_type)(context, builder, args[0])
    base, blocks = args[1], builder.zext(args[2], _I64) if args[2].type.width < 64 else args[2]
    first = builder.gep(array.data, [base])
    entry = builder.block
    loop = builder.append_basic_block("lanes.loop")
    done = builder.append_basic_block("lanes.done")
    builder.cbranch(builder.icmp_unsigned(">", blocks, ir.Constant(_I64, 0)), loop, done)
    with builder.goto_block(loop):
        index = builder.phi(_I64)
        acc = builder.phi(start.type)
        at = builder.gep(first, [builder.mul(index, ir.Constant(_I64, LANES))])
        block = builder.load(builder.bitcast(at, _VECTOR.as_pointer()), align=4)
        updated = step(builder, acc, block)
        following = builder.add(index, ir.Constant(_I64, 1))
        index.add_incoming(ir.Constant(_I64, 0), entry)
        index.add_incoming(following, builder.block)
        acc.add_incoming(start, entry)
        acc.add_incoming(updated, builder.block)
        builder.cbranch(builder.icmp_unsigned("<", following, blocks), loop, done)
    builder.position_at_end(done)
    result = builder.phi(start.type)
    result.add_incoming(start, entry)
    result.add_incoming(updated, loop)
    return _pairwise(builder, result, step)


def _pairwise(builder, vector, step):
    """The 16 lanes of ``vector`` combined by ``step`` on adjacent pairs, halving the vector
    each time ((0, 1), (2, 3), ...; then the pairs of those), four times: the scalar left."""
    width = LANES
    while width > 1:
        width //= 2
        even = builder.shuffle_vector(vector, vector, ir.Constant(
            ir.VectorType(ir.IntType(32), width), list(range(0, 2 * width, 2))))
        odd = builder.shuffle_vector(vector, vector, ir.Constant(
            ir.VectorType(ir.IntType(32), width), list(range(1, 2 * width, 2))))
        vector = step(builder, even, odd)
    return builder.extract_element(vector, ir.Constant(_I64, 0))


def _signature(values, base, blocks):
    if not (isinstance(values, types.Array) and values.dtype == types.float32
            and values.ndim == 1 and isinstance(base, types.Integer)
            and isinstance(blocks, types.Integer)):
        return None
    return types.float32(values, base, blocks)


@intrinsic
def lane_sum(typingctx, values, base, blocks):
    """``((s_0 + s_1) + (s_2 + s_3)) + ...`` (pairwise) with ``s_j = Σ_b values[base + 16·b +
    j]`` over ``b < blocks``, each lane summed in the order of ``b`` (0 when ``blocks`` is 0)."""
    signature = _signature(values, base, blocks)
    if signature is None:
        return None

    def codegen(context, builder, sig, args):
        zero = ir.Constant(_VECTOR, [0.0] * LANES)
        return _lane_loop(context, builder, sig, args, zero,
                          lambda b, acc, block: b.fadd(acc, block))
    return signature, codegen


def _extremum(comparison, start):
    """The codegen of a lane-wise maximum (``comparison`` ``">"``, ``start`` −inf) or minimum
    (``"<"``, inf): a NaN in a block replaces the lane, and a NaN lane stays (no value
    compares true against NaN)."""
    def codegen(context, builder, sig, args):
        def step(b, acc, block):
            take = b.or_(b.fcmp_unordered("uno", block, block),
                         b.fcmp_ordered(comparison, block, acc))
            return b.select(take, block, acc)
        return _lane_loop(context, builder, sig, args,
                          ir.Constant(_VECTOR, [start] * LANES), step)
    return codegen


@intrinsic
def lane_max(typingctx, values, base, blocks):
    """The maximum of ``values[base : base + 16·blocks]`` taken in 16 lanes as
    :func:`lane_sum` (−inf when ``blocks`` is 0), NaN when one of them is NaN."""
    signature = _signature(values, base, blocks)
    return None if signature is None else (signature, _extremum(">", float("-inf")))


@intrinsic
def lane_min(typingctx, values, base, blocks):
    """:func:`lane_max` with the comparison reversed: the minimum (inf when ``blocks`` is 0),
    NaN when one of the values is NaN."""
    signature = _signature(values, base, blocks)
    return None if signature is None else (signature, _extremum("<", float("inf")))


@inline
def run_sum(values, base, n):
    """``Σ values[base : base + n]``: :func:`lane_sum` over the blocks of 16, then the last
    ``n mod 16`` values one by one."""
    blocks = n // LANES
    total = lane_sum(values, base, blocks)
    for i in range(LANES * blocks, n):
        total += values[base + np.uint64(i)]
    return total


@inline
def run_max(values, base, n):
    """``max(values[base : base + n])`` (−inf for an empty run), NaN if any value is NaN, as
    ``np.max``."""
    blocks = n // LANES
    top = lane_max(values, base, blocks)
    for i in range(LANES * blocks, n):
        v = values[base + np.uint64(i)]
        top = v if (v != v) or (v > top) else top
    return top


@inline
def run_min(values, base, n):
    """``min(values[base : base + n])`` (inf for an empty run), NaN if any value is NaN."""
    blocks = n // LANES
    low = lane_min(values, base, blocks)
    for i in range(LANES * blocks, n):
        v = values[base + np.uint64(i)]
        low = v if (v != v) or (v < low) else low
    return low


def _element_type(dtype):
    return {types.float32: ir.FloatType(), types.float64: ir.DoubleType()}.get(dtype)


def _strided_codegen(accumulate, widen):
    """Codegen of a sum over ``runs`` runs of ``blocks`` blocks of 16 values each, run ``r``
    starting at ``first + r·stride`` in the flat arrays of the arguments: ``acc[j] =
    step(acc[j], values...)`` lane by lane, run by run and block by block in order, then the
    16 lanes added pairwise (as :func:`lane_sum`). ``accumulate(builder, acc, blocks)`` gives
    the new accumulator from the loaded blocks (one per array argument); ``widen`` sums float32
    data in float64 lanes."""
    from ember.kernels.tiles import _arguments, _counted_loop

    def codegen(context, builder, sig, args):
        arrays = [a for a in sig.args if isinstance(a, types.Array)]
        unpacked = _arguments(context, builder, sig, args)
        data, (first, stride, runs, blocks) = unpacked[:len(arrays)], unpacked[len(arrays):]
        element = _element_type(arrays[0].dtype)
        vector = ir.VectorType(element, LANES)
        wide = ir.VectorType(ir.DoubleType(), LANES) if widen else vector
        zero = ir.Constant(wide, [0.0] * LANES)

        def run(r, state):
            base = builder.add(first, builder.mul(r, stride))

            def block(b, state):
                at = builder.add(base, builder.mul(b, ir.Constant(_I64, LANES)))
                loaded = [builder.load(builder.bitcast(builder.gep(d, [at]), vector.as_pointer()),
                                       align=4) for d in data]
                if widen and element != ir.DoubleType():
                    loaded = [builder.fpext(v, wide) for v in loaded]
                return [accumulate(builder, state[0], loaded)]

            return _counted_loop(builder, blocks, state, block)

        result = _counted_loop(builder, runs, [zero], run)[0]
        return _pairwise(builder, result, lambda b, x, y: b.fadd(x, y))
    return codegen


def _strided_signature(result, arrays, ints):
    if not (all(isinstance(a, types.Array) and a.ndim == 1 and a.layout == "C"
                and a.dtype in (types.float32, types.float64) for a in arrays)
            and len({a.dtype for a in arrays}) == 1
            and all(isinstance(i, types.Integer) for i in ints)):
        return None
    return result(*arrays, *ints)


@intrinsic
def strided_sum(typingctx, values, first, stride, runs, blocks):
    """``Σ values[first + r·stride + 16·b + j]`` over ``r < runs``, ``b < blocks``, ``j < 16``:
    16 lanes in the values' dtype, each summed in order of (r, b), then added pairwise (a
    channel's total over the runs of an (N, C, L) array: ``first = c·L``, ``stride = C·L``)."""
    sig = _strided_signature(values.dtype if isinstance(values, types.Array) else None,
                             (values,), (first, stride, runs, blocks))
    return None if sig is None else (sig, _strided_codegen(
        lambda b, acc, loaded: b.fadd(acc, loaded[0]), widen=False))


@intrinsic
def strided_sum64(typingctx, values, first, stride, runs, blocks):
    """:func:`strided_sum` in float64 lanes (float32 values widened exactly): the mean of a
    channel to within float64 rounding."""
    sig = _strided_signature(types.float64, (values,), (first, stride, runs, blocks))
    return None if sig is None else (sig, _strided_codegen(
        lambda b, acc, loaded: b.fadd(acc, loaded[0]), widen=True))


@intrinsic
def strided_dot(typingctx, a, b, first, stride, runs, blocks):
    """``Σ a·b`` over the same elements as :func:`strided_sum` (both arrays indexed alike): each
    product rounded, then added to its lane (no fused multiply-add, as the NumPy code)."""
    sig = _strided_signature(a.dtype if isinstance(a, types.Array) else None, (a, b),
                             (first, stride, runs, blocks))
    return None if sig is None else (sig, _strided_codegen(
        lambda bld, acc, loaded: bld.fadd(acc, bld.fmul(loaded[0], loaded[1])), widen=False))
