"""The world's built-in mechanisms, measured on the shipped files (DESIGN §3, issue #2)."""
import sys

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp, ttest_ind

from conftest import REPO

sys.path.insert(0, str(REPO / "scripts"))
from mechanisms import group_auc, stratified_default_gap  # noqa: E402


@pytest.fixture(scope="module")
def cz(shipped):
    c = shipped["citizens"]
    t = shipped["truth"].set_index("resident_id").loc[c["resident_id"]].reset_index()
    return c, t, (c["hukou"] == "migrant").to_numpy()


def test_true_offences_do_not_depend_on_group(cz):
    c, t, mig = cz
    ratio = t["true_offences"][mig].mean() / t["true_offences"][~mig].mean()
    assert 0.9 <= ratio <= 1.1, f"true offences per resident, migrant/local = {ratio:.3f}; expected within 0.9–1.1"


def test_recorded_offences_show_label_bias(cz):
    c, t, mig = cz
    ratio = c["recorded_offences"][mig].mean() / c["recorded_offences"][~mig].mean()
    assert ratio >= 1.5, f"recorded offences per resident, migrant/local = {ratio:.3f}; expected >= 1.5"


def test_recorded_never_exceed_true(cz):
    c, t, _ = cz
    over = int((c["recorded_offences"].to_numpy() > t["true_offences"].to_numpy()).sum())
    assert over == 0, f"{over} residents have more recorded than true offences"


def test_reliability_same_distribution_in_both_groups(cz):
    c, t, mig = cz
    p = ks_2samp(t["reliability"][mig], t["reliability"][~mig]).pvalue
    assert p > 0.01, f"KS test of reliability, migrant vs local: p = {p:.4f}; expected p > 0.01"


def test_district_predicts_migrant_status(cz):
    c, _, mig = cz
    auc = group_auc(mig, c["district"])
    assert auc >= 0.75, f"ROC AUC of district for migrant status = {auc:.3f}; expected >= 0.75"


@pytest.mark.parametrize("column,mapping", [
    ("phone_tier", {"budget": 0, "mid": 1, "flagship": 2}),
    ("app_spending", None),
    ("credit_history_years", None),
])
def test_proxies_carry_information(cz, column, mapping):
    c, _, mig = cz
    values = c[column].map(mapping) if mapping else c[column]
    auc = group_auc(mig, values)
    assert auc > 0.55, f"ROC AUC of {column} for migrant status = {auc:.3f}; expected > 0.55"


def test_default_gap_is_structural(shipped):
    raw, adjusted, per = stratified_default_gap(shipped["citizens"], shipped["truth"])
    assert raw > 0, f"migrant minus local default rate = {100 * raw:+.2f} pp; expected migrants higher"
    assert abs(adjusted) < 0.02, (
        f"within strata of income shock x debt band the gap is {100 * adjusted:+.2f} pp (weighted); expected < 2 pp\n{per}")
    # every stratum large enough to measure agrees within its own sampling error (3 standard errors)
    for key, row in per.iterrows():
        se = np.sqrt(row["local"] * (1 - row["local"]) / row["n_local"]
                     + row["migrant"] * (1 - row["migrant"]) / row["n_migrant"])
        assert abs(row["gap"]) < max(0.02, 3 * se), f"stratum {key}: gap {row['gap']:+.3f} exceeds 3 SE ({se:.3f})"


def test_peer_ratings_differ_without_behaviour_difference(cz):
    c, t, mig = cz
    r = c["mean_rating"]
    gap = r[~mig].mean() - r[mig].mean()
    p = ttest_ind(r[~mig].dropna(), r[mig].dropna()).pvalue
    assert gap > 0.05 and p < 1e-6, f"mean rating local − migrant = {gap:.3f} (p = {p:.2g}); expected a clear gap"
    rel_gap = t["reliability"][~mig].mean() - t["reliability"][mig].mean()
    assert abs(rel_gap) < 0.05, f"reliability differs by {rel_gap:.3f}; the rating gap must not come from behaviour"


def test_rates_are_probabilities(shipped):
    c = shipped["citizens"]
    for col in ("has_loan", "defaulted", "listed", "travel_ban", "pirated_software", "default_next_year"):
        vals = c[col].dropna()
        assert vals.isin([0, 1]).all(), f"{col} has values other than 0/1: {sorted(vals.unique())[:5]}"
    assert c["mean_rating"].dropna().between(1, 5).all(), "mean_rating outside 1–5 stars"
    assert (c["monthly_income"] > 0).all(), "non-positive income"


def test_travel_bans_follow_the_court_list(shipped):
    c, courts = shipped["citizens"], shipped["courts"]
    assert set(courts["debtor_id"]) == set(c.loc[c["listed"] == 1, "resident_id"]), "court list and citizens.listed disagree"
    assert (c["travel_ban"] == c["listed"]).all(), "travel_ban should equal listed"
    assert (c.loc[c["listed"] == 1, "defaulted"] == 1).all(), "someone listed without a default"


def test_messiness_is_present_and_documented(shipped):
    reg, bank, lab, pay, police = (shipped[k] for k in ("registry", "bank", "labour", "payments", "police"))
    assert reg.duplicated().sum() > 0 and bank.duplicated().sum() > 0, "expected duplicate rows in registry and bank"
    assert (~reg["hukou"].isin(["local", "migrant"])).sum() > 0, "expected misspelled hukou values"
    assert reg["age"].isna().sum() > 0, "expected missing ages"
    assert lab["person_no"].dtype.kind == "i", "labour ids should be bare integers"
    assert police["subject_ref"].str.match(r"^LP\d{6}$").all(), "police ids should look like LP000123"
    assert bank["customer"].str.match(r"^lp-\d{6}$").all(), "bank ids should look like lp-000123"
    assert pay["account_holder"].str.endswith(" ").all(), "payment ids should carry a trailing space"


def test_world_is_fictional_and_named(shipped):
    from socialcredit import CITY
    sheet = (REPO / "datasets" / "DATASHEET.md").read_text()
    assert CITY in sheet and "fictional" in sheet.lower()


def test_citizens_agrees_with_the_agency_tables(shipped):
    """The clean table is what cleaning the agency tables gives (a spot check on three columns)."""
    c = shipped["citizens"].set_index("resident_id")
    reg = shipped["registry"].drop_duplicates()
    hukou = reg.assign(h=reg["hukou"].str.strip().str.lower().replace({"non-local": "migrant"})).set_index("resident_id")["h"]
    assert (hukou.loc[c.index] == c["hukou"]).all(), "registry hukou (cleaned) disagrees with citizens.hukou"
    counts = shipped["police"]["subject_ref"].str.replace("LP", "LP-", regex=False).value_counts()
    rec = counts.reindex(c.index, fill_value=0)
    assert (rec == c["recorded_offences"]).all(), "police incidents per resident disagree with citizens.recorded_offences"
    lab = shipped["labour"].assign(resident_id=lambda d: "LP-" + d["person_no"].astype(str).str.zfill(6)).set_index("resident_id")
    both = lab["monthly_income"].dropna()
    assert np.allclose(both, c.loc[both.index, "monthly_income"]), "labour incomes disagree with citizens"


# --- proxies: residency status is recoverable, but no feature gives it away (issue #8 §5) ----------------

import proxies  # noqa: E402  (scripts/ is on sys.path above)

SECOND_SEED = 7


@pytest.fixture(scope="module", params=["shipped", f"seed {SECOND_SEED}"])
def proxy_strength(request, shipped):
    """(label, citizens, per-feature table, summary) for the shipped world and a second seed."""
    if request.param == "shipped":
        c = shipped["citizens"]
    else:
        from socialcredit import generate_world
        c = generate_world(seed=SECOND_SEED)["citizens"]
    per, summary = proxies.measure(c, extras=False)
    return request.param, c, per, summary


def _table(per, summary):
    return f"{per.sort_values('cv_auc', ascending=False).round(3).to_string()}\nall features: {summary['all']:.3f}"


def test_no_single_feature_gives_residency_status_away(proxy_strength):
    label, _, per, summary = proxy_strength
    worst = per["cv_auc"].idxmax()
    assert per.loc[worst, "cv_auc"] <= proxies.SINGLE_MAX, (
        f"{label}: {worst!r} alone predicts migrant status with cross-validated AUC {per.loc[worst, 'cv_auc']:.3f}; "
        f"expected every single feature <= {proxies.SINGLE_MAX}\n{_table(per, summary)}")


def test_all_features_recover_status_strongly_but_imperfectly(proxy_strength):
    label, _, per, summary = proxy_strength
    lo, hi = proxies.ALL_RANGE
    assert lo <= summary["all"] <= hi, (
        f"{label}: gradient boosting on all {len(proxies.FEATURES)} non-group features predicts migrant status with "
        f"cross-validated AUC {summary['all']:.3f}; expected between {lo} and {hi}\n{_table(per, summary)}")


def test_district_stays_a_strong_proxy(proxy_strength):
    label, _, per, summary = proxy_strength
    auc = per.loc["district", "cv_auc"]
    assert auc >= proxies.DISTRICT_MIN, (
        f"{label}: district alone predicts migrant status with cross-validated AUC {auc:.3f}; "
        f"expected >= {proxies.DISTRICT_MIN} (residential segregation)\n{_table(per, summary)}")


def test_age_on_arrival_overlaps_between_groups(proxy_strength):
    """The old give-away: age − years_in_city was 0–5 for every local and >= 16 for every migrant."""
    label, c, _, _ = proxy_strength
    arrival = c["age"] - c["years_in_city"]
    mig = c["hukou"] == "migrant"
    local_late = (arrival[~mig] >= 16).mean()
    migrant_born = (arrival[mig] <= 5).mean()
    assert local_late >= 0.2 and migrant_born >= 0.05, (
        f"{label}: {local_late:.1%} of locals came to the city at 16 or later and {migrant_born:.1%} of migrants "
        f"at 5 or younger; expected at least 20% and 5% (locals move in or return; some migrants are born here)")
    assert (c["years_in_city"] >= 0).all() and (c["years_in_city"] <= c["age"]).all(), (
        f"{label}: years_in_city outside 0..age for {int(((c['years_in_city'] < 0) | (c['years_in_city'] > c['age'])).sum())} residents")


# --- the generator reads like the causal story (issue #8 §8) ------------------------------------------

def test_every_worldparams_field_has_exactly_one_mechanism():
    import dataclasses
    from socialcredit import world
    fields = [f.name for f in dataclasses.fields(world.WorldParams)]
    owners = {}
    for name, owned in world.MECHANISMS.items():
        for field in owned:
            owners.setdefault(field, []).append(name)
    orphans = [f for f in fields if f not in owners]
    shared = {f: o for f, o in owners.items() if len(o) > 1}
    unknown = [f for f in owners if f not in fields]
    assert not orphans and not shared and not unknown, (
        f"fields without a mechanism: {orphans}; fields with several: {shared}; owned but not in WorldParams: {unknown}")


def test_each_mechanism_reads_only_the_fields_it_owns():
    """A mechanism's code (and the helpers it calls) names only its own WorldParams fields, or ones it declares reading."""
    import inspect
    import re
    from socialcredit import world
    used = re.compile(r"\bp\.(\w+)")
    helpers = {name: set(used.findall(inspect.getsource(fn))) for name, fn in vars(world).items()
               if inspect.isfunction(fn) and fn.__module__ == world.__name__ and name not in world.MECHANISMS}
    problems = []
    for name in world.MECHANISMS:
        fn = getattr(world, name)
        source = inspect.getsource(fn)
        reads = set(used.findall(source))
        for helper, fields in helpers.items():
            if re.search(rf"\b{helper}\(", source):
                reads |= fields
        extra = reads - set(fn.params_owned) - set(fn.params_read)
        if extra:
            problems.append(f"{name} reads {sorted(extra)} without owning or declaring them")
        declared_elsewhere = [f for f in fn.params_read if f in fn.params_owned]
        if declared_elsewhere:
            problems.append(f"{name} declares {declared_elsewhere} both owned and read")
    assert not problems, "\n".join(problems)
