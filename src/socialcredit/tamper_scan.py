"""A static scan of a submitted notebook that names attempts to subvert autograding.

:func:`scan_notebook` reads the code a student could have written (answer cells, and cells the student
added) and returns a :class:`Finding` for every line that reaches for the grader's machinery: IPython's
input and AST transformers, event callbacks, the shell's or kernel's methods, trace and audit hooks, stack
frames, ``sys.modules``, replaced builtins or library functions, objects equal to everything, the
environment, the network, subprocesses, signals, the gradebook and the course's other folders. It also
reports answer cells that look copied rather than computed (:data:`HARD_CODED`): several data values of the
notebook's visible tests (ids, dates, precise numbers) or of the world's tables written out as literals.
:func:`summarise` turns the findings into one line for a grades report.

**What it is and is not.** Nothing is ever executed: each cell is parsed with :mod:`ast` (when a cell
does not parse, its IPython ``%`` and ``!`` lines are blanked, keeping line numbers, and searched as text;
a cell that still does not parse is searched line by line with regular expressions for the same names).
It is a *reporting aid*, so that an attempt is named instead of passing silently. It is **not a
protection**, and a clean scan proves nothing: code that hides what it does (names built from strings,
``getattr`` with computed names, encoded payloads, a module of the student's own that does the work, a
chain of aliases this scan does not follow) goes unnoticed, and so do answers hard-coded in any way other
than plain literals (see :class:`_CopyingCheck`). Containment belongs to the grading sandbox and to verdicts
decided outside the student's process. The rules are narrow on purpose, so that honest course
code (pandas, numpy, matplotlib, seaborn, scikit-learn, ...) yields no finding; every rule is tested
against the course's own notebooks.

Cells are chosen by their nbgrader metadata: answer cells (``solution: true``) and cells without nbgrader
metadata are scanned; the instructor's cells (``locked`` or ``grade`` without ``solution``) are skipped,
since nbgrader restores those from the gradebook before grading. The metadata is the student's file too: a
cell relabelled to look like the instructor's is skipped as well, one more reason this is not a protection.
"""
from __future__ import annotations

import ast
import csv
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

__all__ = ["Finding", "scan_notebook", "scan_source", "summarise", "world_values"]

EVIDENCE_WIDTH = 80  # characters of the offending line kept in a finding
SUMMARY_ENTRIES = 6  # entries shown by summarise() before "and N more"


@dataclass(frozen=True)
class Finding:
    """One suspicious line: which cell, which line of it (1-based), what technique, and the line itself."""

    cell: str
    line: int
    technique: str
    evidence: str


# --- Technique names (stable: reports and tests refer to them) ---------------------------------------------

# IPython's and the kernel's machinery
INPUT_TRANSFORMER = "IPython input transformer"
AST_TRANSFORMER = "IPython AST transformer"
CUSTOM_EXC = "IPython custom exception handler"
EVENT_CALLBACK = "IPython event callback"
TRACEBACK_REPLACED = "IPython traceback display replaced"
CELL_EXECUTION = "IPython cell execution machinery"
DISPLAY_HOOK = "display or exception hook replaced"
GET_IPYTHON_REPLACED = "get_ipython replaced"
KERNEL_INTERNALS = "ipykernel internals"
# the interpreter's hooks and introspection
SETTRACE = "sys.settrace"
SETPROFILE = "sys.setprofile"
AUDIT_HOOK = "sys.addaudithook"
IMPORT_HOOK = "import hook"
SYS_MODULES = "sys.modules"
FRAME_ACCESS = "stack frame access"
GC_OBJECTS = "gc object graph"
CTYPES = "ctypes"
CODE_REPLACED = "function code replaced"
FUNCTION_GLOBALS = "function globals"
BUILTINS_MODULE = "builtins module"
BUILTINS_REPLACED = "builtins replaced"
RELOAD = "importlib.reload"
DYNAMIC_IMPORT = "dynamic import"
# redefining what the tests rely on
LIBRARY_REPLACED = "library attribute replaced"
COURSE_PACKAGE_REPLACED = "course package replaced"
BUILTIN_NAME_REDEFINED = "builtin name redefined"
EQUAL_TO_EVERYTHING = "object equal to everything"
# reading what must not be read, or escaping
ENVIRONMENT = "environment variables"
NETWORK = "network access"
SUBPROCESS = "subprocess or shell command"
FORK = "process fork"
KILL = "process kill or exit"
SIGNAL_HANDLER = "signal handler"
SQLITE = "sqlite3"
COURSE_PATH = "course file path"
WIRE_MESSAGE = "grader wire message"
DIRECTORY_LISTING = "directory listing outside the submission"
EXEC_EVAL = "exec/eval/compile"
# copying instead of computing (see _CopyingCheck)
HARD_CODED = "hard-coded answers"

# --- What each rule looks for -------------------------------------------------------------------------------

# Attribute names that only IPython's, the kernel's or the interpreter's internals use: any use is reported,
# whatever object they are read from (`get_ipython().ast_transformers`, `_ip.run_cell`, `frame.f_locals`).
ANY_ATTRIBUTE = {
    "input_transformers_cleanup": INPUT_TRANSFORMER,
    "input_transformers_post": INPUT_TRANSFORMER,
    "input_transformer_manager": INPUT_TRANSFORMER,
    "ast_transformers": AST_TRANSFORMER,
    "set_custom_exc": CUSTOM_EXC,
    "run_cell": CELL_EXECUTION,
    "run_cell_async": CELL_EXECUTION,
    "run_ast_nodes": CELL_EXECUTION,
    "run_code": CELL_EXECUTION,
    "transform_cell": CELL_EXECUTION,
    "do_execute": KERNEL_INTERNALS,
    "settrace": SETTRACE,
    "setprofile": SETPROFILE,
    "addaudithook": AUDIT_HOOK,
    "meta_path": IMPORT_HOOK,
    "path_hooks": IMPORT_HOOK,
    "path_importer_cache": IMPORT_HOOK,
    "f_trace": FRAME_ACCESS,
    "f_lineno": FRAME_ACCESS,
    "f_back": FRAME_ACCESS,
    "f_globals": FRAME_ACCESS,
    "f_locals": FRAME_ACCESS,
    "f_code": FRAME_ACCESS,
    "_getframe": FRAME_ACCESS,
    "__globals__": FUNCTION_GLOBALS,
    "__builtins__": BUILTINS_MODULE,
}

# Attribute names reported only when assigned to (`_ip.showtraceback = ...`, `setattr(sys, "excepthook", f)`).
STORED_ATTRIBUTE = {
    "showtraceback": TRACEBACK_REPLACED,
    "showsyntaxerror": TRACEBACK_REPLACED,
    "displayhook": DISPLAY_HOOK,
    "display_pub": DISPLAY_HOOK,
    "excepthook": DISPLAY_HOOK,
    "get_ipython": GET_IPYTHON_REPLACED,
    "__code__": CODE_REPLACED,
}

# Fully qualified names, after the cell's import aliases are resolved (`import os as _os` makes
# `_os.environ` read as `os.environ`). A trailing "*" matches any name that starts with the rest.
DOTTED = {
    "sys.modules": SYS_MODULES,
    "sys._current_frames": FRAME_ACCESS,
    "inspect.currentframe": FRAME_ACCESS,
    "inspect.stack": FRAME_ACCESS,
    "inspect.trace": FRAME_ACCESS,
    "inspect.getouterframes": FRAME_ACCESS,
    "gc.get_referrers": GC_OBJECTS,
    "gc.get_referents": GC_OBJECTS,
    "gc.get_objects": GC_OBJECTS,
    "importlib.reload": RELOAD,
    "importlib.import_module": DYNAMIC_IMPORT,
    "os.environ": ENVIRONMENT,
    "os.environb": ENVIRONMENT,
    "os.getenv": ENVIRONMENT,
    "os.getenvb": ENVIRONMENT,
    "os.putenv": ENVIRONMENT,
    "os.system": SUBPROCESS,
    "os.popen": SUBPROCESS,
    "os.exec*": SUBPROCESS,
    "os.spawn*": SUBPROCESS,
    "os.posix_spawn*": SUBPROCESS,
    "os.fork": FORK,
    "os.forkpty": FORK,
    "os.kill": KILL,
    "os.killpg": KILL,
    "os._exit": KILL,
    "os.abort": KILL,
    "signal.signal": SIGNAL_HANDLER,
    "signal.pthread_sigmask": SIGNAL_HANDLER,
    "signal.setitimer": SIGNAL_HANDLER,
    "signal.alarm": SIGNAL_HANDLER,
}

# Modules whose mere import is reported (a name matches the module and its submodules: "http" covers
# "http.client").
IMPORTED_MODULE = {
    "ipykernel": KERNEL_INTERNALS,
    "ctypes": CTYPES,
    "builtins": BUILTINS_MODULE,
    "socket": NETWORK,
    "urllib": NETWORK,
    "urllib3": NETWORK,
    "requests": NETWORK,
    "http": NETWORK,
    "httpx": NETWORK,
    "ftplib": NETWORK,
    "smtplib": NETWORK,
    "subprocess": SUBPROCESS,
    "pty": SUBPROCESS,
    "multiprocessing": FORK,
    "sqlite3": SQLITE,
}

# Event names of IPython's callback registry; a string equal to one of them is reported.
IPYTHON_EVENTS = {"pre_run_cell", "post_run_cell", "pre_execute", "post_execute", "shell_initialized"}

# Fragments of the course's private paths; a string literal that contains one is reported.
COURSE_PATH_FRAGMENTS = ("gradebook.db", "solutions/", "/autograded/", "/submitted/", "instructors/",
                         "release/",
                         # the grading machine seen from the sandbox: other processes, the kernel's own folders
                         "/proc/", "socialcredit-sandbox", "kernel.json", "kernel.log")

# Marks of the trusted grader's messages (socialcredit.wire): student code has no reason to write them, and a
# string that holds one is an attempt to speak to the grader in its own protocol.
WIRE_FRAGMENTS = ("socialcredit-verdict", "\x1e")

# Libraries the tests use: assigning to one of their attributes (`np.isclose = ...`) is reported.
# Their configuration objects are set by honest code and are not: `pd.options.display.max_rows = 20`.
LIBRARY_ROOTS = {"numpy", "pandas", "math", "matplotlib", "seaborn", "scipy", "sklearn", "fairlearn",
                 "statsmodels"}
COURSE_PACKAGE = "socialcredit"
CONFIGURATION_SEGMENTS = {"options", "rcParams", "rcParamsDefault"}

# Aliases every lesson's setup cell defines, so a student's cell may use them without importing.
DEFAULT_ALIASES = {"np": "numpy", "pd": "pandas", "plt": "matplotlib.pyplot", "sns": "seaborn"}
# Modules the rules above name: `s = sys` makes `s` an alias of sys even when sys was imported elsewhere.
KNOWN_MODULES = ({name.split(".")[0] for name in DOTTED} | set(IMPORTED_MODULE) | LIBRARY_ROOTS
                 | {COURSE_PACKAGE, "sys", "threading"})

# Builtins the tests call. Rebinding one at the top level of a cell to something callable (a def, a class,
# a lambda, another name) is reported. Rebinding one to plain data (`sum = 0`, `max = df.x.max()`) breaks
# the tests instead of fooling them and is a common beginner habit, so it is reported only for the few
# names no honest cell would use as a variable.
TEST_BUILTINS = {"isinstance", "len", "abs", "round", "AssertionError", "print", "float", "int", "str",
                 "list", "set", "sorted", "type", "bool", "all", "any", "sum", "min", "max", "repr",
                 "getattr", "hasattr", "Exception"}
ALWAYS_REPORTED_BUILTINS = {"isinstance", "AssertionError", "Exception", "getattr", "hasattr", "repr",
                            "print"}

EXEC_BUILTINS = {"exec", "eval", "compile"}
LISTING_FUNCTIONS = {"glob.glob", "glob.iglob", "os.walk", "os.listdir", "os.scandir"}
LISTING_METHODS = {"glob", "rglob", "iterdir", "walk"}  # pathlib.Path's
PARENT_DIRECTORY = re.compile(r"(?:^|[/\\])\.\.(?:[/\\]|$)")

# --- Public functions ---------------------------------------------------------------------------------------


def scan_notebook(nb, *, release=None, world=None) -> list[Finding]:
    """Every finding in the cells a student could have written, in notebook order (see the module's notes).

    ``nb`` is an nbformat v4 notebook (a plain dict of the same shape works too). Never raises on odd cell
    content: a cell that cannot be parsed is searched line by line instead.

    Two optional inputs sharpen the check for hard-coded answers (:data:`HARD_CODED`, see
    :class:`_CopyingCheck`): ``release``, the notebook as the students received it, whose answer stubs hold
    values a student may keep and whose text states the numbers a lesson gives (without it, no stub value is
    excused and the submission's markdown and locked cells stand in for the text); and ``world``, values of
    the world's tables (:func:`world_values`), several of which in one answer cell are reported too.
    """
    findings = []
    copying = _CopyingCheck(nb, release, world)
    for number, cell in enumerate(nb.get("cells", []), start=1):
        if cell.get("cell_type") != "code" or not _written_by_student(cell):
            continue
        meta = (cell.get("metadata") or {}).get("nbgrader") or {}
        name = meta.get("grade_id") or f"cell {number}"
        source = _source(cell)
        found = scan_source(source, name)
        if meta.get("solution"):  # answer cells only: the stub's function is where answers are written
            found += copying.findings(source, name)
        findings.extend(sorted(found, key=lambda finding: finding.line))
    return findings


def scan_source(source: str, cell: str = "cell 1") -> list[Finding]:
    """The findings of one cell's source, sorted by line; ``cell`` is the name they carry."""
    lines = _split_lines(source)
    hits: dict[tuple[int, str], None] = {}  # (line, technique), in the order found
    tree = _parse(source)
    magic_lines: list[int] = []
    if tree is None:
        python, magic_lines = _blank_magics(lines)
        tree = _parse(python)
    if tree is None:
        # Not Python even without its magics: fall back on searching every line for the same names.
        for number, line in enumerate(lines, start=1):
            for technique in _regex_techniques(line):
                hits.setdefault((number, technique), None)
    else:
        try:
            keys = _AstScanner(tree).scan()
        except (RecursionError, MemoryError):  # a tree too deep to walk: search its lines instead
            keys = [(number, technique) for number, line in enumerate(lines, start=1)
                    for technique in _regex_techniques(line)]
        for key in keys:
            hits.setdefault(key, None)
        # Magic and shell lines (`!cat ../../../gradebook.db`) were blanked for parsing: search them as text.
        for number in magic_lines:
            for technique in _regex_techniques(lines[number - 1]):
                hits.setdefault((number, technique), None)
    findings = []
    for line, technique in sorted(hits, key=lambda key: key[0]):
        text = lines[line - 1].strip() if 0 < line <= len(lines) else ""
        if len(text) > EVIDENCE_WIDTH:
            text = text[:EVIDENCE_WIDTH - 3] + "..."
        findings.append(Finding(cell=cell, line=line, technique=technique, evidence=text))
    return findings


def summarise(findings) -> str:
    """One line for a grades report: each (technique, cell) once, at its first line; "" when nothing was found.

    Example: "suspected tampering: IPython input transformer (ex1_1_normalise_ids line 24); sys.settrace
    (ex1_1_normalise_ids line 30)". Past :data:`SUMMARY_ENTRIES` entries the rest is counted ("and 3 more").
    """
    first: dict[tuple[str, str], Finding] = {}
    for finding in findings:
        first.setdefault((finding.technique, finding.cell), finding)
    if not first:
        return ""
    entries = [f"{f.technique} ({f.cell} line {f.line})" for f in first.values()]
    shown = entries[:SUMMARY_ENTRIES]
    if len(entries) > SUMMARY_ENTRIES:
        shown.append(f"and {len(entries) - SUMMARY_ENTRIES} more")
    return "suspected tampering: " + "; ".join(shown)


# --- Choosing and preparing cells ---------------------------------------------------------------------------


def _written_by_student(cell) -> bool:
    """Answer cells and cells without nbgrader's marks; not the instructor's locked or graded cells."""
    meta = (cell.get("metadata") or {}).get("nbgrader") or {}
    if meta.get("solution"):
        return True
    return not (meta.get("locked") or meta.get("grade"))


def _source(cell) -> str:
    source = cell.get("source", "")
    if isinstance(source, list):  # nbformat's on-disk form, if the notebook was not normalised
        source = "".join(source)
    return source if isinstance(source, str) else ""


def _split_lines(source: str) -> list[str]:
    """The source's lines, numbered as Python's parser numbers them (only \\n, \\r\\n and \\r end a line)."""
    return re.split(r"\r\n|\r|\n", source)


def _parse(source: str):
    """The module's syntax tree, or None when it is not Python (a magic, a typo, a null byte...)."""
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _blank_magics(lines: list[str]) -> tuple[str, list[int]]:
    """The source with every IPython `%` / `!` line replaced by `pass` at its own indentation.

    `pass` rather than nothing keeps a block whose only line was a magic valid, and keeps line numbers.
    Returns the new source and the numbers (1-based) of the blanked lines.
    """
    out, blanked = [], []
    for number, line in enumerate(lines, start=1):
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")):
            out.append(line[:len(line) - len(stripped)] + "pass")
            blanked.append(number)
        else:
            out.append(line)
    return "\n".join(out), blanked


# --- The syntax-tree scan -----------------------------------------------------------------------------------


def _dotted_match(name: str | None) -> str | None:
    """The technique of a fully qualified name in :data:`DOTTED` (exactly, or by a "*" prefix), else None."""
    if not name:
        return None
    if name in DOTTED:
        return DOTTED[name]
    for pattern, technique in DOTTED.items():
        if pattern.endswith("*") and name.startswith(pattern[:-1]) and "." not in name[len(pattern) - 1:]:
            return technique
    return None


def _imported_module_technique(module: str) -> str | None:
    """The technique for importing `module` (or one of its submodules), else None."""
    root = module.split(".")[0]
    return IMPORTED_MODULE.get(root)


class _AstScanner(ast.NodeVisitor):
    """Walks one cell's syntax tree and collects (line, technique) pairs."""

    def __init__(self, tree: ast.Module):
        self.tree = tree
        self.hits: list[tuple[int, str]] = []
        self.aliases, self.own_names = _aliases(tree)
        self.listing_lines: list[int] = []  # glob / os.walk / Path.rglob ... calls
        self.has_parent_path = False  # a string literal with a ".." path component

    def scan(self) -> list[tuple[int, str]]:
        self.visit(self.tree)
        self._top_level_bindings(self.tree.body)
        if self.has_parent_path:
            self.hits.extend((line, DIRECTORY_LISTING) for line in self.listing_lines)
        return self.hits

    def report(self, node: ast.AST, technique: str) -> None:
        self.hits.append((getattr(node, "lineno", 1), technique))

    # Names -------------------------------------------------------------------------------------------------

    def resolve(self, node: ast.AST) -> str | None:
        """The dotted name an expression stands for, through the cell's aliases, or None if it is not one.

        `_os.environ` with `import os as _os` gives "os.environ"; `_ip.kernel` with `_ip = get_ipython()`
        gives "get_ipython().kernel"; a call's result (other than get_ipython()) gives None.
        """
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value)
            return f"{base}.{node.attr}" if base else None
        if (isinstance(node, ast.Call) and not node.args and not node.keywords
                and self.resolve(node.func) == "get_ipython"):
            return "get_ipython()"
        return None

    def visit_Name(self, node: ast.Name) -> None:
        if node.id == "__builtins__":
            self.report(node, BUILTINS_MODULE)
        elif node.id == "get_ipython" and isinstance(node.ctx, (ast.Store, ast.Del)):
            self.report(node, GET_IPYTHON_REPLACED)
        elif node.id in self.aliases:  # a name imported from a module: `from os import environ`
            technique = _dotted_match(self.aliases[node.id])
            if technique:
                self.report(node, technique)
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        technique = ANY_ATTRIBUTE.get(node.attr)
        if technique:
            self.report(node, technique)
        dotted = self.resolve(node)
        technique = _dotted_match(dotted)
        if technique:
            self.report(node, technique)
        # The kernel object behind the shell (`get_ipython().kernel`, `kernel.shell`).
        # IPython's callback registry read directly: `get_ipython().events.callbacks["post_run_cell"]`.
        if node.attr == "callbacks" and isinstance(node.value, ast.Attribute) and node.value.attr == "events":
            self.report(node, EVENT_CALLBACK)
        base = self.resolve(node.value)
        if (node.attr == "kernel" and base == "get_ipython()") or (
                node.attr == "shell" and base and base.split(".")[-1] == "kernel"):
            self.report(node, KERNEL_INTERNALS)
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            self.check_attribute_store(node, node.value, node.attr)
        self.generic_visit(node)

    def check_attribute_store(self, node: ast.AST, obj: ast.AST, attr: str) -> None:
        """Assigning `obj.attr` (directly, or through setattr): hooks, builtins, library functions."""
        technique = STORED_ATTRIBUTE.get(attr)
        if technique:
            self.report(node, technique)
        base = self.resolve(obj)
        if not base:
            return
        parts = base.split(".")
        if parts[0] in ("builtins", "__builtins__"):
            self.report(node, BUILTINS_REPLACED)
        elif CONFIGURATION_SEGMENTS.intersection(parts) or attr in CONFIGURATION_SEGMENTS:
            return  # pd.options.display.max_rows = 20, matplotlib.rcParams = ...: configuration
        elif parts[0] in LIBRARY_ROOTS:
            self.report(node, LIBRARY_REPLACED)
        elif parts[0] == COURSE_PACKAGE:
            self.report(node, COURSE_PACKAGE_REPLACED)

    # Imports -----------------------------------------------------------------------------------------------

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            technique = _imported_module_technique(alias.name)
            if technique:
                self.report(node, technique)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module and not node.level:
            technique = _imported_module_technique(node.module)
            if technique:
                self.report(node, technique)
            for alias in node.names:  # `from sys import settrace`, `from os import system`
                technique = _dotted_match(f"{node.module}.{alias.name}") or ANY_ATTRIBUTE.get(alias.name)
                if technique:
                    self.report(node, technique)

    # Calls -------------------------------------------------------------------------------------------------

    def visit_Call(self, node: ast.Call) -> None:
        func = self.resolve(node.func)
        if (func in EXEC_BUILTINS and func not in self.own_names) or (
                func in {f"builtins.{name}" for name in EXEC_BUILTINS}):  # not the cell's own `def eval(...)`
            self.report(node, EXEC_EVAL)
        elif func == "__import__":
            first = node.args[0] if node.args else None
            builtins_wanted = isinstance(first, ast.Constant) and first.value in ("builtins", "__builtin__")
            self.report(node, BUILTINS_MODULE if builtins_wanted else DYNAMIC_IMPORT)
        elif func in ("setattr", "delattr") and len(node.args) >= 2:
            obj, name = node.args[0], node.args[1]
            if isinstance(name, ast.Constant) and isinstance(name.value, str):
                self.check_attribute_store(node, obj, name.value)
            else:  # a computed name: report it when the object is a module the tests rely on
                self.check_attribute_store(node, obj, "")
        # IPython's callback registry: `get_ipython().events.register("post_run_cell", f)`.
        if (isinstance(node.func, ast.Attribute) and node.func.attr in ("register", "unregister")
                and isinstance(node.func.value, ast.Attribute) and node.func.value.attr == "events"):
            self.report(node, EVENT_CALLBACK)
        # Listing folders: reported only if the cell also names a parent directory (see scan()).
        if func in LISTING_FUNCTIONS or (isinstance(node.func, ast.Attribute)
                                         and node.func.attr in LISTING_METHODS):
            self.listing_lines.append(node.lineno)
        self.generic_visit(node)

    # Literals ----------------------------------------------------------------------------------------------

    def visit_Expr(self, node: ast.Expr) -> None:
        # A string standing alone (a docstring) does nothing: its words ("see solutions/...") are not reported.
        if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            return
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str):
            text = node.value
            if any(fragment in text for fragment in COURSE_PATH_FRAGMENTS):
                self.report(node, COURSE_PATH)
            if any(fragment in text for fragment in WIRE_FRAGMENTS):
                self.report(node, WIRE_MESSAGE)
            if text in IPYTHON_EVENTS:
                self.report(node, EVENT_CALLBACK)
            if ANY_ATTRIBUTE.get(text) == CELL_EXECUTION:  # a trace hook looking for "run_ast_nodes"
                self.report(node, CELL_EXECUTION)
            if PARENT_DIRECTORY.search(text):
                self.has_parent_path = True

    # Definitions -------------------------------------------------------------------------------------------

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        if node.name == "get_ipython":  # `def get_ipython(): return fake_shell`
            self.report(node, GET_IPYTHON_REPLACED)
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for stmt in node.body:
            if _equal_to_everything(stmt):
                self.report(stmt, EQUAL_TO_EVERYTHING)
        self.generic_visit(node)

    # Builtins rebound at the top level ---------------------------------------------------------------------

    def _top_level_bindings(self, body: list[ast.stmt]) -> None:
        """Report builtins the tests use being rebound in the cell's module scope (blocks included)."""
        for stmt in body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if stmt.name in TEST_BUILTINS:
                    self.report(stmt, BUILTIN_NAME_REDEFINED)
                continue  # names bound inside a function or class are local to it
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                for alias in stmt.names:
                    if (alias.asname or alias.name.split(".")[0]) in TEST_BUILTINS:
                        self.report(stmt, BUILTIN_NAME_REDEFINED)
            elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):  # `sum += v` only updates a variable
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                for target in targets:
                    for name, value in _pairs(target, stmt.value):  # `abs, round = f, g`: each its own
                        if name in ALWAYS_REPORTED_BUILTINS or (
                                name in TEST_BUILTINS and _looks_callable(value)):
                            self.report(stmt, BUILTIN_NAME_REDEFINED)
            # Blocks at module level still bind module-level names: look inside them too.
            for field in ("body", "orelse", "finalbody"):
                inner = getattr(stmt, field, None)
                if isinstance(inner, list) and inner and isinstance(inner[0], ast.stmt):
                    self._top_level_bindings(inner)
            for handler in getattr(stmt, "handlers", []) or []:
                self._top_level_bindings(handler.body)
            for case in getattr(stmt, "cases", []) or []:
                self._top_level_bindings(case.body)


def _aliases(tree: ast.Module) -> tuple[dict[str, str], set[str]]:
    """What each name of the cell stands for (modules and their members imported, get_ipython() kept), and
    the names the cell binds otherwise (variables, parameters, functions, classes).

    Starts from the lessons' usual aliases (np, pd, plt, sns). A name that the cell also binds to
    something else (a variable, a parameter, a loop target) is dropped, so `data = load("x")` after
    `from socialcredit import data` does not make `data.x = 1` look like the course package.
    """
    aliases = dict(DEFAULT_ALIASES)
    other_bindings: set[str] = set()
    imported: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    imported[alias.asname] = alias.name
                else:
                    root = alias.name.split(".")[0]
                    imported[root] = root
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                if alias.name != "*":
                    imported[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                for name, value in _pairs(target, node.value):
                    if value is not None and _alias_value(value, imported):
                        imported.setdefault(name, _alias_value(value, imported))
                    else:
                        other_bindings.add(name)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.For, ast.AsyncFor, ast.comprehension,
                               ast.NamedExpr)):
            other_bindings.update(_bound_names([node.target]))
        elif isinstance(node, ast.arg):
            other_bindings.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            other_bindings.add(node.name)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                if item.optional_vars is not None:
                    other_bindings.update(_bound_names([item.optional_vars]))
    aliases.update(imported)
    for name in other_bindings:
        aliases.pop(name, None)
    return aliases, other_bindings


def _alias_value(value: ast.AST, imported: dict[str, str]) -> str | None:
    """What `name = value` makes `name` stand for, when value is a module name or get_ipython()."""
    if isinstance(value, ast.Name):
        known = {**DEFAULT_ALIASES, **{name: name for name in KNOWN_MODULES}, **imported}
        return known.get(value.id)
    if (isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "get_ipython"
            and not value.args and not value.keywords):
        return "get_ipython()"
    return None


def _pairs(target: ast.AST, value: ast.AST | None):
    """(name, value) for each name an assignment binds; value is None when it cannot be matched up."""
    if isinstance(target, ast.Name):
        yield target.id, value
    elif isinstance(target, (ast.Tuple, ast.List)):
        values = value.elts if isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(
            target.elts) else [None] * len(target.elts)
        for inner, inner_value in zip(target.elts, values):
            yield from _pairs(inner, inner_value)
    elif isinstance(target, ast.Starred):
        yield from _pairs(target.value, None)


def _bound_names(targets) -> list[str]:
    """Plain names bound by assignment targets (tuples unpacked; attributes and subscripts ignored)."""
    names = []
    for target in targets:
        names.extend(name for name, _ in _pairs(target, None))
    return names


def _looks_callable(value: ast.AST | None) -> bool:
    """Whether an assigned value may be a function: a lambda, another name, an attribute, a partial."""
    if isinstance(value, (ast.Lambda, ast.Name, ast.Attribute)):
        return True
    if isinstance(value, ast.Call):
        func = value.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        return name in ("partial", "type", "wraps")
    return False


def _equal_to_everything(stmt: ast.stmt) -> bool:
    """A class-body statement making instances equal to anything: `__eq__` returning True, `__ne__` False."""
    constant = {"__eq__": True, "__ne__": False}
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name in constant:
        body = stmt.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            body = body[1:]  # a docstring
        return (len(body) == 1 and isinstance(body[0], ast.Return) and isinstance(body[0].value, ast.Constant)
                and body[0].value.value is constant[stmt.name])
    if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Lambda):
        returned = stmt.value.body
        for target in stmt.targets:
            if isinstance(target, ast.Name) and target.id in constant and isinstance(returned, ast.Constant) \
                    and returned.value is constant[target.id]:
                return True
    return False


# --- Hard-coded answers -------------------------------------------------------------------------------------

MIN_TEXT_LENGTH = 4  # characters, surrounding spaces not counted
MIN_SIGNIFICANT_DIGITS = 3
MIN_TEST_VALUES = 2  # distinct data values of the visible tests in one answer cell
MIN_WORLD_VALUES = 3  # distinct values of the world's tables in one answer cell
HIDDEN_TESTS = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?(?:^[ \t]*### END HIDDEN TESTS[^\n]*|\Z)", re.M | re.S)
NUMBER_TOKEN = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
# tables left out: their ids are the registry's (community, ratings, truth, citizens) or plain numbers (labour)
WORLD_TABLES_SKIPPED = ("community", "ratings", "truth", "citizens", "labour")
WORLD_MIN_DISTINCT = 100  # a column with fewer distinct values is a category (district, hukou), not data


def _literal_key(value):
    """("text", s) or ("number", x) for a data value (see above), else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        return ("text", value) if len(value.strip()) >= MIN_TEXT_LENGTH and re.search(r"\d", value) else None
    if isinstance(value, (int, float)):
        try:
            text = f"{float(value):.12g}"
        except OverflowError:
            return None
        if not math.isfinite(float(text)):
            return None
        digits = text.lstrip("-").split("e")[0].replace(".", "").strip("0")
        return ("number", float(text)) if len(digits) >= MIN_SIGNIFICANT_DIGITS else None
    return None


def _literals(tree: ast.AST, *, words: bool = False) -> dict[tuple, int]:
    """Data values written as literals in a syntax tree -> the first line holding each. Docstrings and the
    text around an f-string's values are left out; ``words``: strings without digits count too."""
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            skipped.add(id(node.value))
        elif isinstance(node, ast.JoinedStr):
            skipped.update(id(value) for value in node.values)
    found: dict[tuple, int] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and id(node) not in skipped:
            key = _literal_key(node.value)
            if key is None and words and isinstance(node.value, str) and len(node.value.strip()) >= MIN_TEXT_LENGTH:
                key = ("text", node.value)
            if key is not None and node.lineno < found.get(key, node.lineno + 1):
                found[key] = node.lineno
    return found


def _tree(source: str):
    """The source's syntax tree (IPython magics blanked), or None."""
    tree = _parse(source)
    if tree is None:
        tree = _parse(_blank_magics(_split_lines(source))[0])
    return tree


def _nbgrader(cell) -> dict:
    return (cell.get("metadata") or {}).get("nbgrader") or {}


def _is_test_cell(cell) -> bool:
    meta = _nbgrader(cell)
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


class _CopyingCheck:
    """One notebook's check for hard-coded answers (:data:`HARD_CODED`); :meth:`findings` applies it to one cell.

    A student who copies answers instead of computing them writes values, not code: the inputs and expected
    results a visible test cell shows (``{"7": "LP-000007", ...}``), or rows of the world's tables read off a
    classmate's output (``"LP000016"``). An answer cell is reported when it holds
      1. at least MIN_TEST_VALUES distinct data values that are also literals of the notebook's visible test
         cells (hidden tests are left out: a student never saw them); or
      2. at least MIN_WORLD_VALUES distinct values of the world's tables (ids, case numbers: see world_values).
    A data value is a string of at least MIN_TEXT_LENGTH characters holding a digit ("LP-000345", "2020-12"),
    or a number with at least MIN_SIGNIFICANT_DIGITS significant digits (1.25, 4964; not 0.5, 20 or 150.0).
    Words are never counted: honest answers repeat the tests' column names and labels ("base_rate",
    "cumulative") all the time. Values of the answer cell's own stub (the release's version of the cell) are
    not counted, nor numbers that the lesson states in its text or its instructor cells (a clipping bound such
    as 1060, a quantile such as 0.975): those are the method's constants, not answers.

    It is a reporting aid and easily evaded: values built at run time ("LP-" + "000007"), read from a file,
    encoded or rounded differently, one hard-coded value, hard-coded words ("local", "migrant"), or code in a
    cell the student added (only answer cells are checked) go unnoticed; without the release, numbers written
    into the notebook's markdown count as stated by the lesson. An honest answer that happens to spell out
    two of the tests' values would be reported, which is why the course's own answers and its banks'
    alternative answers are tested to give no finding.
    """

    def __init__(self, nb, release=None, world=None):
        cells = nb.get("cells", [])
        self.test_values: set[tuple] = set()
        for cell in cells:
            if _is_test_cell(cell):
                tree = _tree(HIDDEN_TESTS.sub("", _source(cell)))
                if tree is not None:
                    self.test_values.update(_literals(tree))
        self.world = world or frozenset()
        # The answer cells' stubs, and the lesson's text: the release's (everything but its test cells), else
        # what the submission keeps of it (markdown, the locked cells nbgrader restores).
        self.stubs: dict[str, set[tuple]] = {}
        text = []
        for cell in (release if release is not None else nb).get("cells", []):
            meta = _nbgrader(cell)
            if release is not None and meta.get("solution") and meta.get("grade_id"):
                tree = _tree(_source(cell))
                self.stubs[meta["grade_id"]] = set(_literals(tree, words=True)) if tree is not None else set()
            if cell.get("cell_type") != "code":
                text.append(_source(cell))
            elif not _is_test_cell(cell) and (release is not None or (meta.get("locked") and not meta.get("solution"))):
                text.append(_source(cell))
        self.stated_numbers = {key for key in (_literal_key(float(token))
                                               for token in NUMBER_TOKEN.findall("\n".join(text))) if key}

    def findings(self, source: str, cell: str) -> list[Finding]:
        if not self.test_values and not self.world:
            return []
        tree = _tree(source)
        if tree is None:
            return []
        stub = self.stubs.get(cell, set())
        literals = {key: line for key, line in _literals(tree, words=True).items() if key not in stub}
        from_tests = {key: line for key, line in literals.items()
                      if key in self.test_values and key not in self.stated_numbers}
        from_world = {key: line for key, line in literals.items() if key[0] == "text" and key[1] in self.world}
        lines: set[int] = set()
        if len(from_tests) >= MIN_TEST_VALUES:
            lines.update(from_tests.values())
        if len(from_world) >= MIN_WORLD_VALUES:
            lines.update(from_world.values())
        text = _split_lines(source)
        return [Finding(cell=cell, line=line, technique=HARD_CODED, evidence=_evidence(text, line))
                for line in sorted(lines)]


def _evidence(lines: list[str], line: int) -> str:
    text = lines[line - 1].strip() if 0 < line <= len(lines) else ""
    return text if len(text) <= EVIDENCE_WIDTH else text[:EVIDENCE_WIDTH - 3] + "..."


def world_values(folder) -> frozenset[str]:
    """The values of a world's tables that no answer has reason to spell out: every non-numeric value of a
    column with at least :data:`WORLD_MIN_DISTINCT` distinct values (ids in each agency's spelling, case
    numbers), from the CSV files of ``folder`` (a cohort's ``datasets/`` or a student's world).

    Read once per folder and kept (about 0.2 s for the course's world); an empty set when the folder does not
    exist. Categories (districts, sectors) and numbers are left out: honest answers name them.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return frozenset()
    stamp = tuple((p.name, p.stat().st_mtime_ns) for p in sorted(folder.glob("*.csv")))
    return _world_values(str(folder), stamp)


@lru_cache(maxsize=8)
def _world_values(folder: str, stamp: tuple) -> frozenset[str]:
    values: set[str] = set()
    for name, _ in stamp:
        if Path(name).stem in WORLD_TABLES_SKIPPED:
            continue
        try:
            with open(Path(folder) / name, newline="", encoding="utf-8") as f:
                reader = csv.reader(f)
                next(reader, None)
                columns = [set(column) for column in zip(*reader)]
        except (OSError, UnicodeDecodeError, csv.Error):
            continue
        for column in columns:
            column.discard("")
            if len(column) < WORLD_MIN_DISTINCT:
                continue
            for value in column:
                if len(value.strip()) >= MIN_TEXT_LENGTH and not _is_number(value):
                    values.add(value)
    return frozenset(values)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# --- The line-by-line fallback ------------------------------------------------------------------------------


def _build_line_patterns() -> list[tuple[re.Pattern, str]]:
    """Regular expressions for the same names, for cells (and magic lines) that are not Python."""
    patterns = []
    for attr, technique in ANY_ATTRIBUTE.items():
        prefix = r"\b" if attr.startswith("__") else r"\.\s*"  # dunder names also appear bare
        patterns.append((prefix + re.escape(attr) + r"\b", technique))
    for attr, technique in STORED_ATTRIBUTE.items():
        patterns.append((r"\.\s*" + re.escape(attr) + r"\s*=(?!=)", technique))
    for dotted, technique in DOTTED.items():
        if dotted.endswith("*"):
            patterns.append((r"\b" + re.escape(dotted[:-1]) + r"\w*", technique))
        else:
            patterns.append((r"\b" + re.escape(dotted) + r"\b", technique))
    for module, technique in IMPORTED_MODULE.items():
        patterns.append((r"^\s*(?:import|from)\s+" + re.escape(module) + r"\b", technique))
    for fragment in COURSE_PATH_FRAGMENTS:
        patterns.append((re.escape(fragment), COURSE_PATH))
    patterns.append((r"socialcredit-verdict|\x1e|\\x1e|\\u001e", WIRE_MESSAGE))
    events = "|".join(sorted(IPYTHON_EVENTS))
    patterns += [
        (r"\.events\s*\.\s*(?:(?:un)?register|callbacks)\b", EVENT_CALLBACK),
        (r"""["'](?:""" + events + r""")["']""", EVENT_CALLBACK),
        (r"^\s*get_ipython\s*=(?!=)|^\s*def\s+get_ipython\b", GET_IPYTHON_REPLACED),
        (r"(?<![\w.])(?:exec|eval|compile)\s*\(", EXEC_EVAL),
        (r"(?<![\w.])__import__\s*\(", DYNAMIC_IMPORT),
        (r"^\s*(?:np|pd|numpy|pandas|math)(?:\.\w+)+\s*=(?!=)", LIBRARY_REPLACED),
        (r"^\s*socialcredit(?:\.\w+)+\s*=(?!=)", COURSE_PACKAGE_REPLACED),
        (r"^(?:async\s+def|def|class)\s+(?:" + "|".join(sorted(TEST_BUILTINS)) + r")\b",
         BUILTIN_NAME_REDEFINED),
        (r"^(?:" + "|".join(sorted(ALWAYS_REPORTED_BUILTINS)) + r")\s*=(?!=)", BUILTIN_NAME_REDEFINED),
    ]
    return [(re.compile(pattern), technique) for pattern, technique in patterns]


_LINE_PATTERNS = _build_line_patterns()


def _regex_techniques(line: str) -> list[str]:
    """The techniques whose names appear on one line of text, each once, in table order."""
    found = []
    for pattern, technique in _LINE_PATTERNS:
        if technique not in found and pattern.search(line):
            if technique == LIBRARY_REPLACED and re.search(r"\.(?:options|rcParams)\b", line):
                continue  # pd.options.display.max_rows = 20 is configuration, as in the tree scan
            found.append(technique)
    return found
