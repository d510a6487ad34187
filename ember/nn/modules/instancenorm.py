"""torch's module path ``torch.nn.modules.instancenorm``: the instance-norm classes, which
Ember defines in :mod:`ember.nn.modules.normalization`."""
from ember.nn.modules.normalization import (InstanceNorm1d, InstanceNorm2d,  # noqa: F401
                                            InstanceNorm3d, LazyInstanceNorm1d,
                                            LazyInstanceNorm2d, LazyInstanceNorm3d,
                                            _InstanceNorm, _LazyNormBase, _NormBase)

__all__ = ["InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "LazyInstanceNorm1d",
           "LazyInstanceNorm2d", "LazyInstanceNorm3d"]
