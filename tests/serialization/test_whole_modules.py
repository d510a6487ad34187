"""Whole modules, optimizers and schedulers through ember.save / ember.load, the safe way:
rebuilt only for allowlisted classes, never importing or calling anything a file names."""
import io
import json
import sys

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F
from ember import serialization
from ember.serialization import add_safe_globals, clear_safe_globals, get_safe_globals, safe_globals
from ember.vision import models
from tests.hostile import rewrite_zip

MANIFEST = serialization.MANIFEST


class Net(nn.Module):
    """A user's model: Ember's layers, a buffer, a frozen parameter, a class attribute."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
        self.scale = nn.Parameter(ember.ones(1), requires_grad=False)
        self.register_buffer("calls", ember.zeros((), dtype=ember.int64))
        self.register_buffer("scratch", ember.zeros(2), persistent=False)
        self.norm_layer = nn.BatchNorm2d
        self.blocks = nn.ModuleList([nn.ReLU(), nn.ReLU()])
        self.by_name = nn.ModuleDict({"drop": nn.Dropout(0.25)})

    def forward(self, x):
        x = self.blocks[0](self.bn(self.conv(x)))
        return self.head(self.by_name["drop"](x)) * self.scale


class HookedNet(nn.Module):
    """A module whose hook is one of its own methods (as Lazy modules register theirs)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)
        self.seen = 0
        self.register_forward_pre_hook(self._count)

    def _count(self, module, args):
        self.seen += 1

    def forward(self, x):
        return self.fc(x)


class Config:
    """A plain object a user allowlists to save it."""

    def __init__(self, lr, layers):
        self.lr = lr
        self.layers = layers


def _roundtrip(obj):
    buffer = io.BytesIO()
    ember.save(obj, buffer)
    buffer.seek(0)
    return ember.load(buffer), buffer.getvalue()


def _load_bytes(data):
    return ember.load(io.BytesIO(data))


@pytest.fixture(autouse=True)
def _no_user_globals():
    clear_safe_globals()
    yield
    clear_safe_globals()


def _train_step(model, optimizer, x, y):
    optimizer.zero_grad()
    F.cross_entropy(model(x), y).backward()
    optimizer.step()


def test_ember_model_optimizer_and_scheduler_round_trip_and_train_on_identically():
    ember.manual_seed(1)
    model = nn.Sequential(models.lenet5(num_classes=8, padded=True), nn.BatchNorm1d(8),
                          nn.Linear(8, 5))
    optimizer = ember.optim.Adam(model.parameters(), lr=1e-3)
    scheduler = ember.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[1, 3], gamma=0.5)
    x, y = ember.randn(4, 1, 28, 28), ember.tensor([0, 1, 4, 2])
    _train_step(model, optimizer, x, y)
    scheduler.step()
    out, _ = _roundtrip({"model": model, "optimizer": optimizer, "scheduler": scheduler})
    model2, optimizer2, scheduler2 = out["model"], out["optimizer"], out["scheduler"]
    assert type(model2) is nn.Sequential and type(model2[0]) is models.LeNet5
    assert type(optimizer2) is ember.optim.Adam
    assert all(p is q for p, q in zip(model2.parameters(), optimizer2.param_groups[0]["params"]))
    assert scheduler2.optimizer is optimizer2 and scheduler2.milestones[7] == 0
    assert repr(model2) == repr(model)
    for m, o, s in ((model, optimizer, scheduler), (model2, optimizer2, scheduler2)):
        for _ in range(3):
            _train_step(m, o, x, y)
            s.step()
    for (name, p), q in zip(model.state_dict().items(), model2.state_dict().values()):
        np.testing.assert_array_equal(p.numpy(), q.numpy(), err_msg=name)
    assert optimizer.param_groups[0]["lr"] == optimizer2.param_groups[0]["lr"] == 2.5e-4


def test_a_user_model_needs_the_allowlist():
    model = Net()
    model.eval()
    x = ember.randn(2, 1, 6, 6)
    buffer = io.BytesIO()
    ember.save(model, buffer)
    data = buffer.getvalue()
    name = f"{__name__}.Net"
    for weights_only in (None, False):
        with pytest.raises(ember.FileFormatError) as info:
            ember.load(io.BytesIO(data), weights_only=weights_only)
        message = str(info.value)
        assert f"holds an object of class '{name}', which is not on Ember's allowlist" in message
        assert "add_safe_globals([Net])" in message and "safe_globals([Net])" in message
        assert "\n" not in message
    with safe_globals([Net]):
        loaded = _load_bytes(data)
    with pytest.raises(ember.FileFormatError):
        _load_bytes(data)
    add_safe_globals([Net])
    assert get_safe_globals() == [Net]
    again = _load_bytes(data)
    for out in (loaded, again):
        assert type(out) is Net and not out.training
        np.testing.assert_array_equal(out(x).detach().numpy(), model(x).detach().numpy())
        assert out.norm_layer is nn.BatchNorm2d and type(out.blocks) is nn.ModuleList
        assert not out.scale.requires_grad and isinstance(out.scale, nn.Parameter)
        assert "scratch" not in out.state_dict() and out.calls.dtype == ember.int64
    clear_safe_globals()
    assert get_safe_globals() == []


def test_a_class_saved_under_another_name_is_allowed_by_a_pair():
    buffer = io.BytesIO()
    ember.save(Net(), buffer)
    renamed = rewrite_zip(buffer.getvalue(), lambda n, c: c.replace(
        f'"{__name__}.Net"'.encode(), b'"__main__.Net"') if n == MANIFEST else c)
    with pytest.raises(ember.FileFormatError, match="class '__main__.Net'"):
        _load_bytes(renamed)
    with safe_globals([(Net, "__main__.Net")]):
        assert type(_load_bytes(renamed)) is Net


def test_hooks_that_are_methods_of_the_module_survive():
    model = HookedNet()
    add_safe_globals([HookedNet])
    loaded, _ = _roundtrip(model)
    loaded(ember.ones(1, 2))
    assert loaded.seen == 1 and model.seen == 0


def test_allowlisted_plain_objects_and_ember_values():
    add_safe_globals([Config])
    config = Config(0.1, [3, 4])
    out, _ = _roundtrip({"config": config, "again": config, "dtype": ember.float64,
                         "device": ember.device("cpu"), "fn": Config})
    assert type(out["config"]) is Config and out["config"] is out["again"]
    assert vars(out["config"]) == {"lr": 0.1, "layers": [3, 4]}
    assert out["dtype"] is ember.float64 and out["device"] == ember.device("cpu")
    assert out["fn"] is Config


def test_what_cannot_be_saved_says_what_works(tmp_path):
    model = Net()
    model.act = lambda x: x
    with pytest.raises(TypeError, match=r"cannot save <function .*<lambda>.* at obj.act: "):
        ember.save(model, tmp_path / "m.ember")

    class Local(nn.Module):
        pass
    with pytest.raises(TypeError, match="type Local at obj: its class is defined inside a "
                                        "function"):
        ember.save(Local(), tmp_path / "m.ember")
    with pytest.raises(TypeError, match=r"type Config at obj\['c'\]: it is not a module, "
                                        r"optimizer or scheduler, and its class is not "
                                        r"allowlisted\. Supported: .*add_safe_globals.*"
                                        r"model.state_dict\(\) is always savable"):
        ember.save({"c": Config(1, 2)}, tmp_path / "m.ember")
    with pytest.raises(TypeError, match="type Generator at obj"):
        ember.save(np.random.default_rng(0), tmp_path / "m.ember")
    assert not list(tmp_path.iterdir())


def _evil_module(tmp_path, monkeypatch):
    """A module on sys.path whose import would leave a marker file."""
    marker = tmp_path / "imported"
    (tmp_path / "evilmod.py").write_text(
        f"open({str(marker)!r}, 'w').close()\n"
        "class Payload:\n    def __setstate__(self, state):\n"
        f"        open({str(marker)!r}, 'a').write('called')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return marker


@pytest.mark.parametrize("root, message", [
    ({"$type": "object", "id": 0, "class": "evilmod.Payload", "state": []},
     "holds an object of class 'evilmod.Payload', which is not on Ember's allowlist"),
    ({"$type": "global", "name": "evilmod.Payload"}, "names the class or function 'evilmod.Payload'"),
    ({"$type": "global", "name": "os.system"}, "'os.system', which is not"),
    ({"$type": "object", "id": 0, "class": "subprocess.Popen", "state": [["args", "id"]]},
     "class 'subprocess.Popen'"),
    ({"$type": "object", "id": 0, "class": "ember.load", "state": []}, "'ember.load', which is not"),
    ({"$type": "global", "name": "ember.serialization.save"}, "'ember.serialization.save'"),
    ({"$type": "object", "id": 0, "class": "builtins.dict", "state": [["x", 1]]},
     "cannot rebuild a builtins.dict"),
    ({"$type": "dict", "items": [], "default_factory": {"$type": "global", "name": "os.getcwd"}},
     "'os.getcwd'"),
    ({"$type": "method", "object": [], "name": "append"}, "bound to something that is not an "
                                                          "object of the file"),
])
def test_malicious_files_import_and_call_nothing(tmp_path, monkeypatch, root, message):
    marker = _evil_module(tmp_path, monkeypatch)
    good = io.BytesIO()
    ember.save({"w": ember.ones(1)}, good)
    data = rewrite_zip(good.getvalue(), lambda n, c: json.dumps(
        {"format": "ember.save", "version": 2, "root": root}).encode() if n == MANIFEST else c)
    with pytest.raises(ember.FileFormatError, match=message.replace("(", r"\(").replace(
            ")", r"\)").replace(".", r"\.")):
        _load_bytes(data)
    assert "evilmod" not in sys.modules and not marker.exists()


def _linear_with_state(change):
    """A saved ``nn.Linear(2, 2)`` whose attribute list went through ``change``."""
    buffer = io.BytesIO()
    ember.save(nn.Linear(2, 2), buffer)

    def edit(name, content):
        if name != MANIFEST:
            return content
        manifest = json.loads(content)
        manifest["root"]["state"] = change(manifest["root"]["state"])
        return json.dumps(manifest).encode()
    return rewrite_zip(buffer.getvalue(), edit)


@pytest.mark.parametrize("change, message", [
    (lambda state: [s for s in state if s[0] != "_parameters"] + [["_parameters", []]],
     "has an invalid '_parameters'"),
    (lambda state: [s if s[0] != "training" else ["training", "yes"] for s in state],
     "has an invalid 'training'"),
    (lambda state: [s if s[0] != "_modules" else ["_modules", {
        "$type": "dict", "ordered": True, "items": [["x", 3]]}] for s in state],
     "has a child that is not a Module"),
    (lambda state: {"not": "a list"}, "no valid 'state' field"),
    (lambda state: state + [[1, 2]], "bad attribute"),
])
def test_rebuilt_modules_are_checked(change, message):
    with pytest.raises(ember.FileFormatError, match=message):
        _load_bytes(_linear_with_state(change))


def test_missing_module_attributes_are_filled_as_an_older_ember_would_have_them():
    linear = _load_bytes(_linear_with_state(
        lambda state: [s for s in state if s[0] != "_state_dict_hooks"]))
    assert linear.state_dict().keys() == {"weight", "bias"}


def test_object_ids_must_come_in_order():
    buffer = io.BytesIO()
    shared = nn.ReLU()
    ember.save([shared, shared], buffer)
    out = _load_bytes(buffer.getvalue())
    assert out[0] is out[1]
    data = rewrite_zip(buffer.getvalue(), lambda n, c: c.replace(b'"id": 0, "class"', b'"id": 5, '
                                                                 b'"class"') if n == MANIFEST else c)
    with pytest.raises(ember.FileFormatError, match="object id 5 where id 0 comes next"):
        _load_bytes(data)


def test_the_allowlist_api_checks_its_arguments():
    with pytest.raises(TypeError, match="no importable name"):
        add_safe_globals([lambda: 0])
    with pytest.raises(TypeError, match="expected a list"):
        add_safe_globals(Net)
    with pytest.raises(TypeError, match="a pair must be"):
        add_safe_globals([(Net, 3)])
    with pytest.raises(TypeError, match="is not a class or function"):
        add_safe_globals([(3, "x.y")])
