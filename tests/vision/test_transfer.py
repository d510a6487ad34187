"""Transfer learning (lecture 003 "微调"): freezing, swapping the head, feature extraction,
and the runnable example."""
import importlib.util
import os

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.vision.models as M

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_freeze_backbone_only_head_learns():
    # inventory A30, E20
    model = M.resnet20(base_width=4, num_classes=10)
    M.freeze(model)
    assert not any(p.requires_grad for p in model.parameters())
    head = M.replace_head(model, 3)
    assert model.fc is head and (head.in_features, head.out_features) == (16, 3)
    assert [n for n, p in model.named_parameters() if p.requires_grad] == ["fc.weight",
                                                                            "fc.bias"]
    before = {n: p.detach().numpy().copy() for n, p in model.named_parameters()}
    opt = ember.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model.train()
    loss = nn.functional.cross_entropy(model(ember.randn(4, 3, 16, 16)),
                                       ember.tensor([0, 1, 2, 0]))
    loss.backward()
    assert model.conv1.weight.grad is None and model.layer3[0].conv2.weight.grad is None
    opt.step()
    for n, p in model.named_parameters():
        changed = not np.array_equal(p.detach().numpy(), before[n])
        assert changed == n.startswith("fc."), n


def test_freeze_and_unfreeze_by_name():
    model = M.resnet18()
    M.freeze(model, ["conv1", "bn1", "layer1", "layer2"])
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen == {n for n, _ in model.named_parameters()
                      if n.split(".")[0] in ("conv1", "bn1", "layer1", "layer2")}
    M.unfreeze(model, "layer2")
    assert model.layer2[0].conv1.weight.requires_grad
    assert not model.layer1[0].conv1.weight.requires_grad
    assert M.freeze(model) is model and M.unfreeze(model) is model
    assert all(p.requires_grad for p in model.parameters())
    with pytest.raises(ValueError, match="freeze: .*layer9"):
        M.freeze(model, "layer9")


def test_replace_head_finds_each_family_classifier():
    assert M.replace_head(M.lenet5(), 4) is not None
    dense = M.DenseNet(growth_rate=4, block_config=(1, 1), num_init_features=8)
    assert M.replace_head(dense, 2) is dense.classifier
    mb = M.mobilenet_v2(width_mult=0.25)
    assert M.replace_head(mb, 7) is mb.classifier[1]
    g = M.googlenet(aux_logits=True, init_weights=False)
    assert M.replace_head(g, 3, name="aux1.fc2") is g.aux1.fc2
    assert M.replace_head(g, 3) is g.fc                  # the last registered Linear
    with pytest.raises(ValueError, match="'conv1' is a BasicConv2d, expected nn.Linear"):
        M.replace_head(g, 3, name="conv1")
    with pytest.raises(ValueError, match="has no nn.Linear"):
        M.replace_head(nn.Sequential(nn.Conv2d(1, 1, 1)), 2)
    no_bias = nn.Sequential(nn.Linear(3, 4, bias=False))
    assert M.replace_head(no_bias, 2).bias is None


def test_assigning_fc_works_as_in_torch():
    model = M.resnet18(num_classes=1000)
    model.fc = nn.Linear(model.fc.in_features, 10)
    assert tuple(model.state_dict()["fc.weight"].shape) == (10, 512)
    model.eval()
    with ember.no_grad():
        assert model(ember.randn(1, 3, 32, 32)).shape == (1, 10)


def manual_resnet_layers(model, x):
    out = {}
    x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
    for name in ("layer1", "layer2", "layer3", "layer4"):
        x = getattr(model, name)(x)
        out[name] = x
    return out


def test_create_feature_extractor_matches_manual_forward():
    model = M.resnet18().eval()
    x = ember.randn(2, 3, 64, 64)
    fx = M.create_feature_extractor(model, return_nodes={"layer3": "feat", "layer1": "low"})
    with ember.no_grad():
        feats = fx(x)
        ref = manual_resnet_layers(model, x)
    assert list(feats) == ["feat", "low"]                  # the order of return_nodes
    assert feats["feat"].shape == (2, 256, 4, 4)
    np.testing.assert_allclose(feats["feat"].numpy(), ref["layer3"].numpy(), rtol=1e-6)
    np.testing.assert_allclose(feats["low"].numpy(), ref["layer1"].numpy(), rtol=1e-6)
    # nested names and a list of names
    fx2 = M.create_feature_extractor(model, ["layer2.1.conv2", "avgpool"])
    with ember.no_grad():
        out = fx2(x)
    assert out["layer2.1.conv2"].shape == (2, 128, 8, 8)
    assert out["avgpool"].shape == (2, 512, 1, 1)
    # the extractor shares parameters with the model
    assert fx.model is model and "model.layer1.0.conv1.weight" in fx.state_dict()
    # the model itself still returns logits
    with ember.no_grad():
        assert model(x).shape == (2, 1000)


def test_create_feature_extractor_stops_after_last_node():
    model = M.resnet18().eval()
    calls = []

    def record(module, args, output):
        calls.append(1)
    model.layer4.register_forward_hook(record)
    fx = M.create_feature_extractor(model, {"layer2": "c3"})
    with ember.no_grad():
        fx(ember.randn(1, 3, 32, 32))
    assert calls == []                                     # layer4 never ran
    with ember.no_grad():
        model(ember.randn(1, 3, 32, 32))
    assert calls == [1]


def test_feature_extractor_gradients_flow_to_backbone():
    model = M.resnet20(base_width=4)
    fx = M.create_feature_extractor(model, {"layer2": "f"})
    fx.train()
    fx(ember.randn(2, 3, 16, 16))["f"].sum().backward()
    assert model.layer2[0].conv1.weight.grad is not None
    assert model.layer3[0].conv1.weight.grad is None


def test_create_feature_extractor_errors():
    model = M.googlenet(aux_logits=True, init_weights=False)
    with pytest.raises(ValueError, match=r"\['layer9'\] are not sub-modules of GoogLeNet"):
        M.create_feature_extractor(model, ["layer9"])
    with pytest.raises(ValueError, match="return_nodes is empty"):
        M.create_feature_extractor(model, {})
    fx = M.create_feature_extractor(model, ["aux1.fc2"]).eval()
    with pytest.raises(RuntimeError, match=r"\['aux1.fc2'\] did not run"):
        with ember.no_grad():
            fx(ember.randn(1, 3, 32, 32))
    train_nodes, eval_nodes = M.get_graph_node_names(model)
    assert "inception4a.branch2.1.conv" in train_nodes and train_nodes == eval_nodes


def test_intermediate_layer_getter():
    model = M.resnet18().eval()
    body = M.IntermediateLayerGetter(model, {"layer2": "c3", "layer4": "c5"})
    assert list(body.keys())[-1] == "layer4" and "fc" not in body and "avgpool" not in body
    x = ember.randn(1, 3, 64, 64)
    with ember.no_grad():
        out, ref = body(x), manual_resnet_layers(model, x)
    assert list(out) == ["c3", "c5"]
    np.testing.assert_allclose(out["c5"].numpy(), ref["layer4"].numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="not children of ResNet"):
        M.IntermediateLayerGetter(model, {"layer2.0": "x"})


def test_transfer_learning_example_runs():
    spec = importlib.util.spec_from_file_location(
        "transfer_learning", os.path.join(ROOT, "examples", "transfer_learning.py"))
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    result = example.main(pretrain_epochs=3, finetune_epochs=2, shots=4, max_train=96,
                          verbose=False)
    assert result["frozen_params_unchanged"]
    assert result["head_classes"] == 3
    assert 0.0 <= result["finetune_accuracy"] <= 1.0
    assert len(result["head_loss"]) == 2
    assert result["pretrain_loss"][-1] < result["pretrain_loss"][0]
