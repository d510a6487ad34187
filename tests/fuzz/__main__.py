"""``python -m tests.fuzz``: a fuzzing campaign as long as asked (``make fuzz``).

    python -m tests.fuzz                         # 30 minutes over every target, 2 workers
    python -m tests.fuzz --minutes 5 --targets ember.load CIFAR10
    python -m tests.fuzz --cases 200 --seed 7    # 200 cases of each target, base seed 7
    python -m tests.fuzz --replay CIFAR10:123 --seed 7     # one case again, with its outcome

Violations are written to ``--failures`` (default ``fuzz-failures/``): the case's bytes and a
JSON file with the outcome and the command that replays it. Exit status 1 if any.
"""
import argparse
import json
import os
import sys
import tempfile
import time

from tests.fuzz import engine, seeds, targets


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=None,
                        help="run until this much time has passed (default 30 without --cases)")
    parser.add_argument("--cases", type=int, default=None, help="cases per target")
    parser.add_argument("--seed", type=int, default=None,
                        help="base seed of the mutations (default: from the clock, printed)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--targets", nargs="+", default=sorted(targets.TARGETS),
                        choices=sorted(targets.TARGETS), metavar="TARGET",
                        help=f"default all: {', '.join(sorted(targets.TARGETS))}")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per case")
    parser.add_argument("--memory-mib", type=int, default=1024,
                        help="address space a case may map beyond its worker's")
    parser.add_argument("--failures", default="fuzz-failures")
    parser.add_argument("--replay", default=None, metavar="TARGET:INDEX")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else int(time.time())
    scratch = tempfile.mkdtemp(prefix="ember-fuzz-")
    seed_folder = os.path.join(scratch, "seeds")
    families = seeds.write_seeds(seed_folder)
    config = {"seeds": seed_folder, "families": families, "seed": seed, "scratch": scratch,
              "timeout": args.timeout, "memory_mib": args.memory_mib,
              "failures": os.path.abspath(args.failures)}
    if args.replay:
        name, index = args.replay.rsplit(":", 1)
        outcome = engine.campaign([{"target": name, "index": int(index)}], config, workers=1)[0]
        print(json.dumps(outcome, indent=1))
        return 1 if outcome["kind"] in engine.VIOLATIONS else 0
    if args.cases is not None:
        cases, deadline = engine.interleaved(args.targets, args.cases), None
    else:
        minutes = 30.0 if args.minutes is None else args.minutes
        cases, deadline = engine.interleaved(args.targets, 10 ** 9), time.monotonic() + 60 * minutes
    print(f"fuzzing {', '.join(args.targets)} with base seed {seed} on {args.workers} workers",
          flush=True)

    def progress(outcome, done):
        if outcome["kind"] in engine.VIOLATIONS:
            print(f"VIOLATION {outcome['kind']} {outcome['target']}:{outcome['index']}: "
                  f"{outcome.get('type', '')} {outcome.get('message', '')[:200]}", flush=True)
        elif done % 1000 == 0:
            print(f"{done} cases", flush=True)
    outcomes = engine.campaign(cases, config, args.workers, deadline, progress)
    table, violations = engine.summarize(outcomes)
    print(json.dumps(table, indent=1))
    print(f"{len(outcomes)} cases, {len(violations)} violations"
          + (f" (kept in {args.failures}/)" if violations else ""))
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
