"""``ember.nn.functional`` (``torch.nn.functional``): the stateless functions behind the layers.

Everything here is defined in ``ember/ops`` (one file per family) and re-exported under
torch.nn.functional's names and signatures, e.g. ``F.relu``, ``F.conv2d``, ``F.max_pool2d``,
``F.cross_entropy``.
"""
from ember.ops.activation import *  # noqa: F401,F403
from ember.ops.conv import *  # noqa: F401,F403
from ember.ops.dropout import *  # noqa: F401,F403
from ember.ops.elementwise import sigmoid, tanh  # noqa: F401
from ember.ops.indexing import one_hot  # noqa: F401
from ember.ops.linear import *  # noqa: F401,F403
from ember.ops.loss import *  # noqa: F401,F403
from ember.ops.norm import *  # noqa: F401,F403
from ember.ops.pool import *  # noqa: F401,F403
