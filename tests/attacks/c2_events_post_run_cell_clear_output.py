"""Class: 2
Name: c2_events_post_run_cell_clear_output
Tries: a 'post_run_cell' event callback that, after any cell that raised, sends clear_output(): the client
    (nbclient, inside nbgrader) deletes the cell's outputs, error included, so the failure leaves no trace.
Grader must: not read the verdict from outputs the student's process can rewrite; verdicts from the trusted
    side; report event callbacks registered by the student.
"""
from IPython.display import clear_output as _clear


def _post(result):
    if result is not None and not result.success:
        _clear()


get_ipython().events.register("post_run_cell", _post)
