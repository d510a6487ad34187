"""ember.nn.utils: gradient clipping and parameter flattening, compared with torch."""
import warnings

import numpy as np
import pytest
import torch

import ember
from ember.nn import utils as eu

SHAPES = [(3, 4), (5,), (2, 1, 3), ()]


def _params(scale=1.0, with_missing_grad=True, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    values = [rng.normal(size=s).astype(dtype) for s in SHAPES]
    grads = [(rng.normal(size=s) * scale).astype(dtype) for s in SHAPES]
    e_params, t_params = [], []
    for i, (v, g) in enumerate(zip(values, grads)):
        e, t = ember.tensor(v, requires_grad=True), torch.tensor(v, requires_grad=True)
        if not (with_missing_grad and i == 1):
            e.grad, t.grad = ember.tensor(g), torch.tensor(g)
        e_params.append(e)
        t_params.append(t)
    return e_params, t_params


def _grads(params):
    return [None if p.grad is None else np.array(p.grad.numpy()) for p in params]


@pytest.mark.parametrize("norm_type", [2.0, 1, 3.5, float("inf"), "inf", 0.5])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    e_params, t_params = _params(scale=3.0)
    e_total = eu.clip_grad_norm_(e_params, max_norm, norm_type=norm_type)
    t_total = torch.nn.utils.clip_grad_norm_(t_params, max_norm, norm_type=norm_type)
    assert isinstance(e_total, ember.Tensor) and e_total.shape == ()
    assert e_total.dtype == ember.float32
    np.testing.assert_allclose(e_total.item(), t_total.item(), rtol=1e-6)
    for e, t in zip(_grads(e_params), _grads(t_params)):
        assert (e is None) == (t is None)
        if e is not None:
            np.testing.assert_allclose(e, t, rtol=1e-6, atol=1e-7)
    if max_norm == 0.5:
        flat = np.concatenate([g.ravel() for g in _grads(e_params) if g is not None])
        p = float(norm_type)
        flat = np.abs(flat.astype(np.float64))
        norm = flat.max() if p == np.inf else (flat ** p).sum() ** (1 / p)
        assert norm == pytest.approx(0.5, rel=1e-4)


def test_clip_grad_norm_float64_and_single_tensor():
    e_params, t_params = _params(scale=2.0, dtype=np.float64, with_missing_grad=False)
    e_total = eu.clip_grad_norm_(e_params[0], 0.1)
    t_total = torch.nn.utils.clip_grad_norm_(t_params[0], 0.1)
    assert e_total.dtype == ember.float64
    np.testing.assert_allclose(e_total.item(), t_total.item(), rtol=1e-12)
    np.testing.assert_allclose(e_params[0].grad.numpy(), t_params[0].grad.numpy(), rtol=1e-12)
    np.testing.assert_array_equal(e_params[1].grad.numpy(), t_params[1].grad.numpy())


def test_clip_grad_norm_no_grads_and_empty_generator():
    total = eu.clip_grad_norm_([ember.zeros(2, requires_grad=True)], 1.0)
    assert total.item() == 0.0 and total.dtype == ember.float32
    with pytest.warns(UserWarning, match="empty generator"):
        eu.clip_grad_norm_((p for p in []), 1.0)


def test_clip_grad_norm_nonfinite():
    e_params, t_params = _params()
    e_params[0].grad._data[0, 0] = np.nan
    t_params[0].grad[0, 0] = float("nan")
    with pytest.raises(RuntimeError, match="non-finite"):
        eu.clip_grad_norm_(e_params, 1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(e_params[2].grad.numpy(), t_params[2].grad.numpy())
    e_total = eu.clip_grad_norm_(e_params, 1.0)
    t_total = torch.nn.utils.clip_grad_norm_(t_params, 1.0)
    assert np.isnan(e_total.item()) and np.isnan(t_total.item())
    for e, t in zip(_grads(e_params), _grads(t_params)):
        if e is not None:
            np.testing.assert_array_equal(np.isnan(e), np.isnan(t))


def test_get_total_norm_and_clip_grads_with_norm():
    e_params, t_params = _params(scale=5.0)
    e_grads = [p.grad for p in e_params if p.grad is not None]
    t_grads = [p.grad for p in t_params if p.grad is not None]
    e_norm = eu.get_total_norm(e_grads, norm_type=3.0)
    t_norm = torch.nn.utils.get_total_norm(t_grads, norm_type=3.0)
    np.testing.assert_allclose(e_norm.item(), t_norm.item(), rtol=1e-6)
    eu.clip_grads_with_norm_(e_params, 2.0, e_norm)
    torch.nn.utils.clip_grads_with_norm_(t_params, 2.0, t_norm)
    for e, t in zip(_grads(e_params), _grads(t_params)):
        if e is not None:
            np.testing.assert_allclose(e, t, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("clip_value", [0.3, 2, 10.0])
def test_clip_grad_value_matches_torch(clip_value):
    e_params, t_params = _params(scale=2.0)
    versions = [p.grad._version for p in e_params if p.grad is not None]
    assert eu.clip_grad_value_(e_params, clip_value) is None
    torch.nn.utils.clip_grad_value_(t_params, clip_value)
    for e, t in zip(_grads(e_params), _grads(t_params)):
        if e is not None:
            np.testing.assert_array_equal(e, t)
            assert np.abs(e).max() <= clip_value
    assert [p.grad._version for p in e_params if p.grad is not None] != versions


def test_clip_rejects_non_tensors():
    with pytest.raises(TypeError, match="clip_grad_norm_: expected Tensors, but item 0"):
        eu.clip_grad_norm_([np.zeros(2)], 1.0)


def test_parameters_to_vector_matches_torch_and_is_differentiable():
    e_params, t_params = _params(with_missing_grad=False)
    for p in e_params + t_params:
        p.grad = None
    e_vec = eu.parameters_to_vector(e_params)
    t_vec = torch.nn.utils.parameters_to_vector(t_params)
    np.testing.assert_array_equal(e_vec.detach().numpy(), t_vec.detach().numpy())
    weights = np.arange(t_vec.numel(), dtype=np.float32)
    (e_vec * ember.tensor(weights)).sum().backward()
    (t_vec * torch.tensor(weights)).sum().backward()
    for e, t in zip(e_params, t_params):
        np.testing.assert_array_equal(e.grad.numpy(), t.grad.numpy())


def test_vector_to_parameters_matches_torch_and_shares_memory():
    e_params, t_params = _params(with_missing_grad=False)
    vec = np.linspace(-1, 1, sum(int(np.prod(s)) for s in SHAPES)).astype(np.float32)
    e_vec, t_vec = ember.tensor(vec), torch.tensor(vec)
    eu.vector_to_parameters(e_vec, e_params)
    torch.nn.utils.vector_to_parameters(t_vec, t_params)
    for e, t in zip(e_params, t_params):
        assert e.shape == tuple(t.shape)
        np.testing.assert_array_equal(e.detach().numpy(), t.detach().numpy())
    e_vec._data[0] = 42.0
    assert e_params[0].detach().numpy()[0, 0] == 42.0
    roundtrip = eu.parameters_to_vector(e_params)
    np.testing.assert_array_equal(roundtrip.detach().numpy(), e_vec.numpy())


def test_vector_to_parameters_errors():
    params = [ember.zeros(2, 2, requires_grad=True), ember.zeros(3, requires_grad=True)]
    with pytest.raises(TypeError, match="expected vec to be a Tensor"):
        eu.vector_to_parameters(np.zeros(7), params)
    with pytest.raises(ValueError, match="1-D vector of 7 elements.*got shape \\(6,\\)"):
        eu.vector_to_parameters(ember.zeros(6), params)
    with pytest.raises(ValueError, match="got shape \\(7, 1\\)"):
        eu.vector_to_parameters(ember.zeros(7, 1), params)
    with pytest.raises(ValueError, match="no parameters"):
        eu.parameters_to_vector([])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        eu.vector_to_parameters(ember.zeros(7), params)
