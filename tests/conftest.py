import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same random state in NumPy and Ember."""
    import ember
    np.random.seed(0)
    ember.manual_seed(0)
    yield
