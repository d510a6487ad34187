"""FeaturePyramidNetwork, MultiScaleRoIAlign and FrozenBatchNorm2d against torchvision with
the same weights (values, gradients, state_dict keys)."""
from collections import OrderedDict

import numpy as np
import pytest

import ember
from ember.vision import ops
from tests.harness import assert_close
from tests.vision.oracles import torch_roi_align, torchvision


def _maps(lib, rng, shapes, grad=True):
    out = OrderedDict()
    for name, shape in shapes:
        t = lib.from_numpy(rng.standard_normal(shape))
        out[name] = t.requires_grad_(grad)
    return out


@pytest.mark.parametrize("extra", [None, "maxpool", "p6p7"])
def test_fpn_matches_torchvision(extra):
    torch, tv = torchvision()
    from torchvision.ops import feature_pyramid_network as tv_fpn

    def make(fpn_ops, blocks):
        extra_block = {None: None, "maxpool": blocks.LastLevelMaxPool,
                       "p6p7": lambda: blocks.LastLevelP6P7(8, 6)}[extra]
        return fpn_ops.FeaturePyramidNetwork([4, 8], 6, extra_block() if extra_block else None)
    tm, em = make(tv.ops, tv_fpn), make(ops, ops)
    tm.double()
    em.double()
    assert list(em.state_dict()) == list(tm.state_dict())
    em.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    rng = np.random.default_rng(0)
    shapes = [("c3", (2, 4, 12, 10)), ("c4", (2, 8, 6, 5))]
    xe = _maps(ember, np.random.default_rng(0), shapes)
    xt = _maps(torch, np.random.default_rng(0), shapes)
    ye, yt = em(xe), tm(xt)
    assert list(ye) == list(yt)
    for name in yt:
        assert_close(ye[name].detach().numpy(), yt[name].detach().numpy(), what=name)
    g = [rng.standard_normal(tuple(v.shape)) for v in yt.values()]
    sum((v * ember.from_numpy(gi)).sum() for v, gi in zip(ye.values(), g)).backward()
    sum((v * torch.from_numpy(gi)).sum() for v, gi in zip(yt.values(), g)).backward()
    for name in xt:
        assert_close(xe[name].grad.numpy(), xt[name].grad.numpy(), what=f"grad {name}")


def test_multiscale_roi_align_matches_torchvision(monkeypatch):
    torch, tv = torchvision()
    import torchvision.ops.poolers as tv_poolers
    reference = torch_roi_align()
    # torchvision's roi_align needs its compiled op; route it to the pure-torch kernel
    monkeypatch.setattr(tv_poolers, "roi_align", lambda x, rois, output_size, spatial_scale,
                        sampling_ratio: reference(x, rois, spatial_scale, *output_size,
                                                  sampling_ratio, False))
    rng = np.random.default_rng(1)
    shapes = [("0", (2, 3, 32, 32)), ("1", (2, 3, 16, 16)), ("2", (2, 3, 8, 8)),
              ("3", (2, 3, 4, 4))]
    boxes = []
    for n in (5, 3):
        wh = rng.uniform(4, 110, (n, 2))
        xy = rng.uniform(0, 127 - wh)
        boxes.append(np.concatenate([xy, xy + wh], 1))
    xe, xt = _maps(ember, np.random.default_rng(2), shapes), _maps(torch, np.random.default_rng(2), shapes)
    em = ops.MultiScaleRoIAlign(["0", "1", "3"], 5, 2)
    tm = tv.ops.MultiScaleRoIAlign(["0", "1", "3"], 5, 2)
    ye = em(xe, [ember.from_numpy(b) for b in boxes], [(128, 128), (120, 100)])
    yt = tm(xt, [torch.from_numpy(b) for b in boxes], [(128, 128), (120, 100)])
    assert em.scales == tm.scales and repr(em) == repr(tm)
    assert_close(ye.detach().numpy(), yt.detach().numpy())
    g = rng.standard_normal(tuple(yt.shape))
    ye.backward(ember.from_numpy(g))
    yt.backward(torch.from_numpy(g))
    for name in ("0", "1", "3"):
        assert_close(xe[name].grad.numpy(), xt[name].grad.numpy(), what=f"grad {name}")
    assert xe["2"].grad is None
    levels = em.map_levels([ember.from_numpy(b) for b in boxes])
    assert (levels == tm.map_levels([torch.from_numpy(b) for b in boxes]).numpy()).all()


def test_multiscale_roi_align_names_missing_maps():
    pool = ops.MultiScaleRoIAlign(["0", "p"], 2, 2)
    with pytest.raises(KeyError, match=r"feature maps \['p'\] are not among the inputs \['0'\]"):
        pool(OrderedDict([("0", ember.zeros(1, 1, 4, 4))]), [ember.zeros(1, 4)], [(8, 8)])


def test_frozen_batch_norm_matches_torchvision_and_loads_a_batch_norm_state():
    torch, tv = torchvision()
    rng = np.random.default_rng(3)
    bn = ember.nn.BatchNorm2d(4)
    bn.load_state_dict({"weight": rng.random(4), "bias": rng.random(4),
                        "running_mean": rng.random(4), "running_var": rng.random(4) + 0.5,
                        "num_batches_tracked": np.array(3)})
    frozen, reference = ops.FrozenBatchNorm2d(4), tv.ops.FrozenBatchNorm2d(4)
    frozen.load_state_dict(bn.state_dict())
    reference.load_state_dict({k: torch.from_numpy(v.numpy()) for k, v in frozen.state_dict().items()})
    assert list(frozen.state_dict()) == list(reference.state_dict())
    assert list(frozen.parameters()) == [] and repr(frozen) == repr(reference)
    x = rng.standard_normal((2, 4, 3, 3)).astype(np.float32)
    assert_close(frozen(ember.from_numpy(x)).numpy(), reference(torch.from_numpy(x)).numpy())
    bn.eval()
    assert_close(frozen(ember.from_numpy(x)).numpy(), bn(ember.from_numpy(x)).detach().numpy())
