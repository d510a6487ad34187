"""``ember.nn`` (``torch.nn``): ``Module``, ``Parameter``, the layer classes, ``init``,
``functional`` and ``utils``.

    import ember as torch
    import ember.nn as nn
    import ember.nn.functional as F

runs the lectures' PyTorch model definitions unchanged (lecture 000's
``Fully_Connected_Layer``, lecture 004's LeNet ``Net`` and ``AlexNet``).
"""
from ember.nn.parameter import (Buffer, Parameter, UninitializedBuffer,  # noqa: F401
                                 UninitializedParameter)
from ember.nn import parameter  # noqa: F401
from ember.nn.modules import *  # noqa: F401,F403
from ember.nn import functional, init, parallel, utils  # noqa: F401
from ember.nn.parallel import DataParallel  # noqa: F401
