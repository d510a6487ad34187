"""ember.profiler: per-op call counts and times of forward and backward, the table, the hook.

Times are never asserted (the machine is shared); counts, grouping, sorting and the hook's
on/off behaviour are.
"""
import numpy as np
import pytest

import ember
import ember.nn.functional as F
import ember.profiler
from ember.autograd import function as function_module
from ember.autograd.function import Function


class Twice(Function):
    """y = 2x, a primitive of the test's own so that the counts are known exactly."""

    def forward(self, x):
        return 2 * x

    def backward(self, grad):
        return 2 * grad


class Square(Function):
    saved_inputs = (0,)

    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, grad):
        return 2 * self.x * grad


def _rows(prof, **kw):
    return {s.key if s.input_shapes is None else (s.key, s.input_shapes): s
            for s in prof.key_averages(**kw)}


def test_counts_forward_and_backward_calls_per_function_class():
    x = ember.randn(3, 4, requires_grad=True)
    with ember.profiler.profile() as prof:
        y = Twice.apply(Twice.apply(x))
        z = Square.apply(y)
        Twice.apply(x.detach())        # no graph: forward only
        Square.apply(z).sum().backward()
    rows = _rows(prof)
    assert (rows["Twice"].count, rows["Twice"].backward_count) == (3, 2)
    assert (rows["Square"].count, rows["Square"].backward_count) == (2, 2)
    for s in rows.values():
        assert s.forward_time >= 0 and s.backward_time >= 0
        assert s.total_time == pytest.approx(s.forward_time + s.backward_time)
    assert prof.elapsed >= sum(s.total_time for s in rows.values())


def test_library_ops_are_recorded_under_their_function_names():
    x = ember.randn(2, 3, 8, 8, requires_grad=True)
    w = ember.randn(4, 3, 3, 3, requires_grad=True)
    with ember.profiler.profile() as prof:
        F.relu(F.conv2d(x, w, padding=1)).sum().backward()
    rows = _rows(prof)
    assert rows["Conv"].count == 1 and rows["Conv"].backward_count == 1
    assert rows["Relu"].count == 1 and rows["Relu"].backward_count == 1


def test_profiling_does_not_change_results():
    a = np.random.randn(5, 6).astype(np.float32)

    def run():
        x = ember.tensor(a, requires_grad=True)
        y = Square.apply(Twice.apply(x)).tanh().sum()
        y.backward()
        return y.item(), x.grad.numpy()

    plain = run()
    with ember.profiler.profile():
        profiled = run()
    assert plain[0] == profiled[0]
    np.testing.assert_array_equal(plain[1], profiled[1])


def test_hook_is_only_installed_inside_the_block_even_after_an_error():
    assert function_module.profiler_hook is None
    x = ember.randn(3, requires_grad=True)
    with pytest.raises(ValueError, match="boom"):
        with ember.profiler.profile() as prof:
            assert function_module.profiler_hook is prof
            Twice.apply(x)
            raise ValueError("boom")
    assert function_module.profiler_hook is None
    Twice.apply(x).sum().backward()     # after the block: not recorded
    assert _rows(prof)["Twice"].count == 1
    assert _rows(prof)["Twice"].backward_count == 0


def test_disabled_profile_records_nothing():
    with ember.profiler.profile(enabled=False) as prof:
        assert function_module.profiler_hook is None
        Twice.apply(ember.randn(3, requires_grad=True)).sum().backward()
    assert len(prof.key_averages()) == 0


def test_profiles_do_not_nest():
    with ember.profiler.profile():
        with pytest.raises(RuntimeError, match="already active"):
            with ember.profiler.profile():
                pass
    assert function_module.profiler_hook is None


def test_record_shapes_separates_calls_by_input_shape():
    a = ember.randn(2, 3, requires_grad=True)
    b = ember.randn(4, requires_grad=True)
    with ember.profiler.profile(record_shapes=True) as prof:
        (Twice.apply(a).sum() + Twice.apply(a).sum() + Twice.apply(b).sum()).backward()
    grouped = _rows(prof, group_by_input_shape=True)
    assert grouped[("Twice", ((2, 3),))].count == 2
    assert grouped[("Twice", ((2, 3),))].backward_count == 2
    assert grouped[("Twice", ((4,),))].count == 1
    assert grouped[("Twice", ((4,),))].backward_count == 1
    merged = _rows(prof)
    assert merged["Twice"].count == 3 and merged["Twice"].backward_count == 3
    assert "Twice 2x3" in prof.table() and "Twice 4" in prof.table()


def test_group_by_input_shape_needs_record_shapes():
    with ember.profiler.profile() as prof:
        Twice.apply(ember.randn(2))
    with pytest.raises(ValueError, match="record_shapes=True"):
        prof.key_averages(group_by_input_shape=True)


def test_table_is_sorted_and_limited():
    x = ember.randn(50, 50, requires_grad=True)
    with ember.profiler.profile() as prof:
        for _ in range(3):
            Square.apply(Twice.apply(x)).exp().sum().backward()
    stats = prof.key_averages()
    lines = stats.table(sort_by="count").splitlines()
    names = [line.split()[0] for line in lines[2:-2]]
    counts = {s.key: s.count + s.backward_count for s in stats}
    assert sorted(names) == sorted(counts)
    assert [counts[n] for n in names] == sorted(counts.values(), reverse=True)
    by_total = [line.split()[0] for line in stats.table().splitlines()[2:-2]]
    totals = {s.key: s.total_time for s in stats}
    assert [totals[n] for n in by_total] == sorted(totals.values(), reverse=True)
    by_name = [line.split()[0] for line in stats.table(sort_by="name").splitlines()[2:-2]]
    assert by_name == sorted(by_name)
    limited = stats.table(row_limit=2).splitlines()
    assert len(limited) == 2 + 2 + 2 and "2 shown" in limited[-1]
    assert str(prof) == prof.table()


def test_table_rejects_bad_arguments():
    with ember.profiler.profile() as prof:
        Twice.apply(ember.randn(2))
    with pytest.raises(ValueError, match="sort_by must be one of"):
        prof.table(sort_by="cpu_time_total")
    with pytest.raises(ValueError, match="row_limit"):
        prof.table(row_limit=-1)


def test_autograd_grad_backward_is_recorded():
    x = ember.randn(4, requires_grad=True)
    with ember.profiler.profile() as prof:
        (g,) = ember.autograd.grad(Square.apply(x).sum(), [x])
    np.testing.assert_allclose(g.numpy(), 2 * x.detach().numpy(), rtol=1e-6)
    assert _rows(prof)["Square"].backward_count == 1
