"""torchvision 0.28 as a test oracle on a CPU-only machine.

Its PyPI wheel registers fake (meta) kernels for its compiled CUDA ops at import time, which
fails without them; replacing ``torch.library.register_fake`` by a no-op decorator first lets
the pure-Python parts (models, transforms, ``utils``, datasets, box functions) import. The
Makefile installs it with ``--no-deps`` (it would otherwise pull another torch)."""
import importlib


def import_torchvision(submodule=None):
    """``torchvision`` (or ``torchvision.<submodule>``), importable on a CPU-only machine."""
    import torch
    original = torch.library.register_fake
    torch.library.register_fake = lambda *args, **kwargs: (lambda fn: fn)
    try:
        module = importlib.import_module("torchvision")
    finally:
        torch.library.register_fake = original
    return importlib.import_module(f"torchvision.{submodule}") if submodule else module
