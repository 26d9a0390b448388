"""Shared fixtures: the repository root, the shipped world, a small generated world."""
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo():
    return REPO


@pytest.fixture(scope="session")
def shipped():
    """The default world as shipped in datasets/, loaded table by table."""
    from socialcredit import TABLES, load
    folder = REPO / "datasets"
    return {name: load(name, folder=folder) for name in TABLES}
