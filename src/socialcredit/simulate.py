"""Run Lanternport forward, year by year: feedback loops in a toy city.

This module is a **stylised toy model**. It is built to show, in a few lines of
arithmetic, how a scoring system's decisions can feed back into the data that
justify it. It is not a prediction of any real system: it models no real city,
police force, court or credit bureau, and its parameters are invented for
teaching, not estimated. Lanternport is fictional.

Structure (after ml-fairness-gym)
---------------------------------
Environment
    :class:`CityEnvironment` moves the world forward one year given the
    agencies' decisions: incomes, defaults, the court list, true offences,
    detection by patrols, peer ratings. It records raw counts and never
    measures fairness.
Policy
    A plain callable ``policy(observation, rng) -> Decisions``: it sees what
    the agencies see (records, defaults, ratings, never the truth table) and
    decides next year's patrol shares, travel bans and loan denials.
    :class:`ScoringPolicy` is the default; it takes the interventions.
Metrics
    Functions that only read the history table: :func:`patrol_shares`,
    :func:`patrol_truth_distance`. Per-group rates and the record gap are
    exercises of Lesson 5, so the package does not compute them (the tests
    have their own, in ``tests/sim_metrics.py``).

The world and the policy have separate random generators (``world_seed`` and
``policy_seed``); nothing here seeds numpy's global state.

The loops
---------
Each loop has a name in :data:`LOOPS` and can be switched off alone
(``simulate(..., loops=...)``; ``loops=()`` is "no feedback at all"), so that a
gap can be attributed to a mechanism by ablation rather than by assertion.

* **Patrols follow records** (``patrols_follow_records``). A district's patrol share is its share of the
  recorded offences the police keep; an offence is recorded with probability
  ``min(1, budget * patrol_share / population_share)`` (patrols per resident).
  True offence rates depend on age and latent reliability only, never on
  residency status, as in :mod:`socialcredit.world`. With two districts of
  equal size this is exactly the urn of Ensign et al. (2018), simulated on its
  own by :func:`urn`.
* **Sanctions cut income and raise defaults** (``sanctions_cut_income``,
  ``denial_raises_default``). A ban or a loan denial this year cuts this year's
  income (and a denial removes the chance to refinance), so the sanctioned
  default more, which lowers their score next year.
* **Ratings punish the already low-rated** (``ratings_anchor``,
  ``rating_stigma``). Raters see a resident's displayed rating and shade their
  stars towards it, and publicly banned residents lose stars, on top of the
  in-group bias of :mod:`socialcredit.world`.

Not a loop: the score adds up every record and default the agencies keep, year
after year, against fixed cut-offs, so sanctions accumulate even with every
loop off. ``interventions={"forget": 1}`` keeps one year of records only.

Interventions (``interventions=`` of :func:`simulate` / :class:`ScoringPolicy`)
-------------------------------------------------------------------------------
``forget`` : int k >= 1
    The agencies keep only the last k years of records and defaults.
``audit`` : share in [0, 1]
    That share of patrol units is placed at random, each resident equally
    likely to be visited (so in proportion to district population).
``correction`` : bool
    Ensign et al.'s correction: a discovered incident is counted (for patrol
    allocation) with probability ``(1 - p_i) / max(p_A, p_B)``. With two regions
    this equals ``min_k p_k / p_i``; for many districts we use that form, with
    ``p_i`` the patrols per resident of the district (see :func:`urn`).
``appeal`` : share in [0, 1]
    Each ban and each loan denial is overturned with this probability.

Steps a lesson may ask students to write
----------------------------------------
The engine accepts two steps as callables, and the package holds **no public
function** that implements either contract (the defaults are written inline in
the engine, so a notebook cannot call them). A hidden test can check a
student's step by running :func:`simulate` with it and without it on the same
seeds: a correct step gives an identical history.

``allocate(records, population) -> shares``  (``simulate(..., allocate=f)``)
    ``records``: a Series of the recorded offences the police keep, indexed by
    district; ``population``: residents per district (same index). Return next
    year's patrol shares, one per district, non-negative and summing to 1. The
    engine's default gives each district its share of the records, and the
    population shares when there are no records at all.
``update_ratings(displayed, received, *, weight) -> displayed``  (``simulate(..., update_ratings=f)``)
    ``displayed``: last year's displayed ratings (Series, one per resident);
    ``received``: this year's mean stars received, NaN for a resident nobody
    rated. Return the new displayed ratings. The engine's default mixes the two,
    ``(1 - weight) * displayed + weight * received``, and keeps the old rating
    where nobody rated the resident.

The metric functions compute per-group rates (Lesson 3's skills); a lesson that
asks students to compute those by hand should not call them before the exercise.

Examples
--------
>>> from socialcredit.world import generate_world
>>> world = generate_world(n=2_000, seed=3)
>>> history = simulate(world["citizens"], world["truth"], years=3, world_seed=1, policy_seed=2)
>>> sorted(history["year"].unique().tolist())
[0, 1, 2, 3]
>>> bool(patrol_shares(history).sum(axis=1).round(9).eq(1).all())
True
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from .world import DISTRICTS, WorldParams

#: the interventions :class:`ScoringPolicy` understands, and what each value means
INTERVENTIONS = {
    "forget": "keep only the last k years of records (an int k >= 1, or None to keep everything)",
    "audit": "share of patrol units placed uniformly at random over residents (a number in [0, 1])",
    "correction": "Ensign et al.'s correction when counting incidents for patrol allocation (True or False)",
    "appeal": "share of bans and loan denials overturned on appeal (a number in [0, 1])",
}
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
#: largest per-resident history (rows = residents x years) that level="resident" will build
MAX_RESIDENT_ROWS = 5_000_000

_DISTRICT_COLUMNS = ("year", "district", "hukou", "residents", "true_offences", "recorded_offences",
                     "patrol_share", "detection_prob", "banned", "loan_denied", "borrowers", "defaults",
                     "listed", "total_income", "total_rating", "low_rated")
_RESIDENT_COLUMNS = ("year", "resident_id", "district", "hukou", "true_offences", "recorded_offences",
                     "patrol_share", "detection_prob", "banned", "loan_denied", "has_loan", "defaulted",
                     "listed", "income", "rating", "score")
#: a displayed rating below this counts as "low rated" in the history
LOW_RATING = 3.0


# --------------------------------------------------------------------------- validation helpers

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


def _check_positive(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}={value!r}: expected a positive number, got {type(value).__name__}.")
    if not float(value) > 0:
        raise ValueError(f"{name}={value!r}: expected a positive number (> 0).")
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


# --------------------------------------------------------------------------- the Ensign et al. urn

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


# --------------------------------------------------------------------------- parameters

@dataclass(frozen=True)
class SimParams:
    """Strength of each year-to-year mechanism, with its default value.

    The mechanisms already in the world (offence rates, shocks, default odds,
    courts, rating bias) are read from ``world`` (a
    :class:`~socialcredit.world.WorldParams`), so the simulated years follow the
    same story as the generated one. All values are invented for teaching.
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


@dataclass(frozen=True)
class Observation:
    """What the agencies can see at the end of ``year`` (never the truth table).

    Arrays are read-only views of the environment's records: row ``y`` of a
    ``(year + 1, ...)`` array is year ``y`` (year 0 is the generated world).
    """

    year: int
    districts: tuple          # district names, in the order of the district arrays
    population: np.ndarray    # (J,) residents per district
    district: np.ndarray      # (n,) district index of each resident
    hukou: np.ndarray         # (n,) "local" / "migrant" (the registry knows it)
    has_loan: np.ndarray      # (n,) bool
    records: np.ndarray       # (year + 1, n) recorded offences per resident and year
    defaults: np.ndarray      # (year + 1, n) 1 if the resident defaulted that year
    listed: np.ndarray        # (n,) on the court defaulter list after this year
    rating: np.ndarray        # (n,) displayed peer rating
    income: np.ndarray        # (n,) this year's monthly income
    district_records: np.ndarray  # (year + 1, J) recorded offences per district and year
    detection: np.ndarray     # (year + 1, J) patrols per resident, as detection probability


@dataclass(frozen=True)
class Decisions:
    """What a policy decides for the coming year.

    ``patrol_share``: (J,) non-negative, sums to 1. ``ban``, ``deny``: (n,) bool.
    ``score``: (n,) float or None (kept in a per-resident history).
    """

    patrol_share: np.ndarray
    ban: np.ndarray
    deny: np.ndarray
    score: np.ndarray | None = None


def _readonly(a):
    v = a.view()
    v.flags.writeable = False
    return v


def _logistic(x):
    return 1.0 / (1.0 + np.exp(-x))


# --------------------------------------------------------------------------- environment

class CityEnvironment:
    """Lanternport's dynamics: moves the world forward one year at a time.

    The environment never measures fairness: it applies the decisions it is
    given, draws what happens, and keeps the raw counts.

    Parameters
    ----------
    citizens, truth : pandas.DataFrame
        The ``citizens`` and ``truth`` tables of
        :func:`~socialcredit.world.generate_world` (or of ``load``), joined on
        ``resident_id``. They are year 0.
    params : SimParams, optional
        Strength of each mechanism.
    rng : numpy.random.Generator or int, keyword-only
        The world's own randomness (separate from any policy's).
    update_ratings : callable, optional
        A replacement for the rating-update step (see the module docstring).
    keep_residents : bool
        Keep per-resident arrays for ``history(level="resident")``.

    Examples
    --------
    >>> from socialcredit.world import generate_world
    >>> w = generate_world(n=300, seed=1)
    >>> env = CityEnvironment(w["citizens"], w["truth"], rng=0)
    >>> obs = env.observe()
    >>> obs.year, obs.records.shape
    (0, (1, 300))
    >>> d = Decisions(np.full(len(obs.districts), 1 / len(obs.districts)),
    ...               np.zeros(300, bool), np.zeros(300, bool))
    >>> env.step(d).year
    1
    """

    def __init__(self, citizens, truth, *, params=None, rng, update_ratings=None, keep_residents=False):
        p = SimParams() if params is None else params
        if not isinstance(p, SimParams):
            raise TypeError(f"params={p!r}: expected a SimParams instance or None.")
        if update_ratings is not None and not callable(update_ratings):
            raise TypeError(f"update_ratings={update_ratings!r}: expected a function "
                            f"update_ratings(displayed, received, *, weight) or None.")
        self.params = p
        self.rng = _generator(rng, "rng")
        self.update_ratings = update_ratings
        self.keep_residents = bool(keep_residents)
        self._load(citizens, truth)

    # ---- year 0 from the generated world
    def _load(self, citizens, truth):
        for name, frame in (("citizens", citizens), ("truth", truth)):
            if not isinstance(frame, pd.DataFrame):
                raise TypeError(f"{name}={type(frame).__name__}: expected the {name} table as a pandas DataFrame.")
        need_c = {"resident_id", "hukou", "district", "age", "job_sector", "monthly_income", "recorded_offences",
                  "has_loan", "loan_amount", "defaulted", "travel_ban", "mean_rating"}
        need_t = {"resident_id", "reliability", "true_offences", "detection_prob"}
        for name, frame, need in (("citizens", citizens, need_c), ("truth", truth, need_t)):
            missing = sorted(need - set(frame.columns))
            if missing:
                raise ValueError(f"{name} lacks the column(s) {missing}; expected the {name} table "
                                 f"of generate_world or load({name!r}).")
        n = len(citizens)
        if n <= 0:
            raise ValueError(f"citizens has n={n} residents; expected at least 1.")
        ids = citizens["resident_id"].to_numpy()
        t_ids = truth["resident_id"].to_numpy()
        if len(t_ids) == n and (t_ids == ids).all():
            tr = truth
        else:
            tr = truth.drop_duplicates("resident_id").set_index("resident_id").reindex(ids)
            if tr["reliability"].isna().any():
                missing = ids[tr["reliability"].isna().to_numpy()][:3].tolist()
                raise ValueError(f"truth has no row for resident(s) {missing}; expected one per citizen.")
        if pd.Series(ids).duplicated().any():  # hash-based
            raise ValueError("citizens has duplicated resident_id values; expected one row per resident.")

        raw_codes, raw_names = pd.factorize(citizens["district"].astype(str))  # hash-based: linear in n
        present = set(raw_names.tolist())
        order = [d for d in DISTRICTS if d in present] + sorted(present - set(DISTRICTS))
        self.districts = tuple(order)
        J = len(order)
        dist = np.asarray([order.index(d) for d in raw_names], dtype=np.intp)[raw_codes]
        mig = self._flag(citizens["hukou"], "hukou", "migrant", ("local", "migrant"))

        def num(frame, col):
            values = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
            return values

        income = num(citizens, "monthly_income")
        if np.isnan(income).any() or (income <= 0).any():
            raise ValueError("citizens['monthly_income'] has missing or non-positive values; "
                             "expected a positive income for every resident.")
        wp = self.params.world
        self.n, self.J = n, J
        self.ids = ids
        self.dist = dist
        self.hukou = np.where(mig, "migrant", "local").astype(object)
        self.mig = mig
        self.key = dist * 2 + mig  # (district, group) cell of each resident
        self.population = np.bincount(dist, minlength=J).astype(np.int64)
        self.pop_share = self.population / n
        self.cell_residents = np.bincount(self.key, minlength=2 * J).astype(np.int64)
        rel = num(tr, "reliability")
        age = num(citizens, "age")
        self.rate0 = wp.offence_rate_base * np.exp(wp.offence_reliability_effect * rel
                                                   + wp.offence_age_effect * (age - 18) / 10)
        informal = self._flag(citizens["job_sector"], "job_sector", "informal", ("formal", "informal"))
        self.p_shock = np.where(informal, wp.shock_informal, wp.shock_formal)
        self.base_income = income
        self.has_loan = num(citizens, "has_loan") == 1
        self.principal = np.nan_to_num(num(citizens, "loan_amount"), nan=0.0)
        self.logit0 = wp.default_logit_base + wp.default_logit_reliability * rel
        self.rel_stars = wp.rating_base + wp.rating_reliability_effect * rel
        # share of a resident's raters from the same group (homophily by district)
        mig_d = np.bincount(dist, weights=mig, minlength=J) / np.maximum(self.population, 1)
        own_d = np.where(mig, mig_d[dist], 1 - mig_d[dist])
        own_c = np.where(mig, mig.mean(), 1 - mig.mean())
        self.same_share = wp.rating_same_district * own_d + (1 - wp.rating_same_district) * own_c

        # year-0 patrols: the world's detection probability per district (constant within a district)
        det_res = num(tr, "detection_prob")
        det0 = np.bincount(dist, weights=det_res, minlength=J) / np.maximum(self.population, 1)
        budget = self.params.detection_budget
        self.budget = float(det_res.mean()) if budget is None else float(budget)
        share0 = det0 * self.pop_share
        share0 = share0 / share0.sum() if share0.sum() > 0 else self.pop_share.copy()

        rating = num(citizens, "mean_rating")
        fill = float(np.nanmean(rating)) if np.isfinite(rating).any() else wp.rating_base
        rating = np.clip(np.where(np.isnan(rating), fill, rating), 1, 5)
        self.rating_ref = float(rating.mean())

        self.year = 0
        cap = 16
        self._records = np.zeros((cap, n), np.uint8)
        self._defaults = np.zeros((cap, n), np.uint8)
        self._district_records = np.zeros((cap, J), np.int64)
        self._detection = np.zeros((cap, J))
        self._records[0] = np.clip(num(citizens, "recorded_offences"), 0, 255).astype(np.uint8)
        self._defaults[0] = np.nan_to_num(num(citizens, "defaulted"), nan=0.0) == 1
        self._district_records[0] = np.bincount(dist, weights=self._records[0], minlength=J).astype(np.int64)
        self._detection[0] = det0
        self.listed = (num(citizens, "travel_ban") == 1)
        self.rating = rating
        self.income = income.copy()
        self._rows = []   # per year: (2J, k) aggregated counts
        self._resident_rows = []
        self._record_year(true=num(tr, "true_offences").astype(np.int64), share=share0, det=det0,
                          ban=self.listed.copy(), deny=np.zeros(n, bool), defaulted=self._defaults[0].astype(bool),
                          score=None)

    @staticmethod
    def _flag(column, name, yes, allowed):
        """Boolean ``column == yes`` after trimming and lower-casing; other values are an error."""
        codes, uniques = pd.factorize(column.astype(str))
        clean = [str(u).strip().lower() for u in uniques]
        bad = sorted({u for u, c in zip(uniques, clean) if c not in allowed})
        if bad:
            raise ValueError(f"citizens[{name!r}] holds {bad[:3]}; expected one of {list(allowed)} "
                             f"(clean the column first, as in Lesson 1).")
        return np.asarray([c == yes for c in clean], dtype=bool)[codes]

    def _grow(self):
        if self.year + 1 < len(self._records):
            return
        for name in ("_records", "_defaults", "_district_records", "_detection"):
            old = getattr(self, name)
            new = np.zeros((2 * len(old),) + old.shape[1:], old.dtype)
            new[:len(old)] = old
            setattr(self, name, new)

    def _record_year(self, *, true, share, det, ban, deny, defaulted, score):
        """Append this year's raw counts per (district, group) cell; no fairness measure here."""
        J, key, t = self.J, self.key, self.year
        rec = self._records[t]

        def cells(values):
            return np.bincount(key, weights=values, minlength=2 * J)

        cols = np.column_stack([
            cells(true), cells(rec), cells(ban), cells(deny), cells(self.has_loan), cells(defaulted),
            cells(self.listed), cells(self.income), cells(self.rating), cells(self.rating < LOW_RATING),
        ])
        self._rows.append((t, share.copy(), det.copy(), cols))
        if self.keep_residents:
            self._resident_rows.append(dict(
                true_offences=true.astype(np.int64), recorded_offences=rec.astype(np.int64),
                banned=ban.astype(np.int64), loan_denied=deny.astype(np.int64),
                defaulted=defaulted.astype(np.int64), listed=self.listed.astype(np.int64),
                income=self.income.copy(), rating=self.rating.copy(),
                score=np.full(self.n, np.nan) if score is None else np.asarray(score, float).copy(),
                patrol_share=share[self.dist], detection_prob=det[self.dist]))

    def observe(self):
        """What the agencies see now (read-only views)."""
        t = self.year
        return Observation(
            year=t, districts=self.districts, population=_readonly(self.population), district=_readonly(self.dist),
            hukou=_readonly(self.hukou), has_loan=_readonly(self.has_loan),
            records=_readonly(self._records[:t + 1]), defaults=_readonly(self._defaults[:t + 1]),
            listed=_readonly(self.listed), rating=_readonly(self.rating), income=_readonly(self.income),
            district_records=_readonly(self._district_records[:t + 1]), detection=_readonly(self._detection[:t + 1]))

    def _check_decisions(self, d):
        if not isinstance(d, Decisions):
            raise TypeError(f"The policy returned {type(d).__name__}; expected a Decisions(patrol_share, ban, deny).")
        share = np.asarray(d.patrol_share, dtype=float)
        if share.shape != (self.J,):
            raise ValueError(f"patrol_share has shape {share.shape}; expected one share per district ({self.J},).")
        if not np.isfinite(share).all() or (share < 0).any() or abs(share.sum() - 1) > 1e-9:
            raise ValueError(f"patrol_share={np.round(share, 4).tolist()}: expected non-negative shares "
                             f"that sum to 1 (they sum to {share.sum():.6g}).")
        out = []
        for name in ("ban", "deny"):
            a = np.asarray(getattr(d, name))
            if a.shape != (self.n,) or a.dtype != bool:
                raise ValueError(f"{name} has shape {a.shape} and dtype {a.dtype}; expected a bool array "
                                 f"with one value per resident ({self.n},).")
            out.append(a)
        return share, out[0], out[1]

    def step(self, decisions):
        """Apply ``decisions`` for the coming year and draw what happens; returns the new observation."""
        share, ban, deny = self._check_decisions(decisions)
        p, wp, rng, n = self.params, self.params.world, self.rng, self.n
        self._grow()
        self.year += 1
        t = self.year
        # incomes: a yearly wobble, shocks, and the cost of sanctions
        shock = rng.random(n) < self.p_shock
        z = rng.standard_normal(n)
        sd = p.income_year_sd
        self.income = (self.base_income * np.exp(sd * z - sd * sd / 2)
                       * (1 - p.shock_income_cut * shock) * (1 - p.ban_income_cut * ban)
                       * (1 - p.denial_income_cut * deny))
        # defaults: shock, debt burden at this year's income, reliability, no refinancing when denied
        ratio = (self.principal / 36.0) / self.income
        debt = np.where(ratio >= wp.debt_band_cuts[1], wp.default_logit_debt[2],
                        np.where(ratio >= wp.debt_band_cuts[0], wp.default_logit_debt[1], wp.default_logit_debt[0]))
        logit = self.logit0 + wp.default_logit_shock * shock + debt + p.denial_default_logit * deny
        defaulted = self.has_loan & (rng.random(n) < _logistic(logit))
        outstanding = self.principal * (0.3 + 0.6 * rng.random(n))
        self.listed = defaulted & (outstanding > wp.court_threshold) & (rng.random(n) < wp.court_sue_prob)
        # offences: age and reliability only; recorded where patrols are
        true = rng.poisson(self.rate0 * np.exp(wp.offence_age_effect * t / 10))
        det = np.minimum(1.0, self.budget * share / np.maximum(self.pop_share, 1e-300))
        det[self.population == 0] = 0.0
        rec = rng.binomial(true, det[self.dist])
        self._records[t] = np.minimum(rec, 255)
        self._defaults[t] = defaulted
        self._district_records[t] = np.bincount(self.dist, weights=rec, minlength=self.J).astype(np.int64)
        self._detection[t] = det
        # peer ratings: in-group bias, anchoring on the displayed rating, stigma of a public ban
        k = rng.poisson(wp.ratings_per_resident, n)
        same = rng.binomial(k, self.same_share)
        z = rng.standard_normal(n)
        kk = np.maximum(k, 1)
        stars = (self.rel_stars + wp.rating_in_group_bonus * same / kk
                 + p.rating_anchor * (self.rating - self.rating_ref) - p.rating_stigma * ban
                 + wp.rating_noise_sd * z / np.sqrt(kk))
        received = np.where(k > 0, np.clip(stars, 1, 5), np.nan)
        if self.update_ratings is None:
            w = p.rating_weight
            new = np.where(k > 0, (1 - w) * self.rating + w * received, self.rating)
        else:
            new = self._student_ratings(received)
        self.rating = new
        self._record_year(true=true, share=share, det=det, ban=ban, deny=deny, defaulted=defaulted,
                          score=decisions.score)
        return self.observe()

    def _student_ratings(self, received):
        out = self.update_ratings(pd.Series(self.rating, name="displayed"), pd.Series(received, name="received"),
                                  weight=self.params.rating_weight)
        if out is None:
            raise TypeError("update_ratings returned None; expected the new displayed ratings "
                            "(did you forget to `return`?).")
        new = np.asarray(out, dtype=float).reshape(-1)
        if new.shape != (self.n,):
            raise ValueError(f"update_ratings returned {new.shape[0]} values; expected one per resident ({self.n}).")
        if not np.isfinite(new).all():
            i = int(np.flatnonzero(~np.isfinite(new))[0])
            raise ValueError(f"update_ratings returned {new[i]} for resident {i} (received={received[i]}); "
                             f"expected a number for everyone. Residents nobody rated have received=NaN.")
        if (new < 1 - 1e-9).any() or (new > 5 + 1e-9).any():
            raise ValueError(f"update_ratings returned values from {new.min():.3g} to {new.max():.3g}; "
                             f"expected ratings on the 1 to 5 star scale.")
        return new

    # ---- the history table
    def history(self, level="district"):
        """The recorded years as a tidy table.

        Parameters
        ----------
        level : {"district", "resident"}
            ``"district"``: one row per year, district and residency group,
            with counts (``residents``, ``true_offences``, ``recorded_offences``,
            ``banned``, ``loan_denied``, ``borrowers``, ``defaults``, ``listed``,
            ``low_rated``), sums (``total_income``, ``total_rating``) and the
            district's ``patrol_share`` and ``detection_prob``.
            ``"resident"``: one row per resident and year (needs
            ``keep_residents=True``).
        """
        if level == "district":
            return self._district_frame()
        if level == "resident":
            if not self.keep_residents:
                raise ValueError("level='resident' needs CityEnvironment(..., keep_residents=True).")
            return self._resident_frame()
        raise ValueError(f"level={level!r}: expected 'district' or 'resident'.")

    def _district_frame(self):
        J = self.J
        cells = np.arange(2 * J)
        keep = self.cell_residents > 0
        frames = []
        names = np.asarray(self.districts, dtype=object)
        for t, share, det, cols in self._rows:
            d = cells // 2
            frames.append(pd.DataFrame({
                "year": np.full(keep.sum(), t, np.int64),
                "district": names[d[keep]],
                "hukou": np.where(cells[keep] % 2 == 1, "migrant", "local").astype(object),
                "residents": self.cell_residents[keep],
                "true_offences": cols[keep, 0].round().astype(np.int64),
                "recorded_offences": cols[keep, 1].round().astype(np.int64),
                "patrol_share": share[d[keep]],
                "detection_prob": det[d[keep]],
                "banned": cols[keep, 2].round().astype(np.int64),
                "loan_denied": cols[keep, 3].round().astype(np.int64),
                "borrowers": cols[keep, 4].round().astype(np.int64),
                "defaults": cols[keep, 5].round().astype(np.int64),
                "listed": cols[keep, 6].round().astype(np.int64),
                "total_income": cols[keep, 7],
                "total_rating": cols[keep, 8],
                "low_rated": cols[keep, 9].round().astype(np.int64),
            }))
        out = pd.concat(frames, ignore_index=True)
        out["district"] = out["district"].astype(str)
        out["hukou"] = out["hukou"].astype(str)
        return out[list(_DISTRICT_COLUMNS)]

    def _resident_frame(self):
        T = len(self._resident_rows)
        n = self.n
        names = np.asarray(self.districts, dtype=object)
        data = {
            "year": np.repeat(np.arange(T, dtype=np.int64), n),
            "resident_id": np.tile(np.asarray(self.ids, dtype=object), T),
            "district": np.tile(names[self.dist], T),
            "hukou": np.tile(np.where(self.mig, "migrant", "local").astype(object), T),
            "has_loan": np.tile(self.has_loan.astype(np.int64), T),
        }
        for col in _RESIDENT_COLUMNS:
            if col not in data:
                data[col] = np.concatenate([r[col] for r in self._resident_rows])
        out = pd.DataFrame(data)[list(_RESIDENT_COLUMNS)]
        for col in ("resident_id", "district", "hukou"):
            out[col] = out[col].astype(str)
        return out


# --------------------------------------------------------------------------- policy

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
        ``allocate(records, population) -> shares`` (see the module docstring).
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


# --------------------------------------------------------------------------- running it

def simulate(citizens, truth, *, years=10, loops=None, policy=None, interventions=None, allocate=None,
             update_ratings=None, world_seed=0, policy_seed=1, params=None, level="district"):
    """Run Lanternport forward ``years`` years under a policy; return the history.

    Parameters
    ----------
    citizens, truth : pandas.DataFrame
        Year 0: the ``citizens`` and ``truth`` tables of the generated world.
    years : int, keyword-only
        Years to simulate (>= 1).
    loops : iterable of str or None, keyword-only
        Which feedback loops stay on, by name from :data:`LOOPS`. ``None``
        (default): all of them. ``()``: none, so records still add up year
        after year against fixed cut-offs but nothing feeds back.
        ``("ratings_anchor",)``: only that one. A loop that is off:

        ``patrols_follow_records``
            patrol shares stay at their year-0 shares (an ``allocate=`` step,
            if given, replaces the patrol rule whether this loop is on or off:
            ``loops=(), allocate=per_capita`` is "no feedback, patrols per
            resident"; with your own ``policy=`` this loop must stay on, switch
            it off in the policy instead: ``ScoringPolicy(patrols_follow_records=False)``).
        ``sanctions_cut_income``
            a ban or a loan denial costs no income
            (``SimParams.ban_income_cut`` and ``denial_income_cut`` are 0).
        ``denial_raises_default``
            a denial does not raise the odds of default (``denial_default_logit`` 0).
        ``ratings_anchor``
            raters do not shade their stars towards the displayed rating (``rating_anchor`` 0).
        ``rating_stigma``
            a public ban costs no stars (``rating_stigma`` 0).

        These override the same fields of ``params``. Records kept one year
        only is an intervention, not a loop: ``interventions={"forget": 1}``.
    policy : callable, optional
        ``policy(observation, rng) -> Decisions``. Defaults to
        ``ScoringPolicy(interventions=interventions, allocate=allocate,
        patrols_follow_records=...)`` (from ``loops``).
    interventions : dict, optional
        ``forget``, ``audit``, ``correction``, ``appeal`` (see
        :data:`INTERVENTIONS`); only with the default policy.
    allocate : callable, optional
        A patrol-allocation step ``allocate(records, population) -> shares``;
        only with the default policy.
    update_ratings : callable, optional
        A rating-update step ``update_ratings(displayed, received, *, weight)``.
    world_seed, policy_seed : int or numpy.random.Generator
        Separate seeds for the world's dynamics and for the policy's own
        randomness (audits, appeals, the correction's coin flips).
    params : SimParams, optional
        Strength of each mechanism.
    level : {"district", "resident"}
        One row per year, district and group (any size), or one per resident
        and year (at most :data:`MAX_RESIDENT_ROWS` rows).

    Returns
    -------
    pandas.DataFrame
        Years 0 (the generated world) to ``years``; see
        :meth:`CityEnvironment.history` for the columns.

    Examples
    --------
    >>> from socialcredit.world import generate_world
    >>> w = generate_world(n=1_000, seed=5)
    >>> h = simulate(w["citizens"], w["truth"], years=2, interventions={"audit": 0.3})
    >>> int(h.loc[h["year"] == 0, "residents"].sum())
    1000
    >>> no_feedback = simulate(w["citizens"], w["truth"], years=2, loops=())
    >>> only_ratings = simulate(w["citizens"], w["truth"], years=2, loops=["ratings_anchor", "rating_stigma"])
    """
    years = _check_int(years, "years", minimum=1)
    on = check_loops(loops)
    params = loop_params(params, on) if loops is not None else params
    if level not in ("district", "resident"):
        raise ValueError(f"level={level!r}: expected 'district' or 'resident'.")
    if level == "resident" and len(citizens) * (years + 1) > MAX_RESIDENT_ROWS:
        raise ValueError(f"level='resident' with {len(citizens):,} residents x {years + 1} years would build "
                         f"{len(citizens) * (years + 1):,} rows; expected at most {MAX_RESIDENT_ROWS:,}. "
                         f"Use level='district' (same numbers, summed per district and group).")
    world_rng = _generator(world_seed, "world_seed")
    policy_rng = _generator(policy_seed, "policy_seed")
    if world_rng is policy_rng:
        raise ValueError("world_seed and policy_seed are the same Generator; expected separate generators "
                         "(or int seeds), so that the policy's randomness cannot shift the world's.")
    if policy is None:
        policy = ScoringPolicy(interventions=interventions, allocate=allocate,
                               patrols_follow_records="patrols_follow_records" in on)
    else:
        if "patrols_follow_records" not in on:
            raise ValueError("loops= leaves out 'patrols_follow_records', but patrols belong to the policy and "
                             "you passed your own policy=; switch the loop off there instead "
                             "(e.g. ScoringPolicy(patrols_follow_records=False)) and keep it in loops=.")
        if interventions is not None or allocate is not None:
            raise ValueError("interventions= and allocate= configure the default policy; with your own policy, "
                             "pass them to it instead (e.g. ScoringPolicy(interventions=...)).")
        if not callable(policy):
            raise TypeError(f"policy={policy!r}: expected a function policy(observation, rng) -> Decisions.")
        if hasattr(policy, "reset"):
            policy.reset()
    env = CityEnvironment(citizens, truth, params=params, rng=world_rng, update_ratings=update_ratings,
                          keep_residents=(level == "resident"))
    obs = env.observe()
    for _ in range(years):
        obs = env.step(policy(obs, policy_rng))
    return env.history(level)


# --------------------------------------------------------------------------- metrics (read the history only)

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


__all__ = ["INTERVENTIONS", "LOOPS", "MAX_RESIDENT_ROWS", "LOW_RATING", "SimParams", "Observation", "Decisions",
           "CityEnvironment", "ScoringPolicy", "check_interventions", "check_loops", "loop_params", "urn", "simulate",
           "patrol_shares", "patrol_truth_distance"]
