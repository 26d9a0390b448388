"""Class: 2
Name: c2_custom_exc
Tries: IPython's set_custom_exc with a handler that swallows every exception (AssertionError from the tests,
    NotImplementedError from the stubs): no traceback is shown, so no cell has an error output.
Grader must: not infer "passed" from the absence of an error output in a kernel the student controls;
    the verdict must come from the trusted side (e.g. a result written only when the test ran to its end).
"""
get_ipython().set_custom_exc((BaseException,), lambda shell, etype, value, tb, tb_offset=None: None)
