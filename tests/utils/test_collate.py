"""default_collate / default_convert against torch's on the same samples."""
import collections

import numpy as np
import pytest
import torch
from torch.utils.data import default_collate as torch_collate
from torch.utils.data import default_convert as torch_convert

import ember
from ember.utils.data import default_collate, default_convert

Point = collections.namedtuple("Point", ["xy", "label"])


def _torch_value(x):
    """Ember's samples rebuilt with torch tensors, so torch's collate can see the same data."""
    if isinstance(x, ember.Tensor):
        return torch.from_numpy(x.numpy().copy())
    if isinstance(x, dict):
        return {k: _torch_value(v) for k, v in x.items()}
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return type(x)(*(_torch_value(v) for v in x))
    if isinstance(x, (list, tuple)):
        return type(x)(_torch_value(v) for v in x)
    return x


def assert_same_structure(ours, theirs):
    """Same containers, keys, dtypes and values."""
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, ember.Tensor), f"expected a Tensor, got {type(ours).__name__}"
        assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    elif isinstance(theirs, dict):
        assert type(ours) is type(theirs) and list(ours) == list(theirs)
        for k in theirs:
            assert_same_structure(ours[k], theirs[k])
    elif isinstance(theirs, (list, tuple)):
        assert type(ours) is type(theirs), f"{type(ours).__name__} vs torch {type(theirs).__name__}"
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            assert_same_structure(a, b)
    else:
        assert ours == theirs


def _samples(k):
    rng = np.random.default_rng(k)
    return {
        "image": ember.from_numpy(rng.standard_normal((3, 4, 4)).astype(np.float32)),
        "mask": rng.integers(0, 2, (4, 4)).astype(np.uint8),
        "meta": (float(k) / 3, k, f"img{k}.png", bool(k % 2)),
        "point": Point(np.float64(k) * 0.5, np.int32(k)),
        "boxes": [ember.tensor([k, k + 1]), np.array([1.5 * k], dtype=np.float32)],
    }


def test_nested_structures_collate_like_torch():
    batch = [_samples(k) for k in range(3)]
    ours = default_collate(batch)
    theirs = torch_collate([_torch_value(s) for s in batch])
    assert_same_structure(ours, theirs)
    assert ours["image"].shape == (3, 3, 4, 4)
    assert isinstance(ours["meta"], list)                 # tuples come back as lists, like torch
    assert list(ours["meta"][2]) == ["img0.png", "img1.png", "img2.png"]


@pytest.mark.parametrize("batch", [[1.5, 2.0], [1, 2, 3], [True, False], [np.float32(1), np.float32(2)],
                                   [np.int64(4), np.int64(5)], ["a", "b"], [(1, 2.0), (3, 4.0)],
                                   [[1, 2], [3, 4]]])
def test_leaves_collate_like_torch(batch):
    assert_same_structure(default_collate(batch), torch_collate(batch))


def test_python_floats_become_float64_and_ints_int64():
    assert default_collate([0.5, 1.5]).dtype == ember.float64
    assert default_collate([1, 2]).dtype == ember.int64
    assert default_collate([True, False]).dtype == ember.bool


def test_image_label_pairs_become_two_batched_tensors():
    batch = [(ember.full((1, 2, 2), float(k)), k) for k in range(4)]
    images, labels = default_collate(batch)
    assert images.shape == (4, 1, 2, 2) and images.dtype == ember.float32
    np.testing.assert_array_equal(images.numpy()[:, 0, 0, 0], [0, 1, 2, 3])
    assert labels.tolist() == [0, 1, 2, 3]


def test_collate_keeps_the_graph_of_tensors_that_require_grad():
    xs = [ember.tensor([1.0, 2.0], requires_grad=True), ember.tensor([3.0, 4.0], requires_grad=True)]
    batch = default_collate(xs)
    (batch * ember.tensor([[1.0, 2.0], [3.0, 4.0]])).sum().backward()
    np.testing.assert_array_equal(xs[1].grad.numpy(), [3.0, 4.0])


def test_collate_errors_are_readable():
    with pytest.raises(RuntimeError, match=r"equal shape.*\(3,\) at entry 0 and \(4,\) at entry 1"):
        default_collate([ember.zeros(3), ember.zeros(4)])
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([[1, 2], [3]])
    with pytest.raises(TypeError, match="batch must contain tensors"):
        default_collate([object(), object()])
    with pytest.raises(TypeError, match="batch must contain tensors"):
        default_collate([np.array(["a"]), np.array(["b"])])


def test_default_convert_like_torch():
    sample = {"x": np.arange(3, dtype=np.float32), "pair": (np.int64(2), "s"),
              "p": Point(np.zeros(2), 1), "keep": ember.tensor([1.0])}
    ours = default_convert(sample)
    theirs = torch_convert(_torch_value(sample))
    assert_same_structure(ours, theirs)
    assert default_convert("text") == "text"
