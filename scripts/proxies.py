"""Measure how strongly each feature of the shipped world encodes residency status (a proxy).

    python scripts/proxies.py               # print the table
    python scripts/proxies.py --write       # rewrite the table inside datasets/DATASHEET.md
    python scripts/proxies.py --check       # exit 1 if DATASHEET.md disagrees with the files
    python scripts/proxies.py --folder DIR  # another world (a folder written by `generate --out DIR`)

What is measured, on the clean ``citizens`` table (one row per resident):

* the **feature set** ``FEATURES``: every column of ``citizens`` except the identifier
  (``resident_id``), the group itself (``hukou``) and next year's outcome (``default_next_year``,
  which no scorer could know). Categorical columns are ``district``, ``education``,
  ``job_sector``, ``debt_band`` and ``phone_tier``; the rest are numeric. A value that does not
  exist (no loan, no app account, no rating received) stays missing: its absence is itself a
  signal a scorer could use, so the models see it.
* ``age − years_in_city`` (the age at which a resident last came to live in the city), a feature
  any analyst can compute from two registry columns.
* each feature is cut into its **bins**: its categories, or for a numeric feature with more than
  20 distinct values 20 quantile bins; missing values form one more bin.
* for each feature alone: the **cross-validated ROC AUC** of the best classifier that feature
  allows, the migrant share of each bin learned on the training folds (3-fold stratified
  cross-validation with shuffling, seed 0), so a non-monotone relation counts too; and the
  **mutual information** with migrant status, in bits (plug-in estimate on the same bins), also
  given as a share of the entropy of migrant status.
* the **best all-feature classifier**: gradient boosting (``HistGradientBoostingClassifier``,
  default settings, ``random_state=0``), with the same 3 folds, on all of ``FEATURES`` together
  (categorical columns declared categorical, missing values kept), on all of them except
  ``district``, and on the pair (``age``, ``years_in_city``).

The numbers in DATASHEET.md ("Known risks") are produced here, never typed by hand; a test
(tests/test_datasheet.py) fails when they drift from the files.
This script is instructor tooling: it is not part of the package students import.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

START = "<!-- proxies:start (written by scripts/proxies.py; do not edit by hand) -->"
END = "<!-- proxies:end -->"

#: the targets of issue #8 §5, checked by tests/test_world.py
SINGLE_MAX = 0.85
ALL_RANGE = (0.80, 0.92)
DISTRICT_MIN = 0.75

CATEGORICAL = ("district", "education", "job_sector", "debt_band", "phone_tier")
#: every column of citizens a scorer could see, except the group (see the module docstring)
FEATURES = ("district", "age", "education", "years_in_city", "job_sector", "monthly_income",
            "recorded_offences", "has_loan", "loan_amount", "debt_band", "credit_history_years",
            "defaulted", "listed", "travel_ban", "app_spending", "phone_tier", "pirated_software",
            "volunteer_hours", "mean_rating", "ratings_received")
ARRIVAL = "age − years_in_city"
FOLDS = 3
SEED = 0


def feature_frame(citizens):
    """The feature set as numbers: categories as integer codes (missing -> NaN), plus the arrival age."""
    X = pd.DataFrame(index=citizens.index)
    for col in FEATURES:
        s = citizens[col]
        if col in CATEGORICAL:
            cats = sorted(s.dropna().unique())
            X[col] = s.map({c: i for i, c in enumerate(cats)}).astype(float)
        else:
            X[col] = pd.to_numeric(s, errors="raise").astype(float)
    X[ARRIVAL] = X["age"] - X["years_in_city"]
    return X


def _model(categorical_mask, max_iter=100):
    from sklearn.ensemble import HistGradientBoostingClassifier
    return HistGradientBoostingClassifier(max_iter=max_iter, categorical_features=categorical_mask,
                                          random_state=SEED)


def cv_auc(X, y, columns, max_iter=100):
    """Cross-validated ROC AUC (3-fold, stratified, shuffled, seed 0) of gradient boosting on ``columns``."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    cols = list(columns)
    mask = np.array([c in CATEGORICAL for c in cols])
    folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=SEED)
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=1):  # one thread: faster and steadier on a shared machine
        scores = cross_val_score(_model(mask if mask.any() else None, max_iter), X[cols], y, cv=folds,
                                 scoring="roc_auc")
    return float(scores.mean())


def bins(x, n_bins=20):
    """Integer bin codes of a feature: its values, or quantile bins if it has more than ``n_bins``; missing -> -1."""
    x = pd.Series(np.asarray(x, dtype=float))
    codes = pd.qcut(x, n_bins, labels=False, duplicates="drop") if x.nunique() > n_bins else x
    return codes.fillna(-1).to_numpy()


def binned_cv_auc(x, y):
    """Cross-validated ROC AUC of the per-bin migrant share (learned on the training folds) for one feature."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold
    codes, y = bins(x), np.asarray(y)
    scores = []
    for train, test in StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=SEED).split(codes, y):
        share = pd.Series(y[train]).groupby(codes[train]).mean()
        pred = pd.Series(codes[test]).map(share).fillna(y[train].mean()).to_numpy()
        scores.append(roc_auc_score(y[test], pred))
    return float(np.mean(scores))


def mutual_information(x, y):
    """Plug-in mutual information (bits) between a feature's bins and a 0/1 label."""
    joint = pd.crosstab(bins(x), np.asarray(y)).to_numpy().astype(float)
    joint /= joint.sum()
    px, py = joint.sum(1, keepdims=True), joint.sum(0, keepdims=True)
    nz = joint > 0
    return float((joint[nz] * np.log2(joint[nz] / (px @ py)[nz])).sum())


def entropy_bits(y):
    p = float(np.mean(y))
    return float(-(p * np.log2(p) + (1 - p) * np.log2(1 - p))) if 0 < p < 1 else 0.0


def measure(citizens, sample=None, max_iter=100, extras=True):
    """Every proxy's strength. Returns (per_feature DataFrame, summary dict).

    ``sample``: measure on a random subsample of this many residents (seed 0), for quick checks.
    ``extras=False`` skips the two secondary classifiers (all but district; age and years).
    """
    if sample is not None and sample < len(citizens):
        citizens = citizens.sample(n=sample, random_state=SEED)
    citizens = citizens.reset_index(drop=True)
    y = (citizens["hukou"] == "migrant").to_numpy().astype(int)
    X = feature_frame(citizens)
    h = entropy_bits(y)
    rows = []
    for col in X.columns:
        mi = mutual_information(X[col], y)
        rows.append({"feature": col, "cv_auc": binned_cv_auc(X[col], y),
                     "mi_bits": mi, "mi_share": mi / h if h else np.nan})
    per = pd.DataFrame(rows).set_index("feature")
    summary = {"n": len(citizens), "all": cv_auc(X, y, FEATURES, max_iter=max_iter), "entropy_bits": h}
    if extras:
        summary["all_but_district"] = cv_auc(X, y, [f for f in FEATURES if f != "district"], max_iter=max_iter)
        summary["age_and_years"] = cv_auc(X, y, ["age", "years_in_city"], max_iter=max_iter)
    return per, summary


def to_markdown(per, summary):
    lines = ["| feature | cross-validated ROC AUC, this feature alone | mutual information (bits) | "
             "share of the entropy of migrant status |", "|---|---|---|---|"]
    for feat, r in per.sort_values("cv_auc", ascending=False).iterrows():
        lines.append(f"| `{feat}` | {r['cv_auc']:.3f} | {r['mi_bits']:.4f} | {100 * r['mi_share']:.1f} % |")
    lines.append(f"| **(`age`, `years_in_city`) together** | {summary['age_and_years']:.3f} | | |")
    lines.append(f"| **all {len(FEATURES)} features above** | {summary['all']:.3f} | | |")
    lines.append(f"| **all of them except `district`** | {summary['all_but_district']:.3f} | | |")
    return "\n".join(lines)


def render(folder=None):
    from socialcredit import load
    per, summary = measure(load("citizens", folder=folder))
    return f"{START}\n{to_markdown(per, summary)}\n{END}"


def replace_block(text, block):
    if START not in text or END not in text:
        raise ValueError(f"DATASHEET.md has no {START!r} … {END!r} block to fill.")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return head + block + tail


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folder", default=None, help="data folder (default: the course's datasets/)")
    ap.add_argument("--write", action="store_true", help="rewrite the table in DATASHEET.md")
    ap.add_argument("--check", action="store_true", help="exit 1 if DATASHEET.md disagrees with the files")
    args = ap.parse_args(argv)
    block = render(args.folder)
    sheet = Path(args.folder or REPO / "datasets") / "DATASHEET.md"
    if args.write:
        sheet.write_text(replace_block(sheet.read_text(encoding="utf-8"), block), encoding="utf-8")
        print(f"updated {sheet}")
    elif args.check:
        current = sheet.read_text(encoding="utf-8")
        if replace_block(current, block) != current:
            print(f"{sheet}: the proxies table disagrees with the files; run `python scripts/proxies.py --write` "
                  f"(it rewrites only that table; `make datasets` would regenerate the default world).")
            return 1
        print("DATASHEET.md's proxies table agrees with the files")
    else:
        print(block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
