"""Statements the lectures make about networks and training, checked on Ember's own layers,
autograd and optimizers (one small test per inventory item; the worked numbers of section H
are in test_worked_numbers.py)."""
import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F
import ember.vision.models as M
from ember.train.metrics import accuracy, precision_recall_f1

R = np.random.default_rng(11)


def t64(*shape, requires_grad=False):
    return ember.tensor(R.standard_normal(shape), requires_grad=requires_grad)


def test_a4_stacked_linear_layers_are_one_linear_map():
    """000 L270–291: ``W3(W2(W1 X)) = (W3 W2 W1) X``: without a non-linearity depth adds
    nothing; with a ReLU between them the map is no longer linear."""
    layers = [nn.Linear(5, 4, bias=False), nn.Linear(4, 3, bias=False),
              nn.Linear(3, 2, bias=False)]
    net = nn.Sequential(*layers).double()
    x = t64(7, 5)
    product = layers[2].weight @ layers[1].weight @ layers[0].weight
    np.testing.assert_allclose(net(x).detach().numpy(), (x @ product.T).detach().numpy(),
                               rtol=1e-12)
    relu_net = nn.Sequential(layers[0], nn.ReLU(), layers[1], nn.ReLU(), layers[2])
    y1, y2 = relu_net(x), relu_net(-x)
    assert not np.allclose(y2.detach().numpy(), -y1.detach().numpy())   # not odd: not linear


def test_a5_two_and_three_layer_networks_are_the_slide_formulas():
    """001 L377–393: ``f = W2 max(0, W1 x)`` and ``f = W3 max(0, W2 max(0, W1 x))``."""
    w1, w2, w3 = R.standard_normal((6, 4)), R.standard_normal((5, 6)), R.standard_normal((3, 5))
    x = R.standard_normal(4)

    def linear(w):
        layer = nn.Linear(w.shape[1], w.shape[0], bias=False).double()
        with ember.no_grad():
            layer.weight.copy_(ember.tensor(w))
        return layer
    two = nn.Sequential(linear(w1), nn.ReLU(), linear(w2))
    three = nn.Sequential(linear(w1), nn.ReLU(), linear(w2), nn.ReLU(), linear(w3))
    relu = lambda v: np.maximum(0, v)  # noqa: E731
    np.testing.assert_allclose(two(ember.tensor(x)).detach().numpy(), w2 @ relu(w1 @ x),
                               rtol=1e-12)
    np.testing.assert_allclose(three(ember.tensor(x)).detach().numpy(),
                               w3 @ relu(w2 @ relu(w1 @ x)), rtol=1e-12)


def test_a6_the_mean_loss_is_the_empirical_risk():
    """000 L397–403, 001 L260: ``L = (1/N) Σ_i L_i(f(x_i, W), y_i)``: the default 'mean'
    reduction of a loss is the average of the per-sample losses."""
    scores, labels = t64(8, 5), ember.tensor(R.integers(0, 5, 8))
    per_sample = F.cross_entropy(scores, labels, reduction="none")
    assert F.cross_entropy(scores, labels).item() == pytest.approx(per_sample.mean().item(),
                                                                   rel=1e-12)


def test_a7_a15_one_sgd_step_is_w_minus_lr_times_gradient():
    """000 L417: ``w ← w − η ∂L/∂w``; 001 L855–862, the SGD loop: sample a batch, forward to
    the loss, backpropagate, update."""
    model = nn.Linear(3, 2).double()
    before = [p.detach().numpy().copy() for p in model.parameters()]
    opt = ember.optim.SGD(model.parameters(), lr=0.05)
    x, y = t64(4, 3), ember.tensor(R.integers(0, 2, 4))
    opt.zero_grad()
    F.cross_entropy(model(x), y).backward()
    grads = [p.grad.numpy().copy() for p in model.parameters()]
    opt.step()
    for p, w, g in zip(model.parameters(), before, grads):
        np.testing.assert_allclose(p.detach().numpy(), w - 0.05 * g, rtol=1e-12)


def test_a8_a9_backward_multiplies_the_upstream_gradient_by_the_local_one():
    """000 L430–432 and 001 L845–853: the chain rule, applied recursively: each node receives
    the upstream gradient and multiplies it by its local derivative (seen with hooks)."""
    x = ember.tensor([0.3, -1.2, 2.0], dtype=ember.float64, requires_grad=True)
    z = x * 3.0
    y = ember.sigmoid(z)
    seen = {}

    def record(grad):
        seen["dz"] = grad.numpy().copy()
    z.register_hook(record)
    (y * y).sum().backward()
    s = 1 / (1 + np.exp(-3 * x.detach().numpy()))
    upstream_y = 2 * s                                   # d(y²)/dy
    np.testing.assert_allclose(seen["dz"], upstream_y * s * (1 - s), rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), seen["dz"] * 3.0, rtol=1e-12)


def test_a11_delta_rule_of_sigmoid_units_with_squared_error():
    """002 L504–518: for ``y = σ(W₂ σ(W₁ x))`` and ``L = ½ Σ (y − d)²``:
    ``δ_i = y_i(1 − y_i)(y_i − d_i)``, ``Δω_ji = −η x_j δ_i``; the hidden layer's
    ``δ_j = y_j(1 − y_j) Σ_i ω_ji δ_i``. Autograd's gradients are these deltas times inputs."""
    x, d = R.standard_normal(4), R.uniform(0, 1, 2)
    w1, w2 = R.standard_normal((3, 4)), R.standard_normal((2, 3))
    W1, W2 = ember.tensor(w1, requires_grad=True), ember.tensor(w2, requires_grad=True)
    hidden = ember.sigmoid(ember.mv(W1, ember.tensor(x)))
    out = ember.sigmoid(ember.mv(W2, hidden))
    (0.5 * ((out - ember.tensor(d)) ** 2).sum()).backward()
    h, y = hidden.detach().numpy(), out.detach().numpy()
    delta_out = y * (1 - y) * (y - d)
    delta_hidden = h * (1 - h) * (w2.T @ delta_out)
    np.testing.assert_allclose(W2.grad.numpy(), np.outer(delta_out, h), rtol=1e-12)
    np.testing.assert_allclose(W1.grad.numpy(), np.outer(delta_hidden, x), rtol=1e-12)


def test_a13_a_small_step_along_the_gradient_raises_the_loss():
    """003 L274–281 (⚠ the slide's components should be ∂L/∂w_i): for small α,
    ``L(w + α∇L(w)) > L(w)``, so descent goes the other way."""
    w = t64(5, requires_grad=True)
    loss = lambda v: ((v - 1.0) ** 2).sum() + (v ** 4).sum()  # noqa: E731
    loss(w).backward()
    with ember.no_grad():
        up, down = loss(w + 1e-3 * w.grad).item(), loss(w - 1e-3 * w.grad).item()
        here = loss(w).item()
    assert down < here < up


@pytest.mark.parametrize("d,vanishes", [(0.5, True), (1.5, False)])
def test_a14_a_product_of_n_factors_has_gradient_d_to_the_n_minus_1(d, vanishes):
    """003 L2547–2571: "1*d*d*d…*d = d^{n−1}": the gradient through n layers that each
    multiply by d vanishes for d < 1 and explodes for d > 1."""
    x = ember.tensor(1.0, dtype=ember.float64, requires_grad=True)
    y, n = x, 40
    for _ in range(n - 1):
        y = y * d
    y.backward()
    assert x.grad.item() == pytest.approx(d ** (n - 1), rel=1e-12)
    assert (x.grad.item() < 1e-6) if vanishes else (x.grad.item() > 1e6)


def test_a21_the_start_point_decides_which_local_minimum():
    """003 L382–409: with several minima gradient descent finds a local one, chosen by the
    start: ``f(w) = (w² − 1)² + 0.3 w`` has minima near −1 (global) and +1 (local)."""
    def descend(start):
        w = ember.tensor([start], dtype=ember.float64, requires_grad=True)
        opt = ember.optim.SGD([w], lr=0.02)
        for _ in range(500):
            opt.zero_grad()
            ((w ** 2 - 1) ** 2 + 0.3 * w).sum().backward()
            opt.step()
        return w.item()
    left, right = descend(-0.5), descend(0.5)
    assert left == pytest.approx(-1.04, abs=0.01) and right == pytest.approx(0.96, abs=0.01)


def test_a23_weight_decay_is_the_gradient_of_the_l2_penalty():
    """003 L193–243: the regularized objective ``λ‖W‖² + Σ L_i``: SGD's ``weight_decay = 2λ``
    takes the same step as differentiating the penalty."""
    lam, lr = 0.05, 0.1
    a, b = nn.Linear(3, 2).double(), nn.Linear(3, 2).double()
    b.load_state_dict(a.state_dict())
    x, y = t64(4, 3), ember.tensor(R.integers(0, 2, 4))
    opt_a = ember.optim.SGD([a.weight], lr=lr, weight_decay=2 * lam)
    opt_b = ember.optim.SGD([b.weight], lr=lr)
    F.cross_entropy(a(x), y, reduction="sum").backward()
    (F.cross_entropy(b(x), y, reduction="sum") + lam * (b.weight ** 2).sum()).backward()
    opt_a.step()
    opt_b.step()
    np.testing.assert_allclose(a.weight.detach().numpy(), b.weight.detach().numpy(), rtol=1e-12)


def test_b3_e4_independent_sigmoids_for_multi_label_tags():
    """003 L6179–6199: one sigmoid per class ("77% dog, 71% hat, 13% cat?"): the
    probabilities need not sum to 1, and each is trained as its own yes/no question."""
    logits = ember.tensor([[np.log(0.77 / 0.23), np.log(0.71 / 0.29), np.log(0.13 / 0.87)]])
    probs = ember.sigmoid(logits)
    np.testing.assert_allclose(probs.numpy(), [[0.77, 0.71, 0.13]], rtol=1e-6)
    assert probs.sum().item() > 1
    tags = ember.tensor([[1.0, 1.0, 0.0]])
    joint = F.binary_cross_entropy_with_logits(logits, tags, reduction="sum").item()
    assert joint == pytest.approx(-np.log(0.77) - np.log(0.71) - np.log(0.87), rel=1e-5)


def test_b4_a_fully_connected_layer_is_a_1x1_convolution():
    """003 L1973–1991 ("Everything's a Convolution"): a Linear layer on each pixel's channel
    vector is a 1×1 convolution with the same weights; 002 L985–1001: the last FC layers of a
    sliding-window detector become convolutions, so a larger image gives a map of outputs."""
    fc = nn.Linear(6, 4).double()
    conv = nn.Conv2d(6, 4, 1).double()
    with ember.no_grad():
        conv.weight.copy_(fc.weight.reshape(4, 6, 1, 1))
        conv.bias.copy_(fc.bias)
    x = t64(2, 6, 3, 5)
    per_pixel = fc(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    np.testing.assert_allclose(conv(x).detach().numpy(), per_pixel.detach().numpy(), rtol=1e-12)
    window_fc = nn.Linear(6 * 3 * 3, 4).double()               # an FC head for 3×3 windows
    as_conv = nn.Conv2d(6, 4, 3).double()
    with ember.no_grad():
        as_conv.weight.copy_(window_fc.weight.reshape(4, 6, 3, 3))
        as_conv.bias.copy_(window_fc.bias)
    image = t64(1, 6, 5, 7)
    dense = as_conv(image)
    assert tuple(dense.shape) == (1, 4, 3, 5)
    window = image[:, :, 1:4, 2:5].reshape(1, -1)
    np.testing.assert_allclose(dense[:, :, 1, 2].detach().numpy(),
                               window_fc(window).detach().numpy(), rtol=1e-12)


def test_c17_accuracy_hides_a_rare_class():
    """003 L4898–4904 ("行人检测99%正确 … 大街上没有多少人!"): always answering "no pedestrian"
    on 1% positives is 99% accurate and finds none of them; recall shows it."""
    target = ember.tensor([1] * 10 + [0] * 990)
    always_no = ember.zeros(1000, dtype=ember.int64)
    assert accuracy(always_no, target) == pytest.approx(0.99)
    _, recall, _, support = precision_recall_f1(always_no, target, num_classes=2)
    assert list(recall) == [1.0, 0.0] and list(support) == [990, 10]


@pytest.mark.parametrize("h,w,by,bx", [(20, 30, 5, 8), (7, 7, 3, 3)])
def test_f8_sliding_windows_number_h_minus_by_plus_1_times_w_minus_bx_plus_1(h, w, by, bx):
    """003 L4780–4821: the slide counts (H − by)(W − bx) windows; ⚠ (inventory F8, I12) the
    count is (H − by + 1)(W − bx + 1), the number of blocks ``unfold`` extracts."""
    blocks = F.unfold(ember.zeros(1, 1, h, w), (by, bx)).shape[-1]
    assert blocks == (h - by + 1) * (w - bx + 1) != (h - by) * (w - bx)


def test_f14_the_image_gradient_is_a_two_filter_conv_layer():
    """003 L1373–1386: a 400×600×1 image to its 400×600×2 gradient (dx, dy) is one conv layer
    with two filters; with 3×3 central differences it has 2 × 9 weights."""
    layer = nn.Conv2d(1, 2, 3, padding=1, bias=False)
    with ember.no_grad():
        dx = [[0, 0, 0], [-0.5, 0, 0.5], [0, 0, 0]]
        layer.weight.copy_(ember.tensor([[dx], [np.transpose(dx).tolist()]]))
    assert layer.weight.numel() == 18
    ramp = ember.tensor(np.add.outer(2.0 * np.arange(400), 3.0 * np.arange(600))[None, None],
                        dtype=ember.float32)
    grad = layer(ramp)[0].detach().numpy()
    assert grad.shape == (2, 400, 600)
    np.testing.assert_allclose(grad[0, 1:-1, 1:-1], 3.0, rtol=1e-6)      # d/dx (columns)
    np.testing.assert_allclose(grad[1, 1:-1, 1:-1], 2.0, rtol=1e-6)      # d/dy (rows)


def test_f16_an_image_is_a_high_dimensional_vector():
    """003 L585–599: a 100×100 grey image is a point of a 10,000-dimensional space."""
    assert tuple(ember.flatten(ember.zeros(1, 1, 100, 100), 1).shape) == (1, 10_000)


def test_g1_first_layer_filter_shapes():
    """003 L8506–8546: first-layer filters "ResNet-18: 64 x 3 x 7 x 7", "DenseNet-121: 64 x 3
    x 7 x 7" (the AlexNet and VGG ones are in tests/vision)."""
    assert tuple(M.resnet18().conv1.weight.shape) == (64, 3, 7, 7)
    assert tuple(M.densenet121().features.conv0.weight.shape) == (64, 3, 7, 7)
