"""Generate the synthetic world of Lanternport, a fictional city.

Lanternport does not exist. Its residents, agencies and records are drawn from a
generative story written for this course, so that every bias in the data is
*known*: it is built in by a named parameter below, with a documented default.
Nothing here is data about China or any other real population.

The story (each arrow is a field of :class:`WorldParams`)::

    residency status A (local / migrant) ──► district (residential segregation)
    A ──► education ──► job sector ──► income
    latent reliability R  (same distribution in every group)
    age, R ──► true offences ──(district policing)──► recorded offences   [label bias]
    job sector ──► income shock;  shock, debt burden, R ──► default
    default, loan size ──► court defaulter list ──► travel ban
    income ──► app spending, phone tier, pirated software;  job sector ──► volunteering
    A, age ──► years in the city (born here, moved in or came back) ──► credit-history length
    district, A (homophily, in-group bias), R ──► peer ratings

Conventions for the columns: A (group), X (features), Y (outcome), S (score).
"""
from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass

import numpy as np
import pandas as pd

CITY = "Lanternport"
DEFAULT_SEED = 2024
DEFAULT_N = 20_000
ID_PREFIX = "LP"

#: The city's twelve districts (fictional names) and the share of migrants
#: each district would hold at the default 30% migrant population.
DISTRICTS = (
    "Old Harbour", "Bellgate", "Cedar Hill", "Lantern Quay", "Saltmarsh",
    "Ironworks", "Tannery Row", "Millbrook", "Canal End", "Kiln Yards",
    "East Sidings", "Brickfields",
)

#: Names of the tables the generator writes, one per agency, plus the truth
#: table and the cleaned analysis table.
AGENCY_TABLES = ("registry", "labour", "police", "bank", "courts", "payments", "community", "ratings")
TABLES = AGENCY_TABLES + ("truth", "citizens")


@dataclass(frozen=True)
class WorldParams:
    """Every arrow of the causal story, with its default value.

    Probabilities are per resident per year unless said otherwise. Changing a
    field changes the strength of one mechanism and nothing else.
    """

    # --- residency status and districts -------------------------------------
    #: share of residents with migrant (non-local) residency status
    migrant_share: float = 0.30
    #: migrant share of each district at the default migrant_share (segregation);
    #: all equal would mean no residential segregation
    district_migrant_share: tuple = (0.05, 0.08, 0.10, 0.12, 0.15, 0.20,
                                     0.25, 0.35, 0.45, 0.55, 0.65, 0.75)
    # --- age (same in both groups) ------------------------------------------
    age_min: int = 18
    age_max: int = 80
    # --- education and work: unequal access, not character ------------------
    #: P(primary, secondary, tertiary) for locals and for migrants
    education_local: tuple = (0.15, 0.50, 0.35)
    education_migrant: tuple = (0.35, 0.50, 0.15)
    #: P(informal work) by education (primary, secondary, tertiary) for locals
    informal_by_education: tuple = (0.40, 0.22, 0.08)
    #: added to P(informal) for migrants (permits tie formal jobs to local status)
    informal_migrant_extra: float = 0.30
    #: median monthly income (currency units, cu) by education
    income_median_by_education: tuple = (3200.0, 4800.0, 7800.0)
    #: multiplicative income factor for informal work
    income_informal_factor: float = 0.72
    #: spread (sd of log income)
    income_log_sd: float = 0.35
    # --- migration history: A, age -> years in the city --------------------------
    #: P(having lived in the city since birth) for locals and for migrants; children born
    #: in the city to migrant parents inherit their parents' migrant status
    born_in_city_local: float = 0.55
    born_in_city_migrant: float = 0.15
    #: everyone else last came to the city (moved in, or came back after years away) at
    #: age arrival_age_min + an exponential number of years with this mean, locals / migrants;
    #: an arrival drawn beyond the resident's age is redrawn uniformly between the minimum and the age
    arrival_age_min: int = 16
    arrival_age_mean_local: float = 8.0
    arrival_age_mean_migrant: float = 12.0
    # --- latent reliability: identical in every group -------------------------
    reliability_sd: float = 1.0
    # --- offences and policing ------------------------------------------------
    #: mean true minor offences per year at age 18 and reliability 0
    offence_rate_base: float = 0.55
    #: log-rate change per unit of reliability (more reliable -> fewer offences)
    offence_reliability_effect: float = -0.45
    #: log-rate change per decade of age above 18
    offence_age_effect: float = -0.22
    #: detection probability = detection_base + detection_slope * district migrant share
    #: (historically heavier policing where migrants live)
    detection_base: float = 0.10
    detection_slope: float = 0.80
    # --- loans and defaults ---------------------------------------------------
    #: P(holding a loan)
    loan_share: float = 0.70
    #: P(income shock in a year) for formal and informal work
    shock_formal: float = 0.06
    shock_informal: float = 0.35
    #: log-odds of default: base, shock, debt band (low, medium, high), reliability
    default_logit_base: float = -3.2
    default_logit_shock: float = 2.2
    default_logit_debt: tuple = (0.0, 0.7, 1.5)
    default_logit_reliability: float = -0.6
    #: debt-to-income cut points for the bands low / medium / high
    debt_band_cuts: tuple = (0.20, 0.40)
    #: loan principal in months of income: lognormal median and sd of log
    loan_months_median: float = 10.0
    loan_months_log_sd: float = 0.8
    # --- courts and travel bans -----------------------------------------------
    #: creditors take a default to court when the outstanding amount exceeds this (cu)
    court_threshold: float = 10_000.0
    #: P(creditor sues | default above threshold)
    court_sue_prob: float = 0.65
    # --- digital traces ---------------------------------------------------------
    #: P(using the payment app) for locals and migrants
    app_use_local: float = 0.92
    app_use_migrant: float = 0.80
    #: median share of income spent through the app and its log-sd
    app_share_median: float = 0.35
    app_share_log_sd: float = 0.4
    #: phone tier cut points on log income + noise (budget / mid / flagship)
    phone_noise_sd: float = 0.35
    #: P(pirated software flag) = logistic(piracy_logit_base + piracy_logit_income * log(income/5000))
    piracy_logit_base: float = -1.3
    piracy_logit_income: float = -2.0
    #: mean volunteering hours a year, formal and informal work (free time)
    volunteer_hours_formal: float = 9.0
    volunteer_hours_informal: float = 3.0
    # --- peer ratings ----------------------------------------------------------
    #: ratings each resident gives in a year
    ratings_per_resident: int = 6
    #: P(the rated person lives in the rater's district)
    rating_same_district: float = 0.75
    #: base stars, per unit of ratee reliability, in-group bonus, noise sd
    rating_base: float = 3.3
    rating_reliability_effect: float = 0.35
    rating_in_group_bonus: float = 0.45
    rating_noise_sd: float = 0.8
    # --- messiness of the agency records ----------------------------------------
    #: share of rows duplicated in registry, bank
    duplicate_share: float = 0.01
    #: share of category values written in a non-standard spelling
    misspelling_share: float = 0.06
    #: share of ages missing in the registry
    age_missing_share: float = 0.01
    #: share of incomes missing for formal / informal workers
    income_missing_formal: float = 0.02
    income_missing_informal: float = 0.10

    def __post_init__(self):
        shares = np.asarray(self.district_migrant_share, dtype=float)
        if len(shares) != len(DISTRICTS):
            raise ValueError(
                f"district_migrant_share has {len(shares)} values; expected one per district ({len(DISTRICTS)})."
            )
        for name in ("migrant_share", "born_in_city_local", "born_in_city_migrant", "loan_share", "court_sue_prob", "app_use_local", "app_use_migrant",
                     "shock_formal", "shock_informal", "rating_same_district", "duplicate_share",
                     "misspelling_share", "age_missing_share"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"{name}={value!r}: expected a probability between 0 and 1.")
        if not ((shares >= 0) & (shares <= 1)).all():
            raise ValueError(f"district_migrant_share={tuple(shares)}: expected shares between 0 and 1.")


def _check_n_seed(n, seed):
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"n={n!r}: expected a positive whole number of residents (an int), got {type(n).__name__}.")
    if n <= 0:
        raise ValueError(f"n={n!r}: expected a positive number of residents (n >= 1).")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed={seed!r}: expected a non-negative whole number (an int), got {type(seed).__name__}.")
    if seed < 0:
        raise ValueError(f"seed={seed!r}: expected a non-negative integer.")


def format_id(numbers_, style="canonical"):
    """Write resident numbers as identifiers in one agency's house style.

    ``canonical`` is ``LP-000123``, the registry's and the truth table's form.
    """
    s = pd.Series(numbers_).astype("int64").astype(str).str.zfill(6)
    if style == "canonical":
        return ("LP-" + s).to_numpy()
    if style == "int":  # labour bureau: a bare integer
        return pd.Series(numbers_).astype("int64").to_numpy()
    if style == "nodash":  # police: LP000123
        return ("LP" + s).to_numpy()
    if style == "lower":  # bank: lp-000123
        return ("lp-" + s).to_numpy()
    if style == "padded":  # payment app: 'LP-000123 ' with a trailing space
        return ("LP-" + s + " ").to_numpy()
    raise ValueError(f"style={style!r}: expected one of 'canonical', 'int', 'nodash', 'lower', 'padded'.")


def _misspell(rng, values, variants, share):
    """Replace a share of category values with another spelling of the same value."""
    out = np.asarray(values, dtype=object).copy()
    hit = rng.random(len(out)) < share
    for canonical, spellings in variants.items():
        idx = np.flatnonzero(hit & (out == canonical))
        if len(idx):
            out[idx] = np.asarray(spellings, dtype=object)[rng.integers(0, len(spellings), len(idx))]
    return out


def _with_duplicates(rng, frame, share):
    """Append exact copies of a share of rows, then shuffle row order."""
    k = int(round(share * len(frame)))
    extra = frame.iloc[rng.choice(len(frame), size=k, replace=False)] if k else frame.iloc[:0]
    out = pd.concat([frame, extra], ignore_index=True)
    return out.iloc[rng.permutation(len(out))].reset_index(drop=True)


def _logistic(x):
    return 1.0 / (1.0 + np.exp(-x))


def _debt_band(debt_ratio, cuts):
    band = np.full(len(debt_ratio), "low", dtype=object)
    band[debt_ratio >= cuts[0]] = "medium"
    band[debt_ratio >= cuts[1]] = "high"
    band[np.isnan(debt_ratio)] = None
    return band


def _defaults(rng, p, shock, band, reliability, has_loan):
    debt_effect = np.select([band == "low", band == "medium", band == "high"], list(p.default_logit_debt), 0.0)
    logit = (p.default_logit_base + p.default_logit_shock * shock + debt_effect
             + p.default_logit_reliability * reliability)
    return has_loan & (rng.random(len(shock)) < _logistic(logit))


#: Residents are generated in independent blocks of at most this size, so that the
#: cost per resident stays the same from 20,000 to 1,000,000 residents. Each block is
#: a random sample of the same city (peer ratings pair residents within a block).
BLOCK_SIZE = 25_000


def generate_world(n=DEFAULT_N, seed=DEFAULT_SEED, params=None):
    """Draw Lanternport's residents and every agency's records.

    Parameters
    ----------
    n : int
        Number of adult residents (>= 1). Default 20,000.
    seed : int
        Seed of the ``numpy.random.SeedSequence`` that draws everything (>= 0).
        The same ``n``, ``seed`` and ``params`` give the same tables.
    params : WorldParams, optional
        The strength of every mechanism; defaults to ``WorldParams()``.

    Returns
    -------
    dict of str to pandas.DataFrame
        One table per name in :data:`TABLES`: the agency tables (messy, as the
        agencies keep them), ``truth`` (what real data never shows) and
        ``citizens`` (one clean row per resident, for Lessons 2 onwards).

    Examples
    --------
    >>> world = generate_world(n=500, seed=1)
    >>> sorted(world) == sorted(TABLES)
    True
    >>> len(world["citizens"])
    500
    """
    _check_n_seed(n, seed)
    p = params if params is not None else WorldParams()
    if not isinstance(p, WorldParams):
        raise TypeError(f"params={p!r}: expected a WorldParams instance or None.")
    sizes = [BLOCK_SIZE] * (n // BLOCK_SIZE) + ([n % BLOCK_SIZE] if n % BLOCK_SIZE else [])
    streams = np.random.SeedSequence(seed).spawn(len(sizes))
    blocks, first = [], 1
    for size, stream in zip(sizes, streams):
        blocks.append(_generate_block(size, np.random.default_rng(stream), first, p))
        first += size
    if len(blocks) == 1:
        return blocks[0]
    world = {name: pd.concat([b[name] for b in blocks], ignore_index=True) for name in TABLES}
    world["police"]["incident_no"] = np.arange(1, len(world["police"]) + 1)
    world["courts"]["case_no"] = [f"C{i:05d}" for i in range(1, len(world["courts"]) + 1)]
    return world


def _generate_block(n, rng, first, p):
    """One block of ``n`` residents numbered from ``first``, drawn with ``rng``."""
    num = np.arange(first, first + n)
    # --- people: residency status, district (segregation), age, years in the city -------
    migrant = rng.random(n) < p.migrant_share
    share = np.asarray(p.district_migrant_share, dtype=float)
    # scale district shares so that they are consistent with migrant_share
    scaled = np.clip(share * p.migrant_share / share.mean(), 0, 1) if share.mean() > 0 else share
    p_d_mig = scaled / scaled.sum() if scaled.sum() > 0 else np.full(len(share), 1 / len(share))
    p_d_loc = (1 - scaled) / (1 - scaled).sum()
    d_idx = np.where(migrant,
                     rng.choice(len(share), size=n, p=p_d_mig),
                     rng.choice(len(share), size=n, p=p_d_loc))
    district = np.asarray(DISTRICTS, dtype=object)[d_idx]
    # age: same distribution in both groups
    age = (p.age_min + (p.age_max - p.age_min) * rng.beta(1.4, 2.0, n)).astype(int)
    # years in the city: since birth, or since the resident last came to the city
    born_here = rng.random(n) < np.where(migrant, p.born_in_city_migrant, p.born_in_city_local)
    arrival = p.arrival_age_min + rng.exponential(1.0, n) * np.where(migrant, p.arrival_age_mean_migrant,
                                                                     p.arrival_age_mean_local)
    redraw = p.arrival_age_min + (age - p.arrival_age_min) * rng.random(n)
    arrival = np.where(arrival > age, redraw, arrival)
    years_in_city = np.where(born_here, age, np.floor(age - arrival)).astype(int).clip(0)
    # latent reliability: identical in every group
    reliability = rng.normal(0, p.reliability_sd, n)

    # --- work and income: education, job sector, income ----------------------------
    levels = np.array(["primary", "secondary", "tertiary"], dtype=object)
    u = rng.random(n)
    cum_l, cum_m = np.cumsum(p.education_local), np.cumsum(p.education_migrant)
    edu_i = np.where(migrant, np.searchsorted(cum_m, u * cum_m[-1]), np.searchsorted(cum_l, u * cum_l[-1]))
    education = levels[edu_i]
    p_inf = np.asarray(p.informal_by_education)[edu_i] + p.informal_migrant_extra * migrant
    informal = rng.random(n) < np.clip(p_inf, 0, 1)
    sector = np.where(informal, "informal", "formal").astype(object)
    income = (np.asarray(p.income_median_by_education)[edu_i]
              * np.where(informal, p.income_informal_factor, 1.0)
              * np.exp(rng.normal(0, p.income_log_sd, n)))
    income = np.round(income, -1)

    # --- policing and records: true offences, detection, recorded offences -----------
    rate = p.offence_rate_base * np.exp(p.offence_reliability_effect * reliability
                                        + p.offence_age_effect * (age - 18) / 10)
    true_offences = rng.poisson(rate)
    detection = np.clip(p.detection_base + p.detection_slope * scaled[d_idx], 0, 1)
    recorded_offences = rng.binomial(true_offences, detection)

    # --- credit and defaults: loans, shocks, defaults, credit history ------------------
    has_loan = rng.random(n) < p.loan_share
    principal = np.where(has_loan,
                         np.round(income * p.loan_months_median * np.exp(rng.normal(0, p.loan_months_log_sd, n)), -2),
                         np.nan)
    repayment_monthly = principal / 36.0
    debt_ratio = repayment_monthly / income
    band = _debt_band(debt_ratio, p.debt_band_cuts)
    p_shock = np.where(informal, p.shock_informal, p.shock_formal)
    shock = rng.random(n) < p_shock
    defaulted = _defaults(rng, p, shock, band, reliability, has_loan)
    shock_next = rng.random(n) < p_shock
    default_next = _defaults(rng, p, shock_next, band, reliability, has_loan)
    outstanding = np.where(defaulted, np.round(principal * rng.uniform(0.3, 0.9, n), -2), np.nan)
    history_years = np.where(has_loan,
                             np.floor(np.minimum(years_in_city, age - 18) * rng.uniform(0.5, 1.0, n)), np.nan)

    # --- courts and bans: the defaulter list ---------------------------------------
    listed = defaulted & (outstanding > p.court_threshold) & (rng.random(n) < p.court_sue_prob)

    # --- apps and spending (and volunteering) ---------------------------------------
    uses_app = rng.random(n) < np.where(migrant, p.app_use_migrant, p.app_use_local)
    app_spending = np.where(uses_app,
                            np.round(12 * income * p.app_share_median * np.exp(rng.normal(0, p.app_share_log_sd, n)), -1),
                            np.nan)
    tier_signal = np.log(income / 5000.0) + rng.normal(0, p.phone_noise_sd, n)
    phone_tier = np.select([tier_signal < -0.25, tier_signal < 0.35], ["budget", "mid"], "flagship").astype(object)
    pirated = rng.random(n) < _logistic(p.piracy_logit_base + p.piracy_logit_income * np.log(income / 5000.0))
    volunteer_hours = rng.poisson(np.where(informal, p.volunteer_hours_informal, p.volunteer_hours_formal)
                                  * rng.gamma(1.0, 1.0, n))

    # --- ratings: homophily by district, in-group bias ---------------------------------
    k = p.ratings_per_resident
    rater = np.repeat(np.arange(n), k)
    same = rng.random(n * k) < p.rating_same_district
    # a random resident of the rater's own district, or of the whole city
    order = np.argsort(d_idx, kind="stable")
    counts = np.bincount(d_idx, minlength=len(share))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rd = d_idx[rater]
    pick_same = order[starts[rd] + (rng.random(n * k) * counts[rd]).astype(int)]
    pick_any = rng.integers(0, n, n * k)
    ratee = np.where(same, pick_same, pick_any)
    keep = ratee != rater
    rater, ratee = rater[keep], ratee[keep]
    stars_raw = (p.rating_base + p.rating_reliability_effect * reliability[ratee]
                 + p.rating_in_group_bonus * (migrant[rater] == migrant[ratee])
                 + rng.normal(0, p.rating_noise_sd, len(rater)))
    stars = np.clip(np.round(stars_raw), 1, 5).astype(int)

    hukou = np.where(migrant, "migrant", "local").astype(object)
    ids = format_id(num)
    tables = {}

    # ---- registry (household registration bureau) ----------------------------------
    reg_age = pd.array(age, dtype="Int64")
    reg_age[rng.random(n) < p.age_missing_share] = pd.NA
    registry = pd.DataFrame({
        "resident_id": ids,
        "hukou": _misspell(rng, hukou, {"local": ["Local", "LOCAL", "local "], "migrant": ["Migrant", "non-local", "MIGRANT"]},
                           p.misspelling_share),
        "district": district,
        "age": reg_age,
        "education": education,
        "years_in_city": years_in_city,
    })
    tables["registry"] = _with_duplicates(rng, registry, p.duplicate_share)

    # ---- labour bureau ---------------------------------------------------------------
    miss = rng.random(n) < np.where(informal, p.income_missing_informal, p.income_missing_formal)
    labour = pd.DataFrame({
        "person_no": format_id(num, "int"),
        "job_sector": _misspell(rng, sector, {"formal": ["Formal", "FORMAL"], "informal": ["Informal", "in-formal"]},
                                p.misspelling_share),
        "monthly_income": np.where(miss, np.nan, income),
    })
    tables["labour"] = labour.iloc[rng.permutation(n)].reset_index(drop=True)

    # ---- police: one row per recorded incident -----------------------------------------
    who = np.repeat(num, recorded_offences)
    kinds = np.array(["public disorder", "traffic", "petty theft", "jaywalking", "unlicensed vending"], dtype=object)
    police = pd.DataFrame({
        "incident_no": np.arange(1, len(who) + 1),
        "subject_ref": format_id(who, "nodash") if len(who) else np.array([], dtype=object),
        "offence": kinds[rng.integers(0, len(kinds), len(who))],
        "district": district[who - first],
    })
    tables["police"] = police

    # ---- bank (credit bureau) ----------------------------------------------------------
    borrowers = np.flatnonzero(has_loan)
    bank = pd.DataFrame({
        "customer": format_id(num[borrowers], "lower"),
        "loan_amount": principal[borrowers],
        "monthly_repayment": np.round(repayment_monthly[borrowers], 2),
        "debt_band": band[borrowers],
        "credit_history_years": history_years[borrowers],
        "defaulted": defaulted[borrowers].astype(int),
        "outstanding": outstanding[borrowers],
    })
    tables["bank"] = _with_duplicates(rng, bank, p.duplicate_share)

    # ---- courts: the public defaulter list -----------------------------------------------
    li = np.flatnonzero(listed)
    tables["courts"] = pd.DataFrame({
        "case_no": [f"C{i:05d}" for i in range(1, len(li) + 1)],
        "debtor_id": ids[li],
        "amount_owed": outstanding[li],
        "flight_ban": 1,
        "rail_ban": 1,
    })

    # ---- payment app ------------------------------------------------------------------------
    users = np.flatnonzero(uses_app)
    tables["payments"] = pd.DataFrame({
        "account_holder": format_id(num[users], "padded"),
        "annual_spending": app_spending[users],
        "phone_tier": phone_tier[users],
        "pirated_software_flag": pirated[users].astype(int),
    })

    # ---- community (neighbourhood committee): volunteering --------------------------------------
    tables["community"] = pd.DataFrame({"resident_id": ids, "volunteer_hours": volunteer_hours})

    # ---- peer ratings: one row per rating ------------------------------------------------------
    tables["ratings"] = pd.DataFrame({"rater_id": ids[rater], "ratee_id": ids[ratee], "stars": stars})

    # ---- truth table: what the agencies never see ----------------------------------------------
    tables["truth"] = pd.DataFrame({
        "resident_id": ids,
        "reliability": np.round(reliability, 4),
        "true_offences": true_offences,
        "detection_prob": np.round(detection, 4),
        "income_shock": shock.astype(int),
        "income_shock_next_year": shock_next.astype(int),
        "default_next_year": np.where(has_loan, default_next.astype(float), np.nan),
    })

    # ---- citizens: one clean row per resident (the analysis table for Lessons 2+) ---------------
    recv_sum = np.bincount(ratee, weights=stars, minlength=n)
    recv_cnt = np.bincount(ratee, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_rating = np.where(recv_cnt > 0, recv_sum / np.maximum(recv_cnt, 1), np.nan)
    tables["citizens"] = pd.DataFrame({
        "resident_id": ids,
        "hukou": hukou,
        "district": district,
        "age": age,
        "education": education,
        "years_in_city": years_in_city,
        "job_sector": sector,
        "monthly_income": income,
        "recorded_offences": recorded_offences,
        "has_loan": has_loan.astype(int),
        "loan_amount": principal,
        "debt_band": band,
        "credit_history_years": history_years,
        "defaulted": np.where(has_loan, defaulted.astype(float), np.nan),
        "listed": listed.astype(int),
        "travel_ban": listed.astype(int),
        "app_spending": app_spending,
        "phone_tier": np.where(uses_app, phone_tier, None),
        "pirated_software": np.where(uses_app, pirated.astype(float), np.nan),
        "volunteer_hours": volunteer_hours,
        "mean_rating": np.round(mean_rating, 4),
        "ratings_received": recv_cnt,
        "default_next_year": np.where(has_loan, default_next.astype(float), np.nan),
    })
    return tables


__all__ = ["CITY", "DEFAULT_SEED", "DEFAULT_N", "DISTRICTS", "AGENCY_TABLES", "TABLES",
           "WorldParams", "generate_world", "format_id"]
