"""`figures` gives each student their own numbers for every lesson, Lesson 4 included.

Lesson 4's register caches its model fits in the module `_quoted_l04` (the "shared" block of
tests/quoted/04-blind-but-not-neutral.toml). `figures` computes the cohort's numbers first; if it does not forget
that module before the student's, every Lesson 4 number it reports for the student is the cohort's.
"""
from socialcredit.data import CACHE_VAR
from socialcredit.figures import figures

from conftest import REPO


def test_lesson_4_numbers_are_the_students_not_the_cohorts(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_VAR, str(tmp_path / "cache"))
    monkeypatch.delenv("SOCIALCREDIT_DATA", raising=False)
    rows = figures(REPO, "s07", "04-blind-but-not-neutral", out=open(tmp_path / "out.txt", "w"))
    moved = [r for r in rows if r["student"] != r["cohort"]]
    assert len(moved) > len(rows) // 2, (
        f"only {len(moved)} of {len(rows)} Lesson 4 numbers differ between the cohort's world and s07's: "
        f"`figures` is reporting the cohort's cached fits (sys.modules['_quoted_l04']) as the student's")
