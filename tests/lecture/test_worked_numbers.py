"""The lectures' worked numbers (LECTURE_INVENTORY.md section H) that earlier test files did
not cover, each computed by Ember: parameter counts from the layers themselves, costs and
receptive fields from ``ember.summary``, sizes from tensors, predictions from the scores.

Every test cites its inventory id and the slide (file and line). Where the inventory flags a
slide as wrong (section I, ⚠), the test checks the corrected value and says so. Numbers that
are pure arithmetic on a slide, with nothing of Ember's to run, are not restated here.
"""
import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F
import ember.vision.models as M
from ember.train.metrics import accuracy
from ember.vision.datasets import make_polynomial


def n_params(module):
    return sum(p.numel() for p in module.parameters())


# ------------------------------------------------------------------------------------ H12
def test_h12_conv_neuron_76_and_layer_456_weights():
    """001 L528: "5 × 5 × 3 + 1 = 76 (vs. 3072 for a fully-connected layer)"; L551: six such
    filters, "6 × (75 + 1) = 456"."""
    assert n_params(nn.Conv2d(3, 1, 5)) == 5 * 5 * 3 + 1 == 76
    assert nn.Linear(32 * 32 * 3, 1).weight.numel() == 3072
    layer = nn.Conv2d(3, 6, 5)
    assert n_params(layer) == 6 * (75 + 1) == 456
    assert tuple(layer(ember.zeros(1, 3, 32, 32)).shape) == (1, 6, 28, 28)


@pytest.mark.parametrize("stride,size", [(1, 28), (3, 10)])
def test_h12_stride_does_not_change_the_380_parameters(stride, size):
    """003 L1589 / L1635: five 5×5×3 filters, "5x5x3x5 + 5 = 380" at stride 1 (28×28×5 out)
    and at stride 3 ("与之前相同!", 10×10×5 out)."""
    layer = nn.Conv2d(3, 5, 5, stride=stride)
    assert n_params(layer) == 380
    assert tuple(layer(ember.zeros(1, 3, 32, 32)).shape) == (1, 5, size, size)


def test_h12_pooling_has_no_parameters():
    """001 L751: POOL1 "Parameters: 0!"."""
    assert n_params(nn.MaxPool2d(3, 2)) == 0
    assert n_params(nn.AvgPool2d(2)) == 0


@pytest.mark.parametrize("sizes,weights,total", [
    ((2, 1), 2, 3),                     # "Weights 1x2, 总参数量 3 (不要忘了偏置 bias!)"
    ((2, 4, 1), 12, 17),                # "1 × 4 + 4 × 2 = 12; 12 + 5 = 17"
    ((2, 4, 4, 3), 36, 47),             # "3 × 4 + 4 × 4 + 4 × 2 = 36; 36 + 11 = 47"
])
def test_h12_mlp_parameter_counts(sizes, weights, total):
    """003 L1026–1054 「参数量」: the slide lists each weight matrix as out × in, from the last
    layer back; Ember's Linear layers hold the same numbers."""
    layers = [nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])]
    net = nn.Sequential(*[m for layer in layers for m in (layer, nn.ReLU())][:-1])
    assert sum(layer.weight.numel() for layer in layers) == weights
    assert n_params(net) == total


def _three_hidden_layer_mlp(p, h, o):
    return nn.Sequential(nn.Linear(p, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(),
                         nn.Linear(h, h), nn.ReLU(), nn.Linear(h, o))


def test_h12_image_mlp_102_million_and_100_billion():
    """003 L1056–1143 (inventory A33): P = 285 × 350 pixels, three hidden layers of H, O = 3
    outputs:
    ``HP + H + 2(H² + H) + OH + O``. H = 1000 → "102 million 个参数 (400MB)"; H = 2P (to
    compute an image gradient) → "100 billion 个参数 (400GB)". The count is what Ember's
    layers hold (checked on a small instance; the real one would need 400 MB), evaluated at
    the slide's sizes with float32's 4 bytes."""
    def count(p, h, o):
        return h * p + h + 2 * (h * h + h) + o * h + o
    assert n_params(_three_hidden_layer_mlp(35, 17, 3)) == count(35, 17, 3)
    bytes_per_value = ember.zeros(1).element_size()
    p = 285 * 350
    n = count(p, 1000, 3)
    assert n == 101_756_003 and round(n / 1e6) == 102
    assert round(n * bytes_per_value / 1e6) == 407                       # "400MB"
    big = count(p, 2 * p, 3)
    assert round(big / 1e9, 1) == 99.5                                   # "100 billion"
    assert round(big * bytes_per_value / 1e9) == 398                     # "400GB"


def test_h12_fully_connected_image_n4_parameters():
    """000 L455–464: a fully connected layer from an n × n image to n² hidden units has n⁴
    weights; n = 1000 gives "10^12 parameters" (10¹² B ≈ 1 T)."""
    n = 6
    assert nn.Linear(n * n, n * n, bias=False).weight.numel() == n ** 4
    assert 1000 ** 4 == 10 ** 12


def test_h12_flattened_image_sizes():
    """002 L55–66 (inventory E1): a 64×64 RGB image is a 12288-vector, 1000×1000×3 is
    "3Million"; 001 L414: "32x32x3 image → stretch to 3072 x 1" (inventory B30)."""
    assert tuple(ember.flatten(ember.zeros(1, 3, 64, 64), 1).shape) == (1, 12288)
    assert ember.zeros(3, 1000, 1000).numel() == 3_000_000
    assert tuple(nn.Flatten()(ember.zeros(1, 3, 32, 32)).shape) == (1, 3072)


def test_h12_one_7x7_against_three_3x3():
    """003 L2505–2520: a 7×7 filter has "参数量: 49, ReLU: 1"; three stacked 3×3 filters
    "参数量: 3 × 3 × 3 = 27, ReLU: 3" (one channel, no bias) and see the same 7×7 region."""
    big = nn.Sequential(nn.Conv2d(1, 1, 7, bias=False), nn.ReLU())
    stack = nn.Sequential(*[m for _ in range(3) for m in (nn.Conv2d(1, 1, 3, bias=False),
                                                          nn.ReLU())])
    assert n_params(big) == 49 and n_params(stack) == 27
    assert sum(isinstance(m, nn.ReLU) for m in big) == 1
    assert sum(isinstance(m, nn.ReLU) for m in stack) == 3
    for model in (big, stack):
        assert ember.summary(model, (1, 1, 9, 9)).rows[-1].receptive_field == 7


# ------------------------------------------------------------------------------------ H13
def test_h13_mobilenet_table_462_million_against_52_3():
    """003 L3151–3153 (MobileNet's table: a 3×3 layer, 512 → 512 channels on 14×14):
    "Convolution 462 (Million Mult-Adds), 2.36 (Million Parameters); Depthwise Separable Conv
    52.3, 0.27"."""
    standard = ember.summary(nn.Conv2d(512, 512, 3, padding=1, bias=False), (1, 512, 14, 14))
    separable = ember.summary(nn.Sequential(
        nn.Conv2d(512, 512, 3, padding=1, groups=512, bias=False),
        nn.Conv2d(512, 512, 1, bias=False)), (1, 512, 14, 14))
    assert round(standard.total_mult_adds / 1e6) == 462
    assert round(standard.total_params / 1e6, 2) == 2.36
    assert round(separable.total_mult_adds / 1e6, 1) == 52.3
    assert round(separable.total_params / 1e6, 2) == 0.27


def test_h13_speedup_9c_over_9_plus_c():
    """003 L3131–3142: "Speedup = 9C²/(9C + C²) = 9C/(9 + C) ⇒ 9 (as C → inf)"; C = 64 gives
    7.89 (inventory, derived), measured on Ember's layers; C = 1024 gives 8.92."""
    c, h = 64, 4
    standard = ember.summary(nn.Conv2d(c, c, 3, padding=1, bias=False), (1, c, h, h))
    separable = ember.summary(nn.Sequential(nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False),
                                            nn.Conv2d(c, c, 1, bias=False)), (1, c, h, h))
    assert round(standard.total_mult_adds / separable.total_mult_adds, 2) == 7.89
    assert round(9 * 1024 / (9 + 1024), 2) == 8.92


# ------------------------------------------------------------------------------------ H15
def _ramp(height, width):
    """A one-channel feature map ``f(y, x) = 10 y + x`` (float64): bilinear sampling of it is
    exact, so a RoI Align bin's value is ``f`` at the bin's centre."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    return ember.from_numpy((10 * y + x)[None, None])


def test_h15_roi_mapping_onto_the_feature_map():
    """003 L5123–5151 (RoI Pooling/Align): a 600x800 image with a 6x8 feature map (scale
    1/100); the box "left x=50, top y=150, width=250, height=350" maps to "left x=0.5, y=1.5,
    width=2.5, height=3.5" on the map. RoI Align (no rounding) at that scale samples exactly
    there: the centres of its 2x2 bins are x 0.5 + 2.5·(1/4, 3/4), y 1.5 + 3.5·(1/4, 3/4).
    The slide's reverse quiz: "left x=2, top y=1, width=5, height=3" on the map is the image
    box 200, 100, 500, 300 (the same RoI Align at scale 1 on the map's coordinates)."""
    from ember.vision.ops import roi_align
    features = _ramp(6, 8)
    image_box = ember.tensor([[0, 50, 150, 50 + 250, 150 + 350]], dtype=ember.float64)
    out = roi_align(features, image_box, (2, 2), spatial_scale=1 / 100, sampling_ratio=2)
    xs = 0.5 + 2.5 * np.array([0.25, 0.75])
    ys = 1.5 + 3.5 * np.array([0.25, 0.75])
    np.testing.assert_allclose(out.numpy()[0, 0], 10 * ys[:, None] + xs[None, :], rtol=0,
                               atol=1e-12)
    quiz = ember.tensor([[0, 200, 100, 200 + 500, 100 + 300]], dtype=ember.float64)
    on_map = ember.tensor([[0, 2, 1, 2 + 5, 1 + 3]], dtype=ember.float64)
    np.testing.assert_allclose(
        roi_align(features, quiz, (3, 5), spatial_scale=1 / 100, sampling_ratio=2).numpy(),
        roi_align(features, on_map, (3, 5), spatial_scale=1, sampling_ratio=2).numpy(),
        rtol=0, atol=1e-12)


def test_h15_roi_pool_splits_a_5x4_region_into_2x2_nearly_equal_bins():
    """003 L5163–5213: a 512x5x4 region pooled to 512x2x2, "divided into 2x2 regions of
    approximately the same size": RoI Pool's bins take rows [0, 3) and [2, 5) (height 5/2
    rounded outwards) and columns [0, 2) and [2, 4), and each keeps its maximum."""
    from ember.vision.ops import roi_pool
    features = _ramp(6, 8).repeat(1, 512, 1, 1)
    region = ember.tensor([[0, 0, 0, 3, 4]], dtype=ember.float64)   # x1 y1 x2 y2, ends included
    out = roi_pool(features, region, (2, 2)).numpy()
    assert out.shape == (1, 512, 2, 2)
    np.testing.assert_array_equal(out[0, 0], [[21, 23], [41, 43]])
    assert (out == out[:, :1]).all()


# ------------------------------------------------------------------------------------ H16
CIFAR_SCORES = np.array([            # 001 L200–209: class rows × (cat, car, frog) image columns
    [-3.45, -0.51, 3.42], [-8.87, 6.04, 4.64], [0.09, 5.31, 2.65], [2.9, -4.22, 5.1],
    [4.48, -4.19, 2.64], [8.02, 3.58, 5.55], [3.78, 4.49, -4.34], [1.06, -4.37, -1.5],
    [-0.36, -2.09, -4.79], [-0.72, -2.93, 6.14]], np.float32)
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                 "truck"]


def test_h16_cifar10_score_table_predictions_and_accuracy():
    """001 L200–209: the scores of a linear classifier for a cat, a car and a frog image. The
    argmax per column (derived) is dog, automobile, truck: only the car is right (1/3)."""
    scores = ember.tensor(CIFAR_SCORES.T)                               # (images, classes)
    predicted = [CIFAR_CLASSES[i] for i in scores.argmax(dim=1).tolist()]
    assert predicted == ["dog", "automobile", "truck"]
    truth = ember.tensor([CIFAR_CLASSES.index(c) for c in ("cat", "automobile", "frog")])
    assert accuracy(scores, truth) == pytest.approx(1 / 3)
    # the cross-entropy is largest for the frog, whose true class scores lowest
    losses = F.cross_entropy(scores, truth, reduction="none").tolist()
    assert losses.index(max(losses)) == 2 and losses.index(min(losses)) == 1


# ------------------------------------------------------------------------------------ H18
def test_h18_stacked_3x3_receptive_field_needs_100_layers_for_200():
    """003 L4033–4037: "N 个 3×3 卷积的感受野是 2n+1"; "如果能让感受野 ≥ 200 需要多少卷积?
    100": 99 layers see 199 pixels, 100 layers 201."""
    def field(n):
        model = nn.Sequential(*[nn.Conv2d(1, 1, 3, padding=1, bias=False) for _ in range(n)])
        return ember.summary(model, (1, 1, 4, 4), depth=1).rows[-1].receptive_field
    assert (field(99), field(100)) == (199, 201)


def test_h18_activation_memory_122mb_and_238gb():
    """003 L4040–4043: 200 channels of 3×3 convs on H = W = 400: "200 * 400 * 400 * 4 bytes =
    122MB" per layer (binary megabytes: 128,000,000 B = 122.07 MiB); "100 层, batchsize 20 =
    238GB" (238.4 GiB). The layer's output size comes from Ember's conv (checked at a small
    size: padding 1 keeps it), the bytes from a float32 tensor of that shape."""
    assert tuple(nn.Conv2d(2, 200, 3, padding=1)(ember.zeros(1, 2, 5, 5)).shape) == (1, 200, 5, 5)
    layer_bytes = ember.empty(200, 400, 400).nbytes            # not written: no page is touched
    assert layer_bytes == 200 * 400 * 400 * 4 == 128_000_000
    assert round(layer_bytes / 2 ** 20) == 122
    assert round(layer_bytes * 100 * 20 / 2 ** 30, 1) == 238.4


def test_h18_sliding_window_computes_each_pixel_n_times_n():
    """003 L4050–4060: classifying every N × N patch separately computes each (interior) pixel
    "N * N" times: unfold every patch, fold the copies back, count."""
    n = 5
    ones = ember.ones(1, 1, 12, 12)
    counts = F.fold(F.unfold(ones, n), (12, 12), n)[0, 0].numpy()
    assert counts[n - 1:-(n - 1), n - 1:-(n - 1)].min() == counts.max() == n * n


# ------------------------------------------------------------------------------------ H20
def test_h20_residual_branch_sees_a_100_percent_change():
    """002 L807–830 「残差网络为什么有用？」: to move the output from 1.1 to 1.2 at x = 1, a
    plain layer y = w x changes its output by 0.1 / 1.1 = 9%, a residual block y = x + w x
    changes its branch z = w x by 0.1 / 0.1 = 100%: the residual weights see the change."""
    def layer(w):
        lin = nn.Linear(1, 1, bias=False)
        with ember.no_grad():
            lin.weight.fill_(w)
        return lin
    x = ember.ones(1, 1)
    y1, y2 = layer(1.1)(x).item(), layer(1.2)(x).item()
    z1, z2 = layer(0.1)(x).item(), layer(0.2)(x).item()
    res1, res2 = (x + layer(0.1)(x)).item(), (x + layer(0.2)(x)).item()
    assert (y1, y2) == pytest.approx((1.1, 1.2)) and (res1, res2) == pytest.approx((1.1, 1.2))
    assert round(100 * (y2 - y1) / y1) == 9
    assert round(100 * (z2 - z1) / z1) == 100


# ------------------------------------------------------------------------------------ H21
def test_h21_output_index_is_a_nine_term_sum():
    """003 L1327–1333: a 5×6 input and a 3×3 filter: "Output[1,2] = I[1,2]*F[1,1] +
    I[1,3]*F[1,2] + … + I[3,4]*F[3,3]" (1-indexed correlation, no bias)."""
    rng = np.random.default_rng(21)
    image, kernel = rng.standard_normal((5, 6)), rng.standard_normal((3, 3))
    out = F.conv2d(ember.tensor(image[None, None]), ember.tensor(kernel[None, None]))[0, 0]
    assert tuple(out.shape) == (3, 4)
    one_indexed = sum(image[i - 1, j - 1 + 1] * kernel[i - 1, j - 1]        # I[i, j+1] F[i, j]
                      for i in range(1, 4) for j in range(1, 4))
    assert out[0, 1].item() == pytest.approx(one_indexed, rel=1e-12)


# ------------------------------------------------------------------------------------ H22
def test_h22_stride_demo_matrix_down_resolution():
    """000 L584–606: the 6×7 matrix, slid over at stride 1 and stride 2 (no filter given):
    with any 3×3 filter the output goes 4×5 → 2×3 ("Down Resolution"), and stride 2 keeps
    every other stride-1 output."""
    m = np.array([[1, 6, 9, 10, 2, 8, 5], [2, 5, 1, 8, 4, 2, 4], [3, 7, 4, 9, 10, 3, 7],
                  [9, 8, 3, 6, 7, 9, 3], [8, 0, 9, 4, 7, 2, 1], [9, 10, 12, 6, 9, 8, 0]],
                 np.float64)
    x = ember.tensor(m[None, None])
    w = ember.tensor(np.random.default_rng(22).standard_normal((1, 1, 3, 3)))
    one, two = F.conv2d(x, w)[0, 0].numpy(), F.conv2d(x, w, stride=2)[0, 0].numpy()
    assert one.shape == (4, 5) and two.shape == (2, 3)
    np.testing.assert_allclose(two, one[::2, ::2], rtol=1e-12)


def test_h22_image_patch_as_a_feature_vector():
    """000 L209–233: a 4×4 patch read row by row is a 16-dimensional feature vector."""
    patch = [[1, 1, 1, 1], [0, .5, 1, 0], [.5, 1, 0, 0], [1, 0, 0, 0]]
    vector = ember.flatten(ember.tensor(patch))
    assert vector.tolist() == [1, 1, 1, 1, 0, .5, 1, 0, .5, 1, 0, 0, 1, 0, 0, 0]


# ------------------------------------------------------------------------------------ H24
def test_h24_iphone_photo_values_not_pixels():
    """003 L3386–3391: "4032 x 3024 pixels, 3 colors, 36,578,304 pixels". ⚠ (inventory
    I13) 36,578,304 is the number of values; the pixel count is 12,192,768."""
    photo = ember.empty(3, 3024, 4032, dtype=ember.uint8)
    assert photo.numel() == 36_578_304
    assert photo[0].numel() == 12_192_768


def test_h24_video_sizes_per_minute_and_clip():
    """003 L7789–7828, 3 bytes per pixel at ~30 fps: "SD (640 x 480): ~1.5 GB per minute"
    (1.545 GiB), "HD (1920 x 1080): ~10 GB per minute" (10.43 GiB); a clip of "T = 16,
    H=W=112 (3.2 seconds at 5 fps, 588 KB)" (602,112 B = 588 KiB)."""
    def frame_bytes(h, w):
        return ember.zeros(3, h, w, dtype=ember.uint8).nbytes
    assert round(frame_bytes(480, 640) * 30 * 60 / 2 ** 30, 3) == 1.545
    assert round(frame_bytes(1080, 1920) * 30 * 60 / 2 ** 30, 2) == 10.43
    clip = ember.zeros(16, 3, 112, 112, dtype=ember.uint8)
    assert clip.nbytes == 602_112 and clip.nbytes / 2 ** 10 == 588
    assert clip.shape[0] / 5 == 3.2


# ------------------------------------------------------------------------------------ H25
@pytest.mark.parametrize("width,resolution,mult_adds,params", [
    (1.0, 224, 569, 3.3), (0.75, 224, 325, 1.9), (1.0, 192, 418, 3.3), (0.75, 192, 239, 1.9)])
def test_h25_mobilenet_stanford_dogs_table(width, resolution, mult_adds, params):
    """003 L3170–3176, Stanford Dogs (120 classes): "1.0 MobileNet-224 83.3%, 569, 3.3", ...
    (million mult-adds, million parameters); Ember's MobileNet v1 reproduces the cost columns
    (the 1000-class rows are in tests/vision/test_summary.py)."""
    model = M.mobilenet_v1(width_mult=width, resolution=resolution, num_classes=120)
    s = ember.summary(model, (1, 3, resolution, resolution), depth=0)
    assert round(s.total_params / 1e6, 1) == params
    assert abs(s.total_mult_adds / 1e6 - mult_adds) / mult_adds < 0.003


def test_h25_googlenet_row_is_the_original_network():
    """003 L3161: "GoogLeNet: 69.8%, 1550, 6.8". The slide's figures are the original
    GoogLeNet's; Ember builds torchvision's variant (batch norm, the "5×5" branch as 3×3),
    which has 6.62 M parameters and 1.50 G mult-adds at 224×224: within 4% of the slide."""
    s = ember.summary(M.googlenet(aux_logits=False), (1, 3, 224, 224), depth=0)
    assert s.total_params == 6_624_904
    assert round(s.total_mult_adds / 1e9, 2) == 1.50
    assert abs(s.total_params / 6.8e6 - 1) < 0.04 and abs(s.total_mult_adds / 1550e6 - 1) < 0.04


# ------------------------------------------------------------------------------------ H29
def test_h29_box_filter_is_the_neighbour_mean():
    """004 L199–201: the mean filter is the box kernel (1/9)·ones(3, 3): the same as a 3×3
    average pool at stride 1."""
    image = ember.randn(1, 1, 7, 8)
    box = ember.ones(1, 1, 3, 3) / 9
    np.testing.assert_allclose(F.conv2d(image, box).numpy(), F.avg_pool2d(image, 3, 1).numpy(),
                               rtol=1e-5, atol=1e-6)


def test_h29_separable_filter_costs_n2k_not_n2k2():
    """004 L215 and L292–304: the Gaussian ``n_σ[i, j] = (1/(2πσ²)) e^{−(i² + j²)/(2σ²)}`` is
    the outer product of two 1-D Gaussians, so a K×K pass (O(N²K²)) equals a K×1 pass then a
    1×K pass (O(N²K)); the multiply-adds come from ember.summary."""
    n, k, sigma = 16, 7, 1.5
    r = np.arange(k) - k // 2
    kernel = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma ** 2)) / (2 * np.pi *
                                                                                sigma ** 2)
    column = np.exp(-r ** 2 / (2 * sigma ** 2)) / np.sqrt(2 * np.pi * sigma ** 2)
    np.testing.assert_allclose(np.outer(column, column), kernel, rtol=1e-12)
    full = nn.Conv2d(1, 1, k, padding=k // 2, bias=False)
    separable = nn.Sequential(nn.Conv2d(1, 1, (k, 1), padding=(k // 2, 0), bias=False),
                              nn.Conv2d(1, 1, (1, k), padding=(0, k // 2), bias=False))
    with ember.no_grad():
        full.weight.copy_(ember.tensor(kernel[None, None], dtype=ember.float32))
        separable[0].weight.copy_(ember.tensor(column[None, None, :, None], dtype=ember.float32))
        separable[1].weight.copy_(ember.tensor(column[None, None, None, :], dtype=ember.float32))
    image = ember.randn(1, 1, n, n)
    np.testing.assert_allclose(separable(image).detach().numpy(), full(image).detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    assert ember.summary(full, (1, 1, n, n)).total_mult_adds == n * n * k * k
    assert ember.summary(separable, (1, 1, n, n)).total_mult_adds == 2 * n * n * k


# ------------------------------------------------------------------------------------ H30
def test_h30_polynomial_data_under_and_overfitting():
    """003 L427–470 (inventory A24, A25): data ``1.5x² + 2.3x + 2 + N(0, 0.5)`` (⚠ std or variance unstated: 0.5 is
    the std here) fitted with the design matrix ``[x^F … x² x 1]`` (``ember.vander``): degree
    1 underfits (training error well above the noise), degree 2 recovers the coefficients,
    degree 12 overfits (training error below the noise, test error above degree 2's)."""
    x_train, y_train = make_polynomial(30, seed=0)
    x_test, y_test = make_polynomial(200, seed=1)

    def fit(degree):
        design = ember.vander(ember.tensor(x_train[:, 0], dtype=ember.float64), degree + 1)
        w = np.linalg.lstsq(design.numpy(), y_train, rcond=None)[0]

        def mse(x, y):
            pred = ember.vander(ember.tensor(x[:, 0], dtype=ember.float64), degree + 1).numpy()
            return float(np.mean((pred @ w - y) ** 2))
        return w, mse(x_train, y_train), mse(x_test, y_test)
    w2, train2, test2 = fit(2)
    np.testing.assert_allclose(w2, [1.5, 2.3, 2.0], atol=0.35)
    _, train1, _ = fit(1)
    _, train12, test12 = fit(12)
    assert train1 > 4 * 0.5 ** 2
    assert train12 < train2 < 0.5 ** 2 * 1.5
    assert test12 > test2
    line = make_polynomial(6, coefficients=(2.0, -1.0), noise=0.0, x_range=(1.0, 3.0), seed=3,
                           as_dataset=True)
    x, y = line.tensors
    assert tuple(x.shape) == (6, 1) and x.dtype == y.dtype == ember.float32
    assert ((x >= 1) & (x <= 3)).all().item()
    np.testing.assert_allclose(y.numpy(), 2 * x[:, 0].numpy() - 1, rtol=1e-6)
    with pytest.raises(ValueError, match="x_range must be \\(low, high\\)"):
        make_polynomial(5, x_range=(1.0, 1.0))

