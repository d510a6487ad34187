"""In-place ops write through views and bump the version counter; a tensor that backward
still needs and that was modified in place is detected (never a silently wrong gradient)."""
import numpy as np
import pytest
import torch

import ember
from tests.harness import check_parity

INPLACE = {
    "add_": lambda x, o: x.add_(o), "add_alpha": lambda x, o: x.add_(o, alpha=-0.5),
    "add_scalar": lambda x, o: x.add_(2.0), "sub_": lambda x, o: x.sub_(o, alpha=2),
    "mul_": lambda x, o: x.mul_(o), "mul_scalar": lambda x, o: x.mul_(0.9),
    "div_": lambda x, o: x.div_(o.abs() + 1), "pow_": lambda x, o: x.abs_().pow_(1.5),
    "clamp_": lambda x, o: x.clamp_(-0.3, 0.4), "clamp_min": lambda x, o: x.clamp_(min=0.1),
    "zero_": lambda x, o: x.zero_(), "fill_": lambda x, o: x.fill_(2.5),
    "copy_": lambda x, o: x.copy_(o), "copy_broadcast": lambda x, o: x.copy_(o[0]),
    "exp_": lambda x, o: x.exp_(), "sqrt_": lambda x, o: x.abs_().sqrt_(),
    "neg_": lambda x, o: x.neg_(), "tanh_": lambda x, o: x.tanh_(),
    "addcmul_": lambda x, o: x.addcmul_(o, o, value=0.5),
    "addcdiv_": lambda x, o: x.addcdiv_(o, o.abs() + 1, value=-0.1),
    "lerp_": lambda x, o: x.lerp_(o, 0.25), "iadd": lambda x, o: x.__iadd__(o),
    "imul": lambda x, o: x.__imul__(o), "isub": lambda x, o: x.__isub__(1),
    "itruediv": lambda x, o: x.__itruediv__(4), "masked_fill_": lambda x, o: x.masked_fill_(o > 0, 0.0),
    "sigmoid_": lambda x, o: x.sigmoid_(), "relu_": lambda x, o: x.relu_(),
}


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_inplace_under_no_grad_matches_torch_and_bumps_version(name):
    x0 = np.random.randn(3, 4).astype(np.float32)
    o0 = np.random.randn(3, 4).astype(np.float32)
    results = []
    for m in (ember, torch):
        x, o = m.tensor(x0.copy(), requires_grad=True), m.tensor(o0.copy())
        v = x._version
        with m.no_grad():
            r = INPLACE[name](x, o)
        assert r is x and x._version > v and x.is_leaf and x.requires_grad
        results.append(x.detach().numpy().copy())
    np.testing.assert_allclose(results[0], results[1], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_inplace_on_non_leaf_is_differentiable(name):
    def fn(m, x, o):
        y = x * 1.5
        return INPLACE[name](y, o) * 2
    check_parity(fn, [np.random.randn(3, 4).astype(np.float32), np.random.randn(3, 4).astype(np.float32)])


def test_inplace_through_views_writes_the_base():
    x = ember.zeros(3, 4)
    x[1].fill_(1.0)
    x[:, 0].add_(5.0)
    x.t()[3].mul_(0)
    np.testing.assert_array_equal(x.numpy(), [[5, 0, 0, 0], [6, 1, 1, 0], [5, 0, 0, 0]])


def test_inplace_on_leaf_requiring_grad_is_an_error():
    w = ember.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"add_.*leaf"):
        w.add_(1.0)
    with pytest.raises(RuntimeError, match="leaf"):
        w[0] = 2.0
    with pytest.raises(RuntimeError, match="leaf"):
        w += 1


@pytest.mark.parametrize("modify", ["add_", "setitem", "mul_ via view", "zero_", "copy_"])
def test_modified_saved_tensor_is_detected(modify):
    x = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    z = y * y  # saves y
    if modify == "add_":
        y.add_(1)
    elif modify == "setitem":
        y[0] = 5.0
    elif modify == "mul_ via view":  # a view shares its base's version counter
        with ember.no_grad():
            y[1:].mul_(3)
    elif modify == "zero_":
        y.zero_()
    else:
        y.copy_(ember.ones(3))
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()


def test_modified_saved_output_is_detected():
    x = ember.tensor([0.5, 1.0], requires_grad=True)
    y = x.exp()  # exp's backward reads its output
    y.mul_(2)
    with pytest.raises(RuntimeError, match="inplace"):
        y.sum().backward()
    a = ember.tensor([0.5, 1.0], requires_grad=True)
    b = a.sigmoid()
    with ember.no_grad():
        b.detach().add_(1)  # detach shares the version counter
    with pytest.raises(RuntimeError, match="inplace"):
        b.sum().backward()


def test_unsaved_inputs_may_be_modified():
    """Add does not save its inputs, so modifying them afterwards is fine (as in torch)."""
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    z = y + 3
    y.add_(10)
    z.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0]


def test_optimizer_style_updates_and_data_editing():
    p = ember.ones(4, requires_grad=True)
    (p * p).sum().backward()
    with ember.no_grad():
        p.add_(p.grad, alpha=-0.1)
    np.testing.assert_allclose(p.detach().numpy(), 0.8)
    p.grad.zero_()
    v = p._version
    p._data *= 2
    p._bump_version()
    assert p._version == v + 1 and p.detach().numpy()[0] == np.float32(1.6)
    p.data.mul_(0.5)
    np.testing.assert_allclose(p.detach().numpy(), 0.8)


def test_inplace_dtype_and_shape_rules():
    i = ember.tensor([1, 2])
    with pytest.raises(RuntimeError, match="can't be cast"):
        i.add_(1.5)
    i.add_(2)
    assert i.tolist() == [3, 4] and i.dtype is ember.int64
    x = ember.zeros(3)
    with pytest.raises(RuntimeError, match=r"add_.*\(3,\)"):
        x.add_(ember.ones(2, 3))
    with pytest.raises(RuntimeError, match="copy_"):
        x.copy_(ember.ones(4))
    x.copy_(ember.tensor([1, 2, 3]))
    assert x.dtype is ember.float32 and x.tolist() == [1.0, 2.0, 3.0]


def test_setitem_gradient_flows_to_value():
    v = ember.tensor([2.0, 3.0], requires_grad=True)
    x = ember.zeros(4)
    x[1:3] = v
    (x * x).sum().backward()
    assert v.grad.tolist() == [4.0, 6.0]


def test_view_taken_before_an_inplace_op_on_its_base_is_not_silently_stale():
    """A view's gradient path goes through its base's node at the time the view was taken;
    after a recorded in-place op on the base that path is stale, so using the view is an error
    (torch re-creates the view node; a silently wrong gradient is never acceptable)."""
    x = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    v = y[:2]
    y.mul_(3)
    with pytest.raises(RuntimeError, match="view"):
        v * 1
    w = y[:2]  # a view taken after the in-place op is fine
    (w * 1).sum().backward()
    assert x.grad.tolist() == [6.0, 6.0, 0.0]
