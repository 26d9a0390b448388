"""The numbers the lessons, model answers and rubrics quote, recomputed on one student's own world.

    python -m socialcredit figures STUDENT [--lesson NN-slug]

Each student on a hub works on a world of their own (``socialcredit.data``), so the numbers in a student's
reflections are theirs, not the ones quoted in ``instructors/NN-slug.md`` or in the solution's model answers.
This command reads the course's register of quoted numbers (``tests/quoted/<lesson>.toml``, the same one the
test suite checks against the shipped world) and prints, for each quoted number, where it is quoted, the
cohort's value and the student's. Run it from the instructor's repository (it needs ``tests/quoted/``).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tomllib
from pathlib import Path

from .data import STUDENT_VAR, cohort_dir, cohort_info, student_seed

QUOTED = Path("tests") / "quoted"
_HELPERS = ("audit_numbers", "nosedive_numbers", "_quoted_l04")  # modules the register caches its fits in, per process


def _entries(root, lesson):
    folder = root / QUOTED
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is missing: `figures` reads the register of quoted numbers, which only the "
                                f"instructor's repository has. Run it from there (the folder holding tests/quoted/).")
    names = sorted(p.stem for p in folder.glob("*.toml"))
    if lesson is not None and lesson not in names:
        raise ValueError(f"--lesson {lesson!r}: no such lesson; expected one of {', '.join(names)}.")
    out = []
    for name in names if lesson is None else [lesson]:
        data = tomllib.loads((folder / f"{name}.toml").read_text(encoding="utf-8"))
        out.extend((name, e) for e in data.get("number", []))
    return out


def _context(root, rel, text, width=110):
    """The line (of a markdown file or a notebook's cells) where ``text`` is quoted, trimmed around it."""
    path = root / rel
    if not path.is_file():
        return ""
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        body = "\n".join("".join(c.get("source", "")) for c in cells)
    else:
        body = path.read_text(encoding="utf-8")
    for line in body.splitlines():
        if text in line:
            line = line.strip()
            if len(line) <= width:
                return line
            i = line.index(text)
            start = max(0, min(i - width // 2, len(line) - width))
            return ("…" if start else "") + line[start:start + width] + ("…" if start + width < len(line) else "")
    return ""


@contextlib.contextmanager
def _as_student(root, student):
    """Run with load() reading ``student``'s world ("" = the cohort's own), from the repository root."""
    old_env, old_cwd = os.environ.get(STUDENT_VAR), os.getcwd()
    os.environ[STUDENT_VAR] = student
    os.chdir(root)
    for name in _HELPERS:
        sys.modules.pop(name, None)
    try:
        yield
    finally:
        for name in _HELPERS:
            sys.modules.pop(name, None)
        os.chdir(old_cwd)
        if old_env is None:
            os.environ.pop(STUDENT_VAR, None)
        else:
            os.environ[STUDENT_VAR] = old_env


def _value(entry):
    scope = {}
    try:
        exec(entry["code"], scope)  # noqa: S102 (the course's own register, not student code)
        return entry["format"].format(scope["value"])
    except Exception as error:  # one failing figure must not hide the rest
        return f"(failed: {type(error).__name__}: {error})"


def figures(root, student, lesson=None, out=sys.stdout):
    """Print the quoted figures of ``lesson`` (default: every lesson) for the cohort and for ``student``.

    Returns a list of dicts (lesson, file, quoted, cohort, student, context).
    """
    root = Path(root).resolve()
    if not isinstance(student, str) or not student.strip():
        raise ValueError(f"student={student!r}: expected a student id (their hub user name, as in submitted/<id>/).")
    student = student.strip()
    entries = _entries(root, lesson)
    with _as_student(root, ""), contextlib.redirect_stdout(io.StringIO()):
        base = cohort_dir()
        info = cohort_info(base)
        cohort = [_value(e) for _, e in entries]
    with _as_student(root, student), contextlib.redirect_stdout(io.StringIO()):
        mine = [_value(e) for _, e in entries]
    if info is None or not info["per_student"]:
        print(f"Note: {base} gives every student the same world (no world.json, or \"per_student\": false), so "
              f"{student}'s numbers are the cohort's.", file=out)
    else:
        print(f"{student}'s world: seed {student_seed(info['seed'], student)}, drawn from the cohort's seed "
              f"{info['seed']} (n = {info['n']:,}). 'quoted' is the text of the lesson or rubric; 'cohort' the value "
              f"on datasets/; '{student}' the value on the student's world ('=' where it does not depend on the "
              f"world).", file=out)
    rows, current = [], None
    for (name, e), c, s in zip(entries, cohort, mine):
        if name != current:
            current = name
            print(f"\n== {name}", file=out)
        ctx = _context(root, e["file"], e["text"])
        rows.append({"lesson": name, "file": e["file"], "quoted": e["text"], "cohort": c, "student": s,
                     "context": ctx})
        shown = "=" if s == c else s
        print(f"  {e['file']}: quoted {e['text']!r}, cohort {c}, {student} {shown}", file=out)
        if ctx:
            print(f"      {ctx}", file=out)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m socialcredit figures",
                                     description="The numbers lessons and rubrics quote, on one student's own world.")
    parser.add_argument("student", help="the student's id (hub user name; the folder name in submitted/)")
    parser.add_argument("--lesson", help="one lesson, e.g. 03-who-pays (default: all)")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the instructor's repository (default: here)")
    args = parser.parse_args(argv)
    try:
        figures(args.root, args.student, args.lesson)
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    return 0
