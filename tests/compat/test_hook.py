"""``ember.compat``: PyTorch's module names served by Ember, in a block (``torch_aliases``),
from the command line (``python -m ember.compat``), and in the program's child processes."""
import importlib
import os
import subprocess
import sys
import textwrap

import pytest
import torch

import ember
from ember import compat

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(args, cwd=ROOT, timeout=120):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-m", "ember.compat", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_names_map_to_ember():
    assert compat.ember_name("torch") == "ember"
    assert compat.ember_name("torch.nn.functional") == "ember.nn.functional"
    assert compat.ember_name("torchvision") == "ember.vision"
    assert compat.ember_name("torchvision.transforms.functional") == \
        "ember.vision.transforms.functional"
    assert compat.ember_name("torchaudio") is None and compat.ember_name("ember") is None


def test_block_serves_ember_and_gives_torch_back():
    with compat.torch_aliases():
        import torch as inner
        import torch.nn.functional as F
        from torch.utils.data import DataLoader
        from torchvision import models
        import torchvision.transforms.functional as TF
        assert inner is ember and F is ember.nn.functional
        assert DataLoader is ember.utils.data.DataLoader and models is ember.vision.models
        assert TF.__name__ == "ember.vision.transforms.functional"
        with pytest.raises(ModuleNotFoundError, match="imports torch.distributed; Ember has no "
                                                      "ember.distributed"):
            importlib.import_module("torch.distributed")
    assert sys.modules["torch"] is torch and "torch.nn.functional" in sys.modules
    assert sys.modules["torch.nn.functional"] is torch.nn.functional
    assert ember.nn.functional.__spec__.name == "ember.nn.functional"   # specs unchanged
    assert not compat.installed()


def test_libraries_imported_in_the_block_are_dropped_afterwards(tmp_path, monkeypatch):
    (tmp_path / "uses_torch.py").write_text("import torch\nkind = torch.__name__\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with compat.torch_aliases():
        import uses_torch
        assert uses_torch.kind == "ember"
    assert "uses_torch" not in sys.modules
    import uses_torch as again
    assert again.kind == "torch"


def test_install_refuses_once_pytorch_is_loaded():
    with pytest.raises(RuntimeError, match="already imported"):
        compat.install()
    assert not compat.installed()


def test_command_line_runs_a_script_with_its_arguments(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent("""
        import sys
        import torch
        import torch.nn as nn
        from torch.optim.lr_scheduler import StepLR
        from torchvision import datasets, transforms
        import helper
        model = nn.Linear(2, 1)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        print(torch.__name__, type(model).__module__, StepLR.__module__, datasets.__name__,
              helper.NAME, sys.argv[1:], __name__)
    """))
    (tmp_path / "helper.py").write_text("import torch\nNAME = torch.__name__\n")
    result = _run([str(script), "--epochs", "1"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ember", "ember.nn.modules.linear", "ember.optim.lr_scheduler",
                                     "ember.vision.datasets", "ember", "['--epochs',", "'1']",
                                     "__main__"]


def test_command_line_runs_a_module_and_reports_mistakes(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "run.py").write_text("import sys, torch\nprint(torch.__name__, "
                                             "sys.argv[1:])\n")
    result = _run(["-m", "pkg.run", "x"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ember ['x']"
    assert _run([]).returncode == 2
    assert "usage" in _run(["--help"]).stdout
    missing = _run([str(tmp_path / "nope.py")])
    assert missing.returncode == 2 and "can't open file" in missing.stderr
    failing = tmp_path / "fails.py"
    failing.write_text("import torch.distributed\n")
    result = _run([str(failing)])
    assert result.returncode == 1
    assert "Ember has no ember.distributed" in result.stderr.splitlines()[-1]


def test_child_processes_of_the_program_get_ember_too(tmp_path):
    script = tmp_path / "children.py"
    script.write_text(textwrap.dedent("""
        import torch
        import torch.multiprocessing as mp

        def work(t, q):
            import torch as inside
            q.put(inside.__name__)
            t += 1

        if __name__ == "__main__":
            for method in ("fork", "spawn", "forkserver"):
                ctx = mp.get_context(method)
                t = torch.zeros(2).share_memory_()
                q = ctx.Queue()
                p = ctx.Process(target=work, args=(t, q))
                p.start()
                name = q.get(timeout=60)
                p.join(60)
                print(method, name, t.tolist(), p.exitcode)
    """))
    result = _run([str(script)])
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"{m} ember [1.0, 1.0] 0"
                                          for m in ("fork", "spawn", "forkserver")]
