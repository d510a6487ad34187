"""The campaign: worker processes that fork one child per case under limits, and the driver.

A case is ``(target, index)``; its bytes are a pure function of ``(base seed, target, index)``
(``case_bytes``). The driver starts ``workers`` worker processes (``python -m
tests.fuzz.engine``, environment with one BLAS/Ember thread so that forking is safe), hands
them cases one at a time over a pipe of JSON lines and collects the outcomes. A worker has
imported Ember, NumPy and Pillow once; for each case it writes the file, forks, and the child

* limits its address space to what the worker had mapped plus ``memory_mib``,
* runs the reader in an empty working folder, and reports the outcome and its peak RSS
  growth (``VmHWM`` minus ``VmRSS`` at the start) through a pipe;

the worker kills a child that has not reported within ``timeout`` seconds and then checks
that nothing was written in the working folder or beside the case's files.
"""
import json
import os
import random
import re
import resource
import select
import shutil
import signal
import subprocess
import sys
import time

VIOLATIONS = ("raw", "crash", "timeout", "memory", "wrote")


def case_bytes(target, index, base_seed, seeds):
    """``(family, seed name, bytes, description)`` of case ``index`` of ``target``."""
    from tests.fuzz import mutations
    rng = random.Random(f"{base_seed}:{target.name}:{index}")
    family = rng.choice(target.families)
    names = sorted(name for name in seeds[family] if re.fullmatch(target.seeds, name))
    name = rng.choice(names)
    others = [seeds[family][other] for other in names if other != name]
    try:
        data, description = mutations.mutate(family, seeds[family][name], rng, others)
    except Exception as exc:                     # noqa: BLE001  (a fuzzer bug, not a reader's)
        data, description = seeds[family][name][::-1], f"mutation failed ({exc!r}); reversed"
    return family, name, data, description


def _memory_status():
    """``(VmRSS, VmHWM)`` in bytes (Linux), or ``(0, ru_maxrss)``."""
    values = {}
    try:
        with open("/proc/self/status") as status:
            for line in status:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM", "VmSize"):
                    values[key] = int(rest.split()[0]) * 1024
    except OSError:
        return 0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, 0
    return values.get("VmRSS", 0), values.get("VmHWM", 0), values.get("VmSize", 0)


def _child(target, subject, write_end, memory_bytes, workdir):
    try:
        quiet = os.open(os.devnull, os.O_RDWR)      # the worker's stdin/stdout carry its cases
        for fd in (0, 1, 2):
            os.dup2(quiet, fd)
        os.chdir(workdir)
        start_rss, _, mapped = _memory_status()
        resource.setrlimit(resource.RLIMIT_AS, (mapped + memory_bytes, mapped + memory_bytes))
        try:
            target.run(subject)
            outcome = {"kind": "ok"}
        except MemoryError:
            outcome = {"kind": "memory", "message": "MemoryError"}
        except BaseException as error:          # noqa: BLE001  (every outcome is classified)
            outcome = target.classify(error, subject)
        outcome["rss_growth"] = max(0, _memory_status()[1] - start_rss)
        os.write(write_end, json.dumps(outcome).encode())
    finally:
        os._exit(0)


def run_in_child(target, subject, timeout, memory_bytes, workdir):
    """Fork, run ``target`` on ``subject`` in the child, return the outcome dict."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        _child(target, subject, write_end, memory_bytes, workdir)
    os.close(write_end)
    chunks, deadline, timed_out = [], time.monotonic() + timeout, False
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([read_end], [], [], remaining)[0]:
            timed_out = True
            os.kill(pid, signal.SIGKILL)
            break
        chunk = os.read(read_end, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    if timed_out:
        return {"kind": "timeout", "message": f"no outcome within {timeout:g} s"}
    if chunks:
        return json.loads(b"".join(chunks))
    if os.WIFSIGNALED(status):
        return {"kind": "crash", "message": f"killed by signal {os.WTERMSIG(status)}"}
    return {"kind": "crash", "message": f"exited {os.WEXITSTATUS(status)} without an outcome"}


def _listing(folder):
    return sorted(os.path.relpath(os.path.join(root, name), folder)
                  for root, _, names in os.walk(folder) for name in names)


def run_case(case, config, seeds, targets):
    """One case in this worker: place the file, run it in a child, check for stray files."""
    target = targets[case["target"]]
    family, name, data, description = case_bytes(target, case["index"], config["seed"], seeds)
    folder = os.path.join(config["scratch"], "case")
    workdir = os.path.join(config["scratch"], "cwd")
    for path in (folder, workdir):
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path)
    subject = target.place(folder, data, name)
    placed = _listing(folder)
    outcome = run_in_child(target, subject, config["timeout"], config["memory_mib"] << 20,
                           workdir)
    stray = _listing(workdir) + sorted(set(_listing(folder)) - set(placed))
    if stray and outcome["kind"] not in VIOLATIONS:
        outcome = {"kind": "wrote", "message": f"files written: {stray[:5]}",
                   "rss_growth": outcome.get("rss_growth", 0)}
    outcome.update(target=target.name, index=case["index"], family=family, seed_file=name,
                   size=len(data), mutation=description[:400])
    if outcome["kind"] in VIOLATIONS and config.get("failures"):
        os.makedirs(config["failures"], exist_ok=True)
        stem = os.path.join(config["failures"], f"{target.name}-{case['index']}")
        with open(stem + ".bin", "wb") as f:
            f.write(data)
        with open(stem + ".json", "w") as f:
            json.dump({**outcome, "replay": replay_command(target.name, case["index"],
                                                           config["seed"])}, f, indent=1)
    return outcome


def replay_command(target, index, seed):
    return f"python -m tests.fuzz --replay {target}:{index} --seed {seed}"


def load_seeds(folder, families):
    return {family: {name: open(os.path.join(folder, name), "rb").read() for name in names}
            for family, names in families.items()}


def worker_main(config):
    """A worker: read cases (JSON lines) from stdin, write outcomes to stdout."""
    from tests.fuzz import targets
    targets.prepare()
    targets.CHECKPOINT[0] = os.path.join(config["seeds"], "train.ember")
    registry = {**targets.TARGETS, **targets.SELF_TESTS}
    seeds = load_seeds(config["seeds"], config["families"])
    for line in sys.stdin:
        outcome = run_case(json.loads(line), config, seeds, registry)
        sys.stdout.write(json.dumps(outcome) + "\n")
        sys.stdout.flush()


def _start_worker(config, number):
    env = dict(os.environ, EMBER_NUM_THREADS="1", OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    worker_config = dict(config, scratch=os.path.join(config["scratch"], f"worker{number}"))
    return subprocess.Popen([sys.executable, "-m", "tests.fuzz.engine", json.dumps(worker_config)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=root,
                            text=True, bufsize=1)


def campaign(cases, config, workers=2, deadline=None, progress=None):
    """Run ``cases`` (an iterable of ``{"target", "index"}``) on ``workers`` workers until they
    are done or ``deadline`` (a ``time.monotonic()`` value) passes; the list of outcomes."""
    pool = [_start_worker(config, n) for n in range(workers)]
    cases = iter(cases)
    busy, outcomes = {}, []
    try:
        for worker in pool:
            case = next(cases, None)
            if case is not None:
                worker.stdin.write(json.dumps(case) + "\n")
                busy[worker.stdout.fileno()] = worker
        while busy:
            ready, _, _ = select.select(list(busy), [], [], 60)
            for fd in ready:
                worker = busy.pop(fd)
                line = worker.stdout.readline()
                if not line:
                    raise RuntimeError(f"fuzz worker exited (code {worker.wait()})")
                outcomes.append(json.loads(line))
                if progress is not None:
                    progress(outcomes[-1], len(outcomes))
                if deadline is not None and time.monotonic() > deadline:
                    continue
                case = next(cases, None)
                if case is not None:
                    worker.stdin.write(json.dumps(case) + "\n")
                    busy[fd] = worker
    finally:
        for worker in pool:
            worker.stdin.close()
            worker.wait(timeout=60)
    return outcomes


def interleaved(target_names, count, start=0):
    """``count`` cases of each target, alternating between targets."""
    for index in range(start, start + count):
        for name in target_names:
            yield {"target": name, "index": index}


def summarize(outcomes):
    """Per target: cases, counts of each outcome kind, the largest RSS growth; the violations."""
    table = {}
    for outcome in outcomes:
        row = table.setdefault(outcome["target"], {"cases": 0, "max_rss_growth_mib": 0.0})
        row["cases"] += 1
        row[outcome["kind"]] = row.get(outcome["kind"], 0) + 1
        row["max_rss_growth_mib"] = max(row["max_rss_growth_mib"],
                                        round(outcome.get("rss_growth", 0) / 2 ** 20, 1))
    violations = [o for o in outcomes if o["kind"] in VIOLATIONS]
    return table, violations


if __name__ == "__main__":
    worker_main(json.loads(sys.argv[1]))
