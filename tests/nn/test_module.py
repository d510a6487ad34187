"""nn.Module, Parameter and the containers: registration, naming, state_dict, hooks, modes,
conversion, printing -- compared with torch where torch defines the answer."""
import copy
import pickle
from collections import OrderedDict

import numpy as np
import pytest
import torch

import ember
import ember.nn as nn
from tests.harness import assert_close
from tests.nn.parity import copy_torch_state


def build(lib):
    """A model touching every kind of registration: params, buffers (persistent or not),
    nested Sequential / ModuleList / ModuleDict / ParameterList / ParameterDict."""
    N = lib.nn

    class Block(N.Module):
        def __init__(self):
            super().__init__()
            self.conv = N.Conv2d(3, 4, 3, padding=1)
            self.bn = N.BatchNorm2d(4)
            self.register_buffer("scale", lib.ones(1))
            self.register_buffer("cache", lib.zeros(2), persistent=False)
            self.gain = N.Parameter(lib.ones(4))

        def forward(self, x):
            return (self.bn(self.conv(x)) * self.scale) * self.gain.reshape(1, 4, 1, 1)

    class Model(N.Module):
        def __init__(self):
            super().__init__()
            self.block = Block()
            self.heads = N.ModuleList([N.Linear(4, 2), N.Linear(4, 2, bias=False)])
            self.extra = N.ModuleDict({"b": N.LayerNorm(4), "a": N.PReLU()})
            self.plist = N.ParameterList([N.Parameter(lib.zeros(2)), lib.ones(3)])
            self.pdict = N.ParameterDict({"z": N.Parameter(lib.zeros(1))})
            self.features = N.Sequential(N.ReLU(), N.Flatten())

        def forward(self, x):
            h = self.block(x).mean(dim=(2, 3))
            h = self.extra["a"](self.extra["b"](h))
            return self.heads[0](h) + self.heads[1](h) + self.plist[0] + self.pdict["z"]

    return Model()


@pytest.fixture
def models():
    tm = build(torch)
    em = build(ember)
    copy_torch_state(tm, em)
    return em, tm


def test_names_and_order_match_torch(models):
    em, tm = models
    assert [n for n, _ in em.named_parameters()] == [n for n, _ in tm.named_parameters()]
    assert [n for n, _ in em.named_buffers()] == [n for n, _ in tm.named_buffers()]
    assert [n for n, _ in em.named_modules()] == [n for n, _ in tm.named_modules()]
    assert [n for n, _ in em.named_children()] == [n for n, _ in tm.named_children()]
    assert list(em.state_dict()) == list(tm.state_dict())
    assert "block.cache" not in em.state_dict()
    assert [type(m).__name__ for m in em.modules()] == [type(m).__name__ for m in tm.modules()]
    assert len(list(em.parameters(recurse=False))) == 0
    assert [n for n, _ in em.block.named_parameters(prefix="p", recurse=False)] == ["p.gain"]
    assert [n for n, _ in em.named_parameters(prefix="m")][0] == "m.block.gain"


def test_forward_backward_match_torch(models):
    em, tm = models
    x = np.random.randn(2, 3, 5, 5).astype(np.float32)
    eo, to = em(ember.tensor(x)), tm(torch.tensor(x))
    assert_close(eo.detach().numpy(), to.detach().numpy())
    eo.sum().backward()
    to.sum().backward()
    tp = dict(tm.named_parameters())
    for name, p in em.named_parameters():
        if tp[name].grad is None:
            assert p.grad is None, name
        else:
            assert_close(p.grad.numpy(), tp[name].grad.numpy(), what=name)
    assert_close(em.block.bn.running_mean.numpy(), tm.block.bn.running_mean.numpy())


def test_repr_matches_torch(models):
    em, tm = models
    assert repr(em) == repr(tm).replace("torch.", "ember.")
    rep = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)] + [nn.ReLU()])
    trep = torch.nn.ModuleList([torch.nn.Linear(2, 2) for _ in range(3)] + [torch.nn.ReLU()])
    assert repr(rep) == repr(trep)
    assert repr(nn.Sequential()) == repr(torch.nn.Sequential())


def test_shared_parameters_listed_once():
    lin = nn.Linear(3, 3)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(list(seq.parameters())) == 2
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias"]
    assert len(list(seq.named_parameters(remove_duplicate=False))) == 4
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert len(list(seq.named_modules())) == 3
    assert len(list(seq.named_modules(remove_duplicate=False))) == 4


def test_setattr_rules():
    m = nn.Module()
    m.w = nn.Parameter(ember.zeros(2))
    assert "w" in m._parameters and "w" not in m.__dict__
    with pytest.raises(TypeError, match="cannot assign 'Tensor' as parameter 'w'"):
        m.w = ember.zeros(2)
    m.w = None
    assert m._parameters["w"] is None and m.w is None
    m.register_buffer("b", ember.zeros(3))
    m.b = ember.ones(3)
    assert m._buffers["b"].numpy().tolist() == [1, 1, 1]
    with pytest.raises(TypeError):
        m.b = 5
    m.sub = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="child module 'sub'"):
        m.sub = 3
    m.sub = nn.Parameter(ember.zeros(1))
    assert "sub" not in m._modules and "sub" in m._parameters
    m.plain = 3
    assert m.__dict__["plain"] == 3
    with pytest.raises(KeyError, match="attribute 'plain' already exists"):
        m.register_buffer("plain", ember.zeros(1))
    with pytest.raises(KeyError, match="contain"):
        m.register_parameter("a.b", None)
    with pytest.raises(TypeError, match="ember.nn.Parameter or None required"):
        m.register_parameter("q", ember.zeros(1))
    m.buf = nn.Buffer(ember.ones(2), persistent=False)
    assert "buf" in m._buffers and "buf" not in m.state_dict()
    assert type(m.buf) is ember.Tensor


def test_getattr_delattr_dir_and_lookup(models):
    em, _ = models
    with pytest.raises(AttributeError, match="'Model' object has no attribute 'nope'"):
        em.nope
    assert em.get_submodule("block.conv") is em.block.conv
    assert em.get_submodule("") is em
    assert em.get_parameter("heads.0.weight") is em.heads[0].weight
    assert em.get_buffer("block.bn.running_var") is em.block.bn.running_var
    with pytest.raises(AttributeError, match="has no attribute `nothere`"):
        em.get_submodule("block.nothere")
    with pytest.raises(AttributeError, match="is not an nn.Parameter"):
        em.get_parameter("block.scale")
    assert {"block", "heads", "extra", "forward"} <= set(dir(em))
    del em.block.scale
    assert "block.scale" not in em.state_dict()
    del em.heads
    assert not any(k.startswith("heads") for k in em.state_dict())


def test_module_init_rejects_unknown_arguments():
    with pytest.raises(TypeError):
        nn.Module(3)
    with pytest.raises(TypeError):
        nn.Linear(3, 4, foo=1)
    with pytest.raises(TypeError):
        nn.Conv2d(3, 4, 3, paddding=1)

    class NoForward(nn.Module):
        pass
    with pytest.raises(TypeError, match='missing the required "forward"'):
        NoForward()(ember.zeros(1))


# ------------------------------------------------------------------ state dicts
def test_state_dict_values_are_detached_views(models):
    em, _ = models
    sd = em.state_dict()
    w = sd["block.conv.weight"]
    assert type(w) is ember.Tensor and not w.requires_grad
    assert np.shares_memory(w.numpy(), em.block.conv.weight.detach().numpy())
    kv = em.state_dict(keep_vars=True)
    assert kv["block.conv.weight"] is em.block.conv.weight
    assert sd["block.bn.num_batches_tracked"].dtype == ember.int64
    assert em.state_dict(prefix="net.").keys() == {"net." + k: 0 for k in sd}.keys()


def test_load_state_dict_from_torch_numpy_and_tensors():
    tm, em = build(torch), build(ember)
    tm.block.bn.num_batches_tracked.fill_(7)
    res = em.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    assert res.missing_keys == [] and res.unexpected_keys == []
    assert repr(res) == "<All keys matched successfully>"
    assert int(em.block.bn.num_batches_tracked) == 7
    assert em.block.bn.num_batches_tracked.dtype == ember.int64
    em2 = build(ember)
    em2.load_state_dict(em.state_dict())
    for (k, a), b in zip(em2.state_dict().items(), tm.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)
    em3 = build(ember)
    em3.load_state_dict(tm.state_dict())  # torch tensors convert through NumPy
    np.testing.assert_array_equal(em3.heads[0].weight.detach().numpy(),
                                  tm.heads[0].weight.detach().numpy())


def test_load_state_dict_keeps_parameter_objects_and_dtype():
    m = nn.Linear(3, 2)
    w = m.weight
    m.load_state_dict({"weight": np.ones((2, 3)), "bias": np.zeros(2)})
    assert m.weight is w and m.weight.dtype == ember.float32
    np.testing.assert_array_equal(m.weight.detach().numpy(), np.ones((2, 3)))
    m.load_state_dict({"weight": ember.full((2, 3), 2.0), "bias": ember.zeros(2)}, assign=True)
    assert m.weight is not w and isinstance(m.weight, nn.Parameter) and m.weight.requires_grad


def test_load_state_dict_errors_like_torch():
    class Net(nn.Module):
        def __init__(self, n):
            super().__init__()
            self.fc1 = nn.Linear(n, 120)
            self.fc2 = nn.Linear(120, 10)

    class TNet(torch.nn.Module):
        def __init__(self, n):
            super().__init__()
            self.fc1 = torch.nn.Linear(n, 120)
            self.fc2 = torch.nn.Linear(120, 10)

    sd = {k: v.numpy() for k, v in TNet(400).state_dict().items()}
    with pytest.raises(RuntimeError) as err:
        Net(256).load_state_dict(sd)
    assert ("size mismatch for fc1.weight: copying a param with shape (120, 400) from "
            "checkpoint, the shape in current model is (120, 256).") in str(err.value)
    assert str(err.value).startswith("Error(s) in loading state_dict for Net:")

    partial = {k: v for k, v in sd.items() if k != "fc2.bias"}
    partial["fc3.weight"] = np.zeros(3)
    partial["fc1.extra"] = np.zeros(3)
    net = Net(400)
    with pytest.raises(RuntimeError) as err:
        net.load_state_dict(partial)
    msg = str(err.value)
    tnet = TNet(400)
    with pytest.raises(RuntimeError) as terr:
        tnet.load_state_dict({k: torch.from_numpy(v) for k, v in partial.items()})
    assert msg == str(terr.value).replace("TNet", "Net")
    assert 'Missing key(s) in state_dict: "fc2.bias".' in msg
    assert 'Unexpected key(s) in state_dict: "fc3.weight", "fc1.extra".' in msg
    res = net.load_state_dict(partial, strict=False)
    assert res.missing_keys == ["fc2.bias"]
    assert res.unexpected_keys == ["fc3.weight", "fc1.extra"]
    assert res == tnet.load_state_dict({k: torch.from_numpy(v) for k, v in partial.items()},
                                       strict=False)
    np.testing.assert_array_equal(net.fc1.weight.detach().numpy(), sd["fc1.weight"])
    with pytest.raises(TypeError, match="dict-like"):
        net.load_state_dict([1, 2])
    with pytest.raises(RuntimeError, match='While copying the parameter named "fc1.bias"'):
        net.load_state_dict({**sd, "fc1.bias": "text"})


def test_deepcopy_and_pickle_roundtrip(models):
    em, _ = models
    clone = copy.deepcopy(em)
    assert isinstance(clone.heads[0].weight, nn.Parameter)
    assert not np.shares_memory(clone.heads[0].weight.detach().numpy(),
                                em.heads[0].weight.detach().numpy())
    seq = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.PReLU())
    back = pickle.loads(pickle.dumps(seq))
    assert isinstance(back[2].weight, nn.Parameter) and back[2].weight.requires_grad
    for (k, a), b in zip(back.state_dict().items(), seq.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)


# ------------------------------------------------------------------ modes, grads, apply
def test_train_eval_propagate(models):
    em, _ = models
    assert all(m.training for m in em.modules())
    assert em.eval() is em
    assert not any(m.training for m in em.modules())
    em.block.train()
    assert em.block.bn.training and not em.heads[0].training
    with pytest.raises(ValueError):
        em.train("yes")


def test_dropout_and_batchnorm_follow_mode():
    drop = nn.Dropout(0.5)
    x = ember.ones(200, 50)
    assert (drop(x).numpy() == 0).mean() > 0.3
    drop.eval()
    np.testing.assert_array_equal(drop(x).numpy(), x.numpy())
    bn = nn.BatchNorm1d(3)
    bn(ember.randn(4, 3))
    assert int(bn.num_batches_tracked) == 1
    bn.eval()
    bn(ember.randn(4, 3))
    assert int(bn.num_batches_tracked) == 1


def test_zero_grad_requires_grad_and_apply(models):
    em, _ = models
    em(ember.randn(2, 3, 4, 4)).sum().backward()
    assert em.heads[0].weight.grad is not None
    em.zero_grad(set_to_none=False)
    assert np.all(em.heads[0].weight.grad.numpy() == 0)
    em.zero_grad()
    assert all(p.grad is None for p in em.parameters())
    em.requires_grad_(False)
    assert not any(p.requires_grad for p in em.parameters())
    em.requires_grad_()
    seen = []
    assert em.apply(lambda m: seen.append(type(m).__name__)) is em
    assert seen[-1] == "Model" and seen.index("Conv2d") < seen.index("Block")

    def init_weights(m):
        if isinstance(m, nn.Linear):
            nn.init.constant_(m.weight, 0.5)
    em.apply(init_weights)
    assert np.all(em.heads[1].weight.detach().numpy() == 0.5)


def test_to_double_float_keeps_parameters(models):
    em, _ = models
    w = em.heads[0].weight
    em(ember.randn(1, 3, 4, 4)).sum().backward()
    assert em.double() is em
    assert em.heads[0].weight is w and w.dtype == ember.float64 and w.grad.dtype == ember.float64
    assert em.block.bn.running_mean.dtype == ember.float64
    assert em.block.bn.num_batches_tracked.dtype == ember.int64
    out = em(ember.randn(1, 3, 4, 4, dtype=ember.float64))
    assert out.dtype == ember.float64
    em.float()
    assert w.dtype == ember.float32
    em.to(ember.float64)
    assert w.dtype == ember.float64
    em.to("cpu", dtype=ember.float32)
    assert w.dtype == ember.float32
    em.to(ember.zeros(1, dtype=ember.float64))
    assert w.dtype == ember.float64
    assert em.cpu() is em and em.to("cpu") is em
    with pytest.raises(RuntimeError, match="CPU only"):
        em.cuda()
    with pytest.raises(RuntimeError, match="CPU only"):
        em.to("cuda")
    with pytest.raises(TypeError, match="floating point"):
        em.to(ember.int64)


# ------------------------------------------------------------------ hooks
def test_forward_hooks_like_torch():
    calls = []
    for lib in (ember, torch):
        m = lib.nn.Linear(2, 2)
        log = []
        h1 = m.register_forward_pre_hook(lambda mod, args: (args[0] * 2,))
        h2 = m.register_forward_hook(lambda mod, args, out: out + 1)
        m.register_forward_hook(lambda mod, args, out: log.append("first"), prepend=True)
        m.register_forward_pre_hook(lambda mod, args, kwargs: (args, kwargs), with_kwargs=True)
        m.register_forward_hook(lambda mod, args, kwargs, out: log.append(sorted(kwargs)),
                                with_kwargs=True)
        with lib.no_grad():
            m.weight.copy_(lib.eye(2))
            m.bias.zero_()
        x = lib.ones(1, 2)
        y1 = m(x).detach().numpy().tolist()
        h1.remove()
        h2.remove()
        y2 = m(x).detach().numpy().tolist()
        calls.append((y1, y2, log))
    assert calls[0] == calls[1] == ([[3.0, 3.0]], [[1.0, 1.0]], ["first", [], "first", []])


def test_forward_pre_hook_single_value_and_always_call():
    m = nn.Identity()
    m.register_forward_pre_hook(lambda mod, args: args[0] + 1)
    assert m(ember.zeros(1)).item() == 1

    class Boom(nn.Module):
        def forward(self, x):
            raise ValueError("boom")
    b, seen = Boom(), []
    b.register_forward_hook(lambda mod, args, out: seen.append("always"), always_call=True)
    b.register_forward_hook(lambda mod, args, out: seen.append("normal"))
    with pytest.raises(ValueError):
        b(ember.zeros(1))
    assert seen == ["always"]


def test_full_backward_hooks_like_torch():
    results = []
    x = np.random.randn(3, 4).astype(np.float32)
    w = np.random.randn(2, 4).astype(np.float32)
    for lib in (ember, torch):
        m = lib.nn.Linear(4, 2)
        with lib.no_grad():
            m.weight.copy_(lib.from_numpy(w))
        seen = {}

        def hook(mod, gin, gout):
            seen["gin"] = [None if g is None else g.numpy().copy() for g in gin]
            seen["gout"] = [g.numpy().copy() for g in gout]
            return (gin[0] * 3,)

        def pre(mod, gout):
            seen["pre"] = gout[0].numpy().copy()
            return (gout[0] * 2,)
        m.register_full_backward_hook(hook)
        m.register_full_backward_pre_hook(pre)
        xi = lib.from_numpy(x.copy()).requires_grad_(True)
        m(xi).sum().backward()
        results.append((seen, xi.grad.numpy().copy(), m.weight.grad.numpy().copy()))
    (es, exg, ewg), (ts, txg, twg) = results
    assert_close(es["pre"], ts["pre"])
    assert_close(es["gout"][0], ts["gout"][0])
    assert_close(es["gin"][0], ts["gin"][0])
    assert_close(exg, txg)
    assert_close(ewg, twg)

    m, seen = nn.Linear(2, 2), []
    m.register_full_backward_hook(lambda mod, gin, gout: seen.append(gin))
    m(ember.ones(1, 2)).sum().backward()
    assert seen == [(None,)]

    bil, seen = nn.Bilinear(2, 3, 1), []
    handle = bil.register_full_backward_hook(lambda mod, gin, gout: seen.append(len(gin)))
    x1, x2 = ember.randn(4, 2, requires_grad=True), ember.randn(4, 3, requires_grad=True)
    bil(x1, x2).sum().backward()
    assert seen == [2]
    handle.remove()
    bil.register_full_backward_hook(lambda mod, gin, gout: (gin[0], gin[1]))
    with pytest.raises(RuntimeError, match="one Tensor input"):
        bil(x1, x2).sum().backward()


# ------------------------------------------------------------------ containers
def test_sequential_api():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    s = nn.Sequential(a, b, c)
    assert len(s) == 3 and s[0] is a and s[-1] is c and list(s) == [a, b, c]
    sl = s[1:]
    assert isinstance(sl, nn.Sequential) and list(sl) == [b, c]
    assert list(sl._modules) == ["1", "2"]
    s.append(nn.Sigmoid())
    s.insert(1, nn.Identity())
    assert [type(m).__name__ for m in s] == ["Linear", "Identity", "ReLU", "Linear", "Sigmoid"]
    s.extend([nn.Tanh()])
    del s[1]
    assert list(s._modules) == [str(i) for i in range(5)]
    s[0] = nn.Linear(2, 3)
    assert s[0] is not a
    assert s.pop(4).__class__ is nn.Tanh
    s2 = s + nn.Sequential(nn.ReLU())
    assert len(s2) == 5
    with pytest.raises(IndexError):
        s[10]
    od = nn.Sequential(OrderedDict([("conv", nn.Conv2d(1, 2, 3)), ("act", nn.ReLU())]))
    assert list(od.state_dict()) == ["conv.weight", "conv.bias"]
    assert od.act is od[1]
    x = ember.randn(4, 2)
    np.testing.assert_allclose(s(x).numpy() if not s(x).requires_grad else
                               s(x).detach().numpy(),
                               s[3](s[2](s[1](s[0](x)))).detach().numpy())


def test_modulelist_moduledict_api():
    ml = nn.ModuleList([nn.ReLU(), nn.Tanh()])
    ml.append(nn.Sigmoid())
    ml.insert(0, nn.Identity())
    ml += [nn.ELU()]
    assert [type(m).__name__ for m in ml] == ["Identity", "ReLU", "Tanh", "Sigmoid", "ELU"]
    assert isinstance(ml[1:3], nn.ModuleList) and len(ml[1:3]) == 2
    del ml[0]
    assert type(ml[0]).__name__ == "ReLU" and list(ml._modules) == ["0", "1", "2", "3"]
    with pytest.raises(IndexError):
        ml[7]
    md = nn.ModuleDict([("x", nn.ReLU()), ("y", nn.Tanh())])
    md["z"] = nn.Linear(1, 1)
    assert list(md.keys()) == ["x", "y", "z"] and "z" in md and len(md) == 3
    assert md.pop("x").__class__ is nn.ReLU
    md.update({"w": nn.Identity()})
    assert list(md) == ["y", "z", "w"]
    assert [n for n, _ in md.named_parameters()] == ["z.weight", "z.bias"]
    md.clear()
    assert len(md) == 0


def test_parameterlist_parameterdict_api():
    pl = nn.ParameterList([ember.zeros(2)])
    pl.append(nn.Parameter(ember.ones(3)))
    assert isinstance(pl[0], nn.Parameter) and len(pl) == 2
    assert [n for n, _ in pl.named_parameters()] == ["0", "1"]
    assert len(pl[0:1]) == 1
    tpl = torch.nn.ParameterList([torch.zeros(2), torch.nn.Parameter(torch.ones(3))])
    assert repr(pl) == repr(tpl).replace("torch.", "ember.")
    with pytest.raises(RuntimeError, match="should not be called"):
        pl(1)
    pd = nn.ParameterDict({"a": ember.zeros(2)})
    pd["b"] = nn.Parameter(ember.ones(1))
    assert list(pd.keys()) == ["a", "b"] and isinstance(pd["a"], nn.Parameter)
    assert pd.get("c") is None and "a" in pd
    tpd = torch.nn.ParameterDict({"a": torch.zeros(2), "b": torch.nn.Parameter(torch.ones(1))})
    assert repr(pd) == repr(tpd).replace("torch.", "ember.")
    assert pd.pop("a").shape == (2,)
    assert list(pd.state_dict()) == ["b"]


# ------------------------------------------------------------------ Parameter
def test_parameter_behaves_like_torch():
    data = ember.randn(2, 3)
    p = nn.Parameter(data)
    assert isinstance(p, ember.Tensor) and p.requires_grad and p.is_leaf
    assert np.shares_memory(p.detach().numpy(), data.numpy())
    assert repr(p).startswith("Parameter containing:\ntensor(")
    tp = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    assert repr(nn.Parameter(ember.tensor([1.0, 2.0]))) == repr(tp)
    assert type(p * 2) is ember.Tensor and type(p.detach()) is ember.Tensor
    assert not nn.Parameter(ember.zeros(1), requires_grad=False).requires_grad
    assert nn.Parameter().shape == (0,)
    q = copy.deepcopy(p)
    assert isinstance(q, nn.Parameter) and q.requires_grad
    r = pickle.loads(pickle.dumps(p))
    assert isinstance(r, nn.Parameter)
    np.testing.assert_array_equal(r.detach().numpy(), p.detach().numpy())


# ------------------------------------------------------------------ error messages
def test_errors_name_the_layer_and_shapes():
    with pytest.raises(RuntimeError, match=r"Linear\(in_features=16, out_features=4, bias=True\)"
                                           r": expected input with 16 features in the last "
                                           r"dimension, got 20 \(shape \(8, 20\)\)"):
        nn.Linear(16, 4)(ember.randn(8, 20))
    with pytest.raises(RuntimeError, match=r"Conv2d\(in_channels=3\): expected input with 3 "
                                           r"channels, got 1 \(shape \(8, 1, 28, 28\)\)"):
        nn.Conv2d(3, 6, 5)(ember.randn(8, 1, 28, 28))
    with pytest.raises(RuntimeError, match="expected a 4-D .* got a 2-D input"):
        nn.Conv2d(3, 6, 5)(ember.randn(8, 3))
    with pytest.raises(ValueError, match=r"BatchNorm2d\(4\): expected input with 4 channels"):
        nn.BatchNorm2d(4)(ember.randn(2, 3, 5, 5))
    with pytest.raises(ValueError, match="expected 4D input"):
        nn.BatchNorm2d(4)(ember.randn(2, 4))
    with pytest.raises(RuntimeError, match=r"LayerNorm\(\(5,\)\)"):
        nn.LayerNorm(5)(ember.randn(2, 4))
    with pytest.raises(ValueError, match="in_channels \\(3\\) must be divisible by groups"):
        nn.Conv2d(3, 6, 3, groups=2)
    with pytest.raises(ValueError, match="padding_mode"):
        nn.Conv2d(3, 6, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="not supported for strided"):
        nn.Conv2d(3, 6, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="zeros"):
        nn.ConvTranspose2d(3, 6, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="dropout probability"):
        nn.Dropout(1.5)
    with pytest.raises(ValueError, match="divisible by num_groups"):
        nn.GroupNorm(3, 4)
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        nn.MSELoss(reduction="avg")
    with pytest.raises(AssertionError, match="padding_idx"):
        nn.Embedding(3, 2, padding_idx=3)
    with pytest.raises(AssertionError, match="divisible by num_heads"):
        nn.MultiheadAttention(5, 2)


def test_legacy_loss_reduction_arguments():
    with pytest.warns(UserWarning, match="reduction='sum'"):
        loss = nn.MSELoss(size_average=False)
    assert loss.reduction == "sum"
    with pytest.warns(UserWarning):
        assert nn.L1Loss(reduce=False).reduction == "none"
    weight = ember.tensor([1.0, 2.0])
    ce = nn.CrossEntropyLoss(weight=weight)
    assert list(ce.state_dict()) == ["weight"] == list(torch.nn.CrossEntropyLoss(
        weight=torch.ones(2)).state_dict())
    assert ce.double().weight.dtype == ember.float64


def test_pre_hook_with_kwargs_edits_kwargs_and_prepend_order():
    order = []

    class Scale(nn.Module):
        def forward(self, x, factor=1.0):
            return x * factor
    m = Scale()
    m.register_forward_pre_hook(lambda mod, a: order.append("second"))
    m.register_forward_pre_hook(lambda mod, a: order.append("first"), prepend=True)
    m.register_forward_pre_hook(lambda mod, a, kw: (a, {"factor": 3.0}), with_kwargs=True)
    assert m(ember.ones(2), factor=2.0).numpy().tolist() == [3.0, 3.0]
    assert order == ["first", "second"]


def test_state_dict_hooks_and_register_module():
    m = nn.Module()
    m.register_module("lin", nn.Linear(2, 2))
    m.add_module("act", nn.ReLU())
    assert list(m._modules) == ["lin", "act"]
    def drop_bias(mod, sd, prefix, meta):
        del sd[prefix + "lin.bias"]
    m.register_state_dict_post_hook(drop_bias)
    assert list(m.state_dict()) == ["lin.weight"]
    bad = nn.Linear(1, 1)
    bad.register_state_dict_post_hook(lambda mod, sd, prefix, meta: sd)
    with pytest.raises(RuntimeError, match="must return None"):
        bad.state_dict()
    seen = []
    m.register_load_state_dict_post_hook(lambda mod, keys: seen.append(list(keys.missing_keys)))
    m.load_state_dict({"lin.weight": np.eye(2)}, strict=False)
    assert seen == [["lin.bias"]]


def test_type_half_and_zero_grad_keeps_grad_object():
    m = nn.Linear(3, 2)
    m(ember.ones(1, 3)).sum().backward()
    g = m.weight.grad
    m.zero_grad(set_to_none=False)
    assert m.weight.grad is g and np.all(g.numpy() == 0)
    m.type(ember.float64)
    assert m.weight.dtype == ember.float64
    m.half()
    assert m.weight.dtype == ember.float16 and m.bias.dtype == ember.float16


def test_state_dict_roundtrip_through_ember_save(tmp_path):
    em = build(ember)
    path = tmp_path / "model.ember"
    ember.save(em.state_dict(), path)
    other = build(ember)
    assert repr(other.load_state_dict(ember.load(path))) == "<All keys matched successfully>"
    for (k, a), b in zip(other.state_dict().items(), em.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)


def test_parameterdict_more_methods():
    pd = nn.ParameterDict()
    assert pd.setdefault("a", ember.ones(2)) is pd["a"]
    pd.update([("b", ember.zeros(1))])
    c = pd.copy()
    assert list(c.keys()) == ["a", "b"] and c["a"] is pd["a"]
    assert [k for k, _ in pd.items()] == ["a", "b"] and len(list(pd.values())) == 2
    pd.clear()
    assert len(pd) == 0 and list(pd.parameters()) == []


def test_norm_layers_load_state_dict_compatibility_like_torch():
    bn, tbn = nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3)
    sd = {k: v.numpy() for k, v in tbn.state_dict().items() if k != "num_batches_tracked"}
    assert bn.load_state_dict(sd).missing_keys == [] == tbn.load_state_dict(
        {k: torch.from_numpy(v) for k, v in sd.items()}).missing_keys
    inorm = nn.InstanceNorm2d(3)
    with pytest.raises(RuntimeError, match='Unexpected running stats buffer.*"running_mean"'):
        inorm.load_state_dict({"running_mean": np.zeros(3), "running_var": np.ones(3)})
