"""Class: 4
Name: c4_memory_30gb
SANDBOX_ONLY = True (today it would take the shared 24 GB machine down; run only inside the sandbox)
Tries: allocate and touch 30 GB in 1 GB pieces, catching MemoryError.
Grader must: a memory limit per submission (RLIMIT_AS / memory cgroup); the kernel killed at the limit is
    reported by name ("memory limit exceeded"), the other submissions unaffected.
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
    raise RuntimeError("c4_memory_30gb runs only inside the grading sandbox (PID 1 is bubblewrap)")
_pieces = []
try:
    for _ in range(30):
        _piece = bytearray(1024**3)
        for _i in range(0, len(_piece), 4096):
            _piece[_i] = 1
        _pieces.append(_piece)
except MemoryError:
    print("ATTACK: MemoryError after", len(_pieces), "GB")
