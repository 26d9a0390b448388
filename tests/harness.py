"""The course harness's machinery (DESIGN §6): temporary course folders, submissions built from the
solution and the banks, autograding, and reading scores back per graded cell.

Everything happens in a temporary folder, never in the repository.
"""
from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
BANKS = REPO / "tests" / "banks"


def lesson_names():
    src = REPO / "solutions"
    return sorted(p.name for p in src.iterdir() if p.is_dir() and re.match(r"^\d\d-", p.name)) if src.is_dir() else []


def notebook_path(folder, lesson):
    return Path(folder) / lesson / f"{lesson}.ipynb"


def nb_meta(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


def answer_cells(nb):
    """grade_id -> cell for autograded answer cells (solution, not grade, code)."""
    return {nb_meta(c)["grade_id"]: c for c in nb.cells
            if c.cell_type == "code" and nb_meta(c).get("solution") and not nb_meta(c).get("grade")}


def grade_cells(nb):
    return {nb_meta(c)["grade_id"]: c for c in nb.cells if nb_meta(c).get("grade") and c.cell_type == "code"}


def answer_tests(answer_id, nb):
    return [gid for gid in grade_cells(nb) if gid == f"{answer_id}_tests" or re.fullmatch(rf"{answer_id}_tests\d+", gid)]


def strip_solution_markers(source):
    return "\n".join(ln for ln in source.split("\n") if "### BEGIN SOLUTION" not in ln and "### END SOLUTION" not in ln)


def region_lines(source, begin, end):
    """The lines of a source between delimiters (exclusive)."""
    out, inside = [], False
    for ln in source.split("\n"):
        if begin in ln:
            inside = True
        elif end in ln:
            inside = False
        elif inside:
            out.append(ln)
    return out


def load_bank(lesson):
    path = BANKS / f"{lesson}.toml"
    if not path.is_file():
        return None
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    entries = []
    for kind in ("misconception", "alternative"):
        for i, e in enumerate(data.get(kind, [])):
            missing = {"cell", "name", "code"} - set(e)
            if missing:
                raise ValueError(f"{path.name}: {kind} #{i + 1} lacks {sorted(missing)}")
            entries.append({"kind": kind, **e})
    return entries


def sample_indices(bank):
    """Positions of the misconceptions make test grades together: per answer cell, the first named "cascade..."
    (those probe check 8), else the first."""
    chosen = {}
    for i, e in enumerate(bank):
        if e["kind"] != "misconception":
            continue
        if e["cell"] not in chosen or (e["name"].startswith("cascade") and not bank[chosen[e["cell"]]]["name"].startswith("cascade")):
            chosen[e["cell"]] = i
    return sorted(chosen.values())


def _env(data_dir=None):
    """The instructor commands' environment (alembic on PATH, one BLAS thread per kernel), with our data folder."""
    from socialcredit.course import _env as course_env
    env = course_env()
    env.pop("SOCIALCREDIT_DATA", None)
    if data_dir is not None:
        env["SOCIALCREDIT_DATA"] = str(data_dir)
    return env


def run_nbgrader(args, cwd, data_dir=None, timeout=3600):
    r = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=_env(data_dir), capture_output=True,
                       text=True, timeout=timeout)
    return r


# The harness's own grading runs get generous limits (the course's config keeps 60 s per cell for students):
# on a loaded machine a kernel can take a minute to start, and a cell several times its usual time (issue #9).

NBGRADER_CELL_TIMEOUT = int(os.environ.get("HARNESS_NBGRADER_TIMEOUT", "300"))
GENEROUS = [f"--Execute.timeout={NBGRADER_CELL_TIMEOUT}", f"--Execute.startup_timeout={NBGRADER_CELL_TIMEOUT}"]


def nbgrader_failures(log):
    """{student: cause} for every submission nbgrader could not process, read from its log.

    nbgrader prints the traceback right after "There was an error processing assignment: <path>" (or a message
    "While processing assignment <path>, the kernel became unresponsive ..."), often preceded by an ERROR line of
    its own ("Kernel died while waiting for execute reply."), and only a one-line summary per student at the end,
    which is all a cut-off log shows."""
    lines = log.splitlines()
    causes, current, pending = {}, None, []
    start = re.compile(r"\| ERROR\] (?:There was an error processing assignment: |While processing assignment )"
                       r"([^\s,]+),?\s*(.*)$")
    for ln in lines:
        m = start.search(ln)
        if m:
            sm = re.search(r"submitted[/\\]([^/\\]+)", m.group(1))
            current = sm.group(1) if sm else m.group(1)
            causes[current] = pending + ([m.group(2)] if m.group(2) else [])
            pending = []
            continue
        if re.match(r"\[\w+( \| \w+)?\]", ln):  # a new log line ends the traceback, unless it continues the error
            if current and "| ERROR]" in ln and "for student" not in ln and "Please see" not in ln:
                causes[current].append(ln)
                continue
            current = None
            if "| ERROR]" in ln and "for student" not in ln and "Please see" not in ln:
                pending.append(ln)
            elif "Autograding" in ln or "Converting notebook" in ln:
                pending = []
            continue
        if current:
            causes[current].append(ln)
    listed = re.findall(r"There was an error processing assignment '[^']*' for student '([^']*)'", log)
    out = {}
    for student in dict.fromkeys(list(causes) + listed):
        body = [ln for ln in causes.get(student, []) if ln.strip() and set(ln.strip()) != {"^"}]
        if len(body) > 30:
            body = body[:3] + ["    ..."] + body[-25:]
        out[student] = "\n".join(body) if body else "(nbgrader logged no cause; end of its log:)\n" + "\n".join(lines[-30:])
    return out


@dataclass
class Course:
    root: Path
    lesson: str

    @classmethod
    def make(cls, tmp, lesson, source=REPO / "solutions"):
        """A course under `tmp` with the lesson's source folder copied from `source`."""
        root = Path(tmp) / "course"
        (root / "solutions").mkdir(parents=True)
        shutil.copy2(REPO / "nbgrader_config.py", root)
        shutil.copytree(Path(source) / lesson, root / "solutions" / lesson)
        return cls(root, lesson)

    @property
    def source(self):
        return nbformat.read(notebook_path(self.root / "solutions", self.lesson), as_version=4)

    def release(self):
        r = run_nbgrader(["generate_assignment", self.lesson, "--force"], self.root)
        assert r.returncode == 0, f"generate_assignment failed for {self.lesson}:\n{r.stdout[-3000:]}{r.stderr[-3000:]}"
        return notebook_path(self.root / "lessons", self.lesson)

    def submit(self, student, nb):
        path = notebook_path(self.root / "submitted" / student, self.lesson)
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, path)

    def solved(self, replace=None):
        """The solution as a student would hand it in (markers stripped); optionally answer cells replaced:
        `replace` is one (cell_id, code) pair or a list of them (one per cell)."""
        nb = self.source
        for c in nb.cells:
            if nb_meta(c).get("solution") and c.cell_type == "code":
                c.source = strip_solution_markers(c.source)
        pairs = [replace] if isinstance(replace, tuple) else list(replace or [])
        cells = answer_cells(nb)
        assert len({cell_id for cell_id, _ in pairs}) == len(pairs), f"two replacements for one cell: {pairs}"
        for cell_id, code in pairs:
            assert cell_id in cells, f"bank names cell {cell_id!r}, which is not an answer cell of {self.lesson}"
            cells[cell_id].source = code
        return nb

    def autograde(self, data_dir=None):
        """Autograde every submission. A submission nbgrader cannot process is retried once on its own (a loaded
        machine can time a kernel out); if it fails again, the assertion names each student with nbgrader's cause."""
        r = run_nbgrader(["autograde", self.lesson, "--force", *GENEROUS], self.root, data_dir)
        if r.returncode == 0:
            return r
        failed = nbgrader_failures(r.stdout + "\n" + r.stderr)
        assert failed, f"autograde crashed for {self.lesson} before grading anyone:\n{r.stdout[-4000:]}{r.stderr[-4000:]}"
        causes = {}
        for student, first in failed.items():
            again = run_nbgrader(["autograde", self.lesson, "--student", student, "--force", *GENEROUS], self.root, data_dir)
            if again.returncode != 0:
                second = nbgrader_failures(again.stdout + "\n" + again.stderr).get(student)
                causes[student] = second or first
        assert not causes, f"nbgrader could not process {len(causes)} submission(s) of {self.lesson} (retried once):\n" + \
            "\n".join(f"--- student {s!r}:\n{c}" for s, c in causes.items())
        return r

    def scores(self, student):
        """grade_id -> (score, max_score) for the student's autograded notebook."""
        from nbgrader.api import Gradebook
        with Gradebook(f"sqlite:///{self.root / 'gradebook.db'}") as gb:
            nb = gb.find_submission_notebook(self.lesson, self.lesson, student)
            return {g.name: (g.score, g.max_score) for g in nb.grades}

    def autograded(self, student):
        return nbformat.read(notebook_path(self.root / "autograded" / student, self.lesson), as_version=4)

    def feedback_html(self, student):
        r = run_nbgrader(["generate_feedback", self.lesson, "--student", student, "--force"], self.root)
        assert r.returncode == 0, f"generate_feedback failed:\n{r.stdout[-3000:]}{r.stderr[-3000:]}"
        path = self.root / "feedback" / student / self.lesson / f"{self.lesson}.html"
        return path.read_text(encoding="utf-8")


def visible_text(page):
    """An HTML page's text with tags removed (syntax highlighting splits lines into spans)."""
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def hidden_test_lines(source_nb, min_len=12):
    """Distinctive lines of every hidden-test region (comments and code) in the source notebook."""
    lines = []
    for c in source_nb.cells:
        for ln in region_lines(c.source, "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"):
            s = ln.strip()
            if len(s) >= min_len:
                lines.append(s)
    return lines


def solution_lines(source_nb, min_len=16):
    lines = []
    for c in source_nb.cells:
        if c.cell_type == "code":
            lines += [ln.strip() for ln in region_lines(c.source, "### BEGIN SOLUTION", "### END SOLUTION")
                      if len(ln.strip()) >= min_len and not ln.strip().startswith("#")]
        elif nb_meta(c).get("solution") and nb_meta(c).get("grade"):  # reflection model answers
            lines += [ln.strip() for ln in c.source.split("\n") if len(ln.strip()) >= 40]
    return lines


def public_lines(source_nb):
    """Stripped lines that the source shows outside solution and hidden-test regions (not secrets).

    A secret line that occurs inside one of these (say, code quoted in a prompt) is public too."""
    out = set()
    for c in source_nb.cells:
        if c.cell_type == "markdown" and nb_meta(c).get("solution"):
            continue
        inside = False
        for ln in c.source.split("\n"):
            if "### BEGIN SOLUTION" in ln or "### BEGIN HIDDEN TESTS" in ln:
                inside = True
            elif "### END SOLUTION" in ln or "### END HIDDEN TESTS" in ln:
                inside = False
            elif not inside:
                out.add(ln.strip())
    return out


def outputs_or_counts(nb):
    return [i for i, c in enumerate(nb.cells) if c.get("outputs") or c.get("execution_count")]


def totals(scores, ids=None):
    items = [v for k, v in scores.items() if ids is None or k in ids]
    return sum(s or 0 for s, _ in items), sum(m or 0 for _, m in items)


def exercise_of(test_id, nb):
    """The answer cell whose tests include `test_id` (None for a test cell of no answer, e.g. a reflection)."""
    for answer in answer_cells(nb):
        if test_id in answer_tests(answer, nb):
            return answer
    return None


def cascades(cell, name, scores, nb):
    """Messages for the points a wrong answer in `cell` loses on other exercises' test cells (issue #13 class 5)."""
    own = set(answer_tests(cell, nb))
    out = []
    for gid in grade_cells(nb):
        if gid in own or gid not in scores:
            continue
        got, full = scores[gid]
        if full and (got or 0) < full:
            other = exercise_of(gid, nb) or gid
            out.append(f"the misconception {name!r} of {cell} loses points on {other} ({gid}: {got or 0}/{full}): "
                       f"a mistake in {cell} must cost points only on {cell}'s tests")
    return out


def provided_cell_errors(graded_nb):
    """Messages for code cells that are neither answers nor tests and whose output is an error."""
    out = []
    for i, c in enumerate(graded_nb.cells):
        m = nb_meta(c)
        if c.cell_type != "code" or m.get("solution") or m.get("grade"):
            continue
        for o in c.get("outputs", []):
            if o.get("output_type") == "error":
                first = next((ln for ln in c.source.split("\n") if ln.strip()), "")
                out.append(f"cell {i} (`{first[:70]}`) raises {o.get('ename')}: {str(o.get('evalue'))[:200]}")
                break
    return out
