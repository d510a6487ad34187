"""Lazy modules (``nn.LazyLinear``, ``LazyConv*``, ``LazyConvTranspose*``, ``LazyBatchNorm*``,
``LazyInstanceNorm*``): parameters materialized by the first forward pass, the module then
eager, and ``state_dict`` / ``load_state_dict`` / optimizers behaving as torch's do before
and after."""
import copy
import math
import pickle

import numpy as np
import pytest
import torch

import ember
from tests.harness import assert_close
from tests.nn.parity import copy_torch_state

# (constructor call, input shape)
LAZY = [
    ("LazyLinear(3)", (4, 5)),
    ("LazyLinear(3, bias=False)", (2, 6, 5)),
    ("LazyConv1d(4, 3, padding=1)", (2, 6, 7)),
    ("LazyConv2d(4, 3, stride=2, groups=2)", (2, 6, 7, 7)),
    ("LazyConv2d(5, kernel_size=5, padding=2, bias=False)", (3, 7, 7)),
    ("LazyConv3d(2, 3, padding_mode='reflect', padding=1)", (1, 3, 4, 5, 5)),
    ("LazyConvTranspose1d(4, 3, stride=2)", (2, 6, 5)),
    ("LazyConvTranspose2d(4, 3, stride=2, output_padding=1, groups=2)", (2, 6, 4, 4)),
    ("LazyConvTranspose3d(2, 2, stride=2)", (1, 3, 2, 3, 3)),
    ("LazyBatchNorm1d()", (4, 6)),
    ("LazyBatchNorm2d(momentum=0.3)", (4, 6, 3, 3)),
    ("LazyBatchNorm3d(affine=False)", (2, 3, 2, 3, 3)),
    ("LazyInstanceNorm1d()", (2, 6, 5)),
    ("LazyInstanceNorm2d(track_running_stats=False)", (2, 6, 4, 4)),
    ("LazyInstanceNorm3d(affine=False)", (2, 3, 2, 3, 3)),
]
IDS = [call for call, _ in LAZY]


def _input(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _state_description(module):
    """The state dict's keys with, for each value, 'uninitialized' or its shape."""
    return {k: "uninitialized" if type(v).__name__.startswith("Uninitialized") else tuple(v.shape)
            for k, v in module.state_dict().items()}


@pytest.mark.parametrize("call,shape", LAZY, ids=IDS)
def test_first_forward_materializes_and_turns_eager(call, shape):
    tm, em = eval("torch.nn." + call), eval("ember.nn." + call)
    assert repr(em) == repr(tm)
    assert _state_description(em) == _state_description(tm)
    assert em.has_uninitialized_params() == tm.has_uninitialized_params()
    x = _input(shape)
    tm(torch.from_numpy(x))
    em(ember.from_numpy(x))
    assert type(em).__name__ == type(tm).__name__ and not type(em).__name__.startswith("Lazy")
    assert type(em) is getattr(ember.nn, type(tm).__name__)
    assert repr(em) == repr(tm)
    assert _state_description(em) == _state_description(tm)
    assert not hasattr(em, "_initialize_hook") and not em._forward_pre_hooks
    for p in em.parameters():
        assert type(p) is ember.nn.Parameter and p.requires_grad


@pytest.mark.parametrize("call,shape", LAZY, ids=IDS)
def test_after_initialization_forward_and_backward_equal_torch(call, shape):
    tm, em = eval("torch.nn." + call), eval("ember.nn." + call)
    x = _input(shape)
    tm(torch.from_numpy(x))
    em(ember.from_numpy(x))
    copy_torch_state(tm, em)
    xt = torch.from_numpy(_input(shape, 1)).requires_grad_()
    xe = ember.from_numpy(_input(shape, 1)).requires_grad_()
    yt, ye = tm(xt), em(xe)
    assert_close(ye.detach().numpy(), yt.detach().numpy(), what="output")
    g = _input(tuple(yt.shape), 2)
    yt.backward(torch.from_numpy(g))
    ye.backward(ember.from_numpy(g))
    assert_close(xe.grad.numpy(), xt.grad.numpy(), what="input grad")
    t_params = dict(tm.named_parameters())
    for name, p in em.named_parameters():
        assert_close(p.grad.numpy(), t_params[name].grad.numpy(), what=name)


@pytest.mark.parametrize("call,shape", [c for c in LAZY if "Norm" not in c[0]],
                         ids=[c for c, _ in LAZY if "Norm" not in c])
def test_materialized_parameters_get_the_eager_initialization(call, shape):
    """reset_parameters runs once the sizes are known: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    em = eval("ember.nn." + call)
    em(ember.from_numpy(_input(shape)))
    w = em.weight.detach().numpy()
    fan_in = w[0].size if "Transpose" not in call else w.shape[1] * np.prod(w.shape[2:])
    bound = 1 / math.sqrt(fan_in)
    assert np.all(np.abs(w) <= bound) and w.std() > bound / 4


def test_norm_parameters_and_statistics_start_at_one_and_zero():
    m = ember.nn.LazyBatchNorm2d()
    m.eval()
    m(ember.ones(2, 3, 2, 2))
    for name, value in [("weight", 1), ("bias", 0), ("running_mean", 0), ("running_var", 1)]:
        np.testing.assert_array_equal(getattr(m, name).detach().numpy(), np.full(3, value))
    assert m.num_batches_tracked.item() == 0


def test_optimizer_built_before_initialization_follows_torch():
    """SGD with momentum holds the uninitialized parameter objects; after the first forward
    they are materialized in place and the trajectory equals torch's."""
    def build(lib):
        nn = lib.nn
        model = nn.Sequential(nn.LazyConv2d(4, 3), nn.LazyBatchNorm2d(), nn.ReLU(), nn.Flatten(),
                              nn.LazyLinear(3))
        model.double()   # float64 from the start: the comparison is exact but for sum order
        return model, lib.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    (tm, t_opt), (em, e_opt) = build(torch), build(ember)
    assert e_opt.state_dict() == {"state": {}, "param_groups": [
        {k: v for k, v in t_opt.state_dict()["param_groups"][0].items()
         if k not in ("foreach", "differentiable", "fused")}]}
    x = _input((4, 2, 6, 6)).astype(np.float64)
    with torch.no_grad():
        tm(torch.from_numpy(x))
    with ember.no_grad():
        em(ember.from_numpy(x))
    copy_torch_state(tm, em)
    y = np.array([0, 2, 1, 2])
    for step in range(5):
        for model, opt, lib in ((tm, t_opt, torch), (em, e_opt, ember)):
            opt.zero_grad()
            loss = lib.nn.functional.cross_entropy(model(lib.from_numpy(x)), lib.from_numpy(y))
            loss.backward()
            opt.step()
        for (name, tp), ep in zip(tm.state_dict().items(), em.state_dict().values()):
            assert ep.dtype == ember.float64 or name.endswith("num_batches_tracked")
            assert_close(ep.numpy(), tp.numpy(), what=f"step {step} {name}")
    assert list(e_opt.state_dict()["state"]) == list(t_opt.state_dict()["state"])


def test_state_dict_round_trips_in_every_state():
    x = ember.from_numpy(_input((2, 5)))
    trained = ember.nn.LazyLinear(3)
    trained(x)
    # an initialized state into a lazy module: materialized with the loaded values, eager at
    # the next forward, and not re-initialized there
    fresh = ember.nn.LazyLinear(3)
    result = fresh.load_state_dict(trained.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert type(fresh) is ember.nn.LazyLinear and not fresh.has_uninitialized_params()
    np.testing.assert_array_equal(fresh.weight.detach().numpy(), trained.weight.detach().numpy())
    np.testing.assert_array_equal(fresh(x).detach().numpy(), trained(x).detach().numpy())
    assert type(fresh) is ember.nn.Linear and repr(fresh) == repr(trained)
    # an uninitialized state into a lazy module: nothing to copy, still lazy
    lazy = ember.nn.LazyLinear(3)
    lazy.load_state_dict(ember.nn.LazyLinear(3).state_dict())
    assert lazy.has_uninitialized_params()
    # an uninitialized state into an initialized module: torch's RuntimeError
    for lib, module in ((torch, torch.nn.Linear(5, 3)), (ember, trained)):
        with pytest.raises(RuntimeError, match="Can't access the shape of an uninitialized"):
            module.load_state_dict(lib.nn.LazyLinear(3).state_dict())


def test_loaded_state_sets_the_size_of_convolutions_and_norms():
    conv = ember.nn.LazyConv2d(4, 3, groups=2)
    conv(ember.zeros(1, 6, 5, 5))
    loaded = ember.nn.LazyConv2d(4, 3, groups=2)
    loaded.load_state_dict(conv.state_dict())
    loaded(ember.zeros(1, 6, 5, 5))
    assert repr(loaded) == repr(conv)
    norm = ember.nn.LazyBatchNorm2d()
    norm(ember.zeros(2, 3, 2, 2))
    loaded = ember.nn.LazyBatchNorm2d()
    loaded.load_state_dict(norm.state_dict())
    loaded(ember.zeros(2, 3, 2, 2))
    assert repr(loaded) == repr(norm)


@pytest.mark.parametrize("expr", [
    "sum(p.numel() for p in m.parameters())", "m.weight + 1", "m.weight.detach()",
    "lib.optim.Adagrad(m.parameters())"])
def test_computing_with_uninitialized_parameters_is_refused_like_torch(expr):
    for lib in (torch, ember):
        with pytest.raises(ValueError, match="uninitialized parameter"):
            eval(expr, {"m": lib.nn.LazyLinear(3), "lib": lib})
    with pytest.raises(RuntimeError, match="shape of an uninitialized"):
        ember.nn.LazyLinear(3).weight.shape


def test_what_works_before_initialization_matches_torch():
    for lib in (torch, ember):
        m = lib.nn.LazyLinear(3)
        w = m.weight
        assert repr(w) == "<UninitializedParameter>"
        assert w.requires_grad and w.is_leaf and w.grad is None and w.is_floating_point()
        assert str(w.dtype).endswith("float32") and str(w.device) == "cpu"
        m.double()
        assert str(m.weight.dtype).endswith("float64") and m.weight is w
        y = m(lib.ones(2, 4, dtype=lib.float64))
        assert str(y.dtype).endswith("float64")
    em = ember.nn.LazyBatchNorm2d(dtype=ember.float64)
    em(ember.ones(2, 3, 1, 1, dtype=ember.float64))
    assert em.running_mean.dtype is ember.float64 and em.num_batches_tracked.dtype is ember.int64


def test_copies_and_pickles_of_lazy_modules_initialize_on_their_own():
    m = ember.nn.Sequential(ember.nn.LazyLinear(3), ember.nn.LazyBatchNorm1d())
    twin = copy.deepcopy(m)
    pickled = pickle.loads(pickle.dumps(m))
    twin(ember.ones(4, 5))
    assert type(twin[0]) is ember.nn.Linear and twin[0].in_features == 5
    assert m[0].has_uninitialized_params() and pickled[1].has_uninitialized_params()
    pickled(ember.ones(4, 2))
    assert pickled[0].in_features == 2


def test_bad_first_inputs_are_refused_like_torch():
    cases = [("LazyConv2d(4, 3, groups=4)", (1, 6, 5, 5), ValueError),
             ("LazyConv2d(4, 3)", (6, 5), RuntimeError)]
    for call, shape, error in cases:
        for lib in (torch, ember):
            with pytest.raises(error):
                eval("lib.nn." + call, {"lib": lib})(lib.zeros(*shape))
