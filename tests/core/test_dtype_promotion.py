"""dtypes and torch's type promotion: tensor/tensor by category, zero-dim tensors and Python
scalars only win in a higher category; int/int division gives float; conversions."""
import itertools

import numpy as np
import pytest
import torch

import ember

DTYPES = ["float32", "float64", "int64", "int32", "uint8", "bool"]


def make(lib, dtype, zero_dim=False):
    data = 1 if zero_dim else [1, 0, 1]
    return lib.tensor(data, dtype=getattr(lib, dtype))


@pytest.mark.parametrize("a,b", list(itertools.product(DTYPES, DTYPES)))
@pytest.mark.parametrize("zero_dim", [False, True])
def test_tensor_tensor_promotion(a, b, zero_dim):
    for op in ("add", "mul", "maximum", "where", "div", "eq"):
        def run(m):
            x, y = make(m, a), make(m, b, zero_dim)
            if op == "where":
                return m.where(x > 0, x, y)
            return getattr(m, op)(x, y)
        assert str(run(ember).dtype).split(".")[-1] == str(run(torch).dtype).split(".")[-1], op


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scalar", [2, 2.5, True])
def test_python_scalar_promotion(dtype, scalar):
    def run(m):
        x = make(m, dtype)
        return [x * scalar, scalar * x, m.maximum(x, m.tensor(scalar)), x / 2]
    for e, t in zip(run(ember), run(torch)):
        assert str(e.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
        np.testing.assert_allclose(e.numpy().astype(np.float64), t.numpy().astype(np.float64))


def test_result_type_and_promote_types():
    assert ember.promote_types(ember.int32, ember.float32) is ember.float32
    assert ember.promote_types(ember.uint8, ember.int8) is ember.int16
    assert ember.result_type(ember.tensor([1, 2]), 1.0) is ember.float32
    assert ember.result_type(ember.tensor([1.0], dtype=ember.float64), ember.tensor(1.0)) is ember.float64
    assert ember.result_type(ember.tensor([1], dtype=ember.int32), ember.tensor(1.0, dtype=ember.float64)) \
        is ember.float64  # a zero-dim tensor of a higher category keeps its own dtype


@pytest.mark.parametrize("src", DTYPES)
@pytest.mark.parametrize("dst", DTYPES)
def test_to_dtype(src, dst):
    vals = [0, 1, 2, 255] if src != "bool" else [True, False, True, True]
    e = ember.tensor(vals, dtype=getattr(ember, src)).to(getattr(ember, dst))
    t = torch.tensor(vals, dtype=getattr(torch, src)).to(getattr(torch, dst))
    assert e.dtype is getattr(ember, dst)
    np.testing.assert_array_equal(e.numpy(), t.numpy())


def test_float_long_double_int_bool_shortcuts_and_grad_through_cast():
    x = ember.tensor([1.7, -2.2], requires_grad=True)
    assert x.long().dtype is ember.int64 and x.long().tolist() == [1, -2]
    assert x.int().dtype is ember.int32 and x.bool().dtype is ember.bool
    assert x.double().dtype is ember.float64 and x.double().float().dtype is ember.float32
    assert x.to(ember.float32) is x
    assert x.to("cpu") is x and x.to("cpu", ember.float64).dtype is ember.float64
    assert x.type_as(ember.zeros(1, dtype=ember.float64)).dtype is ember.float64
    (x.double() * x.double()).sum().backward()
    assert x.grad.dtype is ember.float32
    np.testing.assert_allclose(x.grad.numpy(), [3.4, -4.4], rtol=1e-6)
    assert not x.long().requires_grad


def test_default_dtype_and_inference():
    assert ember.tensor([1.0]).dtype is ember.float32
    assert ember.tensor([1]).dtype is ember.int64
    assert ember.tensor([True]).dtype is ember.bool
    assert ember.tensor(np.array([1.0])).dtype is ember.float64  # NumPy keeps its dtype
    assert ember.tensor(np.array([1], dtype=np.int32)).dtype is ember.int32
    assert ember.get_default_dtype() is ember.float32
    ember.set_default_dtype(ember.float64)
    try:
        assert ember.tensor([1.5]).dtype is ember.float64 and ember.zeros(1).dtype is ember.float64
    finally:
        ember.set_default_dtype(ember.float32)
    assert ember.float is ember.float32 and ember.double is ember.float64 and ember.long is ember.int64


def test_int_division_and_unary_float_promotion():
    i = ember.tensor([3, 4])
    assert (i / 2).dtype is ember.float32 and (i / i).dtype is ember.float32
    assert (i // 2).dtype is ember.int64 and (i // 2).tolist() == [1, 2]
    assert ember.exp(i).dtype is ember.float32 and ember.sqrt(i).dtype is ember.float32
    assert (i * 1.5).dtype is ember.float32 and (i + True).dtype is ember.int64
    assert ember.tensor([1, 2], dtype=ember.uint8).sum().dtype is ember.int64
