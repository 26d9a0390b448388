"""Trusted verdicts (issue #12): hidden-test verdicts decided where the student's code cannot reach them.

Two kernels per submission, both in the grading sandbox (socialcredit.sandbox):

- **S**, the student's kernel: every cell that is not a graded test cell runs here, in order (answer cells,
  "Try it" cells, provided cells), exactly as before. Its outputs are the notebook's outputs for those cells.
- **T**, the trusted kernel: it never runs the student's code. It runs the instructor's locked cells (the setup:
  imports, ``load``, helpers; also run in S) and every graded test cell (in T only). A test cell's outputs in the
  graded notebook are T's, so nbgrader's score and the feedback are T's verdict.

Before a test cell runs in T, the names it uses that the student's side defined (by the cells' syntax: the
last cell to assign a name wins, and names the setup defines are never taken from S) are bound in T: the
student's functions as :class:`socialcredit.wire.RemoteFunction` proxies, plain data (builtins, NumPy, pandas) as
copies, anything else as a :class:`socialcredit.wire.RemoteObject` handle. A proxy's call crosses to S as JSON
and its result comes back as JSON, rebuilt in T by T's own code (see socialcredit.wire): the student's objects,
their ``__eq__``, their patched numpy/pandas/builtins and their IPython hooks never reach T's comparisons.

Transport: T sends through ``input()`` (an input_request on T's stdin channel, with allow_stdin); this grader
gives the request to S, which waits for requests in ``input()`` too (``socialcredit.wire.serve_loop``, one silent
execute_request per trusted cell), and S's answer, the prompt of its next ``input()``, goes back to T as its input
reply; callbacks from S into T (a reference function passed as an argument, ``_with_refs``) go the other way
the same way. Anything that does not come back, comes back
undecodable, or takes longer than the per-cell time limit makes the test cell fail, never pass.

nbgrader stays the gradebook: this is an ``Execute`` preprocessor (``nbgrader_config.py``), and nbgrader reads the
scores from the cells' outputs as always.
"""
from __future__ import annotations

import ast
import asyncio
import builtins
import json
import os
import re
import time

import zmq
import zmq.asyncio
from jupyter_core.utils import ensure_async
from nbformat.v4 import output_from_msg
from traitlets import Integer

from .data import STUDENT_VAR
from .sandbox import Limits, SandboxedKernelManager
from .wire import PREFIX, REQUESTS
from .worlds_nbgrader import SandboxedExecute

_BUILTINS = set(dir(builtins))
#: SOCIALCREDIT_TV_PROFILE=<file>: append one JSON line per relay run / cell (a measurement aid; off by default)
_PROFILE = os.environ.get("SOCIALCREDIT_TV_PROFILE")


def _prof(**rec):
    if _PROFILE:
        with open(_PROFILE, "a") as f:
            f.write(json.dumps({"pid": os.getpid(), "at": time.time(), **rec}) + "\n")
_WIRE = "__import__('socialcredit.wire', fromlist=['wire'])"


def cell_kind(cell, trusted_ids=None):
    """'test' (graded test cell: T only), 'locked' (instructor code: S and T) or 'student' (S only)."""
    meta = (cell.get("metadata") or {}).get("nbgrader") or {}
    if cell.get("cell_type") != "code":
        return "other"
    gid = meta.get("grade_id")
    trusted = trusted_ids is None or gid in trusted_ids
    if meta.get("grade") and not meta.get("solution") and trusted:
        return "test"
    if meta.get("locked") and not meta.get("solution") and trusted:
        return "locked"
    return "student"


def _imported(source):
    """Names a cell binds by ``import`` statements (a student who imports pandas as pd again rebinds nothing
    worth naming)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            out |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return out


def names_of(source):
    """(names the cell assigns, names it reads) by its syntax; (set(), set()) when it does not parse.

    Scope-aware: a function's or a comprehension's own variables are neither assigned nor read by the cell (only
    its ``global`` names and the free names it reads from the notebook's namespace count). A name the cell reads
    only after a plain top-level statement of its own assigned it (``fig, ax = plt.subplots()`` ... ``ax``) is not
    counted as read: it never comes from elsewhere. Reads are over-approximated otherwise (a name assigned only
    inside an ``if``/``for``/``try`` is still counted as read), which costs a fetch, never a wrong binding.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        try:  # IPython magics: drop lines starting with % or !
            tree = ast.parse("\n".join(ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))))
        except SyntaxError:
            return set(), set()
    stores, loads = set(), set()
    _block(tree.body, set(), stores, loads)
    return stores, loads


def _block(stmts, defined, stores, loads):
    """Top-level statements in order; ``defined``: names bound for sure by the earlier ones of this block."""
    defined = set(defined)
    for stmt in stmts:
        if isinstance(stmt, (ast.With, ast.AsyncWith)):
            # the body runs in order after the items; its names count as bound inside the body only (a context
            # manager may swallow an exception, e.g. Lesson 1's `uses`, so after the block they may be unbound)
            _block(stmt.body, _header(stmt.items, defined, stores, loads), stores, loads)
            continue
        if isinstance(stmt, (ast.For, ast.AsyncFor, ast.While, ast.If, ast.Try)):
            # the header, then each body as a block of its own: a name one of them binds counts as bound only
            # further down inside it (`for g in ...: ... g`), never after the statement
            head = [stmt.iter, stmt.target] if isinstance(stmt, (ast.For, ast.AsyncFor)) else \
                [stmt.test] if isinstance(stmt, (ast.While, ast.If)) else []
            _block(stmt.body, _header(head, defined, stores, loads), stores, loads)
            _block(stmt.orelse, defined, stores, loads)
            for h in getattr(stmt, "handlers", []):
                v = _Names()
                if h.type is not None:
                    v.visit(h.type)
                loads |= v.loads - defined
                bound = {h.name} if h.name else set()
                stores |= bound
                _block(h.body, defined | bound, stores, loads)
            _block(getattr(stmt, "finalbody", []), defined, stores, loads)
            continue
        v = _Names()
        v.visit(stmt)
        loads |= v.loads - defined
        stores |= v.stores
        if isinstance(stmt, _UNCONDITIONAL) or (isinstance(stmt, ast.AnnAssign) and stmt.value is not None):
            defined |= v.stores


def _header(nodes, defined, stores, loads):
    """A compound statement's header (``with`` items, a loop's iterable and target, a test), node by node: what
    each reads that is not bound yet, and what it binds; returns the names bound for the body."""
    inner = set(defined)
    for node in nodes:
        v = _Names()
        v.visit(node)
        loads |= v.loads - inner
        stores |= v.stores
        inner |= v.stores
    return inner


#: top-level statements that, when the cell gets past them, have bound every name they assign
_UNCONDITIONAL = (ast.Assign, ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef,
                  ast.ClassDef)


def _targets(node):
    """Names a function/lambda/comprehension binds in its own scope (not descending into nested scopes)."""
    out, declared = set(), set()
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        a = node.args
        out |= {x.arg for x in a.posonlyargs + a.args + a.kwonlyargs + [v for v in (a.vararg, a.kwarg) if v]}
        body = node.body if isinstance(node.body, list) else [node.body]
    else:  # comprehension: its targets
        body = []
        for g in node.generators:
            out |= {n.id for n in ast.walk(g.target) if isinstance(n, ast.Name)}
    stack = list(body)
    while stack:
        n = stack.pop()
        if isinstance(n, (ast.Global, ast.Nonlocal)):
            declared |= set(n.names)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(n.name)
            stack.extend(n.decorator_list)  # evaluated here; the body is a scope of its own
            continue
        elif isinstance(n, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            continue
        elif isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
            out.add(n.id)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            out |= {(al.asname or al.name).split(".")[0] for al in n.names if al.name != "*"}
        elif isinstance(n, ast.ExceptHandler) and n.name:
            out.add(n.name)
        stack.extend(ast.iter_child_nodes(n))
    return out - declared, declared


class _Names(ast.NodeVisitor):
    """Module-level names one statement assigns (``stores``) and reads from the namespace (``loads``)."""

    def __init__(self):
        self.stores, self.loads = set(), set()
        self.scopes = []  # (locals, declared global/nonlocal, is a class body) of the enclosing scopes

    def _global(self, name):
        for i, (local, declared, is_class) in enumerate(reversed(self.scopes)):
            if is_class and i > 0:
                continue  # a class body's names are not visible in the functions it defines
            if name in declared:
                return True  # global (or nonlocal: conservatively treated as global)
            if name in local:
                return False
        return True

    def _scope(self, node, parts):
        self.scopes.append((*_targets(node), False))
        for p in parts:
            self.visit(p)
        self.scopes.pop()

    def visit_FunctionDef(self, node):
        for d in node.decorator_list:
            self.visit(d)
        a = node.args
        for default in a.defaults + [d for d in a.kw_defaults if d is not None]:
            self.visit(default)  # evaluated where the function is defined
        for x in a.posonlyargs + a.args + a.kwonlyargs + [v for v in (a.vararg, a.kwarg) if v]:
            if x.annotation is not None:
                self.visit(x.annotation)
        if node.returns is not None:
            self.visit(node.returns)
        if self._global(node.name):
            self.stores.add(node.name)
        self._scope(node, node.body)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node):
        for default in node.args.defaults + [d for d in node.args.kw_defaults if d is not None]:
            self.visit(default)
        self._scope(node, [node.body])

    def visit_ClassDef(self, node):
        for n in node.decorator_list + node.bases + [k.value for k in node.keywords]:
            self.visit(n)
        if self._global(node.name):
            self.stores.add(node.name)
        # a class body's own names are class attributes: treated like a function's locals
        local, declared = _targets(ast.FunctionDef(name="", args=ast.arguments(posonlyargs=[], args=[], kwonlyargs=[],
                                   kw_defaults=[], defaults=[]), body=node.body, decorator_list=[]))
        self.scopes.append((local, declared, True))
        for n in node.body:
            self.visit(n)
        self.scopes.pop()

    def _comp(self, node, elts):
        # the first iterable is evaluated in the enclosing scope
        self.visit(node.generators[0].iter)
        parts = [node.generators[0].target] + node.generators[0].ifs
        for g in node.generators[1:]:
            parts += [g.target, g.iter] + g.ifs
        self._scope(node, parts + elts)

    def visit_ListComp(self, node):
        self._comp(node, [node.elt])

    visit_SetComp = visit_GeneratorExp = visit_ListComp

    def visit_DictComp(self, node):
        self._comp(node, [node.key, node.value])

    def visit_Name(self, node):
        if self._global(node.id):
            (self.stores if isinstance(node.ctx, (ast.Store, ast.Del)) else self.loads).add(node.id)

    def visit_Import(self, node):
        for alias in node.names:
            name = (alias.asname or alias.name).split(".")[0]
            if alias.name != "*" and self._global(name):
                self.stores.add(name)

    visit_ImportFrom = visit_Import

    def visit_ExceptHandler(self, node):
        if node.name and self._global(node.name):
            self.stores.add(node.name)
        self.generic_visit(node)

    def _mutation(self, node):
        # t["col"] = ..., t.attr = ..., del t[k]: the object named t changes (it is also read)
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            base = node.value
            while isinstance(base, (ast.Subscript, ast.Attribute)):
                base = base.value
            if isinstance(base, ast.Name) and self._global(base.id):
                self.stores.add(base.id)
        self.generic_visit(node)

    visit_Subscript = visit_Attribute = _mutation


class TrustedVerdictExecute(SandboxedExecute):
    """nbgrader's Execute with graded test cells run in a trusted kernel against the student's kernel over JSON."""

    max_message_mb = Integer(64, help="largest message the student's kernel may send the trusted one").tag(config=True)

    # ------------------------------------------------------------------ notebook-level state
    def preprocess(self, nb, resources=None, km=None):
        self._tkm = self._tkc = None
        self._t_broken = self._s_broken = None
        self._s_bound = False  # some name of S's has been bound in T (from then on T's runs need S free)
        self._writer = {}      # name -> "T" or "S": who assigned it last (by syntax)
        self._pinned = set()   # names the instructor's setup, test and provided cells define: T's, never the student's
        self._answers = set()  # names the answer cells define
        self._no_answer, self._no_answer_line = [], None  # test cells that got no usable answer (named in detail)
        self._trusted_ids = self._gradebook_ids(resources)
        self._read_source(nb, self._source_notebook(resources))
        try:
            return super().preprocess(nb, resources, km)
        finally:
            self._stop_trusted()

    def _read_source(self, nb, source):
        """What the instructor's notebook (``source``; None if unknown) says about the student's ``nb``: the provided
        cells T runs, the answer names, the names that are T's from the start, the lesson's order."""
        self._provided = self._instructor_cells(source)
        # {name: id of the provided cell (the instructor's version) that defines it}, and the ids T has run
        self._provided_by = {n: cid for cid, src in reversed(list(self._provided.items())) for n in names_of(src)[0]}
        self._provided_done = set()
        self._student_ids = {c.get("id") for c in nb.cells}
        self._rebound = {}     # T's names a student's cell assigned again (not by an import): name -> its cell
        self._rebound_told, self._rebound_line = [], None
        self._answer_names = None  # names the instructor's answer cells define (None: unknown, take the student's)
        self._order_note = None
        if source is not None:
            self._answer_names = set()
            for c in source.cells:
                meta = (c.get("metadata") or {}).get("nbgrader") or {}
                if c.cell_type == "code" and meta.get("solution"):
                    self._answer_names |= names_of(c.source)[0]
                elif cell_kind(c) in ("locked", "test"):
                    # the setup's names, and every name a test cell stores (a cache such as `if "_DATA" not in
                    # globals(): _DATA = ...`), are T's from the start, wherever the cell is: never the student's
                    self._pinned |= names_of(c.source)[0]
            self._order_note = self._in_lesson_order(nb, source)

    def _gradebook_ids(self, resources):
        """grade_ids of the instructor's locked/test cells of this notebook, from the gradebook (a student can add a
        cell with nbgrader metadata of its own; only cells the instructor made may run in T). None if unknown."""
        info = (resources or {}).get("nbgrader") or {}
        url, assignment, notebook = info.get("db_url"), info.get("assignment"), info.get("notebook")
        if not (url and assignment and notebook):
            return None
        try:
            from nbgrader.api import Gradebook
            with Gradebook(url) as gb:
                nb = gb.find_notebook(notebook, assignment)
                # OverwriteCells has restored these cells' source and metadata from the gradebook
                return {c.name for c in nb.source_cells} | {c.name for c in nb.grade_cells}
        except Exception as exc:  # noqa: BLE001
            self.log.warning("trusted verdicts: could not read the gradebook's cells (%s); using the metadata", exc)
            return None

    def execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        # nbclient binds execute_cell to NotebookClient.async_execute_cell at class creation, so a subclass's
        # async_execute_cell is never called through it (SandboxedExecute's override was not either): route it here
        from jupyter_core.utils import run_sync
        return run_sync(self.async_execute_cell)(cell, cell_index, execution_count, store_history)

    def start_new_kernel(self, **kwargs):
        # the same binding at class creation (start_new_kernel = run_sync(NotebookClient.async_start_new_kernel)):
        # route it here, so that T starts at the same time as S
        from jupyter_core.utils import run_sync
        return run_sync(self._start_both)(**kwargs)

    async def _start_both(self, **kwargs):
        s_start, t_start = await asyncio.gather(self.async_start_new_kernel(**kwargs), self._start_trusted(),
                                                return_exceptions=True)
        for r in (s_start, t_start):
            if isinstance(r, BaseException):
                raise r

    def _source_notebook(self, resources):
        """The instructor's notebook of this assignment (the course's source folder), or None."""
        info = (resources or {}).get("nbgrader") or {}
        url = str(info.get("db_url") or "")
        if not url.startswith("sqlite:///"):
            return None
        from pathlib import Path

        import nbformat
        root = Path(url[len("sqlite:///"):]).parent
        source_dir = self.config.get("CourseDirectory", {}).get("source_directory", "source")
        path = root / source_dir / str(info.get("assignment")) / f"{info.get('notebook')}.ipynb"
        try:
            return nbformat.read(path, as_version=4)
        except Exception as exc:  # noqa: BLE001
            self.log.warning("trusted verdicts: no instructor notebook at %s (%s)", path, exc)
            return None

    def _in_lesson_order(self, nb, source):
        """Put the instructor's locked cells (setup and tests) back in the lesson's order, each followed by the cells
        the student had after it, and restore locked code cells the student deleted (nbgrader restores only graded
        ones). A test moved before another, or before the setup, would otherwise run in T in an order the
        instructor never wrote (a later test's reference functions in T while an earlier one runs; the setup's
        names taken from the student). Returns a line for the detail, or None when nothing moved."""
        order, originals = [], {}
        for c in source.cells:
            meta = (c.get("metadata") or {}).get("nbgrader") or {}
            if cell_kind(c) in ("locked", "test") and meta.get("grade_id"):
                order.append(meta["grade_id"])
                originals[meta["grade_id"]] = c
        if not order:
            return None
        position = {g: i for i, g in enumerate(order)}
        heads, after, current = {}, {-1: []}, -1
        for c in nb.cells:
            meta = (c.get("metadata") or {}).get("nbgrader") or {}
            gid = meta.get("grade_id")
            if gid in position and gid not in heads and cell_kind(c, self._trusted_ids) in ("locked", "test"):
                current = position[gid]
                heads[gid] = c
                after.setdefault(current, [])
            else:
                after.setdefault(current, []).append(c)
        restored = [g for g in order if g not in heads and originals[g].cell_type == "code"]
        import copy
        for g in restored:
            heads[g] = copy.deepcopy(originals[g])
            heads[g].outputs, heads[g].execution_count = [], None
        # restored cells that come before every cell the student kept go first: a setup cell must run before the
        # answers that use its imports
        first_kept = min((position[g] for g in heads if g not in restored), default=len(order))
        cells = [heads[g] for g in order[:first_kept] if g in heads] + list(after[-1])
        for i, g in enumerate(order):
            if i < first_kept:
                continue
            if g in heads:
                cells.append(heads[g])
            cells.extend(after.get(i, []))
        if [id(c) for c in cells] == [id(c) for c in nb.cells]:
            return None
        moved = [g for g in order if g in heads and g not in restored]
        was = [g for g in (((c.get("metadata") or {}).get("nbgrader") or {}).get("grade_id") for c in nb.cells)
               if g in heads and g not in restored]
        nb.cells = cells
        parts = []
        if was != moved:
            parts.append("the instructor's cells were out of the lesson's order (graded in its order)")
        if restored:
            parts.append("deleted instructor cells were put back: " + ", ".join(restored[:6])
                         + (f" and {len(restored) - 6} more" if len(restored) > 6 else ""))
        return "trusted verdicts: " + "; ".join(parts) if parts else None

    def _instructor_cells(self, source):
        """{cell id: the instructor's source} of provided (unlocked, non-answer) code cells whose names a test cell
        reads: T runs the instructor's version of them (never the student's edit of it)."""
        if source is None:
            return {}
        reads = set()
        for c in source.cells:
            if cell_kind(c) == "test":
                reads |= names_of(c.source)[1]
        out = {}
        for c in source.cells:
            meta = c.get("metadata", {}).get("nbgrader") or {}
            if c.cell_type == "code" and not meta.get("solution") and cell_kind(c) == "student" and c.get("id"):
                if names_of(c.source)[0] & reads:
                    out[c["id"]] = c.source
        return out

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        t0 = time.monotonic()
        try:
            return await self._execute_cell(cell, cell_index, execution_count, store_history)
        finally:
            _prof(ev="cell", index=cell_index, kind=cell_kind(cell, self._trusted_ids),
                  gid=((cell.get("metadata") or {}).get("nbgrader") or {}).get("grade_id"),
                  secs=time.monotonic() - t0)

    async def _execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        if self._order_note:
            self._event(self._order_note)
            self._order_note = None
        kind = cell_kind(cell, self._trusted_ids)
        if kind == "other" or not cell.source.strip():
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        stores, _ = names_of(cell.source)
        if kind == "test":
            self._cell_index = cell_index
            await self._run_test_cell(cell, cell_index)
            # what a test cell defines (a helper, a toy table) is the instructor's: a later student cell that
            # rebinds the name in S must not replace it for later test cells
            self._pinned |= stores
            for n in stores:
                self._writer[n] = "T"
            return cell
        if kind == "locked" and not self._s_bound:
            # the instructor's cell runs in S and in T at the same time: no name of S's is bound in T yet, so T's
            # copy cannot ask S anything (its requests would be refused), and the two kernels share no channel
            s_run, t_run = await asyncio.gather(
                super().async_execute_cell(cell, cell_index, execution_count, store_history),
                self._run_locked_in_trusted(cell), return_exceptions=True)
            for r in (s_run, t_run):
                if isinstance(r, BaseException):
                    raise r
            self._pinned |= stores
            for n in stores:
                self._writer[n] = "T"
            return s_run
        result = await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        if kind == "locked":  # (a later locked cell may call the student's functions bound in T: S must be free)
            self._pinned |= stores
            for n in stores:
                self._writer[n] = "T"
            await self._run_locked_in_trusted(cell, with_s=True)
            return result
        meta = (cell.get("metadata") or {}).get("nbgrader") or {}
        if meta.get("solution"):  # (only the lesson's own answer names: T may share its references under those)
            self._answers |= stores if self._answer_names is None else stores & self._answer_names
        for n in stores:
            self._writer[n] = "S"
        if cell.get("id") not in self._provided:  # (T runs the instructor's version of those: nothing to name)
            for n in (stores & self._pinned) - _imported(cell.source):
                self._rebound.setdefault(n, meta.get("grade_id") or f"cell {cell_index}")
        original = self._provided.get(cell.get("id")) if not meta.get("solution") else None
        if original is not None and cell.get("id") not in self._provided_done:
            await self._run_provided_in_trusted(cell.get("id"))
        return result

    async def _run_provided_in_trusted(self, cid):
        """The instructor's version of a provided cell whose names the tests read, run in T too (with the student's
        functions as proxies); those names are then T's for good: a later answer cell that rebinds one changes
        only S (pinned, as the setup's)."""
        self._provided_done.add(cid)
        source = self._provided[cid]
        await self._start_trusted()
        if self._t_broken:
            return
        await self._bind_for(source, time.monotonic() + (self.timeout or 60))
        await self._run_t(source, silent=False)
        stores = names_of(source)[0]
        self._pinned |= stores
        for n in stores:
            self._writer[n] = "T"

    async def _bind_for(self, source, deadline):
        _, loads = names_of(source)
        # a name the tests read that a provided cell defines, and T has not computed: the student deleted that
        # cell (or it lost its id). T runs the instructor's version now, rather than take the student's value
        for n in sorted(loads - self._pinned):
            cid = self._provided_by.get(n)
            if cid is not None and cid not in self._provided_done:
                if cid not in self._student_ids:
                    self._event(f"trusted verdicts: the provided cell that defines {n} was missing; the tests used "
                                "the instructor's version of it")
                await self._run_provided_in_trusted(cid)
        told = [n for n in sorted(loads & set(self._rebound)) if n not in self._rebound_told]
        if told:  # one line in detail, naming every such name so far
            self._rebound_told += told
            if self._rebound_line in self._events:
                self._events.remove(self._rebound_line)
            names = self._rebound_told
            self._rebound_line = ("trusted verdicts: the student's cells assign names the tests take from the "
                                  "instructor's cells (" + ", ".join(f"{n} in {self._rebound[n]}" for n in names[:6])
                                  + (f" and {len(names) - 6} more" if len(names) > 6 else "")
                                  + "); the tests used the instructor's values")
            self._event(self._rebound_line)
        wanted = sorted(n for n in loads - _BUILTINS - self._pinned if self._writer.get(n) in ("S", None))
        forced = [n for n in wanted if self._writer.get(n) == "S"]
        maybe = [n for n in wanted if self._writer.get(n) is None]
        self._s_bound = self._s_bound or bool(wanted)
        # the wire failures T records are counted per cell: cleared here, read at the end of the cell's run
        code = (f"{_WIRE}.runtime('T').failures.clear()\n"
                f"{_WIRE}.bind({forced!r}, {sorted(self._answers)!r})\n"
                f"__tv_ns = get_ipython().user_ns\n"
                f"{_WIRE}.bind([__n for __n in {maybe!r} if __n not in __tv_ns], {sorted(self._answers)!r})\n"
                f"del __tv_ns")
        await self._run_t(code, silent=True, deadline=deadline)

    # ------------------------------------------------------------------ the trusted kernel
    async def _start_trusted(self):
        if self._tkc is not None or self._t_broken:
            return
        student = ((self.resources or {}).get("nbgrader") or {}).get("student")
        env = {**os.environ}
        if student:
            env[STUDENT_VAR] = str(student)
        cwd = (self.resources or {}).get("metadata", {}).get("path") or os.getcwd()
        if self._mode() == "off":
            from jupyter_client.manager import AsyncKernelManager
            km = AsyncKernelManager(kernel_name=self.kernel_name or "python3", config=self.config)
        else:
            limits = Limits(memory_mb=self.memory_mb, processes=self.processes, scratch_mb=self.scratch_mb,
                            file_mb=self.file_mb, output_mb=self.output_mb)
            km = SandboxedKernelManager(kernel_name=self.kernel_name or "python3", config=self.config, limits=limits)
        t0 = time.monotonic()
        await ensure_async(km.start_kernel(extra_arguments=self.extra_arguments, env=env, cwd=cwd))
        kc = km.client()
        kc.start_channels()
        await ensure_async(kc.wait_for_ready(timeout=self.startup_timeout))
        self._tkm, self._tkc = km, kc
        # (max_message_mb bounds what the grader relays; a packed message is bounded again once T unpacks it)
        await self._run_t(f"{_WIRE}.runtime('T').max_unpacked = {int(self.max_message_mb * 2 ** 20)}", silent=True,
                          with_s=False)
        _prof(ev="t_start", secs=time.monotonic() - t0)

    def _stop_trusted(self):
        if self._tkc is not None:
            try:
                self._tkc.stop_channels()
            except Exception:  # noqa: BLE001
                pass
        if self._tkm is not None:
            try:
                from jupyter_core.utils import run_sync
                run_sync(self._tkm.shutdown_kernel)(now=True)
            except Exception as exc:  # noqa: BLE001
                self.log.warning("trusted verdicts: stopping the trusted kernel: %s", exc)
            cleanup = getattr(self._tkm, "_private", None)
            if cleanup:
                import shutil
                shutil.rmtree(cleanup, ignore_errors=True)
        self._tkm = self._tkc = None

    async def _run_locked_in_trusted(self, cell, with_s=False):
        await self._start_trusted()
        if self._t_broken:
            return
        reply, outputs, _ = await self._run_t(cell.source, silent=False, with_s=with_s)
        if reply is None or reply["content"].get("status") != "ok":
            why = (reply or {}).get("content", {}).get("ename", "no reply")
            self._event(f"the trusted kernel could not run the instructor's cell "
                        f"{cell.get('metadata', {}).get('nbgrader', {}).get('grade_id')} ({why})")

    async def _run_test_cell(self, cell, cell_index):
        cell.outputs = []
        await self._start_trusted()
        if self._t_broken:
            cell.outputs = [_error("TrustedVerdictError", f"the trusted kernel is not available ({self._t_broken}); "
                                   "this test cell earns nothing")]
            self._name_no_answer(cell, cell_index, [f"the trusted kernel is not available ({self._t_broken})"])
            return
        deadline = time.monotonic() + (self._get_timeout(cell) or 60)
        await self._bind_for(cell.source, deadline)
        reply, outputs, failures = await self._run_t(cell.source, silent=False, deadline=deadline,
                                                     user_expressions={"tv": f"{_WIRE}.runtime('T').failures"})
        cell.outputs = outputs
        if reply is not None:
            cell.execution_count = reply["content"].get("execution_count")
            if reply["content"].get("status") != "ok":
                # ipykernel evaluates user_expressions only after a successful execution: read the record again
                _, _, more = await self._run_t("pass", silent=True, deadline=time.monotonic() + 10,
                                               user_expressions={"tv": f"{_WIRE}.runtime('T').failures"})
                failures += more
        if failures:
            cell.outputs.append(_error("TrustedVerdictError", "the student's side did not give a usable answer: "
                                       + "; ".join(dict.fromkeys(failures))[:1500]))
            self._name_no_answer(cell, cell_index, failures)
        elif reply is None:
            cell.outputs.append(_error("CellTimeoutError", "no verdict before the per-cell time limit"))
        elif reply["content"].get("status") != "ok" and not any(o.get("output_type") == "error" for o in outputs):
            c = reply["content"]
            cell.outputs.append(_error(c.get("ename", "Error"), c.get("evalue", ""), c.get("traceback")))

    def _name_no_answer(self, cell, cell_index, failures):
        """One line in the grading detail naming every test cell that got no usable answer (a rewritten or broken
        student side, an answer that is not data, a time-out), with the first reason."""
        meta = (cell.get("metadata") or {}).get("nbgrader") or {}
        self._no_answer.append(meta.get("grade_id") or f"cell {cell_index}")
        if self._no_answer_line in self._events:
            self._events.remove(self._no_answer_line)
        cells = ", ".join(self._no_answer[:6]) + (f" and {len(self._no_answer) - 6} more" if len(self._no_answer) > 6
                                                  else "")
        self._no_answer_line = (f"trusted verdicts: {len(self._no_answer)} test cell(s) got no usable answer from the "
                                f"student's kernel ({cells}): {str(failures[0])[:200]}")
        self._event(self._no_answer_line)

    # ------------------------------------------------------------------ the relay
    async def _run_t(self, code, *, silent, deadline=None, user_expressions=None, with_s=True):
        """Run code in T, relaying its requests to S; (execute_reply or None, T's outputs, wire failures).

        The relay is a ping-pong of ``input()`` calls: at any time at most one side computes while the other is
        blocked in ``input()``, and what one side sends through ``input()`` is given to the other as its input
        reply. S answers in one execute_request per run (``wire.serve_loop``), opened at T's first request and
        closed (``done``) once T's code has finished. The grader waits on the sockets (a ZeroMQ poller), it does
        not poll them on a timer. ``with_s=False``: S is busy with a cell of its own (T runs the setup at the same
        time); any request of T's is refused.
        """
        tkc, skc = self._tkc, self.kc
        if deadline is None:
            deadline = time.monotonic() + (self.timeout or 60)
        st = {"t0": time.monotonic(), "reqs": {}, "cbs": 0, "b_t2s": 0, "b_s2t": 0, "wakeups": 0,
              "in_s": 0.0, "in_t": 0.0}
        sent_s = sent_t = None
        msg_id = tkc.execute(code, silent=silent, store_history=not silent, allow_stdin=True,
                             user_expressions=user_expressions or {})
        poller = zmq.asyncio.Poller()
        t_iopub, t_shell, t_stdin = tkc.iopub_channel, tkc.shell_channel, tkc.stdin_channel
        s_stdin, s_shell = (skc.stdin_channel, skc.shell_channel) if with_s else (None, None)
        for ch in (t_iopub, t_shell, t_stdin) + ((s_stdin, s_shell) if with_s else ()):
            poller.register(ch.socket, zmq.POLLIN)
        outputs, reply, idle, failures = [], None, False, []
        t_waiting = False      # T is blocked in input(), waiting for S
        s_waiting = False      # S is blocked in input() (serve_loop between requests, or a callback's answer)
        s_loop = None          # msg_id of S's serve_loop execute_request
        to_s = None            # T's first request, held until S's loop says it is ready
        timed_out = False
        while not (reply is not None and idle):
            now = time.monotonic()
            if now > deadline and not timed_out:
                timed_out = True
                failures.append("no answer before the per-cell time limit")
                await self._interrupt_both(s_loop is not None and not s_waiting)
                deadline = time.monotonic() + self.interrupt_grace
                continue
            if timed_out and now > deadline:
                self._t_broken = "it did not answer after the time limit"
                return None, outputs, failures
            ready = dict(await poller.poll(max(1, int(min(deadline - now, 1.0) * 1000))))
            st["wakeups"] += 1
            if not ready:
                if not await ensure_async(self._tkm.is_alive()):
                    self._t_broken = "the trusted kernel died"
                    return None, outputs, failures + [self._t_broken]
                if t_waiting and not await ensure_async(self.km.is_alive()):
                    t_waiting = False
                    self._s_broken = "the student's kernel died"
                    tkc.input(json.dumps({"op": "fail", "why": self._s_broken}))
                continue
            # T's outputs and reply
            while t_iopub.socket in ready and await ensure_async(t_iopub.msg_ready()):
                m = await ensure_async(t_iopub.get_msg(timeout=1))
                if m["parent_header"].get("msg_id") != msg_id:
                    continue
                t = m["msg_type"]
                if t == "status" and m["content"]["execution_state"] == "idle":
                    idle = True
                elif t == "clear_output":
                    outputs.clear()
                elif t in ("stream", "display_data", "execute_result", "error"):
                    outputs.append(output_from_msg(m))
            while t_shell.socket in ready and await ensure_async(t_shell.msg_ready()):
                m = await ensure_async(t_shell.get_msg(timeout=1))
                if m["parent_header"].get("msg_id") == msg_id:
                    reply = m
                    tv = (m["content"].get("user_expressions") or {}).get("tv") or {}
                    if tv.get("status") == "ok":
                        text = tv.get("data", {}).get("text/plain", "[]")
                        if text not in ("[]", ""):
                            failures.append(text)
            # T sends something: a request (S's loop is started if need be) or the answer to S's callback
            while t_stdin.socket in ready and await ensure_async(t_stdin.msg_ready()):
                m = await ensure_async(t_stdin.get_msg(timeout=1))
                if sent_t is not None:
                    st["in_t"] += time.monotonic() - sent_t
                    sent_t = None
                prompt = m["content"].get("prompt", "")
                if not prompt.startswith(PREFIX):
                    tkc.input("")
                    continue
                payload = prompt[len(PREFIX):]
                st["b_t2s"] += len(payload)
                op = _op(payload)
                if op in REQUESTS:
                    st["reqs"][op] = st["reqs"].get(op, 0) + 1
                if self._s_broken or not with_s:
                    tkc.input(json.dumps({"op": "fail", "why": self._s_broken or "no student's side here"}))
                elif s_waiting:
                    s_waiting, t_waiting = False, True
                    skc.input(payload)
                    sent_s = time.monotonic()
                elif s_loop is None and op in REQUESTS:
                    s_loop = skc.execute(f"{_WIRE}.serve_loop()", silent=True, store_history=False,
                                         allow_stdin=True)
                    to_s, t_waiting = payload, True
                else:
                    tkc.input(json.dumps({"op": "fail", "why": "nothing to answer"}))
            # S sends something: ready (its loop started), an answer, or a callback's request
            while with_s and s_stdin.socket in ready and await ensure_async(s_stdin.msg_ready()):
                m = await ensure_async(s_stdin.get_msg(timeout=1))
                if sent_s is not None:
                    st["in_s"] += time.monotonic() - sent_s
                    sent_s = None
                prompt = m["content"].get("prompt", "")
                text = prompt[len(PREFIX):] if prompt.startswith(PREFIX) else None
                st["b_s2t"] += len(prompt)
                if to_s is not None and text is not None and _op(text) == "ready":
                    skc.input(to_s)
                    to_s = None
                elif t_waiting:
                    if _op(text) in REQUESTS:
                        st["cbs"] += 1
                    s_waiting, t_waiting = True, False
                    tkc.input(self._checked(text))
                    sent_t = time.monotonic()
                else:  # between requests (what it says goes nowhere; T's next message answers it)
                    s_waiting = True
            while with_s and s_shell.socket in ready and await ensure_async(s_shell.msg_ready()):
                m = await ensure_async(s_shell.get_msg(timeout=1))
                if s_loop is not None and m["parent_header"].get("msg_id") == s_loop:
                    # the loop ended (broken by the student's code, or an error): T must not wait for it
                    s_loop, s_waiting, to_s = None, False, None
                    if t_waiting:
                        t_waiting = False
                        c = m["content"]
                        why = (f" ({c.get('ename')}: {str(c.get('evalue'))[:200]})" if c.get("status") == "error"
                               else f" (its loop ended: {c.get('status')})")
                        tkc.input(json.dumps({"op": "fail", "why": "the student's side stopped answering" + why}))
        if s_loop is not None:
            await self._close_loop(s_loop, s_waiting)
        _prof(ev="run_t", code=code[:60], secs=time.monotonic() - st.pop("t0"), **st)
        return reply, outputs, failures

    async def _close_loop(self, s_loop, s_waiting):
        """Tell S's serve_loop it is done and wait for its execute_reply (S is then free for the next cell)."""
        skc = self.kc
        done = json.dumps({"op": "done"})
        if s_waiting:
            skc.input(done)
        end = time.monotonic() + self.interrupt_grace
        poller = zmq.asyncio.Poller()
        poller.register(skc.stdin_channel.socket, zmq.POLLIN)
        poller.register(skc.shell_channel.socket, zmq.POLLIN)
        while time.monotonic() < end:
            ready = dict(await poller.poll(200))
            while skc.stdin_channel.socket in ready and await ensure_async(skc.stdin_channel.msg_ready()):
                await ensure_async(skc.stdin_channel.get_msg(timeout=1))
                skc.input(done)
            while skc.shell_channel.socket in ready and await ensure_async(skc.shell_channel.msg_ready()):
                m = await ensure_async(skc.shell_channel.get_msg(timeout=1))
                if m["parent_header"].get("msg_id") == s_loop:
                    return
        # the student's code keeps S busy: stop waiting; its next cells (and T's requests) queue behind it
        await self._interrupt_both(True, t_too=False)

    def _checked(self, text):
        """What the student's side sent, if it is a JSON message of acceptable size; else a failure message."""
        if not isinstance(text, str):
            return json.dumps({"op": "fail", "why": "the student's side gave no answer (its code did not run, "
                                                    "or it was changed)"})
        if len(text) > self.max_message_mb * 2 ** 20:
            return json.dumps({"op": "fail", "why": f"the student's answer is larger than {self.max_message_mb} MB"})
        if _op(text) is None:  # (T parses the rest, in its sandbox: the grader does not build the student's objects)
            return json.dumps({"op": "fail", "why": "the student's side sent something that is not JSON (not a "
                                                    "wire message)"})
        return text

    async def _interrupt_both(self, s_too, t_too=True):
        for km in ([self.km] if s_too else []) + ([self._tkm] if t_too else []):
            try:
                await ensure_async(km.interrupt_kernel())
            except Exception:  # noqa: BLE001
                pass
        if s_too:
            self._s_broken = "the student's code did not answer before the per-cell time limit"


_OP = re.compile(r'\{"op": "([a-z_]{1,20})"')


def _op(payload):
    """The op of a wire message (every message the wire writes starts ``{"op": "<op>"``), read without parsing
    it: the grader runs outside the sandbox, and parsing what the student's side sends (up to max_message_mb, or
    nested deep enough to break the parser) is the trusted kernel's job, in its own sandbox."""
    m = _OP.match(payload) if isinstance(payload, str) else None
    return m.group(1) if m else None


def _error(ename, evalue, traceback=None):
    from nbformat import NotebookNode
    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=traceback or [f"{ename}: {evalue}"])
