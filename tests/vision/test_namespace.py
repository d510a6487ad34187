"""``ember.vision`` advertises only subpackages that exist: every ``name`` its docstring lists
imports as ``ember.vision.name``."""
import re

import ember.vision


def test_every_advertised_subpackage_imports():
    advertised = re.findall(r"``(\w+)``", ember.vision.__doc__)
    assert advertised, "the docstring lists the subpackages"
    assert sorted(advertised) == sorted(ember.vision._SUBMODULES)
    for name in advertised:
        assert getattr(ember.vision, name).__name__ == f"ember.vision.{name}"
