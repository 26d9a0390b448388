"""Numbers the course quotes about the shipped world must be the numbers the shipped world gives.

Each lesson registers the numbers its lesson text, model answers, instructor notes or the datasheet
quote in ``tests/quoted/<lesson>.toml``::

    [[number]]
    file = "instructors/03-who-pays.md"
    text = "7.0 %"
    code = '''
    from socialcredit import load
    c = load("citizens")
    value = 100 * c.loc[c.hukou == "migrant", "banned"].mean()
    '''
    format = "{:.1f} %"

The check recomputes ``value`` from the data and fails, naming the file and both numbers, when the
formatted value is not the quoted text, or when the text no longer occurs in the file.
"""
import json
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
QUOTED = REPO / "tests" / "quoted"


def _entries():
    out = []
    for path in sorted(QUOTED.glob("*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        for i, e in enumerate(data.get("number", [])):
            out.append(pytest.param(path.name, i, e, id=f"{path.stem}-{i + 1}"))
    return out


ENTRIES = _entries()


def _file_text(rel):
    path = REPO / rel
    assert path.is_file(), f"quoted file {rel} does not exist"
    if path.suffix == ".ipynb":
        nb = json.loads(path.read_text(encoding="utf-8"))
        return "\n".join("".join(c.get("source", "")) if isinstance(c.get("source"), list) else c.get("source", "")
                         for c in nb["cells"])
    return path.read_text(encoding="utf-8")


def test_quoted_files_are_well_formed():
    for path in sorted(QUOTED.glob("*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        for i, e in enumerate(data.get("number", [])):
            missing = {"file", "text", "code", "format"} - set(e)
            assert not missing, f"{path.name}: number #{i + 1} lacks {sorted(missing)}"


def check(toml_name, index, entry):
    text = _file_text(entry["file"])
    assert entry["text"] in text, (f"{toml_name} #{index + 1}: {entry['text']!r} no longer occurs in {entry['file']} "
                                   f"(text edited? update or remove the entry)")
    scope = {}
    exec(entry["code"], scope)  # noqa: S102 (our own registry, not student code)
    assert "value" in scope, f"{toml_name} #{index + 1}: its code sets no `value`"
    got = entry["format"].format(scope["value"])
    assert got == entry["text"], (f"{toml_name} #{index + 1}: {entry['file']} quotes {entry['text']!r}, "
                                  f"but the shipped data give {got!r} (value {scope['value']!r}). "
                                  f"Update the text (and the entry), or check the data.")


def test_there_are_quoted_numbers():
    assert ENTRIES, "tests/quoted/ registers no number: every quoted number about the world would go unchecked"


@pytest.mark.parametrize("toml_name,index,entry", ENTRIES)
def test_quoted_number_matches_data(toml_name, index, entry, monkeypatch):
    monkeypatch.delenv("SOCIALCREDIT_DATA", raising=False)
    monkeypatch.chdir(REPO)
    check(toml_name, index, entry)


def test_the_check_catches_drift(monkeypatch):
    """A planted entry whose quoted text disagrees with the data must fail, naming both."""
    monkeypatch.delenv("SOCIALCREDIT_DATA", raising=False)
    code = "from socialcredit import load\nvalue = len(load('citizens'))"
    right = {"file": "datasets/DATASHEET.md", "text": "Lanternport", "code": "value = 'Lanternport'", "format": "{}"}
    check("planted.toml", 0, right)
    wrong = {"file": "README.md", "text": "# ", "code": code, "format": "{:,}"}
    with pytest.raises(AssertionError, match="shipped data give"):
        check("planted.toml", 0, wrong)
    gone = {**right, "text": "a phrase that occurs in no file 1729"}
    with pytest.raises(AssertionError, match="no longer occurs"):
        check("planted.toml", 0, gone)
