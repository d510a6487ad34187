"""torch's module path ``torch.nn.modules.utils``: the argument helpers that custom layers
import from it (``from torch.nn.modules.utils import _pair``), and the helper that strips the
``module.`` prefix a ``DataParallel`` wrapper puts on ``state_dict`` keys."""
import collections.abc
from itertools import repeat

__all__ = ["consume_prefix_in_state_dict_if_present"]


def _ntuple(n, name="parse"):
    """A parser that turns a number into an ``n``-tuple of it and any iterable into a tuple
    (``_pair(3) == (3, 3)``, ``_pair((1, 2)) == (1, 2)``)."""
    def parse(x):
        if isinstance(x, collections.abc.Iterable):
            return tuple(x)
        return tuple(repeat(x, n))
    parse.__name__ = name
    return parse


_single = _ntuple(1, "_single")
_pair = _ntuple(2, "_pair")
_triple = _ntuple(3, "_triple")
_quadruple = _ntuple(4, "_quadruple")


def _reverse_repeat_tuple(t, n):
    """``t`` reversed with each element repeated ``n`` times: conv padding in ``F.pad`` order."""
    return tuple(x for x in reversed(t) for _ in range(n))


def consume_prefix_in_state_dict_if_present(state_dict, prefix):
    """Remove ``prefix`` from the keys of ``state_dict`` that start with it, in place (e.g.
    ``'module.'`` from the state of a model saved inside ``nn.DataParallel``)."""
    for key in list(state_dict.keys()):
        if key.startswith(prefix):
            state_dict[key[len(prefix):]] = state_dict.pop(key)
