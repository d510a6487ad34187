"""Ember vs PyTorch on the same machine: ``python -m benchmarks.run [--quick] [--only NAME]``.

Every workload of :mod:`benchmarks.workloads` runs in separate, alternating processes
(Ember, PyTorch, Ember, PyTorch, ...; a process imports only its own library) with warm-up
steps, both limited to the same number of threads. The classical-vision workloads
(:mod:`benchmarks.classical`) run the same way against scipy, scikit-learn or scikit-image
instead of PyTorch; the ``vs`` column names the other side. The table gives the median step
time of each side over all its timed steps, the Ember/other ratio, and the peak resident
memory (high-water mark above the baseline after imports) of each side and their ratio. The machine
(CPU, cores, load average), the library versions and BLAS configuration go with the numbers
into ``benchmarks/results/latest.json``. Compare ratios, not absolute times: on a shared
machine absolute times move by tens of percent between runs.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

from benchmarks.workloads import AGAINST, DEFAULT, DEFAULT_REPEATS, REPEATS, WORKLOADS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results", "latest.json")
REFERENCE_VERSIONS = ("torch", "scipy", "sklearn", "skimage")
# environment variables that change BLAS behaviour; recorded, never altered
BLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_VERBOSE", "OMP_PROC_BIND",
            "GOMP_CPU_AFFINITY")

def child_env(threads):
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    env["EMBER_BENCH_THREADS"] = str(threads)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return env


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(threads):
    """The machine; the library versions are added from the first worker of each side."""
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "platform": platform.platform(),
            "threads_per_side": threads,
            "blas_env": {k: os.environ[k] for k in BLAS_ENV if k in os.environ}}


def run_one(lib, workload, warmup, reps, env, timeout=1800):
    """One worker process; returns its JSON record (step times, peak memory)."""
    cmd = [sys.executable, "-m", "benchmarks.worker", lib, workload, str(warmup), str(reps)]
    out = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True,
                         timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"benchmarks.run: {lib} {workload} failed "
                           f"(exit {out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench(workload, rounds, quick, threads, info, log=print):
    """Alternate ``rounds`` Ember and other-side processes (PyTorch, or the library of
    ``AGAINST``); summarize medians and memory. The row's keys name the sides
    (``ember_median_s``, ``torch_median_s`` or ``scipy_median_s``, ...)."""
    warmup, reps = REPEATS.get(workload, DEFAULT_REPEATS)[1 if quick else 0]
    other = AGAINST.get(workload, "torch")
    sides = ("ember", other)
    env = child_env(threads)
    times = {lib: [] for lib in sides}
    cpu = {lib: [] for lib in sides}
    peaks = {lib: [] for lib in sides}
    per_process = {lib: [] for lib in sides}
    load_before = os.getloadavg()[0]
    for _ in range(rounds):
        for lib in sides:
            rec = run_one(lib, workload, warmup, reps, env)
            info.update(rec["info"])
            times[lib].extend(rec["times"])
            cpu[lib].extend(rec["cpu_times"])
            peaks[lib].append(rec["peak_bytes"])
            per_process[lib].append(statistics.median(rec["times"]))
    med = {lib: statistics.median(times[lib]) for lib in sides}
    peak = {lib: max(peaks[lib]) for lib in sides}
    row = {"workload": workload, "against": other, "rounds": rounds, "warmup": warmup,
           "reps_per_process": reps}
    for lib in sides:
        row[f"{lib}_median_s"] = med[lib]
    row["ratio"] = med["ember"] / med[other]
    # the fastest process of each side: on a VM whose cores are not equally fast, whole
    # processes land in a fast or a slow mode; this compares the two libraries' fast modes
    row["best_process_ratio"] = min(per_process["ember"]) / min(per_process[other])
    for lib in sides:
        row[f"{lib}_cpu_median_s"] = statistics.median(cpu[lib])
    for lib in sides:
        row[f"{lib}_process_medians_s"] = per_process[lib]
    for lib in sides:
        row[f"{lib}_peak_mb"] = peak[lib] / 2 ** 20
    row["peak_ratio"] = peak["ember"] / peak[other] if peak[other] > 0 else None
    row["load_avg_1min"] = [load_before, os.getloadavg()[0]]
    log(format_row(row))
    return row


HEADER = (f"{'workload':34s} {'vs':>7s} {'ember ms':>10s} {'other ms':>10s} {'ratio':>6s} "
          f"{'best':>5s} {'ember MB':>9s} {'other MB':>9s} {'mem':>5s} {'load':>5s}")


def format_row(r):
    other = r.get("against", "torch")
    mem = f"{r['peak_ratio']:5.2f}" if r["peak_ratio"] is not None else "    -"
    return (f"{r['workload']:34s} {other:>7s} {r['ember_median_s'] * 1e3:10.2f} "
            f"{r[f'{other}_median_s'] * 1e3:10.2f} {r['ratio']:6.2f} "
            f"{r['best_process_ratio']:5.2f} {r['ember_peak_mb']:9.1f} "
            f"{r[f'{other}_peak_mb']:9.1f} {mem} {r['load_avg_1min'][1]:5.1f}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="fewer rounds and repetitions (a smoke test, not a measurement)")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="run only this workload (repeatable); one of: "
                             + ", ".join(WORKLOADS))
    parser.add_argument("--rounds", type=int, default=None,
                        help="alternating Ember/PyTorch process pairs (default 3, --quick 1)")
    parser.add_argument("--threads", type=int, default=2,
                        help="threads for each side (default 2)")
    parser.add_argument("--output", default=RESULTS, help=f"JSON results (default {RESULTS})")
    args = parser.parse_args(argv)
    names = args.only or DEFAULT
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workload(s) {unknown}; choose from {list(WORKLOADS)}")
    rounds = args.rounds or (1 if args.quick else 3)
    if rounds < 1 or args.threads < 1:
        parser.error(f"--rounds and --threads must be >= 1, got {rounds} and {args.threads}")

    started = time.time()
    info = machine_info(args.threads)
    print(f"{info['cpu']}, {info['cores']} cores; {args.threads} threads per side; "
          f"load avg {os.getloadavg()[0]:.1f}"
          + (f"; BLAS env {info['blas_env']}" if info["blas_env"] else ""))
    print(HEADER)
    rows = [bench(name, rounds, args.quick, args.threads, info) for name in names]
    print(f"numpy {info.get('numpy')} ({info.get('numpy_blas', {}).get('version')}), "
          + ", ".join(f"{name} {info[name]}" for name in REFERENCE_VERSIONS if name in info))
    result = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
              "duration_s": time.time() - started, "quick": args.quick, "machine": info,
              "results": rows}
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(result, f, indent=1)
    print(f"wrote {args.output}")
    return result


if __name__ == "__main__":
    main()
