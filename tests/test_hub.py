"""The course's JupyterHub (deploy/hub, issue #10 §1), end to end on this machine, as its real Unix users.

Starts the hub on a free port in a temporary state folder, logs every user in over HTTP and checks what their
JupyterLab offers, then runs nbgrader's exchange cycle as those users: release → fetch → (students answer:
student1 the solution, student2 half of it, student3 nothing) → submit → collect → the course's autograde and
feedback → release_feedback → fetch_feedback, and checks each student's feedback page shows their own score
(from grades.csv) and no hidden test. Needs root (useradd, runuser); skipped otherwise.
"""
import concurrent.futures
import csv
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

from conftest import REPO, free_port
from harness import hidden_test_lines, public_lines, visible_text

sys.path.insert(0, str(REPO / "deploy" / "hub"))
import hubctl  # noqa: E402

LESSON = "01-dossier"
STUDENT_SEES = {"@jupyter/nbgrader:assignment-list", "@jupyter/nbgrader:validate-assignment"}
STUDENT_NOT = {"@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment", "@jupyter/nbgrader:course-list"}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="the hub test needs root: it creates Unix users (useradd), sets their "
                       "passwords and runs nbgrader as each of them (runuser); run `make test` as root to include it"),
]


class Hub:
    def __init__(self, info):
        self.info = info
        self.state = Path(info["state"])
        self.course = Path(info["course_dir"])
        self.steps = []  # (step, seconds): printed with any failure

    def log(self, lines=80):
        return f"\n--- the end of the hub log ({self.info['log']}) ---\n" + hubctl.log_tail(self.state, lines)

    def run(self, user, *args, cwd=None, timeout=600):
        """Run a command as a hub user; a failure names the command and shows its output and the hub log."""
        started = time.monotonic()
        r = hubctl.run_as(self.state, user, args, cwd=cwd, timeout=timeout)
        self.steps.append((f"{user}: {' '.join(map(str, args))[:80]}", round(time.monotonic() - started, 1)))
        assert r.returncode == 0, (f"`{' '.join(map(str, args))}` as {user} in {cwd} failed (exit {r.returncode}):\n"
                                   f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}" + self.log(30))
        return r


@pytest.fixture
def hub():
    state = Path(tempfile.mkdtemp(prefix="course-hub-"))  # not pytest's tmp_path: its parents are closed to other users
    state.chmod(0o755)
    started = time.monotonic()
    try:
        try:
            info = hubctl.start(state, port=free_port(), lessons=[LESSON])
        except hubctl.HubError as exc:
            pytest.fail(f"hubctl.start failed: {exc}")
        h = Hub(info)
        h.steps.append(("hubctl.start", round(time.monotonic() - started, 1)))
        yield h
    finally:
        hubctl.stop(state)
        leftover = hubctl._started_from(state)
        shutil.rmtree(state, ignore_errors=True)
        assert not leftover, f"hubctl.stop left processes running: {leftover}"


def _login_and_spawn(url, user, password, timeout=240):
    """Log in through the hub's login form and wait for the user's JupyterLab; returns what their browser sees."""
    import requests
    s = requests.Session()
    page = s.get(f"{url}/hub/login", timeout=30)
    xsrf = re.search(r'name="_xsrf"\s+value="([^"]+)"', page.text)
    r = s.post(f"{url}/hub/login", data={"username": user, "password": password,
                                         "_xsrf": xsrf.group(1) if xsrf else ""}, timeout=60)
    if "/hub/login" in r.url:
        return {"error": f"the login form refused {user} (HTTP {r.status_code}, at {r.url})"}
    wrong = s.post(f"{url}/hub/login", data={"username": user, "password": password + "x",
                                              "_xsrf": xsrf.group(1) if xsrf else ""}, timeout=60)
    deadline = time.monotonic() + timeout
    while True:
        r = s.get(f"{url}/user/{user}/lab", timeout=60)
        if r.status_code == 200 and r.url.startswith(f"{url}/user/{user}/lab") and "jupyter-config-data" in r.text:
            break
        if time.monotonic() > deadline:
            return {"error": f"{user}'s server did not answer within {timeout} s (last: HTTP {r.status_code} at {r.url})"}
        time.sleep(2)
    config = json.loads(re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
                                  r.text, flags=re.S).group(1))
    listed = config.get("disabledExtensions", [])
    got = {"disabled": set(listed) if isinstance(listed, list) else {k for k, v in listed.items() if v},
           "wrong_password_refused": "/hub/login" in wrong.url or wrong.status_code == 403}
    for key, page in (("formgrader", "formgrader"), ("assignments", "assignments?course_id=social-scoring")):
        got[key] = s.get(f"{url}/user/{user}/{page}", timeout=60).status_code
    got["root"] = [item["name"] for item in s.get(f"{url}/user/{user}/api/contents", timeout=60).json()["content"]]
    return got


def _answers(source_nb, how):
    """The solution's answer cells with their markers removed: all of them, the first half of the code ones, or none."""
    answers = {}
    for c in source_nb.cells:
        meta = c.metadata.get("nbgrader", {})
        if meta.get("solution"):
            answers[meta["grade_id"]] = (c.cell_type, "\n".join(
                ln for ln in c.source.split("\n") if "### BEGIN SOLUTION" not in ln and "### END SOLUTION" not in ln))
    if how == "all":
        return answers
    if how == "half":
        code = [k for k, (kind, _) in answers.items() if kind == "code"]
        return {k: answers[k] for k in code[: len(code) // 2]}
    return {}


def _fill(path, answers, user):
    nb = nbformat.read(path, as_version=4)
    for c in nb.cells:
        gid = c.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers:
            c.source = answers[gid][1]
    nbformat.write(nb, path)
    uid, gid = hubctl._uid_gid(user)
    os.chown(path, uid, gid)


def test_hub_runs_the_exchange_cycle_as_its_users(hub):
    """Every user logs in and gets their lab (students: Assignments and Validate, no formgrader); the lesson goes
    round nbgrader's exchange; each student's fetched feedback holds their own score and no hidden test."""
    info, url = hub.info, hub.info["url"]
    # 1. log in over HTTP, all four at once (as a class would), and look at what each lab offers
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        seen = dict(zip(info["users"], pool.map(lambda u: _login_and_spawn(url, u, info["users"][u]), info["users"])))
    hub.steps.append(("log in and spawn 4 servers", round(time.monotonic() - started, 1)))
    errors = [f"{u}: {g['error']}" for u, g in seen.items() if "error" in g]
    assert not errors, "\n".join(errors) + hub.log()
    for user, got in seen.items():
        assert got["wrong_password_refused"], f"the hub let {user} in with a wrong password"
        if user == info["instructor"]:
            assert got["formgrader"] == 200, f"the instructor's formgrader answered HTTP {got['formgrader']}" + hub.log()
            assert not got["disabled"] & STUDENT_NOT, f"the instructor's lab hides {sorted(got['disabled'])}"
            assert {"solutions", "lessons", "nbgrader_config.py"} <= set(got["root"]), \
                f"the instructor's lab should open on the course folder; it shows {got['root']}"
        else:
            assert STUDENT_NOT <= got["disabled"], f"{user}'s lab shows {sorted(STUDENT_NOT - got['disabled'])}"
            assert not got["disabled"] & STUDENT_SEES, f"{user}'s lab lacks {sorted(got['disabled'] & STUDENT_SEES)}"
            assert got["formgrader"] == 404, f"{user} reaches formgrader (HTTP {got['formgrader']})"
            assert got["assignments"] == 200, f"{user}'s Assignments tab answered HTTP {got['assignments']}" + hub.log()

    # 2. the exchange cycle, each step as the user who would do it
    instructor, students, course = info["instructor"], info["students"], hub.course
    hub.run(instructor, "nbgrader", "release_assignment", LESSON, cwd=course)
    released = Path(info["exchange"]) / info["course_id"] / "outbound" / LESSON / f"{LESSON}.ipynb"
    assert released.is_file(), f"release_assignment put no {released}"
    assert "BEGIN HIDDEN" not in released.read_text() and "BEGIN SOLUTION" not in released.read_text(), \
        "the exchange's copy of the lesson holds solutions or hidden tests"
    source = nbformat.read(REPO / "solutions" / LESSON / f"{LESSON}.ipynb", as_version=4)
    fills = dict(zip(students, ("all", "half", "none")))
    work = {}
    for s in students:
        work[s] = hub.state / "work" / s  # a fresh folder per run (their homes may hold an earlier run's copy)
        work[s].mkdir(parents=True)
        uid, gid = hubctl._uid_gid(s)
        os.chown(work[s], uid, gid)
        work[s].chmod(0o700)
        hub.run(s, "nbgrader", "fetch_assignment", LESSON, cwd=work[s])
        nb_path = work[s] / LESSON / f"{LESSON}.ipynb"
        assert nb_path.is_file(), f"fetch_assignment gave {s} no {nb_path}"
        _fill(nb_path, _answers(source, fills[s]), s)
        hub.run(s, "nbgrader", "submit", LESSON, cwd=work[s])
    hub.run(instructor, "nbgrader", "collect", LESSON, cwd=course)
    for s in students:
        assert (course / "submitted" / s / LESSON / f"{LESSON}.ipynb").is_file(), f"collect brought in nothing for {s}"
    r = hub.run(instructor, "python", "-m", "socialcredit", "autograde", "--lesson", LESSON, cwd=course)
    assert "graded 3, crashed 0" in r.stdout, f"autograde did not grade all three:\n{r.stdout[-3000:]}"
    r = hub.run(instructor, "python", "-m", "socialcredit", "feedback", "--lesson", LESSON, cwd=course)
    assert "feedback written for 3 submission" in r.stdout, f"feedback failed:\n{r.stdout[-3000:]}{r.stderr[-3000:]}"
    hub.run(instructor, "python", "-m", "socialcredit", "grades", cwd=course)
    hub.run(instructor, "nbgrader", "release_feedback", LESSON, cwd=course)
    with (course / "grades.csv").open(newline="") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f) if r["lesson"] == LESSON}
    bad = {s: (rows.get(s) or {}).get("status") for s in students if (rows.get(s) or {}).get("status") != "graded"}
    assert not bad, f"grades.csv does not say graded for {bad}: {rows}"
    scores = {s: float(rows[s]["score"]) for s in students}
    assert scores[students[0]] > scores[students[1]] > scores[students[2]], \
        f"the solution, half of it and nothing should score in that order; grades.csv says {scores}"

    # 3. each student fetches their feedback: their own score, no hidden test
    public = "\n".join(public_lines(source))
    hidden = [ln for ln in hidden_test_lines(source) if ln not in public]
    assert hidden, f"{LESSON} has no hidden-test lines to look for; the leak check would check nothing"
    for s in students:
        hub.run(s, "nbgrader", "fetch_feedback", LESSON, cwd=work[s])
        pages = sorted((work[s] / LESSON / "feedback").glob(f"*/{LESSON}.html"))
        assert pages, f"fetch_feedback gave {s} no page in {work[s] / LESSON / 'feedback'}"
        text = visible_text(pages[-1].read_text(encoding="utf-8"))
        shown = re.search(r"Score:\s*([\d.]+)\s*/\s*([\d.]+)", text)
        assert shown, f"{s}'s feedback shows no 'Score: x / y':\n{text[:1500]}"
        assert abs(float(shown.group(1)) - scores[s]) < 1e-6, \
            f"{s}'s feedback shows {shown.group(1)}, grades.csv says {scores[s]}"
        assert abs(float(shown.group(2)) - float(rows[s]["max_score"])) < 1e-6, \
            f"{s}'s feedback shows a maximum of {shown.group(2)}, grades.csv says {rows[s]['max_score']}"
        own = "\n".join(a for _, a in _answers(source, fills[s]).values())
        leaked = [ln for ln in hidden if ln in text and ln not in own]
        assert not leaked and "BEGIN HIDDEN" not in text, f"{s}'s feedback shows hidden-test source: {leaked[:3]}"
    print("steps (s):", json.dumps(hub.steps, indent=1))
