"""The scenario runner itself: only import lines change, a torch import it cannot rewrite is
refused (it would silently compare torch with torch), and the "compat" mode runs the script
unchanged under Ember's import hook."""
import sys

import pytest
import torch

from tests.compat.script import run_script, to_ember


def test_only_import_lines_are_rewritten():
    src = ("import torch\nimport torch.nn as nn\nfrom torch.utils.data import DataLoader\n"
           "from torch import optim\n    import torch.nn.functional as F\n"
           "from torchvision import datasets\nimport torchvision.utils as vutils\n"
           "x = torch.ones(2)  # import torch here stays\n")
    assert to_ember(src) == (
        "import ember as torch\nimport ember.nn as nn\nfrom ember.utils.data import DataLoader\n"
        "from ember import optim\n    import ember.nn.functional as F\n"
        "from ember.vision import datasets\nimport ember.vision.utils as vutils\n"
        "x = torch.ones(2)  # import torch here stays\n")
    ns = run_script("import torch\nt = torch.zeros(1)\n", "ember")
    assert type(ns["t"]).__module__.startswith("ember")


@pytest.mark.parametrize("line", ["import torch, os", "import os, torch",
                                  "import os, torch.nn as nn", "import torchvision"])
def test_uncovered_torch_imports_are_refused(line):
    with pytest.raises(AssertionError, match="would run torch"):
        run_script(line + "\n", "ember")


def test_compat_mode_runs_the_script_unchanged_on_ember():
    src = ("import torch\nimport torch.nn as nn, os\nfrom torchvision import transforms\n"
           "t = torch.zeros(1)\nlayer = nn.Linear(2, 2)\n")
    ns = run_script(src, "compat")
    assert type(ns["t"]).__module__.startswith("ember")
    assert type(ns["layer"]).__module__.startswith("ember.nn")
    assert ns["transforms"].__name__ == "ember.vision.transforms"
    assert sys.modules["torch"] is torch          # PyTorch is back after the script
