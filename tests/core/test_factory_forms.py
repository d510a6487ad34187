"""Every calling form of the factories that torch accepts (positional sizes, one sequence,
``size=``, ``randint(high, size=...)``, ``out=``, ``generator=``, ``dtype=``), and the forms
torch refuses, refused with torch's exception type."""
import numpy as np
import pytest
import torch

import ember

# Each form is run as ``eval(form)`` with ``lib`` bound to ember or torch; ``out``/``out_i``
# are fresh empty float32 / int64 tensors of the library, ``o6`` a float32 tensor of 6
# elements, ``g`` a seeded generator.
VALID = [
    "lib.zeros(2, 3)", "lib.zeros((2, 3))", "lib.zeros([2, 3])", "lib.zeros(size=(2, 3))",
    "lib.zeros(lib.Size([2, 3]))", "lib.zeros(())", "lib.zeros([])", "lib.zeros(np.int32(2), 3)",
    "lib.zeros((np.int64(2),))", "lib.zeros(2, lib.tensor(3))", "lib.zeros(size=lib.Size([2]))",
    "lib.zeros(2, 3, out=out)", "lib.zeros((2, 3), out=out_i)", "lib.zeros(2, 3, out=o6)",
    "lib.zeros(2, dtype=lib.int64, device='cpu')", "lib.zeros(2, requires_grad=True)",
    "lib.ones(size=[2])", "lib.ones(2, 2, out=out)", "lib.ones(3, dtype=lib.float64)",
    "lib.empty(size=(2, 3)).shape", "lib.empty(2, 3, out=o6).shape", "lib.empty([4]).shape",
    "lib.full((2, 3), 1.5)", "lib.full(size=(2, 3), fill_value=2)", "lib.full([2], True)",
    "lib.full((2,), 1.0, out=out)", "lib.full((2,), 3, dtype=lib.float64)",
    "lib.full((2,), lib.tensor(2.5))", "lib.full((2,), 7.5, out=out_i)",
    "lib.rand(2, 3).shape", "lib.rand((2, 3)).shape", "lib.rand(size=(2, 3)).shape",
    "lib.rand(2, generator=g).shape", "lib.rand(2, 3, out=out).shape",
    "lib.rand(2, dtype=lib.float64).dtype", "lib.rand(size=(2,), generator=g).shape",
    "lib.randn(size=(2, 3)).shape", "lib.randn(2, 3, out=out).shape",
    "lib.randn([2, 3], generator=g).shape", "lib.randn(2, out=lib.empty(2, dtype=lib.float64)).dtype",
    "lib.randint(10, (3,)).shape", "lib.randint(3, 10, (3,)).dtype", "lib.randint(10, size=(3,)).shape",
    "lib.randint(high=10, size=(3,)).shape", "lib.randint(low=2, high=10, size=(3,)).shape",
    "lib.randint(2, 10, size=(3,)).shape", "lib.randint(2, high=10, size=(3,)).shape",
    "lib.randint(10, (3,), dtype=lib.float32).dtype", "lib.randint(10, (3,), out=out).dtype",
    "lib.randint(10, (3,), out=out_i).shape", "lib.randint(10, (3,), generator=g).shape",
    "lib.randint(10, [3]).shape", "lib.randint(0, 2, (3,), dtype=lib.bool).dtype",
    "lib.randint(lib.tensor(10), (3,)).shape", "lib.randint(10, lib.Size([3])).shape",
    "lib.randint(np.int64(3), (2,)).shape", "lib.randint(0, 3, (2,), dtype=lib.int8).dtype",
    "lib.randint(3, 10, (3,), dtype=lib.float32, requires_grad=True).requires_grad",
    "lib.arange(5)", "lib.arange(1, 5)", "lib.arange(1, 5, 2)", "lib.arange(end=5)",
    "lib.arange(start=1, end=5)", "lib.arange(0, 1, 0.25)", "lib.arange(5, out=out_i)",
    "lib.arange(5, out=out)", "lib.arange(5, dtype=lib.float32)", "lib.arange(lib.tensor(5))",
    "lib.arange(1, end=5)", "lib.arange(start=1, end=5, step=2)", "lib.arange(1, 4, out=o6)",
    "lib.arange(5.0)", "lib.arange(10, 0, -3)", "lib.arange(True)",
    "lib.zeros(2, True)", "lib.empty((2, False)).shape", "lib.linspace(0, 1, 5, out=out)", "lib.eye(3, out=out)", "lib.randperm(4, out=out_i).shape",
]

INVALID = [
    "lib.zeros(2.0)", "lib.zeros(2, 3.5)", "lib.zeros((2,), (3,))", "lib.zeros(2, size=(3,))",
    "lib.zeros(size=3)", "lib.zeros(True)", "lib.zeros(lib.tensor([2, 3]))",
    "lib.zeros(np.array([2, 3]))", "lib.zeros((True,))", "lib.zeros()", "lib.zeros(-1)", "lib.empty(2, size=None)",
    "lib.zeros(2, dtype=lib.int64, out=out)", "lib.full(2, 1.0)", "lib.full((2,), None)",
    "lib.full((2,), 7, dtype=lib.float64, out=out)", "lib.rand(size=3)", "lib.ones(2, 2.5)",
    "lib.randint(10, 3)", "lib.randint(10)", "lib.randint(5, 2, (3,))", "lib.randint(10.5, (3,))",
    "lib.randint(10, size=3)", "lib.randint(True, (2,))", "lib.randint(3, 5.0, (2,))",
    "lib.randint(10, (3,), dtype=lib.bool)", "lib.randint(-5, 5, (3,), dtype=lib.uint8)",
    "lib.randint(0, 300, (2,), dtype=lib.int8)", "lib.randint(3, 10, size=(3,), requires_grad=True)",
    "lib.randint(3, (2,), dtype=lib.float64, out=out)", "lib.arange(0, 5, 0)", "lib.arange(5, 0)",
    "lib.arange(3, dtype=lib.float64, out=out)", "lib.zeros(3, out=lib.zeros(3, requires_grad=True))",
]


def _namespace(lib):
    return dict(lib=lib, np=np, out=lib.empty(0), out_i=lib.empty(0, dtype=lib.int64),
                o6=lib.empty(6), g=lib.Generator().manual_seed(0))


def _describe(value, random):
    """What must agree: a tensor's shape, dtype, requires_grad and (unless drawn at random)
    values; a shape; a dtype's name; a flag."""
    if hasattr(value, "requires_grad"):
        values = None if random else value.detach().numpy().tolist()
        return tuple(value.shape), str(value.dtype).split(".")[-1], value.requires_grad, values
    if isinstance(value, tuple):
        return tuple(value)
    return str(value).split(".")[-1]


@pytest.mark.parametrize("form", VALID)
def test_form_accepted_like_torch(form):
    random = "lib.rand" in form
    ours = _describe(eval(form, _namespace(ember)), random)
    theirs = _describe(eval(form, _namespace(torch)), random)
    assert ours == theirs


@pytest.mark.parametrize("form", INVALID)
def test_form_refused_like_torch(form):
    with pytest.raises(Exception) as theirs:
        eval(form, _namespace(torch))
    with pytest.raises(Exception) as ours:
        eval(form, _namespace(ember))
    assert isinstance(ours.value, type(theirs.value)), (ours.value, theirs.value)


def test_out_is_written_in_place_or_resized():
    base = ember.zeros(4, 4)
    row = base[0]
    assert ember.ones(4, out=row) is row
    np.testing.assert_array_equal(base.numpy()[0], 1)      # the view's memory is its base's
    with pytest.raises(RuntimeError, match="view"):
        ember.ones(2, 2, out=row)
    out = ember.empty(6)
    result = ember.zeros(2, 3, out=out)
    assert result is out and out.shape == (2, 3)
    version = out._version
    ember.arange(6.0, out=out.view(6))
    np.testing.assert_array_equal(out.numpy().ravel(), np.arange(6.0))
    assert out._version > version
    with ember.no_grad():
        p = ember.zeros(3, requires_grad=True)
        assert ember.ones(3, out=p) is p and p.detach().numpy().tolist() == [1, 1, 1]
    assert ember.ones(3, requires_grad=True, out=ember.empty(3)).requires_grad


def test_generator_and_seed_make_factories_reproducible():
    g1, g2 = ember.Generator().manual_seed(7), ember.Generator().manual_seed(7)
    np.testing.assert_array_equal(ember.randint(10, size=(5,), generator=g1).numpy(),
                                  ember.randint(0, 10, (5,), generator=g2).numpy())
    np.testing.assert_array_equal(ember.rand(size=(3,), generator=g1).numpy(),
                                  ember.rand(3, generator=g2).numpy())
    draws = ember.randint(-3, 4, (20000,))
    assert draws.min().item() == -3 and draws.max().item() == 3
    assert abs(draws.float().mean().item()) < 0.05


def test_size_errors_name_the_factory():
    with pytest.raises(TypeError, match=r"zeros\(\): argument 'size' must be tuple of ints, but "
                                        r"found element of type float at pos 1"):
        ember.zeros(2, 3.5)
    with pytest.raises(TypeError, match=r"full\(\): argument 'size' must be tuple of ints, not int"):
        ember.full(2, 1.0)
