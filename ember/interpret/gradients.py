"""Attributions from the gradient of a class score with respect to the input pixels (lecture
003 「显著性可视化」: "forward pass: compute probabilities", then "根据梯度来计算像素点上的响应值";
inventory G7). Each function takes a model, a batch ``inputs`` ``(N, ...)`` (a Tensor or a
NumPy array) and ``target`` and returns attributions of the inputs' shape and dtype as a
Tensor. They equal Captum 0.9's methods of the same name on the same weights.

``target`` is a class index for every input, one index per input (a sequence or Tensor of
``N``), or ``None`` for the class the model predicts for each input. The model is used as it
is (call ``model.eval()`` first, so that dropout and batch statistics do not change the
scores); only the gradient with respect to the inputs is computed (``autograd.grad``, the
parameters' ``requires_grad`` turned off meanwhile by ``hooks.frozen_parameters``), so no
parameter's ``.grad`` changes and no weight gradient is computed.

- :func:`saliency`: ``|dS_c / dx|`` (Simonyan et al. 2014; the husky/wolf story of 003).
- :func:`input_x_gradient`: ``x * dS_c / dx``.
- :func:`integrated_gradients`: ``(x - x') * integral_0^1 dS_c/dx (x' + a (x - x')) da``
  (Sundararajan et al. 2017), the integral by Gauss-Legendre or Riemann sums.
- :func:`guided_backprop`, :func:`deconvolution`: the gradient with every ``nn.ReLU``'s
  backward changed (``ember.interpret.hooks.relu_backward_rule``).
- :func:`noise_tunnel` and :func:`smoothgrad`: the average over noisy copies of the input
  (Smilkov et al. 2017).
"""
import numpy as np

import ember
from ember.interpret.hooks import as_batch, frozen_parameters, relu_backward_rule, run_model

__all__ = ["saliency", "input_x_gradient", "integrated_gradients", "guided_backprop",
           "deconvolution", "noise_tunnel", "smoothgrad", "predicted_classes",
           "target_indices", "target_gradient", "IG_METHODS", "NOISE_TUNNEL_KINDS"]

IG_METHODS = ("gausslegendre", "riemann_left", "riemann_right", "riemann_middle",
              "riemann_trapezoid")
NOISE_TUNNEL_KINDS = ("smoothgrad", "smoothgrad_sq", "vargrad")


def _class_scores(scores, caller):
    if scores.ndim != 2:
        raise ValueError(f"{caller}: the model must return class scores (N, classes), got "
                         f"shape {tuple(scores.shape)}")
    return scores


def predicted_classes(model, inputs, caller="predicted_classes"):
    """The class each input gets from ``model`` (argmax of the scores), under ``no_grad``."""
    x = as_batch(inputs, caller)
    with ember.no_grad():
        scores = _class_scores(run_model(model, ember.from_numpy(x), caller), caller)
    return scores.numpy().argmax(axis=1)


def target_indices(target, n, num_classes, caller):
    """``target`` (an int, ``n`` ints, or a Tensor of them) as an int64 array of ``n``
    class indices in ``[0, num_classes)`` (not checked against a range when
    ``num_classes`` is None)."""
    if isinstance(target, ember.Tensor):
        target = target.numpy()
    array = np.asarray(target)
    if array.dtype.kind not in "iu" or array.ndim > 1:
        raise TypeError(f"{caller}: target must be a class index or one index per input, got "
                        f"{target!r}")
    array = np.broadcast_to(array.astype(np.int64), (n,)) if array.ndim == 0 else \
        array.astype(np.int64)
    if len(array) != n:
        raise ValueError(f"{caller}: got {len(array)} targets for {n} inputs")
    if num_classes is not None:
        bad = array[(array < 0) | (array >= num_classes)]
        if len(bad):
            raise ValueError(f"{caller}: target {int(bad[0])} is out of range for a model "
                             f"with {num_classes} classes (0 to {num_classes - 1})")
    return np.array(array)


def _resolve_target(model, x, target, caller):
    """The targets of the batch ``x``: the predicted classes when ``target`` is None (the
    range of given targets is checked by the forward pass that uses them)."""
    if target is None:
        return predicted_classes(model, x, caller)
    return target_indices(target, len(x), None, caller)


def target_gradient(model, x, target, caller, loss_fn=None):
    """``(d sum_i S_{t_i}(x_i) / dx, scores, targets)`` for a NumPy batch ``x``: the gradient
    of the summed target scores (or of ``loss_fn(scores, targets)`` when given), which is
    each input's own gradient because inputs do not interact in eval mode. ``target=None``
    takes each input's predicted class (from the same forward pass)."""
    inputs = ember.from_numpy(x).requires_grad_()
    with ember.enable_grad(), frozen_parameters(model):
        scores = _class_scores(run_model(model, inputs, caller), caller)
        if target is None:
            targets = scores.detach().numpy().argmax(axis=1)
        else:
            targets = target_indices(target, len(x), scores.shape[1], caller)
        index = ember.from_numpy(targets)
        if loss_fn is None:
            objective = scores.gather(1, index.reshape(-1, 1)).sum()
        else:
            objective = loss_fn(scores, index)
        (grad,) = ember.autograd.grad(objective, inputs)
    return grad.numpy(), scores.detach().numpy(), targets


def _result(array, like):
    return ember.from_numpy(np.ascontiguousarray(array, dtype=like.dtype))


def saliency(model, inputs, target=None, abs=True):
    """Gradient saliency ``|dS_c / dx|`` ``(N, ...)`` (``abs=False``: the signed gradient).
    Lecture 003 shows its maximum over colour channels as a map (``ember explain``)."""
    x = as_batch(inputs, "saliency")
    grad, _, _ = target_gradient(model, x, target, "saliency")
    return _result(np.abs(grad) if abs else grad, x)


def input_x_gradient(model, inputs, target=None):
    """``x * dS_c / dx`` ``(N, ...)``: the gradient weighted by the input."""
    x = as_batch(inputs, "input_x_gradient")
    grad, _, _ = target_gradient(model, x, target, "input_x_gradient")
    return _result(x * grad, x)


def _integration_rule(method, steps, caller):
    """``(alphas, weights)`` of the path integral over ``[0, 1]``. Gauss-Legendre nodes and
    weights from NumPy's ``leggauss`` (exact for polynomials of degree ``2 steps - 1``);
    Riemann sums at the left ends, right ends or midpoints of ``steps`` equal intervals;
    the trapezoid rule over ``steps`` equally spaced points including both ends (weights
    ``1 / (steps - 1)``, halved at the ends; Captum's trapezoid weights are ``1 / steps``,
    summing to ``(steps - 1) / steps``)."""
    if method not in IG_METHODS:
        raise ValueError(f"{caller}: method must be one of {', '.join(IG_METHODS)}, got "
                         f"{method!r}")
    least = 2 if method == "riemann_trapezoid" else 1
    if not isinstance(steps, (int, np.integer)) or steps < least:
        raise ValueError(f"{caller}: steps must be an integer of at least {least} for "
                         f"{method}, got {steps!r}")
    if method == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(steps)
        return 0.5 * (nodes + 1.0), 0.5 * weights
    if method == "riemann_trapezoid":
        weights = np.full(steps, 1.0 / (steps - 1))
        weights[[0, -1]] /= 2
        return np.linspace(0.0, 1.0, steps), weights
    offset = {"riemann_left": 0.0, "riemann_middle": 0.5, "riemann_right": 1.0}[method]
    return (np.arange(steps) + offset) / steps, np.full(steps, 1.0 / steps)


def _baselines(baselines, x, caller):
    if baselines is None:
        return np.zeros_like(x)
    if isinstance(baselines, ember.Tensor):
        baselines = baselines.numpy()
    try:
        return np.broadcast_to(np.asarray(baselines, dtype=x.dtype), x.shape)
    except ValueError:
        raise ValueError(f"{caller}: baselines of shape {np.shape(baselines)} do not broadcast "
                         f"to the inputs' shape {x.shape}") from None


def integrated_gradients(model, inputs, target=None, baselines=None, steps=50,
                         method="gausslegendre", batch_size=None, return_delta=False):
    """Integrated gradients ``(x - x') * sum_k w_k dS_c/dx (x' + a_k (x - x'))`` ``(N, ...)``.

    Args:
        baselines: ``x'``, the reference input (default zeros; a number or an array that
            broadcasts to the inputs).
        steps, method: the integration rule (see ``IG_METHODS``; Gauss-Legendre by default,
            as Captum).
        batch_size: how many of the ``steps * N`` scaled inputs go through the model at once
            (default: all).
        return_delta: also return the completeness error ``sum(attributions) - (S_c(x) -
            S_c(x'))`` per input, which tends to 0 as ``steps`` grows.
    """
    caller = "integrated_gradients"
    x = as_batch(inputs, caller)
    base = _baselines(baselines, x, caller)
    alphas, weights = _integration_rule(method, steps, caller)
    targets = _resolve_target(model, x, target, caller)
    n = len(x)
    # path points ordered step by step: [a_0 x_1 .. a_0 x_N, a_1 x_1, ...], as Captum's
    path = (base[None] + alphas.reshape((-1,) + (1,) * x.ndim) * (x - base)[None])
    path = path.reshape((-1,) + x.shape[1:]).astype(x.dtype)
    path_targets = np.tile(targets, len(alphas))
    chunk = len(path) if batch_size is None else int(batch_size)
    if chunk < 1:
        raise ValueError(f"{caller}: batch_size must be positive, got {batch_size}")
    grads = np.concatenate([target_gradient(model, path[i:i + chunk],
                                            path_targets[i:i + chunk], caller)[0]
                            for i in range(0, len(path), chunk)])
    grads = grads.reshape((len(alphas), n) + x.shape[1:])
    average = np.tensordot(weights.astype(x.dtype), grads, axes=1)
    attributions = _result((x - base) * average, x)
    if not return_delta:
        return attributions
    with ember.no_grad():
        ends = run_model(model, ember.from_numpy(np.concatenate([x, base])), caller).numpy()
    picked = ends[np.arange(2 * n), np.tile(targets, 2)].astype(np.float64)
    delta = attributions.numpy().reshape(n, -1).sum(axis=1, dtype=np.float64) - \
        (picked[:n] - picked[n:])
    return attributions, ember.from_numpy(delta)


def _modified_relu_gradient(model, inputs, target, rule, caller):
    x = as_batch(inputs, caller)
    with relu_backward_rule(model, rule, caller):
        grad, _, _ = target_gradient(model, x, target, caller)
    return _result(grad, x)


def guided_backprop(model, inputs, target=None):
    """Guided backpropagation ``(N, ...)``: the gradient of ``S_c`` with every ``nn.ReLU``
    passing back only positive gradients of units that were on (Springenberg et al. 2015)."""
    return _modified_relu_gradient(model, inputs, target, "guided", "guided_backprop")


def deconvolution(model, inputs, target=None):
    """The deconvnet ``(N, ...)`` (Zeiler & Fergus 2014): the gradient of ``S_c`` with every
    ``nn.ReLU`` passing back ``relu(grad_output)``, whatever the unit did forward."""
    return _modified_relu_gradient(model, inputs, target, "deconvnet", "deconvolution")


def noise_tunnel(method, model, inputs, target=None, samples=5, stdev=1.0, kind="smoothgrad",
                 generator=None, **kwargs):
    """Average ``method`` over ``samples`` noisy copies ``x + N(0, stdev^2)`` of each input
    (Captum's ``NoiseTunnel``; Smilkov et al. 2017).

    Args:
        method: an attribution function of this module, e.g. :func:`saliency` or
            :func:`integrated_gradients`; ``kwargs`` go to it.
        target: as for ``method``; ``None`` takes the class predicted for the clean input.
        kind: ``"smoothgrad"`` (the mean), ``"smoothgrad_sq"`` (the mean of squares) or
            ``"vargrad"`` (the variance) of the attributions over the samples.
        generator: an ``ember.Generator`` for the noise (default: ember's default one). The
            noise is one draw of shape ``(N * samples, ...)``, sample ``s`` of input ``i`` at
            row ``i * samples + s``.
    """
    caller = "noise_tunnel"
    if kind not in NOISE_TUNNEL_KINDS:
        raise ValueError(f"{caller}: kind must be one of {', '.join(NOISE_TUNNEL_KINDS)}, got "
                         f"{kind!r}")
    if not isinstance(samples, (int, np.integer)) or samples < 1:
        raise ValueError(f"{caller}: samples must be a positive integer, got {samples!r}")
    if not float(stdev) >= 0:
        raise ValueError(f"{caller}: stdev must be non-negative, got {stdev!r}")
    x = as_batch(inputs, caller)
    targets = _resolve_target(model, x, target, caller)
    noise = ember.randn(len(x) * samples, *x.shape[1:], generator=generator,
                        dtype=ember.float64).numpy() * float(stdev)
    noisy = (np.repeat(x, samples, axis=0) + noise).astype(x.dtype)
    attributions = method(model, noisy, np.repeat(targets, samples), **kwargs)
    if isinstance(attributions, tuple):
        attributions = attributions[0]
    a = attributions.numpy().reshape((len(x), samples) + x.shape[1:])
    mean = a.mean(axis=1)
    if kind == "smoothgrad":
        out = mean
    elif kind == "smoothgrad_sq":
        out = (a * a).mean(axis=1)
    else:
        out = (a * a).mean(axis=1) - mean * mean
    return _result(out, x)


def smoothgrad(model, inputs, target=None, samples=25, stdev=0.15, generator=None):
    """SmoothGrad ``(N, ...)``: :func:`saliency` (``|gradient|``) averaged over ``samples``
    noisy copies of each input with noise of standard deviation ``stdev`` (in the inputs'
    units; Smilkov et al. suggest 10-20% of the input range)."""
    return noise_tunnel(saliency, model, inputs, target, samples=samples, stdev=stdev,
                        generator=generator)
