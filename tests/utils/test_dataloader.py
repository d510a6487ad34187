"""DataLoader: batching, shuffling under seed, samplers, prefetch threads, errors."""
import threading
import time

import numpy as np
import pytest
import torch
import torch.utils.data as tud

import ember
from ember.utils.data import (BatchSampler, DataLoader, Dataset, IterableDataset, SequentialSampler,
                              TensorDataset, fetch_rng, get_worker_info)


def _indices(batches):
    return [b[1].tolist() for b in batches]


def _dataset(n=10):
    return TensorDataset(ember.from_numpy(np.arange(2 * n, dtype=np.float32).reshape(n, 2)),
                         ember.arange(n))


@pytest.mark.parametrize("n, batch_size, drop_last", [(10, 4, False), (10, 4, True), (8, 4, True),
                                                      (3, 5, False), (3, 5, True), (7, 1, False)])
def test_batches_match_torch_without_shuffle(n, batch_size, drop_last):
    data = np.random.default_rng(0).standard_normal((n, 3)).astype(np.float32)
    ours = list(DataLoader(TensorDataset(ember.from_numpy(data), ember.arange(n)),
                           batch_size=batch_size, drop_last=drop_last))
    loader = tud.DataLoader(tud.TensorDataset(torch.from_numpy(data), torch.arange(n)),
                            batch_size=batch_size, drop_last=drop_last)
    theirs = list(loader)
    assert len(ours) == len(theirs) == len(DataLoader(_dataset(n), batch_size=batch_size,
                                                      drop_last=drop_last)) == len(loader)
    for (x, y), (tx, ty) in zip(ours, theirs):
        np.testing.assert_array_equal(x.numpy(), tx.numpy())
        np.testing.assert_array_equal(y.numpy(), ty.numpy())
        assert y.dtype == ember.int64


def test_each_epoch_is_a_fresh_permutation():
    """The lectures' loop: every epoch shuffles the data set, every sample is seen once."""
    # inventory A16
    loader = DataLoader(_dataset(12), batch_size=5, shuffle=True)
    epochs = [sum(_indices(loader), []) for _ in range(3)]
    for order in epochs:
        assert sorted(order) == list(range(12))
    assert epochs[0] != epochs[1] != epochs[2]


def test_shuffle_is_reproducible_under_manual_seed():
    loader = DataLoader(_dataset(20), batch_size=6, shuffle=True)
    ember.manual_seed(123)
    a = [_indices(loader) for _ in range(2)]
    ember.manual_seed(123)
    b = [_indices(loader) for _ in range(2)]
    ember.manual_seed(124)
    c = [_indices(loader) for _ in range(2)]
    assert a == b and a != c


def test_generator_argument_drives_shuffling():
    def epoch(seed):
        g = ember.Generator().manual_seed(seed)
        return _indices(DataLoader(_dataset(20), batch_size=4, shuffle=True, generator=g))
    ember.manual_seed(0)
    a = epoch(7)
    ember.manual_seed(1)                      # the default generator plays no part
    assert epoch(7) == a
    assert epoch(8) != a


class Augmented(Dataset):
    """Sample i plus noise drawn from the fetch stream (what random transforms use); items
    sleep for a varying time so that worker threads finish out of order."""

    def __init__(self, n, sleep=0.0):
        self.n, self.sleep = n, sleep
        self.threads = set()

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        self.threads.add(threading.current_thread().name)
        if self.sleep:
            time.sleep(self.sleep * ((7 * i) % 5))
        return np.float64(i) + fetch_rng().random(), i


@pytest.mark.parametrize("shuffle", [False, True])
def test_prefetch_threads_yield_the_same_batches_as_no_prefetch(shuffle):
    def run(num_workers, **kw):
        ember.manual_seed(42)
        ds = Augmented(23, sleep=0.001)
        loader = DataLoader(ds, batch_size=4, shuffle=shuffle, num_workers=num_workers, **kw)
        return [(x.numpy().tolist(), y.tolist()) for x, y in loader], ds.threads
    reference, main_threads = run(0)
    assert main_threads == {threading.current_thread().name}
    for workers, kw in ((1, {}), (2, {}), (3, {"prefetch_factor": 1})):
        batches, threads = run(workers, **kw)
        assert batches == reference
        assert threads and all(t.startswith("ember-DataLoader-worker-") for t in threads)
    labels = sum((y for _, y in reference), [])
    assert sorted(labels) == list(range(23))
    noise = np.array(sum((x for x, _ in reference), [])) - np.array(labels)
    assert np.all((noise > 0) & (noise < 1)) and len(set(noise.round(9))) == 23


def test_random_draws_differ_between_epochs_and_seeds():
    def epoch(seed=None):
        if seed is not None:
            ember.manual_seed(seed)
        return [x.numpy().tolist() for x, _ in DataLoader(Augmented(6), batch_size=3)]
    a, b = epoch(0), epoch()
    assert a != b
    assert epoch(0) == a


class Recording(Dataset):
    def __init__(self, n):
        self.n = n
        self.fetched = []
        self.lock = threading.Lock()

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        with self.lock:
            self.fetched.append(i)
        return i


def test_workers_prefetch_ahead_but_within_bound():
    ds = Recording(100)
    it = iter(DataLoader(ds, batch_size=2, num_workers=2, prefetch_factor=3))
    deadline = time.time() + 5
    while len(ds.fetched) < 12 and time.time() < deadline:   # 2 workers x 3 batches x 2 items
        time.sleep(0.005)
    time.sleep(0.05)
    assert len(ds.fetched) == 12                  # loaded before anyone asked, and no more
    assert next(it).tolist() == [0, 1]
    deadline = time.time() + 5
    while len(ds.fetched) < 14 and time.time() < deadline:
        time.sleep(0.005)
    assert sorted(ds.fetched) == list(range(14))


def test_worker_threads_stop_after_the_epoch_and_after_break():
    def live():
        return {t for t in threading.enumerate() if t.name.startswith("ember-DataLoader-worker")}
    before = live()
    for _ in DataLoader(Recording(10), batch_size=3, num_workers=2):
        pass
    it = iter(DataLoader(Recording(50), batch_size=2, num_workers=3))
    next(it)
    stream = iter(DataLoader(Stream(100), batch_size=2, num_workers=1))
    next(stream)
    assert len(live() - before) >= 4
    del it, stream
    deadline = time.time() + 5
    while live() - before and time.time() < deadline:
        time.sleep(0.01)
    assert live() - before == set()


def test_sampler_and_batch_sampler_arguments():
    ds = _dataset(10)
    order = [9, 0, 8, 1]
    assert _indices(DataLoader(ds, batch_size=3, sampler=order)) == [[9, 0, 8], [1]]
    groups = [[1, 2], [7], [3, 4, 5]]
    assert _indices(DataLoader(ds, batch_sampler=groups)) == groups
    bs = BatchSampler(SequentialSampler(ds), 4, drop_last=True)
    loader = DataLoader(ds, batch_sampler=bs)
    assert len(loader) == 2 and _indices(loader) == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_batch_size_none_yields_single_converted_samples():
    class Arrays(Dataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return np.full(2, i, dtype=np.float32), i
    out = list(DataLoader(Arrays(), batch_size=None))
    assert len(out) == 3 and len(DataLoader(Arrays(), batch_size=None)) == 3
    x, y = out[2]
    assert isinstance(x, ember.Tensor) and x.tolist() == [2.0, 2.0] and y == 2


def test_custom_collate_fn_and_pin_memory():
    seen = []

    def collate(samples):
        seen.append(len(samples))
        return sum(int(s[1]) for s in samples)
    loader = DataLoader(_dataset(7), batch_size=3, collate_fn=collate, pin_memory=True)
    assert list(loader) == [0 + 1 + 2, 3 + 4 + 5, 6] and seen == [3, 3, 1]
    assert loader.pin_memory is True


def test_worker_init_fn_runs_in_each_worker_thread():
    calls = []

    def init(worker_id):
        calls.append((worker_id, threading.current_thread().name, get_worker_info().num_workers))
    list(DataLoader(_dataset(6), batch_size=2, num_workers=3, worker_init_fn=init))
    assert sorted(calls) == [(k, f"ember-DataLoader-worker-{k}", 3) for k in range(3)]
    assert get_worker_info() is None


def test_worker_init_failure_is_raised():
    def init(worker_id):
        raise KeyError("bad init")
    with pytest.raises(KeyError, match="bad init"):
        iter(DataLoader(_dataset(6), num_workers=2, worker_init_fn=init))


class Failing(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        if i == 5:
            raise ValueError("sample 5 is broken")
        return i


@pytest.mark.parametrize("num_workers", [0, 2])
def test_errors_in_the_dataset_reach_the_caller(num_workers):
    it = iter(DataLoader(Failing(), batch_size=2, num_workers=num_workers))
    assert next(it).tolist() == [0, 1] and next(it).tolist() == [2, 3]
    with pytest.raises(ValueError, match="sample 5 is broken"):
        next(it)


def test_timeout_raises():
    class Slow(Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            time.sleep(0.3)
            return i
    with pytest.raises(RuntimeError, match="timed out after 0.05 seconds"):
        list(DataLoader(Slow(), num_workers=1, timeout=0.05))


def test_argument_errors():
    ds = _dataset(4)
    with pytest.raises(ValueError, match="mutually exclusive with shuffle"):
        DataLoader(ds, sampler=[0, 1], shuffle=True)
    with pytest.raises(ValueError, match="batch_sampler option is mutually exclusive"):
        DataLoader(ds, batch_sampler=[[0]], batch_size=2)
    with pytest.raises(ValueError, match="drop_last"):
        DataLoader(ds, batch_size=None, drop_last=True)
    with pytest.raises(ValueError, match="prefetch_factor"):
        DataLoader(ds, prefetch_factor=2)
    with pytest.raises(ValueError, match="num_workers"):
        DataLoader(ds, num_workers=-1)
    with pytest.raises(ValueError, match="timeout"):
        DataLoader(ds, timeout=-1)
    assert DataLoader(ds, num_workers=2).prefetch_factor == 2


class Stream(IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = get_worker_info()
        start = 0 if info is None else info.id       # torch-style sharding stays correct
        step = 1 if info is None else info.num_workers
        for i in range(start, self.n, step):
            yield i + fetch_rng().random()

    def __len__(self):
        return self.n


@pytest.mark.parametrize("drop_last", [False, True])
def test_iterable_dataset_batches_in_order(drop_last):
    def run(num_workers):
        ember.manual_seed(3)
        loader = DataLoader(Stream(10), batch_size=4, drop_last=drop_last, num_workers=num_workers)
        return [b.numpy() for b in loader], len(loader)
    reference, length = run(0)
    assert length == len(reference) == (2 if drop_last else 3)
    np.testing.assert_array_equal(np.floor(np.concatenate(reference)),
                                  np.arange(8 if drop_last else 10))
    for workers in (1, 2):
        batches, _ = run(workers)
        assert len(batches) == len(reference)
        for a, b in zip(batches, reference):
            np.testing.assert_array_equal(a, b)


def test_iterable_dataset_errors():
    with pytest.raises(ValueError, match="expected unspecified shuffle"):
        DataLoader(Stream(3), shuffle=True)
    with pytest.raises(ValueError, match="expected unspecified sampler"):
        DataLoader(Stream(3), sampler=[0])

    class Broken(IterableDataset):
        def __iter__(self):
            yield 1
            raise OSError("stream broke")
    with pytest.raises(OSError, match="stream broke"):
        list(DataLoader(Broken(), batch_size=1, num_workers=1))
