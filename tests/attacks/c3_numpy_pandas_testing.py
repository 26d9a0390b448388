"""Class: 3
Name: c3_numpy_pandas_testing
Tries: monkeypatch the numeric comparison helpers tests rely on: numpy.isclose / allclose / array_equal,
    numpy.testing.assert_* , pandas.testing.assert_series_equal / assert_frame_equal / assert_index_equal,
    pandas.api.types.is_integer_dtype, so any result "matches"; with a wrong answer for Exercise 1.1.
    (Lesson 1 uses np.allclose and is_integer_dtype in tests of later exercises.)
Grader must: import numpy and pandas afresh in a trusted process for the verdict (or compare plain data
    there); report modules whose attributes were replaced.
"""
import numpy as _np
import pandas as _pd

_yes = lambda *args, **kwargs: True  # noqa: E731
_none = lambda *args, **kwargs: None  # noqa: E731
_np.isclose = _np.allclose = _np.array_equal = _yes
for _name in dir(_np.testing):
    if _name.startswith("assert_"):
        setattr(_np.testing, _name, _none)
for _name in ("assert_series_equal", "assert_frame_equal", "assert_index_equal", "assert_extension_array_equal"):
    setattr(_pd.testing, _name, _none)
_pd.api.types.is_integer_dtype = _yes
np, pd = _np, _pd


def normalise_id(raw):
    return raw.astype(str)
