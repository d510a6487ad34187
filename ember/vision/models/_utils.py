"""Feature extraction and transfer learning (lecture 003 "微调", fine-tuning; inventory A30,
E20).

The lecture's recipe: take a network trained on a big data set, keep its convolutional
*backbone* as a feature extractor, replace the last layer (the *head*) by a new one for the
new classes, train only the head first, and then — with a small learning rate — optionally
unfreeze more layers. The helpers here are the three moves of that recipe:

- :func:`freeze` / :func:`unfreeze`: ``requires_grad_(False/True)`` on a model or its named
  sub-modules (frozen parameters get no ``.grad`` and an optimizer skips them).
- :func:`replace_head`: swap the classifier for a fresh ``nn.Linear(in_features,
  num_classes)``; equivalent to ``model.fc = nn.Linear(model.fc.in_features, 10)`` which
  works as in torch.
- :func:`create_feature_extractor` (torchvision's name) and :class:`IntermediateLayerGetter`:
  the outputs of any named layers, as a dict.

Plus the torchvision conveniences :func:`get_model` / :func:`list_models`, and the shared
"no pretrained weights" check that every builder runs.
"""
from collections import OrderedDict

from ember import nn

__all__ = ["IntermediateLayerGetter", "create_feature_extractor", "get_graph_node_names",
           "freeze", "unfreeze", "replace_head", "get_model", "list_models"]


def _check_weights(weights, builder, kwargs):
    """Ember ships no pretrained weights and never downloads: ``weights`` must be None.

    torchvision's legacy ``pretrained=`` keyword (still in many tutorials) is taken out of
    the builder's ``kwargs`` as torchvision does: ``pretrained=False`` means
    ``weights=None``, ``pretrained=True`` the default weights (not available here)."""
    asked = f"weights={weights!r}"
    if kwargs.pop("pretrained", False) and weights is None:
        weights, asked = "DEFAULT", "pretrained=True"
    if weights is not None:
        raise ValueError(
            f"{builder}: {asked} is not available — Ember never downloads "
            f"pretrained weights. Build the model with weights=None and load converted "
            f"weights (the state_dict keys are torchvision's): model.load_state_dict("
            f"{{k: ember.from_numpy(v.numpy()) for k, v in torch.load(path).items()}})")


# ------------------------------------------------------------------------------------------
# Feature extraction
# ------------------------------------------------------------------------------------------
class IntermediateLayerGetter(nn.ModuleDict):
    """torchvision's ``IntermediateLayerGetter``: run the *direct children* of ``model`` in
    registration order, up to the last one named in ``return_layers``, and return an
    ``OrderedDict`` ``{new_name: output}`` of the requested ones.

    The children after the last requested layer are dropped (not run, not stored), so the
    getter is also the cheapest way to cut a classifier into a backbone. It assumes the
    model's forward calls its children in registration order (true for ResNet, VGG's
    ``features`` and the lectures' nets); for anything else use
    :func:`create_feature_extractor`, which follows the real forward.

    Example::

        body = IntermediateLayerGetter(resnet18(), {"layer2": "c3", "layer4": "c5"})
        body(x)["c5"].shape    # (N, 512, H/32, W/32)
    """

    def __init__(self, model, return_layers):
        children = [name for name, _ in model.named_children()]
        missing = [name for name in return_layers if name not in children]
        if missing:
            raise ValueError(f"IntermediateLayerGetter: return_layers {missing} are not "
                             f"children of {type(model).__name__} (children: {children})")
        orig_return_layers = dict(return_layers)
        remaining = dict(return_layers)
        layers = OrderedDict()
        for name, module in model.named_children():
            layers[name] = module
            remaining.pop(name, None)
            if not remaining:
                break
        super().__init__(layers)
        self.return_layers = orig_return_layers

    def forward(self, x):
        out = OrderedDict()
        for name, module in self.items():
            x = module(x)
            if name in self.return_layers:
                out[self.return_layers[name]] = x
        return out


class _FeaturesReady(Exception):
    """Raised by the last capturing hook to skip the rest of the forward pass."""


class _FeatureExtractor(nn.Module):
    """The module :func:`create_feature_extractor` returns: wraps ``model`` (kept as the
    child ``model``, so ``state_dict`` keys are ``model.<torchvision key>``) and returns
    ``{output_name: tensor}`` in the order of ``return_nodes``."""

    def __init__(self, model, return_nodes):
        super().__init__()
        self.model = model
        self.return_nodes = dict(return_nodes)
        self._captured = None
        modules = dict(model.named_modules())
        for node in self.return_nodes:
            modules[node].register_forward_hook(self._make_hook(node))

    def _make_hook(self, node):
        def hook(module, args, output):
            if self._captured is None:        # the model called directly, not through us
                return None
            self._captured[node] = output
            if len(self._captured) == len(self.return_nodes):
                raise _FeaturesReady
            return None
        return hook

    def forward(self, *args, **kwargs):
        self._captured = {}
        try:
            self.model(*args, **kwargs)
        except _FeaturesReady:
            pass
        finally:
            captured, self._captured = self._captured, None
        missing = [n for n in self.return_nodes if n not in captured]
        if missing:
            raise RuntimeError(f"create_feature_extractor: nodes {missing} did not run in "
                               f"{type(self.model).__name__}.forward (e.g. an auxiliary head "
                               f"that only runs in training mode)")
        return OrderedDict((self.return_nodes[n], captured[n]) for n in self.return_nodes)

    def extra_repr(self):
        return f"return_nodes={self.return_nodes}"


def get_graph_node_names(model):
    """The names :func:`create_feature_extractor` accepts: every sub-module's dotted name
    (as in ``model.named_modules()``). Returns ``(train_nodes, eval_nodes)`` like
    torchvision's (here both lists are the same: hooks see modules, not traced ops)."""
    names = [name for name, _ in model.named_modules() if name]
    return names, list(names)


def create_feature_extractor(model, return_nodes):
    """A module whose forward returns the outputs of the named layers of ``model``.

    Args:
        model: any ``nn.Module``.
        return_nodes: a list of sub-module names (``model.named_modules()`` names, e.g.
            ``"layer3"``, ``"features.8"``, ``"layer4.1.conv2"``) or a dict mapping them to
            the keys of the returned dict.

    Returns:
        an ``nn.Module``; ``extractor(x)`` is ``OrderedDict {name: Tensor}`` in the order of
        ``return_nodes``.

    Ember follows torchvision's name and return type but uses forward hooks instead of FX
    tracing, so nodes are module names only (not functional ops such as ``add``). The
    forward pass stops as soon as the last requested output is computed, so extracting
    ``layer2`` of a ResNet costs only the layers up to it. The extractor shares parameters
    with ``model`` (no copy): freeze or fine-tune through either.
    """
    if isinstance(return_nodes, (list, tuple)):
        return_nodes = {name: name for name in return_nodes}
    if not return_nodes:
        raise ValueError("create_feature_extractor: return_nodes is empty")
    available = dict(model.named_modules())
    unknown = [name for name in return_nodes if name not in available or name == ""]
    if unknown:
        sample = [n for n in available if n][:12]
        raise ValueError(f"create_feature_extractor: {unknown} are not sub-modules of "
                         f"{type(model).__name__}; available names include {sample} "
                         f"(see get_graph_node_names(model))")
    return _FeatureExtractor(model, return_nodes)


# ------------------------------------------------------------------------------------------
# Freezing and swapping the head
# ------------------------------------------------------------------------------------------
def _select(model, names, who):
    if names is None:
        return [model]
    if isinstance(names, str):
        names = [names]
    try:
        return [model.get_submodule(name) for name in names]
    except AttributeError as err:
        raise ValueError(f"{who}: {err}") from None


def freeze(model, modules=None):
    """Set ``requires_grad=False`` on the parameters of ``model`` (or only of the named
    sub-modules ``modules``) and return ``model``.

    The frozen layers still run forward and their BatchNorm statistics still update in
    ``train()`` mode — call ``.eval()`` on them too to freeze those (lecture 003 "微调":
    a small data set trains only the new head).
    """
    for module in _select(model, modules, "freeze"):
        module.requires_grad_(False)
    return model


def unfreeze(model, modules=None):
    """Undo :func:`freeze`: ``requires_grad=True`` on ``model`` or the named sub-modules."""
    for module in _select(model, modules, "unfreeze"):
        module.requires_grad_(True)
    return model


def _head_name(model):
    """The dotted name of the last ``nn.Linear`` registered in ``model`` (the classifier)."""
    name = None
    for qualified, module in model.named_modules():
        if isinstance(module, nn.Linear):
            name = qualified
    if name is None:
        raise ValueError(f"replace_head: {type(model).__name__} has no nn.Linear layer to "
                         f"replace; assign the new head yourself (model.fc = nn.Linear(...))")
    return name


def replace_head(model, num_classes, name=None):
    """Replace the classifier of ``model`` by a freshly initialized
    ``nn.Linear(in_features, num_classes)`` (trainable even if ``model`` was frozen) and
    return the new layer.

    ``name`` is the dotted name of the layer to replace (``"fc"`` for ResNet/GoogLeNet,
    ``"classifier.6"`` for VGG/AlexNet, ``"classifier"`` for DenseNet); by default the last
    ``nn.Linear`` registered in the model. GoogLeNet's auxiliary heads are separate layers
    (``aux1.fc2``, ``aux2.fc2``): replace them by name or build with ``aux_logits=False``.
    """
    name = _head_name(model) if name is None else name
    old = model.get_submodule(name)
    if not isinstance(old, nn.Linear):
        raise ValueError(f"replace_head: {name!r} is a {type(old).__name__}, expected "
                         f"nn.Linear")
    new = nn.Linear(old.in_features, num_classes, bias=old.bias is not None)
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)
    return new


# ------------------------------------------------------------------------------------------
# Builders by name
# ------------------------------------------------------------------------------------------
def _builders():
    from ember.vision import models
    return {name: getattr(models, name) for name in models._BUILDERS}


def list_models(module=None):
    """Names of the model builders, sorted: every one, or (torchvision's ``module=``) those
    defined directly in the package ``module`` — ``list_models(ember.vision.models)`` the
    classifiers, ``list_models(ember.vision.models.segmentation)`` the segmentation models."""
    builders = _builders()
    if module is None:
        return sorted(builders)
    return sorted(name for name, builder in builders.items()
                  if builder.__module__.rsplit(".", 1)[0] == module.__name__)


# (C, H, W) of one input image for builders not made for ImageNet's 3x224x224
_INPUT_SIZES = {
    "lenet5": (1, 28, 28),            # the main job's padded LeNet-5 on MNIST (32x32 unpadded)
    "alexnet_paper": (3, 227, 227),   # the 2012 paper's input
    "resnet20": (3, 32, 32), "resnet32": (3, 32, 32), "resnet56": (3, 32, 32),
    "sample_cnn": (3, 32, 32),
    "one_vs_seven": (16,),            # a flattened 4x4 image
    "unet": (1, 572, 572),            # the U-Net paper's tile (388x388 output)
    "vit_mnist": (1, 28, 28), "swin_mnist": (1, 28, 28),
    "lstm_mnist": (1, 28, 28),        # 28 rows of 28 pixels
}


def default_input_size(name):
    """The shape ``(C, H, W)`` of one input the builder ``name`` is made for: ImageNet's
    ``(3, 224, 224)`` unless the builder is one of the lectures' small networks, the CIFAR
    ResNets or U-Net (``ember summary`` uses it when no ``--input-size`` is given)."""
    if name not in _builders():
        raise ValueError(f"default_input_size: unknown model {name!r}; available: "
                         f"{list_models()}")
    return _INPUT_SIZES.get(name, (3, 224, 224))


def get_model(name, **config):
    """``get_model("resnet18", num_classes=10)``: build a model by its builder's name."""
    builders = _builders()
    if name not in builders:
        raise ValueError(f"get_model: unknown model {name!r}; available: {sorted(builders)}")
    return builders[name](**config)

