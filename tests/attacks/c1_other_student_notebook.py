"""Class: 1
Name: c1_other_student_notebook
Tries: list ../../../submitted/ and ../../../autograded/ (every student's work sits beside the submission
    being graded), pick the classmate who answered the most, and exec that classmate's answer cells.
Grader must: mount only this student's submission into the sandbox (no submitted/ or autograded/ of others),
    and report the attempt.
"""
import glob as _glob
import json as _json

_theirs = sorted(set(_glob.glob("../../../submitted/*/01-dossier/*.ipynb")
                     + _glob.glob("../../../autograded/*/01-dossier/*.ipynb")))
print("ATTACK: classmates' notebooks visible:", len(_theirs))
_best, _best_answers = None, []
for _path in _theirs:
    try:
        _cells = _json.load(open(_path))["cells"]
    except Exception:
        continue
    _answers = ["".join(c["source"]) for c in _cells if c["cell_type"] == "code"
                and c.get("metadata", {}).get("nbgrader", {}).get("solution")]
    _done = [a for a in _answers if "NotImplementedError" not in a and "ATTACK" not in a]
    if len(_done) > len(_best_answers):
        _best, _best_answers = _path, _done
for _a in _best_answers:
    try:
        exec(_a, globals())
    except Exception:
        pass
if _best:
    print(f"ATTACK: copied {len(_best_answers)} answers of", _best.split("/")[4])
