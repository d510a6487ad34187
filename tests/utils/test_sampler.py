"""Samplers: orders, distributions, reproducibility under ember's seed, and torch's rules."""
import numpy as np
import pytest
import torch.utils.data as tud

import ember
from ember.utils.data import (BatchSampler, RandomSampler, SequentialSampler, SubsetRandomSampler,
                              WeightedRandomSampler)


def test_sequential_sampler():
    assert list(SequentialSampler(range(5))) == [0, 1, 2, 3, 4]
    assert len(SequentialSampler(range(5))) == 5


def test_random_sampler_gives_a_fresh_permutation_per_epoch():
    sampler = RandomSampler(range(30))
    first, second = list(sampler), list(sampler)
    assert sorted(first) == sorted(second) == list(range(30))
    assert first != second
    assert len(sampler) == 30


def test_random_sampler_reproducible_under_manual_seed_and_generator():
    ember.manual_seed(5)
    a = list(RandomSampler(range(40)))
    ember.manual_seed(5)
    b = list(RandomSampler(range(40)))
    assert a == b
    c = list(RandomSampler(range(40), generator=ember.Generator().manual_seed(9)))
    d = list(RandomSampler(range(40), generator=ember.Generator().manual_seed(9)))
    assert c == d and c != a


def test_random_sampler_draws_its_order_when_iter_is_called():
    ember.manual_seed(2)
    it = iter(RandomSampler(range(20)))
    ember.randn(100)                          # later draws must not change this epoch
    late = list(it)
    ember.manual_seed(2)
    assert late == list(RandomSampler(range(20)))


def test_random_sampler_num_samples_without_replacement_concatenates_permutations():
    order = list(RandomSampler(range(5), num_samples=12))
    assert len(order) == 12
    assert sorted(order[:5]) == sorted(order[5:10]) == list(range(5))
    assert len(set(order[10:])) == 2


def test_random_sampler_with_replacement_is_uniform():
    order = np.array(list(RandomSampler(range(4), replacement=True, num_samples=20000)))
    assert order.min() == 0 and order.max() == 3
    np.testing.assert_allclose(np.bincount(order) / 20000, 0.25, atol=0.015)


def test_random_sampler_replacement_repeats_indices():
    order = list(RandomSampler(range(10), replacement=True, num_samples=200))
    assert len(set(order)) < 200 and len(order) == 200


@pytest.mark.parametrize("kwargs, error", [({"replacement": 1}, TypeError),
                                           ({"num_samples": 0}, ValueError),
                                           ({"num_samples": True}, ValueError)])
def test_random_sampler_rejects_bad_arguments(kwargs, error):
    with pytest.raises(error):
        RandomSampler(range(5), **kwargs)


def test_subset_random_sampler_permutes_the_given_indices():
    indices = [3, 8, 13, 21]
    order = list(SubsetRandomSampler(indices))
    assert sorted(order) == indices
    assert len(SubsetRandomSampler(indices)) == 4
    g = ember.Generator().manual_seed(0)
    assert list(SubsetRandomSampler(indices, generator=g)) == list(
        SubsetRandomSampler(indices, generator=ember.Generator().manual_seed(0)))


def test_weighted_random_sampler_frequencies_follow_the_weights():
    weights = [1.0, 3.0, 0.0, 6.0]
    draws = np.array(list(WeightedRandomSampler(weights, 30000)))
    freq = np.bincount(draws, minlength=4) / 30000
    np.testing.assert_allclose(freq, np.array(weights) / 10, atol=0.015)
    assert freq[2] == 0


def test_weighted_random_sampler_balances_classes():
    labels = np.array([0] * 90 + [1] * 10)
    weights = 1.0 / np.bincount(labels)[labels]          # the usual class-balancing recipe
    draws = np.array(list(WeightedRandomSampler(weights, 20000)))
    assert abs(np.mean(labels[draws]) - 0.5) < 0.02


def test_weighted_random_sampler_without_replacement():
    draws = list(WeightedRandomSampler([5, 1, 0, 2, 2], 4, replacement=False))
    assert len(set(draws)) == 4 and 2 not in draws
    with pytest.raises(ValueError, match="without replacement"):
        WeightedRandomSampler([1, 0, 1], 3, replacement=False)


def test_weighted_random_sampler_rejects_bad_weights():
    with pytest.raises(ValueError, match="1d sequence"):
        WeightedRandomSampler([[1.0, 2.0]], 2)
    with pytest.raises(ValueError, match="non-negative"):
        WeightedRandomSampler([1.0, -1.0], 2)
    with pytest.raises(ValueError, match="num_samples"):
        WeightedRandomSampler([1.0, 1.0], 0)


def test_weighted_random_sampler_is_seeded():
    a = list(WeightedRandomSampler([1, 2, 3], 50, generator=ember.Generator().manual_seed(1)))
    b = list(WeightedRandomSampler([1, 2, 3], 50, generator=ember.Generator().manual_seed(1)))
    assert a == b and len(a) == 50


@pytest.mark.parametrize("n, batch_size, drop_last", [(10, 3, False), (10, 3, True), (9, 3, True),
                                                      (2, 5, False), (2, 5, True), (0, 4, False)])
def test_batch_sampler_matches_torch(n, batch_size, drop_last):
    ours = BatchSampler(SequentialSampler(range(n)), batch_size, drop_last)
    theirs = tud.BatchSampler(tud.SequentialSampler(range(n)), batch_size, drop_last)
    assert list(ours) == list(theirs)
    assert len(ours) == len(theirs)


@pytest.mark.parametrize("batch_size, drop_last", [(0, False), (2.0, False), (True, False),
                                                   (2, None)])
def test_batch_sampler_rejects_bad_arguments(batch_size, drop_last):
    with pytest.raises(ValueError):
        BatchSampler(SequentialSampler(range(4)), batch_size, drop_last)
