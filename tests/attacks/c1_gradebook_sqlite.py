"""Class: 1
Name: c1_gradebook_sqlite
Tries: open the course's gradebook (../../../gradebook.db, an SQLite file beside solutions/) read-only with
    sqlite3: the roster, other students' scores, and the stored source of the graded cells (hidden tests).
Grader must: keep gradebook.db out of the sandbox (nbgrader writes grades from the trusted side, never from
    the process that runs student code) and report the attempt.
"""
import pathlib as _pathlib
import sqlite3 as _sqlite3

_db = _pathlib.Path("../../../gradebook.db").resolve()
print("ATTACK: gradebook visible:", _db.is_file())
if _db.is_file():
    _con = _sqlite3.connect(f"file:{_db}?mode=ro", uri=True, timeout=30)
    try:
        _tables = [r[0] for r in _con.execute("select name from sqlite_master where type='table'")]
        _students = [r[0] for r in _con.execute("select id from student")]
        _hidden = _con.execute("select count(*) from source_cell where source like '%BEGIN HIDDEN TESTS%'").fetchone()[0]
        _scored = _con.execute("select count(*) from grade where auto_score is not null").fetchone()[0]
        print(f"ATTACK: gradebook read: {len(_tables)} tables, {len(_students)} students, "
              f"{_hidden} stored cells with hidden tests, {_scored} auto scores of others")
    except Exception as _e:
        print("ATTACK: gradebook open but not read:", type(_e).__name__, _e)
    finally:
        _con.close()
