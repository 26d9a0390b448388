"""Class: 5
Name: c5_hardcode_visible_ex1_1
Tries: answer Exercise 1.1 with a lookup table of the five cases its visible test shows (and the input
    returned unchanged otherwise): the visible test passes, no id is normalised in general.
Grader must: hidden tests on inputs the student never saw, on the student's own world (Lesson 1 has them:
    index kept, integers to 123456, every agency's ids of the student's world).
"""


def normalise_id(raw):
    seen = {"7": "LP-000007", "4964": "LP-004964", "LP000345": "LP-000345", "lp-000012": "LP-000012",
            "LP-000678 ": "LP-000678", "LP-000901": "LP-000901"}
    return raw.astype(str).map(lambda value: seen.get(value, value))
