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
import importlib.util
import shutil
import subprocess
import sys

import nbformat
import pytest

from conftest import REPO

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="grading runs in a bubblewrap sandbox (Linux)")

_spec = importlib.util.spec_from_file_location("attack_script", REPO / "scripts" / "attacks.py")
attacks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(attacks)

CORPUS = [attacks.read_attack(p) for p in sorted(attacks.ATTACKS.glob("c[1-5]_*.py"))]

#: (attack, "earns" or "reported") -> why the grader does not manage it yet. Class 2 and 3 attacks run in the
#: same interpreter as the tests, so only verdicts decided outside the student's process (trusted hidden tests
#: across a process boundary, not built yet) can stop them; until then the tamper scan names them.
KNOWN_GAPS = {
    ("c2_ast_transformer_swallow", "earns"): "an AST transformer empties later cells: needs trusted verdicts",
    ("c2_input_transformer_pass", "earns"): "an input transformer empties later cells: needs trusted verdicts",
    ("c2_replace_run_cell", "earns"): "the shell's run_cell replaced: needs trusted verdicts",
    ("c2_settrace_run_ast_nodes", "earns"): "a trace hook empties run_ast_nodes: needs trusted verdicts",
    ("c2_sys_modules_kernel_patch", "earns"): "the kernel's do_execute patched: needs trusted verdicts",
    ("c3_always_equal_results", "earns"): "results equal to everything pass Exercise 1.1's tests: needs trusted "
                                          "verdicts (comparisons in the grader's own process)",
    # c4_disk_1gb (filling the 256 MB scratch ends in the student's own "No space left" error) is named only
    # because its own guard reads /proc/1/comm, which the tamper scan reports: the disk use itself is not seen.
    ("c4_memory_2gb", "reported"): "2 GB is within the 3 GB limit: allowed use, indistinguishable from heavy honest "
                                   "code",
    ("c5_copy_classmate_output", "reported"): "numbers copied from a classmate's output are plain code; they earn "
                                              "nothing because the hidden tests use other inputs",
    ("c5_hardcode_all_visible", "reported"): "hard-coded answers are not detectable statically; they earn nothing "
                                             "because hidden tests use other inputs and each student's own world",
    ("c5_hardcode_visible_ex1_1", "reported"): "as c5_hardcode_all_visible",
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """{student: (automatic points or None, status row)} after one autograde of the whole corpus."""
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
        attacks.submit(root, a["name"], attacks.with_attack(release, a["sections"]))
    with (tmp / "autograde.log").open("w") as log:
        r = subprocess.run([sys.executable, "-m", "socialcredit", "autograde", "--workers", "2", "--time-limit", "120"],
                           cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=1500)
    output = (tmp / "autograde.log").read_text(errors="replace")
    assert r.returncode == 0, output[-3000:]
    with (root / "autograde-status.csv").open() as f:
        status = {row["student_id"]: row for row in csv.DictReader(f)}
    points, maximum = attacks.scores(root)
    yield {name: (points.get(name), status.get(name, {})) for name in status}, maximum
    shutil.rmtree(tmp, ignore_errors=True)


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
