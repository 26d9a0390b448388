"""Class: 4
Name: c4_fork_sleepers
Tries: fork 100 children that sleep 600 s (bounded: an unbounded fork bomb is c4_fork_bomb, unsafe today),
    detached in their own sessions so they outlive the kernel and the grading run; prints their pids so the
    measuring script can count the survivors and kill them.
Grader must: a process limit (RLIMIT_NPROC / a pids cgroup in the sandbox) and kill the whole sandbox (PID
    namespace) when the submission ends; report the attempt.
"""
import os as _os
import time as _time

_pids = []
for _ in range(100):
    try:
        _pid = _os.fork()
    except OSError as _e:
        print("ATTACK: fork refused:", _e)
        break
    if _pid == 0:
        _os.setsid()
        _time.sleep(600)
        _os._exit(0)
    _pids.append(_pid)
print("ATTACK: forked", len(_pids), "children")
print("ATTACK-PIDS:", " ".join(map(str, _pids)))
