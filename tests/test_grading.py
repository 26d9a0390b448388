"""The grading engine (socialcredit.grading, issue #9 items 2-4 and 7-10, #13): a tiny two-lesson course
graded on Dask with every kind of broken submission; every view of a crashed submission says crashed;
incremental regrading keeps hand grades; an external scheduler with two workers, one of them killed.

The tiny lessons run in a second, so these tests time what matters (crashes, limits), not notebooks.
"""
import csv
import json
import os
import shutil
import subprocess
import sys
import time

import nbformat
import pytest

from conftest import free_port
from harness import REPO

PY = sys.executable
PER_CELL = 20  # seconds: the tiny course's per-cell limit (nbgrader's Execute.timeout)


def _meta(grade_id, *, grade=False, solution=False, locked=False, points=None):
    m = {"grade": grade, "solution": solution, "locked": locked, "grade_id": grade_id, "schema_version": 3}
    if points is not None:
        m["points"] = points
    return {"nbgrader": m}


def _source_nb(setup="import math"):
    cells = [
        nbformat.v4.new_markdown_cell("# A tiny lesson", metadata=_meta("intro", locked=True)),
        nbformat.v4.new_code_cell(setup, metadata=_meta("setup", locked=True)),
        nbformat.v4.new_code_cell("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
                                  metadata=_meta("ex1_double", solution=True)),
        nbformat.v4.new_code_cell("assert double(2) == 4, 'double(2) should be 4'\n### BEGIN HIDDEN TESTS\n"
                                  "assert double(5) == 10\n### END HIDDEN TESTS",
                                  metadata=_meta("ex1_double_tests", grade=True, locked=True, points=2)),
        nbformat.v4.new_code_cell("def half(x):\n    ### BEGIN SOLUTION\n    return x / 2\n    ### END SOLUTION",
                                  metadata=_meta("ex2_half", solution=True)),
        nbformat.v4.new_code_cell("assert half(4) == 2, 'half(4) should be 2'",
                                  metadata=_meta("ex2_half_tests", grade=True, locked=True, points=1)),
        nbformat.v4.new_markdown_cell("### BEGIN SOLUTION\nA reflection.\n### END SOLUTION",
                                      metadata=_meta("ref1", grade=True, solution=True, points=1)),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _answer(nb, grade_id, code):
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    cell.source = code


def _solved(setup="import math"):
    nb = _source_nb(setup)
    for c in nb.cells:
        c.source = "\n".join(ln for ln in c.source.split("\n") if "### " not in ln)
    return nb


def _make_course(root):
    (root / "solutions").mkdir(parents=True)
    config = (REPO / "nbgrader_config.py").read_text(encoding="utf-8")
    (root / "nbgrader_config.py").write_text(config + f"\nc.Execute.timeout = {PER_CELL}\n", encoding="utf-8")
    for lesson, setup in (("01-tiny", "import math"), ("02-broken", "import package_that_is_not_installed_xyz")):
        (root / "solutions" / lesson).mkdir()
        nbformat.write(_source_nb(setup), root / "solutions" / lesson / f"{lesson}.ipynb")


def _submit(root, student, lesson, nb, name=None):
    folder = root / "submitted" / student / lesson
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or f"{lesson}.ipynb")
    if isinstance(nb, str):
        path.write_text(nb, encoding="utf-8")
    else:
        nbformat.write(nb, path)
    return path


def _run(args, cwd, timeout=900):
    r = subprocess.run([PY, "-m", "socialcredit", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    return r, r.stdout + r.stderr


def _status(root):
    with (root / "autograde-status.csv").open() as f:
        return {(r["student_id"], r["lesson"]): r for r in csv.DictReader(f)}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """A tiny class with every kind of broken submission, autograded once through the command line."""
    root = tmp_path_factory.mktemp("grading") / "course"
    _make_course(root)
    half_wrong = _solved()
    _answer(half_wrong, "ex2_half", "def half(x):\n    return x")
    killer = _solved()
    _answer(killer, "ex1_double", "import os\nos._exit(1)")
    looping = _solved()
    _answer(looping, "ex2_half", "def half(x):\n    return x / 2\nwhile True:\n    pass")
    good = _solved()  # its last cell reports what the grading kernel inherits from the Dask worker
    good.cells.append(nbformat.v4.new_code_cell('import os\nprint("malloc trim:", os.environ.get("MALLOC_TRIM_THRESHOLD_"))'))
    _submit(root, "good", "01-tiny", good)
    _submit(root, "halfwrong", "01-tiny", half_wrong)
    _submit(root, "badjson", "01-tiny", '{"cells": [ this is not json')
    _submit(root, "kernelkill", "01-tiny", killer)
    _submit(root, "renamed", "01-tiny", _solved(), name="01-tiny-final.ipynb")
    _submit(root, "twonames", "01-tiny", _solved(), name="a.ipynb")
    _submit(root, "twonames", "01-tiny", _solved(), name="b.ipynb")
    _submit(root, "loop", "01-tiny", looping)
    _submit(root, "envfail", "02-broken", _solved("import package_that_is_not_installed_xyz"))
    # a cell of the student's before the setup makes the setup fail: the submission's doing, not the machine's
    setup_breaker = _solved()
    setup_breaker.cells.insert(1, nbformat.v4.new_code_cell("import sys\nsys.modules['math'] = None"))
    _submit(root, "setupbreak", "01-tiny", setup_breaker)
    # a test cell's nbgrader flags edited in the submission: nbgrader refuses it, and the reason says why
    demoted = _solved()
    next(c for c in demoted.cells if c.metadata["nbgrader"]["grade_id"] == "ex1_double_tests").metadata["nbgrader"]["grade"] = False
    _submit(root, "demoted", "01-tiny", demoted)
    r, out = _run(["autograde", "--workers", "2"], root)
    assert r.returncode == 0, f"autograde must finish and exit 0 despite crashes:\n{out}"
    return root, out


CRASHED = ("badjson", "kernelkill", "twonames", "envfail", "setupbreak", "demoted")


@pytest.mark.slow
def test_command_output_names_every_crash_and_timeout(graded):
    root, out = graded
    assert "graded 4, crashed 6" in out, f"expected 4 graded (good, halfwrong, renamed, loop) and 6 crashed:\n{out}"
    for student in CRASHED:
        assert f"crashed: {student} /" in out, f"{student}'s crash is not named in the output:\n{out}"
    assert "not a readable notebook" in out, out
    assert "the kernel died" in out, out
    assert "found a.ipynb, b.ipynb" in out, f"two wrongly named notebooks: the reason must name them:\n{out}"
    assert "environment failure: provided cell 02-broken.ipynb: setup (cell 2) raised ModuleNotFoundError" in out, out
    assert "cell time-out: loop / 01-tiny: 01-tiny.ipynb: ex2_half (cell 5)" in out, (
        f"the cell that ran past the per-cell limit must be named:\n{out}")
    assert "01-tiny-final.ipynb graded as 01-tiny.ipynb (copied; the original is kept)" in out, out
    assert "elapsed, ~" in out and " left)" in out, f"no progress with an estimate of time left:\n{out}"


@pytest.mark.slow
def test_grading_kernels_do_not_inherit_dask_memory_settings_and_sqlite_waits_for_locks(graded):
    """Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 for its workers; inherited by the grading kernels it made
    Lesson 5 grade 50 % slower. And the gradebook's SQLite connections wait for another worker's write."""
    root, _ = graded
    nb = nbformat.read(root / "autograded" / "good" / "01-tiny" / "01-tiny.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for o in nb.cells[-1].get("outputs", []))
    assert "malloc trim: None" in printed, f"the grading kernel saw: {printed!r}"
    from sqlalchemy import text

    from socialcredit.grading import _SQLITE_WAIT_MS, _gradebook
    with _gradebook(root) as gb:
        wait = gb.db.execute(text("PRAGMA busy_timeout")).scalar()
    assert wait == _SQLITE_WAIT_MS >= 60_000, f"the gradebook's SQLite waits {wait} ms for a lock"


@pytest.mark.slow
def test_status_file_and_renamed_notebook(graded):
    root, _ = graded
    st = _status(root)
    for student in CRASHED:
        lesson = "02-broken" if student == "envfail" else "01-tiny"
        assert st[(student, lesson)]["status"] == "crashed", st[(student, lesson)]
    assert st[("envfail", "02-broken")]["detail"].startswith("environment failure:"), st[("envfail", "02-broken")]
    breaker = st[("setupbreak", "01-tiny")]["detail"]
    assert breaker.startswith("provided cell 01-tiny.ipynb: setup") and "after the submission's own code had run" in breaker \
        and "environment failure" not in breaker, breaker
    demoted = st[("demoted", "01-tiny")]["detail"]
    assert "nbgrader refused the notebook" in demoted and "metadata" in demoted, demoted
    loop = st[("loop", "01-tiny")]
    assert loop["status"] == "graded" and "per-cell time limit" in loop["detail"] and "ex2_half" in loop["detail"], loop
    folder = root / "submitted" / "renamed" / "01-tiny"
    assert (folder / "01-tiny-final.ipynb").is_file(), "the renamed original must be kept"
    assert st[("renamed", "01-tiny")]["status"] == "graded", st[("renamed", "01-tiny")]
    assert all(len(row["hash"]) == 64 for row in st.values()), "every row must carry its content hash"


@pytest.mark.slow
def test_every_view_of_a_crash_says_crashed(graded):
    from nbgrader.api import Gradebook
    from socialcredit.grading import CRASH_MARK
    root, _ = graded
    # the gradebook: no automatic score, flagged, the reason in the comments
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        good = gb.find_submission("01-tiny", "good")
        assert good.score == 3, f"the solution should score 3 of 3 automatic points, got {good.score}"
        assert gb.find_submission("01-tiny", "halfwrong").score == 2
        for student in CRASHED:
            lesson = "02-broken" if student == "envfail" else "01-tiny"
            sub = gb.find_submission(lesson, student)
            for nb in sub.notebooks:
                assert nb.flagged, f"{student}: the gradebook does not flag the crashed notebook"
                scores = [g.auto_score for g in nb.grades]
                assert all(s is None for s in scores), f"{student}: a crash must hold no score, found {scores}"
                comments = [c.auto_comment or "" for c in nb.comments]
                assert comments and all(c.startswith(CRASH_MARK) for c in comments), f"{student}: {comments}"
    # nbgrader export (our plugin): crashed, empty score
    r = subprocess.run([PY, "-m", "nbgrader", "export", "--to", "export.csv"], cwd=root, capture_output=True,
                       text=True, env={**os.environ, "PATH": os.path.dirname(PY) + os.pathsep + os.environ["PATH"]})
    assert r.returncode == 0, r.stdout + r.stderr
    with (root / "export.csv").open() as f:
        rows = {(x["student_id"], x["assignment"]): x for x in csv.DictReader(f)}
    for student in CRASHED:
        lesson = "02-broken" if student == "envfail" else "01-tiny"
        row = rows[(student, lesson)]
        assert row["status"] == "crashed" and row["score"] == "" and row["detail"], f"nbgrader export: {row}"
    assert rows[("good", "01-tiny")]["status"] == "graded" and float(rows[("good", "01-tiny")]["score"]) == 3
    # formgrader's view (its API): flagged and needing a manual grade, never a plain zero
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader
    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    api = NbGraderAPI(CourseDirectory(config=config, root=str(root)), config=config)
    listed = {s["student"]: s for s in api.get_submissions("01-tiny")}
    seen = {s["student"]: s for s in api.get_notebook_submissions("01-tiny", "01-tiny")}
    for student in ("badjson", "kernelkill", "twonames"):
        assert listed[student]["autograded"] and listed[student]["needs_manual_grade"], f"formgrader: {listed[student]}"
        assert seen[student]["flagged"] and seen[student]["needs_manual_grade"], f"formgrader: {seen[student]}"
        opened = nbformat.read(root / "autograded" / student / "01-tiny" / "01-tiny.ipynb", as_version=4)
        assert opened.cells[0].source.startswith("**" + CRASH_MARK), f"{student}: {opened.cells[0].source[:200]}"
    assert not seen["good"]["flagged"], seen["good"]
    # grades.csv
    r, out = _run(["grades"], root)
    assert r.returncode == 0, out
    with (root / "grades.csv").open() as f:
        grades = {(x["student_id"], x["lesson"]): x for x in csv.DictReader(f)}
    for student in CRASHED:
        lesson = "02-broken" if student == "envfail" else "01-tiny"
        row = grades[(student, lesson)]
        assert row["status"] == "crashed" and row["score"] == "", f"grades.csv: {row}"
    assert "per-cell time limit" in grades[("loop", "01-tiny")]["detail"], grades[("loop", "01-tiny")]
    # the feedback page
    r, out = _run(["feedback", "--workers", "2"], root)
    assert r.returncode == 0, out
    for student in CRASHED:
        lesson = "02-broken" if student == "envfail" else "01-tiny"
        page = (root / "feedback" / student / lesson / f"{lesson}.html").read_text(encoding="utf-8")
        assert "crashed, not graded" in page and "no score yet" in page, f"{student}'s feedback page:\n{page[:500]}"
    good_page = (root / "feedback" / "good" / "01-tiny" / "01-tiny.html").read_text(encoding="utf-8")
    assert "double(5) == 10" not in good_page, "feedback leaks a hidden test"
    r, out = _run(["feedback"], root)
    assert r.returncode == 0 and "feedback page(s) up to date" in out and "feedback for" not in out, (
        f"a second feedback run with nothing changed must write nothing:\n{out}")


@pytest.mark.slow
def test_incremental_keeps_hand_grades_and_regrades_only_changes(graded):
    from nbgrader.api import Gradebook
    root, _ = graded
    # an instructor grades good's reflection by hand
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        g = gb.find_grade("ref1", "01-tiny", "01-tiny", "good")
        g.manual_score, g.needs_manual_grade = 1.0, False
        # a run interrupted before its gradebook step: the crash is in the status file, not in the gradebook
        for nb in gb.find_submission("01-tiny", "badjson").notebooks:
            nb.flagged = False
            for c in nb.comments:
                c.auto_comment = None
        gb.db.commit()
    before = _status(root)
    r, out = _run(["autograde", "--lesson", "01-tiny"], root)
    assert r.returncode == 0 and "nothing new to grade" in out and "autograding" not in out, (
        f"nothing changed: nothing may be graded again:\n{out}")
    assert "unchanged since they were last graded" in out, out
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        assert all(nb.flagged for nb in gb.find_submission("01-tiny", "badjson").notebooks), (
            "a crash missing from the gradebook must be marked again on the next run")
    # an environment failure is the grading machine's fault: it is tried again without --force
    r, out = _run(["autograde", "--lesson", "02-broken"], root)
    assert r.returncode == 0 and "autograding 1 submission(s)" in out, out
    # halfwrong fixes their answer: only that submission is graded again
    fixed = _solved()
    _submit(root, "halfwrong", "01-tiny", fixed)
    r, out = _run(["autograde", "--lesson", "01-tiny"], root)
    assert r.returncode == 0 and "autograding 1 submission(s)" in out, f"exactly one changed submission:\n{out}"
    after = _status(root)
    assert after[("good", "01-tiny")] == before[("good", "01-tiny")], "an unchanged submission was regraded"
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        assert gb.find_submission("01-tiny", "halfwrong").score == 3
    # --force regrades everyone and still keeps the hand grade of an unchanged submission
    r, out = _run(["autograde", "--force", "--lesson", "01-tiny"], root)
    assert r.returncode == 0 and "autograding" in out, out
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        g = gb.find_grade("ref1", "01-tiny", "01-tiny", "good")
        assert g.manual_score == 1.0 and not g.needs_manual_grade, (
            f"--force lost a hand grade: manual_score={g.manual_score}, needs_manual_grade={g.needs_manual_grade}")
        assert gb.find_submission("01-tiny", "good").score == 4


@pytest.mark.slow
def test_release_is_incremental_and_lessons_are_checked(tmp_path):
    root = tmp_path / "course"
    _make_course(root)
    r, out = _run(["release"], root)
    assert r.returncode == 0 and "released 01-tiny" in out and "released 02-broken" in out, out
    r, out = _run(["release"], root)
    assert r.returncode == 0 and "released" not in out.replace("not released", "") and "01-tiny" in out, (
        f"nothing changed: no lesson may be released again:\n{out}")
    src = root / "solutions" / "01-tiny" / "01-tiny.ipynb"
    nb = nbformat.read(src, as_version=4)
    nb.cells[0].source += "\nA changed introduction."
    nbformat.write(nb, src)
    r, out = _run(["release"], root)
    assert "released 01-tiny" in out and "released 02-broken" not in out, f"only the changed lesson:\n{out}"
    for args in (["autograde", "--lesson", "99-nope"], ["feedback", "--lesson", "99-nope"], ["release", "99-nope"]):
        r, out = _run(args, root)
        assert r.returncode == 1 and "lesson='99-nope' is not a lesson" in out and "01-tiny, 02-broken" in out, (
            f"{args}: an unknown lesson must fail naming it and listing the lessons:\n{out}")


def test_make_targets_pass_lesson_force_and_scheduler():
    r = subprocess.run(["make", "-n", "autograde", "feedback", "release", "LESSON=01-dossier", "FORCE=1",
                        "SCHEDULER=tcp://example:8786"], cwd=REPO, capture_output=True, text=True)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    lines = [ln for ln in out.splitlines() if "-m socialcredit" in ln]
    assert len(lines) == 3, out
    for ln in lines:
        assert "01-dossier" in ln and "--force" in ln, f"LESSON/FORCE not passed on:\n{ln}"
    for ln in lines[:2]:
        assert "--scheduler tcp://example:8786" in ln, f"SCHEDULER not passed on:\n{ln}"


def test_prepare_maps_a_lone_renamed_notebook_and_names_the_files(tmp_path):
    from socialcredit.grading import prepare
    _make_course(tmp_path)
    _submit(tmp_path, "a", "01-tiny", _solved(), name="01-tiny-final.ipynb")
    reason, note = prepare(tmp_path, "a", "01-tiny")
    assert reason is None and "01-tiny-final.ipynb graded as 01-tiny.ipynb" in note, (reason, note)
    assert (tmp_path / "submitted/a/01-tiny/01-tiny.ipynb").is_file()
    assert (tmp_path / "submitted/a/01-tiny/01-tiny-final.ipynb").is_file()
    _submit(tmp_path, "b", "01-tiny", _solved(), name="x.ipynb")
    _submit(tmp_path, "b", "01-tiny", _solved(), name="y.ipynb")
    reason, _ = prepare(tmp_path, "b", "01-tiny")
    assert reason and "x.ipynb, y.ipynb" in reason and "01-tiny.ipynb" in reason, reason
    (tmp_path / "submitted/c/01-tiny").mkdir(parents=True)
    reason, _ = prepare(tmp_path, "c", "01-tiny")
    assert reason and reason.startswith("no notebook in submitted/c/01-tiny/"), reason


@pytest.mark.slow
def test_external_scheduler_two_workers_a_killed_worker_and_a_wall_clock_limit(tmp_path):
    """`dask scheduler` + two `dask worker`s on localhost: a submission that kills its worker is retried once,
    then reported crashed; one past the per-submission wall-clock limit is 'timed out'; the rest graded."""
    root = tmp_path / "course"
    _make_course(root)
    _submit(root, "a-good", "01-tiny", _solved())
    wrong = _solved()
    _answer(wrong, "ex1_double", "def double(x):\n    return x + 2")  # right on 2, wrong on 5
    _submit(root, "b-wrong", "01-tiny", wrong)
    sleeper = _solved()
    sleeper.cells += [nbformat.v4.new_code_cell("import time\ntime.sleep(15)") for _ in range(6)]
    _submit(root, "c-sleeper", "01-tiny", sleeper)
    killer = _solved()
    _answer(killer, "ex1_double", "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)")
    _submit(root, "z-killer", "01-tiny", killer)

    dask = os.path.join(os.path.dirname(PY), "dask")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    # Without the grading sandbox, so that the killer can reach its worker: this test is about the engine's retry
    # of a worker that dies (a worker can die for other reasons too: the machine's OOM killer, a lost node). In the
    # sandbox the same code cannot reach the worker at all (tests/test_attacks.py, c4_kill_kernel_late).
    env = {**os.environ, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1", "SOCIALCREDIT_SANDBOX": "off"}
    logs = tmp_path / "logs"
    logs.mkdir()
    procs = []
    try:
        procs.append(subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                       "--dashboard-address", ":0"], env=env,
                                      stdout=(logs / "scheduler.log").open("w"), stderr=subprocess.STDOUT))
        for i in range(2):
            procs.append(subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--nworkers", "1",
                                           "--name", f"w{i}"], env=env, cwd=root,
                                          stdout=(logs / f"worker{i}.log").open("w"), stderr=subprocess.STDOUT))
        from distributed import Client
        deadline = time.monotonic() + 120
        with Client(address, timeout="60s") as client:
            while len(client.scheduler_info()["workers"]) < 2:
                assert time.monotonic() < deadline, "two workers did not join: " + "".join(
                    p.read_text()[-1500:] for p in logs.iterdir())
                time.sleep(1)
        r, out = _run(["autograde", "--scheduler", address, "--time-limit", "60"], root, timeout=900)
        assert r.returncode == 0, out
        assert "on the Dask cluster at " + address in out and "(2 worker(s))" in out, out
        st = _status(root)
        assert st[("a-good", "01-tiny")]["status"] == "graded", f"{st}\n{out}"
        assert st[("b-wrong", "01-tiny")]["status"] == "graded", f"{st}\n{out}"
        killed = st[("z-killer", "01-tiny")]
        assert killed["status"] == "crashed" and "worker died twice" in killed["detail"], f"{killed}\n{out}"
        slow = st[("c-sleeper", "01-tiny")]
        assert slow["status"] == "crashed" and slow["detail"].startswith("timed out:") and "60 s" in slow["detail"], (
            f"{slow}\n{out}")
        from nbgrader.api import Gradebook
        with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
            assert gb.find_submission("01-tiny", "a-good").score == 3
            assert gb.find_submission("01-tiny", "b-wrong").score == 1
            for student in ("c-sleeper", "z-killer"):
                sub = gb.find_submission("01-tiny", student)
                assert all(nb.flagged for nb in sub.notebooks), f"{student} is not flagged in the gradebook"
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
