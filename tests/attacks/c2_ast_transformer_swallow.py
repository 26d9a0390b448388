"""Class: 2
Name: c2_ast_transformer_swallow
Tries: an AST transformer that wraps every later cell's statements, one by one, in
    `try: ... except BaseException: pass` and drops `assert` statements: the cells seem to run, nothing fails.
Grader must: not trust the kernel's compiler pipeline (shell.ast_transformers is the student's to change);
    verdicts decided outside the student's process; report the change.
"""
import ast as _ast


class _Swallow(_ast.NodeTransformer):
    def visit_Assert(self, node):
        return _ast.Pass()

    def visit_Module(self, node):
        self.generic_visit(node)
        node.body = [_ast.Try(body=[stmt], handlers=[_ast.ExceptHandler(type=_ast.Name("BaseException", _ast.Load()),
                                                                        name=None, body=[_ast.Pass()])],
                              orelse=[], finalbody=[]) for stmt in node.body] or [_ast.Pass()]
        return _ast.fix_missing_locations(node)


get_ipython().ast_transformers.append(_Swallow())
