"""The grading sandbox: every autograded submission runs its kernel in an OS-level sandbox (issue #12).

What a grading kernel can see and do
------------------------------------
The kernel is started under `bubblewrap <https://github.com/containers/bubblewrap>`_ (``bwrap``, Debian's
``bubblewrap`` package), the sandbox Flatpak uses. It needs no daemon and no root (unprivileged user namespaces
suffice), starts in milliseconds, and builds the kernel's file system from an explicit list, so what is not
listed does not exist for the student's code:

- **Files:** read-only: the system's ``/usr`` (and ``/bin``, ``/lib``...), a few files of ``/etc`` (fonts,
  time zone), the Python installation and virtual environment, the course package, the cohort's datasets and
  the student's own pre-drawn world. Read-only: the folder of the submission being graded (nbgrader's
  ``autograded/<student>/<lesson>/`` copy). Writable: a fresh ``/tmp`` (the home folder is in it) of at most
  ``scratch_mb``. Not there at all: solutions/, tests/, instructors/, the gradebook, other students'
  submissions, the instructor's home, the repository's .git, every other file of the machine.
- **Environment:** cleared, then only what a kernel needs (PATH, HOME, locale, thread counts, the student's
  id for their world). The grader's variables (tokens, passwords, paths) are not passed.
- **Network:** none (a network namespace of its own: no DNS, no outside, no loopback ports of the machine).
  The kernel talks to the grader over Unix sockets in a private folder (ZeroMQ's ``ipc`` transport).
- **Processes:** its own PID namespace; killing the sandbox kills everything it started. At most ``processes``
  processes (a ``pids`` cgroup when the grader may create one, as root on Linux; else ``RLIMIT_NPROC``, which
  Linux does not enforce for root). ``RLIMIT_NPROC`` is set inside the sandbox's user namespace, where Linux 5.14
  and later count only the sandbox's processes; on older kernels it counts every process of the grading user, so
  the limit leaves room for what that user already runs.
- **Memory:** at most ``memory_mb`` (a ``memory`` cgroup when possible; else ``RLIMIT_AS`` at twice that, since
  address space is larger than memory used).
- **Files written:** each at most ``file_mb`` (``RLIMIT_FSIZE``), all together at most ``scratch_mb``.
- **Output:** at most ``output_mb`` of cell output per notebook; past it the kernel is stopped (see
  :mod:`socialcredit.worlds_nbgrader`).

Where bubblewrap cannot run (macOS, Windows, a container without user namespaces), grading stops with an error
that says so, unless the instructor explicitly allows unsandboxed grading (``SandboxedExecute.sandbox = "off"``
in nbgrader_config.py, or ``SOCIALCREDIT_SANDBOX=off``); each submission graded that way says so in its
status detail.

What happened inside is reported by name: :class:`Sandbox` collects events (memory or process limit reached,
output cap, kernel killed) which autograde puts in the submission's status detail.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager

SANDBOX_VAR = "SOCIALCREDIT_SANDBOX"
_CGROUP_ROOT = Path("/sys/fs/cgroup")
_ETC = ("/etc/fonts", "/etc/localtime", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
        "/etc/alternatives", "/etc/mime.types", "/etc/matplotlibrc")
_SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
#: environment variables a grading kernel keeps (with their value in the grader); everything else is dropped
_KEEP_ENV = ("LD_LIBRARY_PATH", "LANG", "LC_ALL", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "PYDEVD_DISABLE_FILE_VALIDATION", "SOCIALCREDIT_STUDENT", "TZ")


def _package_dir():
    import socialcredit
    return Path(socialcredit.__file__).resolve().parent


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create a sandbox on this machine."""


@dataclass
class Limits:
    memory_mb: int = 3072
    processes: int = 64
    scratch_mb: int = 256
    file_mb: int = 128
    output_mb: int = 8
    #: a kernel whose memory peaks above this is named, though it stays within memory_mb (cgroups only): the
    #: lessons' solutions need under 500 MB, so twice that is worth an instructor's look
    report_memory_mb: int = 1024

    def __post_init__(self):
        for name, value in asdict(self).items():
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"sandbox limit {name}={value!r}: expected a positive whole number")


_CHECKED = {}


def check_available():
    """Raise :class:`SandboxUnavailable` (saying why and what to do) unless bubblewrap works here."""
    if "result" in _CHECKED:
        if _CHECKED["result"]:
            raise SandboxUnavailable(_CHECKED["result"])
        return
    bwrap = shutil.which("bwrap")
    problem = ""
    if sys.platform != "linux":
        problem = f"the grading sandbox needs Linux (bubblewrap); this machine runs {sys.platform}"
    elif not bwrap:
        problem = ("the grading sandbox needs bubblewrap, which is not installed "
                   "(Debian/Ubuntu: `apt-get install bubblewrap`; Fedora: `dnf install bubblewrap`)")
    else:
        try:
            run = subprocess.run([bwrap, "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "--dev",
                                  "/dev", "--proc", "/proc", "true"], capture_output=True, text=True, timeout=30)
            if run.returncode != 0:
                problem = ("bubblewrap is installed but cannot create a sandbox here: "
                           + (run.stderr.strip().splitlines() or ["exit code %d" % run.returncode])[-1]
                           + " (user namespaces may be disabled: kernel.unprivileged_userns_clone or "
                             "user.max_user_namespaces)")
        except (OSError, subprocess.TimeoutExpired) as exc:
            problem = f"bubblewrap could not be run: {exc}"
    if problem:
        problem += (f". To grade without the sandbox anyway (students' code can then read the solutions, the "
                    f"gradebook and the network), set {SANDBOX_VAR}=off or SandboxedExecute.sandbox = 'off'.")
    _CHECKED["result"] = problem
    if problem:
        raise SandboxUnavailable(problem)


# --------------------------------------------------------------------------------------------- cgroups

def _cgroup_dirs(name):
    """{controller: folder} for a new cgroup per controller (memory, pids), or {} when we may not make them."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return {}
    out = {}
    if (_CGROUP_ROOT / "cgroup.controllers").is_file():  # cgroup v2 (unified)
        base = _CGROUP_ROOT / "socialcredit-grading"
        try:
            base.mkdir(exist_ok=True)
            (base / "cgroup.subtree_control").write_text("+memory +pids")
            group = base / name
            group.mkdir()
            out = {"memory": group, "pids": group, "v2": group}
        except OSError:
            return {}
        return out
    for controller in ("memory", "pids"):
        base = _CGROUP_ROOT / controller
        if not base.is_dir():
            continue
        try:
            group = base / "socialcredit-grading" / name
            group.mkdir(parents=True)
            out[controller] = group
        except OSError:
            continue
    return out


def _cgroup_limit(groups, limits):
    if "v2" in groups:
        g = groups["v2"]
        (g / "memory.max").write_text(str(limits.memory_mb * 2 ** 20))
        try:
            (g / "memory.swap.max").write_text("0")
        except OSError:
            pass
        (g / "pids.max").write_text(str(limits.processes))
        return
    if "memory" in groups:
        (groups["memory"] / "memory.limit_in_bytes").write_text(str(limits.memory_mb * 2 ** 20))
        try:
            (groups["memory"] / "memory.memsw.limit_in_bytes").write_text(str(limits.memory_mb * 2 ** 20))
        except OSError:
            pass
    if "pids" in groups:
        (groups["pids"] / "pids.max").write_text(str(limits.processes))


def _read(path):
    try:
        return path.read_text()
    except OSError:
        return ""


def _cgroup_events(groups, limits):
    events = []
    if "v2" in groups:
        mem = dict(ln.split() for ln in _read(groups["v2"] / "memory.events").splitlines() if ln.strip())
        pids = dict(ln.split() for ln in _read(groups["v2"] / "pids.events").splitlines() if ln.strip())
        if int(mem.get("oom_kill", 0)) or int(mem.get("max", 0)):
            events.append(f"stopped by the grading sandbox: it used more than its {limits.memory_mb} MB of memory")
        else:
            events.extend(_peak_event(_read(groups["v2"] / "memory.peak"), limits))
        if int(pids.get("max", 0)):
            events.append(f"the grading sandbox refused it more than {limits.processes} processes at once")
        return events
    if "memory" in groups:
        oom = dict(ln.split() for ln in _read(groups["memory"] / "memory.oom_control").splitlines() if ln.strip())
        if int(oom.get("oom_kill", 0) or 0) or int(_read(groups["memory"] / "memory.failcnt") or 0):
            events.append(f"stopped by the grading sandbox: it used more than its {limits.memory_mb} MB of memory")
        else:
            events.extend(_peak_event(_read(groups["memory"] / "memory.max_usage_in_bytes"), limits))
    if "pids" in groups:
        pids = dict(ln.split() for ln in _read(groups["pids"] / "pids.events").splitlines() if ln.strip())
        if int(pids.get("max", 0) or 0):
            events.append(f"the grading sandbox refused it more than {limits.processes} processes at once")
    return events


def _peak_event(text, limits):
    """[an event naming a memory peak above limits.report_memory_mb], or [] (also when the kernel reports none)."""
    try:
        peak_mb = int(text.strip()) / 2 ** 20
    except ValueError:
        return []
    if peak_mb <= limits.report_memory_mb:
        return []
    return [f"used {peak_mb:,.0f} MB of memory at its peak (allowed: {limits.memory_mb} MB; reported above "
            f"{limits.report_memory_mb} MB, as the lessons need under 500 MB)"]


def _cgroup_remove(groups):
    import signal
    for group in {str(g): g for g in groups.values()}.values():
        for pid in _read(group / "cgroup.procs").split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        for _ in range(50):
            try:
                group.rmdir()
                break
            except OSError:
                import time
                time.sleep(0.1)


# ------------------------------------------------------------------------------------------ the sandbox

@dataclass
class Sandbox:
    """One grading kernel's sandbox: its private folder, bind list, limits and what happened in it."""

    workdir: Path
    env: dict
    limits: Limits = field(default_factory=Limits)
    private: Path = None
    events: list = field(default_factory=list)

    def __post_init__(self):
        self.workdir = Path(self.workdir).resolve()
        if self.private is None:
            self.private = Path(tempfile.mkdtemp(prefix="socialcredit-sandbox-"))
            os.chmod(self.private, 0o700)
        self.name = uuid.uuid4().hex[:12]
        self.cgroups = _cgroup_dirs(self.name)
        if self.cgroups:
            _cgroup_limit(self.cgroups, self.limits)

    # the paths a Python kernel needs, read-only
    def _readonly(self):
        paths = [p for p in _SYSTEM + _ETC if os.path.exists(p)]
        for p in {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))}:
            paths.append(os.path.realpath(p))
            paths.append(p)
        # site-packages added by .pth files (the hub's users run a copy of the interpreter whose .pth file points
        # at .venv's packages); never a plain folder of sys.path, which can be the course folder itself
        for entry in sys.path:
            if entry and ("site-packages" in entry or "dist-packages" in entry) and os.path.isdir(entry):
                paths.append(entry)
                paths.append(os.path.realpath(entry))
        paths.append(str(_package_dir()))
        return paths

    def _worlds(self):
        """(cohort folder, the student's world folder or None): drawn here, by the grader, before the kernel runs,
        so that the kernel only ever reads them."""
        from . import data
        # the kernel's environment and folder, without changing the grader's own (formgrader grades in a server
        # process whose other threads must not see them change)
        environ = {**os.environ, **{k: self.env[k] for k in (data.ENV_VAR, data.STUDENT_VAR, data.CACHE_VAR)
                                    if k in self.env}}
        # the search for datasets/ starts ABOVE the submission folder: nbgrader copies every file a student hands
        # in beside the notebook into it, and a datasets/ folder there would make the tests' data the student's
        cohort = data.cohort_dir(environ=environ, cwd=Path(self.workdir).resolve().parent).resolve()
        student = (self.env.get(data.STUDENT_VAR) or "").strip() or None
        cache = data.cache_root(environ=environ)
        world = Path(data._world_dir(cohort, student, cache)).resolve()
        return cohort, (world if world != cohort else None), cache

    def kernel_env(self, cohort, cache):
        env = {k: self.env[k] for k in _KEEP_ENV if k in self.env}
        env.update({
            "PATH": os.pathsep.join([os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"]),
            "HOME": "/tmp/home", "TMPDIR": "/tmp", "MPLCONFIGDIR": "/tmp/home/.config/matplotlib",
            "MPLBACKEND": "module://matplotlib_inline.backend_inline",
            "SOCIALCREDIT_DATA": str(cohort), "SOCIALCREDIT_CACHE": str(cache),
            "PYTHONDONTWRITEBYTECODE": "1", "JPY_SESSION_NAME": "submission",
            # files handed in beside the notebook (an ipykernel_launcher.py) must not replace modules at start-up
            "PYTHONSAFEPATH": "1",
            # the course package the grader imported (bound read-only) is the one the kernel imports, even when the
            # grader runs a checkout other than the installed one (PYTHONPATH=<checkout>/src)
            "PYTHONPATH": str(_package_dir().parent),
        })
        env.setdefault("LANG", "C.UTF-8")
        return env

    def wrap(self, kernel_cmd):
        """The command line that starts ``kernel_cmd`` inside the sandbox (through :func:`_enter`)."""
        cohort, world, cache = self._worlds()
        bwrap = shutil.which("bwrap")
        args = [bwrap, "--die-with-parent", "--new-session", "--unshare-all", "--hostname", "grading",
                "--cap-drop", "ALL", "--dev", "/dev", "--proc", "/proc",
                "--size", str(self.limits.scratch_mb * 2 ** 20), "--tmpfs", "/tmp",
                "--dir", "/tmp/home"]
        seen = set()
        for p in self._readonly() + [str(cohort)] + ([str(world)] if world else []):
            if p and p not in seen and os.path.exists(p):
                seen.add(p)
                args += ["--ro-bind", p, p]
        args += ["--ro-bind", str(self.workdir), str(self.workdir),
                 "--bind", str(self.shared), str(self.shared),
                 # bubblewrap builds the tree on a tmpfs of its own: make it read-only, so only /tmp can be written
                 "--remount-ro", "/", "--chdir", str(self.workdir), "--clearenv"]
        for k, v in self.kernel_env(cohort, cache).items():
            args += ["--setenv", k, v]
        spec = {"limits": asdict(self.limits),
                "cgroups": [str(g / "cgroup.procs") for g in {str(g): g for g in self.cgroups.values()}.values()]}
        kernel_cmd = list(kernel_cmd)
        if (not self.cgroups and os.geteuid() != 0 and _nproc_per_namespace()
                and re.fullmatch(r"python[0-9.]*", os.path.basename(kernel_cmd[0]))):
            # no pids cgroup: the process limit is set inside the sandbox's user namespace, where it counts the
            # sandbox's own processes only (see _enter), by the kernel's Python before it becomes the kernel (a
            # kernel started through another program keeps the limit set outside)
            spec["nproc_inside"] = True
            kernel_cmd = [kernel_cmd[0], "-I", "-S", "-c", _NPROC_SHIM, str(self.limits.processes)] + kernel_cmd
        return [sys.executable, "-m", "socialcredit.sandbox", json.dumps(spec), "--"] + args + kernel_cmd

    @property
    def shared(self):
        """The one folder of the grader's the kernel can write: its connection file and sockets."""
        return self.private / "ipc"

    def finish(self):
        """Collect the cgroup's verdicts into ``events``; remove the cgroup and the private folder (always, even
        when one step fails)."""
        try:
            if self.cgroups:
                self.events.extend(e for e in _cgroup_events(self.cgroups, self.limits) if e not in self.events)
            used = _folder_mb(self.shared)
            if used > 1:
                self.events.append(f"wrote {used:.0f} MB into its connection folder (outside its scratch space)")
        finally:
            try:
                if self.cgroups:
                    _cgroup_remove(self.cgroups)
                    self.cgroups = {}
                self.kernel_log = _tail(self.private / "kernel.log")
            finally:
                shutil.rmtree(self.private, ignore_errors=True)


def _folder_mb(folder):
    total = 0
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total / 2 ** 20


def _tail(path, size=4000):
    """The end of the kernel's log, read without following links (the log lives where the kernel cannot reach it;
    this is a second line of defence)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return ""
    try:
        import stat
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return ""
        os.lseek(fd, max(0, os.fstat(fd).st_size - size), os.SEEK_SET)
        return os.read(fd, size).decode("utf-8", "replace")
    except OSError:
        return ""
    finally:
        os.close(fd)


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel runs inside a :class:`Sandbox` and talks over Unix sockets."""

    def __init__(self, *, limits=None, on_sandbox=None, **kwargs):
        # <private>/kernel.log is the grader's alone; <private>/ipc (the connection file and the sockets) is the
        # only folder of the grader's that the sandbox sees
        self._private = Path(tempfile.mkdtemp(prefix="socialcredit-sandbox-"))
        os.chmod(self._private, 0o700)
        (self._private / "ipc").mkdir(mode=0o700)
        super().__init__(transport="ipc", ip=str(self._private / "ipc" / "kernel"),
                         connection_file=str(self._private / "ipc" / "kernel.json"), **kwargs)
        self._limits = limits or Limits()
        self._on_sandbox = on_sandbox

    async def _async_pre_start_kernel(self, **kw):
        # bubblewrap does not pass signals on to the kernel: interrupt it with a control-channel message instead
        # (ipykernel then sends SIGINT to itself)
        self.kernel_spec.interrupt_mode = "message"
        cwd = kw.get("cwd") or os.getcwd()
        env = kw.get("env") or dict(os.environ)
        kernel_cmd, kw = await super()._async_pre_start_kernel(**kw)
        sandbox = Sandbox(workdir=cwd, env=env, limits=self._limits, private=self._private)
        if self._on_sandbox:
            self._on_sandbox(sandbox)
        kw.pop("cwd", None)
        # the launcher (trusted, outside the sandbox) runs with the grader's environment, so that it imports this
        # package as the grader does; bubblewrap then clears it for the kernel (--clearenv, kernel_env)
        kw["env"] = dict(os.environ)
        # the kernel's own start-up chatter (connection info, warnings) goes to a log in its private folder
        kw["stdout"] = subprocess.DEVNULL
        kw["stderr"] = open(self._private / "kernel.log", "ab")  # noqa: SIM115 (the kernel process owns it)
        self._sandbox = sandbox
        return sandbox.wrap(kernel_cmd), kw

    async def _async_post_start_kernel(self, **kw):
        await super()._async_post_start_kernel(**kw)
        # the connection folder must stay writable for the kernel's sockets, so it is the one place outside the
        # size-limited /tmp where the kernel could store data: watch it, and stop the kernel past scratch_mb
        process = getattr(self.provisioner, "process", None)
        if process is not None and getattr(self, "_sandbox", None) is not None:
            threading.Thread(target=_watch_connection_folder, args=(self._sandbox, process), daemon=True,
                             name="socialcredit-sandbox-watch").start()


def _watch_connection_folder(sandbox, process, every=0.25):
    """(thread) Stop the sandbox when its connection folder holds more than the scratch allowance; ends with it."""
    while process.poll() is None:
        time.sleep(every)
        if _folder_mb(sandbox.shared) > sandbox.limits.scratch_mb:
            sandbox.events.append(f"stopped by the grading sandbox: it wrote more than {sandbox.limits.scratch_mb} MB "
                                  "into its connection folder")
            try:
                process.kill()
            except OSError:
                pass
            return


# ---------------------------------------------------------------------- the launcher (outside the sandbox)

#: (run by the kernel's Python inside the sandbox, before the kernel) the process limit, then the kernel itself
_NPROC_SHIM = ("import os, resource, sys; n = int(sys.argv[1]); resource.setrlimit(resource.RLIMIT_NPROC, (n, n)); "
               "os.execv(sys.argv[2], sys.argv[2:])")


def _nproc_per_namespace(release=None):
    """Whether this Linux counts RLIMIT_NPROC per user namespace (5.14 and later): then a limit set inside the
    sandbox (a user namespace of its own) counts the sandbox's processes only. Before, it counted every process
    and thread of the grading user, so a grader busy with other kernels could hit it."""
    m = re.match(r"(\d+)\.(\d+)", release if release is not None else os.uname().release)
    return bool(m) and (int(m[1]), int(m[2])) >= (5, 14)


def _enter(spec, argv):
    """Apply resource limits and join the cgroups, then become bubblewrap (run as ``python -m
    socialcredit.sandbox SPEC -- bwrap ...``): everything the sandbox starts inherits them."""
    import resource
    limits = Limits(**spec["limits"])
    for procs in spec.get("cgroups", []):
        with open(procs, "w") as f:
            f.write(str(os.getpid()))
    mb = 2 ** 20
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_mb * mb, limits.file_mb * mb))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if not spec.get("cgroups"):
        resource.setrlimit(resource.RLIMIT_AS, (2 * limits.memory_mb * mb, 2 * limits.memory_mb * mb))
        # (spec["nproc_inside"]: the limit is set inside, and must not be set here: a user namespace's creator's
        # RLIMIT_NPROC also caps every process of the user, the grader's other kernels included)
        if os.geteuid() != 0 and not spec.get("nproc_inside"):
            import psutil
            # RLIMIT_NPROC counts every thread of this user: leave room for what they already run
            mine = sum(p.info["num_threads"] or 1 for p in psutil.process_iter(["uids", "num_threads"])
                       if p.info["uids"] and p.info["uids"].real == os.getuid())
            resource.setrlimit(resource.RLIMIT_NPROC, (mine + limits.processes, mine + limits.processes))
    # bubblewrap itself (PID 1 of the sandbox, whose /proc/1/environ the kernel can read) gets no secrets
    os.execve(argv[0], argv, {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})


if __name__ == "__main__":
    _sep = sys.argv.index("--")
    _enter(json.loads(sys.argv[1]), sys.argv[_sep + 1:])
