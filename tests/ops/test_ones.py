"""The kept ones vector of ``ember.ops._ones`` (sums written as BLAS products)."""
import numpy as np
import pytest

from ember.ops import _ones


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ones_has_the_length_and_dtype_asked_for_and_cannot_be_written(dtype):
    for n in (0, 1, 7, 300, 5, 2000):
        v = _ones.ones(n, dtype)
        assert v.shape == (n,) and v.dtype == dtype and np.all(v == 1)
        assert not v.flags.writeable
        with pytest.raises(ValueError):
            v[...] = 2


def test_a_short_vector_is_a_slice_of_one_kept_array_and_a_long_one_is_not_kept():
    a, b = _ones.ones(10, np.float32), _ones.ones(100, np.float32)
    assert np.shares_memory(a, b)
    long = _ones.ones(_ones.CACHED_LENGTH + 1, np.float32)
    assert long.shape == (_ones.CACHED_LENGTH + 1,) and np.all(long == 1)
    assert not np.shares_memory(long, _ones.ones(10, np.float32))
