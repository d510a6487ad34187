"""Which algorithm a stride-1 convolution uses: im2col + one GEMM, Winograd F(2x2, 3x3) or the
direct convolution of thin convs.

    python -m benchmarks.conv_algorithms [--reps 5]

``ember/ops/_winograd.py`` computes a stride-1 3x3 conv (forward, input and weight gradient)
with 16 smaller GEMMs and transforms of the input, output and filter (``POLICY``,
``MIN_CHANNELS``). This script times forward + backward of one conv at the shapes of ResNet-18
(CIFAR) and of thinner convs, on one thread over the batch chunks a conv really uses, with
each algorithm, on NumPy alone and with the compiled kernels (``ember.kernels``) if Numba is
installed, and prints the median milliseconds, the Winograd/im2col ratio and what Ember picks
— so the rule can be checked on any machine. Run it on a quiet machine.

    python -m benchmarks.conv_algorithms --error

prints instead the float32 error of each algorithm against a float64 conv at the same shapes
(batch 4): the largest absolute error of the output, the input gradient and the weight
gradient, each divided by the largest magnitude of that float64 result.

    python -m benchmarks.conv_algorithms --direct

times the direct convolution (``ember/ops/_direct.py``: ``MAX_IN_CHANNELS``,
``MAX_OUT_CHANNELS``, ``MAX_TAPS``) against im2col (and Winograd where it applies) at LeNet-5's
convs and at 3x3 and 5x5 convs of 3 to 64 channels, with the compiled kernels, on one thread,
and prints what Ember picks; with ``--error`` it prints the float32 errors at those shapes.
"""
import argparse

import numpy as np

import ember
import ember.nn.functional as F
from benchmarks.conv_layouts import median_ms
from ember import kernels
from ember.ops import _direct as dc
from ember.ops.conv import _algorithm
from ember.ops import _winograd as wg

# name, (N, C_in, H, W), C_out
SHAPES = [
    ("ResNet-18 64->64, 32x32, b32", (32, 64, 32, 32), 64),
    ("ResNet-18 128->128, 16x16, b32", (32, 128, 16, 16), 128),
    ("ResNet-18 256->256, 8x8, b32", (32, 256, 8, 8), 256),
    ("ResNet-18 512->512, 4x4, b32", (32, 512, 4, 4), 512),
    ("16->16, 32x32, b32", (32, 16, 32, 32), 16),
    ("8->8, 32x32, b32", (32, 8, 32, 32), 8),
]

# name, (N, C_in, H, W), C_out, kernel size, padding
DIRECT_SHAPES = [
    ("LeNet-5 conv1 1->6 5x5, b64", (64, 1, 28, 28), 6, 5, 2),
    ("LeNet-5 conv2 6->16 5x5, b64", (64, 6, 14, 14), 16, 5, 0),
    ("LeNet-5 conv2 6->16 5x5, b256", (256, 6, 14, 14), 16, 5, 0),
    ("3->16 3x3, 32x32, b32", (32, 3, 32, 32), 16, 3, 1),
    ("3->64 3x3, 32x32, b32", (32, 3, 32, 32), 64, 3, 1),
    ("8->8 3x3, 32x32, b32", (32, 8, 32, 32), 8, 3, 1),
    ("16->16 3x3, 32x32, b32", (32, 16, 32, 32), 16, 3, 1),
    ("32->32 3x3, 16x16, b32", (32, 32, 16, 16), 32, 3, 1),
    ("64->64 3x3, 8x8, b32", (32, 64, 8, 8), 64, 3, 1),
    ("16->32 5x5, 16x16, b32", (32, 16, 16, 16), 32, 5, 2),
    ("32->32 5x5, 16x16, b32", (32, 32, 16, 16), 32, 5, 2),
    ("64->64 5x5, 8x8, b32", (32, 64, 8, 8), 64, 5, 2),
    ("3->128 3x3, 16x16, b32", (32, 3, 16, 16), 128, 3, 1),
]


def _forcing(args):
    """Yield each algorithm that applies to the conv ``args`` (``applies``' arguments), with
    the modules' policies set so that every conv takes it; restores the policies after."""
    try:
        for algorithm, direct, winograd in (("im2col", "never", "never"),
                                            ("winograd", "never", "always"),
                                            ("direct", "always", "never")):
            dc.POLICY, wg.POLICY = direct, winograd
            if ((algorithm == "winograd" and not wg.applies(*args))
                    or (algorithm == "direct" and not dc.applies(*args))):
                continue
            yield algorithm
    finally:
        dc.POLICY, wg.POLICY = "auto", "auto"


def _time_direct(reps, rng):
    """im2col / Winograd / direct, forward + backward, one thread, compiled kernels."""
    print(f"{'shape':<32} {'im2col':>8} {'winograd':>9} {'direct':>8} {'ratio':>6}  picked")
    for name, x_shape, c_out, k, pad in DIRECT_SHAPES:
        x = ember.from_numpy(rng.standard_normal(x_shape).astype(np.float32))
        x.requires_grad_(x_shape[1] > 1)
        w = ember.from_numpy(0.05 * rng.standard_normal((c_out, x_shape[1], k, k))
                             .astype(np.float32)).requires_grad_(True)
        b = ember.zeros(c_out, requires_grad=True)

        def step():
            y = F.conv2d(x, w, b, padding=pad)
            y.backward(ember.ones_like(y))
        args = (x_shape, w.shape, (1, 1), ((pad, pad), (pad, pad)), (1, 1), 1, np.float32)
        times = {algorithm: median_ms(step, reps) for algorithm in _forcing(args)}
        picked = _algorithm(*args)
        other = min(times["im2col"], times.get("winograd", np.inf))
        winograd = f"{times['winograd']:>9.2f}" if "winograd" in times else f"{'-':>9}"
        print(f"{name:<32} {times['im2col']:>8.2f} {winograd} {times['direct']:>8.2f} "
              f"{times['direct'] / other:>6.2f}  {picked}")


def _float32_errors(x_shape, c_out, rng, k=3, pad=1):
    """{algorithm: [relative error of y, dx, dw]} of float32 against a float64 conv (im2col);
    Winograd and the direct convolution where they apply."""
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal((c_out, x_shape[1], k, k)) * np.sqrt(2 / (k * k * x_shape[1]))
    out = tuple(n + 2 * pad - k + 1 for n in x_shape[2:])
    dy = rng.standard_normal((x_shape[0], c_out) + out)

    def run(dtype):
        xt = ember.tensor(x.astype(dtype), requires_grad=True)
        wt = ember.tensor(w.astype(dtype), requires_grad=True)
        y = F.conv2d(xt, wt, padding=pad)
        y.backward(ember.tensor(dy.astype(dtype)))
        return [a.astype(np.float64) for a in (y.detach().numpy(), xt.grad.numpy(),
                                               wt.grad.numpy())]
    dc.POLICY, wg.POLICY = "never", "never"
    exact = run(np.float64)
    args = (x_shape, w.shape, (1, 1), ((pad, pad), (pad, pad)), (1, 1), 1, np.float32)
    return {algorithm: [np.abs(got - e).max() / np.abs(e).max()
                        for got, e in zip(run(np.float32), exact)]
            for algorithm in _forcing(args)}


def _print_errors(rng, direct=False):
    print(f"{'shape (batch 4)':<32} {'algorithm':>9} {'y':>8} {'dx':>8} {'dw':>8}")
    shapes = (DIRECT_SHAPES if direct else
              [(name, x_shape, c_out, 3, 1) for name, x_shape, c_out in SHAPES])
    for name, x_shape, c_out, k, pad in shapes:
        name = name.replace("b32", "b4").replace("b64", "b4").replace("b256", "b4")
        for algorithm, errs in _float32_errors((4,) + x_shape[1:], c_out, rng, k, pad).items():
            print(f"{name:<32} {algorithm:>9} " + " ".join(f"{e:>8.1e}" for e in errs))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--error", action="store_true",
                        help="print each algorithm's float32 error against float64 instead")
    parser.add_argument("--direct", action="store_true",
                        help="time the direct convolution of thin convs instead")
    args = parser.parse_args(argv)
    ember.set_num_threads(1)
    rng = np.random.default_rng(0)
    if args.direct and kernels.compiled() is None:
        raise SystemExit("conv_algorithms --direct: the direct convolution needs the "
                         "compiled kernels (pip install ember[fast])")
    if args.error:
        _print_errors(rng, args.direct)
        return
    if args.direct:
        _time_direct(args.reps, rng)
        return
    backends = ["numpy"] + (["numba"] if kernels.compiled() is not None else [])
    print(f"{'shape':<32} {'kernels':>7} {'im2col':>8} {'winograd':>9} {'ratio':>6}  picked")
    for name, x_shape, c_out in SHAPES:
        x = ember.from_numpy(rng.standard_normal(x_shape).astype(np.float32))
        x.requires_grad_(True)
        w = ember.from_numpy(0.05 * rng.standard_normal((c_out, x_shape[1], 3, 3))
                             .astype(np.float32)).requires_grad_(True)

        def step():
            y = F.conv2d(x, w, padding=1)
            y.backward(ember.ones_like(y))
        for backend in backends:
            with kernels.use(backend):
                times = {}
                for policy in ("never", "always"):
                    wg.POLICY = policy
                    times[policy] = median_ms(step, args.reps)
                wg.POLICY = "auto"
                picked = wg.applies(x_shape, w.shape, (1, 1), ((1, 1), (1, 1)), (1, 1), 1,
                                    np.float32)
            print(f"{name:<32} {backend:>7} {times['never']:>8.1f} {times['always']:>9.1f} "
                  f"{times['always'] / times['never']:>6.2f}  "
                  f"{'winograd' if picked else 'im2col'}")


if __name__ == "__main__":
    main()
