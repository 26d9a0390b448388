"""Lesson 6's quoted numbers: the model and the engine runs, computed once per test process.

Used by tests/quoted/06-audit-and-redesign.toml (each entry imports these names, then computes its
`value`). The code mirrors the notebook's setup cell (the bank's model on a stratified 70/30 split)
and its Section 4 engine runs (the point-score rule against equal denial rates, 4 seeds, 6,000
residents): the 8 engine runs cost about a minute, so they run once, not once per quoted number.
"""
from functools import lru_cache

from scipy import stats
import numpy as np, pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from socialcredit import load
c, tr = load("citizens"), load("truth")
b = c[c["has_loan"] == 1].drop(columns="default_next_year").merge(
    tr[["resident_id", "reliability", "income_shock_next_year", "default_next_year"]], on="resident_id")
X = pd.DataFrame({"log_income": np.log(b["monthly_income"]), "debt_medium": (b["debt_band"] == "medium").astype(int),
                  "debt_high": (b["debt_band"] == "high").astype(int), "credit_history_years": b["credit_history_years"],
                  "recorded_offences": b["recorded_offences"], "informal_work": (b["job_sector"] == "informal").astype(int)})
tri, tei = train_test_split(b.index, test_size=0.3, random_state=0, stratify=b["hukou"])
m = LogisticRegression(solver="newton-cholesky").fit(X.loc[tri], b.loc[tri, "defaulted"].astype(int))
t = b.loc[tei, ["hukou"]].copy()
t["d"] = m.predict_proba(X.loc[tei])[:, 1] >= 0.20
t["y"] = b.loc[tei, "default_next_year"] == 1
mig = t["hukou"] == "migrant"
fpr = lambda g: t.loc[g & ~t.y, "d"].mean()
ppv = lambda g: t.loc[g & t.d, "y"].mean()
odds = lambda p: p / (1 - p)

from socialcredit.simulate import Decisions, ScoringPolicy, simulate
class P:
    def __init__(self, rule): self.inner, self.rule = ScoringPolicy(), rule
    def reset(self): self.inner.reset()
    def __call__(self, obs, rng):
        d = self.inner(obs, rng)
        loan = np.asarray(obs.has_loan, bool)
        if self.rule == "point-score rule":
            return d
        deny = d.deny & ~loan
        target = d.deny[loan].mean()
        mg = np.asarray(obs.hukou) == "migrant"
        for members in (loan & mg, loan & ~mg):
            idx = np.flatnonzero(members)
            deny[idx[np.argsort(d.score[idx], kind="stable")][:round(target * len(idx))]] = True
        return Decisions(d.patrol_share, d.ban, deny, d.score)


@lru_cache(maxsize=None)
def engine_diff():
    """Per group, the paired (by seed) income-change difference: equal denial rates minus the point-score rule."""
    s = c.sample(6000, random_state=0)
    st = tr.set_index("resident_id").loc[s["resident_id"]].reset_index()
    diff = {"local": [], "migrant": []}
    for seed in range(4):
        out = {}
        for rule in ["point-score rule", "equal denial rates"]:
            h = simulate(s, st, years=10, policy=P(rule), world_seed=seed, policy_seed=100 + seed)
            per = h.groupby(["year", "hukou"])[["residents", "total_income"]].sum()
            inc = per["total_income"] / per["residents"]
            out[rule] = {g: inc[(10, g)] - inc[(0, g)] for g in ["local", "migrant"]}
        for g in diff:
            diff[g].append(out["equal denial rates"][g] - out["point-score rule"][g])
    return diff


def ci(v):
    v = np.asarray(v); h = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return v.mean(), v.mean() - h, v.mean() + h
