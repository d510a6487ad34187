"""``FakeData``: random images with random labels, torchvision's stand-in dataset."""
import ember
from ember.vision.datasets.vision import VisionDataset
from ember.vision.transforms import functional as F


class FakeData(VisionDataset):
    """``size`` random images (PIL images from ``randn`` values) with labels in
    ``[0, num_classes)`` (``torchvision.datasets.FakeData``; pytorch/examples' DCGAN trains on
    it with ``--dataset fake``).

    Item ``i`` is drawn from a generator seeded with ``i + random_offset``, so it is the same
    every time it is read (the global random state is not touched). The draws differ from
    torchvision's (Ember's generator is not torch's), and the ``randn`` values are clipped to
    [0, 1] before becoming 8-bit pixels (torchvision's ``ToPILImage`` wraps them around).

    Args:
        size (int): number of items.
        image_size (tuple): ``(C, H, W)`` of each image; C is 1 (mode L) or 3 (RGB).
        num_classes (int): labels are in ``[0, num_classes)``.
        transform, target_transform: applied to the PIL image and to the label.
        random_offset (int): added to the index to seed each item.
    """

    def __init__(self, size=1000, image_size=(3, 224, 224), num_classes=10, transform=None,
                 target_transform=None, random_offset=0):
        super().__init__(transform=transform, target_transform=target_transform)
        self.size = size
        self.num_classes = num_classes
        self.image_size = image_size
        self.random_offset = random_offset

    def __getitem__(self, index):
        if index >= len(self):
            raise IndexError(f"{type(self).__name__} index out of range (index {index}, size "
                             f"{len(self)})")
        generator = ember.Generator().manual_seed(index + self.random_offset)
        image = ember.randn(tuple(self.image_size), generator=generator)
        target = ember.randint(0, self.num_classes, size=(1,), dtype=ember.int64,
                               generator=generator)[0]
        image, target = self._apply_transforms(F.to_pil_image(image), target)
        return image, target.item()

    def __len__(self):
        return self.size
