"""Class: 4
Name: c4_world_json_zero
Tries: make the grader itself fail, outside the sandbox, and have it blame the machine: hand in
    `datasets/DATASHEET.md` and a `datasets/world.json` with n = 0 beside the notebook. cohort_dir picks the
    submission's own `datasets/` (the kernels' working folder is checked first), and Sandbox._worlds (in the grader
    process, while starting each kernel) reads that world.json through cohort_info, which raises ValueError. A
    kernel that does not start is reported as an environment failure, and "environment failure" crashes are graded
    again on every run (grading.RETRY_UNCHANGED). With a large n instead (see c4_world_json_big) the grader
    generates and writes a world of that size itself, outside every sandbox limit.
Grader must: never read data-location settings from the submission folder; report a failure the submission caused
    as the submission's, not as the environment's.
"""
# (nothing in the notebook: the files beside it do the work)

# %% file: datasets/DATASHEET.md
# # Lanternport, a smaller copy for working offline
# %% file: datasets/world.json
# {"seed": 7, "n": 0, "per_student": true}
