"""The harness's own leak detection finds planted leaks (a check that cannot fail is a defect)."""
import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from harness import hidden_test_lines, public_lines, solution_lines, visible_text


def _source_nb():
    meta = {"nbgrader": {"grade_id": "ex1_tests", "grade": True, "solution": False, "points": 1}}
    nb = new_notebook()
    nb.cells = [
        new_markdown_cell("Use `ax.axvline(0.5, linestyle=\"--\")` to mark chance."),
        new_code_cell('def f(x):\n    ### BEGIN SOLUTION\n    return x.groupby("g")["y"].mean()\n    ### END SOLUTION',
                      metadata={"nbgrader": {"grade_id": "ex1", "solution": True, "grade": False}}),
        new_code_cell('assert f(toy) is not None\n### BEGIN HIDDEN TESTS\nsecret = citizens["hukou"].eq("migrant").mean()\n'
                      'ax.axvline(0.5, linestyle="--")\n### END HIDDEN TESTS', metadata=meta),
    ]
    return nb


def _secrets(nb):
    public = "\n".join(public_lines(nb))
    return [ln for ln in solution_lines(nb) + hidden_test_lines(nb) if ln not in public]


def test_secret_lines_exclude_code_quoted_in_prompts():
    secrets = _secrets(_source_nb())
    assert 'secret = citizens["hukou"].eq("migrant").mean()' in secrets
    assert 'return x.groupby("g")["y"].mean()' in secrets
    assert 'ax.axvline(0.5, linestyle="--")' not in secrets


def test_a_planted_leak_with_quotes_is_found_in_cell_text():
    released = _source_nb()
    released.cells[2].source = 'assert f(toy) is not None\nsecret = citizens["hukou"].eq("migrant").mean()'
    text = "\n".join(c.source for c in released.cells)
    assert [ln for ln in _secrets(_source_nb()) if ln in text], "the planted hidden line was not detected"
    raw_json = nbformat.writes(released)
    assert 'secret = citizens["hukou"]' not in raw_json, "sanity: JSON escapes quotes, so raw text would miss it"


def test_feedback_text_strips_highlighting_spans():
    page = '<span class="n">secret</span> <span class="o">=</span> citizens[&quot;hukou&quot;]'
    assert 'secret = citizens["hukou"]' in visible_text(page)
