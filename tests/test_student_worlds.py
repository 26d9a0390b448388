"""Each student's own world (issue #10 §2): load() reads the world of the student who runs it, drawn from the
cohort's seed and the student's id; autograde runs each submission on its student's world; `figures` gives
graders a student's numbers.
"""
import json
import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest

import socialcredit
from socialcredit import load
from socialcredit.data import (CACHE_VAR, ENV_VAR, HUB_USER_VAR, STUDENT_VAR, cohort_info, current_student, data_dir,
                               generate, student_seed)

from conftest import REPO

PY = sys.executable


@pytest.fixture
def cohort(tmp_path, monkeypatch):
    """A small cohort folder (n = 400, seed 5) with its world.json, and an empty cache."""
    folder = tmp_path / "cohort"
    generate(folder, n=400, seed=5)
    monkeypatch.setenv(ENV_VAR, str(folder))
    monkeypatch.setenv(CACHE_VAR, str(tmp_path / "cache"))
    monkeypatch.delenv(STUDENT_VAR, raising=False)
    monkeypatch.delenv(HUB_USER_VAR, raising=False)
    return folder


def _ids(monkeypatch, **env):
    for var in (STUDENT_VAR, HUB_USER_VAR):
        monkeypatch.delenv(var, raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    return load("registry")["resident_id"].tolist(), load("truth")["true_offences"].tolist()


def test_each_student_gets_a_world_of_their_own_and_the_same_one_every_time(cohort, monkeypatch, tmp_path):
    shared = _ids(monkeypatch)
    alice = _ids(monkeypatch, SOCIALCREDIT_STUDENT="alice")
    assert alice != shared, "SOCIALCREDIT_STUDENT=alice read the cohort's world, not a world of alice's own"
    assert _ids(monkeypatch, JUPYTERHUB_USER="alice") == alice, "the hub's user name must give the same world"
    assert _ids(monkeypatch, JUPYTERHUB_USER="bob") != alice, "two students got the same world"
    # SOCIALCREDIT_STUDENT wins over the hub's user name; set but empty, it means the cohort's world
    assert _ids(monkeypatch, JUPYTERHUB_USER="bob", SOCIALCREDIT_STUDENT="alice") == alice
    assert _ids(monkeypatch, JUPYTERHUB_USER="bob", SOCIALCREDIT_STUDENT="") == shared
    # deterministic across processes: a fresh interpreter with an empty cache draws the same world
    out = subprocess.run([PY, "-c", "from socialcredit import load; print(load('truth')['true_offences'].sum())"],
                         env={**os.environ, STUDENT_VAR: "alice", CACHE_VAR: str(tmp_path / "other-cache")},
                         capture_output=True, text=True, check=True).stdout.split()[-1]
    assert int(out) == sum(alice[1]), "the same cohort and student gave a different world in another process"
    # the student's world is the cohort's generator with the student's seed: same size, same parameters
    monkeypatch.setenv(STUDENT_VAR, "alice")
    assert len(load("citizens")) == 400
    direct = socialcredit.generate_world(n=400, seed=student_seed(5, "alice"))["truth"]["true_offences"]
    assert direct.tolist() == alice[1]


def test_the_cache_is_written_once_and_real_tables_are_shared(cohort, monkeypatch, tmp_path):
    monkeypatch.setenv(STUDENT_VAR, "carol")
    first = data_dir()
    assert first.parent == tmp_path / "cache", f"carol's world went to {first}, not the cache folder"
    stamp = (first / "citizens.csv").stat().st_mtime_ns
    assert data_dir() == first and (first / "citizens.csv").stat().st_mtime_ns == stamp, "the world was redrawn"
    assert (first / "STUDENT").read_text().startswith("carol\n")
    # real data are the same for every student: read from the cohort's folder
    (cohort / "real").mkdir()
    pd.DataFrame({"x": [1, 2]}).to_csv(cohort / "real" / "t.csv", index=False)
    assert load("real/t")["x"].tolist() == [1, 2]


def test_a_shared_cohort_or_a_folder_without_world_json_gives_everyone_the_cohort(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_VAR, str(tmp_path / "cache"))
    monkeypatch.setenv(STUDENT_VAR, "alice")
    shared = tmp_path / "shared"
    generate(shared, n=300, seed=2, per_student=False)
    assert cohort_info(shared) == {"seed": 2, "n": 300, "per_student": False}
    monkeypatch.setenv(ENV_VAR, str(shared))
    assert data_dir() == shared
    (shared / "world.json").unlink()
    assert data_dir() == shared, "a folder without world.json (an older cohort) must be read as it is"
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


@pytest.mark.parametrize("text,expected", [
    ("not json", "not valid JSON"),
    ('{"seed": -1, "n": 5}', "non-negative integer seed"),
    ('{"seed": 1, "n": "many"}', "positive integer n"),
    ('{"seed": 1, "n": 5, "per_student": "yes"}', "true/false per_student"),
])
def test_a_broken_world_json_is_named_with_what_was_expected(cohort, monkeypatch, text, expected):
    (cohort / "world.json").write_text(text)
    monkeypatch.setenv(STUDENT_VAR, "alice")
    with pytest.raises(ValueError, match=expected) as info:
        load("citizens")
    assert "world.json" in str(info.value)


def test_student_ids_are_checked_and_hub_names_are_trimmed(monkeypatch):
    with pytest.raises(ValueError, match="expected a non-empty student id"):
        student_seed(2024, "  ")
    monkeypatch.delenv(STUDENT_VAR, raising=False)
    monkeypatch.setenv(HUB_USER_VAR, " student1 ")
    assert current_student() == "student1"
    assert student_seed(2024, "student1") != student_seed(2025, "student1"), "two cohorts gave one student one world"


def test_a_student_is_told_once_that_the_world_is_their_own(cohort, monkeypatch, capsys):
    monkeypatch.setenv(STUDENT_VAR, "dora")
    load("registry")
    load("citizens")
    said = capsys.readouterr().out
    assert said.count("Lanternport as drawn for dora") == 1, f"expected one note, got: {said!r}"
    monkeypatch.setenv(STUDENT_VAR, "")
    load("citizens")
    assert capsys.readouterr().out == "", "the cohort's own world needs no note"


def test_the_shipped_datasets_give_students_their_own_worlds():
    assert cohort_info(REPO / "datasets") == {"seed": socialcredit.DEFAULT_SEED, "n": socialcredit.DEFAULT_N,
                                               "per_student": True}


@pytest.mark.slow
def test_figures_prints_a_students_numbers_beside_the_cohorts(tmp_path):
    env = {**os.environ, CACHE_VAR: str(tmp_path / "cache")}
    env.pop(ENV_VAR, None)
    run = subprocess.run([PY, "-m", "socialcredit", "figures", "student1", "--lesson", "03-who-pays"], cwd=REPO,
                         env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = [ln for ln in run.stdout.splitlines() if "quoted '" in ln]
    assert len(lines) > 20, run.stdout[-2000:]
    assert "failed" not in run.stdout, [ln for ln in lines if "failed" in ln]
    differ = [ln for ln in lines if not ln.rstrip().endswith("student1 =")]
    assert differ, "no quoted number differs on student1's world: figures is not reading the student's world"
    assert "instructors/03-who-pays.md: quoted '7.2%', cohort 7.2%" in run.stdout
    bad = subprocess.run([PY, "-m", "socialcredit", "figures", "student1", "--lesson", "03-who"], cwd=REPO, env=env,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "'03-who': no such lesson; expected one of 01-dossier" in bad.stderr, bad.stderr
    away = subprocess.run([PY, "-m", "socialcredit", "figures", "student1"], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    assert away.returncode == 2 and "instructor's repository" in away.stderr, away.stderr


# ------------------------------------------------------------------------------ grading on each student's world

LESSON = "03-who-pays"
_DAVES_NUMBERS = r'''
import json, os
from pathlib import Path
nb = json.loads(Path(os.environ["SOURCE_NB"]).read_text())
setup = next("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
ns = {}
exec(setup, ns)
citizens, audit = ns["citizens"], ns["audit"]
out = {}
for frame, cols in ((citizens, ["travel_ban", "blacklisted"]), (audit, ["denied"])):
    for col in cols:
        for grp in ("district", "hukou"):
            rates = frame[col].astype(float).groupby(frame[grp].astype(str)).mean()
            out[f"{col}|{grp}"] = {k: float(v) for k, v in rates.items()}
print(json.dumps(out))
'''


def _copier(numbers):
    """Exercise 3.1 answered with another student's numbers: a look-up of what their notebook printed."""
    return (f"_COPIED = {numbers!r}\n\n\ndef rate_by_group(y_pred, *, sensitive_features):\n"
            f"    return pd.Series(_COPIED[f\"{{y_pred.name}}|{{sensitive_features.name}}\"])\n")


@pytest.mark.slow
def test_autograde_grades_each_student_on_their_own_world(tmp_path):
    """Two students' solutions both get full marks on their own worlds; the same notebook with dave's numbers
    hard-coded in Exercise 3.1 keeps the real-data points when graded as dave and loses them graded as carol."""
    from harness import Course
    course = Course.make(tmp_path, LESSON)
    root = course.root
    shutil.copytree(REPO / "datasets", root / "datasets")
    env = {**os.environ, CACHE_VAR: str(tmp_path / "cache"), "SOURCE_NB": str(REPO / "solutions" / LESSON /
                                                                               f"{LESSON}.ipynb")}
    env.pop(ENV_VAR, None)
    daves = subprocess.run([PY, "-c", _DAVES_NUMBERS], cwd=root, env={**env, STUDENT_VAR: "dave"},
                           capture_output=True, text=True, timeout=600)
    assert daves.returncode == 0, daves.stderr[-3000:]
    numbers = json.loads(daves.stdout.strip().splitlines()[-1])
    carols = subprocess.run([PY, "-c", _DAVES_NUMBERS], cwd=root, env={**env, STUDENT_VAR: "carol"},
                            capture_output=True, text=True, timeout=600)
    assert json.loads(carols.stdout.strip().splitlines()[-1]) != numbers, "carol's world gives dave's numbers"
    copied = course.solved(replace=("ex3_1_rate_by_group", _copier(numbers)))
    for student, nb in (("alice", course.solved()), ("bob", course.solved()), ("dave", copied), ("carol", copied)):
        course.submit(student, nb)
    run = subprocess.run([PY, "-m", "socialcredit", "autograde", "--workers", "2"], cwd=root, env=env,
                         capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    auto = {c.metadata["nbgrader"]["grade_id"] for c in course.source.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")}
    scores = {s: {k: v for k, v in course.scores(s).items() if k in auto} for s in ("alice", "bob", "dave", "carol")}
    total = {s: sum(v[0] for v in sc.values()) for s, sc in scores.items()}
    full = sum(v[1] for v in scores["alice"].values())
    assert len(scores["alice"]) == len(auto) and full > 0, f"the gradebook holds {sorted(scores['alice'])}"
    assert total["alice"] == total["bob"] == full, f"solutions must get full marks on their own worlds: {total}"
    for student in ("alice", "dave"):
        said = "\n".join(o.get("text", "") for c in course.autograded(student).cells for o in c.get("outputs", []))
        assert f"Lanternport as drawn for {student}" in said, f"{student}'s notebook did not run on their own world"
    own, other = scores["dave"], scores["carol"]
    assert own["ex3_1_rate_by_group_tests2"][0] == own["ex3_1_rate_by_group_tests2"][1] > 0, (
        f"dave's numbers, graded as dave, should pass the real-data test of 3.1: {own['ex3_1_rate_by_group_tests2']}")
    assert other["ex3_1_rate_by_group_tests2"][0] == 0, (
        "dave's numbers hard-coded into carol's notebook kept the real-data points of 3.1: carol was not graded on "
        f"her own world ({other['ex3_1_rate_by_group_tests2']})")
    assert total["carol"] < total["dave"] < full, total


def _tiny_course(root):
    """A one-cell lesson whose cell prints the student whose world the grading kernel reads."""
    import nbformat
    (root / "solutions" / "00-tiny").mkdir(parents=True)
    shutil.copy2(REPO / "nbgrader_config.py", root)
    meta = {"nbgrader": {"grade": False, "solution": False, "locked": True, "grade_id": "who", "schema_version": 3}}
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        'import os\nprint("world of:", os.environ.get("SOCIALCREDIT_STUDENT"))', metadata=meta)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, root / "solutions" / "00-tiny" / "00-tiny.ipynb")


def _printed(root, student):
    nb = json.loads((root / "autograded" / student / "00-tiny" / "00-tiny.ipynb").read_text())
    return "".join("".join(o.get("text", "")) for o in nb["cells"][0].get("outputs", []))


@pytest.mark.slow
def test_every_way_of_autograding_runs_the_kernel_on_the_students_world(tmp_path, monkeypatch):
    """A bare `nbgrader autograde` (and formgrader's button, which calls nbgrader's API inside the instructor's
    server) gives the grading kernel the student's id, and leaves the grading process's own environment alone."""
    from harness import run_nbgrader
    root = tmp_path / "course"
    _tiny_course(root)
    assert run_nbgrader(["generate_assignment", "00-tiny", "--force"], root).returncode == 0
    for student in ("erin", "fay"):
        (root / "submitted" / student / "00-tiny").mkdir(parents=True)
        shutil.copy2(root / "lessons" / "00-tiny" / "00-tiny.ipynb", root / "submitted" / student / "00-tiny")
    r = run_nbgrader(["autograde", "00-tiny", "--student", "erin"], root)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert _printed(root, "erin").strip() == "world of: erin", _printed(root, "erin")
    # in-process, as formgrader does it
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader
    monkeypatch.delenv(STUDENT_VAR, raising=False)
    monkeypatch.chdir(root)
    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    api = NbGraderAPI(CourseDirectory(config=config, root=str(root)), config=config)
    result = api.autograde("00-tiny", "fay", force=True, create=True)
    assert result["success"], result.get("log", "")[-3000:] + result.get("error", "")
    assert _printed(root, "fay").strip() == "world of: fay", _printed(root, "fay")
    assert STUDENT_VAR not in os.environ, "autograding changed the grading process's own environment"
    # the course's per-cell limit still applies to the replacement Execute
    from socialcredit.worlds_nbgrader import SandboxedExecute
    assert SandboxedExecute(config=config).timeout == 60
