"""Class: 5
Name: c5_own_data_lookup
Tries: defeat the defence against copying (hidden tests on each student's own real data) by supplying the real
    data: hand in a `datasets/` folder beside the notebook (as c3_own_datasets_folder: the grading kernels'
    working folder is searched first, so T's `load(...)` reads it), and answer every exercise it can by pure
    lookup, with no logic at all: the answers to the visible cases (stated in the test cells), to the hidden toy
    cases (their inputs reach the student's code and its outputs reach the feedback: an input-recording attack, not in this corpus;
    their expected values are in the hidden tests' assertion messages) and to the handed-in tables. Inputs are
    recognised by a checksum of their values, and ids are rebuilt from numbers, so no test value is written out
    (the tamper scan's "hard-coded answers" sees nothing).
Grader must: compute the tests' expectations on data the student cannot choose (the course's cohort / the
    student's world drawn by the grader), never on files handed in with the notebook.
"""
import zlib as _zlib


def _key(values):
    return _zlib.crc32(repr(tuple(str(v) for v in values)).encode())


_IDS = {3965116892: [7, 4964], 3141670785: [345], 257268341: [12], 139713118: [678], 2569148876: [901],
        3925376257: [1, 2], 2113026299: [7, 80, 123456], 667609487: [1], 1434581846: [2], 556601961: [1, 2],
        3190638596: [1], 2895701994: [2], 350186636: [1, 2], 692057840: [1, 2]}


def normalise_id(raw):
    numbers = _IDS.get(_key(raw))
    if numbers is None:
        return raw.astype(str)
    return pd.Series([f"LP-{n:06d}" for n in numbers], index=raw.index)

# %% answer: ex1_2_harmonise
_CATS = {316650284: ['local', 'local', 'local', 'migrant', 'migrant'], 1750985753: ['local', None, None],
         3752101104: ['local', None], 1529211409: ['formal', 'in-formal'], 1013788662: ['informal', 'formal'],
         4160437412: ['regular', 'informal', 'informal'], 3922938320: ['a', 'b'], 3238393776: ['local', 'migrant'],
         2153112969: ['formal'], 1079061060: ['formal', 'informal']}


def harmonise(values, synonyms):
    out = _CATS.get(_key(values))
    if out is None:
        return values
    return pd.Series(out, index=values.index, dtype=object)

# %% answer: ex1_3_drop_duplicates
def drop_exact_duplicates(table):
    repeated = {5: [2], 3: [1]}.get(len(table), [])
    return table.drop(index=table.index[repeated])

# %% answer: ex1_4_count_incidents
def count_incidents(incidents, residents):
    counts = {3: [0, 2, 1, 0], 4: [0, 0, 3], 0: [0] * len(residents), 1: [0, 1]}.get(len(incidents))
    if counts is None or len(counts) != len(residents):
        counts = [0] * len(residents)
    return pd.Series(counts, index=list(residents), dtype="int64")

# %% answer: ex1_5_build_dossier
_NA = float("nan")
# by the number of labour rows: (job_sector, monthly_income, recorded_offences, has_loan, defaulted, listed, uses_app)
# of each registry row, in the registry's order
_DOSSIERS = {
    (3, 3): [("formal", 5000.0, 0, 1, 0.0, 0, 1), ("informal", _NA, 2, 0, _NA, 0, 0), ("formal", 8000.0, 0, 1, 1.0, 1, 1)],
    (3, 2): [("formal", 5000.0, 0, 1, 0.0, 0, 1), (None, _NA, 2, 0, _NA, 0, 0), ("formal", 8000.0, 0, 1, 1.0, 1, 1)],
    (2, 2): [("formal", 1000.0, 0, 1, 0.0, 0, 1), ("informal", 2000.0, 1, 1, 1.0, 1, 0)],
}
_DOSSIERS[3, 4] = _DOSSIERS[3, 3]


def build_dossier(registry, labour, incidents, bank, courts, payments):
    rows = _DOSSIERS.get((len(registry), len(labour)))
    if rows is None or len(rows) != len(registry):
        return registry
    names = ["job_sector", "monthly_income", "recorded_offences", "has_loan", "defaulted", "listed", "uses_app"]
    columns = dict(zip(names, map(list, zip(*rows))))
    columns["job_sector"] = pd.array(columns["job_sector"], dtype="string")
    return registry.assign(**columns)

# %% answer: ex1_6_missing_share
def missing_share_by(data, column, *, by):
    if len(data) == 7:
        return pd.Series({"formal": 0.2, "informal": 0.5})
    if len(data) == 6:
        return pd.Series({"a": 0.5, "b": 0.0, "c": 1.0} if column == "v" else {"a": 0.0, "b": 0.0, "c": 0.0})
    return pd.Series({"formal": 0.0, "informal": 0.0})

# %% answer: ex1_8_plot_mean_by
def plot_mean_by(data, *, x, y, ax=None):
    ax = ax if ax is not None else plt.gca()
    if x == "g":
        ax.bar(["a", "b", "c"], [3.0, 0.5, 3.0])
    elif x == "k":
        ax.bar(["p", "q"], [1.5, 5.0])
    else:
        labels = sorted(set(data[x].astype(str)))
        ax.bar(labels, [0.0] * len(labels))
    return ax

# %% answer: ex1_10_added_between
def added_between(bans, start, end, *, column="flight_purchases_blocked"):
    if len(bans) != 3:
        return 0.0
    return (1.0 if start < end else -1.0) * (150.0 if column.startswith("flight") else 30.0)

# %% answer: ex1_11_blocked_per_listed
def blocked_per_listed(bans, *, column="flight_purchases_blocked"):
    ends = sorted(set(bans["as_of"]))
    if len(bans) == 4:
        flights = column.startswith("flight")
        return pd.Series({ends[0]: 1.25 if flights else 0.25, ends[-1]: 1.25 if flights else 0.2})
    if len(bans) == 3:
        return pd.Series({ends[0]: 1.2, ends[-1]: 1.5})
    return pd.Series([], dtype=float, index=pd.Index([], dtype=object))

# %% file: datasets/DATASHEET.md
# # Lanternport, a smaller copy for working offline
# %% file: datasets/registry.csv
# resident_id,hukou,district,age,education,years_in_city
# LP-000001,local,Bellgate,30,secondary,30
# LP-000002,migrant,Saltmarsh,25,primary,3
# %% file: datasets/labour.csv
# person_no,job_sector,monthly_income
# 1,formal,1000.0
# 2,informal,2000.0
# %% file: datasets/police.csv
# incident_no,subject_ref,offence,district
# 1,LP000002,jaywalking,Saltmarsh
# %% file: datasets/bank.csv
# customer,loan_amount,monthly_repayment,debt_band,credit_history_years,defaulted,outstanding
# lp-000001,1000.0,10.0,low,3.0,0,
# lp-000002,2000.0,20.0,low,4.0,1,50.0
# %% file: datasets/courts.csv
# case_no,debtor_id,amount_owed,flight_ban,rail_ban
# C00001,LP-000002,100.0,1,0
# %% file: datasets/payments.csv
# account_holder,annual_spending,phone_tier,pirated_software_flag
# LP-000001,1000.0,budget,0
# %% file: datasets/community.csv
# resident_id,volunteer_hours
# LP-000001,3
# %% file: datasets/ratings.csv
# rater_id,ratee_id,stars
# LP-000001,LP-000002,5
# %% file: datasets/citizens.csv
# resident_id,district,recorded_offences
# LP-000001,Bellgate,0
# %% file: datasets/real/travel_bans.csv
# as_of,period,people_listed,flight_purchases_blocked,rail_purchases_blocked,unit_people,unit_blocked,approximate,source,verification
# 2017-07,cumulative,,0,0,people,purchases,no,offline copy,none
# 2017-12,cumulative,,0,0,people,purchases,no,offline copy,none
# 2018-05-01,cumulative,,0,0,people,purchases,no,offline copy,none
# 2018-12,cumulative,,0,0,people,purchases,no,offline copy,none
# 2019-07-09,cumulative,,0,0,people,purchases,no,offline copy,none
