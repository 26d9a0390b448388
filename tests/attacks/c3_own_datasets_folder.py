"""Class: 3
Name: c3_own_datasets_folder
Tries: change the data the trusted kernel computes its expectations from, not the comparisons: hand in a folder
    `datasets/` (with a DATASHEET.md and no world.json) beside the notebook. socialcredit.data.cohort_dir looks for
    `datasets/DATASHEET.md` in the working folder first, and the grading kernels' working folder is nbgrader's
    copy of the submission folder (autograded/<student>/01-dossier/, every handed-in file copied), so the grader
    (Sandbox._worlds, outside the sandbox) picks the student's folder as the cohort, sets SOCIALCREDIT_DATA to it
    in S and in T, and T's `load(...)` reads the student's tables. The tables are tiny and the travel bans all
    zero, so the hidden "real data" checks become checks on data the student chose; four answers then do no
    work at all: they look their toy answers up by the input's length (zero points on the real world).
Grader must: take the data the tests read from the course (the grader's own cohort), never from a folder the
    student can hand in; at least ignore `datasets/` inside the submission.
"""
# (normalise_id stays the stub)

# %% answer: ex1_3_drop_duplicates
def drop_exact_duplicates(table):
    repeated = {5: [2], 3: [1]}.get(len(table), [])  # the row each toy table repeats, by its length
    return table.drop(index=table.index[repeated])

# %% answer: ex1_6_missing_share
def missing_share_by(data, column, *, by):
    if len(data) == 7:
        return pd.Series({"formal": 0.2, "informal": 0.5})
    if len(data) == 6:
        return pd.Series({"a": 0.5, "b": 0.0, "c": 1.0} if column == "v" else {"a": 0.0, "b": 0.0, "c": 0.0})
    return pd.Series({"formal": 0.0})

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
# %% file: datasets/real/travel_bans.csv
# as_of,period,people_listed,flight_purchases_blocked,rail_purchases_blocked,unit_people,unit_blocked,approximate,source,verification
# 2017-07,cumulative,,0,0,people,purchases,no,offline copy,none
# 2017-12,cumulative,,0,0,people,purchases,no,offline copy,none
# 2018-05-01,cumulative,,0,0,people,purchases,no,offline copy,none
# 2018-12,cumulative,,0,0,people,purchases,no,offline copy,none
# 2019-07-09,cumulative,,0,0,people,purchases,no,offline copy,none
