"""``ember.utils``: data loading (``ember.utils.data``), as ``torch.utils``."""
from ember.utils import data

__all__ = ["data"]
