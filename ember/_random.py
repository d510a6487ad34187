"""Random number generation: ``Generator``, ``manual_seed`` and the default generator.

Ember draws from NumPy's PCG64. Sequences are reproducible under a seed, but differ from
torch's (a different bit generator), so tests compare distributions, not draws."""
import threading

import numpy as np

_local = threading.local()


class Generator:
    """A source of random numbers (``torch.Generator``): ``Generator().manual_seed(0)``."""

    def __init__(self, device="cpu"):
        self._seed = int(np.random.SeedSequence().entropy % (2 ** 63))
        self.np = np.random.Generator(np.random.PCG64(self._seed))

    def manual_seed(self, seed):
        seed = int(seed)
        self._seed = seed
        self.np = np.random.Generator(np.random.PCG64(seed & (2 ** 64 - 1)))
        return self

    def seed(self):
        self.manual_seed(int(np.random.SeedSequence().entropy % (2 ** 63)))
        return self._seed

    def initial_seed(self):
        return self._seed

    def get_state(self):
        """The generator state as a uint8 tensor (like torch), restorable by ``set_state``."""
        import json
        from ember._tensor import Tensor
        state = json.dumps(self.np.bit_generator.state).encode()
        return Tensor._wrap(np.frombuffer(state, dtype=np.uint8).copy())

    def set_state(self, state):
        import json
        data = state._data if hasattr(state, "_data") else np.asarray(state, dtype=np.uint8)
        try:
            st = json.loads(bytes(np.asarray(data, dtype=np.uint8)).decode())
            self.np.bit_generator.state = st
        except (ValueError, TypeError, KeyError) as e:
            raise RuntimeError(f"Generator.set_state: not a state produced by get_state() ({e})") from None
        return self

    @property
    def device(self):
        from ember._tensor import device
        return device("cpu")


default_generator = Generator().manual_seed(0x5EED)


def manual_seed(seed):
    """Seed the default generator (and return it), like ``torch.manual_seed``."""
    return default_generator.manual_seed(seed)


def seed():
    return default_generator.seed()


def initial_seed():
    return default_generator.initial_seed()


def get_rng_state():
    return default_generator.get_state()


def set_rng_state(state):
    default_generator.set_state(state)


class use_generator:
    """Within this context (in the current thread only), draws that name no generator come
    from ``generator`` instead of the default one. Data-loading threads use it so that their
    random augmentations never interleave with the main thread's draws (dropout, init)."""

    def __init__(self, generator):
        self.generator = generator

    def __enter__(self):
        self._prev = getattr(_local, "generator", None)
        _local.generator = self.generator
        return self.generator

    def __exit__(self, *exc):
        _local.generator = self._prev
        return False


def rng(generator=None):
    """The NumPy generator to draw from: the given ``Generator``'s, the current thread's
    (see ``use_generator``), or the default one."""
    if generator is None:
        local = getattr(_local, "generator", None)
        return (local or default_generator).np
    if not isinstance(generator, Generator):
        raise TypeError(f"generator must be an ember.Generator, got {type(generator).__name__}")
    return generator.np
