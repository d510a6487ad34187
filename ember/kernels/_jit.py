"""How Ember compiles its kernels: ``@kernel`` is ``numba.njit(nogil=True, cache=True)`` with the
on-disk cache in Ember's per-user cache directory and a one-line notice on a cold compile.

Numba caches a function next to its source (``__pycache__``) when that directory is writable,
which would write into an installed package. A cache locator placed first in Numba's list
sends the functions of ``ember.kernels`` to ``<cache_dir()>/numba`` instead (Numba's locator
classes are its extension point for this; if a future Numba moves them, the kernels compile
without a disk cache rather than write into the package). Numba checks the source file's
hash, its own version and the CPU before loading a cached function; the directory is also
named after a digest of all the kernel sources (see :func:`_sources_digest`).

No kernel uses ``fastmath``: without it LLVM neither reassociates nor contracts ``a * b + c``
into a fused multiply-add, so a kernel computes exactly the float operations written, in the
order written, on every CPU.
"""
import hashlib
import os
import sys

import numba
from numba.core import caching, event

from ember.kernels import cache_dir

PACKAGE = "ember.kernels"


def _sources_digest():
    """A digest of every source file of ``ember.kernels``: Numba checks only the file that
    defines a kernel, not the helpers it inlines from other files (``mathfn``) nor the options
    set here, so each version of the kernel sources gets a cache directory of its own."""
    here = os.path.dirname(os.path.abspath(__file__))
    digest = hashlib.sha256()
    for name in sorted(os.listdir(here)):
        if name.endswith(".py"):
            with open(os.path.join(here, name), "rb") as f:
                digest.update(name.encode() + b"\0" + f.read())
    return digest.hexdigest()[:16]


_DIGEST = _sources_digest()


def _numba_cache_dir():
    return os.path.join(cache_dir(), "numba", _DIGEST)


class _EmberCacheLocator(caching.UserWideCacheLocator):
    """Numba's user-wide locator, pointed at Ember's cache directory, for Ember's kernels only."""

    def __init__(self, py_func, py_file):
        super().__init__(py_func, py_file)
        self._cache_path = os.path.join(_numba_cache_dir(),
                                        self.get_suitable_cache_subpath(py_file))

    @classmethod
    def from_function(cls, py_func, py_file):
        if not getattr(py_func, "__module__", "").startswith(PACKAGE):
            return None
        return super().from_function(py_func, py_file)


def _install_locator():
    """Put :class:`_EmberCacheLocator` first in Numba's locator list; False if Numba no longer
    has that list."""
    impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl", None)
    classes = getattr(impl, "_locator_classes", None)
    if not isinstance(classes, list):
        return False
    if _EmberCacheLocator not in classes:
        classes.insert(0, _EmberCacheLocator)
    return True


CACHE = _install_locator()


def _allow_wide_vectors():
    """Let LLVM vectorize with 512-bit registers on a CPU with AVX-512.

    LLVM's tuning for Intel's AVX-512 cores prefers 256-bit vectors (``prefer-256-bit``), so
    by default the kernels use half of the vector width these CPUs have. Clearing that
    preference doubles the lanes of the row passes: ``exp32`` over a million values took 0.82
    ms with 256-bit vectors and 0.60 ms with 512-bit ones on an Intel Xeon (Sapphire Rapids)
    here (before its fused multiply-adds). Results do not change: every lane computes the same
    float operations, and the kernels' reductions are written as explicit partial sums or
    vector lanes (``ember.kernels.lanes``) that LLVM may not reorder. The
    option is Numba's ``NUMBA_CPU_FEATURES`` (the host's features plus ``-prefer-256-bit``),
    set only when the user has set neither it nor ``NUMBA_CPU_NAME`` and only on CPUs with
    AVX-512; it applies to the whole process once Numba's CPU target is first built (which
    happens on the first compilation or cache load, so if the process compiled Numba code
    before Ember's kernels it has no effect)."""
    from numba.core import config
    if config.CPU_FEATURES is not None or config.CPU_NAME is not None:
        return
    import llvmlite.binding as llvm
    features = llvm.get_host_cpu_features().flatten()
    if "+avx512f" in features.split(","):
        config.CPU_FEATURES = features + ",-prefer-256-bit"


_allow_wide_vectors()


class _ColdCompileNotice(event.Listener):
    """Prints one line when the first of Ember's kernels compiles in this process (a cache
    hit loads without compiling, and prints nothing)."""

    def __init__(self):
        self.shown = False

    def on_start(self, ev):
        dispatcher = ev.data.get("dispatcher") if isinstance(ev.data, dict) else None
        module = getattr(getattr(dispatcher, "py_func", None), "__module__", "") or ""
        if self.shown or not module.startswith(PACKAGE):
            return
        self.shown = True
        where = f"cached in {_numba_cache_dir()}" if CACHE else "not cached: unknown Numba layout"
        print(f"ember: compiling the Numba kernels (first use on this machine; a few seconds, "
              f"{where})", file=sys.stderr, flush=True)

    def on_end(self, ev):
        pass


event.register("numba:compile", _ColdCompileNotice())


def kernel(fn):
    """Compile ``fn`` as a serial, GIL-free Numba kernel, cached on disk (see the module doc).
    Float errors follow NumPy (``error_model="numpy"``): a division by zero gives inf or NaN,
    as in the NumPy code, instead of raising, and costs no test per element."""
    return numba.njit(nogil=True, cache=CACHE, error_model="numpy")(fn)


def inline(fn):
    """A helper compiled into the kernels that call it (no call of its own)."""
    return numba.njit(nogil=True, cache=CACHE, error_model="numpy", inline="always")(fn)
