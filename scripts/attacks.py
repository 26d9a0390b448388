"""Measure what the attack corpus (tests/attacks/, issue #12) earns from today's grader. A measurement, not a test.

    .venv/bin/python scripts/attacks.py [--only NAME,NAME] [--time-limit 150] [--keep]

Builds a temporary course folder (the repository's nbgrader_config.py, solutions/01-dossier, datasets/,
instructors/ and tests/banks/01-dossier.toml, so that what a course folder holds is there to be read), releases
Lesson 1, and submits one student per attack (files marked ``SANDBOX_ONLY = True`` are listed and skipped
when grading runs without the sandbox, SOCIALCREDIT_SANDBOX=off) plus two references: ``blank`` (the untouched release) and ``diligent`` (the
instructor's answers; also the classmate whose notebook class-1 attacks copy). An attack's submission is the
untouched release with the attack file's text appended to the first answer cell (``ex1_1_normalise_ids``),
after the stub's code with its ``raise NotImplementedError()`` line removed; a file with
``# %% answer: <grade_id>`` sections puts each section into that answer cell the same way.

Then it runs ``python -m socialcredit autograde --workers 2 --time-limit T`` once and prints a table: attack,
class, automatic points earned, the blank release's points, the excess over blank, status and detail from
autograde-status.csv; then the ``ATTACK:`` lines each attack printed about what it could see (read from its
autograded notebook), and the children of c4_fork_sleepers still alive after grading (which it then kills, by
pid). The attack files are never imported or run by this script itself: only the grading kernels run them.

Exit code 0 always: today several attacks are expected to earn points. The per-student worlds are drawn into a
cache inside the temporary folder (SOCIALCREDIT_CACHE), which is removed at the end unless --keep.
"""
from __future__ import annotations

import argparse
import ast
import csv
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
ATTACKS = REPO / "tests" / "attacks"
LESSON = "01-dossier"
FIRST_ANSWER = "ex1_1_normalise_ids"
STUB_RAISE = "raise NotImplementedError()"
SECTION = re.compile(r"^# %% answer: (\S+)[ \t]*$", re.M)
#: "# %% file: <relative path>": the lines after it (each without its leading "# ") are a file the student hands in
#: beside the notebook, in the submission folder
FILE = re.compile(r"^# %% file: (\S+)[ \t]*$", re.M)
SANDBOX_ONLY = re.compile(r"^SANDBOX_ONLY\s*=\s*True", re.M)
REFERENCES = ("blank", "diligent")


def read_attack(path):
    """{name, cls, safe, sections: [(grade_id, code)], files: [(path, text)]} of one attack file (parsed, never
    executed)."""
    text = path.read_text(encoding="utf-8")
    doc = ast.get_docstring(ast.parse(text)) or ""
    cls = re.search(r"^Class:\s*(\d)", doc, re.M)
    name = re.search(r"^Name:\s*(\S+)", doc, re.M)
    if not cls or not name or name.group(1) != path.stem:
        raise SystemExit(f"{path.name}: the header must give 'Class: N' and 'Name: {path.stem}'")
    files = []
    pieces = FILE.split(text)
    text = pieces[0]
    for i in range(1, len(pieces), 2):
        where = Path(pieces[i])
        if where.is_absolute() or ".." in where.parts:
            raise SystemExit(f"{path.name}: '# %% file: {pieces[i]}' must be a path inside the submission folder")
        lines = pieces[i + 1].strip("\n").split("\n")
        files.append((str(where), "\n".join(ln[2:] if ln.startswith("# ") else ln.lstrip("#") for ln in lines) + "\n"))
    parts = SECTION.split(text)
    sections = [(FIRST_ANSWER, parts[0])] + [(parts[i], parts[i + 1]) for i in range(1, len(parts), 2)]
    safe = not SANDBOX_ONLY.search(text) or os.environ.get("SOCIALCREDIT_SANDBOX", "").lower() != "off"
    return {"name": path.stem, "cls": int(cls.group(1)), "safe": safe, "sections": sections, "files": files}


def answer_cells(nb):
    return {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")
            and not c.metadata["nbgrader"].get("grade")}


def with_attack(release, sections):
    nb = nbformat.from_dict(release)
    cells = answer_cells(nb)
    for grade_id, code in sections:
        cell = cells[grade_id]
        stub = "\n".join(ln for ln in cell.source.split("\n") if ln.strip() != STUB_RAISE)
        cell.source = stub.rstrip("\n") + "\n\n" + code.strip("\n") + "\n"
    return nb


def with_solutions(release, solution):
    nb = nbformat.from_dict(release)
    cells = answer_cells(nb)
    for gid, cell in answer_cells(solution).items():
        cells[gid].source = "\n".join(ln for ln in cell.source.split("\n") if "### " not in ln)
    return nb


def grading_env(cache):
    env = {k: v for k, v in os.environ.items()
           if k not in ("SOCIALCREDIT_DATA", "SOCIALCREDIT_STUDENT", "JUPYTERHUB_USER")}
    env["SOCIALCREDIT_CACHE"] = str(cache)
    return env


def make_course(root):
    root.mkdir(parents=True)
    shutil.copy2(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copytree(REPO / "solutions" / LESSON, root / "solutions" / LESSON)
    shutil.copytree(REPO / "datasets", root / "datasets")
    shutil.copytree(REPO / "instructors", root / "instructors")
    bank = REPO / "tests" / "banks" / f"{LESSON}.toml"
    if bank.is_file():
        (root / "tests" / "banks").mkdir(parents=True)
        shutil.copy2(bank, root / "tests" / "banks" / bank.name)


def submit(root, student, nb, files=()):
    """The notebook, and any files handed in beside it ([(relative path, text)]), as ``student``'s submission."""
    folder = root / "submitted" / student / LESSON
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / f"{LESSON}.ipynb")
    for rel, text in files:
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text, encoding="utf-8")


def scores(root):
    """{student: automatic points or None (no score)}, and the lesson's automatic maximum."""
    from nbgrader.api import Gradebook
    out = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        maximum = gb.find_assignment(LESSON).max_code_score
        for sub in gb.find_assignment(LESSON).submissions:
            auto = [g.auto_score for nb in sub.notebooks for g in nb.grades if g.cell_type == "code"]
            out[sub.student_id] = None if all(a is None for a in auto) else sum(a or 0 for a in auto)
    return out, maximum


def attack_lines(root, student):
    path = root / "autograded" / student / LESSON / f"{LESSON}.ipynb"
    try:
        nb = nbformat.read(path, as_version=4)
        cell = answer_cells(nb)[FIRST_ANSWER]
    except Exception as exc:
        return [f"(no autograded notebook to read: {type(exc).__name__})"]
    text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
    return [ln for ln in text.splitlines() if ln.startswith("ATTACK")]


def reap(pids):
    """Count the fork attack's children still alive, then kill them (they are this run's processes)."""
    alive = []
    for pid in pids:
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"ipykernel" in cmd:
            alive.append(pid)
    for pid in alive:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return alive


def fmt(x):
    return "-" if x is None else f"{x:g}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default="", help="comma-separated attack names (default: every safe one)")
    ap.add_argument("--time-limit", type=float, default=150,
                    help="autograde's wall-clock limit per submission, seconds (default 150; the course's is 900)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary course folder")
    args = ap.parse_args(argv)

    attacks = [read_attack(p) for p in sorted(ATTACKS.glob("c[1-5]_*.py"))]
    if args.only:
        wanted = set(args.only.split(","))
        attacks = [a for a in attacks if a["name"] in wanted]
    safe = [a for a in attacks if a["safe"]]
    skipped = [a for a in attacks if not a["safe"]]

    tmp = Path(tempfile.mkdtemp(prefix="socialcredit-attacks-"))
    root = tmp / "course"
    env = grading_env(tmp / "cache")
    try:
        make_course(root)
        r = subprocess.run([sys.executable, "-m", "socialcredit", "release", LESSON], cwd=root, env=env,
                           capture_output=True, text=True)
        if r.returncode != 0:
            print(r.stdout + r.stderr)
            print("release failed; nothing measured")
            return 0
        release = nbformat.read(root / "lessons" / LESSON / f"{LESSON}.ipynb", as_version=4)
        solution = nbformat.read(root / "solutions" / LESSON / f"{LESSON}.ipynb", as_version=4)
        submit(root, "blank", nbformat.from_dict(release))
        submit(root, "diligent", with_solutions(release, solution))
        for a in safe:
            submit(root, a["name"], with_attack(release, a["sections"]), a["files"])

        cmd = [sys.executable, "-m", "socialcredit", "autograde", "--workers", "2", "--time-limit", f"{args.time_limit:g}"]
        print(f"course folder: {root}\n$ {' '.join(cmd[1:])}   ({len(safe) + 2} submissions)", flush=True)
        started = time.perf_counter()
        # a file, not a pipe: children a kernel forked keep its output open, and a pipe would wait for them
        with (tmp / "autograde.log").open("w") as log:
            r = subprocess.run(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
        elapsed = time.perf_counter() - started
        output = (tmp / "autograde.log").read_text(encoding="utf-8", errors="replace")
        print(f"autograde exited {r.returncode} after {elapsed:.0f} s; last lines of its output:")
        print("\n".join("    " + ln for ln in output.strip().splitlines()[-8:]))

        with (root / "autograde-status.csv").open() as f:
            status = {row["student_id"]: row for row in csv.DictReader(f)}
        points, maximum = scores(root)
        blank = points.get("blank")
        print(f"\n## Lesson 1 ({maximum:g} automatic points), {time.strftime('%Y-%m-%d')}\n")
        print("| attack | class | auto points | blank | excess over blank | status | detail |")
        print("|---|---|---|---|---|---|---|")
        reported = {}
        for name, cls in [(n, "ref") for n in REFERENCES] + [(a["name"], str(a["cls"])) for a in safe]:
            row = status.get(name, {})
            got = points.get(name)
            excess = None if got is None or blank is None else got - blank
            detail = (row.get("detail") or "").replace("|", "/")
            detail = detail if len(detail) <= 140 else detail[:137] + "..."
            print(f"| {name} | {cls} | {fmt(got)} | {fmt(blank)} | {fmt(excess)} | {row.get('status', 'no row')} "
                  f"| {detail} |")
            if cls != "ref":
                reported[name] = attack_lines(root, name)
        for a in skipped:
            print(f"| {a['name']} | {a['cls']} | | | | skipped: SANDBOX_ONLY and SOCIALCREDIT_SANDBOX=off | |")

        print("\n## What the attacks printed (ATTACK lines of their first answer cell, autograded notebook)\n")
        fork_pids = []
        for name, lines in reported.items():
            for ln in lines:
                if ln.startswith("ATTACK-PIDS:"):
                    fork_pids += [int(p) for p in ln.split(":", 1)[1].split()]
                    continue
                print(f"- {name}: {ln.removeprefix('ATTACK: ')}")
        if fork_pids:
            alive = reap(fork_pids)
            print(f"- c4_fork_sleepers: {len(alive)} of its {len(fork_pids)} children were still alive after "
                  "autograde finished (killed now by this script)")
        print(f"\nautograde run time: {elapsed:.0f} s for {len(safe) + 2} submissions (--workers 2)")
    finally:
        if args.keep:
            print(f"kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    main()
    sys.exit(0)
