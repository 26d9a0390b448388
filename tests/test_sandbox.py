"""The grading sandbox (socialcredit.sandbox, issue #12): what a grading kernel can see and do.

Each test runs a tiny notebook through the course's own nbgrader preprocessor (SandboxedExecute, as autograde
does) from a submission folder inside a fake course, and checks what the student's code could reach, and that
every limit it hits is reported by name. The whole-course attack corpus is graded in test_attacks.py.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from nbformat.v4 import new_code_cell, new_notebook
from traitlets.config import Config

from conftest import REPO

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the grading sandbox (bubblewrap) is Linux-only")


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course folder with what a student must never read, and one submission folder to grade from."""
    root = tmp_path_factory.mktemp("course")
    (root / "solutions" / "01-dossier").mkdir(parents=True)
    (root / "solutions" / "01-dossier" / "01-dossier.ipynb").write_text("{} SOLUTION")
    (root / "gradebook.db").write_text("GRADEBOOK")
    (root / "submitted" / "bob" / "01-dossier").mkdir(parents=True)
    (root / "submitted" / "bob" / "01-dossier" / "01-dossier.ipynb").write_text("BOB'S WORK")
    shutil.copytree(REPO / "datasets", root / "datasets")
    work = root / "autograded" / "alice" / "01-dossier"
    work.mkdir(parents=True)
    (work / "data.txt").write_text("a file handed in with the notebook")
    return root


def run(course, *cells, timeout=20, **limits):
    """Execute cells as alice's submission; (outputs per cell as text, events, exception or None)."""
    from socialcredit.worlds_nbgrader import EVENTS, SandboxedExecute
    nb = new_notebook(cells=[new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    config = Config()
    config.SandboxedExecute.timeout = timeout
    config.SandboxedExecute.interrupt_grace = 3.0
    for k, v in limits.items():
        setattr(config.SandboxedExecute, k, v)
    EVENTS.clear()
    error = None
    work = course / "autograded" / "alice" / "01-dossier"
    try:
        SandboxedExecute(config=config).preprocess(
            nb, {"metadata": {"path": str(work)}, "nbgrader": {"student": "alice", "assignment": "01-dossier"}})
    except Exception as exc:  # a stopped kernel ends the run, as in nbgrader
        error = exc
    texts = []
    for cell in nb.cells:
        parts = []
        for o in cell.get("outputs", []):
            if o.get("output_type") == "stream":
                parts.append(o.get("text", ""))
            elif o.get("output_type") == "error":
                parts.append(f"{o.get('ename')}: {o.get('evalue')}")
            else:
                parts.append(str(o.get("data", {}).get("text/plain", "")))
        texts.append("".join(parts))
    return texts, EVENTS.get(("alice", "01-dossier"), []), error


def test_the_student_code_sees_its_submission_and_the_world_but_no_course_file(course):
    probe = f"""
import os, pathlib
root = pathlib.Path({str(course)!r})
print("own", (pathlib.Path.cwd() / "data.txt").read_text())
for rel in ["solutions/01-dossier/01-dossier.ipynb", "gradebook.db", "submitted/bob/01-dossier/01-dossier.ipynb"]:
    print(rel, (root / rel).exists())
print("repo solutions", pathlib.Path({str(REPO / 'solutions')!r}).exists(), "repo tests", pathlib.Path({str(REPO / 'tests')!r}).exists())
home = pathlib.Path({str(__import__("pathlib").Path.home())!r})
print("home", sorted(p.name for p in home.iterdir()) if home.is_dir() else [])
"""
    texts, events, error = run(course, probe, "from socialcredit import load\nprint(load('citizens').shape)")
    assert error is None, error
    out = texts[0]
    assert "own a file handed in" in out, out
    for rel in ["solutions/01-dossier/01-dossier.ipynb", "gradebook.db", "submitted/bob/01-dossier/01-dossier.ipynb"]:
        assert f"{rel} False" in out, f"the sandbox lets a student's code see {rel}:\n{out}"
    assert "repo solutions False repo tests False" in out, out
    # the grader's home folder shows only what the kernel needs from it (the Python installation, the world cache)
    home = eval(out.split("home ", 1)[1].splitlines()[0])
    assert set(home) <= {".cache", ".pyenv", ".local"}, f"the grader's home folder is visible in the sandbox: {home}"
    assert "(20000, 23)" in texts[1], f"the course package or the world cannot be read in the sandbox: {texts[1]}"
    assert "Lanternport as drawn for alice" in texts[1], "grading should read the student's own world"
    assert events == [], events


def test_the_submission_and_the_machine_are_read_only_and_scratch_is_small(course):
    texts, events, error = run(course, """
import pathlib
for target in [pathlib.Path.cwd() / "new.txt", pathlib.Path("/usr/evil"), pathlib.Path({!r}) / "x"]:
    try:
        target.write_text("x"); print("wrote", target)
    except OSError as e:
        print("refused", type(e).__name__)
open("/tmp/ok.txt", "w").write("scratch works"); print(open("/tmp/ok.txt").read())
""".format(str(REPO)), """
try:
    with open("/tmp/big", "wb") as f:
        for _ in range(64):
            f.write(b"x" * 2**20)
    print("wrote 64 MB")
except OSError as e:
    print("disk refused", e.errno)
""", scratch_mb=32)
    assert error is None, error
    assert "wrote" not in texts[0].replace("scratch works", ""), texts[0]
    assert texts[0].count("refused") == 3 and "scratch works" in texts[0], texts[0]
    assert "disk refused 28" in texts[1], f"a 64 MB write should fill a 32 MB scratch (ENOSPC): {texts[1]}"


def test_environment_is_minimal_and_there_is_no_network(course):
    os.environ["SOCIALCREDIT_TEST_SECRET"] = "hunter2"
    try:
        texts, events, error = run(course, """
import os, socket
print(sorted(os.environ))
try:
    socket.getaddrinfo("pypi.org", 443); print("dns works")
except OSError as e:
    print("no dns", type(e).__name__)
s = socket.socket()
s.settimeout(2)
try:
    s.connect(("127.0.0.1", 22)); print("loopback reached")
except OSError as e:
    print("no loopback service", type(e).__name__)
""")
    finally:
        del os.environ["SOCIALCREDIT_TEST_SECRET"]
    assert error is None, error
    out = texts[0]
    assert "SOCIALCREDIT_TEST_SECRET" not in out and "hunter2" not in out, out
    assert "SOCIALCREDIT_STUDENT" in out and "PATH" in out, out
    assert "no dns" in out and "no loopback service" in out, out


def test_memory_past_the_limit_stops_the_kernel_and_says_so(course):
    texts, events, error = run(course, "import numpy as np\na = np.ones(2**30 // 8)\na[:] = 2\nprint('1 GB ok')",
                               memory_mb=512)
    assert error is not None or "MemoryError" in texts[0], texts
    assert any("memory" in e for e in events) or "MemoryError" in texts[0], events


@pytest.mark.skipif(os.geteuid() != 0, reason="memory peaks are read from the memory cgroup (grading as root)")
def test_heavy_memory_use_within_the_limit_is_named(course):
    texts, events, error = run(course, "import numpy as np\na = np.ones(300 * 2**20 // 8)\na[:] = 2\nprint('300 MB ok')",
                               memory_mb=1024, report_memory_mb=200)
    assert error is None and "300 MB ok" in texts[0], (error, texts)
    assert any("MB of memory at its peak" in e and "reported above 200 MB" in e for e in events), (
        f"a kernel peaking near 300 MB with report_memory_mb=200 should be named in the events: {events}")
    texts, events, error = run(course, "print('small')", memory_mb=1024, report_memory_mb=200)
    assert not any("at its peak" in e for e in events), f"a small kernel was named for its memory: {events}"


def test_filling_the_connection_folder_stops_the_kernel_and_says_so(course):
    """The connection folder (the kernel's sockets) is the one writable place outside the size-limited /tmp."""
    texts, events, error = run(course, """
import os, sys, time
folder = os.path.dirname(sys.argv[sys.argv.index("-f") + 1])
for i in range(8):
    with open(os.path.join(folder, f"hoard{i}"), "wb") as f:
        f.write(b"x" * 2**23)
time.sleep(5)
print("kept 64 MB")
""", scratch_mb=32)
    assert error is not None and "kept 64 MB" not in texts[0], f"the kernel should have been stopped: {texts}"
    assert any("wrote more than 32 MB into its connection folder" in e for e in events), events


def test_a_fork_bomb_is_contained_and_named(course):
    texts, events, error = run(course, """
import os, time
children = 0
try:
    for _ in range(500):
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        children += 1
except OSError as e:
    print("fork refused after", children, type(e).__name__)
""", processes=32, timeout=30)
    assert "fork refused after" in texts[0], texts
    assert int(texts[0].split("after")[1].split()[0]) < 32, texts[0]


_BUSY_GRADER = r"""
import json, os, shutil, sys, tempfile, threading, time
from pathlib import Path
from nbformat.v4 import new_code_cell, new_notebook
from traitlets.config import Config
from socialcredit.worlds_nbgrader import EVENTS, SandboxedExecute

root = Path(sys.argv[1])
stop = threading.Event()
def busy():  # once the kernel runs, the grader's user starts 150 threads more (other kernels, Dask's pools)
    time.sleep(1.5)
    for _ in range(150):
        threading.Thread(target=stop.wait, daemon=True).start()
threading.Thread(target=busy, daemon=True).start()
nb = new_notebook(cells=[new_code_cell(c) for c in (
    "import time; time.sleep(4)",
    "import threading\nts = [threading.Thread(target=lambda: None) for _ in range(8)]\n"
    "[t.start() for t in ts]; [t.join() for t in ts]; print('threads ok')",
    "import os, time\nchildren = 0\ntry:\n    for _ in range(500):\n        if os.fork() == 0:\n"
    "            time.sleep(60)\n            os._exit(0)\n        children += 1\n"
    "except OSError as e:\n    print('fork refused after', children)")])
nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
config = Config()
config.SandboxedExecute.timeout = 30
config.SandboxedExecute.processes = 32
work = root / "autograded" / "alice" / "01-dossier"
try:
    SandboxedExecute(config=config).preprocess(
        nb, {"metadata": {"path": str(work)}, "nbgrader": {"student": "alice", "assignment": "01-dossier"}})
except Exception as exc:
    print("grading stopped:", type(exc).__name__, exc)
stop.set()
print(json.dumps({"outputs": [[o.get("text") or o.get("evalue") for o in c.get("outputs", [])] for c in nb.cells],
                  "events": EVENTS.get(("alice", "01-dossier"), [])}))
"""


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("runuser"),
                    reason="runs the grader as another user (nobody) through runuser, which needs root")
def test_a_grader_that_is_not_root_keeps_each_kernels_process_room_while_it_gets_busier():
    """Without cgroups (a grader that is not root) the process limit is RLIMIT_NPROC. Set before the sandbox,
    it counted every thread of the grading user: a kernel's own threads were refused once the grader started
    other kernels (test_hub's autograde crashed with exit status 134). Set inside the sandbox's user namespace,
    it counts the kernel's processes only, and still stops a fork bomb."""
    sys.path.insert(0, str(REPO / "deploy" / "hub"))
    import hubctl
    env_dir = hubctl.ensure_user_env()
    import tempfile
    root = Path(tempfile.mkdtemp(prefix="busy-grader-"))  # not pytest's tmp_path: its parents are closed to others
    try:
        _grade_as_nobody(root, env_dir)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _grade_as_nobody(root, env_dir):
    import json
    import subprocess
    shutil.copytree(REPO / "datasets", root / "datasets")
    (root / "autograded" / "alice" / "01-dossier").mkdir(parents=True)
    (root / "home").mkdir()
    (root / "grade.py").write_text(_BUSY_GRADER)
    subprocess.run(["chown", "-R", "nobody", str(root)], check=True)
    root.chmod(0o755)
    env = {"PATH": f"{env_dir / 'bin'}:/usr/bin:/bin", "HOME": str(root / "home"), "LANG": "C.UTF-8",
           "LD_LIBRARY_PATH": str(env_dir / "lib"), "PYTHONPATH": str(REPO / "src")}
    r = subprocess.run([shutil.which("runuser"), "-u", "nobody", "--", str(env_dir / "bin" / "python"), str(root / "grade.py"),
                        str(root)], env=env, cwd=root, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip(), f"the grader as nobody failed:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    got = json.loads(r.stdout.strip().splitlines()[-1])
    outputs = got["outputs"]
    assert outputs[1] == ["threads ok\n"], (f"the kernel could not start 8 threads once its grader got busier: "
                                            f"{outputs}, events {got['events']}\n{r.stdout[-2000:]}")
    fork_text = "".join(t for t in outputs[2] if t)  # print() may reach the notebook as several stream outputs
    assert fork_text.startswith("fork refused after"), f"the fork bomb was not stopped: {outputs}"
    assert int(fork_text.split("after")[1].split()[0]) < 32, outputs[2]


def test_printing_past_the_output_cap_stops_the_kernel_and_says_so(course):
    texts, events, error = run(course, "import sys\nwhile True:\n    sys.stdout.write('x' * 65536 + '\\n')",
                               output_mb=2)
    assert error is not None, "the kernel should have been stopped"
    assert any("printed more than 2 MB" in e for e in events), events


def test_a_cell_that_ignores_the_interrupt_is_stopped_and_named(course):
    texts, events, error = run(course, """
import signal, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
time.sleep(600)
""", timeout=3)
    assert any("ignored the interrupt" in e for e in events), events


def test_without_bubblewrap_grading_stops_with_a_clear_error_unless_turned_off(course, monkeypatch):
    from socialcredit import sandbox
    monkeypatch.setattr(sandbox, "_CHECKED", {})
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    texts, events, error = run(course, "print('ran')")
    assert isinstance(error, sandbox.SandboxUnavailable), error
    assert "bubblewrap" in str(error) and "apt-get install bubblewrap" in str(error) and "SOCIALCREDIT_SANDBOX=off" in str(error)
    monkeypatch.setenv("SOCIALCREDIT_SANDBOX", "off")
    texts, events, error = run(course, "print('ran')")
    assert error is None and texts[0] == "ran\n", (error, texts)
    assert any("WITHOUT the sandbox" in e for e in events), events
    monkeypatch.setenv("SOCIALCREDIT_SANDBOX", "maybe")
    texts, events, error = run(course, "print('ran')")
    assert isinstance(error, ValueError) and "'maybe'" in str(error) and "'required' or 'off'" in str(error), error


def test_bad_limits_are_refused_by_name():
    from socialcredit.sandbox import Limits
    with pytest.raises(ValueError, match=r"memory_mb=0.*positive whole number"):
        Limits(memory_mb=0)


def test_a_kernel_that_ends_itself_is_named_with_its_cell(course):
    texts, events, error = run(course, "print('first')", "import os\nos._exit(3)", "print('never')")
    assert error is not None, "grading should stop when the kernel is gone"
    assert any("the kernel died while running cell 2 (exit status 3)" in e for e in events), events


def test_an_honest_notebook_leaves_no_event(course):
    texts, events, error = run(course, "import pandas as pd\nprint(pd.Series([1, 2]).sum())")
    assert error is None and texts[0] == "3\n", (error, texts)
    assert events == [], events


def test_a_kernel_that_cannot_start_is_an_environment_failure(course):
    # a kernel command line the kernel refuses stands for any start-up failure (a package missing in the sandbox)
    texts, events, error = run(course, "print('never')", extra_arguments=["--this-option-does-not-exist=1"])
    assert error is not None
    assert any(e.startswith("environment failure: the grading kernel did not start in the sandbox") for e in events), (
        events)


def test_the_sandbox_shows_no_secret_of_the_grader_and_no_log_to_redirect(course, monkeypatch):
    monkeypatch.setenv("SOCIALCREDIT_TEST_SECRET", "hunter2")
    texts, events, error = run(course, """
import os, sys, pathlib
leaks = []
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            leaks.append(open("/proc/" + pid + "/environ", "rb").read())
        except OSError:
            pass
print("secret seen:", any(b"hunter2" in e for e in leaks))
folder = pathlib.Path(sys.argv[sys.argv.index("-f") + 1]).parent
print("connection folder:", sorted(p.name for p in folder.iterdir() if not p.name.startswith("kernel-")))
print("grader's log visible:", (folder.parent / "kernel.log").exists())
""", "print(1)")
    assert error is None, error
    assert "secret seen: False" in texts[0], texts[0]
    assert "connection folder: ['kernel.json']" in texts[0], texts[0]
    assert "grader's log visible: False" in texts[0], f"the kernel's log (which the grader reads) is reachable: {texts[0]}"


def test_a_file_handed_in_beside_the_notebook_cannot_replace_the_kernel(course):
    launcher = course / "autograded" / "alice" / "01-dossier" / "ipykernel_launcher.py"
    launcher.write_text("raise SystemExit('a handed-in file ran instead of the kernel')\n")
    try:
        texts, events, error = run(course, "print('the real kernel')")
    finally:
        launcher.unlink()
    assert error is None and texts[0] == "the real kernel\n", (error, texts, events)


def test_display_updates_and_metadata_count_towards_the_output_cap(course):
    texts, events, error = run(course, """
from IPython.display import display
h = display({"text/plain": "x"}, raw=True, display_id="d1")
for _ in range(40):
    h.update({"text/plain": "y" * 2**16}, raw=True)
    display({"text/plain": "m"}, metadata={"pad": "z" * 2**16}, raw=True)
""", output_mb=2)
    assert any("printed more than 2 MB" in e for e in events), events


def test_a_kernel_that_exits_cleanly_mid_notebook_is_named(course):
    texts, events, error = run(course, "print('first')", "import os\nos._exit(0)", "print('never')")
    assert any("the kernel died while running cell 2 (exit status 0)" in e for e in events), events


def test_grading_notes_do_not_pile_up_in_a_long_running_process():
    """formgrader's server grades with nobody reading EVENTS and SCANS: the oldest entries go."""
    from socialcredit import worlds_nbgrader as wn
    table = {}
    for i in range(wn._KEEP + 50):
        wn._remember(table, (f"s{i}", "01-dossier"), f"note {i}")
    assert len(table) == wn._KEEP, len(table)
    assert ("s0", "01-dossier") not in table and table[(f"s{wn._KEEP + 49}", "01-dossier")] == f"note {wn._KEEP + 49}"


@pytest.mark.parametrize("release, inside", [("6.18.44-fc-v973", True), ("5.14.0-70.el9.x86_64", True),
                                             ("5.10.0-28-amd64", False), ("4.19.0", False), ("unknown", False)])
def test_the_process_limit_goes_inside_the_sandbox_only_where_linux_counts_it_per_namespace(release, inside):
    from socialcredit.sandbox import _nproc_per_namespace
    assert _nproc_per_namespace(release) is inside, release


@pytest.mark.parametrize("kernel_cmd, shim", [
    (["/opt/env/bin/python3.11", "-m", "ipykernel_launcher", "-f", "k.json"], True),
    (["/usr/bin/env", "python", "-m", "ipykernel_launcher", "-f", "k.json"], False),  # not a Python: limit outside
])
def test_a_grader_that_is_not_root_sets_the_process_limit_where_it_counts_the_kernel_only(
        course, monkeypatch, tmp_path, kernel_cmd, shim):
    import json
    from socialcredit import sandbox
    monkeypatch.setattr(sandbox.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(sandbox, "_nproc_per_namespace", lambda release=None: True)
    box = sandbox.Sandbox(workdir=course / "autograded" / "alice" / "01-dossier", env={"SOCIALCREDIT_STUDENT": "alice"},
                          limits=sandbox.Limits(processes=40), private=tmp_path)
    assert box.cgroups == {}, "a grader that is not root makes no cgroups"
    argv = box.wrap(kernel_cmd)
    spec = json.loads(argv[3])
    tail = argv[-len(kernel_cmd):]
    assert tail == kernel_cmd, argv
    if shim:
        assert spec.get("nproc_inside") is True, spec
        assert argv[-len(kernel_cmd) - 6:-len(kernel_cmd)] == [kernel_cmd[0], "-I", "-S", "-c", sandbox._NPROC_SHIM,
                                                                 "40"], argv
    else:
        assert not spec.get("nproc_inside"), spec
        assert sandbox._NPROC_SHIM not in argv, argv


def test_a_datasets_folder_handed_in_with_the_notebook_is_not_the_tests_data(course):
    """nbgrader copies every file handed in beside the notebook into the folder the kernels run in. A datasets/
    folder there (with the marker file and tables of the student's making) was taken for the cohort: both kernels
    read the student's tables, and hidden tests computed their expectations on them (a red-team submission earned
    18 of 18 with answers looked up). The grader now looks for the cohort above the submission folder, and names
    what was handed in."""
    work = course / "autograded" / "alice" / "01-dossier"
    (work / "datasets").mkdir()
    try:
        (work / "datasets" / "DATASHEET.md").write_text("# the student's own world\n")
        (work / "datasets" / "world.json").write_text('{"seed": 7, "n": 0, "per_student": true}')
        texts, events, error = run(course, "import os; print(os.environ['SOCIALCREDIT_DATA'])",
                                   "from socialcredit.data import load; print(len(load('citizens')))")
    finally:
        shutil.rmtree(work / "datasets")
    assert error is None, (error, texts, events)
    assert texts[0].strip() == str((course / "datasets").resolve()), texts
    assert texts[1].strip().splitlines()[-1] == "20000", texts
    assert any(e.startswith("handed in datasets/") and "ignored" in e for e in events), events
