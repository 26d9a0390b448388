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

Checks 3-9 grade real submissions with nbgrader: a kernel start and a whole notebook each (4-8 s). Per lesson,
`make test` grades through nbgrader, in one course:
- the solution (3) and the untouched release (4);
- every alternative of the bank, in "layers": layer k is the solution with the k-th alternative of every answer cell
  in place at once, so three or four notebooks carry them all (6, 7, 9);
- one misconception of every answer cell (a "cascade..." entry when there is one), all in one notebook: each
  answer cell's tests must lose points, no provided cell may crash (5, 7, 9).
When a layer fails, its entries are graded again one by one, so the message names the entry at fault.
Every entry's verdict (5, 6) is checked on three worlds, and its cascades and crashes (8, 9) on the shipped world,
by test_banks_fast.py, also in `make test`. `make test-full` (CI runs it after `make test`) grades through nbgrader,
one notebook each, every alternative and every misconception outside make test's layer (checks 5-9, with 8 from
nbgrader's own scores).
"""
import filecmp

import nbformat
import pytest

from harness import (REPO, Course, answer_cells, answer_tests, cascades, grade_cells, hidden_test_lines, lesson_names,
                     load_bank, nb_meta, notebook_path, outputs_or_counts, provided_cell_errors, public_lines,
                     sample_indices, solution_lines, totals, visible_text)

LESSONS = lesson_names()
SHARDS = 2  # make test-full's shards per lesson


def test_there_are_lessons():
    assert LESSONS, "no lesson found under solutions/: the harness would check nothing"


def release_differences(fresh, committed, lesson):
    """Check 1: messages for every way a fresh release of `lesson` differs from the committed lessons/ folder."""
    if not committed.is_dir():
        return [f"lessons/{lesson} is missing: run `make release` and commit it"]
    cmp = filecmp.dircmp(fresh, committed, ignore=[".ipynb_checkpoints"])
    if cmp.left_only or cmp.right_only:
        return [f"[1] release files differ: new {cmp.left_only}, stale {cmp.right_only}"]
    differing = [f for f in cmp.common_files if (fresh / f).read_bytes() != (committed / f).read_bytes()]
    return [f"[1] lessons/{lesson} is out of date ({differing}): run `make release` and commit"] if differing else []


@pytest.mark.parametrize("lesson", LESSONS)
def test_committed_release_hides_answers(lesson):
    """Check 2 on the committed lessons/ (check 1, that a fresh release reproduces them, is in test_grading, which
    releases each lesson anyway, and in test_course.py's `make release` test)."""
    committed = REPO / "lessons" / lesson
    assert committed.is_dir(), f"lessons/{lesson} is missing: run `make release` and commit it"
    source = nbformat.read(notebook_path(REPO / "solutions", lesson), as_version=4)
    released = nbformat.read(notebook_path(committed.parent, lesson), as_version=4)
    # compare with the cells' own text, not the JSON file (where quotes are escaped)
    text = "\n".join(c.source for c in released.cells)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text, f"the release of {lesson} contains {marker!r}"
    assert not outputs_or_counts(released), f"cells with outputs or execution counts: {outputs_or_counts(released)}"
    public = "\n".join(public_lines(source))
    secret = [ln for ln in solution_lines(source) + hidden_test_lines(source) if ln not in public]
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


def alternative_layers(bank):
    """Layer k: the positions of the k-th alternative of every answer cell that has k+1 of them."""
    by_cell = {}
    for i, e in enumerate(bank):
        if e["kind"] == "alternative":
            by_cell.setdefault(e["cell"], []).append(i)
    depth = max((len(v) for v in by_cell.values()), default=0)
    return [[v[k] for v in by_cell.values() if k < len(v)] for k in range(depth)]


def rest_entries(bank):
    """Positions make test-full grades one by one: every alternative, and the misconceptions outside the layer."""
    layer = set(sample_indices(bank))
    return [i for i, e in enumerate(bank) if e["kind"] == "alternative" or i not in layer]


def shard_entries(bank, shard):
    """Positions of the bank entries one of make test-full's shards submits."""
    return [i for j, i in enumerate(rest_entries(bank)) if j % SHARDS == shard]


def test_the_layers_and_shards_cover_every_entry():
    """make test's layers hold every alternative once and one misconception of every answer cell; make test-full's
    shards grade every alternative and every other misconception exactly once."""
    for lesson in LESSONS:
        bank = load_bank(lesson) or []
        layered = [i for layer in alternative_layers(bank) for i in layer]
        alts = [i for i, e in enumerate(bank) if e["kind"] == "alternative"]
        assert sorted(layered) == alts, f"{lesson}: the alternative layers hold {sorted(layered)}, not {alts}"
        for layer in alternative_layers(bank):
            cells = [bank[i]["cell"] for i in layer]
            assert len(cells) == len(set(cells)), f"{lesson}: a layer holds two alternatives of one cell: {cells}"
        mis = sample_indices(bank)
        assert sorted(bank[i]["cell"] for i in mis) == sorted({e["cell"] for e in bank if e["kind"] == "misconception"}), \
            f"{lesson}: the misconception layer does not hold exactly one misconception of every answer cell"
        graded = [i for shard in range(SHARDS) for i in shard_entries(bank, shard)] + mis
        graded = [i for i in graded if not (i in mis and bank[i]["kind"] == "alternative")]
        assert sorted(graded) == list(range(len(bank))), (
            f"{lesson}: entries graded never: {sorted(set(range(len(bank))) - set(graded))}, "
            f"more than once: {sorted({i for i in graded if graded.count(i) > 1})}")


def _entry(bank, i):
    return {**bank[i], "index": i}


def _layer_students(course, bank):
    """make test's submissions: solution, untouched release, the alternative layers, the misconception layer."""
    students = {"solution": {"kind": "solution", "nb": course.solved()},
                "untouched": {"kind": "untouched", "nb": nbformat.read(notebook_path(course.root / "lessons", course.lesson),
                                                                       as_version=4)}}
    for k, layer in enumerate(alternative_layers(bank)):
        entries = [_entry(bank, i) for i in layer]
        students[f"alternatives{k}"] = {"kind": "alternatives", "entries": entries,
                                        "nb": course.solved(replace=[(e["cell"], e["code"]) for e in entries])}
    entries = [_entry(bank, i) for i in sample_indices(bank)]
    if entries:
        students["misconceptions"] = {"kind": "misconceptions", "entries": entries,
                                      "nb": course.solved(replace=[(e["cell"], e["code"]) for e in entries])}
    return students


def grade_layers(course, bank, again_root):
    """Failure messages of make test's grading of one lesson (released already); a failing layer's entries are
    graded again one by one in a second course under `again_root`, and what that gives is added."""
    students = _layer_students(course, bank)
    failures = _grade(course, students)
    if failures:
        one = Course.make(again_root, course.lesson, source=course.root / "solutions")
        indices = [e["index"] for s in students.values() for e in s.get("entries", [])]
        single = _grade(one, _single_students(bank, indices, one), release=True)
        failures.append("graded one by one, the layers' entries give:" + ("".join(f"\n  {f}" for f in single) or
                        " no failure (the failures above come from combining them)"))
    return failures


def _single_students(bank, indices, course):
    return {f"{bank[i]['kind'][:3]}{i:02d}": {**_entry(bank, i), "nb": course.solved(replace=(bank[i]["cell"], bank[i]["code"]))}
            for i in indices}


@pytest.mark.slow
@pytest.mark.parametrize("lesson", LESSONS)
def test_grading(lesson, tmp_path):
    """Check 1 (the fresh release reproduces lessons/), checks 3 (default seed), 4-7 and 9 for the solution, the
    untouched release and the bank's layers; a failing layer is graded again entry by entry."""
    course = Course.make(tmp_path / "layers", lesson)
    course.release()
    failures = release_differences(course.root / "lessons" / lesson, REPO / "lessons" / lesson, lesson)
    failures += grade_layers(course, load_bank(lesson) or [], tmp_path / "one-by-one")
    assert not failures, f"{lesson}:\n" + "\n".join(failures)


@pytest.mark.slow
@pytest.mark.full
@pytest.mark.parametrize("lesson,shard", [(lesson, s) for lesson in LESSONS for s in range(SHARDS)])
def test_grading_rest_of_bank(lesson, shard, tmp_path):
    """Checks 5-9 for one shard of the entries graded one by one (`make test-full`)."""
    bank = load_bank(lesson) or []
    course = Course.make(tmp_path, lesson)
    students = _single_students(bank, shard_entries(bank, shard), course)
    if not students:
        pytest.skip(f"{lesson}: no bank entry falls in make test-full's shard {shard}")
    failures = _grade(course, students, release=True)
    assert not failures, f"{lesson}, shard {shard}:\n" + "\n".join(failures)


def _grade(course, students, *, release=False):
    """Submit, autograde and check every student; the failure messages."""
    lesson = course.lesson
    if release:
        course.release()
    for name, s in students.items():
        course.submit(name, s["nb"])
    course.autograde()
    src = course.source
    auto_ids = set(grade_cells(src))
    failures = []
    for name, s in students.items():
        scores = course.scores(name)
        got, full = totals(scores, auto_ids)
        kind = s["kind"]
        if kind == "solution":
            short = {k: v for k, v in scores.items() if k in auto_ids and (v[0] or 0) < v[1]}
            if got != full:
                failures.append(f"[3] the solution scores {got}/{full}; short on {short}")
        elif kind == "untouched":
            if got != 0:
                failures.append(f"[4] the untouched release scores {got}, expected 0: "
                                f"{ {k: v for k, v in scores.items() if v[0]} }")
            graded = course.autograded(name)
            unrun = [i for i, c in enumerate(graded.cells) if c.cell_type == "code" and c.execution_count is None]
            if unrun:
                failures.append(f"[4] the untouched release did not run to the end: cells {unrun} never ran")
        elif kind == "alternatives":
            if got != full:
                short = {k: v for k, v in scores.items() if k in auto_ids and (v[0] or 0) < v[1]}
                names = ", ".join(f"{e['cell']} — {e['name']!r}" for e in s["entries"])
                failures.append(f"[6] the layer {name} ({names}) scores {got}/{full}; short on {short}")
        elif kind == "misconceptions":
            for e in s["entries"]:
                got_c, full_c = totals(scores, answer_tests(e["cell"], src))
                if got_c >= full_c:
                    failures.append(f"[5] misconception not caught: {e['cell']} — {e['name']!r} keeps {got_c}/{full_c} "
                                    f"(graded in the layer {name})")
        else:
            ids = answer_tests(s["cell"], src)
            got_c, full_c = totals(scores, ids)
            if kind == "misconception" and got_c >= full_c:
                failures.append(f"[5] misconception not caught: {s['cell']} — {s['name']!r} keeps {got_c}/{full_c}")
            if kind == "misconception":
                failures += [f"[8] cascade: {msg}" for msg in cascades(s["cell"], s["name"], scores, src)]
            if kind == "alternative" and (got_c != full_c or got != full):
                failures.append(f"[6] alternative answer rejected: {s['cell']} — {s['name']!r} scores {got_c}/{full_c} "
                                f"on its tests and {got}/{full} overall")
    # check 9: provided cells run cleanly on every submission but the untouched release
    for name, s in students.items():
        if s["kind"] != "untouched":
            who = {"solution": "the solution", "alternatives": f"the layer {name}", "misconceptions": f"the layer {name}"}.get(
                s["kind"]) or f"{s['kind']} {s['cell']} — {s['name']!r}"
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
    return failures
