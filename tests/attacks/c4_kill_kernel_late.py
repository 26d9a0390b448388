"""Class: 4
Name: c4_kill_kernel_late
Tries: let the notebook run, and kill the kernel (os.kill(os.getpid(), SIGKILL)) the moment a graded test
    fails: the submission is recorded as crashed instead of earning a low score, hoping for a lenient hand
    regrade; the kill is late, after several cells ran, so it looks like an infrastructure fault.
Grader must: report a kernel that died with the cell it died in and what killed it (exit signal), as the
    student's own doing, not "the grading worker died" (which is retried as the machine's fault).
"""
import os as _os
import signal as _signal


def _post(result):
    if result is not None and not result.success and "assert" in (result.info.raw_cell or ""):
        _os.kill(_os.getpid(), _signal.SIGKILL)


get_ipython().events.register("post_run_cell", _post)
