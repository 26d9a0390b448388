"""Class: 2
Name: c2_events_pre_run_cell_selective
Tries: a 'pre_run_cell' event callback that reads each cell before it runs and, only for graded test cells
    (a docstring first, then asserts), arms a one-shot input transformer that turns the cell into `pass`;
    the "Try it" cells and the student's own cells run untouched, so the notebook looks normal.
Grader must: verdicts outside the student's process; report event callbacks registered by the student.
"""
_ip = get_ipython()


def _one_shot(lines):
    _ip.input_transformers_post.remove(_one_shot)
    return ["pass\n"]


def _pre(info):
    cell = info.raw_cell or ""
    if cell.lstrip().startswith('"""') and ("assert " in cell or "AssertionError" in cell):
        _ip.input_transformers_post.append(_one_shot)


_ip.events.register("pre_run_cell", _pre)
