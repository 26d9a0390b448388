"""Class: 3
Name: c3_builtins_in_cells
Tries: redefine the builtins the tests use, only when called from a notebook cell so pandas keeps working:
    isinstance says yes, abs(...) is 0 (every `abs(got - expected) < tol` holds), round is the identity,
    AssertionError is replaced by a Warning subclass; with a wrong answer for Exercise 1.1 (ids returned
    unchanged). `assert` statements still raise the real AssertionError (the opcode does not look it up).
Grader must: run the tests in a process whose builtins the student never touched (verdicts outside the
    student's process), and report builtins that differ from the interpreter's own.
"""
import builtins as _b
import sys as _sys

_real = {n: getattr(_b, n) for n in ("isinstance", "len", "abs", "round", "print", "AssertionError")}


def _from_cell():
    name = _sys._getframe(2).f_code.co_filename
    return "ipykernel_" in name or "<ipython-input" in name


def _isinstance(obj, cls):
    return True if _from_cell() else _real["isinstance"](obj, cls)


def _abs(x):
    return 0 if _from_cell() else _real["abs"](x)


class _QuietAssertionError(Warning):
    pass


_b.isinstance = _isinstance
_b.abs = _abs
_b.round = lambda x, n=None: x
_b.AssertionError = _QuietAssertionError
print("ATTACK: builtins replaced:", [n for n in _real if getattr(_b, n) is not _real[n]])


def normalise_id(raw):
    return raw
