"""Checks on ``ember train`` run folders shared by the task tests."""
import json
import os

import numpy as np

import ember


def assert_resumed_run_equals_full(full, cut, epochs):
    """A run resumed from a cut-off copy (folder ``cut``) ends where the uninterrupted run
    (folder ``full``) ended: the same ``epochs`` rows of metrics (times aside), the same test
    metrics and bit-identical final weights."""
    strip = lambda rows: [{k: v for k, v in r.items() if k != "time"} for r in rows]
    rows = {name: json.load(open(os.path.join(folder, "metrics.json")))
            for name, folder in (("full", full), ("cut", cut))}
    assert len(rows["full"]) == epochs and strip(rows["full"]) == strip(rows["cut"])
    assert json.load(open(os.path.join(full, "test_metrics.json"))) == \
        json.load(open(os.path.join(cut, "test_metrics.json")))
    a = ember.load(os.path.join(full, "checkpoints", "last.ember"))["model"]
    b = ember.load(os.path.join(cut, "checkpoints", "last.ember"))["model"]
    for key in a:
        np.testing.assert_array_equal(a[key].numpy(), b[key].numpy())
