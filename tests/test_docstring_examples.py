"""The ``>>>`` examples in the docstrings of Ember's main public functions run and print what
they show (``doctest``), so the documentation cannot drift from the code."""
import doctest
import importlib

import pytest

import ember

MODULES = ["ember._creation", "ember._tensor", "ember.autograd", "ember.autograd.custom_function",
           "ember.ops.activation", "ember.ops.loss", "ember.ops.conv", "ember.ops.pooling",
           "ember.nn.modules.linear", "ember.nn.modules.conv", "ember.optim.sgd"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    ember.manual_seed(0)
    module = importlib.import_module(name)
    names = {"ember": ember, "nn": ember.nn, "F": ember.nn.functional}
    result = doctest.testmod(module, extraglobs=names, optionflags=doctest.NORMALIZE_WHITESPACE,
                             report=False)
    assert result.attempted > 0, f"{name} has no >>> examples"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed"
