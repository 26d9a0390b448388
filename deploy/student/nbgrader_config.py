"""nbgrader settings for students' own JupyterLab (`make lab` in the student copy).

The Validate button reads this file from the folder JupyterLab was started in. It runs the notebook with
the same per-cell time limit as the instructor's grading (60 s; nbgrader's own default is 30 s), so a
notebook that validates here does not run out of time when it is graded.
"""
c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)

c.CourseDirectory.course_id = "social-scoring"
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True
