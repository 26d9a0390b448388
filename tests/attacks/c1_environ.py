"""Class: 1
Name: c1_environ
Tries: read the grading kernel's environment: which student is being graded, where the data and the course
    live, and whether anything that looks like a credential was inherited (only names and counts are
    printed here, never a value).
Grader must: start the kernel with an explicit, minimal environment (PATH, HOME inside the sandbox, the
    student's own world) and nothing inherited from the instructor's shell or the Dask worker.
"""
import os as _os
import re as _re

_names = sorted(_os.environ)
_secretish = [n for n in _names if _re.search(r"TOKEN|SECRET|KEY|PASS|AUTH|CRED", n, _re.I)]
print(f"ATTACK: environment holds {len(_names)} variables; {len(_secretish)} have credential-like names")
print("ATTACK: course variables:", {n: _os.environ[n] for n in _names if n.startswith(("SOCIALCREDIT_", "JUPYTERHUB_"))})
print("ATTACK: home and cwd:", _os.environ.get("HOME"), _os.getcwd())
print("ATTACK: inherited grading-side variables:", [n for n in _names if n.startswith(("DASK", "VIRTUAL_ENV", "SSH_", "GIT_"))])
