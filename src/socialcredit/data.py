"""Write the world to CSV and load it back, from any working directory.

Where the data live is decided in this order:

1. the ``SOCIALCREDIT_DATA`` environment variable, if set (an instructor's
   fresh world for a cohort, or the test harness's second seed);
2. the nearest ``datasets/`` folder holding ``DATASHEET.md``, searching the
   current folder and its parents (a clone of the course, Binder, JupyterHub,
   or nbgrader's ``autograded/<student>/<lesson>/`` inside the course folder);
3. the ``datasets/`` folder of the repository this package was installed from.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from .world import TABLES, generate_world

ENV_VAR = "SOCIALCREDIT_DATA"
MARKER = "DATASHEET.md"
_PACKAGE_REPO = Path(__file__).resolve().parents[2]

#: dtypes that must survive the round trip through CSV
_DTYPES = {
    "registry": {"resident_id": "string", "hukou": "string", "district": "string", "age": "Int64",
                 "education": "string"},
    "labour": {"job_sector": "string"},
    "police": {"subject_ref": "string", "offence": "string", "district": "string"},
    "bank": {"customer": "string", "debt_band": "string"},
    "courts": {"case_no": "string", "debtor_id": "string"},
    "payments": {"account_holder": "string", "phone_tier": "string"},
    "community": {"resident_id": "string"},
    "ratings": {"rater_id": "string", "ratee_id": "string"},
    "truth": {"resident_id": "string"},
    "citizens": {"resident_id": "string", "hukou": "string", "district": "string", "education": "string",
                 "job_sector": "string", "debt_band": "string", "phone_tier": "string"},
}


def data_dir():
    """The folder the course's data are read from (see the module docstring).

    Raises
    ------
    FileNotFoundError
        If ``SOCIALCREDIT_DATA`` names a folder that does not exist, or no
        ``datasets/`` folder can be found.
    """
    env = os.environ.get(ENV_VAR)
    if env:
        path = Path(env).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(
                f"{ENV_VAR}={env!r} is not a folder. Expected a folder written by "
                f"`python -m socialcredit generate --out DIR`, or unset {ENV_VAR} to use the course's datasets/."
            )
        return path
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        candidate = folder / "datasets"
        if (candidate / MARKER).is_file():
            return candidate
    candidate = _PACKAGE_REPO / "datasets"
    if (candidate / MARKER).is_file():
        return candidate
    raise FileNotFoundError(
        f"No datasets/ folder with {MARKER} found above {here} or beside the package ({_PACKAGE_REPO}). "
        f"Set {ENV_VAR} to a folder made by `python -m socialcredit generate --out DIR`."
    )


def load(name, *, folder=None):
    """Load one table of Lanternport's world as a DataFrame.

    Parameters
    ----------
    name : str
        One of ``registry``, ``labour``, ``police``, ``bank``, ``courts``,
        ``payments``, ``community``, ``ratings`` (the agencies' own, messy
        records), ``truth`` (what no agency sees) or ``citizens`` (one clean
        row per resident), or ``real/<file>`` for a table in ``datasets/real``.
    folder : str or Path, optional
        Read from this folder instead of the one :func:`data_dir` finds.

    Examples
    --------
    >>> citizens = load("citizens")
    >>> {"resident_id", "hukou", "district"} <= set(citizens.columns)
    True
    """
    if not isinstance(name, str):
        raise TypeError(f"name={name!r}: expected a table name (str), one of {', '.join(TABLES)}.")
    if not name.startswith("real/") and name not in TABLES:
        raise ValueError(f"name={name!r}: unknown table; expected one of {', '.join(TABLES)} (or 'real/<file>').")
    base = Path(folder) if folder is not None else data_dir()
    if folder is not None and not base.is_dir():
        raise FileNotFoundError(f"folder={str(folder)!r} is not a folder; expected a folder of the world's CSV files.")
    if name.startswith("real/"):
        path = base / "real" / (name[len("real/"):].removesuffix(".csv") + ".csv")
        if not path.is_file():
            available = sorted(p.stem for p in (base / "real").glob("*.csv"))
            raise ValueError(f"name={name!r}: no such real table; expected one of "
                             f"{', '.join('real/' + a for a in available)}.")
        return pd.read_csv(path)
    path = base / f"{name}.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the folder {base} does not hold the table {name!r}. "
                                f"Regenerate it with `python -m socialcredit generate --out {base}`.")
    return pd.read_csv(path, dtype=_DTYPES.get(name))


def write_world(world, out):
    """Write every table of a generated world as ``<name>.csv`` in ``out``.

    Values are rounded by the generator and written in Python's shortest
    round-trip form with ``\\n`` line endings, so that the same world gives
    byte-identical files on every run and platform.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"out={str(out)!r} exists and is not a folder; expected a folder to write CSV files into.")
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in TABLES:
        path = out / f"{name}.csv"
        world[name].to_csv(path, index=False, lineterminator="\n")
        paths.append(path)
    return paths


def generate(out, *, n=None, seed=None):
    """Generate a world and write it to ``out``; returns the written paths."""
    from .world import DEFAULT_N, DEFAULT_SEED
    world = generate_world(n=DEFAULT_N if n is None else n, seed=DEFAULT_SEED if seed is None else seed)
    return write_world(world, out)
