# Two entry points: `make demo` (main job on bundled examples) and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test bench clean

$(STAMP): pyproject.toml setup.py skelkit/core/_thinc.c
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q "torch==2.13.0"
	$(BIN)/pip install -q -e ".[chunked,analysis,test]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/skelkit demo -o out/demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --doctest-modules skelkit tests

bench: $(STAMP)
	$(BIN)/skelkit bench --quick

clean:
	rm -rf $(VENV) out build *.egg-info
