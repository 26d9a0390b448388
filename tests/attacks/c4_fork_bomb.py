"""Class: 4
Name: c4_fork_bomb
SAFE_TODAY = False (an unbounded fork bomb: never run it outside the sandbox on a shared machine)
Tries: the classic fork bomb: every process forks forever.
Grader must: a process limit (pids cgroup / RLIMIT_NPROC in a PID namespace) and killing the whole sandbox at
    the end; report the kernel as having hit the process limit.
"""
SAFE_TODAY = False
import os as _os

if _os.environ.get("SOCIALCREDIT_ATTACK_SANDBOX") != "1":
    raise RuntimeError("c4_fork_bomb runs only where SOCIALCREDIT_ATTACK_SANDBOX=1 (inside the sandbox)")
while True:
    _os.fork()
