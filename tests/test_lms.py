"""Collecting LMS downloads, the roster, grades.csv and the LMS export (issue #9, items 1, 4, 5, 6, 14).

Every download here is built in the test, in the layouts socialcredit.lms describes (and cites):
Canvas's loose files ``<lastfirst>[_LATE]_<user id>_<submission id>_<name>`` and Moodle's
``<Full Name>_<participant id>_assignsubmission_file_/`` folders with its grading worksheet.
No kernel runs: the gradebook is filled through nbgrader's API.
"""
import csv
import io
import os
import sys
import zipfile
from datetime import datetime

import nbformat
import pytest

from conftest import REPO

pytestmark = pytest.mark.filterwarnings("ignore:Object of type:sqlalchemy.exc.SAWarning")

L = "01-dossier"
OTHER = "03-who-pays"


def notebook(text):
    """A small valid notebook whose only cell says ``text`` (so versions can be told apart)."""
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(f"# {text}"))
    return nbformat.writes(nb).encode()


def version_of(path):
    return nbformat.read(path, as_version=4).cells[0].source


@pytest.fixture
def root(tmp_path):
    """A course folder with every lesson's name and nothing else (collect needs no notebook contents)."""
    course = tmp_path / "course"
    for lesson in sorted(p.name for p in (REPO / "solutions").iterdir() if p.is_dir()):
        (course / "solutions" / lesson).mkdir(parents=True)
    (course / "nbgrader_config.py").write_text((REPO / "nbgrader_config.py").read_text())
    (course / "downloaded" / L / "archive").mkdir(parents=True)
    return course


def make_zip(path, members):
    """members: {name: bytes} or {name: (bytes, (Y, M, D, h, m, s))}."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as z:
        for name, value in members.items():
            data, when = value if isinstance(value, tuple) else (value, (2026, 9, 14, 9, 0, 0))
            z.writestr(zipfile.ZipInfo(name, date_time=when), data)
    return path


def collect(root, capsys, lesson=L):
    from socialcredit import course
    course.collect(root, lesson)
    return capsys.readouterr().out


def run_cli(args, root, capsys):
    """``python -m socialcredit ARGS`` in the course folder, in this process (an interpreter start costs seconds)."""
    from socialcredit.__main__ import main
    code = main([*args, "--course", str(root)])
    out = capsys.readouterr()
    return code, out.out + out.err


def lines_naming(out, text):
    return [ln for ln in out.splitlines() if text in ln]


def submitted(root, student, lesson=L):
    return root / "submitted" / student / lesson / f"{lesson}.ipynb"


# ---- item 1: re-collect never overwrites newer work, says so, and keeps what it replaces --------------

def test_recollect_keeps_a_hand_placed_fix(root, capsys):
    archive = root / "downloaded" / L / "archive"
    make_zip(archive / "submissions.zip", {f"alice_11_21_{L}.ipynb": notebook("broken copy from the LMS")})
    collect(root, capsys)
    target = submitted(root, "alice")
    assert version_of(target) == "# broken copy from the LMS"
    # the student e-mails a fixed notebook; the guide says to put it in submitted/ by hand
    target.write_bytes(notebook("fixed copy placed by the instructor"))
    out = collect(root, capsys)
    assert version_of(target) == "# fixed copy placed by the instructor", (
        f"a second collect overwrote the hand-placed fix with the download's older copy:\n{out}")
    assert lines_naming(out, "kept submitted/alice/"), f"collect must say it kept the hand-placed copy:\n{out}"


def test_a_newer_download_replaces_and_keeps_the_old_copy(root, capsys):
    archive = root / "downloaded" / L / "archive"
    target = submitted(root, "alice")
    target.parent.mkdir(parents=True)
    target.write_bytes(notebook("first version, placed in January"))
    january = datetime(2026, 1, 10).timestamp()
    os.utime(target, (january, january))
    make_zip(archive / "submissions.zip",
             {f"alice_11_21_{L}.ipynb": (notebook("resubmitted in September"), (2026, 9, 14, 9, 0, 0))})
    out = collect(root, capsys)
    assert version_of(target) == "# resubmitted in September", out
    kept = list((root / "submitted" / ".replaced").glob(f"*/alice/{L}/{L}.ipynb"))
    assert len(kept) == 1 and version_of(kept[0]) == "# first version, placed in January", (
        f"the replaced notebook must be kept under submitted/.replaced/<time>/alice/{L}/; found {kept}\n{out}")
    assert lines_naming(out, "replaced submitted/alice/"), f"collect must say what it replaced:\n{out}"
    # the same download again changes nothing and says nothing was replaced
    out = collect(root, capsys)
    assert "1 unchanged" in out and len(list((root / "submitted" / ".replaced").glob("*"))) == 1, out


def test_an_older_download_never_replaces_newer_work(root, capsys):
    archive = root / "downloaded" / L / "archive"
    make_zip(archive / "a.zip", {f"alice_11_21_{L}.ipynb": (notebook("September"), (2026, 9, 14, 9, 0, 0))})
    collect(root, capsys)
    (archive / "a.zip").unlink()
    make_zip(archive / "b.zip", {f"alice_11_20_{L}.ipynb": (notebook("August"), (2026, 8, 1, 9, 0, 0))})
    out = collect(root, capsys)
    assert version_of(submitted(root, "alice")) == "# September", out
    assert lines_naming(out, "kept submitted/alice/"), out


# ---- item 4: a renamed notebook is mapped to the lesson's notebook, and the output says so ----------

def test_renamed_notebook_is_mapped_to_the_lesson(root, capsys):
    make_zip(root / "downloaded" / L / "archive" / "submissions.zip",
             {f"dan_31_41_{L}-final.ipynb": notebook("dan's work"), f"alice_11_21_{L}.ipynb": notebook("alice")})
    out = collect(root, capsys)
    folder = submitted(root, "dan").parent
    assert sorted(p.name for p in folder.glob("*.ipynb")) == [f"{L}.ipynb"], (
        f"the renamed notebook should become {L}.ipynb (nbgrader skips any other name): {list(folder.iterdir())}\n{out}")
    assert version_of(submitted(root, "dan")) == "# dan's work"
    said = lines_naming(out, f"{L}-final.ipynb")
    assert len(said) == 1 and f"collected as {L}.ipynb" in said[0], f"expected one line naming the rename:\n{out}"


def test_ambiguous_unnamed_notebooks_are_reported_not_guessed(root, capsys):
    make_zip(root / "downloaded" / L / "archive" / "s.zip",
             {"dan_31_41_Untitled.ipynb": notebook("a"), "dan_31_41_scratch.ipynb": notebook("b")})
    out = collect(root, capsys)
    assert not submitted(root, "dan").exists(), out
    said = lines_naming(out, "dan's 2 notebooks")
    assert len(said) == 1 and "Untitled.ipynb" in said[0] and "scratch.ipynb" in said[0], out


# ---- item 5: junk in LMS downloads: one line per file, the rest of the class still collected ---------

def _junk_cases():
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr(f"erin_51_61_{L}.ipynb", notebook("erin, inside a nested zip"))
    return {
        "macosx": ({f"__MACOSX/._bob_12_22_{L}.ipynb": b"\x00\x05\x16\x07AppleDouble"}, "__MACOSX/._bob_12_22_"),
        "other-lesson": ({f"bob_12_22_{OTHER}.ipynb": notebook("bob's lesson 3")}, f"bob_12_22_{OTHER}.ipynb"),
        "nested-zip": ({"erin_51_61_work.zip": inner.getvalue()}, "erin_51_61_work.zip"),
        "resubmission": ({f"carol_555_{L}.ipynb": (notebook("carol first"), (2026, 9, 13, 8, 0, 0)),
                          f"carol_555_{L}-1.ipynb": (notebook("carol second"), (2026, 9, 14, 8, 0, 0))}, "carol"),
    }


@pytest.mark.parametrize("case", ["macosx", "other-lesson", "nested-zip", "resubmission", "html-as-zip"])
def test_junk_in_a_download_is_named_and_the_class_is_still_collected(root, capsys, case):
    archive = root / "downloaded" / L / "archive"
    good = {f"alice_11_21_{L}.ipynb": notebook("alice"), f"smithbob_LATE_12_23_{L}.ipynb": notebook("bob")}
    if case == "html-as-zip":
        (archive / "page.zip").write_text("<!DOCTYPE html><html><body>Canvas: log in</body></html>")
        make_zip(archive / "submissions.zip", good)
        name = "page.zip"
    else:
        members, name = _junk_cases()[case]
        make_zip(archive / "submissions.zip", {**good, **members})
    code, out = run_cli(["collect", L], root, capsys)
    assert code == 0, f"collect must finish despite {case}:\n{out}"
    assert "Traceback" not in out, out
    for student in ("alice", "smithbob"):
        assert submitted(root, student).is_file(), f"{student} not collected because of {case}:\n{out}"
    said = lines_naming(out, name)
    assert len(said) == 1, f"expected exactly one line naming {name!r} for {case}, got {said}:\n{out}"
    students = sorted(p.name for p in (root / "submitted").iterdir() if not p.name.startswith(".replaced"))
    if case == "macosx":
        assert students == ["alice", "smithbob"], f"AppleDouble metadata became a student: {students}"
    if case == "other-lesson":
        assert not (root / "submitted" / "bob").exists(), "a Lesson 3 notebook was collected into Lesson 1"
        assert OTHER in said[0] and f"LESSON={OTHER}" in said[0], said
    if case == "nested-zip":
        assert not (root / "submitted" / "erin").exists(), f"a nested zip reported as skipped was collected:\n{out}"
    if case == "resubmission":
        assert version_of(submitted(root, "carol")) == "# carol second", out
        assert f"kept the latest, submissions.zip:carol_555_{L}-1.ipynb" in said[0], said
    if case == "html-as-zip":
        assert "HTML page" in said[0], said


# ---- item 6: Canvas's LATE marker and Moodle's folders keep submission time and lateness ------------

_TEMPLATE = {}


def fill_gradebook(root, scores, lesson=L, max_score=10):
    """A gradebook holding one lesson with one autograded cell, and the given students' scores."""
    from nbgrader.api import Gradebook
    db = root / "gradebook.db"
    if lesson not in _TEMPLATE:  # a new gradebook runs alembic (seconds): make it once, copy it after
        # the `alembic` executable sits beside this interpreter
        os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
        template = root.parent / f"template-{lesson}.db"
        with Gradebook(f"sqlite:///{template}") as gb:
            gb.add_assignment(lesson)
            gb.add_notebook(lesson, lesson)
            gb.add_grade_cell("ex1", lesson, lesson, max_score=max_score, cell_type="code")
        _TEMPLATE[lesson] = template.read_bytes()
    db.write_bytes(_TEMPLATE[lesson])
    with Gradebook(f"sqlite:///{db}") as gb:
        for student, score in scores.items():
            gb.update_or_create_student(student)
            gb.add_submission(lesson, student)
            grade = gb.find_grade("ex1", lesson, lesson, student)
            grade.auto_score = score
            gb.db.commit()


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_canvas_late_marker_reaches_grades_csv(root, capsys):
    from socialcredit import course
    make_zip(root / "downloaded" / L / "archive" / "submissions.zip", {
        f"smithbob_LATE_12_23_{L}.ipynb": (notebook("bob"), (2026, 9, 15, 23, 30, 0)),
        f"doejane_13_24_{L}.ipynb": (notebook("jane"), (2026, 9, 14, 10, 0, 0)),
    })
    out = collect(root, capsys)
    assert lines_naming(out, "LATE"), f"collect should say which submission is late:\n{out}"
    stamp = (submitted(root, "smithbob").parent / "timestamp.txt").read_text().strip()
    from nbgrader.utils import parse_utc
    assert parse_utc(stamp) == datetime(2026, 9, 15, 23, 30), f"nbgrader cannot read timestamp.txt {stamp!r}"
    fill_gradebook(root, {"smithbob": 7, "doejane": 9})
    course.grades(root)
    rows = {r["student_id"]: r for r in read_csv(root / "grades.csv")}
    assert rows["smithbob"]["late"] == "yes" and rows["doejane"]["late"] == "no", rows
    assert rows["smithbob"]["submitted_at"] == "2026-09-15 23:30:00 UTC", rows["smithbob"]


def test_moodle_folders_are_collected_with_the_worksheets_late_flag(root, capsys):
    from socialcredit import course
    archive = root / "downloaded" / L / "archive"
    make_zip(archive / "moodle-download.zip", {
        f"Bob Smith_9001_assignsubmission_file_/{L}.ipynb": notebook("bob via moodle"),
        f"Jane Doe_9002_assignsubmission_file_/{L}.ipynb": notebook("jane via moodle"),
    })
    (archive / "grading-worksheet.csv").write_text(
        "Identifier,Full name,Email address,Status,Grade,Maximum Grade,Grade can be changed,"
        "Last modified (submission),Last modified (grade),Feedback comments\n"
        "Participant 9001,Bob Smith,bob@example.edu,Submitted for grading - 2 hours 5 mins late,,10.00,Yes,"
        '"Tuesday, 15 September 2026, 11:05 AM",-,\n'
        "Participant 9002,Jane Doe,jane@example.edu,Submitted for grading,,10.00,Yes,"
        '"Monday, 14 September 2026, 8:00 AM",-,\n')
    out = collect(root, capsys)
    for student, text in (("bobsmith", "# bob via moodle"), ("janedoe", "# jane via moodle")):
        assert submitted(root, student).is_file() and version_of(submitted(root, student)) == text, (
            f"Moodle's per-student folder for {student} was not collected:\n{out}")
    fill_gradebook(root, {"bobsmith": 4, "janedoe": 10})
    course.grades(root)
    rows = {r["student_id"]: r for r in read_csv(root / "grades.csv")}
    assert rows["bobsmith"]["late"] == "yes" and rows["janedoe"]["late"] == "no", rows
    assert rows["bobsmith"]["submitted_at"] == "2026-09-15 11:05:00 UTC", rows["bobsmith"]


# ---- item 14: roster, every rostered student graded, LMS export layouts ------------------------------

ROSTER = (
    "student_id,name,email,lms_id,sis_user_id,sis_login_id,section\n"
    "s001,\"Smith, Bob\",bob@example.edu,12,S001,bsmith,Section A\n"
    "s002,Jane Doe,jane@example.edu,13,S002,jdoe,Section A\n"
    "s003,Kim Lee,kim@example.edu,14,S003,klee,Section B\n"
)


@pytest.fixture
def graded(root, capsys):
    (root / "downloaded" / "roster.csv").write_text(ROSTER)
    make_zip(root / "downloaded" / L / "archive" / "submissions.zip", {
        f"smithbob_LATE_12_23_{L}.ipynb": notebook("bob"),
        f"doejane_13_24_{L}.ipynb": notebook("jane"),
        f"zed_99_98_{L}.ipynb": notebook("someone not on the roster"),
    })
    out = collect(root, capsys)
    assert submitted(root, "s001").is_file() and submitted(root, "s002").is_file(), (
        f"rostered students should be collected under their roster student_id:\n{out}")
    assert lines_naming(out, "not on the roster") and "zed" in lines_naming(out, "not on the roster")[0], out
    fill_gradebook(root, {"s001": 7.5, "s002": 10, "zed": 3})
    return root


@pytest.mark.parametrize("missing, expected", [("empty", ""), ("zero", "0")])
def test_grades_list_every_rostered_student(graded, capsys, missing, expected):
    from socialcredit import course
    course.grades(graded, missing=missing)
    out = capsys.readouterr().out
    rows = {r["student_id"]: r for r in read_csv(graded / "grades.csv") if r["lesson"] == L}
    assert set(rows) == {"s001", "s002", "s003", "zed"}, f"every rostered student and every submitter: {set(rows)}"
    assert rows["s003"]["status"] == "not submitted" and rows["s003"]["score"] == expected, rows["s003"]
    assert rows["s001"]["name"] == "Smith, Bob" and rows["s001"]["email"] == "bob@example.edu"
    assert rows["zed"]["on_roster"] == "no" and "not on the roster: zed" in out, out


def test_grades_keep_the_previous_file(graded, capsys):
    from socialcredit import course
    course.grades(graded)
    (graded / "grades.csv").write_text("an instructor's edited copy\n")
    course.grades(graded)
    out = capsys.readouterr().out
    backups = list(graded.glob("grades.csv.*.bak"))
    assert len(backups) == 1 and backups[0].read_text() == "an instructor's edited copy\n", out
    assert backups[0].name in out, out


def test_export_canvas_layout(graded, capsys):
    code, out = run_cli(["export", "canvas", "--missing", "zero"], graded, capsys)
    assert code == 0, out
    with open(graded / "grades-canvas.csv", newline="") as f:
        table = list(csv.reader(f))
    # Canvas's gradebook import: identity columns, then one points column per assignment; row 2 Points Possible
    assert table[0][:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"], table[0]
    assert table[0][5:] == [L], table[0]
    assert table[1][0] == "Points Possible" and table[1][5] == "10", table[1]
    body = {row[1]: row for row in table[2:]}
    assert set(body) == {"12", "13", "14"}, f"one row per rostered student, keyed by Canvas ID: {table}"
    assert body["12"] == ["Smith, Bob", "12", "S001", "bsmith", "Section A", "7.5"], body["12"]
    assert body["14"][5] == "0", "missing=zero: a student who handed nothing in gets 0"
    assert "zed" in out and "not exported" in out, out


def test_export_moodle_layout(graded, capsys):
    code, out = run_cli(["export", "moodle"], graded, capsys)
    assert code == 0, out
    rows = read_csv(graded / "grades-moodle.csv")
    assert list(rows[0]) == ["First name", "Last name", "ID number", "Email address", L], list(rows[0])
    by_mail = {r["Email address"]: r for r in rows}
    assert set(by_mail) == {"bob@example.edu", "jane@example.edu", "kim@example.edu"}, by_mail
    assert by_mail["bob@example.edu"]["First name"] == "Bob" and by_mail["bob@example.edu"]["Last name"] == "Smith"
    assert by_mail["jane@example.edu"][L] == "10" and by_mail["kim@example.edu"][L] == "", (
        "missing=empty (the default) leaves a student who handed nothing in empty")


def test_export_needs_a_roster_and_a_known_lms(root, capsys):
    fill_gradebook(root, {"alice": 1})
    code, out = run_cli(["export", "canvas"], root, capsys)
    assert code == 1 and "roster.csv is missing" in out and "student_id, name, email" in out, out
    (root / "downloaded" / "roster.csv").write_text("id,full name\n1,Bob\n")
    code, out = run_cli(["export", "canvas"], root, capsys)
    assert code == 1 and "expected at least" in out and "missing ['student_id', 'name', 'email']" in out, out
    (root / "downloaded" / "roster.csv").write_text(ROSTER)
    code, out = run_cli(["export", "blackboard"], root, capsys)
    assert code == 1 and "LMS='blackboard' is not supported" in out, out
