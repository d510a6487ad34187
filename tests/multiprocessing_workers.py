"""Functions that tests/test_multiprocessing.py runs in child processes (a module of their
own, without torch, so that a spawned child imports only what it needs)."""
import numpy as np

import ember


def add_and_scale(tensor, parameter, done):
    tensor += 1
    with ember.no_grad():
        parameter.mul_(2)
    done.set()


def report(tensor, parameter, out):
    out.put((type(parameter).__name__, parameter.requires_grad, tensor.is_shared(),
             parameter.is_shared(), tensor.dtype.np.str, tuple(tensor.shape)))


def write_from_queue(queue, done):
    received = queue.get()
    received[0] = 42.0
    done.set()


def hogwild_worker(library, rank, model, images, labels, steps, counts):
    """pytorch/examples' mnist_hogwild ``train``: SGD on the shared model, on this worker's
    shard of the data; ``library`` is "ember" or "torch" (imported here, in the child)."""
    import importlib
    lib = importlib.import_module(library)
    lib.manual_seed(rank)
    optimizer = lib.optim.SGD(model.parameters(), lr=0.1, momentum=0.5)
    shard = np.arange(rank, len(labels), 2)
    for step in range(steps):
        batch = shard[(step * 16) % len(shard):][:16]
        optimizer.zero_grad()
        loss = lib.nn.functional.cross_entropy(model(lib.from_numpy(images[batch])),
                                               lib.from_numpy(labels[batch]))
        loss.backward()
        optimizer.step()
        counts[rank] += 1
