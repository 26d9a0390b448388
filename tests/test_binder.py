"""Binder readiness (issue #10 §4): environment.yml's pip part, installed into a fresh environment, gives a
JupyterLab with nbgrader's Validate and the course package, and opens a lesson.

repo2docker (what Binder runs) needs Docker, which this machine and CI have not got; the conda part of
environment.yml is only `python` and `pip`, so installing its pip list with the suite's own Python into a
fresh venv is what Binder's build does, short of conda. Built in `make test-full` (about 2 minutes).
"""
import json
import os
import re
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import REPO, free_port
from test_lab import stop_server

ANSI = re.compile(r"\x1b\[[0-9;]*m")  # jupyter's extension lists colour "enabled"


def pip_part(text):
    """The `- pip:` list of an environment.yml, as pip requirement lines."""
    lines, inside = [], False
    for line in text.splitlines():
        if re.match(r"\s*-\s*pip:\s*$", line):
            inside = True
            continue
        m = re.match(r"\s{4,}-\s*(.+?)\s*$", line)
        if inside and m:
            lines.append(m.group(1))
        elif inside and line.strip() and not line.startswith(" " * 4):
            inside = False
    return lines


def test_pip_part_is_read():
    reqs = pip_part((REPO / "environment.yml").read_text())
    assert "-e ." in reqs and any(r.startswith("nbgrader==") for r in reqs) and any(r.startswith("jupyterlab==") for r in reqs), reqs


@pytest.mark.slow
@pytest.mark.full
def test_environment_yml_gives_a_lab_that_opens_a_lesson(tmp_path):
    venv = tmp_path / "binder"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("\n".join(pip_part((REPO / "environment.yml").read_text())) + "\n")
    py = str(venv / "bin" / "python")
    r = subprocess.run([py, "-m", "pip", "install", "--quiet", "-r", str(reqs)], cwd=REPO, capture_output=True,
                       text=True, timeout=2400, env={**os.environ, "PIP_NO_COMPILE": "1"})
    assert r.returncode == 0, f"pip install of environment.yml's pip part failed:\n{(r.stdout + r.stderr)[-3000:]}"
    bin_dir = venv / "bin"
    r = subprocess.run([str(bin_dir / "jupyter"), "labextension", "list"], capture_output=True, text=True, timeout=300)
    out = ANSI.sub("", r.stdout + r.stderr)
    assert re.search(r"@jupyter/nbgrader\b.*enabled", out), f"nbgrader's JupyterLab extension is missing:\n{out}"
    r = subprocess.run([str(bin_dir / "jupyter"), "server", "extension", "list"], capture_output=True, text=True,
                       timeout=300)
    out = ANSI.sub("", r.stdout + r.stderr)
    assert re.search(r"nbgrader\.server_extensions\.validate_assignment\s+enabled", out), f"no Validate:\n{out}"
    # the lesson's setup cell runs in this environment's kernel (the package and the shipped world load)
    lesson = sorted(p.name for p in (REPO / "lessons").iterdir() if p.is_dir())[0]
    code = ("import nbformat, nbclient, sys\n"
            f"nb = nbformat.read({str(REPO / 'lessons' / lesson / (lesson + '.ipynb'))!r}, as_version=4)\n"
            "setup = [c for c in nb.cells if c.cell_type == 'code'][:1]\n"
            "nb.cells = setup\n"
            "nbclient.NotebookClient(nb, timeout=300, kernel_name='python3').execute()\nprint('setup ran')")
    r = subprocess.run([py, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and "setup ran" in r.stdout, f"the lesson's setup cell failed:\n{(r.stdout + r.stderr)[-3000:]}"
    # and JupyterLab from this environment serves the lesson
    port, token = free_port(), "binder-test"
    proc = subprocess.Popen([str(bin_dir / "jupyter"), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
                             f"--IdentityProvider.token={token}", "--ServerApp.port_retries=0", "--allow-root",
                             "--notebook-dir=lessons"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        page = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                url = f"http://127.0.0.1:{port}/api/contents/{lesson}/{lesson}.ipynb?token={token}"
                with urllib.request.urlopen(url, timeout=30) as resp:
                    page = json.load(resp)
                break
            except OSError:
                time.sleep(0.5)
    finally:
        stop_server(proc)
    assert page and page["type"] == "notebook" and page["content"]["cells"], (
        "JupyterLab from environment.yml's packages did not serve the lesson:\n" + (proc.stdout.read() or "")[-3000:])
