"""Adversarial examples (inventory G10): FGSM and L-inf PGD against Captum 0.9 on the same
float64 weights, L2 PGD against a direct torch transcription of Madry et al.'s step, the
random start, the robustness curve, and the batch transform of adversarial training."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import ember
import ember.interpret as interpret
from ember.nn import functional as F
from tests.interpret.models import lenet, tiny_resnet, twins

captum_robust = pytest.importorskip("captum.robust")
pytestmark = pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require")
# Captum leaves an input unmoved where |dL/dx| <= 1e-6; Ember moves it by sign(dL/dx). Scaling
# the loss by SCALE changes no sign (so not Ember's attack) and lifts every non-zero gradient
# of these models above Captum's threshold, which each test checks.
SCALE = 1e8


def ember_loss(scores, targets):
    return SCALE * F.cross_entropy(scores, targets, reduction="sum")


def torch_loss(scores, targets):
    return SCALE * TF.cross_entropy(scores, targets, reduction="none")


@pytest.fixture(scope="module")
def lenets():
    return twins(lenet)


@pytest.fixture(scope="module")
def resnets():
    return twins(tiny_resnet, seed=2)


def pixels(shape, seed=0):
    return np.random.default_rng(seed).uniform(size=shape)


def smallest_gradient(tm, x, target):
    t = torch.from_numpy(x.copy()).requires_grad_()
    torch_loss(tm(t), torch.tensor(target)).sum().backward()
    g = np.abs(t.grad.numpy())
    return g[g > 0].min()


@pytest.mark.parametrize("which,shape,target", [("lenets", (3, 1, 28, 28), [1, 4, 7]),
                                                ("resnets", (2, 3, 12, 12), [0, 3])])
@pytest.mark.parametrize("targeted", [False, True])
def test_fgsm_equals_captum(request, which, shape, target, targeted):
    em, tm = request.getfixturevalue(which)
    x = pixels(shape)
    assert smallest_gradient(tm, x, target) > 1e-6
    theirs = captum_robust.FGSM(tm, torch_loss, 0.0, 1.0).perturb(
        torch.from_numpy(x), 0.1, torch.tensor(target), targeted=targeted).numpy()
    ours = interpret.fgsm(em, x, target, 0.1, targeted=targeted, bounds=(0, 1),
                          loss_fn=ember_loss).numpy()
    np.testing.assert_array_equal(ours, theirs)
    # the default loss (summed cross-entropy) has the same signs
    np.testing.assert_array_equal(
        interpret.fgsm(em, x, target, 0.1, targeted=targeted, bounds=(0, 1)).numpy(), ours)


@pytest.mark.parametrize("which,shape,target", [("lenets", (2, 1, 28, 28), [2, 9]),
                                                ("resnets", (2, 3, 12, 12), [1, 4])])
@pytest.mark.parametrize("targeted", [False, True])
def test_linf_pgd_equals_captum(request, which, shape, target, targeted):
    em, tm = request.getfixturevalue(which)
    x = pixels(shape, seed=1)
    epsilon, alpha, steps = 0.1, 0.03, 5
    theirs = captum_robust.PGD(tm, torch_loss, 0.0, 1.0).perturb(
        torch.from_numpy(x), epsilon, alpha, steps, torch.tensor(target),
        targeted=targeted).numpy()
    ours = interpret.pgd(em, x, target, epsilon, steps=steps, step_size=alpha,
                         targeted=targeted, bounds=(0, 1), loss_fn=ember_loss).numpy()
    # every step's gradient is above Captum's threshold: check it along Captum's path
    current = torch.from_numpy(x)
    for _ in range(steps):
        assert smallest_gradient(tm, current.numpy(), target) > 1e-6
        current = captum_robust.PGD(tm, torch_loss, 0.0, 1.0).perturb(
            current, epsilon, alpha, 1, torch.tensor(target), targeted=targeted)
    # float64 rounding of x + alpha sign(g) then clipping at x +- eps: a few ulps
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-15)
    assert np.abs(ours - x).max() <= epsilon + 1e-15 and ours.min() >= 0 and ours.max() <= 1


def madry_l2_pgd(tm, x, target, epsilon, alpha, steps):
    """Madry et al.'s L2 step x + alpha g / |g|, projection onto the ball, clamp to [0, 1]."""
    original = torch.from_numpy(x)
    current = original.clone()
    for _ in range(steps):
        current.requires_grad_()
        loss = TF.cross_entropy(tm(current), torch.tensor(target), reduction="sum")
        (g,) = torch.autograd.grad(loss, current)
        norm = g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
        current = current.detach() + alpha * g / norm
        delta = torch.renorm(current - original, 2, 0, epsilon)
        current = (original + delta).clamp(0, 1)
    return current.numpy()


def test_l2_pgd_equals_madry_step(resnets):
    em, tm = resnets
    x = pixels((2, 3, 12, 12), seed=3)
    ours = interpret.pgd(em, x, [0, 2], 0.5, steps=6, step_size=0.2, norm="l2",
                         bounds=(0, 1)).numpy()
    # torch.renorm scales by epsilon / (norm + 1e-7): a relative 1e-7 where it projects
    np.testing.assert_allclose(ours, madry_l2_pgd(tm, x, [0, 2], 0.5, 0.2, 6), rtol=0,
                               atol=1e-6)
    norms = np.sqrt(((ours - x) ** 2).reshape(2, -1).sum(axis=1))
    assert norms.max() <= 0.5 + 1e-12


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_random_start_is_seeded_and_inside_the_ball(lenets, norm):
    em, _ = lenets
    x = pixels((2, 1, 28, 28), seed=4)

    def attack(seed):
        return interpret.pgd(em, x, [3, 5], 0.2, steps=1, step_size=0.0, norm=norm,
                             random_start=True, generator=ember.Generator().manual_seed(seed)
                             ).numpy()
    first, again, other = attack(0), attack(0), attack(1)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    delta = (first - x).reshape(2, -1)
    size = np.abs(delta).max(axis=1) if norm == "linf" else np.sqrt((delta ** 2).sum(axis=1))
    assert size.max() <= 0.2 + 1e-12 and size.min() > 0.02
    if norm == "linf":       # uniform on [-eps, eps] per pixel: the mean |delta| is eps / 2
        assert abs(np.abs(delta).mean() - 0.1) < 0.01


def test_an_attack_lowers_a_trained_networks_accuracy(trained_digits_net, digits):
    x, y = digits["test"]
    pre = digits["preprocessing"]
    seen = interpret.Normalized(trained_digits_net, pre["mean"], pre["std"])
    pix = (x * np.array(pre["std"]).reshape(1, -1, 1, 1)
           + np.array(pre["mean"]).reshape(1, -1, 1, 1)).astype(np.float32)
    fgsm = interpret.robustness_curve(seen, pix, y, [0.0, 0.05, 0.1], bounds=(0, 1))
    with ember.no_grad():
        clean = (trained_digits_net(ember.from_numpy(x)).numpy().argmax(1) == y).mean()
    assert fgsm[0] == pytest.approx(clean) and clean > 0.75
    assert fgsm[0] > fgsm[1] > fgsm[2] and fgsm[2] < 0.5 * clean
    pgd = interpret.robustness_curve(seen, pix, y, [0.05], attack="pgd", steps=5,
                                     bounds=(0, 1))
    assert pgd[0] <= fgsm[1]


def test_normalized_model_sees_pixels(lenets):
    em, _ = lenets
    mean, std = [0.1307], [0.3081]
    x = pixels((2, 1, 28, 28))
    with ember.no_grad():
        direct = em(ember.from_numpy((x - 0.1307) / 0.3081)).numpy()
        wrapped = interpret.Normalized(em, mean, std)(ember.from_numpy(x)).numpy()
    np.testing.assert_allclose(wrapped, direct, rtol=0, atol=1e-12)


def test_adversarial_training_transform(trained_digits_net, digits):
    pre = digits["preprocessing"]
    x, y = (ember.from_numpy(a[:32]) for a in digits["train"])
    model = trained_digits_net
    model.zero_grad()
    model.train()
    model.relu1.training = False                      # a mixed state, restored as it was
    for attack in ("fgsm", "pgd"):
        transform = interpret.AdversarialTraining(attack, 0.1, steps=3, mean=pre["mean"],
                                                  std=pre["std"])
        adversarial = transform(model, x, y).numpy()
        change = np.abs(adversarial - x.numpy()) * pre["std"][0]   # in pixel values
        assert change.max() <= 0.1 + 1e-5 and change.max() > 0.09
        black, white = (0 - pre["mean"][0]) / pre["std"][0], (1 - pre["mean"][0]) / pre["std"][0]
        assert adversarial.min() >= black - 1e-5 and adversarial.max() <= white + 1e-5
        assert model.training and not model.relu1.training
        assert all(p.grad is None for p in model.parameters())
    assert "PGD (L-inf, epsilon 0.1, 3 steps" in transform.describe()
    # a fraction of the batch: the first 8 of 32 inputs attacked, the rest as they were
    half = interpret.AdversarialTraining("fgsm", 0.1, fraction=0.25, mean=pre["mean"],
                                         std=pre["std"])(model, x, y).numpy()
    assert not np.allclose(half[:8], x.numpy()[:8])
    np.testing.assert_array_equal(half[8:], x.numpy()[8:])
    model.eval()


def test_errors(lenets):
    em, _ = lenets
    x = pixels((1, 1, 28, 28))
    with pytest.raises(ValueError, match="fgsm: epsilon must be a finite number >= 0"):
        interpret.fgsm(em, x, 1, -0.1)
    with pytest.raises(ValueError, match="pgd: norm must be 'linf' or 'l2'"):
        interpret.pgd(em, x, 1, 0.1, norm="l1")
    with pytest.raises(ValueError, match="pgd: steps must be a positive integer"):
        interpret.pgd(em, x, 1, 0.1, steps=0)
    with pytest.raises(ValueError, match=r"fgsm: bounds must be \(low, high\)"):
        interpret.fgsm(em, x, 1, 0.1, bounds=(1, 0))
    with pytest.raises(ValueError, match="fgsm: target 12 is out of range"):
        interpret.fgsm(em, x, 12, 0.1)
    with pytest.raises(ValueError, match="robustness_curve: attack must be one of"):
        interpret.robustness_curve(em, x, [1], [0.1], attack="cw")
    with pytest.raises(ValueError, match="robustness_curve: labels must be 1 class indices"):
        interpret.robustness_curve(em, x, [1, 2], [0.1])
    with pytest.raises(ValueError, match="AdversarialTraining: attack must be one of"):
        interpret.AdversarialTraining("deepfool", 0.1)
    with pytest.raises(ValueError, match=r"AdversarialTraining: fraction must lie in \(0, 1\]"):
        interpret.AdversarialTraining("fgsm", 0.1, fraction=0)
