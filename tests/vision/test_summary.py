"""ember.summary: output sizes, parameters, multiply-adds and receptive fields of the
lectures' walk-throughs, and the summary's own options."""
import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.vision.models as M
from ember._summary import ModelSummary, summary


def leaf_rows(s, types):
    return [r for r in s.rows if r.type in types]


def test_lenet5_rows_and_totals():
    s = summary(M.lenet5(), (1, 1, 32, 32))
    assert isinstance(s, ModelSummary)
    assert s.total_params == s.trainable_params == 61_706 and s.non_trainable_params == 0
    assert s.rows[0].name == "" and s.rows[0].type == "LeNet5" and s.rows[0].depth == 0
    shapes = {r.name: r.output_shape for r in s.rows}
    assert shapes["conv1"] == (1, 6, 28, 28) and shapes["pool1"] == (1, 6, 14, 14)
    assert shapes["conv2"] == (1, 16, 10, 10) and shapes["pool2"] == (1, 16, 5, 5)
    assert shapes["fc3"] == (1, 10)
    params = {r.name: r.params for r in s.rows}
    assert params["conv1"] == 6 * (25 + 1) == 156           # 001: "6 x (75 + 1)" for 3 ch
    assert params["fc1"] == 400 * 120 + 120
    madds = {r.name: r.mult_adds for r in s.rows}
    assert madds["conv1"] == 6 * 28 * 28 * 25                # out elems x (C_in k_h k_w)
    assert madds["conv2"] == 16 * 10 * 10 * 6 * 25
    assert madds["fc1"] == 120 * 400 and madds["relu1"] == 0
    assert s.total_mult_adds == sum(madds[n] for n in ("conv1", "conv2", "fc1", "fc2", "fc3"))
    rf = {r.name: r.receptive_field for r in s.rows}
    assert (rf["conv1"], rf["pool1"], rf["conv2"], rf["pool2"]) == (5, 6, 14, 16)
    assert rf["fc1"] is None


def test_lenet5_padded_28x28_chain():
    s = summary(M.lenet5(padded=True), (2, 1, 28, 28))
    shapes = {r.name: r.output_shape for r in s.rows}
    assert shapes["conv1"] == (2, 6, 28, 28) and shapes["pool2"] == (2, 16, 5, 5)
    assert s.output_shape == (2, 10)
    # multiply-adds are for the whole batch
    assert {r.name: r.mult_adds for r in s.rows}["conv1"] == 2 * 6 * 28 * 28 * 25


def test_alexnet_paper_walkthrough():
    """001 "Full (simplified) AlexNet": 227 -> 55 -> 27 (pool) -> 27 (norm) -> 27 (conv2)
    -> 13 -> 13 -> 13 x3 -> 6; (227 - 11)/4 + 1 = 55, (55 - 3)/2 + 1 = 27."""
    # inventory D2, H11, H12
    s = summary(M.alexnet_paper(), (1, 3, 227, 227), depth=2)
    seq = [(r.type, r.output_shape[1:]) for r in s.rows
           if r.type in ("Conv2d", "MaxPool2d", "LocalResponseNorm")]
    assert seq == [("Conv2d", (96, 55, 55)), ("MaxPool2d", (96, 27, 27)),
                   ("LocalResponseNorm", (96, 27, 27)), ("Conv2d", (256, 27, 27)),
                   ("MaxPool2d", (256, 13, 13)), ("LocalResponseNorm", (256, 13, 13)),
                   ("Conv2d", (384, 13, 13)), ("Conv2d", (384, 13, 13)),
                   ("Conv2d", (256, 13, 13)), ("MaxPool2d", (256, 6, 6))]
    convs = leaf_rows(s, {"Conv2d"})
    assert convs[0].params == 11 * 11 * 3 * 96 + 96                          # "35K"
    assert convs[0].mult_adds == 96 * 55 * 55 * 11 * 11 * 3
    fcs = leaf_rows(s, {"Linear"})
    assert [r.params for r in fcs[:2]] == [37_752_832, 16_781_312]            # 38 M, 17 M
    assert s.total_params == 62_378_344
    # r_out = r_in + (k - 1) j_in, j_out = j_in s along conv1 .. pool5: AlexNet's 195
    rfs = [r.receptive_field for r in s.rows if r.type in ("Conv2d", "MaxPool2d")]
    assert rfs == [11, 19, 51, 67, 99, 131, 163, 195]
    jumps = [r.jump for r in s.rows if r.type in ("Conv2d", "MaxPool2d")]
    assert jumps == [4, 8, 8, 16, 16, 16, 16, 32]


def test_torchvision_alexnet_chain_224():
    # inventory H11: torchvision version (224, p2): 224 -> 55 -> 27 -> 27 -> 13 -> 6
    s = summary(M.alexnet(), (1, 3, 224, 224), depth=2)
    sizes = [r.output_shape[-1] for r in s.rows if r.type in ("Conv2d", "MaxPool2d")]
    assert sizes == [55, 27, 27, 13, 13, 13, 13, 6]
    assert s.total_params == 61_100_840
    # inventory H25, 003 L3165 MobileNet table: "AlexNet: 57.2%, 720, 60" (M mult-adds, M
    # params); torchvision's AlexNet is within 1% and 2% of the paper's figures
    assert round(s.total_mult_adds / 1e6) == 714 and round(s.total_params / 1e6) == 61


def test_vgg16_walkthrough_224():
    """003 VGG-16 block table: 224 -> 112 -> 56 -> 28 -> 14 -> 7; 138,357,544 params."""
    # inventory D4, H11, H25
    s = summary(M.vgg16(init_weights=False), (1, 3, 224, 224), depth=2)
    assert s.total_params == 138_357_544
    conv_sizes = [(r.output_shape[1], r.output_shape[2]) for r in s.rows if r.type == "Conv2d"]
    assert conv_sizes == [(64, 224)] * 2 + [(128, 112)] * 2 + [(256, 56)] * 3 + \
        [(512, 28)] * 3 + [(512, 14)] * 3
    pools = [r.output_shape[-1] for r in s.rows if r.type == "MaxPool2d"]
    assert pools == [112, 56, 28, 14, 7]
    # two stacked 3x3 convs see 5x5, three 7x7 (003); VGG-16's last pool sees 212
    rfs = [r.receptive_field for r in s.rows if r.type == "Conv2d"]
    assert rfs[:2] == [3, 5]
    assert [r.receptive_field for r in s.rows if r.type == "MaxPool2d"][-1] == 212
    # 003 MobileNet table: VGG 16 "15300" million mult-adds
    assert abs(s.total_mult_adds / 1e6 - 15_470) < 50


def test_mobilenet_v1_lecture_table():
    """003 Table 8/9: 1.0 MobileNet-224 569 M mult-adds, 4.2 M params; 0.50 MobileNet-160
    76 M, 1.32 M."""
    # inventory D7, H25
    s = summary(M.mobilenet_v1(), (1, 3, 224, 224), depth=1)
    assert s.total_params == 4_231_976
    assert abs(s.total_mult_adds / 1e6 - 569) / 569 < 0.005
    small = summary(M.mobilenet_v1(width_mult=0.5, resolution=160), (1, 3, 160, 160), depth=0)
    assert round(small.total_params / 1e6, 2) == 1.33
    assert abs(small.total_mult_adds / 1e6 - 76) / 76 < 0.01


def test_depthwise_separable_cost_formulas():
    """003: standard 3x3 conv C -> C costs 9 C^2 H W, depthwise separable (9C + C^2) H W."""
    # inventory B18, H13
    c, h = 16, 8
    std = summary(nn.Conv2d(c, c, 3, padding=1, bias=False), (1, c, h, h))
    ds = summary(nn.Sequential(nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False),
                               nn.Conv2d(c, c, 1, bias=False)), (1, c, h, h))
    assert std.total_mult_adds == 9 * c * c * h * h
    assert ds.total_mult_adds == (9 * c + c * c) * h * h
    assert std.total_mult_adds / ds.total_mult_adds == pytest.approx(9 * c / (9 + c))


def test_sample_cnn_walkthrough():
    """003 "样例卷积网络": [32x32x10] (+280), [32x32x10] (+910), pool [16x16x10] (+0), ...
    [4x4x10], FC (+1610) or average pool + FC (+110)."""
    # inventory D10, H11, H12
    s = summary(M.sample_cnn(), (1, 3, 32, 32))
    convs = leaf_rows(s, {"Conv2d"})
    assert [r.output_shape for r in convs] == [(1, 10, 32, 32)] * 2 + \
        [(1, 10, 16, 16)] * 2 + [(1, 10, 8, 8)] * 2
    assert [r.params for r in convs] == [280] + [910] * 5
    pools = leaf_rows(s, {"MaxPool2d"})
    assert [r.output_shape[-1] for r in pools] == [16, 8, 4] and all(r.params == 0 for r in pools)
    assert leaf_rows(s, {"Linear"})[0].params == 1610
    s2 = summary(M.sample_cnn(ending="avgpool"), (1, 3, 32, 32))
    assert [r.output_shape for r in leaf_rows(s2, {"AvgPool2d"})] == [(1, 10, 1, 1)]
    assert leaf_rows(s2, {"Linear"})[0].params == 110


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_stacked_3x3_receptive_field(n):
    # 003: "N 个 3x3 卷积的感受野是 2n+1"
    # inventory B47, G13, H18
    model = nn.Sequential(*[nn.Conv2d(1, 1, 3, padding=1) for _ in range(n)])
    s = summary(model, (1, 1, 16, 16))
    assert s.rows[-1].receptive_field == 2 * n + 1
    assert s.rows[0].receptive_field == 2 * n + 1          # the container: its output's field


def test_receptive_field_special_layers():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, dilation=2),              # k_eff 5
                          nn.MaxPool2d(2),                              # r 6, j 2
                          nn.Conv2d(2, 2, (3, 1)),                      # non-square
                          nn.ConvTranspose2d(2, 1, 4, stride=2),        # j 1
                          nn.AdaptiveAvgPool2d((1, 1)))
    s = summary(model, (1, 1, 32, 32))
    rows = s.rows[1:]
    assert rows[0].receptive_field == 5
    assert (rows[1].receptive_field, rows[1].jump) == (6, 2)
    assert (rows[2].receptive_field, rows[2].jump) == ((10, 6), 2)
    # transposed conv: r + (ceil(k / s) - 1) j_in, j / s
    assert (rows[3].receptive_field, rows[3].jump) == ((12, 8), 1)
    h, w = rows[3].output_shape[-2:]                       # 26 x 30 -> 1 x 1: k = (26, 30)
    assert (h, w) == (26, 30) and rows[4].jump == (26, 30)
    assert rows[4].receptive_field == 12 + (h - 1) == 8 + (w - 1)
    # transposed conv multiply-adds: in_elems x (C_out / groups) k_h k_w
    assert rows[3].mult_adds == np.prod(rows[2].output_shape) * 1 * 16


def _gradient_support(model, shape, index):
    """The input pixels (rows, cols) that output unit ``index`` of ``model`` depends on: with
    positive weights, a positive input and no gating layer, every pixel of the receptive field
    gets a positive gradient and every other pixel 0."""
    x = ember.ones(*shape, requires_grad=True)
    with ember.no_grad():
        for p in model.parameters():
            p.copy_(ember.rand(*p.shape) + 0.1)
    out = model(x)
    out[(0, 0) + index].backward()
    support = np.abs(x.grad.numpy()[0]).sum(axis=0) > 0
    rows, cols = np.flatnonzero(support.any(1)), np.flatnonzero(support.any(0))
    return (rows[0], rows[-1]), (cols[0], cols[-1])


@pytest.mark.parametrize("layers,shape", [
    (lambda: [nn.Conv2d(1, 2, 5, padding=2), nn.AvgPool2d(2), nn.Conv2d(2, 2, 5)],  # LeNet's
     (1, 1, 28, 28)),
    (lambda: [nn.Conv2d(1, 2, 3, stride=2, padding=1),
              nn.Conv2d(2, 2, 3, dilation=2, padding=3),
              nn.AvgPool2d(3, stride=2, padding=1), nn.Conv2d(2, 1, (3, 5), padding="same")],
     (1, 1, 23, 26)),
    # an adaptive pool is exact when the output divides the input (12 -> 4: k = s = 3)
    (lambda: [nn.Conv2d(1, 2, 4, padding="same"), nn.AvgPool2d(2), nn.AdaptiveAvgPool2d(4)],
     (1, 1, 24, 25)),
])
def test_receptive_field_start_bounds_the_gradient_support(layers, shape):
    # inventory G13: output (i, j) sees rows a + i*jump .. a + i*jump + r - 1, clipped
    model = nn.Sequential(*layers())
    row = summary(model, shape).rows[-1]
    r, jump, start = (np.broadcast_to(v, 2) for v in (row.receptive_field, row.jump,
                                                      row.rf_start))
    h, w = row.output_shape[-2:]
    for index in [(0, 0), (h // 2, w - 1), (h - 1, w // 3)]:
        for axis, (lo, hi) in enumerate(_gradient_support(model, shape, index)):
            first = start[axis] + index[axis] * jump[axis]
            last = min(first + r[axis] - 1, shape[2 + axis] - 1)
            assert (lo, hi) == (max(first, 0), last), (index, axis)


def test_lenet5_receptive_field_starts():
    rows = {r.name: r for r in summary(M.lenet5(padded=True), (1, 1, 28, 28)).rows}
    # conv1 pads by 2: its first field starts 2 pixels before the image
    assert [rows[n].rf_start for n in ("conv1", "pool1", "conv2", "pool2")] == [-2] * 4
    assert rows["fc1"].rf_start is None


def test_resnet18_branches_take_max():
    # inventory B47
    s = summary(M.resnet18(), (1, 3, 64, 64), depth=3)
    rf = {r.name: r.receptive_field for r in s.rows}
    # stem 7 -> 11 (maxpool); a basic block adds two 3x3 at jump 4: 11 + 8 + 8 = 27
    assert (rf["conv1"], rf["maxpool"], rf["layer1.0"], rf["layer1.1"]) == (7, 11, 27, 43)
    # the shortcut (1x1 conv) sees less; the block output takes the residual path's field
    assert rf["layer2.0.downsample"] < rf["layer2.0"] == 67
    assert rf["layer4"] == 435                      # ResNet-18's well-known 435
    assert "layer1.0.conv1" in rf and "layer1.0.conv1.weight" not in rf
    # the shared ReLU of a BasicBlock is called twice: two rows
    assert sum(1 for r in s.rows if r.name == "layer1.0.relu") == 2


def test_googlenet_inception_branches():
    s = summary(M.googlenet(), (1, 3, 64, 64), depth=1)
    assert s.total_params == 13_004_888               # aux heads count, though not run
    assert not any(r.name.startswith("aux") for r in s.rows)
    rows = {r.name: r for r in s.rows}
    assert rows["inception3a"].output_shape == (1, 256, 8, 8)
    # the concatenation takes the widest branch: 1x1 -> 3x3 (and the 3x3 max-pool branch),
    # 27 + (3 - 1) * 8 = 43; branch1 (1x1 only) alone would give 27
    assert rows["maxpool2"].receptive_field == 27 and rows["inception3a"].receptive_field == 43


def test_depth_limits_rows_but_not_totals():
    model = M.resnet18()
    full, shallow = summary(model, (1, 3, 32, 32), depth=3), summary(model, (1, 3, 32, 32),
                                                                     depth=1)
    assert max(r.depth for r in shallow.rows) == 1 and max(r.depth for r in full.rows) == 3
    assert shallow.total_params == full.total_params == 11_689_512
    assert shallow.total_mult_adds == full.total_mult_adds
    layer1 = {r.name: r for r in shallow.rows}["layer1"]
    assert layer1.mult_adds == sum(r.mult_adds for r in full.rows if r.depth == 3
                                   and r.name.startswith("layer1."))
    assert summary(model, (1, 3, 32, 32), depth=0).rows[0].type == "ResNet"
    with pytest.raises(ValueError, match="depth must be a non-negative int"):
        summary(model, (1, 3, 32, 32), depth=-1)


def test_trainable_counts_after_freeze_and_table():
    model = M.lenet5()
    M.freeze(model, ["conv1", "conv2"])
    s = summary(model, (1, 1, 32, 32))
    assert s.non_trainable_params == 156 + 2416
    assert s.trainable_params == 61_706 - 156 - 2416
    text = str(s)
    assert "Total params: 61,706" in text and "Trainable params: 59,134" in text
    assert "conv1 (Conv2d)" in text and "[1, 6, 28, 28]" in text
    assert f"Total mult-adds (M): {s.total_mult_adds / 1e6:,.2f}" in text
    assert repr(s) == text


def test_dtypes_multiple_inputs_and_input_data():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(10, 4)
            self.fc = nn.Linear(4, 2)

        def forward(self, idx, x):
            return self.fc(self.emb(idx)) + x

    s = summary(Two(), [(3, 5), (3, 5, 2)], dtypes=[ember.int64, ember.float32])
    assert s.output_shape == (3, 5, 2) and s.input_shapes == [(3, 5), (3, 5, 2)]
    assert {r.name: r.mult_adds for r in s.rows}["fc"] == 3 * 5 * 2 * 4   # linear on 3-D
    data = ember.randn(2, 1, 32, 32)
    assert summary(M.lenet5(), input_data=data).rows[0].output_shape == (2, 10)
    with pytest.raises(ValueError, match="got 1 dtypes for 2 inputs"):
        summary(Two(), [(3, 5), (3, 5, 2)], dtypes=[ember.int64])


def test_summary_restores_mode_and_leaves_statistics():
    model = M.resnet20().train()
    model.layer1.eval()
    before = model.bn1.running_mean.detach().numpy().copy()
    summary(model, (2, 3, 32, 32))
    assert model.training and model.layer2.training and not model.layer1.training
    np.testing.assert_array_equal(model.bn1.running_mean.detach().numpy(), before)
    assert not model._forward_hooks and not model.conv1._forward_pre_hooks
    assert ember.is_grad_enabled()


def test_summary_errors():
    with pytest.raises(TypeError, match="expected an nn.Module"):
        summary(lambda x: x, (1, 3))
    with pytest.raises(ValueError, match="input_size must be a shape"):
        summary(M.lenet5(), 32)
    with pytest.raises(ValueError, match="LeNet5"):
        summary(M.lenet5(), (1, 1, 28, 28))      # the model's own message comes through


def test_densenet_layer_sees_widest_input():
    m = M.DenseNet(growth_rate=4, block_config=(3, 2), num_init_features=8, num_classes=2)
    s = summary(m, (1, 3, 32, 32), depth=3)
    rf = {r.name: r.receptive_field for r in s.rows}
    assert rf["features.pool0"] == 11
    # each dense layer adds one 3x3 conv (jump 4) to the widest of the maps it concatenates
    assert [rf[f"features.denseblock1.denselayer{i}"] for i in (1, 2, 3)] == [19, 27, 35]
    assert rf["features.denseblock1"] == 35
