"""Class: 4
Name: c4_memory_30gb
SAFE_TODAY = False (today it would take the shared 24 GB machine down; run only inside the sandbox)
Tries: allocate and touch 30 GB in 1 GB pieces, catching MemoryError.
Grader must: a memory limit per submission (RLIMIT_AS / memory cgroup); the kernel killed at the limit is
    reported by name ("memory limit exceeded"), the other submissions unaffected.
"""
SAFE_TODAY = False
import os as _os

if _os.environ.get("SOCIALCREDIT_ATTACK_SANDBOX") != "1":
    raise RuntimeError("c4_memory_30gb runs only where SOCIALCREDIT_ATTACK_SANDBOX=1 (inside the sandbox)")
_pieces = []
try:
    for _ in range(30):
        _piece = bytearray(1024**3)
        for _i in range(0, len(_piece), 4096):
            _piece[_i] = 1
        _pieces.append(_piece)
except MemoryError:
    print("ATTACK: MemoryError after", len(_pieces), "GB")
