"""Run the same user script under PyTorch and under Ember.

A scenario is the text of a script written for PyTorch. ``run_script(src, "torch")`` executes
it as written. ``run_script(src, "ember")`` executes it with only its import lines rewritten
(``import torch`` -> ``import ember as torch``, ``import torch.nn as nn`` -> ``import ember.nn
as nn``, ``from torch.x import y`` -> ``from ember.x import y``, ``torchvision`` ->
``ember.vision``), which is the promise ``import ember as torch`` makes.
``run_script(src, "compat")`` executes it unchanged under Ember's import hook
(``ember.compat.torch_aliases``: what ``python -m ember.compat script.py`` does). The
script's module-level names are returned so that the test can compare what it computed.
"""
import re

_PACKAGES = r"(torchvision|torch)"
_IMPORT_AS = re.compile(rf"^(\s*)import {_PACKAGES}((?:\.\w+)*) as (\w+)\s*$", re.M)
_IMPORT = re.compile(r"^(\s*)import torch\s*$", re.M)
_FROM = re.compile(rf"^(\s*)from {_PACKAGES}((?:\.\w+)*) import ", re.M)
_ANY_TORCH_IMPORT = re.compile(r"^\s*(?:from|import(?:\s+[\w.]+\s*,)*)\s*torch(?:vision)?\b.*$",
                               re.M)
_EMBER = {"torch": "ember", "torchvision": "ember.vision"}


def to_ember(src):
    """The script text with its torch imports pointed at ember (nothing else changes)."""
    src = _IMPORT_AS.sub(lambda m: f"{m.group(1)}import {_EMBER[m.group(2)]}{m.group(3)} "
                                   f"as {m.group(4)}", src)
    src = _IMPORT.sub(lambda m: f"{m.group(1)}import ember as torch", src)
    return _FROM.sub(lambda m: f"{m.group(1)}from {_EMBER[m.group(2)]}{m.group(3)} import ",
                     src)


def run_script(src, lib, **inputs):
    """Execute ``src`` under ``lib`` ("torch", "ember" or "compat") with ``inputs``
    predefined; return the script's global namespace."""
    assert lib in ("torch", "ember", "compat")
    code = to_ember(src) if lib == "ember" else src
    if lib == "ember":
        left = _ANY_TORCH_IMPORT.findall(code)
        assert not left, f"import lines the rewrite does not cover (would run torch): {left}"
    namespace = {"__name__": f"scenario_{lib}", **inputs}
    compiled = compile(code, f"<scenario:{lib}>", "exec")
    if lib == "compat":
        from ember.compat import torch_aliases
        with torch_aliases():
            exec(compiled, namespace)
    else:
        exec(compiled, namespace)
    return namespace


def torch_state_as_numpy(state_dict):
    """A torch ``state_dict`` as NumPy arrays (what a user would hand to another library)."""
    return {k: v.detach().cpu().numpy().copy() for k, v in state_dict.items()}


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def assert_report_as_accurate_as_torchs(ours, theirs, exact, rtol=1e-5, atol=1e-6):
    """``ours`` and ``theirs`` are the same program's float32 reports, ``exact`` its float64
    report under torch. Where float32 rounding is amplified (adaptive steps on near-zero
    gradients, batch norm over a few samples), the two float32 runs may drift apart while
    each stays near the exact one; so, as the optimizer tests do, each of Ember's numbers may
    be at most 4x as far from the float64 number as torch's is, plus ``rtol``/``atol``."""
    import numpy as np
    lines = [r.replace("ember.", "").replace("torch.", "").splitlines()
             for r in (ours, theirs, exact)]
    assert len(lines[0]) == len(lines[1]) == len(lines[2]), (ours, theirs)
    for a, b, x in zip(*lines):
        assert _NUMBER.sub("#", a) == _NUMBER.sub("#", b) == _NUMBER.sub("#", x), (a, b, x)
        va, vb, vx = (np.array([float(v) for v in _NUMBER.findall(s)]) for s in (a, b, x))
        bound = 4 * np.abs(vb - vx) + rtol * np.abs(vx) + atol
        assert np.all(np.abs(va - vx) <= bound), (f"{a!r}: Ember is {np.abs(va - vx)} from the "
                                                  f"float64 report {x!r}, torch's "
                                                  f"{np.abs(vb - vx)}")
