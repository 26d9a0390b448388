"""`make lab` starts a JupyterLab server on lessons/ that answers (then the test stops it)."""
import json
import re
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import REPO, free_port


def stop_server(proc):
    """Stop a server started with start_new_session=True, and everything it started."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except ProcessLookupError:  # it had already exited; the caller's assertion says why
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


STUDENT_ONLY = ("@jupyter/nbgrader:validate-assignment",)
INSTRUCTOR_OR_EXCHANGE = ("@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                          "@jupyter/nbgrader:assignment-list", "@jupyter/nbgrader:course-list")


def _serve_lab(cwd, make_args=()):
    """Run `make lab` in `cwd` until it answers; return what a student's browser would load, and the log."""
    port, token = free_port(), "course-test-token"
    args = f"--no-browser --ip=127.0.0.1 --port={port} --ServerApp.token={token} --ServerApp.port_retries=0"
    proc = subprocess.Popen(["make", "-s", "lab", *make_args, f"LAB_ARGS={args}"], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    got = {}
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
                    got["status"] = json.load(r)
                break
            except OSError:
                time.sleep(0.5)
        assert "status" in got, f"JupyterLab did not answer on port {port} within 120 s; make lab said:\n" + (
            proc.stdout.read() if proc.poll() is not None else "(still running)")
        for key, page in [("contents", "/api/contents"), ("lab", "/lab"), ("formgrader", "/formgrader"),
                          ("assignments", "/assignments?course_id=social-scoring"), ("courses", "/courses")]:
            try:
                with urllib.request.urlopen(f"{base}{page}{'&' if '?' in page else '?'}token={token}", timeout=30) as r:
                    got[key] = (r.status, r.read().decode(errors="replace"))
            except urllib.error.HTTPError as exc:
                got[key] = (exc.code, "")
        time.sleep(1)  # let the server log what those requests did
    finally:
        stop_server(proc)
    return got, proc.stdout.read()


def _check_student_lab(got, log, lessons):
    names = {item["name"] for item in json.loads(got["contents"][1])["content"]}
    assert lessons and lessons <= names, f"the server's root should be lessons/ (expected {lessons}, saw {names})"
    page = got["lab"][1]
    m = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', page, flags=re.S)
    assert m, "no page config in JupyterLab's page"
    listed = json.loads(m.group(1)).get("disabledExtensions", [])
    disabled = set(listed) if isinstance(listed, list) else {k for k, v in listed.items() if v}
    assert set(INSTRUCTOR_OR_EXCHANGE) <= disabled, f"a student's lab shows {sorted(set(INSTRUCTOR_OR_EXCHANGE) - disabled)}"
    assert not disabled & set(STUDENT_ONLY), f"Validate must stay: disabled {sorted(disabled)}"
    for key in ("formgrader", "assignments", "courses"):
        assert got[key][0] == 404, f"a student's lab serves nbgrader's {key} pages (HTTP {got[key][0]})"
    probes = re.compile(r"404 GET /(formgrader|assignments|courses)\b")  # this test's own requests, answered 404
    noise = [ln for ln in log.splitlines()
             if re.search(r"exchange|Unwritable|course_id|Traceback|\bERROR\b", ln) and not probes.search(ln)]
    assert not noise, "make lab logged exchange or other errors:\n" + "\n".join(noise[:20])


@pytest.mark.slow
def test_make_lab_serves_the_lessons_as_a_student_sees_them():
    """`make lab` serves lessons/ with Validate but without formgrader, Create Assignment or the exchange's
    Assignments tab, and logs no exchange error (issue #10: a single-user lab has no exchange)."""
    got, log = _serve_lab(REPO)
    _check_student_lab(got, log, {p.name for p in (REPO / "lessons").iterdir() if p.is_dir()})


def _validate_timeout(folder):
    """The per-cell limit nbgrader's Validate button uses when JupyterLab runs in `folder` (as its handler loads
    its config: the folder first, then Jupyter's config paths)."""
    code = ("import os\nfrom jupyter_core.paths import jupyter_config_path\nfrom nbgrader.apps import NbGrader\n"
            "paths = jupyter_config_path(); paths.insert(0, os.getcwd())\napp = NbGrader()\n"
            "app.config_file_paths.append(paths)\napp.load_config_file()\nprint(app.config.Execute.timeout)")
    r = subprocess.run([str(REPO / ".venv" / "bin" / "python"), "-c", code], cwd=folder, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


@pytest.mark.slow
def test_student_copy_runs_make_lab_validates_with_the_course_limits_and_documents_only_its_commands(tmp_path):
    """The student copy is self-consistent (issue #10 §4): its `make lab` serves what a student uses, Validate
    uses the course's 60 s per-cell limit (nbgrader's default is 30 s), and its README and `make help` name
    only commands its Makefile has."""
    dest = tmp_path / "students"
    r = subprocess.run([str(REPO / ".venv" / "bin" / "python"), "-m", "socialcredit", "student-copy", str(dest)],
                       cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert _validate_timeout(dest) == "60", "Validate in the student copy does not use the course's 60 s limit"
    makefile = (dest / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, flags=re.M))
    readme = (dest / "README.md").read_text()
    advertised = set(re.findall(r"\bmake ([a-z][a-z-]*)", readme))
    assert advertised and advertised <= targets, f"the student README names {sorted(advertised - targets)}, which its Makefile lacks"
    for instructor_word in ("make test", "autograde", "solutions/", "formgrader", "make release"):
        assert instructor_word not in readme, f"the student README mentions {instructor_word!r}"
    h = subprocess.run(["make", "-s", "help"], cwd=dest, capture_output=True, text=True, timeout=60)
    listed = set(re.findall(r"^\s*make ([a-z][a-z-]*)", h.stdout, flags=re.M))
    assert h.returncode == 0 and listed and listed <= targets, h.stdout + h.stderr
    venv = REPO / ".venv"  # the course's environment, so the test installs nothing
    got, log = _serve_lab(dest, make_args=(f"VENV={venv}", "-o", f"{venv}/.installed"))
    _check_student_lab(got, log, {p.name for p in (dest / "lessons").iterdir() if p.is_dir()})


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
    port, token = free_port(), "course-test-token"
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
        stop_server(proc)
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
