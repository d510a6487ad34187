"""NumPy's argument names (``axis``, ``keepdims``, ``x``/``a``/``x1``, ``x2``) wherever torch
accepts them: every ``torch.*`` function and ``Tensor`` method that torch binds natively."""
import inspect
import types

import numpy as np
import pytest
import torch

import ember
from tests.harness import assert_close

X = np.random.default_rng(0).normal(size=(3, 4, 5)).astype(np.float32)

# Calls written with NumPy's names; each runs under both libraries on the same input.
CALLS = [
    "lib.sum(t, axis=1, keepdims=True)", "t.sum(axis=(0, 2))", "lib.mean(t, axis=-1)",
    "t.mean(axis=1, keepdims=True)", "lib.prod(t, axis=0)", "t.max(axis=1)[0]", "t.max(axis=1)[1]",
    "lib.min(t, axis=2, keepdims=True)[0]", "lib.amax(t, axis=(0, 1))", "t.amin(axis=0)",
    "t.argmax(axis=1)", "lib.argmin(t, axis=2, keepdims=True)", "lib.std(t, axis=1)",
    "t.var(axis=0, keepdims=True)", "lib.var_mean(t, axis=1)[0]", "lib.std_mean(t, axis=1)[1]",
    "lib.logsumexp(t, axis=2)", "lib.all(t > -9, axis=1)", "(t > 0).any(axis=0)",
    "lib.cumsum(t, axis=1)", "t.cumprod(axis=2)", "lib.count_nonzero(t > 0, axis=0)",
    "lib.median(t, axis=1)[0]", "lib.nansum(t, axis=1)", "lib.softmax(t, axis=1)",
    "t.softmax(axis=-1)", "t.log_softmax(axis=0)", "lib.log_softmax(t, axis=2)",
    "lib.cat([t, t], axis=1)", "lib.concat((t, t), axis=0)", "lib.stack([t, t], axis=2)",
    "lib.squeeze(t[:, :1], axis=1)", "lib.unsqueeze(t, axis=0)", "t.unsqueeze(axis=-1)",
    "lib.gather(t, axis=1, index=lib.zeros(3, 1, 5, dtype=lib.int64))",
    "lib.sort(t, axis=1)[0]", "t.argsort(axis=2)", "lib.topk(t, 2, axis=1)[0]",
    "lib.index_select(t, axis=2, index=lib.tensor([0, 3]))", "t.narrow(axis=1, start=1, length=2)",
    "lib.chunk(t, 2, axis=2)[1]", "lib.unbind(t, axis=1)[2]",
    "t.size(axis=1)", "lib.add(x=t, x2=t)", "lib.sum(a=t)", "lib.mul(x1=t, other=t)",
    "t.sum(axis=1, dtype=lib.float64)", "lib.flatten(t, start_dim=1)",
]


@pytest.mark.parametrize("call", CALLS)
def test_numpy_names_give_torch_results(call):
    ours = eval(call, {"lib": ember, "t": ember.tensor(X)})
    theirs = eval(call, {"lib": torch, "t": torch.tensor(X)})
    if isinstance(theirs, int):
        assert ours == theirs
        return
    assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
    assert_close(ours.numpy(), theirs.numpy(), what=call)


def test_a_name_given_twice_is_refused():
    with pytest.raises(TypeError, match="multiple values for argument 'dim'"):
        ember.sum(ember.ones(2, 2), dim=0, axis=1)
    with pytest.raises(TypeError):
        torch.sum(torch.ones(2, 2), dim=0, axis=1)


def test_functional_takes_torch_names_only_as_in_torch():
    x = ember.ones(2, 3)
    with pytest.raises(TypeError):
        ember.nn.functional.softmax(x, axis=1)
    with pytest.raises(TypeError):
        torch.nn.functional.softmax(torch.ones(2, 3), axis=1)


def _takes(fn, name):
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _native(fn):
    """torch binds native functions through its argument parser (NumPy names accepted)."""
    return isinstance(fn, (types.BuiltinFunctionType, types.BuiltinMethodType)) or \
        type(fn).__name__ in ("method_descriptor", "builtin_function_or_method")


def _ember_callables():
    for name in dir(ember):
        if not name.startswith("_") and isinstance(getattr(ember, name), types.FunctionType):
            yield "ember", name, getattr(ember, name), getattr(torch, name, None)
    for name, fn in vars(ember.Tensor).items():
        if not name.startswith("_") and isinstance(fn, types.FunctionType):
            yield "Tensor", name, fn, getattr(torch.Tensor, name, None)


def test_every_native_torch_function_with_dim_takes_axis_in_ember_too():
    missing = []
    for where, name, ours, theirs in _ember_callables():
        if theirs is None or not _native(theirs):
            continue
        for numpy_name, torch_name in [("axis", "dim"), ("keepdims", "keepdim"), ("x2", "other")]:
            if _takes(ours, torch_name) and numpy_name not in getattr(ours, "numpy_names", {}):
                missing.append(f"{where}.{name}({numpy_name}=)")
    assert not missing, missing
