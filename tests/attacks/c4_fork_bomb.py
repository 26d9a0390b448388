"""Class: 4
Name: c4_fork_bomb
SANDBOX_ONLY = True (an unbounded fork bomb: never run it outside the sandbox on a shared machine)
Tries: the classic fork bomb: every process forks forever.
Grader must: a process limit (pids cgroup / RLIMIT_NPROC in a PID namespace) and killing the whole sandbox at
    the end; report the kernel as having hit the process limit.
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
    raise RuntimeError("c4_fork_bomb runs only inside the grading sandbox (PID 1 is bubblewrap)")
while True:
    _os.fork()
