"""Write the world to CSV and load it back, from any working directory.

Where the data live is decided in two steps.

The **cohort's folder** is, in this order:

1. the ``SOCIALCREDIT_DATA`` environment variable, if set (an instructor's
   fresh world for a cohort, or the test harness's second seed);
2. the nearest ``datasets/`` folder holding ``DATASHEET.md``, searching the
   current folder and its parents (a clone of the course, Binder, JupyterHub,
   or nbgrader's ``autograded/<student>/<lesson>/`` inside the course folder);
3. the ``datasets/`` folder of the repository this package was installed from.

**Each student's own world.** When a student is known, the tables come from a
world of that student's own, drawn by the same generator with a seed made from
the cohort's seed and the student's id (``student_seed``), written once to a
cache folder (``SOCIALCREDIT_CACHE``, else ``~/.cache/socialcredit``) and read
from there afterwards. The student is:

1. ``SOCIALCREDIT_STUDENT`` if it is set (set but empty: nobody, the cohort's
   own world; this is how an instructor on the hub reads the shared world);
2. else ``JUPYTERHUB_USER`` (set by JupyterHub in every user's server);
3. else nobody: a student working on a laptop, Binder or the test suite reads
   the cohort's world itself.

The cohort's ``world.json`` (written by ``python -m socialcredit generate``)
records its seed and size and whether students get worlds of their own
(``"per_student": true``, the default; ``--shared`` turns it off). A folder
without ``world.json`` is read as it is, by everyone. Tables under ``real/``
are real data, the same for everyone, and always come from the cohort's folder.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import pandas as pd

from .world import TABLES, generate_world

ENV_VAR = "SOCIALCREDIT_DATA"
STUDENT_VAR = "SOCIALCREDIT_STUDENT"
HUB_USER_VAR = "JUPYTERHUB_USER"
CACHE_VAR = "SOCIALCREDIT_CACHE"
MARKER = "DATASHEET.md"
WORLD_FILE = "world.json"
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


def cohort_dir(*, environ=None, cwd=None):
    """The cohort's folder (see the module docstring): the shared world, before any student's own is drawn.
    ``environ`` and ``cwd`` stand for ``os.environ`` and the working folder (the grader resolves a kernel's
    world with the kernel's, without changing its own).

    Raises
    ------
    FileNotFoundError
        If ``SOCIALCREDIT_DATA`` names a folder that does not exist, or no
        ``datasets/`` folder can be found.
    """
    env = (os.environ if environ is None else environ).get(ENV_VAR)
    if env:
        path = Path(env).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(
                f"{ENV_VAR}={env!r} is not a folder. Expected a folder written by "
                f"`python -m socialcredit generate --out DIR`, or unset {ENV_VAR} to use the course's datasets/."
            )
        return path
    here = Path(cwd if cwd is not None else Path.cwd()).resolve()
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


def data_dir():
    """The folder the course's tables are read from: the student's own world when a student is known and the
    cohort gives students worlds of their own, else the cohort's folder (see the module docstring).

    The first call for a student generates that student's world and writes it to the cache (about a second).
    """
    return _world_dir(cohort_dir(), current_student())


def current_student():
    """The id of the student whose world :func:`load` reads, or None (see the module docstring)."""
    if STUDENT_VAR in os.environ:
        value = os.environ[STUDENT_VAR].strip()
    else:
        value = os.environ.get(HUB_USER_VAR, "").strip()
    return value or None


def cohort_info(folder=None):
    """The cohort's ``world.json`` as a dict (``seed``, ``n``, ``per_student``), or None if the folder has none.

    Raises
    ------
    ValueError
        If ``world.json`` is not a JSON object with a non-negative integer ``seed`` and a positive integer ``n``.
    """
    base = Path(folder) if folder is not None else cohort_dir()
    path = base / WORLD_FILE
    if not path.is_file():
        return None
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise ValueError(f"{path} is not valid JSON ({error}); expected e.g. "
                         '{"seed": 2024, "n": 20000, "per_student": true}. Rewrite it with '
                         "`python -m socialcredit generate --seed S --n N --out DIR --with-real`.") from None
    ok = (isinstance(info, dict) and all(isinstance(info.get(k), int) and not isinstance(info.get(k), bool)
                                         for k in ("seed", "n")) and info["seed"] >= 0 and info["n"] > 0
          and isinstance(info.get("per_student", True), bool))
    if not ok:
        raise ValueError(f"{path} holds {info!r}; expected a non-negative integer seed, a positive integer n and "
                         'a true/false per_student, e.g. {"seed": 2024, "n": 20000, "per_student": true}.')
    return {"seed": info["seed"], "n": info["n"], "per_student": info.get("per_student", True)}


def student_seed(cohort_seed, student):
    """The seed of ``student``'s world in the cohort of ``cohort_seed``: the same pair always gives the same seed,
    and two students (or two cohorts) get unrelated ones.

    >>> student_seed(2024, "student1") == student_seed(2024, "student1") != student_seed(2024, "student2")
    True
    """
    if not isinstance(student, str) or not student.strip():
        raise ValueError(f"student={student!r}: expected a non-empty student id (a str), e.g. a hub user name.")
    digest = hashlib.sha256(f"socialcredit world|{int(cohort_seed)}|{student.strip()}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def _generator_version():
    """Changes whenever the generator's code does, so that a cache never serves a world an older generator drew."""
    from . import __version__
    source = (Path(__file__).resolve().parent / "world.py").read_bytes()
    return f"{__version__}-{hashlib.sha256(source).hexdigest()[:12]}"


def cache_root(*, environ=None):
    """Where students' worlds are kept: ``SOCIALCREDIT_CACHE``, else ``~/.cache/socialcredit`` (or a folder in the
    system's temporary folder when the home folder cannot be written). ``environ`` stands for ``os.environ``."""
    environ = os.environ if environ is None else environ
    env = environ.get(CACHE_VAR)
    if env:
        return Path(env).expanduser()
    home = Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "socialcredit"
    try:
        home.mkdir(parents=True, exist_ok=True)
        if os.access(home, os.W_OK):
            return home
    except OSError:
        pass
    return Path(tempfile.gettempdir()) / f"socialcredit-{os.getuid() if hasattr(os, 'getuid') else 'user'}"


def _world_dir(base, student, cache=None):
    if student is None:
        return base
    info = cohort_info(base)
    if info is None or not info["per_student"]:
        return base
    seed = student_seed(info["seed"], student)
    folder = (cache if cache is not None else cache_root()) / f"world-{info['n']}-{seed}-{_generator_version()}"
    if (folder / "citizens.csv").is_file():  # citizens.csv is written last: its presence means a complete world
        return folder
    from .world import generate_world
    world = generate_world(n=info["n"], seed=seed)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    try:
        write_world(world, tmp)
        (tmp / "STUDENT").write_text(f"{student}\ncohort seed {info['seed']}, n {info['n']}, seed {seed}\n",
                                     encoding="utf-8")
        try:
            os.rename(tmp, folder)
        except OSError:
            if not (folder / "citizens.csv").is_file():  # another process wrote it at the same moment: use theirs
                raise
    finally:
        if tmp.exists():
            import shutil
            shutil.rmtree(tmp, ignore_errors=True)
    return folder

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
        Read from this folder instead of the one :func:`data_dir` finds (the student's own world on a course hub,
        else the cohort's ``datasets/``).

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
    if folder is not None:
        base = Path(folder)
        if not base.is_dir():
            raise FileNotFoundError(f"folder={str(folder)!r} is not a folder; expected a folder of the world's CSV files.")
    elif name.startswith("real/"):
        base = cohort_dir()  # real data are the same for every student
    else:
        base = data_dir()
        _announce(base)
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


_ANNOUNCED = set()


def _announce(folder):
    """Say once per process whose world a student's notebook reads, so that nobody mistakes it for the shared one."""
    student = current_student()
    if student is None or folder in _ANNOUNCED or not (folder / "STUDENT").is_file():
        return
    _ANNOUNCED.add(folder)
    print(f"Lanternport as drawn for {student}: a world of your own, so your numbers differ a little from the "
          f"ones quoted in the lesson's text.")


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


def generate(out, *, n=None, seed=None, per_student=True):
    """Generate a world and write it to ``out`` with its ``world.json``; returns the written paths.

    ``per_student``: whether students on a hub (or graded by ``make autograde``) get worlds of their own drawn
    from this one's seed (see the module docstring), or all read this one.
    """
    from .world import DEFAULT_N, DEFAULT_SEED
    n = DEFAULT_N if n is None else n
    seed = DEFAULT_SEED if seed is None else seed
    if not isinstance(per_student, bool):
        raise TypeError(f"per_student={per_student!r}: expected True or False.")
    world = generate_world(n=n, seed=seed)
    paths = write_world(world, out)
    info = Path(out) / WORLD_FILE
    info.write_text(json.dumps({"seed": seed, "n": n, "per_student": per_student}) + "\n", encoding="utf-8")
    return [*paths, info]
