"""Images made by gradient ascent on the input (lecture 003 「可视化 CNN 特征: 梯度上升」,
「逆特征」, 「DeepDream」; inventory G9, G11, G12). The network's weights stay fixed; the image
is what changes.

- :func:`class_visualization`: ``argmax_I S_c(I) - lambda |I|_2^2`` (G9, "Neuron value" plus
  the "Natural image regularizer"), with the regularisers of Yosinski et al. 2015: random
  jitter between steps and a Gaussian blur every few steps.
- :func:`feature_inversion`: an image whose features at a layer match a given image's, with a
  total-variation prior so it "looks like an image" (G11, Mahendran & Vedaldi 2015).
- :func:`deep_dream`: amplify whatever a layer already responds to in a photograph (G12,
  Mordvintsev et al. 2015), over an image pyramid ("octaves") and, for a network made for
  small inputs, in tiles of its input size.

Images are in the model's input units ``(N, C, H, W)``; ``bounds=(lo, hi)`` keeps every pixel
inside the valid range after each step (``ember explain``/``visualize`` pass the range of
normalised pixel values). Steps are scaled by the mean absolute gradient, so ``lr`` is the
mean change of a pixel per step whatever the network's scale.
"""
import numpy as np

import ember
from ember.classical.filters import gaussian_filter
from ember.interpret.gradients import target_gradient
from ember.interpret.hooks import (LayerRecorder, as_batch, find_layer, frozen_parameters,
                                   run_model)
from ember.interpret.perturbation import window_positions
from ember.nn import functional as F

__all__ = ["class_visualization", "feature_inversion", "deep_dream"]


def _positive(value, name, caller, integer=False):
    kind = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    if not isinstance(value, kind) or not value > 0:
        raise ValueError(f"{caller}: {name} must be a positive {'integer' if integer else 'number'}"
                         f", got {value!r}")
    return value


def _non_negative(value, name, caller):
    if not isinstance(value, (int, float, np.integer, np.floating)) or not value >= 0:
        raise ValueError(f"{caller}: {name} must be a number >= 0, got {value!r}")
    return float(value)


def _clamp(x, bounds):
    """``x`` clipped to ``bounds`` (numbers, or arrays broadcasting to ``x``), dtype kept."""
    return x if bounds is None else np.clip(x, bounds[0], bounds[1]).astype(x.dtype, copy=False)


def _normalised_step(grad, lr):
    """``lr * g / mean|g|`` per image: the step's mean absolute pixel change is ``lr``."""
    scale = np.abs(grad).reshape(len(grad), -1).mean(axis=1)
    return lr * grad / np.maximum(scale, 1e-12).reshape((-1,) + (1,) * (grad.ndim - 1))


def _jitter(generator, amount):
    if amount == 0:
        return 0, 0
    shift = ember.randint(-amount, amount + 1, (2,), generator=generator).numpy()
    return int(shift[0]), int(shift[1])


def class_visualization(model, target, shape, steps=200, lr=0.05, l2=1e-3, blur_every=10,
                        blur_sigma=0.5, jitter=2, bounds=None, generator=None):
    """Images ``(len(targets), C, H, W)`` that maximise the score of each class in
    ``target`` (an int or a list of them) minus ``l2 |I|^2``, from small random noise.

    Each step: shift the image by a random offset of up to ``jitter`` pixels, take the
    gradient of the score there, shift back, add the regulariser's ``-2 l2 I``, and move by
    the normalised gradient (``lr``: mean absolute pixel change per step); every
    ``blur_every`` steps (0: never) blur with a Gaussian of ``blur_sigma`` pixels. ``shape``
    is one image's ``(C, H, W)``; ``generator`` seeds the noise and the jitter."""
    caller = "class_visualization"
    targets = [target] if isinstance(target, (int, np.integer)) else list(target)
    if not targets or not all(isinstance(t, (int, np.integer)) for t in targets):
        raise TypeError(f"{caller}: target must be a class index or a list of them, got "
                        f"{target!r}")
    if len(shape) != 3:
        raise ValueError(f"{caller}: shape must be one image's (C, H, W), got {shape!r}")
    _positive(steps, "steps", caller, integer=True)
    lr = _positive(lr, "lr", caller)
    l2 = _non_negative(l2, "l2", caller)
    jitter = int(_non_negative(jitter, "jitter", caller))
    if not isinstance(blur_every, (int, np.integer)) or blur_every < 0:
        raise ValueError(f"{caller}: blur_every must be an integer >= 0, got {blur_every!r}")
    image = 0.01 * ember.randn(len(targets), *shape, generator=generator).numpy()
    labels = np.array(targets, dtype=np.int64)
    for step in range(1, steps + 1):
        dy, dx = _jitter(generator, jitter)
        shifted = np.roll(image, (dy, dx), axis=(2, 3))
        grad, _, _ = target_gradient(model, shifted, labels, caller)
        grad = np.roll(grad, (-dy, -dx), axis=(2, 3)) - 2.0 * l2 * image
        image = _clamp(image + _normalised_step(grad, lr), bounds)
        if blur_every and step % blur_every == 0:
            image = _clamp(gaussian_filter(image, blur_sigma), bounds)
    return ember.from_numpy(image.astype(np.float32))


def _layer_gradient(model, x, layer, caller, objective):
    """``(objective value, d objective / dx)`` where ``objective(A)`` is a scalar Tensor of
    the layer's output ``A`` for the NumPy batch ``x`` (forward stopped at the layer)."""
    inputs = ember.from_numpy(x).requires_grad_()
    with frozen_parameters(model), ember.enable_grad():
        with LayerRecorder(model, [layer], caller, stop=True) as record:
            run_model(model, inputs, caller)
        value = objective(record.output(layer))
        (grad,) = ember.autograd.grad(value, inputs)
    return float(value.item()), grad.numpy()


def _total_variation(x):
    """Mean squared difference of vertically and horizontally adjacent pixels (Mahendran &
    Vedaldi's ``TV^beta`` with ``beta = 2``), a Tensor."""
    down = x[:, :, 1:, :] - x[:, :, :-1, :]
    right = x[:, :, :, 1:] - x[:, :, :, :-1]
    return (down * down).mean() + (right * right).mean()


def feature_inversion(model, inputs, layer, steps=200, lr=0.05, tv=0.05, l2=1e-4,
                      bounds=None, generator=None):
    """Images ``(N, C, H, W)`` whose ``layer`` features match those of ``inputs``: minimise
    ``|phi(x) - phi(x0)|^2 / |phi(x0)|^2 + tv TV(x) + l2 mean(x^2)`` by Adam (``lr``) from
    small random noise. Early layers give back almost the image; deep layers keep what the
    network uses and lose the rest (Mahendran & Vedaldi 2015, lecture 003's 逆特征)."""
    caller = "feature_inversion"
    x0 = as_batch(inputs, caller, ndim=4)
    find_layer(model, layer, caller)
    _positive(steps, "steps", caller, integer=True)
    lr = _positive(lr, "lr", caller)
    tv = _non_negative(tv, "tv", caller)
    l2 = _non_negative(l2, "l2", caller)
    with LayerRecorder(model, [layer], caller, stop=True) as record, ember.no_grad():
        run_model(model, ember.from_numpy(x0), caller)
    wanted = record.output(layer).detach()
    norm = max(float((wanted * wanted).sum().item()), 1e-12)
    image = ember.from_numpy((0.01 * ember.randn(*x0.shape, generator=generator).numpy()
                              ).astype(x0.dtype)).requires_grad_()
    optimizer = ember.optim.Adam([image], lr=lr)

    def loss(x):
        with LayerRecorder(model, [layer], caller, stop=True) as rec:
            run_model(model, x, caller)
        diff = rec.output(layer) - wanted
        return (diff * diff).sum() / norm + tv * _total_variation(x) + l2 * (x * x).mean()

    for _ in range(steps):
        with ember.enable_grad(), frozen_parameters(model):
            (grad,) = ember.autograd.grad(loss(image), image)
        image.grad = grad
        optimizer.step()
        if bounds is not None:
            with ember.no_grad():
                image.clamp_(bounds[0], bounds[1])
    return image.detach()


def _resize(image, size):
    with ember.no_grad():
        return F.interpolate(ember.from_numpy(image), size=tuple(size), mode="bilinear").numpy()


def _dream_gradient(model, image, layer, tile, caller):
    """The gradient of ``0.5 sum A^2`` (A: the layer's output) for one image ``(1, C, H, W)``,
    computed on tiles of ``tile`` pixels covering it (the whole image when ``tile`` is None)
    and added up where tiles overlap."""
    def energy(a):
        return 0.5 * (a * a).sum()
    if tile is None:
        return _layer_gradient(model, image, layer, caller, energy)[1]
    (th, tw), (h, w) = tile, image.shape[2:]
    corners = [(top, left) for top in window_positions(h, th, th)
               for left in window_positions(w, tw, tw)]
    # the last window of a row is clipped by window_positions' rule; pull it back inside
    corners = [(min(top, h - th), min(left, w - tw)) for top, left in corners]
    tiles = np.concatenate([image[:, :, t:t + th, l:l + tw] for t, l in corners])
    _, grads = _layer_gradient(model, tiles, layer, caller, energy)
    total = np.zeros_like(image)
    for g, (t, l) in zip(grads, corners):
        total[0, :, t:t + th, l:l + tw] += g
    return total


def deep_dream(model, image, layer, octaves=3, octave_scale=1.4, steps=10, lr=0.02, jitter=4,
               tile=None, bounds=None, generator=None):
    """DeepDream ``(1, C, H, W)``: gradient ascent on ``0.5 |A|^2`` of ``layer``'s output
    ``A``, starting from ``image`` ``(1, C, H, W)``.

    The image is shrunk ``octaves - 1`` times by ``octave_scale``; from the smallest, each
    octave takes ``steps`` jittered, normalised steps (``lr``: mean absolute pixel change per
    step) and hands what it added, enlarged, to the next (Mordvintsev et al.'s "detail").
    ``tile`` ``(h, w)``: compute gradients on tiles of that size (a network's input size when
    its forward pass accepts no other, such as LeNet-5's 28x28); octaves smaller than a tile
    are skipped. ``generator`` seeds the jitter."""
    caller = "deep_dream"
    base = as_batch(image, caller, ndim=4)
    if len(base) != 1:
        raise ValueError(f"{caller}: expected one image (1, C, H, W), got {len(base)}")
    find_layer(model, layer, caller)
    _positive(octaves, "octaves", caller, integer=True)
    if not isinstance(octave_scale, (int, float)) or not octave_scale > 1:
        raise ValueError(f"{caller}: octave_scale must be a number > 1, got {octave_scale!r}")
    _positive(steps, "steps", caller, integer=True)
    lr = _positive(lr, "lr", caller)
    jitter = int(_non_negative(jitter, "jitter", caller))
    if tile is not None:
        tile = (int(tile[0]), int(tile[1]))
        if base.shape[2] < tile[0] or base.shape[3] < tile[1]:
            raise ValueError(f"{caller}: the image ({base.shape[2]}x{base.shape[3]}) is smaller "
                             f"than a tile ({tile[0]}x{tile[1]})")
    pyramid = [base]
    for _ in range(octaves - 1):
        size = [int(round(s / octave_scale)) for s in pyramid[-1].shape[2:]]
        if tile is not None and (size[0] < tile[0] or size[1] < tile[1]) or min(size) < 1:
            break
        pyramid.append(_resize(pyramid[-1], size))
    detail = np.zeros_like(pyramid[-1])
    for octave in reversed(pyramid):
        if detail.shape != octave.shape:
            detail = _resize(detail, octave.shape[2:])
        dream = octave + detail
        for _ in range(steps):
            dy, dx = _jitter(generator, jitter)
            shifted = np.roll(dream, (dy, dx), axis=(2, 3))
            grad = np.roll(_dream_gradient(model, shifted, layer, tile, caller), (-dy, -dx),
                           axis=(2, 3))
            dream = _clamp(dream + _normalised_step(grad, lr), bounds)
        detail = dream - octave
    return ember.from_numpy(dream.astype(base.dtype))
