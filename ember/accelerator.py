"""``torch.accelerator`` (the device-agnostic API of recent PyTorch tutorials:
``device = torch.accelerator.current_accelerator().type if torch.accelerator.is_available()
else "cpu"``): Ember has no accelerator, so the CPU branch is taken."""

__all__ = ["is_available", "current_accelerator", "device_count"]


def is_available():
    """Always ``False``: Ember runs on the CPU only."""
    return False


def current_accelerator(check_available=False):
    """``None``: there is no accelerator (torch returns None when none is present)."""
    return None


def device_count():
    """Always ``0``."""
    return 0
