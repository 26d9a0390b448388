"""Class: 3
Name: c3_always_equal_results
Tries: redefine equality instead of answering: normalise_id returns a Series of objects whose str() is a
    str subclass equal to everything (and hashing like a real registry id), so `got == expected` and
    `set(got) <= registered` hold whatever the input. No id is ever normalised.
Grader must: compare plain data, not the student's objects: the student's results cross a plain-data
    boundary (JSON / Arrow of builtin types, rebuilt on the trusted side) before any test compares them.
"""
import pandas as _pd


class _Yes(str):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = str.__hash__


class _Liar:
    def __str__(self):
        return _Yes("LP-000001")

    __repr__ = __str__


def normalise_id(raw):
    return _pd.Series([_Liar() for _ in range(len(raw))], index=raw.index, dtype=object)
