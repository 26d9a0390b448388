"""The harness's fast check (issue #13): bank entries and mutants graded in one live kernel per (lesson, world).

nbgrader's autograde costs a kernel start and a whole notebook per submission (3-4 s each). Here one kernel runs
the lesson's source notebook (solution markers stripped, hidden tests included) once, cell by cell, in notebook
order. When it reaches an exercise, it first runs the exercise's answer, the cells up to its last test cell and
the test cells themselves with the solution (the solution must pass them on this world); then, for each trial
(a bank entry or a mutant of that exercise), it

1. deletes every name bound since the answer cell was reached (by the solution, a provided or test cell, or an
   earlier trial), so an answer that raises before defining its function is not graded with another answer's
   function, as in a fresh notebook,
2. runs the trial's code in place of the answer cell, then the provided cells and the exercise's test cells
   (all of them, visible and hidden) that follow it, recording which test cells fail and why.
After the exercise's last trial the names are deleted once more and the solution restored (its answer cell and the
provided cells after it); the trials of one exercise need no restore between them, since each starts by deleting
what the one before bound, and the cells it runs rebind everything the tests read.

A trial that runs past the per-cell time-out is interrupted (the kernel is restarted if it does not answer)
and counts as failing. After an exercise's trials the solution's tests are run once more; if they no longer
pass, a trial has corrupted shared state (say, a table changed in place): the kernel is restarted, the notebook
replayed to that exercise, and the exercise's trials are run again, each followed by that validation.
An alternative answer that fails is re-run once in a fresh kernel before it is reported.
"""
from __future__ import annotations

import ast
import os
import queue
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from harness import REPO, _env, answer_tests, nb_meta, notebook_path, strip_solution_markers
from mutants import KERNEL_HELPER

# Generous on purpose: the slowest solution cell takes a few seconds on an idle 2-core machine, and the
# harness must not fail because the machine is busy (issue #9). Override with HARNESS_CELL_TIMEOUT.
CELL_TIMEOUT = float(os.environ.get("HARNESS_CELL_TIMEOUT", "180"))
# A trial's own cells: a loop in a wrong answer costs this much once.
TRIAL_TIMEOUT = float(os.environ.get("HARNESS_TRIAL_TIMEOUT", "90"))
STARTUP_TIMEOUT = float(os.environ.get("HARNESS_STARTUP_TIMEOUT", "180"))


def trial_timeout():
    return TRIAL_TIMEOUT  # read at call time, so a test can lower it

#: The other worlds the banks are checked on: one generated with seed 7, and the world a student with the hub user
#: name "student1" gets from the shipped cohort (socialcredit.data.student_seed), as on a course hub.
SEEDS = (7, "student1")


def _seed_of(seed):
    """The generator's seed of a world named by a seed (int) or by a student of the shipped cohort (str)."""
    if isinstance(seed, str):
        from socialcredit import DEFAULT_SEED
        from socialcredit.data import student_seed
        return student_seed(DEFAULT_SEED, seed)
    return seed


def world_dir(seed, base):
    """A world generated with `seed`, written under `base` (reused if already there); None = the shipped world."""
    if seed is None:
        return REPO / "datasets"
    import shutil

    from socialcredit import generate_world, write_world
    folder = Path(base) / f"world-{seed}"
    if not (folder / ".complete").is_file():
        tmp = Path(base) / f".world-{seed}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        write_world(generate_world(seed=_seed_of(seed)), tmp)
        shutil.copytree(REPO / "datasets" / "real", tmp / "real")
        shutil.copy2(REPO / "datasets" / "DATASHEET.md", tmp)
        (tmp / ".complete").write_text("ok")
        try:
            tmp.rename(folder)
        except OSError:  # another worker finished first
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


def world_name(seed):
    if seed is None:
        return "the shipped world"
    return f"{seed}'s own world (seed {_seed_of(seed)})" if isinstance(seed, str) else f"the world of seed {seed}"


@dataclass
class Outcome:
    status: str  # "ok", "error", "timeout", "died"
    detail: str = ""
    lost_state: bool = False  # the kernel was restarted, or a cell was interrupted half-way

    @property
    def ok(self):
        return self.status == "ok"

    def describe(self):
        return {"ok": "ok", "error": self.detail, "timeout": f"ran past {self.detail}",
                "died": f"the kernel died ({self.detail})"}[self.status]


class HarnessError(RuntimeError):
    """The harness could not run the solution itself (not a verdict on a trial)."""


class Kernel:
    """One IPython kernel driven through jupyter_client, with a per-cell time-out and restarts."""

    def __init__(self, env, cwd):
        self.env, self.cwd = env, str(cwd)
        self.km = self.kc = None
        self.restarts = 0
        self.start()

    def start(self):
        from jupyter_client.manager import start_new_kernel
        self.km, self.kc = start_new_kernel(kernel_name="python3", startup_timeout=STARTUP_TIMEOUT,
                                            env=self.env, cwd=self.cwd)

    def shutdown(self):
        if self.kc is not None:
            self.kc.stop_channels()
        if self.km is not None:
            try:
                self.km.shutdown_kernel(now=True)
            except Exception:  # already dead
                pass
        self.km = self.kc = None

    def restart(self):
        self.shutdown()
        self.restarts += 1
        self.start()

    def run(self, code, timeout=CELL_TIMEOUT):
        """Execute code; Outcome "error" carries 'Name: value' of the exception raised."""
        msg_id = self.kc.execute(code, store_history=False, allow_stdin=False, stop_on_error=False)
        deadline = time.monotonic() + timeout
        error = None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return self._recover(Outcome("timeout", f"the time limit of {timeout:.0f} s"))
            try:
                msg = self.kc.get_iopub_msg(timeout=min(remaining, 5))
            except queue.Empty:
                if not self.km.is_alive():
                    return self._recover(Outcome("died", "no longer alive"))
                continue
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "error":
                error = f"{content.get('ename')}: {content.get('evalue')}"
            elif kind == "status" and content.get("execution_state") == "idle":
                return Outcome("error", error) if error else Outcome("ok")

    def _recover(self, outcome):
        """After a time-out: interrupt; if the kernel does not come back within 30 s, restart it (state is lost)."""
        if outcome.status == "timeout" and self.km.is_alive():
            self.km.interrupt_kernel()
            probe = self.kc.execute("pass", store_history=False)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    msg = self.kc.get_iopub_msg(timeout=1)
                except queue.Empty:
                    continue
                if (msg.get("parent_header", {}).get("msg_id") == probe and msg["msg_type"] == "status"
                        and msg["content"].get("execution_state") == "idle"):
                    outcome.detail += " (interrupted)"
                    outcome.lost_state = True  # an interrupted cell may have left half-done state
                    return outcome
            # the probe's reply never came: fall through to a restart
        self.restart()
        outcome.lost_state = True
        return outcome


@dataclass
class Cell:
    index: int  # in the notebook
    source: str
    grade_id: str | None
    role: str  # "answer", "test", "provided"


@dataclass
class Exercise:
    answer_id: str
    answer: int  # position in LessonRun.cells
    tests: list  # positions of its test cells
    bound: set = field(default_factory=set)  # names its solution binds at top level

    @property
    def end(self):
        return max(self.tests)


@dataclass
class Trial:
    """One piece of code tried in place of an answer cell."""
    cell: str
    code: str
    kind: str  # "misconception", "alternative", "mutant"
    name: str
    failed: dict = field(default_factory=dict)  # test grade_id -> cause
    answer_error: str = ""  # the trial's own cell raised or timed out
    cascades: dict = field(default_factory=dict)  # another exercise's test grade_id -> cause (check 8)
    crashes: dict = field(default_factory=dict)  # "cell N (first line)" of a provided cell -> its error (check 9)
    cascade_note: str = ""  # why the later cells could not be checked, when they could not
    done: bool = False
    dynamic: bool = False  # a run-time mutant (mutants.py): it counts only if it changed a value
    applied: bool = True

    @property
    def passed(self):
        return self.done and not self.failed

    def summary(self):
        parts = [f"{gid}: {cause}" for gid, cause in self.failed.items()]
        if self.answer_error:
            parts.insert(0, f"the answer cell itself: {self.answer_error}")
        return "; ".join(parts) or "all its tests pass"


def read_names(source):
    """Every name a cell mentions (over-approximated by its identifiers when it is not plain Python)."""
    try:
        return {n.id for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Name)}
    except SyntaxError:
        import re
        return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", source))


def bound_names(source):
    """Top-level names a cell binds (functions, classes, assignments, imports)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                names |= {n.id for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


class LessonRun:
    """The lesson's source notebook in one kernel, on one world; trials grouped by exercise."""

    def __init__(self, lesson, data_dir, workdir, *, world="the shipped world", nb=None):
        """`nb`: a source notebook to use instead of solutions/<lesson> (the harness's own tests plant one)."""
        self.lesson, self.world = lesson, world
        src = nb if nb is not None else nbformat.read(notebook_path(REPO / "solutions", lesson), as_version=4)
        self.cells = []
        for i, c in enumerate(src.cells):
            if c.cell_type != "code":
                continue
            m = nb_meta(c)
            role = "test" if m.get("grade") else "answer" if m.get("solution") else "provided"
            self.cells.append(Cell(i, strip_solution_markers(c.source), m.get("grade_id"), role))
        self.exercises = {}
        for pos, c in enumerate(self.cells):
            if c.role == "answer":
                tests = [p for p, t in enumerate(self.cells) if t.role == "test" and t.grade_id in answer_tests(c.grade_id, src)]
                if tests:
                    self.exercises[c.grade_id] = Exercise(c.grade_id, pos, tests, bound_names(c.source))
        env = _env(data_dir)
        env.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
        Path(workdir).mkdir(parents=True, exist_ok=True)
        self.kernel = Kernel(env, workdir)
        self.position = 0  # cells[:position] have run with the solution
        self.problems = []  # failures of the solution itself, as messages
        self.replays = 0

    def close(self):
        self.kernel.shutdown()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- running the solution -------------------------------------------------------------------------
    def advance(self, stop, *, record=True):
        """Run cells[position:stop] (the solution). Returns {position: outcome} of cells that did not run cleanly."""
        bad = {}
        while self.position < stop:
            pos = self.position
            c = self.cells[pos]
            if pos == 0:
                self.kernel.run("__harness_names = {}\n_HARNESS_KEEP = {'In', 'Out', 'get_ipython', 'exit', 'quit', "
                                "'_', '__', '___', '_i', '_ii', '_iii', '_ih', '_oh', '_dh', '_HARNESS_KEEP', '__n'}\n"
                                + KERNEL_HELPER)
            if c.role == "answer":  # what existed before the answer: the names a trial's answer may not inherit
                self.kernel.run(f"__harness_names[{c.grade_id!r}] = set(globals())")
            out = self.kernel.run(c.source)
            self.position += 1
            if not out.ok:
                bad[pos] = out
                if out.lost_state:
                    raise HarnessError(f"on {self.world}, the solution of {self.lesson} could not run cell {c.index} "
                                       f"({c.grade_id or c.role}): {out.describe()}")
        if record:
            for pos, out in bad.items():
                c = self.cells[pos]
                what = f"test cell {c.grade_id}" if c.role == "test" else f"cell {c.index} ({c.role})"
                self.problems.append(f"[3] on {self.world}, the solution of {self.lesson} fails {what}: {out.describe()}")
        return bad

    def replay(self, stop):
        """Fresh kernel, then the solution's cells up to `stop`."""
        self.replays += 1
        self.kernel.restart()
        self.position = 0
        return self.advance(stop, record=False)

    def _restore(self, ex, *, with_tests):
        """Run the solution's answer and the cells up to the exercise's last test (tests too if asked)."""
        bad = {}
        for pos in range(ex.answer, ex.end + 1):
            if self.cells[pos].role == "test" and not with_tests:
                continue
            out = self.kernel.run(self.cells[pos].source)
            if out.lost_state:
                self.replay(ex.end + 1)
                return {pos: out}
            if not out.ok:
                bad[pos] = out
        return bad

    def _clear(self, ex):
        """Back to the names that existed before the exercise's answer cell (values changed in place stay changed:
        the validation after the exercise's trials catches a trial that corrupted them)."""
        self.kernel.run(f"for __n in set(globals()) - __harness_names[{ex.answer_id!r}]:\n"
                        "    if not __n.startswith('__harness') and __n not in _HARNESS_KEEP:\n"
                        "        globals().pop(__n, None)\n")

    def _try(self, ex, trial):
        """Run one trial from a state where the solution passes the exercise's tests; fill in the verdict."""
        trial.failed, trial.answer_error = {}, ""
        self._clear(ex)
        if trial.dynamic:
            self.kernel.run("__harness_applied = False")
        out = self.kernel.run(trial.code, timeout=trial_timeout())
        if not out.ok:
            trial.answer_error = out.describe()
        lost = out.lost_state
        for pos in range(ex.answer + 1, ex.end + 1):
            c = self.cells[pos]
            if lost and c.role == "test":
                trial.failed[c.grade_id] = "not run: an earlier cell of this trial ran past the time limit or killed the kernel"
                continue
            if lost:
                continue
            out = self.kernel.run(c.source, timeout=trial_timeout())
            if out.lost_state:
                lost = True
            if c.role == "test" and not out.ok:
                trial.failed[c.grade_id] = out.describe()
        trial.done = True
        if trial.dynamic and not lost:
            trial.applied = self.kernel.run("assert __harness_applied").ok
        return lost

    # ---- checks 8 and 9: what a trial does to the rest of the notebook -----------------------------------------
    def after_effects(self, trials):
        """Checks 8 and 9 for trials already run by check(): with the whole solution run, each trial replaces its
        answer, and every later cell that mentions a name the trial (or a cell re-run because of it) binds is
        re-run in order. A test cell of another exercise that fails is a cascade; a provided cell that raises, a
        crash. Cells that mention none of those names would run exactly as they did for the solution, except where
        a trial changes shared values in place or draws from a global random generator: nbgrader's full grading
        (make test-full) covers those. The solution is restored after each trial and, at the end, every test cell
        must still pass; if one does not, each trial is checked again from a fresh replay of the notebook."""
        todo = [t for t in trials if t.done and t.cell in self.exercises]
        self.advance(len(self.cells))
        for t in todo:
            self._after(t)
        failing = [self.cells[p].grade_id for p in range(len(self.cells))
                   if self.cells[p].role == "test" and not self.kernel.run(self.cells[p].source).ok]
        if failing:  # a trial changed shared state: start each one again from scratch
            for t in todo:
                self.replay(len(self.cells))
                self._after(t)
            self.replay(len(self.cells))
        return todo

    def _after(self, t):
        ex = self.exercises[t.cell]
        t.cascades, t.crashes, t.cascade_note = {}, {}, ""
        tainted = set(ex.bound) | bound_names(t.code)
        self.kernel.run(f"__harness_before = set(globals())\nfor __n in {sorted(ex.bound)!r}:\n"
                        "    globals().pop(__n, None)\n")
        out = self.kernel.run(t.code, timeout=trial_timeout())
        rerun, lost = [], out.lost_state
        if lost:
            t.cascade_note = f"later cells not checked: the answer cell itself {out.describe()}"
        for pos in range(ex.answer + 1, len(self.cells)):
            c = self.cells[pos]
            if lost or pos in ex.tests or not (read_names(c.source) & tainted):
                continue
            rerun.append(pos)
            out = self.kernel.run(c.source, timeout=trial_timeout())
            tainted |= bound_names(c.source)
            if out.lost_state:
                lost = True
                t.cascade_note = f"not checked past cell {c.index}: {out.describe()}"
            elif out.ok:
                continue
            elif c.role == "test" or c.role == "answer":
                t.cascades[c.grade_id] = out.describe()
            else:
                first = next((ln for ln in c.source.split("\n") if ln.strip()), "")
                t.crashes[f"cell {c.index} (`{first[:60]}`)"] = out.describe()
        if lost:
            self.replay(len(self.cells))
            return
        # back to the solution: drop what the trial added, rebind what it and the re-run cells changed
        self.kernel.run("for __n in set(globals()) - __harness_before:\n"
                        "    if not __n.startswith('__harness') and __n not in _HARNESS_KEEP:\n"
                        "        globals().pop(__n, None)\n")
        for pos in [ex.answer, *rerun]:
            if self.cells[pos].role != "test":
                out = self.kernel.run(self.cells[pos].source)
                if out.lost_state:
                    self.replay(len(self.cells))
                    return

    # ---- trials -----------------------------------------------------------------------------------------
    def check(self, trials):
        """Run every trial (in notebook order of their exercises); returns the trials with verdicts.

        Trials naming a cell that is not an exercise of this lesson raise ValueError."""
        by_cell = {}
        for t in trials:
            if t.cell not in self.exercises:
                raise ValueError(f"{t.kind} {t.name!r} names cell {t.cell!r}, which is not an answer cell of "
                                 f"{self.lesson} with tests (answer cells: {sorted(self.exercises)})")
            by_cell.setdefault(t.cell, []).append(t)
        for ex in sorted(self.exercises.values(), key=lambda e: e.answer):
            bad = self.advance(ex.end + 1)
            failing_tests = [p for p in bad if self.cells[p].role == "test"]
            todo = by_cell.get(ex.answer_id, [])
            if failing_tests:
                for t in todo:
                    t.failed = {"skipped": "the solution itself fails this exercise's tests on this world"}
                continue
            if todo:
                self._trials(ex, todo)
        self.advance(len(self.cells))
        return trials

    def _trials(self, ex, todo, *, validate_each=False):
        for t in todo:
            lost = self._try(ex, t)
            if lost:
                self.replay(ex.end + 1)
                continue
            if validate_each:  # after a corruption: the solution must pass again after each trial
                self._clear(ex)
                bad = self._restore(ex, with_tests=not t.passed)
                if any(self.cells[p].role == "test" for p in bad):
                    self.replay(ex.end + 1)
        # one validation per exercise: the solution still passes its tests after all those trials
        self._clear(ex)
        bad = self._restore(ex, with_tests=True)
        if any(self.cells[p].role == "test" for p in bad):
            if validate_each:
                self.problems.append(f"[fast] on {self.world}, {ex.answer_id}'s tests fail for the solution after "
                                     f"a replay: {[self.cells[p].grade_id for p in bad]}")
                return
            self.replay(ex.end + 1)
            self._trials(ex, todo, validate_each=True)
            return
        # an alternative that failed: confirm in a fresh kernel before reporting it
        for t in todo:
            if t.kind == "alternative" and not t.passed:
                self.replay(ex.end + 1)
                self._try(ex, t)
                self.replay(ex.end + 1)
