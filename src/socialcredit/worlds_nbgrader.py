"""nbgrader's autograde runs each submission on its student's own world (see ``socialcredit.data``).

``nbgrader_config.py`` puts :class:`StudentWorldExecute` in place of nbgrader's ``Execute`` in
``Autograde.autograde_preprocessors``, so every way of autograding (``make autograde``, formgrader's
*Autograde* button, a bare ``nbgrader autograde``) gives the grading kernel ``SOCIALCREDIT_STUDENT=<student id>``.
Only the kernel's environment is changed, never the grading process's: formgrader runs inside the instructor's
server, whose own kernels must keep reading the cohort's world.
"""
from __future__ import annotations

import os

from jupyter_core.utils import ensure_async
from nbgrader.preprocessors import Execute
from traitlets import Enum, Float, Integer, Unicode

from .data import STUDENT_VAR
from .sandbox import SANDBOX_VAR, Limits, SandboxedKernelManager, check_available


class StudentWorldExecute(Execute):
    """nbgrader's Execute, with the kernel started on the world of the student whose notebook it runs."""

    def setup_kernel(self, **kwargs):
        student = ((self.resources or {}).get("nbgrader") or {}).get("student")
        if student and "env" not in kwargs:
            kwargs["env"] = {**os.environ, STUDENT_VAR: str(student)}
        return super().setup_kernel(**kwargs)


# --------------------------------------------------------------------------------- the grading sandbox

#: (student, lesson) -> what the sandbox saw while grading it (read and cleared by socialcredit.grading)
EVENTS = {}
#: (student, lesson) -> the tamper scan's one-line summary of the submission (socialcredit.tamper_scan)
SCANS = {}
#: entries kept in each of EVENTS and SCANS: make autograde's workers read and clear theirs, but formgrader's server
#: process grades with nobody reading them, so the oldest go
_KEEP = 512


def _remember(table, key, value):
    table.pop(key, None)
    table[key] = value
    while len(table) > _KEEP:
        table.pop(next(iter(table)))


class SandboxedExecute(StudentWorldExecute):
    """nbgrader's Execute with the kernel in the grading sandbox (:mod:`socialcredit.sandbox`), an output cap,
    and a kernel that ignores the per-cell interrupt stopped instead of waited for."""

    sandbox = Unicode("required", help="'required': grade only in the sandbox (an error where bubblewrap cannot "
                      "run); 'off': grade without it (each submission's detail says so). SOCIALCREDIT_SANDBOX "
                      "overrides it.").tag(config=True)
    memory_mb = Integer(Limits.memory_mb, help="memory of one grading kernel, all its processes").tag(config=True)
    processes = Integer(Limits.processes, help="processes (and threads) of one grading kernel").tag(config=True)
    scratch_mb = Integer(Limits.scratch_mb, help="writable scratch space (/tmp) of one kernel").tag(config=True)
    file_mb = Integer(Limits.file_mb, help="largest file a grading kernel may write").tag(config=True)
    output_mb = Integer(Limits.output_mb, help="cell output kept per notebook; past it the kernel is stopped"
                        ).tag(config=True)
    report_memory_mb = Integer(Limits.report_memory_mb, help="a kernel whose memory peaks above this is named in the "
                               "grading detail (memory cgroups only)").tag(config=True)
    interrupt_grace = Float(10.0, help="seconds a kernel has to answer the per-cell time-out's interrupt "
                            "before it is stopped").tag(config=True)
    # nothing of a grading kernel is needed once its last cell has answered: it is stopped at once, where nbclient's
    # default ("graceful") asked it to exit and waited about a second (a submission's atexit handlers never run)
    shutdown_kernel = Enum(["graceful", "immediate"], default_value="immediate",
                           help="how the kernel is stopped after the last cell").tag(config=True)

    def _mode(self):
        mode = (os.environ.get(SANDBOX_VAR) or self.sandbox).strip().lower()
        if mode not in ("required", "off"):
            raise ValueError(f"{SANDBOX_VAR} / SandboxedExecute.sandbox = {mode!r}: expected 'required' or 'off'")
        return mode

    def _key(self):
        info = (self.resources or {}).get("nbgrader") or {}
        return (str(info.get("student")), str(info.get("assignment")))

    def _event(self, text):
        if text not in self._events:
            self._events.append(text)
            self.log.warning("grading: %s", text)

    def preprocess(self, nb, resources=None, km=None):
        self._events, self._output_bytes, self._stopped, self._sandbox = [], 0, False, None
        self.resources = resources
        off = self._mode() == "off"
        if off:
            self._event("graded WITHOUT the sandbox (sandbox = 'off'): its code could read and change anything "
                        "the grader can")
        else:
            check_available()
        handed_in = _data_handed_in((resources or {}).get("metadata", {}).get("path"))
        if handed_in:
            self._event(f"handed in {handed_in} beside the notebook: ignored, the tests read the course's own data")
        self._cell_index, self._exit_code = -1, None
        # the tamper scan (a reporting aid: its first run in a process reads the world's tables, about 0.7 s) reads a
        # copy of the submission while the kernel starts and the cells run; its line is kept when grading ends
        import copy
        import threading
        scan = {}
        scanner = threading.Thread(target=self._scan, args=(copy.deepcopy(nb), scan), daemon=True,
                                   name="tamper-scan")
        scanner.start()
        failed = False
        try:
            return super().preprocess(nb, resources, km)
        except BaseException:
            failed = True
            raise
        finally:
            scanner.join()
            found = scan.get("found", "")
            _remember(SCANS, self._key(), found)
            if found:
                self.log.warning("tamper scan: %s", found)
            if self._sandbox is not None:
                self._sandbox.finish()
                for e in self._sandbox.events:
                    self._event(e)
            process = getattr(getattr(self.km, "provisioner", None), "process", None)
            code = process.poll() if process is not None else self._exit_code
            if failed and self._sandbox is not None and self._cell_index < 0:
                log = [ln for ln in getattr(self._sandbox, "kernel_log", "").splitlines() if ln.strip()]
                self._event("environment failure: the grading kernel did not start in the sandbox"
                            + (f": {log[-1].strip()[:300]}" if log else ""))
            elif failed and not self._stopped and self._mode() != "off" and code is not None:
                # grading stopped on an error and nobody stopped the kernel: it ended by itself
                cell = self.nb.cells[self._cell_index] if 0 <= self._cell_index < len(self.nb.cells) else None
                how = f"signal {-code}" if code < 0 else f"exit status {code}"
                self._event(f"the kernel died while running {_cell_label(cell, self._cell_index)} ({how}): "
                            "the submission's code ended it (os._exit, a signal) or it crashed")
            _remember(EVENTS, self._key(), list(dict.fromkeys(EVENTS.get(self._key(), []) + self._events)))

    def _scan(self, nb, out):
        """(a thread) The tamper scan's summary of the submission ``nb`` into ``out["found"]``."""
        from .tamper_scan import scan_notebook, summarise
        try:
            release, world = self._scan_context()
            out["found"] = summarise(scan_notebook(nb, release=release, world=world))
        except Exception as error:  # noqa: BLE001 (a reporting aid: never a reason to stop grading)
            self.log.warning("tamper scan: failed (%s: %s)", type(error).__name__, error)
            out["found"] = f"tamper scan failed ({type(error).__name__})"

    def _scan_context(self):
        """What the tamper scan's check for hard-coded answers compares a submission with: the lesson's release
        notebook (its answer stubs) and the values of the cohort's world tables; None for what cannot be read."""
        from .tamper_scan import world_values
        info = (self.resources or {}).get("nbgrader") or {}
        release = world = None
        try:
            import nbformat
            from nbgrader.coursedir import CourseDirectory
            coursedir = CourseDirectory(config=self.config)
            path = os.path.join(coursedir.format_path(coursedir.release_directory, ".", str(info.get("assignment"))),
                                f"{info.get('notebook')}.ipynb")
            if info.get("assignment") and info.get("notebook") and os.path.isfile(path):
                release = nbformat.read(path, as_version=4)
        except Exception as error:  # a reporting aid: never a reason to stop grading
            self.log.debug("tamper scan: no release notebook (%s)", error)
        try:
            from .data import cohort_dir
            world = world_values(cohort_dir()) or None
        except Exception as error:
            self.log.debug("tamper scan: no world tables (%s)", error)
        return release, world

    def create_kernel_manager(self):
        if self._mode() == "off":
            return super().create_kernel_manager()
        limits = Limits(memory_mb=self.memory_mb, processes=self.processes, scratch_mb=self.scratch_mb,
                        file_mb=self.file_mb, output_mb=self.output_mb, report_memory_mb=self.report_memory_mb)
        if not self.kernel_name:
            self.kernel_name = self.nb.metadata.get("kernelspec", {}).get("name") or "python3"
        self.km = SandboxedKernelManager(kernel_name=self.kernel_name, config=self.config, limits=limits,
                                         on_sandbox=self._on_sandbox)
        return self.km

    def preprocess_cell(self, cell, resources, index):
        self._cell_index = index
        return super().preprocess_cell(cell, resources, index)

    async def _async_check_alive(self):
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        if process is not None and process.poll() is not None:
            self._exit_code = process.returncode  # kept: the process is gone once the kernel is cleaned up
        return await super()._async_check_alive()

    def _on_sandbox(self, sandbox):
        self._sandbox = sandbox

    def _stop_kernel(self, why):
        """Stop the kernel at once (SIGKILL to bubblewrap, which takes everything in the sandbox with it)."""
        self._event(why)
        self._stopped = True
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        if process is not None:
            try:
                process.kill()
            except OSError:
                pass

    def process_message(self, msg, cell, cell_index):
        """Every message of a cell counts towards the output cap (streams, displays and their updates, metadata,
        errors, widget state), not only what is stored."""
        if self._stopped:
            return None
        self._output_bytes += len(repr(msg.get("content", ""))) + sum(len(b) for b in msg.get("buffers") or [])
        if self._output_bytes > self.output_mb * 2 ** 20:
            self._stop_kernel(f"stopped by the grading sandbox: it printed more than {self.output_mb} MB of output "
                              f"({_cell_label(cell, cell_index)})")
            return None
        return super().process_message(msg, cell, cell_index)

    async def _async_handle_timeout(self, timeout, cell=None):
        reply = await super()._async_handle_timeout(timeout, cell)
        import asyncio
        deadline = self.interrupt_grace
        while deadline > 0:
            if await ensure_async(self.kc.shell_channel.msg_ready()) or not await ensure_async(self.km.is_alive()):
                return reply
            await asyncio.sleep(0.2)
            deadline -= 0.2
        index = self.nb.cells.index(cell) if cell is not None and cell in self.nb.cells else -1
        self._stop_kernel(f"stopped by the grading sandbox: {_cell_label(cell, index)} ran past the {timeout} s "
                          f"per-cell limit and ignored the interrupt for {self.interrupt_grace:g} s")
        return reply


def _data_handed_in(folder):
    """What of the course's data files a submission folder holds (a ``datasets`` entry, a ``DATASHEET.md`` or
    ``world.json`` at any depth), as text for the grading detail; "" if none. The grader never reads them
    (the cohort is looked for above the submission folder: sandbox.Sandbox._worlds)."""
    if not folder or not os.path.isdir(folder):
        return ""
    found, seen = [], 0
    for here, dirs, files in os.walk(folder):
        seen += len(dirs) + len(files)
        if seen > 5000:  # a reporting aid: a submission of thousands of files is not searched to the end
            break
        rel = os.path.relpath(here, folder)
        for name in dirs + files:
            if name == "datasets" or name in ("DATASHEET.md", "world.json"):
                found.append(name if rel == "." else os.path.join(rel, name))
        dirs[:] = [d for d in dirs if d != "datasets"][:50]
        if len(found) >= 3:
            break
    return ", ".join(f"{f}/" if os.path.isdir(os.path.join(folder, f)) else f for f in found[:3])


def _cell_label(cell, index):
    gid = ((cell or {}).get("metadata", {}).get("nbgrader") or {}).get("grade_id")
    return f"cell {gid}" if gid else f"cell {index + 1}"
