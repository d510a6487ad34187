"""``nn.DataParallel`` as torch's behaves without GPUs, and torch's module paths
(``nn.modules.activation.MultiheadAttention``, ``nn.modules.batchnorm._BatchNorm``, ...)."""
import importlib

import numpy as np
import pytest
import torch

import ember
from tests.harness import assert_close
from tests.nn.parity import copy_torch_state

# torch.nn.modules submodules whose classes Ember has (rnn and transformer arrive with the
# sequence models; adaptive and channelshuffle hold classes Ember does not have)
PATHS = ["activation", "batchnorm", "container", "conv", "distance", "dropout", "flatten", "fold",
         "instancenorm", "lazy", "linear", "loss", "module", "normalization", "padding",
         "pixelshuffle", "pooling", "sparse", "upsampling"]
PRIVATE = {"batchnorm": ["_BatchNorm", "_NormBase", "_LazyNormBase"], "conv": ["_ConvNd"],
           "instancenorm": ["_InstanceNorm"], "loss": ["_Loss", "_WeightedLoss"],
           "pooling": ["_MaxPoolNd"]}


@pytest.mark.parametrize("path", PATHS)
def test_torch_module_paths_hold_the_same_classes(path):
    theirs = importlib.import_module(f"torch.nn.modules.{path}")
    ours = importlib.import_module(f"ember.nn.modules.{path}")
    public = [n for n in getattr(theirs, "__all__", []) if hasattr(ember.nn, n)]
    assert public or path in ("lazy", "module")
    for name in public:
        assert getattr(ours, name) is getattr(ember.nn, name), f"nn.modules.{path}.{name}"
    for name in PRIVATE.get(path, []):
        assert hasattr(theirs, name)
        assert isinstance(getattr(ours, name), type), f"nn.modules.{path}.{name}"


def test_private_bases_classify_layers_as_in_torch():
    from ember.nn.modules.batchnorm import _BatchNorm
    from ember.nn.modules.instancenorm import _InstanceNorm
    from ember.nn.modules.activation import MultiheadAttention
    assert isinstance(ember.nn.BatchNorm2d(3), _BatchNorm)
    assert isinstance(ember.nn.LazyBatchNorm1d(), _BatchNorm)
    assert not isinstance(ember.nn.InstanceNorm2d(3), _BatchNorm)
    assert isinstance(ember.nn.InstanceNorm2d(3), _InstanceNorm)
    assert MultiheadAttention is ember.nn.MultiheadAttention
    assert ember.nn.modules.lazy.LazyModuleMixin in type(ember.nn.LazyLinear(2)).__mro__


def test_argument_helpers_equal_torchs():
    from torch.nn.modules import utils as tu
    from ember.nn.modules import utils as eu
    for name in ("_single", "_pair", "_triple", "_quadruple"):
        for value in (3, (1, 2), [4, 5, 6]):
            assert getattr(eu, name)(value) == getattr(tu, name)(value)
    assert eu._reverse_repeat_tuple((1, 2, 3), 2) == tu._reverse_repeat_tuple((1, 2, 3), 2)
    ours = {"module.a": 1, "module.b.c": 2, "other": 3}
    theirs = dict(ours)
    eu.consume_prefix_in_state_dict_if_present(ours, "module.")
    tu.consume_prefix_in_state_dict_if_present(theirs, "module.")
    assert ours == theirs == {"a": 1, "b.c": 2, "other": 3}


def _net(lib):
    nn = lib.nn
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(64, 3))


@pytest.mark.parametrize("kwargs", [{}, dict(device_ids=[0, 1], output_device=1, dim=1)])
def test_data_parallel_behaves_as_torchs_without_gpus(kwargs):
    tm, em = torch.nn.DataParallel(_net(torch), **kwargs), ember.nn.DataParallel(_net(ember),
                                                                                   **kwargs)
    assert repr(em) == repr(tm)
    assert em.device_ids == tm.device_ids == []
    assert list(em.state_dict()) == list(tm.state_dict())
    assert not hasattr(tm, "dim") and not hasattr(em, "dim")
    copy_torch_state(tm, em)
    x = np.random.default_rng(0).normal(size=(5, 1, 6, 6)).astype(np.float32)
    y = np.array([0, 1, 2, 1, 0])
    for model, lib in ((tm, torch), (em, ember)):
        opt = lib.optim.SGD(model.parameters(), lr=0.1)
        loss = lib.nn.functional.cross_entropy(model(lib.from_numpy(x)), lib.from_numpy(y))
        loss.backward()
        opt.step()
    for (name, t), e in zip(tm.state_dict().items(), em.state_dict().values()):
        assert_close(e.numpy(), t.numpy(), what=name)
    inner = _net(ember)
    state = em.state_dict()
    ember.nn.modules.utils.consume_prefix_in_state_dict_if_present(state, "module.")
    inner.load_state_dict(state)
    assert_close(inner(ember.from_numpy(x)).detach().numpy(),
                 em.module(ember.from_numpy(x)).detach().numpy())


def test_functional_data_parallel_needs_gpus_in_both():
    with pytest.raises(RuntimeError, match="device type could not be determined"):
        torch.nn.parallel.data_parallel(torch.nn.Linear(2, 2), torch.ones(3, 2))
    with pytest.raises(RuntimeError, match="device type could not be determined"):
        ember.nn.parallel.data_parallel(ember.nn.Linear(2, 2), ember.ones(3, 2))
    with pytest.raises(TypeError, match="nn.Module"):
        ember.nn.DataParallel(lambda x: x)
