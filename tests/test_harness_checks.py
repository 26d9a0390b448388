"""The harness's own leak detection finds planted leaks (a check that cannot fail is a defect)."""
import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from harness import hidden_test_lines, public_lines, solution_lines, visible_text


def _source_nb():
    meta = {"nbgrader": {"grade_id": "ex1_tests", "grade": True, "solution": False, "points": 1}}
    nb = new_notebook()
    nb.cells = [
        new_markdown_cell("Use `ax.axvline(0.5, linestyle=\"--\")` to mark chance."),
        new_code_cell('def f(x):\n    ### BEGIN SOLUTION\n    return x.groupby("g")["y"].mean()\n    ### END SOLUTION',
                      metadata={"nbgrader": {"grade_id": "ex1", "solution": True, "grade": False}}),
        new_code_cell('assert f(toy) is not None\n### BEGIN HIDDEN TESTS\nsecret = citizens["hukou"].eq("migrant").mean()\n'
                      'ax.axvline(0.5, linestyle="--")\n### END HIDDEN TESTS', metadata=meta),
    ]
    return nb


def _secrets(nb):
    public = "\n".join(public_lines(nb))
    return [ln for ln in solution_lines(nb) + hidden_test_lines(nb) if ln not in public]


def test_secret_lines_exclude_code_quoted_in_prompts():
    secrets = _secrets(_source_nb())
    assert 'secret = citizens["hukou"].eq("migrant").mean()' in secrets
    assert 'return x.groupby("g")["y"].mean()' in secrets
    assert 'ax.axvline(0.5, linestyle="--")' not in secrets


def test_a_planted_leak_with_quotes_is_found_in_cell_text():
    released = _source_nb()
    released.cells[2].source = 'assert f(toy) is not None\nsecret = citizens["hukou"].eq("migrant").mean()'
    text = "\n".join(c.source for c in released.cells)
    assert [ln for ln in _secrets(_source_nb()) if ln in text], "the planted hidden line was not detected"
    raw_json = nbformat.writes(released)
    assert 'secret = citizens["hukou"]' not in raw_json, "sanity: JSON escapes quotes, so raw text would miss it"


def test_feedback_text_strips_highlighting_spans():
    page = '<span class="n">secret</span> <span class="o">=</span> citizens[&quot;hukou&quot;]'
    assert 'secret = citizens["hukou"]' in visible_text(page)


# ---- issue #13: cascades, crashing provided cells, nbgrader's causes -------------------------------------------------
from harness import cascades, nbgrader_failures, provided_cell_errors  # noqa: E402


def _graded_nb():
    """Two exercises, a provided cell between them; nbgrader metadata as the lessons have it."""
    def meta(gid, **kw):
        return {"nbgrader": {"grade_id": gid, "solution": False, "grade": False, **kw}}
    nb = new_notebook()
    nb.cells = [
        new_code_cell("import pandas as pd", metadata=meta("setup", locked=True)),
        new_code_cell("def f(x):\n    return x", metadata=meta("ex1_f", solution=True)),
        new_code_cell("assert f(1) == 1", metadata=meta("ex1_f_tests", grade=True, points=1)),
        new_code_cell("view = f(pd.Series([1])).head()"),
        new_code_cell("def g(x):\n    return f(x) + 1", metadata=meta("ex2_g", solution=True)),
        new_code_cell("assert g(1) == 2", metadata=meta("ex2_g_tests", grade=True, points=2)),
    ]
    return nb


def test_a_planted_cascade_names_both_exercises():
    scores = {"ex1_f_tests": (0.0, 1.0), "ex2_g_tests": (0.0, 2.0)}
    msgs = cascades("ex1_f", "returns a list", scores, _graded_nb())
    assert len(msgs) == 1 and "ex1_f" in msgs[0] and "ex2_g" in msgs[0] and "0/2" in msgs[0].replace(".0", ""), msgs
    assert cascades("ex1_f", "returns a list", {"ex1_f_tests": (0.0, 1.0), "ex2_g_tests": (2.0, 2.0)}, _graded_nb()) == []


def test_a_planted_crash_in_a_provided_cell_is_named():
    nb = _graded_nb()
    nb.cells[3].outputs = [nbformat.v4.new_output("error", ename="AttributeError",
                                                  evalue="'list' object has no attribute 'head'", traceback=[])]
    nb.cells[2].outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="", traceback=[])]
    msgs = provided_cell_errors(nb)
    assert len(msgs) == 1, msgs  # the failing test cell is not a provided cell
    assert "cell 3" in msgs[0] and "AttributeError" in msgs[0] and "view = f(" in msgs[0], msgs


# the shape of nbgrader 0.9's log when one of two submissions cannot be processed (kernel died)
NBGRADER_LOG = """[AutogradeApp | INFO] Autograding /tmp/c/autograded/dies/05-nosedive/05-nosedive.ipynb
[IPKernelApp] WARNING | Kernel is running over TCP without encryption.
[AutogradeApp | ERROR] Kernel died while waiting for execute reply.
[AutogradeApp | ERROR] There was an error processing assignment: /tmp/c/submitted/dies/05-nosedive
[AutogradeApp | ERROR] Traceback (most recent call last):
  File "/venv/lib/python3.11/site-packages/nbgrader/converters/base.py", line 388, in convert_notebooks
    self.convert_single_notebook(notebook_filename)
nbclient.exceptions.DeadKernelError: Kernel died

[AutogradeApp | WARNING] Removing failed assignment: /tmp/c/autograded/dies/05-nosedive
[AutogradeApp | INFO] Autograding /tmp/c/autograded/fine/05-nosedive/05-nosedive.ipynb
[AutogradeApp | ERROR] There was an error processing assignment '05-nosedive' for student 'dies'
[AutogradeApp | ERROR] Please see the error log (None) for details on the specific errors on the above failures.
"""


def test_nbgrader_failure_causes_are_read_per_student():
    causes = nbgrader_failures(NBGRADER_LOG)
    assert list(causes) == ["dies"], causes
    assert "DeadKernelError: Kernel died" in causes["dies"], causes
    assert "Kernel died while waiting for execute reply" in causes["dies"], causes
    assert "Removing failed" not in causes["dies"] and "Please see" not in causes["dies"], causes


def test_a_student_listed_without_traceback_still_gets_the_log_tail():
    causes = nbgrader_failures("[AutogradeApp | ERROR] There was an error processing assignment '01-x' for student 'alt48'\n")
    assert "alt48" in causes and "no cause" in causes["alt48"], causes


# ---- the fast check on planted notebooks: worlds, loops, dead kernels, mutants -------------------------------------
import pytest  # noqa: E402

import fastcheck  # noqa: E402
from fastcheck import LessonRun, Trial  # noqa: E402
from mutants import DYNAMIC_SHOWN, mutants_of  # noqa: E402
from test_banks_fast import bank_failures  # noqa: E402
from test_mutants import classify, mutant_report  # noqa: E402

FLAG_SOURCE = '''def flag(value):
    """True when value is at least 5."""
    ### BEGIN SOLUTION
    return value >= 5
    ### END SOLUTION'''


def _toy_lesson():
    """One exercise whose hidden test reads a number from the world (like a real-data check) and a toy case."""
    def meta(gid, **kw):
        return {"nbgrader": {"grade_id": gid, "solution": False, "grade": False, **kw}}
    nb = new_notebook()
    nb.cells = [
        new_code_cell('import os, pathlib\nvalue = int(pathlib.Path(os.environ["SOCIALCREDIT_DATA"], "value.txt").read_text())',
                      metadata=meta("setup", locked=True)),
        new_code_cell(FLAG_SOURCE, metadata=meta("ex1_flag", solution=True)),
        new_code_cell("flag(value)"),
        new_code_cell("assert isinstance(flag(7), bool)\n### BEGIN HIDDEN TESTS\nassert flag(value) == (value >= 5)\n"
                      "### END HIDDEN TESTS", metadata=meta("ex1_flag_tests", grade=True, points=1)),
    ]
    return nb


def _world(tmp_path, name, value):
    d = tmp_path / name
    d.mkdir()
    (d / "value.txt").write_text(str(value))
    return d


@pytest.mark.slow
def test_a_misconception_caught_on_one_world_only_is_reported_with_that_world(tmp_path):
    never = "def flag(value):\n    return value > 100"  # discriminates only where the world's value is >= 5
    messages = {}
    for name, value in [("world A", 9), ("world B", 2)]:
        trials = [Trial("ex1_flag", never, "misconception", "a threshold of 100"),
                  Trial("ex1_flag", "def flag(value):\n    return not value < 5", "alternative", "negated")]
        with LessonRun("toy", _world(tmp_path, name, value), tmp_path / name / "work", world=name, nb=_toy_lesson()) as run:
            run.check(trials)
            assert not run.problems, run.problems
        messages[name] = bank_failures(trials, name)
    assert messages["world A"] == [], messages
    assert len(messages["world B"]) == 1 and "on world B" in messages["world B"][0], messages
    assert "not caught" in messages["world B"][0] and "a threshold of 100" in messages["world B"][0]


@pytest.mark.slow
def test_trials_that_loop_kill_the_kernel_or_raise_do_not_stop_the_others(tmp_path, monkeypatch):
    monkeypatch.setattr(fastcheck, "TRIAL_TIMEOUT", 8)
    trials = [Trial("ex1_flag", "def flag(value):\n    while True:\n        pass", "misconception", "loops"),
              Trial("ex1_flag", "import os\nos._exit(1)", "misconception", "kills the kernel"),
              Trial("ex1_flag", "raise ValueError('no')\ndef flag(value):\n    return value >= 5", "misconception",
                    "raises before defining (must not inherit the solution's flag)"),
              Trial("ex1_flag", "import pandas\ndef flag(value):\n    return bool(value - 5 >= 0)", "alternative", "ok"),
              Trial("ex1_flag", "def flag(value):\n    return value > 5", "misconception", "strict")]
    with LessonRun("toy", _world(tmp_path, "w", 9), tmp_path / "work", nb=_toy_lesson()) as run:
        run.check(trials)
        assert not run.problems, run.problems
    verdicts = {t.name: t.passed for t in trials}
    assert verdicts == {"loops": False, "kills the kernel": False, "raises before defining (must not inherit the "
                        "solution's flag)": False, "ok": True, "strict": True}, [(t.name, t.summary()) for t in trials]
    assert "time limit" in trials[0].summary() and "died" in trials[1].summary(), [t.summary() for t in trials[:2]]


@pytest.mark.slow
def test_an_uncaught_mutant_fails_with_its_diff_unless_declared(tmp_path):
    mutants = mutants_of("ex1_flag", FLAG_SOURCE)
    ids = [m.id for m in mutants]
    assert "cmp: `value >= 5` (>= -> >)" in ids, ids
    trials = [Trial(m.cell, m.code, "mutant", m.id, dynamic=m.operator in DYNAMIC_SHOWN) for m in mutants]
    trials.append(Trial("ex1_flag", "def flag(value):\n    return value < 5", "mutant", "planted, caught"))
    with LessonRun("toy", _world(tmp_path, "w", 9), tmp_path / "work", nb=_toy_lesson()) as run:
        run.check(trials)
    every = {(m.cell, m.id): m for m in mutants}
    source = {"ex1_flag": FLAG_SOURCE.replace("    ### BEGIN SOLUTION\n", "").replace("\n    ### END SOLUTION", "")}
    verdicts = classify(trials, {})
    assert [t.name for t in verdicts["uncaught"]] == ["cmp: `value >= 5` (>= -> >)"], (
        {k: [t.name for t in v] for k, v in verdicts.items()})
    report = mutant_report("toy", verdicts, [], source, every)
    assert "-    return value >= 5" in report and "+    return value > 5" in report, report
    assert "[[equivalent]]" in report
    declared = {("ex1_flag", "cmp: `value >= 5` (>= -> >)"): "planted"}
    assert not mutant_report("toy", classify(trials, declared), [], source, every)
    assert not mutant_report("toy", classify(trials, {("ex1_flag", "cmp: *"): "a pattern"}), [], source, every)
    assert mutant_report("toy", classify(trials, {("ex1_flag", "cmp: `value >= 5` (>= -> >=)"): "typo"}), [], source, every)
    # a declaration the tests contradict is reported too
    assert [t.name for t in verdicts["caught"]] == ["planted, caught"]
    wrong = classify(trials, {("ex1_flag", "planted, caught"): "x"})
    assert wrong["wrongly declared"] and "remove the declaration" in mutant_report("toy", wrong, [], source, every)


@pytest.mark.slow
def test_after_effects_find_a_planted_cascade_and_crash_and_leave_the_solution_intact(tmp_path):
    """Checks 8 and 9 in the fast check: a wrong f breaks g's tests (a cascade) and a provided cell (a crash)."""
    from test_banks_fast import after_effect_failures
    trials = [Trial("ex1_f", "def f(x):\n    return [x]", "misconception", "a list"),
              Trial("ex1_f", "def f(x):\n    return x if not isinstance(x, int) else x + 0.5", "misconception", "off"),
              Trial("ex1_f", "raise ValueError('before defining f')", "misconception", "raises"),
              Trial("ex1_f", "def f(x):\n    return x * 1", "alternative", "times one")]
    with LessonRun("toy", _world(tmp_path, "w", 1), tmp_path / "work", nb=_graded_nb()) as run:
        run.check(trials)
        run.after_effects(trials)
        assert not run.problems, run.problems
    by = {t.name: t for t in trials}
    assert set(by["a list"].cascades) == {"ex2_g_tests"} and len(by["a list"].crashes) == 1, vars(by["a list"])
    assert "view = f(" in next(iter(by["a list"].crashes)), by["a list"].crashes
    assert set(by["off"].cascades) == {"ex2_g_tests"} and not by["off"].crashes, vars(by["off"])
    assert "NameError" in next(iter(by["raises"].crashes.values())), vars(by["raises"])  # f is undefined, as in nbgrader
    assert not by["times one"].cascades and not by["times one"].crashes, vars(by["times one"])
    msgs = after_effect_failures(trials, "w")
    assert any(m.startswith("[8]") and "'a list'" in m and "ex2_g_tests" in m for m in msgs), msgs
    assert any(m.startswith("[9]") and "'a list'" in m for m in msgs), msgs
    assert not any("times one" in m for m in msgs), msgs


@pytest.mark.slow
def test_layers_report_an_uncaught_misconception_and_name_a_wrong_alternative(tmp_path):
    """make test grades a lesson's bank in layers (test_harness.grade_layers): a planted misconception that is in
    fact correct and a planted wrong alternative are both reported, the alternative by name after the regrade."""
    from harness import Course
    from test_harness import grade_layers

    def meta(gid, *, grade=False, solution=False, locked=False, points=None):
        m = {"grade_id": gid, "grade": grade, "solution": solution, "locked": locked, "schema_version": 3}
        return {"nbgrader": {**m, **({"points": points} if points else {})}}
    nb = new_notebook()
    nb.cells = [
        new_code_cell("import pandas as pd", metadata=meta("setup", locked=True)),
        new_code_cell("def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION", metadata=meta("ex1_f", solution=True)),
        new_code_cell("assert f(1) == 1\n### BEGIN HIDDEN TESTS\nassert f(2) == 2\n### END HIDDEN TESTS",
                      metadata=meta("ex1_f_tests", grade=True, locked=True, points=1)),
        new_code_cell("try:\n    view = f(pd.Series([1]))\nexcept NotImplementedError:\n    pass", metadata=meta("view", locked=True)),
        new_code_cell("def g(x):\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION", metadata=meta("ex2_g", solution=True)),
        new_code_cell("assert g(1) == 2", metadata=meta("ex2_g_tests", grade=True, locked=True, points=1)),
    ]
    (tmp_path / "src" / "toy").mkdir(parents=True)
    nbformat.write(nb, tmp_path / "src" / "toy" / "toy.ipynb")
    bank = [{"kind": "misconception", "cell": "ex1_f", "name": "not really wrong", "code": "def f(x):\n    return x"},
            {"kind": "misconception", "cell": "ex2_g", "name": "off by two", "code": "def g(x):\n    return x + 2"},
            {"kind": "alternative", "cell": "ex1_f", "name": "times one", "code": "def f(x):\n    return x * 1"},
            {"kind": "alternative", "cell": "ex2_g", "name": "wrong alternative", "code": "def g(x):\n    return x - 1"}]
    course = Course.make(tmp_path / "layers", "toy", source=tmp_path / "src")
    course.release()
    failures = grade_layers(course, bank, tmp_path / "again")
    text = "\n".join(failures)
    assert any(f.startswith("[5] misconception not caught: ex1_f — 'not really wrong'") for f in failures), text
    assert any(f.startswith("[6] the layer alternatives0") for f in failures), text
    assert "off by two" not in text.split("graded one by one")[0], text
    one_by_one = text.split("graded one by one")[1]
    assert "[6] alternative answer rejected: ex2_g — 'wrong alternative'" in one_by_one, text
    assert "times one" not in one_by_one, text


def test_release_differences_name_a_changed_a_new_and_a_missing_file(tmp_path):
    from test_harness import release_differences
    fresh, committed = tmp_path / "fresh", tmp_path / "committed"
    for d in (fresh, committed):
        d.mkdir()
        (d / "x.ipynb").write_text("same")
    assert release_differences(fresh, committed, "x") == []
    (fresh / "x.ipynb").write_text("changed")
    assert "out of date (['x.ipynb'])" in release_differences(fresh, committed, "x")[0]
    (fresh / "new.csv").write_text("n")
    assert "new ['new.csv']" in release_differences(fresh, committed, "x")[0]
    assert "missing" in release_differences(fresh, tmp_path / "nowhere", "x")[0]
