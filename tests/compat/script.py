"""Run the same user script under PyTorch and under Ember.

A scenario is the text of a script written for PyTorch. ``run_script(src, "torch")`` executes
it as written; ``run_script(src, "ember")`` executes it with only its import lines rewritten
(``import torch`` -> ``import ember as torch``, ``import torch.nn as nn`` -> ``import ember.nn
as nn``, ``from torch.x import y`` -> ``from ember.x import y``), which is the promise
``import ember as torch`` makes. The script's module-level names are returned so that the
test can compare what it computed.
"""
import re

_IMPORT_AS = re.compile(r"^(\s*)import torch((?:\.\w+)*) as (\w+)\s*$", re.M)
_IMPORT = re.compile(r"^(\s*)import torch\s*$", re.M)
_FROM = re.compile(r"^(\s*)from torch((?:\.\w+)*) import ", re.M)
_ANY_TORCH_IMPORT = re.compile(r"^\s*(?:from|import(?:\s+[\w.]+\s*,)*)\s*torch\b.*$", re.M)


def to_ember(src):
    """The script text with its torch imports pointed at ember (nothing else changes)."""
    src = _IMPORT_AS.sub(lambda m: f"{m.group(1)}import ember{m.group(2)} as {m.group(3)}", src)
    src = _IMPORT.sub(lambda m: f"{m.group(1)}import ember as torch", src)
    return _FROM.sub(lambda m: f"{m.group(1)}from ember{m.group(2)} import ", src)


def run_script(src, lib, **inputs):
    """Execute ``src`` under ``lib`` ("torch" or "ember") with ``inputs`` predefined; return
    the script's global namespace."""
    assert lib in ("torch", "ember")
    code = src if lib == "torch" else to_ember(src)
    if lib == "ember":
        left = _ANY_TORCH_IMPORT.findall(code)
        assert not left, f"import lines the rewrite does not cover (would run torch): {left}"
    namespace = {"__name__": f"scenario_{lib}", **inputs}
    exec(compile(code, f"<scenario:{lib}>", "exec"), namespace)
    return namespace


def torch_state_as_numpy(state_dict):
    """A torch ``state_dict`` as NumPy arrays (what a user would hand to another library)."""
    return {k: v.detach().cpu().numpy().copy() for k, v in state_dict.items()}
