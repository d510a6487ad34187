"""One heat map per image, by method name: what ``ember explain`` draws.

``explain(model, images, method)`` runs the attribution and reduces it to a map ``(H, W)``
per image the way the papers show them: the maximum of ``|gradient|`` over the colour
channels for saliency and SmoothGrad (Simonyan et al. 2014), the sum over channels of the
signed attributions for integrated gradients, the score drop under the occluder, the class
activation map and Grad-CAM upsampled (bilinear) to the image. (The methods are imported
when ``explain`` runs, so that the ``ember`` command's parser can read ``METHODS`` cheaply.)
"""
from dataclasses import dataclass

import numpy as np

import ember

__all__ = ["explain", "Explanation", "METHODS", "top_classes"]

METHODS = ("saliency", "smoothgrad", "ig", "occlusion", "cam", "gradcam")


@dataclass
class Explanation:
    """``maps`` ``(N, H, W)``; ``signed``: whether they hold both signs (drawn on a diverging
    scale); ``targets`` ``(N,)``: the explained classes; ``probabilities`` ``(N, classes)``:
    the model's softmax for each image; ``layer``: the layer Grad-CAM used (else None);
    ``label``: what the values are."""
    maps: np.ndarray
    signed: bool
    targets: np.ndarray
    probabilities: np.ndarray
    layer: str
    label: str


def _softmax(scores):
    shifted = scores - scores.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def explain(model, images, method, target=None, layer=None, generator=None):
    """The :class:`Explanation` of ``images`` ``(N, C, H, W)`` by ``method`` (one of
    ``METHODS``) for class ``target`` (None: each image's predicted class). ``layer`` applies
    to ``gradcam`` only (default: the last layer with feature maps). SmoothGrad uses 25
    samples with noise of 15% of the largest value range among the images; occlusion a
    window of a quarter of the image side moved by half a window over a baseline of each
    image's mean per channel; integrated gradients 32 Gauss-Legendre steps from a baseline of
    each channel's smallest value in the image (black, for an image with a black pixel)."""
    from ember.interpret.class_maps import cam, default_cam_layer, grad_cam
    from ember.interpret.gradients import (integrated_gradients, saliency, smoothgrad,
                                           target_indices)
    from ember.interpret.hooks import as_batch, run_model
    from ember.interpret.perturbation import occlusion
    caller = "explain"
    if method not in METHODS:
        raise ValueError(f"{caller}: method must be one of {', '.join(METHODS)}, got "
                         f"{method!r}")
    if layer is not None and method != "gradcam":
        raise ValueError(f"{caller}: a layer applies to gradcam only, not {method}")
    x = as_batch(images, caller, ndim=4)
    with ember.no_grad():
        scores = run_model(model, ember.from_numpy(x), caller).numpy()
    if scores.ndim != 2:
        raise ValueError(f"{caller}: the model must return class scores (N, classes), got "
                         f"shape {scores.shape}")
    targets = (scores.argmax(axis=1) if target is None
               else target_indices(target, len(x), scores.shape[1], caller))
    signed, label = False, "attribution"
    if method == "saliency":
        maps, label = saliency(model, x, targets).numpy().max(axis=1), "|gradient|"
    elif method == "smoothgrad":
        span = (x.reshape(len(x), -1).max(axis=1) - x.reshape(len(x), -1).min(axis=1)).max()
        maps = smoothgrad(model, x, targets, samples=25, stdev=0.15 * float(span),
                          generator=generator).numpy().max(axis=1)
        label = "mean |gradient|"
    elif method == "ig":
        baseline = x.reshape(len(x), x.shape[1], -1).min(axis=2)[:, :, None, None]
        maps = integrated_gradients(model, x, targets, baselines=baseline, steps=32,
                                    batch_size=32).numpy().sum(axis=1)
        signed, label = True, "integrated gradients"
    elif method == "occlusion":
        side = max(1, min(x.shape[2:]) // 4)
        baseline = x.mean(axis=(2, 3), keepdims=True)
        maps = occlusion(model, x, targets, window=side, stride=max(1, side // 2),
                         baseline=baseline).numpy()[:, 0]
        signed, label = True, "score drop when covered"
    elif method == "cam":
        maps, signed, label = cam(model, x, targets).numpy()[:, 0], True, "class activation"
    else:
        layer = default_cam_layer(model, x) if layer is None else layer
        maps, label = grad_cam(model, x, targets, layer).numpy()[:, 0], "Grad-CAM"
    return Explanation(maps=maps, signed=signed, targets=targets,
                       probabilities=_softmax(scores.astype(np.float64)),
                       layer=layer if method == "gradcam" else None, label=label)


def top_classes(probabilities, k):
    """The ``k`` most probable class indices of each row, most probable first."""
    return np.argsort(-probabilities, axis=1, kind="stable")[:, :k]

