"""`make env` creates a working environment with every supported Python on this machine (3.11-3.13).

One lock (requirements.lock) serves all three: the test builds a fresh environment per interpreter
found (in parallel; pip's cache makes a repeat cheap), then imports the package and nbgrader in it
and checks the installed versions against the lock. An interpreter that is not installed is
skipped by name (CI may have only 3.11); the one running this suite is skipped too, because
`make test` has just built its environment the same way.
"""
import glob
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import REPO

SUPPORTED = ("3.11", "3.12", "3.13")
IMPORTS = ("import socialcredit, socialcredit.lms, socialcredit.course, nbgrader, nbgrader.apps, dask.distributed, "
           "jupyterlab, pandas, seaborn, sklearn, fairlearn; from nbgrader.api import Gradebook; print('ok')")


def find_interpreter(version):
    """A working python<version>: on PATH, or under pyenv's root; None if there is none."""
    candidates = [f"python{version}"]
    roots = {os.environ.get("PYENV_ROOT", ""), str(Path.home() / ".pyenv")}
    try:
        roots.add(subprocess.run(["pyenv", "root"], capture_output=True, text=True, timeout=30).stdout.strip())
    except (OSError, subprocess.TimeoutExpired):
        pass
    for root in sorted(r for r in roots if r):
        candidates += sorted(glob.glob(f"{root}/versions/{version}.*/bin/python{version}"), reverse=True)
    for exe in candidates:
        try:
            r = subprocess.run([exe, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                               capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if r.returncode == 0 and r.stdout.strip() == version:
            return exe
    return None


def lock_pins():
    pins = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        m = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)==([^\s;#]+)\s*", line)
        if m:
            pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    return pins


def build(version, exe, tmp):
    """`make env` with this interpreter into a temporary venv; returns (version, seconds, problems)."""
    venv = tmp / f"venv-{version}"
    started = time.perf_counter()
    # PIP_NO_COMPILE: no .pyc compilation at install (a third of the time; Python compiles on first import)
    env = {**os.environ, "PIP_NO_COMPILE": "1"}
    r = subprocess.run(["make", "-s", "env", f"PYTHON={exe}", f"VENV={venv}"], cwd=REPO, capture_output=True,
                       text=True, timeout=2400, env=env)
    seconds = time.perf_counter() - started
    if r.returncode != 0:
        return version, seconds, [f"make env failed:\n{(r.stdout + r.stderr)[-3000:]}"]
    problems = []
    py = str(venv / "bin" / "python")
    r = subprocess.run([py, "-c", IMPORTS], capture_output=True, text=True, timeout=600)
    if r.returncode != 0 or "ok" not in r.stdout:
        problems.append(f"imports failed:\n{(r.stdout + r.stderr)[-3000:]}")
    r = subprocess.run([py, "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True, timeout=300)
    installed = {}
    for line in r.stdout.splitlines():
        if "==" in line:
            name, ver = line.split("==", 1)
            installed[name.lower().replace("_", "-")] = ver
    wrong = {k: (v, installed[k]) for k, v in lock_pins().items() if k in installed and installed[k] != v}
    if wrong:
        problems.append(f"installed versions differ from requirements.lock (lock, installed): {wrong}")
    r = subprocess.run([py, "-m", "pip", "check"], capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        problems.append(f"pip check: {r.stdout[-2000:]}")
    return version, seconds, problems


@pytest.mark.slow
@pytest.mark.full  # builds two whole environments (~3 min): `make test-full` and CI
def test_make_env_with_each_supported_python(tmp_path):
    here = "%d.%d" % sys.version_info[:2]
    targets, skipped = {}, []
    for version in SUPPORTED:
        if version == here:
            skipped.append(f"{version}: this suite runs in an environment `make env` built with it")
            continue
        exe = find_interpreter(version)
        if exe is None:
            skipped.append(f"python{version}: not installed on this machine (not on PATH, not under pyenv)")
        else:
            targets[version] = exe
    for line in skipped:
        print("skipped", line)
    if not targets:
        pytest.skip("; ".join(skipped))
    with ThreadPoolExecutor(max_workers=len(targets)) as pool:
        results = list(pool.map(lambda item: build(*item, tmp_path), targets.items()))
    for version, seconds, problems in results:
        print(f"python {version} ({targets[version]}): make env + checks in {seconds:.0f} s")
    failed = {v: p for v, _, p in results if p}
    assert not failed, "\n\n".join(f"python {v} ({targets[v]}):\n" + "\n".join(p) for v, p in failed.items())
