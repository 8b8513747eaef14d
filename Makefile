# Two commands on a fresh clone:  `make demo`  and  `make test`.
# Each creates .venv if absent, installs the CPU build of torch first (a bare `torch`
# requirement would pull a multi-GB CUDA build), then wno-edge with its extras.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.wno-edge-installed

.PHONY: demo test install clean

$(STAMP): pyproject.toml $(wildcard setup.py)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test,dev]'
	touch $@

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/wno-edge demo

test: $(STAMP)
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) build out .pytest_cache .hypothesis
