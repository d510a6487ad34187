"""NumPy's argument names, accepted wherever torch accepts them.

torch's argument parser lets every function of ``torch.*`` and every ``Tensor`` method take
NumPy's names for four arguments: ``axis`` for ``dim``, ``keepdims`` for ``keepdim``, ``x`` /
``a`` / ``x1`` for ``input`` and ``x2`` for ``other`` -- so ``x.argmax(axis=1)`` and
``torch.sum(x, axis=0, keepdims=True)`` run (the d2l book's code relies on it). Ember does the
same in this one place: :func:`install` wraps, once at import time, every public function of
the ``ember`` namespace and every ``Tensor`` method whose signature has one of torch's names,
so that the NumPy name is renamed before the call. Functions of ``ember.nn.functional`` are
Python functions in torch too and take only torch's names there, as here.
"""
import functools
import inspect
import types

# NumPy's name -> torch's (torch/csrc/utils/python_arg_parser.cpp, numpy_compatibility_arg_names)
NUMPY_NAMES = {"axis": "dim", "keepdims": "keepdim", "x": "input", "a": "input", "x1": "input",
               "x2": "other"}


def accepts_numpy_names(fn):
    """``fn`` wrapped so that NumPy's argument names reach it as torch's; ``fn`` itself when
    its signature has none of torch's names (or already takes the NumPy ones)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return fn
    renames = {alias: name for alias, name in NUMPY_NAMES.items()
               if name in params and alias not in params}
    if not renames:
        return fn

    @functools.wraps(fn)
    def with_numpy_names(*args, **kwargs):
        if kwargs and not renames.keys().isdisjoint(kwargs):
            for alias in [k for k in kwargs if k in renames]:
                name = renames[alias]
                if name in kwargs:
                    raise TypeError(f"{fn.__name__}() got multiple values for argument "
                                    f"'{name}' (as '{name}' and as its NumPy name '{alias}')")
                kwargs[name] = kwargs.pop(alias)
        return fn(*args, **kwargs)

    with_numpy_names.numpy_names = renames
    return with_numpy_names


def install(namespace, tensor_class):
    """Wrap, in place, the public functions of ``namespace`` (a module's ``globals()``) and
    the public methods of ``tensor_class``. Idempotent."""
    for name, value in list(namespace.items()):
        if not name.startswith("_") and _is_plain_function(value):
            namespace[name] = accepts_numpy_names(value)
    for name, value in list(vars(tensor_class).items()):
        if not name.startswith("_") and _is_plain_function(value):
            setattr(tensor_class, name, accepts_numpy_names(value))


def _is_plain_function(value):
    return isinstance(value, types.FunctionType) and not hasattr(value, "numpy_names")
