"""The environment: Lanternport's dynamics, one year at a time (after ml-fairness-gym's environments).

:class:`CityEnvironment` applies the decisions it is given (:class:`Decisions`),
draws what happens (incomes, defaults, the court list, true offences, detection
by patrols, peer ratings), keeps the raw counts, and shows the agencies an
:class:`Observation`. It never measures fairness; the metrics read its history.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..world import DISTRICTS
from ._checks import _generator
from .params import SimParams

_DISTRICT_COLUMNS = ("year", "district", "hukou", "residents", "true_offences", "recorded_offences",
                     "patrol_share", "detection_prob", "banned", "loan_denied", "borrowers", "defaults",
                     "listed", "total_income", "total_rating", "low_rated")
_RESIDENT_COLUMNS = ("year", "resident_id", "district", "hukou", "true_offences", "recorded_offences",
                     "patrol_share", "detection_prob", "banned", "loan_denied", "has_loan", "defaulted",
                     "listed", "income", "rating", "score")
#: a displayed rating below this counts as "low rated" in the history
LOW_RATING = 3.0


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
        A replacement for the rating-update step (see :mod:`socialcredit.simulate`).
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


__all__ = ["LOW_RATING", "Observation", "Decisions", "CityEnvironment"]
