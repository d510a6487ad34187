"""Floating-point errors inside Ember's ops give inf and nan silently, as in torch, and never
a NumPy RuntimeWarning pointing into ember/ (issue "Any machine, any new user", item 10);
the user's own NumPy settings are left alone."""
import warnings

import numpy as np
import pytest
import torch

import ember

INF = float("inf")


@pytest.fixture
def warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


@pytest.mark.parametrize("expr", [
    lambda m: m.softmax(m.tensor([INF, 1.0]), 0),
    lambda m: m.log_softmax(m.tensor([INF, 1.0]), 0),
    lambda m: m.log(m.tensor([0.0, -1.0])),
    lambda m: m.tensor([1.0, 0.0]) / m.tensor([0.0, 0.0]),
    lambda m: m.exp(m.tensor([1000.0])),
    lambda m: m.sqrt(m.tensor([-1.0])),
    lambda m: m.tensor([3e38]) * 10,
    lambda m: m.nn.functional.cross_entropy(m.tensor([[INF, 0.0]]), m.tensor([1])),
])
def test_ops_give_torchs_inf_and_nan_without_warnings(expr, warnings_are_errors):
    np.testing.assert_array_equal(expr(ember).numpy(), expr(torch).numpy())


def test_backward_and_optimizer_step_stay_quiet(warnings_are_errors):
    x = ember.tensor([INF, 1.0, 0.0], requires_grad=True)
    ember.softmax(x * 2, 0).sum().backward()
    assert np.isnan(x.grad.numpy()).all()
    w = ember.tensor([1.0], requires_grad=True)
    w.grad = ember.tensor([INF])
    ember.optim.Adam([w], lr=0.1).step()           # inf / sqrt(inf): nan, as in torch
    assert np.isnan(w.detach().numpy()).all()


def test_large_products_on_two_threads_overflow_quietly(warnings_are_errors):
    """Split over Ember's worker threads (threads have their own NumPy error state)."""
    before = ember.get_num_threads()
    ember.set_num_threads(2)
    try:
        x = ember.full((4, 8, 66, 66), 1e30)
        y = ember.nn.functional.conv2d(x, ember.full((8, 8, 3, 3), 1e30))
    finally:
        ember.set_num_threads(before)
    assert np.isinf(y.numpy()).all()


def test_the_users_numpy_settings_are_untouched():
    ember.log(ember.tensor([0.0]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(RuntimeWarning):
            np.log(np.array([0.0]))
