"""How far the course's quoted numbers, and the conclusions drawn from them, move on students' own worlds.

    .venv/bin/python scripts/student_worlds.py [--k 20] [--lesson 03-who-pays] [--json out.json]

On a course hub each student reads a world of their own (``socialcredit.data.student_seed(2024, user)``, same
generator and parameters as the shipped ``datasets/``). The lessons and rubrics quote numbers measured on the
shipped world, all registered with the code that recomputes them in ``tests/quoted/<lesson>.toml``. This script
draws the worlds of K hub students (ids ``s01`` … ``sK``), recomputes every registered number on each (the same
register and the same student switch as ``python -m socialcredit figures``), and prints

1. per quoted number: the shipped value, and the median and the 5th–95th percentile range over the K worlds
   (``numpy.percentile``, linear interpolation: with K = 20 the 5th percentile lies between the two smallest
   values);
2. per **conclusion** (a sentence of a lesson or rubric that rests on a number crossing a threshold or having a
   sign; the table ``CONCLUSIONS`` below names each one, where it is written, and the code that decides it): the
   shipped value, whether it holds on the shipped world, the range over the K worlds and in how many of the K
   it holds.

Worlds are written once to ``~/.cache/socialcredit`` (``SOCIALCREDIT_CACHE``) and read from there afterwards.
Everything runs in one process, one world at a time: 13–45 s a world for all six lessons on the shared 2-core
machine (K = 20 plus the shipped world took 6.5 min, 10.5 min under heavier load).
Numbers in the "On students' own worlds" sections of ``instructors/*.md`` come from
``scripts/student_worlds.py --k 20``.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

from socialcredit import figures as F  # noqa: E402  (the register and the student switch of `figures`)

# Modules the register's code caches its fits in, per process; they must be forgotten between worlds, or every
# world after the first reports the first world's numbers. Lesson 4's entries cache theirs in `_quoted_l04` (the
# "shared" block of its toml); `figures._HELPERS` lists it since this script's commit, named here as well so that
# the script stays right with an older installed package.
_CACHES = tuple(dict.fromkeys(tuple(F._HELPERS) + ("_quoted_l04",)))
LESSONS = ("01-dossier", "02-build-the-score", "03-who-pays", "04-blind-but-not-neutral", "05-nosedive",
           "06-audit-and-redesign")
_NUM = re.compile(r"[-+−]?\d[\d,]*(?:\.\d+)?")


def numbers(value):
    """The numbers in a registered ``value``: a number, a tuple/list of numbers, or a formatted string."""
    if isinstance(value, str):
        return [float(m.replace(",", "").replace("−", "-")) for m in _NUM.findall(value)]
    if isinstance(value, (list, tuple, np.ndarray)):
        return [float(v) for v in value]
    return [float(value)]


def fmt(x):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "nan"
    if isinstance(x, (bool, np.bool_, str)):
        return str(x)
    x = float(x)
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    if abs(x) >= 0.01 or x == 0:
        return f"{x:.3f}"
    return f"{x:.4f}"


class World:
    """One world's registered numbers: every entry's code run once, namespaces kept for the conclusions."""

    def __init__(self, student, entries):
        self.student = student
        self.entries = entries  # {(lesson, number): entry}, number 1-based as in the test ids (03-who-pays-83)
        self._by_code = {}

    def scope(self, lesson, number):
        code = self.entries[(lesson, number)]["code"]
        if code not in self._by_code:
            scope = {}
            try:
                exec(code, scope)  # noqa: S102 (the course's own register, not student code)
            except Exception as error:  # one failing figure must not hide the rest
                scope = {"value": None, "error": f"{type(error).__name__}: {error}"}
            self._by_code[code] = scope
        return self._by_code[code]

    def v(self, lesson, number, i=0):
        """The i-th number of entry ``number``'s value."""
        return numbers(self.scope(lesson, number)["value"])[i]


@contextlib.contextmanager
def as_world(student):
    """Read ``student``'s world ("" = the shipped one) with fresh per-process caches."""
    for name in _CACHES:
        sys.modules.pop(name, None)
    with F._as_student(ROOT, student), contextlib.redirect_stdout(io.StringIO()):
        try:
            yield
        finally:
            for name in _CACHES:
                sys.modules.pop(name, None)


# ----------------------------------------------------------------------------------------------------------------
# Conclusions: a sentence that rests on a number crossing a threshold or having a sign, and the code that decides
# whether it holds on a world. `value(w)` returns the deciding number, `holds(x)` decides. Entry numbers refer to
# tests/quoted/<lesson>.toml (1-based, as in the test ids).
# ----------------------------------------------------------------------------------------------------------------

@dataclass
class Conclusion:
    name: str
    lesson: str
    where: str  # file(s) and the words the conclusion rests on
    rule: str  # what "holds" means, in words
    value: Callable
    holds: Callable


def _fairlearn_ratio(y, approve, group):
    from fairlearn.metrics import demographic_parity_ratio
    return demographic_parity_ratio(y, approve.astype(int), sensitive_features=group)


def _chi2_p(rows, cols):
    import pandas as pd
    from scipy.stats import chi2_contingency
    return chi2_contingency(pd.crosstab(rows, cols))[1]


def _l2_ban_permutation(w):
    """Lesson 2 §2.6: shuffles (of 1,000, seed 0) whose migrant − local ban-rate gap reaches the observed one."""
    s = w.scope("02-build-the-score", 15)
    banned, h = s["so"].to_numpy(), s["h"].to_numpy() == "migrant"
    obs = banned[h].mean() - banned[~h].mean()
    rng = np.random.default_rng(0)
    null = []
    for _ in range(1000):
        p = rng.permutation(h)
        null.append(banned[p].mean() - banned[~p].mean())
    return int((np.array(null) >= obs).sum())


def _l3_ppv_p(w):
    s = w.scope("03-who-pays", 31)
    d, y, h = s["d"], s["y"], s["h"]
    return _chi2_p(h[d == 1], y[d == 1])


def _l3_true_blacklist_p(w):
    o = w.scope("03-who-pays", 53)["o"]
    return _chi2_p(o["hukou"], o["true_offences"] >= 2)


def _l3_approval_ratio(w):
    s = w.scope("03-who-pays", 83)
    return _fairlearn_ratio(s["y"], 1 - s["d"], s["h"])


def _l4(w, key):
    return w.scope("04-blind-but-not-neutral", 61)["m"][key]


def _l4_remove_strongest(w):
    m = w.scope("04-blind-but-not-neutral", 61)["m"]
    return max(abs(m["rm1_gap"] - m["rm0_gap"]) / 0.01, abs(m["rm1_auc"] - m["rm0_auc"]) / 0.005)


def _l6(w):
    return w.scope("06-audit-and-redesign", 1)


def _l6_approval_ratio(w):
    t = _l6(w)["t"]
    return _fairlearn_ratio(t["y"], ~t["d"], t["hukou"])


def _l6_ppv_p(w):
    t = _l6(w)["t"]
    return _chi2_p(t.loc[t["d"], "hukou"], t.loc[t["d"], "y"])


def _l6_engine(w, group, end):
    s = w.scope("06-audit-and-redesign", 29)
    return s["ci"](s["engine_diff"]()[group])[end]


def _l5_shares(w):
    return w.scope("05-nosedive", 5)["shares"]()


L1, L2, L3, L4, L5, L6 = LESSONS
SOL = {k: f"solutions/{k}/{k}.ipynb" for k in LESSONS}
INS = {k: f"instructors/{k}.md" for k in LESSONS}

CONCLUSIONS = [
    # Lesson 1
    Conclusion("L1 informal incomes missing more often than formal", L1,
               f"{SOL[L1]}, {INS[L1]}: '9.9% against 2.0%', 'about five times as often'",
               "informal − formal missing share (points) > 0",
               lambda w: w.v(L1, 1) - w.v(L1, 2), lambda x: x > 0),
    Conclusion("L1 migrants' incomes missing more often than locals'", L1,
               f"{INS[L1]}: '6.0% vs 3.7% missing'", "migrant − local missing share (points) > 0",
               lambda w: w.v(L1, 10) - w.v(L1, 9), lambda x: x > 0),
    Conclusion("L1 migrants have more recorded incidents than locals", L1,
               f"{SOL[L1]}, {INS[L1]}: '1.7 times the locals' rate'", "migrant ÷ local mean recorded offences > 1",
               lambda w: w.v(L1, 3), lambda x: x > 1),
    Conclusion("L1 district ratios scatter on both sides of 1", L1,
               f"{INS[L1]}: 'the ratio scatters around 1, from about 0.4 to 1.3'",
               "lowest district ratio < 1 < highest", lambda w: (w.v(L1, 13, 0), w.v(L1, 13, 1)),
               lambda x: x[0] < 1 < x[1]),
    # Lesson 2
    Conclusion("L2 model accuracy no better than always predicting 'repays'", L2,
               f"{SOL[L2]}: 'just as often (about 86%)'", "|accuracy − majority share| < 1 point",
               lambda w: w.v(L2, 1) - w.v(L2, 4), lambda x: abs(x) < 1),
    Conclusion("L2 at 0.5 the model flags almost nobody", L2,
               f"{SOL[L2]}, {INS[L2]}: '1 of 3,496 test borrowers'", "borrowers flagged at 0.5 < 1% of the test set",
               lambda w: 100 * w.v(L2, 5, 0) / w.v(L2, 5, 1), lambda x: x < 1),
    Conclusion("L2 the point score ranks worse than the model (AUC)", L2,
               f"{SOL[L2]}, {INS[L2]}: 'ROC AUC of about 0.66' vs 'only about 0.58'", "model AUC − point-score AUC > 0",
               lambda w: w.v(L2, 7) - w.v(L2, 9), lambda x: x > 0),
    Conclusion("L2 'buy more' adds more points to locals than migrants", L2,
               f"{SOL[L2]}, {INS[L2]}: 'about 21 points on average to locals and 14 to migrants'",
               "locals' − migrants' mean gain > 0", lambda w: w.v(L2, 10, 0) - w.v(L2, 10, 1), lambda x: x > 0),
    Conclusion("L2 piracy penalty hits more migrants than locals", L2,
               f"{SOL[L2]}, {INS[L2]}: 'costs points to 28% of migrants and 23% of locals'",
               "migrants' − locals' share (points) > 0", lambda w: w.v(L2, 13, 0) - w.v(L2, 13, 1), lambda x: x > 0),
    Conclusion("L2 the score bans migrants more often than locals", L2,
               f"{SOL[L2]}, {INS[L2]}: 'bans about 0.7% of migrants but 0.2% of locals'",
               "migrants' ban rate ÷ locals' > 1", lambda w: w.v(L2, 14, 0) / w.v(L2, 14, 1), lambda x: x > 1),
    Conclusion("L2 bootstrap interval of the ban ratio lies above 1", L2,
               f"{INS[L2]}: 'a bootstrap within each group … between about 2.6 and 7.2'",
               "lower end of the bootstrap interval (2,000 resamples) > 1", lambda w: w.v(L2, 19, 0),
               lambda x: x > 1),
    Conclusion("L2 no shuffle of 1,000 reaches the ban gap", L2,
               f"{SOL[L2]}: 'If not one shuffle in 1,000 reaches the real gap'",
               "shuffles (1,000, seed 0) with a gap ≥ the observed = 0", _l2_ban_permutation, lambda x: x == 0),
    Conclusion("L2 ban gap beyond chance (permutation p < 0.05)", L2,
               f"{SOL[L2]}: permutation test of the ban gap", "(1 + count) / 1,001 < 0.05",
               lambda w: (1 + _l2_ban_permutation(w)) / 1001, lambda x: x < 0.05),
    # Lesson 3
    Conclusion("L3 four-fifths rule does not flag loan approvals", L3,
               f"{SOL[L3]}, {INS[L3]}: 'an impact ratio of about 0.85, which is not below 0.8'",
               "fairlearn demographic_parity_ratio of approvals ≥ 0.8", _l3_approval_ratio, lambda x: x >= 0.8),
    Conclusion("L3 residency ban gap: permutation p < 0.01", L3,
               f"{SOL[L3]}, {INS[L3]}: 'permutation p = 0.001', 'chance alone is a poor explanation'",
               "permutation p (1,000 shuffles, seed 0) < 0.01", lambda w: w.v(L3, 28), lambda x: x < 0.01),
    Conclusion("L3 residency ban gap: permutation p < 0.05", L3, f"{SOL[L3]}, {INS[L3]}: as above",
               "permutation p < 0.05", lambda w: w.v(L3, 28), lambda x: x < 0.05),
    Conclusion("L3 residency ban gap: χ² p < 0.05", L3, f"{INS[L3]}: 'χ² test of the 2 × 2 table, p = 0.0002'",
               "scipy chi2_contingency p < 0.05", lambda w: w.v(L3, 13), lambda x: x < 0.05),
    Conclusion("L3 district max ÷ min not rare under chance (p ≥ 0.05)", L3,
               f"{SOL[L3]}, {INS[L3]}: 'p = 0.06 (weak evidence … not rare under them)'",
               "max ÷ min permutation p ≥ 0.05", lambda w: w.v(L3, 17), lambda x: x >= 0.05),
    Conclusion("L3 district χ² p < 0.05", L3, f"{INS[L3]}: 'the χ² test across the 12 districts gives p = 0.04'",
               "scipy chi2_contingency p < 0.05", lambda w: w.v(L3, 12), lambda x: x < 0.05),
    Conclusion("L3 district max ÷ min above its chance median", L3,
               f"{SOL[L3]}, {INS[L3]}: 'highest ÷ lowest ban rate 1.58; under shuffled labels its median is 1.38'",
               "observed max ÷ min − chance median > 0", lambda w: w.v(L3, 18) - w.v(L3, 16), lambda x: x > 0),
    Conclusion("L3 migrants denied more often than locals", L3, f"{SOL[L3]}, {INS[L3]}: '24%' vs '10%'",
               "denial harm ratio (migrant ÷ local) > 1", lambda w: w.v(L3, 27), lambda x: x > 1),
    Conclusion("L3 repaying migrants wrongly refused more often (FPR)", L3,
               f"{SOL[L3]}, {INS[L3]}: 'FPR 21% vs 9%', '2.43 times'", "FPR ratio migrant ÷ local > 1",
               lambda w: w.v(L3, 26), lambda x: x > 1),
    Conclusion("L3 FPR ratio above 2", L3, f"{SOL[L3]}: 'was 2.43 times as likely to be refused'",
               "FPR ratio > 2", lambda w: w.v(L3, 26), lambda x: x > 2),
    Conclusion("L3 migrant defaulters approved less often than locals (FNR)", L3,
               f"{SOL[L3]}, {INS[L3]}: 'about 60% of migrant defaulters but 78% of local defaulters'",
               "FNR migrant − local < 0", lambda w: w.v(L3, 23) - w.v(L3, 22), lambda x: x < 0),
    Conclusion("L3 PPV similar in both groups", L3, f"{SOL[L3]}, {INS[L3]}: 'The PPV is similar, about 0.28 … 0.29'",
               "χ² test of default among the denied by group: p ≥ 0.05", _l3_ppv_p, lambda x: x >= 0.05),
    Conclusion("L3 migrants' offences recorded more often", L3, f"{SOL[L3]}, {INS[L3]}: '48%' vs '28%'",
               "recorded share migrant − local (points) > 0", lambda w: w.v(L3, 35) - w.v(L3, 34), lambda x: x > 0),
    Conclusion("L3 recorded-offence blacklist hits migrants more", L3, f"{SOL[L3]}: '2.2% … 0.7%, 3.0 times the rate'",
               "blacklist ratio (recorded) > 1", lambda w: w.v(L3, 52), lambda x: x > 1),
    Conclusion("L3 true-offence blacklist practically the same", L3, f"{SOL[L3]}: 'about 6.3% and 6.3%, practically the same'",
               "χ² test of (true offences ≥ 2) by group: p ≥ 0.05", _l3_true_blacklist_p, lambda x: x >= 0.05),
    # Lesson 4
    Conclusion("L4 dropping hukou widens the gap (10-split interval above 0)", L4,
               f"{INS[L4]} rubric 4.1: 'a small widening whose interval lies above 0'; {SOL[L4]} key points: "
               "'In this world it even widens'", "2.5% percentile of change (blind − aware) over 10 splits > 0",
               lambda w: _l4(w, "splits_change_lo"), lambda x: x > 0),
    Conclusion("L4 mean change (blind − aware) > 0", L4, f"{INS[L4]}: 'change (blind − aware) +0.026'",
               "mean change over 10 splits > 0", lambda w: _l4(w, "splits_change_mean"), lambda x: x > 0),
    Conclusion("L4 aware model's hukou_migrant weight negative", L4,
               f"{SOL[L4]}, {INS[L4]}: 'migrant status lowers the predicted risk' (-0.024)",
               "standardised weight (split 0) < 0", lambda w: _l4(w, "w_hukou_migrant"), lambda x: x < 0),
    Conclusion("L4 zeroed hukou weights push the aware gap above the blind gap", L4,
               f"{SOL[L4]}: 'on the shipped world above even the blind model's (… 12.3 to 16.5 points, against 14.9)'",
               "mean zeroed gap − mean blind gap > 0",
               lambda w: _l4(w, "splits_zeroed_mean") - _l4(w, "splits_blind_mean"), lambda x: x > 0),
    Conclusion("L4 best possible predictor's gap above 0 (interval)", L4,
               f"{SOL[L4]}: 'Even the best possible predictor flags migrants more often than locals'",
               "2.5% percentile of the best gap > 0", lambda w: _l4(w, "splits_best_lo"), lambda x: x > 0),
    Conclusion("L4 blind model's excess over the best predictor above 0 (interval)", L4,
               f"{INS[L4]}: 'blind minus best +0.040 (+0.019 to +0.054)'", "2.5% percentile of blind − best > 0",
               lambda w: _l4(w, "splits_excess_lo"), lambda x: x > 0),
    Conclusion("L4 ablation: change interval includes 0", L4,
               f"{INS[L4]}: 'the widening to +0.013 (middle 95% -0.007 to +0.037, an interval that includes 0)'",
               "2.5% percentile ≤ 0 ≤ 97.5% percentile",
               lambda w: (_l4(w, "abl_change_lo"), _l4(w, "abl_change_hi")), lambda x: x[0] <= 0 <= x[1]),
    Conclusion("L4 district is the strongest single proxy", L4,
               f"{SOL[L4]}, {INS[L4]}: '`district` is the strongest single proxy (oriented AUC 0.80)'",
               "district first by oriented AUC", lambda w: _l4(w, "order")[0], lambda x: x == "district"),
    Conclusion("L4 job_sector is the second proxy", L4,
               f"{SOL[L4]}: 'when `job_sector`, the next strongest, went'", "job_sector second by oriented AUC",
               lambda w: _l4(w, "order")[1], lambda x: x == "job_sector"),
    Conclusion("L4 removing district moves the gap by at most 1 point", L4,
               f"{INS[L4]} rubric 4.2: 'what removing it did to the gap … (on the shipped world, `district`: little or "
               "nothing)'", "|gap after removing the strongest − blind gap| ≤ 0.01 (split 0; signed value shown)",
               lambda w: _l4(w, "rm1_gap") - _l4(w, "rm0_gap"), lambda x: abs(x) <= 0.01),
    Conclusion("L4 removing district moves the ROC AUC by at most 0.005", L4, f"{INS[L4]}: as above (0.671 → 0.673)",
               "|ROC AUC after − before| ≤ 0.005 (split 0; signed value shown)",
               lambda w: _l4(w, "rm1_auc") - _l4(w, "rm0_auc"), lambda x: abs(x) <= 0.005),
    Conclusion("L4 removing the strongest proxy leaves gap and AUC in place", L4,
               f"{INS[L4]}: 'removing it leaves the gap and the ROC AUC where they were'",
               "max(|Δgap| / 0.01, |ΔAUC| / 0.005) ≤ 1 (split 0)", _l4_remove_strongest, lambda x: x <= 1),
    Conclusion("L4 removing the second proxy lowers the gap", L4,
               f"{SOL[L4]}, {INS[L4]}: 'the drop at `job_sector` is the one to teach' (15.6 → 11.9 points)",
               "gap after 2 removed − after 1 removed < −0.01 (split 0)",
               lambda w: _l4(w, "rm2_gap") - _l4(w, "rm1_gap"), lambda x: x < -0.01),
    Conclusion("L4 removing the second proxy lowers the ROC AUC", L4,
               f"{SOL[L4]}: 'and the ROC AUC fell with it (to 0.65)'", "ROC AUC after 2 removed − after 1 removed < 0",
               lambda w: _l4(w, "rm2_auc") - _l4(w, "rm1_auc"), lambda x: x < 0),
    Conclusion("L4 with 8 proxies removed the gap falls below the best predictor's", L4,
               f"{SOL[L4]}: 'It even fell below the best possible predictor's gap'",
               "gap with 8 removed − best gap (split 0) < 0", lambda w: _l4(w, "rm8_gap") - _l4(w, "best_gap"),
               lambda x: x < 0),
    Conclusion("L4 blind model's flags not flagged by four-fifths", L4,
               f"{INS[L4]}: impact ratio of the blind model 0.82", "blind impact ratio (not flagged) ≥ 0.8",
               lambda w: _l4(w, "blind_impact"), lambda x: x >= 0.8),
    # Lesson 5
    Conclusion("L5 ban gap widens from year 1 to year 10", L5, f"{SOL[L5]}, {INS[L5]}: '0.013 (year 1) → 0.107 (year 10)'",
               "year-10 gap − year-1 gap > 0", lambda w: w.v(L5, 10, 1) - w.v(L5, 10, 0), lambda x: x > 0),
    Conclusion("L5 forgetting and appeals narrow the ban gap more than correction and audits", L5,
               f"{SOL[L5]}, {INS[L5]}: 'forgetting (0.046) and appeals (0.057) … roughly halved it'",
               "max(forget, appeal) − min(correction, audit) < 0",
               lambda w: max(w.v(L5, 3, 0), w.v(L5, 3, 1)) - min(w.v(L5, 2, 0), w.v(L5, 2, 1)), lambda x: x < 0),
    Conclusion("L5 correction brings the record ratio closest to 1", L5,
               f"{SOL[L5]}: 'the correction brought it from about 1.62 … to about 1.03'",
               "|correction − 1| < |audit − 1| < |none − 1|",
               lambda w: (abs(w.v(L5, 4, 1) - 1), abs(w.v(L5, 4, 2) - 1), abs(w.v(L5, 4, 0) - 1)),
               lambda x: x[0] < x[1] < x[2]),
    Conclusion("L5 all loops end above no loops in every seed", L5,
               f"{INS[L5]}: 'all loops 0.108 (0.107–0.110); no loops 0.083 (0.080–0.085)'",
               "min over seeds of (all loops − no loops) > 0",
               lambda w: float((w.scope(L5, 9)["ablation"]()[0]["all loops"]
                                - w.scope(L5, 9)["ablation"]()[0]["no loops"]).min()), lambda x: x > 0),
    Conclusion("L5 accumulation explains more of the widening than the loops, every seed", L5,
               f"{INS[L5]}: 'accumulation is the larger part … in every seed'; {SOL[L5]}: 'about a quarter … three quarters'",
               "min over seeds of (accumulation share − loops share) > 0",
               lambda w: float((_l5_shares(w)["accumulation"] - _l5_shares(w)["loops"]).min()), lambda x: x > 0),
    Conclusion("L5 loops explain under half of the widening, every seed", L5,
               f"{SOL[L5]}: 'the feedback loops explain about a quarter'", "max over seeds of loops share < 0.5",
               lambda w: float(_l5_shares(w)["loops"].max()), lambda x: x < 0.5),
    Conclusion("L5 migrant ÷ local ban-rate ratio grows", L5, f"{SOL[L5]}: 'a ratio of 1.25 becoming 1.51'",
               "year-10 ratio − year-1 ratio > 0",
               lambda w: w.v(L5, 14, 1) / w.v(L5, 14, 3) - w.v(L5, 14, 0) / w.v(L5, 14, 2), lambda x: x > 0),
    Conclusion("L5 feedback widens the rating gap", L5,
               f"{SOL[L5]}: 'migrants end 0.33 stars below locals, with none 0.14'",
               "rating gap all loops − no loops > 0", lambda w: w.v(L5, 8, 0) - w.v(L5, 8, 1), lambda x: x > 0),
    # Lesson 6
    Conclusion("L6 four-fifths rule does not flag approvals (test split)", L6,
               f"{SOL[L6]} memo, {INS[L6]}: 'about 85 % of locals', above the four-fifths line",
               "fairlearn demographic_parity_ratio of approvals ≥ 0.8", _l6_approval_ratio, lambda x: x >= 0.8),
    Conclusion("L6 repaying migrants wrongly refused more than twice as often", L6,
               f"{SOL[L6]}: '2.4 times', 'more than twice as often'", "FPR ratio > 2",
               lambda w: w.v(L6, 1), lambda x: x > 2),
    Conclusion("L6 FPR difference: bootstrap interval excludes 0", L6,
               f"{SOL[L6]}: 'a bootstrap interval of roughly 11 to 16 points'", "lower end (points) > 0",
               lambda w: w.v(L6, 21), lambda x: x > 0),
    Conclusion("L6 refusals about equally precise (PPV)", L6, f"{SOL[L6]}: 'of the refused, 26 % and 29 %'",
               "χ² test of default among the refused by group: p ≥ 0.05", _l6_ppv_p, lambda x: x >= 0.05),
    Conclusion("L6 migrants default more often", L6, f"{SOL[L6]}: 'about 18 % against 14 %'",
               "base rate migrant − local (points) > 0", lambda w: w.v(L6, 25) - w.v(L6, 26), lambda x: x > 0),
    Conclusion("L6 base rates account for under half of the FPR ratio", L6,
               f"{SOL[L6]}: 'only about a third … probably most of it is the second kind'",
               "log(base-rate odds ratio) ÷ log(FPR ratio) < 0.5",
               lambda w: math.log(w.v(L6, 4)) / math.log(w.v(L6, 1)), lambda x: x < 0.5),
    Conclusion("L6 model part of migrants' wrongful refusals > 0", L6, f"{SOL[L6]}: 'about 9 points'",
               "migrants' FPR − Bayes reference's (points) > 0", lambda w: w.v(L6, 27), lambda x: x > 0),
    Conclusion("L6 equal denial rates: migrants better off (paired interval above 0)", L6,
               f"{SOL[L6]}: 'about 36 cu a month better off (paired interval about 33 to 38 cu'",
               "lower end of the paired t-interval (cu) > 0", lambda w: _l6_engine(w, "migrant", 1), lambda x: x > 0),
    Conclusion("L6 equal denial rates: locals worse off (paired interval below 0)", L6,
               f"{SOL[L6]}: 'and locals about 23 cu worse off'", "upper end of the paired t-interval (cu) < 0",
               lambda w: _l6_engine(w, "local", 2), lambda x: x < 0),
]


def evaluate(world, conclusion):
    try:
        x = conclusion.value(world)
        return x, bool(conclusion.holds(x))
    except Exception as error:  # noqa: BLE001
        return f"failed: {type(error).__name__}: {error}", None


def run(k=20, lesson=None, out=sys.stdout):
    entries = {}
    for name, e in F._entries(ROOT, lesson):
        n = 1 + sum(1 for (ln, _) in entries if ln == name)
        entries[(name, n)] = e
    conclusions = [c for c in CONCLUSIONS if lesson is None or c.lesson == lesson]
    students = [""] + [f"s{i:02d}" for i in range(1, k + 1)]
    values = {key: {} for key in entries}  # key -> {student: [numbers]}
    decided = {c.name: {} for c in conclusions}
    times = {}
    for student in students:
        t0 = time.perf_counter()
        with as_world(student):
            world = World(student, entries)
            for key in entries:
                value = world.scope(*key)["value"]
                try:
                    values[key][student] = numbers(value)
                except (TypeError, ValueError):
                    values[key][student] = []
            for c in conclusions:
                decided[c.name][student] = evaluate(world, c)
        times[student or "shipped"] = time.perf_counter() - t0
        print(f"  world {student or 'shipped'}: {times[student or 'shipped']:.1f} s", file=sys.stderr, flush=True)
    report(entries, values, conclusions, decided, students[1:], out)
    return {"entries": entries, "values": values, "decided": decided, "times": times, "students": students[1:]}


def _range(xs):
    xs = np.asarray(xs, dtype=float)
    lo, med, hi = np.percentile(xs, [5, 50, 95])
    return med, lo, hi


def report(entries, values, conclusions, decided, students, out):
    k = len(students)
    print(f"Quoted numbers: shipped world, and median [5th–95th percentile] over K = {k} students' worlds "
          f"({students[0]}…{students[-1]}, seed student_seed(2024, id)).", file=out)
    current = None
    for (lesson, n), e in entries.items():
        if lesson != current:
            current = lesson
            print(f"\n== {lesson}", file=out)
        shipped = values[(lesson, n)].get("", [])
        cols = []
        for i, x in enumerate(shipped):
            xs = [values[(lesson, n)][s][i] for s in students if len(values[(lesson, n)][s]) == len(shipped)]
            if len(xs) < k:
                cols.append(f"{fmt(x)} (only {len(xs)} of {k} worlds comparable)")
                continue
            med, lo, hi = _range(xs)
            cols.append(f"{fmt(x)} | {fmt(med)} [{fmt(lo)}, {fmt(hi)}]")
        quoted = e["text"].replace("\n", " ")
        print(f"  #{n:<3} {e['file'].split('/')[0][:4]} {quoted[:60]!r}: " + "; ".join(cols), file=out)
    print(f"\nConclusions: shipped value (holds?) | median [5th–95th] over K = {k} | worlds where it holds", file=out)
    for c in conclusions:
        d = decided[c.name]
        sx, sh = d[""]
        held = [d[s][1] for s in students]
        xs = [d[s][0] for s in students]
        if all(isinstance(x, (int, float, np.number)) and not isinstance(x, bool) for x in xs):
            med, lo, hi = _range(xs)
            spread = f"{fmt(med)} [{fmt(lo)}, {fmt(hi)}]"
        elif all(isinstance(x, str) for x in xs):
            spread = ", ".join(f"{v}×{xs.count(v)}" for v in sorted(set(xs), key=xs.count, reverse=True))
        elif all(isinstance(x, tuple) for x in xs):
            spread = "; ".join("{} [{}, {}]".format(*map(fmt, _range([x[i] for x in xs]))) for i in range(len(xs[0])))
        else:
            spread = "(some worlds failed)"
        shown = sx if isinstance(sx, str) else (tuple(fmt(v) for v in sx) if isinstance(sx, tuple) else fmt(sx))
        print(f"  {c.name}\n      rule: {c.rule}\n      where: {c.where}\n      shipped {shown} ({'holds' if sh else 'FAILS'})"
              f" | {spread} | holds in {sum(h is True for h in held)} of {k}"
              + (f", failed to compute in {sum(h is None for h in held)}" if any(h is None for h in held) else ""),
              file=out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--k", type=int, default=20, help="number of hub students s01…sK (default 20)")
    parser.add_argument("--lesson", choices=LESSONS, help="one lesson (default: all)")
    parser.add_argument("--json", type=Path, help="also write the per-world values and decisions to this file")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    result = run(args.k, args.lesson)
    print(f"\nRun time: {time.perf_counter() - t0:.0f} s for {args.k} worlds plus the shipped one.")
    if args.json:
        data = {"k": args.k, "students": result["students"], "times": result["times"],
                "values": {f"{ln}#{n}": v for (ln, n), v in result["values"].items()},
                "conclusions": {name: {s or "shipped": [x if isinstance(x, (str, bool)) else
                                                        (list(map(float, x)) if isinstance(x, tuple) else float(x)), h]
                                       for s, (x, h) in d.items()} for name, d in result["decided"].items()}}
        args.json.write_text(json.dumps(data, indent=1, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
