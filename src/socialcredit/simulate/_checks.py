"""Argument checks shared by the engine's modules: each error names the value and what was expected."""
from __future__ import annotations

import numbers

import numpy as np


def _check_int(value, name, *, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}={value!r}: expected a whole number (an int) >= {minimum}, "
                        f"got {type(value).__name__}.")
    if value < minimum:
        raise ValueError(f"{name}={value!r}: expected a whole number >= {minimum}.")
    return int(value)


def _check_share(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}={value!r}: expected a share between 0 and 1 (a number), got {type(value).__name__}.")
    if not 0.0 <= float(value) <= 1.0:  # also rejects NaN
        raise ValueError(f"{name}={value!r}: expected a share between 0 and 1.")
    return float(value)


def _generator(seed, name):
    """A ``numpy.random.Generator`` from an int seed (or the Generator itself)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{name}={seed!r}: expected a non-negative int seed or a numpy.random.Generator, "
                        f"got {type(seed).__name__}.")
    if seed < 0:
        raise ValueError(f"{name}={seed!r}: expected a non-negative int seed.")
    return np.random.default_rng(int(seed))
