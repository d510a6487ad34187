"""In-place ops on views: the base's gradient includes the write (torch's CopySlices)."""
import numpy as np
import pytest

import ember
from tests.harness import assert_close


def _views_program(lib, x0, w0):
    x = lib.tensor(x0, requires_grad=True)
    w = lib.tensor(w0, requires_grad=True)
    y = x * 2
    y[1].mul_(w[0])               # a basic-index view
    y.t()[0].add_(w)              # a view of a view
    z = y.view(-1)[2:5]
    z.clamp_(min=0.5)
    out = (y ** 2).sum() + z.sum()
    out.backward()
    return y.detach().numpy().copy(), x.grad.numpy().copy(), w.grad.numpy().copy()


def test_inplace_on_views_matches_torch():
    import torch
    x0 = np.random.randn(3, 4).astype(np.float32)
    w0 = np.random.randn(3).astype(np.float32)
    for a, b in zip(_views_program(ember, x0, w0), _views_program(torch, x0, w0)):
        assert_close(a, b)


def test_single_element_index_is_a_view():
    x = ember.zeros(3)
    x[1].fill_(5)
    np.testing.assert_array_equal(x.numpy(), [0, 5, 0])


def test_buffer_filled_from_graph_gets_gradient():
    x = ember.randn(4, requires_grad=True)
    buf = ember.zeros(2, 4)
    buf[1].copy_(x * 3)
    (buf * ember.arange(8.0).reshape(2, 4)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 * np.arange(4.0, 8.0))


def test_view_of_leaf_requiring_grad_is_refused():
    x = ember.randn(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="view of a leaf Variable"):
        x[0].mul_(2)


def test_stale_view_is_refused():
    y = ember.randn(3, 4, requires_grad=True) * 1
    v = y[0]
    y.add_(1)
    with pytest.raises(RuntimeError, match="in-place"):
        (v * 2).sum().backward()


def test_view_made_under_no_grad_is_refused():
    y = ember.randn(3, 4, requires_grad=True) * 1
    with ember.no_grad():
        v = y[0]
    with pytest.raises(RuntimeError, match="no_grad"):
        v.mul_(2)
