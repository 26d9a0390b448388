"""Metrics that only read a history table (after ml-fairness-gym's metrics).

Per-group rates and the record gap are exercises of Lesson 5, so they are not
here (the tests have their own, in ``tests/sim_metrics.py``).
"""
from __future__ import annotations

import pandas as pd

def patrol_shares(history):
    """Patrol share of each district per year: a (year x district) table whose rows sum to 1.

    Examples
    --------
    >>> toy = pd.DataFrame({"year": [0, 0, 0], "district": ["a", "a", "b"], "patrol_share": [0.3, 0.3, 0.7]})
    >>> patrol_shares(toy).loc[0].tolist()
    [0.3, 0.7]
    """
    if not isinstance(history, pd.DataFrame) or not {"year", "district", "patrol_share"} <= set(history.columns):
        raise ValueError("history: expected the DataFrame returned by simulate(), with year, district, patrol_share.")
    return history.groupby(["year", "district"])["patrol_share"].first().unstack("district")


def patrol_truth_distance(history):
    """Per year, how far patrols are from where offences truly happen (0 = exactly there, 1 = nowhere near).

    The total-variation distance ``0.5 * sum_j |patrol_share_j - true_share_j|``,
    where ``true_share_j`` is district j's share of the city's true offences.

    Examples
    --------
    >>> toy = pd.DataFrame({"year": [0, 0], "district": ["a", "b"], "hukou": ["local", "local"],
    ...     "patrol_share": [0.8, 0.2], "true_offences": [5, 5]})
    >>> round(float(patrol_truth_distance(toy).loc[0]), 6)
    0.3
    """
    shares = patrol_shares(history)
    if "true_offences" not in history.columns:
        raise ValueError("history lacks true_offences; expected the DataFrame returned by simulate().")
    true = history.groupby(["year", "district"])["true_offences"].sum().unstack("district")
    true = true.div(true.sum(axis=1), axis=0)
    return (0.5 * (shares - true).abs().sum(axis=1)).rename("patrol_truth_distance")


__all__ = ["patrol_shares", "patrol_truth_distance"]
