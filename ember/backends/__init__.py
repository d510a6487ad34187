"""``torch.backends`` flags that CPU scripts set or query (``cudnn.benchmark = True``,
``mps.is_available()``). Ember has neither backend; the flags exist so that such scripts
run, and have no effect (as on a CPU-only torch)."""
from ember.backends import cudnn, mps

__all__ = ["cudnn", "mps"]
