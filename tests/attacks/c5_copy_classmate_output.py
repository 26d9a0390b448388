"""Class: 5
Name: c5_copy_classmate_output
Tries: copy the numbers a classmate's notebook shows: the "Try it" cell of Exercise 1.1 displays the first
    police ids of the cohort's shared world (LP000016 ... LP000069); normalise_id hard-codes those plus the
    visible test's cases.
Grader must: grade each student on their own world (socialcredit.data: per-student worlds), so numbers copied
    from another world fail the hidden checks; hidden tests on unseen inputs.
"""


def normalise_id(raw):
    copied = {"LP000016": "LP-000016", "LP000048": "LP-000048", "LP000055": "LP-000055", "LP000059": "LP-000059",
              "LP000069": "LP-000069", "7": "LP-000007", "4964": "LP-004964", "LP000345": "LP-000345",
              "lp-000012": "LP-000012", "LP-000678 ": "LP-000678", "LP-000901": "LP-000901"}
    return raw.astype(str).map(lambda value: copied.get(value, value))
