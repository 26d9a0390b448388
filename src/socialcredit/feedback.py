"""nbgrader preprocessor: feedback that never shows hidden-test source.

nbgrader's own ``ClearHiddenTests`` removes the hidden region from a test
cell's source, but when a hidden ``assert`` fails, IPython's traceback still
quotes the failing line. This preprocessor clears the region *and* reduces
the error output of such a cell to its last line (``AssertionError: <the
message we wrote for students>``), so feedback teaches without leaking tests.
"""
from nbgrader.preprocessors import ClearHiddenTests


class ClearHiddenTestsAndTracebacks(ClearHiddenTests):
    """Remove hidden-test source and the tracebacks that would quote it."""

    def _remove_hidden_test_region(self, cell):
        removed = super()._remove_hidden_test_region(cell)
        if removed and cell.cell_type == "code":
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
        return removed
