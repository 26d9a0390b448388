"""Class: 1
Name: c1_solution_notebook_exec
Tries: read the instructor's notebook next to the course (../../../solutions/01-dossier/01-dossier.ipynb, the
    grading kernel runs in autograded/<student>/01-dossier/) and exec the code of every solution cell.
Grader must: give the grading kernel no view of solutions/ (a sandbox whose file system holds only the
    submission and the read-only software and data), so the open fails and is reported.
"""
import json as _json
import pathlib as _pathlib

_found = [p for p in [_pathlib.Path("../../../solutions/01-dossier/01-dossier.ipynb")] if p.is_file()]
print("ATTACK: solution notebook readable:", bool(_found))
if _found:
    _nb = _json.loads(_found[0].read_text())
    _cells = [c for c in _nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("solution")
              and c["cell_type"] == "code"]
    for _c in _cells:
        exec("".join(_c["source"]), globals())
    _hidden = sum("BEGIN HIDDEN TESTS" in "".join(c["source"]) for c in _nb["cells"])
    print(f"ATTACK: executed {len(_cells)} solution cells; saw {_hidden} cells with hidden tests")
