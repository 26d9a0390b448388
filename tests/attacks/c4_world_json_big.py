"""Class: 4
Name: c4_world_json_big
Tries: make the grader do unbounded work outside the sandbox: hand in `datasets/DATASHEET.md` and a
    `datasets/world.json` asking for a per-student world of 120 000 residents (the course's is 20 000). The grader
    (Sandbox._worlds -> data._world_dir -> world.generate_world, in the grading worker, before either kernel starts)
    generates it and writes its CSV files into the grader's shared world cache; n is limited by nothing, so a
    larger one exhausts the grading machine's memory, CPU and disk outside every sandbox limit. (Measured here with
    a moderate n, to show the cost in the status's seconds; the rest of the notebook is the blank release.)
Grader must: never read data-location settings from the submission folder; bound whatever the grader computes
    for a submission.
"""
# (nothing in the notebook: the files beside it do the work)

# %% file: datasets/DATASHEET.md
# # Lanternport, a bigger copy
# %% file: datasets/world.json
# {"seed": 7, "n": 120000, "per_student": true}
