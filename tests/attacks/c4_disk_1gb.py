"""Class: 4
Name: c4_disk_1gb
SANDBOX_ONLY = True (run only inside the sandbox)
Tries: write a 1 GB file beside the submission (autograded/<student>/...) and one in /tmp, filling the course
    disk that every student's grading shares.
Grader must: a scratch directory with a size limit (tmpfs with size=, or RLIMIT_FSIZE) and nothing of the
    course writable; report the failed write.
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
    raise RuntimeError("c4_disk_1gb runs only inside the grading sandbox (PID 1 is bubblewrap)")
for _path in ("filler.bin", "/tmp/filler.bin"):
    with open(_path, "wb") as _f:
        for _ in range(1024):
            _f.write(b"\0" * 1024**2)
