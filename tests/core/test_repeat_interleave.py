"""``repeat_interleave``: values and gradients equal torch's, float64 gradient check."""
import numpy as np
import pytest
import torch

import ember
from tests.harness import check_parity, gradcheck64

X = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)


@pytest.mark.parametrize("call", [
    lambda m, x: x.repeat_interleave(2), lambda m, x: x.repeat_interleave(3, dim=0),
    lambda m, x: m.repeat_interleave(x, m.tensor([0, 2, 1, 3]), dim=1),
    lambda m, x: x.repeat_interleave(m.tensor([2]), dim=-1),
    lambda m, x: x.repeat_interleave(m.tensor([1, 0, 2]), 0, output_size=3),
])
def test_values_and_gradients_equal_torch(call):
    check_parity(call, [X])


def test_counts_alone_give_indices_and_float64_gradient():
    for counts in ([1, 0, 3], [2, 2]):
        np.testing.assert_array_equal(ember.repeat_interleave(ember.tensor(counts)).numpy(),
                                      torch.repeat_interleave(torch.tensor(counts)).numpy())
    gradcheck64(lambda x: x.repeat_interleave(ember.tensor([2, 1, 3]), dim=0), [X])


@pytest.mark.parametrize("args", [(ember.tensor([1, 2]), 0), (ember.tensor([1, -1, 2]), 0),
                                  (ember.tensor([[1, 2, 3]]), 0), (2, 0, 5)])
def test_bad_repeats_are_refused(args):
    with pytest.raises(RuntimeError, match="repeat_interleave"):
        ember.tensor(X).repeat_interleave(*args[:2], output_size=args[2] if len(args) > 2
                                          else None)
