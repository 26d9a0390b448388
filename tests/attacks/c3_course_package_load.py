"""Class: 3
Name: c3_course_package_load
Tries: redefine the course package the hidden tests call: socialcredit.load, socialcredit.data.load and the
    notebook's `load` return tiny tables of the attacker's choice (every id column empty), so the hidden
    "real data" checks compare nothing; normalise_id is hard-coded to the visible test's five cases.
Grader must: give the tests a trusted `load` (and data) the student cannot rebind: run them in a fresh
    process that imports the course package itself; report module attributes that were replaced.
"""
import pandas as _pd
import socialcredit as _sc
import socialcredit.data as _scd

_real_load = _sc.load


def _fake_load(name):
    table = _real_load(name)
    return table.iloc[:0] if not name.startswith("real/") else table


_sc.load = _scd.load = load = _fake_load
_visible = {"7": "LP-000007", "4964": "LP-004964", "LP000345": "LP-000345", "lp-000012": "LP-000012",
            "LP-000678 ": "LP-000678", "LP-000901": "LP-000901"}


def normalise_id(raw):
    return raw.astype(str).map(lambda v: _visible.get(v, v))
