"""Class: 4
Name: c4_print_1gb
SAFE_TODAY = False (nbclient would hold the whole output in memory, and nbgrader would write it to disk twice)
Tries: print 1 GB of text.
Grader must: cap a cell's output on the trusted side (count bytes as they arrive, stop the kernel past the
    cap, report "output limit exceeded").
"""
SAFE_TODAY = False
import os as _os

if _os.environ.get("SOCIALCREDIT_ATTACK_SANDBOX") != "1":
    raise RuntimeError("c4_print_1gb runs only where SOCIALCREDIT_ATTACK_SANDBOX=1 (inside the sandbox)")
_line = "x" * 1023 + "\n"
for _ in range(1024):
    print(_line * 1024, end="")
