"""Class: 2
Name: c2_showtraceback_noop
Tries: replace the shell's showtraceback (and the kernel's traceback formatter) with no-ops, so failing
    cells produce no error output for nbgrader to find.
Grader must: same as c2_custom_exc: a verdict that does not depend on what the student's kernel chooses to
    print.
"""
_ip = get_ipython()
_ip.showtraceback = lambda *args, **kwargs: None
_ip.showsyntaxerror = lambda *args, **kwargs: None
