"""Finite-difference gradient checking (``torch.autograd.gradcheck``)."""
import numpy as np


class GradcheckError(RuntimeError):
    pass


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True,
              nondet_tol=0.0, check_undefined_grad=True, fast_mode=False):
    """Compare analytical gradients of ``func(*inputs)`` with float64 central differences.

    Every input tensor with ``requires_grad`` is checked, against every output element:
    for output ``y`` and input ``x``, column ``j`` of the numerical Jacobian is
    ``(f(x + eps e_j) - f(x - eps e_j)) / (2 eps)``; the analytical Jacobian comes from one
    backward pass per output element. Returns True, or raises (or returns False when
    ``raise_exception=False``) naming the input, the element and both values.
    """
    from ember._tensor import Tensor
    from ember.autograd import grad as autograd_grad
    from ember.autograd.grad_mode import no_grad

    if isinstance(inputs, Tensor):
        inputs = (inputs,)
    inputs = tuple(inputs)
    diff = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not diff:
        raise ValueError("gradcheck: expected at least one input tensor to require gradient")
    for i in diff:
        if inputs[i]._data.dtype != np.float64:
            raise GradcheckError(f"gradcheck: input {i} has dtype {inputs[i].dtype}; use float64 "
                                 f"inputs (finite differences in float32 are not precise enough)")

    def outputs():
        out = func(*inputs)
        return [o for o in (out if isinstance(out, (tuple, list)) else (out,))
                if isinstance(o, Tensor) and o._data.dtype.kind == "f"]

    with no_grad():
        base = outputs()
    sizes = [o._data.size for o in base]
    n_out = sum(sizes)

    def flat_out():
        with no_grad():
            return np.concatenate([o._data.astype(np.float64).ravel() for o in outputs()]) \
                if n_out else np.zeros(0)

    def fail(msg):
        if raise_exception:
            raise GradcheckError(msg)
        return False

    for i in diff:
        x = inputs[i]
        arr = x._data
        numerical = np.zeros((arr.size, n_out))
        flat = arr.reshape(-1) if arr.flags.c_contiguous else None
        if flat is None:
            raise GradcheckError(f"gradcheck: input {i} must be contiguous")
        for j in range(arr.size):
            orig = flat[j]
            flat[j] = orig + eps
            x._bump_version()
            plus = flat_out()
            flat[j] = orig - eps
            x._bump_version()
            minus = flat_out()
            flat[j] = orig
            x._bump_version()
            numerical[j] = (plus - minus) / (2 * eps)
        analytical = np.zeros((arr.size, n_out))
        col = 0
        for k in range(len(base)):
            for e in range(sizes[k]):
                outs = outputs()
                y = outs[k]
                if not y.requires_grad:
                    col += 1
                    continue
                g = np.zeros(y._data.shape)
                g.reshape(-1)[e] = 1.0
                (gx,) = autograd_grad([y], [x], [Tensor._wrap(g)], allow_unused=True)
                if gx is not None:
                    analytical[:, col] = gx._data.reshape(-1)
                col += 1
        bad = ~np.isclose(analytical, numerical, rtol=rtol, atol=atol)
        if bad.any():
            j, c = np.argwhere(bad)[0]
            return fail(f"gradcheck: Jacobian mismatch for output {c} with respect to input {i}, "
                        f"element {j}:\nnumerical:  {numerical[j, c]!r}\nanalytical: "
                        f"{analytical[j, c]!r}\n(max abs difference "
                        f"{np.abs(analytical - numerical).max():.3e} over the whole Jacobian)")
    return True
