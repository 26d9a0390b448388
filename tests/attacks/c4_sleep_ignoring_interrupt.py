"""Class: 4
Name: c4_sleep_ignoring_interrupt
Tries: ignore SIGINT (the kernel's interrupt) and then sleep: the per-cell time-out's interrupt does nothing,
    every later cell queues behind the sleeping one, and only the whole submission's wall-clock limit ends it
    (the script passes --time-limit; the course's default is 900 s of a grading worker).
Grader must: stop the kernel with SIGKILL (of its whole process group) at the per-cell limit when an
    interrupt does not work, and report the submission as timed out by name, quickly.
"""
import signal as _signal
import time as _time

_signal.signal(_signal.SIGINT, _signal.SIG_IGN)
_time.sleep(10**6)
