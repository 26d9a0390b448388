# The course's commands. Each creates the environment (.venv) first when it is missing.
SHELL := /bin/bash
# Python 3.11, 3.12 or 3.13 (the first found); e.g. PYTHON=python3.13 make env
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3.13 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SEED ?= 2024
N ?= 20000
# Extra options for `make lab`, e.g. LAB_ARGS="--no-browser --port=8899"
LAB_ARGS ?=
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
# pytest options for `make test`, e.g. PYTEST_ARGS="-k world"
PYTEST_ARGS ?=

.PHONY: help env lab test test-full datasets figures release autograde feedback grades collect export grade-ui student-copy hub hub-stop bench clean

help:
	@echo "Everyone (each command creates .venv first when it is missing):"
	@echo "  make help          this list"
	@echo "  make env           create .venv from requirements.lock (Python 3.11-3.13; PYTHON=/path/to/python to choose)"
	@echo "  make lab           open JupyterLab on lessons/"
	@echo "  make test          run the test suite (the course harness grades a sample of each bank with nbgrader)"
	@echo "  make test-full     grade the rest of every bank with nbgrader (~100 min; before a release, not in CI)"
	@echo "  make bench         measure generation, notebook and grading times against the budgets"
	@echo "  make clean         remove build and test caches (not .venv)"
	@echo "Instructors (instructors/guide.md):"
	@echo "  make datasets      a cohort's world: SEED=$(SEED) N=$(N) -> datasets/ (restore the shipped one: make datasets, or git checkout datasets/);"
	@echo "                     on a hub and in grading each student gets a world of their own drawn from SEED (SHARED=1: one world for all)"
	@echo "  make figures       STUDENT=id [LESSON=NN-slug]: the numbers the lessons and rubrics quote, on that student's world"
	@echo "  make release       solutions/ -> lessons/ (LESSON=NN-slug for one, FORCE=1 to redo)"
	@echo "  make collect       LESSON=NN-slug: LMS download in downloaded/LESSON/archive/ -> submitted/"
	@echo "  make autograde     grade new or changed submissions (LESSON=, FORCE=1, SCHEDULER=tcp://host:8786)"
	@echo "  make grade-ui      open nbgrader's formgrader on the course (manual grading of reflections)"
	@echo "  make feedback      feedback/ HTML without hidden tests (LESSON=, FORCE=1)"
	@echo "  make grades        grades.csv for every rostered student (MISSING=empty|zero for no submission)"
	@echo "  make export        LMS=canvas|moodle: grades-LMS.csv in the LMS's import layout (MISSING=empty|zero)"
	@echo "  make student-copy  DEST=folder: what students get, without solutions"
	@echo "  make hub           (as root) a JupyterHub on this machine: instructor + 3 students, nbgrader's exchange; prints URL and logins"
	@echo "                     (HUB_PORT=$(HUB_PORT), HUB_STATE=$(HUB_STATE); deploy/hub/README.md)"
	@echo "  make hub-stop      stop that hub and every server it started (users' files stay)"

env: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; assert (3, 11) <= sys.version_info[:2] <= (3, 13), "Python 3.11, 3.12 or 3.13 is required, found " + sys.version.split()[0]' \
		|| { echo "Set PYTHON=/path/to/python3.11 (or python3.12, python3.13)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

# A student's JupyterLab: the lessons and Validate, without the instructor's formgrader and Create Assignment
# panels or the Assignments tab (nbgrader's exchange, which a single-user lab has not got: deploy/student/jupyter).
lab: $(STAMP)
	JUPYTER_CONFIG_PATH="$(abspath deploy/student/jupyter)" $(BIN)/jupyter lab --notebook-dir=lessons $(ROOT_FLAG) $(LAB_ARGS)

# make test: everything but the tests marked `full` (the nbgrader grading of the bank entries outside the
# harness's sample, and building the environment with every other supported Python); make test-full runs
# those (about 100 minutes on 2 cores: before a release or after editing a bank); CI (.ci/run) runs make test.
# --durations: the slowest tests are listed at the end, so a run that grows towards CI's time limit says where.
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist worksteal -m "not full" --durations=15 $(PYTEST_ARGS)

test-full: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist worksteal -m full $(PYTEST_ARGS)

datasets: $(STAMP)
	$(BIN)/python -m socialcredit generate --seed $(SEED) --n $(N) --out datasets $(if $(SHARED),--shared)
	$(BIN)/python scripts/mechanisms.py --write

figures: $(STAMP)
	@test -n "$(STUDENT)" || { echo "usage: make figures STUDENT=id [LESSON=NN-slug] (the numbers lessons and rubrics quote, on that student's world)"; exit 2; }
	$(BIN)/python -m socialcredit figures "$(STUDENT)" $(if $(LESSON),--lesson $(LESSON))

bench: $(STAMP)
	$(BIN)/python scripts/bench.py

clean:
	rm -rf .pytest_cache build src/*.egg-info

# ---- instructor commands (see instructors/guide.md) -------------------------------------
# LESSON=NN-slug: one lesson only; FORCE=1: redo what is unchanged; SCHEDULER=tcp://host:8786: an existing Dask cluster
GRADE_FLAGS = $(if $(LESSON),--lesson $(LESSON)) $(if $(FORCE),--force) $(if $(SCHEDULER),--scheduler $(SCHEDULER))

release: $(STAMP)
	$(BIN)/python -m socialcredit release $(LESSON) $(if $(FORCE),--force)

collect: $(STAMP)
	@test -n "$(LESSON)" || { echo "usage: make collect LESSON=01-dossier (zip files in downloaded/LESSON/archive/)"; exit 2; }
	$(BIN)/python -m socialcredit collect $(LESSON)

autograde: $(STAMP)
	$(BIN)/python -m socialcredit autograde $(GRADE_FLAGS)

feedback: $(STAMP)
	$(BIN)/python -m socialcredit feedback $(GRADE_FLAGS)

# MISSING=empty|zero: the score of a rostered student who handed nothing in (default empty)
MISSING ?= empty

grades: $(STAMP)
	$(BIN)/python -m socialcredit grades --missing $(MISSING)

export: $(STAMP)
	@test -n "$(LMS)" || { echo "usage: make export LMS=canvas|moodle [MISSING=empty|zero] (needs downloaded/roster.csv)"; exit 2; }
	$(BIN)/python -m socialcredit export $(LMS) --missing $(MISSING)

# formgrader serves the course folder (links to solutions/ and autograded/ resolve); the venv's bin on
# PATH lets nbgrader find `alembic`; the gradebook is created whole before the server starts.
grade-ui: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -c 'from nbgrader.api import Gradebook; Gradebook("sqlite:///gradebook.db").close()'
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/jupyter lab --ServerApp.root_dir=. --ServerApp.default_url=/formgrader $(ROOT_FLAG) $(LAB_ARGS)

student-copy: $(STAMP)
	@test -n "$(DEST)" || { echo "usage: make student-copy DEST=../course-for-students"; exit 2; }
	$(BIN)/python -m socialcredit student-copy $(DEST)

# ---- the course's JupyterHub on this machine (deploy/hub/README.md; root: it creates Unix users) -------
HUB_PORT ?= 8000
HUB_STATE ?= deploy/hub/state

hub: $(STAMP)
	$(BIN)/python deploy/hub/hubctl.py start --port $(HUB_PORT) --state $(HUB_STATE)

hub-stop:
	@test -x $(BIN)/python || { echo "no .venv here, so no hub was started from it"; exit 0; }
	$(BIN)/python deploy/hub/hubctl.py stop --state $(HUB_STATE)
