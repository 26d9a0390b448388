"""The predictive-policing urn of Ensign et al. (FAT* 2018), on its own.

Two regions, one patrol per step sent in proportion to the records so far, a
discovered incident adds a record where the patrol went. The city engine's
patrol loop reduces to this urn for two equal districts
(``patrols_follow_records`` in :mod:`socialcredit.simulate`).
"""
from __future__ import annotations

import numpy as np

from ._checks import _check_int, _check_share, _generator

def _ensign_weight(p_here, p_other):
    """Ensign et al.'s probability of counting an incident: (1 - p_i) / max(p_A, p_B)."""
    return (1.0 - p_here) / np.maximum(p_here, p_other)


def urn(n_a, n_b, lambda_a, lambda_b, steps, *, runs=1000, correction=False, rng, checkpoints=None):
    """Simulate Ensign et al.'s predictive-policing urn, many runs at once.

    Two regions A and B start with ``n_a`` and ``n_b`` balls (historical
    records). Each step one patrol is sent to A with probability
    ``p_A = a / (a + b)``; there it discovers an incident with probability
    ``lambda`` of that region, and a discovered incident adds a ball of that
    colour. With ``correction=True`` a discovered incident is added only with
    probability ``(1 - p_i) / max(p_A, p_B)``, ``p_i`` the chance that the patrol
    was sent there (Ensign et al., FAT* 2018, Section 5).

    Parameters
    ----------
    n_a, n_b : int
        Initial balls (>= 1) in A and B.
    lambda_a, lambda_b : float
        Probability in [0, 1] that a patrol discovers an incident in A, in B.
    steps : int
        Number of patrols (>= 0) per run.
    runs : int, keyword-only
        Number of independent runs (>= 1), simulated together.
    correction : bool, keyword-only
        Apply Ensign et al.'s correction.
    rng : numpy.random.Generator or int, keyword-only
        The source of randomness (an int seeds a new Generator).
    checkpoints : sequence of int, optional
        Steps (each in 0..steps) at which to record the share of A.

    Returns
    -------
    numpy.ndarray
        The share of A, ``a / (a + b)``: shape ``(runs,)`` after ``steps``
        patrols, or ``(len(checkpoints), runs)`` if ``checkpoints`` is given.

    Notes
    -----
    Published behaviours: with ``lambda_a == lambda_b`` this is a Pólya urn and
    the share converges to a random limit distributed Beta(n_a, n_b): history,
    not truth, sets it. With ``lambda_a > lambda_b`` the share of A tends to 1.
    With the correction it converges to ``lambda_a / (lambda_a + lambda_b)``.

    Examples
    --------
    >>> shares = urn(1, 1, 0.3, 0.3, 2_000, runs=5, rng=0)
    >>> shares.shape
    (5,)
    >>> bool(((shares > 0) & (shares < 1)).all())
    True
    """
    n_a = _check_int(n_a, "n_a", minimum=1)
    n_b = _check_int(n_b, "n_b", minimum=1)
    lambda_a = _check_share(lambda_a, "lambda_a")
    lambda_b = _check_share(lambda_b, "lambda_b")
    steps = _check_int(steps, "steps", minimum=0)
    runs = _check_int(runs, "runs", minimum=1)
    if not isinstance(correction, (bool, np.bool_)):
        raise TypeError(f"correction={correction!r}: expected True or False.")
    rng = _generator(rng, "rng")
    if checkpoints is None:
        marks = None
    else:
        marks = [_check_int(c, "checkpoints[...]", minimum=0) for c in checkpoints]
        bad = [c for c in marks if c > steps]
        if bad:
            raise ValueError(f"checkpoints={list(checkpoints)!r}: {bad[0]} is after the last step; "
                             f"expected steps between 0 and steps={steps}.")
    a = np.full(runs, float(n_a))
    b = np.full(runs, float(n_b))
    out = None if marks is None else np.empty((len(marks), runs))
    want = {}
    if marks is not None:
        for i, c in enumerate(marks):
            want.setdefault(c, []).append(i)
        for i in want.get(0, []):
            out[i] = a / (a + b)
    block = max(1, min(steps, 1_000_000 // (2 * runs) or 1))
    done = 0
    while done < steps:
        size = min(block, steps - done)
        u = rng.random((size, 2, runs))
        for k in range(size):
            p = a / (a + b)
            go_a = u[k, 0] < p
            keep = np.where(go_a, lambda_a, lambda_b)
            if correction:
                keep = keep * np.where(go_a, _ensign_weight(p, 1.0 - p), _ensign_weight(1.0 - p, p))
            add = u[k, 1] < keep
            a += go_a & add
            b += ~go_a & add
            step = done + k + 1
            if step in want:
                for i in want[step]:
                    out[i] = a / (a + b)
        done += size
    return a / (a + b) if out is None else out


__all__ = ["urn"]
