"""``torch.cuda`` as seen from a machine without a GPU: Ember runs on the CPU only.

Scripts written for PyTorch start with ``device = torch.device("cuda" if
torch.cuda.is_available() else "cpu")`` and seed with ``torch.cuda.manual_seed_all``; both
work and take the CPU branch. As in torch without CUDA, the seeding functions are silently
ignored (the CPU generator is seeded by ``ember.manual_seed``). Moving a tensor to ``"cuda"``
is an error that says so.
"""

__all__ = ["is_available", "device_count", "manual_seed", "manual_seed_all"]


def is_available():
    """Always ``False``: Ember has no GPU backend."""
    return False


def device_count():
    """Always ``0``."""
    return 0


def manual_seed(seed):
    """Ignored, as torch ignores it when CUDA is not available."""


def manual_seed_all(seed):
    """Ignored, as torch ignores it when CUDA is not available."""
