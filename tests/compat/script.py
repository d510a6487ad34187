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


def _numbers(line):
    return [(float(v), len(v.split(".")[1].split("e")[0]) if "." in v else 0)
            for v in _NUMBER.findall(line)]


def _lines(report):
    return report.replace("ember.", "").replace("torch.", "").splitlines()


def assert_same_report(ours, theirs):
    """Two printed reports of float64 runs agree: the text exactly (``ember.``/``torch.``
    prefixes aside) and each number to within one unit of its last printed digit (the two
    runs differ only in summation order, but a value may sit on a rounding boundary)."""
    ours_lines, theirs_lines = _lines(ours), _lines(theirs)
    assert len(ours_lines) == len(theirs_lines), (ours, theirs)
    for a, b in zip(ours_lines, theirs_lines):
        assert _NUMBER.sub("#", a) == _NUMBER.sub("#", b), (a, b)
        for (x, digits), (y, _) in zip(_numbers(a), _numbers(b)):
            assert abs(x - y) <= 1.01 * 10.0 ** -digits + 1e-9 * abs(y), (a, b)


def assert_same_shape_of_report(report, reference):
    """The float32 run printed the lines the float64 run printed (numbers aside), and every
    number is finite. float32 reports are not compared number by number: where training
    passes through ill-conditioned steps (batch norm over a few samples, an optimizer's
    first steps), both libraries' float32 runs leave the exact one by up to several percent,
    each in its own direction, from one initialization to the next."""
    import math
    lines, reference_lines = _lines(report), _lines(reference)
    assert len(lines) == len(reference_lines), (report, reference)
    for a, b in zip(lines, reference_lines):
        assert _NUMBER.sub("#", a) == _NUMBER.sub("#", b), (a, b)
        assert all(math.isfinite(x) for x, _ in _numbers(a)), a
