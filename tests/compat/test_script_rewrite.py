"""The scenario runner itself: only import lines change, and a torch import it cannot rewrite
is refused (it would silently compare torch with torch)."""
import pytest

from tests.compat.script import run_script, to_ember


def test_only_import_lines_are_rewritten():
    src = ("import torch\nimport torch.nn as nn\nfrom torch.utils.data import DataLoader\n"
           "from torch import optim\n    import torch.nn.functional as F\n"
           "x = torch.ones(2)  # import torch here stays\n")
    assert to_ember(src) == (
        "import ember as torch\nimport ember.nn as nn\nfrom ember.utils.data import DataLoader\n"
        "from ember import optim\n    import ember.nn.functional as F\n"
        "x = torch.ones(2)  # import torch here stays\n")
    ns = run_script("import torch\nt = torch.zeros(1)\n", "ember")
    assert type(ns["t"]).__module__.startswith("ember")


@pytest.mark.parametrize("line", ["import torch, os", "import os, torch",
                                  "import os, torch.nn as nn"])
def test_uncovered_torch_imports_are_refused(line):
    with pytest.raises(AssertionError, match="would run torch"):
        run_script(line + "\n", "ember")
