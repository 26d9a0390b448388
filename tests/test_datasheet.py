"""DATASHEET.md states the mechanisms as measured on the shipped files, and covers every table."""
import subprocess
import sys

from conftest import REPO

sys.path.insert(0, str(REPO / "scripts"))
import mechanisms  # noqa: E402


def test_mechanisms_table_agrees_with_shipped_files():
    sheet = (REPO / "datasets" / "DATASHEET.md").read_text(encoding="utf-8")
    block = mechanisms.render(REPO / "datasets")
    assert block in sheet, (
        "DATASHEET.md's mechanisms table disagrees with the files in datasets/. "
        "Run `python scripts/mechanisms.py --write`. Freshly measured:\n" + block)


def test_check_command_detects_a_tampered_number(tmp_path):
    """The --check mode fails when one number in the sheet is changed (the check can fail)."""
    import shutil
    folder = tmp_path / "datasets"
    shutil.copytree(REPO / "datasets", folder)
    sheet = folder / "DATASHEET.md"
    text = sheet.read_text(encoding="utf-8")
    start = text.index(mechanisms.START)
    i = text.index("| Label bias |", start)
    line_end = text.index("\n", i)
    line = text[i:line_end]
    cells = line.split("|")
    cells[-2] = " 9.99 "
    sheet.write_text(text[:i] + "|".join(cells) + text[line_end:], encoding="utf-8")
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "mechanisms.py"), "--folder", str(folder), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 1, r.stdout + r.stderr


def test_datasheet_has_every_section_and_table():
    sheet = (REPO / "datasets" / "DATASHEET.md").read_text(encoding="utf-8").lower()
    for section in ("motivation", "composition", "collection process", "preprocessing", "uses", "distribution",
                    "maintenance"):
        assert section in sheet, f"DATASHEET.md lacks a {section!r} section"
    from socialcredit import TABLES
    for table in TABLES:
        assert f"`{table}`" in sheet or f"{table}.csv" in sheet, f"DATASHEET.md does not describe the table {table!r}"
    assert "```mermaid" in sheet, "the causal graph figure (mermaid) is missing"
    assert "travel_bans" in sheet


def test_proxies_table_agrees_with_shipped_files():
    """The "Known risks" proxies table is what scripts/proxies.py measures on the shipped files."""
    import proxies
    sheet = (REPO / "datasets" / "DATASHEET.md").read_text(encoding="utf-8")
    assert proxies.START in sheet and "## known risks" in sheet.lower(), "DATASHEET.md lacks its Known risks proxies table"
    block = proxies.render(REPO / "datasets")
    assert block in sheet, (
        "DATASHEET.md's proxies table disagrees with the files in datasets/. "
        "Run `python scripts/mechanisms.py --write`. Freshly measured:\n" + block)


def test_write_restores_tables_and_keeps_other_sections(tmp_path):
    """--check catches a changed proxies number; --write restores it and leaves other sections untouched."""
    import shutil
    import proxies
    folder = tmp_path / "datasets"
    shutil.copytree(REPO / "datasets", folder)
    sheet = folder / "DATASHEET.md"
    good = sheet.read_text(encoding="utf-8")
    start = good.index(proxies.START)
    i = good.index("| `district` |", start)
    line_end = good.index("\n", i)
    cells = good[i:line_end].split("|")
    cells[2] = " 0.111 "
    foreign = "\n<!-- ablation:begin -->\nsomeone else's section, 0.123\n<!-- ablation:end -->\n"
    sheet.write_text(good[:i] + "|".join(cells) + good[line_end:] + foreign, encoding="utf-8")
    script = str(REPO / "scripts" / "mechanisms.py")
    r = subprocess.run([sys.executable, script, "--folder", str(folder), "--check"], capture_output=True, text=True)
    assert r.returncode == 1, "--check accepted a tampered proxies number:\n" + r.stdout + r.stderr
    r = subprocess.run([sys.executable, script, "--folder", str(folder), "--write"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert sheet.read_text(encoding="utf-8") == good + foreign, "--write did not restore the table exactly or lost a section"
