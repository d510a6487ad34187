"""Tensors in shared memory (``share_memory_``, ``is_shared``, ``Module.share_memory``) across
processes started by fork, spawn and forkserver, through arguments and queues; and a tiny
Hogwild! run, two processes training one shared model, as torch.multiprocessing allows."""
import pickle

import numpy as np
import pytest
import torch

import ember
import ember.multiprocessing as mp
from tests import multiprocessing_workers as workers

METHODS = ["fork", "spawn", "forkserver"]


def test_share_memory_moves_values_in_place():
    t = ember.arange(6.0).reshape(2, 3).clone()
    assert not t.is_shared()
    assert t.share_memory_() is t and t.is_shared()
    np.testing.assert_array_equal(t.numpy(), np.arange(6.0).reshape(2, 3))
    data = t._data
    t.share_memory_()
    assert t._data is data                         # already shared: nothing moves
    assert t[0].is_shared()                        # a view of shared memory is shared
    with pytest.raises(RuntimeError, match="view"):
        ember.zeros(4)[1:].share_memory_()
    copy = pickle.loads(pickle.dumps(t))           # ordinary pickling copies
    assert not copy.is_shared() and copy.tolist() == t.tolist()
    assert ember.zeros(0, dtype=ember.int64).share_memory_().is_shared()


def test_module_share_memory_like_torch():
    def net(lib):
        return lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.BatchNorm1d(4))
    for lib in (torch, ember):
        model = net(lib)
        assert model.share_memory() is model
        assert all(p.is_shared() for p in model.parameters())
        assert all(b.is_shared() for b in model.buffers())
        model(lib.ones(2, 3)).sum().backward()
        assert not model[0].weight.grad.is_shared()   # gradients come later, not shared
    with pytest.raises(RuntimeError, match="uninitialized"):
        ember.nn.LazyLinear(2).share_memory()


@pytest.mark.parametrize("method", METHODS)
def test_children_write_into_shared_tensors(method):
    ctx = mp.get_context(method)
    tensor = ember.zeros(3).share_memory_()
    parameter = ember.nn.Parameter(ember.ones(2, 2)).share_memory_()
    done, out = ctx.Event(), ctx.Queue()
    child = ctx.Process(target=workers.add_and_scale, args=(tensor, parameter, done))
    child.start()
    child.join(60)
    assert child.exitcode == 0 and done.is_set()
    assert tensor.tolist() == [1.0, 1.0, 1.0] and parameter.tolist() == [[2.0, 2.0]] * 2
    child = ctx.Process(target=workers.report, args=(tensor, parameter, out))
    child.start()
    assert out.get(timeout=60) == ("Parameter", True, True, True, "<f4", (3,))
    child.join(60)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_queue_passes_a_handle_to_the_same_memory(method):
    ctx = mp.get_context(method)
    tensor = ember.zeros(4).share_memory_()
    queue, done = ctx.Queue(), ctx.Event()
    child = ctx.Process(target=workers.write_from_queue, args=(queue, done))
    child.start()
    queue.put(tensor)
    child.join(60)
    assert done.is_set() and tensor.tolist() == [42.0, 0.0, 0.0, 0.0]


def _hogwild(init, train, steps):
    """Two spawned Ember workers train one shared model from the state ``init``; returns the
    model and how many steps each worker took."""
    nn = ember.nn
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    model.load_state_dict(init)
    model.share_memory()
    counts = ember.zeros(2, dtype=ember.int64).share_memory_()
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=workers.hogwild_worker,
                         args=("ember", rank, model, *train, steps, counts)) for rank in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    return model, counts.tolist()


def _interleaved_in_torch(init, train, steps):
    """What Hogwild! approximates, in torch: the two workers' SGD steps (each worker with its
    own optimizer and shard) taken in turn on one model, in one process."""
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in init.items()})
    threads = torch.get_num_threads()
    torch.set_num_threads(1)   # its thread pool costs more than these tiny steps
    optimizers = [torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.5) for _ in range(2)]
    shards = [np.arange(rank, len(train[1]), 2) for rank in range(2)]
    for step in range(steps):
        for optimizer, shard in zip(optimizers, shards):
            batch = shard[(step * 16) % len(shard):][:16]
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(torch.from_numpy(train[0][batch])),
                                              torch.from_numpy(train[1][batch])).backward()
            optimizer.step()
    torch.set_num_threads(threads)
    return model


def test_hogwild_two_processes_train_one_shared_model():
    """pytorch/examples' mnist_hogwild in small: two spawned processes update the parent's
    model through shared memory at the same time, without locks (so the interleaving of their
    steps varies from run to run); the held-out loss falls as far as it does when torch takes
    the same steps in turn."""
    from sklearn.datasets import load_digits
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32).reshape(-1, 64)
    labels = digits.target.astype(np.int64)
    train, test = (images[:1200], labels[:1200]), (images[1200:], labels[1200:])
    torch.manual_seed(0)
    start = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    init = {k: v.numpy() for k, v in start.state_dict().items()}

    def held_out_loss(lib, model):
        with lib.no_grad():
            out = model(lib.from_numpy(test[0]))
            return lib.nn.functional.cross_entropy(out, lib.from_numpy(test[1])).item()

    steps = 40
    ours, counts = _hogwild(init, train, steps)
    assert counts == [steps, steps]                 # both processes wrote to shared memory
    before = held_out_loss(torch, start)
    ours_after = held_out_loss(ember, ours)
    theirs_after = held_out_loss(torch, _interleaved_in_torch(init, train, steps))
    assert ours_after < 0.6 * before, (before, ours_after)
    assert abs(ours_after - theirs_after) < 0.15 * before, (before, ours_after, theirs_after)
