"""Lesson 5's quoted numbers, computed once per test process (used by tests/quoted/05-nosedive.toml)."""
from functools import lru_cache

import numpy as np
import pandas as pd

from socialcredit import load
from socialcredit.simulate import simulate

SEEDS = (0, 1, 2, 3)
RUNS = {"all loops": {}, "no loops": {"loops": ()},
        "no loops, one-year records": {"loops": (), "interventions": {"forget": 1}},
        "all loops, one-year records": {"interventions": {"forget": 1}}}


def gap(history, column):
    t = history.groupby(["year", "hukou"])[[column, "residents"]].sum()
    r = (t[column] / t["residents"]).unstack("hukou")
    return r["migrant"] - r["local"]


def record_ratio(history):
    t = history.groupby(["year", "hukou"])[["recorded_offences", "true_offences"]].sum()
    r = (t["recorded_offences"] / t["true_offences"]).unstack("hukou")
    return r["migrant"] / r["local"]


@lru_cache(maxsize=None)
def tables():
    return load("citizens"), load("truth")


@lru_cache(maxsize=None)
def intervention(name):
    options = {"none": None, "forget": {"forget": 3}, "audit": {"audit": 0.3}, "correction": {"correction": True},
               "appeal": {"appeal": 0.5}}
    return simulate(*tables(), years=10, interventions=options[name])


@lru_cache(maxsize=None)
def ablation(column="banned"):
    """(year-10 gap per seed and run, year-1 gap of the full model per seed)."""
    rows, start = {}, {}
    runs = RUNS if column == "banned" else {"all loops": {}, "no loops": {"loops": ()},
                                           "only the rating anchor": {"loops": ("ratings_anchor",)}}
    for label, kw in runs.items():
        for seed in SEEDS:
            g = gap(simulate(*tables(), years=10, world_seed=seed, **kw), column)
            rows[(label, seed)] = g[10]
            if label == "all loops":
                start[seed] = g[1]
    year10 = pd.Series(rows).unstack(0)
    return year10, pd.Series(start)


def shares(order="loops first"):
    y, start = ablation()
    w = y["all loops"] - start
    if order == "loops first":
        return pd.DataFrame({"loops": (y["all loops"] - y["no loops"]) / w,
                             "accumulation": (y["no loops"] - y["no loops, one-year records"]) / w,
                             "rest": (y["no loops, one-year records"] - start) / w})
    return pd.DataFrame({"accumulation": (y["all loops"] - y["all loops, one-year records"]) / w,
                         "loops": (y["all loops, one-year records"] - y["no loops, one-year records"]) / w})


def q(values, p):
    return float(np.quantile(np.asarray(values, dtype=float), p))
