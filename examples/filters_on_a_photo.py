"""Lecture 004's image filters on a real photograph (scikit-image's ``camera``, 512x512):
mean, median, Gaussian, Sobel, Laplacian, unsharp masking, the Fourier domain and the
Gaussian pyramid — with the lecture's claims checked on the way.

- "Using one 2D Gaussian filter = using two 1D Gaussian filters", at cost ``O(N^2 K^2)`` vs
  ``O(N^2 K)``: both are computed and timed.
- The convolution theorem ``G(u) = F(u) H(u)``: the FFT product equals the periodic spatial
  convolution.
- The median filter removes salt-and-pepper noise that the mean filter only smears.
- Sub-sampling ("drop every other row and column") aliases; the Gaussian pyramid does not.

Run:  ``python examples/filters_on_a_photo.py [--figure docs/figures/filters.png]``
"""
import argparse
import time

import numpy as np

from ember.classical import filters, pyramids


def timed(fn, repeats=5):
    fn()
    started = time.perf_counter()
    for _ in range(repeats):
        result = fn()
    return result, (time.perf_counter() - started) / repeats


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--figure", help="save the picture of the filter outputs here (PNG)")
    args = parser.parse_args(argv)
    from skimage import data
    photo = data.camera().astype(np.float32) / 255                 # 512 x 512, values 0..1
    n = photo.shape[0]

    sigma = 4.0
    kernel = filters.gaussian_kernel2d(sigma)                       # 33 x 33
    k = kernel.shape[0]
    separable, t_separable = timed(lambda: filters.gaussian_filter(photo, sigma))
    direct, t_direct = timed(lambda: filters.correlate(photo, kernel), repeats=1)
    print(f"Gaussian sigma={sigma:g} ({k}x{k} kernel) on {n}x{n}: two 1-D passes "
          f"{t_separable * 1e3:.1f} ms ({filters.convolution_cost(n, k, True) / 1e6:.1f} M "
          f"multiplications), one 2-D kernel {t_direct * 1e3:.0f} ms "
          f"({filters.convolution_cost(n, k) / 1e6:.0f} M); largest difference "
          f"{np.abs(separable - direct).max():.1e} (float32)")

    box = filters.box_kernel(9)
    spatial = filters.convolve(photo.astype(np.float64), box, mode="wrap")
    fourier, t_fft = timed(lambda: filters.fft_convolve(photo, box))
    print(f"convolution theorem: FFT product vs periodic spatial convolution (9x9 box), "
          f"largest difference {np.abs(fourier - spatial).max():.1e}; FFT "
          f"{t_fft * 1e3:.1f} ms")

    rng = np.random.default_rng(0)
    noisy = photo.copy()
    salt = rng.random(photo.shape)
    noisy[salt < 0.05], noisy[salt > 0.95] = 0.0, 1.0              # 10% of pixels
    median, mean = filters.median_filter(noisy, 3), filters.mean_filter(noisy, 3)
    print(f"salt-and-pepper noise (10% of pixels): mean absolute error to the photo "
          f"{np.abs(noisy - photo).mean():.3f} noisy, {np.abs(mean - photo).mean():.3f} after "
          f"the 3x3 mean, {np.abs(median - photo).mean():.3f} after the 3x3 median")

    magnitude, _ = filters.gradient_magnitude_orientation(photo)
    low = filters.fourier_gaussian_filter(photo, sigma)
    high = filters.fourier_gaussian_filter(photo, sigma, highpass=True)
    levels = pyramids.gaussian_pyramid(photo, max_layer=3)
    sub = photo[::8, ::8]
    panels = [
        ("original", photo), ("mean 9x9", filters.mean_filter(photo, 9)),
        ("10% salt & pepper", noisy), ("its 3x3 mean", mean), ("its 3x3 median", median),
        ("Gaussian sigma 2", filters.gaussian_filter(photo, 2.0)),
        ("Gaussian sigma 4", separable),
        ("Sobel gradient magnitude", magnitude), ("Laplacian |.|", np.abs(filters.laplace(photo))),
        ("unsharp mask (sigma 2, x1.5)", np.clip(filters.unsharp_mask(photo, 2.0, 1.5), 0, 1)),
        ("Fourier low-pass (sigma 4)", low), ("Fourier high-pass", high),
        ("every 8th pixel (aliased)", sub), ("Gaussian pyramid 1/8", levels[3]),
        ("pyramid 1/2", levels[1]),
    ]
    if args.figure:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(3, 5, figsize=(12.5, 8))
        for ax, (title, image) in zip(axes.ravel(), panels):
            ax.imshow(image, cmap="gray", interpolation="nearest")
            ax.set_title(title, fontsize=9)
            ax.set_axis_off()
        fig.suptitle("ember.classical.filters on scikit-image's camera (lecture 004)", fontsize=11)
        fig.tight_layout()
        fig.savefig(args.figure, dpi=64)
        from PIL import Image                                       # grey pixels: 1 byte each
        Image.open(args.figure).convert("L").save(args.figure, optimize=True)
        print(f"wrote {args.figure}")
    return panels


if __name__ == "__main__":
    main()
