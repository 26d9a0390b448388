"""socialcredit: the helper package of a critical data-literacy course on social scoring.

Lanternport, the city in this package, is fictional. Its data are synthetic and
built so that their biases are known; they are not data about any real place.
"""
from .data import data_dir, load, write_world
from .world import CITY, DEFAULT_N, DEFAULT_SEED, TABLES, WorldParams, generate_world

__all__ = ["CITY", "DEFAULT_N", "DEFAULT_SEED", "TABLES", "WorldParams", "data_dir", "generate_world", "load",
           "write_world"]
__version__ = "0.1.0"
