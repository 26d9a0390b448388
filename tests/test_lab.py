"""`make lab` starts a JupyterLab server on lessons/ that answers (then the test stops it)."""
import json
import re
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import REPO


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_make_lab_serves_the_lessons():
    port, token = _free_port(), "course-test-token"
    args = f"--no-browser --ip=127.0.0.1 --port={port} --ServerApp.token={token} --ServerApp.port_retries=0"
    proc = subprocess.Popen(["make", "-s", "lab", f"LAB_ARGS={args}"], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        status = contents = None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2) as r:
                    status = json.load(r)
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents?token={token}", timeout=5) as r:
                    contents = json.load(r)
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token={token}", timeout=5) as r:
                    lab_page = r.read().decode()
                break
            except OSError:
                time.sleep(0.5)
        assert status is not None, f"JupyterLab did not answer on port {port} within 90 s; make lab said:\n" + (
            proc.stdout.read() if proc.poll() is not None else "(still running)")
        names = {item["name"] for item in contents["content"]}
        lessons = {p.name for p in (REPO / "lessons").iterdir() if p.is_dir()}
        assert lessons and lessons <= names, f"the server's root should be lessons/ (expected {lessons}, saw {names})"
        assert "JupyterLab" in lab_page or "jupyter" in lab_page.lower()
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except ProcessLookupError:  # make lab had already exited; the assertion above says why
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode is not None


def test_make_help_lists_every_target():
    """`make help` names every .PHONY target of the Makefile (env and the instructor commands included)."""
    makefile = (REPO / "Makefile").read_text()
    phony = set()
    for line in makefile.splitlines():
        if line.startswith(".PHONY:"):
            phony |= set(line.split(":", 1)[1].split())
    assert {"env", "lab", "test", "collect", "export", "grade-ui", "grades"} <= phony, phony
    r = subprocess.run(["make", "-s", "help"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    listed = set(re.findall(r"^\s*make ([a-z][a-z-]*)", r.stdout, flags=re.M))
    assert phony <= listed, f"targets missing from `make help`: {sorted(phony - listed)}\n{r.stdout}"


def _course_copy(tmp_path):
    """What `make grade-ui` needs from the course, in a temporary folder (the repository is left alone)."""
    import shutil
    lesson = sorted(p.name for p in (REPO / "solutions").iterdir() if p.is_dir())[0]
    course = tmp_path / "course"
    for name in ("Makefile", "pyproject.toml", "requirements.lock", "nbgrader_config.py"):
        (course / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, course / name)  # copy2 keeps mtimes: make must not think the lock changed
    shutil.copytree(REPO / "solutions" / lesson, course / "solutions" / lesson)
    shutil.copytree(REPO / "lessons" / lesson, course / "lessons" / lesson)
    return course, lesson


@pytest.mark.slow
def test_make_grade_ui_serves_formgrader(tmp_path):
    """`make grade-ui` opens formgrader on the course folder: its pages answer 200, the gradebook is whole."""
    course, lesson = _course_copy(tmp_path)
    venv = REPO / ".venv"
    port, token = _free_port(), "course-test-token"
    args = f"--no-browser --ip=127.0.0.1 --port={port} --ServerApp.token={token} --ServerApp.port_retries=0"
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["PATH"] = "/usr/bin:/bin"  # as a fresh shell: the venv's bin is NOT on PATH (alembic must still be found)
    proc = subprocess.Popen(["make", "-s", "grade-ui", f"VENV={venv}", "-o", f"{venv}/.installed", f"LAB_ARGS={args}"],
                            cwd=course, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    pages = ["/formgrader", "/formgrader/manage_assignments", "/formgrader/gradebook", "/formgrader/manage_students",
             "/formgrader/api/assignments", f"/api/contents/solutions/{lesson}", f"/api/contents/lessons/{lesson}"]
    got = {}
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                time.sleep(0.5)
        assert proc.poll() is None, "make grade-ui exited early:\n" + proc.stdout.read()
        for page in pages:
            try:
                with urllib.request.urlopen(f"{base}{page}?token={token}", timeout=30) as r:
                    got[page] = (r.status, r.read().decode(errors="replace"))
            except urllib.error.HTTPError as exc:
                got[page] = (exc.code, exc.read().decode(errors="replace")[-2000:])
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    log = proc.stdout.read()
    bad = {page: got.get(page, (None, "no answer"))[0] for page in pages if got.get(page, (None,))[0] != 200}
    assert not bad, f"formgrader pages did not answer 200: {bad}\n" + "\n".join(
        f"{p}: {got[p][1][-600:]}" for p in bad if p in got) + f"\nmake grade-ui said:\n{log[-3000:]}"
    assigned = json.loads(got["/formgrader/api/assignments"][1])
    assert isinstance(assigned, list), assigned
    # the gradebook formgrader left behind is whole: alembic stamped it, so `nbgrader db upgrade` works on it
    import sqlite3
    with sqlite3.connect(course / "gradebook.db") as db:
        tables = {r[0] for r in db.execute("select name from sqlite_master where type='table'")}
        stamped = db.execute("select version_num from alembic_version").fetchall() if "alembic_version" in tables else []
    assert {"assignment", "student"} <= tables and stamped, f"gradebook.db is incomplete: tables {tables}, alembic {stamped}"
