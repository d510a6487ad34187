"""The classes and functions ``ember.load`` may rebuild or return by name.

An Ember file names a class (``"ember.nn.Linear"``) where it holds a whole module or
optimizer, and a class or function where an object's attribute is one (a module's
``_norm_layer``, a defaultdict's factory). Loading such a file resolves the name in this
allowlist and nowhere else -- it never imports a module named by a file:

* Ember's own classes: every subclass of ``nn.Module``, ``optim.Optimizer`` and
  ``optim.lr_scheduler.LRScheduler`` defined at module level in the ``ember`` package,
  under its defining name (``ember.nn.modules.linear.Linear``) and its public one
  (``ember.nn.Linear``);
* the builtin containers and numbers a defaultdict may use as its factory;
* what the user adds: ``add_safe_globals([Net, (make_layer, "scripts.train.make_layer")])``
  for the whole process, or ``with safe_globals([Net]): ember.load(...)`` for a block --
  torch's ``torch.serialization`` functions of the same names.
"""
import contextlib
import contextvars
import importlib
import sys
from collections import OrderedDict

__all__ = ["add_safe_globals", "get_safe_globals", "clear_safe_globals", "safe_globals",
           "Resolver", "global_name", "public_name", "allow_hint"]

# Ember's packages whose classes are allowed; imported when a file needs the allowlist
_EMBER_PACKAGES = ("ember.nn", "ember.optim", "ember.optim.lr_scheduler", "ember.vision.models")
_BUILTINS = {f"builtins.{t.__name__}": t for t in (dict, list, set, frozenset, tuple, int, float,
                                                    str, bool)}
_BUILTINS["collections.OrderedDict"] = OrderedDict

_process_globals = {}
_block_globals = contextvars.ContextVar("ember_safe_globals", default=())


def global_name(obj):
    """``module.qualname`` of a class or function, or None if a file could not name it
    (a lambda, a class or function defined inside a function, a bound method)."""
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str) or "<" in qualname \
            or getattr(obj, "__self__", None) is not None and not isinstance(obj, type):
        return None
    return f"{module}.{qualname}"


def _entries(items, who):
    if isinstance(items, (str, bytes)) or not hasattr(items, "__iter__"):
        raise TypeError(f"{who}: expected a list of classes or functions (or (object, "
                        f"'module.name') pairs), got {type(items).__name__}")
    out = {}
    for item in items:
        if isinstance(item, tuple):
            if len(item) != 2 or not isinstance(item[1], str):
                raise TypeError(f"{who}: a pair must be (class or function, 'module.name'), "
                                f"got {item!r}")
            obj, name = item
        else:
            obj, name = item, global_name(item)
            if name is None:
                raise TypeError(f"{who}: {item!r} has no importable name (a lambda, a local "
                                "class or function, or a bound method); give it one as a pair "
                                "(object, 'module.name')")
        if not callable(obj):
            raise TypeError(f"{who}: {obj!r} is not a class or function")
        out[name] = obj
    return out


def add_safe_globals(safe_globals):
    """Allow ``ember.load`` to rebuild these classes (and return these functions) in every
    file from now on. Items are classes/functions, or ``(object, "module.name")`` pairs for
    one saved under another name."""
    _process_globals.update(_entries(safe_globals, "add_safe_globals"))


def get_safe_globals():
    """The classes and functions added with ``add_safe_globals``."""
    return list(_process_globals.values())


def clear_safe_globals():
    """Forget everything ``add_safe_globals`` added."""
    _process_globals.clear()


@contextlib.contextmanager
def safe_globals(safe_globals):
    """A block in which ``ember.load`` may also rebuild these classes/functions::

        with ember.serialization.safe_globals([Net]):
            model = ember.load("net.ember")
    """
    token = _block_globals.set(_block_globals.get() + (_entries(safe_globals, "safe_globals"),))
    try:
        yield
    finally:
        _block_globals.reset(token)


def _ember_classes():
    """``name -> class`` for Ember's own modules, optimizers and schedulers."""
    for package in _EMBER_PACKAGES:
        importlib.import_module(package)
    from ember.nn import Module
    from ember.optim import Optimizer
    from ember.optim.lr_scheduler import LRScheduler
    found = {}
    pending = [Module, Optimizer, LRScheduler]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        name = global_name(cls)
        if name is None or not name.startswith("ember."):
            continue
        found[name] = cls
        for package in _EMBER_PACKAGES:
            if getattr(sys.modules[package], cls.__name__, None) is cls:
                found[f"{package}.{cls.__name__}"] = cls
    return found


def public_name(obj):
    """The name a file records for ``obj``: the shortest public name of one of Ember's own
    classes (so files survive a reorganisation of Ember's modules), else ``global_name``."""
    name = global_name(obj)
    if name is not None and name.startswith("ember.") and isinstance(obj, type):
        for package in _EMBER_PACKAGES:
            module = sys.modules.get(package)
            if module is not None and getattr(module, obj.__name__, None) is obj:
                return f"{package}.{obj.__name__}"
    return name


class Resolver:
    """The allowlist as it stands when a file starts loading: ``resolve(name)`` is the
    allowed class or function a file calls ``name``, or None. Ember's own classes are
    collected once, on the first name that needs them."""

    def __init__(self):
        self._blocks = _block_globals.get()
        self._process = dict(_process_globals)
        self._ember = None

    def resolve(self, name):
        for block in reversed(self._blocks):
            if name in block:
                return block[name]
        if name in self._process:
            return self._process[name]
        if name in _BUILTINS:
            return _BUILTINS[name]
        if name.startswith("ember."):
            if self._ember is None:
                self._ember = _ember_classes()
            return self._ember.get(name)
        return None


def allow_hint(name):
    """How a message tells the user to allow ``name``."""
    short = name.rsplit(".", 1)[-1]
    return (f"if you trust the file, allow it with ember.serialization.add_safe_globals"
            f"([{short}]) or `with ember.serialization.safe_globals([{short}]): ...` "
            f"(weights_only=False does not lift the allowlist)")
