"""``ember.vision``: what torchvision gives a PyTorch user — datasets, transforms, models, ops."""
import importlib as _importlib

_SUBMODULES = ("datasets", "transforms", "models", "ops", "utils")


def __getattr__(name):
    if name in _SUBMODULES:
        return _importlib.import_module(f"ember.vision.{name}")
    raise AttributeError(f"module 'ember.vision' has no attribute {name!r}")
