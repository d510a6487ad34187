"""torch's module path ``torch.nn.modules.batchnorm``: the batch-norm classes, which Ember
defines with the other normalization layers in :mod:`ember.nn.modules.normalization`.
Programs import from here (``from torch.nn.modules.batchnorm import _BatchNorm`` for
``isinstance`` tests in weight initialization)."""
from ember.nn.modules.normalization import (BatchNorm1d, BatchNorm2d, BatchNorm3d,  # noqa: F401
                                            LazyBatchNorm1d, LazyBatchNorm2d, LazyBatchNorm3d,
                                            _BatchNorm, _LazyNormBase, _NormBase)

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LazyBatchNorm1d", "LazyBatchNorm2d",
           "LazyBatchNorm3d"]
