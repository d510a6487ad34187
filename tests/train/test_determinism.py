"""DataLoader worker threads draw ember's random functions from their batch's own stream."""
import numpy as np
import pytest

import ember
from ember.utils.data import DataLoader, Dataset


class NoisyDataset(Dataset):
    """A user dataset drawing with ember.rand (no generator argument) in ``__getitem__``."""

    def __init__(self, draw=True):
        self.draw = draw

    def __len__(self):
        return 24

    def __getitem__(self, i):
        noise = ember.rand(2) if self.draw else ember.zeros(2)
        return noise + i


def _epoch(num_workers, draw=True, seed=3):
    ember.manual_seed(seed)
    loader = DataLoader(NoisyDataset(draw), batch_size=5, shuffle=True, num_workers=num_workers)
    batches = [b.numpy() for b in loader]
    return batches, ember.rand(4).numpy()


@pytest.mark.parametrize("num_workers", [0, 1, 3])
def test_dataset_draws_are_reproducible_and_independent_of_workers(num_workers):
    reference, _ = _epoch(0)
    batches, _ = _epoch(num_workers)
    assert len(batches) == 5
    for a, b in zip(reference, batches):
        np.testing.assert_array_equal(a, b)
    other, _ = _epoch(num_workers, seed=4)
    assert not np.array_equal(np.concatenate(other), np.concatenate(batches))


@pytest.mark.parametrize("num_workers", [0, 2])
def test_dataset_draws_leave_the_main_generator_alone(num_workers):
    """The main thread's stream after an epoch (dropout, init) does not depend on what the
    dataset drew while the batches were fetched."""
    _, after_drawing = _epoch(num_workers, draw=True)
    _, after_nothing = _epoch(num_workers, draw=False)
    np.testing.assert_array_equal(after_drawing, after_nothing)


def test_explicit_generator_still_wins_inside_a_fetch():
    class Seeded(Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return ember.rand(1, generator=ember.Generator().manual_seed(i))

    expected = [ember.rand(1, generator=ember.Generator().manual_seed(i)).item() for i in range(4)]
    got = [b.item() for b in DataLoader(Seeded(), batch_size=1, num_workers=2)]
    assert got == expected
