"""Tests of socialcredit.simulate: the Ensign et al. urn, the city engine and its loop switches, its metrics.

Statistical claims are stated as rates over many seeded runs, with tolerances
several standard errors wide, and each is paired with a check that a wrong
model (a different limit, a narrower spread, no feedback) would fail.
"""
import doctest
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import socialcredit.simulate as sim
from socialcredit.simulate import ensign_urn, environment, metrics, params, policy, run
from sim_metrics import _district_level, group_rates, record_gap
from socialcredit.simulate import (INTERVENTIONS, LOOPS, CityEnvironment, Decisions, ScoringPolicy, SimParams,
                                   check_interventions, loop_params, patrol_shares, patrol_truth_distance, simulate,
                                   urn)
from socialcredit.world import generate_world


# --------------------------------------------------------------------------- fixtures and toy cities

@pytest.fixture(scope="module")
def world():
    w = generate_world(n=20_000, seed=2024)
    return w["citizens"], w["truth"]


@pytest.fixture(scope="module")
def small():
    w = generate_world(n=1_500, seed=7)
    return w["citizens"], w["truth"]


def toy_city(sizes, detection, *, recorded=None, migrant=None, income=4000.0, loan=False):
    """A hand-made city: equal residents (age 18, reliability 0) in the given districts.

    ``sizes`` and ``detection`` map district name -> residents and year-0
    detection probability; ``recorded`` -> year-0 records per resident.
    """
    rows, truth = [], []
    i = 0
    for d, size in sizes.items():
        for k in range(size):
            i += 1
            rid = f"LP-{i:06d}"
            mig = migrant[d] if migrant is not None else (k % 2 == 1)
            rec = 0 if recorded is None else recorded[d]
            rows.append(dict(resident_id=rid, hukou="migrant" if mig else "local", district=d, age=18,
                             job_sector="formal", monthly_income=income, recorded_offences=rec,
                             has_loan=int(loan), loan_amount=40_000.0 if loan else np.nan,
                             defaulted=0.0 if loan else np.nan, travel_ban=0, mean_rating=3.5))
            truth.append(dict(resident_id=rid, reliability=0.0, true_offences=1, detection_prob=detection[d]))
    return pd.DataFrame(rows), pd.DataFrame(truth)


def reference_allocate(records, population):
    """A correct student answer to the allocation step, written with pandas."""
    if records.sum() == 0:
        return population / population.sum()
    return records / records.sum()


def reference_update_ratings(displayed, received, *, weight):
    """A correct student answer to the rating-update step."""
    return ((1 - weight) * displayed + weight * received).fillna(displayed)


# --------------------------------------------------------------------------- the urn: published behaviours

@pytest.mark.parametrize("n_a,n_b", [(1, 1), (3, 1), (2, 5)])
def test_equal_rates_limit_is_beta_set_by_history(n_a, n_b):
    """Equal true rates: final shares across runs follow Beta(n_A, n_B), not a point at 0.5."""
    shares = urn(n_a, n_b, 0.3, 0.3, 5_000, runs=2_000, rng=np.random.default_rng(11))
    limit = stats.beta(n_a, n_b)
    assert stats.kstest(shares, limit.cdf).pvalue > 0.01, "final shares should follow Beta(n_A, n_B)"
    assert abs(shares.mean() - n_a / (n_a + n_b)) < 0.02   # se ~0.006
    assert abs(shares.std() - limit.std()) < 0.02
    # the same test rejects a model with the same mean but half the spread (more history) ...
    assert stats.kstest(shares, stats.beta(4 * n_a, 4 * n_b).cdf).pvalue < 1e-6
    # ... and a loop that converged to the truth (every run near 0.5)
    assert np.mean(np.abs(shares - 0.5) > 0.1) > 0.5
    if n_a != n_b:
        assert stats.kstest(shares, stats.beta(n_b, n_a).cdf).pvalue < 1e-6
        assert abs(shares.mean() - 0.5) > 0.2, "unequal history keeps the mean away from 0.5"


def test_equal_rates_each_run_settles_but_runs_disagree():
    """A random limit: each run barely moves late on, yet runs end far apart."""
    traj = urn(1, 1, 0.3, 0.3, 20_000, runs=1_000, rng=np.random.default_rng(12), checkpoints=[5_000, 20_000])
    assert np.median(np.abs(traj[1] - traj[0])) < 0.02
    assert traj[1].std() > 0.25                      # Beta(1, 1): sd 0.289
    assert abs(traj[1].std() - traj[0].std()) < 0.02  # the spread does not shrink with time


def test_unequal_rates_share_of_higher_rate_tends_to_one():
    """lambda_A > lambda_B: the share of runs above 0.8 grows with steps; most end above 0.8."""
    marks = [500, 2_000, 5_000, 20_000]
    traj = urn(1, 1, 0.3, 0.2, 20_000, runs=1_000, rng=np.random.default_rng(13), checkpoints=marks)
    above = (traj > 0.8).mean(axis=1)
    assert np.all(np.diff(above) > 0.03), f"share of runs above 0.8 by checkpoint: {above}"
    assert above[-1] > 0.8                             # measured 0.89; se 0.01
    assert np.median(traj[-1]) > 0.9
    assert np.all(np.diff(traj.mean(axis=1)) > 0)
    # with equal rates (no truth difference) far fewer runs end above 0.8 (Beta(1,1): 0.2)
    same = urn(1, 1, 0.3, 0.3, 20_000, runs=1_000, rng=np.random.default_rng(13))
    assert (same > 0.8).mean() < 0.3


def test_unequal_rates_mirror_image():
    shares = urn(1, 1, 0.2, 0.3, 20_000, runs=500, rng=np.random.default_rng(14))
    assert (shares < 0.2).mean() > 0.75


@pytest.mark.parametrize("n_a,n_b", [(1, 1), (1, 5), (5, 1)])
def test_correction_converges_to_rate_ratio(n_a, n_b):
    """With the correction the share converges to lambda_A / (lambda_A + lambda_B) = 0.6, whatever the history."""
    traj = urn(n_a, n_b, 0.3, 0.2, 20_000, runs=1_000, correction=True, rng=np.random.default_rng(15),
               checkpoints=[2_000, 20_000])
    final = traj[-1]
    assert abs(final.mean() - 0.6) < 0.01        # se ~0.0003
    assert final.std() < 0.02                    # measured ~0.008
    assert final.std() < 0.6 * traj[0].std()     # the spread shrinks: a point limit
    assert np.mean(np.abs(final - 0.6) < 0.05) > 0.99
    uncorrected = urn(n_a, n_b, 0.3, 0.2, 20_000, runs=1_000, rng=np.random.default_rng(15))
    assert np.mean(np.abs(uncorrected - 0.6) < 0.05) < 0.3   # without it, runs do not settle at 0.6


def test_correction_with_equal_rates_forgets_history():
    shares = urn(3, 1, 0.3, 0.3, 20_000, runs=1_000, correction=True, rng=np.random.default_rng(16))
    assert abs(shares.mean() - 0.5) < 0.01 and shares.std() < 0.02


@pytest.mark.parametrize("p,expected", [(0.75, 1 / 3), (0.25, 1.0), (0.5, 1.0), (0.9, 0.1 / 0.9)])
def test_ensign_weight_by_hand(p, expected):
    """(1 - p_i) / max(p_A, p_B); equal to min(p) / p_i with two regions."""
    assert ensign_urn._ensign_weight(p, 1 - p) == pytest.approx(expected)
    assert ensign_urn._ensign_weight(p, 1 - p) == pytest.approx(min(p, 1 - p) / p)


def test_urn_small_cases_by_hand():
    # no steps: the initial share; lambda 0: nothing is ever added
    assert urn(3, 1, 0.3, 0.3, 0, runs=4, rng=0).tolist() == [0.75] * 4
    assert urn(3, 1, 0.0, 0.0, 500, runs=4, rng=0).tolist() == [0.75] * 4
    # lambda_B = 0: B never grows, so the share of A is (3 + k) / (4 + k) with k additions to A
    s = urn(3, 1, 1.0, 0.0, 200, runs=50, rng=1)
    k = s / (1 - s) - 3
    assert np.allclose(k, np.round(k)) and (s > 0.75).all()
    traj = urn(1, 1, 0.3, 0.3, 10, runs=3, rng=2, checkpoints=[0, 10, 10])
    assert traj.shape == (3, 3) and (traj[0] == 0.5).all() and (traj[1] == traj[2]).all()
    assert (urn(1, 1, 0.3, 0.3, 10, runs=3, rng=2) == traj[1]).all()


def test_urn_same_seed_same_result_different_seed_differs():
    a = urn(1, 1, 0.3, 0.3, 1_000, runs=200, rng=5)
    assert (a == urn(1, 1, 0.3, 0.3, 1_000, runs=200, rng=np.random.default_rng(5))).all()
    assert not (a == urn(1, 1, 0.3, 0.3, 1_000, runs=200, rng=6)).all()


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(n_a=0), ValueError, "n_a=0"),
    (dict(n_b=-2), ValueError, "n_b=-2"),
    (dict(n_a=1.5), TypeError, "n_a=1.5"),
    (dict(lambda_a=1.2), ValueError, "lambda_a=1.2"),
    (dict(lambda_b=-0.1), ValueError, "lambda_b=-0.1"),
    (dict(steps=-1), ValueError, "steps=-1"),
    (dict(runs=0), ValueError, "runs=0"),
    (dict(rng=1.5), TypeError, "rng=1.5"),
    (dict(rng=-3), ValueError, "rng=-3"),
    (dict(correction="yes"), TypeError, "correction='yes'"),
    (dict(checkpoints=[20]), ValueError, "after the last step"),
])
def test_urn_errors_name_the_bad_value(kwargs, error, match):
    args = dict(n_a=1, n_b=1, lambda_a=0.3, lambda_b=0.3, steps=10, runs=5, rng=0) | kwargs
    with pytest.raises(error, match=match):
        urn(args.pop("n_a"), args.pop("n_b"), args.pop("lambda_a"), args.pop("lambda_b"), args.pop("steps"), **args)


# --------------------------------------------------------------------------- the city: hand-checkable toys

def test_two_district_city_is_the_urn():
    """Two equal districts, equal true rates, history 3:1. Patrols stay at history's 0.75
    without intervention (not the truth, 0.5); the correction brings them to 0.5."""
    c, t = toy_city({"Old Harbour": 2_000, "Bellgate": 2_000}, {"Old Harbour": 0.6, "Bellgate": 0.2},
                    recorded={"Old Harbour": 3, "Bellgate": 1})
    none = patrol_shares(simulate(c, t, years=8, world_seed=1))["Old Harbour"]
    assert none.loc[0] == pytest.approx(0.75)
    assert (none.sub(0.75).abs() < 0.03).all(), none.round(3).tolist()
    corr = patrol_shares(simulate(c, t, years=8, interventions={"correction": True}, world_seed=1))["Old Harbour"]
    assert (corr.loc[2:].sub(0.5).abs() < 0.03).all(), corr.round(3).tolist()
    audit = patrol_shares(simulate(c, t, years=8, interventions={"audit": 0.5}, world_seed=1))["Old Harbour"]
    assert audit.loc[8] < none.loc[8] - 0.05 and audit.loc[8] > 0.5


def test_detection_follows_patrols_per_resident():
    """detection = min(1, budget * share / population share): by hand on a 3:1 city."""
    c, t = toy_city({"Old Harbour": 300, "Bellgate": 100}, {"Old Harbour": 0.2, "Bellgate": 0.2})
    env = CityEnvironment(c, t, rng=0)
    assert env.budget == pytest.approx(0.2)
    obs = env.step(Decisions(np.array([0.25, 0.75]), np.zeros(400, bool), np.zeros(400, bool)))
    # A: 0.2 * 0.25 / 0.75 = 1/15; B: 0.2 * 0.75 / 0.25 = 0.6
    assert obs.detection[1] == pytest.approx([1 / 15, 0.6])
    obs = env.step(Decisions(np.array([0.0, 1.0]), np.zeros(400, bool), np.zeros(400, bool)))
    assert obs.detection[2] == pytest.approx([0.0, 0.8])
    assert obs.district_records[2][0] == 0 and obs.records[2][:300].sum() == 0


def test_no_records_anywhere_falls_back_to_population_shares():
    c, t = toy_city({"Old Harbour": 30, "Bellgate": 10}, {"Old Harbour": 0.0, "Bellgate": 0.0})
    shares = patrol_shares(simulate(c, t, years=3))
    assert np.allclose(shares[["Old Harbour", "Bellgate"]].to_numpy(), [[0.75, 0.25]] * 4)


def test_sanctions_cut_income_exactly():
    """Same world seed: a ban multiplies every resident's income by 1 - ban_income_cut."""
    c, t = toy_city({"Old Harbour": 50, "Bellgate": 50}, {"Old Harbour": 0.3, "Bellgate": 0.3})
    share, none, every = np.array([0.5, 0.5]), np.zeros(100, bool), np.ones(100, bool)
    incomes = {}
    for label, ban, deny in [("free", none, none), ("banned", every, none), ("denied", none, every)]:
        env = CityEnvironment(c, t, rng=3)
        incomes[label] = env.step(Decisions(share, ban, deny)).income.copy()
    p = SimParams()
    assert np.allclose(incomes["banned"] / incomes["free"], 1 - p.ban_income_cut)
    assert np.allclose(incomes["denied"] / incomes["free"], 1 - p.denial_income_cut)


def test_loan_denial_raises_defaults(world):
    """Same world seed, everyone denied vs nobody: every default without denial is still there, and more."""
    c, t = world
    n = len(c)
    out = {}
    for label, deny in [("free", np.zeros(n, bool)), ("denied", np.ones(n, bool))]:
        env = CityEnvironment(c, t, rng=4)
        share = env.observe().district_records[0] / env.observe().district_records[0].sum()
        out[label] = env.step(Decisions(share, np.zeros(n, bool), deny)).defaults[1].astype(bool)
    assert (out["denied"] >= out["free"]).all()
    assert out["denied"].sum() > 1.3 * out["free"].sum()


def test_ratings_punish_the_already_low_rated(world):
    """Anchoring on the displayed rating widens the group gap in ratings; without it the gap holds."""
    c, t = world
    gaps = {}
    for anchor in (0.0, 0.5):
        r = group_rates(simulate(c, t, years=10, params=SimParams(rating_anchor=anchor, rating_stigma=0.0)))
        m = r["mean_rating"].unstack("hukou")
        gaps[anchor] = (m["local"] - m["migrant"])
    assert gaps[0.5].loc[10] > 1.6 * gaps[0.5].loc[0]
    assert gaps[0.0].loc[10] < 1.25 * gaps[0.0].loc[0]


def test_true_offences_do_not_depend_on_group(world):
    c, t = world
    rates = group_rates(simulate(c, t, years=10))["true_offence_rate"].unstack("hukou")
    assert ((rates["migrant"] / rates["local"]).sub(1).abs() < 0.1).all()


# --------------------------------------------------------------------------- the city: loops and interventions

@pytest.mark.parametrize("world_seed", [0, 1, 2])
def test_patrol_loop_keeps_history_and_interventions_narrow_the_gap(world, world_seed):
    """Without intervention the recorded/true gap stays; the correction and audits narrow it."""
    c, t = world
    gap, dist = {}, {}
    for label, iv in [("none", None), ("correction", {"correction": True}), ("audit", {"audit": 0.3})]:
        h = simulate(c, t, years=10, interventions=iv, world_seed=world_seed, policy_seed=world_seed + 10)
        late = h["year"].between(6, 10)
        gap[label] = record_gap(h[late]).mean()
        dist[label] = patrol_truth_distance(h).loc[6:].mean()
        if label == "none":
            assert (record_gap(h) > 1.4).all(), "the over-recording of migrants should persist"
            assert patrol_truth_distance(h).loc[10] > 0.8 * patrol_truth_distance(h).loc[0]
    assert gap["none"] > 1.5
    assert gap["correction"] - 1 < 0.5 * (gap["none"] - 1)
    assert abs(gap["correction"] - 1) < 0.15
    assert gap["audit"] < gap["none"] - 0.2
    assert dist["correction"] < 0.3 * dist["none"] and dist["audit"] < 0.7 * dist["none"]


def test_sanction_gap_widens_and_forgetting_and_appeals_slow_it(world):
    c, t = world
    ban = {}
    for label, iv in [("none", None), ("forget", {"forget": 3}), ("appeal", {"appeal": 0.5})]:
        r = group_rates(simulate(c, t, years=10, interventions=iv))["ban_rate"].unstack("hukou")
        ban[label] = r["migrant"] - r["local"]
        if label == "none":
            assert (r["migrant"] > r["local"]).loc[1:].all()
    assert ban["none"].loc[10] > 3 * ban["none"].loc[1]
    assert ban["forget"].loc[10] < 0.7 * ban["none"].loc[10]
    assert ban["appeal"].loc[10] < 0.7 * ban["none"].loc[10]


# --------------------------------------------------------------------------- properties of the history

def test_history_shape_and_columns(small):
    c, t = small
    h = simulate(c, t, years=4)
    assert list(h.columns) == list(environment._DISTRICT_COLUMNS)
    assert sorted(h["year"].unique()) == [0, 1, 2, 3, 4]
    assert (h.groupby("year")["residents"].sum() == len(c)).all()
    assert not h.duplicated(["year", "district", "hukou"]).any()
    cells = c.groupby(["district", "hukou"]).size()
    assert (h[h["year"] == 2].set_index(["district", "hukou"])["residents"].sort_index() == cells.sort_index()).all()


@pytest.mark.parametrize("iv", [None, {"audit": 0.2}, {"correction": True, "forget": 2}, {"appeal": 0.3}])
def test_shares_sum_to_one_and_rates_are_probabilities(small, iv):
    c, t = small
    h = simulate(c, t, years=5, interventions=iv)
    shares = patrol_shares(h)
    assert np.allclose(shares.sum(axis=1), 1) and (shares >= 0).all().all()
    assert h["detection_prob"].between(0, 1).all()
    r = group_rates(h)
    for col in ("detection_rate", "ban_rate", "denial_rate", "default_rate", "listed_rate", "low_rated_share"):
        assert r[col].dropna().between(0, 1).all(), col
    assert r["mean_rating"].between(1, 5).all()
    for col in ("banned", "loan_denied", "listed", "low_rated", "borrowers"):
        assert (h[col] <= h["residents"]).all(), col
    assert (h["defaults"] <= h["borrowers"]).all()
    assert (h.loc[h["year"] > 0, "recorded_offences"] <= h.loc[h["year"] > 0, "true_offences"]).all()


@pytest.mark.parametrize("iv", [None, {"audit": 0.3, "appeal": 0.2, "correction": True, "forget": 3}])
@pytest.mark.parametrize("level", ["district", "resident"])
def test_same_seeds_same_history(small, iv, level):
    c, t = small
    a = simulate(c, t, years=4, interventions=iv, world_seed=3, policy_seed=4, level=level)
    b = simulate(c, t, years=4, interventions=iv, world_seed=3, policy_seed=4, level=level)
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("iv", [{"audit": 0.3}, {"appeal": 0.3}, {"correction": True}])
def test_different_policy_seed_different_history(small, iv):
    c, t = small
    a = simulate(c, t, years=4, interventions=iv, world_seed=3, policy_seed=4)
    b = simulate(c, t, years=4, interventions=iv, world_seed=3, policy_seed=5)
    assert not a.equals(b)
    pd.testing.assert_frame_equal(a[a["year"] == 0], b[b["year"] == 0])   # year 0 is the generated world


def test_policy_seed_unused_by_deterministic_policy_and_world_seed_matters(small):
    c, t = small
    a = simulate(c, t, years=3, world_seed=3, policy_seed=4)
    pd.testing.assert_frame_equal(a, simulate(c, t, years=3, world_seed=3, policy_seed=99))
    assert not a.equals(simulate(c, t, years=3, world_seed=8, policy_seed=4))


def test_resident_level_sums_to_district_level(small):
    c, t = small
    iv = {"audit": 0.2, "appeal": 0.2}
    per = simulate(c, t, years=3, interventions=iv, level="resident")
    agg = simulate(c, t, years=3, interventions=iv, level="district")
    assert len(per) == 4 * len(c) and set(per["resident_id"]) == set(c["resident_id"])
    assert per.loc[per["year"] == 0, "score"].isna().all() and per.loc[per["year"] > 0, "score"].notna().all()
    pd.testing.assert_frame_equal(group_rates(per), group_rates(agg), check_exact=False, rtol=1e-9)
    key = ["year", "district", "hukou"]
    pd.testing.assert_frame_equal(_district_level(per).sort_values(key).reset_index(drop=True),
                                  agg.sort_values(key).reset_index(drop=True), check_exact=False, rtol=1e-9)


def test_truth_rows_in_another_order_give_the_same_history(small):
    c, t = small
    shuffled = t.sample(frac=1.0, random_state=0)
    pd.testing.assert_frame_equal(simulate(c, t, years=2), simulate(c, shuffled, years=2))


# --------------------------------------------------------------------------- student steps

def test_correct_student_allocation_step_reproduces_the_engine(small):
    c, t = small
    for iv in (None, {"audit": 0.2, "correction": True, "forget": 2}):
        pd.testing.assert_frame_equal(simulate(c, t, years=4, interventions=iv),
                                      simulate(c, t, years=4, interventions=iv, allocate=reference_allocate))


def test_wrong_student_allocation_step_changes_the_history(small):
    c, t = small

    def even(records, population):           # misconception: ignores the records
        return records * 0 + 1 / len(records)

    assert not simulate(c, t, years=3).equals(simulate(c, t, years=3, allocate=even))


@pytest.mark.parametrize("step,match", [
    (lambda r, p: None, "forget to `return`"),
    (lambda r, p: r, "sum to 1"),
    (lambda r, p: r / r.sum(), "zero records"),     # no fallback when there are no records
    (lambda r, p: (r / r.sum()).iloc[:-1], "indexed like `records`"),
    (lambda r, p: -r / r.sum(), "non-negative"),
])
def test_student_allocation_errors_teach(step, match):
    c, t = toy_city({"Old Harbour": 20, "Bellgate": 20}, {"Old Harbour": 0.0, "Bellgate": 0.0})
    if match != "zero records":
        t = t.assign(detection_prob=0.5)
        c = c.assign(recorded_offences=1)
    with pytest.raises((ValueError, TypeError), match=match):
        simulate(c, t, years=2, allocate=step)


def test_correct_student_rating_step_reproduces_the_engine(small):
    c, t = small
    pd.testing.assert_frame_equal(simulate(c, t, years=4), simulate(c, t, years=4,
                                                                     update_ratings=reference_update_ratings))


@pytest.mark.parametrize("step,match", [
    (lambda d, r, *, weight: (1 - weight) * d + weight * r, "nobody rated"),   # forgets the NaN case
    (lambda d, r, *, weight: None, "forget to `return`"),
    (lambda d, r, *, weight: (d + r.fillna(d)) * 2, "1 to 5"),
])
def test_student_rating_errors_teach(small, step, match):
    c, t = small
    with pytest.raises((ValueError, TypeError), match=match):
        simulate(c, t, years=2, update_ratings=step)


def test_custom_score_and_policy_callables(small):
    c, t = small
    h = simulate(c, t, years=3, policy=ScoringPolicy(score=lambda r: np.full(len(r), 1000.0)))
    by_year = h.groupby("year")[["banned", "loan_denied", "listed"]].sum()
    assert (by_year["loan_denied"].loc[1:] == 0).all()
    # with everyone scoring 1000, the only bans are last year's court list
    assert (by_year["banned"].loc[1:].to_numpy() == by_year["listed"].loc[:2].to_numpy()).all()
    assert by_year["listed"].loc[:2].sum() > 0

    def patrol_everywhere(obs, rng):            # a plain function policy
        n, J = len(obs.district), len(obs.districts)
        return Decisions(np.full(J, 1 / J), np.zeros(n, bool), np.zeros(n, bool))

    h = simulate(c, t, years=2, policy=patrol_everywhere)
    assert h.loc[h["year"] > 0, "banned"].sum() == 0
    assert np.allclose(patrol_shares(h).loc[1:], 1 / 12)


# --------------------------------------------------------------------------- errors and documentation

@pytest.mark.parametrize("kwargs,error,match", [
    (dict(years=0), ValueError, "years=0"),
    (dict(years=1.5), TypeError, "years=1.5"),
    (dict(world_seed=-1), ValueError, "world_seed=-1"),
    (dict(world_seed=1.5), TypeError, "world_seed=1.5"),
    (dict(policy_seed="a"), TypeError, "policy_seed='a'"),
    (dict(interventions={"forgetting": 3}), ValueError, "Unknown intervention 'forgetting'"),
    (dict(interventions={"audit": 1.5}), ValueError, r"interventions\['audit'\]=1.5"),
    (dict(interventions={"appeal": -0.1}), ValueError, r"interventions\['appeal'\]=-0.1"),
    (dict(interventions={"forget": 0}), ValueError, r"interventions\['forget'\]=0"),
    (dict(interventions={"correction": "yes"}), TypeError, "correction"),
    (dict(interventions=["audit"]), TypeError, "expected a dict"),
    (dict(level="person"), ValueError, "level='person'"),
    (dict(years=4_000, level="resident"), ValueError, "at most"),
    (dict(policy=ScoringPolicy(), interventions={"audit": 0.1}), ValueError, "default policy"),
    (dict(allocate="records"), TypeError, "allocate='records'"),
])
def test_simulate_errors_name_the_bad_value(small, kwargs, error, match):
    c, t = small
    with pytest.raises(error, match=match):
        simulate(c, t, **kwargs)


def test_world_and_policy_need_separate_generators(small):
    c, t = small
    g = np.random.default_rng(0)
    with pytest.raises(ValueError, match="separate"):
        simulate(c, t, years=1, world_seed=g, policy_seed=g)


def test_empty_and_malformed_tables_are_refused(small):
    c, t = small
    with pytest.raises(ValueError, match="n=0"):
        simulate(c.iloc[:0], t.iloc[:0], years=1)
    with pytest.raises(ValueError, match="mean_rating"):
        simulate(c.drop(columns="mean_rating"), t, years=1)
    with pytest.raises(ValueError, match="Migrnt"):
        simulate(c.assign(hukou=np.where(c["hukou"] == "migrant", "Migrnt", "local")), t, years=1)
    with pytest.raises(ValueError, match="no row"):
        simulate(c, t.iloc[10:], years=1)


@pytest.mark.parametrize("name,value", [("detection_budget", 1.2), ("rating_weight", -0.1), ("rating_anchor", 1.0)])
def test_params_refuse_out_of_range(name, value):
    with pytest.raises(ValueError, match=f"{name}={value}"):
        SimParams(**{name: value})


def test_decisions_are_checked(small):
    c, t = small
    env = CityEnvironment(c, t, rng=0)
    n = len(c)
    with pytest.raises(ValueError, match="sum to 1"):
        env.step(Decisions(np.full(12, 0.5), np.zeros(n, bool), np.zeros(n, bool)))
    with pytest.raises(ValueError, match="bool array"):
        env.step(Decisions(np.full(12, 1 / 12), np.zeros(n), np.zeros(n, bool)))
    with pytest.raises(ValueError, match="read-only"):
        env.observe().records[0, 0] = 9


def test_check_interventions_fills_defaults():
    assert check_interventions(None) == {"forget": None, "audit": 0.0, "correction": False, "appeal": 0.0}
    assert check_interventions({"forget": 2, "correction": True})["forget"] == 2
    assert set(INTERVENTIONS) == {"forget", "audit", "correction", "appeal"}


def test_policy_refuses_a_second_run_without_reset(small):
    c, t = small
    policy = ScoringPolicy()
    env = CityEnvironment(c, t, rng=0)
    rng = np.random.default_rng(0)
    policy(env.observe(), rng)
    with pytest.raises(RuntimeError, match="reset"):
        policy(CityEnvironment(c, t, rng=0).observe(), rng)


@pytest.mark.parametrize("module", [sim, ensign_urn, environment, metrics, params, policy, run],
                         ids=lambda m: m.__name__)
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 1 and result.failed == 0, module.__name__


def test_package_reexports_every_public_name():
    """Every public top-level name of every module is in its __all__, and ``socialcredit.simulate`` re-exports it."""
    import ast
    import inspect
    for m in (ensign_urn, environment, metrics, params, policy, run):
        tree = ast.parse(inspect.getsource(m))
        public = set()
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                public.add(node.name)
            elif isinstance(node, ast.Assign):
                public.update(t.id for t in node.targets if isinstance(t, ast.Name))
        public = {n for n in public if not n.startswith("_")}
        assert public == set(m.__all__), f"{m.__name__}: public {sorted(public)} vs __all__ {sorted(m.__all__)}"
        for name in m.__all__:
            assert getattr(sim, name, None) is getattr(m, name), \
                f"socialcredit.simulate.{name} is not {m.__name__}.{name}"
            assert name in sim.__all__, name
    assert len(sim.__all__) == len(set(sim.__all__)) == sum(len(m.__all__) for m in
                                                            (ensign_urn, environment, metrics, params, policy, run))
    # the urn function, not its module, is socialcredit.simulate.urn
    assert callable(sim.urn) and sim.urn is ensign_urn.urn


def test_environment_never_measures_fairness_and_metrics_only_read():
    """No per-group rate anywhere in the package (Lesson 5's answers); metrics import no engine part."""
    import inspect
    for m in (sim, ensign_urn, environment, metrics, params, policy, run):
        src = inspect.getsource(m)
        for banned in ("def group_rates", "def record_gap", "ban_rate", "detection_rate"):
            assert banned not in src, f"{m.__name__} contains {banned!r}"
    src = inspect.getsource(metrics)
    assert "from .environment" not in src and "from .policy" not in src and "from .run" not in src


def test_module_states_its_scope():
    doc = sim.__doc__
    assert "stylised toy model" in doc and "fictional" in doc and "not a prediction" in doc.replace("\n", " ")
    # the steps students may write are documented, and the package has no public function with their names
    assert "allocate(records, population)" in doc and "update_ratings(displayed, received" in doc
    assert not any(hasattr(sim, name) for name in ("allocate", "update_ratings", "allocate_patrols"))


# --------------------------------------------------------------------------- the loop switches (loops=)

_PARAM_LOOPS = {"sanctions_cut_income": ("ban_income_cut", "denial_income_cut"),
                "denial_raises_default": ("denial_default_logit",),
                "ratings_anchor": ("rating_anchor",), "rating_stigma": ("rating_stigma",)}


def test_loops_names_are_the_documented_ones():
    assert LOOPS == ("patrols_follow_records", "sanctions_cut_income", "denial_raises_default", "ratings_anchor",
                     "rating_stigma")
    for name in LOOPS:
        assert name in simulate.__doc__ and name in sim.__doc__


def test_all_loops_named_is_the_default_model(small):
    c, t = small
    full = simulate(c, t, years=4, interventions={"audit": 0.2})
    for loops in (LOOPS, list(reversed(LOOPS)), set(LOOPS), iter(LOOPS), LOOPS + LOOPS[:2]):
        pd.testing.assert_frame_equal(simulate(c, t, years=4, interventions={"audit": 0.2}, loops=loops), full,
                                      check_exact=True)


@pytest.mark.parametrize("loop", sorted(_PARAM_LOOPS))
def test_each_loop_off_is_exactly_its_parameters_at_zero(small, loop):
    """Switching one loop off = setting its SimParams fields to 0, and nothing else."""
    c, t = small
    off = simulate(c, t, years=5, loops=set(LOOPS) - {loop})
    zeroed = simulate(c, t, years=5, params=SimParams(**{f: 0.0 for f in _PARAM_LOOPS[loop]}))
    pd.testing.assert_frame_equal(off, zeroed, check_exact=True)
    assert not off.equals(simulate(c, t, years=5)), f"switching {loop} off changed nothing"
    # params= is respected for the fields of the loops that stay on
    custom = SimParams(rating_weight=0.3, ban_income_cut=0.2)
    pd.testing.assert_frame_equal(
        simulate(c, t, years=3, loops=set(LOOPS) - {loop}, params=custom),
        simulate(c, t, years=3, params=replace(custom, **{f: 0.0 for f in _PARAM_LOOPS[loop]})), check_exact=True)


def test_loop_params_zeroes_only_the_switched_off_fields():
    p = loop_params(None, ())
    assert (p.ban_income_cut, p.denial_income_cut, p.denial_default_logit, p.rating_anchor, p.rating_stigma) == (0,) * 5
    d = SimParams()
    assert (p.income_year_sd, p.shock_income_cut, p.rating_weight) == (d.income_year_sd, d.shock_income_cut,
                                                                       d.rating_weight)
    assert loop_params(d, LOOPS) is d
    assert loop_params(None, ["rating_stigma"]).rating_stigma == d.rating_stigma


def _one_year(c, t, loops, *, ban, deny, rating=None):
    if rating is not None:
        c = c.assign(mean_rating=rating)
    env = CityEnvironment(c, t, rng=5, params=loop_params(None, loops))
    share = env.pop_share.copy()
    return env.step(Decisions(share, ban, deny))


@pytest.mark.parametrize("loops", [(), ("denial_raises_default", "ratings_anchor", "rating_stigma")])
def test_without_sanctions_cut_income_a_sanction_costs_no_income(world, loops):
    c, t = world
    n = len(c)
    free = _one_year(c, t, loops, ban=np.zeros(n, bool), deny=np.zeros(n, bool))
    hit = _one_year(c, t, loops, ban=np.ones(n, bool), deny=np.ones(n, bool))
    np.testing.assert_array_equal(hit.income, free.income)
    on = _one_year(c, t, LOOPS, ban=np.ones(n, bool), deny=np.ones(n, bool))
    assert (on.income < free.income).all()  # with the loop on, every sanctioned resident earns less


def test_without_denial_raises_default_a_denial_adds_no_default(world):
    c, t = world
    n = len(c)
    nothing = np.zeros(n, bool)
    for loops, same in [((), True), (("denial_raises_default",), False)]:
        free = _one_year(c, t, loops, ban=nothing, deny=nothing)
        denied = _one_year(c, t, loops, ban=nothing, deny=np.ones(n, bool))
        assert np.array_equal(denied.defaults[1], free.defaults[1]) == same
        np.testing.assert_array_equal(denied.income, free.income)  # income cuts are off in both
    # and denial's income cut raises defaults through the debt burden even with this loop off
    free = _one_year(c, t, ("sanctions_cut_income",), ban=nothing, deny=nothing)
    denied = _one_year(c, t, ("sanctions_cut_income",), ban=nothing, deny=np.ones(n, bool))
    assert denied.defaults[1].sum() > free.defaults[1].sum()


def test_without_rating_stigma_a_ban_costs_no_stars(world):
    c, t = world
    n = len(c)
    nothing = np.zeros(n, bool)
    for loops, same in [((), True), (("rating_stigma",), False)]:
        free = _one_year(c, t, loops, ban=nothing, deny=nothing)
        banned = _one_year(c, t, loops, ban=np.ones(n, bool), deny=nothing)
        assert np.array_equal(banned.rating, free.rating) == same


def test_without_ratings_anchor_stars_ignore_the_displayed_rating(world):
    """Two cities that differ only in last year's displayed ratings: this year's stars are the same."""
    c, t = world
    n = len(c)
    nothing = np.zeros(n, bool)
    w = SimParams().rating_weight
    # same city mean (the anchor is the distance from it), opposite displayed ratings per resident
    low = np.where(np.arange(n) % 2 == 0, 2.0, 4.5)
    high = 6.5 - low
    for loops, same in [((), True), (("ratings_anchor",), False)]:
        a = _one_year(c, t, loops, ban=nothing, deny=nothing, rating=low).rating
        b = _one_year(c, t, loops, ban=nothing, deny=nothing, rating=high).rating
        rated = (a != low) | (b != high)
        stars_a = (a - (1 - w) * low) / w
        stars_b = (b - (1 - w) * high) / w
        assert np.allclose(stars_a[rated], stars_b[rated]) == same


def test_patrols_frozen_without_their_loop(small):
    c, t = small
    frozen = patrol_shares(simulate(c, t, years=6, loops=set(LOOPS) - {"patrols_follow_records"}))
    assert np.allclose(frozen.to_numpy(), frozen.loc[[0]].to_numpy(), rtol=0, atol=1e-12), frozen.round(4)
    moving = patrol_shares(simulate(c, t, years=6))
    assert (moving.loc[6] - moving.loc[0]).abs().max() > 0.01
    # audits still mix in; a given allocate= step is the patrol rule either way
    audit = patrol_shares(simulate(c, t, years=3, loops=(), interventions={"audit": 0.4}))
    assert not np.allclose(audit.loc[3], audit.loc[0])
    per_capita = patrol_shares(simulate(c, t, years=3, loops=(), allocate=lambda r, p: p / p.sum()))
    pop = c["district"].value_counts(normalize=True)
    assert np.allclose(per_capita.loc[3], pop.reindex(per_capita.columns))


def test_no_feedback_still_accumulates_records_into_bans(world):
    """loops=(): the score still adds records up year after year, so bans grow; keeping one year stops that."""
    c, t = world
    banned = {}
    for label, iv in [("keep", None), ("forget", {"forget": 1})]:
        r = group_rates(simulate(c, t, years=10, loops=(), interventions=iv))["ban_rate"].unstack("hukou")
        banned[label] = r
    assert (banned["keep"].loc[10] > 1.5 * banned["keep"].loc[1]).all()
    assert (banned["forget"].loc[10] < 0.6 * banned["keep"].loc[10]).all()


@pytest.mark.parametrize("loops,error,match", [
    ("ratings_anchor", TypeError, r"\('ratings_anchor',\).*single string"),
    (["ratings_anchor", "stigma"], ValueError, r"'stigma'.*patrols_follow_records.*rating_stigma"),
    (["Ratings_Anchor"], ValueError, "Ratings_Anchor"),
    (3, TypeError, "loops=3.*int"),
    ([1], TypeError, "holds 1"),
    ({"ratings_anchor": False}, TypeError, "not a dict"),   # {name: False} must not mean "on"
])
def test_loops_errors_name_the_bad_value(small, loops, error, match):
    c, t = small
    with pytest.raises(error, match=match):
        simulate(c, t, years=1, loops=loops)


def test_own_policy_cannot_silently_ignore_the_patrol_switch(small):
    c, t = small
    with pytest.raises(ValueError, match="patrols_follow_records=False"):
        simulate(c, t, years=1, loops=(), policy=ScoringPolicy())
    # the same model built by hand: a frozen-patrol policy, the other loops off through loops=
    own = simulate(c, t, years=3, policy=ScoringPolicy(patrols_follow_records=False), loops=["patrols_follow_records"])
    pd.testing.assert_frame_equal(own, simulate(c, t, years=3, loops=()), check_exact=True)


# --------------------------------------------------------------------------- scripts/ablation.py and its datasheet section

def _ablation_script():
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "scripts" / "ablation.py"
    spec = importlib.util.spec_from_file_location("ablation_script", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ablation_rows_are_the_switches_they_name(small):
    ab = _ablation_script()
    c, t = small
    rows = dict(ab.ROWS)
    assert rows["every loop off (`loops=()`, patrols frozen at year 0)"] == {"loops": ()}
    assert [k for k, v in ab.ROWS if set(v.get("loops", LOOPS)) == set(LOOPS) - {"rating_stigma"}] == \
        ["`rating_stigma` off"]
    results, year0 = ab.measure([(c, t)], [0, 1])
    h = simulate(c, t, years=10, loops=(), world_seed=1, policy_seed=1001)
    g = h.groupby(["year", "hukou"])[["residents", "banned"]].sum()
    ban = (g["banned"] / g["residents"]).unstack("hukou")
    assert results["every loop off (`loops=()`, patrols frozen at year 0)"]["ban"][1] == pytest.approx(
        ban.loc[10, "migrant"] - ban.loc[10, "local"])
    assert year0["ban"][0] == pytest.approx(ban.loc[0, "migrant"] - ban.loc[0, "local"])
    table = ab.table(results, year0)
    assert table.count("\n") == len(ab.ROWS) + 1 and "| full model (every loop on) |" in table


def test_ablation_section_is_replaced_or_appended_never_elsewhere():
    ab = _ablation_script()
    block = f"{ab.START}\nnew\n{ab.END}"
    assert ab.replace_section("head\n", block) == f"head\n\n{block}\n"
    old = f"head\n{ab.START}\nold\n{ab.END}\ntail\n"
    assert ab.replace_section(old, block) == f"head\n{block}\ntail\n"
    with pytest.raises(ValueError, match="broken ablation section"):
        ab.replace_section(f"head\n{ab.START}\nno end\n", block)


def test_datasheet_ablation_was_measured_on_the_shipped_world():
    """The datasheet's ablation numbers are stale as soon as the world's files change: re-run the script."""
    from socialcredit import data_dir
    ab = _ablation_script()
    folder = data_dir()
    text = (folder / "DATASHEET.md").read_text(encoding="utf-8")
    recorded = ab.recorded_fingerprint(text)
    assert recorded is not None, ("datasets/DATASHEET.md has no ablation section with the world's fingerprint; "
                                  "run `python scripts/ablation.py --write`.")
    assert recorded == ab.fingerprint(folder), (
        f"The ablation in DATASHEET.md was measured on another world ({recorded}) than the shipped one "
        f"({ab.fingerprint(folder)}); run `python scripts/ablation.py --write`.")
