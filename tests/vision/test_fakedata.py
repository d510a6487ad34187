"""``FakeData``: torchvision's signature, items and summary; each item reproducible."""
import inspect

import numpy as np
import pytest
from PIL import Image

import ember
from ember.vision import datasets, transforms
from tests.torchvision_oracle import import_torchvision

tv = import_torchvision()


def test_signature_and_repr_are_torchvisions():
    ours, theirs = inspect.signature(datasets.FakeData), inspect.signature(tv.datasets.FakeData)
    assert [(p.name, p.default) for p in ours.parameters.values()] == \
        [(p.name, p.default) for p in theirs.parameters.values()]
    assert repr(datasets.FakeData(size=7)) == repr(tv.datasets.FakeData(size=7))


@pytest.mark.parametrize("image_size,mode", [((3, 12, 10), "RGB"), ((1, 6, 6), "L")])
def test_items_are_what_torchvisions_are(image_size, mode):
    ours = datasets.FakeData(size=4, image_size=image_size, num_classes=3)
    theirs = tv.datasets.FakeData(size=4, image_size=image_size, num_classes=3)
    assert len(ours) == len(theirs) == 4
    for i in range(4):
        (oi, ol), (ti, tl) = ours[i], theirs[i]
        assert isinstance(oi, Image.Image) and oi.mode == ti.mode == mode
        assert oi.size == ti.size == (image_size[2], image_size[1])
        assert type(ol) is type(tl) is int and 0 <= ol < 3
    for dataset in (ours, theirs):
        with pytest.raises(IndexError):
            dataset[4]


def test_items_are_reproducible_and_independent_of_the_global_seed():
    data = datasets.FakeData(size=50, image_size=(3, 4, 4), transform=transforms.ToTensor(),
                             target_transform=lambda y: y + 100)
    ember.manual_seed(0)
    first = [data[i] for i in (3, 7)]
    state = ember.get_rng_state()
    ember.manual_seed(99)
    again = [data[i] for i in (3, 7)]
    for (a, la), (b, lb) in zip(first, again):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        assert la == lb and 100 <= la < 110
    assert not np.array_equal(first[0][0].numpy(), first[1][0].numpy())
    ember.set_rng_state(state)
    shifted = datasets.FakeData(size=50, image_size=(3, 4, 4), transform=transforms.ToTensor(),
                                random_offset=4)
    np.testing.assert_array_equal(shifted[3][0].numpy(), data[7][0].numpy())
    labels = [datasets.FakeData(size=400, image_size=(1, 1, 1))[i][1] for i in range(400)]
    assert set(labels) == set(range(10))
