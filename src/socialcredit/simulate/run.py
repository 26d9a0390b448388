"""Run the environment under a policy for some years: :func:`simulate`."""
from __future__ import annotations

from ._checks import _check_int, _generator
from .environment import CityEnvironment
from .params import check_loops, loop_params
from .policy import ScoringPolicy

#: largest per-resident history (rows = residents x years) that level="resident" will build
MAX_RESIDENT_ROWS = 5_000_000


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
            patrol shares stay at their year-0 shares, whatever the records
            say. A given ``allocate=`` step is the patrol rule either way, so
            ``loops=(), allocate=per_capita`` means "no feedback, patrols per
            resident". With your own ``policy=``, keep this loop in ``loops``
            and switch it off in the policy:
            ``ScoringPolicy(patrols_follow_records=False)``.
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

    Raises
    ------
    TypeError, ValueError
        For a bad argument, naming it and what was expected; e.g. ``loops``
        given as one string, or holding a name that is not in :data:`LOOPS`.

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


__all__ = ["MAX_RESIDENT_ROWS", "simulate"]
