"""``nn.utils.parametrize`` and the weight / spectral normalizations built on it
(``nn.utils.parametrizations``, inventory B28), against torch 2.13: repr, state-dict keys,
outputs, input / parameter gradients and buffers after copying torch's state, float64
gradchecks, the papers' formulas, and the machinery's behaviour (caching, assignment through
``right_inverse``, chaining, removal, transfer, copies, errors)."""
import copy
import pickle

import numpy as np
import pytest
import torch

import ember
import ember.nn as nn
from ember.nn.utils import parametrize
from ember.nn.utils.parametrizations import spectral_norm, weight_norm
from tests.nn.parity import module_parity

R = np.random.default_rng(7)


def f32(*shape):
    return R.standard_normal(shape).astype(np.float32)


def symmetric(lib):
    """torch's documentation example: a square weight kept symmetric (``X = A + Aᵀ``-style)."""
    class Symmetric(lib.nn.Module):
        def forward(self, X):
            return X.triu() + X.triu(1).transpose(-1, -2)
    return Symmetric()


def doubled(lib):
    class Doubled(lib.nn.Module):
        def forward(self, X):
            return 2 * X

        def right_inverse(self, X):
            return X / 2
    return Doubled()


# ------------------------------------------------------------------ weight normalization
@pytest.mark.parametrize("make,x", [
    (lambda L: L.nn.utils.parametrizations.weight_norm(L.nn.Linear(5, 4)), f32(3, 5)),
    (lambda L: L.nn.utils.parametrizations.weight_norm(L.nn.Linear(5, 4), dim=None), f32(3, 5)),
    (lambda L: L.nn.utils.parametrizations.weight_norm(L.nn.Conv2d(3, 4, 3), dim=1),
     f32(2, 3, 6, 5)),
    (lambda L: L.nn.utils.parametrizations.weight_norm(L.nn.Conv2d(2, 3, 2), dim=-2),
     f32(1, 2, 4, 4)),
    (lambda L: L.nn.utils.parametrizations.weight_norm(L.nn.Linear(3, 2, bias=False), "weight",
                                                       dim=-1), f32(2, 3)),
])
def test_weight_norm_torch_parity(make, x):
    module_parity(make, [x])


def test_weight_norm_formula_keys_and_initial_value():
    """``w = g · v / ‖v‖``: g (out, 1) and v (out, in) start so that w is the old weight."""
    m = nn.Linear(20, 40)
    before = m.weight.detach().numpy().copy()
    weight_norm(m)
    assert type(m).__name__ == "ParametrizedLinear"
    assert list(m.state_dict()) == ["bias", "parametrizations.weight.original0",
                                    "parametrizations.weight.original1"]
    g = m.parametrizations.weight.original0.detach().numpy()
    v = m.parametrizations.weight.original1.detach().numpy()
    assert g.shape == (40, 1) and v.shape == (40, 20)
    np.testing.assert_allclose(g[:, 0], np.linalg.norm(before, axis=1), rtol=1e-6)
    np.testing.assert_allclose(m.weight.detach().numpy(), before, rtol=1e-6, atol=1e-7)
    with ember.no_grad():
        m.parametrizations.weight.original0.fill_(3.0)
    np.testing.assert_allclose(np.linalg.norm(m.weight.detach().numpy(), axis=1), 3.0, rtol=1e-6)
    whole = weight_norm(nn.Linear(4, 3), dim=None)
    assert whole.parametrizations.weight.original0.shape == ()


def test_weight_norm_gradcheck_float64():
    m = weight_norm(nn.Conv2d(2, 3, 2)).double()
    x = ember.randn(1, 2, 3, 3, dtype=ember.float64, requires_grad=True)
    assert ember.autograd.gradcheck(m, [x])
    g = m.parametrizations.weight.original0
    v = m.parametrizations.weight.original1
    wn = m.parametrizations.weight[0]
    assert ember.autograd.gradcheck(lambda g_, v_: wn(g_, v_),
                                    [ember.tensor(g.detach().numpy(), requires_grad=True),
                                     ember.tensor(v.detach().numpy(), requires_grad=True)])


def test_weight_norm_trains_g_and_v():
    m = weight_norm(nn.Linear(3, 2))
    opt = ember.optim.SGD(m.parameters(), lr=0.1)
    names = [n for n, _ in m.named_parameters()]
    assert names == ["bias", "parametrizations.weight.original0",
                     "parametrizations.weight.original1"]
    before = m.weight.detach().numpy().copy()
    m(ember.randn(4, 3)).pow(2).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    opt.step()
    assert not np.allclose(m.weight.detach().numpy(), before)


# ------------------------------------------------------------------ spectral normalization
@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("make,x", [
    (lambda L: L.nn.utils.parametrizations.spectral_norm(L.nn.Linear(6, 4)), f32(3, 6)),
    (lambda L: L.nn.utils.parametrizations.spectral_norm(L.nn.Conv2d(3, 5, 3),
                                                         n_power_iterations=3), f32(2, 3, 5, 5)),
    (lambda L: L.nn.utils.parametrizations.spectral_norm(L.nn.ConvTranspose2d(3, 2, 3)),
     f32(1, 3, 4, 4)),                                              # dim = 1 by default
    (lambda L: L.nn.utils.parametrizations.spectral_norm(L.nn.Linear(5, 3), dim=1, eps=1e-6),
     f32(2, 5)),
])
def test_spectral_norm_torch_parity(make, x, train):
    """torch's random u, v are copied in with the state dict; in training mode both run the
    same power iteration (the updated u, v are compared as buffers)."""
    module_parity(make, [x], train=train)


def test_spectral_norm_1d_weight_is_normalized():
    m = nn.Linear(3, 4)
    spectral_norm(m, "bias")
    b = m.bias.detach().numpy()
    np.testing.assert_allclose(np.linalg.norm(b), 1.0, rtol=1e-6)
    assert "parametrizations.bias.0._u" not in m.state_dict()


def test_spectral_norm_sigma_is_the_largest_singular_value():
    """σ(W) = max ‖W h‖ / ‖h‖: after enough power iterations the normalized weight has
    spectral norm 1 and ``W_SN · σ`` is the weight (float64: the estimate converges tightly)."""
    m = nn.Linear(8, 6).double()
    w = m.weight.detach().numpy().copy()
    spectral_norm(m, n_power_iterations=50)
    m.train()
    w_sn = m.weight.detach().numpy()
    sigma = np.linalg.svd(w, compute_uv=False)[0]
    np.testing.assert_allclose(w_sn * sigma, w, rtol=1e-8)
    np.testing.assert_allclose(np.linalg.svd(w_sn, compute_uv=False)[0], 1.0, rtol=1e-8)
    u = m.parametrizations.weight[0]._u.numpy()
    np.testing.assert_allclose(np.abs(u @ np.linalg.svd(w)[0][:, 0]), 1.0, rtol=1e-8)


def test_spectral_norm_power_iteration_only_in_training_and_gradcheck():
    m = spectral_norm(nn.Conv2d(2, 3, 2)).double()
    sn = m.parametrizations.weight[0]
    u0 = sn._u.numpy().copy()
    m.eval()
    m(ember.randn(1, 2, 3, 3, dtype=ember.float64))
    np.testing.assert_array_equal(sn._u.numpy(), u0)                 # frozen in eval mode
    x = ember.randn(1, 2, 3, 3, dtype=ember.float64, requires_grad=True)
    assert ember.autograd.gradcheck(m, [x])
    w = ember.tensor(m.parametrizations.weight.original.detach().numpy(), requires_grad=True)
    assert ember.autograd.gradcheck(sn, [w])                         # d(W / uᵀWv)/dW
    m.train()
    m(ember.randn(1, 2, 3, 3, dtype=ember.float64))
    assert sn._u.numpy().shape == u0.shape


def test_spectral_norm_backward_through_two_forwards():
    """The GAN pattern ``D(real) − D(fake)``: the in-place u, v update of the second forward
    must not break the first one's backward (u, v are copied before use)."""
    d = spectral_norm(nn.Linear(4, 1))
    loss = d(ember.randn(2, 4)).sum() - d(ember.randn(2, 4)).sum()
    loss.backward()
    assert d.parametrizations.weight.original.grad is not None


@pytest.mark.parametrize("call,error,match", [
    (lambda: spectral_norm(nn.Linear(3, 2), "scale"), ValueError, "no parameter or buffer with "
                                                                  "name 'scale'"),
    (lambda: spectral_norm(nn.Linear(3, 2), dim=2), IndexError, "dimension out of range"),
    (lambda: spectral_norm(nn.Linear(3, 2), n_power_iterations=0), ValueError,
     "n_power_iterations to be positive"),
])
def test_spectral_norm_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ------------------------------------------------------------------ the parametrize machinery
def test_register_parametrization_torch_parity_and_repr():
    """A user parametrization (torch's ``Symmetric`` example) written once for both libraries:
    same repr, state-dict keys, outputs and gradients."""
    def make(lib):
        return lib.nn.utils.parametrize.register_parametrization(lib.nn.Linear(4, 4), "weight",
                                                                 symmetric(lib))
    em, _, _ = module_parity(make, [f32(3, 4)])
    w = em.weight.detach().numpy()
    np.testing.assert_array_equal(w, w.T)
    assert list(em.state_dict()) == ["bias", "parametrizations.weight.original"]
    assert parametrize.is_parametrized(em) and parametrize.is_parametrized(em, "weight")
    assert not parametrize.is_parametrized(em, "bias")
    assert parametrize.type_before_parametrizations(em) is nn.Linear


def test_chained_parametrizations_and_assignment_through_right_inverse():
    m = nn.Linear(3, 3)
    parametrize.register_parametrization(m, "weight", doubled(ember))
    parametrize.register_parametrization(m, "weight", symmetric(ember))
    assert len(m.parametrizations.weight) == 2
    a = m.parametrizations.weight.original.detach().numpy()
    np.testing.assert_allclose(m.weight.detach().numpy(), np.triu(2 * a) + np.triu(2 * a, 1).T)
    target = np.array([[1., 2., 3.], [2., 5., 6.], [3., 6., 9.]], np.float32)
    original_ids = id(m.parametrizations.weight.original)
    # assignment needs every parametrization to have a right_inverse; Symmetric has none
    with pytest.raises(RuntimeError, match="Symmetric does not implement right_inverse"):
        m.weight = ember.tensor(target)
    m2 = nn.Linear(3, 3)
    parametrize.register_parametrization(m2, "weight", doubled(ember))
    m2.weight = ember.tensor(target)
    np.testing.assert_allclose(m2.parametrizations.weight.original.detach().numpy(), target / 2)
    np.testing.assert_allclose(m2.weight.detach().numpy(), target)
    assert id(m.parametrizations.weight.original) == original_ids


def test_cached_computes_each_parametrized_tensor_once():
    calls = []

    class Counting(nn.Module):
        def forward(self, X):
            calls.append(1)
            return X * 1.0
    m = parametrize.register_parametrization(nn.Linear(2, 2), "weight", Counting())
    calls.clear()
    m.weight, m.weight
    assert len(calls) == 2
    calls.clear()
    with parametrize.cached():
        with parametrize.cached():
            w1 = m.weight
        w2 = m.weight
    assert len(calls) == 1 and w1 is w2
    m.weight
    assert len(calls) == 2                                   # the cache ends with the context


@pytest.mark.parametrize("leave", [True, False])
def test_remove_parametrizations(leave):
    m = nn.Linear(3, 3)
    original = m.weight
    parametrize.register_parametrization(m, "weight", doubled(ember))
    value = m.weight.detach().numpy().copy()
    parametrize.remove_parametrizations(m, "weight", leave_parametrized=leave)
    assert type(m) is nn.Linear and "parametrizations" not in m._modules
    assert m.weight is original                              # the optimizer's tensor survives
    expected = value if leave else value / 2
    np.testing.assert_allclose(m.weight.detach().numpy(), expected, rtol=1e-6)
    assert list(m.state_dict()) == ["bias", "weight"]           # re-registered last, as in torch


def test_remove_weight_norm_keeps_the_value_and_refuses_to_restore_originals():
    m = weight_norm(nn.Linear(3, 2))
    value = m.weight.detach().numpy().copy()
    with pytest.raises(ValueError, match="Cannot leave unparametrized"):
        parametrize.remove_parametrizations(m, "weight", leave_parametrized=False)
    parametrize.remove_parametrizations(m, "weight")
    assert isinstance(m.weight, nn.Parameter) and type(m) is nn.Linear
    np.testing.assert_allclose(m.weight.detach().numpy(), value, rtol=1e-6)


def test_two_parametrized_tensors_and_partial_removal():
    m = nn.Linear(3, 3)
    parametrize.register_parametrization(m, "weight", doubled(ember))
    parametrize.register_parametrization(m, "bias", doubled(ember))
    parametrize.remove_parametrizations(m, "weight")
    assert type(m).__name__ == "ParametrizedLinear" and parametrize.is_parametrized(m, "bias")
    parametrize.remove_parametrizations(m, "bias")
    assert type(m) is nn.Linear


def test_transfer_parametrizations_and_params():
    source = weight_norm(nn.Linear(3, 2))
    target = nn.Linear(3, 2)
    parametrize.transfer_parametrizations_and_params(source, target)
    assert parametrize.is_parametrized(target, "weight")
    assert target.parametrizations.weight.original1 is source.parametrizations.weight.original1
    np.testing.assert_array_equal(target.weight.detach().numpy(),
                                  source.weight.detach().numpy())
    other = nn.Module()
    parametrize.transfer_parametrizations_and_params(source, other, "weight")
    np.testing.assert_array_equal(other.weight.detach().numpy(), source.weight.detach().numpy())
    assert parametrize.transfer_parametrizations_and_params(nn.Linear(2, 2), other) is other


def test_deepcopy_works_and_pickling_is_refused():
    m = spectral_norm(nn.Linear(3, 2))
    clone = copy.deepcopy(m)
    assert type(clone).__name__ == "ParametrizedLinear"
    assert clone.parametrizations.weight.original is not m.parametrizations.weight.original
    m.eval()
    clone.eval()
    x = ember.randn(2, 3)
    np.testing.assert_array_equal(clone(x).detach().numpy(), m(x).detach().numpy())
    with pytest.raises(RuntimeError, match="only supported through state_dict"):
        pickle.dumps(m)


def test_state_dict_round_trip_from_torch():
    """A parametrized torch module's checkpoint, converted to arrays, loads into Ember's."""
    t = torch.nn.utils.parametrizations.weight_norm(torch.nn.Conv2d(2, 3, 3))
    e = weight_norm(nn.Conv2d(2, 3, 3))
    e.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    x = f32(1, 2, 5, 5)
    np.testing.assert_allclose(e(ember.tensor(x)).detach().numpy(),
                               t(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)


class _Halve(nn.Module):
    def forward(self, X):
        return X.double() / 2


class _Flat(nn.Module):
    def forward(self, X):
        return X.reshape(-1)


@pytest.mark.parametrize("call,match", [
    (lambda: parametrize.register_parametrization(nn.Linear(2, 2), "scale", doubled(ember)),
     "does not have a parameter, a buffer, or a parametrized element with name 'scale'"),
    (lambda: parametrize.register_parametrization(nn.Linear(3, 2), "weight", _Flat()),
     r"may not change the shape.*\nunparametrized shape: \(2, 3\)"),
    (lambda: parametrize.register_parametrization(
        parametrize.register_parametrization(nn.Linear(3, 3), "weight", doubled(ember)),
        "weight", _Halve()), r"may not change the dtype.*\nmodule.weight.dtype: ember.float32"),
    (lambda: parametrize.remove_parametrizations(nn.Linear(2, 2), "weight"),
     "does not have a parametrization on weight"),
    (lambda: parametrize.register_parametrization(nn.Linear(2, 2, bias=False), "bias",
                                                  doubled(ember)),
     "Linear.bias is None: there is nothing to parametrize"),
])
def test_parametrize_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_unsafe_allows_a_change_of_shape():
    m = parametrize.register_parametrization(nn.Linear(3, 2), "weight", _Flat(), unsafe=True)
    assert tuple(m.weight.shape) == (6,)
