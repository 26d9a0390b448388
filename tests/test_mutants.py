"""Mutation testing for the banks (issue #13): every mutant of a solution (mutants.py) must fail its own
exercise's tests on the shipped world, or be declared in the lesson's bank under [[equivalent]] with the reason
it changes nothing the prompt defines. Per-lesson numbers appear in pytest's closing summary.
"""
import nbformat
import pytest

from fastcheck import HarnessError, LessonRun, Trial, world_dir
from harness import REPO, answer_cells, lesson_names, notebook_path
from mutants import DYNAMIC_SHOWN, capped, is_declared, lesson_mutants, load_equivalents, solution_region

LESSONS = lesson_names()


def classify(trials, declared):
    """{"caught"|"equivalent"|"not applicable"|"uncaught"|"wrongly declared": [trial, ...]}."""
    out = {k: [] for k in ("caught", "equivalent", "not applicable", "uncaught", "wrongly declared")}
    for t in trials:
        declared_here = is_declared(declared, t.cell, t.name)
        if not t.passed:
            out["wrongly declared" if declared_here else "caught"].append(t)
        elif declared_here:
            out["equivalent"].append(t)
        elif not t.applied:
            out["not applicable"].append(t)
        else:
            out["uncaught"].append(t)
    return out


def toml_string(text):
    """`text` as a TOML string that reads back exactly (a literal string when it can be)."""
    if "'" not in text and "\n" not in text:
        return f"'{text}'"
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def mutant_report(lesson, verdicts, stale, sources, mutants):
    """The failure message: uncaught mutants with their diffs, wrong and stale declarations."""
    lines = []
    if verdicts["uncaught"]:
        lines.append(f"{len(verdicts['uncaught'])} mutant(s) of {lesson} pass every test of their exercise. Add a hidden "
                     "test that catches each, or declare it in tests/banks/" f"{lesson}.toml (see instructors/authoring.md):")
        for t in verdicts["uncaught"]:
            m = mutants[(t.cell, t.name)]
            lines += ["", "[[equivalent]]", f"cell = {toml_string(t.cell)}", f"mutant = {toml_string(t.name)}", 'why = "..."',
                      *("    " + ln for ln in m.diff(sources[t.cell]).split("\n"))]
    for t in verdicts["wrongly declared"]:
        lines.append(f"declared equivalent, but its exercise's tests catch it (remove the declaration): "
                     f"{t.cell} — {t.name!r}: {t.summary()[:300]}")
    for cell, mid in stale:
        lines.append(f"[[equivalent]] names a mutant that is not generated any more (remove or update it): {cell} — {mid!r}")
    return "\n".join(lines)


@pytest.mark.slow
@pytest.mark.parametrize("lesson", LESSONS)
def test_mutants_are_caught_or_declared(lesson, tmp_path, record_property):
    declared = load_equivalents(lesson)
    by_cell = lesson_mutants(lesson)
    every = {(cell, m.id): m for cell, ms in by_cell.items() for m in ms}
    stale = [(cell, pat) for cell, pat in declared
             if not any(is_declared({(cell, pat): ""}, c, mid) for c, mid in every)]
    chosen = [m for cell, ms in by_cell.items()
              for m in capped(ms, keep=[m.id for m in ms if is_declared(declared, cell, m.id)])]
    trials = [Trial(m.cell, m.code, "mutant", m.id, dynamic=m.operator in DYNAMIC_SHOWN) for m in chosen]
    with LessonRun(lesson, world_dir(None, tmp_path), tmp_path / "work") as run:
        try:
            run.check(trials)
        except HarnessError as e:
            pytest.fail(f"{lesson}: {e}")
        problems = list(run.problems)
    verdicts = classify(trials, declared)
    counts = {"generated": len(every), "run": len(trials), **{k: len(v) for k, v in verdicts.items()}}
    record_property("mutants", {"lesson": lesson, **counts})
    print(f"mutants {lesson}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    nb = nbformat.read(notebook_path(REPO / "solutions", lesson), as_version=4)
    sources = {cid: solution_region(c.source)[0] for cid, c in answer_cells(nb).items()}
    report = mutant_report(lesson, verdicts, stale, sources, every)
    assert not problems, "\n".join(problems)
    assert not report, report
