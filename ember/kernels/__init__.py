"""Compiled kernels: the optional Numba layer under Ember's NumPy ops (``pip install ember[fast]``).

Ember's ops are NumPy code, and that code stays the definition of every op. Some passes are
many small NumPy calls in a row (the ``prod(K)`` slice-adds of a col2im, the dozen ufunc calls
of a max-pool, the passes of a softmax): each call takes the GIL back, so two of Ember's
threads running such passes mostly wait for each other, and each call costs Python overhead.
For those passes this package holds serial Numba kernels that do the same arithmetic in one
call without the GIL. The op keeps its NumPy code and asks :func:`compiled` at the top::

    kernels = compiled()
    if kernels is not None and <the kernel covers this case>:
        return kernels.conv.col2im(...)
    ... the NumPy reference ...

**The switch.** ``EMBER_KERNELS=numpy`` runs NumPy alone; ``EMBER_KERNELS=numba`` requires
the kernels (an error if Numba is missing); unset (auto), Ember uses the kernels when Numba
imports. :func:`set_backend` and :func:`use` change it at run time (tests run every kernel
against its reference in one process). Numba is imported on the first call of
:func:`compiled`, never by ``import ember``.

**Equality with the reference.** Every kernel is tested against the NumPy code it replaces
(``tests/kernels/``): bit for bit where it performs the same float operations in the same
order (copies, max, the scatter-adds of col2im in kernel-offset order, the SGD update), and to
float32 rounding, with the bound stated in the kernel's docstring, where the NumPy code
reduces in an order that is NumPy's own (sums, ``exp``). The register-tile computations (the
direct convolution, ``direct``; the attention, ``attention``) replace whole GEMM-based ops:
``tests/ops/test_direct.py`` holds the convolution exactly to a float64 conv on integer data
(every sum exact) and to a bound derived from its sums, ``tests/ops/test_fused_attention.py``
the attention to the float64 NumPy products, both to PyTorch.

**Threading rules** (measured on a 2-core VM, see ``ember/_parallel.py``): kernels are
serial (``@njit(nogil=True)``) and Ember's own worker threads run them over batch chunks;
a kernel never uses Numba's thread pool (``parallel=True``): its OpenMP layer spins on a
busy machine (a 5 ms LeNet-5 step took 12–167 ms with one core taken by another process),
aborts forked children, and its workqueue layer aborts when two threads launch at once.

**Compilation.** Kernels compile on their first call for each argument type and are cached
on disk (``cache=True``) in a per-user directory, ``$EMBER_CACHE_DIR`` or
``$XDG_CACHE_HOME/ember`` (``~/.cache/ember``), never inside the installed package; the first
compilation in a process prints one line to stderr. A cold compile of the kernels a LeNet-5
training step uses takes a few seconds; loading them from the cache takes milliseconds.
"""
import contextlib
import os
import types

import numpy as np

__all__ = ["compiled", "backend", "set_backend", "use", "cache_dir", "flat"]

_CHOICES = ("auto", "numpy", "numba")
_UNSET = object()
_requested = None          # "auto", "numpy" or "numba"
_kernels = _UNSET          # the loaded kernel namespace, or None (NumPy only)
_loaded = None             # the kernel namespace once Numba has been imported


def _from_environment():
    value = os.environ.get("EMBER_KERNELS", "").strip().lower() or "auto"
    if value not in _CHOICES:
        raise ValueError(f"ember: EMBER_KERNELS must be one of {', '.join(_CHOICES[1:])} (or "
                         f"unset for auto), got {os.environ['EMBER_KERNELS']!r}")
    return value


def cache_dir():
    """The per-user directory of Ember's on-disk caches (compiled kernels go to its
    ``numba`` subdirectory): ``$EMBER_CACHE_DIR``, else ``$XDG_CACHE_HOME/ember``, else
    ``~/.cache/ember``."""
    path = os.environ.get("EMBER_CACHE_DIR", "").strip()
    if not path:
        base = os.environ.get("XDG_CACHE_HOME", "").strip() or os.path.join(
            os.path.expanduser("~"), ".cache")
        path = os.path.join(base, "ember")
    return path


def _load():
    """Import Numba and the kernel modules (once); None when Numba does not import."""
    global _loaded
    if _loaded is None:
        try:
            import numba  # noqa: F401
        except ImportError:
            return None
        from ember.kernels import (activation, attention, conv, direct, norm, optim, pooling,
                                   recurrent, rows, tiles, winograd)
        _loaded = types.SimpleNamespace(activation=activation, attention=attention, conv=conv,
                                        direct=direct, norm=norm, optim=optim, pooling=pooling,
                                        recurrent=recurrent, rows=rows, tiles=tiles,
                                        winograd=winograd)
    return _loaded


def _resolve():
    global _requested, _kernels
    if _requested is None:
        _requested = _from_environment()
    if _requested == "numpy":
        _kernels = None
        return None
    _kernels = _load()
    if _kernels is None and _requested == "numba":
        raise RuntimeError("ember: EMBER_KERNELS=numba, but Numba is not installed; install it "
                           "with `pip install ember[fast]` (or unset EMBER_KERNELS)")
    return _kernels


def compiled():
    """The compiled kernels (a namespace of the modules ``activation``, ``attention``,
    ``conv``, ``direct``, ``norm``, ``optim``, ``pooling``, ``recurrent``, ``rows``, ``tiles``,
    ``winograd``),
    or None when Ember runs on NumPy
    alone."""
    kernels = _kernels
    if kernels is _UNSET:
        return _resolve()
    return kernels


def backend():
    """``"numba"`` when the compiled kernels are in use, else ``"numpy"``."""
    return "numpy" if compiled() is None else "numba"


def set_backend(name):
    """Choose the kernels from now on: ``"numpy"`` (NumPy alone), ``"numba"`` (the compiled
    kernels; an error if Numba is missing) or ``"auto"`` (the kernels when Numba imports)."""
    global _requested, _kernels
    if name not in _CHOICES:
        raise ValueError(f"ember.kernels.set_backend: expected one of {_CHOICES}, got {name!r}")
    _requested, _kernels = name, _UNSET
    _resolve()


@contextlib.contextmanager
def use(name):
    """``with use("numpy"): ...`` runs the block on the chosen kernels (see
    :func:`set_backend`) and restores the previous choice afterwards."""
    global _requested, _kernels
    before = (_requested, _kernels)
    set_backend(name)
    try:
        yield
    finally:
        _requested, _kernels = before


def flat(*arrays):
    """1-D views of ``arrays`` when every one is a C-contiguous float32 or float64 array of one
    dtype (what the elementwise kernels take), else None (the caller uses NumPy)."""
    dtype = arrays[0].dtype
    if dtype != np.float32 and dtype != np.float64:
        return None
    views = []
    for a in arrays:
        if a.dtype != dtype or not a.flags.c_contiguous:
            return None
        views.append(a.reshape(-1))
    return views
