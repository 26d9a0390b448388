"""The banks on three worlds (issue #13 class 4), graded fast: one kernel per (lesson, world), see fastcheck.py.

On the shipped world, on the world generated with seed 7, and on the world a student named student1 gets on a
course hub (each student's own world, issue #10 §2):
- the solution passes every test cell (check 3 on other worlds; the full nbgrader run covers the shipped world);
- every misconception fails at least one test cell of its own exercise;
- every alternative passes every test cell of its own exercise.
A real-data check that discriminates on one world only fails here, naming the world.
On the shipped world, also checks 8 and 9 (fastcheck.LessonRun.after_effects) for the misconceptions make test's
nbgrader layer holds, one per answer cell: none costs points on another exercise's tests, and no provided cell
crashes on it. (Checking every entry so costs about as much as grading it with nbgrader: make test-full does that.)
"""
import pytest

from fastcheck import SEEDS, HarnessError, LessonRun, Trial, world_dir, world_name
from harness import lesson_names, load_bank, sample_indices

LESSONS = lesson_names()
WORLDS = [None, *SEEDS]


@pytest.fixture(scope="session")
def worlds_base(tmp_path_factory):
    return tmp_path_factory.mktemp("worlds")


def bank_trials(lesson):
    return [Trial(e["cell"], e["code"], e["kind"], e["name"]) for e in load_bank(lesson) or []]


def bank_failures(trials, world):
    """Messages for the trials whose verdict is wrong on this world."""
    out = []
    for t in trials:
        if t.kind == "misconception" and t.passed:
            out.append(f"[5] on {world}: misconception not caught: {t.cell} — {t.name!r} passes every test of its exercise")
        elif t.kind == "misconception" and not t.done:
            out.append(f"[5] on {world}: misconception {t.cell} — {t.name!r} was not graded: {t.summary()}")
        elif t.kind == "alternative" and not t.passed:
            out.append(f"[6] on {world}: alternative answer rejected: {t.cell} — {t.name!r}: {t.summary()}")
    return out


def after_effect_failures(trials, world):
    """Messages for checks 8 and 9 (cascades to other exercises, provided cells that crash)."""
    out = []
    for t in trials:
        who = f"the {t.kind} {t.name!r} of {t.cell}"
        for gid, cause in t.cascades.items():
            out.append(f"[8] on {world}: cascade: {who} loses points on {gid} ({cause}): a mistake in {t.cell} must "
                       f"cost points only on {t.cell}'s tests")
        for cell, cause in t.crashes.items():
            out.append(f"[9] on {world}: a provided cell crashes on {who}: {cell} raises {cause}")
    return out


@pytest.mark.slow
@pytest.mark.parametrize("lesson,seed", [(lesson, seed) for lesson in LESSONS for seed in WORLDS],
                         ids=lambda v: "shipped" if v is None else (f"seed{v}" if isinstance(v, int) else v))
def test_bank_on_world(lesson, seed, worlds_base, tmp_path):
    world = world_name(seed)
    trials = bank_trials(lesson)
    with LessonRun(lesson, world_dir(seed, worlds_base), tmp_path / "work", world=world) as run:
        try:
            run.check(trials)
            if seed is None:
                run.after_effects([trials[i] for i in sample_indices(load_bank(lesson) or [])])
        except HarnessError as e:
            pytest.fail(f"{lesson}: {e}")
        failures = run.problems + bank_failures(trials, world) + after_effect_failures(trials, world)
    assert not failures, f"{lesson} on {world}:\n" + "\n".join(failures)
