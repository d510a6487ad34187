"""Ember's worker threads (``ember/_parallel.py``) and the ops that use them: the pool itself,
the split matrix product, and convolutions and max-pools cut over the threads, against NumPy,
against torch and against a one-thread run."""
import threading

import numpy as np
import pytest

import ember
from ember import _parallel
from ember.ops import _im2col as ic
from ember.ops import pooling as pool
from tests.harness import assert_close, check_parity


@pytest.fixture
def two_threads():
    """Two Ember threads whatever the machine, restored afterwards."""
    before = _parallel.get_num_threads()
    ember.set_num_threads(2)
    yield
    ember.set_num_threads(before)


# ------------------------------------------------------------------------------- the pool

def test_run_returns_results_in_task_order_and_uses_a_worker(two_threads):
    seen = set()
    barrier = threading.Barrier(2, timeout=10)

    def task(i):
        seen.add(threading.get_ident())
        if i < 2:
            barrier.wait()          # both threads must be inside a task at once
        return i * i
    assert _parallel.run([lambda i=i: task(i) for i in range(7)]) == [i * i for i in range(7)]
    assert len(seen) == 2


def test_run_raises_the_error_of_a_task_and_stays_usable(two_threads):
    def bad():
        raise ValueError("task failed")
    with pytest.raises(ValueError, match="task failed"):
        _parallel.run([lambda: 1, bad, lambda: 3])
    assert _parallel.run([lambda: 1, lambda: 2]) == [1, 2]


def test_run_keeps_no_reference_to_the_tasks_arguments(two_threads):
    """A worker holds its last job until the next one: the arrays a job's tasks reference
    must not stay alive through it (the engine would copy a gradient it could keep, and an
    op's buffers would outlive the op)."""
    import weakref
    from functools import partial
    data = np.ones((4, 8))
    alive = weakref.ref(data)
    out = np.empty_like(data)
    _parallel.run([partial(np.multiply, data[part], 2, out=out[part])
                   for part in _parallel.split(4, 2)])
    del data
    assert alive() is None
    np.testing.assert_array_equal(out, 2.0)


def test_nested_runs_and_busy_pool_run_serially(two_threads):
    def outer(i):
        inner_ids = _parallel.run([threading.get_ident, threading.get_ident])
        return len(set(inner_ids)), _parallel.enabled()
    assert _parallel.run([lambda i=i: outer(i) for i in range(2)]) == [(1, False), (1, False)]


def test_one_thread_runs_everything_on_the_caller():
    before = _parallel.get_num_threads()
    ember.set_num_threads(1)
    try:
        ids = _parallel.run([threading.get_ident] * 4)
        assert set(ids) == {threading.get_ident()}
        assert not _parallel.enabled()
    finally:
        ember.set_num_threads(before)


@pytest.mark.parametrize("bad", [0, -2, 1.5, "2", True])
def test_set_num_threads_rejects_non_positive_integers(bad):
    with pytest.raises(ValueError, match="set_num_threads: expected a positive integer"):
        ember.set_num_threads(bad)


def test_thread_count_from_the_environment(monkeypatch):
    monkeypatch.setenv("EMBER_NUM_THREADS", "3")
    assert _parallel._default_threads() == 3
    monkeypatch.delenv("EMBER_NUM_THREADS")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert _parallel._default_threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "many")
    with pytest.raises(ValueError, match="OMP_NUM_THREADS must be a positive integer, got 'many'"):
        _parallel._default_threads()


@pytest.mark.parametrize("length, parts, minimum, sizes", [
    (10, 2, 1, [5, 5]), (7, 3, 1, [3, 2, 2]), (3, 8, 1, [1, 1, 1]), (10, 4, 4, [5, 5]),
    (2, 4, 4, [2]), (0, 2, 1, [0]),
])
def test_split_cuts_contiguous_near_equal_slices(length, parts, minimum, sizes):
    slices = _parallel.split(length, parts, minimum)
    assert [len(range(length)[s]) for s in slices] == sizes
    assert slices[0].start == 0 and slices[-1].stop == length


# ------------------------------------------------------------------ the split matrix product

@pytest.mark.parametrize("a_shape, b_shape", [
    ((130, 70), (70, 40)),           # rows split
    ((20, 70), (70, 150)),           # columns split
    ((6, 33, 17), (6, 17, 21)),      # batch split
    ((3, 1, 30, 20), (4, 20, 25)),   # broadcast batch dims
    ((1, 30, 20), (5, 20, 25)),      # a broadcast leading dim
    ((50, 20), (3, 20, 30)),         # a 2-D operand against a batch
])
def test_matmul_split_over_threads_equals_numpy(two_threads, monkeypatch, a_shape, b_shape):
    monkeypatch.setattr(_parallel, "MATMUL_SPLIT_MACS", 1)
    monkeypatch.setattr(_parallel, "_blas_limited", True)
    rng = np.random.default_rng(0)
    a = rng.standard_normal(a_shape).astype(np.float32)
    b = rng.standard_normal(b_shape).astype(np.float32)
    got = _parallel.matmul(a, b)
    assert got.shape == np.matmul(a, b).shape and got.dtype == np.float32
    assert_close(got, np.matmul(a, b))
    assert_close(_parallel.matmul(a.astype(np.float64), b.astype(np.float64)),
                 np.matmul(a.astype(np.float64), b.astype(np.float64)))


@pytest.mark.parametrize("a_shape, b_shape", [
    ((256, 1), (1, 784)),            # the weight gradient of a batch of one
    ((3, 5, 1), (1, 7)),             # batched against a matrix
    ((2, 1, 4, 1), (3, 1, 6)),       # broadcast batch dims
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_matmul_over_one_term_is_the_exact_outer_product(a_shape, b_shape, dtype):
    rng = np.random.default_rng(2)
    a = (rng.standard_normal(a_shape) * 50).astype(dtype)
    b = (rng.standard_normal(b_shape) * 50).astype(dtype)
    got, want = _parallel.matmul(a, b), np.matmul(a, b)
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def test_linear_with_split_products_matches_torch(two_threads, monkeypatch):
    monkeypatch.setattr(_parallel, "MATMUL_SPLIT_MACS", 1)
    monkeypatch.setattr(_parallel, "_blas_limited", True)
    rng = np.random.default_rng(1)
    check_parity(lambda m, x, w, b: m.nn.functional.linear(x, w, b),
                 [rng.standard_normal((2, 9, 12)), rng.standard_normal((7, 12)),
                  rng.standard_normal(7)], dtype=np.float32)


# ------------------------------------------------------------- convolutions over the threads

CONV_CASES = [  # (input shape, weight shape, keyword arguments): thin and wide GEMMs
    ((9, 1, 12, 12), (6, 1, 5, 5), dict(padding=2)),
    ((8, 6, 9, 9), (40, 6, 3, 3), dict(padding=1)),
    ((7, 4, 10, 9), (6, 2, 3, 2), dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2)),
    ((6, 3, 11), (36, 3, 4), dict(stride=2, padding=1)),
    ((5, 2, 5, 6, 5), (3, 2, 2, 3, 2), dict(padding=1)),
]


@pytest.mark.parametrize("x_shape, w_shape, kw", CONV_CASES)
def test_conv_parts_on_two_threads_match_torch(two_threads, monkeypatch, x_shape, w_shape, kw):
    monkeypatch.setattr(ic, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(ic, "CHUNK_BYTES", 4096)
    monkeypatch.setattr(ic, "WIDE_CHUNK_BYTES", 4096)
    nd = len(w_shape) - 2
    chunks = ic.batch_chunks(x_shape[0], int(np.prod(w_shape[1:])), 30,
                             w_shape[0] // kw.get("groups", 1), 4)
    assert len(chunks) >= 2 and len(chunks) % 2 == 0
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal(x_shape), rng.standard_normal(w_shape),
              rng.standard_normal(w_shape[0])]
    conv = {1: "conv1d", 2: "conv2d", 3: "conv3d"}[nd]
    check_parity(lambda m, *t: getattr(m.nn.functional, conv)(*t, **kw), arrays,
                 dtype=np.float32)


def test_thin_conv_gemm_in_column_blocks_matches_torch(monkeypatch):
    monkeypatch.setattr(ic, "GEMM_BLOCK_BYTES", 25 * 4 * 300)
    monkeypatch.setattr(ic, "CHUNK_MIN_COLUMNS", 256)
    assert len(ic._column_blocks(6, 25, 4 * 144, 4)) == 2
    rng = np.random.default_rng(3)
    check_parity(lambda m, x, w, b: m.nn.functional.conv2d(x, w, b, padding=2),
                 [rng.standard_normal((4, 1, 12, 12)), rng.standard_normal((6, 1, 5, 5)),
                  rng.standard_normal(6)], dtype=np.float32)


def test_batch_chunks_give_every_thread_work_once_the_columns_are_large(two_threads):
    # LeNet-5's first conv at batch 64: 5 MB of columns
    chunks = ic.batch_chunks(64, 25, 784, 6, 4)
    assert len(chunks) % 2 == 0 and sum(len(range(64)[c]) for c in chunks) == 64
    # a ResNet layer: the column workspace per chunk stays bounded
    chunks = ic.batch_chunks(128, 576, 1024, 64, 4)
    assert max(len(range(128)[c]) for c in chunks) * 576 * 1024 * 4 <= ic.WIDE_CHUNK_BYTES
    # tiny: one chunk
    assert ic.batch_chunks(2, 9, 16, 4, 4) == [slice(0, 2)]


# --------------------------------------------------------------- max-pools over the threads

@pytest.mark.parametrize("args", [(2,), (3, 2, 1), ((2, 3), (2, 3))])
def test_max_pool_halves_on_two_threads_match_torch(two_threads, monkeypatch, args):
    monkeypatch.setattr(_parallel, "PARALLEL_MIN_ELEMENTS", 0)
    rng = np.random.default_rng(4)
    x = rng.integers(0, 4, (5, 3, 9, 10)).astype(np.float32)     # ties everywhere
    check_parity(lambda m, x: m.nn.functional.max_pool2d(x, *args, return_indices=True), [x])


def test_max_pool_window_with_two_nans_reports_the_last_like_torch():
    import torch
    x = np.array([[[[np.nan, 1.0], [np.nan, 5.0]]]], np.float32)
    e_out, e_idx = pool.max_pool2d(ember.tensor(x), 2, return_indices=True)
    t_out, t_idx = torch.nn.functional.max_pool2d(torch.tensor(x), 2, return_indices=True)
    assert np.isnan(e_out.item()) and e_idx.item() == t_idx.item() == 2


# -------------------------------------------------------- one thread and two give one answer

def test_lenet_step_on_one_and_two_threads_agrees(monkeypatch):
    """The same training-step gradients (to float32 rounding) whatever the thread count, with
    the parallel paths forced on at test size."""
    monkeypatch.setattr(ic, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(_parallel, "PARALLEL_MIN_ELEMENTS", 0)
    monkeypatch.setattr(_parallel, "MATMUL_SPLIT_MACS", 1)
    x = ember.randn(16, 1, 28, 28)
    y = ember.randint(0, 10, (16,))
    before = _parallel.get_num_threads()
    grads = {}
    try:
        for threads in (1, 2):
            ember.set_num_threads(threads)
            ember.manual_seed(0)
            model = ember.vision.models.lenet5(padded=True)
            loss = ember.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            grads[threads] = [p.grad.numpy().copy() for p in model.parameters()]
    finally:
        ember.set_num_threads(before)
    for g1, g2 in zip(grads[1], grads[2]):
        assert_close(g2, g1)


# ------------------------------------------- batch norm (by channels) and ReLU (by rows)

@pytest.mark.parametrize("shape", [(6, 5, 4, 3), (7, 9), (4, 6, 10)])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_channels_on_two_threads_match_torch(two_threads, monkeypatch, shape, affine):
    monkeypatch.setattr(_parallel, "PARALLEL_MIN_ELEMENTS", 0)
    rng = np.random.default_rng(5)
    c = shape[1]
    arrays = [rng.standard_normal(shape) * 3 + 1]
    if affine:
        arrays += [rng.standard_normal(c), rng.standard_normal(c)]

    def fn(m, x, *wb):
        w, b = wb if wb else (None, None)
        return m.nn.functional.batch_norm(x, m.zeros(c), m.ones(c), w, b, training=True)
    check_parity(fn, arrays, dtype=np.float32)


def test_layer_and_group_norm_on_two_threads_match_torch(two_threads, monkeypatch):
    monkeypatch.setattr(_parallel, "PARALLEL_MIN_ELEMENTS", 0)
    rng = np.random.default_rng(6)
    x, w, b = rng.standard_normal((4, 6, 5)), rng.standard_normal(5), rng.standard_normal(5)
    check_parity(lambda m, x, w, b: m.nn.functional.layer_norm(x, (5,), w, b), [x, w, b],
                 dtype=np.float32)
    check_parity(lambda m, x: m.nn.functional.group_norm(x, 3), [x], dtype=np.float32)


def test_relu_rows_on_two_threads_match_torch(two_threads, monkeypatch):
    monkeypatch.setattr(_parallel, "PARALLEL_MIN_ELEMENTS", 0)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((5, 3, 4))
    x[0, 0, :2] = 0.0                       # the gradient at 0 is 0, as in torch
    check_parity(lambda m, x: m.relu(x), [x], dtype=np.float32)
    check_parity(lambda m, x: m.nn.functional.relu(x.transpose(0, 2)), [x], dtype=np.float32)
    ints = np.arange(-6, 6).reshape(4, 3)
    np.testing.assert_array_equal(ember.relu(ember.tensor(ints)).numpy(), np.maximum(ints, 0))


def test_one_thread_from_the_environment_limits_blas_too(monkeypatch):
    from threadpoolctl import threadpool_info, threadpool_limits
    monkeypatch.setattr(_parallel, "_threads", None)
    monkeypatch.setattr(_parallel, "_blas_limited", False)
    monkeypatch.setenv("EMBER_NUM_THREADS", "1")
    with threadpool_limits(limits=2, user_api="blas"):
        assert _parallel.get_num_threads() == 1
        assert all(p["num_threads"] == 1 for p in threadpool_info() if p["user_api"] == "blas")


@pytest.mark.parametrize("case", ["index", "smoothing", "probs", "spatial"])
def test_cross_entropy_row_blocks_on_two_threads_match_torch(two_threads, monkeypatch, case):
    from ember.ops import loss
    monkeypatch.setattr(loss, "CE_PARALLEL_MIN_ELEMENTS", 0)
    rng = np.random.default_rng(8)
    x = rng.standard_normal((7, 5, 3) if case == "spatial" else (7, 5)) * 4
    if case == "probs":
        t = rng.random((7, 5))
        t /= t.sum(1, keepdims=True)
        check_parity(lambda m, x, t: m.nn.functional.cross_entropy(x, t), [x, t],
                     dtype=np.float32)
        return
    y = rng.integers(0, 5, (7, 3) if case == "spatial" else (7,))
    y[0] = -100 if case == "index" else y[0]
    eps = 0.1 if case == "smoothing" else 0.0
    check_parity(lambda m, x, y: m.nn.functional.cross_entropy(x, y, label_smoothing=eps),
                 [x, y], dtype=np.float32)


# ------------------------------------------- batches of LAPACK calls cut over the threads

def _linalg_outputs(threads, seed, batch, n):
    """Forward outputs and input gradients of solve, inv, cholesky, qr, eigh and svd on one
    batch of ``batch`` n x n matrices, at ``threads`` Ember threads."""
    from ember import linalg
    ember.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(batch + (n, n))
    spd = a @ np.swapaxes(a, -1, -2) + n * np.eye(n)
    # the right-hand side broadcasts over the first batch dim: with no such dim, or size 1
    b = rng.standard_normal((1,) * (len(batch) > 1) + batch[1:] + (n, 3))
    A, S, B = (ember.tensor(v, requires_grad=True) for v in (a, spd, b))
    outs = [linalg.solve(A, B), linalg.inv(A), linalg.cholesky(S), *linalg.qr(A),
            *linalg.eigh(S), linalg.svd(A).S, linalg.svdvals(A), linalg.eigvalsh(S)]
    sum(((o * o).sum() for o in outs), ember.tensor(0.0, dtype=ember.float64)).backward()
    return [o.detach().numpy() for o in outs] + [A.grad.numpy(), S.grad.numpy(),
                                                B.grad.numpy()]


def _cut_every_lapack_batch(monkeypatch, ld):
    monkeypatch.setattr(ld, "LAPACK_SPLIT_SECONDS", 0.0)
    monkeypatch.setattr(ld, "_LAPACK_COSTS",
                        {fn: (k, 1) for fn, (k, _) in ld._LAPACK_COSTS.items()})


@pytest.mark.parametrize("batch", [(5,), (3, 4)])
def test_lapack_batches_on_two_threads_equal_one_thread_bit_for_bit(monkeypatch, batch):
    """Every matrix is factorised on its own, so cutting the batch changes no bit; with the
    threshold at zero every call of the test is cut (checked), odd sizes and a broadcast
    right-hand side included."""
    from ember.ops import linalg_decompositions as ld
    _cut_every_lapack_batch(monkeypatch, ld)
    cut = []
    real_parts = ld._lapack_parts
    monkeypatch.setattr(ld, "_lapack_parts", lambda fn, arrays: cut.append(
        real_parts(fn, arrays)) or cut[-1])
    before = _parallel.get_num_threads()
    try:
        one = _linalg_outputs(1, 7, batch, 6)
        assert not any(cut)
        cut.clear()
        two = _linalg_outputs(2, 7, batch, 6)
    finally:
        ember.set_num_threads(before)
    assert cut and all(parts is not None and len(parts) == 2 for parts in cut), cut
    for got, want in zip(two, one):
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)


def test_lapack_split_names_the_first_singular_matrix(two_threads, monkeypatch):
    """A singular matrix in the second thread's block still gives torch's message naming it."""
    from ember.ops import linalg_decompositions as ld
    _cut_every_lapack_batch(monkeypatch, ld)
    a = np.random.default_rng(3).standard_normal((6, 4, 4))
    a[4] = 0.0
    assert ld._lapack_parts(np.linalg.solve, (a, a)) is not None
    with pytest.raises(ember.linalg.LinAlgError, match=r"linalg.solve: \(Batch element 4\)"):
        ember.linalg.solve(ember.tensor(a), ember.tensor(a))
    with pytest.raises(ember.linalg.LinAlgError, match=r"linalg.inv: \(Batch element 4\)"):
        ember.linalg.inv(ember.tensor(a))


def test_lapack_split_is_chosen_by_estimated_time(two_threads):
    """Large batches of eigen/SVD problems and of 64x64 solves are cut; small batches, small
    LU problems and determinants are not; one thread never cuts."""
    from ember.ops import linalg_decompositions as ld
    big = np.zeros((256, 16, 16), np.float32)
    assert ld._lapack_parts(np.linalg.svd, (big,)) is not None
    assert ld._lapack_parts(np.linalg.eigh, (big,)) is not None
    assert ld._lapack_parts(np.linalg.solve, (big, big)) is None        # 16 x 16 LU: not cut
    assert ld._lapack_parts(np.linalg.det, (big,)) is None
    assert ld._lapack_parts(np.linalg.svd, (big[:4],)) is None
    lu = np.zeros((64, 64, 64), np.float32)
    assert ld._lapack_parts(np.linalg.solve, (lu, lu[..., :8])) is not None
    ember.set_num_threads(1)
    assert ld._lapack_parts(np.linalg.svd, (big,)) is None
