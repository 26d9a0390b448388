"""Class: 4
Name: c4_print_1gb
SANDBOX_ONLY = True (nbclient would hold the whole output in memory, and nbgrader would write it to disk twice)
Tries: print 1 GB of text.
Grader must: cap a cell's output on the trusted side (count bytes as they arrive, stop the kernel past the
    cap, report "output limit exceeded").
"""
SANDBOX_ONLY = True
import os as _os

def _in_grading_sandbox():
    try:  # the grading sandbox runs the kernel in a PID namespace whose first process is bubblewrap
        with open("/proc/1/comm") as _f:
            return _f.read().strip() == "bwrap"
    except OSError:
        return False


if not _in_grading_sandbox():
    raise RuntimeError("c4_print_1gb runs only inside the grading sandbox (PID 1 is bubblewrap)")
_line = "x" * 1023 + "\n"
for _ in range(1024):
    print(_line * 1024, end="")
