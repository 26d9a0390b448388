"""Shared fixtures: the repository root, the shipped world, a small generated world."""
import os
from pathlib import Path

import pytest

# The suite reads the cohort's own world unless a test asks for a student's: run inside a course hub (where
# JUPYTERHUB_USER is set), load() would otherwise read that user's world and every quoted number would differ.
for _var in ("SOCIALCREDIT_STUDENT", "JUPYTERHUB_USER"):
    os.environ.pop(_var, None)

REPO = Path(__file__).resolve().parents[1]


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now (for the tests that start servers)."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def once_per_run(tmp_path_factory, name, compute):
    """``compute()`` (a JSON-able result) once per test run, whichever pytest-xdist workers ask for it: the first
    computes it under a lock and leaves the result in the run's shared temporary folder, the others wait and read
    it. (The attack corpus is graded once this way; with one module fixture per worker it was graded once on every
    worker a test of it landed on. xdist's own grouping, --dist loadgroup, does nothing under pytest 9: its mark is
    written to a node attribute pytest 9 no longer reads.) A compute() that fails is tried again by the next worker."""
    import fcntl
    import json
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if not run:  # (not under xdist: one process)
        return compute()
    shared = tmp_path_factory.getbasetemp().parent / f"once-{run}"
    shared.mkdir(exist_ok=True)
    result = shared / f"{name}.json"
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if result.exists():
            return json.loads(result.read_text())
        value = compute()
        result.write_text(json.dumps(value))
        return value


@pytest.fixture(scope="session")
def repo():
    return REPO


@pytest.fixture(scope="session")
def shipped():
    """The default world as shipped in datasets/, loaded table by table."""
    from socialcredit import TABLES, load
    folder = REPO / "datasets"
    return {name: load(name, folder=folder) for name in TABLES}


def pytest_terminal_summary(terminalreporter):
    """Per-lesson mutation-testing numbers (recorded by test_mutants.py; works under pytest-xdist)."""
    rows = {}
    for key in ("passed", "failed"):
        for report in terminalreporter.stats.get(key, []):
            for name, value in getattr(report, "user_properties", []):
                if name == "mutants" and getattr(report, "when", "call") == "call":
                    rows[value["lesson"]] = value
    if not rows:
        return
    terminalreporter.section("mutation testing (shipped world)")
    cols = ["generated", "run", "caught", "equivalent", "not applicable", "uncaught", "wrongly declared"]
    terminalreporter.write_line(f"{'lesson':28}" + "".join(f"{c:>18}" for c in cols))
    for lesson in sorted(rows):
        terminalreporter.write_line(f"{lesson:28}" + "".join(f"{rows[lesson].get(c, 0):>18}" for c in cols))


# The longest tests first, so that pytest-xdist's two workers do not end with one long test on one core
# (the nbgrader shards, then the mutants, then the banks on other worlds; everything else keeps its order).
_LONG_FIRST = ("test_harness.py::test_grading", "test_mutants.py::", "test_banks_fast.py::")


def pytest_collection_modifyitems(session, config, items):
    def rank(item):
        for i, prefix in enumerate(_LONG_FIRST):
            if prefix in item.nodeid:
                return i
        return len(_LONG_FIRST)
    items.sort(key=rank)  # stable: the order within each group is kept
