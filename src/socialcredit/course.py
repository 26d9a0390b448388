"""Instructor commands around nbgrader: release, collect, autograde, feedback, grades.

Run from the course folder (the one holding ``nbgrader_config.py``)::

    python -m socialcredit release [LESSON] [--force]    # solutions/ -> lessons/ (lessons whose source changed)
    python -m socialcredit collect 01-dossier   # an LMS download in downloaded/01-dossier/archive/ -> submitted/
    python -m socialcredit autograde [--lesson L] [--force] [--scheduler tcp://host:8786]
                                                # new and changed submissions, on Dask (every core by default)
    python -m socialcredit feedback [--lesson L] [--force]   # feedback/ HTML, without hidden tests
    python -m socialcredit grades               # grades.csv, with a status column
    python -m socialcredit student-copy DEST    # what to hand students: no solutions, tests or rubrics

What nbgrader alone does not do, and these commands add:

- autograde grades new and changed submissions in parallel on Dask (socialcredit.grading),
  so a submission that crashes (an unreadable notebook, a kernel that dies, a
  time-out, a provided cell that fails) is reported by student and lesson, never
  recorded as a silent zero, and everyone else is still graded; the command
  exits 0 when it finished;
- grades.csv says, for each student and lesson, ``graded``, ``crashed`` (score
  left empty, with the reason) or ``not submitted``.
"""
from __future__ import annotations

import csv
import json
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
    """The instructor commands' environment (one definition, in socialcredit.grading)."""
    from .grading import course_env
    return course_env()


def nbgrader(args, root, *, timeout=None):
    """Run one nbgrader command in the course folder; returns the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=root, env=_env(), capture_output=True,
                          text=True, timeout=timeout)


def _check_lesson(root, lesson):
    known = lessons(root)
    if lesson not in known:
        raise CourseError(f"lesson={lesson!r} is not a lesson of this course; expected one of {', '.join(known)}.")


RELEASE_STATUS = "release-status.csv"


def _release_hash(root, lesson):
    """What a release depends on: the lesson's source folder and nbgrader_config.py."""
    from .grading import tree_hash
    import hashlib
    config = (Path(root) / "nbgrader_config.py").read_bytes()
    return hashlib.sha256(tree_hash(Path(root) / "solutions" / lesson).encode() + config).hexdigest()


def _known_to_gradebook(root):
    """Names of the lessons the gradebook holds (empty if there is no gradebook yet)."""
    db = Path(root) / "gradebook.db"
    if not db.is_file():
        return set()
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{db}") as gb:
        return {a.name for a in gb.assignments}


def release(root, only=None, *, force=False, quiet_unchanged=False):
    """Generate lessons/<lesson>/ from solutions/ and register the lesson in the gradebook.

    ``only``: a lesson name or a list of them (default every lesson). A lesson whose source folder
    and nbgrader_config.py are unchanged since its last release here (hash in release-status.csv),
    whose lessons/ folder exists and which the gradebook knows, is not released again unless ``force``.
    """
    root = Path(root)
    names = [only] if isinstance(only, str) else list(only or lessons(root))
    for lesson in names:
        _check_lesson(root, lesson)
    path = root / RELEASE_STATUS
    state = {}
    if path.is_file():
        with path.open(newline="") as f:
            state = {r["lesson"]: r["hash"] for r in csv.DictReader(f)}
    unchanged = []
    known = _known_to_gradebook(root) if state and not force else set()
    for lesson in names:
        digest = _release_hash(root, lesson)
        if (not force and state.get(lesson) == digest and (root / "lessons" / lesson).is_dir()
                and lesson in known):
            unchanged.append(lesson)
            continue
        r = nbgrader(["generate_assignment", lesson, "--force"], root)
        if r.returncode != 0:
            raise CourseError(f"releasing {lesson} failed:\n{r.stdout[-3000:]}{r.stderr[-3000:]}")
        state[lesson] = digest
        with path.open("w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["lesson", "hash"])
            w.writerows(sorted(state.items()))
        print(f"released {lesson} -> lessons/{lesson}/", flush=True)
    if unchanged and not quiet_unchanged:
        print(f"unchanged since their last release (not released again; --force / FORCE=1 does): {', '.join(unchanged)}")
    return names


def collect(root, lesson):
    """Take in an LMS download (downloaded/<lesson>/archive/) -> submitted/<student>/<lesson>/; see socialcredit.lms."""
    from .lms import collect as _collect
    return _collect(root, lesson)["students"]


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


def read_status(root):
    """What autograde found for each submission: {(student, lesson): row} from autograde-status.csv.

    Each row has ``student_id``, ``lesson``, ``status``, ``detail``, ``seconds``, ``hash`` (the
    submission folder's content hash when graded) and ``graded_at``. ``status`` is one of:

    - ``graded``: the gradebook holds its score. ``detail`` is empty, or notes what happened, e.g.
      ``ran past the per-cell time limit (interrupted, graded as an error): <notebook>: <grade_id> (cell N)``
      or ``submitted/s/l/l-final.ipynb graded as l.ipynb (copied; the original is kept)``.
    - ``crashed``: no score (the gradebook holds none either: no automatic score, notebooks flagged,
      the reason in each answer's comment). ``detail`` is the reason; its start says which kind:
      ``timed out: ...`` (the whole submission ran past its wall-clock limit),
      ``environment failure: provided cell ... raised ...`` (a locked setup cell failed at grading
      time before any code the student could write had run: the grading machine's fault, not the student's;
      after such code: ``provided cell ... raised ..., after the submission's own code had run ...``),
      ``the grading worker died twice ...`` (retried once, then given up),
      ``autograde failed: the kernel died ...``, ``... is not a readable notebook (...)``,
      ``no notebook named ...`` / ``no notebook in ...``, or another ``autograde failed: ...``.

    A (student, lesson) with no row has not been autograded.
    """
    from .grading import read_status as _read
    return _read(root)


def autograde(root, *, workers=None, only_lesson=None, force=False, scheduler=None, time_limit=None):
    """Autograde new and changed submissions in submitted/ on Dask; never stops at a crash.

    See :mod:`socialcredit.grading`. Returns this run's per-submission rows (see :func:`read_status`).
    """
    from .grading import DEFAULT_TIME_LIMIT, autograde as _autograde
    root = Path(root)
    if only_lesson:
        _check_lesson(root, only_lesson)
    return _autograde(root, lesson=only_lesson, force=force, scheduler=scheduler, workers=workers,
                      time_limit=time_limit or DEFAULT_TIME_LIMIT)


def feedback(root, *, lesson=None, force=False, scheduler=None, workers=None):
    """Feedback HTML for new and changed graded submissions (hidden tests and their tracebacks removed);
    a page saying "crashed, not graded" with the reason for crashed ones. See :mod:`socialcredit.grading`."""
    from .grading import feedback as _feedback
    return _feedback(root, lesson=lesson, force=force, scheduler=scheduler, workers=workers)


def grades(root, out="grades.csv", missing="empty"):
    """Write grades.csv: one row per student (every rostered one) and lesson, with status and lateness; see socialcredit.lms."""
    from .lms import grades as _grades
    return _grades(root, out, missing=missing)


#: What students get: everything needed to open and run the lessons, nothing that grades them.
STUDENT_FILES = ("LICENSE", "environment.yml", "pyproject.toml", "requirements.lock", "src", "datasets", "lessons",
                 "deploy/student/jupyter")
#: The student copy's own README, Makefile and nbgrader settings (students' commands and Validate's time limits).
STUDENT_TEMPLATES = {"README.md": "deploy/student/README.md", "Makefile": "deploy/student/Makefile",
                     "nbgrader_config.py": "deploy/student/nbgrader_config.py"}
#: What stays with instructors (never copied): answers, hidden tests, banks, rubrics, gradebooks.
INSTRUCTOR_ONLY = ("solutions", "tests", "instructors", "gradebook.db", "submitted",
                   "autograded", "feedback", "downloaded", "grades.csv", STATUS_FILE, RELEASE_STATUS)


def student_copy(root, dest):
    """Copy what students need into ``dest`` (a new folder) and check that no answer came along."""
    import shutil
    root, dest = Path(root), Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise CourseError(f"dest={str(dest)!r} exists and is not empty; expected a new or empty folder.")
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", ".ipynb_checkpoints")
    missing = [src for src in STUDENT_TEMPLATES.values() if not (root / src).is_file()]
    if missing:
        raise CourseError(f"the student copy's templates are missing from {str(root)!r}: {missing}")
    for name, src in [(n, n) for n in STUDENT_FILES] + list(STUDENT_TEMPLATES.items()):
        src = root / src
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        elif src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    leaks = [str(p.relative_to(dest)) for p in dest.rglob("*.ipynb")
             if any(m in p.read_text(encoding="utf-8") for m in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS"))]
    if leaks:
        shutil.rmtree(dest)
        raise CourseError(f"solution or hidden-test markers found in {leaks}: run `make release` first.")
    written = [n for n in (*STUDENT_FILES, *STUDENT_TEMPLATES) if (dest / n).exists()]
    print(f"student copy written to {dest} ({', '.join(written)})")
    return dest


def main(command, argv):
    import argparse
    ap = argparse.ArgumentParser(prog=f"python -m socialcredit {command}")
    ap.add_argument("--course", default=".", help="the course folder (default: here)")
    if command in ("collect",):
        ap.add_argument("lesson", help="lesson folder name, e.g. 01-dossier")
    if command == "release":
        ap.add_argument("lesson", nargs="?", default=None, help="only this lesson")
    if command in ("release", "autograde", "feedback"):
        ap.add_argument("--force", action="store_true", help="redo everything, not only what is new or changed")
    if command in ("autograde", "feedback"):
        ap.add_argument("--lesson", default=None, help="only this lesson")
        ap.add_argument("--workers", type=int, default=None, help="local Dask workers (default: every core)")
        ap.add_argument("--scheduler", default=None,
                        help="an existing Dask scheduler, e.g. tcp://host:8786 (default: a local cluster)")
    if command == "autograde":
        ap.add_argument("--time-limit", type=float, default=None,
                        help="wall-clock limit per submission, in seconds (default 900)")
    if command == "grades":
        ap.add_argument("--out", default="grades.csv")
    if command == "student-copy":
        ap.add_argument("dest", help="a new folder to write the students' copy into")
    args = ap.parse_args(argv)
    try:
        root = course_root(args.course)
        if command == "release":
            release(root, args.lesson or None, force=args.force)
        elif command == "collect":
            collect(root, args.lesson)
        elif command == "autograde":
            autograde(root, workers=args.workers, only_lesson=args.lesson or None, force=args.force,
                      scheduler=args.scheduler or None, time_limit=args.time_limit)
        elif command == "feedback":
            feedback(root, lesson=args.lesson or None, force=args.force, scheduler=args.scheduler or None,
                     workers=args.workers)
        elif command == "grades":
            grades(root, args.out)
        elif command == "student-copy":
            student_copy(root, args.dest)
    except CourseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
