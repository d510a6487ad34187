"""``ImageList``: a batch of images of different sizes, padded into one tensor."""

__all__ = ["ImageList"]


class ImageList:
    """``tensors`` ``(N, C, H_max, W_max)`` (zero padding at the bottom and right) and
    ``image_sizes``, the ``(height, width)`` of each image before padding."""

    def __init__(self, tensors, image_sizes):
        self.tensors = tensors
        self.image_sizes = [tuple(int(v) for v in s) for s in image_sizes]

    def __repr__(self):
        return (f"ImageList(tensors of shape {tuple(self.tensors.shape)}, image_sizes="
                f"{self.image_sizes})")
