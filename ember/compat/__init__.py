"""Run programs written for PyTorch on Ember, unchanged: ``python -m ember.compat script.py``.

``import ember as torch`` asks the user to edit a program's imports; this hook edits nothing.
While it is installed, the import system serves Ember's modules under PyTorch's names:

=====================================  =====================================
the program imports                    and gets
=====================================  =====================================
``torch``, ``torch.X.Y``               ``ember``, ``ember.X.Y``
``torchvision``, ``torchvision.X``     ``ember.vision``, ``ember.vision.X``
=====================================  =====================================

so ``import torch.nn as nn``, ``from torchvision import datasets, transforms`` and
``from torch.optim.lr_scheduler import StepLR`` all resolve to Ember -- in the program and in
every library it imports (the d2l book's ``d2l.torch`` runs this way). Child processes that
the program starts with ``multiprocessing`` (fork, spawn or forkserver) get the same names.

Use it from the command line (``python -m ember.compat script.py [args]`` or
``python -m ember.compat -m package.module [args]``), with :func:`install` at the top of a
program, or around a block with :func:`torch_aliases` (which also works in a process where
the real PyTorch is imported: it sets PyTorch's modules aside and puts them back).

Limits (what the hook does not do):

* It maps names, nothing else. A module or attribute Ember does not have is an error that
  names it (``ModuleNotFoundError: ember.compat: the program imports torch.distributed; Ember
  has no ember.distributed``); nothing falls back to PyTorch.
* Ember runs on the CPU: ``torch.cuda.is_available()`` is False, so programs take their CPU
  path; ``.cuda()`` is an error. ``nn.DataParallel`` keeps the module, as torch's does
  without GPUs.
* Ember never downloads: ``datasets.MNIST(..., download=True)`` fails with the list of files
  to copy; bundled data (``ember.vision.datasets.MNISTSample``, ``FakeData``) needs none.
* Whole pickled modules (``torch.save(model)`` / ``torch.load(f)``) are not loaded freely:
  unpickling runs whatever code the file names, so Ember reads only tensors, containers and
  the classes on its allowlist.
* Compiled PyTorch extensions (C++/CUDA operators) cannot run; ``torch.__version__`` is
  Ember's own version.
"""
import contextlib
import importlib
import importlib.abc
import importlib.util
import multiprocessing
import multiprocessing.spawn
import sys

__all__ = ["install", "uninstall", "installed", "torch_aliases", "ember_name"]

# PyTorch's top-level packages and the Ember packages that stand for them
PREFIXES = (("torchvision", "ember.vision"), ("torch", "ember"))


def ember_name(name):
    """The Ember module that stands for PyTorch's module ``name`` (None if it is not one)."""
    for prefix, target in PREFIXES:
        if name == prefix or name.startswith(prefix + "."):
            return target + name[len(prefix):]
    return None


class _AliasLoader(importlib.abc.Loader):
    """Serves an already imported Ember module under a PyTorch name."""

    def __init__(self, module):
        self.module = module
        self.original_spec = module.__spec__

    def create_module(self, spec):
        return self.module

    def exec_module(self, module):
        # the import system stamped the alias's spec on the module; it keeps its own
        module.__spec__ = self.original_spec


class TorchAliasFinder(importlib.abc.MetaPathFinder):
    """The meta-path finder behind the hook; ``served`` lists the modules it handed out."""

    def __init__(self):
        self.served = {}

    def find_spec(self, fullname, path=None, target=None):
        target_name = ember_name(fullname)
        if target_name is None:
            return None
        try:
            module = importlib.import_module(target_name)
        except ModuleNotFoundError as e:
            if e.name is None or not target_name.startswith(e.name):
                raise
            raise ModuleNotFoundError(
                f"ember.compat: the program imports {fullname}; Ember has no {target_name} "
                f"(a part of PyTorch that Ember does not provide)", name=fullname) from None
        self.served[fullname] = module
        return importlib.util.spec_from_loader(fullname, _AliasLoader(module),
                                               is_package=hasattr(module, "__path__"))


_finder = None
_spawn_command_line = multiprocessing.spawn.get_command_line


def installed():
    """Whether the hook is active in this process."""
    return _finder is not None


def install():
    """Serve Ember under PyTorch's names from now on (idempotent). Call it before the program
    first imports torch; use :func:`torch_aliases` where the real torch is already loaded."""
    global _finder
    if _finder is not None:
        return
    real = [n for n in ("torch", "torchvision") if n in sys.modules
            and not getattr(sys.modules[n], "__name__", "").startswith("ember")]
    if real:
        raise RuntimeError(f"ember.compat.install: {real[0]} (PyTorch's) is already imported in "
                           f"this process; install the hook before the program imports it, or "
                           f"run a block under ember.compat.torch_aliases()")
    _finder = TorchAliasFinder()
    sys.meta_path.insert(0, _finder)
    multiprocessing.spawn.get_command_line = _command_line_with_hook
    multiprocessing.set_forkserver_preload(["ember.compat._activate"])


def uninstall():
    """Stop serving Ember under PyTorch's names (modules already imported stay as they are)."""
    global _finder
    if _finder is None:
        return
    sys.meta_path.remove(_finder)
    _finder = None
    multiprocessing.spawn.get_command_line = _spawn_command_line
    multiprocessing.set_forkserver_preload(["__main__"])


def _command_line_with_hook(**kwargs):
    """A spawned child's command line, with the hook installed before it imports the program
    (``spawn`` re-runs the main script in the child)."""
    command = _spawn_command_line(**kwargs)
    if "-c" in command:
        i = command.index("-c") + 1
        command[i] = "import ember.compat._activate; " + command[i]
    return command


def _is_torch_name(name):
    return ember_name(name) is not None


def _uses(module, package):
    """Whether ``module``'s globals hold modules or objects of ``package`` ("torch",
    "ember"): the module imported that package and must not outlive its setting."""
    for value in list(vars(module).values()):
        owner = value.__name__ if isinstance(value, type(sys)) else \
            getattr(value, "__module__", None)
        if isinstance(owner, str) and (owner == package or owner.startswith(package + ".")):
            return True
    return False


def _set_aside(names, detach=False):
    """Remove ``names`` from ``sys.modules`` (with ``detach``, also from their parent
    packages' attributes, so that ``from package import name`` imports it again); return
    what is needed to put them back."""
    removed = []
    for name in names:
        module = sys.modules.pop(name)
        parent_name, _, child = name.rpartition(".")
        parent = sys.modules.get(parent_name)
        attached = detach and parent is not None and vars(parent).get(child) is module
        if attached:
            del vars(parent)[child]
        removed.append((name, module, attached))
    return removed


def _put_back(removed):
    for name, module, attached in removed:
        sys.modules[name] = module
        parent_name, _, child = name.rpartition(".")
        if attached and parent_name in sys.modules:
            setattr(sys.modules[parent_name], child, module)


@contextlib.contextmanager
def torch_aliases():
    """Within the block, ``import torch`` (and ``torchvision``) give Ember, even in a process
    where PyTorch itself is loaded: PyTorch's modules, and the modules that imported them
    (a library such as ``d2l.torch``), are set aside and put back at the end. Modules first
    imported in the block that took Ember under PyTorch's name are dropped at the end, so
    that importing them again afterwards gives their PyTorch versions; the objects the block
    kept stay Ember's."""
    global _finder
    torch_names = [n for n in sys.modules if _is_torch_name(n)]
    dependents = [n for n in sys.modules if n not in torch_names
                  and not n.startswith("ember") and _uses(sys.modules[n], "torch")]
    saved = _set_aside(dependents, detach=True) + _set_aside(torch_names)
    before = set(sys.modules)
    was_installed = _finder is not None
    if not was_installed:
        _finder = TorchAliasFinder()
        sys.meta_path.insert(0, _finder)
    try:
        yield _finder
    finally:
        if not was_installed:
            sys.meta_path.remove(_finder)
            _finder = None
        aliases = [n for n in sys.modules if _is_torch_name(n)]
        new_dependents = [n for n in set(sys.modules) - before if n not in aliases
                          and not n.startswith("ember") and _uses(sys.modules[n], "ember")]
        _set_aside(new_dependents, detach=True)
        _set_aside(aliases)
        _put_back(saved)
