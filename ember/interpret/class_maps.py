"""Class activation maps: where in the image the evidence for a class lies, read from a
convolutional layer's feature maps (lecture 003 shows CAM in VQA, inventory G8, without a
formula; the formulas are the papers').

- :func:`cam` (Zhou et al. 2016), for networks ending in ``features -> global average pool ->
  Linear``: ``M_c = sum_k w_ck A_k``, the last Linear layer's weights for class ``c`` applied
  to the feature maps ``A_k`` before the pool.
- :func:`grad_cam` (Selvaraju et al. 2017), for any layer: ``relu(sum_k a_k A_k)`` with
  ``a_k = mean_ij dS_c / dA_k(i, j)``. At the global pool's input it is CAM divided by the
  number of positions ``h w``.
- :func:`guided_grad_cam`: guided backpropagation times the upsampled Grad-CAM map.

Maps are upsampled to the input's size (``upsample="bilinear"`` or ``"nearest"``, as
``F.interpolate``) or kept at the layer's resolution (``upsample=None``). They equal Captum
0.9's ``LayerGradCam`` (with ``relu_attributions=True``), ``LayerAttribution.interpolate``
and ``GuidedGradCam`` on the same weights.
"""
import numpy as np

import ember
from ember import nn
from ember.interpret.gradients import guided_backprop, target_indices
from ember.interpret.hooks import LayerRecorder, as_batch, frozen_parameters, run_model
from ember.nn import functional as F

__all__ = ["grad_cam", "guided_grad_cam", "cam", "default_cam_layer", "UPSAMPLE_MODES"]

UPSAMPLE_MODES = ("bilinear", "nearest", None)


def _upsample(maps, size, mode, caller):
    if mode not in UPSAMPLE_MODES:
        raise ValueError(f"{caller}: upsample must be 'bilinear', 'nearest' or None, got "
                         f"{mode!r}")
    if mode is None or tuple(maps.shape[2:]) == tuple(size):
        return maps
    with ember.no_grad():
        return F.interpolate(maps, size=tuple(size), mode=mode)


def _spatial(output):
    return isinstance(output, ember.Tensor) and output.ndim == 4 and \
        output.shape[2] * output.shape[3] > 1


def default_cam_layer(model, inputs):
    """The name of the last module of ``model`` to finish whose output is a feature map
    ``(N, C, h, w)`` with more than one position: the last convolutional stage (``layer4``
    of a ResNet, ``pool2`` of LeNet-5)."""
    return _default_layer(model, as_batch(inputs, "default_cam_layer", ndim=4),
                          "default_cam_layer")


def _default_layer(model, x, caller):
    """:func:`default_cam_layer` from a forward pass of the first image of ``x``."""
    with LayerRecorder(model, None, caller) as record, ember.no_grad():
        run_model(model, ember.from_numpy(x[:1]), caller)
    for name in reversed(record.order):
        if _spatial(record.outputs[name]):
            return name
    raise ValueError(f"{caller}: no layer of {type(model).__name__} returns a feature map "
                     f"(N, C, h, w) with more than one position")


def _layer_and_gradient(model, x, target, layer, caller):
    """``(A, dS/dA, targets, layer name)`` for a NumPy batch ``x``: the layer's output and the
    gradient of the summed target scores with respect to it (``layer=None``: the last layer
    with a feature map, found by a forward pass of the first image). The graph starts at the
    layer and the parameters are frozen, so the backward pass computes only what ``dS/dA``
    needs."""
    name = _default_layer(model, x, caller) if layer is None else layer
    with LayerRecorder(model, [name], caller, cut=True) as record, ember.enable_grad(), \
            frozen_parameters(model):
        scores = run_model(model, ember.from_numpy(x), caller)
        if scores.ndim != 2:
            raise ValueError(f"{caller}: the model must return class scores (N, classes), got "
                             f"shape {tuple(scores.shape)}")
        activation = record.output(name)
        if activation.ndim != 4:
            raise ValueError(f"{caller}: layer {name!r} returns shape "
                             f"{tuple(activation.shape)}; Grad-CAM needs a feature map "
                             f"(N, C, h, w)")
        if not scores.requires_grad:
            raise ValueError(f"{caller}: the model's output does not depend on layer {name!r}")
        targets = (scores.detach().numpy().argmax(axis=1) if target is None
                   else target_indices(target, len(x), scores.shape[1], caller))
        picked = scores.gather(1, ember.from_numpy(targets).reshape(-1, 1)).sum()
        (grad,) = ember.autograd.grad(picked, activation)
    return activation.detach(), grad, targets, name


def grad_cam(model, inputs, target=None, layer=None, relu=True, upsample="bilinear"):
    """Grad-CAM ``(N, 1, H, W)`` (``(N, 1, h, w)`` with ``upsample=None``).

    Args:
        inputs: images ``(N, C, H, W)``.
        target: class index(es), or None for the predicted classes.
        layer: the dotted name (or module) of a layer returning feature maps ``(N, K, h,
            w)``; None: the last such layer (:func:`default_cam_layer`).
        relu: keep only the positive evidence (the paper's map); False returns the signed
            sum ``sum_k a_k A_k`` (Captum's default).
        upsample: ``"bilinear"``, ``"nearest"`` or None (see the module docstring).
    """
    caller = "grad_cam"
    x = as_batch(inputs, caller, ndim=4)
    activation, grad, _, _ = _layer_and_gradient(model, x, target, layer, caller)
    weights = grad.numpy().mean(axis=(2, 3), keepdims=True)            # a_k, (N, K, 1, 1)
    maps = (weights * activation.numpy()).sum(axis=1, keepdims=True)
    if relu:
        maps = np.maximum(maps, 0)
    return _upsample(ember.from_numpy(maps.astype(x.dtype)), x.shape[2:], upsample, caller)


def guided_grad_cam(model, inputs, target=None, layer=None, upsample="bilinear"):
    """Guided Grad-CAM ``(N, C, H, W)``: :func:`guided_backprop` times the (ReLU'd) Grad-CAM
    map upsampled to the input's size (Selvaraju et al. 2017)."""
    caller = "guided_grad_cam"
    x = as_batch(inputs, caller, ndim=4)
    if upsample is None:
        raise ValueError(f"{caller}: upsample must be 'bilinear' or 'nearest': the map is "
                         f"multiplied with input-sized gradients")
    maps = grad_cam(model, x, target, layer, relu=True, upsample=upsample)
    guided = guided_backprop(model, x, target)
    return ember.from_numpy(guided.numpy() * maps.numpy())


def _global_average_pool_to_linear(model, x, caller):
    """Find the ``global average pool -> Linear`` ending of ``model`` on a forward pass of
    ``x``: returns ``(feature maps A (N, K, h, w), class weights (classes, K), scores)``.

    The last module call producing the model's output must be an ``nn.Linear``, and its
    input must be the output of an average pool over all positions (an ``AdaptiveAvgPool2d``
    or ``AvgPool2d`` whose ``(N, K, 1, 1)`` output is the mean of its input), reshaped only
    (``flatten``; dropout is the identity in eval mode)."""
    with LayerRecorder(model, None, caller, inputs=True) as record, ember.no_grad():
        scores = run_model(model, ember.from_numpy(x), caller)
    last_linear = next((name for name in reversed(record.order)
                        if isinstance(model.get_submodule(name), nn.Linear)
                        and record.outputs[name] is scores), None)
    missing = (f"{caller}: {type(model).__name__} does not end in a global average pool "
               f"followed by a Linear layer (CAM reads the Linear layer's weights for the "
               f"pooled feature maps); use grad_cam, which works on any layer")
    if last_linear is None:
        raise ValueError(missing)
    features = record.input(last_linear).numpy()
    for name in reversed(record.order):
        module = model.get_submodule(name)
        if not isinstance(module, (nn.AdaptiveAvgPool2d, nn.AvgPool2d)):
            continue
        pooled, maps = record.outputs[name].numpy(), record.input(name).numpy()
        if pooled.shape[2:] != (1, 1) or pooled.size != features.size:
            continue
        mean = maps.mean(axis=(2, 3), keepdims=True)
        # a mean of h w values is exact to h w roundings of the largest, in any order
        tolerance = maps.shape[2] * maps.shape[3] * np.finfo(maps.dtype).eps * \
            max(1.0, float(np.abs(maps).max()))
        if np.allclose(pooled, mean, rtol=0, atol=tolerance) and \
                np.array_equal(pooled.reshape(features.shape), features):
            weight = model.get_submodule(last_linear).weight.detach().numpy()
            return maps, weight, scores.numpy()
    raise ValueError(missing)


def cam(model, inputs, target=None, upsample="bilinear"):
    """Class activation maps ``(N, 1, H, W)`` (``(N, 1, h, w)`` with ``upsample=None``):
    ``M_c(i, j) = sum_k w_ck A_k(i, j)`` for networks ending in a global average pool and a
    Linear layer (ResNet, MobileNet, GoogLeNet); a model without that ending is an error."""
    caller = "cam"
    x = as_batch(inputs, caller, ndim=4)
    maps, weight, scores = _global_average_pool_to_linear(model, x, caller)
    targets = (scores.argmax(axis=1) if target is None
               else target_indices(target, len(x), scores.shape[1], caller))
    class_weights = weight[targets][:, :, None, None]                   # (N, K, 1, 1)
    heat = (class_weights * maps).sum(axis=1, keepdims=True).astype(x.dtype)
    return _upsample(ember.from_numpy(heat), x.shape[2:], upsample, caller)
