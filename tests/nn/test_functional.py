"""ember.nn.functional re-exports every primitive of the ops families under torch's names."""
import importlib

import numpy as np
import pytest
import torch

import ember
import ember.nn.functional as F

FAMILIES = ["activation", "affine", "attention", "conv", "distance", "dropout", "embedding", "loss",
            "norm", "pooling", "resampling"]


@pytest.mark.parametrize("family", FAMILIES)
def test_every_primitive_is_reexported(family):
    mod = importlib.import_module(f"ember.ops.{family}")
    assert mod.__all__
    for name in mod.__all__:
        assert getattr(F, name) is getattr(mod, name), name


def test_names_the_layers_and_lectures_use_exist_in_torch_too():
    ember_only = {"local_contrast_norm", "maxout", "convolve1d", "convolve2d", "convolve3d"}
    names = {n for fam in FAMILIES for n in importlib.import_module(f"ember.ops.{fam}").__all__}
    assert {n for n in names if not hasattr(torch.nn.functional, n)} == ember_only


def test_one_hot_sigmoid_tanh():
    idx = np.array([0, 2, 1])
    np.testing.assert_array_equal(F.one_hot(ember.tensor(idx), 4).numpy(),
                                  torch.nn.functional.one_hot(torch.tensor(idx), 4).numpy())
    x = np.linspace(-3, 3, 7).astype(np.float32)
    np.testing.assert_allclose(F.sigmoid(ember.tensor(x)).numpy(),
                               torch.sigmoid(torch.tensor(x)).numpy(), rtol=1e-6)
    np.testing.assert_allclose(F.tanh(ember.tensor(x)).numpy(),
                               torch.tanh(torch.tensor(x)).numpy(), rtol=1e-6)
