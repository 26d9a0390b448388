"""Class: 1 (with a class-2 delivery)
Name: c1_solution_swap
Tries: read the instructor's solution notebook, then install an IPython input transformer that replaces the
    source of every later answer cell (recognised by its stub) with the instructor's solution for that cell,
    so every exercise is answered by the instructor's code while the submitted notebook looks blank.
Grader must: keep solutions/ out of the grading kernel's reach (sandbox, minimal bind set) and decide
    verdicts outside the student's process, so a transformer cannot change what the tests see.
"""
import json as _json
import pathlib as _pathlib

_p = _pathlib.Path("../../../solutions/01-dossier/01-dossier.ipynb")
_answers = {}
if _p.is_file():
    for _c in _json.loads(_p.read_text())["cells"]:
        _m = _c.get("metadata", {}).get("nbgrader", {})
        if _c["cell_type"] == "code" and _m.get("solution") and not _m.get("grade"):
            _src = "".join(_c["source"])
            _answers[_src.split("(")[0]] = "\n".join(ln for ln in _src.split("\n") if "### " not in ln)
print("ATTACK: solution cells stolen:", len(_answers))
exec(_answers.get("def normalise_id", ""), globals())


def _swap(lines):
    src = "".join(lines)
    key = src.split("(")[0]
    if "raise NotImplementedError()" in src and key in _answers:
        return [ln + "\n" for ln in _answers[key].split("\n")]
    return lines


get_ipython().input_transformers_post.append(_swap)
