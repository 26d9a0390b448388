"""Run Lanternport forward, year by year: feedback loops in a toy city.

This module is a **stylised toy model**. It is built to show, in a few lines of
arithmetic, how a scoring system's decisions can feed back into the data that
justify it. It is not a prediction of any real system: it models no real city,
police force, court or credit bureau, and its parameters are invented for
teaching, not estimated. Lanternport is fictional.

Structure (after ml-fairness-gym)
---------------------------------
One module per part; everything below is importable from
``socialcredit.simulate`` itself.

``environment`` (:class:`CityEnvironment`, :class:`Observation`, :class:`Decisions`)
    Moves the world forward one year given the agencies' decisions: incomes,
    defaults, the court list, true offences, detection by patrols, peer
    ratings. It records raw counts and never measures fairness.
``policy`` (:class:`ScoringPolicy`, :data:`INTERVENTIONS`)
    A policy is a plain callable ``policy(observation, rng) -> Decisions``: it
    sees what the agencies see (records, defaults, ratings, never the truth
    table) and decides next year's patrol shares, travel bans and loan
    denials. :class:`ScoringPolicy` is the default; it takes the interventions.
``metrics`` (:func:`patrol_shares`, :func:`patrol_truth_distance`)
    Functions that only read the history table. Per-group rates and the
    record gap are exercises of Lesson 5, so the package does not compute
    them (the tests have their own, in ``tests/sim_metrics.py``).
``params`` (:class:`SimParams`, :data:`LOOPS`, :func:`check_loops`, :func:`loop_params`)
    The strength of each mechanism and the switches of the loops.
``run`` (:func:`simulate`)
    The environment under a policy for some years; returns the history.
``ensign_urn`` (:func:`urn`)
    Ensign et al.'s two-region urn, on its own.

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

from .ensign_urn import urn
from .environment import LOW_RATING, CityEnvironment, Decisions, Observation
from .metrics import patrol_shares, patrol_truth_distance
from .params import LOOPS, SimParams, check_loops, loop_params
from .policy import INTERVENTIONS, ScoringPolicy, check_interventions
from .run import MAX_RESIDENT_ROWS, simulate

__all__ = ["INTERVENTIONS", "LOOPS", "MAX_RESIDENT_ROWS", "LOW_RATING", "SimParams", "Observation", "Decisions",
           "CityEnvironment", "ScoringPolicy", "check_interventions", "check_loops", "loop_params", "urn", "simulate",
           "patrol_shares", "patrol_truth_distance"]
