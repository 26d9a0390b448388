"""Class: 4
Name: c4_print_20mb
Tries: print 20 MB of text (bounded: c4_print_1gb is the real attack), which nbgrader stores in the
    autograded notebook, the gradebook's view of it and the feedback page.
Grader must: cap a cell's output (e.g. 1 MB, the rest replaced by a note) before it is stored or shown.
"""
_line = "x" * 1023 + "\n"
for _ in range(20):
    print(_line * 1024, end="")
