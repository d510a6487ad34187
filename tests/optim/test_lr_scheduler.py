"""Learning-rate schedulers: lr (and momentum/beta1) sequences equal torch's, state round-trips."""
import math
import warnings

import numpy as np
import pytest
import torch

import ember
from ember.optim import lr_scheduler as es

ts = torch.optim.lr_scheduler

LRS = (0.1, 0.03)


def _optimizers(kind="sgd", lrs=LRS):
    """The same two-group optimizer in ember and torch (no gradients: steps change nothing)."""
    e_params = [ember.zeros(3, requires_grad=True), ember.zeros(2, requires_grad=True)]
    t_params = [torch.zeros(3, requires_grad=True), torch.zeros(2, requires_grad=True)]
    if kind == "sgd":
        return (ember.optim.SGD([{"params": [e_params[0]], "lr": lrs[0]},
                                 {"params": [e_params[1]], "lr": lrs[1]}], momentum=0.9),
                torch.optim.SGD([{"params": [t_params[0]], "lr": lrs[0]},
                                 {"params": [t_params[1]], "lr": lrs[1]}], momentum=0.9))
    return (ember.optim.Adam([{"params": [e_params[0]], "lr": lrs[0]},
                              {"params": [e_params[1]], "lr": lrs[1]}], betas=(0.8, 0.99)),
            torch.optim.Adam([{"params": [t_params[0]], "lr": lrs[0]},
                              {"params": [t_params[1]], "lr": lrs[1]}], betas=(0.8, 0.99)))


def _trajectory(opt, sched, steps, metrics=None, extra=()):
    """lr of every group (and momentum/betas) after construction and after each step."""
    def snapshot():
        row = [g["lr"] for g in opt.param_groups] + list(sched.get_last_lr())
        for key in extra:
            row += [g[key] for g in opt.param_groups]
        return row
    rows = [snapshot()]
    for i in range(steps):
        opt.step()
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[i])
        rows.append(snapshot())
    return rows


def _assert_same(e_rows, t_rows):
    assert len(e_rows) == len(t_rows)
    for i, (er, tr) in enumerate(zip(e_rows, t_rows)):
        np.testing.assert_allclose(np.array(er, dtype=float), np.array(tr, dtype=float),
                                   rtol=1e-12, atol=0, err_msg=f"step {i}")


CASES = {
    "step": (lambda m, o: m.StepLR(o, step_size=3, gamma=0.5), 20),
    "step_default_gamma": (lambda m, o: m.StepLR(o, 4), 13),
    "multistep": (lambda m, o: m.MultiStepLR(o, milestones=[9, 2, 5, 5], gamma=0.3), 15),
    "exponential": (lambda m, o: m.ExponentialLR(o, gamma=0.9), 30),
    "cosine": (lambda m, o: m.CosineAnnealingLR(o, T_max=10, eta_min=0.001), 47),
    "cosine_eta0": (lambda m, o: m.CosineAnnealingLR(o, T_max=7), 30),
    "linear_up": (lambda m, o: m.LinearLR(o, start_factor=0.25, end_factor=1.0, total_iters=6), 12),
    "linear_down": (lambda m, o: m.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=4), 9),
    "linear_default": (lambda m, o: m.LinearLR(o), 8),
    "lambda": (lambda m, o: m.LambdaLR(o, lambda e: 0.95 ** e + 0.01 * e), 20),
    "lambda_list": (lambda m, o: m.LambdaLR(o, [lambda e: 1 / (1 + e), lambda e: 0.5 ** (e // 3)]),
                    12),
    "onecycle_cos": (lambda m, o: m.OneCycleLR(o, max_lr=1.0, total_steps=20), 20),
    "onecycle_linear": (lambda m, o: m.OneCycleLR(o, max_lr=[0.5, 2.0], epochs=3, steps_per_epoch=5,
                                                  anneal_strategy="linear", pct_start=0.4,
                                                  div_factor=10.0, final_div_factor=100.0), 15),
    "onecycle_three_phase": (lambda m, o: m.OneCycleLR(o, max_lr=0.8, total_steps=25,
                                                       three_phase=True, base_momentum=0.8,
                                                       max_momentum=[0.9, 0.99]), 25),
    "onecycle_no_momentum": (lambda m, o: m.OneCycleLR(o, max_lr=0.3, total_steps=10,
                                                       cycle_momentum=False), 10),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_schedule_matches_torch(name, kind):
    make, steps = CASES[name]
    e_opt, t_opt = _optimizers(kind)
    extra = ("momentum",) if kind == "sgd" else ("betas",)
    e_rows = _trajectory(e_opt, make(es, e_opt), steps, extra=extra)
    t_rows = _trajectory(t_opt, make(ts, t_opt), steps, extra=extra)
    flat = [[x for v in row for x in (v if isinstance(v, tuple) else (v,))] for row in e_rows]
    t_flat = [[x for v in row for x in (v if isinstance(v, tuple) else (v,))] for row in t_rows]
    _assert_same(flat, t_flat)
    assert [g["initial_lr"] for g in e_opt.param_groups] == \
        pytest.approx([g["initial_lr"] for g in t_opt.param_groups], rel=1e-15)


def test_step_lr_lecture_numbers():
    """Lecture 003 L341–350 (inventory A18, H30): init_lr = 1e-1, multiplied by f = 0.1 every
    N = 10K steps: ``lr = 10⁻¹ · 0.1^⌊step/10K⌋``."""
    opt, _ = _optimizers(lrs=(0.1, 0.1))
    sched = es.StepLR(opt, step_size=10_000, gamma=0.1)
    seen = {}
    for step in range(1, 25_001):
        opt.step()
        sched.step()
        if step in (1, 9_999, 10_000, 19_999, 20_000, 25_000):
            seen[step] = sched.get_last_lr()[0]
    for step, lr in seen.items():
        assert lr == pytest.approx(0.1 * 0.1 ** (step // 10_000), rel=1e-12), step


def test_cosine_closed_form_and_period():
    """Within [0, T_max] the recursive form equals eta_min + (lr0 - eta_min)(1 + cos(pi t/T))/2."""
    opt, _ = _optimizers()
    sched = es.CosineAnnealingLR(opt, T_max=8, eta_min=0.01)
    for t in range(1, 17):
        opt.step()
        sched.step()
        expected = 0.01 + (0.1 - 0.01) * (1 + math.cos(math.pi * t / 8)) / 2
        assert sched.get_last_lr()[0] == pytest.approx(expected, rel=1e-9), t
    assert sched.get_last_lr()[0] == pytest.approx(0.1)


SEQUENTIAL = {
    "warmup_cosine": lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.1, total_iters=4), m.CosineAnnealingLR(o, T_max=10)],
        milestones=[4]),
    "three": lambda m, o: m.SequentialLR(
        o, [m.ExponentialLR(o, gamma=0.8), m.StepLR(o, step_size=2, gamma=0.5),
            m.MultiStepLR(o, milestones=[1, 3])], milestones=[3, 8]),
    "lambda_then_linear": lambda m, o: m.SequentialLR(
        o, [m.LambdaLR(o, lambda e: 0.5 + e), m.LinearLR(o, 0.5, 0.1, total_iters=3)],
        milestones=[2]),
}


@pytest.mark.parametrize("name", sorted(SEQUENTIAL))
def test_sequential_matches_torch(name):
    e_opt, t_opt = _optimizers()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_sched = SEQUENTIAL[name](ts, t_opt)
    e_sched = SEQUENTIAL[name](es, e_opt)
    _assert_same(_trajectory(e_opt, e_sched, 20), _trajectory(t_opt, t_sched, 20))


def test_chained_schedulers_compose_like_torch():
    """Two recursive schedulers on one optimizer multiply their effects, as in torch."""
    e_opt, t_opt = _optimizers()
    e = [es.ExponentialLR(e_opt, gamma=0.9), es.StepLR(e_opt, step_size=3, gamma=0.5),
         es.CosineAnnealingLR(e_opt, T_max=5)]
    t = [ts.ExponentialLR(t_opt, gamma=0.9), ts.StepLR(t_opt, step_size=3, gamma=0.5),
         ts.CosineAnnealingLR(t_opt, T_max=5)]
    for _ in range(12):
        e_opt.step()
        t_opt.step()
        for s in e + t:
            s.step()
        np.testing.assert_allclose([g["lr"] for g in e_opt.param_groups],
                                   [g["lr"] for g in t_opt.param_groups], rtol=1e-12)


PLATEAU = {
    "min_rel": dict(mode="min", factor=0.5, patience=2),
    "max_abs": dict(mode="max", factor=0.3, patience=1, threshold=0.05, threshold_mode="abs"),
    "cooldown_minlr": dict(factor=0.5, patience=0, cooldown=2, min_lr=[0.02, 0.001]),
    "min_lr_scalar_eps": dict(factor=0.1, patience=1, min_lr=0.0009, eps=1e-3),
    "max_rel": dict(mode="max", factor=0.7, patience=3, threshold=0.1),
}


@pytest.mark.parametrize("name", sorted(PLATEAU))
def test_reduce_on_plateau_matches_torch(name):
    rng = np.random.default_rng(0)
    metrics = list(np.round(np.cumsum(rng.normal(0, 1, 40)) * 0.1 + 3.0, 3))
    metrics[5:12] = [metrics[5]] * 7
    e_opt, t_opt = _optimizers()
    e_sched = es.ReduceLROnPlateau(e_opt, **PLATEAU[name])
    t_sched = ts.ReduceLROnPlateau(t_opt, **PLATEAU[name])
    e_metrics = [ember.tensor(m, dtype=ember.float64) for m in metrics]
    e_rows = _trajectory(e_opt, e_sched, 40, metrics=e_metrics)
    t_rows = _trajectory(t_opt, t_sched, 40, metrics=metrics)
    _assert_same(e_rows, t_rows)
    assert e_sched.num_bad_epochs == t_sched.num_bad_epochs
    assert e_sched.best == pytest.approx(t_sched.best)
    assert len({r[0] for r in e_rows}) > 1, "the metric sequence should trigger a reduction"


def _checkpoint_roundtrip(obj, tmp_path):
    path = tmp_path / "sched.ember"
    ember.save(obj, path)
    return ember.load(path)


class Warmup:
    """A callable object with state: LambdaLR saves its __dict__."""

    def __init__(self, scale):
        self.scale = scale

    def __call__(self, epoch):
        return self.scale * min(1.0, (epoch + 1) / 4)


RESUMABLE = {
    "step": lambda o: es.StepLR(o, step_size=3, gamma=0.5),
    "multistep": lambda o: es.MultiStepLR(o, milestones=[2, 4, 4, 11]),
    "cosine": lambda o: es.CosineAnnealingLR(o, T_max=6, eta_min=0.002),
    "onecycle": lambda o: es.OneCycleLR(o, max_lr=0.5, total_steps=24, three_phase=True),
    "sequential": lambda o: SEQUENTIAL["warmup_cosine"](es, o),
    "lambda_object": lambda o: es.LambdaLR(o, Warmup(2.0)),
}


@pytest.mark.parametrize("name", sorted(RESUMABLE))
def test_scheduler_state_dict_resume(name, tmp_path):
    """Save optimizer + scheduler after 9 steps, restore into fresh ones, continue: same lrs."""
    make = RESUMABLE[name]
    opt, _ = _optimizers()
    sched = make(opt)
    for _ in range(9):
        opt.step()
        sched.step()
    if name == "lambda_object":
        sched.lr_lambdas[0].scale = 3.0
    ckpt = _checkpoint_roundtrip({"opt": opt.state_dict(), "sched": sched.state_dict()}, tmp_path)
    reference = _trajectory(opt, sched, 12)[1:]

    opt2, _ = _optimizers(lrs=(0.5, 0.5))
    sched2 = make(opt2)
    sched2.load_state_dict(ckpt["sched"])
    opt2.load_state_dict(ckpt["opt"])
    if name == "lambda_object":
        assert sched2.lr_lambdas[0].scale == 3.0
    _assert_same(_trajectory(opt2, sched2, 12)[1:], reference)


def test_reduce_on_plateau_state_dict_resume(tmp_path):
    metrics = [1.0, 0.9, 0.95, 0.97, 0.99, 0.5, 0.6, 0.61, 0.62, 0.63, 0.64, 0.65]
    opt, _ = _optimizers()
    sched = es.ReduceLROnPlateau(opt, patience=1, cooldown=1, factor=0.5)
    for m in metrics[:4]:
        sched.step(m)
    ckpt = _checkpoint_roundtrip({"opt": opt.state_dict(), "sched": sched.state_dict()}, tmp_path)
    reference = _trajectory(opt, sched, 8, metrics=metrics[4:])[1:]
    opt2, _ = _optimizers()
    sched2 = es.ReduceLROnPlateau(opt2, mode="max")
    sched2.load_state_dict(ckpt["sched"])
    opt2.load_state_dict(ckpt["opt"])
    _assert_same(_trajectory(opt2, sched2, 8, metrics=metrics[4:])[1:], reference)


def test_resume_with_last_epoch_matches_torch():
    """last_epoch >= 0 continues a schedule from the optimizer's initial_lr, as in torch."""
    e_opt, t_opt = _optimizers()
    for opt in (e_opt, t_opt):
        for g in opt.param_groups:
            g["initial_lr"] = g["lr"] * 2
    e_sched = es.ExponentialLR(e_opt, gamma=0.5, last_epoch=4)
    t_sched = ts.ExponentialLR(t_opt, gamma=0.5, last_epoch=4)
    _assert_same(_trajectory(e_opt, e_sched, 5), _trajectory(t_opt, t_sched, 5))
    assert e_sched.last_epoch == t_sched.last_epoch == 10


def test_resume_without_initial_lr_raises():
    opt, _ = _optimizers()
    with pytest.raises(KeyError, match="initial_lr"):
        es.StepLR(opt, step_size=2, last_epoch=3)


def test_base_attributes_like_torch():
    e_opt, t_opt = _optimizers()
    e, t = es.StepLR(e_opt, 2), ts.StepLR(t_opt, 2)
    assert e.base_lrs == t.base_lrs
    assert (e.last_epoch, e._step_count) == (t.last_epoch, t._step_count) == (0, 1)
    assert e.get_last_lr() == t.get_last_lr()
    assert {"base_lrs", "last_epoch", "step_size", "gamma", "_last_lr", "_step_count"} <= \
        set(e.state_dict())
    assert "optimizer" not in e.state_dict()


def test_warns_when_scheduler_steps_before_optimizer():
    opt, _ = _optimizers()
    sched = es.StepLR(opt, 2)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        sched.step()
    opt2, _ = _optimizers()
    sched2 = es.StepLR(opt2, 2)
    opt2.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched2.step()


def test_get_lr_outside_step_warns():
    opt, _ = _optimizers()
    sched = es.ExponentialLR(opt, gamma=0.5)
    with pytest.warns(UserWarning, match="get_last_lr"):
        sched.get_lr()


def test_onecycle_errors():
    opt, _ = _optimizers()
    sched = es.OneCycleLR(opt, max_lr=0.1, total_steps=3)
    for _ in range(3):
        opt.step()
        sched.step()
    with pytest.raises(ValueError, match="total_steps=3"):
        sched.step()
    with pytest.raises(ValueError, match="total_steps"):
        es.OneCycleLR(opt, max_lr=0.1)
    with pytest.raises(ValueError, match="anneal_strategy"):
        es.OneCycleLR(opt, max_lr=0.1, total_steps=5, anneal_strategy="exp")
    with pytest.raises(ValueError, match="pct_start"):
        es.OneCycleLR(opt, max_lr=0.1, total_steps=5, pct_start=1.5)
    with pytest.raises(ValueError, match="one value per param group"):
        es.OneCycleLR(opt, max_lr=[0.1, 0.2, 0.3], total_steps=5)
    no_momentum = ember.optim.Adagrad([ember.zeros(2, requires_grad=True)])
    with pytest.raises(ValueError, match="Adagrad has neither"):
        es.OneCycleLR(no_momentum, max_lr=0.1, total_steps=5)


def test_scheduler_argument_errors():
    opt, _ = _optimizers()
    with pytest.raises(TypeError, match="expected an ember.optim.Optimizer"):
        es.StepLR(object(), 3)
    with pytest.raises(ValueError, match="step_size"):
        es.StepLR(opt, 0)
    with pytest.raises(ValueError, match="start_factor"):
        es.LinearLR(opt, start_factor=0)
    with pytest.raises(ValueError, match="end_factor"):
        es.LinearLR(opt, end_factor=1.5)
    with pytest.raises(ValueError, match="T_max"):
        es.CosineAnnealingLR(opt, T_max=0)
    with pytest.raises(ValueError, match="expected 2 lr_lambdas"):
        es.LambdaLR(opt, [lambda e: 1.0])
    with pytest.raises(TypeError, match="callable"):
        es.LambdaLR(opt, 0.5)
    with pytest.raises(ValueError, match="factor should be < 1.0"):
        es.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="mode"):
        es.ReduceLROnPlateau(opt, mode="median")
    with pytest.raises(ValueError, match="threshold_mode"):
        es.ReduceLROnPlateau(opt, threshold_mode="relative")
    with pytest.raises(ValueError, match="one value per param group"):
        es.ReduceLROnPlateau(opt, min_lr=[0.1])
    other, _ = _optimizers()
    with pytest.raises(ValueError, match="milestones"):
        es.SequentialLR(opt, [es.StepLR(opt, 2), es.StepLR(opt, 3)], milestones=[])
    with pytest.raises(ValueError, match="different optimizer"):
        es.SequentialLR(opt, [es.StepLR(opt, 2), es.StepLR(other, 3)], milestones=[2])
    with pytest.raises(ValueError, match="ReduceLROnPlateau"):
        es.SequentialLR(opt, [es.StepLR(opt, 2), es.ReduceLROnPlateau(opt)], milestones=[2])
    with pytest.raises(ValueError, match="at least one"):
        es.SequentialLR(opt, [], milestones=[])


def test_plateau_min_lrs_follow_added_param_group():
    opt, _ = _optimizers()
    sched = es.ReduceLROnPlateau(opt, patience=0, min_lr=0.05)
    opt.add_param_group({"params": [ember.zeros(1, requires_grad=True)], "lr": 0.2})
    sched.step(1.0)
    sched.step(2.0)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.05, 0.03, 0.05])
    sched_list = es.ReduceLROnPlateau(opt, patience=0, min_lr=[0.0, 0.0, 0.0])
    opt.add_param_group({"params": [ember.zeros(1, requires_grad=True)]})
    sched_list.step(1.0)
    with pytest.raises(RuntimeError, match="min_lr"):
        sched_list.step(2.0)
