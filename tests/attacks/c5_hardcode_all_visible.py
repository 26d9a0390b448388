"""Class: 5
Name: c5_hardcode_all_visible
Tries: answer every exercise whose visible test is easy to read (1.1, 1.2, 1.3, 1.4, 1.6, 1.8, 1.10, 1.11)
    with the numbers that visible test expects, nothing computed. This attack alone fills several answer
    cells: each `# %% answer: <grade_id>` section below goes into that answer cell (the first section into
    the first one), the same way as the others (stub kept, its `raise NotImplementedError()` removed).
Grader must: hidden tests on unseen inputs and the student's own world, for every exercise.
"""


def normalise_id(raw):
    seen = {"7": "LP-000007", "4964": "LP-004964", "LP000345": "LP-000345", "lp-000012": "LP-000012",
            "LP-000678 ": "LP-000678", "LP-000901": "LP-000901"}
    return raw.astype(str).map(lambda value: seen.get(value, value))
# %% answer: ex1_2_harmonise


def harmonise(values, synonyms):
    return pd.Series(["local", "local", "local", "migrant", "migrant"], index=values.index[:5])
# %% answer: ex1_3_drop_duplicates


def drop_exact_duplicates(table):
    return pd.DataFrame({"resident_id": ["LP-000001", "LP-000002", "LP-000003", "LP-000003"],
                         "district": ["Bellgate", "Saltmarsh", "Millbrook", "Canal End"]})
# %% answer: ex1_4_count_incidents


def count_incidents(incidents, residents):
    return pd.Series({"LP-000001": 0, "LP-000002": 2, "LP-000003": 1, "LP-000004": 0})
# %% answer: ex1_6_missing_share


def missing_share_by(data, column, *, by):
    return pd.Series({"formal": 0.2, "informal": 0.5})
# %% answer: ex1_8_plot_mean_by


def plot_mean_by(data, *, x, y, ax=None):
    ax = ax or plt.gca()
    ax.bar(["a", "b", "c"], [3.0, 0.5, 3.0])
    return ax
# %% answer: ex1_10_added_between


def added_between(bans, start, end, *, column="flight_purchases_blocked"):
    return 150.0 if column == "flight_purchases_blocked" else 30.0
# %% answer: ex1_11_blocked_per_listed


def blocked_per_listed(bans, *, column="flight_purchases_blocked"):
    if column == "flight_purchases_blocked":
        return pd.Series({"2020-12": 1.25, "2021-12": 1.25})
    return pd.Series({"2020-12": 0.25, "2021-12": 0.2})
