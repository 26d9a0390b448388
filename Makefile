# The course's commands. Each creates the environment (.venv) first when it is missing.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
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

.PHONY: help env lab test datasets release autograde feedback grades collect student-copy bench clean

help:
	@echo "make lab        open JupyterLab on lessons/ (creates .venv first)"
	@echo "make test       run the whole test suite (creates .venv first)"
	@echo "make datasets   regenerate datasets/ (SEED=$(SEED) N=$(N)) and the datasheet's measured tables"
	@echo "make bench      measure generation time and memory"

env: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version.split()[0]' \
		|| { echo "Set PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=lessons $(ROOT_FLAG) $(LAB_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist worksteal $(PYTEST_ARGS)

datasets: $(STAMP)
	$(BIN)/python -m socialcredit generate --seed $(SEED) --n $(N) --out datasets
	$(BIN)/python scripts/mechanisms.py --write

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

grades: $(STAMP)
	$(BIN)/python -m socialcredit grades

student-copy: $(STAMP)
	@test -n "$(DEST)" || { echo "usage: make student-copy DEST=../course-for-students"; exit 2; }
	$(BIN)/python -m socialcredit student-copy $(DEST)
