"""nbgrader's autograde runs each submission on its student's own world (see ``socialcredit.data``).

``nbgrader_config.py`` puts :class:`StudentWorldExecute` in place of nbgrader's ``Execute`` in
``Autograde.autograde_preprocessors``, so every way of autograding (``make autograde``, formgrader's
*Autograde* button, a bare ``nbgrader autograde``) gives the grading kernel ``SOCIALCREDIT_STUDENT=<student id>``.
Only the kernel's environment is changed, never the grading process's: formgrader runs inside the instructor's
server, whose own kernels must keep reading the cohort's world.
"""
from __future__ import annotations

import os

from nbgrader.preprocessors import Execute

from .data import STUDENT_VAR


class StudentWorldExecute(Execute):
    """nbgrader's Execute, with the kernel started on the world of the student whose notebook it runs."""

    def setup_kernel(self, **kwargs):
        student = ((self.resources or {}).get("nbgrader") or {}).get("student")
        if student and "env" not in kwargs:
            kwargs["env"] = {**os.environ, STUDENT_VAR: str(student)}
        return super().setup_kernel(**kwargs)
