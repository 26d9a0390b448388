"""Start and stop the course's JupyterHub on this machine (one instructor, three students, nbgrader's exchange).

Command line (as root, from the repository root; `make hub` / `make hub-stop` run the first two)::

    .venv/bin/python deploy/hub/hubctl.py start [--port 8000] [--ip 127.0.0.1] [--state DIR] [--lessons L ...]
    .venv/bin/python deploy/hub/hubctl.py stop [--state DIR]
    .venv/bin/python deploy/hub/hubctl.py status [--state DIR]
    .venv/bin/python deploy/hub/hubctl.py as USER [--state DIR] [--cwd DIR] -- COMMAND ...

From Python::

    sys.path.insert(0, "deploy/hub"); import hubctl
    info = hubctl.start(state_dir, port=8000)   # returns once the hub answers
    hubctl.run_as(state_dir, "student1", ["nbgrader", "fetch_assignment", "01-dossier"], cwd=folder)
    hubctl.stop(state_dir)

``start`` returns (and prints, as JSON) ``{"url", "users": {name: password}, "instructor", "students",
"course_id", "exchange", "course_dir", "state", "log"}``. It is idempotent: it creates the Unix users
``instructor``, ``student1``, ``student2``, ``student3`` if missing (passwords in
/var/lib/social-scoring-hub/logins.json, root only, shared by every state folder because the users are
the machine's), installs configurable-http-proxy from deploy/hub/package-lock.json into
deploy/hub/node_modules (and Debian's nodejs/npm with apt-get when npm is missing), makes the exchange
(STATE/exchange, mode 1777) and the instructor's course folder (STATE/course: the course's
nbgrader_config.py, solutions/ as nbgrader's source folder, lessons/ as its release folder, the lessons
released into its gradebook), writes each role's Jupyter config (STATE/jupyter/ROLE, on the user's
JUPYTER_CONFIG_PATH), then starts JupyterHub (deploy/hub/jupyterhub_config.py) in the background and
waits until it answers. If the hub already runs from STATE it only returns the info.

``stop`` stops the hub, the proxy and every single-user server and kernel started from STATE (found by
the HUBCTL_STATE variable in their environment); users and their files stay. See deploy/hub/README.md.
"""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
VENV = REPO / ".venv"
DEFAULT_STATE = HERE / "state"
DEFAULT_PORT = 8000
COURSE_ID = "social-scoring"
INSTRUCTOR = "instructor"
STUDENTS = ["student1", "student2", "student3"]
USERS = [INSTRUCTOR, *STUDENTS]
MARKER = "social-scoring hub user (deploy/hub/hubctl.py)"
# The Unix users are the machine's, so their passwords are too: one file for every state folder.
SECRETS = Path(os.environ.get("HUBCTL_SECRETS", "/var/lib/social-scoring-hub"))
PROXY = HERE / "node_modules" / ".bin" / "configurable-http-proxy"
# The users' servers run from .venv when every user can run its Python; otherwise (e.g. .venv built from
# pyenv's Python under /root, which other users cannot enter) from USER_ENV: a copy of the same interpreter,
# with .venv's packages (site-packages added by a .pth file; share/ and etc/ linked). See ensure_user_env.
USER_ENV = HERE / "userenv"
START_TIMEOUT = 120


class HubError(Exception):
    """Something that stops the hub from starting or stopping; the message says what and what to do."""


# ---------------------------------------------------------------------------------------------- helpers

def _state(state_dir):
    return Path(state_dir or DEFAULT_STATE).resolve()


def _run(cmd, what, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise HubError(f"{what} failed ({' '.join(map(str, cmd))}, exit {r.returncode}):\n{(r.stdout + r.stderr)[-3000:]}")
    return r


@contextlib.contextmanager
def _machine_lock():
    """One hubctl at a time creates users or installs the proxy (two hubs may start at once)."""
    SECRETS.mkdir(parents=True, exist_ok=True)
    os.chmod(SECRETS, 0o700)
    with open(SECRETS / "lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _check_port(port, ip="127.0.0.1"):
    if not isinstance(port, int) or not 1 <= port <= 65535:
        raise HubError(f"port={port!r} is not a port number; expected an integer from 1 to 65535")
    with socket.socket() as s:
        try:
            s.bind((ip if ip not in ("", "0.0.0.0") else "0.0.0.0", port))
        except OSError as exc:
            raise HubError(f"port {port} on {ip} is in use ({exc.strerror}); choose another with --port "
                           f"(or `make hub HUB_PORT=...`)") from None


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _check_others_can_enter(path, what):
    """Every folder from / down to `path` must be enterable by other users (the hub's users run from it)."""
    p = Path(path).resolve()
    for folder in [*reversed(p.parents), p]:
        mode = folder.stat().st_mode
        if not mode & 0o001:
            raise HubError(f"{folder} (on the way to {what}, {p}) has mode {oct(mode & 0o777)}; the hub's users must be "
                           f"able to enter it: chmod o+x {folder}, or put the repository/state folder elsewhere")


def _home(user):
    return Path(pwd.getpwnam(user).pw_dir)


def _uid_gid(user):
    p = pwd.getpwnam(user)
    return p.pw_uid, p.pw_gid


def _chown_tree(path, user):
    uid, gid = _uid_gid(user)
    for root, dirs, files in os.walk(path):
        os.chown(root, uid, gid)
        for name in dirs + files:
            os.lchown(os.path.join(root, name), uid, gid)


# ---------------------------------------------------------------------------------------------- set-up

def ensure_node():
    """npm and node, from Debian's packages when missing (a fresh CI machine has neither)."""
    if shutil.which("npm") and shutil.which("node"):
        return
    if not shutil.which("apt-get"):
        raise HubError("npm is missing and this machine has no apt-get; install Node.js 18 or newer with npm, then run again")
    print("installing nodejs and npm with apt-get (npm is missing) ...", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    _run(["apt-get", "update", "-q"], "apt-get update", env=env)
    _run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "nodejs", "npm"], "installing nodejs and npm", env=env)


def ensure_proxy():
    """configurable-http-proxy in deploy/hub/node_modules, exactly as package-lock.json pins it."""
    if PROXY.exists():
        return PROXY
    ensure_node()
    print("installing configurable-http-proxy (deploy/hub/package-lock.json) ...", flush=True)
    _run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], "npm ci in deploy/hub", cwd=HERE)
    if not PROXY.exists():
        raise HubError(f"npm ci finished but {PROXY} is missing; check deploy/hub/package.json")
    return PROXY


def _runuser():
    return shutil.which("runuser", path="/usr/sbin:/sbin:/usr/bin:/bin") or "runuser"


def _runs_for_users(python, code="import socialcredit, nbgrader, jupyterhub.singleuser"):
    """Whether a hub user (the first student) can run `python` and import the course's packages with it."""
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8"}
    if str(python).startswith(str(USER_ENV)):
        env["LD_LIBRARY_PATH"] = str(USER_ENV / "lib")
    r = subprocess.run([_runuser(), "-u", _probe_user(), "--", str(python), "-c", code], cwd="/",
                       env=env, capture_output=True, text=True)
    return r.returncode == 0


def _probe_user():
    """Who tries .venv's Python for the users: the first student once ensure_users made the accounts, else nobody
    (like every hub user, an account without root's rights)."""
    try:
        pwd.getpwnam(STUDENTS[0])
        return STUDENTS[0]
    except KeyError:
        return "nobody"


def _link_or_copy(src, dst):
    try:
        os.link(src, dst)
    except OSError:  # another file system
        shutil.copy2(src, dst)


def ensure_user_env():
    """The environment the users' servers and commands run from (see USER_ENV); returns its folder.

    When the users cannot run .venv's Python (its interpreter lives in a folder closed to them, e.g. pyenv's under
    /root), USER_ENV gets a copy of that very interpreter (same build: the packages behave the same; a system Python
    of another patch release did not: soupsieve failed on 3.11.2), its standard library (hard links where possible)
    and a .pth file that adds .venv's site-packages; share/ and etc/ link to .venv's (Jupyter's extensions, kernels).
    The interpreter finds its libpython through LD_LIBRARY_PATH (user_env sets it)."""
    global _USERS_ENV
    if _runs_for_users(VENV / "bin" / "python"):
        _USERS_ENV = VENV
        return VENV
    r = _run([str(VENV / "bin" / "python"), "-c", "import sys, sysconfig; print(sys.base_prefix); "
              "print(sysconfig.get_python_version()); print(sysconfig.get_paths()['purelib'])"], "asking .venv's Python")
    base, ver, site = r.stdout.split("\n")[:3]
    base = Path(base)
    stamp = USER_ENV / "hubctl-built-from"
    wanted = f"{base}\n{ver}\n{site}\n{(base / 'bin' / f'python{ver}').stat().st_mtime}\n"
    if not (stamp.is_file() and stamp.read_text() == wanted):
        print(f"the hub's users cannot run .venv's Python ({base}); copying it to {USER_ENV} ...", flush=True)
        if USER_ENV.exists():
            shutil.rmtree(USER_ENV)
        (USER_ENV / "bin").mkdir(parents=True)
        shutil.copy2(base / "bin" / f"python{ver}", USER_ENV / "bin" / f"python{ver}")
        for alias in ("python", "python3"):
            (USER_ENV / "bin" / alias).symlink_to(f"python{ver}")
        (USER_ENV / "lib").mkdir()
        for lib in (base / "lib").glob("libpython*.so*"):
            if lib.is_symlink():
                (USER_ENV / "lib" / lib.name).symlink_to(os.readlink(lib))
            else:
                shutil.copy2(lib, USER_ENV / "lib" / lib.name)
        shutil.copytree(base / "lib" / f"python{ver}", USER_ENV / "lib" / f"python{ver}", symlinks=True,
                        copy_function=_link_or_copy, ignore=shutil.ignore_patterns("site-packages", "test"))
        own_site = USER_ENV / "lib" / f"python{ver}" / "site-packages"
        own_site.mkdir()
        (own_site / "course-venv.pth").write_text(f"import site; site.addsitedir({site!r})\n")
        for name in ("share", "etc"):
            (USER_ENV / name).symlink_to(VENV / name)
        stamp.write_text(wanted)
    python = USER_ENV / "bin" / "python"
    for script in (VENV / "bin").iterdir():  # .venv's commands (jupyter, nbgrader, alembic, ...) for USER_ENV's Python
        target = USER_ENV / "bin" / script.name
        if script.name.startswith(("python", "activate", "Activate")) or not script.is_file() or script.is_symlink():
            continue
        try:
            first, rest = script.read_text().split("\n", 1)
        except (UnicodeDecodeError, ValueError):
            continue
        interpreter = first[2:].strip().split(" ")[0] if first.startswith("#!") else ""
        if interpreter and Path(interpreter).parent.resolve() == (VENV / "bin").resolve():
            target.write_text(f"#!{python}\n{rest}")
            os.chmod(target, 0o755)
    for root, dirs, files in os.walk(USER_ENV):
        os.chmod(root, 0o755)
    _USERS_ENV = USER_ENV
    if not _runs_for_users(python):
        _USERS_ENV = None
        raise HubError(f"{python} (the users' copy of .venv's Python) cannot import the course's packages as "
                       f"{_probe_user()}; remove {USER_ENV} and try again, or rebuild .venv from a Python every user "
                       f"can run (rm -rf .venv; make env PYTHON=/usr/bin/python{ver})")
    return USER_ENV


_USERS_ENV = None


def users_env_dir():
    """The environment users run from: what ensure_user_env chose (in another process: USER_ENV if it was built)."""
    if _USERS_ENV is not None:
        return _USERS_ENV
    return USER_ENV if (USER_ENV / "hubctl-built-from").is_file() else VENV


def _read_logins():
    path = SECRETS / "logins.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def ensure_users():
    """The instructor's and students' Unix accounts, with passwords (PAM checks them); returns {user: password}."""
    logins = _read_logins()
    changed = False
    for user in USERS:
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            _run(["useradd", "--create-home", "--shell", "/bin/bash", "--comment", MARKER, user], f"creating user {user}")
            entry = pwd.getpwnam(user)
            logins.pop(user, None)
        if entry.pw_gecos != MARKER:
            raise HubError(f"a user named {user!r} already exists and was not made by hubctl (its comment is "
                           f"{entry.pw_gecos!r}, expected {MARKER!r}); hubctl will not change its password. "
                           "Remove that account or run the hub on another machine")
        home = Path(entry.pw_dir)
        if not home.is_dir():
            home.mkdir(parents=True)
            _chown_tree(home, user)
        os.chmod(home, 0o700)  # students must not read each other's work
        if user not in logins:
            logins[user] = secrets.token_urlsafe(9)
            _run(["chpasswd"], f"setting {user}'s password", input=f"{user}:{logins[user]}\n")
            changed = True
    if changed:
        path = SECRETS / "logins.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(logins, indent=1) + "\n")
        os.chmod(tmp, 0o600)
        tmp.replace(path)
    return {u: logins[u] for u in USERS}


def _nbgrader_config(role, exchange, course):
    lines = ['"""Written by deploy/hub/hubctl.py at each start (edits are overwritten): the exchange and the course."""',
             "c = get_config()  # noqa: F821"]
    if role == "instructor":
        # the course's own settings (source = solutions/, release = lessons/, feedback without hidden tests),
        # wherever the instructor's server or command runs
        lines += [f"load_subconfig('nbgrader_config.py', path={str(course)!r})  # noqa: F821",
                  f"c.CourseDirectory.root = {str(course)!r}"]
    else:
        lines += ["c.Execute.timeout = 60  # Validate uses the grading's per-cell limit",
                  "c.Execute.interrupt_on_timeout = True"]
    lines += [f"c.CourseDirectory.course_id = {COURSE_ID!r}", f"c.Exchange.root = {str(exchange)!r}"]
    return "\n".join(lines) + "\n"


def _formgrade_mathjax():
    """nbconvert's `mathjax` macro for formgrader's pages, loading MathJax 2 from the instructor's own server.

    nbgrader 0.9.6's formgrade template calls nbconvert's `mathjax()` without an argument, so its grading pages load
    MathJax 2 from cdnjs (the macro's default; nbgrader ignores the server's `mathjax_url` setting there), which a
    closed network refuses: the page then throws "MathJax is not defined" and loses its keyboard navigation. This
    macro, found first because it lies in a `formgrade` template folder on the instructor's JUPYTER_PATH, gives the
    same macro another default: the copy of MathJax 2 that the jupyter-server-mathjax extension serves. Only the
    `formgrade` template (formgrader's grading pages) finds it: the feedback pages students get (template
    `feedback`) and the instructor's own exports keep nbconvert's default. That copy holds only the STIX-Web fonts
    (as the classic notebook used it), so a configuration block, read before nbconvert's, selects them."""
    url = f"/user/{INSTRUCTOR}/static/jupyter_server_mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"
    fonts = ('<script type="text/x-mathjax-config">MathJax.Hub.Config({"HTML-CSS": {availableFonts: [], '
             'preferredFont: null, imageFont: null, webFont: "STIX-Web"}, SVG: {font: "STIX-Web"}});</script>')
    return ("{#- Written by deploy/hub/hubctl.py (see _formgrade_mathjax): formgrader's MathJax 2 from this server. -#}\n"
            "{%- from 'base/mathjax.html.j2' import mathjax as nbconvert_mathjax -%}\n"
            f"{{%- macro mathjax(url={url!r}) -%}}\n{fonts}\n{{{{ nbconvert_mathjax(url) }}}}\n{{%- endmacro -%}}\n")


def write_configs(state):
    """STATE/jupyter/ROLE: the committed deploy/hub/jupyter/ROLE plus an nbgrader_config.py for this state; for the
    instructor also STATE/jupyter/instructor/share (on their JUPYTER_PATH) with formgrader's local MathJax."""
    for role in ("student", "instructor"):
        dest = state / "jupyter" / role
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(HERE / "jupyter" / role, dest)
        (dest / "nbgrader_config.py").write_text(_nbgrader_config(role, state / "exchange", state / "course"))
        if role == "instructor":
            templates = dest / "share" / "nbconvert" / "templates" / "formgrade"
            templates.mkdir(parents=True)
            (templates / "mathjax.html.j2").write_text(_formgrade_mathjax())
        for root, dirs, files in os.walk(state / "jupyter"):
            os.chmod(root, 0o755)
            for name in files:
                os.chmod(os.path.join(root, name), 0o644)


def setup_exchange(state):
    exchange = state / "exchange"
    exchange.mkdir(exist_ok=True)
    os.chmod(exchange, 0o1777)
    return exchange


def setup_course(state, lessons=None):
    """The instructor's course folder (copied once), its roster, and the lessons released into its gradebook."""
    course = state / "course"
    if not (course / "nbgrader_config.py").is_file():
        course.mkdir(exist_ok=True)
        shutil.copy2(REPO / "nbgrader_config.py", course / "nbgrader_config.py")
        for name in ("solutions", "lessons", "instructors"):
            shutil.copytree(REPO / name, course / name, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        roster = course / "downloaded" / "roster.csv"
        roster.parent.mkdir(exist_ok=True)
        roster.write_text("student_id,name,email\n" + "".join(
            f"{s},Student {s[-1]},{s}@localhost\n" for s in STUDENTS))
        _chown_tree(course, INSTRUCTOR)
    os.chmod(course, 0o700)  # the gradebook and solutions/ hold every hidden test
    known = sorted(p.name for p in (course / "solutions").iterdir() if p.is_dir())
    if isinstance(lessons, str):
        lessons = [lessons]
    bad = [x for x in (lessons or []) if x not in known]
    if bad:
        raise HubError(f"lessons={bad} are not lessons of the course; expected some of {', '.join(known)}")
    r = run_as(state, INSTRUCTOR, [str(users_env_dir() / "bin" / "python"), "-m", "socialcredit", "release", *(lessons or [])],
               cwd=course)
    if r.returncode != 0:
        raise HubError(f"releasing the lessons in {course} as {INSTRUCTOR} failed:\n{(r.stdout + r.stderr)[-3000:]}")
    add = ("from nbgrader.api import Gradebook\nimport sys\nwith Gradebook('sqlite:///gradebook.db') as gb:\n"
           "    for s in sys.argv[1:]: gb.update_or_create_student(s, first_name='Student', last_name=s[-1], "
           "email=s + '@localhost')\n")
    r = run_as(state, INSTRUCTOR, [str(users_env_dir() / "bin" / "python"), "-c", add, *STUDENTS], cwd=course)
    if r.returncode != 0:
        raise HubError(f"adding the students to {course}/gradebook.db failed:\n{(r.stdout + r.stderr)[-3000:]}")
    return course


# ---------------------------------------------------------------------------------------------- users' commands

def user_env(state_dir, user):
    """The environment a hub user's server has (the course's venv first on PATH, their role's config)."""
    if user not in USERS:
        raise HubError(f"user={user!r} is not a hub user; expected one of {', '.join(USERS)}")
    state = _state(state_dir)
    role = "instructor" if user == INSTRUCTOR else "student"
    env = {"PATH": f"{users_env_dir() / 'bin'}:/usr/local/bin:/usr/bin:/bin", "HOME": str(_home(user)), "USER": user,
           "LOGNAME": user, "SHELL": "/bin/bash", "LANG": "C.UTF-8",
           "JUPYTER_CONFIG_PATH": str(state / "jupyter" / role), "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    if users_env_dir() == USER_ENV:
        env["LD_LIBRARY_PATH"] = str(USER_ENV / "lib")  # its copy of .venv's interpreter finds libpython there
    if role == "student":
        env["JUPYTERHUB_USER"] = user  # as in the student's server (the course's load() picks their world by it)
    else:
        # the instructor's lab reads the cohort's world (the numbers lessons and rubrics quote), not one drawn for
        # "instructor"; autograde still sets each submission's student itself
        env["SOCIALCREDIT_STUDENT"] = ""
        env["JUPYTER_PATH"] = str(state / "jupyter" / role / "share")  # formgrader's local MathJax (write_configs)
    return env


def run_as(state_dir, user, args, *, cwd=None, timeout=900, **kw):
    """Run `args` as the hub user `user` (runuser), with that user's environment; returns the CompletedProcess."""
    env = user_env(state_dir, user)
    cwd = Path(cwd) if cwd else _home(user)
    return subprocess.run([_runuser(), "-u", user, "--", *map(str, args)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, **kw)


# ---------------------------------------------------------------------------------------------- hub

def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _hub_pid(state):
    try:
        pid = int((state / "hub.pid").read_text())
    except (OSError, ValueError):
        return None
    return pid if _pid_alive(pid) and pid in _started_from(state) else None


def _started_from(state):
    """Pids of the processes whose environment carries HUBCTL_STATE=state (hub, proxy, servers, kernels)."""
    needle = f"HUBCTL_STATE={state}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            pass
    return found


def _info(state, settings, logins):
    return {"url": settings["url"], "users": logins, "instructor": INSTRUCTOR, "students": list(STUDENTS),
            "course_id": COURSE_ID, "exchange": str(state / "exchange"), "course_dir": str(state / "course"),
            "state": str(state), "log": str(state / "hub.log")}


def log_tail(state_dir, lines=60):
    path = _state(state_dir) / "hub.log"
    if not path.is_file():
        return "(no hub log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _answers(url):
    try:
        with urllib.request.urlopen(f"{url}/hub/api", timeout=3) as r:
            return r.status == 200
    except (OSError, ValueError):
        return False


def start(state_dir=None, *, port=DEFAULT_PORT, ip="127.0.0.1", lessons=None):
    """Set up what is missing and start the hub in the background; returns the info dict once it answers."""
    if os.geteuid() != 0:
        raise HubError("hubctl start must run as root: it creates Unix users, sets their passwords and starts each "
                       "user's server as that user (sudo make hub)")
    if not (VENV / "bin" / "jupyterhub").exists():
        raise HubError(f"{VENV / 'bin' / 'jupyterhub'} is missing; expected the course's environment with its dev "
                       "extras: run `make env` first (`make hub` does)")
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise HubError(f"port={port!r} is not a port number; expected an integer from 1 to 65535")
    state = _state(state_dir)
    if state.exists() and not state.is_dir():
        raise HubError(f"state={str(state)!r} exists and is not a folder; expected a folder (created if missing)")
    if not _hub_pid(state):
        _check_port(port, ip)  # before any set-up: a port in use is the commonest mistake
    state.mkdir(parents=True, exist_ok=True)
    os.chmod(state, 0o755)
    _check_others_can_enter(state, "the hub's state folder")
    _check_others_can_enter(REPO / "src", "the course package")
    _check_others_can_enter(REPO / "datasets", "the course's data")
    with _machine_lock():
        logins = ensure_users()
        proxy = ensure_proxy()
        users_env = ensure_user_env()
    settings_path = state / "hub.json"
    if _hub_pid(state):
        return _info(state, json.loads(settings_path.read_text()), logins)
    _check_port(port, ip)
    setup_exchange(state)
    write_configs(state)
    setup_course(state, lessons)
    (state / "hub").mkdir(exist_ok=True)
    os.chmod(state / "hub", 0o700)
    host = "127.0.0.1" if ip in ("", "0.0.0.0") else ip
    settings = {"url": f"http://{host}:{port}", "ip": ip, "port": port, "hub_port": _free_port(),
                "proxy_api_port": _free_port(), "proxy": str(proxy), "venv": str(users_env), "repo": str(REPO),
                "state": str(state), "course_dir": str(state / "course"), "exchange": str(state / "exchange"),
                "instructor": INSTRUCTOR, "students": STUDENTS, "course_id": COURSE_ID,
                "user_env": {u: user_env(state, u) for u in USERS}}
    settings_path.write_text(json.dumps(settings, indent=1) + "\n")
    os.chmod(settings_path, 0o600)
    env = {"PATH": f"{VENV / 'bin'}:{proxy.parent}:/usr/local/bin:/usr/bin:/bin", "HOME": "/root", "LANG": "C.UTF-8",
           "HUBCTL_STATE": str(state)}
    log = open(state / "hub.log", "ab")
    proc = subprocess.Popen([str(VENV / "bin" / "jupyterhub"), "-f", str(HERE / "jupyterhub_config.py")],
                            cwd=state / "hub", env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    log.close()
    (state / "hub.pid").write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + START_TIMEOUT
    while not _answers(settings["url"]):
        if proc.poll() is not None:
            raise HubError(f"JupyterHub exited (status {proc.returncode}) before answering on {settings['url']}; "
                           f"the end of {state / 'hub.log'}:\n{log_tail(state)}")
        if time.monotonic() > deadline:
            stop(state)
            raise HubError(f"JupyterHub did not answer on {settings['url']} within {START_TIMEOUT} s (stopped it); "
                           f"the end of {state / 'hub.log'}:\n{log_tail(state)}")
        time.sleep(0.5)
    return _info(state, settings, logins)


def _signal_all(pids, sig):
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def stop(state_dir=None, *, timeout=30):
    """Stop the hub and everything started from this state folder; returns the number of processes stopped."""
    state = _state(state_dir)
    pid = _hub_pid(state)
    before = set(_started_from(state))
    if pid:  # the hub first: it stops the single-user servers and the proxy itself
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _pid_alive(pid) and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.2)
    left = _started_from(state)
    if left:  # whatever the hub did not stop (servers of a killed hub, kernels, terminals)
        _signal_all(left, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while (left := _started_from(state)) and time.monotonic() < deadline:
            time.sleep(0.2)
        _signal_all(left, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    with contextlib.suppress(FileNotFoundError):
        (state / "hub.pid").unlink()
    return len(before)


def status(state_dir=None):
    """The info dict with "running": True/False."""
    state = _state(state_dir)
    settings_path = state / "hub.json"
    if not settings_path.is_file():
        return {"running": False, "state": str(state)}
    info = _info(state, json.loads(settings_path.read_text()), {u: p for u, p in _read_logins().items() if u in USERS})
    info["running"] = bool(_hub_pid(state)) and _answers(info["url"])
    return info


# ---------------------------------------------------------------------------------------------- command line

def _print_logins(info):
    print(f"\nThe course's JupyterHub runs at {info['url']}  (log: {info['log']})")
    print(f"  {'user':12} {'password':14} role")
    for user, password in info["users"].items():
        print(f"  {user:12} {password:14} {'instructor: formgrader, course folder ' + info['course_dir'] if user == info['instructor'] else 'student'}")
    print("Stop it with `make hub-stop` (or .venv/bin/python deploy/hub/hubctl.py stop).\n")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="hubctl.py", description="The course's JupyterHub on this machine "
                                     "(deploy/hub/README.md).")
    sub = parser.add_subparsers(dest="command", required=True)
    p_start = sub.add_parser("start", help="set up what is missing and start the hub; prints its URL and logins")
    p_start.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"public port (default {DEFAULT_PORT})")
    p_start.add_argument("--ip", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p_start.add_argument("--lessons", nargs="*", metavar="LESSON", help="release only these lessons (default all)")
    p_start.add_argument("--json", action="store_true", help="print only the info as JSON")
    p_stop = sub.add_parser("stop", help="stop the hub and every server it started (users' files stay)")
    p_status = sub.add_parser("status", help="whether the hub runs; its URL and logins as JSON")
    p_as = sub.add_parser("as", help="run a command as a hub user, with that user's course configuration")
    p_as.add_argument("user", help=f"one of {', '.join(USERS)}")
    p_as.add_argument("--cwd", help="folder to run in (default the user's home)")
    p_as.add_argument("cmd", nargs="*", help="-- COMMAND ... (everything after --)")
    for p in (p_start, p_stop, p_status, p_as):
        p.add_argument("--state", default=os.environ.get("HUB_STATE") or None,
                       help=f"state folder (default {DEFAULT_STATE.relative_to(REPO)})")
    argv = sys.argv[1:] if argv is None else list(argv)
    command = []
    if "--" in argv:  # `as USER [options] -- COMMAND ...`: the command's own options are not hubctl's
        cut = argv.index("--")
        argv, command = argv[:cut], argv[cut + 1:]
    args = parser.parse_args(argv)
    try:
        if args.command == "start":
            info = start(args.state, port=args.port, ip=args.ip, lessons=args.lessons)
            if args.json:
                print(json.dumps(info))
            else:
                _print_logins(info)
                print(json.dumps(info))
        elif args.command == "stop":
            n = stop(args.state)
            print(f"stopped the hub from {_state(args.state)} ({n} processes)" if n else
                  f"no hub was running from {_state(args.state)}")
        elif args.command == "status":
            info = status(args.state)
            print(json.dumps(info))
            return 0 if info["running"] else 3
        elif args.command == "as":
            cmd = args.cmd + command
            if not cmd:
                parser.error("as: expected a command after --, e.g. hubctl.py as student1 -- nbgrader list")
            r = run_as(args.state, args.user, cmd, cwd=args.cwd, timeout=None)
            sys.stdout.write(r.stdout)
            sys.stderr.write(r.stderr)
            return r.returncode
    except HubError as exc:
        print(f"hubctl {args.command}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
