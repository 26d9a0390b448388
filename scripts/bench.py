"""Measure the course's performance budgets (DESIGN §7). Run with `make bench`.

Each measurement runs in a fresh process so that its peak memory (max RSS) is its own.

    python scripts/bench.py                 # everything
    python scripts/bench.py world           # world generation only
    python scripts/bench.py student         # a hub student's first load() (draws and caches their world), then cached
    python scripts/bench.py notebooks       # each solution notebook's run time and kernel peak memory
    python scripts/bench.py autograde       # nbgrader autograde of one submission vs plain execution
    python scripts/bench.py sandbox         # each solution in the sandbox, and with every protection, vs plain nbclient
    python scripts/bench.py engine          # the simulation engine (scripts/bench_engine.py)
    python scripts/bench.py class           # a 200-submission class: full, incremental, vs sequential nbgrader
                                            # (BENCH_CLASS_STUDENTS=8 for a smaller class per lesson)
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable

_WORLD = r"""
import json, resource, sys, tempfile, time
from socialcredit import generate_world, write_world
n = int(sys.argv[1])
t0 = time.perf_counter()
world = generate_world(n=n)
t1 = time.perf_counter()
with tempfile.TemporaryDirectory() as d:
    write_world(world, d)
    t2 = time.perf_counter()
print(json.dumps({"n": n, "generate_s": t1 - t0, "write_s": t2 - t1,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

_NOTEBOOK = r"""
import json, resource, sys, time
import nbformat
from nbclient import NotebookClient
path = sys.argv[1]
nb = nbformat.read(path, as_version=4)
t0 = time.perf_counter()
NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": sys.argv[2]}}).execute()
t1 = time.perf_counter()
# the kernel was this process's child: RUSAGE_CHILDREN holds its peak RSS once it has been reaped
print(json.dumps({"wall_s": t1 - t0, "kernel_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""

_SANDBOXED = r"""
import json, sys, time
import nbformat
from traitlets.config import Config
from socialcredit.worlds_nbgrader import SandboxedExecute
nb = nbformat.read(sys.argv[1], as_version=4)
c = Config(); c.SandboxedExecute.timeout = 120
t0 = time.perf_counter()
SandboxedExecute(config=c).preprocess(nb, {"metadata": {"path": sys.argv[2]},
                                           "nbgrader": {"student": "", "assignment": "bench"}})
print(json.dumps({"wall_s": time.perf_counter() - t0}))
"""

_TRUSTED = _SANDBOXED.replace("from socialcredit.worlds_nbgrader import SandboxedExecute",
                              "from socialcredit.verdicts import TrustedVerdictExecute as SandboxedExecute")


def _run_json(code, *args):
    r = subprocess.run([PY, "-c", code, *map(str, args)], capture_output=True, text=True, cwd=REPO)
    if r.returncode != 0:
        raise RuntimeError(f"benchmark process failed:\n{r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def bench_world(sizes=(20_000, 1_000_000), repeats=3):
    print("World generation (generate_world, then write_world to CSV); best of", repeats)
    print(f"{'n':>10} {'generate s':>11} {'write s':>9} {'total s':>9} {'µs/resident':>12} {'peak MB':>9}")
    rows = []
    for n in sizes:
        runs = [_run_json(_WORLD, n) for _ in range(repeats if n <= 100_000 else 1)]
        best = min(runs, key=lambda r: r["generate_s"] + r["write_s"])
        total = best["generate_s"] + best["write_s"]
        best["us_per_resident"] = 1e6 * total / n
        rows.append(best)
        print(f"{n:>10,} {best['generate_s']:>11.3f} {best['write_s']:>9.3f} {total:>9.3f} "
              f"{best['us_per_resident']:>12.2f} {best['peak_mb']:>9.0f}")
    if len(rows) == 2:
        ratio = rows[1]["us_per_resident"] / rows[0]["us_per_resident"]
        print(f"cost per resident, {sizes[1]:,} vs {sizes[0]:,}: {ratio:.2f}x (budget <= 1.5x); "
              f"default world total {rows[0]['generate_s'] + rows[0]['write_s']:.2f} s (budget <= 2 s)")
    return rows


_STUDENT = r"""
import json, os, sys, time
t0 = time.perf_counter()
from socialcredit import load
t1 = time.perf_counter()
load("citizens")
t2 = time.perf_counter()
for name in ("registry", "labour", "police", "bank", "courts", "payments", "community", "ratings", "truth"):
    load(name)
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "first_s": t2 - t1, "rest_s": t3 - t2}))
"""


def bench_student(repeats=3):
    """A hub student's load(): the first call draws and caches their world; later calls (and kernels) read it."""
    print("A hub student's world (JUPYTERHUB_USER set): load('citizens') in a fresh process; best of", repeats)
    rows = {}
    with tempfile.TemporaryDirectory() as cache:
        for label, fresh in (("first load (draws and writes the world)", True), ("cached", False)):
            runs = []
            for i in range(repeats):
                env = {**os.environ, "JUPYTERHUB_USER": f"bench-{i}" if fresh else "bench-0",
                       "SOCIALCREDIT_CACHE": cache}
                env.pop("SOCIALCREDIT_STUDENT", None)
                env.pop("SOCIALCREDIT_DATA", None)
                r = subprocess.run([PY, "-c", _STUDENT], capture_output=True, text=True, cwd=REPO, env=env)
                if r.returncode != 0:
                    raise RuntimeError(f"benchmark process failed:\n{r.stderr[-2000:]}")
                runs.append(json.loads(r.stdout.strip().splitlines()[-1]))
            best = min(runs, key=lambda r: r["first_s"])
            rows[label] = best
            print(f"  {label:<42} load('citizens') {best['first_s']:.2f} s; the other nine tables {best['rest_s']:.2f} s "
                  f"(import {best['import_s']:.2f} s)")
    shipped = _run_json(_STUDENT)
    print(f"  {'shipped world (no student)':<42} load('citizens') {shipped['first_s']:.2f} s")
    return rows


def bench_notebooks():
    notebooks = sorted(REPO.glob("solutions/*/*.ipynb"))
    print("Solution notebooks (nbclient, kernel start included); budget <= 10 s and < 500 MB each")
    print(f"{'notebook':<45} {'wall s':>8} {'kernel peak MB':>15}")
    rows = []
    for nb in notebooks:
        r = _run_json(_NOTEBOOK, nb, nb.parent)
        rows.append((nb.name, r))
        print(f"{nb.name:<45} {r['wall_s']:>8.2f} {r['kernel_peak_mb']:>15.0f}")
    if not notebooks:
        print("(no notebooks under solutions/)")
    return rows


def bench_autograde(copies=3):
    """Per-submission autograde time inside `python -m socialcredit autograde` against plain execution."""
    import re
    import shutil
    import statistics
    print(f"Autograde (sandbox, trusted verdicts, scan and all): {copies} copies of each solution, one worker; goal <= 1.2x plain "
          "execution (issue #12)")
    print(f"{'lesson':<30} {'plain s':>8} {'autograde s (median)':>21} {'overhead':>9} {'batch s':>8}")
    for nb in sorted(REPO.glob("solutions/*/*.ipynb")):
        lesson = nb.parent.name
        with tempfile.TemporaryDirectory() as d:
            root = Path(d)
            (root / "solutions").mkdir()
            shutil.copy2(REPO / "nbgrader_config.py", root)
            shutil.copytree(nb.parent, root / "solutions" / lesson)
            for i in range(copies):
                shutil.copytree(nb.parent, root / "submitted" / f"student{i}" / lesson)
            plain = statistics.median(_run_json(_NOTEBOOK, nb, nb.parent)["wall_s"] for _ in range(2))
            t0 = time.perf_counter()
            r = subprocess.run([PY, "-m", "socialcredit", "autograde", "--workers", "1"], cwd=root, check=True,
                               capture_output=True, text=True)
            batch = time.perf_counter() - t0
            per = [float(x) for x in re.findall(r"^\s+\[\s*\d+/\d+\]\s+ok\s+\S+\s+\S+\s+([\d.]+) s", r.stdout, flags=re.M)]
        med = statistics.median(per) if per else float("nan")
        print(f"{lesson:<30} {plain:>8.2f} {med:>21.2f} {100 * (med / plain - 1):>8.0f}% {batch:>8.1f}")
    print("(batch includes registering the lessons and loading nbgrader once per worker)")


def _class_course(root, lessons, students, seed=2024):
    """A course folder with ``students`` submissions per lesson: solutions with 0-2 random misconceptions."""
    import random
    import shutil
    sys.path.insert(0, str(REPO / "tests"))
    from harness import answer_cells, load_bank, notebook_path, strip_solution_markers
    import nbformat
    rng = random.Random(seed)
    root.mkdir(parents=True)
    shutil.copy2(REPO / "nbgrader_config.py", root)
    made = 0
    for lesson in lessons:
        shutil.copytree(REPO / "solutions" / lesson, root / "solutions" / lesson)
        source = nbformat.read(notebook_path(REPO / "solutions", lesson), as_version=4)
        bank = [e for e in (load_bank(lesson) or []) if e["kind"] == "misconception"]
        for i in range(students):
            nb = nbformat.from_dict(json.loads(json.dumps(source)))
            for c in nb.cells:
                if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution"):
                    c.source = strip_solution_markers(c.source)
            cells = answer_cells(nb)
            for entry in rng.sample(bank, k=min(len(bank), rng.choice((0, 1, 1, 2)))):
                if entry["cell"] in cells:
                    cells[entry["cell"]].source = entry["code"]
            path = notebook_path(root / "submitted" / f"s{i:03d}", lesson)
            path.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, path)
            made += 1
    return made


def bench_class(per_lesson=None):
    """Issue #9's class: full autograde, incremental after 5 new submissions, and sequential nbgrader."""
    import re
    import shutil
    per_lesson = int(per_lesson or os.environ.get("BENCH_CLASS_STUDENTS", 40))
    lessons = sorted(p.name for p in (REPO / "solutions").iterdir()
                     if p.is_dir() and (REPO / "tests" / "banks" / f"{p.name}.toml").is_file())[:5]
    cores = os.cpu_count()
    env = {**os.environ, "PATH": str(Path(PY).parent) + os.pathsep + os.environ.get("PATH", "")}
    with tempfile.TemporaryDirectory() as d:
        root = Path(d) / "course"
        n = _class_course(root, lessons, per_lesson)
        print(f"Class: {len(lessons)} lessons x {per_lesson} students = {n} submissions (solutions with 0-2 random "
              f"misconceptions from tests/banks), {cores} cores; goals: incremental <= 10% of full, "
              f">= 1.8x sequential nbgrader on 2 cores")
        subprocess.run([PY, "-m", "socialcredit", "release"], cwd=root, check=True, capture_output=True, env=env)

        def grade(label):
            t0 = time.perf_counter()
            r = subprocess.run([PY, "-m", "socialcredit", "autograde"], cwd=root, capture_output=True, text=True,
                               env=env)
            took = time.perf_counter() - t0
            if r.returncode != 0:
                raise RuntimeError(f"{label} autograde failed:\n{r.stdout[-3000:]}{r.stderr[-3000:]}")
            summary = re.findall(r"^graded \d+, crashed \d+.*$", r.stdout, flags=re.M)
            print(f"  {label:<34} {took:>8.1f} s   {summary[-1] if summary else r.stdout.strip().splitlines()[-1]}",
                  flush=True)
            for line in re.findall(r"^  crashed: .*$", r.stdout, flags=re.M):  # a crash in a benchmark is news
                print(f"  {'':<34}   {line.strip()}", flush=True)
            return took

        full = grade("full run (Dask, every core)")
        grade("no change (nothing to grade)")
        src = root / "submitted" / "s000"
        for i, lesson in enumerate(lessons):  # five new students hand in
            shutil.copytree(src / lesson, root / "submitted" / f"late{i}" / lesson)
        incremental = grade("incremental (5 new submissions)")
        print(f"  incremental / full: {100 * incremental / full:.1f} % (goal <= 10 %)", flush=True)

        base = Path(d) / "baseline"
        base.mkdir()
        shutil.copy2(root / "nbgrader_config.py", base)
        shutil.copytree(root / "solutions", base / "solutions")
        shutil.copytree(root / "submitted", base / "submitted")
        for late in (base / "submitted").glob("late*"):
            shutil.rmtree(late)  # the same class as the full run
        for lesson in lessons:
            subprocess.run([PY, "-m", "nbgrader", "generate_assignment", lesson, "--force"], cwd=base, check=True,
                           capture_output=True, env=env)
        t0 = time.perf_counter()
        for lesson in lessons:
            r = subprocess.run([PY, "-m", "nbgrader", "autograde", lesson], cwd=base, capture_output=True, text=True,
                               env=env)
            if r.returncode != 0:
                print(f"  (sequential nbgrader autograde {lesson} exited {r.returncode})")
        sequential = time.perf_counter() - t0
        print(f"  {'sequential nbgrader autograde':<34} {sequential:>8.1f} s")
        print(f"  speed-up of the full run over sequential nbgrader: {sequential / full:.2f}x on {cores} cores "
              f"(goal >= 1.8x on 2)")
        print("  (wall-clock times on a shared machine: other work running at the same time slows every figure)")
    return {"full_s": full, "incremental_s": incremental, "sequential_s": sequential}


def bench_sandbox(repeats=3):
    """Issue #12's overhead: each solution notebook run by the grading preprocessors against plain nbclient, same
    notebook, same folder: the sandbox alone (one kernel: bubblewrap, limits, output cap, tamper scan), and every
    protection on (the course's grader: the sandbox plus trusted verdicts, a second kernel judging the test cells).
    Without a gradebook here, the trusted path takes the cells' own metadata for the instructor's cells."""
    import statistics
    print(f"Grading protections: median of {repeats} interleaved runs each; goal <= 1.2x plain nbclient (issue #12)")
    print(f"{'notebook':<45} {'plain s':>8} {'sandbox s':>10} {'ratio':>6} {'all on s':>9} {'ratio':>6}")
    ratios, ratios_all = [], []
    for nb in sorted(REPO.glob("solutions/*/*.ipynb")):
        plain, boxed, trusted = [], [], []
        for _ in range(repeats):  # interleaved, so that a busy moment of the machine hits all three
            plain.append(_run_json(_NOTEBOOK, nb, nb.parent)["wall_s"])
            boxed.append(_run_json(_SANDBOXED, nb, nb.parent)["wall_s"])
            trusted.append(_run_json(_TRUSTED, nb, nb.parent)["wall_s"])
        p, b, t = statistics.median(plain), statistics.median(boxed), statistics.median(trusted)
        ratios.append(b / p)
        ratios_all.append(t / p)
        print(f"{nb.name:<45} {p:>8.2f} {b:>10.2f} {b / p:>5.2f}x {t:>9.2f} {t / p:>5.2f}x")
    if ratios:
        print(f"{'all lessons (median ratio)':<45} {'':>8} {'':>10} {statistics.median(ratios):>5.2f}x "
              f"{'':>9} {statistics.median(ratios_all):>5.2f}x")


def bench_engine():
    script = REPO / "scripts" / "bench_engine.py"
    if script.exists():
        subprocess.run([PY, str(script)], check=True, cwd=REPO)
    else:
        print("(no simulation engine benchmark yet)")


def main(argv):
    everything = {"world", "student", "notebooks", "autograde", "sandbox", "engine", "class"}
    which = set(argv) or everything
    unknown = which - everything
    if unknown:
        print(f"unknown benchmark(s) {sorted(unknown)}; expected any of {', '.join(sorted(everything))}", file=sys.stderr)
        return 2
    if "world" in which:
        bench_world()
        print()
    if "student" in which:
        bench_student()
        print()
    if "notebooks" in which:
        bench_notebooks()
        print()
    if "autograde" in which:
        bench_autograde()
        print()
    if "sandbox" in which:
        bench_sandbox()
        print()
    if "engine" in which:
        bench_engine()
        print()
    if "class" in which:
        bench_class()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
