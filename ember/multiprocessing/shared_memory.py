"""Tensors in memory that several processes share: what ``Tensor.share_memory_()`` does.

A shared tensor's values live in an anonymous memory file (``memfd`` on Linux, an unlinked
temporary file elsewhere) mapped with ``MAP_SHARED``. A process started with ``fork``
inherits the mapping; for ``spawn``/``forkserver`` children and for ``Queue``s, pickling by
``multiprocessing`` sends the file descriptor (``multiprocessing.reduction.DupFd``) and the
receiver maps the same memory, so an in-place update in any process (an optimizer step) is
seen by all -- Hogwild! training (pytorch/examples' mnist_hogwild). The memory is freed when
the last process holding a mapping of it lets go. Ordinary pickling (``pickle.dumps``,
``ember.save``) still copies the values.
"""
import mmap
import os
import pickle
import tempfile
import weakref

import numpy as np

_registered = False


class SharedBlock(mmap.mmap):
    """A shared mapping of ``size`` bytes of the file ``fd``; keeps ``fd`` open (to pass it
    to other processes) until the mapping is garbage collected."""

    def __new__(cls, fd, size):
        block = super().__new__(cls, fd, size, flags=mmap.MAP_SHARED,
                                prot=mmap.PROT_READ | mmap.PROT_WRITE)
        block.fd = fd
        block.nbytes = size
        weakref.finalize(block, os.close, fd)
        return block

    @classmethod
    def allocate(cls, size):
        size = max(int(size), 1)   # a mapping cannot be empty
        if hasattr(os, "memfd_create"):
            fd = os.memfd_create("ember-tensor", os.MFD_CLOEXEC)
        else:
            with tempfile.TemporaryFile() as handle:
                fd = os.dup(handle.fileno())
        os.ftruncate(fd, size)
        return cls(fd, size)

    def address(self):
        return np.frombuffer(self, dtype=np.uint8, count=1).__array_interface__["data"][0]


def block_of(array):
    """The :class:`SharedBlock` that ``array``'s memory belongs to, or None."""
    base = array
    while isinstance(base, np.ndarray):
        base = base.base
    return base if isinstance(base, SharedBlock) else None


def share(tensor):
    """Move ``tensor``'s values into a new shared block, in place (``Tensor.share_memory_``)."""
    register_reductions()
    if block_of(tensor._data) is not None:
        return tensor
    if tensor._base is not None:
        raise RuntimeError(f"share_memory_: this tensor (shape {tuple(tensor.shape)}) is a view "
                           f"of another one; share the tensor it views instead")
    values = tensor._data
    block = SharedBlock.allocate(values.nbytes)
    shared = np.ndarray(values.shape, dtype=values.dtype, buffer=block)
    shared[...] = values
    tensor._data = shared
    return tensor


def _reduce_tensor(tensor):
    """How ``multiprocessing`` pickles a tensor: a handle to its shared memory if it has some,
    its values otherwise."""
    block = block_of(tensor._data)
    if block is None:
        return tensor.__reduce_ex__(pickle.HIGHEST_PROTOCOL)
    from multiprocessing.reduction import DupFd
    array = tensor._data
    offset = array.__array_interface__["data"][0] - block.address()
    return (_rebuild_shared_tensor, (type(tensor), DupFd(block.fd), block.nbytes, offset,
                                     array.shape, array.strides, array.dtype.str,
                                     tensor.requires_grad))


def _rebuild_shared_tensor(cls, dup_fd, nbytes, offset, shape, strides, dtype, requires_grad):
    from ember._tensor import Tensor
    from ember.nn.parameter import Parameter
    block = SharedBlock(dup_fd.detach(), nbytes)
    array = np.ndarray(shape, dtype=np.dtype(dtype), buffer=block, offset=offset,
                       strides=strides)
    if issubclass(cls, Parameter):
        return cls(Tensor._wrap(array), requires_grad)
    tensor = Tensor._wrap(array)
    tensor._requires_grad = requires_grad
    return tensor


def register_reductions():
    """Teach ``multiprocessing``'s pickler to send shared tensors by handle (once)."""
    global _registered
    if _registered:
        return
    from multiprocessing.reduction import ForkingPickler
    from ember._tensor import Tensor
    from ember.nn.parameter import Parameter
    for cls in (Tensor, Parameter):
        ForkingPickler.register(cls, _reduce_tensor)
    _registered = True
