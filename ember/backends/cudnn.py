"""``torch.backends.cudnn``: not available in Ember (CPU only). ``enabled``, ``benchmark`` and
``deterministic`` can be set, as scripts do, and change nothing: Ember's CPU kernels are
deterministic and have no algorithm search."""

enabled = True
benchmark = False
deterministic = False


def is_available():
    """Always ``False``."""
    return False
