"""``repr`` matches torch's character for character (``ember.`` for ``torch.``, node names
without torch's version suffix)."""
import pytest
import torch

import ember

NAN, INF = float("nan"), float("inf")
DATA = [
    [1, 2, 3], [1.0, 2.0, 3.0], [1.5, 2.25, -3.0], [[1.0, 2.5], [3.0, 4.0]], [1e-5, 1.0],
    [1e10, 1.0], [123456789.0, 1.0], [1e-10, 2e-10], [0.0], 3.5, 7, True, [True, False],
    [[True], [False]], [], [[1, -20], [300, 4]], [NAN, 1.0], [INF, -1.5], [0.1, 0.2, 0.3],
    [100.0, 0.001], [-1.0, 0.0], [1e8, 1.0], [12345.678], [1e-4, 1.0], [0.00012, 0.5],
    [1.0, 1000.0], [1.5, 1000.5], [1.5, 10000.5], [-0.0, 1.0], [1e20], [NAN], [NAN, INF, -INF],
    [[1e-6, 1.0], [3.0, 4e5]],
]


@pytest.mark.parametrize("data", DATA, ids=str)
def test_repr_of_values_matches_torch(data):
    assert repr(ember.tensor(data)) == repr(torch.tensor(data)).replace("torch.", "ember.")


MADE = {
    "float64": lambda m: m.tensor([1.5, 2.0], dtype=m.float64),
    "int32": lambda m: m.tensor([1, 2], dtype=m.int32),
    "uint8": lambda m: m.tensor([1, 2], dtype=m.uint8),
    "empty_f64": lambda m: m.zeros(0, dtype=m.float64),
    "empty_2d": lambda m: m.zeros(0, 3),
    "empty_int": lambda m: m.zeros(2, 0, dtype=m.int64),
    "zero_d_f64": lambda m: m.tensor(2.5, dtype=m.float64),
    "requires_grad": lambda m: m.tensor([1.0, 2.0], requires_grad=True),
    "grad_fn": lambda m: m.tensor([1.0, 2.0], requires_grad=True) * 2,
    "summarised_2d": lambda m: m.arange(2000.0).reshape(40, 50),
    "summarised_1d": lambda m: m.arange(1001),
    "summarised_3d": lambda m: m.arange(1200).reshape(2, 30, 20),
    "summarised_fraction": lambda m: m.arange(3000.0).reshape(3, 1000) / 7,
    "3d": lambda m: m.arange(24.0).reshape(2, 3, 4) / 7,
    "wrapped_line": lambda m: m.arange(30.0) / 3,
    "wrapped_ints": lambda m: m.arange(40) * 1000,
    "bool_row": lambda m: m.tensor([[True, False, True]]),
    "long_suffix": lambda m: m.arange(12.0, dtype=m.float64).reshape(1, 12) / 3,
    "grad_fn_f64": lambda m: m.ones(2, 2, dtype=m.float64, requires_grad=True) * 3,
}


@pytest.mark.parametrize("name", sorted(MADE))
def test_repr_of_made_tensors_matches_torch(name):
    expected = repr(MADE[name](torch)).replace("torch.", "ember.").replace("Backward0", "Backward")
    assert repr(MADE[name](ember)) == expected


def test_str_is_repr_and_dtype_size_reprs():
    t = ember.tensor([1.0, 2.0])
    assert str(t) == repr(t)
    assert repr(ember.float64) == "ember.float64"
    assert repr(t.shape) == "ember.Size([2])"
