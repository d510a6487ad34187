"""``ember.interpret``: seeing inside networks (lecture 003's last part, inventory G1-G13).

Works on any Ember model; every hook it places is removed when the call ends.

==============================  ==============================================================
attributions (``gradients``,    :func:`saliency`, :func:`smoothgrad`, :func:`noise_tunnel`,
``occlusion``, ``cam``)         :func:`input_x_gradient`, :func:`integrated_gradients`,
                                :func:`guided_backprop`, :func:`deconvolution`,
                                :func:`occlusion`, :func:`cam`, :func:`grad_cam`,
                                :func:`guided_grad_cam` — equal to Captum 0.9's on the same
                                weights
features (``features``)         :func:`layer_activations`, :func:`first_layer_filters`,
                                :func:`receptive_field`, :func:`top_patches`,
                                :func:`layer_features`, :func:`nearest_neighbours`,
                                :func:`embed` (t-SNE, PCA)
synthesis (``synthesis``)       :func:`class_visualization`, :func:`feature_inversion`,
                                :func:`deep_dream`
adversarial (``adversarial``)   :func:`fgsm`, :func:`pgd`, :func:`robustness_curve`,
                                :class:`Normalized`, :class:`AdversarialTraining`
pictures, ``ember explain``     ``ember.interpret.pictures`` (figures with colour bars),
                                :func:`explain` (one heat map per image by method name)
==============================  ==============================================================

::

    import ember.interpret as interpret
    model.eval()
    heat = interpret.grad_cam(model, images, target=3, layer="layer4")     # (N, 1, H, W)
    adversarial = interpret.pgd(interpret.Normalized(model, mean, std), pixels, labels,
                                epsilon=0.1, steps=10, bounds=(0, 1))

scikit-learn (t-SNE, PCA) and matplotlib (pictures) are imported only when used.
"""
import importlib

# public name -> the module defining it; imported on first use, so that ``import
# ember.interpret`` (and the ``ember`` command's parser) stays light
_EXPORTS = {
    "saliency": "gradients", "smoothgrad": "gradients", "noise_tunnel": "gradients",
    "input_x_gradient": "gradients", "integrated_gradients": "gradients",
    "guided_backprop": "gradients", "deconvolution": "gradients",
    "predicted_classes": "gradients",
    "occlusion": "perturbation",
    "cam": "class_maps", "grad_cam": "class_maps", "guided_grad_cam": "class_maps",
    "default_cam_layer": "class_maps",
    "layer_activations": "features", "first_layer_filters": "features",
    "receptive_field": "features", "ReceptiveField": "features", "top_patches": "features",
    "Patch": "features", "layer_features": "features", "nearest_neighbours": "features",
    "embed": "features",
    "class_visualization": "synthesis", "feature_inversion": "synthesis",
    "deep_dream": "synthesis",
    "fgsm": "adversarial", "pgd": "adversarial", "robustness_curve": "adversarial",
    "Normalized": "adversarial", "AdversarialTraining": "adversarial",
    "explain": "heatmaps", "Explanation": "heatmaps", "METHODS": "heatmaps",
    "find_layer": "hooks", "layer_names": "hooks",
}

__all__ = list(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"ember.interpret.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ember.interpret' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
