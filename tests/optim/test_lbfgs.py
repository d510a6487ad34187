"""L-BFGS: trajectories equal to torch's on test problems, with and without the strong-Wolfe
line search, the same state, the same stopping rules; resumable from its state dict."""
import numpy as np
import pytest
import torch

import ember

RNG = np.random.default_rng(5)
START = np.array([-1.5, 2.0, -0.5, 1.2, 0.3])
X = RNG.normal(size=(24, 3))
Y = (X @ np.array([1.5, -2.0, 0.5]) + RNG.normal(scale=0.3, size=24) > 0).astype(np.float64)


def _rosenbrock(lib, dtype):
    """The n-dimensional Rosenbrock function: a curved valley, minimum 0 at (1, ..., 1)."""
    x = lib.tensor(START.astype(dtype), requires_grad=True)
    return [x], lambda: (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def _logistic(lib, dtype):
    """Logistic regression through nn.Linear and BCE-with-logits, with an L2 term."""
    model = lib.nn.Linear(3, 1).to(getattr(lib, dtype))
    with lib.no_grad():
        model.weight.copy_(lib.tensor(np.array([[0.1, -0.2, 0.3]], dtype=dtype)))
        model.bias.fill_(0.05)
    x, y = lib.tensor(X.astype(dtype)), lib.tensor(Y.astype(dtype))

    def loss():
        out = model(x).squeeze(1)
        l2 = (model.weight ** 2).sum()
        return lib.nn.functional.binary_cross_entropy_with_logits(out, y) + 0.01 * l2
    return list(model.parameters()), loss


PROBLEMS = {"rosenbrock": _rosenbrock, "logistic": _logistic}
CONFIGS = [
    dict(),
    dict(line_search_fn="strong_wolfe"),
    dict(lr=0.5, max_iter=7, history_size=3),
    dict(history_size=2, line_search_fn="strong_wolfe", max_eval=9),
    dict(max_iter=50, tolerance_grad=1e-4, tolerance_change=1e-6, line_search_fn="strong_wolfe"),
]
IDS = ["-".join(f"{k}={v}" for k, v in c.items()) or "defaults" for c in CONFIGS]


def _run(lib, problem, kwargs, dtype, steps=4):
    params, loss_fn = PROBLEMS[problem](lib, dtype)
    opt = lib.optim.LBFGS(params, **kwargs)
    losses = []
    history = [np.concatenate([p.detach().numpy().ravel() for p in params])]

    def closure():
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        return loss

    for _ in range(steps):
        losses.append(float(opt.step(closure).detach()))
        history.append(np.concatenate([p.detach().numpy().ravel() for p in params]))
    return opt, np.array(losses), np.array(history)


def _state(opt):
    """The state of the single parameter group, as arrays (lists of tensors as stacks)."""
    out = {}
    for key, value in opt.state_dict()["state"][0].items():
        if isinstance(value, list):
            value = [np.asarray(v) for v in value if v is not None]
        out[key] = np.asarray(value, dtype=np.float64) if not isinstance(value, list) \
            else [np.asarray(v, dtype=np.float64) for v in value]
    return out


@pytest.mark.parametrize("problem", sorted(PROBLEMS))
@pytest.mark.parametrize("kwargs", CONFIGS, ids=IDS)
def test_trajectory_and_state_equal_torch_in_float64(problem, kwargs):
    e_opt, e_losses, e_hist = _run(ember, problem, kwargs, "float64")
    t_opt, t_losses, t_hist = _run(torch, problem, kwargs, "float64")
    np.testing.assert_allclose(e_losses, t_losses, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(e_hist, t_hist, rtol=1e-9, atol=1e-12)
    assert not np.allclose(e_hist[0], e_hist[-1]), "the parameters should move"
    e_state, t_state = _state(e_opt), _state(t_opt)
    assert sorted(e_state) == sorted(t_state)
    for key in ("func_evals", "n_iter"):
        assert e_state[key] == t_state[key], key
    for key, value in t_state.items():
        if isinstance(value, list):
            assert len(e_state[key]) == len(value), key
            for a, b in zip(e_state[key], value):
                np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-10, err_msg=key)
        else:
            np.testing.assert_allclose(e_state[key], value, rtol=1e-7, atol=1e-10, err_msg=key)


def test_line_search_finds_the_minimum_from_the_classic_start():
    """2-D Rosenbrock from (-1.2, 1): with strong Wolfe, one step of 100 iterations reaches
    (1, 1), with as many loss evaluations as torch's."""
    evaluations = []
    for lib in (ember, torch):
        x = lib.tensor([-1.2, 1.0], dtype=lib.float64, requires_grad=True)
        opt = lib.optim.LBFGS([x], max_iter=100, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = 100 * (x[1] - x[0] ** 2) ** 2 + (1 - x[0]) ** 2
            loss.backward()
            return loss

        opt.step(closure)
        np.testing.assert_allclose(x.detach().numpy(), [1.0, 1.0], atol=1e-4)  # loss < 1e-9
        evaluations.append(opt.state_dict()["state"][0]["func_evals"])
    assert evaluations[0] == evaluations[1] < 100


def test_float32_trajectory_is_as_accurate_as_torchs():
    """float32 runs are judged against the float64 trajectory, as for the other optimizers:
    Ember's distance may be 4x torch's plus 16 float32 ulps per loss evaluation."""
    kwargs = dict(line_search_fn="strong_wolfe", max_iter=5)
    e_opt, _, e_hist = _run(ember, "logistic", kwargs, "float32", steps=2)
    _, _, t_hist = _run(torch, "logistic", kwargs, "float32", steps=2)
    _, _, exact = _run(torch, "logistic", kwargs, "float64", steps=2)
    evals = e_opt.state_dict()["state"][0]["func_evals"]
    bound = 4 * np.abs(t_hist - exact).max() + 16 * np.finfo(np.float32).eps * evals * \
        max(1.0, np.abs(exact).max())
    assert np.abs(e_hist - exact).max() <= bound
    assert e_hist.dtype == np.float32


def test_resume_from_state_dict_equals_uninterrupted():
    kwargs = dict(line_search_fn="strong_wolfe", max_iter=4, history_size=3)
    _, _, reference = _run(ember, "rosenbrock", kwargs, "float64", steps=4)
    params, loss_fn = _rosenbrock(ember, "float64")
    opt = ember.optim.LBFGS(params, **kwargs)

    def closure():
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        return loss

    for _ in range(2):
        opt.step(closure)
    saved = opt.state_dict()
    x = params[0].detach().numpy().copy()
    fresh_params, fresh_loss = _rosenbrock(ember, "float64")
    with ember.no_grad():
        fresh_params[0].copy_(ember.tensor(x))
    fresh = ember.optim.LBFGS(fresh_params, **kwargs)
    fresh.load_state_dict(saved)

    def fresh_closure():
        fresh.zero_grad()
        loss = fresh_loss()
        loss.backward()
        return loss

    for step in (3, 4):
        fresh.step(fresh_closure)
        np.testing.assert_allclose(fresh_params[0].detach().numpy(), reference[step], rtol=1e-12)


def test_stops_at_once_when_the_gradient_is_already_small():
    for lib in (ember, torch):
        x = lib.tensor([1.0, 1.0, 1.0], dtype=lib.float64, requires_grad=True)
        opt = lib.optim.LBFGS([x])

        def closure():
            opt.zero_grad()
            loss = (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()
            loss.backward()
            return loss

        assert float(opt.step(closure).detach()) == 0.0
        assert opt.state_dict()["state"][0]["func_evals"] == 1
        assert "d" not in opt.state_dict()["state"][0]


def test_refuses_what_it_cannot_do():
    a, b = ember.zeros(2, requires_grad=True), ember.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="parameter groups"):
        ember.optim.LBFGS([{"params": [a]}, {"params": [b]}])
    with pytest.raises(ValueError, match="parameter groups"):
        ember.optim.LBFGS([a]).add_param_group({"params": [b]})
    with pytest.raises(ValueError, match="strong_wolfe"):
        ember.optim.LBFGS([a], line_search_fn="backtracking")
    with pytest.raises(ValueError, match="lr"):
        ember.optim.LBFGS([a], lr=-1)
    with pytest.raises(RuntimeError, match="closure"):
        ember.optim.LBFGS([a]).step(None)
    assert ember.optim.LBFGS([a]).param_groups[0]["max_eval"] == 25
