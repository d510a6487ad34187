import numpy as np

import ember
from tests.harness import check_parity, gradcheck64


def test_lecture_toy_backward():
    """Lecture 003 "Backpropagation": f(x) = (-x + 3)^2 has derivative 2(x - 3)."""
    # inventory A10
    x = ember.tensor([1.0, -2.0, 5.0], requires_grad=True)
    f = ((-x + 3) ** 2).sum()
    f.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * (np.array([1.0, -2.0, 5.0]) - 3))


def test_matmul_parity_and_gradcheck():
    a, b = np.random.randn(2, 3, 4), np.random.randn(4, 5)
    check_parity(lambda m, a, b: (a @ b).tanh(), [a.astype(np.float32), b.astype(np.float32)])
    assert gradcheck64(lambda a, b: (a @ b).tanh(), [a, b])
