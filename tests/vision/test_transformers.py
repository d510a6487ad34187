"""Vision transformers (ember.vision.models.vit, swin) and the row-by-row LSTM classifier:
every torchvision builder has torchvision 0.28's state_dict keys, shapes and parameter count;
small configurations of VisionTransformer and SwinTransformer (every option: class token and
position embeddings, representation head, convolutional stem; shifted windows with their
mask, padding to whole windows, odd patch merging) give torchvision's outputs and gradients
with its weights copied in; the lectures' statements about ViT and Swin; training.

torchvision is the oracle (its PyPI wheel is installed with --no-deps; the CPU build of torch
lacks the compiled ops its fake kernels register, so registration is skipped while it is
imported). Large builders are compared structurally: torchvision's on the meta device, Ember's
with its weight initialisers disabled (the arrays are allocated but never written, so even
ViT-H/14's 632 M parameters cost no memory or time).
"""
import os

import numpy as np
import pytest
import torch

import ember
import ember.nn.init as init
from ember.vision import models
from tests.nn.parity import module_parity


def _torchvision():
    original = torch.library.register_fake
    torch.library.register_fake = lambda *args, **kwargs: (lambda fn: fn)
    try:
        return pytest.importorskip("torchvision")
    finally:
        torch.library.register_fake = original


tv = _torchvision()
R = np.random.default_rng(5)

BUILDERS = {"vit_b_16": 86_567_656, "vit_b_32": 88_224_232, "vit_l_16": 304_326_632,
            "vit_l_32": 306_535_400, "vit_h_14": 632_045_800, "swin_t": 28_288_354,
            "swin_s": 49_606_258, "swin_b": 87_768_224}


@pytest.fixture
def no_init(monkeypatch):
    """Ember's initialisers as no-ops (the structure is what is compared)."""
    for name in init.__all__:
        if name.endswith("_"):
            monkeypatch.setattr(init, name, lambda tensor, *args, **kwargs: tensor)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_builders_have_torchvisions_keys_shapes_and_parameter_counts(name, no_init):
    with torch.device("meta"):
        reference = getattr(tv.models, name)()
    model = getattr(models, name)()
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    expected = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
    assert list(shapes) == list(expected)
    assert shapes == expected
    count = sum(p.numel() for p in model.parameters())
    assert count == sum(p.numel() for p in reference.parameters()) == BUILDERS[name]
    assert f"{count:,}" in getattr(models, name).__doc__


def test_vit_b_16_is_sixteen_by_sixteen_words(no_init):
    """Lecture 003/004 "An Image is Worth 16x16 Words" (inventory B42): a 224x224 image cut
    into 16x16 patches is 14 x 14 = 196 tokens, plus the class token."""
    model = models.vit_b_16()
    assert model.seq_length == 14 * 14 + 1
    assert tuple(model.conv_proj.weight.shape) == (768, 3, 16, 16)
    assert models.vit_b_16(image_size=384).seq_length == 24 * 24 + 1
    with pytest.raises(ValueError, match="pretrained weights"):
        models.vit_b_16(weights="DEFAULT")


def _pair(ember_cls, torch_cls, **config):
    def make(L):
        return (ember_cls if L is ember else torch_cls)(**config)
    return make


VIT_CONFIGS = [
    ("plain", dict(image_size=16, patch_size=4, num_layers=2, num_heads=2, hidden_dim=8,
                   mlp_dim=12, num_classes=5)),
    ("representation", dict(image_size=12, patch_size=6, num_layers=1, num_heads=4,
                            hidden_dim=8, mlp_dim=8, num_classes=3, representation_size=6)),
]


@pytest.mark.parametrize("name,config", VIT_CONFIGS, ids=[c[0] for c in VIT_CONFIGS])
def test_vision_transformer_matches_torchvision(name, config):
    make = _pair(models.VisionTransformer, tv.models.VisionTransformer, **config)
    size = config["image_size"]
    em, tm, _ = module_parity(make, [R.standard_normal((2, 3, size, size))], double=True,
                              rtol=1e-10, atol=1e-10)
    assert list(em.state_dict()) == list(tm.state_dict())


def test_vision_transformer_conv_stem_matches_torchvision():
    from torchvision.models.vision_transformer import ConvStemConfig as TorchStem
    from ember.vision.models.vit import ConvStemConfig

    def make(L):
        stem = (ConvStemConfig if L is ember else TorchStem)
        return (models.VisionTransformer if L is ember else tv.models.VisionTransformer)(
            image_size=16, patch_size=4, num_layers=1, num_heads=2, hidden_dim=8, mlp_dim=8,
            num_classes=4, conv_stem_configs=[stem(6, 3, 2), stem(8, 3, 2)])
    module_parity(make, [R.standard_normal((2, 3, 16, 16))], double=True, rtol=1e-10,
                  atol=1e-10)


SWIN_CONFIGS = [
    # 8x8 map, 4x4 windows: shifted windows with the mask; after merging 4x4, one window
    ("shifted", dict(patch_size=[2, 2], embed_dim=8, depths=[2, 2], num_heads=[2, 4],
                     window_size=[4, 4], stochastic_depth_prob=0.0, num_classes=5), 16),
    # 9x9 map padded to 12x12 windows, odd merging 9 -> 5, non-square windows
    ("padded-odd", dict(patch_size=[2, 2], embed_dim=4, depths=[2, 1], num_heads=[1, 2],
                        window_size=[3, 4], stochastic_depth_prob=0.0, num_classes=3,
                        mlp_ratio=2.0), 18),
]


@pytest.mark.parametrize("name,config,size", SWIN_CONFIGS, ids=[c[0] for c in SWIN_CONFIGS])
def test_swin_transformer_matches_torchvision(name, config, size):
    make = _pair(models.SwinTransformer, tv.models.SwinTransformer, **config)
    em, tm, _ = module_parity(make, [R.standard_normal((2, 3, size, size))], double=True,
                              rtol=1e-10, atol=1e-10)
    assert em.state_dict()["features.1.0.attn.relative_position_index"].dtype == ember.int64


def test_swin_stochastic_depth_and_eval():
    """With stochastic depth in training, torchvision and Ember draw different samples; in
    evaluation both are deterministic and equal."""
    config = dict(patch_size=[2, 2], embed_dim=8, depths=[2, 2], num_heads=[2, 2],
                  window_size=[4, 4], stochastic_depth_prob=0.5, num_classes=4)
    module_parity(_pair(models.SwinTransformer, tv.models.SwinTransformer, **config),
                  [R.standard_normal((1, 3, 16, 16))], train=False, double=True, rtol=1e-10,
                  atol=1e-10)
    model = models.SwinTransformer(**config)
    probabilities = [block.stochastic_depth.p for stage in (model.features[1],
                                                            model.features[3])
                     for block in stage]
    np.testing.assert_allclose(probabilities, [0.0, 0.5 / 3, 1.0 / 3, 0.5])
    from ember.vision.models.blocks import stochastic_depth
    x = ember.ones(1000, 3)
    ember.manual_seed(0)
    kept = stochastic_depth(x, 0.25, "row").numpy()
    assert set(np.unique(kept)) <= {0.0, np.float32(1 / 0.75)}
    assert np.all(kept == kept[:, :1])                      # whole rows
    assert abs((kept[:, 0] > 0).mean() - 0.75) < 0.05
    with pytest.raises(ValueError, match="mode has to be either 'batch' or 'row'"):
        stochastic_depth(x, 0.2, "col")


def test_window_attention_sees_only_its_window_until_shifted():
    """Lecture 004 "Swin Transformer" (inventory B43): "Only perform self-attentions within
    each window; by shifting the window, boundary patches can interact with more patches"."""
    from ember.vision.models.swin import ShiftedWindowAttention
    ember.manual_seed(0)
    x = ember.randn(1, 8, 8, 4)
    bumped = x.clone()
    bumped[0, 3, 3] += 1.0                       # the corner token of the first 4x4 window
    for shift, reached in (([0, 0], {(0, 0)}), ([2, 2], {(0, 0), (0, 1), (1, 0), (1, 1)})):
        attention = ShiftedWindowAttention(4, [4, 4], shift, num_heads=2).eval()
        with ember.no_grad():
            change = (attention(bumped) - attention(x)).abs().sum(-1)[0].numpy()
        windows = {(i // 4, j // 4) for i, j in zip(*np.nonzero(change > 1e-6))}
        assert windows == reached


def test_patch_merging_halves_the_map_and_doubles_the_width():
    """Lecture 004/003 "分阶段在不同尺度内部做transformer": stages at 1/4, 1/8, 1/16, 1/32 of the
    image, widths C, 2C, 4C, 8C (Swin-T: 96 ... 768)."""
    model = models.swin_mnist()
    x = ember.zeros(1, 1, 28, 28)
    shapes = []
    for layer in model.features:
        x = layer(x)
        shapes.append(tuple(x.shape))
    assert shapes == [(1, 14, 14, 32), (1, 14, 14, 32), (1, 7, 7, 64), (1, 7, 7, 64)]


def test_small_models_for_digits():
    for name, count in (("vit_mnist", None), ("swin_mnist", None), ("lstm_mnist", 82_186)):
        model = getattr(models, name)()
        assert models.default_input_size(name) == (1, 28, 28)
        x = ember.randn(3, 1, 28, 28)
        out = model(x)
        assert tuple(out.shape) == (3, 10)
        out.sum().backward()
        assert all(p.grad is not None for p in model.parameters())
        total = sum(p.numel() for p in model.parameters())
        assert f"{total:,}" in getattr(models, name).__doc__
        if count is not None:
            assert total == count
    lstm = models.lstm_mnist(hidden_size=16, bidirectional=True, num_layers=2)
    assert tuple(lstm(ember.randn(2, 1, 28, 28)).shape) == (2, 10)
    with pytest.raises(ValueError, match=r"RowLSTMClassifier: expected images \(N, 1, H, 28\)"):
        lstm(ember.randn(2, 1, 28, 27))
    with pytest.raises(ValueError, match="Wrong image size! Expected 28x28 but got 32x32"):
        models.vit_mnist()(ember.randn(1, 1, 32, 32))


def test_row_lstm_classifier_matches_an_lstm_over_the_rows():
    torch.manual_seed(0)
    reference = torch.nn.LSTM(28, 16, batch_first=True).double()
    head = torch.nn.Linear(16, 10).double()
    model = models.lstm_mnist(hidden_size=16).double()
    model.lstm.load_state_dict({k: v.detach().numpy() for k, v in reference.state_dict().items()})
    model.fc.load_state_dict({k: v.detach().numpy() for k, v in head.state_dict().items()})
    images = R.standard_normal((4, 1, 28, 28))
    expected = head(reference(torch.tensor(images[:, 0]))[0][:, -1]).detach().numpy()
    np.testing.assert_allclose(model(ember.tensor(images)).detach().numpy(), expected,
                               rtol=1e-10, atol=1e-12)


def test_command_line_trains_and_summarizes_the_sequence_models(capsys, tmp_path):
    """``ember train --model lstm_mnist`` runs the whole job (one epoch here; the README gives
    the recipe that reaches the targets), and ``ember summary`` shows each small model at the
    size it is made for."""
    from ember.cli import main
    out = str(tmp_path / "run")
    code = main(["train", "--model", "lstm_mnist", "--epochs", "1", "--optimizer", "adam",
                 "--lr", "0.005", "--weight-decay", "0", "--out", out])
    stdout, err = capsys.readouterr()
    assert code == 0, err
    accuracy = float(stdout.strip().splitlines()[-2].split()[2].rstrip("%"))
    assert accuracy > 50                    # one epoch: far above chance (10%)
    assert "filters.png" not in os.listdir(out) and "curves.png" in os.listdir(out)
    for name, params in (("lstm_mnist", "82,186"), ("vit_mnist", "139,018"),
                         ("swin_mnist", "136,854")):
        assert main(["summary", name]) == 0
        stdout, _ = capsys.readouterr()
        assert "Input shape: [1, 1, 28, 28]" in stdout and f"Total params: {params}" in stdout
