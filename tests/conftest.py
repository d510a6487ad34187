import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same random state in NumPy and Ember, and leaves Ember's
    thread count as it found it (``ember train --threads 1`` run in-process sets it for the
    rest of the process, as it does for a real command)."""
    import ember
    np.random.seed(0)
    ember.manual_seed(0)
    threads = ember.get_num_threads()
    yield
    if ember.get_num_threads() != threads:
        ember.set_num_threads(threads)
