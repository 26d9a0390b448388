"""The grading engine: incremental, parallel autograde and feedback on Dask, with nbgrader as the gradebook.

``python -m socialcredit autograde`` and ``feedback`` call :func:`autograde` and :func:`feedback`.

- **Incremental.** Each submission folder's content hash is kept in ``autograde-status.csv`` beside
  the gradebook; only new or changed submissions are graded (``--force`` regrades all). Manual grades,
  comments and flags of a submission whose content did not change are kept, even under ``--force``.
  Feedback is regenerated only when a submission's grades or comments changed (state in
  ``feedback/feedback-status.csv``).
- **Parallel on Dask.** A ``LocalCluster`` with one single-threaded worker process per core by default,
  or an existing cluster (``--scheduler tcp://host:8786``). Every worker must see the course folder at
  the same path (a shared file system) and run one task at a time (``dask worker --nthreads 1``).
  A worker that dies while grading is retried once (our local cluster sets
  ``distributed.scheduler.allowed-failures`` to 1; start an external scheduler with
  ``DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=1`` for the same), then reported as crashed.
- **Never a silent zero.** A submission that cannot be scored (unreadable notebook, no notebook of the
  lesson, kernel died, worker died twice, whole submission past its wall-clock limit, a provided cell
  that fails at grading time) is ``crashed`` with its reason, and that state is written in every view:
  ``autograde-status.csv``, the gradebook (no automatic score, every notebook flagged, a comment
  starting ``CRASHED, not graded:`` on each answer), ``nbgrader export`` (see :class:`CourseCsvExport`),
  grades.csv and the feedback page.
- **Per-cell and per-submission limits.** nbgrader stops a cell after ``Execute.timeout`` seconds and
  grading goes on; the cell is named in the status detail. The whole submission has a wall-clock limit
  (``--time-limit``, default :data:`DEFAULT_TIME_LIMIT` s): past it, its kernel is stopped and the
  submission is ``crashed`` with a reason starting ``timed out:``.
"""
from __future__ import annotations

import csv
import hashlib
import html
import json
import os
import shutil
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import nbformat

STATUS_FILE = "autograde-status.csv"
STATUS_FIELDS = ["student_id", "lesson", "status", "detail", "seconds", "hash", "graded_at"]
FEEDBACK_STATUS = Path("feedback") / "feedback-status.csv"
CRASH_MARK = "CRASHED, not graded: "
DEFAULT_TIME_LIMIT = 900
#: Reasons that are the grading machine's fault, not the file's: an unchanged submission that crashed
#: for one of these is graded again on the next run (after the instructor fixed the environment).
RETRY_UNCHANGED = ("environment failure", "the grading worker died")
_IGNORED = {".ipynb_checkpoints", "__pycache__", ".DS_Store"}


# ---------------------------------------------------------------------------------------------- state

def tree_hash(folder):
    """sha256 of a folder's files (relative names and bytes), ignoring editor clutter; '' if missing."""
    folder = Path(folder)
    if not folder.is_dir():
        return ""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder)
        if _IGNORED & set(rel.parts):
            continue
        h.update(str(rel.as_posix()).encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def _read_csv(path):
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8") as f:
        return {(r["student_id"], r["lesson"]): r for r in csv.DictReader(f)}


def _write_csv(path, rows, fields):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
        w.writeheader()
        for key in sorted(rows):
            w.writerow({k: rows[key].get(k, "") for k in fields})
    os.replace(tmp, path)  # never a half-written state file


def read_status(root):
    """{(student, lesson): row} from autograde-status.csv (see course.read_status for the statuses)."""
    return _read_csv(Path(root) / STATUS_FILE)


def write_status(root, status):
    _write_csv(Path(root) / STATUS_FILE, status, STATUS_FIELDS)


def _now():
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# ------------------------------------------------------------------------------ preparing a submission

def lesson_notebooks(root, lesson):
    """The notebook file names a lesson's submission must hold (from solutions/<lesson>/)."""
    return sorted(p.name for p in (Path(root) / "solutions" / lesson).glob("*.ipynb"))


def prepare(root, student, lesson):
    """Check a submission folder before grading; map a lone renamed notebook to the lesson's name.

    Returns ``(reason, note)``: ``reason`` says why it cannot be graded (None if it can), ``note``
    says what was done or ignored (may be empty). A renamed notebook is copied, never moved.
    """
    folder = Path(root) / "submitted" / student / lesson
    where = f"submitted/{student}/{lesson}/"
    expected = lesson_notebooks(root, lesson)
    present = sorted(p.name for p in folder.glob("*.ipynb"))
    missing = [n for n in expected if n not in present]
    others = [n for n in present if n not in expected]
    notes = []
    if missing:
        if len(missing) == 1 and len(others) == 1:
            shutil.copy2(folder / others[0], folder / missing[0])
            notes.append(f"{where}{others[0]} graded as {missing[0]} (copied; the original is kept)")
            others = []
        elif not present:
            return f"no notebook in {where}; expected {', '.join(expected)}", ""
        else:
            return (f"no notebook named {', '.join(missing)} in {where}; found {', '.join(others)}: "
                    f"rename the one to grade to {missing[0]}"), ""
    if others:
        notes.append(f"ignored other notebook(s) in {where}: {', '.join(others)}")
    for name in expected:
        try:
            nbformat.validate(nbformat.read(folder / name, as_version=4))
        except Exception as exc:  # invalid JSON, wrong schema: the student's file is broken
            first = (str(exc).splitlines() or [""])[0][:200]
            return f"{where}{name} is not a readable notebook ({exc.__class__.__name__}: {first})", "; ".join(notes)
    return None, "; ".join(notes)


# ------------------------------------------------------------------------------ worker side (on Dask)

_WORKER = {}

_KNOWN_FAILURES = (
    ("DeadKernelError", "the kernel died while running the notebook (e.g. os._exit, a crash, or memory exhausted)"),
    ("Kernel died", "the kernel died while running the notebook (e.g. os._exit, a crash, or memory exhausted)"),
    ("NotJSONError", "the notebook is not valid JSON"),
    ("database is locked", "database is locked"),
    # the submission's nbgrader metadata was edited (a cell added with forged metadata, a test cell's flags
    # changed): nbgrader refuses the notebook; the student's doing, not the machine's
    ("Inconsistent checksums", "nbgrader refused the notebook: a graded cell's nbgrader metadata no longer matches "
                               "the lesson's (edited in the submission, e.g. a test cell's grade flag)"),
    ("Notebook failed to validate", "nbgrader refused the notebook: its cells' nbgrader metadata is invalid (a cell "
                                    "added or edited with nbgrader metadata of its own, e.g. marked locked)"),
)


def last_error(text):
    """The most telling line of a failed nbgrader run."""
    for marker, meaning in _KNOWN_FAILURES:
        if marker in text:
            return meaning
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and "Please see the the above traceback" not in ln]
    errors = [ln for ln in lines if "Error" in ln or "[ERROR]" in ln]
    return (errors or lines or ["no output"])[-1][:300]


def course_env():
    env = dict(os.environ)
    # nbgrader runs the `alembic` executable for a new gradebook: it must be on PATH
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    # grading runs one kernel per core: multi-threaded BLAS in each would oversubscribe the cores
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    return env


_SQLITE_WAIT_MS = 120_000


def _patient_sqlite():
    """Every SQLite connection this process opens (nbgrader's gradebook) waits up to two minutes for another
    process's write to finish, instead of Python's 5 s, before it reports "database is locked": with two or more
    workers writing grades to one gradebook, a 5 s wait is not always enough on a loaded machine."""
    if _WORKER.get("_patient"):
        return
    from sqlalchemy import event
    from sqlalchemy.engine import Engine as _SqlEngine

    @event.listens_for(_SqlEngine, "connect")
    def _wait_for_locks(dbapi_connection, _record):
        if type(dbapi_connection).__module__.startswith("sqlite3"):
            dbapi_connection.execute(f"PRAGMA busy_timeout = {_SQLITE_WAIT_MS}")
    _WORKER["_patient"] = True


def _api(root, env, quiet):
    """This worker process's NbGraderAPI for the course (nbgrader loads once per worker, not per task)."""
    key = str(root)
    if key not in _WORKER:
        import warnings
        warnings.filterwarnings("ignore")
        os.environ.update(course_env())
        # Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 for its workers; inherited by the grading kernels, it made
        # glibc return memory to the system so often that Lesson 5 took 13 s to grade instead of 8.5 s
        os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
        _patient_sqlite()
        if quiet and not _WORKER.get("_quiet"):
            # kernels inherit this process's stderr; their start-up warnings would drown the report
            os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
            _WORKER["_quiet"] = True
        from nbgrader.apps import NbGraderAPI
        from nbgrader.coursedir import CourseDirectory
        from traitlets.config.loader import PyFileConfigLoader
        config = PyFileConfigLoader("nbgrader_config.py", path=key).load_config()
        _WORKER[key] = NbGraderAPI(CourseDirectory(config=config, root=key), config=config)
    os.environ.update(env)
    return _WORKER[key]


def _kernels():
    import psutil
    try:
        children = psutil.Process().children(recursive=True)
    except psutil.Error:
        return []
    out = []
    for p in children:
        try:
            if any("ipykernel" in part for part in p.cmdline()):
                out.append(p)
        except psutil.Error:
            pass
    return out


def _stop_kernels(fired):
    fired.set()
    for p in _kernels():
        try:
            p.kill()
        except Exception:
            pass


def _cell_name(cell, index):
    gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    first = next((ln.strip() for ln in cell.source.splitlines() if ln.strip()), "")[:40]
    return f"{gid} (cell {index + 1})" if gid else f"cell {index + 1} ({first!r})"


def inspect_graded(folder, per_cell_limit=None):
    """(cells past the per-cell time limit, environment failure or None) in an autograded submission."""
    timed_out, env_failure = [], None
    for path in sorted(Path(folder).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        student_code = None  # the first cell the student could write (not locked) that ran before, with code in it
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            meta = cell.get("metadata", {}).get("nbgrader", {})
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            if not errors:
                if student_code is None and not meta.get("locked") and cell.source.strip():
                    student_code = _cell_name(cell, i)
                continue
            name = f"{path.name}: {_cell_name(cell, i)}"
            if any(o.get("ename") == "CellTimeoutError" for o in errors):
                timed_out.append(name)
            provided = meta.get("locked") and not meta.get("solution") and not meta.get("grade")
            if provided and env_failure is None:
                e = errors[0]
                what = ("ran past the per-cell time limit" if e.get("ename") == "CellTimeoutError"
                        else f"raised {e.get('ename')}: {str(e.get('evalue'))[:200]}")
                if student_code is None:
                    env_failure = f"environment failure: provided cell {name} {what}"
                else:  # the student's own code ran first and may have caused it: the submission's, not retried
                    env_failure = (f"provided cell {name} {what}, after the submission's own code had run "
                                   f"({student_code}): counted as the submission's doing (if every submission "
                                   "shows it, the grading environment is at fault)")
            if student_code is None and not meta.get("locked") and cell.source.strip():
                student_code = _cell_name(cell, i)
    return timed_out, env_failure


def grade_task(root, student, lesson, time_limit, env, quiet=False):
    """Autograde one submission in this worker (run by Dask). Returns a plain dict."""
    root = Path(root)
    started = time.perf_counter()
    api = _api(root, env, quiet)
    fired = threading.Event()
    watchdog = threading.Timer(time_limit, _stop_kernels, args=(fired,)) if time_limit else None
    if watchdog:
        watchdog.daemon = True
        watchdog.start()
    try:
        for attempt in range(4):
            result = api.autograde(lesson, student, force=True, create=True)
            text = (result.get("log") or "") + (result.get("error") or "")
            if result.get("success") or "database is locked" not in text or fired.is_set():
                break
            time.sleep(1 + 2 * attempt)  # another worker held the gradebook: wait and try again
    finally:
        if watchdog:
            watchdog.cancel()
    out = {"student_id": student, "lesson": lesson, "timed_out_cells": []}
    graded = root / "autograded" / student / lesson
    from .worlds_nbgrader import EVENTS, SCANS
    events = EVENTS.pop((student, lesson), [])
    if fired.is_set():  # the wall-clock watchdog stopped the kernel: its death is not the submission's doing
        events = [e for e in events if not e.startswith("the kernel died")]
    sandbox_note = "; ".join(events)
    scan_note = SCANS.pop((student, lesson), "")
    if fired.is_set():
        reason = f"timed out: the submission ran past its {time_limit:g} s wall-clock limit (its kernel was stopped)"
    elif not result.get("success") and "SandboxUnavailable" in text:
        line = next((ln for ln in text.splitlines() if "SandboxUnavailable" in ln), "SandboxUnavailable")
        reason = "environment failure: " + line.split("SandboxUnavailable:", 1)[-1].strip()[:400]
    elif not result.get("success") and sandbox_note:
        reason = sandbox_note  # what the student's code did, by name
        sandbox_note = ""
    elif not result.get("success"):
        reason = "autograde failed: " + last_error(text)
    elif not list(graded.glob("*.ipynb")):
        reason = "autograde produced no graded notebook: " + last_error(text)
    else:
        timed_out, reason = inspect_graded(graded)
        out["timed_out_cells"] = timed_out
    out.update(status="crashed" if reason else "graded",
               detail="; ".join(x for x in (reason, sandbox_note, scan_note) if x),
               seconds=f"{time.perf_counter() - started:.1f}")
    return out


def feedback_task(root, student, lesson, env, quiet=False):
    """Feedback HTML for one graded submission in this worker (run by Dask)."""
    root = Path(root)
    started = time.perf_counter()
    api = _api(root, env, quiet)
    result = api.generate_feedback(lesson, student, force=True)
    text = (result.get("log") or "") + (result.get("error") or "")
    html_files = list((root / "feedback" / student / lesson).glob("*.html"))
    reason = None
    if not result.get("success"):
        reason = last_error(text)
    elif not html_files:
        reason = "no feedback page was written: " + last_error(text)
    return {"student_id": student, "lesson": lesson, "ok": reason is None, "detail": reason or "",
            "seconds": f"{time.perf_counter() - started:.1f}"}


# ------------------------------------------------------------------------------ client side

def _fmt_time(seconds):
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class Progress:
    """Progress lines with an estimate of the time left (from the rate so far)."""

    def __init__(self, total, verb):
        self.total, self.verb, self.done, self.t0 = total, verb, 0, time.perf_counter()

    def line(self, text):
        self.done += 1
        elapsed = time.perf_counter() - self.t0
        left = elapsed / self.done * (self.total - self.done)
        eta = "done" if self.done == self.total else f"~{_fmt_time(left)} left"
        width = len(str(self.total))
        print(f"  [{self.done:>{width}}/{self.total}] {text}  ({_fmt_time(elapsed)} elapsed, {eta})", flush=True)


class Engine:
    """A Dask client on a local cluster (every core by default) or on an existing scheduler."""

    def __init__(self, scheduler=None, workers=None):
        import dask
        from distributed import Client, LocalCluster
        self.cluster = None
        self.local = scheduler is None
        if scheduler:
            try:
                self.client = Client(scheduler, timeout="30s")
            except Exception as exc:
                from .course import CourseError
                raise CourseError(f"scheduler={scheduler!r}: could not reach a Dask scheduler there "
                                  f"({exc.__class__.__name__}: {exc}); expected e.g. tcp://host:8786") from None
            n = len(self.client.scheduler_info().get("workers", {}))
            print(f"on the Dask cluster at {scheduler} ({n} worker(s))", flush=True)
        else:
            import logging
            n = max(1, workers or os.cpu_count() or 1)
            # a worker that dies while grading is retried once, then the submission is reported crashed
            with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
                self.cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                            dashboard_address=None, silence_logs=logging.ERROR)
            self.client = Client(self.cluster)
            print(f"on a local Dask cluster of {n} worker process(es)", flush=True)

    def run(self, fn, items, on_result, on_error):
        """Submit fn(*item) for each item; call on_result(item, value) or on_error(item, exc) as each ends."""
        from distributed import as_completed
        futures = {}
        for item in items:
            fut = self.client.submit(fn, *item, pure=False, key=f"{fn.__name__}-{item[1]}-{item[2]}-{time.time_ns()}")
            futures[fut] = item
        for fut in as_completed(list(futures)):
            item = futures[fut]
            try:
                value = fut.result()
            except Exception as exc:  # KilledWorker, a task error: reported per submission, never a zero
                on_error(item, exc)
            else:
                on_result(item, value)

    def close(self):
        try:
            self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()


def _worker_error(exc):
    from distributed import KilledWorker
    if isinstance(exc, KilledWorker):
        return "the grading worker died twice while grading this submission (retried once on another worker)"
    return f"the grading worker failed: {exc.__class__.__name__}: {str(exc)[:300]}"


# ------------------------------------------------------------------------------ the gradebook

def _gradebook(root):
    from nbgrader.api import Gradebook
    _patient_sqlite()
    return Gradebook(f"sqlite:///{Path(root) / 'gradebook.db'}")


def _submission(gb, lesson, student):
    from nbgrader.api import MissingEntry
    gb.update_or_create_student(student)
    try:
        return gb.find_submission(lesson, student)
    except MissingEntry:
        return gb.add_submission(lesson, student)


def mark_crashed(gb, lesson, student, reason):
    """Record a crash in the gradebook: no automatic score, flagged, the reason on every answer."""
    sub = _submission(gb, lesson, student)
    for nb in sub.notebooks:
        nb.flagged = True
        for grade in nb.grades:
            grade.auto_score = None
            grade.manual_score = None
            grade.extra_credit = None
            grade.needs_manual_grade = True
        for comment in nb.comments:
            comment.auto_comment = CRASH_MARK + reason
            comment.manual_comment = None
    gb.db.commit()


def write_crash_notebook(root, student, lesson, reason):
    """What formgrader opens for a crashed submission: the student's notebook (or, if unreadable, the
    released one) under a first cell saying it crashed and why; it replaces what autograded/ held."""
    root = Path(root)
    folder = root / "autograded" / student / lesson
    folder.mkdir(parents=True, exist_ok=True)
    for name in lesson_notebooks(root, lesson):
        try:
            nb = nbformat.read(root / "submitted" / student / lesson / name, as_version=4)
            nbformat.validate(nb)
            origin = "the student's notebook, not run"
        except Exception:
            nb = nbformat.read(root / "lessons" / lesson / name, as_version=4)
            origin = "the released notebook: the student's file could not be read"
        banner = (f"**{CRASH_MARK}{reason}**\n\nNo score has been given (not zero). Below: {origin}. "
                  "Grade it by hand, or fix the cause and run `make autograde` again.")
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(banner))
        nbformat.write(nb, folder / name)


def clear_crash(gb, lesson, student):
    """After a successful regrade: remove a previous crash's flag and comments."""
    from nbgrader.api import MissingEntry
    try:
        sub = gb.find_submission(lesson, student)
    except MissingEntry:
        return
    for nb in sub.notebooks:
        if any((c.auto_comment or "").startswith(CRASH_MARK) for c in nb.comments):
            nb.flagged = False
            for comment in nb.comments:
                if (comment.auto_comment or "").startswith(CRASH_MARK):
                    comment.auto_comment = None
    gb.db.commit()


def _mark_unmarked(root, gb, status, pairs):
    """A run interrupted before its gradebook step left crashes unmarked there: mark them now."""
    for pair in pairs:
        if status[pair]["status"] == "crashed" and not _is_marked(gb, pair[1], pair[0]):
            mark_crashed(gb, pair[1], pair[0], status[pair]["detail"])
            write_crash_notebook(root, pair[0], pair[1], status[pair]["detail"])


def _is_marked(gb, lesson, student):
    from nbgrader.api import MissingEntry
    try:
        return crash_reason(gb.find_submission(lesson, student)) is not None
    except MissingEntry:
        return False


def crash_reason(submission):
    """The crash reason recorded in the gradebook for a submission, or None."""
    for nb in submission.notebooks:
        for c in nb.comments:
            if nb.flagged and (c.auto_comment or "").startswith(CRASH_MARK):
                return c.auto_comment[len(CRASH_MARK):]
    return None


def _snapshot_manual(gb, lesson, student):
    """Hand-entered grades, comments and flags of a submission (to keep them over a forced regrade)."""
    from nbgrader.api import MissingEntry
    try:
        sub = gb.find_submission(lesson, student)
    except MissingEntry:
        return None
    snap = {"grades": {}, "comments": {}, "flagged": {}}
    for nb in sub.notebooks:
        snap["flagged"][nb.name] = nb.flagged
        for g in nb.grades:
            if g.manual_score is not None or g.extra_credit is not None or not g.needs_manual_grade:
                snap["grades"][(nb.name, g.name)] = (g.manual_score, g.extra_credit, g.needs_manual_grade)
        for c in nb.comments:
            if c.manual_comment is not None:
                snap["comments"][(nb.name, c.name)] = c.manual_comment
    return snap


def _restore_manual(gb, lesson, student, snap):
    from nbgrader.api import MissingEntry
    try:
        sub = gb.find_submission(lesson, student)
    except MissingEntry:
        return
    for nb in sub.notebooks:
        nb.flagged = snap["flagged"].get(nb.name, nb.flagged)
        for g in nb.grades:
            if (nb.name, g.name) in snap["grades"]:
                manual, extra, needs = snap["grades"][(nb.name, g.name)]
                if manual is not None:
                    g.manual_score, g.extra_credit, g.needs_manual_grade = manual, extra, needs
        for c in nb.comments:
            if (nb.name, c.name) in snap["comments"]:
                c.manual_comment = snap["comments"][(nb.name, c.name)]
    gb.db.commit()


def _digest(gb, lesson, student):
    """Everything a feedback page shows from the gradebook, hashed."""
    from nbgrader.api import MissingEntry
    try:
        sub = gb.find_submission(lesson, student)
    except MissingEntry:
        return ""
    parts = []
    for nb in sub.notebooks:
        parts += [(nb.name, g.name, g.auto_score, g.manual_score, g.extra_credit) for g in nb.grades]
        parts += [(nb.name, c.name, c.auto_comment, c.manual_comment) for c in nb.comments]
    return hashlib.sha256(json.dumps(sorted(parts, key=str), default=str).encode()).hexdigest()


try:
    from nbgrader.plugins.export import CsvExportPlugin as _CsvExportPlugin
except Exception:  # pragma: no cover - nbgrader is a dependency
    _CsvExportPlugin = object


class CourseCsvExport(_CsvExportPlugin):
    """``nbgrader export`` with a status: a crashed submission has an empty score and its reason.

    Columns: nbgrader's own, then ``status`` (graded / crashed / not submitted) and ``detail``.
    Configured in nbgrader_config.py (``c.ExportApp.plugin_class``).
    """

    def export(self, gradebook):
        from nbgrader.api import MissingEntry
        dest = self.to or "grades.csv"
        keys = ["assignment", "duedate", "timestamp", "student_id", "last_name", "first_name", "email",
                "raw_score", "late_submission_penalty", "score", "max_score", "status", "detail"]
        students = {str(s) for s in self.student}
        assignments = {str(a) for a in self.assignment}
        with open(dest, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=keys, lineterminator="\n")
            w.writeheader()
            for assignment in gradebook.assignments:
                if assignments and assignment.name not in assignments:
                    continue
                for student in gradebook.students:
                    if students and student.id not in students:
                        continue
                    row = {"assignment": assignment.name, "duedate": assignment.duedate, "student_id": student.id,
                           "last_name": student.last_name, "first_name": student.first_name,
                           "email": student.email, "max_score": assignment.max_score}
                    try:
                        sub = gradebook.find_submission(assignment.name, student.id)
                    except MissingEntry:
                        row.update(timestamp="", raw_score=0.0, late_submission_penalty=0.0, score=0.0,
                                   status="not submitted", detail="")
                    else:
                        reason = crash_reason(sub)
                        if reason is not None:
                            row.update(timestamp=sub.timestamp, raw_score="", late_submission_penalty="", score="",
                                       status="crashed", detail=reason)
                        else:
                            penalty = sub.late_submission_penalty
                            row.update(timestamp=sub.timestamp, raw_score=sub.score, late_submission_penalty=penalty,
                                       score=max(0.0, sub.score - penalty), status="graded", detail="")
                    w.writerow({k: "" if v is None else v for k, v in row.items()})


# ------------------------------------------------------------------------------ autograde and feedback

def _grading_env():
    env = {}
    for var in ("SOCIALCREDIT_DATA",):
        if os.environ.get(var):
            env[var] = os.environ[var]
    return env


def autograde(root, *, lesson=None, force=False, scheduler=None, workers=None, time_limit=DEFAULT_TIME_LIMIT,
              pairs=None):
    """Grade new and changed submissions on Dask; returns this run's per-submission rows.

    ``pairs`` (student, lesson) defaults to every submission in submitted/ (of ``lesson`` if given).
    """
    from .course import release, submissions
    root = Path(root)
    pairs = [p for p in (pairs if pairs is not None else submissions(root)) if lesson in (None, p[1])]
    if not pairs:
        print("nothing to grade: submitted/<student>/<lesson>/ is empty" + (f" for {lesson}" if lesson else ""))
        return []
    release(root, sorted({p[1] for p in pairs}), quiet_unchanged=True)
    status = read_status(root)
    todo, skipped, rows, notes = [], [], {}, {}
    for pair in pairs:
        folder = root / "submitted" / pair[0] / pair[1]
        prev = status.get(pair)
        retry = prev and prev["status"] == "crashed" and prev["detail"].startswith(RETRY_UNCHANGED)
        if not force and not retry and prev and prev.get("hash") == tree_hash(folder):
            skipped.append(pair)  # the hash was taken after prepare(): an unchanged folder needs nothing
            continue
        reason, note = prepare(root, *pair)
        digest = tree_hash(folder)
        if note:
            notes[pair] = note
            print(f"  note: {note}", flush=True)
        if reason:
            rows[pair] = {"student_id": pair[0], "lesson": pair[1], "status": "crashed", "detail": reason,
                          "seconds": "0.0", "hash": digest}
        else:
            todo.append((pair, digest, prev))
    if skipped:
        crashed_before = sum(status[p]["status"] == "crashed" for p in skipped)
        print(f"{len(skipped)} submission(s) unchanged since they were last graded: kept as they are"
              + (f" ({crashed_before} of them crashed)" if crashed_before else "")
              + " (FORCE=1 / --force regrades them)", flush=True)
    # hand grades of a submission regraded without change (--force) are kept
    snapshots = {}
    if todo and (root / "gradebook.db").is_file():
        with _gradebook(root) as gb:
            for pair, digest, prev in todo:
                if prev and prev.get("hash") == digest:
                    snap = _snapshot_manual(gb, pair[1], pair[0])
                    if snap:
                        snapshots[pair] = snap
    results = dict(rows)
    total = len(todo) + len(rows)
    if total == 0:
        if any(status[p]["status"] == "crashed" for p in skipped):
            with _gradebook(root) as gb:
                _mark_unmarked(root, gb, status, skipped)
        print("nothing new to grade")
        return []
    progress = Progress(total, "graded")

    def report(pair, res):
        res["hash"] = next((d for p, d, _ in todo if p == pair), res.get("hash", ""))
        res["graded_at"] = _now()
        if pair in notes:
            res["detail"] = "; ".join(x for x in (res["detail"], notes[pair]) if x)
        if res.get("timed_out_cells"):
            res["detail"] = "; ".join(x for x in (res["detail"], "ran past the per-cell time limit (interrupted, "
                                      "graded as an error): " + ", ".join(res["timed_out_cells"])) if x)
        results[pair] = res
        status[pair] = res
        write_status(root, status)  # after each submission: an interrupted run loses nothing graded
        mark = "ok     " if res["status"] == "graded" else "CRASHED"
        progress.line(f"{mark} {pair[0]:<16} {pair[1]:<26} {res['seconds']:>6} s  {res['detail']}")

    for pair, row in rows.items():
        row["graded_at"] = _now()
        report(pair, row)
    if todo:
        print(f"autograding {len(todo)} submission(s)", end=" ", flush=True)
        engine = Engine(scheduler, workers)
        env = _grading_env()
        try:
            items = [(str(root), p[0], p[1], time_limit, env, engine.local) for p, _, _ in todo]
            engine.run(grade_task, items,
                       on_result=lambda item, res: report((item[1], item[2]), res),
                       on_error=lambda item, exc: report((item[1], item[2]), {
                           "student_id": item[1], "lesson": item[2], "status": "crashed",
                           "detail": _worker_error(exc), "seconds": ""}))
        finally:
            engine.close()
    # one writer for the gradebook's crash marks and restored hand grades
    with _gradebook(root) as gb:
        for pair, res in results.items():
            if res["status"] == "crashed":
                mark_crashed(gb, pair[1], pair[0], res["detail"])
                write_crash_notebook(root, pair[0], pair[1], res["detail"])
            else:
                clear_crash(gb, pair[1], pair[0])
                if pair in snapshots:
                    _restore_manual(gb, pair[1], pair[0], snapshots[pair])
        _mark_unmarked(root, gb, status, skipped)
    ordered = [results[p] for p in pairs if p in results]
    crashed = [r for r in ordered if r["status"] == "crashed"]
    print(f"graded {len(ordered) - len(crashed)}, crashed {len(crashed)}"
          + (f", unchanged {len(skipped)}" if skipped else ""))
    for r in crashed:
        print(f"  crashed: {r['student_id']} / {r['lesson']}: {r['detail']}")
    for r in ordered:
        if r["status"] == "graded" and r.get("timed_out_cells"):
            print(f"  cell time-out: {r['student_id']} / {r['lesson']}: {', '.join(r['timed_out_cells'])}")
    return ordered


_CRASH_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{lesson}: not graded</title></head>
<body style="font-family: sans-serif; max-width: 45em; margin: 2em auto">
<h1>{lesson}: crashed, not graded</h1>
<p>Your submission could not be graded, so it has <strong>no score yet</strong> (not zero).</p>
<p><strong>Reason:</strong> {reason}</p>
<p>Your instructor has been told. If the reason concerns your file, send it again.</p>
</body></html>
"""


def feedback(root, *, lesson=None, force=False, scheduler=None, workers=None):
    """Feedback HTML for new and changed graded submissions on Dask; a 'crashed' page for crashed ones."""
    from .course import _check_lesson
    root = Path(root)
    if lesson:
        _check_lesson(root, lesson)
    status = {k: v for k, v in read_status(root).items() if lesson in (None, k[1])}
    if not status:
        print("nothing to give feedback on: run autograde first")
        return 0, []
    state_path = root / FEEDBACK_STATUS
    state = _read_csv(state_path)
    todo, crash_pages, unchanged = [], [], 0
    with _gradebook(root) as gb:
        for pair, row in sorted(status.items()):
            digest = hashlib.sha256(json.dumps([row.get("hash"), row["status"], row["detail"],
                                                _digest(gb, pair[1], pair[0])]).encode()).hexdigest()
            page = root / "feedback" / pair[0] / pair[1] / f"{pair[1]}.html"
            if not force and page.is_file() and state.get(pair, {}).get("digest") == digest:
                unchanged += 1
            elif row["status"] == "crashed":
                crash_pages.append((pair, digest, row["detail"]))
            else:
                todo.append((pair, digest))
    if unchanged:
        print(f"{unchanged} feedback page(s) up to date: kept (FORCE=1 / --force rewrites them)")
    made, failed = 0, []
    for (student, lesson_), digest, reason in crash_pages:
        page = root / "feedback" / student / lesson_ / f"{lesson_}.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(_CRASH_PAGE.format(lesson=html.escape(lesson_), reason=html.escape(reason)), encoding="utf-8")
        state[(student, lesson_)] = {"student_id": student, "lesson": lesson_, "digest": digest, "page": "crashed"}
        print(f"  crashed: {student} / {lesson_}: page says so ({reason})")
    if todo:
        print(f"feedback for {len(todo)} submission(s)", end=" ", flush=True)
        progress = Progress(len(todo), "feedback")
        digests = dict(todo)

        def done(item, res):
            nonlocal made
            pair = (item[1], item[2])
            if res["ok"]:
                made += 1
                state[pair] = {"student_id": pair[0], "lesson": pair[1], "digest": digests[pair], "page": "feedback"}
                _write_csv(state_path, state, ["student_id", "lesson", "digest", "page"])
            else:
                failed.append((pair[0], pair[1], res["detail"]))
            progress.line(f"{'ok    ' if res['ok'] else 'FAILED'} {pair[0]:<16} {pair[1]:<26} {res['seconds']:>6} s  "
                          f"{res['detail']}")

        def error(item, exc):
            done(item, {"ok": False, "detail": _worker_error(exc), "seconds": ""})

        engine = Engine(scheduler, workers)
        try:
            engine.run(feedback_task, [(str(root), p[0], p[1], _grading_env(), engine.local) for p, _ in todo],
                       on_result=done, on_error=error)
        finally:
            engine.close()
    _write_csv(state_path, state, ["student_id", "lesson", "digest", "page"])
    print(f"feedback written for {made} submission(s) in feedback/"
          + (f"; {len(crash_pages)} crashed page(s)" if crash_pages else ""))
    for student, lesson_, why in failed:
        print(f"  feedback failed: {student} / {lesson_}: {why}")
    return made, failed
