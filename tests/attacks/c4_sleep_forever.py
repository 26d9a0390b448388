"""Class: 4
Name: c4_sleep_forever
Tries: time.sleep(10**6) in the first answer cell: the per-cell time limit (60 s) must interrupt it.
Grader must: interrupt the cell at its limit, grade the rest, name the cell in the status detail.
"""
import time as _time

_time.sleep(10**6)
