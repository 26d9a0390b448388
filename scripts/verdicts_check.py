"""Grade each lesson's solution notebook (as student `diligent`) and its untouched release (`blank`) with the
repository's nbgrader_config.py (trusted verdicts, issue #12); print points per test cell and every failing
test cell's error. A measurement, not a test.

    PYTHONPATH=src .venv/bin/python scripts/verdicts_check.py [--lessons 01-dossier,02-build-the-score] [--keep]
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import attacks  # noqa: E402

REPO = attacks.REPO


def _half(release, solution):
    """The release with the solution's answers to the first half of its code answer cells (as test_hub's student2)."""
    full = attacks.with_solutions(release, solution)
    code = [c.metadata["nbgrader"]["grade_id"] for c in release.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]
    keep = set(code[: len(code) // 2])
    nb = nbformat.from_dict(release)
    answers = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in full.cells}
    for c in nb.cells:
        gid = c.metadata.get("nbgrader", {}).get("grade_id")
        if gid in keep:
            c.source = answers[gid]
    return nb


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--lessons", default=",".join(sorted(p.name for p in (REPO / "solutions").iterdir() if p.is_dir())))
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--workers", default="1")
    ap.add_argument("--no-blank", action="store_true")
    ap.add_argument("--half", action="store_true",
                    help="also grade `half`: the solution's first half of code answers, the rest as released")
    ap.add_argument("--baseline", action="store_true",
                    help="grade with today's SandboxedExecute (one kernel) instead of TrustedVerdictExecute, for timing")
    args = ap.parse_args(argv)
    lessons = args.lessons.split(",")
    tmp = Path(tempfile.mkdtemp(prefix="socialcredit-verdicts-"))
    root = tmp / "course"
    env = attacks.grading_env(tmp / "cache")
    root.mkdir(parents=True)
    shutil.copy2(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    if args.baseline:
        cfg = (root / "nbgrader_config.py").read_text()
        cfg = cfg.replace("[TrustedVerdictExecute if p", "[__import__('socialcredit.worlds_nbgrader', fromlist=['x'])"
                          ".SandboxedExecute if p")
        (root / "nbgrader_config.py").write_text(cfg)
    shutil.copytree(REPO / "datasets", root / "datasets")
    try:
        for lesson in lessons:
            shutil.copytree(REPO / "solutions" / lesson, root / "solutions" / lesson)
            r = subprocess.run([sys.executable, "-m", "socialcredit", "release", lesson], cwd=root, env=env,
                               capture_output=True, text=True)
            if r.returncode:
                print(r.stdout + r.stderr)
                return 1
            release = nbformat.read(root / "lessons" / lesson / f"{lesson}.ipynb", as_version=4)
            solution = nbformat.read(root / "solutions" / lesson / f"{lesson}.ipynb", as_version=4)
            for student, nb in [("diligent", attacks.with_solutions(release, solution))] + \
                    ([] if args.no_blank else [("blank", nbformat.from_dict(release))]) + \
                    ([("half", _half(release, solution))] if args.half else []):
                folder = root / "submitted" / student / lesson
                folder.mkdir(parents=True, exist_ok=True)
                nbformat.write(nb, folder / f"{lesson}.ipynb")
        for lesson in lessons:
            cmd = [sys.executable, "-m", "socialcredit", "autograde", "--lesson", lesson, "--workers", args.workers,
                   "--time-limit", "900"]
            t0 = time.perf_counter()
            r = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
            took = time.perf_counter() - t0
            print(f"== {lesson}: autograde exited {r.returncode} in {took:.0f} s")
            if r.returncode:
                print("\n".join(("    " + ln) for ln in (r.stdout + r.stderr).strip().splitlines()[-15:]))
            from nbgrader.api import Gradebook
            with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
                a = gb.find_assignment(lesson)
                for sub in a.submissions:
                    auto = [(g.name, g.auto_score, g.max_score) for nb in sub.notebooks for g in nb.grades
                            if g.cell_type == "code"]
                    got = sum(s or 0 for _, s, _ in auto)
                    import csv
                    secs = {r["student_id"]: r["seconds"] for r in csv.DictReader(open(root / "autograde-status.csv"))
                            if r["lesson"] == lesson}
                    print(f"   {sub.student_id}: {got:g} / {a.max_code_score:g}   ({secs.get(sub.student_id)} s)")
                    if sub.student_id == "diligent":
                        path = root / "autograded" / sub.student_id / lesson / f"{lesson}.ipynb"
                        graded = nbformat.read(path, as_version=4)
                        for c in graded.cells:
                            m = c.metadata.get("nbgrader", {})
                            if m.get("grade") and c.cell_type == "code":
                                errs = [o for o in c.get("outputs", []) if o.get("output_type") == "error"]
                                if errs:
                                    e = errs[0]
                                    tb = "\n".join(e.get("traceback", [])[-3:])
                                    import re
                                    tb = re.sub(r"\x1b\[[0-9;]*m", "", tb)
                                    print(f"     FAIL {m['grade_id']}: {e['ename']}: {e['evalue'][:300]}\n"
                                          + "\n".join("        " + ln for ln in tb.splitlines()[-6:]))
        print(f"course folder: {root}")
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
