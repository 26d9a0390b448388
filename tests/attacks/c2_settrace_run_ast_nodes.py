"""Class: 2
Name: c2_settrace_run_ast_nodes
Tries: a sys.settrace hook that watches for IPython's run_ast_nodes(nodelist, ...) and, for every cell that
    holds an assert (test cells), empties its nodelist through frame.f_locals before it runs: the cell is
    compiled but nothing of it executes. Cells without asserts run normally, so the notebook looks fine.
Grader must: verdicts outside the student's process (a trace hook sees and changes every frame of the
    kernel); report sys.gettrace() being set.
"""
import ast as _ast
import sys as _sys


def _tracer(frame, event, arg):
    if event == "call" and frame.f_code.co_name == "run_ast_nodes":
        nodes = frame.f_locals.get("nodelist") or []
        if any(isinstance(n, _ast.Assert) or any(isinstance(x, (_ast.Assert, _ast.Raise)) for x in _ast.walk(n))
               for n in nodes):
            frame.f_locals["nodelist"] = []
    return None


_sys.settrace(_tracer)
