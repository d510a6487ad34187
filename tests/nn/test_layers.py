"""Every layer class against the torch module of the same name: same repr, same state_dict
keys; after copying torch's parameters into Ember, same outputs, input gradients, parameter
gradients and buffers (a few configurations each; the functionals are tested in depth in
tests/ops)."""
import numpy as np
import pytest
import torch

import ember
from tests.nn.parity import module_parity

R = np.random.default_rng(1234)


def f32(*shape, scale=1.0):
    return (R.standard_normal(shape) * scale).astype(np.float32)


def f64(*shape):
    return R.standard_normal(shape)


def labels(n, c, *extra):
    return R.integers(0, c, size=(n,) + extra).astype(np.int64)


def probs(*shape):
    return R.uniform(0.05, 0.95, size=shape).astype(np.float32)


def signs(*shape):
    return np.where(R.random(shape) < 0.5, -1.0, 1.0).astype(np.float32)


# (id, make(lib) -> module, inputs, options)
CASES = [
    # ---------------------------------------------------------------- linear
    ("Linear", lambda L: L.nn.Linear(5, 3), [f32(4, 5)], {}),
    ("Linear-nobias-3d", lambda L: L.nn.Linear(5, 3, bias=False), [f32(2, 4, 5)], {}),
    ("Linear-f64", lambda L: L.nn.Linear(4, 2), [f64(3, 4)], {"double": True}),
    ("Bilinear", lambda L: L.nn.Bilinear(3, 4, 2), [f32(5, 3), f32(5, 4)], {}),
    ("Identity", lambda L: L.nn.Identity(7, unused=True), [f32(2, 3)], {}),
    # ---------------------------------------------------------------- conv
    ("Conv1d", lambda L: L.nn.Conv1d(2, 4, 3, stride=2, padding=1), [f32(2, 2, 9)], {}),
    ("Conv2d", lambda L: L.nn.Conv2d(3, 4, 3), [f32(2, 3, 7, 6)], {}),
    ("Conv2d-groups-dil", lambda L: L.nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 2),
                                                dilation=(1, 2), groups=2, bias=False),
     [f32(2, 4, 8, 7)], {}),
    ("Conv2d-same", lambda L: L.nn.Conv2d(2, 3, 4, padding="same"), [f32(1, 2, 6, 5)], {}),
    ("Conv2d-valid", lambda L: L.nn.Conv2d(2, 3, 3, padding="valid"), [f32(1, 2, 6, 5)], {}),
    ("Conv2d-reflect", lambda L: L.nn.Conv2d(2, 3, 3, padding=2, padding_mode="reflect"),
     [f32(2, 2, 6, 5)], {}),
    ("Conv2d-replicate", lambda L: L.nn.Conv2d(2, 3, 3, padding=1, padding_mode="replicate"),
     [f32(2, 2, 5, 5)], {}),
    ("Conv2d-circular", lambda L: L.nn.Conv2d(2, 2, 3, padding=(1, 2),
                                              padding_mode="circular"), [f32(1, 2, 5, 6)], {}),
    ("Conv2d-same-reflect-even", lambda L: L.nn.Conv2d(1, 2, 4, padding="same",
                                                       padding_mode="reflect"),
     [f32(1, 1, 6, 6)], {}),
    ("Conv2d-unbatched", lambda L: L.nn.Conv2d(2, 3, 3), [f32(2, 5, 5)], {}),
    ("Conv2d-f64", lambda L: L.nn.Conv2d(2, 2, 3, padding=1), [f64(1, 2, 4, 4)],
     {"double": True}),
    ("Conv3d", lambda L: L.nn.Conv3d(2, 3, 2, padding=1), [f32(1, 2, 3, 4, 3)], {}),
    ("Conv1d-circular", lambda L: L.nn.Conv1d(2, 3, 3, padding=2, padding_mode="circular"),
     [f32(2, 2, 6)], {}),
    ("Conv3d-replicate", lambda L: L.nn.Conv3d(1, 2, 3, padding=1, padding_mode="replicate"),
     [f32(1, 1, 3, 4, 3)], {}),
    ("ConvTranspose1d", lambda L: L.nn.ConvTranspose1d(2, 3, 3, stride=2), [f32(2, 2, 5)], {}),
    ("ConvTranspose2d", lambda L: L.nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1,
                                                       output_padding=1, groups=2),
     [f32(2, 4, 4, 3)], {}),
    ("ConvTranspose2d-dil", lambda L: L.nn.ConvTranspose2d(2, 3, 2, dilation=2, bias=False),
     [f32(1, 2, 3, 3)], {}),
    ("ConvTranspose3d", lambda L: L.nn.ConvTranspose3d(2, 2, 2, stride=2), [f32(1, 2, 2, 3, 2)],
     {}),
    # ---------------------------------------------------------------- pooling
    ("MaxPool1d", lambda L: L.nn.MaxPool1d(3, stride=2, padding=1), [f32(2, 3, 8)], {}),
    ("MaxPool2d", lambda L: L.nn.MaxPool2d(2), [f32(2, 3, 6, 5)], {}),
    ("MaxPool2d-ceil-dil", lambda L: L.nn.MaxPool2d(3, 2, 1, dilation=2, ceil_mode=True),
     [f32(1, 2, 9, 8)], {}),
    ("MaxPool2d-indices", lambda L: L.nn.MaxPool2d(2, return_indices=True), [f32(1, 2, 4, 6)],
     {}),
    ("MaxPool3d", lambda L: L.nn.MaxPool3d(2), [f32(1, 2, 4, 4, 4)], {}),
    ("AvgPool1d", lambda L: L.nn.AvgPool1d(3, 2, 1, count_include_pad=False), [f32(2, 2, 7)], {}),
    ("AvgPool2d", lambda L: L.nn.AvgPool2d(3, stride=2, padding=1), [f32(2, 2, 7, 6)], {}),
    ("AvgPool2d-divisor", lambda L: L.nn.AvgPool2d(2, ceil_mode=True, divisor_override=3),
     [f32(1, 2, 5, 5)], {}),
    ("AvgPool3d", lambda L: L.nn.AvgPool3d(2), [f32(1, 1, 4, 4, 4)], {}),
    ("LPPool1d", lambda L: L.nn.LPPool1d(2, 3, stride=2), [f32(2, 2, 9)], {}),
    ("LPPool2d", lambda L: L.nn.LPPool2d(3, 2), [np.abs(f32(1, 2, 6, 4)) + 0.1], {}),
    ("AdaptiveAvgPool1d", lambda L: L.nn.AdaptiveAvgPool1d(3), [f32(2, 2, 7)], {}),
    ("AdaptiveAvgPool2d", lambda L: L.nn.AdaptiveAvgPool2d((3, None)), [f32(2, 2, 7, 5)], {}),
    ("AdaptiveAvgPool3d", lambda L: L.nn.AdaptiveAvgPool3d(2), [f32(1, 2, 3, 5, 4)], {}),
    ("AdaptiveMaxPool1d", lambda L: L.nn.AdaptiveMaxPool1d(4), [f32(2, 2, 9)], {}),
    ("AdaptiveMaxPool2d", lambda L: L.nn.AdaptiveMaxPool2d((2, 3), return_indices=True),
     [f32(1, 2, 5, 7)], {}),
    ("AdaptiveMaxPool3d", lambda L: L.nn.AdaptiveMaxPool3d(2), [f32(1, 1, 4, 3, 4)], {}),
    # ---------------------------------------------------------------- padding / resampling
    ("ZeroPad2d", lambda L: L.nn.ZeroPad2d((1, 2, 0, 1)), [f32(1, 2, 3, 4)], {}),
    ("ZeroPad1d", lambda L: L.nn.ZeroPad1d(2), [f32(2, 3, 4)], {}),
    ("ZeroPad3d", lambda L: L.nn.ZeroPad3d((0, 1, 1, 0, 2, 1)), [f32(1, 1, 2, 2, 2)], {}),
    ("ConstantPad1d", lambda L: L.nn.ConstantPad1d((2, 1), 3.5), [f32(2, 3, 4)], {}),
    ("ConstantPad2d", lambda L: L.nn.ConstantPad2d(1, -1.0), [f32(1, 2, 3, 3)], {}),
    ("ConstantPad3d", lambda L: L.nn.ConstantPad3d((1, 0, 0, 1, 1, 1), 0.5),
     [f32(1, 1, 2, 2, 2)], {}),
    ("ReflectionPad1d", lambda L: L.nn.ReflectionPad1d((2, 1)), [f32(2, 2, 5)], {}),
    ("ReflectionPad2d", lambda L: L.nn.ReflectionPad2d(2), [f32(1, 2, 4, 5)], {}),
    ("ReflectionPad3d", lambda L: L.nn.ReflectionPad3d(1), [f32(1, 1, 3, 3, 3)], {}),
    ("ReplicationPad1d", lambda L: L.nn.ReplicationPad1d(3), [f32(2, 2, 4)], {}),
    ("ReplicationPad2d", lambda L: L.nn.ReplicationPad2d((1, 0, 2, 1)), [f32(1, 2, 3, 4)], {}),
    ("ReplicationPad3d", lambda L: L.nn.ReplicationPad3d(1), [f32(1, 1, 2, 3, 2)], {}),
    ("CircularPad1d", lambda L: L.nn.CircularPad1d(2), [f32(2, 2, 5)], {}),
    ("CircularPad2d", lambda L: L.nn.CircularPad2d((1, 2, 2, 0)), [f32(1, 2, 4, 4)], {}),
    ("CircularPad3d", lambda L: L.nn.CircularPad3d(1), [f32(1, 1, 3, 3, 3)], {}),
    ("Upsample-nearest", lambda L: L.nn.Upsample(scale_factor=2), [f32(1, 2, 3, 4)], {}),
    ("Upsample-bilinear", lambda L: L.nn.Upsample(size=(5, 7), mode="bilinear"),
     [f32(2, 2, 3, 4)], {}),
    ("Upsample-bicubic-ac", lambda L: L.nn.Upsample(scale_factor=(2, 1.5), mode="bicubic",
                                                    align_corners=True), [f32(1, 1, 4, 4)], {}),
    ("Upsample-recompute", lambda L: L.nn.Upsample(scale_factor=1.7, mode="bilinear",
                                                   recompute_scale_factor=True),
     [f32(1, 2, 3, 5)], {}),
    ("Upsample-linear", lambda L: L.nn.Upsample(scale_factor=3, mode="linear"), [f32(1, 2, 4)],
     {}),
    ("UpsamplingNearest2d", lambda L: L.nn.UpsamplingNearest2d(size=(6, 5)), [f32(1, 2, 3, 2)],
     {}),
    ("UpsamplingBilinear2d", lambda L: L.nn.UpsamplingBilinear2d(scale_factor=2),
     [f32(1, 2, 3, 3)], {}),
    ("PixelShuffle", lambda L: L.nn.PixelShuffle(2), [f32(2, 8, 3, 2)], {}),
    ("PixelUnshuffle", lambda L: L.nn.PixelUnshuffle(2), [f32(2, 2, 4, 6)], {}),
    ("Flatten", lambda L: L.nn.Flatten(), [f32(2, 3, 4, 5)], {}),
    ("Flatten-mid", lambda L: L.nn.Flatten(1, 2), [f32(2, 3, 4, 5)], {}),
    ("Unflatten", lambda L: L.nn.Unflatten(1, (2, 3)), [f32(4, 6, 2)], {}),
    ("Unfold", lambda L: L.nn.Unfold(2, padding=1, stride=2), [f32(2, 3, 5, 4)], {}),
    ("Fold", lambda L: L.nn.Fold((4, 5), 2), [f32(2, 12, 12)], {}),
    # ---------------------------------------------------------------- normalization
    ("BatchNorm1d-2d", lambda L: L.nn.BatchNorm1d(4), [f32(8, 4, scale=2) + 1], {}),
    ("BatchNorm1d-3d", lambda L: L.nn.BatchNorm1d(3, momentum=None), [f32(4, 3, 5)], {}),
    ("BatchNorm2d", lambda L: L.nn.BatchNorm2d(3, momentum=0.3), [f32(4, 3, 5, 4) * 3 - 1], {}),
    ("BatchNorm2d-eval", lambda L: L.nn.BatchNorm2d(3), [f32(2, 3, 4, 4)], {"train": False}),
    ("BatchNorm2d-noaffine-notrack", lambda L: L.nn.BatchNorm2d(2, affine=False,
                                                                track_running_stats=False),
     [f32(3, 2, 3, 3)], {}),
    ("BatchNorm2d-notrack-eval", lambda L: L.nn.BatchNorm2d(2, track_running_stats=False),
     [f32(3, 2, 3, 3)], {"train": False}),
    ("BatchNorm2d-nobias", lambda L: L.nn.BatchNorm2d(2, bias=False), [f32(3, 2, 3, 3)], {}),
    ("BatchNorm3d", lambda L: L.nn.BatchNorm3d(2), [f32(2, 2, 3, 2, 3)], {}),
    ("BatchNorm2d-f64", lambda L: L.nn.BatchNorm2d(2), [f64(3, 2, 3, 3)], {"double": True}),
    ("InstanceNorm1d", lambda L: L.nn.InstanceNorm1d(3), [f32(2, 3, 6)], {}),
    ("InstanceNorm2d-affine-track", lambda L: L.nn.InstanceNorm2d(3, affine=True,
                                                                  track_running_stats=True),
     [f32(2, 3, 4, 5)], {}),
    ("InstanceNorm2d-track-eval", lambda L: L.nn.InstanceNorm2d(2, track_running_stats=True),
     [f32(2, 2, 4, 4)], {"train": False}),
    ("InstanceNorm2d-unbatched", lambda L: L.nn.InstanceNorm2d(2, affine=True),
     [f32(2, 4, 4)], {}),
    ("InstanceNorm3d", lambda L: L.nn.InstanceNorm3d(2), [f32(1, 2, 3, 3, 3)], {}),
    ("LayerNorm", lambda L: L.nn.LayerNorm(5), [f32(3, 4, 5)], {}),
    ("LayerNorm-2d-nobias", lambda L: L.nn.LayerNorm([4, 5], eps=1e-3, bias=False),
     [f32(2, 4, 5)], {}),
    ("LayerNorm-noaffine", lambda L: L.nn.LayerNorm(6, elementwise_affine=False), [f32(3, 6)],
     {}),
    ("GroupNorm", lambda L: L.nn.GroupNorm(2, 4), [f32(3, 4, 3, 3)], {}),
    ("GroupNorm-noaffine", lambda L: L.nn.GroupNorm(3, 6, affine=False), [f32(2, 6, 5)], {}),
    ("LocalResponseNorm", lambda L: L.nn.LocalResponseNorm(3, alpha=0.1, beta=0.6, k=2.0),
     [f32(2, 5, 3, 3)], {}),
    # ---------------------------------------------------------------- dropout in eval mode
    ("Dropout-eval", lambda L: L.nn.Dropout(0.3), [f32(4, 5)], {"train": False}),
    ("Dropout2d-eval", lambda L: L.nn.Dropout2d(), [f32(2, 3, 4, 4)], {"train": False}),
    ("AlphaDropout-eval", lambda L: L.nn.AlphaDropout(0.2), [f32(4, 5)], {"train": False}),
    ("Dropout-p0-train", lambda L: L.nn.Dropout(0.0), [f32(4, 5)], {}),
    # ---------------------------------------------------------------- embedding
    ("Embedding", lambda L: L.nn.Embedding(10, 3), [labels(4, 10, 3)], {}),
    ("Embedding-padding", lambda L: L.nn.Embedding(6, 4, padding_idx=-2),
     [np.array([[0, 4, 4], [1, 4, 5]])], {}),
    ("Embedding-scale-freq", lambda L: L.nn.Embedding(5, 2, scale_grad_by_freq=True),
     [np.array([1, 1, 3, 1, 0])], {}),
    # ---------------------------------------------------------------- activations
    ("ReLU", lambda L: L.nn.ReLU(), [f32(3, 4)], {}),
    ("ReLU-inplace", lambda L: L.nn.Sequential(L.nn.Linear(4, 4), L.nn.ReLU(inplace=True)),
     [f32(3, 4)], {}),
    ("ReLU6", lambda L: L.nn.ReLU6(), [f32(3, 4, scale=5)], {}),
    ("LeakyReLU", lambda L: L.nn.LeakyReLU(0.1), [f32(3, 4)], {}),
    ("LeakyReLU-inplace", lambda L: L.nn.Sequential(L.nn.Linear(4, 3),
                                                    L.nn.LeakyReLU(0.2, inplace=True)),
     [f32(3, 4)], {}),
    ("ELU", lambda L: L.nn.ELU(alpha=0.7), [f32(3, 4)], {}),
    ("SELU", lambda L: L.nn.SELU(), [f32(3, 4)], {}),
    ("CELU", lambda L: L.nn.CELU(1.5), [f32(3, 4)], {}),
    ("GELU", lambda L: L.nn.GELU(), [f32(3, 4)], {}),
    ("GELU-tanh", lambda L: L.nn.GELU(approximate="tanh"), [f32(3, 4)], {}),
    ("SiLU", lambda L: L.nn.SiLU(), [f32(3, 4)], {}),
    ("Mish", lambda L: L.nn.Mish(), [f32(3, 4)], {}),
    ("Softplus", lambda L: L.nn.Softplus(beta=2, threshold=3), [f32(3, 4, scale=3)], {}),
    ("Softsign", lambda L: L.nn.Softsign(), [f32(3, 4)], {}),
    ("Hardtanh", lambda L: L.nn.Hardtanh(-0.5, 2.0), [f32(3, 4, scale=2)], {}),
    ("Hardsigmoid", lambda L: L.nn.Hardsigmoid(), [f32(3, 4, scale=4)], {}),
    ("Hardswish", lambda L: L.nn.Hardswish(), [f32(3, 4, scale=4)], {}),
    ("Sigmoid", lambda L: L.nn.Sigmoid(), [f32(3, 4)], {}),
    ("Tanh", lambda L: L.nn.Tanh(), [f32(3, 4)], {}),
    ("LogSigmoid", lambda L: L.nn.LogSigmoid(), [f32(3, 4)], {}),
    ("Tanhshrink", lambda L: L.nn.Tanhshrink(), [f32(3, 4)], {}),
    ("Softshrink", lambda L: L.nn.Softshrink(0.3), [f32(3, 4)], {}),
    ("Hardshrink", lambda L: L.nn.Hardshrink(0.3), [f32(3, 4)], {}),
    ("Threshold", lambda L: L.nn.Threshold(0.1, -2.0), [f32(3, 4)], {}),
    ("PReLU", lambda L: L.nn.PReLU(), [f32(2, 3, 4)], {}),
    ("PReLU-channels", lambda L: L.nn.PReLU(3, init=0.1), [f32(2, 3, 4)], {}),
    ("RReLU-eval", lambda L: L.nn.RReLU(0.1, 0.3), [f32(3, 4)], {"train": False}),
    ("GLU", lambda L: L.nn.GLU(), [f32(3, 4)], {}),
    ("GLU-dim1", lambda L: L.nn.GLU(dim=1), [f32(3, 6, 2)], {}),
    ("Softmax", lambda L: L.nn.Softmax(dim=1), [f32(3, 4, 2)], {}),
    ("LogSoftmax", lambda L: L.nn.LogSoftmax(dim=-1), [f32(3, 4)], {}),
    ("Softmin", lambda L: L.nn.Softmin(dim=0), [f32(3, 4)], {}),
    ("Softmax2d", lambda L: L.nn.Softmax2d(), [f32(2, 3, 2, 2)], {}),
    # ---------------------------------------------------------------- distances
    ("CosineSimilarity", lambda L: L.nn.CosineSimilarity(dim=1), [f32(3, 4), f32(3, 4)], {}),
    ("PairwiseDistance", lambda L: L.nn.PairwiseDistance(p=1.5, keepdim=True),
     [f32(3, 4), f32(3, 4)], {}),
    # ---------------------------------------------------------------- losses
    ("CrossEntropyLoss", lambda L: L.nn.CrossEntropyLoss(), [f32(5, 4), labels(5, 4)], {}),
    ("CrossEntropyLoss-weight", lambda L: L.nn.CrossEntropyLoss(
        weight=L.tensor([0.5, 1.0, 2.0]), ignore_index=1, label_smoothing=0.1),
     [f32(6, 3, 2), labels(6, 3, 2)], {}),
    ("CrossEntropyLoss-probs", lambda L: L.nn.CrossEntropyLoss(reduction="sum"),
     [f32(4, 3), probs(4, 3)], {"requires_grad": [True, False]}),
    ("NLLLoss", lambda L: L.nn.NLLLoss(weight=L.tensor([1.0, 0.2, 3.0]), reduction="none"),
     [f32(4, 3), labels(4, 3)], {}),
    ("MSELoss", lambda L: L.nn.MSELoss(), [f32(3, 4), f32(3, 4)], {}),
    ("MSELoss-sum", lambda L: L.nn.MSELoss(reduction="sum"), [f32(3, 4), f32(3, 4)], {}),
    ("L1Loss", lambda L: L.nn.L1Loss(reduction="none"), [f32(3, 4), f32(3, 4)], {}),
    ("SmoothL1Loss", lambda L: L.nn.SmoothL1Loss(beta=0.5), [f32(3, 4), f32(3, 4)], {}),
    ("HuberLoss", lambda L: L.nn.HuberLoss(delta=0.7), [f32(3, 4), f32(3, 4)], {}),
    ("BCELoss", lambda L: L.nn.BCELoss(weight=L.tensor([1.0, 2.0, 0.5])),
     [probs(4, 3), probs(4, 3)], {}),
    ("BCEWithLogitsLoss", lambda L: L.nn.BCEWithLogitsLoss(pos_weight=L.tensor([2.0, 0.5, 1.0])),
     [f32(4, 3), probs(4, 3)], {}),
    ("BCEWithLogitsLoss-weight", lambda L: L.nn.BCEWithLogitsLoss(weight=L.tensor([2.0, 0.5]),
                                                                  reduction="sum"),
     [f32(3, 2), probs(3, 2)], {}),
    ("NLLLoss-ignore", lambda L: L.nn.NLLLoss(ignore_index=2),
     [f32(4, 3, 2), np.array([[0, 2], [1, 1], [2, 2], [0, 1]])], {}),
    ("KLDivLoss", lambda L: L.nn.KLDivLoss(reduction="batchmean"),
     [np.log(probs(3, 4)), probs(3, 4)], {}),
    ("KLDivLoss-logtarget", lambda L: L.nn.KLDivLoss(log_target=True),
     [np.log(probs(3, 4)), np.log(probs(3, 4))], {}),
    ("MultiMarginLoss", lambda L: L.nn.MultiMarginLoss(), [f32(4, 5), labels(4, 5)], {}),
    ("MultiMarginLoss-p2-weight", lambda L: L.nn.MultiMarginLoss(
        p=2, margin=0.5, weight=L.tensor([1.0, 2.0, 0.5, 1.5])), [f32(3, 4), labels(3, 4)], {}),
    ("MultiLabelMarginLoss", lambda L: L.nn.MultiLabelMarginLoss(),
     [f32(2, 4), np.array([[3, 0, -1, 1], [1, 2, 3, -1]])], {}),
    ("HingeEmbeddingLoss", lambda L: L.nn.HingeEmbeddingLoss(margin=0.5),
     [f32(3, 4), signs(3, 4)], {"requires_grad": [True, False]}),
    ("MarginRankingLoss", lambda L: L.nn.MarginRankingLoss(margin=0.2),
     [f32(5), f32(5), signs(5)], {"requires_grad": [True, True, False]}),
    ("TripletMarginLoss", lambda L: L.nn.TripletMarginLoss(margin=2.0),
     [f32(4, 3), f32(4, 3), f32(4, 3)], {}),
    ("TripletMarginLoss-swap-p1", lambda L: L.nn.TripletMarginLoss(p=1, swap=True),
     [f32(4, 3), f32(4, 3), f32(4, 3)], {}),
    ("CosineEmbeddingLoss", lambda L: L.nn.CosineEmbeddingLoss(margin=0.1),
     [f32(4, 3), f32(4, 3), signs(4)], {"requires_grad": [True, True, False]}),
    ("SoftMarginLoss", lambda L: L.nn.SoftMarginLoss(), [f32(3, 4), signs(3, 4)],
     {"requires_grad": [True, False]}),
    ("PoissonNLLLoss", lambda L: L.nn.PoissonNLLLoss(full=True), [f32(3, 4), probs(3, 4) * 4],
     {"requires_grad": [True, False]}),
    ("GaussianNLLLoss", lambda L: L.nn.GaussianNLLLoss(full=True),
     [f32(3, 4), f32(3, 4), probs(3, 4)], {}),
    # ---------------------------------------------------------------- attention
    ("MultiheadAttention", lambda L: L.nn.MultiheadAttention(8, 2), [f32(3, 2, 8)] * 3, {}),
    ("MultiheadAttention-batchfirst-kv", lambda L: L.nn.MultiheadAttention(
        6, 3, kdim=4, vdim=5, batch_first=True), [f32(2, 3, 6), f32(2, 4, 4), f32(2, 4, 5)], {}),
    ("MultiheadAttention-biaskv-zero", lambda L: L.nn.MultiheadAttention(
        4, 2, add_bias_kv=True, add_zero_attn=True, bias=False), [f32(3, 2, 4), f32(5, 2, 4),
                                                                  f32(5, 2, 4)], {}),
    ("MultiheadAttention-unbatched", lambda L: L.nn.MultiheadAttention(4, 1),
     [f32(3, 4), f32(5, 4), f32(5, 4)], {}),
]


@pytest.mark.parametrize("name,make,inputs,opts", CASES, ids=[c[0] for c in CASES])
def test_module_parity(name, make, inputs, opts):
    module_parity(make, inputs, **opts)


def test_case_list_covers_every_layer_class():
    """Every public layer class of ember.nn appears in at least one parity case."""
    import inspect
    src = inspect.getsource(inspect.getmodule(test_module_parity))
    untested = [n for n in ember.nn.modules.__all__
                if f"nn.{n}(" not in src and n not in NOT_IN_PARITY]
    assert untested == []


# classes with their own tests elsewhere (random in training, containers, not in torch)
NOT_IN_PARITY = {"Module", "Sequential", "ModuleList", "ModuleDict", "ParameterList",
                 "ParameterDict", "Dropout1d", "Dropout3d", "FeatureAlphaDropout", "MaxUnpool1d",
                 "MaxUnpool2d", "MaxUnpool3d", "LocalContrastNorm", "Maxout", "RReLU",
                 "LPPool3d",
                 # the lectures' layers torch lacks: tests/nn/test_lecture_layers.py, test_pad.py
                 "LocallyConnected1d", "LocallyConnected2d", "SpatialPyramidPooling",
                 "BatchRenorm1d", "BatchRenorm2d", "BatchRenorm3d", "SymmetricPad1d",
                 "SymmetricPad2d", "SymmetricPad3d", "NonLocalBlock1d", "NonLocalBlock2d",
                 "NonLocalBlock3d",
                 # sequence layers: tests/nn/test_rnn.py and tests/nn/test_transformer.py
                 "RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell",
                 "GRUCell", "Transformer", "TransformerEncoder", "TransformerDecoder",
                 "TransformerEncoderLayer", "TransformerDecoderLayer",
                 "SinusoidalPositionalEncoding", "LearnedPositionalEmbedding",
                 } | {n for n in ember.nn.modules.__all__ if n.startswith("Lazy")}
# (the Lazy* layers are compared with torch in tests/nn/test_lazy.py)


# ------------------------------------------------------------------ attention masks
@pytest.mark.parametrize("need_weights,average", [(True, True), (True, False), (False, True)])
def test_multihead_attention_masks(need_weights, average):
    # inventory B38
    q, k = f32(4, 2, 6), f32(5, 2, 6)
    attn_mask = np.triu(np.ones((4, 5), dtype=bool), k=2)
    kpm = np.zeros((2, 5), dtype=bool)
    kpm[1, 4] = True
    float_mask = f32(2 * 3, 4, 5)

    def call(m, q, k, v, am, kp, fm):
        out1 = m(q, k, v, attn_mask=am, key_padding_mask=kp, need_weights=need_weights,
                 average_attn_weights=average)
        out2 = m(q, k, v, attn_mask=fm, need_weights=need_weights, average_attn_weights=average)
        return out1 + out2

    module_parity(lambda L: L.nn.MultiheadAttention(6, 3), [q, k, k.copy(), attn_mask, kpm,
                                                            float_mask],
                  requires_grad=[True, True, True, False, False, False], call=call)


# ------------------------------------------------------------------ forward-argument layers
def test_conv_transpose_output_size():
    # inventory B23
    def call(m, x):
        return m(x, output_size=[8, 10])
    module_parity(lambda L: L.nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1),
                  [f32(1, 2, 4, 5)], call=call)
    m = ember.nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1)
    with pytest.raises(ValueError, match="valid sizes range from 7 to 8"):
        m(ember.randn(1, 2, 4, 5), output_size=(9, 9))


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_max_unpool_inverts_max_pool(dims):
    # inventory B22
    shape = (1, 2) + (4,) * dims

    def call(m, x):
        lib = torch if isinstance(x, torch.Tensor) else ember
        pool = getattr(lib.nn, f"MaxPool{dims}d")(2, return_indices=True)
        out, idx = pool(x)
        return m(out, idx), m(out, idx, output_size=x.shape)
    module_parity(lambda L: getattr(L.nn, f"MaxUnpool{dims}d")(2), [f32(*shape)], call=call)


def test_lppool3d():
    module_parity(lambda L: L.nn.LPPool3d(2, 2), [f32(1, 1, 4, 4, 2)])


def test_embedding_from_pretrained_and_max_norm():
    w = f32(5, 3, scale=3)
    for freeze in (True, False):
        def make(L, freeze=freeze):
            return L.nn.Embedding.from_pretrained(L.from_numpy(w.copy()), freeze=freeze,
                                                  max_norm=2.0)
        em, tm, _ = module_parity(make, [np.array([0, 2, 2, 4])])
        assert em.weight.requires_grad == (not freeze)
        np.testing.assert_allclose(em.weight.detach().numpy(), tm.weight.detach().numpy(),
                                   rtol=1e-6)


def test_embedding_padding_row_zero_and_no_grad():
    e = ember.nn.Embedding(5, 3, padding_idx=2)
    assert np.all(e.weight.detach().numpy()[2] == 0)
    assert np.any(e.weight.detach().numpy()[1] != 0)
    e(ember.tensor([2, 2, 1])).sum().backward()
    assert np.all(e.weight.grad.numpy()[2] == 0)
    np.testing.assert_array_equal(e.weight.grad.numpy()[1], np.ones(3))


def test_embedding_sparse_gives_torch_gradient_densified():
    idx = np.array([[0, 3], [3, 1]])
    t = torch.nn.Embedding(4, 3, sparse=True)
    e = ember.nn.Embedding(4, 3, sparse=True)
    assert repr(e) == repr(t)
    e.load_state_dict({"weight": t.weight.detach().numpy()})
    t(torch.from_numpy(idx)).pow(2).sum().backward()
    e(ember.from_numpy(idx)).pow(2).sum().backward()
    np.testing.assert_allclose(e.weight.grad.numpy(), t.weight.grad.to_dense().numpy(),
                               rtol=1e-6)


@pytest.mark.parametrize("make", [
    lambda L, **kw: L.nn.Linear(3, 2, **kw),
    lambda L, **kw: L.nn.Bilinear(2, 3, 2, **kw),
    lambda L, **kw: L.nn.Conv2d(2, 2, 3, **kw),
    lambda L, **kw: L.nn.ConvTranspose1d(2, 2, 3, **kw),
    lambda L, **kw: L.nn.BatchNorm2d(2, **kw),
    lambda L, **kw: L.nn.InstanceNorm1d(2, affine=True, track_running_stats=True, **kw),
    lambda L, **kw: L.nn.LayerNorm(3, **kw),
    lambda L, **kw: L.nn.GroupNorm(1, 2, **kw),
    lambda L, **kw: L.nn.Embedding(4, 2, **kw),
    lambda L, **kw: L.nn.PReLU(2, **kw),
    lambda L, **kw: L.nn.MultiheadAttention(4, 2, add_bias_kv=True, **kw),
])
def test_factory_keywords_device_and_dtype(make):
    e = make(ember, device="cpu", dtype=ember.float64)
    t = make(torch, device="cpu", dtype=torch.float64)
    e_types = {k: str(v.dtype).split(".")[-1] for k, v in e.state_dict().items()}
    t_types = {k: str(v.dtype).split(".")[-1] for k, v in t.state_dict().items()}
    assert e_types == t_types
    assert "float64" in e_types.values()
    with pytest.raises(RuntimeError, match="CPU only"):
        make(ember, device="cuda")


def test_multihead_attention_is_causal_hint():
    m = ember.nn.MultiheadAttention(4, 2)
    x = ember.randn(3, 2, 4)
    causal = ember.ones(3, 3, dtype=ember.bool).triu(1)
    out, w = m(x, x, x, attn_mask=causal, is_causal=True)
    ref, w_ref = m(x, x, x, attn_mask=causal)
    np.testing.assert_array_equal(out.detach().numpy(), ref.detach().numpy())
    assert np.all(w.detach().numpy()[:, 0, 1:] == 0)
    with pytest.raises(RuntimeError, match="need attn_mask"):
        m(x, x, x, is_causal=True)


def test_multihead_attention_dropout_in_training_only():
    m = ember.nn.MultiheadAttention(4, 1, dropout=0.5)
    x = ember.randn(5, 3, 4)
    _, w = m(x, x, x)
    assert (w.detach().numpy() == 0).mean() > 0.2
    m.eval()
    _, w = m(x, x, x)
    np.testing.assert_allclose(w.detach().numpy().sum(-1), 1, rtol=1e-5)
