"""The fuzzing suite's short run (part of ``make test``; ``make fuzz`` runs it at length) and
the checks that its engine catches every kind of violation."""
import json
import os
import sys

import pytest

from tests.fuzz import engine, seeds, targets

# cases per target in the short run: a deterministic set, about a minute on two cores
SHORT_RUN_CASES = 150


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("fuzz"))
    families = seeds.write_seeds(os.path.join(folder, "seeds"))
    # a case takes well under a second; 30 s tells a hang from a busy machine
    return {"seeds": os.path.join(folder, "seeds"), "families": families, "seed": 0,
            "scratch": folder, "timeout": 30.0, "memory_mib": 1024,
            "failures": os.path.join(folder, "failures")}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork, RLIMIT_AS and /proc")
def test_every_reader_keeps_its_contract_on_fuzzed_files(config):
    names = sorted(targets.TARGETS)
    outcomes = engine.campaign(engine.interleaved(names, SHORT_RUN_CASES), config, workers=2)
    table, violations = engine.summarize(outcomes)
    assert len(outcomes) == SHORT_RUN_CASES * len(names)
    report = "\n".join(
        f"{v['kind']} {v['target']}:{v['index']} ({v['mutation'][:120]}): {v.get('type', '')} "
        f"{v.get('message', '')[:200]} -- replay: "
        f"{engine.replay_command(v['target'], v['index'], config['seed'])}" for v in violations)
    assert not violations, f"{len(violations)} violations:\n{report}"
    for name in names:                  # the mutations reach both sides of every reader
        assert table[name].get("error", 0) > 0 and table[name].get("ok", 0) > 0, table[name]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork, RLIMIT_AS and /proc")
def test_the_engine_catches_every_kind_of_violation(config):
    # the timeout separates the hang from the rest even on a loaded machine (a case takes
    # well under a second alone)
    limited = dict(config, timeout=8.0, memory_mib=256,
                   failures=os.path.join(config["scratch"], "self-failures"))
    cases = [{"target": name, "index": 0} for name in sorted(targets.SELF_TESTS)]
    kinds = {o["target"]: o["kind"] for o in engine.campaign(cases, limited, workers=2)}
    assert kinds == {"self_raw": "raw", "self_unnamed": "raw", "self_hang": "timeout",
                     "self_memory": "memory", "self_crash": "crash", "self_write": "wrote",
                     "self_ok": "ok"}
    kept = json.load(open(os.path.join(limited["failures"], "self_raw-0.json")))
    assert kept["type"] == "ValueError" and kept["replay"] == engine.replay_command(
        "self_raw", 0, 0)
    assert os.path.exists(os.path.join(limited["failures"], "self_raw-0.bin"))


def test_a_case_is_a_pure_function_of_its_id(config):
    loaded = engine.load_seeds(config["seeds"], config["families"])
    target = targets.TARGETS["ember.load"]
    first = engine.case_bytes(target, 17, 0, loaded)
    assert first == engine.case_bytes(target, 17, 0, loaded)
    assert first != engine.case_bytes(target, 18, 0, loaded)
    assert first != engine.case_bytes(target, 17, 1, loaded)
