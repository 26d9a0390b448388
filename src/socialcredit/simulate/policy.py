"""The policy: what the agencies decide each year from what they can see (after ml-fairness-gym's agents).

A policy is a plain callable ``policy(observation, rng) -> Decisions``.
:class:`ScoringPolicy` is the default (patrols follow records, a point score
sanctions) and takes the interventions of :data:`INTERVENTIONS`.
"""
from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from ._checks import _check_int, _check_share
from .environment import Decisions

#: the interventions :class:`ScoringPolicy` understands, and what each value means
INTERVENTIONS = {
    "forget": "keep only the last k years of records (an int k >= 1, or None to keep everything)",
    "audit": "share of patrol units placed uniformly at random over residents (a number in [0, 1])",
    "correction": "Ensign et al.'s correction when counting incidents for patrol allocation (True or False)",
    "appeal": "share of bans and loan denials overturned on appeal (a number in [0, 1])",
}


def check_interventions(interventions):
    """Validate interventions and fill in the ones not named.

    Parameters
    ----------
    interventions : dict or None
        Keys from :data:`INTERVENTIONS` (``forget``, ``audit``, ``correction``,
        ``appeal``); ``None`` or ``{}`` means no intervention.

    Returns
    -------
    dict
        All four keys: ``forget`` (int or None), ``audit`` (float),
        ``correction`` (bool), ``appeal`` (float).

    Examples
    --------
    >>> check_interventions({"audit": 0.2})
    {'forget': None, 'audit': 0.2, 'correction': False, 'appeal': 0.0}
    """
    out = {"forget": None, "audit": 0.0, "correction": False, "appeal": 0.0}
    if interventions is None:
        return out
    if not isinstance(interventions, dict):
        raise TypeError(f"interventions={interventions!r}: expected a dict such as {{'audit': 0.2, 'forget': 3}}, "
                        f"got {type(interventions).__name__}.")
    for name, value in interventions.items():
        if name not in INTERVENTIONS:
            known = "; ".join(f"{k!r}: {v}" for k, v in INTERVENTIONS.items())
            raise ValueError(f"Unknown intervention {name!r}. Expected one of: {known}.")
        if name == "forget":
            out[name] = None if value is None else _check_int(value, "interventions['forget']", minimum=1)
        elif name == "correction":
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"interventions['correction']={value!r}: expected True or False.")
            out[name] = bool(value)
        else:
            out[name] = _check_share(value, f"interventions[{name!r}]")
    return out


class ScoringPolicy:
    """The agencies' default policy: patrols follow records, a point score sanctions.

    Each year the policy (1) adds the year's recorded incidents to its patrol
    database (each counted with Ensign et al.'s probability under
    ``correction``), (2) allocates next year's patrols with the ``allocate``
    step over the records it keeps (mixed with random audit patrols), and
    (3) scores every resident
    ``base_points + per_record * records + per_default * defaults + per_star * (rating - 3.5)``
    (records and defaults over the years it keeps), bans residents on the court
    list or scoring below ``ban_below``, and denies loans below ``deny_below``;
    (4) under ``appeal`` a share of the sanctions is overturned.

    Parameters
    ----------
    interventions : dict, optional
        See :data:`INTERVENTIONS`.
    allocate : callable, optional
        ``allocate(records, population) -> shares`` (see :mod:`socialcredit.simulate`).
        It replaces the patrol rule, whatever ``patrols_follow_records`` says.
    patrols_follow_records : bool
        The first loop. ``True`` (default): the patrol rule allocates by the
        records kept. ``False``: patrols stay at their year-0 shares (the
        world's own patrols, ``detection[0] * population`` normalised), so new
        records never move them; audits, if any, are still mixed in.
    score : callable, optional
        ``score(residents) -> scores``: a per-resident DataFrame with columns
        ``district``, ``hukou``, ``recorded_offences``, ``defaults``,
        ``mean_rating``, ``monthly_income``, ``listed`` in, one number per row out.
        Replaces the point score.
    ban_below, deny_below : float
        Score cut-offs for a travel ban and for a loan denial.
    patrol_units : int
        Patrol units in the city; ``audit`` places ``round(audit * patrol_units)``
        of them at random.

    Examples
    --------
    >>> policy = ScoringPolicy(interventions={"forget": 3, "appeal": 0.2})
    >>> policy.interventions["forget"]
    3
    """

    def __init__(self, *, interventions=None, allocate=None, score=None, base_points=1000.0, per_record=-25.0,
                 per_default=-60.0, per_star=100.0, ban_below=780.0, deny_below=880.0, patrol_units=1000,
                 patrols_follow_records=True):
        self.interventions = check_interventions(interventions)
        if not isinstance(patrols_follow_records, (bool, np.bool_)):
            raise TypeError(f"patrols_follow_records={patrols_follow_records!r}: expected True or False.")
        self.patrols_follow_records = bool(patrols_follow_records)
        for name, f, contract in (("allocate", allocate, "allocate(records, population)"),
                                  ("score", score, "score(residents)")):
            if f is not None and not callable(f):
                raise TypeError(f"{name}={f!r}: expected a function {contract} or None.")
        self.allocate = allocate
        self.score = score
        for name in ("base_points", "per_record", "per_default", "per_star", "ban_below", "deny_below"):
            value = locals()[name]
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
                raise TypeError(f"{name}={value!r}: expected a finite number.")
        self.base_points, self.per_record, self.per_default = float(base_points), float(per_record), float(per_default)
        self.per_star, self.ban_below, self.deny_below = float(per_star), float(ban_below), float(deny_below)
        self.patrol_units = _check_int(patrol_units, "patrol_units", minimum=1)
        self.reset()

    def reset(self):
        """Forget the patrol database (call before a new run)."""
        self._counted = []

    def _allocate(self, records, population, districts):
        if self.allocate is None:
            total = records.sum()
            raw = records / total if total > 0 else population / population.sum()
        else:
            out = self.allocate(pd.Series(records, index=list(districts), name="records"),
                                pd.Series(population, index=list(districts), name="residents"))
            raw = self._check_allocation(out, records, districts)
        return raw / raw.sum()

    @staticmethod
    def _check_allocation(out, records, districts):
        if out is None:
            raise TypeError("allocate returned None; expected one patrol share per district "
                            "(did you forget to `return`?).")
        if isinstance(out, pd.Series):
            if set(out.index) != set(districts):
                raise ValueError(f"allocate returned a Series indexed by {list(out.index)[:4]}...; "
                                 f"expected one share per district, indexed like `records`.")
            out = out.reindex(list(districts))
        raw = np.asarray(out, dtype=float).reshape(-1)
        if raw.shape != (len(districts),):
            raise ValueError(f"allocate returned {raw.shape[0]} values; expected one per district ({len(districts)}).")
        if not np.isfinite(raw).all() or (raw < 0).any() or abs(raw.sum() - 1) > 1e-6:
            hint = " (every district had zero records this time)" if records.sum() == 0 else ""
            raise ValueError(f"allocate returned {np.round(raw, 4).tolist()}{hint}; "
                             f"expected non-negative shares that sum to 1.")
        return raw

    def __call__(self, obs, rng):
        """Decide the coming year from ``obs`` (an :class:`Observation`) with ``rng``."""
        iv = self.interventions
        t = obs.year
        if len(self._counted) > t:
            raise RuntimeError(f"This policy already saw year {t}; call policy.reset() before a new run.")
        while len(self._counted) <= t:   # the agency's patrol database, one row per year
            y = len(self._counted)
            rec = obs.district_records[y]
            if iv["correction"]:
                d = obs.detection[y]
                dmin = d[d > 0].min() if (d > 0).any() else 0.0
                w = np.where(d > 0, dmin / np.where(d > 0, d, 1.0), 0.0)
                rec = rng.binomial(rec, np.clip(w, 0.0, 1.0))
            self._counted.append(np.asarray(rec, dtype=np.int64))
        lo = 0 if iv["forget"] is None else max(0, t + 1 - iv["forget"])
        kept = np.sum(self._counted[lo:t + 1], axis=0).astype(float)
        pop = np.asarray(obs.population, dtype=float)
        if self.patrols_follow_records or self.allocate is not None:
            share = self._allocate(kept, pop, obs.districts)
        else:  # the loop is off: the year-0 patrols, whatever the records say
            share = np.asarray(obs.detection[0], dtype=float) * pop
            share = share / share.sum() if share.sum() > 0 else pop / pop.sum()
        if iv["audit"] > 0:
            units = int(round(iv["audit"] * self.patrol_units))
            random_part = rng.multinomial(units, pop / pop.sum()) / self.patrol_units
            share = (1 - units / self.patrol_units) * share + random_part
        # the score over the records the agencies keep
        records = obs.records[lo:t + 1].sum(axis=0, dtype=np.int64)
        defaults = obs.defaults[lo:t + 1].sum(axis=0, dtype=np.int64)
        if self.score is None:
            s = (self.base_points + self.per_record * records + self.per_default * defaults
                 + self.per_star * (obs.rating - 3.5))
        else:
            frame = pd.DataFrame({
                "district": pd.Categorical.from_codes(obs.district, categories=list(obs.districts)),
                "hukou": pd.Categorical(obs.hukou, categories=["local", "migrant"]),
                "recorded_offences": records, "defaults": defaults, "mean_rating": obs.rating,
                "monthly_income": obs.income, "listed": obs.listed.astype(np.int64)})
            out = self.score(frame)
            s = np.asarray(out, dtype=float).reshape(-1)
            if s.shape != (len(frame),) or not np.isfinite(s).all():
                raise ValueError(f"score returned shape {s.shape} with non-finite values or the wrong length; "
                                 f"expected one finite score per resident ({len(frame)}).")
        ban = np.asarray(obs.listed, bool) | (s < self.ban_below)
        deny = s < self.deny_below
        if iv["appeal"] > 0:
            ban = ban & ~(rng.random(len(ban)) < iv["appeal"])
            deny = deny & ~(rng.random(len(deny)) < iv["appeal"])
        return Decisions(patrol_share=share, ban=ban, deny=deny, score=s)


__all__ = ["INTERVENTIONS", "check_interventions", "ScoringPolicy"]
