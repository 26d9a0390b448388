"""The static tamper scan (socialcredit.tamper_scan, issue #12): it names the attack corpus's attempts and
stays silent on the course's own code.

Nothing here runs a kernel or executes a notebook: the scan only parses source. The scans take well under
a second; most of this file's few seconds is importing pandas (through the package) and nbformat.
"""
import dataclasses
from functools import lru_cache
from pathlib import Path

import pytest

from socialcredit import tamper_scan as ts
from socialcredit.tamper_scan import Finding, scan_notebook, scan_source, summarise


class _LazyNbformat:
    """nbformat, imported on first use rather than while pytest collects this file.

    Importing nbformat compiles a grammar (jsonschema's optional rfc3987_syntax) and was measured two to
    three times slower during collection than inside a test; importing it lazily keeps this file fast.
    """

    def __getattr__(self, name):
        import nbformat as real
        return getattr(real, name)


nbformat = _LazyNbformat()
REPO = Path(__file__).resolve().parents[1]
ATTACKS = REPO / "tests" / "attacks"
ANSWER_CELL = "ex1_1_normalise_ids"
ANSWER_META = {"nbgrader": {"solution": True, "grade": False, "grade_id": ANSWER_CELL, "locked": False,
                            "schema_version": 3}}


@lru_cache(maxsize=None)
def _stub() -> str:
    """Lesson 1's first answer cell as released, its `raise NotImplementedError()` line removed.

    Attacks go after this stub (tests/attacks/README.md), so the scan also sees the honest part of the cell.
    """
    nb = nbformat.read(REPO / "lessons" / "01-dossier" / "01-dossier.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == ANSWER_CELL:
            return "\n".join(ln for ln in cell.source.split("\n") if "raise NotImplementedError()" not in ln)
    raise AssertionError(f"{ANSWER_CELL} not found in Lesson 1")


def _answer_notebook(text: str):
    """A v4 notebook whose one answer cell holds the stub followed by `text` (a markdown cell before it)."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("## Exercise 1.1"),
                nbformat.v4.new_code_cell(_stub() + "\n" + text, metadata=ANSWER_META)]
    return nb


# --- 1. The attack corpus --------------------------------------------------------------------------------------

ATTACK_FILES = sorted(p for p in ATTACKS.glob("c*_*.py") if p.name[:2] in ("c1", "c2", "c3", "c4"))
COPYING_FILES = sorted(ATTACKS.glob("c5_*.py"))

# The technique(s) that each attack's own trick must be reported as (a finding may name more).
EXPECTED = {
    "c1_course_files": {ts.COURSE_PATH, ts.DIRECTORY_LISTING, ts.EXEC_EVAL},
    "c1_environ": {ts.ENVIRONMENT},
    "c1_gradebook_sqlite": {ts.SQLITE, ts.COURSE_PATH},
    "c1_network": {ts.NETWORK},
    "c1_other_student_notebook": {ts.COURSE_PATH, ts.DIRECTORY_LISTING, ts.EXEC_EVAL},
    "c1_solution_notebook_exec": {ts.COURSE_PATH, ts.EXEC_EVAL},
    "c1_solution_swap": {ts.COURSE_PATH, ts.INPUT_TRANSFORMER},
    "c2_ast_transformer_swallow": {ts.AST_TRANSFORMER},
    "c2_custom_exc": {ts.CUSTOM_EXC},
    "c2_events_post_run_cell_clear_output": {ts.EVENT_CALLBACK},
    "c2_events_pre_run_cell_selective": {ts.EVENT_CALLBACK, ts.INPUT_TRANSFORMER},
    "c2_input_transformer_pass": {ts.INPUT_TRANSFORMER},
    "c2_replace_run_cell": {ts.CELL_EXECUTION},
    "c2_settrace_run_ast_nodes": {ts.SETTRACE, ts.FRAME_ACCESS},
    "c2_showtraceback_noop": {ts.TRACEBACK_REPLACED},
    "c2_sys_modules_kernel_patch": {ts.SYS_MODULES, ts.KERNEL_INTERNALS, ts.GET_IPYTHON_REPLACED,
                                    ts.BUILTINS_REPLACED},
    "c3_always_equal_results": {ts.EQUAL_TO_EVERYTHING},
    "c3_builtins_in_cells": {ts.BUILTINS_MODULE, ts.BUILTINS_REPLACED},
    "c3_course_package_load": {ts.COURSE_PACKAGE_REPLACED},
    "c3_numpy_pandas_testing": {ts.LIBRARY_REPLACED},
    "c4_fork_bomb": {ts.FORK},
    "c4_fork_sleepers": {ts.FORK, ts.KILL},
    "c4_kill_kernel_late": {ts.KILL, ts.EVENT_CALLBACK},
    "c4_relay_deep_json": {ts.WIRE_MESSAGE},
    "c4_relay_zip_bomb": {ts.WIRE_MESSAGE},
    "c4_sleep_ignoring_interrupt": {ts.SIGNAL_HANDLER},
}

# Attacks that cannot be told from honest code by reading it: they only use up resources with ordinary
# Python (a large bytearray, a file written in a loop, print in a loop, time.sleep). Only the sandbox's limits
# (memory, file size, output cap, per-cell time-out) stop and name them. Some of these files guard themselves
# with an environment check (reported as such), which is incidental: the resource use itself is never seen.
NOT_DETECTABLE = {
    "c4_disk_1gb": "writes a 1 GB file with open() and write(): ordinary file output",
    "c4_memory_2gb": "bytearray(2 * 1024**3): an ordinary allocation",
    "c4_memory_30gb": "bytearrays in a loop: ordinary allocations",
    "c4_print_1gb": "print() in a loop: ordinary output",
    "c4_print_20mb": "print() in a loop: ordinary output",
    "c4_sleep_forever": "time.sleep(10**6): an ordinary call",
    # files handed in beside the notebook: the grader names them ("handed in datasets/ ..."), the scan reads code
    "c3_own_datasets_folder": "a datasets/ folder handed in with the notebook; its code only looks answers up",
    "c4_world_json_big": "a datasets/world.json handed in with the notebook; no code",
    "c4_world_json_zero": "a datasets/world.json handed in with the notebook; no code",
}
INCIDENTAL = {ts.ENVIRONMENT, ts.COURSE_PATH}  # what a self-guarding attack may show (its guard reads /proc/1/comm)


def test_corpus_is_where_expected():
    assert len(ATTACK_FILES) >= 30, [p.name for p in ATTACK_FILES]
    assert set(EXPECTED) | set(NOT_DETECTABLE) >= {p.stem for p in ATTACK_FILES if p.stem[:2] in ("c2", "c3")}


@pytest.mark.parametrize("path", ATTACK_FILES, ids=lambda p: p.stem)
def test_attack_is_reported(path):
    findings = scan_notebook(_answer_notebook(path.read_text()))
    techniques = sorted({f.technique for f in findings})
    print(f"{path.stem}: {', '.join(techniques) or '(nothing)'}")
    assert all(f.cell == ANSWER_CELL for f in findings)
    assert all(len(f.evidence) <= ts.EVIDENCE_WIDTH for f in findings)
    if path.stem in NOT_DETECTABLE:
        # Explicitly not detected, see NOT_DETECTABLE for why; anything seen comes from a guard.
        assert set(techniques) <= INCIDENTAL, (path.stem, techniques)
        return
    assert findings, f"{path.stem}: no finding"
    assert EXPECTED.get(path.stem, set()) <= set(techniques), (path.stem, techniques)
    assert summarise(findings).startswith("suspected tampering: ")


@pytest.mark.parametrize("path", COPYING_FILES, ids=lambda p: p.stem)
def test_copying_is_not_tampering(path):
    """Class 5 (hard-coded answers, copied numbers) uses no machinery: alone in a cell, without the notebook's
    tests to compare with, nothing is reported (the check for hard-coded answers is in section 5)."""
    text = path.read_text()
    # c5_hardcode_all_visible fills several answer cells; all of it in one cell is the same code.
    assert scan_notebook(_answer_notebook(text)) == []


# --- 2. No false positives on the course's own notebooks ------------------------------------------------------

NOTEBOOKS = sorted(REPO.glob("solutions/*/*.ipynb")) + sorted(REPO.glob("lessons/*/*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}")
def test_course_notebooks_are_clean(path):
    nb = nbformat.read(path, as_version=4)
    answers = [c for c in nb.cells
               if c.cell_type == "code" and c.get("metadata", {}).get("nbgrader", {}).get("solution")]
    assert answers, "no answer cell: the scan would have nothing to check"
    assert scan_notebook(nb) == []
    for cell in answers:  # every answer cell on its own, as a student's code
        assert scan_source(cell.source) == [], cell.source[:200]


def test_instructor_grade_cells_are_skipped():
    nb = nbformat.read(REPO / "solutions" / "01-dossier" / "01-dossier.ipynb", as_version=4)
    graded = [c for c in nb.cells if c.cell_type == "code" and "_with_refs" in c.source
              and "__globals__" in c.source]
    assert graded
    cell = graded[0]
    meta = cell.metadata["nbgrader"]
    assert meta["grade"] and meta["locked"] and not meta["solution"]
    # The same source would be reported as a student's code ...
    assert ts.FUNCTION_GLOBALS in {f.technique for f in scan_source(cell.source)}
    # ... but as the instructor's grade cell it is skipped.
    alone = nbformat.v4.new_notebook()
    alone.cells = [cell]
    assert scan_notebook(alone) == []
    # Marked as an answer cell (or stripped of nbgrader's marks), it is scanned again.
    as_answer = nbformat.v4.new_notebook()
    as_answer.cells = [nbformat.v4.new_code_cell(cell.source, metadata=ANSWER_META)]
    assert scan_notebook(as_answer)


def test_cells_added_by_the_student_are_scanned_and_numbered():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("text"),
        nbformat.v4.new_code_cell("import sys\nsys.settrace(None)",
                                  metadata={"nbgrader": {"grade": True, "locked": True, "solution": False,
                                                         "grade_id": "tests"}}),
        nbformat.v4.new_code_cell("x = 1\nget_ipython().ast_transformers.append(t)"),
        nbformat.v4.new_code_cell("import sys\nsys.settrace(None)",
                                  metadata={"nbgrader": {"locked": True, "solution": False, "grade": False,
                                                         "grade_id": "setup"}}),
    ]
    assert scan_notebook(nb) == [Finding("cell 3", 2, ts.AST_TRANSFORMER,
                                         "get_ipython().ast_transformers.append(t)")]


# --- 3. One technique at a time -------------------------------------------------------------------------------

POSITIVE = [
    # IPython's machinery
    ("get_ipython().input_transformers_cleanup.append(f)", ts.INPUT_TRANSFORMER),
    ("ip = get_ipython()\nip.input_transformer_manager.cleanup_transforms.append(f)", ts.INPUT_TRANSFORMER),
    ("get_ipython().ast_transformers.insert(0, T())", ts.AST_TRANSFORMER),
    ("get_ipython().set_custom_exc((Exception,), h)", ts.CUSTOM_EXC),
    ("get_ipython().events.register('pre_execute', f)", ts.EVENT_CALLBACK),
    ("ip.events.callbacks['post_execute'].append(f)", ts.EVENT_CALLBACK),
    ("cbs = get_ipython().events.callbacks", ts.EVENT_CALLBACK),
    ("shell = get_ipython()\nshell.showtraceback = lambda *a, **k: None", ts.TRACEBACK_REPLACED),
    ("setattr(get_ipython(), 'showsyntaxerror', print)", ts.TRACEBACK_REPLACED),
    ("real = get_ipython().run_cell", ts.CELL_EXECUTION),
    ("get_ipython().run_code = fake", ts.CELL_EXECUTION),
    ("ip.transform_cell = lambda s: 'pass'", ts.CELL_EXECUTION),
    ("get_ipython().displayhook = quiet", ts.DISPLAY_HOOK),
    ("import sys\nsys.excepthook = quiet", ts.DISPLAY_HOOK),
    ("sys.displayhook = quiet", ts.DISPLAY_HOOK),
    ("get_ipython().display_pub = None", ts.DISPLAY_HOOK),
    ("get_ipython = lambda: fake", ts.GET_IPYTHON_REPLACED),
    ("def get_ipython():\n    return fake", ts.GET_IPYTHON_REPLACED),
    ("import builtins\nbuiltins.get_ipython = fake", ts.GET_IPYTHON_REPLACED),
    ("Kernel.do_execute = fake", ts.KERNEL_INTERNALS),
    ("k = get_ipython().kernel", ts.KERNEL_INTERNALS),
    ("sh = kernel.shell", ts.KERNEL_INTERNALS),
    ("import ipykernel.ipkernel", ts.KERNEL_INTERNALS),
    ("from ipykernel.ipkernel import IPythonKernel", ts.KERNEL_INTERNALS),
    # the interpreter's hooks
    ("import sys\nsys.settrace(tracer)", ts.SETTRACE),
    ("from sys import settrace\nsettrace(tracer)", ts.SETTRACE),
    ("import threading\nthreading.settrace(tracer)", ts.SETTRACE),
    ("import sys as _s\n_s.setprofile(p)", ts.SETPROFILE),
    ("sys.addaudithook(hook)", ts.AUDIT_HOOK),
    ("sys.meta_path.insert(0, Finder())", ts.IMPORT_HOOK),
    ("sys.path_hooks.append(h)", ts.IMPORT_HOOK),
    ("sys.modules['numpy'] = fake", ts.SYS_MODULES),
    ("k = sys.modules.get('ipykernel.ipkernel')", ts.SYS_MODULES),
    ("s = sys\nk = s.modules", ts.SYS_MODULES),
    ("frame.f_trace = t", ts.FRAME_ACCESS),
    ("n = frame.f_lineno", ts.FRAME_ACCESS),
    ("up = frame.f_back", ts.FRAME_ACCESS),
    ("g = frame.f_globals", ts.FRAME_ACCESS),
    ("l = frame.f_locals", ts.FRAME_ACCESS),
    ("import sys\nf = sys._getframe(1)", ts.FRAME_ACCESS),
    ("import inspect\nf = inspect.currentframe()", ts.FRAME_ACCESS),
    ("import inspect as i\nst = i.stack()", ts.FRAME_ACCESS),
    ("from inspect import stack\nst = stack()", ts.FRAME_ACCESS),
    ("import gc\nrefs = gc.get_referrers(normalise_id)", ts.GC_OBJECTS),
    ("import gc\nobjs = gc.get_objects()", ts.GC_OBJECTS),
    ("import ctypes", ts.CTYPES),
    ("from ctypes import pythonapi", ts.CTYPES),
    ("normalise_id.__code__ = other.__code__", ts.CODE_REPLACED),
    ("g = normalise_id.__globals__", ts.FUNCTION_GLOBALS),
    ("__builtins__['len'] = f", ts.BUILTINS_MODULE),
    ("import builtins", ts.BUILTINS_MODULE),
    ("b = __import__('builtins')", ts.BUILTINS_MODULE),
    ("import builtins as b\nb.abs = f", ts.BUILTINS_REPLACED),
    ("import builtins\nsetattr(builtins, 'len', f)", ts.BUILTINS_REPLACED),
    ("import importlib\nimportlib.reload(socialcredit)", ts.RELOAD),
    ("from importlib import reload", ts.RELOAD),
    ("m = __import__('o' + 's')", ts.DYNAMIC_IMPORT),
    # redefining what the tests rely on
    ("np.isclose = lambda *a, **k: True", ts.LIBRARY_REPLACED),
    ("import numpy as _n\n_n.testing.assert_allclose = f", ts.LIBRARY_REPLACED),
    ("pd.testing.assert_frame_equal = f", ts.LIBRARY_REPLACED),
    ("import pandas.testing as pdt\npdt.assert_series_equal = f", ts.LIBRARY_REPLACED),
    ("import math\nmath.isclose = f", ts.LIBRARY_REPLACED),
    ("math.pi += 1", ts.LIBRARY_REPLACED),
    ("pd.Series.__eq__ = f", ts.LIBRARY_REPLACED),
    ("plt.bar = fake_bar", ts.LIBRARY_REPLACED),
    ("setattr(np, 'allclose', f)", ts.LIBRARY_REPLACED),
    ("for n in names:\n    setattr(np.testing, n, f)", ts.LIBRARY_REPLACED),
    ("del np.allclose", ts.LIBRARY_REPLACED),
    ("np2 = np\nnp2.allclose = f", ts.LIBRARY_REPLACED),
    ("import socialcredit\nsocialcredit.load = fake", ts.COURSE_PACKAGE_REPLACED),
    ("import socialcredit.data as d\nd.load = fake", ts.COURSE_PACKAGE_REPLACED),
    ("from socialcredit import data\ndata.load = fake", ts.COURSE_PACKAGE_REPLACED),
    ("def isinstance(obj, cls):\n    return True", ts.BUILTIN_NAME_REDEFINED),
    ("isinstance = lambda o, c: True", ts.BUILTIN_NAME_REDEFINED),
    ("AssertionError = Warning", ts.BUILTIN_NAME_REDEFINED),
    ("class AssertionError(Warning):\n    pass", ts.BUILTIN_NAME_REDEFINED),
    ("print = lambda *a, **k: None", ts.BUILTIN_NAME_REDEFINED),
    ("len = my_len", ts.BUILTIN_NAME_REDEFINED),
    ("abs, round = f, g", ts.BUILTIN_NAME_REDEFINED),
    ("if True:\n    def sorted(x):\n        return x", ts.BUILTIN_NAME_REDEFINED),
    ("from functools import partial\nround = partial(f, 3)", ts.BUILTIN_NAME_REDEFINED),
    ("class Yes:\n    def __eq__(self, other):\n        return True", ts.EQUAL_TO_EVERYTHING),
    ("class Yes(str):\n    def __eq__(self, other):\n        '''always'''\n        return True",
     ts.EQUAL_TO_EVERYTHING),
    ("class No:\n    __ne__ = lambda self, other: False", ts.EQUAL_TO_EVERYTHING),
    # reading what must not be read, or escaping
    ("import os\nprint(os.environ['HOME'])", ts.ENVIRONMENT),
    ("import os\nh = os.getenv('HOME')", ts.ENVIRONMENT),
    ("from os import environ", ts.ENVIRONMENT),
    ("import os\nb = os.environb", ts.ENVIRONMENT),
    ("import socket", ts.NETWORK),
    ("import urllib.request", ts.NETWORK),
    ("from urllib.request import urlopen", ts.NETWORK),
    ("import requests", ts.NETWORK),
    ("import http.client", ts.NETWORK),
    ("import subprocess", ts.SUBPROCESS),
    ("from subprocess import run", ts.SUBPROCESS),
    ("import os\nos.system('ls')", ts.SUBPROCESS),
    ("os.popen('ls').read()", ts.SUBPROCESS),
    ("os.execv('/bin/sh', ['sh'])", ts.SUBPROCESS),
    ("os.spawnlp(os.P_WAIT, 'ls', 'ls')", ts.SUBPROCESS),
    ("import pty", ts.SUBPROCESS),
    ("import os\npid = os.fork()", ts.FORK),
    ("import multiprocessing", ts.FORK),
    ("from multiprocessing import Pool", ts.FORK),
    ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", ts.KILL),
    ("os._exit(0)", ts.KILL),
    ("import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)", ts.SIGNAL_HANDLER),
    ("import signal as s\ns.signal(s.SIGINT, lambda *a: None)", ts.SIGNAL_HANDLER),
    ("import sqlite3", ts.SQLITE),
    ("p = '../../../gradebook.db'", ts.COURSE_PATH),
    ("open('../../../solutions/01-dossier/01-dossier.ipynb')", ts.COURSE_PATH),
    ("p = root / 'autograded' / x\nq = f'{root}/autograded/{x}'", ts.COURSE_PATH),
    ("p = f'{root}/submitted/{x}'", ts.COURSE_PATH),
    ("p = Path('instructors/notes.md')", ts.COURSE_PATH),
    ("p = '../release/01-dossier'", ts.COURSE_PATH),
    # the trusted grader's own protocol (socialcredit.wire), spoken from student code
    ("input('\\x1esocialcredit-verdict:' + '[]')", ts.WIRE_MESSAGE),
    ("PREFIX = chr(30) + 'socialcredit-verdict:'", ts.WIRE_MESSAGE),
    ("sep = '\\x1e'", ts.WIRE_MESSAGE),
    ("import glob\nfiles = glob.glob('../../*/x.ipynb')", ts.DIRECTORY_LISTING),
    ("import os\nfor d, _, fs in os.walk('..'):\n    pass", ts.DIRECTORY_LISTING),
    ("import os\nnames = os.listdir('../..')", ts.DIRECTORY_LISTING),
    ("from pathlib import Path\nall_files = list(Path('../..').rglob('*'))", ts.DIRECTORY_LISTING),
    ("up = Path('..')\nfor p in up.iterdir():\n    print(p)", ts.DIRECTORY_LISTING),
    ("exec(code)", ts.EXEC_EVAL),
    ("x = eval('1 + 1')", ts.EXEC_EVAL),
    ("c = compile(src, 'x', 'exec')", ts.EXEC_EVAL),
    ("import builtins\nbuiltins.exec(code)", ts.EXEC_EVAL),
    # IPython magics and shell lines: blanked for parsing, searched as text
    ("%matplotlib inline\nimport sys\nsys.settrace(t)", ts.SETTRACE),
    ("def f():\n    %time g()\n    get_ipython().ast_transformers.append(t)", ts.AST_TRANSFORMER),
    ("!cat ../../../gradebook.db\nx = 1", ts.COURSE_PATH),
    ("%%bash\nls ../../../solutions/01-dossier", ts.COURSE_PATH),
    ("files = !ls ../../../submitted/", ts.COURSE_PATH),
    # cells that do not parse: searched line by line
    ("def f(:\n    get_ipython().input_transformers_post.append(g)", ts.INPUT_TRANSFORMER),
    ("x = (\nimport sys; sys.settrace(t)", ts.SETTRACE),
    ("def broken(\nnp.isclose = f", ts.LIBRARY_REPLACED),
    ("def broken(\nexec(code)", ts.EXEC_EVAL),
]

NEGATIVE = [
    'plt.rcParams["figure.dpi"] = 100',
    'df.loc[0, "a"] = 1',
    "np.random.seed(0)",
    "m = np.mean(x)\ns = pd.Series([1, 2, 3])\nax.set_title('x')",
    "len_ = len(x)\nmax_ = max(x)",
    "print('hello')",
    "pd.options.display.max_rows = 20",
    "pd.options.mode.chained_assignment = None",
    "import matplotlib\nmatplotlib.rcParams['font.size'] = 9",
    "import matplotlib as mpl\nmpl.rcParams.update({'font.size': 9})",
    "pd.set_option('display.width', 120)\nnp.set_printoptions(precision=3)\nsns.set_theme()",
    "total = sum(values)\nbiggest = max(values)",
    "sum = 0\nfor v in values:\n    sum += v",  # a beginner's habit: breaks tests rather than fooling them
    "max = df['score'].max()",
    "def helper():\n    len = 3\n    return len",
    "def f(len, print=None):\n    return len",
    "class Point:\n    def __eq__(self, other):\n        return self.x == other.x",
    "class Always:\n    def __eq__(self, other):\n        return NotImplemented",
    "result = df.eval('a + b')\nq = df.query('a > 1')",
    "import re\npat = re.compile(r'\\d+')",
    "data = load('registry')\ndata.attrs['x'] = 1",
    "from IPython.display import display, clear_output\ndisplay(df)",
    "%matplotlib inline\nimport numpy as np",
    "%%time\nx = sum(range(10))",
    "!pip list",
    "import os\np = os.path.join('a', 'b')",
    "with open('notes.txt') as fh:\n    text = fh.read()",
    "n = incidents.events.sum()\nincidents.events = incidents.events.fillna(0)",
    "from pathlib import Path\ncsvs = sorted(Path('data').glob('*.csv'))",
    "print('no solutions yet; see the release notes')",
    "def f():\n    '''Compare with solutions/ and the release/ folder, not by reading them.'''\n    return 1",
    "model = LogisticRegression().fit(X, y)\nmodel.coef_ = model.coef_ * 0",
    "fig, ax = plt.subplots()\nax.bar(['a'], [1])\nfig.canvas.draw()",
    "import scipy.stats as st\nr = st.pearsonr(a, b)",
    "from sklearn.metrics import roc_auc_score\nauc = roc_auc_score(y, p)",
    "ratio = a / b  # 0.8 .. 1.25",
    "label = '860..1,060'",
    "rng = np.random.default_rng(0)\nx = rng.normal(size=10)",
    "df['x'] = df['x'].astype(str)\ndf.columns = ['a', 'b']",
    "import time\ntime.sleep(1)",
    "def eval(model, data):\n    return model.score(data)\nscore = eval(m, d)",  # the cell's own eval
    "x = (1,\n",  # a syntax error with nothing suspicious in it
    "",
]


@pytest.mark.parametrize("source, technique", POSITIVE, ids=[f"{i}-{t}" for i, (_, t) in enumerate(POSITIVE)])
def test_technique_is_reported(source, technique):
    findings = scan_source(source, "cell 1")
    assert technique in {f.technique for f in findings}, findings


@pytest.mark.parametrize("source", NEGATIVE, ids=range(len(NEGATIVE)))
def test_honest_code_is_not_reported(source):
    assert scan_source(source, "cell 1") == []


def test_line_numbers_survive_magics_and_fallback():
    findings = scan_source("%matplotlib inline\n\nimport sys\nsys.settrace(t)", "c")
    assert [(f.line, f.technique, f.evidence) for f in findings] == [(4, ts.SETTRACE, "sys.settrace(t)")]
    # a syntax error: the line-by-line search still gives the right line
    findings = scan_source("x = (\n\n    get_ipython().ast_transformers.append(t)", "c")
    assert [(f.line, f.technique) for f in findings] == [(3, ts.AST_TRANSFORMER)]
    assert findings[0].evidence == "get_ipython().ast_transformers.append(t)"


def test_odd_input_never_crashes():
    for source in ["\0", "def f(:", "x = '''", "(" * 500 + ")" * 500, "\r\n".join(["%%x", "!y", "z ="]),
                   "\ufeffimport socket", "if x:\n%time y", "x = " + "+".join(["a"] * 3000)]:
        assert isinstance(scan_source(source), list)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(["import ", "socket"])]  # source as a list of strings
    assert [f.technique for f in scan_notebook(nb)] == [ts.NETWORK]


def test_finding_is_small_and_frozen():
    long_line = "get_ipython().input_transformers_post.append(" + "x" * 200 + ")"
    (finding,) = scan_source(long_line, "ex1_1_normalise_ids")
    assert finding.cell == "ex1_1_normalise_ids" and finding.line == 1
    assert len(finding.evidence) <= 80 and finding.evidence.startswith("get_ipython().input_transformers_post")
    with pytest.raises(dataclasses.FrozenInstanceError):
        finding.line = 2


def test_findings_are_deduplicated_per_line():
    # one line naming two transformer lists is one finding of that technique
    source = "ip.input_transformers_post.extend(ip.input_transformers_cleanup)"
    assert [f.technique for f in scan_source(source)] == [ts.INPUT_TRANSFORMER]


# --- 4. summarise ---------------------------------------------------------------------------------------------


def test_summarise_empty():
    assert summarise([]) == ""


def test_summarise_matches_the_report_format():
    findings = [Finding("ex1_1_normalise_ids", 24, ts.INPUT_TRANSFORMER, "a"),
                Finding("ex1_1_normalise_ids", 30, ts.SETTRACE, "b")]
    assert summarise(findings) == ("suspected tampering: IPython input transformer (ex1_1_normalise_ids line 24); "
                                   "sys.settrace (ex1_1_normalise_ids line 30)")


def test_summarise_deduplicates_by_technique_and_cell():
    findings = [Finding("a", 3, ts.SETTRACE, "x"), Finding("a", 9, ts.SETTRACE, "y"),
                Finding("b", 1, ts.SETTRACE, "z")]
    assert summarise(findings) == "suspected tampering: sys.settrace (a line 3); sys.settrace (b line 1)"


def test_summarise_caps_entries():
    findings = [Finding(f"cell {i}", i, ts.EXEC_EVAL, "exec(x)") for i in range(1, 10)]
    summary = summarise(findings)
    assert summary.count("exec/eval/compile") == 6
    assert summary.endswith("exec/eval/compile (cell 6 line 6); and 3 more")
    exactly_six = summarise(findings[:6])
    assert "more" not in exactly_six and exactly_six.count(";") == 5


def test_summarise_a_real_attack():
    text = (ATTACKS / "c2_settrace_run_ast_nodes.py").read_text()
    summary = summarise(scan_notebook(_answer_notebook(text)))
    assert summary.startswith("suspected tampering: ") and "sys.settrace (ex1_1_normalise_ids line " in summary
    assert "\n" not in summary


def test_reading_the_grading_machine_through_proc_is_reported():
    from socialcredit.tamper_scan import scan_source
    found = scan_source('leak = open("/proc/1/environ", "rb").read()', "ex1_1")
    assert [f.technique for f in found] == ["course file path"], found


# --- 5. Hard-coded answers (class 5) ---------------------------------------------------------------------------

LESSON_1 = "01-dossier"
TEST_META = {"nbgrader": {"grade": True, "locked": True, "solution": False, "grade_id": "ex_tests", "points": 1,
                          "schema_version": 3}}
EX_META = {"nbgrader": {"solution": True, "grade": False, "locked": False, "grade_id": "ex", "schema_version": 3}}


@lru_cache(maxsize=None)
def _attack_script():
    import importlib.util
    spec = importlib.util.spec_from_file_location("attack_script", REPO / "scripts" / "attacks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@lru_cache(maxsize=None)
def _lesson(folder: str, lesson: str):
    return nbformat.read(REPO / folder / lesson / f"{lesson}.ipynb", as_version=4)


@lru_cache(maxsize=None)
def _world():
    return ts.world_values(REPO / "datasets")


def _as_graded(submission, lesson=LESSON_1):
    """The submission as autograde's Execute sees it: test cells restored from the source, hidden tests included."""
    source = {c.metadata["nbgrader"]["grade_id"]: c.source for c in _lesson("solutions", lesson).cells
              if c.get("metadata", {}).get("nbgrader", {}).get("grade")}
    nb = nbformat.from_dict(submission)
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            cell.source = source[meta["grade_id"]]
    assert "BEGIN HIDDEN TESTS" in "".join(c.source for c in nb.cells)
    return nb


def _hard_coded(nb, **extra):
    return [f for f in scan_notebook(nb, **extra) if f.technique == ts.HARD_CODED]


#: copying attacks the scan cannot see, and what names them instead
HIDDEN_FROM_THE_SCAN = {
    "c5_own_data_lookup": "its answers are looked up by checksums and ids rebuilt from numbers (no value written "
                          "out); the datasets/ folder it hands in is named by the grader (tests/test_attacks.py)",
}


@pytest.mark.parametrize("path", [p for p in COPYING_FILES if p.stem not in HIDDEN_FROM_THE_SCAN], ids=lambda p: p.stem)
def test_hard_coded_answers_are_reported(path):
    """Each copying attack, submitted as scripts/attacks.py submits it, is named in Exercise 1.1's cell: with or
    without the release and the world, on the release's visible tests and on the graded notebook."""
    script = _attack_script()
    release = _lesson("lessons", LESSON_1)
    submission = script.with_attack(release, script.read_attack(path)["sections"])
    for nb in (submission, _as_graded(submission)):
        for extra in ({}, {"release": release}, {"release": release, "world": _world()}):
            found = _hard_coded(nb, **extra)
            assert any(f.cell == ANSWER_CELL for f in found), (path.stem, sorted(extra))
            assert all(len(f.evidence) <= ts.EVIDENCE_WIDTH for f in found)
            assert f"hard-coded answers ({ANSWER_CELL} line " in summarise(scan_notebook(nb, **extra))
    if path.stem == "c5_hardcode_all_visible":  # the exercises whose visible tests show ids, dates, 1.25
        cells = {f.cell for f in _hard_coded(submission, release=release)}
        assert {"ex1_1_normalise_ids", "ex1_3_drop_duplicates", "ex1_4_count_incidents",
                "ex1_11_blocked_per_listed"} <= cells, cells


def test_values_of_the_world_are_reported_without_the_tests():
    """Police ids read off a classmate's output, in a notebook whose test cells are gone: only the world's values
    name them."""
    script = _attack_script()
    release = _lesson("lessons", LESSON_1)
    submission = script.with_attack(release, script.read_attack(ATTACKS / "c5_copy_classmate_output.py")["sections"])
    submission.cells = [c for c in submission.cells if not c.get("metadata", {}).get("nbgrader", {}).get("grade")]
    assert _hard_coded(submission) == []
    found = _hard_coded(submission, world=_world())
    assert found and found[0].cell == ANSWER_CELL and "LP000016" in found[0].evidence


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}")
def test_course_notebooks_hold_no_hard_coded_answers(path):
    """The instructor's answers and the release, with the release and the world given, are not reported, and
    the scan stays well under a second a notebook."""
    import time
    nb = nbformat.read(path, as_version=4)
    lesson = path.parent.name
    world = _world()
    started = time.perf_counter()
    assert scan_notebook(nb, release=_lesson("lessons", lesson), world=world) == []
    assert time.perf_counter() - started < 1.0


BANK_LESSONS = sorted(p.stem for p in (REPO / "tests" / "banks").glob("*.toml"))


@pytest.mark.parametrize("lesson", BANK_LESSONS)
def test_bank_alternatives_hold_no_hard_coded_answers(lesson):
    """Every alternative answer of the banks (tests/banks/*.toml) in its cell of the solution notebook is not
    reported, with or without the release and the world. Each entry is checked as scan_notebook checks that
    one answer cell (the rest of the notebook is the solution, clean above); misconceptions are counted only."""
    import sys
    sys.path.insert(0, str(REPO / "tests"))
    from harness import load_bank
    solution = _lesson("solutions", lesson)
    checks = [ts._CopyingCheck(solution), ts._CopyingCheck(solution, _lesson("lessons", lesson), _world())]
    flagged = {"alternative": [], "misconception": []}
    bank = load_bank(lesson)
    for entry in bank:
        if any(check.findings(entry["code"], entry["cell"]) for check in checks):
            flagged[entry["kind"]].append(entry["name"])
    print(f"{lesson}: misconceptions reported {len(flagged['misconception'])} of "
          f"{sum(e['kind'] == 'misconception' for e in bank)}")
    assert flagged["alternative"] == []


SMALL_TESTS = ('cases = [(pd.Series(["ab-1234"]), ["AB-001234"]), (pd.Series(["xy-0042"]), ["XY-000042"])]\n'
               'assert f(pd.Series([7.125])).tolist() == [3.1416]\n'
               'assert set(g(t).columns) == {"base_rate", "selection_rate"}\n'
               '### BEGIN HIDDEN TESTS\nassert f(pd.Series(["zz-9999"])).tolist() == ["ZZ-009999"]\n'
               '### END HIDDEN TESTS\n')


def _small_notebook(answer: str, *, markdown: str = "Exercise.", tests: str = SMALL_TESTS):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(markdown),
                nbformat.v4.new_code_cell(answer, metadata=EX_META),
                nbformat.v4.new_code_cell(tests, metadata=TEST_META)]
    return nb


@pytest.mark.parametrize("answer", [
    'def f(raw):\n    return raw.map({"ab-1234": "AB-001234", "xy-0042": "XY-000042"})',  # inputs to outputs
    'def f(raw):\n    if raw[0] == 7.125:\n        return [3.1416]\n    return ["XY-000042"]',  # number and id
])
def test_test_values_in_an_answer_are_reported(answer):
    found = _hard_coded(_small_notebook(answer))
    assert found and {f.cell for f in found} == {"ex"} and found[0].technique == "hard-coded answers"


@pytest.mark.parametrize("answer", [
    'def f(raw):\n    return raw.fillna("AB-001234")',  # one value: not several
    'def g(t):\n    return pd.DataFrame({"base_rate": [t.y.mean()], "selection_rate": [t.p.mean()]})',  # labels
    'def f(raw):\n    return raw.replace({"zz-9999": "ZZ-009999", "ab-99": "AB-000099"})',  # hidden tests'
    'def f(raw, pi=3.1416):\n    return raw * 7.125 / pi',  # numbers the markdown states (below)
    '"""Turns ab-1234 into AB-001234, xy-0042 into XY-000042."""\ndef f(raw):\n    return raw',  # prose
    'def f(raw):\n    return raw.map(lambda v: f"AB-{v:06d}-xy-0042")',  # f-string text
    'def f(raw):\n    return raw * 2.5 + 150.0',  # numbers with fewer than three significant digits
])
def test_honest_or_unrelated_values_are_not_reported(answer):
    nb = _small_notebook(answer, markdown="Use 7.125 and 3.1416 as constants.")
    assert _hard_coded(nb) == [], answer


def test_the_release_stub_values_are_not_reported():
    """Values that the answer cell's stub already holds (the release's version of the cell) are the student's to
    keep; without the release they count."""
    answer = 'def f(raw, table={"ab-1234": "AB-001234", "xy-0042": "XY-000042"}):\n    return raw.map(table)'
    release = _small_notebook(answer + '\n    raise NotImplementedError()')
    assert _hard_coded(_small_notebook(answer))
    assert _hard_coded(_small_notebook(answer), release=release) == []
    # A stub's values excuse only that cell.
    assert _hard_coded(_small_notebook(answer), release=_small_notebook("def f(raw):\n    pass"))


def test_world_values(tmp_path):
    """world_values keeps each table's high-cardinality text (ids), not categories or numbers; three in one
    answer cell are reported, two are not."""
    ids = [f"QX-{i:06d}" for i in range(150)]
    rows = ["subject,district,amount"] + [f"{r},{'North' if i % 2 else 'South'},{i * 1.5}" for i, r in enumerate(ids)]
    (tmp_path / "police.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "ratings.csv").write_text("rater\n" + "\n".join(f"ZZ-{i:06d}" for i in range(150)) + "\n")
    world = ts.world_values(tmp_path)
    assert set(ids) == world  # no district, no amount, nothing of the skipped ratings table
    assert ts.world_values(tmp_path / "missing") == frozenset()
    three = _small_notebook('def f(raw):\n    return raw.isin(["QX-000003", "QX-000017",\n'
                            '                    "QX-000101"])', tests="assert True")
    two = _small_notebook('def f(raw):\n    return raw.isin(["QX-000003", "QX-000017"])', tests="assert True")
    found = _hard_coded(three, world=world)
    assert [(f.cell, f.line) for f in found] == [("ex", 2), ("ex", 3)]
    assert _hard_coded(two, world=world) == [] and _hard_coded(three) == []


def test_odd_notebooks_never_crash_the_check():
    for answer in ["def f(:\n", "%time x = 1\nx = 'ab-1234', 'xy-0042'", "x = 10**400 * 1.0e5", "x = float('nan')"]:
        scan_notebook(_small_notebook(answer), release=_small_notebook("pass"), world=frozenset({"ab-1234"}))
    scan_notebook({"cells": [{"cell_type": "code", "source": ["x = 1"], "metadata": EX_META},
                             {"cell_type": "code", "source": None, "metadata": TEST_META}]})


def test_grading_gives_the_scan_the_release_and_the_world():
    """SandboxedExecute (worlds_nbgrader) finds the lesson's release in the course's release folder and the
    cohort's world tables; what it cannot find is None, never an error."""
    from traitlets.config import Config

    from socialcredit.worlds_nbgrader import SandboxedExecute
    config = Config()
    config.CourseDirectory.root = str(REPO)
    config.CourseDirectory.release_directory = "lessons"
    execute = SandboxedExecute(config=config)
    execute.resources = {"nbgrader": {"student": "s1", "assignment": LESSON_1, "notebook": LESSON_1}}
    release, world = execute._scan_context()
    assert release is not None and release.cells == _lesson("lessons", LESSON_1).cells
    assert world and "LP000016" in world
    execute.resources = {"nbgrader": {"student": "s1", "assignment": "no-such-lesson", "notebook": "x"}}
    assert execute._scan_context()[0] is None
