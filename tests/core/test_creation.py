"""Tensor factories with torch's signatures and dtypes; random draws follow the seed."""
import numpy as np
import pytest
import torch

import ember


def same(e, t):
    assert str(e.dtype).split(".")[-1] == str(t.dtype).split(".")[-1], (e.dtype, t.dtype)
    assert tuple(e.shape) == tuple(t.shape)
    np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=1e-6)


FACTORIES = {
    "tensor_nested": lambda m: m.tensor([[1, 2], [3, 4]]),
    "tensor_float": lambda m: m.tensor([1.5, 2]),
    "tensor_dtype": lambda m: m.tensor([1, 2], dtype=m.float64),
    "tensor_scalar": lambda m: m.tensor(3),
    "tensor_bool": lambda m: m.tensor([True, False]),
    "zeros": lambda m: m.zeros(2, 3),
    "zeros_tuple": lambda m: m.zeros((2, 3), dtype=m.int64),
    "zeros_empty": lambda m: m.zeros(0, 4),
    "ones": lambda m: m.ones(3),
    "ones_list": lambda m: m.ones([2, 2], dtype=m.bool),
    "full_float": lambda m: m.full((2, 2), 1.5),
    "full_int": lambda m: m.full((2,), 7),
    "full_bool": lambda m: m.full((2,), True),
    "full_dtype": lambda m: m.full((2,), 7, dtype=m.float64),
    "zeros_like": lambda m: m.zeros_like(m.ones(2, 3, dtype=m.float64)),
    "ones_like_dtype": lambda m: m.ones_like(m.ones(2), dtype=m.int32),
    "full_like": lambda m: m.full_like(m.ones(2, dtype=m.int64), 4),
    "arange_int": lambda m: m.arange(5),
    "arange_start_step": lambda m: m.arange(1, 10, 3),
    "arange_float": lambda m: m.arange(0, 1, 0.1),
    "arange_neg": lambda m: m.arange(5, 0, -2),
    "arange_float_end": lambda m: m.arange(4.0),
    "arange_dtype": lambda m: m.arange(3, dtype=m.float32),
    "linspace": lambda m: m.linspace(0, 1, 5),
    "linspace_one": lambda m: m.linspace(-1, 1, 1),
    "eye": lambda m: m.eye(3),
    "eye_rect": lambda m: m.eye(2, 4, dtype=m.int64),
    "as_tensor": lambda m: m.as_tensor([1.0, 2.0]),
    "from_numpy_f64": lambda m: m.from_numpy(np.arange(3.0)),
    "from_numpy_i32": lambda m: m.from_numpy(np.arange(3, dtype=np.int32)),
}


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_factories_match_torch(name):
    same(FACTORIES[name](ember), FACTORIES[name](torch))


def test_empty_and_requires_grad_keyword():
    e = ember.empty(2, 3)
    assert e.shape == (2, 3) and e.dtype is ember.float32
    assert ember.empty_like(e, dtype=ember.int64).dtype is ember.int64
    z = ember.zeros(2, requires_grad=True)
    assert z.requires_grad and z.is_leaf
    assert ember.tensor([1.0], requires_grad=True).requires_grad
    assert ember.arange(3.0, requires_grad=True).requires_grad


def test_from_numpy_and_as_tensor_share_memory_tensor_copies():
    a = np.zeros(3, dtype=np.float32)
    f, s, c = ember.from_numpy(a), ember.as_tensor(a), ember.tensor(a)
    a[0] = 5
    assert f[0].item() == 5 and s[0].item() == 5 and c[0].item() == 0
    t = ember.ones(2)
    assert ember.as_tensor(t) is t
    with pytest.raises(TypeError, match="from_numpy"):
        ember.from_numpy([1, 2])


@pytest.mark.parametrize("fn", ["rand", "randn"])
def test_random_floats_seeded_and_distributed(fn):
    ember.manual_seed(123)
    a = getattr(ember, fn)(20000)
    ember.manual_seed(123)
    b = getattr(ember, fn)(200, 100)
    assert a.dtype is ember.float32 and b.shape == (200, 100)
    np.testing.assert_array_equal(a.numpy(), b.numpy().reshape(-1))
    x = a.numpy().astype(np.float64)
    if fn == "rand":
        assert x.min() >= 0 and x.max() < 1 and abs(x.mean() - 0.5) < 0.01
        assert abs(x.var() - 1 / 12) < 0.005
    else:
        assert abs(x.mean()) < 0.03 and abs(x.std() - 1) < 0.02
    assert getattr(ember, fn)(3, dtype=ember.float64).dtype is ember.float64


def test_randint_randperm_generator():
    r = ember.randint(3, 7, (1000,))
    assert r.dtype is ember.int64 and set(r.tolist()) == {3, 4, 5, 6}
    assert ember.randint(5, (2, 2)).shape == (2, 2)
    p = ember.randperm(10)
    assert p.dtype is ember.int64 and sorted(p.tolist()) == list(range(10))
    g1, g2 = ember.Generator().manual_seed(7), ember.Generator().manual_seed(7)
    assert ember.randn(5, generator=g1).tolist() == ember.randn(5, generator=g2).tolist()
    assert ember.randperm(6, generator=g1).tolist() == ember.randperm(6, generator=g2).tolist()
    assert ember.rand(3, generator=g1).tolist() != ember.rand(3).tolist()
    state = ember.get_rng_state()
    x = ember.rand(4)
    ember.set_rng_state(state)
    assert ember.rand(4).tolist() == x.tolist()
    assert ember.manual_seed(3) is ember.default_generator


def test_tensor_properties():
    x = ember.zeros(2, 3, 4)
    assert x.shape == (2, 3, 4) and x.size() == (2, 3, 4) and x.size(1) == 3 and x.size(-1) == 4
    assert x.dim() == 3 and x.ndim == 3 and x.numel() == 24 and len(x) == 2
    assert x.shape.numel() == 24 and isinstance(x.shape, tuple)
    assert ember.tensor(2.5).item() == 2.5 and ember.tensor([[7]]).item() == 7
    assert ember.tensor([[1, 2]]).tolist() == [[1, 2]]
    assert isinstance(ember.tensor([1.5]).tolist()[0], float)
    assert float(ember.tensor(1.5)) == 1.5 and int(ember.tensor(3)) == 3
    assert [v.item() for v in ember.tensor([1, 2])] == [1, 2]
    with pytest.raises(RuntimeError, match="item"):
        ember.zeros(2).item()
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(ember.zeros(2))


def test_creation_errors():
    with pytest.raises(RuntimeError, match=r"zeros.*negative"):
        ember.zeros(2, -1)
    with pytest.raises(RuntimeError, match="randint"):
        ember.randint(5, 5, (2,))
    with pytest.raises(RuntimeError, match="arange"):
        ember.arange(0, 5, -1)
    with pytest.raises(TypeError, match="tensor"):
        ember.tensor("abc")
    with pytest.raises(RuntimeError, match="CPU"):
        ember.zeros(2, device="cuda")


def test_import_is_fast():
    import subprocess
    import sys
    import time
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import ember; ember.randn(2)"], check=True)
    assert time.perf_counter() - t < 2.0  # includes interpreter start-up; import alone ~0.3 s
