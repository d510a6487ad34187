"""Datasets of ember.utils.data: TensorDataset, Subset, ConcatDataset, ChainDataset, random_split."""
import numpy as np
import pytest
import torch
import torch.utils.data as tud

import ember
from ember.utils.data import (ChainDataset, ConcatDataset, Dataset, IterableDataset, Subset,
                              TensorDataset, random_split)


class Squares(Dataset):
    def __init__(self, n):
        self.n = n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return i * i

    def __len__(self):
        return self.n


class Count(IterableDataset):
    def __init__(self, start, stop):
        self.start, self.stop = start, stop

    def __iter__(self):
        return iter(range(self.start, self.stop))

    def __len__(self):
        return self.stop - self.start


def test_tensor_dataset_pairs_rows():
    x = ember.from_numpy(np.arange(12, dtype=np.float32).reshape(4, 3))
    y = ember.tensor([3, 1, 4, 1])
    ds = TensorDataset(x, y)
    assert len(ds) == 4
    xi, yi = ds[2]
    np.testing.assert_array_equal(xi.numpy(), [6, 7, 8])
    assert yi.item() == 4
    assert isinstance(ds[0], tuple) and len(ds[0]) == 2


def test_tensor_dataset_rejects_mismatched_sizes():
    with pytest.raises(ValueError, match=r"same size in the first dimension.*\(4, 3\), \(5,\)"):
        TensorDataset(ember.zeros(4, 3), ember.zeros(5))
    with pytest.raises(ValueError):
        TensorDataset()


def test_subset_maps_indices_in_order():
    sub = Subset(Squares(10), [7, 2, 5])
    assert len(sub) == 3
    assert [sub[i] for i in range(3)] == [49, 4, 25]
    assert sub.__getitems__([2, 0]) == [25, 49]


def test_subset_list_index_is_passed_to_the_dataset():
    base = TensorDataset(ember.arange(10))
    sub = Subset(base, [9, 8, 7])
    (values,) = sub[[0, 2]]
    assert values.tolist() == [9, 7]


def test_concat_dataset_indexing_like_torch():
    parts = [Squares(3), Squares(0), Squares(4)]
    ours = ConcatDataset(parts)
    theirs = tud.ConcatDataset(parts)
    assert ours.cumulative_sizes == theirs.cumulative_sizes == [3, 3, 7]
    assert len(ours) == 7
    assert [ours[i] for i in range(-7, 7)] == [theirs[i] for i in range(-7, 7)]
    with pytest.raises(IndexError):
        ours[7]
    with pytest.raises(ValueError):
        ours[-8]


def test_dataset_addition_concatenates():
    both = Squares(2) + Squares(3)
    assert isinstance(both, ConcatDataset)
    assert [both[i] for i in range(5)] == [0, 1, 0, 1, 4]


def test_concat_rejects_iterable_and_empty():
    with pytest.raises(TypeError, match="IterableDataset"):
        ConcatDataset([Squares(2), Count(0, 2)])
    with pytest.raises(ValueError):
        ConcatDataset([])


def test_chain_dataset_and_iterable_addition():
    chained = Count(0, 3) + Count(10, 12)
    assert isinstance(chained, ChainDataset)
    assert list(chained) == [0, 1, 2, 10, 11]
    assert len(chained) == 5
    with pytest.raises(TypeError, match="IterableDataset"):
        ChainDataset([Squares(3)])


def _all_indices(subsets):
    return [i for s in subsets for i in s.indices]


def test_random_split_partitions_the_dataset():
    # inventory A26
    parts = random_split(Squares(20), [5, 15], generator=ember.Generator().manual_seed(1))
    assert [len(p) for p in parts] == [5, 15]
    assert sorted(_all_indices(parts)) == list(range(20))
    assert all(p.dataset is parts[0].dataset for p in parts)


@pytest.mark.parametrize("n, fractions", [(10, [0.33, 0.33, 0.34]), (7, [0.5, 0.5]),
                                          (101, [0.8, 0.1, 0.1]), (3, [0.2, 0.3, 0.5])])
def test_random_split_fraction_sizes_match_torch(n, fractions):
    ours = random_split(Squares(n), fractions, generator=ember.Generator().manual_seed(0))
    theirs = tud.random_split(Squares(n), fractions, generator=torch.Generator().manual_seed(0))
    assert [len(p) for p in ours] == [len(p) for p in theirs]
    assert sorted(_all_indices(ours)) == list(range(n))


def test_random_split_remainder_goes_round_robin():
    # floor(10 * 0.33) = 3 three times, remainder 1 goes to the first split
    assert [len(p) for p in random_split(Squares(10), [0.33, 0.33, 0.34])] == [4, 3, 3]


def test_random_split_is_seeded():
    def split(seed):
        return _all_indices(random_split(Squares(50), [0.6, 0.4],
                                         generator=ember.Generator().manual_seed(seed)))
    assert split(3) == split(3)
    assert split(3) != split(4)
    ember.manual_seed(11)
    a = _all_indices(random_split(Squares(50), [25, 25]))
    ember.manual_seed(11)
    b = _all_indices(random_split(Squares(50), [25, 25]))
    assert a == b and a != list(range(50))


def test_random_split_errors():
    with pytest.raises(ValueError, match="Sum of input lengths"):
        random_split(Squares(10), [3, 3])
    with pytest.raises(ValueError, match="not between 0 and 1"):
        random_split(Squares(10), [1.5, -0.5])
    with pytest.warns(UserWarning, match="Length of split at index 1 is 0"):
        random_split(Squares(1), [0.5, 0.5])
