"""The layer classes of ``ember.nn``, one file per family (as in ``torch/nn/modules``)."""
from ember.nn.modules import (activation, attention, container, conv, distance, dropout, flatten,
                              fold, lazy, linear, locally_connected, loss, normalization,
                              padding, pooling, rnn, sparse, transformer, upsampling)
# torch's module paths for classes Ember defines elsewhere (torch.nn.modules.batchnorm, ...)
from ember.nn.modules import batchnorm, instancenorm, pixelshuffle, utils  # noqa: F401
from ember.nn.modules.activation import *  # noqa: F401,F403
from ember.nn.modules.attention import *  # noqa: F401,F403
from ember.nn.modules.container import *  # noqa: F401,F403
from ember.nn.modules.conv import *  # noqa: F401,F403
from ember.nn.modules.distance import *  # noqa: F401,F403
from ember.nn.modules.dropout import *  # noqa: F401,F403
from ember.nn.modules.flatten import *  # noqa: F401,F403
from ember.nn.modules.fold import *  # noqa: F401,F403
from ember.nn.modules.linear import *  # noqa: F401,F403
from ember.nn.modules.locally_connected import *  # noqa: F401,F403
from ember.nn.modules.loss import *  # noqa: F401,F403
from ember.nn.modules.module import Module  # noqa: F401
from ember.nn.modules.normalization import *  # noqa: F401,F403
from ember.nn.modules.padding import *  # noqa: F401,F403
from ember.nn.modules.pooling import *  # noqa: F401,F403
from ember.nn.modules.rnn import *  # noqa: F401,F403
from ember.nn.modules.sparse import *  # noqa: F401,F403
from ember.nn.modules.transformer import *  # noqa: F401,F403
from ember.nn.modules.upsampling import *  # noqa: F401,F403

__all__ = ["Module"] + [
    name for family in (activation, attention, container, conv, distance, dropout, flatten, fold,
                        linear, locally_connected, loss, normalization, padding, pooling, rnn,
                        sparse, transformer, upsampling)
    for name in family.__all__]
