"""Generate the synthetic world of Lanternport, a fictional city.

Lanternport does not exist. Its residents, agencies and records are drawn from a
generative story written for this course, so that every bias in the data is
*known*: it is built in by a named parameter below, with a documented default.
Nothing here is data about China or any other real population.

The story, in the order the generator draws it. Each arrow is one function below,
named after it and owning its fields of :class:`WorldParams` (see ``MECHANISMS``)::

    people            residency status A (local / migrant) ──► district (residential segregation)
                      age (same in both groups);  A, age ──► years in the city (born here,
                      moved in or came back);  latent reliability R (same in every group)
    work and income   A ──► education ──► job sector (A: work permits) ──► income
    policing          age, R ──► true offences ──(district policing)──► recorded offences  [label bias]
    credit            income ──► loan, debt band;  job sector ──► income shock;
                      shock, debt band, R ──► default (this year and next) ──► outstanding debt;
                      years in the city, age ──► credit-history length
    courts and bans   outstanding debt ──► court defaulter list ──► travel ban
    apps and spending A ──► app use;  income ──► app spending, phone tier, pirated software;
                      job sector ──► volunteering
    ratings           district (homophily), A (in-group bias), R ──► peer ratings
    records           the world ──► each agency's messy records, the truth table, ``citizens``

Conventions for the columns: A (group), X (features), Y (outcome), S (score).
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from types import SimpleNamespace

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
    field changes the strength of one mechanism and nothing else: each field is
    owned by exactly one function of this module (``MECHANISMS`` lists them).
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
        for name in ("migrant_share", "born_in_city_local", "born_in_city_migrant", "loan_share", "court_sue_prob",
                     "app_use_local", "app_use_migrant", "shock_formal", "shock_informal", "rating_same_district",
                     "duplicate_share", "misspelling_share", "age_missing_share"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"{name}={value!r}: expected a probability between 0 and 1.")
        for name in ("arrival_age_mean_local", "arrival_age_mean_migrant"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name}={getattr(self, name)!r}: expected a mean number of years >= 0.")
        if not 0 <= self.arrival_age_min <= self.age_min:
            raise ValueError(f"arrival_age_min={self.arrival_age_min!r}: expected an age between 0 and "
                             f"age_min ({self.age_min}), so that every resident can have arrived.")
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
    """Draw one year's defaults: log-odds from the shock, the debt band and reliability."""
    debt_effect = np.select([band == "low", band == "medium", band == "high"], list(p.default_logit_debt), 0.0)
    logit = (p.default_logit_base + p.default_logit_shock * shock + debt_effect
             + p.default_logit_reliability * reliability)
    return has_loan & (rng.random(len(shock)) < _logistic(logit))


# =====================================================================================
# The mechanisms: one function per arrow of the causal graph, in the graph's order
# (people -> work and income -> policing and records -> credit and defaults -> courts
# and bans -> apps and spending -> ratings), then the agencies' records. Each function
# is named after its arrow and reads only the WorldParams fields it owns; MECHANISMS
# lists them, and tests/test_world.py checks that every field has exactly one owner.
# Every function draws from the block's generator in a fixed order: moving a draw
# changes the world, so the order here is part of the output.
# =====================================================================================

#: mechanism (function name) -> the WorldParams fields it owns, in the order of the causal graph
MECHANISMS: dict = {}


def _owns(*fields, reads=()):
    """Register a mechanism, the WorldParams fields it owns, and any it reads that another owns."""
    def register(fn):
        MECHANISMS[fn.__name__] = fields
        fn.params_owned, fn.params_read = fields, reads
        return fn
    return register


# --- people ---------------------------------------------------------------------------
@_owns("migrant_share")
def residency_status(rng, p, n):
    """-> residency status A: True for a migrant, with probability ``migrant_share``."""
    return rng.random(n) < p.migrant_share


@_owns("district_migrant_share", reads=("migrant_share",))
def status_to_district(rng, p, migrant):
    """A -> district (residential segregation).

    Returns each resident's district index and every district's migrant share, the
    ``district_migrant_share`` profile rescaled so that it averages ``migrant_share``
    (read here, owned by :func:`residency_status`).
    """
    n = len(migrant)
    share = np.asarray(p.district_migrant_share, dtype=float)
    scaled = np.clip(share * p.migrant_share / share.mean(), 0, 1) if share.mean() > 0 else share
    p_d_mig = scaled / scaled.sum() if scaled.sum() > 0 else np.full(len(share), 1 / len(share))
    p_d_loc = (1 - scaled) / (1 - scaled).sum()
    d_idx = np.where(migrant,
                     rng.choice(len(share), size=n, p=p_d_mig),
                     rng.choice(len(share), size=n, p=p_d_loc))
    return d_idx, scaled


@_owns("age_min", "age_max")
def age_of_residents(rng, p, n):
    """-> age, the same distribution in both groups (whole years, ``age_min`` up to ``age_max``)."""
    return (p.age_min + (p.age_max - p.age_min) * rng.beta(1.4, 2.0, n)).astype(int)


@_owns("born_in_city_local", "born_in_city_migrant", "arrival_age_min", "arrival_age_mean_local",
       "arrival_age_mean_migrant")
def status_age_to_years_in_city(rng, p, migrant, age):
    """A, age -> years in the city: since birth, or since the resident last came to the city.

    A share ``born_in_city_local`` / ``born_in_city_migrant`` has lived in the city since
    birth. Everyone else last arrived (moved in, or came back) at ``arrival_age_min`` plus an
    exponential number of years with mean ``arrival_age_mean_local`` / ``_migrant``; an
    arrival drawn beyond the resident's age is redrawn uniformly between the minimum and the age.
    """
    n = len(migrant)
    born_here = rng.random(n) < np.where(migrant, p.born_in_city_migrant, p.born_in_city_local)
    arrival = p.arrival_age_min + rng.exponential(1.0, n) * np.where(migrant, p.arrival_age_mean_migrant,
                                                                     p.arrival_age_mean_local)
    redraw = p.arrival_age_min + (age - p.arrival_age_min) * rng.random(n)
    arrival = np.where(arrival > age, redraw, arrival)
    return np.where(born_here, age, np.floor(age - arrival)).astype(int).clip(0)


@_owns("reliability_sd")
def latent_reliability(rng, p, n):
    """-> latent reliability R, normal with mean 0 and sd ``reliability_sd`` in every group."""
    return rng.normal(0, p.reliability_sd, n)


# --- work and income ------------------------------------------------------------------
EDUCATION_LEVELS = np.array(["primary", "secondary", "tertiary"], dtype=object)


@_owns("education_local", "education_migrant")
def status_to_education(rng, p, migrant):
    """A -> education (unequal access): index into ``EDUCATION_LEVELS``."""
    u = rng.random(len(migrant))
    cum_l, cum_m = np.cumsum(p.education_local), np.cumsum(p.education_migrant)
    return np.where(migrant, np.searchsorted(cum_m, u * cum_m[-1]), np.searchsorted(cum_l, u * cum_l[-1]))


@_owns("informal_by_education", "informal_migrant_extra")
def education_status_to_job_sector(rng, p, edu_i, migrant):
    """education, A -> job sector (work permits): True for informal work."""
    p_inf = np.asarray(p.informal_by_education)[edu_i] + p.informal_migrant_extra * migrant
    return rng.random(len(edu_i)) < np.clip(p_inf, 0, 1)


@_owns("income_median_by_education", "income_informal_factor", "income_log_sd")
def education_sector_to_income(rng, p, edu_i, informal):
    """education, job sector -> monthly income (cu, rounded to 10 cu)."""
    income = (np.asarray(p.income_median_by_education)[edu_i]
              * np.where(informal, p.income_informal_factor, 1.0)
              * np.exp(rng.normal(0, p.income_log_sd, len(edu_i))))
    return np.round(income, -1)


# --- policing and records -------------------------------------------------------------
@_owns("offence_rate_base", "offence_reliability_effect", "offence_age_effect")
def reliability_age_to_true_offences(rng, p, reliability, age):
    """R, age -> true offences this year (Poisson; A has no effect)."""
    rate = p.offence_rate_base * np.exp(p.offence_reliability_effect * reliability
                                        + p.offence_age_effect * (age - 18) / 10)
    return rng.poisson(rate)


@_owns("detection_base", "detection_slope")
def district_to_recorded_offences(rng, p, true_offences, district_share):
    """district -> detection probability; true offences x detection -> recorded offences (label bias).

    ``district_share`` is the migrant share of each resident's district.
    Returns (detection probability, recorded offences).
    """
    detection = np.clip(p.detection_base + p.detection_slope * district_share, 0, 1)
    return detection, rng.binomial(true_offences, detection)


# --- credit and defaults --------------------------------------------------------------
#: months over which a loan is repaid (monthly repayment = loan amount / this)
REPAYMENT_MONTHS = 36.0


@_owns("loan_share", "loan_months_median", "loan_months_log_sd", "debt_band_cuts")
def income_to_loan(rng, p, income):
    """-> holds a loan; income -> loan amount; loan amount, income -> debt band.

    Returns (has_loan, principal, monthly repayment, debt band); NaN / None for non-borrowers.
    """
    n = len(income)
    has_loan = rng.random(n) < p.loan_share
    principal = np.where(has_loan,
                         np.round(income * p.loan_months_median * np.exp(rng.normal(0, p.loan_months_log_sd, n)), -2),
                         np.nan)
    repayment_monthly = principal / REPAYMENT_MONTHS
    band = _debt_band(repayment_monthly / income, p.debt_band_cuts)
    return has_loan, principal, repayment_monthly, band


@_owns("shock_formal", "shock_informal", "default_logit_base", "default_logit_shock", "default_logit_debt",
       "default_logit_reliability")
def sector_debt_reliability_to_default(rng, p, informal, band, reliability, has_loan):
    """job sector -> income shock; shock, debt band, R -> default, this year and next year.

    Returns (shock, defaulted, shock next year, default next year).
    """
    p_shock = np.where(informal, p.shock_informal, p.shock_formal)
    shock = rng.random(len(informal)) < p_shock
    defaulted = _defaults(rng, p, shock, band, reliability, has_loan)
    shock_next = rng.random(len(informal)) < p_shock
    default_next = _defaults(rng, p, shock_next, band, reliability, has_loan)
    return shock, defaulted, shock_next, default_next


@_owns()
def default_to_outstanding(rng, p, defaulted, principal):
    """default, loan amount -> outstanding debt: a uniform 30-90 % of the loan (100 cu); NaN without a default."""
    return np.where(defaulted, np.round(principal * rng.uniform(0.3, 0.9, len(defaulted)), -2), np.nan)


@_owns()
def years_in_city_to_credit_history(rng, p, has_loan, years_in_city, age):
    """years in the city, age -> credit-history length: 50-100 % of min(years in city, age - 18), borrowers only."""
    return np.where(has_loan,
                    np.floor(np.minimum(years_in_city, age - 18) * rng.uniform(0.5, 1.0, len(has_loan))), np.nan)


# --- courts and bans ------------------------------------------------------------------
@_owns("court_threshold", "court_sue_prob")
def outstanding_to_court_list(rng, p, defaulted, outstanding):
    """outstanding debt -> court defaulter list (and so a travel ban): over the threshold, the creditor sues."""
    return defaulted & (outstanding > p.court_threshold) & (rng.random(len(defaulted)) < p.court_sue_prob)


# --- apps and spending ----------------------------------------------------------------
@_owns("app_use_local", "app_use_migrant", "app_share_median", "app_share_log_sd")
def status_income_to_app_spending(rng, p, migrant, income):
    """A -> uses the payment app; income -> yearly app spending (cu, 10 cu; NaN for non-users).

    Returns (uses_app, app spending).
    """
    n = len(migrant)
    uses_app = rng.random(n) < np.where(migrant, p.app_use_migrant, p.app_use_local)
    spending = np.where(uses_app,
                        np.round(12 * income * p.app_share_median * np.exp(rng.normal(0, p.app_share_log_sd, n)), -1),
                        np.nan)
    return uses_app, spending


@_owns("phone_noise_sd")
def income_to_phone_tier(rng, p, income):
    """income -> phone tier: log(income / 5000) + noise, cut at -0.25 and 0.35 (budget / mid / flagship)."""
    signal = np.log(income / 5000.0) + rng.normal(0, p.phone_noise_sd, len(income))
    return np.select([signal < -0.25, signal < 0.35], ["budget", "mid"], "flagship").astype(object)


@_owns("piracy_logit_base", "piracy_logit_income")
def income_to_pirated_software(rng, p, income):
    """income -> pirated-software flag (logistic in log income)."""
    return rng.random(len(income)) < _logistic(p.piracy_logit_base + p.piracy_logit_income * np.log(income / 5000.0))


@_owns("volunteer_hours_formal", "volunteer_hours_informal")
def sector_to_volunteering(rng, p, informal):
    """job sector -> volunteering hours a year (free time): Poisson with a gamma-distributed mean."""
    return rng.poisson(np.where(informal, p.volunteer_hours_informal, p.volunteer_hours_formal)
                       * rng.gamma(1.0, 1.0, len(informal)))


# --- ratings --------------------------------------------------------------------------
@_owns("ratings_per_resident", "rating_same_district", "rating_base", "rating_reliability_effect",
       "rating_in_group_bonus", "rating_noise_sd")
def district_status_reliability_to_ratings(rng, p, d_idx, migrant, reliability):
    """district -> whom one rates (homophily); A -> stars (in-group bias); ratee's R -> stars.

    Returns (rater, ratee, stars), indices into the block; a draw that picked the rater is dropped.
    """
    n = len(d_idx)
    k = p.ratings_per_resident
    rater = np.repeat(np.arange(n), k)
    same = rng.random(n * k) < p.rating_same_district
    # a random resident of the rater's own district, or of the whole city
    order = np.argsort(d_idx, kind="stable")
    counts = np.bincount(d_idx, minlength=len(DISTRICTS))
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
    return rater, ratee, np.clip(np.round(stars_raw), 1, 5).astype(int)


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
    """One block of ``n`` residents numbered from ``first``, drawn with ``rng``: the causal story, in order."""
    r = SimpleNamespace(num=np.arange(first, first + n))
    # people
    r.migrant = residency_status(rng, p, n)
    r.d_idx, r.district_shares = status_to_district(rng, p, r.migrant)
    r.age = age_of_residents(rng, p, n)
    r.years_in_city = status_age_to_years_in_city(rng, p, r.migrant, r.age)
    r.reliability = latent_reliability(rng, p, n)
    # work and income
    r.edu_i = status_to_education(rng, p, r.migrant)
    r.informal = education_status_to_job_sector(rng, p, r.edu_i, r.migrant)
    r.income = education_sector_to_income(rng, p, r.edu_i, r.informal)
    # policing and records
    r.true_offences = reliability_age_to_true_offences(rng, p, r.reliability, r.age)
    r.detection, r.recorded_offences = district_to_recorded_offences(rng, p, r.true_offences,
                                                                     r.district_shares[r.d_idx])
    # credit and defaults
    r.has_loan, r.principal, r.repayment_monthly, r.band = income_to_loan(rng, p, r.income)
    r.shock, r.defaulted, r.shock_next, r.default_next = sector_debt_reliability_to_default(
        rng, p, r.informal, r.band, r.reliability, r.has_loan)
    r.outstanding = default_to_outstanding(rng, p, r.defaulted, r.principal)
    r.history_years = years_in_city_to_credit_history(rng, p, r.has_loan, r.years_in_city, r.age)
    # courts and bans
    r.listed = outstanding_to_court_list(rng, p, r.defaulted, r.outstanding)
    # apps and spending
    r.uses_app, r.app_spending = status_income_to_app_spending(rng, p, r.migrant, r.income)
    r.phone_tier = income_to_phone_tier(rng, p, r.income)
    r.pirated = income_to_pirated_software(rng, p, r.income)
    r.volunteer_hours = sector_to_volunteering(rng, p, r.informal)
    # ratings
    r.rater, r.ratee, r.stars = district_status_reliability_to_ratings(rng, p, r.d_idx, r.migrant, r.reliability)
    return agency_records(rng, p, r)


# --- the agencies' records ------------------------------------------------------------
@_owns("duplicate_share", "misspelling_share", "age_missing_share", "income_missing_formal",
       "income_missing_informal")
def agency_records(rng, p, r):
    """world -> each agency's records (with their messiness), the truth table and the clean ``citizens``."""
    r.district = np.asarray(DISTRICTS, dtype=object)[r.d_idx]
    r.education = EDUCATION_LEVELS[r.edu_i]
    r.sector = np.where(r.informal, "informal", "formal").astype(object)
    r.hukou = np.where(r.migrant, "migrant", "local").astype(object)
    r.ids = format_id(r.num)
    return {
        "registry": _registry(rng, p, r),
        "labour": _labour(rng, p, r),
        "police": _police(rng, r),
        "bank": _bank(rng, p, r),
        "courts": _courts(r),
        "payments": _payments(r),
        "community": pd.DataFrame({"resident_id": r.ids, "volunteer_hours": r.volunteer_hours}),
        "ratings": pd.DataFrame({"rater_id": r.ids[r.rater], "ratee_id": r.ids[r.ratee], "stars": r.stars}),
        "truth": _truth(r),
        "citizens": _citizens(r),
    }


def _registry(rng, p, r):
    """Household Registration Bureau: duplicates, misspelled status, missing ages; rows shuffled."""
    n = len(r.num)
    reg_age = pd.array(r.age, dtype="Int64")
    reg_age[rng.random(n) < p.age_missing_share] = pd.NA
    registry = pd.DataFrame({
        "resident_id": r.ids,
        "hukou": _misspell(rng, r.hukou, {"local": ["Local", "LOCAL", "local "],
                                          "migrant": ["Migrant", "non-local", "MIGRANT"]}, p.misspelling_share),
        "district": r.district,
        "age": reg_age,
        "education": r.education,
        "years_in_city": r.years_in_city,
    })
    return _with_duplicates(rng, registry, p.duplicate_share)


def _labour(rng, p, r):
    """Labour Bureau: bare-integer ids, misspelled sector, incomes missing more often for informal work."""
    n = len(r.num)
    miss = rng.random(n) < np.where(r.informal, p.income_missing_informal, p.income_missing_formal)
    labour = pd.DataFrame({
        "person_no": format_id(r.num, "int"),
        "job_sector": _misspell(rng, r.sector, {"formal": ["Formal", "FORMAL"], "informal": ["Informal", "in-formal"]},
                                p.misspelling_share),
        "monthly_income": np.where(miss, np.nan, r.income),
    })
    return labour.iloc[rng.permutation(n)].reset_index(drop=True)


def _police(rng, r):
    """City Police: one row per recorded incident; the kind of offence is drawn at random."""
    who = np.repeat(r.num, r.recorded_offences)
    kinds = np.array(["public disorder", "traffic", "petty theft", "jaywalking", "unlicensed vending"], dtype=object)
    return pd.DataFrame({
        "incident_no": np.arange(1, len(who) + 1),
        "subject_ref": format_id(who, "nodash") if len(who) else np.array([], dtype=object),
        "offence": kinds[rng.integers(0, len(kinds), len(who))],
        "district": r.district[who - r.num[0]],
    })


def _bank(rng, p, r):
    """Credit Bureau: borrowers only, lower-case ids, duplicates."""
    b = np.flatnonzero(r.has_loan)
    bank = pd.DataFrame({
        "customer": format_id(r.num[b], "lower"),
        "loan_amount": r.principal[b],
        "monthly_repayment": np.round(r.repayment_monthly[b], 2),
        "debt_band": r.band[b],
        "credit_history_years": r.history_years[b],
        "defaulted": r.defaulted[b].astype(int),
        "outstanding": r.outstanding[b],
    })
    return _with_duplicates(rng, bank, p.duplicate_share)


def _courts(r):
    """Municipal Court: the public defaulter list (every listed debtor is barred from flights and rail)."""
    li = np.flatnonzero(r.listed)
    return pd.DataFrame({
        "case_no": [f"C{i:05d}" for i in range(1, len(li) + 1)],
        "debtor_id": r.ids[li],
        "amount_owed": r.outstanding[li],
        "flight_ban": 1,
        "rail_ban": 1,
    })


def _payments(r):
    """The payment app: users only, ids with a trailing space."""
    users = np.flatnonzero(r.uses_app)
    return pd.DataFrame({
        "account_holder": format_id(r.num[users], "padded"),
        "annual_spending": r.app_spending[users],
        "phone_tier": r.phone_tier[users],
        "pirated_software_flag": r.pirated[users].astype(int),
    })


def _truth(r):
    """What the agencies never see."""
    return pd.DataFrame({
        "resident_id": r.ids,
        "reliability": np.round(r.reliability, 4),
        "true_offences": r.true_offences,
        "detection_prob": np.round(r.detection, 4),
        "income_shock": r.shock.astype(int),
        "income_shock_next_year": r.shock_next.astype(int),
        "default_next_year": np.where(r.has_loan, r.default_next.astype(float), np.nan),
    })


def _citizens(r):
    """One clean row per resident (the analysis table for Lessons 2 onwards)."""
    n = len(r.num)
    recv_sum = np.bincount(r.ratee, weights=r.stars, minlength=n)
    recv_cnt = np.bincount(r.ratee, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_rating = np.where(recv_cnt > 0, recv_sum / np.maximum(recv_cnt, 1), np.nan)
    return pd.DataFrame({
        "resident_id": r.ids,
        "hukou": r.hukou,
        "district": r.district,
        "age": r.age,
        "education": r.education,
        "years_in_city": r.years_in_city,
        "job_sector": r.sector,
        "monthly_income": r.income,
        "recorded_offences": r.recorded_offences,
        "has_loan": r.has_loan.astype(int),
        "loan_amount": r.principal,
        "debt_band": r.band,
        "credit_history_years": r.history_years,
        "defaulted": np.where(r.has_loan, r.defaulted.astype(float), np.nan),
        "listed": r.listed.astype(int),
        "travel_ban": r.listed.astype(int),
        "app_spending": r.app_spending,
        "phone_tier": np.where(r.uses_app, r.phone_tier, None),
        "pirated_software": np.where(r.uses_app, r.pirated.astype(float), np.nan),
        "volunteer_hours": r.volunteer_hours,
        "mean_rating": np.round(mean_rating, 4),
        "ratings_received": recv_cnt,
        "default_next_year": np.where(r.has_loan, r.default_next.astype(float), np.nan),
    })


__all__ = ["CITY", "DEFAULT_SEED", "DEFAULT_N", "DISTRICTS", "AGENCY_TABLES", "TABLES",
           "WorldParams", "generate_world", "format_id"]
