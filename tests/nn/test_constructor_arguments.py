"""Layer constructors refuse sizes that are not integers at once, with torch's error types
(``nn.Linear(3.5, 2)`` is a TypeError when built, not an obscure failure in forward)."""
import pytest
import torch

import ember

# torch refuses these when the layer is built (its parameter allocation wants int sizes)
AT_CONSTRUCTION = [
    "Linear(3.5, 2)", "Linear(3, 2.0)", "Linear('3', 2)", "Linear(None, 2)", "Linear(-1, 2)",
    "Bilinear(2, 3.0, 4)", "Conv2d(24, 44.0, 3)", "Conv2d(24.0, 44, 3)", "Conv2d(3, 4, 3.0)",
    "Conv2d(3, 4, (3, 3.0))", "Conv2d(4, 4, 3, groups=2.0)", "Conv2d(-3, 4, 3)",
    "Conv2d(3, 4, -1)", "Conv1d(2, 3, 2.5)", "Conv3d(2, 3.0, 2)", "ConvTranspose2d(3, 4.0, 3)",
    "ConvTranspose1d(3.0, 4, 3)", "BatchNorm2d(3.0)",
    "BatchNorm1d(-3)", "InstanceNorm2d(3.0, affine=True)", "LayerNorm((3, 2.0))",
    "LayerNorm(-2)", "GroupNorm(2, 4.0)", "Embedding(10.0, 3)", "Embedding(10, 3.0)",
    "Embedding(-1, 3)", "PReLU(2.0)", "MultiheadAttention(8.0, 2)", "Linear(3)",
]
# torch builds these and fails at the first forward pass with the same error type; Ember
# refuses them when built
AT_FIRST_FORWARD = [
    ("Conv2d(3, 4, 3, stride=1.5)", (1, 3, 8, 8)), ("Conv2d(3, 4, 3, padding=1.0)", (1, 3, 8, 8)),
    ("Conv2d(3, 4, 3, dilation=(1, 2.0))", (1, 3, 8, 8)), ("GroupNorm(2.0, 4)", (2, 4, 3)),
    ("MultiheadAttention(8, 2.0)", None), ("LazyConv2d(4.0, 3)", (1, 3, 8, 8)),
    ("LazyLinear(2.5)", (2, 3)),
]
ACCEPTED = ["Linear(True, 2)", "Linear(0, 2)", "Conv2d(3, 4, 3, padding='same')",
            "Conv2d(3, 4, [3, 2], stride=(2, 1), padding=(1, 0))", "LayerNorm([4, 5])",
            "MultiheadAttention(6, 3, kdim=4, vdim=None)", "Embedding(10, 3, padding_idx=0)"]


@pytest.mark.parametrize("call", AT_CONSTRUCTION)
def test_refused_when_built_with_torchs_error_type(call):
    with pytest.raises(Exception) as theirs:
        eval("torch.nn." + call)
    with pytest.raises(type(theirs.value)) as ours:
        eval("ember.nn." + call)
    if isinstance(ours.value, TypeError) and "missing" not in str(ours.value):
        layer = call.split("(")[0]
        assert str(ours.value).startswith(f"{layer}: ") and "must be an int" in str(ours.value)


@pytest.mark.parametrize("call,shape", AT_FIRST_FORWARD)
def test_refused_when_built_where_torch_fails_at_the_first_forward(call, shape):
    with pytest.raises(TypeError, match=call.split("(")[0]):
        eval("ember.nn." + call)
    layer = eval("torch.nn." + call)
    with pytest.raises(TypeError):
        if shape is None:
            q = torch.zeros(3, 1, 8)
            layer(q, q, q)
        else:
            layer(torch.zeros(*shape))


@pytest.mark.parametrize("call", ACCEPTED)
def test_accepted_like_torch(call):
    ours, theirs = eval("ember.nn." + call), eval("torch.nn." + call)
    assert repr(ours) == repr(theirs)


def test_message_names_layer_argument_and_value():
    with pytest.raises(TypeError, match=r"^Conv2d: out_channels must be an int, got 44.0 \(float\)$"):
        ember.nn.Conv2d(24, 44.0, 3)
    with pytest.raises(RuntimeError, match=r"^Linear: in_features must not be negative"):
        ember.nn.Linear(-1, 2)
