"""``ember.vision``: what torchvision gives a PyTorch user — ``datasets``, ``transforms``,
``models``, ``ops`` (boxes, NMS, RoI pooling, FPN) and the ``metrics`` of the vision tasks
(imported on first use:
``ember.vision.models.resnet18()``)."""
import importlib as _importlib

_SUBMODULES = ("datasets", "transforms", "models", "ops", "metrics")


def __getattr__(name):
    if name in _SUBMODULES:
        return _importlib.import_module(f"ember.vision.{name}")
    raise AttributeError(f"module 'ember.vision' has no attribute {name!r}")
