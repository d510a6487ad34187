"""``ember.nn.functional`` (``torch.nn.functional``): the stateless functions behind the layers.

Everything here is defined in ``ember/ops`` (one file per family) and re-exported under
torch.nn.functional's names and signatures, e.g. ``F.relu``, ``F.conv2d``, ``F.max_pool2d``,
``F.cross_entropy``.
"""
from ember.ops.activation import *  # noqa: F401,F403
from ember.ops.affine import *  # noqa: F401,F403
from ember.ops.attention import *  # noqa: F401,F403
from ember.ops.conv import *  # noqa: F401,F403
from ember.ops.distance import *  # noqa: F401,F403
from ember.ops.dropout import *  # noqa: F401,F403
from ember.ops.elementwise import sigmoid, tanh  # noqa: F401
from ember.ops.embedding import *  # noqa: F401,F403
from ember.ops.indexing import one_hot  # noqa: F401
from ember.ops.loss import *  # noqa: F401,F403
from ember.ops.norm import *  # noqa: F401,F403
from ember.ops.pooling import *  # noqa: F401,F403
from ember.ops.resampling import *  # noqa: F401,F403
from ember.ops.shape import pixel_shuffle, pixel_unshuffle  # noqa: F401
