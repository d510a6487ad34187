"""``torch.backends.mps``: Apple's GPU backend, not available in Ember (CPU only)."""


def is_available():
    """Always ``False``."""
    return False


def is_built():
    """Always ``False``."""
    return False
