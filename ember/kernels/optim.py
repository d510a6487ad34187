"""Compiled optimizer updates: the SGD step of ``ember.optim.SGD._update`` in one pass."""
from ember.kernels._jit import kernel


@kernel
def sgd_step(w, g, buf, lr, momentum, dampening, weight_decay, nesterov, maximize, first):
    """One SGD update of the 1-D parameter ``w`` in place, element by element, with the float
    operations of ``SGD._update`` in its order (hyper-parameters rounded to ``w``'s dtype as
    NumPy rounds a Python float against a float32 array), so bit for bit::

        g ← −g if maximize;   g ← g + weight_decay·w
        b ← g (first step) or momentum·b + (1 − dampening)·g   (``buf``, if momentum ≠ 0)
        g ← g + momentum·b if nesterov else b;   w ← w − lr·g

    ``buf`` is the momentum buffer (written, read only after the first step; unused without
    momentum).
    """
    dt = w.dtype.type
    lr_, momentum_, weight_decay_ = dt(lr), dt(momentum), dt(weight_decay)
    keep = dt(1.0 - dampening)
    for i in range(w.shape[0]):
        gi = g[i]
        if maximize:
            gi = -gi
        if weight_decay != 0:
            gi = gi + weight_decay_ * w[i]
        if momentum != 0:
            if first:
                b = gi
            else:
                b = buf[i] * momentum_
                b = b + (gi if dampening == 0 else keep * gi)
            buf[i] = b
            gi = gi + momentum_ * b if nesterov else b
        w[i] = w[i] - lr_ * gi
