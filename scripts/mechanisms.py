"""Measure every built-in mechanism of the world on the shipped CSV files.

    python scripts/mechanisms.py            # print the table
    python scripts/mechanisms.py --write    # rewrite the measured tables inside datasets/DATASHEET.md
    python scripts/mechanisms.py --check    # exit 1 if DATASHEET.md disagrees with the files

The numbers in DATASHEET.md are produced here, never typed by hand; a test
(tests/test_datasheet.py) fails when they drift from the files. ``--write`` and ``--check``
also cover the proxies table of "Known risks" (measured by scripts/proxies.py), so that
`make datasets` refreshes both; every other part of the sheet (including the engine's
ablation section) is left exactly as it is.
This script is instructor tooling: it is not part of the package students import.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp
from sklearn.metrics import roc_auc_score

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
from socialcredit import load  # noqa: E402

sys.path.insert(0, str(REPO / "scripts"))
import proxies  # noqa: E402

START = "<!-- mechanisms:start (written by scripts/mechanisms.py; do not edit by hand) -->"
END = "<!-- mechanisms:end -->"


def group_auc(is_migrant, values):
    """ROC AUC of a single feature for telling migrants from locals (0.5 = no information).

    Categorical features are scored by the migrant share of their category;
    numeric features in whichever direction is informative (AUC >= 0.5).
    """
    values = pd.Series(values)
    ok = values.notna().to_numpy()
    y = np.asarray(is_migrant)[ok]
    v = values[ok]
    if not pd.api.types.is_numeric_dtype(v):
        v = v.map(pd.Series(y, index=v.index).groupby(v).mean())
    auc = roc_auc_score(y, v.astype(float))
    return max(auc, 1 - auc)


def stratified_default_gap(citizens, truth):
    """Migrant minus local default rate, raw and within strata of income shock x debt band.

    Returns (raw_gap, adjusted_gap, per_stratum) where adjusted_gap weights each
    stratum's gap by its number of borrowers.
    """
    b = citizens.merge(truth[["resident_id", "income_shock"]], on="resident_id")
    b = b[b["has_loan"] == 1]
    rates = b.groupby(["income_shock", "debt_band", "hukou"])["defaulted"].mean().unstack("hukou")
    counts = b.groupby(["income_shock", "debt_band", "hukou"]).size().unstack("hukou")
    sizes = counts.sum(axis=1)
    gaps = rates["migrant"] - rates["local"]
    adjusted = float((gaps * sizes).sum() / sizes.sum())
    raw = b.groupby("hukou")["defaulted"].mean()
    per = pd.DataFrame({"local": rates["local"], "migrant": rates["migrant"], "gap": gaps,
                        "n_local": counts["local"], "n_migrant": counts["migrant"]})
    return float(raw["migrant"] - raw["local"]), adjusted, per


def in_group_rating_gap(citizens, ratings):
    g = citizens.set_index("resident_id")["hukou"]
    r = ratings.assign(rater=ratings["rater_id"].map(g), ratee=ratings["ratee_id"].map(g))
    same = r["rater"] == r["ratee"]
    return float(r.loc[same, "stars"].mean() - r.loc[~same, "stars"].mean())


def measure(folder=None):
    """Return the measured mechanisms as a list of dicts (mechanism, measure, local, migrant, ratio/value)."""
    c = load("citizens", folder=folder)
    t = load("truth", folder=folder)
    reg = load("registry", folder=folder)
    lab = load("labour", folder=folder)
    bank = load("bank", folder=folder)
    ratings = load("ratings", folder=folder)
    t = t.set_index("resident_id").loc[c["resident_id"]].reset_index()
    mig = (c["hukou"] == "migrant").to_numpy()
    rows = []

    def by_group(mechanism, measure_, series, fmt="{:.3f}", ratio=True):
        s = pd.Series(np.asarray(series, dtype=float))
        loc, mg = s[~mig].mean(), s[mig].mean()
        rows.append({"mechanism": mechanism, "measure": measure_, "local": fmt.format(loc), "migrant": fmt.format(mg),
                     "migrant / local or value": f"{mg / loc:.2f}" if ratio and loc else ""})

    def value(mechanism, measure_, v):
        rows.append({"mechanism": mechanism, "measure": measure_, "local": "", "migrant": "",
                     "migrant / local or value": v})

    value("Residency status", "share of residents who are migrants", f"{mig.mean():.3f}")
    dshare = c.groupby("district")["hukou"].apply(lambda s: (s == "migrant").mean())
    value("Residential segregation", "migrant share by district, lowest – highest",
          f"{dshare.min():.2f} – {dshare.max():.2f}")
    value("Residential segregation", "ROC AUC of district alone for migrant status", f"{group_auc(mig, c['district']):.3f}")
    by_group("Unequal access to education", "share with tertiary education", c["education"] == "tertiary")
    by_group("Unequal access to formal work", "share in informal work", c["job_sector"] == "informal")
    by_group("Income", "mean monthly income (cu)", c["monthly_income"], fmt="{:,.0f}")
    by_group("Latent reliability (same in every group)", "mean reliability", t["reliability"], ratio=False)
    value("Latent reliability (same in every group)", "two-sample KS test p-value, migrant vs local",
          f"{ks_2samp(t['reliability'][mig], t['reliability'][~mig]).pvalue:.3f}")
    by_group("True offences (no group effect)", "true offences per resident", t["true_offences"])
    by_group("District policing", "detection probability", t["detection_prob"])
    by_group("Label bias", "recorded offences per resident", c["recorded_offences"])
    by_group("Income shocks (informal work)", "share with an income shock this year", t["income_shock"])
    borrowers = c["has_loan"] == 1
    raw, adj, _ = stratified_default_gap(c, t)
    by_group("Defaults", "default rate among borrowers", c["defaulted"].where(borrowers))
    value("Defaults", "migrant − local default rate, raw (percentage points)", f"{100 * raw:+.2f}")
    value("Defaults", "migrant − local default rate within shock × debt strata (pp)", f"{100 * adj:+.2f}")
    by_group("Court defaulter list", "share listed (travel ban)", c["listed"])
    by_group("Buy more, score more", "mean yearly app spending (users, cu)", c["app_spending"], fmt="{:,.0f}")
    value("Buy more, score more", "ROC AUC of app spending for migrant status", f"{group_auc(mig, c['app_spending']):.3f}")
    by_group("Phone tier", "share with a flagship phone (app users)",
             (c["phone_tier"] == "flagship").where(c["phone_tier"].notna()))
    value("Phone tier", "ROC AUC of phone tier for migrant status",
          f"{group_auc(mig, c['phone_tier'].map({'budget': 0, 'mid': 1, 'flagship': 2})):.3f}")
    by_group("Pirated software", "share flagged (app users)", c["pirated_software"])
    by_group("Volunteering", "mean volunteering hours a year", c["volunteer_hours"], fmt="{:.2f}")
    by_group("Credit history", "mean credit-history length (borrowers, years)", c["credit_history_years"], fmt="{:.2f}")
    value("Credit history", "ROC AUC of credit-history length for migrant status",
          f"{group_auc(mig, c['credit_history_years']):.3f}")
    by_group("Peer ratings (homophily, in-group bias)", "mean stars received", c["mean_rating"], ratio=False)
    value("Peer ratings (homophily, in-group bias)", "in-group minus out-group mean stars",
          f"{in_group_rating_gap(c, ratings):+.3f}")
    # messiness
    value("Messiness", "registry: exact duplicate rows", f"{int(reg.duplicated().sum())}")
    value("Messiness", "bank: exact duplicate rows", f"{int(bank.duplicated().sum())}")
    value("Messiness", "registry: hukou values not spelled 'local' or 'migrant'",
          f"{int((~reg['hukou'].isin(['local', 'migrant'])).sum())}")
    value("Messiness", "registry: missing ages", f"{int(reg['age'].isna().sum())}")
    sector = lab["job_sector"].str.strip().str.lower().str.replace("-", "")
    miss = lab["monthly_income"].isna().groupby(sector).mean()
    value("Messiness", "labour: income missing, formal / informal workers",
          f"{miss.get('formal', np.nan):.3f} / {miss.get('informal', np.nan):.3f}")
    return rows


def to_markdown(rows):
    cols = ["mechanism", "measure", "local", "migrant", "migrant / local or value"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(str(r[c]) for c in cols) + " |")
    return "\n".join(lines)


def render(folder=None):
    return f"{START}\n{to_markdown(measure(folder))}\n{END}"


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
    sheet = Path(args.folder or REPO / "datasets") / "DATASHEET.md"
    if args.write or args.check:
        current = sheet.read_text(encoding="utf-8")
        updated = replace_block(current, render(args.folder))
        if proxies.START in current:
            updated = proxies.replace_block(updated, proxies.render(args.folder))
        if args.write:
            if updated != current:
                sheet.write_text(updated, encoding="utf-8")
                print(f"updated the measured tables in {sheet} (the rest of the file is unchanged)")
            else:
                print(f"{sheet} already agrees with the files; not rewritten")
        elif updated != current:
            print(f"{sheet}: the measured tables (mechanisms or proxies) disagree with the files; "
                  f"run `python scripts/mechanisms.py --write` (it rewrites only the sheet's measured tables; "
                  f"`make datasets` would regenerate the default world and undo a cohort world).")
            return 1
        else:
            print("DATASHEET.md agrees with the files")
    else:
        print(render(args.folder))
    return 0


if __name__ == "__main__":
    sys.exit(main())
