"""The strength of each mechanism (:class:`SimParams`) and the switches of the feedback loops (:data:`LOOPS`).

Every value is invented for teaching. A loop that is switched off sets the
parameters that carry it to 0 (:func:`loop_params`), except
``patrols_follow_records``, which belongs to the policy
(:class:`~socialcredit.simulate.policy.ScoringPolicy`).
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass, field, replace

from ..world import WorldParams
from ._checks import _check_share

#: the feedback mechanisms, each a switch of :func:`simulate` (``loops=``); see :func:`check_loops`
LOOPS = ("patrols_follow_records", "sanctions_cut_income", "denial_raises_default", "ratings_anchor",
         "rating_stigma")
#: the SimParams fields each loop sets to 0 when it is switched off (patrols are the policy's, not a parameter)
_LOOP_PARAMS = {
    "sanctions_cut_income": ("ban_income_cut", "denial_income_cut"),
    "denial_raises_default": ("denial_default_logit",),
    "ratings_anchor": ("rating_anchor",),
    "rating_stigma": ("rating_stigma",),
}


@dataclass(frozen=True)
class SimParams:
    """Strength of each year-to-year mechanism, with its default value.

    The mechanisms already in the world (offence rates, shocks, default odds,
    courts, rating bias) are read from ``world`` (a
    :class:`~socialcredit.world.WorldParams`), so the simulated years follow the
    same story as the generated one. All values are invented for teaching.

    The loops' strengths (``ban_income_cut``, ``denial_income_cut``,
    ``denial_default_logit``, ``rating_anchor``, ``rating_stigma``) are also
    what :func:`loop_params` sets to 0 when ``simulate(..., loops=...)``
    switches their loop off.

    Examples
    --------
    >>> SimParams().rating_anchor
    0.5
    >>> SimParams(rating_anchor=1.0)
    Traceback (most recent call last):
    ...
    ValueError: rating_anchor=1.0: expected a number in [0, 1) (1 or more makes ratings run away without limit).
    """

    #: the world's own parameters (offences, shocks, default odds, courts, ratings)
    world: WorldParams = field(default_factory=WorldParams)
    #: share of offences the police would record if patrols were spread evenly per
    #: resident; None takes the world's own mean detection probability
    detection_budget: float | None = None
    #: year-to-year spread of income (sd of log income)
    income_year_sd: float = 0.10
    #: share of a year's income lost in an income shock
    shock_income_cut: float = 0.30
    #: share of income lost while banned from travel (work that needs trains or flights)
    ban_income_cut: float = 0.15
    #: share of income lost while denied loans (no working capital)
    denial_income_cut: float = 0.10
    #: added to the log-odds of default while denied loans (no refinancing)
    denial_default_logit: float = 0.5
    #: how far raters shade their stars towards the displayed rating (0 = not at all)
    rating_anchor: float = 0.5
    #: stars a publicly banned resident loses from each rater
    rating_stigma: float = 0.4
    #: weight of this year's stars in the displayed rating
    rating_weight: float = 0.5

    def __post_init__(self):
        if not isinstance(self.world, WorldParams):
            raise TypeError(f"world={self.world!r}: expected a WorldParams instance.")
        if self.detection_budget is not None:
            _check_share(self.detection_budget, "detection_budget")
        for name in ("shock_income_cut", "ban_income_cut", "denial_income_cut", "rating_weight"):
            _check_share(getattr(self, name), name)
        for name in ("rating_anchor", "rating_stigma", "income_year_sd"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
                raise ValueError(f"{name}={value!r}: expected a non-negative number.")
        if self.rating_anchor >= 1:
            raise ValueError(f"rating_anchor={self.rating_anchor!r}: expected a number in [0, 1) "
                             f"(1 or more makes ratings run away without limit).")


def check_loops(loops):
    """Validate a choice of feedback loops; return the names that stay on.

    Parameters
    ----------
    loops : iterable of str or None
        Names from :data:`LOOPS`. ``None`` keeps every loop on (the default
        model); ``()`` switches every loop off; otherwise only the named loops
        stay on. Order and repeats do not matter.

    Returns
    -------
    frozenset of str
        The loops that stay on.

    Raises
    ------
    TypeError
        If ``loops`` is a single string (write ``("ratings_anchor",)``, not
        ``"ratings_anchor"``), a dict, not iterable, or holds something other
        than strings.
    ValueError
        If a name is not in :data:`LOOPS`.

    Examples
    --------
    >>> sorted(check_loops(["rating_stigma", "ratings_anchor"]))
    ['rating_stigma', 'ratings_anchor']
    >>> check_loops(()) == frozenset()
    True
    >>> check_loops(None) == frozenset(LOOPS)
    True
    """
    if loops is None:
        return frozenset(LOOPS)
    if isinstance(loops, (str, bytes)):
        raise TypeError(f"loops={loops!r}: expected a collection of loop names, such as ({loops!r},) or "
                        f"[{loops!r}], not a single string. The loops are {', '.join(LOOPS)}.")
    if isinstance(loops, dict):
        raise TypeError(f"loops={loops!r}: expected a collection of the names that stay on, not a dict; "
                        f"e.g. loops=set(LOOPS) - {{'rating_stigma'}}. The loops are {', '.join(LOOPS)}.")
    try:
        names = list(loops)
    except TypeError:
        raise TypeError(f"loops={loops!r}: expected None (every loop on) or a collection of names from "
                        f"{LOOPS}, got {type(loops).__name__}.") from None
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"loops holds {name!r} ({type(name).__name__}); expected loop names (strings) "
                            f"from {LOOPS}.")
        if name not in LOOPS:
            raise ValueError(f"Unknown loop {name!r} in loops=; expected names from {LOOPS}.")
    return frozenset(names)


def loop_params(params, loops):
    """``params`` with the strength of every loop that is off set to 0.

    Parameters
    ----------
    params : SimParams or None
        The mechanisms' strengths (``None``: the defaults).
    loops : iterable of str or None
        The loops that stay on (see :func:`check_loops`).

    Returns
    -------
    SimParams
        The same object if no parameter changes, else a copy with the fields
        of the switched-off loops at 0 (``patrols_follow_records`` belongs to
        the policy and changes no parameter).

    Examples
    --------
    >>> p = loop_params(None, ["ratings_anchor"])
    >>> p.rating_anchor, p.rating_stigma, p.ban_income_cut, p.denial_default_logit
    (0.5, 0.0, 0.0, 0.0)
    """
    p = SimParams() if params is None else params
    if not isinstance(p, SimParams):
        raise TypeError(f"params={p!r}: expected a SimParams instance or None.")
    on = check_loops(loops)
    off = {f: 0.0 for name, fields in _LOOP_PARAMS.items() if name not in on for f in fields}
    return replace(p, **off) if off else p


__all__ = ["LOOPS", "SimParams", "check_loops", "loop_params"]
