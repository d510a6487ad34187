"""Module-level parity with torch: build the same layer in both libraries, copy torch's
parameters and buffers into Ember through ``load_state_dict`` (as NumPy arrays), run forward
and backward on the same inputs, and compare outputs, input gradients, parameter gradients
and buffers (running statistics)."""
import numpy as np
import torch

import ember
from tests.harness import assert_close


def _flat(out):
    if isinstance(out, (tuple, list)):
        res = []
        for o in out:
            res.extend(_flat(o))
        return res
    return [out]


def _inputs(lib, arrays, requires_grad):
    res = []
    for a, g in zip(arrays, requires_grad):
        if not isinstance(a, np.ndarray):
            res.append(a)
            continue
        t = lib.from_numpy(np.array(a, copy=True))
        if g:
            t.requires_grad_(True)
        res.append(t)
    return res


def copy_torch_state(tm, em):
    """Load torch module ``tm``'s state into ember module ``em`` (keys must match)."""
    t_keys, e_keys = list(tm.state_dict()), list(em.state_dict())
    assert e_keys == t_keys, f"state_dict keys {e_keys} != torch {t_keys}"
    em.load_state_dict({k: v.detach().numpy().copy() for k, v in tm.state_dict().items()})


def module_parity(make, inputs, requires_grad=None, train=True, double=False, rtol=None,
                  atol=None, call=None, seed=0):
    """``make(lib)`` builds the module with ``lib.nn``; ``call(module, *inputs)`` (default
    ``module(*inputs)``) runs it. Returns ``(ember_module, torch_module, ember_outputs)``."""
    tm = make(torch)
    em = make(ember)
    t_repr = repr(tm).replace("torch.", "ember.")
    assert repr(em) == t_repr, f"repr {repr(em)!r} != torch {t_repr!r}"
    if double:
        tm.double()
        em.double()
    copy_torch_state(tm, em)
    tm.train(train)
    em.train(train)
    if requires_grad is None:
        requires_grad = [isinstance(a, np.ndarray) and a.dtype.kind == "f" for a in inputs]
    call = call or (lambda m, *xs: m(*xs))
    e_in = _inputs(ember, inputs, requires_grad)
    t_in = _inputs(torch, inputs, requires_grad)
    e_out = [o for o in _flat(call(em, *e_in))]
    t_out = [o for o in _flat(call(tm, *t_in))]
    assert len(e_out) == len(t_out)
    rng = np.random.default_rng(seed)
    pairs = []
    for i, (eo, to) in enumerate(zip(e_out, t_out)):
        if to is None:
            assert eo is None, f"output {i}: torch gives None, Ember {type(eo)}"
            continue
        tv = to.detach().numpy()
        assert str(eo.dtype).split(".")[-1] == str(to.dtype).split(".")[-1], \
            f"output {i}: dtype {eo.dtype} != torch {to.dtype}"
        assert_close(eo.detach().numpy(), tv, rtol, atol, what=f"output {i}")
        if to.requires_grad:
            assert eo.requires_grad, f"output {i} should require grad"
            g = rng.standard_normal(tv.shape).astype(tv.dtype)
            pairs.append((eo, to, g))
    if pairs:
        torch.autograd.backward([p[1] for p in pairs], [torch.from_numpy(p[2].copy())
                                                        for p in pairs])
        ember.autograd.backward([p[0] for p in pairs], [ember.from_numpy(p[2].copy())
                                                        for p in pairs])
        for k, (ei, ti) in enumerate(zip(e_in, t_in)):
            if isinstance(ti, torch.Tensor) and ti.requires_grad and ti.grad is not None:
                assert ei.grad is not None, f"input {k}: no gradient"
                assert_close(ei.grad.numpy(), ti.grad.numpy(), rtol, atol,
                             what=f"grad of input {k}")
        t_params = dict(tm.named_parameters())
        for name, ep in em.named_parameters():
            tp = t_params[name]
            if tp.grad is None:
                assert ep.grad is None or not np.any(ep.grad.numpy()), f"grad of {name}"
                continue
            assert ep.grad is not None, f"parameter {name}: no gradient"
            assert_close(ep.grad.numpy(), tp.grad.numpy(), rtol, atol, what=f"grad of {name}")
    t_bufs = dict(tm.named_buffers())
    for name, eb in em.named_buffers():
        assert_close(eb.numpy(), t_bufs[name].numpy(), rtol, atol, what=f"buffer {name}")
    return em, tm, e_out
