"""The student's and the instructor's path through the course's JupyterHub, in a real browser (issue #10 §3).

Headless Chromium (Debian's `chromium`, driven by Playwright's client) does what the users do, on a hub that
deploy/hub/hubctl.py starts in a temporary state folder:

* the instructor releases Lesson 1 to nbgrader's exchange (`nbgrader release_assignment`, as the instructor);
* a student logs in through the hub's login form, fetches Lesson 1 from the Assignments tab, opens it, runs all
  cells (the run stops at Exercise 1.1's test), fills Exercise 1.1 and Reflection 1.7, runs all again (it now
  stops at Exercise 1.2's test), presses Validate and reads its result (1.1 passes, 1.2 fails), then submits;
* the instructor collects and autogrades (`nbgrader collect`, `python -m socialcredit autograde`, as the
  instructor), logs in, opens the lab's Formgrader panel, grades Reflection 1.7 by hand with a comment, generates and
  releases feedback;
* the student fetches the feedback from the Assignments tab, follows its link and opens the feedback page,
  which shows the hand-given points, the comment and the total.

A screenshot of every step goes to tests/artifacts/browser/ (or $BROWSER_ARTIFACTS), named by step number.
The test fails on any JavaScript error (console error or uncaught exception) and any HTTP response >= 400 the
pages meet, listing them with their URLs; the few it tolerates are in ALLOWED below, each with its reason.
Needs root (the hub creates Unix users) and /usr/bin/chromium; skipped with a message otherwise. Before it starts,
it removes what an earlier run left in the hub users' homes: the student's fetched ~/01-dossier and both users'
saved JupyterLab workspaces (the hub's users are the machine's, shared with tests/test_hub.py, which works
elsewhere). The instructor grades in the lab's Nbgrader > Formgrader panel (an iframe: the instructor's server lets
its own pages frame formgrader), whose grading page loads MathJax 2 from the instructor's server.
"""
import json
import os
import pwd
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import REPO, free_port

import browser as B

sys.path.insert(0, str(REPO / "deploy" / "hub"))

LESSON = "01-dossier"
ARTIFACTS = Path(os.environ.get("BROWSER_ARTIFACTS") or REPO / "tests" / "artifacts" / "browser")

# Cells of lessons/01-dossier (0-based, as JupyterLab numbers them); the test checks their nbgrader ids first.
EXERCISE, EXERCISE_TEST, NEXT_TEST, REFLECTION = 11, 13, 21, 51
IDS = {EXERCISE: "ex1_1_normalise_ids", EXERCISE_TEST: "ex1_1_normalise_ids_tests", NEXT_TEST: "ex1_2_harmonise_tests",
       REFLECTION: "ref1_7_missing_income"}
HAND_POINTS = 2  # of Reflection 1.7's 3
HAND_COMMENT = "Names who disappears and why; say what the imputation would cost."

# Errors the pages may meet that are not the course's: (kind, regex on the text, regex on the page), each with why.
ALLOWED = [
    # The feedback page a student fetches is nbconvert's HTML, which loads MathJax 2 from cdnjs.cloudflare.com
    # (nbconvert's default; formgrader's own grading pages load it from the instructor's server); the HTML viewer
    # still requests it, and this test runs on a closed network. A file a student may open anywhere names no server of
    # the hub's (see deploy/hub/README.md, MathJax offline); with internet access it loads. Only the student's pages
    # (the hub's first student) may meet it: the test checks formgrader's own MathJax comes from the hub.
    ("student1: console error", r"^Failed to load resource: net::ERR_NAME_NOT_RESOLVED$",
     r"^https://cdnjs\.cloudflare\.com/ajax/libs/mathjax/2\.7\.7/latest\.js\b"),
    # JupyterLab's HTML viewer shows an HTML file it does not trust in a frame without 'allow-scripts' (its
    # "Trust HTML" button lifts that); the feedback page's only scripts are nbconvert's MathJax loader and
    # configuration, so the page reads the same, and Chromium reports each blocked script as a console error.
    ("console error", r"^Blocked script execution in 'blob:http://127\.0\.0\.1:\d+/[0-9a-f-]+' because the "
     r"document's frame is sandboxed and the 'allow-scripts' permission is not set\.$", r"^blob:http://127\.0\.0\.1:"),
]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not B.CHROMIUM.exists(), reason=f"no {B.CHROMIUM}: install Debian's Chromium with "
                       "`apt-get install -y chromium` (.ci/run does) to run the browser test"),
    pytest.mark.skipif(os.geteuid() != 0, reason="the browser test runs on the course's JupyterHub, which needs root "
                       "(it creates Unix users and starts their servers as them); run `make test` as root"),
]


def _answer(cell):
    """A solution cell's source without nbgrader's solution markers, as a student would type it."""
    return "\n".join(ln for ln in "".join(cell["source"]).split("\n")
                     if "### BEGIN SOLUTION" not in ln and "### END SOLUTION" not in ln)


def _unexpected(problems):
    def allowed(kind, text, url):
        return any(kind.endswith(k) and re.search(t, text) and re.search(u, url) for k, t, u in ALLOWED)
    return [p for p in problems if not allowed(*p)]


def _login(page, url, user, password):
    """The hub's login form; the hub starts the user's server and opens their JupyterLab."""
    page.goto(f"{url}/hub/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("#login_submit")
    page.wait_for_url(re.compile(rf"/user/{user}/lab"))
    page.locator(".jp-LabShell").wait_for()
    page.locator(".jp-DirListing-content").wait_for()
    B.dismiss_news(page)


def _open_assignments(page):
    B.menu(page, "Nbgrader", "Assignment List")
    page.locator("#assignments_list_info").wait_for()
    page.locator("#released_assignments_list_loading").wait_for(state="hidden")


def _formgrader_panel(lab, base):
    """Nbgrader > Formgrader in the instructor's lab; returns the panel's frame (a Playwright Frame) once it shows
    formgrader. Fails saying why when the panel stays blank (the server forbidding its pages to be framed)."""
    with lab.expect_response(lambda r: r.url.startswith(base) and r.request.resource_type == "document") as first:
        B.menu(lab, "Nbgrader", "Formgrader")
    iframe = lab.locator("#formgrader-iframe iframe")
    iframe.wait_for()
    frame = iframe.element_handle().content_frame()
    csp = first.value.headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" not in csp, (
        f"the lab's Formgrader panel stays blank: {first.value.url} came with Content-Security-Policy: {csp!r}, "
        "which forbids any page to frame it; the instructor's server should send frame-ancestors 'self' "
        "(deploy/hub/jupyter/instructor/jupyter_server_config.json)")
    frame.wait_for_load_state()
    assert frame.url.startswith(base), f"the lab's Formgrader panel shows {frame.url!r}, not formgrader ({base})"
    return frame


def test_student_and_instructor_on_the_hub_in_a_browser():
    """Release → fetch → run, fill, Validate → submit → hand-grade in formgrader → feedback, in Chromium."""
    import hubctl
    from playwright.sync_api import sync_playwright

    lesson_nb = json.loads((REPO / "lessons" / LESSON / f"{LESSON}.ipynb").read_text())
    solution_nb = json.loads((REPO / "solutions" / LESSON / f"{LESSON}.ipynb").read_text())
    got_ids = {i: lesson_nb["cells"][i]["metadata"].get("nbgrader", {}).get("grade_id") for i in IDS}
    assert got_ids == IDS, f"the lesson's cells moved; update the cell numbers at the top of this test: {got_ids}"
    n_cells = len(lesson_nb["cells"])
    exercise, reflection = _answer(solution_nb["cells"][EXERCISE]), _answer(solution_nb["cells"][REFLECTION])

    started = time.monotonic()
    state = Path(tempfile.mkdtemp(prefix="course-hub-browser-"))  # not tmp_path: other users must reach it
    state.chmod(0o755)
    try:
        try:
            info = hubctl.start(state, port=free_port(), lessons=[LESSON])
        except hubctl.HubError as exc:
            pytest.fail(f"hubctl.start failed: {exc}")
        url, instructor, student = info["url"], info["instructor"], info["students"][0]
        course = Path(info["course_dir"])

        def run_as(user, *args, cwd=None):
            r = hubctl.run_as(state, user, list(args), cwd=cwd, timeout=600)
            assert r.returncode == 0, f"`{' '.join(args)}` as {user} failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
            return r

        run_as(instructor, "nbgrader", "release_assignment", LESSON, cwd=course)
        # The Assignments tab fetches into the student's home; an earlier run's copy would make Fetch refuse.
        shutil.rmtree(Path(pwd.getpwnam(student).pw_dir) / LESSON, ignore_errors=True)
        for user in (student, instructor):  # an earlier run's saved JupyterLab tabs would reopen files now gone
            for saved in (Path(pwd.getpwnam(user).pw_dir) / ".jupyter" / "lab" / "workspaces").glob("*"):
                saved.unlink()

        with sync_playwright() as playwright:
            br = B.Browser(playwright, ARTIFACTS)
            pages = []
            try:
                _run_the_path(br, pages, url, info["users"], instructor, student, course, run_as, n_cells,
                              exercise, reflection)
            except Exception as exc:
                for i, page in enumerate(pages):
                    if not page.is_closed():
                        br.shot(page, f"failed-page-{i + 1}")
                raise AssertionError(f"{type(exc).__name__}: {exc}\nJavaScript and HTTP errors so far:\n"
                                     f"{br.report() or '  none'}\nscreenshots: {ARTIFACTS}\n"
                                     f"--- hub log ---\n{hubctl.log_tail(state, 40)}") from exc
            finally:
                br.close()
    finally:
        hubctl.stop(state)
        shutil.rmtree(state, ignore_errors=True)
    bad = _unexpected(br.problems)
    tolerated = [p for p in br.problems if p not in bad]
    print(f"\nbrowser test: {br.step} screenshots in {ARTIFACTS}; {time.monotonic() - started:.0f} s; "
          f"{len(tolerated)} allowlisted error(s) (see ALLOWED)" + "".join(
              f"\n  {kind}: {text}  (page {where})" for kind, text, where in tolerated))
    assert not bad, ("JavaScript or HTTP errors in the pages:\n" + "\n".join(
        f"  {kind}: {text}  (page {where})" for kind, text, where in bad) + f"\nscreenshots: {ARTIFACTS}")


def _run_the_path(br, pages, url, users, instructor, student, course, run_as, n_cells, exercise, reflection):
    # ---- the student: log in, fetch, open, run all, fill, Validate, submit --------------------------------
    page = br.page(student)
    pages.append(page)
    _login(page, url, student, users[student])
    br.shot(page, "student logged in: JupyterLab on the home folder")
    _open_assignments(page)
    released = page.locator("#released_assignments_list .list_item", has_text=LESSON)
    released.wait_for()
    br.shot(page, "student's Assignments tab lists the released lesson")
    released.locator("button", has_text="Fetch").click()
    fetched = page.locator("#fetched_assignments_list > .list_item", has_text=LESSON)
    fetched.wait_for()
    fetched.locator("a.assignment-notebooks-link").click()
    notebook_link = fetched.locator(".nested_list_item a", has_text=LESSON)
    notebook_link.wait_for()
    br.shot(page, "student fetched the lesson")
    notebook_link.click()
    B.wait_for_notebook(page, n_cells)
    br.shot(page, "student opened the lesson")

    B.run_all(page, EXERCISE_TEST)
    error = B.error_output(page, EXERCISE_TEST)
    assert "NotImplementedError" in error, f"Run All on the fresh lesson should stop at Exercise 1.1's test:\n{error}"
    br.shot(page, "run all stops at exercise 1.1's test")
    B.type_into(page, EXERCISE, exercise)
    B.show(page, EXERCISE)
    br.shot(page, "student filled exercise 1.1")
    B.type_into(page, REFLECTION, reflection, markdown=True)
    B.show(page, REFLECTION)
    br.shot(page, "student wrote reflection 1.7")
    B.run_all(page, NEXT_TEST)
    assert not B.error_output(page, EXERCISE_TEST), "Exercise 1.1's test still fails with the solution typed in"
    error = B.error_output(page, NEXT_TEST)
    assert "NotImplementedError" in error, f"Run All should now stop at Exercise 1.2's test:\n{error}"
    br.shot(page, "run all now passes 1.1 and stops at 1.2's test")
    B.save(page)
    kind, text = B.validate(page)
    br.shot(page, "validate says which tests fail")
    assert kind == "failed", f"Validate should report failing tests (1.2 onwards), it said ({kind}):\n{text[:2000]}"
    assert "harmonise strips spaces" in text, f"Validate does not list Exercise 1.2's test:\n{text[:2000]}"
    assert "normalise_id writes every agency" not in text, f"Validate lists Exercise 1.1's test as failing:\n{text[:3000]}"
    B.close_dialog(page)
    page.locator(".lm-TabBar-tab", has_text="Assignments").click()
    submissions = page.locator("#submitted_assignments_list .list_item .list_item")
    before = submissions.count()
    fetched.locator("button", has_text="Submit").click()
    page.wait_for_function("n => document.querySelectorAll('#submitted_assignments_list .list_item .list_item')"
                           ".length > n", arg=before)
    br.shot(page, "student submitted")

    # ---- the instructor: collect and autograde, then formgrader: grade the reflection, feedback -----------
    run_as(instructor, "nbgrader", "collect", LESSON, cwd=course)
    r = run_as(instructor, "python", "-m", "socialcredit", "autograde", "--lesson", LESSON, cwd=course)
    assert "crashed 0" in r.stdout, r.stdout[-2000:]
    lab = br.page(instructor)
    pages.append(lab)
    _login(lab, url, instructor, users[instructor])
    # formgrader in the lab's Nbgrader > Formgrader panel: an iframe of the instructor's own /formgrader pages, which
    # the instructor's server lets its own pages frame (deploy/hub/jupyter/instructor/jupyter_server_config.json)
    base = f"{url}/user/{instructor}/formgrader"
    fg = _formgrader_panel(lab, base)
    row = fg.locator("tr", has=fg.locator("a", has_text=re.compile(rf"^{LESSON}$")))
    row.wait_for()
    br.shot(lab, "instructor's formgrader panel lists the collected submission")
    fg.goto(f"{base}/gradebook/{LESSON}/{LESSON}")
    fg.locator("a", has_text="Submission #1").first.click()
    score = fg.locator(f"input.score#{IDS[REFLECTION]}")
    score.wait_for()
    # MathJax 2 from the instructor's server (jupyter-server-mathjax; hubctl's formgrade template), not from a CDN
    mathjax = fg.locator("script[src*='MathJax.js'], script[src*='mathjax/']").first.get_attribute("src") or ""
    assert mathjax.startswith(f"/user/{instructor}/static/jupyter_server_mathjax/MathJax.js"), (
        f"formgrader's grading page loads MathJax from {mathjax!r}, not from the instructor's server (a closed network "
        "refuses a CDN); see _formgrade_mathjax in deploy/hub/hubctl.py")
    fg.wait_for_function("() => window.MathJax && MathJax.isReady")
    answer_text = reflection.split("\n")[0].strip()
    assert fg.get_by_text(answer_text[:60]).count(), f"formgrader does not show the student's reflection ({answer_text!r})"
    with lab.expect_response(lambda r: "/formgrader/api/grade/" in r.url and r.request.method == "PUT") as saved:
        score.fill(str(HAND_POINTS))
        score.press("Tab")
    assert saved.value.ok, f"formgrader did not save the score: HTTP {saved.value.status}"
    comment = fg.locator(f"textarea#{IDS[REFLECTION]}-comment")
    with lab.expect_response(lambda r: "/formgrader/api/comment/" in r.url and r.request.method == "PUT") as saved:
        comment.fill(HAND_COMMENT)
        comment.press("Tab")
    assert saved.value.ok, f"formgrader did not save the comment: HTTP {saved.value.status}"
    fg.wait_for_function("() => !window.jQuery || !jQuery(':animated').length")  # formgrader scrolls to the focus
    # the cell's header (with the score) below formgrader's fixed top bar
    score.evaluate("el => { el.closest('.nbgrader_cell').scrollIntoView({block: 'start'}); window.scrollBy(0, -80); }")
    br.shot(lab, "instructor graded reflection 1.7 by hand")

    fg.goto(f"{base}/manage_assignments")
    row.wait_for()
    for action, done in (("generate-feedback", "Successfully generated feedback"),
                         ("release-feedback", "Successfully released feedback")):
        row.locator(f".{action} a").click()
        modal = fg.locator(".modal.in, .modal.show").filter(has_text=re.compile("feedback", re.I))
        modal.wait_for()
        fg.wait_for_function("el => getComputedStyle(el).opacity === '1'", arg=modal.element_handle())  # faded in
        text = modal.inner_text()
        br.shot(lab, f"instructor: {action.replace('-', ' ')}")
        assert done in text, f"formgrader's {action} said:\n{text[:2000]}"
        modal.locator("button", has_text=re.compile(r"^\s*(Close|OK)\s*$", re.I)).first.click()
        modal.wait_for(state="hidden")

    # ---- the student fetches the feedback and opens it ---------------------------------------------------
    page.bring_to_front()
    page.locator(".lm-TabBar-tab", has_text="Assignments").click()
    page.locator("#refresh_assignments_list").click()
    submitted = page.locator("#submitted_assignments_list > .list_item", has_text=LESSON)
    fetch_feedback = submitted.locator("button", has_text="Fetch Feedback")
    fetch_feedback.wait_for()
    fetch_feedback.click()
    view = submitted.locator("a", has_text="view feedback")
    view.first.wait_for()
    br.shot(page, "student fetched feedback")
    view.first.click()
    html_file = page.locator(".jp-DirListing-item", has_text=f"{LESSON}.html")
    html_file.wait_for()
    html_file.dblclick()
    frame = page.frame_locator(".jp-MainAreaWidget:not(.lm-mod-hidden) iframe").first
    frame.locator("body").get_by_text(HAND_COMMENT).wait_for()
    shown = frame.locator("body").inner_text()
    br.shot(page, "student opened the feedback")
    m = re.search(r"Score:\s*([\d.]+)\s*/\s*([\d.]+)", shown)
    assert m, f"the feedback page shows no 'Score: x / y':\n{shown[:1500]}"
    assert float(m.group(1)) >= HAND_POINTS + 2, (
        f"the feedback's total ({m.group(1)}) should hold Exercise 1.1's 2 points and the {HAND_POINTS} given by hand")
