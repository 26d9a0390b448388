"""Class: 2
Name: c2_input_transformer_pass
Tries: one line: an IPython input transformer that rewrites every later cell (test cells included) to `pass`,
    so no test can fail. (Measured by outsiders on Lesson 1: full marks, 18/18.)
Grader must: decide verdicts outside the student's process: run each test against the student's definitions
    in a fresh, trusted process (or check that every test cell really ran and returned a plain-data verdict)
    and report the kernel's transformer lists being changed.
"""
get_ipython().input_transformers_post.append(lambda lines: ["pass\n"])
