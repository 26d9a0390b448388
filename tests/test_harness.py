"""The course harness: DESIGN §6's seven checks, for every lesson found under solutions/.

1. regenerating the release reproduces lessons/ exactly;
2. the release holds no solution code, no hidden test, no output;
3. the solution autogrades to full marks (here on the shipped world; test_banks_fast.py runs the solution's
   tests on two generated worlds);
4. the untouched release runs to the end and scores zero, with no crash;
5. every misconception in the bank loses points on its answer's tests;
6. every alternative answer in the bank keeps full marks;
7. feedback HTML contains no hidden test;
and, from issue #13:
8. no cascade: a misconception loses points only on its own exercise's test cells;
9. no provided cell (neither an answer nor a test) errors in the autograded notebook of the solution, of a
   misconception or of an alternative (issue #8 §7: a provided cell must not crash on a student's mistake).

Checks 3-9 grade real submissions with nbgrader, a kernel start and a whole notebook each (3-10 s). `make test`
grades, per lesson, the solution, the untouched release and a sample of the bank: for every answer cell one
misconception (a "cascade:" entry when there is one, since those probe check 8) and one alternative. The rest of
the bank is graded by the tests marked `full` (`make test-full`, which CI runs after `make test`). Every entry's
verdict (checks 5 and 6) is also checked by test_banks_fast.py on three worlds within `make test`.

Each part is split into shards so that pytest-xdist keeps both cores busy.
"""
import filecmp

import nbformat
import pytest

from harness import (REPO, Course, answer_cells, answer_tests, cascades, grade_cells, hidden_test_lines, lesson_names,
                     load_bank, nb_meta, notebook_path, outputs_or_counts, provided_cell_errors, public_lines,
                     solution_lines, totals, visible_text)

LESSONS = lesson_names()
SHARDS = 2


def test_there_are_lessons():
    assert LESSONS, "no lesson found under solutions/: the harness would check nothing"


@pytest.mark.parametrize("lesson", LESSONS)
def test_release_reproduces_lessons_and_hides_answers(lesson, tmp_path):
    """Checks 1 and 2."""
    course = Course.make(tmp_path, lesson)
    course.release()
    fresh, committed = course.root / "lessons" / lesson, REPO / "lessons" / lesson
    assert committed.is_dir(), f"lessons/{lesson} is missing: run `make release` and commit it"
    cmp = filecmp.dircmp(fresh, committed, ignore=[".ipynb_checkpoints"])
    assert not (cmp.left_only or cmp.right_only), f"release files differ: new {cmp.left_only}, stale {cmp.right_only}"
    differing = [f for f in cmp.common_files if (fresh / f).read_bytes() != (committed / f).read_bytes()]
    assert not differing, f"lessons/{lesson} is out of date ({differing}): run `make release` and commit"

    released = nbformat.read(notebook_path(committed.parent, lesson), as_version=4)
    # compare with the cells' own text, not the JSON file (where quotes are escaped)
    text = "\n".join(c.source for c in released.cells)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text, f"the release of {lesson} contains {marker!r}"
    assert not outputs_or_counts(released), f"cells with outputs or execution counts: {outputs_or_counts(released)}"
    public = "\n".join(public_lines(course.source))
    secret = [ln for ln in solution_lines(course.source) + hidden_test_lines(course.source) if ln not in public]
    leaked = [ln for ln in secret if ln in text]
    assert not leaked, f"solution or hidden-test lines appear in the release of {lesson}: {leaked[:5]}"
    source_text = notebook_path(REPO / "solutions", lesson).read_text(encoding="utf-8")
    assert not outputs_or_counts(nbformat.reads(source_text, as_version=4)), "the solution notebook carries outputs"


@pytest.mark.parametrize("lesson", LESSONS)
def test_bank_covers_every_answer(lesson):
    """Checks 5 and 6 need a bank: two misconceptions and one alternative per autograded answer."""
    bank = load_bank(lesson)
    assert bank is not None, f"tests/banks/{lesson}.toml is missing"
    src = nbformat.read(notebook_path(REPO / "solutions", lesson), as_version=4)
    answers = answer_cells(src)
    assert answers, f"{lesson} has no autograded answer cell"
    unknown = {e["cell"] for e in bank} - set(answers)
    assert not unknown, f"bank entries name cells that are not answer cells: {sorted(unknown)}"
    for cell in answers:
        assert answer_tests(cell, src), f"answer {cell} has no test cell named {cell}_tests"
        mis = [e for e in bank if e["cell"] == cell and e["kind"] == "misconception"]
        alt = [e for e in bank if e["cell"] == cell and e["kind"] == "alternative"]
        assert len(mis) >= 2, f"{cell}: {len(mis)} misconception(s) in the bank, expected at least 2"
        assert len(alt) >= 1, f"{cell}: {len(alt)} alternative answer(s) in the bank, expected at least 1"
    names = [(e["cell"], e["name"]) for e in bank]
    assert len(names) == len(set(names)), "two bank entries share a cell and a name"
    ids = [nb_meta(c).get("grade_id") for c in src.cells if nb_meta(c)]
    assert len(ids) == len(set(ids)), f"duplicate grade_ids in {lesson}"


def sample_indices(bank):
    """Positions of the bank entries `make test` grades with nbgrader: per answer cell, one misconception (the
    first named "cascade: ...", else the first) and the first alternative."""
    chosen = {}
    for i, e in enumerate(bank):
        key = (e["cell"], e["kind"])
        if key not in chosen or (e["kind"] == "misconception" and e["name"].startswith("cascade")
                                 and not bank[chosen[key]]["name"].startswith("cascade")):
            chosen[key] = i
    return sorted(chosen.values())


def _students_for(lesson, part, shard, course):
    bank = load_bank(lesson) or []
    students = {}
    if part == "sample" and shard == 0:
        students["solution"] = {"kind": "solution", "nb": course.solved()}
        students["untouched"] = {"kind": "untouched", "nb": nbformat.read(course.release(), as_version=4)}
    for i in shard_entries(bank, part, shard):
        entry = bank[i]
        name = f"{entry['kind'][:3]}{i:02d}"
        students[name] = {**entry, "nb": course.solved(replace=(entry["cell"], entry["code"]))}
    return students


def shard_entries(bank, part, shard):
    """Positions of the bank entries one grading shard of `part` ("sample" or "rest") submits."""
    sample = set(sample_indices(bank))
    picked = [i for i in range(len(bank)) if (i in sample) == (part == "sample")]
    return [i for j, i in enumerate(picked) if j % SHARDS == shard]


def test_the_shards_grade_every_entry_once_and_the_sample_covers_every_answer_cell():
    """Between them, make test's and make test-full's shards submit every bank entry exactly once; make test's
    sample holds a misconception and an alternative of every answer cell."""
    for lesson in LESSONS:
        bank = load_bank(lesson) or []
        graded = [i for part in ("sample", "rest") for shard in range(SHARDS) for i in shard_entries(bank, part, shard)]
        assert sorted(graded) == list(range(len(bank))), (
            f"{lesson}: the shards submit entries {sorted(set(range(len(bank))) - set(graded))} never and "
            f"{sorted({i for i in graded if graded.count(i) > 1})} more than once")
        sample = [bank[i] for shard in range(SHARDS) for i in shard_entries(bank, "sample", shard)]
        for kind in ("misconception", "alternative"):
            cells = {e["cell"] for e in bank if e["kind"] == kind}
            covered = {e["cell"] for e in sample if e["kind"] == kind}
            assert cells == covered, f"{lesson}: the sample misses the {kind}s of {sorted(cells - covered)}"


@pytest.mark.slow
@pytest.mark.parametrize("lesson,shard", [(lesson, s) for lesson in LESSONS for s in range(SHARDS)])
def test_grading(lesson, shard, tmp_path):
    """Checks 3 (default seed), 4-9 for one shard of the solution, the untouched release and the bank's sample."""
    _grade(lesson, "sample", shard, tmp_path)


@pytest.mark.slow
@pytest.mark.full
@pytest.mark.parametrize("lesson,shard", [(lesson, s) for lesson in LESSONS for s in range(SHARDS)])
def test_grading_rest_of_bank(lesson, shard, tmp_path):
    """Checks 5-9 for one shard of the bank entries outside the sample (`make test-full`)."""
    _grade(lesson, "rest", shard, tmp_path)


def _grade(lesson, part, shard, tmp_path):
    course = Course.make(tmp_path, lesson)
    course.release()
    students = _students_for(lesson, part, shard, course)
    if not students:
        pytest.skip(f"{lesson}: no bank entry falls in the {part} part's shard {shard}")
    for name, s in students.items():
        course.submit(name, s["nb"])
    course.autograde()
    src = course.source
    auto_ids = set(grade_cells(src))
    failures = []
    for name, s in students.items():
        scores = course.scores(name)
        got, full = totals(scores, auto_ids)
        if s["kind"] == "solution":
            short = {k: v for k, v in scores.items() if k in auto_ids and (v[0] or 0) < v[1]}
            if got != full:
                failures.append(f"[3] the solution scores {got}/{full}; short on {short}")
        elif s["kind"] == "untouched":
            if got != 0:
                failures.append(f"[4] the untouched release scores {got}, expected 0: "
                                f"{ {k: v for k, v in scores.items() if v[0]} }")
            graded = course.autograded(name)
            unrun = [i for i, c in enumerate(graded.cells) if c.cell_type == "code" and c.execution_count is None]
            if unrun:
                failures.append(f"[4] the untouched release did not run to the end: cells {unrun} never ran")
        else:
            ids = answer_tests(s["cell"], src)
            got_c, full_c = totals(scores, ids)
            if s["kind"] == "misconception" and got_c >= full_c:
                failures.append(f"[5] misconception not caught: {s['cell']} — {s['name']!r} keeps {got_c}/{full_c}")
            if s["kind"] == "misconception":
                failures += [f"[8] cascade: {msg}" for msg in cascades(s["cell"], s["name"], scores, src)]
            if s["kind"] == "alternative" and (got_c != full_c or got != full):
                failures.append(f"[6] alternative answer rejected: {s['cell']} — {s['name']!r} scores {got_c}/{full_c} "
                                f"on its tests and {got}/{full} overall")
    # check 9: provided cells run cleanly on every submission but the untouched release
    for name, s in students.items():
        if s["kind"] != "untouched":
            who = "the solution" if s["kind"] == "solution" else f"{s['kind']} {s['cell']} — {s['name']!r}"
            failures += [f"[9] a provided cell crashes on {who}: {msg}" for msg in provided_cell_errors(course.autograded(name))]
    # check 7: feedback for every submission, none may show hidden-test source
    public = "\n".join(public_lines(src))
    hidden = [ln for ln in hidden_test_lines(src) if ln not in public]
    r = course.root
    from harness import run_nbgrader
    fb = run_nbgrader(["generate_feedback", lesson, "--force"], r)
    assert fb.returncode == 0, f"generate_feedback failed:\n{fb.stdout[-3000:]}{fb.stderr[-3000:]}"
    for name in students:
        page = (r / "feedback" / name / lesson / f"{lesson}.html").read_text(encoding="utf-8")
        text = visible_text(page)
        # a student's own code is theirs to see, even where a hidden test happens to contain the same line
        own = "\n".join(c.source for c in students[name]["nb"].cells if nb_meta(c).get("solution"))
        leaked = [ln for ln in hidden if ln in text and ln not in own]
        if leaked:
            failures.append(f"[7] feedback for {name} shows hidden-test source: {leaked[:3]}")
    assert not failures, f"{lesson}, {part} shard {shard}:\n" + "\n".join(failures)
