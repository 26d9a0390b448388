"""Instructor commands around nbgrader: release, collect, autograde, feedback, grades.

Run from the course folder (the one holding ``nbgrader_config.py``)::

    python -m socialcredit release              # solutions/ -> lessons/ (every lesson)
    python -m socialcredit collect 01-dossier   # an LMS download in downloaded/01-dossier/archive/ -> submitted/
    python -m socialcredit autograde            # every submission in submitted/, on every core
    python -m socialcredit feedback             # feedback/ HTML, without hidden tests
    python -m socialcredit grades               # grades.csv, with a status column
    python -m socialcredit student-copy DEST    # what to hand students: no solutions, tests or rubrics

What nbgrader alone does not do, and these commands add:

- autograde grades submissions in parallel, one process per submission, so a
  submission that crashes (an unreadable notebook, a kernel that dies) is
  reported by student and lesson, never recorded as a silent zero, and
  everyone else is still graded; the command exits 0 when it finished;
- grades.csv says, for each student and lesson, ``graded``, ``crashed`` (score
  left empty, with the reason) or ``not submitted``.
"""
from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat

STATUS_FILE = "autograde-status.csv"
LESSON_PATTERN = re.compile(r"^\d\d-[a-z0-9-]+$")


class CourseError(Exception):
    """A problem with the course folder that stops a command (bad folder, unknown lesson)."""


def course_root(path="."):
    root = Path(path).resolve()
    if not (root / "nbgrader_config.py").is_file():
        raise CourseError(f"{root} holds no nbgrader_config.py; expected the course folder (run from the repository root).")
    return root


def lessons(root):
    """Lesson folder names under solutions/ (``NN-slug``), in order."""
    src = Path(root) / "solutions"
    if not src.is_dir():
        raise CourseError(f"{src} is missing; expected the folder of source notebooks.")
    return sorted(p.name for p in src.iterdir() if p.is_dir() and LESSON_PATTERN.match(p.name))


def _env():
    env = dict(os.environ)
    # nbgrader runs the `alembic` executable for a new gradebook: it must be on PATH
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    # grading runs one kernel per core: multi-threaded BLAS in each would oversubscribe the cores
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    return env


def nbgrader(args, root, *, timeout=None):
    """Run one nbgrader command in the course folder; returns the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=root, env=_env(), capture_output=True,
                          text=True, timeout=timeout)


def _check_lesson(root, lesson):
    known = lessons(root)
    if lesson not in known:
        raise CourseError(f"lesson={lesson!r} is not a lesson of this course; expected one of {', '.join(known)}.")


def release(root, only=None):
    """Generate lessons/ from solutions/ (and register each lesson in the gradebook)."""
    names = [only] if only else lessons(root)
    for lesson in names:
        _check_lesson(root, lesson)
        r = nbgrader(["generate_assignment", lesson, "--force"], root)
        if r.returncode != 0:
            raise CourseError(f"releasing {lesson} failed:\n{r.stdout[-3000:]}{r.stderr[-3000:]}")
        print(f"released {lesson} -> lessons/{lesson}/")
    return names


def collect(root, lesson):
    """Take in an LMS download: zip files in downloaded/<lesson>/archive/ -> submitted/<student>/<lesson>/."""
    _check_lesson(root, lesson)
    archive = Path(root) / "downloaded" / lesson / "archive"
    if not archive.is_dir() or not any(archive.iterdir()):
        raise CourseError(f"{archive} is missing or empty; expected the LMS's zip download(s) there.")
    r = nbgrader(["zip_collect", lesson, "--force"], root)
    out = r.stdout + r.stderr
    if r.returncode != 0:
        raise CourseError(f"collecting {lesson} failed:\n{out[-3000:]}")
    skipped = re.findall(r"Skipped submission with no match information provided: (.*)", out)
    for name in skipped:
        print(f"skipped (file name not of the form <student>_..._{lesson}.ipynb): {name}")
    students = sorted(p.parent.name for p in (Path(root) / "submitted").glob(f"*/{lesson}"))
    print(f"collected {lesson} for {len(students)} student(s)")
    return students


def submissions(root):
    """(student, lesson) pairs found in submitted/."""
    sub = Path(root) / "submitted"
    known = set(lessons(root))
    pairs = []
    if sub.is_dir():
        for student in sorted(p for p in sub.iterdir() if p.is_dir()):
            for lesson in sorted(p for p in student.iterdir() if p.is_dir() and p.name in known):
                pairs.append((student.name, lesson.name))
    return pairs


def _unreadable(folder):
    """Why a submission cannot be graded before any kernel starts, or None."""
    notebooks = sorted(folder.glob("*.ipynb"))
    if not notebooks:
        return "no notebook in the submission folder"
    for nb in notebooks:
        try:
            nbformat.validate(nbformat.read(nb, as_version=4))
        except Exception as exc:  # invalid JSON, wrong schema: the student's file is broken
            return f"{nb.name} is not a readable notebook ({exc.__class__.__name__}: {str(exc).splitlines()[0][:200]})"
    return None


_KNOWN_FAILURES = (
    ("DeadKernelError", "the kernel died while running the notebook (e.g. os._exit, a crash, or memory exhausted)"),
    ("CellTimeoutError", "a cell ran past the per-cell time-out (an infinite loop?)"),
    ("NotJSONError", "the notebook is not valid JSON"),
    ("database is locked", "database is locked"),
)


def _last_error(text):
    """The most telling line of a failed nbgrader run."""
    for marker, meaning in _KNOWN_FAILURES:
        if marker in text:
            return meaning
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and "Please see the the above traceback" not in ln]
    errors = [ln for ln in lines if "Error" in ln or "[ERROR]" in ln]
    return (errors or lines or ["no output"])[-1][:300]


def _grade_one(root, student, lesson, timeout):
    started = time.perf_counter()
    reason = _unreadable(Path(root) / "submitted" / student / lesson)
    if reason is None:
        try:
            r = nbgrader(["autograde", lesson, "--student", student, "--force"], root, timeout=timeout)
            if r.returncode != 0:
                reason = "autograde failed: " + _last_error(r.stdout + r.stderr)
            elif not list((Path(root) / "autograded" / student / lesson).glob("*.ipynb")):
                reason = "autograde produced no graded notebook: " + _last_error(r.stdout + r.stderr)
        except subprocess.TimeoutExpired:
            reason = f"took longer than {timeout} s"
    return {"student_id": student, "lesson": lesson, "status": "crashed" if reason else "graded",
            "detail": reason or "", "seconds": f"{time.perf_counter() - started:.1f}"}


def read_status(root):
    path = Path(root) / STATUS_FILE
    if not path.is_file():
        return {}
    with path.open(newline="") as f:
        return {(r["student_id"], r["lesson"]): r for r in csv.DictReader(f)}


def _write_status(root, status):
    path = Path(root) / STATUS_FILE
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["student_id", "lesson", "status", "detail", "seconds"], lineterminator="\n")
        w.writeheader()
        for key in sorted(status):
            w.writerow(status[key])


_WORKER = {}


def _init_worker(root):
    """Load nbgrader once per worker process (its start-up costs seconds; grading one notebook, a few)."""
    import warnings
    warnings.filterwarnings("ignore")
    os.environ.update(_env())
    # kernels inherit this process's stderr; their start-up warnings would drown the report
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader
    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    _WORKER["api"] = NbGraderAPI(CourseDirectory(config=config, root=str(root)), config=config)
    _WORKER["root"] = Path(root)


def _grade_in_worker(student, lesson):
    root = _WORKER["root"]
    started = time.perf_counter()
    reason = _unreadable(root / "submitted" / student / lesson)
    if reason is None:
        result = _WORKER["api"].autograde(lesson, student, force=True, create=True)
        if not result.get("success"):
            reason = "autograde failed: " + _last_error((result.get("log") or "") + (result.get("error") or ""))
        elif not list((root / "autograded" / student / lesson).glob("*.ipynb")):
            reason = "autograde produced no graded notebook"
    return {"student_id": student, "lesson": lesson, "status": "crashed" if reason else "graded",
            "detail": reason or "", "seconds": f"{time.perf_counter() - started:.1f}"}


def autograde(root, *, workers=None, timeout=1800, only_lesson=None, do_release=True):
    """Autograde every submission in submitted/, in parallel; never stops at a crash.

    Each worker process loads nbgrader once and grades submissions one at a time;
    every submission runs in its own kernel, so a notebook that kills its kernel
    or is not valid JSON is reported as crashed and the others are still graded.
    Returns the list of per-submission results (``status`` graded or crashed).
    """
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    root = Path(root)
    if only_lesson:
        _check_lesson(root, only_lesson)
    if do_release:  # the gradebook must know every lesson's grade cells
        for lesson in lessons(root):
            r = nbgrader(["generate_assignment", lesson, "--force"], root)
            if r.returncode != 0:
                raise CourseError(f"registering {lesson} in the gradebook failed:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    pairs = [p for p in submissions(root) if only_lesson in (None, p[1])]
    if not pairs:
        print("nothing to grade: submitted/<student>/<lesson>/ is empty")
        return []
    workers = max(1, min(workers or os.cpu_count() or 1, len(pairs)))
    print(f"autograding {len(pairs)} submission(s) on {workers} worker(s)", flush=True)
    results = {}
    try:
        with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(root,)) as pool:
            futures = {pool.submit(_grade_in_worker, *p): p for p in pairs}
            for future in futures:
                res = future.result()
                results[futures[future]] = res
                mark = "ok     " if res["status"] == "graded" else "CRASHED"
                print(f"  {mark} {res['student_id']:<20} {res['lesson']:<28} {res['seconds']:>6} s  {res['detail']}",
                      flush=True)
    except BrokenProcessPool:
        print("  a grading worker died; grading the remaining submissions one process each", flush=True)
    # whatever a dead worker left, and any clash on the gradebook, is graded again one at a time
    for pair in pairs:
        res = results.get(pair)
        if res is None or "database is locked" in res["detail"]:
            results[pair] = _grade_one(root, *pair, timeout)
    ordered = [results[p] for p in pairs]
    status = read_status(root)
    status.update({(r["student_id"], r["lesson"]): r for r in ordered})
    _write_status(root, status)
    crashed = [r for r in ordered if r["status"] == "crashed"]
    print(f"graded {len(ordered) - len(crashed)}, crashed {len(crashed)}")
    for r in crashed:
        print(f"  crashed: {r['student_id']} / {r['lesson']}: {r['detail']}")
    return ordered


def feedback(root):
    """Feedback HTML for every graded submission (hidden tests and their tracebacks removed)."""
    status = read_status(root)
    made, failed = 0, []
    for (student, lesson), row in sorted(status.items()):
        if row["status"] != "graded":
            print(f"  no feedback for {student} / {lesson}: {row['status']} ({row['detail']})")
            continue
        r = nbgrader(["generate_feedback", lesson, "--student", student, "--force"], root)
        if r.returncode != 0:
            failed.append((student, lesson, _last_error(r.stdout + r.stderr)))
        else:
            made += 1
    print(f"feedback written for {made} submission(s) in feedback/")
    for student, lesson, why in failed:
        print(f"  feedback failed: {student} / {lesson}: {why}")
    return made, failed


def grades(root, out="grades.csv"):
    """Write a CSV with one row per student and lesson: score, max_score, status."""
    from nbgrader.api import Gradebook, MissingEntry

    root = Path(root)
    status = read_status(root)
    rows = []
    db = root / "gradebook.db"
    if not db.is_file():
        raise CourseError(f"{db} is missing: nothing has been released or graded yet (run `make autograde`).")
    with Gradebook(f"sqlite:///{db}") as gb:
        students = sorted({s.id for s in gb.students} | {k[0] for k in status})
        for lesson in lessons(root):
            try:
                max_score = gb.find_assignment(lesson).max_score
            except MissingEntry:
                continue
            for student in students:
                st = status.get((student, lesson))
                row = {"student_id": student, "lesson": lesson, "max_score": max_score}
                if st and st["status"] == "crashed":
                    row.update(score="", needs_manual_grade="", status="crashed", detail=st["detail"])
                else:
                    try:
                        sub = gb.find_submission(lesson, student)
                    except MissingEntry:
                        row.update(score="", needs_manual_grade="", status="not submitted", detail="")
                    else:
                        row.update(score=sub.score, needs_manual_grade=bool(sub.needs_manual_grade),
                                   status="graded", detail="")
                rows.append(row)
    path = root / out
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["student_id", "lesson", "score", "max_score", "needs_manual_grade", "status",
                                          "detail"], lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    counts = {k: sum(r["status"] == k for r in rows) for k in ("graded", "crashed", "not submitted")}
    print(f"wrote {path} ({len(rows)} rows: {json.dumps(counts)})")
    return rows


#: What students get: everything needed to open and run the lessons, nothing that grades them.
STUDENT_FILES = ("README.md", "LICENSE", "environment.yml", "pyproject.toml", "requirements.lock", "Makefile",
                 "src", "datasets", "lessons")
#: What stays with instructors (never copied): answers, hidden tests, banks, rubrics, gradebooks.
INSTRUCTOR_ONLY = ("solutions", "tests", "instructors", "nbgrader_config.py", "gradebook.db", "submitted",
                   "autograded", "feedback", "downloaded", "grades.csv", STATUS_FILE)


def student_copy(root, dest):
    """Copy what students need into ``dest`` (a new folder) and check that no answer came along."""
    import shutil
    root, dest = Path(root), Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise CourseError(f"dest={str(dest)!r} exists and is not empty; expected a new or empty folder.")
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", ".ipynb_checkpoints")
    for name in STUDENT_FILES:
        src = root / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        elif src.is_file():
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    leaks = [str(p.relative_to(dest)) for p in dest.rglob("*.ipynb")
             if any(m in p.read_text(encoding="utf-8") for m in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS"))]
    if leaks:
        shutil.rmtree(dest)
        raise CourseError(f"solution or hidden-test markers found in {leaks}: run `make release` first.")
    print(f"student copy written to {dest} ({', '.join(n for n in STUDENT_FILES if (dest / n).exists())})")
    return dest


def main(command, argv):
    import argparse
    ap = argparse.ArgumentParser(prog=f"python -m socialcredit {command}")
    ap.add_argument("--course", default=".", help="the course folder (default: here)")
    if command in ("collect",):
        ap.add_argument("lesson", help="lesson folder name, e.g. 01-dossier")
    if command == "release":
        ap.add_argument("lesson", nargs="?", default=None, help="only this lesson")
    if command == "autograde":
        ap.add_argument("--workers", type=int, default=None, help="parallel submissions (default: every core)")
        ap.add_argument("--lesson", default=None, help="only this lesson")
    if command == "grades":
        ap.add_argument("--out", default="grades.csv")
    if command == "student-copy":
        ap.add_argument("dest", help="a new folder to write the students' copy into")
    args = ap.parse_args(argv)
    try:
        root = course_root(args.course)
        if command == "release":
            release(root, args.lesson)
        elif command == "collect":
            collect(root, args.lesson)
        elif command == "autograde":
            autograde(root, workers=args.workers, only_lesson=args.lesson)
        elif command == "feedback":
            feedback(root)
        elif command == "grades":
            grades(root, args.out)
        elif command == "student-copy":
            student_copy(root, args.dest)
    except CourseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
