"""Mutants derived mechanically from each solution region (issue #13, "Mutation testing for the banks").

Hand-written banks inherit their authors' blind spots; these mutants do not. Each operator rewrites one node of
the solution's syntax tree (inside ### BEGIN/END SOLUTION only) into a classic slip:

- return type:  the returned value as a list (.tolist()), an array (.to_numpy()), a one-column frame (.to_frame())
- row order:    the returned rows renumbered (.reset_index(drop=True)) or in reverse order
- comparisons:  <  <-> <=,  >  <-> >=
- rounding:     round(...) <-> int(...),  // -> /
- sign:         abs(...) around a difference or the returned value
- joins:        how="inner" <-> how="left" in merge/join (and the default made explicit the other way)
- plotting:     the ax= keyword dropped (draws on the current Axes instead of the one given)
- slices:       a slice bound one more or one less
- logic:        & <-> |
- missing data: a .fillna(...) or .dropna() dropped
- order:        ascending=True <-> False;  idxmax <-> idxmin;  max <-> min

Return-type, row-order and abs mutants are applied at run time through a helper (`__harness_mut`) that changes
a value only where the change means something (a Series really becomes a list, an index that is not 0..n-1 is
really renumbered, a difference really has a negative entry) and records that it did; a mutant that never
changed a value while the tests ran is "not applicable" and is neither caught nor uncaught.

A mutant's id (stable across edits that leave its code alone) is "<operator>: `<old code>` (<change>)",
with " #2", " #3" for repeats. A mutant the tests do not catch must be caught by a new hidden test, or declared
in the lesson's bank as changing nothing the prompt defines:

    [[equivalent]]
    cell = "ex3_3_four_fifths_flag"
    mutant = 'cmp: `(rates / rates.max()).round(9) < 0.8` (< -> <=)'    # or a pattern with *, e.g. 'reverse: *'
    why = "..."
"""
from __future__ import annotations

import ast
import difflib
import os
import re
import tomllib
from dataclasses import dataclass

import nbformat

from harness import BANKS, REPO, answer_cells, notebook_path

# Cap per exercise (round-robin over operators, so every kind of slip is represented); declared ones always run.
CAP = int(os.environ.get("HARNESS_MUTANTS_PER_EXERCISE", "10"))

# Defined in the kernel before any trial: applies a run-time mutation only where it changes the value.
KERNEL_HELPER = '''
def __harness_mut(value, op):
    import numpy as _np
    import pandas as _pd
    global __harness_applied
    out = value
    try:
        if op == "tolist" and isinstance(value, (_pd.Series, _pd.Index, _np.ndarray)):
            out = value.tolist()
        elif op == "to_numpy" and isinstance(value, (_pd.Series, _pd.DataFrame, _pd.Index)):
            out = value.to_numpy()
        elif op == "to_frame" and isinstance(value, _pd.Series):
            out = value.to_frame()
        elif op == "reset_index" and isinstance(value, (_pd.Series, _pd.DataFrame)):
            if not value.index.equals(_pd.RangeIndex(len(value))):
                out = value.reset_index(drop=True)
        elif op == "reverse" and isinstance(value, (_pd.Series, _pd.DataFrame)) and len(value) > 1:
            out = value.iloc[::-1]
        elif op == "abs":
            if isinstance(value, (_pd.Series, _pd.DataFrame, _np.ndarray)):
                if bool(_np.asarray((value < 0)).any()):
                    out = abs(value)
            elif isinstance(value, (int, float, _np.number)) and not isinstance(value, bool) and value < 0:
                out = abs(value)
    except Exception:
        out = value
    if out is not value:
        __harness_applied = True
    return out
__harness_applied = False
'''

DYNAMIC_SHOWN = {"tolist": "({}).tolist()", "to_numpy": "({}).to_numpy()", "to_frame": "({}).to_frame()",
                 "reset_index": "({}).reset_index(drop=True)", "reverse": "({}).iloc[::-1]", "abs": "abs({})"}
OPERATOR_ORDER = ["cmp", "how", "drop-ax", "round-int", "floordiv", "slice", "and-or", "fillna", "dropna",
                  "ascending", "idx", "minmax", "tolist", "to_numpy", "to_frame", "reset_index", "reverse", "abs"]


@dataclass
class Mutant:
    cell: str
    id: str
    operator: str
    code: str  # runnable cell source
    shown: str  # the cell as a reader would write the slip

    def diff(self, original):
        lines = difflib.unified_diff(original.split("\n"), self.shown.split("\n"), "solution", "mutant", n=0,
                                     lineterm="")
        return "\n".join(ln for ln in lines if not ln.startswith(("---", "+++")))


def _one_line(text, limit=110):
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Source:
    """A cell's source with byte-accurate replacement of a node's span."""

    def __init__(self, source):
        self.source = source
        self.lines = source.split("\n")

    def _offset(self, lineno, col):
        before = "\n".join(self.lines[: lineno - 1])
        start = len(before.encode()) + (1 if lineno > 1 else 0)
        return start + col

    def span(self, node):
        raw = self.source.encode()
        return raw[self._offset(node.lineno, node.col_offset): self._offset(node.end_lineno, node.end_col_offset)].decode()

    def replace(self, node, text):
        raw = self.source.encode()
        a, b = self._offset(node.lineno, node.col_offset), self._offset(node.end_lineno, node.end_col_offset)
        return (raw[:a] + text.encode() + raw[b:]).decode()


def solution_region(source):
    """(source without markers, set of 1-based line numbers that were inside the solution region)."""
    out, region, inside = [], set(), False
    for ln in source.split("\n"):
        if "### BEGIN SOLUTION" in ln:
            inside = True
            continue
        if "### END SOLUTION" in ln:
            inside = False
            continue
        out.append(ln)
        if inside:
            region.add(len(out))
    return "\n".join(out), region


def _swap_cmp(op):
    return {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt}.get(type(op))


def _candidates(tree, region):
    """(operator, node, replacement-builder) for every mutable node inside the region."""
    out = []
    for node in ast.walk(tree):
        if not hasattr(node, "lineno") or node.lineno not in region or node.end_lineno not in region:
            continue
        if isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                new = _swap_cmp(op)
                if new:
                    out.append(("cmp", node, ("ops", i, new)))
        elif isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.FloorDiv):
                out.append(("floordiv", node, ("binop", ast.Div)))
            elif isinstance(node.op, ast.BitAnd):
                out.append(("and-or", node, ("binop", ast.BitOr)))
            elif isinstance(node.op, ast.BitOr):
                out.append(("and-or", node, ("binop", ast.BitAnd)))
            elif isinstance(node.op, ast.Sub):
                out.append(("abs", node, ("dynamic", "abs")))
        elif isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Name) and f.id in ("round", "int") and len(node.args) == 1 and not node.keywords:
                out.append(("round-int", node, ("rename", "int" if f.id == "round" else "round")))
            if isinstance(f, ast.Name) and f.id in ("max", "min") and len(node.args) >= 2:
                out.append(("minmax", node, ("rename", "min" if f.id == "max" else "max")))
            if isinstance(f, ast.Attribute):
                kw = {k.arg: k for k in node.keywords}
                if f.attr in ("merge", "join"):
                    how = kw.get("how")
                    if how is not None and isinstance(how.value, ast.Constant) and how.value.value in ("inner", "left"):
                        out.append(("how", node, ("kw", "how", "left" if how.value.value == "inner" else "inner")))
                    elif how is None:
                        out.append(("how", node, ("kw", "how", "left" if f.attr == "merge" else "inner")))
                if "ax" in kw:
                    out.append(("drop-ax", node, ("dropkw", "ax")))
                asc = kw.get("ascending")
                if asc is not None and isinstance(asc.value, ast.Constant) and isinstance(asc.value.value, bool):
                    out.append(("ascending", node, ("kw", "ascending", not asc.value.value)))
                if f.attr in ("fillna", "dropna"):
                    out.append((f.attr, node, ("unwrap",)))
                if f.attr in ("idxmax", "idxmin"):
                    out.append(("idx", node, ("attr", "idxmin" if f.attr == "idxmax" else "idxmax")))
        elif isinstance(node, ast.Slice):
            for bound in ("lower", "upper"):
                b = getattr(node, bound)
                if b is not None:
                    out.append(("slice", b, ("shift", +1)))
                    out.append(("slice", b, ("shift", -1)))
        elif isinstance(node, ast.Return) and node.value is not None:
            v = node.value
            if not (isinstance(v, ast.Constant) or (isinstance(v, ast.Call) and isinstance(v.func, ast.Name)
                                                    and v.func.id in ("float", "int", "bool", "str"))):
                for op in ("tolist", "to_numpy", "to_frame", "reset_index", "reverse", "abs"):
                    out.append((op, v, ("dynamic", op)))
    return out


def _build(src, node, how):
    """(runnable text, shown text) replacing node's span."""
    old = src.span(node)
    kind = how[0]
    if kind == "dynamic":
        return f"__harness_mut({old}, {how[1]!r})", DYNAMIC_SHOWN[how[1]].format(old)
    if kind == "shift":
        new = f"({old}) + 1" if how[1] > 0 else f"({old}) - 1"
        return new, new
    import copy
    n = copy.deepcopy(node)
    if kind == "ops":
        n.ops[how[1]] = how[2]()
    elif kind == "binop":
        n.op = how[1]()
    elif kind == "rename":
        n.func = ast.Name(how[1], ast.Load())
    elif kind == "attr":
        n.func.attr = how[1]
    elif kind == "kw":
        n.keywords = [k for k in n.keywords if k.arg != how[1]] + [ast.keyword(how[1], ast.Constant(how[2]))]
    elif kind == "dropkw":
        n.keywords = [k for k in n.keywords if k.arg != how[1]]
    elif kind == "unwrap":
        n = n.func.value
    text = ast.unparse(n)
    return text, text


_SYMBOLS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Div: "/", ast.FloorDiv: "//",
            ast.BitAnd: "&", ast.BitOr: "|"}


def _change(node, how):
    """A short description of the change, part of the mutant's id."""
    kind = how[0]
    if kind == "dynamic":
        return DYNAMIC_SHOWN[how[1]].format("...")
    if kind == "shift":
        return f"{how[1]:+d}"
    if kind == "ops":
        return f"{_SYMBOLS[type(node.ops[how[1]])]} -> {_SYMBOLS[how[2]]}"
    if kind == "binop":
        return f"{_SYMBOLS[type(node.op)]} -> {_SYMBOLS[how[1]]}"
    if kind == "rename":
        return f"{node.func.id} -> {how[1]}"
    if kind == "attr":
        return f"{node.func.attr} -> {how[1]}"
    if kind == "kw":
        old = {k.arg: k for k in node.keywords}.get(how[1])
        was = repr(old.value.value) if old is not None and isinstance(old.value, ast.Constant) else "default"
        return f"{how[1]}={was} -> {how[1]}={how[2]!r}"
    if kind == "dropkw":
        return f"without {how[1]}="
    if kind == "unwrap":
        return f"without .{node.func.attr}(...)"
    return kind


def mutants_of(cell_id, source):
    """Every mutant of one answer cell (markers in `source` delimit the solution region)."""
    code, region = solution_region(source)
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    src = _Source(code)
    out, seen = [], {}
    for op, node, how in _candidates(tree, region):
        try:
            run_text, shown_text = _build(src, node, how)
        except Exception:  # an operator that does not fit this node's shape
            continue
        old = src.span(node)
        base = f"{op}: `{_one_line(old, 80)}` ({_change(node, how)})"
        seen[base] = seen.get(base, 0) + 1
        mid = base if seen[base] == 1 else f"{base} #{seen[base]}"
        out.append(Mutant(cell_id, mid, op, src.replace(node, run_text), src.replace(node, shown_text)))
    return out


def capped(mutants, cap=CAP, keep=()):
    """At most `cap` mutants, taken round-robin over operators (in OPERATOR_ORDER); ids in `keep` always stay."""
    keep = set(keep)
    chosen = [m for m in mutants if m.id in keep]
    by_op = {}
    for m in mutants:
        if m.id not in keep:
            by_op.setdefault(m.operator, []).append(m)
    queues = [by_op[op] for op in OPERATOR_ORDER if op in by_op] + [v for k, v in by_op.items() if k not in OPERATOR_ORDER]
    while len(chosen) < max(cap, len(keep)) and any(queues):
        for q in queues:
            if q and len(chosen) < max(cap, len(keep)):
                chosen.append(q.pop(0))
    return chosen


def lesson_mutants(lesson):
    """{answer cell id: [mutants]} for a lesson's source notebook (uncapped)."""
    nb = nbformat.read(notebook_path(REPO / "solutions", lesson), as_version=4)
    return {cid: mutants_of(cid, c.source) for cid, c in answer_cells(nb).items()}


def declared_match(pattern, mutant_id):
    """A declaration's `mutant` names one id exactly, or several with `*` (any text), e.g. "reverse: *"."""
    if "*" not in pattern:
        return pattern == mutant_id
    return re.fullmatch(".*".join(re.escape(part) for part in pattern.split("*")), mutant_id, re.S) is not None


def is_declared(declared, cell, mutant_id):
    return any(c == cell and declared_match(pat, mutant_id) for c, pat in declared)


def load_equivalents(lesson):
    """The lesson's [[equivalent]] declarations: {(cell, mutant id): why}. Malformed entries raise ValueError."""
    path = BANKS / f"{lesson}.toml"
    if not path.is_file():
        return {}
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    out = {}
    for i, e in enumerate(data.get("equivalent", [])):
        missing = {"cell", "mutant", "why"} - set(e)
        if missing:
            raise ValueError(f"{path.name}: [[equivalent]] #{i + 1} lacks {sorted(missing)}")
        if not str(e["why"]).strip():
            raise ValueError(f"{path.name}: [[equivalent]] #{i + 1} ({e['mutant']!r}) gives no reason in `why`")
        out[(e["cell"], e["mutant"])] = e["why"]
    return out
