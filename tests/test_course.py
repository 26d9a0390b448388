"""The instructor commands, end to end in a temporary course folder: release, collect an LMS zip,
autograde a batch with broken submissions, feedback, grades."""
import csv
import json
import shutil
import subprocess
import sys
import zipfile

import nbformat
import pytest

from harness import REPO, Course, lesson_names

PY = sys.executable


def _course(tmp_path, lesson):
    course = Course.make(tmp_path, lesson)
    return course


def _run(args, cwd):
    return subprocess.run([PY, "-m", "socialcredit", *args], cwd=cwd, capture_output=True, text=True)


@pytest.fixture(scope="module")
def lesson():
    names = lesson_names()
    assert names, "no lesson under solutions/"
    return names[0]


@pytest.mark.slow
def test_batch_with_broken_submissions(tmp_path, lesson):
    course = _course(tmp_path, lesson)
    root = course.root
    # one good submission (the solution), handed in through an LMS zip download
    archive = root / "downloaded" / lesson / "archive"
    archive.mkdir(parents=True)
    r = _run(["release"], root)
    assert r.returncode == 0, r.stdout + r.stderr
    good = nbformat.writes(course.solved())
    with zipfile.ZipFile(archive / "submissions.zip", "w") as z:
        z.writestr(f"alice_12345_67890_{lesson}.ipynb", good)
        z.writestr(f"carol_555_{lesson}-1.ipynb", good)  # an LMS resubmission suffix
    r = _run(["collect", lesson], root)
    assert r.returncode == 0, r.stdout + r.stderr
    for student in ("alice", "carol"):
        assert (root / "submitted" / student / lesson / f"{lesson}.ipynb").is_file(), f"{student} not collected:\n{r.stdout}{r.stderr}"
    # one notebook that is not JSON, one whose code kills the kernel, one untouched release
    bad = root / "submitted" / "bob" / lesson
    bad.mkdir(parents=True)
    (bad / f"{lesson}.ipynb").write_text('{"cells": [ this is not json', encoding="utf-8")
    killer = course.solved()
    first_answer = next(c for c in killer.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution"))
    first_answer.source = "import os\nos._exit(1)\n" + first_answer.source
    course.submit("dave", killer)
    course.submit("erin", nbformat.read(root / "lessons" / lesson / f"{lesson}.ipynb", as_version=4))

    r = _run(["autograde", "--workers", "2"], root)
    out = r.stdout + r.stderr
    assert r.returncode == 0, f"autograde should finish and exit 0 despite crashes:\n{out}"
    assert "crashed: bob" in out and "crashed: dave" in out, f"the two crashed submissions are not named:\n{out}"
    assert "graded 3, crashed 2" in out, out
    assert "not a readable notebook" in out, out

    r = _run(["feedback"], root)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (root / "feedback" / "alice" / lesson / f"{lesson}.html").is_file()
    bob_page = (root / "feedback" / "bob" / lesson / f"{lesson}.html").read_text(encoding="utf-8")
    assert "crashed, not graded" in bob_page and "not a readable notebook" in bob_page, (
        f"a crashed submission's feedback page must say it was not graded and why:\n{bob_page[:600]}")

    r = _run(["grades"], root)
    assert r.returncode == 0, r.stdout + r.stderr
    with (root / "grades.csv").open() as f:
        rows = {row["student_id"]: row for row in csv.DictReader(f) if row["lesson"] == lesson}
    assert set(rows) == {"alice", "bob", "carol", "dave", "erin"}, rows
    for crashed in ("bob", "dave"):
        assert rows[crashed]["status"] == "crashed" and rows[crashed]["score"] == "", (
            f"{crashed}: a crash must not look like a zero: {rows[crashed]}")
    assert rows["alice"]["status"] == "graded" and float(rows["alice"]["score"]) > 0
    assert rows["erin"]["status"] == "graded" and float(rows["erin"]["score"]) == 0


def test_commands_reject_bad_input(tmp_path, lesson):
    r = _run(["autograde"], tmp_path)
    assert r.returncode == 1 and "no nbgrader_config.py" in r.stderr, r.stderr
    course = _course(tmp_path, lesson)
    r = _run(["collect", "99-nope"], course.root)
    assert r.returncode == 1 and "lesson='99-nope' is not a lesson" in r.stderr, r.stderr
    r = _run(["collect", lesson], course.root)
    assert r.returncode == 1 and "archive is missing or empty" in r.stderr, r.stderr
    r = _run(["grades"], course.root)
    assert r.returncode == 1 and "gradebook.db is missing" in r.stderr, r.stderr


def test_make_release_leaves_lessons_unchanged(tmp_path):
    """After `make release`, `git status --porcelain lessons/` prints nothing (run on a clone)."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    # the clone has committed files only; bring in the working tree's solutions and lessons as they are now
    for folder in ("solutions", "lessons"):
        shutil.rmtree(clone / folder, ignore_errors=True)
        shutil.copytree(REPO / folder, clone / folder)
    subprocess.run(["git", "add", "-A", "solutions", "lessons"], cwd=clone, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "snapshot", "--allow-empty"],
                   cwd=clone, check=True)
    env_bin = str(REPO / ".venv" / "bin")
    r = subprocess.run([f"{env_bin}/python", "-m", "socialcredit", "release"], cwd=clone, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    status = subprocess.run(["git", "status", "--porcelain", "lessons/"], cwd=clone, capture_output=True, text=True).stdout
    assert status == "", f"release changed lessons/:\n{status}"


def test_student_copy_has_lessons_and_no_answers(tmp_path):
    dest = tmp_path / "students"
    r = _run(["student-copy", str(dest)], REPO)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (dest / "lessons").is_dir() and (dest / "datasets" / "citizens.csv").is_file() and (dest / "src").is_dir()
    for kept_back in ("solutions", "tests", "instructors", "gradebook.db", "scripts"):
        assert not (dest / kept_back).exists(), f"{kept_back} must not reach students"
    # the students' own nbgrader settings (Validate's time limits), not the instructor's
    config = (dest / "nbgrader_config.py").read_text()
    assert config == (REPO / "deploy" / "student" / "nbgrader_config.py").read_text(), "not the student nbgrader config"
    assert "solutions" not in config and "c.Execute.timeout = 60" in config, config
    assert (dest / "README.md").read_text() == (REPO / "deploy" / "student" / "README.md").read_text()
    r = _run(["student-copy", str(dest)], REPO)
    assert r.returncode == 1 and "is not empty" in r.stderr, "a second copy must not overwrite the first"
