"""The verification harness: run one expression under Ember and under PyTorch, compare the
output and the gradient of every input that requires grad.

    from tests.harness import check_parity
    check_parity(lambda m, x, w: m.nn.functional.conv2d(x, w, padding=1),
                 [np.random.randn(2, 3, 8, 8), np.random.randn(4, 3, 3, 3)])

``fn(lib, *tensors)`` receives the library module (``ember`` or ``torch``) first, so the
same code runs under both. Tolerances for each dtype are stated once, here.
"""
import numpy as np

import ember

# (rtol, atol) per dtype, the one place they are stated. Results differ from torch's by
# summation order and library functions only; ``atol`` is scaled by max(1, max|expected|)
# so that a value near zero in a tensor of large magnitudes is judged on that scale.
TOLERANCES = {
    np.dtype(np.float16): (1e-3, 1e-3),
    np.dtype(np.float32): (1e-5, 1e-4),
    np.dtype(np.float64): (1e-10, 1e-10),
}


def _tol(dtype, rtol, atol):
    r, a = TOLERANCES.get(np.dtype(dtype), (0, 0))
    return (r if rtol is None else rtol), (a if atol is None else atol)


def _to_torch(torch, a, requires_grad):
    t = torch.from_numpy(np.array(a, copy=True))
    if requires_grad:
        t.requires_grad_(True)
    return t


def _to_ember(a, requires_grad):
    t = ember.from_numpy(np.array(a, copy=True))
    if requires_grad:
        t.requires_grad_(True)
    return t


def _flatten_outputs(out):
    if isinstance(out, (tuple, list)):
        res = []
        for o in out:
            res.extend(_flatten_outputs(o))
        return res
    return [out]


def assert_close(actual, expected, rtol=None, atol=None, what="value"):
    """Compare arrays with the dtype's tolerances, scaled by the expected magnitude."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != torch {expected.shape}"
    if expected.dtype.kind in "biu":
        np.testing.assert_array_equal(actual, expected, err_msg=what)
        return
    r, a = _tol(expected.dtype, rtol, atol)
    scale = max(1.0, float(np.max(np.abs(expected[np.isfinite(expected)]), initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=r, atol=a * scale, err_msg=what,
                               equal_nan=True)


def check_parity(fn, inputs, requires_grad=None, dtype=None, rtol=None, atol=None,
                 grad_outputs_seed=0, check_dtype=True, noncontiguous=False):
    """Run ``fn`` under Ember and torch on the same ``inputs`` (NumPy arrays or scalars) and
    compare every output (values and dtypes) and every input gradient.

    ``requires_grad`` lists, per input, whether it takes part in differentiation (default:
    every floating-point array). The backward pass uses a random upstream gradient so that
    each output element is weighted differently. With ``noncontiguous=True`` every input of
    two or more dims reaches ``fn`` as a transposed view of a leaf stored the other way round
    (same values, non-contiguous strides). Returns the Ember outputs.
    """
    import torch

    arrays = [np.asarray(a) if isinstance(a, np.generic) else a for a in inputs]
    arrays = [np.asarray(a, dtype=dtype) if dtype is not None and isinstance(a, np.ndarray)
              and a.dtype.kind == "f" else a for a in arrays]
    if requires_grad is None:
        requires_grad = [isinstance(a, np.ndarray) and a.dtype.kind == "f" for a in arrays]
    flip = [noncontiguous and isinstance(a, np.ndarray) and a.ndim >= 2 for a in arrays]
    stored = [np.ascontiguousarray(np.swapaxes(a, -1, -2)) if f else a for a, f in zip(arrays, flip)]
    e_in = [_to_ember(a, g) if isinstance(a, np.ndarray) else a for a, g in zip(stored, requires_grad)]
    t_in = [_to_torch(torch, a, g) if isinstance(a, np.ndarray) else a
            for a, g in zip(stored, requires_grad)]
    e_args = [x.transpose(-1, -2) if f else x for x, f in zip(e_in, flip)]
    t_args = [x.transpose(-1, -2) if f else x for x, f in zip(t_in, flip)]
    e_out = _flatten_outputs(fn(ember, *e_args))
    t_out = _flatten_outputs(fn(torch, *t_args))
    assert len(e_out) == len(t_out), f"{len(e_out)} outputs vs torch's {len(t_out)}"
    rng = np.random.default_rng(grad_outputs_seed)
    e_grads, t_grads = [], []
    for i, (eo, to) in enumerate(zip(e_out, t_out)):
        if not isinstance(to, torch.Tensor):
            assert eo == to or np.allclose(eo, to), f"output {i}: {eo} != torch {to}"
            continue
        tv = to.detach().numpy()
        if check_dtype:
            assert str(eo.dtype).split(".")[-1] == str(to.dtype).split(".")[-1], \
                f"output {i}: dtype {eo.dtype} != torch {to.dtype}"
        assert_close(eo.detach().numpy(), tv, rtol, atol, what=f"output {i}")
        if to.requires_grad:
            assert eo.requires_grad, f"output {i} should require grad"
            g = rng.standard_normal(tv.shape).astype(tv.dtype)
            e_grads.append((eo, ember.from_numpy(g.copy())))
            t_grads.append((to, torch.from_numpy(g.copy())))
    if t_grads:
        torch.autograd.backward([t for t, _ in t_grads], [g for _, g in t_grads])
        ember.autograd.backward([t for t, _ in e_grads], [g for _, g in e_grads])
        for k, (ei, ti) in enumerate(zip(e_in, t_in)):
            if isinstance(ti, torch.Tensor) and ti.requires_grad:
                if ti.grad is None:
                    assert ei.grad is None or not np.any(ei.grad.numpy()), f"grad of input {k}"
                    continue
                assert ei.grad is not None, f"input {k}: Ember computed no gradient, torch did"
                assert ei.grad.dtype is ei.dtype, f"grad of input {k}: dtype {ei.grad.dtype}"
                assert_close(ei.grad.numpy(), ti.grad.numpy(), rtol, atol, what=f"grad of input {k}")
    return e_out


def gradcheck64(fn, arrays, **kwargs):
    """Float64 finite-difference check of ``fn(*tensors)`` (Ember only)."""
    ins = [ember.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)
           if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a for a in arrays]
    return ember.autograd.gradcheck(fn, ins, **kwargs)
