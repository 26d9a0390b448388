"""nbgrader configuration for the course (read by every nbgrader command run in this folder).

solutions/  -> nbgrader's source directory (instructor notebooks with answers and hidden tests)
lessons/    -> nbgrader's release directory (what students get; generated, committed)
"""
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.converters import Autograde
from nbgrader.preprocessors import Execute, GetGrades

from socialcredit.feedback import ClearHiddenTestsAndTracebacks
from socialcredit.verdicts import TrustedVerdictExecute

c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)

c.CourseDirectory.course_id = "social-scoring"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "lessons"
# Every lesson's notebooks; data come from the package's load(), never from files beside the notebook.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]

# Per-cell time-out (nbgrader has no whole-notebook limit). The slowest solution cell
# takes under 3 s on a 2-core machine; 60 s leaves room for a slow JupyterHub pod
# while a student's infinite loop still ends in a minute per cell.
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True

# Each submission runs on its student's own world (socialcredit.data: the cohort's world.json says whether
# students get one), however it is autograded: make autograde, formgrader's button or a bare nbgrader autograde.
# Graded test cells run in a trusted kernel of their own, calling the student's functions across a plain-data
# boundary (socialcredit.verdicts, issue #12); everything else runs in the sandboxed student kernel as before.
c.Autograde.autograde_preprocessors = [TrustedVerdictExecute if p is Execute else p
                                       for p in Autograde.class_traits()["autograde_preprocessors"].default()]

# A student who deletes a graded cell gets it back on autograde (nbgrader's default
# does not restore deleted cells, and leaves "needs manual grading" forever).
c.OverwriteCells.add_missing_cells = True

# The stub students see in place of a solution region.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# Feedback without hidden tests: clear their source and the tracebacks that would quote it.
c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTestsAndTracebacks, CSSHTMLHeaderPreprocessor]

# `nbgrader export` says which submissions crashed (empty score, status and reason) instead of a silent zero.
c.ExportApp.plugin_class = "socialcredit.grading.CourseCsvExport"

# Release notebooks carry no outputs, execution counts or editor metadata.
c.ClearOutput.enabled = True

# LMS downloads: `make collect LESSON=01-dossier` does NOT use these settings; it reads Canvas's and
# Moodle's layouts with socialcredit.lms (lateness, renamed files, junk, never overwriting newer work).
# They serve only a bare `nbgrader zip_collect`: files named <student>_<anything>_<NN-slug>.ipynb,
# optionally with a resubmission suffix (-1, -2, ...).
c.ZipCollectApp.collector_plugin = "nbgrader.plugins.zipcollect.FileNameCollectorPlugin"
c.FileNameCollectorPlugin.named_regexp = (
    r".*/(?P<student_id>[^/_]+)_(?:[^/]*_)?(?P<file_id>\d\d-[a-z0-9-]+?)(?:-\d+)?\.ipynb$"
)
