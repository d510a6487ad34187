"""Why the convolution's input gradient has three layouts: time each one, and the reference.

    python -m benchmarks.conv_layouts [--reps 20]

``ember/ops/_im2col.py`` defines the input gradient once (``conv_input_grad_reference``:
``Wᵀ · dY``, then the plain ``col2im``) and computes it in one of three layouts
(``input_grad_layout``): ``plain`` (the same scatter-add, with Ember's workspaces), ``wide``
(stride 1, on the padded grid) and ``batch_last`` (stride 1, the sample index last). This
script times every layout that applies at the shapes of the networks Ember trains, on one
thread over the batch chunks a convolution actually uses (``batch_chunks``: cache-sized for
thin convs), and prints the median milliseconds and the chosen layout, so the choice can be
checked on any machine instead of trusting numbers written into comments. With the compiled
kernels (``ember.kernels``) a 2-D conv uses none of the three: the ``compiled`` column times
its fused col2im (``conv_input_grad`` with the kernels in use); the other columns run on NumPy.
"""
import argparse
import statistics
import time

import numpy as np

import ember
from ember import kernels
from ember.ops import _im2col as ic

# name, x (N, C, H, W), weight (C_out, C_in, kH, kW), padding per side
SHAPES = [
    ("LeNet-5 conv1 1->6 5x5, 28x28 pad 2, b64", (64, 1, 28, 28), (6, 1, 5, 5), 2),
    ("LeNet-5 conv2 6->16 5x5, 14x14, b64", (64, 6, 14, 14), (16, 6, 5, 5), 0),
    ("ResNet 64->64 3x3, 32x32, b32", (32, 64, 32, 32), (64, 64, 3, 3), 1),
    ("ResNet 512->512 3x3, 4x4, b32", (32, 512, 4, 4), (512, 512, 3, 3), 1),
]


def median_ms(fn, reps):
    """The median wall time of ``reps`` calls of ``fn`` (after one untimed call), in ms."""
    fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20)
    args = parser.parse_args(argv)
    ember.set_num_threads(1)
    rng = np.random.default_rng(0)
    compiled = kernels.compiled() is not None
    print(f"{'shape':<44} {'reference':>9} {'plain':>7} {'wide':>7} {'batch_last':>10} "
          f"{'compiled':>8}  chosen (NumPy)")
    for name, x_shape, w_shape, pad in SHAPES:
        w = rng.standard_normal(w_shape).astype(np.float32)
        stride, dilation, padding = (1, 1), (1, 1), ((pad, pad), (pad, pad))
        out = ic.output_size(x_shape[2:], w_shape[2:], stride, padding, dilation)
        dy = rng.standard_normal((x_shape[0], w_shape[0]) + out).astype(np.float32)
        padded = tuple(n + 2 * pad for n in x_shape[2:])
        chunks = ic.batch_chunks(x_shape[0], w[0].size, int(np.prod(out)), w_shape[0], 4)

        def run(layout=None):
            for part in chunks:
                if layout is None:
                    ic.conv_input_grad_reference(dy[part], w, 1, x_shape[2:], stride, padding,
                                                 dilation)
                else:
                    ic.conv_input_grad(dy[part], w, 1, x_shape[2:], stride, padding, dilation,
                                       layout=layout)
        with kernels.use("numpy"):
            row = [median_ms(run, args.reps)]
            for layout in ("plain", "wide", "batch_last"):
                row.append(median_ms(lambda: run(layout), args.reps))
        fused = f"{median_ms(lambda: run('plain'), args.reps):>8.2f}" if compiled else \
            f"{'-':>8}"
        chosen = ic.input_grad_layout(stride, out, padded, x_shape[0])
        print(f"{name:<44} {row[0]:>9.2f} {row[1]:>7.2f} {row[2]:>7.2f} {row[3]:>10.2f} "
              f"{fused}  {chosen}")


if __name__ == "__main__":
    main()
