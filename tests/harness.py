"""The course harness's machinery (DESIGN §6): temporary course folders, submissions built from the
solution and the banks, autograding, and reading scores back per graded cell.

Everything happens in a temporary folder, never in the repository.
"""
from __future__ import annotations

import html
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
SECOND_SEED = 7


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


def _env(data_dir=None):
    """The instructor commands' environment (alembic on PATH, one BLAS thread per kernel), with our data folder."""
    from socialcredit.course import _env as course_env
    env = course_env()
    env.pop("SOCIALCREDIT_DATA", None)
    if data_dir is not None:
        env["SOCIALCREDIT_DATA"] = str(data_dir)
    return env


def run_nbgrader(args, cwd, data_dir=None, timeout=1800):
    r = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=_env(data_dir), capture_output=True,
                       text=True, timeout=timeout)
    return r


@dataclass
class Course:
    root: Path
    lesson: str

    @classmethod
    def make(cls, tmp, lesson):
        root = Path(tmp) / "course"
        (root / "solutions").mkdir(parents=True)
        shutil.copy2(REPO / "nbgrader_config.py", root)
        shutil.copytree(REPO / "solutions" / lesson, root / "solutions" / lesson)
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
        """The solution as a student would hand it in (markers stripped); optionally one answer cell replaced."""
        nb = self.source
        for c in nb.cells:
            if nb_meta(c).get("solution") and c.cell_type == "code":
                c.source = strip_solution_markers(c.source)
        if replace:
            cell_id, code = replace
            cells = answer_cells(nb)
            assert cell_id in cells, f"bank names cell {cell_id!r}, which is not an answer cell of {self.lesson}"
            cells[cell_id].source = code
        return nb

    def autograde(self, data_dir=None):
        r = run_nbgrader(["autograde", self.lesson, "--force"], self.root, data_dir)
        assert r.returncode == 0, f"autograde crashed for {self.lesson}:\n{r.stdout[-4000:]}{r.stderr[-4000:]}"
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
