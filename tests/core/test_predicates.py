"""The ``is_*`` predicates of torch's Tensor (device, layout, dtype, memory) give torch's
answers for Ember's dense CPU tensors, so code that branches on them takes its CPU path."""
import pytest
import torch

import ember

# predicates that need another tensor, report an autograd or a sparse-only state, or belong
# to features Ember does not have (inference tensors, sparse COO, distributed)
NOT_PREDICATES = {"is_set_to", "is_same_size", "is_leaf", "is_inference", "is_coalesced",
                  "is_distributed", "is_shared"}
DTYPES = ["float32", "float64", "int64", "int32", "uint8", "bool"]


def _predicates():
    return sorted(n for n in dir(torch.Tensor) if n.startswith("is_") and n not in NOT_PREDICATES)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", _predicates())
def test_predicate_matches_torch(name, dtype):
    t = torch.ones(1, dtype=getattr(torch, dtype))
    e = ember.ones(1, dtype=getattr(ember, dtype))
    theirs, ours = getattr(t, name), getattr(e, name)
    if callable(theirs):
        theirs, ours = theirs(), ours()
    assert ours is theirs


def test_predicates_of_two_tensors_and_functions():
    x = ember.zeros(4)
    assert x.is_set_to(x) and not x[:2].is_set_to(x) and x.view(4).is_set_to(x)
    assert x.is_same_size(ember.ones(4)) and not x.is_same_size(ember.ones(2, 2))
    for fn in ("is_complex", "is_conj", "is_neg", "is_signed", "is_nonzero"):
        assert getattr(ember, fn)(ember.ones(1)) is getattr(torch, fn)(torch.ones(1))
    assert ember.is_same_size(x, x) is True
    for n in (0, 2):
        with pytest.raises(RuntimeError, match="ambiguous"):
            ember.zeros(n).is_nonzero()
        with pytest.raises(RuntimeError, match="ambiguous"):
            torch.zeros(n).is_nonzero()
