"""Generating, writing and loading the world: determinism, any working directory, clear errors."""
import hashlib
import os
import subprocess
import sys

import pandas as pd
import pytest

import socialcredit
from socialcredit import TABLES, generate_world, load, write_world
from socialcredit.data import ENV_VAR

from conftest import REPO

PY = sys.executable


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted([*folder.glob("*.csv"), *folder.glob("world.json")])}


def _generate_in_subprocess(out, seed, n=3000):
    subprocess.run([PY, "-m", "socialcredit", "generate", "--seed", str(seed), "--n", str(n), "--out", str(out)],
                   check=True, capture_output=True, text=True)
    return _digest(out)


def test_same_seed_gives_byte_identical_files_across_processes(tmp_path):
    a = _generate_in_subprocess(tmp_path / "a", 7)
    b = _generate_in_subprocess(tmp_path / "b", 7)
    assert set(a) == {f"{t}.csv" for t in TABLES} | {"world.json"}
    assert a == b, f"files differ between two runs with the same seed: {[k for k in a if a[k] != b[k]]}"


def test_other_seed_gives_other_files(tmp_path):
    a = _generate_in_subprocess(tmp_path / "a", 7)
    b = _generate_in_subprocess(tmp_path / "b", 8)
    same = [k for k in a if a[k] == b[k]]
    assert not same, f"tables identical under two different seeds: {same}"


def test_shipped_files_are_the_default_world(tmp_path):
    """datasets/ is exactly what the default seed and n generate (the tables and world.json)."""
    from socialcredit.data import generate
    generate(tmp_path)
    shipped = _digest(REPO / "datasets")
    fresh = _digest(tmp_path)
    assert fresh == shipped, f"datasets/ differs from a fresh default world in {[k for k in fresh if fresh[k] != shipped.get(k)]}. If you made a cohort world on purpose (`make datasets SEED=...`) this failure is expected; otherwise restore the shipped files with `git checkout datasets/`"


def test_shipped_size_budget():
    total = sum(p.stat().st_size for p in (REPO / "datasets").rglob("*") if p.is_file())
    assert total < 15 * 2**20, f"datasets/ holds {total / 2**20:.1f} MB; budget 15 MB"


@pytest.mark.parametrize("where", [".", "lessons/01-dossier", "autograded/alice/01-dossier",
                                   "submitted/bob/01-dossier"])
def test_load_from_any_course_folder(tmp_path, where, monkeypatch):
    """From a course folder holding datasets/, load() finds it from any depth (nbgrader runs one level deeper)."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    course = tmp_path / "course"
    write_world(generate_world(n=200, seed=3), course / "datasets")
    (course / "datasets" / "DATASHEET.md").write_text("test world")
    cwd = course / where
    cwd.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(cwd)
    c = load("citizens")
    assert len(c) == 200, f"loaded {len(c)} rows from {socialcredit.data_dir()}, expected the course's own 200"


def test_load_from_unrelated_folder_falls_back_to_repo(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    assert socialcredit.data_dir() == REPO / "datasets"
    assert len(load("registry")) > 0


def test_env_var_points_to_another_world(tmp_path, monkeypatch):
    write_world(generate_world(n=123, seed=5), tmp_path)
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert len(load("citizens")) == 123


def test_real_table_loads():
    real = load("real/travel_bans")
    assert {"people_listed", "flight_purchases_blocked", "rail_purchases_blocked", "unit_people", "unit_blocked",
            "source"} <= set(real.columns)
    assert real["source"].notna().all() and real["source"].is_unique


def test_every_table_roundtrips_with_its_columns(shipped):
    world = generate_world(n=300, seed=11)
    for name in TABLES:
        assert list(shipped[name].columns) == list(world[name].columns), f"{name}: columns changed on the way to CSV"


# ---- errors that name the value and what was expected ---------------------------------------
@pytest.mark.parametrize("n,exc,fragment", [
    (0, ValueError, "n=0"), (-5, ValueError, "n=-5"), (2.5, TypeError, "n=2.5"), ("100", TypeError, "n='100'"),
    (True, TypeError, "n=True"),
])
def test_bad_n(n, exc, fragment):
    with pytest.raises(exc, match="expected") as info:
        generate_world(n=n)
    assert fragment in str(info.value)


@pytest.mark.parametrize("seed,exc,fragment", [
    (1.5, TypeError, "seed=1.5"), ("abc", TypeError, "seed='abc'"), (-1, ValueError, "seed=-1"), (None, TypeError, "seed=None"),
])
def test_bad_seed(seed, exc, fragment):
    with pytest.raises(exc, match="expected") as info:
        generate_world(n=10, seed=seed)
    assert fragment in str(info.value)


def test_unknown_table_name():
    with pytest.raises(ValueError, match=r"name='citizen'.*expected one of .*citizens"):
        load("citizen")


def test_unknown_real_table():
    with pytest.raises(ValueError, match=r"real/nope.*expected one of .*real/travel_bans"):
        load("real/nope")


def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does-not-exist"):
        load("citizens", folder=tmp_path / "does-not-exist")


def test_missing_env_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "gone"))
    with pytest.raises(FileNotFoundError, match=f"{ENV_VAR}=.*gone.*not a folder"):
        load("citizens")


def test_missing_table_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="citizens.csv is missing"):
        load("citizens", folder=tmp_path)


@pytest.mark.parametrize("args,fragment", [
    (["--n", "0"], "0 is not positive"), (["--n", "ten"], "'ten' is not a whole number"),
    (["--seed", "1.5"], "'1.5' is not a whole number"), (["--seed", "-3"], "-3 is negative"),
])
def test_cli_rejects_bad_input(tmp_path, args, fragment):
    out = tmp_path / "w"
    r = subprocess.run([PY, "-m", "socialcredit", "generate", "--out", str(out), *args], capture_output=True, text=True)
    assert r.returncode == 2 and fragment in r.stderr, r.stderr
    assert not out.exists(), "a failed command must not leave a half-written folder"


def test_cli_refuses_a_file_as_out(tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("keep me")
    r = subprocess.run([PY, "-m", "socialcredit", "generate", "--n", "10", "--out", str(f)], capture_output=True, text=True)
    assert r.returncode == 2 and "not a folder" in r.stderr
    assert f.read_text() == "keep me", "the existing file was overwritten"


def test_cli_with_real_makes_a_complete_datasets_folder(tmp_path):
    out = tmp_path / "cohort"
    subprocess.run([PY, "-m", "socialcredit", "generate", "--seed", "9", "--n", "50", "--out", str(out), "--with-real"],
                   check=True, capture_output=True)
    assert (out / "DATASHEET.md").is_file() and (out / "real" / "travel_bans.csv").is_file()
    assert len(load("citizens", folder=out)) == 50


def test_params_validation():
    from socialcredit import WorldParams
    with pytest.raises(ValueError, match=r"migrant_share=1.5.*expected a probability"):
        WorldParams(migrant_share=1.5)
    with pytest.raises(ValueError, match="district_migrant_share has 3 values"):
        WorldParams(district_migrant_share=(0.1, 0.2, 0.3))
    with pytest.raises(TypeError, match="params=.*expected a WorldParams"):
        generate_world(n=10, params={"migrant_share": 0.3})


@pytest.mark.parametrize("field,value,fragment", [
    ("born_in_city_migrant", 1.2, "expected a probability"),
    ("arrival_age_mean_local", -3.0, "expected a mean number of years >= 0"),
    ("arrival_age_min", 25, "expected an age between 0 and age_min (18)"),
])
def test_migration_history_params_validation(field, value, fragment):
    from socialcredit import WorldParams
    with pytest.raises(ValueError) as info:
        WorldParams(**{field: value})
    assert f"{field}={value!r}" in str(info.value) and fragment in str(info.value), str(info.value)


def test_generate_is_independent_of_global_random_state():
    import numpy as np
    np.random.seed(1)
    a = generate_world(n=100, seed=4)["citizens"]
    np.random.seed(2)
    b = generate_world(n=100, seed=4)["citizens"]
    pd.testing.assert_frame_equal(a, b)
