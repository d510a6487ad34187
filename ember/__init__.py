"""Ember: a deep-learning framework for images, from first principles on NumPy.

The API mirrors PyTorch's for what it covers, so ``import ember as torch`` runs
lecture-style PyTorch code::

    import ember
    x = ember.randn(3, requires_grad=True)
    y = ((-x + 3) ** 2).sum()      # lecture 003 "Backpropagation": f(x) = (-x + 3)^2
    y.backward()                  # x.grad == 2 * (x - 3)
"""
import importlib as _importlib

from ember import _dtype
from ember._dtype import (bool_ as bool, dtype, float16, float32, float64, get_default_dtype,
                          int8, int16, int32, int64, promote_types, set_default_dtype, uint8)
from ember._dtype import result_type as _result_type
from ember._tensor import Size, Tensor, device
from ember import _tensor_methods  # noqa: F401  (binds operators and methods to Tensor)
from ember._creation import *  # noqa: F401,F403
from ember._creation import diagonal
from ember._random import (Generator, default_generator, get_rng_state, initial_seed, manual_seed,
                           seed, set_rng_state)
from ember.autograd import (enable_grad, inference_mode, is_grad_enabled, no_grad,
                            set_grad_enabled)
from ember.ops.elementwise import *  # noqa: F401,F403
from ember.ops.indexing import *  # noqa: F401,F403
from ember.ops.linalg import *  # noqa: F401,F403
from ember.ops.linalg_decompositions import det, inverse, logdet, pinverse, slogdet  # noqa: F401
from ember.ops.reduction import *  # noqa: F401,F403
from ember.ops.shape import *  # noqa: F401,F403
from ember import autograd
from ember._parallel import get_num_threads, set_num_threads

__version__ = "0.1.0"

float = float32
double = float64
half = float16
long = int64
int = int32
short = int16
from ember._legacy_types import *  # noqa: F401,F403  (FloatTensor, LongTensor, ...)


def result_type(tensor1, tensor2):
    return _result_type(tensor1, tensor2)


def is_tensor(obj):
    return isinstance(obj, Tensor)


def is_floating_point(input):
    return input.is_floating_point()


def numel(input):
    return input.numel()


def is_complex(input):
    return input.is_complex()


def is_conj(input):
    return input.is_conj()


def is_neg(input):
    return input.is_neg()


def is_signed(input):
    return input.is_signed()


def is_nonzero(input):
    return input.is_nonzero()


def is_same_size(input, other):
    return input.is_same_size(other)


def can_cast(from_, to):
    import numpy as _np
    return bool(_np.can_cast(from_.np, to.np, casting="same_kind")) and not (
        from_.is_floating_point and not to.is_floating_point)


def softmax(input, dim, dtype=None):
    from ember.nn.functional import softmax as _softmax
    return _softmax(input, dim, dtype=dtype)


def log_softmax(input, dim, dtype=None):
    from ember.nn.functional import log_softmax as _log_softmax
    return _log_softmax(input, dim, dtype=dtype)


_LAZY = {"nn": "ember.nn", "optim": "ember.optim", "utils": "ember.utils", "vision": "ember.vision",
         "serialization": "ember.serialization", "cuda": "ember.cuda",
         "accelerator": "ember.accelerator", "backends": "ember.backends",
         "profiler": "ember.profiler", "linalg": "ember.linalg", "onnx": "ember.onnx",
         "classical": "ember.classical", "multiprocessing": "ember.multiprocessing",
         "reading": "ember.reading"}
_LAZY_ATTRS = {"save": ("ember.serialization", "save"), "load": ("ember.serialization", "load"),
               "FileFormatError": ("ember.reading", "FileFormatError"),
               "summary": ("ember._summary", "summary")}


def __getattr__(name):
    if name in _LAZY:
        return _importlib.import_module(_LAZY[name])
    if name in _LAZY_ATTRS:
        mod, attr = _LAZY_ATTRS[name]
        return getattr(_importlib.import_module(mod), attr)
    raise AttributeError(f"module 'ember' has no attribute {name!r}")


from ember import _numpy_names  # noqa: E402
_numpy_names.install(globals(), Tensor)   # axis= / keepdims= / x= wherever torch accepts them
