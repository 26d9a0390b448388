"""Measure the simulation engine: time, peak memory and cost per resident-year.

    python scripts/bench_engine.py                 # 100,000 and 1,000,000 residents x 10 years, then the ablation
    python scripts/bench_engine.py --n 20000 --years 5 --repeat 1 --no-ablation

For each size, one subprocess generates the world and saves the two tables
the engine reads (``citizens``, ``truth``); a second, fresh subprocess loads
them and runs ``simulate`` (default policy, no intervention). It reports

* the best wall time over ``--repeat`` runs and the cost per resident-year,
  in wall time and in the process's CPU time (steadier on a busy machine);
* the process's peak RSS (``resource.getrusage``), which includes the loaded
  tables, and the RSS before the run, so the engine's share is visible;
* the engine's own peak allocation (``tracemalloc``, one extra run).

Cost per resident-year should stay within 1.5x between the sizes (linear
scaling). The machine is shared: numbers vary by a few tens of percent.

Then it runs ``scripts/ablation.py --check`` (every loop switched off in turn,
10 seeds, on the shipped world; about 10 s of CPU) and reports its time and whether
DATASHEET.md's ablation section still agrees with the engine and the world; a
disagreement is reported (with the fresh table), not counted as a failure of
the benchmark. ``--no-ablation`` skips it.
This script is instructor tooling, not part of the package students import.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_GENERATE = r"""
import json, sys, time
sys.path.insert(0, {src!r})
from socialcredit.world import generate_world
n, seed, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
t0 = time.perf_counter()
world = generate_world(n=n, seed=seed)
seconds = time.perf_counter() - t0
world["citizens"].to_pickle(out + "/citizens.pkl")
world["truth"].to_pickle(out + "/truth.pkl")
print(json.dumps({{"generate_seconds": seconds}}))
"""

_RUN = r"""
import gc, json, resource, sys, time, tracemalloc
sys.path.insert(0, {src!r})
import pandas as pd
from socialcredit.simulate import simulate
folder, years, repeat = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
citizens = pd.read_pickle(folder + "/citizens.pkl")
truth = pd.read_pickle(folder + "/truth.pkl")
gc.collect()
rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
times, cpu = [], []
for _ in range(repeat):
    t0, c0 = time.perf_counter(), time.process_time()
    history = simulate(citizens, truth, years=years, world_seed=0, policy_seed=1)
    times.append(time.perf_counter() - t0)
    cpu.append(time.process_time() - c0)
    rows = len(history)
    del history
    gc.collect()
rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tracemalloc.start()
simulate(citizens, truth, years=years, world_seed=0, policy_seed=1)
traced_peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
print(json.dumps({{"seconds": min(times), "all_seconds": times, "cpu_seconds": min(cpu),
                  "rss_before_mb": rss_before / 1024,
                  "rss_peak_mb": rss_peak / 1024, "traced_peak_mb": traced_peak / 2**20,
                  "history_rows": rows}}))
"""


def _run(code, *args):
    out = subprocess.run([sys.executable, "-c", code.format(src=str(REPO / "src")), *map(str, args)],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"subprocess failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(n, *, years, repeat, seed):
    """Generate a world of ``n`` residents, then time ``simulate`` on it in a fresh process."""
    with tempfile.TemporaryDirectory() as tmp:
        gen = _run(_GENERATE, n, seed, tmp)
        res = _run(_RUN, tmp, years, repeat)
    res.update(gen)
    res["n"], res["years"] = n, years
    res["us_per_resident_year"] = 1e6 * res["seconds"] / (n * years)
    res["cpu_us_per_resident_year"] = 1e6 * res["cpu_seconds"] / (n * years)
    return res


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[100_000, 1_000_000], help="population sizes")
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per size (best is reported)")
    parser.add_argument("--seed", type=int, default=2024, help="world seed")
    parser.add_argument("--no-ablation", action="store_true", help="skip scripts/ablation.py --check")
    args = parser.parse_args(argv)
    results = [measure(n, years=args.years, repeat=args.repeat, seed=args.seed) for n in args.n]
    print(f"{'residents':>10} {'years':>5} {'generate s':>10} {'simulate s':>10} {'us/res-yr':>9} "
          f"{'cpu us/res-yr':>13} {'RSS before':>10} {'RSS peak':>9} {'engine peak':>11} {'history rows':>12}")
    for r in results:
        print(f"{r['n']:>10,} {r['years']:>5} {r['generate_seconds']:>10.2f} {r['seconds']:>10.2f} "
              f"{r['us_per_resident_year']:>9.3f} {r['cpu_us_per_resident_year']:>13.3f} "
              f"{r['rss_before_mb']:>8.0f}MB {r['rss_peak_mb']:>7.0f}MB "
              f"{r['traced_peak_mb']:>9.0f}MB {r['history_rows']:>12,}")
    status = 0
    if len(results) >= 2:
        costs = [r["us_per_resident_year"] for r in results]
        ratio = max(costs) / min(costs)
        verdict = "within" if ratio <= 1.5 else "OVER"
        print(f"cost per resident-year, largest / smallest: {ratio:.2f}x ({verdict} the 1.5x budget)")
        status = 0 if ratio <= 1.5 else 1
    if not args.no_ablation:
        ablation()
    return status


def ablation():
    """Run scripts/ablation.py --check: its time, and whether the datasheet's table is current."""
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "ablation.py"), "--check"],
                         capture_output=True, text=True, check=False, cwd=REPO)
    seconds = time.perf_counter() - t0
    if out.returncode not in (0, 1):
        raise SystemExit(f"scripts/ablation.py failed:\n{out.stderr}")
    print(f"ablation (scripts/ablation.py --check): {seconds:.0f} s")
    print(out.stdout.rstrip())


if __name__ == "__main__":
    sys.exit(main())
