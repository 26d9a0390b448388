"""Class: 4
Name: c4_relay_deep_json
Tries: break the grader itself, not the kernel: when the trusted side calls normalise_id, answer its request
    through the wire's own input() prompt with JSON nested 200 000 deep, then a message that claims to be an
    answer but nests as deep. Parsed by the grader (which runs outside the sandbox), the first raised
    RecursionError and crashed the whole submission with nbgrader's generic error, its cause unnamed (red team
    round 3, December 2026).
Grader must: relay what the student's side sends without parsing it (the trusted kernel parses, in its own
    sandbox), so the test cell fails with a named wire failure and the rest of the notebook is graded.
"""
_DEEP = 200_000


def normalise_id(raw):
    prefix = "\x1esocialcredit-verdict:"
    input(prefix + "[" * _DEEP + "]" * _DEEP)
    return input(prefix + '{"op": "ok", "v": ' + "[" * _DEEP + "]" * _DEEP + "}")
