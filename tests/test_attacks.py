"""The attack corpus (tests/attacks/, issue #12) graded by the course's own autograde, as a class would be.

One course folder, Lesson 1: the untouched release (``blank``), the instructor's answers (``diligent``) and one
submission per attack file (the release with the attack put into its first answer cell). Everything is graded
once by ``python -m socialcredit autograde`` (sandbox, per-student worlds, the tamper scan), with a shorter
per-cell time-out than the course's so that the time-out attacks take seconds, not minutes.

The property (issue #12): no attack earns more than the blank release, and every attack is reported by name in
autograde-status.csv's detail (the sandbox's events or the tamper scan's findings). What the grader cannot do yet
is written down below as ``KNOWN_GAPS``: those cases are strict xfails, so the day one of them starts to hold the
test fails and asks for the entry to be removed.
"""
from __future__ import annotations

import csv
import os
import importlib.util
import shutil
import subprocess
import sys

import nbformat
import pytest

from conftest import REPO, once_per_run

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="grading runs in a bubblewrap sandbox (Linux)")

_spec = importlib.util.spec_from_file_location("attack_script", REPO / "scripts" / "attacks.py")
attacks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(attacks)

CORPUS = [attacks.read_attack(p) for p in sorted(attacks.ATTACKS.glob("c[1-5]_*.py"))]

#: (attack, "earns" or "reported") -> why the grader does not manage it yet. Class 2 and 3 attacks (rewriting
#: later cells, redefining what tests use) earn nothing since graded test cells run in a trusted kernel of their own
#: (socialcredit.verdicts); the tamper scan names them.
KNOWN_GAPS = {
    # c4_memory_2gb stays within the 3 GB limit; as root its peak is read from the memory cgroup and named
    # ("used ... MB of memory at its peak"); without cgroups it cannot be (below).
    # Class 5 (copying) earns nothing (hidden tests on other inputs, each student's own world) and is named by the
    # tamper scan's check for hard-coded answers (test values or world ids written out in an answer cell).
}
if os.geteuid() != 0:
    KNOWN_GAPS[("c4_memory_2gb", "reported")] = ("2 GB is within the 3 GB limit, and without memory cgroups (grading "
                                                 "as a user) its peak is not measured")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """({student: [automatic points or None, status row]}, maximum) after one autograde of the whole corpus (once
    per test run: make test's workers share it)."""
    rows, maximum = once_per_run(tmp_path_factory, "attacks", lambda: _grade_corpus(tmp_path_factory))
    return rows, maximum


def _grade_corpus(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("attacks")
    root = tmp / "course"
    env = attacks.grading_env(tmp / "cache")
    attacks.make_course(root)
    with (root / "nbgrader_config.py").open("a") as f:
        f.write("\n# test_attacks: short per-cell limits, so the time-out attacks take seconds\n"
                "c.Execute.timeout = 15\nc.SandboxedExecute.interrupt_grace = 3.0\n")
    r = subprocess.run([sys.executable, "-m", "socialcredit", "release", attacks.LESSON], cwd=root, env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    release = nbformat.read(root / "lessons" / attacks.LESSON / f"{attacks.LESSON}.ipynb", as_version=4)
    solution = nbformat.read(root / "solutions" / attacks.LESSON / f"{attacks.LESSON}.ipynb", as_version=4)
    attacks.submit(root, "blank", nbformat.from_dict(release))
    attacks.submit(root, "diligent", attacks.with_solutions(release, solution))
    for a in CORPUS:
        attacks.submit(root, a["name"], attacks.with_attack(release, a["sections"]), a["files"])
    with (tmp / "autograde.log").open("w") as log:
        r = subprocess.run([sys.executable, "-m", "socialcredit", "autograde", "--workers", "2", "--time-limit", "120"],
                           cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=1500)
    output = (tmp / "autograde.log").read_text(errors="replace")
    assert r.returncode == 0, output[-3000:]
    with (root / "autograde-status.csv").open() as f:
        status = {row["student_id"]: row for row in csv.DictReader(f)}
    points, maximum = attacks.scores(root)
    shutil.rmtree(tmp, ignore_errors=True)
    return {name: [points.get(name), status.get(name, {})] for name in status}, maximum


def test_references_blank_earns_nothing_and_the_solution_everything(graded):
    rows, maximum = graded
    assert rows["blank"][0] == 0, rows["blank"]
    assert rows["diligent"][0] == maximum, f"the instructor's answers earned {rows['diligent'][0]} of {maximum}"
    assert rows["diligent"][1]["detail"] == "", f"an honest submission was flagged: {rows['diligent'][1]['detail']}"
    assert rows["blank"][1]["detail"] == "", f"the untouched release was flagged: {rows['blank'][1]['detail']}"


def _gap(request, name, what):
    why = KNOWN_GAPS.get((name, what))
    if why:
        request.applymarker(pytest.mark.xfail(strict=True, reason=f"known gap (#12): {why}"))


@pytest.mark.parametrize("name", [a["name"] for a in CORPUS])
def test_no_attack_earns_more_than_the_blank_release(graded, name, request):
    _gap(request, name, "earns")
    rows, _ = graded
    assert name in rows, f"{name} has no row in autograde-status.csv"
    got, row = rows[name]
    blank = rows["blank"][0]
    assert got is None or got <= blank, (
        f"{name} earned {got} automatic points, the blank release {blank} (status {row['status']}, "
        f"detail {row['detail']!r})")


@pytest.mark.parametrize("name", [a["name"] for a in CORPUS])
def test_every_attack_is_reported_by_name(graded, name, request):
    _gap(request, name, "reported")
    rows, _ = graded
    row = rows[name][1]
    assert row.get("detail", "").strip(), (
        f"{name} was graded {row.get('status')!r} with an empty detail: the instructor is not told about it")


def test_a_rewritten_student_side_is_named_by_the_trusted_verdicts(graded):
    """An input transformer that empties later cells also empties the grader's requests in the student's kernel:
    the trusted kernel gets no answers, and detail says so (besides the tamper scan's static finding)."""
    rows, _ = graded
    detail = rows["c2_input_transformer_pass"][1].get("detail", "")
    assert "trusted verdicts:" in detail and "got no usable answer" in detail, (
        f"c2_input_transformer_pass: detail does not name the test cells that got no answer: {detail!r}")


def test_an_answer_that_breaks_a_parser_fails_its_test_cell_not_the_grader(graded):
    """c4_relay_deep_json: JSON nested too deep to parse crashed the grader's relay (the whole submission ended
    with nbgrader's generic error, its cause unnamed). Now the submission is graded and the cell's wire failure
    is named."""
    rows, _ = graded
    row = rows["c4_relay_deep_json"][1]
    assert row.get("status") == "graded" and "not JSON" in row.get("detail", ""), (
        f"c4_relay_deep_json: expected a graded submission whose detail names the answer that is not JSON, got "
        f"{row.get('status')!r} with detail {row.get('detail')!r}")


def test_a_packed_answer_is_never_inflated_past_the_limit(graded):
    """c4_relay_zip_bomb: the wire compresses large messages; an answer that inflates to 256 MB is refused once
    64 MB have been inflated (the grader's max_message_mb), and the cell's wire failure is named."""
    rows, _ = graded
    row = rows["c4_relay_zip_bomb"][1]
    assert row.get("status") == "graded" and "once unpacked" in row.get("detail", ""), (
        f"c4_relay_zip_bomb: expected a graded submission whose detail names the answer too large once unpacked, "
        f"got {row.get('status')!r} with detail {row.get('detail')!r}")
