"""``ember.multiprocessing`` (``torch.multiprocessing``): Python's ``multiprocessing``, with
tensors in shared memory.

Everything of :mod:`multiprocessing` is here (``Process``, ``Queue``, ``Pool``,
``set_start_method``, ``get_context``, ...). ``tensor.share_memory_()`` (and
``module.share_memory()``) puts a tensor's values in memory that child processes map instead
of copying, whichever start method they use; a ``Queue`` passes a shared tensor as a handle
to the same memory. That is what Hogwild! training needs::

    import ember.multiprocessing as mp
    model.share_memory()
    workers = [mp.Process(target=train, args=(model,)) for _ in range(2)]

Where Ember differs: a tensor that is *not* in shared memory is copied when it is sent to
another process (torch moves it into shared memory first), and ``share_memory_`` refuses a
view (share the tensor it views) -- a NumPy array cannot move memory under the views already
taken of it. torch's ``spawn``/``start_processes`` helpers (used to start distributed
training) and its sharing-strategy switches are not here: there is one strategy, file
descriptors.
"""
import multiprocessing as _multiprocessing
from multiprocessing import *  # noqa: F401,F403

from ember.multiprocessing.shared_memory import register_reductions

register_reductions()

__all__ = list(_multiprocessing.__all__)
