"""``ember.vision.models.segmentation``: torchvision's FCN and DeepLabV3 against torchvision 0.28
itself (keys, parameter counts, outputs and gradients with its weights copied in), and the
lectures' U-Net, FCN-32s/16s/8s and SegNet against plain-torch builds of the same networks."""
import numpy as np
import pytest
import torch
import torch.nn as tnn
import torch.nn.functional as TF

import ember
import ember.nn.functional as F
from ember.vision.models import segmentation as S
from ember.vision.models.segmentation.unet import unpadded_output_size, valid_unpadded_size
from tests.harness import assert_close
from tests.vision.test_models import assert_same_state_dict_layout, load_torch_weights


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def torchvision_models():
    """torchvision's segmentation models (its wheel registers fake kernels for compiled ops
    this CPU build of torch lacks; the models do not use them)."""
    original = torch.library.register_fake
    torch.library.register_fake = lambda *args, **kwargs: (lambda fn: fn)
    try:
        from torchvision.models import segmentation
    finally:
        torch.library.register_fake = original
    return segmentation


def _outputs(out):
    return [out[k] for k in out] if isinstance(out, dict) else [out]


def parity(ember_model, torch_model, shape, train, rtol=1e-9):
    """Copy torch's weights into the Ember model and compare, in float64, every output and the
    gradients of ``sum_k sum(out_k * g_k)`` for the input and every parameter."""
    torch_model.double().train(train)
    load_torch_weights(ember_model, torch_model)
    ember_model.train(train)
    x = np.random.default_rng(1).normal(size=shape)
    xe = ember.from_numpy(x.copy()).requires_grad_(True)
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    oe, ot = _outputs(ember_model(xe)), _outputs(torch_model(xt))
    assert len(oe) == len(ot)
    loss_e = loss_t = 0
    for k, (a, b) in enumerate(zip(oe, ot)):
        assert_close(a.detach().numpy(), b.detach().numpy(), rtol, rtol, f"output {k}")
        g = np.random.default_rng(2 + k).normal(size=tuple(b.shape))
        loss_e = loss_e + (a * ember.from_numpy(g)).sum()
        loss_t = loss_t + (b * torch.from_numpy(g)).sum()
    loss_e.backward()
    loss_t.backward()
    assert_close(xe.grad.numpy(), xt.grad.numpy(), rtol, rtol, "input grad")
    tparams = dict(torch_model.named_parameters())
    for name, p in ember_model.named_parameters():
        t = tparams[name]
        if t.grad is None:
            assert p.grad is None, name
            continue
        assert_close(p.grad.numpy(), t.grad.numpy(), rtol, rtol, f"grad {name}")


# ------------------------------------------------------------------------------------------
# torchvision's models
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, aux, expected", [
    ("fcn_resnet50", True, 35_322_218), ("fcn_resnet50", False, 32_957_013),
    ("fcn_resnet101", True, 54_314_346), ("deeplabv3_resnet50", True, 42_004_074),
    ("deeplabv3_resnet101", True, 60_996_202),
])
def test_torchvision_keys_and_parameter_counts(name, aux, expected):
    reference = getattr(torchvision_models(), name)(weights=None, weights_backbone=None,
                                                   aux_loss=aux)
    model = getattr(S, name)(aux_loss=aux)
    assert n_params(model) == n_params(reference) == expected
    assert_same_state_dict_layout(model, reference)


def _random_statistics(model):
    with torch.no_grad():                      # non-trivial BatchNorm statistics
        for module in model.modules():
            if isinstance(module, tnn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    return model


def test_torchvision_fcn_outputs_and_gradients():
    """Eval mode (the heads' dropout would draw different masks), float64, an odd-sized image:
    the dilated backbone, both heads and the bilinear upsampling to the input size."""
    reference = torchvision_models().fcn_resnet50(weights=None, weights_backbone=None,
                                                  num_classes=5, aux_loss=True)
    parity(S.fcn_resnet50(num_classes=5, aux_loss=True), _random_statistics(reference),
           (1, 3, 35, 29), train=False)


@pytest.mark.parametrize("train", [False, True])
def test_d24_torchvision_deeplab_head(train):
    """DeepLabV3's head (ASPP, inventory B21: 1x1, three dilated 3x3 and image-pooling
    branches, projection, then 3x3 and 1x1 convs) on a small feature map; in training mode
    with batch statistics (the projection's dropout is switched off in both)."""
    head = torchvision_models().deeplabv3.DeepLabHead
    reference = _random_statistics(head(16, 4, atrous_rates=(1, 2, 3)))
    model = S.DeepLabHead(16, 4, atrous_rates=(1, 2, 3))
    assert_same_state_dict_layout(model, reference)
    if train:
        reference[0].project[3].p = 0.0
        model[0].project[3].p = 0.0
    parity(model, reference, (2, 16, 7, 9), train=train)


def test_torchvision_builders_refuse_weights_and_unknown_keywords():
    with pytest.raises(ValueError, match="never downloads"):
        S.fcn_resnet50(weights="DEFAULT")
    with pytest.raises(ValueError, match=r"deeplabv3_resnet50 \(weights_backbone\).*never "
                                         r"downloads"):
        S.deeplabv3_resnet50(weights_backbone="IMAGENET1K_V1")
    with pytest.raises(ValueError, match="pretrained_backbone=True|weights_backbone"):
        S.fcn_resnet101(pretrained_backbone=True)
    with pytest.raises(TypeError, match="unexpected keyword argument.*progres"):
        S.fcn_resnet50(progres=False)


def test_torchvision_aux_head_only_with_aux_loss():
    model = S.fcn_resnet50(num_classes=3).eval()
    assert model.aux_classifier is None
    with ember.no_grad():
        out = model(ember.randn(1, 3, 24, 24))
    assert list(out) == ["out"] and tuple(out["out"].shape) == (1, 3, 24, 24)


# ------------------------------------------------------------------------------------------
# U-Net
# ------------------------------------------------------------------------------------------
def torch_unet(in_channels, num_classes, base_width, depth, padded, batch_norm):
    """The lecture's U-Net in plain torch (the key layout of ``ember``'s ``UNet``)."""
    pad = 1 if padded else 0

    def double_conv(cin, cout):
        layers = []
        for c in (cin, cout):
            layers.append(tnn.Conv2d(c, cout, 3, padding=pad, bias=not batch_norm))
            layers += [tnn.BatchNorm2d(cout)] if batch_norm else []
            layers.append(tnn.ReLU())
        return tnn.Sequential(*layers)

    class UNet(tnn.Module):
        def __init__(self):
            super().__init__()
            w = [base_width * 2 ** k for k in range(depth + 1)]
            self.encoder = tnn.ModuleList(double_conv(a, b) for a, b in
                                          zip([in_channels] + w[:depth - 1], w[:depth]))
            self.pool = tnn.MaxPool2d(2)
            self.bottleneck = double_conv(w[depth - 1], w[depth])
            self.up = tnn.ModuleList(tnn.ConvTranspose2d(w[k + 1], w[k], 2, 2)
                                     for k in reversed(range(depth)))
            self.decoder = tnn.ModuleList(double_conv(2 * w[k], w[k])
                                          for k in reversed(range(depth)))
            self.classifier = tnn.Conv2d(w[0], num_classes, 1)

        def forward(self, x):
            skips = []
            for block in self.encoder:
                x = block(x)
                skips.append(x)
                x = self.pool(x)
            x = self.bottleneck(x)
            for up, block, skip in zip(self.up, self.decoder, reversed(skips)):
                x = up(x)
                top = (skip.shape[-2] - x.shape[-2]) // 2
                left = (skip.shape[-1] - x.shape[-1]) // 2
                skip = skip[:, :, top:top + x.shape[-2], left:left + x.shape[-1]]
                x = block(torch.cat((skip, x), 1))
            return self.classifier(x)
    return UNet()


def test_d12_unet_is_the_paper_network():
    """572x572 -> 388x388 with 31,030,658 parameters (1 channel in, 2 classes): lecture 004's
    U-Net (inventory D12)."""
    assert n_params(S.unet()) == n_params(torch_unet(1, 2, 64, 4, False, False)) == 31_030_658
    assert unpadded_output_size(4, 572) == 388 and valid_unpadded_size(4, 570) == 572
    small = S.UNet(base_width=2, depth=4)
    with ember.no_grad():
        assert tuple(small(ember.zeros(1, 1, 572, 572)).shape) == (1, 2, 388, 388)


@pytest.mark.parametrize("padded, batch_norm, size", [(False, False, 44), (False, True, 60),
                                                      (True, True, 32), (True, False, 48)])
def test_unet_matches_torch(padded, batch_norm, size):
    """The encoder-decoder with copied (and cropped) skips (inventory B24, B25), padded or not,
    with or without BatchNorm."""
    ember_model = S.UNet(3, 4, base_width=3, depth=2, padded=padded, batch_norm=batch_norm)
    torch_model = torch_unet(3, 4, 3, 2, padded, batch_norm)
    assert_same_state_dict_layout(ember_model, torch_model)
    parity(ember_model, torch_model, (2, 3, size, size), train=True)
    out = size if padded else unpadded_output_size(2, size)
    assert tuple(ember_model(ember.zeros(1, 3, size, size).double()).shape) == (1, 4, out, out)


def test_unet_size_errors_name_the_next_valid_size():
    with pytest.raises(ValueError, match=r"UNet\(padded=False, depth=2\).*side of 45, the next "
                                         r"side that works is 48"):
        S.UNet(base_width=2, depth=2)(ember.zeros(1, 1, 45, 44))
    with pytest.raises(ValueError, match=r"UNet\(padded=True, depth=3\): height and width must "
                                         r"be multiples of 8"):
        S.UNet(base_width=2, depth=3, padded=True)(ember.zeros(1, 1, 20, 16))
    with pytest.raises(ValueError, match="base_width must be a positive int"):
        S.UNet(base_width=0)
    with pytest.raises(ValueError, match="never downloads"):
        S.unet(weights="DEFAULT")


# ------------------------------------------------------------------------------------------
# FCN-32s / 16s / 8s on VGG-16
# ------------------------------------------------------------------------------------------
def torch_fcn(stride, num_classes, in_channels, widths, fc_width):
    """FCN-{32,16,8}s as the paper's Caffe definitions (and pytorch-fcn) write them."""
    class FCN(tnn.Module):
        def __init__(self):
            super().__init__()
            layers, c = [], in_channels
            for stage, (w, n) in enumerate(zip(widths, (2, 2, 3, 3, 3))):
                for k in range(n):
                    layers += [tnn.Conv2d(c, w, 3, padding=100 if stage == k == 0 else 1),
                               tnn.ReLU()]
                    c = w
                layers.append(tnn.MaxPool2d(2, 2, ceil_mode=True))
            self.features = tnn.Sequential(*layers)
            self.fc6, self.relu6, self.drop6 = tnn.Conv2d(widths[4], fc_width, 7), tnn.ReLU(), \
                tnn.Dropout2d(0.0)
            self.fc7, self.relu7, self.drop7 = tnn.Conv2d(fc_width, fc_width, 1), tnn.ReLU(), \
                tnn.Dropout2d(0.0)
            self.score_fr = tnn.Conv2d(fc_width, num_classes, 1)
            n = num_classes
            if stride <= 16:
                self.upscore2 = tnn.ConvTranspose2d(n, n, 4, 2, bias=False)
                self.score_pool4 = tnn.Conv2d(widths[3], n, 1)
            if stride == 8:
                self.upscore_pool4 = tnn.ConvTranspose2d(n, n, 4, 2, bias=False)
                self.score_pool3 = tnn.Conv2d(widths[2], n, 1)
            name, k = {32: ("upscore", 64), 16: ("upscore16", 32), 8: ("upscore8", 16)}[stride]
            setattr(self, name, tnn.ConvTranspose2d(n, n, k, stride, bias=False))
            getattr(self, name).weight.requires_grad_(False)        # fixed, as in the paper
            self.final = name

        def forward(self, x):
            h = x
            for i, layer in enumerate(self.features):
                h = layer(h)
                if i == 16:
                    pool3 = h
                if i == 23:
                    pool4 = h
            h = self.score_fr(self.drop7(self.relu7(self.fc7(self.drop6(self.relu6(self.fc6(h)))))))
            if stride <= 16:
                h = self.upscore2(h)
                h = h + self.score_pool4(pool4)[:, :, 5:5 + h.shape[2], 5:5 + h.shape[3]]
            if stride == 8:
                h = self.upscore_pool4(h)
                h = h + self.score_pool3(pool3)[:, :, 9:9 + h.shape[2], 9:9 + h.shape[3]]
            h = getattr(self, self.final)(h)
            o = {32: 19, 16: 27, 8: 31}[stride]
            return h[:, :, o:o + x.shape[2], o:o + x.shape[3]]
    return FCN()


@pytest.mark.parametrize("stride", [32, 16, 8])
def test_d13_fcn_vgg_matches_torch(stride):
    widths, fc = (2, 3, 4, 5, 6), 8
    ember_model = S.FCNVGG16(num_classes=3, stride=stride, in_channels=1, widths=widths,
                             fc_width=fc, dropout=0.0)
    torch_model = torch_fcn(stride, 3, 1, widths, fc)
    assert_same_state_dict_layout(ember_model, torch_model)
    with torch.no_grad():                      # random score layers (Ember starts them at 0)
        for p in torch_model.parameters():
            p.normal_(0, 0.3)
    parity(ember_model, torch_model, (2, 1, 21, 30), train=True)


def test_fcn_vgg_initialization_follows_the_paper():
    model = S.fcn8s(num_classes=4, widths=(2, 2, 2, 2, 2), fc_width=4)
    assert list(model.features.state_dict()) == [
        f"{i}.{p}" for i in (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
        for p in ("weight", "bias")]                           # torchvision vgg16's indices
    for layer in (model.score_fr, model.score_pool4, model.score_pool3):
        assert not layer.weight.detach().numpy().any() and not layer.bias.detach().numpy().any()
    bilinear = S.bilinear_upsampling_weight(4, 16)
    np.testing.assert_array_equal(model.upscore8.weight.detach().numpy(), bilinear)
    assert not model.upscore8.weight.requires_grad and model.upscore2.weight.requires_grad
    with ember.no_grad():                       # zero scores until the scoring layers learn
        out = model.eval()(ember.randn(1, 3, 17, 23))
    assert tuple(out.shape) == (1, 4, 17, 23) and not out.numpy().any()
    full = S.fcn32s()
    assert n_params(full) == 136_152_917
    assert sum(p.numel() for p in full.parameters() if p.requires_grad) == 134_346_581


@pytest.mark.parametrize("factor", [2, 8])
def test_b23_bilinear_weight_is_bilinear_upsampling(factor):
    """A stride-s transposed convolution with the 2s x 2s bilinear kernel (padding s/2) is
    torch's bilinear ``interpolate`` (align_corners=False) away from the border."""
    x = np.random.default_rng(0).normal(size=(1, 2, 6, 7))
    weight = S.bilinear_upsampling_weight(2, 2 * factor).astype(np.float64)
    up = F.conv_transpose2d(ember.from_numpy(x), ember.from_numpy(weight), stride=factor,
                            padding=factor // 2).numpy()
    expected = TF.interpolate(torch.from_numpy(x), scale_factor=factor, mode="bilinear",
                              align_corners=False).numpy()
    inner = (slice(None), slice(None), slice(factor, -factor), slice(factor, -factor))
    np.testing.assert_allclose(up[inner], expected[inner], rtol=1e-12, atol=1e-12)
    assert not weight[0, 1].any() and weight[1, 1].max() <= 1


def test_fcn_vgg_errors():
    with pytest.raises(ValueError, match="stride must be 32, 16 or 8"):
        S.FCNVGG16(stride=4)
    with pytest.raises(ValueError, match="widths must give VGG-16's 5 stages"):
        S.FCNVGG16(widths=(4, 4))


# ------------------------------------------------------------------------------------------
# SegNet
# ------------------------------------------------------------------------------------------
def torch_segnet(in_channels, num_classes, widths, depths):
    def cbr(cin, cout):
        return [tnn.Conv2d(cin, cout, 3, padding=1, bias=False), tnn.BatchNorm2d(cout),
                tnn.ReLU()]

    class SegNet(tnn.Module):
        def __init__(self):
            super().__init__()
            enc, c = [], in_channels
            for w, d in zip(widths, depths):
                layers = []
                for _ in range(d):
                    layers += cbr(c, w)
                    c = w
                enc.append(tnn.Sequential(*layers))
            self.encoder = tnn.ModuleList(enc)
            dec = []
            for s in reversed(range(len(widths))):
                narrower = widths[s - 1] if s else widths[0]
                layers = []
                for k in range(depths[s]):
                    layers += cbr(widths[s], narrower if k == depths[s] - 1 else widths[s])
                dec.append(tnn.Sequential(*layers))
            self.decoder = tnn.ModuleList(dec)
            self.classifier = tnn.Conv2d(widths[0], num_classes, 3, padding=1)

        def forward(self, x):
            pooled = []
            for stage in self.encoder:
                x = stage(x)
                size = x.shape[-2:]
                x, idx = TF.max_pool2d(x, 2, 2, return_indices=True)
                pooled.append((idx, size))
            for stage, (idx, size) in zip(self.decoder, reversed(pooled)):
                x = stage(TF.max_unpool2d(x, idx, 2, 2, output_size=size))
            return self.classifier(x)
    return SegNet()


def test_segnet_matches_torch_on_odd_sizes():
    ember_model = S.SegNet(2, 5, widths=(3, 4, 6), depths=(2, 1, 2))
    torch_model = torch_segnet(2, 5, (3, 4, 6), (2, 1, 2))
    assert_same_state_dict_layout(ember_model, torch_model)
    parity(ember_model, torch_model, (2, 2, 21, 26), train=True)


def test_b22_segnet_unpools_to_the_encoder_maxima():
    """One stage with identity convolutions: the decoder's map is the max-pooled input put
    back where each maximum was, zero elsewhere (lecture 003 "Unpooling")."""
    model = S.SegNet(1, 1, widths=(1,), depths=(1,))
    x = np.abs(np.random.default_rng(0).normal(size=(1, 1, 4, 6))).astype(np.float32)
    with ember.no_grad():
        for conv in (model.encoder[0][0], model.decoder[0][0]):
            conv.weight.zero_()
            conv.weight[0, 0, 1, 1] = 1.0
        model.classifier.weight.zero_()
        model.classifier.weight[0, 0, 1, 1] = 1.0
        model.classifier.bias.zero_()
        model.eval()
        for bn in (model.encoder[0][1], model.decoder[0][1]):
            bn.running_var.fill_(1.0 - bn.eps)
        out = model(ember.from_numpy(x)).numpy()
    blocks = x.reshape(1, 1, 2, 2, 3, 2).transpose(0, 1, 2, 4, 3, 5).reshape(1, 1, 2, 3, 4)
    expected = np.zeros_like(x)
    for i in range(2):
        for j in range(3):
            k = blocks[0, 0, i, j].argmax()
            expected[0, 0, 2 * i + k // 2, 2 * j + k % 2] = blocks[0, 0, i, j].max()
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    assert n_params(S.segnet()) == 29_478_411


def test_segnet_errors():
    with pytest.raises(ValueError, match="too small for 5 2x2 max-pools"):
        S.SegNet(widths=(2,) * 5)(ember.zeros(1, 3, 16, 16))
    with pytest.raises(ValueError, match="widths and depths must have the same positive length"):
        S.SegNet(widths=(2, 2), depths=(1,))


def test_builders_are_listed_with_the_other_models():
    from ember.vision import models
    assert set(S.BUILDERS) <= set(models.list_models())
    assert models.default_input_size("unet") == (1, 572, 572)
    assert models.get_model("segnet", num_classes=3, widths=(2, 2), depths=(1, 1)).classifier \
        .out_channels == 3
