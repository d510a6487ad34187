"""Adversarial examples: small perturbations that make a network misclassify (lecture 003
「对抗样本」: "对图像施加小的扰动来让CNN分类错误", inventory G10; the lecture names no method,
the two here are the standard ones).

- :func:`fgsm` (Goodfellow et al. 2015): one step ``x' = x + eps sign(dL/dx)``.
- :func:`pgd` (Madry et al. 2018): ``steps`` steps of size ``alpha`` projected back onto the
  ball ``|x' - x| <= eps`` after each, in the L-inf norm (sign steps) or the L2 norm (steps
  along the normalised gradient), from ``x`` or a random point of the ball.
- :func:`robustness_curve`: accuracy under attack against ``eps``.
- :class:`Normalized`: a model trained on normalised inputs, seen from pixel space, so that
  ``eps`` is measured in pixel values (``eps = 0.1`` on MNIST: a tenth of the black-to-white
  range) and ``bounds=(0, 1)`` keeps the attacked images real images.
- :class:`AdversarialTraining`: the batch transform ``ember.train.Trainer`` applies to every
  training batch for ``ember train --adversarial fgsm|pgd --epsilon E``.

``L`` is ``loss_fn(scores, targets)`` (default: cross-entropy summed over the batch, so each
input's step is its own). Untargeted attacks climb the loss of the true class ``target``
(``None``: the class the model predicts); ``targeted=True`` descends the loss of the wanted
class ``target``. ``bounds=(lo, hi)`` clamps every attacked input (default: no clamping).
FGSM and L-inf PGD equal Captum 0.9's ``FGSM`` / ``PGD``, except where ``|dL/dx| <= 1e-6``:
Captum leaves those inputs unmoved, here they move by ``sign``, which is 0 only for a zero
gradient. For L2, Captum takes sign steps and then projects; here the steps follow the
gradient (Madry et al.), ``x + alpha g / |g|_2``.
"""
import numpy as np

import ember
from ember import nn
from ember.interpret.gradients import predicted_classes, target_gradient
from ember.interpret.hooks import as_batch, run_model
from ember.nn import functional as F

__all__ = ["fgsm", "pgd", "robustness_curve", "Normalized", "AdversarialTraining", "ATTACKS",
           "NORMS"]

ATTACKS = ("fgsm", "pgd")
NORMS = ("linf", "l2")


def _summed_cross_entropy(scores, targets):
    return F.cross_entropy(scores, targets, reduction="sum")


def _check_bounds(bounds, caller):
    if bounds is None:
        return None
    lo, hi = (float(b) for b in bounds)
    if not lo < hi:
        raise ValueError(f"{caller}: bounds must be (low, high) with low < high, got {bounds!r}")
    return lo, hi


def _check_epsilon(epsilon, caller, name="epsilon"):
    if not isinstance(epsilon, (int, float, np.floating, np.integer)) or not epsilon >= 0 \
            or not np.isfinite(epsilon):
        raise ValueError(f"{caller}: {name} must be a finite number >= 0, got {epsilon!r}")
    return float(epsilon)


def _clamp(x, bounds):
    return x if bounds is None else np.clip(x, bounds[0], bounds[1])


def _loss_gradient(model, x, target, loss_fn, caller):
    grad, _, targets = target_gradient(model, x, target, caller,
                                       loss_fn=loss_fn or _summed_cross_entropy)
    return grad, targets


def fgsm(model, inputs, target=None, epsilon=0.1, *, targeted=False, bounds=None,
         loss_fn=None):
    """The fast gradient sign method: ``x + eps sign(dL/dx)`` (``x - eps sign(dL/dx)``
    targeted), clamped to ``bounds``. Returns the adversarial inputs as a Tensor of the
    inputs' shape and dtype. See the module docstring for ``target`` and ``loss_fn``."""
    caller = "fgsm"
    x = as_batch(inputs, caller)
    epsilon = _check_epsilon(epsilon, caller)
    bounds = _check_bounds(bounds, caller)
    grad, _ = _loss_gradient(model, x, target, loss_fn, caller)
    direction = -1.0 if targeted else 1.0
    adversarial = _clamp(x + direction * epsilon * np.sign(grad), bounds)
    return ember.from_numpy(adversarial.astype(x.dtype))


def _per_input_norm(a):
    return np.sqrt((a.reshape(len(a), -1).astype(np.float64) ** 2).sum(axis=1)).reshape(
        (-1,) + (1,) * (a.ndim - 1))


def _random_start(x, epsilon, norm, generator):
    """A uniform point of the ball of radius ``epsilon`` around each input: uniform per
    pixel in ``[-eps, eps]`` (L-inf); a Gaussian direction scaled to radius ``eps U^(1/d)``
    (L2, uniform in the ``d``-dimensional ball)."""
    if norm == "linf":
        u = ember.rand(*x.shape, generator=generator, dtype=ember.float64).numpy()
        return x + (2.0 * u - 1.0) * epsilon
    direction = ember.randn(*x.shape, generator=generator, dtype=ember.float64).numpy()
    direction /= np.maximum(_per_input_norm(direction), 1e-12)
    d = x[0].size
    radius = ember.rand(len(x), generator=generator, dtype=ember.float64).numpy() ** (1.0 / d)
    return x + direction * (epsilon * radius).reshape((-1,) + (1,) * (x.ndim - 1))


def pgd(model, inputs, target=None, epsilon=0.1, *, steps=10, step_size=None, norm="linf",
        targeted=False, random_start=False, bounds=None, loss_fn=None, generator=None):
    """Projected gradient descent on the loss (ascent for untargeted attacks).

    Args:
        epsilon: the radius of the ball around each input, in ``norm``.
        steps: gradient steps; ``step_size``: their length ``alpha`` (default ``2.5 eps /
            steps``, so that a walk can cross the ball and back, as Madry et al.).
        norm: ``"linf"`` (``x + alpha sign(g)``, then clip to ``[x - eps, x + eps]``) or
            ``"l2"`` (``x + alpha g / |g|_2``, then scale ``x' - x`` down to length ``eps``).
        random_start: begin at a uniform random point of the ball (``generator``: an
            ``ember.Generator``, default ember's default one) instead of at ``x``.
        bounds, targeted, loss_fn, target: as in :func:`fgsm`.

    Returns the adversarial inputs (a Tensor of the inputs' shape and dtype).
    """
    caller = "pgd"
    x = as_batch(inputs, caller)
    epsilon = _check_epsilon(epsilon, caller)
    bounds = _check_bounds(bounds, caller)
    if norm not in NORMS:
        raise ValueError(f"{caller}: norm must be 'linf' or 'l2', got {norm!r}")
    if not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"{caller}: steps must be a positive integer, got {steps!r}")
    alpha = 2.5 * epsilon / steps if step_size is None else _check_epsilon(step_size, caller,
                                                                           "step_size")
    if target is None:                  # attack the clean prediction at every step
        target = predicted_classes(model, x, caller)
    direction = -1.0 if targeted else 1.0
    original = x.astype(np.float64)
    current = original.copy()
    if random_start:
        current = _clamp(_random_start(original, epsilon, norm, generator), bounds)
    for _ in range(steps):
        grad, _ = _loss_gradient(model, current.astype(x.dtype), target, loss_fn, caller)
        if norm == "linf":
            current = current + direction * alpha * np.sign(grad)
            current = original + np.clip(current - original, -epsilon, epsilon)
        else:
            current = current + direction * alpha * grad / np.maximum(_per_input_norm(grad),
                                                                       1e-12)
            delta = current - original
            current = original + delta * np.minimum(
                1.0, epsilon / np.maximum(_per_input_norm(delta), 1e-12))
        current = _clamp(current, bounds)
    return ember.from_numpy(current.astype(x.dtype))


def robustness_curve(model, inputs, labels, epsilons, attack="fgsm", batch_size=256,
                     **attack_kwargs):
    """Accuracy of ``model`` on ``inputs`` ``(N, ...)`` with ``labels`` ``(N,)`` under
    ``attack`` (``"fgsm"`` or ``"pgd"``, with ``attack_kwargs``) at each of ``epsilons``:
    an array of ``len(epsilons)`` accuracies in [0, 1] (``eps = 0`` is the clean accuracy).
    Each input is attacked with its true label, in batches of ``batch_size``."""
    caller = "robustness_curve"
    if attack not in ATTACKS:
        raise ValueError(f"{caller}: attack must be one of {ATTACKS}, got {attack!r}")
    x = as_batch(inputs, caller)
    y = labels.numpy() if isinstance(labels, ember.Tensor) else np.asarray(labels)
    if y.shape != (len(x),) or y.dtype.kind not in "iu":
        raise ValueError(f"{caller}: labels must be {len(x)} class indices, got shape "
                         f"{y.shape} and dtype {y.dtype}")
    function = fgsm if attack == "fgsm" else pgd
    accuracies = []
    for epsilon in epsilons:
        correct = 0
        for start in range(0, len(x), batch_size):
            batch, truth = x[start:start + batch_size], y[start:start + batch_size]
            if epsilon > 0:
                batch = function(model, batch, truth, epsilon, **attack_kwargs).numpy()
            with ember.no_grad():
                scores = run_model(model, ember.from_numpy(batch), caller).numpy()
            correct += int((scores.argmax(axis=1) == truth).sum())
        accuracies.append(correct / len(x))
    return np.array(accuracies)


class Normalized(nn.Module):
    """``model((x - mean) / std)`` per channel: a model trained on normalised inputs (as
    ``ember train`` normalises them), taking pixel values in [0, 1]. ``(N, C, H, W) ->`` the
    model's output."""

    def __init__(self, model, mean, std):
        super().__init__()
        self.model = model
        shape = (1, -1, 1, 1)
        self.register_buffer("mean", ember.tensor(np.asarray(mean, np.float64).reshape(shape)))
        self.register_buffer("std", ember.tensor(np.asarray(std, np.float64).reshape(shape)))

    def forward(self, x):
        return self.model((x - self.mean.to(x.dtype)) / self.std.to(x.dtype))


class AdversarialTraining:
    """Replace each training batch, or its first ``fraction`` of inputs (the batches are
    shuffled), by adversarial examples of the current model: the batch transform of
    ``ember.train.Trainer``. Goodfellow et al. 2015 train on FGSM examples, Madry et al. 2018
    on PGD examples only (``fraction=1``); Kurakin et al. 2017 replace half of each batch,
    which keeps the clean images in every step and lets training start even at a large
    ``epsilon``.

    ``transform(model, x, y) -> x_adv``: ``x`` is a batch normalised with ``mean`` / ``std``
    per channel; the attack works on its pixel values (``x * std + mean``, kept in
    ``bounds``, default [0, 1]) with radius ``epsilon`` in the L-inf norm, and the result is
    normalised back. ``attack="pgd"`` takes ``steps`` steps of ``2.5 epsilon / steps`` from
    a random start (drawn from ember's default generator, whose state the training
    checkpoints keep); ``"fgsm"`` one step from the batch itself. The examples are made with
    the model in eval mode (dropout off, batch statistics untouched) and the modes restored.
    """

    def __init__(self, attack, epsilon, *, steps=10, fraction=1.0, loss_fn=None, mean=(0.0,),
                 std=(1.0,), bounds=(0.0, 1.0)):
        caller = "AdversarialTraining"
        if attack not in ATTACKS:
            raise ValueError(f"{caller}: attack must be one of {ATTACKS}, got {attack!r}")
        self.attack = attack
        self.epsilon = _check_epsilon(epsilon, caller)
        if not isinstance(steps, (int, np.integer)) or steps < 1:
            raise ValueError(f"{caller}: steps must be a positive integer, got {steps!r}")
        self.steps = int(steps)
        if not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
            raise ValueError(f"{caller}: fraction must lie in (0, 1], got {fraction!r}")
        self.fraction = float(fraction)
        self.loss_fn = loss_fn
        self.mean = np.asarray(mean, np.float64).reshape(1, -1, 1, 1)
        self.std = np.asarray(std, np.float64).reshape(1, -1, 1, 1)
        self.bounds = _check_bounds(bounds, caller)

    def describe(self):
        """The attack: ``"PGD (L-inf, epsilon 0.2, 10 steps, random start)"`` or ``"FGSM
        (L-inf, epsilon 0.1)"``."""
        if self.attack == "fgsm":
            return f"FGSM (L-inf, epsilon {self.epsilon:g})"
        return f"PGD (L-inf, epsilon {self.epsilon:g}, {self.steps} steps, random start)"

    def __call__(self, model, x, y):
        batch = x.numpy()
        count = max(1, int(round(self.fraction * len(batch))))
        pixels = (batch[:count].astype(np.float64) * self.std + self.mean).astype(batch.dtype)
        targets = y.numpy()[:count] if isinstance(y, ember.Tensor) else np.asarray(y)[:count]
        modes = {m: m.training for m in model.modules()}
        model.eval()
        try:
            seen = Normalized(model, self.mean.ravel(), self.std.ravel())
            if self.attack == "fgsm":
                adversarial = fgsm(seen, pixels, targets, self.epsilon, bounds=self.bounds,
                                   loss_fn=self.loss_fn)
            else:
                adversarial = pgd(seen, pixels, targets, self.epsilon, steps=self.steps,
                                  random_start=True, bounds=self.bounds, loss_fn=self.loss_fn)
        finally:
            for module, mode in modes.items():
                module.training = mode
        out = batch.copy()
        out[:count] = (adversarial.numpy().astype(np.float64) - self.mean) / self.std
        return ember.from_numpy(out)
