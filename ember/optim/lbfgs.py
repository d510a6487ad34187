"""L-BFGS (Nocedal 1980; Liu & Nocedal 1989) with an optional strong-Wolfe line search.

A quasi-Newton method: from the last ``history_size`` pairs of parameter steps ``s`` and
gradient changes ``y`` it builds, with the two-loop recursion, the product of an approximate
inverse Hessian with the gradient, and steps along it. Every parameter is seen as one flat
vector, and one ``step(closure)`` runs up to ``max_iter`` iterations, re-evaluating the loss
through ``closure``. The arithmetic follows torch's ``torch/optim/lbfgs.py`` (itself after
Schmidt's minFunc) operation by operation, so that trajectories agree with torch's.
"""
import numpy as np

from ember._tensor import Tensor
from ember.autograd.grad_mode import enable_grad, no_grad
from ember.optim.optimizer import Optimizer


class LBFGS(Optimizer):
    r"""L-BFGS (torch.optim.LBFGS).

    One ``step(closure)`` repeats, at most ``max_iter`` times:

    1. direction ``d = −H g`` by the two-loop recursion over the stored pairs
       ``(s_i, y_i)`` with ``ρ_i = 1 / (y_iᵀ s_i)`` and the initial scaling
       ``H₀ = (yᵀ s) / (yᵀ y)`` of the newest pair (a pair is stored only if ``yᵀ s > 1e-10``);
       at the first iteration ever, ``d = −g``;
    2. step length ``t``: ``lr`` (the first iteration ever: ``min(1, 1 / Σ|g|) · lr``), or the
       one the strong-Wolfe line search finds (sufficient decrease ``f(x + t d) ≤ f + c₁ t gᵀd``
       and curvature ``|∇f(x + t d)ᵀ d| ≤ −c₂ gᵀd``, ``c₁ = 1e-4``, ``c₂ = 0.9``, by bracketing
       and cubic interpolation);
    3. ``x ← x + t d``,

    and stops early when ``max|g| ≤ tolerance_grad``, when the directional derivative, the step
    or the change of the loss falls below ``tolerance_change``, or after ``max_eval`` loss
    evaluations.

    Args:
        params: the parameters (one group only: L-BFGS has no per-group options).
        lr (float): step length scale, default 1.
        max_iter (int): iterations per ``step``, default 20.
        max_eval (int): loss evaluations per ``step``, default ``max_iter * 5 // 4``.
        tolerance_grad (float): stop when the largest gradient entry is at most this, 1e-7.
        tolerance_change (float): stop when the loss or the parameters change less, 1e-9.
        history_size (int): number of ``(s, y)`` pairs kept, default 100.
        line_search_fn (str): ``'strong_wolfe'`` or ``None`` (a fixed step), default None.

    ``step(closure)`` requires ``closure``: a function that zeroes the gradients, computes
    the loss, calls ``backward()`` and returns the loss. It returns the first loss of the step.

    State (in ``state[params[0]]``, as torch keeps it): ``func_evals``, ``n_iter``, the last
    direction ``d`` and length ``t``, ``old_dirs`` (the ``y``), ``old_stps`` (the ``s``),
    ``ro``, ``H_diag``, ``prev_flat_grad``, ``prev_loss`` and ``al``.
    """

    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7,
                 tolerance_change=1e-9, history_size=100, line_search_fn=None):
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval,
                        tolerance_grad=tolerance_grad, tolerance_change=tolerance_change,
                        history_size=history_size, line_search_fn=line_search_fn)
        super().__init__(params, defaults)
        self._params = self.param_groups[0]["params"]

    def _check_group(self, group):
        self._check_nonnegative(group, "lr")
        if group.get("line_search_fn") not in (None, "strong_wolfe"):
            raise ValueError(f"{self._name}: line_search_fn must be 'strong_wolfe' or None, got "
                             f"{group['line_search_fn']!r}")

    def add_param_group(self, param_group):
        if self.param_groups:
            raise ValueError(f"{self._name} doesn't support per-parameter options (parameter "
                             "groups): it optimizes one group")
        super().add_param_group(param_group)

    # ------------------------------------------------------------ the parameters as one vector
    def _flat_grad(self):
        return np.concatenate([p.grad._data.reshape(-1) if p.grad is not None
                               else np.zeros(p._data.size, dtype=p._data.dtype)
                               for p in self._params])

    def _add_to_params(self, t, direction):
        offset = 0
        for p in self._params:
            n = p._data.size
            p._data += t * direction[offset:offset + n].reshape(p._data.shape)
            p._bump_version()
            offset += n

    def _set_params(self, values):
        for p, value in zip(self._params, values):
            p._data[...] = value
            p._bump_version()

    def _evaluate_at(self, closure, x, t, direction):
        """Loss and flat gradient at ``x + t·direction``; the parameters return to ``x``."""
        self._add_to_params(t, direction)
        loss = float(closure())
        flat_grad = self._flat_grad()
        self._set_params(x)
        return loss, flat_grad

    # --------------------------------------------------------------------------------- step
    def step(self, closure):
        """Up to ``max_iter`` L-BFGS iterations; returns the loss before the first of them."""
        if closure is None:
            raise RuntimeError(f"{self._name}.step requires a closure that reevaluates the "
                               "model and returns the loss")

        def evaluate():
            with enable_grad():
                return closure()

        with no_grad():
            return self._iterate(evaluate)

    def _iterate(self, closure):
        group = self.param_groups[0]
        lr = float(group["lr"])
        max_iter, max_eval = group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        history_size = group["history_size"]
        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        orig_loss = closure()
        loss = float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1
        flat_grad = self._flat_grad()
        if np.abs(flat_grad).max() <= tolerance_grad:
            return orig_loss

        d, t = _array(state.get("d")), _number(state.get("t"))
        old_dirs = [_array(v) for v in state.get("old_dirs", [])]
        old_stps = [_array(v) for v in state.get("old_stps", [])]
        ro = [_number(v) for v in state.get("ro", [])]
        h_diag = _number(state.get("H_diag"))
        prev_flat_grad = _array(state.get("prev_flat_grad"))
        prev_loss = state.get("prev_loss")
        al = [_number(v) for v in state.get("al", [])]

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                h_diag = 1
            else:
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = y.dot(s)
                if ys > 1e-10:
                    if len(old_dirs) == history_size:   # the oldest pair makes room
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    h_diag = ys / y.dot(y)
                if not al:
                    al = [None] * history_size
                # two-loop recursion: d = -H g
                q = -flat_grad
                for i in range(len(old_dirs) - 1, -1, -1):
                    al[i] = old_stps[i].dot(q) * ro[i]
                    q += -al[i] * old_dirs[i]
                d = r = q * h_diag
                for i in range(len(old_dirs)):
                    be_i = old_dirs[i].dot(r) * ro[i]
                    r += (al[i] - be_i) * old_stps[i]

            if prev_flat_grad is None:
                prev_flat_grad = flat_grad.copy()
            else:
                prev_flat_grad[...] = flat_grad
            prev_loss = loss
            t = min(1.0, 1.0 / np.abs(flat_grad).sum()) * lr if state["n_iter"] == 1 else lr

            gtd = flat_grad.dot(d)
            if gtd > -tolerance_change:   # not a descent direction
                break

            evals = 0
            if group["line_search_fn"] == "strong_wolfe":
                x_init = [p._data.copy() for p in self._params]
                loss, flat_grad, t, evals = _strong_wolfe(
                    lambda x, step, direction: self._evaluate_at(closure, x, step, direction),
                    x_init, t, d, loss, flat_grad, gtd, max_ls=max_eval - current_evals)
                self._add_to_params(t, d)
                opt_cond = np.abs(flat_grad).max() <= tolerance_grad
            else:
                self._add_to_params(t, d)
                opt_cond = False
                if n_iter != max_iter:
                    loss = float(closure())
                    flat_grad = self._flat_grad()
                    opt_cond = np.abs(flat_grad).max() <= tolerance_grad
                    evals = 1
            current_evals += evals
            state["func_evals"] += evals

            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if np.abs(d * t).max() <= tolerance_change or abs(loss - prev_loss) < tolerance_change:
                break

        state.update(d=_tensor(d), t=_tensor(t), old_dirs=[_tensor(v) for v in old_dirs],
                     old_stps=[_tensor(v) for v in old_stps], ro=[_tensor(v) for v in ro],
                     H_diag=_tensor(h_diag), prev_flat_grad=_tensor(prev_flat_grad),
                     prev_loss=prev_loss)
        if al:
            state["al"] = [_tensor(v) for v in al]
        return orig_loss


def _tensor(value):
    """State values as torch keeps them: arrays and array scalars as tensors."""
    if isinstance(value, (np.ndarray, np.generic)):
        return Tensor._wrap(np.array(value))
    return value


def _array(value):
    return None if value is None else np.array(value._data if isinstance(value, Tensor) else value)


def _number(value):
    if isinstance(value, Tensor):
        return value._data[()]
    return value


def _cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
    """The minimizer of the cubic through ``(x1, f1)``, ``(x2, f2)`` with slopes ``g1``, ``g2``,
    clipped to ``bounds`` (default: between x1 and x2); their midpoint if it has none."""
    if bounds is not None:
        xmin_bound, xmax_bound = bounds
    else:
        xmin_bound, xmax_bound = (x1, x2) if x1 <= x2 else (x2, x1)
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 ** 2 - g1 * g2
    if d2_square >= 0:
        d2 = np.sqrt(d2_square)
        if x1 <= x2:
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(min_pos, xmin_bound), xmax_bound)
    return (xmin_bound + xmax_bound) / 2.0


def _strong_wolfe(obj_func, x, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9,
                  max_ls=25):
    """Line search for a step ``t`` along ``d`` satisfying the strong Wolfe conditions:
    first bracket an interval that contains one (growing ``t`` by cubic extrapolation), then
    shrink it by cubic interpolation (``zoom``). Returns the new loss, flat gradient, ``t`` and
    the number of loss evaluations."""
    d_norm = np.abs(d).max()
    g = g.copy()
    f_new, g_new = obj_func(x, t, d)
    ls_func_evals = 1
    gtd_new = g_new.dot(d)

    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    ls_iter = 0
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        # extrapolate, between 1.01 t and 10 t
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        tmp = t
        t = _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                               bounds=(min_step, max_step))
        t_prev, f_prev, g_prev, gtd_prev = tmp, f_new, g_new.copy(), gtd_new
        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1
    if ls_iter == max_ls:   # reached the evaluation budget while extrapolating
        bracket, bracket_f, bracket_g = [0, t], [f, f_new], [g, g_new]

    # zoom: shrink the bracket until a point satisfies both conditions
    insuf_progress = False
    low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0],
                               bracket[1], bracket_f[1], bracket_gtd[1])
        # a point too close to an end of the bracket makes no progress: move it inside
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insuf_progress or t >= max(bracket) or t <= min(bracket):
                if abs(t - max(bracket)) < abs(t - min(bracket)):
                    t = max(bracket) - eps
                else:
                    t = min(bracket) + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False
        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1
        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low_pos]:
            bracket[high_pos], bracket_f[high_pos] = t, f_new
            bracket_g[high_pos], bracket_gtd[high_pos] = g_new.copy(), gtd_new
            low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high_pos] - bracket[low_pos]) >= 0:
                bracket[high_pos], bracket_f[high_pos] = bracket[low_pos], bracket_f[low_pos]
                bracket_g[high_pos] = bracket_g[low_pos]
                bracket_gtd[high_pos] = bracket_gtd[low_pos]
            bracket[low_pos], bracket_f[low_pos] = t, f_new
            bracket_g[low_pos], bracket_gtd[low_pos] = g_new.copy(), gtd_new
    return bracket_f[low_pos], bracket_g[low_pos], bracket[low_pos], ls_func_evals
