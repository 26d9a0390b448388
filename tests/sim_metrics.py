"""Metrics over a simulation history that the tests need but the package must not ship:
per-group rates and the record gap are answers to Lesson 5's exercises."""
import numpy as np
import pandas as pd

from socialcredit.simulate import LOW_RATING
from socialcredit.simulate.environment import _DISTRICT_COLUMNS

_SUMS = ("residents", "true_offences", "recorded_offences", "banned", "loan_denied", "borrowers", "defaults",
         "listed", "total_income", "total_rating", "low_rated")


def _district_level(history):
    """Sum a per-resident history to one row per year, district and group."""
    if not isinstance(history, pd.DataFrame):
        raise TypeError(f"history={type(history).__name__}: expected the DataFrame returned by simulate().")
    if "residents" in history.columns:
        return history
    need = {"year", "district", "hukou", "income", "rating", "has_loan", "defaulted"}
    missing = sorted(need - set(history.columns))
    if missing:
        raise ValueError(f"history lacks the column(s) {missing}; expected the table returned by simulate().")
    h = history.assign(residents=1, borrowers=history["has_loan"], defaults=history["defaulted"],
                       total_income=history["income"], total_rating=history["rating"],
                       low_rated=(history["rating"] < LOW_RATING).astype(np.int64))
    keys = ["year", "district", "hukou"]
    out = h.groupby(keys, sort=False)[list(_SUMS)].sum()
    firsts = h.groupby(keys, sort=False)[["patrol_share", "detection_prob"]].first()
    return out.join(firsts).reset_index()[list(_DISTRICT_COLUMNS)]


def group_rates(history, *, by="hukou"):
    """Per-year rates for each group (or district) from a history table.

    Parameters
    ----------
    history : pandas.DataFrame
        As returned by :func:`simulate` (either level).
    by : str, keyword-only
        ``"hukou"`` (residency group) or ``"district"``.

    Returns
    -------
    pandas.DataFrame
        Indexed by (``year``, ``by``), with ``residents``,
        ``true_offence_rate`` and ``recorded_rate`` (per resident),
        ``detection_rate`` (recorded per true offence; 0 = nothing recorded),
        ``ban_rate``, ``denial_rate``, ``default_rate`` (per borrower),
        ``listed_rate``, ``mean_income``, ``mean_rating`` and ``low_rated_share``.

    Examples
    --------
    >>> toy = pd.DataFrame({"year": [1, 1], "district": ["a", "a"], "hukou": ["local", "migrant"],
    ...     "residents": [10, 5], "true_offences": [4, 2], "recorded_offences": [1, 2],
    ...     "patrol_share": [1.0, 1.0], "detection_prob": [0.5, 0.5], "banned": [1, 2],
    ...     "loan_denied": [0, 1], "borrowers": [5, 4], "defaults": [1, 2], "listed": [0, 1],
    ...     "total_income": [50.0, 20.0], "total_rating": [40.0, 15.0], "low_rated": [2, 3]})
    >>> group_rates(toy).loc[(1, "migrant"), ["detection_rate", "ban_rate", "default_rate"]].tolist()
    [1.0, 0.4, 0.5]
    """
    if by not in ("hukou", "district"):
        raise ValueError(f"by={by!r}: expected 'hukou' or 'district'.")
    h = _district_level(history)
    g = h.groupby(["year", by])[list(_SUMS)].sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        out = pd.DataFrame({
            "residents": g["residents"],
            "true_offence_rate": g["true_offences"] / g["residents"],
            "recorded_rate": g["recorded_offences"] / g["residents"],
            "detection_rate": g["recorded_offences"] / g["true_offences"],
            "ban_rate": g["banned"] / g["residents"],
            "denial_rate": g["loan_denied"] / g["residents"],
            "default_rate": g["defaults"] / g["borrowers"],
            "listed_rate": g["listed"] / g["residents"],
            "mean_income": g["total_income"] / g["residents"],
            "mean_rating": g["total_rating"] / g["residents"],
            "low_rated_share": g["low_rated"] / g["residents"],
        })
    return out


def record_gap(history, *, a="migrant", b="local"):
    """How many times likelier an offence by group ``a`` is recorded than one by ``b``, per year.

    The ratio of the two groups' detection rates (recorded / true offences).
    1 means records track true behaviour equally for both groups; above 1, the
    records over-state group ``a`` relative to ``b``.

    Examples
    --------
    >>> toy = pd.DataFrame({"year": [0, 0], "district": ["a", "b"], "hukou": ["local", "migrant"],
    ...     "residents": [10, 10], "true_offences": [10, 10], "recorded_offences": [2, 6],
    ...     "patrol_share": [0.25, 0.75], "detection_prob": [0.2, 0.6], "banned": [0, 0],
    ...     "loan_denied": [0, 0], "borrowers": [1, 1], "defaults": [0, 0], "listed": [0, 0],
    ...     "total_income": [1.0, 1.0], "total_rating": [1.0, 1.0], "low_rated": [0, 0]})
    >>> round(float(record_gap(toy).loc[0]), 6)
    3.0
    """
    rates = group_rates(history, by="hukou")["detection_rate"].unstack("hukou")
    for g in (a, b):
        if g not in rates.columns:
            raise ValueError(f"group {g!r} is not in the history; expected one of {sorted(rates.columns)}.")
    return (rates[a] / rates[b]).rename("record_gap")
