"""Class: 2
Name: c2_replace_run_cell
Tries: replace the shell's run_cell and run_cell_async (what ipykernel calls for every execute request) by
    wrappers that run `pass` instead of any cell holding an assert.
Grader must: verdicts outside the student's process; report the shell's methods being replaced.
"""
_ip = get_ipython()
_orig_async, _orig_sync = _ip.run_cell_async, _ip.run_cell


def _clean(cell):
    return "pass" if ("assert " in cell or "raise AssertionError" in cell) else cell


async def _run_cell_async(raw_cell, *args, **kwargs):
    return await _orig_async(_clean(raw_cell), *args, **kwargs)


def _run_cell(raw_cell, *args, **kwargs):
    return _orig_sync(_clean(raw_cell), *args, **kwargs)


_ip.run_cell_async = _run_cell_async
_ip.run_cell = _run_cell
