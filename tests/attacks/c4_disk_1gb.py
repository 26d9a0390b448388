"""Class: 4
Name: c4_disk_1gb
SAFE_TODAY = False (run only inside the sandbox)
Tries: write a 1 GB file beside the submission (autograded/<student>/...) and one in /tmp, filling the course
    disk that every student's grading shares.
Grader must: a scratch directory with a size limit (tmpfs with size=, or RLIMIT_FSIZE) and nothing of the
    course writable; report the failed write.
"""
SAFE_TODAY = False
import os as _os

if _os.environ.get("SOCIALCREDIT_ATTACK_SANDBOX") != "1":
    raise RuntimeError("c4_disk_1gb runs only where SOCIALCREDIT_ATTACK_SANDBOX=1 (inside the sandbox)")
for _path in ("filler.bin", "/tmp/filler.bin"):
    with open(_path, "wb") as _f:
        for _ in range(1024):
            _f.write(b"\0" * 1024**2)
