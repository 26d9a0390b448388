"""Attribute Lanternport's widening gaps to mechanisms: switch the engine's feedback loops off one at a time.

    python scripts/ablation.py                 # print the table (about 10 s of CPU; 30-100 s on a busy machine)
    python scripts/ablation.py --write         # replace the ablation section of datasets/DATASHEET.md
    python scripts/ablation.py --check         # exit 1 if that section disagrees with a fresh run
    python scripts/ablation.py --seeds 20      # more replicates
    python scripts/ablation.py --generated 1 2 3   # worlds from generate_world(seed=...) instead of the shipped one

What is measured: on the shipped world (``load("citizens")``, ``load("truth")``),
``simulate(..., years=10, level="district")`` under each row's settings, for
``--seeds`` replicates (``world_seed`` = 0, 1, ..., ``policy_seed`` = 1000 +
world_seed; every row uses the same seeds, so rows are paired). Per run:

* the **ban gap**: migrant minus local share of residents banned from travel, in year 10;
* the **rating gap**: migrant minus local mean displayed rating, in year 10.

Year 0 is the generated world, the same in every run. The **share of the full
widening removed** by a row is ``(full - row) / (full - year0)`` per replicate
(full = every loop on, same seed), averaged. Each cell gives the mean over
replicates and a 95 % t-interval for that mean: it measures the engine's own
randomness on this one world, not the uncertainty of a different world (use
``--generated`` for that).

The section of DATASHEET.md between ``<!-- ablation:begin -->`` and
``<!-- ablation:end -->`` is produced here, never typed by hand. It records the
SHA-256 of ``citizens.csv`` and ``truth.csv``; tests/test_simulate.py fails when
the world changes and the section was not re-run. ``--write`` replaces only that
section (appending it if absent) and leaves the rest of the file as it was; the
previous section is in git.

Per-group rates are computed here, in instructor tooling, on purpose: the
package does not ship them (they are Lesson 5's exercises).
"""
from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from socialcredit.simulate import LOOPS, simulate  # noqa: E402

START, END = "<!-- ablation:begin -->", "<!-- ablation:end -->"
YEARS = 10
ALL = frozenset(LOOPS)


def per_capita(records, population):
    """Patrols in proportion to residents, whatever the records say."""
    return population / population.sum()


#: (label, keyword arguments of simulate) in the order of the table
ROWS = [("full model (every loop on)", {}),
        *[(f"`{name}` off", {"loops": ALL - {name}}) for name in LOOPS],
        ("sanction and rating loops off, patrols follow records", {"loops": ("patrols_follow_records",)}),
        ("every loop off (`loops=()`, patrols frozen at year 0)", {"loops": ()}),
        ("every loop off, patrols per resident (`allocate=`)", {"loops": (), "allocate": per_capita}),
        ("records kept one year (`forget=1`), every loop on", {"interventions": {"forget": 1}}),
        ("records kept one year (`forget=1`), every loop off", {"loops": (), "interventions": {"forget": 1}})]


def gaps(history):
    """(year-0, year-10) migrant - local gaps in ban share and mean rating, from a district-level history."""
    g = history.groupby(["year", "hukou"])[["residents", "banned", "total_rating"]].sum()
    ban = (g["banned"] / g["residents"]).unstack("hukou")
    rating = (g["total_rating"] / g["residents"]).unstack("hukou")
    ban_gap = ban["migrant"] - ban["local"]
    rating_gap = rating["migrant"] - rating["local"]
    return ban_gap.loc[0], ban_gap.loc[YEARS], rating_gap.loc[0], rating_gap.loc[YEARS]


def measure(worlds, seeds):
    """Run every row on every (world, seed); return per-row arrays of year-10 gaps and the year-0 gaps.

    ``worlds``: list of (citizens, truth). Returns ``{label: {"ban": (R,), "rating": (R,)}}`` and
    ``{"ban": (R,), "rating": (R,)}`` for year 0, R = len(worlds) * len(seeds), in the same order.
    """
    out = {label: {"ban": [], "rating": []} for label, _ in ROWS}
    year0 = {"ban": [], "rating": []}
    for citizens, truth in worlds:
        for seed in seeds:
            for i, (label, kwargs) in enumerate(ROWS):
                h = simulate(citizens, truth, years=YEARS, world_seed=seed, policy_seed=1000 + seed,
                             level="district", **kwargs)
                b0, b10, r0, r10 = gaps(h)
                out[label]["ban"].append(b10)
                out[label]["rating"].append(r10)
                if i == 0:
                    year0["ban"].append(b0)
                    year0["rating"].append(r0)
    as_arrays = {label: {k: np.asarray(v) for k, v in d.items()} for label, d in out.items()}
    return as_arrays, {k: np.asarray(v) for k, v in year0.items()}


def interval(x):
    """Mean and 95 % t-interval of the mean of ``x``."""
    x = np.asarray(x, dtype=float)
    m = float(x.mean())
    if len(x) < 2:
        return m, float("nan"), float("nan")
    half = float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))
    return m, m - half, m + half


def _whole(x):
    """``x`` rounded to a whole number, without a "-0"."""
    text = f"{x:.0f}"
    return "0" if text == "-0" else text


def table(results, year0):
    """The markdown table: per row, year-10 gaps and the share of the full widening removed."""
    full = results[ROWS[0][0]]
    lines = ["| run | ban gap, year 10 | share of the ban widening removed | rating gap, year 10 "
             "| share of the rating widening removed |",
             "|---|---|---|---|---|"]
    for label, _ in ROWS:
        cells = [label]
        for key, digits in (("ban", 3), ("rating", 2)):
            row = results[label][key]
            m, lo, hi = interval(row)
            cells.append(f"{m:.{digits + 1}f} [{lo:.{digits + 1}f}, {hi:.{digits + 1}f}]")
            if label == ROWS[0][0]:
                cells.append("—")
            else:
                share = (full[key] - row) / (full[key] - year0[key])
                sm, slo, shi = interval(100 * share)
                cells.append(f"{_whole(sm)} % [{_whole(slo)}, {_whole(shi)}]")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def fingerprint(folder):
    """SHA-256 (first 16 hex digits) of the two tables the engine reads."""
    return {name: hashlib.sha256((Path(folder) / f"{name}.csv").read_bytes()).hexdigest()[:16]
            for name in ("citizens", "truth")}


def render(results, year0, *, seeds, world_note, spread_note, prints=None):
    """The DATASHEET section, from ``START`` to ``END``."""
    ban0, rating0 = float(np.mean(year0["ban"])), float(np.mean(year0["rating"]))
    runs = len(year0["ban"])
    lines = [START,
             "## Ablation of the simulation engine: which mechanism widens the gaps",
             "",
             "*Generated by `python scripts/ablation.py --write`; do not edit by hand.*",
             "",
             f"`simulate(citizens, truth, years={YEARS}, level=\"district\", ...)` under each setting, "
             f"{world_note}, {runs} replicates per row "
             f"(`world_seed` = {seeds[0]}…{seeds[-1]}, the same seeds in every row). The gaps are migrant "
             f"minus local: the share banned from travel, and the mean displayed rating, in year {YEARS}. "
             f"In year 0 (the generated world) they are {ban0:.3f} and {rating0:.2f}. Each cell is the mean "
             f"over replicates with a 95 % interval for that mean ({spread_note}). "
             f"The share of the widening removed is "
             f"(full − row) / (full − year 0), per replicate, averaged; 100 % means the row leaves "
             f"the gap where it started, above 100 % that it ends below its year-0 value.",
             "",
             table(results, year0),
             "",
             "Reading it: a loop's own effect is what switching it off alone removes. What remains with "
             "every loop off is accumulation, not feedback: the score adds up records and defaults year "
             "after year against fixed cut-offs, from records made where year-0 patrols already were "
             "(patrols per resident separates that part; records kept one year removes the adding up). "
             "The loops interact, so the single-loop shares need not sum to the all-off share. Numbers "
             "from one invented model of a fictional city: they show how to attribute a gap, not how "
             "large any real system's loops are."]
    if prints is not None:
        lines += ["", f"World measured: `citizens.csv` sha256 {prints['citizens']}…, "
                      f"`truth.csv` sha256 {prints['truth']}…."]
    lines.append(END)
    return "\n".join(lines)


def replace_section(text, block):
    """``text`` with its ablation section replaced by ``block`` (appended at the end if absent)."""
    if (START in text) != (END in text) or text.count(START) > 1:
        raise ValueError(f"DATASHEET.md has a broken ablation section: expected exactly one {START!r} "
                         f"followed by one {END!r}.")
    if START not in text:
        return text.rstrip("\n") + "\n\n" + block + "\n"
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return head + block + tail


def recorded_fingerprint(text):
    """The (citizens, truth) SHA-256 prefixes recorded in the section of ``text``, or None if absent."""
    if START not in text:
        return None
    section = text.split(START, 1)[1].split(END, 1)[0]
    out = {}
    for name in ("citizens", "truth"):
        marker = f"`{name}.csv` sha256 "
        if marker not in section:
            return None
        out[name] = section.split(marker, 1)[1][:16]
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10, help="replicates (world seeds 0..N-1) per row")
    ap.add_argument("--folder", default=None, help="data folder (default: the course's datasets/)")
    ap.add_argument("--generated", type=int, nargs="+", default=None,
                    help="use generate_world(seed=...) worlds (default size) instead of the shipped one")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="replace the ablation section of DATASHEET.md")
    mode.add_argument("--check", action="store_true", help="exit 1 if that section disagrees with a fresh run")
    args = ap.parse_args(argv)
    if args.seeds < 2:
        ap.error(f"--seeds {args.seeds}: expected at least 2 replicates (an interval needs two).")
    if args.generated and (args.write or args.check):
        ap.error("--write/--check describe the shipped world; run --generated without them.")
    folder = Path(args.folder) if args.folder else REPO / "datasets"
    seeds = list(range(args.seeds))
    t0 = time.perf_counter()
    if args.generated:
        from socialcredit.world import generate_world
        worlds = []
        for s in args.generated:
            w = generate_world(seed=s)
            worlds.append((w["citizens"], w["truth"]))
        note = (f"on {len(worlds)} worlds `generate_world(seed=...)` with seeds {args.generated}, "
                f"each run with every `world_seed`")
        spread = ("worlds and engine seeds pooled; runs on the same world are correlated, so the "
                  "interval is a little too narrow")
        prints = None
    else:
        from socialcredit import load
        worlds = [(load("citizens", folder=folder), load("truth", folder=folder))]
        note = f"on the shipped world ({len(worlds[0][0]):,} residents)"
        spread = "the engine's own randomness on this world; another world varies more"
        prints = fingerprint(folder)
    results, year0 = measure(worlds, seeds)
    block = render(results, year0, seeds=seeds, world_note=note, spread_note=spread, prints=prints)
    seconds = time.perf_counter() - t0
    sheet = folder / "DATASHEET.md"
    if args.write:
        old = sheet.read_text(encoding="utf-8")
        new = replace_section(old, block)
        sheet.write_text(new, encoding="utf-8")
        verb = "replaced" if START in old else "appended"
        print(f"{verb} the ablation section of {sheet} (the rest of the file unchanged; "
              f"the previous version is in git) in {seconds:.0f} s")
    elif args.check:
        current = sheet.read_text(encoding="utf-8")
        if START not in current or replace_section(current, block) != current:
            print(block)
            print(f"{sheet}: the ablation section disagrees with this fresh run (above), or is missing; "
                  f"run `python scripts/ablation.py --write`.")
            return 1
        print(f"DATASHEET.md's ablation section agrees with a fresh run ({seconds:.0f} s)")
    else:
        print(block)
        print(f"({len(ROWS)} rows x {len(worlds) * len(seeds)} runs in {seconds:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
