"""Trusted verdicts (issue #12, socialcredit.verdicts and socialcredit.wire): tests that fail when the trusted path
is broken, each naming the cause.

1. The wire's round trips: a value encoded by one side's Runtime, sent as JSON text, decoded by the other side's,
   comes back equal, with its type and dtypes (builtins, nested containers, NumPy scalars and arrays of every kind
   the wire takes, pandas Series/DataFrame/Index/MultiIndex with nullable, string, ordered category and datetime
   dtypes, NaN/NA/NaT). Both directions: T -> S (a test's arguments) and S -> T (the student's answers).
2. The decoder refuses what must not cross (unknown tags, dataclasses from outside the course package, dtype
   strings that are not plain dtypes, references to ids the receiver never exported) with WireError.
3. End to end through `nbgrader autograde` with the course's nbgrader_config.py (TrustedVerdictExecute), on a
   trimmed Lesson 1 (setup, Exercises 1.1-1.3 and their tests, plus four deliberately lenient test cells that
   forgive any exception) and two submissions:
   - ``forger``: adds a cell with nbgrader metadata of its own ("locked", as the setup that runs in T too) that
     would give T a correct normalise_id; 1.1 is wrong (returns its input); 1.2 returns a value the wire cannot
     encode (a Series of periods); 1.3 mutates its input in place and returns a correct table;
   - ``liar``: 1.1 and 1.2 are the solution, but the answer cells rewrite the student's half of the wire: calls of
     normalise_id are answered with text that is not JSON, harmonise's results are encoded with an unknown tag;
     1.3 is the solution (the control).

The holes this file found first (object columns and time zones on the wire, any course dataclass rebuilt, an
unencodable answer forgiven by `except Exception`, in-place changes of arguments lost) are fixed; their cases are
ordinary tests now.
"""
from __future__ import annotations

import json
import os
import sys
import uuid

import nbformat
import numpy as np
import numpy.testing as npt
import pandas as pd
import pandas.testing as pdt
import pytest

from socialcredit import wire
from socialcredit.wire import WireError

# ============================================================================================ 1. round trips


def _cross(value, sender, receiver):
    """Encode with the sender's Runtime, send as JSON text, decode with the receiver's."""
    text = json.dumps(wire.encode(value, sender), allow_nan=False)  # what the kernels exchange: strict JSON
    return wire.decode(json.loads(text), receiver)


def _directions():
    return [pytest.param(("T", "S"), id="T->S"), pytest.param(("S", "T"), id="S->T")]


def _check_same(got, expected, what):
    """Equal including type and dtypes; the message names what differs."""
    if isinstance(expected, pd.DataFrame):
        assert type(got) is pd.DataFrame, f"{what}: a DataFrame came back as {type(got).__name__}"
        pdt.assert_frame_equal(got, expected, check_exact=True, check_index_type=True, check_column_type=True,
                               obj=what)
    elif isinstance(expected, pd.Series):
        assert type(got) is pd.Series, f"{what}: a Series came back as {type(got).__name__}"
        pdt.assert_series_equal(got, expected, check_exact=True, check_index_type=True, obj=what)
    elif isinstance(expected, pd.Index):
        assert type(got) is type(expected), f"{what}: a {type(expected).__name__} came back as {type(got).__name__}"
        pdt.assert_index_equal(got, expected, exact=True, check_exact=True, obj=what)
    elif isinstance(expected, np.ndarray):
        assert type(got) is np.ndarray, f"{what}: an ndarray came back as {type(got).__name__}"
        assert got.dtype == expected.dtype, f"{what}: dtype {expected.dtype} came back as {got.dtype}"
        assert got.shape == expected.shape, f"{what}: shape {expected.shape} came back as {got.shape}"
        npt.assert_array_equal(got, expected, err_msg=what, strict=True)
    elif isinstance(expected, np.generic):
        assert type(got) is type(expected), f"{what}: {type(expected).__name__} came back as {type(got).__name__}"
        npt.assert_equal(got, expected, err_msg=what)
    elif expected is pd.NA or expected is pd.NaT or expected is None:
        assert got is expected, f"{what}: {expected!r} came back as {got!r}"
    elif isinstance(expected, float) and expected != expected:
        assert type(got) is float and got != got, f"{what}: NaN came back as {got!r}"
    elif isinstance(expected, (list, tuple)):
        assert type(got) is type(expected), f"{what}: {type(expected).__name__} came back as {type(got).__name__}"
        assert len(got) == len(expected), f"{what}: {len(expected)} items came back as {len(got)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            _check_same(g, e, f"{what}[{i}]")
    elif isinstance(expected, dict):
        assert type(got) is dict, f"{what}: dict came back as {type(got).__name__}"
        assert list(got) == list(expected), f"{what}: keys {list(expected)} came back as {list(got)}"
        for k in expected:
            _check_same(got[k], expected[k], f"{what}[{k!r}]")
    else:
        assert type(got) is type(expected), f"{what}: {type(expected).__name__} came back as {type(got).__name__}"
        assert got == expected, f"{what}: {expected!r} came back as {got!r}"
        if isinstance(expected, pd.Timestamp):
            assert str(got.tz) == str(expected.tz), f"{what}: time zone {expected.tz} came back as {got.tz}"


def _range(n):
    return pd.RangeIndex(n)


BUILTINS = {
    "None": None, "True": True, "False": False, "int": 7, "big int": 2 ** 80, "negative int": -3, "float": 1.25,
    "float nan": float("nan"), "float inf": float("inf"), "float -inf": float("-inf"), "str": "Lantern\u00e9\n\x00",
    "empty str": "", "list": [1, "a", None, 2.5], "tuple": (1, ("nested", 2)), "empty tuple": (),
    "dict with non-str keys": {1: "a", (1, 2): [3, 4], None: {"x": (5,)}, "k": {}},
    "set": {1, 2, "a"}, "frozenset": frozenset({(1, 2), "b"}),
    "nested containers": {"rows": [(1, {"a": [None, float("nan")]}), {frozenset({1}): (2, [3])}]},
}

NUMPY = {
    "np.int64": np.int64(5), "np.int8": np.int8(-3), "np.uint16": np.uint16(7), "np.float32": np.float32(1.5),
    "np.float64 nan": np.float64("nan"), "np.float16": np.float16(0.5), "np.bool_": np.bool_(True),
    "np.str_": np.str_("ab"), "np.datetime64[D]": np.datetime64("2020-01-02", "D"),
    "np.timedelta64[s]": np.timedelta64(5, "s"), "np.datetime64 NaT": np.datetime64("NaT", "ns"),
    "int array 2-d": np.arange(6).reshape(2, 3), "int32 array": np.array([1, -2], dtype="int32"),
    "uint8 array": np.array([0, 255], dtype="uint8"), "float array with nan/inf": np.array([1.0, np.nan, np.inf, -np.inf]),
    "float32 array": np.array([0.1, 2.0], dtype="float32"), "bool array": np.array([[True], [False]]),
    "str array": np.array(["a", "bc", ""]), "datetime array with NaT": np.array(["2020-01-01", "NaT"], dtype="M8[ns]"),
    "timedelta array": np.array([1, 2], dtype="m8[s]"), "object array": np.array([1, "a", None, 2.5], dtype=object),
    "empty 2-d array": np.zeros((0, 3)), "0-d array": np.array(3.0),
}

PANDAS = {
    "pd.NA": pd.NA, "pd.NaT": pd.NaT,
    "Timestamp": pd.Timestamp("2020-01-02 03:04:05.123456789"), "Timedelta": pd.Timedelta("1 days 00:00:00.000000001"),
    "Interval": pd.Interval(0, 1, closed="left"),
    "Series int64, int index, name": pd.Series([1, 2, 3], index=[10, 20, 30], name="n"),
    "Series float with NaN": pd.Series([1.0, np.nan, np.inf]),
    "Series bool": pd.Series([True, False]),
    "Series uint8": pd.Series(np.array([1, 2], dtype="uint8")),
    "Series float32": pd.Series(np.array([1, 2], dtype="float32")),
    "Series Int64 with NA": pd.Series([1, None, 3], dtype="Int64"),
    "Series UInt8 with NA": pd.Series([1, None], dtype="UInt8"),
    "Series Float64 with NA": pd.Series([1.5, None], dtype="Float64"),
    "Series boolean with NA": pd.Series([True, None, False], dtype="boolean"),
    "Series string with NA": pd.Series(["a", None, "c"], dtype="string"),
    "Series default str with NaN": pd.Series(["a", None]),
    "Series category ordered with NaN": pd.Series(pd.Categorical(["lo", "hi", "lo", None], categories=["lo", "hi"],
                                                                 ordered=True), name="band"),
    "Series category of ints": pd.Series(pd.Categorical([1, 2, 1])),
    "Series datetime64[ns] with NaT": pd.Series(pd.to_datetime(["2020-01-01", None])).astype("datetime64[ns]"),
    "Series datetime64[us]": pd.Series(pd.to_datetime(["2020-01-01"])).astype("datetime64[us]"),
    "Series datetime64[ns, UTC]": pd.Series(pd.to_datetime(["2020-01-01", None], utc=True)).astype("datetime64[ns, UTC]"),
    "Series timedelta with NaT": pd.Series(pd.to_timedelta([1, None], unit="D")),
    "Series object, mixed values": pd.Series([1, "a", None], dtype=object),
    "Series of lists": pd.Series([[1, 2], [3]]),
    "Series tuple name": pd.Series([1], name=("a", "b")),
    "Series empty float": pd.Series([], dtype=float),
    "Series, IntervalIndex": pd.Series([1, 2], index=pd.IntervalIndex.from_breaks([0, 1, 2])),
    "DataFrame mixed dtypes, named str index": pd.DataFrame(
        {"a": [1, 2], "b": ["x", "y"], "c": pd.array([1, None], dtype="Int64"), "d": [0.5, np.nan],
         "e": pd.Categorical(["u", "v"], categories=["v", "u"], ordered=True)},
        index=pd.Index(["r1", "r2"], name="rid")),
    "DataFrame MultiIndex rows": pd.DataFrame({"v": [1, 2]}, index=pd.MultiIndex.from_tuples([("a", 1), ("b", 2)],
                                                                                           names=["k", "n"])),
    "DataFrame MultiIndex columns": pd.DataFrame([[1, 2.0]], columns=pd.MultiIndex.from_tuples([("a", "x"), ("a", "y")])),
    "DataFrame duplicate column names": pd.DataFrame([[1, 2]], columns=["a", "a"]),
    "DataFrame empty": pd.DataFrame(),
    "Index str, named": pd.Index(["a", "b"], name="x"),
    "Index object": pd.Index(["a", 1], dtype=object),
    "Index string dtype": pd.Index(["a", None], dtype="string"),
    "Index Int64": pd.Index([1, None], dtype="Int64"),
    "RangeIndex with step and name": pd.RangeIndex(0, 10, 2, name="r"),
    "MultiIndex, one unnamed level": pd.MultiIndex.from_arrays([["a", "b"], [1, 2]], names=["k", None]),
    "MultiIndex with a missing value": pd.MultiIndex.from_arrays([["a", None], [1, 2]]),
    "CategoricalIndex ordered": pd.CategoricalIndex(["a", "b"], categories=["b", "a"], ordered=True),
    "DatetimeIndex named": pd.DatetimeIndex(["2020-01-01", "2021-01-01"], name="d"),
}

#: values that did not cross intact before the tv-tests review's fixes (object columns, time zones): plain cases now
GAP_VALUES = {
    "Series object, str values and None": pd.Series(["a", None, "c"], dtype=object),
    "DataFrame object column of str": pd.DataFrame({"a": pd.Series(["x", None], dtype=object)}),
    "Series datetime64[us, UTC]": pd.Series(pd.to_datetime(["2020-01-01"], utc=True)).astype("datetime64[us, UTC]"),
    "Timestamp with a named time zone": pd.Timestamp("2020-01-02", tz="Europe/Paris"),
}


def _values():
    out = []
    for group, table in (("builtins", BUILTINS), ("numpy", NUMPY), ("pandas", PANDAS)):
        for name, value in table.items():
            out.append(pytest.param(name, value, id=f"{group}: {name}"))
    for name, value in GAP_VALUES.items():
        out.append(pytest.param(name, value, id=f"pandas: {name}"))
    return out


@pytest.mark.parametrize("direction", _directions())
@pytest.mark.parametrize("name,value", _values())
def test_wire_round_trip(name, value, direction):
    sender, receiver = (wire.Runtime(role) for role in direction)
    try:
        got = _cross(value, sender, receiver)
    except (TypeError, ValueError, WireError) as exc:
        pytest.fail(f"{name} cannot cross {direction[0]} -> {direction[1]}: {type(exc).__name__}: {exc}")
    _check_same(got, value, f"{name} after crossing {direction[0]} -> {direction[1]}")


def test_wire_round_trip_course_dataclass():
    """The course's frozen WorldParams crosses as its fields and is rebuilt by its own constructor."""
    from socialcredit.world import WorldParams
    p = WorldParams(migrant_share=0.4)
    got = _cross(p, wire.Runtime("S"), wire.Runtime("T"))
    assert type(got) is WorldParams and got == p, f"WorldParams came back as {got!r}"


def test_wire_functions_cross_as_references_only():
    """A function of S reaches T as a RemoteFunction, another object as a RemoteObject handle: never as code."""
    s, t = wire.Runtime("S"), wire.Runtime("T")

    def answer(x):
        return x

    class Thing:
        pass

    fn = _cross(answer, s, t)
    obj = _cross(Thing(), s, t)
    assert type(fn) is wire.RemoteFunction, f"a student's function reached T as {type(fn).__name__}"
    assert type(obj) is wire.RemoteObject, f"a student's object reached T as {type(obj).__name__}"
    assert s.exports[fn._tv_id] is answer, "the reference does not point at the exported function in S's table"
    # and back: T handing S's own object back to S resolves in S's table, not by anything T could forge
    assert _cross(fn, t, s) is answer, "a RemoteFunction sent back to S does not resolve to S's own function"


def test_wire_subclasses_of_builtins_cross_as_plain_values():
    """A str/int subclass with its own __eq__ (c3_always_equal_results) reaches T as a plain str/int."""
    class Liar(str):
        def __eq__(self, other):
            return True
        __hash__ = str.__hash__

    class LiarInt(int):
        def __eq__(self, other):
            return True
        __hash__ = int.__hash__

    got = _cross([Liar("x"), LiarInt(3)], wire.Runtime("S"), wire.Runtime("T"))
    assert [type(v) for v in got] == [str, int], f"subclasses of builtins reached T as {[type(v) for v in got]}"
    assert got[0] != "y" and got[1] != 4, "the student's __eq__ reached T"


# ============================================================================================ 2. refusals

_RANGE1 = {"$": "range", "start": 0, "stop": 1, "step": 1, "name": None}


def _series(col):
    return {"$": "series", "name": None, "index": _RANGE1, "c": col}


REFUSED = {
    "unknown tag": {"$": "pickle", "v": "gASVAAAAAAAAAAB9lC4="},
    "no tag": {"a": 1},
    "a dict nested in a list, untagged": [1, {"eval": "__import__('os')"}],
    "dataclass from the standard library": {"$": "dataclass", "module": "dataclasses", "name": "Field", "fields": {}},
    "dataclass from a look-alike package": {"$": "dataclass", "module": "socialcreditx.evil", "name": "X", "fields": {}},
    "dataclass name with a dot": {"$": "dataclass", "module": "socialcredit.world", "name": "os.system", "fields": {}},
    "course class that is not a dataclass": {"$": "dataclass", "module": "socialcredit.wire", "name": "Runtime",
                                             "fields": {"role": "T"}},
    "dtype object ('O')": {"$": "ndarray", "shape": [1], "c": {"dtype": "O", "v": [1]}},
    "dtype object ('object')": {"$": "ndarray", "shape": [1], "c": {"dtype": "object", "v": [1]}},
    "dtype structured": {"$": "ndarray", "shape": [1], "c": {"dtype": "i4,f8", "v": [[1, 2.0]]}},
    "dtype void": {"$": "ndarray", "shape": [1], "c": {"dtype": "V8", "v": ["aaaaaaaa"]}},
    "dtype bytes": {"$": "ndarray", "shape": [1], "c": {"dtype": "|S3", "v": ["abc"]}},
    "dtype complex": {"$": "ndarray", "shape": [1], "c": {"dtype": "c16", "v": [1]}},
    "dtype not a dtype": {"$": "ndarray", "shape": [1], "c": {"dtype": "foo", "v": [1]}},
    "dtype not a string": {"$": "ndarray", "shape": [1], "c": {"dtype": ["<i8"], "v": [1]}},
    "dtype pandas Sparse": _series({"dtype": "Sparse[int64]", "v": [1]}),
    "dtype pandas period": _series({"dtype": "period[M]", "v": [1]}),
    "text in an integer column": {"$": "ndarray", "shape": [1], "c": {"dtype": "<i8", "v": ["1"]}},
    "text in a float column": {"$": "ndarray", "shape": [1], "c": {"dtype": "<f8", "v": ["1.0"]}},
    "a number in a text column": {"$": "ndarray", "shape": [1], "c": {"dtype": "<U1", "v": [1]}},
    "float that is not nan/inf": {"$": "float", "v": "1e999"},
    "interval closed sideways": {"$": "interval", "l": 0, "r": 1, "closed": "sideways"},
    "table with more columns than data": {"$": "frame", "columns": {**_RANGE1, "stop": 2}, "index": _RANGE1,
                                          "cols": [{"dtype": "<i8", "v": [1]}]},
    "reference to an unknown id (back)": {"$": "back", "id": 999},
    "reference to an unknown Axes": {"$": "axes", "id": 999},
}
#: refusals that S must make too (T's references mean nothing to S)
REFUSED_BY_S = {
    "unknown tag": REFUSED["unknown tag"],
    "an object reference sent to S": {"$": "obj", "id": 1, "type": "Liar"},
    "reference to an unknown id (back)": REFUSED["reference to an unknown id (back)"],
}
#: malformed in other ways: decode itself may raise KeyError/ValueError/TypeError; T's call turns those into WireError
MALFORMED = {
    "time-zone dtype that is not a time zone": _series({"dtype": "datetime64[ns, Not/AZone]", "v": [None]}),
    "array whose shape does not fit its values": {"$": "ndarray", "shape": [5], "c": {"dtype": "<i8", "v": [1]}},
    "tagged value missing its fields": {"$": "tuple"},
    "timestamp that is not a date": {"$": "ts", "v": "not a date"},
    "dict with an unhashable key": {"$": "dict", "k": [[1]], "v": [1]},
}
#: answers T accepted before the tv-tests review's fixes (an allowlist of frozen course dataclasses now)
REFUSED_DATACLASSES = {
    "dataclass of a course module that does not exist": (
        {"$": "dataclass", "module": "socialcredit.no_such_module", "name": "X", "fields": {}},
        "wire.decode imports any module named socialcredit.* that the student's side names "
        "(importlib.import_module): ModuleNotFoundError, which is neither WireError nor recorded (a test's "
        "`except Exception` forgives it), and any course module can be imported in T"),
    "course dataclass that is not a frozen value type (sandbox.Limits)": (
        {"$": "dataclass", "module": "socialcredit.sandbox", "name": "Limits", "fields": {"memory_mb": 1}},
        "wire.decode rebuilds ANY dataclass of the course package, not only frozen value types like WorldParams: "
        "socialcredit.sandbox.Sandbox's __post_init__ makes a temporary folder and (as root) cgroups in T"),
}
REFUSED.update({name: msg for name, (msg, _why) in REFUSED_DATACLASSES.items()})


@pytest.mark.parametrize("name", list(REFUSED))
def test_trusted_side_refuses(name):
    t = wire.Runtime("T")
    with pytest.raises(WireError):
        got = wire.decode(json.loads(json.dumps(REFUSED[name])), t)
        pytest.fail(f"T's decoder accepted {name}: built {type(got).__name__} {got!r:.100}")


@pytest.mark.parametrize("name", list(REFUSED_BY_S))
def test_student_side_refuses(name):
    s = wire.Runtime("S")
    with pytest.raises(WireError):
        got = wire.decode(json.loads(json.dumps(REFUSED_BY_S[name])), s)
        pytest.fail(f"S's decoder accepted {name}: built {type(got).__name__}")


def test_wire_error_is_not_an_exception():
    """A test's `except Exception` must not swallow a transport failure."""
    assert issubclass(WireError, BaseException) and not issubclass(WireError, Exception), \
        "WireError is an Exception: a test cell's `except Exception` would swallow a wire failure"


def _packed(msg, label=None):
    """A packed wire message (wire.pack compresses only large ones; these are packed whatever their size)."""
    import base64
    import zlib
    return json.dumps({"op": label or msg["op"],
                       "z": base64.b64encode(zlib.compress(json.dumps(msg).encode(), 9)).decode("ascii")})


def _answers():
    out = [pytest.param(json.dumps({"op": "ok", "v": v}), id=f"answer holds {k}") for k, v in {**REFUSED, **MALFORMED}.items()]
    out += [pytest.param(_packed({"op": "ok", "v": v}), id=f"packed answer holds {k}")
            for k, v in list(REFUSED.items())[:3]]
    out += [pytest.param(_packed({"op": "ok", "v": " " * (65 * 2 ** 20)}), id="packed answer inflates past 64 MB"),
            pytest.param(_packed({"op": "call", "id": 1}, label="ok"), id="packed answer's op differs from its label"),
            pytest.param(json.dumps({"op": "ok", "z": "not base64!"}), id="packed answer is not base64"),
            pytest.param(json.dumps({"op": "ok", "z": "aGVsbG8="}), id="packed answer is not zlib"),
            pytest.param(_packed({"op": "ok", "v": 1})[:-1] + ', "v": 2}', id="packed answer with other fields"),
            pytest.param("all tests passed {", id="answer is not JSON"),
            pytest.param(json.dumps([1, 2]), id="answer is not a message"),
            pytest.param(json.dumps({"op": "trust-me", "v": 1}), id="answer has an unknown op"),
            pytest.param(json.dumps({"op": "fail", "why": "x"}), id="answer is a failure")]
    return out


@pytest.mark.parametrize("answer", _answers())
def test_trusted_call_fails_on_a_bad_answer(answer, monkeypatch):
    """A call of the student's function whose answer T cannot use raises WireError (not catchable by a test's
    `except Exception`) and is recorded in T's failures (the grader fails the cell on that record, even when the
    test caught BaseException)."""
    import builtins
    t = wire.Runtime("T")
    monkeypatch.setattr(builtins, "input", lambda prompt="": answer)
    try:
        got = wire.RemoteFunction(t, 1)("LP000001")
    except WireError:
        pass
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"the bad answer reached the test as {type(exc).__name__} ({exc}), not WireError: a test's "
                    "`except Exception` would forgive it")
    else:
        pytest.fail(f"T accepted the answer and built {type(got).__name__} {got!r:.100}")
    assert t.failures, "the wire failure was not recorded in T's failures: a test catching BaseException would pass"


# ============================================================================================ 3. end to end

LESSON = "01-dossier"
LAST_CELL = "ex1_3_drop_duplicates_tests"  # the trimmed lesson ends here

LENIENT = '''"""{fn}, leniently: a sloppy test that forgives any error (the trusted path must still fail on the wire)."""
try:
    _lenient = list({call})
    assert _lenient == {expected!r}, _lenient
except {caught} as _exc:
    print("this lenient test forgave", type(_exc).__name__)
'''
LENIENT_CELLS = {
    "ex1_1_normalise_ids_tests": [
        ("ex1_1_lenient", "normalise_id", "[str(v) for v in normalise_id(pd.Series(['LP000001', 7]))]",
         ["LP-000001", "LP-000007"])],
    "ex1_2_harmonise_tests": [
        ("ex1_2_lenient", "harmonise", "harmonise(pd.Series([' Local', 'NON-LOCAL']), {'non-local': 'migrant'})",
         ["local", "migrant"])],
}

FORGED = '''# a cell the student added, with nbgrader metadata of its own: "locked" like the instructor's setup, which
# runs in T too; if it ran in T it would give T a correct normalise_id of the student's making
import socialcredit.wire as _tv_wire
if "T" in _tv_wire._RUNTIME:
    def normalise_id(raw):
        return "LP-" + raw.astype(str).str.extract(r"(\\d+)", expand=False).str.zfill(6)
print("FORGED CELL RAN IN", "T" if "T" in _tv_wire._RUNTIME else "S")
'''
FORGED_META = {
    "forged_setup": {"grade": False, "grade_id": "setup_more", "locked": True, "solution": False, "schema_version": 3},
    "forged_test": {"grade": True, "grade_id": "forged_full_marks", "locked": True, "points": 10, "solution": False,
                    "schema_version": 3},
}
WRONG_1_1 = '''def normalise_id(raw):
    return raw   # wrong: the ids are returned unchanged
'''
UNENCODABLE_1_2 = '''def harmonise(values, synonyms):
    # a value the wire cannot encode: a Series of periods
    return pd.Series(pd.period_range("2020-01", periods=len(values), freq="M"), index=values.index)
'''
MUTATING_1_3 = '''def drop_exact_duplicates(table):
    table.drop_duplicates(inplace=True)   # changes the caller's table
    return table.reset_index(drop=True)
'''
NON_JSON_1_1 = '''def normalise_id(raw):
    digits = raw.astype(str).str.extract(r"(\\d+)", expand=False)
    return "LP-" + digits.str.zfill(6)

# rewrite the student's half of the wire: calls of normalise_id are answered with text that is not JSON
import builtins as _b
import json as _json
import socialcredit.wire as _w
def _lying_loop():
    rt = _w.runtime("S")
    rt.user_ns = get_ipython().user_ns
    text = _b.input(_w.PREFIX + _json.dumps({"op": "ready"}))
    while True:
        req = _w.unpack(text)  # (a large request comes packed: wire.pack)
        if req.get("op") == "done":
            return
        if req.get("op") == "call" and rt.exports.get(req.get("id")) is normalise_id:
            text = _b.input(_w.PREFIX + "all tests passed {")
        else:
            text = _b.input(_w.PREFIX + _w.pack(_w._serve_one(req, rt)))
_w.serve_loop = _lying_loop
'''
UNKNOWN_TAG_1_2 = '''def harmonise(values, synonyms):
    result = values.str.strip().str.lower().replace(synonyms)
    result.attrs["tv_attack"] = True
    return result

# rewrite the student's half of the wire: harmonise's results go out with a tag T does not know
import socialcredit.wire as _w2
_encode = _w2.encode
def _lying_encode(x, rt):
    if isinstance(x, pd.Series) and x.attrs.get("tv_attack"):
        return {"$": "trust-me", "v": "equal to what you expect"}
    return _encode(x, rt)
_w2.encode = _lying_encode
'''


def _code_cell(source, meta=None, cell_id=None):
    cell = nbformat.v4.new_code_cell(source)
    cell["id"] = cell_id or uuid.uuid4().hex[:8]
    if meta:
        cell.metadata["nbgrader"] = meta
    return cell


def _trim_and_add_lenient_tests(course):
    """The course's source notebook: Lesson 1 up to Exercise 1.3's tests, with lenient test cells added."""
    from harness import nb_meta, notebook_path
    path = notebook_path(course.root / "solutions", course.lesson)
    nb = nbformat.read(path, as_version=4)
    cells = []
    for c in nb.cells:
        cells.append(c)
        gid = nb_meta(c).get("grade_id")
        for lid, fn, call, expected in LENIENT_CELLS.get(gid, []):
            for caught, suffix in (("Exception", ""), ("BaseException", "_base")):
                meta = {"grade": True, "grade_id": lid + suffix, "locked": True, "points": 1, "solution": False,
                        "schema_version": 3}
                cells.append(_code_cell(LENIENT.format(fn=fn, call=call, expected=expected, caught=caught), meta,
                                        cell_id=(lid + suffix).replace("_", "-")))
        if gid == LAST_CELL:
            break
    nb.cells = cells
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """(course, {student: scores}) after one `nbgrader autograde` of the two submissions, through the trusted path."""
    pytest.importorskip("nbgrader")
    if sys.platform != "linux":
        pytest.skip("grading runs in a bubblewrap sandbox (Linux)")
    # nbgrader runs in the course folder: a relative PYTHONPATH (PYTHONPATH=src) would not find this checkout there
    with pytest.MonkeyPatch.context() as mp:
        if os.environ.get("PYTHONPATH"):
            mp.setenv("PYTHONPATH", os.pathsep.join(os.path.abspath(p) for p in
                                                    os.environ["PYTHONPATH"].split(os.pathsep) if p))
        yield _grade_e2e(tmp_path_factory)


def _grade_e2e(tmp_path_factory):
    from harness import REPO, Course
    cfg = (REPO / "nbgrader_config.py").read_text()
    assert "TrustedVerdictExecute" in cfg, "nbgrader_config.py does not install TrustedVerdictExecute"
    course = Course.make(tmp_path_factory.mktemp("verdicts"), LESSON)
    _trim_and_add_lenient_tests(course)
    course.release()

    forger = course.solved(replace=[("ex1_1_normalise_ids", WRONG_1_1), ("ex1_2_harmonise", UNENCODABLE_1_2),
                                    ("ex1_3_drop_duplicates", MUTATING_1_3)])
    course.submit("forger", forger)
    course.submit("liar", course.solved(replace=[("ex1_1_normalise_ids", NON_JSON_1_1),
                                                 ("ex1_2_harmonise", UNKNOWN_TAG_1_2)]))
    course.autograde()
    scores = {s: course.scores(s) for s in ("forger", "liar")}
    # the forged-metadata submissions, graded one by one after the others (nbgrader may refuse them: see below)
    forged = {}
    for student, meta in FORGED_META.items():
        nb = course.solved(replace=("ex1_1_normalise_ids", WRONG_1_1))
        at = next(i for i, c in enumerate(nb.cells) if c.get("metadata", {}).get("nbgrader", {}).get("grade_id")
                  == "ex1_1_normalise_ids")
        nb.cells.insert(at + 1, _code_cell(FORGED, dict(meta)))
        course.submit(student, nb)
        from harness import GENEROUS, run_nbgrader
        r = run_nbgrader(["autograde", LESSON, "--student", student, "--force", *GENEROUS], course.root)
        forged[student] = r
    return course, scores, forged


def _cell(course, student, grade_id):
    from harness import nb_meta
    nb = course.autograded(student)
    found = [c for c in nb.cells if nb_meta(c).get("grade_id") == grade_id]
    assert found, f"{student}: no cell {grade_id} in the autograded notebook"
    return found[0]


def _errors(cell):
    return [(o.get("ename"), str(o.get("evalue"))) for o in cell.get("outputs", []) if o.get("output_type") == "error"]


def _text(cell):
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


def _score(scores, student, grade_id):
    assert grade_id in scores[student], f"{student}: the gradebook has no grade {grade_id} ({sorted(scores[student])})"
    return scores[student][grade_id]


@pytest.mark.slow
def test_e2e_honest_answers_keep_full_marks(graded):
    """The liar's honest Exercise 1.3 keeps its point through the trusted path (else the failures below prove
    nothing); the forger's in-place mutation is the other control, in test_e2e_in_place_mutation_is_caught."""
    course, scores, _ = graded
    got, full = _score(scores, "liar", "ex1_3_drop_duplicates_tests")
    assert got == full, (f"liar: the solution of Exercise 1.3 scores {got}/{full} through the trusted path; "
                         f"errors: {_errors(_cell(course, 'liar', 'ex1_3_drop_duplicates_tests'))}")


def test_forged_metadata_cells_are_student_cells():
    """cell_kind: a cell whose grade_id the gradebook does not list is the student's, whatever its metadata says."""
    from socialcredit.verdicts import cell_kind
    known = {"setup", "ex1_1_normalise_ids_tests"}
    fake_test = {"cell_type": "code", "metadata": {"nbgrader": {"grade": True, "solution": False, "locked": True,
                                                                 "points": 10, "grade_id": "forged_full_marks"}}}
    fake_setup = {"cell_type": "code", "metadata": {"nbgrader": {"grade": False, "solution": False, "locked": True,
                                                                  "grade_id": "setup_more"}}}
    no_id = {"cell_type": "code", "metadata": {"nbgrader": {"grade": True, "solution": False, "locked": True}}}
    for name, cell in (("a fake test cell", fake_test), ("a fake locked setup cell", fake_setup),
                       ("a grade cell whose grade_id nbgrader removed", no_id)):
        assert cell_kind(cell, known) == "student", f"{name} would run in T: {cell_kind(cell, known)}"
    real = {"cell_type": "code", "metadata": {"nbgrader": {"grade": True, "solution": False, "locked": True,
                                                            "points": 2, "grade_id": "ex1_1_normalise_ids_tests"}}}
    assert cell_kind(real, known) == "test", "the instructor's test cell would not run in T"


@pytest.mark.slow
@pytest.mark.parametrize("student", list(FORGED_META))
def test_e2e_forged_metadata_cell_does_not_run_in_trusted_kernel(graded, student):
    """A cell the student added with nbgrader metadata of its own (a 10-point "test", or "locked" like the setup that
    also runs in T) never runs in T and earns nothing: its T-only redefinition of normalise_id must not rescue the
    wrong answer of Exercise 1.1. Today nbgrader refuses such a notebook before any kernel starts (with the course's
    `add_missing_cells = True`, OverwriteCells drops the unknown grade_id, then add_missing_task_cells fails with
    KeyError 'grade_id'): the submission is not graded at all. If nbgrader grades it one day, the trusted path's
    own check (cell_kind with the gradebook's ids) is what keeps the cell in S."""
    course, _, forged = graded
    r = forged[student]
    path = course.root / "autograded" / student / LESSON / f"{LESSON}.ipynb"
    if r.returncode != 0 or not path.is_file():
        log = r.stdout + r.stderr
        assert "FORGED CELL RAN IN T" not in log, f"{student}: the forged cell ran in the trusted kernel"
        assert "KeyError: 'grade_id'" in log or "does not exist in the database" in log, (
            f"{student}: nbgrader refused the submission for another reason:\n{log[-3000:]}")
        return
    scores = course.scores(student)
    nb = course.autograded(student)
    ran = "".join(_text(c) for c in nb.cells if c.cell_type == "code")
    assert "FORGED CELL RAN IN T" not in ran, f"{student}: the student's forged cell ran in the trusted kernel"
    got, full = scores["ex1_1_normalise_ids_tests"]
    assert got == 0, f"{student}: a wrong normalise_id scores {got}/{full}: the forged cell's definition reached T"
    assert not (scores.get("forged_full_marks") or (0, 0))[0], f"{student}: the forged test cell earned points"


@pytest.mark.slow
@pytest.mark.parametrize("gid,cause", [
    ("ex1_1_normalise_ids_tests", "not JSON"), ("ex1_1_lenient", "not JSON"), ("ex1_1_lenient_base", "not JSON"),
    ("ex1_2_harmonise_tests", "unknown tag"), ("ex1_2_lenient", "unknown tag"), ("ex1_2_lenient_base", "unknown tag")])
def test_e2e_wire_failure_fails_the_test_cell(graded, gid, cause):
    """The student's side answers with non-JSON (1.1) or an unknown tag (1.2): the test cell fails and says why,
    even when it catches Exception or BaseException around the call. A WireError the cell does not catch is the
    cell's own error output (ipykernel evaluates the user_expressions that carry T's failure record only after a
    successful execution); a WireError the cell catches is reported by the grader as a TrustedVerdictError."""
    course, scores, _ = graded
    got, full = _score(scores, "liar", gid)
    errors = _errors(_cell(course, "liar", gid))
    assert got == 0, f"liar: {gid} scores {got}/{full} although the student's side sent {cause}; errors {errors}"
    named = [e for e in errors if e[0] in ("TrustedVerdictError", "WireError") and cause in e[1]]
    assert named, f"liar: {gid} failed, but no TrustedVerdictError or WireError names {cause!r} (errors {errors})"
    if gid.endswith("_base"):  # the cell swallowed the WireError: only the grader's record can fail it
        assert any(e[0] == "TrustedVerdictError" for e in named), \
            f"liar: {gid} caught the WireError, and the grader added no TrustedVerdictError (errors {errors})"


@pytest.mark.slow
def test_e2e_unencodable_answer_fails_strict_cell(graded):
    """harmonise returns a Series of periods (the wire cannot encode it): Exercise 1.2's tests fail."""
    course, scores, _ = graded
    got, full = _score(scores, "forger", "ex1_2_harmonise_tests")
    assert got == 0, f"forger: an unencodable answer scores {got}/{full} on ex1_2_harmonise_tests"


@pytest.mark.slow
@pytest.mark.parametrize("gid", ["ex1_2_lenient", "ex1_2_lenient_base"])
def test_e2e_unencodable_answer_fails_lenient_cell(graded, gid):
    """... and the lenient cells too, with TrustedVerdictError (an encoding failure is the wire's, not the
    student's exception)."""
    course, scores, _ = graded
    got, full = _score(scores, "forger", gid)
    errors = _errors(_cell(course, "forger", gid))
    wire_errors = [e for e in errors if e[0] in ("TrustedVerdictError", "WireError")]
    if gid.endswith("_base"):  # the cell swallows even a WireError: only the grader's record can fail it
        wire_errors = [e for e in wire_errors if e[0] == "TrustedVerdictError"]
    assert got == 0 and wire_errors, (
        f"forger: harmonise returns a Series of periods (the wire cannot encode it), yet the lenient test {gid} "
        f"scores {got}/{full} with errors {errors}")


@pytest.mark.slow
def test_e2e_in_place_mutation_is_caught(graded):
    """drop_exact_duplicates mutates the test's table in place and returns a correct table: in one kernel the hidden
    check that the input is unchanged (`_raw.equals(_before)`) takes the point; through the trusted path the change
    is mirrored onto T's table, so the same check fails, as an assertion of the test (not a wire failure)."""
    course, scores, _ = graded
    got, full = _score(scores, "forger", "ex1_3_drop_duplicates_tests")
    errors = _errors(_cell(course, "forger", "ex1_3_drop_duplicates_tests"))
    assert got < full, (f"forger: drop_exact_duplicates(table) with drop_duplicates(inplace=True) scores {got}/{full}: "
                        "the mutation of the test's table happened in S's copy only")
    assert any(e[0] == "AssertionError" for e in errors) and not any(
        e[0] in ("TrustedVerdictError", "WireError") for e in errors), (
        f"forger: Exercise 1.3 should fail on the test's own check that the input is unchanged, got {errors}")


def _bare_executor(monkeypatch, nb=None, source=None):
    """A TrustedVerdictExecute whose kernels are stubs: (executor, the code it sends T, in order). S's cells and
    T's test cells do nothing; what the grader would bind or run in T is recorded."""
    from socialcredit import verdicts
    ex = verdicts.TrustedVerdictExecute()
    ex._writer, ex._pinned, ex._answers, ex._s_bound = {}, set(), set(), False
    ex._trusted_ids = None
    ex._no_answer, ex._no_answer_line = [], None
    ex._t_broken, ex._events = None, []
    ex._read_source(nb or nbformat.v4.new_notebook(), source)
    sent = []

    async def nothing(*args, **kwargs):
        return None

    async def run_t(code, **kwargs):
        sent.append(code)
        return {"content": {"status": "ok"}}, [], []

    monkeypatch.setattr(ex, "_run_test_cell", nothing)
    monkeypatch.setattr(ex, "_run_t", run_t)
    monkeypatch.setattr(ex, "_start_trusted", nothing)
    monkeypatch.setattr(verdicts.SandboxedExecute, "async_execute_cell",
                        lambda self, cell, *args, **kwargs: nothing(), raising=False)
    return ex, sent


def _bound(code):
    """(forced, maybe): the names a _bind_for run fetches from the student's kernel."""
    import ast
    lines = code.splitlines()
    forced = ast.literal_eval(ast.unparse(ast.parse(lines[1]).body[0].value.args[0]))
    maybe = ast.literal_eval(ast.unparse(ast.parse(lines[3]).body[0].value.args[0].generators[0].iter))
    return forced, maybe


def _walk(ex, cells, then):
    import asyncio

    async def walk():
        for i, c in enumerate(cells):
            await ex.async_execute_cell(c, i)
        await ex._bind_for(then, deadline=1e18)

    asyncio.run(walk())


def test_names_a_test_cell_defines_stay_the_instructors(monkeypatch):
    """A helper a test cell defines is T's: a later answer cell that rebinds the name (in S) must not have it
    fetched from S for the test cells after it (class 3: redefining what tests rely on)."""
    ex, sent = _bare_executor(monkeypatch)
    test = _code_cell("def _expect(t):\n    assert len(t) == 3\n_expect(make_table())",
                      {"grade": True, "solution": False, "locked": True, "grade_id": "t1", "points": 1})
    answer = _code_cell("def make_table():\n    return [1, 2, 3]\n_expect = lambda t: None",
                        {"grade": False, "solution": True, "locked": False, "grade_id": "a2"})
    _walk(ex, [test, answer], "_expect(make_table())")
    forced, maybe = _bound(sent[-1])
    assert "make_table" in forced, f"the student's function should be fetched from S: {sent[-1]}"
    assert "_expect" not in forced + maybe, (
        f"the test cell's own helper would be fetched from the student's kernel: {sent[-1]}")


def _with_provided():
    """setup; a1 (answer: make); p1 (provided, the tests read `decisions`); a2 (answer); t2 (test)."""
    setup = _code_cell("import numpy as np", {"locked": True, "grade": False, "solution": False, "grade_id": "setup"},
                       cell_id="setup")
    a1 = _code_cell("def make():\n    return {'a': 1}", {"solution": True, "grade": False, "locked": False,
                                                         "grade_id": "a1"}, cell_id="a1")
    p1 = _code_cell("decisions = make()", None, cell_id="p1")
    a2 = _code_cell("def count(d):\n    return len(d)", {"solution": True, "grade": False, "locked": False,
                                                          "grade_id": "a2"}, cell_id="a2")
    t2 = _code_cell("if '_CACHE' not in globals():\n    _CACHE = np.arange(3)\nassert count(decisions) == len(_CACHE) - 2",
                    {"grade": True, "solution": False, "locked": True, "grade_id": "t2", "points": 1}, cell_id="t2")
    return nbformat.v4.new_notebook(cells=[setup, a1, p1, a2, t2])


def test_names_a_provided_cell_defines_stay_the_instructors_after_a_later_answer_rebinds_them(monkeypatch):
    """Red team round 3 (n2, Lesson 6, 3 points with nothing named): an answer cell after a provided cell rebinds
    the provided name (`decisions = {}`, `runs = runs.iloc[:0]`) so the hidden tests loop over nothing. T runs the
    instructor's provided cell and keeps its names; the rebinding is named."""
    source = _with_provided()
    student = nbformat.from_dict(json.loads(json.dumps(source)))
    student.cells[3].source += "\ndecisions = {}"
    ex, sent = _bare_executor(monkeypatch, student, source)
    _walk(ex, student.cells[:4], source.cells[4].source)
    assert "decisions = make()" in sent, f"T should run the instructor's provided cell: {sent}"
    forced, maybe = _bound(sent[-1])
    assert "decisions" not in forced + maybe, f"the student's `decisions` would be fetched into T: {sent[-1]}"
    assert "count" in forced, sent[-1]
    assert any("decisions in a2" in e and "instructor's values" in e for e in ex._events), ex._events


def test_a_deleted_provided_cell_is_run_from_the_instructors_version(monkeypatch):
    """The other route to the same end: delete the provided cell and define the name in an answer cell."""
    source = _with_provided()
    student = nbformat.from_dict(json.loads(json.dumps(source)))
    del student.cells[2]
    student.cells[2].source += "\ndecisions = {}"
    ex, sent = _bare_executor(monkeypatch, student, source)
    _walk(ex, student.cells[:3], source.cells[4].source)
    assert "decisions = make()" in sent, f"T should run the instructor's version of the deleted cell: {sent}"
    forced, maybe = _bound(sent[-1])
    assert "decisions" not in forced + maybe, f"the student's `decisions` would be fetched into T: {sent[-1]}"
    assert any("provided cell that defines decisions was missing" in e for e in ex._events), ex._events


def test_a_name_a_test_cell_caches_in_globals_is_never_the_students(monkeypatch):
    """Red team round 3 (n3, Lesson 4, 2 points with nothing named): a test cell caches data under a name
    (`if "_L4_DATA" not in globals(): _L4_DATA = ...`); a student who sets that name first gave the hidden tests
    tiny tables. Names any test cell stores are T's from the start."""
    source = _with_provided()
    student = nbformat.from_dict(json.loads(json.dumps(source)))
    student.cells[1].source += "\n_CACHE = [0]"
    ex, sent = _bare_executor(monkeypatch, student, source)
    _walk(ex, student.cells[:4], source.cells[4].source)
    forced, maybe = _bound(sent[-1])
    assert "_CACHE" not in forced + maybe, f"the test's cache would be fetched from the student's kernel: {sent[-1]}"


def test_honest_cells_name_nothing(monkeypatch):
    """The solution's path: provided cell run once in T, nothing named (a re-import of the setup's modules in an
    answer cell is not a rebinding worth naming)."""
    source = _with_provided()
    student = nbformat.from_dict(json.loads(json.dumps(source)))
    student.cells[3].source += "\nimport numpy as np"
    ex, sent = _bare_executor(monkeypatch, student, source)
    _walk(ex, student.cells[:4], source.cells[4].source)
    assert sent.count("decisions = make()") == 1, sent
    assert not ex._events, ex._events


def test_the_relay_does_not_parse_what_the_students_side_sends():
    """Red team round 3 (n4): an answer nested 200 000 deep made the grader's own json.loads raise RecursionError,
    which crashed the submission with nbgrader's generic error and no cause. The grader now reads only the op;
    the trusted kernel parses, and a message it cannot parse is a wire failure."""
    from socialcredit.verdicts import TrustedVerdictExecute, _op
    deep = '{"op": "ok", "v": ' + "[" * 200_000 + "]" * 200_000 + "}"
    assert _op(deep) == "ok"
    assert _op("[" * 200_000) is None and _op(None) is None and _op('{"v": 1, "op": "ok"}') is None
    ex = TrustedVerdictExecute()
    assert ex._checked(deep) == deep
    assert json.loads(ex._checked("[" * 200_000))["op"] == "fail"
    t = wire.Runtime("T")
    import builtins
    real = builtins.input
    builtins.input = lambda prompt="": deep
    try:
        with pytest.raises(WireError, match="nested too deep"):
            t.send({"op": "get", "names": ["x"]})
    finally:
        builtins.input = real


def _lesson_like():
    setup = _code_cell("import numpy as np", {"locked": True, "grade": False, "solution": False, "grade_id": "setup"})
    a1 = _code_cell("def f():\n    return 1", {"solution": True, "grade": False, "locked": False, "grade_id": "a1"})
    t1 = _code_cell("assert f() == 1", {"grade": True, "solution": False, "locked": True, "grade_id": "t1",
                                        "points": 1})
    a2 = _code_cell("def g():\n    return 2", {"solution": True, "grade": False, "locked": False, "grade_id": "a2"})
    t2 = _code_cell("assert g() == 2", {"grade": True, "solution": False, "locked": True, "grade_id": "t2",
                                        "points": 1})
    return nbformat.v4.new_notebook(cells=[setup, a1, t1, a2, t2])


def test_instructor_cells_are_graded_in_the_lessons_order():
    """A submission that moves a test cell (or the setup) is graded in the lesson's order, and detail says so; a
    deleted setup cell is put back (nbgrader restores only graded cells)."""
    from socialcredit.verdicts import TrustedVerdictExecute
    source = _lesson_like()
    ex = TrustedVerdictExecute()
    ex._trusted_ids = None
    ids = lambda nb: [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]  # noqa: E731

    same = nbformat.from_dict(json.loads(json.dumps(source)))
    assert ex._in_lesson_order(same, source) is None and ids(same) == ids(source)

    moved = nbformat.from_dict(json.loads(json.dumps(source)))
    moved.cells = [moved.cells[i] for i in (1, 3, 4, 2, 0)]  # t2 before t1, the setup last
    note = ex._in_lesson_order(moved, source)
    assert note and "out of the lesson's order" in note, note
    # each instructor cell in its place, followed by what the student had after it; what came before every
    # instructor cell stays first (it runs in the student's kernel only)
    assert ids(moved) == ["a1", "a2", "setup", "t1", "t2"], ids(moved)

    deleted = nbformat.from_dict(json.loads(json.dumps(source)))
    deleted.cells = deleted.cells[1:]
    note = ex._in_lesson_order(deleted, source)
    assert note and "put back: setup" in note, note
    assert ids(deleted) == ids(source) and deleted.cells[0].source == "import numpy as np"


def test_the_trusted_side_never_takes_back_its_own_functions():
    """A student's side that keeps one of T's reference functions and hands it back (as an answer, or under an
    answer's name) must not get T's function judged against itself."""
    t = wire.Runtime("T")
    t._export(lambda x: x)
    with pytest.raises(WireError):
        wire.decode({"$": "back", "id": 1}, t)


# ============================================================================================ 5. transport cost
# (the wire's speed-ups must not change what crosses: packing, S's copies of arguments, T's memo of tables sent)

def test_large_messages_cross_packed_and_small_ones_as_json():
    small = {"op": "ok", "v": [1, 2, 3]}
    assert wire.pack(small) == json.dumps(small), "a small message should cross as plain JSON"
    big = {"op": "ok", "v": ["LP-%06d" % i for i in range(20_000)]}
    text = wire.pack(big)
    assert text.startswith('{"op": "ok", "z": "') and len(text) < len(json.dumps(big)) / 3, (
        f"a {len(json.dumps(big))}-character message crossed as {len(text)} characters, starting {text[:40]!r}")
    assert wire.unpack(text) == big, "a packed message does not unpack to itself"


def _mutations():
    import numpy as np
    from socialcredit.data import load
    base = load("registry").head(2000)
    int_col = next(c for c in base.columns if str(base[c].dtype) == "int64")
    str_col = next(c for c in base.columns if str(base[c].dtype) in ("str", "string"))

    def set_value(t):
        t.loc[t.index[5], int_col] += 1

    def set_text(t):
        t.loc[t.index[7], str_col] = "changed"

    def retype(t):
        t[int_col] = t[int_col].astype("float64")

    def rename(t):
        t.columns = [c + "_x" if c == str_col else c for c in t.columns]

    def reindex(t):
        t.index = t.index + 1

    def add_column(t):
        t["new"] = 1

    def drop_row(t):
        t.drop(index=t.index[0], inplace=True)

    def swap_columns(t):
        a, b = [c for c in t.columns if str(t[c].dtype) in ("str", "string")][:2]
        t[a], t[b] = t[b].copy(), t[a].copy()

    cases = {f.__name__: (base, f) for f in (set_value, set_text, retype, rename, reindex, add_column, drop_row,
                                             swap_columns)}
    cases["series renamed"] = (base[int_col], lambda s: setattr(s, "name", "other"))
    cases["series value"] = (base[int_col], lambda s: s.__setitem__(s.index[3], -1))
    cases["array value"] = (np.arange(10.0), lambda a: a.__setitem__(2, np.nan))
    cases["array nan to number"] = (np.array([np.nan, 1.0]), lambda a: a.__setitem__(0, 0.0))
    cases["object column's list"] = (pd.DataFrame({"a": [[1], [2]]}), lambda t: t.iloc[0, 0].append(5))
    return cases


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")
@pytest.mark.parametrize("case", list(_mutations()))
def test_the_students_side_reports_every_change_to_an_argument(case):
    """wire._watch/_changed (which now compare with a copy where they hashed the content) report an argument the
    student's function changed in place, and nothing for one it left alone."""
    import warnings
    value, change = _mutations()[case]
    s = wire.Runtime("S")
    arg = value.copy()
    watched = wire._watch([arg], {}, s)
    assert wire._changed(watched, [arg], {}, s) == {}, f"{case}: an unchanged argument was reported as changed"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        change(arg)
    assert "0" in wire._changed(watched, [arg], {}, s), f"{case}: the change to the argument was not reported"


def test_the_trusted_side_sends_an_unchanged_table_once():
    """T sends a table S already holds by its key, without encoding it again (wire._cached's memo); a table T
    changed in place since is encoded and sent again."""
    from socialcredit.data import load
    t, s = wire.Runtime("T"), wire.Runtime("S")
    table = load("registry")
    first = wire.encode(table, t)
    assert first["$"] == "cache", f"a {table.size}-value table was not sent for S to keep: {first['$']}"
    wire.decode(json.loads(json.dumps(first)), s)
    calls = []
    real_col = wire._col
    try:
        wire._col = lambda *a: calls.append(1) or real_col(*a)
        again = wire.encode(table, t)
    finally:
        wire._col = real_col
    assert again == {"$": "cached", "key": first["key"]} and not calls, (
        f"the same unchanged table was encoded again ({len(calls)} columns) or not sent by its key: {again}")
    table.iloc[0, 0] = "LP-999999"
    changed = wire.encode(table, t)
    assert changed["$"] == "cache" and changed["key"] != first["key"], (
        f"a table changed in place since it was sent went by its old key: {changed['$']}")
    got = wire.decode(json.loads(json.dumps(changed)), s)
    assert got.iloc[0, 0] == "LP-999999", "S did not get the changed table"
    for _ in range(3 * wire._MEMO_MAX):  # a test that sends a fresh copy on every call
        wire.encode(table.copy(), t)
    assert len(t.sent_objects) <= wire._MEMO_MAX, (
        f"T keeps {len(t.sent_objects)} tables it sent alive, each with a copy: its memory grows with every call")


# ============================================================================================ 6. names a cell uses
# (which of the student's names T fetches before a test cell: verdicts.names_of)

NAMES_OF = {
    "a name read after the cell assigned it is not fetched": ("x = load()\ny = x + 1", {"x", "y"}, {"load"}),
    "a loop's target is bound in its body only": ("for g in groups:\n    show(g)\nprint(g)", {"g"},
                                                  {"groups", "show", "print", "g"}),
    "with items bind for the body": ("with uses(df) as u:\n    r = f(u)", {"u", "r"}, {"uses", "df", "f"}),
    "a function's free names are read, its arguments are not": ("def f(a):\n    return a + b", {"f"}, {"b"}),
    "a name bound only under an if is still read after it": ("if c:\n    z = 1\nprint(z)", {"z"}, {"c", "print", "z"}),
    "an except clause binds its name in its body": ("try:\n    run()\nexcept Err as e:\n    log(e)", {"e"},
                                                    {"run", "Err", "log"}),
    "a comprehension's variable is its own": ("out = [i * k for i in rng]", {"out"}, {"rng", "k"}),
    "a global statement inside a function stores the name": ("def f():\n    global G\n    G = 1", {"f", "G"}, set()),
    "IPython magics are skipped": ("%matplotlib inline\nx = y", {"x"}, {"y"}),
    "a cell that does not parse names nothing": ("def (:", set(), set()),
}


@pytest.mark.parametrize("case", list(NAMES_OF))
def test_names_a_cell_assigns_and_reads(case):
    from socialcredit.verdicts import names_of
    source, stores, loads = NAMES_OF[case]
    got_stores, got_loads = names_of(source)
    assert (got_stores, got_loads) == (stores, loads), (
        f"{case}: names_of({source!r}) gave stores {sorted(got_stores)}, reads {sorted(got_loads)}; expected "
        f"stores {sorted(stores)}, reads {sorted(loads)}")


def test_only_the_trusted_side_bounds_what_it_unpacks():
    """T refuses a packed message that inflates past max_message_mb; S takes whatever T sends (a large table of the
    course's must not fail a test cell on the student's side)."""
    assert wire.Runtime("T").max_unpacked <= 64 * 2 ** 20, "the trusted side inflates packed messages without bound"
    assert wire.Runtime("S").max_unpacked >= 1024 * 2 ** 20, (
        "the student's side refuses T's messages above "
        f"{wire.Runtime('S').max_unpacked // 2 ** 20} MB once unpacked: a large table would fail its test cell")
